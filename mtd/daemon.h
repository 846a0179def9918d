/* daemon.h - what every mtd module shares: the configuration, the session,
 * the state store, the RPC server, the identity and the paths. Each module
 * keeps its own state (module.h); one thread touches all of it. */
#ifndef MTD_DAEMON_H
#define MTD_DAEMON_H

#include <cJSON.h>
#include <stdint.h>

#include "mt_capi.h"
#include "mt_error.h"
#include "mt_identity.h"
#include "mt_loop.h"
#include "store.h"
#include "mtd.h"
#include "rpc.h"

#define MTD_MODULES_MAX 16

typedef struct mtd_daemon {
    mtd_config   *cfg;
    mt_store     *st;
    mt_session   *s;
    mtd_rpc      *rpc;
    mt_identity  *id;
    mt_loop      *loop;          /* the one event loop (daemon.c runs it) */
    char          index_dir[MTD_PATH_MAX + 16];
    char          seq_dir[MTD_PATH_MAX + 16];
    char          session_file[MTD_PATH_MAX + 16];
    int64_t       start_ms;
    int           quit;
    /* one per entry of mtd_modules[], reached through mtd_module_state() */
    void         *mod_state[MTD_MODULES_MAX];
} mtd_daemon;

/* ---- daemon.c: services of the core every module may use ---- */
void d_emit(mtd_daemon *d, cJSON *event);              /* broadcast (adds time_ms) */
cJSON *d_event(const char *type);                  /* new event object */
void d_run_hook(mtd_daemon *d, const char *cmd, const char *const *env);

#endif
