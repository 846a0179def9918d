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

/* Bencoded byte string of a C string (test-owned buffer, mt_free). */
static inline uint8_t *t_bstr(const char *s, size_t *len)
{
    uint8_t *out = NULL;
    ck_assert(mt_bencode_string((const uint8_t *)s, strlen(s), &out, len, NULL) == 0);
    return out;
}

#endif
