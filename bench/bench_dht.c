/*
 * bench_dht.c - BEP-44 latency on a loopback DHT (mt_testnet, 127.0.40.x).
 *
 * For each round a random (publisher, reader) pair of distinct nodes:
 *   - mutable put from the publisher (one identity and salt per run, seq =
 *     round number, a 100-byte bencoded value): ms from the call to its
 *     MT_EVENT_DHT_PUT, and num_success;
 *   - mutable get from the reader: ms to the first MT_EVENT_DHT_MUTABLE
 *     carrying the seq just put, and to the authoritative one;
 *   - immutable put (publisher) and get (reader) of a fresh 100-byte value;
 *   - the local work alone, in the same process: mt_dht_sign_mutable and
 *     mt_dht_verify_mutable of the same item (µs), the "raw primitive"
 *     the network figures are compared with.
 * Prints median / p95 as a human table and as markdown rows.
 * Exit status: 0 if every round succeeded, 1 otherwise, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_capi.h"
#include "mt_identity.h"
#include "mt_testnet.h"
#define BENCH_NAME "bench_dht"
#include "bench_util.h"

#define WAIT_MS 30000      /* bounds a hang; times nothing */
#define VALUE_TEXT 97      /* "97:" + 97 bytes = a 100-byte bencoded value */
#define SALT "bench"


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct series {
    const char *name;   /* human label */
    const char *unit;   /* "ms" or "µs" */
    double *v;
    size_t n;
    double median, p95, min, max;
} series;

static int series_init(series *s, const char *name, const char *unit, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->unit = unit;
    s->v = calloc(cap ? cap : 1, sizeof *s->v);
    return s->v ? 0 : -1;
}

static void series_add(series *s, double x)
{
    s->v[s->n++] = x;
}

/* Nearest-rank percentiles over the sorted samples. */
static void series_finish(series *s)
{
    size_t k;
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    s->min = s->v[0];
    s->max = s->v[s->n - 1];
    s->median = s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    k = (size_t)((95 * s->n + 99) / 100);  /* ceil(0.95 n) */
    s->p95 = s->v[k ? k - 1 : 0];
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_dht [--nodes N] [--rounds R] [--warmup W] [--addr A] [--seed S]\n"
            "  --nodes N   loopback DHT nodes (default 8, 2-%d)\n"
            "  --rounds R  measured rounds (default 200)\n"
            "  --warmup W  unmeasured rounds first (default 5)\n"
            "  --addr A    first node address in 127.0.0.0/8 (default 127.0.40.1)\n"
            "  --seed S    seed for the pair choice (default: from the clock)\n",
            MT_TESTNET_MAX);
}


/* Drop every node's queued events; count (and show a few) engine errors. */
static int drain_all(mt_testnet *net)
{
    static int shown;
    int errors = 0;
    for (int i = 0; i < mt_testnet_size(net); i++) {
        mt_event ev;
        while (mt_session_next_event(mt_testnet_session(net, i), &ev)) {
            if (ev.type == MT_EVENT_ERROR) {
                errors++;
                if (shown++ < 5)
                    fprintf(stderr, "bench_dht: node %d: engine error: %s\n", i, ev.message);
            }
            mt_event_clear(&ev);
        }
    }
    return errors;
}

/* A bencoded byte string of VALUE_TEXT bytes: a readable prefix, then random hex. */
static void make_value(uint8_t *v, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    int n = snprintf((char *)v, 4, "%d:", VALUE_TEXT);
    size_t plen = strlen(prefix);
    if (plen > VALUE_TEXT)
        plen = VALUE_TEXT;
    memcpy(v + n, prefix, plen);
    for (size_t i = plen; i < VALUE_TEXT; i++)
        v[n + i] = (uint8_t)hex[rng_next() >> 60];
}

int main(int argc, char **argv)
{
    long nodes = 8, rounds = 200, warmup = 5;
    const char *addr = "127.0.40.1";
    uint64_t seed = 0;
    int have_seed = 0;
    mt_testnet *net = NULL;
    mt_identity *id = NULL;
    mt_error err;
    series s_put, s_first, s_auth, s_iput, s_iget, s_sign, s_verify, s_local;
    double sum_success = 0, t_setup;
    long n_success = 0;
    int put_fail = 0, get_miss = 0, get_stale = 0, value_bad = 0, imm_fail = 0, engine_errors = 0;
    int wait_fail = 0, crypto_fail = 0;
    int64_t seq = 0;
    const uint8_t *sk, *pk;
    uint8_t mtarget[20];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--nodes")) {
            if (bench_parse_long(a, val, 2, MT_TESTNET_MAX, &nodes))
                return 2;
            i++;
        } else if (!strcmp(a, "--rounds")) {
            if (bench_parse_long(a, val, 1, 1000000, &rounds))
                return 2;
            i++;
        } else if (!strcmp(a, "--warmup")) {
            if (bench_parse_long(a, val, 0, 1000000, &warmup))
                return 2;
            i++;
        } else if (!strcmp(a, "--seed")) {
            long sv;
            if (bench_parse_long(a, val, 1, 2147483647L, &sv))
                return 2;
            seed = (uint64_t)sv;
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--addr")) {
            if (!val) {
                fprintf(stderr, "bench_dht: --addr needs an address\n");
                return 2;
            }
            addr = val;
            i++;
        } else {
            fprintf(stderr, "bench_dht: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!mt_addr_is_loopback(addr)) {
        fprintf(stderr, "bench_dht: --addr %s is not in 127.0.0.0/8\n", addr);
        return 2;
    }
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec) % 2147483647u + 1;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL | 1;

    if (series_init(&s_put, "mutable put -> dht_put", "ms", (size_t)rounds) ||
        series_init(&s_first, "mutable get -> first with new seq", "ms", (size_t)rounds) ||
        series_init(&s_auth, "mutable get -> authoritative", "ms", (size_t)rounds) ||
        series_init(&s_iput, "immutable put -> dht_put", "ms", (size_t)rounds) ||
        series_init(&s_iget, "immutable get -> item", "ms", (size_t)rounds) ||
        series_init(&s_sign, "local mt_dht_sign_mutable", "µs", (size_t)rounds) ||
        series_init(&s_verify, "local mt_dht_verify_mutable", "µs", (size_t)rounds) ||
        series_init(&s_local, "local sign + verify", "µs", (size_t)rounds)) {
        fprintf(stderr, "bench_dht: out of memory\n");
        return 1;
    }

    if (mt_identity_generate(&id, &err) != 0) {
        fprintf(stderr, "bench_dht: identity: %s\n", err.message);
        return 1;
    }
    sk = mt_identity_secret_key(id);
    pk = mt_identity_public_key(id);
    mt_dht_mutable_target(pk, (const uint8_t *)SALT, strlen(SALT), mtarget, NULL);

    fprintf(stderr, "bench_dht: starting %ld nodes at %s (seed %" PRIu64 ")\n", nodes, addr, seed);
    t_setup = now_ms();
    if (mt_testnet_start(addr, (int)nodes, 120000, &net, &err) != 0) {
        fprintf(stderr, "bench_dht: testnet: %s\n", err.message);
        mt_identity_free(id);
        return 1;
    }
    t_setup = now_ms() - t_setup;

    for (long r = 0; r < warmup + rounds; r++) {
        int measured = r >= warmup;
        int p = (int)(rng_next() % (uint64_t)nodes);
        int q = (int)(rng_next() % (uint64_t)(nodes - 1));
        mt_session *pub, *rd;
        uint8_t v[VALUE_TEXT + 8], iv[VALUE_TEXT + 8], sig[64], target[20];
        size_t vlen = VALUE_TEXT + 3;
        char prefix[96];
        double t0, t1, first = -1;
        mt_event ev;
        int rc;

        memset(&ev, 0, sizeof ev);
        if (q >= p)
            q++;
        pub = mt_testnet_session(net, p);
        rd = mt_testnet_session(net, q);
        seq++;
        snprintf(prefix, sizeof prefix, "bench_dht mutable round %ld seq %" PRId64 " from node %d ", r, seq, p);
        make_value(v, prefix);

        /* Local primitive: sign and verify this very item. */
        t0 = now_ms();
        rc = mt_dht_sign_mutable(sk, (const uint8_t *)SALT, strlen(SALT), seq, v, vlen, sig, &err);
        t1 = now_ms();
        if (rc == 0) {
            double t2;
            rc = mt_dht_verify_mutable(pk, (const uint8_t *)SALT, strlen(SALT), seq, v, vlen, sig, &err);
            t2 = now_ms();
            if (rc == 0 && measured) {
                series_add(&s_sign, (t1 - t0) * 1e3);
                series_add(&s_verify, (t2 - t1) * 1e3);
                series_add(&s_local, (t2 - t0) * 1e3);
            }
        }
        if (rc != 0) {
            fprintf(stderr, "bench_dht: round %ld: local sign/verify: %s\n", r, err.message);
            crypto_fail++;
        }

        /* Mutable put. */
        engine_errors += drain_all(net);
        t0 = now_ms();
        rc = mt_dht_put_mutable(pub, sk, (const uint8_t *)SALT, strlen(SALT), seq, v, vlen, target, &err);
        if (rc != 0) {
            fprintf(stderr, "bench_dht: round %ld: put refused: %s\n", r, err.message);
            put_fail++;
            continue;
        }
        rc = mt_session_wait_event(pub, MT_EVENT_DHT_PUT, target, WAIT_MS, &ev, &err);
        t1 = now_ms();
        if (rc != 0) {
            fprintf(stderr, "bench_dht: round %ld: put: %s\n", r, err.message);
            wait_fail++;
            continue;
        }
        if (ev.error != 0) {
            fprintf(stderr, "bench_dht: round %ld: put outcome: %s\n", r, ev.message);
            put_fail++;
        } else if (measured) {
            series_add(&s_put, t1 - t0);
            sum_success += ev.num_success;
            n_success++;
        }
        mt_event_clear(&ev);

        /* Mutable get: first result with the new seq, then the authoritative one. */
        t0 = now_ms();
        rc = mt_dht_get_mutable(rd, pk, (const uint8_t *)SALT, strlen(SALT), target, &err);
        if (rc != 0) {
            fprintf(stderr, "bench_dht: round %ld: get refused: %s\n", r, err.message);
            get_miss++;
            continue;
        }
        for (;;) {
            rc = mt_session_wait_event(rd, MT_EVENT_DHT_MUTABLE, target, WAIT_MS, &ev, &err);
            t1 = now_ms();
            if (rc != 0) {
                fprintf(stderr, "bench_dht: round %ld: get: %s\n", r, err.message);
                wait_fail++;
                break;
            }
            if (ev.error == 0 && ev.seq == seq && first < 0) {
                first = t1 - t0;
                if (ev.data_len != vlen || memcmp(ev.data, v, vlen) != 0) {
                    fprintf(stderr, "bench_dht: round %ld: value at seq %" PRId64 " differs\n", r, seq);
                    value_bad++;
                }
            }
            if (ev.authoritative) {
                if (ev.error != 0 || ev.seq != seq) {
                    fprintf(stderr, "bench_dht: round %ld: authoritative result has seq %" PRId64
                                    ", wanted %" PRId64 " (%s)\n", r, ev.seq, seq, ev.message);
                    get_stale++;
                } else if (measured && first >= 0) {
                    series_add(&s_first, first);
                    series_add(&s_auth, t1 - t0);
                }
                mt_event_clear(&ev);
                break;
            }
            mt_event_clear(&ev);
        }
        if (first < 0)
            get_miss++;

        /* Immutable put from the publisher, get from the reader. */
        snprintf(prefix, sizeof prefix, "bench_dht immutable round %ld from node %d ", r, p);
        make_value(iv, prefix);
        engine_errors += drain_all(net);
        t0 = now_ms();
        rc = mt_dht_put_immutable(pub, iv, vlen, target, &err);
        if (rc != 0) {
            fprintf(stderr, "bench_dht: round %ld: immutable put refused: %s\n", r, err.message);
            imm_fail++;
            continue;
        }
        rc = mt_session_wait_event(pub, MT_EVENT_DHT_PUT, target, WAIT_MS, &ev, &err);
        t1 = now_ms();
        if (rc != 0 || ev.error != 0) {
            fprintf(stderr, "bench_dht: round %ld: immutable put: %s\n", r, rc ? err.message : ev.message);
            imm_fail++;
            mt_event_clear(&ev);
            continue;
        }
        if (measured)
            series_add(&s_iput, t1 - t0);
        mt_event_clear(&ev);
        t0 = now_ms();
        rc = mt_dht_get_immutable(rd, target, &err);
        if (rc == 0)
            rc = mt_session_wait_event(rd, MT_EVENT_DHT_IMMUTABLE, target, WAIT_MS, &ev, &err);
        t1 = now_ms();
        if (rc != 0 || ev.error != 0 || ev.data_len != vlen || memcmp(ev.data, iv, vlen) != 0) {
            fprintf(stderr, "bench_dht: round %ld: immutable get: %s\n", r,
                    rc ? err.message : ev.error ? ev.message : "value differs");
            imm_fail++;
        } else if (measured) {
            series_add(&s_iget, t1 - t0);
        }
        mt_event_clear(&ev);

        if (measured && (r - warmup + 1) % 50 == 0)
            fprintf(stderr, "bench_dht: %ld/%ld rounds\n", r - warmup + 1, rounds);
    }
    engine_errors += drain_all(net);
    mt_testnet_free(net);
    mt_identity_free(id);

    {
        series *all[] = {&s_put, &s_first, &s_auth, &s_iput, &s_iget, &s_sign, &s_verify, &s_local};
        const size_t nall = sizeof all / sizeof all[0];
        int failures = put_fail + get_miss + get_stale + value_bad + imm_fail + wait_fail + crypto_fail;
        double mean_success = n_success ? sum_success / (double)n_success : 0;
        double local_ms;
        char label[64];

        for (size_t i = 0; i < nall; i++)
            series_finish(all[i]);
        local_ms = s_local.median / 1e3;
        snprintf(label, sizeof label, "bench_dht %ld nodes", nodes);

        printf("\nbench_dht: %ld nodes from %s, %ld rounds (+%ld warm-up), seed %" PRIu64
               ", %d-byte values, testnet up in %.0f ms\n",
               nodes, addr, rounds, warmup, seed, VALUE_TEXT + 3, t_setup);
        printf("%-36s %10s %10s %10s %10s %6s\n", "metric", "median", "p95", "min", "max", "n");
        for (size_t i = 0; i < nall; i++) {
            series *s = all[i];
            char m[64];
            snprintf(m, sizeof m, "%s (%s)", s->name, s->unit);
            printf("%-37s %10.3f %10.3f %10.3f %10.3f %6zu\n", m, s->median, s->p95, s->min, s->max, s->n);
        }
        printf("mean num_success of mutable puts: %.2f (network of %ld nodes; libtorrent stores on at most 8,\n"
               "  and the count includes the publisher itself when it is among the closest)\n",
               mean_success, nodes);
        if (local_ms > 0)
            printf("ratio (median): put / local sign+verify = %.0fx, get-first / local = %.0fx, "
                   "get-authoritative / local = %.0fx\n",
                   s_put.median / local_ms, s_first.median / local_ms, s_auth.median / local_ms);
        printf("failures: put %d, get without the new seq %d, stale authoritative %d, wrong value %d, "
               "immutable %d, timeouts %d, local crypto %d; engine error events %d\n",
               put_fail, get_miss, get_stale, value_bad, imm_fail, wait_fail, crypto_fail, engine_errors);

        printf("\n| benchmark | metric | median | p95 | n | notes |\n");
        printf("|---|---|---|---|---|---|\n");
        printf("| %s | mutable put → dht_put | %.2f ms | %.2f ms | %zu | mean num_success %.2f; "
               "%.0f× local sign+verify |\n",
               label, s_put.median, s_put.p95, s_put.n, mean_success, local_ms > 0 ? s_put.median / local_ms : 0);
        printf("| %s | mutable get → first with new seq | %.2f ms | %.2f ms | %zu | %.0f× local sign+verify |\n",
               label, s_first.median, s_first.p95, s_first.n, local_ms > 0 ? s_first.median / local_ms : 0);
        printf("| %s | mutable get → authoritative | %.2f ms | %.2f ms | %zu | %.0f× local sign+verify |\n",
               label, s_auth.median, s_auth.p95, s_auth.n, local_ms > 0 ? s_auth.median / local_ms : 0);
        printf("| %s | immutable put → dht_put | %.2f ms | %.2f ms | %zu | |\n", label, s_iput.median, s_iput.p95,
               s_iput.n);
        printf("| %s | immutable get → item | %.2f ms | %.2f ms | %zu | |\n", label, s_iget.median, s_iget.p95,
               s_iget.n);
        printf("| %s | local sign + verify (raw primitive) | %.1f µs | %.1f µs | %zu | sign %.1f µs + verify "
               "%.1f µs (medians), 100-byte value |\n",
               label, s_local.median, s_local.p95, s_local.n, s_sign.median, s_verify.median);

        for (size_t i = 0; i < nall; i++)
            free(all[i]->v);
        if (failures) {
            fprintf(stderr, "bench_dht: FAILED: %d round failures\n", failures);
            return 1;
        }
    }
    return 0;
}
