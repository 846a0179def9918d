/*
 * bench_manifest.c - what verifying a manifest costs, next to the raw
 * primitive measured in the same run.
 *
 *   ours: mt_manifest_load (strict parse, member and item validation
 *         including libtorrent's magnet parser, canonical JSON, Ed25519)
 *   raw:  cJSON_ParseWithLength of the same text + crypto_sign_verify_detached
 *         over canonical bytes computed beforehand
 *
 * Manifests of N magnet links and of N FileEntry objects, N = 10, 1000,
 * 10000. Prints one markdown row per case with medians over --repeat runs.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench_util.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Random lower-case hex of n bytes into out (2n + 1). */
static void rand_hex(char *out, size_t n)
{
    uint8_t b[64];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rng_next();
    mt_hex_encode(b, n, out);
}

/* A signed manifest of n items of one kind; canonical JSON (free()). */
static char *make_manifest(const mt_identity *id, int n, int files, size_t *len)
{
    mt_manifest_draft *d = NULL;
    char item[1024], h1[81], h2[65], h3[65], h4[25];
    char *json = NULL;
    mt_error err;

    if (mt_manifest_draft_new(&d, &err) != 0 || mt_manifest_draft_add_collection(d, "Bench", &err) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        int rc;
        if (files) {
            rand_hex(h2, 32);
            rand_hex(h3, 32);
            rand_hex(h4, 12);
            snprintf(item, sizeof item,
                     "{\"name\":\"file-%06d.bin\",\"size\":1048576,\"chunks\":[{\"blobId\":\"%s\",\"offset\":0,"
                     "\"length\":1048592,\"key\":\"%s\",\"nonce\":\"%s\",\"realSize\":1048576}]}",
                     i, h2, h3, h4);
            rc = mt_manifest_draft_add_entry(d, item, strlen(item), &err);
        } else {
            rand_hex(h1, 20);
            snprintf(item, sizeof item, "magnet:?xt=urn:btih:%s&dn=Item%%20%06d", h1, i);
            rc = mt_manifest_draft_add_item(d, item, &err);
        }
        if (rc)
            goto fail;
    }
    if (mt_manifest_draft_sign(d, id, 1700000000000, 1700000000000, NULL, &json, len, &err) != 0)
        goto fail;
    mt_manifest_draft_free(d);
    return json;
fail:
    fprintf(stderr, "bench_manifest: %s\n", err.message);
    exit(1);
}

/* The canonical bytes the signature covers, and the signature. */
static char *signed_part(const char *json, size_t len, uint8_t sig[64], size_t *clen)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    cJSON *s = cJSON_DetachItemFromObjectCaseSensitive(doc, "signature");
    char *canon = NULL;
    mt_hex_decode(s->valuestring, sig, 64);
    cJSON_Delete(s);
    if (mt_json_canonical(doc, &canon, clen, NULL) != 0)
        exit(1);
    cJSON_Delete(doc);
    return canon;
}

static void run_case(const mt_identity *id, int n, int files, int repeat)
{
    size_t len = 0, clen = 0;
    char *json = make_manifest(id, n, files, &len);
    uint8_t sig[64];
    char *canon = signed_part(json, len, sig, &clen);
    double *ours = calloc((size_t)repeat, sizeof *ours), *raw = calloc((size_t)repeat, sizeof *raw);
    int reps = n >= 10000 ? repeat / 4 + 1 : repeat;

    for (int r = 0; r < reps; r++) {
        mt_manifest *m = NULL;
        mt_error err;
        double t0 = now_ms();
        cJSON *doc = cJSON_ParseWithLength(json, len);
        int ok = doc && crypto_sign_verify_detached(sig, (const uint8_t *)canon, clen, mt_identity_public_key(id)) == 0;
        double t1 = now_ms();
        cJSON_Delete(doc);
        if (!ok) {
            fprintf(stderr, "bench_manifest: raw verify failed\n");
            exit(1);
        }
        double t2 = now_ms();
        if (mt_manifest_load(json, len, NULL, &m, &err) != 0) {
            fprintf(stderr, "bench_manifest: %s\n", err.message);
            exit(1);
        }
        double t3 = now_ms();
        mt_manifest_free(m);
        raw[r] = t1 - t0;
        ours[r] = t3 - t2;
    }
    double mo = median(ours, reps), mr = median(raw, reps);
    printf("| %s | %d | %.1f KiB | %.3f ms | %.3f ms | %.1f× | %.0f |\n", files ? "FileEntry" : "magnet", n,
           (double)len / 1024, mo, mr, mo / mr, (double)len / 1048576 / (mo / 1000));
    free(ours);
    free(raw);
    free(canon);
    free(json);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"repeat", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int repeat = 41, c;
    uint8_t seed[32];
    mt_identity *id = NULL;

    rng_state = 0x9E3779B97F4A7C15ULL;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': repeat = atoi(optarg); break;
        case 's': rng_state = strtoull(optarg, NULL, 0) | 1; break;
        default:
            printf("usage: bench_manifest [--repeat N (41)] [--seed S]\n"
                   "Verify time of signed manifests (10, 1000, 10000 items) against\n"
                   "cJSON parse + Ed25519 verify of the canonical bytes.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (repeat < 1 || sodium_init() < 0)
        return 2;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    if (mt_identity_from_seed(seed, &id, NULL) != 0)
        return 1;
    printf("| items | n | size | ours (median) | raw cJSON + verify | ours / raw | ours MiB/s |\n");
    printf("|---|---|---|---|---|---|---|\n");
    static const int sizes[] = {10, 1000, 10000};
    for (int files = 0; files <= 1; files++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            run_case(id, sizes[i], files, repeat);
    mt_identity_free(id);
    return 0;
}
