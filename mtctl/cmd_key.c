/* cmd_key.c - mtctl key generate. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mt_identity.h"
#include "mt_util.h"
#include "mtctl.h"

static const char key_usage[] =
    "usage: mtctl key generate [-o FILE] [--force] [--json]\n"
    "\n"
    "Make a new Ed25519 identity. With -o, write the key file (mode 0600,\n"
    "never over an existing file unless --force) and print the public key;\n"
    "without -o, print the key-file JSON on stdout.\n"
    "Key-file format: {\"publicKey\": hex64, \"secretKey\": hex128}, the same\n"
    "as the Node.js reference client's.\n";

static int key_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int force = 0, c, rc;
    mt_identity *id = NULL;
    mt_error err;
    char pkhex[65];

    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'j': g_json = 1; break;
        case 'h': fputs(key_usage, stdout); return EXIT_OK;
        default: return fail(EXIT_USAGE, "key generate: bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fail(EXIT_USAGE, "key generate takes no arguments ('%s')", argv[optind]);
    rc = mt_identity_generate(&id, &err);
    if (rc)
        return fail(EXIT_LOCAL, "%s", err.message);
    mt_hex_encode(mt_identity_public_key(id), 32, pkhex);
    if (!out) {
        char *json = NULL;
        rc = mt_identity_to_json(id, &json, &err);
        if (rc == 0) {
            /* The key-file JSON is itself the one JSON document. */
            fputs(json, stdout);
            fputc('\n', stdout);
            mt_identity_json_free(json);
        }
        mt_identity_free(id);
        return rc ? fail(EXIT_LOCAL, "%s", err.message) : EXIT_OK;
    }
    rc = mt_identity_save(id, out, force, &err);
    mt_identity_free(id);
    if (rc)
        return fail(rc == MT_EEXIST ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
    if (g_json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "publicKey", pkhex);
        cJSON_AddStringToObject(doc, "file", out);
        emit_json(doc);
    } else {
        printf("public key  %s\nkey file    %s (mode 0600)\n", pkhex, out);
    }
    return EXIT_OK;
}

int cmd_key(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(key_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "generate"))
        return key_generate(argc - 1, argv + 1);
    return fail(EXIT_USAGE, "unknown key command '%s' (try: key generate)", argv[1]);
}
