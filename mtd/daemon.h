/* daemon.h - mtd's internal state, shared by its loop, RPC methods,
 * subscriptions and publishing. One thread touches all of it. */
#ifndef MTD_DAEMON_H
#define MTD_DAEMON_H

#include <cJSON.h>
#include <regex.h>
#include <stdint.h>

#include "mt_capi.h"
#include "mt_feedaddr.h"
#include "mt_feedindex.h"
#include "mt_identity.h"
#include "store.h"
#include "mtd.h"
#include "rpc.h"

#define MTD_MAX_ACTIVE_POLLS 16   /* feed lookups in flight at once */

/* A subscription at runtime: schedule and the lookup in flight. */
typedef struct sub_rt {
    int64_t      id;
    mt_feedaddr  addr;
    int          interval_s;     /* 0: the daemon's default */
    int64_t      next_poll_ms;   /* monotonic */
    int64_t      next_poll_wall; /* same instant, wall clock (for status) */
    int          sync_wanted;    /* poll at once, outside the budget */
    mt_resolve  *res;
    int64_t      last_republish_ms;
    int64_t      forwarded_seq;  /* highest seq pushed on to other peers */
    double       fwd_tokens;     /* forwards this feed may still make (push_feed_rate bucket) */
    int64_t      fwd_refill_ms;  /* monotonic time fwd_tokens was last topped up */
} sub_rt;

/* A "resolve" RPC in flight. */
typedef struct rpc_resolve {
    mt_resolve     *res;
    mtd_rpc_ticket  ticket;
    char            address[MT_FEEDADDR_STR_MAX];
} rpc_resolve;

/* A DHT put whose outcome an RPC caller (or the republish timer) awaits. */
typedef struct pending_put {
    uint8_t         target[20];
    int             has_ticket;
    mtd_rpc_ticket  ticket;
    char            name[65];
    int64_t         seq;
    cJSON          *result;      /* reply to complete with "nodes" */
} pending_put;

/* A new item whose .torrent goes to export_dir once metadata arrives. */
typedef struct pending_export {
    uint8_t id[20];
    char    name[300];   /* sanitised file name, without extension */
} pending_export;

/* A blob fetch (subscription item or blob.fetch), persisted in the store. */
typedef struct blob_fetch_rt {
    int64_t       id;
    int64_t       sub_id;      /* 0: started by RPC */
    struct mt_blobfetch *f;    /* NULL once finished (state says how) */
    int           state;       /* mt_blobfetch_state */
    char          out[MTD_PATH_MAX + 300];
    char          name[300];
    char          error[256];
    cJSON        *entry;       /* the FileEntry (holds chunk keys) */
    char          peers[512];  /* comma list of extra mt-wire hosts */
} blob_fetch_rt;

struct ingest_job;

typedef struct mtd_daemon {
    mtd_config   *cfg;
    mt_store     *st;
    mt_session   *s;
    mtd_rpc      *rpc;
    mt_identity  *id;
    char          index_dir[MTD_PATH_MAX + 16];
    char          seq_dir[MTD_PATH_MAX + 16];
    char          session_file[MTD_PATH_MAX + 16];
    int64_t       start_ms;
    int           quit;
    int           reload;
    /* subscriptions */
    sub_rt       *subs;
    size_t        n_subs, cap_subs;
    size_t        poll_cursor;    /* round-robin start for due polls */
    size_t        n_polling;      /* subscriptions with a lookup in flight */
    int64_t       next_subs_tick_ms; /* scans of the schedule are paced */
    double        dht_tokens;     /* token bucket for feed lookups */
    int64_t       tokens_ms;
    int           republish_tokens;
    int64_t       republish_refill_ms;
    /* RPC work in flight */
    rpc_resolve  *resolves;
    size_t        n_resolves, cap_resolves;
    pending_put  *puts;
    size_t        n_puts, cap_puts;
    pending_export *exports;
    size_t        n_exports, cap_exports;
    int64_t       next_republish_check_ms;
    int64_t       next_resume_save_ms;
    int64_t       next_state_save_ms;
    /* blobs (blobs.c) */
    struct mt_blobstore   *bs;
    struct mt_wire_server *wire;
    blob_fetch_rt *fetches;
    size_t        n_fetches, cap_fetches;
    int64_t       next_fetch_id;
    struct ingest_job *jobs;
    char        (*announce_ids)[65];
    size_t        n_announce, announce_cursor;
    double        announce_tokens;
    int64_t       announce_ms, next_announce_scan_ms, next_evict_ms;
    /* index torrents to drop once pushes through them had time to go out */
    struct { uint8_t ih[20]; int64_t at_ms; } *retire;
    size_t        n_retire, cap_retire;
    /* statistics */
    uint64_t      dht_lookups;
    uint64_t      pushes_received, pushes_accepted, pushes_forwarded, pushes_held;
    uint64_t      polls_done;
    int           dht_nodes;
} mtd_daemon;

/* ---- daemon.c ---- */
void d_emit(mtd_daemon *d, cJSON *event);              /* broadcast (adds time_ms) */
cJSON *d_event(const char *type);                  /* new event object */
void d_run_hook(mtd_daemon *d, const char *cmd, const char *const *env);
int d_torrent_json(mtd_daemon *d, const uint8_t id[20], cJSON **out);
int d_find_torrent(mtd_daemon *d, const char *idtext, uint8_t id[20], char *msg, size_t cap);
int d_add_torrent(mtd_daemon *d, const mt_add_params *ap, int64_t sub_id, const char *category,
                  int kind, uint8_t id[20], mt_error *err);
void d_remove_index_if_unused(mtd_daemon *d, const uint8_t ih[20]);
/* Ask the push extension to keep (or stop keeping) an index swarm's
 * seed-to-seed connections; logs, never fails. */
void d_keep_index_links(mtd_daemon *d, const uint8_t ih[20], int keep);
/* The same, RETIRE_MS later: a push just sent through that swarm must leave
 * the peers' send buffers before its connections close. */
void d_retire_index(mtd_daemon *d, const uint8_t ih[20]);

/* ---- subs.c ---- */
int subs_load(mtd_daemon *d, mt_error *err);
void subs_free(mtd_daemon *d);
sub_rt *subs_find(mtd_daemon *d, int64_t id);
int subs_add_rt(mtd_daemon *d, const mt_sub *s);
void subs_remove_rt(mtd_daemon *d, int64_t id);
void subs_tick(mtd_daemon *d);
void subs_event(mtd_daemon *d, const mt_event *ev);
void subs_export_event(mtd_daemon *d, const mt_event *ev);
int subs_sync(mtd_daemon *d, int64_t id);              /* number started */
cJSON *subs_json(mtd_daemon *d, const mt_sub *s);
int subs_push(mtd_daemon *d, const mt_feedaddr *addr, int64_t seq, const uint8_t *v, size_t v_len,
              const uint8_t sig[64], char *reason, size_t cap);
int subs_resolve_address(mtd_daemon *d, const cJSON *params, mt_sub *out, char *msg, size_t cap);

/* ---- publish.c ---- */
int pub_publish(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);
/* feed.publish with its parameters p; answers through held (a ticket taken
 * earlier, e.g. before ingesting files) when given, else defers call.
 * With held, errors are returned and the caller answers the ticket. */
int pub_publish_params(mtd_daemon *d, const cJSON *p, const mtd_rpc_call *call, const mtd_rpc_ticket *held,
                       cJSON **result, char *msg, size_t cap);
cJSON *pub_list_json(mtd_daemon *d);
void pub_tick(mtd_daemon *d);
void pub_event(mtd_daemon *d, const mt_event *ev);

/* ---- blobs.c ---- */
int blobs_open(mtd_daemon *d);                      /* store, wire server, fetches */
void blobs_close(mtd_daemon *d);
void blobs_event(mtd_daemon *d, const mt_event *ev);
void blobs_tick(mtd_daemon *d);
int blobs_timeout(mtd_daemon *d);                   /* ms, or -1 */
/* A subscription's new FileEntry item: fetch it into save_dir. */
int blobs_fetch_item(mtd_daemon *d, int64_t sub_id, const cJSON *entry, const char *save_dir,
                     char *msg, size_t cap);
int blobs_publish_files(mtd_daemon *d, const mtd_rpc_call *call, char *msg, size_t cap);
int blobs_m_ingest(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);
int blobs_m_fetch(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);
int blobs_m_fetches(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);
int blobs_m_store(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);
int blobs_m_seed(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);

/* ---- methods.c ---- */
extern const mtd_rpc_method mtd_methods[];
void methods_event(mtd_daemon *d, const mt_event *ev);
void methods_tick(mtd_daemon *d);
void methods_free(mtd_daemon *d);

#endif
