/*
 * members.h - reading typed members of JSON objects, with messages that
 * name the member under a path: the formats layer's own helpers (manifests,
 * FileEntry) and blob ids. Private to the library: not installed, and the
 * symbols (mtf_*) are not exported.
 *
 * path is where obj sits ("" at the top, "collections[0].items[1]"); a
 * message reads "<path>.<name>: <rule>", or "<name>: <rule>" for "".
 */
#ifndef MT_MEMBERS_H
#define MT_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "mt_error.h"

/* 1 if s is exactly 2n lower-case hex digits, else 0. Signers write lower
 * case; one spelling per value keeps ids comparable as strings. */
int mtf_lower_hex(const char *s, size_t n);

/* Member name holding exactly n bytes as lower-case hex: decoded into out
 * (may be NULL), its text into *text (may be NULL). MT_EINVAL
 * "<path>.<name>: missing" / "...: must be 2n lower-case hex digits". */
int mtf_member_hex(const cJSON *obj, const char *name, size_t n, uint8_t *out, const char **text,
                   const char *path, mt_error *err);

/* Member name as an integer in [lo, hi] (mt_json_get_int); MT_EINVAL
 * "<path>.<name>: missing" / "...: must be an integer from lo to hi". */
int mtf_member_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t *out,
                   const char *path, mt_error *err);

#endif
