/*
 * cmd_torrent.c - mtctl add, list, info, files, pause, resume, remove: the
 * torrents of a running mtd.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"
#include "mtctl.h"

#define TORRENT_FILE_MAX (16u * 1024 * 1024) /* .torrent files we read */

/* pause, resume, remove: {id[, delete_files]} -> {}. */
static int run_torrent_op(const dctx *x, const char *method, const char *done)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc;
    cJSON_AddStringToObject(p, "id", x->argv[0]);
    if (x->o.delete_files)
        cJSON_AddBoolToObject(p, "delete_files", 1);
    if ((rc = dc_call_once(x->o.socket, method, p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
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
    if ((rc = dc_call_once(x->o.socket, "torrent.info", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    return dc_show_result(r, NULL);
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
        rc = dc_add_save_path(p, o->save_path);
    if (rc == EXIT_OK && o->paused)
        cJSON_AddBoolToObject(p, "paused", 1);
    if (rc == EXIT_OK && o->category)
        cJSON_AddStringToObject(p, "category", o->category);
    if (rc != EXIT_OK || (rc = dc_connect(o->socket, &c)) != EXIT_OK) {
        cJSON_Delete(p);
        return rc;
    }
    if ((rc = dc_call(c, "torrent.add", p, DC_CALL_TIMEOUT_MS * 2, &r)) != EXIT_OK)
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
    if ((rc = dc_wait_torrents(c, ids, 1, objs, 0)) != EXIT_OK)
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
    int rc = dc_call_once(x->o.socket, "torrent.list", NULL, DC_CALL_TIMEOUT_MS, &r);
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
    if ((rc = dc_call_once(x->o.socket, "torrent.files", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
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
        dc_format_number(dc_num(f, "index", 0), idx, sizeof idx);
        human_bytes(sz, size, sizeof size);
        snprintf(done, sizeof done, "%.1f%%", sz > 0 ? dc_num(f, "downloaded", 0) * 100 / sz : 100.0);
        dc_format_number(dc_num(f, "priority", 0), prio, sizeof prio);
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

static const char add_usage[] =
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
    "Exit 1 if mtd refuses (already added, bad input) or the torrent fails.\n" DC_SOCK_HELP;

int cmd_add(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_SAVE | O_PAUSED | O_CATEGORY | O_WAIT, 1, 1, add_usage, run_add);
}

static const char list_usage[] =
    "usage: mtctl list [--socket PATH] [--json]\n"
    "\n"
    "Table of torrents: ID (first 12 digits; any unique prefix of 6 or more\n"
    "works as ID elsewhere), STATE (checking, metadata, downloading, finished,\n"
    "seeding, or paused / error), PROGRESS, DOWN and UP rates, PEERS, NAME.\n"
    "--json prints mtd's {\"torrents\": [...]}.\n" DC_SOCK_HELP;

int cmd_list(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 0, 0, list_usage, run_list);
}

static const char info_usage[] =
    "usage: mtctl info ID [--socket PATH] [--json]\n"
    "\n"
    "Every member of one torrent as key: value lines.\n" DC_SOCK_HELP;

int cmd_info(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 1, 1, info_usage, run_info);
}

static const char files_usage[] =
    "usage: mtctl files ID [--socket PATH] [--json]\n"
    "\n"
    "Table of a torrent's files: INDEX SIZE DONE% PRIO PATH. Exit 1 while the\n"
    "torrent has no metadata yet.\n" DC_SOCK_HELP;

int cmd_files(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 1, 1, files_usage, run_files);
}

static const char pause_usage[] =
    "usage: mtctl pause ID [--socket PATH] [--json]\n\nPause a torrent.\n" DC_SOCK_HELP;

int cmd_pause(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 1, 1, pause_usage, run_pause);
}

static const char resume_usage[] =
    "usage: mtctl resume ID [--socket PATH] [--json]\n\nResume a paused torrent.\n" DC_SOCK_HELP;

int cmd_resume(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE, 1, 1, resume_usage, run_resume);
}

static const char remove_usage[] =
    "usage: mtctl remove ID [--delete-files] [--socket PATH] [--json]\n"
    "\n"
    "Remove a torrent; its files stay unless --delete-files.\n" DC_SOCK_HELP;

int cmd_remove(int argc, char **argv)
{
    return dc_main(argc, argv, O_BASE | O_DELETE, 1, 1, remove_usage, run_remove);
}
