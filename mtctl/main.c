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

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        OPT_JSON,
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
        case 0: /* OPT_JSON */
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
