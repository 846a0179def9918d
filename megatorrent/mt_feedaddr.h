/*
 * mt_feedaddr.h - feed addresses: how a user names a feed (DESIGN.md, "DHT
 * items").
 *
 * Accepted forms (hex in either case):
 *  - BEP-46 magnet:   magnet:?xs=urn:btpk:<64 hex public key>[&s=<hex salt>]
 *                     Parameters in any order, percent-encoded values
 *                     decoded, other parameters (dn, tr, other xs...) ignored,
 *                     exactly one xs=urn:btpk:, salt at most 64 bytes;
 *  - a bare public key: <64 hex>;
 *  - megatorrent://<64 hex public key>[:<64 hex read key>]: the read key
 *    (32 bytes) opens a private feed's manifests. This form has no salt.
 * The "magnet:" and "megatorrent:" schemes and the "urn:btpk:" prefix are
 * matched without regard to case. Leading or trailing whitespace is an
 * error (trim before calling), and so is input over MT_FEEDADDR_INPUT_MAX.
 *
 * The public key is taken as given: whether it is a valid Ed25519 point
 * shows when an item signed by it verifies.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_FEEDADDR_H
#define MT_FEEDADDR_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_FEEDADDR_INPUT_MAX 1024  /* bytes of a feed address we parse */
#define MT_FEEDADDR_SALT_MAX  64    /* BEP-44/46 salt bytes */
/* Room for either formatted form, NUL included (the longest is a magnet
 * with a 64-byte salt: 20 + 64 + 3 + 128 + 1 = 216). */
#define MT_FEEDADDR_STR_MAX   256

typedef struct mt_feedaddr {
    uint8_t pk[32];                        /* publisher's Ed25519 key */
    uint8_t salt[MT_FEEDADDR_SALT_MAX];    /* BEP-46 salt (feed name) */
    size_t  salt_len;
    int     has_read_key;                  /* megatorrent:// with a read key */
    uint8_t read_key[32];
} mt_feedaddr;

/* Parse a feed address (a C string) into *out (zeroed first). MT_EINVAL
 * saying what is wrong; MT_ETOOBIG over MT_FEEDADDR_INPUT_MAX bytes. */
int mt_feedaddr_parse(const char *s, mt_feedaddr *out, mt_error *err);

/*
 * "magnet:?xs=urn:btpk:<pk>[&s=<salt>]" in lower-case hex into out (cap
 * bytes, NUL-terminated); "&s=" only when salt_len > 0. The magnet form
 * carries no read key: a read key in *a is left out (share it with
 * mt_feedaddr_format_uri). MT_ETOOBIG if cap is too small, MT_EINVAL for a
 * salt over 64 bytes.
 */
int mt_feedaddr_format_magnet(const mt_feedaddr *a, char *out, size_t cap, mt_error *err);

/* "megatorrent://<pk>[:<read key>]" in lower-case hex into out. MT_EINVAL
 * if the feed has a salt (this form cannot carry one), MT_ETOOBIG if cap is
 * too small. */
int mt_feedaddr_format_uri(const mt_feedaddr *a, char *out, size_t cap, mt_error *err);

/* The feed's DHT target, SHA-1(pk || salt) (BEP-44/46). */
int mt_feedaddr_target(const mt_feedaddr *a, uint8_t target[20], mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
