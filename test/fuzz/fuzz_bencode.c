/*
 * fuzz_bencode.c - mt_bencode_check() on arbitrary bytes (DHT values as
 * they arrive from the network), and what follows acceptance.
 *
 * Invariants:
 *  - the call returns 0 or a known code with err filled; empty input is
 *    refused;
 *  - mt_bencode_string(input) is "<len>:<input>" and is itself accepted;
 *    if the input is a bencoded string, re-encoding its payload gives the
 *    input back;
 *  - an accepted value wrapped as the BEP-44 dict
 *    "d4:salt..3:seqi..e1:v<value>e" is still canonical (unless it would
 *    pass the decoder's depth limit);
 *  - an accepted value under 1000 bytes: the signature buffer matches an
 *    independent construction, sign + verify with a fixed key round-trips,
 *    a flipped signature bit, another seq or another salt fail with
 *    MT_ECRYPTO; at 1000 bytes and more, sign/verify refuse with
 *    MT_ETOOBIG;
 *  - the immutable target is computable and is SHA-1(value).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mt_capi.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t g_pk[32], g_sk[64];
static int g_init;

static void init_keys(void)
{
    uint8_t seed[32];
    size_t i;
    if (g_init)
        return;
    if (sodium_init() < 0)
        abort();
    for (i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(0xA0 + i);
    crypto_sign_seed_keypair(g_pk, g_sk, seed);
    g_init = 1;
}

/* Maximum list/dict nesting of a value already known to be valid. */
static int nesting_depth(const uint8_t *p, size_t n)
{
    size_t i = 0;
    int depth = 0, max = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c == 'l' || c == 'd') {
            if (++depth > max)
                max = depth;
            i++;
        } else if (c == 'e') {
            depth--;
            i++;
        } else if (c == 'i') {
            while (i < n && p[i] != 'e')
                i++;
            i++;
        } else if (c >= '0' && c <= '9') {
            size_t len = 0;
            while (i < n && p[i] >= '0' && p[i] <= '9') {
                len = len * 10 + (size_t)(p[i] - '0');
                if (len > n)
                    return max; /* cannot happen for a valid value */
                i++;
            }
            i += 1 + len; /* ':' and the bytes */
        } else {
            return max;
        }
    }
    return max;
}

static void check_signing(const uint8_t *v, size_t n)
{
    static const uint8_t salt[] = "fuzz-salt";
    const size_t salt_len = sizeof salt - 1;
    const int64_t seq = (int64_t)n * 7919 + 1;
    uint8_t buf[MT_DHT_VALUE_MAX + MT_DHT_SALT_MAX + 64];
    uint8_t sig[64], target[20], expect_target[20];
    size_t len = 0, elen = 0;
    uint8_t *expect;
    mt_error err;
    int rc;

    /* Signature buffer, with and without salt, against our own. */
    fuzz_err_init(&err);
    rc = mt_dht_signature_buffer(salt, salt_len, seq, v, n, buf, sizeof buf, &len, &err);
    fuzz_check_result(rc, &err, "mt_dht_signature_buffer");
    FUZZ_CHECK(rc == 0, "signature buffer of a %zu-byte value failed: %s", n, err.message);
    expect = fuzz_bep44_buffer(salt, salt_len, seq, v, n, &elen);
    FUZZ_CHECK(len == elen && memcmp(buf, expect, len) == 0, "signature buffer differs from BEP-44");
    free(expect);

    fuzz_err_init(&err);
    rc = mt_dht_signature_buffer(NULL, 0, 0, v, n, buf, sizeof buf, &len, &err);
    fuzz_check_result(rc, &err, "mt_dht_signature_buffer(no salt)");
    FUZZ_CHECK(rc == 0, "unsalted signature buffer failed: %s", err.message);
    expect = fuzz_bep44_buffer(NULL, 0, 0, v, n, &elen);
    FUZZ_CHECK(len == elen && memcmp(buf, expect, len) == 0, "unsalted signature buffer differs");
    free(expect);

    /* Too small an output buffer is an error, never an overflow. */
    if (len > 1) {
        uint8_t *small = malloc(len - 1);
        size_t slen = 0;
        if (!small)
            abort();
        fuzz_err_init(&err);
        rc = mt_dht_signature_buffer(NULL, 0, 0, v, n, small, len - 1, &slen, &err);
        fuzz_check_result(rc, &err, "mt_dht_signature_buffer(short)");
        FUZZ_CHECK(rc != 0, "signature buffer fit %zu bytes into %zu", len, len - 1);
        free(small);
    }

    /* Sign and verify. */
    fuzz_err_init(&err);
    rc = mt_dht_sign_mutable(g_sk, salt, salt_len, seq, v, n, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_sign_mutable");
    FUZZ_CHECK(rc == 0, "signing a %zu-byte value failed: %s", n, err.message);

    fuzz_err_init(&err);
    rc = mt_dht_verify_mutable(g_pk, salt, salt_len, seq, v, n, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_verify_mutable");
    FUZZ_CHECK(rc == 0, "own signature does not verify: %d %s", rc, err.message);

    fuzz_err_init(&err);
    rc = mt_dht_verify_mutable(g_pk, salt, salt_len, seq + 1, v, n, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_verify_mutable(seq+1)");
    FUZZ_CHECK(rc == MT_ECRYPTO, "signature verified under another seq: %d", rc);

    fuzz_err_init(&err);
    rc = mt_dht_verify_mutable(g_pk, salt, salt_len - 1, seq, v, n, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_verify_mutable(salt)");
    FUZZ_CHECK(rc == MT_ECRYPTO, "signature verified under another salt: %d", rc);

    sig[n % 64] ^= (uint8_t)(1u << (n % 8));
    fuzz_err_init(&err);
    rc = mt_dht_verify_mutable(g_pk, salt, salt_len, seq, v, n, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_verify_mutable(flipped)");
    FUZZ_CHECK(rc == MT_ECRYPTO, "flipped signature verified: %d", rc);

    /* The mutable target of the fixed key is SHA-1(pk || salt). */
    fuzz_err_init(&err);
    rc = mt_dht_mutable_target(g_pk, salt, salt_len, target, &err);
    fuzz_check_result(rc, &err, "mt_dht_mutable_target");
    fuzz_sha1_2(g_pk, 32, salt, salt_len, expect_target);
    FUZZ_CHECK(rc == 0 && memcmp(target, expect_target, 20) == 0, "mutable target is not SHA-1(pk||salt)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_error err;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    uint8_t target[20], expect[20];
    int rc, rc2;

    init_keys();

    fuzz_err_init(&err);
    rc = mt_bencode_check(data, size, &err);
    fuzz_check_result(rc, &err, "mt_bencode_check");
    fuzz_feature("check", rc ? err.message : "ok");
    if (size == 0)
        FUZZ_CHECK(rc != 0, "empty input accepted");

    /* Any bytes bencode as a string, which is canonical. */
    fuzz_err_init(&err);
    rc2 = mt_bencode_string(data, size, &enc, &enc_len, &err);
    fuzz_check_result(rc2, &err, "mt_bencode_string");
    FUZZ_CHECK(rc2 == 0, "bencoding a %zu-byte string failed: %s", size, err.message);
    {
        char head[32];
        int hn = snprintf(head, sizeof head, "%zu:", size);
        mt_error err2;
        FUZZ_CHECK(enc && enc_len == (size_t)hn + size, "bencoded string has length %zu", enc_len);
        FUZZ_CHECK(memcmp(enc, head, (size_t)hn) == 0 && (size == 0 || memcmp(enc + hn, data, size) == 0),
                   "bencoded string is not <len>:<bytes>");
        fuzz_err_init(&err2);
        rc2 = mt_bencode_check(enc, enc_len, &err2);
        fuzz_check_result(rc2, &err2, "mt_bencode_check(string)");
        FUZZ_CHECK(rc2 == 0, "our own bencoded string is refused: %s", err2.message);
        mt_free(enc);
        enc = NULL;
    }

    if (rc != 0)
        return 0;
    FUZZ_CHECK(size > 0, "empty input accepted");

    /* An accepted string: re-encoding its payload gives it back. */
    if (data[0] >= '0' && data[0] <= '9') {
        const uint8_t *colon = memchr(data, ':', size);
        size_t hl;
        FUZZ_CHECK(colon != NULL, "accepted string without ':'");
        hl = (size_t)(colon - data) + 1;
        fuzz_err_init(&err);
        rc = mt_bencode_string(data + hl, size - hl, &enc, &enc_len, &err);
        fuzz_check_result(rc, &err, "mt_bencode_string(payload)");
        FUZZ_CHECK(rc == 0 && enc_len == size && memcmp(enc, data, size) == 0,
                   "re-encoding the string payload does not give the input");
        mt_free(enc);
        enc = NULL;
    }

    /* As the v of a BEP-44 dict, the value keeps the dict canonical. */
    if (nesting_depth(data, size) < 90) {
        static const char pre[] = "d4:salt1:x3:seqi1e1:v";
        size_t wl = sizeof pre - 1 + size + 1;
        uint8_t *w = malloc(wl);
        if (!w)
            abort();
        memcpy(w, pre, sizeof pre - 1);
        memcpy(w + sizeof pre - 1, data, size);
        w[wl - 1] = 'e';
        fuzz_err_init(&err);
        rc = mt_bencode_check(w, wl, &err);
        fuzz_check_result(rc, &err, "mt_bencode_check(wrapped)");
        FUZZ_CHECK(rc == 0, "accepted value is refused inside a dict: %s", err.message);
        free(w);
    }

    /* The immutable target is SHA-1 of the value. */
    fuzz_err_init(&err);
    rc = mt_dht_immutable_target(data, size, target, &err);
    fuzz_check_result(rc, &err, "mt_dht_immutable_target");
    FUZZ_CHECK(rc == 0, "immutable target of an accepted value failed: %s", err.message);
    fuzz_sha1_2(data, size, NULL, 0, expect);
    FUZZ_CHECK(memcmp(target, expect, 20) == 0, "immutable target is not SHA-1(v)");

    if (size < 1000) {
        check_signing(data, size);
    } else {
        uint8_t sig[64];
        memset(sig, 0, sizeof sig);
        fuzz_err_init(&err);
        rc = mt_dht_sign_mutable(g_sk, NULL, 0, 1, data, size, sig, &err);
        fuzz_check_result(rc, &err, "mt_dht_sign_mutable(big)");
        FUZZ_CHECK(rc == MT_ETOOBIG, "signed a %zu-byte value: %d", size, rc);
        fuzz_err_init(&err);
        rc = mt_dht_verify_mutable(g_pk, NULL, 0, 1, data, size, sig, &err);
        fuzz_check_result(rc, &err, "mt_dht_verify_mutable(big)");
        FUZZ_CHECK(rc == MT_ETOOBIG, "verified a %zu-byte value: %d", size, rc);
    }
    return 0;
}
