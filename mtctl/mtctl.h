/* mtctl.h - shared declarations of the mtctl command-line tool. */
#ifndef MTCTL_H
#define MTCTL_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "mt_capi.h"
#include "mt_identity.h"
#include "mt_util.h"

/* Exit codes (documented in mtctl(1)). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,  /* the operation ran and failed: not found, stale, timed out, refused */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_LOCAL = 3    /* local problem: files, keys, permissions, engine start */
};

/* Options every network command accepts. */
typedef struct net_opts {
    char  bootstrap[4096];  /* comma list accumulated from --bootstrap */
    const char *listen;     /* --listen, or NULL for the default */
    int   timeout_ms;       /* --timeout */
} net_opts;

/*
 * The one output context. json is set by --json, before the command (main)
 * or among its options (OPT_JSON); everything that prints asks it.
 */
typedef struct mtctl_out {
    int json;           /* one JSON document on stdout, errors included */
    const char *prog;   /* "mtctl", the prefix of messages on stderr */
} mtctl_out;

extern mtctl_out g_out;

/* --json in a command's getopt_long table: sets g_out.json, returns 0. */
#define OPT_JSON {"json", no_argument, &g_out.json, 1}

/* ---- out.c: results, errors, the progress bar ---- */

/* Print an error (stderr, or a JSON error document on stdout with --json)
 * and return exit_code. */
int fail(int exit_code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Map an MT_E* code to an exit code. */
int exit_for(int mt_code);

/* Print a cJSON document (takes ownership). */
void emit_json(cJSON *doc);

/* "3.0 MiB" / "1.2 MiB/s" into buf. */
void human_bytes(double n, char *buf, size_t cap);
void human_rate(double bytes_per_s, char *buf, size_t cap);

/* Copy untrusted text with control bytes shown as '?', cut on a UTF-8
 * character boundary to fit cap. */
void clean_text(const char *in, char *out, size_t cap);

/* A one-line progress bar on standard error, drawn only on a terminal. */
typedef struct progress {
    int on;                  /* standard error is a terminal; 0 draws nothing */
    size_t last;             /* width drawn, to blank it */
    int delay_ms;            /* no bar for work done sooner than this */
    int64_t t0, last_draw, rate_t;
    double rate_done, rate;  /* the measured rate (progress_show with rate < 0) */
    int started;
} progress;

void progress_init(progress *p, int delay_ms);

/* "[####....]  42.0%  DONE / TOTAL  RATE  EXTRA  LABEL". rate < 0: measure
 * it here; total < 0: not known yet ("fetching metadata"). */
void progress_show(progress *p, double done, double total, double rate, const char *extra, const char *label);
void progress_clear(progress *p);

/* ---- net.c: one-shot network sessions ---- */

/* Append one --bootstrap argument (HOST:PORT or a comma list). 0 or -1. */
int net_add_bootstrap(net_opts *o, const char *arg);

/*
 * Open a session for a one-shot network command and wait until its routing
 * table holds a node. Returns 0, or an exit code after printing the error.
 */
int net_open(const net_opts *o, mt_session **out);

/* 1 if every HOST in a comma list of HOST:PORT is in 127.0.0.0/8. */
int net_all_loopback(const char *list);

/* ---- opt.c: option values ---- */

/* Parse a non-negative integer option value; -1 if invalid. */
long long parse_count(const char *s, long long max);

/* ---- keys.c: where keys and state live, passphrases ---- */

/* $MT_KEY, else $XDG_CONFIG_HOME/megatorrent/key.json or
 * ~/.config/megatorrent/key.json. 0 or -1 (no HOME, too long). */
int default_key_path(char *buf, size_t cap);

/* $MT_STATE_DIR, else $XDG_STATE_HOME/megatorrent or
 * ~/.local/state/megatorrent. 0 or -1. */
int default_state_dir(char *buf, size_t cap);

/* mkdir -p dir (new levels get mode); 0 or -1 (errno). */
int make_dirs(const char *dir, unsigned mode);

/* mkdir -p of the directory part of file (new levels get mode); 0 or -1. */
int make_parent_dirs(const char *file, unsigned mode);

/* in made absolute against the current directory (mtd runs elsewhere,
 * so every path handed to it must be). 0 or -1 (too long, no cwd). */
int absolute_path(const char *in, char *out, size_t cap);

/*
 * A passphrase from --passphrase-file FILE (first line), else MT_PASSPHRASE,
 * else asked on the terminal (twice if confirm). *out is sodium_malloc'd:
 * release with passphrase_free(). Returns EXIT_OK or fail()'s exit code.
 */
int get_passphrase(const char *file, int confirm, const char *what, char **out, size_t *len);
void passphrase_free(char *pass);

/* Load path (NULL: the default key), asking for a passphrase if the file is
 * protected. Returns EXIT_OK or fail()'s exit code. */
int load_identity(const char *path, const char *passfile, mt_identity **out);

/* mt_file_read, with "-" meaning standard input. */
int read_input(const char *path, size_t max, char **out, size_t *len, mt_error *err);

/* 64 hex digits into key, or fail(EXIT_USAGE). */
int parse_read_key(const char *hex, uint8_t key[32]);

/* ---- the commands (main.c's table): argv[0] is the command's own word,
 * optind is reset to 0, libsodium is started ---- */

int cmd_testnet(int argc, char **argv);
int cmd_demo(int argc, char **argv);          /* cmd_demo.c: a tour on a loopback network */

/* cmd_key.c: key generate|show|import */
extern const char key_usage[];
int cmd_key_generate(int argc, char **argv);
int cmd_key_show(int argc, char **argv);
int cmd_key_import(int argc, char **argv);

/* cmd_manifest.c: manifest create|verify|show|diff */
extern const char manifest_usage[];
int cmd_manifest_create(int argc, char **argv);
int cmd_manifest_verify(int argc, char **argv);
int cmd_manifest_show(int argc, char **argv);
int cmd_manifest_diff(int argc, char **argv);

/* cmd_dht.c: dht put|get|announce|peers */
extern const char dht_usage[];
int cmd_dht_put(int argc, char **argv);
int cmd_dht_get(int argc, char **argv);
int cmd_dht_announce(int argc, char **argv);
int cmd_dht_peers(int argc, char **argv);

/* cmd_blob.c: blob ingest|reassemble|fetch|store, wire serve|get */
extern const char blob_usage[], wire_usage[];
int cmd_blob_ingest(int argc, char **argv);
int cmd_blob_reassemble(int argc, char **argv);
int cmd_blob_fetch(int argc, char **argv);
int cmd_blob_store(int argc, char **argv);
int cmd_wire_serve(int argc, char **argv);
int cmd_wire_get(int argc, char **argv);

/* Talking to mtd (client.h): cmd_status.c, cmd_torrent.c, cmd_publish.c,
 * cmd_subscribe.c. */
int cmd_status(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_add(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_files(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_feeds(int argc, char **argv);
int cmd_subscribe(int argc, char **argv);
int cmd_subscriptions(int argc, char **argv);
int cmd_unsubscribe(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_resolve(int argc, char **argv);

#endif
