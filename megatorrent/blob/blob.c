/* blob.c - encrypted blobs, FileEntry, ingest and reassembly (see mt_blob.h). */
#define _GNU_SOURCE /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "members.h" /* mtf_lower_hex */
#include "mt_blob.h"
#include "mt_fileentry.h"
#include "mt_json.h"
#include "mt_util.h"

#define PATH_BUF 4096         /* file paths we build */
#define MEMBER_PATH_MAX 48    /* "chunks[18446744073709551615]" */
#define PART_SUFFIX ".mtpart" /* reassembly in progress */

/* The writer's resume record, appended to the .mtpart file while it is in
 * progress: magic || fingerprint of the FileEntry || done bitmap. */
#define PART_MAGIC "MTPART1\n"
#define PART_MAGIC_LEN 8
#define PART_FP_LEN crypto_hash_sha256_BYTES

/* ---------------------------------------------------------------- helpers */

/* Read up to cap bytes; fewer only at end of file. -1 on a read error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}


/* The same at a file offset. */
static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}


/* path + ".mtpart" into out; MT_EINVAL if it does not fit. */
static int part_path(const char *path, char *out, size_t cap, mt_error *err)
{
    if ((size_t)snprintf(out, cap, "%s" PART_SUFFIX, path) >= cap)
        return mt_error_set(err, MT_EINVAL, "output path too long: %.64s...", path);
    return MT_OK;
}

/* Wipe every string in a tree and its siblings after it: FileEntry trees
 * hold keys as hex. Parsed trees are at most MT_MANIFEST_DEPTH deep. */
static void cjson_wipe(cJSON *v)
{
    for (; v; v = v->next) {
        if (v->valuestring)
            sodium_memzero(v->valuestring, strlen(v->valuestring));
        cjson_wipe(v->child);
    }
}

static void cjson_wipe_delete(cJSON *v)
{
    if (v) {
        if (v->valuestring)
            sodium_memzero(v->valuestring, strlen(v->valuestring));
        cjson_wipe(v->child);
    }
    cJSON_Delete(v);
}

/* ------------------------------------------------------------ blobs */

int mt_blob_id_valid(const char *s)
{
    return s && mtf_lower_hex(s, 32);
}

/* Every blob is hashed on ingest and on every read, and SHA-256 is most of
 * that cost: OpenSSL's uses the CPU's SHA extensions (about 5x libsodium's
 * portable code here). Same digest; libsodium's is the fallback. */
void mt_blob_id(const uint8_t *blob, size_t len, char out[MT_BLOB_ID_HEX])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    unsigned int n = 0;
    if (EVP_Digest(blob, len, h, &n, EVP_sha256(), NULL) != 1 || n != sizeof h)
        crypto_hash_sha256(h, blob, len);
    mt_hex_encode(h, sizeof h, out);
}

int64_t mt_blob_chunk_data_size(const mt_blob_chunk *c)
{
    if (c->real_size >= 0)
        return c->real_size;
    return c->length >= MT_BLOB_TAG ? (int64_t)c->length - MT_BLOB_TAG : 0;
}

int mt_blob_seal(const uint8_t *plain, size_t len, int pad, uint8_t *blob, size_t *blob_len,
                 mt_blob_chunk *c, mt_error *err)
{
    unsigned long long clen = 0;
    size_t plen;

    if ((!plain && len) || !blob || !blob_len || !c)
        return mt_error_set(err, MT_EINVAL, "plain, blob, blob_len and c are required");
    if (len > MT_BLOB_CHUNK)
        return mt_error_set(err, MT_EINVAL, "chunk is %zu bytes; at most %u fit in a blob", len, MT_BLOB_CHUNK);
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    plen = pad ? MT_BLOB_CHUNK : len;
    /* Seal in place in blob: padding needs data and random bytes in one
     * buffer, and the caller's is const (memmove: plain may be blob). */
    if (len)
        memmove(blob, plain, len);
    if (plen > len)
        randombytes_buf(blob + len, plen - len);
    memset(c, 0, sizeof *c);
    randombytes_buf(c->key, sizeof c->key);
    randombytes_buf(c->nonce, sizeof c->nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(blob, &clen, blob, plen, NULL, 0, NULL, c->nonce, c->key);
    c->offset = 0;
    c->length = (uint32_t)clen;
    c->real_size = pad ? (int64_t)len : -1;
    mt_blob_id(blob, (size_t)clen, c->blob_id);
    *blob_len = (size_t)clen;
    return MT_OK;
}

int mt_blob_open(const mt_blob_chunk *c, const uint8_t *blob, size_t blob_len, uint8_t *out, size_t cap,
                 size_t *out_len, mt_error *err)
{
    char id[MT_BLOB_ID_HEX];
    uint8_t dummy[1], *tmp = NULL, *plain;
    unsigned long long mlen = 0;
    size_t plen, data;
    int rc = MT_OK;

    if (!c || (!blob && blob_len) || !out_len)
        return mt_error_set(err, MT_EINVAL, "c, blob and out_len are required");
    if (!mt_blob_id_valid(c->blob_id))
        return mt_error_set(err, MT_EINVAL, "blobId: must be 64 lower-case hex digits");
    if (c->length < MT_BLOB_TAG || c->length > MT_BLOB_BYTES || c->real_size < -1 ||
        c->real_size > (int64_t)c->length - MT_BLOB_TAG)
        return mt_error_set(err, MT_EINVAL, "blob %s: length %" PRIu32 " and realSize %" PRId64 " do not fit a blob",
                            c->blob_id, c->length, c->real_size);
    /* The id first: a torn or corrupted file is reported as such and its
     * bytes never reach the cipher. */
    mt_blob_id(blob ? blob : dummy, blob_len, id);
    if (strcmp(id, c->blob_id) != 0)
        return mt_error_set(err, MT_ECRYPTO, "blob %s: SHA-256 mismatch", c->blob_id);
    if ((uint64_t)c->offset + c->length > blob_len)
        return mt_error_set(err, MT_EINVAL, "blob %s: is %zu bytes, shorter than offset + length (%" PRIu32
                            " + %" PRIu32 ")", c->blob_id, blob_len, c->offset, c->length);
    plen = c->length - MT_BLOB_TAG;
    data = (size_t)mt_blob_chunk_data_size(c);
    if (!out) {
        out = dummy;
        cap = 0;
    }
    if (cap < data)
        return mt_error_set(err, MT_EINVAL, "blob %s: output holds %zu bytes, the chunk has %zu", c->blob_id, cap,
                            data);
    /* Decrypt straight into out when the padding fits there too. */
    if (cap >= plen) {
        plain = out;
    } else if (!(plain = tmp = malloc(plen))) {
        return mt_error_set(err, MT_ENOMEM, "out of memory opening blob %s", c->blob_id);
    }
    if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &mlen, NULL, blob + c->offset, c->length, NULL, 0,
                                                  c->nonce, c->key) != 0) {
        rc = mt_error_set(err, MT_ECRYPTO, "blob %s: authentication failed (wrong key or nonce, or tampered)",
                          c->blob_id);
    } else {
        if (tmp)
            memcpy(out, tmp, data);
        *out_len = data;
    }
    if (tmp) {
        sodium_memzero(tmp, plen);
        free(tmp);
    }
    return rc;
}

/* ---------------------------------------------------------- FileEntry */

/* The rules are mt_fileentry_check's (formats layer), the ones manifest
 * items get. A decoded entry (parsed, or built by a caller) is judged by
 * the same function: it is written back into a tree first (entry_build),
 * so whatever is written out or reassembled parses back, and no second
 * copy of the rules exists to drift. */

/* One chunk as {blobId, key, length, nonce, offset, realSize?}, sorted;
 * not checked. realSize is left out only for -1 (unpadded), so any other
 * bad value reaches the validator. */
static cJSON *chunk_to_cjson(const mt_blob_chunk *c)
{
    cJSON *o = cJSON_CreateObject();
    char id[MT_BLOB_ID_HEX + 1], key[65], nonce[25];
    int ok;
    if (!o)
        return NULL;
    /* A caller's id may lack its NUL: 65 bytes then fail the 64-hex rule. */
    memcpy(id, c->blob_id, MT_BLOB_ID_HEX);
    id[MT_BLOB_ID_HEX] = '\0';
    mt_hex_encode(c->key, sizeof c->key, key);
    mt_hex_encode(c->nonce, sizeof c->nonce, nonce);
    ok = cJSON_AddStringToObject(o, "blobId", id) && cJSON_AddStringToObject(o, "key", key) &&
         cJSON_AddNumberToObject(o, "length", (double)c->length) &&
         cJSON_AddStringToObject(o, "nonce", nonce) && cJSON_AddNumberToObject(o, "offset", (double)c->offset) &&
         (c->real_size == -1 || cJSON_AddNumberToObject(o, "realSize", (double)c->real_size));
    sodium_memzero(key, sizeof key);
    if (!ok) {
        cjson_wipe_delete(o);
        return NULL;
    }
    return o;
}

/* fe as a FileEntry tree {chunks, name, size, swarm?} (sorted), unchecked. */
static int entry_build(const mt_fileentry *fe, cJSON **out, mt_error *err)
{
    char name[sizeof fe->name + 1];
    cJSON *o, *arr, *c;
    int ok;

    if (fe->n_chunks && !fe->chunks)
        return mt_error_set(err, MT_EINVAL, "chunks: missing");
    /* A name without its NUL becomes 256 bytes, which the name rule refuses. */
    memcpy(name, fe->name, sizeof fe->name);
    name[sizeof fe->name] = '\0';
    if (!(o = cJSON_CreateObject()) || !(arr = cJSON_AddArrayToObject(o, "chunks")))
        goto oom;
    for (size_t i = 0; i < fe->n_chunks; i++) {
        if (!(c = chunk_to_cjson(&fe->chunks[i])))
            goto oom;
        cJSON_AddItemToArray(arr, c);
    }
    ok = cJSON_AddStringToObject(o, "name", name) && cJSON_AddNumberToObject(o, "size", (double)fe->size) &&
         (!fe->swarm || cJSON_AddStringToObject(o, "swarm", fe->swarm));
    if (!ok)
        goto oom;
    *out = o;
    return MT_OK;
oom:
    cjson_wipe_delete(o);
    return mt_error_set(err, MT_ENOMEM, "out of memory");
}

/* A whole decoded entry, before it is written out or used. */
static int entry_check(const mt_fileentry *fe, mt_error *err)
{
    cJSON *o = NULL;
    int rc;
    if ((rc = entry_build(fe, &o, err)))
        return rc;
    rc = mt_fileentry_check(o, "", NULL, NULL, NULL, err);
    cjson_wipe_delete(o);
    return rc;
}

/* Copy a chunk the validator passed into the entry being built (ud). */
static void take_chunk(void *ud, size_t i, const mt_fileentry_chunk *c)
{
    mt_fileentry *fe = ud;
    mt_blob_chunk *d;
    if (i >= fe->n_chunks) /* n_chunks is the array's size: cannot happen */
        return;
    d = &fe->chunks[i];
    memcpy(d->blob_id, c->blob_id, MT_BLOB_ID_HEX); /* 64 hex + NUL */
    memcpy(d->key, c->key, sizeof d->key);
    memcpy(d->nonce, c->nonce, sizeof d->nonce);
    d->offset = c->offset;
    d->length = c->length;
    d->real_size = c->real_size;
}

int mt_fileentry_from_cjson(const cJSON *o, mt_fileentry **out, mt_error *err)
{
    const cJSON *chunks;
    mt_fileentry_info fi;
    mt_fileentry *fe;
    size_t n;
    int rc;

    if (!o || !out)
        return mt_error_set(err, MT_EINVAL, "o and out are required");
    chunks = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "chunks") : NULL;
    n = cJSON_IsArray(chunks) ? (size_t)cJSON_GetArraySize(chunks) : 0;
    if (!(fe = calloc(1, sizeof *fe)) || (n && !(fe->chunks = calloc(n, sizeof *fe->chunks)))) {
        free(fe);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    fe->n_chunks = n; /* so mt_fileentry_free wipes every key on failure too */
    if ((rc = mt_fileentry_check(o, "", take_chunk, fe, &fi, err)))
        goto fail;
    if (fi.swarm && !(fe->swarm = strdup(fi.swarm))) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(fe->name, fi.name, strlen(fi.name) + 1); /* <= MT_NAME_MAX bytes */
    fe->size = fi.size;
    *out = fe;
    return MT_OK;
fail:
    mt_fileentry_free(fe);
    return rc;
}

int mt_fileentry_parse(const char *json, size_t len, mt_fileentry **out, mt_error *err)
{
    cJSON *root = NULL, *loose = NULL;
    mt_fileentry *probe = NULL;
    mt_error sub;
    int rc;

    if (!json || !out)
        return mt_error_set(err, MT_EINVAL, "json and out are required");
    /* The strict parse a manifest gets, so exactly what a manifest would
     * accept as an item is accepted here. */
    rc = mt_json_parse(json, len, MT_JSON_INTEGERS, MT_FILEENTRY_JSON_MAX, MT_MANIFEST_DEPTH, &root, err);
    if (rc == MT_EINVAL &&
        mt_json_parse(json, len, 0, MT_FILEENTRY_JSON_MAX, MT_MANIFEST_DEPTH, &loose, NULL) == 0) {
        /* Only the integers rule failed. If a member we read is the culprit
         * ("size": 1.5), name it instead of a byte offset; if the text is
         * otherwise valid, the fraction was elsewhere: keep the parser's. */
        if (mt_fileentry_from_cjson(loose, &probe, &sub) != 0) {
            if (err)
                *err = sub;
            rc = sub.code;
        } else {
            mt_error_prefix(err, "FileEntry");
        }
        mt_fileentry_free(probe);
        cjson_wipe_delete(loose);
        return rc;
    }
    if (rc) {
        mt_error_prefix(err, "FileEntry");
        return rc;
    }
    rc = mt_fileentry_from_cjson(root, out, err);
    cjson_wipe_delete(root);
    return rc;
}

int mt_fileentry_to_cjson(const mt_fileentry *fe, cJSON **out, mt_error *err)
{
    cJSON *o = NULL;
    int rc;

    if (!fe || !out)
        return mt_error_set(err, MT_EINVAL, "fe and out are required");
    /* Never write what would not parse back. */
    if ((rc = entry_build(fe, &o, err)))
        return rc;
    if ((rc = mt_fileentry_check(o, "", NULL, NULL, NULL, err))) {
        cjson_wipe_delete(o);
        return rc;
    }
    *out = o;
    return MT_OK;
}

int mt_fileentry_to_json(const mt_fileentry *fe, char **json, size_t *len, mt_error *err)
{
    cJSON *o = NULL;
    int rc;
    if (!json)
        return mt_error_set(err, MT_EINVAL, "json is required");
    if ((rc = mt_fileentry_to_cjson(fe, &o, err)))
        return rc;
    /* RFC 8785: sorted members, plain integers, one spelling per entry. */
    rc = mt_json_canonical(o, json, len, err);
    cjson_wipe_delete(o);
    return rc;
}

/* magnet under the FileEntry "swarm" rule, on its own: checked as the
 * swarm of an empty entry, so the one validator decides and names it. */
static int swarm_check(const char *magnet, mt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    int rc;
    if (!o || !cJSON_AddStringToObject(o, "name", "-") || !cJSON_AddNumberToObject(o, "size", 0) ||
        !cJSON_AddArrayToObject(o, "chunks") || !cJSON_AddStringToObject(o, "swarm", magnet)) {
        cJSON_Delete(o);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    rc = mt_fileentry_check(o, "", NULL, NULL, NULL, err);
    cJSON_Delete(o);
    return rc;
}

int mt_fileentry_set_swarm(mt_fileentry *fe, const char *magnet, mt_error *err)
{
    char *dup;
    int rc;
    if (!fe)
        return mt_error_set(err, MT_EINVAL, "fe is required");
    if (magnet) {
        if ((rc = swarm_check(magnet, err)))
            return rc;
        if (!(dup = strdup(magnet)))
            return mt_error_set(err, MT_ENOMEM, "out of memory");
    } else {
        dup = NULL;
    }
    free(fe->swarm);
    fe->swarm = dup;
    return MT_OK;
}

void mt_fileentry_free(mt_fileentry *fe)
{
    if (!fe)
        return;
    if (fe->chunks) {
        sodium_memzero(fe->chunks, fe->n_chunks * sizeof *fe->chunks);
        free(fe->chunks);
    }
    free(fe->swarm);
    sodium_memzero(fe, sizeof *fe);
    free(fe);
}

/* ------------------------------------------------------------- ingest */

/* Room for one more chunk. The array holds keys, so a grown copy is made
 * by hand and the old one wiped (realloc would leave it behind). */
static int chunks_reserve(mt_blob_chunk **a, size_t *cap, size_t n)
{
    mt_blob_chunk *b;
    size_t ncap;
    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / sizeof *b || !(b = calloc(ncap, sizeof *b)))
        return -1;
    if (*a) {
        memcpy(b, *a, n * sizeof *b);
        sodium_memzero(*a, *cap * sizeof *b);
        free(*a);
    }
    *a = b;
    *cap = ncap;
    return 0;
}

/* dir/<id>, written through <id>.tmp and a rename so no reader sees a torn
 * blob. An existing dir/<id> is kept: same name, same bytes. Not synced
 * here: the caller syncs the file system once for all blobs. */
static int store_blob(int dirfd, const char *dir, const char *id, const uint8_t *blob, size_t len, mt_error *err)
{
    char tmp[MT_BLOB_ID_HEX + 8];
    struct stat st;
    int fd, e;

    if (fstatat(dirfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return MT_OK;
    snprintf(tmp, sizeof tmp, "%s.tmp", id);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mt_error_set(err, MT_EIO, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
    if (mt_fd_write_all(fd, blob, len) != 0) {
        e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return mt_error_set(err, MT_EIO, "cannot write %s/%s: %s", dir, tmp, strerror(e));
    }
    /* Start writeback now, so the final syncfs finds little left to do. */
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (close(fd) != 0) {
        e = errno;
        unlinkat(dirfd, tmp, 0);
        return mt_error_set(err, MT_EIO, "cannot write %s/%s: %s", dir, tmp, strerror(e));
    }
    if (renameat(dirfd, tmp, dirfd, id) != 0) {
        e = errno;
        unlinkat(dirfd, tmp, 0);
        return mt_error_set(err, MT_EIO, "cannot rename %s/%s to %s: %s", dir, tmp, id, strerror(e));
    }
    return MT_OK;
}

/*
 * Ingest overlaps sealing (on the caller's thread) with writing (on a
 * writer thread): two blob buffers change hands, so memory stays at three
 * 1 MiB buffers and the file system work hides behind the crypto.
 */
typedef struct blob_writer_thread {
    pthread_t       t;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    uint8_t        *buf[2];
    size_t          len[2];
    char            id[2][MT_BLOB_ID_HEX];
    int             full[2];
    int             stop;
    int             rc;       /* first write error; later blobs are dropped */
    mt_error        err;
    int             dirfd;
    const char     *dir;
} blob_writer_thread;

static void *writer_main(void *arg)
{
    blob_writer_thread *w = arg;
    for (unsigned k = 0;; k ^= 1) {
        pthread_mutex_lock(&w->mu);
        while (!w->full[k] && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full[k]) { /* stopped and nothing left */
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        int failed = w->rc != 0;
        pthread_mutex_unlock(&w->mu);
        mt_error e;
        int rc = failed ? MT_OK : store_blob(w->dirfd, w->dir, w->id[k], w->buf[k], w->len[k], &e);
        pthread_mutex_lock(&w->mu);
        if (rc && !w->rc) {
            w->rc = rc;
            w->err = e;
        }
        w->full[k] = 0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* Wait for buffer k to be free; its write error so far, if any. */
static int writer_take(blob_writer_thread *w, unsigned k, mt_error *err)
{
    int rc;
    pthread_mutex_lock(&w->mu);
    while (w->full[k])
        pthread_cond_wait(&w->cv, &w->mu);
    rc = w->rc;
    if (rc && err)
        *err = w->err;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void writer_give(blob_writer_thread *w, unsigned k, size_t len, const char *id)
{
    pthread_mutex_lock(&w->mu);
    w->len[k] = len;
    memcpy(w->id[k], id, MT_BLOB_ID_HEX);
    w->full[k] = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Let the writer drain both buffers and end; its first error, if any. */
static int writer_finish(blob_writer_thread *w, mt_error *err)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->t, NULL);
    if (w->rc && err)
        *err = w->err;
    return w->rc;
}

/* The FileEntry name: the caller's, else path's last component; made safe
 * for a directory and required to be UTF-8 (it goes into JSON). */
static int ingest_name(const char *path, const char *given, char out[MT_NAME_MAX + 1], mt_error *err)
{
    const char *base = given;
    if (!base) {
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
    }
    if (mt_filename_sanitize(base, out, MT_NAME_MAX + 1) != 0)
        return mt_error_set(err, MT_EINVAL, "cannot make a file name of \"%.64s\"", base);
    if (!mt_json_utf8_valid(out))
        return mt_error_set(err, MT_EINVAL, "name: \"%.64s\" is not valid UTF-8; pass a name", out);
    return MT_OK;
}

/* The blob directory, created 0700 if missing, opened for *at() calls. */
static int open_blob_dir(const char *dir, int *dirfd, mt_error *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return mt_error_set(err, MT_EIO, "cannot create %s: %s", dir, strerror(errno));
    *dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return mt_error_set(err, errno == ENOTDIR ? MT_EINVAL : MT_EIO, "cannot open directory %s: %s", dir,
                            strerror(errno));
    return MT_OK;
}

int mt_blob_ingest_file(const char *path, const char *dir, const mt_blob_ingest_opts *o, mt_fileentry **out,
                        mt_error *err)
{
    static const mt_blob_ingest_opts defaults;
    char name[MT_NAME_MAX + 1];
    uint8_t *plain = NULL;
    mt_blob_chunk *chunks = NULL;
    mt_fileentry *fe = NULL;
    blob_writer_thread w;
    size_t n = 0, cap = 0, blen;
    int64_t done = 0, total;
    struct stat st;
    int fd = -1, dirfd = -1, rc, started = 0, threaded = 0;
    ssize_t got;

    if (!path || !dir || !out)
        return mt_error_set(err, MT_EINVAL, "path, dir and out are required");
    if (!o)
        o = &defaults;
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    if ((rc = ingest_name(path, o->name, name, err)))
        return rc;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return mt_error_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EIO, "cannot open %s: %s", path,
                            strerror(errno));
    memset(&w, 0, sizeof w);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mt_error_set(err, MT_EINVAL, "%s is not a regular file", path);
        goto out;
    }
    if ((rc = open_blob_dir(dir, &dirfd, err)))
        goto out;
    /* The only big allocations, whatever the file size. */
    plain = malloc(MT_BLOB_CHUNK);
    w.buf[0] = malloc(MT_BLOB_BYTES);
    w.buf[1] = malloc(MT_BLOB_BYTES);
    if (!plain || !w.buf[0] || !w.buf[1]) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    w.dirfd = dirfd;
    w.dir = dir;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    if (pthread_create(&w.t, NULL, writer_main, &w) != 0) {
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
        rc = mt_error_set(err, MT_ENOMEM, "cannot start the blob writer thread");
        goto out;
    }
    started = threaded = 1;
    total = st.st_size;
    for (;;) {
        unsigned k = (unsigned)(n & 1);
        if ((got = read_full(fd, plain, MT_BLOB_CHUNK)) < 0) {
            rc = mt_error_set(err, MT_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        if (chunks_reserve(&chunks, &cap, n) != 0) {
            rc = mt_error_set(err, MT_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = writer_take(&w, k, err)) ||
            (rc = mt_blob_seal(plain, (size_t)got, !o->no_pad, w.buf[k], &blen, &chunks[n], err)))
            goto out;
        writer_give(&w, k, blen, chunks[n].blob_id);
        n++;
        done += got;
        if (done > total)
            total = done; /* the file grew while we read it */
        if (o->progress && o->progress(o->ud, done, total) != 0) {
            rc = mt_error_set(err, MT_ESTATE, "ingest of %s cancelled by the progress callback", path);
            goto out;
        }
        if ((size_t)got < MT_BLOB_CHUNK)
            break; /* read_full stops short only at end of file */
    }
    started = 0;
    if ((rc = writer_finish(&w, err)))
        goto out;
    /* One flush for every blob written, instead of one fsync per blob. */
    if (syncfs(dirfd) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot sync %s: %s", dir, strerror(errno));
        goto out;
    }
    if (!(fe = calloc(1, sizeof *fe))) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(fe->name, name, sizeof name);
    fe->size = done;
    fe->n_chunks = n;
    fe->chunks = n ? chunks : NULL;
    if (n)
        chunks = NULL, cap = 0;
    *out = fe;
out:
    if (started)
        writer_finish(&w, NULL); /* blobs already sealed still land: valid, content-addressed */
    if (threaded) {
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
    }
    if (chunks) {
        sodium_memzero(chunks, cap * sizeof *chunks);
        free(chunks);
    }
    if (plain) {
        sodium_memzero(plain, MT_BLOB_CHUNK);
        free(plain);
    }
    free(w.buf[0]); /* ciphertext only */
    free(w.buf[1]);
    if (dirfd >= 0)
        close(dirfd);
    close(fd);
    return rc;
}

/* --------------------------------------------------------- reassembly */

/* Read the blob file at path into buf (cap bytes). A file over cap cannot
 * be a blob: MT_ECRYPTO, like any other corruption. */
static int read_blob(const char *path, const char *id, uint8_t *buf, size_t cap, size_t *len, mt_error *err)
{
    uint8_t extra;
    struct stat st;
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = MT_OK;

    if (fd < 0)
        return mt_error_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EIO, "blob %s: cannot open %s: %s", id, path,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mt_error_set(err, MT_EIO, "blob %s: %s is not a regular file", id, path);
    } else if ((got = read_full(fd, buf, cap)) < 0) {
        rc = mt_error_set(err, MT_EIO, "blob %s: cannot read %s: %s", id, path, strerror(errno));
    } else if ((size_t)got == cap && read_full(fd, &extra, 1) != 0) {
        rc = mt_error_set(err, MT_ECRYPTO, "blob %s: %s is over %zu bytes, more than a blob holds", id, path, cap);
    } else {
        *len = (size_t)got;
    }
    close(fd);
    return rc;
}

/* dir/<id> into out. */
static int blob_path(const char *dir, const char *id, char *out, size_t cap, mt_error *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, id) >= cap)
        return mt_error_set(err, MT_EINVAL, "blob directory path too long: %.64s...", dir);
    return MT_OK;
}

int mt_blob_reassemble(const mt_fileentry *fe, const char *dir, const char *out_path,
                       mt_blob_progress_fn progress, void *ud, mt_error *err)
{
    char part[PATH_BUF], bpath[PATH_BUF], idx[MEMBER_PATH_MAX];
    uint8_t *blob = NULL, *plain = NULL;
    size_t blen = 0, n = 0;
    int64_t done = 0;
    int fd = -1, rc, opened = 0, renamed = 0;

    if (!fe || !dir || !out_path)
        return mt_error_set(err, MT_EINVAL, "fe, dir and out_path are required");
    if ((rc = entry_check(fe, err)) || (rc = part_path(out_path, part, sizeof part, err)))
        return rc;
    blob = malloc(MT_BLOB_BYTES);
    plain = malloc(MT_BLOB_CHUNK);
    if (!blob || !plain) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = mt_error_set(err, MT_EIO, "cannot create %s: %s", part, strerror(errno));
        goto out;
    }
    opened = 1;
    for (size_t i = 0; i < fe->n_chunks; i++) {
        const mt_blob_chunk *c = &fe->chunks[i];
        snprintf(idx, sizeof idx, "chunks[%zu]", i);
        if ((rc = blob_path(dir, c->blob_id, bpath, sizeof bpath, err)) ||
            (rc = read_blob(bpath, c->blob_id, blob, MT_BLOB_BYTES, &blen, err)) ||
            (rc = mt_blob_open(c, blob, blen, plain, MT_BLOB_CHUNK, &n, err))) {
            mt_error_prefix(err, idx);
            goto out;
        }
        if (mt_fd_write_all(fd, plain, n) != 0) {
            rc = mt_error_set(err, MT_EIO, "cannot write %s: %s", part, strerror(errno));
            goto out;
        }
        /* Start writeback of what is written, so the final fsync is short. */
        sync_file_range(fd, done, (off_t)n, SYNC_FILE_RANGE_WRITE);
        done += (int64_t)n;
        if (progress && progress(ud, done, fe->size) != 0) {
            rc = mt_error_set(err, MT_ESTATE, "reassembly of %s cancelled by the progress callback", out_path);
            goto out;
        }
    }
    /* Durable before it takes out_path's name, so a crash never leaves a
     * short file there. */
    if (fsync(fd) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot flush %s: %s", part, strerror(errno));
        goto out;
    }
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot flush %s: %s", part, strerror(errno));
        goto out;
    }
    if (rename(part, out_path) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot rename %s to %s: %s", part, out_path, strerror(errno));
        goto out;
    }
    renamed = 1;
    if (mt_sync_parent_dir(out_path) != 0)
        rc = mt_error_set(err, MT_EIO, "cannot sync the directory of %s: %s", out_path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc && opened && !renamed)
        unlink(part); /* ours: never a file we could not open */
    if (plain) {
        sodium_memzero(plain, MT_BLOB_CHUNK);
        free(plain);
    }
    free(blob);
    return rc;
}

/* ------------------------------------------------------------- writer */

/*
 * The .mtpart file is the data (fe->size bytes, each chunk at the sum of the
 * data sizes before it) followed by a resume record: PART_MAGIC, the entry's
 * fingerprint, the done bitmap. The record is written only by a clean close
 * after an fsync of the data, so a bit on disk always stands for data on
 * disk; after a crash the record is stale (fewer bits) or absent, and the
 * missing chunks are simply fetched again. Commit cuts the record off.
 */
struct mt_blob_writer {
    int            fd;        /* the .mtpart file; -1 once committed */
    char           out[PATH_BUF];
    char           part[PATH_BUF];
    int64_t        size;
    size_t         n;
    mt_blob_chunk *chunks;    /* copy of the entry's: keys wiped on free */
    int64_t       *offsets;   /* where chunk i's data goes */
    uint8_t       *bitmap;    /* chunk i written: bit i */
    size_t         bitmap_len;
    size_t         n_done;
    int64_t        bytes_done;
    uint8_t        fp[PART_FP_LEN];
    uint8_t       *plain;     /* one chunk's plaintext */
    uint8_t       *blob;      /* one blob file, allocated by the first put */
};

static void le_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* SHA-256 of what the entry says about where data comes from and goes:
 * a resume record for another entry (or another layout) is not trusted. */
static void entry_fingerprint(const mt_fileentry *fe, uint8_t fp[PART_FP_LEN])
{
    crypto_hash_sha256_state st;
    uint8_t b[24];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)PART_MAGIC, PART_MAGIC_LEN);
    le_put(b, (uint64_t)fe->size, 8);
    le_put(b + 8, (uint64_t)fe->n_chunks, 8);
    crypto_hash_sha256_update(&st, b, 16);
    for (size_t i = 0; i < fe->n_chunks; i++) {
        const mt_blob_chunk *c = &fe->chunks[i];
        crypto_hash_sha256_update(&st, (const uint8_t *)c->blob_id, MT_BLOB_ID_HEX - 1);
        le_put(b, c->offset, 4);
        le_put(b + 4, c->length, 4);
        le_put(b + 8, (uint64_t)c->real_size, 8);
        crypto_hash_sha256_update(&st, b, 16);
    }
    crypto_hash_sha256_final(&st, fp);
}

static size_t record_len(const mt_blob_writer *w)
{
    return PART_MAGIC_LEN + PART_FP_LEN + w->bitmap_len;
}

static int bit_get(const uint8_t *bm, size_t i) { return (bm[i / 8] >> (i % 8)) & 1; }
static void bit_set(uint8_t *bm, size_t i) { bm[i / 8] |= (uint8_t)(1u << (i % 8)); }

/* Take over the done bitmap of a resumable .mtpart for this same entry
 * (1); anything else (fresh file, other entry, torn record) starts empty (0). */
static int load_record(mt_blob_writer *w)
{
    size_t rl = record_len(w);
    uint8_t *rec;
    struct stat st;
    int loaded = 0;

    if (fstat(w->fd, &st) != 0 || (uint64_t)st.st_size != (uint64_t)w->size + rl || !(rec = malloc(rl)))
        return 0;
    if (pread(w->fd, rec, rl, (off_t)w->size) == (ssize_t)rl && memcmp(rec, PART_MAGIC, PART_MAGIC_LEN) == 0 &&
        memcmp(rec + PART_MAGIC_LEN, w->fp, PART_FP_LEN) == 0) {
        memcpy(w->bitmap, rec + PART_MAGIC_LEN + PART_FP_LEN, w->bitmap_len);
        for (size_t i = 0; i < w->n; i++) {
            if (bit_get(w->bitmap, i)) {
                w->n_done++;
                w->bytes_done += mt_blob_chunk_data_size(&w->chunks[i]);
            }
        }
        loaded = 1;
    }
    free(rec);
    return loaded;
}

/* Data to disk, then the record that vouches for it. Best effort: a lost
 * record only means fetching chunks again. */
static void save_record(mt_blob_writer *w)
{
    size_t rl = record_len(w);
    uint8_t *rec = malloc(rl);
    if (!rec)
        return;
    memcpy(rec, PART_MAGIC, PART_MAGIC_LEN);
    memcpy(rec + PART_MAGIC_LEN, w->fp, PART_FP_LEN);
    memcpy(rec + PART_MAGIC_LEN + PART_FP_LEN, w->bitmap, w->bitmap_len);
    if (fsync(w->fd) == 0 && pwrite_all(w->fd, rec, rl, (off_t)w->size) == 0)
        fsync(w->fd);
    free(rec);
}

static void writer_release(mt_blob_writer *w)
{
    if (w->chunks) {
        sodium_memzero(w->chunks, w->n * sizeof *w->chunks);
        free(w->chunks);
    }
    if (w->plain) {
        sodium_memzero(w->plain, MT_BLOB_CHUNK);
        free(w->plain);
    }
    free(w->blob);
    free(w->offsets);
    free(w->bitmap);
    free(w);
}

int mt_blob_writer_open(const mt_fileentry *fe, const char *out_path, mt_blob_writer **out, mt_error *err)
{
    mt_blob_writer *w;
    int64_t off = 0;
    int rc;

    if (!fe || !out_path || !out)
        return mt_error_set(err, MT_EINVAL, "fe, out_path and out are required");
    if ((rc = entry_check(fe, err)))
        return rc;
    if (!(w = calloc(1, sizeof *w)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    w->fd = -1;
    w->size = fe->size;
    w->n = fe->n_chunks;
    w->bitmap_len = (w->n + 7) / 8;
    if ((rc = part_path(out_path, w->part, sizeof w->part, err))) {
        writer_release(w);
        return rc;
    }
    memcpy(w->out, out_path, strlen(out_path) + 1); /* shorter than part */
    w->chunks = malloc(w->n ? w->n * sizeof *w->chunks : 1);
    w->offsets = malloc(w->n ? w->n * sizeof *w->offsets : 1);
    w->bitmap = calloc(w->bitmap_len ? w->bitmap_len : 1, 1);
    w->plain = malloc(MT_BLOB_CHUNK);
    if (!w->chunks || !w->offsets || !w->bitmap || !w->plain) {
        writer_release(w);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    if (w->n)
        memcpy(w->chunks, fe->chunks, w->n * sizeof *w->chunks);
    for (size_t i = 0; i < w->n; i++) {
        w->offsets[i] = off;
        off += mt_blob_chunk_data_size(&w->chunks[i]);
    }
    entry_fingerprint(fe, w->fp);
    /* No O_TRUNC: an earlier writer's chunks are kept for resuming. */
    if ((w->fd = open(w->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = mt_error_set(err, MT_EIO, "cannot open %s: %s", w->part, strerror(errno));
        writer_release(w);
        return rc;
    }
    /* Starting afresh, clear any record first (truncate, then extend with
     * zeros): another entry's record must not vouch for data this writer
     * is about to overwrite. */
    if ((!load_record(w) && ftruncate(w->fd, (off_t)w->size) != 0) ||
        ftruncate(w->fd, (off_t)(w->size + (int64_t)record_len(w))) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot size %s: %s", w->part, strerror(errno));
        close(w->fd);
        writer_release(w);
        return rc;
    }
    *out = w;
    return MT_OK;
}

/* Is index a chunk of a writer that can still take it? */
static int put_check(const mt_blob_writer *w, size_t index, mt_error *err)
{
    if (!w)
        return mt_error_set(err, MT_EINVAL, "w is required");
    if (w->fd < 0)
        return mt_error_set(err, MT_ESTATE, "%s is already committed", w->out);
    if (index >= w->n)
        return mt_error_set(err, MT_EINVAL, "chunk %zu: the entry has %zu chunks", index, w->n);
    return MT_OK;
}

int mt_blob_writer_put_mem(mt_blob_writer *w, size_t index, const uint8_t *blob, size_t len, mt_error *err)
{
    char idx[MEMBER_PATH_MAX];
    size_t n = 0;
    int rc;

    if ((rc = put_check(w, index, err)))
        return rc;
    if (bit_get(w->bitmap, index))
        return MT_OK;
    if (!blob && len)
        return mt_error_set(err, MT_EINVAL, "blob is required");
    if ((rc = mt_blob_open(&w->chunks[index], blob, len, w->plain, MT_BLOB_CHUNK, &n, err))) {
        snprintf(idx, sizeof idx, "chunks[%zu]", index);
        mt_error_prefix(err, idx);
        return rc;
    }
    if (pwrite_all(w->fd, w->plain, n, (off_t)w->offsets[index]) != 0)
        return mt_error_set(err, MT_EIO, "cannot write %s: %s", w->part, strerror(errno));
    sync_file_range(w->fd, (off_t)w->offsets[index], (off_t)n, SYNC_FILE_RANGE_WRITE); /* short final fsync */
    bit_set(w->bitmap, index);
    w->n_done++;
    w->bytes_done += (int64_t)n;
    return MT_OK;
}

int mt_blob_writer_put(mt_blob_writer *w, size_t index, const char *blob_path, mt_error *err)
{
    char idx[MEMBER_PATH_MAX];
    size_t len = 0;
    int rc;

    if ((rc = put_check(w, index, err)))
        return rc;
    if (!blob_path)
        return mt_error_set(err, MT_EINVAL, "blob_path is required");
    if (bit_get(w->bitmap, index))
        return MT_OK;
    if (!w->blob && !(w->blob = malloc(MT_BLOB_BYTES)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    if ((rc = read_blob(blob_path, w->chunks[index].blob_id, w->blob, MT_BLOB_BYTES, &len, err))) {
        snprintf(idx, sizeof idx, "chunks[%zu]", index);
        mt_error_prefix(err, idx);
        return rc;
    }
    return mt_blob_writer_put_mem(w, index, w->blob, len, err);
}

int mt_blob_writer_has(const mt_blob_writer *w, size_t index)
{
    return w && index < w->n && bit_get(w->bitmap, index);
}

size_t mt_blob_writer_done(const mt_blob_writer *w, int64_t *bytes)
{
    if (bytes)
        *bytes = w ? w->bytes_done : 0;
    return w ? w->n_done : 0;
}

int mt_blob_writer_commit(mt_blob_writer *w, mt_error *err)
{
    size_t first = 0;
    int rc;

    if (!w)
        return mt_error_set(err, MT_EINVAL, "w is required");
    if (w->fd < 0)
        return mt_error_set(err, MT_ESTATE, "%s is already committed", w->out);
    if (w->n_done < w->n) {
        while (bit_get(w->bitmap, first))
            first++;
        return mt_error_set(err, MT_ESTATE, "%zu of %zu chunks missing (first: chunks[%zu])", w->n - w->n_done, w->n,
                            first);
    }
    /* Drop the resume record, make the data durable, then take the name. */
    if (ftruncate(w->fd, (off_t)w->size) != 0 || fsync(w->fd) != 0)
        return mt_error_set(err, MT_EIO, "cannot flush %s: %s", w->part, strerror(errno));
    if (rename(w->part, w->out) != 0)
        return mt_error_set(err, MT_EIO, "cannot rename %s to %s: %s", w->part, w->out, strerror(errno));
    rc = close(w->fd);
    w->fd = -1;
    if (rc != 0 || mt_sync_parent_dir(w->out) != 0)
        return mt_error_set(err, MT_EIO, "cannot sync %s: %s", w->out, strerror(errno));
    return MT_OK;
}

void mt_blob_writer_free(mt_blob_writer *w, int discard)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        if (discard)
            unlink(w->part);
        else
            save_record(w);
        close(w->fd);
    }
    writer_release(w);
}
