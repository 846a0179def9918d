/*
 * torrents.c - the torrents module: adding torrents to the session and
 * recording them, restoring them at start, resume data (periodic, and all
 * of it at exit), finished torrents (event and hook), the feed-index
 * torrents retired once unused, and the torrent.* methods.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "module.h"
#include "mt_push.h"
#include "mt_util.h"
#include "params.h"
#include "torrents.h"

#define RESUME_SAVE_EVERY_MS 300000  /* periodic resume data, against crashes */
#define STATE_SAVE_EVERY_MS  600000  /* DHT node id and routing table */
#define SHUTDOWN_WAIT_MS     10000   /* for resume data at exit */
#define TORRENT_B64_MAX (MTD_RPC_LINE_MAX)

typedef struct torrents_mod {
    int64_t next_resume_save_ms;
    int64_t next_state_save_ms;
    /* index torrents to drop once pushes through them had time to go out */
    struct { uint8_t ih[20]; int64_t at_ms; } *retire;
    size_t  n_retire, cap_retire;
} torrents_mod;

static torrents_mod *T(mtd_daemon *d)
{
    return mtd_module_state(d, &mtd_mod_torrents);
}

static const char *state_name(mt_torrent_state s)
{
    switch (s) {
    case MT_TS_CHECKING:
    case MT_TS_CHECKING_RESUME: return "checking";
    case MT_TS_METADATA: return "metadata";
    case MT_TS_DOWNLOADING: return "downloading";
    case MT_TS_FINISHED: return "finished";
    case MT_TS_SEEDING: return "seeding";
    }
    return "unknown";
}

static int torrent_json(mtd_daemon *d, const uint8_t id[20], cJSON **out)
{
    mt_torrent_status st;
    mt_torrent_row row;
    mt_error err;
    char hex[41];
    int has_row;

    if (mt_torrent_get_status(d->s, id, &st, &err) != 0)
        return -1;
    has_row = mt_store_torrent_get(d->st, id, &row, NULL) == 0;
    mt_hex_encode(id, 20, hex);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "id", hex);
    cJSON_AddStringToObject(t, "name", st.name);
    cJSON_AddStringToObject(t, "state", state_name(st.state));
    cJSON_AddNumberToObject(t, "progress", st.progress);
    /* The user's wish: libtorrent also pauses torrents queued for a check. */
    cJSON_AddBoolToObject(t, "paused", has_row ? row.paused : st.paused);
    cJSON_AddNumberToObject(t, "download_rate", (double)st.download_rate);
    cJSON_AddNumberToObject(t, "upload_rate", (double)st.upload_rate);
    cJSON_AddNumberToObject(t, "peers", st.num_peers);
    cJSON_AddNumberToObject(t, "seeds", st.num_seeds);
    cJSON_AddNumberToObject(t, "total_done", (double)st.total_done);
    cJSON_AddNumberToObject(t, "total_wanted", (double)st.total_wanted);
    cJSON_AddStringToObject(t, "save_path", st.save_path);
    cJSON_AddStringToObject(t, "category", has_row ? row.category : "");
    cJSON_AddNumberToObject(t, "subscription", has_row ? (double)row.sub_id : 0);
    cJSON_AddNumberToObject(t, "added_ms", has_row ? (double)row.added_ms : 0);
    cJSON_AddBoolToObject(t, "index", has_row && row.kind == MTD_TORRENT_INDEX);
    if (st.error)
        cJSON_AddStringToObject(t, "error", st.error_message);
    else
        cJSON_AddNullToObject(t, "error");
    if (has_row)
        mt_torrent_row_clear(&row);
    *out = t;
    return 0;
}

/* Resolve a full id or a unique prefix of at least 6 hex digits. */
static int find_torrent(mtd_daemon *d, const char *idtext, uint8_t id[20], char *msg, size_t cap)
{
    size_t n = idtext ? strlen(idtext) : 0, count = 0, matches = 0;
    uint8_t (*ids)[20] = NULL;
    char hex[41];

    if (n < 6 || n > 40 || strspn(idtext, "0123456789abcdefABCDEF") != n) {
        snprintf(msg, cap, "id: must be 6 to 40 hex digits of a torrent id");
        return MTD_RPC_INVALID_PARAMS;
    }
    if (mt_torrent_list(d->s, NULL, 0, &count, NULL) != 0)
        count = 0;
    ids = count ? calloc(count, 20) : NULL;
    if (count && (!ids || mt_torrent_list(d->s, ids, count, &count, NULL) != 0)) {
        free(ids);
        snprintf(msg, cap, "cannot list torrents");
        return MTD_RPC_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        mt_hex_encode(ids[i], 20, hex);
        if (strncasecmp(hex, idtext, n) == 0) {
            if (matches++ == 0)
                memcpy(id, ids[i], 20);
        }
    }
    free(ids);
    if (matches == 1)
        return 0;
    snprintf(msg, cap, matches ? "id: %s matches %zu torrents; give more digits"
                               : "no torrent with id %s", idtext, matches);
    return matches ? MTD_RPC_INVALID_PARAMS : MTD_RPC_NOT_FOUND;
}

/*
 * Add a torrent to the session and record it (row first, so that a crash
 * right after leaves it restorable rather than lost). MT_EEXIST if the
 * session has it already; its row is kept as it was.
 */
int torrents_add(mtd_daemon *d, const mt_add_params *ap, int64_t sub_id, const char *category,
                 int kind, uint8_t id[20], mt_error *err)
{
    mt_torrent_row row;
    int rc;

    memset(&row, 0, sizeof row);
    rc = mt_torrent_add(d->s, ap, id, err);
    if (rc != 0)
        return rc;
    memcpy(row.id, id, 20);
    if (ap->magnet)
        snprintf(row.uri, sizeof row.uri, "%s", ap->magnet);
    row.torrent = (uint8_t *)ap->torrent;
    row.torrent_len = ap->torrent_len;
    snprintf(row.save_path, sizeof row.save_path, "%s", ap->save_path);
    row.sub_id = sub_id;
    snprintf(row.category, sizeof row.category, "%s", category ? category : "");
    row.paused = (ap->flags & MT_ADD_PAUSED) != 0;
    row.kind = kind;
    row.added_ms = mt_wall_ms();
    if (kind == MTD_TORRENT_INDEX)
        torrents_keep_index_links(d, id, 1);
    rc = mt_store_torrent_add(d->st, &row, err);
    if (rc == MT_EEXIST)
        rc = 0;
    if (rc != 0) {
        /* Not recorded means not ours to keep: it would vanish on restart. */
        mt_torrent_remove(d->s, id, 0, NULL);
        return rc;
    }
    cJSON *e = d_event("torrent.added");
    char hex[41];
    mt_hex_encode(id, 20, hex);
    cJSON_AddStringToObject(e, "id", hex);
    mt_torrent_status st;
    mt_magnet_info mi;
    const char *name = "";
    if (mt_torrent_get_status(d->s, id, &st, NULL) == 0 && st.name[0])
        name = st.name;
    else if (ap->magnet && mt_magnet_parse(ap->magnet, &mi, NULL) == 0)
        name = mi.name;
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddNumberToObject(e, "subscription", (double)sub_id);
    if (kind == MTD_TORRENT_USER)
        d_emit(d, e);
    else
        cJSON_Delete(e);
    return 0;
}

/*
 * Pushes travel over an index swarm's connections, whose peers are all
 * seeds: libtorrent closes such connections as redundant. Mark index
 * torrents so the push extension keeps them (ordinary torrents keep
 * libtorrent's behaviour). Nothing to do when push is off.
 */
void torrents_keep_index_links(mtd_daemon *d, const uint8_t ih[20], int keep)
{
    mt_error err;
    if (d->cfg->push && mt_push_keep_links(d->s, ih, keep, &err) != 0 && err.code != MT_ESTATE)
        log_warn("index swarm links: %s", err.message);
}

#define RETIRE_MS 30000

void torrents_retire_index(mtd_daemon *d, const uint8_t ih[20])
{
    torrents_mod *t = T(d);
    if (t->n_retire == t->cap_retire) {
        size_t nc = t->cap_retire ? t->cap_retire * 2 : 8;
        void *nr = realloc(t->retire, nc * sizeof *t->retire);
        if (!nr) {
            torrents_remove_index_if_unused(d, ih); /* at once rather than never */
            return;
        }
        t->retire = nr;
        t->cap_retire = nc;
    }
    memcpy(t->retire[t->n_retire].ih, ih, 20);
    t->retire[t->n_retire].at_ms = mt_now_ms() + RETIRE_MS;
    t->n_retire++;
}

/* Drop the retired index torrents whose time has come. */
static void retire_tick(mtd_daemon *d, torrents_mod *t)
{
    int64_t now = mt_now_ms();
    for (size_t i = 0; i < t->n_retire;) {
        if (now < t->retire[i].at_ms) {
            i++;
            continue;
        }
        uint8_t ih[20];
        memcpy(ih, t->retire[i].ih, 20);
        t->retire[i] = t->retire[--t->n_retire];
        torrents_remove_index_if_unused(d, ih);
    }
}

static int ih_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 20);
}

/*
 * The index torrents in use: the latest index of every subscription and of
 * every feed we publish, sorted for bsearch (free it). NULL with *n 0 when
 * there are none; -1 if the store could not be read (then nothing may be
 * taken as unused).
 */
static int used_indexes(mtd_daemon *d, uint8_t (**out)[20], size_t *n)
{
    mt_sub *subs = NULL;
    mt_pub *pubs = NULL;
    size_t ns = 0, np = 0, k = 0;
    uint8_t (*ih)[20] = NULL;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (mt_store_sub_list(d->st, &subs, &ns, NULL) != 0)
        return -1;
    if (mt_store_pub_list(d->st, &pubs, &np, NULL) != 0)
        goto out;
    if (ns + np && !(ih = malloc((ns + np) * sizeof *ih)))
        goto out;
    for (size_t i = 0; i < ns; i++)
        if (subs[i].has_index_ih)
            memcpy(ih[k++], subs[i].index_ih, 20);
    for (size_t i = 0; i < np; i++)
        if (!pubs[i].is_inline)
            memcpy(ih[k++], pubs[i].ih, 20);
    if (k)
        qsort(ih, k, sizeof *ih, ih_cmp);
    *out = ih;
    *n = k;
    rc = 0;
out:
    for (size_t i = 0; i < np; i++)
        mt_pub_clear(&pubs[i]);
    free(pubs);
    free(subs);
    return rc;
}

/* Remove a feed-index torrent nobody needs any more: not the latest index
 * of a subscription, nor of a feed we publish. */
void torrents_remove_index_if_unused(mtd_daemon *d, const uint8_t ih[20])
{
    uint8_t (*used)[20] = NULL;
    size_t n = 0;
    mt_torrent_row row;

    if (mt_store_torrent_get(d->st, ih, &row, NULL) != 0)
        return;
    int is_index = row.kind == MTD_TORRENT_INDEX;
    mt_torrent_row_clear(&row);
    if (!is_index)
        return;   /* also a user torrent: never ours to drop */
    if (used_indexes(d, &used, &n) != 0)
        return;
    int in_use = n && bsearch(ih, used, n, sizeof *used, ih_cmp) != NULL;
    free(used);
    if (in_use)
        return;
    torrents_keep_index_links(d, ih, 0);
    mt_torrent_remove(d->s, ih, 1, NULL);
    mt_store_torrent_remove(d->st, ih, NULL);
    char hex[41];
    mt_hex_encode(ih, 20, hex);
    log_debug("dropped feed-index torrent %s", hex);
}

/* Re-add every recorded torrent, with its resume data when there is some. */
static void restore_torrents(mtd_daemon *d)
{
    mt_torrent_row *rows = NULL;
    uint8_t (*used)[20] = NULL;
    size_t n = 0, n_used = 0;
    int used_ok;
    mt_error err;

    if (mt_store_torrent_list(d->st, &rows, &n, &err) != 0) {
        log_error("cannot list torrents in the state store: %s", err.message);
        return;
    }
    used_ok = used_indexes(d, &used, &n_used) == 0;
    for (size_t i = 0; i < n; i++) {
        mt_add_params ap;
        uint8_t id[20];
        char hex[41];
        memset(&ap, 0, sizeof ap);
        ap.save_path = rows[i].save_path;
        ap.resume = rows[i].resume;
        ap.resume_len = rows[i].resume_len;
        if (rows[i].torrent)
            ap.torrent = rows[i].torrent, ap.torrent_len = rows[i].torrent_len;
        else
            ap.magnet = rows[i].uri;
        if (rows[i].paused)
            ap.flags |= MT_ADD_PAUSED;
        if (rows[i].kind == MTD_TORRENT_PACK)
            ap.flags |= MT_ADD_FLAT; /* a pack: files flat in the blob folder */
        if (rows[i].kind == MTD_TORRENT_INDEX) {
            torrents_keep_index_links(d, rows[i].id, 1);
            /* An index retired just before a stop would otherwise be seeded
             * for good: retire it again (the in-use set is read once here,
             * not per index torrent). */
            if (used_ok && !(n_used && bsearch(rows[i].id, used, n_used, sizeof *used, ih_cmp)))
                torrents_retire_index(d, rows[i].id);
        }
        mt_hex_encode(rows[i].id, 20, hex);
        int rc = mt_torrent_add(d->s, &ap, id, &err);
        if (rc != 0 && ap.resume) {
            /* Damaged resume data must not cost the torrent: add it bare. */
            log_warn("torrent %s: resume data refused (%s); re-checking", hex, err.message);
            ap.resume = NULL;
            ap.resume_len = 0;
            rc = mt_torrent_add(d->s, &ap, id, &err);
        }
        if (rc != 0 && rc != MT_EEXIST)
            log_error("torrent %s: cannot restore: %s", hex, err.message);
        mt_torrent_row_clear(&rows[i]);
    }
    free(rows);
    free(used);
    log_info("restored %zu torrents", n);
}

/* Ask for resume data of every torrent (answered by RESUME_DATA events). */
static size_t request_resume_all(mtd_daemon *d)
{
    size_t count = 0, asked = 0;
    uint8_t (*ids)[20];
    if (mt_torrent_list(d->s, NULL, 0, &count, NULL) != 0 || count == 0)
        return 0;
    ids = calloc(count, 20);
    if (!ids || mt_torrent_list(d->s, ids, count, &count, NULL) != 0) {
        free(ids);
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (mt_torrent_save_resume(d->s, ids[i], NULL) == 0)
            asked++;
    free(ids);
    return asked;
}

/* A torrent finished: tell listeners and the hook, once per torrent. */
static void on_finished(mtd_daemon *d, const uint8_t id[20])
{
    mt_torrent_row row;
    mt_torrent_status st;
    char hex[41], e_id[80], e_name[300], e_path[1100], e_feed[300];
    mt_sub sub;

    if (mt_store_torrent_get(d->st, id, &row, NULL) != 0)
        return;
    int first = !row.finished, kind = row.kind;
    int64_t sub_id = row.sub_id;
    mt_torrent_row_clear(&row);
    mt_torrent_save_resume(d->s, id, NULL);
    if (!first || kind != MTD_TORRENT_USER)
        return;
    mt_store_torrent_set_finished(d->st, id, 1, NULL);
    if (mt_torrent_get_status(d->s, id, &st, NULL) != 0)
        return;
    mt_hex_encode(id, 20, hex);
    log_info("torrent %s finished: %s", hex, st.name);
    cJSON *e = d_event("torrent.finished");
    cJSON_AddStringToObject(e, "id", hex);
    cJSON_AddStringToObject(e, "name", st.name);
    cJSON_AddStringToObject(e, "save_path", st.save_path);
    cJSON_AddNumberToObject(e, "subscription", (double)sub_id);
    d_emit(d, e);
    if (!d->cfg->on_finished[0])
        return;
    e_feed[0] = 0;
    if (sub_id && mt_store_sub_get(d->st, sub_id, &sub, NULL) == 0)
        snprintf(e_feed, sizeof e_feed, "MT_FEED=%s", sub.address);
    else
        snprintf(e_feed, sizeof e_feed, "MT_FEED=");
    snprintf(e_id, sizeof e_id, "MT_TORRENT_ID=%s", hex);
    snprintf(e_name, sizeof e_name, "MT_NAME=%s", st.name);
    snprintf(e_path, sizeof e_path, "MT_SAVE_PATH=%s", st.save_path);
    const char *env[] = { "MT_EVENT=torrent.finished", e_id, e_name, e_path, e_feed, NULL };
    d_run_hook(d, d->cfg->on_finished, env);
}


/* Clean exit: resume data of every torrent and the DHT state on disk. */
static void save_all(mtd_daemon *d)
{
    size_t want = request_resume_all(d), got = 0;
    int64_t deadline = mt_now_ms() + SHUTDOWN_WAIT_MS;
    mt_event ev;
    mt_error err;

    while (got < want && mt_now_ms() < deadline) {
        memset(&ev, 0, sizeof ev);
        if (mt_session_wait_event(d->s, MT_EVENT_RESUME_DATA, NULL, 200, &ev, NULL) == 0) {
            if (ev.error == 0 && ev.data)
                mt_store_torrent_set_resume(d->st, ev.target, ev.data, ev.data_len, NULL);
            got++;
        }
        mt_event_clear(&ev);
    }
    if (got < want)
        log_warn("shutdown: resume data of %zu of %zu torrents not saved in time", want - got, want);
    if (mt_session_save_state(d->s, d->session_file, &err) != 0)
        log_warn("cannot save DHT state: %s", err.message);
}

/* ---------------------------------------------------------------- methods */

/* The torrent named by params.id. */
static int p_torrent(mtd_daemon *d, const cJSON *p, uint8_t id[20], char *msg, size_t cap)
{
    const char *s;
    if (p_str(p, "id", 40, &s, msg, cap) != 0)
        return MTD_RPC_INVALID_PARAMS;
    if (!s)
        return snprintf(msg, cap, "id: required"), MTD_RPC_INVALID_PARAMS;
    return find_torrent(d, s, id, msg, cap);
}


HANDLER(m_torrent_add)
{
    mtd_daemon *d = ctx;
    const cJSON *p = call->params;
    const char *uri, *b64, *path, *save, *cat;
    int paused, rc;
    mt_add_params ap;
    mt_error err;
    uint8_t id[20], *bytes = NULL;
    size_t blen = 0;
    (void)data;

    if (p_str(p, "uri", 8192, &uri, msg, cap) || p_str(p, "torrent", TORRENT_B64_MAX, &b64, msg, cap) ||
        p_str(p, "path", 4096, &path, msg, cap) || p_str(p, "save_path", 1000, &save, msg, cap) ||
        p_str(p, "category", 127, &cat, msg, cap) || p_bool(p, "paused", &paused, msg, cap))
        return MTD_RPC_INVALID_PARAMS;
    if ((uri != NULL) + (b64 != NULL) + (path != NULL) != 1)
        return snprintf(msg, cap, "give exactly one of uri, torrent or path"), MTD_RPC_INVALID_PARAMS;
    if (save && save[0] != '/')
        return snprintf(msg, cap, "save_path: must be an absolute path"), MTD_RPC_INVALID_PARAMS;
    memset(&ap, 0, sizeof ap);
    ap.save_path = save ? save : d->cfg->download_dir;
    ap.flags = paused ? MT_ADD_PAUSED : 0;
    if (uri) {
        mt_magnet_info mi;
        if (mt_magnet_parse(uri, &mi, &err) != 0)
            return snprintf(msg, cap, "uri: %s", err.message), MTD_RPC_INVALID_PARAMS;
        ap.magnet = uri;
    } else if (b64) {
        size_t n = strlen(b64);
        bytes = malloc(n / 4 * 3 + 3);
        if (!bytes || sodium_base642bin(bytes, n / 4 * 3 + 3, b64, n, NULL, &blen, NULL,
                                        sodium_base64_VARIANT_ORIGINAL) != 0) {
            free(bytes);
            return snprintf(msg, cap, "torrent: not valid base64"), MTD_RPC_INVALID_PARAMS;
        }
        ap.torrent = bytes;
        ap.torrent_len = blen;
    } else {
        char *raw = NULL;
        if (mt_file_read(path, 64u << 20, &raw, &blen, &err) != 0)
            return snprintf(msg, cap, "path: %s", err.message), MTD_RPC_REFUSED;
        bytes = (uint8_t *)raw;
        ap.torrent = bytes;
        ap.torrent_len = blen;
    }
    rc = torrents_add(d, &ap, 0, cat, MTD_TORRENT_USER, id, &err);
    free(bytes);
    if (rc == MT_EEXIST)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_EXISTS;
    if (rc == MT_EINVAL || rc == MT_EENGINE)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_REFUSED;
    if (rc != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    if (torrent_json(d, id, result) != 0)
        *result = cJSON_CreateObject();
    return 0;
}

HANDLER(m_torrent_list)
{
    mtd_daemon *d = ctx;
    size_t n = 0;
    UNUSED_ARGS;
    cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "torrents");
    mt_torrent_list(d->s, NULL, 0, &n, NULL);
    if (n) {
        uint8_t (*ids)[20] = calloc(n, 20);
        if (ids && mt_torrent_list(d->s, ids, n, &n, NULL) == 0) {
            for (size_t i = 0; i < n; i++) {
                cJSON *t;
                if (torrent_json(d, ids[i], &t) == 0)
                    cJSON_AddItemToArray(arr, t);
            }
        }
        free(ids);
    }
    *result = r;
    return 0;
}

HANDLER(m_torrent_info)
{
    mtd_daemon *d = ctx;
    uint8_t id[20];
    int rc;
    (void)data;
    if ((rc = p_torrent(d, call->params, id, msg, cap)) != 0)
        return rc;
    if (torrent_json(d, id, result) != 0)
        return snprintf(msg, cap, "torrent vanished"), MTD_RPC_NOT_FOUND;
    return 0;
}

static int pause_resume(mtd_daemon *d, const mtd_rpc_call *call, int pause, char *msg, size_t cap)
{
    uint8_t id[20];
    mt_error err;
    int rc;
    if ((rc = p_torrent(d, call->params, id, msg, cap)) != 0)
        return rc;
    rc = pause ? mt_torrent_pause(d->s, id, &err) : mt_torrent_resume(d->s, id, &err);
    if (rc != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    mt_store_torrent_set_paused(d->st, id, pause, NULL);
    return 0;
}

HANDLER(m_torrent_pause)
{
    UNUSED_ARGS;
    return pause_resume(ctx, call, 1, msg, cap);
}

HANDLER(m_torrent_resume)
{
    UNUSED_ARGS;
    return pause_resume(ctx, call, 0, msg, cap);
}

HANDLER(m_torrent_remove)
{
    mtd_daemon *d = ctx;
    uint8_t id[20];
    int del, rc;
    mt_error err;
    char hex[41];
    (void)data, (void)result;
    if (p_bool(call->params, "delete_files", &del, msg, cap) != 0)
        return MTD_RPC_INVALID_PARAMS;
    if ((rc = p_torrent(d, call->params, id, msg, cap)) != 0)
        return rc;
    if (mt_torrent_remove(d->s, id, del, &err) != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    mt_store_torrent_remove(d->st, id, NULL);
    mt_hex_encode(id, 20, hex);
    cJSON *e = d_event("torrent.removed");
    cJSON_AddStringToObject(e, "id", hex);
    d_emit(d, e);
    return 0;
}

HANDLER(m_torrent_files)
{
    mtd_daemon *d = ctx;
    uint8_t id[20];
    int n = 0, rc;
    mt_error err;
    (void)data;
    if ((rc = p_torrent(d, call->params, id, msg, cap)) != 0)
        return rc;
    if (mt_torrent_file_count(d->s, id, &n, &err) != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_UNAVAILABLE;
    cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "files");
    for (int i = 0; i < n; i++) {
        mt_file_info fi;
        if (mt_torrent_file_info(d->s, id, i, &fi, NULL) != 0 || fi.pad)
            continue;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "index", i);
        cJSON_AddStringToObject(f, "path", fi.path);
        cJSON_AddNumberToObject(f, "size", (double)fi.size);
        cJSON_AddNumberToObject(f, "downloaded", (double)fi.downloaded);
        cJSON_AddNumberToObject(f, "priority", fi.priority);
        cJSON_AddItemToArray(arr, f);
    }
    *result = r;
    return 0;
}


static const mtd_rpc_method torrent_methods[] = {
    { "torrent.add", m_torrent_add },
    { "torrent.list", m_torrent_list },
    { "torrent.info", m_torrent_info },
    { "torrent.pause", m_torrent_pause },
    { "torrent.resume", m_torrent_resume },
    { "torrent.remove", m_torrent_remove },
    { "torrent.files", m_torrent_files },
    { NULL, NULL }
};

/* ---------------------------------------------------------------- module */

static int mod_open(mtd_daemon *d, void **state, mt_error *err)
{
    torrents_mod *t = calloc(1, sizeof *t);
    if (!t)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    *state = t;   /* restoring may retire index torrents already */
    restore_torrents(d);
    t->next_resume_save_ms = mt_now_ms() + RESUME_SAVE_EVERY_MS;
    t->next_state_save_ms = mt_now_ms() + 60000;
    return 0;
}

/* Last to close: resume data of every torrent and the DHT state on disk. */
static void mod_close(mtd_daemon *d, void *state)
{
    torrents_mod *t = state;
    if (!t)
        return;
    save_all(d);
    free(t->retire);
    free(t);
}

static void mod_event(mtd_daemon *d, void *state, const mt_event *ev)
{
    char hex[41];
    (void)state;
    switch (ev->type) {
    case MT_EVENT_TORRENT_FINISHED:
        on_finished(d, ev->target);
        break;
    case MT_EVENT_RESUME_DATA:
        if (ev->error == 0 && ev->data)
            mt_store_torrent_set_resume(d->st, ev->target, ev->data, ev->data_len, NULL);
        break;
    case MT_EVENT_TORRENT_ERROR:
        mt_hex_encode(ev->target, 20, hex);
        log_warn("torrent %s: %s", hex, ev->message);
        break;
    default:
        break;
    }
}

static void mod_tick(mtd_daemon *d, void *state)
{
    torrents_mod *t = state;
    int64_t now = mt_now_ms();
    mt_error err;
    if (now >= t->next_resume_save_ms) {
        t->next_resume_save_ms = now + RESUME_SAVE_EVERY_MS;
        request_resume_all(d);
        mt_dht_request_stats(d->s, NULL);
    }
    if (now >= t->next_state_save_ms) {
        t->next_state_save_ms = now + STATE_SAVE_EVERY_MS;
        if (mt_session_save_state(d->s, d->session_file, &err) != 0)
            log_warn("cannot save DHT state: %s", err.message);
    }
    retire_tick(d, t);
}

const mtd_module mtd_mod_torrents = {
    .name = "torrents",
    .open = mod_open,
    .close = mod_close,
    .on_event = mod_event,
    .tick = mod_tick,
    .methods = torrent_methods,
};
