/*
 * bench_push.c - how fast a feed update reaches its subscribers: pushed
 * over the index swarm (lt_megatorrent, plugin/mt_push.h) against polled
 * from the DHT. One process, loopback only.
 *
 * For each N in --subs (default 20 and 50): a publisher session P
 * (127.0.96.1) and N subscriber sessions (127.0.96.2 ...), push enabled,
 * close_redundant_connections off, DHT off while pushing (the DHT would
 * find and connect peers beyond the topology below).
 *   - Topology: P seeds a 64 KiB one-file torrent (the "index"); every
 *     subscriber adds it by its .torrent bytes, connects to P and to
 *     --links other random subscribers (distinct undirected links), and
 *     downloads it. Setup waits until P has N push peers and subscriber i
 *     at least 1 + its links (after SETUP_STRICT_MS: P and one other
 *     subscriber). libtorrent's ut_pex then tells every peer
 *     about the others, and the swarm grows towards a full mesh, as an
 *     index swarm of mtd instances would: the benchmark waits until the
 *     mean push-peer count has not changed for SETTLE_QUIET_MS (at most
 *     --settle s), so rounds run on a steady topology. Counts are printed.
 *   - Push: each round P signs item seq k and calls mt_push_send (to every
 *     push peer). Every subscriber that gets MT_EVENT_PUSH forwards it once
 *     with mt_push_send(..., except = the sender, max_peers = fanout), as
 *     mtd does with push_fanout. Rounds cycle through the --fanout values
 *     (default 0 = every peer, and 8, mtd's default), so each is measured
 *     on the same swarm in the same minutes. Measured per fanout: ms
 *     from P's send to each subscriber's MT_EVENT_PUSH of seq k, and
 *     whether it came from P (direct) or from another subscriber. Rounds
 *     (and the forward messages sent per update, the cost) start ROUND_GAP_MS apart, so no connection outruns the default
 *     per-peer bucket (30 a minute, burst 10). All sessions are pumped
 *     from one poll() loop over their mt_session_fd's. --no-forward turns
 *     forwarding off, to see P's fan-out alone.
 *   - Poll: an mt_testnet of 8 DHT nodes (127.0.97.x; a fresh one per N,
 *     because the sessions of the previous N joined it and are gone, and
 *     lookups that ask dead nodes wait for their timeouts). The same
 *     sessions turn the DHT on and bootstrap to it (full nodes, as in mtd,
 *     so they join it). Each subscriber calls mt_dht_get_mutable every
 *     --poll-interval s from a random phase. Each round waits a random
 *     0..interval, then P puts seq k (mt_dht_put_mutable); measured: time
 *     from the put call to each subscriber's first MT_EVENT_DHT_MUTABLE
 *     with seq >= k (a non-authoritative result counts), and the gets made.
 *   - Raw primitive: one local mt_dht_verify_mutable of the same item (the
 *     work each hop of a push does), to express the push time as a ratio.
 * Prints a human table and markdown rows. Exit status: 0 if every
 * subscriber got every update, 1 otherwise, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "mt_capi.h"
#include "mt_push.h"
#include "mt_testnet.h"
#define BENCH_NAME "bench_push"
#include "bench_util.h"

#define PUB_ADDR "127.0.96.1"
#define SUB_FIRST 2           /* subscriber i listens on 127.0.96.(SUB_FIRST + i) */
#define MAX_SUBS 250
#define MAX_LINKS 8
#define MAX_FANOUTS 4
#define NET_ADDR "127.0.97.1"
#define NET_NODES 8
#define SETUP_MS 120000       /* bounds a hang; times nothing */
#define SETUP_STRICT_MS 15000 /* then a subscriber short of a planned link is accepted (see run_one) */
#define PUSH_WAIT_MS 10000    /* a push round gives up after this */
#define POLL_GRACE_MS 15000   /* a poll round gives up after interval + this */
#define ROUND_GAP_MS 2500     /* > 60000 / 30 (default peer_per_min): buckets refill between rounds */
#define SETTLE_QUIET_MS 10000 /* the mesh counts as settled after this long without a change */
#define INDEX_BYTES 65536
#define VERIFY_REPS 200

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct series {
    double *v;
    size_t n;
    double median, p95, max;
} series;

static int series_init(series *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->v = calloc(cap ? cap : 1, sizeof *s->v);
    return s->v ? 0 : -1;
}

/* Nearest-rank percentiles over the sorted samples (as bench_dht). */
static void series_finish(series *s)
{
    size_t k;
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    s->max = s->v[s->n - 1];
    s->median = s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    k = (95 * s->n + 99) / 100;
    s->p95 = s->v[k ? k - 1 : 0];
}

typedef struct sub {
    mt_session *s;
    char addr[32];
    char dir[256];
    int out[MAX_LINKS];   /* subscribers this one connects to */
    int nout;
    int degree;           /* undirected links to other subscribers */
    int finished;         /* the index is downloaded */
    int got;              /* this round's update arrived */
    double latency;       /* ms from the send / put */
    int direct;           /* push came from P */
    long gets_round;      /* gets issued since this round's put */
    long gets_seen;       /* gets_round when the update arrived */
    double next_poll;     /* ms clock */
} sub;

enum phase { PH_SETUP, PH_PUSH, PH_POLL };

typedef struct bench {
    int n;
    mt_session *pub;
    char pub_addr[32], pub_ep[64];
    int pub_finished;
    sub *subs;
    struct pollfd *pfd;
    uint8_t id[20];
    enum phase phase;
    /* the round in flight */
    int64_t seq;
    double t0;
    int ngot;
    int round_active;
    /* feed */
    uint8_t pk[32], sk[64];
    char salt[32];
    uint8_t target[20];
    /* counters */
    long forwards, forward_queued, forward_errors;
    int fanout;           /* max_peers of this round's forwards (0: all) */
    int engine_errors;
    int put_done, put_error;
    double put_ms;
    long gets_total;
    int polling;
    int no_forward;
    double interval_ms;
} bench;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_push [--subs LIST] [--rounds R] [--warmup W] [--poll-rounds P] [--poll-interval S]\n"
            "                  [--links L] [--settle S] [--seed S] [--fanout LIST] [--no-poll] [--no-forward]\n"
            "  --subs LIST        subscriber counts, comma-separated (default 20,50; each 2-%d)\n"
            "  --rounds R         measured push rounds per N (default 20)\n"
            "  --warmup W         unmeasured push rounds first (default 2)\n"
            "  --poll-rounds P    measured poll rounds per N (default 4)\n"
            "  --poll-interval S  seconds between one subscriber's DHT gets (default 5)\n"
            "  --links L          other subscribers each subscriber connects to (default 2, 0-%d)\n"
            "  --settle S         at most S s for the mesh to settle before the push rounds (default 90)\n"
            "  --seed S           seed for links, phases and delays (default: from the clock)\n"
            "  --fanout LIST      forward fan-outs the push rounds cycle through (default 0,8; 0 = every peer;\n"
            "                     at most %d values, each 0-%d)\n"
            "  --no-poll          push part only\n"
            "  --no-forward       subscribers do not forward pushes (P's fan-out alone)\n"
            "Traffic: 127.0.96.1-127.0.96.%d (sessions), 127.0.97.1-8 (DHT testnet).\n",
            MAX_SUBS, MAX_LINKS, MAX_FANOUTS, MAX_SUBS, MAX_SUBS + SUB_FIRST - 1);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0; /* 2^53 */
}

/* An item value like mtd's pointer: d2:ih20:<id>2:tsi<seq>ee. */
static size_t make_value(uint8_t *v, size_t cap, const uint8_t id[20], int64_t seq)
{
    int n;
    memcpy(v, "d2:ih20:", 8);
    memcpy(v + 8, id, 20);
    n = snprintf((char *)v + 28, cap - 28, "2:tsi%" PRId64 "ee", seq);
    return 28 + (size_t)n;
}

static mt_session *new_session(const char *addr, mt_error *err)
{
    char listen[64];
    mt_session_config cfg;
    mt_session *s = NULL;
    snprintf(listen, sizeof listen, "%s:0", addr);
    mt_session_config_init_loopback(&cfg, listen);
    cfg.outgoing_interfaces = addr;
    cfg.enable_dht = 0; /* on for the poll part only: DHT peer discovery would add links */
    if (mt_session_new(&cfg, &s, err) != 0)
        return NULL;
    if (mt_push_enable(s, NULL, err) != 0 ||
        mt_session_set_setting(s, "close_redundant_connections", "false", err) != 0) {
        mt_session_free(s);
        return NULL;
    }
    return s;
}

/* 1 if an event's endpoint is P. Each session has its own IP (and sends
 * from it: outgoing_interfaces), so the IP names the sender whichever side
 * opened the connection. */
static int from_publisher(const bench *b, const char *endpoint)
{
    size_t pl = strlen(b->pub_addr);
    return !strncmp(endpoint, b->pub_addr, pl) && endpoint[pl] == ':';
}

static void on_event(bench *b, int who, mt_event *ev) /* who: -1 = P, else subscriber */
{
    double t = now_ms();
    mt_error err;
    if (ev->type == MT_EVENT_ERROR) {
        if (b->engine_errors++ < 5)
            fprintf(stderr, "bench_push: %s %d: engine error: %s\n", who < 0 ? "publisher" : "subscriber", who,
                    ev->message);
        return;
    }
    if (ev->type == MT_EVENT_TORRENT_FINISHED && !memcmp(ev->target, b->id, 20)) {
        if (who < 0)
            b->pub_finished = 1;
        else
            b->subs[who].finished = 1;
        return;
    }
    if (who < 0) {
        if (ev->type == MT_EVENT_DHT_PUT && b->phase == PH_POLL && b->round_active && !b->put_done &&
            !memcmp(ev->target, b->target, 20)) {
            b->put_done = 1;
            b->put_ms = t - b->t0;
            b->put_error = ev->error;
        }
        return;
    }
    sub *s = &b->subs[who];
    if (ev->type == MT_EVENT_PUSH) {
        int q = 0;
        if (b->round_active && ev->seq == b->seq && !s->got) {
            s->got = 1;
            s->latency = t - b->t0;
            s->direct = from_publisher(b, ev->endpoint);
            b->ngot++;
        }
        /* What mtd does with an accepted push: pass it on, not back. */
        if (b->no_forward)
            return;
        if (mt_push_send(s->s, ev->target, ev->pubkey, ev->salt, ev->salt_len, ev->seq, ev->data, ev->data_len,
                         ev->signature, ev->endpoint, b->fanout, &q, &err) == 0) {
            b->forwards++;
            b->forward_queued += q;
        } else if (b->forward_errors++ < 5) {
            fprintf(stderr, "bench_push: subscriber %d: forward: %s\n", who, err.message);
        }
        return;
    }
    if (ev->type == MT_EVENT_DHT_MUTABLE && b->phase == PH_POLL && b->round_active && !s->got && ev->error == 0 &&
        ev->seq >= b->seq && !memcmp(ev->target, b->target, 20)) {
        s->got = 1;
        s->latency = t - b->t0;
        s->gets_seen = s->gets_round;
        b->ngot++;
    }
}

/* Issue the gets that are due (poll part). Returns ms until the next one. */
static int poll_tick(bench *b)
{
    double now = now_ms(), next = now + 1000;
    mt_error err;
    if (!b->polling)
        return 1000;
    for (int i = 0; i < b->n; i++) {
        sub *s = &b->subs[i];
        if (now >= s->next_poll) {
            uint8_t t[20];
            if (mt_dht_get_mutable(s->s, b->pk, (const uint8_t *)b->salt, strlen(b->salt), t, &err) == 0) {
                b->gets_total++;
                s->gets_round++;
            } else if (b->engine_errors++ < 5) {
                fprintf(stderr, "bench_push: subscriber %d: get refused: %s\n", i, err.message);
            }
            s->next_poll += b->interval_ms;
            if (s->next_poll <= now) /* fell behind: keep the interval, lose the phase */
                s->next_poll = now + b->interval_ms;
        }
        if (s->next_poll < next)
            next = s->next_poll;
    }
    return next > now ? (int)(next - now) + 1 : 0;
}

/* One turn of the loop: wait up to timeout_ms on every session's fd, then
 * drain those that are readable. */
static void pump(bench *b, int timeout_ms)
{
    int k = 0, to = timeout_ms, due = poll_tick(b);
    if (b->polling && due < to)
        to = due;
    for (int i = -1; i < b->n; i++) {
        mt_session *s = i < 0 ? b->pub : b->subs[i].s;
        int t = mt_session_next_timeout(s);
        if (t >= 0 && t < to)
            to = t;
        b->pfd[k].fd = mt_session_fd(s);
        b->pfd[k++].events = POLLIN;
    }
    if (poll(b->pfd, (nfds_t)k, to < 0 ? 0 : to) <= 0)
        return;
    for (int j = 0; j < k; j++) {
        mt_event ev;
        mt_session *s = j == 0 ? b->pub : b->subs[j - 1].s;
        if (!(b->pfd[j].revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        while (mt_session_next_event(s, &ev)) {
            on_event(b, j - 1, &ev);
            mt_event_clear(&ev);
        }
    }
}

static void pump_until(bench *b, double until)
{
    for (double now = now_ms(); now < until; now = now_ms())
        pump(b, (int)(until - now) + 1);
}

static double mean_push_peers(bench *b)
{
    long sum = 0;
    for (int i = 0; i < b->n; i++) {
        int c = mt_push_peer_count(b->subs[i].s, b->id);
        sum += c > 0 ? c : 0;
    }
    return b->n ? (double)sum / b->n : 0;
}

/* A 64 KiB file under dir and its v1 .torrent (mt_free). */
static uint8_t *make_index(const char *dir, size_t *len, mt_error *err)
{
    char file[512];
    uint8_t *buf = malloc(INDEX_BYTES), *out = NULL;
    mt_create_params p;
    FILE *f;
    if (!buf) {
        mt_error_set(err, MT_ENOMEM, "out of memory");
        return NULL;
    }
    randombytes_buf(buf, INDEX_BYTES);
    snprintf(file, sizeof file, "%s/index.bin", dir);
    f = fopen(file, "wb");
    if (!f || fwrite(buf, 1, INDEX_BYTES, f) != INDEX_BYTES || fclose(f) != 0) {
        mt_error_set(err, MT_EIO, "cannot write %s: %s", file, strerror(errno));
        free(buf);
        return NULL;
    }
    free(buf);
    memset(&p, 0, sizeof p);
    p.path = file;
    p.version = MT_TORRENT_V1;
    if (mt_torrent_create(&p, &out, len, err) != 0)
        return NULL;
    return out;
}

/* Random undirected links: subscriber i connects to up to `links` others
 * it has no link with yet. */
static void make_links(bench *b, int links)
{
    unsigned char *adj = calloc((size_t)b->n * (size_t)b->n, 1);
    if (!adj)
        return;
    for (int i = 0; i < b->n; i++) {
        sub *s = &b->subs[i];
        for (int tries = 0; s->nout < links && tries < 50 * links; tries++) {
            int j = (int)(rng_next() % (uint64_t)b->n);
            if (j == i || adj[i * b->n + j])
                continue;
            adj[i * b->n + j] = adj[j * b->n + i] = 1;
            s->out[s->nout++] = j;
            s->degree++;
            b->subs[j].degree++;
        }
    }
    free(adj);
}

/* The push rounds of one fanout value. */
typedef struct fanout_result {
    series push;
    long samples_wanted, rounds;
    long direct, forwarded;
    long forward_queued;  /* forward messages addressed in these rounds */
} fanout_result;

typedef struct result {
    int n;
    fanout_result f[MAX_FANOUTS];
    series poll, gets_seen;
    long poll_samples_wanted;
    double peers_before, peers_settled, peers_after, settle_s;
    int short_links;      /* subscribers that started without all their planned links */
    mt_push_stats sub_stats;
    long queued_min, queued_max;
    double gets_per_update;
    series put;
    int put_failures;
    double setup_s;
    int ok;
} result;

/* Everything for one N. Returns 0 if every update reached every subscriber. */
static int run_one(int n, long rounds, long warmup, long poll_rounds, double interval_ms, int links, int do_poll,
                   int no_forward, const int *fanouts, int nfanouts, double settle_ms, const char *tmp,
                   result *res)
{
    bench b;
    mt_error err;
    mt_event ev;
    uint8_t *torrent = NULL;
    size_t torrent_len = 0;
    mt_testnet *net = NULL;
    char src[300];
    int failures = 0, rc;
    double t_setup = now_ms(), deadline, next_connect = 0;

    memset(&b, 0, sizeof b);
    memset(res, 0, sizeof *res);
    res->n = n;
    b.n = n;
    b.interval_ms = interval_ms;
    b.no_forward = no_forward;
    snprintf(b.pub_addr, sizeof b.pub_addr, "%s", PUB_ADDR);
    snprintf(b.salt, sizeof b.salt, "bench-push-%d", n);
    crypto_sign_keypair(b.pk, b.sk);
    mt_dht_mutable_target(b.pk, (const uint8_t *)b.salt, strlen(b.salt), b.target, NULL);
    b.subs = calloc((size_t)n, sizeof *b.subs);
    b.pfd = calloc((size_t)n + 1, sizeof *b.pfd);
    for (int f = 0; f < nfanouts; f++)
        if (series_init(&res->f[f].push, (size_t)(n * rounds))) {
            fprintf(stderr, "bench_push: out of memory\n");
            failures++;
            goto out;
        }
    if (series_init(&res->poll, (size_t)(n * poll_rounds)) ||
        series_init(&res->gets_seen, (size_t)(n * poll_rounds)) || series_init(&res->put, (size_t)poll_rounds) ||
        !b.subs || !b.pfd) {
        fprintf(stderr, "bench_push: out of memory\n");
        failures++;
        goto out;
    }

    /* Sessions. */
    snprintf(src, sizeof src, "%s/src-%d", tmp, n);
    if (mkdir(src, 0700) != 0) {
        fprintf(stderr, "bench_push: mkdir %s: %s\n", src, strerror(errno));
        failures++;
        goto out;
    }
    b.pub = new_session(b.pub_addr, &err);
    if (!b.pub) {
        fprintf(stderr, "bench_push: publisher session: %s\n", err.message);
        failures++;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        sub *s = &b.subs[i];
        snprintf(s->addr, sizeof s->addr, "127.0.96.%d", SUB_FIRST + i);
        snprintf(s->dir, sizeof s->dir, "%s/sub-%d-%d", tmp, n, i);
        if (mkdir(s->dir, 0700) != 0) {
            fprintf(stderr, "bench_push: mkdir %s: %s\n", s->dir, strerror(errno));
            failures++;
            goto out;
        }
        s->s = new_session(s->addr, &err);
        if (!s->s) {
            fprintf(stderr, "bench_push: subscriber %d session: %s\n", i, err.message);
            failures++;
            goto out;
        }
    }
    deadline = now_ms() + SETUP_MS;
    while (mt_session_listen_port(b.pub) <= 0) {
        if (now_ms() > deadline) {
            fprintf(stderr, "bench_push: the publisher does not listen\n");
            failures++;
            goto out;
        }
        pump(&b, 10);
    }
    snprintf(b.pub_ep, sizeof b.pub_ep, "%s:%d", b.pub_addr, mt_session_listen_port(b.pub));

    /* The index: P seeds it, subscribers download it. */
    torrent = make_index(src, &torrent_len, &err);
    if (!torrent) {
        fprintf(stderr, "bench_push: index torrent: %s\n", err.message);
        failures++;
        goto out;
    }
    {
        mt_add_params p;
        memset(&p, 0, sizeof p);
        p.torrent = torrent;
        p.torrent_len = torrent_len;
        p.save_path = src;
        if (mt_torrent_add(b.pub, &p, b.id, &err) != 0 ||
            mt_session_wait_event(b.pub, MT_EVENT_TORRENT_CHECKED, b.id, 30000, &ev, &err) != 0) {
            fprintf(stderr, "bench_push: publisher add: %s\n", err.message);
            failures++;
            goto out;
        }
        mt_event_clear(&ev);
        for (int i = 0; i < n; i++) {
            uint8_t id[20];
            p.save_path = b.subs[i].dir;
            if (mt_torrent_add(b.subs[i].s, &p, id, &err) != 0) {
                fprintf(stderr, "bench_push: subscriber %d add: %s\n", i, err.message);
                failures++;
                goto out;
            }
        }
    }
    make_links(&b, links);

    /* Connect until P has N push peers, subscriber i at least 1 + degree,
     * and all have the index. connect_peer is repeated for the short ones
     * (libtorrent ignores a peer it is already connected to). Now and then
     * a planned link never forms (seen with N = 5: both ends one peer short,
     * retries do not help within minutes), while ut_pex adds others; after
     * SETUP_STRICT_MS, P plus one other subscriber each is enough. */
    deadline = now_ms() + SETUP_MS;
    for (double strict_until = now_ms() + SETUP_STRICT_MS;;) {
        int ok = mt_push_peer_count(b.pub, b.id) == n, short_links = 0;
        double now = now_ms();
        for (int i = 0; i < n && ok; i++) {
            int c = mt_push_peer_count(b.subs[i].s, b.id), want = 1 + b.subs[i].degree;
            if (c < want && now >= strict_until && c >= (want > 1 ? 2 : 1))
                short_links++;
            else if (c < want)
                ok = 0;
            ok = ok && b.subs[i].finished;
        }
        if (ok) {
            res->short_links = short_links;
            break;
        }
        if (now > deadline) {
            fprintf(stderr, "bench_push: setup timed out: publisher has %d push peers of %d\n",
                    mt_push_peer_count(b.pub, b.id), n);
            for (int i = 0; i < n; i++) {
                int c = mt_push_peer_count(b.subs[i].s, b.id);
                if (c < 1 + b.subs[i].degree || !b.subs[i].finished)
                    fprintf(stderr, "  subscriber %d: %d push peers of %d, index %s\n", i, c, 1 + b.subs[i].degree,
                            b.subs[i].finished ? "downloaded" : "not downloaded");
            }
            failures++;
            goto out;
        }
        if (now >= next_connect) {
            for (int i = 0; i < n; i++) {
                sub *s = &b.subs[i];
                if (mt_push_peer_count(s->s, b.id) >= 1 + s->degree)
                    continue;
                mt_torrent_connect_peer(s->s, b.id, b.pub_ep, NULL);
                for (int l = 0; l < s->nout; l++) {
                    char ep[64];
                    sub *o = &b.subs[s->out[l]];
                    snprintf(ep, sizeof ep, "%s:%d", o->addr, mt_session_listen_port(o->s));
                    mt_torrent_connect_peer(s->s, b.id, ep, NULL);
                }
            }
            next_connect = now + 3000;
        }
        pump(&b, 20);
    }
    res->setup_s = (now_ms() - t_setup) / 1e3;
    res->peers_before = mean_push_peers(&b);

    /* Let ut_pex finish growing the mesh. */
    {
        double start = now_ms(), changed = start, last = res->peers_before;
        while (now_ms() - changed < SETTLE_QUIET_MS && now_ms() - start < settle_ms) {
            double m;
            pump_until(&b, now_ms() + 500);
            m = mean_push_peers(&b);
            if (m != last) {
                last = m;
                changed = now_ms();
            }
        }
        res->settle_s = (now_ms() - start) / 1e3;
        res->peers_settled = last;
    }

    /* Push rounds. */
    b.phase = PH_PUSH;
    res->queued_min = n + 1;
    for (long r = 0; r < warmup + rounds; r++) {
        int measured = r >= warmup, queued = -1, fi = (int)(r % nfanouts);
        fanout_result *fr = &res->f[fi];
        long queued_before = b.forward_queued;
        uint8_t v[128], sig[64];
        size_t vlen;
        b.fanout = fanouts[fi];
        for (int i = 0; i < n; i++)
            b.subs[i].got = 0;
        b.ngot = 0;
        b.seq++;
        vlen = make_value(v, sizeof v, b.id, b.seq);
        mt_dht_sign_mutable(b.sk, (const uint8_t *)b.salt, strlen(b.salt), b.seq, v, vlen, sig, NULL);
        b.round_active = 1;
        b.t0 = now_ms();
        rc = mt_push_send(b.pub, b.id, b.pk, (const uint8_t *)b.salt, strlen(b.salt), b.seq, v, vlen, sig, NULL,
                          0, &queued, &err);
        if (rc != 0) {
            fprintf(stderr, "bench_push: push round %ld: send: %s\n", r, err.message);
            failures++;
            b.round_active = 0;
            continue;
        }
        if (measured) {
            if (queued < res->queued_min)
                res->queued_min = queued;
            if (queued > res->queued_max)
                res->queued_max = queued;
        }
        while (b.ngot < n && now_ms() < b.t0 + PUSH_WAIT_MS)
            pump(&b, 50);
        b.round_active = 0;
        if (measured) {
            fr->samples_wanted += n;
            fr->rounds++;
            for (int i = 0; i < n; i++) {
                sub *s = &b.subs[i];
                if (!s->got)
                    continue;
                fr->push.v[fr->push.n++] = s->latency;
                if (s->direct)
                    fr->direct++;
                else
                    fr->forwarded++;
            }
        }
        if (b.ngot < n) {
            fprintf(stderr, "bench_push: push round %ld: %d of %d subscribers got seq %" PRId64 "\n", r, b.ngot, n,
                    b.seq);
            failures++;
        }
        pump_until(&b, b.t0 + ROUND_GAP_MS); /* late forwards settle as duplicates */
        if (measured)
            fr->forward_queued += b.forward_queued - queued_before;
    }
    res->peers_after = mean_push_peers(&b);
    for (int i = 0; i < n; i++) {
        mt_push_stats st;
        mt_push_get_stats(b.subs[i].s, &st);
        res->sub_stats.received += st.received;
        res->sub_stats.delivered += st.delivered;
        res->sub_stats.duplicate += st.duplicate;
        res->sub_stats.rate_limited += st.rate_limited;
        res->sub_stats.bad_signature += st.bad_signature;
        res->sub_stats.malformed += st.malformed;
        res->sub_stats.oversized += st.oversized;
        res->sub_stats.sent += st.sent;
    }

    if (!do_poll)
        goto out;

    fprintf(stderr, "bench_push: N=%d: starting %d DHT nodes at %s\n", n, NET_NODES, NET_ADDR);
    if (mt_testnet_start(NET_ADDR, NET_NODES, 120000, &net, &err) != 0) {
        fprintf(stderr, "bench_push: testnet: %s\n", err.message);
        failures++;
        goto out;
    }

    /* Poll: the DHT on, full nodes as in mtd. (Not read-only: on this
     * libtorrent a read-only session's second and later mutable puts wait
     * 15 s for answers; its gets are not affected.) */
    b.phase = PH_POLL;
    for (int i = -1; i < n; i++) {
        mt_session *s = i < 0 ? b.pub : b.subs[i].s;
        if (mt_session_set_setting(s, "enable_dht", "true", &err) != 0) {
            fprintf(stderr, "bench_push: enabling the DHT: %s\n", err.message);
            failures++;
            goto out;
        }
        for (int j = 0; j < mt_testnet_size(net); j++)
            mt_session_add_dht_node(s, mt_testnet_endpoint(net, j), NULL);
    }
    for (int i = -1; i < n; i++) {
        mt_session *s = i < 0 ? b.pub : b.subs[i].s;
        if (mt_dht_wait_nodes(s, NET_NODES, 30000, &err) != 0) {
            fprintf(stderr, "bench_push: %s %d: %s\n", i < 0 ? "publisher" : "subscriber", i, err.message);
            failures++;
            goto out;
        }
    }
    {
        double start = now_ms();
        long gets_at_start;
        for (int i = 0; i < n; i++)
            b.subs[i].next_poll = start + rng_unit() * interval_ms;
        b.polling = 1;
        pump_until(&b, start + interval_ms); /* steady state: every subscriber has polled once */
        mt_testnet_drain(net);
        gets_at_start = b.gets_total;
        for (long r = 0; r < poll_rounds; r++) {
            uint8_t v[128];
            size_t vlen;
            /* A random moment of the poll schedule. */
            pump_until(&b, now_ms() + rng_unit() * interval_ms);
            for (int i = 0; i < n; i++) {
                b.subs[i].got = 0;
                b.subs[i].gets_round = 0;
            }
            b.ngot = 0;
            b.put_done = 0;
            b.seq++;
            vlen = make_value(v, sizeof v, b.id, b.seq);
            b.round_active = 1;
            b.t0 = now_ms();
            rc = mt_dht_put_mutable(b.pub, b.sk, (const uint8_t *)b.salt, strlen(b.salt), b.seq, v, vlen, NULL,
                                    &err);
            if (rc != 0) {
                fprintf(stderr, "bench_push: poll round %ld: put refused: %s\n", r, err.message);
                failures++;
                b.round_active = 0;
                continue;
            }
            while ((b.ngot < n || !b.put_done) && now_ms() < b.t0 + interval_ms + POLL_GRACE_MS)
                pump(&b, 50);
            b.round_active = 0;
            res->poll_samples_wanted += n;
            for (int i = 0; i < n; i++) {
                if (!b.subs[i].got)
                    continue;
                res->poll.v[res->poll.n++] = b.subs[i].latency;
                res->gets_seen.v[res->gets_seen.n++] = (double)b.subs[i].gets_seen;
            }
            if (b.put_done && b.put_error == 0)
                res->put.v[res->put.n++] = b.put_ms;
            else
                res->put_failures++;
            if (b.ngot < n) {
                fprintf(stderr, "bench_push: poll round %ld: %d of %d subscribers saw seq %" PRId64 "\n", r, b.ngot,
                        n, b.seq);
                failures++;
            }
            mt_testnet_drain(net);
        }
        b.polling = 0;
        res->gets_per_update = poll_rounds ? (double)(b.gets_total - gets_at_start) / ((double)n * poll_rounds) : 0;
    }

out:
    b.polling = 0;
    if (b.subs)
        for (int i = 0; i < n; i++)
            mt_session_free(b.subs[i].s);
    mt_session_free(b.pub);
    mt_testnet_free(net);
    mt_free(torrent);
    free(b.subs);
    free(b.pfd);
    if (b.engine_errors)
        fprintf(stderr, "bench_push: N=%d: %d engine error events\n", n, b.engine_errors);
    for (int f = 0; f < nfanouts; f++)
        series_finish(&res->f[f].push);
    series_finish(&res->poll);
    series_finish(&res->gets_seen);
    series_finish(&res->put);
    res->ok = failures == 0;
    return failures ? -1 : 0;
}

static void fmt_ms(char *out, size_t cap, double ms)
{
    if (ms >= 1000)
        snprintf(out, cap, "%.2f s", ms / 1000);
    else
        snprintf(out, cap, "%.2f ms", ms);
}

static double mean_of(const series *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return s->n ? sum / (double)s->n : 0;
}

/* Comma list of integers lo..hi into out (at most max); 0, or -1 after
 * saying why (empty, too many, or a bad value). */
static int parse_int_list(const char *opt, const char *text, long lo, long hi, int *out, int max, int *n)
{
    char buf[256], *save = NULL, *tok;
    *n = 0;
    snprintf(buf, sizeof buf, "%s", text);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n == max) {
            fprintf(stderr, "bench_push: %s takes at most %d values\n", opt, max);
            return -1;
        }
        if (bench_parse_long(opt, tok, lo, hi, &v))
            return -1;
        out[(*n)++] = (int)v;
    }
    if (!*n) {
        fprintf(stderr, "bench_push: %s is empty\n", opt);
        return -1;
    }
    return 0;
}

/* "push, forward to all" or "push, forward to 8". */
static void fanout_name(char *out, size_t cap, int fanout)
{
    if (fanout == 0)
        snprintf(out, cap, "push, forward to all");
    else
        snprintf(out, cap, "push, forward to %d", fanout);
}

/* Forward messages per measured round. */
static double per_round(const fanout_result *fr)
{
    return fr->rounds ? (double)fr->forward_queued / (double)fr->rounds : 0;
}

int main(int argc, char **argv)
{
    long rounds = 20, warmup = 2, poll_rounds = 4, interval_s = 5, links = 2, settle_s = 90;
    const char *subs_list = "20,50", *fanout_list = "0,8";
    int fanouts[MAX_FANOUTS], nfanouts = 0;
    int subs[16], nsubs = 0, do_poll = 1, no_forward = 0, have_seed = 0, failed = 0;
    uint64_t seed = 0;
    char tmp[] = "/tmp/bench-push-XXXXXX";
    result *res;
    double verify_us = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--subs")) {
            if (!val) {
                fprintf(stderr, "bench_push: --subs needs a list such as 20,50\n");
                return 2;
            }
            subs_list = val;
            i++;
        } else if (!strcmp(a, "--rounds")) {
            if (bench_parse_long(a, val, 1, 100000, &rounds))
                return 2;
            i++;
        } else if (!strcmp(a, "--warmup")) {
            if (bench_parse_long(a, val, 0, 1000, &warmup))
                return 2;
            i++;
        } else if (!strcmp(a, "--poll-rounds")) {
            if (bench_parse_long(a, val, 1, 1000, &poll_rounds))
                return 2;
            i++;
        } else if (!strcmp(a, "--poll-interval")) {
            if (bench_parse_long(a, val, 1, 3600, &interval_s))
                return 2;
            i++;
        } else if (!strcmp(a, "--links")) {
            if (bench_parse_long(a, val, 0, MAX_LINKS, &links))
                return 2;
            i++;
        } else if (!strcmp(a, "--seed")) {
            long sv;
            if (bench_parse_long(a, val, 1, 2147483647L, &sv))
                return 2;
            seed = (uint64_t)sv;
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--settle")) {
            if (bench_parse_long(a, val, 0, 3600, &settle_s))
                return 2;
            i++;
        } else if (!strcmp(a, "--fanout")) {
            if (!val) {
                fprintf(stderr, "bench_push: --fanout needs a list such as 0,8\n");
                return 2;
            }
            fanout_list = val;
            i++;
        } else if (!strcmp(a, "--no-poll")) {
            do_poll = 0;
        } else if (!strcmp(a, "--no-forward")) {
            no_forward = 1;
        } else {
            fprintf(stderr, "bench_push: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (parse_int_list("--subs", subs_list, 2, MAX_SUBS, subs, (int)(sizeof subs / sizeof subs[0]), &nsubs) ||
        parse_int_list("--fanout", fanout_list, 0, MAX_SUBS, fanouts, MAX_FANOUTS, &nfanouts))
        return 2;
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec) % 2147483647u + 1;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL | 1;
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_push: libsodium failed to initialise\n");
        return 1;
    }
    res = calloc((size_t)nsubs, sizeof *res);
    if (!res || !mkdtemp(tmp)) {
        fprintf(stderr, "bench_push: %s\n", res ? strerror(errno) : "out of memory");
        free(res);
        return 1;
    }

    /* Raw primitive: verifying one item, what every receiver does once. */
    {
        uint8_t pk[32], sk[64], sig[64], v[128], id[20] = {0};
        double *us = calloc(VERIFY_REPS, sizeof *us);
        size_t vlen = make_value(v, sizeof v, id, 1);
        series s;
        crypto_sign_keypair(pk, sk);
        mt_dht_sign_mutable(sk, (const uint8_t *)"bench-push-20", 13, 1, v, vlen, sig, NULL);
        if (us) {
            for (int i = 0; i < VERIFY_REPS; i++) {
                double t0 = now_ms();
                mt_dht_verify_mutable(pk, (const uint8_t *)"bench-push-20", 13, 1, v, vlen, sig, NULL);
                us[i] = (now_ms() - t0) * 1e3;
            }
            s.v = us;
            s.n = VERIFY_REPS;
            series_finish(&s);
            verify_us = s.median;
            free(us);
        }
    }

    for (int k = 0; k < nsubs; k++) {
        fprintf(stderr, "bench_push: N=%d: %ld push rounds (+%ld warm-up)%s\n", subs[k], rounds, warmup,
                do_poll ? ", then poll rounds" : "");
        if (run_one(subs[k], rounds, warmup, poll_rounds, (double)interval_s * 1000, (int)links, do_poll, no_forward,
                    fanouts, nfanouts, (double)settle_s * 1000, tmp, &res[k]) != 0)
            failed = 1;
    }
    bench_rm_rf(tmp);

    printf("\nbench_push: seed %" PRIu64 ", %ld push rounds (+%ld warm-up) %d ms apart, cycling fan-outs %s; "
           "%ld poll rounds, poll interval %ld s, %ld links per subscriber, %s\n",
           seed, rounds, warmup, ROUND_GAP_MS, fanout_list, do_poll ? poll_rounds : 0L, interval_s, links,
           no_forward ? "no forwarding" : "every subscriber forwards");
    printf("local mt_dht_verify_mutable (raw primitive, median of %d): %.1f µs\n", VERIFY_REPS, verify_us);
    printf("%-5s %-32s %10s %10s %10s %6s %s\n", "N", "metric", "median", "p95", "max", "n", "notes");
    for (int k = 0; k < nsubs; k++) {
        result *r = &res[k];
        char m[3][32], name[64];
        for (int f = 0; f < nfanouts; f++) {
            fanout_result *fr = &r->f[f];
            fmt_ms(m[0], sizeof m[0], fr->push.median);
            fmt_ms(m[1], sizeof m[1], fr->push.p95);
            fmt_ms(m[2], sizeof m[2], fr->push.max);
            fanout_name(name, sizeof name, fanouts[f]);
            printf("%-5d %-32s %10s %10s %10s %6zu got %zu/%ld: %ld direct, %ld forwarded; %.1f forward messages "
                   "per update (%.2f per subscriber)\n",
                   r->n, name, m[0], m[1], m[2], fr->push.n, fr->push.n, fr->samples_wanted, fr->direct,
                   fr->forwarded, per_round(fr), per_round(fr) / r->n);
        }
        printf("%-5s %-32s setup %.1f s; push peers per subscriber: %.1f after setup (%d short of a planned link), "
               "%.1f after %.0f s settling, %.1f at the end; P addressed %ld-%ld\n",
               "", "", r->setup_s, r->peers_before, r->short_links, r->peers_settled, r->settle_s, r->peers_after,
               r->queued_min, r->queued_max);
        printf("%-5s %-32s subscribers' counters: received %" PRIu64 ", delivered %" PRIu64 ", duplicate %" PRIu64
               ", rate_limited %" PRIu64 ", bad %" PRIu64 "\n",
               "", "", r->sub_stats.received, r->sub_stats.delivered, r->sub_stats.duplicate,
               r->sub_stats.rate_limited, r->sub_stats.bad_signature + r->sub_stats.malformed + r->sub_stats.oversized);
        if (!do_poll)
            continue;
        fmt_ms(m[0], sizeof m[0], r->poll.median);
        fmt_ms(m[1], sizeof m[1], r->poll.p95);
        fmt_ms(m[2], sizeof m[2], r->poll.max);
        printf("%-5d %-32s %10s %10s %10s %6zu got %zu/%ld; gets per subscriber per update %.2f (until seen "
               "%.2f); put %.2f ms, %d puts failed\n",
               r->n, "poll put -> first get >= seq", m[0], m[1], m[2], r->poll.n, r->poll.n, r->poll_samples_wanted,
               r->gets_per_update, mean_of(&r->gets_seen), r->put.median, r->put_failures);
        for (int f = 0; f < nfanouts; f++)
            if (r->f[f].push.median > 0) {
                fanout_name(name, sizeof name, fanouts[f]);
                printf("%-5d poll / %-25s %10.0fx\n", r->n, name, r->poll.median / r->f[f].push.median);
            }
    }

    printf("\n| benchmark | metric | median | p95 | max | n | notes |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < nsubs; k++) {
        result *r = &res[k];
        char m[3][32], name[64];
        for (int f = 0; f < nfanouts; f++) {
            fanout_result *fr = &r->f[f];
            fmt_ms(m[0], sizeof m[0], fr->push.median);
            fmt_ms(m[1], sizeof m[1], fr->push.p95);
            fmt_ms(m[2], sizeof m[2], fr->push.max);
            fanout_name(name, sizeof name, fanouts[f]);
            printf("| bench_push %d subscribers | %s: P's mt_push_send → MT_EVENT_PUSH | %s | %s | %s | %zu | "
                   "%ld direct, %ld via a forward%s; %.0f forward messages per update; %.1f push peers per "
                   "subscriber; %.0f× one local verify |\n",
                   r->n, name, m[0], m[1], m[2], fr->push.n, fr->direct, fr->forwarded,
                   no_forward ? " (forwarding off)" : "", per_round(fr), r->peers_after,
                   verify_us > 0 ? fr->push.median * 1e3 / verify_us : 0);
        }
        if (!do_poll)
            continue;
        fmt_ms(m[0], sizeof m[0], r->poll.median);
        fmt_ms(m[1], sizeof m[1], r->poll.p95);
        fmt_ms(m[2], sizeof m[2], r->poll.max);
        printf("| bench_push %d subscribers | poll every %ld s: P's put → first get with the new seq | %s | %s | %s "
               "| %zu | %.2f gets per subscriber per update (%.2f after the put); put %.2f ms |\n",
               r->n, interval_s, m[0], m[1], m[2], r->poll.n, r->gets_per_update, mean_of(&r->gets_seen),
               r->put.median);
        for (int f = 0; f < nfanouts; f++) {
            fanout_name(name, sizeof name, fanouts[f]);
            printf("| bench_push %d subscribers | poll / %s (medians) | %.0f× | | | | |\n", r->n, name,
                   r->f[f].push.median > 0 ? r->poll.median / r->f[f].push.median : 0);
        }
    }

    for (int k = 0; k < nsubs; k++) {
        for (int f = 0; f < nfanouts; f++)
            free(res[k].f[f].push.v);
        free(res[k].poll.v);
        free(res[k].gets_seen.v);
        free(res[k].put.v);
        if (!res[k].ok)
            failed = 1;
    }
    free(res);
    if (failed)
        fprintf(stderr, "bench_push: FAILED: not every subscriber got every update (see above)\n");
    return failed ? 1 : 0;
}
