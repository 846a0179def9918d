/*
 * fuzz_keyfile.c - mt_identity_parse() on arbitrary key-file bytes.
 *
 * Invariants:
 *  - failure: a known MT_E* code, err filled, *out untouched (NULL);
 *    inputs over MT_KEYFILE_MAX are refused with MT_ETOOBIG;
 *  - success: the public key is crypto_sign_ed25519_sk_to_pk(secret key),
 *    the secret key is seed || public key of its own seed;
 *  - mt_identity_to_json() writes exactly the reference 2-space format, and
 *    parsing that again gives the same keys.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "mt_identity.h"
#include "mt_util.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_identity *id = NULL, *id2 = NULL;
    mt_error err;
    char *json = NULL;
    uint8_t pk[32], seed_pk[32], seed_sk[64];
    const uint8_t *ipk, *isk;
    char pkhex[65], skhex[129], expect[256];
    int rc;

    if (sodium_init() < 0)
        abort();

    fuzz_err_init(&err);
    rc = mt_identity_parse((const char *)data, size, &id, &err);
    fuzz_check_result(rc, &err, "mt_identity_parse");
    fuzz_feature("parse", rc ? err.message : "ok");
    if (rc != 0) {
        FUZZ_CHECK(id == NULL, "mt_identity_parse failed (%d) but set *out", rc);
        if (size > MT_KEYFILE_MAX)
            FUZZ_CHECK(rc == MT_ETOOBIG, "oversized key file gave %d, not MT_ETOOBIG", rc);
        return 0;
    }
    FUZZ_CHECK(size <= MT_KEYFILE_MAX, "accepted a %zu-byte key file (max %d)", size, MT_KEYFILE_MAX);
    FUZZ_CHECK(id != NULL, "mt_identity_parse succeeded without an identity");
    ipk = mt_identity_public_key(id);
    isk = mt_identity_secret_key(id);
    FUZZ_CHECK(ipk && isk, "identity without keys");

    /* The public key belongs to the secret key. */
    FUZZ_CHECK(crypto_sign_ed25519_sk_to_pk(pk, isk) == 0, "sk_to_pk failed");
    FUZZ_CHECK(memcmp(pk, ipk, 32) == 0, "public key is not the secret key's");
    /* And the secret key is what its seed derives. */
    crypto_sign_seed_keypair(seed_pk, seed_sk, isk);
    FUZZ_CHECK(memcmp(seed_pk, ipk, 32) == 0, "seed does not derive the public key");
    FUZZ_CHECK(memcmp(seed_sk, isk, 64) == 0, "secret key is not seed || public key");

    /* Serialise: the exact reference format. */
    fuzz_err_init(&err);
    rc = mt_identity_to_json(id, &json, &err);
    fuzz_check_result(rc, &err, "mt_identity_to_json");
    FUZZ_CHECK(rc == 0 && json, "mt_identity_to_json failed: %d", rc);
    mt_hex_encode(ipk, 32, pkhex);
    mt_hex_encode(isk, 64, skhex);
    snprintf(expect, sizeof expect, "{\n  \"publicKey\": \"%s\",\n  \"secretKey\": \"%s\"\n}", pkhex, skhex);
    FUZZ_CHECK(strcmp(json, expect) == 0, "to_json wrote:\n%s\nexpected:\n%s", json, expect);

    /* Round trip. */
    fuzz_err_init(&err);
    rc = mt_identity_parse(json, strlen(json), &id2, &err);
    fuzz_check_result(rc, &err, "mt_identity_parse(round trip)");
    FUZZ_CHECK(rc == 0 && id2, "re-parsing our own JSON failed: %d %s", rc, err.message);
    FUZZ_CHECK(memcmp(mt_identity_public_key(id2), ipk, 32) == 0, "round trip changed the public key");
    FUZZ_CHECK(memcmp(mt_identity_secret_key(id2), isk, 64) == 0, "round trip changed the secret key");

    sodium_memzero(seed_sk, sizeof seed_sk);
    mt_identity_json_free(json);
    mt_identity_free(id2);
    mt_identity_free(id);
    return 0;
}
