/*
 * fuzz_manifest.c - mt_manifest_load() (strict parse, members, signature,
 * items) on arbitrary bytes, then the operations a subscriber runs on what
 * it accepted.
 *
 * Signatures make random input fail early, so the first input byte picks a
 * mode: odd = the rest is loaded as is; even = the rest is re-signed with a
 * fixed test key first (when it parses as a JSON object), so the item
 * validators behind the signature check are reached too.
 *
 * Invariants:
 *  - failure: a known MT_E* code, err filled, *out stays NULL;
 *  - success: the canonical form of the document re-loads to the same key,
 *    sequence and item count; a diff against itself is empty; every item
 *    has a known kind; a sealed manifest refuses a wrong read key cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_util.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sign doc (without "signature") with the seed-00 key; canonical JSON. */
static char *resign(const char *text, size_t len, size_t *out_len)
{
    static mt_identity *id;
    cJSON *doc = NULL;
    uint8_t sig[64], seed[32];
    char hex[129], *canon = NULL, *out = NULL;
    size_t clen = 0;

    if (!id) {
        for (int i = 0; i < 32; i++)
            seed[i] = (uint8_t)i;
        if (mt_identity_from_seed(seed, &id, NULL) != 0)
            abort();
    }
    if (mt_json_parse(text, len, MT_JSON_INTEGERS, MT_MANIFEST_MAX, MT_MANIFEST_DEPTH, &doc, NULL) != 0)
        return NULL;
    if (!cJSON_IsObject(doc))
        goto out;
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "signature");
    if (mt_json_canonical(doc, &canon, &clen, NULL) != 0)
        goto out;
    crypto_sign_detached(sig, NULL, (const uint8_t *)canon, clen, mt_identity_secret_key(id));
    mt_hex_encode(sig, 64, hex);
    cJSON_AddStringToObject(doc, "signature", hex);
    if (mt_json_canonical(doc, &out, out_len, NULL) != 0)
        out = NULL;
out:
    free(canon);
    cJSON_Delete(doc);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_manifest *m = NULL, *m2 = NULL;
    mt_manifest_diff d;
    mt_error err;
    const char *text;
    char *signed_text = NULL, *canon = NULL;
    size_t len, clen = 0;
    int rc;

    if (size < 1 || sodium_init() < 0)
        return 0;
    text = (const char *)data + 1;
    len = size - 1;
    if (!(data[0] & 1) && (signed_text = resign(text, len, &len)) != NULL)
        text = signed_text;

    fuzz_err_init(&err);
    rc = mt_manifest_load(text, len, NULL, &m, &err);
    fuzz_check_result(rc, &err, "mt_manifest_load");
    fuzz_feature("load", rc ? err.message : "ok");
    if (rc != 0) {
        FUZZ_CHECK(m == NULL, "mt_manifest_load failed (%d) but set *out", rc);
        free(signed_text);
        return 0;
    }
    FUZZ_CHECK(m != NULL, "accepted without a manifest");

    /* The canonical form of what was accepted is accepted the same way. */
    FUZZ_CHECK(mt_json_canonical(mt_manifest_json(m), &canon, &clen, &err) == 0, "canonical failed: %s",
               err.message);
    rc = mt_manifest_load(canon, clen, NULL, &m2, &err);
    FUZZ_CHECK(rc == 0, "canonical form of an accepted manifest refused: %s", err.message);
    FUZZ_CHECK(memcmp(mt_manifest_public_key(m), mt_manifest_public_key(m2), 32) == 0, "key changed");
    FUZZ_CHECK(mt_manifest_sequence(m) == mt_manifest_sequence(m2), "sequence changed");
    FUZZ_CHECK(mt_manifest_total_items(m) == mt_manifest_total_items(m2), "item count changed");

    if (mt_manifest_is_sealed(m)) {
        uint8_t key[32] = {0};
        rc = mt_manifest_decrypt(m, key, &err);
        FUZZ_CHECK(rc == 0 || rc == MT_ECRYPTO || rc == MT_EINVAL, "decrypt gave %d", rc);
    } else {
        for (size_t c = 0; c < mt_manifest_collection_count(m); c++) {
            FUZZ_CHECK(mt_manifest_collection_title(m, c) != NULL, "collection without a title");
            for (size_t i = 0; i < mt_manifest_item_count(m, c); i++) {
                const mt_item *it = mt_manifest_item(m, c, i);
                char name[MT_NAME_MAX + 1];
                FUZZ_CHECK(it && it->kind >= MT_ITEM_MAGNET && it->kind <= MT_ITEM_TEXT, "bad item kind");
                if (it->kind == MT_ITEM_FILE) {
                    FUZZ_CHECK(mt_filename_sanitize(it->u.file.name, name, sizeof name) == 0, "sanitize");
                    FUZZ_CHECK(!strchr(name, '/') && name[0] != '.' && name[0], "unsafe name '%s'", name);
                }
            }
        }
        FUZZ_CHECK(mt_manifest_diff_compute(m, m2, &d, &err) == 0, "self diff failed: %s", err.message);
        FUZZ_CHECK(d.n_changes == 0, "self diff has %zu changes", d.n_changes);
        mt_manifest_diff_clear(&d);
    }
    mt_manifest_free(m2);
    mt_manifest_free(m);
    free(canon);
    free(signed_text);
    return 0;
}
