/*
 * mt_capi.h - the C API over libtorrent-rasterbar.
 *
 * One mt_session owns one libtorrent session. All functions are C; no C++
 * exception crosses this boundary and nothing here prints. Fallible calls
 * return 0 or a negative MT_E* code and fill an optional mt_error.
 *
 * Threading: an mt_session is used from one thread (the caller's event
 * loop). Results of network operations arrive as mt_event values: wait on
 * mt_session_fd() (readable when something may be pending) and drain with
 * mt_session_next_event(), or block for one with mt_session_wait_event().
 *
 * Torrent ids: a torrent is named by 20 bytes, its v1 info-hash, or for a
 * v2-only torrent the first 20 bytes of its v2 info-hash (what libtorrent
 * itself indexes torrents by).
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_CAPI_H
#define MT_CAPI_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* BEP-44 limits. */
#define MT_DHT_SALT_MAX   64    /* bytes of salt */
#define MT_DHT_VALUE_MAX  999   /* bytes of bencoded v: "must be under 1000" */

typedef struct mt_session mt_session;

/* ------------------------------------------------------------------ */
/* Session                                                             */
/* ------------------------------------------------------------------ */

/*
 * Session configuration. Always fill it with mt_session_config_init() (or
 * _init_loopback) first, then change fields: new fields get safe defaults.
 * Strings are copied by mt_session_new(); they need not outlive the call.
 */
typedef struct mt_session_config {
    /* libtorrent listen_interfaces syntax, e.g. "127.0.1.7:20000" or
     * "0.0.0.0:6881,[::]:6881". Port 0 picks a free port. */
    const char *listen_interfaces;
    const char *outgoing_interfaces;  /* NULL: any */
    int enable_dht;                   /* default 1 */
    /* Comma list of host:port used only as DHT routers (never enter the
     * routing table). NULL: libtorrent's Mainline routers; "": none. */
    const char *dht_routers;
    /* Comma list of host:port added as DHT nodes (routing-table candidates)
     * right after start; this is how a loopback network bootstraps. */
    const char *dht_nodes;
    int enable_lsd;                   /* default 1 */
    int enable_upnp;                  /* default 1 */
    int enable_natpmp;                /* default 1 */
    int enable_utp;                   /* default 1 */
    /* Apply the settings a DHT on 127.x.y.z addresses needs: no IP
     * restrictions in routing tables, raised rate limits, no port retry,
     * several connections per IP. Default 0. */
    int loopback;
    /* BEP-43 read-only DHT node: queries (get, put, announce) work, but
     * other nodes never add this one to their routing tables. Right for
     * short-lived clients. Default 0. */
    int dht_read_only;
    /* SOCKS5 proxy; NULL host disables it. */
    const char *proxy_host;
    int proxy_port;
    const char *proxy_user;           /* with proxy_password: socks5_pw */
    const char *proxy_password;
    int proxy_hostnames;              /* resolve names through the proxy; default 1 */
    int proxy_peer_connections;       /* default 1 */
    int proxy_tracker_connections;    /* default 1 */
    int upload_rate_limit;            /* bytes/s, 0 = unlimited */
    int download_rate_limit;          /* bytes/s, 0 = unlimited */
    const char *user_agent;           /* NULL: "megatorrent/<version>" */
    /* Restore DHT state (node id, routing table) from this file if it
     * exists; see mt_session_save_state(). NULL: start fresh. */
    const char *state_file;
} mt_session_config;

/* Defaults: Mainline DHT through libtorrent's routers, all discovery on. */
void mt_session_config_init(mt_session_config *cfg);

/* Defaults for a loopback network node listening on `listen` (e.g.
 * "127.0.1.1:0"): no routers, no LSD/UPnP/NAT-PMP, no uTP, loopback = 1. */
void mt_session_config_init_loopback(mt_session_config *cfg, const char *listen);

/* Create a session. On success *out owns it; free with mt_session_free(). */
int mt_session_new(const mt_session_config *cfg, mt_session **out, mt_error *err);

/* Stop the session (waits for libtorrent to shut down) and free it. NULL ok. */
void mt_session_free(mt_session *s);

/*
 * Change one libtorrent setting at runtime by its libtorrent name, e.g.
 * ("upload_rate_limit", "100000"), ("enable_dht", "false"). Booleans take
 * true/false/1/0/on/off. Unknown names and unparsable values: MT_EINVAL.
 */
int mt_session_set_setting(mt_session *s, const char *name, const char *value,
                           mt_error *err);

/* Atomically (temp file, fsync, rename) write DHT state to path. */
int mt_session_save_state(mt_session *s, const char *path, mt_error *err);

/* Listening port (TCP and DHT), or -1 if not listening. */
int mt_session_listen_port(mt_session *s);

/* Add a DHT node "host:port" (routing-table candidate). */
int mt_session_add_dht_node(mt_session *s, const char *hostport, mt_error *err);

/* 1 if the DHT is running, else 0. */
int mt_session_dht_running(mt_session *s);

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

typedef enum mt_event_type {
    MT_EVENT_NONE = 0,
    MT_EVENT_LISTEN_OK,        /* endpoint */
    MT_EVENT_LISTEN_FAILED,    /* endpoint, error, message */
    MT_EVENT_DHT_PUT,          /* target, pubkey/salt/seq (mutable), num_success;
                                  error MT_ESTALE if the DHT already held a newer
                                  item, MT_EENGINE if no node stored it */
    MT_EVENT_DHT_MUTABLE,      /* target, pubkey, salt, seq, data (bencoded v),
                                  signature, authoritative; MT_ENOTFOUND on a miss */
    MT_EVENT_DHT_IMMUTABLE,    /* target, data (bencoded v); MT_ENOTFOUND on a miss */
    MT_EVENT_DHT_PEERS,        /* target, peers not reported before in this lookup */
    MT_EVENT_DHT_PEERS_DONE,   /* target, num_peers in total; the lookup timed out */
    MT_EVENT_DHT_STATS,        /* nodes (routing-table size) */
    MT_EVENT_TORRENT_ADDED,    /* target = torrent id */
    MT_EVENT_TORRENT_METADATA, /* metadata arrived (magnet) */
    MT_EVENT_TORRENT_FINISHED, /* all wanted pieces are on disk */
    MT_EVENT_TORRENT_REMOVED,
    MT_EVENT_TORRENT_CHECKED,  /* hash check finished */
    MT_EVENT_TORRENT_ERROR,    /* error, message */
    MT_EVENT_RESUME_DATA,      /* data = bencoded resume data; or error */
    MT_EVENT_ERROR,            /* other engine errors: message */
    MT_EVENT_FILE_COMPLETED,   /* target = torrent id, file_index: that file's
                                  pieces are all on disk and hash-checked */
    MT_EVENT_HASH_FAILED,      /* target = torrent id, piece: a downloaded piece
                                  failed its hash check (a peer or web seed sent
                                  bad data); libtorrent fetches it again */
    MT_EVENT_PUSH              /* a peer pushed a signed BEP-44 item (plugin
                                  lt_megatorrent, signature already verified):
                                  target = torrent id of the swarm it came in,
                                  pubkey, salt, seq, data (bencoded v), signature,
                                  endpoint = the peer "ip:port" */
} mt_event_type;

typedef struct mt_endpoint {
    char     addr[46];         /* textual IPv4/IPv6 address */
    uint16_t port;
} mt_endpoint;

/*
 * A tagged event: `type` says which fields are meaningful (see the enum).
 * `data` and `peers` are owned by the event: release with mt_event_clear().
 */
typedef struct mt_event {
    mt_event_type type;
    int      error;            /* 0 or MT_E*; detail in message */
    char     message[512];     /* libtorrent's text for what happened */
    uint8_t  target[20];       /* DHT target, or torrent id */
    uint8_t  pubkey[32];
    uint8_t  signature[64];
    uint8_t  salt[MT_DHT_SALT_MAX];
    size_t   salt_len;
    int64_t  seq;
    int      authoritative;    /* DHT_MUTABLE: every queried node answered */
    int      num_success;      /* DHT_PUT: nodes that stored the item */
    int      nodes;            /* DHT_STATS: nodes in the routing table */
    size_t   num_peers;        /* DHT_PEERS: entries in peers; DONE: total */
    int      file_index;       /* FILE_COMPLETED */
    int      piece;            /* HASH_FAILED */
    mt_endpoint *peers;
    char     endpoint[64];     /* LISTEN_*: "addr:port" */
    uint8_t *data;
    size_t   data_len;
} mt_event;

/* File descriptor that becomes readable when events may be pending. */
int mt_session_fd(mt_session *s);

/* Take the next event into *ev (caller clears it). 1: got one, 0: none. */
int mt_session_next_event(mt_session *s, mt_event *ev);

/* Milliseconds until an internal deadline (a get_peers lookup ending) needs
 * mt_session_next_event() to be called, or -1 if none: use as poll timeout. */
int mt_session_next_timeout(mt_session *s);

/*
 * Block up to timeout_ms for an event of `type` (and, if target is non-NULL,
 * with that target). Other events stay queued, in order, for
 * mt_session_next_event(). 0 on success, MT_ETIMEDOUT otherwise.
 */
int mt_session_wait_event(mt_session *s, mt_event_type type,
                          const uint8_t target[20], int timeout_ms,
                          mt_event *ev, mt_error *err);

/* Free what an event owns and zero it. */
void mt_event_clear(mt_event *ev);

/* Stable lower-case name of an event type, e.g. "dht_put". */
const char *mt_event_type_name(mt_event_type type);

/* ------------------------------------------------------------------ */
/* DHT (BEP-5, BEP-44)                                                 */
/* ------------------------------------------------------------------ */

/* target = SHA-1(pk || salt) (BEP-44, BEP-46). */
int mt_dht_mutable_target(const uint8_t pk[32], const uint8_t *salt,
                          size_t salt_len, uint8_t out[20], mt_error *err);

/* target = SHA-1(bencoded v). */
int mt_dht_immutable_target(const uint8_t *v, size_t v_len, uint8_t out[20],
                            mt_error *err);

/*
 * The BEP-44 signing buffer "[4:salt<n>:<salt>]3:seqi<seq>e1:v<v>" into
 * out (cap bytes). v is the bencoded value. *out_len gets its length.
 */
int mt_dht_signature_buffer(const uint8_t *salt, size_t salt_len, int64_t seq,
                            const uint8_t *v, size_t v_len, uint8_t *out,
                            size_t cap, size_t *out_len, mt_error *err);

/* Ed25519 (libsodium) signature of the BEP-44 buffer; sk is libsodium's
 * 64-byte secret key (seed || public key). */
int mt_dht_sign_mutable(const uint8_t sk[64], const uint8_t *salt,
                        size_t salt_len, int64_t seq, const uint8_t *v,
                        size_t v_len, uint8_t sig[64], mt_error *err);

/* 0 if sig is pk's signature of the item, MT_ECRYPTO if not. */
int mt_dht_verify_mutable(const uint8_t pk[32], const uint8_t *salt,
                          size_t salt_len, int64_t seq, const uint8_t *v,
                          size_t v_len, const uint8_t sig[64], mt_error *err);

/* 0 if buf is exactly one valid, canonical bencoded value (what libtorrent
 * would re-encode byte for byte), else MT_EINVAL naming the problem. */
int mt_bencode_check(const uint8_t *buf, size_t len, mt_error *err);

/* If buf is one bencoded byte string, point *str and *str_len into buf at its
 * bytes and return 0; else MT_EINVAL (e.g. a dict or an integer). */
int mt_bencode_get_string(const uint8_t *buf, size_t len, const uint8_t **str,
                          size_t *str_len, mt_error *err);

/* Bencode a byte string ("<len>:<bytes>") into a new buffer (mt_free). */
int mt_bencode_string(const uint8_t *s, size_t len, uint8_t **out,
                      size_t *out_len, mt_error *err);

/*
 * Mutable put. v is the bencoded value (canonical, < 1000 bytes). seq > 0
 * stores exactly that seq; seq == 0 stores one above what the DHT holds
 * (1 when nothing). Refused before any traffic when the DHT is off, the
 * value is too big or not canonical, the salt is over 64 bytes, or this
 * session already saw a seq >= the requested one for the target (MT_ESTALE).
 * The outcome is an MT_EVENT_DHT_PUT for *target_out.
 */
int mt_dht_put_mutable(mt_session *s, const uint8_t sk[64],
                       const uint8_t *salt, size_t salt_len, int64_t seq,
                       const uint8_t *v, size_t v_len, uint8_t target_out[20],
                       mt_error *err);

/* Put an item someone already signed (republish; no secret key needed).
 * The signature is checked first (MT_ECRYPTO). Same outcome event. */
int mt_dht_put_signed(mt_session *s, const uint8_t pk[32],
                      const uint8_t *salt, size_t salt_len, int64_t seq,
                      const uint8_t *v, size_t v_len, const uint8_t sig[64],
                      uint8_t target_out[20], mt_error *err);

/* Mutable get: MT_EVENT_DHT_MUTABLE each time a higher seq is seen, then
 * one with authoritative = 1 (the highest seq, or MT_ENOTFOUND). */
int mt_dht_get_mutable(mt_session *s, const uint8_t pk[32],
                       const uint8_t *salt, size_t salt_len,
                       uint8_t target_out[20], mt_error *err);

/* Immutable put of bencoded v (< 1000 bytes); outcome MT_EVENT_DHT_PUT. */
int mt_dht_put_immutable(mt_session *s, const uint8_t *v, size_t v_len,
                         uint8_t target_out[20], mt_error *err);

/* Immutable get; outcome MT_EVENT_DHT_IMMUTABLE. */
int mt_dht_get_immutable(mt_session *s, const uint8_t target[20], mt_error *err);

/* Announce any 20-byte hash with a TCP port (0: the DHT source port). */
int mt_dht_announce(mt_session *s, const uint8_t ih[20], int port, mt_error *err);

/*
 * get_peers of any 20-byte hash. Emits MT_EVENT_DHT_PEERS with peers not
 * reported before in this lookup, and MT_EVENT_DHT_PEERS_DONE after
 * timeout_ms (libtorrent has no completion signal). A second call for the
 * same hash while one runs re-queries and extends the deadline.
 */
int mt_dht_get_peers(mt_session *s, const uint8_t ih[20], int timeout_ms,
                     mt_error *err);

/* Ask for DHT stats; answered by MT_EVENT_DHT_STATS. */
int mt_dht_request_stats(mt_session *s, mt_error *err);

/* ------------------------------------------------------------------ */
/* Torrents                                                            */
/* ------------------------------------------------------------------ */

enum {
    MT_ADD_PAUSED      = 1 << 0,
    MT_ADD_SEED_MODE   = 1 << 1,  /* trust the files: no hash check */
    MT_ADD_UPLOAD_ONLY = 1 << 2,  /* never download */
    /* Store every file directly in the save path under the last component
     * of its path (a pack's "blobs/<id>" becomes <save_path>/<id>), so
     * torrents sharing content-addressed names share one flat folder. For a
     * magnet the files are renamed when metadata arrives. */
    MT_ADD_FLAT        = 1 << 3,
    /* Start with every file at priority 0 (download nothing until
     * mt_torrent_set_file_priority); needs metadata in the add (not a
     * magnet) to take effect before any piece is requested. */
    MT_ADD_NO_FILES    = 1 << 4
};

typedef struct mt_add_params {
    const char    *magnet;        /* one of magnet, torrent, torrent_file */
    const uint8_t *torrent;       /* .torrent bytes */
    size_t         torrent_len;
    const char    *torrent_file;  /* path to a .torrent */
    const uint8_t *resume;        /* optional resume data (MT_EVENT_RESUME_DATA) */
    size_t         resume_len;
    const char    *save_path;     /* required */
    unsigned       flags;         /* MT_ADD_* */
} mt_add_params;

/* Add a torrent; MT_EEXIST if it is already in the session. */
int mt_torrent_add(mt_session *s, const mt_add_params *p, uint8_t id_out[20],
                   mt_error *err);
int mt_torrent_remove(mt_session *s, const uint8_t id[20], int delete_files,
                      mt_error *err);
int mt_torrent_pause(mt_session *s, const uint8_t id[20], mt_error *err);
int mt_torrent_resume(mt_session *s, const uint8_t id[20], mt_error *err);

typedef enum mt_torrent_state {
    MT_TS_CHECKING = 1,
    MT_TS_METADATA,
    MT_TS_DOWNLOADING,
    MT_TS_FINISHED,
    MT_TS_SEEDING,
    MT_TS_CHECKING_RESUME
} mt_torrent_state;

typedef struct mt_torrent_status {
    mt_torrent_state state;
    int      paused;
    int      has_metadata;
    double   progress;            /* 0.0 .. 1.0 of wanted bytes */
    int64_t  download_rate;       /* payload bytes/s */
    int64_t  upload_rate;
    int      num_peers;
    int      num_seeds;
    int64_t  total_done;          /* wanted bytes on disk and verified */
    int64_t  total_wanted;
    int      has_v1, has_v2;
    uint8_t  v1[20];
    uint8_t  v2[32];
    char     name[256];
    char     save_path[1024];
    int      error;               /* 0 or MT_EENGINE */
    char     error_message[256];
} mt_torrent_status;

int mt_torrent_get_status(mt_session *s, const uint8_t id[20],
                          mt_torrent_status *st, mt_error *err);

/* Ids of all torrents: writes up to cap ids, *count gets the total. */
int mt_torrent_list(mt_session *s, uint8_t (*ids)[20], size_t cap,
                    size_t *count, mt_error *err);

typedef struct mt_file_info {
    char    path[1024];           /* relative to the save path */
    int64_t size;
    int64_t offset;               /* in the torrent's byte stream */
    int64_t downloaded;           /* bytes of complete pieces */
    int     priority;             /* 0 (skip) .. 7 */
    int     pad;                  /* 1 for BEP-47 pad files */
} mt_file_info;

/* Files need metadata: MT_ESTATE before it arrives. */
int mt_torrent_file_count(mt_session *s, const uint8_t id[20], int *count,
                          mt_error *err);
int mt_torrent_file_info(mt_session *s, const uint8_t id[20], int index,
                         mt_file_info *fi, mt_error *err);
int mt_torrent_set_file_priority(mt_session *s, const uint8_t id[20],
                                 int index, int priority, mt_error *err);

/* Every file at once, in one round trip to the engine (mt_torrent_file_info
 * makes three per file): up to cap entries into fi, *count gets the total.
 * MT_ESTATE before metadata. */
int mt_torrent_files(mt_session *s, const uint8_t id[20], mt_file_info *fi, size_t cap, size_t *count,
                     mt_error *err);

int mt_torrent_add_web_seed(mt_session *s, const uint8_t id[20],
                            const char *url, mt_error *err);
/* Look for peers again now: a DHT announce and get_peers (and a tracker
 * announce) for the torrent, instead of waiting for libtorrent's next
 * scheduled one (15 minutes for the DHT). MT_ENOTFOUND if no such torrent. */
int mt_torrent_find_peers(mt_session *s, const uint8_t id[20], mt_error *err);

/* Connect to a peer at "ip:port" or "[ipv6]:port". */
int mt_torrent_connect_peer(mt_session *s, const uint8_t id[20],
                            const char *ipport, mt_error *err);
int mt_torrent_force_recheck(mt_session *s, const uint8_t id[20], mt_error *err);
/* Ask for resume data (with the info dict); outcome MT_EVENT_RESUME_DATA. */
int mt_torrent_save_resume(mt_session *s, const uint8_t id[20], mt_error *err);

/* The .torrent of a torrent whose metadata is known (MT_ESTATE before):
 * *out (mt_free) gets bencoded bytes with the torrent's own info dict. */
int mt_torrent_get_torrent(mt_session *s, const uint8_t id[20], uint8_t **out,
                           size_t *out_len, mt_error *err);

/* Give a magnet that is still waiting for metadata its info dict, taken
 * from .torrent bytes obtained elsewhere (a web seed's .torrent). libtorrent
 * checks it against the info-hash and ignores a mismatch. MT_EINVAL for bytes
 * that are not a .torrent or name another torrent. */
int mt_torrent_set_metadata(mt_session *s, const uint8_t id[20], const uint8_t *torrent, size_t len,
                            mt_error *err);

/* Info-hashes of .torrent bytes; id_out gets the torrent id. Either hash
 * pointer may be NULL; *has_* say which exist. */
int mt_torrent_info_hashes(const uint8_t *torrent, size_t len,
                           uint8_t id_out[20], int *has_v1, uint8_t v1[20],
                           int *has_v2, uint8_t v2[32], mt_error *err);

/* What a magnet link names, as libtorrent's own parser reads it. */
typedef struct mt_magnet_info {
    int     has_v1;       /* xt=urn:btih: (40 hex or 32 base32) */
    uint8_t v1[20];
    int     has_v2;       /* xt=urn:btmh:1220<64 hex> */
    uint8_t v2[32];
    uint8_t id[20];       /* the torrent id mt_torrent_* functions take */
    char    name[256];    /* dn=, cut to fit; "" when absent */
} mt_magnet_info;

/* Parse a magnet link (at most 8 KiB). MT_EINVAL, with libtorrent's reason,
 * if it is malformed or names no info-hash. */
int mt_magnet_parse(const char *uri, mt_magnet_info *out, mt_error *err);

typedef enum mt_torrent_version {
    MT_TORRENT_V1 = 1,
    MT_TORRENT_V2 = 2,
    MT_TORRENT_HYBRID = 3
} mt_torrent_version;

typedef struct mt_create_params {
    const char *path;             /* a file, or a folder (walked recursively) */
    int version;                  /* an mt_torrent_version; 0 = hybrid */
    int piece_size;               /* bytes, power of two, 16 KiB-512 MiB; 0 = auto */
    const char *const *web_seeds; /* url-list entries */
    size_t num_web_seeds;
    const char *const *trackers;  /* one tier each */
    size_t num_trackers;
    const char *comment;
    int is_private;
} mt_create_params;

/*
 * Create a torrent deterministically: files in byte order of their paths,
 * no creation date, no creator string, symlinks skipped. The same input
 * gives the same bytes and info-hash. *out is freed with mt_free().
 */
int mt_torrent_create(const mt_create_params *p, uint8_t **out, size_t *out_len,
                      mt_error *err);

/*
 * Create a v1 torrent named `name` whose files are name/<files[i]>, in the
 * given order, read from dir/<files[i]> (the files need not sit in a folder
 * called name: packs of content-addressed blobs use this). Pieces of
 * piece_size bytes (power of two, 16 KiB-16 MiB) span file boundaries; no
 * pad files, no date, no creator. Names must be plain file names (no '/',
 * not "." or ".."). *out is freed with mt_free().
 */
int mt_torrent_create_flat(const char *dir, const char *name, const char *const *files, size_t n,
                           int piece_size, const char *const *web_seeds, size_t num_web_seeds,
                           uint8_t **out, size_t *out_len, mt_error *err);

/* Free memory the library returned. NULL ok. */
void mt_free(void *p);

/* Library version string, e.g. "0.1.0". */
const char *mt_version(void);

/* Version of the libtorrent the library runs on, e.g. "2.0.8.0". */
const char *mt_engine_version(void);

#ifdef __cplusplus
}
#endif
#endif
