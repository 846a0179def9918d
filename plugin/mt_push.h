/*
 * mt_push.h - the lt_megatorrent BEP-10 extension: peers of a feed's index
 * swarm push complete signed BEP-44 items to each other.
 *
 * Wire: a BEP-10 extended message named "lt_megatorrent" whose body is the
 * bencoded dict {"k": 32 bytes, "salt": <= 64 bytes (optional), "seq": > 0,
 * "sig": 64 bytes, "v": bencoded value (canonical, under 1000 bytes)}.
 * Only peers that advertised the extension in their extended handshake are
 * ever sent to.
 *
 * Receiving: every message is size-checked and charged to a per-peer token
 * bucket on libtorrent's network thread, then decoded, de-duplicated and its
 * signature checked on a worker thread owned by the plugin. Items that pass
 * arrive as MT_EVENT_PUSH events on the session (see mt_capi.h): target =
 * torrent id of the swarm it came in on, endpoint = the sending peer. A bad
 * message is counted (mt_push_get_stats) and dropped; the peer is never
 * disconnected for it.
 *
 * Keeping connections: libtorrent closes a connection when both ends are
 * seeds ("redundant"), which is the normal state of an index swarm. Push
 * needs those connections: mark index torrents with mt_push_keep_links, and
 * the extension vetoes those closings for them alone (ordinary torrents keep
 * libtorrent's behaviour), or turn "close_redundant_connections" off for the
 * whole session.
 *
 * Threading: all functions may be called from the thread that owns the
 * mt_session; mt_push_peer_count, mt_push_get_stats and the codec
 * (mt_push_decode, mt_push_encode, mt_push_item_clear) from any thread.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_PUSH_H
#define MT_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "mt_capi.h"
#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The extension's name in the BEP-10 handshake's "m" dict. */
#define MT_PUSH_EXTENSION_NAME "lt_megatorrent"

typedef struct mt_push_config {
    size_t max_message;      /* bencoded message cap in bytes; default 1280, room for any legal item (64..65536) */
    int    peer_burst;       /* per-peer token bucket: burst (default 10, >= 1) */
    int    peer_per_min;     /*   and refill per minute (default 30, >= 0) */
    int    queue_max;        /* items waiting for signature checks (default 256, >= 1) */
} mt_push_config;

/* Fill c with the defaults. */
void mt_push_config_init(mt_push_config *c);

/*
 * Add the extension to s (once, right after mt_session_new: torrents added
 * before it never speak lt_megatorrent). c NULL: defaults. MT_EINVAL for a
 * config out of range, MT_EEXIST if push is already enabled on s.
 */
int mt_push_enable(mt_session *s, const mt_push_config *c, mt_error *err);

/*
 * Send a signed item to the peers of torrent id that advertised
 * lt_megatorrent, except the peer "ip:port" in except (the endpoint string
 * of an MT_EVENT_PUSH, to forward without echoing; may be NULL).
 * max_peers 0 sends to every such peer; max_peers > 0 to that many of them
 * at most, picked at random per call (a forwarding fan-out: in a swarm of N
 * peers that all forward, N * max_peers messages instead of N * N).
 * Returns at once; the sends happen on libtorrent's network thread.
 * *queued (may be NULL) gets how many peers it was addressed to.
 * The signature is not checked here (receivers check it); (target, seq) is
 * remembered so an echo of the item is counted duplicate, not delivered.
 * MT_EINVAL for a bad item (NULL pointers, seq < 1, salt > 64, v not
 * canonical bencode or >= 1000 bytes, message over max_message, max_peers < 0),
 * MT_ENOTFOUND if no such torrent, MT_ESTATE if push is not enabled on s.
 */
int mt_push_send(mt_session *s, const uint8_t id[20], const uint8_t pk[32], const uint8_t *salt,
                 size_t salt_len, int64_t seq, const uint8_t *v, size_t v_len, const uint8_t sig[64],
                 const char *except, int max_peers, int *queued, mt_error *err);

/*
 * For tests: sends msg (1 byte .. 1 MiB) as-is as the body of an
 * lt_megatorrent message to every lt_megatorrent peer of torrent id.
 * Same errors as mt_push_send.
 */
int mt_push_send_raw(mt_session *s, const uint8_t id[20], const uint8_t *msg, size_t len, mt_error *err);

/* Peers of torrent id that speak lt_megatorrent now (0 for an unknown
 * torrent); MT_EINVAL for NULL arguments, MT_ESTATE if push is not enabled. */
int mt_push_peer_count(mt_session *s, const uint8_t id[20]);

/*
 * keep = 1: keep the connections of torrent id to peers that speak
 * lt_megatorrent open when libtorrent would close them as redundant (both
 * ends seeds: upload_upload_connection, torrent_finished,
 * uninteresting_upload_peer); keep = 0: stop. Peers without the extension
 * are closed as usual once their extended handshake shows it. The torrent
 * need not exist yet. MT_EINVAL for NULL arguments, MT_ESTATE if push is not
 * enabled on s.
 */
int mt_push_keep_links(mt_session *s, const uint8_t id[20], int keep, mt_error *err);

typedef struct mt_push_stats {
    uint64_t received;      /* messages taken off the wire */
    uint64_t delivered;     /* verified and posted as MT_EVENT_PUSH */
    uint64_t bad_signature;
    uint64_t malformed;     /* not a bencoded dict with k/salt?/seq/v/sig of the right types and sizes */
    uint64_t oversized;     /* over max_message: dropped before decoding */
    uint64_t rate_limited;  /* dropped by the per-peer bucket, a full queue, or a full event queue */
    uint64_t duplicate;     /* seq not above the highest already delivered or sent for its target */
    uint64_t sent;          /* messages written to peers */
    uint64_t handshakes;    /* BEP-10 extended handshakes read, from peers with or without
                               lt_megatorrent: lets a caller know a peer's has been acted on */
} mt_push_stats;

/* Counters since mt_push_enable; all zero if push is not enabled. */
void mt_push_get_stats(mt_session *s, mt_push_stats *st);

/* ------------------------------------------------------------------ */
/* The message codec (pure: no session; any thread)                    */
/* ------------------------------------------------------------------ */

/* One item as carried by an lt_megatorrent message. */
typedef struct mt_push_item {
    uint8_t  k[32];                  /* Ed25519 public key */
    uint8_t  salt[MT_DHT_SALT_MAX];
    size_t   salt_len;               /* 0: no salt */
    int64_t  seq;                    /* >= 1 */
    uint8_t *v;                      /* bencoded value (malloc'd; mt_free or mt_push_item_clear) */
    size_t   v_len;
    uint8_t  sig[64];
    uint8_t  target[20];             /* SHA-1(k || salt); set by mt_push_decode, ignored by mt_push_encode */
} mt_push_item;

/*
 * Decode and validate one lt_megatorrent message body, the checks the
 * receiving worker makes before its signature check: a bencoded dict that is
 * the whole message, no larger than max_message bytes, with k (32 bytes),
 * sig (64 bytes), seq (>= 1), v (canonical bencoding, under 1000 bytes) and
 * optionally salt (a string of <= 64 bytes; empty means none). Other keys
 * are ignored. The signature is NOT checked (mt_dht_verify_mutable does).
 * On success *out holds copies and the target; release with
 * mt_push_item_clear. On failure *out is zeroed: MT_EINVAL naming what is
 * wrong, or MT_ENOMEM.
 */
int mt_push_decode(const uint8_t *msg, size_t len, size_t max_message, mt_push_item *out, mt_error *err);

/* Free it->v and zero *it. NULL ok. */
void mt_push_item_clear(mt_push_item *it);

/*
 * Encode an item as the canonical message mt_push_send puts on the wire
 * (sorted keys; salt left out when empty). *msg is malloc'd (mt_free).
 * MT_EINVAL for the items mt_push_send refuses (seq < 1, salt > 64 bytes,
 * v empty, >= 1000 bytes or not canonical bencoding).
 */
int mt_push_encode(const mt_push_item *it, uint8_t **msg, size_t *len, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
