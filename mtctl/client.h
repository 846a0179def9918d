/*
 * client.h - what the mtctl commands that talk to a running mtd share
 * (doc/rpc.md): RPC calls (client.c), their options (opt.c) and the
 * readable form of mtd's results (format.c). The commands themselves are
 * in cmd_status.c, cmd_torrent.c, cmd_publish.c and cmd_subscribe.c; the
 * demo (cmd_demo.c) and blob fetch/store (cmd_blob.c) use the helpers too.
 */
#ifndef MTCTL_CLIENT_H
#define MTCTL_CLIENT_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "mtctl.h"
#include "rpc_client.h"

#define DC_CALL_TIMEOUT_MS 30000      /* ordinary requests */
#define DC_PUBLISH_TIMEOUT_MS 120000  /* feed.publish waits for the DHT put */
#define DC_INGEST_TIMEOUT_MS 3600000  /* ... and for mtd to encrypt the files given */
#define DC_POLL_MS 500                /* torrent.info polling period */
#define RPC_LINE_BUDGET (1000u * 1024) /* mtd takes request lines up to 1 MiB */

/* ================================================== options (opt.c) */

#define WS_MAX 32   /* --ws, --blob-ws options */
#define BOOT_MAX 16 /* resolve --bootstrap options */

/* The daemon commands' options by index; a command lists the ones it
 * takes as a bit set. */
enum {
    I_SOCKET, I_JSON, I_HELP, I_SAVE, I_PAUSED, I_CATEGORY, I_WAIT, I_DELETE, I_FEED, I_TITLE, I_WS,
    I_INLINE, I_REPLACE, I_INPUT, I_MANIFEST, I_INTERVAL, I_INCLUDE, I_EXCLUDE, I_MAX_ITEMS, I_TIMEOUT,
    I_BOOTSTRAP, I_LISTEN, I_READ_KEY, I_BLOB_WS, I_COUNT
};
#define BIT(i) (1u << (i))
#define O_SOCKET BIT(I_SOCKET)
#define O_JSON BIT(I_JSON)
#define O_HELP BIT(I_HELP)
#define O_SAVE BIT(I_SAVE)
#define O_PAUSED BIT(I_PAUSED)
#define O_CATEGORY BIT(I_CATEGORY)
#define O_WAIT BIT(I_WAIT)
#define O_DELETE BIT(I_DELETE)
#define O_FEED BIT(I_FEED)
#define O_TITLE BIT(I_TITLE)
#define O_WS BIT(I_WS)
#define O_INLINE BIT(I_INLINE)
#define O_REPLACE BIT(I_REPLACE)
#define O_INPUT BIT(I_INPUT)
#define O_MANIFEST BIT(I_MANIFEST)
#define O_INTERVAL BIT(I_INTERVAL)
#define O_INCLUDE BIT(I_INCLUDE)
#define O_EXCLUDE BIT(I_EXCLUDE)
#define O_MAX_ITEMS BIT(I_MAX_ITEMS)
#define O_TIMEOUT BIT(I_TIMEOUT)
#define O_BOOTSTRAP BIT(I_BOOTSTRAP)
#define O_LISTEN BIT(I_LISTEN)
#define O_READ_KEY BIT(I_READ_KEY)
#define O_BLOB_WS BIT(I_BLOB_WS)
#define O_BASE (O_SOCKET | O_JSON | O_HELP)

typedef struct dopts {
    const char *socket, *save_path, *category, *feed, *title, *input, *manifest, *include, *exclude;
    const char *ws[WS_MAX], *bootstrap[BOOT_MAX], *listen, *read_key, *blob_ws[WS_MAX];
    size_t n_ws, n_boot, n_blob_ws;
    int paused, wait, delete_files, inline_put, replace;
    long long interval, max_items, timeout; /* -1: not given */
} dopts;

/* What a command's run function gets. */
typedef struct dctx {
    dopts o;
    int argc;          /* positional arguments */
    char **argv;
    int full_argc;     /* the command line as the command got it */
    char **full_argv;
} dctx;

/* The end of every daemon command's --help. */
#define DC_SOCK_HELP "  --socket PATH  mtd's socket (default $MT_SOCKET, else $STATE_DIR/mtd.sock)\n"

/*
 * Run a daemon command: parse the options it allows (argv[0] is its
 * name), check it got min..max arguments, then run(). --help prints usage.
 * Returns the exit code.
 */
int dc_main(int argc, char **argv, unsigned allowed, int min_args, int max_args, const char *usage,
            int (*run)(const dctx *x));

/* ================================================== RPC access (client.c) */

/* Exit code for rpc_call's return value and JSON-RPC error code. */
int dc_exit_for_rpc(int rc, int code);

/* rpc_call with the result defaulting to {}; returns an exit code, and on
 * failure msg (never printed here). */
int dc_call_msg(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result, char *msg,
                size_t cap);

/* Find the socket (--socket, else MT_SOCKET, else the default) and
 * connect; exit code, with msg on failure. */
int dc_connect_msg(const char *opt, rpc_client **c, char *msg, size_t cap);

/* dc_connect_msg and dc_call_msg that print the error. */
int dc_connect(const char *opt, rpc_client **c);
int dc_call(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result);

/* Connect, call once, close; takes params. */
int dc_call_once(const char *sock, const char *method, cJSON *params, int timeout_ms, cJSON **result);

/* dir made absolute (mtd runs elsewhere) into p["save_path"]. */
int dc_add_save_path(cJSON *p, const char *dir);

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

/*
 * Wait until every torrent in ids is finished or seeding (deadline: an
 * mt_now_ms() value, 0 for none), with a progress bar on a terminal.
 * Events that arrive meanwhile are dropped. objs gets the last objects.
 */
int dc_wait_torrents(rpc_client *c, char *const *ids, size_t n, cJSON **objs, int64_t deadline);

/* ================================================== results (format.c) */

/* Members of a result object: "" / def / 0 when absent or of another type. */
const char *dc_str(const cJSON *o, const char *key);
double dc_num(const cJSON *o, const char *key, double def);
int dc_bool(const cJSON *o, const char *key);

/* "magnet:?xs=urn:btpk:0123...89abcdef" when longer than max (ASCII input). */
void dc_shorten(const char *in, char *out, size_t cap, size_t max);

/* "12s ago", "5m ago", "in 3h"; "never" for 0. t_ms is wall time. */
void dc_format_age(double t_ms, char *buf, size_t cap);

/* A number as an integer when it is one (cJSON numbers are doubles). */
void dc_format_number(double v, char *buf, size_t cap);

/* "key:  value" lines for keys (NULL-terminated), or every member. */
void dc_print_kv(const cJSON *obj, const char *const *keys);

/* A result for people (dc_print_kv) or, with --json, as it came. Takes
 * ownership of r; returns EXIT_OK. */
int dc_show_result(cJSON *r, const char *const *keys);

/* Print a resolve result document ({address, seq, mode, ih, manifest})
 * readably: key: value lines, then each collection and its items. */
void dc_print_resolve_result(const cJSON *doc);

/* A table built row by row, printed with columns as wide as their cells. */
#define TABLE_COLS 8
typedef struct table {
    size_t ncols, nrows, cap;
    const char *align; /* 'l' or 'r' per column */
    char **cells;      /* nrows * ncols, row 0 the header */
} table;

/* Start a table with its header row; add rows of ncols strings (copied,
 * cleaned). 0 or -1 (out of memory). */
int table_init(table *t, size_t ncols, const char *align, const char *const *header);
int table_add(table *t, const char *const *row);
void table_print(const table *t);
void table_free(table *t);

/* ================================================== elsewhere */

/* mtctl resolve without a daemon (cmd_resolve.c); called with argv
 * {"resolve", [--timeout S], [--bootstrap H:P]..., [--listen A:P], ADDRESS},
 * options first, optind reset to 0. */
int resolve_local(int argc, char **argv);

#endif
