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

int mt_identity_parse(const char *json, size_t len, mt_identity **out, mt_error *err)
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
    if (!cJSON_IsString(skj) || mt_hex_decode(skj->valuestring, id->sk, crypto_sign_SECRETKEYBYTES) != 0) {
        rc = mt_error_set(err, MT_EINVAL, "key file: secretKey must be 128 hex digits");
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
        rc = mt_identity_parse(buf, (size_t)n, out, err);
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

int mt_identity_save(const mt_identity *id, const char *path, int overwrite, mt_error *err)
{
    char *json = NULL;
    char tmp[4096];
    size_t len, off = 0;
    int fd, rc;

    if (!id || !path)
        return mt_error_set(err, MT_EINVAL, "identity and path are required");
    if (!overwrite && access(path, F_OK) == 0)
        return mt_error_set(err, MT_EEXIST, "%s already exists; refusing to overwrite a key", path);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return mt_error_set(err, MT_EINVAL, "path too long");
    rc = mt_identity_to_json(id, &json, err);
    if (rc)
        return rc;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = mt_error_set(err, MT_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    len = strlen(json);
    while (off < len) {
        ssize_t n = write(fd, json + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = mt_error_set(err, MT_EIO, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot flush %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (!overwrite) {
        /* link() fails if path appeared meanwhile: never clobber a key. */
        if (link(tmp, path) != 0) {
            rc = mt_error_set(err, errno == EEXIST ? MT_EEXIST : MT_EIO, "cannot create %s: %s", path,
                              strerror(errno));
            unlink(tmp);
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        rc = mt_error_set(err, MT_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = MT_OK;
out:
    mt_identity_json_free(json);
    return rc;
}
