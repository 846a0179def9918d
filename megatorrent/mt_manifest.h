/*
 * mt_manifest.h - signed megatorrent manifests (DESIGN.md "Manifest").
 *
 *   {"publicKey": hex64, "sequence": int, "timestamp": int ms,
 *    "collections": [{"title": str, "items": [item...]}],
 *    "topics": [str...]?, "metadata": {...}?, "signature": hex128}
 *
 * The signature is Ed25519 over the RFC 8785 canonical JSON of every member
 * but "signature" (what the Node.js reference client signs with
 * fast-json-stable-stringify). An item is a magnet link (v1 btih hex or
 * base32, v2 btmh, hybrid), a "magnet:?xs=urn:btpk:" link to another feed,
 * text, or a FileEntry object naming encrypted blobs. Hex members must be
 * lower case (what signers write), so ids compare as strings.
 *
 * Private manifests replace the readable members with
 *   "encrypted": true, "nonce": hex48, "ciphertext": hex
 * where ciphertext = crypto_secretbox_easy(canonical({collections, timestamp,
 * topics?, metadata?}), nonce, read key). The outer document is signed the
 * same way, so anyone can verify it; only read-key holders see the items.
 *
 * Every error message starts with the member that failed, then the rule:
 *   "collections[0].items[2].chunks[0].blobId: must be 64 lower-case hex digits"
 *   "signature: does not verify under publicKey 03a1..."
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_MANIFEST_H
#define MT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "mt_error.h"
#include "mt_feedaddr.h"
#include "mt_fileentry.h" /* FileEntry items; MT_BLOB_BYTES, MT_NAME_MAX */
#include "mt_identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_MANIFEST_MAX (16u * 1024 * 1024) /* default size cap, bytes */
#define MT_MANIFEST_DEPTH 32                /* JSON nesting cap */
#define MT_READ_KEY_BYTES 32

typedef enum mt_item_kind {
    MT_ITEM_MAGNET = 1, /* a torrent */
    MT_ITEM_FEED,       /* another megatorrent (magnet:?xs=urn:btpk:) */
    MT_ITEM_FILE,       /* a FileEntry: encrypted blobs */
    MT_ITEM_TEXT        /* any other string; it may hold control characters (the
                           reference client signs what it is given), so strip
                           them before printing */
} mt_item_kind;

/* Info-hashes of a magnet link. */
typedef struct mt_item_hashes {
    int     has_v1;
    uint8_t v1[20];
    int     has_v2;
    uint8_t v2[32];
    uint8_t id[20]; /* the torrent id (v1, else truncated v2) */
} mt_item_hashes;

/* A validated item; pointers stay valid while its manifest lives. */
typedef struct mt_item {
    mt_item_kind  kind;
    const cJSON  *json;  /* the item as signed */
    const char   *text;  /* MAGNET, FEED, TEXT: the string */
    union {
        mt_item_hashes magnet; /* MAGNET */
        mt_feedaddr    feed;   /* FEED */
        struct {               /* FILE */
            const char    *name;      /* as signed; see mt_filename_sanitize */
            int64_t        size;      /* plaintext bytes */
            size_t         n_chunks;
            int            has_swarm; /* "swarm": the pack's magnet */
            mt_item_hashes swarm;
        } file;
    } u;
} mt_item;

typedef struct mt_manifest mt_manifest;

/* What the caller already knows about the feed a manifest came from. */
typedef struct mt_manifest_expect {
    const uint8_t *public_key; /* 32 bytes; NULL accepts any signer */
    int64_t highest_seq;       /* highest accepted so far; -1: none */
    int64_t dht_seq;           /* seq of the DHT item it came in; -1: not from the DHT */
    const uint8_t *read_key;   /* opens a private manifest; NULL leaves it sealed */
    size_t max_bytes;          /* 0: MT_MANIFEST_MAX */
} mt_manifest_expect;

/* No expectations: any key, any sequence, default cap. */
void mt_manifest_expect_init(mt_manifest_expect *e);

/*
 * Parse, verify and validate a manifest, in this order: size cap (before
 * parsing; MT_ETOOBIG), strict JSON (mt_json_parse with integers only),
 * member types and hex lengths (MT_EINVAL), signature (MT_ECRYPTO), the
 * expected public key (MT_ECRYPTO), sequence above highest_seq and equal to
 * dht_seq (MT_ESTALE / MT_EINVAL), then, if readable, collections and items
 * (MT_EINVAL). A private manifest with a read key is decrypted (wrong key:
 * MT_ECRYPTO); without one it loads sealed. e may be NULL.
 */
int mt_manifest_load(const char *json, size_t len, const mt_manifest_expect *e,
                     mt_manifest **out, mt_error *err);

/* Open a sealed private manifest. MT_ECRYPTO for a wrong key, MT_EINVAL if
 * the plaintext breaks a rule, MT_ESTATE if it is not sealed. */
int mt_manifest_decrypt(mt_manifest *m, const uint8_t read_key[32], mt_error *err);

void mt_manifest_free(mt_manifest *m);

const uint8_t *mt_manifest_public_key(const mt_manifest *m);
int64_t mt_manifest_sequence(const mt_manifest *m);
int64_t mt_manifest_timestamp(const mt_manifest *m); /* -1 while sealed */
int mt_manifest_is_private(const mt_manifest *m);
int mt_manifest_is_sealed(const mt_manifest *m);     /* private and not opened */
const cJSON *mt_manifest_json(const mt_manifest *m); /* the document as signed */
const cJSON *mt_manifest_topics(const mt_manifest *m);   /* array or NULL */
const cJSON *mt_manifest_metadata(const mt_manifest *m); /* object or NULL */

size_t mt_manifest_collection_count(const mt_manifest *m);
const char *mt_manifest_collection_title(const mt_manifest *m, size_t c);
size_t mt_manifest_item_count(const mt_manifest *m, size_t c);
const mt_item *mt_manifest_item(const mt_manifest *m, size_t c, size_t i);
size_t mt_manifest_total_items(const mt_manifest *m);

/* Stable lower-case name of an item kind ("magnet", "feed", "file", "text"). */
const char *mt_item_kind_name(mt_item_kind kind);

/* ---------------------------------------------------------------- diff */

typedef struct mt_manifest_change {
    int            added;      /* 1 added in the new manifest, 0 removed */
    const char    *collection; /* title */
    const mt_item *item;       /* points into the new (added) or old (removed) manifest */
} mt_manifest_change;

typedef struct mt_manifest_diff {
    mt_manifest_change *changes; /* removed first (old order), then added (new order) */
    size_t n_changes, n_added, n_removed;
} mt_manifest_diff;

/*
 * Items added and removed per collection (matched by title; items compared
 * by their canonical JSON, counting repeats). old may be NULL: everything is
 * added. Both manifests must be readable and outlive the diff.
 */
int mt_manifest_diff_compute(const mt_manifest *old_m, const mt_manifest *new_m,
                             mt_manifest_diff *out, mt_error *err);
void mt_manifest_diff_clear(mt_manifest_diff *d);

/* --------------------------------------------------------------- drafts */

typedef struct mt_manifest_draft mt_manifest_draft;

int mt_manifest_draft_new(mt_manifest_draft **out, mt_error *err);

/* Start a collection; items added afterwards go into it. Items added before
 * any collection go into one titled "Default". */
int mt_manifest_draft_add_collection(mt_manifest_draft *d, const char *title, mt_error *err);

/* Add a string item (magnet link, btpk link or text line), validated as the
 * loader would validate it. */
int mt_manifest_draft_add_item(mt_manifest_draft *d, const char *item, mt_error *err);

/* Add a FileEntry given as JSON text, validated. */
int mt_manifest_draft_add_entry(mt_manifest_draft *d, const char *json, size_t len, mt_error *err);

int mt_manifest_draft_add_topic(mt_manifest_draft *d, const char *topic, mt_error *err);

/* Set the signed "metadata" object (JSON text; integers only). */
int mt_manifest_draft_set_metadata(mt_manifest_draft *d, const char *json, size_t len, mt_error *err);

/*
 * Sign the draft as id at seq (get it from mt_seq_next) and timestamp_ms
 * into canonical JSON (malloc'd, mt_free()). With read_key the manifest is
 * private. The draft is unchanged and can be signed again.
 */
int mt_manifest_draft_sign(const mt_manifest_draft *d, const mt_identity *id, int64_t seq,
                           int64_t timestamp_ms, const uint8_t *read_key, char **json,
                           size_t *len, mt_error *err);

void mt_manifest_draft_free(mt_manifest_draft *d);

#ifdef __cplusplus
}
#endif
#endif
