/*
 * store.h - mtd's durable state: one SQLite database (WAL) holding
 * subscriptions, accepted sequences, items already acted on, torrents and
 * their resume data, the feeds this node publishes, blob fetches and pins.
 *
 * Every mutating call is one transaction: after a crash the database holds
 * either all of a call's changes or none. The store is used from one thread
 * (mtd's event loop). Strings are copied in; strings and blobs handed out
 * are owned by the caller and released with mt_free()/the *_clear calls.
 *
 * Errors: 0 on success; MT_ENOTFOUND (no such row), MT_EEXIST (unique key
 * taken), MT_EINVAL (bad argument, or a string that does not fit its
 * struct field), MT_EIO (SQLite failed; err says how).
 *
 * Lists: an empty list is *out == NULL, *count == 0. Getters zero *out
 * first, so the *_clear calls are safe on it after any outcome.
 */
#ifndef MT_STORE_H
#define MT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_store mt_store;

/* Open or create path (mode 0600), enable WAL and foreign keys, create or
 * migrate the schema (mt_db). MT_EIO if the file is not a megatorrent store
 * or is from a newer schema version. An existing file keeps its mode. A relative
 * path always names a file (never a SQLite URI or ":memory:"). */
int mt_store_open(const char *path, mt_store **out, mt_error *err);
void mt_store_close(mt_store *st);

/* ---- subscriptions -------------------------------------------------- */

typedef struct mt_sub {
    int64_t  id;                 /* assigned by mt_store_sub_add */
    char     address[256];       /* canonical feed address (magnet form; MT_FEEDADDR_STR_MAX) */
    uint8_t  pk[32];
    uint8_t  salt[64];
    size_t   salt_len;
    int      has_read_key;
    uint8_t  read_key[32];
    char     save_path[1024];    /* "" = the daemon's default */
    char     include_re[512];    /* POSIX extended regex, "" = everything */
    char     exclude_re[512];    /* "" = nothing excluded */
    char     category[128];
    int      add_paused;
    int      max_items;          /* per update; 0 = unlimited */
    int      interval_s;         /* poll interval; 0 = the daemon's default */
    int64_t  created_ms;
    /* Mutable status, updated by mt_store_sub_set_status(). */
    int64_t  last_poll_ms;       /* 0 = never */
    int64_t  last_update_ms;     /* when a new manifest was last accepted */
    char     last_error[256];    /* "" = last poll succeeded */
    int64_t  seq;                /* highest accepted sequence (0 = none) */
    uint8_t  index_ih[20];       /* feed-index torrent of that manifest */
    int      has_index_ih;
    int64_t  items;              /* items acted on (rows in the item table) */
} mt_sub;

/* Insert s (id, created_ms set here; status fields ignored). MT_EEXIST when
 * the same (pk, salt) is already subscribed; out_id may be NULL. */
int mt_store_sub_add(mt_store *st, const mt_sub *s, int64_t *out_id, mt_error *err);

/* Delete a subscription and its item rows. Accepted sequences stay (see
 * mt_store_seq_*): resubscribing never re-accepts an older manifest. */
int mt_store_sub_remove(mt_store *st, int64_t id, mt_error *err);

/* Look up by id, or by (pk, salt). MT_ENOTFOUND if absent. */
int mt_store_sub_get(mt_store *st, int64_t id, mt_sub *out, mt_error *err);
int mt_store_sub_find(mt_store *st, const uint8_t pk[32], const uint8_t *salt,
                      size_t salt_len, mt_sub *out, mt_error *err);

/* All subscriptions ordered by id into a new array (*out, mt_free). */
int mt_store_sub_list(mt_store *st, mt_sub **out, size_t *count, mt_error *err);

/* Record a poll outcome: last_poll_ms, last_error (NULL or "" = ok). */
int mt_store_sub_set_status(mt_store *st, int64_t id, int64_t last_poll_ms,
                            const char *last_error, mt_error *err);

/* ---- accepted manifests --------------------------------------------- */

/*
 * The latest accepted manifest of a feed (keyed by pk and salt, kept after
 * unsubscribe): sequence, the manifest JSON, the index info-hash (or none
 * for inline), and the signed DHT item that carried it (v, sig) so that
 * subscribers can republish it.
 */
typedef struct mt_accepted {
    int64_t  seq;
    char    *manifest;           /* JSON text, NUL-terminated; may be NULL */
    size_t   manifest_len;
    int      has_ih;
    uint8_t  ih[20];
    uint8_t *v;                  /* bencoded DHT value; may be NULL */
    size_t   v_len;
    uint8_t  sig[64];
    int64_t  accepted_ms;
} mt_accepted;

/* Highest accepted seq of (pk, salt), 0 if none. */
int mt_store_seq_get(mt_store *st, const uint8_t pk[32], const uint8_t *salt,
                     size_t salt_len, int64_t *seq, mt_error *err);

/* The full record; MT_ENOTFOUND if nothing was accepted. Clear with
 * mt_accepted_clear(). */
int mt_store_accepted_get(mt_store *st, const uint8_t pk[32], const uint8_t *salt,
                          size_t salt_len, mt_accepted *out, mt_error *err);
void mt_accepted_clear(mt_accepted *a);

/* ---- items ------------------------------------------------------------ */

/* One item a subscription acted on (added as a torrent, or recorded). */
typedef struct mt_item_row {
    char     key[65];            /* hex SHA-256 of the item's canonical JSON */
    int64_t  seq;                /* manifest sequence it first appeared in */
    char     collection[256];
    char     name[512];          /* display name (magnet dn, file name, text) */
    int      has_torrent;
    uint8_t  torrent_id[20];
    int      skipped;            /* 1: filtered out or over max_items */
} mt_item_row;

/* 1 if the subscription already has an item with this key, else 0;
 * negative on error. */
int mt_store_item_seen(mt_store *st, int64_t sub_id, const char key[65], mt_error *err);

/*
 * Accept a manifest for a subscription in one transaction: set the feed's
 * accepted record (seq must be greater than the stored one, else
 * MT_ESTALE and nothing changes), set the subscription's seq, index ih and
 * last_update_ms, and insert the item rows (rows whose key is already
 * present are left alone). sub_id may be 0 to record only the accepted
 * manifest.
 *
 * sub_id, if not 0, must be a subscription to this (pk, salt): MT_ENOTFOUND
 * if absent, MT_EINVAL if it follows another feed; items need a sub_id.
 * Item keys must be exactly 64 lower-case hex digits (MT_EINVAL). A
 * manifest may not contain NUL bytes. a->accepted_ms 0 means now; the
 * subscription's last_update_ms is set to the same value. A
 * subscription's seq and index_ih are read from this record, so they also
 * move when a manifest of its feed is accepted with sub_id 0.
 */
int mt_store_accept(mt_store *st, int64_t sub_id, const uint8_t pk[32],
                    const uint8_t *salt, size_t salt_len, const mt_accepted *a,
                    const mt_item_row *items, size_t n_items, mt_error *err);

/* Items of a subscription, oldest first (*out, mt_free). MT_ENOTFOUND if
 * there is no such subscription. */
int mt_store_item_list(mt_store *st, int64_t sub_id, mt_item_row **out,
                       size_t *count, mt_error *err);

/* ---- torrents --------------------------------------------------------- */

typedef struct mt_torrent_row {
    uint8_t  id[20];
    char     uri[2048];          /* magnet link it was added from, or "" */
    uint8_t *torrent;            /* .torrent bytes it was added from, or NULL */
    size_t   torrent_len;
    uint8_t *resume;             /* latest resume data, or NULL */
    size_t   resume_len;
    char     save_path[1024];
    int64_t  sub_id;             /* 0 = added by hand */
    char     category[128];
    int      paused;             /* user's wish, restored on start */
    int      finished;           /* finished event already reported */
    int      kind;               /* 0 = user torrent, 1 = feed-index torrent, 2 = blob pack (flat) */
    int64_t  added_ms;
} mt_torrent_row;

/* Insert; MT_EEXIST if the id is present. added_ms 0 means now. */
int mt_store_torrent_add(mt_store *st, const mt_torrent_row *t, mt_error *err);
int mt_store_torrent_remove(mt_store *st, const uint8_t id[20], mt_error *err);
int mt_store_torrent_get(mt_store *st, const uint8_t id[20], mt_torrent_row *out,
                         mt_error *err);
/* All rows, with resume data and .torrent bytes (*out; free each with
 * mt_torrent_row_clear, then the array with mt_free). */
int mt_store_torrent_list(mt_store *st, mt_torrent_row **out, size_t *count,
                          mt_error *err);
void mt_torrent_row_clear(mt_torrent_row *t);
int mt_store_torrent_set_resume(mt_store *st, const uint8_t id[20],
                                const uint8_t *resume, size_t len, mt_error *err);
int mt_store_torrent_set_paused(mt_store *st, const uint8_t id[20], int paused,
                                mt_error *err);
int mt_store_torrent_set_finished(mt_store *st, const uint8_t id[20], int finished,
                                  mt_error *err);

/* ---- feeds this node publishes ---------------------------------------- */

typedef struct mt_pub {
    char     name[65];           /* feed name = DHT salt ("" = no salt) */
    uint8_t  pk[32];
    int64_t  seq;
    char    *manifest;           /* signed manifest JSON (NUL-terminated) */
    size_t   manifest_len;
    int      is_inline;
    uint8_t  ih[20];             /* feed-index torrent (pointer mode) */
    uint8_t *v;                  /* signed DHT value and its signature */
    size_t   v_len;
    uint8_t  sig[64];
    char     ws[2048];           /* web seeds, newline-separated */
    int64_t  published_ms;       /* when this seq was first put */
    int64_t  last_put_ms;        /* last successful (re)put */
    int      last_put_nodes;
} mt_pub;

/* Insert or replace the row for (name, pk), all fields as given. */
int mt_store_pub_set(mt_store *st, const mt_pub *p, mt_error *err);
int mt_store_pub_get(mt_store *st, const char *name, const uint8_t pk[32],
                     mt_pub *out, mt_error *err);
/* All rows ordered by name, then pk (*out; free each with mt_pub_clear,
 * then the array with mt_free). */
int mt_store_pub_list(mt_store *st, mt_pub **out, size_t *count, mt_error *err);
int mt_store_pub_set_put(mt_store *st, const char *name, const uint8_t pk[32],
                         int64_t last_put_ms, int nodes, mt_error *err);
void mt_pub_clear(mt_pub *p);

/* ---- blob fetches -------------------------------------------------------- */

/* What a fetch came to (mtd maps these to and from mt_blobfetch_state). */
enum {
    MT_STORE_FETCH_RUNNING = 0,  /* resumes when mtd starts */
    MT_STORE_FETCH_DONE    = 1,
    MT_STORE_FETCH_FAILED  = 2
};

/* One FileEntry fetch of mtd's, kept so it resumes after a restart. */
typedef struct mt_fetch_row {
    int64_t  id;                 /* > 0, mtd's fetch id (the caller picks it) */
    int64_t  sub_id;             /* 0 = started by RPC */
    int      state;              /* MT_STORE_FETCH_* */
    char     out[1324];          /* output file */
    char     name[300];          /* the entry's file name */
    char     error[256];         /* "" unless failed */
    char     peers[512];         /* comma list of extra mt-wire hosts */
    char    *entry;              /* FileEntry JSON, NUL-terminated (holds chunk
                                  * keys); NULL = none kept */
    size_t   entry_len;
} mt_fetch_row;

/* Insert or replace the rows f[0..n) (by id), all fields as given, in one
 * transaction: all or none. */
int mt_store_fetch_put(mt_store *st, const mt_fetch_row *f, size_t n, mt_error *err);
/* MT_ENOTFOUND if there is no such fetch. */
int mt_store_fetch_remove(mt_store *st, int64_t id, mt_error *err);
int mt_store_fetch_get(mt_store *st, int64_t id, mt_fetch_row *out, mt_error *err);
/* All fetches by id (*out; free each with mt_fetch_row_clear, then the
 * array with mt_free). */
int mt_store_fetch_list(mt_store *st, mt_fetch_row **out, size_t *count, mt_error *err);
/* Frees entry (wiped first: it holds keys) and zeroes the row. NULL ok. */
void mt_fetch_row_clear(mt_fetch_row *f);

/* ---- pins ------------------------------------------------------------------ */

/*
 * Blobs mtd keeps out of eviction, as sets under a tag ("feed:<name>",
 * "seed:<info-hash>"). A tag is 1..128 bytes of text; blob ids are 64
 * lower-case hex digits (MT_EINVAL otherwise, and nothing changes).
 */
typedef struct mt_pin_row {
    char     tag[129];
    char     blob_id[65];
} mt_pin_row;

/* Add ids to tag's set (ids already there, or repeated, are fine); one
 * transaction. n may be 0. */
int mt_store_pin_add(mt_store *st, const char *tag, const char *const *ids, size_t n, mt_error *err);
/* Drop every pin of tag; a tag without pins is fine. */
int mt_store_pin_remove(mt_store *st, const char *tag, mt_error *err);
/* Pins of tag, or of every tag when tag is NULL, ordered by tag and then
 * blob id (*out, mt_free). */
int mt_store_pin_list(mt_store *st, const char *tag, mt_pin_row **out, size_t *count, mt_error *err);

/* ---- key/value settings (node state such as the DHT node id file) ---- */
int mt_store_kv_set(mt_store *st, const char *key, const char *value, mt_error *err);
/* *out is a new string (mt_free); MT_ENOTFOUND if unset. */
int mt_store_kv_get(mt_store *st, const char *key, char **out, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
