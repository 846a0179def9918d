/* pointer.c - DHT pointer values (see mt_pointer.h). Bencoding goes
 * through mt_bencode.h (libtorrent's codec); nothing here parses it. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <stdlib.h>
#include <string.h>

#include "mt_bencode.h"
#include "mt_capi.h"
#include "mt_pointer.h"

_Static_assert(MT_POINTER_MAX == MT_DHT_VALUE_MAX, "one BEP-44 value limit");

/* A web seed as both sides see it: at most MT_POINTER_URL_MAX bytes, no
 * NUL (a C string would silently cut it), and the http(s) rule that
 * mt_torrent_create() applies, so every accepted URL can become url-list. */
static int check_url(const char *url, size_t len, size_t idx, mt_error *err)
{
    if (len > MT_POINTER_URL_MAX)
        return mt_error_set(err, MT_EINVAL, "pointer: ws[%zu] is %zu bytes; at most %d allowed", idx, len,
                            MT_POINTER_URL_MAX);
    if (memchr(url, '\0', len))
        return mt_error_set(err, MT_EINVAL, "pointer: ws[%zu] contains a NUL byte", idx);
    if (!mt_url_is_http(url))
        return mt_error_set(err, MT_EINVAL, "pointer: ws[%zu] is not an http(s) URL with a host", idx);
    return MT_OK;
}

/* An inline value holds a manifest: a JSON object. Only its shape is
 * checked here; the manifest parser does the rest. A NUL byte never occurs
 * in JSON text and would cut the document for C string users. */
static int check_inline(const char *json, size_t len, mt_error *err)
{
    size_t i = 0;
    if (len == 0)
        return mt_error_set(err, MT_EINVAL, "pointer: inline manifest is empty");
    if (memchr(json, '\0', len))
        return mt_error_set(err, MT_EINVAL, "pointer: inline manifest contains a NUL byte");
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i == len || json[i] != '{')
        return mt_error_set(err, MT_EINVAL, "pointer: inline value is not a JSON object (must start with '{')");
    return MT_OK;
}

/* Finish a builder and apply the BEP-44 size limit. */
static int finish_value(mt_benc *b, uint8_t **v, size_t *v_len, mt_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = mt_benc_finish(b, &buf, &len, err);
    if (rc)
        return rc;
    if (len > MT_POINTER_MAX) {
        mt_free(buf);
        return mt_error_set(err, MT_ETOOBIG, "pointer: bencoded value would be %zu bytes; BEP-44 allows at most %d",
                            len, MT_POINTER_MAX);
    }
    *v = buf;
    *v_len = len;
    return MT_OK;
}

int mt_pointer_encode(const uint8_t ih[20], int64_t ts, const char *const *ws, size_t n_ws, uint8_t **v,
                      size_t *v_len, mt_error *err)
{
    mt_benc *b = NULL;
    size_t i;
    int rc;

    if (!ih || !v || !v_len || (n_ws && !ws))
        return mt_error_set(err, MT_EINVAL, "pointer: ih, ws and outputs are required");
    *v = NULL;
    *v_len = 0;
    if (ts < 0)
        return mt_error_set(err, MT_EINVAL, "pointer: ts is negative");
    if (n_ws > MT_POINTER_WS_MAX)
        return mt_error_set(err, MT_EINVAL, "pointer: %zu web seeds; at most %d allowed", n_ws, MT_POINTER_WS_MAX);
    for (i = 0; i < n_ws; i++) {
        if (!ws[i])
            return mt_error_set(err, MT_EINVAL, "pointer: ws[%zu] is NULL", i);
        rc = check_url(ws[i], strnlen(ws[i], MT_POINTER_URL_MAX + 1), i, err);
        if (rc)
            return rc;
    }

    rc = mt_benc_new(&b, err);
    if (rc)
        return rc;
    /* Builder errors stick; finish reports the first one. */
    mt_benc_dict_begin(b);
    mt_benc_key(b, (const uint8_t *)"ih", 2);
    mt_benc_string(b, ih, 20);
    mt_benc_key(b, (const uint8_t *)"ts", 2);
    mt_benc_int(b, ts);
    if (n_ws) {
        mt_benc_key(b, (const uint8_t *)"ws", 2);
        mt_benc_list_begin(b);
        for (i = 0; i < n_ws; i++)
            mt_benc_string(b, (const uint8_t *)ws[i], strlen(ws[i]));
        mt_benc_end(b);
    }
    mt_benc_end(b);
    rc = finish_value(b, v, v_len, err);
    mt_benc_free(b);
    return rc;
}

int mt_pointer_encode_inline(const char *json, size_t len, uint8_t **v, size_t *v_len, mt_error *err)
{
    mt_benc *b = NULL;
    int rc;

    if (!json || !v || !v_len)
        return mt_error_set(err, MT_EINVAL, "pointer: json and outputs are required");
    *v = NULL;
    *v_len = 0;
    /* "<len>:" adds at least 2 bytes: no need to copy a huge document
     * only to find it does not fit. */
    if (len > MT_POINTER_MAX)
        return mt_error_set(err, MT_ETOOBIG, "pointer: inline manifest is %zu bytes; BEP-44 values must be under 1000",
                            len);
    rc = check_inline(json, len, err);
    if (rc)
        return rc;
    rc = mt_benc_new(&b, err);
    if (rc)
        return rc;
    mt_benc_string(b, (const uint8_t *)json, len);
    rc = finish_value(b, v, v_len, err);
    mt_benc_free(b);
    return rc;
}

void mt_pointer_clear(mt_pointer *p)
{
    size_t i;
    if (!p)
        return;
    for (i = 0; i < p->n_ws; i++)
        free(p->ws[i]);
    free(p->ws);
    free(p->json);
    memset(p, 0, sizeof *p);
}

static int decode_inline(mt_bdoc *doc, mt_pointer *out, mt_error *err)
{
    const uint8_t *s;
    size_t len;
    int rc;
    mt_bdoc_string(doc, 0, &s, &len);
    rc = check_inline((const char *)s, len, err);
    if (rc)
        return rc;
    out->json = malloc(len + 1);
    if (!out->json)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    memcpy(out->json, s, len);
    out->json[len] = '\0';
    out->json_len = len;
    out->is_inline = 1;
    return MT_OK;
}

static int decode_ws(mt_bdoc *doc, int list, mt_pointer *out, mt_error *err)
{
    int n, i, rc;
    if (mt_bdoc_type(doc, list) != MT_BNODE_LIST)
        return mt_error_set(err, MT_EINVAL, "pointer: ws must be a list of URLs");
    n = mt_bdoc_list_size(doc, list);
    if (n > MT_POINTER_WS_MAX)
        return mt_error_set(err, MT_EINVAL, "pointer: ws has %d URLs; at most %d allowed", n, MT_POINTER_WS_MAX);
    if (n <= 0)
        return MT_OK;
    out->ws = calloc((size_t)n, sizeof *out->ws);
    if (!out->ws)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        const uint8_t *s;
        size_t len;
        int item = mt_bdoc_list_at(doc, list, i);
        if (mt_bdoc_string(doc, item, &s, &len) != 0)
            return mt_error_set(err, MT_EINVAL, "pointer: ws[%d] must be a string", i);
        /* The length before copying; the rest on the C string. */
        if (len > MT_POINTER_URL_MAX)
            return mt_error_set(err, MT_EINVAL, "pointer: ws[%d] is %zu bytes; at most %d allowed", i, len,
                                MT_POINTER_URL_MAX);
        out->ws[i] = malloc(len + 1);
        if (!out->ws[i])
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        out->n_ws = (size_t)i + 1;
        memcpy(out->ws[i], s, len);
        out->ws[i][len] = '\0';
        rc = check_url(out->ws[i], len, (size_t)i, err);
        if (rc)
            return rc;
    }
    return MT_OK;
}

static int decode_dict(mt_bdoc *doc, mt_pointer *out, mt_error *err)
{
    const uint8_t *s;
    size_t len;
    int node;

    node = mt_bdoc_dict_find(doc, 0, "ih");
    if (node < 0)
        return mt_error_set(err, MT_EINVAL, "pointer: ih is missing");
    if (mt_bdoc_string(doc, node, &s, &len) != 0)
        return mt_error_set(err, MT_EINVAL, "pointer: ih must be a byte string");
    if (len != 20)
        return mt_error_set(err, MT_EINVAL, "pointer: ih is %zu bytes; a v1 info-hash is 20", len);
    memcpy(out->ih, s, 20);

    node = mt_bdoc_dict_find(doc, 0, "ts");
    if (node >= 0) {
        if (mt_bdoc_type(doc, node) != MT_BNODE_INT)
            return mt_error_set(err, MT_EINVAL, "pointer: ts must be an integer");
        if (mt_bdoc_int(doc, node, &out->ts) != 0)
            return mt_error_set(err, MT_EINVAL, "pointer: ts does not fit in 64 bits");
        if (out->ts < 0)
            return mt_error_set(err, MT_EINVAL, "pointer: ts is negative");
    }

    node = mt_bdoc_dict_find(doc, 0, "ws");
    if (node >= 0)
        return decode_ws(doc, node, out, err);
    return MT_OK;
}

int mt_pointer_decode(const uint8_t *v, size_t v_len, mt_pointer *out, mt_error *err)
{
    mt_bdoc *doc = NULL;
    int rc;

    if (!out)
        return mt_error_set(err, MT_EINVAL, "pointer: out is required");
    memset(out, 0, sizeof *out);
    if (!v && v_len)
        return mt_error_set(err, MT_EINVAL, "pointer: value is NULL");
    if (v_len > MT_POINTER_MAX)
        return mt_error_set(err, MT_ETOOBIG, "pointer: value is %zu bytes; BEP-44 values must be under 1000", v_len);
    /* Signatures cover these exact bytes: only canonical bencoding. */
    rc = mt_bencode_check(v, v_len, err);
    if (rc) {
        mt_error_prefix(err, "pointer");
        return rc;
    }
    rc = mt_bdoc_parse(v, v_len, 0, 0, &doc, err);
    if (rc) {
        mt_error_prefix(err, "pointer");
        return rc;
    }
    switch (mt_bdoc_type(doc, 0)) {
    case MT_BNODE_STRING:
        rc = decode_inline(doc, out, err);
        break;
    case MT_BNODE_DICT:
        rc = decode_dict(doc, out, err);
        break;
    default:
        rc = mt_error_set(err, MT_EINVAL, "pointer: value must be a dict (pointer) or a byte string (inline manifest)");
        break;
    }
    mt_bdoc_free(doc);
    if (rc)
        mt_pointer_clear(out);
    return rc;
}
