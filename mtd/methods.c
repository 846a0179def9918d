/*
 * methods.c - mtd's JSON-RPC methods (doc/rpc.md). Each handler checks its
 * parameters first and changes nothing when they are wrong.
 */
#define _POSIX_C_SOURCE 200809L
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "mt_crypt.h"
#include "mt_push.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_util.h"

#define TORRENT_B64_MAX (MTD_RPC_LINE_MAX)

/* ---------------------------------------------------------------- params */

/* Optional string member: *out NULL when absent. -1 with msg if it is not
 * a string or is longer than max bytes. */
static int p_str(const cJSON *p, const char *name, size_t max, const char **out, char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    *out = NULL;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsString(x))
        return snprintf(msg, cap, "%s: must be a string", name), -1;
    if (strlen(x->valuestring) > max)
        return snprintf(msg, cap, "%s: longer than %zu bytes", name, max), -1;
    *out = x->valuestring;
    return 0;
}

static int p_bool(const cJSON *p, const char *name, int *out, char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    *out = 0;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsBool(x))
        return snprintf(msg, cap, "%s: must be true or false", name), -1;
    *out = cJSON_IsTrue(x);
    return 0;
}

static int p_int(const cJSON *p, const char *name, int64_t lo, int64_t hi, int64_t *out,
                 char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x) || mt_json_get_int(x, out) != 0 || *out < lo || *out > hi)
        return snprintf(msg, cap, "%s: must be an integer from %lld to %lld", name,
                        (long long)lo, (long long)hi), -1;
    return 0;
}

/* The torrent named by params.id. */
static int p_torrent(mtd_daemon *d, const cJSON *p, uint8_t id[20], char *msg, size_t cap)
{
    const char *s;
    if (p_str(p, "id", 40, &s, msg, cap) != 0)
        return MTD_RPC_INVALID_PARAMS;
    if (!s)
        return snprintf(msg, cap, "id: required"), MTD_RPC_INVALID_PARAMS;
    return d_find_torrent(d, s, id, msg, cap);
}

#define HANDLER(name) \
    static int name(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, \
                    cJSON **data)
#define UNUSED_ARGS (void)ctx, (void)call, (void)result, (void)msg, (void)cap, (void)data

/* ---------------------------------------------------------------- mtd_daemon */

HANDLER(m_status)
{
    mtd_daemon *d = ctx;
    size_t nt = 0, ns = d->n_subs;
    mt_pub *pubs = NULL;
    size_t np = 0;
    char hex[65], listen[300];
    int64_t down = 0, up = 0;
    UNUSED_ARGS;

    mt_torrent_list(d->s, NULL, 0, &nt, NULL);
    if (nt) {
        uint8_t (*ids)[20] = calloc(nt, 20);
        if (ids && mt_torrent_list(d->s, ids, nt, &nt, NULL) == 0)
            for (size_t i = 0; i < nt; i++) {
                mt_torrent_status st;
                if (mt_torrent_get_status(d->s, ids[i], &st, NULL) == 0)
                    down += st.download_rate, up += st.upload_rate;
            }
        free(ids);
    }
    if (mt_store_pub_list(d->st, &pubs, &np, NULL) == 0) {
        for (size_t i = 0; i < np; i++)
            mt_pub_clear(&pubs[i]);
        free(pubs);
    }
    mt_dht_request_stats(d->s, NULL);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "version", mt_version());
    cJSON_AddStringToObject(r, "engine", mt_engine_version());
    cJSON_AddNumberToObject(r, "pid", (double)getpid());
    cJSON_AddNumberToObject(r, "uptime_s", (double)((mt_now_ms() - d->start_ms) / 1000));
    cJSON_AddStringToObject(r, "state_dir", d->cfg->state_dir);
    snprintf(listen, sizeof listen, "%s", d->cfg->listen);
    char *colon = strrchr(listen, ':');
    int port = mt_session_listen_port(d->s);
    if (colon && port > 0)
        snprintf(colon + 1, sizeof listen - (size_t)(colon + 1 - listen), "%d", port);
    cJSON_AddStringToObject(r, "listen", listen);
    cJSON_AddBoolToObject(r, "dht_running", mt_session_dht_running(d->s));
    cJSON_AddNumberToObject(r, "dht_nodes", d->dht_nodes);
    cJSON_AddNumberToObject(r, "torrents", (double)nt);
    cJSON_AddNumberToObject(r, "subscriptions", (double)ns);
    cJSON_AddNumberToObject(r, "feeds", (double)np);
    cJSON_AddNumberToObject(r, "download_rate", (double)down);
    cJSON_AddNumberToObject(r, "upload_rate", (double)up);
    cJSON_AddNumberToObject(r, "dht_lookups", (double)d->dht_lookups);
    cJSON_AddNumberToObject(r, "polls", (double)d->polls_done);
    cJSON_AddNumberToObject(r, "pushes_received", (double)d->pushes_received);
    cJSON_AddNumberToObject(r, "pushes_accepted", (double)d->pushes_accepted);
    cJSON_AddNumberToObject(r, "pushes_forwarded", (double)d->pushes_forwarded);
    cJSON_AddNumberToObject(r, "pushes_held", (double)d->pushes_held);
    if (d->cfg->push) {
        /* What the lt_megatorrent extension let through or dropped. */
        mt_push_stats ps;
        mt_push_get_stats(d->s, &ps);
        cJSON *po = cJSON_AddObjectToObject(r, "push");
        cJSON_AddNumberToObject(po, "received", (double)ps.received);
        cJSON_AddNumberToObject(po, "delivered", (double)ps.delivered);
        cJSON_AddNumberToObject(po, "bad_signature", (double)ps.bad_signature);
        cJSON_AddNumberToObject(po, "malformed", (double)ps.malformed);
        cJSON_AddNumberToObject(po, "oversized", (double)ps.oversized);
        cJSON_AddNumberToObject(po, "rate_limited", (double)ps.rate_limited);
        cJSON_AddNumberToObject(po, "duplicate", (double)ps.duplicate);
        cJSON_AddNumberToObject(po, "sent", (double)ps.sent);
    }
    if (d->cfg->encrypt_links != MT_CRYPT_OFF) {
        /* Peer links lt_mtcrypt upgraded, left plain or refused. */
        mt_crypt_stats cs;
        mt_crypt_get_stats(d->s, &cs);
        cJSON *co = cJSON_AddObjectToObject(r, "crypt");
        cJSON_AddNumberToObject(co, "upgraded", (double)cs.upgraded);
        cJSON_AddNumberToObject(co, "plain", (double)cs.plain);
        cJSON_AddNumberToObject(co, "refused", (double)cs.refused);
        cJSON_AddNumberToObject(co, "failed", (double)cs.failed);
    }
    mt_hex_encode(mt_identity_public_key(d->id), 32, hex);
    cJSON_AddStringToObject(r, "public_key", hex);
    cJSON_AddNumberToObject(r, "clients", (double)mtd_rpc_clients(d->rpc));
    *result = r;
    return 0;
}

HANDLER(m_shutdown)
{
    mtd_daemon *d = ctx;
    UNUSED_ARGS;
    log_info("shutdown requested over RPC");
    d->quit = 1;
    return 0;
}

HANDLER(m_events)
{
    mtd_daemon *d = ctx;
    UNUSED_ARGS;
    mtd_rpc_listen_events(d->rpc, call->conn_id);
    return 0;
}

/* ---------------------------------------------------------------- torrents */

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
    rc = d_add_torrent(d, &ap, 0, cat, 0, id, &err);
    free(bytes);
    if (rc == MT_EEXIST)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_EXISTS;
    if (rc == MT_EINVAL || rc == MT_EENGINE)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_REFUSED;
    if (rc != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    if (d_torrent_json(d, id, result) != 0)
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
                if (d_torrent_json(d, ids[i], &t) == 0)
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
    if (d_torrent_json(d, id, result) != 0)
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

/* ---------------------------------------------------------------- feeds */

HANDLER(m_feed_publish)
{
    (void)data;
    return pub_publish(ctx, call, result, msg, cap);
}

HANDLER(m_feed_list)
{
    mtd_daemon *d = ctx;
    UNUSED_ARGS;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "feeds", pub_list_json(d));
    *result = r;
    return 0;
}

static int check_regex(const char *name, const char *re, char *msg, size_t cap)
{
    regex_t rx;
    char why[128];
    int rc;
    if (!re || !*re)
        return 0;
    rc = regcomp(&rx, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &rx, why, sizeof why);
        return snprintf(msg, cap, "%s: %s", name, why), -1;
    }
    regfree(&rx);
    return 0;
}

HANDLER(m_sub_add)
{
    mtd_daemon *d = ctx;
    const cJSON *p = call->params;
    const char *addr, *save, *inc, *exc, *cat;
    int paused, rc;
    int64_t max_items = 0, interval = 0, id = 0;
    mt_feedaddr a;
    mt_error err;
    mt_sub s;
    (void)data;

    if (p_str(p, "address", MT_FEEDADDR_INPUT_MAX, &addr, msg, cap) ||
        p_str(p, "save_path", 1000, &save, msg, cap) || p_str(p, "include", 511, &inc, msg, cap) ||
        p_str(p, "exclude", 511, &exc, msg, cap) || p_str(p, "category", 127, &cat, msg, cap) ||
        p_bool(p, "paused", &paused, msg, cap) ||
        p_int(p, "max_items", 0, 100000, &max_items, msg, cap) ||
        p_int(p, "interval", 5, 86400, &interval, msg, cap) ||
        check_regex("include", inc, msg, cap) || check_regex("exclude", exc, msg, cap))
        return MTD_RPC_INVALID_PARAMS;
    if (!addr)
        return snprintf(msg, cap, "address: required"), MTD_RPC_INVALID_PARAMS;
    if (save && save[0] != '/')
        return snprintf(msg, cap, "save_path: must be an absolute path"), MTD_RPC_INVALID_PARAMS;
    if (mt_feedaddr_parse(addr, &a, &err) != 0)
        return snprintf(msg, cap, "address: %s", err.message), MTD_RPC_INVALID_PARAMS;
    memset(&s, 0, sizeof s);
    mt_feedaddr_format_magnet(&a, s.address, sizeof s.address, NULL);
    memcpy(s.pk, a.pk, 32);
    memcpy(s.salt, a.salt, a.salt_len);
    s.salt_len = a.salt_len;
    s.has_read_key = a.has_read_key;
    memcpy(s.read_key, a.read_key, 32);
    snprintf(s.save_path, sizeof s.save_path, "%s", save ? save : "");
    snprintf(s.include_re, sizeof s.include_re, "%s", inc ? inc : "");
    snprintf(s.exclude_re, sizeof s.exclude_re, "%s", exc ? exc : "");
    snprintf(s.category, sizeof s.category, "%s", cat ? cat : "");
    s.add_paused = paused;
    s.max_items = (int)max_items;
    s.interval_s = (int)interval;
    rc = mt_store_sub_add(d->st, &s, &id, &err);
    if (rc == MT_EEXIST)
        return snprintf(msg, cap, "already subscribed to %s", s.address), MTD_RPC_EXISTS;
    if (rc != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    if (mt_store_sub_get(d->st, id, &s, &err) != 0 || subs_add_rt(d, &s) != 0)
        return snprintf(msg, cap, "cannot track the new subscription"), MTD_RPC_INTERNAL_ERROR;
    log_info("subscribed to %s (id %lld)", s.address, (long long)id);
    *result = subs_json(d, &s);
    return 0;
}

HANDLER(m_sub_list)
{
    mtd_daemon *d = ctx;
    mt_sub *all = NULL;
    size_t n = 0;
    mt_error err;
    UNUSED_ARGS;
    if (mt_store_sub_list(d->st, &all, &n, &err) != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "subscriptions");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, subs_json(d, &all[i]));
    free(all);
    *result = r;
    return 0;
}

HANDLER(m_sub_items)
{
    mtd_daemon *d = ctx;
    mt_sub s;
    mt_item_row *rows = NULL;
    size_t n = 0;
    char hex[41];
    int rc;
    (void)data;
    if ((rc = subs_resolve_address(d, call->params, &s, msg, cap)) != 0)
        return rc;
    if (mt_store_item_list(d->st, s.id, &rows, &n, NULL) != 0)
        return snprintf(msg, cap, "cannot list items"), MTD_RPC_INTERNAL_ERROR;
    cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "items");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", rows[i].key);
        cJSON_AddNumberToObject(o, "seq", (double)rows[i].seq);
        cJSON_AddStringToObject(o, "collection", rows[i].collection);
        cJSON_AddStringToObject(o, "name", rows[i].name);
        if (rows[i].has_torrent) {
            mt_hex_encode(rows[i].torrent_id, 20, hex);
            cJSON_AddStringToObject(o, "torrent", hex);
        } else {
            cJSON_AddNullToObject(o, "torrent");
        }
        cJSON_AddBoolToObject(o, "skipped", rows[i].skipped);
        cJSON_AddItemToArray(arr, o);
    }
    free(rows);
    *result = r;
    return 0;
}

HANDLER(m_sub_remove)
{
    mtd_daemon *d = ctx;
    mt_sub s;
    mt_error err;
    int rc;
    (void)data, (void)result;
    if ((rc = subs_resolve_address(d, call->params, &s, msg, cap)) != 0)
        return rc;
    subs_remove_rt(d, s.id);
    if (mt_store_sub_remove(d->st, s.id, &err) != 0)
        return snprintf(msg, cap, "%s", err.message), MTD_RPC_INTERNAL_ERROR;
    if (s.has_index_ih)
        d_remove_index_if_unused(d, s.index_ih);
    log_info("unsubscribed from %s", s.address);
    return 0;
}

HANDLER(m_sub_sync)
{
    mtd_daemon *d = ctx;
    mt_sub s;
    int rc, n;
    (void)data;
    if (cJSON_GetObjectItemCaseSensitive(call->params, "id")) {
        if ((rc = subs_resolve_address(d, call->params, &s, msg, cap)) != 0)
            return rc;
        n = subs_sync(d, s.id);
    } else {
        n = subs_sync(d, 0);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "started", n);
    *result = r;
    return 0;
}

/* ---------------------------------------------------------------- resolve */

HANDLER(m_resolve)
{
    mtd_daemon *d = ctx;
    const char *addr;
    int64_t timeout = 60;
    mt_resolve_params rp;
    mt_error err;
    rpc_resolve rr;
    (void)data, (void)result;

    if (p_str(call->params, "address", MT_FEEDADDR_INPUT_MAX, &addr, msg, cap) ||
        p_int(call->params, "timeout", 1, 3600, &timeout, msg, cap))
        return MTD_RPC_INVALID_PARAMS;
    if (!addr)
        return snprintf(msg, cap, "address: required"), MTD_RPC_INVALID_PARAMS;
    memset(&rp, 0, sizeof rp);
    if (mt_feedaddr_parse(addr, &rp.addr, &err) != 0)
        return snprintf(msg, cap, "address: %s", err.message), MTD_RPC_INVALID_PARAMS;
    if (!call->id)
        return 0;   /* a notification would never see the answer */
    rp.max_manifest = (size_t)d->cfg->max_manifest;
    rp.index_dir = d->index_dir;
    rp.timeout_ms = (int)timeout * 1000;
    memset(&rr, 0, sizeof rr);
    mt_feedaddr_format_magnet(&rp.addr, rr.address, sizeof rr.address, NULL);
    if (d->n_resolves == d->cap_resolves) {
        size_t nc = d->cap_resolves ? d->cap_resolves * 2 : 4;
        rpc_resolve *nr = realloc(d->resolves, nc * sizeof *nr);
        if (!nr)
            return snprintf(msg, cap, "out of memory"), MTD_RPC_INTERNAL_ERROR;
        d->resolves = nr;
        d->cap_resolves = nc;
    }
    /* Deferral is refused inside batches: answer now rather than look
     * the feed up for nobody. */
    if (mtd_rpc_defer(call, &rr.ticket) != 0)
        return snprintf(msg, cap, "resolve cannot be part of a batch"), MTD_RPC_INVALID_REQUEST;
    if (mt_resolve_start(d->s, &rp, &rr.res, &err) != 0) {
        mtd_rpc_reply_error(d->rpc, &rr.ticket, MTD_RPC_UNAVAILABLE, err.message);
        return MTD_RPC_DEFERRED;
    }
    d->dht_lookups++;
    d->resolves[d->n_resolves++] = rr;
    return MTD_RPC_DEFERRED;
}

void methods_event(mtd_daemon *d, const mt_event *ev)
{
    for (size_t i = 0; i < d->n_resolves; i++)
        mt_resolve_event(d->resolves[i].res, ev);
}

/* Answer finished "resolve" calls. */
void methods_tick(mtd_daemon *d)
{
    for (size_t i = 0; i < d->n_resolves; i++) {
        rpc_resolve *rr = &d->resolves[i];
        const char *why = NULL;
        char hex[41];
        mt_resolve_tick(rr->res);
        mt_resolve_state st = mt_resolve_get_state(rr->res);
        if (st == MT_RESOLVE_RUNNING)
            continue;
        const mt_resolve_result *r = mt_resolve_get_result(rr->res);
        if (r) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "address", rr->address);
            cJSON_AddNumberToObject(o, "seq", (double)r->seq);
            cJSON_AddStringToObject(o, "mode", r->is_torrent ? "bep46" : r->is_inline ? "inline" : "pointer");
            if (r->is_inline) {
                cJSON_AddNullToObject(o, "ih");
            } else {
                mt_hex_encode(r->ih, 20, hex);
                cJSON_AddStringToObject(o, "ih", hex);
            }
            if (r->is_torrent) {
                cJSON_AddStringToObject(o, "name", r->name);
                cJSON_AddNullToObject(o, "manifest");
            } else {
                cJSON_AddItemToObject(o, "manifest", cJSON_ParseWithLength(r->json, r->json_len));
            }
            mtd_rpc_reply(d->rpc, &rr->ticket, o);
        } else {
            int code = mt_resolve_error(rr->res, &why);
            mtd_rpc_reply_error(d->rpc, &rr->ticket,
                                code == MT_ETIMEDOUT ? MTD_RPC_TIMEOUT
                                : code == MT_ENOTFOUND ? MTD_RPC_NOT_FOUND : MTD_RPC_REFUSED,
                                why);
        }
        mt_resolve_free(rr->res, 0);
        d->resolves[i] = d->resolves[--d->n_resolves];
        i--;
    }
}

void methods_free(mtd_daemon *d)
{
    for (size_t i = 0; i < d->n_resolves; i++) {
        mtd_rpc_reply_error(d->rpc, &d->resolves[i].ticket, MTD_RPC_UNAVAILABLE, "daemon shutting down");
        mt_resolve_free(d->resolves[i].res, 0);
    }
    free(d->resolves);
    d->resolves = NULL;
    d->n_resolves = 0;
    for (size_t i = 0; i < d->n_puts; i++) {
        if (d->puts[i].has_ticket)
            mtd_rpc_reply_error(d->rpc, &d->puts[i].ticket, MTD_RPC_UNAVAILABLE, "daemon shutting down");
        cJSON_Delete(d->puts[i].result);
    }
    free(d->puts);
    d->puts = NULL;
    d->n_puts = 0;
}

/* ---------------------------------------------------------------- push */

HANDLER(m_push)
{
    mtd_daemon *d = ctx;
    const cJSON *p = call->params;
    const char *k, *salt, *v64, *sig;
    int64_t seq = 0;
    mt_feedaddr a;
    uint8_t sigb[64], vb[1024];
    size_t vlen = 0;
    char reason[MT_ERROR_MSG_MAX];
    (void)data;

    if (p_str(p, "k", 64, &k, msg, cap) || p_str(p, "salt", 128, &salt, msg, cap) ||
        p_str(p, "v", 1400, &v64, msg, cap) || p_str(p, "sig", 128, &sig, msg, cap) ||
        p_int(p, "seq", 1, (int64_t)9007199254740991LL, &seq, msg, cap))
        return MTD_RPC_INVALID_PARAMS;
    memset(&a, 0, sizeof a);
    if (!k || strlen(k) != 64 || mt_hex_decode(k, a.pk, 32) != 0)
        return snprintf(msg, cap, "k: must be 64 hex digits"), MTD_RPC_INVALID_PARAMS;
    if (!sig || strlen(sig) != 128 || mt_hex_decode(sig, sigb, 64) != 0)
        return snprintf(msg, cap, "sig: must be 128 hex digits"), MTD_RPC_INVALID_PARAMS;
    if (salt && (strlen(salt) % 2 || mt_hex_decode(salt, a.salt, strlen(salt) / 2) != 0))
        return snprintf(msg, cap, "salt: must be hex (at most 64 bytes)"), MTD_RPC_INVALID_PARAMS;
    a.salt_len = salt ? strlen(salt) / 2 : 0;
    if (!seq)
        return snprintf(msg, cap, "seq: required"), MTD_RPC_INVALID_PARAMS;
    if (!v64 || sodium_base642bin(vb, sizeof vb, v64, strlen(v64), NULL, &vlen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0)
        return snprintf(msg, cap, "v: must be base64 of at most 999 bytes"), MTD_RPC_INVALID_PARAMS;
    int ok = subs_push(d, &a, seq, vb, vlen, sigb, reason, sizeof reason);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "accepted", ok);
    cJSON_AddStringToObject(r, "reason", reason);
    *result = r;
    return 0;
}

HANDLER(m_blob_ingest)
{
    (void)data;
    return blobs_m_ingest(ctx, call, result, msg, cap);
}

HANDLER(m_blob_fetch)
{
    (void)data;
    return blobs_m_fetch(ctx, call, result, msg, cap);
}

HANDLER(m_blob_fetches)
{
    (void)data;
    return blobs_m_fetches(ctx, call, result, msg, cap);
}

HANDLER(m_blob_store)
{
    (void)data;
    return blobs_m_store(ctx, call, result, msg, cap);
}

HANDLER(m_blob_seed)
{
    (void)data;
    return blobs_m_seed(ctx, call, result, msg, cap);
}

const mtd_rpc_method mtd_methods[] = {
    { "status", m_status },
    { "shutdown", m_shutdown },
    { "events.subscribe", m_events },
    { "torrent.add", m_torrent_add },
    { "torrent.list", m_torrent_list },
    { "torrent.info", m_torrent_info },
    { "torrent.pause", m_torrent_pause },
    { "torrent.resume", m_torrent_resume },
    { "torrent.remove", m_torrent_remove },
    { "torrent.files", m_torrent_files },
    { "feed.publish", m_feed_publish },
    { "feed.list", m_feed_list },
    { "sub.add", m_sub_add },
    { "sub.list", m_sub_list },
    { "sub.items", m_sub_items },
    { "sub.remove", m_sub_remove },
    { "sub.sync", m_sub_sync },
    { "resolve", m_resolve },
    { "push", m_push },
    { "blob.ingest", m_blob_ingest },
    { "blob.fetch", m_blob_fetch },
    { "blob.fetches", m_blob_fetches },
    { "blob.store", m_blob_store },
    { "blob.seed", m_blob_seed },
    { NULL, NULL }
};
