/*
 * check_pointer.c - the bencode C API over libtorrent (mt_bencode.h), DHT
 * pointer values (mt_pointer.h) and feed addresses (mt_feedaddr.h).
 * No network: these are pure functions.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "mt_bencode.h"
#include "mt_feedaddr.h"
#include "mt_pointer.h"
#include "testutil.h"

/* rc is code, err carries it, and the message mentions `part`. */
#define T_ERR(rc, err, want, part)                                                                    \
    do {                                                                                              \
        int t_rc_;                                                                                    \
        memset(&(err), 0, sizeof(err));                                                               \
        t_rc_ = (rc);                                                                                 \
        ck_assert_msg(t_rc_ == (want), "rc %d, want %d (%s)", t_rc_, (want), (err).message);          \
        ck_assert_int_eq((err).code, (want));                                                         \
        ck_assert_msg(strstr((err).message, (part)) != NULL, "message '%s' lacks '%s'", (err).message, \
                      (part));                                                                        \
    } while (0)

/* ================================================================ bdoc */

static mt_bdoc *parse_ok(const char *s)
{
    mt_bdoc *d = NULL;
    mt_error err;
    int rc = mt_bdoc_parse((const uint8_t *)s, strlen(s), 0, 0, &d, &err);
    ck_assert_msg(rc == 0, "parse '%s': %s", s, err.message);
    return d;
}

static int parse_rc(const char *s, size_t len, int depth, int tokens, mt_error *err)
{
    mt_bdoc *d = (mt_bdoc *)1;
    int rc = mt_bdoc_parse((const uint8_t *)s, len, depth, tokens, &d, err);
    if (rc)
        ck_assert_ptr_null(d); /* never a half-built document */
    mt_bdoc_free(d);
    return rc;
}

START_TEST(bdoc_walks_nested_values)
{
    static const char in[] = "d1:ad1:bli1ei-2e5:x\0y\xffzee1:ci42e0:0:e";
    mt_bdoc *d = NULL;
    mt_error err;
    const uint8_t *s, *k;
    size_t len, klen;
    int64_t v;
    int a, b, c, l, h;

    ck_assert_int_eq(mt_bdoc_parse((const uint8_t *)in, sizeof in - 1, 0, 0, &d, &err), 0);
    ck_assert_int_eq(mt_bdoc_type(d, 0), MT_BNODE_DICT);
    ck_assert_int_eq(mt_bdoc_dict_size(d, 0), 3);

    /* Entries in input order, keys as bytes (the empty key too). */
    a = mt_bdoc_dict_at(d, 0, 0, &k, &klen);
    ck_assert_int_gt(a, 0);
    ck_assert(klen == 1 && k[0] == 'a');
    c = mt_bdoc_dict_at(d, 0, 1, &k, &klen);
    ck_assert(klen == 1 && k[0] == 'c');
    h = mt_bdoc_dict_at(d, 0, 2, &k, &klen);
    ck_assert_uint_eq(klen, 0);
    ck_assert_int_eq(mt_bdoc_string(d, h, &s, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mt_bdoc_dict_at(d, 0, 1, NULL, NULL), c); /* outputs optional */

    /* Looking a node up again gives the same handle. */
    ck_assert_int_eq(mt_bdoc_dict_find(d, 0, "a"), a);
    ck_assert_int_eq(mt_bdoc_dict_find(d, 0, "c"), c);
    ck_assert_int_eq(mt_bdoc_dict_find(d, 0, ""), h);
    ck_assert_int_eq(mt_bdoc_dict_find(d, 0, "zz"), -1);

    ck_assert_int_eq(mt_bdoc_type(d, a), MT_BNODE_DICT);
    b = mt_bdoc_dict_find(d, a, "b");
    ck_assert_int_eq(mt_bdoc_type(d, b), MT_BNODE_LIST);
    ck_assert_int_eq(mt_bdoc_list_size(d, b), 3);
    l = mt_bdoc_list_at(d, b, 0);
    ck_assert_int_eq(mt_bdoc_type(d, l), MT_BNODE_INT);
    ck_assert_int_eq(mt_bdoc_int(d, l, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(mt_bdoc_int(d, mt_bdoc_list_at(d, b, 1), &v), 0);
    ck_assert_int_eq(v, -2);
    l = mt_bdoc_list_at(d, b, 2);
    ck_assert_int_eq(mt_bdoc_list_at(d, b, 2), l);
    ck_assert_int_eq(mt_bdoc_string(d, l, &s, &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(s, "x\0y\xffz", 5) == 0); /* NUL and high bytes kept */
    ck_assert_int_eq(mt_bdoc_int(d, c, &v), 0);
    ck_assert_int_eq(v, 42);

    /* Wrong types and bad handles. */
    ck_assert_int_eq(mt_bdoc_string(d, c, &s, &len), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_int(d, l, &v), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_dict_find(d, b, "x"), -1);
    ck_assert_int_eq(mt_bdoc_dict_size(d, b), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_list_size(d, 0), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_list_at(d, 0, 0), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_list_at(d, b, 3), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_list_at(d, b, -1), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_dict_at(d, 0, 3, &k, &klen), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_dict_at(d, b, 0, &k, &klen), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_type(d, 1000), MT_BNODE_NONE);
    ck_assert_int_eq(mt_bdoc_type(d, -1), MT_BNODE_NONE);
    ck_assert_int_eq(mt_bdoc_type(NULL, 0), MT_BNODE_NONE);
    ck_assert_int_eq(mt_bdoc_dict_find(d, 0, NULL), -1);
    mt_bdoc_free(d);
    mt_bdoc_free(NULL);
}
END_TEST

START_TEST(bdoc_integers_in_range)
{
    mt_bdoc *d;
    int64_t v = 7;

    d = parse_ok("i9223372036854775807e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), 0);
    ck_assert(v == INT64_MAX);
    mt_bdoc_free(d);
    d = parse_ok("i-9223372036854775808e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), 0);
    ck_assert(v == INT64_MIN);
    mt_bdoc_free(d);
    /* libtorrent parses these as 0; we refuse instead of guessing. */
    d = parse_ok("i9223372036854775808e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), MT_EINVAL);
    mt_bdoc_free(d);
    d = parse_ok("i-9223372036854775809e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), MT_EINVAL);
    mt_bdoc_free(d);
    d = parse_ok("i18446744073709551616e"); /* 2^64 */
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), MT_EINVAL);
    mt_bdoc_free(d);
    /* Longer ones libtorrent refuses itself. */
    {
        mt_error err;
        T_ERR(parse_rc("i99999999999999999999999e", 25, 0, 0, &err), err, MT_EINVAL, "overflow");
    }
    /* Non-canonical but readable (mt_bencode_check is the strict one). */
    d = parse_ok("i03e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), 0);
    ck_assert_int_eq(v, 3);
    mt_bdoc_free(d);
    d = parse_ok("i-0e");
    ck_assert_int_eq(mt_bdoc_int(d, 0, &v), 0);
    ck_assert_int_eq(v, 0);
    mt_bdoc_free(d);
}
END_TEST

START_TEST(bdoc_refuses_bad_input)
{
    mt_error err;
    mt_bdoc *d = NULL;

    T_ERR(parse_rc("i1exx", 5, 0, 0, &err), err, MT_EINVAL, "2 bytes follow the value that ends at byte 3");
    T_ERR(parse_rc("de", 3, 0, 0, &err), err, MT_EINVAL, "1 bytes follow"); /* the NUL */
    T_ERR(parse_rc("", 0, 0, 0, &err), err, MT_EINVAL, "empty");
    T_ERR(parse_rc("x", 1, 0, 0, &err), err, MT_EINVAL, "at byte 0");
    T_ERR(parse_rc("3:ab", 4, 0, 0, &err), err, MT_EINVAL, "unexpected end of file");
    T_ERR(parse_rc("d1:ai1e", 7, 0, 0, &err), err, MT_EINVAL, "bencode:");
    T_ERR(parse_rc("di1e1:ae", 8, 0, 0, &err), err, MT_EINVAL, "at byte 1"); /* integer key */
    T_ERR(parse_rc("ie", 2, 0, 0, &err), err, MT_EINVAL, "expected digit");
    T_ERR(parse_rc("le", 2, -1, 0, &err), err, MT_EINVAL, "limits");
    T_ERR(parse_rc("le", 2, 0, -1, &err), err, MT_EINVAL, "limits");
    ck_assert_int_eq(mt_bdoc_parse((const uint8_t *)"le", 2, 0, 0, NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_bdoc_parse(NULL, 2, 0, 0, &d, &err), MT_EINVAL);
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(bdoc_limits)
{
    mt_error err;
    char deep[512];
    int i;

    /* max_depth = how many containers may nest. */
    ck_assert_int_eq(parse_rc("le", 2, 1, 0, &err), 0);
    T_ERR(parse_rc("llee", 4, 1, 0, &err), err, MT_EINVAL, "depth");
    ck_assert_int_eq(parse_rc("llee", 4, 2, 0, &err), 0);
    ck_assert_int_eq(parse_rc("i1e", 3, 1, 0, &err), 0);
    /* Default: 100 levels pass, 101 do not. */
    for (i = 0; i < 100; i++) {
        deep[i] = 'l';
        deep[100 + i] = 'e';
    }
    ck_assert_int_eq(parse_rc(deep, 200, 0, 0, &err), 0);
    memmove(deep + 1, deep, 200);
    deep[0] = 'l';
    deep[201] = 'e';
    T_ERR(parse_rc(deep, 202, 0, 0, &err), err, MT_EINVAL, "depth");

    /* Tokens: "d1:ai1ee" is dict, key, value, end. */
    ck_assert_int_eq(parse_rc("d1:ai1ee", 8, 0, 4, &err), 0);
    T_ERR(parse_rc("d1:ai1ee", 8, 0, 3, &err), err, MT_EINVAL, "limit");
    ck_assert_int_eq(parse_rc("li1ei2ei3ee", 11, 0, 5, &err), 0);
    T_ERR(parse_rc("li1ei2ei3ee", 11, 0, 4, &err), err, MT_EINVAL, "item count");
}
END_TEST

/* ================================================================ benc */

/* Finish b and compare with want (len bytes); frees b. */
static void benc_expect(mt_benc *b, const char *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;
    mt_error err;
    int rc = mt_benc_finish(b, &out, &len, &err);
    ck_assert_msg(rc == 0, "finish: %s", err.message);
    ck_assert_msg(len == want_len && memcmp(out, want, len) == 0, "got '%.*s', want '%.*s'", (int)len,
                  (const char *)out, (int)want_len, want);
    mt_free(out);
    mt_benc_free(b);
}

static mt_benc *benc_new(void)
{
    mt_benc *b = NULL;
    ck_assert_int_eq(mt_benc_new(&b, NULL), 0);
    return b;
}

#define K(b, s) ck_assert_int_eq(mt_benc_key((b), (const uint8_t *)(s), sizeof(s) - 1), 0)
#define S(b, s) ck_assert_int_eq(mt_benc_string((b), (const uint8_t *)(s), sizeof(s) - 1), 0)

START_TEST(benc_nests_and_sorts)
{
    static const char want[] = "d0:i0e1:ali1eld1:xi2eeledeee1:b3:a\0b"
                               "3:zzzi9223372036854775807e1:\xff"
                               "i-9223372036854775808ee";
    mt_benc *b = benc_new();
    ck_assert_int_eq(mt_benc_dict_begin(b), 0);
    /* Given unsorted; bencoded sorted as raw bytes (0xff last). */
    K(b, "\xff");
    ck_assert_int_eq(mt_benc_int(b, INT64_MIN), 0);
    K(b, "zzz");
    ck_assert_int_eq(mt_benc_int(b, INT64_MAX), 0);
    K(b, "b");
    S(b, "a\0b");
    K(b, "a");
    ck_assert_int_eq(mt_benc_list_begin(b), 0);
    ck_assert_int_eq(mt_benc_int(b, 1), 0);
    ck_assert_int_eq(mt_benc_list_begin(b), 0);
    ck_assert_int_eq(mt_benc_dict_begin(b), 0);
    K(b, "x");
    ck_assert_int_eq(mt_benc_int(b, 2), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_list_begin(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_dict_begin(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_key(b, NULL, 0), 0); /* the empty key */
    ck_assert_int_eq(mt_benc_int(b, 0), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    benc_expect(b, want, sizeof want - 1);
}
END_TEST

START_TEST(benc_top_level_values)
{
    mt_benc *b = benc_new();
    ck_assert_int_eq(mt_benc_int(b, -5), 0);
    benc_expect(b, "i-5e", 4);
    b = benc_new();
    ck_assert_int_eq(mt_benc_string(b, NULL, 0), 0);
    benc_expect(b, "0:", 2);
    b = benc_new();
    S(b, "spam");
    benc_expect(b, "4:spam", 6);
    b = benc_new();
    ck_assert_int_eq(mt_benc_list_begin(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    benc_expect(b, "le", 2);
    b = benc_new();
    ck_assert_int_eq(mt_benc_dict_begin(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    benc_expect(b, "de", 2);
}
END_TEST

/* Build something wrong with `bad`, check every later call and finish
 * report the first error. */
static void benc_misuse(void (*bad)(mt_benc *), int code, const char *part)
{
    mt_benc *b = benc_new();
    uint8_t *out = (uint8_t *)"x";
    size_t len = 9;
    mt_error err;
    bad(b);
    ck_assert_int_eq(mt_benc_int(b, 1), code);
    ck_assert_int_eq(mt_benc_end(b), code);
    T_ERR(mt_benc_finish(b, &out, &len, &err), err, code, part);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    mt_benc_free(b);
}

static void value_without_key(mt_benc *b)
{
    mt_benc_dict_begin(b);
    ck_assert_int_eq(mt_benc_int(b, 1), MT_EINVAL);
}
static void end_nothing_open(mt_benc *b)
{
    ck_assert_int_eq(mt_benc_end(b), MT_EINVAL);
}
static void key_outside_dict(mt_benc *b)
{
    mt_benc_list_begin(b);
    ck_assert_int_eq(mt_benc_key(b, (const uint8_t *)"k", 1), MT_EINVAL);
}
static void two_keys(mt_benc *b)
{
    mt_benc_dict_begin(b);
    mt_benc_key(b, (const uint8_t *)"k", 1);
    ck_assert_int_eq(mt_benc_key(b, (const uint8_t *)"l", 1), MT_EINVAL);
}
static void repeated_key(mt_benc *b)
{
    mt_benc_dict_begin(b);
    mt_benc_key(b, (const uint8_t *)"k", 1);
    mt_benc_int(b, 1);
    ck_assert_int_eq(mt_benc_key(b, (const uint8_t *)"k", 1), MT_EINVAL);
}
static void key_without_value(mt_benc *b)
{
    mt_benc_dict_begin(b);
    mt_benc_key(b, (const uint8_t *)"k", 1);
    ck_assert_int_eq(mt_benc_end(b), MT_EINVAL);
}
static void second_top_level(mt_benc *b)
{
    mt_benc_int(b, 1);
    ck_assert_int_eq(mt_benc_string(b, (const uint8_t *)"x", 1), MT_EINVAL);
}
static void null_string(mt_benc *b)
{
    ck_assert_int_eq(mt_benc_string(b, NULL, 3), MT_EINVAL);
}
static void too_deep(mt_benc *b)
{
    int i;
    for (i = 0; i < MT_BENC_MAX_DEPTH; i++)
        ck_assert_int_eq(mt_benc_list_begin(b), 0);
    ck_assert_int_eq(mt_benc_list_begin(b), MT_ETOOBIG);
}

START_TEST(benc_misuse_is_sticky)
{
    mt_benc *b;
    uint8_t *out;
    size_t len;
    mt_error err;

    benc_misuse(value_without_key, MT_EINVAL, "needs a key");
    benc_misuse(end_nothing_open, MT_EINVAL, "end without an open");
    benc_misuse(key_outside_dict, MT_EINVAL, "key outside a dict");
    benc_misuse(two_keys, MT_EINVAL, "two keys in a row");
    benc_misuse(repeated_key, MT_EINVAL, "repeated");
    benc_misuse(key_without_value, MT_EINVAL, "last key has no value");
    benc_misuse(second_top_level, MT_EINVAL, "second top-level value");
    benc_misuse(null_string, MT_EINVAL, "string is NULL");
    benc_misuse(too_deep, MT_ETOOBIG, "deeper than 1000");

    /* Not errors of a call, but of finishing. */
    b = benc_new();
    T_ERR(mt_benc_finish(b, &out, &len, &err), err, MT_EINVAL, "nothing to encode");
    mt_benc_dict_begin(b);
    mt_benc_key(b, (const uint8_t *)"a", 1);
    mt_benc_list_begin(b);
    T_ERR(mt_benc_finish(b, &out, &len, &err), err, MT_EINVAL, "2 list(s)/dict(s) still open");
    /* ...and the builder can still be completed. */
    ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_end(b), 0);
    benc_expect(b, "d1:alee", 7);

    /* 1000 levels are fine. */
    b = benc_new();
    for (int i = 0; i < MT_BENC_MAX_DEPTH; i++)
        mt_benc_list_begin(b);
    for (int i = 0; i < MT_BENC_MAX_DEPTH; i++)
        ck_assert_int_eq(mt_benc_end(b), 0);
    ck_assert_int_eq(mt_benc_finish(b, &out, &len, &err), 0);
    ck_assert_uint_eq(len, 2 * MT_BENC_MAX_DEPTH);
    mt_free(out);
    mt_benc_free(b);

    ck_assert_int_eq(mt_benc_new(NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_benc_int(NULL, 1), MT_EINVAL);
    mt_benc_free(NULL);
}
END_TEST

START_TEST(benc_output_is_canonical_and_reparses)
{
    mt_benc *b = benc_new();
    uint8_t *out = NULL;
    size_t len = 0;
    mt_bdoc *d = NULL;
    const uint8_t *k;
    size_t klen;
    mt_error err;
    int64_t v;

    mt_benc_dict_begin(b);
    for (int i = 20; i > 0; i--) {
        char key[8];
        snprintf(key, sizeof key, "k%02d", i);
        mt_benc_key(b, (const uint8_t *)key, strlen(key));
        mt_benc_int(b, i);
    }
    mt_benc_end(b);
    ck_assert_int_eq(mt_benc_finish(b, &out, &len, &err), 0);
    ck_assert_int_eq(mt_bencode_check(out, len, &err), 0);
    ck_assert_int_eq(mt_bdoc_parse(out, len, 0, 0, &d, &err), 0);
    ck_assert_int_eq(mt_bdoc_dict_size(d, 0), 20);
    for (int i = 0; i < 20; i++) {
        int h = mt_bdoc_dict_at(d, 0, i, &k, &klen);
        char key[8];
        snprintf(key, sizeof key, "k%02d", i + 1);
        ck_assert(klen == 3 && memcmp(k, key, 3) == 0);
        ck_assert_int_eq(mt_bdoc_int(d, h, &v), 0);
        ck_assert_int_eq(v, i + 1);
    }
    mt_bdoc_free(d);
    mt_free(out);
    mt_benc_free(b);
}
END_TEST

START_TEST(url_rule)
{
    ck_assert(mt_url_is_http("http://a"));
    ck_assert(mt_url_is_http("https://seed.example/feed/"));
    ck_assert(!mt_url_is_http("ftp://a"));
    ck_assert(!mt_url_is_http("http://"));
    ck_assert(!mt_url_is_http("http:///x"));
    ck_assert(!mt_url_is_http("http://a b"));
    ck_assert(!mt_url_is_http("HTTP://a"));
    ck_assert(!mt_url_is_http(NULL));
}
END_TEST

/* ============================================================= pointer */

static const uint8_t IH[20] = "0123456789abcdefghij"; /* bytes 0x30.. */

static void ptr_decode_ok(const void *v, size_t len, mt_pointer *p)
{
    mt_error err;
    int rc = mt_pointer_decode(v, len, p, &err);
    ck_assert_msg(rc == 0, "decode '%.*s': %s", (int)len, (const char *)v, err.message);
}

/* Decoding fails with code, naming `part`, and leaves out empty. */
static void ptr_decode_bad(const void *v, size_t len, int code, const char *part)
{
    mt_pointer p;
    mt_error err;
    memset(&p, 0x5a, sizeof p);
    T_ERR(mt_pointer_decode(v, len, &p, &err), err, code, part);
    ck_assert(p.ws == NULL && p.json == NULL && p.n_ws == 0 && p.ts == 0 && !p.is_inline);
}
#define PTR_BAD(lit, code, part) ptr_decode_bad((lit), sizeof(lit) - 1, (code), (part))

START_TEST(pointer_exact_bytes)
{
    static const char want[] = "d2:ih20:0123456789abcdefghij2:tsi1700000000e"
                               "2:wsl26:https://seed.example/feed/23:http://127.0.0.1:8080/xee";
    const char *ws[] = {"https://seed.example/feed/", "http://127.0.0.1:8080/x"};
    uint8_t *v = NULL;
    size_t len = 0;
    mt_error err;
    mt_pointer p;

    ck_assert_int_eq(mt_pointer_encode(IH, 1700000000, ws, 2, &v, &len, &err), 0);
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert(memcmp(v, want, len) == 0);

    ptr_decode_ok(v, len, &p);
    ck_assert(!p.is_inline);
    ck_assert(memcmp(p.ih, IH, 20) == 0);
    ck_assert_int_eq(p.ts, 1700000000);
    ck_assert_uint_eq(p.n_ws, 2);
    ck_assert_str_eq(p.ws[0], ws[0]); /* list order is kept */
    ck_assert_str_eq(p.ws[1], ws[1]);
    ck_assert_ptr_null(p.json);
    mt_pointer_clear(&p);
    mt_pointer_clear(&p); /* idempotent */
    mt_pointer_clear(NULL);
    mt_free(v);

    /* No web seeds: no "ws" key at all. */
    ck_assert_int_eq(mt_pointer_encode(IH, 0, NULL, 0, &v, &len, &err), 0);
    ck_assert_uint_eq(len, strlen("d2:ih20:0123456789abcdefghij2:tsi0ee"));
    ck_assert(memcmp(v, "d2:ih20:0123456789abcdefghij2:tsi0ee", len) == 0);
    mt_free(v);
}
END_TEST

START_TEST(pointer_round_trips)
{
    uint8_t ih[20];
    const char *ws[MT_POINTER_WS_MAX];
    char urls[MT_POINTER_WS_MAX][40];
    uint8_t *v = NULL;
    size_t len = 0;
    mt_error err;
    mt_pointer p;
    size_t n;

    for (int i = 0; i < 20; i++)
        ih[i] = (uint8_t)(0xf0 + i); /* high bytes, and 0x00 at i = 16 */
    for (int i = 0; i < MT_POINTER_WS_MAX; i++) {
        snprintf(urls[i], sizeof urls[i], "https://s%d.example/f/", i);
        ws[i] = urls[i];
    }
    for (n = 0; n <= MT_POINTER_WS_MAX; n += 4) {
        int64_t ts = n == 16 ? INT64_MAX : (int64_t)n * 1000;
        ck_assert_int_eq(mt_pointer_encode(ih, ts, ws, n, &v, &len, &err), 0);
        ck_assert_int_eq(mt_bencode_check(v, len, &err), 0);
        ptr_decode_ok(v, len, &p);
        ck_assert(memcmp(p.ih, ih, 20) == 0);
        ck_assert(p.ts == ts);
        ck_assert_uint_eq(p.n_ws, n);
        for (size_t i = 0; i < n; i++)
            ck_assert_str_eq(p.ws[i], ws[i]);
        mt_pointer_clear(&p);
        mt_free(v);
    }
}
END_TEST

/* "d2:ih20:<ih>2:tsi<ts>e2:wsl<u1><u2>ee" written out by hand. */
static size_t hand_pointer(char *buf, size_t cap, long long ts, const char *u1, const char *u2)
{
    int n = snprintf(buf, cap, "d2:ih20:%.20s2:tsi%llde2:wsl%zu:%s%zu:%see", (const char *)IH, ts, strlen(u1), u1,
                     strlen(u2), u2);
    ck_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static void make_url(char *buf, size_t len)
{
    static const char head[] = "https://seed.example/";
    memcpy(buf, head, sizeof head - 1);
    memset(buf + sizeof head - 1, 'a', len - (sizeof head - 1));
    buf[len] = '\0';
}

START_TEST(pointer_1000_byte_limit)
{
    char u1[MT_POINTER_URL_MAX + 1], u2[MT_POINTER_URL_MAX + 1], hand[1100];
    const char *ws[2] = {u1, u2};
    uint8_t *v = (uint8_t *)"x";
    size_t len = 0, hlen, l2;
    mt_error err;
    mt_pointer p;

    /* 42 bytes of frame + "500:" + 500 + "NNN:" + l2 = 999 -> l2 = 449. */
    make_url(u1, 500);
    l2 = 999 - 42 - 504 - 4;
    ck_assert_uint_eq(l2, 449);
    make_url(u2, l2);
    ck_assert_int_eq(mt_pointer_encode(IH, 0, ws, 2, &v, &len, &err), 0);
    ck_assert_uint_eq(len, 999);
    hlen = hand_pointer(hand, sizeof hand, 0, u1, u2);
    ck_assert(hlen == 999 && memcmp(hand, v, 999) == 0);
    ptr_decode_ok(v, len, &p);
    ck_assert_uint_eq(strlen(p.ws[1]), 449);
    mt_pointer_clear(&p);
    mt_free(v);

    /* One byte more is refused on both sides, before anything is put. */
    make_url(u2, l2 + 1);
    T_ERR(mt_pointer_encode(IH, 0, ws, 2, &v, &len, &err), err, MT_ETOOBIG, "would be 1000 bytes");
    ck_assert(strstr(err.message, "999") != NULL);
    ck_assert_ptr_null(v);
    make_url(u2, l2);
    T_ERR(mt_pointer_encode(IH, 10, ws, 2, &v, &len, &err), err, MT_ETOOBIG, "1000");
    hlen = hand_pointer(hand, sizeof hand, 10, u1, u2);
    ck_assert_uint_eq(hlen, 1000);
    ptr_decode_bad(hand, hlen, MT_ETOOBIG, "1000 bytes");
}
END_TEST

START_TEST(pointer_plain_bep46_and_unknown_keys)
{
    static const char bep46[] = "d2:ih20:\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
                                "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
                                "e";
    static const char later[] = "d1:ali1ed1:xleee2:ih20:0123456789abcdefghij"
                                "2:tsi5e2:zz3:new"
                                "e";
    mt_pointer p;

    ptr_decode_ok(bep46, sizeof bep46 - 1, &p);
    ck_assert(!p.is_inline);
    for (int i = 0; i < 20; i++)
        ck_assert_uint_eq(p.ih[i], 0xaa);
    ck_assert_int_eq(p.ts, 0);
    ck_assert_uint_eq(p.n_ws, 0);
    ck_assert_ptr_null(p.ws);
    mt_pointer_clear(&p);

    /* Forward compatibility: keys we do not know are skipped. */
    ptr_decode_ok(later, sizeof later - 1, &p);
    ck_assert(memcmp(p.ih, IH, 20) == 0);
    ck_assert_int_eq(p.ts, 5);
    mt_pointer_clear(&p);

    /* An empty ws list is no web seeds. */
    ptr_decode_ok("d2:ih20:0123456789abcdefghij2:wslee", 35, &p);
    ck_assert_uint_eq(p.n_ws, 0);
    mt_pointer_clear(&p);
}
END_TEST

START_TEST(pointer_inline_form)
{
    static const char json[] = "{\"publicKey\":\"ab\",\"sequence\":1}";
    char big[1100];
    uint8_t *v = NULL;
    size_t len = 0;
    mt_error err;
    mt_pointer p;

    ck_assert_int_eq(mt_pointer_encode_inline(json, sizeof json - 1, &v, &len, &err), 0);
    ck_assert_uint_eq(len, 3 + sizeof json - 1);
    ck_assert(memcmp(v, "31:{\"publicKey\"", 15) == 0);
    ptr_decode_ok(v, len, &p);
    ck_assert(p.is_inline);
    ck_assert_uint_eq(p.json_len, sizeof json - 1);
    ck_assert_str_eq(p.json, json);
    ck_assert_uint_eq(p.n_ws, 0);
    mt_pointer_clear(&p);
    mt_free(v);

    /* JSON whitespace may come first. */
    ptr_decode_ok("6: \t\r\n{}", 8, &p);
    ck_assert_str_eq(p.json, " \t\r\n{}");
    mt_pointer_clear(&p);

    /* 999 bytes bencoded ("995:" + 995) fit; 1000 do not. */
    big[0] = '{';
    memset(big + 1, ' ', 993);
    big[994] = '}';
    ck_assert_int_eq(mt_pointer_encode_inline(big, 995, &v, &len, &err), 0);
    ck_assert_uint_eq(len, 999);
    ptr_decode_ok(v, len, &p);
    ck_assert_uint_eq(p.json_len, 995);
    mt_pointer_clear(&p);
    mt_free(v);
    memset(big + 994, ' ', 1);
    big[995] = '}';
    T_ERR(mt_pointer_encode_inline(big, 996, &v, &len, &err), err, MT_ETOOBIG, "1000 bytes");
    memmove(big + 4, big, 996);
    memcpy(big, "996:", 4);
    ptr_decode_bad(big, 1000, MT_ETOOBIG, "1000");
    memset(big, '{', sizeof big);
    T_ERR(mt_pointer_encode_inline(big, sizeof big, &v, &len, &err), err, MT_ETOOBIG, "1100 bytes");

    /* What the decoder refuses, the encoder refuses too. */
    T_ERR(mt_pointer_encode_inline("", 0, &v, &len, &err), err, MT_EINVAL, "empty");
    T_ERR(mt_pointer_encode_inline("[1]", 3, &v, &len, &err), err, MT_EINVAL, "not a JSON object");
    T_ERR(mt_pointer_encode_inline("  ", 2, &v, &len, &err), err, MT_EINVAL, "not a JSON object");
    T_ERR(mt_pointer_encode_inline("{\0}", 3, &v, &len, &err), err, MT_EINVAL, "NUL");
    T_ERR(mt_pointer_encode_inline(NULL, 0, &v, &len, &err), err, MT_EINVAL, "required");
    PTR_BAD("0:", MT_EINVAL, "inline manifest is empty");
    PTR_BAD("5:hello", MT_EINVAL, "not a JSON object");
    PTR_BAD("3:   ", MT_EINVAL, "not a JSON object");
    PTR_BAD("3:{\0}", MT_EINVAL, "NUL");
}
END_TEST

START_TEST(pointer_malformed_values)
{
    char b513[600];
    char many[1000];
    size_t n;

    PTR_BAD("", MT_EINVAL, "empty");
    PTR_BAD("de", MT_EINVAL, "ih is missing");
    PTR_BAD("d2:ts1:xe", MT_EINVAL, "ih is missing");
    PTR_BAD("d2:ih19:0123456789abcdefghie", MT_EINVAL, "ih is 19 bytes");
    PTR_BAD("d2:ih21:0123456789abcdefghijke", MT_EINVAL, "ih is 21 bytes");
    PTR_BAD("d2:ihi5ee", MT_EINVAL, "ih must be a byte string");
    PTR_BAD("d2:ihle", MT_EINVAL, "bencoding"); /* not even valid */
    PTR_BAD("d2:ihlee", MT_EINVAL, "ih must be a byte string");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:ts1:5e", MT_EINVAL, "ts must be an integer");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:tsi-1ee", MT_EINVAL, "ts is negative");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:tsi99999999999999999999ee", MT_EINVAL, "canonical");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:ws3:urle", MT_EINVAL, "ws must be a list");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:wsli1eee", MT_EINVAL, "ws[0] must be a string");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:wsl8:http://a10:ftp://a/b/ee", MT_EINVAL, "ws[1] is not an http(s) URL");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:wsl7:http://ee", MT_EINVAL, "ws[0] is not an http(s) URL");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:wsl10:http://a bee", MT_EINVAL, "ws[0] is not");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:wsl9:http://a\0ee", MT_EINVAL, "ws[0] contains a NUL");
    PTR_BAD("i1e", MT_EINVAL, "must be a dict");
    PTR_BAD("le", MT_EINVAL, "must be a dict");
    /* Canonical bencoding only: signatures cover these exact bytes. */
    PTR_BAD("d2:ts1:02:ih20:0123456789abcdefghije", MT_EINVAL, "not canonical");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:tsi05ee", MT_EINVAL, "not canonical");
    PTR_BAD("d2:ih20:0123456789abcdefghij2:ih20:0123456789abcdefghije", MT_EINVAL, "not canonical");
    PTR_BAD("d2:ih20:0123456789abcdefghije ", MT_EINVAL, "pointer: value is not canonical");
    PTR_BAD("d2:ih20:0123456789abcdefghij", MT_EINVAL, "not valid bencoding");
    PTR_BAD("x", MT_EINVAL, "pointer:");

    /* 513-byte URL: over the per-URL limit (the value itself is < 1000). */
    n = (size_t)snprintf(b513, sizeof b513, "d2:ih20:0123456789abcdefghij2:wsl513:https://seed.example/");
    memset(b513 + n, 'a', 513 - 21);
    n += 513 - 21;
    memcpy(b513 + n, "ee", 2);
    ptr_decode_bad(b513, n + 2, MT_EINVAL, "ws[0] is 513 bytes");

    /* 17 web seeds. */
    n = (size_t)snprintf(many, sizeof many, "d2:ih20:0123456789abcdefghij2:wsl");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "8:http://a");
    n += (size_t)snprintf(many + n, sizeof many - n, "ee");
    ptr_decode_bad(many, n, MT_EINVAL, "ws has 17 URLs");
}
END_TEST

START_TEST(pointer_encode_refuses)
{
    char u[MT_POINTER_URL_MAX + 2];
    const char *ws[MT_POINTER_WS_MAX + 1];
    uint8_t *v = NULL;
    size_t len = 0;
    mt_error err;

    for (int i = 0; i <= MT_POINTER_WS_MAX; i++)
        ws[i] = "http://a";
    T_ERR(mt_pointer_encode(IH, -1, NULL, 0, &v, &len, &err), err, MT_EINVAL, "ts is negative");
    T_ERR(mt_pointer_encode(IH, 0, ws, MT_POINTER_WS_MAX + 1, &v, &len, &err), err, MT_EINVAL, "17 web seeds");
    ck_assert_int_eq(mt_pointer_encode(IH, 0, ws, MT_POINTER_WS_MAX, &v, &len, &err), 0);
    mt_free(v);
    ws[3] = "ftp://a";
    T_ERR(mt_pointer_encode(IH, 0, ws, 4, &v, &len, &err), err, MT_EINVAL, "ws[3] is not an http(s) URL");
    ws[3] = "https://a/ b";
    T_ERR(mt_pointer_encode(IH, 0, ws, 4, &v, &len, &err), err, MT_EINVAL, "ws[3]");
    ws[3] = NULL;
    T_ERR(mt_pointer_encode(IH, 0, ws, 4, &v, &len, &err), err, MT_EINVAL, "ws[3] is NULL");
    make_url(u, MT_POINTER_URL_MAX + 1);
    ws[0] = u;
    T_ERR(mt_pointer_encode(IH, 0, ws, 1, &v, &len, &err), err, MT_EINVAL, "ws[0] is 513 bytes");
    make_url(u, MT_POINTER_URL_MAX);
    ck_assert_int_eq(mt_pointer_encode(IH, 0, ws, 1, &v, &len, &err), 0);
    mt_free(v);
    T_ERR(mt_pointer_encode(NULL, 0, NULL, 0, &v, &len, &err), err, MT_EINVAL, "required");
    T_ERR(mt_pointer_encode(IH, 0, NULL, 1, &v, &len, &err), err, MT_EINVAL, "required");
    T_ERR(mt_pointer_decode((const uint8_t *)"de", 2, NULL, &err), err, MT_EINVAL, "required");
}
END_TEST

/* ============================================================ feedaddr */

#define BEP46_PK "8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e"
#define BEP46_PK_UPPER "8543D3E6115F0F98C944077A4493DCD543E49C739FD998550A1F614AB36ED63E"
#define RK "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void fa_ok(const char *s, mt_feedaddr *a)
{
    mt_error err;
    int rc = mt_feedaddr_parse(s, a, &err);
    ck_assert_msg(rc == 0, "parse '%s': %s", s, err.message);
}

static void fa_bad(const char *s, int code, const char *part)
{
    mt_feedaddr a;
    mt_error err;
    memset(&a, 0x5a, sizeof a);
    T_ERR(mt_feedaddr_parse(s, &a, &err), err, code, part);
    ck_assert(a.salt_len == 0 && !a.has_read_key && a.pk[0] == 0);
}

static void fa_target_is(const char *s, const char *want_hex)
{
    mt_feedaddr a;
    uint8_t t[20];
    fa_ok(s, &a);
    ck_assert_int_eq(mt_feedaddr_target(&a, t, NULL), 0);
    t_assert_hex(t, 20, want_hex);
}

START_TEST(feedaddr_bep46_vectors)
{
    /* BEP-46 "test vectors": target = SHA-1(pk || salt); the salted one is
     * the BEP's salt "n". All three rechecked with Python's hashlib. */
    fa_target_is("magnet:?xs=urn:btpk:" BEP46_PK, "cc3f9d90b572172053626f9980ce261a850d050b");
    fa_target_is(BEP46_PK, "cc3f9d90b572172053626f9980ce261a850d050b");
    fa_target_is("megatorrent://" BEP46_PK, "cc3f9d90b572172053626f9980ce261a850d050b");
    fa_target_is("magnet:?xs=urn:btpk:" BEP46_PK "&s=6e", "59ee7c2cb9b4f7eb1986ee2d18fd2fdb8a56554f");
    fa_target_is("magnet:?xs=urn:btpk:" BEP46_PK "&s=666f6f626172", "2a276f6663cc0c101224a055cef7ee593d305266");
}
END_TEST

START_TEST(feedaddr_forms_and_round_trips)
{
    mt_feedaddr a, b;
    char out[MT_FEEDADDR_STR_MAX];
    mt_error err;
    uint8_t pk[32];

    t_hex(BEP46_PK, pk, 32);

    fa_ok("magnet:?xs=urn:btpk:" BEP46_PK "&s=666f6f626172", &a);
    ck_assert(memcmp(a.pk, pk, 32) == 0);
    ck_assert_uint_eq(a.salt_len, 6);
    ck_assert(memcmp(a.salt, "foobar", 6) == 0);
    ck_assert(!a.has_read_key);
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "magnet:?xs=urn:btpk:" BEP46_PK "&s=666f6f626172");
    fa_ok(out, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    T_ERR(mt_feedaddr_format_uri(&a, out, sizeof out, &err), err, MT_EINVAL, "salt");

    fa_ok(BEP46_PK, &a);
    ck_assert(memcmp(a.pk, pk, 32) == 0 && a.salt_len == 0 && !a.has_read_key);
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "magnet:?xs=urn:btpk:" BEP46_PK); /* no "&s=" */
    ck_assert_int_eq(mt_feedaddr_format_uri(&a, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "megatorrent://" BEP46_PK);
    fa_ok(out, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);

    fa_ok("megatorrent://" BEP46_PK ":" RK, &a);
    ck_assert(a.has_read_key);
    t_assert_hex(a.read_key, 32, RK);
    ck_assert_int_eq(mt_feedaddr_format_uri(&a, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "megatorrent://" BEP46_PK ":" RK);
    fa_ok(out, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    /* The magnet is the public address: no read key in it. */
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "magnet:?xs=urn:btpk:" BEP46_PK);

    /* A 64-byte salt is the longest form; it fits MT_FEEDADDR_STR_MAX. */
    memset(&a, 0, sizeof a);
    memset(a.salt, 0xab, 64);
    a.salt_len = 64;
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, sizeof out, &err), 0);
    ck_assert_uint_eq(strlen(out), 215);
    fa_ok(out, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
}
END_TEST

START_TEST(feedaddr_case_order_and_encoding)
{
    mt_feedaddr a;
    char out[MT_FEEDADDR_STR_MAX];

    fa_ok("MAGNET:?xs=URN:BTPK:" BEP46_PK_UPPER "&s=6E", &a);
    ck_assert_uint_eq(a.salt_len, 1);
    ck_assert_uint_eq(a.salt[0], 'n');
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, sizeof out, NULL), 0);
    ck_assert_str_eq(out, "magnet:?xs=urn:btpk:" BEP46_PK "&s=6e"); /* lower-case out */
    fa_ok("Megatorrent://" BEP46_PK_UPPER ":" RK, &a);
    t_assert_hex(a.read_key, 32, RK);
    fa_ok(BEP46_PK_UPPER, &a);
    ck_assert_uint_eq(a.pk[0], 0x85);

    /* Any order; other parameters ignored; other xs values too. */
    fa_ok("magnet:?dn=My%20Feed&s=6e&tr=udp%3A%2F%2Ft.example%3A80&xs=urn:btpk:" BEP46_PK
          "&xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xs=http%3A%2F%2Fa%2Fx.torrent&&",
          &a);
    ck_assert_uint_eq(a.salt_len, 1);
    ck_assert_uint_eq(a.pk[31], 0x3e);

    /* Percent-encoded values, in either case. */
    fa_ok("magnet:?xs=urn%3Abtpk%3a" BEP46_PK "&s=%36%65", &a);
    ck_assert_uint_eq(a.salt_len, 1);
    ck_assert_uint_eq(a.salt[0], 'n');
    fa_ok("magnet:?%78s=urn:btpk:" BEP46_PK, &a); /* even the name */
}
END_TEST

START_TEST(feedaddr_errors)
{
    char big[1100];
    size_t n;

    fa_bad("", MT_EINVAL, "empty");
    fa_bad(" " BEP46_PK, MT_EINVAL, "whitespace");
    fa_bad(BEP46_PK "\n", MT_EINVAL, "whitespace");
    fa_bad("hello", MT_EINVAL, "expected magnet:?xs=urn:btpk:");
    fa_bad("8543d3e6", MT_EINVAL, "public key is 8 characters; 64 hex digits expected");
    fa_bad(BEP46_PK "0", MT_EINVAL, "65 characters");
    fa_bad("magnet:xs=urn:btpk:" BEP46_PK, MT_EINVAL, "no '?'");
    fa_bad("magnet:", MT_EINVAL, "no '?'");
    fa_bad("magnet:?", MT_EINVAL, "no xs=urn:btpk:");
    fa_bad("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a", MT_EINVAL, "no xs=urn:btpk:");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&xs=urn:btpk:" BEP46_PK, MT_EINVAL, "more than one xs=urn:btpk:");
    fa_bad("magnet:?xs=urn:btpk:8543", MT_EINVAL, "is 4 characters");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "0", MT_EINVAL, "65 characters");
    fa_bad("magnet:?xs=urn:btpk:g543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e", MT_EINVAL,
           "not hex");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s=6", MT_EINVAL, "odd number (1) of hex digits");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s=", MT_EINVAL, "s= (salt) is empty");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s", MT_EINVAL, "s= (salt) is empty");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s=zz", MT_EINVAL, "salt (s=) is not hex");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s=6e&s=6e", MT_EINVAL, "more than one s=");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&s=%6", MT_EINVAL, "bad percent-encoding");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "&dn=%zz", MT_EINVAL, "bad percent-encoding in magnet parameter 'dn=%zz'");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "%", MT_EINVAL, "bad percent-encoding");
    fa_bad("magnet:?xs=urn:btpk:" BEP46_PK "%00", MT_EINVAL, "65 characters");
    fa_bad("megatorrent:" BEP46_PK, MT_EINVAL, "expected megatorrent://");
    fa_bad("megatorrent://", MT_EINVAL, "public key is 0 characters");
    fa_bad("megatorrent://" BEP46_PK ":", MT_EINVAL, "read key is 0 characters");
    fa_bad("megatorrent://" BEP46_PK ":0011", MT_EINVAL, "read key is 4 characters");
    fa_bad("megatorrent://" BEP46_PK ":" RK ":" RK, MT_EINVAL, "read key is 129 characters");
    fa_bad("megatorrent://" BEP46_PK ":x0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", MT_EINVAL,
           "read key is not hex");
    fa_bad("megatorrent://" BEP46_PK "/", MT_EINVAL, "65 characters");
    fa_bad("megatorrent://" BEP46_PK "?s=6e", MT_EINVAL, "public key is 69 characters");

    /* A 65-byte salt. */
    n = (size_t)snprintf(big, sizeof big, "magnet:?xs=urn:btpk:" BEP46_PK "&s=");
    memset(big + n, 'a', 130);
    big[n + 130] = '\0';
    fa_bad(big, MT_EINVAL, "salt is 65 bytes; BEP-46 allows 64");
    big[n + 128] = '\0';
    {
        mt_feedaddr a;
        fa_ok(big, &a);
        ck_assert_uint_eq(a.salt_len, 64);
    }

    /* 1024 bytes are read (a long dn); 1025 are refused unread. */
    n = (size_t)snprintf(big, sizeof big, "magnet:?xs=urn:btpk:" BEP46_PK "&dn=");
    memset(big + n, 'x', 1024 - n);
    big[1024] = '\0';
    {
        mt_feedaddr a;
        fa_ok(big, &a);
    }
    big[1024] = 'x';
    big[1025] = '\0';
    fa_bad(big, MT_ETOOBIG, "over 1024 bytes");
    {
        mt_error err;
        mt_feedaddr a;
        T_ERR(mt_feedaddr_parse(NULL, &a, &err), err, MT_EINVAL, "required");
        T_ERR(mt_feedaddr_parse(BEP46_PK, NULL, &err), err, MT_EINVAL, "required");
    }
}
END_TEST

START_TEST(feedaddr_format_errors)
{
    mt_feedaddr a;
    char out[MT_FEEDADDR_STR_MAX];
    mt_error err;
    uint8_t t[20];
    size_t need;

    fa_ok("magnet:?xs=urn:btpk:" BEP46_PK "&s=6e", &a);
    need = strlen("magnet:?xs=urn:btpk:" BEP46_PK "&s=6e") + 1;
    ck_assert_int_eq(mt_feedaddr_format_magnet(&a, out, need, &err), 0);
    T_ERR(mt_feedaddr_format_magnet(&a, out, need - 1, &err), err, MT_ETOOBIG, "bytes needed");
    ck_assert_str_eq(out, ""); /* never a cut-off address */
    T_ERR(mt_feedaddr_format_magnet(&a, NULL, 0, &err), err, MT_ETOOBIG, "90 bytes needed");

    fa_ok("megatorrent://" BEP46_PK ":" RK, &a);
    need = strlen("megatorrent://" BEP46_PK ":" RK) + 1;
    ck_assert_int_eq(mt_feedaddr_format_uri(&a, out, need, &err), 0);
    T_ERR(mt_feedaddr_format_uri(&a, out, need - 1, &err), err, MT_ETOOBIG, "144 bytes needed");

    a.salt_len = 65;
    T_ERR(mt_feedaddr_format_magnet(&a, out, sizeof out, &err), err, MT_EINVAL, "salt is 65 bytes");
    T_ERR(mt_feedaddr_target(&a, t, &err), err, MT_EINVAL, "salt is 65 bytes");
    T_ERR(mt_feedaddr_format_uri(NULL, out, sizeof out, &err), err, MT_EINVAL, "required");
    T_ERR(mt_feedaddr_target(NULL, t, &err), err, MT_EINVAL, "required");
}
END_TEST

static Suite *pointer_suite(void)
{
    Suite *s = suite_create("pointer");
    TCase *bc = tcase_create("bencode");
    TCase *pt = tcase_create("pointer");
    TCase *fa = tcase_create("feedaddr");
    tcase_add_test(bc, bdoc_walks_nested_values);
    tcase_add_test(bc, bdoc_integers_in_range);
    tcase_add_test(bc, bdoc_refuses_bad_input);
    tcase_add_test(bc, bdoc_limits);
    tcase_add_test(bc, benc_nests_and_sorts);
    tcase_add_test(bc, benc_top_level_values);
    tcase_add_test(bc, benc_misuse_is_sticky);
    tcase_add_test(bc, benc_output_is_canonical_and_reparses);
    tcase_add_test(bc, url_rule);
    suite_add_tcase(s, bc);
    tcase_add_test(pt, pointer_exact_bytes);
    tcase_add_test(pt, pointer_round_trips);
    tcase_add_test(pt, pointer_1000_byte_limit);
    tcase_add_test(pt, pointer_plain_bep46_and_unknown_keys);
    tcase_add_test(pt, pointer_inline_form);
    tcase_add_test(pt, pointer_malformed_values);
    tcase_add_test(pt, pointer_encode_refuses);
    suite_add_tcase(s, pt);
    tcase_add_test(fa, feedaddr_bep46_vectors);
    tcase_add_test(fa, feedaddr_forms_and_round_trips);
    tcase_add_test(fa, feedaddr_case_order_and_encoding);
    tcase_add_test(fa, feedaddr_errors);
    tcase_add_test(fa, feedaddr_format_errors);
    suite_add_tcase(s, fa);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pointer_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
