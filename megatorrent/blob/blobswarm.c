/*
 * blobswarm.c - packs (blobs as ordinary torrents) and fetching a FileEntry
 * back from a pack, a blob folder and mt-wire hosts. See mt_blobswarm.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "mt_blobswarm.h"
#include "mt_util.h"
#include "mt_wire.h"

#define FLUSH_WAIT_MS   15000 /* a completed pack file may lag on disk (mmap storage) */
#define FLUSH_RETRY_MS  200
#define WIRE_LOOKUPS    8     /* DHT lookups by blob id at once */
#define WIRE_LOOKUP_MS  4000
#define WIRE_CONNECT_MS 5000
#define WIRE_GET_MS     30000
#define WIRE_PEERS_MAX  16    /* hosts tried per blob */
#define XS_MAX          (32u * 1024 * 1024)
#define XS_TIMEOUT_MS   15000

/* ------------------------------------------------------------------ packs */

int mt_pack_file_blob_id(const char *path, char out[MT_BLOB_ID_HEX])
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!mt_blob_id_valid(base))
        return -1;
    memcpy(out, base, MT_BLOB_ID_HEX);
    return 0;
}

int mt_blob_dht_key(const char *id, uint8_t key[20])
{
    char first[41];
    if (!id || !mt_blob_id_valid(id))
        return MT_EINVAL;
    memcpy(first, id, 40);
    first[40] = '\0';
    return mt_hex_decode(first, key, 20);
}

/* Percent-encode a URL for a magnet parameter into a new string. */
static char *url_escape(const char *s)
{
    static const char keep[] = "-._~:/";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(keep, c))
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    return out;
}

/* Append to a growing string; 0 or MT_ENOMEM. */
static int sb_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < *len + n + 1)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return MT_ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return MT_OK;
}

/* The pack magnet: btih, dn, then ws= and xs= for each web seed. */
static int pack_magnet(const uint8_t id[20], const char *const *ws, size_t n_ws, char **out, mt_error *err)
{
    char hex[41], *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = MT_OK;
    mt_hex_encode(id, 20, hex);
    rc |= sb_add(&buf, &len, &cap, "magnet:?xt=urn:btih:");
    rc |= sb_add(&buf, &len, &cap, hex);
    rc |= sb_add(&buf, &len, &cap, "&dn=" MT_PACK_NAME);
    for (size_t i = 0; i < n_ws && rc == MT_OK; ++i) {
        char *e = url_escape(ws[i]);
        size_t xn = strlen(ws[i]) + sizeof MT_PACK_NAME + 64;
        char *xs = malloc(xn), *xe = NULL;
        if (!e || !xs) {
            free(e);
            free(xs);
            rc = MT_ENOMEM;
            break;
        }
        snprintf(xs, xn, "%s%s/%s.torrent", ws[i], MT_PACK_NAME, hex);
        xe = url_escape(xs);
        rc |= sb_add(&buf, &len, &cap, "&ws=");
        rc |= sb_add(&buf, &len, &cap, e);
        if (xe) {
            rc |= sb_add(&buf, &len, &cap, "&xs=");
            rc |= sb_add(&buf, &len, &cap, xe);
        } else {
            rc = MT_ENOMEM;
        }
        free(e);
        free(xs);
        free(xe);
    }
    if (rc) {
        free(buf);
        return mt_error_set(err, MT_ENOMEM, "out of memory building the pack magnet");
    }
    *out = buf;
    return MT_OK;
}

int mt_pack_create(const char *blob_dir, const char *const *ids, size_t n, int shuffle,
                   const char *const *web_seeds, size_t n_ws, uint8_t **torrent, size_t *torrent_len,
                   char **magnet, uint8_t id[20], mt_error *err)
{
    const char **order = NULL;
    uint8_t *t = NULL;
    size_t tlen = 0;
    uint8_t tid[20];
    int rc;

    if (!blob_dir || !ids || !torrent || !torrent_len || !magnet)
        return mt_error_set(err, MT_EINVAL, "blob folder, ids and outputs are required");
    if (n == 0 || n > MT_PACK_MAX_BLOBS)
        return mt_error_set(err, MT_EINVAL, "a pack holds 1 to %d blobs, not %zu", MT_PACK_MAX_BLOBS, n);
    for (size_t i = 0; i < n; ++i)
        if (!ids[i] || !mt_blob_id_valid(ids[i]))
            return mt_error_set(err, MT_EINVAL, "ids[%zu]: not a blob id (64 lower-case hex digits)", i);
    for (size_t i = 0; i < n_ws; ++i)
        if (!web_seeds[i] || !*web_seeds[i] || web_seeds[i][strlen(web_seeds[i]) - 1] != '/')
            return mt_error_set(err, MT_EINVAL,
                                "web seed '%s' must end in '/': a pack's files are served as <url>%s/<blob id>",
                                web_seeds[i] ? web_seeds[i] : "", MT_PACK_NAME);
    order = malloc(n * sizeof *order);
    if (!order)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    /* Duplicates would make two files of one blob: keep the first. */
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
        int dup = 0;
        for (size_t j = 0; j < m && !dup; ++j)
            dup = strcmp(order[j], ids[i]) == 0;
        if (!dup)
            order[m++] = ids[i];
    }
    if (shuffle)
        for (size_t i = m; i > 1; --i) {
            size_t j = randombytes_uniform((uint32_t)i);
            const char *tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
    rc = mt_torrent_create_flat(blob_dir, MT_PACK_NAME, order, m, MT_PACK_PIECE, web_seeds, n_ws, &t, &tlen, err);
    free(order);
    if (rc)
        return rc;
    if ((rc = mt_torrent_info_hashes(t, tlen, tid, NULL, NULL, NULL, NULL, err)))
        goto fail;
    if (n_ws) {
        /* The web host serves this beside the blobs, for xs=. */
        char hex[41], path[4096];
        mt_hex_encode(tid, 20, hex);
        if ((size_t)snprintf(path, sizeof path, "%s/%s.torrent", blob_dir, hex) >= sizeof path) {
            rc = mt_error_set(err, MT_EINVAL, "blob folder path too long");
            goto fail;
        }
        if ((rc = mt_file_write_atomic(path, t, tlen, 0644, 1, err)))
            goto fail;
    }
    if ((rc = pack_magnet(tid, web_seeds, n_ws, magnet, err)))
        goto fail;
    *torrent = t;
    *torrent_len = tlen;
    if (id)
        memcpy(id, tid, 20);
    return MT_OK;
fail:
    mt_free(t);
    return rc;
}

/* ------------------------------------------------------------------- http */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct http_buf {
    uint8_t *data;
    size_t   len, cap, max;
    int      too_big;
} http_buf;

static size_t http_write(char *p, size_t size, size_t nmemb, void *ud)
{
    http_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 65536;
        while (nc < b->len + n)
            nc *= 2;
        uint8_t *nd = realloc(b->data, nc);
        if (!nd)
            return 0;
        b->data = nd;
        b->cap = nc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return n;
}

int mt_http_get(const char *url, size_t max, int timeout_ms, uint8_t **out, size_t *len, mt_error *err)
{
    http_buf b = {0};
    CURL *c;
    CURLcode cc;
    long status = 0;

    if (!url || !out || !len)
        return mt_error_set(err, MT_EINVAL, "URL and outputs are required");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return mt_error_set(err, MT_EINVAL, "'%s' is not an http(s) URL", url);
    pthread_once(&curl_once, curl_init_once);
    if (!(c = curl_easy_init()))
        return mt_error_set(err, MT_ENOMEM, "cannot start an HTTP request");
    b.max = max;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "megatorrent");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (b.too_big) {
        free(b.data);
        return mt_error_set(err, MT_ETOOBIG, "%s: more than %zu bytes", url, max);
    }
    if (cc != CURLE_OK) {
        free(b.data);
        return mt_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? MT_ETIMEDOUT : MT_EIO, "%s: %s", url,
                            curl_easy_strerror(cc));
    }
    if (status != 200) {
        free(b.data);
        return mt_error_set(err, status == 404 ? MT_ENOTFOUND : MT_EIO, "%s: HTTP status %ld", url, status);
    }
    *out = b.data;
    *len = b.len;
    return MT_OK;
}

/* ------------------------------------------------------------------ fetch */

/* One distinct blob the file needs (a blob may hold several chunks). */
typedef struct fblob {
    char    id[MT_BLOB_ID_HEX];
    int     have;          /* every chunk of it is written */
    int     file_index;    /* in the pack; -1 unknown */
    int     pack_done;     /* the pack says its file is complete */
    int64_t retry_until;   /* re-read a lagging pack file until then; 0 none */
    int64_t retry_at;
    int     wire_state;    /* 0 idle, 1 DHT lookup, 2 queued/working */
    char  (*peers)[64];    /* hosts found for it */
    size_t  n_peers;
    int     checking;      /* with the verify worker */
    int     source;        /* what brought the file being checked: SRC_* */
    size_t  n_chunks;      /* chunks of the file it holds */
    int64_t bytes;         /* their data bytes */
} fblob;

enum { SRC_SWARM = 1, SRC_WIRE = 2 };

/* A blob for the verify worker, and its verdict. */
typedef struct vjob {
    size_t blob;
    int    rc;
    mt_error err;
    struct vjob *next;
} vjob;

/* A job for / result from the mt-wire worker. */
typedef struct wjob {
    size_t blob;           /* index into f->blobs */
    char (*peers)[64];
    size_t n_peers;
    int    rc;             /* result */
    int    bad;            /* hosts that sent bytes not matching the id */
    char   msg[MT_ERROR_MSG_MAX + 80];
    struct wjob *next;
} wjob;

struct mt_blobfetch {
    mt_session   *s;
    mt_fileentry *fe;
    char         *blob_dir, *out_path;
    mt_blobfetch_opts o;
    char        **wire_peers;
    mt_blob_writer *w;
    mt_blobfetch_state state;
    mt_error      error;

    fblob   *blobs;
    size_t   n_blobs;
    size_t  *chunk_blob;   /* chunk index -> blobs index */
    size_t  *sorted;       /* blobs indexes ordered by id */
    size_t   n_sorted;

    int      has_pack, pack_meta;
    uint8_t  pack_id[20];
    char    *xs_url;
    int64_t  last_progress, started;

    mt_blobfetch_progress prog;
    int      lookups;      /* DHT lookups running */

    /* Worker threads: xs .torrent download and mt-wire gets. */
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int       stop;
    pthread_t xs_thread, wire_thread;
    int       xs_started, wire_started;
    int       xs_done, xs_used;
    uint8_t  *xs_torrent;
    size_t    xs_len;
    wjob     *todo, *done;
    /* Verify worker: checks and decrypts blob files into the writer, which
     * only it touches once started (the loop keeps the network moving). */
    pthread_t verify_thread;
    int       verify_started;
    vjob     *vtodo, *vtodo_tail, *vdone;
    int       vbusy;        /* jobs queued or running */
};

static void fail(mt_blobfetch *f, const mt_error *e)
{
    if (f->state != MT_BLOBFETCH_RUNNING)
        return;
    f->state = MT_BLOBFETCH_FAILED;
    f->error = *e;
}

static void fetch_path(const mt_blobfetch *f, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->blob_dir, id);
}

/* All chunks in, or nothing to do yet. Commits the output when complete. */
static void maybe_finish(mt_blobfetch *f)
{
    mt_error e;
    if (f->state != MT_BLOBFETCH_RUNNING || f->prog.chunks_done < f->prog.chunks_total)
        return;
    pthread_mutex_lock(&f->mu);
    int busy = f->vbusy;
    pthread_mutex_unlock(&f->mu);
    if (busy)
        return; /* the writer is the worker's until it is idle */
    if (mt_blob_writer_commit(f->w, &e) != 0) {
        fail(f, &e);
        return;
    }
    f->state = MT_BLOBFETCH_DONE;
}

/*
 * Write every chunk of blob b from its file in blob_dir. 0: written (or
 * nothing to write), MT_ENOTFOUND: no file, MT_ECRYPTO: the bytes do not
 * hash to the id (still downloading, lagging, or corrupted). Touches only
 * the writer and immutable fields: runs on the verify worker.
 */
static int write_blob(mt_blobfetch *f, size_t b, mt_error *e)
{
    char path[4096];
    int rc = MT_OK;
    fetch_path(f, f->blobs[b].id, path, sizeof path);
    for (size_t i = 0; i < f->fe->n_chunks && rc == MT_OK; ++i) {
        if (f->chunk_blob[i] != b || mt_blob_writer_has(f->w, i))
            continue;
        rc = mt_blob_writer_put(f->w, i, path, e);
    }
    return rc;
}

/* Blob b is written: count it (loop thread). */
static void mark_have(mt_blobfetch *f, size_t b)
{
    if (f->blobs[b].have)
        return;
    f->blobs[b].have = 1;
    f->blobs[b].retry_until = 0;
    f->prog.chunks_done += f->blobs[b].n_chunks;
    f->prog.bytes_done += f->blobs[b].bytes;
    f->last_progress = mt_now_ms();
}

/* Before the worker starts (resume from disk): check b here. */
static int put_blob(mt_blobfetch *f, size_t b, mt_error *e)
{
    int rc;
    if (f->blobs[b].have)
        return MT_OK;
    rc = write_blob(f, b, e);
    if (rc == MT_OK)
        mark_have(f, b);
    return rc;
}

static void *verify_main(void *arg)
{
    mt_blobfetch *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->vtodo && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (!f->vtodo)
            break; /* stopping, nothing queued */
        vjob *j = f->vtodo;
        f->vtodo = j->next;
        if (!f->vtodo)
            f->vtodo_tail = NULL;
        pthread_mutex_unlock(&f->mu);
        j->rc = f->stop ? MT_ESTATE : write_blob(f, j->blob, &j->err);
        pthread_mutex_lock(&f->mu);
        j->next = f->vdone;
        f->vdone = j;
        f->vbusy--;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Hand blob b (brought by source) to the verify worker. */
static void verify_queue(mt_blobfetch *f, size_t b, int source)
{
    fblob *fb = &f->blobs[b];
    vjob *j;
    if (fb->have || fb->checking || !(j = calloc(1, sizeof *j)))
        return;
    j->blob = b;
    fb->checking = 1;
    fb->source = source;
    pthread_mutex_lock(&f->mu);
    if (!f->verify_started && pthread_create(&f->verify_thread, NULL, verify_main, f) == 0)
        f->verify_started = 1;
    if (f->vtodo_tail)
        f->vtodo_tail->next = j;
    else
        f->vtodo = j;
    f->vtodo_tail = j;
    f->vbusy++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void set_priority(mt_blobfetch *f, size_t b);

/* Verdicts of the verify worker (loop thread). */
static void verify_collect(mt_blobfetch *f)
{
    vjob *list;
    pthread_mutex_lock(&f->mu);
    list = f->vdone;
    f->vdone = NULL;
    pthread_mutex_unlock(&f->mu);
    while (list) {
        vjob *j = list;
        fblob *fb = &f->blobs[j->blob];
        list = j->next;
        fb->checking = 0;
        if (j->rc == MT_OK) {
            mark_have(f, j->blob);
            if (fb->source == SRC_WIRE) {
                f->prog.from_wire++;
                set_priority(f, j->blob);
            } else {
                f->prog.from_swarm++;
            }
        } else if ((j->rc == MT_ECRYPTO || j->rc == MT_ENOTFOUND) && fb->source == SRC_SWARM) {
            /* A pack file read back wrong: lagging behind libtorrent's
             * write, or corrupted; tick re-reads it for a while. */
            int64_t now = mt_now_ms();
            if (!fb->retry_until) {
                fb->retry_until = now + FLUSH_WAIT_MS;
                fb->retry_at = now + FLUSH_RETRY_MS;
            } else if (now >= fb->retry_until) {
                /* libtorrent passed the pieces yet the blob is wrong: drop
                 * the file and let a recheck fetch it again. */
                char path[4096];
                fetch_path(f, fb->id, path, sizeof path);
                unlink(path);
                fb->retry_until = 0;
                f->prog.corrupt++;
                if (f->has_pack)
                    mt_torrent_force_recheck(f->s, f->pack_id, NULL);
            } else {
                fb->retry_at = now + FLUSH_RETRY_MS;
            }
        } else if (j->rc == MT_ECRYPTO) {
            char path[4096];
            fetch_path(f, fb->id, path, sizeof path);
            unlink(path);
            f->prog.corrupt++;
        } else if (j->rc != MT_ESTATE) {
            fail(f, &j->err);
        }
        free(j);
    }
}

/* A blob that came another way need not come through the pack too. */
static void set_priority(mt_blobfetch *f, size_t b)
{
    if (f->has_pack && f->pack_meta && f->blobs[b].file_index >= 0 && f->blobs[b].have)
        mt_torrent_set_file_priority(f->s, f->pack_id, f->blobs[b].file_index, 0, NULL);
}

/* The pack says blob b's file is complete: have it checked. */
static void on_pack_blob(mt_blobfetch *f, size_t b)
{
    verify_queue(f, b, SRC_SWARM);
}

/* Every file of the pack in one call (malloc'd; NULL before metadata). */
static mt_file_info *pack_files(mt_blobfetch *f, size_t *n)
{
    size_t count = 0;
    mt_file_info *fi;
    if (mt_torrent_files(f->s, f->pack_id, NULL, 0, &count, NULL) != 0 || count == 0)
        return NULL;
    if (!(fi = malloc(count * sizeof *fi)))
        return NULL;
    if (mt_torrent_files(f->s, f->pack_id, fi, count, n, NULL) != 0) {
        free(fi);
        return NULL;
    }
    if (*n > count)
        *n = count;
    return fi;
}

/* Blob index of a blob id, or -1 (a binary search over sorted ids). */
static long blob_index(const mt_blobfetch *f, const char *id)
{
    size_t lo = 0, hi = f->n_sorted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(f->blobs[f->sorted[mid]].id, id);
        if (c == 0)
            return (long)f->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Metadata is known: map pack files to our blobs and want only the missing. */
static void on_pack_metadata(mt_blobfetch *f)
{
    size_t n = 0;
    char id[MT_BLOB_ID_HEX];
    mt_file_info *fi;
    if (f->pack_meta || !(fi = pack_files(f, &n)))
        return;
    f->pack_meta = 1;
    for (size_t i = 0; i < n; ++i) {
        long b = mt_pack_file_blob_id(fi[i].path, id) == 0 ? blob_index(f, id) : -1;
        if (b >= 0)
            f->blobs[b].file_index = (int)i;
        /* Files start wanted (priority 4): drop what this file does not
         * need or already has. */
        if ((b < 0 || f->blobs[b].have) && fi[i].priority != 0)
            mt_torrent_set_file_priority(f->s, f->pack_id, (int)i, 0, NULL);
    }
    free(fi);
}

/* After a check or finish, files complete before we listened show up here. */
static void scan_pack(mt_blobfetch *f)
{
    size_t n = 0;
    mt_file_info *fi;
    if (!f->pack_meta || !(fi = pack_files(f, &n)))
        return;
    for (size_t b = 0; b < f->n_blobs; ++b) {
        int k = f->blobs[b].file_index;
        if (!f->blobs[b].have && k >= 0 && (size_t)k < n && fi[k].downloaded == fi[k].size)
            on_pack_blob(f, b);
    }
    free(fi);
}

/* --- worker threads --- */

static void *xs_main(void *arg)
{
    mt_blobfetch *f = arg;
    uint8_t *t = NULL;
    size_t len = 0;
    mt_error e;
    int rc = mt_http_get(f->xs_url, XS_MAX, XS_TIMEOUT_MS, &t, &len, &e);
    pthread_mutex_lock(&f->mu);
    f->xs_done = 1;
    if (rc == MT_OK) {
        f->xs_torrent = t;
        f->xs_len = len;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Fetch one blob from the job's hosts into blob_dir (temp file + rename). */
static void wire_fetch(mt_blobfetch *f, wjob *j)
{
    const char *id = f->blobs[j->blob].id;
    mt_error e;
    j->rc = MT_ENOTFOUND;
    snprintf(j->msg, sizeof j->msg, "no mt-wire host has blob %s", id);
    for (size_t i = 0; i < j->n_peers; ++i) {
        mt_wire_conn *c = NULL;
        uint8_t *blob = NULL;
        size_t len = 0;
        int rc = mt_wire_connect(j->peers[i], WIRE_CONNECT_MS, &c, &e);
        if (rc == MT_OK)
            rc = mt_wire_get(c, id, WIRE_GET_MS, &blob, &len, &e);
        mt_wire_close(c);
        if (rc == MT_ECRYPTO) {
            j->rc = rc; /* a host sent bad bytes; try the next */
            j->bad++;
            snprintf(j->msg, sizeof j->msg, "%s: %s", j->peers[i], e.message);
            continue;
        }
        if (rc != MT_OK) {
            snprintf(j->msg, sizeof j->msg, "%s: %s", j->peers[i], e.message);
            continue;
        }
        char path[4096];
        fetch_path(f, id, path, sizeof path);
        rc = mt_file_write_atomic(path, blob, len, 0644, 1, &e);
        free(blob);
        j->rc = rc;
        if (rc == MT_OK)
            return;
        snprintf(j->msg, sizeof j->msg, "%s", e.message);
    }
}

static void *wire_main(void *arg)
{
    mt_blobfetch *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->todo && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop)
            break;
        wjob *j = f->todo;
        f->todo = j->next;
        pthread_mutex_unlock(&f->mu);
        wire_fetch(f, j);
        pthread_mutex_lock(&f->mu);
        j->next = f->done;
        f->done = j;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Queue blob b for the mt-wire worker with the hosts we know for it. */
static void wire_queue(mt_blobfetch *f, size_t b)
{
    fblob *fb = &f->blobs[b];
    size_t n = fb->n_peers + f->o.n_wire_peers;
    wjob *j;
    if (n == 0) {
        fb->wire_state = 0;
        return;
    }
    if (!(j = calloc(1, sizeof *j)) || !(j->peers = calloc(n, sizeof *j->peers))) {
        free(j);
        fb->wire_state = 0;
        return;
    }
    for (size_t i = 0; i < f->o.n_wire_peers; ++i)
        snprintf(j->peers[j->n_peers++], 64, "%s", f->wire_peers[i]);
    for (size_t i = 0; i < fb->n_peers; ++i)
        memcpy(j->peers[j->n_peers++], fb->peers[i], 64);
    j->blob = b;
    fb->wire_state = 2;
    pthread_mutex_lock(&f->mu);
    if (!f->wire_started && pthread_create(&f->wire_thread, NULL, wire_main, f) == 0)
        f->wire_started = 1;
    j->next = f->todo;
    f->todo = j;
    pthread_cond_broadcast(&f->cv); /* two workers share cv */
    pthread_mutex_unlock(&f->mu);
}

/* Stalled: look missing blobs up by id (or go straight to known hosts). */
static void wire_start(mt_blobfetch *f)
{
    for (size_t b = 0; b < f->n_blobs; ++b) {
        fblob *fb = &f->blobs[b];
        if (fb->have || fb->wire_state != 0)
            continue;
        /* Hosts the caller named come first: no lookup needed. */
        if (f->o.n_wire_peers) {
            wire_queue(f, b);
            continue;
        }
        if (mt_session_dht_running(f->s) && f->lookups < WIRE_LOOKUPS) {
            uint8_t ih[20];
            if (mt_blob_dht_key(fb->id, ih) == 0 && mt_dht_get_peers(f->s, ih, WIRE_LOOKUP_MS, NULL) == 0) {
                fb->wire_state = 1;
                f->lookups++;
                continue;
            }
        }
    }
}

/* Blob whose DHT key is target, or -1. */
static long blob_of_target(const mt_blobfetch *f, const uint8_t target[20])
{
    char hex[41];
    mt_hex_encode(target, 20, hex);
    for (size_t b = 0; b < f->n_blobs; ++b)
        if (f->blobs[b].wire_state == 1 && strncmp(f->blobs[b].id, hex, 40) == 0)
            return (long)b;
    return -1;
}

static void on_peers(mt_blobfetch *f, const mt_event *ev)
{
    long b = blob_of_target(f, ev->target);
    fblob *fb;
    if (b < 0)
        return;
    fb = &f->blobs[b];
    if (ev->type == MT_EVENT_DHT_PEERS) {
        for (size_t i = 0; i < ev->num_peers && fb->n_peers < WIRE_PEERS_MAX; ++i) {
            char (*np)[64] = realloc(fb->peers, (fb->n_peers + 1) * sizeof *fb->peers);
            if (!np)
                return;
            fb->peers = np;
            const mt_endpoint *p = &ev->peers[i];
            if (strchr(p->addr, ':'))
                snprintf(fb->peers[fb->n_peers++], 64, "[%s]:%u", p->addr, p->port);
            else
                snprintf(fb->peers[fb->n_peers++], 64, "%s:%u", p->addr, p->port);
        }
        return;
    }
    f->lookups--;
    wire_queue(f, (size_t)b);
}

/* Take finished mt-wire jobs: write their blobs, or forget the hosts. */
static void wire_collect(mt_blobfetch *f)
{
    wjob *list;
    pthread_mutex_lock(&f->mu);
    list = f->done;
    f->done = NULL;
    pthread_mutex_unlock(&f->mu);
    while (list) {
        wjob *j = list;
        fblob *fb = &f->blobs[j->blob];
        list = j->next;
        fb->wire_state = 0;
        f->prog.corrupt += (size_t)j->bad;
        free(fb->peers);
        fb->peers = NULL;
        fb->n_peers = 0;
        if (j->rc == MT_OK)
            verify_queue(f, j->blob, SRC_WIRE); /* checked again as it is written */
        free(j->peers);
        free(j);
    }
}

/* --- public --- */

void mt_blobfetch_opts_init(mt_blobfetch_opts *o)
{
    memset(o, 0, sizeof *o);
    o->stall_ms = 20000;
}

/* The xs= URL of a magnet, decoded; NULL if none. */
static char *magnet_xs(const char *m)
{
    const char *p = strstr(m, "&xs=");
    if (!p)
        p = strstr(m, "?xs=");
    if (!p)
        return NULL;
    p += 4;
    size_t n = strcspn(p, "&");
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; ++i) {
        if (p[i] == '%' && i + 2 < n + 1) {
            uint8_t c;
            char h[3] = {p[i + 1], p[i + 2], 0};
            if (mt_hex_decode(h, &c, 1) == 0 && c >= 0x20) {
                *o++ = (char)c;
                i += 2;
                continue;
            }
            free(out);
            return NULL;
        }
        *o++ = p[i];
    }
    *o = '\0';
    return out;
}

/* Copy a FileEntry through its JSON (the one canonical form). */
static int fe_copy(const mt_fileentry *fe, mt_fileentry **out, mt_error *err)
{
    char *js = NULL;
    size_t len = 0;
    int rc = mt_fileentry_to_json(fe, &js, &len, err);
    if (rc == MT_OK)
        rc = mt_fileentry_parse(js, len, out, err);
    if (js) {
        sodium_memzero(js, len);
        free(js);
    }
    return rc;
}

/* Distinct blobs of the entry and the chunk -> blob map. */
static int cmp_chunk_id(const void *a, const void *b, void *ud)
{
    const mt_fileentry *fe = ud;
    return strcmp(fe->chunks[*(const size_t *)a].blob_id, fe->chunks[*(const size_t *)b].blob_id);
}

/* Distinct blobs of the entry, the chunk -> blob map and the blobs sorted
 * by id (for mapping pack files): O(n log n) for entries of any size. */
static int index_blobs(mt_blobfetch *f, mt_error *err)
{
    size_t n = f->fe->n_chunks, *order;
    f->chunk_blob = calloc(n ? n : 1, sizeof *f->chunk_blob);
    f->blobs = calloc(n ? n : 1, sizeof *f->blobs);
    f->sorted = calloc(n ? n : 1, sizeof *f->sorted);
    order = calloc(n ? n : 1, sizeof *order);
    if (!f->chunk_blob || !f->blobs || !f->sorted || !order) {
        free(order);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; ++i)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_chunk_id, f->fe);
    for (size_t k = 0; k < n; ++k) {
        const mt_blob_chunk *c = &f->fe->chunks[order[k]];
        if (k == 0 || strcmp(c->blob_id, f->blobs[f->n_blobs - 1].id) != 0) {
            fblob *fb = &f->blobs[f->n_blobs];
            memcpy(fb->id, c->blob_id, MT_BLOB_ID_HEX);
            fb->file_index = -1;
            f->sorted[f->n_sorted++] = f->n_blobs++;
        }
        f->chunk_blob[order[k]] = f->n_blobs - 1;
        f->blobs[f->n_blobs - 1].n_chunks++;
        f->blobs[f->n_blobs - 1].bytes += mt_blob_chunk_data_size(c);
    }
    free(order);
    return MT_OK;
}

static int add_pack(mt_blobfetch *f, mt_error *err)
{
    mt_add_params ap;
    int rc;
    memset(&ap, 0, sizeof ap);
    ap.magnet = f->fe->swarm;
    ap.save_path = f->blob_dir;
    /* Every file starts wanted; unneeded ones drop to priority 0 when the
     * metadata arrives. Starting with none wanted would make the torrent
     * "finished" at metadata, and libtorrent then drops its seed
     * connections and waits for the next announce to find them again. */
    ap.flags = MT_ADD_FLAT | f->o.add_flags;
    rc = mt_torrent_add(f->s, &ap, f->pack_id, err);
    if (rc == MT_EEXIST) {
        /* Already seeding or fetching it (another file of the same pack):
         * share it; our wanted files are set on top of its own. */
        mt_magnet_info mi;
        if ((rc = mt_magnet_parse(f->fe->swarm, &mi, err)))
            return rc;
        memcpy(f->pack_id, mi.id, 20);
        rc = MT_OK;
    }
    if (rc)
        return rc;
    f->has_pack = 1;
    if (mt_torrent_file_count(f->s, f->pack_id, &(int){0}, NULL) == 0)
        on_pack_metadata(f);
    if ((f->xs_url = magnet_xs(f->fe->swarm)) && !f->pack_meta) {
        if (pthread_create(&f->xs_thread, NULL, xs_main, f) == 0)
            f->xs_started = 1;
    }
    return MT_OK;
}

int mt_blobfetch_start(mt_session *s, const mt_fileentry *fe, const mt_blobfetch_opts *o,
                       mt_blobfetch **out, mt_error *err)
{
    mt_blobfetch *f;
    struct stat st;
    mt_error e;
    int rc;

    if (!s || !fe || !o || !o->blob_dir || !o->out_path || !out)
        return mt_error_set(err, MT_EINVAL, "session, FileEntry, blob folder and output are required");
    if (stat(o->out_path, &st) == 0)
        return mt_error_set(err, MT_EEXIST, "%s exists already", o->out_path);
    if (mkdir(o->blob_dir, 0700) != 0 && errno != EEXIST)
        return mt_error_set(err, MT_EIO, "cannot create %s: %s", o->blob_dir, strerror(errno));
    if (!(f = calloc(1, sizeof *f)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->s = s;
    f->o = *o;
    f->state = MT_BLOBFETCH_RUNNING;
    f->started = f->last_progress = mt_now_ms();
    if (!(f->blob_dir = strdup(o->blob_dir)) || !(f->out_path = strdup(o->out_path))) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->n_wire_peers) {
        if (!(f->wire_peers = calloc(o->n_wire_peers, sizeof *f->wire_peers))) {
            rc = mt_error_set(err, MT_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->n_wire_peers; ++i)
            if (!(f->wire_peers[i] = strdup(o->wire_peers[i]))) {
                rc = mt_error_set(err, MT_ENOMEM, "out of memory");
                goto fail;
            }
    }
    f->o.wire_peers = NULL;
    if ((rc = fe_copy(fe, &f->fe, err)) || (rc = index_blobs(f, err)) ||
        (rc = mt_blob_writer_open(f->fe, o->out_path, &f->w, err)))
        goto fail;
    f->prog.chunks_total = f->fe->n_chunks;
    f->prog.bytes_total = f->fe->size;
    /* Resume: whatever is already in the folder and checks out is used. */
    for (size_t b = 0; b < f->n_blobs; ++b) {
        rc = put_blob(f, b, &e);
        if (rc == MT_OK)
            f->prog.from_disk++;
        else if (rc == MT_ECRYPTO)
            f->prog.corrupt++; /* fetched again like a missing one */
        else if (rc != MT_ENOTFOUND) {
            *err = e;
            goto fail;
        }
    }
    rc = MT_OK;
    maybe_finish(f);
    if (f->state == MT_BLOBFETCH_RUNNING && f->fe->swarm && (rc = add_pack(f, err)))
        goto fail;
    if (f->state == MT_BLOBFETCH_RUNNING && !f->fe->swarm)
        wire_start(f);
    *out = f;
    return MT_OK;
fail:
    mt_blobfetch_free(f, 0);
    return rc;
}

int mt_blobfetch_event(mt_blobfetch *f, const mt_event *ev)
{
    if (!f || f->state != MT_BLOBFETCH_RUNNING)
        return 0;
    if (ev->type == MT_EVENT_DHT_PEERS || ev->type == MT_EVENT_DHT_PEERS_DONE) {
        if (blob_of_target(f, ev->target) < 0)
            return 0;
        on_peers(f, ev);
        return 1;
    }
    if (!f->has_pack || memcmp(ev->target, f->pack_id, 20) != 0)
        return 0;
    switch (ev->type) {
    case MT_EVENT_TORRENT_METADATA:
    case MT_EVENT_TORRENT_ADDED:
        on_pack_metadata(f);
        break;
    case MT_EVENT_FILE_COMPLETED: {
        for (size_t b = 0; b < f->n_blobs; ++b)
            if (f->blobs[b].file_index == ev->file_index)
                on_pack_blob(f, b);
        break;
    }
    case MT_EVENT_TORRENT_CHECKED:
    case MT_EVENT_TORRENT_FINISHED:
        on_pack_metadata(f);
        scan_pack(f);
        break;
    case MT_EVENT_HASH_FAILED:
        f->prog.hash_failed++;
        break;
    default:
        return 0;
    }
    maybe_finish(f);
    return 1;
}

void mt_blobfetch_tick(mt_blobfetch *f)
{
    int64_t now = mt_now_ms();
    mt_error e;
    if (!f || f->state != MT_BLOBFETCH_RUNNING)
        return;
    /* A web seed's .torrent arrived before peers gave us metadata. */
    pthread_mutex_lock(&f->mu);
    if (f->xs_done && f->xs_torrent && !f->xs_used) {
        f->xs_used = 1;
        if (!f->pack_meta)
            mt_torrent_set_metadata(f->s, f->pack_id, f->xs_torrent, f->xs_len, NULL);
    }
    pthread_mutex_unlock(&f->mu);
    if (f->has_pack && !f->pack_meta)
        on_pack_metadata(f);
    /* Pack files that completed but read back wrong: lagging or corrupted. */
    for (size_t b = 0; b < f->n_blobs; ++b) {
        fblob *fb = &f->blobs[b];
        if (!fb->have && !fb->checking && fb->retry_until && now >= fb->retry_at)
            verify_queue(f, b, SRC_SWARM);
    }
    wire_collect(f);
    verify_collect(f);
    maybe_finish(f);
    if (f->state != MT_BLOBFETCH_RUNNING)
        return;
    if (f->o.stall_ms >= 0 && now - f->last_progress >= f->o.stall_ms)
        wire_start(f);
    if (f->o.timeout_ms > 0 && now - f->last_progress >= f->o.timeout_ms) {
        mt_error_set(&e, MT_ETIMEDOUT, "no blob arrived for %d ms (%zu of %zu chunks)", f->o.timeout_ms,
                     f->prog.chunks_done, f->prog.chunks_total);
        fail(f, &e);
    }
}

int mt_blobfetch_timeout(const mt_blobfetch *f)
{
    int64_t now = mt_now_ms(), t = -1;
    if (!f || f->state != MT_BLOBFETCH_RUNNING)
        return -1;
    /* Worker threads report by polling: cheap, and only while they run. */
    if ((f->xs_started && !f->xs_used) || f->wire_started)
        t = 100;
    pthread_mutex_lock((pthread_mutex_t *)&f->mu);
    int vbusy = f->vbusy || f->vdone;
    pthread_mutex_unlock((pthread_mutex_t *)&f->mu);
    if (vbusy)
        t = 5; /* verdicts move the output and progress along */
    for (size_t b = 0; b < f->n_blobs; ++b)
        if (!f->blobs[b].have && f->blobs[b].retry_until) {
            int64_t d = f->blobs[b].retry_at - now;
            if (t < 0 || d < t)
                t = d < 0 ? 0 : d;
        }
    if (f->o.stall_ms >= 0) {
        int64_t d = f->last_progress + f->o.stall_ms - now;
        if (t < 0 || d < t)
            t = d < 0 ? 0 : d;
    }
    if (f->o.timeout_ms > 0) {
        int64_t d = f->last_progress + f->o.timeout_ms - now;
        if (t < 0 || d < t)
            t = d < 0 ? 0 : d;
    }
    if (t >= 0 && t < 100 && f->o.stall_ms >= 0 && now - f->last_progress >= f->o.stall_ms)
        t = 100; /* stalled: wire_start runs at most ten times a second */
    return t > 1000 ? 1000 : (int)t;
}

mt_blobfetch_state mt_blobfetch_get_state(const mt_blobfetch *f) { return f->state; }

void mt_blobfetch_get_progress(const mt_blobfetch *f, mt_blobfetch_progress *p)
{
    *p = f->prog;
    p->has_pack = f->has_pack;
    memcpy(p->pack_id, f->pack_id, 20);
}

void mt_blobfetch_get_error(const mt_blobfetch *f, mt_error *err)
{
    if (err)
        *err = f->error;
}

void mt_blobfetch_free(mt_blobfetch *f, int discard)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (f->wire_started)
        pthread_join(f->wire_thread, NULL);
    if (f->verify_started)
        pthread_join(f->verify_thread, NULL); /* at most the blob in hand */
    for (vjob *l = f->vtodo; l;) {
        vjob *n = l->next;
        free(l);
        l = n;
    }
    for (vjob *l = f->vdone; l;) {
        vjob *n = l->next;
        free(l);
        l = n;
    }
    if (f->xs_started)
        pthread_join(f->xs_thread, NULL); /* bounded by XS_TIMEOUT_MS */
    for (wjob *l = f->todo; l;) {
        wjob *n = l->next;
        free(l->peers);
        free(l);
        l = n;
    }
    for (wjob *l = f->done; l;) {
        wjob *n = l->next;
        free(l->peers);
        free(l);
        l = n;
    }
    if (f->has_pack && !(f->state == MT_BLOBFETCH_DONE && f->o.keep_seeding))
        mt_torrent_remove(f->s, f->pack_id, 0, NULL);
    if (f->has_pack) {
        /* libtorrent makes the pack's own folder before the files are
         * renamed flat; drop it when it stayed empty. */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", f->blob_dir, MT_PACK_NAME);
        rmdir(path);
    }
    if (f->w)
        mt_blob_writer_free(f->w, discard && f->state != MT_BLOBFETCH_DONE);
    for (size_t b = 0; b < f->n_blobs; ++b)
        free(f->blobs[b].peers);
    free(f->blobs);
    free(f->chunk_blob);
    free(f->sorted);
    if (f->wire_peers)
        for (size_t i = 0; i < f->o.n_wire_peers; ++i)
            free(f->wire_peers[i]);
    free(f->wire_peers);
    free(f->xs_torrent);
    free(f->xs_url);
    mt_fileentry_free(f->fe);
    free(f->blob_dir);
    free(f->out_path);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}
