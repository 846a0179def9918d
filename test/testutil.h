/* testutil.h - helpers shared by the Check suites (header-only). */
#ifndef MT_TESTUTIL_H
#define MT_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_capi.h"
#include "mt_util.h"

/* Generous: the machine is shared; these bound hangs, they time nothing. */
#define T_WAIT_MS 30000

static inline void t_hex(const char *hex, uint8_t *out, size_t n)
{
    ck_assert_msg(mt_hex_decode(hex, out, n) == 0, "bad test hex %s", hex);
}

static inline void t_assert_hex(const uint8_t *got, size_t n, const char *want)
{
    char buf[2 * 256 + 1];
    ck_assert(n <= 256);
    mt_hex_encode(got, n, buf);
    ck_assert_str_eq(buf, want);
}

/* Wait for an event or fail the test with the error text. */
static inline void t_wait(mt_session *s, mt_event_type type, const uint8_t *target, mt_event *ev)
{
    mt_error err;
    int rc = mt_session_wait_event(s, type, target, T_WAIT_MS, ev, &err);
    ck_assert_msg(rc == 0, "waiting for %s: %s", mt_event_type_name(type), err.message);
}

/*
 * Poll until cond holds, every 10 ms; fail the test with the printf-style
 * message after ms milliseconds. The wait ends as soon as cond holds, so a
 * generous ms costs nothing on a fast machine: it bounds a hang, it times
 * nothing. Use it instead of a fixed sleep before acting on something that
 * must have happened. Needs t_sleep_ms (testfs.h).
 */
#define T_WAIT_UNTIL(cond, ms, ...)                                \
    do {                                                           \
        int64_t t_wait_end_ = mt_now_ms() + (ms);                  \
        while (!(cond)) {                                          \
            ck_assert_msg(mt_now_ms() < t_wait_end_, __VA_ARGS__); \
            t_sleep_ms(10);                                        \
        }                                                          \
    } while (0)

/*
 * Look ih up from q, lookup after lookup (each lookup_ms long), until peers
 * on every one of the n ports have been reported: announces are
 * fire-and-forget, so this is how a test knows they have landed. Fails
 * after T_WAIT_MS. Other events q receives meanwhile are dropped.
 */
static inline void t_wait_announced(mt_session *q, const uint8_t ih[20], const int *ports, size_t n,
                                    int lookup_ms)
{
    int64_t end = mt_now_ms() + T_WAIT_MS;
    int seen[16] = {0};
    size_t found = 0;
    mt_error err;
    ck_assert(n <= 16);
    while (found < n) {
        mt_event ev;
        ck_assert_msg(mt_now_ms() < end, "%zu of %zu announcers visible in the DHT", found, n);
        ck_assert_msg(mt_dht_get_peers(q, ih, lookup_ms, &err) == 0, "get_peers: %s", err.message);
        t_wait(q, MT_EVENT_DHT_PEERS_DONE, ih, &ev);
        mt_event_clear(&ev);
        while (mt_session_next_event(q, &ev)) {
            if (ev.type == MT_EVENT_DHT_PEERS && memcmp(ev.target, ih, 20) == 0)
                for (size_t k = 0; k < ev.num_peers; k++)
                    for (size_t i = 0; i < n; i++)
                        if (ev.peers[k].port == ports[i] && !seen[i]) {
                            seen[i] = 1;
                            found++;
                        }
            mt_event_clear(&ev);
        }
    }
}

/* Bencoded byte string of a C string (test-owned buffer, mt_free). */
static inline uint8_t *t_bstr(const char *s, size_t *len)
{
    uint8_t *out = NULL;
    ck_assert(mt_bencode_string((const uint8_t *)s, strlen(s), &out, len, NULL) == 0);
    return out;
}

#endif
