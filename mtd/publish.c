/*
 * publish.c - feeds this node publishes: sign a manifest, seed its
 * feed-index torrent, put the pointer, and republish it every
 * republish_interval while running.
 *
 * The sequence is reserved (mt_seq, fsync'd) and the signed manifest and
 * item stored before the first put, so a crash can neither reuse a
 * sequence for different content nor lose a published feed.
 *
 * Publishing knows nothing of blobs: the blobs module ingests files and
 * hands the FileEntries over through publish.h (blobs -> publishing, one
 * way).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "module.h"
#include "mt_feedaddr.h"
#include "mt_feedindex.h"
#include "mt_push.h"
#include "mt_bencode.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_pointer.h"
#include "mt_seq.h"
#include "mt_util.h"
#include "params.h"
#include "publish.h"
#include "torrents.h"

#define REPUBLISH_CHECK_MS 10000
#define FAILED_PUT_RETRY_MS 60000

/* A DHT put whose outcome an RPC caller (or the republish timer) awaits. */
typedef struct pending_put {
    uint8_t         target[20];
    int             has_ticket;
    mtd_rpc_ticket  ticket;
    char            name[65];
    int64_t         seq;
    cJSON          *result;      /* reply to complete with "nodes" */
} pending_put;

typedef struct publish_mod {
    pending_put *puts;
    size_t       n_puts, cap_puts;
    int64_t      next_republish_check_ms;
    uint64_t     pushes_sent;    /* new pointers pushed into the previous index swarm */
} publish_mod;

static publish_mod *P(mtd_daemon *d)
{
    return mtd_module_state(d, &mtd_mod_publish);
}

/* Feed address of one of our feeds (salt = name). */
static void feed_address(mtd_daemon *d, const char *name, char *out, size_t cap)
{
    mt_feedaddr a;
    memset(&a, 0, sizeof a);
    memcpy(a.pk, mt_identity_public_key(d->id), 32);
    a.salt_len = strlen(name);
    memcpy(a.salt, name, a.salt_len);
    if (mt_feedaddr_format_magnet(&a, out, cap, NULL) != 0)
        snprintf(out, cap, "?");
}

/* Copy old's collections (appending items to the one titled title, or
 * dropping them all when replace), topics and metadata into draft d. */
/* Add string items and FileEntry objects to the draft's current collection. */
static int add_new(mt_manifest_draft *dr, const cJSON *items, const cJSON *entries, mt_error *err)
{
    const cJSON *x;
    int rc = 0;
    cJSON_ArrayForEach(x, items)
        if (rc == 0)
            rc = mt_manifest_draft_add_item(dr, x->valuestring, err);
    cJSON_ArrayForEach(x, entries) {
        char *j = NULL;
        size_t jl = 0;
        if (rc == 0)
            rc = mt_json_canonical(x, &j, &jl, err);
        if (rc == 0)
            rc = mt_manifest_draft_add_entry(dr, j, jl, err);
        if (j) {
            sodium_memzero(j, jl); /* chunk keys */
            free(j);
        }
    }
    return rc;
}

static int draft_from(mt_manifest_draft *dr, const mt_manifest *old, int replace,
                      const char *title, const cJSON *items, const cJSON *entries, int *found,
                      mt_error *err)
{
    int rc = 0;
    *found = 0;
    if (old && !replace) {
        for (size_t c = 0; rc == 0 && c < mt_manifest_collection_count(old); c++) {
            const char *t = mt_manifest_collection_title(old, c);
            rc = mt_manifest_draft_add_collection(dr, t, err);
            for (size_t i = 0; rc == 0 && i < mt_manifest_item_count(old, c); i++) {
                const mt_item *it = mt_manifest_item(old, c, i);
                if (cJSON_IsString(it->json)) {
                    rc = mt_manifest_draft_add_item(dr, it->text, err);
                } else {
                    char *j = NULL;
                    size_t jl = 0;
                    rc = mt_json_canonical(it->json, &j, &jl, err);
                    if (rc == 0)
                        rc = mt_manifest_draft_add_entry(dr, j, jl, err);
                    free(j);
                }
            }
            if (rc == 0 && strcmp(t, title) == 0) {
                *found = 1;
                rc = add_new(dr, items, entries, err);
            }
        }
        const cJSON *topics = mt_manifest_topics(old), *x;
        cJSON_ArrayForEach(x, topics)
            if (rc == 0 && cJSON_IsString(x))
                rc = mt_manifest_draft_add_topic(dr, x->valuestring, err);
        const cJSON *meta = mt_manifest_metadata(old);
        if (rc == 0 && meta) {
            char *j = NULL;
            size_t jl = 0;
            rc = mt_json_canonical(meta, &j, &jl, err);
            if (rc == 0)
                rc = mt_manifest_draft_set_metadata(dr, j, jl, err);
            free(j);
        }
    }
    if (rc == 0 && !*found) {
        rc = mt_manifest_draft_add_collection(dr, title, err);
        if (rc == 0)
            rc = add_new(dr, items, entries, err);
    }
    return rc;
}

/* Map a library error to the RPC error space. */
static int rpc_code(int mt)
{
    switch (mt) {
    case MT_EINVAL: case MT_ECRYPTO: case MT_ESTALE: case MT_ETOOBIG:
        return MTD_RPC_REFUSED;
    case MT_ESTATE:
        return MTD_RPC_UNAVAILABLE;
    default:
        return MTD_RPC_INTERNAL_ERROR;
    }
}

/* Validate feed.publish parameters. */
static int check_params(const cJSON *p, char *msg, size_t cap)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(p, "items");
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(p, "manifest");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(p, "title");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(p, "ws"), *x;
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(p, "entries");
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(p, "read_key");
    const char *bools[] = { "inline", "replace" };
    uint8_t key[32];

    if (name && (!cJSON_IsString(name) || strlen(name->valuestring) > MT_DHT_SALT_MAX))
        return snprintf(msg, cap, "name: must be a string of at most 64 bytes"), -1;
    if (title && (!cJSON_IsString(title) || !title->valuestring[0]))
        return snprintf(msg, cap, "title: must be a non-empty string"), -1;
    if (!!(items || entries) == !!man)
        return snprintf(msg, cap, "give items (or entries, files) or a manifest, not both"), -1;
    if (entries) {
        if (!cJSON_IsArray(entries) || (cJSON_GetArraySize(entries) == 0 && !items))
            return snprintf(msg, cap, "entries: must be an array of FileEntry objects"), -1;
        cJSON_ArrayForEach(x, entries)
            if (!cJSON_IsObject(x))
                return snprintf(msg, cap, "entries: must be an array of FileEntry objects"), -1;
    }
    if (rk && (!cJSON_IsString(rk) || strlen(rk->valuestring) != 64 || mt_hex_decode(rk->valuestring, key, 32) != 0))
        return snprintf(msg, cap, "read_key: must be 64 hex digits"), -1;
    if (rk && man)
        return snprintf(msg, cap, "read_key: a signed manifest is published as it is; seal it when signing"), -1;
    if (items) {
        if (!cJSON_IsArray(items) || (cJSON_GetArraySize(items) == 0 && !entries))
            return snprintf(msg, cap, "items: must be a non-empty array of strings"), -1;
        cJSON_ArrayForEach(x, items)
            if (!cJSON_IsString(x))
                return snprintf(msg, cap, "items: must be a non-empty array of strings"), -1;
    }
    if (man && !cJSON_IsString(man) && !cJSON_IsObject(man))
        return snprintf(msg, cap, "manifest: must be an object or a JSON string"), -1;
    if (ws) {
        if (!cJSON_IsArray(ws) || cJSON_GetArraySize(ws) > MT_POINTER_WS_MAX)
            return snprintf(msg, cap, "ws: must be an array of at most %d URLs", MT_POINTER_WS_MAX), -1;
        cJSON_ArrayForEach(x, ws)
            if (!cJSON_IsString(x) || !mt_url_is_http(x->valuestring) ||
                strlen(x->valuestring) > MT_POINTER_URL_MAX)
                return snprintf(msg, cap, "ws: each entry must be an http(s) URL of at most %d bytes",
                                MT_POINTER_URL_MAX), -1;
    }
    for (size_t i = 0; i < 2; i++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, bools[i]);
        if (b && !cJSON_IsBool(b))
            return snprintf(msg, cap, "%s: must be true or false", bools[i]), -1;
    }
    return 0;
}

/* Produce the signed manifest JSON to publish and its sequence. */
static int signed_manifest(mtd_daemon *d, const cJSON *p, const mt_pub *old, const uint8_t *read_key,
                           char **json, size_t *len, int64_t *seq, mt_error *err)
{
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(p, "manifest");
    const uint8_t *pk = mt_identity_public_key(d->id);
    char seqfile[MTD_PATH_MAX + 100], pkhex[65];
    mt_manifest *m = NULL;
    mt_manifest_expect e;
    int rc;

    mt_hex_encode(pk, 32, pkhex);
    snprintf(seqfile, sizeof seqfile, "%s/%s", d->seq_dir, pkhex);
    mt_manifest_expect_init(&e);
    e.public_key = pk;
    e.highest_seq = old ? old->seq : -1;
    if (man) {
        /* Signed elsewhere (mtctl manifest create): publish as it is. */
        if (cJSON_IsString(man)) {
            *json = strdup(man->valuestring);
        } else if ((rc = mt_json_canonical(man, json, len, err)) != 0) {
            return rc;
        }
        if (!*json)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        *len = strlen(*json);
        rc = mt_manifest_load(*json, *len, &e, &m, err);
        if (rc == 0) {
            int64_t last = 0;
            *seq = mt_manifest_sequence(m);
            mt_seq_last(seqfile, &last, NULL);
            if (last < *seq)
                rc = mt_seq_next(seqfile, *seq, mt_wall_ms(), seq, err);
        }
        mt_manifest_free(m);
        if (rc != 0) {
            free(*json);
            *json = NULL;
        }
        return rc;
    }

    const cJSON *items = cJSON_GetObjectItemCaseSensitive(p, "items");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(p, "entries");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(p, "title");
    int replace = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "replace")), found;
    mt_manifest_draft *dr = NULL;
    mt_manifest *old_m = NULL;
    if (old && old->manifest) {
        mt_manifest_expect oe;
        mt_manifest_expect_init(&oe);
        oe.max_bytes = old->manifest_len + 1;
        oe.read_key = read_key;
        if (mt_manifest_load(old->manifest, old->manifest_len, &oe, &old_m, err) != 0)
            return mt_error_set(err, MT_EIO, "stored manifest of this feed is unreadable: %s",
                                err->message);
    }
    rc = mt_manifest_draft_new(&dr, err);
    if (rc == 0)
        rc = draft_from(dr, old_m, replace, title ? title->valuestring : "default", items, entries, &found,
                        err);
    if (rc == 0)
        rc = mt_seq_next(seqfile, 0, mt_wall_ms(), seq, err);
    if (rc == 0)
        rc = mt_manifest_draft_sign(dr, d->id, *seq, mt_wall_ms(), read_key, json, len, err);
    mt_manifest_draft_free(dr);
    mt_manifest_free(old_m);
    return rc;
}

/* Parse the ws parameter into a pointer array (strings stay in p). */
static size_t ws_list(const cJSON *p, const char **ws, char *joined, size_t cap)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p, "ws"), *x;
    size_t n = 0, off = 0;
    joined[0] = 0;
    cJSON_ArrayForEach(x, arr) {
        ws[n++] = x->valuestring;
        int w = snprintf(joined + off, cap - off, "%s%s", off ? "\n" : "", x->valuestring);
        if (w > 0 && (size_t)w < cap - off)
            off += (size_t)w;
    }
    return n;
}

static int add_put(publish_mod *pm, const uint8_t target[20], const mtd_rpc_ticket *t, const char *name,
                   int64_t seq, cJSON *result)
{
    if (pm->n_puts == pm->cap_puts) {
        size_t nc = pm->cap_puts ? pm->cap_puts * 2 : 8;
        pending_put *np = realloc(pm->puts, nc * sizeof *np);
        if (!np)
            return -1;
        pm->puts = np;
        pm->cap_puts = nc;
    }
    pending_put *pp = &pm->puts[pm->n_puts++];
    memset(pp, 0, sizeof *pp);
    memcpy(pp->target, target, 20);
    if (t) {
        pp->has_ticket = 1;
        pp->ticket = *t;
    }
    snprintf(pp->name, sizeof pp->name, "%s", name);
    pp->seq = seq;
    pp->result = result;
    return 0;
}

/* The read key of a private feed: given now (and remembered), or the one
 * remembered from an earlier publish. 1 if the feed is private. */
static int feed_read_key(mtd_daemon *d, const cJSON *p, const char *name, uint8_t key[32])
{
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(p, "read_key");
    char kv[100], *hex = NULL;
    int have = 0;
    snprintf(kv, sizeof kv, "pub.read_key.%s", name);
    if (cJSON_IsString(rk)) {
        mt_hex_decode(rk->valuestring, key, 32);
        mt_store_kv_set(d->st, kv, rk->valuestring, NULL);
        return 1;
    }
    if (mt_store_kv_get(d->st, kv, &hex, NULL) == 0) {
        have = mt_hex_decode(hex, key, 32) == 0;
        sodium_memzero(hex, strlen(hex));
        mt_free(hex);
    }
    return have;
}

static int publish_params(mtd_daemon *d, const cJSON *p, const mtd_rpc_call *call, const mtd_rpc_ticket *held,
                          cJSON **result, char *msg, size_t cap);

int pub_publish(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap)
{
    return publish_params(d, call->params, call, NULL, result, msg, cap);
}

void pub_publish_held(mtd_daemon *d, const cJSON *params, mtd_rpc_ticket *held)
{
    char msg[512];
    cJSON *result = NULL;
    int rc = publish_params(d, params, NULL, held, &result, msg, sizeof msg);
    if (rc == MTD_RPC_DEFERRED)
        return;
    if (rc == 0)
        mtd_rpc_reply(d->rpc, held, result);
    else
        mtd_rpc_reply_error(d->rpc, held, rc, msg);
}

/* feed.publish with its parameters p; answers through held (a ticket taken
 * earlier, e.g. before ingesting files) when given, else defers call.
 * With held, errors are returned and the caller answers the ticket. */
static int publish_params(mtd_daemon *d, const cJSON *p, const mtd_rpc_call *call, const mtd_rpc_ticket *held,
                          cJSON **result, char *msg, size_t cap)
{
    publish_mod *pm = P(d);
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(p, "name");
    const char *name = cJSON_IsString(jn) ? jn->valuestring : "";
    int is_inline = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "inline"));
    const uint8_t *pk = mt_identity_public_key(d->id);
    const char *ws[MT_POINTER_WS_MAX];
    char wsj[2048], address[MT_FEEDADDR_STR_MAX], hex[41];
    mt_pub old, pub;
    int has_old, rc;
    mt_error err;
    char *json = NULL;
    size_t len = 0;
    int64_t seq = 0;
    uint8_t *v = NULL, *torrent = NULL, target[20], read_key[32];
    size_t v_len = 0, torrent_len = 0;
    int is_private;

    (void)result;
    if (check_params(p, msg, cap) != 0)
        return MTD_RPC_INVALID_PARAMS;
    if (!mt_session_dht_running(d->s)) {
        snprintf(msg, cap, "the DHT is not running");
        return MTD_RPC_UNAVAILABLE;
    }
    memset(&old, 0, sizeof old);
    memset(&pub, 0, sizeof pub);
    has_old = mt_store_pub_get(d->st, name, pk, &old, NULL) == 0;
    size_t n_ws = ws_list(p, ws, wsj, sizeof wsj);
    is_private = !cJSON_GetObjectItemCaseSensitive(p, "manifest") && feed_read_key(d, p, name, read_key);
    rc = signed_manifest(d, p, has_old ? &old : NULL, is_private ? read_key : NULL, &json, &len, &seq, &err);
    sodium_memzero(read_key, sizeof read_key);
    if (rc != 0) {
        snprintf(msg, cap, "%s", err.message);
        mt_pub_clear(&old);
        return rpc_code(rc);
    }
    snprintf(pub.name, sizeof pub.name, "%s", name);
    memcpy(pub.pk, pk, 32);
    pub.seq = seq;
    pub.manifest = json;
    pub.manifest_len = len;
    pub.is_inline = is_inline;
    snprintf(pub.ws, sizeof pub.ws, "%s", wsj);
    if (is_inline) {
        rc = mt_pointer_encode_inline(json, len, &v, &v_len, &err);
        if (rc == MT_ETOOBIG)
            mt_error_set(&err, rc, "the manifest (%zu bytes) does not fit in a DHT value "
                         "(under 1000 bytes bencoded); publish it without inline", len);
    } else {
        char save[MTD_PATH_MAX + 64];
        rc = mt_feedindex_build(json, len, d->index_dir, ws, n_ws, pub.ih, save, sizeof save,
                                &torrent, &torrent_len, &err);
        if (rc == 0) {
            mt_add_params ap;
            uint8_t id[20];
            memset(&ap, 0, sizeof ap);
            ap.torrent = torrent;
            ap.torrent_len = torrent_len;
            ap.save_path = save;
            ap.flags = MT_ADD_SEED_MODE;
            rc = torrents_add(d, &ap, 0, "", MTD_TORRENT_INDEX, id, &err);
            if (rc == MT_EEXIST)
                rc = 0;
        }
        if (rc == 0)
            rc = mt_pointer_encode(pub.ih, mt_wall_ms() / 1000, ws, n_ws, &v, &v_len, &err);
    }
    if (rc == 0)
        rc = mt_dht_sign_mutable(mt_identity_secret_key(d->id), (const uint8_t *)name, strlen(name),
                                 seq, v, v_len, pub.sig, &err);
    pub.v = v;
    pub.v_len = v_len;
    pub.published_ms = mt_wall_ms();
    if (rc == 0)
        rc = mt_store_pub_set(d->st, &pub, &err);
    if (rc == 0)
        rc = mt_dht_put_signed(d->s, pk, (const uint8_t *)name, strlen(name), seq, v, v_len,
                               pub.sig, target, &err);
    mt_free(torrent);
    if (rc != 0) {
        snprintf(msg, cap, "%s", err.message);
        mt_pub_clear(&pub);
        mt_pub_clear(&old);
        return rpc_code(rc);
    }
    /* Subscribers sit in the previous index swarm: push them the new
     * pointer there (they pass it on), before that swarm is left. */
    if (has_old && !old.is_inline) {
        int queued = 0;
        if (mt_push_send(d->s, old.ih, pk, (const uint8_t *)name, strlen(name), seq, pub.v, pub.v_len, pub.sig,
                         NULL, 0, &queued, NULL) == 0 && queued > 0) {
            pm->pushes_sent += (uint64_t)queued;
            log_info("feed \"%s\": seq %lld pushed to %d peers", name, (long long)seq, queued);
        }
    }
    /* The previous index is no longer the latest: stop seeding it. */
    if (has_old && !old.is_inline && (is_inline || memcmp(old.ih, pub.ih, 20) != 0))
        torrents_retire_index(d, old.ih);

    feed_address(d, name, address, sizeof address);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "address", address);
    cJSON_AddNumberToObject(r, "seq", (double)seq);
    if (is_inline) {
        cJSON_AddNullToObject(r, "ih");
    } else {
        mt_hex_encode(pub.ih, 20, hex);
        cJSON_AddStringToObject(r, "ih", hex);
    }
    cJSON_AddStringToObject(r, "mode", is_inline ? "inline" : "pointer");
    cJSON_AddBoolToObject(r, "private", is_private);
    mt_manifest *m = NULL;
    mt_manifest_expect e;
    mt_manifest_expect_init(&e);
    e.max_bytes = len + 1;
    cJSON_AddNumberToObject(r, "items", mt_manifest_load(json, len, &e, &m, NULL) == 0
                                            ? (double)mt_manifest_total_items(m) : 0);
    mt_manifest_free(m);
    log_info("published feed \"%s\" seq %lld (%s, %zu bytes)", name, (long long)seq,
             is_inline ? "inline" : "pointer", len);
    mt_pub_clear(&pub);
    mt_pub_clear(&old);

    mtd_rpc_ticket t;
    if (held || (call && call->id && mtd_rpc_defer(call, &t) == 0)) {
        if (held)
            t = *held;
        if (add_put(pm, target, &t, name, seq, r) == 0)
            return MTD_RPC_DEFERRED;
        mtd_rpc_reply(d->rpc, &t, r);
        return MTD_RPC_DEFERRED;
    }
    add_put(pm, target, NULL, name, seq, NULL);
    *result = r;
    return 0;
}

/* A DHT put finished: complete the RPC that started it, note the time. */
static void mod_event(mtd_daemon *d, void *state, const mt_event *ev)
{
    publish_mod *pm = state;
    if (ev->type != MT_EVENT_DHT_PUT)
        return;
    for (size_t i = 0; i < pm->n_puts; i++) {
        pending_put *pp = &pm->puts[i];
        if (memcmp(pp->target, ev->target, 20) != 0)
            continue;
        mt_store_pub_set_put(d->st, pp->name, mt_identity_public_key(d->id), mt_wall_ms(),
                             ev->num_success, NULL);
        if (ev->error)
            log_warn("feed \"%s\": DHT put of seq %lld: %s", pp->name, (long long)pp->seq, ev->message);
        else
            log_info("feed \"%s\": seq %lld stored on %d DHT nodes", pp->name, (long long)pp->seq,
                     ev->num_success);
        if (pp->result) {
            cJSON_AddNumberToObject(pp->result, "nodes", ev->num_success);
            if (ev->error)
                cJSON_AddStringToObject(pp->result, "warning", ev->message);
            cJSON *e = d_event("feed.published");
            cJSON *x;
            cJSON_ArrayForEach(x, pp->result)
                if (strcmp(x->string, "items") && strcmp(x->string, "mode") && strcmp(x->string, "warning"))
                    cJSON_AddItemToObject(e, x->string, cJSON_Duplicate(x, 1));
            d_emit(d, e);
        }
        if (pp->has_ticket)
            mtd_rpc_reply(d->rpc, &pp->ticket, pp->result);
        else
            cJSON_Delete(pp->result);
        pm->puts[i] = pm->puts[--pm->n_puts];
        i--;
    }
}

/* Republish our feeds: every republish_interval, sooner after a put that
 * reached no node. */
static void mod_tick(mtd_daemon *d, void *state)
{
    publish_mod *pm = state;
    int64_t now = mt_now_ms(), wall = mt_wall_ms();
    mt_pub *pubs = NULL;
    size_t n = 0;
    uint8_t target[20];

    if (now < pm->next_republish_check_ms)
        return;
    pm->next_republish_check_ms = now + REPUBLISH_CHECK_MS;
    if (mt_store_pub_list(d->st, &pubs, &n, NULL) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        mt_pub *p = &pubs[i];
        int64_t age = wall - p->last_put_ms;
        int due = age >= (int64_t)d->cfg->republish_interval * 1000 ||
                  (p->last_put_nodes == 0 && age >= FAILED_PUT_RETRY_MS);
        int busy = 0;
        for (size_t k = 0; k < pm->n_puts; k++)
            if (strcmp(pm->puts[k].name, p->name) == 0)
                busy = 1;
        if (due && !busy && p->v &&
            mt_dht_put_signed(d->s, p->pk, (const uint8_t *)p->name, strlen(p->name), p->seq, p->v,
                              p->v_len, p->sig, target, NULL) == 0) {
            add_put(pm, target, NULL, p->name, p->seq, NULL);
            log_debug("feed \"%s\": republishing seq %lld", p->name, (long long)p->seq);
        }
        mt_pub_clear(p);
    }
    free(pubs);
}

static cJSON *list_json(mtd_daemon *d)
{
    mt_pub *pubs = NULL;
    size_t n = 0;
    char address[MT_FEEDADDR_STR_MAX], hex[41];
    cJSON *arr = cJSON_CreateArray();

    if (mt_store_pub_list(d->st, &pubs, &n, NULL) != 0)
        return arr;
    for (size_t i = 0; i < n; i++) {
        mt_pub *p = &pubs[i];
        cJSON *o = cJSON_CreateObject();
        feed_address(d, p->name, address, sizeof address);
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "address", address);
        cJSON_AddNumberToObject(o, "seq", (double)p->seq);
        if (p->is_inline) {
            cJSON_AddNullToObject(o, "ih");
        } else {
            mt_hex_encode(p->ih, 20, hex);
            cJSON_AddStringToObject(o, "ih", hex);
        }
        cJSON_AddStringToObject(o, "mode", p->is_inline ? "inline" : "pointer");
        mt_manifest *m = NULL;
        mt_manifest_expect e;
        mt_manifest_expect_init(&e);
        e.max_bytes = p->manifest_len + 1;
        cJSON_AddNumberToObject(o, "items", p->manifest &&
                                mt_manifest_load(p->manifest, p->manifest_len, &e, &m, NULL) == 0
                                    ? (double)mt_manifest_total_items(m) : 0);
        mt_manifest_free(m);
        cJSON_AddNumberToObject(o, "published_ms", (double)p->published_ms);
        cJSON_AddNumberToObject(o, "last_put_ms", (double)p->last_put_ms);
        cJSON_AddNumberToObject(o, "last_put_nodes", p->last_put_nodes);
        cJSON *ws = cJSON_AddArrayToObject(o, "ws");
        char buf[2048], *save = NULL;
        snprintf(buf, sizeof buf, "%s", p->ws);
        for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
            cJSON_AddItemToArray(ws, cJSON_CreateString(t));
        cJSON_AddItemToArray(arr, o);
        mt_pub_clear(p);
    }
    free(pubs);
    return arr;
}

HANDLER(m_feed_list)
{
    mtd_daemon *d = ctx;
    UNUSED_ARGS;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "feeds", list_json(d));
    *result = r;
    return 0;
}

static const mtd_rpc_method publish_methods[] = {
    { "feed.list", m_feed_list },
    { NULL, NULL }
};

uint64_t pub_pushes_sent(mtd_daemon *d)
{
    return P(d)->pushes_sent;
}

/* ---------------------------------------------------------------- module */

static int mod_open(mtd_daemon *d, void **state, mt_error *err)
{
    (void)d;
    if (!(*state = calloc(1, sizeof(publish_mod))))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    return 0;
}

/* Puts still awaited: their callers hear that we stop. */
static void mod_close(mtd_daemon *d, void *state)
{
    publish_mod *pm = state;
    if (!pm)
        return;
    for (size_t i = 0; i < pm->n_puts; i++) {
        if (pm->puts[i].has_ticket)
            mtd_rpc_reply_error(d->rpc, &pm->puts[i].ticket, MTD_RPC_UNAVAILABLE, "daemon shutting down");
        cJSON_Delete(pm->puts[i].result);
    }
    free(pm->puts);
    free(pm);
}

const mtd_module mtd_mod_publish = {
    .name = "publishing",
    .open = mod_open,
    .close = mod_close,
    .on_event = mod_event,
    .tick = mod_tick,
    .methods = publish_methods,
};
