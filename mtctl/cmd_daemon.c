/*
 * cmd_daemon.c - mtctl commands that drive a running mtd over its JSON-RPC
 * UNIX socket (doc/rpc.md): status, add, list, info, pause, resume, remove,
 * files, publish, feeds, subscribe, subscriptions, unsubscribe, sync,
 * resolve, watch, shutdown.
 *
 * With --json each prints the daemon's result document as it is (watch:
 * one event object per line); otherwise readable lines and tables.
 */
#define _XOPEN_SOURCE 700 /* realpath, and POSIX 2008 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd_daemon.h"
#include "mt_feedaddr.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_util.h"
#include "mtctl.h"
#include "rpc_client.h"

#define TORRENT_FILE_MAX (16u * 1024 * 1024) /* .torrent files we read */
#define ITEMS_FILE_MAX (16u * 1024 * 1024)   /* publish -i FILE */
#define RPC_LINE_BUDGET (1000u * 1024)       /* mtd takes request lines up to 1 MiB */
#define WS_MAX 32                            /* --ws options */
#define BOOT_MAX 16                          /* resolve --bootstrap options */
#define SYNC_TIMEOUT_S 600

const char daemon_usage_summary[] =
    "Daemon commands (talk to a running mtd; --socket PATH or MT_SOCKET):\n"
    "  status | shutdown | watch\n"
    "  add URI|FILE.torrent [--save-path DIR] [--paused] [--category C] [--wait]\n"
    "  list | info ID | files ID | pause ID | resume ID | remove ID [--delete-files]\n"
    "  publish [--feed NAME] [--title T] [--ws URL]... [--inline] [--replace]\n"
    "          (ITEM... | -i FILE | --manifest FILE)\n"
    "  feeds | subscriptions | unsubscribe ID|ADDRESS\n"
    "  subscribe ADDRESS [--interval S] [--save-path DIR] [--include RE] [--exclude RE]\n"
    "            [--category C] [--paused] [--max-items N]\n"
    "  sync [ID|ADDRESS] [--wait] [--timeout S]\n"
    "  resolve ADDRESS [--timeout S] [--bootstrap HOST:PORT] [--listen ADDR:PORT]\n"
    "  demo [--dir DIR] [--keep] [--mtd PATH] [--nodes N]\n"
    "                       a guided tour: two daemons on a loopback network\n";

/* ================================================================ helpers */

const char *dc_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

double dc_num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* 1 if member key is true. */
static int dc_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Characters a terminal shows for s (UTF-8 lead bytes; wide glyphs aside). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* "magnet:?xs=urn:btpk:0123...89abcdef" when longer than max (ASCII input). */
static void shorten(const char *in, char *out, size_t cap, size_t max)
{
    size_t n = strlen(in), tail = 10;
    if (n <= max || max < tail + 8)
        clean_text(in, out, cap);
    else
        snprintf(out, cap, "%.*s...%s", (int)(max - tail - 3), in, in + n - tail);
}

/* "12s ago", "5m ago", "in 3h"; "never" for 0. now_ms is wall time. */
static void format_age(double t_ms, char *buf, size_t cap)
{
    double d = ((double)mt_wall_ms() - t_ms) / 1000.0;
    const char *pre = "", *post = " ago";
    if (t_ms <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    if (d < 0) {
        d = -d;
        pre = "in ";
        post = "";
    }
    if (d < 60)
        snprintf(buf, cap, "%s%.0fs%s", pre, d, post);
    else if (d < 3600)
        snprintf(buf, cap, "%s%.0fm%s", pre, d / 60, post);
    else if (d < 86400)
        snprintf(buf, cap, "%s%.0fh%s", pre, d / 3600, post);
    else
        snprintf(buf, cap, "%s%.0fd%s", pre, d / 86400, post);
}

/* Local "2026-11-14 22:13:20 (5m ago)" for a time in ms since 1970. */
static void format_time(double t_ms, char *buf, size_t cap)
{
    char when[32], age[32];
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;
    if (t_ms <= 0 || !localtime_r(&t, &tm)) {
        snprintf(buf, cap, "never");
        return;
    }
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    format_age(t_ms, age, sizeof age);
    snprintf(buf, cap, "%s (%s)", when, age);
}

/* "1h 2m 5s" for a duration in seconds. */
static void format_duration(double s, char *buf, size_t cap)
{
    long long t = (long long)s;
    if (t >= 86400)
        snprintf(buf, cap, "%lldd %lldh %lldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
    else if (t >= 3600)
        snprintf(buf, cap, "%lldh %lldm %llds", t / 3600, t % 3600 / 60, t % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%lldm %llds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%llds", t);
}

/* A number as an integer when it is one (cJSON numbers are doubles). */
static void format_number(double v, char *buf, size_t cap)
{
    if (v == (double)(long long)v && v > -9.1e15 && v < 9.1e15)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%g", v);
}

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
static int connect_msg(const char *opt, rpc_client **c, char *msg, size_t cap)
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
static int connect_daemon(const char *opt, rpc_client **c)
{
    char msg[4600];
    int rc = connect_msg(opt, c, msg, sizeof msg);
    return rc ? fail(rc, "%s", msg) : EXIT_OK;
}

/* Call and print the error. */
static int call(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result)
{
    char msg[1024];
    int rc = dc_call_msg(c, method, params, timeout_ms, result, msg, sizeof msg);
    return rc ? fail(rc, "%s", msg) : EXIT_OK;
}

/* Connect, call once, close. */
static int call_once(const char *sock, const char *method, cJSON *params, int timeout_ms, cJSON **result)
{
    rpc_client *c = NULL;
    int rc = connect_daemon(sock, &c);
    if (rc) {
        cJSON_Delete(params);
        return rc;
    }
    rc = call(c, method, params, timeout_ms, result);
    rpc_close(c);
    return rc;
}

/* ======================================================== output helpers */

/* One value as readable text, by what its key says it holds. */
/* 1 if every member of object o is a number with a plain name. */
static int flat_counters(const cJSON *o)
{
    const cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, o) {
        if (!cJSON_IsNumber(m) || !m->string || strspn(m->string, "abcdefghijklmnopqrstuvwxyz_") != strlen(m->string))
            return 0;
        n++;
    }
    return n > 0;
}

static void format_value(const char *key, const cJSON *v, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    if (!v || cJSON_IsNull(v)) {
        snprintf(buf, cap, "-");
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    } else if (cJSON_IsString(v)) {
        clean_text(v->valuestring[0] ? v->valuestring : "-", buf, cap);
    } else if (cJSON_IsNumber(v)) {
        if (kl > 5 && !strcmp(key + kl - 5, "_rate"))
            human_rate(v->valuedouble, buf, cap);
        else if (kl > 3 && !strcmp(key + kl - 3, "_ms"))
            format_time(v->valuedouble, buf, cap);
        else if (!strcmp(key, "uptime_s"))
            format_duration(v->valuedouble, buf, cap);
        else if (!strcmp(key, "progress"))
            snprintf(buf, cap, "%.1f%%", v->valuedouble * 100);
        else if (!strcmp(key, "total_done") || !strcmp(key, "total_wanted") || !strcmp(key, "size"))
            human_bytes(v->valuedouble, buf, cap);
        else
            format_number(v->valuedouble, buf, cap);
    } else if (cJSON_IsObject(v) && flat_counters(v)) {
        /* A group of counters (status's push, crypt): "name value, ...". */
        size_t used = 0;
        const cJSON *m;
        buf[0] = '\0';
        cJSON_ArrayForEach(m, v) {
            char num[64];
            format_number(m->valuedouble, num, sizeof num);
            int n = snprintf(buf + used, cap - used, "%s%s %s", used ? ", " : "", m->string, num);
            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
    } else {
        char *s = cJSON_PrintUnformatted(v);
        clean_text(s ? s : "?", buf, cap);
        free(s);
    }
}

/* "key:  value" lines for keys (NULL-terminated), or every member. */
static void print_kv(const cJSON *obj, const char *const *keys)
{
    char val[2048], label[64];
    int w = 0;
    const cJSON *m;
    if (keys) {
        for (size_t i = 0; keys[i]; i++)
            w = (int)strlen(keys[i]) > w ? (int)strlen(keys[i]) : w;
        for (size_t i = 0; keys[i]; i++) {
            format_value(keys[i], cJSON_GetObjectItemCaseSensitive(obj, keys[i]), val, sizeof val);
            snprintf(label, sizeof label, "%s:", keys[i]);
            printf("%-*s %s\n", w + 1, label, val);
        }
        return;
    }
    cJSON_ArrayForEach(m, obj)
        w = m->string && (int)strlen(m->string) > w ? (int)strlen(m->string) : w;
    cJSON_ArrayForEach(m, obj) {
        if (!m->string)
            continue;
        format_value(m->string, m, val, sizeof val);
        snprintf(label, sizeof label, "%s:", m->string);
        printf("%-*s %s\n", w + 1, label, val);
    }
}

/* A result for people (key: value lines of keys, or of every member) or,
 * with --json, as it came. Takes ownership of r. */
static int show_result(cJSON *r, const char *const *keys)
{
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    print_kv(r, keys);
    cJSON_Delete(r);
    return EXIT_OK;
}

/* A table built row by row, printed with columns as wide as their cells. */
#define TABLE_COLS 8
typedef struct table {
    size_t ncols, nrows, cap;
    const char *align; /* 'l' or 'r' per column */
    char **cells;      /* nrows * ncols, row 0 the header */
} table;

/* Add a row of ncols strings (copied). 0 or -1 (out of memory). */
static int table_add(table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, ncap * t->ncols * sizeof *n);
        if (!n)
            return -1;
        t->cells = n;
        t->cap = ncap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char buf[1024];
        clean_text(row[i], buf, sizeof buf);
        if (!(t->cells[t->nrows * t->ncols + i] = strdup(buf))) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

static int table_init(table *t, size_t ncols, const char *align, const char *const *header)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->align = align;
    return table_add(t, header);
}

static void table_print(const table *t)
{
    size_t w[TABLE_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols && i < TABLE_COLS; i++) {
            size_t dw = display_width(t->cells[r * t->ncols + i]);
            w[i] = dw > w[i] ? dw : w[i];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols && i < TABLE_COLS; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t pad = w[i] - display_width(s);
            int last = i + 1 == t->ncols;
            if (t->align[i] == 'r')
                printf("%*s%s", (int)pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : (int)pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
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
static int wait_torrents(rpc_client *c, char *const *ids, size_t n, cJSON **objs, int64_t deadline)
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

/* ============================================================= options */

/* Options by index; a command lists the ones it takes as a bit set. */
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
#define OPT_VAL(i) (1000 + (i)) /* getopt_long's value for option index i */

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
    int full_argc;     /* the command line as cmd_daemon got it */
    char **full_argv;
} dctx;

/* Store one option. 0, or an exit code after printing the error. */
static int take_option(dopts *o, unsigned bit, const char *arg)
{
    switch (bit) {
    case O_SOCKET: o->socket = arg; break;
    case O_SAVE: o->save_path = arg; break;
    case O_PAUSED: o->paused = 1; break;
    case O_CATEGORY: o->category = arg; break;
    case O_WAIT: o->wait = 1; break;
    case O_DELETE: o->delete_files = 1; break;
    case O_FEED: o->feed = arg; break;
    case O_TITLE: o->title = arg; break;
    case O_INLINE: o->inline_put = 1; break;
    case O_REPLACE: o->replace = 1; break;
    case O_INPUT: o->input = arg; break;
    case O_MANIFEST: o->manifest = arg; break;
    case O_INCLUDE: o->include = arg; break;
    case O_EXCLUDE: o->exclude = arg; break;
    case O_LISTEN: o->listen = arg; break;
    case O_READ_KEY: o->read_key = arg; break;
    case O_BLOB_WS:
        if (o->n_blob_ws == WS_MAX)
            return fail(EXIT_USAGE, "at most %d --blob-ws options", WS_MAX);
        o->blob_ws[o->n_blob_ws++] = arg;
        break;
    case O_BOOTSTRAP:
        if (o->n_boot == BOOT_MAX)
            return fail(EXIT_USAGE, "at most %d --bootstrap options", BOOT_MAX);
        o->bootstrap[o->n_boot++] = arg;
        break;
    case O_WS:
        if (o->n_ws == WS_MAX)
            return fail(EXIT_USAGE, "at most %d --ws options", WS_MAX);
        o->ws[o->n_ws++] = arg;
        break;
    case O_INTERVAL:
        if ((o->interval = parse_count(arg, 86400)) < 5)
            return fail(EXIT_USAGE, "--interval wants 5 to 86400 seconds, not '%s'", arg);
        break;
    case O_MAX_ITEMS:
        if ((o->max_items = parse_count(arg, 1000000000LL)) < 0)
            return fail(EXIT_USAGE, "--max-items wants a count, not '%s'", arg);
        break;
    case O_TIMEOUT:
        if ((o->timeout = parse_count(arg, 7LL * 86400)) < 1)
            return fail(EXIT_USAGE, "--timeout wants 1 to 604800 seconds, not '%s'", arg);
        break;
    default: break;
    }
    return EXIT_OK;
}

/* getopt_long over the options this command allows. 0, -1 after --help
 * (usage printed), or an exit code. */
static int parse_options(int argc, char **argv, unsigned allowed, const char *usage, dopts *o)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, OPT_VAL(I_SOCKET)},
        OPT_JSON,
        {"help", no_argument, NULL, OPT_VAL(I_HELP)},
        {"save-path", required_argument, NULL, OPT_VAL(I_SAVE)},
        {"paused", no_argument, NULL, OPT_VAL(I_PAUSED)},
        {"category", required_argument, NULL, OPT_VAL(I_CATEGORY)},
        {"wait", no_argument, NULL, OPT_VAL(I_WAIT)},
        {"delete-files", no_argument, NULL, OPT_VAL(I_DELETE)},
        {"feed", required_argument, NULL, OPT_VAL(I_FEED)},
        {"title", required_argument, NULL, OPT_VAL(I_TITLE)},
        {"ws", required_argument, NULL, OPT_VAL(I_WS)},
        {"inline", no_argument, NULL, OPT_VAL(I_INLINE)},
        {"replace", no_argument, NULL, OPT_VAL(I_REPLACE)},
        {"input", required_argument, NULL, OPT_VAL(I_INPUT)},
        {"manifest", required_argument, NULL, OPT_VAL(I_MANIFEST)},
        {"interval", required_argument, NULL, OPT_VAL(I_INTERVAL)},
        {"include", required_argument, NULL, OPT_VAL(I_INCLUDE)},
        {"exclude", required_argument, NULL, OPT_VAL(I_EXCLUDE)},
        {"max-items", required_argument, NULL, OPT_VAL(I_MAX_ITEMS)},
        {"timeout", required_argument, NULL, OPT_VAL(I_TIMEOUT)},
        {"bootstrap", required_argument, NULL, OPT_VAL(I_BOOTSTRAP)},
        {"listen", required_argument, NULL, OPT_VAL(I_LISTEN)},
        {"read-key", required_argument, NULL, OPT_VAL(I_READ_KEY)},
        {"blob-ws", required_argument, NULL, OPT_VAL(I_BLOB_WS)},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    memset(o, 0, sizeof *o);
    o->interval = o->max_items = o->timeout = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hi:t:b:l:", opts, NULL)) != -1) {
        if (c == 0) /* OPT_JSON */
            continue;
        unsigned bit = c == 'h'   ? O_HELP
                       : c == 'i' ? O_INPUT
                       : c == 't' ? O_TIMEOUT
                       : c == 'b' ? O_BOOTSTRAP
                       : c == 'l' ? O_LISTEN
                       : c >= 1000 && c < 1000 + I_COUNT ? BIT(c - 1000)
                                                          : 0;
        if (!bit || !(allowed & bit))
            return fail(EXIT_USAGE, "%s: unknown option '%s' (see mtctl %s --help)", argv[0], argv[optind - 1],
                        argv[0]);
        if (bit == O_HELP) {
            fputs(usage, stdout);
            return -1;
        }
        if ((rc = take_option(o, bit, optarg)) != EXIT_OK)
            return rc;
    }
    return EXIT_OK;
}

/* ======================================================= simple commands */

static int run_status(const dctx *x)
{
    cJSON *r = NULL;
    int rc = call_once(x->o.socket, "status", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    return show_result(r, NULL);
}

static int run_shutdown(const dctx *x)
{
    cJSON *r = NULL;
    int rc = call_once(x->o.socket, "shutdown", NULL, DC_CALL_TIMEOUT_MS, &r);
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

/* pause, resume, remove: {id[, delete_files]} -> {}. */
static int run_torrent_op(const dctx *x, const char *method, const char *done)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc;
    cJSON_AddStringToObject(p, "id", x->argv[0]);
    if (x->o.delete_files)
        cJSON_AddBoolToObject(p, "delete_files", 1);
    if ((rc = call_once(x->o.socket, method, p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    if (g_out.json)
        emit_json(r);
    else {
        char id[64];
        clean_text(x->argv[0], id, sizeof id);
        printf("%s %s%s\n", done, id, x->o.delete_files ? " and deleted its files" : "");
        cJSON_Delete(r);
    }
    return EXIT_OK;
}

static int run_pause(const dctx *x) { return run_torrent_op(x, "torrent.pause", "paused"); }
static int run_resume(const dctx *x) { return run_torrent_op(x, "torrent.resume", "resumed"); }
static int run_remove(const dctx *x) { return run_torrent_op(x, "torrent.remove", "removed"); }

static int run_info(const dctx *x)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc;
    cJSON_AddStringToObject(p, "id", x->argv[0]);
    if ((rc = call_once(x->o.socket, "torrent.info", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    return show_result(r, NULL);
}

/* ================================================================= add */

/* The .torrent file as base64 in p["torrent"], or, when that would not fit
 * in one request line, its absolute path in p["path"]. */
static int add_torrent_file(cJSON *p, const char *file)
{
    char *buf = NULL, *b64;
    size_t len = 0, b64len;
    mt_error err;
    int rc = read_input(file, TORRENT_FILE_MAX, &buf, &len, &err);
    if (rc)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    if (b64len > RPC_LINE_BUDGET && strcmp(file, "-") != 0) {
        char abs[PATH_MAX];
        free(buf);
        if (absolute_path(file, abs, sizeof abs) != 0)
            return fail(EXIT_LOCAL, "%s: path too long", file);
        /* mtd takes request lines up to 1 MiB; it reads big files itself. */
        fprintf(stderr, "%s: %s is too big to send; asking mtd to read it\n", g_out.prog, file);
        cJSON_AddStringToObject(p, "path", abs);
        return EXIT_OK;
    }
    if (b64len > RPC_LINE_BUDGET || !(b64 = malloc(b64len))) {
        free(buf);
        return fail(b64len > RPC_LINE_BUDGET ? EXIT_FAILED : EXIT_LOCAL,
                    b64len > RPC_LINE_BUDGET ? "the .torrent on stdin is too big to send (limit ~750 KiB)"
                                             : "out of memory");
    }
    sodium_bin2base64(b64, b64len, (const unsigned char *)buf, len, sodium_base64_VARIANT_ORIGINAL);
    free(buf);
    cJSON_AddStringToObject(p, "torrent", b64);
    free(b64);
    return EXIT_OK;
}

/* save_path made absolute into p[key]. */
static int add_save_path(cJSON *p, const char *dir)
{
    char abs[PATH_MAX];
    if (absolute_path(dir, abs, sizeof abs) != 0)
        return fail(EXIT_USAGE, "--save-path: path too long or no current directory");
    cJSON_AddStringToObject(p, "save_path", abs);
    return EXIT_OK;
}

static int run_add(const dctx *x)
{
    const dopts *o = &x->o;
    const char *what = x->argv[0];
    cJSON *p = cJSON_CreateObject(), *r = NULL, *objs[1] = {NULL};
    char id[64], *ids[1] = {id};
    rpc_client *c = NULL;
    int rc;

    if (o->wait && o->paused)
        rc = fail(EXIT_USAGE, "add: --wait with --paused would wait forever");
    else if (!strncasecmp(what, "magnet:", 7))
        rc = cJSON_AddStringToObject(p, "uri", what) ? EXIT_OK : EXIT_LOCAL;
    else
        rc = add_torrent_file(p, what);
    if (rc == EXIT_OK && o->save_path)
        rc = add_save_path(p, o->save_path);
    if (rc == EXIT_OK && o->paused)
        cJSON_AddBoolToObject(p, "paused", 1);
    if (rc == EXIT_OK && o->category)
        cJSON_AddStringToObject(p, "category", o->category);
    if (rc != EXIT_OK || (rc = connect_daemon(o->socket, &c)) != EXIT_OK) {
        cJSON_Delete(p);
        return rc;
    }
    if ((rc = call(c, "torrent.add", p, DC_CALL_TIMEOUT_MS * 2, &r)) != EXIT_OK)
        goto out;
    snprintf(id, sizeof id, "%s", dc_str(r, "id"));
    if (g_out.json && !o->wait) {
        emit_json(r);
        r = NULL;
    } else if (!g_out.json) {
        printf("%s\n", id);
        fflush(stdout);
    }
    if (!o->wait)
        goto out;
    if ((rc = wait_torrents(c, ids, 1, objs, 0)) != EXIT_OK)
        goto out;
    if (g_out.json) {
        emit_json(objs[0]);
        objs[0] = NULL;
    } else if (isatty(STDERR_FILENO)) {
        char name[128], size[32];
        clean_text(dc_str(objs[0], "name"), name, sizeof name);
        human_bytes(dc_num(objs[0], "total_wanted", 0), size, sizeof size);
        fprintf(stderr, "done: %s (%s)\n", name, size);
    }
out:
    cJSON_Delete(objs[0]);
    cJSON_Delete(r);
    rpc_close(c);
    return rc;
}

/* ======================================================== list and files */

static int run_list(const dctx *x)
{
    static const char *const head[] = {"ID", "STATE", "PROGRESS", "DOWN", "UP", "PEERS", "NAME"};
    cJSON *r = NULL, *t;
    table tb;
    int rc = call_once(x->o.socket, "torrent.list", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    if (table_init(&tb, 7, "llrrrrl", head) != 0)
        rc = fail(EXIT_LOCAL, "out of memory");
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "torrents")) {
        char id[16], prog[16], down[32], up[32], peers[16];
        const char *st = dc_str(t, "state");
        /* libtorrent pauses torrents queued for checking: not the user's pause */
        const char *state = dc_str(t, "error")[0]                          ? "error"
                            : dc_bool(t, "paused") && strcmp(st, "checking") ? "paused"
                                                                             : st;
        char name[300];
        const char *row[] = {id, state, prog, down, up, peers, name};
        /* mtd's own feed-index torrents would otherwise pass for downloads */
        snprintf(name, sizeof name, "%.256s%s", dc_str(t, "name"), dc_bool(t, "index") ? " (feed index)" : "");
        snprintf(id, sizeof id, "%.12s", dc_str(t, "id"));
        snprintf(prog, sizeof prog, "%.1f%%", dc_num(t, "progress", 0) * 100);
        human_rate(dc_num(t, "download_rate", 0), down, sizeof down);
        human_rate(dc_num(t, "upload_rate", 0), up, sizeof up);
        snprintf(peers, sizeof peers, "%d", (int)dc_num(t, "peers", 0));
        if (rc == EXIT_OK && table_add(&tb, row) != 0)
            rc = fail(EXIT_LOCAL, "out of memory");
    }
    if (rc == EXIT_OK)
        table_print(&tb);
    table_free(&tb);
    cJSON_Delete(r);
    return rc;
}

static int run_files(const dctx *x)
{
    static const char *const head[] = {"INDEX", "SIZE", "DONE%", "PRIO", "PATH"};
    cJSON *p = cJSON_CreateObject(), *r = NULL, *f;
    table tb;
    int rc;
    cJSON_AddStringToObject(p, "id", x->argv[0]);
    if ((rc = call_once(x->o.socket, "torrent.files", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    if (table_init(&tb, 5, "rrrrl", head) != 0)
        rc = fail(EXIT_LOCAL, "out of memory");
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(r, "files")) {
        char idx[32], size[32], done[16], prio[32];
        double sz = dc_num(f, "size", 0);
        const char *row[] = {idx, size, done, prio, dc_str(f, "path")};
        format_number(dc_num(f, "index", 0), idx, sizeof idx);
        human_bytes(sz, size, sizeof size);
        snprintf(done, sizeof done, "%.1f%%", sz > 0 ? dc_num(f, "downloaded", 0) * 100 / sz : 100.0);
        format_number(dc_num(f, "priority", 0), prio, sizeof prio);
        if (rc == EXIT_OK && table_add(&tb, row) != 0)
            rc = fail(EXIT_LOCAL, "out of memory");
    }
    if (rc == EXIT_OK)
        table_print(&tb);
    table_free(&tb);
    cJSON_Delete(r);
    return rc;
}

/* ============================================================= publish */

/* Items from FILE ('-' stdin), one per line, blank lines skipped. */
static int publish_items_file(cJSON *items, const char *path, size_t *bytes)
{
    char *buf = NULL, *line, *save = NULL;
    size_t len = 0;
    mt_error err;
    int rc = read_input(path, ITEMS_FILE_MAX, &buf, &len, &err);
    if (rc)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    if (memchr(buf, '\0', len)) {
        free(buf);
        return fail(EXIT_FAILED, "%s: contains NUL bytes; it must be text", path);
    }
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0)
            continue;
        cJSON_AddItemToArray(items, cJSON_CreateString(line));
        *bytes += n + 4;
    }
    free(buf);
    return EXIT_OK;
}

/* Read and check a signed manifest before it goes to the daemon: not JSON
 * is a usage error (2), a rule it breaks an operation failure (1). */
static int publish_manifest(cJSON *p, const char *path)
{
    char *json = NULL;
    size_t len = 0;
    mt_error err;
    cJSON *doc = NULL;
    mt_manifest *m = NULL;
    int rc = read_input(path, MT_MANIFEST_MAX, &json, &len, &err);
    if (rc)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    if (mt_json_parse(json, len, MT_JSON_INTEGERS, MT_MANIFEST_MAX, MT_MANIFEST_DEPTH, &doc, &err) != 0)
        rc = fail(EXIT_USAGE, "--manifest %s is not a manifest: %s", path, err.message);
    else if (mt_manifest_load(json, len, NULL, &m, &err) != 0)
        rc = fail(EXIT_FAILED, "--manifest %s: %s", path, err.message);
    else if (len > RPC_LINE_BUDGET)
        rc = fail(EXIT_FAILED, "--manifest %s: %zu bytes do not fit in one request to mtd (1 MiB)", path, len);
    else /* as a string: the daemon checks the very bytes that were signed */
        cJSON_AddStringToObject(p, "manifest", json);
    cJSON_Delete(doc);
    mt_manifest_free(m);
    free(json);
    return rc;
}

/* Build feed.publish params from the options and arguments. */
static int publish_params(const dctx *x, cJSON *p)
{
    const dopts *o = &x->o;
    size_t bytes = 0;
    int rc = EXIT_OK;
    if (o->manifest && (x->argc || o->input || o->title || o->replace))
        return fail(EXIT_USAGE, "publish: --manifest publishes a signed manifest as it is; "
                                "ITEMs, -i, --title and --replace do not go with it");
    if (!o->manifest && (x->argc > 0) == (o->input != NULL))
        return fail(EXIT_USAGE, "publish wants ITEMs, -i FILE or --manifest FILE (one of them)");
    if (o->feed)
        cJSON_AddStringToObject(p, "name", o->feed);
    if (o->title)
        cJSON_AddStringToObject(p, "title", o->title);
    if (o->inline_put)
        cJSON_AddBoolToObject(p, "inline", 1);
    if (o->replace)
        cJSON_AddBoolToObject(p, "replace", 1);
    if (o->n_ws) {
        cJSON *ws = cJSON_AddArrayToObject(p, "ws");
        for (size_t i = 0; i < o->n_ws; i++)
            cJSON_AddItemToArray(ws, cJSON_CreateString(o->ws[i]));
    }
    if (o->read_key) {
        uint8_t k[32];
        if (strlen(o->read_key) != 64 || mt_hex_decode(o->read_key, k, 32) != 0)
            return fail(EXIT_USAGE, "publish: --read-key wants 64 hex digits");
        sodium_memzero(k, sizeof k);
        cJSON_AddStringToObject(p, "read_key", o->read_key);
    }
    if (o->n_blob_ws) {
        cJSON *ws = cJSON_AddArrayToObject(p, "blob_ws");
        for (size_t i = 0; i < o->n_blob_ws; i++)
            cJSON_AddItemToArray(ws, cJSON_CreateString(o->blob_ws[i]));
    }
    if (o->manifest)
        return publish_manifest(p, o->manifest);
    {
        /* An argument naming a regular file is a file to encrypt and
         * publish (mtd reads it: the path goes absolute); others are items. */
        cJSON *items = cJSON_AddArrayToObject(p, "items"), *files = NULL;
        for (int i = 0; i < x->argc; i++) {
            struct stat st;
            if (strncmp(x->argv[i], "magnet:", 7) != 0 && stat(x->argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
                char *abs = realpath(x->argv[i], NULL);
                if (!abs)
                    return fail(EXIT_LOCAL, "publish: %s: %s", x->argv[i], strerror(errno));
                if (!files)
                    files = cJSON_AddArrayToObject(p, "files");
                cJSON_AddItemToArray(files, cJSON_CreateString(abs));
                free(abs);
                continue;
            }
            cJSON_AddItemToArray(items, cJSON_CreateString(x->argv[i]));
            bytes += strlen(x->argv[i]) + 4;
        }
        if (o->input)
            rc = publish_items_file(items, o->input, &bytes);
        if (rc == EXIT_OK && cJSON_GetArraySize(items) == 0 && !files)
            rc = fail(EXIT_USAGE, "publish: %s holds no items", o->input ? o->input : "the command line");
    }
    if (rc == EXIT_OK && bytes > RPC_LINE_BUDGET)
        rc = fail(EXIT_FAILED, "publish: the items take %zu bytes; one request to mtd holds at most 1 MiB", bytes);
    return rc;
}

static int run_publish(const dctx *x)
{
    static const char *const keys[] = {"name", "address", "seq", "mode", "private", "ih", "items", "nodes", NULL};
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc = publish_params(x, p);
    if (rc) {
        cJSON_Delete(p);
        return rc;
    }
    /* Files are encrypted by mtd first: allow for big ones. */
    int timeout = cJSON_GetObjectItemCaseSensitive(p, "files") ? DC_INGEST_TIMEOUT_MS : DC_PUBLISH_TIMEOUT_MS;
    if ((rc = call_once(x->o.socket, "feed.publish", p, timeout, &r)) != EXIT_OK)
        return rc;
    return show_result(r, keys);
}

static int run_feeds(const dctx *x)
{
    static const char *const head[] = {"NAME", "SEQ", "ITEMS", "MODE", "LAST-PUT", "ADDRESS"};
    cJSON *r = NULL, *f;
    table tb;
    int rc = call_once(x->o.socket, "feed.list", NULL, DC_CALL_TIMEOUT_MS, &r);
    if (rc)
        return rc;
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    if (table_init(&tb, 6, "lrrlll", head) != 0)
        rc = fail(EXIT_LOCAL, "out of memory");
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(r, "feeds")) {
        char seq[24], items[24], put[48];
        const char *name = dc_str(f, "name");
        const char *row[] = {name[0] ? name : "(default)", seq, items, dc_str(f, "mode"), put,
                             dc_str(f, "address")};
        format_number(dc_num(f, "seq", 0), seq, sizeof seq);
        format_number(dc_num(f, "items", 0), items, sizeof items);
        format_age(dc_num(f, "last_put_ms", 0), put, sizeof put);
        if (rc == EXIT_OK && table_add(&tb, row) != 0)
            rc = fail(EXIT_LOCAL, "out of memory");
    }
    if (rc == EXIT_OK)
        table_print(&tb);
    table_free(&tb);
    cJSON_Delete(r);
    return rc;
}

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
        (o->save_path && (rc = add_save_path(p, o->save_path)) != EXIT_OK))
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
    if ((rc = call_once(x->o.socket, "sub.add", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    return show_result(r, keys);
}

static int run_subscriptions(const dctx *x)
{
    static const char *const head[] = {"ID", "SEQ", "ITEMS", "LAST-POLL", "ERROR", "ADDRESS"};
    cJSON *r = NULL, *s;
    table tb;
    int tty = isatty(STDOUT_FILENO);
    int rc = call_once(x->o.socket, "sub.list", NULL, DC_CALL_TIMEOUT_MS, &r);
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
        format_number(dc_num(s, "id", 0), id, sizeof id);
        if (dc_num(s, "seq", 0) > 0)
            format_number(dc_num(s, "seq", 0), seq, sizeof seq);
        else
            snprintf(seq, sizeof seq, "-");
        format_number(dc_num(s, "items", 0), items, sizeof items);
        format_age(dc_num(s, "last_poll_ms", 0), poll, sizeof poll);
        /* Full addresses for pipes (they get copied); short on a screen. */
        if (tty)
            shorten(dc_str(s, "address"), addr, sizeof addr, 44);
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
    if ((rc = call_once(x->o.socket, "sub.remove", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
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
    if (mt_feedaddr_parse(arg, &want, NULL) != 0 || call(c, "sub.list", NULL, DC_CALL_TIMEOUT_MS, &r) != 0)
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
    if ((rc = connect_daemon(o->socket, &c)) != EXIT_OK ||
        (o->wait && (rc = call(c, "events.subscribe", NULL, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK))
        goto out;
    cJSON_Delete(r);
    r = NULL;
    rc = call(c, "sub.sync", p, DC_CALL_TIMEOUT_MS, &r);
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
    if (s.n_ids && (rc = wait_torrents(c, s.ids, s.n_ids, objs, deadline)) != EXIT_OK)
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

/* ============================================================= resolve */

/* One manifest item: a string, or a FileEntry shown by name and size. */
static void print_item(size_t n, const cJSON *it)
{
    char text[1024], size[32];
    if (cJSON_IsString(it)) {
        clean_text(it->valuestring, text, sizeof text);
        printf("  %-4zu %s\n", n, text);
    } else if (cJSON_IsObject(it) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "name"))) {
        clean_text(dc_str(it, "name"), text, sizeof text);
        human_bytes(dc_num(it, "size", 0), size, sizeof size);
        printf("  %-4zu %s  (file, %s)\n", n, text, size);
    } else {
        char *s = cJSON_PrintUnformatted(it);
        clean_text(s ? s : "?", text, sizeof text);
        free(s);
        printf("  %-4zu %s\n", n, text);
    }
}

/* The collections of a manifest (object, or JSON text). */
static void print_manifest(const cJSON *mv)
{
    cJSON *parsed = NULL, *col;
    const cJSON *m = mv;
    if (cJSON_IsString(mv))
        m = parsed = cJSON_Parse(mv->valuestring);
    if (!cJSON_IsObject(m)) {
        printf("manifest: (none)\n");
    } else if (dc_bool(m, "encrypted") && !cJSON_GetObjectItemCaseSensitive(m, "collections")) {
        printf("manifest: private, sealed (needs the read key: megatorrent://PK:READKEY)\n");
    } else {
        cJSON_ArrayForEach(col, cJSON_GetObjectItemCaseSensitive(m, "collections")) {
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(col, "items"), *it;
            char title[512];
            size_t n = 0;
            clean_text(dc_str(col, "title"), title, sizeof title);
            printf("\n%s (%d)\n", title, cJSON_GetArraySize(items));
            cJSON_ArrayForEach(it, items)
                print_item(++n, it);
        }
    }
    cJSON_Delete(parsed);
}

void dc_print_resolve_result(const cJSON *doc)
{
    static const char *const keys[] = {"address", "seq", "mode", "ih", NULL};
    print_kv(doc, keys);
    print_manifest(cJSON_GetObjectItemCaseSensitive(doc, "manifest"));
}

/* resolve_local with only the options it knows, in the order it wants
 * (options first; --json is already in g_out.json). */
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
    if (x->o.n_boot || x->o.listen || connect_msg(x->o.socket, &c, msg, sizeof msg) != EXIT_OK)
        return resolve_without_daemon(x);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "address", x->argv[0]);
    if (x->o.timeout > 0)
        cJSON_AddNumberToObject(p, "timeout", (double)x->o.timeout);
    rc = call(c, "resolve", p, x->o.timeout > 0 ? (int)(x->o.timeout + 15) * 1000 : 150000, &r);
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
        format_number(m->valuedouble, val, sizeof val);
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

    if ((rc = connect_daemon(x->o.socket, &c)) != EXIT_OK)
        return rc;
    if ((rc = call(c, "events.subscribe", NULL, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK) {
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

/* ============================================================ dispatch */

typedef struct dcmd {
    const char *name;
    int (*run)(const dctx *x);
    unsigned allowed;
    int min_args, max_args;
    const char *usage;
} dcmd;

#define SOCK_HELP "  --socket PATH  mtd's socket (default $MT_SOCKET, else $STATE_DIR/mtd.sock)\n"

static const dcmd commands[] = {
    {"status", run_status, O_BASE, 0, 0,
     "usage: mtctl status [--socket PATH] [--json]\n"
     "\n"
     "Show the daemon's state as key: value lines: version, pid, uptime, state\n"
     "directory, listen address, DHT nodes, counts of torrents, subscriptions\n"
     "and feeds, transfer rates, push and encrypted-link counters and its\n"
     "public key. --json prints mtd's result object.\n" SOCK_HELP},
    {"add", run_add, O_BASE | O_SAVE | O_PAUSED | O_CATEGORY | O_WAIT, 1, 1,
     "usage: mtctl add URI|FILE.torrent [--save-path DIR] [--paused] [--category C]\n"
     "                 [--wait] [--socket PATH] [--json]\n"
     "\n"
     "Add a torrent to mtd and print its id. A magnet link is sent as it is; a\n"
     "file (at most 16 MiB, '-' for stdin) is read here and sent base64-encoded,\n"
     "so mtd needs no access to your files (one too big for a request, over\n"
     "~750 KiB, is passed by its path instead). A relative --save-path is taken\n"
     "from the current directory.\n"
     "  --wait   poll every 500 ms until the torrent is finished or seeding,\n"
     "           with a progress bar on a terminal; --json then prints the final\n"
     "           torrent object instead of the added one.\n"
     "Exit 1 if mtd refuses (already added, bad input) or the torrent fails.\n" SOCK_HELP},
    {"list", run_list, O_BASE, 0, 0,
     "usage: mtctl list [--socket PATH] [--json]\n"
     "\n"
     "Table of torrents: ID (first 12 digits; any unique prefix of 6 or more\n"
     "works as ID elsewhere), STATE (checking, metadata, downloading, finished,\n"
     "seeding, or paused / error), PROGRESS, DOWN and UP rates, PEERS, NAME.\n"
     "--json prints mtd's {\"torrents\": [...]}.\n" SOCK_HELP},
    {"info", run_info, O_BASE, 1, 1,
     "usage: mtctl info ID [--socket PATH] [--json]\n"
     "\n"
     "Every member of one torrent as key: value lines.\n" SOCK_HELP},
    {"pause", run_pause, O_BASE, 1, 1, "usage: mtctl pause ID [--socket PATH] [--json]\n\nPause a torrent.\n" SOCK_HELP},
    {"resume", run_resume, O_BASE, 1, 1,
     "usage: mtctl resume ID [--socket PATH] [--json]\n\nResume a paused torrent.\n" SOCK_HELP},
    {"remove", run_remove, O_BASE | O_DELETE, 1, 1,
     "usage: mtctl remove ID [--delete-files] [--socket PATH] [--json]\n"
     "\n"
     "Remove a torrent; its files stay unless --delete-files.\n" SOCK_HELP},
    {"files", run_files, O_BASE, 1, 1,
     "usage: mtctl files ID [--socket PATH] [--json]\n"
     "\n"
     "Table of a torrent's files: INDEX SIZE DONE% PRIO PATH. Exit 1 while the\n"
     "torrent has no metadata yet.\n" SOCK_HELP},
    {"publish", run_publish,
     O_BASE | O_FEED | O_TITLE | O_WS | O_INLINE | O_REPLACE | O_INPUT | O_MANIFEST | O_READ_KEY | O_BLOB_WS,
     0, INT_MAX,
     "usage: mtctl publish [--feed NAME] [--title T] [--ws URL]... [--inline] [--replace]\n"
     "                     [--read-key HEX] [--blob-ws URL]...\n"
     "                     (ITEM|FILE... | -i FILE | --manifest FILE) [--socket PATH] [--json]\n"
     "\n"
     "Have mtd sign and publish a feed with its key, and print the address,\n"
     "sequence, mode, feed-index info-hash and how many DHT nodes stored it.\n"
     "ITEMs (magnet links, magnet:?xs=urn:btpk: links, text) are appended to\n"
     "the collection titled T (default \"default\") of the feed's current\n"
     "manifest, or replace every collection with --replace. An argument that\n"
     "names a regular file is encrypted by mtd into blobs, packed into a torrent\n"
     "mtd seeds, and published as a FileEntry (mtd must be able to read it).\n"
     "-i FILE reads one item per line ('-' is stdin; blank lines skipped).\n"
     "--manifest FILE publishes a signed manifest as it is (its key must be\n"
     "mtd's); it is checked here first: exit 2 if it is not JSON, 1 if it\n"
     "breaks a rule.\n"
     "  --feed NAME     which feed (the DHT salt); default the unnamed feed\n"
     "  --ws URL        web seed for the feed-index torrent (repeatable)\n"
     "  --inline        put the manifest itself in the DHT (up to 1000 bytes)\n"
     "  --read-key HEX  seal the manifest (a private feed; remembered by mtd);\n"
     "                  subscribers use megatorrent://PUBKEY:HEX (unnamed feed)\n"
     "  --blob-ws URL   web seed for the pack of FILEs, ending in '/'\n"
     "Waits for the DHT put (up to 120 s; up to an hour when FILEs are given).\n" SOCK_HELP},
    {"feeds", run_feeds, O_BASE, 0, 0,
     "usage: mtctl feeds [--socket PATH] [--json]\n"
     "\n"
     "Table of the feeds this daemon publishes: NAME SEQ ITEMS MODE LAST-PUT\n"
     "ADDRESS.\n" SOCK_HELP},
    {"subscribe", run_subscribe,
     O_BASE | O_INTERVAL | O_SAVE | O_INCLUDE | O_EXCLUDE | O_CATEGORY | O_PAUSED | O_MAX_ITEMS, 1, 1,
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
     "  --max-items N  take at most N items\n" SOCK_HELP},
    {"subscriptions", run_subscriptions, O_BASE, 0, 0,
     "usage: mtctl subscriptions [--socket PATH] [--json]\n"
     "\n"
     "Table of subscriptions: ID SEQ ITEMS LAST-POLL ERROR ADDRESS (the address\n"
     "is shortened when standard output is a terminal).\n" SOCK_HELP},
    {"unsubscribe", run_unsubscribe, O_BASE, 1, 1,
     "usage: mtctl unsubscribe ID|ADDRESS [--socket PATH] [--json]\n"
     "\n"
     "Stop following a feed. The torrents it added stay.\n" SOCK_HELP},
    {"sync", run_sync, O_BASE | O_WAIT | O_TIMEOUT, 0, 1,
     "usage: mtctl sync [ID|ADDRESS] [--wait] [--timeout SECONDS] [--socket PATH] [--json]\n"
     "\n"
     "Poll one subscription, or all, now; print how many polls started.\n"
     "  --wait       wait until each started poll is checked, printing each new\n"
     "               item (+ NAME), then until the torrents they added finish\n"
     "               (progress bar on a terminal). --json then prints one\n"
     "               summary {ok, started, checked, items, torrents}.\n"
     "  --timeout S  give up after S seconds (default 600)\n"
     "Exit 1 if a feed reported an error or was rejected, or on timeout.\n" SOCK_HELP},
    {"resolve", run_resolve, O_BASE | O_TIMEOUT | O_BOOTSTRAP | O_LISTEN, 1, 1,
     "usage: mtctl resolve ADDRESS [--timeout SECONDS] [--socket PATH] [--json]\n"
     "       mtctl resolve ADDRESS [--timeout SECONDS] --bootstrap HOST:PORT [--listen ADDR:PORT]\n"
     "\n"
     "Fetch a feed's latest manifest without subscribing and print its sequence,\n"
     "mode, index info-hash and the items of each collection. The lookup runs in\n"
     "mtd; when no daemon answers, or with --bootstrap or --listen, it runs in\n"
     "mtctl itself with a read-only DHT node of its own.\n"
     "  -t, --timeout S   how long the lookup may take (default 60 s)\n"
     "  -b, --bootstrap HOST:PORT  DHT node to join through (own lookup only)\n"
     "  -l, --listen ADDR:PORT     where to listen (own lookup only)\n" SOCK_HELP},
    {"watch", run_watch, O_BASE, 0, 0,
     "usage: mtctl watch [--socket PATH] [--json]\n"
     "\n"
     "Print mtd's events as they happen, one line each: local time, type and\n"
     "members (item.added, feed.checked, torrent.finished, ...), until Ctrl-C\n"
     "(exit 0) or until mtd goes away (exit 1). With --json every event is one\n"
     "compact JSON object per line: the one exception to \"one JSON document\".\n" SOCK_HELP},
    {"shutdown", run_shutdown, O_BASE, 0, 0,
     "usage: mtctl shutdown [--socket PATH] [--json]\n"
     "\n"
     "Ask mtd to save its state and exit.\n" SOCK_HELP},
};

static const dcmd *find_command(const char *word)
{
    for (size_t i = 0; word && i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, word))
            return &commands[i];
    return NULL;
}

int daemon_command_known(const char *word)
{
    return find_command(word) != NULL;
}

int cmd_daemon(int argc, char **argv)
{
    const dcmd *cmd = find_command(argc > 0 ? argv[0] : NULL);
    struct sigaction sa;
    dctx x;
    int rc;

    if (!cmd)
        return fail(EXIT_USAGE, "unknown command '%s' (see mtctl --help)", argc > 0 ? argv[0] : "");
    if ((rc = parse_options(argc, argv, cmd->allowed, cmd->usage, &x.o)) != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    x.argc = argc - optind;
    x.argv = argv + optind;
    x.full_argc = argc;
    x.full_argv = argv;
    if (x.argc < cmd->min_args || x.argc > cmd->max_args)
        return fail(EXIT_USAGE, "%s takes %s (see mtctl %s --help)", cmd->name,
                    cmd->max_args == 0     ? "no arguments"
                    : cmd->min_args == 1   ? "one argument"
                                           : "at most one argument",
                    cmd->name);
    /* A daemon that goes away mid-write must give an error, not kill us. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (sodium_init() < 0)
        return fail(EXIT_LOCAL, "libsodium failed to start");
    return cmd->run(&x);
}
