/* feedindex.c - feed-index torrents: build, check pointers, resolve. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_feedindex.h"
#include "mt_pointer.h"
#include "mt_push.h"
#include "mt_seq.h"
#include "mt_util.h"

#define CHECK_EVERY_MS 250   /* index torrent progress poll while fetching */
#define PEER_RETRY_MS 5000   /* an index without peers: DHT lookup again this often */
#define FLUSH_WAIT_MS 15000  /* how long a finished index may lag on disk */

/* ---------------------------------------------------------------- build */

/* mkdir that accepts an existing directory. */
static int ensure_dir(const char *path, mt_error *err)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return mt_error_set(err, MT_EIO, "%s: %s", path, strerror(errno));
}

/* Remove a staging directory and the one file it may hold. */
static void remove_staging(const char *dir)
{
    char f[4096];
    if (snprintf(f, sizeof f, "%s/%s", dir, MT_FEEDINDEX_FILE) < (int)sizeof f)
        unlink(f);
    rmdir(dir);
}

int mt_feedindex_build(const char *json, size_t len, const char *dir,
                       const char *const *ws, size_t n_ws, uint8_t ih[20],
                       char *save_path, size_t cap, uint8_t **torrent,
                       size_t *torrent_len, mt_error *err)
{
    char stage[4000], file[4096], final[4096], hex[41];
    uint8_t *t = NULL;
    size_t tlen = 0;
    int has_v1 = 0, rc;

    if (!json || !dir || !ih || !save_path || !torrent || !torrent_len)
        return mt_error_set(err, MT_EINVAL, "feedindex: missing argument");
    *torrent = NULL;
    if ((rc = ensure_dir(dir, err)) != 0)
        return rc;
    /* Stage under a random name first: the final name is the info-hash,
     * known only once the torrent exists. */
    if (snprintf(stage, sizeof stage, "%s/.build-XXXXXX", dir) >= (int)sizeof stage)
        return mt_error_set(err, MT_EINVAL, "feedindex: directory path too long");
    if (!mkdtemp(stage))
        return mt_error_set(err, MT_EIO, "%s: %s", stage, strerror(errno));
    snprintf(file, sizeof file, "%s/%s", stage, MT_FEEDINDEX_FILE);
    rc = mt_file_write_atomic(file, json, len, 0644, 1, err);
    if (rc == 0) {
        mt_create_params cp;
        memset(&cp, 0, sizeof cp);
        cp.path = file;
        cp.version = MT_TORRENT_V1;
        cp.piece_size = MT_FEEDINDEX_PIECE;
        cp.web_seeds = ws;
        cp.num_web_seeds = n_ws;
        rc = mt_torrent_create(&cp, &t, &tlen, err);
    }
    if (rc == 0)
        rc = mt_torrent_info_hashes(t, tlen, ih, &has_v1, NULL, NULL, NULL, err);
    if (rc == 0 && !has_v1)
        rc = mt_error_set(err, MT_EENGINE, "feedindex: torrent has no v1 info-hash");
    if (rc != 0) {
        remove_staging(stage);
        mt_free(t);
        return rc;
    }
    mt_hex_encode(ih, 20, hex);
    if (snprintf(final, sizeof final, "%s/%s", dir, hex) >= (int)sizeof final ||
        strlen(final) >= cap) {
        remove_staging(stage);
        mt_free(t);
        return mt_error_set(err, MT_EINVAL, "feedindex: save path too long");
    }
    /* Same manifest, same info-hash: an existing directory already holds
     * these bytes, so the staging copy is simply dropped. */
    if (rename(stage, final) != 0) {
        int e = errno;
        remove_staging(stage);
        if (e != EEXIST && e != ENOTEMPTY) {
            mt_free(t);
            return mt_error_set(err, MT_EIO, "%s: %s", final, strerror(e));
        }
    }
    snprintf(save_path, cap, "%s", final);
    *torrent = t;
    *torrent_len = tlen;
    return 0;
}

/* ---------------------------------------------------------------- items */

int mt_feedindex_check_item(const mt_feedaddr *addr, int64_t seq, const uint8_t *v,
                            size_t v_len, const uint8_t sig[64], int64_t highest,
                            mt_pointer *out, mt_error *err)
{
    int rc;
    if (!addr || !v || !sig || !out)
        return mt_error_set(err, MT_EINVAL, "feed item: missing argument");
    memset(out, 0, sizeof *out);
    if (seq <= 0 || seq > MT_SEQ_MAX)
        return mt_error_set(err, MT_EINVAL, "seq: %lld is outside 1..2^53-1", (long long)seq);
    rc = mt_dht_verify_mutable(addr->pk, addr->salt, addr->salt_len, seq, v, v_len, sig, err);
    if (rc != 0)
        return mt_error_set(err, MT_ECRYPTO, "sig: not the feed key's signature of this item");
    if (seq <= highest)
        return mt_error_set(err, MT_ESTALE, "seq: %lld is not above the accepted %lld",
                            (long long)seq, (long long)highest);
    return mt_pointer_decode(v, v_len, out, err);
}

/* ---------------------------------------------------------------- resolve */

struct mt_resolve {
    mt_session       *s;
    mt_resolve_params p;
    char             *index_dir;
    uint8_t           target[20];
    int64_t           deadline_ms;
    mt_resolve_state  state;
    int               err_code;
    char              err_msg[2 * MT_ERROR_MSG_MAX];
    int               n_rejected;
    char              reject_msg[2 * MT_ERROR_MSG_MAX];
    int               reject_code;
    int               dht_done;      /* the authoritative answer came */
    /* The candidate being fetched (valid signature, seq above history). */
    int               have_cand;
    int64_t           cand_seq;
    uint8_t          *cand_v;
    size_t            cand_v_len;
    uint8_t           cand_sig[64];
    mt_pointer        cand_ptr;
    int               fetching;      /* waiting for the index torrent */
    int               fetch_added;   /* we added it (so we may remove it) */
    int64_t           next_check_ms;
    int64_t           next_peers_ms;  /* no peers for the index: look again then */
    int64_t           flush_wait_ms;  /* deadline for the file to catch up */
    int64_t           reject_seq;     /* seq of the last refused candidate */
    mt_resolve_result res;
};

/* Record why a candidate was refused; the lookup goes on. */
static void reject(mt_resolve *r, int code, const char *msg)
{
    r->n_rejected++;
    r->reject_code = code;
    r->reject_seq = r->have_cand ? r->cand_seq : 0;
    snprintf(r->reject_msg, sizeof r->reject_msg, "%s", msg);
}

static void fail(mt_resolve *r, int code, const char *msg)
{
    r->state = MT_RESOLVE_FAILED;
    r->err_code = code;
    snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
}

/* Forget the current candidate, removing an index torrent we added. */
static void drop_candidate(mt_resolve *r)
{
    if (r->fetching && r->fetch_added) {
        mt_push_keep_links(r->s, r->cand_ptr.ih, 0, NULL);
        mt_torrent_remove(r->s, r->cand_ptr.ih, 1, NULL);
    }
    r->fetching = 0;
    r->fetch_added = 0;
    r->flush_wait_ms = 0;
    r->have_cand = 0;
    free(r->cand_v);
    r->cand_v = NULL;
    r->cand_v_len = 0;
    mt_pointer_clear(&r->cand_ptr);
}

/* Once the DHT has said its last word and no candidate is left, the
 * lookup ends: unchanged, not found, or failed with the last refusal. */
static void settle_if_idle(mt_resolve *r)
{
    if (r->state != MT_RESOLVE_RUNNING || !r->dht_done || r->have_cand)
        return;
    if (r->n_rejected > 0)
        fail(r, r->reject_code, r->reject_msg);
    else if (r->p.highest_seq > 0)
        r->state = MT_RESOLVE_UNCHANGED;
    else
        fail(r, MT_ENOTFOUND, "no item for this feed in the DHT");
}

/* Verify the manifest a candidate led to; DONE on success. */
static void verify_manifest(mt_resolve *r, const char *json, size_t len)
{
    mt_manifest_expect e;
    mt_manifest *m = NULL;
    mt_error err;

    mt_manifest_expect_init(&e);
    e.public_key = r->p.addr.pk;
    e.highest_seq = r->p.highest_seq > 0 ? r->p.highest_seq : -1;
    e.dht_seq = r->cand_seq;
    e.read_key = r->p.addr.has_read_key ? r->p.addr.read_key : NULL;
    e.max_bytes = r->p.max_manifest;
    if (mt_manifest_load(json, len, &e, &m, &err) != 0) {
        char msg[2 * MT_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "manifest of seq %lld: %s", (long long)r->cand_seq, err.message);
        reject(r, err.code, msg);
        drop_candidate(r);
        settle_if_idle(r);
        return;
    }
    r->res.json = malloc(len + 1);
    if (!r->res.json) {
        mt_manifest_free(m);
        fail(r, MT_ENOMEM, "out of memory");
        return;
    }
    memcpy(r->res.json, json, len);
    r->res.json[len] = 0;
    r->res.json_len = len;
    r->res.manifest = m;
    r->res.seq = r->cand_seq;
    r->res.is_inline = r->cand_ptr.is_inline;
    memcpy(r->res.ih, r->cand_ptr.ih, 20);
    r->res.index_added = r->fetch_added;
    r->res.v = r->cand_v;
    r->res.v_len = r->cand_v_len;
    memcpy(r->res.sig, r->cand_sig, 64);
    r->cand_v = NULL;
    r->state = MT_RESOLVE_DONE;
}

/* The pointer names an ordinary torrent (plain BEP-46): that torrent is
 * the update. Our copy in the index dir goes; the owner adds it properly. */
static void found_torrent(mt_resolve *r, const char *name)
{
    if (r->fetch_added) {
        mt_push_keep_links(r->s, r->cand_ptr.ih, 0, NULL);
        mt_torrent_remove(r->s, r->cand_ptr.ih, 1, NULL);
    }
    r->fetching = 0;
    r->fetch_added = 0;
    r->res.is_torrent = 1;
    snprintf(r->res.name, sizeof r->res.name, "%s", name);
    r->res.seq = r->cand_seq;
    memcpy(r->res.ih, r->cand_ptr.ih, 20);
    r->res.v = r->cand_v;
    r->res.v_len = r->cand_v_len;
    memcpy(r->res.sig, r->cand_sig, 64);
    r->cand_v = NULL;
    r->state = MT_RESOLVE_DONE;
}

/*
 * Look at the index torrent: refuse it as soon as its metadata shows the
 * wrong shape or a size over the cap (before downloading), read and
 * verify the manifest once it is complete.
 */
static void check_index(mt_resolve *r)
{
    mt_torrent_status st;
    mt_file_info fi;
    int n = 0;
    char path[2200], msg[2 * MT_ERROR_MSG_MAX];
    char *json = NULL;
    size_t len = 0;
    mt_error err;
    size_t cap = r->p.max_manifest ? r->p.max_manifest : MT_MANIFEST_MAX;

    if (!r->fetching || r->state != MT_RESOLVE_RUNNING)
        return;
    if (mt_torrent_get_status(r->s, r->cand_ptr.ih, &st, &err) != 0)
        return;   /* being added or removed; look again later */
    if (st.error) {
        snprintf(msg, sizeof msg, "index torrent: %s", st.error_message);
        goto refuse;
    }
    if (!st.has_metadata) {
        /* Nobody to fetch from, e.g. the only seed restarted after we
         * looked it up: ask the DHT again rather than at libtorrent's next
         * scheduled lookup, 15 minutes away. */
        int64_t now = mt_now_ms();
        if (st.num_peers == 0 && now >= r->next_peers_ms) {
            if (r->next_peers_ms)
                mt_torrent_find_peers(r->s, r->cand_ptr.ih, NULL);
            r->next_peers_ms = now + PEER_RETRY_MS;
        }
        return;
    }
    if (mt_torrent_file_count(r->s, r->cand_ptr.ih, &n, NULL) != 0 || n < 1 ||
        mt_torrent_file_info(r->s, r->cand_ptr.ih, 0, &fi, NULL) != 0) {
        snprintf(msg, sizeof msg, "index torrent: no files");
        goto refuse;
    }
    if (n != 1 || strcmp(fi.path, MT_FEEDINDEX_FILE) != 0) {
        found_torrent(r, st.name);
        return;
    }
    if (fi.size < 0 || (uint64_t)fi.size > cap) {
        snprintf(msg, sizeof msg, "index torrent: manifest of %lld bytes is over the %zu-byte cap",
                 (long long)fi.size, cap);
        reject(r, MT_ETOOBIG, msg);
        drop_candidate(r);
        settle_if_idle(r);
        return;
    }
    if (st.state != MT_TS_FINISHED && st.state != MT_TS_SEEDING)
        return;
    if (snprintf(path, sizeof path, "%s/%s", st.save_path, fi.path) >= (int)sizeof path) {
        snprintf(msg, sizeof msg, "index torrent: path too long");
        goto refuse;
    }
    /* libtorrent 2 hashes pieces from its write buffer, so "finished" can
     * come before the bytes reach the file: a missing, short or partly
     * zero file is looked at again (no JSON text holds a NUL), for a
     * bounded time, before it counts as bad. */
    if (mt_file_read(path, cap, &json, &len, &err) != 0 || (int64_t)len != fi.size ||
        (len && memchr(json, 0, len))) {
        if (json)
            snprintf(err.message, sizeof err.message, "%zu of %lld bytes readable", len,
                     (long long)fi.size);
        free(json);
        if (r->flush_wait_ms == 0)
            r->flush_wait_ms = mt_now_ms() + FLUSH_WAIT_MS;
        if (mt_now_ms() < r->flush_wait_ms)
            return;
        snprintf(msg, sizeof msg, "index torrent: %s", err.message);
        goto refuse;
    }
    verify_manifest(r, json, len);
    free(json);
    return;
refuse:
    reject(r, MT_EINVAL, msg);
    drop_candidate(r);
    settle_if_idle(r);
}

/* Join the candidate's index swarm (or use the copy already present). */
static void start_fetch(mt_resolve *r)
{
    char hex[41], magnet[80], save[4096];
    mt_torrent_status st;
    mt_add_params ap;
    mt_error err;
    uint8_t id[20];

    mt_hex_encode(r->cand_ptr.ih, 20, hex);
    r->fetching = 1;
    r->fetch_added = 0;
    if (mt_torrent_get_status(r->s, r->cand_ptr.ih, &st, NULL) != 0) {
        snprintf(magnet, sizeof magnet, "magnet:?xt=urn:btih:%s", hex);
        snprintf(save, sizeof save, "%s/%s", r->index_dir, hex);
        memset(&ap, 0, sizeof ap);
        ap.magnet = magnet;
        ap.save_path = save;
        /* Where push is on, the index swarm carries pushed updates: keep its
         * seed-to-seed links from the start, or libtorrent closes the one to
         * the publisher as redundant the moment the index is complete.
         * Without push this fails with MT_ESTATE and changes nothing. */
        mt_push_keep_links(r->s, r->cand_ptr.ih, 1, NULL);
        int rc = mt_torrent_add(r->s, &ap, id, &err);
        if (rc != 0 && rc != MT_EEXIST) {
            char msg[2 * MT_ERROR_MSG_MAX];
            mt_push_keep_links(r->s, r->cand_ptr.ih, 0, NULL);
            snprintf(msg, sizeof msg, "index torrent: %s", err.message);
            reject(r, rc, msg);
            r->fetching = 0;
            drop_candidate(r);
            settle_if_idle(r);
            return;
        }
        r->fetch_added = rc == 0;
    }
    for (size_t i = 0; i < r->cand_ptr.n_ws; i++)
        mt_torrent_add_web_seed(r->s, r->cand_ptr.ih, r->cand_ptr.ws[i], NULL);
    r->next_check_ms = 0;
    r->next_peers_ms = 0;
    check_index(r);
}

/*
 * A signed item arrived (DHT answer or offer). Valid and newer than what
 * we hold: it becomes the candidate, replacing a lower one being fetched.
 */
static int take_item(mt_resolve *r, int64_t seq, const uint8_t *v, size_t v_len,
                     const uint8_t sig[64], mt_error *err)
{
    mt_pointer ptr;
    int64_t floor = r->p.highest_seq;
    int rc;

    if (r->state != MT_RESOLVE_RUNNING)
        return mt_error_set(err, MT_ESTATE, "lookup already finished");
    if (r->have_cand && r->cand_seq > floor)
        floor = r->cand_seq;
    rc = mt_feedindex_check_item(&r->p.addr, seq, v, v_len, sig, floor, &ptr, err);
    if (rc != 0)
        return rc;
    uint8_t *copy = malloc(v_len ? v_len : 1);
    if (!copy) {
        mt_pointer_clear(&ptr);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    memcpy(copy, v, v_len);
    drop_candidate(r);
    r->have_cand = 1;
    r->cand_seq = seq;
    r->cand_v = copy;
    r->cand_v_len = v_len;
    memcpy(r->cand_sig, sig, 64);
    r->cand_ptr = ptr;
    if (ptr.is_inline)
        verify_manifest(r, ptr.json, ptr.json_len);
    else
        start_fetch(r);
    return 0;
}

int mt_resolve_start(mt_session *s, const mt_resolve_params *p, mt_resolve **out,
                     mt_error *err)
{
    mt_resolve *r;
    int rc;

    if (!s || !p || !out || !p->index_dir)
        return mt_error_set(err, MT_EINVAL, "resolve: missing argument");
    *out = NULL;
    r = calloc(1, sizeof *r);
    if (!r || !(r->index_dir = strdup(p->index_dir))) {
        free(r);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    r->s = s;
    r->p = *p;
    r->p.index_dir = r->index_dir;
    r->deadline_ms = mt_now_ms() + (p->timeout_ms > 0 ? p->timeout_ms : 60000);
    /* Without a DHT get there is no last word to wait for: an offered
     * item that fails settles the lookup at once. */
    r->dht_done = p->skip_dht;
    if ((rc = mt_feedaddr_target(&p->addr, r->target, err)) != 0 ||
        (rc = ensure_dir(r->index_dir, err)) != 0) {
        mt_resolve_free(r, 0);
        return rc;
    }
    if (!p->skip_dht) {
        rc = mt_dht_get_mutable(s, p->addr.pk, p->addr.salt, p->addr.salt_len, r->target, err);
        if (rc != 0) {
            mt_resolve_free(r, 0);
            return rc;
        }
    }
    *out = r;
    return 0;
}

int mt_resolve_event(mt_resolve *r, const mt_event *ev)
{
    mt_error err;

    if (!r || !ev)
        return 0;
    if (ev->type == MT_EVENT_DHT_MUTABLE && memcmp(ev->target, r->target, 20) == 0) {
        if (ev->error == 0 && ev->data && r->state == MT_RESOLVE_RUNNING) {
            int rc = take_item(r, ev->seq, ev->data, ev->data_len, ev->signature, &err);
            /* An item at or below the accepted seq is the normal "nothing
             * new"; anything else that fails is worth reporting. */
            if (rc != 0 && rc != MT_ESTALE && rc != MT_ESTATE) {
                reject(r, rc, err.message);
                r->reject_seq = rc == MT_ECRYPTO ? 0 : ev->seq;
            }
        }
        if (ev->authoritative) {
            r->dht_done = 1;
            settle_if_idle(r);
        }
        return 1;
    }
    if (r->fetching && memcmp(ev->target, r->cand_ptr.ih, 20) == 0 &&
        (ev->type == MT_EVENT_TORRENT_METADATA || ev->type == MT_EVENT_TORRENT_FINISHED ||
         ev->type == MT_EVENT_TORRENT_ERROR || ev->type == MT_EVENT_TORRENT_ADDED ||
         ev->type == MT_EVENT_TORRENT_CHECKED)) {
        check_index(r);
        return 1;
    }
    return 0;
}

void mt_resolve_tick(mt_resolve *r)
{
    int64_t now;
    if (!r || r->state != MT_RESOLVE_RUNNING)
        return;
    now = mt_now_ms();
    if (r->fetching && now >= r->next_check_ms) {
        r->next_check_ms = now + CHECK_EVERY_MS;
        check_index(r);
        if (r->state != MT_RESOLVE_RUNNING)
            return;
    }
    if (now >= r->deadline_ms) {
        if (r->fetching)
            fail(r, MT_ETIMEDOUT, "timed out downloading the feed-index torrent");
        else if (r->n_rejected > 0)
            fail(r, r->reject_code, r->reject_msg);
        else if (r->p.skip_dht && r->p.highest_seq > 0)
            r->state = MT_RESOLVE_UNCHANGED;
        else
            fail(r, MT_ETIMEDOUT, "timed out waiting for the DHT");
    }
}

int mt_resolve_offer(mt_resolve *r, int64_t seq, const uint8_t *v, size_t v_len,
                     const uint8_t sig[64], mt_error *err)
{
    if (!r)
        return mt_error_set(err, MT_EINVAL, "resolve: missing argument");
    return take_item(r, seq, v, v_len, sig, err);
}

mt_resolve_state mt_resolve_get_state(const mt_resolve *r)
{
    return r ? r->state : MT_RESOLVE_FAILED;
}

int mt_resolve_error(const mt_resolve *r, const char **message)
{
    if (message)
        *message = r ? (r->state == MT_RESOLVE_FAILED ? r->err_msg : r->reject_msg) : "";
    return r ? (r->state == MT_RESOLVE_FAILED ? r->err_code : r->reject_code) : MT_EINVAL;
}

int mt_resolve_rejected(const mt_resolve *r, const char **last_reason, int64_t *last_seq)
{
    if (last_reason)
        *last_reason = r ? r->reject_msg : "";
    if (last_seq)
        *last_seq = r ? r->reject_seq : 0;
    return r ? r->n_rejected : 0;
}

const mt_resolve_result *mt_resolve_get_result(const mt_resolve *r)
{
    return r && r->state == MT_RESOLVE_DONE ? &r->res : NULL;
}

mt_manifest *mt_resolve_take_manifest(mt_resolve *r)
{
    mt_manifest *m;
    if (!r || r->state != MT_RESOLVE_DONE)
        return NULL;
    m = r->res.manifest;
    r->res.manifest = NULL;
    return m;
}

void mt_resolve_free(mt_resolve *r, int keep_index)
{
    if (!r)
        return;
    if (r->state == MT_RESOLVE_DONE) {
        if (r->res.index_added && !keep_index) {
            mt_push_keep_links(r->s, r->res.ih, 0, NULL);
            mt_torrent_remove(r->s, r->res.ih, 1, NULL);
        }
    } else {
        drop_candidate(r);
    }
    mt_manifest_free(r->res.manifest);
    free(r->res.json);
    free(r->res.v);
    free(r->cand_v);
    mt_pointer_clear(&r->cand_ptr);
    free(r->index_dir);
    free(r);
}
