/*
 * check_db.c - the SQLite helper mt_db: open (0600, WAL, settings),
 * application_id refusal, migrations in order, one transaction each and
 * not rerun on reopen, newer-version refusal, a failing step rolled back,
 * transactions (rollback leaves nothing, mt_db_tx), the row collector and
 * its cap, mt_db_each, and the column readers' refusals.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mt_db.h"

#define T_APP 0x54455354 /* "TEST" */

static char g_base[64];

static void t_path(const char *name, char *out, size_t cap)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/t-XXXXXX", g_base);
    ck_assert(mkdtemp(dir) != NULL);
    ck_assert((size_t)snprintf(out, cap, "%s/%s", dir, name) < cap);
}

#define T_RC(call, want)                                                                              \
    do {                                                                                              \
        mt_error e_;                                                                                  \
        int rc_;                                                                                      \
        mt_error_clear(&e_);                                                                          \
        rc_ = (call);                                                                                 \
        ck_assert_msg(rc_ == (want), "%s gave %d (%s), expected %d", #call, rc_, e_.message, (want)); \
        if ((want) < 0)                                                                               \
            ck_assert_msg(e_.code == (want) && e_.message[0], "%s: err not filled", #call);           \
    } while (0)
#define T_OK(call) T_RC(call, 0)
#define E (&e_)

/* Each step logs its version, so order and reruns show in the log. */
static const char *const g_steps[] = {
    "CREATE TABLE log(v INTEGER NOT NULL); CREATE TABLE t(k TEXT PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO log(v) VALUES(1);",
    "ALTER TABLE t ADD COLUMN note TEXT NOT NULL DEFAULT ''; INSERT INTO log(v) VALUES(2);",
    "CREATE INDEX t_n ON t(n); INSERT INTO log(v) VALUES(3);",
};

static mt_db_schema t_schema(size_t n_steps)
{
    mt_db_schema sc = { T_APP, "test database", g_steps, n_steps, NULL };
    return sc;
}

static mt_db *t_open(const char *path, const mt_db_schema *sc)
{
    mt_db *db = NULL;
    mt_error err;
    int rc = mt_db_open(path, sc, &db, &err);
    ck_assert_msg(rc == 0, "open %s: %d %s", path, rc, err.message);
    ck_assert_ptr_nonnull(db);
    return db;
}

static void t_open_fails(const char *path, const mt_db_schema *sc, const char *part)
{
    mt_db *db = (mt_db *)1;
    mt_error err;
    int rc;
    mt_error_clear(&err);
    rc = mt_db_open(path, sc, &db, &err);
    ck_assert_msg(rc == MT_EIO, "open %s gave %d (%s), expected MT_EIO", path, rc, err.message);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err.message, part) != NULL, "message \"%s\" lacks \"%s\"", err.message, part);
}

/* A side connection: the file as plain SQLite sees it. */
static int64_t t_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void t_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The log's versions as a string, "123". */
static void t_log(const char *path, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT v FROM log ORDER BY rowid", -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW && n + 1 < cap)
        out[n++] = (char)('0' + sqlite3_column_int(s, 0));
    out[n] = '\0';
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Insert (k, n) through the helpers. */
static int t_put(mt_db *db, const char *k, int64_t n, mt_error *err)
{
    sqlite3_stmt *s = NULL;
    int brc = 0, rc = mt_db_prepare(db, "INSERT INTO t(k, n) VALUES(?1, ?2)", &s, err);
    if (rc)
        return rc;
    mt_db_bind_text(s, 1, k, &brc);
    mt_db_bind_i64(s, 2, n, &brc);
    rc = mt_db_step_done(db, s, brc, "cannot insert", err);
    mt_db_finalize(s);
    return rc;
}

START_TEST(open_creates_private_wal_file)
{
    char path[256], wal[272];
    mt_db_schema sc = t_schema(1);
    struct stat st;
    mt_db *db;
    mode_t old = umask(0);

    t_path("a.db", path, sizeof path);
    db = t_open(path, &sc);
    umask(old);
    ck_assert_int_eq(mt_db_version(db), 1);
    ck_assert_ptr_nonnull(mt_db_handle(db));
    T_OK(t_put(db, "x", 1, E));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    snprintf(wal, sizeof wal, "%s-wal", path);
    ck_assert_int_eq(access(wal, F_OK), 0);
    mt_db_close(db);
    ck_assert_int_eq(t_int(path, "PRAGMA application_id"), T_APP);
    ck_assert_int_eq(t_int(path, "PRAGMA user_version"), 1);
    ck_assert_int_eq(t_int(path, "SELECT count(*) FROM t"), 1);
}
END_TEST

START_TEST(refuses_other_application)
{
    char path[256];
    mt_db_schema sc = t_schema(2), other = t_schema(2);
    mt_db *db;

    /* A database made by a schema with another application id. */
    other.application_id = 0x4f544852;
    t_path("other.db", path, sizeof path);
    db = t_open(path, &other);
    mt_db_close(db);
    t_open_fails(path, &sc, "another application");

    /* Someone else's plain SQLite file: refused, and not switched to WAL. */
    t_path("plain.db", path, sizeof path);
    t_exec(path, "CREATE TABLE photos(id INTEGER PRIMARY KEY); INSERT INTO photos DEFAULT VALUES");
    t_open_fails(path, &sc, "not a test database");
    ck_assert_int_eq(t_int(path, "SELECT count(*) FROM photos"), 1);
    ck_assert_int_eq(t_int(path, "PRAGMA user_version"), 0);

    /* The check query: the id matches but the contents do not. */
    sc.check_sql = "SELECT count(*) FROM t WHERE k = 'tag'";
    t_path("check.db", path, sizeof path);
    db = t_open(path, &other);
    mt_db_close(db);
    t_exec(path, "PRAGMA application_id=1413829460"); /* T_APP */
    t_open_fails(path, &sc, "contents do not");
    t_exec(path, "INSERT INTO t(k, n) VALUES('tag', 0)");
    db = t_open(path, &sc);
    mt_db_close(db);
}
END_TEST

START_TEST(migrations_in_order_once)
{
    char path[256], log[16];
    mt_db_schema one = t_schema(1), two = t_schema(2), three = t_schema(3);
    mt_db *db;

    t_path("m.db", path, sizeof path);
    db = t_open(path, &one);
    T_OK(t_put(db, "kept", 7, E));
    mt_db_close(db);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "1");

    db = t_open(path, &three);
    ck_assert_int_eq(mt_db_version(db), 3);
    mt_db_close(db);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "123");
    ck_assert_int_eq(t_int(path, "PRAGMA user_version"), 3);
    ck_assert_int_eq(t_int(path, "SELECT n FROM t WHERE k = 'kept' AND note = ''"), 7);

    /* Reopening runs nothing again. */
    db = t_open(path, &three);
    mt_db_close(db);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "123");

    /* A fresh file gets every step, in order. */
    t_path("fresh.db", path, sizeof path);
    db = t_open(path, &two);
    mt_db_close(db);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "12");
}
END_TEST

START_TEST(refuses_newer_version)
{
    char path[256], log[16];
    mt_db_schema two = t_schema(2), three = t_schema(3);
    mt_db *db;

    t_path("n.db", path, sizeof path);
    db = t_open(path, &three);
    mt_db_close(db);
    t_open_fails(path, &two, "newer");
    ck_assert_int_eq(t_int(path, "PRAGMA user_version"), 3);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "123");
}
END_TEST

START_TEST(failing_step_rolls_back)
{
    char path[256], log[16];
    static const char *const bad[] = {
        "CREATE TABLE log(v INTEGER NOT NULL); INSERT INTO log(v) VALUES(1);",
        "CREATE TABLE half(x); INSERT INTO log(v) VALUES(2); INSERT INTO nosuch VALUES(1);",
    };
    mt_db_schema sc = { T_APP, "test database", bad, 2, NULL };
    mt_db_schema first = { T_APP, "test database", bad, 1, NULL };
    mt_db *db;

    t_path("f.db", path, sizeof path);
    t_open_fails(path, &sc, "migration to version 2");
    /* Step 1 stays; nothing of step 2 does. */
    ck_assert_int_eq(t_int(path, "PRAGMA user_version"), 1);
    ck_assert_int_eq(t_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
    t_log(path, log, sizeof log);
    ck_assert_str_eq(log, "1");
    db = t_open(path, &first);
    mt_db_close(db);
}
END_TEST

static int tx_two_then_fail(mt_db *db, void *arg, mt_error *err)
{
    int rc;
    (void)arg;
    if ((rc = t_put(db, "a", 1, err)) || (rc = t_put(db, "b", 2, err)))
        return rc;
    return t_put(db, "a", 3, err); /* duplicate key */
}

static int tx_two(mt_db *db, void *arg, mt_error *err)
{
    int rc;
    (void)arg;
    if ((rc = t_put(db, "c", 1, err)))
        return rc;
    return t_put(db, "d", 2, err);
}

START_TEST(rollback_leaves_nothing)
{
    char path[256];
    mt_db_schema sc = t_schema(1);
    mt_db *db;

    t_path("tx.db", path, sizeof path);
    db = t_open(path, &sc);
    /* By hand. */
    T_OK(mt_db_begin(db, E));
    ck_assert_int_eq(mt_db_in_tx(db), 1);
    T_RC(mt_db_begin(db, E), MT_ESTATE);
    T_OK(t_put(db, "x", 1, E));
    T_OK(t_put(db, "y", 2, E));
    mt_db_rollback(db);
    ck_assert_int_eq(mt_db_in_tx(db), 0);
    T_RC(mt_db_commit(db, E), MT_ESTATE);
    mt_db_rollback(db); /* harmless outside a transaction */
    /* mt_db_end with a failure rolls back too. */
    T_OK(mt_db_begin(db, E));
    T_OK(t_put(db, "z", 1, E));
    ck_assert_int_eq(mt_db_end(db, MT_EINVAL, NULL), MT_EINVAL);
    /* mt_db_tx: the duplicate undoes the whole call. */
    T_RC(mt_db_tx(db, tx_two_then_fail, NULL, E), MT_EEXIST);
    ck_assert_int_eq(mt_db_in_tx(db), 0);
    mt_db_close(db);
    ck_assert_int_eq(t_int(path, "SELECT count(*) FROM t"), 0);

    db = t_open(path, &sc);
    T_OK(mt_db_tx(db, tx_two, NULL, E));
    mt_db_close(db);
    ck_assert_int_eq(t_int(path, "SELECT count(*) FROM t"), 2);
}
END_TEST

typedef struct t_row {
    char    k[8];
    int64_t n;
    char   *dup;
} t_row;

static int g_clears;

static int t_read(sqlite3_stmt *s, void *elem)
{
    t_row *r = elem;
    size_t len;
    if (mt_db_col_str(s, 0, r->k, sizeof r->k))
        return MT_EIO;
    r->n = sqlite3_column_int64(s, 1);
    return mt_db_col_dup(s, 0, 1, &r->dup, &len);
}

static void t_clear(void *elem)
{
    t_row *r = elem;
    free(r->dup);
    r->dup = NULL;
    g_clears++;
}

static int t_sum(void *ud, sqlite3_stmt *s, mt_error *err)
{
    int64_t *sum = ud;
    (void)err;
    *sum += sqlite3_column_int64(s, 1);
    return *sum >= 10 ? 1 : 0; /* stop early */
}

START_TEST(collector_and_cap)
{
    char path[256], k[8];
    mt_db_schema sc = t_schema(1);
    mt_db_collector c = { sizeof(t_row), 0, t_read, t_clear, "test rows" };
    t_row *rows = (t_row *)1;
    size_t count = 99;
    sqlite3_stmt *s;
    int64_t sum = 0;
    mt_db *db;

    t_path("c.db", path, sizeof path);
    db = t_open(path, &sc);
    /* Empty: NULL and 0. */
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_OK(mt_db_collect(db, s, 0, &c, (void **)&rows, &count, E));
    ck_assert_ptr_null(rows);
    ck_assert_uint_eq(count, 0);

    /* 20 rows: past the first allocation of 8, so the array grows. */
    T_OK(mt_db_begin(db, E));
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        T_OK(t_put(db, k, i, E));
    }
    T_OK(mt_db_commit(db, E));
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_OK(mt_db_collect(db, s, 0, &c, (void **)&rows, &count, E));
    ck_assert_uint_eq(count, 20);
    ck_assert_str_eq(rows[19].k, "k19");
    ck_assert_str_eq(rows[19].dup, "k19");
    ck_assert_int_eq(rows[7].n, 7);
    for (size_t i = 0; i < count; i++)
        free(rows[i].dup);
    free(rows);

    /* Over the cap: MT_ETOOBIG, everything read is released, out untouched. */
    c.max_rows = 19;
    g_clears = 0;
    rows = (t_row *)1;
    count = 99;
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_RC(mt_db_collect(db, s, 0, &c, (void **)&rows, &count, E), MT_ETOOBIG);
    ck_assert_ptr_eq(rows, (t_row *)1);
    ck_assert_uint_eq(count, 99);
    ck_assert_int_eq(g_clears, 19);
    /* Exactly at the cap is fine. */
    c.max_rows = 20;
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_OK(mt_db_collect(db, s, 0, &c, (void **)&rows, &count, E));
    ck_assert_uint_eq(count, 20);
    for (size_t i = 0; i < count; i++)
        free(rows[i].dup);
    free(rows);

    /* A damaged row (text too long for k[8]): MT_EIO, all released. */
    T_OK(mt_db_begin(db, E));
    T_OK(t_put(db, "much-too-long", 99, E));
    T_OK(mt_db_commit(db, E));
    c.max_rows = 0;
    g_clears = 0;
    rows = NULL;
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_RC(mt_db_collect(db, s, 0, &c, (void **)&rows, &count, E), MT_EIO);
    ck_assert_ptr_null(rows);
    ck_assert_int_eq(g_clears, 21);

    /* A bind failure reaches the caller through the collector. */
    {
        int brc = 0;
        T_OK(mt_db_prepare(db, "SELECT k, n FROM t WHERE n = ?1", &s, E));
        mt_db_bind_i64(s, 2, 1, &brc); /* no parameter 2 */
        ck_assert_int_ne(brc, 0);
        mt_db_bind_i64(s, 1, 1, &brc); /* keeps the first failure */
        T_RC(mt_db_collect(db, s, brc, &c, (void **)&rows, &count, E), MT_EINVAL);
    }

    /* mt_db_each, stopping early at 0+1+2+3+4 = 10. */
    T_OK(mt_db_prepare(db, "SELECT k, n FROM t ORDER BY n", &s, E));
    T_OK(mt_db_each(db, s, 0, t_sum, &sum, "test rows", E));
    ck_assert_int_eq(sum, 10);
    mt_db_close(db);
}
END_TEST

START_TEST(statement_helpers)
{
    char path[256], str[4];
    uint8_t b4[4], var[8];
    size_t len = 0;
    int has = 1;
    mt_db_schema sc = t_schema(1);
    sqlite3_stmt *s = (sqlite3_stmt *)1;
    mt_db *db;
    int brc = 0;

    t_path("h.db", path, sizeof path);
    db = t_open(path, &sc);
    T_RC(mt_db_prepare(db, "SELEKT nonsense", &s, E), MT_EIO);
    ck_assert_ptr_null(s);
    T_OK(mt_db_exec(db, "INSERT INTO t(k, n) VALUES('a', 1)", "insert", E));
    T_RC(mt_db_exec(db, "INSERT INTO t(k, n) VALUES('a', 2)", "insert", E), MT_EEXIST);

    T_OK(mt_db_prepare(db, "UPDATE t SET n = 5 WHERE k = ?1", &s, E));
    mt_db_bind_text(s, 1, "nobody", &brc);
    T_RC(mt_db_change_one(db, s, brc, "row nobody", E), MT_ENOTFOUND);
    mt_db_finalize(s);

    T_OK(mt_db_prepare(db, "SELECT x'01020304', NULL, 'abcd', x'', ?1", &s, E));
    mt_db_bind_blob(s, 1, "", 0, &brc);
    ck_assert_int_eq(mt_db_step_row(db, s, brc, "select", NULL), 1);
    ck_assert_int_eq(mt_db_col_fixed(s, 0, b4, 4), 0);
    ck_assert_int_eq(b4[3], 4);
    ck_assert_int_eq(mt_db_col_fixed(s, 0, b4, 3), -1);   /* wrong size */
    ck_assert_int_eq(mt_db_col_fixed(s, 2, b4, 4), -1);   /* text, not a blob */
    ck_assert_int_eq(mt_db_col_opt_fixed(s, 1, b4, 4, &has), 0);
    ck_assert_int_eq(has, 0);
    ck_assert_int_eq(mt_db_col_str(s, 2, str, sizeof str), -1); /* 4 bytes + NUL > 4 */
    ck_assert_int_eq(mt_db_col_var(s, 0, var, sizeof var, &len), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(mt_db_col_var(s, 3, var, sizeof var, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mt_db_col_var(s, 4, var, sizeof var, &len), 0); /* empty blob, not NULL */
    ck_assert_int_eq(mt_db_step_row(db, s, 0, "select", NULL), 0);
    mt_db_finalize(s);
    mt_db_close(db);

    /* Misuse. */
    T_RC(mt_db_open(NULL, &sc, &db, E), MT_EINVAL);
    T_RC(mt_db_open(path, NULL, &db, E), MT_EINVAL);
    sc.n_steps = 0;
    T_RC(mt_db_open(path, &sc, &db, E), MT_EINVAL);
    mt_db_close(NULL);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *open = tcase_create("open");
    TCase *use = tcase_create("use");

    tcase_add_test(open, open_creates_private_wal_file);
    tcase_add_test(open, refuses_other_application);
    tcase_add_test(open, migrations_in_order_once);
    tcase_add_test(open, refuses_newer_version);
    tcase_add_test(open, failing_step_rolls_back);
    suite_add_tcase(s, open);

    tcase_add_test(use, rollback_leaves_nothing);
    tcase_add_test(use, collector_and_cap);
    tcase_add_test(use, statement_helpers);
    suite_add_tcase(s, use);
    return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    SRunner *sr = srunner_create(db_suite());
    int failed;
    snprintf(g_base, sizeof g_base, "/tmp/mt-check-db-XXXXXX");
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 1;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
