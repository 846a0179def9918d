/*
 * fuzz_util.h - helpers shared by the libFuzzer targets (header only).
 *
 * FUZZ_CHECK aborts with a message when an invariant breaks, so libFuzzer
 * records the input as a crash. fuzz_sha1() is an independent SHA-1 used
 * to check the library's DHT targets against a second implementation.
 */
#ifndef MT_FUZZ_UTIL_H
#define MT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_error.h"

#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "INVARIANT FAILED %s:%d: %s\n  ", __FILE__, __LINE__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

/*
 * The contract of a fallible call: rc is 0 or a known negative MT_E* code,
 * and on failure err carries the same code and a non-empty, terminated
 * message.
 */
static inline void fuzz_check_result(int rc, const mt_error *err, const char *what)
{
    FUZZ_CHECK(rc <= 0 && rc >= MT_ECRYPTO, "%s returned unknown code %d", what, rc);
    if (rc == 0)
        return;
    FUZZ_CHECK(err->code == rc, "%s returned %d but err.code is %d", what, rc, err->code);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL,
               "%s left err.message unterminated", what);
    FUZZ_CHECK(err->message[0] != '\0', "%s failed (%d) with an empty message", what, rc);
}

/* A fresh error out-parameter with a recognisable non-zero state. */
static inline void fuzz_err_init(mt_error *err)
{
    err->code = 1;
    memset(err->message, 'X', sizeof err->message - 1);
    err->message[sizeof err->message - 1] = '\0';
}

/*
 * Feedback from uninstrumented code. libtorrent, cJSON and libsodium are
 * the system's libraries, so libFuzzer sees no coverage inside the parsers.
 * fuzz_feature() turns what the library reported (an error message with
 * its numbers removed, or a label for a success shape) into a libFuzzer
 * "extra counter", so inputs reaching a new error class are kept like
 * inputs reaching new code.
 */
#define FUZZ_EXTRA_COUNTERS 4096
#if defined(__linux__)
__attribute__((used, section("__libfuzzer_extra_counters")))
#endif
static uint8_t fuzz_extra_counters[FUZZ_EXTRA_COUNTERS];

static inline void fuzz_feature(const char *label, const char *text)
{
    uint32_t h = 2166136261u;
    const char *p;
    for (p = label; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (p = text ? text : ""; *p; p++) {
        if (*p >= '0' && *p <= '9')
            continue;
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    fuzz_extra_counters[h % FUZZ_EXTRA_COUNTERS]++;
}

/* ---------------------------------------------------------- SHA-1 */

typedef struct fuzz_sha1_ctx {
    uint32_t h[5];
    uint64_t len;
    uint8_t  buf[64];
    size_t   n;
} fuzz_sha1_ctx;

static inline uint32_t fuzz_rol(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static inline void fuzz_sha1_block(fuzz_sha1_ctx *c, const uint8_t *p)
{
    uint32_t w[80], a, b, d, e, f, k, t, cc;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = fuzz_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3]; e = c->h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20)      { f = (b & cc) | (~b & d);           k = 0x5A827999u; }
        else if (i < 40) { f = b ^ cc ^ d;                    k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8F1BBCDCu; }
        else             { f = b ^ cc ^ d;                    k = 0xCA62C1D6u; }
        t = fuzz_rol(a, 5) + f + e + k + w[i];
        e = d; d = cc; cc = fuzz_rol(b, 30); b = a; a = t;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d; c->h[4] += e;
}

static inline void fuzz_sha1_init(fuzz_sha1_ctx *c)
{
    c->h[0] = 0x67452301u; c->h[1] = 0xEFCDAB89u; c->h[2] = 0x98BADCFEu;
    c->h[3] = 0x10325476u; c->h[4] = 0xC3D2E1F0u;
    c->len = 0;
    c->n = 0;
}

static inline void fuzz_sha1_update(fuzz_sha1_ctx *c, const uint8_t *p, size_t n)
{
    c->len += n;
    while (n) {
        size_t take = 64 - c->n < n ? 64 - c->n : n;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        n -= take;
        if (c->n == 64) {
            fuzz_sha1_block(c, c->buf);
            c->n = 0;
        }
    }
}

static inline void fuzz_sha1_final(fuzz_sha1_ctx *c, uint8_t out[20])
{
    uint64_t bits = c->len * 8;
    uint8_t pad = 0x80, zero = 0, lenb[8];
    int i;
    fuzz_sha1_update(c, &pad, 1);
    while (c->n != 56)
        fuzz_sha1_update(c, &zero, 1);
    for (i = 0; i < 8; i++)
        lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    fuzz_sha1_update(c, lenb, 8);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

static inline void fuzz_sha1_2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t out[20])
{
    fuzz_sha1_ctx c;
    fuzz_sha1_init(&c);
    fuzz_sha1_update(&c, a, an);
    if (bn)
        fuzz_sha1_update(&c, b, bn);
    fuzz_sha1_final(&c, out);
}

/*
 * The BEP-44 signing buffer built independently of the library:
 * ["4:salt" <len> ":" salt] "3:seqi" <seq> "e1:v" v. Returns a malloc'd
 * buffer (caller frees) and its length in *out_len.
 */
static inline uint8_t *fuzz_bep44_buffer(const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *v,
                                         size_t v_len, size_t *out_len)
{
    char head[64], mid[64];
    int hn = 0, mn;
    uint8_t *buf, *p;
    if (salt_len)
        hn = snprintf(head, sizeof head, "4:salt%zu:", salt_len);
    mn = snprintf(mid, sizeof mid, "3:seqi%llde1:v", (long long)seq);
    *out_len = (size_t)hn + salt_len + (size_t)mn + v_len;
    buf = malloc(*out_len ? *out_len : 1);
    if (!buf)
        abort();
    p = buf;
    memcpy(p, head, (size_t)hn);
    p += hn;
    if (salt_len)
        memcpy(p, salt, salt_len);
    p += salt_len;
    memcpy(p, mid, (size_t)mn);
    p += mn;
    if (v_len)
        memcpy(p, v, v_len);
    return buf;
}

#endif
