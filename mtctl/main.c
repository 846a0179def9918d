/* main.c - mtctl: dispatch, shared output and network helpers. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mt_testnet.h"
#include "mtctl.h"
#include "cmd_daemon.h"

int g_json = 0;
const char *g_prog = "mtctl";

static const char usage_text[] =
    "usage: mtctl [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  testnet [--nodes N] [--seconds S] [--address A]\n"
    "                       run a loopback DHT network and print its endpoints\n"
    "  key generate [-o FILE] [--force] [--encrypt]\n"
    "                       make an Ed25519 identity (reference key-file format)\n"
    "  key show [-k FILE] [--salt NAME]\n"
    "                       public key, transport key and feed address\n"
    "  key import FILE [-o DEST] [--encrypt]\n"
    "                       store a key file from elsewhere as the default key\n"
    "  manifest create [-k KEY] [--title T] [--seq N] [--read-key HEX] (ITEM...|-i FILE)\n"
    "                       sign a manifest of magnet links, feeds, files, text\n"
    "  manifest verify [--key ADDRESS] [--min-seq N] FILE\n"
    "  manifest show FILE | manifest diff OLD NEW\n"
    "  dht put -k KEYFILE [--salt S] [--seq N] [--bencoded] VALUE\n"
    "  dht put --immutable [--bencoded] VALUE\n"
    "  dht get PUBKEY_HEX [--salt S]\n"
    "  dht get --immutable TARGET_HEX\n"
    "  dht announce INFOHASH_HEX [--port P]\n"
    "  dht peers INFOHASH_HEX\n"
    "  blob ingest [-d DIR] [--pack [--ws URL]...] [--no-pad] [-o ENTRY.json] FILE...\n"
    "  blob reassemble ENTRY.json [-d DIR] [-o OUT] [--force]\n"
    "  blob fetch ENTRY.json [-o OUT] [--peer HOST:PORT]... [--local] [-d BLOBDIR]\n"
    "             [--dht-node HOST:PORT]... [--listen ADDR:PORT] [--timeout S]\n"
    "  blob store [-d DIR] [--local]\n"
    "                       encrypted blobs: make, rebuild, fetch (in mtd or here)\n"
    "  wire serve [-d DIR] [--listen ADDR:PORT] [--max-conns N] [--max-per-ip N]\n"
    "  wire get --peer HOST:PORT BLOB_ID [-o FILE]\n"
    "                       the mt-wire blob transport: serve a folder, get a blob\n"
    "\n";

static const char usage_tail[] =
    "Network commands also take --bootstrap HOST:PORT (repeatable or a comma\n"
    "list; default: the Mainline DHT routers), --listen ADDR:PORT and\n"
    "--timeout SECONDS.\n"
    "\n"
    "Options:\n"
    "  --json       print one JSON document on stdout\n"
    "  -h, --help   show this help (also: mtctl COMMAND --help)\n"
    "  -V, --version\n"
    "\n"
    "Exit status: 0 ok, 1 operation failed (not found, stale, timed out),\n"
    "2 usage error, 3 local error (files, keys, engine). See mtctl(1).\n";

/* Offline commands, the daemon commands, then the shared options. */
static void print_usage(FILE *f)
{
    fputs(usage_text, f);
    fputs(daemon_usage_summary, f);
    fputs("\n", f);
    fputs(usage_tail, f);
}

int fail(int exit_code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *e = cJSON_AddObjectToObject(doc, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddNumberToObject(e, "exit_code", exit_code);
        emit_json(doc);
    } else {
        fprintf(stderr, "%s: %s\n", g_prog, msg);
    }
    return exit_code;
}

int exit_for(int mt_code)
{
    switch (mt_code) {
    case MT_OK:
        return EXIT_OK;
    case MT_ENOTFOUND:
    case MT_ESTALE:
    case MT_ETIMEDOUT:
    case MT_ECRYPTO:
    case MT_ETOOBIG:
    case MT_EINVAL:
        return EXIT_FAILED;
    default:
        return EXIT_LOCAL;
    }
}

void emit_json(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
    cJSON_Delete(doc);
}

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

int net_add_bootstrap(net_opts *o, const char *arg)
{
    size_t have = strlen(o->bootstrap), add = strlen(arg);
    if (add == 0 || have + add + 2 > sizeof o->bootstrap)
        return -1;
    if (have)
        o->bootstrap[have++] = ',';
    memcpy(o->bootstrap + have, arg, add + 1);
    return 0;
}

/* 1 if every HOST in a comma list of HOST:PORT is in 127.0.0.0/8. */
static int all_loopback(const char *list)
{
    char buf[4096], *save = NULL, *tok;
    int any = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (colon)
            *colon = '\0';
        if (!mt_addr_is_loopback(tok))
            return 0;
        any = 1;
    }
    return any;
}

int net_open(const net_opts *o, mt_session **out)
{
    mt_session_config cfg;
    mt_error err;
    int rc, loop = o->bootstrap[0] && all_loopback(o->bootstrap);
    char listen_host[64] = "";

    if (o->listen) {
        const char *colon = strrchr(o->listen, ':');
        size_t n = colon ? (size_t)(colon - o->listen) : 0;
        if (!colon || n == 0 || n >= sizeof listen_host || parse_count(colon + 1, 65535) < 0)
            return fail(EXIT_USAGE, "--listen wants ADDR:PORT, not '%s'", o->listen);
        memcpy(listen_host, o->listen, n);
        listen_host[n] = '\0';
        loop = mt_addr_is_loopback(listen_host);
    }
    if (loop) {
        mt_session_config_init_loopback(&cfg, o->listen ? o->listen : "127.0.0.1:0");
        cfg.outgoing_interfaces = o->listen ? listen_host : "127.0.0.1";
    } else {
        mt_session_config_init(&cfg);
        cfg.listen_interfaces = o->listen ? o->listen : "0.0.0.0:0,[::]:0";
        /* A one-shot command should not touch the router's port mappings. */
        cfg.enable_upnp = 0;
        cfg.enable_natpmp = 0;
        cfg.enable_lsd = 0;
    }
    if (o->bootstrap[0])
        cfg.dht_nodes = o->bootstrap;
    /* BEP-43 read-only: a one-shot process should not become a dead entry
     * in other nodes' routing tables once it exits. */
    cfg.dht_read_only = 1;
    rc = mt_session_new(&cfg, out, &err);
    if (rc)
        return fail(rc == MT_EINVAL ? EXIT_USAGE : EXIT_LOCAL, "cannot start a session: %s", err.message);
    rc = mt_dht_wait_nodes(*out, 1, o->timeout_ms, &err);
    if (rc) {
        mt_session_free(*out);
        *out = NULL;
        return fail(EXIT_FAILED, "could not join the DHT%s%s: %s", o->bootstrap[0] ? " via " : "",
                    o->bootstrap, err.message);
    }
    return EXIT_OK;
}

static void print_version(void)
{
    if (g_json) {
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

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    const char *cmd;

    /* '+': stop at the command word; the command parses the rest. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            g_json = 1;
            break;
        case 'h':
            print_usage(stdout);
            return EXIT_OK;
        case 'V':
            print_version();
            return EXIT_OK;
        default:
            return fail(EXIT_USAGE, "unknown option '%s' (see mtctl --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0; /* full reset for the command's own getopt_long */
    if (!strcmp(cmd, "key"))
        return cmd_key(argc, argv);
    if (!strcmp(cmd, "demo"))
        return cmd_demo(argc, argv);
    if (daemon_command_known(cmd))
        return cmd_daemon(argc, argv);
    if (!strcmp(cmd, "manifest"))
        return cmd_manifest(argc, argv);
    if (!strcmp(cmd, "dht"))
        return cmd_dht(argc, argv);
    if (!strcmp(cmd, "testnet"))
        return cmd_testnet(argc, argv);
    if (!strcmp(cmd, "blob"))
        return cmd_blob(argc, argv);
    if (!strcmp(cmd, "wire"))
        return cmd_wire(argc, argv);
    if (!strcmp(cmd, "help")) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "version")) {
        print_version();
        return EXIT_OK;
    }
    return fail(EXIT_USAGE, "unknown command '%s' (see mtctl --help)", cmd);
}
