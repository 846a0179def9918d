/*
 * cmd_status.c - mtctl status, watch and shutdown: the daemon itself.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "mtctl.h"

/* ================================================== status and shutdown */

static int run_status(const dctx *x)
{
    cJSON *r = NULL;
    int rc = dc_call_once(x->o.socket, "status", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    return dc_show_result(r, NULL);
}

static int run_shutdown(const dctx *x)
{
    cJSON *r = NULL;
    int rc = dc_call_once(x->o.socket, "shutdown", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    if (g_out.json)
        emit_json(r);
    else {
        printf("mtd is shutting down\n");
        cJSON_Delete(r);
    }
    return EXIT_OK;
}

/* =============================================================== watch */

static volatile sig_atomic_t watch_stop;

static void watch_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* " key=value" for one event member (quoted when it has spaces). */
static void print_member(const cJSON *m)
{
    char val[1024];
    if (cJSON_IsString(m)) {
        clean_text(m->valuestring, val, sizeof val);
        if (!val[0] || strpbrk(val, " \"="))
            printf(" %s=\"%s\"", m->string, val);
        else
            printf(" %s=%s", m->string, val);
        return;
    }
    if (cJSON_IsNumber(m))
        dc_format_number(m->valuedouble, val, sizeof val);
    else {
        char *s = cJSON_PrintUnformatted(m);
        clean_text(s ? s : "?", val, sizeof val);
        free(s);
    }
    printf(" %s=%s", m->string, val);
}

/* "22:13:20 item.added subscription=1 name=..." */
static void print_event(const cJSON *ev)
{
    char when[16] = "--:--:--", type[64];
    double ms = dc_num(ev, "time_ms", 0);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    const cJSON *m;
    if (ms > 0 && localtime_r(&t, &tm))
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    clean_text(dc_str(ev, "type"), type, sizeof type);
    printf("%s %s", when, type[0] ? type : "?");
    cJSON_ArrayForEach(m, ev)
        if (m->string && strcmp(m->string, "type") && strcmp(m->string, "time_ms"))
            print_member(m);
    printf("\n");
}

static int run_watch(const dctx *x)
{
    struct sigaction sa;
    rpc_client *c = NULL;
    cJSON *r = NULL;
    char msg[512];
    int rc;

    if ((rc = dc_connect(x->o.socket, &c)) != EXIT_OK)
        return rc;
    if ((rc = dc_call(c, "events.subscribe", NULL, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK) {
        rpc_close(c);
        return rc;
    }
    cJSON_Delete(r);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watch_signal; /* no SA_RESTART: let the wait end */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (isatty(STDERR_FILENO) && !g_out.json)
        fprintf(stderr, "watching mtd's events (Ctrl-C stops)\n");
    while (!watch_stop) {
        cJSON *ev = NULL;
        int got = rpc_next_event(c, 1000, &ev, msg, sizeof msg);
        if (got < 0) {
            rc = watch_stop ? EXIT_OK : fail(EXIT_FAILED, "mtd went away: %s", msg);
            break;
        }
        if (got == 0)
            continue;
        if (g_out.json) { /* one compact object per line: the stream exception */
            char *s = cJSON_PrintUnformatted(ev);
            if (s)
                printf("%s\n", s);
            free(s);
        } else {
            print_event(ev);
        }
        fflush(stdout);
        cJSON_Delete(ev);
    }
    rpc_close(c);
    return rc;
}

/* ============================================================ entries */

static const char status_usage[] =
    "usage: mtctl status [--socket PATH] [--json]\n"
    "\n"
    "Show the daemon's state as key: value lines: version, pid, uptime, state\n"
    "directory, listen address, DHT nodes, counts of torrents, subscriptions\n"
    "and feeds, transfer rates, push and encrypted-link counters and its\n"
    "public key. --json prints mtd's result object.\n" DC_SOCK_HELP;

int cmd_status(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, status_usage, run_status);
}

static const char watch_usage[] =
    "usage: mtctl watch [--socket PATH] [--json]\n"
    "\n"
    "Print mtd's events as they happen, one line each: local time, type and\n"
    "members (item.added, feed.checked, torrent.finished, ...), until Ctrl-C\n"
    "(exit 0) or until mtd goes away (exit 1). With --json every event is one\n"
    "compact JSON object per line: the one exception to \"one JSON document\".\n" DC_SOCK_HELP;

int cmd_watch(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, watch_usage, run_watch);
}

static const char shutdown_usage[] =
    "usage: mtctl shutdown [--socket PATH] [--json]\n"
    "\n"
    "Ask mtd to save its state and exit.\n" DC_SOCK_HELP;

int cmd_shutdown(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, shutdown_usage, run_shutdown);
}
