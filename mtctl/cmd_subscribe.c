/*
 * cmd_subscribe.c - mtctl subscribe, subscriptions, unsubscribe, sync and
 * resolve: the feeds a running mtd follows, and one-off lookups.
 */
#define _POSIX_C_SOURCE 200809L
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt_feedaddr.h"
#include "mt_json.h"

#include "client.h"
#include "mtctl.h"

#define SYNC_TIMEOUT_S 600

/* ======================================================= subscriptions */

/* A feed address the library can parse, else a usage error. */
static int check_address(const char *a)
{
    mt_feedaddr fa;
    mt_error err;
    if (mt_feedaddr_parse(a, &fa, &err) != 0)
        return fail(EXIT_USAGE, "'%s' is not a feed address: %s", a, err.message);
    return EXIT_OK;
}

/* A POSIX ERE the daemon will accept (it compiles them the same way). */
static int check_regex(const char *what, const char *re)
{
    regex_t rx;
    char why[256];
    int e = regcomp(&rx, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (e != 0) {
        regerror(e, &rx, why, sizeof why);
        return fail(EXIT_USAGE, "%s '%s': %s", what, re, why);
    }
    regfree(&rx);
    return EXIT_OK;
}

/* A subscription named by number goes as a number, an address as text. */
static void add_sub_id(cJSON *p, const char *arg)
{
    long long n = parse_count(arg, MT_JSON_SAFE_INT);
    if (n >= 0)
        cJSON_AddNumberToObject(p, "id", (double)n);
    else
        cJSON_AddStringToObject(p, "id", arg);
}

static int subscribe_params(const dctx *x, cJSON *p)
{
    const dopts *o = &x->o;
    int rc;
    if ((rc = check_address(x->argv[0])) != EXIT_OK ||
        (o->include && (rc = check_regex("--include", o->include)) != EXIT_OK) ||
        (o->exclude && (rc = check_regex("--exclude", o->exclude)) != EXIT_OK) ||
        (o->save_path && (rc = dc_add_save_path(p, o->save_path)) != EXIT_OK))
        return rc;
    cJSON_AddStringToObject(p, "address", x->argv[0]);
    if (o->include)
        cJSON_AddStringToObject(p, "include", o->include);
    if (o->exclude)
        cJSON_AddStringToObject(p, "exclude", o->exclude);
    if (o->category)
        cJSON_AddStringToObject(p, "category", o->category);
    if (o->paused)
        cJSON_AddBoolToObject(p, "paused", 1);
    if (o->max_items >= 0)
        cJSON_AddNumberToObject(p, "max_items", (double)o->max_items);
    if (o->interval >= 0)
        cJSON_AddNumberToObject(p, "interval", (double)o->interval);
    return EXIT_OK;
}

static int run_subscribe(const dctx *x)
{
    static const char *const keys[] = {"id", "address", NULL};
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc = subscribe_params(x, p);
    if (rc) {
        cJSON_Delete(p);
        return rc;
    }
    if ((rc = dc_call_once(x->o.socket, "sub.add", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    return dc_show_result(r, keys);
}

static int run_subscriptions(const dctx *x)
{
    static const char *const head[] = {"ID", "SEQ", "ITEMS", "LAST-POLL", "ERROR", "ADDRESS"};
    cJSON *r = NULL, *s;
    table tb;
    int tty = isatty(STDOUT_FILENO);
    int rc = dc_call_once(x->o.socket, "sub.list", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    if (table_init(&tb, 6, "rrrlll", head) != 0)
        rc = fail(EXIT_LOCAL, "out of memory");
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "subscriptions")) {
        char id[24], seq[24], items[24], poll[48], addr[MT_FEEDADDR_STR_MAX + 16];
        const char *err = dc_str(s, "last_error");
        const char *row[] = {id, seq, items, poll, err[0] ? err : "-", addr};
        dc_format_number(dc_num(s, "id", 0), id, sizeof id);
        if (dc_num(s, "seq", 0) > 0)
            dc_format_number(dc_num(s, "seq", 0), seq, sizeof seq);
        else
            snprintf(seq, sizeof seq, "-");
        dc_format_number(dc_num(s, "items", 0), items, sizeof items);
        dc_format_age(dc_num(s, "last_poll_ms", 0), poll, sizeof poll);
        /* Full addresses for pipes (they get copied); short on a screen. */
        if (tty)
            dc_shorten(dc_str(s, "address"), addr, sizeof addr, 44);
        else
            clean_text(dc_str(s, "address"), addr, sizeof addr);
        if (rc == EXIT_OK && table_add(&tb, row) != 0)
            rc = fail(EXIT_LOCAL, "out of memory");
    }
    if (rc == EXIT_OK)
        table_print(&tb);
    table_free(&tb);
    cJSON_Delete(r);
    return rc;
}

static int run_unsubscribe(const dctx *x)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc;
    add_sub_id(p, x->argv[0]);
    if ((rc = dc_call_once(x->o.socket, "sub.remove", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    if (g_out.json)
        emit_json(r);
    else {
        char what[MT_FEEDADDR_STR_MAX];
        clean_text(x->argv[0], what, sizeof what);
        printf("unsubscribed %s (its torrents stay)\n", what);
        cJSON_Delete(r);
    }
    return EXIT_OK;
}

/* ================================================================ sync */

/* What sync --wait has seen so far. */
typedef struct sync_state {
    double target;          /* subscription id to wait for; -1: all */
    long started;           /* polls the daemon started */
    double *checked;        /* distinct subscriptions that reported */
    size_t n_checked;
    char **ids;             /* torrents from item.added */
    size_t n_ids;
    int errors;
    cJSON *jchecked, *jitems; /* events, for --json */
} sync_state;

static void sync_state_free(sync_state *s)
{
    free(s->checked);
    for (size_t i = 0; i < s->n_ids; i++)
        free(s->ids[i]);
    free(s->ids);
    cJSON_Delete(s->jchecked);
    cJSON_Delete(s->jitems);
}

/* Note a feed.checked; 1 if it was the first from its subscription. */
static int sync_note_checked(sync_state *s, double sub)
{
    for (size_t i = 0; i < s->n_checked; i++)
        if (s->checked[i] == sub)
            return 0;
    double *g = realloc(s->checked, (s->n_checked + 1) * sizeof *g);
    if (!g)
        return 0;
    s->checked = g;
    s->checked[s->n_checked++] = sub;
    return 1;
}

/* Collect a torrent id (once). */
static void sync_note_torrent(sync_state *s, const char *id)
{
    for (size_t i = 0; i < s->n_ids; i++)
        if (!strcmp(s->ids[i], id))
            return;
    char **g = realloc(s->ids, (s->n_ids + 1) * sizeof *g);
    if (!g)
        return;
    s->ids = g;
    if ((s->ids[s->n_ids] = strdup(id)) != NULL)
        s->n_ids++;
}

/* Act on one event; 1 once every expected feed.checked is in. */
static int sync_event(sync_state *s, cJSON *ev)
{
    const char *type = dc_str(ev, "type");
    double sub = dc_num(ev, "subscription", -2);
    char name[512], addr[MT_FEEDADDR_STR_MAX], why[512];
    if (s->target >= 0 && sub != s->target)
        return 0;
    clean_text(dc_str(ev, "name"), name, sizeof name);
    clean_text(dc_str(ev, "address"), addr, sizeof addr);
    if (!strcmp(type, "item.added")) {
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "id")))
            sync_note_torrent(s, dc_str(ev, "id"));
        if (!g_out.json)
            printf("+ %s\n", name);
        cJSON_AddItemToArray(s->jitems, cJSON_Duplicate(ev, 1));
    } else if (!strcmp(type, "item.skipped") && !g_out.json) {
        clean_text(dc_str(ev, "reason"), why, sizeof why);
        printf("  skipped %s: %s\n", name, why);
    } else if (!strcmp(type, "feed.rejected")) {
        clean_text(dc_str(ev, "reason"), why, sizeof why);
        fprintf(stderr, "%s: %s: rejected: %s\n", g_out.prog, addr, why);
        s->errors++;
    } else if (!strcmp(type, "feed.checked")) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
        if ((cJSON_IsString(e) && e->valuestring[0]) || (e && !cJSON_IsNull(e) && !cJSON_IsString(e) &&
                                                         !cJSON_IsFalse(e))) {
            char *txt = cJSON_IsString(e) ? NULL : cJSON_PrintUnformatted(e);
            clean_text(txt ? txt : e->valuestring, why, sizeof why);
            free(txt);
            fprintf(stderr, "%s: %s: %s\n", g_out.prog, addr, why);
            s->errors++;
        }
        cJSON_AddItemToArray(s->jchecked, cJSON_Duplicate(ev, 1));
        sync_note_checked(s, sub);
        return s->target >= 0 ? 1 : (long)s->n_checked >= s->started;
    }
    return 0;
}

/* The numeric id of the subscription an address names (-1: none found). */
static double sync_find_sub(rpc_client *c, const char *arg)
{
    mt_feedaddr want, have;
    cJSON *r = NULL, *s;
    double id = -1;
    long long n = parse_count(arg, MT_JSON_SAFE_INT);
    if (n >= 0)
        return (double)n;
    if (mt_feedaddr_parse(arg, &want, NULL) != 0 || dc_call(c, "sub.list", NULL, DC_CALL_TIMEOUT_MS, &r) != 0)
        return -1;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "subscriptions")) {
        if (mt_feedaddr_parse(dc_str(s, "address"), &have, NULL) == 0 && !memcmp(have.pk, want.pk, 32) &&
            have.salt_len == want.salt_len && !memcmp(have.salt, want.salt, want.salt_len)) {
            id = dc_num(s, "id", -1);
            break;
        }
    }
    cJSON_Delete(r);
    return id;
}

/* Wait for the feed.checked events; exit code. */
static int sync_wait_checks(rpc_client *c, sync_state *s, int64_t deadline)
{
    char msg[512];
    for (;;) {
        cJSON *ev = NULL;
        int64_t left = deadline - mt_now_ms();
        int got = left > 0 ? rpc_next_event(c, (int)(left > 1000 ? 1000 : left), &ev, msg, sizeof msg) : 0;
        if (got < 0)
            return fail(EXIT_LOCAL, "lost the connection to mtd: %s", msg);
        if (got == 0 && mt_now_ms() >= deadline)
            return fail(EXIT_FAILED, "timed out waiting for %s to be checked",
                        s->target >= 0 ? "the feed" : "the feeds");
        if (got == 1) {
            int done = sync_event(s, ev);
            cJSON_Delete(ev);
            fflush(stdout);
            if (done)
                return EXIT_OK;
        }
    }
}

/* The --json summary of sync --wait. */
static void sync_emit_json(sync_state *s, cJSON **objs, int ok)
{
    cJSON *doc = cJSON_CreateObject(), *ts;
    cJSON_AddBoolToObject(doc, "ok", ok);
    cJSON_AddNumberToObject(doc, "started", (double)s->started);
    cJSON_AddItemToObject(doc, "checked", s->jchecked);
    cJSON_AddItemToObject(doc, "items", s->jitems);
    ts = cJSON_AddArrayToObject(doc, "torrents");
    s->jchecked = s->jitems = NULL;
    for (size_t i = 0; objs && i < s->n_ids; i++)
        if (objs[i]) {
            cJSON_AddItemToArray(ts, objs[i]);
            objs[i] = NULL;
        }
    emit_json(doc);
}

static int run_sync(const dctx *x)
{
    const dopts *o = &x->o;
    sync_state s;
    rpc_client *c = NULL;
    cJSON *p = cJSON_CreateObject(), *r = NULL, **objs = NULL;
    int64_t deadline = mt_now_ms() + (o->timeout > 0 ? o->timeout : SYNC_TIMEOUT_S) * 1000;
    int rc;

    memset(&s, 0, sizeof s);
    s.target = -1;
    s.jchecked = cJSON_CreateArray();
    s.jitems = cJSON_CreateArray();
    if (x->argc)
        add_sub_id(p, x->argv[0]);
    /* Listen before syncing, so no event of this sync can be missed. */
    if ((rc = dc_connect(o->socket, &c)) != EXIT_OK ||
        (o->wait && (rc = dc_call(c, "events.subscribe", NULL, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK))
        goto out;
    cJSON_Delete(r);
    r = NULL;
    rc = dc_call(c, "sub.sync", p, DC_CALL_TIMEOUT_MS, &r);
    p = NULL; /* the call took it */
    if (rc != EXIT_OK)
        goto out;
    s.started = (long)dc_num(r, "started", 0);
    if (!o->wait) {
        if (g_out.json) {
            emit_json(r);
            r = NULL;
        } else {
            printf("started %ld poll%s (follow them with mtctl watch, or use --wait)\n", s.started,
                   s.started == 1 ? "" : "s");
        }
        goto out;
    }
    if (x->argc && (s.target = sync_find_sub(c, x->argv[0])) < 0) {
        rc = fail(EXIT_FAILED, "no subscription matches '%s'", x->argv[0]);
        goto out;
    }
    if (s.started > 0 && (rc = sync_wait_checks(c, &s, deadline)) != EXIT_OK)
        goto out;
    if (s.n_ids && !(objs = calloc(s.n_ids, sizeof *objs))) {
        rc = fail(EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (s.n_ids && (rc = dc_wait_torrents(c, s.ids, s.n_ids, objs, deadline)) != EXIT_OK)
        goto out;
    if (g_out.json)
        sync_emit_json(&s, objs, s.errors == 0);
    else
        printf("%zu feed%s checked, %zu new torrent%s%s%s\n", s.n_checked, s.n_checked == 1 ? "" : "s", s.n_ids,
               s.n_ids == 1 ? "" : "s", s.n_ids ? ", all complete" : "", s.errors ? ", with errors" : "");
    rc = s.errors ? EXIT_FAILED : EXIT_OK;
out:
    for (size_t i = 0; objs && i < s.n_ids; i++)
        cJSON_Delete(objs[i]);
    free(objs);
    cJSON_Delete(p);
    cJSON_Delete(r);
    sync_state_free(&s);
    rpc_close(c);
    return rc;
}

/* resolve_local with only the options it knows, in the order it wants
 * (options first; --json is already in g_out). */
static int resolve_without_daemon(const dctx *x)
{
    char *av[2 * (BOOT_MAX + 2) + 3], tbuf[32];
    int ac = 0;
    av[ac++] = x->full_argv[0];
    if (x->o.timeout > 0) {
        snprintf(tbuf, sizeof tbuf, "%lld", x->o.timeout);
        av[ac++] = "--timeout";
        av[ac++] = tbuf;
    }
    for (size_t i = 0; i < x->o.n_boot; i++) {
        av[ac++] = "--bootstrap";
        av[ac++] = (char *)x->o.bootstrap[i];
    }
    if (x->o.listen) {
        av[ac++] = "--listen";
        av[ac++] = (char *)x->o.listen;
    }
    av[ac++] = x->argv[0];
    av[ac] = NULL;
    optind = 0;
    return resolve_local(ac, av);
}

static int run_resolve(const dctx *x)
{
    char msg[4600];
    rpc_client *c = NULL;
    cJSON *p, *r = NULL;
    int rc;
    if ((rc = check_address(x->argv[0])) != EXIT_OK)
        return rc;
    /* --bootstrap/--listen name a network of our own choosing; without a
     * daemon, mtctl looks the feed up with a session of its own. */
    if (x->o.n_boot || x->o.listen || dc_connect_msg(x->o.socket, &c, msg, sizeof msg) != EXIT_OK)
        return resolve_without_daemon(x);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "address", x->argv[0]);
    if (x->o.timeout > 0)
        cJSON_AddNumberToObject(p, "timeout", (double)x->o.timeout);
    rc = dc_call(c, "resolve", p, x->o.timeout > 0 ? (int)(x->o.timeout + 15) * 1000 : 150000, &r);
    rpc_close(c);
    if (rc)
        return rc;
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    dc_print_resolve_result(r);
    cJSON_Delete(r);
    return EXIT_OK;
}

/* ============================================================ entries */

static const char subscribe_usage[] =
    "usage: mtctl subscribe ADDRESS [--interval SECONDS] [--save-path DIR]\n"
    "                       [--include RE] [--exclude RE] [--category C] [--paused]\n"
    "                       [--max-items N] [--socket PATH] [--json]\n"
    "\n"
    "Follow a feed (magnet:?xs=urn:btpk:..., 64 hex digits, or\n"
    "megatorrent://PK[:READKEY]); print the subscription's id and address.\n"
    "The first poll starts at once; new items are added as torrents.\n"
    "  --interval S   poll every S seconds (5-86400; default mtd's poll_interval)\n"
    "  --include RE   only items whose name or collection title match this\n"
    "  --exclude RE   ...and do not match this (POSIX extended, any case)\n"
    "  --paused       add its torrents paused\n"
    "  --max-items N  take at most N items\n" DC_SOCK_HELP;

int cmd_subscribe(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_INTERVAL | O_SAVE | O_INCLUDE | O_EXCLUDE | O_CATEGORY | O_PAUSED | O_MAX_ITEMS, 1, 1, subscribe_usage, run_subscribe);
}

static const char subscriptions_usage[] =
    "usage: mtctl subscriptions [--socket PATH] [--json]\n"
    "\n"
    "Table of subscriptions: ID SEQ ITEMS LAST-POLL ERROR ADDRESS (the address\n"
    "is shortened when standard output is a terminal).\n" DC_SOCK_HELP;

int cmd_subscriptions(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, subscriptions_usage, run_subscriptions);
}

static const char unsubscribe_usage[] =
    "usage: mtctl unsubscribe ID|ADDRESS [--socket PATH] [--json]\n"
    "\n"
    "Stop following a feed. The torrents it added stay.\n" DC_SOCK_HELP;

int cmd_unsubscribe(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 1, 1, unsubscribe_usage, run_unsubscribe);
}

static const char sync_usage[] =
    "usage: mtctl sync [ID|ADDRESS] [--wait] [--timeout SECONDS] [--socket PATH] [--json]\n"
    "\n"
    "Poll one subscription, or all, now; print how many polls started.\n"
    "  --wait       wait until each started poll is checked, printing each new\n"
    "               item (+ NAME), then until the torrents they added finish\n"
    "               (progress bar on a terminal). --json then prints one\n"
    "               summary {ok, started, checked, items, torrents}.\n"
    "  --timeout S  give up after S seconds (default 600)\n"
    "Exit 1 if a feed reported an error or was rejected, or on timeout.\n" DC_SOCK_HELP;

int cmd_sync(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_WAIT | O_TIMEOUT, 0, 1, sync_usage, run_sync);
}

static const char resolve_usage[] =
    "usage: mtctl resolve ADDRESS [--timeout SECONDS] [--socket PATH] [--json]\n"
    "       mtctl resolve ADDRESS [--timeout SECONDS] --bootstrap HOST:PORT [--listen ADDR:PORT]\n"
    "\n"
    "Fetch a feed's latest manifest without subscribing and print its sequence,\n"
    "mode, index info-hash and the items of each collection. The lookup runs in\n"
    "mtd; when no daemon answers, or with --bootstrap or --listen, it runs in\n"
    "mtctl itself with a read-only DHT node of its own.\n"
    "  -t, --timeout S   how long the lookup may take (default 60 s)\n"
    "  -b, --bootstrap HOST:PORT  DHT node to join through (own lookup only)\n"
    "  -l, --listen ADDR:PORT     where to listen (own lookup only)\n" DC_SOCK_HELP;

int cmd_resolve(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_TIMEOUT | O_BOOTSTRAP | O_LISTEN, 1, 1, resolve_usage, run_resolve);
}
