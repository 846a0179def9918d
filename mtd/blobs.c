/*
 * blobs.c - mtd's encrypted blobs: the blob store, the mt-wire server,
 * ingesting files (on a worker thread) into packs that mtd seeds, fetching
 * FileEntry items of followed feeds, and announcing held blobs by id.
 *
 * Layout: every blob is <blob_dir>/<id>. Packs are added MT_ADD_FLAT with
 * blob_dir as save path, so one folder serves packs, mt-wire and the store.
 * Pins: a published feed's blobs under "feed:<name>", a seeded pack's
 * under "seed:<info-hash>"; fetched blobs stay unpinned (a cache, evicted
 * least recently used first when the store passes blob_cache_mb).
 * Fetches persist in the state store (table blob_fetch) and resume after a
 * restart from the blobs already on disk; pins are recorded there too.
 *
 * Calls go one way: blobs hands ingested files to publishing (publish.h)
 * and is used by subscriptions (blobs.h); it never calls subscriptions.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "blobs.h"
#include "module.h"
#include "mt_blob.h"
#include "mt_blobstore.h"
#include "mt_blobswarm.h"
#include "mt_bencode.h"
#include "mt_json.h"
#include "mt_util.h"
#include "mt_wire.h"
#include "params.h"
#include "publish.h"
#include "torrents.h"

#define ANNOUNCE_RESCAN_MS (30 * 60 * 1000) /* re-announce every blob this often */
#define EVICT_EVERY_MS     60000
#define INGEST_PATHS_MAX   256
#define PACK_KIND          MTD_TORRENT_PACK /* torrent rows: a pack, added flat */

/* A blob fetch (subscription item or blob.fetch), persisted in the store. */
typedef struct blob_fetch_rt {
    int64_t       id;
    int64_t       sub_id;      /* 0: started by RPC */
    struct mt_blobfetch *f;    /* NULL once finished (state says how) */
    int           state;       /* mt_blobfetch_state */
    char          out[MTD_PATH_MAX + 300];
    char          name[300];
    char          error[256];
    cJSON        *entry;       /* the FileEntry (holds chunk keys) */
    char          peers[512];  /* comma list of extra mt-wire hosts */
} blob_fetch_rt;

struct ingest_job;

typedef struct blobs_mod {
    char                   blob_dir[MTD_PATH_MAX]; /* the mt-wire thread's copy */
    struct mt_blobstore   *bs;
    struct mt_wire_server *wire;
    blob_fetch_rt         *fetches;
    size_t                 n_fetches, cap_fetches;
    int64_t                next_fetch_id;
    struct ingest_job     *jobs;
    char                 (*announce_ids)[65];
    size_t                 n_announce, announce_cursor;
    double                 announce_tokens;
    int64_t                announce_ms, next_announce_scan_ms, next_evict_ms;
} blobs_mod;

static blobs_mod *B(mtd_daemon *d)
{
    return mtd_module_state(d, &mtd_mod_blobs);
}

/* ------------------------------------------------------------ ingest jobs */

/* Files ingested on a worker thread; the loop picks up the result. */
typedef struct ingest_job {
    struct ingest_job *next;
    pthread_t     thread;
    int           done;           /* set by the worker under mu */
    pthread_mutex_t mu;
    mtd_rpc_ticket ticket;
    int           publish;        /* 1: feed.publish with files */
    cJSON        *params;         /* the call's params (copy) */
    char        **paths;
    size_t        n_paths;
    char          blob_dir[MTD_PATH_MAX];
    mt_fileentry **entries;       /* results */
    int           rc;
    mt_error      err;
} ingest_job;

static void *ingest_main(void *arg)
{
    ingest_job *j = arg;
    int rc = MT_OK;
    for (size_t i = 0; i < j->n_paths && rc == MT_OK; i++)
        rc = mt_blob_ingest_file(j->paths[i], j->blob_dir, NULL, &j->entries[i], &j->err);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static void job_free(ingest_job *j)
{
    for (size_t i = 0; i < j->n_paths; i++) {
        free(j->paths[i]);
        mt_fileentry_free(j->entries[i]);
    }
    free(j->paths);
    free(j->entries);
    cJSON_Delete(j->params);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* Validate "files" (absolute paths of regular files) into a new job. */
static int job_new(mtd_daemon *d, const cJSON *files, ingest_job **out, char *msg, size_t cap)
{
    const cJSON *x;
    ingest_job *j;
    int n = cJSON_GetArraySize(files);
    if (!cJSON_IsArray(files) || n == 0 || n > INGEST_PATHS_MAX)
        return snprintf(msg, cap, "files: must be an array of 1 to %d absolute paths", INGEST_PATHS_MAX),
               MTD_RPC_INVALID_PARAMS;
    cJSON_ArrayForEach(x, files) {
        struct stat st;
        if (!cJSON_IsString(x) || x->valuestring[0] != '/')
            return snprintf(msg, cap, "files: each entry must be an absolute path"), MTD_RPC_INVALID_PARAMS;
        if (stat(x->valuestring, &st) != 0 || !S_ISREG(st.st_mode))
            return snprintf(msg, cap, "files: %.200s is not a readable regular file", x->valuestring),
                   MTD_RPC_INVALID_PARAMS;
    }
    if (!(j = calloc(1, sizeof *j)) || !(j->paths = calloc((size_t)n, sizeof *j->paths)) ||
        !(j->entries = calloc((size_t)n, sizeof *j->entries))) {
        if (j)
            free(j->paths);
        free(j);
        return snprintf(msg, cap, "out of memory"), MTD_RPC_INTERNAL_ERROR;
    }
    pthread_mutex_init(&j->mu, NULL);
    cJSON_ArrayForEach(x, files)
        j->paths[j->n_paths++] = strdup(x->valuestring);
    snprintf(j->blob_dir, sizeof j->blob_dir, "%s", d->cfg->blob_dir);
    *out = j;
    return 0;
}

/* Take the ticket, start the worker. */
static int job_start(mtd_daemon *d, const mtd_rpc_call *call, ingest_job *j, char *msg, size_t cap)
{
    blobs_mod *bm = B(d);
    if (!call->id || mtd_rpc_defer(call, &j->ticket) != 0) {
        job_free(j);
        return snprintf(msg, cap, "ingesting files needs a request with an id, outside a batch"),
               MTD_RPC_INVALID_REQUEST;
    }
    j->params = cJSON_Duplicate(call->params, 1);
    if (pthread_create(&j->thread, NULL, ingest_main, j) != 0) {
        mtd_rpc_reply_error(d->rpc, &j->ticket, MTD_RPC_INTERNAL_ERROR, "cannot start a worker thread");
        job_free(j);
        return MTD_RPC_DEFERRED;
    }
    j->next = bm->jobs;
    bm->jobs = j;
    log_info("ingesting %zu file%s", j->n_paths, j->n_paths == 1 ? "" : "s");
    return MTD_RPC_DEFERRED;
}

/* ------------------------------------------------------------------ packs */

/* Seed a pack made here (its blobs are all in blob_dir) and record it. */
static int seed_own_pack(mtd_daemon *d, const uint8_t *torrent, size_t len, uint8_t id[20], mt_error *err)
{
    mt_add_params ap;
    memset(&ap, 0, sizeof ap);
    ap.torrent = torrent;
    ap.torrent_len = len;
    ap.save_path = d->cfg->blob_dir;
    ap.flags = MT_ADD_SEED_MODE | MT_ADD_FLAT;
    int rc = torrents_add(d, &ap, 0, "blobs", PACK_KIND, id, err);
    return rc == MT_EEXIST ? 0 : rc;
}

/* Pin ids under tag: recorded in the state store's pin table, then in the
 * blob store, which enforces pins at eviction; failures are logged, not
 * fatal (the blobs exist). */
static void pin(mtd_daemon *d, const char *tag, const char *const *ids, size_t n)
{
    blobs_mod *bm = B(d);
    mt_error err;
    if (mt_store_pin_add(d->st, tag, ids, n, &err) != 0)
        log_warn("cannot record %zu pins under %s: %s", n, tag, err.message);
    if (mt_blobstore_pin(bm->bs, tag, ids, n, &err) != 0)
        log_warn("cannot pin %zu blobs under %s: %s", n, tag, err.message);
}

/* At start: the state store's pins, tag by tag, into the blob store (whose
 * own pin file may have been lost or be older than the store). */
static void pins_load(mtd_daemon *d)
{
    mt_pin_row *rows = NULL;
    const char **ids;
    size_t n = 0, i = 0, j;
    blobs_mod *bm = B(d);
    mt_error err;
    if (mt_store_pin_list(d->st, NULL, &rows, &n, &err) != 0) {
        log_error("cannot read pins: %s", err.message);
        return;
    }
    ids = n ? calloc(n, sizeof *ids) : NULL;
    for (; ids && i < n; i = j) {
        for (j = i; j < n && strcmp(rows[j].tag, rows[i].tag) == 0; j++)
            ids[j - i] = rows[j].blob_id;
        if (mt_blobstore_pin(bm->bs, rows[i].tag, ids, j - i, &err) != 0)
            log_warn("cannot pin %zu blobs under %s: %s", j - i, rows[i].tag, err.message);
    }
    if (n && !ids)
        log_error("cannot restore pins: out of memory");
    free(ids);
    mt_free(rows);
}

/*
 * After ingest: one pack of every blob (when asked), swarm set on each
 * entry, blobs pinned under tag. Returns the pack magnet (free()) or NULL.
 */
static int pack_entries(mtd_daemon *d, mt_fileentry **entries, size_t n, const cJSON *ws_arr, const char *tag,
                        char **magnet_out, uint8_t pack_id[20], mt_error *err)
{
    size_t total = 0, k = 0, n_ws = 0;
    const char **ids, *ws[8];
    const cJSON *x;
    uint8_t *t = NULL;
    size_t tlen = 0;
    int rc;

    for (size_t i = 0; i < n; i++)
        total += entries[i]->n_chunks;
    if (total == 0)
        return mt_error_set(err, MT_EINVAL, "the files hold no data: nothing to pack");
    if (!(ids = calloc(total, sizeof *ids)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < entries[i]->n_chunks; c++)
            ids[k++] = entries[i]->chunks[c].blob_id;
    pin(d, tag, ids, total);
    cJSON_ArrayForEach(x, ws_arr)
        if (cJSON_IsString(x) && n_ws < 8)
            ws[n_ws++] = x->valuestring;
    rc = mt_pack_create(d->cfg->blob_dir, ids, total, 1, ws, n_ws, &t, &tlen, magnet_out, pack_id, err);
    free(ids);
    if (rc == 0)
        rc = seed_own_pack(d, t, tlen, pack_id, err);
    mt_free(t);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = mt_fileentry_set_swarm(entries[i], *magnet_out, err);
    return rc;
}

/* Entries as a JSON array (holds keys: the caller deletes it). */
static cJSON *entries_json(mt_fileentry **entries, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = NULL;
        if (mt_fileentry_to_cjson(entries[i], &o, NULL) == 0)
            cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* A worker finished: pack, then answer blob.ingest or go on publishing. */
static void job_finish(mtd_daemon *d, ingest_job *j)
{
    const cJSON *p = j->params;
    char tag[128], *magnet = NULL, hex[41];
    uint8_t pack_id[20];
    mt_error err;
    int rc = j->rc;
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(p, "pack");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(p, j->publish ? "blob_ws" : "ws");
    int want_pack = j->publish ? !cJSON_IsFalse(pk) : cJSON_IsTrue(pk);

    if (rc != 0) {
        log_error("ingest failed: %s", j->err.message);
        mtd_rpc_reply_error(d->rpc, &j->ticket, rc == MT_EINVAL ? MTD_RPC_REFUSED : MTD_RPC_INTERNAL_ERROR,
                            j->err.message);
        return;
    }
    if (j->publish)
        snprintf(tag, sizeof tag, "feed:%s", cJSON_IsString(jn) ? jn->valuestring : "");
    else
        snprintf(tag, sizeof tag, "ingest");
    if (want_pack) {
        if ((rc = pack_entries(d, j->entries, j->n_paths, ws, tag, &magnet, pack_id, &err)) != 0) {
            log_error("packing failed: %s", err.message);
            mtd_rpc_reply_error(d->rpc, &j->ticket, MTD_RPC_INTERNAL_ERROR, err.message);
            free(magnet);
            return;
        }
        mt_hex_encode(pack_id, 20, hex);
        log_info("seeding pack %s", hex);
    } else {
        for (size_t i = 0; i < j->n_paths; i++) {
            const char **ids = calloc(j->entries[i]->n_chunks + 1, sizeof *ids);
            for (size_t c = 0; ids && c < j->entries[i]->n_chunks; c++)
                ids[c] = j->entries[i]->chunks[c].blob_id;
            if (ids)
                pin(d, tag, ids, j->entries[i]->n_chunks);
            free(ids);
        }
    }
    cJSON *entries = entries_json(j->entries, j->n_paths);
    if (!j->publish) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "entries", entries);
        if (magnet) {
            cJSON *po = cJSON_AddObjectToObject(r, "pack");
            cJSON_AddStringToObject(po, "magnet", magnet);
            cJSON_AddStringToObject(po, "id", hex);
        }
        mtd_rpc_reply(d->rpc, &j->ticket, r);
        free(magnet);
        return;
    }
    /* feed.publish with files: the entries join the items. */
    cJSON *np = cJSON_Duplicate(p, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(np, "files");
    cJSON_DeleteItemFromObjectCaseSensitive(np, "pack");
    cJSON_DeleteItemFromObjectCaseSensitive(np, "blob_ws");
    cJSON_AddItemToObject(np, "entries", entries);
    pub_publish_held(d, np, &j->ticket);
    cJSON_Delete(np);
    free(magnet);
}

/* Reap finished workers. */
static void jobs_tick(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    for (ingest_job **pp = &bm->jobs; *pp;) {
        ingest_job *j = *pp;
        pthread_mutex_lock(&j->mu);
        int done = j->done;
        pthread_mutex_unlock(&j->mu);
        if (!done) {
            pp = &j->next;
            continue;
        }
        pthread_join(j->thread, NULL);
        *pp = j->next;
        job_finish(d, j);
        bm->next_announce_scan_ms = 0; /* new blobs: announce them soon */
        job_free(j);
    }
}

/* ------------------------------------------------------------- fetches */

static const char *state_name(int st)
{
    return st == MT_BLOBFETCH_DONE ? "done" : st == MT_BLOBFETCH_FAILED ? "failed" : "running";
}

/* Persist every fetch (one transaction: rows of the store's blob_fetch
 * table). Entries hold keys, and the state store is the daemon's own 0600
 * file. */
static void fetches_save(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    mt_fetch_row *rows = bm->n_fetches ? calloc(bm->n_fetches, sizeof *rows) : NULL;
    mt_error err;
    size_t n = 0;
    int ok = rows || !bm->n_fetches;
    for (size_t i = 0; ok && i < bm->n_fetches; i++, n++) {
        blob_fetch_rt *b = &bm->fetches[i];
        mt_fetch_row *r = &rows[i];
        r->id = b->id;
        r->sub_id = b->sub_id;
        r->state = b->state == MT_BLOBFETCH_DONE     ? MT_STORE_FETCH_DONE
                   : b->state == MT_BLOBFETCH_FAILED ? MT_STORE_FETCH_FAILED
                                                     : MT_STORE_FETCH_RUNNING;
        snprintf(r->out, sizeof r->out, "%s", b->out);
        snprintf(r->name, sizeof r->name, "%s", b->name);
        snprintf(r->error, sizeof r->error, "%s", b->error);
        snprintf(r->peers, sizeof r->peers, "%s", b->peers);
        if (b->entry && !(r->entry = cJSON_PrintUnformatted(b->entry)))
            ok = 0;
        r->entry_len = r->entry ? strlen(r->entry) : 0;
    }
    if (!ok || mt_store_fetch_put(d->st, rows, n, &err) != 0)
        log_error("cannot save blob fetches: %s", ok ? err.message : "out of memory");
    for (size_t i = 0; i < n; i++)
        mt_fetch_row_clear(&rows[i]); /* wipes the entries */
    free(rows);
}

/* Start (or resume) the engine of fetch b. */
static int fetch_engine_start(mtd_daemon *d, blob_fetch_rt *b, mt_error *err)
{
    mt_fileentry *fe = NULL;
    mt_blobfetch_opts o;
    char peers[sizeof b->peers], *list[16], *save = NULL;
    size_t n = 0;
    int rc = mt_fileentry_from_cjson(b->entry, &fe, err);
    if (rc)
        return rc;
    snprintf(peers, sizeof peers, "%s", b->peers);
    for (char *t = strtok_r(peers, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    mt_blobfetch_opts_init(&o);
    o.blob_dir = d->cfg->blob_dir;
    o.out_path = b->out;
    o.wire_peers = (const char *const *)list;
    o.n_wire_peers = n;
    rc = mt_blobfetch_start(d->s, fe, &o, &b->f, err);
    mt_fileentry_free(fe);
    return rc;
}

static blob_fetch_rt *fetch_new(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    if (bm->n_fetches == bm->cap_fetches) {
        size_t nc = bm->cap_fetches ? bm->cap_fetches * 2 : 8;
        blob_fetch_rt *nf = realloc(bm->fetches, nc * sizeof *nf);
        if (!nf)
            return NULL;
        bm->fetches = nf;
        bm->cap_fetches = nc;
    }
    blob_fetch_rt *b = &bm->fetches[bm->n_fetches++];
    memset(b, 0, sizeof *b);
    b->id = ++bm->next_fetch_id;
    b->state = MT_BLOBFETCH_RUNNING;
    return b;
}

/* Create, persist and start a fetch of entry into out. */
static int fetch_add(mtd_daemon *d, int64_t sub_id, const cJSON *entry, const char *out, const char *peers,
                     int64_t *id, char *msg, size_t cap)
{
    blobs_mod *bm = B(d);
    mt_fileentry *fe = NULL;
    mt_error err;
    if (mt_fileentry_from_cjson(entry, &fe, &err) != 0)
        return snprintf(msg, cap, "entry: %s", err.message), MTD_RPC_REFUSED;
    blob_fetch_rt *b = fetch_new(d);
    if (!b) {
        mt_fileentry_free(fe);
        return snprintf(msg, cap, "out of memory"), MTD_RPC_INTERNAL_ERROR;
    }
    b->sub_id = sub_id;
    snprintf(b->out, sizeof b->out, "%s", out);
    snprintf(b->name, sizeof b->name, "%s", fe->name);
    snprintf(b->peers, sizeof b->peers, "%s", peers ? peers : "");
    b->entry = cJSON_Duplicate(entry, 1);
    mt_fileentry_free(fe);
    int rc = fetch_engine_start(d, b, &err);
    if (rc != 0) {
        cJSON_Delete(b->entry);
        bm->n_fetches--;
        return snprintf(msg, cap, "%s", err.message), rc == MT_EEXIST ? MTD_RPC_EXISTS : MTD_RPC_REFUSED;
    }
    *id = b->id;
    fetches_save(d);
    log_info("blob fetch %lld: %s -> %s", (long long)b->id, b->name, b->out);
    return 0;
}

/* A fetch ended: event, hook, record. */
static void fetch_report(mtd_daemon *d, blob_fetch_rt *b)
{
    blobs_mod *bm = B(d);
    mt_blobfetch_progress pr;
    mt_error err;
    mt_blobfetch_get_progress(b->f, &pr);
    b->state = mt_blobfetch_get_state(b->f);
    cJSON *e = d_event(b->state == MT_BLOBFETCH_DONE ? "blob.finished" : "blob.failed");
    cJSON_AddNumberToObject(e, "id", (double)b->id);
    cJSON_AddNumberToObject(e, "subscription", (double)b->sub_id);
    cJSON_AddStringToObject(e, "name", b->name);
    cJSON_AddStringToObject(e, "out", b->out);
    cJSON_AddNumberToObject(e, "from_disk", (double)pr.from_disk);
    cJSON_AddNumberToObject(e, "from_swarm", (double)pr.from_swarm);
    cJSON_AddNumberToObject(e, "from_wire", (double)pr.from_wire);
    cJSON_AddNumberToObject(e, "corrupt", (double)pr.corrupt);
    if (b->state == MT_BLOBFETCH_FAILED) {
        mt_blobfetch_get_error(b->f, &err);
        snprintf(b->error, sizeof b->error, "%s", err.message);
        cJSON_AddStringToObject(e, "error", b->error);
        log_error("blob fetch %lld (%s) failed: %s", (long long)b->id, b->name, b->error);
    } else {
        log_info("blob fetch %lld: %s complete (%zu from disk, %zu from the pack, %zu over mt-wire, %zu corrupt "
                 "refetched)", (long long)b->id, b->out, pr.from_disk, pr.from_swarm, pr.from_wire, pr.corrupt);
        if (d->cfg->on_finished[0]) {
            char e_name[400], e_path[MTD_PATH_MAX + 320];
            snprintf(e_name, sizeof e_name, "MT_NAME=%s", b->name);
            snprintf(e_path, sizeof e_path, "MT_SAVE_PATH=%s", b->out);
            const char *env[] = { "MT_EVENT=blob.finished", e_name, e_path, NULL };
            d_run_hook(d, d->cfg->on_finished, env);
        }
    }
    d_emit(d, e);
    mt_blobfetch_free(b->f, 0);
    b->f = NULL;
    bm->next_announce_scan_ms = 0; /* fetched blobs are held now: announce them */
    /* The key material is no longer needed once the file is whole. */
    if (b->state == MT_BLOBFETCH_DONE) {
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(b->entry, "size");
        double size = cJSON_IsNumber(sz) ? sz->valuedouble : 0;
        cJSON_Delete(b->entry);
        b->entry = cJSON_CreateObject();
        cJSON_AddNumberToObject(b->entry, "size", size);
    }
    fetches_save(d);
}

static void fetches_load(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    mt_fetch_row *rows = NULL;
    size_t n = 0;
    mt_error err;
    if (mt_store_fetch_list(d->st, &rows, &n, &err) != 0) {
        log_error("cannot read blob fetches: %s", err.message);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mt_fetch_row *r = &rows[i];
        blob_fetch_rt *b = fetch_new(d);
        if (!b)
            break;
        b->id = r->id;
        if (b->id > bm->next_fetch_id)
            bm->next_fetch_id = b->id;
        b->sub_id = r->sub_id;
        snprintf(b->out, sizeof b->out, "%s", r->out);
        snprintf(b->name, sizeof b->name, "%s", r->name);
        snprintf(b->error, sizeof b->error, "%s", r->error);
        snprintf(b->peers, sizeof b->peers, "%s", r->peers);
        b->entry = r->entry ? cJSON_Parse(r->entry) : NULL;
        b->state = r->state == MT_STORE_FETCH_DONE     ? MT_BLOBFETCH_DONE
                   : r->state == MT_STORE_FETCH_FAILED ? MT_BLOBFETCH_FAILED
                                                       : MT_BLOBFETCH_RUNNING;
        if (b->state == MT_BLOBFETCH_RUNNING) {
            int rc = fetch_engine_start(d, b, &err);
            if (rc == MT_EEXIST) {
                b->state = MT_BLOBFETCH_DONE; /* renamed just before a crash */
            } else if (rc != 0) {
                b->state = MT_BLOBFETCH_FAILED;
                snprintf(b->error, sizeof b->error, "%s", err.message);
            } else {
                log_info("blob fetch %lld: resuming %s", (long long)b->id, b->out);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        mt_fetch_row_clear(&rows[i]); /* wipes the entries */
    mt_free(rows);
}

int blobs_fetch_item(mtd_daemon *d, int64_t sub_id, const cJSON *entry, const char *save_dir, mt_error *err)
{
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(entry, "name");
    char fname[256], out[MTD_PATH_MAX + 300], msg[512];
    int64_t id;
    int rc;
    if (!cJSON_IsString(jn) || mt_filename_sanitize(jn->valuestring, fname, sizeof fname) != 0)
        return mt_error_set(err, MT_EINVAL, "FileEntry without a usable name");
    if (mkdir(save_dir, 0755) != 0 && errno != EEXIST)
        return mt_error_set(err, MT_EIO, "cannot create %s: %s", save_dir, strerror(errno));
    snprintf(out, sizeof out, "%s/%s", save_dir, fname);
    if ((rc = fetch_add(d, sub_id, entry, out, NULL, &id, msg, sizeof msg)) != 0)
        return mt_error_set(err, rc == MTD_RPC_EXISTS ? MT_EEXIST : rc == MTD_RPC_REFUSED ? MT_EINVAL : MT_EIO,
                            "%s", msg);
    return 0;
}

/* --------------------------------------------------------------- announce */

/* Refill the list of held blob ids (a directory scan). */
static void announce_rescan(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    DIR *dir = opendir(d->cfg->blob_dir);
    struct dirent *de;
    size_t n = 0, cap = 0;
    char (*ids)[65] = NULL;
    if (!dir)
        return;
    while ((de = readdir(dir))) {
        if (!mt_blob_id_valid(de->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            char (*ni)[65] = realloc(ids, nc * sizeof *ni);
            if (!ni)
                break;
            ids = ni;
            cap = nc;
        }
        memcpy(ids[n++], de->d_name, 65);
    }
    closedir(dir);
    free(bm->announce_ids);
    bm->announce_ids = ids;
    bm->n_announce = n;
    bm->announce_cursor = 0;
}

/* Announce held blobs by id with the mt-wire port, at most
 * wire_announce_rate a minute (a token bucket), cycling through them. */
static void announce_tick(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    int64_t now = mt_now_ms();
    int port;
    if (!bm->wire || d->cfg->wire_announce_rate <= 0 || !mt_session_dht_running(d->s))
        return;
    if (now >= bm->next_announce_scan_ms) {
        announce_rescan(d);
        bm->next_announce_scan_ms = now + ANNOUNCE_RESCAN_MS;
    }
    double rate = d->cfg->wire_announce_rate / 60000.0;
    if (bm->announce_ms)
        bm->announce_tokens += (double)(now - bm->announce_ms) * rate;
    bm->announce_ms = now;
    if (bm->announce_tokens > d->cfg->wire_announce_rate)
        bm->announce_tokens = d->cfg->wire_announce_rate;
    port = mt_wire_server_port(bm->wire);
    while (bm->announce_tokens >= 1.0 && bm->announce_cursor < bm->n_announce) {
        uint8_t ih[20];
        if (mt_blob_dht_key(bm->announce_ids[bm->announce_cursor++], ih) == 0)
            mt_dht_announce(d->s, ih, port, NULL);
        bm->announce_tokens -= 1.0;
    }
}

/* ------------------------------------------------------------ store, wire */

/* mt-wire served a blob: it was used (LRU). Runs on the server thread, so
 * it touches the file directly rather than the store object. */
static void wire_served(void *ud, const char *id)
{
    const blobs_mod *bm = ud;
    char path[MTD_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", bm->blob_dir, id);
    utimensat(AT_FDCWD, path, NULL, 0);
}

/* Spare blobs a running fetch reads or a pack we seed holds. */
static int keep_blob(void *ud, const char *id)
{
    const blobs_mod *bm = ud;
    for (size_t i = 0; i < bm->n_fetches; i++) {
        blob_fetch_rt *b = &bm->fetches[i];
        if (!b->f)
            continue;
        const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(b->entry, "chunks"), *c;
        cJSON_ArrayForEach(c, chunks) {
            const cJSON *bid = cJSON_GetObjectItemCaseSensitive(c, "blobId");
            if (cJSON_IsString(bid) && !strcmp(bid->valuestring, id))
                return 1;
        }
    }
    return 0;
}

static void evict_tick(mtd_daemon *d)
{
    blobs_mod *bm = B(d);
    int64_t now = mt_now_ms();
    uint64_t freed = 0;
    mt_error err;
    if (d->cfg->blob_cache_mb <= 0 || now < bm->next_evict_ms)
        return;
    bm->next_evict_ms = now + EVICT_EVERY_MS;
    int rc = mt_blobstore_evict(bm->bs, 0, keep_blob, bm, &freed, &err);
    if (freed)
        log_info("blob store over its cap: evicted %llu bytes of unpinned blobs", (unsigned long long)freed);
    if (rc == MT_ETOOBIG)
        log_warn("blob store is over blob_cache_mb and everything left is pinned or in use");
}

static int mod_open(mtd_daemon *d, void **state, mt_error *err)
{
    blobs_mod *bm = calloc(1, sizeof *bm);
    uint64_t cap = (uint64_t)d->cfg->blob_cache_mb * 1024 * 1024;
    mt_error e;
    int rc;
    if (!bm)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    snprintf(bm->blob_dir, sizeof bm->blob_dir, "%s", d->cfg->blob_dir);
    if ((rc = mt_blobstore_open(d->cfg->blob_dir, cap, &bm->bs, &e)) != 0) {
        mt_error_set(err, rc, "blob store %s: %s", d->cfg->blob_dir, e.message);
        free(bm);
        return rc;
    }
    if (d->cfg->wire_listen[0]) {
        mt_wire_server_config wc;
        mt_wire_server_config_init(&wc);
        wc.listen = d->cfg->wire_listen;
        wc.blob_dir = bm->blob_dir;
        wc.served = wire_served;
        wc.ud = bm; /* the server thread sees only this (blob_dir) */
        if ((rc = mt_wire_server_start(&wc, &bm->wire, &e)) != 0) {
            mt_error_set(err, rc, "mt-wire server on %s: %s", d->cfg->wire_listen, e.message);
            mt_blobstore_close(bm->bs);
            free(bm);
            return rc;
        }
        log_info("mt-wire server listening on port %d", mt_wire_server_port(bm->wire));
    }
    *state = bm; /* pins_load and fetches_load reach it through B() */
    pins_load(d);
    fetches_load(d);
    return 0;
}

static void mod_close(mtd_daemon *d, void *state)
{
    blobs_mod *bm = state;
    if (!bm)
        return;
    while (bm->jobs) {
        ingest_job *j = bm->jobs;
        bm->jobs = j->next;
        pthread_join(j->thread, NULL); /* ingest is bounded by the files */
        mtd_rpc_reply_error(d->rpc, &j->ticket, MTD_RPC_UNAVAILABLE, "the daemon is shutting down");
        job_free(j);
    }
    for (size_t i = 0; i < bm->n_fetches; i++) {
        mt_blobfetch_free(bm->fetches[i].f, 0); /* .mtpart kept: resumes next start */
        cJSON_Delete(bm->fetches[i].entry);
    }
    free(bm->fetches);
    mt_wire_server_stop(bm->wire);
    mt_blobstore_close(bm->bs);
    free(bm->announce_ids);
    free(bm);
}

/* Pin a seeded pack's blobs once its file list is known. */
static void pin_seeded_pack(mtd_daemon *d, const uint8_t id[20])
{
    blobs_mod *bm = B(d);
    mt_torrent_row row;
    int count = 0;
    char tag[64], hex[41];
    if (mt_store_torrent_get(d->st, id, &row, NULL) != 0)
        return;
    int is_pack = row.kind == PACK_KIND;
    mt_torrent_row_clear(&row);
    if (!is_pack || mt_torrent_file_count(d->s, id, &count, NULL) != 0 || count <= 0)
        return;
    char (*ids)[65] = calloc((size_t)count, sizeof *ids);
    const char **ptrs = calloc((size_t)count, sizeof *ptrs);
    size_t n = 0;
    for (int i = 0; ids && ptrs && i < count; i++) {
        mt_file_info fi;
        if (mt_torrent_file_info(d->s, id, i, &fi, NULL) == 0 && mt_pack_file_blob_id(fi.path, ids[n]) == 0) {
            ptrs[n] = ids[n];
            n++;
        }
    }
    mt_hex_encode(id, 20, hex);
    snprintf(tag, sizeof tag, "seed:%s", hex);
    if (n) {
        pin(d, tag, ptrs, n);
        bm->next_announce_scan_ms = 0;
    }
    free(ids);
    free(ptrs);
}

static void mod_event(mtd_daemon *d, void *state, const mt_event *ev)
{
    blobs_mod *bm = state;
    for (size_t i = 0; i < bm->n_fetches; i++)
        if (bm->fetches[i].f && mt_blobfetch_event(bm->fetches[i].f, ev))
            log_debug("blob fetch %lld: %s event", (long long)bm->fetches[i].id, mt_event_type_name(ev->type));
    if (ev->type == MT_EVENT_TORRENT_METADATA || ev->type == MT_EVENT_TORRENT_FINISHED)
        pin_seeded_pack(d, ev->target);
}

static void mod_tick(mtd_daemon *d, void *state)
{
    blobs_mod *bm = state;
    jobs_tick(d);
    for (size_t i = 0; i < bm->n_fetches; i++) {
        blob_fetch_rt *b = &bm->fetches[i];
        if (!b->f)
            continue;
        mt_blobfetch_tick(b->f);
        if (mt_blobfetch_get_state(b->f) != MT_BLOBFETCH_RUNNING)
            fetch_report(d, b);
    }
    announce_tick(d);
    evict_tick(d);
}

static int mod_timeout(mtd_daemon *d, void *state)
{
    blobs_mod *bm = state;
    (void)d;
    int t = -1;
    if (bm->jobs)
        t = 50;
    for (size_t i = 0; i < bm->n_fetches; i++) {
        int ft = bm->fetches[i].f ? mt_blobfetch_timeout(bm->fetches[i].f) : -1;
        if (ft >= 0 && (t < 0 || ft < t))
            t = ft;
    }
    /* Fetches may finish on an event: look again soon after one. */
    for (size_t i = 0; i < bm->n_fetches; i++)
        if (bm->fetches[i].f && mt_blobfetch_get_state(bm->fetches[i].f) != MT_BLOBFETCH_RUNNING)
            t = 0;
    return t;
}

/* ------------------------------------------------------------ RPC methods */

int blobs_publish_files(mtd_daemon *d, const mtd_rpc_call *call, char *msg, size_t cap)
{
    ingest_job *j = NULL;
    const cJSON *p = call->params;
    int rc;
    if (cJSON_GetObjectItemCaseSensitive(p, "manifest"))
        return snprintf(msg, cap, "files: not with manifest (sign the FileEntries into it instead)"),
               MTD_RPC_INVALID_PARAMS;
    if (!mt_session_dht_running(d->s))
        return snprintf(msg, cap, "the DHT is not running"), MTD_RPC_UNAVAILABLE;
    if ((rc = job_new(d, cJSON_GetObjectItemCaseSensitive(p, "files"), &j, msg, cap)) != 0)
        return rc;
    j->publish = 1;
    return job_start(d, call, j, msg, cap);
}

HANDLER(m_blob_ingest)
{
    mtd_daemon *d = ctx;
    (void)data;
    ingest_job *j = NULL;
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(call->params, "ws"), *x;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(call->params, "pack");
    int rc;
    (void)result;
    if (pk && !cJSON_IsBool(pk))
        return snprintf(msg, cap, "pack: must be true or false"), MTD_RPC_INVALID_PARAMS;
    if (ws) {
        if (!cJSON_IsArray(ws) || cJSON_GetArraySize(ws) > 8)
            return snprintf(msg, cap, "ws: must be an array of at most 8 URLs"), MTD_RPC_INVALID_PARAMS;
        cJSON_ArrayForEach(x, ws)
            if (!cJSON_IsString(x) || !mt_url_is_http(x->valuestring) ||
                x->valuestring[strlen(x->valuestring) - 1] != '/')
                return snprintf(msg, cap, "ws: each entry must be an http(s) URL ending in '/'"),
                       MTD_RPC_INVALID_PARAMS;
    }
    if ((rc = job_new(d, cJSON_GetObjectItemCaseSensitive(call->params, "files"), &j, msg, cap)) != 0)
        return rc;
    return job_start(d, call, j, msg, cap);
}

HANDLER(m_blob_fetch)
{
    mtd_daemon *d = ctx;
    (void)data;
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(call->params, "entry");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(call->params, "out");
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(call->params, "peers"), *x;
    char plist[512] = "";
    size_t off = 0;
    int64_t id;
    int rc;
    if (!cJSON_IsObject(entry))
        return snprintf(msg, cap, "entry: must be a FileEntry object"), MTD_RPC_INVALID_PARAMS;
    if (!cJSON_IsString(out) || out->valuestring[0] != '/' || strlen(out->valuestring) >= MTD_PATH_MAX)
        return snprintf(msg, cap, "out: must be an absolute path"), MTD_RPC_INVALID_PARAMS;
    if (peers && !cJSON_IsArray(peers))
        return snprintf(msg, cap, "peers: must be an array of \"host:port\""), MTD_RPC_INVALID_PARAMS;
    cJSON_ArrayForEach(x, peers) {
        if (!cJSON_IsString(x) || strlen(x->valuestring) > 63 || strchr(x->valuestring, ',') || !x->valuestring[0])
            return snprintf(msg, cap, "peers: must be an array of \"host:port\""), MTD_RPC_INVALID_PARAMS;
        int w = snprintf(plist + off, sizeof plist - off, "%s%s", off ? "," : "", x->valuestring);
        if (w < 0 || (size_t)w >= sizeof plist - off)
            return snprintf(msg, cap, "peers: too many"), MTD_RPC_INVALID_PARAMS;
        off += (size_t)w;
    }
    if ((rc = fetch_add(d, 0, entry, out->valuestring, plist, &id, msg, cap)) != 0)
        return rc;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "id", (double)id);
    *result = r;
    return 0;
}

HANDLER(m_blob_fetches)
{
    mtd_daemon *d = ctx;
    (void)data;
    blobs_mod *bm = B(d);
    (void)call, (void)msg, (void)cap;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < bm->n_fetches; i++) {
        blob_fetch_rt *b = &bm->fetches[i];
        cJSON *o = cJSON_CreateObject();
        mt_blobfetch_progress pr;
        memset(&pr, 0, sizeof pr);
        if (b->f)
            mt_blobfetch_get_progress(b->f, &pr);
        cJSON_AddNumberToObject(o, "id", (double)b->id);
        cJSON_AddNumberToObject(o, "subscription", (double)b->sub_id);
        cJSON_AddStringToObject(o, "name", b->name);
        cJSON_AddStringToObject(o, "out", b->out);
        cJSON_AddStringToObject(o, "state", state_name(b->state));
        if (b->f) {
            char hex[41];
            cJSON_AddNumberToObject(o, "chunks_done", (double)pr.chunks_done);
            cJSON_AddNumberToObject(o, "chunks_total", (double)pr.chunks_total);
            cJSON_AddNumberToObject(o, "bytes_done", (double)pr.bytes_done);
            cJSON_AddNumberToObject(o, "bytes_total", (double)pr.bytes_total);
            cJSON_AddNumberToObject(o, "from_disk", (double)pr.from_disk);
            cJSON_AddNumberToObject(o, "from_swarm", (double)pr.from_swarm);
            cJSON_AddNumberToObject(o, "from_wire", (double)pr.from_wire);
            cJSON_AddNumberToObject(o, "corrupt", (double)pr.corrupt);
            cJSON_AddNumberToObject(o, "hash_failed", (double)pr.hash_failed);
            if (pr.has_pack) {
                mt_hex_encode(pr.pack_id, 20, hex);
                cJSON_AddStringToObject(o, "pack", hex);
            }
        } else if (b->state == MT_BLOBFETCH_DONE) {
            const cJSON *sz = cJSON_GetObjectItemCaseSensitive(b->entry, "size");
            struct stat st;
            double bytes = cJSON_IsNumber(sz) ? sz->valuedouble : stat(b->out, &st) == 0 ? (double)st.st_size : 0;
            cJSON_AddNumberToObject(o, "bytes_done", bytes);
            cJSON_AddNumberToObject(o, "bytes_total", bytes);
        }
        if (b->error[0])
            cJSON_AddStringToObject(o, "error", b->error);
        cJSON_AddItemToArray(arr, o);
    }
    *result = arr;
    return 0;
}

static void tag_cb(void *ud, const char *tag, size_t n_ids, size_t n_present)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tag", tag);
    cJSON_AddNumberToObject(o, "blobs", (double)n_ids);
    cJSON_AddNumberToObject(o, "present", (double)n_present);
    cJSON_AddItemToArray(ud, o);
}

HANDLER(m_blob_store)
{
    mtd_daemon *d = ctx;
    (void)data;
    blobs_mod *bm = B(d);
    mt_blobstore_usage u;
    mt_error err;
    (void)call;
    if (mt_blobstore_get_usage(bm->bs, &u, &err) != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "dir", d->cfg->blob_dir);
    cJSON_AddNumberToObject(r, "cap", (double)u.cap);
    cJSON_AddNumberToObject(r, "bytes", (double)u.bytes);
    cJSON_AddNumberToObject(r, "blobs", (double)u.blobs);
    cJSON_AddNumberToObject(r, "pinned_bytes", (double)u.pinned_bytes);
    cJSON_AddNumberToObject(r, "pinned_blobs", (double)u.pinned_blobs);
    cJSON *tags = cJSON_AddArrayToObject(r, "tags");
    mt_blobstore_list_pins(bm->bs, tag_cb, tags, NULL);
    if (bm->wire) {
        mt_wire_server_stats ws;
        mt_wire_server_get_stats(bm->wire, &ws);
        cJSON *w = cJSON_AddObjectToObject(r, "wire");
        cJSON_AddNumberToObject(w, "port", mt_wire_server_port(bm->wire));
        cJSON_AddNumberToObject(w, "accepted", (double)ws.accepted);
        cJSON_AddNumberToObject(w, "blobs_served", (double)ws.blobs_served);
        cJSON_AddNumberToObject(w, "bytes_sent", (double)ws.bytes_sent);
        cJSON_AddNumberToObject(w, "bad_frames", (double)ws.bad_frames);
        cJSON_AddNumberToObject(w, "refused", (double)(ws.refused_per_ip + ws.refused_full));
        cJSON_AddNumberToObject(w, "open", ws.open);
    }
    *result = r;
    return 0;
}

HANDLER(m_blob_seed)
{
    mtd_daemon *d = ctx;
    (void)data;
    const cJSON *mag = cJSON_GetObjectItemCaseSensitive(call->params, "magnet");
    mt_add_params ap;
    mt_error err;
    uint8_t id[20];
    char hex[41];
    if (!cJSON_IsString(mag))
        return snprintf(msg, cap, "magnet: required (the pack's magnet link)"), MTD_RPC_INVALID_PARAMS;
    memset(&ap, 0, sizeof ap);
    ap.magnet = mag->valuestring;
    ap.save_path = d->cfg->blob_dir;
    ap.flags = MT_ADD_FLAT;
    int rc = torrents_add(d, &ap, 0, "blobs", PACK_KIND, id, &err);
    if (rc != 0)
        return snprintf(msg, cap, "%s", err.message), rc == MT_EEXIST ? MTD_RPC_EXISTS : MTD_RPC_REFUSED;
    mt_hex_encode(id, 20, hex);
    log_info("hosting pack %s (ciphertext only)", hex);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", hex);
    *result = r;
    return 0;
}

static const mtd_rpc_method blob_methods[] = {
    { "blob.ingest", m_blob_ingest },
    { "blob.fetch", m_blob_fetch },
    { "blob.fetches", m_blob_fetches },
    { "blob.store", m_blob_store },
    { "blob.seed", m_blob_seed },
    { NULL, NULL }
};

const mtd_module mtd_mod_blobs = {
    .name = "blobs",
    .open = mod_open,
    .close = mod_close,
    .on_event = mod_event,
    .next_timeout = mod_timeout,
    .tick = mod_tick,
    .methods = blob_methods,
};
