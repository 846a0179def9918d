/*
 * check_blob.c - encrypted blobs: seal/open, a fixed reference-style
 * vector, every FileEntry rule (and parity with the manifest's item check),
 * ingest and reassembly, deniability of the blob bytes, the incremental
 * writer with resume, progress and cancellation.
 */
#define _GNU_SOURCE /* mkdtemp, strtok_r, pread, truncate */
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt_blob.h"
#include "mt_fileentry.h"
#include "mt_identity.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "testfs.h"
#include "testutil.h"

#define MIB 1048576u
#define HEX64(x) x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x
#define MAGNET_V1 "magnet:?xt=urn:btih:fd7473f1a80221e4259c428dc4338fab60f26d33&dn=One"

/* RFC 8439 section 2.8.2's key, nonce and plaintext, sealed as the reference
 * client seals an unpadded chunk (no associated data). Ciphertext and id
 * computed independently with Python's cryptography package. */
#define REF_KEY "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
#define REF_NONCE "070000004041424344454647"
#define REF_TEXT                                                                                             \
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen " \
    "would be it."
#define REF_BLOB                                                                                             \
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a" \
    "9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9d" \
    "e576d26586cec64b61166a23a4681fd59456aea1d29f82477216"
#define REF_ID "66b8e6a863db514a335dcc17c7bf86bfaf0266d6e338645c77d2cf7f1eebe1eb"

/* One directory per run, removed by the parent process even when a test
 * fails (a failing test exits before its own teardown); one below it per
 * test. */
static char basedir[256], tmpdir[320];

static void base_up(void)
{
    snprintf(basedir, sizeof basedir, "/tmp/mt-check-blob-XXXXXX");
    if (!mkdtemp(basedir)) {
        perror("mkdtemp");
        abort();
    }
}

static void base_down(void)
{
    t_rm_rf(basedir);
}

static void tmp_up(void)
{
    ck_assert(sodium_init() >= 0);
    t_fmt(tmpdir, sizeof tmpdir, "%s/test-XXXXXX", basedir);
    ck_assert(mkdtemp(tmpdir) != NULL);
}

static void tmp_down(void)
{
    t_rm_rf(tmpdir);
}

/* ------------------------------------------------------------ wipe spy */

/*
 * This binary's sodium_memzero replaces libsodium's (the library's calls
 * bind to it too), so a test can see what was wiped without reading freed
 * memory. It still wipes.
 */
#define SPY_MAX 4096
static struct {
    uintptr_t p;
    size_t    n;
} spy_wipes[SPY_MAX];
static size_t spy_count;

void sodium_memzero(void *const pnt, const size_t len)
{
    volatile unsigned char *p = pnt;
    for (size_t i = 0; i < len; i++)
        p[i] = 0;
    if (spy_count < SPY_MAX) {
        spy_wipes[spy_count].p = (uintptr_t)pnt;
        spy_wipes[spy_count++].n = len;
    }
}

/* Was [p, p + n) wiped by a single call since the spy was reset? */
static int spy_wiped(uintptr_t p, size_t n)
{
    for (size_t i = 0; i < spy_count; i++)
        if (spy_wipes[i].p <= p && p + n <= spy_wipes[i].p + spy_wipes[i].n)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ helpers */

static void path_in(char *out, size_t cap, const char *name)
{
    t_fmt(out, cap, "%s/%s", tmpdir, name);
}

/* A file of n random bytes at path; returns them (free()). */
static uint8_t *rand_file(const char *path, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    randombytes_buf(b, n);
    ck_assert(mt_file_write_atomic(path, b, n, 0600, 1, NULL) == 0);
    return b;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    mt_error err;
    ck_assert_msg(mt_file_read(path, 64u << 20, &buf, len, &err) == 0, "%s", err.message);
    return (uint8_t *)buf;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static long long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Entries of dir other than . and .. */
static size_t dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void blob_file(const char *dir, const char *id, char *out, size_t cap)
{
    t_fmt(out, cap, "%s/%s", dir, id);
}

/* Ingest n random bytes as tmpdir/name into tmpdir/blobs. */
static mt_fileentry *ingest_random(const char *name, size_t n, int no_pad, uint8_t **data)
{
    char src[512], blobs[512];
    mt_blob_ingest_opts o = {0};
    mt_fileentry *fe = NULL;
    mt_error err;
    path_in(src, sizeof src, name);
    path_in(blobs, sizeof blobs, "blobs");
    *data = rand_file(src, n);
    o.no_pad = no_pad;
    ck_assert_msg(mt_blob_ingest_file(src, blobs, &o, &fe, &err) == 0, "%s", err.message);
    ck_assert_ptr_nonnull(fe);
    return fe;
}

/* Flip one byte of a file in place. */
static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    ck_assert(fd >= 0);
    ck_assert(pread(fd, &b, 1, at) == 1);
    b ^= 0x40;
    ck_assert(pwrite(fd, &b, 1, at) == 1);
    close(fd);
}

/* ------------------------------------------------------------ seal/open */

static const size_t seal_lengths[] = {0, 1, MIB - 1, MIB};

START_TEST(seal_open_round_trip)
{
    size_t len = seal_lengths[_i / 2], blen = 0, got = 0;
    int pad = _i % 2;
    uint8_t *plain = malloc(MIB + 1), *blob = malloc(MT_BLOB_BYTES), *out = malloc(MIB);
    unsigned long long mlen = 0;
    char id[MT_BLOB_ID_HEX];
    mt_blob_chunk c;
    mt_error err;

    randombytes_buf(plain, len + 1);
    ck_assert_msg(mt_blob_seal(plain, len, pad, blob, &blen, &c, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(blen, pad ? MT_BLOB_BYTES : len + 16);
    ck_assert_uint_eq(c.length, blen);
    ck_assert_uint_eq(c.offset, 0);
    ck_assert_int_eq(c.real_size, pad ? (int64_t)len : -1);
    ck_assert_int_eq(mt_blob_chunk_data_size(&c), (int64_t)len);
    mt_blob_id(blob, blen, id);
    ck_assert_str_eq(c.blob_id, id);
    ck_assert(mt_blob_id_valid(c.blob_id));
    /* libsodium opens it directly: the plain AEAD, nothing added. */
    ck_assert(crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, blob, blen, NULL, 0, c.nonce, c.key) == 0);
    ck_assert_uint_eq(mlen, blen - 16);
    ck_assert(len == 0 || memcmp(out, plain, len) == 0);

    memset(out, 0, MIB);
    ck_assert_msg(mt_blob_open(&c, blob, blen, out, MIB, &got, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(got, len);
    ck_assert(len == 0 || memcmp(out, plain, len) == 0);
    /* A buffer of exactly the data size works too (padding decrypted aside). */
    if (pad && len) {
        uint8_t *exact = malloc(len);
        ck_assert(mt_blob_open(&c, blob, blen, exact, len, &got, &err) == 0);
        ck_assert(memcmp(exact, plain, len) == 0);
        free(exact);
    }
    free(plain);
    free(blob);
    free(out);
}
END_TEST

START_TEST(seal_open_failures)
{
    uint8_t *plain = malloc(MIB + 1), *blob = malloc(MT_BLOB_BYTES + 1), out[64];
    size_t blen = 0, got = 0;
    mt_blob_chunk c, t;
    mt_error err;

    randombytes_buf(plain, MIB + 1);
    ck_assert_int_eq(mt_blob_seal(plain, MIB + 1, 1, blob, &blen, &c, &err), MT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "1048577"));
    ck_assert_int_eq(mt_blob_seal(plain, MIB + 1, 0, blob, &blen, &c, &err), MT_EINVAL);
    ck_assert(mt_blob_seal(plain, 40, 1, blob, &blen, &c, &err) == 0);

    /* Any changed byte: the id no longer matches, nothing is decrypted. */
    blob[1000] ^= 1;
    ck_assert_int_eq(mt_blob_open(&c, blob, blen, out, sizeof out, &got, &err), MT_ECRYPTO);
    ck_assert_ptr_nonnull(strstr(err.message, "SHA-256 mismatch"));
    ck_assert_ptr_nonnull(strstr(err.message, c.blob_id));
    blob[1000] ^= 1;
    /* A truncated blob is a mismatch too. */
    ck_assert_int_eq(mt_blob_open(&c, blob, blen - 1, out, sizeof out, &got, &err), MT_ECRYPTO);

    /* A tampered tag under a recomputed id: the AEAD catches it. */
    t = c;
    blob[blen - 1] ^= 0x80;
    mt_blob_id(blob, blen, t.blob_id);
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_ECRYPTO);
    ck_assert_ptr_nonnull(strstr(err.message, "authentication failed"));
    blob[blen - 1] ^= 0x80;
    /* So does a wrong key or nonce. */
    t = c;
    t.key[0] ^= 1;
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_ECRYPTO);
    t = c;
    t.nonce[11] ^= 1;
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_ECRYPTO);

    /* Output too small for the data. */
    ck_assert_int_eq(mt_blob_open(&c, blob, blen, out, 39, &got, &err), MT_EINVAL);
    /* A chunk reaching past the blob (id matches: the entry is wrong). */
    t = c;
    t.offset = 1;
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "shorter than offset + length"));
    /* realSize beyond the plaintext, a bad id. */
    t = c;
    t.real_size = MIB + 1;
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_EINVAL);
    t = c;
    t.blob_id[0] = 'A';
    ck_assert_int_eq(mt_blob_open(&t, blob, blen, out, sizeof out, &got, &err), MT_EINVAL);
    /* Untouched, it still opens. */
    ck_assert(mt_blob_open(&c, blob, blen, out, sizeof out, &got, &err) == 0);
    ck_assert_uint_eq(got, 40);
    ck_assert(memcmp(out, plain, 40) == 0);

    ck_assert(mt_blob_id_valid(HEX64("0f")));
    ck_assert(!mt_blob_id_valid(HEX64("0F")));
    ck_assert(!mt_blob_id_valid(HEX64("0f") "0"));
    ck_assert(!mt_blob_id_valid("0f"));
    ck_assert(!mt_blob_id_valid(NULL));
    free(plain);
    free(blob);
}
END_TEST

/* An unpadded chunk as the reference client writes it, built with
 * libsodium here and checked against the independent vector. */
START_TEST(fixed_reference_vector)
{
    static const char text[] = REF_TEXT;
    const size_t tlen = sizeof text - 1;
    uint8_t key[32], nonce[12], blob[sizeof text - 1 + 16], out[sizeof text];
    unsigned long long clen = 0;
    char json[1024], blobs[512], bpath[600], outp[512];
    mt_blob_chunk c;
    mt_fileentry *fe = NULL;
    size_t got = 0, len = 0;
    uint8_t *back;
    mt_error err;

    t_hex(REF_KEY, key, 32);
    t_hex(REF_NONCE, nonce, 12);
    ck_assert(crypto_aead_chacha20poly1305_ietf_encrypt(blob, &clen, (const uint8_t *)text, tlen, NULL, 0, NULL,
                                                        nonce, key) == 0);
    ck_assert_uint_eq(clen, sizeof blob);
    t_assert_hex(blob, 130, REF_BLOB);

    memset(&c, 0, sizeof c);
    memcpy(c.blob_id, REF_ID, MT_BLOB_ID_HEX);
    memcpy(c.key, key, 32);
    memcpy(c.nonce, nonce, 12);
    c.length = (uint32_t)clen;
    c.real_size = -1;
    ck_assert_msg(mt_blob_open(&c, blob, sizeof blob, out, sizeof out, &got, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(got, tlen);
    ck_assert(memcmp(out, text, tlen) == 0);

    /* The same through a reference-style FileEntry (no realSize) and the
     * blob directory. */
    t_fmt(json, sizeof json,
          "{\"name\":\"sunscreen.txt\",\"size\":%zu,\"chunks\":[{\"blobId\":\"" REF_ID "\",\"offset\":0,"
          "\"length\":%zu,\"key\":\"" REF_KEY "\",\"nonce\":\"" REF_NONCE "\"}]}",
          tlen, sizeof blob);
    ck_assert_msg(mt_fileentry_parse(json, strlen(json), &fe, &err) == 0, "%s", err.message);
    ck_assert_int_eq(fe->chunks[0].real_size, -1);
    path_in(blobs, sizeof blobs, "blobs");
    ck_assert(mkdir(blobs, 0700) == 0);
    blob_file(blobs, REF_ID, bpath, sizeof bpath);
    ck_assert(mt_file_write_atomic(bpath, blob, sizeof blob, 0600, 0, NULL) == 0);
    path_in(outp, sizeof outp, "sunscreen.txt");
    ck_assert_msg(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err) == 0, "%s", err.message);
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, tlen);
    ck_assert(memcmp(back, text, tlen) == 0);
    free(back);
    mt_fileentry_free(fe);
}
END_TEST

/* ------------------------------------------------------------ FileEntry */

#define ENTRY_BASE                                                                                           \
    "{\"name\":\"hello.txt\",\"size\":5,\"chunks\":[{\"blobId\":\"" HEX64("ab") "\",\"offset\":0,"          \
    "\"length\":1048592,\"key\":\"" HEX64("cd") "\",\"nonce\":\"efefefefefefefefefefefef\",\"realSize\":5}]}"

START_TEST(fileentry_valid)
{
    static const char unpadded[] =
        "{\"name\":\"x.bin\",\"size\":1048600,\"chunks\":[{\"blobId\":\"" HEX64("ab") "\",\"offset\":0,"
        "\"length\":1048592,\"key\":\"" HEX64("cd") "\",\"nonce\":\"efefefefefefefefefefefef\"},{\"blobId\":\"" HEX64(
            "01") "\",\"offset\":0,\"length\":40,\"key\":\"" HEX64("02") "\",\"nonce\":\"030303030303030303030303\"}],"
        "\"extra\":{\"kept\":[1,2]}}";
    mt_fileentry *fe = NULL, *fe2 = NULL;
    char *json = NULL, *json2 = NULL;
    size_t len = 0, len2 = 0;
    mt_error err;

    ck_assert_msg(mt_fileentry_parse(ENTRY_BASE, strlen(ENTRY_BASE), &fe, &err) == 0, "%s", err.message);
    ck_assert_str_eq(fe->name, "hello.txt");
    ck_assert_int_eq(fe->size, 5);
    ck_assert_uint_eq(fe->n_chunks, 1);
    ck_assert_str_eq(fe->chunks[0].blob_id, HEX64("ab"));
    t_assert_hex(fe->chunks[0].key, 32, HEX64("cd"));
    t_assert_hex(fe->chunks[0].nonce, 12, "efefefefefefefefefefefef");
    ck_assert_uint_eq(fe->chunks[0].length, MT_BLOB_BYTES);
    ck_assert_int_eq(fe->chunks[0].real_size, 5);
    ck_assert_ptr_null(fe->swarm);
    /* Canonical: sorted members, integers, no whitespace. */
    ck_assert_msg(mt_fileentry_to_json(fe, &json, &len, &err) == 0, "%s", err.message);
    ck_assert_str_eq(json, "{\"chunks\":[{\"blobId\":\"" HEX64("ab") "\",\"key\":\"" HEX64("cd")
                           "\",\"length\":1048592,\"nonce\":\"efefefefefefefefefefefef\",\"offset\":0,"
                           "\"realSize\":5}],\"name\":\"hello.txt\",\"size\":5}");
    ck_assert_uint_eq(len, strlen(json));

    /* Swarm goes last; it must be a magnet; NULL clears it. */
    ck_assert_int_eq(mt_fileentry_set_swarm(fe, "http://example.com/", &err), MT_EINVAL);
    ck_assert(!strncmp(err.message, "swarm:", 6));
    ck_assert_ptr_null(fe->swarm);
    ck_assert(mt_fileentry_set_swarm(fe, MAGNET_V1, &err) == 0);
    free(json);
    ck_assert(mt_fileentry_to_json(fe, &json, &len, &err) == 0);
    ck_assert_ptr_nonnull(strstr(json, "\"size\":5,\"swarm\":\"magnet:?xt=urn:btih:fd7473f1"));
    ck_assert(mt_fileentry_parse(json, len, &fe2, &err) == 0);
    ck_assert_str_eq(fe2->swarm, MAGNET_V1);
    ck_assert(mt_fileentry_to_json(fe2, &json2, &len2, &err) == 0);
    ck_assert_uint_eq(len, len2);
    ck_assert_str_eq(json, json2);
    ck_assert(mt_fileentry_set_swarm(fe2, NULL, &err) == 0);
    ck_assert_ptr_null(fe2->swarm);
    mt_fileentry_free(fe2);
    free(json);
    free(json2);
    mt_fileentry_free(fe);

    /* Reference-style unpadded chunks; unknown members accepted, not kept. */
    fe = NULL;
    ck_assert_msg(mt_fileentry_parse(unpadded, strlen(unpadded), &fe, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(fe->n_chunks, 2);
    ck_assert_int_eq(fe->chunks[0].real_size, -1);
    ck_assert_int_eq(mt_blob_chunk_data_size(&fe->chunks[0]), MIB);
    ck_assert_int_eq(mt_blob_chunk_data_size(&fe->chunks[1]), 24);
    ck_assert(mt_fileentry_to_json(fe, &json, &len, &err) == 0);
    ck_assert_ptr_null(strstr(json, "realSize"));
    ck_assert_ptr_null(strstr(json, "extra"));
    ck_assert(mt_fileentry_parse(json, len, &fe2, &err) == 0);
    ck_assert(mt_fileentry_to_json(fe2, &json2, &len2, &err) == 0);
    ck_assert_str_eq(json, json2);
    free(json);
    free(json2);
    mt_fileentry_free(fe2);
    mt_fileentry_free(fe);
    mt_fileentry_free(NULL);
}
END_TEST

typedef struct rule_case {
    const char *what;
    const char *path;  /* "a.b[0].c" member to replace, or NULL for none */
    const char *value; /* raw JSON text of the new value; NULL deletes */
    int code;
    const char *prefix; /* expected start of the message */
} rule_case;

static const rule_case rules[] = {
    {"base is valid", NULL, NULL, 0, ""},
    {"unknown members accepted", "extra", "{\"x\":[1]}", 0, ""},
    {"name of 256 bytes", "name", "\"" HEX64("nn") HEX64("nn") HEX64("nn") HEX64("nn") "\"", MT_EINVAL,
     "name: must be a non-empty"},
    {"name missing", "name", NULL, MT_EINVAL, "name: must be a non-empty"},
    {"name empty", "name", "\"\"", MT_EINVAL, "name: must be a non-empty"},
    {"name a number", "name", "7", MT_EINVAL, "name: must be a non-empty"},
    {"size missing", "size", NULL, MT_EINVAL, "size: missing"},
    {"size negative", "size", "-5", MT_EINVAL, "size: must be an integer from 0"},
    {"size a fraction", "size", "5.5", MT_EINVAL, "size: must be an integer from 0"},
    {"size a string", "size", "\"5\"", MT_EINVAL, "size: must be an integer"},
    {"size mismatch", "size", "6", MT_EINVAL, "size: is 6 but the chunks hold 5 bytes"},
    {"size too small", "size", "4", MT_EINVAL, "size: is 4 but the chunks hold at least 5 bytes"},
    {"chunks missing", "chunks", NULL, MT_EINVAL, "chunks: must be an array"},
    {"chunks an object", "chunks", "{}", MT_EINVAL, "chunks: must be an array"},
    {"no chunks, size 0", "chunks", "[]", MT_EINVAL, "size: is 5 but the chunks hold 0"},
    {"chunk not an object", "chunks[0]", "\"x\"", MT_EINVAL, "chunks[0]: must be an object"},
    {"blobId missing", "chunks[0].blobId", NULL, MT_EINVAL, "chunks[0].blobId: missing"},
    {"blobId short", "chunks[0].blobId", "\"abab\"", MT_EINVAL, "chunks[0].blobId: must be 64 lower-case hex"},
    {"blobId bad hex", "chunks[0].blobId", "\"" HEX64("ag") "\"", MT_EINVAL, "chunks[0].blobId: must be 64"},
    {"blobId upper case", "chunks[0].blobId", "\"" HEX64("AB") "\"", MT_EINVAL, "chunks[0].blobId: must be 64"},
    {"key short", "chunks[0].key", "\"cdcd\"", MT_EINVAL, "chunks[0].key: must be 64 lower-case hex"},
    {"key a number", "chunks[0].key", "12", MT_EINVAL, "chunks[0].key: must be 64"},
    {"nonce long", "chunks[0].nonce", "\"efefefefefefefefefefefefef\"", MT_EINVAL,
     "chunks[0].nonce: must be 24 lower-case hex digits"},
    {"nonce bad hex", "chunks[0].nonce", "\"efefefefefefefefefefefez\"", MT_EINVAL, "chunks[0].nonce: must be 24"},
    {"offset missing", "chunks[0].offset", NULL, MT_EINVAL, "chunks[0].offset: missing"},
    {"offset negative", "chunks[0].offset", "-1", MT_EINVAL, "chunks[0].offset: must be an integer from 0"},
    {"offset past the plaintext", "chunks[0].offset", "1048575", MT_EINVAL,
     "chunks[0].offset: offset + realSize runs past"},
    {"offset at the end of the data", "chunks[0].offset", "1048571", 0, ""},
    {"length over a blob", "chunks[0].length", "1048593", MT_EINVAL,
     "chunks[0].length: must be an integer from 16 to 1048592"},
    {"length under a tag", "chunks[0].length", "15", MT_EINVAL, "chunks[0].length: must be an integer from 16"},
    {"length a fraction", "chunks[0].length", "1048592.5", MT_EINVAL, "chunks[0].length: must be an integer"},
    {"realSize over length", "chunks[0].realSize", "1048577", MT_EINVAL,
     "chunks[0].realSize: must be an integer from 0 to 1048576"},
    {"realSize null", "chunks[0].realSize", "null", MT_EINVAL, "chunks[0].realSize: must be an integer"},
    {"realSize a fraction", "chunks[0].realSize", "4.5", MT_EINVAL, "chunks[0].realSize: must be an integer"},
    {"realSize 5.0 (integer value, not integer text)", "chunks[0].realSize", "5.0", MT_EINVAL, "FileEntry: byte"},
    {"fraction in an unknown member", "extra", "0.5", MT_EINVAL, "FileEntry: byte"},
    {"unpadded chunk holds 1 MiB", "chunks[0].realSize", NULL, MT_EINVAL,
     "size: is 5 but the chunks hold at least 1048576 bytes"},
    {"swarm not a magnet", "swarm", "\"http://x/\"", MT_EINVAL, "swarm:"},
    {"swarm a number", "swarm", "1", MT_EINVAL, "swarm: must be a magnet link"},
    {"swarm without a hash", "swarm", "\"magnet:?dn=x\"", MT_EINVAL, "swarm:"},
    {"swarm a magnet", "swarm", "\"" MAGNET_V1 "\"", 0, ""},
    {"duplicate key", "chunks[0]",
     "{\"blobId\":\"" HEX64("ab") "\",\"blobId\":\"" HEX64("ab") "\",\"offset\":0,\"length\":21,\"key\":\"" HEX64(
         "cd") "\",\"nonce\":\"efefefefefefefefefefefef\"}",
     MT_EINVAL, "FileEntry: duplicate key"},
    {"short unpadded chunk", "chunks[0]",
     "{\"blobId\":\"" HEX64("ab") "\",\"offset\":0,\"length\":21,\"key\":\"" HEX64(
         "cd") "\",\"nonce\":\"efefefefefefefefefefefef\"}",
     0, ""},
    {"empty unpadded chunk", "chunks[1]",
     "{\"blobId\":\"" HEX64("ab") "\",\"offset\":0,\"length\":16,\"key\":\"" HEX64(
         "cd") "\",\"nonce\":\"efefefefefefefefefefefef\"}",
     0, ""},
};

/* Find the parent and key of a dotted path with [i] indexes and put raw
 * JSON text there (NULL deletes; an index past the end appends). */
static void set_path(cJSON *doc, const char *path, const char *value)
{
    char buf[256], *tok, *save = NULL, last[64] = "";
    cJSON *cur = doc, *parent = NULL;
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
    if (last_idx >= 0 && !cur)
        cJSON_AddItemToArray(parent, cJSON_CreateRaw(value));
    else if (last_idx >= 0)
        cJSON_ReplaceItemInArray(parent, last_idx, cJSON_CreateRaw(value));
    else if (!value)
        cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
    else if (cJSON_GetObjectItemCaseSensitive(parent, last))
        cJSON_ReplaceItemInObjectCaseSensitive(parent, last, cJSON_CreateRaw(value));
    else
        cJSON_AddItemToObject(parent, last, cJSON_CreateRaw(value));
}

/* Load entry (JSON text) as item 0 of a manifest signed for the occasion;
 * the manifest's verdict, its message in err. */
static int manifest_load_entry(const char *entry, mt_error *err)
{
    mt_identity *id = NULL;
    mt_manifest *m = NULL;
    cJSON *doc;
    char *text = NULL, *canon = NULL, *signed_doc = NULL, pkhex[65], sighex[129];
    uint8_t sig[64];
    size_t len = 0;
    int rc;

    ck_assert(mt_identity_generate(&id, NULL) == 0);
    mt_hex_encode(mt_identity_public_key(id), 32, pkhex);
    ck_assert(asprintf(&text,
                       "{\"publicKey\":\"%s\",\"sequence\":1,\"timestamp\":1,"
                       "\"collections\":[{\"title\":\"Files\",\"items\":[%s]}]}",
                       pkhex, entry) > 0);
    doc = cJSON_Parse(text);
    ck_assert_ptr_nonnull(doc);
    ck_assert(mt_json_canonical(doc, &canon, &len, NULL) == 0);
    crypto_sign_detached(sig, NULL, (const uint8_t *)canon, len, mt_identity_secret_key(id));
    mt_hex_encode(sig, 64, sighex);
    cJSON_AddStringToObject(doc, "signature", sighex);
    ck_assert(mt_json_canonical(doc, &signed_doc, &len, NULL) == 0);
    rc = mt_manifest_load(signed_doc, len, NULL, &m, err);
    ck_assert(rc != 0 || m != NULL);
    mt_manifest_free(m);
    free(signed_doc);
    free(canon);
    free(text);
    cJSON_Delete(doc);
    mt_identity_free(id);
    return rc;
}

/* want under path: "collections[0].items[0].chunks[0].key: ..." for
 * "chunks[0].key: ...". */
static void assert_under(const char *what, const char *got, const char *path, const char *want)
{
    char full[MT_ERROR_MSG_MAX + 64];
    t_fmt(full, sizeof full, "%s.%s", path, want);
    ck_assert_msg(strcmp(got, full) == 0, "%s: \"%s\", want \"%s\"", what, got, full);
}

/*
 * Every entry point that reads a FileEntry gives the same verdict and,
 * where the validator speaks (not the JSON parser: "FileEntry: byte 12"),
 * the same message under its own path: mt_fileentry_parse (blob fetch and
 * reassembly input), a manifest draft item, and a signed manifest's item.
 */
START_TEST(fileentry_rule)
{
    const rule_case *rc = &rules[_i];
    cJSON *doc = cJSON_Parse(ENTRY_BASE);
    mt_fileentry *fe = NULL;
    mt_manifest_draft *d = NULL;
    mt_error err, merr, lerr;
    cJSON *strict = NULL;
    char *json;
    int got, mgot, lgot;

    ck_assert_ptr_nonnull(doc);
    if (rc->path)
        set_path(doc, rc->path, rc->value);
    json = cJSON_PrintUnformatted(doc);
    got = mt_fileentry_parse(json, strlen(json), &fe, &err);
    ck_assert_msg(got == rc->code, "%s: got %d (%s), want %d", rc->what, got, got ? err.message : "", rc->code);
    if (rc->code) {
        ck_assert_msg(!strncmp(err.message, rc->prefix, strlen(rc->prefix)), "%s: message \"%s\" lacks \"%s\"",
                      rc->what, err.message, rc->prefix);
        ck_assert_ptr_null(fe);
    } else {
        ck_assert_ptr_nonnull(fe);
    }
    /* The same verdict as a manifest item gets, drafted and loaded. */
    ck_assert(mt_manifest_draft_new(&d, NULL) == 0);
    mgot = mt_manifest_draft_add_entry(d, json, strlen(json), &merr);
    ck_assert_msg((mgot == 0) == (got == 0), "%s: manifest draft says %d (%s), FileEntry %d", rc->what, mgot,
                  mgot ? merr.message : "", got);
    mt_manifest_draft_free(d);
    /* When the text is strict JSON the validator speaks for all three, and
     * a signed manifest can carry it byte for byte. (Otherwise the strict
     * parser refuses it first: the manifest names a byte offset, and
     * mt_fileentry_parse the member when it can.) */
    if (mt_json_parse(json, strlen(json), MT_JSON_INTEGERS, MT_FILEENTRY_JSON_MAX, MT_MANIFEST_DEPTH, &strict,
                      NULL) == 0) {
        lgot = manifest_load_entry(json, &lerr);
        ck_assert_msg(lgot == got, "%s: signed manifest says %d (%s), FileEntry %d", rc->what, lgot,
                      lgot ? lerr.message : "", got);
        if (got) {
            assert_under(rc->what, merr.message, "item 1", err.message);
            assert_under(rc->what, lerr.message, "collections[0].items[0]", err.message);
        }
    }
    cJSON_Delete(strict);
    mt_fileentry_free(fe);
    free(json);
    cJSON_Delete(doc);
}
END_TEST

/* ------------------------------------------- decoded entries, same rules */

static void mut_size_over(mt_fileentry *fe) { fe->size = 6; }
static void mut_size_under(mt_fileentry *fe) { fe->size = 4; }
static void mut_size_negative(mt_fileentry *fe) { fe->size = -1; }
static void mut_blob_id(mt_fileentry *fe) { fe->chunks[0].blob_id[3] = 'X'; }
static void mut_blob_id_unterminated(mt_fileentry *fe) { fe->chunks[0].blob_id[64] = 'a'; }
static void mut_length(mt_fileentry *fe) { fe->chunks[0].length = 15; }
static void mut_length_over(mt_fileentry *fe) { fe->chunks[0].length = MT_BLOB_BYTES + 1; }
static void mut_real_over(mt_fileentry *fe) { fe->chunks[0].real_size = MIB + 1; }
static void mut_real_negative(mt_fileentry *fe) { fe->chunks[0].real_size = -5; }
static void mut_offset(mt_fileentry *fe) { fe->chunks[0].offset = MIB - 1; }
static void mut_unpadded(mt_fileentry *fe) { fe->chunks[0].real_size = -1; }
static void mut_name_empty(mt_fileentry *fe) { fe->name[0] = '\0'; }
static void mut_name_unterminated(mt_fileentry *fe) { memset(fe->name, 'n', sizeof fe->name); }
static void mut_name_utf8(mt_fileentry *fe) { strcpy(fe->name, "bad \xc3\x28"); }
static void mut_swarm(mt_fileentry *fe) { fe->swarm = strdup("http://x/"); }
static void mut_swarm_utf8(mt_fileentry *fe) { fe->swarm = strdup(MAGNET_V1 "\xff"); }

typedef struct decoded_case {
    const char *what;
    void (*mutate)(mt_fileentry *fe);
    const char *path;    /* the same break in JSON text, or NULL when text cannot carry it */
    const char *value;
    const char *message; /* exact, or NULL: whatever the JSON form gets */
} decoded_case;

static const decoded_case decoded[] = {
    {"size over the chunks", mut_size_over, "size", "6", "size: is 6 but the chunks hold 5 bytes"},
    /* manifest.c used to say "more than 5 bytes" here: a partial sum,
     * since counting stops, so "at least" is the true statement. */
    {"size under the chunks", mut_size_under, "size", "4", "size: is 4 but the chunks hold at least 5 bytes"},
    {"size negative", mut_size_negative, "size", "-1", "size: must be an integer from 0 to 9007199254740991"},
    {"blobId bad hex", mut_blob_id, "chunks[0].blobId", "\"abaXab\"",
     "chunks[0].blobId: must be 64 lower-case hex digits"},
    {"blobId without its NUL", mut_blob_id_unterminated, NULL, NULL,
     "chunks[0].blobId: must be 64 lower-case hex digits"},
    {"length under a tag", mut_length, "chunks[0].length", "15",
     "chunks[0].length: must be an integer from 16 to 1048592"},
    {"length over a blob", mut_length_over, "chunks[0].length", "1048593",
     "chunks[0].length: must be an integer from 16 to 1048592"},
    {"realSize over the plaintext", mut_real_over, "chunks[0].realSize", "1048577",
     "chunks[0].realSize: must be an integer from 0 to 1048576"},
    {"realSize negative", mut_real_negative, "chunks[0].realSize", "-5",
     "chunks[0].realSize: must be an integer from 0 to 1048576"},
    {"offset past the plaintext", mut_offset, "chunks[0].offset", "1048575",
     "chunks[0].offset: offset + realSize runs past the blob's plaintext"},
    {"padded chunk made unpadded", mut_unpadded, "chunks[0].realSize", NULL,
     "size: is 5 but the chunks hold at least 1048576 bytes"},
    {"name empty", mut_name_empty, "name", "\"\"", "name: must be a non-empty UTF-8 string of at most 255 bytes"},
    {"name without its NUL", mut_name_unterminated, NULL, NULL,
     "name: must be a non-empty UTF-8 string of at most 255 bytes"},
    /* blob.c required UTF-8 and manifest.c did not; text never shows it
     * (the strict parser refuses first), a caller's struct or tree can. */
    {"name not UTF-8", mut_name_utf8, NULL, NULL, "name: must be a non-empty UTF-8 string of at most 255 bytes"},
    {"swarm not a magnet", mut_swarm, "swarm", "\"http://x/\"", NULL},
    {"swarm not UTF-8", mut_swarm_utf8, NULL, NULL, "swarm: must be a magnet link (valid UTF-8)"},
};

/* A decoded entry with a broken rule is refused with the same message by
 * every call that takes one (write-out, reassembly, incremental fetch) as
 * its JSON form gets from the parser and a manifest. */
START_TEST(fileentry_decoded_rule)
{
    const decoded_case *dc = &decoded[_i];
    mt_fileentry *fe = NULL;
    mt_blob_writer *w = NULL;
    const char *want = dc->message;
    char *json = NULL, outp[512];
    cJSON *o = NULL;
    size_t len = 0;
    mt_error err, jerr, lerr;

    path_in(outp, sizeof outp, "out.bin");
    if (dc->path) {
        cJSON *doc = cJSON_Parse(ENTRY_BASE);
        char *text;
        mt_fileentry *jfe = NULL;
        ck_assert_ptr_nonnull(doc);
        set_path(doc, dc->path, dc->value);
        text = cJSON_PrintUnformatted(doc);
        ck_assert_int_eq(mt_fileentry_parse(text, strlen(text), &jfe, &jerr), MT_EINVAL);
        if (want)
            ck_assert_msg(strcmp(jerr.message, want) == 0, "%s: parse says \"%s\", want \"%s\"", dc->what,
                          jerr.message, want);
        want = jerr.message;
        ck_assert_int_eq(manifest_load_entry(text, &lerr), MT_EINVAL);
        assert_under(dc->what, lerr.message, "collections[0].items[0]", want);
        free(text);
        cJSON_Delete(doc);
    }
    ck_assert_ptr_nonnull(want);

    ck_assert(mt_fileentry_parse(ENTRY_BASE, strlen(ENTRY_BASE), &fe, &err) == 0);
    dc->mutate(fe);
    ck_assert_int_eq(mt_fileentry_to_json(fe, &json, &len, &err), MT_EINVAL);
    ck_assert_msg(strcmp(err.message, want) == 0, "%s: to_json \"%s\"", dc->what, err.message);
    ck_assert_int_eq(mt_fileentry_to_cjson(fe, &o, &err), MT_EINVAL);
    ck_assert_msg(strcmp(err.message, want) == 0, "%s: to_cjson \"%s\"", dc->what, err.message);
    ck_assert_int_eq(mt_blob_reassemble(fe, tmpdir, outp, NULL, NULL, &err), MT_EINVAL);
    ck_assert_msg(strcmp(err.message, want) == 0, "%s: reassemble \"%s\"", dc->what, err.message);
    ck_assert_int_eq(mt_blob_writer_open(fe, outp, &w, &err), MT_EINVAL);
    ck_assert_msg(strcmp(err.message, want) == 0, "%s: writer_open \"%s\"", dc->what, err.message);
    ck_assert_ptr_null(w);
    ck_assert_ptr_null(json);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(access(outp, F_OK), -1);
    mt_fileentry_free(fe);
}
END_TEST

START_TEST(fileentry_misc)
{
    static const char not_obj[] = "[1]";
    mt_fileentry *fe = NULL;
    cJSON *o = NULL;
    char *json = NULL;
    size_t len = 0;
    mt_error err;
    uintptr_t chunks_at;
    size_t chunks_len;

    ck_assert_int_eq(mt_fileentry_parse(not_obj, 3, &fe, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "FileEntry: must be a JSON object");
    ck_assert_int_eq(mt_fileentry_parse("{", 1, &fe, &err), MT_EINVAL);
    ck_assert(!strncmp(err.message, "FileEntry: ", 11));
    ck_assert_int_eq(mt_fileentry_parse("{}", MT_FILEENTRY_JSON_MAX + 1, &fe, &err), MT_ETOOBIG);
    ck_assert_ptr_null(fe);

    /* Names: 255 bytes fit, 256 do not. */
    {
        char doc[512], name[257];
        memset(name, 'n', 256);
        name[255] = '\0';
        t_fmt(doc, sizeof doc, "{\"name\":\"%s\",\"size\":0,\"chunks\":[]}", name);
        ck_assert_msg(mt_fileentry_parse(doc, strlen(doc), &fe, &err) == 0, "%s", err.message);
        ck_assert_uint_eq(strlen(fe->name), 255);
        ck_assert_uint_eq(fe->n_chunks, 0);
        mt_fileentry_free(fe);
        fe = NULL;
        name[255] = 'n';
        name[256] = '\0';
        t_fmt(doc, sizeof doc, "{\"name\":\"%s\",\"size\":0,\"chunks\":[]}", name);
        ck_assert_int_eq(mt_fileentry_parse(doc, strlen(doc), &fe, &err), MT_EINVAL);
        ck_assert(!strncmp(err.message, "name: must be a non-empty", 25));
    }

    /* A caller-built entry that breaks a rule is not written out. */
    ck_assert(mt_fileentry_parse(ENTRY_BASE, strlen(ENTRY_BASE), &fe, &err) == 0);
    fe->chunks[0].nonce[0] ^= 1; /* fine: any bytes */
    fe->size = 6;
    ck_assert_int_eq(mt_fileentry_to_json(fe, &json, &len, &err), MT_EINVAL);
    ck_assert_str_eq(err.message, "size: is 6 but the chunks hold 5 bytes");
    fe->size = 5;
    fe->chunks[0].blob_id[3] = 'X';
    ck_assert_int_eq(mt_fileentry_to_cjson(fe, &o, &err), MT_EINVAL);
    ck_assert(!strncmp(err.message, "chunks[0].blobId:", 17));
    fe->chunks[0].blob_id[3] = 'a';
    fe->name[0] = '\0';
    ck_assert_int_eq(mt_fileentry_to_cjson(fe, &o, &err), MT_EINVAL);
    ck_assert(!strncmp(err.message, "name:", 5));
    strcpy(fe->name, "ok");
    ck_assert(mt_fileentry_to_cjson(fe, &o, &err) == 0);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "chunks")));
    cJSON_Delete(o);

    /* free wipes the keys (and the rest of the entry). */
    chunks_at = (uintptr_t)fe->chunks;
    chunks_len = fe->n_chunks * sizeof *fe->chunks;
    spy_count = 0;
    mt_fileentry_free(fe);
    ck_assert(spy_wiped(chunks_at, chunks_len));
}
END_TEST

/* ------------------------------------------------------------ ingest */

static const size_t ingest_sizes[] = {0, 1, MIB, MIB + 1, 3 * MIB + MIB / 2};

START_TEST(ingest_reassemble_round_trip)
{
    size_t size = ingest_sizes[_i / 2], len = 0, want_chunks = (size + MIB - 1) / MIB;
    int no_pad = _i % 2;
    char blobs[512], outp[512], bpath[600], *json = NULL;
    mt_fileentry *fe, *fe2 = NULL;
    uint8_t *data, *back;
    int64_t sum = 0;
    mt_error err;

    fe = ingest_random("src.bin", size, no_pad, &data);
    path_in(blobs, sizeof blobs, "blobs");
    ck_assert_str_eq(fe->name, "src.bin");
    ck_assert_int_eq(fe->size, (int64_t)size);
    ck_assert_uint_eq(fe->n_chunks, want_chunks);
    ck_assert_uint_eq(dir_count(blobs), want_chunks); /* no temp files left */
    for (size_t i = 0; i < fe->n_chunks; i++) {
        const mt_blob_chunk *c = &fe->chunks[i];
        size_t data_len = i + 1 < want_chunks ? MIB : size - i * MIB;
        blob_file(blobs, c->blob_id, bpath, sizeof bpath);
        ck_assert_int_eq(fsize(bpath), no_pad ? (long long)data_len + 16 : MT_BLOB_BYTES);
        ck_assert_int_eq(c->real_size, no_pad ? -1 : (int64_t)data_len);
        ck_assert_int_eq(mt_blob_chunk_data_size(c), (int64_t)data_len);
        sum += mt_blob_chunk_data_size(c);
    }
    ck_assert_int_eq(sum, (int64_t)size);

    /* Through JSON and back, as a subscriber gets it. */
    ck_assert_msg(mt_fileentry_to_json(fe, &json, &len, &err) == 0, "%s", err.message);
    ck_assert_msg(mt_fileentry_parse(json, len, &fe2, &err) == 0, "%s", err.message);
    path_in(outp, sizeof outp, "out.bin");
    ck_assert_msg(mt_blob_reassemble(fe2, blobs, outp, NULL, NULL, &err) == 0, "%s", err.message);
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, size);
    ck_assert(size == 0 || memcmp(back, data, size) == 0);
    ck_assert(!exists(strcat(outp, ".mtpart")));
    free(back);
    free(json);
    free(data);
    mt_fileentry_free(fe2);
    mt_fileentry_free(fe);
}
END_TEST

/*
 * Every 64-byte window of the source, by a rolling hash, for finding any
 * of them in the blobs. Slots hold (hash, position + 1); hits are confirmed
 * with memcmp.
 */
#define WIN 64
#define WIN_BASE 0x100000001b3ULL

typedef struct winset {
    uint64_t      *hash;
    uint32_t      *pos;
    size_t         mask;
    const uint8_t *src;
    uint64_t       top; /* WIN_BASE^(WIN-1) */
} winset;

static uint64_t win_hash(const uint8_t *p)
{
    uint64_t h = 0;
    for (size_t i = 0; i < WIN; i++)
        h = h * WIN_BASE + p[i];
    return h;
}

static uint64_t win_roll(uint64_t h, uint64_t top, uint8_t out, uint8_t in)
{
    return (h - out * top) * WIN_BASE + in;
}

static size_t win_slot(const winset *s, uint64_t h)
{
    return (size_t)((h ^ (h >> 29)) * 0x9e3779b97f4a7c15ULL >> 20) & s->mask;
}

static void winset_build(winset *s, const uint8_t *src, size_t n)
{
    size_t cap = 1;
    uint64_t h;
    while (cap < 2 * n)
        cap <<= 1;
    s->hash = calloc(cap, sizeof *s->hash);
    s->pos = calloc(cap, sizeof *s->pos);
    ck_assert(s->hash && s->pos);
    s->mask = cap - 1;
    s->src = src;
    s->top = 1;
    for (size_t i = 0; i < WIN - 1; i++)
        s->top *= WIN_BASE;
    h = win_hash(src);
    for (size_t i = 0; i + WIN <= n; i++) {
        size_t k = win_slot(s, h);
        while (s->pos[k])
            k = (k + 1) & s->mask;
        s->hash[k] = h;
        s->pos[k] = (uint32_t)i + 1;
        if (i + WIN < n)
            h = win_roll(h, s->top, src[i], src[i + WIN]);
    }
}

/* Windows of buf that are windows of the source. */
static size_t winset_scan(const winset *s, const uint8_t *buf, size_t n)
{
    size_t hits = 0;
    uint64_t h;
    if (n < WIN)
        return 0;
    h = win_hash(buf);
    for (size_t i = 0; i + WIN <= n; i++) {
        for (size_t k = win_slot(s, h); s->pos[k]; k = (k + 1) & s->mask) {
            if (s->hash[k] == h && memcmp(s->src + s->pos[k] - 1, buf + i, WIN) == 0) {
                hits++;
                break;
            }
        }
        if (i + WIN < n)
            h = win_roll(h, s->top, buf[i], buf[i + WIN]);
    }
    return hits;
}

START_TEST(ingest_deniability)
{
    const size_t size = MIB + 4099;
    char blobs[512], bpath[600];
    mt_fileentry *fe;
    uint8_t *data, *blob, *probe;
    size_t len;
    winset s;

    fe = ingest_random("secret.bin", size, 0, &data);
    path_in(blobs, sizeof blobs, "blobs");
    winset_build(&s, data, size);
    /* The detector works: it finds the source in itself, and one window
     * planted in noise. */
    ck_assert_uint_eq(winset_scan(&s, data, size), size - WIN + 1);
    probe = malloc(4096);
    randombytes_buf(probe, 4096);
    memcpy(probe + 1000, data + MIB + 7, WIN);
    ck_assert_uint_eq(winset_scan(&s, probe, 4096), 1);
    free(probe);
    /* No window of the file appears in any blob. */
    for (size_t i = 0; i < fe->n_chunks; i++) {
        blob_file(blobs, fe->chunks[i].blob_id, bpath, sizeof bpath);
        blob = slurp(bpath, &len);
        ck_assert_uint_eq(len, MT_BLOB_BYTES);
        ck_assert_uint_eq(winset_scan(&s, blob, len), 0);
        free(blob);
    }
    free(s.hash);
    free(s.pos);
    free(data);
    mt_fileentry_free(fe);
}
END_TEST

START_TEST(ingest_names_and_paths)
{
    char src[512], blobs[512], outdir[512], outp[600], dotdir[512];
    mt_blob_ingest_opts o = {0};
    mt_fileentry *fe = NULL;
    uint8_t *data, *back;
    size_t len = 0;
    mt_error err;

    path_in(src, sizeof src, "plain.txt");
    path_in(blobs, sizeof blobs, "blobs");
    data = rand_file(src, 5000);
    o.name = "../../etc/passwd";
    spy_count = 0;
    ck_assert_msg(mt_blob_ingest_file(src, blobs, &o, &fe, &err) == 0, "%s", err.message);
    ck_assert_ptr_null(strchr(fe->name, '/'));
    ck_assert(fe->name[0] != '.');
    ck_assert_str_eq(fe->name, "___.._etc_passwd");
    ck_assert_int_eq(spy_count > 0, 1); /* the plaintext buffer was wiped */
    {
        int wiped_chunk = 0;
        for (size_t i = 0; i < spy_count; i++)
            wiped_chunk |= spy_wipes[i].n == MT_BLOB_CHUNK;
        ck_assert(wiped_chunk);
    }
    /* The blob directory is created 0700. */
    {
        struct stat st;
        ck_assert(stat(blobs, &st) == 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0700);
    }
    /* Reassembly writes the caller's path and nothing else. */
    path_in(outdir, sizeof outdir, "out");
    ck_assert(mkdir(outdir, 0700) == 0);
    t_fmt(outp, sizeof outp, "%s/chosen.bin", outdir);
    ck_assert_msg(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(dir_count(outdir), 1);
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, 5000);
    ck_assert(memcmp(back, data, 5000) == 0);
    free(back);
    mt_fileentry_free(fe);

    /* Without a name: the basename, sanitised. */
    path_in(dotdir, sizeof dotdir, ".hidden");
    ck_assert(mt_file_write_atomic(dotdir, "x", 1, 0600, 1, NULL) == 0);
    ck_assert(mt_blob_ingest_file(dotdir, blobs, NULL, &fe, &err) == 0);
    ck_assert_str_eq(fe->name, "_hidden");
    mt_fileentry_free(fe);

    /* Errors: missing source, a directory as source, a file as blob dir. */
    fe = NULL;
    path_in(outp, sizeof outp, "nope");
    ck_assert_int_eq(mt_blob_ingest_file(outp, blobs, NULL, &fe, &err), MT_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "nope"));
    ck_assert_int_eq(mt_blob_ingest_file(outdir, blobs, NULL, &fe, &err), MT_EINVAL);
    ck_assert_int_eq(mt_blob_ingest_file(src, src, NULL, &fe, &err), MT_EINVAL);
    ck_assert_ptr_null(fe);
    free(data);
}
END_TEST

/* Reassembly failures leave out_path as it was and no .mtpart behind. */
START_TEST(reassemble_failures)
{
    static const char old[] = "previous contents";
    char blobs[512], outp[512], part[600], bpath[600], away[620];
    mt_fileentry *fe;
    uint8_t *data, *back;
    size_t len = 0;
    mt_error err;

    fe = ingest_random("src.bin", 2 * MIB + 10, 0, &data);
    path_in(blobs, sizeof blobs, "blobs");
    path_in(outp, sizeof outp, "out.bin");
    t_fmt(part, sizeof part, "%s.mtpart", outp);
    ck_assert(mt_file_write_atomic(outp, old, sizeof old, 0600, 1, NULL) == 0);

    /* A missing blob is named. */
    blob_file(blobs, fe->chunks[1].blob_id, bpath, sizeof bpath);
    t_fmt(away, sizeof away, "%s.away", bpath);
    ck_assert(rename(bpath, away) == 0);
    ck_assert_int_eq(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err), MT_ENOTFOUND);
    ck_assert_msg(strstr(err.message, fe->chunks[1].blob_id) != NULL, "%s", err.message);
    ck_assert(!strncmp(err.message, "chunks[1]: ", 11));
    ck_assert(!exists(part));
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, sizeof old);
    ck_assert(memcmp(back, old, len) == 0);
    free(back);

    /* A corrupted blob: detected before decryption. */
    ck_assert(rename(away, bpath) == 0);
    flip_byte(bpath, 12345);
    ck_assert_int_eq(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err), MT_ECRYPTO);
    ck_assert_ptr_nonnull(strstr(err.message, "SHA-256 mismatch"));
    ck_assert_ptr_nonnull(strstr(err.message, fe->chunks[1].blob_id));
    ck_assert(!exists(part));
    back = slurp(outp, &len);
    ck_assert(len == sizeof old && memcmp(back, old, len) == 0);
    free(back);

    /* A torn (short) blob and an oversized one are corrupt too. */
    flip_byte(bpath, 12345);
    ck_assert(truncate(bpath, 1000) == 0);
    ck_assert_int_eq(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err), MT_ECRYPTO);
    ck_assert(truncate(bpath, MT_BLOB_BYTES + 1) == 0);
    ck_assert_int_eq(mt_blob_reassemble(fe, blobs, outp, NULL, NULL, &err), MT_ECRYPTO);
    ck_assert(!exists(part));
    back = slurp(outp, &len);
    ck_assert(len == sizeof old && memcmp(back, old, len) == 0);
    free(back);
    free(data);
    mt_fileentry_free(fe);
}
END_TEST

/* ------------------------------------------------------------ writer */

START_TEST(writer_any_order)
{
    char blobs[512], outp[512], part[600], bpath[600];
    mt_blob_writer *w = NULL;
    mt_fileentry *fe;
    uint8_t *data, *back, *blob;
    size_t len = 0, blen = 0;
    int64_t bytes = -1;
    mt_error err;

    fe = ingest_random("src.bin", 3 * MIB + MIB / 2, 0, &data);
    path_in(blobs, sizeof blobs, "blobs");
    path_in(outp, sizeof outp, "out.bin");
    t_fmt(part, sizeof part, "%s.mtpart", outp);
    ck_assert_msg(mt_blob_writer_open(fe, outp, &w, &err) == 0, "%s", err.message);
    ck_assert(exists(part));
    ck_assert_uint_eq(mt_blob_writer_done(w, &bytes), 0);
    ck_assert_int_eq(bytes, 0);
    for (size_t i = fe->n_chunks; i-- > 0;) {
        blob_file(blobs, fe->chunks[i].blob_id, bpath, sizeof bpath);
        ck_assert(!mt_blob_writer_has(w, i));
        if (i == 1) {
            /* From memory, and a second put is harmless. */
            blob = slurp(bpath, &blen);
            ck_assert_msg(mt_blob_writer_put_mem(w, i, blob, blen, &err) == 0, "%s", err.message);
            ck_assert(mt_blob_writer_put_mem(w, i, blob, blen, &err) == 0);
            free(blob);
        } else {
            ck_assert_msg(mt_blob_writer_put(w, i, bpath, &err) == 0, "%s", err.message);
        }
        ck_assert(mt_blob_writer_has(w, i));
    }
    ck_assert(mt_blob_writer_put(w, 0, bpath, &err) == 0);
    ck_assert_uint_eq(mt_blob_writer_done(w, &bytes), fe->n_chunks);
    ck_assert_int_eq(bytes, fe->size);
    ck_assert_int_eq(mt_blob_writer_put(w, fe->n_chunks, bpath, &err), MT_EINVAL);
    ck_assert_msg(mt_blob_writer_commit(w, &err) == 0, "%s", err.message);
    ck_assert(!exists(part));
    ck_assert_int_eq(mt_blob_writer_commit(w, &err), MT_ESTATE);
    ck_assert_int_eq(mt_blob_writer_put(w, 0, bpath, &err), MT_ESTATE);
    mt_blob_writer_free(w, 1); /* committed: discard removes nothing */
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, (size_t)fe->size);
    ck_assert(memcmp(back, data, len) == 0);
    free(back);
    free(data);
    mt_fileentry_free(fe);
}
END_TEST

START_TEST(writer_missing_corrupt_resume)
{
    char blobs[512], outp[512], part[600], bpath[600], other[600];
    mt_blob_writer *w = NULL;
    mt_fileentry *fe, *fe2;
    uint8_t *data, *data2, *back;
    size_t len = 0;
    int64_t bytes = 0;
    mt_error err;

    fe = ingest_random("src.bin", 3 * MIB + 100, 0, &data);
    path_in(blobs, sizeof blobs, "blobs");
    path_in(outp, sizeof outp, "out.bin");
    t_fmt(part, sizeof part, "%s.mtpart", outp);

    ck_assert(mt_blob_writer_open(fe, outp, &w, &err) == 0);
    blob_file(blobs, fe->chunks[2].blob_id, bpath, sizeof bpath);
    ck_assert(mt_blob_writer_put(w, 2, bpath, &err) == 0);
    /* Missing chunks: commit refuses, naming the first. */
    ck_assert_int_eq(mt_blob_writer_commit(w, &err), MT_ESTATE);
    ck_assert_msg(strstr(err.message, "3 of 4 chunks missing (first: chunks[0])") != NULL, "%s", err.message);
    ck_assert(!exists(outp));
    /* Wrong blob for the index, a missing file, a corrupted one. */
    ck_assert_int_eq(mt_blob_writer_put(w, 0, bpath, &err), MT_ECRYPTO);
    ck_assert(!strncmp(err.message, "chunks[0]: blob ", 16));
    t_fmt(other, sizeof other, "%s/none", blobs);
    ck_assert_int_eq(mt_blob_writer_put(w, 0, other, &err), MT_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.message, fe->chunks[0].blob_id));
    blob_file(blobs, fe->chunks[0].blob_id, bpath, sizeof bpath);
    flip_byte(bpath, 99);
    ck_assert_int_eq(mt_blob_writer_put(w, 0, bpath, &err), MT_ECRYPTO);
    ck_assert(!mt_blob_writer_has(w, 0));
    flip_byte(bpath, 99);
    ck_assert(mt_blob_writer_put(w, 0, bpath, &err) == 0);

    /* Close without discarding, reopen: what was put is still done. */
    mt_blob_writer_free(w, 0);
    ck_assert(exists(part));
    w = NULL;
    ck_assert_msg(mt_blob_writer_open(fe, outp, &w, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(mt_blob_writer_done(w, &bytes), 2);
    ck_assert_int_eq(bytes, 2 * MIB);
    ck_assert(mt_blob_writer_has(w, 0) && mt_blob_writer_has(w, 2));
    ck_assert(!mt_blob_writer_has(w, 1) && !mt_blob_writer_has(w, 3));
    for (size_t i = 1; i < 4; i += 2) {
        blob_file(blobs, fe->chunks[i].blob_id, bpath, sizeof bpath);
        ck_assert(mt_blob_writer_put(w, i, bpath, &err) == 0);
    }
    ck_assert_msg(mt_blob_writer_commit(w, &err) == 0, "%s", err.message);
    mt_blob_writer_free(w, 0);
    ck_assert(!exists(part));
    back = slurp(outp, &len);
    ck_assert_uint_eq(len, (size_t)fe->size);
    ck_assert(memcmp(back, data, len) == 0);
    free(back);

    /* A .mtpart left by another entry is not trusted; discard removes it. */
    ck_assert(mt_blob_writer_open(fe, outp, &w, &err) == 0);
    blob_file(blobs, fe->chunks[3].blob_id, bpath, sizeof bpath);
    ck_assert(mt_blob_writer_put(w, 3, bpath, &err) == 0);
    mt_blob_writer_free(w, 0);
    fe2 = ingest_random("src2.bin", 3 * MIB + 100, 1, &data2);
    {
        /* A writer for the other entry (same size and chunk count) starts
         * afresh, overwrites chunk 3's bytes and dies without closing: the
         * first entry's record must not vouch for them any more. */
        pid_t pid = fork();
        int status = 0;
        ck_assert(pid >= 0);
        if (pid == 0) {
            blob_file(blobs, fe2->chunks[3].blob_id, bpath, sizeof bpath);
            if (mt_blob_writer_open(fe2, outp, &w, NULL) != 0 || mt_blob_writer_done(w, NULL) != 0 ||
                mt_blob_writer_put(w, 3, bpath, NULL) != 0)
                _exit(1);
            _exit(0);
        }
        ck_assert(waitpid(pid, &status, 0) == pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert(mt_blob_writer_open(fe, outp, &w, &err) == 0);
    ck_assert_uint_eq(mt_blob_writer_done(w, NULL), 0);
    ck_assert(!mt_blob_writer_has(w, 3));
    mt_blob_writer_free(w, 1);
    ck_assert(!exists(part));
    mt_blob_writer_free(NULL, 1);

    /* An empty file needs no chunks. */
    fe2->size = 0;
    fe2->n_chunks = 0;
    ck_assert(mt_blob_writer_open(fe2, outp, &w, &err) == 0);
    ck_assert(mt_blob_writer_commit(w, &err) == 0);
    mt_blob_writer_free(w, 0);
    ck_assert_int_eq(fsize(outp), 0);
    fe2->n_chunks = 4;
    free(data2);
    mt_fileentry_free(fe2);
    free(data);
    mt_fileentry_free(fe);
}
END_TEST

/* ------------------------------------------------------------ progress */

typedef struct prog {
    int     calls;
    int     cancel_at; /* call number that returns non-zero; 0: never */
    int64_t last_done, last_total;
    int     monotonic;
} prog;

static int on_progress(void *ud, int64_t done, int64_t total)
{
    prog *p = ud;
    if (done <= p->last_done || done > total)
        p->monotonic = 0;
    p->last_done = done;
    p->last_total = total;
    return ++p->calls == p->cancel_at;
}

START_TEST(progress_and_cancel)
{
    char src[512], blobs[512], outp[512], part[600];
    mt_blob_ingest_opts o = {0};
    mt_fileentry *fe = NULL, *sentinel = (mt_fileentry *)&o;
    prog p = {0, 0, 0, 0, 1};
    uint8_t *data;
    mt_error err;

    path_in(src, sizeof src, "src.bin");
    path_in(blobs, sizeof blobs, "blobs");
    path_in(outp, sizeof outp, "out.bin");
    t_fmt(part, sizeof part, "%s.mtpart", outp);
    data = rand_file(src, 2 * MIB + 1);
    o.progress = on_progress;
    o.ud = &p;
    ck_assert(mt_blob_ingest_file(src, blobs, &o, &fe, &err) == 0);
    ck_assert_int_eq(p.calls, 3);
    ck_assert(p.monotonic);
    ck_assert_int_eq(p.last_done, 2 * MIB + 1);
    ck_assert_int_eq(p.last_total, 2 * MIB + 1);
    mt_fileentry_free(fe);

    /* Cancelled on the second chunk: MT_ESTATE, *out untouched. */
    memset(&p, 0, sizeof p);
    p.cancel_at = 2;
    fe = sentinel;
    ck_assert_int_eq(mt_blob_ingest_file(src, blobs, &o, &fe, &err), MT_ESTATE);
    ck_assert_ptr_nonnull(strstr(err.message, "cancelled"));
    ck_assert_ptr_eq(fe, sentinel);
    ck_assert_int_eq(p.calls, 2);

    fe = NULL;
    o.progress = NULL;
    ck_assert(mt_blob_ingest_file(src, blobs, &o, &fe, &err) == 0);
    memset(&p, 0, sizeof p);
    p.monotonic = 1;
    ck_assert(mt_blob_reassemble(fe, blobs, outp, on_progress, &p, &err) == 0);
    ck_assert_int_eq(p.calls, 3);
    ck_assert(p.monotonic);
    ck_assert_int_eq(p.last_done, fe->size);
    ck_assert(unlink(outp) == 0);
    memset(&p, 0, sizeof p);
    p.cancel_at = 1;
    ck_assert_int_eq(mt_blob_reassemble(fe, blobs, outp, on_progress, &p, &err), MT_ESTATE);
    ck_assert(!exists(outp) && !exists(part));
    free(data);
    mt_fileentry_free(fe);
}
END_TEST

static Suite *blob_suite(void)
{
    Suite *s = suite_create("blob");
    TCase *tc = tcase_create("crypto");
    tcase_add_unchecked_fixture(tc, base_up, base_down);
    tcase_add_checked_fixture(tc, tmp_up, tmp_down);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, seal_open_round_trip, 0, 2 * (int)(sizeof seal_lengths / sizeof seal_lengths[0]));
    tcase_add_test(tc, seal_open_failures);
    tcase_add_test(tc, fixed_reference_vector);
    suite_add_tcase(s, tc);

    tc = tcase_create("fileentry");
    tcase_add_unchecked_fixture(tc, base_up, base_down);
    tcase_add_checked_fixture(tc, tmp_up, tmp_down);
    tcase_add_test(tc, fileentry_valid);
    tcase_add_loop_test(tc, fileentry_rule, 0, (int)(sizeof rules / sizeof rules[0]));
    tcase_add_loop_test(tc, fileentry_decoded_rule, 0, (int)(sizeof decoded / sizeof decoded[0]));
    tcase_add_test(tc, fileentry_misc);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_unchecked_fixture(tc, base_up, base_down);
    tcase_add_checked_fixture(tc, tmp_up, tmp_down);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, ingest_reassemble_round_trip, 0,
                        2 * (int)(sizeof ingest_sizes / sizeof ingest_sizes[0]));
    tcase_add_test(tc, ingest_deniability);
    tcase_add_test(tc, ingest_names_and_paths);
    tcase_add_test(tc, reassemble_failures);
    tcase_add_test(tc, writer_any_order);
    tcase_add_test(tc, writer_missing_corrupt_resume);
    tcase_add_test(tc, progress_and_cancel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blob_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
