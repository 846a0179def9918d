/*
 * check_store.c - mtd's SQLite store: file mode and identity checks,
 * persistence across reopen and kill -9, subscriptions, accepted sequences
 * (stale refusal, surviving unsubscribe), item dedup, transaction
 * rollback, torrents with resume data, published feeds, settings, blob
 * fetches and pins, and the migration of a version 1 file (kv
 * "blob.fetches" into rows).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "testutil.h"

#define T_APP_ID 1297371988
#define T_VERSION 2 /* the store's schema version */

/* One base directory per run, removed by main() even if tests fail. */
static char g_base[64];

/* A fresh directory under the base and the path of name inside it. */
static void t_path(const char *name, char *out, size_t cap)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/t-XXXXXX", g_base);
    ck_assert(mkdtemp(dir) != NULL);
    ck_assert((size_t)snprintf(out, cap, "%s/%s", dir, name) < cap);
}

static mt_store *t_open(const char *path)
{
    mt_store *st = NULL;
    mt_error err;
    int rc = mt_store_open(path, &st, &err);
    ck_assert_msg(rc == 0, "open %s: %d %s", path, rc, err.message);
    ck_assert_ptr_nonnull(st);
    return st;
}

/* Opening fails with MT_EIO and a message containing part. */
static void t_open_fails(const char *path, const char *part)
{
    mt_store *st = (mt_store *)1;
    mt_error err;
    int rc;
    mt_error_clear(&err);
    rc = mt_store_open(path, &st, &err);
    ck_assert_msg(rc == MT_EIO, "open %s gave %d (%s), expected MT_EIO", path, rc, err.message);
    ck_assert_int_eq(err.code, MT_EIO);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.message, part) != NULL, "message \"%s\" lacks \"%s\"", err.message, part);
}

/* Expect rc == want, naming the call and the error text otherwise. */
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
/* The calls below pass &e_ as their error argument. */
#define E (&e_)

/* A side connection for looking at the file the way SQLite sees it. */
static sqlite3 *t_db(const char *path)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void t_sql(const char *path, const char *sql)
{
    sqlite3 *db = t_db(path);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static int64_t t_sql_int(const char *path, const char *sql)
{
    sqlite3 *db = t_db(path);
    sqlite3_stmt *s = NULL;
    int64_t v;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void t_sql_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = t_db(path);
    sqlite3_stmt *s = NULL;
    ck_assert(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int t_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static unsigned t_mode(const char *path)
{
    struct stat sb;
    ck_assert_msg(stat(path, &sb) == 0, "stat %s", path);
    return (unsigned)(sb.st_mode & 0777);
}

/* Test data ----------------------------------------------------------- */

static char t_manifest1[] = "{\"sequence\":1,\"collections\":[]}";
static char t_manifest2[] = "{\"sequence\":2,\"collections\":[{\"title\":\"b\"}]}";
static char t_manifest9[] = "{\"sequence\":9}";
static uint8_t t_v[] = "d1:ai1ee";

/* A subscription whose pk is filled with tag. */
static void t_sub(mt_sub *s, uint8_t tag, const char *salt)
{
    memset(s, 0, sizeof *s);
    memset(s->pk, tag, sizeof s->pk);
    s->salt_len = strlen(salt);
    memcpy(s->salt, salt, s->salt_len);
    snprintf(s->address, sizeof s->address, "magnet:?xs=urn:btpk:%02x&s=%s", tag, salt);
    snprintf(s->save_path, sizeof s->save_path, "/srv/feeds/%u", tag);
    snprintf(s->include_re, sizeof s->include_re, "\\.(mkv|mp4)$");
    snprintf(s->exclude_re, sizeof s->exclude_re, "sample");
    snprintf(s->category, sizeof s->category, "cat-%u", tag);
    s->add_paused = tag & 1;
    s->max_items = tag;
    s->interval_s = 60 + tag;
    s->has_read_key = tag & 1;
    if (s->has_read_key)
        memset(s->read_key, 0xc0 | tag, sizeof s->read_key);
    /* Status fields are ignored on insert; set them to prove it. */
    s->last_poll_ms = 77;
    s->seq = 99;
    s->items = 5;
    snprintf(s->last_error, sizeof s->last_error, "ignored");
}

static void t_sub_eq(const mt_sub *got, const mt_sub *want)
{
    ck_assert_str_eq(got->address, want->address);
    ck_assert_mem_eq(got->pk, want->pk, 32);
    ck_assert_uint_eq(got->salt_len, want->salt_len);
    ck_assert_mem_eq(got->salt, want->salt, want->salt_len);
    ck_assert_int_eq(got->has_read_key, want->has_read_key);
    if (want->has_read_key)
        ck_assert_mem_eq(got->read_key, want->read_key, 32);
    ck_assert_str_eq(got->save_path, want->save_path);
    ck_assert_str_eq(got->include_re, want->include_re);
    ck_assert_str_eq(got->exclude_re, want->exclude_re);
    ck_assert_str_eq(got->category, want->category);
    ck_assert_int_eq(got->add_paused, want->add_paused);
    ck_assert_int_eq(got->max_items, want->max_items);
    ck_assert_int_eq(got->interval_s, want->interval_s);
}

static void t_acc(mt_accepted *a, int64_t seq, char *manifest, int has_ih)
{
    memset(a, 0, sizeof *a);
    a->seq = seq;
    a->manifest = manifest;
    a->manifest_len = manifest ? strlen(manifest) : 0;
    a->has_ih = has_ih;
    memset(a->ih, 0x10 + (int)seq, sizeof a->ih);
    a->v = t_v;
    a->v_len = sizeof t_v - 1;
    memset(a->sig, 0x50 + (int)seq, sizeof a->sig);
    a->accepted_ms = 1000 * seq;
}

/* Item n: key is n as 64 hex digits; odd n have a torrent. */
static mt_item_row t_item(unsigned n, int64_t seq, const char *name)
{
    mt_item_row it;
    memset(&it, 0, sizeof it);
    snprintf(it.key, sizeof it.key, "%064x", n);
    it.seq = seq;
    snprintf(it.collection, sizeof it.collection, "col %u", n % 2);
    snprintf(it.name, sizeof it.name, "%s", name);
    it.has_torrent = n & 1;
    if (it.has_torrent)
        memset(it.torrent_id, (int)n, sizeof it.torrent_id);
    it.skipped = n % 3 == 0;
    return it;
}

static void t_item_eq(const mt_item_row *got, const mt_item_row *want)
{
    ck_assert_str_eq(got->key, want->key);
    ck_assert_int_eq(got->seq, want->seq);
    ck_assert_str_eq(got->collection, want->collection);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_int_eq(got->has_torrent, want->has_torrent);
    if (want->has_torrent)
        ck_assert_mem_eq(got->torrent_id, want->torrent_id, 20);
    ck_assert_int_eq(got->skipped, want->skipped);
}

/* The item list of sub is exactly want[0..n). */
static void t_items_are(mt_store *st, int64_t sub, const mt_item_row *want, size_t n)
{
    mt_item_row *rows = NULL;
    size_t count = 99, i;
    T_OK(mt_store_item_list(st, sub, &rows, &count, E));
    ck_assert_uint_eq(count, n);
    for (i = 0; i < n; i++)
        t_item_eq(&rows[i], &want[i]);
    mt_free(rows);
}

static int64_t t_seq(mt_store *st, const mt_sub *s)
{
    int64_t seq = -1;
    T_OK(mt_store_seq_get(st, s->pk, s->salt, s->salt_len, &seq, E));
    return seq;
}

static mt_torrent_row t_torrent(uint8_t tag)
{
    mt_torrent_row t;
    memset(&t, 0, sizeof t);
    memset(t.id, tag, sizeof t.id);
    snprintf(t.uri, sizeof t.uri, "magnet:?xt=urn:btih:%040x", tag);
    snprintf(t.save_path, sizeof t.save_path, "/data/%u", tag);
    snprintf(t.category, sizeof t.category, "c%u", tag);
    t.kind = tag & 1;
    t.sub_id = tag;
    t.added_ms = 5000 + tag;
    return t;
}

static void t_pub(mt_pub *p, const char *name, uint8_t tag, int64_t seq, char *manifest)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    memset(p->pk, tag, sizeof p->pk);
    p->seq = seq;
    p->manifest = manifest;
    p->manifest_len = strlen(manifest);
    p->is_inline = (int)(seq & 1);
    memset(p->ih, 0xa0 + tag, sizeof p->ih);
    p->v = t_v;
    p->v_len = sizeof t_v - 1;
    memset(p->sig, 0xb0 + tag, sizeof p->sig);
    snprintf(p->ws, sizeof p->ws, "https://a.example/%s\nhttps://b.example/", name);
    p->published_ms = 100 * seq;
    p->last_put_ms = 100 * seq + 1;
    p->last_put_nodes = 8;
}

static void t_pub_eq(const mt_pub *got, const mt_pub *want)
{
    ck_assert_str_eq(got->name, want->name);
    ck_assert_mem_eq(got->pk, want->pk, 32);
    ck_assert_int_eq(got->seq, want->seq);
    ck_assert_uint_eq(got->manifest_len, want->manifest_len);
    ck_assert_str_eq(got->manifest, want->manifest);
    ck_assert_int_eq(got->is_inline, want->is_inline);
    ck_assert_mem_eq(got->ih, want->ih, 20);
    ck_assert_uint_eq(got->v_len, want->v_len);
    ck_assert_int_eq(got->v == NULL, want->v == NULL);
    if (want->v_len)
        ck_assert_mem_eq(got->v, want->v, want->v_len);
    ck_assert_mem_eq(got->sig, want->sig, 64);
    ck_assert_str_eq(got->ws, want->ws);
    ck_assert_int_eq(got->published_ms, want->published_ms);
    ck_assert_int_eq(got->last_put_ms, want->last_put_ms);
    ck_assert_int_eq(got->last_put_nodes, want->last_put_nodes);
}

/* ------------------------------------------------------------- file */

START_TEST(open_creates_private_wal_file)
{
    /* umask 0 would leave SQLite's own 0644; 0277 would strip the owner's
     * write bit. Either way the store and its WAL must be exactly 0600. */
    static const mode_t masks[] = {0, 0277, 0022};
    size_t i;
    for (i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        char path[256], wal[272], mode[16];
        mode_t old;
        mt_store *st;
        t_path("store.db", path, sizeof path);
        old = umask(masks[i]);
        st = t_open(path);
        umask(old);
        snprintf(wal, sizeof wal, "%s-wal", path);
        ck_assert_msg(t_mode(path) == 0600, "umask %o: store mode %o", (unsigned)masks[i], t_mode(path));
        ck_assert_msg(t_exists(wal), "no WAL file next to the store");
        ck_assert_msg(t_mode(wal) == 0600, "umask %o: wal mode %o", (unsigned)masks[i], t_mode(wal));
        t_sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
        ck_assert_str_eq(mode, "wal");
        ck_assert_int_eq(t_sql_int(path, "PRAGMA user_version"), T_VERSION);
        ck_assert_int_eq(t_sql_int(path, "PRAGMA application_id"), T_APP_ID);
        mt_store_close(st);
        /* Reopening an existing store works and keeps its mode. */
        st = t_open(path);
        mt_store_close(st);
        ck_assert_uint_eq(t_mode(path), 0600);
    }
}
END_TEST

/* Relative names SQLite would treat specially are still plain files. */
START_TEST(open_plain_file_names)
{
    static const char *names[] = {":memory:", "file:st.db?mode=memory", "st.db"};
    char path[256], cwd[4096], *v = NULL;
    size_t i;
    mt_store *st;

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    t_path("x", path, sizeof path);
    *strrchr(path, '/') = '\0';
    ck_assert_int_eq(chdir(path), 0);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        st = t_open(names[i]);
        T_OK(mt_store_kv_set(st, "name", names[i], E));
        mt_store_close(st);
        ck_assert_msg(t_exists(names[i]), "%s is not a file", names[i]);
        ck_assert_uint_eq(t_mode(names[i]), 0600);
        st = t_open(names[i]);
        T_OK(mt_store_kv_get(st, "name", &v, E));
        ck_assert_str_eq(v, names[i]);
        mt_free(v);
        mt_store_close(st);
    }
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(refuses_foreign_sqlite_file)
{
    char path[256], wal[272], mode[16];
    t_path("other.db", path, sizeof path);
    t_sql(path, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos(name) VALUES('x')");
    t_open_fails(path, "not a megatorrent store");
    /* Refused before any write: not switched to WAL, data as it was. */
    snprintf(wal, sizeof wal, "%s-wal", path);
    ck_assert(!t_exists(wal));
    t_sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
    ck_assert_str_eq(mode, "delete");
    ck_assert_int_eq(t_sql_int(path, "SELECT count(*) FROM photos"), 1);
    ck_assert_int_eq(t_sql_int(path, "SELECT count(*) FROM sqlite_master"), 1);
    ck_assert_int_eq(t_sql_int(path, "PRAGMA user_version"), 0);

    /* No tables, but another application's header fields. */
    t_path("other2.db", path, sizeof path);
    t_sql(path, "PRAGMA user_version=7");
    t_open_fails(path, "not a megatorrent store");
    t_path("other3.db", path, sizeof path);
    t_sql(path, "PRAGMA application_id=42");
    t_open_fails(path, "not a megatorrent store");

    /* Our id and version but not our tables. */
    t_path("fake.db", path, sizeof path);
    t_sql(path, "PRAGMA application_id=1297371988; PRAGMA user_version=1; CREATE TABLE x(y)");
    t_open_fails(path, "its contents do not");
}
END_TEST

START_TEST(refuses_non_database_file)
{
    char path[256], buf[2048], *back = NULL;
    size_t n = 0;
    FILE *f;
    t_path("notes.txt", path, sizeof path);
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "these are my notes, not a database\n", 35);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    t_open_fails(path, "not a megatorrent store");
    T_OK(mt_file_read(path, 1 << 20, &back, &n, E));
    ck_assert_uint_eq(n, sizeof buf);
    ck_assert_mem_eq(back, buf, sizeof buf);
    free(back);
}
END_TEST

START_TEST(refuses_newer_schema_version)
{
    char path[256];
    mt_store *st;
    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_kv_set(st, "k", "v", E));
    mt_store_close(st);
    t_sql(path, "PRAGMA user_version=3");
    t_open_fails(path, "newer");
    ck_assert_int_eq(t_sql_int(path, "PRAGMA user_version"), 3);
    /* The version alone made the difference. */
    t_sql(path, "PRAGMA user_version=2");
    st = t_open(path);
    mt_store_close(st);
}
END_TEST

START_TEST(reopen_persists_everything)
{
    char path[256], *val = NULL;
    mt_store *st;
    mt_sub a, b, got;
    mt_accepted acc, gota;
    mt_item_row items[3];
    mt_torrent_row t = t_torrent(7), gott;
    uint8_t blob[300], resume[] = "d6:pausedi0ee";
    mt_pub p, gotp;
    int64_t ida = 0, idb = 0;
    size_t i;

    for (i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)i; /* NUL bytes included */
    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&a, 1, "tv");
    t_sub(&b, 2, "");
    T_OK(mt_store_sub_add(st, &a, &ida, E));
    T_OK(mt_store_sub_add(st, &b, &idb, E));
    T_OK(mt_store_sub_set_status(st, idb, 4242, "tracker down", E));
    t_acc(&acc, 2, t_manifest2, 1);
    items[0] = t_item(1, 2, "one");
    items[1] = t_item(2, 2, "two");
    items[2] = t_item(3, 2, "three");
    T_OK(mt_store_accept(st, ida, a.pk, a.salt, a.salt_len, &acc, items, 3, E));
    t.torrent = blob;
    t.torrent_len = sizeof blob;
    T_OK(mt_store_torrent_add(st, &t, E));
    T_OK(mt_store_torrent_set_resume(st, t.id, resume, sizeof resume - 1, E));
    t_pub(&p, "news", 9, 3, t_manifest1);
    T_OK(mt_store_pub_set(st, &p, E));
    T_OK(mt_store_kv_set(st, "dht.node_id", "0123abcd", E));
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_sub_get(st, ida, &got, E));
    t_sub_eq(&got, &a);
    ck_assert_int_eq(got.seq, 2);
    ck_assert_int_eq(got.has_index_ih, 1);
    ck_assert_mem_eq(got.index_ih, acc.ih, 20);
    ck_assert_int_eq(got.last_update_ms, 2000);
    ck_assert_int_eq(got.items, 3);
    ck_assert_str_eq(got.last_error, "");
    ck_assert_int_eq(got.last_poll_ms, 0);
    T_OK(mt_store_sub_get(st, idb, &got, E));
    t_sub_eq(&got, &b);
    ck_assert_int_eq(got.seq, 0);
    ck_assert_int_eq(got.has_index_ih, 0);
    ck_assert_int_eq(got.last_poll_ms, 4242);
    ck_assert_str_eq(got.last_error, "tracker down");

    T_OK(mt_store_accepted_get(st, a.pk, a.salt, a.salt_len, &gota, E));
    ck_assert_int_eq(gota.seq, 2);
    ck_assert_uint_eq(gota.manifest_len, strlen(t_manifest2));
    ck_assert_str_eq(gota.manifest, t_manifest2);
    ck_assert_int_eq(gota.has_ih, 1);
    ck_assert_mem_eq(gota.ih, acc.ih, 20);
    ck_assert_uint_eq(gota.v_len, acc.v_len);
    ck_assert_mem_eq(gota.v, acc.v, acc.v_len);
    ck_assert_mem_eq(gota.sig, acc.sig, 64);
    ck_assert_int_eq(gota.accepted_ms, 2000);
    mt_accepted_clear(&gota);
    ck_assert_ptr_null(gota.manifest);
    t_items_are(st, ida, items, 3);

    T_OK(mt_store_torrent_get(st, t.id, &gott, E));
    ck_assert_str_eq(gott.uri, t.uri);
    ck_assert_uint_eq(gott.torrent_len, sizeof blob);
    ck_assert_mem_eq(gott.torrent, blob, sizeof blob);
    ck_assert_uint_eq(gott.resume_len, sizeof resume - 1);
    ck_assert_mem_eq(gott.resume, resume, sizeof resume - 1);
    ck_assert_str_eq(gott.save_path, t.save_path);
    ck_assert_int_eq(gott.sub_id, 7);
    ck_assert_int_eq(gott.kind, 1);
    ck_assert_int_eq(gott.added_ms, 5007);
    mt_torrent_row_clear(&gott);

    T_OK(mt_store_pub_get(st, "news", p.pk, &gotp, E));
    t_pub_eq(&gotp, &p);
    mt_pub_clear(&gotp);
    T_OK(mt_store_kv_get(st, "dht.node_id", &val, E));
    ck_assert_str_eq(val, "0123abcd");
    mt_free(val);
    mt_store_close(st);
}
END_TEST

/* Nothing committed is lost, nor done twice, when mtd is killed -9. */
START_TEST(accept_survives_kill9)
{
    char path[256];
    mt_store *st;
    mt_sub s;
    mt_accepted acc;
    mt_item_row items[2] = {t_item(1, 1, "a"), t_item(2, 1, "b")}, more[2] = {t_item(2, 2, "b2"), t_item(4, 2, "d")};
    mt_item_row want[3] = {items[0], items[1], more[1]};
    int64_t id = 0;
    int status = 0;
    pid_t pid;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 3, "x");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    mt_store_close(st);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        mt_store *cst = NULL;
        if (mt_store_open(path, &cst, NULL) != 0)
            _exit(2);
        t_acc(&acc, 1, t_manifest1, 0);
        if (mt_store_accept(cst, id, s.pk, s.salt, s.salt_len, &acc, items, 2, NULL) != 0)
            _exit(3);
        kill(getpid(), SIGKILL); /* no close, no checkpoint */
        _exit(4);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

    st = t_open(path);
    ck_assert_int_eq(t_seq(st, &s), 1);
    t_items_are(st, id, items, 2);
    t_acc(&acc, 1, t_manifest1, 0);
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, more, 2, E), MT_ESTALE);
    t_acc(&acc, 2, t_manifest2, 0);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, more, 2, E));
    t_items_are(st, id, want, 3);
    mt_store_close(st);
}
END_TEST

/* ------------------------------------------------------ subscriptions */

START_TEST(sub_add_get_find_list)
{
    char path[256];
    mt_store *st;
    mt_sub a, a2, b, c, got, *list = NULL;
    int64_t ida = 0, idb = 0, idc = 0, id = 5;
    size_t n = 9;
    int64_t before = mt_wall_ms();

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_sub_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(list);

    t_sub(&a, 1, "");
    t_sub(&b, 1, "movies"); /* same key, other salt: another feed */
    t_sub(&c, 2, "");
    T_OK(mt_store_sub_add(st, &a, &ida, E));
    T_OK(mt_store_sub_add(st, &b, &idb, E));
    T_OK(mt_store_sub_add(st, &c, NULL, E));
    ck_assert_int_gt(ida, 0);
    ck_assert_int_gt(idb, ida);

    /* Same (pk, salt) again, even with other settings: EEXIST. */
    a2 = a;
    snprintf(a2.category, sizeof a2.category, "other");
    T_RC(mt_store_sub_add(st, &a2, &id, E), MT_EEXIST);
    ck_assert_int_eq(id, 0);
    b.salt_len = 5; /* "movie": a different salt */
    T_OK(mt_store_sub_add(st, &b, &id, E));
    b.salt_len = 6;

    T_OK(mt_store_sub_get(st, ida, &got, E));
    t_sub_eq(&got, &a);
    ck_assert_int_eq(got.id, ida);
    ck_assert_int_ge(got.created_ms, before);
    ck_assert_int_le(got.created_ms, mt_wall_ms());
    /* Status fields passed to sub_add were ignored. */
    ck_assert_int_eq(got.seq, 0);
    ck_assert_int_eq(got.items, 0);
    ck_assert_int_eq(got.last_poll_ms, 0);
    ck_assert_str_eq(got.last_error, "");

    T_OK(mt_store_sub_find(st, b.pk, b.salt, b.salt_len, &got, E));
    ck_assert_int_eq(got.id, idb);
    t_sub_eq(&got, &b);
    T_OK(mt_store_sub_find(st, c.pk, NULL, 0, &got, E));
    t_sub_eq(&got, &c);
    idc = got.id;
    T_RC(mt_store_sub_find(st, c.pk, (const uint8_t *)"nope", 4, &got, E), MT_ENOTFOUND);
    T_RC(mt_store_sub_get(st, 9999, &got, E), MT_ENOTFOUND);

    T_OK(mt_store_sub_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(list[0].id, ida);
    ck_assert_int_eq(list[1].id, idb);
    ck_assert_int_eq(list[2].id, idc);
    ck_assert_int_eq(list[3].id, id);
    t_sub_eq(&list[0], &a);
    t_sub_eq(&list[1], &b);
    t_sub_eq(&list[2], &c);
    mt_free(list);
    mt_store_close(st);
}
END_TEST

START_TEST(sub_remove_keeps_accepted_seq)
{
    char path[256];
    mt_store *st;
    mt_sub s, got;
    mt_accepted acc;
    mt_item_row items[2] = {t_item(1, 4, "a"), t_item(2, 4, "b")};
    int64_t id = 0, id2 = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 5, "feed");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    t_acc(&acc, 4, t_manifest2, 1);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, items, 2, E));
    ck_assert_int_eq(mt_store_item_seen(st, id, items[0].key, NULL), 1);

    T_OK(mt_store_sub_remove(st, id, E));
    T_RC(mt_store_sub_get(st, id, &got, E), MT_ENOTFOUND);
    T_RC(mt_store_sub_find(st, s.pk, s.salt, s.salt_len, &got, E), MT_ENOTFOUND);
    T_RC(mt_store_sub_remove(st, id, E), MT_ENOTFOUND);
    T_RC(mt_store_item_list(st, id, &(mt_item_row *){NULL}, &(size_t){0}, E), MT_ENOTFOUND);
    ck_assert_int_eq(mt_store_item_seen(st, id, items[0].key, NULL), 0);
    ck_assert_int_eq(t_sql_int(path, "SELECT count(*) FROM item"), 0);
    /* The accepted record stays. */
    ck_assert_int_eq(t_seq(st, &s), 4);

    /* Resubscribing: a new id, no items, but the old seq at once, and an
     * older manifest is still refused. */
    T_OK(mt_store_sub_add(st, &s, &id2, E));
    ck_assert_int_ne(id2, id);
    T_OK(mt_store_sub_get(st, id2, &got, E));
    ck_assert_int_eq(got.seq, 4);
    ck_assert_int_eq(got.has_index_ih, 1);
    ck_assert_mem_eq(got.index_ih, acc.ih, 20);
    ck_assert_int_eq(got.items, 0);
    ck_assert_int_eq(got.last_update_ms, 0);
    t_acc(&acc, 3, t_manifest1, 0);
    T_RC(mt_store_accept(st, id2, s.pk, s.salt, s.salt_len, &acc, items, 2, E), MT_ESTALE);
    t_items_are(st, id2, NULL, 0);
    mt_store_close(st);

    /* Across a reopen too. */
    st = t_open(path);
    ck_assert_int_eq(t_seq(st, &s), 4);
    mt_store_close(st);
}
END_TEST

START_TEST(sub_rejects_bad_input)
{
    char path[256];
    mt_store *st;
    mt_sub s, *list = NULL;
    size_t n = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "a");
    memset(s.address, 'a', sizeof s.address); /* no room for the NUL */
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    t_sub(&s, 1, "a");
    s.address[0] = '\0';
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    t_sub(&s, 1, "a");
    memset(s.category, 'c', sizeof s.category);
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    t_sub(&s, 1, "a");
    memset(s.include_re, 'r', sizeof s.include_re);
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    t_sub(&s, 1, "a");
    s.salt_len = 65;
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    t_sub(&s, 1, "a");
    s.max_items = -1;
    T_RC(mt_store_sub_add(st, &s, NULL, E), MT_EINVAL);
    T_RC(mt_store_sub_add(st, NULL, NULL, E), MT_EINVAL);
    T_RC(mt_store_sub_add(NULL, &s, NULL, E), MT_EINVAL);
    T_RC(mt_store_sub_find(st, s.pk, s.salt, 65, &s, E), MT_EINVAL);
    T_RC(mt_store_sub_find(st, NULL, s.salt, 1, &s, E), MT_EINVAL);
    /* Longest allowed values fit exactly. */
    t_sub(&s, 1, "a");
    memset(s.address, 'a', sizeof s.address - 1);
    memset(s.salt, 's', sizeof s.salt);
    s.salt_len = sizeof s.salt;
    T_OK(mt_store_sub_add(st, &s, NULL, E));
    T_OK(mt_store_sub_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 1);
    t_sub_eq(&list[0], &s);
    mt_free(list);
    mt_store_close(st);
}
END_TEST

START_TEST(sub_set_status)
{
    char path[256], long_err[300];
    mt_store *st;
    mt_sub s, got;
    int64_t id = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    T_OK(mt_store_sub_set_status(st, id, 123, "no peers", E));
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.last_poll_ms, 123);
    ck_assert_str_eq(got.last_error, "no peers");
    T_OK(mt_store_sub_set_status(st, id, 456, NULL, E));
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.last_poll_ms, 456);
    ck_assert_str_eq(got.last_error, "");
    memset(long_err, 'e', sizeof long_err - 1);
    long_err[sizeof long_err - 1] = '\0';
    T_RC(mt_store_sub_set_status(st, id, 789, long_err, E), MT_EINVAL);
    T_RC(mt_store_sub_set_status(st, id + 1, 789, "", E), MT_ENOTFOUND);
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.last_poll_ms, 456);
    mt_store_close(st);
}
END_TEST

/* ------------------------------------------------- accepted / items */

START_TEST(accept_stale_changes_nothing)
{
    char path[256];
    mt_store *st, *st2;
    mt_sub s, got;
    mt_accepted acc, gota;
    mt_item_row items[2] = {t_item(1, 5, "a"), t_item(2, 5, "b")}, late[2] = {t_item(3, 5, "c"), t_item(4, 5, "d")};
    int64_t id = 0, seqs[] = {5, 4, 0};
    size_t i;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "f");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    T_RC(mt_store_accepted_get(st, s.pk, s.salt, s.salt_len, &gota, E), MT_ENOTFOUND);
    ck_assert_int_eq(t_seq(st, &s), 0);
    t_acc(&acc, 5, t_manifest1, 1);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, items, 2, E));

    /* Equal, lower and zero: all refused, nothing moves. */
    for (i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        t_acc(&acc, seqs[i], t_manifest9, 0);
        acc.accepted_ms = 99999;
        T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, late, 2, E), MT_ESTALE);
        T_RC(mt_store_accept(st, 0, s.pk, s.salt, s.salt_len, &acc, NULL, 0, E), MT_ESTALE);
        T_OK(mt_store_accepted_get(st, s.pk, s.salt, s.salt_len, &gota, E));
        ck_assert_int_eq(gota.seq, 5);
        ck_assert_str_eq(gota.manifest, t_manifest1);
        ck_assert_int_eq(gota.has_ih, 1);
        ck_assert_int_eq(gota.accepted_ms, 5000);
        mt_accepted_clear(&gota);
        T_OK(mt_store_sub_get(st, id, &got, E));
        ck_assert_int_eq(got.seq, 5);
        ck_assert_int_eq(got.last_update_ms, 5000);
        ck_assert_int_eq(got.items, 2);
        t_items_are(st, id, items, 2);
    }

    /* A second connection sees the committed seq under its own lock. */
    st2 = t_open(path);
    t_acc(&acc, 5, t_manifest9, 0);
    T_RC(mt_store_accept(st2, id, s.pk, s.salt, s.salt_len, &acc, late, 2, E), MT_ESTALE);
    t_acc(&acc, 6, t_manifest9, 0);
    T_OK(mt_store_accept(st2, id, s.pk, s.salt, s.salt_len, &acc, late, 2, E));
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, late, 2, E), MT_ESTALE);
    ck_assert_int_eq(t_seq(st, &s), 6);
    mt_store_close(st2);
    mt_store_close(st);
}
END_TEST

START_TEST(accept_checks_subscription)
{
    char path[256];
    mt_store *st;
    mt_sub s, other, got;
    mt_accepted acc, gota;
    mt_item_row it = t_item(1, 1, "a"), bad = t_item(2, 1, "b");
    char short_key[65] = "abc";
    int64_t id = 0, ido = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "f");
    t_sub(&other, 2, "f");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    T_OK(mt_store_sub_add(st, &other, &ido, E));
    t_acc(&acc, 1, t_manifest1, 0);
    /* The subscription must exist and follow this very feed. */
    T_RC(mt_store_accept(st, 999, s.pk, s.salt, s.salt_len, &acc, &it, 1, E), MT_ENOTFOUND);
    T_RC(mt_store_accept(st, ido, s.pk, s.salt, s.salt_len, &acc, &it, 1, E), MT_EINVAL);
    /* Items need a subscription. */
    T_RC(mt_store_accept(st, 0, s.pk, s.salt, s.salt_len, &acc, &it, 1, E), MT_EINVAL);
    /* Item keys: 64 lower-case hex digits. */
    bad.key[10] = 'A';
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, (mt_item_row[]){it, bad}, 2, E), MT_EINVAL);
    bad.key[10] = '\0';
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, (mt_item_row[]){it, bad}, 2, E), MT_EINVAL);
    T_RC(mt_store_item_seen(st, id, short_key, E), MT_EINVAL);
    /* A manifest with a NUL inside cannot come back as a C string. */
    acc.manifest_len += 1;
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, NULL, 0, E), MT_EINVAL);
    acc.manifest_len -= 1;
    ck_assert_int_eq(t_seq(st, &s), 0);
    t_items_are(st, id, NULL, 0);

    /* sub_id 0 records only the accepted manifest; the subscription of
     * the same feed reports it (seq lives with the feed). */
    acc.accepted_ms = 0;
    T_OK(mt_store_accept(st, 0, s.pk, s.salt, s.salt_len, &acc, NULL, 0, E));
    T_OK(mt_store_accepted_get(st, s.pk, s.salt, s.salt_len, &gota, E));
    ck_assert_int_gt(gota.accepted_ms, 0); /* 0 = now */
    mt_accepted_clear(&gota);
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.seq, 1);
    ck_assert_int_eq(got.last_update_ms, 0);
    ck_assert_int_eq(got.items, 0);
    T_OK(mt_store_sub_get(st, ido, &got, E));
    ck_assert_int_eq(got.seq, 0);

    /* No manifest, no v: stored as absent. */
    acc.seq = 2;
    acc.manifest = NULL;
    acc.manifest_len = 0;
    acc.v = NULL;
    acc.v_len = 0;
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, &it, 1, E));
    T_OK(mt_store_accepted_get(st, s.pk, s.salt, s.salt_len, &gota, E));
    ck_assert_ptr_null(gota.manifest);
    ck_assert_ptr_null(gota.v);
    ck_assert_int_eq(gota.has_ih, 0);
    mt_accepted_clear(&gota);
    mt_store_close(st);
}
END_TEST

START_TEST(items_dedup_across_calls_and_reopen)
{
    char path[256];
    mt_store *st;
    mt_sub s, s2, got;
    mt_accepted acc;
    mt_item_row first[2] = {t_item(1, 1, "one"), t_item(2, 1, "two")};
    /* Item 2 again with other fields, item 3 twice in one call. */
    mt_item_row second[3] = {t_item(2, 2, "two again"), t_item(3, 2, "three"), t_item(3, 2, "three again")};
    mt_item_row third[2] = {t_item(1, 3, "one again"), t_item(6, 3, "six")};
    mt_item_row want[4] = {first[0], first[1], second[1], third[1]};
    int64_t id = 0, id2 = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "a");
    t_sub(&s2, 2, "a");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    T_OK(mt_store_sub_add(st, &s2, &id2, E));
    t_acc(&acc, 1, t_manifest1, 0);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, first, 2, E));
    t_acc(&acc, 2, t_manifest2, 0);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, second, 3, E));
    t_items_are(st, id, want, 3);
    ck_assert_int_eq(mt_store_item_seen(st, id, first[1].key, NULL), 1);
    ck_assert_int_eq(mt_store_item_seen(st, id, third[1].key, NULL), 0);
    /* Keys are per subscription. */
    ck_assert_int_eq(mt_store_item_seen(st, id2, first[0].key, NULL), 0);
    t_acc(&acc, 1, t_manifest1, 0);
    T_OK(mt_store_accept(st, id2, s2.pk, s2.salt, s2.salt_len, &acc, first, 1, E));
    ck_assert_int_eq(mt_store_item_seen(st, id2, first[0].key, NULL), 1);
    mt_store_close(st);

    st = t_open(path);
    t_acc(&acc, 3, t_manifest9, 0);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, third, 2, E));
    t_items_are(st, id, want, 4);
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.items, 4);
    ck_assert_int_eq(got.seq, 3);
    T_OK(mt_store_sub_get(st, id2, &got, E));
    ck_assert_int_eq(got.items, 1);
    mt_store_close(st);
}
END_TEST

/* A failure half-way through accept undoes the whole call. */
START_TEST(accept_rolls_back_on_failure)
{
    char path[256];
    mt_store *st;
    mt_sub s, got;
    mt_accepted acc;
    mt_item_row ok1 = t_item(1, 1, "ok"), ok2 = t_item(2, 2, "fine"), boom = t_item(3, 2, "boom");
    int64_t id = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    t_sub(&s, 1, "");
    T_OK(mt_store_sub_add(st, &s, &id, E));
    t_acc(&acc, 1, t_manifest1, 0);
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, &ok1, 1, E));
    /* Another connection makes the third row's insert fail. */
    t_sql(path, "CREATE TRIGGER boom BEFORE INSERT ON item WHEN NEW.name = 'boom'"
                " BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
    t_acc(&acc, 2, t_manifest2, 1);
    T_RC(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, (mt_item_row[]){ok2, boom}, 2, E), MT_EIO);
    ck_assert_int_eq(t_seq(st, &s), 1);
    T_OK(mt_store_sub_get(st, id, &got, E));
    ck_assert_int_eq(got.seq, 1);
    ck_assert_int_eq(got.has_index_ih, 0);
    ck_assert_int_eq(got.last_update_ms, 1000);
    t_items_are(st, id, &ok1, 1);
    /* The store is usable afterwards (no transaction left open). */
    T_OK(mt_store_accept(st, id, s.pk, s.salt, s.salt_len, &acc, &ok2, 1, E));
    ck_assert_int_eq(t_seq(st, &s), 2);
    mt_store_close(st);
}
END_TEST

/* ------------------------------------------------------------- torrents */

START_TEST(torrent_rows)
{
    char path[256];
    mt_store *st;
    mt_torrent_row a = t_torrent(1), b = t_torrent(2), got, *list = NULL;
    uint8_t tbytes[] = "d4:infod4:name1:xee", r1[] = {0, 1, 2, 0, 3}, r2[] = "second resume";
    uint8_t missing[20];
    size_t n = 0, i;

    memset(missing, 0xee, sizeof missing);
    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_torrent_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 0);
    a.torrent = tbytes;
    a.torrent_len = sizeof tbytes - 1;
    a.uri[0] = '\0';
    a.paused = 1;
    b.added_ms = 0; /* 0 = now */
    T_OK(mt_store_torrent_add(st, &a, E));
    T_OK(mt_store_torrent_add(st, &b, E));
    T_RC(mt_store_torrent_add(st, &a, E), MT_EEXIST);
    b.kind = 3;
    T_RC(mt_store_torrent_add(st, &b, E), MT_EINVAL);
    b.kind = 0;
    memset(b.uri, 'u', sizeof b.uri);
    T_RC(mt_store_torrent_add(st, &b, E), MT_EINVAL);
    b = t_torrent(2);

    T_OK(mt_store_torrent_get(st, a.id, &got, E));
    ck_assert_str_eq(got.uri, "");
    ck_assert_uint_eq(got.torrent_len, a.torrent_len);
    ck_assert_mem_eq(got.torrent, tbytes, a.torrent_len);
    ck_assert_ptr_null(got.resume);
    ck_assert_int_eq(got.paused, 1);
    ck_assert_int_eq(got.finished, 0);
    mt_torrent_row_clear(&got);
    T_OK(mt_store_torrent_get(st, b.id, &got, E));
    ck_assert_str_eq(got.uri, b.uri);
    ck_assert_ptr_null(got.torrent);
    ck_assert_int_gt(got.added_ms, 1000000);
    ck_assert_str_eq(got.category, "c2");
    mt_torrent_row_clear(&got);

    /* Resume data: set, replace, clear; binary bytes kept exactly. */
    T_OK(mt_store_torrent_set_resume(st, b.id, r1, sizeof r1, E));
    T_OK(mt_store_torrent_get(st, b.id, &got, E));
    ck_assert_uint_eq(got.resume_len, sizeof r1);
    ck_assert_mem_eq(got.resume, r1, sizeof r1);
    mt_torrent_row_clear(&got);
    T_OK(mt_store_torrent_set_resume(st, b.id, r2, sizeof r2 - 1, E));
    T_OK(mt_store_torrent_set_resume(st, a.id, r1, sizeof r1, E));
    T_OK(mt_store_torrent_set_paused(st, a.id, 0, E));
    T_OK(mt_store_torrent_set_paused(st, b.id, 7, E));
    T_OK(mt_store_torrent_set_finished(st, b.id, 1, E));
    T_RC(mt_store_torrent_set_resume(st, missing, r1, sizeof r1, E), MT_ENOTFOUND);
    T_RC(mt_store_torrent_set_paused(st, missing, 1, E), MT_ENOTFOUND);
    T_RC(mt_store_torrent_set_finished(st, missing, 1, E), MT_ENOTFOUND);
    T_RC(mt_store_torrent_get(st, missing, &got, E), MT_ENOTFOUND);
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_torrent_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(list[0].id, a.id, 20);
    ck_assert_int_eq(list[0].paused, 0);
    ck_assert_int_eq(list[0].finished, 0);
    ck_assert_uint_eq(list[0].resume_len, sizeof r1);
    ck_assert_mem_eq(list[0].resume, r1, sizeof r1);
    ck_assert_mem_eq(list[0].torrent, tbytes, a.torrent_len);
    ck_assert_mem_eq(list[1].id, b.id, 20);
    ck_assert_int_eq(list[1].paused, 1);
    ck_assert_int_eq(list[1].finished, 1);
    ck_assert_uint_eq(list[1].resume_len, sizeof r2 - 1);
    ck_assert_mem_eq(list[1].resume, r2, sizeof r2 - 1);
    ck_assert_int_eq(list[1].sub_id, 2);
    for (i = 0; i < n; i++)
        mt_torrent_row_clear(&list[i]);
    mt_free(list);

    T_OK(mt_store_torrent_set_resume(st, a.id, NULL, 0, E));
    T_OK(mt_store_torrent_get(st, a.id, &got, E));
    ck_assert_ptr_null(got.resume);
    ck_assert_uint_eq(got.resume_len, 0);
    mt_torrent_row_clear(&got);
    T_OK(mt_store_torrent_remove(st, a.id, E));
    T_RC(mt_store_torrent_remove(st, a.id, E), MT_ENOTFOUND);
    T_RC(mt_store_torrent_get(st, a.id, &got, E), MT_ENOTFOUND);
    T_OK(mt_store_torrent_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 1);
    mt_torrent_row_clear(&list[0]);
    mt_free(list);
    mt_store_close(st);
}
END_TEST

/* ---------------------------------------------------- published feeds */

START_TEST(pub_rows)
{
    char path[256];
    mt_store *st;
    mt_pub a, a2, b, c, got, *list = NULL;
    size_t n = 0, i;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_pub_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 0);
    t_pub(&a, "", 1, 1, t_manifest1);     /* no salt */
    t_pub(&b, "music", 1, 2, t_manifest2);
    t_pub(&c, "", 2, 3, t_manifest9);     /* same name, other key */
    T_OK(mt_store_pub_set(st, &a, E));
    T_OK(mt_store_pub_set(st, &b, E));
    T_OK(mt_store_pub_set(st, &c, E));
    T_RC(mt_store_pub_get(st, "music", c.pk, &got, E), MT_ENOTFOUND);
    T_OK(mt_store_pub_get(st, "", a.pk, &got, E));
    t_pub_eq(&got, &a);
    mt_pub_clear(&got);
    ck_assert_ptr_null(got.manifest);

    /* Set again: replaces the row for (name, pk). */
    t_pub(&a2, "", 1, 4, t_manifest9);
    a2.v = NULL;
    a2.v_len = 0;
    T_OK(mt_store_pub_set(st, &a2, E));
    T_OK(mt_store_pub_get(st, "", a.pk, &got, E));
    t_pub_eq(&got, &a2);
    ck_assert_ptr_null(got.v);
    mt_pub_clear(&got);

    /* set_put touches only the put fields. */
    T_OK(mt_store_pub_set_put(st, "music", b.pk, 777777, 23, E));
    T_RC(mt_store_pub_set_put(st, "nope", b.pk, 1, 1, E), MT_ENOTFOUND);
    b.last_put_ms = 777777;
    b.last_put_nodes = 23;
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_pub_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 3);
    t_pub_eq(&list[0], &a2); /* ordered by name, then key */
    t_pub_eq(&list[1], &c);
    t_pub_eq(&list[2], &b);
    for (i = 0; i < n; i++)
        mt_pub_clear(&list[i]);
    mt_free(list);

    memset(a.name, 'n', sizeof a.name);
    T_RC(mt_store_pub_set(st, &a, E), MT_EINVAL);
    T_RC(mt_store_pub_get(st, a.name, a.pk, &got, E), MT_EINVAL);
    t_pub(&a, "x", 1, 1, t_manifest1);
    memset(a.ws, 'w', sizeof a.ws);
    T_RC(mt_store_pub_set(st, &a, E), MT_EINVAL);
    mt_store_close(st);
}
END_TEST

/* ------------------------------------------------------------------ kv */

START_TEST(kv_settings)
{
    char path[256], *v = (char *)1;
    mt_store *st;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_RC(mt_store_kv_get(st, "dht.id", &v, E), MT_ENOTFOUND);
    ck_assert_ptr_null(v);
    T_OK(mt_store_kv_set(st, "dht.id", "first", E));
    T_OK(mt_store_kv_set(st, "dht.id", "second", E));
    T_OK(mt_store_kv_set(st, "empty", "", E));
    T_RC(mt_store_kv_set(st, "", "x", E), MT_EINVAL);
    T_RC(mt_store_kv_set(st, "k", NULL, E), MT_EINVAL);
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_kv_get(st, "dht.id", &v, E));
    ck_assert_str_eq(v, "second");
    mt_free(v);
    T_OK(mt_store_kv_get(st, "empty", &v, E));
    ck_assert_str_eq(v, "");
    mt_free(v);
    mt_store_close(st);
}
END_TEST

START_TEST(api_misuse)
{
    char path[256];
    mt_store *st = (mt_store *)1;
    mt_sub s;
    int64_t seq;

    T_RC(mt_store_open(NULL, &st, E), MT_EINVAL);
    ck_assert_ptr_null(st);
    T_RC(mt_store_open("", &st, E), MT_EINVAL);
    T_RC(mt_store_open("/nonexistent-dir/x/store.db", &st, E), MT_EIO);
    mt_store_close(NULL);
    mt_accepted_clear(NULL);
    mt_pub_clear(NULL);
    mt_torrent_row_clear(NULL);
    t_path("store.db", path, sizeof path);
    T_RC(mt_store_open(path, NULL, E), MT_EINVAL);
    st = t_open(path);
    T_RC(mt_store_sub_get(st, 1, NULL, E), MT_EINVAL);
    T_RC(mt_store_sub_list(st, NULL, NULL, E), MT_EINVAL);
    T_RC(mt_store_seq_get(st, NULL, NULL, 0, &seq, E), MT_EINVAL);
    T_RC(mt_store_accept(st, 0, s.pk, NULL, 0, NULL, NULL, 0, E), MT_EINVAL);
    T_RC(mt_store_torrent_get(st, NULL, NULL, E), MT_EINVAL);
    T_RC(mt_store_kv_get(st, "k", NULL, E), MT_EINVAL);
    /* err may be NULL. */
    ck_assert_int_eq(mt_store_sub_get(st, 1, &s, NULL), MT_ENOTFOUND);
    mt_store_close(st);
}
END_TEST

/* ------------------------------------------------------- fetches, pins */

static mt_fetch_row t_fetch(int64_t id, int state, const char *entry)
{
    mt_fetch_row f;
    memset(&f, 0, sizeof f);
    f.id = id;
    f.sub_id = id % 3;
    f.state = state;
    snprintf(f.out, sizeof f.out, "/downloads/file-%lld", (long long)id);
    snprintf(f.name, sizeof f.name, "file-%lld", (long long)id);
    snprintf(f.error, sizeof f.error, "%s", state == MT_STORE_FETCH_FAILED ? "no peer has chunk 2" : "");
    snprintf(f.peers, sizeof f.peers, "127.0.0.1:6881,[::1]:6882");
    f.entry = (char *)entry;
    f.entry_len = entry ? strlen(entry) : 0;
    return f;
}

static void t_fetch_eq(const mt_fetch_row *got, const mt_fetch_row *want)
{
    ck_assert_int_eq(got->id, want->id);
    ck_assert_int_eq(got->sub_id, want->sub_id);
    ck_assert_int_eq(got->state, want->state);
    ck_assert_str_eq(got->out, want->out);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_str_eq(got->error, want->error);
    ck_assert_str_eq(got->peers, want->peers);
    if (!want->entry) {
        ck_assert_ptr_null(got->entry);
    } else {
        ck_assert_ptr_nonnull(got->entry);
        ck_assert_str_eq(got->entry, want->entry);
        ck_assert_uint_eq(got->entry_len, want->entry_len);
    }
}

START_TEST(fetch_rows)
{
    char path[256];
    mt_store *st;
    mt_fetch_row a = t_fetch(4, MT_STORE_FETCH_RUNNING, "{\"name\":\"a\",\"size\":3}");
    mt_fetch_row b = t_fetch(2, MT_STORE_FETCH_FAILED, NULL);
    mt_fetch_row both[2], got, *list = NULL, bad;
    size_t n = 9;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_fetch_list(st, &list, &n, E));
    ck_assert_ptr_null(list);
    ck_assert_uint_eq(n, 0);
    both[0] = a;
    both[1] = b;
    T_OK(mt_store_fetch_put(st, both, 2, E));
    T_OK(mt_store_fetch_put(st, NULL, 0, E));
    /* Replace by id: the fetch finished and dropped its keys. */
    a.state = MT_STORE_FETCH_DONE;
    a.entry = "{\"size\":3}";
    a.entry_len = strlen(a.entry);
    T_OK(mt_store_fetch_put(st, &a, 1, E));

    /* A bad row anywhere refuses the whole call. */
    bad = t_fetch(9, 7, NULL);
    both[0] = t_fetch(8, MT_STORE_FETCH_RUNNING, NULL);
    both[1] = bad;
    T_RC(mt_store_fetch_put(st, both, 2, E), MT_EINVAL);
    bad = t_fetch(0, MT_STORE_FETCH_RUNNING, NULL);
    T_RC(mt_store_fetch_put(st, &bad, 1, E), MT_EINVAL);
    bad = t_fetch(9, MT_STORE_FETCH_RUNNING, "{}");
    bad.entry_len = 3; /* runs past the NUL */
    T_RC(mt_store_fetch_put(st, &bad, 1, E), MT_EINVAL);
    bad = t_fetch(9, MT_STORE_FETCH_RUNNING, NULL);
    memset(bad.name, 'x', sizeof bad.name);
    T_RC(mt_store_fetch_put(st, &bad, 1, E), MT_EINVAL);
    T_RC(mt_store_fetch_get(st, 8, &got, E), MT_ENOTFOUND);
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_fetch_list(st, &list, &n, E));
    ck_assert_uint_eq(n, 2);
    t_fetch_eq(&list[0], &b); /* ordered by id */
    t_fetch_eq(&list[1], &a);
    for (size_t i = 0; i < n; i++)
        mt_fetch_row_clear(&list[i]);
    mt_free(list);
    T_OK(mt_store_fetch_get(st, 4, &got, E));
    t_fetch_eq(&got, &a);
    mt_fetch_row_clear(&got);
    T_OK(mt_store_fetch_remove(st, 4, E));
    T_RC(mt_store_fetch_remove(st, 4, E), MT_ENOTFOUND);
    T_RC(mt_store_fetch_get(st, 4, &got, E), MT_ENOTFOUND);
    mt_fetch_row_clear(&got);
    mt_fetch_row_clear(NULL);
    mt_store_close(st);
}
END_TEST

#define T_ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define T_ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define T_ID_C "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

START_TEST(pin_rows)
{
    char path[256], tag129[130];
    mt_store *st;
    mt_pin_row *list = NULL;
    size_t n = 0;

    t_path("store.db", path, sizeof path);
    st = t_open(path);
    T_OK(mt_store_pin_add(st, "seed:01", (const char *const[]){ T_ID_C, T_ID_A, T_ID_A }, 3, E));
    T_OK(mt_store_pin_add(st, "feed:x", (const char *const[]){ T_ID_B }, 1, E));
    T_OK(mt_store_pin_add(st, "seed:01", (const char *const[]){ T_ID_B, T_ID_C }, 2, E)); /* adds */
    T_OK(mt_store_pin_add(st, "empty", NULL, 0, E));
    /* Refused as a whole: nothing of the call is kept. */
    T_RC(mt_store_pin_add(st, "feed:y", (const char *const[]){ T_ID_A, "ABC" }, 2, E), MT_EINVAL);
    T_RC(mt_store_pin_add(st, "feed:y", (const char *const[]){ T_ID_A, NULL }, 2, E), MT_EINVAL);
    T_RC(mt_store_pin_add(st, "feed:y",
                          (const char *const[]){ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, 1, E),
         MT_EINVAL);
    T_RC(mt_store_pin_add(st, "", (const char *const[]){ T_ID_A }, 1, E), MT_EINVAL);
    memset(tag129, 't', 129);
    tag129[129] = '\0';
    T_RC(mt_store_pin_add(st, tag129, (const char *const[]){ T_ID_A }, 1, E), MT_EINVAL);
    tag129[128] = '\0';
    T_OK(mt_store_pin_add(st, tag129, (const char *const[]){ T_ID_A }, 1, E));
    mt_store_close(st);

    st = t_open(path);
    T_OK(mt_store_pin_list(st, NULL, &list, &n, E));
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(list[0].tag, "feed:x");
    ck_assert_str_eq(list[0].blob_id, T_ID_B);
    ck_assert_str_eq(list[1].tag, "seed:01");
    ck_assert_str_eq(list[1].blob_id, T_ID_B);
    ck_assert_str_eq(list[2].blob_id, T_ID_A);
    ck_assert_str_eq(list[3].blob_id, T_ID_C);
    ck_assert_str_eq(list[4].tag, tag129);
    mt_free(list);
    T_OK(mt_store_pin_list(st, "seed:01", &list, &n, E));
    ck_assert_uint_eq(n, 3);
    mt_free(list);
    T_OK(mt_store_pin_list(st, "feed:y", &list, &n, E));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(list);
    T_OK(mt_store_pin_remove(st, "seed:01", E));
    T_OK(mt_store_pin_remove(st, "never", E));
    T_OK(mt_store_pin_list(st, NULL, &list, &n, E));
    ck_assert_uint_eq(n, 2);
    mt_free(list);
    mt_store_close(st);
}
END_TEST

/* The schema as the store before mt_db (version 1) created it, verbatim. */
static const char T_V1_SCHEMA[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
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
    "PRAGMA application_id=1297371988; PRAGMA user_version=1;"
    "INSERT INTO meta(k, v) VALUES('app', 'megatorrent-store');";

/* Version 1's fetch list: kept, done, failed, and rows its loader skipped. */
static const char T_V1_FETCHES[] =
    "[{\"id\":3,\"sub\":1,\"out\":\"/dl/a.bin\",\"name\":\"a.bin\",\"state\":\"running\",\"error\":\"\","
    "\"peers\":\"h:1\",\"entry\":{\"name\":\"a.bin\",\"size\":5,\"chunks\":[{\"key\":\"k\"}]}},"
    "{\"id\":5,\"sub\":0,\"out\":\"/dl/b\",\"name\":\"b\",\"state\":\"done\",\"error\":\"\",\"peers\":\"\","
    "\"entry\":{\"size\":10}},"
    "{\"id\":7,\"sub\":1,\"out\":\"/dl/c\",\"name\":\"c\",\"state\":\"failed\",\"error\":\"gone\",\"peers\":\"\"},"
    "{\"sub\":1,\"out\":\"/dl/no-id\",\"state\":\"running\"},"
    "{\"id\":9,\"out\":\"/dl/no-state\"},"
    "{\"id\":5,\"out\":\"/dl/again\",\"state\":\"running\"},"
    "\"not an object\"]";

START_TEST(migrates_version1_file)
{
    char path[256], *v = NULL;
    mt_store *st;
    mt_sub s;
    mt_item_row *items = NULL;
    mt_torrent_row t;
    mt_pub p;
    mt_fetch_row *f = NULL;
    size_t n = 0;
    sqlite3 *db;
    sqlite3_stmt *q;

    t_path("v1.db", path, sizeof path);
    t_sql(path, "PRAGMA journal_mode=WAL");
    t_sql(path, T_V1_SCHEMA);
    t_sql(path,
          "INSERT INTO sub(address, pk, salt, save_path, include_re, exclude_re, category, add_paused,"
          " max_items, interval_s, created_ms) VALUES('magnet:?xs=old', zeroblob(32), x'', '/dl', '', '',"
          " 'tv', 0, 0, 0, 42);"
          "INSERT INTO accepted(pk, salt, seq, manifest, ih, v, sig, accepted_ms)"
          " VALUES(zeroblob(32), x'', 6, '{\"sequence\":6}', NULL, x'6931', zeroblob(64), 43);"
          "INSERT INTO item(sub_id, key, seq, collection, name, torrent_id, skipped) VALUES(1,"
          " '0000000000000000000000000000000000000000000000000000000000000001', 6, 'c', 'n', NULL, 0);"
          "INSERT INTO torrent(id, uri, torrent, resume, save_path, sub_id, category, paused, finished, kind,"
          " added_ms) VALUES(zeroblob(20), 'magnet:?xt=x', NULL, x'64', '/dl', 1, 'tv', 1, 0, 2, 44);"
          "INSERT INTO pub(name, pk, seq, manifest, is_inline, ih, v, sig, ws, published_ms, last_put_ms,"
          " last_put_nodes) VALUES('daily', zeroblob(32), 2, '{}', 1, zeroblob(20), x'', zeroblob(64), '', 1,"
          " 2, 3);"
          "INSERT INTO kv(k, v) VALUES('dht.id', 'node');");
    db = t_db(path);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO kv(k, v) VALUES('blob.fetches', ?1)", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, T_V1_FETCHES, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);

    st = t_open(path);
    mt_store_close(st);
    ck_assert_int_eq(t_sql_int(path, "PRAGMA user_version"), T_VERSION);
    st = t_open(path);
    /* Version 1's rows, as they were. */
    T_OK(mt_store_sub_get(st, 1, &s, E));
    ck_assert_str_eq(s.address, "magnet:?xs=old");
    ck_assert_int_eq(s.seq, 6);
    ck_assert_int_eq(s.items, 1);
    ck_assert_int_eq(s.created_ms, 42);
    T_OK(mt_store_item_list(st, 1, &items, &n, E));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(items[0].name, "n");
    mt_free(items);
    T_OK(mt_store_torrent_get(st, (const uint8_t[20]){ 0 }, &t, E));
    ck_assert_int_eq(t.kind, 2);
    ck_assert_uint_eq(t.resume_len, 1);
    mt_torrent_row_clear(&t);
    T_OK(mt_store_pub_get(st, "daily", (const uint8_t[32]){ 0 }, &p, E));
    ck_assert_int_eq(p.last_put_nodes, 3);
    mt_pub_clear(&p);
    T_OK(mt_store_kv_get(st, "dht.id", &v, E));
    ck_assert_str_eq(v, "node");
    mt_free(v);

    /* The kv fetch list became rows and is gone from kv. */
    T_RC(mt_store_kv_get(st, "blob.fetches", &v, E), MT_ENOTFOUND);
    T_OK(mt_store_fetch_list(st, &f, &n, E));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(f[0].id, 3);
    ck_assert_int_eq(f[0].sub_id, 1);
    ck_assert_int_eq(f[0].state, MT_STORE_FETCH_RUNNING);
    ck_assert_str_eq(f[0].out, "/dl/a.bin");
    ck_assert_str_eq(f[0].name, "a.bin");
    ck_assert_str_eq(f[0].peers, "h:1");
    ck_assert_str_eq(f[0].entry, "{\"name\":\"a.bin\",\"size\":5,\"chunks\":[{\"key\":\"k\"}]}");
    ck_assert_int_eq(f[1].id, 5);
    ck_assert_int_eq(f[1].state, MT_STORE_FETCH_DONE);
    ck_assert_str_eq(f[1].entry, "{\"size\":10}");
    ck_assert_int_eq(f[2].id, 7);
    ck_assert_int_eq(f[2].state, MT_STORE_FETCH_FAILED);
    ck_assert_str_eq(f[2].error, "gone");
    ck_assert_ptr_null(f[2].entry);
    for (size_t i = 0; i < n; i++)
        mt_fetch_row_clear(&f[i]);
    mt_free(f);
    mt_store_close(st);
}
END_TEST

/* A version 1 file whose kv fetch list is not valid JSON still opens. */
START_TEST(migrates_damaged_fetch_list)
{
    char path[256], *v = NULL;
    mt_store *st;
    mt_fetch_row *f = NULL;
    size_t n = 9;

    t_path("v1.db", path, sizeof path);
    t_sql(path, T_V1_SCHEMA);
    t_sql(path, "INSERT INTO kv(k, v) VALUES('blob.fetches', '[{\"id\":1,'), ('other', 'x')");
    st = t_open(path);
    T_OK(mt_store_fetch_list(st, &f, &n, E));
    ck_assert_uint_eq(n, 0);
    T_RC(mt_store_kv_get(st, "blob.fetches", &v, E), MT_ENOTFOUND);
    T_OK(mt_store_kv_get(st, "other", &v, E));
    mt_free(v);
    mt_store_close(st);

    /* An object instead of the array: no rows either. */
    t_path("v1b.db", path, sizeof path);
    t_sql(path, T_V1_SCHEMA);
    t_sql(path, "INSERT INTO kv(k, v) VALUES('blob.fetches', '{\"id\":1,\"state\":\"done\"}')");
    st = t_open(path);
    T_OK(mt_store_fetch_list(st, &f, &n, E));
    ck_assert_uint_eq(n, 0);
    mt_store_close(st);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *file = tcase_create("file");
    TCase *sub = tcase_create("subscriptions");
    TCase *acc = tcase_create("accept");
    TCase *rows = tcase_create("rows");
    TCase *mig = tcase_create("migrate");

    tcase_add_test(file, open_creates_private_wal_file);
    tcase_add_test(file, open_plain_file_names);
    tcase_add_test(file, refuses_foreign_sqlite_file);
    tcase_add_test(file, refuses_non_database_file);
    tcase_add_test(file, refuses_newer_schema_version);
    tcase_add_test(file, reopen_persists_everything);
    tcase_add_test(file, accept_survives_kill9);
    tcase_add_test(file, api_misuse);
    suite_add_tcase(s, file);

    tcase_add_test(sub, sub_add_get_find_list);
    tcase_add_test(sub, sub_remove_keeps_accepted_seq);
    tcase_add_test(sub, sub_rejects_bad_input);
    tcase_add_test(sub, sub_set_status);
    suite_add_tcase(s, sub);

    tcase_add_test(acc, accept_stale_changes_nothing);
    tcase_add_test(acc, accept_checks_subscription);
    tcase_add_test(acc, items_dedup_across_calls_and_reopen);
    tcase_add_test(acc, accept_rolls_back_on_failure);
    suite_add_tcase(s, acc);

    tcase_add_test(rows, torrent_rows);
    tcase_add_test(rows, pub_rows);
    tcase_add_test(rows, kv_settings);
    tcase_add_test(rows, fetch_rows);
    tcase_add_test(rows, pin_rows);
    suite_add_tcase(s, rows);

    tcase_add_test(mig, migrates_version1_file);
    tcase_add_test(mig, migrates_damaged_fetch_list);
    suite_add_tcase(s, mig);
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
    SRunner *sr = srunner_create(store_suite());
    int failed;
    snprintf(g_base, sizeof g_base, "/tmp/mt-check-store-XXXXXX");
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
