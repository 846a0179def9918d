/*
 * cmd_daemon.h - mtctl commands that talk to a running mtd over its
 * JSON-RPC socket (doc/rpc.md), the demo, and the helpers they share.
 */
#ifndef MTCTL_CMD_DAEMON_H
#define MTCTL_CMD_DAEMON_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc_client.h"

/* ---- entry points (argv[0] is the command word) ---- */

/* 1 if word names a daemon command: status add list info pause resume
 * remove files publish feeds subscribe subscriptions unsubscribe sync
 * resolve watch shutdown. */
int daemon_command_known(const char *word);

/* Run the daemon command named by argv[0] (any of the above). */
int cmd_daemon(int argc, char **argv);

/* mtctl demo: a self-contained tour on a loopback network (cmd_demo.c). */
int cmd_demo(int argc, char **argv);

/* mtctl resolve without a daemon (cmd_resolve.c); called with argv
 * {"resolve", [--timeout S], [--bootstrap H:P]..., [--listen A:P], ADDRESS},
 * options first, optind reset to 0. */
extern int resolve_local(int argc, char **argv);

/* Print a resolve result document ({address, seq, mode, ih, manifest})
 * readably: key: value lines, then each collection and its items. */
void dc_print_resolve_result(const cJSON *doc);

/* Lines for mtctl --help, listing the daemon commands and the demo. */
extern const char daemon_usage_summary[];

/* ---- helpers shared with cmd_demo.c ---- */

#define DC_CALL_TIMEOUT_MS 30000      /* ordinary requests */
#define DC_PUBLISH_TIMEOUT_MS 120000  /* feed.publish waits for the DHT put */
#define DC_INGEST_TIMEOUT_MS 3600000  /* ... and for mtd to encrypt the files given */
#define DC_POLL_MS 500                /* torrent.info polling period */

/* "3.0 MiB" / "1.2 MiB/s" into buf. */
void dc_human_bytes(double n, char *buf, size_t cap);
void dc_human_rate(double bytes_per_s, char *buf, size_t cap);

/* Copy untrusted text with control bytes shown as '?', cut on a UTF-8
 * character boundary to fit cap. */
void dc_clean(const char *in, char *out, size_t cap);

/* Members of a result object: "" / def when absent or of another type. */
const char *dc_str(const cJSON *o, const char *key);
double dc_num(const cJSON *o, const char *key, double def);

/* Exit code for rpc_call's return value and JSON-RPC error code. */
int dc_exit_for_rpc(int rc, int code);

/* rpc_call with the result defaulting to {}; returns an exit code, and on
 * failure msg (never printed here). */
int dc_call_msg(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result, char *msg,
                size_t cap);

/* Totals over a set of torrents from one round of torrent.info. */
typedef struct dc_agg {
    double done, total, rate;
    int peers;
    size_t n, finished;
    char name[128]; /* the first torrent's name, cleaned */
} dc_agg;

/* One polling round: torrent.info for ids[0..n); objs[i] (n slots, NULL
 * or an older object) is replaced by the new object. Exit code; msg says
 * why on failure (a torrent in error counts as a failure). */
int dc_torrents_poll(rpc_client *c, char *const *ids, size_t n, cJSON **objs, dc_agg *a, char *msg, size_t cap);

/* A progress bar on standard error, drawn only when it is a terminal. */
typedef struct dc_progress {
    int on;
    size_t last;
} dc_progress;

void dc_progress_init(dc_progress *p);
void dc_progress_show(dc_progress *p, const dc_agg *a);
void dc_progress_clear(dc_progress *p);

#endif
