/*
 * store.c - mtd's durable state in one SQLite database (see store.h).
 *
 * Tables: meta (the app tag), kv, sub, accepted (keyed by pk and salt, so
 * it outlives an unsubscribe), item (per subscription, unique key),
 * torrent, pub, blob_fetch and pin. The file is opened, identified
 * (application_id and the app tag) and migrated by mt_db; STEPS below are
 * the schema's history, one entry per version, never edited once shipped.
 *
 * A subscription's seq and index_ih are not stored on the sub row: they are
 * read from the accepted record of its (pk, salt), the one source of truth,
 * which is also why a resubscription reports the old seq at once.
 *
 * Memory: everything handed out is malloc'd. Arrays from the *_list calls
 * are released with mt_free() (free()) after clearing each element that
 * owns pointers (mt_torrent_row_clear, mt_pub_clear, mt_fetch_row_clear);
 * an empty list is returned as *out == NULL, *count == 0. Getters zero
 * *out first, so it is always safe to clear, also after an error.
 *
 * SQL is constant text; data only ever goes in through bound parameters.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store.h"
#include "mt_db.h"
#include "mt_util.h"

#define STORE_APP_ID 1297371988 /* 0x4d545354, "MTST" in the file header */
#define STORE_APP_TAG "megatorrent-store"
#define SALT_MAX 64
#define KEY_HEX_LEN 64

struct mt_store {
    mt_db *db;
};

/* Step 1: the tables of the first release (version 1 files have exactly
 * these, made by the store before mt_db existed). */
static const char STEP1[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    /* AUTOINCREMENT: a removed subscription's id is never handed out again,
     * so torrents still naming it cannot be pinned on a new feed. */
    "CREATE TABLE sub("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " address TEXT NOT NULL,"
    " pk BLOB NOT NULL CHECK(length(pk) = 32),"
    " salt BLOB NOT NULL CHECK(length(salt) <= 64),"
    " read_key BLOB CHECK(read_key IS NULL OR length(read_key) = 32),"
    " save_path TEXT NOT NULL,"
    " include_re TEXT NOT NULL,"
    " exclude_re TEXT NOT NULL,"
    " category TEXT NOT NULL,"
    " add_paused INTEGER NOT NULL,"
    " max_items INTEGER NOT NULL,"
    " interval_s INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " last_poll_ms INTEGER NOT NULL DEFAULT 0,"
    " last_update_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " UNIQUE(pk, salt));"
    "CREATE TABLE accepted("
    " pk BLOB NOT NULL CHECK(length(pk) = 32),"
    " salt BLOB NOT NULL CHECK(length(salt) <= 64),"
    " seq INTEGER NOT NULL,"
    " manifest TEXT,"
    " ih BLOB CHECK(ih IS NULL OR length(ih) = 20),"
    " v BLOB,"
    " sig BLOB NOT NULL CHECK(length(sig) = 64),"
    " accepted_ms INTEGER NOT NULL,"
    " PRIMARY KEY(pk, salt));"
    /* id gives "oldest first"; UNIQUE(sub_id, key) is the dedup rule. */
    "CREATE TABLE item("
    " id INTEGER PRIMARY KEY,"
    " sub_id INTEGER NOT NULL REFERENCES sub(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL CHECK(length(key) = 64),"
    " seq INTEGER NOT NULL,"
    " collection TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " torrent_id BLOB CHECK(torrent_id IS NULL OR length(torrent_id) = 20),"
    " skipped INTEGER NOT NULL,"
    " UNIQUE(sub_id, key));"
    /* sub_id is not a foreign key: a torrent stays when its feed goes. */
    "CREATE TABLE torrent("
    " id BLOB PRIMARY KEY CHECK(length(id) = 20),"
    " uri TEXT NOT NULL,"
    " torrent BLOB,"
    " resume BLOB,"
    " save_path TEXT NOT NULL,"
    " sub_id INTEGER NOT NULL,"
    " category TEXT NOT NULL,"
    " paused INTEGER NOT NULL,"
    " finished INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " added_ms INTEGER NOT NULL);"
    "CREATE TABLE pub("
    " name TEXT NOT NULL,"
    " pk BLOB NOT NULL CHECK(length(pk) = 32),"
    " seq INTEGER NOT NULL,"
    " manifest TEXT,"
    " is_inline INTEGER NOT NULL,"
    " ih BLOB NOT NULL CHECK(length(ih) = 20),"
    " v BLOB,"
    " sig BLOB NOT NULL CHECK(length(sig) = 64),"
    " ws TEXT NOT NULL,"
    " published_ms INTEGER NOT NULL,"
    " last_put_ms INTEGER NOT NULL,"
    " last_put_nodes INTEGER NOT NULL,"
    " PRIMARY KEY(name, pk));"
    "INSERT INTO meta(k, v) VALUES('app', '" STORE_APP_TAG "');";

/* A text member of the JSON object j.value cut to cap bytes ("" when absent
 * or not a string), as the cJSON loader of version 1 read it. (substr of
 * an empty BLOB is NULL, hence the coalesce.) */
#define J_TEXT(path, cap)                                                                      \
    "CASE json_type(j.value, '" path "') WHEN 'text' THEN coalesce("                          \
    " CAST(substr(CAST(json_extract(j.value, '" path "') AS BLOB), 1, " #cap ") AS TEXT), '')" \
    " ELSE '' END"

/*
 * Step 2: blob fetches and pins as tables. Fetches were one JSON array in
 * kv "blob.fetches" ([{"id","sub","out","name","state","error","peers",
 * "entry"}]); its rows move here, skipping those the old loader skipped
 * (no numeric id or no string state), and the kv value goes.
 */
static const char STEP2[] =
    /* id is mtd's fetch id; sub_id is not a foreign key (the record of a
     * fetch stays when its feed goes); entry is the FileEntry JSON (holds
     * chunk keys; NULL when it was lost). */
    "CREATE TABLE blob_fetch("
    " id INTEGER PRIMARY KEY CHECK(id > 0),"
    " sub_id INTEGER NOT NULL,"
    " state INTEGER NOT NULL CHECK(state IN (0, 1, 2)),"
    " out TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " error TEXT NOT NULL,"
    " peers TEXT NOT NULL,"
    " entry TEXT);"
    /* A tag ("feed:<name>", "seed:<info-hash>") pins a set of blobs. */
    "CREATE TABLE pin("
    " tag TEXT NOT NULL CHECK(length(CAST(tag AS BLOB)) BETWEEN 1 AND 128),"
    " blob_id TEXT NOT NULL CHECK(length(blob_id) = 64 AND blob_id NOT GLOB '*[^0-9a-f]*'),"
    " PRIMARY KEY(tag, blob_id)) WITHOUT ROWID;"
    /* Only a repeated id is skipped (the first one stays);
     * anything else that breaks a constraint fails the step loudly. */
    "INSERT INTO blob_fetch(id, sub_id, state, out, name, error, peers, entry)"
    " SELECT CAST(json_extract(j.value, '$.id') AS INTEGER),"
    "  CASE json_type(j.value, '$.sub') WHEN 'integer' THEN json_extract(j.value, '$.sub')"
    "   WHEN 'real' THEN CAST(json_extract(j.value, '$.sub') AS INTEGER) ELSE 0 END,"
    "  CASE json_extract(j.value, '$.state') WHEN 'done' THEN 1 WHEN 'failed' THEN 2 ELSE 0 END,"
    "  " J_TEXT("$.out", 1323) ", " J_TEXT("$.name", 299) ", " J_TEXT("$.error", 255) ","
    "  " J_TEXT("$.peers", 511) ","
    "  CASE json_type(j.value, '$.entry') WHEN 'object' THEN json_extract(j.value, '$.entry') END"
    /* SQLite may evaluate terms in any order, and json_* fail on text that
     * is not JSON (a string element's value is its bare text): every JSON
     * argument is made valid by a CASE first. */
    " FROM (SELECT CASE e.type WHEN 'object' THEN e.value ELSE '{}' END AS value"
    "  FROM kv, json_each(CASE WHEN json_valid(kv.v) THEN kv.v ELSE '[]' END) AS e"
    "  WHERE kv.k = 'blob.fetches' AND CASE WHEN json_valid(kv.v) THEN json_type(kv.v) END = 'array') AS j"
    " WHERE json_type(j.value, '$.id') IN ('integer', 'real')"
    "  AND CAST(json_extract(j.value, '$.id') AS INTEGER) > 0"
    "  AND json_type(j.value, '$.state') = 'text'"
    " ON CONFLICT(id) DO NOTHING;"
    "DELETE FROM kv WHERE k = 'blob.fetches';";

static const char *const STEPS[] = { STEP1, STEP2 };

static const mt_db_schema SCHEMA = {
    .application_id = STORE_APP_ID,
    .name = "megatorrent store",
    .steps = STEPS,
    .n_steps = sizeof STEPS / sizeof STEPS[0],
    /* The app tag guards against a file that merely shares the id. */
    .check_sql = "SELECT count(*) FROM meta WHERE k = 'app' AND v = '" STORE_APP_TAG "'",
};

/* ------------------------------------------------------------ helpers */

/* Bind a feed key (pk, salt) to parameters i and i + 1. */
static void b_feed(sqlite3_stmt *s, int i, const uint8_t *pk, const uint8_t *salt, size_t salt_len, int *brc)
{
    mt_db_bind_blob(s, i, pk, 32, brc);
    mt_db_bind_blob(s, i + 1, salt_len ? (const void *)salt : "", salt_len, brc);
}


/* s must fit a char[cap] field including its NUL. */
static int check_str(const char *s, size_t cap, const char *what, mt_error *err)
{
    if (!s)
        return mt_error_set(err, MT_EINVAL, "%s is missing", what);
    if (strnlen(s, cap) >= cap)
        return mt_error_set(err, MT_EINVAL, "%s is longer than %zu bytes", what, cap - 1);
    return MT_OK;
}

/* Counted text handed out NUL-terminated, so no NUL may hide inside it. */
static int check_text(const char *p, size_t len, const char *what, mt_error *err)
{
    if (!p && len)
        return mt_error_set(err, MT_EINVAL, "%s is NULL but its length is %zu", what, len);
    if (p && memchr(p, '\0', len))
        return mt_error_set(err, MT_EINVAL, "%s contains a NUL byte", what);
    return MT_OK;
}

static int check_bytes(const void *p, size_t len, const char *what, mt_error *err)
{
    if (!p && len)
        return mt_error_set(err, MT_EINVAL, "%s is NULL but its length is %zu", what, len);
    return MT_OK;
}

/* A feed key: 32-byte pk and a BEP 44 salt of at most 64 bytes. */
static int check_feed(const uint8_t *pk, const uint8_t *salt, size_t salt_len, mt_error *err)
{
    if (!pk)
        return mt_error_set(err, MT_EINVAL, "public key is missing");
    if (salt_len > SALT_MAX)
        return mt_error_set(err, MT_EINVAL, "salt is %zu bytes; at most %d are allowed", salt_len, SALT_MAX);
    return check_bytes(salt, salt_len, "salt", err);
}

/* Item keys are lower-case hex SHA-256: one spelling per item, or the
 * dedup rule could be dodged by changing the case. */
static int check_key(const char *key, mt_error *err)
{
    size_t i;
    if (!key)
        return mt_error_set(err, MT_EINVAL, "item key is missing");
    for (i = 0; i < KEY_HEX_LEN; i++) {
        char c = key[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return mt_error_set(err, MT_EINVAL, "item key must be %d lower-case hex digits", KEY_HEX_LEN);
    }
    if (key[KEY_HEX_LEN] != '\0')
        return mt_error_set(err, MT_EINVAL, "item key must be %d lower-case hex digits", KEY_HEX_LEN);
    return MT_OK;
}

/* Start a listing: reset the outputs, check arguments, prepare sql. */
static int list_begin(mt_store *st, const char *sql, void *out, size_t *count, sqlite3_stmt **s,
                      mt_error *err)
{
    if (out)
        *(void **)out = NULL;
    if (count)
        *count = 0;
    if (!st || !out || !count)
        return mt_error_set(err, MT_EINVAL, "store, out and count are required");
    return mt_db_prepare(st->db, sql, s, err);
}
/* ------------------------------------------------------- open / close */

int mt_store_open(const char *path, mt_store **out, mt_error *err)
{
    mt_store *st;
    int rc;

    if (out)
        *out = NULL;
    if (!path || !*path || !out)
        return mt_error_set(err, MT_EINVAL, "store path and out are required");
    st = calloc(1, sizeof *st);
    if (!st)
        return mt_error_set(err, MT_ENOMEM, "out of memory opening the store");
    rc = mt_db_open(path, &SCHEMA, &st->db, err);
    if (rc) {
        free(st);
        return rc;
    }
    *out = st;
    return MT_OK;
}

void mt_store_close(mt_store *st)
{
    if (!st)
        return;
    mt_db_close(st->db);
    free(st);
}

/* ------------------------------------------------------ subscriptions */

#define SUB_SELECT                                                                           \
    "SELECT s.id, s.address, s.pk, s.salt, s.read_key, s.save_path, s.include_re,"           \
    " s.exclude_re, s.category, s.add_paused, s.max_items, s.interval_s, s.created_ms,"      \
    " s.last_poll_ms, s.last_update_ms, s.last_error, a.seq, a.ih,"                          \
    " (SELECT count(*) FROM item i WHERE i.sub_id = s.id)"                                   \
    " FROM sub s LEFT JOIN accepted a ON a.pk = s.pk AND a.salt = s.salt"

/* Fill out from a SUB_SELECT row; -1 if the row is damaged. */
static int sub_from_row(sqlite3_stmt *s, mt_sub *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    if (mt_db_col_str(s, 1, out->address, sizeof out->address) || mt_db_col_fixed(s, 2, out->pk, sizeof out->pk) ||
        mt_db_col_var(s, 3, out->salt, sizeof out->salt, &out->salt_len) ||
        mt_db_col_opt_fixed(s, 4, out->read_key, sizeof out->read_key, &out->has_read_key) ||
        mt_db_col_str(s, 5, out->save_path, sizeof out->save_path) ||
        mt_db_col_str(s, 6, out->include_re, sizeof out->include_re) ||
        mt_db_col_str(s, 7, out->exclude_re, sizeof out->exclude_re) ||
        mt_db_col_str(s, 8, out->category, sizeof out->category) ||
        mt_db_col_str(s, 15, out->last_error, sizeof out->last_error) ||
        mt_db_col_opt_fixed(s, 17, out->index_ih, sizeof out->index_ih, &out->has_index_ih))
        return -1;
    out->add_paused = sqlite3_column_int(s, 9);
    out->max_items = sqlite3_column_int(s, 10);
    out->interval_s = sqlite3_column_int(s, 11);
    out->created_ms = sqlite3_column_int64(s, 12);
    out->last_poll_ms = sqlite3_column_int64(s, 13);
    out->last_update_ms = sqlite3_column_int64(s, 14);
    out->seq = sqlite3_column_int64(s, 16); /* NULL (never accepted) reads as 0 */
    out->items = sqlite3_column_int64(s, 18);
    return 0;
}

/* Step a bound SUB_SELECT ... WHERE query for one row into out. */
static int sub_one(mt_store *st, sqlite3_stmt *s, int bsrc, mt_sub *out, mt_error *err)
{
    int rc = mt_db_step_row(st->db, s, bsrc, "cannot read subscription", err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return mt_error_set(err, MT_ENOTFOUND, "no such subscription");
    if (sub_from_row(s, out)) {
        memset(out, 0, sizeof *out);
        return mt_error_set(err, MT_EIO, "subscription %" PRId64 " in the store is damaged",
                            (int64_t)sqlite3_column_int64(s, 0));
    }
    return MT_OK;
}

/* Everything the caller may set on a new subscription is in range. */
static int check_sub(const mt_sub *s, mt_error *err)
{
    int rc;
    if ((rc = check_str(s->address, sizeof s->address, "address", err)) ||
        (rc = check_str(s->save_path, sizeof s->save_path, "save path", err)) ||
        (rc = check_str(s->include_re, sizeof s->include_re, "include pattern", err)) ||
        (rc = check_str(s->exclude_re, sizeof s->exclude_re, "exclude pattern", err)) ||
        (rc = check_str(s->category, sizeof s->category, "category", err)))
        return rc;
    if (!s->address[0])
        return mt_error_set(err, MT_EINVAL, "address is empty");
    if (s->salt_len > sizeof s->salt)
        return mt_error_set(err, MT_EINVAL, "salt is %zu bytes; at most %zu are allowed", s->salt_len,
                            sizeof s->salt);
    if (s->max_items < 0 || s->interval_s < 0)
        return mt_error_set(err, MT_EINVAL, "max_items and interval_s must not be negative");
    return MT_OK;
}

/* The insert half of mt_store_sub_add, inside its transaction. */
static int sub_insert(mt_store *st, const mt_sub *sub, int64_t *id, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    /* Look first for a clear message; the UNIQUE constraint still guards. */
    rc = mt_db_prepare(st->db, "SELECT id FROM sub WHERE pk = ?1 AND salt = ?2", &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, sub->pk, sub->salt, sub->salt_len, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot look up subscription", err);
    if (rc == 1)
        rc = mt_error_set(err, MT_EEXIST, "this feed is already subscribed (subscription %" PRId64 ")",
                          (int64_t)sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    if (rc)
        return rc;

    rc = mt_db_prepare(st->db,
                       "INSERT INTO sub(address, pk, salt, read_key, save_path, include_re, exclude_re,"
                       " category, add_paused, max_items, interval_s, created_ms)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                       &s, err);
    if (rc)
        return rc;
    mt_db_bind_text(s, 1, sub->address, &bsrc);
    b_feed(s, 2, sub->pk, sub->salt, sub->salt_len, &bsrc);
    mt_db_bind_blob(s, 4, sub->has_read_key ? sub->read_key : NULL, sizeof sub->read_key, &bsrc);
    mt_db_bind_text(s, 5, sub->save_path, &bsrc);
    mt_db_bind_text(s, 6, sub->include_re, &bsrc);
    mt_db_bind_text(s, 7, sub->exclude_re, &bsrc);
    mt_db_bind_text(s, 8, sub->category, &bsrc);
    mt_db_bind_i64(s, 9, sub->add_paused ? 1 : 0, &bsrc);
    mt_db_bind_i64(s, 10, sub->max_items, &bsrc);
    mt_db_bind_i64(s, 11, sub->interval_s, &bsrc);
    mt_db_bind_i64(s, 12, mt_wall_ms(), &bsrc);
    rc = mt_db_step_done(st->db, s, bsrc, "cannot add subscription", err);
    if (rc == MT_OK)
        *id = sqlite3_last_insert_rowid(mt_db_handle(st->db));
    sqlite3_finalize(s);
    return rc;
}

int mt_store_sub_add(mt_store *st, const mt_sub *s, int64_t *out_id, mt_error *err)
{
    int64_t id = 0;
    int rc;

    if (out_id)
        *out_id = 0;
    if (!st || !s)
        return mt_error_set(err, MT_EINVAL, "store and subscription are required");
    rc = check_sub(s, err);
    if (rc)
        return rc;
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_end(st->db, sub_insert(st, s, &id, err), err);
    if (rc == MT_OK && out_id)
        *out_id = id;
    return rc;
}

int mt_store_sub_remove(mt_store *st, int64_t id, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    /* Items go explicitly (the foreign key cascades too); accepted rows
     * stay so that resubscribing never re-accepts an older manifest. */
    rc = mt_db_prepare(st->db, "DELETE FROM item WHERE sub_id = ?1", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, id, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot remove subscription items", err);
        sqlite3_finalize(s);
    }
    if (rc == MT_OK)
        rc = mt_db_prepare(st->db, "DELETE FROM sub WHERE id = ?1", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, id, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, "subscription", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_sub_get(mt_store *st, int64_t id, mt_sub *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    rc = mt_db_prepare(st->db, SUB_SELECT " WHERE s.id = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, id, &bsrc);
    rc = sub_one(st, s, bsrc, out, err);
    sqlite3_finalize(s);
    return rc;
}

int mt_store_sub_find(mt_store *st, const uint8_t pk[32], const uint8_t *salt, size_t salt_len, mt_sub *out,
                      mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    rc = check_feed(pk, salt, salt_len, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, SUB_SELECT " WHERE s.pk = ?1 AND s.salt = ?2", &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    rc = sub_one(st, s, bsrc, out, err);
    sqlite3_finalize(s);
    return rc;
}

static int read_sub(sqlite3_stmt *s, void *elem)
{
    return sub_from_row(s, elem) ? MT_EIO : MT_OK;
}

int mt_store_sub_list(mt_store *st, mt_sub **out, size_t *count, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = list_begin(st, SUB_SELECT " ORDER BY s.id", out, count, &s, err);
    if (rc)
        return rc;
    static const mt_db_collector c = { sizeof(mt_sub), 0, read_sub, NULL, "subscriptions" };
    return mt_db_collect(st->db, s, SQLITE_OK, &c, (void **)out, count, err);
}

int mt_store_sub_set_status(mt_store *st, int64_t id, int64_t last_poll_ms, const char *last_error,
                            mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if (!last_error)
        last_error = "";
    rc = check_str(last_error, sizeof ((mt_sub *)0)->last_error, "last error", err);
    if (rc)
        return rc;
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "UPDATE sub SET last_poll_ms = ?1, last_error = ?2 WHERE id = ?3", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, last_poll_ms, &bsrc);
        mt_db_bind_text(s, 2, last_error, &bsrc);
        mt_db_bind_i64(s, 3, id, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, "subscription", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

/* ------------------------------------------------- accepted manifests */

int mt_store_seq_get(mt_store *st, const uint8_t pk[32], const uint8_t *salt, size_t salt_len, int64_t *seq,
                     mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (seq)
        *seq = 0;
    if (!st || !seq)
        return mt_error_set(err, MT_EINVAL, "store and seq are required");
    rc = check_feed(pk, salt, salt_len, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "SELECT seq FROM accepted WHERE pk = ?1 AND salt = ?2", &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot read accepted sequence", err);
    if (rc == 1)
        *seq = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc < 0 ? rc : MT_OK;
}

int mt_store_accepted_get(mt_store *st, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
                          mt_accepted *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    rc = check_feed(pk, salt, salt_len, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "SELECT seq, manifest, ih, v, sig, accepted_ms FROM accepted WHERE pk = ?1 AND salt = ?2",
              &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot read accepted manifest", err);
    if (rc == 0) {
        rc = mt_error_set(err, MT_ENOTFOUND, "no manifest of this feed was accepted");
    } else if (rc == 1) {
        out->seq = sqlite3_column_int64(s, 0);
        out->accepted_ms = sqlite3_column_int64(s, 5);
        if (mt_db_col_opt_fixed(s, 2, out->ih, sizeof out->ih, &out->has_ih) || mt_db_col_fixed(s, 4, out->sig, sizeof out->sig))
            rc = mt_error_set(err, MT_EIO, "accepted manifest in the store is damaged");
        else if (mt_db_col_dup(s, 1, 1, &out->manifest, &out->manifest_len) || mt_db_col_dup(s, 3, 0, &v, &out->v_len))
            rc = mt_error_set(err, MT_ENOMEM, "out of memory reading accepted manifest");
        else
            rc = MT_OK;
        out->v = (uint8_t *)v;
    }
    sqlite3_finalize(s);
    if (rc)
        mt_accepted_clear(out);
    return rc;
}

void mt_accepted_clear(mt_accepted *a)
{
    if (!a)
        return;
    free(a->manifest);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Item rows are checked before the transaction starts. */
static int check_items(const mt_item_row *items, size_t n, mt_error *err)
{
    size_t i;
    int rc;
    for (i = 0; i < n; i++) {
        const mt_item_row *it = &items[i];
        if ((rc = check_key(it->key, err)) ||
            (rc = check_str(it->collection, sizeof it->collection, "item collection", err)) ||
            (rc = check_str(it->name, sizeof it->name, "item name", err))) {
            char where[32];
            snprintf(where, sizeof where, "item %zu", i);
            mt_error_prefix(err, where);
            return rc;
        }
    }
    return MT_OK;
}

/* sub_id must name a subscription to this very feed, or its seq (read
 * from the accepted record of its own pk and salt) would not move. */
static int accept_check_sub(mt_store *st, int64_t sub_id, const uint8_t *pk, const uint8_t *salt, size_t salt_len,
                            mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    rc = mt_db_prepare(st->db, "SELECT pk = ?2 AND salt = ?3 FROM sub WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, sub_id, &bsrc);
    b_feed(s, 2, pk, salt, salt_len, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot look up subscription", err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "no such subscription %" PRId64, sub_id);
    else if (rc == 1)
        rc = sqlite3_column_int(s, 0) ? MT_OK
                                      : mt_error_set(err, MT_EINVAL,
                                                     "subscription %" PRId64 " follows a different feed", sub_id);
    sqlite3_finalize(s);
    return rc;
}

/* Insert the item rows; a key the subscription already has is left as is. */
static int accept_items(mt_store *st, int64_t sub_id, const mt_item_row *items, size_t n, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    size_t i;
    int rc;

    rc = mt_db_prepare(st->db,
                       "INSERT INTO item(sub_id, key, seq, collection, name, torrent_id, skipped)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(sub_id, key) DO NOTHING",
                       &s, err);
    for (i = 0; rc == MT_OK && i < n; i++) {
        const mt_item_row *it = &items[i];
        int bsrc = SQLITE_OK;
        sqlite3_reset(s);
        mt_db_bind_i64(s, 1, sub_id, &bsrc);
        mt_db_bind_text(s, 2, it->key, &bsrc);
        mt_db_bind_i64(s, 3, it->seq, &bsrc);
        mt_db_bind_text(s, 4, it->collection, &bsrc);
        mt_db_bind_text(s, 5, it->name, &bsrc);
        mt_db_bind_blob(s, 6, it->has_torrent ? it->torrent_id : NULL, sizeof it->torrent_id, &bsrc);
        mt_db_bind_i64(s, 7, it->skipped ? 1 : 0, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot record item", err);
    }
    sqlite3_finalize(s);
    return rc;
}

/* The body of mt_store_accept, inside its transaction. */
static int accept_tx(mt_store *st, int64_t sub_id, const uint8_t *pk, const uint8_t *salt, size_t salt_len,
                     const mt_accepted *a, int64_t now, const mt_item_row *items, size_t n_items, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int64_t stored = 0;
    int bsrc = SQLITE_OK, rc;

    if (sub_id && (rc = accept_check_sub(st, sub_id, pk, salt, salt_len, err)))
        return rc;
    /* The stale check is made under the write lock: nobody can sneak a
     * higher seq in between, and a refused call changes nothing. */
    rc = mt_store_seq_get(st, pk, salt, salt_len, &stored, err);
    if (rc)
        return rc;
    if (a->seq <= stored)
        return mt_error_set(err, MT_ESTALE, "sequence %" PRId64 " is not above the accepted %" PRId64, a->seq,
                            stored);

    rc = mt_db_prepare(st->db,
                       "INSERT OR REPLACE INTO accepted(pk, salt, seq, manifest, ih, v, sig, accepted_ms)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                       &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    mt_db_bind_i64(s, 3, a->seq, &bsrc);
    mt_db_bind_textn(s, 4, a->manifest, a->manifest_len, &bsrc);
    mt_db_bind_blob(s, 5, a->has_ih ? a->ih : NULL, sizeof a->ih, &bsrc);
    mt_db_bind_blob(s, 6, a->v, a->v_len, &bsrc);
    mt_db_bind_blob(s, 7, a->sig, sizeof a->sig, &bsrc);
    mt_db_bind_i64(s, 8, now, &bsrc);
    rc = mt_db_step_done(st->db, s, bsrc, "cannot record accepted manifest", err);
    sqlite3_finalize(s);
    if (rc || !sub_id)
        return rc;

    rc = mt_db_prepare(st->db, "UPDATE sub SET last_update_ms = ?1 WHERE id = ?2", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, now, &bsrc);
    mt_db_bind_i64(s, 2, sub_id, &bsrc);
    rc = mt_db_change_one(st->db, s, bsrc, "subscription", err);
    sqlite3_finalize(s);
    if (rc)
        return rc;
    return accept_items(st, sub_id, items, n_items, err);
}

int mt_store_accept(mt_store *st, int64_t sub_id, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
                    const mt_accepted *a, const mt_item_row *items, size_t n_items, mt_error *err)
{
    int64_t now;
    int rc;

    if (!st || !a)
        return mt_error_set(err, MT_EINVAL, "store and accepted record are required");
    if ((rc = check_feed(pk, salt, salt_len, err)) || (rc = check_text(a->manifest, a->manifest_len, "manifest", err)) ||
        (rc = check_bytes(a->v, a->v_len, "DHT value", err)) || (rc = check_bytes(items, n_items, "items", err)) ||
        (rc = check_items(items, n_items, err)))
        return rc;
    if (a->seq < 0 || sub_id < 0)
        return mt_error_set(err, MT_EINVAL, "sequence and subscription id must not be negative");
    if (!sub_id && n_items)
        return mt_error_set(err, MT_EINVAL, "items need a subscription");
    now = a->accepted_ms > 0 ? a->accepted_ms : mt_wall_ms();
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    return mt_db_end(st->db, accept_tx(st, sub_id, pk, salt, salt_len, a, now, items, n_items, err), err);
}

/* ---------------------------------------------------------------- items */

int mt_store_item_seen(mt_store *st, int64_t sub_id, const char key[65], mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    rc = check_key(key, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "SELECT 1 FROM item WHERE sub_id = ?1 AND key = ?2", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, sub_id, &bsrc);
    mt_db_bind_text(s, 2, key, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot look up item", err);
    sqlite3_finalize(s);
    return rc;
}

/* Fill out from an item row; -1 if the row is damaged. */
static int item_from_row(sqlite3_stmt *s, mt_item_row *out)
{
    memset(out, 0, sizeof *out);
    if (mt_db_col_str(s, 0, out->key, sizeof out->key) || mt_db_col_str(s, 2, out->collection, sizeof out->collection) ||
        mt_db_col_str(s, 3, out->name, sizeof out->name) ||
        mt_db_col_opt_fixed(s, 4, out->torrent_id, sizeof out->torrent_id, &out->has_torrent))
        return -1;
    out->seq = sqlite3_column_int64(s, 1);
    out->skipped = sqlite3_column_int(s, 5);
    return 0;
}

/* The rows of an existing subscription, within one read transaction. */
static int read_item(sqlite3_stmt *s, void *elem)
{
    return item_from_row(s, elem) ? MT_EIO : MT_OK;
}

static int item_rows(mt_store *st, int64_t sub_id, mt_item_row **out, size_t *count, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    rc = mt_db_prepare(st->db, "SELECT count(*) FROM sub WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, sub_id, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot look up subscription", err);
    if (rc == 1)
        rc = sqlite3_column_int(s, 0) ? MT_OK : mt_error_set(err, MT_ENOTFOUND, "no such subscription %" PRId64, sub_id);
    else if (rc == 0)
        rc = mt_error_set(err, MT_EIO, "cannot look up subscription");
    sqlite3_finalize(s);
    if (rc)
        return rc;

    rc = mt_db_prepare(st->db,
                       "SELECT key, seq, collection, name, torrent_id, skipped FROM item WHERE sub_id = ?1 ORDER BY id", &s,
                       err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, sub_id, &bsrc);
    static const mt_db_collector c = { sizeof(mt_item_row), 0, read_item, NULL, "items" };
    return mt_db_collect(st->db, s, bsrc, &c, (void **)out, count, err);
}

int mt_store_item_list(mt_store *st, int64_t sub_id, mt_item_row **out, size_t *count, mt_error *err)
{
    int rc;

    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    if (!st || !out || !count)
        return mt_error_set(err, MT_EINVAL, "store, out and count are required");
    /* A read transaction, so the existence check and the rows agree. */
    rc = mt_db_begin_read(st->db, err);
    if (rc)
        return rc;
    rc = item_rows(st, sub_id, out, count, err);
    mt_db_rollback(st->db); /* nothing was written */
    return rc;
}

/* ------------------------------------------------------------- torrents */

#define TORRENT_SELECT                                                                          \
    "SELECT id, uri, torrent, resume, save_path, sub_id, category, paused, finished, kind,"    \
    " added_ms FROM torrent"

/* "torrent <hex id>" for messages. */
static void torrent_what(const uint8_t id[20], char *buf, size_t cap)
{
    char hex[41];
    mt_hex_encode(id, 20, hex);
    snprintf(buf, cap, "torrent %s", hex);
}

/* Fill out from a TORRENT_SELECT row: 0, MT_EIO (damaged) or MT_ENOMEM. */
static int torrent_from_row(sqlite3_stmt *s, mt_torrent_row *out)
{
    char *t = NULL, *r = NULL;
    memset(out, 0, sizeof *out);
    if (mt_db_col_fixed(s, 0, out->id, sizeof out->id) || mt_db_col_str(s, 1, out->uri, sizeof out->uri) ||
        mt_db_col_str(s, 4, out->save_path, sizeof out->save_path) || mt_db_col_str(s, 6, out->category, sizeof out->category))
        return MT_EIO;
    out->sub_id = sqlite3_column_int64(s, 5);
    out->paused = sqlite3_column_int(s, 7);
    out->finished = sqlite3_column_int(s, 8);
    out->kind = sqlite3_column_int(s, 9);
    out->added_ms = sqlite3_column_int64(s, 10);
    if (mt_db_col_dup(s, 2, 0, &t, &out->torrent_len) || mt_db_col_dup(s, 3, 0, &r, &out->resume_len)) {
        free(t);
        memset(out, 0, sizeof *out);
        return MT_ENOMEM;
    }
    out->torrent = (uint8_t *)t;
    out->resume = (uint8_t *)r;
    return MT_OK;
}

int mt_store_torrent_add(mt_store *st, const mt_torrent_row *t, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (!st || !t)
        return mt_error_set(err, MT_EINVAL, "store and torrent row are required");
    if ((rc = check_str(t->uri, sizeof t->uri, "uri", err)) ||
        (rc = check_str(t->save_path, sizeof t->save_path, "save path", err)) ||
        (rc = check_str(t->category, sizeof t->category, "category", err)) ||
        (rc = check_bytes(t->torrent, t->torrent_len, ".torrent bytes", err)) ||
        (rc = check_bytes(t->resume, t->resume_len, "resume data", err)))
        return rc;
    if (t->kind < 0 || t->kind > 2)
        return mt_error_set(err, MT_EINVAL, "torrent kind must be 0, 1 or 2, not %d", t->kind);
    if (t->sub_id < 0)
        return mt_error_set(err, MT_EINVAL, "subscription id must not be negative");
    torrent_what(t->id, what, sizeof what);
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db,
                       "INSERT INTO torrent(id, uri, torrent, resume, save_path, sub_id, category, paused,"
                       " finished, kind, added_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                       &s, err);
    if (rc == MT_OK) {
        mt_db_bind_blob(s, 1, t->id, sizeof t->id, &bsrc);
        mt_db_bind_text(s, 2, t->uri, &bsrc);
        mt_db_bind_blob(s, 3, t->torrent, t->torrent_len, &bsrc);
        mt_db_bind_blob(s, 4, t->resume, t->resume_len, &bsrc);
        mt_db_bind_text(s, 5, t->save_path, &bsrc);
        mt_db_bind_i64(s, 6, t->sub_id, &bsrc);
        mt_db_bind_text(s, 7, t->category, &bsrc);
        mt_db_bind_i64(s, 8, t->paused ? 1 : 0, &bsrc);
        mt_db_bind_i64(s, 9, t->finished ? 1 : 0, &bsrc);
        mt_db_bind_i64(s, 10, t->kind, &bsrc);
        mt_db_bind_i64(s, 11, t->added_ms > 0 ? t->added_ms : mt_wall_ms(), &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, what, err);
        if (rc == MT_EEXIST)
            rc = mt_error_set(err, MT_EEXIST, "%s is already in the store", what);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_torrent_remove(mt_store *st, const uint8_t id[20], mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (!st || !id)
        return mt_error_set(err, MT_EINVAL, "store and torrent id are required");
    torrent_what(id, what, sizeof what);
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "DELETE FROM torrent WHERE id = ?1", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_blob(s, 1, id, 20, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_torrent_get(mt_store *st, const uint8_t id[20], mt_torrent_row *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !id || !out)
        return mt_error_set(err, MT_EINVAL, "store, torrent id and out are required");
    torrent_what(id, what, sizeof what);
    rc = mt_db_prepare(st->db, TORRENT_SELECT " WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_blob(s, 1, id, 20, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, what, err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "%s: not found", what);
    else if (rc == 1 && (rc = torrent_from_row(s, out)) != MT_OK)
        rc = mt_error_set(err, rc, rc == MT_ENOMEM ? "out of memory reading %s" : "%s in the store is damaged", what);
    sqlite3_finalize(s);
    return rc;
}

static int read_torrent(sqlite3_stmt *s, void *elem)
{
    return torrent_from_row(s, elem);
}

static void clear_torrent(void *elem)
{
    mt_torrent_row_clear(elem);
}

int mt_store_torrent_list(mt_store *st, mt_torrent_row **out, size_t *count, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = list_begin(st, TORRENT_SELECT " ORDER BY rowid", out, count, &s, err);
    if (rc)
        return rc;
    static const mt_db_collector c = { sizeof(mt_torrent_row), 0, read_torrent, clear_torrent, "torrents" };
    return mt_db_collect(st->db, s, SQLITE_OK, &c, (void **)out, count, err);
}

void mt_torrent_row_clear(mt_torrent_row *t)
{
    if (!t)
        return;
    free(t->torrent);
    free(t->resume);
    memset(t, 0, sizeof *t);
}

int mt_store_torrent_set_resume(mt_store *st, const uint8_t id[20], const uint8_t *resume, size_t len,
                                mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (!st || !id)
        return mt_error_set(err, MT_EINVAL, "store and torrent id are required");
    rc = check_bytes(resume, len, "resume data", err);
    if (rc)
        return rc;
    torrent_what(id, what, sizeof what);
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "UPDATE torrent SET resume = ?1 WHERE id = ?2", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_blob(s, 1, resume, len, &bsrc);
        mt_db_bind_blob(s, 2, id, 20, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

/* One integer column of one torrent row (sql: ?1 = value, ?2 = id). */
static int torrent_set_int(mt_store *st, const uint8_t id[20], const char *sql, int64_t v, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (!st || !id)
        return mt_error_set(err, MT_EINVAL, "store and torrent id are required");
    torrent_what(id, what, sizeof what);
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, sql, &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, v, &bsrc);
        mt_db_bind_blob(s, 2, id, 20, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_torrent_set_paused(mt_store *st, const uint8_t id[20], int paused, mt_error *err)
{
    return torrent_set_int(st, id, "UPDATE torrent SET paused = ?1 WHERE id = ?2", paused ? 1 : 0, err);
}

int mt_store_torrent_set_finished(mt_store *st, const uint8_t id[20], int finished, mt_error *err)
{
    return torrent_set_int(st, id, "UPDATE torrent SET finished = ?1 WHERE id = ?2", finished ? 1 : 0, err);
}

/* ----------------------------------------------------- published feeds */

#define PUB_SELECT                                                                               \
    "SELECT name, pk, seq, manifest, is_inline, ih, v, sig, ws, published_ms, last_put_ms,"       \
    " last_put_nodes FROM pub"

/* Fill out from a PUB_SELECT row: 0, MT_EIO (damaged) or MT_ENOMEM. */
static int pub_from_row(sqlite3_stmt *s, mt_pub *out)
{
    char *v = NULL;
    memset(out, 0, sizeof *out);
    if (mt_db_col_str(s, 0, out->name, sizeof out->name) || mt_db_col_fixed(s, 1, out->pk, sizeof out->pk) ||
        mt_db_col_fixed(s, 5, out->ih, sizeof out->ih) || mt_db_col_fixed(s, 7, out->sig, sizeof out->sig) ||
        mt_db_col_str(s, 8, out->ws, sizeof out->ws))
        return MT_EIO;
    out->seq = sqlite3_column_int64(s, 2);
    out->is_inline = sqlite3_column_int(s, 4);
    out->published_ms = sqlite3_column_int64(s, 9);
    out->last_put_ms = sqlite3_column_int64(s, 10);
    out->last_put_nodes = sqlite3_column_int(s, 11);
    if (mt_db_col_dup(s, 3, 1, &out->manifest, &out->manifest_len) || mt_db_col_dup(s, 6, 0, &v, &out->v_len)) {
        free(out->manifest);
        memset(out, 0, sizeof *out);
        return MT_ENOMEM;
    }
    out->v = (uint8_t *)v;
    return MT_OK;
}

int mt_store_pub_set(mt_store *st, const mt_pub *p, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st || !p)
        return mt_error_set(err, MT_EINVAL, "store and feed are required");
    if ((rc = check_str(p->name, sizeof p->name, "feed name", err)) ||
        (rc = check_str(p->ws, sizeof p->ws, "web seeds", err)) ||
        (rc = check_text(p->manifest, p->manifest_len, "manifest", err)) ||
        (rc = check_bytes(p->v, p->v_len, "DHT value", err)))
        return rc;
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db,
                       "INSERT OR REPLACE INTO pub(name, pk, seq, manifest, is_inline, ih, v, sig, ws,"
                       " published_ms, last_put_ms, last_put_nodes)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                       &s, err);
    if (rc == MT_OK) {
        mt_db_bind_text(s, 1, p->name, &bsrc);
        mt_db_bind_blob(s, 2, p->pk, sizeof p->pk, &bsrc);
        mt_db_bind_i64(s, 3, p->seq, &bsrc);
        mt_db_bind_textn(s, 4, p->manifest, p->manifest_len, &bsrc);
        mt_db_bind_i64(s, 5, p->is_inline ? 1 : 0, &bsrc);
        mt_db_bind_blob(s, 6, p->ih, sizeof p->ih, &bsrc);
        mt_db_bind_blob(s, 7, p->v, p->v_len, &bsrc);
        mt_db_bind_blob(s, 8, p->sig, sizeof p->sig, &bsrc);
        mt_db_bind_text(s, 9, p->ws, &bsrc);
        mt_db_bind_i64(s, 10, p->published_ms, &bsrc);
        mt_db_bind_i64(s, 11, p->last_put_ms, &bsrc);
        mt_db_bind_i64(s, 12, p->last_put_nodes, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot record published feed", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_pub_get(mt_store *st, const char *name, const uint8_t pk[32], mt_pub *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !pk || !out)
        return mt_error_set(err, MT_EINVAL, "store, public key and out are required");
    rc = check_str(name, sizeof out->name, "feed name", err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, PUB_SELECT " WHERE name = ?1 AND pk = ?2", &s, err);
    if (rc)
        return rc;
    mt_db_bind_text(s, 1, name, &bsrc);
    mt_db_bind_blob(s, 2, pk, 32, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot read published feed", err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "no published feed \"%s\" under this key", name);
    else if (rc == 1 && (rc = pub_from_row(s, out)) != MT_OK)
        rc = mt_error_set(err, rc, rc == MT_ENOMEM ? "out of memory reading published feed \"%s\""
                                                   : "published feed \"%s\" in the store is damaged",
                          name);
    sqlite3_finalize(s);
    return rc;
}

static int read_pub(sqlite3_stmt *s, void *elem)
{
    return pub_from_row(s, elem);
}

static void clear_pub(void *elem)
{
    mt_pub_clear(elem);
}

/* Elements own manifest and v: clear each with mt_pub_clear, then
 * mt_free the array. */
int mt_store_pub_list(mt_store *st, mt_pub **out, size_t *count, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = list_begin(st, PUB_SELECT " ORDER BY name, pk", out, count, &s, err);
    if (rc)
        return rc;
    static const mt_db_collector c = { sizeof(mt_pub), 0, read_pub, clear_pub, "published feeds" };
    return mt_db_collect(st->db, s, SQLITE_OK, &c, (void **)out, count, err);
}

int mt_store_pub_set_put(mt_store *st, const char *name, const uint8_t pk[32], int64_t last_put_ms, int nodes,
                         mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st || !pk)
        return mt_error_set(err, MT_EINVAL, "store and public key are required");
    rc = check_str(name, sizeof ((mt_pub *)0)->name, "feed name", err);
    if (rc)
        return rc;
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "UPDATE pub SET last_put_ms = ?1, last_put_nodes = ?2 WHERE name = ?3 AND pk = ?4", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, last_put_ms, &bsrc);
        mt_db_bind_i64(s, 2, nodes, &bsrc);
        mt_db_bind_text(s, 3, name, &bsrc);
        mt_db_bind_blob(s, 4, pk, 32, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, "published feed", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

void mt_pub_clear(mt_pub *p)
{
    if (!p)
        return;
    free(p->manifest);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* ----------------------------------------------------------- key/value */

int mt_store_kv_set(mt_store *st, const char *key, const char *value, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st || !key || !*key || !value)
        return mt_error_set(err, MT_EINVAL, "store, a non-empty key and a value are required");
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_text(s, 1, key, &bsrc);
        mt_db_bind_text(s, 2, value, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot store setting", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_kv_get(mt_store *st, const char *key, char **out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    size_t len = 0;
    int bsrc = SQLITE_OK, rc;

    if (out)
        *out = NULL;
    if (!st || !key || !*key || !out)
        return mt_error_set(err, MT_EINVAL, "store, a non-empty key and out are required");
    rc = mt_db_prepare(st->db, "SELECT v FROM kv WHERE k = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_text(s, 1, key, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot read setting", err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "setting \"%s\" is not set", key);
    else if (rc == 1 && mt_db_col_dup(s, 0, 1, out, &len) != MT_OK)
        rc = mt_error_set(err, MT_ENOMEM, "out of memory reading setting");
    else if (rc == 1)
        rc = MT_OK;
    sqlite3_finalize(s);
    return rc;
}

/* -------------------------------------------------------- blob fetches */

#define FETCH_SELECT "SELECT id, sub_id, state, out, name, error, peers, entry FROM blob_fetch"

/* Fill out from a FETCH_SELECT row: 0, MT_EIO (damaged) or MT_ENOMEM. */
static int fetch_from_row(sqlite3_stmt *s, mt_fetch_row *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    out->sub_id = sqlite3_column_int64(s, 1);
    out->state = sqlite3_column_int(s, 2);
    if (mt_db_col_str(s, 3, out->out, sizeof out->out) || mt_db_col_str(s, 4, out->name, sizeof out->name) ||
        mt_db_col_str(s, 5, out->error, sizeof out->error) || mt_db_col_str(s, 6, out->peers, sizeof out->peers))
        return MT_EIO;
    if (mt_db_col_dup(s, 7, 1, &out->entry, &out->entry_len)) {
        memset(out, 0, sizeof *out);
        return MT_ENOMEM;
    }
    return MT_OK;
}

/* f is in range (checked before the transaction). */
static int check_fetch(const mt_fetch_row *f, mt_error *err)
{
    int rc;
    if (f->id <= 0 || f->sub_id < 0)
        return mt_error_set(err, MT_EINVAL, "fetch id must be positive and subscription id not negative");
    if (f->state != MT_STORE_FETCH_RUNNING && f->state != MT_STORE_FETCH_DONE && f->state != MT_STORE_FETCH_FAILED)
        return mt_error_set(err, MT_EINVAL, "fetch state %d is not one of MT_STORE_FETCH_*", f->state);
    if ((rc = check_str(f->out, sizeof f->out, "output path", err)) ||
        (rc = check_str(f->name, sizeof f->name, "fetch name", err)) ||
        (rc = check_str(f->error, sizeof f->error, "fetch error", err)) ||
        (rc = check_str(f->peers, sizeof f->peers, "fetch peers", err)) ||
        (rc = check_text(f->entry, f->entry_len, "FileEntry", err)))
        return rc;
    return MT_OK;
}

static int fetch_put_tx(mt_store *st, const mt_fetch_row *rows, size_t n, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = mt_db_prepare(st->db,
                           "INSERT OR REPLACE INTO blob_fetch(id, sub_id, state, out, name, error, peers, entry)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           &s, err);
    for (size_t i = 0; rc == MT_OK && i < n; i++) {
        const mt_fetch_row *f = &rows[i];
        int bsrc = SQLITE_OK;
        sqlite3_reset(s);
        mt_db_bind_i64(s, 1, f->id, &bsrc);
        mt_db_bind_i64(s, 2, f->sub_id, &bsrc);
        mt_db_bind_i64(s, 3, f->state, &bsrc);
        mt_db_bind_text(s, 4, f->out, &bsrc);
        mt_db_bind_text(s, 5, f->name, &bsrc);
        mt_db_bind_text(s, 6, f->error, &bsrc);
        mt_db_bind_text(s, 7, f->peers, &bsrc);
        mt_db_bind_textn(s, 8, f->entry, f->entry_len, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot record blob fetch", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int mt_store_fetch_put(mt_store *st, const mt_fetch_row *f, size_t n, mt_error *err)
{
    int rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if ((rc = check_bytes(f, n, "fetches", err)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = check_fetch(&f[i], err))) {
            char where[40];
            snprintf(where, sizeof where, "fetch %zu", i);
            mt_error_prefix(err, where);
            return rc;
        }
    }
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    return mt_db_end(st->db, fetch_put_tx(st, f, n, err), err);
}

int mt_store_fetch_remove(mt_store *st, int64_t id, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "DELETE FROM blob_fetch WHERE id = ?1", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_i64(s, 1, id, &bsrc);
        rc = mt_db_change_one(st->db, s, bsrc, "blob fetch", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

int mt_store_fetch_get(mt_store *st, int64_t id, mt_fetch_row *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    rc = mt_db_prepare(st->db, FETCH_SELECT " WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    mt_db_bind_i64(s, 1, id, &bsrc);
    rc = mt_db_step_row(st->db, s, bsrc, "cannot read blob fetch", err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "no blob fetch %" PRId64, id);
    else if (rc == 1 && (rc = fetch_from_row(s, out)) != MT_OK)
        rc = mt_error_set(err, rc, rc == MT_ENOMEM ? "out of memory reading blob fetch %" PRId64
                                                   : "blob fetch %" PRId64 " in the store is damaged",
                          id);
    sqlite3_finalize(s);
    return rc;
}

static int read_fetch(sqlite3_stmt *s, void *elem)
{
    return fetch_from_row(s, elem);
}

static void clear_fetch(void *elem)
{
    mt_fetch_row_clear(elem);
}

int mt_store_fetch_list(mt_store *st, mt_fetch_row **out, size_t *count, mt_error *err)
{
    static const mt_db_collector c = { sizeof(mt_fetch_row), 0, read_fetch, clear_fetch, "blob fetches" };
    sqlite3_stmt *s = NULL;
    int rc = list_begin(st, FETCH_SELECT " ORDER BY id", out, count, &s, err);
    if (rc)
        return rc;
    return mt_db_collect(st->db, s, SQLITE_OK, &c, (void **)out, count, err);
}

void mt_fetch_row_clear(mt_fetch_row *f)
{
    if (!f)
        return;
    if (f->entry) {
        sodium_memzero(f->entry, f->entry_len);
        free(f->entry);
    }
    memset(f, 0, sizeof *f);
}

/* ----------------------------------------------------------------- pins */

#define PIN_TAG_MAX 128

static int check_tag(const char *tag, mt_error *err)
{
    if (!tag || !*tag)
        return mt_error_set(err, MT_EINVAL, "pin tag is missing or empty");
    if (strnlen(tag, PIN_TAG_MAX + 1) > PIN_TAG_MAX)
        return mt_error_set(err, MT_EINVAL, "pin tag is longer than %d bytes", PIN_TAG_MAX);
    return MT_OK;
}

static int pin_add_tx(mt_store *st, const char *tag, const char *const *ids, size_t n, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = mt_db_prepare(st->db, "INSERT OR IGNORE INTO pin(tag, blob_id) VALUES(?1, ?2)", &s, err);
    for (size_t i = 0; rc == MT_OK && i < n; i++) {
        int bsrc = SQLITE_OK;
        sqlite3_reset(s);
        mt_db_bind_text(s, 1, tag, &bsrc);
        mt_db_bind_text(s, 2, ids[i], &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot record pin", err);
    }
    sqlite3_finalize(s);
    return rc;
}

int mt_store_pin_add(mt_store *st, const char *tag, const char *const *ids, size_t n, mt_error *err)
{
    int rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if ((rc = check_tag(tag, err)) || (rc = check_bytes(ids, n, "blob ids", err)))
        return rc;
    /* Checked before the transaction: the same rule as item keys. */
    for (size_t i = 0; i < n; i++) {
        if (check_key(ids[i], err)) {
            char where[40];
            mt_error_set(err, MT_EINVAL, "blob id must be %d lower-case hex digits", KEY_HEX_LEN);
            snprintf(where, sizeof where, "blob id %zu", i);
            mt_error_prefix(err, where);
            return MT_EINVAL;
        }
    }
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    return mt_db_end(st->db, pin_add_tx(st, tag, ids, n, err), err);
}

int mt_store_pin_remove(mt_store *st, const char *tag, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (!st)
        return mt_error_set(err, MT_EINVAL, "store is required");
    rc = check_tag(tag, err);
    if (rc)
        return rc;
    rc = mt_db_begin(st->db, err);
    if (rc)
        return rc;
    rc = mt_db_prepare(st->db, "DELETE FROM pin WHERE tag = ?1", &s, err);
    if (rc == MT_OK) {
        mt_db_bind_text(s, 1, tag, &bsrc);
        rc = mt_db_step_done(st->db, s, bsrc, "cannot remove pins", err);
        sqlite3_finalize(s);
    }
    return mt_db_end(st->db, rc, err);
}

static int read_pin(sqlite3_stmt *s, void *elem)
{
    mt_pin_row *p = elem;
    if (mt_db_col_str(s, 0, p->tag, sizeof p->tag) || mt_db_col_str(s, 1, p->blob_id, sizeof p->blob_id))
        return MT_EIO;
    return MT_OK;
}

int mt_store_pin_list(mt_store *st, const char *tag, mt_pin_row **out, size_t *count, mt_error *err)
{
    static const mt_db_collector c = { sizeof(mt_pin_row), 0, read_pin, NULL, "pins" };
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (tag && (rc = check_tag(tag, err))) {
        if (out)
            *out = NULL;
        if (count)
            *count = 0;
        return rc;
    }
    rc = list_begin(st,
                    tag ? "SELECT tag, blob_id FROM pin WHERE tag = ?1 ORDER BY tag, blob_id"
                        : "SELECT tag, blob_id FROM pin ORDER BY tag, blob_id",
                    out, count, &s, err);
    if (rc)
        return rc;
    if (tag)
        mt_db_bind_text(s, 1, tag, &bsrc);
    return mt_db_collect(st->db, s, bsrc, &c, (void **)out, count, err);
}
