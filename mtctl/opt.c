/*
 * opt.c - mtctl: option values, and the one parser of the daemon
 * commands' options (each command lists the ones it takes as a bit set).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "mtctl.h"

#define OPT_VAL(i) (1000 + (i)) /* getopt_long's value for option index i */

long long parse_count(const char *s, long long max)
{
    char *end = NULL;
    long long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < 0 || v > max)
        return -1;
    return v;
}

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

int dc_main(int argc, char **argv, unsigned allowed, int min_args, int max_args, const char *usage,
            int (*run)(const dctx *x))
{
    struct sigaction sa;
    dctx x;
    int rc;

    if ((rc = parse_options(argc, argv, allowed, usage, &x.o)) != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    x.argc = argc - optind;
    x.argv = argv + optind;
    x.full_argc = argc;
    x.full_argv = argv;
    if (x.argc < min_args || x.argc > max_args)
        return fail(EXIT_USAGE, "%s takes %s (see mtctl %s --help)", argv[0],
                    max_args == 0   ? "no arguments"
                    : min_args == 1 ? "one argument"
                                    : "at most one argument",
                    argv[0]);
    /* A daemon that goes away mid-write must give an error, not kill us. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return run(&x);
}
