/* json.c - strict JSON parsing and RFC 8785 canonical JSON (see mt_json.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_json.h"

/* cJSON refuses deeper nesting itself, so the parser never allows more. */
#define JSON_DEPTH_CAP CJSON_NESTING_LIMIT
/* mt_json_canonical recurses once per level; this bounds its stack. */
#define CANON_DEPTH_MAX 1000
/* Longest path and quoted key shown in an error message. */
#define PATH_TEXT_MAX 160
#define KEY_TEXT_MAX 48

#if defined(__GNUC__)
#define MT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MT_PRINTF(f, a)
#endif

/* ------------------------------------------------------------ UTF-8 */

/* Length (1-4) of the well-formed UTF-8 sequence at p (RFC 3629), 0 if it is
 * ill-formed or cut short; reads no byte past the first bad one, so a NUL
 * stops it on terminated strings. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c, lo = 0x80, hi = 0xBF;
    size_t n, i;
    if (avail == 0)
        return 0;
    c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if (i >= avail || p[i] < lo || p[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

/* Code point of an n-byte sequence already checked by utf8_len. */
static uint32_t utf8_decode(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t i;
    if (n == 1)
        return p[0];
    cp = p[0] & (0x7Fu >> n);
    for (i = 1; i < n; i++)
        cp = (cp << 6) | (p[i] & 0x3Fu);
    return cp;
}

int mt_json_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, n;
    while (i < len) {
        n = utf8_len(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

/* ------------------------------------------- error message helpers */

/* A bounded, always-terminated text buffer that ends in "..." when cut. */
typedef struct sbuf {
    char  *b;
    size_t cap, n; /* cap >= 4 includes the NUL */
    int    cut;
} sbuf;

static void sb_init(sbuf *sb, char *buf, size_t cap)
{
    sb->b = buf;
    sb->cap = cap;
    sb->n = 0;
    sb->cut = 0;
    buf[0] = '\0';
}

/* Append s[0..n) whole or not at all; once something does not fit, "..." ends the text. */
static void sb_add(sbuf *sb, const char *s, size_t n)
{
    if (sb->cut)
        return;
    if (n + 3 > sb->cap - 1 - sb->n) {
        memcpy(sb->b + sb->n, "...", 4);
        sb->n += 3;
        sb->cut = 1;
        return;
    }
    memcpy(sb->b + sb->n, s, n);
    sb->n += n;
    sb->b[sb->n] = '\0';
}

static void sb_str(sbuf *sb, const char *s) { sb_add(sb, s, strlen(s)); }

/* Append s the way it would appear inside a JSON string, so control
 * characters and broken UTF-8 never reach a terminal raw. */
static void sb_quoted(sbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, n;
    char esc[8];
    while (i < len && !sb->cut) {
        n = utf8_len(p + i, len - i);
        if (n == 1 && p[i] >= 0x20 && p[i] != 0x7F && p[i] != '"' && p[i] != '\\') {
            sb_add(sb, s + i, 1);
        } else if (n > 1) {
            sb_add(sb, s + i, n);
        } else {
            if (n == 1 && (p[i] == '"' || p[i] == '\\'))
                snprintf(esc, sizeof esc, "\\%c", p[i]);
            else if (n == 1)
                snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            else
                snprintf(esc, sizeof esc, "\\x%02x", p[i]);
            sb_add(sb, esc, strlen(esc));
            n = 1;
        }
        i += n;
    }
}

/* One step of a path from the root: a member name, or an array index when key is NULL. */
typedef struct jpath {
    const struct jpath *up;
    const char         *key;
    size_t              index;
} jpath;

/* True if key can be shown as .key rather than ["key"]. */
static int is_identifier(const char *key)
{
    const char *p;
    if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') || *key == '_' || *key == '$'))
        return 0;
    for (p = key + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '$'))
            return 0;
    return 1;
}

/* Write leaf's path from the root, e.g. collections[0].items[2]; "" for the root itself. */
static void fmt_path(const jpath *leaf, char *buf, size_t cap)
{
    const jpath *segs[CANON_DEPTH_MAX + 2];
    const jpath *s;
    size_t n = 0, i;
    sbuf sb;
    char num[32];
    sb_init(&sb, buf, cap);
    for (s = leaf; s && n < sizeof segs / sizeof segs[0]; s = s->up)
        segs[n++] = s;
    for (i = n; i-- > 0 && !sb.cut;) {
        s = segs[i];
        if (!s->key) {
            snprintf(num, sizeof num, "[%zu]", s->index);
            sb_str(&sb, num);
        } else if (is_identifier(s->key)) {
            if (i != n - 1)
                sb_str(&sb, ".");
            sb_str(&sb, s->key);
        } else {
            sb_str(&sb, "[\"");
            sb_quoted(&sb, s->key);
            sb_str(&sb, "\"]");
        }
    }
}

/* err = code and "<what> at <path>" (or "at the top level"). */
static int path_error(mt_error *err, int code, const jpath *at, const char *what)
{
    char path[PATH_TEXT_MAX];
    fmt_path(at, path, sizeof path);
    return mt_error_set(err, code, "%s at %s", what, path[0] ? path : "the top level");
}

/* err = MT_EINVAL naming the duplicated key and the object that holds it. */
static int duplicate_error(mt_error *err, const jpath *at, const char *key)
{
    char path[PATH_TEXT_MAX], name[KEY_TEXT_MAX];
    sbuf sb;
    sb_init(&sb, name, sizeof name);
    sb_quoted(&sb, key);
    fmt_path(at, path, sizeof path);
    return mt_error_set(err, MT_EINVAL, "duplicate key \"%s\" in %s", name, path[0] ? path : "the top-level object");
}

/* ---------------------------------------------------- strict scanner */

/* A validating pass over the raw text: grammar, UTF-8, escapes, numbers, depth. */
typedef struct scanner {
    const unsigned char *s;
    size_t               len, pos;
    unsigned             flags;
    int                  max_depth;
    mt_error            *err;
} scanner;

/* MT_EINVAL with "byte <at>: <message>". */
static int scan_fail(scanner *sc, size_t at, const char *fmt, ...) MT_PRINTF(3, 4);
static int scan_fail(scanner *sc, size_t at, const char *fmt, ...)
{
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mt_error_set(sc->err, MT_EINVAL, "byte %zu: %s", at, what);
}

/* The byte at the cursor, or -1 at the end. */
static int peek(const scanner *sc)
{
    return sc->pos < sc->len ? sc->s[sc->pos] : -1;
}

/* JSON whitespace is exactly space, tab, LF and CR. */
static void skip_ws(scanner *sc)
{
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->pos++;
    }
}

/* "expected <what>, found <the byte at the cursor>"; invalid UTF-8 is named as such. */
static int scan_expected(scanner *sc, const char *what)
{
    int c = peek(sc);
    if (c < 0)
        return scan_fail(sc, sc->pos, "expected %s, found end of input", what);
    if (c >= 0x80 && utf8_len(sc->s + sc->pos, sc->len - sc->pos) == 0)
        return scan_fail(sc, sc->pos, "invalid UTF-8");
    if (c >= 0x21 && c < 0x7F)
        return scan_fail(sc, sc->pos, "expected %s, found '%c'", what, c);
    return scan_fail(sc, sc->pos, "expected %s, found byte 0x%02x", what, (unsigned)c);
}

/* Four hex digits at p into *out; -1 if fewer than four are there. */
static int hex4(const unsigned char *p, size_t avail, unsigned *out)
{
    unsigned v = 0;
    size_t i;
    if (avail < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = (v << 4) | d;
    }
    *out = v;
    return 0;
}

/* A \uXXXX escape at the cursor (the backslash): no U+0000, surrogates only as high+low pairs. */
static int scan_unicode_escape(scanner *sc)
{
    size_t at = sc->pos;
    unsigned u, lo;
    if (hex4(sc->s + at + 2, sc->len - at - 2, &u) != 0)
        return scan_fail(sc, at, "\\u escape needs four hex digits");
    sc->pos = at + 6;
    if (u == 0)
        return scan_fail(sc, at, "\\u0000 in a string is not supported (cJSON strings end at NUL)");
    if (u >= 0xDC00 && u <= 0xDFFF)
        return scan_fail(sc, at, "lone low surrogate \\u%04x", u);
    if (u < 0xD800 || u > 0xDBFF)
        return 0;
    if (sc->len - sc->pos < 6 || sc->s[sc->pos] != '\\' || sc->s[sc->pos + 1] != 'u' ||
        hex4(sc->s + sc->pos + 2, sc->len - sc->pos - 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
        return scan_fail(sc, at, "lone high surrogate \\u%04x (no low surrogate escape follows)", u);
    sc->pos += 6;
    return 0;
}

/* One escape sequence at the cursor (the backslash). */
static int scan_escape(scanner *sc)
{
    size_t at = sc->pos;
    unsigned char c;
    if (sc->len - at < 2)
        return scan_fail(sc, at, "unterminated string");
    c = sc->s[at + 1];
    switch (c) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        sc->pos = at + 2;
        return 0;
    case 'u':
        return scan_unicode_escape(sc);
    default:
        if (c >= 0x21 && c < 0x7F)
            return scan_fail(sc, at, "invalid escape \\%c", c);
        return scan_fail(sc, at, "invalid escape: byte 0x%02x after a backslash", c);
    }
}

/* A string at the cursor (the opening quote): escapes, no raw controls, well-formed UTF-8. */
static int scan_string(scanner *sc)
{
    size_t start = sc->pos, n;
    int rc;
    sc->pos++;
    for (;;) {
        unsigned char c;
        if (sc->pos >= sc->len)
            return scan_fail(sc, start, "unterminated string");
        c = sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 0;
        }
        if (c == '\\') {
            rc = scan_escape(sc);
            if (rc)
                return rc;
        } else if (c < 0x20) {
            return scan_fail(sc, sc->pos, "control character 0x%02x in a string must be escaped", c);
        } else if (c < 0x80) {
            sc->pos++;
        } else {
            n = utf8_len(sc->s + sc->pos, sc->len - sc->pos);
            if (n == 0)
                return scan_fail(sc, sc->pos, "invalid UTF-8");
            sc->pos += n;
        }
    }
}

/* Skip ASCII digits; returns how many. */
static size_t skip_digits(scanner *sc)
{
    size_t from = sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
        sc->pos++;
    return sc->pos - from;
}

/* With MT_JSON_INTEGERS: no fraction or exponent and |n| <= 2^53-1, judged on the digits. */
static int check_integer(scanner *sc, size_t start, size_t digits_at, size_t ndigits, int fraction)
{
    size_t n = sc->pos - start;
    int shown = n > 40 ? 40 : (int)n;
    const char *more = n > 40 ? "..." : "";
    if (fraction)
        return scan_fail(sc, start, "number %.*s%s is not an integer (only integers are allowed here)", shown,
                         (const char *)sc->s + start, more);
    if (ndigits > 16 || (ndigits == 16 && memcmp(sc->s + digits_at, "9007199254740991", 16) > 0))
        return scan_fail(sc, start, "integer %.*s%s is beyond +-(2^53-1)", shown, (const char *)sc->s + start, more);
    return 0;
}

/* A number at the cursor: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int scan_number(scanner *sc)
{
    size_t start = sc->pos, digits_at, ndigits;
    int fraction = 0;
    if (peek(sc) == '-')
        sc->pos++;
    digits_at = sc->pos;
    if (peek(sc) == '0') {
        sc->pos++;
        if (peek(sc) >= '0' && peek(sc) <= '9')
            return scan_fail(sc, start, "number with a leading zero");
        ndigits = 1;
    } else {
        ndigits = skip_digits(sc);
        if (ndigits == 0)
            return scan_expected(sc, "a digit after '-'");
    }
    if (peek(sc) == '.') {
        sc->pos++;
        if (skip_digits(sc) == 0)
            return scan_expected(sc, "a digit after the decimal point");
        fraction = 1;
    }
    if (peek(sc) == 'e' || peek(sc) == 'E') {
        sc->pos++;
        if (peek(sc) == '+' || peek(sc) == '-')
            sc->pos++;
        if (skip_digits(sc) == 0)
            return scan_expected(sc, "a digit in the exponent");
        fraction = 1;
    }
    if (sc->flags & MT_JSON_INTEGERS)
        return check_integer(sc, start, digits_at, ndigits, fraction);
    return 0;
}

/* The literal word (true, false, null) at the cursor. */
static int scan_literal(scanner *sc, const char *word)
{
    size_t n = strlen(word);
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return scan_fail(sc, sc->pos, "invalid literal (expected %s)", word);
    sc->pos += n;
    return 0;
}

/* Any value but an object or array, at the cursor. */
static int scan_scalar(scanner *sc)
{
    int c = peek(sc);
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(sc);
    if (c == 't')
        return scan_literal(sc, "true");
    if (c == 'f')
        return scan_literal(sc, "false");
    if (c == 'n')
        return scan_literal(sc, "null");
    return scan_expected(sc, "a value");
}

enum scan_state { WANT_VALUE, WANT_KEY, AFTER_VALUE };

/* After a value inside open[depth-1]: a comma or the closing bracket. */
static int scan_after_value(scanner *sc, const unsigned char *open, int *depth, enum scan_state *st, int *after_comma)
{
    unsigned char top = open[*depth - 1];
    int c = peek(sc);
    if (c == ',') {
        sc->pos++;
        *st = top == '{' ? WANT_KEY : WANT_VALUE;
        *after_comma = 1;
        return 0;
    }
    if (c == (top == '{' ? '}' : ']')) {
        sc->pos++;
        (*depth)--;
        return 0;
    }
    return scan_expected(sc, top == '{' ? "',' or '}'" : "',' or ']'");
}

/* "key" : at the cursor, inside an object. */
static int scan_key(scanner *sc, int after_comma)
{
    int rc;
    if (after_comma && peek(sc) == '}')
        return scan_fail(sc, sc->pos, "trailing comma before '}'");
    if (peek(sc) != '"')
        return scan_expected(sc, "a string key");
    rc = scan_string(sc);
    if (rc)
        return rc;
    skip_ws(sc);
    if (peek(sc) != ':')
        return scan_expected(sc, "':' after the key");
    sc->pos++;
    return 0;
}

/* The whole text, iteratively (an explicit stack of open brackets, no recursion);
 * *value_end gets the offset just past the top-level value. */
static int scan_text(scanner *sc, size_t *value_end)
{
    unsigned char open[JSON_DEPTH_CAP]; /* '{' or '[' per open container */
    enum scan_state st = WANT_VALUE;
    int depth = 0, after_comma = 0, rc = 0, c;

    while (!(st == AFTER_VALUE && depth == 0)) {
        skip_ws(sc);
        c = peek(sc);
        if (st == AFTER_VALUE) {
            rc = scan_after_value(sc, open, &depth, &st, &after_comma);
        } else if (st == WANT_KEY) {
            rc = scan_key(sc, after_comma);
            st = WANT_VALUE;
            after_comma = 0;
        } else if (c == '{' || c == '[') {
            if (depth >= sc->max_depth)
                return scan_fail(sc, sc->pos, "nesting deeper than %d", sc->max_depth);
            open[depth++] = (unsigned char)c;
            sc->pos++;
            skip_ws(sc);
            if (peek(sc) == (c == '{' ? '}' : ']')) {
                sc->pos++;
                depth--;
                st = AFTER_VALUE;
            } else {
                st = c == '{' ? WANT_KEY : WANT_VALUE;
            }
            after_comma = 0;
        } else if (after_comma && c == ']') {
            return scan_fail(sc, sc->pos, "trailing comma before ']'");
        } else {
            rc = scan_scalar(sc);
            st = AFTER_VALUE;
        }
        if (rc)
            return rc;
    }
    *value_end = sc->pos;
    skip_ws(sc);
    if (sc->pos != sc->len) {
        if (utf8_len(sc->s + sc->pos, sc->len - sc->pos) == 0)
            return scan_fail(sc, sc->pos, "invalid UTF-8");
        return scan_fail(sc, sc->pos, "unexpected data after the JSON value");
    }
    return 0;
}

/* ------------------------------------------------------- tree checks */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Member names of obj are distinct: pairwise for small objects, sorted otherwise (O(n log n)). */
static int check_unique(const cJSON *obj, const jpath *at, mt_error *err)
{
    const cJSON *a, *b;
    const char **names;
    size_t n = 0, i;
    int rc = 0;
    for (a = obj->child; a; a = a->next)
        n++;
    if (n <= 8) {
        for (a = obj->child; a; a = a->next)
            for (b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return duplicate_error(err, at, a->string);
        return 0;
    }
    names = malloc(n * sizeof *names);
    if (!names)
        return mt_error_set(err, MT_ENOMEM, "out of memory checking for duplicate keys");
    for (i = 0, a = obj->child; a; a = a->next)
        names[i++] = a->string;
    qsort(names, n, sizeof *names, cmp_names);
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = duplicate_error(err, at, names[i]);
    free(names);
    return rc;
}

/* Every number finite and every object's names distinct; recursion depth is the
 * document's, which the scanner capped. */
static int check_tree(const cJSON *v, const jpath *at, mt_error *err)
{
    const cJSON *c;
    jpath seg;
    int rc;
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        return path_error(err, MT_EINVAL, at, "number too large for a double");
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 0;
    if (cJSON_IsObject(v)) {
        rc = check_unique(v, at, err);
        if (rc)
            return rc;
    }
    seg.up = at;
    seg.index = 0;
    for (c = v->child; c; c = c->next, seg.index++) {
        seg.key = cJSON_IsObject(v) ? c->string : NULL;
        rc = check_tree(c, &seg, err);
        if (rc)
            return rc;
    }
    return 0;
}

int mt_json_parse(const char *text, size_t len, unsigned flags, size_t max_bytes, int max_depth, cJSON **out,
                  mt_error *err)
{
    scanner sc;
    size_t value_end = 0;
    const char *end = NULL;
    cJSON *root;
    int rc;

    if (out)
        *out = NULL;
    if (!out || (!text && len))
        return mt_error_set(err, MT_EINVAL, "text and out are required");
    if (flags & ~(unsigned)MT_JSON_INTEGERS)
        return mt_error_set(err, MT_EINVAL, "unknown JSON parse flags 0x%x", flags);
    if (max_depth < 0)
        return mt_error_set(err, MT_EINVAL, "max_depth must not be negative");
    if (len > max_bytes)
        return mt_error_set(err, MT_ETOOBIG, "JSON text is %zu bytes; at most %zu allowed", len, max_bytes);

    sc.s = (const unsigned char *)text;
    sc.len = len;
    sc.pos = 0;
    sc.flags = flags;
    sc.max_depth = max_depth < JSON_DEPTH_CAP ? max_depth : JSON_DEPTH_CAP;
    sc.err = err;
    rc = scan_text(&sc, &value_end);
    if (rc)
        return rc;

    /* The text is now known to be strict JSON without NUL bytes, so cJSON
     * reads it the same way; anything else is a cJSON limit or no memory. */
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return mt_error_set(err, MT_ENOMEM, "out of memory building the JSON tree");
    if (!end || (size_t)(end - text) != value_end) {
        cJSON_Delete(root);
        return mt_error_set(err, MT_EINVAL, "byte %zu: valid JSON that this cJSON build does not read to the end",
                            end ? (size_t)(end - text) : (size_t)0);
    }
    rc = check_tree(root, NULL, err);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return MT_OK;
}

/* ------------------------------------------------- canonical writer */

/* A growing output buffer plus where errors go. */
typedef struct canon {
    char     *b;
    size_t    n, cap;
    mt_error *err;
} canon;

/* Room for extra more bytes and a NUL. */
static int cx_reserve(canon *cx, size_t extra)
{
    size_t need, cap;
    char *nb;
    if (extra > SIZE_MAX - cx->n - 1)
        return mt_error_set(cx->err, MT_ENOMEM, "canonical JSON too large");
    need = cx->n + extra + 1;
    if (need <= cx->cap)
        return 0;
    cap = cx->cap ? cx->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    nb = realloc(cx->b, cap);
    if (!nb)
        return mt_error_set(cx->err, MT_ENOMEM, "out of memory writing canonical JSON");
    cx->b = nb;
    cx->cap = cap;
    return 0;
}

static int cx_put(canon *cx, const char *s, size_t n)
{
    int rc = cx_reserve(cx, n);
    if (rc)
        return rc;
    memcpy(cx->b + cx->n, s, n);
    cx->n += n;
    return 0;
}

static int cx_putc(canon *cx, char c) { return cx_put(cx, &c, 1); }

/* A JCS string: only '"', '\\' and C0 controls escaped, everything else literal; what names it for errors. */
static int write_string(canon *cx, const char *s, const jpath *at, const char *what)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, run, n;
    char esc[8], msg[64];
    int rc = cx_putc(cx, '"');
    while (rc == 0 && i < len) {
        run = i;
        while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
            i++;
        rc = cx_put(cx, s + run, i - run);
        if (rc || i >= len)
            break;
        if (p[i] >= 0x80) {
            n = utf8_len(p + i, len - i);
            if (n == 0) {
                snprintf(msg, sizeof msg, "%s is not valid UTF-8 (byte %zu of it)", what, i);
                return path_error(cx->err, MT_EINVAL, at, msg);
            }
            rc = cx_put(cx, s + i, n);
            i += n;
            continue;
        }
        switch (p[i]) {
        case '"':  strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\f': strcpy(esc, "\\f"); break;
        case '\r': strcpy(esc, "\\r"); break;
        default:   snprintf(esc, sizeof esc, "\\u%04x", p[i]); break;
        }
        rc = cx_put(cx, esc, strlen(esc));
        i++;
    }
    return rc ? rc : cx_putc(cx, '"');
}

/* The decimal digits and exponent e of a "%e"-style text (d.ddde+XX, any decimal point). */
static int split_e(const char *txt, char *dig, int *e)
{
    int k = 0;
    for (; *txt && *txt != 'e'; txt++)
        if (*txt >= '0' && *txt <= '9' && k < 20)
            dig[k++] = *txt;
    *e = *txt == 'e' ? atoi(txt + 1) : 0;
    return k;
}

/* The double nearest dig[0].dig[1..k) x 10^e (read without a decimal point, so locale-proof). */
static double read_back(const char *dig, int k, int e)
{
    char txt[48];
    snprintf(txt, sizeof txt, "%.*se%d", k, dig, e - (k - 1));
    return strtod(txt, NULL);
}

/* Step the k-digit decimal dig x 10^e one unit up (dir > 0) or down on the k-digit grid. */
static void step_digits(char *dig, int k, int *e, int dir)
{
    int i = k - 1;
    if (dir > 0) {
        while (i >= 0 && dig[i] == '9')
            dig[i--] = '0';
        if (i >= 0) {
            dig[i]++;
        } else { /* 9.99 -> 10.0: one more power of ten */
            dig[0] = '1';
            (*e)++;
        }
        return;
    }
    while (i >= 0 && dig[i] == '0')
        dig[i--] = '9';
    dig[i]--; /* dig[0] >= '1', so i >= 0 here */
    if (dig[0] == '0') { /* 1.00 -> 0.999: below the power of ten the grid is finer */
        memset(dig, '9', (size_t)k);
        (*e)--;
    }
}

/*
 * Shortest digits that read back as d (finite, > 0), the nearest to d when
 * several qualify (ECMAScript Number::toString, step 5). dig gets k digits
 * without trailing zeros, *point n with d ~ 0.dig x 10^n. glibc's %e rounds
 * exactly, so its p-digit result is the nearest p-digit decimal; when d's
 * rounding interval is lopsided (d a power of two) the neighbour on the
 * other side may qualify when the nearest does not, so it is tried too.
 */
static int shortest_digits(double d, char *dig, int *point)
{
    char txt[48];
    int p, k = 0, e = 0;
    double back;
    for (p = 1; p <= 17; p++) {
        snprintf(txt, sizeof txt, "%.*e", p - 1, d);
        k = split_e(txt, dig, &e);
        back = read_back(dig, k, e);
        if (back == d)
            break;
        step_digits(dig, k, &e, back < d ? 1 : -1);
        if (read_back(dig, k, e) == d)
            break;
        if (p == 17) /* cannot happen: 17 digits always round-trip; keep %e's */
            k = split_e(txt, dig, &e);
    }
    while (k > 1 && dig[k - 1] == '0')
        k--;
    *point = e + 1;
    return k;
}

/* ECMAScript Number.prototype.toString of a finite d into buf (>= 40 bytes); returns the length. */
static size_t fmt_number(double d, char *buf)
{
    char dig[24];
    int k, n, e, i;
    size_t o = 0;
    if (d == 0) /* also -0 */
        return (size_t)snprintf(buf, 40, "0");
    if (d < 0) {
        buf[o++] = '-';
        d = -d;
    }
    if (d <= 9007199254740992.0 && d == floor(d))
        return o + (size_t)snprintf(buf + o, 40 - o, "%lld", (long long)d);
    k = shortest_digits(d, dig, &n);
    if (k <= n && n <= 21) { /* integer: digits then zeros */
        memcpy(buf + o, dig, (size_t)k);
        o += (size_t)k;
        for (i = k; i < n; i++)
            buf[o++] = '0';
    } else if (0 < n && n <= 21) { /* point inside the digits */
        memcpy(buf + o, dig, (size_t)n);
        o += (size_t)n;
        buf[o++] = '.';
        memcpy(buf + o, dig + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) { /* 0.000ddd */
        buf[o++] = '0';
        buf[o++] = '.';
        for (i = n; i < 0; i++)
            buf[o++] = '0';
        memcpy(buf + o, dig, (size_t)k);
        o += (size_t)k;
    } else { /* d[.ddd]e+-x */
        buf[o++] = dig[0];
        if (k > 1) {
            buf[o++] = '.';
            memcpy(buf + o, dig + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        e = n - 1;
        o += (size_t)snprintf(buf + o, 40 - o, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    buf[o] = '\0';
    return o;
}

static int write_value(canon *cx, const cJSON *v, int depth, const jpath *at);

/* Member order of RFC 8785 3.2.3: by UTF-16 code units. Comparing code
 * points orders like UTF-16 once U+E000..U+FFFF are lifted above the
 * supplementary planes (whose surrogates, D800-DFFF, sort below them). */
static uint32_t utf16_rank(uint32_t cp)
{
    return cp >= 0xE000 && cp <= 0xFFFF ? cp + 0x200000u : cp;
}

/* qsort order of two members with valid UTF-8 names. */
static int cmp_members(const void *pa, const void *pb)
{
    const unsigned char *a = (const unsigned char *)(*(const cJSON *const *)pa)->string;
    const unsigned char *b = (const unsigned char *)(*(const cJSON *const *)pb)->string;
    while (*a && *b) {
        size_t na = utf8_len(a, 4), nb = utf8_len(b, 4);
        uint32_t ra = utf16_rank(utf8_decode(a, na)), rb = utf16_rank(utf8_decode(b, nb));
        if (ra != rb)
            return ra < rb ? -1 : 1;
        a += na;
        b += nb;
    }
    return (*a != 0) - (*b != 0);
}

/* Members of obj (n of them) into a new array sorted for JCS; names must be present and valid UTF-8, and distinct. */
static int sorted_members(canon *cx, const cJSON *obj, size_t n, const jpath *at, const cJSON ***out)
{
    const cJSON **m, *c;
    size_t i = 0;
    m = malloc(n * sizeof *m);
    if (!m)
        return mt_error_set(cx->err, MT_ENOMEM, "out of memory sorting object members");
    for (c = obj->child; c; c = c->next) {
        if (!c->string || !mt_json_utf8_valid(c->string)) {
            free(m);
            return path_error(cx->err, MT_EINVAL, at,
                              c->string ? "member name that is not valid UTF-8" : "object member without a name");
        }
        m[i++] = c;
    }
    qsort(m, n, sizeof *m, cmp_members);
    for (i = 1; i < n; i++) {
        if (strcmp(m[i - 1]->string, m[i]->string) == 0) {
            int rc = duplicate_error(cx->err, at, m[i]->string);
            free(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

/* {"name":value,...} in JCS member order. */
static int write_object(canon *cx, const cJSON *obj, int depth, const jpath *at)
{
    const cJSON **m = NULL, *c;
    size_t n = 0, i;
    jpath seg;
    int rc;
    for (c = obj->child; c; c = c->next)
        n++;
    if (n == 0)
        return cx_put(cx, "{}", 2);
    rc = sorted_members(cx, obj, n, at, &m);
    if (rc)
        return rc;
    seg.up = at;
    seg.index = 0;
    rc = cx_putc(cx, '{');
    for (i = 0; i < n && rc == 0; i++) {
        seg.key = m[i]->string;
        if (i > 0)
            rc = cx_putc(cx, ',');
        if (rc == 0)
            rc = write_string(cx, m[i]->string, &seg, "member name");
        if (rc == 0)
            rc = cx_putc(cx, ':');
        if (rc == 0)
            rc = write_value(cx, m[i], depth + 1, &seg);
    }
    free(m);
    return rc ? rc : cx_putc(cx, '}');
}

/* [value,...] in tree order. */
static int write_array(canon *cx, const cJSON *arr, int depth, const jpath *at)
{
    const cJSON *c;
    jpath seg;
    int rc = cx_putc(cx, '[');
    seg.up = at;
    seg.key = NULL;
    seg.index = 0;
    for (c = arr->child; c && rc == 0; c = c->next, seg.index++) {
        if (c != arr->child)
            rc = cx_putc(cx, ',');
        if (rc == 0)
            rc = write_value(cx, c, depth + 1, &seg);
    }
    return rc ? rc : cx_putc(cx, ']');
}

/* Any value; depth counts the containers around v and is capped to bound the recursion. */
static int write_value(canon *cx, const cJSON *v, int depth, const jpath *at)
{
    char num[40];
    switch (v->type & 0xFF) {
    case cJSON_False:
        return cx_put(cx, "false", 5);
    case cJSON_True:
        return cx_put(cx, "true", 4);
    case cJSON_NULL:
        return cx_put(cx, "null", 4);
    case cJSON_Number:
        if (!isfinite(v->valuedouble))
            return path_error(cx->err, MT_EINVAL, at, "NaN or infinity has no JSON form");
        return cx_put(cx, num, fmt_number(v->valuedouble, num));
    case cJSON_String:
        if (!v->valuestring)
            return path_error(cx->err, MT_EINVAL, at, "string item without a value");
        return write_string(cx, v->valuestring, at, "string");
    case cJSON_Array:
    case cJSON_Object:
        if (depth >= CANON_DEPTH_MAX)
            return path_error(cx->err, MT_EINVAL, at, "nesting deeper than 1000");
        if ((v->type & 0xFF) == cJSON_Array)
            return write_array(cx, v, depth, at);
        return write_object(cx, v, depth, at);
    default:
        return path_error(cx->err, MT_EINVAL, at, "raw or invalid cJSON item cannot be canonicalized");
    }
}

int mt_json_canonical(const cJSON *v, char **out, size_t *out_len, mt_error *err)
{
    canon cx = {NULL, 0, 0, err};
    int rc;
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!v || !out)
        return mt_error_set(err, MT_EINVAL, "value and out are required");
    rc = write_value(&cx, v, 0, NULL);
    if (rc == 0)
        rc = cx_reserve(&cx, 0);
    if (rc) {
        free(cx.b);
        return rc;
    }
    cx.b[cx.n] = '\0';
    *out = cx.b;
    if (out_len)
        *out_len = cx.n;
    return MT_OK;
}

int mt_json_get_int(const cJSON *n, int64_t *out)
{
    double d;
    if (!cJSON_IsNumber(n) || !out)
        return MT_EINVAL;
    d = n->valuedouble;
    if (!(d >= -(double)MT_JSON_SAFE_INT && d <= (double)MT_JSON_SAFE_INT)) /* also NaN */
        return MT_EINVAL;
    if ((double)(int64_t)d != d)
        return MT_EINVAL;
    *out = (int64_t)d; /* -0 gives 0 */
    return MT_OK;
}
