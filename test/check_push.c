/*
 * check_push.c - the lt_megatorrent push extension (plugin/mt_push.h) with
 * real libtorrent sessions on loopback addresses 127.0.95.x: delivery,
 * rejection of bad messages, de-duplication, per-peer rate limits under a
 * flood, and peers without the extension.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_crypt.h"
#include "mt_push.h"
#include "testfs.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static char base_dir[64];

static void base_up(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/mt-push-XXXXXX");
    ck_assert_msg(mkdtemp(base_dir) != NULL, "mkdtemp: %s", strerror(errno));
    ck_assert(sodium_init() >= 0);
}

static void base_down(void)
{
    t_rm_rf(base_dir);
}

/* A session on addr (free port, outgoing connections from addr, no DHT),
 * keeping seed-to-seed connections: push needs them (see mt_push.h). */
/* Set for the second pass of the suite: every push peer also encrypts its
 * links (lt_mtcrypt), as mtd does by default. */
static int g_crypt;

static mt_session *t_session(const char *addr, int push, const mt_push_config *pc)
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
    if (push)
        ck_assert_msg(mt_push_enable(s, pc, &err) == 0, "push on %s: %s", addr, err.message);
    if (push && g_crypt)
        ck_assert_msg(mt_crypt_enable(s, MT_CRYPT_PREFER, &err) == 0, "crypt on %s: %s", addr, err.message);
    ck_assert_msg(mt_session_set_setting(s, "close_redundant_connections", "false", &err) == 0, "%s",
                  err.message);
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

/* A one-file v1 torrent of 64 KiB of random bytes under a new folder; the
 * folder goes into dir (cap bytes), the .torrent is returned (mt_free). */
static uint8_t *t_small_torrent(char *dir, size_t cap, size_t *len)
{
    char file[256];
    uint8_t buf[65536];
    mt_create_params p;
    mt_error err;
    uint8_t *out = NULL;
    FILE *f;
    t_fmt(dir, cap, "%s/t-XXXXXX", base_dir);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    t_fmt(file, sizeof file, "%s/index.bin", dir);
    randombytes_buf(buf, sizeof buf);
    f = fopen(file, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(buf, 1, sizeof buf, f) == sizeof buf);
    ck_assert(fclose(f) == 0);
    memset(&p, 0, sizeof p);
    p.path = file;
    p.version = MT_TORRENT_V1;
    ck_assert_msg(mt_torrent_create(&p, &out, len, &err) == 0, "create: %s", err.message);
    return out;
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

static void t_status(mt_session *s, const uint8_t id[20], mt_torrent_status *st)
{
    mt_error err;
    ck_assert_msg(mt_torrent_get_status(s, id, st, &err) == 0, "status: %s", err.message);
}

/* Connect s to peer until s has at least `want` push peers and the seed
 * side `other` has `other_want`; fails the test after T_WAIT_MS. */
static void t_wait_push_peers(mt_session *s, mt_session *other, const uint8_t id[20], const char *peer, int want,
                              int other_want)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS, next = 0;
    mt_error err;
    for (;;) {
        int n = mt_push_peer_count(s, id), m = mt_push_peer_count(other, id);
        if (n == want && m == other_want)
            return;
        ck_assert_msg(mt_now_ms() < deadline, "push peers %d and %d, want %d and %d", n, m, want, other_want);
        if (mt_now_ms() >= next) {
            ck_assert_msg(mt_torrent_connect_peer(s, id, peer, &err) == 0, "connect %s: %s", peer, err.message);
            next = mt_now_ms() + 3000;
        }
        t_sleep_ms(20);
    }
}

/* Seeder a and downloader b of one small torrent, connected, push on both. */
struct pair {
    char dir[128], dst[192];
    char a_addr[32], b_addr[32], a_ep[64];
    mt_session *a, *b;
    uint8_t id[20];
    uint8_t *torrent;
    size_t torrent_len;
};

static void pair_up(struct pair *p, int net, const mt_push_config *pc)
{
    mt_event ev;
    memset(p, 0, sizeof *p);
    t_fmt(p->a_addr, sizeof p->a_addr, "127.0.95.%d", net * 10 + 1);
    t_fmt(p->b_addr, sizeof p->b_addr, "127.0.95.%d", net * 10 + 2);
    p->torrent = t_small_torrent(p->dir, sizeof p->dir, &p->torrent_len);
    t_fmt(p->dst, sizeof p->dst, "%s/dst", p->dir);
    ck_assert(mkdir(p->dst, 0755) == 0);
    p->a = t_session(p->a_addr, 1, pc);
    p->b = t_session(p->b_addr, 1, pc);
    t_add(p->a, p->torrent, p->torrent_len, p->dir, p->id);
    t_wait(p->a, MT_EVENT_TORRENT_CHECKED, p->id, &ev);
    mt_event_clear(&ev);
    t_add(p->b, p->torrent, p->torrent_len, p->dst, p->id);
    t_endpoint(p->a, p->a_addr, p->a_ep, sizeof p->a_ep);
    t_wait_push_peers(p->b, p->a, p->id, p->a_ep, 1, 1);
}

static void pair_down(struct pair *p)
{
    mt_session_free(p->b);
    mt_session_free(p->a);
    mt_free(p->torrent);
    t_rm_rf(p->dir);
}

/* A signed item: v = d2:ih20:<id>2:tsi<ts>ee under salt "feed". */
struct item {
    uint8_t pk[32], sk[64], sig[64];
    uint8_t salt[8];
    size_t salt_len;
    int64_t seq;
    uint8_t v[128];
    size_t v_len;
};

static void item_keys(struct item *it)
{
    memset(it, 0, sizeof *it);
    crypto_sign_keypair(it->pk, it->sk);
    memcpy(it->salt, "feed", 4);
    it->salt_len = 4;
}

static void item_make(struct item *it, const uint8_t id[20], int64_t seq)
{
    mt_error err;
    int n = snprintf((char *)it->v, sizeof it->v, "d2:ih20:");
    ck_assert(n == 8);
    memcpy(it->v + 8, id, 20);
    n = snprintf((char *)it->v + 28, sizeof it->v - 28, "2:tsi%" PRId64 "ee", seq);
    ck_assert(n > 0 && (size_t)n < sizeof it->v - 28);
    it->v_len = 28 + (size_t)n;
    it->seq = seq;
    ck_assert_msg(mt_dht_sign_mutable(it->sk, it->salt, it->salt_len, seq, it->v, it->v_len, it->sig, &err) == 0,
                  "sign: %s", err.message);
}

static int item_push(mt_session *s, const uint8_t id[20], const struct item *it, const char *except, int *queued)
{
    mt_error err;
    int rc = mt_push_send(s, id, it->pk, it->salt, it->salt_len, it->seq, it->v, it->v_len, it->sig, except,
                          0, queued, &err);
    ck_assert_msg(rc == 0, "push: %s", err.message);
    return rc;
}

/* The event must carry exactly the item, from torrent id and peer ep. */
static void t_assert_item(const mt_event *ev, const struct item *it, const uint8_t id[20], const char *ep)
{
    ck_assert_int_eq(ev->type, MT_EVENT_PUSH);
    ck_assert_int_eq(ev->error, 0);
    ck_assert(memcmp(ev->target, id, 20) == 0);
    ck_assert(memcmp(ev->pubkey, it->pk, 32) == 0);
    ck_assert(memcmp(ev->signature, it->sig, 64) == 0);
    ck_assert_uint_eq(ev->salt_len, it->salt_len);
    ck_assert(memcmp(ev->salt, it->salt, it->salt_len) == 0);
    ck_assert_int_eq(ev->seq, it->seq);
    ck_assert_uint_eq(ev->data_len, it->v_len);
    ck_assert(memcmp(ev->data, it->v, it->v_len) == 0);
    if (ep)
        ck_assert_str_eq(ev->endpoint, ep);
}

/* Take s's push events for torrent id until the one of seq arrives (the
 * ones before it are dropped); fails after T_WAIT_MS per event. A message
 * sent after others on the same link is taken off the wire after them, so
 * once seq's event is here, everything sent before it has been received
 * and counted: the marker that ends a "nothing else arrived" check. */
static void t_wait_seq(mt_session *s, const uint8_t id[20], int64_t seq)
{
    mt_event ev;
    for (;;) {
        t_wait(s, MT_EVENT_PUSH, id, &ev);
        int64_t got = ev.seq;
        mt_event_clear(&ev);
        if (got == seq)
            return;
    }
}

/* Poll s's stats until received reaches want and every received message
 * has an outcome (the worker caught up); fails after T_WAIT_MS. */
static void t_wait_settled(mt_session *s, uint64_t want, mt_push_stats *st)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    for (;;) {
        mt_push_get_stats(s, st);
        uint64_t done = st->delivered + st->bad_signature + st->malformed + st->oversized + st->rate_limited +
                        st->duplicate;
        if (st->received >= want && done == st->received)
            return;
        ck_assert_msg(mt_now_ms() < deadline, "received %" PRIu64 " (want %" PRIu64 "), settled %" PRIu64,
                      st->received, want, done);
        t_sleep_ms(20);
    }
}

/* A message body in the wire layout, with any field sizes. v_len 0: no v. */
static size_t raw_msg(uint8_t *out, size_t cap, const uint8_t *k, size_t k_len, int64_t seq, const uint8_t *sig,
                      size_t sig_len, const uint8_t *v, size_t v_len)
{
    size_t n = 0;
    int w = snprintf((char *)out, cap, "d1:k%zu:", k_len);
    ck_assert(w > 0 && (size_t)w < cap);
    n = (size_t)w;
    ck_assert(n + k_len < cap);
    memcpy(out + n, k, k_len);
    n += k_len;
    w = snprintf((char *)out + n, cap - n, "3:seqi%" PRId64 "e3:sig%zu:", seq, sig_len);
    ck_assert(w > 0 && (size_t)w < cap - n);
    n += (size_t)w;
    ck_assert(n + sig_len < cap);
    memcpy(out + n, sig, sig_len);
    n += sig_len;
    if (v_len) {
        ck_assert(n + 3 + v_len + 1 < cap);
        memcpy(out + n, "1:v", 3);
        n += 3;
        memcpy(out + n, v, v_len);
        n += v_len;
    }
    out[n++] = 'e';
    return n;
}

static void send_raw(mt_session *s, const uint8_t id[20], const uint8_t *msg, size_t len)
{
    mt_error err;
    ck_assert_msg(mt_push_send_raw(s, id, msg, len, &err) == 0, "raw: %s", err.message);
}

/* ------------------------------------------------------------ tests */

/* A pushes a signed item; B gets it as an event naming the swarm and A. */
START_TEST(push_delivered)
{
    struct pair p;
    struct item it;
    mt_event ev;
    mt_push_stats st;
    int queued = -1;

    pair_up(&p, 1, NULL);
    item_keys(&it);
    item_make(&it, p.id, 1);
    item_push(p.a, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, p.a_ep);
    mt_event_clear(&ev);

    t_wait_settled(p.b, 1, &st);
    ck_assert_uint_eq(st.delivered, 1);
    mt_push_get_stats(p.a, &st);
    ck_assert_uint_eq(st.sent, 1);
    ck_assert_uint_eq(st.received, 0);

    /* And the other way round, without salt. */
    {
        struct item it2;
        item_keys(&it2);
        it2.salt_len = 0;
        item_make(&it2, p.id, 7);
        item_push(p.b, p.id, &it2, NULL, &queued);
        ck_assert_int_eq(queued, 1);
        t_wait(p.a, MT_EVENT_PUSH, p.id, &ev);
        t_assert_item(&ev, &it2, p.id, NULL);
        ck_assert(strncmp(ev.endpoint, p.b_addr, strlen(p.b_addr)) == 0);
        mt_event_clear(&ev);
    }
    pair_down(&p);
}
END_TEST

/* Bad messages are counted and dropped; the connection stays. */
START_TEST(push_bad_messages)
{
    struct pair p;
    struct item it, other;
    mt_event ev;
    mt_push_stats st;
    uint8_t msg[2048], big_v[1400], junk[64];
    size_t n;

    pair_up(&p, 2, NULL);
    item_keys(&it);
    item_keys(&other);
    randombytes_buf(junk, sizeof junk);

    /* Forged: signed by another key. */
    item_make(&other, p.id, 1);
    item_make(&it, p.id, 1);
    memcpy(it.sig, other.sig, 64);
    item_push(p.a, p.id, &it, NULL, NULL);

    /* Wrong sizes: k of 31 bytes, sig of 63. */
    item_make(&it, p.id, 2);
    n = raw_msg(msg, sizeof msg, it.pk, 31, 2, it.sig, 64, it.v, it.v_len);
    send_raw(p.a, p.id, msg, n);
    n = raw_msg(msg, sizeof msg, it.pk, 32, 2, it.sig, 63, it.v, it.v_len);
    send_raw(p.a, p.id, msg, n);

    /* Not a dict; then a truncated one. */
    send_raw(p.a, p.id, (const uint8_t *)"li1ei2ee", 8);
    send_raw(p.a, p.id, (const uint8_t *)"d1:k32:", 7);

    /* v over 1000 bytes (a 1045-byte string), message under max_message. */
    memcpy(big_v, "1040:", 5);
    randombytes_buf(big_v + 5, 1040);
    n = raw_msg(msg, sizeof msg, it.pk, 32, 3, it.sig, 64, big_v, 1045);
    ck_assert_uint_lt(n, 1280);
    send_raw(p.a, p.id, msg, n);

    /* No v, and a seq of 0. */
    n = raw_msg(msg, sizeof msg, it.pk, 32, 4, it.sig, 64, NULL, 0);
    send_raw(p.a, p.id, msg, n);
    n = raw_msg(msg, sizeof msg, it.pk, 32, 0, it.sig, 64, it.v, it.v_len);
    send_raw(p.a, p.id, msg, n);

    /* Over max_message: dropped before decoding. */
    memcpy(big_v, "1390:", 5);
    n = raw_msg(msg, sizeof msg, it.pk, 32, 5, it.sig, 64, big_v, 1395);
    ck_assert_uint_gt(n, 1280);
    send_raw(p.a, p.id, msg, n);

    t_wait_settled(p.b, 9, &st);
    ck_assert_uint_eq(st.received, 9);
    ck_assert_uint_eq(st.bad_signature, 1);
    ck_assert_uint_eq(st.malformed, 7);
    ck_assert_uint_eq(st.oversized, 1);
    ck_assert_uint_eq(st.delivered, 0);
    ck_assert_uint_eq(st.rate_limited, 0);

    /* Still connected, both ways, and a valid item still arrives (B's
     * bucket spent 8 of 10 tokens: the oversized one cost none). It is
     * also the marker that none of the bad ones became an event: events
     * queue in order, so any such event would be taken here instead. */
    ck_assert_int_eq(mt_push_peer_count(p.a, p.id), 1);
    ck_assert_int_eq(mt_push_peer_count(p.b, p.id), 1);
    item_make(&it, p.id, 6);
    item_push(p.a, p.id, &it, NULL, NULL);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, p.a_ep);
    mt_event_clear(&ev);
    mt_push_get_stats(p.b, &st);
    ck_assert_uint_eq(st.delivered, 1);
    pair_down(&p);
}
END_TEST

/* The same item twice is delivered once; a higher seq is new; an echo of
 * what A sent is a duplicate on A; except skips the named peer. */
START_TEST(push_duplicates)
{
    struct pair p;
    struct item it;
    mt_event ev;
    mt_push_stats st;
    int queued = -1;

    pair_up(&p, 3, NULL);
    item_keys(&it);
    item_make(&it, p.id, 5);
    item_push(p.a, p.id, &it, NULL, NULL);
    item_push(p.a, p.id, &it, NULL, NULL);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, p.a_ep);
    mt_event_clear(&ev);
    t_wait_settled(p.b, 2, &st);
    ck_assert_uint_eq(st.delivered, 1);
    ck_assert_uint_eq(st.duplicate, 1);
    /* No second event for it: checked below, where the next event taken
     * must be seq 6's (events queue in order). */

    /* An older seq of the same target counts as a duplicate too. */
    item_make(&it, p.id, 4);
    item_push(p.a, p.id, &it, NULL, NULL);
    t_wait_settled(p.b, 3, &st);
    ck_assert_uint_eq(st.duplicate, 2);

    item_make(&it, p.id, 6);
    item_push(p.a, p.id, &it, NULL, NULL);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, p.a_ep); /* not seq 5 or 4 again */

    /* B forwards it except to where it came from: nobody to send to. */
    ck_assert_int_eq(mt_push_send(p.b, p.id, ev.pubkey, ev.salt, ev.salt_len, ev.seq, ev.data, ev.data_len,
                                  ev.signature, ev.endpoint, 0, &queued, NULL),
                     0);
    ck_assert_int_eq(queued, 0);
    /* Echoed back to A, which sent it: a duplicate, no event. */
    ck_assert_int_eq(mt_push_send(p.b, p.id, ev.pubkey, ev.salt, ev.salt_len, ev.seq, ev.data, ev.data_len,
                                  ev.signature, NULL, 0, &queued, NULL),
                     0);
    ck_assert_int_eq(queued, 1);
    mt_event_clear(&ev);
    t_wait_settled(p.a, 1, &st);
    ck_assert_uint_eq(st.duplicate, 1);
    ck_assert_uint_eq(st.delivered, 0);
    mt_push_get_stats(p.b, &st);
    ck_assert_uint_eq(st.sent, 1);
    /* And no event for the echo: B sends a newer seq after it, and that
     * must be the first event A takes (an event for the echo, had there
     * been one, is queued before it). Waiting some time instead would pass
     * on a machine too slow to have posted the wrong event yet. */
    item_make(&it, p.id, 7);
    item_push(p.b, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(p.a, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, NULL);
    mt_event_clear(&ev);
    pair_down(&p);
}
END_TEST

#define FLOOD 2000

/* A floods B with valid distinct items: B's bucket passes a burst and its
 * refill, counts the rest, stays responsive, and recovers. */
START_TEST(push_flood)
{
    struct pair p;
    struct item it;
    mt_event ev;
    mt_push_stats st;
    mt_torrent_status ts;
    mt_error err;
    mt_push_config pc;
    int64_t t0, elapsed;
    uint64_t allowed, events = 0;

    mt_push_config_init(&pc);
    pair_up(&p, 4, &pc);
    item_keys(&it);
    t0 = mt_now_ms();
    for (int64_t seq = 1; seq <= FLOOD; seq++) {
        item_make(&it, p.id, seq);
        item_push(p.a, p.id, &it, NULL, NULL);
    }
    t_wait_settled(p.b, FLOOD, &st);
    elapsed = mt_now_ms() - t0;
    allowed = (uint64_t)pc.peer_burst + (uint64_t)(elapsed * pc.peer_per_min / 60000) + 1;
    ck_assert_uint_eq(st.received, FLOOD);
    ck_assert_uint_ge(st.delivered, 1);
    ck_assert_msg(st.delivered <= allowed, "delivered %" PRIu64 " of a flood, bucket allows %" PRIu64,
                  st.delivered, allowed);
    ck_assert_uint_eq(st.rate_limited, FLOOD - st.delivered);
    ck_assert_uint_eq(st.malformed + st.bad_signature + st.duplicate + st.oversized, 0);
    mt_push_get_stats(p.a, &st);
    ck_assert_uint_eq(st.sent, FLOOD);
    mt_push_get_stats(p.b, &st);
    /* One event per delivered item, each from the flood. No more: the
     * first event after these must be the refill probe's below. */
    for (; events < st.delivered; events++) {
        t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
        ck_assert_int_le(ev.seq, FLOOD);
        mt_event_clear(&ev);
    }

    /* B still answers, its engine still posts events, A is still there. */
    t_status(p.b, p.id, &ts);
    ck_assert_int_gt(ts.num_peers, 0);
    ck_assert_int_eq(mt_torrent_save_resume(p.b, p.id, &err), 0);
    t_wait(p.b, MT_EVENT_RESUME_DATA, p.id, &ev);
    ck_assert_int_eq(ev.error, 0);
    mt_event_clear(&ev);
    ck_assert_int_eq(mt_push_peer_count(p.b, p.id), 1);

    /* One token comes back every 60/peer_per_min s: probe with a fresh
     * item every 250 ms until one gets through (the ones before it are
     * dropped by the empty bucket), rather than sleep a refill and hope.
     * The first event is a probe's (so no flood item was posted late), and
     * what got through over the whole run is still within the bucket. */
    {
        int64_t seq = FLOOD, end = mt_now_ms() + 60000 / pc.peer_per_min + T_WAIT_MS;
        int rc;
        mt_push_get_stats(p.b, &st);
        do {
            ck_assert_msg(mt_now_ms() < end, "no token came back in %d ms", 60000 / pc.peer_per_min + T_WAIT_MS);
            item_make(&it, p.id, ++seq);
            item_push(p.a, p.id, &it, NULL, NULL);
            rc = mt_session_wait_event(p.b, MT_EVENT_PUSH, p.id, 250, &ev, &err);
            ck_assert_msg(rc == 0 || rc == MT_ETIMEDOUT, "%s", err.message);
        } while (rc != 0);
        ck_assert_msg(ev.seq > FLOOD && ev.seq <= seq, "event for seq %" PRId64 " after the flood", ev.seq);
        mt_event_clear(&ev);
        t_wait_settled(p.b, FLOOD + (uint64_t)(seq - FLOOD), &st);
        elapsed = mt_now_ms() - t0;
        allowed = (uint64_t)pc.peer_burst + (uint64_t)(elapsed * pc.peer_per_min / 60000) + 1;
        ck_assert_msg(st.delivered <= allowed, "delivered %" PRIu64 " in %" PRId64 " ms, bucket allows %" PRIu64,
                      st.delivered, elapsed, allowed);
        ck_assert_uint_ge(st.delivered, events + 1);
    }
    pair_down(&p);
}
END_TEST

/* C, without the extension, shares A's swarm with B: A counts only B,
 * sends only to B, and C's connection survives the push. */
START_TEST(push_skips_plain_peers)
{
    struct pair p;
    struct item it;
    mt_event ev;
    mt_torrent_status st;
    mt_session *c;
    char c_dir[256];
    uint8_t cid[20];
    int queued = -1;
    int64_t deadline;
    mt_error err;
    mt_push_stats ps;
    uint64_t hs0;

    pair_up(&p, 5, NULL);
    mt_push_get_stats(p.a, &ps);
    hs0 = ps.handshakes; /* B's */
    c = t_session("127.0.95.53", 0, NULL);
    t_fmt(c_dir, sizeof c_dir, "%s/c", p.dir);
    ck_assert(mkdir(c_dir, 0755) == 0);
    t_add(c, p.torrent, p.torrent_len, c_dir, cid);
    ck_assert(memcmp(cid, p.id, 20) == 0);
    ck_assert_int_eq(mt_push_peer_count(c, p.id), MT_ESTATE);

    /* Wait until A has both peers (B and C). */
    deadline = mt_now_ms() + T_WAIT_MS;
    for (int64_t next = 0;;) {
        t_status(p.a, p.id, &st);
        if (st.num_peers >= 2)
            break;
        ck_assert_msg(mt_now_ms() < deadline, "A has %d peers", st.num_peers);
        if (mt_now_ms() >= next) {
            ck_assert_int_eq(mt_torrent_connect_peer(c, p.id, p.a_ep, &err), 0);
            next = mt_now_ms() + 3000;
        }
        t_sleep_ms(20);
    }
    /* Until A has acted on C's extended handshake (the one without
     * lt_megatorrent): only then does a count of 1 say C was left out,
     * however long C's handshake took to get there. */
    T_WAIT_UNTIL((mt_push_get_stats(p.a, &ps), ps.handshakes > hs0), T_WAIT_MS,
                 "A never read C's extended handshake");
    ck_assert_int_eq(mt_push_peer_count(p.a, p.id), 1);

    item_keys(&it);
    item_make(&it, p.id, 1);
    item_push(p.a, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    t_assert_item(&ev, &it, p.id, p.a_ep);
    mt_event_clear(&ev);

    /* A second push: A must write it to B alone. Its sends run on A's
     * network thread in the order asked; the status call below is answered
     * by that thread after them, so A's sent count then is final: 2 means
     * nothing went to C, at whatever speed (a wrongly addressed message
     * would have been counted when written, and could kill C's link). */
    item_make(&it, p.id, 2);
    item_push(p.a, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(p.b, MT_EVENT_PUSH, p.id, &ev);
    mt_event_clear(&ev);
    t_status(p.a, p.id, &st);
    ck_assert_int_ge(st.num_peers, 2);
    mt_push_get_stats(p.a, &ps);
    ck_assert_uint_eq(ps.sent, 2);
    ck_assert_int_eq(mt_push_peer_count(p.a, p.id), 1);
    t_status(c, p.id, &st);
    ck_assert_int_gt(st.num_peers, 0);
    mt_session_free(c);
    pair_down(&p);
}
END_TEST

/* Messages the n sessions took off the wire, together. */
static uint64_t t_received_total(mt_session *const *s, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        mt_push_stats st;
        mt_push_get_stats(s[i], &st);
        total += st.received;
    }
    return total;
}

/* Until the n sessions have received want messages together; fails after
 * T_WAIT_MS. */
static void t_wait_received(mt_session *const *s, int n, uint64_t want)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    uint64_t total;
    while ((total = t_received_total(s, n)) < want) {
        ck_assert_msg(mt_now_ms() < deadline, "received %" PRIu64 " of %" PRIu64, total, want);
        t_sleep_ms(10);
    }
}

/* max_peers: a send reaches that many of the push peers, picked afresh each
 * time; 0 reaches all. Counted on the receivers' own counters. */
START_TEST(push_fanout)
{
    enum { NPEERS = 3, SENDS = 12 };
    struct pair p;
    struct item it;
    mt_push_config pc;
    mt_session *peer[NPEERS];
    char dirs[NPEERS][256];
    uint64_t got[NPEERS] = {0};
    int queued = -1, seen_by = 0;
    int64_t seq = 0;

    mt_push_config_init(&pc);
    pc.peer_burst = 100; /* every send below must pass the buckets */
    pair_up(&p, 6, &pc);
    peer[0] = p.b;
    for (int i = 1; i < NPEERS; i++) {
        char addr[32];
        uint8_t id[20];
        t_fmt(addr, sizeof addr, "127.0.95.%d", 62 + i);
        peer[i] = t_session(addr, 1, &pc);
        t_fmt(dirs[i], sizeof dirs[i], "%s/p%d", p.dir, i);
        ck_assert(mkdir(dirs[i], 0755) == 0);
        t_add(peer[i], p.torrent, p.torrent_len, dirs[i], id);
        t_wait_push_peers(peer[i], p.a, p.id, p.a_ep, 1, i + 1);
    }
    item_keys(&it);

    /* One peer per send: each send lands on exactly one, and over SENDS
     * sends not always the same one (all on one: p = 3^-11). */
    for (int k = 0; k < SENDS; k++) {
        item_make(&it, p.id, ++seq);
        ck_assert_int_eq(mt_push_send(p.a, p.id, it.pk, it.salt, it.salt_len, it.seq, it.v, it.v_len, it.sig, NULL,
                                      1, &queued, NULL),
                         0);
        ck_assert_int_eq(queued, 1);
        t_wait_received(peer, NPEERS, (uint64_t)k + 1);
    }
    /* A second copy of any send must not come. A marker to every peer,
     * written on each link after the sends above, ends the check: once
     * every peer has its event, every copy before it has been counted,
     * however slow the machine (waiting a while instead would pass on one
     * too slow to have delivered the extra copy yet). */
    item_make(&it, p.id, ++seq);
    item_push(p.a, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, NPEERS);
    for (int i = 0; i < NPEERS; i++)
        t_wait_seq(peer[i], p.id, seq);
    for (int i = 0; i < NPEERS; i++) {
        mt_push_stats st;
        mt_push_get_stats(peer[i], &st);
        got[i] = st.received - 1; /* the marker */
        seen_by += got[i] > 0;
    }
    ck_assert_uint_eq(got[0] + got[1] + got[2], SENDS);
    ck_assert_msg(seen_by >= 2, "every send went to the same peer (%" PRIu64 "/%" PRIu64 "/%" PRIu64 ")", got[0],
                  got[1], got[2]);

    /* Two of three, then a cap above the peer count, then 0: all. */
    item_make(&it, p.id, ++seq);
    ck_assert_int_eq(mt_push_send(p.a, p.id, it.pk, it.salt, it.salt_len, it.seq, it.v, it.v_len, it.sig, NULL, 2,
                                  &queued, NULL),
                     0);
    ck_assert_int_eq(queued, 2);
    item_make(&it, p.id, ++seq);
    ck_assert_int_eq(mt_push_send(p.a, p.id, it.pk, it.salt, it.salt_len, it.seq, it.v, it.v_len, it.sig, NULL, 50,
                                  &queued, NULL),
                     0);
    ck_assert_int_eq(queued, NPEERS);
    item_make(&it, p.id, ++seq);
    item_push(p.a, p.id, &it, NULL, &queued);
    ck_assert_int_eq(queued, NPEERS);
    {
        /* SENDS, the first marker's NPEERS, then 2 + NPEERS + NPEERS;
         * a second marker ends the count, as above. */
        uint64_t want = SENDS + NPEERS + 2 + NPEERS + NPEERS;
        t_wait_received(peer, NPEERS, want);
        item_make(&it, p.id, ++seq);
        item_push(p.a, p.id, &it, NULL, &queued);
        ck_assert_int_eq(queued, NPEERS);
        for (int i = 0; i < NPEERS; i++)
            t_wait_seq(peer[i], p.id, seq);
        ck_assert_uint_eq(t_received_total(peer, NPEERS), want + NPEERS);
    }
    ck_assert_int_eq(mt_push_send(p.a, p.id, it.pk, it.salt, it.salt_len, it.seq, it.v, it.v_len, it.sig, NULL, -1,
                                  &queued, NULL),
                     MT_EINVAL);

    for (int i = 1; i < NPEERS; i++)
        mt_session_free(peer[i]);
    pair_down(&p);
}
END_TEST

/* Wait until s is seeding torrent id (finished downloading). */
static void t_wait_seeding(mt_session *s, const uint8_t id[20])
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    for (;;) {
        mt_torrent_status st;
        t_status(s, id, &st);
        /* The state too: libtorrent closes links to seeds as it enters it. */
        if (st.total_wanted > 0 && st.total_done == st.total_wanted &&
            (st.state == MT_TS_SEEDING || st.state == MT_TS_FINISHED))
            return;
        ck_assert_msg(mt_now_ms() < deadline, "not complete: %" PRId64 " of %" PRId64, st.total_done,
                      st.total_wanted);
        t_sleep_ms(20);
    }
}

/* With libtorrent's close_redundant_connections on (its default), two
 * seeds of a torrent drop their connection; mt_push_keep_links keeps it for
 * the marked torrent only, and pushes still flow there. */
START_TEST(push_keep_links)
{
    char dir1[128], dir2[128], dst1[192], dst2[192], a_ep[64];
    uint8_t *t1, *t2, id1[20], id2[20], idb[20];
    size_t len1, len2;
    mt_session *a, *b;
    mt_event ev;
    mt_error err;
    struct item it;
    int queued = -1;

    t1 = t_small_torrent(dir1, sizeof dir1, &len1);
    t2 = t_small_torrent(dir2, sizeof dir2, &len2);
    t_fmt(dst1, sizeof dst1, "%s/dst", dir1);
    t_fmt(dst2, sizeof dst2, "%s/dst", dir2);
    ck_assert(mkdir(dst1, 0755) == 0 && mkdir(dst2, 0755) == 0);
    a = t_session("127.0.95.71", 1, NULL);
    b = t_session("127.0.95.72", 1, NULL);
    ck_assert(mt_session_set_setting(a, "close_redundant_connections", "true", NULL) == 0);
    ck_assert(mt_session_set_setting(b, "close_redundant_connections", "true", NULL) == 0);
    t_add(a, t1, len1, dir1, id1);
    t_add(a, t2, len2, dir2, id2);
    /* t1 is marked on both ends before the peers meet. */
    ck_assert_int_eq(mt_push_keep_links(a, id1, 1, &err), 0);
    ck_assert_int_eq(mt_push_keep_links(b, id1, 1, &err), 0);
    t_wait(a, MT_EVENT_TORRENT_CHECKED, id1, &ev);
    mt_event_clear(&ev);
    t_wait(a, MT_EVENT_TORRENT_CHECKED, id2, &ev);
    mt_event_clear(&ev);
    t_endpoint(a, "127.0.95.71", a_ep, sizeof a_ep);
    t_add(b, t1, len1, dst1, idb);
    t_add(b, t2, len2, dst2, idb);
    ck_assert_int_eq(mt_torrent_connect_peer(b, id1, a_ep, &err), 0);
    ck_assert_int_eq(mt_torrent_connect_peer(b, id2, a_ep, &err), 0);
    t_wait_seeding(b, id1);
    t_wait_seeding(b, id2);

    /* The unmarked torrent: libtorrent closes the seed-to-seed link. */
    {
        int64_t deadline = mt_now_ms() + T_WAIT_MS;
        mt_torrent_status st;
        for (;;) {
            t_status(b, id2, &st);
            if (st.num_peers == 0)
                break;
            ck_assert_msg(mt_now_ms() < deadline, "the unmarked torrent kept %d peers", st.num_peers);
            t_sleep_ms(50);
        }
    }
    /* The marked one still has it, both ways, and pushes go through both
     * ways. B is seeding (its own close at finishing is behind it) and
     * wrote its last HAVE before its push below, so A has acted on "B is a
     * seed" before it takes the push: a close, had A made one, would have
     * come first, whatever the machine's speed. */
    item_keys(&it);
    item_make(&it, id1, 1);
    item_push(b, id1, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(a, MT_EVENT_PUSH, id1, &ev);
    t_assert_item(&ev, &it, id1, NULL);
    mt_event_clear(&ev);
    ck_assert_int_eq(mt_push_peer_count(a, id1), 1);
    ck_assert_int_eq(mt_push_peer_count(b, id1), 1);
    item_keys(&it);
    item_make(&it, id1, 1);
    item_push(a, id1, &it, NULL, &queued);
    ck_assert_int_eq(queued, 1);
    t_wait(b, MT_EVENT_PUSH, id1, &ev);
    t_assert_item(&ev, &it, id1, a_ep);
    mt_event_clear(&ev);

    /* Unmarked: nothing reopens or closes by itself, but the API answers. */
    ck_assert_int_eq(mt_push_keep_links(a, id1, 0, &err), 0);
    ck_assert_int_eq(mt_push_keep_links(NULL, id1, 1, &err), MT_EINVAL);

    mt_session_free(b);
    mt_session_free(a);
    mt_free(t1);
    mt_free(t2);
    t_rm_rf(dir1);
    t_rm_rf(dir2);
}
END_TEST

/* Connect from addr to a session at ip:port as a bare BitTorrent peer:
 * handshake for ih with only the fast-extension bit (no BEP-10), read the
 * answer, then announce HAVE_ALL (a seed). Returns the socket. */
static int raw_seed_peer(const char *addr, const char *ip, int port, const uint8_t ih[20])
{
    struct sockaddr_in from, to;
    uint8_t hs[68], reply[68];
    const uint8_t have_all[5] = {0, 0, 0, 1, 0x0e};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    ck_assert(fd >= 0);
    memset(&from, 0, sizeof from);
    from.sin_family = AF_INET;
    ck_assert(inet_pton(AF_INET, addr, &from.sin_addr) == 1);
    ck_assert_msg(bind(fd, (struct sockaddr *)&from, sizeof from) == 0, "bind %s: %s", addr, strerror(errno));
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    ck_assert(inet_pton(AF_INET, ip, &to.sin_addr) == 1);
    ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect: %s", strerror(errno));
    hs[0] = 19;
    memcpy(hs + 1, "BitTorrent protocol", 19);
    memset(hs + 20, 0, 8);
    hs[27] = 0x04; /* fast extension; byte 5's 0x10 (BEP-10) left clear */
    memcpy(hs + 28, ih, 20);
    memcpy(hs + 48, "-XX0001-rawseedpeer1", 20);
    ck_assert(write(fd, hs, sizeof hs) == (ssize_t)sizeof hs);
    while (got < sizeof reply) {
        struct pollfd p = {fd, POLLIN, 0};
        ck_assert_msg(poll(&p, 1, T_WAIT_MS) == 1, "no handshake from the session");
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        ck_assert_msg(n > 0, "the session closed before its handshake");
        got += (size_t)n;
    }
    ck_assert(memcmp(reply + 28, ih, 20) == 0);
    ck_assert(write(fd, have_all, sizeof have_all) == (ssize_t)sizeof have_all);
    return fd;
}

/* 1 if the peer closes fd within ms (whatever it sends before is dropped). */
static int t_closed_within(int fd, int ms)
{
    int64_t deadline = mt_now_ms() + ms;
    uint8_t buf[4096];
    for (;;) {
        int64_t left = deadline - mt_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)left) != 1)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return 1;
    }
}

/* A kept torrent vetoes redundant-link closing only for peers that can
 * speak lt_megatorrent: a seed without BEP-10 support is still closed. */
START_TEST(push_keep_links_skips_non_bep10)
{
    char dir[128];
    uint8_t *t, id[20];
    size_t len;
    mt_session *a;
    mt_event ev;
    mt_error err;
    int fd;

    t = t_small_torrent(dir, sizeof dir, &len);
    a = t_session("127.0.95.81", 1, NULL);
    ck_assert(mt_session_set_setting(a, "close_redundant_connections", "true", NULL) == 0);
    t_add(a, t, len, dir, id);
    ck_assert_int_eq(mt_push_keep_links(a, id, 1, &err), 0);
    t_wait(a, MT_EVENT_TORRENT_CHECKED, id, &ev);
    mt_event_clear(&ev);
    fd = raw_seed_peer("127.0.95.82", "127.0.95.81", mt_session_listen_port(a), id);
    ck_assert_msg(t_closed_within(fd, 10000), "a seed without BEP-10 kept its redundant link to a seed");
    close(fd);
    mt_session_free(a);
    mt_free(t);
    t_rm_rf(dir);
}
END_TEST

/* Argument and state errors, on one session, no traffic. */
START_TEST(push_api_errors)
{
    mt_session *s, *plain;
    mt_push_config pc;
    mt_push_stats st;
    mt_error err;
    struct item it;
    uint8_t unknown[20] = {1}, salt[65] = {0};
    char dir[128];
    size_t len;
    uint8_t *t = t_small_torrent(dir, sizeof dir, &len), id[20];

    s = t_session("127.0.95.61", 1, NULL);
    plain = t_session("127.0.95.62", 0, NULL);
    item_keys(&it);
    item_make(&it, unknown, 1);

    ck_assert_int_eq(mt_push_enable(s, NULL, &err), MT_EEXIST);
    mt_push_config_init(&pc);
    pc.peer_burst = 0;
    ck_assert_int_eq(mt_push_enable(plain, &pc, &err), MT_EINVAL);
    mt_push_config_init(&pc);
    pc.max_message = 10;
    ck_assert_int_eq(mt_push_enable(plain, &pc, &err), MT_EINVAL);
    ck_assert_int_eq(mt_push_enable(NULL, NULL, &err), MT_EINVAL);

    ck_assert_int_eq(mt_push_send(plain, unknown, it.pk, it.salt, it.salt_len, 1, it.v, it.v_len, it.sig, NULL,
                                  0, NULL, &err),
                     MT_ESTATE);
    ck_assert_int_eq(mt_push_send_raw(plain, unknown, it.v, it.v_len, &err), MT_ESTATE);
    ck_assert_int_eq(mt_push_peer_count(plain, unknown), MT_ESTATE);
    mt_push_get_stats(plain, &st);
    ck_assert_uint_eq(st.received + st.sent, 0);

    ck_assert_int_eq(mt_push_send(s, unknown, it.pk, it.salt, it.salt_len, 1, it.v, it.v_len, it.sig, NULL, 0, NULL,
                                  &err),
                     MT_ENOTFOUND);
    ck_assert_int_eq(mt_push_send(s, unknown, it.pk, salt, 65, 1, it.v, it.v_len, it.sig, NULL, 0, NULL, &err),
                     MT_EINVAL);
    ck_assert_int_eq(mt_push_send(s, unknown, it.pk, it.salt, it.salt_len, 0, it.v, it.v_len, it.sig, NULL, 0, NULL,
                                  &err),
                     MT_EINVAL);
    ck_assert_int_eq(mt_push_send(s, unknown, it.pk, it.salt, it.salt_len, 1, (const uint8_t *)"i01e", 4, it.sig,
                                  NULL, 0, NULL, &err),
                     MT_EINVAL);
    ck_assert_int_eq(mt_push_send(s, unknown, it.pk, it.salt, it.salt_len, 1, (const uint8_t *)"1:ab", 4, it.sig,
                                  NULL, 0, NULL, &err),
                     MT_EINVAL);
    {
        static uint8_t big[1005];
        memcpy(big, "1000:", 5);
        ck_assert_int_eq(mt_push_send(s, unknown, it.pk, NULL, 0, 1, big, sizeof big, it.sig, NULL, 0, NULL, &err),
                         MT_EINVAL);
    }
    ck_assert_int_eq(mt_push_send(s, unknown, NULL, NULL, 0, 1, it.v, it.v_len, it.sig, NULL, 0, NULL, &err),
                     MT_EINVAL);
    ck_assert_int_eq(mt_push_send_raw(s, unknown, it.v, 0, &err), MT_EINVAL);
    ck_assert_int_eq(mt_push_send_raw(s, unknown, it.v, it.v_len, &err), MT_ENOTFOUND);
    ck_assert_int_eq(mt_push_peer_count(s, unknown), 0);
    ck_assert_int_eq(mt_push_peer_count(NULL, unknown), MT_EINVAL);

    /* A torrent with no peers: accepted, addressed to nobody. */
    t_add(s, t, len, dir, id);
    {
        int queued = -1;
        ck_assert_int_eq(mt_push_send(s, id, it.pk, it.salt, it.salt_len, 1, it.v, it.v_len, it.sig, NULL,
                                      0, &queued, &err),
                         0);
        ck_assert_int_eq(queued, 0);
    }
    mt_push_get_stats(NULL, &st);
    mt_session_free(plain);
    mt_session_free(s);
    mt_free(t);
    t_rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *push_suite(void)
{
    Suite *s = suite_create("push");
    TCase *tc = tcase_create("push");
    tcase_add_unchecked_fixture(tc, base_up, base_down);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, push_api_errors);
    tcase_add_test(tc, push_delivered);
    tcase_add_test(tc, push_bad_messages);
    tcase_add_test(tc, push_duplicates);
    tcase_add_test(tc, push_flood);
    tcase_add_test(tc, push_skips_plain_peers);
    tcase_add_test(tc, push_fanout);
    tcase_add_test(tc, push_keep_links);
    tcase_add_test(tc, push_keep_links_skips_non_bep10);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = 0;
    /* Twice: over plain links, then over lt_mtcrypt-encrypted ones. */
    for (g_crypt = 0; g_crypt <= 1; g_crypt++) {
        SRunner *sr = srunner_create(push_suite());
        if (g_crypt)
            printf("-- again, over encrypted links --\n");
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    return failed ? 1 : 0;
}
