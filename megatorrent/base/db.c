/*
 * db.c - the SQLite helper (see mt_db.h).
 *
 * Identity: PRAGMA application_id says whose file it is and PRAGMA
 * user_version how many migration steps it has had. Both live in the file
 * header and change inside the step's transaction, so a crash mid-step
 * leaves the file at the previous version with none of the step's changes.
 * The identity is read before anything is written and again under the
 * write lock before each step (another process may be migrating too).
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

#include "mt_db.h"

#define DB_BUSY_MS 5000
#define DB_PATH_MAX 4096

struct mt_db {
    sqlite3            *db;
    const mt_db_schema *schema;
    int64_t             version;
    char                path[DB_PATH_MAX];
};

/* ----------------------------------------------------------- statements */

int mt_db_fail(mt_db *db, int src, const char *what, mt_error *err)
{
    int code = MT_EIO;
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        code = MT_ENOMEM;
        break;
    case SQLITE_TOOBIG:
        code = MT_ETOOBIG;
        break;
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        code = MT_EINVAL;
        break;
    case SQLITE_CONSTRAINT:
        if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
            code = MT_EEXIST;
        break;
    default:
        break;
    }
    return mt_error_set(err, code, "%s: %s", what ? what : "database",
                        db && db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(src));
}

int mt_db_prepare(mt_db *db, const char *sql, sqlite3_stmt **out, mt_error *err)
{
    int src;
    if (out)
        *out = NULL;
    if (!db || !sql || !out)
        return mt_error_set(err, MT_EINVAL, "database, SQL and out are required");
    src = sqlite3_prepare_v2(db->db, sql, -1, out, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return mt_db_fail(db, src, "cannot prepare a query", err);
    }
    return MT_OK;
}

void mt_db_finalize(sqlite3_stmt *s)
{
    sqlite3_finalize(s);
}

void mt_db_bind_i64(sqlite3_stmt *s, int i, int64_t v, int *brc)
{
    if (*brc == SQLITE_OK)
        *brc = sqlite3_bind_int64(s, i, v);
}

void mt_db_bind_text(sqlite3_stmt *s, int i, const char *v, int *brc)
{
    if (*brc == SQLITE_OK)
        *brc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

void mt_db_bind_textn(sqlite3_stmt *s, int i, const char *v, size_t n, int *brc)
{
    if (*brc == SQLITE_OK)
        *brc = v ? sqlite3_bind_text64(s, i, v, n, SQLITE_STATIC, SQLITE_UTF8) : sqlite3_bind_null(s, i);
}

void mt_db_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n, int *brc)
{
    if (*brc != SQLITE_OK)
        return;
    if (!p)
        *brc = sqlite3_bind_null(s, i);
    else if (n == 0)
        *brc = sqlite3_bind_zeroblob(s, i, 0);
    else
        *brc = sqlite3_bind_blob64(s, i, p, n, SQLITE_STATIC);
}

int mt_db_step_done(mt_db *db, sqlite3_stmt *s, int brc, const char *what, mt_error *err)
{
    int src = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (src == SQLITE_ROW)
        return mt_error_set(err, MT_EINVAL, "%s: the statement returned rows", what ? what : "database");
    if (src != SQLITE_DONE)
        return mt_db_fail(db, src, what, err);
    return MT_OK;
}

int mt_db_step_row(mt_db *db, sqlite3_stmt *s, int brc, const char *what, mt_error *err)
{
    int src = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return mt_db_fail(db, src, what, err);
}

int mt_db_change_one(mt_db *db, sqlite3_stmt *s, int brc, const char *what, mt_error *err)
{
    int rc = mt_db_step_done(db, s, brc, what, err);
    if (rc == MT_OK && sqlite3_changes(db->db) == 0)
        rc = mt_error_set(err, MT_ENOTFOUND, "%s: not found", what ? what : "row");
    return rc;
}

int mt_db_exec(mt_db *db, const char *sql, const char *what, mt_error *err)
{
    int src;
    if (!db || !sql)
        return mt_error_set(err, MT_EINVAL, "database and SQL are required");
    src = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? MT_OK : mt_db_fail(db, src, what, err);
}

/* -------------------------------------------------------------- columns */

int mt_db_col_str(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    if (cap == 0 || n >= cap || (n && !p))
        return -1;
    if (n)
        memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

int mt_db_col_fixed(sqlite3_stmt *s, int i, uint8_t *dst, size_t n)
{
    const void *p;
    /* Type first: the accessors below could otherwise convert the value. */
    if (sqlite3_column_type(s, i) != SQLITE_BLOB)
        return -1;
    p = sqlite3_column_blob(s, i);
    if ((size_t)sqlite3_column_bytes(s, i) != n || (n && !p))
        return -1;
    if (n)
        memcpy(dst, p, n);
    return 0;
}

int mt_db_col_opt_fixed(sqlite3_stmt *s, int i, uint8_t *dst, size_t n, int *has)
{
    *has = 0;
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return 0;
    if (mt_db_col_fixed(s, i, dst, n))
        return -1;
    *has = 1;
    return 0;
}

int mt_db_col_var(sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len)
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

int mt_db_col_dup(sqlite3_stmt *s, int i, int text, char **out, size_t *len)
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

/* ----------------------------------------------------------------- rows */

int mt_db_each(mt_db *db, sqlite3_stmt *s, int brc, mt_db_row_fn fn, void *ud, const char *what,
               mt_error *err)
{
    char msg[96];
    int rc;

    if (!db || !s || !fn) {
        sqlite3_finalize(s);
        return mt_error_set(err, MT_EINVAL, "database, statement and row function are required");
    }
    snprintf(msg, sizeof msg, "cannot read %s", what ? what : "rows");
    while ((rc = mt_db_step_row(db, s, brc, msg, err)) == 1) {
        rc = fn(ud, s, err);
        if (rc != 0)
            break;
    }
    sqlite3_finalize(s);
    return rc < 0 ? rc : MT_OK;
}

/* Room for element n (capacity doubles); NULL on overflow or failure with
 * the old array intact. */
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

int mt_db_collect(mt_db *db, sqlite3_stmt *s, int brc, const mt_db_collector *c, void **out, size_t *count,
                  mt_error *err)
{
    char *arr = NULL, *p, msg[96];
    size_t n = 0, cap = 0;
    const char *what;
    int rc;

    if (!db || !s || !c || !c->read || !c->elem_size || !out || !count) {
        sqlite3_finalize(s);
        return mt_error_set(err, MT_EINVAL, "database, statement, collector, out and count are required");
    }
    what = c->what ? c->what : "rows";
    snprintf(msg, sizeof msg, "cannot list %s", what);
    while ((rc = mt_db_step_row(db, s, brc, msg, err)) == 1) {
        if (c->max_rows && n == c->max_rows) {
            rc = mt_error_set(err, MT_ETOOBIG, "more than %zu %s", c->max_rows, what);
            break;
        }
        p = grow(arr, &cap, n, c->elem_size);
        if (!p) {
            rc = mt_error_set(err, MT_ENOMEM, "out of memory listing %s", what);
            break;
        }
        arr = p;
        memset(arr + n * c->elem_size, 0, c->elem_size);
        rc = c->read(s, arr + n * c->elem_size);
        if (rc) {
            /* read may have filled part of the element: clear it too. */
            n++;
            rc = rc == MT_ENOMEM ? mt_error_set(err, MT_ENOMEM, "out of memory listing %s", what)
                                 : mt_error_set(err, MT_EIO, "a row of %s in the database is damaged", what);
            break;
        }
        n++;
    }
    sqlite3_finalize(s);
    if (rc < 0) {
        for (size_t i = 0; c->clear && i < n; i++)
            c->clear(arr + i * c->elem_size);
        free(arr);
        return rc;
    }
    *out = arr;
    *count = n;
    return MT_OK;
}

/* --------------------------------------------------------- transactions */

int mt_db_in_tx(mt_db *db)
{
    return db && !sqlite3_get_autocommit(db->db);
}

static int tx_start(mt_db *db, const char *sql, mt_error *err)
{
    if (!db)
        return mt_error_set(err, MT_EINVAL, "database is required");
    if (mt_db_in_tx(db))
        return mt_error_set(err, MT_ESTATE, "a transaction is already open on %s", db->path);
    return mt_db_exec(db, sql, "cannot start a transaction", err);
}

int mt_db_begin(mt_db *db, mt_error *err)
{
    return tx_start(db, "BEGIN IMMEDIATE", err);
}

int mt_db_begin_read(mt_db *db, mt_error *err)
{
    return tx_start(db, "BEGIN", err);
}

int mt_db_commit(mt_db *db, mt_error *err)
{
    if (!db)
        return mt_error_set(err, MT_EINVAL, "database is required");
    if (!mt_db_in_tx(db))
        return mt_error_set(err, MT_ESTATE, "no transaction is open on %s", db->path);
    return mt_db_exec(db, "COMMIT", "cannot commit", err);
}

void mt_db_rollback(mt_db *db)
{
    /* SQLite may already have rolled back by itself (e.g. disk full). */
    if (mt_db_in_tx(db))
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

int mt_db_end(mt_db *db, int rc, mt_error *err)
{
    if (rc == MT_OK) {
        rc = mt_db_commit(db, err);
        if (rc == MT_OK)
            return MT_OK;
    }
    mt_db_rollback(db);
    return rc;
}

int mt_db_tx(mt_db *db, mt_db_tx_fn fn, void *arg, mt_error *err)
{
    int rc;
    if (!fn)
        return mt_error_set(err, MT_EINVAL, "transaction function is required");
    rc = mt_db_begin(db, err);
    if (rc)
        return rc;
    return mt_db_end(db, fn(db, arg, err), err);
}

/* --------------------------------------------------------- open / close */

/* Create path as 0600 if absent (SQLite would use 0644 less umask; its -wal
 * and -shm files copy the main file's mode), and make the new directory
 * entry durable. An existing file keeps its mode. */
static int create_private(const char *path, mt_error *err)
{
    const char *slash;
    char dir[DB_PATH_MAX];
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        if (errno == EEXIST)
            return MT_OK;
        return mt_error_set(err, MT_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    /* The umask may have removed bits (e.g. 0277); 0600 is the contract. */
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return mt_error_set(err, MT_EIO, "cannot set up %s: %s", path, strerror(e));
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
 * database we may initialise, else its schema version; MT_EIO for a file
 * that is not ours, newer, or damaged. */
static int db_identity(mt_db *db, int64_t *version, mt_error *err)
{
    const mt_db_schema *sc = db->schema;
    int64_t objects = 0, app_id = 0, user_version = 0, check = 0;
    int src;

    *version = 0;
    src = query_int(db->db, "SELECT count(*) FROM sqlite_master", &objects);
    if (src == SQLITE_OK)
        src = query_int(db->db, "PRAGMA application_id", &app_id);
    if (src == SQLITE_OK)
        src = query_int(db->db, "PRAGMA user_version", &user_version);
    if (src != SQLITE_OK) {
        if ((src & 0xff) == SQLITE_NOTADB)
            return mt_error_set(err, MT_EIO, "%s is not a %s: %s", db->path, sc->name, sqlite3_errmsg(db->db));
        return mt_db_fail(db, src, "cannot read the database header", err);
    }
    if (app_id == 0 && user_version == 0 && objects == 0)
        return MT_OK;
    if (app_id != sc->application_id)
        return mt_error_set(err, MT_EIO,
                            "%s is not a %s (an SQLite database of another application, application_id %" PRId64
                            ")",
                            db->path, sc->name, app_id);
    if (user_version > (int64_t)sc->n_steps)
        return mt_error_set(err, MT_EIO,
                            "%s has %s schema version %" PRId64 ", newer than version %zu that this build "
                            "supports; use a newer megatorrent",
                            db->path, sc->name, user_version, sc->n_steps);
    if (user_version < 1)
        return mt_error_set(err, MT_EIO, "%s is a damaged %s (no schema version)", db->path, sc->name);
    if (sc->check_sql && (query_int(db->db, sc->check_sql, &check) != SQLITE_OK || check == 0))
        return mt_error_set(err, MT_EIO, "%s is not a %s (its application_id matches, its contents do not)",
                            db->path, sc->name);
    *version = user_version;
    return MT_OK;
}

/* Connection settings; only once db_identity said the file is ours, so a
 * foreign database is never switched to WAL. */
static int db_pragmas(mt_db *db, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int src, wal;

    src = sqlite3_prepare_v2(db->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(s);
    wal = src == SQLITE_ROW && sqlite3_column_text(s, 0) &&
          strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal)
        return src == SQLITE_ROW ? mt_error_set(err, MT_EIO, "cannot enable WAL on %s", db->path)
                                 : mt_db_fail(db, src, "cannot enable WAL", err);
    /*
     * synchronous=FULL. With WAL, NORMAL would already keep every
     * acknowledged commit through kill -9 (COMMIT returns after write() to
     * the -wal file, which the kernel keeps when the process dies) and only
     * fsyncs at checkpoints; FULL also fsyncs the -wal at every COMMIT, so
     * the commit also survives a power cut or kernel crash. mtd writes a
     * few rows per poll, so the fsync costs nothing that matters, and a
     * lost commit means an item acted on twice after a reboot.
     * secure_delete: rows may hold keys; deleted ones are overwritten in
     * the file instead of lingering on free pages.
     */
    return mt_db_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON",
                      "cannot configure the database", err);
}

/* Apply steps until the file is at the schema's version, one transaction
 * per step. The identity is read again under the write lock: another
 * process may have moved it on in between. */
static int db_migrate(mt_db *db, mt_error *err)
{
    const mt_db_schema *sc = db->schema;
    char sql[96], what[96];
    int64_t v = 0;
    int rc;

    for (;;) {
        rc = mt_db_begin(db, err);
        if (rc)
            return rc;
        rc = db_identity(db, &v, err);
        if (rc || v == (int64_t)sc->n_steps) {
            mt_db_rollback(db);
            if (rc == MT_OK)
                db->version = v;
            return rc;
        }
        snprintf(what, sizeof what, "%s migration to version %" PRId64 " failed", sc->name, v + 1);
        rc = mt_db_exec(db, sc->steps[v], what, err);
        if (rc == MT_OK && v == 0) {
            snprintf(sql, sizeof sql, "PRAGMA application_id=%" PRId32, sc->application_id);
            rc = mt_db_exec(db, sql, what, err);
        }
        if (rc == MT_OK) {
            snprintf(sql, sizeof sql, "PRAGMA user_version=%" PRId64, v + 1);
            rc = mt_db_exec(db, sql, what, err);
        }
        rc = mt_db_end(db, rc, err);
        if (rc == MT_ENOMEM)
            return rc;
        if (rc) {
            /* A step that cannot run means a file this build cannot use. */
            if (err)
                err->code = MT_EIO;
            return MT_EIO;
        }
    }
}

int mt_db_open(const char *path, const mt_db_schema *schema, mt_db **out, mt_error *err)
{
    mt_db *db;
    int64_t version = 0;
    int rc, src;

    if (out)
        *out = NULL;
    if (!path || !*path || !out)
        return mt_error_set(err, MT_EINVAL, "database path and out are required");
    if (!schema || !schema->application_id || !schema->steps || !schema->n_steps || !schema->name)
        return mt_error_set(err, MT_EINVAL, "a schema with an application id, a name and steps is required");
    for (size_t i = 0; i < schema->n_steps; i++)
        if (!schema->steps[i])
            return mt_error_set(err, MT_EINVAL, "schema step %zu is NULL", i + 1);
    db = calloc(1, sizeof *db);
    if (!db)
        return mt_error_set(err, MT_ENOMEM, "out of memory opening %s", path);
    db->schema = schema;
    /* Debian's SQLite takes "file:..." as a URI and ":memory:" as no file
     * at all; "./" in front keeps every relative path a plain file name. */
    if ((size_t)snprintf(db->path, sizeof db->path, "%s%s", path[0] == '/' ? "" : "./", path) >= sizeof db->path) {
        free(db);
        return mt_error_set(err, MT_EINVAL, "database path is too long");
    }
    rc = create_private(db->path, err);
    if (rc) {
        free(db);
        return rc;
    }
    /* No CREATE flag: create_private made the file with the right mode. */
    src = sqlite3_open_v2(db->path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = mt_error_set(err, MT_EIO, "cannot open %s: %s", db->path,
                          db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(src));
        goto fail;
    }
    sqlite3_extended_result_codes(db->db, 1);
    sqlite3_busy_timeout(db->db, DB_BUSY_MS);
    /* Defensive: no writable_schema tricks can corrupt the file. */
    sqlite3_db_config(db->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    rc = db_identity(db, &version, err);
    if (rc == MT_OK)
        rc = db_pragmas(db, err);
    if (rc == MT_OK)
        rc = db_migrate(db, err);
    if (rc)
        goto fail;
    *out = db;
    return MT_OK;
fail:
    sqlite3_close_v2(db->db);
    free(db);
    return rc;
}

void mt_db_close(mt_db *db)
{
    if (!db)
        return;
    sqlite3_close_v2(db->db);
    free(db);
}

int64_t mt_db_version(const mt_db *db)
{
    return db ? db->version : 0;
}

sqlite3 *mt_db_handle(mt_db *db)
{
    return db ? db->db : NULL;
}
