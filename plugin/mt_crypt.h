/*
 * mt_crypt.h - encrypted peer links: the lt_mtcrypt BEP-10 extension.
 *
 * When both ends of a BitTorrent connection run it, each advertises a fresh
 * X25519 public key (per connection) in its extended handshake, under the
 * top-level key "mtcrypt_pk" (32 bytes), next to "m": {"lt_mtcrypt": id}.
 * On reading the peer's handshake each side computes the shared secret,
 * derives one key per direction and sends a one-byte lt_mtcrypt "switch"
 * message; every byte it sends after that message is framed as
 *
 *     u32 big-endian n || 16-byte Poly1305 tag || n bytes of ChaCha20 ciphertext
 *
 * (ChaCha20-Poly1305-IETF, RFC 8439, the 4 length bytes as associated data,
 * nonce = 4 zero bytes || u64 little-endian frame counter per direction,
 * 1 <= n <= 1 MiB). The receive side switches when it reads the peer's switch
 * message. A frame that fails authentication ends the connection.
 *
 * Keys: shared = X25519(own secret, peer public) (an all-zero result, or a
 * peer that echoes our own key, fails the exchange); with lo/hi the two public
 * keys in byte order and T = torrent id (20 bytes) || lo || hi,
 *     key(lo->hi) = BLAKE2b-256(key = shared, "megatorrent/crypt/v1 lo>hi" || T)
 *     key(hi->lo) = BLAKE2b-256(key = shared, "megatorrent/crypt/v1 hi>lo" || T)
 *
 * What it protects: the payload (piece data, metadata, PEX, every message
 * after the switch) against passive observers. The exchange is not
 * authenticated (no peer identity exists to bind to), so an active
 * man-in-the-middle can still read the link. Before the switch the BitTorrent
 * handshake, bitfield and extended handshake go as libtorrent sends them:
 * in the clear, info-hash included, unless libtorrent's own protocol
 * encryption ("pe", on by default for outgoing connections) obfuscated them.
 * No piece data precedes the switch: a peer learns our key from its own
 * extended handshake, which libtorrent sends before any request, and in
 * "require" mode a request that arrives before the switch ends the
 * connection instead of being served.
 *
 * Modes:
 *   MT_CRYPT_OFF      nothing is added to the session.
 *   MT_CRYPT_PREFER   peers that speak lt_mtcrypt are upgraded; others
 *                     (no extension protocol, or no lt_mtcrypt) stay plain.
 *   MT_CRYPT_REQUIRE  peers that do not complete the exchange are
 *                     disconnected: no BEP-10 support bit in their handshake,
 *                     no lt_mtcrypt or a bad key in their extended handshake,
 *                     or a piece request before the switch.
 *
 * Threading: call mt_crypt_enable from the thread that owns the session,
 * right after mt_session_new (torrents added before it are not covered);
 * mt_crypt_get_stats from any thread.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_CRYPT_H
#define MT_CRYPT_H

#include <stdint.h>

#include "mt_capi.h"
#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The extension's name in the BEP-10 handshake's "m" dict. */
#define MT_CRYPT_EXTENSION_NAME "lt_mtcrypt"

typedef enum { MT_CRYPT_OFF, MT_CRYPT_PREFER, MT_CRYPT_REQUIRE } mt_crypt_mode;

/*
 * Add the extension to s in the given mode (once). MT_CRYPT_OFF adds nothing
 * and succeeds. MT_EINVAL for a NULL session or an unknown mode, MT_EEXIST if
 * it is already enabled on s.
 */
int mt_crypt_enable(mt_session *s, mt_crypt_mode mode, mt_error *err);

typedef struct mt_crypt_stats {
    uint64_t upgraded;  /* connections switched to encrypted framing both ways */
    uint64_t refused;   /* require mode: disconnected for not speaking lt_mtcrypt */
    uint64_t plain;     /* prefer mode: connections left plain */
    uint64_t failed;    /* bad key, zero shared secret, protocol error, bad frame */
} mt_crypt_stats;

/* Counters since mt_crypt_enable; all zero if it is not enabled. */
void mt_crypt_get_stats(mt_session *s, mt_crypt_stats *st);

/* ------------------------------------------------------------------ */
/* The frame codec the extension uses after the switch (pure; any      */
/* thread). Exported for tests and fuzzing.                            */
/* ------------------------------------------------------------------ */

/* These run once per frame and take no mt_error (an exception to the
 * rule in mt_error.h): the MT_E* code is the whole report, and the
 * extension closes the link on any of them. */

#define MT_CRYPT_FRAME_HEADER 20        /* u32 big-endian length || 16-byte tag */
#define MT_CRYPT_FRAME_MAX (1u << 20)   /* largest body */

/* The body length a header announces: 0 and *n, or MT_EINVAL (and *n 0)
 * when it is 0 or over MT_CRYPT_FRAME_MAX. */
int mt_crypt_frame_length(const uint8_t hdr[MT_CRYPT_FRAME_HEADER], size_t *n);

/* Encrypt buf (n = 1..MT_CRYPT_FRAME_MAX bytes) in place as frame number
 * counter of one direction, writing length and tag to hdr. MT_EINVAL for a
 * bad length or NULL. */
int mt_crypt_frame_seal(const uint8_t key[32], uint64_t counter, uint8_t *buf, size_t n,
                        uint8_t hdr[MT_CRYPT_FRAME_HEADER]);

/* Check and decrypt a frame in place. MT_EINVAL when hdr's length is bad or
 * is not n; MT_ECRYPTO when authentication fails (wrong key, counter,
 * length or any changed byte), and then buf is zeroed: nothing
 * unauthenticated is left in it. */
int mt_crypt_frame_open(const uint8_t key[32], uint64_t counter, const uint8_t hdr[MT_CRYPT_FRAME_HEADER],
                        uint8_t *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
