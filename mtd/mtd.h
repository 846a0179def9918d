/* mtd.h - shared declarations of the mtd daemon. */
#ifndef MTD_H
#define MTD_H

#include <stddef.h>
#include <stdint.h>

/* ---- configuration (config.c) ----------------------------------------- */

#define MTD_PATH_MAX 1024

typedef enum mtd_log_level {
    MTD_LOG_ERROR = 0,
    MTD_LOG_WARN,
    MTD_LOG_INFO,
    MTD_LOG_DEBUG
} mtd_log_level;

/*
 * Everything mtd can be told, with its defaults from mtd_config_init().
 * Config file keys have the same names (see mtd.conf(5)); command-line
 * options override the file.
 */
typedef struct mtd_config {
    char state_dir[MTD_PATH_MAX];     /* state_dir: ~/.local/state/megatorrent */
    char socket[MTD_PATH_MAX];        /* socket: <state_dir>/mtd.sock */
    char listen[256];                 /* listen: "0.0.0.0:6881" */
    char bootstrap[4096];             /* bootstrap: comma list of host:port */
    int  has_bootstrap;               /* 0: Mainline routers */
    char key[MTD_PATH_MAX];           /* key: <state_dir>/key.json (made if absent) */
    char download_dir[MTD_PATH_MAX];  /* download_dir: <state_dir>/downloads */
    int  poll_interval;               /* poll_interval: 300 s, jittered ±20% */
    int  dht_budget;                  /* dht_budget: 60 feed lookups per minute */
    int  republish_interval;          /* republish_interval: 3000 s (50 min) */
    int  republish_budget;            /* republish_budget: 30 subscriber re-puts per hour */
    int  max_manifest;                /* max_manifest: 16 MiB */
    int  resolve_timeout;             /* resolve_timeout: 120 s per feed lookup */
    char on_item[MTD_PATH_MAX];       /* on_item: command run per new item ("" = none) */
    char on_finished[MTD_PATH_MAX];   /* on_finished: command run per finished torrent */
    char export_dir[MTD_PATH_MAX];    /* export_dir: write new items there ("" = off) */
    int  export_torrent;              /* export_format: magnet (0) | torrent (1) */
    int  loopback;                    /* loopback: 1 = engine settings for 127.x networks */
    char blob_dir[MTD_PATH_MAX];      /* blob_dir: <state_dir>/blobs */
    int  blob_cache_mb;               /* blob_cache_mb: 10240 MiB cap on unpinned blobs (0 = none) */
    char wire_listen[256];            /* wire_listen: mt-wire server "addr:port" ("" = off) */
    int  wire_announce_rate;          /* wire_announce_rate: 60 blob announces per minute */
    int  push;                        /* push: 1 = lt_megatorrent push updates between peers */
    int  push_fanout;                 /* push_fanout: forward a push to 8 random peers (0 = all) */
    int  push_feed_rate;              /* push_feed_rate: forwards per feed per minute, 30 (burst 5) */
    int  encrypt_links;               /* encrypt_links: off (0) | prefer (1, default) | require (2) */
    mtd_log_level log_level;          /* log_level: info */
    int  log_syslog;                  /* log: stderr (0) | syslog (1) */
    int  foreground;                  /* --foreground (no config key) */
    char config_path[MTD_PATH_MAX];   /* --config; "" = none */
} mtd_config;

/* Defaults (state_dir from $MT_STATE_DIR / XDG, derived paths filled by
 * mtd_config_finish). */
void mtd_config_init(mtd_config *cfg);

/* Read "key = value" lines ('#' comments) into cfg. -1 with msg naming
 * file:line on an unknown key or a bad value; cfg may be partly changed. */
int mtd_config_load(const char *path, mtd_config *cfg, char *msg, size_t cap);

/* Fill derived defaults (socket, key, download_dir under state_dir) that
 * are still empty. -1 with msg if a path is too long. */
int mtd_config_finish(mtd_config *cfg, char *msg, size_t cap);

/* ---- logging (log.c) ---------------------------------------------------- */

void mtd_log_setup(mtd_log_level level, int use_syslog);
void mtd_log(mtd_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define log_error(...) mtd_log(MTD_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  mtd_log(MTD_LOG_WARN, __VA_ARGS__)
#define log_info(...)  mtd_log(MTD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) mtd_log(MTD_LOG_DEBUG, __VA_ARGS__)

/* ---- the daemon (daemon.c) ---------------------------------------------- */

/*
 * Run the daemon until SIGTERM/SIGINT or the "shutdown" method: open the
 * state, start the session, restore torrents, serve. SIGHUP re-reads
 * cfg->config_path and applies what can change at runtime. Returns the
 * process exit status (0 clean, 1 runtime failure, 3 local setup failure).
 */
int mtd_run(mtd_config *cfg);

#endif
