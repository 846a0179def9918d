/*
 * check_json.c - strict JSON parsing and RFC 8785 (JCS) canonical JSON:
 * the RFC's own samples, every rejection class with its exact message,
 * and a round-trip property over generated documents.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_json.h"

#define T_MAX_BYTES (1u << 20)
#define T_DEPTH 64

/* Parse text (len bytes) strictly or fail the test with the message. */
static cJSON *t_parse_n(const char *text, size_t len, unsigned flags)
{
    cJSON *v = (cJSON *)1;
    mt_error err;
    int rc = mt_json_parse(text, len, flags, T_MAX_BYTES, T_DEPTH, &v, &err);
    ck_assert_msg(rc == 0, "parse of <%.*s> failed: %d %s", (int)len, text, rc, err.message);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* Canonical text of v (caller frees), checking the length out-parameter. */
static char *t_canon(const cJSON *v)
{
    char *out = NULL;
    size_t n = 12345;
    mt_error err;
    int rc = mt_json_canonical(v, &out, &n, &err);
    ck_assert_msg(rc == 0, "canonical failed: %d %s", rc, err.message);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, strlen(out));
    return out;
}

/* canonical(parse(text)) is exactly want, and canonicalizing that again changes nothing. */
static void t_canon_eq_n(const char *text, size_t len, unsigned flags, const char *want)
{
    cJSON *v = t_parse_n(text, len, flags), *v2;
    char *c1 = t_canon(v), *c2;
    ck_assert_str_eq(c1, want);
    v2 = t_parse_n(c1, strlen(c1), flags);
    c2 = t_canon(v2);
    ck_assert_str_eq(c2, c1);
    free(c2);
    free(c1);
    cJSON_Delete(v2);
    cJSON_Delete(v);
}

static void t_canon_eq(const char *text, const char *want)
{
    t_canon_eq_n(text, strlen(text), 0, want);
}

/* Parsing fails with code and, if msg is given, exactly that message; *out stays NULL. */
static void t_reject_full(const char *text, size_t len, unsigned flags, size_t max_bytes, int depth, int code,
                          const char *msg)
{
    cJSON *v = (cJSON *)1;
    mt_error err;
    int rc;
    mt_error_clear(&err);
    rc = mt_json_parse(text, len, flags, max_bytes, depth, &v, &err);
    ck_assert_msg(rc == code, "parse of <%.*s> gave %d (%s), expected %d", (int)len, text, rc, err.message, code);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(err.message[0] != '\0', "no message for <%.*s>", (int)len, text);
    if (msg)
        ck_assert_str_eq(err.message, msg);
}

static void t_reject_n(const char *text, size_t len, unsigned flags, const char *msg)
{
    t_reject_full(text, len, flags, T_MAX_BYTES, T_DEPTH, MT_EINVAL, msg);
}

static void t_reject(const char *text, const char *msg)
{
    t_reject_n(text, strlen(text), 0, msg);
}

/* Canonicalizing v fails with MT_EINVAL and a message containing part. */
static void t_canon_fails(const cJSON *v, const char *part)
{
    char *out = (char *)1;
    size_t n = 99;
    mt_error err;
    int rc = mt_json_canonical(v, &out, &n, &err);
    ck_assert_int_eq(rc, MT_EINVAL);
    ck_assert_int_eq(err.code, MT_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(err.message, part) != NULL, "message \"%s\" lacks \"%s\"", err.message, part);
}

/* ------------------------------------------------ RFC 8785 samples */

START_TEST(rfc8785_numbers_sample)
{
    t_canon_eq("[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]",
               "[333333333.3333333,1e+30,4.5,0.002,1e-27]");
}
END_TEST

START_TEST(rfc8785_string_sample)
{
    t_canon_eq("\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"",
               "\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
}
END_TEST

START_TEST(rfc8785_full_sample)
{
    /* RFC 8785 section 3.2.2 input and its section 3.2.3/3.2.4 output. */
    t_canon_eq("{\n"
               "  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
               "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
               "  \"literals\": [null, true, false]\n"
               "}\n",
               "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
               "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}
END_TEST

START_TEST(rfc8785_sorting_sample)
{
    /* RFC 8785 section 3.2.3: the members come out as \r, 1, U+0080,
     * U+00F6, U+20AC, U+1F600, U+FB33 (UTF-16 code unit order). */
    t_canon_eq("{\n"
               "  \"\\u20ac\": \"Euro Sign\",\n"
               "  \"\\r\": \"Carriage Return\",\n"
               "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
               "  \"1\": \"One\",\n"
               "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
               "  \"\\u0080\": \"Control\",\n"
               "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
               "}",
               "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
               "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
               "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}
END_TEST

/* ------------------------------------------------------- strings */

START_TEST(control_characters_escaped)
{
    t_canon_eq("\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008\\u0009\\u000A\\u000B\\u000C\\u000D"
               "\\u000E\\u000F\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001A"
               "\\u001B\\u001C\\u001D\\u001E\\u001F\\u007F\\u0020\"",
               "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r"
               "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a"
               "\\u001b\\u001c\\u001d\\u001e\\u001f\x7f \"");
    t_canon_eq("\"\\b\\f\\n\\r\\t\"", "\"\\b\\f\\n\\r\\t\"");
}
END_TEST

START_TEST(non_ascii_and_slash_literal)
{
    /* Escaped and raw non-ASCII give the same literal UTF-8; '/', DEL,
     * U+2028 and U+2029 are not escaped. */
    t_canon_eq("\"\\u00e9\\u4E2D\\u2028\\u2029\\/ /\\u00ff\\uffff\"",
               "\"\xc3\xa9\xe4\xb8\xad\xe2\x80\xa8\xe2\x80\xa9/ /\xc3\xbf\xef\xbf\xbf\"");
    t_canon_eq("\"\xc3\xa9\xe4\xb8\xad\xe2\x80\xa8\xe2\x80\xa9\x7f\"",
               "\"\xc3\xa9\xe4\xb8\xad\xe2\x80\xa8\xe2\x80\xa9\x7f\"");
    t_canon_eq("[\"</script>\", \"a\\\\/b\"]", "[\"</script>\",\"a\\\\/b\"]");
}
END_TEST

START_TEST(surrogate_pairs)
{
    t_canon_eq("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    t_canon_eq("\"\\uD83D\\uDE00x\"", "\"\xf0\x9f\x98\x80x\"");
    t_canon_eq("\"\\ud800\\udc00\\udbff\\udfff\"", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    t_canon_eq("\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\"");
}
END_TEST

START_TEST(keys_sorted_by_utf16_units)
{
    /* U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB33 even
     * though its code point (and UTF-8) is larger. */
    t_canon_eq("{\"\\ufb33\":1,\"\\ud83d\\ude00\":2}", "{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":1}");
    t_canon_eq("{\"\\ue000\":1,\"\\ud800\\udc00\":2,\"\\ud7ff\":3}",
               "{\"\xed\x9f\xbf\":3,\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":1}");
    /* Prefixes first; byte order for ASCII (upper case before lower). */
    t_canon_eq("{\"b\":0,\"ab\":1,\"a\":2,\"\":3,\"B\":4,\"a b\":5}",
               "{\"\":3,\"B\":4,\"a\":2,\"a b\":5,\"ab\":1,\"b\":0}");
    /* The name is compared unescaped: "\u0062" is "b". */
    t_canon_eq("{\"\\u0062\":1,\"a\":2,\"c\":3}", "{\"a\":2,\"b\":1,\"c\":3}");
}
END_TEST

START_TEST(many_members_sorted)
{
    char *text = malloc(64 * 1000 + 16), *want = malloc(64 * 1000 + 16), *p = text;
    int i;
    p += sprintf(p, "{");
    for (i = 999; i >= 0; i--)
        p += sprintf(p, "%s\"k%04d\" : %d", i == 999 ? "" : ", ", i, i);
    sprintf(p, "}");
    p = want;
    p += sprintf(p, "{");
    for (i = 0; i < 1000; i++)
        p += sprintf(p, "%s\"k%04d\":%d", i ? "," : "", i, i);
    sprintf(p, "}");
    t_canon_eq(text, want);
    free(text);
    free(want);
}
END_TEST

/* ------------------------------------------------------ structure */

START_TEST(nested_and_empty_containers)
{
    t_canon_eq(" { \"b\" : [ ] , \"a\" : { } , \"c\" : [ { } , [ [ ] ] , { \"z\" : { \"y\" : [ 1 , { \"x\" : null } ] } ,"
               " \"a\" : \"\" } ] } ",
               "{\"a\":{},\"b\":[],\"c\":[{},[[]],{\"a\":\"\",\"z\":{\"y\":[1,{\"x\":null}]}}]}");
    t_canon_eq("[]", "[]");
    t_canon_eq("{}", "{}");
    t_canon_eq("\t\r\n [\t\r\n ]\t\r\n ", "[]");
    t_canon_eq("\"\"", "\"\"");
    t_canon_eq("null", "null");
    t_canon_eq("true", "true");
    t_canon_eq(" false ", "false");
    t_canon_eq("[[[[[[1]]]]],{\"a\":[{\"b\":[{}]}]}]", "[[[[[[1]]]]],{\"a\":[{\"b\":[{}]}]}]");
}
END_TEST

START_TEST(manifest_like_document)
{
    const char *text =
        "{\n"
        "  \"signature\": \"00ff\",\n"
        "  \"sequence\": 1700000000123,\n"
        "  \"publicKey\": \"abcd\",\n"
        "  \"timestamp\": 1700000000000,\n"
        "  \"collections\": [\n"
        "    {\"title\": \"Caf\\u00e9 / m\\u00fasica\", \"items\": [\n"
        "      \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=a%20b\",\n"
        "      {\"name\": \"a.bin\", \"size\": 1048576, \"chunks\": [{\"blobId\": \"ee\", \"offset\": 0,"
        " \"length\": 1048592, \"key\": \"k\", \"nonce\": \"n\", \"realSize\": 1048576}]}\n"
        "    ]}\n"
        "  ],\n"
        "  \"metadata\": {\"z\": -9007199254740991, \"a\": [true, null]}\n"
        "}\n";
    t_canon_eq_n(text, strlen(text), MT_JSON_INTEGERS,
                 "{\"collections\":[{\"items\":[\"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"
                 "&dn=a%20b\",{\"chunks\":[{\"blobId\":\"ee\",\"key\":\"k\",\"length\":1048592,\"nonce\":\"n\","
                 "\"offset\":0,\"realSize\":1048576}],\"name\":\"a.bin\",\"size\":1048576}],"
                 "\"title\":\"Caf\xc3\xa9 / m\xc3\xbasica\"}],\"metadata\":{\"a\":[true,null],"
                 "\"z\":-9007199254740991},\"publicKey\":\"abcd\",\"sequence\":1700000000123,"
                 "\"signature\":\"00ff\",\"timestamp\":1700000000000}");
}
END_TEST

/* -------------------------------------------------------- numbers */

START_TEST(numbers_es6_form)
{
    t_canon_eq("-0", "0");
    t_canon_eq("[-0.0, 0e5, -0E-3]", "[0,0,0]");
    t_canon_eq("[1e21, 1e20, 123456789012345678901, 999999999999999999999]",
               "[1e+21,100000000000000000000,123456789012345680000,1e+21]");
    t_canon_eq("[1e-7, 1.5e-7, 0.000001, 0.0000015, 1e-6]", "[1e-7,1.5e-7,0.000001,0.0000015,0.000001]");
    t_canon_eq("[0.1, -1.5, 100, 1E2, 1.0, -12.50, 2.5e+3]", "[0.1,-1.5,100,100,1,-12.5,2500]");
    t_canon_eq("[5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157E+308]",
               "[5e-324,2.2250738585072014e-308,1.7976931348623157e+308,-1.7976931348623157e+308]");
    t_canon_eq("[9007199254740993, 9007199254740992, -9007199254740993]",
               "[9007199254740992,9007199254740992,-9007199254740992]");
    t_canon_eq("[1e-400, 4.35, 0.3, 1e23, 1.2345e-10]", "[0,4.35,0.3,1e+23,1.2345e-10]");
    t_canon_eq("[123456789.123456789, 0.1e1, 1e+0, 10e-1]", "[123456789.12345679,1,1,1]");
}
END_TEST

START_TEST(numbers_built_in_tree)
{
    /* Doubles that never came from text; 2^-705's shortest digits are
     * the upper neighbour of the nearest 16-digit decimal (ES6 picks it). */
    static const struct { double d; const char *want; } cases[] = {
        {0.1 + 0.2, "0.30000000000000004"}, {1.0 / 3.0, "0.3333333333333333"}, {-1e-7, "-1e-7"},
        {1e21, "1e+21"},  {-1e21, "-1e+21"}, {123e-20, "1.23e-18"}, {4294967296.0, "4294967296"},
        {-0.0, "0"},      {0.5, "0.5"},      {1e300 * 10, "1e+301"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *n = cJSON_CreateNumber(cases[i].d);
        char *s = t_canon(n);
        ck_assert_str_eq(s, cases[i].want);
        free(s);
        cJSON_Delete(n);
    }
    {
        cJSON *n = cJSON_CreateNumber(ldexp(1.0, -705));
        char *s = t_canon(n);
        ck_assert_str_eq(s, "5.940911144672375e-213");
        free(s);
        cJSON_Delete(n);
    }
}
END_TEST

START_TEST(nan_and_infinity_refused)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *n;
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(INFINITY));
    t_canon_fails(arr, "NaN or infinity has no JSON form at [1]");
    cJSON_Delete(arr);
    n = cJSON_CreateNumber(NAN);
    t_canon_fails(n, "NaN or infinity has no JSON form at the top level");
    cJSON_Delete(n);
    n = cJSON_CreateNumber(-INFINITY);
    t_canon_fails(n, "NaN or infinity");
    cJSON_Delete(n);
    /* And the parser never makes one: 1e400 overflows. */
    t_reject("{\"a\":[1,1e400]}", "number too large for a double at a[1]");
    t_reject("-1E+999", "number too large for a double at the top level");
    t_reject("NaN", "byte 0: expected a value, found 'N'");
    t_reject("[Infinity]", "byte 1: expected a value, found 'I'");
    t_reject("-Infinity", "byte 1: expected a digit after '-', found 'I'");
    t_reject("nan", "byte 0: invalid literal (expected null)");
}
END_TEST

START_TEST(integers_flag)
{
    t_canon_eq_n("[9007199254740991,-9007199254740991,0,-0,1,-1]", 46, MT_JSON_INTEGERS,
                 "[9007199254740991,-9007199254740991,0,0,1,-1]");
    t_reject_n("9007199254740992", 16, MT_JSON_INTEGERS, "byte 0: integer 9007199254740992 is beyond +-(2^53-1)");
    t_reject_n("[1,-9007199254740992]", 21, MT_JSON_INTEGERS,
               "byte 3: integer -9007199254740992 is beyond +-(2^53-1)");
    t_reject_n("10000000000000000", 17, MT_JSON_INTEGERS, "byte 0: integer 10000000000000000 is beyond +-(2^53-1)");
    t_reject_n("{\"n\":1.0}", 9, MT_JSON_INTEGERS,
               "byte 5: number 1.0 is not an integer (only integers are allowed here)");
    t_reject_n("1e2", 3, MT_JSON_INTEGERS, "byte 0: number 1e2 is not an integer (only integers are allowed here)");
    t_reject_n("[0.5]", 5, MT_JSON_INTEGERS, "byte 1: number 0.5 is not an integer (only integers are allowed here)");
    /* A zero fraction is still a fraction. */
    t_reject_n("9007199254740991.0000000000000001", 33, MT_JSON_INTEGERS, NULL);
    /* Without the flag, the same texts parse. */
    t_canon_eq("[9007199254740992,1.0,1e2,0.5]", "[9007199254740992,1,100,0.5]");
}
END_TEST

START_TEST(get_int)
{
    static const struct { double d; int ok; int64_t want; } cases[] = {
        {9007199254740991.0, 1, MT_JSON_SAFE_INT}, {-9007199254740991.0, 1, -MT_JSON_SAFE_INT},
        {9007199254740992.0, 0, 0}, {-9007199254740992.0, 0, 0}, {1.5, 0, 0}, {-0.0, 1, 0},
        {42.0, 1, 42}, {1e300, 0, 0}, {-1e-300, 0, 0},
    };
    size_t i;
    int64_t v;
    cJSON *s = cJSON_CreateString("1"), *n;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = cJSON_CreateNumber(cases[i].d);
        v = 777;
        if (cases[i].ok) {
            ck_assert_int_eq(mt_json_get_int(n, &v), 0);
            ck_assert_int_eq(v, cases[i].want);
        } else {
            ck_assert_int_eq(mt_json_get_int(n, &v), MT_EINVAL);
            ck_assert_int_eq(v, 777);
        }
        cJSON_Delete(n);
    }
    n = cJSON_CreateNumber(NAN);
    ck_assert_int_eq(mt_json_get_int(n, &v), MT_EINVAL);
    cJSON_Delete(n);
    ck_assert_int_eq(mt_json_get_int(s, &v), MT_EINVAL);
    ck_assert_int_eq(mt_json_get_int(NULL, &v), MT_EINVAL);
    cJSON_Delete(s);
}
END_TEST

/* --------------------------------------------------- rejections */

START_TEST(duplicate_keys)
{
    char *text, *p;
    int i;
    t_reject("{\"a\":1,\"a\":2}", "duplicate key \"a\" in the top-level object");
    t_reject("{\"collections\":[{\"title\":\"t\",\"items\":[1,\"x\",{\"name\":1,\"size\":2,\"name\":3}]}]}",
             "duplicate key \"name\" in collections[0].items[2]");
    t_reject("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\" in the top-level object");
    t_reject("{\"a b\":{\"x\":[{\"q\\n\\\"\":1,\"q\\n\\\"\":1}]}}",
             "duplicate key \"q\\u000a\\\"\" in [\"a b\"].x[0]");
    t_reject("[{}, {\"\xf0\x9f\x98\x80\":1, \"\\ud83d\\ude00\":2}]",
             "duplicate key \"\xf0\x9f\x98\x80\" in [1]");
    /* Distinct-by-case names are fine. */
    t_canon_eq("{\"a\":1,\"A\":2}", "{\"A\":2,\"a\":1}");
    /* A big object takes the sorted path. */
    text = malloc(20 * 2000 + 32);
    p = text;
    p += sprintf(p, "{\"deep\":{");
    for (i = 0; i < 2000; i++)
        p += sprintf(p, "\"m%d\":%d,", i, i);
    sprintf(p, "\"m1234\":0}}");
    t_reject(text, "duplicate key \"m1234\" in deep");
    free(text);
}
END_TEST

START_TEST(invalid_utf8)
{
    static const struct { const char *text; const char *msg; } cases[] = {
        {"\"\xc0\xaf\"", "byte 1: invalid UTF-8"},              /* overlong '/' */
        {"\"\xc1\xbf\"", "byte 1: invalid UTF-8"},              /* overlong */
        {"\"\xe0\x80\xaf\"", "byte 1: invalid UTF-8"},          /* overlong, 3 bytes */
        {"\"\xf0\x80\x80\xaf\"", "byte 1: invalid UTF-8"},      /* overlong, 4 bytes */
        {"\"a\xed\xa0\x80\"", "byte 2: invalid UTF-8"},         /* U+D800 in UTF-8 */
        {"\"\xed\xbf\xbf\"", "byte 1: invalid UTF-8"},          /* U+DFFF in UTF-8 */
        {"\"\xf4\x90\x80\x80\"", "byte 1: invalid UTF-8"},      /* U+110000 */
        {"\"\xf5\x80\x80\x80\"", "byte 1: invalid UTF-8"},
        {"\"ab\xe2\x82\"", "byte 3: invalid UTF-8"},            /* truncated */
        {"\"ab\xe2\x82", "byte 3: invalid UTF-8"},              /* truncated at the end */
        {"\"\x80\"", "byte 1: invalid UTF-8"},                  /* lone continuation */
        {"\"\xff\"", "byte 1: invalid UTF-8"},
        {"{\"\xc3\":1}", "byte 2: invalid UTF-8"},              /* in a key */
        {"[\xff]", "byte 1: invalid UTF-8"},                    /* outside strings */
        {"[1,\xc3\xa9]", "byte 3: expected a value, found byte 0xc3"},
        {"{} \xfe", "byte 3: invalid UTF-8"},
        {"\xef\xbb\xbf{}", "byte 0: expected a value, found byte 0xef"}, /* no BOM */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        t_reject(cases[i].text, cases[i].msg);
    /* The edges of the valid ranges pass. */
    t_canon_eq("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"",
               "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}
END_TEST

START_TEST(lone_surrogate_escapes)
{
    t_reject("\"\\ud83d\"", "byte 1: lone high surrogate \\ud83d (no low surrogate escape follows)");
    t_reject("\"ab\\ud83dx\"", "byte 3: lone high surrogate \\ud83d (no low surrogate escape follows)");
    t_reject("\"\\ud83d\\u0041\"", "byte 1: lone high surrogate \\ud83d (no low surrogate escape follows)");
    t_reject("\"\\ud83d\\ud83d\"", "byte 1: lone high surrogate \\ud83d (no low surrogate escape follows)");
    t_reject("\"\\ude00\"", "byte 1: lone low surrogate \\ude00");
    t_reject("\"\\ude00\\ud83d\"", "byte 1: lone low surrogate \\ude00"); /* wrong order */
    t_reject("{\"\\udfff\":1}", "byte 2: lone low surrogate \\udfff");
    t_reject("\"\\ud83d\\ude0", "byte 1: lone high surrogate \\ud83d (no low surrogate escape follows)");
}
END_TEST

START_TEST(nul_refused)
{
    t_reject("\"a\\u0000b\"", "byte 2: \\u0000 in a string is not supported (cJSON strings end at NUL)");
    t_reject("{\"k\\u0000\":1}", "byte 3: \\u0000 in a string is not supported (cJSON strings end at NUL)");
    t_reject_n("\"a\0b\"", 5, 0, "byte 2: control character 0x00 in a string must be escaped");
    t_reject_n("1\0", 2, 0, "byte 1: unexpected data after the JSON value");
    t_reject_n("[\0]", 3, 0, "byte 1: expected a value, found byte 0x00");
}
END_TEST

START_TEST(grammar_errors)
{
    static const struct { const char *text; const char *msg; } cases[] = {
        {"", "byte 0: expected a value, found end of input"},
        {"   ", "byte 3: expected a value, found end of input"},
        {"01", "byte 0: number with a leading zero"},
        {"-01", "byte 0: number with a leading zero"},
        {"[00]", "byte 1: number with a leading zero"},
        {"1.", "byte 2: expected a digit after the decimal point, found end of input"},
        {"1.e3", "byte 2: expected a digit after the decimal point, found 'e'"},
        {".5", "byte 0: expected a value, found '.'"},
        {"+1", "byte 0: expected a value, found '+'"},
        {"-", "byte 1: expected a digit after '-', found end of input"},
        {"1e", "byte 2: expected a digit in the exponent, found end of input"},
        {"1e+", "byte 3: expected a digit in the exponent, found end of input"},
        {"0x10", "byte 1: unexpected data after the JSON value"},
        {"[1,]", "byte 3: trailing comma before ']'"},
        {"{\"a\":1,}", "byte 7: trailing comma before '}'"},
        {"[,1]", "byte 1: expected a value, found ','"},
        {"[1,,2]", "byte 3: expected a value, found ','"},
        {"{,}", "byte 1: expected a string key, found ','"},
        {"[1 2]", "byte 3: expected ',' or ']', found '2'"},
        {"{\"a\" 1}", "byte 5: expected ':' after the key, found '1'"},
        {"{\"a\":1 \"b\":2}", "byte 7: expected ',' or '}', found '\"'"},
        {"{a:1}", "byte 1: expected a string key, found 'a'"},
        {"{1:1}", "byte 1: expected a string key, found '1'"},
        {"'a'", "byte 0: expected a value, found '''"},
        {"tru", "byte 0: invalid literal (expected true)"},
        {"nul", "byte 0: invalid literal (expected null)"},
        {"True", "byte 0: expected a value, found 'T'"},
        {"nullx", "byte 4: unexpected data after the JSON value"},
        {"\"a\tb\"", "byte 2: control character 0x09 in a string must be escaped"},
        {"\"a\nb\"", "byte 2: control character 0x0a in a string must be escaped"},
        {"\"\\x41\"", "byte 1: invalid escape \\x"},
        {"\"\\U0041\"", "byte 1: invalid escape \\U"},
        {"\"\\\x01\"", "byte 1: invalid escape: byte 0x01 after a backslash"},
        {"\"\\u12G4\"", "byte 1: \\u escape needs four hex digits"},
        {"\"\\u12\"", "byte 1: \\u escape needs four hex digits"},
        {"\"abc", "byte 0: unterminated string"},
        {"\"abc\\", "byte 4: unterminated string"},
        {"[", "byte 1: expected a value, found end of input"},
        {"[1", "byte 2: expected ',' or ']', found end of input"},
        {"{\"a\":1", "byte 6: expected ',' or '}', found end of input"},
        {"{\"a\":", "byte 5: expected a value, found end of input"},
        {"[1]]", "byte 3: unexpected data after the JSON value"},
        {"{} x", "byte 3: unexpected data after the JSON value"},
        {"[1] [2]", "byte 4: unexpected data after the JSON value"},
        {"1 2", "byte 2: unexpected data after the JSON value"},
        {"// c\n1", "byte 0: expected a value, found '/'"},
        {"[1]/*c*/", "byte 3: unexpected data after the JSON value"},
        {"[1}", "byte 2: expected ',' or ']', found '}'"},
        {"{\"a\":1]", "byte 6: expected ',' or '}', found ']'"},
        {"\x0c[]", "byte 0: expected a value, found byte 0x0c"},
        {"[]\x0b", "byte 2: unexpected data after the JSON value"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        t_reject(cases[i].text, cases[i].msg);
}
END_TEST

/* A string of n '[' then n ']' (caller frees). */
static char *nested_arrays(int n)
{
    char *s = malloc((size_t)n * 2 + 1);
    memset(s, '[', (size_t)n);
    memset(s + n, ']', (size_t)n);
    s[2 * n] = '\0';
    return s;
}

START_TEST(depth_cap)
{
    cJSON *v = NULL;
    mt_error err;
    char *s;
    ck_assert_int_eq(mt_json_parse("[[[[[]]]]]", 10, 0, 100, 5, &v, &err), 0);
    cJSON_Delete(v);
    t_reject_full("[[[[[[]]]]]]", 12, 0, 100, 5, MT_EINVAL, "byte 5: nesting deeper than 5");
    t_reject_full("{\"a\":[{\"b\":[]}]}", 16, 0, 100, 3, MT_EINVAL, "byte 11: nesting deeper than 3");
    ck_assert_int_eq(mt_json_parse("{\"a\":[{\"b\":[]}]}", 16, 0, 100, 4, &v, &err), 0);
    cJSON_Delete(v);
    /* Depth 0 allows a scalar only. */
    ck_assert_int_eq(mt_json_parse("7", 1, 0, 100, 0, &v, &err), 0);
    cJSON_Delete(v);
    t_reject_full("[]", 2, 0, 100, 0, MT_EINVAL, "byte 0: nesting deeper than 0");
    t_reject_full("[]", 2, 0, 100, -1, MT_EINVAL, "max_depth must not be negative");
    /* cJSON's limit (1000) caps larger requests. */
    s = nested_arrays(1000);
    ck_assert_int_eq(mt_json_parse(s, 2000, 0, 1u << 20, 100000, &v, &err), 0);
    free(s);
    s = t_canon(v);
    ck_assert_int_eq(strlen(s), 2000);
    free(s);
    cJSON_Delete(v);
    s = nested_arrays(1001);
    t_reject_full(s, 2002, 0, 1u << 20, 100000, MT_EINVAL, "byte 1000: nesting deeper than 1000");
    free(s);
    s = nested_arrays(100000);
    t_reject_full(s, 200000, 0, 1u << 20, 50, MT_EINVAL, "byte 50: nesting deeper than 50");
    free(s);
}
END_TEST

START_TEST(canonical_depth_cap)
{
    cJSON *root = cJSON_CreateArray(), *cur = root, *next;
    char *s;
    int i;
    for (i = 1; i < 1000; i++) {
        next = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, next);
        cur = next;
    }
    s = t_canon(root); /* 1000 levels: fine */
    ck_assert_int_eq(strlen(s), 2000);
    free(s);
    cJSON_AddItemToArray(cur, cJSON_CreateObject());
    t_canon_fails(root, "nesting deeper than 1000");
    cJSON_Delete(root);
}
END_TEST

START_TEST(size_cap)
{
    cJSON *v = NULL;
    mt_error err;
    ck_assert_int_eq(mt_json_parse("[1,2,3,4]", 9, 0, 9, 4, &v, &err), 0);
    cJSON_Delete(v);
    t_reject_full("[1,2,3,4]", 9, 0, 8, 4, MT_ETOOBIG, "JSON text is 9 bytes; at most 8 allowed");
    t_reject_full("[1,2,3,4]   ", 12, 0, 9, 4, MT_ETOOBIG, "JSON text is 12 bytes; at most 9 allowed");
    t_reject_full("", 0, 0, 0, 4, MT_EINVAL, "byte 0: expected a value, found end of input");
}
END_TEST

START_TEST(api_misuse)
{
    cJSON *v = (cJSON *)1, *t;
    char *out = (char *)1;
    mt_error err;
    ck_assert_int_eq(mt_json_parse("1", 1, 0, 10, 4, NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_json_parse(NULL, 1, 0, 10, 4, &v, &err), MT_EINVAL);
    ck_assert_ptr_null(v);
    t_reject_full("1", 1, 2, 10, 4, MT_EINVAL, "unknown JSON parse flags 0x2");
    ck_assert_int_eq(mt_json_parse("1", 1, 0, 10, 4, &v, NULL), 0); /* err is optional */
    ck_assert_int_eq(mt_json_parse("[", 1, 0, 10, 4, &t, NULL), MT_EINVAL);
    ck_assert_int_eq(mt_json_canonical(NULL, &out, NULL, &err), MT_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(mt_json_canonical(v, NULL, NULL, &err), MT_EINVAL);
    ck_assert_int_eq(mt_json_canonical(v, &out, NULL, NULL), 0); /* out_len optional */
    ck_assert_str_eq(out, "1");
    free(out);
    cJSON_Delete(v);
}
END_TEST

START_TEST(canonical_refuses_bad_trees)
{
    cJSON *o = cJSON_CreateObject(), *inner = cJSON_CreateObject(), *a;
    char bad[] = {'a', (char)0xc3, 'b', 0};
    /* Duplicate member names built by hand. */
    cJSON_AddNumberToObject(inner, "k", 1);
    cJSON_AddNumberToObject(inner, "k", 2);
    cJSON_AddItemToObject(o, "x", inner);
    t_canon_fails(o, "duplicate key \"k\" in x");
    cJSON_Delete(o);
    /* Invalid UTF-8 in a value and in a name. */
    a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString("ok"));
    cJSON_AddItemToArray(a, cJSON_CreateString(bad));
    t_canon_fails(a, "string is not valid UTF-8 (byte 1 of it) at [1]");
    cJSON_Delete(a);
    o = cJSON_CreateObject();
    cJSON_AddNullToObject(o, bad);
    t_canon_fails(o, "member name that is not valid UTF-8 at the top level");
    cJSON_Delete(o);
    /* Raw JSON is not canonical by construction. */
    a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateRaw("{ }"));
    t_canon_fails(a, "raw or invalid cJSON item");
    cJSON_Delete(a);
}
END_TEST

/* ------------------------------------------ idempotence, property */

START_TEST(canonical_is_idempotent)
{
    static const char *docs[] = {
        "{\"b\":[1.5e300,-2e-300,{\"\\u00e9\":\"\\ud83d\\ude00\\u001f\"}],\"a\":null,\"\\ufb33\":[[],{}]}",
        "[0.1,0.2,0.30000000000000004,1e21,1e-7,123456789012345678,\"\\/\\\\\\\"\"]",
        "{\"z\":{\"y\":{\"x\":{\"w\":[true,false,null,-0,\"\\u2028\"]}}}}",
    };
    size_t i;
    for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        cJSON *v = t_parse_n(docs[i], strlen(docs[i]), 0), *v2;
        char *c1 = t_canon(v), *c2;
        v2 = t_parse_n(c1, strlen(c1), 0);
        c2 = t_canon(v2);
        ck_assert_str_eq(c1, c2);
        ck_assert_ptr_null(strchr(c1, ' '));
        free(c1);
        free(c2);
        cJSON_Delete(v);
        cJSON_Delete(v2);
    }
}
END_TEST

/* xorshift64*: a fixed sequence so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Append code point cp as UTF-8. */
static size_t put_utf8(char *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xC0 | (cp >> 6));
        p[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xE0 | (cp >> 12));
        p[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (cp >> 18));
    p[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A random code point (never U+0000 or a surrogate), biased to the interesting ones. */
static uint32_t random_cp(void)
{
    static const uint32_t special[] = {'"', '\\', '/', 0x7F, 0x2028, 0x2029, 0xE000, 0xFB33, 0xFFFF, 0x1F600,
                                       0x10000, 0x10FFFF, 0x80, 0xD7FF, '\b', '\n', 0x1F};
    uint32_t cp;
    switch (rng() % 6) {
    case 0: return 0x20 + (uint32_t)(rng() % 95);
    case 1: return 1 + (uint32_t)(rng() % 31);
    case 2: return special[rng() % (sizeof special / sizeof special[0])];
    case 3: return 0x80 + (uint32_t)(rng() % 0x780);
    case 4:
        cp = 0x800 + (uint32_t)(rng() % 0xF800);
        return cp >= 0xD800 && cp <= 0xDFFF ? cp - 0x800 : cp;
    default: return 0x10000 + (uint32_t)(rng() % 0x100000);
    }
}

static char *random_string(char *buf)
{
    size_t n = rng() % 8, i, o = 0;
    for (i = 0; i < n; i++)
        o += put_utf8(buf + o, random_cp());
    buf[o] = '\0';
    return buf;
}

/* A finite random number; integers only (within 2^53-1) when ints is set. */
static double random_number(int ints)
{
    uint64_t bits;
    double d;
    switch (rng() % (ints ? 2 : 5)) {
    case 0: return (double)((int64_t)(rng() % 2001) - 1000);
    case 1: return (double)((int64_t)(rng() % (2 * (uint64_t)MT_JSON_SAFE_INT + 1)) - MT_JSON_SAFE_INT);
    case 2:
        do {
            bits = rng();
            memcpy(&d, &bits, sizeof d);
        } while (!isfinite(d));
        return d;
    case 3: return (double)((int64_t)(rng() % 2000001) - 1000000) / 1000.0;
    default: return pow(10.0, (double)((int)(rng() % 60) - 30)) * ((rng() & 1) ? -1.0 : 1.0);
    }
}

static cJSON *random_value(int depth, int ints)
{
    char buf[64];
    int kind = (int)(rng() % (depth >= 5 ? 5 : 7)), i, n;
    cJSON *v;
    switch (kind) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool((int)(rng() & 1));
    case 2:
    case 3: return cJSON_CreateNumber(random_number(ints));
    case 4: return cJSON_CreateString(random_string(buf));
    case 5:
        v = cJSON_CreateArray();
        n = (int)(rng() % 5);
        for (i = 0; i < n; i++)
            cJSON_AddItemToArray(v, random_value(depth + 1, ints));
        return v;
    default:
        v = cJSON_CreateObject();
        n = (int)(rng() % 6);
        for (i = 0; i < n; i++) {
            random_string(buf);
            if (!cJSON_GetObjectItemCaseSensitive(v, buf))
                cJSON_AddItemToObject(v, buf, random_value(depth + 1, ints));
        }
        return v;
    }
}

/* Deep equality: numbers by value (so -0 == 0), objects by name regardless of order. */
static int same_tree(const cJSON *a, const cJSON *b)
{
    const cJSON *c, *d;
    int na = 0, nb = 0;
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        for (c = a->child, d = b->child; c && d; c = c->next, d = d->next)
            if (!same_tree(c, d))
                return 0;
        return !c && !d;
    }
    if (cJSON_IsObject(a)) {
        for (c = a->child; c; c = c->next, na++) {
            d = cJSON_GetObjectItemCaseSensitive(b, c->string);
            if (!d || !same_tree(c, d))
                return 0;
        }
        for (d = b->child; d; d = d->next)
            nb++;
        return na == nb;
    }
    return 1;
}

/* UTF-16 code units of a UTF-8 string (an independent encoder for the order check). */
static size_t to_utf16(const char *s, uint16_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        uint32_t cp;
        if (*p < 0x80) {
            cp = *p++;
        } else if (*p < 0xE0) {
            cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
            p += 2;
        } else if (*p < 0xF0) {
            cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
            p += 3;
        } else {
            cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 |
                 (p[3] & 0x3F);
            p += 4;
        }
        if (cp >= 0x10000) {
            out[n++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            out[n++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            out[n++] = (uint16_t)cp;
        }
    }
    return n;
}

/* Every object in v (as re-parsed from canonical text) lists its names in strictly increasing UTF-16 order. */
static int members_in_order(const cJSON *v)
{
    const cJSON *c;
    uint16_t a[64], b[64];
    for (c = v->child; c; c = c->next) {
        if (!members_in_order(c))
            return 0;
        if (cJSON_IsObject(v) && c->next) {
            size_t na = to_utf16(c->string, a), nb = to_utf16(c->next->string, b), i;
            for (i = 0; i < na && i < nb && a[i] == b[i]; i++)
                ;
            if (i < na && i < nb ? a[i] > b[i] : na >= nb)
                return 0;
        }
    }
    return 1;
}

START_TEST(random_round_trip)
{
    int i;
    for (i = 0; i < 400; i++) {
        int ints = i % 2;
        cJSON *v = random_value(0, ints), *v2;
        char *c1 = t_canon(v), *c2;
        mt_error err;
        int rc = mt_json_parse(c1, strlen(c1), ints ? MT_JSON_INTEGERS : 0, T_MAX_BYTES, T_DEPTH, &v2, &err);
        ck_assert_msg(rc == 0, "doc %d: canonical text <%s> did not parse: %s", i, c1, err.message);
        ck_assert_msg(same_tree(v, v2), "doc %d: round trip changed the value: %s", i, c1);
        ck_assert_msg(members_in_order(v2), "doc %d: members out of UTF-16 order: %s", i, c1);
        c2 = t_canon(v2);
        ck_assert_msg(strcmp(c1, c2) == 0, "doc %d: not idempotent:\n%s\n%s", i, c1, c2);
        free(c1);
        free(c2);
        cJSON_Delete(v);
        cJSON_Delete(v2);
    }
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *rfc = tcase_create("rfc8785");
    TCase *canon = tcase_create("canonical");
    TCase *strict = tcase_create("strict");
    TCase *prop = tcase_create("property");

    tcase_add_test(rfc, rfc8785_numbers_sample);
    tcase_add_test(rfc, rfc8785_string_sample);
    tcase_add_test(rfc, rfc8785_full_sample);
    tcase_add_test(rfc, rfc8785_sorting_sample);
    suite_add_tcase(s, rfc);

    tcase_add_test(canon, control_characters_escaped);
    tcase_add_test(canon, non_ascii_and_slash_literal);
    tcase_add_test(canon, surrogate_pairs);
    tcase_add_test(canon, keys_sorted_by_utf16_units);
    tcase_add_test(canon, many_members_sorted);
    tcase_add_test(canon, nested_and_empty_containers);
    tcase_add_test(canon, manifest_like_document);
    tcase_add_test(canon, numbers_es6_form);
    tcase_add_test(canon, numbers_built_in_tree);
    tcase_add_test(canon, nan_and_infinity_refused);
    tcase_add_test(canon, get_int);
    tcase_add_test(canon, canonical_depth_cap);
    tcase_add_test(canon, canonical_refuses_bad_trees);
    suite_add_tcase(s, canon);

    tcase_add_test(strict, integers_flag);
    tcase_add_test(strict, duplicate_keys);
    tcase_add_test(strict, invalid_utf8);
    tcase_add_test(strict, lone_surrogate_escapes);
    tcase_add_test(strict, nul_refused);
    tcase_add_test(strict, grammar_errors);
    tcase_add_test(strict, depth_cap);
    tcase_add_test(strict, size_cap);
    tcase_add_test(strict, api_misuse);
    suite_add_tcase(s, strict);

    tcase_add_test(prop, canonical_is_idempotent);
    tcase_add_test(prop, random_round_trip);
    suite_add_tcase(s, prop);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
