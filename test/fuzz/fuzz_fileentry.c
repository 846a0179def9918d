/*
 * fuzz_fileentry.c - the FileEntry validator, mt_fileentry_check(), through
 * its readers: mt_fileentry_parse() on arbitrary bytes, a manifest draft
 * item, the validator on the parsed tree, and the round trip of what they
 * accept.
 *
 * Invariants:
 *  - failure: a known MT_E* code, err filled, *out left NULL;
 *  - one verdict: the same text is accepted as a FileEntry item of a
 *    manifest draft (mt_manifest_draft_add_entry) iff mt_fileentry_parse
 *    accepts it; when the text is strict JSON, mt_fileentry_check on its
 *    tree agrees too, and all three give the same message under their own
 *    paths ("x", "item 1.x", "items[0].x");
 *  - the chunks mt_fileentry_check hands to its callback are the entry's,
 *    in order, each within the rules;
 *  - success: n_chunks is the length of the chunks array; size is the sum
 *    of the chunks' data sizes; every blob id is valid and every chunk keeps
 *    the rules (length 16..MT_BLOB_BYTES, realSize -1 or within the
 *    plaintext, offset + data inside it); the name is non-empty and at most
 *    MT_NAME_MAX bytes; mt_fileentry_to_json succeeds, its text parses to
 *    the same entry field by field, and serialising that gives the same text
 *    byte for byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_blob.h"
#include "mt_fileentry.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The structural invariants of an accepted entry. */
static void check_entry(const mt_fileentry *fe)
{
    int64_t sum = 0;
    const char *nul = memchr(fe->name, '\0', sizeof fe->name);
    FUZZ_CHECK(nul && nul > fe->name && nul - fe->name <= MT_NAME_MAX, "name unterminated, empty or long");
    FUZZ_CHECK(fe->n_chunks == 0 || fe->chunks != NULL, "%zu chunks but no array", fe->n_chunks);
    for (size_t i = 0; i < fe->n_chunks; i++) {
        const mt_blob_chunk *c = &fe->chunks[i];
        int64_t d = mt_blob_chunk_data_size(c), plain = (int64_t)c->length - MT_BLOB_TAG;
        FUZZ_CHECK(mt_blob_id_valid(c->blob_id), "chunks[%zu]: invalid id accepted", i);
        FUZZ_CHECK(c->length >= MT_BLOB_TAG && c->length <= MT_BLOB_BYTES, "chunks[%zu]: length %u", i,
                   (unsigned)c->length);
        FUZZ_CHECK(c->real_size >= -1 && c->real_size <= plain, "chunks[%zu]: realSize %lld", i,
                   (long long)c->real_size);
        FUZZ_CHECK(d >= 0 && (int64_t)c->offset + d <= plain, "chunks[%zu]: data runs past the plaintext", i);
        sum += d;
    }
    FUZZ_CHECK(sum == fe->size, "size %lld but chunks hold %lld", (long long)fe->size, (long long)sum);
}

/* Two entries hold the same values. */
static void check_same(const mt_fileentry *a, const mt_fileentry *b)
{
    FUZZ_CHECK(strcmp(a->name, b->name) == 0, "name changed");
    FUZZ_CHECK(a->size == b->size, "size changed");
    FUZZ_CHECK(a->n_chunks == b->n_chunks, "chunk count changed: %zu -> %zu", a->n_chunks, b->n_chunks);
    FUZZ_CHECK((a->swarm == NULL) == (b->swarm == NULL) && (!a->swarm || strcmp(a->swarm, b->swarm) == 0),
               "swarm changed");
    for (size_t i = 0; i < a->n_chunks; i++) {
        const mt_blob_chunk *x = &a->chunks[i], *y = &b->chunks[i];
        FUZZ_CHECK(strcmp(x->blob_id, y->blob_id) == 0 && memcmp(x->key, y->key, 32) == 0 &&
                       memcmp(x->nonce, y->nonce, 12) == 0 && x->offset == y->offset &&
                       x->length == y->length && x->real_size == y->real_size,
                   "chunks[%zu] changed", i);
    }
}

/* The manifest's own check of a FileEntry item: 0 if it accepts text;
 * its message in *err. */
static int manifest_verdict(const char *text, size_t len, mt_error *err)
{
    mt_manifest_draft *d = NULL;
    int rc;
    if (mt_manifest_draft_new(&d, NULL) != 0)
        abort();
    fuzz_err_init(err);
    rc = mt_manifest_draft_add_entry(d, text, len, err);
    fuzz_check_result(rc, err, "mt_manifest_draft_add_entry");
    mt_manifest_draft_free(d);
    return rc;
}

/* Chunks seen by the validator's callback, checked as they come. */
typedef struct seen {
    size_t  n;
    int64_t data;
} seen;

static void on_chunk(void *ud, size_t i, const mt_fileentry_chunk *c)
{
    seen *s = ud;
    int64_t plain = (int64_t)c->length - 16;
    FUZZ_CHECK(i == s->n, "callback index %zu, expected %zu", i, s->n);
    FUZZ_CHECK(c->blob_id && mt_blob_id_valid(c->blob_id), "chunks[%zu]: callback id invalid", i);
    FUZZ_CHECK(c->length >= 16 && c->length <= MT_BLOB_BYTES, "chunks[%zu]: callback length %u", i,
               (unsigned)c->length);
    FUZZ_CHECK(c->real_size >= -1 && c->real_size <= plain, "chunks[%zu]: callback realSize", i);
    FUZZ_CHECK(c->data == (c->real_size >= 0 ? c->real_size : plain) && c->offset + c->data <= plain,
               "chunks[%zu]: callback data %lld", i, (long long)c->data);
    s->n++;
    s->data += c->data;
}

/* The validator on the strictly parsed tree (-1 when the text is not strict
 * JSON, so only the parser's verdict exists); its message in *err. */
static int validator_verdict(const char *text, size_t len, mt_error *err)
{
    mt_fileentry_info fi;
    cJSON *tree = NULL;
    seen s = {0, 0};
    int rc;
    if (mt_json_parse(text, len, MT_JSON_INTEGERS, MT_FILEENTRY_JSON_MAX, MT_MANIFEST_DEPTH, &tree, NULL) != 0)
        return -1;
    fuzz_err_init(err);
    rc = mt_fileentry_check(tree, "items[0]", on_chunk, &s, &fi, err);
    fuzz_check_result(rc, err, "mt_fileentry_check");
    if (rc == 0) {
        FUZZ_CHECK(s.n == fi.n_chunks && fi.n_chunks == (size_t)cJSON_GetArraySize(fi.chunks),
                   "callback saw %zu chunks, info says %zu", s.n, fi.n_chunks);
        FUZZ_CHECK(s.data == fi.size, "callback data %lld, size %lld", (long long)s.data, (long long)fi.size);
        FUZZ_CHECK(fi.name && fi.name[0] && strlen(fi.name) <= MT_NAME_MAX, "info name");
    }
    cJSON_Delete(tree);
    return rc;
}

/* b is a under prefix: "<prefix>.<a>". */
static int is_under(const char *b, const char *prefix, const char *a)
{
    size_t n = strlen(prefix);
    return strncmp(b, prefix, n) == 0 && b[n] == '.' && strcmp(b + n + 1, a) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_fileentry *fe = NULL, *fe2 = NULL;
    cJSON *tree = NULL;
    char *json = NULL, *json2 = NULL;
    size_t len = 0, len2 = 0;
    mt_error err, merr, verr;
    int rc, mrc, vrc;

    fuzz_err_init(&err);
    rc = mt_fileentry_parse((const char *)data, size, &fe, &err);
    fuzz_check_result(rc, &err, "mt_fileentry_parse");
    fuzz_feature("parse", rc ? err.message : "ok");
    if (size <= MT_MANIFEST_MAX) {
        mrc = manifest_verdict((const char *)data, size, &merr);
        FUZZ_CHECK((rc == 0) == (mrc == 0), "FileEntry parse says %d (%s), the manifest says %d", rc,
                   rc ? err.message : "ok", mrc);
        vrc = validator_verdict((const char *)data, size, &verr);
        if (vrc != -1) {
            FUZZ_CHECK(vrc == rc, "mt_fileentry_check says %d (%s), the parse %d (%s)", vrc,
                       vrc ? verr.message : "ok", rc, rc ? err.message : "ok");
            /* Messages are cut at MT_ERROR_MSG_MAX; compare whole ones. */
            if (rc && strlen(verr.message) < MT_ERROR_MSG_MAX - 8) {
                FUZZ_CHECK(is_under(verr.message, "items[0]", err.message), "validator \"%s\", parse \"%s\"",
                           verr.message, err.message);
                FUZZ_CHECK(mrc == rc && is_under(merr.message, "item 1", err.message),
                           "manifest \"%s\", parse \"%s\"", merr.message, err.message);
            }
        }
    }
    if (rc != 0) {
        FUZZ_CHECK(fe == NULL, "mt_fileentry_parse failed (%d) but set *out", rc);
        return 0;
    }
    FUZZ_CHECK(fe != NULL, "accepted without an entry");
    check_entry(fe);

    rc = mt_fileentry_to_json(fe, &json, &len, &err);
    FUZZ_CHECK(rc == 0, "to_json of an accepted entry failed: %s", err.message);
    FUZZ_CHECK(strlen(json) == len, "to_json length %zu, text %zu", len, strlen(json));
    /* The chunks array of what was written has n_chunks items. */
    FUZZ_CHECK(mt_json_parse(json, len, MT_JSON_INTEGERS, MT_FILEENTRY_JSON_MAX, MT_MANIFEST_DEPTH, &tree, &err) == 0,
               "own output is not strict JSON: %s", err.message);
    FUZZ_CHECK((size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tree, "chunks")) == fe->n_chunks,
               "written chunks array differs from n_chunks %zu", fe->n_chunks);
    cJSON_Delete(tree);

    rc = mt_fileentry_parse(json, len, &fe2, &err);
    FUZZ_CHECK(rc == 0, "own output refused: %s\n  %s", err.message, json);
    check_entry(fe2);
    check_same(fe, fe2);
    rc = mt_fileentry_to_json(fe2, &json2, &len2, &err);
    FUZZ_CHECK(rc == 0, "second to_json failed: %s", err.message);
    FUZZ_CHECK(len == len2 && memcmp(json, json2, len) == 0, "serialisation not stable:\n  %s\n  %s", json, json2);
    fuzz_feature("chunks", fe->n_chunks == 0 ? "none" : fe->n_chunks == 1 ? "one" : "many");
    fuzz_feature("swarm", fe->swarm ? "yes" : "no");

    free(json);
    free(json2);
    mt_fileentry_free(fe2);
    mt_fileentry_free(fe);
    return 0;
}
