/*
 * check_torrent.c - torrent creation, peer transfer by magnet, web seeds,
 * the torrent API and its error paths, with real libtorrent sessions on
 * loopback addresses 127.0.20.x (and a test HTTP server on 127.0.20.50).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "testfs.h"
#include "testutil.h"

#define ADDR_SEED "127.0.20.2"
#define ADDR_LEECH "127.0.20.3"
#define ADDR_WEB_CLIENT "127.0.20.5"
#define ADDR_API "127.0.20.6"
#define ADDR_ERR "127.0.20.7"
#define ADDR_HTTPD "127.0.20.50"

/* The multi-file payload: a few MiB of random data, sizes off any piece
 * boundary, nested folders, a space in a name (URL escaping for web seeds). */
static const struct {
    const char *rel;
    size_t size;
} PAYLOAD[] = {
    {"alpha.bin", 1500007},
    {"sub/beta file.bin", 2000123},
    {"sub/deeper/gamma.bin", 700001},
};
#define NPAYLOAD (sizeof PAYLOAD / sizeof PAYLOAD[0])
#define PAYLOAD_NAME "payload"

/* ------------------------------------------------------------ helpers */


/* snprintf into a fixed buffer, failing the test on truncation. */

/* Per test case, in the runner process: a base folder for the tests'
 * temp folders, removed by the (unchecked) teardown even when a test fails
 * before its own clean-up. */
static char base_dir[64];


static void base_up(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/mt-torrent-XXXXXX");
    ck_assert_msg(mkdtemp(base_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void base_down(void)
{
    t_rm_rf(base_dir);
}

static void t_mkdtemp(char *buf, size_t cap)
{
    t_fmt(buf, cap, "%s/t-XXXXXX", base_dir);
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
}

/* mkdir -p of every folder above the last '/' of path. */
static void t_mkparents(const char *path)
{
    char tmp[1024];
    t_fmt(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ck_assert_msg(mkdir(tmp, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
}

static void t_write(const char *path, const void *data, size_t len)
{
    FILE *f;
    t_mkparents(path);
    f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert(len == 0 || fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

static void t_write_random(const char *path, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    ck_assert(buf != NULL);
    randombytes_buf(buf, len);
    t_write(path, buf, len);
    free(buf);
}

/* Whole file into a new buffer (free), or NULL if it cannot be read. */
static uint8_t *t_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            ck_assert(nb != NULL);
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int t_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}


static int t_contains(const uint8_t *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Random payload files under dir/PAYLOAD_NAME. */
static void t_make_payload(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i < NPAYLOAD; i++) {
        t_fmt(path, sizeof path, "%s/%s/%s", dir, PAYLOAD_NAME, PAYLOAD[i].rel);
        t_write_random(path, PAYLOAD[i].size);
    }
}

static int64_t t_payload_total(void)
{
    int64_t t = 0;
    for (size_t i = 0; i < NPAYLOAD; i++)
        t += (int64_t)PAYLOAD[i].size;
    return t;
}

/*
 * Assert that file b has exactly a's bytes. libtorrent reports a piece done
 * once hashed, which may be a moment before the disk thread's write reaches
 * the file, so a mismatch is re-read for a few seconds before failing.
 */
static void t_assert_same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *da = t_read(a, &la), *db = NULL;
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    ck_assert_msg(da != NULL, "cannot read %s", a);
    for (;;) {
        db = t_read(b, &lb);
        if (db && la == lb && memcmp(da, db, la) == 0)
            break;
        if (mt_now_ms() > deadline) {
            size_t off = 0;
            while (db && off < la && off < lb && da[off] == db[off])
                off++;
            ck_abort_msg("%s differs from %s (%zu vs %zu bytes, first difference at %zu)", b, a, la, lb, off);
        }
        free(db);
        t_sleep_ms(100);
    }
    free(da);
    free(db);
}

/* A session on addr with a free port, outgoing connections from addr too. */
static mt_session *t_session(const char *addr, int dht)
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
    ck_assert_msg(mt_session_new(&cfg, &s, &err) == 0, "session on %s: %s", addr, err.message);
    while (mt_session_listen_port(s) <= 0) {
        ck_assert_msg(mt_now_ms() < deadline, "session on %s does not listen", addr);
        t_sleep_ms(10);
    }
    return s;
}

static void t_endpoint(mt_session *s, const char *addr, char *out, size_t cap)
{
    int port = mt_session_listen_port(s);
    ck_assert_int_gt(port, 0);
    t_fmt(out, cap, "%s:%d", addr, port);
}

static uint8_t *t_create(const char *path, mt_torrent_version v, int piece_size, const char *web_seed,
                         size_t *len)
{
    mt_create_params p;
    mt_error err;
    uint8_t *out = NULL;
    const char *seeds[1] = {web_seed};
    memset(&p, 0, sizeof p);
    p.path = path;
    p.version = v;
    p.piece_size = piece_size;
    if (web_seed) {
        p.web_seeds = seeds;
        p.num_web_seeds = 1;
    }
    ck_assert_msg(mt_torrent_create(&p, &out, len, &err) == 0, "create %s: %s", path, err.message);
    ck_assert(out != NULL && *len > 0);
    return out;
}

static void t_add_bytes(mt_session *s, const uint8_t *t, size_t len, const char *save, unsigned flags,
                        uint8_t id[20])
{
    mt_add_params p;
    mt_error err;
    memset(&p, 0, sizeof p);
    p.torrent = t;
    p.torrent_len = len;
    p.save_path = save;
    p.flags = flags;
    ck_assert_msg(mt_torrent_add(s, &p, id, &err) == 0, "add: %s", err.message);
}

static void t_status(mt_session *s, const uint8_t id[20], mt_torrent_status *st)
{
    mt_error err;
    ck_assert_msg(mt_torrent_get_status(s, id, st, &err) == 0, "status: %s", err.message);
}

/* Poll until the torrent reaches state `want` (and, if paused >= 0, that
 * paused flag); fails the test after T_WAIT_MS. */
static void t_wait_state(mt_session *s, const uint8_t id[20], mt_torrent_state want, int paused,
                         mt_torrent_status *st)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    for (;;) {
        t_status(s, id, st);
        if (st->state == want && (paused < 0 || st->paused == paused))
            return;
        ck_assert_msg(mt_now_ms() < deadline, "torrent state %d paused %d, want %d/%d (%s)", (int)st->state,
                      st->paused, (int)want, paused, st->error_message);
        t_sleep_ms(20);
    }
}

/* Add .torrent bytes on s as a seed of the files under save and wait until
 * the hash check found them all. */
static void t_seed(mt_session *s, const uint8_t *t, size_t len, const char *save, uint8_t id[20])
{
    mt_event ev;
    mt_torrent_status st;
    t_add_bytes(s, t, len, save, 0, id);
    t_wait(s, MT_EVENT_TORRENT_CHECKED, id, &ev);
    mt_event_clear(&ev);
    t_wait_state(s, id, MT_TS_SEEDING, 0, &st);
    ck_assert(st.progress == 1.0);
}

/* Wait for FINISHED on s, (re)connecting to peer every few seconds in case
 * a connection attempt was dropped. */
static void t_wait_finished(mt_session *s, const uint8_t id[20], const char *peer)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    mt_event ev;
    mt_error err;
    for (;;) {
        if (peer)
            ck_assert_msg(mt_torrent_connect_peer(s, id, peer, &err) == 0, "connect %s: %s", peer, err.message);
        if (mt_session_wait_event(s, MT_EVENT_TORRENT_FINISHED, id, 3000, &ev, &err) == 0)
            break;
        ck_assert_msg(err.code == MT_ETIMEDOUT, "%s", err.message);
        if (mt_now_ms() > deadline) {
            mt_torrent_status st;
            t_status(s, id, &st);
            ck_abort_msg("no torrent_finished: state %d progress %.3f peers %d %s", (int)st.state, st.progress,
                         st.num_peers, st.error_message);
        }
    }
    mt_event_clear(&ev);
}

static void t_assert_payload_same(const char *src_dir, const char *dst_dir)
{
    char a[1024], b[1024];
    for (size_t i = 0; i < NPAYLOAD; i++) {
        t_fmt(a, sizeof a, "%s/%s/%s", src_dir, PAYLOAD_NAME, PAYLOAD[i].rel);
        t_fmt(b, sizeof b, "%s/%s/%s", dst_dir, PAYLOAD_NAME, PAYLOAD[i].rel);
        t_assert_same_file(a, b);
    }
}

/* Index of the file with this path (relative to the save path), or -1. */
static int t_file_index(mt_session *s, const uint8_t id[20], const char *path)
{
    int n = 0;
    mt_file_info fi;
    ck_assert(mt_torrent_file_count(s, id, &n, NULL) == 0);
    for (int i = 0; i < n; i++) {
        ck_assert(mt_torrent_file_info(s, id, i, &fi, NULL) == 0);
        if (strcmp(fi.path, path) == 0)
            return i;
    }
    return -1;
}

/*
 * Wait until file `index` reads back priority `prio`. libtorrent applies
 * file priorities on its disk thread, so a set is not visible at once (and
 * mt_event has nothing for libtorrent's file_prio_alert). 0, or -1 on timeout.
 */
static int t_wait_priority(mt_session *s, const uint8_t id[20], int index, int prio, int timeout_ms)
{
    int64_t deadline = mt_now_ms() + timeout_ms;
    mt_file_info fi;
    for (;;) {
        ck_assert(mt_torrent_file_info(s, id, index, &fi, NULL) == 0);
        if (fi.priority == prio)
            return 0;
        if (mt_now_ms() > deadline)
            return -1;
        t_sleep_ms(10);
    }
}

/* ------------------------------------------------------------ creation */

static const mt_torrent_version VERSIONS[3] = {MT_TORRENT_V1, MT_TORRENT_V2, MT_TORRENT_HYBRID};

START_TEST(create_versions_and_determinism)
{
    char dir[64], file[128], folder[128];
    t_mkdtemp(dir, sizeof dir);
    t_fmt(file, sizeof file, "%s/single.bin", dir);
    t_fmt(folder, sizeof folder, "%s/%s", dir, PAYLOAD_NAME);
    t_write_random(file, 300007);
    t_make_payload(dir);

    for (int v = 0; v < 3; v++) {
        const char *inputs[2] = {file, folder};
        for (int k = 0; k < 2; k++) {
            size_t l1 = 0, l2 = 0;
            uint8_t *t1 = t_create(inputs[k], VERSIONS[v], 0, NULL, &l1);
            uint8_t *t2 = t_create(inputs[k], VERSIONS[v], 0, NULL, &l2);
            uint8_t id[20], v1[20], v2[32];
            int has_v1 = -1, has_v2 = -1;
            mt_error err;
            ck_assert_msg(l1 == l2 && memcmp(t1, t2, l1) == 0, "version %d input %d: output not deterministic",
                          (int)VERSIONS[v], k);
            ck_assert_msg(!t_contains(t1, l1, "13:creation date"), "creation date present");
            ck_assert_msg(!t_contains(t1, l1, "10:created by"), "creator present");
            ck_assert_int_eq(mt_torrent_info_hashes(t1, l1, id, &has_v1, v1, &has_v2, v2, &err), 0);
            ck_assert_int_eq(has_v1, VERSIONS[v] != MT_TORRENT_V2);
            ck_assert_int_eq(has_v2, VERSIONS[v] != MT_TORRENT_V1);
            /* The id is the v1 hash, or the truncated v2 hash. */
            ck_assert(memcmp(id, has_v1 ? v1 : v2, 20) == 0);
            /* v2 structures appear exactly when v2 is wanted. */
            ck_assert_int_eq(t_contains(t1, l1, "9:file tree"), has_v2);
            ck_assert_int_eq(t_contains(t1, l1, "6:pieces"), has_v1);
            if (k == 1) {
                ck_assert(t_contains(t1, l1, "9:alpha.bin"));
                ck_assert(t_contains(t1, l1, "6:deeper"));
                ck_assert(t_contains(t1, l1, "9:gamma.bin"));
            }
            /* Names only: the torrent does not leak the creating machine's path. */
            ck_assert(!t_contains(t1, l1, dir));
            mt_free(t1);
            mt_free(t2);
        }
    }

    /* A hybrid of a folder is not the v1 torrent plus v2 fields: its pad
     * files change the v1 piece layout, so its v1 hash differs. */
    {
        size_t la, lb;
        uint8_t *a = t_create(folder, MT_TORRENT_V1, 0, NULL, &la);
        uint8_t *b = t_create(folder, MT_TORRENT_HYBRID, 0, NULL, &lb);
        uint8_t ia[20], ib[20];
        ck_assert(mt_torrent_info_hashes(a, la, ia, NULL, NULL, NULL, NULL, NULL) == 0);
        ck_assert(mt_torrent_info_hashes(b, lb, ib, NULL, NULL, NULL, NULL, NULL) == 0);
        ck_assert(memcmp(ia, ib, 20) != 0);
        mt_free(a);
        mt_free(b);
    }

    /* Options end up in the output. */
    {
        mt_create_params p;
        const char *seeds[1] = {"http://127.0.20.50:8000/single.bin"};
        const char *trackers[1] = {"http://127.0.20.51:6969/announce"};
        uint8_t *t = NULL;
        size_t len = 0;
        mt_error err;
        memset(&p, 0, sizeof p);
        p.path = file;
        p.version = MT_TORRENT_V1;
        p.piece_size = 32768;
        p.web_seeds = seeds;
        p.num_web_seeds = 1;
        p.trackers = trackers;
        p.num_trackers = 1;
        p.comment = "a comment";
        p.is_private = 1;
        ck_assert_msg(mt_torrent_create(&p, &t, &len, &err) == 0, "%s", err.message);
        ck_assert(t_contains(t, len, "12:piece lengthi32768e"));
        ck_assert(t_contains(t, len, "8:url-list"));
        ck_assert(t_contains(t, len, "34:http://127.0.20.50:8000/single.bin"));
        ck_assert(t_contains(t, len, "32:http://127.0.20.51:6969/announce"));
        ck_assert(t_contains(t, len, "7:comment9:a comment"));
        ck_assert(t_contains(t, len, "7:privatei1e"));
        ck_assert(t_contains(t, len, "4:name10:single.bin"));
        ck_assert(t_contains(t, len, "6:lengthi300007e"));
        mt_free(t);
    }
    t_rm_rf(dir);
}
END_TEST

/* The same tree written in another order, at another place, with different
 * mtimes and a symlink added, gives the same bytes. */
START_TEST(create_independent_of_order_place_and_symlinks)
{
    char d1[64], d2[64], path[1024], link[1024];
    t_mkdtemp(d1, sizeof d1);
    t_mkdtemp(d2, sizeof d2);
    t_make_payload(d1);
    /* Copy in reverse order (another directory-entry order on most file
     * systems), plus a symlink to a file outside the folder. */
    for (size_t i = NPAYLOAD; i-- > 0;) {
        size_t len;
        uint8_t *data;
        t_fmt(path, sizeof path, "%s/%s/%s", d1, PAYLOAD_NAME, PAYLOAD[i].rel);
        data = t_read(path, &len);
        ck_assert(data != NULL);
        t_fmt(path, sizeof path, "%s/%s/%s", d2, PAYLOAD_NAME, PAYLOAD[i].rel);
        t_write(path, data, len);
        free(data);
    }
    t_fmt(path, sizeof path, "%s/outside.bin", d2);
    t_write_random(path, 5000);
    t_fmt(link, sizeof link, "%s/%s/sub/link.bin", d2, PAYLOAD_NAME);
    ck_assert(symlink(path, link) == 0);

    for (int v = 0; v < 3; v++) {
        size_t l1, l2;
        uint8_t *t1, *t2;
        t_fmt(path, sizeof path, "%s/%s", d1, PAYLOAD_NAME);
        t1 = t_create(path, VERSIONS[v], 16384, NULL, &l1);
        t_fmt(path, sizeof path, "%s/%s/", d2, PAYLOAD_NAME);  /* trailing slash too */
        t2 = t_create(path, VERSIONS[v], 16384, NULL, &l2);
        ck_assert_msg(l1 == l2 && memcmp(t1, t2, l1) == 0, "version %d: copy gives other bytes", (int)VERSIONS[v]);
        ck_assert(!t_contains(t1, l1, "link.bin"));
        mt_free(t1);
        mt_free(t2);
    }
    t_rm_rf(d1);
    t_rm_rf(d2);
}
END_TEST

static void t_create_fails(const mt_create_params *p, int code, const char *what)
{
    uint8_t *out = (uint8_t *)"x";
    size_t len = 99;
    mt_error err;
    int rc = mt_torrent_create(p, &out, &len, &err);
    ck_assert_msg(rc == code, "%s: got %d (%s), want %d", what, rc, err.message, code);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(err.message[0] != '\0', "%s: no message", what);
}

START_TEST(create_bad_inputs)
{
    char dir[64], file[128], empty[128], emptydir[128], path[256];
    mt_create_params p;
    mt_error err;
    uint8_t *out = NULL;
    size_t len = 0;
    const char *ftp[1] = {"ftp://127.0.20.50/x"};
    const char *nul[1] = {NULL};
    const char *rel[1] = {"127.0.20.50/x"};
    t_mkdtemp(dir, sizeof dir);
    t_fmt(file, sizeof file, "%s/f.bin", dir);
    t_fmt(empty, sizeof empty, "%s/empty.bin", dir);
    t_fmt(emptydir, sizeof emptydir, "%s/hollow", dir);
    t_write_random(file, 70000);
    t_write(empty, "", 0);
    t_fmt(path, sizeof path, "%s/a/b/zero.bin", emptydir);
    t_write(path, "", 0);

    memset(&p, 0, sizeof p);
    p.path = file;

    t_fmt(path, sizeof path, "%s/missing", dir);
    p.path = path;
    t_create_fails(&p, MT_EIO, "missing path");
    p.path = file;
    p.piece_size = 1024 * 1024 * 1024;  /* a power of two libtorrent cannot load */
    t_create_fails(&p, MT_EINVAL, "1 GiB pieces");
    p.piece_size = 0;
    {
        /* "<dir>/." names the torrent after <dir>, never ".". */
        char dotpath[300], want[128];
        const char *base = strrchr(dir, '/') + 1;
        size_t wl, k;
        int found = 0;
        t_fmt(dotpath, sizeof dotpath, "%s/.", dir);
        p.path = dotpath;
        ck_assert_int_eq(mt_torrent_create(&p, &out, &len, &err), 0);
        t_fmt(want, sizeof want, "4:name%zu:%s", strlen(base), base);
        wl = strlen(want);
        for (k = 0; k + wl <= len && !found; k++)
            found = memcmp(out + k, want, wl) == 0;
        ck_assert_msg(found, "torrent of %s is not named %s", dotpath, base);
        mt_free(out);
        out = NULL;
        p.path = file;
    }
    p.path = empty;
    t_create_fails(&p, MT_EINVAL, "empty file");
    p.path = emptydir;
    t_create_fails(&p, MT_EINVAL, "folder of empty files");
    p.path = "/dev/null";
    t_create_fails(&p, MT_EINVAL, "character device");
    p.path = file;

    {
        int bad[] = {1, 1000, 8192, 16383, 16384 * 3, 16385, -16384, -1};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            p.piece_size = bad[i];
            t_create_fails(&p, MT_EINVAL, "bad piece size");
        }
        p.piece_size = 16384;
        ck_assert_int_eq(mt_torrent_create(&p, &out, &len, &err), 0);
        mt_free(out);
        p.piece_size = 0;
    }
    p.version = (mt_torrent_version)4;
    t_create_fails(&p, MT_EINVAL, "version 4");
    p.version = (mt_torrent_version)-1;
    t_create_fails(&p, MT_EINVAL, "version -1");
    p.version = MT_TORRENT_V1;

    p.web_seeds = ftp;
    p.num_web_seeds = 1;
    t_create_fails(&p, MT_EINVAL, "ftp web seed");
    p.web_seeds = nul;
    t_create_fails(&p, MT_EINVAL, "NULL web seed");
    p.web_seeds = rel;
    t_create_fails(&p, MT_EINVAL, "web seed without scheme");
    p.web_seeds = NULL;
    p.num_web_seeds = 0;

    /* NULL arguments. */
    ck_assert_int_eq(mt_torrent_create(NULL, &out, &len, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_create(&p, NULL, &len, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_create(&p, &out, NULL, &err), MT_EINVAL);
    p.path = NULL;
    ck_assert_int_eq(mt_torrent_create(&p, &out, &len, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_create(&p, &out, &len, NULL), MT_EINVAL);  /* err is optional */

    /* info_hashes of things that are not torrents. */
    ck_assert_int_eq(mt_torrent_info_hashes(NULL, 10, NULL, NULL, NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_info_hashes((const uint8_t *)"d", 0, NULL, NULL, NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_info_hashes((const uint8_t *)"garbage", 7, NULL, NULL, NULL, NULL, NULL, &err),
                     MT_EINVAL);
    ck_assert_msg(strstr(err.message, "torrent") != NULL, "%s", err.message);
    ck_assert_int_eq(mt_torrent_info_hashes((const uint8_t *)"d4:infod4:name1:xee", 19, NULL, NULL, NULL, NULL,
                                            NULL, &err), MT_EINVAL);
    t_rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ transfers */

/* Seed on A, download by magnet on B (connect_peer only: no DHT, no
 * tracker), compare every byte. _i picks v1, v2, hybrid. */
START_TEST(magnet_download_from_peer)
{
    char dir[64], src[128], dst[128], folder[256], magnet[256], peer[64], hex[65];
    mt_torrent_version ver = VERSIONS[_i];
    mt_session *a, *b;
    mt_torrent_status st;
    mt_error err;
    mt_event ev;
    uint8_t *t, id[20], bid[20], v1[20], v2[32];
    int has_v1 = 0, has_v2 = 0;
    size_t len;
    mt_add_params p;

    t_mkdtemp(dir, sizeof dir);
    t_fmt(src, sizeof src, "%s/src", dir);
    t_fmt(dst, sizeof dst, "%s/dst", dir);
    t_fmt(folder, sizeof folder, "%s/%s", src, PAYLOAD_NAME);
    t_make_payload(src);
    ck_assert(mkdir(dst, 0755) == 0);
    t = t_create(folder, ver, 0, NULL, &len);
    ck_assert(mt_torrent_info_hashes(t, len, id, &has_v1, v1, &has_v2, v2, NULL) == 0);

    a = t_session(ADDR_SEED, 0);
    b = t_session(ADDR_LEECH, 0);
    t_seed(a, t, len, src, id);
    t_endpoint(a, ADDR_SEED, peer, sizeof peer);

    if (has_v1) {
        mt_hex_encode(v1, 20, hex);
        t_fmt(magnet, sizeof magnet, "magnet:?xt=urn:btih:%s&dn=%s", hex, PAYLOAD_NAME);
        if (has_v2) {  /* hybrid: name both hashes, as a v2-aware client would */
            size_t n = strlen(magnet);
            mt_hex_encode(v2, 32, hex);
            t_fmt(magnet + n, sizeof magnet - n, "&xt=urn:btmh:1220%s", hex);
        }
    } else {
        mt_hex_encode(v2, 32, hex);
        t_fmt(magnet, sizeof magnet, "magnet:?xt=urn:btmh:1220%s", hex);
    }
    memset(&p, 0, sizeof p);
    p.magnet = magnet;
    p.save_path = dst;
    ck_assert_msg(mt_torrent_add(b, &p, bid, &err) == 0, "add %s: %s", magnet, err.message);
    ck_assert_msg(memcmp(bid, id, 20) == 0, "magnet names another torrent id");
    t_wait_finished(b, id, peer);

    /* The metadata came from A, then every wanted byte. */
    ck_assert_int_eq(mt_session_wait_event(b, MT_EVENT_TORRENT_METADATA, id, 0, &ev, &err), 0);
    mt_event_clear(&ev);
    t_status(b, id, &st);
    ck_assert(st.has_metadata);
    ck_assert(st.progress == 1.0);
    ck_assert_int_eq(st.total_done, t_payload_total());
    ck_assert_int_eq(st.has_v1, has_v1);
    ck_assert_int_eq(st.has_v2, has_v2);
    ck_assert_str_eq(st.name, PAYLOAD_NAME);
    t_assert_payload_same(src, dst);

    mt_free(t);
    mt_session_free(b);
    mt_session_free(a);
    t_rm_rf(dir);
}
END_TEST

/* File priority 0 on one file of a download: the rest arrives, that file
 * does not, and the torrent is finished (not seeding). */
START_TEST(skipped_file_not_downloaded)
{
    char dir[64], src[128], dst[128], folder[256], peer[64], path[512];
    mt_session *a, *b;
    mt_torrent_status st;
    mt_file_info fi;
    mt_error err;
    uint8_t *t, id[20];
    size_t len;
    int skip;

    t_mkdtemp(dir, sizeof dir);
    t_fmt(src, sizeof src, "%s/src", dir);
    t_fmt(dst, sizeof dst, "%s/dst", dir);
    t_fmt(folder, sizeof folder, "%s/%s", src, PAYLOAD_NAME);
    t_make_payload(src);
    ck_assert(mkdir(dst, 0755) == 0);
    /* Hybrid: files are piece-aligned, so a skipped file shares no piece. */
    t = t_create(folder, MT_TORRENT_HYBRID, 0, NULL, &len);

    a = t_session(ADDR_SEED, 0);
    b = t_session(ADDR_LEECH, 0);
    t_seed(a, t, len, src, id);
    t_endpoint(a, ADDR_SEED, peer, sizeof peer);

    t_add_bytes(b, t, len, dst, MT_ADD_PAUSED, id);
    skip = t_file_index(b, id, PAYLOAD_NAME "/sub/beta file.bin");
    ck_assert_int_ge(skip, 0);
    ck_assert_int_eq(mt_torrent_set_file_priority(b, id, skip, 0, &err), 0);
    /* Resume only once it took effect, or pieces of it may be picked. */
    ck_assert_msg(t_wait_priority(b, id, skip, 0, T_WAIT_MS) == 0, "priority 0 never read back");
    ck_assert_int_eq(mt_torrent_resume(b, id, &err), 0);
    t_wait_finished(b, id, peer);

    t_status(b, id, &st);
    ck_assert_int_eq(st.state, MT_TS_FINISHED);
    ck_assert(st.progress == 1.0);
    ck_assert_int_eq(st.total_wanted, t_payload_total() - (int64_t)PAYLOAD[1].size);
    ck_assert_int_eq(mt_torrent_file_info(b, id, skip, &fi, &err), 0);
    ck_assert_int_eq(fi.priority, 0);
    ck_assert_int_eq(fi.downloaded, 0);
    for (size_t i = 0; i < NPAYLOAD; i++) {
        char a_path[512];
        t_fmt(a_path, sizeof a_path, "%s/%s", folder, PAYLOAD[i].rel);
        t_fmt(path, sizeof path, "%s/%s/%s", dst, PAYLOAD_NAME, PAYLOAD[i].rel);
        if (i == 1) {
            size_t l = 0;
            uint8_t *d = t_read(path, &l), *s = t_read(a_path, &len);
            ck_assert_msg(d == NULL || l != len || memcmp(d, s, l) != 0, "skipped file was downloaded");
            free(d);
            free(s);
        } else {
            t_assert_same_file(a_path, path);
        }
    }
    mt_free(t);
    mt_session_free(b);
    mt_session_free(a);
    t_rm_rf(dir);
}
END_TEST

/* A single-file v1 torrent whose only source is the web seed in its
 * url-list (the file's URL, %-escaped). With no other source libtorrent
 * would ask for the whole file in one request; with the cap lowered
 * (libtorrent still uses 1 MiB) it must ask for ranges at offsets > 0, and a
 * server ignoring Range breaks the download. */
START_TEST(web_seed_single_file)
{
    char dir[64], src[128], dst[128], file[256], url[256];
    mt_test_httpd *h = NULL;
    mt_session *c;
    mt_torrent_status st;
    uint8_t *t, id[20];
    size_t len;

    t_mkdtemp(dir, sizeof dir);
    t_fmt(src, sizeof src, "%s/src", dir);
    t_fmt(dst, sizeof dst, "%s/dst", dir);
    t_fmt(file, sizeof file, "%s/web seed.bin", src);
    t_write_random(file, 3 * 1024 * 1024 + 17);
    ck_assert(mkdir(dst, 0755) == 0);
    ck_assert_msg(mt_test_httpd_start(ADDR_HTTPD, 0, src, &h) == 0, "httpd: %s", strerror(errno));
    t_fmt(url, sizeof url, "http://%s:%d/web%%20seed.bin", ADDR_HTTPD, mt_test_httpd_port(h));
    t = t_create(file, MT_TORRENT_V1, 32768, url, &len);

    c = t_session(ADDR_WEB_CLIENT, 0);
    ck_assert(mt_session_set_setting(c, "urlseed_max_request_bytes", "65536", NULL) == 0);
    t_add_bytes(c, t, len, dst, 0, id);
    t_wait_finished(c, id, NULL);
    t_status(c, id, &st);
    ck_assert(st.progress == 1.0);
    {
        char got[256];
        t_fmt(got, sizeof got, "%s/web seed.bin", dst);
        t_assert_same_file(file, got);
    }
    ck_assert_int_gt(mt_test_httpd_requests(h), 0);
    /* 3 MiB + 17 bytes in requests of at most 1 MiB. */
    ck_assert_msg(mt_test_httpd_ok_requests(h) >= 4, "only %ld requests", mt_test_httpd_ok_requests(h));
    ck_assert_msg(mt_test_httpd_bytes(h) >= 3 * 1024 * 1024 + 17, "httpd sent %lld bytes", mt_test_httpd_bytes(h));
    mt_session_free(c);
    mt_test_httpd_stop(h);
    mt_free(t);
    t_rm_rf(dir);
}
END_TEST

/* A multi-file hybrid torrent with no url-list gets a web seed at runtime
 * (mt_torrent_add_web_seed, a base URL ending in '/'). Part of the payload
 * is already on disk: only the missing ranges come from the web seed. */
START_TEST(web_seed_added_at_runtime)
{
    char dir[64], src[128], dst[128], folder[256], url[256];
    mt_test_httpd *h = NULL;
    mt_session *c;
    mt_torrent_status st;
    mt_event ev;
    mt_error err;
    uint8_t *t, id[20];
    size_t len;

    t_mkdtemp(dir, sizeof dir);
    t_fmt(src, sizeof src, "%s/src", dir);
    t_fmt(dst, sizeof dst, "%s/dst", dir);
    t_fmt(folder, sizeof folder, "%s/%s", src, PAYLOAD_NAME);
    t_make_payload(src);
    ck_assert(mkdir(dst, 0755) == 0);
    ck_assert_msg(mt_test_httpd_start(ADDR_HTTPD, 0, src, &h) == 0, "httpd: %s", strerror(errno));
    t = t_create(folder, MT_TORRENT_HYBRID, 0, NULL, &len);
    /* Already there: all of alpha, the first 1 MB of beta. */
    for (size_t i = 0; i < 2; i++) {
        char from[512], to[512];
        size_t l = 0;
        uint8_t *d;
        t_fmt(from, sizeof from, "%s/%s", folder, PAYLOAD[i].rel);
        t_fmt(to, sizeof to, "%s/%s/%s", dst, PAYLOAD_NAME, PAYLOAD[i].rel);
        d = t_read(from, &l);
        ck_assert(d != NULL);
        t_write(to, d, i == 0 ? l : 1000000);
        free(d);
    }

    /* Not paused: libtorrent checks files only of a started torrent. No
     * source exists until the web seed is added. */
    c = t_session(ADDR_WEB_CLIENT, 0);
    t_add_bytes(c, t, len, dst, 0, id);
    t_wait(c, MT_EVENT_TORRENT_CHECKED, id, &ev);
    mt_event_clear(&ev);
    t_status(c, id, &st);
    ck_assert_msg(st.progress > 0.3 && st.progress < 0.7, "progress %.3f after the check", st.progress);
    t_fmt(url, sizeof url, "http://%s:%d/", ADDR_HTTPD, mt_test_httpd_port(h));
    ck_assert_int_eq(mt_torrent_add_web_seed(c, id, url, &err), 0);
    t_wait_finished(c, id, NULL);
    t_assert_payload_same(src, dst);
    ck_assert_int_gt(mt_test_httpd_ok_requests(h), 0);
    /* The missing ~1.7 MB were fetched, and not much more: ranged requests
     * for what was missing, nothing of alpha. */
    {
        long long missing = (long long)(PAYLOAD[1].size - 1000000 + PAYLOAD[2].size);
        long long sent = mt_test_httpd_bytes(h);
        ck_assert_msg(sent >= missing - 16384 && sent < missing + (long long)PAYLOAD[0].size / 2,
                      "httpd sent %lld bytes for %lld missing", sent, missing);
    }
    mt_session_free(c);
    mt_test_httpd_stop(h);
    mt_free(t);
    t_rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ torrent API */

/* Flip one byte of path in place, keeping its size and modification time. */
static void t_flip_byte(const char *path, off_t off)
{
    struct stat st;
    struct timespec times[2];
    unsigned char ch;
    int fd = open(path, O_RDWR);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert(fstat(fd, &st) == 0);
    ck_assert(pread(fd, &ch, 1, off) == 1);
    ch ^= 0x5a;
    ck_assert(pwrite(fd, &ch, 1, off) == 1);
    times[0] = st.st_atim;
    times[1] = st.st_mtim;
    ck_assert(futimens(fd, times) == 0);
    ck_assert(close(fd) == 0);
}

START_TEST(torrent_api_round_trip)
{
    char dir[64], folder[256], path[512];
    mt_session *s;
    mt_torrent_status st;
    mt_file_info fi;
    mt_error err;
    mt_event ev;
    uint8_t *t, id[20], id2[20], v1[20], v2[32], ids[4][20];
    uint8_t *resume = NULL;
    size_t len, count = 99, resume_len = 0;
    int n = 0, real = 0, alpha = -1;
    int64_t last_end = 0;
    mt_add_params p;

    t_mkdtemp(dir, sizeof dir);
    t_fmt(folder, sizeof folder, "%s/%s", dir, PAYLOAD_NAME);
    t_make_payload(dir);
    t = t_create(folder, MT_TORRENT_HYBRID, 0, NULL, &len);
    ck_assert(mt_torrent_info_hashes(t, len, NULL, NULL, v1, NULL, v2, NULL) == 0);
    s = t_session(ADDR_API, 0);

    /* Status of a seed. */
    t_seed(s, t, len, dir, id);
    t_status(s, id, &st);
    ck_assert_int_eq(st.state, MT_TS_SEEDING);
    ck_assert_int_eq(st.paused, 0);
    ck_assert_int_eq(st.has_metadata, 1);
    ck_assert(st.progress == 1.0);
    ck_assert_str_eq(st.name, PAYLOAD_NAME);
    ck_assert_str_eq(st.save_path, dir);
    ck_assert_int_eq(st.total_wanted, t_payload_total());
    ck_assert_int_eq(st.total_done, t_payload_total());
    ck_assert_int_eq(st.has_v1, 1);
    ck_assert_int_eq(st.has_v2, 1);
    ck_assert(memcmp(st.v1, v1, 20) == 0);
    ck_assert(memcmp(st.v2, v2, 32) == 0);
    ck_assert(memcmp(id, v1, 20) == 0);
    ck_assert_int_eq(st.error, 0);

    /* The list. */
    ck_assert_int_eq(mt_torrent_list(s, ids, 4, &count, &err), 0);
    ck_assert_uint_eq(count, 1);
    ck_assert(memcmp(ids[0], id, 20) == 0);
    count = 99;
    ck_assert_int_eq(mt_torrent_list(s, NULL, 0, &count, &err), 0);  /* just count */
    ck_assert_uint_eq(count, 1);

    /* Files: our three (with their sizes and paths) plus pad files. */
    ck_assert_int_eq(mt_torrent_file_count(s, id, &n, &err), 0);
    ck_assert_int_ge(n, (int)NPAYLOAD);
    for (int i = 0; i < n; i++) {
        int found = 0;
        ck_assert_int_eq(mt_torrent_file_info(s, id, i, &fi, &err), 0);
        ck_assert_int_eq(fi.offset, last_end);  /* contiguous byte stream */
        last_end = fi.offset + fi.size;
        if (fi.pad)
            continue;
        real++;
        for (size_t k = 0; k < NPAYLOAD; k++) {
            t_fmt(path, sizeof path, "%s/%s", PAYLOAD_NAME, PAYLOAD[k].rel);
            if (strcmp(fi.path, path) == 0) {
                found = 1;
                ck_assert_int_eq(fi.size, (int64_t)PAYLOAD[k].size);
                if (k == 0)
                    alpha = i;
            }
        }
        ck_assert_msg(found, "unexpected file %s", fi.path);
        ck_assert_int_eq(fi.downloaded, fi.size);
        ck_assert_int_eq(fi.priority, 4);
    }
    ck_assert_int_eq(real, (int)NPAYLOAD);
    ck_assert_int_ge(alpha, 0);

    /* Priorities read back. */
    ck_assert_int_eq(mt_torrent_set_file_priority(s, id, alpha, 7, &err), 0);
    ck_assert_msg(t_wait_priority(s, id, alpha, 7, T_WAIT_MS) == 0, "priority 7 never read back");
    ck_assert_int_eq(mt_torrent_set_file_priority(s, id, alpha, 4, &err), 0);
    ck_assert_msg(t_wait_priority(s, id, alpha, 4, T_WAIT_MS) == 0, "priority 4 never read back");

    /* Pause and resume. */
    ck_assert_int_eq(mt_torrent_pause(s, id, &err), 0);
    t_wait_state(s, id, MT_TS_SEEDING, 1, &st);
    ck_assert_int_eq(mt_torrent_resume(s, id, &err), 0);
    t_wait_state(s, id, MT_TS_SEEDING, 0, &st);

    /* Resume data. */
    ck_assert_int_eq(mt_torrent_save_resume(s, id, &err), 0);
    t_wait(s, MT_EVENT_RESUME_DATA, id, &ev);
    ck_assert_msg(ev.error == 0, "%s", ev.message);
    ck_assert(ev.data != NULL && ev.data_len > 0);
    ck_assert_int_eq(mt_bencode_check(ev.data, ev.data_len, NULL), 0);
    resume = malloc(ev.data_len);
    ck_assert(resume != NULL);
    memcpy(resume, ev.data, ev.data_len);
    resume_len = ev.data_len;
    mt_event_clear(&ev);

    /* Remove, keeping the files. */
    ck_assert_int_eq(mt_torrent_remove(s, id, 0, &err), 0);
    t_wait(s, MT_EVENT_TORRENT_REMOVED, id, &ev);
    mt_event_clear(&ev);
    ck_assert_int_eq(mt_torrent_list(s, ids, 4, &count, &err), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(mt_torrent_get_status(s, id, &st, &err), MT_ENOTFOUND);
    t_fmt(path, sizeof path, "%s/%s", folder, PAYLOAD[0].rel);
    ck_assert(t_exists(path));

    /* Corrupt a byte (same size and mtime). Re-added from its resume data
     * alone, the torrent trusts the resume data: seeding at once, no hash
     * check that would notice. */
    t_flip_byte(path, 1000);
    memset(&p, 0, sizeof p);
    p.resume = resume;
    p.resume_len = resume_len;
    p.save_path = dir;
    ck_assert_msg(mt_torrent_add(s, &p, id2, &err) == 0, "add from resume: %s", err.message);
    ck_assert(memcmp(id2, id, 20) == 0);
    t_wait(s, MT_EVENT_TORRENT_CHECKED, id, &ev);  /* the resume-data check */
    mt_event_clear(&ev);
    t_wait_state(s, id, MT_TS_SEEDING, 0, &st);
    ck_assert(st.progress == 1.0);
    ck_assert_int_eq(st.total_done, t_payload_total());
    ck_assert_int_eq(st.has_v2, 1);
    ck_assert_str_eq(st.name, PAYLOAD_NAME);

    /* A forced recheck does hash: one piece of alpha is now bad. */
    ck_assert_int_eq(mt_torrent_force_recheck(s, id, &err), 0);
    t_wait(s, MT_EVENT_TORRENT_CHECKED, id, &ev);
    mt_event_clear(&ev);
    t_status(s, id, &st);
    ck_assert_msg(st.progress < 1.0, "recheck did not notice the flipped byte");
    ck_assert_int_eq(st.state, MT_TS_DOWNLOADING);
    ck_assert_int_eq(mt_torrent_file_info(s, id, alpha, &fi, &err), 0);
    ck_assert_int_lt(fi.downloaded, fi.size);
    ck_assert_int_gt(fi.downloaded, 0);

    /* Repaired on disk, a recheck makes it a seed again. */
    t_flip_byte(path, 1000);
    ck_assert_int_eq(mt_torrent_force_recheck(s, id, &err), 0);
    t_wait(s, MT_EVENT_TORRENT_CHECKED, id, &ev);
    mt_event_clear(&ev);
    t_wait_state(s, id, MT_TS_SEEDING, 0, &st);

    /* Remove with delete_files: the payload leaves the disk. */
    ck_assert_int_eq(mt_torrent_remove(s, id, 1, &err), 0);
    t_wait(s, MT_EVENT_TORRENT_REMOVED, id, &ev);
    mt_event_clear(&ev);
    {
        int64_t deadline = mt_now_ms() + T_WAIT_MS;
        for (;;) {
            int left = 0;
            for (size_t k = 0; k < NPAYLOAD; k++) {
                t_fmt(path, sizeof path, "%s/%s", folder, PAYLOAD[k].rel);
                left += t_exists(path);
            }
            if (left == 0)
                break;
            ck_assert_msg(mt_now_ms() < deadline, "%d files still on disk after delete_files", left);
            t_sleep_ms(50);
        }
    }
    ck_assert_int_eq(mt_torrent_list(s, ids, 4, &count, &err), 0);
    ck_assert_uint_eq(count, 0);

    free(resume);
    mt_free(t);
    mt_session_free(s);
    t_rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ error paths */

#define EXPECT(call, want)                                                                             \
    do {                                                                                               \
        mt_error_clear(&err);                                                                          \
        int rc_ = (call);                                                                              \
        ck_assert_msg(rc_ == (want), "%s: got %d (%s), want %d", #call, rc_, err.message, (want));    \
        ck_assert_msg(err.code == (want), "%s: err.code %d", #call, err.code);                         \
        ck_assert_msg(err.message[0] != '\0', "%s: no message", #call);                                \
    } while (0)

START_TEST(torrent_error_paths)
{
    char dir[64], file[128], tfile[128];
    mt_session *s;
    mt_error err;
    mt_add_params p;
    mt_torrent_status st;
    mt_file_info fi;
    uint8_t *t, id[20], unknown[20], mid[20], ids[2][20], hash[20];
    size_t len, count;
    int n = 0;
    char magnet[128], hex[41];

    t_mkdtemp(dir, sizeof dir);
    t_fmt(file, sizeof file, "%s/f.bin", dir);
    t_write_random(file, 100000);
    t = t_create(file, MT_TORRENT_V1, 16384, NULL, &len);
    s = t_session(ADDR_ERR, 0);
    t_add_bytes(s, t, len, dir, MT_ADD_PAUSED, id);
    randombytes_buf(unknown, sizeof unknown);
    memset(&p, 0, sizeof p);

    /* An id no torrent has. */
    EXPECT(mt_torrent_get_status(s, unknown, &st, &err), MT_ENOTFOUND);
    ck_assert_msg(strstr(err.message, "no torrent") != NULL, "%s", err.message);
    EXPECT(mt_torrent_remove(s, unknown, 0, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_remove(s, unknown, 1, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_pause(s, unknown, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_resume(s, unknown, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_force_recheck(s, unknown, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_save_resume(s, unknown, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_file_count(s, unknown, &n, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_file_info(s, unknown, 0, &fi, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_set_file_priority(s, unknown, 0, 1, &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_add_web_seed(s, unknown, "http://127.0.20.50:1/x", &err), MT_ENOTFOUND);
    EXPECT(mt_torrent_connect_peer(s, unknown, "127.0.20.9:1", &err), MT_ENOTFOUND);

    /* NULL arguments. */
    EXPECT(mt_torrent_get_status(NULL, id, &st, &err), MT_EINVAL);
    EXPECT(mt_torrent_get_status(s, NULL, &st, &err), MT_EINVAL);
    EXPECT(mt_torrent_get_status(s, id, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_remove(NULL, id, 0, &err), MT_EINVAL);
    EXPECT(mt_torrent_remove(s, NULL, 0, &err), MT_EINVAL);
    EXPECT(mt_torrent_pause(NULL, id, &err), MT_EINVAL);
    EXPECT(mt_torrent_pause(s, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_resume(NULL, id, &err), MT_EINVAL);
    EXPECT(mt_torrent_resume(s, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_force_recheck(NULL, id, &err), MT_EINVAL);
    EXPECT(mt_torrent_save_resume(s, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_list(NULL, ids, 2, &count, &err), MT_EINVAL);
    EXPECT(mt_torrent_list(s, ids, 2, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_list(s, NULL, 2, &count, &err), MT_EINVAL);
    EXPECT(mt_torrent_file_count(s, id, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_file_count(NULL, id, &n, &err), MT_EINVAL);
    EXPECT(mt_torrent_file_info(s, id, 0, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_file_info(s, NULL, 0, &fi, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(NULL, id, 0, 1, &err), MT_EINVAL);
    EXPECT(mt_torrent_add_web_seed(s, id, NULL, &err), MT_EINVAL);
    EXPECT(mt_torrent_add_web_seed(NULL, id, "http://127.0.20.50:1/x", &err), MT_EINVAL);
    EXPECT(mt_torrent_connect_peer(s, id, NULL, &err), MT_EINVAL);
    {
        /* Loose forms a strtol-based parser let through. */
        const char *loose[] = {"127.0.20.9: 80", "127.0.20.9:+80", "127.0.20.9:0080", "[127.0.20.9]:80",
                               "127.0.20.9:80 ", "::1:80"};
        for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++)
            EXPECT(mt_torrent_connect_peer(s, id, loose[i], &err), MT_EINVAL);
        EXPECT(mt_torrent_add_web_seed(s, id, "http://", &err), MT_EINVAL);
        EXPECT(mt_torrent_add_web_seed(s, id, "http://127.0.20.50/a b", &err), MT_EINVAL);
    }
    EXPECT(mt_torrent_connect_peer(NULL, id, "127.0.20.9:1", &err), MT_EINVAL);
    EXPECT(mt_torrent_connect_peer(s, NULL, "127.0.20.9:1", &err), MT_EINVAL);
    EXPECT(mt_torrent_add(NULL, &p, id, &err), MT_EINVAL);
    EXPECT(mt_torrent_add(s, NULL, id, &err), MT_EINVAL);

    /* Add: bad sources. */
    memset(&p, 0, sizeof p);
    p.save_path = dir;
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);  /* no source at all */
    {
        const char *bad[] = {"", "magnet:", "magnet:?xt=urn:btih:zz", "magnet:?xt=urn:btih:0123",
                             "http://127.0.20.50/x.torrent", "magnet:?dn=nohash", "not a magnet"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            p.magnet = bad[i];
            EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
        }
    }
    p.magnet = NULL;
    p.torrent = (const uint8_t *)"garbage, not bencoding";
    p.torrent_len = strlen((const char *)p.torrent);
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.torrent = (const uint8_t *)"d4:infod4:name1:xee";  /* bencoded, but no pieces */
    p.torrent_len = strlen((const char *)p.torrent);
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.torrent = t;
    p.torrent_len = len - 1;  /* truncated */
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.torrent_len = 0;
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.torrent_len = len;
    p.magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);  /* two sources */
    p.magnet = NULL;
    p.save_path = NULL;
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    ck_assert_msg(strstr(err.message, "save path") != NULL, "%s", err.message);
    p.save_path = "";
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.save_path = dir;
    p.torrent = NULL;
    p.torrent_len = 0;
    t_fmt(tfile, sizeof tfile, "%s/none.torrent", dir);
    p.torrent_file = tfile;
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EIO);
    t_write(tfile, "d3:fooi1ee", 10);
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.torrent_file = NULL;
    p.magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    p.resume = (const uint8_t *)"not resume data";
    p.resume_len = strlen((const char *)p.resume);
    EXPECT(mt_torrent_add(s, &p, NULL, &err), MT_EINVAL);
    p.magnet = NULL;
    p.resume = (const uint8_t *)"de";  /* valid bencoding naming no torrent */
    p.resume_len = 2;
    {
        int rc = mt_torrent_add(s, &p, NULL, &err);
        ck_assert_msg(rc == MT_EINVAL, "empty resume: %d %s", rc, err.message);
    }
    p.resume = NULL;
    p.resume_len = 0;

    /* The same torrent twice, elsewhere and unpaused: MT_EEXIST, and the
     * first one keeps its save path and paused state. */
    p.torrent = t;
    p.torrent_len = len;
    p.save_path = "/tmp";
    p.flags = 0;
    {
        uint8_t did[20];
        int rc = mt_torrent_add(s, &p, did, &err);
        ck_assert_msg(rc == MT_EEXIST && err.code == rc && err.message[0], "duplicate add: %d", rc);
        ck_assert_int_eq(mt_torrent_list(s, NULL, 0, &count, &err), 0);
        ck_assert_uint_eq(count, 1);
        t_status(s, id, &st);
        ck_assert_str_eq(st.save_path, dir);
        ck_assert_int_eq(st.paused, 1);
    }
    p.torrent = NULL;
    p.torrent_len = 0;
    p.save_path = dir;

    /* Peers: only IP:PORT with a port 1-65535. Any address that would pass
     * is a 127.0.20.x one, so a parser bug cannot send traffic elsewhere. */
    {
        const char *bad[] = {"nonsense", "1.2.3.4:0", "1.2.3.4:99999", "127.0.20.9:", ":6881", "127.0.20.9",
                             "127.0.20.9:80x", "127.0.20.9:-1", "host.example:80", "[::1]:abc", "",
                             "300.1.1.1:80", "127.0.20.9:4294967297", "127.0.20.9:65536"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            mt_error_clear(&err);
            int rc = mt_torrent_connect_peer(s, id, bad[i], &err);
            ck_assert_msg(rc == MT_EINVAL && err.message[0], "connect_peer '%s': %d (%s)", bad[i], rc, err.message);
        }
    }
    /* Web seeds: http(s) only. */
    {
        const char *bad[] = {"", "ftp://127.0.20.50/x", "127.0.20.50/x", "file:///etc/passwd", "HTTP:/x"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            EXPECT(mt_torrent_add_web_seed(s, id, bad[i], &err), MT_EINVAL);
    }
    /* Files: index and priority ranges. */
    ck_assert_int_eq(mt_torrent_file_count(s, id, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    EXPECT(mt_torrent_file_info(s, id, 1, &fi, &err), MT_EINVAL);
    EXPECT(mt_torrent_file_info(s, id, -1, &fi, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(s, id, 1, 4, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(s, id, -1, 4, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(s, id, 0, 9, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(s, id, 0, 8, &err), MT_EINVAL);
    EXPECT(mt_torrent_set_file_priority(s, id, 0, -1, &err), MT_EINVAL);
    ck_assert_int_eq(mt_torrent_file_info(s, id, 0, &fi, &err), 0);
    ck_assert_int_eq(fi.priority, 4);  /* refused calls changed nothing */
    ck_assert_str_eq(fi.path, "f.bin");
    ck_assert_int_eq(fi.size, 100000);

    /* Files need metadata: a magnet nobody serves, paused. */
    randombytes_buf(hash, sizeof hash);
    mt_hex_encode(hash, 20, hex);
    t_fmt(magnet, sizeof magnet, "magnet:?xt=urn:btih:%s", hex);
    memset(&p, 0, sizeof p);
    p.magnet = magnet;
    p.save_path = dir;
    p.flags = MT_ADD_PAUSED;
    ck_assert_int_eq(mt_torrent_add(s, &p, mid, &err), 0);
    ck_assert(memcmp(mid, hash, 20) == 0);
    t_status(s, mid, &st);
    ck_assert_int_eq(st.has_metadata, 0);
    ck_assert_int_eq(st.paused, 1);
    ck_assert_int_eq(st.has_v1, 1);
    EXPECT(mt_torrent_file_count(s, mid, &n, &err), MT_ESTATE);
    EXPECT(mt_torrent_file_info(s, mid, 0, &fi, &err), MT_ESTATE);
    EXPECT(mt_torrent_set_file_priority(s, mid, 0, 1, &err), MT_ESTATE);
    /* Still listed, and both torrents are there. */
    ck_assert_int_eq(mt_torrent_list(s, ids, 2, &count, &err), 0);
    ck_assert_uint_eq(count, 2);
    /* cap smaller than the count: count says how many there are. */
    ck_assert_int_eq(mt_torrent_list(s, ids, 1, &count, &err), 0);
    ck_assert_uint_eq(count, 2);

    /* Errors with err == NULL do not crash. */
    ck_assert_int_eq(mt_torrent_get_status(s, unknown, &st, NULL), MT_ENOTFOUND);
    ck_assert_int_eq(mt_torrent_connect_peer(s, id, "nonsense", NULL), MT_EINVAL);
    mt_free(t);
    mt_session_free(s);
    t_rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *torrent_suite(void)
{
    Suite *s = suite_create("torrent");
    TCase *cr = tcase_create("create");
    TCase *xfer = tcase_create("transfer");
    TCase *api = tcase_create("api");

    tcase_add_unchecked_fixture(cr, base_up, base_down);
    tcase_add_unchecked_fixture(xfer, base_up, base_down);
    tcase_add_unchecked_fixture(api, base_up, base_down);

    tcase_set_timeout(cr, 120);
    tcase_add_test(cr, create_versions_and_determinism);
    tcase_add_test(cr, create_independent_of_order_place_and_symlinks);
    tcase_add_test(cr, create_bad_inputs);
    suite_add_tcase(s, cr);

    tcase_set_timeout(xfer, 120);
    tcase_add_loop_test(xfer, magnet_download_from_peer, 0, 3);
    tcase_add_test(xfer, skipped_file_not_downloaded);
    tcase_add_test(xfer, web_seed_single_file);
    tcase_add_test(xfer, web_seed_added_at_runtime);
    suite_add_tcase(s, xfer);

    tcase_set_timeout(api, 120);
    tcase_add_test(api, torrent_api_round_trip);
    tcase_add_test(api, torrent_error_paths);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(torrent_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
