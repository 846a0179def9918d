/*
 * cmd_resolve.c - `mtctl resolve` without a daemon: look a feed up with a
 * session of our own (DHT get, index swarm, verification) and print the
 * same result document mtd's "resolve" method returns.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "mt_feedindex.h"
#include "mtctl.h"

/* Remove the temporary index directory tree (one level of ih dirs). */
static void remove_tree(const char *dir)
{
    char cmd[4200];
    /* Paths come from mkdtemp: no quoting surprises. */
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd && system(cmd) != 0) {
        /* best effort: a temp dir left behind is harmless */
    }
}

/* The result document: as JSON, or the way the daemon path prints it. */
static void print_resolved(cJSON *doc)
{
    if (g_out.json) {
        emit_json(doc);
        return;
    }
    dc_print_resolve_result(doc);
    cJSON_Delete(doc);
}

/* Drive the resolver until it ends or the deadline passes. */
static void run_until_done(mt_session *s, mt_resolve *r)
{
    mt_event ev;
    while (mt_resolve_get_state(r) == MT_RESOLVE_RUNNING) {
        struct pollfd pfd = { .fd = mt_session_fd(s), .events = POLLIN };
        int t = mt_session_next_timeout(s);
        poll(&pfd, 1, t >= 0 && t < 200 ? t : 200);
        memset(&ev, 0, sizeof ev);
        while (mt_session_next_event(s, &ev) == 1) {
            mt_resolve_event(r, &ev);
            mt_event_clear(&ev);
        }
        mt_resolve_tick(r);
    }
}

int resolve_local(int argc, char **argv)
{
    static const struct option opts[] = {
        { "timeout", required_argument, NULL, 't' },
        { "bootstrap", required_argument, NULL, 'b' },
        { "listen", required_argument, NULL, 'l' },
        { "socket", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    net_opts o;
    mt_resolve_params p;
    mt_session *s = NULL;
    mt_resolve *r = NULL;
    mt_error err;
    char dir[] = "/tmp/mtctl-resolve-XXXXXX";
    int c, rc;

    memset(&o, 0, sizeof o);
    o.timeout_ms = 60000;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 't': {
            long long v = parse_count(optarg, 3600);
            if (v <= 0)
                return fail(EXIT_USAGE, "--timeout: expected seconds from 1 to 3600");
            o.timeout_ms = (int)v * 1000;
            break;
        }
        case 'b':
            if (net_add_bootstrap(&o, optarg) != 0)
                return fail(EXIT_USAGE, "--bootstrap: expected HOST:PORT");
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 's':
            break;   /* no daemon answered there: that is why we are here */
        case 'h':
            printf("usage: mtctl resolve ADDRESS [--timeout S] [--bootstrap HOST:PORT] [--listen ADDR:PORT]\n");
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "usage: mtctl resolve ADDRESS");
    memset(&p, 0, sizeof p);
    if (mt_feedaddr_parse(argv[optind], &p.addr, &err) != 0)
        return fail(EXIT_USAGE, "address: %s", err.message);
    if (!mkdtemp(dir))
        return fail(EXIT_LOCAL, "cannot make a temporary directory");
    if ((rc = net_open(&o, &s)) != EXIT_OK) {
        remove_tree(dir);
        return rc;
    }
    p.index_dir = dir;
    p.timeout_ms = o.timeout_ms;
    if (mt_resolve_start(s, &p, &r, &err) != 0) {
        mt_session_free(s);
        remove_tree(dir);
        return fail(exit_for(err.code), "%s", err.message);
    }
    run_until_done(s, r);

    const mt_resolve_result *res = mt_resolve_get_result(r);
    if (res) {
        char addr[MT_FEEDADDR_STR_MAX], hex[41];
        cJSON *doc = cJSON_CreateObject();
        mt_feedaddr_format_magnet(&p.addr, addr, sizeof addr, NULL);
        cJSON_AddStringToObject(doc, "address", addr);
        cJSON_AddNumberToObject(doc, "seq", (double)res->seq);
        cJSON_AddStringToObject(doc, "mode", res->is_torrent ? "bep46" : res->is_inline ? "inline" : "pointer");
        if (res->is_inline) {
            cJSON_AddNullToObject(doc, "ih");
        } else {
            mt_hex_encode(res->ih, 20, hex);
            cJSON_AddStringToObject(doc, "ih", hex);
        }
        if (res->is_torrent) {
            cJSON_AddStringToObject(doc, "name", res->name);
            cJSON_AddNullToObject(doc, "manifest");
        } else {
            cJSON_AddItemToObject(doc, "manifest", cJSON_ParseWithLength(res->json, res->json_len));
        }
        print_resolved(doc);
        rc = EXIT_OK;
    } else {
        const char *why = "";
        int code = mt_resolve_error(r, &why);
        rc = fail(exit_for(code), "%s", why);
    }
    mt_resolve_free(r, 0);
    mt_session_free(s);
    remove_tree(dir);
    return rc;
}
