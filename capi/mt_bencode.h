/*
 * mt_bencode.h - bencoding for C code, through libtorrent's own codec.
 *
 * C11 modules never hand-write a bencode parser or writer: they read with
 * an mt_bdoc (lt::bdecode underneath) and write with an mt_benc (an
 * lt::entry built with a stack, then lt::bencode, which sorts dict keys).
 * No C++ exception crosses this boundary and nothing here prints.
 *
 * Decoding. A parsed document names its nodes by small integer handles;
 * the root is 0. A handle stays valid, and string pointers into the
 * document stay valid, until mt_bdoc_free(). The parser accepts what
 * libtorrent accepts (so unsorted or repeated dict keys and integers with
 * leading zeros pass); use mt_bencode_check() (mt_capi.h) when the bytes
 * must also be canonical.
 *
 * Encoding. Calls describe one value in order:
 *
 *     mt_benc_dict_begin(b);
 *       mt_benc_key(b, "ih", 2); mt_benc_string(b, ih, 20);
 *       mt_benc_key(b, "ws", 2); mt_benc_list_begin(b);
 *         mt_benc_string(b, url, strlen(url));
 *       mt_benc_end(b);
 *     mt_benc_end(b);
 *     mt_benc_finish(b, &out, &out_len, &err);
 *
 * The builder calls return 0 or a negative MT_E* code but take no mt_error:
 * the first error sticks, every later call returns it, and
 * mt_benc_finish() reports it with its message. So a caller may make all
 * the calls and check only finish.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_BENCODE_H
#define MT_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node types (MT_BNODE_NONE: not a valid handle). */
enum {
    MT_BNODE_NONE = 0,
    MT_BNODE_STRING,
    MT_BNODE_INT,
    MT_BNODE_LIST,
    MT_BNODE_DICT
};

/* Used when 0 is passed as a limit (about libtorrent's own defaults). */
#define MT_BDOC_DEFAULT_DEPTH  100
#define MT_BDOC_DEFAULT_TOKENS 2000000

/* Deepest nesting of lists and dicts an mt_benc builds (lt::bencode
 * recurses; this bounds its stack). */
#define MT_BENC_MAX_DEPTH 1000

/* ------------------------------------------------------------ decoding */

typedef struct mt_bdoc mt_bdoc;

/*
 * Parse exactly one bencoded value from buf (which is copied). max_depth is
 * how many lists/dicts may nest inside each other ("le" needs 1, "llee" 2);
 * max_tokens bounds the items (each string, key included, integer, list or
 * dict, and each list/dict end counts one: "d1:ai1ee" is 4). 0 picks the
 * defaults above; negative values are MT_EINVAL. Bytes after the value, empty input and
 * anything libtorrent refuses are MT_EINVAL with libtorrent's reason and the
 * byte position. On success *out owns the document (mt_bdoc_free).
 */
int mt_bdoc_parse(const uint8_t *buf, size_t len, int max_depth, int max_tokens,
                  mt_bdoc **out, mt_error *err);

/* MT_BNODE_* of a handle; MT_BNODE_NONE for a NULL doc or invalid handle. */
int mt_bdoc_type(const mt_bdoc *doc, int node);

/* Handle of the value under key (a C string) in a dict, or -1 if the key is
 * absent or dict is not a dict handle. With repeated keys, the first wins. */
int mt_bdoc_dict_find(mt_bdoc *doc, int dict, const char *key);

/* Number of entries of a dict; MT_EINVAL if dict is not a dict handle. */
int mt_bdoc_dict_size(const mt_bdoc *doc, int dict);

/* Entry i of a dict (in input order): its value's handle, and the key bytes
 * in *key / *key_len (either may be NULL; not NUL-terminated). MT_EINVAL if
 * dict is not a dict handle or i is out of range. */
int mt_bdoc_dict_at(mt_bdoc *doc, int dict, int i, const uint8_t **key, size_t *key_len);

/* Number of items of a list; MT_EINVAL if list is not a list handle. */
int mt_bdoc_list_size(const mt_bdoc *doc, int list);

/* Handle of item i of a list; MT_EINVAL if not a list or out of range. */
int mt_bdoc_list_at(mt_bdoc *doc, int list, int i);

/* The bytes of a string node (not NUL-terminated, may contain NULs; valid
 * while the document lives). 0, or MT_EINVAL if node is not a string. */
int mt_bdoc_string(const mt_bdoc *doc, int node, const uint8_t **s, size_t *len);

/* The value of an integer node. MT_EINVAL if node is not an integer or the
 * number does not fit in int64_t (libtorrent itself would read it as 0). */
int mt_bdoc_int(const mt_bdoc *doc, int node, int64_t *v);

/* Free a document. NULL ok. */
void mt_bdoc_free(mt_bdoc *doc);

/* ------------------------------------------------------------ encoding */

typedef struct mt_benc mt_benc;

/* A new, empty builder (mt_benc_free). */
int mt_benc_new(mt_benc **out, mt_error *err);

/* Open a dict / list as the next value. */
int mt_benc_dict_begin(mt_benc *b);
int mt_benc_list_begin(mt_benc *b);

/* Close the innermost open container. MT_EINVAL if none is open, or if a
 * dict's last key has no value. */
int mt_benc_end(mt_benc *b);

/* The next value in the innermost open dict goes under this key (any
 * bytes; key may be NULL when key_len is 0). MT_EINVAL when no dict is
 * innermost, a key is already waiting, or the dict has this key already. */
int mt_benc_key(mt_benc *b, const uint8_t *key, size_t key_len);

/* A byte string (s may be NULL when len is 0) / an integer as the next
 * value: the top-level value, the next list item, or the value of the
 * waiting key. MT_EINVAL in a dict without a key, or after the top-level
 * value is complete. */
int mt_benc_string(mt_benc *b, const uint8_t *s, size_t len);
int mt_benc_int(mt_benc *b, int64_t v);

/*
 * The bencoding of what was built (dict keys sorted as raw bytes) in a new
 * buffer, freed with mt_free() (mt_capi.h). The first error of any earlier
 * call, if there was one; MT_EINVAL if nothing was built or a container is
 * still open. The builder is left as it was.
 */
int mt_benc_finish(mt_benc *b, uint8_t **out, size_t *out_len, mt_error *err);

/* Free a builder. NULL ok. */
void mt_benc_free(mt_benc *b);

/* ------------------------------------------------------------ URLs */

/* 1 if url is an http:// or https:// URL with a host and no whitespace or
 * control bytes: the rule mt_torrent_create() and mt_torrent_add_web_seed()
 * apply to web seeds. 0 otherwise (and for NULL). */
int mt_url_is_http(const char *url);

#ifdef __cplusplus
}
#endif
#endif
