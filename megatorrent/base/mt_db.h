/*
 * mt_db.h - one SQLite database file of one application: open with the
 * settings every megatorrent database wants, schema migrations, and the
 * statement, transaction and row-collecting helpers the stores share.
 *
 * Opening (mt_db_open) creates the file 0600 if absent, refuses a database
 * that belongs to another application (PRAGMA application_id) or that was
 * written by a newer schema than this code knows (PRAGMA user_version),
 * switches to WAL with a busy timeout and foreign keys on, and then runs
 * the schema's missing migration steps, each in its own transaction. A
 * refused file is not written to (not even switched to WAL).
 *
 * Errors: functions returning int give 0 (or the documented non-negative
 * value) on success and a negative MT_E* code on failure, with SQLite's own
 * words in err when err is not NULL: MT_EINVAL (bad argument), MT_ENOMEM,
 * MT_EEXIST (a UNIQUE or PRIMARY KEY constraint), MT_ENOTFOUND (no such
 * row, from the helpers that say so), MT_ETOOBIG (over a size or row cap),
 * MT_ESTATE (transaction misuse), MT_EIO (anything else SQLite reports, and
 * a foreign, newer or damaged file). Nothing is printed.
 *
 * Memory and ownership:
 *  - mt_db_open's handle is released with mt_db_close (NULL is fine).
 *    Close finalizes nothing: finalize your statements first.
 *  - A statement from mt_db_prepare is the caller's: sqlite3_finalize() it
 *    (mt_db_finalize is the same), except that mt_db_collect and mt_db_each
 *    always finalize the statement they are given, on every outcome.
 *  - Buffers from mt_db_col_dup and arrays from mt_db_collect are malloc'd:
 *    clear each element that owns memory, then free() the array. An empty
 *    result is *out == NULL, *count == 0; on failure nothing is handed out.
 *  - Bound text and blobs are not copied (SQLITE_STATIC): they must stay
 *    valid until the statement is stepped, reset or finalized.
 *
 * Threads: a handle is used from one thread at a time (SQLite is opened
 * without its own mutexes). Several processes may open the same file.
 */
#ifndef MT_DB_H
#define MT_DB_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SQLite's own types; include <sqlite3.h> to use the statements further. */
struct sqlite3;
struct sqlite3_stmt;

typedef struct mt_db mt_db;

/*
 * A schema: the application's id and its migrations. steps[i] is constant
 * SQL (several statements are fine) that takes user_version i to i + 1, so
 * steps[0] creates the first tables and the schema version is n_steps.
 * Never edit or reorder a step once released; append new ones.
 */
typedef struct mt_db_schema {
    int32_t            application_id; /* non-zero; PRAGMA application_id */
    const char        *name;           /* for messages: "megatorrent store" */
    const char *const *steps;
    size_t             n_steps;        /* >= 1 */
    /* Optional: a query run on every existing file before anything is
     * written; its first column must be non-zero, else the file is refused
     * as not this application's (e.g. a tag row that steps[0] inserts, for
     * files that merely share the application_id). An error counts as 0. */
    const char        *check_sql;
} mt_db_schema;

/*
 * Open or create path and bring it to schema->n_steps. A relative path is
 * always a file name (never a SQLite URI or ":memory:"); the schema must
 * outlive the handle. MT_EIO when the file is not an SQLite database, is
 * another application's, is newer than the schema, or a migration step
 * fails (that step's changes are rolled back; earlier steps stay).
 */
int mt_db_open(const char *path, const mt_db_schema *schema, mt_db **out, mt_error *err);
void mt_db_close(mt_db *db);

/* The schema version of the open file (== schema->n_steps). */
int64_t mt_db_version(const mt_db *db);
/* The SQLite connection, for what the helpers below do not cover. */
struct sqlite3 *mt_db_handle(mt_db *db);

/* ---- transactions ------------------------------------------------------
 *
 * One level, no nesting (MT_ESTATE). mt_db_begin takes the write lock up
 * front (BEGIN IMMEDIATE), so checks made inside still hold at commit;
 * mt_db_begin_read starts a read transaction (one consistent snapshot).
 * mt_db_end(db, rc, err) commits when rc is 0, else rolls back, and
 * returns rc or the commit's failure: the usual last line of a mutation.
 * mt_db_rollback is safe when SQLite has already rolled back by itself.
 */
int mt_db_begin(mt_db *db, mt_error *err);
int mt_db_begin_read(mt_db *db, mt_error *err);
int mt_db_commit(mt_db *db, mt_error *err);
void mt_db_rollback(mt_db *db);
int mt_db_end(mt_db *db, int rc, mt_error *err);
/* 1 inside a transaction. */
int mt_db_in_tx(mt_db *db);

/* Run fn(db, arg, err) inside mt_db_begin .. mt_db_end: all or nothing.
 * fn returns 0 to commit or a negative MT code (having filled err) to roll
 * back; mt_db_tx returns that code, or the begin or commit failure. */
typedef int (*mt_db_tx_fn)(mt_db *db, void *arg, mt_error *err);
int mt_db_tx(mt_db *db, mt_db_tx_fn fn, void *arg, mt_error *err);

/* ---- statements --------------------------------------------------------
 *
 * SQL is constant text; data goes in only through bound parameters.
 *
 * Binders keep the first failure in *brc (start it at 0): bind all
 * parameters, then hand brc to a step helper, which reports it. NULL text
 * or blob pointers bind SQL NULL; a non-NULL empty blob binds an empty
 * BLOB (which, unlike NULL, equals itself).
 */
int mt_db_prepare(mt_db *db, const char *sql, struct sqlite3_stmt **out, mt_error *err);
void mt_db_finalize(struct sqlite3_stmt *s);
void mt_db_bind_i64(struct sqlite3_stmt *s, int i, int64_t v, int *brc);
void mt_db_bind_text(struct sqlite3_stmt *s, int i, const char *v, int *brc);
void mt_db_bind_textn(struct sqlite3_stmt *s, int i, const char *v, size_t n, int *brc);
void mt_db_bind_blob(struct sqlite3_stmt *s, int i, const void *p, size_t n, int *brc);

/* Step a statement that returns no rows. `what` starts the message. */
int mt_db_step_done(mt_db *db, struct sqlite3_stmt *s, int brc, const char *what, mt_error *err);
/* Step a query: 1 for a row, 0 when done, negative on failure. */
int mt_db_step_row(mt_db *db, struct sqlite3_stmt *s, int brc, const char *what, mt_error *err);
/* Step a one-row UPDATE or DELETE: MT_ENOTFOUND ("<what>: not found") if
 * it changed no row. */
int mt_db_change_one(mt_db *db, struct sqlite3_stmt *s, int brc, const char *what, mt_error *err);
/* Run constant SQL without result rows (pragmas, DDL). */
int mt_db_exec(mt_db *db, const char *sql, const char *what, mt_error *err);
/* Map a SQLite result code to an MT code, "<what>: <SQLite's words>". */
int mt_db_fail(mt_db *db, int sqlite_rc, const char *what, mt_error *err);

/* ---- columns -----------------------------------------------------------
 *
 * Readers of result column i that refuse what a well-formed row never
 * holds: they return -1 (the row is damaged) and 0 when the value fits.
 */
/* Text into dst[cap] with its NUL; -1 if it does not fit. */
int mt_db_col_str(struct sqlite3_stmt *s, int i, char *dst, size_t cap);
/* A BLOB of exactly n bytes. */
int mt_db_col_fixed(struct sqlite3_stmt *s, int i, uint8_t *dst, size_t n);
/* SQL NULL gives *has = 0 (dst untouched), else as mt_db_col_fixed. */
int mt_db_col_opt_fixed(struct sqlite3_stmt *s, int i, uint8_t *dst, size_t n, int *has);
/* A BLOB of at most cap bytes, its size in *len. */
int mt_db_col_var(struct sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len);
/* The value in a new buffer with a NUL after its *len bytes (text = 1 reads
 * it as text, a C string then); SQL NULL gives *out = NULL. 0 or
 * MT_ENOMEM. free() the buffer. */
int mt_db_col_dup(struct sqlite3_stmt *s, int i, int text, char **out, size_t *len);

/* ---- rows --------------------------------------------------------------
 *
 * mt_db_each calls fn(ud, s) for every row: fn returns 0 to go on, 1 to
 * stop early (mt_db_each then returns 0), negative to fail with that code
 * (fn fills err itself). Finalizes s.
 */
typedef int (*mt_db_row_fn)(void *ud, struct sqlite3_stmt *s, mt_error *err);
int mt_db_each(mt_db *db, struct sqlite3_stmt *s, int brc, mt_db_row_fn fn, void *ud, const char *what,
               mt_error *err);

/*
 * The row collector: step s to the end, reading each row into a new element
 * of a growing array. read returns 0, MT_ENOMEM, or any other negative code
 * for a damaged row (reported as MT_EIO, "a row of <what> ... is damaged");
 * elements are zeroed before read. More than max_rows rows (0: no cap) is
 * MT_ETOOBIG. On any failure the elements read so far are cleared (clear
 * may be NULL when elements own nothing), the array freed, and *out and
 * *count left as they were. Finalizes s.
 */
typedef int (*mt_db_read_fn)(struct sqlite3_stmt *s, void *elem);
typedef void (*mt_db_clear_fn)(void *elem);
typedef struct mt_db_collector {
    size_t         elem_size;
    size_t         max_rows;  /* 0: no cap */
    mt_db_read_fn  read;
    mt_db_clear_fn clear;     /* may be NULL */
    const char    *what;      /* plural noun for messages: "torrents" */
} mt_db_collector;
int mt_db_collect(mt_db *db, struct sqlite3_stmt *s, int brc, const mt_db_collector *c, void **out,
                  size_t *count, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
