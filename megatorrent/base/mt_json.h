/*
 * mt_json.h - strict JSON parsing and RFC 8785 (JCS) canonical JSON.
 *
 * Signed documents (manifests) are hashed and signed over their canonical
 * form, so both sides must agree byte for byte: the strict parser refuses
 * anything two JSON implementations could read differently (duplicate keys,
 * invalid UTF-8, lone surrogates, numbers a double cannot hold exactly), and
 * mt_json_canonical() writes exactly what RFC 8785 prescribes.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_JSON_H
#define MT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_JSON_SAFE_INT 9007199254740991LL  /* 2^53 - 1 */

enum { MT_JSON_INTEGERS = 1 };  /* flag: every number must be an integer with |n| <= 2^53-1 (signed documents) */

/*
 * Parse exactly one JSON value from text[0..len) (no NUL needed; trailing
 * whitespace ok, anything else after the value is an error).
 *
 * Rejects: invalid UTF-8 anywhere (overlongs, surrogates encoded in UTF-8,
 * > U+10FFFF, truncated), lone or mis-ordered \u surrogate escapes, \u0000 in
 * strings (cJSON strings are NUL-terminated), duplicate keys in any object
 * (after unescaping), nesting deeper than max_depth containers (0 allows
 * only a scalar; cJSON's own limit CJSON_NESTING_LIMIT, 1000, caps it),
 * len > max_bytes, grammar errors (leading zeros, bare control characters in
 * strings, trailing commas, NaN, a byte order mark, ...), numbers that
 * overflow a double (1e400), and with MT_JSON_INTEGERS any number with a
 * fraction or exponent or beyond +-(2^53-1) (checked on the digits).
 *
 * Messages name the problem and where: a byte offset for lexical and grammar
 * errors ("byte 17: invalid UTF-8"), a path such as collections[0].items[2]
 * for duplicate keys ("duplicate key \"name\" in collections[0].items[2]").
 *
 * Returns 0 and a new tree in *out (free with cJSON_Delete), or MT_EINVAL,
 * MT_ETOOBIG (len > max_bytes) or MT_ENOMEM; *out is NULL on failure.
 */
int mt_json_parse(const char *text, size_t len, unsigned flags, size_t max_bytes, int max_depth, cJSON **out,
                  mt_error *err);

/*
 * RFC 8785 serialisation of v into a new malloc'd NUL-terminated buffer
 * (mt_free() it); *out_len gets its length without the NUL (out_len may be NULL).
 *
 * Object members are sorted by the UTF-16 code units of their names; strings
 * are escaped exactly as JCS does (only '"', '\\' and C0 controls; \b \t \n
 * \f \r short forms, \u00xx with lowercase hex otherwise; '/', DEL, U+2028,
 * U+2029 and all other non-ASCII written literally); numbers as ECMAScript
 * Number.prototype.toString (integers plain, -0 as 0, shortest round-trip
 * digits, exponent form outside [1e-7, 1e21) such as "1e+21", "1.5e-7").
 *
 * MT_EINVAL for NaN or infinity, duplicate member names, a string that is
 * not valid UTF-8, a cJSON_Raw or invalid item, or nesting deeper than 1000.
 */
int mt_json_canonical(const cJSON *v, char **out, size_t *out_len, mt_error *err);

/* 0 and *out if n is a number holding an exact integer with |n| <= 2^53-1, else MT_EINVAL. */
int mt_json_get_int(const cJSON *n, int64_t *out);

/* 1 if the NUL-terminated s is well-formed UTF-8 (no overlongs, no encoded
 * surrogates, nothing above U+10FFFF), the rule every JSON string here
 * follows; else 0. */
int mt_json_utf8_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif
