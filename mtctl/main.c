/*
 * main.c - mtctl: the command table, the global options, dispatch.
 *
 * Every command is one row of the table below (git's command table is the
 * model); a group (key, manifest, dht, blob, wire) has a table of its own.
 * mtctl --help is printed from the rows, so it lists what exists.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "mtctl.h"

/* Which global options a command takes, and where --help lists it. */
enum {
    USE_SOCKET = 1 << 0,
    USE_BOOTSTRAP = 1 << 1,
    USE_LISTEN = 1 << 2,
    USE_TIMEOUT = 1 << 3,
    USE_NET = USE_BOOTSTRAP | USE_LISTEN | USE_TIMEOUT,
    DAEMON = 1 << 4, /* talks to mtd: listed under "Daemon commands" */
};

typedef struct cmd_struct {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is name; NULL for a group */
    const char *args;                 /* synopsis after the name ("" for none) */
    const char *summary;              /* one line for mtctl --help */
    unsigned flags;                   /* USE_*, DAEMON */
    const struct cmd_struct *sub;     /* a group's commands, up to {NULL} */
    const char *usage;                /* a group's help: mtctl GROUP --help */
} cmd_struct;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cmd_struct key_cmds[] = {
    {"generate", cmd_key_generate, "[-o FILE] [--force] [--encrypt]",
     "make an Ed25519 identity (reference key-file format)", 0, NULL, NULL},
    {"show", cmd_key_show, "[-k FILE] [--salt NAME]", "public key, transport key and feed address", 0, NULL, NULL},
    {"import", cmd_key_import, "FILE [-o DEST] [--encrypt]", "store a key file from elsewhere as the default key", 0,
     NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const cmd_struct manifest_cmds[] = {
    {"create", cmd_manifest_create,
     "[-k KEY] [--title T] [--seq N] [--read-key HEX]\n"
     "                  (ITEM...|-i FILE)",
     "sign a manifest of magnet links, feeds, files, text", 0, NULL, NULL},
    {"verify", cmd_manifest_verify, "[--key ADDRESS] [--min-seq N] FILE", "check a manifest against every rule", 0,
     NULL, NULL},
    {"show", cmd_manifest_show, "FILE", "verify, then print it as a table", 0, NULL, NULL},
    {"diff", cmd_manifest_diff, "OLD NEW", "the items added and removed", 0, NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const cmd_struct dht_cmds[] = {
    {"put", cmd_dht_put, "(-k KEYFILE [--salt S] [--seq N] | --immutable) [--bencoded] VALUE",
     "store a BEP-44 item", USE_NET, NULL, NULL},
    {"get", cmd_dht_get, "(PUBKEY_HEX [--salt S] | --immutable TARGET_HEX)", "look a BEP-44 item up", USE_NET, NULL,
     NULL},
    {"announce", cmd_dht_announce, "INFOHASH_HEX [--port P]", "announce a peer (BEP-5)", USE_NET, NULL, NULL},
    {"peers", cmd_dht_peers, "INFOHASH_HEX", "the peers of an info-hash", USE_NET, NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const cmd_struct blob_cmds[] = {
    {"ingest", cmd_blob_ingest, "[-d DIR] [--pack [--ws URL]...] [--no-pad] [-o ENTRY.json] FILE...",
     "encrypt files into blobs; print their FileEntries", 0, NULL, NULL},
    {"reassemble", cmd_blob_reassemble, "ENTRY.json [-d DIR] [-o OUT] [--force]",
     "rebuild files from blobs at hand", 0, NULL, NULL},
    {"fetch", cmd_blob_fetch,
     "ENTRY.json [-o OUT] [--peer HOST:PORT]... [--local] [-d BLOBDIR]\n"
     "             [--dht-node HOST:PORT]... [--listen ADDR:PORT] [--timeout S]",
     "get the blobs and rebuild the file (in mtd, or here)", USE_SOCKET | USE_LISTEN | USE_TIMEOUT, NULL, NULL},
    {"store", cmd_blob_store, "[-d DIR] [--local]", "blobs, bytes, pins and cap of a blob store", USE_SOCKET, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const cmd_struct wire_cmds[] = {
    {"serve", cmd_wire_serve, "[-d DIR] [--listen ADDR:PORT] [--max-conns N] [--max-per-ip N]",
     "serve a blob directory over mt-wire", USE_LISTEN, NULL, NULL},
    {"get", cmd_wire_get, "--peer HOST:PORT BLOB_ID [-o FILE]", "fetch one blob and check it against its id",
     USE_TIMEOUT, NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const cmd_struct commands[] = {
    {"testnet", cmd_testnet, "[--nodes N] [--seconds S] [--address A]",
     "run a loopback DHT network and print its endpoints", 0, NULL, NULL},
    {"key", NULL, NULL, NULL, 0, key_cmds, key_usage},
    {"manifest", NULL, NULL, NULL, 0, manifest_cmds, manifest_usage},
    {"dht", NULL, NULL, NULL, 0, dht_cmds, dht_usage},
    {"blob", NULL, NULL, NULL, 0, blob_cmds, blob_usage},
    {"wire", NULL, NULL, NULL, 0, wire_cmds, wire_usage},
    {"help", cmd_help, "", "this list (mtctl COMMAND --help: one command's)", 0, NULL, NULL},
    {"version", cmd_version, "", "the versions of mtctl, libmegatorrent and libtorrent", 0, NULL, NULL},
    {"status", cmd_status, "", "the daemon's state", DAEMON | USE_SOCKET, NULL, NULL},
    {"shutdown", cmd_shutdown, "", "ask mtd to save its state and exit", DAEMON | USE_SOCKET, NULL, NULL},
    {"watch", cmd_watch, "", "print mtd's events as they happen", DAEMON | USE_SOCKET, NULL, NULL},
    {"add", cmd_add, "URI|FILE.torrent [--save-path DIR] [--paused] [--category C] [--wait]", "add a torrent",
     DAEMON | USE_SOCKET, NULL, NULL},
    {"list", cmd_list, "", "table of torrents", DAEMON | USE_SOCKET, NULL, NULL},
    {"info", cmd_info, "ID", "every member of one torrent", DAEMON | USE_SOCKET, NULL, NULL},
    {"files", cmd_files, "ID", "table of a torrent's files", DAEMON | USE_SOCKET, NULL, NULL},
    {"pause", cmd_pause, "ID", "pause a torrent", DAEMON | USE_SOCKET, NULL, NULL},
    {"resume", cmd_resume, "ID", "resume a paused torrent", DAEMON | USE_SOCKET, NULL, NULL},
    {"remove", cmd_remove, "ID [--delete-files]", "remove a torrent", DAEMON | USE_SOCKET, NULL, NULL},
    {"publish", cmd_publish,
     "[--feed NAME] [--title T] [--ws URL]... [--inline] [--replace]\n"
     "          (ITEM... | -i FILE | --manifest FILE)",
     "have mtd sign and publish a feed", DAEMON | USE_SOCKET, NULL, NULL},
    {"feeds", cmd_feeds, "", "table of the feeds mtd publishes", DAEMON | USE_SOCKET, NULL, NULL},
    {"subscribe", cmd_subscribe,
     "ADDRESS [--interval S] [--save-path DIR] [--include RE]\n"
     "            [--exclude RE] [--category C] [--paused] [--max-items N]",
     "follow a feed", DAEMON | USE_SOCKET, NULL, NULL},
    {"subscriptions", cmd_subscriptions, "", "table of subscriptions", DAEMON | USE_SOCKET, NULL, NULL},
    {"unsubscribe", cmd_unsubscribe, "ID|ADDRESS", "stop following a feed", DAEMON | USE_SOCKET, NULL, NULL},
    {"sync", cmd_sync, "[ID|ADDRESS] [--wait] [--timeout S]", "poll one subscription, or all, now",
     DAEMON | USE_SOCKET | USE_TIMEOUT, NULL, NULL},
    {"resolve", cmd_resolve, "ADDRESS [--timeout S] [--bootstrap HOST:PORT] [--listen ADDR:PORT]",
     "a feed's latest manifest, without subscribing", DAEMON | USE_SOCKET | USE_NET, NULL, NULL},
    {"demo", cmd_demo, "[--dir DIR] [--keep] [--mtd PATH] [--nodes N]",
     "a guided tour: two daemons on a loopback network", DAEMON, NULL, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static const char usage_head[] =
    "usage: mtctl [--json] [--socket PATH] [--bootstrap HOST:PORT]...\n"
    "             [--listen ADDR:PORT] [--timeout SECONDS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n";

static const char usage_tail[] =
    "\n"
    "Global options, before or after the command (one a command has no use\n"
    "for is ignored; a command's own rules for the value apply):\n"
    "  --json                 print one JSON document on stdout\n"
    "  --socket PATH          mtd's socket (default $MT_SOCKET, else\n"
    "                         $STATE_DIR/mtd.sock)\n"
    "  --bootstrap HOST:PORT  DHT node to join through (repeatable or a comma\n"
    "                         list; default: the Mainline DHT routers)\n"
    "  --listen ADDR:PORT     where a network command listens\n"
    "  --timeout SECONDS      how long a network command may take\n"
    "  -h, --help             show this help (also: mtctl COMMAND --help)\n"
    "  -V, --version\n"
    "\n"
    "Exit status: 0 ok, 1 operation failed (not found, stale, timed out),\n"
    "2 usage error, 3 local error (files, keys, engine). See mtctl(1).\n";

#define SUMMARY_COL 23 /* where the summaries start in mtctl --help */

/* "  key generate [-o FILE] ...", then the summary at SUMMARY_COL, on the
 * same line when there is room. */
static void print_row(FILE *f, const char *group, const cmd_struct *c)
{
    int n = fprintf(f, "  %s%s%s%s%s", group ? group : "", group ? " " : "", c->name, c->args[0] ? " " : "", c->args);
    if (strchr(c->args, '\n') || n > SUMMARY_COL - 2)
        fprintf(f, "\n%*s%s\n", SUMMARY_COL, "", c->summary);
    else
        fprintf(f, "%*s%s\n", SUMMARY_COL - n, "", c->summary);
}

static void print_usage(FILE *f)
{
    int daemon_head = 0;
    fputs(usage_head, f);
    for (const cmd_struct *c = commands; c->name; c++) {
        if ((c->flags & DAEMON) && !daemon_head++)
            fputs("\nDaemon commands (talk to a running mtd; --socket PATH or MT_SOCKET):\n", f);
        if (!c->sub) {
            print_row(f, NULL, c);
            continue;
        }
        for (const cmd_struct *s = c->sub; s->name; s++)
            print_row(f, c->name, s);
    }
    fputs(usage_tail, f);
}

static void print_version(void)
{
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "mtctl", PACKAGE_VERSION);
        cJSON_AddStringToObject(doc, "libmegatorrent", mt_version());
        cJSON_AddStringToObject(doc, "libtorrent", mt_engine_version());
        emit_json(doc);
    } else {
        printf("mtctl (megatorrent) %s\nlibmegatorrent %s, libtorrent %s\n", PACKAGE_VERSION, mt_version(),
               mt_engine_version());
    }
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    print_usage(stdout);
    return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    print_version();
    return EXIT_OK;
}

static const cmd_struct *find_cmd(const cmd_struct *table, const char *name)
{
    for (const cmd_struct *c = table; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

/* ========================================================= global options */

#define GLOBAL_BOOT_MAX 16

/* The global options given before the command. --json goes straight to
 * g_out; the others are handed to the command's own parser (see run). */
typedef struct globals {
    const char *socket, *listen, *timeout;
    const char *bootstrap[GLOBAL_BOOT_MAX];
    int n_boot;
} globals;

enum { G_SOCKET = 256, G_BOOTSTRAP, G_LISTEN, G_TIMEOUT };

/* Parse the options before the command word; optind then points at it.
 * 0, -1 when --help or --version was answered, or an exit code. */
static int parse_globals(int argc, char **argv, globals *g)
{
    static const struct option opts[] = {
        OPT_JSON,
        {"socket", required_argument, NULL, G_SOCKET},
        {"bootstrap", required_argument, NULL, G_BOOTSTRAP},
        {"listen", required_argument, NULL, G_LISTEN},
        {"timeout", required_argument, NULL, G_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(g, 0, sizeof *g);
    /* '+': stop at the command word; the command parses the rest. ':'
     * tells a missing value apart from an unknown option. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (c) {
        case 0: break; /* OPT_JSON */
        case G_SOCKET: g->socket = optarg; break;
        case G_LISTEN: g->listen = optarg; break;
        case G_TIMEOUT: g->timeout = optarg; break;
        case G_BOOTSTRAP:
            if (g->n_boot == GLOBAL_BOOT_MAX)
                return fail(EXIT_USAGE, "at most %d --bootstrap options", GLOBAL_BOOT_MAX);
            g->bootstrap[g->n_boot++] = optarg;
            break;
        case 'h': print_usage(stdout); return -1;
        case 'V': print_version(); return -1;
        case ':': return fail(EXIT_USAGE, "option '%s' needs a value (see mtctl --help)", argv[optind - 1]);
        default: return fail(EXIT_USAGE, "unknown option '%s' (see mtctl --help)", argv[optind - 1]);
        }
    }
    return EXIT_OK;
}

/*
 * Run c with argv (argv[0] its name). The global options it takes go in
 * right after its name, as if typed first among its own options: each
 * command keeps its own rules for them (dht's --timeout is 1-3600 s,
 * sync's up to a week) and one given after the command still wins.
 */
static int run(const cmd_struct *c, const globals *g, int argc, char **argv)
{
    char **av = malloc(((size_t)argc + 7 + 2 * GLOBAL_BOOT_MAX) * sizeof *av);
    int ac = 0, rc;
    if (!av)
        return fail(EXIT_LOCAL, "out of memory");
    av[ac++] = argv[0];
    if ((c->flags & USE_SOCKET) && g->socket) {
        av[ac++] = "--socket";
        av[ac++] = (char *)g->socket;
    }
    for (int i = 0; (c->flags & USE_BOOTSTRAP) && i < g->n_boot; i++) {
        av[ac++] = "--bootstrap";
        av[ac++] = (char *)g->bootstrap[i];
    }
    if ((c->flags & USE_LISTEN) && g->listen) {
        av[ac++] = "--listen";
        av[ac++] = (char *)g->listen;
    }
    if ((c->flags & USE_TIMEOUT) && g->timeout) {
        av[ac++] = "--timeout";
        av[ac++] = (char *)g->timeout;
    }
    for (int i = 1; i < argc; i++)
        av[ac++] = argv[i];
    av[ac] = NULL;
    optind = 0; /* full reset for the command's own getopt_long */
    rc = c->fn(ac, av);
    free(av);
    return rc;
}

/* "generate, show, import" for an unknown subcommand's message. */
static void list_names(const cmd_struct *table, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const cmd_struct *c = table; c->name && used < cap; c++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", c->name);
}

/* argv[0] names a group: find its command in argv[1]. */
static int run_group(const cmd_struct *grp, const globals *g, int argc, char **argv)
{
    const cmd_struct *c;
    char names[256];
    if (argc < 2) {
        fputs(grp->usage, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(grp->usage, stdout);
        return EXIT_OK;
    }
    if (!(c = find_cmd(grp->sub, argv[1]))) {
        list_names(grp->sub, names, sizeof names);
        return fail(EXIT_USAGE, "unknown %s command '%s' (try: %s; see mtctl %s --help)", grp->name, argv[1], names,
                    grp->name);
    }
    return run(c, g, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    const cmd_struct *c;
    globals g;
    int rc = parse_globals(argc, argv, &g);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind >= argc) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    if (!(c = find_cmd(commands, argv[0])))
        return fail(EXIT_USAGE, "unknown command '%s' (see mtctl --help)", argv[0]);
    /* Key files, blobs and the RPC client all use libsodium. */
    if (sodium_init() < 0)
        return fail(EXIT_LOCAL, "libsodium failed to start");
    return c->sub ? run_group(c, &g, argc, argv) : run(c, &g, argc, argv);
}
