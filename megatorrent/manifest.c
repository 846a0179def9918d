/* manifest.c - load, verify, validate, diff and sign manifests (see mt_manifest.h). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "members.h"
#include "mt_capi.h"
#include "mt_fileentry.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_util.h"

#define PATH_MAX_LEN 96 /* "collections[N].items[N].chunks[N].realSize" */

typedef struct coll {
    const char *title;
    size_t      n;
    mt_item    *items;
} coll;

struct mt_manifest {
    cJSON  *root;    /* the document as signed */
    cJSON  *body;    /* decrypted private body (owned), or NULL */
    uint8_t pk[32];
    int64_t seq;
    int64_t ts;      /* -1 while sealed */
    int     is_private;
    int     is_sealed;
    size_t  n_coll;
    coll   *colls;
};

/* ---------------------------------------------------------------- helpers */

static int starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if ((*s | 0x20) != (*prefix | 0x20))
            return 0;
    return 1;
}

/* Does s mention a BEP-46 public key parameter (xs=urn:btpk, maybe
 * percent-encoded)? Such links are feeds, not torrents. */
static int mentions_btpk(const char *s)
{
    for (; *s; s++)
        if (starts_with_ci(s, "btpk"))
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- items */

static int hashes_from_magnet(const char *uri, mt_item_hashes *h, const char *path, mt_error *err)
{
    mt_magnet_info mi;
    if (mt_magnet_parse(uri, &mi, err) != 0) {
        mt_error_prefix(err, path);
        return err ? err->code : MT_EINVAL;
    }
    h->has_v1 = mi.has_v1;
    h->has_v2 = mi.has_v2;
    memcpy(h->v1, mi.v1, 20);
    memcpy(h->v2, mi.v2, 32);
    memcpy(h->id, mi.id, 20);
    return MT_OK;
}

/* A FileEntry item (mt_fileentry.h has the rules); fills it. */
static int check_file(const cJSON *o, mt_item *it, const char *path, mt_error *err)
{
    mt_fileentry_info fi;
    char spath[PATH_MAX_LEN + 8];
    int rc;

    if ((rc = mt_fileentry_check(o, path, NULL, NULL, &fi, err)))
        return rc;
    it->kind = MT_ITEM_FILE;
    it->u.file.name = fi.name;
    it->u.file.size = fi.size;
    it->u.file.n_chunks = fi.n_chunks;
    if (fi.swarm) {
        /* The validator parsed it already; this keeps its hashes. */
        snprintf(spath, sizeof spath, "%s.swarm", path);
        if ((rc = hashes_from_magnet(fi.swarm, &it->u.file.swarm, spath, err)))
            return rc;
        it->u.file.has_swarm = 1;
    }
    return MT_OK;
}

/* Classify and validate one item; fills *it. */
static int check_item(const cJSON *v, mt_item *it, const char *path, mt_error *err)
{
    memset(it, 0, sizeof *it);
    it->json = v;
    if (cJSON_IsObject(v))
        return check_file(v, it, path, err);
    if (!cJSON_IsString(v))
        return mt_error_set(err, MT_EINVAL, "%s: must be a string or a FileEntry object", path);
    it->text = v->valuestring;
    if (!starts_with_ci(v->valuestring, "magnet:")) {
        /* Any text is accepted (the reference client signs what it is
         * given); whoever prints it strips control characters. */
        it->kind = MT_ITEM_TEXT;
        return MT_OK;
    }
    if (mentions_btpk(v->valuestring)) {
        it->kind = MT_ITEM_FEED;
        if (mt_feedaddr_parse(v->valuestring, &it->u.feed, err) != 0) {
            mt_error_prefix(err, path);
            return err ? err->code : MT_EINVAL;
        }
        return MT_OK;
    }
    it->kind = MT_ITEM_MAGNET;
    return hashes_from_magnet(v->valuestring, &it->u.magnet, path, err);
}

const char *mt_item_kind_name(mt_item_kind kind)
{
    switch (kind) {
    case MT_ITEM_MAGNET: return "magnet";
    case MT_ITEM_FEED:   return "feed";
    case MT_ITEM_FILE:   return "file";
    case MT_ITEM_TEXT:   return "text";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- body */

static void free_colls(mt_manifest *m)
{
    for (size_t i = 0; i < m->n_coll; i++)
        free(m->colls[i].items);
    free(m->colls);
    m->colls = NULL;
    m->n_coll = 0;
}

/* One collection {title, items}. */
static int check_collection(const cJSON *c, size_t ci, coll *out, mt_error *err)
{
    char path[PATH_MAX_LEN];
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(c, "title");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(c, "items");
    const cJSON *v;
    size_t i = 0;
    int rc;

    snprintf(path, sizeof path, "collections[%zu]", ci);
    if (!cJSON_IsObject(c))
        return mt_error_set(err, MT_EINVAL, "%s: must be an object", path);
    if (!cJSON_IsString(title))
        return mt_error_set(err, MT_EINVAL, "%s.title: must be a string", path);
    if (!cJSON_IsArray(items))
        return mt_error_set(err, MT_EINVAL, "%s.items: must be an array", path);
    out->title = title->valuestring;
    out->n = (size_t)cJSON_GetArraySize(items);
    out->items = out->n ? calloc(out->n, sizeof *out->items) : NULL;
    if (out->n && !out->items)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    cJSON_ArrayForEach(v, items) {
        snprintf(path, sizeof path, "collections[%zu].items[%zu]", ci, i);
        if ((rc = check_item(v, &out->items[i], path, err)))
            return rc;
        i++;
    }
    return MT_OK;
}

/* The readable members of body (the document, or a decrypted private
 * body): timestamp, collections, topics, metadata. Fills m on success. */
static int check_body(mt_manifest *m, const cJSON *body, mt_error *err)
{
    const cJSON *colls = cJSON_GetObjectItemCaseSensitive(body, "collections");
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(body, "topics");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    const cJSON *c;
    size_t i = 0;
    int64_t ts;
    int rc;

    if ((rc = mtf_member_int(body, "timestamp", 0, MT_JSON_SAFE_INT, &ts, "", err)))
        return rc;
    if (!cJSON_IsArray(colls))
        return mt_error_set(err, MT_EINVAL, "collections: must be an array");
    if (topics) {
        if (!cJSON_IsArray(topics))
            return mt_error_set(err, MT_EINVAL, "topics: must be an array of strings");
        cJSON_ArrayForEach(c, topics) {
            if (!cJSON_IsString(c))
                return mt_error_set(err, MT_EINVAL, "topics[%zu]: must be a string", i);
            i++;
        }
    }
    if (meta && !cJSON_IsObject(meta))
        return mt_error_set(err, MT_EINVAL, "metadata: must be an object");
    free_colls(m);
    m->n_coll = (size_t)cJSON_GetArraySize(colls);
    m->colls = m->n_coll ? calloc(m->n_coll, sizeof *m->colls) : NULL;
    if (m->n_coll && !m->colls) {
        m->n_coll = 0;
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    i = 0;
    cJSON_ArrayForEach(c, colls) {
        if ((rc = check_collection(c, i, &m->colls[i], err))) {
            free_colls(m);
            return rc;
        }
        i++;
    }
    m->ts = ts;
    return MT_OK;
}

/* ---------------------------------------------------------------- load */

void mt_manifest_expect_init(mt_manifest_expect *e)
{
    memset(e, 0, sizeof *e);
    e->highest_seq = -1;
    e->dht_seq = -1;
}

/* Ed25519 over the canonical JSON of root without "signature". */
static int check_signature(cJSON *root, const uint8_t pk[32], mt_error *err)
{
    cJSON *sigj = cJSON_DetachItemFromObjectCaseSensitive(root, "signature");
    uint8_t sig[64];
    char *canon = NULL, pkhex[65];
    size_t len = 0;
    int rc;

    if (!sigj)
        return mt_error_set(err, MT_EINVAL, "signature: missing");
    if (!cJSON_IsString(sigj) || !mtf_lower_hex(sigj->valuestring, 64)) {
        cJSON_AddItemToObject(root, "signature", sigj);
        return mt_error_set(err, MT_EINVAL, "signature: must be 128 lower-case hex digits");
    }
    mt_hex_decode(sigj->valuestring, sig, 64);
    rc = mt_json_canonical(root, &canon, &len, err);
    cJSON_AddItemToObject(root, "signature", sigj);
    if (rc)
        return rc;
    if (crypto_sign_verify_detached(sig, (const unsigned char *)canon, len, pk) != 0) {
        mt_hex_encode(pk, 32, pkhex);
        rc = mt_error_set(err, MT_ECRYPTO, "signature: does not verify under publicKey %s", pkhex);
    }
    free(canon);
    return rc;
}

/* Key and sequence rules against what the caller knows. */
static int check_expect(const mt_manifest *m, const mt_manifest_expect *e, mt_error *err)
{
    char want[65], got[65];
    if (e->public_key && sodium_memcmp(e->public_key, m->pk, 32) != 0) {
        mt_hex_encode(e->public_key, 32, want);
        mt_hex_encode(m->pk, 32, got);
        return mt_error_set(err, MT_ECRYPTO, "publicKey: is %s, but the feed's key is %s", got, want);
    }
    if (e->highest_seq >= 0 && m->seq <= e->highest_seq)
        return mt_error_set(err, MT_ESTALE,
                            "sequence: %" PRId64 " is not above %" PRId64
                            ", the highest accepted for this feed (replay or rollback)",
                            m->seq, e->highest_seq);
    if (e->dht_seq >= 0 && m->seq != e->dht_seq)
        return mt_error_set(err, MT_EINVAL, "sequence: %" PRId64 " differs from the DHT item's seq %" PRId64,
                            m->seq, e->dht_seq);
    return MT_OK;
}

/* Top-level members common to both forms, then the form's own. */
static int check_envelope(mt_manifest *m, mt_error *err)
{
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(m->root, "encrypted");
    int rc;
    if ((rc = mtf_member_hex(m->root, "publicKey", 32, m->pk, NULL, "", err)) ||
        (rc = mtf_member_int(m->root, "sequence", 0, MT_JSON_SAFE_INT, &m->seq, "", err)))
        return rc;
    if (!enc)
        return MT_OK;
    if (!cJSON_IsTrue(enc))
        return mt_error_set(err, MT_EINVAL, "encrypted: must be true when present");
    m->is_private = 1;
    m->is_sealed = 1;
    m->ts = -1;
    if ((rc = mtf_member_hex(m->root, "nonce", crypto_secretbox_NONCEBYTES, NULL, NULL, "", err)))
        return rc;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(m->root, "ciphertext");
    size_t n = cJSON_IsString(ct) ? strlen(ct->valuestring) : 0;
    if (!cJSON_IsString(ct) || n < 2 * crypto_secretbox_MACBYTES || n % 2 ||
        !mtf_lower_hex(ct->valuestring, n / 2))
        return mt_error_set(err, MT_EINVAL, "ciphertext: must be lower-case hex of at least %d bytes",
                            crypto_secretbox_MACBYTES);
    if (cJSON_GetObjectItemCaseSensitive(m->root, "collections"))
        return mt_error_set(err, MT_EINVAL, "collections: must not appear outside the ciphertext of a private manifest");
    return MT_OK;
}

int mt_manifest_load(const char *json, size_t len, const mt_manifest_expect *e, mt_manifest **out,
                     mt_error *err)
{
    mt_manifest_expect none;
    mt_manifest *m;
    size_t cap;
    int rc;

    if (!json || !out)
        return mt_error_set(err, MT_EINVAL, "json and out are required");
    if (!e) {
        mt_manifest_expect_init(&none);
        e = &none;
    }
    cap = e->max_bytes ? e->max_bytes : MT_MANIFEST_MAX;
    if (len > cap)
        return mt_error_set(err, MT_ETOOBIG, "manifest: is %zu bytes; the cap is %zu", len, cap);
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    m = calloc(1, sizeof *m);
    if (!m)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    rc = mt_json_parse(json, len, MT_JSON_INTEGERS, cap, MT_MANIFEST_DEPTH, &m->root, err);
    if (rc) {
        mt_error_prefix(err, "manifest");
        goto fail;
    }
    if (!cJSON_IsObject(m->root)) {
        rc = mt_error_set(err, MT_EINVAL, "manifest: must be a JSON object");
        goto fail;
    }
    if ((rc = check_envelope(m, err)) || (rc = check_signature(m->root, m->pk, err)) ||
        (rc = check_expect(m, e, err)))
        goto fail;
    if (!m->is_private)
        rc = check_body(m, m->root, err);
    else if (e->read_key)
        rc = mt_manifest_decrypt(m, e->read_key, err);
    if (rc)
        goto fail;
    *out = m;
    return MT_OK;
fail:
    mt_manifest_free(m);
    return rc;
}

int mt_manifest_decrypt(mt_manifest *m, const uint8_t read_key[32], mt_error *err)
{
    const cJSON *ct, *noncej;
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    uint8_t *box = NULL, *plain = NULL;
    size_t blen;
    cJSON *body = NULL;
    int rc;

    if (!m || !read_key)
        return mt_error_set(err, MT_EINVAL, "manifest and read key are required");
    if (!m->is_sealed)
        return mt_error_set(err, MT_ESTATE, "manifest is not a sealed private manifest");
    ct = cJSON_GetObjectItemCaseSensitive(m->root, "ciphertext");
    noncej = cJSON_GetObjectItemCaseSensitive(m->root, "nonce");
    mt_hex_decode(noncej->valuestring, nonce, sizeof nonce);
    blen = strlen(ct->valuestring) / 2;
    box = malloc(blen);
    plain = malloc(blen - crypto_secretbox_MACBYTES + 1);
    if (!box || !plain) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    mt_hex_decode(ct->valuestring, box, blen);
    if (crypto_secretbox_open_easy(plain, box, blen, nonce, read_key) != 0) {
        rc = mt_error_set(err, MT_ECRYPTO, "ciphertext: does not open with this read key");
        goto out;
    }
    rc = mt_json_parse((const char *)plain, blen - crypto_secretbox_MACBYTES, MT_JSON_INTEGERS, blen,
                       MT_MANIFEST_DEPTH, &body, err);
    if (rc) {
        mt_error_prefix(err, "ciphertext (decrypted)");
        goto out;
    }
    if (!cJSON_IsObject(body)) {
        rc = mt_error_set(err, MT_EINVAL, "ciphertext (decrypted): must be a JSON object");
        goto out;
    }
    if ((rc = check_body(m, body, err)))
        goto out;
    m->body = body;
    body = NULL;
    m->is_sealed = 0;
out:
    cJSON_Delete(body);
    free(box);
    if (plain)
        sodium_memzero(plain, blen - crypto_secretbox_MACBYTES);
    free(plain);
    return rc;
}

void mt_manifest_free(mt_manifest *m)
{
    if (!m)
        return;
    free_colls(m);
    cJSON_Delete(m->body);
    cJSON_Delete(m->root);
    free(m);
}

const uint8_t *mt_manifest_public_key(const mt_manifest *m) { return m->pk; }
int64_t mt_manifest_sequence(const mt_manifest *m) { return m->seq; }
int64_t mt_manifest_timestamp(const mt_manifest *m) { return m->ts; }
int mt_manifest_is_private(const mt_manifest *m) { return m->is_private; }
int mt_manifest_is_sealed(const mt_manifest *m) { return m->is_sealed; }
const cJSON *mt_manifest_json(const mt_manifest *m) { return m->root; }

/* The object holding the readable members, or NULL while sealed. */
static const cJSON *readable(const mt_manifest *m)
{
    return m->is_sealed ? NULL : m->body ? m->body : m->root;
}

const cJSON *mt_manifest_topics(const mt_manifest *m)
{
    return readable(m) ? cJSON_GetObjectItemCaseSensitive(readable(m), "topics") : NULL;
}

const cJSON *mt_manifest_metadata(const mt_manifest *m)
{
    return readable(m) ? cJSON_GetObjectItemCaseSensitive(readable(m), "metadata") : NULL;
}

size_t mt_manifest_collection_count(const mt_manifest *m) { return m->n_coll; }

const char *mt_manifest_collection_title(const mt_manifest *m, size_t c)
{
    return c < m->n_coll ? m->colls[c].title : NULL;
}

size_t mt_manifest_item_count(const mt_manifest *m, size_t c)
{
    return c < m->n_coll ? m->colls[c].n : 0;
}

const mt_item *mt_manifest_item(const mt_manifest *m, size_t c, size_t i)
{
    return c < m->n_coll && i < m->colls[c].n ? &m->colls[c].items[i] : NULL;
}

size_t mt_manifest_total_items(const mt_manifest *m)
{
    size_t n = 0;
    for (size_t c = 0; c < m->n_coll; c++)
        n += m->colls[c].n;
    return n;
}

/* ---------------------------------------------------------------- diff */

typedef struct diff_key {
    const char    *title;
    char          *canon; /* canonical JSON of the item */
    const mt_item *item;
    size_t         order; /* position in its manifest */
    int            matched;
} diff_key;

static int diff_key_cmp(const void *a, const void *b)
{
    const diff_key *x = a, *y = b;
    int c = strcmp(x->title, y->title);
    return c ? c : strcmp(x->canon, y->canon);
}

static int diff_order_cmp(const void *a, const void *b)
{
    const diff_key *x = *(const diff_key *const *)a, *y = *(const diff_key *const *)b;
    return (x->order > y->order) - (x->order < y->order);
}

static void free_keys(diff_key *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(k[i].canon);
    free(k);
}

/* Every item of m with its canonical JSON, sorted by (title, canon). */
static int diff_keys(const mt_manifest *m, diff_key **out, size_t *n_out, mt_error *err)
{
    size_t n = m ? mt_manifest_total_items(m) : 0, k = 0;
    diff_key *keys = calloc(n ? n : 1, sizeof *keys);
    int rc;
    if (!keys)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    for (size_t c = 0; m && c < m->n_coll; c++) {
        for (size_t i = 0; i < m->colls[c].n; i++, k++) {
            keys[k].title = m->colls[c].title;
            keys[k].item = &m->colls[c].items[i];
            keys[k].order = k;
            if ((rc = mt_json_canonical(keys[k].item->json, &keys[k].canon, NULL, err))) {
                free_keys(keys, k);
                return rc;
            }
        }
    }
    qsort(keys, n, sizeof *keys, diff_key_cmp);
    *out = keys;
    *n_out = n;
    return MT_OK;
}

/* Append the unmatched keys of one side, in manifest order. */
static int diff_emit(diff_key *keys, size_t n, int added, mt_manifest_diff *d, mt_error *err)
{
    diff_key **un = calloc(n ? n : 1, sizeof *un);
    size_t k = 0;
    if (!un)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!keys[i].matched)
            un[k++] = &keys[i];
    qsort(un, k, sizeof *un, diff_order_cmp);
    for (size_t i = 0; i < k; i++) {
        mt_manifest_change *ch = &d->changes[d->n_changes++];
        ch->added = added;
        ch->collection = un[i]->title;
        ch->item = un[i]->item;
    }
    if (added)
        d->n_added = k;
    else
        d->n_removed = k;
    free(un);
    return MT_OK;
}

int mt_manifest_diff_compute(const mt_manifest *old_m, const mt_manifest *new_m, mt_manifest_diff *out,
                             mt_error *err)
{
    diff_key *a = NULL, *b = NULL;
    size_t na = 0, nb = 0, i = 0, j = 0;
    int rc;

    if (!new_m || !out)
        return mt_error_set(err, MT_EINVAL, "new manifest and out are required");
    memset(out, 0, sizeof *out);
    if ((old_m && old_m->is_sealed) || new_m->is_sealed)
        return mt_error_set(err, MT_ENEEDKEY, "a private manifest must be decrypted before it can be compared");
    if ((rc = diff_keys(old_m, &a, &na, err)) || (rc = diff_keys(new_m, &b, &nb, err)))
        goto out;
    /* Merge two sorted lists; equal pairs cancel, one for one. */
    while (i < na && j < nb) {
        int c = diff_key_cmp(&a[i], &b[j]);
        if (c == 0)
            a[i++].matched = b[j++].matched = 1;
        else if (c < 0)
            i++;
        else
            j++;
    }
    out->changes = calloc(na + nb ? na + nb : 1, sizeof *out->changes);
    if (!out->changes) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = diff_emit(a, na, 0, out, err)) || (rc = diff_emit(b, nb, 1, out, err)))
        mt_manifest_diff_clear(out);
out:
    free_keys(a, na);
    free_keys(b, nb);
    return rc;
}

void mt_manifest_diff_clear(mt_manifest_diff *d)
{
    if (!d)
        return;
    free(d->changes);
    memset(d, 0, sizeof *d);
}

/* --------------------------------------------------------------- drafts */

struct mt_manifest_draft {
    cJSON *collections; /* array of {title, items} */
    cJSON *current;     /* items array items go into, or NULL */
    size_t n_current;   /* items in it (cJSON counts by walking) */
    cJSON *topics;      /* array or NULL */
    cJSON *metadata;    /* object or NULL */
};

int mt_manifest_draft_new(mt_manifest_draft **out, mt_error *err)
{
    mt_manifest_draft *d = calloc(1, sizeof *d);
    if (!out)
        return mt_error_set(err, MT_EINVAL, "out is required");
    if (!d || !(d->collections = cJSON_CreateArray())) {
        free(d);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    *out = d;
    return MT_OK;
}

void mt_manifest_draft_free(mt_manifest_draft *d)
{
    if (!d)
        return;
    cJSON_Delete(d->collections);
    cJSON_Delete(d->topics);
    cJSON_Delete(d->metadata);
    free(d);
}

int mt_manifest_draft_add_collection(mt_manifest_draft *d, const char *title, mt_error *err)
{
    cJSON *c, *items;
    if (!d || !title)
        return mt_error_set(err, MT_EINVAL, "draft and title are required");
    if (!mt_json_utf8_valid(title))
        return mt_error_set(err, MT_EINVAL, "collection title is not valid UTF-8");
    c = cJSON_CreateObject();
    items = cJSON_CreateArray();
    if (!c || !items || !cJSON_AddStringToObject(c, "title", title)) {
        cJSON_Delete(c);
        cJSON_Delete(items);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(c, "items", items);
    cJSON_AddItemToArray(d->collections, c);
    d->current = items;
    d->n_current = 0;
    return MT_OK;
}

/* Validate v as an item and append it to the current collection (taking
 * ownership either way). */
static int draft_append(mt_manifest_draft *d, cJSON *v, mt_error *err)
{
    mt_item it;
    char path[64];
    int rc;
    if (!d->current && (rc = mt_manifest_draft_add_collection(d, "Default", err))) {
        cJSON_Delete(v);
        return rc;
    }
    snprintf(path, sizeof path, "item %zu", d->n_current + 1);
    if ((rc = check_item(v, &it, path, err))) {
        cJSON_Delete(v);
        return rc;
    }
    cJSON_AddItemToArray(d->current, v);
    d->n_current++;
    return MT_OK;
}

int mt_manifest_draft_add_item(mt_manifest_draft *d, const char *item, mt_error *err)
{
    cJSON *v;
    if (!d || !item)
        return mt_error_set(err, MT_EINVAL, "draft and item are required");
    if (!mt_json_utf8_valid(item))
        return mt_error_set(err, MT_EINVAL, "item is not valid UTF-8");
    if (!(v = cJSON_CreateString(item)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    return draft_append(d, v, err);
}

int mt_manifest_draft_add_entry(mt_manifest_draft *d, const char *json, size_t len, mt_error *err)
{
    cJSON *v = NULL;
    int rc;
    if (!d || !json)
        return mt_error_set(err, MT_EINVAL, "draft and json are required");
    if ((rc = mt_json_parse(json, len, MT_JSON_INTEGERS, MT_MANIFEST_MAX, MT_MANIFEST_DEPTH, &v, err))) {
        mt_error_prefix(err, "FileEntry");
        return rc;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return mt_error_set(err, MT_EINVAL, "FileEntry: must be a JSON object");
    }
    return draft_append(d, v, err);
}

int mt_manifest_draft_add_topic(mt_manifest_draft *d, const char *topic, mt_error *err)
{
    if (!d || !topic)
        return mt_error_set(err, MT_EINVAL, "draft and topic are required");
    if (!mt_json_utf8_valid(topic))
        return mt_error_set(err, MT_EINVAL, "topic is not valid UTF-8");
    if (!d->topics && !(d->topics = cJSON_CreateArray()))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    cJSON_AddItemToArray(d->topics, cJSON_CreateString(topic));
    return MT_OK;
}

int mt_manifest_draft_set_metadata(mt_manifest_draft *d, const char *json, size_t len, mt_error *err)
{
    cJSON *v = NULL;
    int rc;
    if (!d || !json)
        return mt_error_set(err, MT_EINVAL, "draft and json are required");
    if ((rc = mt_json_parse(json, len, MT_JSON_INTEGERS, MT_MANIFEST_MAX, MT_MANIFEST_DEPTH - 1, &v, err))) {
        mt_error_prefix(err, "metadata");
        return rc;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return mt_error_set(err, MT_EINVAL, "metadata: must be a JSON object");
    }
    cJSON_Delete(d->metadata);
    d->metadata = v;
    return MT_OK;
}

/* {collections, timestamp, topics?, metadata?}: copies of the draft's parts. */
static cJSON *draft_body(const mt_manifest_draft *d, int64_t ts)
{
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return NULL;
    cJSON_AddItemToObject(b, "collections", cJSON_Duplicate(d->collections, 1));
    cJSON_AddNumberToObject(b, "timestamp", (double)ts);
    if (d->topics)
        cJSON_AddItemToObject(b, "topics", cJSON_Duplicate(d->topics, 1));
    if (d->metadata)
        cJSON_AddItemToObject(b, "metadata", cJSON_Duplicate(d->metadata, 1));
    if (!cJSON_GetObjectItemCaseSensitive(b, "collections") || !cJSON_GetObjectItemCaseSensitive(b, "timestamp") ||
        (d->topics && !cJSON_GetObjectItemCaseSensitive(b, "topics")) ||
        (d->metadata && !cJSON_GetObjectItemCaseSensitive(b, "metadata"))) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* Replace body's readable members by {encrypted, nonce, ciphertext}. */
static int seal_body(cJSON **doc, const uint8_t read_key[32], mt_error *err)
{
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    char noncehex[2 * sizeof nonce + 1];
    char *plain = NULL, *hex = NULL;
    uint8_t *box = NULL;
    size_t plen = 0;
    cJSON *sealed;
    int rc;

    if ((rc = mt_json_canonical(*doc, &plain, &plen, err)))
        return rc;
    box = malloc(plen + crypto_secretbox_MACBYTES);
    hex = malloc(2 * (plen + crypto_secretbox_MACBYTES) + 1);
    sealed = cJSON_CreateObject();
    if (!box || !hex || !sealed) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    randombytes_buf(nonce, sizeof nonce);
    crypto_secretbox_easy(box, (const uint8_t *)plain, plen, nonce, read_key);
    mt_hex_encode(box, plen + crypto_secretbox_MACBYTES, hex);
    mt_hex_encode(nonce, sizeof nonce, noncehex);
    cJSON_AddTrueToObject(sealed, "encrypted");
    cJSON_AddStringToObject(sealed, "nonce", noncehex);
    if (!cJSON_AddStringToObject(sealed, "ciphertext", hex)) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_Delete(*doc);
    *doc = sealed;
    sealed = NULL;
out:
    cJSON_Delete(sealed);
    if (plain)
        sodium_memzero(plain, plen);
    free(plain);
    free(box);
    free(hex);
    return rc;
}

int mt_manifest_draft_sign(const mt_manifest_draft *d, const mt_identity *id, int64_t seq,
                           int64_t timestamp_ms, const uint8_t *read_key, char **json, size_t *len,
                           mt_error *err)
{
    char pkhex[65], sighex[129];
    uint8_t sig[64];
    char *canon = NULL;
    size_t clen = 0;
    cJSON *doc;
    int rc;

    if (!d || !id || !json)
        return mt_error_set(err, MT_EINVAL, "draft, identity and json are required");
    if (seq < 0 || seq > MT_JSON_SAFE_INT || timestamp_ms < 0 || timestamp_ms > MT_JSON_SAFE_INT)
        return mt_error_set(err, MT_EINVAL, "sequence and timestamp must be integers from 0 to 2^53-1");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    if (!(doc = draft_body(d, timestamp_ms)))
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    if (read_key && (rc = seal_body(&doc, read_key, err)))
        goto out;
    mt_hex_encode(mt_identity_public_key(id), 32, pkhex);
    cJSON_AddStringToObject(doc, "publicKey", pkhex);
    cJSON_AddNumberToObject(doc, "sequence", (double)seq);
    if ((rc = mt_json_canonical(doc, &canon, &clen, err)))
        goto out;
    crypto_sign_detached(sig, NULL, (const uint8_t *)canon, clen, mt_identity_secret_key(id));
    free(canon);
    canon = NULL;
    mt_hex_encode(sig, 64, sighex);
    if (!cJSON_AddStringToObject(doc, "signature", sighex)) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    rc = mt_json_canonical(doc, json, len, err);
out:
    cJSON_Delete(doc);
    return rc;
}
