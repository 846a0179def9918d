/*
 * check_wire.c - the mt-wire transport: the reference test vectors and the
 * frame codec; a client against the server on 127.0.0.1 (blobs, missing
 * blobs, FIND_PEERS, many gets on one connection, pipelining and
 * back-pressure); and hardening, each case its own test with the
 * misbehaving side played by raw sockets from here: over-cap, forged and
 * short frames, malformed requests with bait files outside blob_dir,
 * handshake and idle timeouts, low-order keys, per-IP and total caps, and a
 * fake server feeding the client oversized or wrong DATA.
 *
 * Every server, thread and socket a test opens it also closes; only
 * 127.0.0.0/8 is used.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "mt_util.h"
#include "mt_wire.h"
#include "testfs.h"

/* Bounds hangs only; nothing here takes near this long, even on a busy
 * machine (the waits end when the thing waited for happens). */
#define T_IO_MS 15000

static const char HELLO[] = "{\"v\":5,\"gossip\":{}}";

/* One base directory per run, removed by main() even if tests fail. */
static char g_base[64];

/* -------------------------------------------------------------- helpers */

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
#define E (&e_)

static void t_assert_hex(const uint8_t *got, size_t n, const char *want)
{
    char buf[2 * 128 + 1];
    ck_assert(n <= 128);
    mt_hex_encode(got, n, buf);
    ck_assert_str_eq(buf, want);
}

/* A fresh directory under the base: dir/blobs is blob_dir, dir itself
 * holds the bait that must never be served. */
static void t_dirs(char *dir, size_t dcap, char *blobs, size_t bcap)
{
    t_fmt(dir, dcap, "%s/t-XXXXXX", g_base);
    ck_assert(mkdtemp(dir) != NULL);
    t_fmt(blobs, bcap, "%s/blobs", dir);
    ck_assert(mkdir(blobs, 0700) == 0);
}

static void t_write(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

/* Lower-case hex SHA-256, computed here rather than by the library. */
static void t_sha_id(const uint8_t *data, size_t len, char id[65])
{
    uint8_t h[32];
    crypto_hash_sha256(h, data, len);
    mt_hex_encode(h, 32, id);
}

/* Random bytes stored as blobs/<sha256>; returns the data (free()). */
static uint8_t *t_blob(const char *blobs, size_t len, char id[65])
{
    char path[512];
    uint8_t *data = malloc(len ? len : 1);
    ck_assert(data != NULL);
    randombytes_buf(data, len);
    t_sha_id(data, len, id);
    t_fmt(path, sizeof path, "%s/%s", blobs, id);
    t_write(path, data, len);
    return data;
}

/* Served-callback record: written on the server thread. */
static pthread_mutex_t g_cb_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_served;
static char g_served_id[65];

static void t_served(void *ud, const char *blob_id)
{
    (void)ud;
    pthread_mutex_lock(&g_cb_mu);
    g_served++;
    snprintf(g_served_id, sizeof g_served_id, "%s", blob_id);
    pthread_mutex_unlock(&g_cb_mu);
}

/* Peers callback: two real peers, junk the client must drop, and a string
 * that fills its slot without a NUL (the server must cut it). */
static size_t t_peers(void *ud, const char *blob_id, char (*out)[64], size_t cap)
{
    (void)ud;
    (void)blob_id;
    ck_assert(cap >= 4);
    snprintf(out[0], 64, "127.0.0.1:6881");
    snprintf(out[1], 64, "[::1]:7000");
    snprintf(out[2], 64, "not-a-peer");
    memset(out[3], '9', 64);
    return 4;
}

static void t_server_cfg(mt_wire_server_config *cfg, const char *blobs)
{
    mt_wire_server_config_init(cfg);
    cfg->listen = "127.0.0.1:0";
    cfg->blob_dir = blobs;
    cfg->served = t_served;
}

static mt_wire_server *t_start(const mt_wire_server_config *cfg, char *hostport, size_t cap)
{
    mt_wire_server *s = NULL;
    T_OK(mt_wire_server_start(cfg, &s, E));
    ck_assert_int_gt(mt_wire_server_port(s), 0);
    t_fmt(hostport, cap, "127.0.0.1:%d", mt_wire_server_port(s));
    return s;
}

static mt_wire_conn *t_connect(const char *hostport)
{
    mt_wire_conn *c = NULL;
    T_OK(mt_wire_connect(hostport, T_IO_MS, &c, E));
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Get blob id and compare it with want. */
static void t_get_eq(mt_wire_conn *c, const char *id, const uint8_t *want, size_t len)
{
    uint8_t *got = NULL;
    size_t n = 0;
    T_OK(mt_wire_get(c, id, T_IO_MS, &got, &n, E));
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(got, want, len) == 0);
    free(got);
}

static mt_wire_server_stats t_stats(mt_wire_server *s)
{
    mt_wire_server_stats st;
    mt_wire_server_get_stats(s, &st);
    return st;
}

/* Wait (bounded) until a stats condition holds: the server counts after
 * it has closed, so a test that saw EOF may be a moment early. */
#define T_WAIT_STAT(s, st, cond)                                           \
    do {                                                                   \
        int64_t until_ = mt_now_ms() + T_IO_MS;                            \
        for (;;) {                                                         \
            (st) = t_stats(s);                                             \
            if ((cond) || mt_now_ms() > until_)                            \
                break;                                                     \
            t_sleep_ms(10);                                                \
        }                                                                  \
        ck_assert_msg((cond), "stats never reached: %s", #cond);           \
    } while (0)

/* ----------------------------------------------------- raw-socket peers */

/* Bytes fd has sent that the other end's kernel has not acknowledged. */
static int t_unacked(int fd)
{
    int n = -1;
    ck_assert(ioctl(fd, SIOCOUTQ, &n) == 0);
    return n;
}

static void t_timeouts(int fd)
{
    struct timeval tv = {T_IO_MS / 1000, 0};
    ck_assert(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    ck_assert(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

/* A blocking TCP socket to 127.0.0.1:port, bound first to src if given,
 * with a receive buffer of rcvbuf bytes if not 0. */
static int t_raw_connect2(const char *src, int port, int rcvbuf)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    t_timeouts(fd);
    if (rcvbuf)
        ck_assert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    if (src) {
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        ck_assert(inet_pton(AF_INET, src, &a.sin_addr) == 1);
        ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind %s: %s", src, strerror(errno));
    }
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    return fd;
}

static int t_raw_connect(const char *src, int port)
{
    return t_raw_connect2(src, port, 0);
}

static void t_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

/* Exactly n bytes, or -1 when the peer closes (or resets) first. */
static int t_recv(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)), "recv timed out");
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Our key out, theirs in, keys derived (initiator unless server). */
static void t_handshake(int fd, int initiator, mt_wire_keys *k)
{
    uint8_t pk[32], sk[32], peer[32];
    mt_wire_keypair(pk, sk);
    if (initiator) {
        t_send(fd, pk, 32);
        ck_assert_int_eq(t_recv(fd, peer, 32), 0);
    } else {
        ck_assert_int_eq(t_recv(fd, peer, 32), 0);
        t_send(fd, pk, 32);
    }
    T_OK(mt_wire_derive(sk, peer, initiator, k, NULL, E));
}

static void t_frame_send(int fd, mt_wire_keys *k, uint8_t type, const void *payload, size_t len)
{
    uint8_t *f = malloc(len + 21);
    size_t flen = 0;
    ck_assert(f != NULL);
    T_OK(mt_wire_seal(k, type, payload, len, f, len + 21, &flen, E));
    t_send(fd, f, flen);
    free(f);
}

/* A handshaken raw client that has said HELLO. */
static int t_raw_client2(const char *src, int port, int rcvbuf, mt_wire_keys *k)
{
    int fd = t_raw_connect2(src, port, rcvbuf);
    t_handshake(fd, 1, k);
    t_frame_send(fd, k, MT_WIRE_HELLO, HELLO, sizeof HELLO - 1);
    return fd;
}

static int t_raw_client(const char *src, int port, mt_wire_keys *k)
{
    return t_raw_client2(src, port, 0, k);
}

/* One frame: 0 and a malloc'd body (payload at body + 1), or -1 if the
 * peer closed. */
static int t_frame_recv(int fd, mt_wire_keys *k, uint8_t *type, uint8_t **body, uint8_t **payload, size_t *plen)
{
    uint8_t hdr[4];
    uint32_t len = 0;
    if (t_recv(fd, hdr, 4) != 0)
        return -1;
    T_OK(mt_wire_frame_len(hdr, MT_WIRE_FRAME_MAX, &len, E));
    *body = malloc(len);
    ck_assert(*body != NULL);
    if (t_recv(fd, *body, len) != 0) {
        free(*body);
        return -1;
    }
    T_OK(mt_wire_open(k, *body, len, type, payload, plen, E));
    return 0;
}

/* Expect one ERROR frame with this text. */
static void t_expect_error(int fd, mt_wire_keys *k, const char *text)
{
    uint8_t type = 0, *body = NULL, *p = NULL;
    size_t n = 0;
    ck_assert_msg(t_frame_recv(fd, k, &type, &body, &p, &n) == 0, "closed before ERROR \"%s\"", text);
    ck_assert_int_eq(type, MT_WIRE_ERROR);
    ck_assert_msg(n == strlen(text) && memcmp(p, text, n) == 0, "ERROR \"%.*s\", expected \"%s\"", (int)n,
                  (const char *)p, text);
    free(body);
}

/* Expect a DATA frame holding want. */
static void t_expect_data(int fd, mt_wire_keys *k, const uint8_t *want, size_t len)
{
    uint8_t type = 0, *body = NULL, *p = NULL;
    size_t n = 0;
    ck_assert_msg(t_frame_recv(fd, k, &type, &body, &p, &n) == 0, "closed before DATA");
    ck_assert_int_eq(type, MT_WIRE_DATA);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(p, want, len) == 0);
    free(body);
}

/* Read until the peer closes; the bytes that came first in *extra.
 * 1 if it closed within ms, 0 if not. */
static int t_closed_within(int fd, int ms, size_t *extra)
{
    int64_t until = mt_now_ms() + ms;
    uint8_t buf[4096];
    size_t got = 0;
    int closed = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(until - mt_now_ms());
        ssize_t r;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            closed = 1;
            break;
        }
    }
    if (extra)
        *extra = got;
    return closed;
}

/* ----------------------------------------------------------- fake server */

enum { FAKE_BIG_LEN, FAKE_HUGE_LEN, FAKE_BAD_HASH, FAKE_ERROR, FAKE_BAD_TAG };

typedef struct fake {
    int       lfd, port, mode;
    pthread_t th;
} fake;

/* Plays a server that misbehaves after the client's REQUEST. */
static void *fake_main(void *arg)
{
    fake *f = arg;
    mt_wire_keys k;
    uint8_t type = 0, *body = NULL, *p = NULL, junk[100];
    size_t n = 0;
    int fd;

    fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    t_timeouts(fd);
    t_handshake(fd, 0, &k);
    /* HELLO, then the REQUEST */
    if (t_frame_recv(fd, &k, &type, &body, &p, &n) == 0)
        free(body);
    if (t_frame_recv(fd, &k, &type, &body, &p, &n) == 0)
        free(body);
    if (f->mode == FAKE_BIG_LEN || f->mode == FAKE_HUGE_LEN) {
        /* Only the prefix: a client that waits for the body times out. */
        uint32_t len = f->mode == FAKE_BIG_LEN ? MT_WIRE_FRAME_MAX + 1 : 0xFFFFFFFFu;
        uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
        t_send(fd, hdr, 4);
    } else if (f->mode == FAKE_BAD_HASH) {
        t_frame_send(fd, &k, MT_WIRE_HELLO, HELLO, sizeof HELLO - 1); /* skipped by the client */
        randombytes_buf(junk, sizeof junk);
        t_frame_send(fd, &k, MT_WIRE_DATA, junk, sizeof junk);
    } else if (f->mode == FAKE_ERROR) {
        t_frame_send(fd, &k, MT_WIRE_ERROR, "Not Found\x01", 10);
    } else {
        uint8_t frame[64];
        size_t flen = 0;
        T_OK(mt_wire_seal(&k, MT_WIRE_DATA, junk, 10, frame, sizeof frame, &flen, E));
        frame[flen - 1] ^= 1;
        t_send(fd, frame, flen);
    }
    t_closed_within(fd, T_IO_MS, NULL); /* until the client hangs up */
    close(fd);
    mt_wire_keys_wipe(&k);
    return NULL;
}

static void fake_start(fake *f, int mode, char *hostport, size_t cap)
{
    struct sockaddr_in a;
    socklen_t sl = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->mode = mode;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(f->lfd >= 0);
    ck_assert(bind(f->lfd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(listen(f->lfd, 4) == 0);
    ck_assert(getsockname(f->lfd, (struct sockaddr *)&a, &sl) == 0);
    f->port = ntohs(a.sin_port);
    t_fmt(hostport, cap, "127.0.0.1:%d", f->port);
    ck_assert(pthread_create(&f->th, NULL, fake_main, f) == 0);
}

static void fake_stop(fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

/* ========================================================== codec tests */

static const char V_SHARED[] = "2ed76ab549b1e73c031eb49c9448f0798aea81b698279a0c3dc3e49fbfc4b953";
static const char V_KC[] = "a57ae0c355d626a854277984e2e253b63dbf405fa98e4d85eae584a1645a0985";
static const char V_KS[] = "2b8515e29cd85648d424a3270dc168d6b4d1f05b2be9c95842d706fc69f7a763";
static const char V_HELLO_FRAME[] =
    "000000240a728a647c2908ad4fb134052ba94ab7737c57a91c60709a106a3ac68dd455027ca2f1d6";

/* Both sides of the vector handshake: client secret 01*32, server 02*32. */
static void t_vector_keys(mt_wire_keys *client, mt_wire_keys *server)
{
    uint8_t skc[32], sks[32], pkc[32], pks[32], shared[32];
    memset(skc, 0x01, 32);
    memset(sks, 0x02, 32);
    ck_assert(crypto_scalarmult_base(pkc, skc) == 0);
    ck_assert(crypto_scalarmult_base(pks, sks) == 0);
    T_OK(mt_wire_derive(skc, pks, 1, client, shared, E));
    t_assert_hex(shared, 32, V_SHARED);
    T_OK(mt_wire_derive(sks, pkc, 0, server, shared, E));
    t_assert_hex(shared, 32, V_SHARED);
}

START_TEST(test_vectors)
{
    mt_wire_keys kc, ks;
    uint8_t frame[64], zero[12] = {0}, one[12] = {1}, type = 0, *payload = NULL;
    size_t flen = 0, plen = 0;
    uint32_t len = 0;

    t_vector_keys(&kc, &ks);
    t_assert_hex(kc.tx, 32, V_KC);
    t_assert_hex(kc.rx, 32, V_KS);
    t_assert_hex(ks.tx, 32, V_KS);
    t_assert_hex(ks.rx, 32, V_KC);
    ck_assert(memcmp(kc.tx_nonce, zero, 12) == 0 && memcmp(kc.rx_nonce, zero, 12) == 0);

    T_OK(mt_wire_seal(&kc, MT_WIRE_HELLO, (const uint8_t *)HELLO, sizeof HELLO - 1, frame, sizeof frame, &flen, E));
    t_assert_hex(frame, flen, V_HELLO_FRAME);
    ck_assert(memcmp(kc.tx_nonce, one, 12) == 0);

    T_OK(mt_wire_frame_len(frame, MT_WIRE_SERVER_FRAME_MAX, &len, E));
    ck_assert_uint_eq(len, 0x24);
    T_OK(mt_wire_open(&ks, frame + 4, len, &type, &payload, &plen, E));
    ck_assert_int_eq(type, MT_WIRE_HELLO);
    ck_assert_uint_eq(plen, sizeof HELLO - 1);
    ck_assert(memcmp(payload, HELLO, plen) == 0);
    ck_assert(payload == frame + 5);
    ck_assert(memcmp(ks.rx_nonce, one, 12) == 0);
    mt_wire_keys_wipe(&kc);
    mt_wire_keys_wipe(&ks);
    ck_assert(sodium_is_zero((const uint8_t *)&kc, sizeof kc));
}
END_TEST

/* Counters are little-endian: the 256th frame rolls into byte 1, and the
 * receiver stays in step over all of them. */
START_TEST(test_nonce_counter)
{
    mt_wire_keys kc, ks;
    uint8_t frame[64], want[12] = {0}, type = 0, *payload = NULL;
    size_t flen = 0, plen = 0;
    int i;

    t_vector_keys(&kc, &ks);
    for (i = 0; i < 257; i++) {
        uint8_t msg[4] = {(uint8_t)i, (uint8_t)(i >> 8), 0xAA, 0x55};
        T_OK(mt_wire_seal(&kc, MT_WIRE_OK, msg, sizeof msg, frame, sizeof frame, &flen, E));
        T_OK(mt_wire_open(&ks, frame + 4, flen - 4, &type, &payload, &plen, E));
        ck_assert(plen == 4 && memcmp(payload, msg, 4) == 0);
        if (i == 254) {
            want[0] = 0xff; /* 255 frames sealed */
            ck_assert(memcmp(kc.tx_nonce, want, 12) == 0 && memcmp(ks.rx_nonce, want, 12) == 0);
        }
        if (i == 255) {
            want[0] = 0x00;
            want[1] = 0x01; /* the 256th frame carried the carry */
            ck_assert(memcmp(kc.tx_nonce, want, 12) == 0 && memcmp(ks.rx_nonce, want, 12) == 0);
        }
    }
    want[0] = 0x01;
    ck_assert(memcmp(kc.tx_nonce, want, 12) == 0);
    /* A replayed frame (old nonce) fails and leaves the counter alone. */
    T_RC(mt_wire_open(&ks, frame + 4, flen - 4, &type, &payload, &plen, E), MT_ECRYPTO);
    ck_assert(memcmp(ks.rx_nonce, want, 12) == 0);
}
END_TEST

START_TEST(test_codec_limits)
{
    mt_wire_keys kc, ks;
    uint8_t hdr[4], frame[128], copy[128], type = 0, *payload = NULL, rx[12];
    uint8_t sk[32], pk[32], zero_pk[32] = {0}, one_pk[32] = {1}; /* u = 0, u = 1 */
    size_t flen = 0, plen = 0;
    uint32_t len = 0;

    /* Length prefix: cap inclusive, body at least tag + type byte. */
    hdr[0] = 0; hdr[1] = 1; hdr[2] = 0; hdr[3] = 0;
    T_OK(mt_wire_frame_len(hdr, 65536, &len, E));
    ck_assert_uint_eq(len, 65536);
    hdr[3] = 1;
    T_RC(mt_wire_frame_len(hdr, 65536, &len, E), MT_ETOOBIG);
    memset(hdr, 0xff, 4);
    T_RC(mt_wire_frame_len(hdr, MT_WIRE_FRAME_MAX, &len, E), MT_ETOOBIG);
    memset(hdr, 0, 4);
    hdr[3] = 16;
    T_RC(mt_wire_frame_len(hdr, 65536, &len, E), MT_EINVAL);
    hdr[3] = 17;
    T_OK(mt_wire_frame_len(hdr, 65536, &len, E));

    /* Sealing: the frame cap and the caller's buffer. */
    t_vector_keys(&kc, &ks);
    T_RC(mt_wire_seal(&kc, MT_WIRE_DATA, frame, MT_WIRE_FRAME_MAX, frame, sizeof frame, &flen, E), MT_ETOOBIG);
    T_RC(mt_wire_seal(&kc, MT_WIRE_OK, frame, 10, frame, 30, &flen, E), MT_EINVAL);
    ck_assert(sodium_is_zero(kc.tx_nonce, 12)); /* refused: nothing used */
    T_OK(mt_wire_seal(&kc, MT_WIRE_OK, NULL, 0, frame, 21, &flen, E));
    ck_assert_uint_eq(flen, 21);
    T_OK(mt_wire_open(&ks, frame + 4, 17, &type, &payload, &plen, E));
    ck_assert(type == MT_WIRE_OK && plen == 0);

    /* Opening: short bodies and forged tags leave the counter alone. */
    T_OK(mt_wire_seal(&kc, MT_WIRE_REQUEST, (const uint8_t *)"abc", 3, frame, sizeof frame, &flen, E));
    memcpy(copy, frame, flen);
    memcpy(rx, ks.rx_nonce, 12);
    T_RC(mt_wire_open(&ks, frame + 4, 16, &type, &payload, &plen, E), MT_EINVAL);
    frame[4 + 2] ^= 0x80;
    T_RC(mt_wire_open(&ks, frame + 4, flen - 4, &type, &payload, &plen, E), MT_ECRYPTO);
    ck_assert(memcmp(rx, ks.rx_nonce, 12) == 0);
    T_OK(mt_wire_open(&ks, copy + 4, flen - 4, &type, &payload, &plen, E));
    ck_assert(type == MT_WIRE_REQUEST && plen == 3 && memcmp(payload, "abc", 3) == 0);

    /* Low-order peer keys give an all-zero secret: refused. */
    mt_wire_keypair(pk, sk);
    T_RC(mt_wire_derive(sk, zero_pk, 1, &kc, NULL, E), MT_ECRYPTO);
    ck_assert(sodium_is_zero((const uint8_t *)&kc, sizeof kc));
    T_RC(mt_wire_derive(sk, one_pk, 0, &kc, NULL, E), MT_ECRYPTO);
}
END_TEST

START_TEST(test_address_checks)
{
    mt_wire_conn *c = (mt_wire_conn *)1;
    mt_wire_server *s = (mt_wire_server *)1;
    mt_wire_server_config cfg;
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
                         "localhost:80", "::1:80", "[::1]80", "[::1:80", "[]:80", "[127.0.0.1]:80",
                         ":80", "1.2.3:80", "127.0.0.1:123456"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mt_error e;
        int rc = mt_wire_connect(bad[i], 100, &c, &e);
        ck_assert_msg(rc == MT_EINVAL, "%s gave %d", bad[i], rc);
        ck_assert_ptr_null(c);
        c = (mt_wire_conn *)1;
    }
    mt_wire_server_config_init(&cfg);
    ck_assert_int_eq(cfg.handshake_timeout_ms, 10000);
    ck_assert_int_eq(cfg.idle_timeout_ms, 60000);
    ck_assert_int_eq(cfg.max_conns, 128);
    ck_assert_int_eq(cfg.max_conns_per_ip, 8);
    ck_assert_uint_eq(cfg.frame_max, MT_WIRE_SERVER_FRAME_MAX);
    T_RC(mt_wire_server_start(&cfg, &s, E), MT_EINVAL); /* no listen, no blob_dir */
    ck_assert_ptr_null(s);
    cfg.listen = "127.0.0.1";
    cfg.blob_dir = "/nonexistent";
    T_RC(mt_wire_server_start(&cfg, &s, E), MT_EINVAL);
    cfg.listen = "127.0.0.1:0";
    cfg.frame_max = 16;
    T_RC(mt_wire_server_start(&cfg, &s, E), MT_EINVAL);
    mt_wire_server_stop(NULL);
    mt_wire_close(NULL);
    mt_wire_peers_free(NULL, 0);
}
END_TEST

/* ======================================================= client/server */

START_TEST(test_get_blob)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *c;
    uint8_t *data;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, MT_BLOB_BYTES, id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    t_get_eq(c, id, data, MT_BLOB_BYTES);
    T_WAIT_STAT(s, st, st.blobs_served == 1 && st.bytes_sent >= MT_BLOB_BYTES + 32);
    ck_assert_uint_eq(st.accepted, 1);
    ck_assert_int_eq(st.open, 1);
    ck_assert_uint_eq(st.bad_frames, 0);
    pthread_mutex_lock(&g_cb_mu);
    ck_assert_int_eq(g_served, 1);
    ck_assert_str_eq(g_served_id, id);
    pthread_mutex_unlock(&g_cb_mu);
    mt_wire_close(c);
    T_WAIT_STAT(s, st, st.open == 0);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

START_TEST(test_get_missing)
{
    char dir[128], blobs[160], hp[64], id[65], missing[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *c;
    uint8_t *data, *got = (uint8_t *)1;
    size_t n = 1;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 1000, id);
    memset(missing, 'a', 64);
    missing[64] = '\0';
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    T_RC(mt_wire_get(c, missing, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    ck_assert_ptr_null(got);
    ck_assert_uint_eq(n, 0);
    {
        mt_error e;
        mt_wire_get(c, missing, T_IO_MS, &got, &n, &e);
        ck_assert_msg(strstr(e.message, "Not Found") != NULL, "message: %s", e.message);
    }
    /* the connection is still good, and bad ids never reach the wire */
    t_get_eq(c, id, data, 1000);
    T_RC(mt_wire_get(c, "ABC", T_IO_MS, &got, &n, E), MT_EINVAL);
    t_get_eq(c, id, data, 1000);
    st = t_stats(s);
    ck_assert_uint_eq(st.not_found, 2);
    ck_assert_uint_eq(st.blobs_served, 2);
    mt_wire_close(c);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

START_TEST(test_find_peers)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_conn *c;
    char **peers = NULL;
    size_t n = 0;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    memset(id, 'b', 64);
    id[64] = '\0';
    t_server_cfg(&cfg, blobs);
    cfg.peers = t_peers;
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    T_OK(mt_wire_find_peers(c, id, T_IO_MS, &peers, &n, E));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(peers[0], "127.0.0.1:6881");
    ck_assert_str_eq(peers[1], "[::1]:7000");
    mt_wire_peers_free(peers, n);
    mt_wire_close(c);
    mt_wire_server_stop(s);

    /* Without a callback: an empty array. */
    cfg.peers = NULL;
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    T_OK(mt_wire_find_peers(c, id, T_IO_MS, &peers, &n, E));
    ck_assert_uint_eq(n, 0);
    mt_wire_peers_free(peers, n);
    mt_wire_close(c);
    mt_wire_server_stop(s);
}
END_TEST

START_TEST(test_many_gets)
{
    char dir[128], blobs[160], hp[64], big_id[65], small_id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *c;
    uint8_t *big, *small;
    int i;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    big = t_blob(blobs, MT_BLOB_BYTES, big_id);
    small = t_blob(blobs, 17, small_id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    for (i = 0; i < 24; i++) {
        if (i % 3 == 2)
            t_get_eq(c, small_id, small, 17);
        else
            t_get_eq(c, big_id, big, MT_BLOB_BYTES);
    }
    st = t_stats(s);
    ck_assert_uint_eq(st.blobs_served, 24);
    ck_assert_uint_eq(st.accepted, 1);
    mt_wire_close(c);
    mt_wire_server_stop(s);
    free(big);
    free(small);
}
END_TEST

/* Requests sent all at once while nothing is read: the server stops
 * reading behind a queued DATA frame instead of queueing them all (what
 * it has served is what socket buffers hold, about 7 with Linux's
 * defaults; all of them without the back-pressure), and answers every
 * one, in order, once the client reads.
 *
 * "Stops" is not checked after a pause, which a slow server would pass by
 * not having got round to the burst yet. Once the server's kernel has
 * acknowledged the burst (nothing left in our send queue), it waits in
 * the server's socket; the server's one poll loop reads, on every turn,
 * each connection that is readable and wants reading (4080 bytes: one
 * read); so once a second client, connected after that, has had answers
 * (several turns of that loop), the server has read the burst as far as
 * it ever will while nobody reads. */
START_TEST(test_pipelined_backpressure)
{
    enum { N = 48 };
    char dir[128], blobs[160], hp[64], ids[2][65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t *data[2], *burst, *p;
    size_t flen = 0;
    int fd, i;
    mt_wire_conn *c2;
    uint64_t other;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data[0] = t_blob(blobs, MT_BLOB_BYTES, ids[0]);
    data[1] = t_blob(blobs, 100, ids[1]);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    fd = t_raw_client2(NULL, mt_wire_server_port(s), 64 * 1024, &k);
    burst = malloc(N * 85);
    ck_assert(burst != NULL);
    for (i = 0, p = burst; i < N; i++, p += flen)
        T_OK(mt_wire_seal(&k, MT_WIRE_REQUEST, (const uint8_t *)ids[i % 2], 64, p, 85, &flen, E));
    i = 1; /* no Nagle wait behind the HELLO: the burst goes at once */
    ck_assert(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &i, sizeof i) == 0);
    t_send(fd, burst, (size_t)(p - burst));
    free(burst);
    for (int64_t until = mt_now_ms() + T_IO_MS; t_unacked(fd) > 0;) {
        ck_assert_msg(mt_now_ms() < until, "the server's kernel never took the burst (%d bytes unacked)",
                      t_unacked(fd));
        t_sleep_ms(5);
    }
    c2 = t_connect(hp);
    for (i = 0; i < 4; i++)
        t_get_eq(c2, ids[1], data[1], 100);
    mt_wire_close(c2);
    other = 4;
    st = t_stats(s);
    ck_assert_msg(st.blobs_served - other <= N / 2, "served %llu of %d with nobody reading",
                  (unsigned long long)(st.blobs_served - other), N);
    for (i = 0; i < N; i++)
        t_expect_data(fd, &k, data[i % 2], i % 2 ? 100 : MT_BLOB_BYTES);
    st = t_stats(s);
    ck_assert_uint_eq(st.blobs_served - other, N);
    close(fd);
    mt_wire_server_stop(s);
    free(data[0]);
    free(data[1]);
}
END_TEST

/* Stopping with connections open, one of them mid-DATA, returns promptly
 * and closes them. */
START_TEST(test_stop_with_connections)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    int fd1, fd2, fd3;
    int64_t t0;
    uint8_t *data;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, MT_BLOB_BYTES, id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    fd1 = t_raw_connect(NULL, mt_wire_server_port(s)); /* mid-handshake */
    fd2 = t_raw_client(NULL, mt_wire_server_port(s), &k);
    for (int i = 0; i < 8; i++)
        t_frame_send(fd2, &k, MT_WIRE_REQUEST, id, 64); /* never read */
    fd3 = t_raw_connect(NULL, mt_wire_server_port(s));
    /* Until the server holds all three and has a DATA frame for fd2
     * queued, rather than a pause that a slow server may not use. */
    T_WAIT_STAT(s, st, st.accepted == 3 && st.open == 3 && st.blobs_served >= 1);
    t0 = mt_now_ms();
    mt_wire_server_stop(s);
    ck_assert_int_lt(mt_now_ms() - t0, 2000);
    ck_assert(t_closed_within(fd1, T_IO_MS, NULL));
    ck_assert(t_closed_within(fd2, T_IO_MS, NULL));
    ck_assert(t_closed_within(fd3, T_IO_MS, NULL));
    close(fd1);
    close(fd2);
    close(fd3);
    free(data);
}
END_TEST

/* The client side of test_on_caller_loop, on a thread of its own: it
 * records what happened (the test asserts on the loop's thread) and stops
 * the loop when done. */
typedef struct loop_client {
    mt_loop *loop;
    int port;
    const char *id;
    const uint8_t *want;
    int got_ok, hs_closed;
    uint64_t extra;
} loop_client;

static void *loop_client_main(void *arg)
{
    loop_client *lc = arg;
    char hp[64];
    mt_wire_conn *c = NULL;
    uint8_t *got = NULL, key[32];
    size_t n = 0, extra = 1;
    int fd;

    snprintf(hp, sizeof hp, "127.0.0.1:%d", lc->port);
    if (mt_wire_connect(hp, T_IO_MS, &c, NULL) == 0 && mt_wire_get(c, lc->id, T_IO_MS, &got, &n, NULL) == 0)
        lc->got_ok = n == MT_BLOB_BYTES && memcmp(got, lc->want, n) == 0;
    free(got);
    mt_wire_close(c);
    /* A peer that never sends its key: the server's expiry timer, on the
     * caller's loop, must close it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lc->port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && recv(fd, key, 32, MSG_WAITALL) == 32)
            lc->hs_closed = t_closed_within(fd, T_IO_MS, &extra);
        lc->extra = extra;
        close(fd);
    }
    mt_loop_stop(lc->loop);
    return NULL;
}

static int64_t t_tick(mt_loop *loop, int64_t id, void *arg)
{
    (void)loop, (void)id;
    ++*(int *)arg;
    return 10;
}

/* mt_wire_server_start_on: the server shares the caller's loop (and its
 * thread) with the caller's own timer, serves, expires a silent peer, and
 * once stopped leaves the loop running without it. */
START_TEST(test_on_caller_loop)
{
    char dir[128], blobs[160], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s = NULL;
    mt_wire_server_stats st;
    mt_loop *loop = NULL;
    loop_client lc;
    pthread_t th;
    uint8_t *data;
    int ticks = 0, port, fd;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, MT_BLOB_BYTES, id);
    t_server_cfg(&cfg, blobs);
    cfg.handshake_timeout_ms = 200; /* below the expiry timer's 1 s period */
    T_OK(mt_loop_new(&loop, E));
    T_RC(mt_wire_server_start_on(&cfg, NULL, &s, E), MT_EINVAL);
    T_OK(mt_wire_server_start_on(&cfg, loop, &s, E));
    port = mt_wire_server_port(s);
    ck_assert_int_gt(port, 0);
    T_OK(mt_loop_timer_add(loop, 10, t_tick, &ticks, NULL, E));

    memset(&lc, 0, sizeof lc);
    lc = (loop_client){loop, port, id, data, 0, 0, 0};
    ck_assert_int_eq(pthread_create(&th, NULL, loop_client_main, &lc), 0);
    T_OK(mt_loop_run(loop, E)); /* until the client thread stops it */
    pthread_join(th, NULL);
    ck_assert_msg(lc.got_ok, "the blob did not arrive intact");
    ck_assert_msg(lc.hs_closed && lc.extra == 0, "the silent peer was not closed");
    st = t_stats(s);
    ck_assert_uint_eq(st.blobs_served, 1);
    ck_assert_uint_eq(st.timeouts, 1);
    ck_assert_int_gt(ticks, 0);

    /* Stopped on the loop's thread: the port is closed, the loop goes on. */
    mt_wire_server_stop(s);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_ne(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    close(fd);
    ticks = 0;
    while (ticks < 2)
        ck_assert_int_ge(mt_loop_once(loop, T_IO_MS, NULL), 0);
    mt_loop_free(loop);
    free(data);
}
END_TEST

/* ============================================================ hardening */

/* A length prefix over the cap closes that connection before the body is
 * awaited or allocated; a client connected at the same time is served. */
START_TEST(test_overcap_prefix)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *good;
    mt_wire_keys k;
    uint8_t hdr[4] = {0x00, 0x01, 0x00, 0x01}, *data, *big; /* 65537 */
    size_t extra = 1;
    int fd;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 5000, id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    good = t_connect(hp);
    fd = t_raw_client(NULL, mt_wire_server_port(s), &k);

    /* Exactly at the cap is fine (an unknown type: ignored)... */
    big = calloc(1, MT_WIRE_SERVER_FRAME_MAX);
    ck_assert(big != NULL);
    t_frame_send(fd, &k, 0x42, big, MT_WIRE_SERVER_FRAME_MAX - 17);
    free(big);
    t_frame_send(fd, &k, MT_WIRE_REQUEST, id, 64);
    t_expect_data(fd, &k, data, 5000);
    /* ...one byte more is not: closed with nothing said. */
    t_send(fd, hdr, 4);
    ck_assert(t_closed_within(fd, T_IO_MS, &extra));
    ck_assert_uint_eq(extra, 0);
    T_WAIT_STAT(s, st, st.bad_frames == 1);
    t_get_eq(good, id, data, 5000);
    st = t_stats(s);
    ck_assert_uint_eq(st.bad_frames, 1);
    ck_assert_int_eq(st.open, 1);
    close(fd);
    mt_wire_close(good);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

START_TEST(test_bad_tag)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *good;
    mt_wire_keys k;
    uint8_t frame[128], *data;
    size_t flen = 0, extra = 1;
    int fd;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 3000, id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    good = t_connect(hp);
    fd = t_raw_client(NULL, mt_wire_server_port(s), &k);
    T_OK(mt_wire_seal(&k, MT_WIRE_REQUEST, (const uint8_t *)id, 64, frame, sizeof frame, &flen, E));
    frame[flen - 1] ^= 0x01; /* the tag's last byte */
    t_send(fd, frame, flen);
    ck_assert(t_closed_within(fd, T_IO_MS, &extra));
    ck_assert_uint_eq(extra, 0);
    T_WAIT_STAT(s, st, st.bad_frames == 1);
    ck_assert_uint_eq(st.blobs_served, 0);
    t_get_eq(good, id, data, 3000);
    close(fd);
    mt_wire_close(good);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

START_TEST(test_short_frame)
{
    char dir[128], blobs[160], hp[64];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t frame[20] = {0, 0, 0, 16};
    size_t extra = 1;
    int fd, i;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    for (i = 0; i < 2; i++) {
        fd = t_raw_client(NULL, mt_wire_server_port(s), &k);
        frame[3] = i == 0 ? 16 : 0; /* one short of tag + type; empty */
        t_send(fd, frame, 4 + frame[3]);
        ck_assert(t_closed_within(fd, T_IO_MS, &extra));
        ck_assert_uint_eq(extra, 0);
        close(fd);
    }
    T_WAIT_STAT(s, st, st.bad_frames == 2 && st.open == 0);
    mt_wire_server_stop(s);
}
END_TEST

/*
 * Malformed REQUEST and FIND_PEERS payloads get ERROR "Bad Request" and a
 * close, and bait files named by what they say are never served: one named
 * by the upper-case id (holding content that hashes to the lower-case id),
 * one by 63 characters, ../bait, and <id>/x in a directory.
 */
START_TEST(test_bad_requests)
{
    char dir[128], blobs[160], hp[64], path[512], id[65], upper[65], sub[65];
    char req[8][80];
    size_t req_len[8];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t bait[200];
    int fd, i, n = 0;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    t_server_cfg(&cfg, blobs);
    randombytes_buf(bait, sizeof bait);
    t_sha_id(bait, sizeof bait, id);
    for (i = 0; i < 64; i++)
        upper[i] = (char)(id[i] >= 'a' ? id[i] - 'a' + 'A' : id[i]);
    upper[64] = '\0';
    t_fmt(path, sizeof path, "%s/%s", blobs, upper);
    t_write(path, bait, sizeof bait);
    t_fmt(path, sizeof path, "%s/%.63s", blobs, id);
    t_write(path, bait, sizeof bait);
    t_fmt(path, sizeof path, "%s/bait", dir);
    t_write(path, bait, sizeof bait);
    memset(sub, 'c', 64);
    sub[64] = '\0';
    t_fmt(path, sizeof path, "%s/%s", blobs, sub);
    ck_assert(mkdir(path, 0700) == 0);
    t_fmt(path, sizeof path, "%s/%s/x", blobs, sub);
    t_write(path, bait, sizeof bait);

#define ADD_REQ(text, len)                           \
    do {                                             \
        memcpy(req[n], text, len);                   \
        req_len[n++] = len;                          \
    } while (0)
    ADD_REQ(upper, 64);
    ADD_REQ(id, 63);
    ADD_REQ("../bait", 7);
    ADD_REQ("../etc/passwd", 13);
    {
        char t[80];
        t_fmt(t, sizeof t, "%s/x", sub);
        ADD_REQ(t, 66);
    }
    {
        char t[80];
        memcpy(t, id, 64);
        t[64] = '\0'; /* a trailing NUL: 65 bytes */
        ADD_REQ(t, 65);
        t[10] = '\0'; /* a NUL inside: 64 bytes */
        ADD_REQ(t, 64);
    }
    ADD_REQ("", 0);
#undef ADD_REQ
    s = t_start(&cfg, hp, sizeof hp);
    for (i = 0; i < n; i++) {
        fd = t_raw_client(NULL, mt_wire_server_port(s), &k);
        t_frame_send(fd, &k, i % 2 ? MT_WIRE_FIND_PEERS : MT_WIRE_REQUEST, req[i], req_len[i]);
        t_expect_error(fd, &k, "Bad Request");
        ck_assert_msg(t_closed_within(fd, T_IO_MS, NULL), "request %d left open", i);
        close(fd);
    }
    T_WAIT_STAT(s, st, st.bad_frames == (uint64_t)n);
    ck_assert_uint_eq(st.blobs_served, 0);
    /* The lower-case id names no file in blob_dir: not found, and the
     * connection stays. */
    fd = t_raw_client(NULL, mt_wire_server_port(s), &k);
    t_frame_send(fd, &k, MT_WIRE_REQUEST, id, 64);
    t_expect_error(fd, &k, "Not Found");
    t_frame_send(fd, &k, MT_WIRE_REQUEST, id, 64);
    t_expect_error(fd, &k, "Not Found");
    close(fd);
    st = t_stats(s);
    ck_assert_uint_eq(st.blobs_served, 0);
    ck_assert_uint_eq(st.not_found, 2);
    mt_wire_server_stop(s);
}
END_TEST

/* blob_dir/<id> that is a symlink to a real blob outside, a directory or a
 * FIFO (which would block a careless open) is "Not Found"; so is a blob
 * whose content does not match its name, or one over MT_BLOB_BYTES. */
START_TEST(test_blob_file_checks)
{
    char dir[128], blobs[160], hp[64], path[512], target[512], id[65], fid[65], did[65], wid[65], bid[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *c;
    uint8_t bait[300], *got = NULL, *huge;
    size_t n = 0;
    FILE *f;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    randombytes_buf(bait, sizeof bait);
    t_sha_id(bait, sizeof bait, id);
    t_fmt(target, sizeof target, "%s/%s", dir, id);
    t_write(target, bait, sizeof bait);
    t_fmt(path, sizeof path, "%s/%s", blobs, id);
    ck_assert(symlink(target, path) == 0);
    memset(fid, 'f', 64);
    fid[64] = '\0';
    t_fmt(path, sizeof path, "%s/%s", blobs, fid);
    ck_assert(mkfifo(path, 0600) == 0);
    memset(did, 'd', 64);
    did[64] = '\0';
    t_fmt(path, sizeof path, "%s/%s", blobs, did);
    ck_assert(mkdir(path, 0700) == 0);
    memset(wid, 'e', 64);
    wid[64] = '\0';
    t_fmt(path, sizeof path, "%s/%s", blobs, wid); /* wrong content */
    t_write(path, bait, sizeof bait);
    huge = calloc(1, MT_BLOB_BYTES + 1);
    ck_assert(huge != NULL);
    t_sha_id(huge, MT_BLOB_BYTES + 1, bid);
    t_fmt(path, sizeof path, "%s/%s", blobs, bid);
    f = fopen(path, "wb");
    ck_assert(f && fwrite(huge, 1, MT_BLOB_BYTES + 1, f) == MT_BLOB_BYTES + 1 && fclose(f) == 0);
    free(huge);

    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    c = t_connect(hp);
    T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    T_RC(mt_wire_get(c, fid, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    T_RC(mt_wire_get(c, did, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    T_RC(mt_wire_get(c, wid, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    T_RC(mt_wire_get(c, bid, T_IO_MS, &got, &n, E), MT_ENOTFOUND);
    st = t_stats(s);
    ck_assert_uint_eq(st.not_found, 5);
    ck_assert_uint_eq(st.blobs_served, 0);
    mt_wire_close(c);
    mt_wire_server_stop(s);
}
END_TEST

START_TEST(test_handshake_timeout)
{
    char dir[128], blobs[160], hp[64];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    uint8_t key[32];
    size_t extra = 1;
    int64_t t0;
    int fd;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    t_server_cfg(&cfg, blobs);
    cfg.handshake_timeout_ms = 300;
    s = t_start(&cfg, hp, sizeof hp);
    t0 = mt_now_ms();
    fd = t_raw_connect(NULL, mt_wire_server_port(s));
    ck_assert_int_eq(t_recv(fd, key, 32), 0); /* the server's key comes at once */
    ck_assert(t_closed_within(fd, T_IO_MS, &extra));
    ck_assert_uint_eq(extra, 0);
    ck_assert_int_ge(mt_now_ms() - t0, 250);
    T_WAIT_STAT(s, st, st.timeouts == 1 && st.open == 0);
    ck_assert_uint_eq(st.bad_frames, 0);
    close(fd);
    mt_wire_server_stop(s);
}
END_TEST

START_TEST(test_idle_timeout)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_conn *c;
    mt_wire_keys k;
    uint8_t *data;
    int64_t t0;
    int fd, i;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 100, id);
    t_server_cfg(&cfg, blobs);
    cfg.idle_timeout_ms = 800;
    s = t_start(&cfg, hp, sizeof hp);
    /* Busy connections are not idle: five gets 200 ms apart outlive the
     * timeout, and each gap leaves 600 ms for a loaded machine. */
    c = t_connect(hp);
    for (i = 0; i < 5; i++) {
        t_sleep_ms(200);
        t_get_eq(c, id, data, 100);
    }
    /* ...quiet ones are closed. */
    t0 = mt_now_ms();
    fd = t_raw_client(NULL, mt_wire_server_port(s), &k);
    ck_assert(t_closed_within(fd, T_IO_MS, NULL));
    ck_assert_int_ge(mt_now_ms() - t0, 750);
    T_WAIT_STAT(s, st, st.timeouts >= 1);
    close(fd);
    mt_wire_close(c);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

/* A low-order client key: the server sends its own key (already queued)
 * and closes without a frame. */
START_TEST(test_zero_shared_secret)
{
    char dir[128], blobs[160], hp[64];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t key[32], low[32], sk[32], pk[32];
    size_t extra = 1;
    int fd, i;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);
    for (i = 0; i < 2; i++) {
        memset(low, 0, 32);
        low[0] = (uint8_t)i; /* u = 0 and u = 1 */
        fd = t_raw_connect(NULL, mt_wire_server_port(s));
        t_send(fd, low, 32);
        ck_assert_int_eq(t_recv(fd, key, 32), 0);
        ck_assert(t_closed_within(fd, T_IO_MS, &extra));
        ck_assert_uint_eq(extra, 0);
        close(fd);
        /* The client side refuses the same keys. */
        mt_wire_keypair(pk, sk);
        T_RC(mt_wire_derive(sk, low, 1, &k, NULL, E), MT_ECRYPTO);
    }
    T_WAIT_STAT(s, st, st.bad_frames == 2 && st.open == 0);
    mt_wire_server_stop(s);
}
END_TEST

START_TEST(test_per_ip_cap)
{
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t key[32], *data;
    size_t extra = 1;
    int fd[3], other;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 777, id);
    t_server_cfg(&cfg, blobs);
    cfg.max_conns_per_ip = 2;
    s = t_start(&cfg, hp, sizeof hp);
    fd[0] = t_raw_connect(NULL, mt_wire_server_port(s));
    fd[1] = t_raw_connect(NULL, mt_wire_server_port(s));
    /* A key back means the server has taken the connection. */
    ck_assert_int_eq(t_recv(fd[0], key, 32), 0);
    ck_assert_int_eq(t_recv(fd[1], key, 32), 0);
    fd[2] = t_raw_connect(NULL, mt_wire_server_port(s));
    ck_assert(t_closed_within(fd[2], T_IO_MS, &extra));
    ck_assert_uint_eq(extra, 0);
    T_WAIT_STAT(s, st, st.refused_per_ip == 1);
    ck_assert_uint_eq(st.accepted, 2);
    ck_assert_uint_eq(st.refused_full, 0);
    /* Another source address is not held back. */
    other = t_raw_client("127.0.0.2", mt_wire_server_port(s), &k);
    t_frame_send(other, &k, MT_WIRE_REQUEST, id, 64);
    t_expect_data(other, &k, data, 777);
    st = t_stats(s);
    ck_assert_uint_eq(st.accepted, 3);
    ck_assert_int_eq(st.open, 3);
    close(other);
    close(fd[0]);
    close(fd[1]);
    close(fd[2]);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

START_TEST(test_total_cap)
{
    char dir[128], blobs[160], hp[64];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    uint8_t key[32];
    size_t extra = 1;
    int fd[3];

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    t_server_cfg(&cfg, blobs);
    cfg.max_conns = 2;
    s = t_start(&cfg, hp, sizeof hp);
    fd[0] = t_raw_connect("127.0.0.3", mt_wire_server_port(s));
    fd[1] = t_raw_connect("127.0.0.4", mt_wire_server_port(s));
    ck_assert_int_eq(t_recv(fd[0], key, 32), 0);
    ck_assert_int_eq(t_recv(fd[1], key, 32), 0);
    fd[2] = t_raw_connect("127.0.0.5", mt_wire_server_port(s));
    ck_assert(t_closed_within(fd[2], T_IO_MS, &extra));
    ck_assert_uint_eq(extra, 0);
    T_WAIT_STAT(s, st, st.refused_full == 1);
    ck_assert_uint_eq(st.refused_per_ip, 0);
    /* A slot freed is a slot again. */
    close(fd[0]);
    T_WAIT_STAT(s, st, st.open == 1);
    close(fd[2]);
    fd[2] = t_raw_connect("127.0.0.5", mt_wire_server_port(s));
    ck_assert_int_eq(t_recv(fd[2], key, 32), 0);
    close(fd[1]);
    close(fd[2]);
    mt_wire_server_stop(s);
}
END_TEST

/* HELLO from an older peer is refused; a HELLO we cannot read a version
 * from is ignored; PUBLISH is answered "Not supported"; ANNOUNCE, OK and
 * unknown types are ignored; the connection keeps working. */
START_TEST(test_message_types)
{
    static const char OLD[] = "{\"v\":4,\"gossip\":{}}";
    char dir[128], blobs[160], hp[64], id[65];
    mt_wire_server_config cfg;
    mt_wire_server *s;
    mt_wire_server_stats st;
    mt_wire_keys k;
    uint8_t *data;
    int fd;

    t_dirs(dir, sizeof dir, blobs, sizeof blobs);
    data = t_blob(blobs, 64, id);
    t_server_cfg(&cfg, blobs);
    s = t_start(&cfg, hp, sizeof hp);

    fd = t_raw_connect(NULL, mt_wire_server_port(s));
    t_handshake(fd, 1, &k);
    t_frame_send(fd, &k, MT_WIRE_HELLO, OLD, sizeof OLD - 1);
    t_expect_error(fd, &k, "Protocol Version Mismatch");
    ck_assert(t_closed_within(fd, T_IO_MS, NULL));
    close(fd);

    fd = t_raw_connect(NULL, mt_wire_server_port(s));
    t_handshake(fd, 1, &k);
    t_frame_send(fd, &k, MT_WIRE_HELLO, "not json", 8);
    t_frame_send(fd, &k, MT_WIRE_HELLO, HELLO, sizeof HELLO - 1);
    t_frame_send(fd, &k, 0x06, "{}", 2); /* PUBLISH */
    t_expect_error(fd, &k, "Not supported");
    t_frame_send(fd, &k, 0x07, "{}", 2); /* ANNOUNCE */
    t_frame_send(fd, &k, MT_WIRE_OK, NULL, 0);
    t_frame_send(fd, &k, 0x42, "??", 2);
    t_frame_send(fd, &k, MT_WIRE_DATA, "x", 1);
    t_frame_send(fd, &k, MT_WIRE_REQUEST, id, 64);
    t_expect_data(fd, &k, data, 64);
    close(fd);
    st = t_stats(s);
    ck_assert_uint_eq(st.bad_frames, 0);
    mt_wire_server_stop(s);
    free(data);
}
END_TEST

/* =================================================== client vs fake server */

/* An oversized DATA prefix fails at once (the body is never awaited, so
 * never allocated), and the connection is unusable afterwards. */
START_TEST(test_client_oversized_data)
{
    int modes[2] = {FAKE_BIG_LEN, FAKE_HUGE_LEN}, i;
    char hp[64], id[65];

    memset(id, 'a', 64);
    id[64] = '\0';
    for (i = 0; i < 2; i++) {
        fake f;
        mt_wire_conn *c;
        uint8_t *got = (uint8_t *)1;
        size_t n = 1;
        int64_t t0;

        fake_start(&f, modes[i], hp, sizeof hp);
        c = t_connect(hp);
        t0 = mt_now_ms();
        T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ETOOBIG);
        ck_assert_int_lt(mt_now_ms() - t0, T_IO_MS / 2);
        ck_assert_ptr_null(got);
        ck_assert_uint_eq(n, 0);
        T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ESTATE);
        mt_wire_close(c);
        fake_stop(&f);
    }
}
END_TEST

START_TEST(test_client_hash_mismatch)
{
    char hp[64], id[65];
    fake f;
    mt_wire_conn *c;
    uint8_t *got = (uint8_t *)1;
    size_t n = 1;

    memset(id, 'a', 64);
    id[64] = '\0';
    fake_start(&f, FAKE_BAD_HASH, hp, sizeof hp);
    c = t_connect(hp);
    T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ECRYPTO);
    ck_assert_ptr_null(got);
    mt_wire_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(test_client_error_and_bad_tag)
{
    char hp[64], id[65];
    fake f;
    mt_wire_conn *c;
    mt_error e;
    uint8_t *got = NULL;
    size_t n = 0;

    memset(id, 'a', 64);
    id[64] = '\0';
    fake_start(&f, FAKE_ERROR, hp, sizeof hp);
    c = t_connect(hp);
    ck_assert_int_eq(mt_wire_get(c, id, T_IO_MS, &got, &n, &e), MT_ENOTFOUND);
    ck_assert_msg(strstr(e.message, "\"Not Found?\"") != NULL, "message: %s", e.message);
    mt_wire_close(c);
    fake_stop(&f);

    fake_start(&f, FAKE_BAD_TAG, hp, sizeof hp);
    c = t_connect(hp);
    T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ECRYPTO);
    T_RC(mt_wire_get(c, id, T_IO_MS, &got, &n, E), MT_ESTATE);
    mt_wire_close(c);
    fake_stop(&f);
}
END_TEST

/* A server that accepts and never answers: connect times out. */
START_TEST(test_client_timeout)
{
    struct sockaddr_in a;
    socklen_t sl = sizeof a;
    char hp[64];
    mt_wire_conn *c = NULL;
    int64_t t0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 4) == 0);
    ck_assert(getsockname(lfd, (struct sockaddr *)&a, &sl) == 0);
    t_fmt(hp, sizeof hp, "127.0.0.1:%d", ntohs(a.sin_port));
    t0 = mt_now_ms();
    T_RC(mt_wire_connect(hp, 300, &c, E), MT_ETIMEDOUT);
    ck_assert_int_ge(mt_now_ms() - t0, 250);
    ck_assert_ptr_null(c);
    close(lfd);
    /* and nobody listening: refused at once */
    T_RC(mt_wire_connect(hp, 300, &c, E), MT_EIO);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_nonce_counter);
    tcase_add_test(tc, test_codec_limits);
    tcase_add_test(tc, test_address_checks);
    suite_add_tcase(s, tc);

    tc = tcase_create("client_server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_get_blob);
    tcase_add_test(tc, test_get_missing);
    tcase_add_test(tc, test_find_peers);
    tcase_add_test(tc, test_many_gets);
    tcase_add_test(tc, test_pipelined_backpressure);
    tcase_add_test(tc, test_stop_with_connections);
    tcase_add_test(tc, test_on_caller_loop);
    suite_add_tcase(s, tc);

    tc = tcase_create("hardening");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_overcap_prefix);
    tcase_add_test(tc, test_bad_tag);
    tcase_add_test(tc, test_short_frame);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_blob_file_checks);
    tcase_add_test(tc, test_handshake_timeout);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_zero_shared_secret);
    tcase_add_test(tc, test_per_ip_cap);
    tcase_add_test(tc, test_total_cap);
    tcase_add_test(tc, test_message_types);
    tcase_add_test(tc, test_client_oversized_data);
    tcase_add_test(tc, test_client_hash_mismatch);
    tcase_add_test(tc, test_client_error_and_bad_tag);
    tcase_add_test(tc, test_client_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0)
        return 1;
    snprintf(g_base, sizeof g_base, "/tmp/mt-check-wire-XXXXXX");
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 1;
    }
    sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    t_rm_rf(g_base);
    return failed ? 1 : 0;
}
