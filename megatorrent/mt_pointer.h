/*
 * mt_pointer.h - the value `v` of a feed's mutable DHT item (DESIGN.md,
 * "DHT items").
 *
 * Two forms, both accepted by resolvers:
 *  - pointer (default): v = bencoded dict
 *      {"ih": 20-byte v1 info-hash of the feed-index torrent,
 *       "ts": unix seconds, "ws": [web seed URL, ...] (optional)}
 *    a superset of BEP-46 {"ih"}: a plain BEP-46 value decodes (ts 0, no
 *    web seeds), and keys we do not know are ignored, so later versions may
 *    add some;
 *  - inline (the reference client's form): v = a bencoded byte string
 *    holding the manifest JSON document itself.
 *
 * BEP-44 values must be under 1000 bytes bencoded: the encoders refuse
 * bigger ones (MT_ETOOBIG) so nothing oversized is ever put, and the
 * decoder refuses them too. Decoding also requires canonical bencoding, the
 * only form a signature can be checked against byte for byte.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_POINTER_H
#define MT_POINTER_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_POINTER_MAX     999  /* bytes of bencoded v (BEP-44: under 1000) */
#define MT_POINTER_WS_MAX  16   /* web seeds in one pointer */
#define MT_POINTER_URL_MAX 512  /* bytes of one web seed URL */

/*
 * A decoded value. Everything it points to is owned by it: release with
 * mt_pointer_clear().
 */
typedef struct mt_pointer {
    int      is_inline;   /* 1: inline form (json); 0: pointer form */
    /* pointer form */
    uint8_t  ih[20];      /* v1 info-hash of the feed-index torrent */
    int64_t  ts;          /* unix seconds; 0 when absent (plain BEP-46) */
    char   **ws;          /* n_ws NUL-terminated http(s) URLs, or NULL */
    size_t   n_ws;
    /* inline form */
    char    *json;        /* the manifest JSON (json_len bytes + a NUL) */
    size_t   json_len;
} mt_pointer;

/*
 * Bencode a pointer {ih, ts, ws} into a new buffer *v (mt_free). ts must be
 * >= 0; ws (n_ws entries, may be NULL when n_ws is 0) are http(s) URLs of
 * at most MT_POINTER_URL_MAX bytes, at most MT_POINTER_WS_MAX of them; "ws"
 * is left out when n_ws is 0. MT_ETOOBIG, naming the size, when the value
 * would be 1000 bytes or more.
 */
int mt_pointer_encode(const uint8_t ih[20], int64_t ts, const char *const *ws, size_t n_ws,
                      uint8_t **v, size_t *v_len, mt_error *err);

/*
 * Bencode a manifest JSON document as an inline value (a byte string) into
 * a new buffer *v (mt_free). The document must be non-empty, contain no NUL
 * byte and start with '{' after optional JSON whitespace (it is not parsed
 * here). MT_ETOOBIG when the value would be 1000 bytes or more.
 */
int mt_pointer_encode_inline(const char *json, size_t len, uint8_t **v, size_t *v_len,
                             mt_error *err);

/*
 * Decode v (as received from the DHT) into *out, which is overwritten (clear
 * a previous result first). MT_ETOOBIG for 1000 bytes or more; MT_EINVAL,
 * naming the field, for anything that is not canonical bencoding of one of
 * the two forms. On failure *out is left empty (cleared).
 */
int mt_pointer_decode(const uint8_t *v, size_t v_len, mt_pointer *out, mt_error *err);

/* Free what p owns and zero it. NULL ok. */
void mt_pointer_clear(mt_pointer *p);

#ifdef __cplusplus
}
#endif
#endif
