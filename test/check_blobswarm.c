/*
 * check_blobswarm.c - packs and fetches on real libtorrent sessions over
 * loopback: a file ingested on one host comes back byte for byte on
 * another through the pack's swarm, through an HTTP web seed alone (the
 * .torrent from the magnet's xs=), and through mt-wire hosts found by a
 * DHT lookup of the blob id; corrupted blobs are detected and fetched
 * again; a fetch resumes from the blobs already on disk.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "httpd.h"
#include "mt_blob.h"
#include "mt_blobswarm.h"
#include "mt_testnet.h"
#include "mt_wire.h"
#include "testfs.h"
#include "testutil.h"

#define FILE_BYTES (3u * 1024 * 1024 + 12345) /* 4 chunks, the last one short */
#define FETCH_MS 60000

static char g_base[64];

static void base_up(void)
{
    t_fmt(g_base, sizeof g_base, "/tmp/mt-check-blobswarm-XXXXXX");
    ck_assert(mkdtemp(g_base) != NULL);
}

static void base_down(void)
{
    t_rm_rf(g_base);
}

static void t_dir(char *out, size_t cap, const char *name)
{
    t_fmt(out, cap, "%s/%s", g_base, name);
    ck_assert_msg(mkdir(out, 0700) == 0, "mkdir %s", out);
}

static uint8_t *t_read_all(const char *path, size_t *len)
{
    char *buf = NULL;
    mt_error err;
    ck_assert_msg(mt_file_read(path, 1u << 30, &buf, len, &err) == 0, "read %s: %s", path, err.message);
    return (uint8_t *)buf;
}

static void t_write_random(const char *path, size_t len)
{
    uint8_t *buf = malloc(len);
    mt_error err;
    ck_assert(buf);
    randombytes_buf(buf, len);
    ck_assert_msg(mt_file_write_atomic(path, buf, len, 0600, 1, &err) == 0, "%s", err.message);
    free(buf);
}

static void t_same(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = t_read_all(a, &la), *y = t_read_all(b, &lb);
    ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s and %s differ (%zu vs %zu bytes)", a, b, la, lb);
    free(x);
    free(y);
}

static mt_session *t_session(const char *addr, int dht, const char *nodes)
{
    char listen[64];
    mt_session_config cfg;
    mt_session *s = NULL;
    mt_error err;
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    t_fmt(listen, sizeof listen, "%s:0", addr);
    mt_session_config_init_loopback(&cfg, listen);
    cfg.outgoing_interfaces = addr;
    cfg.enable_dht = dht;
    cfg.dht_nodes = nodes;
    ck_assert_msg(mt_session_new(&cfg, &s, &err) == 0, "session on %s: %s", addr, err.message);
    while (mt_session_listen_port(s) <= 0) {
        ck_assert_msg(mt_now_ms() < deadline, "session on %s does not listen", addr);
        t_sleep_ms(10);
    }
    return s;
}

/* Ingest src into dir; the entry and its blob ids. */
static mt_fileentry *t_ingest(const char *src, const char *dir)
{
    mt_fileentry *fe = NULL;
    mt_error err;
    ck_assert_msg(mt_blob_ingest_file(src, dir, NULL, &fe, &err) == 0, "ingest: %s", err.message);
    ck_assert_uint_eq(fe->n_chunks, 4);
    return fe;
}

/* Pack fe's blobs in dir; *magnet gets the pack magnet. */
static uint8_t *t_pack(const mt_fileentry *fe, const char *dir, const char *ws, size_t *len, char **magnet,
                       uint8_t id[20])
{
    const char *ids[16];
    uint8_t *t = NULL;
    mt_error err;
    for (size_t i = 0; i < fe->n_chunks; i++)
        ids[i] = fe->chunks[i].blob_id;
    ck_assert_msg(mt_pack_create(dir, ids, fe->n_chunks, 1, ws ? &ws : NULL, ws ? 1 : 0, &t, len, magnet, id,
                                 &err) == 0,
                  "pack: %s", err.message);
    return t;
}

/* Seed a pack from the blobs in dir. */
static void t_seed(mt_session *s, const uint8_t *t, size_t len, const char *dir, unsigned flags)
{
    mt_add_params ap;
    uint8_t id[20];
    mt_error err;
    memset(&ap, 0, sizeof ap);
    ap.torrent = t;
    ap.torrent_len = len;
    ap.save_path = dir;
    ap.flags = MT_ADD_FLAT | flags;
    ck_assert_msg(mt_torrent_add(s, &ap, id, &err) == 0, "seed: %s", err.message);
}

/*
 * Drive a fetch to its end, pumping the sessions given (the fetcher's
 * first). connect (may be NULL): "ip:port" of a seeder to dial once the
 * pack is in; later (may be NULL): one to dial once a piece has failed its
 * hash check (so the first seeder's pieces were tried first, however slowly
 * it answered). Returns the final state.
 */
static mt_blobfetch_state t_run2(mt_blobfetch *f, mt_session **ss, size_t n, const char *connect,
                                 const char *later, mt_blobfetch_progress *pr)
{
    int64_t start = mt_now_ms(), deadline = start + FETCH_MS;
    int dialed = 0, dialed2 = 0;
    while (mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING) {
        mt_event ev;
        memset(&ev, 0, sizeof ev);
        ck_assert_msg(mt_now_ms() < deadline, "fetch did not end in %d ms", FETCH_MS);
        mt_blobfetch_get_progress(f, pr);
        if (connect && !dialed && pr->has_pack)
            dialed = mt_torrent_connect_peer(ss[0], pr->pack_id, connect, NULL) == 0;
        if (later && !dialed2 && pr->has_pack && pr->hash_failed >= 1)
            dialed2 = mt_torrent_connect_peer(ss[0], pr->pack_id, later, NULL) == 0;
        while (mt_session_next_event(ss[0], &ev) == 1) {
            mt_blobfetch_event(f, &ev);
            mt_event_clear(&ev);
        }
        for (size_t i = 1; i < n; i++)
            while (mt_session_next_event(ss[i], &ev) == 1)
                mt_event_clear(&ev);
        mt_blobfetch_tick(f);
        t_sleep_ms(20);
    }
    mt_blobfetch_get_progress(f, pr);
    return mt_blobfetch_get_state(f);
}

static mt_blobfetch_state t_run(mt_blobfetch *f, mt_session **ss, size_t n, const char *connect,
                                mt_blobfetch_progress *pr)
{
    return t_run2(f, ss, n, connect, NULL, pr);
}

static void t_endpoint(mt_session *s, const char *addr, char *out, size_t cap)
{
    t_fmt(out, cap, "%s:%d", addr, mt_session_listen_port(s));
}

/* ------------------------------------------------------------------ tests */

/* A seeds a pack; C fetches the file through the swarm, wanting only its
 * blobs, and the output is the file. */
START_TEST(test_swarm_fetch)
{
    char a_dir[128], c_dir[128], src[160], out[160], ep[64];
    size_t tlen;
    char *magnet = NULL;
    uint8_t pid[20];
    mt_error err;
    mt_blobfetch *f = NULL;
    mt_blobfetch_progress pr;
    mt_blobfetch_opts o;

    base_up();
    t_dir(a_dir, sizeof a_dir, "a");
    t_dir(c_dir, sizeof c_dir, "c");
    t_fmt(src, sizeof src, "%s/source.bin", g_base);
    t_fmt(out, sizeof out, "%s/out.bin", g_base);
    t_write_random(src, FILE_BYTES);
    mt_fileentry *fe = t_ingest(src, a_dir);
    uint8_t *t = t_pack(fe, a_dir, NULL, &tlen, &magnet, pid);
    ck_assert_int_eq(mt_fileentry_set_swarm(fe, magnet, &err), 0);

    mt_session *a = t_session("127.0.90.1", 0, NULL), *c = t_session("127.0.90.2", 0, NULL);
    t_seed(a, t, tlen, a_dir, MT_ADD_SEED_MODE);
    t_endpoint(a, "127.0.90.1", ep, sizeof ep);
    mt_blobfetch_opts_init(&o);
    o.blob_dir = c_dir;
    o.out_path = out;
    o.stall_ms = -1;
    ck_assert_msg(mt_blobfetch_start(c, fe, &o, &f, &err) == 0, "start: %s", err.message);
    mt_session *ss[] = {c, a};
    mt_blobfetch_state st = t_run(f, ss, 2, ep, &pr);
    mt_error fe_err;
    mt_blobfetch_get_error(f, &fe_err);
    ck_assert_msg(st == MT_BLOBFETCH_DONE, "fetch failed: %s", fe_err.message);
    ck_assert_uint_eq(pr.from_swarm, 4);
    ck_assert_uint_eq(pr.from_disk, 0);
    t_same(src, out);
    t_fmt(ep, sizeof ep, "%s.mtpart", out);
    ck_assert_int_ne(access(ep, F_OK), 0);
    /* The fetcher's blob folder holds the blobs flat, by id. */
    for (size_t i = 0; i < fe->n_chunks; i++) {
        char p[256];
        t_fmt(p, sizeof p, "%s/%s", c_dir, fe->chunks[i].blob_id);
        ck_assert_msg(access(p, F_OK) == 0, "blob %s not in the fetcher's folder", fe->chunks[i].blob_id);
    }
    mt_blobfetch_free(f, 0);

    /* A second fetch of the same entry resumes from disk: no swarm needed. */
    ck_assert_int_eq(unlink(out), 0);
    ck_assert_int_eq(mt_blobfetch_start(c, fe, &o, &f, &err), 0);
    ck_assert_int_eq(mt_blobfetch_get_state(f), MT_BLOBFETCH_DONE);
    mt_blobfetch_get_progress(f, &pr);
    ck_assert_uint_eq(pr.from_disk, 4);
    t_same(src, out);
    mt_blobfetch_free(f, 0);
    /* An existing output is not overwritten. */
    ck_assert_int_eq(mt_blobfetch_start(c, fe, &o, &f, &err), MT_EEXIST);

    mt_session_free(c);
    mt_session_free(a);
    mt_fileentry_free(fe);
    mt_free(t);
    free(magnet);
    base_down();
}
END_TEST

/* Only an HTTP web seed holds the pack: metadata from xs=, bytes by Range. */
START_TEST(test_web_seed_only)
{
    char root[128], blobs[160], c_dir[128], src[160], out[160], ws[96];
    size_t tlen;
    char *magnet = NULL;
    uint8_t pid[20];
    mt_error err;
    mt_blobfetch *f = NULL;
    mt_blobfetch_progress pr;
    mt_blobfetch_opts o;
    mt_test_httpd *h = NULL;

    base_up();
    t_dir(root, sizeof root, "www");
    t_fmt(blobs, sizeof blobs, "%s/" MT_PACK_NAME, root);
    ck_assert_int_eq(mkdir(blobs, 0700), 0);
    t_dir(c_dir, sizeof c_dir, "c");
    t_fmt(src, sizeof src, "%s/source.bin", g_base);
    t_fmt(out, sizeof out, "%s/out.bin", g_base);
    t_write_random(src, FILE_BYTES);
    ck_assert_int_eq(mt_test_httpd_start("127.0.91.1", 0, root, &h), 0);
    t_fmt(ws, sizeof ws, "http://127.0.91.1:%d/", mt_test_httpd_port(h));

    mt_fileentry *fe = t_ingest(src, blobs);
    uint8_t *t = t_pack(fe, blobs, ws, &tlen, &magnet, pid);
    ck_assert_ptr_nonnull(strstr(magnet, "&xs="));
    ck_assert_int_eq(mt_fileentry_set_swarm(fe, magnet, &err), 0);

    mt_session *c = t_session("127.0.91.2", 0, NULL);
    mt_blobfetch_opts_init(&o);
    o.blob_dir = c_dir;
    o.out_path = out;
    o.stall_ms = -1;
    ck_assert_msg(mt_blobfetch_start(c, fe, &o, &f, &err) == 0, "start: %s", err.message);
    mt_session *ss[] = {c};
    mt_blobfetch_state st = t_run(f, ss, 1, NULL, &pr);
    mt_error fe_err;
    mt_blobfetch_get_error(f, &fe_err);
    ck_assert_msg(st == MT_BLOBFETCH_DONE, "fetch failed: %s", fe_err.message);
    ck_assert_uint_eq(pr.from_swarm, 4);
    ck_assert_int_gt(mt_test_httpd_ok_requests(h), 1); /* the .torrent and ranges */
    t_same(src, out);
    mt_blobfetch_free(f, 0);
    mt_session_free(c);
    mt_test_httpd_stop(h);
    mt_fileentry_free(fe);
    mt_free(t);
    free(magnet);
    base_down();
}
END_TEST

/* Flip one byte in the middle of a file. */
static void t_flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    ck_assert(fd >= 0);
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* Wait until s says torrent id is seeding. */
static void t_wait_seeding(mt_session *s, const uint8_t id[20])
{
    int64_t deadline = mt_now_ms() + FETCH_MS;
    mt_torrent_status st;
    mt_event ev;
    for (;;) {
        memset(&ev, 0, sizeof ev);
        while (mt_session_next_event(s, &ev) == 1)
            mt_event_clear(&ev);
        ck_assert_int_eq(mt_torrent_get_status(s, id, &st, NULL), 0);
        if (st.state == MT_TS_SEEDING)
            return;
        ck_assert_msg(mt_now_ms() < deadline, "no seeding state");
        t_sleep_ms(20);
    }
}

/*
 * B hosts the pack, checked and seeding, and then its disk corrupts every
 * blob (libtorrent serves a seeding torrent's bytes without re-checking
 * them); A holds good copies. C dials B first: the bad pieces are detected
 * by their hashes and fetched again from A; the output is the file.
 */
START_TEST(test_corrupt_host)
{
    char a_dir[128], b_dir[128], c_dir[128], src[160], out[160], ep_a[64], ep_b[64], p[256];
    size_t tlen;
    char *magnet = NULL;
    uint8_t pid[20];
    mt_error err;
    mt_blobfetch *f = NULL;
    mt_blobfetch_progress pr;
    mt_blobfetch_opts o;

    base_up();
    t_dir(a_dir, sizeof a_dir, "a");
    t_dir(b_dir, sizeof b_dir, "b");
    t_dir(c_dir, sizeof c_dir, "c");
    t_fmt(src, sizeof src, "%s/source.bin", g_base);
    t_fmt(out, sizeof out, "%s/out.bin", g_base);
    t_write_random(src, FILE_BYTES);
    mt_fileentry *fe = t_ingest(src, a_dir);
    uint8_t *t = t_pack(fe, a_dir, NULL, &tlen, &magnet, pid);
    ck_assert_int_eq(mt_fileentry_set_swarm(fe, magnet, &err), 0);
    for (size_t i = 0; i < fe->n_chunks; i++) {
        char from[256];
        size_t n;
        t_fmt(from, sizeof from, "%s/%s", a_dir, fe->chunks[i].blob_id);
        t_fmt(p, sizeof p, "%s/%s", b_dir, fe->chunks[i].blob_id);
        uint8_t *x = t_read_all(from, &n);
        ck_assert_int_eq(mt_file_write_atomic(p, x, n, 0600, 1, &err), 0);
        free(x);
    }
    mt_session *a = t_session("127.0.92.1", 0, NULL), *b = t_session("127.0.92.2", 0, NULL),
               *c = t_session("127.0.92.3", 0, NULL);
    t_seed(a, t, tlen, a_dir, MT_ADD_SEED_MODE);
    t_seed(b, t, tlen, b_dir, 0); /* full check: B is a genuine seed */
    t_wait_seeding(b, pid);
    for (size_t i = 0; i < fe->n_chunks; i++)
        for (off_t off = 1000; off < MT_BLOB_BYTES; off += 256 * 1024) {
            t_fmt(p, sizeof p, "%s/%s", b_dir, fe->chunks[i].blob_id);
            t_flip(p, off);
        }
    t_fmt(ep_a, sizeof ep_a, "127.0.92.1:%d", mt_session_listen_port(a));
    t_fmt(ep_b, sizeof ep_b, "127.0.92.2:%d", mt_session_listen_port(b));

    mt_blobfetch_opts_init(&o);
    o.blob_dir = c_dir;
    o.out_path = out;
    o.stall_ms = -1;
    ck_assert_msg(mt_blobfetch_start(c, fe, &o, &f, &err) == 0, "start: %s", err.message);
    mt_session *ss[] = {c, a, b};
    mt_blobfetch_state st = t_run2(f, ss, 3, ep_b, ep_a, &pr);
    mt_error fe_err;
    mt_blobfetch_get_error(f, &fe_err);
    ck_assert_msg(st == MT_BLOBFETCH_DONE, "fetch failed: %s", fe_err.message);
    ck_assert_msg(pr.hash_failed >= 1, "B's corrupted pieces were never detected");
    t_same(src, out);
    mt_blobfetch_free(f, 0);
    mt_session_free(c);
    mt_session_free(b);
    mt_session_free(a);
    mt_fileentry_free(fe);
    mt_free(t);
    free(magnet);
    base_down();
}
END_TEST

/* Wire server serving dir on addr. */
static mt_wire_server *t_wire(const char *addr, const char *dir, char *ep, size_t cap)
{
    mt_wire_server_config wc;
    mt_wire_server *w = NULL;
    mt_error err;
    char listen[64];
    t_fmt(listen, sizeof listen, "%s:0", addr);
    mt_wire_server_config_init(&wc);
    wc.listen = listen;
    wc.blob_dir = dir;
    ck_assert_msg(mt_wire_server_start(&wc, &w, &err) == 0, "wire: %s", err.message);
    t_fmt(ep, cap, "%s:%d", addr, mt_wire_server_port(w));
    return w;
}

/*
 * No swarm: hosts are found by a DHT lookup of each blob id (announced with
 * their mt-wire port) and the blobs fetched over mt-wire. One host serves a
 * corrupted copy of a blob: detected by its id and fetched from the other.
 */
START_TEST(test_wire_by_blob_id)
{
    char a_dir[128], b_dir[128], c_dir[128], src[160], out[160], ep_a[64], ep_b[64], p[256];
    mt_error err;
    mt_testnet *net = NULL;
    mt_blobfetch *f = NULL;
    mt_blobfetch_progress pr;
    mt_blobfetch_opts o;

    base_up();
    t_dir(a_dir, sizeof a_dir, "a");
    t_dir(b_dir, sizeof b_dir, "b");
    t_dir(c_dir, sizeof c_dir, "c");
    t_fmt(src, sizeof src, "%s/source.bin", g_base);
    t_fmt(out, sizeof out, "%s/out.bin", g_base);
    t_write_random(src, FILE_BYTES);
    mt_fileentry *fe = t_ingest(src, a_dir);
    /* B holds a copy of every blob; its copy of blob 2 is damaged. */
    for (size_t i = 0; i < fe->n_chunks; i++) {
        char from[256];
        size_t n;
        t_fmt(from, sizeof from, "%s/%s", a_dir, fe->chunks[i].blob_id);
        t_fmt(p, sizeof p, "%s/%s", b_dir, fe->chunks[i].blob_id);
        uint8_t *x = t_read_all(from, &n);
        ck_assert_int_eq(mt_file_write_atomic(p, x, n, 0600, 1, &err), 0);
        free(x);
    }
    t_fmt(p, sizeof p, "%s/%s", b_dir, fe->chunks[2].blob_id);
    t_flip(p, 4096);

    ck_assert_msg(mt_testnet_start("127.0.93.1", 6, 30000, &net, &err) == 0, "testnet: %s", err.message);
    mt_wire_server *wa = t_wire("127.0.93.21", a_dir, ep_a, sizeof ep_a);
    mt_wire_server *wb = t_wire("127.0.93.22", b_dir, ep_b, sizeof ep_b);
    /* Both hosts announce every blob id from a DHT node of their own IP
     * (the announce carries the wire port; the IP is the sender's). */
    mt_session *ha = t_session("127.0.93.21", 1, mt_testnet_bootstrap(net));
    mt_session *hb = t_session("127.0.93.22", 1, mt_testnet_bootstrap(net));
    mt_session *c = t_session("127.0.93.23", 1, mt_testnet_bootstrap(net));
    ck_assert_int_eq(mt_dht_wait_nodes(ha, 4, 30000, &err), 0);
    ck_assert_int_eq(mt_dht_wait_nodes(hb, 4, 30000, &err), 0);
    ck_assert_int_eq(mt_dht_wait_nodes(c, 4, 30000, &err), 0);
    for (size_t i = 0; i < fe->n_chunks; i++) {
        uint8_t ih[20];
        ck_assert_int_eq(mt_blob_dht_key(fe->chunks[i].blob_id, ih), 0);
        /* B first: its damaged copy is found, refused, and A's used. */
        ck_assert_int_eq(mt_dht_announce(hb, ih, mt_wire_server_port(wb), &err), 0);
        ck_assert_int_eq(mt_dht_announce(ha, ih, mt_wire_server_port(wa), &err), 0);
    }
    /* Announces are fire-and-forget: look each blob id up (from A's node,
     * not the fetcher's) until both hosts show, so the fetch below meets a
     * DHT that already knows them, however slowly the announces travel. */
    for (size_t i = 0; i < fe->n_chunks; i++) {
        uint8_t ih[20];
        int ports[2] = {mt_wire_server_port(wa), mt_wire_server_port(wb)};
        ck_assert_int_eq(mt_blob_dht_key(fe->chunks[i].blob_id, ih), 0);
        t_wait_announced(ha, ih, ports, 2, 500);
    }

    mt_fileentry *bare = NULL;
    ck_assert_int_eq(mt_fileentry_set_swarm(fe, NULL, &err), 0);
    char *js = NULL;
    size_t jl = 0;
    ck_assert_int_eq(mt_fileentry_to_json(fe, &js, &jl, &err), 0);
    ck_assert_int_eq(mt_fileentry_parse(js, jl, &bare, &err), 0);
    free(js);
    mt_blobfetch_opts_init(&o);
    o.blob_dir = c_dir;
    o.out_path = out;
    o.stall_ms = 0; /* no swarm: look up hosts at once */
    ck_assert_msg(mt_blobfetch_start(c, bare, &o, &f, &err) == 0, "start: %s", err.message);
    mt_session *ss[] = {c, ha, hb};
    mt_blobfetch_state st = t_run(f, ss, 3, NULL, &pr);
    mt_error fe_err;
    mt_blobfetch_get_error(f, &fe_err);
    ck_assert_msg(st == MT_BLOBFETCH_DONE, "fetch failed: %s", fe_err.message);
    ck_assert_uint_eq(pr.from_wire, 4);
    t_same(src, out);
    mt_blobfetch_free(f, 0);

    mt_session_free(c);
    mt_session_free(hb);
    mt_session_free(ha);
    mt_wire_server_stop(wb);
    mt_wire_server_stop(wa);
    mt_testnet_free(net);
    mt_fileentry_free(bare);
    mt_fileentry_free(fe);
    base_down();
}
END_TEST

/* Pack creation refuses what it must and names files by blob id. */
START_TEST(test_pack_rules)
{
    char dir[128], src[160];
    size_t tlen;
    char *magnet = NULL;
    uint8_t *t = NULL, pid[20];
    mt_error err;
    const char *bad[] = {"../etc/passwd"};
    const char *ws_bad[] = {"http://127.0.0.1:1/noslash"};

    base_up();
    t_dir(dir, sizeof dir, "d");
    t_fmt(src, sizeof src, "%s/source.bin", g_base);
    t_write_random(src, FILE_BYTES);
    mt_fileentry *fe = t_ingest(src, dir);
    ck_assert_int_eq(mt_pack_create(dir, bad, 1, 0, NULL, 0, &t, &tlen, &magnet, pid, &err), MT_EINVAL);
    const char *one[] = {fe->chunks[0].blob_id};
    ck_assert_int_eq(mt_pack_create(dir, one, 1, 0, ws_bad, 1, &t, &tlen, &magnet, pid, &err), MT_EINVAL);
    ck_assert_int_eq(mt_pack_create(dir, one, 0, 0, NULL, 0, &t, &tlen, &magnet, pid, &err), MT_EINVAL);
    /* A missing blob is named. */
    const char *missing[] = {"0000000000000000000000000000000000000000000000000000000000000000"};
    ck_assert_int_eq(mt_pack_create(dir, missing, 1, 0, NULL, 0, &t, &tlen, &magnet, pid, &err), MT_ENOTFOUND);
    /* Unshuffled packs are deterministic. */
    uint8_t *t1 = NULL, *t2 = NULL, id1[20], id2[20];
    size_t l1, l2;
    char *m1 = NULL, *m2 = NULL;
    const char *ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = fe->chunks[i].blob_id;
    ck_assert_int_eq(mt_pack_create(dir, ids, 4, 0, NULL, 0, &t1, &l1, &m1, id1, &err), 0);
    ck_assert_int_eq(mt_pack_create(dir, ids, 4, 0, NULL, 0, &t2, &l2, &m2, id2, &err), 0);
    ck_assert(l1 == l2 && memcmp(t1, t2, l1) == 0 && memcmp(id1, id2, 20) == 0);
    ck_assert_str_eq(m1, m2);
    char id_out[MT_BLOB_ID_HEX];
    ck_assert_int_eq(mt_pack_file_blob_id("blobs/0000000000000000000000000000000000000000000000000000000000000000",
                                          id_out), 0);
    ck_assert_int_eq(mt_pack_file_blob_id("blobs/../x", id_out), -1);
    mt_free(t1);
    mt_free(t2);
    free(m1);
    free(m2);
    mt_fileentry_free(fe);
    base_down();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("blobswarm");
    TCase *tc = tcase_create("swarm");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_pack_rules);
    tcase_add_test(tc, test_swarm_fetch);
    tcase_add_test(tc, test_web_seed_only);
    tcase_add_test(tc, test_corrupt_host);
    tcase_add_test(tc, test_wire_by_blob_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
