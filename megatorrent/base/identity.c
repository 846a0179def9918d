/* identity.c - Ed25519 identities and key files (see mt_identity.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "mt_identity.h"
#include "mt_util.h"

struct mt_identity {
    uint8_t  pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *sk;  /* crypto_sign_SECRETKEYBYTES in sodium_malloc memory */
};

static int identity_alloc(mt_identity **out, mt_error *err)
{
    mt_identity *id;
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    id = calloc(1, sizeof *id);
    if (!id)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    id->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!id->sk) {
        free(id);
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    }
    *out = id;
    return MT_OK;
}

void mt_identity_free(mt_identity *id)
{
    if (!id)
        return;
    sodium_free(id->sk); /* wipes */
    free(id);
}

int mt_identity_generate(mt_identity **out, mt_error *err)
{
    mt_identity *id;
    int rc;
    if (!out)
        return mt_error_set(err, MT_EINVAL, "out is required");
    rc = identity_alloc(&id, err);
    if (rc)
        return rc;
    crypto_sign_keypair(id->pk, id->sk);
    *out = id;
    return MT_OK;
}

int mt_identity_from_seed(const uint8_t seed[32], mt_identity **out, mt_error *err)
{
    mt_identity *id;
    int rc;
    if (!seed || !out)
        return mt_error_set(err, MT_EINVAL, "seed and out are required");
    rc = identity_alloc(&id, err);
    if (rc)
        return rc;
    crypto_sign_seed_keypair(id->pk, id->sk, seed);
    *out = id;
    return MT_OK;
}

const uint8_t *mt_identity_public_key(const mt_identity *id)
{
    return id ? id->pk : NULL;
}

const uint8_t *mt_identity_secret_key(const mt_identity *id)
{
    return id ? id->sk : NULL;
}

/* Wipe a cJSON string value before the tree is freed (cJSON does not). */
static void wipe_string(cJSON *item)
{
    if (cJSON_IsString(item) && item->valuestring)
        sodium_memzero(item->valuestring, strlen(item->valuestring));
}

/* Read a JSON integer member within [lo, hi]; -1 if absent or out of range. */
static long long json_int_in(const cJSON *obj, const char *name, long long lo, long long hi)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, name);
    double d;
    if (!cJSON_IsNumber(n))
        return -1;
    d = n->valuedouble;
    if (d != d || d < (double)lo || d > (double)hi || d != (double)(long long)d)
        return -1;
    return (long long)d;
}

/*
 * Open the passphrase box of a protected key file into sk (64 bytes).
 * MT_ENEEDKEY without a passphrase, MT_EINVAL for a malformed box,
 * MT_ECRYPTO when the passphrase is wrong or the file was altered.
 */
static int open_secret_box(const cJSON *root, const char *pass, size_t pass_len, uint8_t *sk,
                           mt_error *err)
{
    const cJSON *kdf = cJSON_GetObjectItemCaseSensitive(root, "kdf");
    const cJSON *saltj = cJSON_GetObjectItemCaseSensitive(root, "salt");
    const cJSON *noncej = cJSON_GetObjectItemCaseSensitive(root, "nonce");
    const cJSON *boxj = cJSON_GetObjectItemCaseSensitive(root, "secretKeyBox");
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[crypto_sign_SECRETKEYBYTES + crypto_secretbox_MACBYTES];
    uint8_t *key;
    long long ops, mem;
    int rc = MT_OK;

    if (!cJSON_IsString(kdf) || strcmp(kdf->valuestring, MT_KEYFILE_KDF) != 0)
        return mt_error_set(err, MT_EINVAL, "key file: kdf must be \"%s\"", MT_KEYFILE_KDF);
    /* Caps stop a hostile key file from asking for unbounded work. */
    ops = json_int_in(root, "opslimit", crypto_pwhash_OPSLIMIT_MIN, MT_KEYFILE_OPS_MAX);
    mem = json_int_in(root, "memlimit", crypto_pwhash_MEMLIMIT_MIN, MT_KEYFILE_MEM_MAX);
    if (ops < 0 || mem < 0)
        return mt_error_set(err, MT_EINVAL, "key file: opslimit must be %d..%d and memlimit %d..%lld",
                            crypto_pwhash_OPSLIMIT_MIN, MT_KEYFILE_OPS_MAX, crypto_pwhash_MEMLIMIT_MIN,
                            (long long)MT_KEYFILE_MEM_MAX);
    if (!cJSON_IsString(saltj) || mt_hex_decode(saltj->valuestring, salt, sizeof salt) != 0)
        return mt_error_set(err, MT_EINVAL, "key file: salt must be %d hex digits", 2 * crypto_pwhash_SALTBYTES);
    if (!cJSON_IsString(noncej) || mt_hex_decode(noncej->valuestring, nonce, sizeof nonce) != 0)
        return mt_error_set(err, MT_EINVAL, "key file: nonce must be %d hex digits",
                            2 * crypto_secretbox_NONCEBYTES);
    if (!cJSON_IsString(boxj) || mt_hex_decode(boxj->valuestring, box, sizeof box) != 0)
        return mt_error_set(err, MT_EINVAL, "key file: secretKeyBox must be %zu hex digits", 2 * sizeof box);
    if (!pass)
        return mt_error_set(err, MT_ENEEDKEY, "key file is passphrase-protected; a passphrase is needed");
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    if (!key)
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, pass_len, salt, (unsigned long long)ops,
                      (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        rc = mt_error_set(err, MT_ENOMEM, "Argon2id needs %lld bytes of memory and could not get them", mem);
    else if (crypto_secretbox_open_easy(sk, box, sizeof box, nonce, key) != 0)
        rc = mt_error_set(err, MT_ECRYPTO, "key file: wrong passphrase (or the file was altered)");
    sodium_free(key);
    return rc;
}

int mt_identity_parse(const char *json, size_t len, mt_identity **out, mt_error *err)
{
    return mt_identity_parse_protected(json, len, NULL, 0, out, err);
}

int mt_identity_parse_protected(const char *json, size_t len, const char *pass, size_t pass_len,
                                mt_identity **out, mt_error *err)
{
    cJSON *root, *pkj, *skj;
    mt_identity *id = NULL;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t check_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *check_sk = NULL;
    int rc;

    if (!json || !out)
        return mt_error_set(err, MT_EINVAL, "json and out are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    if (len > MT_KEYFILE_MAX)
        return mt_error_set(err, MT_ETOOBIG, "key file is %zu bytes; at most %d expected", len, MT_KEYFILE_MAX);
    /* Hex fields never need escapes; refusing them stops "\u0000" from
     * hiding trailing bytes behind a NUL that strlen() would stop at. */
    if (memchr(json, '\\', len) || memchr(json, '\0', len))
        return mt_error_set(err, MT_EINVAL, "key file contains escapes or NUL bytes; it holds only hex strings");
    root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mt_error_set(err, MT_EINVAL, "key file is not a JSON object");
    }
    pkj = cJSON_GetObjectItemCaseSensitive(root, "publicKey");
    skj = cJSON_GetObjectItemCaseSensitive(root, "secretKey");
    rc = identity_alloc(&id, err);
    if (rc)
        goto done;
    if (!cJSON_IsString(pkj) || mt_hex_decode(pkj->valuestring, pk, sizeof pk) != 0) {
        rc = mt_error_set(err, MT_EINVAL, "key file: publicKey must be 64 hex digits");
        goto done;
    }
    if (skj) {
        if (!cJSON_IsString(skj) || mt_hex_decode(skj->valuestring, id->sk, crypto_sign_SECRETKEYBYTES) != 0) {
            rc = mt_error_set(err, MT_EINVAL, "key file: secretKey must be 128 hex digits");
            goto done;
        }
    } else if (cJSON_GetObjectItemCaseSensitive(root, "secretKeyBox")) {
        rc = open_secret_box(root, pass, pass_len, id->sk, err);
        if (rc)
            goto done;
    } else {
        rc = mt_error_set(err, MT_EINVAL, "key file: has neither secretKey nor secretKeyBox");
        goto done;
    }
    /* The secret's seed must derive the stated public key. */
    check_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!check_sk) {
        rc = mt_error_set(err, MT_ENOMEM, "out of secure memory");
        goto done;
    }
    crypto_sign_seed_keypair(check_pk, check_sk, id->sk);
    if (sodium_memcmp(check_pk, pk, sizeof pk) != 0 ||
        sodium_memcmp(check_sk, id->sk, crypto_sign_SECRETKEYBYTES) != 0) {
        rc = mt_error_set(err, MT_EINVAL, "key file: publicKey does not belong to secretKey");
        goto done;
    }
    memcpy(id->pk, pk, sizeof pk);
    rc = MT_OK;
done:
    sodium_free(check_sk);
    wipe_string(skj);
    cJSON_Delete(root);
    if (rc) {
        mt_identity_free(id);
        return rc;
    }
    *out = id;
    return MT_OK;
}

int mt_identity_load(const char *path, mt_identity **out, mt_error *err)
{
    return mt_identity_load_protected(path, NULL, 0, out, err);
}

int mt_identity_load_protected(const char *path, const char *pass, size_t pass_len, mt_identity **out,
                               mt_error *err)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd, rc;

    if (!path || !out)
        return mt_error_set(err, MT_EINVAL, "path and out are required");
    if (sodium_init() < 0) /* sodium_malloc below needs it */
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return mt_error_set(err, MT_ENOTFOUND, "key file %s does not exist", path);
        return mt_error_set(err, MT_EIO, "cannot open key file %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mt_error_set(err, MT_EINVAL, "key file %s is not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return mt_error_set(err, MT_EPERM,
                            "key file %s is accessible by group or others (mode %04o); "
                            "fix it with: chmod 600 %s",
                            path, (unsigned)(st.st_mode & 07777), path);
    }
    if (st.st_size > MT_KEYFILE_MAX) {
        close(fd);
        return mt_error_set(err, MT_ETOOBIG, "key file %s is over %d bytes", path, MT_KEYFILE_MAX);
    }
    buf = sodium_malloc(MT_KEYFILE_MAX + 1);
    if (!buf) {
        close(fd);
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    }
    n = read(fd, buf, MT_KEYFILE_MAX + 1);
    close(fd);
    if (n < 0) {
        rc = mt_error_set(err, MT_EIO, "cannot read key file %s: %s", path, strerror(errno));
    } else if (n > MT_KEYFILE_MAX) {
        rc = mt_error_set(err, MT_ETOOBIG, "key file %s is over %d bytes", path, MT_KEYFILE_MAX);
    } else {
        rc = mt_identity_parse_protected(buf, (size_t)n, pass, pass_len, out, err);
        if (rc)
            mt_error_prefix(err, path);
    }
    sodium_free(buf);
    return rc;
}

int mt_identity_to_json(const mt_identity *id, char **out, mt_error *err)
{
    /* {"publicKey": ..., "secretKey": ...} as JSON.stringify(k, null, 2). */
    static const size_t cap = 64 + 128 + 64;
    char pkhex[65];
    char *skhex, *buf;
    if (!id || !out)
        return mt_error_set(err, MT_EINVAL, "identity and out are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    buf = sodium_malloc(cap);
    skhex = sodium_malloc(129);
    if (!buf || !skhex) {
        sodium_free(buf);
        sodium_free(skhex);
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    }
    mt_hex_encode(id->pk, 32, pkhex);
    mt_hex_encode(id->sk, 64, skhex);
    snprintf(buf, cap, "{\n  \"publicKey\": \"%s\",\n  \"secretKey\": \"%s\"\n}", pkhex, skhex);
    sodium_free(skhex);
    *out = buf;
    return MT_OK;
}

void mt_identity_json_free(char *json)
{
    sodium_free(json);
}

int mt_identity_to_json_protected(const mt_identity *id, const char *pass, size_t pass_len, char **out,
                                  mt_error *err)
{
    static const size_t cap = 512;
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[crypto_sign_SECRETKEYBYTES + crypto_secretbox_MACBYTES];
    char pkhex[65], salthex[2 * sizeof salt + 1], noncehex[2 * sizeof nonce + 1], boxhex[2 * sizeof box + 1];
    uint8_t *key;
    char *buf;

    if (!id || !pass || !out)
        return mt_error_set(err, MT_EINVAL, "identity, passphrase and out are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    buf = sodium_malloc(cap);
    if (!key || !buf) {
        sodium_free(key);
        sodium_free(buf);
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    }
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, pass_len, salt, MT_KEYFILE_OPS, MT_KEYFILE_MEM,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(key);
        sodium_free(buf);
        return mt_error_set(err, MT_ENOMEM, "Argon2id could not get %d bytes of memory", MT_KEYFILE_MEM);
    }
    crypto_secretbox_easy(box, id->sk, crypto_sign_SECRETKEYBYTES, nonce, key);
    sodium_free(key);
    mt_hex_encode(id->pk, 32, pkhex);
    mt_hex_encode(salt, sizeof salt, salthex);
    mt_hex_encode(nonce, sizeof nonce, noncehex);
    mt_hex_encode(box, sizeof box, boxhex);
    snprintf(buf, cap,
             "{\n  \"publicKey\": \"%s\",\n  \"kdf\": \"%s\",\n  \"opslimit\": %d,\n  \"memlimit\": %d,\n"
             "  \"salt\": \"%s\",\n  \"nonce\": \"%s\",\n  \"secretKeyBox\": \"%s\"\n}",
             pkhex, MT_KEYFILE_KDF, MT_KEYFILE_OPS, MT_KEYFILE_MEM, salthex, noncehex, boxhex);
    *out = buf;
    return MT_OK;
}

int mt_identity_transport(const mt_identity *id, mt_identity **out, mt_error *err)
{
    uint8_t *seed;
    int rc;
    if (!id || !out)
        return mt_error_set(err, MT_EINVAL, "identity and out are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    seed = sodium_malloc(crypto_sign_SEEDBYTES);
    if (!seed)
        return mt_error_set(err, MT_ENOMEM, "out of secure memory");
    /* The identity seed is the first half of libsodium's secret key. */
    crypto_kdf_derive_from_key(seed, crypto_sign_SEEDBYTES, MT_TRANSPORT_SUBKEY, MT_TRANSPORT_CONTEXT, id->sk);
    rc = mt_identity_from_seed(seed, out, err);
    sodium_free(seed);
    return rc;
}

/* "megatorrent-transport-v1" || transport_pk || created_at (u64 big-endian). */
static void attestation_message(const uint8_t transport_pk[32], uint64_t created_at, uint8_t *msg)
{
    size_t n = sizeof MT_ATTEST_DOMAIN - 1;
    memcpy(msg, MT_ATTEST_DOMAIN, n);
    memcpy(msg + n, transport_pk, 32);
    for (int i = 0; i < 8; i++)
        msg[n + 32 + i] = (uint8_t)(created_at >> (56 - 8 * i));
}

int mt_identity_attest(const mt_identity *id, const uint8_t transport_pk[32], uint64_t created_at,
                       uint8_t sig[64], mt_error *err)
{
    uint8_t msg[sizeof MT_ATTEST_DOMAIN - 1 + 32 + 8];
    if (!id || !transport_pk || !sig)
        return mt_error_set(err, MT_EINVAL, "identity, transport key and sig are required");
    attestation_message(transport_pk, created_at, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, id->sk);
    return MT_OK;
}

int mt_identity_attest_verify(const uint8_t identity_pk[32], const uint8_t transport_pk[32],
                              uint64_t created_at, const uint8_t sig[64], mt_error *err)
{
    uint8_t msg[sizeof MT_ATTEST_DOMAIN - 1 + 32 + 8];
    if (!identity_pk || !transport_pk || !sig)
        return mt_error_set(err, MT_EINVAL, "keys and sig are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    attestation_message(transport_pk, created_at, msg);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, identity_pk) != 0)
        return mt_error_set(err, MT_ECRYPTO, "transport key attestation does not verify under the identity key");
    return MT_OK;
}

int mt_identity_save(const mt_identity *id, const char *path, int overwrite, mt_error *err)
{
    return mt_identity_save_protected(id, path, NULL, 0, overwrite, err);
}

int mt_identity_save_protected(const mt_identity *id, const char *path, const char *pass,
                               size_t pass_len, int overwrite, mt_error *err)
{
    char *json = NULL;
    int rc;

    if (!id || !path)
        return mt_error_set(err, MT_EINVAL, "identity and path are required");
    rc = pass ? mt_identity_to_json_protected(id, pass, pass_len, &json, err)
              : mt_identity_to_json(id, &json, err);
    if (rc)
        return rc;
    rc = mt_file_write_atomic(path, json, strlen(json), 0600, overwrite, err);
    if (rc == MT_EEXIST)
        mt_error_set(err, MT_EEXIST, "%s already exists; refusing to overwrite a key", path);
    mt_identity_json_free(json);
    return rc;
}
