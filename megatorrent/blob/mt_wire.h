/*
 * mt_wire.h - the mt-wire blob transport (seed 003 section 2), byte for byte
 * what the reference client speaks.
 *
 * Handshake: each side sends a raw 32-byte X25519 ephemeral public key.
 * shared = X25519(own secret, peer public); an all-zero shared secret (a
 * low-order peer key) is refused. Keys: K_C = BLAKE2b-256(shared || "C")
 * protects initiator -> responder, K_S = BLAKE2b-256(shared || "S") the
 * other way.
 *
 * Frames: uint32 big-endian length || ChaCha20-Poly1305-IETF(type || payload)
 * with no associated data; the nonce is a 12-byte little-endian counter from
 * zero, one per direction, incremented after every frame.
 *
 * Types: HELLO 1 (JSON {"v":5,"gossip":{...}}), REQUEST 2 (64 lower-case hex
 * blob id, nothing else), DATA 3 (the whole blob), FIND_PEERS 4 (blob id),
 * PEERS 5 (JSON array of "host:port"), OK 8, ERROR 0xFF (short text).
 *
 * Hardening: frames over MT_WIRE_FRAME_MAX (or the server's smaller cap) are
 * refused before any allocation; a bad tag, a short frame or a malformed
 * request closes that one connection; handshake and idle timeouts; a cap on
 * connections in total and per source IP.
 */
#ifndef MT_WIRE_H
#define MT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"
#include "mt_blob.h"
#include "mt_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_WIRE_VERSION    5
#define MT_WIRE_KEY_BYTES  32
#define MT_WIRE_TAG_BYTES  16
/* Largest frame body (ciphertext incl. tag): a DATA frame of a full blob
 * is 1 + 1,048,592 + 16 bytes; the rest is headroom. */
#define MT_WIRE_FRAME_MAX  (MT_BLOB_BYTES + 64)
/* What a server accepts from clients: they only send small messages. */
#define MT_WIRE_SERVER_FRAME_MAX (64u * 1024)

enum {
    MT_WIRE_HELLO      = 0x01,
    MT_WIRE_REQUEST    = 0x02,
    MT_WIRE_DATA       = 0x03,
    MT_WIRE_FIND_PEERS = 0x04,
    MT_WIRE_PEERS      = 0x05,
    MT_WIRE_OK         = 0x08,
    MT_WIRE_ERROR      = 0xFF
};

/* ---------------------------------------------------------------- codec */

/* Per-connection keys and nonce counters; wiped by mt_wire_keys_wipe. */
typedef struct mt_wire_keys {
    uint8_t tx[MT_WIRE_KEY_BYTES];
    uint8_t rx[MT_WIRE_KEY_BYTES];
    uint8_t tx_nonce[12];
    uint8_t rx_nonce[12];
} mt_wire_keys;

/* A fresh ephemeral X25519 key pair. */
void mt_wire_keypair(uint8_t pk[32], uint8_t sk[32]);

/*
 * Derive the session keys from our secret and the peer's public key.
 * initiator: 1 for the side that connected (it sends with K_C). The raw
 * shared secret is written to shared_out when non-NULL (test vectors).
 * MT_ECRYPTO if the shared secret is all zero.
 */
int mt_wire_derive(const uint8_t sk[32], const uint8_t peer_pk[32], int initiator,
                   mt_wire_keys *k, uint8_t shared_out[32], mt_error *err);

void mt_wire_keys_wipe(mt_wire_keys *k);

/*
 * Seal one frame: out gets the 4-byte length and the ciphertext of
 * type || payload; cap must be >= len + 21. *out_len gets the frame size.
 * Advances the tx nonce. MT_ETOOBIG if the body would exceed
 * MT_WIRE_FRAME_MAX.
 */
int mt_wire_seal(mt_wire_keys *k, uint8_t type, const uint8_t *payload, size_t len,
                 uint8_t *out, size_t cap, size_t *out_len, mt_error *err);

/*
 * Open one frame body (the bytes after the length prefix): decrypt in place
 * into body; *type gets the type byte and *payload / *payload_len point into
 * body after it. Advances the rx nonce only on success. MT_ECRYPTO on a bad
 * tag, MT_EINVAL on a body shorter than tag + type byte.
 */
int mt_wire_open(mt_wire_keys *k, uint8_t *body, size_t len, uint8_t *type,
                 uint8_t **payload, size_t *payload_len, mt_error *err);

/* Read the 4-byte big-endian length prefix; MT_ETOOBIG above cap,
 * MT_EINVAL below tag + 1. */
int mt_wire_frame_len(const uint8_t hdr[4], size_t cap, uint32_t *len, mt_error *err);

/* --------------------------------------------------------------- client */

typedef struct mt_wire_conn mt_wire_conn;

/*
 * Connect to "host:port" or "[v6]:port" (numeric), do the handshake and send
 * HELLO {"v":5,"gossip":{}}. Every step is bounded by timeout_ms.
 */
int mt_wire_connect(const char *hostport, int timeout_ms, mt_wire_conn **out, mt_error *err);

/*
 * REQUEST a blob and wait for DATA (or ERROR: MT_ENOTFOUND with the peer's
 * text). The blob is checked against its id (MT_ECRYPTO on mismatch) before
 * it is returned in *blob (malloc'd, free()). Frames of other types that
 * arrive first (HELLO) are skipped.
 */
int mt_wire_get(mt_wire_conn *c, const char *blob_id, int timeout_ms, uint8_t **blob,
                size_t *len, mt_error *err);

/* FIND_PEERS: *peers gets a malloc'd array of malloc'd "host:port" strings
 * (mt_wire_peers_free), entries that are not host:port dropped, at most 200. */
int mt_wire_find_peers(mt_wire_conn *c, const char *blob_id, int timeout_ms, char ***peers,
                       size_t *n, mt_error *err);
void mt_wire_peers_free(char **peers, size_t n);

void mt_wire_close(mt_wire_conn *c);

/* --------------------------------------------------------------- server */

/* Answer a FIND_PEERS: fill up to cap "host:port" strings (each < 64 bytes)
 * for blob_id; return the count. Called on the server's loop thread. */
typedef size_t (*mt_wire_peers_fn)(void *ud, const char *blob_id, char (*out)[64], size_t cap);
/* A blob was served (LRU bookkeeping). Called on the server's loop thread. */
typedef void (*mt_wire_served_fn)(void *ud, const char *blob_id);

typedef struct mt_wire_server_config {
    const char *listen;          /* "addr:port"; port 0 picks one */
    const char *blob_dir;        /* blobs are served from blob_dir/<id> */
    int handshake_timeout_ms;    /* default 10000 */
    int idle_timeout_ms;         /* default 60000 */
    int max_conns;               /* default 128 */
    int max_conns_per_ip;        /* default 8 */
    size_t frame_max;            /* default MT_WIRE_SERVER_FRAME_MAX */
    mt_wire_peers_fn  peers;     /* optional */
    mt_wire_served_fn served;    /* optional */
    void *ud;
} mt_wire_server_config;

void mt_wire_server_config_init(mt_wire_server_config *cfg);

typedef struct mt_wire_server_stats {
    uint64_t accepted;        /* connections taken */
    uint64_t refused_per_ip;  /* closed at once: per-IP cap */
    uint64_t refused_full;    /* closed at once: total cap */
    uint64_t bad_frames;      /* bad tag, short or oversized frame, bad request */
    uint64_t timeouts;        /* handshake or idle */
    uint64_t blobs_served;
    uint64_t not_found;
    uint64_t bytes_sent;
    int      open;            /* connections open now */
} mt_wire_server_stats;

typedef struct mt_wire_server mt_wire_server;

/*
 * Listen and serve from a thread of its own (running an mt_loop of its own)
 * until mt_wire_server_stop; stop may be called from any one thread.
 */
int mt_wire_server_start(const mt_wire_server_config *cfg, mt_wire_server **out, mt_error *err);
/*
 * Listen and serve on the caller's loop: from the loop's thread, which then
 * runs every server callback (the socket work, cfg.peers, cfg.served). The
 * server watches its sockets and keeps one expiry timer on the loop; blob
 * reads on it are bounded (one regular file of at most MT_BLOB_BYTES per
 * REQUEST). mt_wire_server_stop must come from the loop's thread too, not
 * from inside cfg.peers or cfg.served, and before mt_loop_free.
 */
int mt_wire_server_start_on(const mt_wire_server_config *cfg, mt_loop *loop, mt_wire_server **out,
                            mt_error *err);
int mt_wire_server_port(const mt_wire_server *s);
/* From any thread. */
void mt_wire_server_get_stats(mt_wire_server *s, mt_wire_server_stats *st);
/* Close every connection, end the thread (thread mode) and free; the
 * caller's loop (mt_wire_server_start_on) is left running. NULL ok. */
void mt_wire_server_stop(mt_wire_server *s);

#ifdef __cplusplus
}
#endif
#endif
