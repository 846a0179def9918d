/* feedaddr.c - feed addresses (see mt_feedaddr.h). */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <string.h>

#include <sodium.h>

#include "mt_capi.h"
#include "mt_feedaddr.h"
#include "mt_util.h"

_Static_assert(MT_FEEDADDR_SALT_MAX == MT_DHT_SALT_MAX, "one BEP-44 salt limit");

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode exactly len hex digits (len even) into out; 0, or -1 otherwise.
 * Works on spans: the pieces of an address are not NUL-terminated. */
static int hex_span(const char *p, size_t len, uint8_t *out)
{
    size_t got = 0;
    const char *end = NULL;
    if (sodium_hex2bin(out, len / 2, p, len, NULL, &got, &end) != 0 || got != len / 2 || end != p + len)
        return -1;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Case-insensitive ASCII prefix test on a span. */
static int has_prefix_ci(const char *p, size_t len, const char *prefix)
{
    size_t i, n = strlen(prefix);
    if (len < n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return 0;
    }
    return 1;
}

/* The 32-byte key in exactly 64 hex digits; `what` names it in errors. */
static int parse_key(const char *p, size_t len, uint8_t out[32], const char *what, mt_error *err)
{
    if (len != 64)
        return mt_error_set(err, MT_EINVAL, "feed address: %s is %zu characters; 64 hex digits expected", what, len);
    if (hex_span(p, len, out) != 0)
        return mt_error_set(err, MT_EINVAL, "feed address: %s is not hex", what);
    return MT_OK;
}

/* Percent-decode src[0..len) into dst (room for len bytes). */
static int percent_decode(const char *src, size_t len, char *dst, size_t *dst_len)
{
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (src[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hex_digit(src[i + 1]);
            lo = hex_digit(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            dst[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[n++] = src[i];
        }
    }
    *dst_len = n;
    return 0;
}

static int parse_salt(const char *p, size_t len, mt_feedaddr *out, mt_error *err)
{
    if (len == 0)
        return mt_error_set(err, MT_EINVAL, "feed address: s= (salt) is empty");
    if (len % 2)
        return mt_error_set(err, MT_EINVAL, "feed address: salt has an odd number (%zu) of hex digits", len);
    if (len / 2 > MT_FEEDADDR_SALT_MAX)
        return mt_error_set(err, MT_EINVAL, "feed address: salt is %zu bytes; BEP-46 allows %d", len / 2,
                            MT_FEEDADDR_SALT_MAX);
    if (hex_span(p, len, out->salt) != 0)
        return mt_error_set(err, MT_EINVAL, "feed address: salt (s=) is not hex");
    out->salt_len = len / 2;
    return MT_OK;
}

/* q: the query after "magnet:?", n bytes. */
static int parse_magnet(const char *q, size_t n, mt_feedaddr *out, mt_error *err)
{
    char name[MT_FEEDADDR_INPUT_MAX], value[MT_FEEDADDR_INPUT_MAX];
    size_t pos = 0, name_len, value_len;
    int n_pk = 0, n_salt = 0, rc;

    while (pos < n) {
        const char *param = q + pos, *amp = memchr(param, '&', n - pos), *eq;
        size_t plen = amp ? (size_t)(amp - param) : n - pos;
        pos += plen + 1;
        if (plen == 0)
            continue; /* "&&" or a trailing '&' */
        eq = memchr(param, '=', plen);
        if (percent_decode(param, eq ? (size_t)(eq - param) : plen, name, &name_len) != 0 ||
            (eq && percent_decode(eq + 1, plen - (size_t)(eq - param) - 1, value, &value_len) != 0))
            return mt_error_set(err, MT_EINVAL, "feed address: bad percent-encoding in magnet parameter '%.*s'",
                                (int)(plen > 64 ? 64 : plen), param);
        if (!eq)
            value_len = 0;
        if (name_len == 2 && memcmp(name, "xs", 2) == 0 && has_prefix_ci(value, value_len, "urn:btpk:")) {
            if (++n_pk > 1)
                return mt_error_set(err, MT_EINVAL, "feed address: more than one xs=urn:btpk: in the magnet link");
            rc = parse_key(value + 9, value_len - 9, out->pk, "xs=urn:btpk: public key", err);
            if (rc)
                return rc;
        } else if (name_len == 1 && name[0] == 's') {
            if (++n_salt > 1)
                return mt_error_set(err, MT_EINVAL, "feed address: more than one s= (salt) in the magnet link");
            rc = parse_salt(value, value_len, out, err);
            if (rc)
                return rc;
        }
        /* Anything else (dn, tr, xt, other xs...) is not ours to judge. */
    }
    if (n_pk == 0)
        return mt_error_set(err, MT_EINVAL, "feed address: magnet link has no xs=urn:btpk:<public key>");
    return MT_OK;
}

/* p: what follows "megatorrent://", n bytes: <pk>[:<read key>]. */
static int parse_uri(const char *p, size_t n, mt_feedaddr *out, mt_error *err)
{
    const char *colon = memchr(p, ':', n);
    size_t pk_len = colon ? (size_t)(colon - p) : n;
    int rc = parse_key(p, pk_len, out->pk, "megatorrent:// public key", err);
    if (rc)
        return rc;
    if (!colon)
        return MT_OK;
    rc = parse_key(colon + 1, n - pk_len - 1, out->read_key, "megatorrent:// read key", err);
    if (rc)
        return rc;
    out->has_read_key = 1;
    return MT_OK;
}

int mt_feedaddr_parse(const char *s, mt_feedaddr *out, mt_error *err)
{
    size_t n, i;
    int rc;

    if (!s || !out)
        return mt_error_set(err, MT_EINVAL, "feed address: string and out are required");
    memset(out, 0, sizeof *out);
    n = strnlen(s, MT_FEEDADDR_INPUT_MAX + 1);
    if (n > MT_FEEDADDR_INPUT_MAX)
        return mt_error_set(err, MT_ETOOBIG, "feed address is over %d bytes", MT_FEEDADDR_INPUT_MAX);
    if (n == 0)
        return mt_error_set(err, MT_EINVAL, "feed address is empty");
    if (is_space(s[0]) || is_space(s[n - 1]))
        return mt_error_set(err, MT_EINVAL, "feed address has leading or trailing whitespace");

    if (has_prefix_ci(s, n, "magnet:")) {
        if (n < 8 || s[7] != '?')
            return mt_error_set(err, MT_EINVAL, "feed address: magnet link has no '?' after 'magnet:'");
        rc = parse_magnet(s + 8, n - 8, out, err);
    } else if (has_prefix_ci(s, n, "megatorrent:")) {
        if (n < 14 || s[12] != '/' || s[13] != '/')
            return mt_error_set(err, MT_EINVAL, "feed address: expected megatorrent://<public key hex>");
        rc = parse_uri(s + 14, n - 14, out, err);
    } else {
        for (i = 0; i < n && hex_digit(s[i]) >= 0; i++) {
        }
        if (i < n)
            return mt_error_set(err, MT_EINVAL,
                                "feed address: expected magnet:?xs=urn:btpk:<64 hex>, megatorrent://<64 hex> "
                                "or a 64-hex public key");
        rc = parse_key(s, n, out->pk, "public key", err);
    }
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

/* A feed's fields are in range (callers may fill the struct themselves). */
static int check_addr(const mt_feedaddr *a, mt_error *err)
{
    if (!a)
        return mt_error_set(err, MT_EINVAL, "feed address is required");
    if (a->salt_len > MT_FEEDADDR_SALT_MAX)
        return mt_error_set(err, MT_EINVAL, "feed address: salt is %zu bytes; BEP-46 allows %d", a->salt_len,
                            MT_FEEDADDR_SALT_MAX);
    return MT_OK;
}

/* Append hex of n bytes at *pos if it fits (the total is checked later). */
static void put_hex(char *out, size_t cap, size_t *pos, const uint8_t *in, size_t n)
{
    if (*pos + 2 * n < cap)
        mt_hex_encode(in, n, out + *pos);
    *pos += 2 * n;
}

static void put_str(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n < cap)
        memcpy(out + *pos, s, n);
    *pos += n;
}

/* Terminate, or report how much room was needed. */
static int put_end(char *out, size_t cap, size_t pos, mt_error *err)
{
    if (pos >= cap) {
        if (cap)
            out[0] = '\0';
        return mt_error_set(err, MT_ETOOBIG, "feed address: %zu bytes needed, output holds %zu", pos + 1, cap);
    }
    out[pos] = '\0';
    return MT_OK;
}

int mt_feedaddr_format_magnet(const mt_feedaddr *a, char *out, size_t cap, mt_error *err)
{
    size_t pos = 0;
    int rc = check_addr(a, err);
    if (rc)
        return rc;
    if (!out && cap)
        return mt_error_set(err, MT_EINVAL, "feed address: output is NULL");
    put_str(out, cap, &pos, "magnet:?xs=urn:btpk:");
    put_hex(out, cap, &pos, a->pk, sizeof a->pk);
    if (a->salt_len) {
        put_str(out, cap, &pos, "&s=");
        put_hex(out, cap, &pos, a->salt, a->salt_len);
    }
    return put_end(out, cap, pos, err);
}

int mt_feedaddr_format_uri(const mt_feedaddr *a, char *out, size_t cap, mt_error *err)
{
    size_t pos = 0;
    int rc = check_addr(a, err);
    if (rc)
        return rc;
    if (a->salt_len)
        return mt_error_set(err, MT_EINVAL,
                            "feed address: a feed with a salt has no megatorrent:// form; use the magnet link");
    if (!out && cap)
        return mt_error_set(err, MT_EINVAL, "feed address: output is NULL");
    put_str(out, cap, &pos, "megatorrent://");
    put_hex(out, cap, &pos, a->pk, sizeof a->pk);
    if (a->has_read_key) {
        put_str(out, cap, &pos, ":");
        put_hex(out, cap, &pos, a->read_key, sizeof a->read_key);
    }
    return put_end(out, cap, pos, err);
}

int mt_feedaddr_target(const mt_feedaddr *a, uint8_t target[20], mt_error *err)
{
    int rc = check_addr(a, err);
    if (rc)
        return rc;
    if (!target)
        return mt_error_set(err, MT_EINVAL, "feed address: target output is required");
    return mt_dht_mutable_target(a->pk, a->salt, a->salt_len, target, err);
}
