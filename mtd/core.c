/*
 * core.c - the core module: the daemon's own methods (status, shutdown,
 * events.subscribe), the session's engine-wide events, and feed.publish,
 * which it routes: with files to blobs (which ingests them, then publishes
 * through publishing), else straight to publishing.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobs.h"
#include "module.h"
#include "mt_crypt.h"
#include "mt_push.h"
#include "mt_util.h"
#include "params.h"
#include "publish.h"
#include "subs.h"

typedef struct core_mod {
    int dht_nodes;   /* from the last DHT stats event */
} core_mod;

static core_mod *C(mtd_daemon *d)
{
    return mtd_module_state(d, &mtd_mod_core);
}

HANDLER(m_status)
{
    mtd_daemon *d = ctx;
    core_mod *cm = C(d);
    subs_stats ss;
    size_t nt = 0, ns;
    mt_pub *pubs = NULL;
    size_t np = 0;
    char hex[65], listen[300];
    int64_t down = 0, up = 0;
    UNUSED_ARGS;

    subs_get_stats(d, &ss);
    ns = ss.subscriptions;
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
    cJSON_AddNumberToObject(r, "dht_nodes", cm->dht_nodes);
    cJSON_AddNumberToObject(r, "torrents", (double)nt);
    cJSON_AddNumberToObject(r, "subscriptions", (double)ns);
    cJSON_AddNumberToObject(r, "feeds", (double)np);
    cJSON_AddNumberToObject(r, "download_rate", (double)down);
    cJSON_AddNumberToObject(r, "upload_rate", (double)up);
    cJSON_AddNumberToObject(r, "dht_lookups", (double)ss.dht_lookups);
    cJSON_AddNumberToObject(r, "polls", (double)ss.polls);
    cJSON_AddNumberToObject(r, "pushes_received", (double)ss.pushes_received);
    cJSON_AddNumberToObject(r, "pushes_accepted", (double)ss.pushes_accepted);
    cJSON_AddNumberToObject(r, "pushes_forwarded", (double)(ss.pushes_forwarded + pub_pushes_sent(d)));
    cJSON_AddNumberToObject(r, "pushes_held", (double)ss.pushes_held);
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

/* feed.publish: files need ingesting first (blobs), the rest is publishing's. */
HANDLER(m_feed_publish)
{
    mtd_daemon *d = ctx;
    (void)data;
    if (cJSON_GetObjectItemCaseSensitive(call->params, "files"))
        return blobs_publish_files(d, call, msg, cap);
    return pub_publish(d, call, result, msg, cap);
}

static const mtd_rpc_method core_methods[] = {
    { "status", m_status },
    { "shutdown", m_shutdown },
    { "events.subscribe", m_events },
    { "feed.publish", m_feed_publish },
    { NULL, NULL }
};

static int mod_open(mtd_daemon *d, void **state, mt_error *err)
{
    if (!(*state = calloc(1, sizeof(core_mod))))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    mt_dht_request_stats(d->s, NULL);
    return 0;
}

static void mod_close(mtd_daemon *d, void *state)
{
    (void)d;
    free(state);
}

static void mod_event(mtd_daemon *d, void *state, const mt_event *ev)
{
    core_mod *cm = state;
    (void)d;
    switch (ev->type) {
    case MT_EVENT_LISTEN_FAILED:
        log_error("listening on %s failed: %s", ev->endpoint, ev->message);
        break;
    case MT_EVENT_LISTEN_OK:
        log_info("listening on %s", ev->endpoint);
        break;
    case MT_EVENT_DHT_STATS:
        cm->dht_nodes = ev->nodes;
        break;
    case MT_EVENT_ERROR:
        log_debug("engine: %s", ev->message);
        break;
    default:
        break;
    }
}

const mtd_module mtd_mod_core = {
    .name = "core",
    .open = mod_open,
    .close = mod_close,
    .on_event = mod_event,
    .methods = core_methods,
};
