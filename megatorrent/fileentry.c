/* fileentry.c - the one FileEntry validator (see mt_fileentry.h). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "members.h"
#include "mt_capi.h" /* mt_magnet_parse */
#include "mt_fileentry.h"
#include "mt_json.h"

#define TAG 16               /* Poly1305 tag bytes at the end of a blob */
#define MEMBER_PATH_MAX 160  /* caller's path + ".chunks[N]" */

/* path, a dot when path is non-empty: "collections[0].items[1]." or "". */
#define P(path) (path), (*(path) ? "." : "")

/* One chunk into *c (path names it: "...chunks[3]"). */
static int check_chunk(const cJSON *o, const char *path, mt_fileentry_chunk *c, mt_error *err)
{
    int64_t off, len, real = -1, plain;
    int rc;
    if (!cJSON_IsObject(o))
        return mt_error_set(err, MT_EINVAL, "%s: must be an object", path);
    if ((rc = mtf_member_hex(o, "blobId", 32, NULL, &c->blob_id, path, err)) ||
        (rc = mtf_member_hex(o, "key", 32, c->key, NULL, path, err)) ||
        (rc = mtf_member_hex(o, "nonce", 12, c->nonce, NULL, path, err)))
        return rc;
    if ((rc = mtf_member_int(o, "offset", 0, MT_BLOB_BYTES, &off, path, err)) ||
        (rc = mtf_member_int(o, "length", TAG, MT_BLOB_BYTES, &len, path, err)))
        return rc;
    plain = len - TAG;
    /* Padded: realSize bytes of the plaintext are data. Unpadded (no
     * realSize, the reference client): all of it is. */
    if (cJSON_GetObjectItemCaseSensitive(o, "realSize") &&
        (rc = mtf_member_int(o, "realSize", 0, plain, &real, path, err)))
        return rc;
    c->data = real >= 0 ? real : plain;
    if (off + c->data > plain)
        return mt_error_set(err, MT_EINVAL, "%s.offset: offset + realSize runs past the blob's plaintext", path);
    c->offset = (uint32_t)off;
    c->length = (uint32_t)len;
    c->real_size = real;
    return MT_OK;
}

/* "swarm": a magnet link with an info-hash; UTF-8, since it is written
 * back into JSON (a caller-built tree need not be). */
static int check_swarm(const cJSON *v, const char *path, mt_error *err)
{
    mt_magnet_info mi;
    char where[MEMBER_PATH_MAX];
    int rc;
    if (!cJSON_IsString(v))
        return mt_error_set(err, MT_EINVAL, "%s%sswarm: must be a magnet link", P(path));
    if (!mt_json_utf8_valid(v->valuestring))
        return mt_error_set(err, MT_EINVAL, "%s%sswarm: must be a magnet link (valid UTF-8)", P(path));
    if ((rc = mt_magnet_parse(v->valuestring, &mi, err)) != 0) {
        snprintf(where, sizeof where, "%s%sswarm", P(path));
        mt_error_prefix(err, where);
        return rc;
    }
    return MT_OK;
}

int mt_fileentry_check(const cJSON *entry, const char *path, mt_fileentry_chunk_fn on_chunk, void *ud,
                       mt_fileentry_info *info, mt_error *err)
{
    const cJSON *name, *chunks, *swarm, *c;
    char cpath[MEMBER_PATH_MAX];
    mt_fileentry_chunk ch;
    int64_t size, total = 0;
    size_t i = 0, nlen;
    int rc = MT_OK;

    if (!path)
        path = "";
    if (!cJSON_IsObject(entry))
        return mt_error_set(err, MT_EINVAL, "%s: must be a JSON object", *path ? path : "FileEntry");
    name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    chunks = cJSON_GetObjectItemCaseSensitive(entry, "chunks");
    swarm = cJSON_GetObjectItemCaseSensitive(entry, "swarm");
    nlen = cJSON_IsString(name) ? strlen(name->valuestring) : 0;
    if (nlen == 0 || nlen > MT_NAME_MAX || !mt_json_utf8_valid(name->valuestring))
        return mt_error_set(err, MT_EINVAL, "%s%sname: must be a non-empty UTF-8 string of at most %d bytes",
                            P(path), MT_NAME_MAX);
    if ((rc = mtf_member_int(entry, "size", 0, MT_JSON_SAFE_INT, &size, path, err)))
        return rc;
    if (!cJSON_IsArray(chunks))
        return mt_error_set(err, MT_EINVAL, "%s%schunks: must be an array", P(path));
    /* total cannot overflow: it stops growing once past size (<= 2^53),
     * and a chunk adds at most 2^20. */
    cJSON_ArrayForEach(c, chunks) {
        snprintf(cpath, sizeof cpath, "%s%schunks[%zu]", P(path), i);
        memset(&ch, 0, sizeof ch);
        rc = check_chunk(c, cpath, &ch, err);
        if (rc == MT_OK && on_chunk)
            on_chunk(ud, i, &ch);
        total += ch.data;
        sodium_memzero(&ch, sizeof ch);
        if (rc)
            return rc;
        i++;
        if (total > size)
            break;
    }
    if (total != size)
        return mt_error_set(err, MT_EINVAL, "%s%ssize: is %" PRId64 " but the chunks hold %s%" PRId64 " bytes",
                            P(path), size, total > size ? "at least " : "", total);
    if (swarm && (rc = check_swarm(swarm, path, err)))
        return rc;
    if (info) {
        info->name = name->valuestring;
        info->size = size;
        info->n_chunks = i;
        info->chunks = chunks;
        info->swarm = swarm ? swarm->valuestring : NULL;
    }
    return MT_OK;
}
