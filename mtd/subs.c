/*
 * subs.c - subscriptions: poll schedule with jitter and a DHT budget, feed
 * lookups, and acting on new manifests exactly once.
 *
 * Exactly once: a new item's torrent is added and recorded (torrent row)
 * before the manifest and its item rows are accepted in one transaction.
 * A crash in between makes the next poll see the same manifest again; its
 * torrents are found already present and are recorded, not added twice.
 *
 * The subscriptions module also serves one-off lookups (resolve) and
 * pushed items (push): all of them are feed lookups, on one DHT budget's
 * statistics. It fetches FileEntry items through blobs.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdint.h>
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "module.h"
#include "mt_feedaddr.h"
#include "mt_feedindex.h"
#include "mt_push.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_pointer.h"
#include "mt_util.h"
#include "params.h"
#include "subs.h"
#include "torrents.h"

#define MTD_MAX_ACTIVE_POLLS 16   /* feed lookups in flight at once */

/* A subscription at runtime: schedule and the lookup in flight. */
typedef struct sub_rt {
    int64_t      id;
    mt_feedaddr  addr;
    int          interval_s;     /* 0: the daemon's default */
    int64_t      next_poll_ms;   /* monotonic */
    int64_t      next_poll_wall; /* same instant, wall clock (for status) */
    int          sync_wanted;    /* poll at once, outside the budget */
    mt_resolve  *res;
    int64_t      last_republish_ms;
    int64_t      forwarded_seq;  /* highest seq pushed on to other peers */
    double       fwd_tokens;     /* forwards this feed may still make (push_feed_rate bucket) */
    int64_t      fwd_refill_ms;  /* monotonic time fwd_tokens was last topped up */
} sub_rt;

/* A "resolve" RPC in flight. */
typedef struct rpc_resolve {
    mt_resolve     *res;
    mtd_rpc_ticket  ticket;
    char            address[MT_FEEDADDR_STR_MAX];
} rpc_resolve;

/* A new item whose .torrent goes to export_dir once metadata arrives. */
typedef struct pending_export {
    uint8_t id[20];
    char    name[300];   /* sanitised file name, without extension */
} pending_export;

typedef struct subs_mod {
    sub_rt       *subs;
    size_t        n_subs, cap_subs;
    size_t        poll_cursor;    /* round-robin start for due polls */
    size_t        n_polling;      /* subscriptions with a lookup in flight */
    int64_t       next_subs_tick_ms; /* scans of the schedule are paced */
    double        dht_tokens;     /* token bucket for feed lookups */
    int64_t       tokens_ms;
    int           republish_tokens;
    int64_t       republish_refill_ms;
    rpc_resolve  *resolves;
    size_t        n_resolves, cap_resolves;
    pending_export *exports;
    size_t        n_exports, cap_exports;
    /* statistics */
    uint64_t      dht_lookups;
    uint64_t      pushes_received, pushes_accepted, pushes_forwarded, pushes_held;
    uint64_t      polls_done;
} subs_mod;

static subs_mod *S(mtd_daemon *d)
{
    return mtd_module_state(d, &mtd_mod_subs);
}

static int subs_push(mtd_daemon *d, const mt_feedaddr *addr, int64_t seq, const uint8_t *v, size_t v_len,
                     const uint8_t sig[64], char *reason, size_t cap);

#define FIRST_POLL_SPREAD_MS 10000   /* spread start-up polls over this */
#define SCHEDULE_TICK_MS 100         /* the schedule is scanned at most this often */

/* interval ±20%, uniformly, so that many followers of one feed do not
 * query the same DHT nodes in lockstep. */
static int64_t jittered_ms(int interval_s)
{
    int64_t base = (int64_t)interval_s * 1000;
    uint32_t span = (uint32_t)(base * 2 / 5);
    return base - base / 5 + (span ? (int64_t)randombytes_uniform(span + 1) : 0);
}

static int sub_interval(mtd_daemon *d, const sub_rt *rt)
{
    return rt->interval_s > 0 ? rt->interval_s : d->cfg->poll_interval;
}

static void schedule(mtd_daemon *d, sub_rt *rt, int64_t delay_ms)
{
    rt->next_poll_ms = mt_now_ms() + delay_ms;
    rt->next_poll_wall = mt_wall_ms() + delay_ms;
    (void)d;
}

static sub_rt *subs_find(mtd_daemon *d, int64_t id)
{
    subs_mod *sm = S(d);
    for (size_t i = 0; i < sm->n_subs; i++)
        if (sm->subs[i].id == id)
            return &sm->subs[i];
    return NULL;
}

/* Start tracking a stored subscription; its first poll is due at once. */
static int subs_add_rt(mtd_daemon *d, const mt_sub *s)
{
    subs_mod *sm = S(d);
    if (sm->n_subs == sm->cap_subs) {
        size_t nc = sm->cap_subs ? sm->cap_subs * 2 : 16;
        sub_rt *ns = realloc(sm->subs, nc * sizeof *ns);
        if (!ns)
            return MT_ENOMEM;
        sm->subs = ns;
        sm->cap_subs = nc;
    }
    sub_rt *rt = &sm->subs[sm->n_subs++];
    memset(rt, 0, sizeof *rt);
    rt->id = s->id;
    memcpy(rt->addr.pk, s->pk, 32);
    memcpy(rt->addr.salt, s->salt, s->salt_len);
    rt->addr.salt_len = s->salt_len;
    rt->addr.has_read_key = s->has_read_key;
    memcpy(rt->addr.read_key, s->read_key, 32);
    rt->interval_s = s->interval_s;
    schedule(d, rt, 0);
    sm->next_subs_tick_ms = 0;
    return 0;
}

static void subs_remove_rt(mtd_daemon *d, int64_t id)
{
    subs_mod *sm = S(d);
    for (size_t i = 0; i < sm->n_subs; i++) {
        if (sm->subs[i].id != id)
            continue;
        mt_resolve_free(sm->subs[i].res, 0);
        sm->subs[i] = sm->subs[--sm->n_subs];
        return;
    }
}

/* Track every stored subscription. A store that cannot be read is logged,
 * not fatal: torrents and publishing still work. */
static int mod_open(mtd_daemon *d, void **state, mt_error *err)
{
    subs_mod *sm = calloc(1, sizeof *sm);
    mt_sub *all = NULL;
    size_t n = 0;
    mt_error e;
    if (!sm)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    *state = sm;
    if (mt_store_sub_list(d->st, &all, &n, &e) != 0) {
        log_error("cannot load subscriptions: %s", e.message);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (subs_add_rt(d, &all[i]) != 0)
            break;
        /* After a restart, spread the first polls instead of bursting. */
        sub_rt *rt = &sm->subs[sm->n_subs - 1];
        schedule(d, rt, randombytes_uniform(FIRST_POLL_SPREAD_MS));
    }
    free(all);
    sm->dht_tokens = d->cfg->dht_budget;
    sm->tokens_ms = mt_now_ms();
    sm->republish_tokens = d->cfg->republish_budget;
    sm->republish_refill_ms = mt_now_ms();
    log_info("following %zu feeds", n);
    return 0;
}

/* Lookups stop; resolve callers hear that we stop. */
static void mod_close(mtd_daemon *d, void *state)
{
    subs_mod *sm = state;
    if (!sm)
        return;
    for (size_t i = 0; i < sm->n_resolves; i++) {
        mtd_rpc_reply_error(d->rpc, &sm->resolves[i].ticket, MTD_RPC_UNAVAILABLE, "daemon shutting down");
        mt_resolve_free(sm->resolves[i].res, 0);
    }
    free(sm->resolves);
    for (size_t i = 0; i < sm->n_subs; i++)
        mt_resolve_free(sm->subs[i].res, 0);
    free(sm->subs);
    free(sm->exports);
    free(sm);
}

/* ---------------------------------------------------------------- items */

/* A display name for an item: magnet dn (or its id), file name, text. */
static void item_name(const mt_item *it, char *out, size_t cap)
{
    mt_magnet_info mi;
    char hex[41];
    switch (it->kind) {
    case MT_ITEM_MAGNET:
        if (mt_magnet_parse(it->text, &mi, NULL) == 0 && mi.name[0]) {
            snprintf(out, cap, "%s", mi.name);
        } else {
            mt_hex_encode(it->u.magnet.id, 20, hex);
            snprintf(out, cap, "%s", hex);
        }
        break;
    case MT_ITEM_FILE:
        snprintf(out, cap, "%s", it->u.file.name);
        break;
    default:
        snprintf(out, cap, "%s", it->text ? it->text : "");
        break;
    }
    /* Names reach logs, terminals and hooks: no control characters. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

/* Hex SHA-256 of the item's canonical JSON: its identity across updates. */
static int item_key(const mt_item *it, char key[65])
{
    char *canon = NULL;
    size_t len = 0;
    uint8_t h[32];
    if (mt_json_canonical(it->json, &canon, &len, NULL) != 0)
        return -1;
    crypto_hash_sha256(h, (const unsigned char *)canon, len);
    free(canon);
    mt_hex_encode(h, 32, key);
    return 0;
}

typedef struct filters {
    int has_inc, has_exc;
    regex_t inc, exc;
} filters;

static void filters_init(filters *f, const mt_sub *s)
{
    memset(f, 0, sizeof *f);
    /* Validated at sub.add; a failure here only disables the filter. */
    if (s->include_re[0])
        f->has_inc = regcomp(&f->inc, s->include_re, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0;
    if (s->exclude_re[0])
        f->has_exc = regcomp(&f->exc, s->exclude_re, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0;
}

static void filters_free(filters *f)
{
    if (f->has_inc)
        regfree(&f->inc);
    if (f->has_exc)
        regfree(&f->exc);
}

/* NULL if the item passes, else why not. */
static const char *filters_reject(const filters *f, const char *name, const char *title)
{
    if (f->has_inc && regexec(&f->inc, name, 0, NULL, 0) != 0 &&
        regexec(&f->inc, title, 0, NULL, 0) != 0)
        return "does not match include";
    if (f->has_exc && (regexec(&f->exc, name, 0, NULL, 0) == 0 ||
                       regexec(&f->exc, title, 0, NULL, 0) == 0))
        return "matches exclude";
    return NULL;
}

/* Write bytes to <export_dir>/<fname><ext> atomically: a watching client
 * never sees half a file. */
static void export_write(mtd_daemon *d, const char *fname, const char *ext, const void *data,
                         size_t len)
{
    char path[MTD_PATH_MAX + 320];
    mt_error err;
    snprintf(path, sizeof path, "%s/%s%s", d->cfg->export_dir, fname, ext);
    if (mt_file_write_atomic(path, data, len, 0644, 1, &err) != 0)
        log_warn("export to %s failed: %s", path, err.message);
    else
        log_debug("exported %s", path);
}

/* Write the .torrent of an exported item; 0 when written, MT_ESTATE when
 * the metadata is not there yet. */
static int export_torrent_now(mtd_daemon *d, const uint8_t id[20], const char *fname)
{
    uint8_t *t = NULL;
    size_t len = 0;
    int rc = mt_torrent_get_torrent(d->s, id, &t, &len, NULL);
    if (rc == 0)
        export_write(d, fname, ".torrent", t, len);
    mt_free(t);
    return rc;
}

/* Export a new magnet item into another client's watch directory: as a
 * .magnet file, or as a .torrent once its metadata is known. */
static void export_item(mtd_daemon *d, const char *name, const mt_item *it, const uint8_t *id)
{
    subs_mod *sm = S(d);
    char fname[300], body[8300];
    if (!d->cfg->export_dir[0] || it->kind != MT_ITEM_MAGNET)
        return;
    if (mt_filename_sanitize(name, fname, sizeof fname - 10) != 0)
        snprintf(fname, sizeof fname, "item");
    if (d->cfg->export_torrent && id) {
        if (export_torrent_now(d, id, fname) != MT_ESTATE)
            return;
        if (sm->n_exports == sm->cap_exports) {
            size_t nc = sm->cap_exports ? sm->cap_exports * 2 : 8;
            pending_export *ne = realloc(sm->exports, nc * sizeof *ne);
            if (!ne)
                return;
            sm->exports = ne;
            sm->cap_exports = nc;
        }
        memcpy(sm->exports[sm->n_exports].id, id, 20);
        snprintf(sm->exports[sm->n_exports].name, sizeof sm->exports[0].name, "%s", fname);
        sm->n_exports++;
        return;
    }
    int n = snprintf(body, sizeof body, "%s\n", it->text);
    if (n > 0 && (size_t)n < sizeof body)
        export_write(d, fname, ".magnet", body, (size_t)n);
}

/* Metadata arrived: write the .torrent files waiting for it. */
static void subs_export_event(mtd_daemon *d, const mt_event *ev)
{
    subs_mod *sm = S(d);
    if (ev->type != MT_EVENT_TORRENT_METADATA && ev->type != MT_EVENT_TORRENT_REMOVED)
        return;
    for (size_t i = 0; i < sm->n_exports; i++) {
        if (memcmp(sm->exports[i].id, ev->target, 20) != 0)
            continue;
        if (ev->type == MT_EVENT_TORRENT_METADATA)
            export_torrent_now(d, ev->target, sm->exports[i].name);
        sm->exports[i] = sm->exports[--sm->n_exports];
        i--;
    }
}

static void item_hook(mtd_daemon *d, const mt_sub *s, int64_t seq, const char *title,
                      const char *name, const mt_item *it, const char *tid, const char *save)
{
    char e_feed[300], e_seq[40], e_coll[300], e_item[8300], e_name[600], e_id[80], e_save[1100];
    if (!d->cfg->on_item[0])
        return;
    snprintf(e_feed, sizeof e_feed, "MT_FEED=%s", s->address);
    snprintf(e_seq, sizeof e_seq, "MT_SEQ=%lld", (long long)seq);
    snprintf(e_coll, sizeof e_coll, "MT_COLLECTION=%s", title);
    snprintf(e_item, sizeof e_item, "MT_ITEM=%s", it->text ? it->text : "");
    snprintf(e_name, sizeof e_name, "MT_NAME=%s", name);
    snprintf(e_id, sizeof e_id, "MT_TORRENT_ID=%s", tid ? tid : "");
    snprintf(e_save, sizeof e_save, "MT_SAVE_PATH=%s", save);
    const char *env[] = { "MT_EVENT=item.added", e_feed, e_seq, e_coll, e_item, e_name,
                          e_id, e_save, NULL };
    d_run_hook(d, d->cfg->on_item, env);
}

/* Act on one new item: add its torrent (or record it), tell listeners. */
static void act_on_item(mtd_daemon *d, const mt_sub *s, int64_t seq, const char *title,
                        const mt_item *it, const char *key, const filters *f, int *budget,
                        mt_item_row *row)
{
    char name[512], tid[41];
    const char *why;
    const char *save = s->save_path[0] ? s->save_path : d->cfg->download_dir;

    memset(row, 0, sizeof *row);
    snprintf(row->key, sizeof row->key, "%s", key);
    row->seq = seq;
    snprintf(row->collection, sizeof row->collection, "%s", title);
    item_name(it, name, sizeof name);
    snprintf(row->name, sizeof row->name, "%s", name);
    why = filters_reject(f, name, title);
    if (!why && s->max_items > 0 && *budget <= 0)
        why = "over max_items for this update";
    if (why) {
        row->skipped = 1;
        cJSON *e = d_event("item.skipped");
        cJSON_AddNumberToObject(e, "subscription", (double)s->id);
        cJSON_AddStringToObject(e, "address", s->address);
        cJSON_AddNumberToObject(e, "seq", (double)seq);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "reason", why);
        d_emit(d, e);
        log_info("feed %lld: skipped %s (%s)", (long long)s->id, name, why);
        return;
    }
    (*budget)--;
    if (it->kind == MT_ITEM_MAGNET) {
        mt_add_params ap;
        mt_error err;
        uint8_t id[20];
        memset(&ap, 0, sizeof ap);
        ap.magnet = it->text;
        ap.save_path = save;
        if (s->add_paused)
            ap.flags |= MT_ADD_PAUSED;
        int rc = torrents_add(d, &ap, s->id, s->category, 0, id, &err);
        if (rc == MT_EEXIST) {
            memcpy(id, it->u.magnet.id, 20);
            rc = 0;
        }
        if (rc != 0) {
            log_error("feed %lld: cannot add %s: %s", (long long)s->id, name, err.message);
            row->skipped = 1;
            return;
        }
        row->has_torrent = 1;
        memcpy(row->torrent_id, id, 20);
        mt_hex_encode(id, 20, tid);
    } else if (it->kind == MT_ITEM_FILE) {
        mt_error err;
        if (blobs_fetch_item(d, s->id, it->json, save, &err) != 0) {
            log_error("feed %lld: cannot fetch %s: %s", (long long)s->id, name, err.message);
            row->skipped = 1;
            return;
        }
    }
    cJSON *e = d_event("item.added");
    cJSON_AddNumberToObject(e, "subscription", (double)s->id);
    cJSON_AddStringToObject(e, "address", s->address);
    cJSON_AddNumberToObject(e, "seq", (double)seq);
    cJSON_AddStringToObject(e, "collection", title);
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "kind", mt_item_kind_name(it->kind));
    if (row->has_torrent)
        cJSON_AddStringToObject(e, "id", tid);
    else
        cJSON_AddNullToObject(e, "id");
    d_emit(d, e);
    log_info("feed %lld: new item %s", (long long)s->id, name);
    item_hook(d, s, seq, title, name, it, row->has_torrent ? tid : NULL, save);
    export_item(d, name, it, row->has_torrent ? row->torrent_id : NULL);
}

/* The manifest accepted before, loaded for the diff (NULL if none). */
static mt_manifest *previous_manifest(mtd_daemon *d, const mt_sub *s)
{
    mt_accepted a;
    mt_manifest *m = NULL;
    mt_manifest_expect e;
    memset(&a, 0, sizeof a);
    if (mt_store_accepted_get(d->st, s->pk, s->salt, s->salt_len, &a, NULL) != 0)
        return NULL;
    mt_manifest_expect_init(&e);
    e.public_key = s->pk;
    e.read_key = s->has_read_key ? s->read_key : NULL;
    e.max_bytes = a.manifest_len + 1;
    if (!a.manifest || mt_manifest_load(a.manifest, a.manifest_len, &e, &m, NULL) != 0 ||
        mt_manifest_is_sealed(m)) {
        mt_manifest_free(m);
        m = NULL;
    }
    mt_accepted_clear(&a);
    return m;
}

/* A plain BEP-46 feed moved to another torrent: that torrent is the new
 * item (added once, like any magnet item). */
static void apply_torrent_update(mtd_daemon *d, const mt_sub *s, const mt_resolve_result *r)
{
    char hex[41], magnet[400], key[65];
    uint8_t h[32];
    mt_item it;
    mt_item_row row;
    mt_accepted a;
    mt_error err;
    filters f;
    int budget = 1, n_rows = 0;

    mt_hex_encode(r->ih, 20, hex);
    /* The dn is untrusted text: keep it out of the magnet if it would need
     * escaping; the name shows up once metadata arrives anyway. */
    if (r->name[0] && strcspn(r->name, "&#%?= \t\r\n") == strlen(r->name) && strlen(r->name) < 200)
        snprintf(magnet, sizeof magnet, "magnet:?xt=urn:btih:%s&dn=%s", hex, r->name);
    else
        snprintf(magnet, sizeof magnet, "magnet:?xt=urn:btih:%s", hex);
    crypto_hash_sha256(h, (const unsigned char *)hex, 40);
    mt_hex_encode(h, 32, key);
    memset(&it, 0, sizeof it);
    it.kind = MT_ITEM_MAGNET;
    it.text = magnet;
    it.u.magnet.has_v1 = 1;
    memcpy(it.u.magnet.v1, r->ih, 20);
    memcpy(it.u.magnet.id, r->ih, 20);
    filters_init(&f, s);
    if (mt_store_item_seen(d->st, s->id, key, NULL) != 1) {
        act_on_item(d, s, r->seq, "BEP-46", &it, key, &f, &budget, &row);
        n_rows = 1;
    }
    filters_free(&f);
    memset(&a, 0, sizeof a);
    a.seq = r->seq;
    a.v = r->v;
    a.v_len = r->v_len;
    memcpy(a.sig, r->sig, 64);
    a.accepted_ms = mt_wall_ms();
    if (mt_store_accept(d->st, s->id, s->pk, s->salt, s->salt_len, &a, &row, (size_t)n_rows, &err) != 0)
        log_error("feed %lld: cannot record seq %lld: %s", (long long)s->id, (long long)r->seq,
                  err.message);
    cJSON *e = d_event("feed.updated");
    cJSON_AddNumberToObject(e, "subscription", (double)s->id);
    cJSON_AddStringToObject(e, "address", s->address);
    cJSON_AddNumberToObject(e, "seq", (double)r->seq);
    cJSON_AddNumberToObject(e, "added", n_rows);
    cJSON_AddNumberToObject(e, "removed", 0);
    d_emit(d, e);
    log_info("feed %lld: accepted seq %lld (plain BEP-46 torrent %s)", (long long)s->id,
             (long long)r->seq, hex);
}

/* A verified newer manifest: act on its new items, then accept it. */
static void apply_update(mtd_daemon *d, sub_rt *rt, mt_resolve *res)
{
    const mt_resolve_result *r = mt_resolve_get_result(res);
    mt_sub s;
    mt_error err;
    mt_manifest_diff diff;
    mt_item_row *rows = NULL;
    size_t n_rows = 0;
    filters f;
    int budget;

    if (mt_store_sub_get(d->st, rt->id, &s, &err) != 0)
        return;
    memset(&diff, 0, sizeof diff);
    if (r->is_torrent) {
        apply_torrent_update(d, &s, r);
        return;
    }
    mt_manifest *old_m = previous_manifest(d, &s);
    int readable = !mt_manifest_is_sealed(r->manifest);
    if (readable && mt_manifest_diff_compute(old_m, r->manifest, &diff, &err) != 0) {
        log_error("feed %lld: diff failed: %s", (long long)s.id, err.message);
        readable = 0;
    }
    filters_init(&f, &s);
    budget = s.max_items > 0 ? s.max_items : 1 << 30;
    if (readable && diff.n_added)
        rows = calloc(diff.n_added, sizeof *rows);
    for (size_t i = 0; rows && i < diff.n_changes; i++) {
        const mt_manifest_change *c = &diff.changes[i];
        char key[65];
        if (!c->added || item_key(c->item, key) != 0)
            continue;
        if (mt_store_item_seen(d->st, s.id, key, NULL) == 1)
            continue;   /* acted on before (e.g. removed and re-added upstream) */
        act_on_item(d, &s, r->seq, c->collection, c->item, key, &f, &budget, &rows[n_rows++]);
    }
    filters_free(&f);

    mt_accepted a;
    memset(&a, 0, sizeof a);
    a.seq = r->seq;
    a.manifest = r->json;
    a.manifest_len = r->json_len;
    a.has_ih = !r->is_inline;
    memcpy(a.ih, r->ih, 20);
    a.v = r->v;
    a.v_len = r->v_len;
    memcpy(a.sig, r->sig, 64);
    a.accepted_ms = mt_wall_ms();
    if (!r->is_inline) {
        /* The latest index is seeded: record it so it survives restarts. */
        mt_torrent_row tr;
        char hex[41];
        memset(&tr, 0, sizeof tr);
        memcpy(tr.id, r->ih, 20);
        mt_hex_encode(r->ih, 20, hex);
        snprintf(tr.uri, sizeof tr.uri, "magnet:?xt=urn:btih:%s", hex);
        snprintf(tr.save_path, sizeof tr.save_path, "%.960s/%s", d->index_dir, hex);
        tr.sub_id = s.id;
        tr.kind = 1;
        tr.added_ms = mt_wall_ms();
        mt_store_torrent_add(d->st, &tr, NULL);
        torrents_keep_index_links(d, r->ih, 1);
    }
    int rc = mt_store_accept(d->st, s.id, s.pk, s.salt, s.salt_len, &a, rows, n_rows, &err);
    if (rc != 0)
        log_error("feed %lld: cannot record seq %lld: %s", (long long)s.id, (long long)r->seq,
                  err.message);
    else if (s.has_index_ih && (r->is_inline || memcmp(s.index_ih, r->ih, 20) != 0))
        torrents_retire_index(d, s.index_ih); /* after what we passed on through it has gone out */

    cJSON *e = d_event("feed.updated");
    cJSON_AddNumberToObject(e, "subscription", (double)s.id);
    cJSON_AddStringToObject(e, "address", s.address);
    cJSON_AddNumberToObject(e, "seq", (double)r->seq);
    cJSON_AddNumberToObject(e, "added", (double)n_rows);
    cJSON_AddNumberToObject(e, "removed", (double)diff.n_removed);
    d_emit(d, e);
    log_info("feed %lld: accepted seq %lld (%zu new items, %zu removed)%s", (long long)s.id,
             (long long)r->seq, n_rows, diff.n_removed, readable ? "" : " (sealed: no read key)");
    mt_manifest_diff_clear(&diff);
    mt_manifest_free(old_m);
    free(rows);
}

/* Re-put the latest signed item we hold for a feed we follow (anyone may),
 * within the republish budget. */
static void maybe_republish(mtd_daemon *d, sub_rt *rt)
{
    subs_mod *sm = S(d);
    mt_accepted a;
    int64_t now = mt_now_ms();
    if (d->cfg->republish_budget <= 0 || sm->republish_tokens <= 0 ||
        (rt->last_republish_ms && now - rt->last_republish_ms < (int64_t)d->cfg->republish_interval * 1000))
        return;
    memset(&a, 0, sizeof a);
    if (mt_store_accepted_get(d->st, rt->addr.pk, rt->addr.salt, rt->addr.salt_len, &a, NULL) != 0)
        return;
    if (a.v && mt_dht_put_signed(d->s, rt->addr.pk, rt->addr.salt, rt->addr.salt_len, a.seq, a.v,
                                 a.v_len, a.sig, NULL, NULL) == 0) {
        sm->republish_tokens--;
        rt->last_republish_ms = now;
        log_debug("feed %lld: republished seq %lld", (long long)rt->id, (long long)a.seq);
    }
    mt_accepted_clear(&a);
}

/* A lookup ended: record the outcome, tell listeners, plan the next one. */
static void finish_poll(mtd_daemon *d, sub_rt *rt)
{
    subs_mod *sm = S(d);
    mt_resolve *res = rt->res;
    mt_resolve_state state = mt_resolve_get_state(res);
    const char *why = NULL, *rej = NULL;
    char why_buf[MT_ERROR_MSG_MAX * 2];
    mt_sub s;
    int changed = state == MT_RESOLVE_DONE;

    rt->res = NULL;
    sm->polls_done++;
    int64_t rej_seq = 0;
    if (mt_resolve_rejected(res, &rej, &rej_seq) > 0) {
        if (mt_store_sub_get(d->st, rt->id, &s, NULL) == 0) {
            cJSON *e = d_event("feed.rejected");
            cJSON_AddNumberToObject(e, "subscription", (double)rt->id);
            cJSON_AddStringToObject(e, "address", s.address);
            if (rej_seq > 0)
                cJSON_AddNumberToObject(e, "seq", (double)rej_seq);
            else
                cJSON_AddNullToObject(e, "seq");
            cJSON_AddStringToObject(e, "reason", rej);
            d_emit(d, e);
        }
        log_warn("feed %lld: rejected: %s", (long long)rt->id, rej);
    }
    if (state == MT_RESOLVE_DONE)
        apply_update(d, rt, res);
    if (state == MT_RESOLVE_FAILED) {
        mt_resolve_error(res, &why);
        /* The resolver owns the text and is freed below: keep a copy. */
        snprintf(why_buf, sizeof why_buf, "%s", why);
        why = why_buf;
        log_info("feed %lld: poll failed: %s", (long long)rt->id, why);
    }
    mt_store_sub_set_status(d->st, rt->id, mt_wall_ms(), why, NULL);
    mt_resolve_free(res, 1);
    schedule(d, rt, jittered_ms(sub_interval(d, rt)));
    if (mt_store_sub_get(d->st, rt->id, &s, NULL) == 0) {
        cJSON *e = d_event("feed.checked");
        cJSON_AddNumberToObject(e, "subscription", (double)rt->id);
        cJSON_AddStringToObject(e, "address", s.address);
        cJSON_AddNumberToObject(e, "seq", (double)s.seq);
        cJSON_AddBoolToObject(e, "changed", changed);
        if (why)
            cJSON_AddStringToObject(e, "error", why);
        else
            cJSON_AddNullToObject(e, "error");
        d_emit(d, e);
    }
    if (state != MT_RESOLVE_FAILED)
        maybe_republish(d, rt);
}

/* Begin a lookup for rt (a DHT get, unless only a pushed item is
 * awaited). */
static int start_poll(mtd_daemon *d, sub_rt *rt, int skip_dht, mt_error *err)
{
    subs_mod *sm = S(d);
    mt_resolve_params p;
    int64_t seq = 0;
    mt_store_seq_get(d->st, rt->addr.pk, rt->addr.salt, rt->addr.salt_len, &seq, NULL);
    memset(&p, 0, sizeof p);
    p.addr = rt->addr;
    p.highest_seq = seq;
    p.max_manifest = (size_t)d->cfg->max_manifest;
    p.index_dir = d->index_dir;
    p.timeout_ms = d->cfg->resolve_timeout * 1000;
    p.skip_dht = skip_dht;
    int rc = mt_resolve_start(d->s, &p, &rt->res, err);
    if (rc == 0)
        sm->n_polling++;
    if (rc == 0 && !skip_dht)
        sm->dht_lookups++;
    return rc;
}

static void resolves_tick(mtd_daemon *d, subs_mod *sm);

static void mod_tick(mtd_daemon *d, void *state)
{
    subs_mod *sm = state;
    int64_t now = mt_now_ms();
    size_t active = 0;
    mt_error err;

    /* The loop wakes for every RPC line and engine event; scanning 10,000
     * subscriptions each time is wasted work. A sync or a new
     * subscription asks for the next scan at once. */
    resolves_tick(d, sm);
    if (now < sm->next_subs_tick_ms)
        return;
    sm->next_subs_tick_ms = now + SCHEDULE_TICK_MS;

    /* Token buckets: dht_budget lookups a minute, republish_budget re-puts
     * an hour; idle time does not bank more than one period's worth. */
    sm->dht_tokens += (double)(now - sm->tokens_ms) * d->cfg->dht_budget / 60000.0;
    if (sm->dht_tokens > d->cfg->dht_budget)
        sm->dht_tokens = d->cfg->dht_budget;
    sm->tokens_ms = now;
    if (now - sm->republish_refill_ms >= 3600000) {
        sm->republish_tokens = d->cfg->republish_budget;
        sm->republish_refill_ms = now;
    }
    for (size_t i = 0; i < sm->n_subs; i++) {
        sub_rt *rt = &sm->subs[i];
        if (!rt->res)
            continue;
        mt_resolve_tick(rt->res);
        if (mt_resolve_get_state(rt->res) != MT_RESOLVE_RUNNING)
            finish_poll(d, rt);
        else
            active++;
    }
    /* Round robin from where the last tick stopped: when the budget is
     * short, every due feed gets its turn instead of the first ones in
     * the table taking all of it. */
    size_t starved = SIZE_MAX, n = sm->n_subs;
    for (size_t k = 0; k < n && active < MTD_MAX_ACTIVE_POLLS; k++) {
        size_t i = (sm->poll_cursor + k) % n;
        sub_rt *rt = &sm->subs[i];
        if (rt->res || (!rt->sync_wanted && now < rt->next_poll_ms))
            continue;
        /* A sync asked for by a user goes ahead of the budget but is
         * still counted against it. */
        if (!rt->sync_wanted && sm->dht_tokens < 1.0) {
            if (starved == SIZE_MAX)
                starved = i;
            continue;
        }
        if (starved == SIZE_MAX)
            sm->poll_cursor = (i + 1) % n;
        rt->sync_wanted = 0;
        sm->dht_tokens -= 1.0;
        if (start_poll(d, rt, 0, &err) != 0) {
            log_warn("feed %lld: cannot start lookup: %s", (long long)rt->id, err.message);
            schedule(d, rt, 60000);
            continue;
        }
        active++;
    }
    if (starved != SIZE_MAX)
        sm->poll_cursor = starved;
    sm->n_polling = active;
}

#define PUSH_FEED_BURST 5.0

/*
 * Take one forward from the feed's bucket: push_feed_rate a minute, at most
 * PUSH_FEED_BURST saved up. A feed whose key holder signs updates faster
 * than that still gets them applied here, but this daemon stops relaying
 * them, so one key cannot make every subscriber flood the swarm. 1 if the
 * forward may go ahead.
 */
static int feed_forward_take(mtd_daemon *d, sub_rt *rt)
{
    int64_t now = mt_now_ms();
    double rate = d->cfg->push_feed_rate / 60000.0; /* tokens per ms */
    if (d->cfg->push_feed_rate == 0)
        return 0; /* relaying is off */
    if (rt->fwd_refill_ms == 0) {
        rt->fwd_tokens = PUSH_FEED_BURST;
    } else {
        rt->fwd_tokens += (double)(now - rt->fwd_refill_ms) * rate;
        if (rt->fwd_tokens > PUSH_FEED_BURST)
            rt->fwd_tokens = PUSH_FEED_BURST;
    }
    rt->fwd_refill_ms = now;
    if (rt->fwd_tokens < 1.0)
        return 0;
    rt->fwd_tokens -= 1.0;
    return 1;
}

/*
 * A peer pushed a signed item (the plugin verified its signature): offer it
 * to the feed's lookup like a DHT result, and pass it on, once per seq, to
 * push_fanout random other peers of the swarm it came in on (epidemic
 * relay: each copy costs one message per relay, not one per pair of
 * peers). Items of feeds we do not follow, or not above what we hold, go
 * nowhere, and a feed's relays are rate-limited: no amplification.
 */
static void on_push(mtd_daemon *d, const mt_event *ev)
{
    subs_mod *sm = S(d);
    mt_feedaddr a;
    mt_sub s;
    char reason[MT_ERROR_MSG_MAX], hex[41];
    sub_rt *rt;
    int queued = 0;

    sm->pushes_received++;
    memset(&a, 0, sizeof a);
    memcpy(a.pk, ev->pubkey, 32);
    memcpy(a.salt, ev->salt, ev->salt_len);
    a.salt_len = ev->salt_len;
    if (mt_store_sub_find(d->st, a.pk, a.salt, a.salt_len, &s, NULL) != 0 || !(rt = subs_find(d, s.id)))
        return;
    if (ev->seq <= rt->forwarded_seq) {
        log_debug("feed %lld: push of seq %lld from %s: already have it", (long long)s.id, (long long)ev->seq,
                  ev->endpoint);
        return;
    }
    if (!subs_push(d, &a, ev->seq, ev->data, ev->data_len, ev->signature, reason, sizeof reason)) {
        log_debug("feed %lld: push of seq %lld from %s refused: %s", (long long)s.id, (long long)ev->seq,
                  ev->endpoint, reason);
        return;
    }
    sm->pushes_accepted++;
    rt->forwarded_seq = ev->seq;
    mt_hex_encode(ev->target, 20, hex);
    if (!feed_forward_take(d, rt)) {
        sm->pushes_held++;
        log_info("feed %lld: seq %lld pushed by %s; not passed on (over push_feed_rate)", (long long)s.id,
                 (long long)ev->seq, ev->endpoint);
        return;
    }
    if (mt_push_send(d->s, ev->target, ev->pubkey, ev->salt, ev->salt_len, ev->seq, ev->data, ev->data_len,
                     ev->signature, ev->endpoint, d->cfg->push_fanout, &queued, NULL) == 0 && queued > 0)
        sm->pushes_forwarded += (uint64_t)queued;
    log_info("feed %lld: seq %lld pushed by %s; passed on to %d peers of %s", (long long)s.id,
             (long long)ev->seq, ev->endpoint, queued, hex);
}

static void mod_event(mtd_daemon *d, void *state, const mt_event *ev)
{
    subs_mod *sm = state;
    for (size_t i = 0; i < sm->n_resolves; i++)
        mt_resolve_event(sm->resolves[i].res, ev);
    if (ev->type == MT_EVENT_PUSH) {
        on_push(d, ev);
        return;
    }
    subs_export_event(d, ev);
    for (size_t i = 0; sm->n_polling && i < sm->n_subs; i++)
        if (sm->subs[i].res)
            mt_resolve_event(sm->subs[i].res, ev);
}

static int subs_sync(mtd_daemon *d, int64_t id)
{
    subs_mod *sm = S(d);
    int n = 0;
    for (size_t i = 0; i < sm->n_subs; i++) {
        if (id && sm->subs[i].id != id)
            continue;
        sm->subs[i].sync_wanted = 1;
        sm->next_subs_tick_ms = 0;
        n++;
    }
    return n;
}

static int subs_push(mtd_daemon *d, const mt_feedaddr *addr, int64_t seq, const uint8_t *v, size_t v_len,
                     const uint8_t sig[64], char *reason, size_t cap)
{
    mt_sub s;
    mt_error err;
    sub_rt *rt;
    int started = 0;

    if (mt_store_sub_find(d->st, addr->pk, addr->salt, addr->salt_len, &s, NULL) != 0 ||
        !(rt = subs_find(d, s.id))) {
        snprintf(reason, cap, "not a followed feed");
        return 0;
    }
    if (!rt->res) {
        if (start_poll(d, rt, 1, &err) != 0) {
            snprintf(reason, cap, "%s", err.message);
            return 0;
        }
        started = 1;
    }
    if (mt_resolve_offer(rt->res, seq, v, v_len, sig, &err) != 0) {
        snprintf(reason, cap, "%s", err.message);
        log_warn("feed %lld: pushed item refused: %s", (long long)s.id, err.message);
        if (started) {
            mt_resolve_free(rt->res, 0);
            rt->res = NULL;
        }
        return 0;
    }
    snprintf(reason, cap, "accepted for verification");
    return 1;
}

/* ---------------------------------------------------------------- JSON */

static cJSON *subs_json(mtd_daemon *d, const mt_sub *s)
{
    char hex[129];
    sub_rt *rt = subs_find(d, s->id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)s->id);
    cJSON_AddStringToObject(o, "address", s->address);
    mt_hex_encode(s->pk, 32, hex);
    cJSON_AddStringToObject(o, "public_key", hex);
    mt_hex_encode(s->salt, s->salt_len, hex);
    cJSON_AddStringToObject(o, "salt", hex);
    cJSON_AddNumberToObject(o, "seq", (double)s->seq);
    cJSON_AddNumberToObject(o, "items", (double)s->items);
    cJSON_AddStringToObject(o, "save_path", s->save_path[0] ? s->save_path : d->cfg->download_dir);
    cJSON_AddStringToObject(o, "include", s->include_re);
    cJSON_AddStringToObject(o, "exclude", s->exclude_re);
    cJSON_AddStringToObject(o, "category", s->category);
    cJSON_AddBoolToObject(o, "paused", s->add_paused);
    cJSON_AddNumberToObject(o, "max_items", s->max_items);
    cJSON_AddNumberToObject(o, "interval", s->interval_s ? s->interval_s : d->cfg->poll_interval);
    cJSON_AddNumberToObject(o, "last_poll_ms", (double)s->last_poll_ms);
    cJSON_AddNumberToObject(o, "next_poll_ms", rt ? (double)rt->next_poll_wall : 0);
    cJSON_AddBoolToObject(o, "polling", rt && rt->res);
    cJSON_AddNumberToObject(o, "last_update_ms", (double)s->last_update_ms);
    if (s->last_error[0])
        cJSON_AddStringToObject(o, "last_error", s->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    if (s->has_index_ih) {
        mt_hex_encode(s->index_ih, 20, hex);
        cJSON_AddStringToObject(o, "index_ih", hex);
    } else {
        cJSON_AddNullToObject(o, "index_ih");
    }
    return o;
}

/* params.id: a number, a string of digits, or a feed address. */
static int subs_resolve_address(mtd_daemon *d, const cJSON *params, mt_sub *out, char *msg, size_t cap)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "id");
    mt_feedaddr a;
    mt_error err;
    int64_t n = -1;

    if (!id) {
        snprintf(msg, cap, "id: required (a subscription id or feed address)");
        return MTD_RPC_INVALID_PARAMS;
    }
    if (cJSON_IsNumber(id)) {
        if (mt_json_get_int(id, &n) != 0 || n <= 0) {
            snprintf(msg, cap, "id: must be a positive integer");
            return MTD_RPC_INVALID_PARAMS;
        }
    } else if (cJSON_IsString(id)) {
        const char *t = id->valuestring;
        size_t len = strlen(t);
        if (len > 0 && len < 16 && strspn(t, "0123456789") == len) {
            n = strtoll(t, NULL, 10);
        } else if (mt_feedaddr_parse(t, &a, &err) != 0) {
            snprintf(msg, cap, "id: %s", err.message);
            return MTD_RPC_INVALID_PARAMS;
        } else if (mt_store_sub_find(d->st, a.pk, a.salt, a.salt_len, out, NULL) != 0) {
            snprintf(msg, cap, "not subscribed to %s", t);
            return MTD_RPC_NOT_FOUND;
        } else {
            return 0;
        }
    } else {
        snprintf(msg, cap, "id: must be a number or a string");
        return MTD_RPC_INVALID_PARAMS;
    }
    if (mt_store_sub_get(d->st, n, out, NULL) != 0) {
        snprintf(msg, cap, "no subscription %lld", (long long)n);
        return MTD_RPC_NOT_FOUND;
    }
    return 0;
}

/* ---------------------------------------------------------------- methods */

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
        torrents_remove_index_if_unused(d, s.index_ih);
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
    subs_mod *sm = S(d);
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
    if (sm->n_resolves == sm->cap_resolves) {
        size_t nc = sm->cap_resolves ? sm->cap_resolves * 2 : 4;
        rpc_resolve *nr = realloc(sm->resolves, nc * sizeof *nr);
        if (!nr)
            return snprintf(msg, cap, "out of memory"), MTD_RPC_INTERNAL_ERROR;
        sm->resolves = nr;
        sm->cap_resolves = nc;
    }
    /* Deferral is refused inside batches: answer now rather than look
     * the feed up for nobody. */
    if (mtd_rpc_defer(call, &rr.ticket) != 0)
        return snprintf(msg, cap, "resolve cannot be part of a batch"), MTD_RPC_INVALID_REQUEST;
    if (mt_resolve_start(d->s, &rp, &rr.res, &err) != 0) {
        mtd_rpc_reply_error(d->rpc, &rr.ticket, MTD_RPC_UNAVAILABLE, err.message);
        return MTD_RPC_DEFERRED;
    }
    sm->dht_lookups++;
    sm->resolves[sm->n_resolves++] = rr;
    return MTD_RPC_DEFERRED;
}

/* Answer finished "resolve" calls. */
static void resolves_tick(mtd_daemon *d, subs_mod *sm)
{
    for (size_t i = 0; i < sm->n_resolves; i++) {
        rpc_resolve *rr = &sm->resolves[i];
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
        sm->resolves[i] = sm->resolves[--sm->n_resolves];
        i--;
    }
}

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


void subs_get_stats(mtd_daemon *d, subs_stats *out)
{
    subs_mod *sm = S(d);
    out->subscriptions = sm->n_subs;
    out->dht_lookups = sm->dht_lookups;
    out->polls = sm->polls_done;
    out->pushes_received = sm->pushes_received;
    out->pushes_accepted = sm->pushes_accepted;
    out->pushes_forwarded = sm->pushes_forwarded;
    out->pushes_held = sm->pushes_held;
}

static const mtd_rpc_method subs_methods[] = {
    { "sub.add", m_sub_add },
    { "sub.list", m_sub_list },
    { "sub.items", m_sub_items },
    { "sub.remove", m_sub_remove },
    { "sub.sync", m_sub_sync },
    { "resolve", m_resolve },
    { "push", m_push },
    { NULL, NULL }
};

const mtd_module mtd_mod_subs = {
    .name = "subscriptions",
    .open = mod_open,
    .close = mod_close,
    .on_event = mod_event,
    .tick = mod_tick,
    .methods = subs_methods,
};
