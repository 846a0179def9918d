/* testnet.c - loopback DHT networks (see mt_testnet.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_testnet.h"
#include "mt_util.h"

struct mt_testnet {
    int          n;
    mt_session **nodes;
    char       (*endpoints)[64];
    char        *bootstrap;
};

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Address number i after first (dotted quad), carrying into higher octets;
 * 0 on success, MT_EINVAL if it leaves 127.0.0.0/8 or hits .0/.255. */
static int nth_addr(const char *first, int i, char *out, size_t cap)
{
    unsigned a, b, c, d;
    unsigned long v;
    if (!mt_addr_is_loopback(first) || sscanf(first, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
        return MT_EINVAL;
    /* Count within the 127/8 block using 254 usable host values per /24. */
    if (d == 0 || d == 255)
        return MT_EINVAL;
    v = ((unsigned long)b * 256 + c) * 254 + (d - 1) + (unsigned long)i;
    d = (unsigned)(v % 254) + 1;
    v /= 254;
    c = (unsigned)(v % 256);
    b = (unsigned)(v / 256);
    if (b > 255)
        return MT_EINVAL;
    snprintf(out, cap, "127.%u.%u.%u", b, c, d);
    return MT_OK;
}

int mt_dht_wait_nodes(mt_session *s, int min_nodes, int timeout_ms, mt_error *err)
{
    int64_t deadline = mt_now_ms() + timeout_ms;
    int last = 0;
    for (;;) {
        mt_event ev;
        int64_t left = deadline - mt_now_ms();
        int rc;
        if (left <= 0)
            break;
        rc = mt_dht_request_stats(s, err);
        if (rc)
            return rc;
        rc = mt_session_wait_event(s, MT_EVENT_DHT_STATS, NULL, (int)left, &ev, NULL);
        if (rc)
            break;
        last = ev.nodes;
        mt_event_clear(&ev);
        if (last >= min_nodes)
            return MT_OK;
        sleep_ms(20);
    }
    return mt_error_set(err, MT_ETIMEDOUT, "routing table holds %d nodes, wanted %d, after %d ms", last,
                        min_nodes, timeout_ms);
}

int mt_testnet_start(const char *first_addr, int n, int timeout_ms, mt_testnet **out, mt_error *err)
{
    mt_testnet *t;
    size_t bcap;
    int i, j, rc;
    int64_t deadline;

    if (!first_addr || !out)
        return mt_error_set(err, MT_EINVAL, "first address and out are required");
    if (n < 1 || n > MT_TESTNET_MAX)
        return mt_error_set(err, MT_EINVAL, "node count %d is not 1-%d", n, MT_TESTNET_MAX);
    {
        char last[32];
        if (nth_addr(first_addr, n - 1, last, sizeof last) != 0)
            return mt_error_set(err, MT_EINVAL,
                                "'%s' + %d nodes does not stay inside 127.0.0.0/8 (host part 1-254)",
                                first_addr, n);
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    t->nodes = calloc((size_t)n, sizeof *t->nodes);
    t->endpoints = calloc((size_t)n, sizeof *t->endpoints);
    bcap = (size_t)n * 64 + 1;
    t->bootstrap = calloc(1, bcap);
    if (!t->nodes || !t->endpoints || !t->bootstrap) {
        mt_testnet_free(t);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    t->n = n;
    deadline = mt_now_ms() + timeout_ms;

    for (i = 0; i < n; i++) {
        mt_session_config cfg;
        char addr[32], listen[48];
        nth_addr(first_addr, i, addr, sizeof addr);
        snprintf(listen, sizeof listen, "%s:0", addr);
        mt_session_config_init_loopback(&cfg, listen);
        cfg.outgoing_interfaces = addr;
        rc = mt_session_new(&cfg, &t->nodes[i], err);
        if (rc) {
            mt_testnet_free(t);
            return rc;
        }
        snprintf(t->endpoints[i], sizeof t->endpoints[i], "%s:", addr);
    }
    /* Ports are known once each session listens. */
    for (i = 0; i < n; i++) {
        int port;
        while ((port = mt_session_listen_port(t->nodes[i])) <= 0) {
            if (mt_now_ms() > deadline) {
                mt_testnet_free(t);
                return mt_error_set(err, MT_ETIMEDOUT, "node %d did not start listening", i);
            }
            sleep_ms(5);
        }
        snprintf(t->endpoints[i] + strlen(t->endpoints[i]), 16, "%d", port);
        if (i)
            strcat(t->bootstrap, ",");
        strcat(t->bootstrap, t->endpoints[i]);
    }
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++)
            if (i != j && (rc = mt_session_add_dht_node(t->nodes[i], t->endpoints[j], err)) != 0) {
                mt_testnet_free(t);
                return rc;
            }
    for (i = 0; i < n; i++) {
        int64_t left = deadline - mt_now_ms();
        int want = n - 1 < 8 ? n - 1 : 8;
        if (want == 0)
            break;
        rc = mt_dht_wait_nodes(t->nodes[i], want, left > 0 ? (int)left : 0, err);
        if (rc) {
            char who[32];
            snprintf(who, sizeof who, "node %d", i);
            mt_error_prefix(err, who);
            mt_testnet_free(t);
            return rc;
        }
    }
    mt_testnet_drain(t);
    *out = t;
    return MT_OK;
}

int mt_testnet_size(const mt_testnet *t)
{
    return t ? t->n : 0;
}

mt_session *mt_testnet_session(mt_testnet *t, int i)
{
    return t && i >= 0 && i < t->n ? t->nodes[i] : NULL;
}

const char *mt_testnet_endpoint(const mt_testnet *t, int i)
{
    return t && i >= 0 && i < t->n ? t->endpoints[i] : NULL;
}

const char *mt_testnet_bootstrap(const mt_testnet *t)
{
    return t ? t->bootstrap : NULL;
}

void mt_testnet_drain(mt_testnet *t)
{
    int i;
    if (!t)
        return;
    for (i = 0; i < t->n; i++) {
        mt_event ev;
        if (!t->nodes[i])
            continue;
        while (mt_session_next_event(t->nodes[i], &ev))
            mt_event_clear(&ev);
    }
}

void mt_testnet_free(mt_testnet *t)
{
    int i;
    if (!t)
        return;
    for (i = 0; t->nodes && i < t->n; i++)
        mt_session_free(t->nodes[i]);
    free(t->nodes);
    free(t->endpoints);
    free(t->bootstrap);
    free(t);
}
