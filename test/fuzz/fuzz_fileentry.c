/*
 * fuzz_fileentry.c - mt_fileentry_parse() on arbitrary bytes, and the round
 * trip of what it accepts.
 *
 * Invariants:
 *  - failure: a known MT_E* code, err filled, *out left NULL;
 *  - the verdict is the manifest's: the same text is accepted as a
 *    FileEntry item of a manifest draft (mt_manifest_draft_add_entry) iff
 *    mt_fileentry_parse accepts it;
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

/* The manifest's own check of a FileEntry item: 0 if it accepts text. */
static int manifest_verdict(const char *text, size_t len)
{
    mt_manifest_draft *d = NULL;
    mt_error err;
    int rc;
    if (mt_manifest_draft_new(&d, NULL) != 0)
        abort();
    fuzz_err_init(&err);
    rc = mt_manifest_draft_add_entry(d, text, len, &err);
    fuzz_check_result(rc, &err, "mt_manifest_draft_add_entry");
    mt_manifest_draft_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_fileentry *fe = NULL, *fe2 = NULL;
    cJSON *tree = NULL;
    char *json = NULL, *json2 = NULL;
    size_t len = 0, len2 = 0;
    mt_error err;
    int rc, mrc;

    fuzz_err_init(&err);
    rc = mt_fileentry_parse((const char *)data, size, &fe, &err);
    fuzz_check_result(rc, &err, "mt_fileentry_parse");
    fuzz_feature("parse", rc ? err.message : "ok");
    if (size <= MT_MANIFEST_MAX) {
        mrc = manifest_verdict((const char *)data, size);
        FUZZ_CHECK((rc == 0) == (mrc == 0), "FileEntry parse says %d (%s), the manifest says %d", rc,
                   rc ? err.message : "ok", mrc);
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
