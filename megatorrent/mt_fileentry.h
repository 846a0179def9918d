/*
 * mt_fileentry.h - the FileEntry format (DESIGN.md "Blobs"): the one set of
 * rules every reader of a FileEntry applies, whether it arrives as a
 * manifest item (mt_manifest.h) or as blob reassembly and fetch input
 * (mt_blob.h).
 *
 *   {"name": str, "size": int,
 *    "chunks": [{"blobId": hex64, "offset": int, "length": int,
 *                "key": hex64, "nonce": hex24, "realSize": int?}, ...],
 *    "swarm": "magnet:?..."?}
 *
 * Rules, checked in this order, the first broken one reported:
 *  - the entry is an object;
 *  - name: a non-empty UTF-8 string of at most MT_NAME_MAX bytes, taken as
 *    signed (mt_filename_sanitize it before creating a file);
 *  - size: an integer from 0 to 2^53-1;
 *  - chunks: an array; each chunk an object with, in this order, blobId,
 *    key (32 bytes) and nonce (12 bytes) as lower-case hex, offset from 0
 *    to MT_BLOB_BYTES, length from 16 (the tag) to MT_BLOB_BYTES, and when
 *    present realSize from 0 to length - 16 (a padded chunk: that many bytes
 *    of its plaintext are data); without realSize the chunk is unpadded (the
 *    reference client's form) and its whole plaintext, length - 16 bytes, is
 *    data; offset + data must stay within length - 16;
 *  - size equals the chunks' data bytes (counting stops once they exceed
 *    it: "at least N");
 *  - swarm, when present: a UTF-8 string that parses as a magnet link with
 *    an info-hash (mt_magnet_parse).
 * Members not named here are accepted and ignored.
 *
 * Messages name the member under the caller's path, then the rule:
 *   "collections[0].items[2].chunks[0].nonce: must be 24 lower-case hex digits"
 *   "chunks[0].nonce: must be 24 lower-case hex digits"          (path "")
 *
 * Nothing here allocates: results point into the checked tree.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_FILEENTRY_H
#define MT_FILEENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_BLOB_BYTES 1048592 /* 1 MiB chunk + 16-byte tag: the largest blob */
#define MT_NAME_MAX 255       /* FileEntry name, bytes */

/* One valid chunk, decoded. blob_id points into the checked tree. */
typedef struct mt_fileentry_chunk {
    const char *blob_id;   /* 64 lower-case hex digits */
    uint8_t     key[32];
    uint8_t     nonce[12];
    uint32_t    offset;    /* where the ciphertext starts in the blob */
    uint32_t    length;    /* ciphertext + tag bytes, 16..MT_BLOB_BYTES */
    int64_t     real_size; /* data bytes of a padded chunk; -1: unpadded */
    int64_t     data;      /* plaintext bytes that are file data */
} mt_fileentry_chunk;

/* Called for each chunk once it has passed its rules, in order, before the
 * entry as a whole is known to be valid. c (keys included) is wiped after
 * the call: copy what is needed. */
typedef void (*mt_fileentry_chunk_fn)(void *ud, size_t index, const mt_fileentry_chunk *c);

/* What a valid entry holds; pointers go into the checked tree. */
typedef struct mt_fileentry_info {
    const char  *name;     /* as signed */
    int64_t      size;     /* plaintext bytes of the file */
    size_t       n_chunks;
    const cJSON *chunks;   /* the array */
    const char  *swarm;    /* the pack's magnet link, or NULL */
} mt_fileentry_info;

/*
 * Check entry against the FileEntry rules above. path names the entry in
 * messages ("" for a FileEntry on its own, "collections[0].items[2]" for a
 * manifest item). on_chunk (may be NULL) gets each chunk decoded; info (may
 * be NULL) is filled on success. MT_EINVAL naming the member otherwise.
 */
int mt_fileentry_check(const cJSON *entry, const char *path, mt_fileentry_chunk_fn on_chunk, void *ud,
                       mt_fileentry_info *info, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
