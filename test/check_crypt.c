/*
 * check_crypt.c - encrypted peer links (plugin/mt_crypt.h) between real
 * libtorrent sessions on 127.0.98.x. The downloader reaches the seed through
 * the recording TCP relay of tcprelay.h, which keeps every byte in both
 * directions; the recording is then searched for any 64-byte window of the
 * file (testfs.h t_windows_*).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_crypt.h"
#include "tcprelay.h"
#include "testfs.h"
#include "testutil.h"

#define MIB (1024 * 1024)
#define NO_PLUGIN (-1)

static char base_dir[64];

static void base_up(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/mt-crypt-XXXXXX");
    ck_assert_msg(mkdtemp(base_dir) != NULL, "mkdtemp: %s", strerror(errno));
    ck_assert(sodium_init() >= 0);
}

static void base_down(void)
{
    t_rm_rf(base_dir);
}

/* ---------------------------------------------------------- sessions */

/* A session on addr (free port, outgoing from addr, no DHT); mode
 * NO_PLUGIN leaves mt_crypt out entirely. */
static mt_session *t_session(const char *addr, int mode)
{
    char listen[64];
    mt_session_config cfg;
    mt_session *s = NULL;
    mt_error err;
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    t_fmt(listen, sizeof listen, "%s:0", addr);
    mt_session_config_init_loopback(&cfg, listen);
    cfg.outgoing_interfaces = addr;
    cfg.enable_dht = 0;
    ck_assert_msg(mt_session_new(&cfg, &s, &err) == 0, "session on %s: %s", addr, err.message);
    if (mode != NO_PLUGIN)
        ck_assert_msg(mt_crypt_enable(s, (mt_crypt_mode)mode, &err) == 0, "crypt on %s: %s", addr, err.message);
    while (mt_session_listen_port(s) <= 0) {
        ck_assert_msg(mt_now_ms() < deadline, "session on %s does not listen", addr);
        t_sleep_ms(10);
    }
    return s;
}

static void t_status(mt_session *s, const uint8_t id[20], mt_torrent_status *st)
{
    mt_error err;
    ck_assert_msg(mt_torrent_get_status(s, id, st, &err) == 0, "status: %s", err.message);
}

static void t_add(mt_session *s, const uint8_t *t, size_t len, const char *save, uint8_t id[20])
{
    mt_add_params p;
    mt_error err;
    memset(&p, 0, sizeof p);
    p.torrent = t;
    p.torrent_len = len;
    p.save_path = save;
    ck_assert_msg(mt_torrent_add(s, &p, id, &err) == 0, "add: %s", err.message);
}

static uint8_t *t_read_file(const char *path, size_t want)
{
    uint8_t *b = malloc(want ? want : 1);
    FILE *f = fopen(path, "rb");
    ck_assert(b != NULL);
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_msg(fread(b, 1, want, f) == want, "%s is short", path);
    ck_assert(fgetc(f) == EOF);
    fclose(f);
    return b;
}

/*
 * One swarm of two: seed A (mode_a) on 127.0.98.<net*10+1>, downloader B
 * (mode_b) on .2, B connecting to A only through the relay (.3, dialing A
 * from .4). `size` random bytes in data.bin.
 */
struct swarm {
    char dir[128], dst[192], file[192];
    char a_addr[32], b_addr[32], r_addr[32], r_bind[32], relay_ep[64];
    mt_session *a, *b;
    uint8_t id[20];
    uint8_t *data, *torrent;
    size_t size, torrent_len;
    t_relay relay;
};

static void swarm_up(struct swarm *w, int net, int mode_a, int mode_b, size_t size)
{
    mt_create_params cp;
    mt_event ev;
    mt_error err;
    FILE *f;
    memset(w, 0, sizeof *w);
    t_fmt(w->a_addr, sizeof w->a_addr, "127.0.98.%d", net * 10 + 1);
    t_fmt(w->b_addr, sizeof w->b_addr, "127.0.98.%d", net * 10 + 2);
    t_fmt(w->r_addr, sizeof w->r_addr, "127.0.98.%d", net * 10 + 3);
    t_fmt(w->r_bind, sizeof w->r_bind, "127.0.98.%d", net * 10 + 4);
    t_fmt(w->dir, sizeof w->dir, "%s/s%d", base_dir, net);
    ck_assert(mkdir(w->dir, 0755) == 0);
    t_fmt(w->dst, sizeof w->dst, "%s/dst", w->dir);
    ck_assert(mkdir(w->dst, 0755) == 0);
    t_fmt(w->file, sizeof w->file, "%s/data.bin", w->dir);
    w->size = size;
    w->data = malloc(size);
    ck_assert(w->data != NULL);
    randombytes_buf(w->data, size);
    f = fopen(w->file, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(w->data, 1, size, f) == size);
    ck_assert(fclose(f) == 0);
    memset(&cp, 0, sizeof cp);
    cp.path = w->file;
    cp.version = MT_TORRENT_V1;
    ck_assert_msg(mt_torrent_create(&cp, &w->torrent, &w->torrent_len, &err) == 0, "create: %s", err.message);

    w->a = t_session(w->a_addr, mode_a);
    w->b = t_session(w->b_addr, mode_b);
    t_add(w->a, w->torrent, w->torrent_len, w->dir, w->id);
    t_wait(w->a, MT_EVENT_TORRENT_CHECKED, w->id, &ev);
    mt_event_clear(&ev);
    t_add(w->b, w->torrent, w->torrent_len, w->dst, w->id);
    t_relay_start(&w->relay, w->r_addr, w->r_bind, w->a_addr, mt_session_listen_port(w->a));
    t_fmt(w->relay_ep, sizeof w->relay_ep, "%s:%d", w->r_addr, w->relay.port);
}

/* Connect B to the relay (again every 3 s while it has no peer) until B has
 * the whole file or timeout_ms passes; returns the milliseconds taken, or -1. */
static int64_t swarm_download(struct swarm *w, int64_t timeout_ms)
{
    int64_t start = mt_now_ms(), next = 0;
    mt_torrent_status st;
    mt_error err;
    for (;;) {
        t_status(w->b, w->id, &st);
        if (st.total_done == (int64_t)w->size)
            return mt_now_ms() - start;
        if (mt_now_ms() - start > timeout_ms)
            return -1;
        if (st.num_peers == 0 && mt_now_ms() >= next) {
            ck_assert_msg(mt_torrent_connect_peer(w->b, w->id, w->relay_ep, &err) == 0, "connect: %s", err.message);
            next = mt_now_ms() + 3000;
        }
        t_sleep_ms(20);
    }
}

static void swarm_check_file(struct swarm *w)
{
    char path[256];
    t_fmt(path, sizeof path, "%s/data.bin", w->dst);
    uint8_t *got = t_read_file(path, w->size);
    ck_assert_msg(memcmp(got, w->data, w->size) == 0, "downloaded file differs");
    free(got);
}

/* Offset of the first 64-byte window of the file in what the relay saw
 * (either direction), or -1. Call after relay_stop. */
static long swarm_leak(struct swarm *w, int *dir)
{
    t_windows *tw = t_windows_new(w->data, w->size);
    long at = t_windows_find(tw, w->relay.down.buf, w->relay.down.len);
    *dir = 0;
    if (at < 0) {
        at = t_windows_find(tw, w->relay.up.buf, w->relay.up.len);
        *dir = 1;
    }
    t_windows_free(tw);
    return at;
}

static void swarm_down(struct swarm *w)
{
    mt_session_free(w->b);
    mt_session_free(w->a);
    t_relay_stop(&w->relay);
    t_relay_free(&w->relay);
    free(w->data);
    mt_free(w->torrent);
}

/* ------------------------------------------------------------- tests */

static void report(const char *what, struct swarm *w, int64_t ms)
{
    double secs = ms > 0 ? ms / 1000.0 : 0.001;
    fprintf(stderr, "check_crypt: %s: %zu MiB in %.2f s (%.1f MiB/s); relay saw %zu bytes down, %zu up\n", what,
            w->size / MIB, secs, (double)w->size / MIB / secs, w->relay.down.len, w->relay.up.len);
}

START_TEST(test_require_64mib)
{
    struct swarm w;
    mt_crypt_stats sa, sb;
    int dir;
    swarm_up(&w, 1, MT_CRYPT_REQUIRE, MT_CRYPT_REQUIRE, 64 * MIB);
    int64_t ms = swarm_download(&w, 150000);
    ck_assert_msg(ms >= 0, "64 MiB did not arrive through the encrypted link");
    swarm_check_file(&w);
    mt_crypt_get_stats(w.a, &sa);
    mt_crypt_get_stats(w.b, &sb);
    t_relay_stop(&w.relay);
    report("encrypted (require/require)", &w, ms);
    ck_assert_msg(w.relay.down.len > w.size, "relay saw only %zu bytes", w.relay.down.len);
    long at = swarm_leak(&w, &dir);
    ck_assert_msg(at < 0, "a 64-byte window of the file is on the wire (%s, offset %ld)", dir ? "up" : "down", at);
    ck_assert_msg(sa.upgraded >= 1 && sb.upgraded >= 1, "upgraded %llu / %llu", (unsigned long long)sa.upgraded,
                  (unsigned long long)sb.upgraded);
    ck_assert(sa.failed == 0 && sb.failed == 0);
    swarm_down(&w);
}
END_TEST

/* Control: the same transfer without the plugin leaks the file to the
 * relay, so the window check can fail; also the plain throughput. */
START_TEST(test_plain_control)
{
    struct swarm w;
    int dir;
    swarm_up(&w, 2, NO_PLUGIN, NO_PLUGIN, 64 * MIB);
    int64_t ms = swarm_download(&w, 150000);
    ck_assert_msg(ms >= 0, "64 MiB did not arrive over the plain link");
    swarm_check_file(&w);
    t_relay_stop(&w.relay);
    report("plain (no plugin)", &w, ms);
    long at = swarm_leak(&w, &dir);
    ck_assert_msg(at >= 0, "the plain transfer shows no window of the file: the check is blind");
    swarm_down(&w);
}
END_TEST

START_TEST(test_prefer_plain_peer)
{
    struct swarm w;
    mt_crypt_stats sa;
    swarm_up(&w, 3, MT_CRYPT_PREFER, NO_PLUGIN, 2 * MIB);
    int64_t ms = swarm_download(&w, 30000);
    ck_assert_msg(ms >= 0, "a peer without the extension could not download from a prefer seed");
    swarm_check_file(&w);
    mt_crypt_get_stats(w.a, &sa);
    ck_assert_msg(sa.plain >= 1 && sa.upgraded == 0 && sa.refused == 0, "plain %llu upgraded %llu refused %llu",
                  (unsigned long long)sa.plain, (unsigned long long)sa.upgraded, (unsigned long long)sa.refused);
    swarm_down(&w);
}
END_TEST

START_TEST(test_require_refuses_plain_peer)
{
    struct swarm w;
    mt_crypt_stats sa;
    mt_torrent_status st;
    int dir;
    swarm_up(&w, 4, MT_CRYPT_REQUIRE, NO_PLUGIN, 2 * MIB);
    int64_t ms = swarm_download(&w, 10000);
    ck_assert_msg(ms < 0, "a peer without the extension downloaded from a require seed");
    t_status(w.b, w.id, &st);
    ck_assert_msg(st.total_done == 0, "the plain peer got %lld bytes", (long long)st.total_done);
    mt_crypt_get_stats(w.a, &sa);
    ck_assert_msg(sa.refused >= 1 && sa.upgraded == 0, "refused %llu upgraded %llu", (unsigned long long)sa.refused,
                  (unsigned long long)sa.upgraded);
    ck_assert_msg(w.relay.accepted >= 1, "the peer never reached the seed");
    t_relay_stop(&w.relay);
    ck_assert_msg(swarm_leak(&w, &dir) < 0, "file bytes reached a refused peer");
    swarm_down(&w);
}
END_TEST

/* Over libtorrent's RC4 protocol encryption the switch replaces RC4. */
START_TEST(test_prefer_over_rc4)
{
    struct swarm w;
    mt_crypt_stats sa, sb;
    mt_error err;
    int dir;
    swarm_up(&w, 5, MT_CRYPT_PREFER, MT_CRYPT_PREFER, 4 * MIB);
    ck_assert(mt_session_set_setting(w.a, "prefer_rc4", "true", &err) == 0);
    ck_assert(mt_session_set_setting(w.b, "prefer_rc4", "true", &err) == 0);
    ck_assert(mt_session_set_setting(w.b, "out_enc_policy", "0", &err) == 0); /* pe_forced */
    int64_t ms = swarm_download(&w, 30000);
    ck_assert_msg(ms >= 0, "download over rc4 + lt_mtcrypt failed");
    swarm_check_file(&w);
    mt_crypt_get_stats(w.a, &sa);
    mt_crypt_get_stats(w.b, &sb);
    ck_assert_msg(sa.upgraded >= 1 && sb.upgraded >= 1, "upgraded %llu / %llu", (unsigned long long)sa.upgraded,
                  (unsigned long long)sb.upgraded);
    t_relay_stop(&w.relay);
    ck_assert(swarm_leak(&w, &dir) < 0);
    swarm_down(&w);
}
END_TEST

/* The frame codec: a known answer, then every kind of change refused with
 * the body wiped. */
START_TEST(test_frame_codec)
{
    uint8_t key[32], other[32], hdr[MT_CRYPT_FRAME_HEADER], h2[MT_CRYPT_FRAME_HEADER], buf[64], copy[64];
    const char *msg = "hello, peer";
    size_t n = strlen(msg), got = 99;

    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(i + 1);
    }
    memcpy(buf, msg, n);
    ck_assert_int_eq(mt_crypt_frame_seal(key, 5, buf, n, hdr), 0);
    /* Against libsodium directly: ChaCha20-Poly1305-IETF (RFC 8439), AD =
     * the 4 length bytes, nonce = 4 zero bytes || u64 LE 5. A change of the
     * wire format breaks it. */
    {
        uint8_t nonce[12] = {0, 0, 0, 0, 5}, ct[64], tag[16];
        unsigned long long tl = 0;
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct, tag, &tl, (const uint8_t *)msg, n, hdr, 4, NULL,
                                                           nonce, key);
        ck_assert_uint_eq(hdr[0] | hdr[1] | hdr[2], 0);
        ck_assert_uint_eq(hdr[3], n);
        ck_assert(memcmp(hdr + 4, tag, 16) == 0);
        ck_assert(memcmp(buf, ct, n) == 0);
    }
    ck_assert_int_eq(mt_crypt_frame_length(hdr, &got), 0);
    ck_assert_uint_eq(got, n);
    memcpy(copy, buf, n);
    ck_assert_int_eq(mt_crypt_frame_open(key, 5, hdr, buf, n), 0);
    ck_assert(memcmp(buf, msg, n) == 0);

    /* Wrong counter (a replayed or reordered frame), wrong key, a changed
     * body, tag or length byte: refused, body zeroed. */
    for (int k = 0; k < 5; k++) {
        uint8_t zero[64] = {0};
        memcpy(buf, copy, n);
        memcpy(h2, hdr, sizeof hdr);
        uint64_t ctr = 5;
        const uint8_t *kk = key;
        size_t len = n;
        if (k == 0)
            ctr = 6;
        else if (k == 1)
            kk = other;
        else if (k == 2)
            buf[3] ^= 0x01;
        else if (k == 3)
            h2[4 + 15] ^= 0x80;
        else {
            h2[3] = (uint8_t)(n - 1); /* a shorter length authenticates nothing */
            len = n - 1;
        }
        ck_assert_int_eq(mt_crypt_frame_open(kk, ctr, h2, buf, len), MT_ECRYPTO);
        ck_assert(memcmp(buf, zero, len) == 0);
    }
    /* Lengths the reader refuses before reading a body. */
    memset(h2, 0, sizeof h2);
    ck_assert_int_eq(mt_crypt_frame_length(h2, &got), MT_EINVAL);
    ck_assert_uint_eq(got, 0);
    h2[1] = 0x10;
    h2[3] = 0x01; /* 1 MiB + 1 */
    ck_assert_int_eq(mt_crypt_frame_length(h2, &got), MT_EINVAL);
    h2[3] = 0x00; /* exactly 1 MiB */
    ck_assert_int_eq(mt_crypt_frame_length(h2, &got), 0);
    ck_assert_uint_eq(got, MT_CRYPT_FRAME_MAX);
    ck_assert_int_eq(mt_crypt_frame_open(key, 5, hdr, buf, n + 1), MT_EINVAL); /* length is not n */
    ck_assert_int_eq(mt_crypt_frame_seal(key, 0, buf, 0, h2), MT_EINVAL);
    ck_assert_int_eq(mt_crypt_frame_seal(key, 0, buf, (size_t)MT_CRYPT_FRAME_MAX + 1, h2), MT_EINVAL);
}
END_TEST

START_TEST(test_enable_args)
{
    mt_error err;
    mt_session *s = t_session("127.0.98.61", NO_PLUGIN);
    mt_crypt_stats st;
    ck_assert_int_eq(mt_crypt_enable(NULL, MT_CRYPT_PREFER, &err), MT_EINVAL);
    ck_assert_int_eq(mt_crypt_enable(s, (mt_crypt_mode)7, &err), MT_EINVAL);
    ck_assert_int_eq(mt_crypt_enable(s, MT_CRYPT_OFF, &err), MT_OK);
    ck_assert_int_eq(mt_crypt_enable(s, MT_CRYPT_REQUIRE, &err), MT_OK);
    ck_assert_int_eq(mt_crypt_enable(s, MT_CRYPT_PREFER, &err), MT_EEXIST);
    mt_crypt_get_stats(s, &st);
    ck_assert(st.upgraded == 0 && st.refused == 0 && st.plain == 0 && st.failed == 0);
    mt_crypt_get_stats(NULL, &st);
    mt_session_free(s);
}
END_TEST

static Suite *crypt_suite(void)
{
    Suite *s = suite_create("crypt");
    TCase *tc = tcase_create("links");
    tcase_add_checked_fixture(tc, base_up, base_down);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_enable_args);
    tcase_add_test(tc, test_frame_codec);
    tcase_add_test(tc, test_require_64mib);
    tcase_add_test(tc, test_plain_control);
    tcase_add_test(tc, test_prefer_plain_peer);
    tcase_add_test(tc, test_require_refuses_plain_peer);
    tcase_add_test(tc, test_prefer_over_rc4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crypt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
