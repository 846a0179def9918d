/*
 * fuzz_feedaddr.c - mt_feedaddr_parse() on arbitrary text (feed addresses
 * pasted by users or found in manifests), and the formatters.
 *
 * The input is used twice: as a C string (cut at its first NUL), and, when
 * long enough, as the raw fields of an mt_feedaddr to format.
 *
 * Invariants:
 *  - every call returns 0 or a known code with err filled; over 1024 bytes
 *    is MT_ETOOBIG; a failed parse leaves the output zeroed;
 *  - an accepted address has salt_len <= 64, and a read key only from the
 *    megatorrent:// form (which has no salt);
 *  - the magnet form always formats; reparsed it gives the same key and
 *    salt (and no read key); formatting that again gives the same text,
 *    in lower case;
 *  - the megatorrent:// form formats exactly when there is no salt and
 *    reparses to the same address, read key included; otherwise MT_EINVAL;
 *  - one byte too little room is MT_ETOOBIG with an empty output;
 *  - the target is SHA-1(pk || salt), computed independently.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_capi.h"
#include "mt_feedaddr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lower(const char *s)
{
    for (; *s; s++)
        FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'), "formatted address has upper case: %s", s);
}

/* Format a in both forms and check the round trips. */
static void check_formats(const mt_feedaddr *a)
{
    char out[MT_FEEDADDR_STR_MAX], again[MT_FEEDADDR_STR_MAX];
    mt_feedaddr b;
    mt_error err;
    uint8_t target[20], expect[20];
    size_t len;
    int rc;

    fuzz_err_init(&err);
    rc = mt_feedaddr_format_magnet(a, out, sizeof out, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_format_magnet");
    if (a->salt_len > MT_FEEDADDR_SALT_MAX) {
        FUZZ_CHECK(rc == MT_EINVAL, "magnet of a %zu-byte salt: %d", a->salt_len, rc);
        fuzz_err_init(&err);
        rc = mt_feedaddr_target(a, target, &err);
        fuzz_check_result(rc, &err, "mt_feedaddr_target(bad salt)");
        FUZZ_CHECK(rc == MT_EINVAL, "target of a %zu-byte salt: %d", a->salt_len, rc);
        return;
    }
    FUZZ_CHECK(rc == 0, "magnet format failed: %s", err.message);
    check_lower(out);
    fuzz_err_init(&err);
    rc = mt_feedaddr_parse(out, &b, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_parse(magnet)");
    FUZZ_CHECK(rc == 0, "own magnet refused: %s: %s", out, err.message);
    FUZZ_CHECK(memcmp(b.pk, a->pk, 32) == 0 && b.salt_len == a->salt_len &&
                   memcmp(b.salt, a->salt, a->salt_len) == 0 && !b.has_read_key,
               "magnet round trip differs: %s", out);
    FUZZ_CHECK(mt_feedaddr_format_magnet(&b, again, sizeof again, NULL) == 0 && strcmp(out, again) == 0,
               "magnet not stable: %s vs %s", out, again);
    len = strlen(out);
    fuzz_err_init(&err);
    rc = mt_feedaddr_format_magnet(a, again, len, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_format_magnet(short)");
    FUZZ_CHECK(rc == MT_ETOOBIG && again[0] == '\0', "magnet fit %zu bytes into %zu: %d", len + 1, len, rc);

    fuzz_err_init(&err);
    rc = mt_feedaddr_format_uri(a, out, sizeof out, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_format_uri");
    if (a->salt_len) {
        FUZZ_CHECK(rc == MT_EINVAL, "megatorrent:// with a salt: %d", rc);
    } else {
        FUZZ_CHECK(rc == 0, "uri format failed: %s", err.message);
        check_lower(out);
        fuzz_err_init(&err);
        rc = mt_feedaddr_parse(out, &b, &err);
        fuzz_check_result(rc, &err, "mt_feedaddr_parse(uri)");
        FUZZ_CHECK(rc == 0, "own uri refused: %s: %s", out, err.message);
        FUZZ_CHECK(memcmp(b.pk, a->pk, 32) == 0 && b.salt_len == 0 && !b.has_read_key == !a->has_read_key &&
                       (!a->has_read_key || memcmp(b.read_key, a->read_key, 32) == 0),
                   "uri round trip differs: %s", out);
        len = strlen(out);
        fuzz_err_init(&err);
        rc = mt_feedaddr_format_uri(a, again, len, &err);
        fuzz_check_result(rc, &err, "mt_feedaddr_format_uri(short)");
        FUZZ_CHECK(rc == MT_ETOOBIG && again[0] == '\0', "uri fit into too little room: %d", rc);
    }

    fuzz_err_init(&err);
    rc = mt_feedaddr_target(a, target, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_target");
    FUZZ_CHECK(rc == 0, "target failed: %s", err.message);
    fuzz_sha1_2(a->pk, 32, a->salt, a->salt_len, expect);
    FUZZ_CHECK(memcmp(target, expect, 20) == 0, "target is not SHA-1(pk || salt)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    mt_feedaddr a, zero;
    mt_error err;
    int rc;

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    memset(&zero, 0, sizeof zero);

    fuzz_err_init(&err);
    memset(&a, 0x5a, sizeof a);
    rc = mt_feedaddr_parse(s, &a, &err);
    fuzz_check_result(rc, &err, "mt_feedaddr_parse");
    {
        /* Error classes only: cut the quoted input some messages carry. */
        char cls[sizeof err.message];
        memcpy(cls, err.message, sizeof cls);
        cls[strcspn(cls, "'")] = '\0';
        fuzz_feature("parse", rc ? cls : (a.has_read_key ? "ok-rk" : a.salt_len ? "ok-salt" : "ok"));
    }
    if (strlen(s) > MT_FEEDADDR_INPUT_MAX)
        FUZZ_CHECK(rc == MT_ETOOBIG, "%zu-byte address gave %d", strlen(s), rc);
    if (rc) {
        FUZZ_CHECK(memcmp(&a, &zero, sizeof a) == 0, "failed parse left data");
    } else {
        FUZZ_CHECK(a.salt_len <= MT_FEEDADDR_SALT_MAX, "salt of %zu bytes", a.salt_len);
        FUZZ_CHECK(!(a.has_read_key && a.salt_len), "read key and salt together");
        check_formats(&a);
    }
    free(s);

    /* The raw bytes as fields: the formatters must cope with any of them. */
    if (size >= 32 + 1 + 64 + 1 + 32) {
        memset(&a, 0, sizeof a);
        memcpy(a.pk, data, 32);
        a.salt_len = data[32] % 80; /* sometimes over 64 */
        memcpy(a.salt, data + 33, 64);
        a.has_read_key = data[97] & 1;
        memcpy(a.read_key, data + 98, 32);
        check_formats(&a);
    }
    return 0;
}
