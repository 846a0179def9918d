/*
 * client.c - mtctl: talking to a running mtd over its JSON-RPC socket
 * (doc/rpc.md): connect, call, wait for torrents with a progress bar.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "mtctl.h"
#include "rpc_client.h"

/* ============================================================ RPC access */

int dc_exit_for_rpc(int rc, int code)
{
    if (rc != -2)
        return EXIT_LOCAL; /* transport failure or no answer */
    if (code == -32602 || (code <= -32001 && code >= -32005))
        return EXIT_FAILED;
    return EXIT_LOCAL; /* protocol mismatch or the daemon's own failure */
}

int dc_call_msg(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result, char *msg,
                size_t cap)
{
    int code = 0, rc;
    char why[512] = "";
    *result = NULL;
    rc = rpc_call(c, method, params, timeout_ms, result, &code, NULL, why, sizeof why);
    if (rc == 0) {
        if (!*result)
            *result = cJSON_CreateObject();
        return *result ? EXIT_OK : EXIT_LOCAL;
    }
    if (rc == -2 && code == -32601)
        snprintf(msg, cap, "mtd does not know the method '%s' (is it an older version?)", method);
    else
        snprintf(msg, cap, "%s", why[0] ? why : "no answer from mtd");
    return dc_exit_for_rpc(rc, code);
}

/* Find the socket and connect; exit code, with msg on failure. */
int dc_connect_msg(const char *opt, rpc_client **c, char *msg, size_t cap)
{
    char path[4096], why[512];
    *c = NULL;
    if (rpc_socket_path(opt, path, sizeof path) != 0) {
        snprintf(msg, cap, "no socket path: give --socket PATH or set MT_SOCKET");
        return EXIT_USAGE;
    }
    if (rpc_connect(path, c, why, sizeof why) != 0) {
        snprintf(msg, cap, "cannot connect to mtd at %s (is it running? start it with `mtd` or set MT_SOCKET)",
                 path);
        return EXIT_LOCAL;
    }
    return EXIT_OK;
}

/* Connect, printing the error. */
int dc_connect(const char *opt, rpc_client **c)
{
    char msg[4600];
    int rc = dc_connect_msg(opt, c, msg, sizeof msg);
    return rc ? fail(rc, "%s", msg) : EXIT_OK;
}

/* Call and print the error. */
int dc_call(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result)
{
    char msg[1024];
    int rc = dc_call_msg(c, method, params, timeout_ms, result, msg, sizeof msg);
    return rc ? fail(rc, "%s", msg) : EXIT_OK;
}

/* Connect, call once, close. */
int dc_call_once(const char *sock, const char *method, cJSON *params, int timeout_ms, cJSON **result)
{
    rpc_client *c = NULL;
    int rc = dc_connect(sock, &c);
    if (rc) {
        cJSON_Delete(params);
        return rc;
    }
    rc = dc_call(c, method, params, timeout_ms, result);
    rpc_close(c);
    return rc;
}

/* ========================================================== progress bar */

void dc_progress_show(progress *p, const dc_agg *a)
{
    char peers[32], label[128];
    snprintf(peers, sizeof peers, "%d peer%s", a->peers, a->peers == 1 ? "" : "s");
    if (a->n == 1)
        snprintf(label, sizeof label, "%s", a->name);
    else
        snprintf(label, sizeof label, "%zu/%zu done", a->finished, a->n);
    progress_show(p, a->done, a->total > 0 ? a->total : -1, a->rate, peers, label);
}

int dc_add_save_path(cJSON *p, const char *dir)
{
    char abs[PATH_MAX];
    if (absolute_path(dir, abs, sizeof abs) != 0)
        return fail(EXIT_USAGE, "--save-path: path too long or no current directory");
    cJSON_AddStringToObject(p, "save_path", abs);
    return EXIT_OK;
}

/* ====================================================== torrent polling */

int dc_torrents_poll(rpc_client *c, char *const *ids, size_t n, cJSON **objs, dc_agg *a, char *msg, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateObject(), *t = NULL;
        const char *state, *err;
        int rc;
        cJSON_AddStringToObject(p, "id", ids[i]);
        if ((rc = dc_call_msg(c, "torrent.info", p, DC_CALL_TIMEOUT_MS, &t, msg, cap)) != EXIT_OK)
            return rc;
        cJSON_Delete(objs[i]);
        objs[i] = t;
        state = dc_str(t, "state");
        err = dc_str(t, "error");
        if (err[0]) {
            char name[128];
            clean_text(dc_str(t, "name"), name, sizeof name);
            snprintf(msg, cap, "torrent %.12s (%s): %s", ids[i], name, err);
            return EXIT_FAILED;
        }
        if (!strcmp(state, "finished") || !strcmp(state, "seeding"))
            a->finished++;
        a->done += dc_num(t, "total_done", 0);
        a->total += dc_num(t, "total_wanted", 0);
        a->rate += dc_num(t, "download_rate", 0);
        a->peers += (int)dc_num(t, "peers", 0);
        if (i == 0)
            clean_text(dc_str(t, "name"), a->name, sizeof a->name);
    }
    return EXIT_OK;
}

/*
 * Wait until every torrent in ids is finished or seeding (deadline: an
 * mt_now_ms() value, 0 for none), with a progress bar on a terminal.
 * Events that arrive meanwhile are dropped. objs gets the last objects.
 */
int dc_wait_torrents(rpc_client *c, char *const *ids, size_t n, cJSON **objs, int64_t deadline)
{
    progress bar;
    dc_agg a;
    char msg[1024];
    int rc;
    progress_init(&bar, 0);
    for (;;) {
        int64_t next = mt_now_ms() + DC_POLL_MS;
        if ((rc = dc_torrents_poll(c, ids, n, objs, &a, msg, sizeof msg)) != EXIT_OK) {
            progress_clear(&bar);
            return fail(rc, "%s", msg);
        }
        dc_progress_show(&bar, &a);
        if (a.finished == n)
            break;
        if (deadline && mt_now_ms() >= deadline) {
            progress_clear(&bar);
            return fail(EXIT_FAILED, "timed out: %zu of %zu torrent%s finished", a.finished, n, n == 1 ? "" : "s");
        }
        /* Sleep by waiting for events, so a listener's queue stays short. */
        for (int64_t now = mt_now_ms(); now < next; now = mt_now_ms()) {
            cJSON *ev = NULL;
            if (rpc_next_event(c, (int)(next - now), &ev, msg, sizeof msg) < 0) {
                progress_clear(&bar);
                return fail(EXIT_LOCAL, "lost the connection to mtd: %s", msg);
            }
            cJSON_Delete(ev);
        }
    }
    progress_clear(&bar);
    return EXIT_OK;
}
