/*
 * mt_blobswarm.h - blobs carried by ordinary BitTorrent swarms ("packs"),
 * fetched back into files.
 *
 * A pack is a v1 torrent named "blobs" whose files are blobs/<blob id>, so
 * any BitTorrent client, peer or web seed moves it and no host ever holds
 * more than ciphertext. Hosts keep pack files flat, as <blob dir>/<id>
 * (MT_ADD_FLAT), so one content-addressed folder serves every pack, the
 * mt-wire server and the blob store. A web seed for a pack serves
 * <url>blobs/<id>, and the pack's .torrent at <url>blobs/<info-hash>.torrent,
 * named in the magnet's xs= so a subscriber gets metadata from the web seed
 * alone (web seeds cannot serve ut_metadata).
 *
 * A fetch works from a FileEntry: blobs already in the blob folder are used
 * first (so a fetch resumes after a restart), then the pack named by
 * "swarm" is joined wanting only the needed blobs; each blob is checked
 * against its id and decrypted into the output as soon as its file
 * completes. When the pack makes no progress for a while, missing blobs are
 * looked up by id in the DHT (announce key: first 20 bytes of the id) and
 * fetched over mt-wire on a worker thread.
 *
 * Fetches are driven by the caller's event loop like the resolver: feed
 * every session event to mt_blobfetch_event and call mt_blobfetch_tick
 * when mt_blobfetch_timeout says. Nothing blocks the loop.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_BLOBSWARM_H
#define MT_BLOBSWARM_H

#include <stddef.h>
#include <stdint.h>

#include "mt_blob.h"
#include "mt_capi.h"
#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_PACK_NAME  "blobs"
#define MT_PACK_PIECE (1 << 20)   /* piece size of packs */
#define MT_PACK_MAX_BLOBS 65536   /* 64 GiB of blobs in one pack */

/*
 * Make a pack of n blobs found in blob_dir (dir/<id>), in random order when
 * shuffle is set (so a pack of several files does not reveal which blobs
 * belong together). Web seeds go in url-list; when there are any, the
 * .torrent is also written to blob_dir/<info-hash>.torrent for the web
 * host to serve. *torrent (mt_free) gets the .torrent, *magnet (mt_free())
 * the pack magnet with ws= and xs= parameters, id the torrent id.
 */
int mt_pack_create(const char *blob_dir, const char *const *ids, size_t n, int shuffle,
                   const char *const *web_seeds, size_t n_ws, uint8_t **torrent, size_t *torrent_len,
                   char **magnet, uint8_t id[20], mt_error *err);

/* The DHT key hosts announce a blob under: the first 20 bytes of its id.
 * MT_EINVAL if id is not a blob id. */
int mt_blob_dht_key(const char *id, uint8_t key[20]);

/* Blob id of a pack file path ("blobs/<id>" or "<id>"), or -1 if the name is
 * not one (then the file is never wanted or read). */
int mt_pack_file_blob_id(const char *path, char out[MT_BLOB_ID_HEX]);

typedef enum mt_blobfetch_state {
    MT_BLOBFETCH_RUNNING = 1,
    MT_BLOBFETCH_DONE,    /* the output file is complete and renamed */
    MT_BLOBFETCH_FAILED   /* see mt_blobfetch_error */
} mt_blobfetch_state;

typedef struct mt_blobfetch_opts {
    const char *blob_dir;        /* required: flat blob folder (pack save path) */
    const char *out_path;        /* required: the file to write */
    int stall_ms;                /* no new blob this long: try mt-wire; default 20000, -1 never */
    int timeout_ms;              /* give up after this long without progress; default 0 = never */
    const char *const *wire_peers; /* extra mt-wire hosts "ip:port" to ask; may be NULL */
    size_t n_wire_peers;
    int keep_seeding;            /* leave the pack in the session when done */
    unsigned add_flags;          /* extra MT_ADD_* for the pack (e.g. none) */
} mt_blobfetch_opts;

void mt_blobfetch_opts_init(mt_blobfetch_opts *o);

typedef struct mt_blobfetch mt_blobfetch;

/*
 * Start fetching fe (copied) into o->out_path. MT_EEXIST if the output
 * exists already (nothing to do; the caller decides). The pack is added to
 * s when fe has a swarm and blobs are missing.
 */
int mt_blobfetch_start(mt_session *s, const mt_fileentry *fe, const mt_blobfetch_opts *o,
                       mt_blobfetch **out, mt_error *err);

/* Offer one session event; 1 if it concerned this fetch, else 0. */
int mt_blobfetch_event(mt_blobfetch *f, const mt_event *ev);

/* Timers and worker results; call when mt_blobfetch_timeout expires. */
void mt_blobfetch_tick(mt_blobfetch *f);

/* Milliseconds until mt_blobfetch_tick is needed (-1: only on events). */
int mt_blobfetch_timeout(const mt_blobfetch *f);

mt_blobfetch_state mt_blobfetch_get_state(const mt_blobfetch *f);

typedef struct mt_blobfetch_progress {
    size_t  chunks_done, chunks_total;
    int64_t bytes_done, bytes_total;   /* plaintext */
    size_t  from_disk;     /* blobs found already present */
    size_t  from_swarm;    /* blobs the pack delivered */
    size_t  from_wire;     /* blobs fetched over mt-wire */
    size_t  corrupt;       /* blobs that failed their id check and were fetched again */
    size_t  hash_failed;   /* pack pieces that failed libtorrent's check */
    int     has_pack;      /* the pack torrent is in the session */
    uint8_t pack_id[20];
} mt_blobfetch_progress;

void mt_blobfetch_get_progress(const mt_blobfetch *f, mt_blobfetch_progress *p);

/* The failure of a FAILED fetch. */
void mt_blobfetch_get_error(const mt_blobfetch *f, mt_error *err);

/* Stop (joins the worker), remove the pack unless it is done and
 * keep_seeding, keep the .mtpart for a later resume unless discard. */
void mt_blobfetch_free(mt_blobfetch *f, int discard);

/*
 * GET an http(s) URL into memory (at most max bytes; MT_ETOOBIG beyond),
 * bounded by timeout_ms. Used for a pack's xs= .torrent. *out is released with mt_free().
 */
int mt_http_get(const char *url, size_t max, int timeout_ms, uint8_t **out, size_t *len, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
