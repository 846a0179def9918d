/*
 * mt_identity.h - Ed25519 identities and their key files.
 *
 * Key file format (shared with the Node.js reference client, so keys move
 * both ways): JSON {"publicKey": hex64, "secretKey": hex128}, where the
 * secret is libsodium's 64 bytes (seed || public key). Files are written
 * with mode 0600 and refused on read if group or others may read them.
 * Secret bytes live only in sodium_malloc memory and are wiped on free.
 */
#ifndef MT_IDENTITY_H
#define MT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_KEYFILE_MAX 4096  /* bytes; a key file is ~180 */

typedef struct mt_identity mt_identity;

/* A fresh random identity. */
int mt_identity_generate(mt_identity **out, mt_error *err);

/* The identity of a 32-byte Ed25519 seed. */
int mt_identity_from_seed(const uint8_t seed[32], mt_identity **out, mt_error *err);

/*
 * Load a key file. MT_EPERM if group/other can read it (the message says how
 * to fix it), MT_EINVAL naming the field if the JSON is wrong or the public
 * key does not belong to the secret key.
 */
int mt_identity_load(const char *path, mt_identity **out, mt_error *err);

/* Parse key-file JSON from memory (no permission check). */
int mt_identity_parse(const char *json, size_t len, mt_identity **out, mt_error *err);

/*
 * Write a key file atomically with mode 0600 (temp file, fsync, rename).
 * MT_EEXIST if path exists and overwrite is 0.
 */
int mt_identity_save(const mt_identity *id, const char *path, int overwrite, mt_error *err);

/* The key-file JSON (2-space indent, no trailing newline) in sodium_malloc
 * memory; release with mt_identity_json_free(), which wipes it. */
int mt_identity_to_json(const mt_identity *id, char **out, mt_error *err);
void mt_identity_json_free(char *json);

const uint8_t *mt_identity_public_key(const mt_identity *id);  /* 32 bytes */
const uint8_t *mt_identity_secret_key(const mt_identity *id);  /* 64 bytes */

/* Wipe and free. NULL ok. */
void mt_identity_free(mt_identity *id);

#ifdef __cplusplus
}
#endif
#endif
