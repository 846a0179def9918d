/*
 * mt_blobstore.h - a content-addressed blob directory with a size cap.
 *
 * Blobs are files DIR/<blob id> (the layout mt-wire serves and packs use).
 * Use is tracked by file mtime (mt_blobstore_touch), so least recently used
 * unpinned blobs are evicted first when the store is over its cap. Pins are
 * grouped by tag (e.g. a feed's public key) so a feed's blobs are pinned
 * and unpinned together; they persist in DIR/.pins.json, written atomically.
 * Files in DIR that are not named by a blob id are ignored, never removed.
 *
 * One process should own a store at a time (mtd); mtctl opens it read-only
 * for reports. Not thread-safe: use from one thread.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_BLOBSTORE_H
#define MT_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_blobstore mt_blobstore;

/* Open (creating DIR 0700 if missing) with a cap in bytes (0: no cap).
 * Reads the pins; MT_EINVAL names a malformed .pins.json. */
int mt_blobstore_open(const char *dir, uint64_t cap_bytes, mt_blobstore **out, mt_error *err);
void mt_blobstore_close(mt_blobstore *s);

const char *mt_blobstore_dir(const mt_blobstore *s);

/* DIR/<id> into out; MT_EINVAL if id is not a blob id or out too small. */
int mt_blobstore_path(const mt_blobstore *s, const char *id, char *out, size_t cap, mt_error *err);

/* 1 if the blob file exists (size not checked), else 0. */
int mt_blobstore_has(const mt_blobstore *s, const char *id);

/* Store blob bytes under their id: SHA-256 checked (MT_ECRYPTO), temp file
 * and rename; an existing blob is kept (and touched). */
int mt_blobstore_put(mt_blobstore *s, const char *id, const uint8_t *blob, size_t len, mt_error *err);

/* Read and verify a blob (malloc'd, mt_free()); MT_ECRYPTO if the file does
 * not hash to its id (the file is then removed), MT_ENOTFOUND if absent. */
int mt_blobstore_get(mt_blobstore *s, const char *id, uint8_t **blob, size_t *len, mt_error *err);

/* Mark a blob used now (LRU). Missing blobs are ignored. */
void mt_blobstore_touch(mt_blobstore *s, const char *id);

/* Remove one blob (pinned or not: the caller decides). */
int mt_blobstore_remove(mt_blobstore *s, const char *id, mt_error *err);

/* Pin ids under tag (added to what the tag already pins) / drop the tag's
 * pins. Both persist before returning. */
int mt_blobstore_pin(mt_blobstore *s, const char *tag, const char *const *ids, size_t n, mt_error *err);
int mt_blobstore_unpin(mt_blobstore *s, const char *tag, mt_error *err);
/* 1 if any tag pins id. */
int mt_blobstore_is_pinned(const mt_blobstore *s, const char *id);

typedef struct mt_blobstore_usage {
    uint64_t cap;           /* 0: none */
    uint64_t bytes;         /* all blob files */
    uint64_t blobs;
    uint64_t pinned_bytes;  /* present and pinned */
    uint64_t pinned_blobs;
    uint64_t tags;          /* pin tags */
} mt_blobstore_usage;

/* Scan DIR and report. */
int mt_blobstore_get_usage(mt_blobstore *s, mt_blobstore_usage *u, mt_error *err);

/* Pin tags and their blob counts, for reports: calls fn once per tag. */
typedef void (*mt_blobstore_tag_fn)(void *ud, const char *tag, size_t n_ids, size_t n_present);
int mt_blobstore_list_pins(mt_blobstore *s, mt_blobstore_tag_fn fn, void *ud, mt_error *err);

/*
 * Make room for `need` more bytes: remove unpinned blobs, least recently
 * used first, until bytes + need <= cap (or nothing unpinned is left:
 * MT_ETOOBIG, with what was removed still removed). *freed (may be NULL)
 * gets the bytes removed. keep(ud, id) returning 1 spares a blob (e.g. one a
 * running fetch or a seeding pack uses); keep may be NULL.
 */
typedef int (*mt_blobstore_keep_fn)(void *ud, const char *id);
int mt_blobstore_evict(mt_blobstore *s, uint64_t need, mt_blobstore_keep_fn keep, void *ud,
                       uint64_t *freed, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
