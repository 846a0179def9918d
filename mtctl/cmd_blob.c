/*
 * cmd_blob.c - mtctl blob ingest | reassemble | fetch | store, and
 * mtctl wire serve | get: encrypted blobs (mt_blob.h), the blob store
 * (mt_blobstore.h), packs and fetches (mt_blobswarm.h) and the mt-wire
 * transport (mt_wire.h).
 *
 * blob fetch and blob store ask a running mtd when one answers on its
 * socket (RPC blob.fetch / blob.fetches / blob.store) and otherwise do the
 * work here, fetch with a libtorrent session of its own.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"
#include "mt_blob.h"
#include "mt_blobstore.h"
#include "mt_blobswarm.h"
#include "mt_testnet.h"
#include "mt_wire.h"
#include "mtctl.h"
#include "rpc_client.h"

#define PEER_MAX 64          /* --peer options */
#define FETCH_POLL_MS 300    /* blob.fetches polling period */
#define FETCH_TIMEOUT_S 300  /* default --timeout of blob fetch: no progress this long */
#define WIRE_GET_TIMEOUT_S 30
#define BAR_DELAY_MS 300     /* draw a progress bar only for work that takes longer */

/* ================================================================ helpers */

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* SIGINT/SIGTERM set g_stop (no SA_RESTART: waits end early); SIGPIPE is
 * ignored so a peer or daemon that goes away gives an error, not death. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* "blob ingest: unknown option '-x' (see mtctl blob ingest --help)". */
static int bad_option(const char *who, char **argv, int c)
{
    char opt[64];
    const char *last = optind > 0 ? argv[optind - 1] : "";
    if (!strncmp(last, "--", 2)) /* a long option, without any =VALUE */
        snprintf(opt, sizeof opt, "%.*s", (int)strcspn(last, "="), last);
    else if (optopt > 0 && optopt < 256 && optopt != '?')
        snprintf(opt, sizeof opt, "-%c", optopt);
    else
        snprintf(opt, sizeof opt, "%s", last);
    if (c == ':')
        return fail(EXIT_USAGE, "%s: option '%s' needs a value (see mtctl %s --help)", who, opt, who);
    if (!strncmp(last, "--", 2) && strchr(last, '='))
        return fail(EXIT_USAGE, "%s: option '%s' takes no value, or is unknown (see mtctl %s --help)", who, opt,
                    who);
    return fail(EXIT_USAGE, "%s: unknown option '%s' (see mtctl %s --help)", who, opt, who);
}

/* Exit code for a library error code in these commands: bad or missing
 * blobs, timeouts, refusals are failures (1); files and memory are local (3). */
static int blob_exit(int code)
{
    switch (code) {
    case MT_ENOTFOUND:
    case MT_ECRYPTO:
    case MT_ETIMEDOUT:
    case MT_EEXIST:
    case MT_EINVAL:
    case MT_ETOOBIG:
    case MT_ESTATE:
    case MT_ESTALE:
        return EXIT_FAILED;
    default:
        return EXIT_LOCAL;
    }
}

/* The blob store: $MT_STATE_DIR/blobs, else the default state dir + /blobs
 * (where mtd keeps it unless its blob_dir says otherwise). */
static int store_dir(const char *opt, char *buf, size_t cap)
{
    char state[4096];
    if (opt && opt[0]) {
        if ((size_t)snprintf(buf, cap, "%s", opt) >= cap)
            return fail(EXIT_USAGE, "-d: path too long");
        return EXIT_OK;
    }
    if (default_state_dir(state, sizeof state) != 0 || (size_t)snprintf(buf, cap, "%s/blobs", state) >= cap)
        return fail(EXIT_USAGE, "no blob directory: set MT_STATE_DIR or HOME, or give -d DIR");
    return EXIT_OK;
}

/* $XDG_CACHE_HOME/megatorrent/blobs, else ~/.cache/megatorrent/blobs. */
static int cache_dir(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/megatorrent/blobs", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.cache/megatorrent/blobs", home);
    else
        return fail(EXIT_USAGE, "no cache directory: set XDG_CACHE_HOME or HOME, or give -d BLOBDIR");
    if (n < 0 || (size_t)n >= cap)
        return fail(EXIT_USAGE, "cache directory path too long; give -d BLOBDIR");
    return EXIT_OK;
}

/* mkdir -p dir (new levels 0700), which must end up a directory. */
static int make_dir(const char *dir)
{
    struct stat st;
    int made = make_dirs(dir, 0700);
    if (made != 0 && errno == ENAMETOOLONG)
        return fail(EXIT_USAGE, "%s: path too long", dir);
    if (made != 0 || stat(dir, &st) != 0)
        return fail(EXIT_LOCAL, "cannot create %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(EXIT_LOCAL, "%s is not a directory", dir);
    return EXIT_OK;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "HOST:PORT" or "[V6]:PORT" with a port from 1 (0 too if allow_zero). */
static int hostport_ok(const char *s, int allow_zero)
{
    const char *colon = strrchr(s, ':');
    long long port;
    if (!colon || colon == s)
        return 0;
    if (s[0] == '[' && colon[-1] != ']')
        return 0;
    port = parse_count(colon + 1, 65535);
    return port > 0 || (allow_zero && port == 0);
}

/* The host part of "HOST:PORT" into out ("" on overflow). */
static void host_of(const char *hostport, char *out, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    size_t n = colon ? (size_t)(colon - hostport) : strlen(hostport);
    if (n >= cap)
        n = 0;
    memcpy(out, hostport, n);
    out[n] = '\0';
}

/* Zero every string in a cJSON tree (FileEntries hold keys). */
static void wipe_json(cJSON *j)
{
    for (; j; j = j->next) {
        if (cJSON_IsString(j) && j->valuestring)
            sodium_memzero(j->valuestring, strlen(j->valuestring));
        wipe_json(j->child);
    }
}

static void delete_secret_json(cJSON *j)
{
    wipe_json(j);
    cJSON_Delete(j);
}

/* ========================================================== progress bar */

/* For mt_blob_ingest_file / mt_blob_reassemble: the bar, and Ctrl-C cancels. */
typedef struct bar_ud {
    progress *bar;
    const char *label;
} bar_ud;

static int bar_progress(void *ud, int64_t done, int64_t total)
{
    bar_ud *u = ud;
    progress_show(u->bar, (double)done, (double)total, -1, NULL, u->label);
    return g_stop ? 1 : 0;
}

/* ======================================================== FileEntry I/O */

/*
 * Read ENTRY.json ('-': standard input): one FileEntry object, or an array
 * of them. *list (n entries) is freed with free_entries. *is_array says
 * which form it was. Exit code after printing the error.
 */
static int load_entries(const char *file, mt_fileentry ***list, size_t *n, int *is_array)
{
    const char *path = strcmp(file, "-") ? file : "standard input";
    char *buf = NULL;
    size_t len = 0, count, i = 0;
    mt_error err;
    cJSON *doc, *item;
    mt_fileentry **l;
    int rc;

    *list = NULL;
    *n = 0;
    rc = read_input(file, MT_FILEENTRY_JSON_MAX, &buf, &len, &err);
    if (rc)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    doc = cJSON_ParseWithLength(buf, len);
    sodium_memzero(buf, len);
    free(buf);
    if (!doc)
        return fail(EXIT_USAGE, "%s: not JSON", path);
    if (cJSON_IsObject(doc)) {
        if (cJSON_GetObjectItemCaseSensitive(doc, "collections")) {
            delete_secret_json(doc);
            return fail(EXIT_USAGE, "%s is a manifest, not a FileEntry (or an array of them)", path);
        }
        count = 1;
        *is_array = 0;
    } else if (cJSON_IsArray(doc)) {
        count = (size_t)cJSON_GetArraySize(doc);
        *is_array = 1;
    } else {
        delete_secret_json(doc);
        return fail(EXIT_USAGE, "%s: expected a FileEntry object or an array of them", path);
    }
    if (count == 0) {
        delete_secret_json(doc);
        return fail(EXIT_FAILED, "%s: the array holds no FileEntry", path);
    }
    if (!(l = calloc(count, sizeof *l))) {
        delete_secret_json(doc);
        return fail(EXIT_LOCAL, "out of memory");
    }
    if (*is_array) {
        cJSON_ArrayForEach(item, doc) {
            if ((rc = mt_fileentry_from_cjson(item, &l[i], &err)) != 0)
                break;
            i++;
        }
    } else {
        rc = mt_fileentry_from_cjson(doc, &l[0], &err);
    }
    delete_secret_json(doc);
    if (rc) {
        for (size_t k = 0; k < count; k++)
            mt_fileentry_free(l[k]);
        free(l);
        if (*is_array)
            return fail(blob_exit(rc), "%s: entry %zu: %s", path, i, err.message);
        return fail(blob_exit(rc), "%s: %s", path, err.message);
    }
    *list = l;
    *n = count;
    return EXIT_OK;
}

static void free_entries(mt_fileentry **l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        mt_fileentry_free(l[i]);
    free(l);
}

/* Where an entry's file goes: opt (a file, or an existing directory to put
 * it in under its sanitised name), else ./<sanitised name>. */
static int entry_out_path(const char *opt, const mt_fileentry *fe, char *out, size_t cap)
{
    char name[MT_NAME_MAX + 1];
    mt_filename_sanitize(fe->name, name, sizeof name);
    if (opt && opt[0] && !is_dir(opt)) {
        if ((size_t)snprintf(out, cap, "%s", opt) >= cap)
            return fail(EXIT_USAGE, "-o: path too long");
        return EXIT_OK;
    }
    if ((size_t)snprintf(out, cap, "%s/%s", opt && opt[0] ? opt : ".", name) >= cap)
        return fail(EXIT_USAGE, "output path too long");
    return EXIT_OK;
}

/* ================================================================ ingest */

static const char ingest_usage[] =
    "usage: mtctl blob ingest [-d DIR] [--pack [--ws URL]...] [--no-pad]\n"
    "                         [-o ENTRY.json] [--json] FILE...\n"
    "\n"
    "Encrypt each FILE into blobs: 1 MiB chunks, each padded with random bytes\n"
    "to 1 MiB and sealed (ChaCha20-Poly1305) under a fresh key, stored as\n"
    "DIR/<blob id> (the hex SHA-256 of the blob). Print each file's FileEntry:\n"
    "its name, size and, per chunk, blob id, key and nonce. Anyone with the\n"
    "FileEntry can decrypt the file; anyone with only the blobs learns nothing\n"
    "but their count. One FILE gives one object, several a JSON array; pretty\n"
    "on a terminal, compact otherwise and with --json.\n"
    "  -d, --dir DIR   where blobs go (default: the blob store,\n"
    "                  $MT_STATE_DIR/blobs or ~/.local/state/megatorrent/blobs)\n"
    "  --pack          also make one pack: a v1 torrent \"blobs\" of all the files'\n"
    "                  blobs in random order. Each FileEntry gets its magnet as\n"
    "                  \"swarm\", and the .torrent is written to\n"
    "                  DIR/<info-hash>.torrent. Seed DIR (e.g. with mtd) or serve\n"
    "                  it over HTTP (--ws).\n"
    "  --ws URL        a web seed for the pack (repeatable; must end in '/'): a\n"
    "                  server that serves DIR as URLblobs/, so each blob is at\n"
    "                  URLblobs/<blob id> and the .torrent at\n"
    "                  URLblobs/<info-hash>.torrent\n"
    "  --no-pad        unpadded chunks, as the reference client writes them\n"
    "                  (the last blob then reveals the file's size)\n"
    "  -o FILE         write the FileEntry JSON to FILE (atomically, mode 0600: it\n"
    "                  holds the keys) and print a summary instead (--json still\n"
    "                  prints the JSON)\n"
    "A progress bar is shown on a terminal for files that take a while; Ctrl-C\n"
    "stops (the blobs written so far stay, they are valid). Exit 3 if a FILE\n"
    "cannot be read or DIR written.\n";

int cmd_blob_ingest(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"pack", no_argument, NULL, 'p'},
        {"ws", required_argument, NULL, 'w'},
        {"no-pad", no_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL, *out_file = NULL, *ws[WS_MAX];
    size_t n_ws = 0, nfiles;
    int c, pack = 0, no_pad = 0, rc = EXIT_OK;
    char dir[4096];
    mt_fileentry **fes = NULL;
    mt_error err;
    cJSON *doc = NULL;
    char *magnet = NULL, pack_hex[41] = "", torrent_path[4200] = "";

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir_opt = optarg; break;
        case 'p': pack = 1; break;
        case 'n': no_pad = 1; break;
        case 'o': out_file = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'w':
            if (n_ws == WS_MAX)
                return fail(EXIT_USAGE, "at most %d --ws options", WS_MAX);
            if (!optarg[0] || optarg[strlen(optarg) - 1] != '/')
                return fail(EXIT_USAGE, "--ws '%s' must end in '/' (the pack is served as URLblobs/<blob id>)",
                            optarg);
            ws[n_ws++] = optarg;
            break;
        case 'h': fputs(ingest_usage, stdout); return EXIT_OK;
        default: return bad_option("blob ingest", argv, c);
        }
    }
    if (optind >= argc)
        return fail(EXIT_USAGE, "blob ingest: which FILE? (see mtctl blob ingest --help)");
    if (n_ws && !pack)
        return fail(EXIT_USAGE, "--ws is for the pack: give --pack too");
    nfiles = (size_t)(argc - optind);
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        const char *f = argv[optind + (int)i];
        if (stat(f, &st) != 0)
            return fail(EXIT_LOCAL, "%s: %s", f, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return fail(EXIT_LOCAL, "%s: not a regular file", f);
    }
    if ((rc = store_dir(dir_opt, dir, sizeof dir)) != EXIT_OK || (rc = make_dir(dir)) != EXIT_OK)
        return rc;
    if (!(fes = calloc(nfiles, sizeof *fes)))
        return fail(EXIT_LOCAL, "out of memory");
    catch_stop_signals();

    for (size_t i = 0; i < nfiles; i++) {
        const char *f = argv[optind + (int)i];
        mt_blob_ingest_opts io;
        progress bar;
        char label[160];
        bar_ud ud;
        const char *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        if (nfiles > 1)
            snprintf(label, sizeof label, "%zu/%zu %s", i + 1, nfiles, base);
        else
            snprintf(label, sizeof label, "%s", base);
        progress_init(&bar, BAR_DELAY_MS);
        ud.bar = &bar;
        ud.label = label;
        memset(&io, 0, sizeof io);
        io.no_pad = no_pad;
        io.progress = bar_progress;
        io.ud = &ud;
        int e = mt_blob_ingest_file(f, dir, &io, &fes[i], &err);
        progress_clear(&bar);
        if (e) {
            if (g_stop)
                rc = fail(EXIT_FAILED, "interrupted while ingesting %s (blobs written so far stay in %s)", f, dir);
            else /* unreadable input or unwritable DIR: local; a limit: failed */
                rc = fail(e == MT_ETOOBIG || e == MT_EINVAL ? EXIT_FAILED : EXIT_LOCAL, "%s: %s", f, err.message);
            goto out;
        }
    }

    if (pack) {
        size_t n_ids = 0, k = 0;
        const char **ids;
        uint8_t *torrent = NULL, ih[20];
        size_t tlen = 0;
        for (size_t i = 0; i < nfiles; i++)
            n_ids += fes[i]->n_chunks;
        if (n_ids == 0) {
            rc = fail(EXIT_FAILED, "nothing to pack: the files are empty");
            goto out;
        }
        if (!(ids = malloc(n_ids * sizeof *ids))) {
            rc = fail(EXIT_LOCAL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nfiles; i++)
            for (size_t j = 0; j < fes[i]->n_chunks; j++)
                ids[k++] = fes[i]->chunks[j].blob_id;
        int e = mt_pack_create(dir, ids, n_ids, 1, ws, n_ws, &torrent, &tlen, &magnet, ih, &err);
        free(ids);
        if (e) {
            rc = fail(blob_exit(e), "cannot make the pack: %s", err.message);
            goto out;
        }
        mt_hex_encode(ih, 20, pack_hex);
        snprintf(torrent_path, sizeof torrent_path, "%s/%s.torrent", dir, pack_hex);
        /* With web seeds mt_pack_create wrote it already; we always want it. */
        e = n_ws ? MT_OK : mt_file_write_atomic(torrent_path, torrent, tlen, 0644, 1, &err);
        mt_free(torrent);
        if (e) {
            rc = fail(EXIT_LOCAL, "%s", err.message);
            goto out;
        }
        for (size_t i = 0; i < nfiles; i++)
            if ((e = mt_fileentry_set_swarm(fes[i], magnet, &err)) != 0) {
                rc = fail(EXIT_LOCAL, "%s", err.message);
                goto out;
            }
    }

    /* The document: one object, or an array for several files. */
    for (size_t i = 0; i < nfiles; i++) {
        cJSON *o = NULL;
        if (mt_fileentry_to_cjson(fes[i], &o, &err) != 0) {
            rc = fail(EXIT_LOCAL, "%s", err.message);
            goto out;
        }
        if (nfiles == 1) {
            doc = o;
        } else {
            if (!doc)
                doc = cJSON_CreateArray();
            cJSON_AddItemToArray(doc, o);
        }
    }
    if (out_file) {
        char *s = cJSON_Print(doc), *t;
        size_t len = s ? strlen(s) : 0;
        int e;
        if (!s || !(t = realloc(s, len + 2))) {
            if (s) {
                sodium_memzero(s, len);
                free(s);
            }
            rc = fail(EXIT_LOCAL, "out of memory");
            goto out;
        }
        s = t;
        s[len++] = '\n'; /* a text file ends in a newline */
        s[len] = '\0';
        if (make_parent_dirs(out_file, 0700) != 0) {
            sodium_memzero(s, len);
            free(s);
            rc = fail(EXIT_LOCAL, "cannot create the directory of %s: %s", out_file, strerror(errno));
            goto out;
        }
        e = mt_file_write_atomic(out_file, s, len, 0600, 1, &err);
        sodium_memzero(s, len);
        free(s);
        if (e) {
            rc = fail(EXIT_LOCAL, "%s", err.message);
            goto out;
        }
    }
    if (g_out.json) {
        emit_json(doc); /* takes the document */
        doc = NULL;
    } else if (!out_file) {
        char *s = isatty(STDOUT_FILENO) ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
        if (s) {
            printf("%s\n", s);
            sodium_memzero(s, strlen(s));
            free(s);
        }
    } else {
        for (size_t i = 0; i < nfiles; i++) {
            char name[MT_NAME_MAX + 1], size[32];
            clean_text(fes[i]->name, name, sizeof name);
            human_bytes((double)fes[i]->size, size, sizeof size);
            printf("%s: %s in %zu chunk%s\n", name, size, fes[i]->n_chunks, fes[i]->n_chunks == 1 ? "" : "s");
        }
        printf("blobs: %s\n", dir);
        if (magnet) {
            printf("pack: %s\n", magnet);
            printf("pack torrent: %s\n", torrent_path);
        }
        printf("wrote %s (mode 0600: it holds the decryption keys)\n", out_file);
    }
    fflush(stdout);
    rc = EXIT_OK;
out:
    if (doc)
        delete_secret_json(doc);
    free(magnet);
    free_entries(fes, nfiles);
    return rc;
}

/* ============================================================ reassemble */

static const char reassemble_usage[] =
    "usage: mtctl blob reassemble ENTRY.json [-d DIR] [-o OUT] [--force] [--json]\n"
    "\n"
    "Rebuild files from their blobs. ENTRY.json ('-' for standard input) holds\n"
    "one FileEntry object, or a JSON array of them (what blob ingest prints).\n"
    "Every blob is checked against its id and decrypted; the output is written\n"
    "as OUT.mtpart and renamed to OUT only when complete, so an error (a\n"
    "missing or corrupted blob: exit 1) never leaves a partial OUT.\n"
    "  -d, --dir DIR  where the blobs are (default: the blob store,\n"
    "                 $MT_STATE_DIR/blobs or ~/.local/state/megatorrent/blobs)\n"
    "  -o, --output OUT\n"
    "                 one entry: the file to write, or an existing directory to\n"
    "                 write it in under its (sanitised) name; an array: the\n"
    "                 directory (created if missing) for all of them.\n"
    "                 Default: the current directory, under each entry's name.\n"
    "  --force        replace existing files (default: refuse, exit 1)\n"
    "Prints one line per file written, or with --json {name, out, size, chunks}\n"
    "(an array for an array).\n";

int cmd_blob_reassemble(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL, *out_opt = NULL;
    char dir[4096];
    mt_fileentry **fes = NULL;
    size_t n = 0;
    int c, force = 0, is_array = 0, rc;
    char (*outs)[4096] = NULL;
    cJSON *results = NULL;
    mt_error err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir_opt = optarg; break;
        case 'o': out_opt = optarg; break;
        case 'f': force = 1; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(reassemble_usage, stdout); return EXIT_OK;
        default: return bad_option("blob reassemble", argv, c);
        }
    }
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "blob reassemble takes one ENTRY.json (see mtctl blob reassemble --help)");
    if ((rc = store_dir(dir_opt, dir, sizeof dir)) != EXIT_OK ||
        (rc = load_entries(argv[optind], &fes, &n, &is_array)) != EXIT_OK)
        return rc;
    if (!is_dir(dir)) {
        rc = fail(EXIT_LOCAL, "%s: no such blob directory", dir);
        goto out;
    }
    if (!(outs = calloc(n, sizeof *outs))) {
        rc = fail(EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (is_array && out_opt && (rc = make_dir(out_opt)) != EXIT_OK)
        goto out;
    /* Every output path first: nothing is written when one is refused. */
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if ((rc = entry_out_path(out_opt, fes[i], outs[i], sizeof outs[i])) != EXIT_OK)
            goto out;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(outs[k], outs[i])) {
                rc = fail(EXIT_FAILED, "entries %zu and %zu would both be written to %s", k, i, outs[i]);
                goto out;
            }
        if (stat(outs[i], &st) == 0 && (!force || S_ISDIR(st.st_mode))) {
            rc = fail(EXIT_FAILED, "%s exists%s", outs[i],
                      S_ISDIR(st.st_mode) ? " and is a directory" : " (--force replaces it)");
            goto out;
        }
    }
    catch_stop_signals();
    results = is_array ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; i < n; i++) {
        char name[MT_NAME_MAX + 1], size[32];
        progress bar;
        bar_ud ud;
        int e;
        clean_text(fes[i]->name, name, sizeof name);
        progress_init(&bar, BAR_DELAY_MS);
        ud.bar = &bar;
        ud.label = name;
        e = mt_blob_reassemble(fes[i], dir, outs[i], bar_progress, &ud, &err);
        progress_clear(&bar);
        if (e) {
            if (g_stop)
                rc = fail(EXIT_FAILED, "interrupted while writing %s (it was not created)", outs[i]);
            else
                rc = fail(blob_exit(e), "%s: %s%s", name, err.message,
                          i ? " (the files before it were written)" : "");
            goto out;
        }
        if (g_out.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", fes[i]->name);
            cJSON_AddStringToObject(o, "out", outs[i]);
            cJSON_AddNumberToObject(o, "size", (double)fes[i]->size);
            cJSON_AddNumberToObject(o, "chunks", (double)fes[i]->n_chunks);
            if (results)
                cJSON_AddItemToArray(results, o);
            else
                results = o;
        } else {
            char path[4200];
            clean_text(outs[i], path, sizeof path);
            human_bytes((double)fes[i]->size, size, sizeof size);
            printf("wrote %s (%s, %zu chunk%s)\n", path, size, fes[i]->n_chunks, fes[i]->n_chunks == 1 ? "" : "s");
            fflush(stdout);
        }
    }
    if (g_out.json) {
        emit_json(results);
        results = NULL;
    }
    rc = EXIT_OK;
out:
    cJSON_Delete(results);
    free(outs);
    free_entries(fes, n);
    return rc;
}

/* ================================================================= fetch */

static const char fetch_usage[] =
    "usage: mtctl blob fetch ENTRY.json [-o OUT] [--peer HOST:PORT]...\n"
    "                        [--timeout SECONDS] [--socket PATH] [--json]\n"
    "       mtctl blob fetch ENTRY.json [-o OUT] --local [-d BLOBDIR]\n"
    "                        [--peer HOST:PORT]... [--dht-node HOST:PORT]...\n"
    "                        [--listen ADDR:PORT] [--timeout SECONDS] [--json]\n"
    "\n"
    "Fetch the file of one FileEntry (ENTRY.json, '-' for standard input; an\n"
    "array of exactly one is accepted) and write it to OUT: blobs already at\n"
    "hand first, then the pack named by its \"swarm\" (peers, web seeds), then\n"
    "mt-wire hosts (found in the DHT by blob id, and the --peer hosts). Every\n"
    "blob is checked against its id and decrypted into OUT.mtpart, renamed to\n"
    "OUT when complete. A progress bar is shown on a terminal; at the end a\n"
    "summary (bytes, chunks, blobs from disk / swarm / mt-wire, corrupt blobs\n"
    "fetched again, time), or with --json one object.\n"
    "\n"
    "When mtd answers on its socket, the fetch runs in mtd (RPC blob.fetch, into\n"
    "its blob store) and mtctl follows it; Ctrl-C then stops following, not the\n"
    "fetch. Otherwise, or with --local, -d, --dht-node or --listen, mtctl runs a\n"
    "session of its own (a read-only DHT node) until the file is complete; Ctrl-C\n"
    "stops it and keeps OUT.mtpart and the blobs, so running it again resumes.\n"
    "  -o, --output OUT   the file, or an existing directory to write it in\n"
    "                     (default: ./NAME, the entry's sanitised name); must\n"
    "                     not exist yet\n"
    "  --peer HOST:PORT   an mt-wire host to ask for missing blobs (repeatable)\n"
    "  -t, --timeout S    give up when no blob has arrived for S seconds\n"
    "                     (default 300; mtd's fetch then goes on)\n"
    "  --local            never ask mtd\n"
    "  -d, --dir BLOBDIR  own session: where blobs are kept (default\n"
    "                     $XDG_CACHE_HOME/megatorrent/blobs, else\n"
    "                     ~/.cache/megatorrent/blobs; they stay there)\n"
    "  --dht-node HOST:PORT  own session: a DHT node to join through (repeatable\n"
    "                     or a comma list; default the Mainline DHT routers)\n"
    "  -l, --listen ADDR:PORT  own session: where to listen (default a free port\n"
    "                     on all interfaces; on 127.0.0.1 when the DHT nodes are\n"
    "                     loopback addresses, which applies the loopback network\n"
    "                     settings; a loopback session without DHT nodes has no DHT)\n"
    "  --socket PATH      mtd's socket (default $MT_SOCKET, else $STATE_DIR/mtd.sock)\n"
    "Exit 1 if the fetch fails or times out (the error says why), 3 on a local\n"
    "problem.\n";

typedef struct fetch_args {
    const char *out_opt, *dir_opt, *socket, *listen;
    const char *peers[PEER_MAX];
    size_t n_peers;
    net_opts net;      /* bootstrap: --dht-node list */
    int local;
    long long timeout; /* seconds without progress */
} fetch_args;

/* What a finished fetch reports, from either path. */
typedef struct fetch_sum {
    const char *via, *out, *name, *blob_dir;
    double id;         /* mtd's fetch id, or -1 */
    double bytes, chunks, from_disk, from_swarm, from_wire, corrupt, hash_failed;
    double elapsed_s;
} fetch_sum;

static void print_fetch_summary(const fetch_sum *s)
{
    if (g_out.json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "via", s->via);
        if (s->id >= 0)
            cJSON_AddNumberToObject(d, "id", s->id);
        cJSON_AddStringToObject(d, "name", s->name);
        cJSON_AddStringToObject(d, "out", s->out);
        if (s->blob_dir)
            cJSON_AddStringToObject(d, "blob_dir", s->blob_dir);
        cJSON_AddNumberToObject(d, "bytes", s->bytes);
        cJSON_AddNumberToObject(d, "chunks", s->chunks);
        cJSON_AddNumberToObject(d, "from_disk", s->from_disk);
        cJSON_AddNumberToObject(d, "from_swarm", s->from_swarm);
        cJSON_AddNumberToObject(d, "from_wire", s->from_wire);
        cJSON_AddNumberToObject(d, "corrupt", s->corrupt);
        if (s->hash_failed >= 0)
            cJSON_AddNumberToObject(d, "hash_failed", s->hash_failed);
        cJSON_AddNumberToObject(d, "elapsed_s", (double)(long long)(s->elapsed_s * 1000) / 1000.0);
        emit_json(d);
        return;
    }
    {
        char name[MT_NAME_MAX + 1], out[4200], size[32], rate[32];
        clean_text(s->name, name, sizeof name);
        clean_text(s->out, out, sizeof out);
        human_bytes(s->bytes, size, sizeof size);
        human_rate(s->elapsed_s > 0 ? s->bytes / s->elapsed_s : 0, rate, sizeof rate);
        printf("fetched %s -> %s%s\n", name, out, !strcmp(s->via, "mtd") ? " (by mtd)" : "");
        printf("  size:     %s (%.0f bytes) in %.0f chunk%s\n", size, s->bytes, s->chunks, s->chunks == 1 ? "" : "s");
        printf("  blobs:    %.0f from disk, %.0f from the swarm, %.0f over mt-wire, %.0f corrupt (fetched again)\n",
               s->from_disk, s->from_swarm, s->from_wire, s->corrupt);
        if (s->hash_failed > 0)
            printf("  pieces:   %.0f failed their hash check (fetched again)\n", s->hash_failed);
        printf("  elapsed:  %.1f s (%s)\n", s->elapsed_s, rate);
        fflush(stdout);
    }
}

/* ---- through mtd ---- */

/* rpc_call: EXIT_OK, or an exit code and msg; *unknown = 1 when mtd does
 * not know the method (an older mtd: the caller may do the work itself). */
static int bcall(rpc_client *c, const char *method, cJSON *params, cJSON **result, int *unknown, char *msg,
                 size_t cap)
{
    int code = 0, rc;
    *result = NULL;
    if (unknown)
        *unknown = 0;
    msg[0] = '\0';
    rc = rpc_call(c, method, params, DC_CALL_TIMEOUT_MS, result, &code, NULL, msg, cap);
    if (rc == 0) {
        if (!*result)
            *result = cJSON_CreateObject();
        return *result ? EXIT_OK : EXIT_LOCAL;
    }
    if (rc == -2 && code == -32601) {
        if (unknown)
            *unknown = 1;
        snprintf(msg, cap, "mtd does not know the method '%s' (is it an older version?)", method);
    } else if (!msg[0]) {
        snprintf(msg, cap, "no answer from mtd");
    }
    return dc_exit_for_rpc(rc, code);
}

/* Connect to mtd if one answers; NULL if not. */
static rpc_client *try_daemon(const char *sock)
{
    char path[4096], why[512];
    rpc_client *c = NULL;
    if (rpc_socket_path(sock, path, sizeof path) != 0 || rpc_connect(path, &c, why, sizeof why) != 0)
        return NULL;
    return c;
}

/* The fetch with this id in a blob.fetches result (an array, or an object
 * holding one under "fetches"). */
static const cJSON *find_fetch(const cJSON *r, double id)
{
    const cJSON *arr = cJSON_IsArray(r) ? r : cJSON_GetObjectItemCaseSensitive(r, "fetches"), *it;
    cJSON_ArrayForEach(it, arr)
        if (dc_num(it, "id", -1) == id)
            return it;
    return NULL;
}

/* 1: ran (rc set), 0: mtd cannot do it (unknown method or request too
 * big): the caller fetches itself. */
static int fetch_via_daemon(rpc_client *c, const fetch_args *a, const mt_fileentry *fe, const char *out_abs,
                            int *rc)
{
    cJSON *p = cJSON_CreateObject(), *entry = NULL, *peers, *r = NULL;
    char msg[1024], *line;
    size_t line_len;
    double id, last_done = -1;
    int unknown = 0;
    int64_t t0 = mt_now_ms(), last_change = t0;
    mt_error err;
    progress bar;
    fetch_sum sum;

    if (mt_fileentry_to_cjson(fe, &entry, &err) != 0) {
        cJSON_Delete(p);
        *rc = fail(EXIT_LOCAL, "%s", err.message);
        return 1;
    }
    cJSON_AddItemToObject(p, "entry", entry);
    cJSON_AddStringToObject(p, "out", out_abs);
    peers = cJSON_AddArrayToObject(p, "peers");
    for (size_t i = 0; i < a->n_peers; i++)
        cJSON_AddItemToArray(peers, cJSON_CreateString(a->peers[i]));
    /* mtd reads request lines up to 1 MiB: about 4000 chunks (4 GiB). */
    line = cJSON_PrintUnformatted(p);
    line_len = line ? strlen(line) : 0;
    if (line) {
        sodium_memzero(line, line_len);
        free(line);
    }
    if (line_len > RPC_LINE_BUDGET) {
        delete_secret_json(p);
        if (!g_out.json)
            fprintf(stderr, "%s: the FileEntry (%zu chunks) is too big for one mtd request; fetching here\n",
                    g_out.prog, fe->n_chunks);
        return 0;
    }
    *rc = bcall(c, "blob.fetch", p, &r, &unknown, msg, sizeof msg); /* p is taken */
    if (unknown) {
        if (!g_out.json)
            fprintf(stderr, "%s: %s; fetching here\n", g_out.prog, msg);
        return 0;
    }
    if (*rc != EXIT_OK) {
        *rc = fail(*rc, "%s", msg);
        return 1;
    }
    id = dc_num(r, "id", -1);
    cJSON_Delete(r);
    if (id < 0) {
        *rc = fail(EXIT_LOCAL, "mtd's blob.fetch answer has no id");
        return 1;
    }
    catch_stop_signals();
    progress_init(&bar, BAR_DELAY_MS);
    for (;;) {
        const cJSON *f;
        const char *state;
        double done, total, chunks_done, chunks_total;
        char extra[48], name[128];
        int64_t next = mt_now_ms() + FETCH_POLL_MS;

        if ((*rc = bcall(c, "blob.fetches", NULL, &r, NULL, msg, sizeof msg)) != EXIT_OK) {
            progress_clear(&bar);
            *rc = fail(*rc, "%s", msg);
            return 1;
        }
        if (!(f = find_fetch(r, id))) {
            progress_clear(&bar);
            cJSON_Delete(r);
            *rc = fail(EXIT_FAILED, "mtd no longer lists fetch %.0f", id);
            return 1;
        }
        state = dc_str(f, "state");
        done = dc_num(f, "bytes_done", 0);
        total = dc_num(f, "bytes_total", (double)fe->size);
        chunks_done = dc_num(f, "chunks_done", 0);
        chunks_total = dc_num(f, "chunks_total", (double)fe->n_chunks);
        snprintf(extra, sizeof extra, "%.0f/%.0f", chunks_done, chunks_total);
        clean_text(fe->name, name, sizeof name);
        progress_show(&bar, done, total, -1, extra, name);
        if (!strcmp(state, "done")) {
            progress_clear(&bar);
            memset(&sum, 0, sizeof sum);
            sum.via = "mtd";
            sum.id = id;
            sum.name = fe->name;
            sum.out = dc_str(f, "out")[0] ? dc_str(f, "out") : out_abs;
            sum.bytes = dc_num(f, "bytes_total", (double)fe->size);
            sum.chunks = chunks_total;
            sum.from_disk = dc_num(f, "from_disk", 0);
            sum.from_swarm = dc_num(f, "from_swarm", 0);
            sum.from_wire = dc_num(f, "from_wire", 0);
            sum.corrupt = dc_num(f, "corrupt", 0);
            sum.hash_failed = -1;
            sum.elapsed_s = (double)(mt_now_ms() - t0) / 1000.0;
            print_fetch_summary(&sum);
            cJSON_Delete(r);
            *rc = EXIT_OK;
            return 1;
        }
        if (!strcmp(state, "failed")) {
            progress_clear(&bar);
            *rc = fail(EXIT_FAILED, "fetch %.0f failed: %s", id,
                       dc_str(f, "error")[0] ? dc_str(f, "error") : "mtd gave no reason");
            cJSON_Delete(r);
            return 1;
        }
        cJSON_Delete(r);
        if (done != last_done) {
            last_done = done;
            last_change = mt_now_ms();
        }
        if (g_stop) {
            progress_clear(&bar);
            *rc = fail(EXIT_FAILED, "stopped following; mtd goes on with fetch %.0f (see mtctl blob fetch --help)",
                       id);
            return 1;
        }
        if (a->timeout > 0 && mt_now_ms() - last_change >= a->timeout * 1000) {
            progress_clear(&bar);
            *rc = fail(EXIT_FAILED, "no blob arrived for %lld s (%.0f of %.0f chunks); mtd goes on with fetch %.0f",
                       a->timeout, chunks_done, chunks_total, id);
            return 1;
        }
        /* Sleep by reading notifications, so none pile up. */
        for (int64_t now = mt_now_ms(); now < next && !g_stop; now = mt_now_ms()) {
            cJSON *ev = NULL;
            if (rpc_next_event(c, (int)(next - now), &ev, msg, sizeof msg) < 0) {
                progress_clear(&bar);
                *rc = fail(EXIT_LOCAL, "lost the connection to mtd: %s", msg);
                return 1;
            }
            cJSON_Delete(ev);
        }
    }
}

/* ---- with a session of our own ---- */

/* *dht: 0 when the session has no DHT (loopback without nodes). */
static int open_fetch_session(const fetch_args *a, mt_session **out, int *dht)
{
    mt_session_config cfg;
    mt_error err;
    char host[256] = "";
    int loop, rc;

    if (a->listen) {
        host_of(a->listen, host, sizeof host);
        loop = mt_addr_is_loopback(host);
    } else {
        loop = a->net.bootstrap[0] && net_all_loopback(a->net.bootstrap);
    }
    if (loop) {
        mt_session_config_init_loopback(&cfg, a->listen ? a->listen : "127.0.0.1:0");
        cfg.outgoing_interfaces = a->listen ? host : "127.0.0.1";
        /* A loopback node with nobody to join would only wait on lookups. */
        if (!a->net.bootstrap[0])
            cfg.enable_dht = 0;
    } else {
        mt_session_config_init(&cfg);
        cfg.listen_interfaces = a->listen ? a->listen : "0.0.0.0:0,[::]:0";
        /* A one-shot command should not touch the router's port mappings. */
        cfg.enable_upnp = 0;
        cfg.enable_natpmp = 0;
        cfg.enable_lsd = 0;
    }
    if (a->net.bootstrap[0])
        cfg.dht_nodes = a->net.bootstrap;
    *dht = cfg.enable_dht;
    cfg.dht_read_only = 1; /* BEP-43: do not linger in others' routing tables */
    rc = mt_session_new(&cfg, out, &err);
    if (rc)
        return fail(rc == MT_EINVAL ? EXIT_USAGE : EXIT_LOCAL, "cannot start a session: %s", err.message);
    return EXIT_OK;
}

static int fetch_local(const fetch_args *a, const mt_fileentry *fe, const char *out_path)
{
    char blob_dir[4096], name[128], extra[48];
    mt_session *s = NULL;
    mt_blobfetch *f = NULL;
    mt_blobfetch_opts o;
    mt_blobfetch_progress pr;
    mt_event ev;
    mt_error err;
    progress bar;
    int rc, dht = 0;
    int64_t t0 = mt_now_ms();

    if (a->dir_opt) {
        if ((size_t)snprintf(blob_dir, sizeof blob_dir, "%s", a->dir_opt) >= sizeof blob_dir)
            return fail(EXIT_USAGE, "-d: path too long");
    } else if ((rc = cache_dir(blob_dir, sizeof blob_dir)) != EXIT_OK) {
        return rc;
    }
    if ((rc = make_dir(blob_dir)) != EXIT_OK)
        return rc;
    if ((rc = open_fetch_session(a, &s, &dht)) != EXIT_OK)
        return rc;
    mt_blobfetch_opts_init(&o);
    o.blob_dir = blob_dir;
    o.out_path = out_path;
    o.timeout_ms = a->timeout > 0 ? (int)a->timeout * 1000 : 0;
    o.wire_peers = a->peers;
    o.n_wire_peers = a->n_peers;
    if ((rc = mt_blobfetch_start(s, fe, &o, &f, &err)) != 0) {
        mt_session_free(s);
        return fail(blob_exit(rc), "%s", err.message);
    }
    if (mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING && !fe->swarm && a->n_peers == 0 && !dht) {
        mt_blobfetch_get_progress(f, &pr);
        mt_blobfetch_free(f, 0);
        mt_session_free(s);
        return fail(EXIT_FAILED,
                    "%zu of %zu chunks are not in %s and there is nowhere to get them: the entry has no swarm "
                    "and this loopback session no DHT; give --peer or --dht-node",
                    pr.chunks_total - pr.chunks_done, pr.chunks_total, blob_dir);
    }
    catch_stop_signals();
    progress_init(&bar, BAR_DELAY_MS);
    clean_text(fe->name, name, sizeof name);
    memset(&ev, 0, sizeof ev);
    while (mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING && !g_stop) {
        struct pollfd pfd = {.fd = mt_session_fd(s), .events = POLLIN};
        int t = 500, t1 = mt_blobfetch_timeout(f), t2 = mt_session_next_timeout(s);
        if (t1 >= 0 && t1 < t)
            t = t1;
        if (t2 >= 0 && t2 < t)
            t = t2;
        poll(&pfd, 1, t);
        while (mt_session_next_event(s, &ev) == 1) {
            if (!mt_blobfetch_event(f, &ev) && ev.type == MT_EVENT_LISTEN_FAILED && a->listen) {
                progress_clear(&bar);
                fprintf(stderr, "%s: cannot listen on %s: %s\n", g_out.prog, ev.endpoint, ev.message);
            }
            mt_event_clear(&ev);
        }
        mt_blobfetch_tick(f);
        mt_blobfetch_get_progress(f, &pr);
        snprintf(extra, sizeof extra, "%zu/%zu", pr.chunks_done, pr.chunks_total);
        progress_show(&bar, (double)pr.bytes_done, (double)pr.bytes_total, -1, extra, name);
    }
    progress_clear(&bar);
    mt_blobfetch_get_progress(f, &pr);
    switch (mt_blobfetch_get_state(f)) {
    case MT_BLOBFETCH_DONE: {
        fetch_sum sum;
        memset(&sum, 0, sizeof sum);
        sum.via = "local";
        sum.id = -1;
        sum.name = fe->name;
        sum.out = out_path;
        sum.blob_dir = blob_dir;
        sum.bytes = (double)pr.bytes_total;
        sum.chunks = (double)pr.chunks_total;
        sum.from_disk = (double)pr.from_disk;
        sum.from_swarm = (double)pr.from_swarm;
        sum.from_wire = (double)pr.from_wire;
        sum.corrupt = (double)pr.corrupt;
        sum.hash_failed = (double)pr.hash_failed;
        sum.elapsed_s = (double)(mt_now_ms() - t0) / 1000.0;
        print_fetch_summary(&sum);
        rc = EXIT_OK;
        break;
    }
    case MT_BLOBFETCH_FAILED:
        mt_blobfetch_get_error(f, &err);
        rc = fail(blob_exit(err.code), "%s (%s.mtpart and the blobs stay: run it again to resume)", err.message,
                  out_path);
        break;
    default:
        rc = fail(EXIT_FAILED, "interrupted: %zu of %zu chunks written; run it again to resume", pr.chunks_done,
                  pr.chunks_total);
        break;
    }
    mt_blobfetch_free(f, 0);
    mt_session_free(s);
    return rc;
}

int cmd_blob_fetch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"dir", required_argument, NULL, 'd'},
        {"peer", required_argument, NULL, 'p'},
        {"dht-node", required_argument, NULL, 'b'},
        {"listen", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"local", no_argument, NULL, 'L'},
        {"socket", required_argument, NULL, 's'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fetch_args a;
    mt_fileentry **fes = NULL;
    size_t n = 0;
    int c, is_array = 0, rc;
    char out_path[4096], out_abs[4096];
    struct stat st;
    rpc_client *cl = NULL;

    memset(&a, 0, sizeof a);
    a.timeout = FETCH_TIMEOUT_S;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:d:t:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a.out_opt = optarg; break;
        case 'd': a.dir_opt = optarg; break;
        case 'l':
            if (!hostport_ok(optarg, 1))
                return fail(EXIT_USAGE, "--listen wants ADDR:PORT, not '%s'", optarg);
            a.listen = optarg;
            break;
        case 'p':
            if (a.n_peers == PEER_MAX)
                return fail(EXIT_USAGE, "at most %d --peer options", PEER_MAX);
            if (!hostport_ok(optarg, 0))
                return fail(EXIT_USAGE, "--peer wants HOST:PORT, not '%s'", optarg);
            a.peers[a.n_peers++] = optarg;
            break;
        case 'b':
            if (net_add_bootstrap(&a.net, optarg) != 0)
                return fail(EXIT_USAGE, "--dht-node: expected HOST:PORT");
            break;
        case 't':
            if ((a.timeout = parse_count(optarg, 7LL * 86400)) < 1)
                return fail(EXIT_USAGE, "--timeout wants 1 to 604800 seconds, not '%s'", optarg);
            break;
        case 'L': a.local = 1; break;
        case 's': a.socket = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(fetch_usage, stdout); return EXIT_OK;
        default: return bad_option("blob fetch", argv, c);
        }
    }
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "blob fetch takes one ENTRY.json (see mtctl blob fetch --help)");
    if ((rc = load_entries(argv[optind], &fes, &n, &is_array)) != EXIT_OK)
        return rc;
    if (n != 1) {
        rc = fail(EXIT_USAGE, "%s holds %zu entries; blob fetch takes one (blob reassemble takes arrays)",
                  argv[optind], n);
        goto out;
    }
    if ((rc = entry_out_path(a.out_opt, fes[0], out_path, sizeof out_path)) != EXIT_OK)
        goto out;
    if (stat(out_path, &st) == 0) {
        rc = fail(EXIT_FAILED, "%s exists already", out_path);
        goto out;
    }
    if (absolute_path(out_path, out_abs, sizeof out_abs) != 0) {
        rc = fail(EXIT_LOCAL, "%s: path too long", out_path);
        goto out;
    }
    /* -d, --dht-node and --listen only mean something to a session of our
     * own; mtd fetches into its blob store with its own network. */
    if (!a.local && !a.dir_opt && !a.listen && !a.net.bootstrap[0] && (cl = try_daemon(a.socket)) != NULL) {
        int ran = fetch_via_daemon(cl, &a, fes[0], out_abs, &rc);
        rpc_close(cl);
        if (ran)
            goto out;
    }
    rc = fetch_local(&a, fes[0], out_path);
out:
    free_entries(fes, n);
    return rc;
}

/* ================================================================= store */

static const char store_usage[] =
    "usage: mtctl blob store [-d DIR] [--local] [--socket PATH] [--json]\n"
    "\n"
    "Report on a blob store: its directory, the blobs in it and their bytes,\n"
    "what is pinned, the size cap, and each pin tag (e.g. a feed's public key)\n"
    "with the blobs it pins and how many of them are present. When mtd answers\n"
    "on its socket, its own store is reported (RPC blob.store, with mtd's cap);\n"
    "otherwise, or with -d or --local, the directory is read here (the cap is\n"
    "then unknown: it is mtd's blob_cache_mb). --json prints {dir, cap, bytes,\n"
    "blobs, pinned_bytes, pinned_blobs, tags: [{tag, blobs, present}]} (cap null\n"
    "when unknown, 0 for none).\n"
    "  -d, --dir DIR   the store (default $MT_STATE_DIR/blobs, else\n"
    "                  ~/.local/state/megatorrent/blobs)\n"
    "  --local         never ask mtd\n"
    "  --socket PATH   mtd's socket (default $MT_SOCKET, else $STATE_DIR/mtd.sock)\n";

typedef struct tag_ud {
    cJSON *tags;
} tag_ud;

static void collect_tag(void *ud, const char *tag, size_t n_ids, size_t n_present)
{
    tag_ud *t = ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tag", tag);
    cJSON_AddNumberToObject(o, "blobs", (double)n_ids);
    cJSON_AddNumberToObject(o, "present", (double)n_present);
    cJSON_AddItemToArray(t->tags, o);
}

/* The blob.store document, read here. */
static int store_local(const char *dir, cJSON **out)
{
    mt_blobstore *s = NULL;
    mt_blobstore_usage u;
    mt_error err;
    tag_ud t;
    cJSON *d;
    int rc;
    *out = NULL;
    memset(&u, 0, sizeof u);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "dir", dir);
    cJSON_AddNullToObject(d, "cap");
    t.tags = cJSON_CreateArray();
    if (is_dir(dir)) { /* a report does not create the store */
        if ((rc = mt_blobstore_open(dir, 0, &s, &err)) != 0 || (rc = mt_blobstore_get_usage(s, &u, &err)) != 0 ||
            (rc = mt_blobstore_list_pins(s, collect_tag, &t, &err)) != 0) {
            mt_blobstore_close(s);
            cJSON_Delete(d);
            cJSON_Delete(t.tags);
            return fail(rc == MT_EINVAL ? EXIT_FAILED : EXIT_LOCAL, "%s: %s", dir, err.message);
        }
        mt_blobstore_close(s);
    } else if (access(dir, F_OK) == 0) {
        cJSON_Delete(d);
        cJSON_Delete(t.tags);
        return fail(EXIT_LOCAL, "%s is not a directory", dir);
    }
    cJSON_AddNumberToObject(d, "bytes", (double)u.bytes);
    cJSON_AddNumberToObject(d, "blobs", (double)u.blobs);
    cJSON_AddNumberToObject(d, "pinned_bytes", (double)u.pinned_bytes);
    cJSON_AddNumberToObject(d, "pinned_blobs", (double)u.pinned_blobs);
    cJSON_AddItemToObject(d, "tags", t.tags);
    *out = d;
    return EXIT_OK;
}

static void print_store(const cJSON *d, int from_mtd)
{
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(d, "cap"), *tags, *t;
    char dir[4200], b[32], pb[32], cb[64];
    size_t tw = 3;
    clean_text(dc_str(d, "dir"), dir, sizeof dir);
    human_bytes(dc_num(d, "bytes", 0), b, sizeof b);
    human_bytes(dc_num(d, "pinned_bytes", 0), pb, sizeof pb);
    if (cJSON_IsNumber(cap) && cap->valuedouble > 0)
        human_bytes(cap->valuedouble, cb, sizeof cb);
    else if (cJSON_IsNumber(cap))
        snprintf(cb, sizeof cb, "none");
    else
        snprintf(cb, sizeof cb, "unknown (mtd's blob_cache_mb)");
    printf("dir:     %s%s\n", dir[0] ? dir : "-", from_mtd ? " (mtd's store)" : "");
    printf("blobs:   %.0f (%s)\n", dc_num(d, "blobs", 0), b);
    printf("pinned:  %.0f (%s)\n", dc_num(d, "pinned_blobs", 0), pb);
    printf("cap:     %s\n", cb);
    tags = cJSON_GetObjectItemCaseSensitive(d, "tags");
    if (cJSON_GetArraySize(tags) == 0) {
        printf("pins:    none\n");
        return;
    }
    cJSON_ArrayForEach(t, tags)
        if (strlen(dc_str(t, "tag")) > tw)
            tw = strlen(dc_str(t, "tag"));
    if (tw > 80)
        tw = 80;
    printf("\n%-*s  %7s  %7s\n", (int)tw, "TAG", "BLOBS", "PRESENT");
    cJSON_ArrayForEach(t, tags) {
        char tag[84];
        clean_text(dc_str(t, "tag"), tag, sizeof tag);
        printf("%-*s  %7.0f  %7.0f\n", (int)tw, tag, dc_num(t, "blobs", 0), dc_num(t, "present", 0));
    }
}

int cmd_blob_store(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"local", no_argument, NULL, 'L'},
        {"socket", required_argument, NULL, 's'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL, *sock = NULL;
    char dir[4096], msg[1024];
    int c, local = 0, rc, from_mtd = 0;
    cJSON *d = NULL;
    rpc_client *cl;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir_opt = optarg; break;
        case 'L': local = 1; break;
        case 's': sock = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(store_usage, stdout); return EXIT_OK;
        default: return bad_option("blob store", argv, c);
        }
    }
    if (optind != argc)
        return fail(EXIT_USAGE, "blob store takes no arguments (see mtctl blob store --help)");
    if (!local && !dir_opt && (cl = try_daemon(sock)) != NULL) {
        int unknown = 0;
        rc = bcall(cl, "blob.store", NULL, &d, &unknown, msg, sizeof msg);
        rpc_close(cl);
        if (rc == EXIT_OK)
            from_mtd = 1;
        else if (!unknown)
            return fail(rc, "%s", msg);
        else if (!g_out.json)
            fprintf(stderr, "%s: %s; reading the directory here\n", g_out.prog, msg);
    }
    if (!from_mtd) {
        if ((rc = store_dir(dir_opt, dir, sizeof dir)) != EXIT_OK)
            return rc;
        if ((rc = store_local(dir, &d)) != EXIT_OK)
            return rc;
    }
    if (g_out.json) {
        emit_json(d);
        return EXIT_OK;
    }
    print_store(d, from_mtd);
    cJSON_Delete(d);
    return EXIT_OK;
}

/* ====================================================== mtctl blob --help */

const char blob_usage[] =
    "usage: mtctl blob COMMAND [ARGS]\n"
    "\n"
    "Encrypted blobs: a file is cut into 1 MiB chunks, each padded and sealed\n"
    "under a fresh key (ChaCha20-Poly1305) and stored as DIR/<blob id>, the hex\n"
    "SHA-256 of the blob. A FileEntry (JSON; it holds the keys) says how to get\n"
    "the file back.\n"
    "\n"
    "Commands:\n"
    "  ingest [-d DIR] [--pack [--ws URL]...] [--no-pad] [-o ENTRY.json] FILE...\n"
    "                       encrypt files into blobs; print their FileEntries\n"
    "  reassemble ENTRY.json [-d DIR] [-o OUT] [--force]\n"
    "                       rebuild files from blobs at hand\n"
    "  fetch ENTRY.json [-o OUT] [--peer HOST:PORT]... [--timeout S] [--local]\n"
    "        [-d BLOBDIR] [--dht-node HOST:PORT]... [--listen ADDR:PORT]\n"
    "                       get the blobs (pack swarm, mt-wire) and rebuild the file;\n"
    "                       in mtd when it answers, else with a session of its own\n"
    "  store [-d DIR] [--local]\n"
    "                       blobs, bytes, pins and cap of a blob store\n"
    "\n"
    "DIR defaults to the blob store: $MT_STATE_DIR/blobs, else\n"
    "~/.local/state/megatorrent/blobs (mtd's blob_dir by default).\n"
    "Each takes --json and --help: mtctl blob COMMAND --help.\n";

/* ================================================================= wire */

static const char serve_usage[] =
    "usage: mtctl wire serve [-d DIR] [--listen ADDR:PORT] [--max-conns N]\n"
    "                        [--max-per-ip N] [--json]\n"
    "\n"
    "Serve the blobs in DIR (files named by blob id) over mt-wire, the\n"
    "encrypted blob transport the reference client speaks, in the foreground\n"
    "until SIGINT or SIGTERM. Prints \"listening on ADDR:PORT\" when ready (with\n"
    "--json the line {\"listen\": \"ADDR:PORT\", \"port\": PORT}), so a script can\n"
    "read the port it got for port 0; on exit the counters: connections\n"
    "accepted and refused, bad frames, timeouts, blobs served and not found,\n"
    "bytes sent (with --json one more line, an object).\n"
    "  -d, --dir DIR          what to serve (default: the blob store,\n"
    "                         $MT_STATE_DIR/blobs or\n"
    "                         ~/.local/state/megatorrent/blobs)\n"
    "  -l, --listen ADDR:PORT where to listen (default 0.0.0.0:0: all IPv4\n"
    "                         interfaces, a free port)\n"
    "  --max-conns N          connections at once (default 128)\n"
    "  --max-per-ip N         connections at once from one address (default 8)\n"
    "Exit 3 if DIR is missing or the address cannot be bound.\n";

int cmd_wire_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"max-conns", required_argument, NULL, 'm'},
        {"max-per-ip", required_argument, NULL, 'i'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL, *listen = "0.0.0.0:0";
    long long max_conns = -1, max_ip = -1;
    char dir[4096], host[256], where[300];
    int c, rc, sig = 0, port;
    mt_wire_server_config cfg;
    mt_wire_server *srv = NULL;
    mt_wire_server_stats st;
    mt_error err;
    sigset_t set, old;
    struct sigaction sa;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir_opt = optarg; break;
        case 'l':
            if (!hostport_ok(optarg, 1))
                return fail(EXIT_USAGE, "--listen wants ADDR:PORT, not '%s'", optarg);
            listen = optarg;
            break;
        case 'm':
            if ((max_conns = parse_count(optarg, 100000)) < 1)
                return fail(EXIT_USAGE, "--max-conns wants 1 to 100000, not '%s'", optarg);
            break;
        case 'i':
            if ((max_ip = parse_count(optarg, 100000)) < 1)
                return fail(EXIT_USAGE, "--max-per-ip wants 1 to 100000, not '%s'", optarg);
            break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(serve_usage, stdout); return EXIT_OK;
        default: return bad_option("wire serve", argv, c);
        }
    }
    if (optind != argc)
        return fail(EXIT_USAGE, "wire serve takes no arguments (see mtctl wire serve --help)");
    if ((rc = store_dir(dir_opt, dir, sizeof dir)) != EXIT_OK)
        return rc;
    if (!is_dir(dir))
        return fail(EXIT_LOCAL, "%s: no such directory", dir);

    /* Block the stop signals before the server thread starts, so it
     * inherits the mask and sigwait() below gets them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    mt_wire_server_config_init(&cfg);
    cfg.listen = listen;
    cfg.blob_dir = dir;
    if (max_conns > 0)
        cfg.max_conns = (int)max_conns;
    if (max_ip > 0)
        cfg.max_conns_per_ip = (int)max_ip;
    if ((rc = mt_wire_server_start(&cfg, &srv, &err)) != 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return fail(rc == MT_EINVAL ? EXIT_USAGE : EXIT_LOCAL, "cannot serve on %s: %s", listen, err.message);
    }
    port = mt_wire_server_port(srv);
    host_of(listen, host, sizeof host);
    snprintf(where, sizeof where, "%s:%d", host, port);
    if (g_out.json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "listen", where);
        cJSON_AddNumberToObject(d, "port", port);
        emit_json(d);
    } else {
        printf("listening on %s\n", where);
        fflush(stdout);
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "serving the blobs in %s over mt-wire (Ctrl-C stops)\n", dir);
    }
    while (sigwait(&set, &sig) != 0)
        ;
    mt_wire_server_get_stats(srv, &st);
    mt_wire_server_stop(srv);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (g_out.json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
        cJSON_AddNumberToObject(d, "accepted", (double)st.accepted);
        cJSON_AddNumberToObject(d, "refused_per_ip", (double)st.refused_per_ip);
        cJSON_AddNumberToObject(d, "refused_full", (double)st.refused_full);
        cJSON_AddNumberToObject(d, "bad_frames", (double)st.bad_frames);
        cJSON_AddNumberToObject(d, "timeouts", (double)st.timeouts);
        cJSON_AddNumberToObject(d, "blobs_served", (double)st.blobs_served);
        cJSON_AddNumberToObject(d, "not_found", (double)st.not_found);
        cJSON_AddNumberToObject(d, "bytes_sent", (double)st.bytes_sent);
        emit_json(d);
    } else {
        char sent[32];
        human_bytes((double)st.bytes_sent, sent, sizeof sent);
        printf("stopped (%s): %llu connection%s accepted, %llu refused (%llu per-IP cap, %llu full), "
               "%llu bad frame%s, %llu timeout%s, %llu blob%s served (%s), %llu not found\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)st.accepted, st.accepted == 1 ? "" : "s",
               (unsigned long long)(st.refused_per_ip + st.refused_full), (unsigned long long)st.refused_per_ip,
               (unsigned long long)st.refused_full, (unsigned long long)st.bad_frames, st.bad_frames == 1 ? "" : "s",
               (unsigned long long)st.timeouts, st.timeouts == 1 ? "" : "s", (unsigned long long)st.blobs_served,
               st.blobs_served == 1 ? "" : "s", sent, (unsigned long long)st.not_found);
        fflush(stdout);
    }
    return EXIT_OK;
}

static const char get_usage[] =
    "usage: mtctl wire get --peer HOST:PORT BLOB_ID [-o FILE] [--force]\n"
    "                      [--timeout SECONDS] [--json]\n"
    "\n"
    "Fetch one blob from an mt-wire host: connect, handshake, REQUEST the id,\n"
    "check that the bytes hash to it (SHA-256) and write them to FILE\n"
    "atomically (default ./BLOB_ID). Prints the byte count and the check; with\n"
    "--json {id, peer, out, bytes, id_ok, elapsed_ms}.\n"
    "  --peer HOST:PORT  the host (\"[v6]:port\" for IPv6; numeric addresses)\n"
    "  -o, --output FILE where to write (never over an existing file unless --force)\n"
    "  -t, --timeout S   for the connection and for the answer (default 30)\n"
    "Exit 1 if the host cannot be reached, does not have the blob, sends bytes\n"
    "that do not match the id, or the time runs out.\n";

int cmd_wire_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"peer", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *peer = NULL, *out_opt = NULL, *id;
    long long timeout = WIRE_GET_TIMEOUT_S;
    int c, force = 0, rc, id_ok;
    char out[4096], got[MT_BLOB_ID_HEX];
    mt_wire_conn *conn = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    mt_error err;
    int64_t t0;
    struct sigaction sa;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:t:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!hostport_ok(optarg, 0))
                return fail(EXIT_USAGE, "--peer wants HOST:PORT, not '%s'", optarg);
            peer = optarg;
            break;
        case 'o': out_opt = optarg; break;
        case 'f': force = 1; break;
        case 't':
            if ((timeout = parse_count(optarg, 3600)) < 1)
                return fail(EXIT_USAGE, "--timeout wants 1 to 3600 seconds, not '%s'", optarg);
            break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(get_usage, stdout); return EXIT_OK;
        default: return bad_option("wire get", argv, c);
        }
    }
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "wire get takes one BLOB_ID (see mtctl wire get --help)");
    id = argv[optind];
    if (!peer)
        return fail(EXIT_USAGE, "wire get: which host? give --peer HOST:PORT");
    if (!mt_blob_id_valid(id))
        return fail(EXIT_USAGE, "'%s' is not a blob id (64 lower-case hex digits)", id);
    if ((size_t)snprintf(out, sizeof out, "%s", out_opt ? out_opt : id) >= sizeof out)
        return fail(EXIT_USAGE, "-o: path too long");
    if (!force && access(out, F_OK) == 0)
        return fail(EXIT_FAILED, "%s exists (--force replaces it)", out);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    t0 = mt_now_ms();
    if ((rc = mt_wire_connect(peer, (int)timeout * 1000, &conn, &err)) != 0)
        return fail(rc == MT_ENOMEM ? EXIT_LOCAL : EXIT_FAILED, "%s", err.message);
    rc = mt_wire_get(conn, id, (int)timeout * 1000, &blob, &len, &err);
    mt_wire_close(conn);
    if (rc)
        return fail(rc == MT_ENOMEM ? EXIT_LOCAL : EXIT_FAILED, "%s", err.message);
    mt_blob_id(blob, len, got);
    id_ok = strcmp(got, id) == 0;
    if (!id_ok) { /* mt_wire_get checks this; never write a wrong blob */
        free(blob);
        return fail(EXIT_FAILED, "%s sent %zu bytes that hash to %s, not %s", peer, len, got, id);
    }
    rc = mt_file_write_atomic(out, blob, len, 0644, force, &err);
    free(blob);
    if (rc == MT_EEXIST)
        return fail(EXIT_FAILED, "%s exists (--force replaces it)", out);
    if (rc)
        return fail(EXIT_LOCAL, "%s", err.message);
    if (g_out.json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "id", id);
        cJSON_AddStringToObject(d, "peer", peer);
        cJSON_AddStringToObject(d, "out", out);
        cJSON_AddNumberToObject(d, "bytes", (double)len);
        cJSON_AddBoolToObject(d, "id_ok", id_ok);
        cJSON_AddNumberToObject(d, "elapsed_ms", (double)(mt_now_ms() - t0));
        emit_json(d);
    } else {
        char path[4200];
        clean_text(out, path, sizeof path);
        printf("%s: %zu bytes from %s, SHA-256 matches the id -> %s\n", id, len, peer, path);
    }
    return EXIT_OK;
}

const char wire_usage[] =
    "usage: mtctl wire COMMAND [ARGS]\n"
    "\n"
    "mt-wire, the encrypted blob transport (X25519 handshake, ChaCha20-Poly1305\n"
    "frames) the reference client speaks.\n"
    "\n"
    "Commands:\n"
    "  serve [-d DIR] [--listen ADDR:PORT] [--max-conns N] [--max-per-ip N]\n"
    "                       serve a blob directory until SIGINT/SIGTERM\n"
    "  get --peer HOST:PORT BLOB_ID [-o FILE] [--force] [--timeout S]\n"
    "                       fetch one blob and check it against its id\n"
    "\n"
    "Each takes --json and --help: mtctl wire COMMAND --help.\n";
