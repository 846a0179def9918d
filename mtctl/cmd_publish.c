/*
 * cmd_publish.c - mtctl publish and feeds: the feeds a running mtd signs
 * and puts in the DHT.
 */
#define _XOPEN_SOURCE 700 /* realpath, and POSIX 2008 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "mt_json.h"
#include "mt_manifest.h"

#include "client.h"
#include "mtctl.h"

#define ITEMS_FILE_MAX (16u * 1024 * 1024) /* publish -i FILE */

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
    if ((rc = dc_call_once(x->o.socket, "feed.publish", p, timeout, &r)) != EXIT_OK)
        return rc;
    return dc_show_result(r, keys);
}

static int run_feeds(const dctx *x)
{
    static const char *const head[] = {"NAME", "SEQ", "ITEMS", "MODE", "LAST-PUT", "ADDRESS"};
    cJSON *r = NULL, *f;
    table tb;
    int rc = dc_call_once(x->o.socket, "feed.list", NULL, DC_CALL_TIMEOUT_MS, &r);
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
        dc_format_number(dc_num(f, "seq", 0), seq, sizeof seq);
        dc_format_number(dc_num(f, "items", 0), items, sizeof items);
        dc_format_age(dc_num(f, "last_put_ms", 0), put, sizeof put);
        if (rc == EXIT_OK && table_add(&tb, row) != 0)
            rc = fail(EXIT_LOCAL, "out of memory");
    }
    if (rc == EXIT_OK)
        table_print(&tb);
    table_free(&tb);
    cJSON_Delete(r);
    return rc;
}

/* ============================================================ entries */

static const char publish_usage[] =
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
    "Waits for the DHT put (up to 120 s; up to an hour when FILEs are given).\n" DC_SOCK_HELP;

int cmd_publish(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_FEED | O_TITLE | O_WS | O_INLINE | O_REPLACE | O_INPUT | O_MANIFEST | O_READ_KEY | O_BLOB_WS, 0, INT_MAX, publish_usage, run_publish);
}

static const char feeds_usage[] =
    "usage: mtctl feeds [--socket PATH] [--json]\n"
    "\n"
    "Table of the feeds this daemon publishes: NAME SEQ ITEMS MODE LAST-PUT\n"
    "ADDRESS.\n" DC_SOCK_HELP;

int cmd_feeds(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, feeds_usage, run_feeds);
}
