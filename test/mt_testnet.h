/*
 * mt_testnet.h - a loopback DHT network: N libtorrent sessions on distinct
 * 127.x.y.z addresses that bootstrap to each other. A test-only library
 * (never installed, never linked by mtd) used by the tests, the benchmarks,
 * `mtctl testnet` and `mtctl demo`. Traffic never leaves 127.0.0.0/8.
 */
#ifndef MT_TESTNET_H
#define MT_TESTNET_H

#include "mt_addr.h"
#include "mt_capi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_TESTNET_MAX 1000

typedef struct mt_testnet mt_testnet;

/*
 * Start n nodes (1..MT_TESTNET_MAX) at first_addr, first_addr + 1, ...
 * (e.g. "127.0.1.1"; must be in 127.0.0.0/8), each on a free port, add every
 * node to every other, and wait up to timeout_ms until each routing table
 * holds min(n - 1, 8) nodes. MT_ETIMEDOUT if they do not fill in time.
 */
int mt_testnet_start(const char *first_addr, int n, int timeout_ms,
                     mt_testnet **out, mt_error *err);

int mt_testnet_size(const mt_testnet *t);
mt_session *mt_testnet_session(mt_testnet *t, int i);
/* "addr:port" of node i. */
const char *mt_testnet_endpoint(const mt_testnet *t, int i);
/* All endpoints as one comma list, for --bootstrap or dht_nodes. */
const char *mt_testnet_bootstrap(const mt_testnet *t);

/* Drop queued events of every node (for long-running networks). */
void mt_testnet_drain(mt_testnet *t);

/* Stop every node and free. NULL ok. */
void mt_testnet_free(mt_testnet *t);

/*
 * Wait until s's routing table holds at least min_nodes nodes, polling DHT
 * stats; other events stay queued. 0, or MT_ETIMEDOUT.
 */
int mt_dht_wait_nodes(mt_session *s, int min_nodes, int timeout_ms, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
