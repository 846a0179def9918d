/*
 * cmd_daemon.h - mtctl commands that talk to a running mtd over its
 * JSON-RPC socket (doc/rpc.md), the demo, and the helpers they share.
 */
#ifndef MTCTL_CMD_DAEMON_H
#define MTCTL_CMD_DAEMON_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "mtctl.h"
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

/* The bar for a set of torrents: "N peers", and the name or "K/N done". */
void dc_progress_show(progress *p, const dc_agg *a);

#endif
