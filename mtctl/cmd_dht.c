/* cmd_dht.c - mtctl dht put/get/announce/peers: one-shot DHT operations. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_identity.h"
#include "mt_util.h"
#include "mtctl.h"

const char dht_usage[] =
    "usage: mtctl dht put -k KEYFILE [--salt S] [--seq N] [--bencoded] VALUE\n"
    "       mtctl dht put --immutable [--bencoded] VALUE\n"
    "       mtctl dht get PUBKEY_HEX [--salt S] [--settle SECONDS]\n"
    "       mtctl dht get --immutable TARGET_HEX\n"
    "       mtctl dht announce INFOHASH_HEX [--port P]\n"
    "       mtctl dht peers INFOHASH_HEX\n"
    "\n"
    "BEP-44 items and BEP-5 peers on the DHT. VALUE is stored as a bencoded\n"
    "string unless --bencoded says it already is (canonical, under 1000\n"
    "bytes). Without --seq a mutable put uses one above the seq the DHT holds.\n"
    "A mutable get prints the highest seq found once every queried node has\n"
    "answered (authoritative), or --settle seconds (default 2) after the\n"
    "first result, whichever is first; the output says which.\n"
    "\n"
    "Common options:\n"
    "  -b, --bootstrap HOST:PORT  DHT node to join through (repeatable, or a\n"
    "                             comma list); default: Mainline routers\n"
    "  -l, --listen ADDR:PORT     where to listen (default: a free port on\n"
    "                             127.0.0.1 for loopback bootstraps, else any)\n"
    "  -t, --timeout SECONDS      how long to wait (default 30; peers: 5)\n"
    "      --json                 one JSON document on stdout\n";

enum { OPT_IMMUTABLE = 256, OPT_BENCODED, OPT_SETTLE };

typedef struct dht_args {
    net_opts net;
    const char *keyfile;
    const char *salt;
    long long seq;          /* 0 = automatic */
    int port;               /* announce; 0 = implied */
    int immutable;
    int bencoded;
    int settle_ms;          /* get: wait this long after the first result */
    const char *arg;        /* the one positional argument */
} dht_args;

/* Parse the options of `dht VERB`; 0 or an exit code. */
static int parse_args(int argc, char **argv, dht_args *a, int default_timeout_s)
{
    static const struct option opts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"listen", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},
        {"salt", required_argument, NULL, 's'},
        {"seq", required_argument, NULL, 'q'},
        {"port", required_argument, NULL, 'p'},
        {"immutable", no_argument, NULL, OPT_IMMUTABLE},
        {"bencoded", no_argument, NULL, OPT_BENCODED},
        {"settle", required_argument, NULL, OPT_SETTLE},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long v;
    int c;
    memset(a, 0, sizeof *a);
    a->net.timeout_ms = default_timeout_s * 1000;
    a->settle_ms = 2000;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "b:l:t:k:s:q:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (net_add_bootstrap(&a->net, optarg) != 0)
                return fail(EXIT_USAGE, "--bootstrap list too long or empty");
            break;
        case 'l': a->net.listen = optarg; break;
        case 't':
            if ((v = parse_count(optarg, 3600)) < 1)
                return fail(EXIT_USAGE, "--timeout wants 1-3600 seconds, not '%s'", optarg);
            a->net.timeout_ms = (int)v * 1000;
            break;
        case 'k': a->keyfile = optarg; break;
        case 's': a->salt = optarg; break;
        case 'q':
            if ((v = parse_count(optarg, INT64_MAX)) < 1)
                return fail(EXIT_USAGE, "--seq wants a positive integer, not '%s'", optarg);
            a->seq = v;
            break;
        case 'p':
            if ((v = parse_count(optarg, 65535)) < 1)
                return fail(EXIT_USAGE, "--port wants 1-65535, not '%s'", optarg);
            a->port = (int)v;
            break;
        case OPT_IMMUTABLE: a->immutable = 1; break;
        case OPT_BENCODED: a->bencoded = 1; break;
        case 0: break; /* OPT_JSON */
        case OPT_SETTLE:
            if ((v = parse_count(optarg, 3600)) < 0)
                return fail(EXIT_USAGE, "--settle wants seconds, not '%s'", optarg);
            a->settle_ms = (int)v * 1000;
            break;
        case 'h': fputs(dht_usage, stdout); return -1;
        default: return fail(EXIT_USAGE, "dht %s: bad or incomplete option '%s'", argv[0], argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "dht %s wants exactly one argument (see mtctl dht --help)", argv[0]);
    a->arg = argv[optind];
    if (a->salt && strlen(a->salt) > MT_DHT_SALT_MAX)
        return fail(EXIT_USAGE, "--salt is %zu bytes; at most %d", strlen(a->salt), MT_DHT_SALT_MAX);
    return 0;
}

static double ms_since(int64_t t0)
{
    return (double)(mt_now_ms() - t0);
}

/* Add value (text when it is a printable byte string) and value_hex. */
static void describe_value(cJSON *doc, const uint8_t *v, size_t len)
{
    const uint8_t *str = NULL;
    size_t slen = 0;
    char *hex = malloc(2 * len + 1);
    int printable = mt_bencode_get_string(v, len, &str, &slen, NULL) == 0;
    for (size_t i = 0; printable && i < slen; i++)
        if (str[i] < 0x20 && str[i] != '\n' && str[i] != '\t')
            printable = 0;
    if (printable) {
        char *text = malloc(slen + 1);
        if (text) {
            memcpy(text, str, slen);
            text[slen] = '\0';
            cJSON_AddStringToObject(doc, "value", text);
            free(text);
        }
    } else {
        cJSON_AddNullToObject(doc, "value");
    }
    if (hex) {
        mt_hex_encode(v, len, hex);
        cJSON_AddStringToObject(doc, "value_hex", hex);
        free(hex);
    }
}

static void add_hex(cJSON *doc, const char *name, const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    mt_hex_encode(p, n, buf);
    cJSON_AddStringToObject(doc, name, buf);
}

/* Print a result document as aligned "name  value" lines, or as JSON. */
static void print_result(cJSON *doc)
{
    cJSON *it;
    if (g_out.json) {
        emit_json(doc);
        return;
    }
    cJSON_ArrayForEach(it, doc) {
        if (cJSON_IsString(it))
            printf("%-12s %s\n", it->string, it->valuestring);
        else if (cJSON_IsBool(it))
            printf("%-12s %s\n", it->string, cJSON_IsTrue(it) ? "yes" : "no");
        else if (cJSON_IsNull(it))
            printf("%-12s (not a printable string; see value_hex)\n", it->string);
        else if (cJSON_IsNumber(it) && it->valuedouble == (double)(long long)it->valuedouble)
            printf("%-12s %lld\n", it->string, (long long)it->valuedouble);
        else if (cJSON_IsNumber(it))
            printf("%-12s %.1f\n", it->string, it->valuedouble);
        else if (cJSON_IsArray(it)) {
            cJSON *e;
            printf("%-12s %d\n", it->string, cJSON_GetArraySize(it));
            cJSON_ArrayForEach(e, it) printf("  %s\n", cJSON_IsString(e) ? e->valuestring : "?");
        }
    }
    fflush(stdout);
    cJSON_Delete(doc);
}

/* VALUE as bencoding: raw with --bencoded (checked), else a byte string. */
static int value_bytes(const dht_args *a, uint8_t **v, size_t *len)
{
    mt_error err;
    if (a->bencoded) {
        size_t n = strlen(a->arg);
        if (mt_bencode_check((const uint8_t *)a->arg, n, &err) != 0)
            return fail(EXIT_USAGE, "VALUE: %s", err.message);
        *v = malloc(n ? n : 1);
        if (!*v)
            return fail(EXIT_LOCAL, "out of memory");
        memcpy(*v, a->arg, n);
        *len = n;
        return 0;
    }
    if (mt_bencode_string((const uint8_t *)a->arg, strlen(a->arg), v, len, &err) != 0)
        return fail(EXIT_LOCAL, "%s", err.message);
    return 0;
}

int cmd_dht_put(int argc, char **argv)
{
    dht_args a;
    mt_identity *id = NULL;
    mt_session *s = NULL;
    mt_error err;
    mt_event ev;
    uint8_t *v = NULL, target[20];
    size_t vlen = 0;
    size_t salt_len;
    int64_t t0;
    int rc = parse_args(argc, argv, &a, 30);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (a.immutable && (a.keyfile || a.salt || a.seq))
        return fail(EXIT_USAGE, "--immutable takes no key, salt or seq");
    if (!a.immutable && !a.keyfile)
        return fail(EXIT_USAGE, "dht put needs -k KEYFILE (or --immutable)");
    if ((rc = value_bytes(&a, &v, &vlen)) != 0)
        return rc;
    if (vlen > MT_DHT_VALUE_MAX) {
        free(v);
        return fail(EXIT_FAILED, "VALUE is %zu bytes bencoded; BEP-44 items must be under 1000", vlen);
    }
    if (a.keyfile && (rc = load_identity(a.keyfile, NULL, &id)) != EXIT_OK) {
        free(v);
        return rc;
    }
    if ((rc = net_open(&a.net, &s)) != 0)
        goto out;
    salt_len = a.salt ? strlen(a.salt) : 0;
    t0 = mt_now_ms();
    if (a.immutable)
        rc = mt_dht_put_immutable(s, v, vlen, target, &err);
    else
        rc = mt_dht_put_mutable(s, mt_identity_secret_key(id), (const uint8_t *)a.salt, salt_len, a.seq, v, vlen,
                                target, &err);
    if (rc) {
        rc = fail(exit_for(rc), "put refused: %s", err.message);
        goto out;
    }
    rc = mt_session_wait_event(s, MT_EVENT_DHT_PUT, target, a.net.timeout_ms, &ev, &err);
    if (rc) {
        rc = fail(EXIT_FAILED, "put: %s", err.message);
        goto out;
    }
    if (ev.error) {
        rc = fail(exit_for(ev.error), "put failed: %s", ev.message);
    } else {
        cJSON *doc = cJSON_CreateObject();
        add_hex(doc, "target", target, 20);
        cJSON_AddStringToObject(doc, "type", a.immutable ? "immutable" : "mutable");
        if (!a.immutable) {
            add_hex(doc, "public_key", mt_identity_public_key(id), 32);
            if (a.salt)
                cJSON_AddStringToObject(doc, "salt", a.salt);
            cJSON_AddNumberToObject(doc, "seq", (double)ev.seq);
        }
        describe_value(doc, v, vlen);
        if (!a.immutable)
            add_hex(doc, "signature", ev.signature, 64);
        cJSON_AddNumberToObject(doc, "stored_on", ev.num_success);
        cJSON_AddNumberToObject(doc, "ms", ms_since(t0));
        print_result(doc);
        rc = EXIT_OK;
    }
    mt_event_clear(&ev);
out:
    mt_session_free(s);
    mt_identity_free(id);
    free(v);
    return rc;
}

int cmd_dht_get(int argc, char **argv)
{
    dht_args a;
    mt_session *s = NULL;
    mt_error err;
    mt_event best, ev;
    uint8_t key[32], target[20];
    int64_t t0, deadline;
    double first_ms = -1;
    int rc = parse_args(argc, argv, &a, 30), have = 0, authoritative = 0;
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (a.immutable && a.salt)
        return fail(EXIT_USAGE, "--immutable takes no salt");
    if (mt_hex_decode(a.arg, a.immutable ? target : key, a.immutable ? 20 : 32) != 0)
        return fail(EXIT_USAGE, "%s must be %d hex digits", a.immutable ? "TARGET" : "PUBKEY",
                    a.immutable ? 40 : 64);
    if ((rc = net_open(&a.net, &s)) != 0)
        return rc;
    memset(&best, 0, sizeof best);
    t0 = mt_now_ms();
    deadline = t0 + a.net.timeout_ms;
    if (a.immutable) {
        rc = mt_dht_get_immutable(s, target, &err);
        if (!rc)
            rc = mt_session_wait_event(s, MT_EVENT_DHT_IMMUTABLE, target, a.net.timeout_ms, &best, &err);
        if (rc) {
            rc = fail(exit_for(rc), "get: %s", err.message);
            goto out;
        }
        have = 1;
        authoritative = 1;
        first_ms = ms_since(t0);
    } else {
        size_t salt_len = a.salt ? strlen(a.salt) : 0;
        rc = mt_dht_get_mutable(s, key, (const uint8_t *)a.salt, salt_len, target, &err);
        if (rc) {
            rc = fail(exit_for(rc), "get: %s", err.message);
            goto out;
        }
        /* Keep the highest seq until the authoritative answer, the timeout,
         * or --settle ms after the first result: a lookup that meets a
         * departed node waits libtorrent's 15 s request timeout for it. */
        while (!authoritative) {
            int64_t left;
            if (have && first_ms >= 0 && t0 + (int64_t)first_ms + a.settle_ms < deadline)
                deadline = t0 + (int64_t)first_ms + a.settle_ms;
            left = deadline - mt_now_ms();
            if (left <= 0 ||
                mt_session_wait_event(s, MT_EVENT_DHT_MUTABLE, target, (int)left, &ev, NULL) != 0)
                break;
            if (first_ms < 0 && !ev.error)
                first_ms = ms_since(t0);
            authoritative = ev.authoritative;
            if (!ev.error && (!have || ev.seq > best.seq)) {
                mt_event_clear(&best);
                best = ev;
                have = 1;
            } else {
                if (!have && ev.error)
                    best.error = ev.error;
                mt_event_clear(&ev);
            }
        }
    }
    if (!have || best.error) {
        rc = fail(EXIT_FAILED, "not found: nothing is stored under %s%s%s (%s after %.0f ms)", a.arg,
                  a.salt ? " with salt " : "", a.salt ? a.salt : "",
                  authoritative ? "every queried node answered" : "timed out", ms_since(t0));
        goto out;
    }
    {
        cJSON *doc = cJSON_CreateObject();
        add_hex(doc, "target", target, 20);
        cJSON_AddStringToObject(doc, "type", a.immutable ? "immutable" : "mutable");
        if (!a.immutable) {
            add_hex(doc, "public_key", key, 32);
            if (a.salt)
                cJSON_AddStringToObject(doc, "salt", a.salt);
            cJSON_AddNumberToObject(doc, "seq", (double)best.seq);
        }
        describe_value(doc, best.data, best.data_len);
        if (!a.immutable)
            add_hex(doc, "signature", best.signature, 64);
        cJSON_AddBoolToObject(doc, "authoritative", authoritative);
        cJSON_AddNumberToObject(doc, "first_ms", first_ms);
        cJSON_AddNumberToObject(doc, "ms", ms_since(t0));
        print_result(doc);
        rc = EXIT_OK;
    }
out:
    mt_event_clear(&best);
    mt_session_free(s);
    return rc;
}

/* Run one get_peers lookup for ih lasting ms; add "ip:port" strings of new
 * peers to arr. Returns the number added. */
static int lookup_peers(mt_session *s, const uint8_t ih[20], int ms, cJSON *arr, int print_live)
{
    mt_event ev;
    int added = 0;
    if (mt_dht_get_peers(s, ih, ms, NULL) != 0)
        return 0;
    /* The lookup's end; replies before it stay queued for the loop below. */
    if (mt_session_wait_event(s, MT_EVENT_DHT_PEERS_DONE, ih, ms + 5000, &ev, NULL) == 0)
        mt_event_clear(&ev);
    while (mt_session_next_event(s, &ev)) {
        if (ev.type == MT_EVENT_DHT_PEERS && !memcmp(ev.target, ih, 20)) {
            for (size_t i = 0; i < ev.num_peers; i++) {
                char ep[80];
                snprintf(ep, sizeof ep, strchr(ev.peers[i].addr, ':') ? "[%s]:%u" : "%s:%u", ev.peers[i].addr,
                         ev.peers[i].port);
                cJSON_AddItemToArray(arr, cJSON_CreateString(ep));
                if (print_live && !g_out.json)
                    printf("%s\n", ep);
                added++;
            }
        }
        mt_event_clear(&ev);
    }
    return added;
}

/* Shared start of the commands that take one INFOHASH_HEX: parse options,
 * decode the hash, join the DHT. 0 on success; -1 after --help; else an
 * exit code (the error already printed). */
static int open_for_hash(int argc, char **argv, dht_args *a, int default_timeout_s, uint8_t ih[20],
                         mt_session **s)
{
    int rc = parse_args(argc, argv, a, default_timeout_s);
    if (rc)
        return rc;
    if (mt_hex_decode(a->arg, ih, 20) != 0)
        return fail(EXIT_USAGE, "INFOHASH must be 40 hex digits");
    return net_open(&a->net, s);
}

int cmd_dht_announce(int argc, char **argv)
{
    dht_args a;
    mt_session *s = NULL;
    mt_error err;
    uint8_t ih[20];
    int64_t t0, deadline;
    int rc = open_for_hash(argc, argv, &a, 30, ih, &s), confirmed = 0, port;
    char want_suffix[16];
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    t0 = mt_now_ms();
    deadline = t0 + a.net.timeout_ms;
    if ((rc = mt_dht_announce(s, ih, a.port, &err)) != 0) {
        rc = fail(exit_for(rc), "announce: %s", err.message);
        goto out;
    }
    /* No completion signal: confirm by finding ourselves among the peers. */
    port = a.port ? a.port : mt_session_listen_port(s);
    snprintf(want_suffix, sizeof want_suffix, ":%d", port);
    while (!confirmed && mt_now_ms() < deadline) {
        cJSON *arr = cJSON_CreateArray(), *e;
        lookup_peers(s, ih, 1000, arr, 0);
        cJSON_ArrayForEach(e, arr) {
            size_t l = strlen(e->valuestring), k = strlen(want_suffix);
            if (l > k && !strcmp(e->valuestring + l - k, want_suffix))
                confirmed = 1;
        }
        cJSON_Delete(arr);
    }
    if (!confirmed) {
        rc = fail(EXIT_FAILED, "announce sent but not seen in the DHT within %d s", a.net.timeout_ms / 1000);
        goto out;
    }
    {
        cJSON *doc = cJSON_CreateObject();
        add_hex(doc, "info_hash", ih, 20);
        cJSON_AddNumberToObject(doc, "port", port);
        cJSON_AddBoolToObject(doc, "confirmed", 1);
        cJSON_AddNumberToObject(doc, "ms", ms_since(t0));
        print_result(doc);
        rc = EXIT_OK;
    }
out:
    mt_session_free(s);
    return rc;
}

int cmd_dht_peers(int argc, char **argv)
{
    dht_args a;
    mt_session *s = NULL;
    uint8_t ih[20];
    int64_t t0;
    cJSON *doc, *arr;
    int rc = open_for_hash(argc, argv, &a, 5, ih, &s);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    t0 = mt_now_ms();
    doc = cJSON_CreateObject();
    add_hex(doc, "info_hash", ih, 20);
    arr = cJSON_CreateArray();
    lookup_peers(s, ih, a.net.timeout_ms, arr, 0);
    cJSON_AddItemToObject(doc, "peers", arr);
    cJSON_AddNumberToObject(doc, "ms", ms_since(t0));
    print_result(doc);
    mt_session_free(s);
    return EXIT_OK;
}
