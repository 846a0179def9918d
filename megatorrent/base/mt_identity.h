/*
 * mt_identity.h - Ed25519 identities and their key files.
 *
 * Key file format (shared with the Node.js reference client, so keys move
 * both ways): JSON {"publicKey": hex64, "secretKey": hex128}, where the
 * secret is libsodium's 64 bytes (seed || public key). Files are written
 * with mode 0600 and refused on read if group or others may read them.
 * Secret bytes live only in sodium_malloc memory and are wiped on free.
 *
 * Passphrase-protected key files (ours only; the reference client cannot
 * read them) replace "secretKey" with an Argon2id + secretbox:
 *   {"publicKey": hex64, "kdf": "argon2id13", "opslimit": n, "memlimit": n,
 *    "salt": hex32, "nonce": hex48, "secretKeyBox": hex160}
 *
 * Transport key (DHT signing, seed 000): the Ed25519 identity whose seed is
 * crypto_kdf_derive_from_key(subkey 1, context "mtxport1", identity seed).
 * The identity vouches for it by signing the attestation message
 *   "megatorrent-transport-v1" || transport_pk (32) || created_at (u64 BE, unix s).
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
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

#define MT_KEYFILE_KDF "argon2id13"
#define MT_KEYFILE_OPS 3                      /* crypto_pwhash_OPSLIMIT_MODERATE */
#define MT_KEYFILE_MEM (256 * 1024 * 1024)    /* crypto_pwhash_MEMLIMIT_MODERATE */
#define MT_KEYFILE_OPS_MAX 16                 /* caps on what a file may ask for */
#define MT_KEYFILE_MEM_MAX (1024LL * 1024 * 1024)

#define MT_TRANSPORT_CONTEXT "mtxport1"
#define MT_TRANSPORT_SUBKEY 1
#define MT_ATTEST_DOMAIN "megatorrent-transport-v1"

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

/*
 * As mt_identity_load, for files that may be passphrase-protected. pass may
 * be NULL: a protected file then gives MT_ENEEDKEY. A wrong passphrase gives
 * MT_ECRYPTO. Plain files load whatever pass is.
 */
int mt_identity_load_protected(const char *path, const char *pass, size_t pass_len,
                               mt_identity **out, mt_error *err);

/* Parse key-file JSON from memory (no permission check). */
int mt_identity_parse(const char *json, size_t len, mt_identity **out, mt_error *err);
int mt_identity_parse_protected(const char *json, size_t len, const char *pass, size_t pass_len,
                                mt_identity **out, mt_error *err);

/*
 * Write a key file atomically with mode 0600 (temp file, fsync, rename).
 * MT_EEXIST if path exists and overwrite is 0.
 */
int mt_identity_save(const mt_identity *id, const char *path, int overwrite, mt_error *err);

/* As mt_identity_save, protected by pass (Argon2id, MT_KEYFILE_OPS/MEM);
 * pass NULL writes the plain format. */
int mt_identity_save_protected(const mt_identity *id, const char *path, const char *pass,
                               size_t pass_len, int overwrite, mt_error *err);

/* The key-file JSON (2-space indent, no trailing newline) in sodium_malloc
 * memory; release with mt_identity_json_free(), which wipes it. */
int mt_identity_to_json(const mt_identity *id, char **out, mt_error *err);
void mt_identity_json_free(char *json);

/* The protected key-file JSON (fresh salt and nonce each call), also in
 * sodium_malloc memory: release with mt_identity_json_free(), never
 * mt_free(). */
int mt_identity_to_json_protected(const mt_identity *id, const char *pass, size_t pass_len,
                                  char **out, mt_error *err);

/* The transport identity derived from id (see above); free it as usual. */
int mt_identity_transport(const mt_identity *id, mt_identity **out, mt_error *err);

/* id's signature over the attestation of transport_pk at created_at. */
int mt_identity_attest(const mt_identity *id, const uint8_t transport_pk[32], uint64_t created_at,
                       uint8_t sig[64], mt_error *err);

/* 0 if sig attests transport_pk for identity_pk, MT_ECRYPTO if not. */
int mt_identity_attest_verify(const uint8_t identity_pk[32], const uint8_t transport_pk[32],
                              uint64_t created_at, const uint8_t sig[64], mt_error *err);

const uint8_t *mt_identity_public_key(const mt_identity *id);  /* 32 bytes */
const uint8_t *mt_identity_secret_key(const mt_identity *id);  /* 64 bytes */

/* Wipe and free. NULL ok. */
void mt_identity_free(mt_identity *id);

#ifdef __cplusplus
}
#endif
#endif
