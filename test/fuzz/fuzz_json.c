/*
 * fuzz_json.c - mt_json_parse() and mt_json_canonical() on arbitrary bytes.
 *
 * Invariants, with flags 0 and with MT_JSON_INTEGERS:
 *  - failure: a known MT_E* code, err filled, *out left NULL; a cap one
 *    byte under the input's size gives MT_ETOOBIG;
 *  - success: the tree canonicalizes; the canonical text has no NUL, parses
 *    again with the same flags, and canonicalizes to the same bytes;
 *  - with MT_JSON_INTEGERS every number passes mt_json_get_int, and the
 *    input is also accepted without the flag, with the same canonical text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mt_json.h"
#include "fuzz_util.h"

#define FUZZ_JSON_MAX_BYTES (1u << 20)
#define FUZZ_JSON_DEPTH 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every number in v is a safe integer; recursion bounded by FUZZ_JSON_DEPTH. */
static void check_integers(const cJSON *v)
{
    const cJSON *c;
    int64_t n;
    if (cJSON_IsNumber(v))
        FUZZ_CHECK(mt_json_get_int(v, &n) == 0, "MT_JSON_INTEGERS accepted %.17g", v->valuedouble);
    for (c = v->child; c; c = c->next)
        check_integers(c);
}

/* Parse with flags; on success return the canonical text (caller frees), else NULL. */
static char *parse_and_canonicalize(const uint8_t *data, size_t size, unsigned flags, size_t *clen)
{
    cJSON *v = NULL, *v2 = NULL;
    mt_error err;
    char *c1 = NULL, *c2 = NULL;
    size_t l1 = 0, l2 = 0;
    int rc;

    fuzz_err_init(&err);
    rc = mt_json_parse((const char *)data, size, flags, FUZZ_JSON_MAX_BYTES, FUZZ_JSON_DEPTH, &v, &err);
    fuzz_check_result(rc, &err, "mt_json_parse");
    fuzz_feature(flags ? "parse-int" : "parse", rc ? err.message : "ok");
    if (rc != 0) {
        FUZZ_CHECK(v == NULL, "mt_json_parse failed (%d) but set *out", rc);
        FUZZ_CHECK(rc == MT_EINVAL || rc == MT_ENOMEM, "unexpected code %d: %s", rc, err.message);
        return NULL;
    }
    FUZZ_CHECK(v != NULL, "mt_json_parse succeeded without a tree");
    if (flags & MT_JSON_INTEGERS)
        check_integers(v);

    fuzz_err_init(&err);
    rc = mt_json_canonical(v, &c1, &l1, &err);
    fuzz_check_result(rc, &err, "mt_json_canonical");
    FUZZ_CHECK(rc == 0 && c1, "canonical of an accepted document failed: %d %s", rc, err.message);
    FUZZ_CHECK(strlen(c1) == l1, "canonical length %zu but strlen %zu", l1, strlen(c1));

    fuzz_err_init(&err);
    rc = mt_json_parse(c1, l1, flags, l1, FUZZ_JSON_DEPTH, &v2, &err);
    fuzz_check_result(rc, &err, "mt_json_parse(canonical)");
    FUZZ_CHECK(rc == 0, "canonical text does not parse: %s\n%s", err.message, c1);

    fuzz_err_init(&err);
    rc = mt_json_canonical(v2, &c2, &l2, &err);
    fuzz_check_result(rc, &err, "mt_json_canonical(again)");
    FUZZ_CHECK(rc == 0, "second canonical failed: %s", err.message);
    FUZZ_CHECK(l1 == l2 && memcmp(c1, c2, l1) == 0, "canonical form not stable:\n%s\n%s", c1, c2);

    free(c2);
    cJSON_Delete(v2);
    cJSON_Delete(v);
    *clen = l1;
    return c1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *v = NULL;
    mt_error err;
    char *plain, *ints;
    size_t lp = 0, li = 0;
    int rc;

    plain = parse_and_canonicalize(data, size, 0, &lp);
    ints = parse_and_canonicalize(data, size, MT_JSON_INTEGERS, &li);
    if (ints) {
        FUZZ_CHECK(plain != NULL, "accepted with MT_JSON_INTEGERS but not without");
        FUZZ_CHECK(lp == li && memcmp(plain, ints, lp) == 0, "the flag changed the canonical text:\n%s\n%s", plain,
                   ints);
    }
    free(plain);
    free(ints);

    /* One byte over the cap is MT_ETOOBIG, before anything else. */
    if (size > 0) {
        fuzz_err_init(&err);
        rc = mt_json_parse((const char *)data, size, 0, size - 1, FUZZ_JSON_DEPTH, &v, &err);
        fuzz_check_result(rc, &err, "mt_json_parse(cap)");
        FUZZ_CHECK(rc == MT_ETOOBIG && v == NULL, "input over the cap gave %d", rc);
    }
    return 0;
}
