/*
 * store.c - mtd's durable state in one SQLite database (see store.h).
 *
 * Tables: meta (the app tag), kv, sub, accepted (keyed by pk and salt, so
 * it outlives an unsubscribe), item (per subscription, unique key), torrent
 * and pub. PRAGMA application_id marks the file as ours and PRAGMA
 * user_version holds the schema version, so an unrelated database, or one
 * from a newer build, is refused before anything is written to it.
 *
 * A subscription's seq and index_ih are not stored on the sub row: they are
 * read from the accepted record of its (pk, salt), the one source of truth,
 * which is also why a resubscription reports the old seq at once.
 *
 * Memory: everything handed out is malloc'd. Arrays from the *_list calls
 * are released with mt_free() (free()) after clearing each element that
 * owns pointers (mt_torrent_row_clear, mt_pub_clear); an empty list is
 * returned as *out == NULL, *count == 0. Getters zero *out first, so it is
 * always safe to clear, also after an error.
 *
 * SQL is constant text; data only ever goes in through bound parameters.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "mt_util.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_APP_ID 1297371988 /* 0x4d545354, "MTST" in the file header */
#define STORE_APP_TAG "megatorrent-store"
#define STORE_BUSY_MS 5000
#define SALT_MAX 64
#define KEY_HEX_LEN 64

#define STR_(x) #x
#define STR(x) STR_(x)

struct mt_store {
    sqlite3 *db;
};

/* Schema version 1; run once, inside the creating transaction. */
static const char SCHEMA_V1[] =
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
    " PRIMARY KEY(name, pk));";

/* ------------------------------------------------------------ helpers */

/* Map a SQLite failure to an MT code, with SQLite's own words in err. */
static int sql_fail(sqlite3 *db, int src, const char *what, mt_error *err)
{
    int code = MT_EIO;
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        code = MT_ENOMEM;
        break;
    case SQLITE_TOOBIG:
        code = MT_ETOOBIG;
        break;
    case SQLITE_CONSTRAINT:
        if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
            code = MT_EEXIST;
        break;
    default:
        break;
    }
    return mt_error_set(err, code, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

/* Prepare sql, which is always constant text (data goes in via binds). */
static int prep(mt_store *st, const char *sql, sqlite3_stmt **s, mt_error *err)
{
    int src = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    if (src != SQLITE_OK) {
        *s = NULL;
        return sql_fail(st->db, src, "cannot prepare a store query", err);
    }
    return MT_OK;
}

/* The b_* binders keep the first failure in *src, so a statement's binds
 * are checked once, when it is stepped. */
static void b_i64(sqlite3_stmt *s, int i, int64_t v, int *src)
{
    if (*src == SQLITE_OK)
        *src = sqlite3_bind_int64(s, i, v);
}

/* NUL-terminated text; NULL binds SQL NULL. */
static void b_str(sqlite3_stmt *s, int i, const char *v, int *src)
{
    if (*src == SQLITE_OK)
        *src = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* Counted text; NULL binds SQL NULL. */
static void b_strn(sqlite3_stmt *s, int i, const char *v, size_t n, int *src)
{
    if (*src == SQLITE_OK)
        *src = v ? sqlite3_bind_text64(s, i, v, n, SQLITE_STATIC, SQLITE_UTF8) : sqlite3_bind_null(s, i);
}

/* Bytes; NULL binds SQL NULL, a non-NULL empty buffer an empty BLOB (an
 * empty salt must compare equal to itself, which NULL would not). */
static void b_blob(sqlite3_stmt *s, int i, const void *p, size_t n, int *src)
{
    if (*src != SQLITE_OK)
        return;
    if (!p)
        *src = sqlite3_bind_null(s, i);
    else if (n == 0)
        *src = sqlite3_bind_zeroblob(s, i, 0);
    else
        *src = sqlite3_bind_blob64(s, i, p, n, SQLITE_STATIC);
}

/* Bind a feed key (pk, salt) to parameters i and i + 1. */
static void b_feed(sqlite3_stmt *s, int i, const uint8_t *pk, const uint8_t *salt, size_t salt_len, int *src)
{
    b_blob(s, i, pk, 32, src);
    b_blob(s, i + 1, salt_len ? (const void *)salt : "", salt_len, src);
}

/* Step a statement that returns no rows (bsrc: the binds' outcome). */
static int step_done(mt_store *st, sqlite3_stmt *s, int bsrc, const char *what, mt_error *err)
{
    int src = bsrc == SQLITE_OK ? sqlite3_step(s) : bsrc;
    if (src != SQLITE_DONE)
        return sql_fail(st->db, src, what, err);
    return MT_OK;
}

/* Step a query: 1 for a row, 0 when done, negative MT code on failure. */
static int step_row(mt_store *st, sqlite3_stmt *s, int bsrc, const char *what, mt_error *err)
{
    int src = bsrc == SQLITE_OK ? sqlite3_step(s) : bsrc;
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return sql_fail(st->db, src, what, err);
}

/* Step a one-row UPDATE or DELETE; MT_ENOTFOUND if it matched no row. */
static int change_one(mt_store *st, sqlite3_stmt *s, int bsrc, const char *what, mt_error *err)
{
    int rc = step_done(st, s, bsrc, what, err);
    if (rc == MT_OK && sqlite3_changes(st->db) == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "%s: not found", what);
    return rc;
}

/* Run constant SQL with no result rows (pragmas, BEGIN, COMMIT). */
static int exec_sql(sqlite3 *db, const char *sql, const char *what, mt_error *err)
{
    int src = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? MT_OK : sql_fail(db, src, what, err);
}

/* Every mutation runs inside BEGIN IMMEDIATE: the write lock is taken up
 * front, so the checks made inside the transaction still hold at COMMIT. */
static int tx_begin(mt_store *st, mt_error *err)
{
    return exec_sql(st->db, "BEGIN IMMEDIATE", "cannot start a store transaction", err);
}

/* Commit when rc is 0, else roll back; returns rc or the commit failure. */
static int tx_end(mt_store *st, int rc, mt_error *err)
{
    if (rc == MT_OK) {
        rc = exec_sql(st->db, "COMMIT", "cannot commit to the store", err);
        if (rc == MT_OK)
            return MT_OK;
    }
    /* SQLite may already have rolled back by itself (e.g. disk full). */
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
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

/* Text column i into dst[cap]; -1 if it does not fit (a damaged row). */
static int col_str(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    if (n >= cap || (n && !p))
        return -1;
    if (n)
        memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

/* Exactly n bytes of BLOB column i into dst; -1 if the value is not that. */
static int col_fixed(sqlite3_stmt *s, int i, uint8_t *dst, size_t n)
{
    const void *p;
    /* Type first: the accessors below could otherwise convert the value. */
    if (sqlite3_column_type(s, i) != SQLITE_BLOB)
        return -1;
    p = sqlite3_column_blob(s, i);
    if ((size_t)sqlite3_column_bytes(s, i) != n || !p)
        return -1;
    memcpy(dst, p, n);
    return 0;
}

/* Optional fixed-size BLOB: SQL NULL gives *has = 0 and dst untouched. */
static int col_opt_fixed(sqlite3_stmt *s, int i, uint8_t *dst, size_t n, int *has)
{
    *has = 0;
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return 0;
    if (col_fixed(s, i, dst, n))
        return -1;
    *has = 1;
    return 0;
}

/* BLOB column i of at most cap bytes (a salt) into dst, its size in *len. */
static int col_var(sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len)
{
    const void *p;
    size_t n;
    if (sqlite3_column_type(s, i) != SQLITE_BLOB)
        return -1;
    p = sqlite3_column_blob(s, i);
    n = (size_t)sqlite3_column_bytes(s, i);
    if (n > cap || (n && !p))
        return -1;
    if (n)
        memcpy(dst, p, n);
    *len = n;
    return 0;
}

/* Column i into a new buffer with a NUL after its n bytes (text is then a
 * C string); SQL NULL gives NULL. MT_ENOMEM if memory runs out. */
static int col_dup(sqlite3_stmt *s, int i, int text, char **out, size_t *len)
{
    const void *p;
    size_t n;
    char *buf;

    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return MT_OK;
    p = text ? (const void *)sqlite3_column_text(s, i) : sqlite3_column_blob(s, i);
    n = (size_t)sqlite3_column_bytes(s, i);
    if (n && !p)
        return MT_ENOMEM;
    buf = malloc(n + 1);
    if (!buf)
        return MT_ENOMEM;
    if (n)
        memcpy(buf, p, n);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return MT_OK;
}

/* Room for element n of an array of elem-sized items (capacity doubles);
 * returns the array, or NULL on overflow or failure (old array intact). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;
    if (n < *cap)
        return arr;
    ncap = *cap ? *cap * 2 : 8;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return NULL;
    p = realloc(arr, ncap * elem);
    if (p)
        *cap = ncap;
    return p;
}

/* One row of a SELECT into one array element: MT_OK, MT_ENOMEM, or any
 * other code for a damaged row. */
typedef int (*row_reader)(sqlite3_stmt *s, void *elem);
/* Releases what one element owns (NULL: nothing to release). */
typedef void (*row_clear)(void *elem);

/*
 * Step a prepared statement (bsrc: the outcome of its bindings) to the end,
 * collecting each row into a new array of elem-sized elements. Finalizes s.
 * On failure everything collected is released and *out stays untouched;
 * the error names `what` ("torrents", "items"...).
 */
static int collect_rows(mt_store *st, sqlite3_stmt *s, int bsrc, size_t elem, row_reader read,
                        row_clear clear, const char *what, void **out, size_t *count, mt_error *err)
{
    char *arr = NULL, *p;
    size_t n = 0, cap = 0;
    char fail_msg[80];
    int rc;

    snprintf(fail_msg, sizeof fail_msg, "cannot list %s", what);
    while ((rc = step_row(st, s, bsrc, fail_msg, err)) == 1) {
        p = grow(arr, &cap, n, elem);
        if (!p) {
            rc = mt_error_set(err, MT_ENOMEM, "out of memory listing %s", what);
            break;
        }
        arr = p;
        memset(arr + n * elem, 0, elem);
        rc = read(s, arr + n * elem);
        if (rc) {
            mt_error_set(err, rc == MT_ENOMEM ? MT_ENOMEM : MT_EIO,
                         rc == MT_ENOMEM ? "out of memory listing %s" : "a row of %s in the store is damaged",
                         what);
            rc = rc == MT_ENOMEM ? MT_ENOMEM : MT_EIO;
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    if (rc < 0) {
        for (size_t i = 0; clear && i < n; i++)
            clear(arr + i * elem);
        free(arr);
        return rc;
    }
    *out = arr;
    *count = n;
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
    return prep(st, sql, s, err);
}

/* ------------------------------------------------------- open / close */

/* Create path as 0600 if absent (SQLite would use 0644 less umask; its -wal
 * and -shm files copy the main file's mode), and make the new directory
 * entry durable. An existing file keeps its mode. */
static int create_private(const char *path, mt_error *err)
{
    const char *slash;
    char dir[4096];
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        if (errno == EEXIST)
            return MT_OK;
        return mt_error_set(err, MT_EIO, "cannot create store %s: %s", path, strerror(errno));
    }
    /* The umask may have removed bits (e.g. 0277); 0600 is the contract. */
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return mt_error_set(err, MT_EIO, "cannot set up store %s: %s", path, strerror(e));
    }
    close(fd);
    slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    else
        return MT_OK; /* best effort only; SQLite syncs its own files */
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return MT_OK;
}

/* First column of the first row of a constant query, as an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            src = SQLITE_OK;
        } else if (src == SQLITE_DONE) {
            src = SQLITE_ERROR;
        }
    }
    sqlite3_finalize(s);
    return src;
}

/* Classify the file without writing to it: *version = 0 for an empty
 * database we may initialise, else the schema version of a megatorrent
 * store; MT_EIO for anything else (foreign, newer, damaged). */
static int store_identity(sqlite3 *db, const char *path, int64_t *version, mt_error *err)
{
    int64_t objects = 0, app_id = 0, user_version = 0;
    sqlite3_stmt *s = NULL;
    int src, ok;

    *version = 0;
    src = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
    if (src == SQLITE_OK)
        src = query_int(db, "PRAGMA application_id", &app_id);
    if (src == SQLITE_OK)
        src = query_int(db, "PRAGMA user_version", &user_version);
    if (src != SQLITE_OK) {
        if ((src & 0xff) == SQLITE_NOTADB)
            return mt_error_set(err, MT_EIO, "%s is not a megatorrent store: %s", path, sqlite3_errmsg(db));
        return sql_fail(db, src, "cannot read the store", err);
    }
    if (app_id == 0 && user_version == 0 && objects == 0)
        return MT_OK;
    if (app_id != STORE_APP_ID)
        return mt_error_set(err, MT_EIO,
                            "%s is not a megatorrent store (an SQLite database of another application)", path);
    if (user_version > STORE_SCHEMA_VERSION)
        return mt_error_set(err, MT_EIO,
                            "%s has store schema version %" PRId64 ", newer than version %d that this build "
                            "supports; use a newer megatorrent",
                            path, user_version, STORE_SCHEMA_VERSION);
    if (user_version < 1)
        return mt_error_set(err, MT_EIO, "%s is a damaged megatorrent store (no schema version)", path);
    /* The app tag guards against a file that merely shares the id. */
    src = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'app'", -1, &s, NULL);
    ok = src == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
         strcmp((const char *)sqlite3_column_text(s, 0), STORE_APP_TAG) == 0;
    sqlite3_finalize(s);
    if (!ok)
        return mt_error_set(err, MT_EIO, "%s is not a megatorrent store (no app tag)", path);
    *version = user_version;
    return MT_OK;
}

/* Connection settings; only after store_identity said the file is ours,
 * so a foreign database is never switched to WAL. */
static int store_pragmas(sqlite3 *db, const char *path, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int src, wal;

    src = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(s);
    wal = src == SQLITE_ROW && sqlite3_column_text(s, 0) &&
          strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    if (!wal) {
        int rc = src == SQLITE_ROW ? mt_error_set(err, MT_EIO, "cannot enable WAL on %s", path)
                                   : sql_fail(db, src, "cannot enable WAL", err);
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    /* FULL: every COMMIT is on disk before it returns (no item twice). */
    return exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", "cannot configure the store", err);
}

/* Create or upgrade the schema in one transaction. The identity is read
 * again under the write lock: another process may have created it. */
static int store_migrate(mt_store *st, const char *path, mt_error *err)
{
    int64_t version = 0;
    int rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = store_identity(st->db, path, &version, err);
    if (rc == MT_OK && version == 0) {
        rc = exec_sql(st->db, SCHEMA_V1, "cannot create the store schema", err);
        if (rc == MT_OK)
            rc = exec_sql(st->db,
                          "PRAGMA application_id=" STR(STORE_APP_ID) ";"
                          "PRAGMA user_version=" STR(STORE_SCHEMA_VERSION) ";"
                          "INSERT INTO meta(k, v) VALUES('app', '" STORE_APP_TAG "')",
                          "cannot tag the store", err);
    }
    /* Later versions: one step per version here, e.g. if (version == 1) ... */
    return tx_end(st, rc, err);
}

int mt_store_open(const char *path, mt_store **out, mt_error *err)
{
    char name[4096];
    mt_store *st;
    int64_t version = 0;
    int rc, src;

    if (out)
        *out = NULL;
    if (!path || !*path || !out)
        return mt_error_set(err, MT_EINVAL, "store path and out are required");
    /* Debian's SQLite takes "file:..." as a URI and ":memory:" as no file
     * at all; "./" in front keeps every relative path a plain file name. */
    if ((size_t)snprintf(name, sizeof name, "%s%s", path[0] == '/' ? "" : "./", path) >= sizeof name)
        return mt_error_set(err, MT_EINVAL, "store path is too long");
    path = name;
    rc = create_private(path, err);
    if (rc)
        return rc;
    st = calloc(1, sizeof *st);
    if (!st)
        return mt_error_set(err, MT_ENOMEM, "out of memory opening the store");
    /* No CREATE flag: create_private made the file with the right mode. */
    src = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = mt_error_set(err, MT_EIO, "cannot open store %s: %s", path,
                          st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
    /* Defensive: no writable_schema tricks can corrupt the file. */
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    rc = store_identity(st->db, path, &version, err);
    if (rc == MT_OK)
        rc = store_pragmas(st->db, path, err);
    if (rc == MT_OK)
        rc = store_migrate(st, path, err);
    if (rc)
        goto fail;
    *out = st;
    return MT_OK;
fail:
    sqlite3_close_v2(st->db);
    free(st);
    return rc;
}

void mt_store_close(mt_store *st)
{
    if (!st)
        return;
    sqlite3_close_v2(st->db);
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
    if (col_str(s, 1, out->address, sizeof out->address) || col_fixed(s, 2, out->pk, sizeof out->pk) ||
        col_var(s, 3, out->salt, sizeof out->salt, &out->salt_len) ||
        col_opt_fixed(s, 4, out->read_key, sizeof out->read_key, &out->has_read_key) ||
        col_str(s, 5, out->save_path, sizeof out->save_path) ||
        col_str(s, 6, out->include_re, sizeof out->include_re) ||
        col_str(s, 7, out->exclude_re, sizeof out->exclude_re) ||
        col_str(s, 8, out->category, sizeof out->category) ||
        col_str(s, 15, out->last_error, sizeof out->last_error) ||
        col_opt_fixed(s, 17, out->index_ih, sizeof out->index_ih, &out->has_index_ih))
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
    int rc = step_row(st, s, bsrc, "cannot read subscription", err);
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
    rc = prep(st, "SELECT id FROM sub WHERE pk = ?1 AND salt = ?2", &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, sub->pk, sub->salt, sub->salt_len, &bsrc);
    rc = step_row(st, s, bsrc, "cannot look up subscription", err);
    if (rc == 1)
        rc = mt_error_set(err, MT_EEXIST, "this feed is already subscribed (subscription %" PRId64 ")",
                          (int64_t)sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    if (rc)
        return rc;

    rc = prep(st,
              "INSERT INTO sub(address, pk, salt, read_key, save_path, include_re, exclude_re,"
              " category, add_paused, max_items, interval_s, created_ms)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
              &s, err);
    if (rc)
        return rc;
    b_str(s, 1, sub->address, &bsrc);
    b_feed(s, 2, sub->pk, sub->salt, sub->salt_len, &bsrc);
    b_blob(s, 4, sub->has_read_key ? sub->read_key : NULL, sizeof sub->read_key, &bsrc);
    b_str(s, 5, sub->save_path, &bsrc);
    b_str(s, 6, sub->include_re, &bsrc);
    b_str(s, 7, sub->exclude_re, &bsrc);
    b_str(s, 8, sub->category, &bsrc);
    b_i64(s, 9, sub->add_paused ? 1 : 0, &bsrc);
    b_i64(s, 10, sub->max_items, &bsrc);
    b_i64(s, 11, sub->interval_s, &bsrc);
    b_i64(s, 12, mt_wall_ms(), &bsrc);
    rc = step_done(st, s, bsrc, "cannot add subscription", err);
    if (rc == MT_OK)
        *id = sqlite3_last_insert_rowid(st->db);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = tx_end(st, sub_insert(st, s, &id, err), err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    /* Items go explicitly (the foreign key cascades too); accepted rows
     * stay so that resubscribing never re-accepts an older manifest. */
    rc = prep(st, "DELETE FROM item WHERE sub_id = ?1", &s, err);
    if (rc == MT_OK) {
        b_i64(s, 1, id, &bsrc);
        rc = step_done(st, s, bsrc, "cannot remove subscription items", err);
        sqlite3_finalize(s);
    }
    if (rc == MT_OK)
        rc = prep(st, "DELETE FROM sub WHERE id = ?1", &s, err);
    if (rc == MT_OK) {
        b_i64(s, 1, id, &bsrc);
        rc = change_one(st, s, bsrc, "subscription", err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
}

int mt_store_sub_get(mt_store *st, int64_t id, mt_sub *out, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int bsrc = SQLITE_OK, rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    rc = prep(st, SUB_SELECT " WHERE s.id = ?1", &s, err);
    if (rc)
        return rc;
    b_i64(s, 1, id, &bsrc);
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
    rc = prep(st, SUB_SELECT " WHERE s.pk = ?1 AND s.salt = ?2", &s, err);
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
    return collect_rows(st, s, SQLITE_OK, sizeof **out, read_sub, NULL, "subscriptions",
                        (void **)out, count, err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, "UPDATE sub SET last_poll_ms = ?1, last_error = ?2 WHERE id = ?3", &s, err);
    if (rc == MT_OK) {
        b_i64(s, 1, last_poll_ms, &bsrc);
        b_str(s, 2, last_error, &bsrc);
        b_i64(s, 3, id, &bsrc);
        rc = change_one(st, s, bsrc, "subscription", err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = prep(st, "SELECT seq FROM accepted WHERE pk = ?1 AND salt = ?2", &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    rc = step_row(st, s, bsrc, "cannot read accepted sequence", err);
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
    rc = prep(st, "SELECT seq, manifest, ih, v, sig, accepted_ms FROM accepted WHERE pk = ?1 AND salt = ?2",
              &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    rc = step_row(st, s, bsrc, "cannot read accepted manifest", err);
    if (rc == 0) {
        rc = mt_error_set(err, MT_ENOTFOUND, "no manifest of this feed was accepted");
    } else if (rc == 1) {
        out->seq = sqlite3_column_int64(s, 0);
        out->accepted_ms = sqlite3_column_int64(s, 5);
        if (col_opt_fixed(s, 2, out->ih, sizeof out->ih, &out->has_ih) || col_fixed(s, 4, out->sig, sizeof out->sig))
            rc = mt_error_set(err, MT_EIO, "accepted manifest in the store is damaged");
        else if (col_dup(s, 1, 1, &out->manifest, &out->manifest_len) || col_dup(s, 3, 0, &v, &out->v_len))
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

    rc = prep(st, "SELECT pk = ?2 AND salt = ?3 FROM sub WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    b_i64(s, 1, sub_id, &bsrc);
    b_feed(s, 2, pk, salt, salt_len, &bsrc);
    rc = step_row(st, s, bsrc, "cannot look up subscription", err);
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

    rc = prep(st,
              "INSERT INTO item(sub_id, key, seq, collection, name, torrent_id, skipped)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(sub_id, key) DO NOTHING",
              &s, err);
    for (i = 0; rc == MT_OK && i < n; i++) {
        const mt_item_row *it = &items[i];
        int bsrc = SQLITE_OK;
        sqlite3_reset(s);
        b_i64(s, 1, sub_id, &bsrc);
        b_str(s, 2, it->key, &bsrc);
        b_i64(s, 3, it->seq, &bsrc);
        b_str(s, 4, it->collection, &bsrc);
        b_str(s, 5, it->name, &bsrc);
        b_blob(s, 6, it->has_torrent ? it->torrent_id : NULL, sizeof it->torrent_id, &bsrc);
        b_i64(s, 7, it->skipped ? 1 : 0, &bsrc);
        rc = step_done(st, s, bsrc, "cannot record item", err);
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

    rc = prep(st,
              "INSERT OR REPLACE INTO accepted(pk, salt, seq, manifest, ih, v, sig, accepted_ms)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
              &s, err);
    if (rc)
        return rc;
    b_feed(s, 1, pk, salt, salt_len, &bsrc);
    b_i64(s, 3, a->seq, &bsrc);
    b_strn(s, 4, a->manifest, a->manifest_len, &bsrc);
    b_blob(s, 5, a->has_ih ? a->ih : NULL, sizeof a->ih, &bsrc);
    b_blob(s, 6, a->v, a->v_len, &bsrc);
    b_blob(s, 7, a->sig, sizeof a->sig, &bsrc);
    b_i64(s, 8, now, &bsrc);
    rc = step_done(st, s, bsrc, "cannot record accepted manifest", err);
    sqlite3_finalize(s);
    if (rc || !sub_id)
        return rc;

    rc = prep(st, "UPDATE sub SET last_update_ms = ?1 WHERE id = ?2", &s, err);
    if (rc)
        return rc;
    b_i64(s, 1, now, &bsrc);
    b_i64(s, 2, sub_id, &bsrc);
    rc = change_one(st, s, bsrc, "subscription", err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    return tx_end(st, accept_tx(st, sub_id, pk, salt, salt_len, a, now, items, n_items, err), err);
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
    rc = prep(st, "SELECT 1 FROM item WHERE sub_id = ?1 AND key = ?2", &s, err);
    if (rc)
        return rc;
    b_i64(s, 1, sub_id, &bsrc);
    b_str(s, 2, key, &bsrc);
    rc = step_row(st, s, bsrc, "cannot look up item", err);
    sqlite3_finalize(s);
    return rc;
}

/* Fill out from an item row; -1 if the row is damaged. */
static int item_from_row(sqlite3_stmt *s, mt_item_row *out)
{
    memset(out, 0, sizeof *out);
    if (col_str(s, 0, out->key, sizeof out->key) || col_str(s, 2, out->collection, sizeof out->collection) ||
        col_str(s, 3, out->name, sizeof out->name) ||
        col_opt_fixed(s, 4, out->torrent_id, sizeof out->torrent_id, &out->has_torrent))
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

    rc = prep(st, "SELECT count(*) FROM sub WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    b_i64(s, 1, sub_id, &bsrc);
    rc = step_row(st, s, bsrc, "cannot look up subscription", err);
    if (rc == 1)
        rc = sqlite3_column_int(s, 0) ? MT_OK : mt_error_set(err, MT_ENOTFOUND, "no such subscription %" PRId64, sub_id);
    else if (rc == 0)
        rc = mt_error_set(err, MT_EIO, "cannot look up subscription");
    sqlite3_finalize(s);
    if (rc)
        return rc;

    rc = prep(st,
              "SELECT key, seq, collection, name, torrent_id, skipped FROM item WHERE sub_id = ?1 ORDER BY id", &s,
              err);
    if (rc)
        return rc;
    b_i64(s, 1, sub_id, &bsrc);
    return collect_rows(st, s, bsrc, sizeof **out, read_item, NULL, "items", (void **)out, count, err);
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
    rc = exec_sql(st->db, "BEGIN", "cannot start a store transaction", err);
    if (rc)
        return rc;
    rc = item_rows(st, sub_id, out, count, err);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
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
    if (col_fixed(s, 0, out->id, sizeof out->id) || col_str(s, 1, out->uri, sizeof out->uri) ||
        col_str(s, 4, out->save_path, sizeof out->save_path) || col_str(s, 6, out->category, sizeof out->category))
        return MT_EIO;
    out->sub_id = sqlite3_column_int64(s, 5);
    out->paused = sqlite3_column_int(s, 7);
    out->finished = sqlite3_column_int(s, 8);
    out->kind = sqlite3_column_int(s, 9);
    out->added_ms = sqlite3_column_int64(s, 10);
    if (col_dup(s, 2, 0, &t, &out->torrent_len) || col_dup(s, 3, 0, &r, &out->resume_len)) {
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st,
              "INSERT INTO torrent(id, uri, torrent, resume, save_path, sub_id, category, paused,"
              " finished, kind, added_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
              &s, err);
    if (rc == MT_OK) {
        b_blob(s, 1, t->id, sizeof t->id, &bsrc);
        b_str(s, 2, t->uri, &bsrc);
        b_blob(s, 3, t->torrent, t->torrent_len, &bsrc);
        b_blob(s, 4, t->resume, t->resume_len, &bsrc);
        b_str(s, 5, t->save_path, &bsrc);
        b_i64(s, 6, t->sub_id, &bsrc);
        b_str(s, 7, t->category, &bsrc);
        b_i64(s, 8, t->paused ? 1 : 0, &bsrc);
        b_i64(s, 9, t->finished ? 1 : 0, &bsrc);
        b_i64(s, 10, t->kind, &bsrc);
        b_i64(s, 11, t->added_ms > 0 ? t->added_ms : mt_wall_ms(), &bsrc);
        rc = step_done(st, s, bsrc, what, err);
        if (rc == MT_EEXIST)
            rc = mt_error_set(err, MT_EEXIST, "%s is already in the store", what);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
}

int mt_store_torrent_remove(mt_store *st, const uint8_t id[20], mt_error *err)
{
    sqlite3_stmt *s = NULL;
    char what[64];
    int bsrc = SQLITE_OK, rc;

    if (!st || !id)
        return mt_error_set(err, MT_EINVAL, "store and torrent id are required");
    torrent_what(id, what, sizeof what);
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, "DELETE FROM torrent WHERE id = ?1", &s, err);
    if (rc == MT_OK) {
        b_blob(s, 1, id, 20, &bsrc);
        rc = change_one(st, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = prep(st, TORRENT_SELECT " WHERE id = ?1", &s, err);
    if (rc)
        return rc;
    b_blob(s, 1, id, 20, &bsrc);
    rc = step_row(st, s, bsrc, what, err);
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
    return collect_rows(st, s, SQLITE_OK, sizeof **out, read_torrent, clear_torrent, "torrents",
                        (void **)out, count, err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, "UPDATE torrent SET resume = ?1 WHERE id = ?2", &s, err);
    if (rc == MT_OK) {
        b_blob(s, 1, resume, len, &bsrc);
        b_blob(s, 2, id, 20, &bsrc);
        rc = change_one(st, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, sql, &s, err);
    if (rc == MT_OK) {
        b_i64(s, 1, v, &bsrc);
        b_blob(s, 2, id, 20, &bsrc);
        rc = change_one(st, s, bsrc, what, err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    if (col_str(s, 0, out->name, sizeof out->name) || col_fixed(s, 1, out->pk, sizeof out->pk) ||
        col_fixed(s, 5, out->ih, sizeof out->ih) || col_fixed(s, 7, out->sig, sizeof out->sig) ||
        col_str(s, 8, out->ws, sizeof out->ws))
        return MT_EIO;
    out->seq = sqlite3_column_int64(s, 2);
    out->is_inline = sqlite3_column_int(s, 4);
    out->published_ms = sqlite3_column_int64(s, 9);
    out->last_put_ms = sqlite3_column_int64(s, 10);
    out->last_put_nodes = sqlite3_column_int(s, 11);
    if (col_dup(s, 3, 1, &out->manifest, &out->manifest_len) || col_dup(s, 6, 0, &v, &out->v_len)) {
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st,
              "INSERT OR REPLACE INTO pub(name, pk, seq, manifest, is_inline, ih, v, sig, ws,"
              " published_ms, last_put_ms, last_put_nodes)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
              &s, err);
    if (rc == MT_OK) {
        b_str(s, 1, p->name, &bsrc);
        b_blob(s, 2, p->pk, sizeof p->pk, &bsrc);
        b_i64(s, 3, p->seq, &bsrc);
        b_strn(s, 4, p->manifest, p->manifest_len, &bsrc);
        b_i64(s, 5, p->is_inline ? 1 : 0, &bsrc);
        b_blob(s, 6, p->ih, sizeof p->ih, &bsrc);
        b_blob(s, 7, p->v, p->v_len, &bsrc);
        b_blob(s, 8, p->sig, sizeof p->sig, &bsrc);
        b_str(s, 9, p->ws, &bsrc);
        b_i64(s, 10, p->published_ms, &bsrc);
        b_i64(s, 11, p->last_put_ms, &bsrc);
        b_i64(s, 12, p->last_put_nodes, &bsrc);
        rc = step_done(st, s, bsrc, "cannot record published feed", err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = prep(st, PUB_SELECT " WHERE name = ?1 AND pk = ?2", &s, err);
    if (rc)
        return rc;
    b_str(s, 1, name, &bsrc);
    b_blob(s, 2, pk, 32, &bsrc);
    rc = step_row(st, s, bsrc, "cannot read published feed", err);
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
    return collect_rows(st, s, SQLITE_OK, sizeof **out, read_pub, clear_pub, "published feeds",
                        (void **)out, count, err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, "UPDATE pub SET last_put_ms = ?1, last_put_nodes = ?2 WHERE name = ?3 AND pk = ?4", &s, err);
    if (rc == MT_OK) {
        b_i64(s, 1, last_put_ms, &bsrc);
        b_i64(s, 2, nodes, &bsrc);
        b_str(s, 3, name, &bsrc);
        b_blob(s, 4, pk, 32, &bsrc);
        rc = change_one(st, s, bsrc, "published feed", err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = prep(st, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", &s, err);
    if (rc == MT_OK) {
        b_str(s, 1, key, &bsrc);
        b_str(s, 2, value, &bsrc);
        rc = step_done(st, s, bsrc, "cannot store setting", err);
        sqlite3_finalize(s);
    }
    return tx_end(st, rc, err);
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
    rc = prep(st, "SELECT v FROM kv WHERE k = ?1", &s, err);
    if (rc)
        return rc;
    b_str(s, 1, key, &bsrc);
    rc = step_row(st, s, bsrc, "cannot read setting", err);
    if (rc == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "setting \"%s\" is not set", key);
    else if (rc == 1 && col_dup(s, 0, 1, out, &len) != MT_OK)
        rc = mt_error_set(err, MT_ENOMEM, "out of memory reading setting");
    else if (rc == 1)
        rc = MT_OK;
    sqlite3_finalize(s);
    return rc;
}
