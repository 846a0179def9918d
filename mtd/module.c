/*
 * module.c - the module table and the daemon's walks over it: opening,
 * events, ticks, the loop's time-out, closing, and the RPC method table.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

const mtd_module *const mtd_modules[] = {
    &mtd_mod_torrents,
    &mtd_mod_publish,
    &mtd_mod_blobs,
    &mtd_mod_subs,
    &mtd_mod_core,
    NULL
};

static size_t n_modules(void)
{
    size_t n = 0;
    while (mtd_modules[n])
        n++;
    return n;
}

void *mtd_module_state(mtd_daemon *d, const mtd_module *m)
{
    for (size_t i = 0; mtd_modules[i]; i++)
        if (mtd_modules[i] == m)
            return d->mod_state[i];
    return NULL;
}

mtd_rpc_method *mtd_modules_methods(mt_error *err)
{
    size_t total = 0, k = 0;
    const mtd_rpc_method *m;
    mtd_rpc_method *all;

    for (size_t i = 0; mtd_modules[i]; i++)
        for (m = mtd_modules[i]->methods; m && m->name; m++)
            total++;
    if (!(all = calloc(total + 1, sizeof *all))) {
        mt_error_set(err, MT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; mtd_modules[i]; i++) {
        for (m = mtd_modules[i]->methods; m && m->name; m++) {
            for (size_t j = 0; j < k; j++) {
                if (strcmp(all[j].name, m->name) == 0) {
                    mt_error_set(err, MT_EEXIST, "method %s of module %s is already taken", m->name,
                                 mtd_modules[i]->name);
                    free(all);
                    return NULL;
                }
            }
            all[k++] = *m;
        }
    }
    return all;
}

int mtd_modules_open(mtd_daemon *d, mt_error *err)
{
    size_t n = n_modules();
    if (n > MTD_MODULES_MAX)
        return mt_error_set(err, MT_EINVAL, "%zu modules, room for %d", n, MTD_MODULES_MAX);
    for (size_t i = 0; i < n; i++) {
        const mtd_module *m = mtd_modules[i];
        int rc = m->open ? m->open(d, &d->mod_state[i], err) : 0;
        if (rc != 0) {
            /* What it set up before failing is its own to undo. */
            d->mod_state[i] = NULL;
            while (i-- > 0) {
                if (mtd_modules[i]->close)
                    mtd_modules[i]->close(d, d->mod_state[i]);
                d->mod_state[i] = NULL;
            }
            return rc;
        }
    }
    return 0;
}

void mtd_modules_close(mtd_daemon *d)
{
    for (size_t i = n_modules(); i-- > 0;) {
        if (mtd_modules[i]->close)
            mtd_modules[i]->close(d, d->mod_state[i]);
        d->mod_state[i] = NULL;
    }
}

void mtd_modules_event(mtd_daemon *d, const mt_event *ev)
{
    for (size_t i = 0; mtd_modules[i]; i++)
        if (mtd_modules[i]->on_event)
            mtd_modules[i]->on_event(d, d->mod_state[i], ev);
}

void mtd_modules_tick(mtd_daemon *d)
{
    for (size_t i = 0; mtd_modules[i]; i++)
        if (mtd_modules[i]->tick)
            mtd_modules[i]->tick(d, d->mod_state[i]);
}

int mtd_modules_timeout(mtd_daemon *d)
{
    int t = -1;
    for (size_t i = 0; mtd_modules[i]; i++) {
        int mt = mtd_modules[i]->next_timeout ? mtd_modules[i]->next_timeout(d, d->mod_state[i]) : -1;
        if (mt >= 0 && (t < 0 || mt < t))
            t = mt;
    }
    return t;
}
