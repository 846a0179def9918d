/*
 * check_manifest.c - identities (passphrases, transport keys), sequence
 * numbers, and manifests: the interoperability vectors, every validation
 * rule, private manifests, diffs and drafts.
 *
 * Reference vectors (test/vectors, made by the Node.js reference stack) are
 * found through $MT_VECTORS.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt_fileentry.h"
#include "mt_identity.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_seq.h"
#include "mt_util.h"
#include "testutil.h"

#define SEED00_PK "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
#define VECTOR_SIG                                                                                           \
    "aeac9162a62e1d66bf3dd16bf45045a18108940f5cfcabe29b093b4b206c7484d5002aff5e0d7404e70a7dbbd88940a4ce16d27" \
    "2a4a33a67f47f7a71d1559e0f"
#define HEX64(x) x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x
#define HELLO_ENTRY                                                                                          \
    "{\"name\":\"hello.txt\",\"size\":5,\"chunks\":[{\"blobId\":\"" HEX64("ab") "\",\"offset\":0,"          \
    "\"length\":1048592,\"key\":\"" HEX64("cd") "\",\"nonce\":\"efefefefefefefefefefefef\",\"realSize\":5}]}"
#define MAGNET_V1 "magnet:?xt=urn:btih:fd7473f1a80221e4259c428dc4338fab60f26d33&dn=One"
#define MAGNET_V2 "magnet:?xt=urn:btmh:1220a950ba5f2ae16836958775ab0c395386c2e749a55999830607ffced781911fb2"

static char tmpdir[256];

static void tmp_up(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt-check-manifest-XXXXXX");
    ck_assert(mkdtemp(tmpdir) != NULL);
}

static void tmp_down(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert(system(cmd) == 0);
}

/* The identity whose seed is base, base+1, ... */
static mt_identity *seed_identity(int base)
{
    uint8_t seed[32];
    mt_identity *id = NULL;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(base + i);
    ck_assert(mt_identity_from_seed(seed, &id, NULL) == 0);
    return id;
}

/* Path of a vector file (test-owned static buffer). */
static const char *vector(const char *name)
{
    static char path[1024];
    const char *dir = getenv("MT_VECTORS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "test/vectors", name);
    return path;
}

static char *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    mt_error err;
    ck_assert_msg(mt_file_read(path, 64 << 20, &buf, len, &err) == 0, "%s", err.message);
    return buf;
}

/* Load json with e (may be NULL); returns the code, message in err. */
static int load_str(const char *json, const mt_manifest_expect *e, mt_manifest **m, mt_error *err)
{
    *m = NULL;
    return mt_manifest_load(json, strlen(json), e, m, err);
}

/* ------------------------------------------------------------ identity */

START_TEST(identity_reference_vectors)
{
    mt_identity *id = seed_identity(0);
    size_t len = 0;
    char *json;
    mt_identity *ref = NULL;
    mt_error err;

    t_assert_hex(mt_identity_public_key(id), 32, SEED00_PK);
    /* A key file written by the reference client (2-space JSON, no newline). */
    json = slurp(vector("ref-key-seed00.json"), &len);
    ck_assert(json[len - 1] == '}');
    ck_assert_msg(mt_identity_parse(json, len, &ref, &err) == 0, "%s", err.message);
    ck_assert(memcmp(mt_identity_public_key(ref), mt_identity_public_key(id), 32) == 0);
    ck_assert(memcmp(mt_identity_secret_key(ref), mt_identity_secret_key(id), 64) == 0);
    free(json);
    mt_identity_free(ref);
    mt_identity_free(id);
}
END_TEST

START_TEST(identity_passphrase)
{
    mt_identity *id = seed_identity(0), *back = NULL;
    char path[512], *json;
    size_t len = 0;
    mt_error err;
    struct stat st;

    snprintf(path, sizeof path, "%s/key.json", tmpdir);
    ck_assert_msg(mt_identity_save_protected(id, path, "correct horse", 13, 0, &err) == 0, "%s", err.message);
    ck_assert(stat(path, &st) == 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    json = slurp(path, &len);
    ck_assert_ptr_null(strstr(json, "\"secretKey\""));
    ck_assert_ptr_nonnull(strstr(json, "\"secretKeyBox\""));
    /* The seed must not appear in the file in any form. */
    ck_assert_ptr_null(strstr(json, "000102030405060708090a0b0c0d0e0f"));

    ck_assert_int_eq(mt_identity_load(path, &back, &err), MT_ENEEDKEY);
    ck_assert_int_eq(mt_identity_load_protected(path, "wrong horse", 11, &back, &err), MT_ECRYPTO);
    ck_assert_ptr_nonnull(strstr(err.message, "wrong passphrase"));
    ck_assert_int_eq(mt_identity_load_protected(path, "correct horse", 13, &back, &err), 0);
    ck_assert(memcmp(mt_identity_secret_key(back), mt_identity_secret_key(id), 64) == 0);
    mt_identity_free(back);
    back = NULL;

    /* A hostile file may not ask for unbounded Argon2 work. */
    {
        char *p = strstr(json, "\"memlimit\": ");
        char *bad = NULL;
        ck_assert_ptr_nonnull(p);
        ck_assert(asprintf(&bad, "%.*s\"memlimit\": 99999999999%s", (int)(p - json), json,
                           strchr(p, ',')) > 0);
        ck_assert_int_eq(mt_identity_parse_protected(bad, strlen(bad), "correct horse", 13, &back, &err),
                         MT_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "memlimit"));
        free(bad);
    }
    /* A flipped ciphertext byte is caught by the MAC. */
    {
        char *p = strstr(json, "\"secretKeyBox\": \"") + strlen("\"secretKeyBox\": \"");
        *p = *p == '0' ? '1' : '0';
        ck_assert_int_eq(mt_identity_parse_protected(json, len, "correct horse", 13, &back, &err), MT_ECRYPTO);
    }
    free(json);
    mt_identity_free(id);
}
END_TEST

START_TEST(identity_transport_and_attestation)
{
    /* Vectors computed independently: Python hashlib.blake2b (what
     * crypto_kdf_derive_from_key is) and Node's OpenSSL Ed25519. */
    mt_identity *id = seed_identity(0), *tx = NULL, *tx2 = NULL;
    uint8_t sig[64];
    mt_error err;

    ck_assert(mt_identity_transport(id, &tx, &err) == 0);
    t_assert_hex(mt_identity_public_key(tx), 32, "b320b7a4ad14236e34e53cc9b448322763f1e675a8a2929893335901e9715e17");
    t_assert_hex(mt_identity_secret_key(tx), 32, "702ca3bdc930f02d5ca7e64253495576aba968bc3c1342140d0f9b21128b5b38");
    ck_assert(mt_identity_transport(id, &tx2, &err) == 0); /* deterministic */
    ck_assert(memcmp(mt_identity_public_key(tx), mt_identity_public_key(tx2), 32) == 0);

    ck_assert(mt_identity_attest(id, mt_identity_public_key(tx), 1700000000, sig, &err) == 0);
    t_assert_hex(sig, 64,
                 "cf9b0a5cdc01c1127c7c0c8b57ab288abc915993f53a81ddd734194092362ab9"
                 "cac8bc47a8714ce2397da5fef673d9b98d40d3ae9c73913e4284f11932ed2f04");
    ck_assert_int_eq(mt_identity_attest_verify(mt_identity_public_key(id), mt_identity_public_key(tx),
                                               1700000000, sig, &err), 0);
    ck_assert_int_eq(mt_identity_attest_verify(mt_identity_public_key(id), mt_identity_public_key(tx),
                                               1700000001, sig, &err), MT_ECRYPTO);
    ck_assert_int_eq(mt_identity_attest_verify(mt_identity_public_key(tx), mt_identity_public_key(tx),
                                               1700000000, sig, &err), MT_ECRYPTO);
    mt_identity_free(tx);
    mt_identity_free(tx2);
    mt_identity_free(id);
}
END_TEST

/* ---------------------------------------------------------------- seq */

START_TEST(seq_rules)
{
    char path[512], buf[64];
    int64_t s = 0, last = -1;
    mt_error err;
    FILE *f;

    snprintf(path, sizeof path, "%s/seq", tmpdir);
    ck_assert(mt_seq_last(path, &last, &err) == 0);
    ck_assert_int_eq(last, 0);
    ck_assert(mt_seq_next(path, 0, 1700000000000, &s, &err) == 0);
    ck_assert_int_eq(s, 1700000000000);
    /* A clock that went backwards still moves forward. */
    ck_assert(mt_seq_next(path, 0, 1600000000000, &s, &err) == 0);
    ck_assert_int_eq(s, 1700000000001);
    ck_assert(mt_seq_last(path, &last, &err) == 0);
    ck_assert_int_eq(last, 1700000000001);
    /* An explicit sequence must be above the last. */
    ck_assert_int_eq(mt_seq_next(path, 1700000000001, 0, &s, &err), MT_ESTALE);
    ck_assert(mt_seq_next(path, 1800000000000, 0, &s, &err) == 0);
    ck_assert_int_eq(s, 1800000000000);
    ck_assert_int_eq(mt_seq_next(path, MT_SEQ_MAX + 1, 0, &s, &err), MT_EINVAL);
    /* Durable: it is in the file as written. */
    f = fopen(path, "r");
    ck_assert(fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    ck_assert_str_eq(buf, "1800000000000\n");
    /* A corrupt file is an error, never silently zero. */
    f = fopen(path, "w");
    fputs("12x\n", f);
    fclose(f);
    ck_assert_int_eq(mt_seq_next(path, 0, 5, &s, &err), MT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "corrupt"));
}
END_TEST

START_TEST(seq_concurrent_processes)
{
    /* Two processes reserving 100 sequences each never share one. */
    char path[512], out[2][512];
    int64_t got[200];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/seq", tmpdir);
    for (int p = 0; p < 2; p++) {
        snprintf(out[p], sizeof out[p], "%s/out%d", tmpdir, p);
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            FILE *f = fopen(out[p], "w");
            for (int i = 0; i < 100; i++) {
                int64_t s;
                if (mt_seq_next(path, 0, 1000, &s, NULL) != 0)
                    _exit(1);
                fprintf(f, "%lld\n", (long long)s);
            }
            fclose(f);
            _exit(0);
        }
    }
    for (int p = 0; p < 2; p++) {
        int status;
        ck_assert(wait(&status) > 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int p = 0; p < 2; p++) {
        FILE *f = fopen(out[p], "r");
        long long v;
        while (fscanf(f, "%lld", &v) == 1)
            got[n++] = v;
        fclose(f);
    }
    ck_assert_uint_eq(n, 200);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_msg(got[i] != got[j], "sequence %lld handed out twice", (long long)got[i]);
}
END_TEST

/* ------------------------------------------------------------ vectors */

START_TEST(interop_known_vector)
{
    /* The manifest of the issue, built and signed here, must give the
     * reference client's signature byte for byte. */
    mt_identity *id = seed_identity(0);
    mt_manifest_draft *d = NULL;
    mt_manifest *m = NULL;
    char *json = NULL;
    size_t len = 0;
    mt_error err;

    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_collection(d, "Default", &err) == 0);
    ck_assert_msg(mt_manifest_draft_add_entry(d, HELLO_ENTRY, strlen(HELLO_ENTRY), &err) == 0, "%s", err.message);
    ck_assert(mt_manifest_draft_sign(d, id, 1700000000000, 1700000000000, NULL, &json, &len, &err) == 0);
    ck_assert_msg(strstr(json, "\"signature\":\"" VECTOR_SIG "\"") != NULL, "got %s", json);
    ck_assert_msg(load_str(json, NULL, &m, &err) == 0, "%s", err.message);
    ck_assert_int_eq(mt_manifest_sequence(m), 1700000000000);
    ck_assert_uint_eq(mt_manifest_total_items(m), 1);
    ck_assert_int_eq(mt_manifest_item(m, 0, 0)->kind, MT_ITEM_FILE);
    ck_assert_str_eq(mt_manifest_item(m, 0, 0)->u.file.name, "hello.txt");
    mt_manifest_free(m);
    free(json);
    mt_manifest_draft_free(d);
    mt_identity_free(id);
}
END_TEST

/* One record of ref-canonical.txt. */
typedef struct vec_rec {
    char file[128], expect[16], signature[129];
    char *canonical;
} vec_rec;

/* Next record from f; 0 at the end. Lines are split on 0x0A only. */
static int next_record(FILE *f, vec_rec *r)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int any = 0;
    memset(r, 0, sizeof *r);
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (line[0] == '#')
            continue;
        if (n == 0) {
            if (any)
                break;
            continue;
        }
        any = 1;
        if (!strncmp(line, "file ", 5))
            snprintf(r->file, sizeof r->file, "%s", line + 5);
        else if (!strncmp(line, "expect ", 7))
            snprintf(r->expect, sizeof r->expect, "%s", line + 7);
        else if (!strncmp(line, "signature ", 10))
            snprintf(r->signature, sizeof r->signature, "%s", line + 10);
        else if (!strncmp(line, "canonical ", 10))
            r->canonical = strdup(line + 10);
    }
    free(line);
    return any;
}

START_TEST(interop_reference_files)
{
    /* Every manifest the reference stack signed verifies here, its canonical
     * form equals the string it signed, and the broken ones fail. */
    FILE *f = fopen(vector("ref-canonical.txt"), "r");
    vec_rec r;
    int valid = 0, invalid = 0;

    ck_assert_msg(f != NULL, "cannot open %s", vector("ref-canonical.txt"));
    while (next_record(f, &r)) {
        size_t len = 0;
        char *json = slurp(vector(r.file), &len), *canon = NULL;
        mt_manifest *m = NULL;
        mt_error err;
        int rc = mt_manifest_load(json, len, NULL, &m, &err);
        if (!strcmp(r.expect, "valid")) {
            cJSON *doc;
            ck_assert_msg(rc == 0, "%s: %s", r.file, err.message);
            doc = cJSON_Duplicate(mt_manifest_json(m), 1);
            cJSON_DeleteItemFromObjectCaseSensitive(doc, "signature");
            ck_assert(mt_json_canonical(doc, &canon, NULL, &err) == 0);
            ck_assert_msg(r.canonical && !strcmp(canon, r.canonical), "%s: canonical form differs:\n%s\n%s", r.file,
                          canon, r.canonical);
            cJSON_Delete(doc);
            free(canon);
            valid++;
        } else {
            ck_assert_msg(rc == MT_ECRYPTO, "%s: expected a signature failure, got %d %s", r.file, rc,
                          err.message);
            ck_assert_msg(!strncmp(err.message, "signature:", 10), "%s", err.message);
            invalid++;
        }
        mt_manifest_free(m);
        free(json);
        free(r.canonical);
    }
    fclose(f);
    ck_assert_int_ge(valid, 5);
    ck_assert_int_ge(invalid, 2);
}
END_TEST

START_TEST(interop_reference_items)
{
    /* ref-b classifies as the reference meant it. */
    size_t len = 0;
    char *json = slurp(vector("ref-b-magnets.json"), &len);
    mt_manifest *m = NULL;
    mt_error err;
    ck_assert_msg(mt_manifest_load(json, len, NULL, &m, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(mt_manifest_collection_count(m), 2);
    ck_assert_str_eq(mt_manifest_collection_title(m, 0), "Linux ISOs");
    const mt_item *v1 = mt_manifest_item(m, 0, 0), *b32 = mt_manifest_item(m, 0, 1);
    const mt_item *v2 = mt_manifest_item(m, 0, 2), *hy = mt_manifest_item(m, 0, 3);
    ck_assert_int_eq(v1->kind, MT_ITEM_MAGNET);
    ck_assert(v1->u.magnet.has_v1 && !v1->u.magnet.has_v2);
    t_assert_hex(v1->u.magnet.v1, 20, "fd7473f1a80221e4259c428dc4338fab60f26d33");
    /* base32 MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U = "abcdefghijklmnopqrs" + 't'... */
    ck_assert(b32->u.magnet.has_v1);
    t_assert_hex(b32->u.magnet.v1, 20, "6162636465666768696a6b6c6d6e6f7071727374");
    ck_assert(!v2->u.magnet.has_v1 && v2->u.magnet.has_v2);
    ck_assert(hy->u.magnet.has_v1 && hy->u.magnet.has_v2);
    const mt_item *feed = mt_manifest_item(m, 1, 0), *text = mt_manifest_item(m, 1, 1);
    const mt_item *file = mt_manifest_item(m, 1, 2);
    ck_assert_int_eq(feed->kind, MT_ITEM_FEED);
    t_assert_hex(feed->u.feed.pk, 32, "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7");
    ck_assert_uint_eq(feed->u.feed.salt_len, 12);
    ck_assert(!memcmp(feed->u.feed.salt, "friends-feed", 12));
    ck_assert_int_eq(text->kind, MT_ITEM_TEXT);
    ck_assert_int_eq(file->kind, MT_ITEM_FILE);
    ck_assert_int_eq(file->u.file.size, 1060921);
    ck_assert_uint_eq(file->u.file.n_chunks, 2);
    mt_manifest_free(m);
    free(json);
}
END_TEST

#define MIXED_META "{\"\xef\xac\xb3\":1,\"\xf0\x9f\x98\x80\":2,\"a\":{\"z\":-1,\"b\":9007199254740991}}"

START_TEST(interop_ours_byte_stable)
{
    /* test/vectors/mt-*.json were signed by mtctl and verified by the
     * reference stack (verify-manifests.js); signing the same draft again
     * must give the same bytes, or that check no longer covers us. */
    mt_identity *id = seed_identity(0);
    mt_manifest_draft *d = NULL;
    char *json = NULL, *want;
    size_t len = 0, wlen = 0;
    mt_error err;

    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_collection(d, "Mixed \xe2\x98\x95 \xf0\x9f\x98\x80", &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, MAGNET_V1, &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, MAGNET_V2, &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, "text with / and \xe2\x80\xa8 and \"quotes\"\t\x01", &err) == 0);
    ck_assert(mt_manifest_draft_add_entry(d, HELLO_ENTRY, strlen(HELLO_ENTRY), &err) == 0);
    ck_assert(mt_manifest_draft_add_topic(d, "linux", &err) == 0);
    ck_assert(mt_manifest_draft_set_metadata(d, MIXED_META, strlen(MIXED_META), &err) == 0);
    ck_assert(mt_manifest_draft_sign(d, id, 1700000005000, 1700000005000, NULL, &json, &len, &err) == 0);
    want = slurp(vector("mt-mixed.json"), &wlen);
    while (wlen && want[wlen - 1] == '\n')
        want[--wlen] = '\0';
    ck_assert_msg(len == wlen && !memcmp(json, want, len), "signed bytes changed:\n%s\n%s", json, want);
    free(want);
    /* The private one (random nonce, so not byte-stable) still opens. */
    {
        mt_manifest_expect e;
        mt_manifest *m = NULL;
        uint8_t rk[32];
        memset(rk, 0x42, sizeof rk);
        mt_manifest_expect_init(&e);
        e.read_key = rk;
        want = slurp(vector("mt-private.json"), &wlen);
        ck_assert_msg(mt_manifest_load(want, wlen, &e, &m, &err) == 0, "%s", err.message);
        ck_assert_str_eq(mt_manifest_item(m, 0, 1)->text, "secret note");
        mt_manifest_free(m);
        free(want);
    }
    free(json);
    mt_manifest_draft_free(d);
    mt_identity_free(id);
}
END_TEST

/* ------------------------------------------------------------- rules */

/* Re-sign doc (any shape) with the seed-00 key, so a rule test fails for
 * its rule and not for the signature. Returns canonical JSON (free()). */
static char *resign(cJSON *doc)
{
    mt_identity *id = seed_identity(0);
    uint8_t sig[64];
    char sighex[129], *canon = NULL, *out = NULL;
    size_t len = 0;
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "signature");
    ck_assert(mt_json_canonical(doc, &canon, &len, NULL) == 0);
    crypto_sign_detached(sig, NULL, (const uint8_t *)canon, len, mt_identity_secret_key(id));
    mt_hex_encode(sig, 64, sighex);
    cJSON_AddStringToObject(doc, "signature", sighex);
    ck_assert(mt_json_canonical(doc, &out, NULL, NULL) == 0);
    free(canon);
    mt_identity_free(id);
    return out;
}

/* A valid base document: the known vector with a magnet and a text item. */
static cJSON *base_doc(void)
{
    char *s = NULL;
    cJSON *doc;
    ck_assert(asprintf(&s,
                       "{\"publicKey\":\"" SEED00_PK "\",\"sequence\":1700000000000,\"timestamp\":1700000000000,"
                       "\"collections\":[{\"title\":\"Default\",\"items\":[" HELLO_ENTRY ",\"" MAGNET_V1
                       "\",\"a text line\"]}]}") > 0);
    doc = cJSON_Parse(s);
    free(s);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* Apply mutation (a JSON Pointer-ish path set) and expect code + prefix. */
typedef struct rule_case {
    const char *what;
    const char *path;  /* "a.b[0].c" member to replace, or NULL for none */
    const char *value; /* JSON text of the new value; NULL deletes */
    int code;
    const char *prefix; /* expected start of the message */
} rule_case;

/* Find the parent and key of a dotted path with [i] indexes. */
static void set_path(cJSON *doc, const char *path, const char *value)
{
    char buf[256], *tok, *save = NULL;
    cJSON *cur = doc, *parent = NULL;
    char last[64] = "";
    int last_idx = -1;
    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        char *br = strchr(tok, '[');
        int idx = -1;
        if (br) {
            idx = atoi(br + 1);
            *br = '\0';
        }
        parent = cur;
        snprintf(last, sizeof last, "%s", tok);
        last_idx = -1;
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (idx >= 0) {
            parent = cur;
            last_idx = idx;
            cur = cJSON_GetArrayItem(cur, idx);
        }
    }
    ck_assert_msg(parent != NULL, "bad test path %s", path);
    if (last_idx >= 0) {
        ck_assert(value);
        cJSON_ReplaceItemInArray(parent, last_idx, cJSON_Parse(value));
    } else if (!value) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
    } else if (cJSON_GetObjectItemCaseSensitive(parent, last)) {
        cJSON_ReplaceItemInObjectCaseSensitive(parent, last, cJSON_Parse(value));
    } else {
        cJSON_AddItemToObject(parent, last, cJSON_Parse(value));
    }
}

static const rule_case rules[] = {
    {"base is valid", NULL, NULL, 0, ""},
    {"unknown members are signed and kept", "extra", "{\"x\":1}", 0, ""},
    {"publicKey short", "publicKey", "\"03a107\"", MT_EINVAL, "publicKey: must be 64 lower-case hex"},
    {"publicKey upper case", "publicKey", "\"03A107BFF3CE10BE1D70DD18E74BC09967E4D6309BA50D5F1DDC8664125531B8\"",
     MT_EINVAL, "publicKey: must be 64"},
    {"publicKey missing", "publicKey", NULL, MT_EINVAL, "publicKey: missing"},
    {"sequence negative", "sequence", "-1", MT_EINVAL, "sequence: must be an integer"},
    {"sequence string", "sequence", "\"5\"", MT_EINVAL, "sequence: must be an integer"},
    {"timestamp missing", "timestamp", NULL, MT_EINVAL, "timestamp: missing"},
    {"collections not an array", "collections", "{}", MT_EINVAL, "collections: must be an array"},
    {"title not a string", "collections[0].title", NULL, MT_EINVAL, "collections[0].title: must be a string"},
    {"items missing", "collections[0].items", NULL, MT_EINVAL, "collections[0].items: must be an array"},
    {"item a number", "collections[0].items[1]", "42", MT_EINVAL, "collections[0].items[1]: must be a string or"},
    {"item null", "collections[0].items[2]", "null", MT_EINVAL, "collections[0].items[2]: must be a string or"},
    {"magnet without hash", "collections[0].items[1]", "\"magnet:?dn=nothing\"", MT_EINVAL,
     "collections[0].items[1]: not a usable magnet"},
    {"magnet short btih", "collections[0].items[1]", "\"magnet:?xt=urn:btih:abcd\"", MT_EINVAL,
     "collections[0].items[1]:"},
    {"btpk link with a bad key", "collections[0].items[1]", "\"magnet:?xs=urn:btpk:1234\"", MT_EINVAL,
     "collections[0].items[1]:"},
    {"entry without name", "collections[0].items[0].name", NULL, MT_EINVAL, "collections[0].items[0].name:"},
    {"entry name empty", "collections[0].items[0].name", "\"\"", MT_EINVAL, "collections[0].items[0].name:"},
    {"entry size mismatch", "collections[0].items[0].size", "6", MT_EINVAL,
     "collections[0].items[0].size: is 6 but the chunks hold 5 bytes"},
    /* Counting stops once past size: the total is a lower bound (this
     * file once said "more than 5", which the sum need not be). */
    {"entry size under its chunks", "collections[0].items[0].size", "4", MT_EINVAL,
     "collections[0].items[0].size: is 4 but the chunks hold at least 5 bytes"},
    {"entry name too long", "collections[0].items[0].name",
     "\"" HEX64("nn") HEX64("nn") HEX64("nn") HEX64("nn") "\"", MT_EINVAL,
     "collections[0].items[0].name: must be a non-empty UTF-8 string of at most 255 bytes"},
    {"entry swarm a number", "collections[0].items[0].swarm", "1", MT_EINVAL,
     "collections[0].items[0].swarm: must be a magnet link"},
    {"entry swarm a magnet", "collections[0].items[0].swarm", "\"" MAGNET_V1 "\"", 0, ""},
    {"entry unpadded chunk", "collections[0].items[0].chunks[0].realSize", NULL, MT_EINVAL,
     "collections[0].items[0].size: is 5 but the chunks hold at least 1048576 bytes"},
    {"entry chunks not array", "collections[0].items[0].chunks", "{}", MT_EINVAL,
     "collections[0].items[0].chunks: must be an array"},
    {"chunk not an object", "collections[0].items[0].chunks[0]", "\"x\"", MT_EINVAL,
     "collections[0].items[0].chunks[0]: must be an object"},
    {"blobId short", "collections[0].items[0].chunks[0].blobId", "\"abab\"", MT_EINVAL,
     "collections[0].items[0].chunks[0].blobId: must be 64"},
    {"chunk key upper", "collections[0].items[0].chunks[0].key",
     "\"CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD\"", MT_EINVAL,
     "collections[0].items[0].chunks[0].key: must be 64"},
    {"nonce long", "collections[0].items[0].chunks[0].nonce", "\"efefefefefefefefefefefefef\"", MT_EINVAL,
     "collections[0].items[0].chunks[0].nonce: must be 24"},
    {"length over a blob", "collections[0].items[0].chunks[0].length", "1048593", MT_EINVAL,
     "collections[0].items[0].chunks[0].length: must be an integer from 16 to 1048592"},
    {"realSize over length", "collections[0].items[0].chunks[0].realSize", "1048577", MT_EINVAL,
     "collections[0].items[0].chunks[0].realSize:"},
    {"offset past plaintext", "collections[0].items[0].chunks[0].offset", "1048575", MT_EINVAL,
     "collections[0].items[0].chunks[0].offset:"},
    {"swarm not a magnet", "collections[0].items[0].swarm", "\"http://x/\"", MT_EINVAL,
     "collections[0].items[0].swarm:"},
    {"topics not strings", "topics", "[1]", MT_EINVAL, "topics[0]: must be a string"},
    {"metadata not an object", "metadata", "[]", MT_EINVAL, "metadata: must be an object"},
    {"encrypted false", "encrypted", "false", MT_EINVAL, "encrypted: must be true"},
};

START_TEST(manifest_rule)
{
    const rule_case *rc = &rules[_i];
    cJSON *doc = base_doc();
    mt_manifest *m = NULL;
    mt_error err;
    char *json;
    int got;

    if (rc->path)
        set_path(doc, rc->path, rc->value);
    json = resign(doc);
    got = load_str(json, NULL, &m, &err);
    ck_assert_msg(got == rc->code, "%s: got %d (%s), want %d", rc->what, got, err.message, rc->code);
    if (rc->code)
        ck_assert_msg(!strncmp(err.message, rc->prefix, strlen(rc->prefix)), "%s: message \"%s\" lacks \"%s\"",
                      rc->what, err.message, rc->prefix);
    else
        ck_assert_ptr_nonnull(m);
    mt_manifest_free(m);
    free(json);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(manifest_signature_and_expectations)
{
    cJSON *doc = base_doc();
    char *json = resign(doc), *p;
    mt_manifest_expect e;
    mt_manifest *m = NULL;
    mt_identity *other = seed_identity(0x20);
    mt_error err;

    /* Any change after signing breaks the signature. */
    p = strstr(json, "a text line");
    p[0] = 'A';
    ck_assert_int_eq(load_str(json, NULL, &m, &err), MT_ECRYPTO);
    ck_assert_str_eq(err.message, "signature: does not verify under publicKey " SEED00_PK);
    p[0] = 'a';
    ck_assert_int_eq(load_str(json, NULL, &m, &err), 0);
    mt_manifest_free(m);

    mt_manifest_expect_init(&e);
    e.public_key = mt_identity_public_key(other);
    ck_assert_int_eq(load_str(json, &e, &m, &err), MT_ECRYPTO);
    ck_assert_msg(!strncmp(err.message, "publicKey: is " SEED00_PK ", but the feed's key is 29acbae1", 95), "%s",
                  err.message);

    mt_manifest_expect_init(&e);
    e.highest_seq = 1700000000000;
    ck_assert_int_eq(load_str(json, &e, &m, &err), MT_ESTALE);
    ck_assert_ptr_nonnull(strstr(err.message, "replay or rollback"));
    e.highest_seq = 1699999999999;
    ck_assert_int_eq(load_str(json, &e, &m, &err), 0);
    mt_manifest_free(m);

    mt_manifest_expect_init(&e);
    e.dht_seq = 1700000000001;
    ck_assert_int_eq(load_str(json, &e, &m, &err), MT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "differs from the DHT item's seq"));

    /* The size cap applies before parsing. */
    mt_manifest_expect_init(&e);
    e.max_bytes = 100;
    ck_assert_int_eq(load_str(json, &e, &m, &err), MT_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.message, "the cap is 100"));

    /* Signature member itself. */
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "signature", cJSON_CreateString("zz"));
    free(json);
    json = cJSON_PrintUnformatted(doc);
    ck_assert_int_eq(load_str(json, NULL, &m, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "signature: must be 128 lower-case hex digits");
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "signature");
    free(json);
    json = cJSON_PrintUnformatted(doc);
    ck_assert_int_eq(load_str(json, NULL, &m, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "signature: missing");

    free(json);
    cJSON_Delete(doc);
    mt_identity_free(other);
}
END_TEST

START_TEST(manifest_strict_json)
{
    /* Signed documents: no floats, no big integers, no duplicate keys. */
    static const char *bad[] = {
        "{\"publicKey\":\"" SEED00_PK "\",\"sequence\":1.5}",
        "{\"publicKey\":\"" SEED00_PK "\",\"sequence\":9007199254740992}",
        "{\"publicKey\":\"" SEED00_PK "\",\"publicKey\":\"" SEED00_PK "\"}",
        "{\"a\":\"\xff\"}",
        "[1,2,3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mt_manifest *m = NULL;
        mt_error err;
        ck_assert_int_eq(load_str(bad[i], NULL, &m, &err), MT_EINVAL);
        ck_assert_msg(!strncmp(err.message, "manifest: ", 10), "%s", err.message);
    }
    {
        mt_manifest *m = NULL;
        mt_error err;
        ck_assert_int_eq(load_str("[]", NULL, &m, &err), MT_EINVAL);
        ck_assert_str_eq(err.message, "manifest: must be a JSON object");
    }
}
END_TEST

/* ------------------------------------------------------------ private */

START_TEST(manifest_private)
{
    mt_identity *id = seed_identity(0);
    mt_manifest_draft *d = NULL;
    mt_manifest *m = NULL;
    mt_manifest_expect e;
    uint8_t rk[32], wrong[32];
    char *json = NULL;
    size_t len = 0;
    mt_error err;

    memset(rk, 0x42, sizeof rk);
    memset(wrong, 0x43, sizeof wrong);
    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, MAGNET_V1, &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, "secret note", &err) == 0);
    ck_assert(mt_manifest_draft_sign(d, id, 7, 1700000000000, rk, &json, &len, &err) == 0);
    /* Nothing readable outside the ciphertext. */
    ck_assert_ptr_null(strstr(json, "secret note"));
    ck_assert_ptr_null(strstr(json, "fd7473f1"));
    ck_assert_ptr_null(strstr(json, "collections"));
    ck_assert_ptr_nonnull(strstr(json, "\"encrypted\":true"));

    /* Anyone can verify it; it stays sealed. */
    ck_assert_msg(load_str(json, NULL, &m, &err) == 0, "%s", err.message);
    ck_assert(mt_manifest_is_private(m) && mt_manifest_is_sealed(m));
    ck_assert_int_eq(mt_manifest_timestamp(m), -1);
    ck_assert_uint_eq(mt_manifest_collection_count(m), 0);
    ck_assert_int_eq(mt_manifest_decrypt(m, wrong, &err), MT_ECRYPTO);
    ck_assert_str_eq(err.message, "ciphertext: does not open with this read key");
    ck_assert(mt_manifest_is_sealed(m));
    ck_assert_int_eq(mt_manifest_decrypt(m, rk, &err), 0);
    ck_assert(!mt_manifest_is_sealed(m));
    ck_assert_int_eq(mt_manifest_timestamp(m), 1700000000000);
    ck_assert_str_eq(mt_manifest_item(m, 0, 1)->text, "secret note");
    ck_assert_int_eq(mt_manifest_decrypt(m, rk, &err), MT_ESTATE);
    mt_manifest_free(m);

    mt_manifest_expect_init(&e);
    e.read_key = rk;
    ck_assert(load_str(json, &e, &m, &err) == 0);
    ck_assert_uint_eq(mt_manifest_total_items(m), 2);
    mt_manifest_free(m);

    /* Changing the ciphertext breaks the outer signature first. */
    {
        char *p = strstr(json, "\"ciphertext\":\"") + 14;
        *p = *p == 'a' ? 'b' : 'a';
        ck_assert_int_eq(load_str(json, &e, &m, &err), MT_ECRYPTO);
        ck_assert(!strncmp(err.message, "signature:", 10));
    }
    /* A validly signed private manifest may not leak collections outside. */
    {
        cJSON *doc = cJSON_Parse(json);
        char *bad;
        cJSON_AddItemToObject(doc, "collections", cJSON_CreateArray());
        bad = resign(doc);
        ck_assert_int_eq(load_str(bad, NULL, &m, &err), MT_EINVAL);
        ck_assert(!strncmp(err.message, "collections: must not appear", 28));
        free(bad);
        cJSON_Delete(doc);
    }
    free(json);
    mt_manifest_draft_free(d);
    mt_identity_free(id);
}
END_TEST

/* ------------------------------------------------------------- diff */

START_TEST(manifest_diff_reference_versions)
{
    size_t la = 0, lb = 0;
    char *a = slurp(vector("ref-b-magnets.json"), &la), *b = slurp(vector("ref-e-magnets-v2.json"), &lb);
    mt_manifest *ma = NULL, *mb = NULL;
    mt_manifest_diff d;
    mt_error err;

    ck_assert(mt_manifest_load(a, la, NULL, &ma, &err) == 0);
    ck_assert(mt_manifest_load(b, lb, NULL, &mb, &err) == 0);
    ck_assert(mt_manifest_diff_compute(ma, mb, &d, &err) == 0);
    ck_assert_uint_eq(d.n_removed, 1);
    ck_assert_uint_eq(d.n_added, 2);
    ck_assert_uint_eq(d.n_changes, 3);
    ck_assert(!d.changes[0].added);
    ck_assert_str_eq(d.changes[0].item->text, "magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&dn=base32%20v1");
    ck_assert(d.changes[1].added && d.changes[2].added);
    mt_manifest_diff_clear(&d);

    /* Against nothing, everything is new; against itself, nothing. */
    ck_assert(mt_manifest_diff_compute(NULL, mb, &d, &err) == 0);
    ck_assert_uint_eq(d.n_added, mt_manifest_total_items(mb));
    ck_assert_uint_eq(d.n_removed, 0);
    mt_manifest_diff_clear(&d);
    ck_assert(mt_manifest_diff_compute(mb, mb, &d, &err) == 0);
    ck_assert_uint_eq(d.n_changes, 0);
    mt_manifest_diff_clear(&d);
    mt_manifest_free(ma);
    mt_manifest_free(mb);
    free(a);
    free(b);
}
END_TEST

/* Sign a one-collection manifest of items (NULL-terminated) under title. */
static mt_manifest *signed_with(const char *title, const char *const *items, int64_t seq)
{
    mt_identity *id = seed_identity(0);
    mt_manifest_draft *d = NULL;
    mt_manifest *m = NULL;
    char *json = NULL;
    mt_error err;
    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_collection(d, title, &err) == 0);
    for (; *items; items++)
        ck_assert_msg(mt_manifest_draft_add_item(d, *items, &err) == 0, "%s", err.message);
    ck_assert(mt_manifest_draft_sign(d, id, seq, seq, NULL, &json, NULL, &err) == 0);
    ck_assert(load_str(json, NULL, &m, &err) == 0);
    free(json);
    mt_manifest_draft_free(d);
    mt_identity_free(id);
    return m;
}

START_TEST(manifest_diff_semantics)
{
    /* Repeats count one for one; moving between collections is a remove
     * and an add. */
    static const char *const a[] = {"x", "x", "y", NULL};
    static const char *const b[] = {"x", "y", "z", NULL};
    mt_manifest *ma = signed_with("A", a, 1), *mb = signed_with("A", b, 2), *mc = signed_with("B", b, 3);
    mt_manifest_diff d;
    mt_error err;

    ck_assert(mt_manifest_diff_compute(ma, mb, &d, &err) == 0);
    ck_assert_uint_eq(d.n_removed, 1);
    ck_assert_str_eq(d.changes[0].item->text, "x");
    ck_assert_uint_eq(d.n_added, 1);
    ck_assert_str_eq(d.changes[1].item->text, "z");
    mt_manifest_diff_clear(&d);
    ck_assert(mt_manifest_diff_compute(mb, mc, &d, &err) == 0);
    ck_assert_uint_eq(d.n_removed, 3);
    ck_assert_uint_eq(d.n_added, 3);
    ck_assert_str_eq(d.changes[3].collection, "B");
    mt_manifest_diff_clear(&d);
    mt_manifest_free(ma);
    mt_manifest_free(mb);
    mt_manifest_free(mc);
}
END_TEST

/* ---------------------------------------------------------- FileEntry */

static void count_chunk(void *ud, size_t i, const mt_fileentry_chunk *c)
{
    size_t *n = ud;
    ck_assert_uint_eq(i, *n);
    ck_assert_str_eq(c->blob_id, HEX64("ab"));
    ck_assert_int_eq(c->key[0], 0xcd);
    ck_assert_int_eq(c->nonce[11], 0xef);
    ck_assert_int_eq(c->length, MT_BLOB_BYTES);
    ck_assert_int_eq(c->real_size, 5);
    ck_assert_int_eq(c->data, 5);
    (*n)++;
}

/* mt_fileentry_check itself: what it hands back, and the rules only a
 * caller-built tree can break (text that breaks them never parses). */
START_TEST(fileentry_check_direct)
{
    cJSON *o = cJSON_Parse(HELLO_ENTRY);
    mt_fileentry_info fi;
    mt_error err;
    size_t n = 0;

    ck_assert_ptr_nonnull(o);
    ck_assert_msg(mt_fileentry_check(o, "", count_chunk, &n, &fi, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(fi.name, "hello.txt");
    ck_assert_int_eq(fi.size, 5);
    ck_assert_uint_eq(fi.n_chunks, 1);
    ck_assert_ptr_eq(fi.chunks, cJSON_GetObjectItemCaseSensitive(o, "chunks"));
    ck_assert_ptr_null(fi.swarm);
    ck_assert(mt_fileentry_check(o, NULL, NULL, NULL, NULL, NULL) == 0);

    /* Invalid UTF-8 in the name: blob.c refused it, manifest.c did not;
     * now both do, under the caller's path. */
    cJSON_ReplaceItemInObjectCaseSensitive(o, "name", cJSON_CreateString("bad \xc3\x28"));
    ck_assert_int_eq(mt_fileentry_check(o, "collections[0].items[3]", NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_str_eq(err.message,
                     "collections[0].items[3].name: must be a non-empty UTF-8 string of at most 255 bytes");
    ck_assert_int_eq(mt_fileentry_check(o, "", NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "name: must be a non-empty UTF-8 string of at most 255 bytes");
    cJSON_ReplaceItemInObjectCaseSensitive(o, "name", cJSON_CreateString("ok"));
    cJSON_AddStringToObject(o, "swarm", MAGNET_V1 "\xff");
    ck_assert_int_eq(mt_fileentry_check(o, "item 1", NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "item 1.swarm: must be a magnet link (valid UTF-8)");
    cJSON_ReplaceItemInObjectCaseSensitive(o, "swarm", cJSON_CreateString(MAGNET_V1));
    ck_assert(mt_fileentry_check(o, "", NULL, NULL, &fi, &err) == 0);
    ck_assert_str_eq(fi.swarm, MAGNET_V1);

    ck_assert_int_eq(mt_fileentry_check(cJSON_GetObjectItemCaseSensitive(o, "chunks"), "", NULL, NULL, NULL, &err),
                     MT_EINVAL);
    ck_assert_str_eq(err.message, "FileEntry: must be a JSON object");
    ck_assert_int_eq(mt_fileentry_check(NULL, "item 2", NULL, NULL, NULL, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "item 2: must be a JSON object");
    cJSON_Delete(o);
}
END_TEST

/* ------------------------------------------------------------ drafts */

START_TEST(draft_refuses_bad_items)
{
    mt_manifest_draft *d = NULL;
    mt_error err;
    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert_int_eq(mt_manifest_draft_add_item(d, "magnet:?xt=urn:btih:zz", &err), MT_EINVAL);
    ck_assert(!strncmp(err.message, "item 1:", 7));
    ck_assert_int_eq(mt_manifest_draft_add_item(d, "bad \xc3\x28 utf8", &err), MT_EINVAL);
    ck_assert_int_eq(mt_manifest_draft_add_entry(d, "{\"name\":\"x\"}", 12, &err), MT_EINVAL);
    ck_assert_int_eq(mt_manifest_draft_add_entry(d, "[1]", 3, &err), MT_EINVAL);
    ck_assert_int_eq(mt_manifest_draft_set_metadata(d, "{\"f\":1.5}", 9, &err), MT_EINVAL);
    ck_assert_int_eq(mt_manifest_draft_add_item(d, "magnet:?xs=urn:btpk:" SEED00_PK "&s=6869", &err), 0);
    mt_manifest_draft_free(d);
}
END_TEST

START_TEST(filename_sanitize)
{
    static const struct { const char *in, *out; } cases[] = {
        {"hello.txt", "hello.txt"}, {"../../etc/passwd", "___.._etc_passwd"}, {"..", "__"},
        {".hidden", "_hidden"}, {"a/b\\c", "a_b_c"}, {"tab\there\x1b[31m", "tab_here_[31m"},
        {"", "_"}, {"caf\xc3\xa9", "caf\xc3\xa9"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert(mt_filename_sanitize(cases[i].in, out, sizeof out) == 0);
        ck_assert_str_eq(out, cases[i].out);
    }
    /* Cut on a character boundary: "é" does not fit in 5 bytes after "abcd". */
    ck_assert(mt_filename_sanitize("abcd\xc3\xa9", out, 6) == 0);
    ck_assert_str_eq(out, "abcd");
}
END_TEST

/* mt_mkdir_p: every level made with the mode, existing ones fine, a file
 * in the way refused with its name and errno. */
START_TEST(util_mkdir_p)
{
    char path[512], file[512];
    struct stat st;
    mt_error err;
    snprintf(path, sizeof path, "%s/a/b/c", tmpdir);
    ck_assert_int_eq(mt_mkdir_p(path, 0700, &err), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(mt_mkdir_p(path, 0700, &err), 0); /* again: nothing to do */
    snprintf(file, sizeof file, "%s/a/f", tmpdir);
    ck_assert_int_eq(mt_file_write_atomic(file, "x", 1, 0600, 1, &err), 0);
    snprintf(path, sizeof path, "%s/a/f/g", tmpdir);
    errno = 0;
    ck_assert_int_eq(mt_mkdir_p(path, 0700, &err), MT_EIO);
    ck_assert_int_eq(errno, ENOTDIR);
    ck_assert_ptr_nonnull(strstr(err.message, "/a/f"));
    ck_assert_int_eq(mt_mkdir_p(file, 0700, &err), MT_EIO); /* a file is not a directory */
    ck_assert_int_eq(mt_mkdir_p("", 0700, &err), MT_EINVAL);
    ck_assert_int_eq(mt_mkdir_p(NULL, 0700, &err), MT_EINVAL);
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, tmp_up, tmp_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, identity_reference_vectors);
    tcase_add_test(tc, identity_passphrase);
    tcase_add_test(tc, identity_transport_and_attestation);
    tcase_add_test(tc, seq_rules);
    tcase_add_test(tc, seq_concurrent_processes);
    tcase_add_test(tc, util_mkdir_p);
    suite_add_tcase(s, tc);

    tc = tcase_create("manifest");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, interop_known_vector);
    tcase_add_test(tc, interop_reference_files);
    tcase_add_test(tc, interop_reference_items);
    tcase_add_test(tc, interop_ours_byte_stable);
    tcase_add_loop_test(tc, manifest_rule, 0, (int)(sizeof rules / sizeof rules[0]));
    tcase_add_test(tc, manifest_signature_and_expectations);
    tcase_add_test(tc, manifest_strict_json);
    tcase_add_test(tc, manifest_private);
    tcase_add_test(tc, manifest_diff_reference_versions);
    tcase_add_test(tc, manifest_diff_semantics);
    tcase_add_test(tc, fileentry_check_direct);
    tcase_add_test(tc, draft_refuses_bad_items);
    tcase_add_test(tc, filename_sanitize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(manifest_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
