/*
 * mt_feedindex.h - feed-index torrents (DESIGN.md "Feed-index torrent"):
 * how a signed manifest travels.
 *
 * Publish: the manifest becomes a one-file torrent whose payload is
 * `manifest.json`, built deterministically (v1, 16 KiB pieces, no date or
 * creator: the same manifest always gives the same info-hash); the
 * publisher seeds it and puts the pointer {ih, ts, ws} under (key, salt).
 * A manifest under 1000 bytes may instead be put inline.
 *
 * Resolve: a mutable DHT get of (key, salt); the first valid item with a
 * sequence above what was accepted before is acted on at once (a later,
 * higher one replaces it); the authoritative answer saying nothing newer
 * exists ends the lookup as unchanged. A pointer's index torrent is joined
 * by info-hash (peers from the DHT, web seeds from `ws`), its size checked
 * against the cap as soon as metadata arrives, the manifest read and
 * verified against the key, the DHT sequence and the accepted history.
 * A pointer whose torrent is not a feed index (anything but one file named
 * manifest.json) is a plain BEP-46 feed: the torrent itself is the update,
 * reported by name and info-hash and not downloaded into the index dir.
 *
 * A resolver is a small state machine driven by its owner's event loop:
 * hand it every session event (mt_resolve_event) and call mt_resolve_tick
 * now and then; it never blocks.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_FEEDINDEX_H
#define MT_FEEDINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "mt_capi.h"
#include "mt_error.h"
#include "mt_feedaddr.h"
#include "mt_manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_FEEDINDEX_FILE "manifest.json"
#define MT_FEEDINDEX_PIECE 16384

/* ---------------------------------------------------------------- publish */

/*
 * Write the manifest (json, len bytes) as <dir>/<ih hex>/manifest.json and
 * build its feed-index torrent, with ws (n_ws URLs, may be NULL) as web
 * seeds (outside the info dict, so they do not change the info-hash).
 * *torrent (mt_free) gets the .torrent bytes, ih the v1 info-hash and
 * save_path (cap bytes) the directory to seed from. Idempotent.
 */
int mt_feedindex_build(const char *json, size_t len, const char *dir,
                       const char *const *ws, size_t n_ws, uint8_t ih[20],
                       char *save_path, size_t cap, uint8_t **torrent,
                       size_t *torrent_len, mt_error *err);

/*
 * Check a signed mutable item claimed to belong to feed addr: the BEP-44
 * signature under addr's key and salt (MT_ECRYPTO), seq above highest
 * (MT_ESTALE) and within 2^53-1, and a decodable pointer value (MT_EINVAL /
 * MT_ETOOBIG). On success *out holds the decoded value (clear it with
 * mt_pointer_clear). An inline value's manifest is not checked here.
 */
struct mt_pointer;
int mt_feedindex_check_item(const mt_feedaddr *addr, int64_t seq, const uint8_t *v,
                            size_t v_len, const uint8_t sig[64], int64_t highest,
                            struct mt_pointer *out, mt_error *err);

/* ---------------------------------------------------------------- resolve */

typedef struct mt_resolve mt_resolve;

typedef struct mt_resolve_params {
    mt_feedaddr addr;          /* the feed (key, salt, optional read key) */
    int64_t     highest_seq;   /* highest accepted before; 0 = none */
    size_t      max_manifest;  /* 0 = MT_MANIFEST_MAX */
    const char *index_dir;     /* index torrents are saved in <index_dir>/<ih hex> */
    int         timeout_ms;    /* whole lookup, DHT and download */
    int         skip_dht;      /* 1: no DHT get; wait for mt_resolve_offer() */
} mt_resolve_params;

typedef enum mt_resolve_state {
    MT_RESOLVE_RUNNING = 0,
    MT_RESOLVE_DONE,           /* a new manifest was verified: see the result */
    MT_RESOLVE_UNCHANGED,      /* nothing newer than highest_seq exists */
    MT_RESOLVE_FAILED          /* see mt_resolve_error() */
} mt_resolve_state;

/* What a successful resolve found. Owned by the resolver. */
typedef struct mt_resolve_result {
    int64_t      seq;
    int          is_inline;
    int          is_torrent;   /* plain BEP-46: ih names an ordinary torrent,
                                  not a feed index; no manifest */
    char         name[256];    /* that torrent's name (is_torrent) */
    uint8_t      ih[20];       /* index torrent (pointer form) */
    int          index_added;  /* 1: this resolver added the index torrent */
    char        *json;         /* the manifest as received (json_len bytes + NUL);
                                  NULL when is_torrent */
    size_t       json_len;
    mt_manifest *manifest;     /* verified; opened when a read key was given;
                                  NULL when is_torrent */
    uint8_t     *v;            /* the signed DHT item that carried it */
    size_t       v_len;
    uint8_t      sig[64];
} mt_resolve_result;

/* Start a lookup (a DHT get unless skip_dht). */
int mt_resolve_start(mt_session *s, const mt_resolve_params *p, mt_resolve **out,
                     mt_error *err);

/* Look at an event of the session. Returns 1 if it concerned this
 * resolver (several resolvers may share one event), else 0. */
int mt_resolve_event(mt_resolve *r, const mt_event *ev);

/* Advance on time: deadlines, and the index torrent's progress. */
void mt_resolve_tick(mt_resolve *r);

/*
 * Offer a signed item from elsewhere (a peer's push, an RPC call). Checked
 * like a DHT answer; a valid newer one is acted on. 0 if taken, else the
 * MT_E* reason (the resolver carries on unchanged).
 */
int mt_resolve_offer(mt_resolve *r, int64_t seq, const uint8_t *v, size_t v_len,
                     const uint8_t sig[64], mt_error *err);

mt_resolve_state mt_resolve_get_state(const mt_resolve *r);

/* Error code and message of a FAILED resolve (and the last rejected item's
 * reason while running). */
int mt_resolve_error(const mt_resolve *r, const char **message);

/* Rejected candidates so far (forged, bad manifests): count, and the
 * latest one's reason and seq (0 when it was refused before its seq could
 * be trusted, e.g. a bad signature). Lets owners report what was refused
 * even on success. */
int mt_resolve_rejected(const mt_resolve *r, const char **last_reason, int64_t *last_seq);

/* The result, or NULL unless DONE. */
const mt_resolve_result *mt_resolve_get_result(const mt_resolve *r);

/* Take the verified manifest out of the result (the caller frees it). */
mt_manifest *mt_resolve_take_manifest(mt_resolve *r);

/* Stop and free. An index torrent this resolver added is removed from the
 * session unless the resolve is DONE and keep_index is 1. NULL ok. */
void mt_resolve_free(mt_resolve *r, int keep_index);

#ifdef __cplusplus
}
#endif
#endif
