/* cmd_manifest.c - mtctl manifest create | verify | show | diff (offline). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mt_feedaddr.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_seq.h"
#include "mtctl.h"

const char manifest_usage[] =
    "usage: mtctl manifest create [-k KEY] [--title T] [--seq N] [--timestamp MS]\n"
    "                             [--read-key HEX] [--topic T]... [--metadata JSON]\n"
    "                             [-o FILE] [--state-dir DIR] (ITEM... | -i FILE)\n"
    "       mtctl manifest verify [--key ADDRESS] [--min-seq N] [--read-key HEX] FILE|-\n"
    "       mtctl manifest show [--read-key HEX] FILE|-\n"
    "       mtctl manifest diff [--read-key HEX] OLD NEW\n"
    "\n"
    "create  sign a manifest of ITEMs (magnet links, magnet:?xs=urn:btpk: links\n"
    "        to other feeds, text lines, or FileEntry JSON objects) in one\n"
    "        collection (--title, default \"Default\") and print it as canonical\n"
    "        JSON. -i FILE reads one item per line ('-' is stdin; blank lines and\n"
    "        lines starting with '#' are skipped). The sequence is\n"
    "        max(last + 1, now in ms), recorded under --state-dir (default\n"
    "        $MT_STATE_DIR or ~/.local/state/megatorrent) before signing; --seq\n"
    "        must be above the last one used. --read-key makes it private.\n"
    "verify  check a manifest against every rule; exit 0 with a summary, or 1\n"
    "        naming the member and the rule that failed. --key takes a public\n"
    "        key, a magnet:?xs=urn:btpk: address or megatorrent://PK[:READKEY];\n"
    "        --min-seq N requires sequence >= N.\n"
    "show    verify, then print the manifest as a table.\n"
    "diff    verify both, then list the items added (+) and removed (-) in each\n"
    "        collection.\n"
    "\n"
    "Common: -k KEY (default key file), --passphrase-file F, --json.\n";

#define ITEMS_FILE_MAX (64u * 1024 * 1024)

typedef struct man_args {
    const char *keyfile, *passfile, *title, *out, *input, *state_dir, *metadata, *key;
    const char *topics[64];
    size_t n_topics;
    long long seq, timestamp, min_seq;
    int has_read_key;
    uint8_t read_key[32];
} man_args;

/* Parse options into a; positional arguments start at optind. */
static int man_parse(int argc, char **argv, const char *who, man_args *a)
{
    static const struct option opts[] = {
        {"key-file", required_argument, NULL, 'k'},
        {"title", required_argument, NULL, 't'},
        {"seq", required_argument, NULL, 'S'},
        {"timestamp", required_argument, NULL, 'T'},
        {"read-key", required_argument, NULL, 'r'},
        {"topic", required_argument, NULL, 'p'},
        {"metadata", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"state-dir", required_argument, NULL, 'd'},
        {"key", required_argument, NULL, 'K'},
        {"min-seq", required_argument, NULL, 'M'},
        {"passphrase-file", required_argument, NULL, 'P'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    a->min_seq = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:o:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': a->keyfile = optarg; break;
        case 't': a->title = optarg; break;
        case 'S':
            if ((a->seq = parse_count(optarg, MT_SEQ_MAX)) <= 0)
                return fail(EXIT_USAGE, "--seq wants an integer from 1 to 2^53-1");
            break;
        case 'T':
            if ((a->timestamp = parse_count(optarg, MT_SEQ_MAX)) < 0)
                return fail(EXIT_USAGE, "--timestamp wants milliseconds since 1970 (0 to 2^53-1)");
            break;
        case 'r':
            if (parse_read_key(optarg, a->read_key) != EXIT_OK)
                return EXIT_USAGE;
            a->has_read_key = 1;
            break;
        case 'p':
            if (a->n_topics == sizeof a->topics / sizeof a->topics[0])
                return fail(EXIT_USAGE, "at most 64 --topic options");
            a->topics[a->n_topics++] = optarg;
            break;
        case 'm': a->metadata = optarg; break;
        case 'o': a->out = optarg; break;
        case 'i': a->input = optarg; break;
        case 'd': a->state_dir = optarg; break;
        case 'K': a->key = optarg; break;
        case 'M':
            if ((a->min_seq = parse_count(optarg, MT_SEQ_MAX)) < 0)
                return fail(EXIT_USAGE, "--min-seq wants an integer from 0 to 2^53-1");
            break;
        case 'P': a->passfile = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(manifest_usage, stdout); return -1;
        default: return fail(EXIT_USAGE, "manifest %s: bad option '%s'", who, argv[optind - 1]);
        }
    }
    return EXIT_OK;
}

/* Exit code for a manifest that broke a rule vs. one we could not read. */
static int exit_for_manifest(int rc)
{
    return rc == MT_ENOMEM || rc == MT_EIO || rc == MT_ENOTFOUND ? EXIT_LOCAL : EXIT_FAILED;
}

/* Read, verify and validate FILE under a's expectations. */
static int load_file(const char *path, const man_args *a, mt_manifest **out)
{
    mt_manifest_expect e;
    mt_feedaddr fa;
    mt_error err;
    char *json = NULL;
    size_t len = 0;
    int rc;

    mt_manifest_expect_init(&e);
    if (a->key) {
        if (mt_feedaddr_parse(a->key, &fa, &err) != 0)
            return fail(EXIT_USAGE, "--key: %s", err.message);
        e.public_key = fa.pk;
        if (fa.has_read_key && !a->has_read_key)
            e.read_key = fa.read_key;
    }
    if (a->has_read_key)
        e.read_key = a->read_key;
    if (a->min_seq >= 0)
        e.highest_seq = a->min_seq - 1;
    rc = read_input(path, MT_MANIFEST_MAX, &json, &len, &err);
    if (rc)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    rc = mt_manifest_load(json, len, &e, out, &err);
    free(json);
    if (rc)
        return fail(exit_for_manifest(rc), "%s: %s", path, err.message);
    return EXIT_OK;
}

/* ---------------------------------------------------------------- create */

/* Add one item argument or line: JSON object or string item. */
static int add_item_text(mt_manifest_draft *d, const char *s, const char *where)
{
    mt_error err;
    int rc = s[0] == '{' ? mt_manifest_draft_add_entry(d, s, strlen(s), &err)
                         : mt_manifest_draft_add_item(d, s, &err);
    return rc ? fail(EXIT_FAILED, "%s: %s", where, err.message) : EXIT_OK;
}

/* Items from a file, one per line. */
static int add_items_file(mt_manifest_draft *d, const char *path, size_t *count)
{
    char *buf = NULL, *line, *save = NULL, where[64];
    size_t len = 0, lineno = 0;
    mt_error err;
    int rc = EXIT_OK;

    if ((rc = read_input(path, ITEMS_FILE_MAX, &buf, &len, &err)) != 0)
        return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    if (memchr(buf, '\0', len)) {
        free(buf);
        return fail(EXIT_FAILED, "%s: contains NUL bytes; it must be text", path);
    }
    rc = EXIT_OK;
    for (line = strtok_r(buf, "\n", &save); line && rc == EXIT_OK; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        lineno++;
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        snprintf(where, sizeof where, "%s line %zu", strcmp(path, "-") ? "input" : "stdin", lineno);
        rc = add_item_text(d, line, where);
        (*count)++;
    }
    free(buf);
    return rc;
}

/* The file that records the last sequence signed with pk. */
static int seq_path(const man_args *a, const uint8_t pk[32], char *buf, size_t cap)
{
    char dir[4096], pkhex[65];
    if (a->state_dir)
        snprintf(dir, sizeof dir, "%s", a->state_dir);
    else if (default_state_dir(dir, sizeof dir) != 0)
        return fail(EXIT_USAGE, "no state directory: give --state-dir DIR (or set MT_STATE_DIR or HOME)");
    mt_hex_encode(pk, 32, pkhex);
    if ((size_t)snprintf(buf, cap, "%s/seq/%s", dir, pkhex) >= cap)
        return fail(EXIT_USAGE, "--state-dir path too long");
    if (make_parent_dirs(buf, 0700) != 0)
        return fail(EXIT_LOCAL, "cannot create %s/seq", dir);
    return EXIT_OK;
}

int cmd_manifest_create(int argc, char **argv)
{
    man_args a;
    mt_manifest_draft *d = NULL;
    mt_identity *id = NULL;
    mt_error err;
    char path[4200], *json = NULL;
    size_t len = 0, count = 0;
    int64_t seq = 0, ts;
    int rc = man_parse(argc, argv, "create", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (a.key || a.min_seq >= 0)
        return fail(EXIT_USAGE, "manifest create: --key and --min-seq belong to verify");
    if ((optind < argc) == (a.input != NULL))
        return fail(EXIT_USAGE, "manifest create wants ITEMs or -i FILE (one of them)");
    if (mt_manifest_draft_new(&d, &err) != 0)
        return fail(EXIT_LOCAL, "%s", err.message);
    if (a.title && mt_manifest_draft_add_collection(d, a.title, &err) != 0) {
        rc = fail(EXIT_USAGE, "--title: %s", err.message);
        goto out;
    }
    for (size_t i = 0; i < a.n_topics && rc == EXIT_OK; i++)
        if (mt_manifest_draft_add_topic(d, a.topics[i], &err) != 0)
            rc = fail(EXIT_USAGE, "--topic: %s", err.message);
    if (rc == EXIT_OK && a.metadata && mt_manifest_draft_set_metadata(d, a.metadata, strlen(a.metadata), &err))
        rc = fail(EXIT_USAGE, "--metadata: %s", err.message);
    for (int i = optind; i < argc && rc == EXIT_OK; i++) {
        char where[48];
        snprintf(where, sizeof where, "item %d", i - optind + 1);
        rc = add_item_text(d, argv[i], where);
        count++;
    }
    if (rc == EXIT_OK && a.input)
        rc = add_items_file(d, a.input, &count);
    if (rc != EXIT_OK)
        goto out;
    /* Everything is checked before a sequence is spent. */
    if ((rc = load_identity(a.keyfile, a.passfile, &id)) != EXIT_OK ||
        (rc = seq_path(&a, mt_identity_public_key(id), path, sizeof path)) != EXIT_OK)
        goto out;
    if (mt_seq_next(path, a.seq, mt_wall_ms(), &seq, &err) != 0) {
        rc = fail(err.code == MT_ESTALE ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
        goto out;
    }
    ts = a.timestamp ? a.timestamp : mt_wall_ms();
    if (mt_manifest_draft_sign(d, id, seq, ts, a.has_read_key ? a.read_key : NULL, &json, &len, &err) != 0) {
        rc = fail(EXIT_LOCAL, "%s", err.message);
        goto out;
    }
    if (!a.out) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else if (mt_file_write_atomic(a.out, json, len, 0644, 1, &err) != 0) {
        rc = fail(EXIT_LOCAL, "%s", err.message);
    } else if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "file", a.out);
        cJSON_AddNumberToObject(doc, "sequence", (double)seq);
        cJSON_AddNumberToObject(doc, "items", (double)count);
        cJSON_AddNumberToObject(doc, "bytes", (double)len);
        emit_json(doc);
    } else {
        printf("wrote %s: sequence %" PRId64 ", %zu item%s, %zu bytes\n", a.out, seq, count,
               count == 1 ? "" : "s", len);
    }
out:
    free(json);
    mt_identity_free(id);
    mt_manifest_draft_free(d);
    return rc;
}

/* ---------------------------------------------------------------- verify */

/* "2023-11-14T22:13:20.000Z" for a timestamp in ms. */
static void format_ms(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "-");
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Summary members shared by verify and show. */
static cJSON *summary_json(const mt_manifest *m)
{
    cJSON *doc = cJSON_CreateObject();
    char pkhex[65];
    mt_hex_encode(mt_manifest_public_key(m), 32, pkhex);
    cJSON_AddBoolToObject(doc, "valid", 1);
    cJSON_AddStringToObject(doc, "publicKey", pkhex);
    cJSON_AddNumberToObject(doc, "sequence", (double)mt_manifest_sequence(m));
    if (!mt_manifest_is_sealed(m))
        cJSON_AddNumberToObject(doc, "timestamp", (double)mt_manifest_timestamp(m));
    cJSON_AddBoolToObject(doc, "private", mt_manifest_is_private(m));
    cJSON_AddBoolToObject(doc, "sealed", mt_manifest_is_sealed(m));
    if (!mt_manifest_is_sealed(m)) {
        cJSON_AddNumberToObject(doc, "collections", (double)mt_manifest_collection_count(m));
        cJSON_AddNumberToObject(doc, "items", (double)mt_manifest_total_items(m));
    }
    return doc;
}

static void print_summary(const mt_manifest *m)
{
    char pkhex[65], when[64];
    mt_hex_encode(mt_manifest_public_key(m), 32, pkhex);
    printf("publisher   %s\nsequence    %" PRId64 "\n", pkhex, mt_manifest_sequence(m));
    if (mt_manifest_is_sealed(m)) {
        printf("private     yes, sealed (give --read-key to see the items)\n");
        return;
    }
    format_ms(mt_manifest_timestamp(m), when, sizeof when);
    printf("timestamp   %" PRId64 " (%s)\n", mt_manifest_timestamp(m), when);
    if (mt_manifest_is_private(m))
        printf("private     yes, opened with the read key\n");
    printf("contents    %zu collection%s, %zu item%s\n", mt_manifest_collection_count(m),
           mt_manifest_collection_count(m) == 1 ? "" : "s", mt_manifest_total_items(m),
           mt_manifest_total_items(m) == 1 ? "" : "s");
}

int cmd_manifest_verify(int argc, char **argv)
{
    man_args a;
    mt_manifest *m = NULL;
    int rc = man_parse(argc, argv, "verify", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "manifest verify takes one FILE (or - for stdin)");
    if ((rc = load_file(argv[optind], &a, &m)) != EXIT_OK)
        return rc;
    if (g_out.json) {
        emit_json(summary_json(m));
    } else {
        printf("valid       %s\n", argv[optind]);
        print_summary(m);
    }
    mt_manifest_free(m);
    return EXIT_OK;
}

/* ---------------------------------------------------------------- show */

/* One line describing an item (for tables and diffs). */
static void describe_item(const mt_item *it, char *buf, size_t cap)
{
    char hex[65], name[MT_NAME_MAX + 1];
    switch (it->kind) {
    case MT_ITEM_MAGNET:
        if (it->u.magnet.has_v1)
            mt_hex_encode(it->u.magnet.v1, 20, hex);
        else
            mt_hex_encode(it->u.magnet.v2, 32, hex);
        snprintf(buf, cap, "%s %s  %s", it->u.magnet.has_v1 ? (it->u.magnet.has_v2 ? "hybrid" : "v1") : "v2", hex,
                 it->text);
        break;
    case MT_ITEM_FILE:
        mt_filename_sanitize(it->u.file.name, name, sizeof name);
        snprintf(buf, cap, "%s  %" PRId64 " bytes in %zu blob%s%s", name, it->u.file.size, it->u.file.n_chunks,
                 it->u.file.n_chunks == 1 ? "" : "s", it->u.file.has_swarm ? ", with a swarm" : "");
        break;
    default:
        snprintf(buf, cap, "%s", it->text);
        break;
    }
    /* Signed text is still untrusted: never send control bytes to a terminal. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* JSON form of an item for --json output. */
static cJSON *item_json(const mt_item *it)
{
    cJSON *o = cJSON_CreateObject();
    char hex[65], name[MT_NAME_MAX + 1];
    cJSON_AddStringToObject(o, "kind", mt_item_kind_name(it->kind));
    switch (it->kind) {
    case MT_ITEM_MAGNET:
        if (it->u.magnet.has_v1) {
            mt_hex_encode(it->u.magnet.v1, 20, hex);
            cJSON_AddStringToObject(o, "btih", hex);
        }
        if (it->u.magnet.has_v2) {
            mt_hex_encode(it->u.magnet.v2, 32, hex);
            cJSON_AddStringToObject(o, "btmh", hex);
        }
        cJSON_AddStringToObject(o, "magnet", it->text);
        break;
    case MT_ITEM_FEED:
        mt_hex_encode(it->u.feed.pk, 32, hex);
        cJSON_AddStringToObject(o, "publicKey", hex);
        cJSON_AddStringToObject(o, "address", it->text);
        break;
    case MT_ITEM_FILE:
        mt_filename_sanitize(it->u.file.name, name, sizeof name);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddNumberToObject(o, "size", (double)it->u.file.size);
        cJSON_AddNumberToObject(o, "blobs", (double)it->u.file.n_chunks);
        cJSON_AddItemToObject(o, "entry", cJSON_Duplicate(it->json, 1));
        break;
    case MT_ITEM_TEXT:
        cJSON_AddStringToObject(o, "text", it->text);
        break;
    }
    return o;
}

int cmd_manifest_show(int argc, char **argv)
{
    man_args a;
    mt_manifest *m = NULL;
    char line[1024];
    int rc = man_parse(argc, argv, "show", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "manifest show takes one FILE (or - for stdin)");
    if ((rc = load_file(argv[optind], &a, &m)) != EXIT_OK)
        return rc;
    if (g_out.json) {
        cJSON *doc = summary_json(m), *colls = cJSON_AddArrayToObject(doc, "collectionList");
        for (size_t c = 0; c < mt_manifest_collection_count(m); c++) {
            cJSON *co = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(co, "items");
            cJSON_AddStringToObject(co, "title", mt_manifest_collection_title(m, c));
            for (size_t i = 0; i < mt_manifest_item_count(m, c); i++)
                cJSON_AddItemToArray(items, item_json(mt_manifest_item(m, c, i)));
            cJSON_AddItemToArray(colls, co);
        }
        if (mt_manifest_topics(m))
            cJSON_AddItemToObject(doc, "topics", cJSON_Duplicate(mt_manifest_topics(m), 1));
        if (mt_manifest_metadata(m))
            cJSON_AddItemToObject(doc, "metadata", cJSON_Duplicate(mt_manifest_metadata(m), 1));
        emit_json(doc);
        mt_manifest_free(m);
        return EXIT_OK;
    }
    print_summary(m);
    if (mt_manifest_topics(m)) {
        const cJSON *t;
        printf("topics     ");
        cJSON_ArrayForEach(t, mt_manifest_topics(m))
            printf(" %s", t->valuestring);
        printf("\n");
    }
    for (size_t c = 0; c < mt_manifest_collection_count(m); c++) {
        printf("\n%s (%zu)\n", mt_manifest_collection_title(m, c), mt_manifest_item_count(m, c));
        printf("  %-4s %-7s %s\n", "#", "KIND", "ITEM");
        for (size_t i = 0; i < mt_manifest_item_count(m, c); i++) {
            const mt_item *it = mt_manifest_item(m, c, i);
            describe_item(it, line, sizeof line);
            printf("  %-4zu %-7s %s\n", i + 1, mt_item_kind_name(it->kind), line);
        }
    }
    mt_manifest_free(m);
    return EXIT_OK;
}

/* ---------------------------------------------------------------- diff */

int cmd_manifest_diff(int argc, char **argv)
{
    man_args a;
    mt_manifest *old_m = NULL, *new_m = NULL;
    mt_manifest_diff d;
    mt_error err;
    char line[1024];
    int rc = man_parse(argc, argv, "diff", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind + 2 != argc)
        return fail(EXIT_USAGE, "manifest diff takes OLD and NEW");
    if ((rc = load_file(argv[optind], &a, &old_m)) != EXIT_OK)
        return rc;
    if ((rc = load_file(argv[optind + 1], &a, &new_m)) != EXIT_OK)
        goto out;
    if (sodium_memcmp(mt_manifest_public_key(old_m), mt_manifest_public_key(new_m), 32) != 0) {
        rc = fail(EXIT_FAILED, "the manifests have different publishers; a diff compares versions of one feed");
        goto out;
    }
    if (mt_manifest_diff_compute(old_m, new_m, &d, &err) != 0) {
        rc = fail(exit_for(err.code), "%s", err.message);
        goto out;
    }
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *added = cJSON_AddArrayToObject(doc, "added"), *removed = cJSON_AddArrayToObject(doc, "removed");
        cJSON_AddNumberToObject(doc, "oldSequence", (double)mt_manifest_sequence(old_m));
        cJSON_AddNumberToObject(doc, "newSequence", (double)mt_manifest_sequence(new_m));
        for (size_t i = 0; i < d.n_changes; i++) {
            cJSON *o = item_json(d.changes[i].item);
            cJSON_AddStringToObject(o, "collection", d.changes[i].collection);
            cJSON_AddItemToArray(d.changes[i].added ? added : removed, o);
        }
        emit_json(doc);
    } else {
        printf("sequence %" PRId64 " -> %" PRId64 ": %zu added, %zu removed\n", mt_manifest_sequence(old_m),
               mt_manifest_sequence(new_m), d.n_added, d.n_removed);
        if (mt_manifest_sequence(new_m) <= mt_manifest_sequence(old_m))
            printf("note: NEW does not have the higher sequence; subscribers would refuse it\n");
        for (size_t i = 0; i < d.n_changes; i++) {
            describe_item(d.changes[i].item, line, sizeof line);
            printf("%c [%s] %s\n", d.changes[i].added ? '+' : '-', d.changes[i].collection, line);
        }
    }
    mt_manifest_diff_clear(&d);
out:
    mt_manifest_free(old_m);
    mt_manifest_free(new_m);
    return rc;
}
