/*
 * fuzz_dht_item.c - a BEP-44 mutable item as received from the DHT.
 *
 * Input layout: pk(32) | sig(64) | seq(8, big endian) | salt_len(1) |
 * salt | v. Short inputs are zero-padded; a salt_len claiming more bytes
 * than remain is honoured (the salt is zero-padded), so salts of up to 255
 * bytes and values of any size reach the library. Salt and value are given
 * to the library in heap buffers of exactly their length, so any over-read
 * is an AddressSanitizer report.
 *
 * Invariants:
 *  - mt_dht_mutable_target: salt > 64 bytes is an error code; otherwise
 *    success with SHA-1(pk || salt);
 *  - mt_dht_verify_mutable: salt > 64, value > 999 or seq < 0 are error
 *    codes (never 0); otherwise 0 or MT_ECRYPTO, agreeing with libsodium on
 *    an independently built BEP-44 buffer;
 *  - mt_dht_signature_buffer agrees with that buffer when it succeeds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mt_capi.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR (32 + 64 + 8 + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hdr[HDR];
    uint8_t pk[32], sig[64], target[20], expect_target[20];
    uint8_t *salt, *v, *buf, *mine;
    size_t salt_len, v_len, avail, rest, buf_len = 0, mine_len = 0;
    int64_t seq;
    uint64_t useq = 0;
    mt_error err;
    int rc, i, valid;

    if (sodium_init() < 0)
        abort();

    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, data, size < HDR ? size : HDR);
    memcpy(pk, hdr, 32);
    memcpy(sig, hdr + 32, 64);
    for (i = 0; i < 8; i++)
        useq = useq << 8 | hdr[96 + i];
    seq = (int64_t)useq;
    salt_len = hdr[104];

    rest = size > HDR ? size - HDR : 0;
    salt = malloc(salt_len ? salt_len : 1);
    if (!salt)
        abort();
    memset(salt, 0, salt_len ? salt_len : 1);
    avail = rest < salt_len ? rest : salt_len;
    if (avail)
        memcpy(salt, data + HDR, avail);
    v_len = rest - avail;
    v = malloc(v_len ? v_len : 1);
    if (!v)
        abort();
    if (v_len)
        memcpy(v, data + HDR + avail, v_len);

    /* Target. */
    fuzz_err_init(&err);
    rc = mt_dht_mutable_target(pk, salt, salt_len, target, &err);
    fuzz_check_result(rc, &err, "mt_dht_mutable_target");
    if (salt_len > MT_DHT_SALT_MAX) {
        FUZZ_CHECK(rc < 0, "target of a %zu-byte salt: %d", salt_len, rc);
    } else {
        FUZZ_CHECK(rc == 0, "target failed: %s", err.message);
        fuzz_sha1_2(pk, 32, salt, salt_len, expect_target);
        FUZZ_CHECK(memcmp(target, expect_target, 20) == 0, "target is not SHA-1(pk || salt)");
    }

    /* Verify. */
    valid = salt_len <= MT_DHT_SALT_MAX && v_len <= MT_DHT_VALUE_MAX && seq >= 0;
    fuzz_err_init(&err);
    rc = mt_dht_verify_mutable(pk, salt, salt_len, seq, v, v_len, sig, &err);
    fuzz_check_result(rc, &err, "mt_dht_verify_mutable");
    fuzz_feature("verify", rc ? err.message : "ok");
    if (!valid) {
        FUZZ_CHECK(rc < 0, "verify accepted salt %zu, value %zu, seq %lld", salt_len, v_len, (long long)seq);
    } else {
        mine = fuzz_bep44_buffer(salt, salt_len, seq, v, v_len, &mine_len);
        int ok = crypto_sign_verify_detached(sig, mine, mine_len, pk) == 0;
        FUZZ_CHECK(rc == 0 || rc == MT_ECRYPTO, "verify of a well-formed item gave %d: %s", rc, err.message);
        FUZZ_CHECK((rc == 0) == ok, "verify says %d, libsodium on the BEP-44 buffer says %d", rc, ok);

        /* The library's signing buffer is the same bytes. */
        buf = malloc(mine_len + 16);
        if (!buf)
            abort();
        fuzz_err_init(&err);
        rc = mt_dht_signature_buffer(salt, salt_len, seq, v, v_len, buf, mine_len + 16, &buf_len, &err);
        fuzz_check_result(rc, &err, "mt_dht_signature_buffer");
        FUZZ_CHECK(rc == 0, "signature buffer failed: %s", err.message);
        FUZZ_CHECK(buf_len == mine_len && memcmp(buf, mine, buf_len) == 0, "signature buffer differs from BEP-44");
        free(buf);
        free(mine);
    }

    /* The signing buffer with any lengths: an error or a fit, never more. */
    buf = malloc(HDR + 256 + 64 + 1);
    if (!buf)
        abort();
    fuzz_err_init(&err);
    rc = mt_dht_signature_buffer(salt, salt_len, seq, v, v_len, buf, HDR + 256 + 64 + 1, &buf_len, &err);
    fuzz_check_result(rc, &err, "mt_dht_signature_buffer(fixed cap)");
    if (rc == 0)
        FUZZ_CHECK(buf_len <= HDR + 256 + 64 + 1, "signature buffer claims %zu bytes", buf_len);
    if (salt_len > MT_DHT_SALT_MAX || seq < 0)
        FUZZ_CHECK(rc < 0, "signature buffer accepted salt %zu seq %lld", salt_len, (long long)seq);
    free(buf);

    /* Values are data, but canonical checking must cope with them too. */
    fuzz_err_init(&err);
    rc = mt_bencode_check(v, v_len, &err);
    fuzz_check_result(rc, &err, "mt_bencode_check");
    fuzz_feature("value", rc ? err.message : "ok");

    free(salt);
    free(v);
    return 0;
}
