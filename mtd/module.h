/*
 * module.h - mtd's modules behind one table.
 *
 * A module owns an opaque state struct (defined in its own .c file) and
 * brings its RPC methods. The daemon core walks mtd_modules[]: open in
 * order (on failure the opened ones close in reverse), every session event
 * to each on_event, each tick once per loop turn, the loop's wait bounded
 * by the smallest next_timeout, close in reverse order at exit.
 *
 * Order, and so who may use whom (a module calls only the interfaces of
 * modules above it in the table, through their header; never their state):
 *
 *   torrents       torrents.h  the session's torrents: add, restore, resume
 *                              data, retired index torrents; torrent.*
 *   publishing     publish.h   our feeds: sign, put, republish; feed.list
 *   blobs          blobs.h     blob store, mt-wire, ingest, fetches; blob.*
 *                              (publishes ingested files through publish.h)
 *   subscriptions  subs.h      followed feeds, pushes, lookups; sub.*,
 *                              resolve, push (fetches FileEntry items
 *                              through blobs.h)
 *   core           -           status, shutdown, events.subscribe, and
 *                              feed.publish (with files to blobs, else to
 *                              publishing)
 */
#ifndef MTD_MODULE_H
#define MTD_MODULE_H

#include "daemon.h"

typedef struct mtd_module {
    const char *name;
    /* Set *state (it may be set before open returns, so that the module's
     * own interface works during its open). 0, or an MT_E* code with err. */
    int  (*open)(mtd_daemon *d, void **state, mt_error *err);
    void (*close)(mtd_daemon *d, void *state);
    void (*on_event)(mtd_daemon *d, void *state, const mt_event *ev);
    int  (*next_timeout)(mtd_daemon *d, void *state);   /* ms, or -1: none */
    void (*tick)(mtd_daemon *d, void *state);
    const mtd_rpc_method *methods;                       /* {NULL, NULL}-ended, or NULL */
} mtd_module;

extern const mtd_module mtd_mod_torrents, mtd_mod_publish, mtd_mod_blobs, mtd_mod_subs, mtd_mod_core;

/* The table, NULL-ended, in opening order. */
extern const mtd_module *const mtd_modules[];

/* m's state in d (NULL before its open and after its close). For the
 * module's own interface functions; other modules call those. */
void *mtd_module_state(mtd_daemon *d, const mtd_module *m);

/* Every module's methods in one {NULL, NULL}-ended table (free()), for the
 * RPC server. NULL with err on a duplicate name or out of memory. */
mtd_rpc_method *mtd_modules_methods(mt_error *err);

/* The walks of the table (module.c). */
int  mtd_modules_open(mtd_daemon *d, mt_error *err);
void mtd_modules_close(mtd_daemon *d);
void mtd_modules_event(mtd_daemon *d, const mt_event *ev);
void mtd_modules_tick(mtd_daemon *d);
int  mtd_modules_timeout(mtd_daemon *d);     /* smallest next_timeout, or -1 */

#endif
