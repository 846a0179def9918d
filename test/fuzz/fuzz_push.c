/*
 * fuzz_push.c - an lt_megatorrent message body as a peer sends it
 * (plugin/mt_push.h): the bytes the push worker decodes before it checks
 * the signature.
 *
 * Input: the message body, decoded with the default max_message (1280).
 * The body is copied to a heap buffer of exactly its length, so any
 * over-read is an AddressSanitizer report.
 *
 * Invariants:
 *  - a failure is MT_EINVAL (or MT_ENOMEM) with a message, and leaves the
 *    item zeroed (v NULL);
 *  - a body over max_message fails; one that fits gives the same answer
 *    with max_message equal to its length, and fails with one byte less;
 *  - an accepted item has salt_len <= 64, seq >= 1, a v of 1-999 bytes that
 *    mt_bencode_check accepts, and target = SHA-1(k || salt) (the library's
 *    mt_dht_mutable_target and the independent fuzz_sha1);
 *  - it re-encodes (mt_push_encode) to a message no longer than the input
 *    that decodes to identical fields, and re-encoding that gives the same
 *    bytes (the encoding is canonical).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_capi.h"
#include "mt_push.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 1280 /* mt_push_config_init's default, what peers use */

static int item_is_zero(const mt_push_item *it)
{
    static const mt_push_item zero;
    return memcmp(it, &zero, sizeof zero) == 0;
}

static void check_same(const mt_push_item *a, const mt_push_item *b)
{
    FUZZ_CHECK(memcmp(a->k, b->k, 32) == 0, "k differs after re-encoding");
    FUZZ_CHECK(a->salt_len == b->salt_len && memcmp(a->salt, b->salt, a->salt_len) == 0,
               "salt differs after re-encoding (%zu vs %zu bytes)", a->salt_len, b->salt_len);
    FUZZ_CHECK(a->seq == b->seq, "seq %lld became %lld", (long long)a->seq, (long long)b->seq);
    FUZZ_CHECK(a->v_len == b->v_len && memcmp(a->v, b->v, a->v_len) == 0, "v differs after re-encoding");
    FUZZ_CHECK(memcmp(a->sig, b->sig, 64) == 0, "sig differs after re-encoding");
    FUZZ_CHECK(memcmp(a->target, b->target, 20) == 0, "target differs after re-encoding");
}

/* A decode's contract: 0, or a known failure that leaves the item zeroed. */
static int decode(const uint8_t *msg, size_t len, size_t max_message, mt_push_item *it, const char *what)
{
    mt_error err;
    int rc;
    fuzz_err_init(&err);
    memset(it, 0xA5, sizeof *it); /* stale contents must not survive */
    rc = mt_push_decode(msg, len, max_message, it, &err);
    fuzz_check_result(rc, &err, what);
    if (rc) {
        FUZZ_CHECK(rc == MT_EINVAL || rc == MT_ENOMEM, "%s failed with %d: %s", what, rc, err.message);
        FUZZ_CHECK(item_is_zero(it), "%s failed but left the item filled", what);
        fuzz_feature(what, err.message);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *msg, *enc = NULL, *enc2 = NULL;
    size_t enc_len = 0, enc2_len = 0;
    uint8_t expect[20], target[20];
    mt_push_item it, again, other;
    mt_error err;
    int rc, rc2;

    msg = malloc(size ? size : 1);
    if (!msg)
        abort();
    if (size)
        memcpy(msg, data, size);

    rc = decode(msg, size, MAX_MESSAGE, &it, "decode");
    if (size > MAX_MESSAGE)
        FUZZ_CHECK(rc != 0, "a %zu-byte message passed a %d-byte cap", size, MAX_MESSAGE);

    /* The cap is a plain size check: at the input's length it changes
     * nothing, one byte less refuses it. */
    if (size > 0 && size <= MAX_MESSAGE) {
        rc2 = decode(msg, size, size, &other, "decode(cap = length)");
        FUZZ_CHECK(rc2 == rc, "cap %zu gives %d, cap %d gives %d", size, rc2, MAX_MESSAGE, rc);
        if (rc2 == 0) {
            check_same(&it, &other);
            mt_push_item_clear(&other);
        }
        rc2 = decode(msg, size, size - 1, &other, "decode(cap = length - 1)");
        FUZZ_CHECK(rc2 == MT_EINVAL, "a %zu-byte message passed a %zu-byte cap (%d)", size, size - 1, rc2);
    }

    if (rc == 0) {
        fuzz_feature("decode", it.salt_len ? "ok salt" : "ok");
        FUZZ_CHECK(it.salt_len <= MT_DHT_SALT_MAX, "salt of %zu bytes accepted", it.salt_len);
        FUZZ_CHECK(it.seq >= 1, "seq %lld accepted", (long long)it.seq);
        FUZZ_CHECK(it.v != NULL && it.v_len >= 1 && it.v_len <= MT_DHT_VALUE_MAX, "v of %zu bytes accepted",
                   it.v_len);
        fuzz_err_init(&err);
        rc2 = mt_bencode_check(it.v, it.v_len, &err);
        FUZZ_CHECK(rc2 == 0, "accepted v is not canonical: %s", err.message);

        fuzz_err_init(&err);
        rc2 = mt_dht_mutable_target(it.k, it.salt, it.salt_len, target, &err);
        FUZZ_CHECK(rc2 == 0, "mutable target failed: %s", err.message);
        FUZZ_CHECK(memcmp(target, it.target, 20) == 0, "target is not mt_dht_mutable_target(k, salt)");
        fuzz_sha1_2(it.k, 32, it.salt, it.salt_len, expect);
        FUZZ_CHECK(memcmp(expect, it.target, 20) == 0, "target is not SHA-1(k || salt)");

        /* Round trip through the encoder mt_push_send uses. */
        fuzz_err_init(&err);
        rc2 = mt_push_encode(&it, &enc, &enc_len, &err);
        fuzz_check_result(rc2, &err, "mt_push_encode");
        FUZZ_CHECK(rc2 == 0, "an accepted item does not encode: %s", err.message);
        /* Decode kept each field's bytes, so the canonical form is no longer. */
        FUZZ_CHECK(enc_len <= size, "%zu-byte message re-encodes to %zu bytes", size, enc_len);
        rc2 = decode(enc, enc_len, MAX_MESSAGE, &again, "decode(re-encoded)");
        FUZZ_CHECK(rc2 == 0, "re-encoded message does not decode");
        check_same(&it, &again);
        fuzz_err_init(&err);
        rc2 = mt_push_encode(&again, &enc2, &enc2_len, &err);
        FUZZ_CHECK(rc2 == 0, "re-decoded item does not encode: %s", err.message);
        FUZZ_CHECK(enc2_len == enc_len && memcmp(enc, enc2, enc_len) == 0, "encoding is not a fixed point");
        if (enc_len == size)
            fuzz_feature("decode", memcmp(enc, msg, size) ? "same length, other bytes" : "canonical input");

        mt_push_item_clear(&again);
        FUZZ_CHECK(item_is_zero(&again), "mt_push_item_clear left data");
        mt_free(enc);
        mt_free(enc2);
        mt_push_item_clear(&it);
    }
    mt_push_item_clear(NULL);
    free(msg);
    return 0;
}
