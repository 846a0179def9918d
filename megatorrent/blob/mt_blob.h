/*
 * mt_blob.h - encrypted blobs (DESIGN.md "Blobs", seed 003).
 *
 * A file is cut into 1 MiB chunks. Each chunk is padded with random bytes to
 * 1 MiB and sealed with ChaCha20-Poly1305-IETF under a fresh random key and
 * nonce: blob = ciphertext || tag (MT_BLOB_BYTES = 1,048,592 bytes), blob id
 * = lower-case hex SHA-256(blob). A FileEntry says how to get the file back:
 *
 *   {"name": str, "size": int,
 *    "chunks": [{"blobId": hex64, "offset": 0, "length": 1048592,
 *                "key": hex64, "nonce": hex24, "realSize": int}, ...],
 *    "swarm": "magnet:?xt=urn:btih:..."?}
 *
 * The chunk's ciphertext is blob[offset, offset + length); its plaintext's
 * first realSize bytes are file data. Chunks without realSize are unpadded
 * (what the reference client writes): the whole plaintext is data.
 *
 * Blobs live as files named by their id in a flat directory. Ingest streams:
 * memory stays at two 1 MiB buffers whatever the file size. A blob's bytes are
 * checked against its id on every read, so a torn or corrupted blob file is
 * reported (MT_ECRYPTO) and never decrypted into output.
 *
 * Nothing here prints; every call is thread-safe on distinct objects.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_BLOB_H
#define MT_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "mt_error.h"
#include "mt_fileentry.h" /* MT_BLOB_BYTES, MT_NAME_MAX */
#include "mt_manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_BLOB_CHUNK   1048576u /* plaintext bytes of a padded chunk */
#define MT_BLOB_TAG     16u
#define MT_BLOB_ID_HEX  65       /* 64 hex digits + NUL */
#define MT_FILEENTRY_JSON_MAX (64u * 1024 * 1024) /* FileEntry text cap */

typedef struct mt_blob_chunk {
    char     blob_id[MT_BLOB_ID_HEX]; /* lower-case hex SHA-256 of the blob */
    uint8_t  key[32];
    uint8_t  nonce[12];
    uint32_t offset;     /* where the ciphertext starts in the blob */
    uint32_t length;     /* ciphertext + tag bytes, 17..MT_BLOB_BYTES */
    int64_t  real_size;  /* data bytes at the start of the plaintext; -1: unpadded */
} mt_blob_chunk;

typedef struct mt_fileentry {
    char           name[MT_NAME_MAX + 1]; /* as signed; sanitise before use */
    int64_t        size;                  /* plaintext bytes of the file */
    size_t         n_chunks;
    mt_blob_chunk *chunks;                /* keys: wiped by mt_fileentry_free */
    char          *swarm;                 /* pack magnet, or NULL */
} mt_fileentry;

/* 1 if s is exactly 64 lower-case hex digits (a blob id), else 0. */
int mt_blob_id_valid(const char *s);

/* Lower-case hex SHA-256 of a blob into out. */
void mt_blob_id(const uint8_t *blob, size_t len, char out[MT_BLOB_ID_HEX]);

/* Plaintext data bytes a chunk yields. */
int64_t mt_blob_chunk_data_size(const mt_blob_chunk *c);

/*
 * Seal len (<= MT_BLOB_CHUNK) bytes of plain into blob (MT_BLOB_BYTES bytes,
 * or len + 16 when pad is 0) under a fresh random key and nonce; fills c
 * (id, key, nonce, offset 0, length, real_size = len, or -1 unpadded).
 * *blob_len gets the blob's size. MT_EINVAL if len is too big.
 */
int mt_blob_seal(const uint8_t *plain, size_t len, int pad, uint8_t *blob, size_t *blob_len,
                 mt_blob_chunk *c, mt_error *err);

/*
 * Check SHA-256(blob) against c->blob_id (MT_ECRYPTO "blob <id>: SHA-256
 * mismatch"), then decrypt c's ciphertext (MT_ECRYPTO on a bad tag) and copy
 * its data bytes to out (cap >= mt_blob_chunk_data_size(c)); *out_len gets
 * their count. MT_EINVAL if the blob is shorter than offset + length.
 */
int mt_blob_open(const mt_blob_chunk *c, const uint8_t *blob, size_t blob_len, uint8_t *out,
                 size_t cap, size_t *out_len, mt_error *err);

/* ----------------------------------------------------------- FileEntry */

/*
 * Parse and validate a FileEntry: strict JSON as in a manifest, then
 * mt_fileentry_check (mt_fileentry.h), the very rules manifest items get.
 * Messages name the member: "chunks[3].nonce: must be 24 lower-case hex
 * digits". *out is freed with mt_fileentry_free(). Every call below that
 * takes a decoded entry (to_cjson/to_json, set_swarm, reassemble,
 * writer_open) judges it by the same function, with the same messages.
 */
int mt_fileentry_parse(const char *json, size_t len, mt_fileentry **out, mt_error *err);
int mt_fileentry_from_cjson(const cJSON *o, mt_fileentry **out, mt_error *err);

/* The FileEntry as a cJSON object (cJSON_Delete) / compact JSON text
 * (mt_free()), members in canonical (sorted) order. */
int mt_fileentry_to_cjson(const mt_fileentry *fe, cJSON **out, mt_error *err);
int mt_fileentry_to_json(const mt_fileentry *fe, char **json, size_t *len, mt_error *err);

/* Set or clear (NULL) the pack magnet. */
int mt_fileentry_set_swarm(mt_fileentry *fe, const char *magnet, mt_error *err);

/* Wipe keys and free. NULL ok. */
void mt_fileentry_free(mt_fileentry *fe);

/* ------------------------------------------------------ ingest/reassemble */

/* Progress: bytes done of total. A non-zero return cancels (MT_ESTATE). */
typedef int (*mt_blob_progress_fn)(void *ud, int64_t done, int64_t total);

typedef struct mt_blob_ingest_opts {
    const char         *name;     /* NULL: the file's basename */
    int                 no_pad;   /* 1: unpadded chunks, as the reference client */
    mt_blob_progress_fn progress; /* optional, called after each chunk */
    void               *ud;
} mt_blob_ingest_opts;

/*
 * Stream the file at path into blobs written to dir (created 0700 if
 * missing) as dir/<blob id>, each through a temp file and rename; one
 * syncfs at the end makes them durable before this returns. The name
 * (given or basename) is sanitised with mt_filename_sanitize. Memory stays
 * bounded (two chunk buffers). o may be NULL. On error blobs written so far
 * stay (they are valid, content-addressed) and *out is untouched.
 */
int mt_blob_ingest_file(const char *path, const char *dir, const mt_blob_ingest_opts *o,
                        mt_fileentry **out, mt_error *err);

/*
 * Rebuild fe's file at out_path from blobs in dir: every blob is checked
 * against its id and decrypted into out_path.mtpart, which is fsynced and
 * renamed over out_path only when all chunks are written; on any error the
 * .mtpart file is removed and out_path untouched. MT_ENOTFOUND names the
 * first missing blob, MT_ECRYPTO a corrupted one. progress may be NULL.
 */
int mt_blob_reassemble(const mt_fileentry *fe, const char *dir, const char *out_path,
                       mt_blob_progress_fn progress, void *ud, mt_error *err);

/*
 * Incremental reassembly, for fetches that get blobs in any order: open
 * out_path.mtpart (created, or reopened to resume), put chunks as their
 * blobs arrive, commit when all are in.
 */
typedef struct mt_blob_writer mt_blob_writer;

int mt_blob_writer_open(const mt_fileentry *fe, const char *out_path, mt_blob_writer **out,
                        mt_error *err);
/* Check, decrypt and write chunk `index` from the blob file at blob_path.
 * Putting a chunk twice is harmless. MT_ECRYPTO: the blob is corrupted (the
 * caller should fetch it again); MT_ENOTFOUND: no such file. */
int mt_blob_writer_put(mt_blob_writer *w, size_t index, const char *blob_path, mt_error *err);
/* The same from blob bytes in memory. */
int mt_blob_writer_put_mem(mt_blob_writer *w, size_t index, const uint8_t *blob, size_t len,
                           mt_error *err);
/* 1 if chunk index has been written, else 0. */
int mt_blob_writer_has(const mt_blob_writer *w, size_t index);
/* Chunks written so far, and data bytes they hold. */
size_t mt_blob_writer_done(const mt_blob_writer *w, int64_t *bytes);
/* fsync and rename to out_path; MT_ESTATE if chunks are missing. */
int mt_blob_writer_commit(mt_blob_writer *w, mt_error *err);
/* Close; the .mtpart file stays for a later resume unless discard is 1. */
void mt_blob_writer_free(mt_blob_writer *w, int discard);

#ifdef __cplusplus
}
#endif
#endif
