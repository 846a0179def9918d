/* cmd_key.c - mtctl key generate | show | import. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mt_feedaddr.h"
#include "mtctl.h"

const char key_usage[] =
    "usage: mtctl key generate [-o FILE] [--force] [--encrypt] [--passphrase-file F]\n"
    "       mtctl key show [-k FILE] [--salt NAME] [--passphrase-file F]\n"
    "       mtctl key import FILE [-o DEST] [--force] [--encrypt] [--passphrase-file F]\n"
    "\n"
    "generate  make a new Ed25519 identity. With -o, write the key file (mode\n"
    "          0600, never over an existing file unless --force) and print the\n"
    "          public key; without -o, print the key-file JSON on stdout.\n"
    "show      print the public key, the derived transport key (DHT signing)\n"
    "          and the feed address of a key file (default: the default key).\n"
    "import    check a key file written elsewhere (e.g. by the Node.js\n"
    "          reference client) and store it as DEST (default: the default\n"
    "          key) with mode 0600.\n"
    "\n"
    "The default key is $MT_KEY, else $XDG_CONFIG_HOME/megatorrent/key.json\n"
    "(~/.config/megatorrent/key.json).\n"
    "Key-file format: {\"publicKey\": hex64, \"secretKey\": hex128}, the same as\n"
    "the reference client's. --encrypt protects the secret with a passphrase\n"
    "(Argon2id + XSalsa20-Poly1305); such files are ours alone. Passphrases come\n"
    "from --passphrase-file (first line), MT_PASSPHRASE, or the terminal.\n";

/* Options shared by the key subcommands. */
typedef struct key_args {
    const char *out, *keyfile, *passfile, *salt;
    int force, encrypt;
} key_args;

/* Parse argv into a; the subcommand's positional arguments start at optind. */
static int key_parse(int argc, char **argv, const char *who, key_args *a)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"force", no_argument, NULL, 'f'},
        {"encrypt", no_argument, NULL, 'e'},
        {"passphrase-file", required_argument, NULL, 'P'},
        {"salt", required_argument, NULL, 's'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:k:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case 'k': a->keyfile = optarg; break;
        case 'f': a->force = 1; break;
        case 'e': a->encrypt = 1; break;
        case 'P': a->passfile = optarg; break;
        case 's': a->salt = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(key_usage, stdout); return -1;
        default: return fail(EXIT_USAGE, "key %s: bad option '%s'", who, argv[optind - 1]);
        }
    }
    return EXIT_OK;
}

/* Write id to path (protected if a->encrypt) and report it. */
static int key_store(const mt_identity *id, const key_args *a, const char *path)
{
    char pkhex[65], *pass = NULL;
    size_t plen = 0;
    mt_error err;
    int rc;

    if (make_parent_dirs(path, 0700) != 0)
        return fail(EXIT_LOCAL, "cannot create the directory of %s", path);
    if (a->encrypt && (rc = get_passphrase(a->passfile, 1, path, &pass, &plen)) != EXIT_OK)
        return rc;
    rc = mt_identity_save_protected(id, path, pass, plen, a->force, &err);
    passphrase_free(pass);
    if (rc)
        return fail(rc == MT_EEXIST ? EXIT_FAILED : EXIT_LOCAL, "%s%s", err.message,
                    rc == MT_EEXIST ? " (use --force to replace it)" : "");
    mt_hex_encode(mt_identity_public_key(id), 32, pkhex);
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "publicKey", pkhex);
        cJSON_AddStringToObject(doc, "file", path);
        cJSON_AddBoolToObject(doc, "protected", a->encrypt);
        emit_json(doc);
    } else {
        printf("public key  %s\nkey file    %s (mode 0600%s)\n", pkhex, path,
               a->encrypt ? ", passphrase-protected" : "");
    }
    return EXIT_OK;
}

int cmd_key_generate(int argc, char **argv)
{
    key_args a;
    mt_identity *id = NULL;
    mt_error err;
    int rc = key_parse(argc, argv, "generate", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind != argc)
        return fail(EXIT_USAGE, "key generate takes no arguments ('%s')", argv[optind]);
    if (a.encrypt && !a.out)
        return fail(EXIT_USAGE, "key generate --encrypt needs -o FILE");
    if (mt_identity_generate(&id, &err) != 0)
        return fail(EXIT_LOCAL, "%s", err.message);
    if (a.out) {
        rc = key_store(id, &a, a.out);
    } else {
        char *json = NULL;
        /* The key-file JSON is itself the one JSON document. */
        if ((rc = mt_identity_to_json(id, &json, &err)) == 0) {
            fputs(json, stdout);
            fputc('\n', stdout);
            mt_identity_json_free(json);
        }
        rc = rc ? fail(EXIT_LOCAL, "%s", err.message) : EXIT_OK;
    }
    mt_identity_free(id);
    return rc;
}

int cmd_key_show(int argc, char **argv)
{
    key_args a;
    mt_identity *id = NULL, *tx = NULL;
    mt_feedaddr fa;
    mt_error err;
    char pkhex[65], txhex[65], magnet[MT_FEEDADDR_STR_MAX], uri[MT_FEEDADDR_STR_MAX] = "";
    int rc = key_parse(argc, argv, "show", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind != argc)
        return fail(EXIT_USAGE, "key show takes no arguments ('%s'); use -k FILE", argv[optind]);
    if (a.salt && strlen(a.salt) > MT_FEEDADDR_SALT_MAX)
        return fail(EXIT_USAGE, "--salt is %zu bytes; BEP-46 allows %d", strlen(a.salt), MT_FEEDADDR_SALT_MAX);
    if ((rc = load_identity(a.keyfile, a.passfile, &id)) != EXIT_OK)
        return rc;
    if (mt_identity_transport(id, &tx, &err) != 0) {
        mt_identity_free(id);
        return fail(EXIT_LOCAL, "%s", err.message);
    }
    memset(&fa, 0, sizeof fa);
    memcpy(fa.pk, mt_identity_public_key(id), 32);
    if (a.salt) {
        fa.salt_len = strlen(a.salt);
        memcpy(fa.salt, a.salt, fa.salt_len);
    }
    mt_hex_encode(fa.pk, 32, pkhex);
    mt_hex_encode(mt_identity_public_key(tx), 32, txhex);
    mt_identity_free(tx);
    mt_identity_free(id);
    if (mt_feedaddr_format_magnet(&fa, magnet, sizeof magnet, &err) != 0)
        return fail(EXIT_LOCAL, "%s", err.message);
    if (!a.salt && mt_feedaddr_format_uri(&fa, uri, sizeof uri, &err) != 0)
        return fail(EXIT_LOCAL, "%s", err.message);
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "publicKey", pkhex);
        cJSON_AddStringToObject(doc, "transportKey", txhex);
        cJSON_AddStringToObject(doc, "feed", magnet);
        if (uri[0])
            cJSON_AddStringToObject(doc, "uri", uri);
        emit_json(doc);
    } else {
        printf("public key     %s\ntransport key  %s\nfeed address   %s\n", pkhex, txhex, magnet);
        if (uri[0])
            printf("               %s\n", uri);
    }
    return EXIT_OK;
}

int cmd_key_import(int argc, char **argv)
{
    key_args a;
    mt_identity *id = NULL;
    mt_error err;
    struct stat st;
    char def[4096], *pass = NULL;
    size_t plen = 0;
    const char *src, *dest;
    int rc = key_parse(argc, argv, "import", &a);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (optind + 1 != argc)
        return fail(EXIT_USAGE, "key import takes one FILE");
    src = argv[optind];
    dest = a.out;
    if (!dest) {
        if (default_key_path(def, sizeof def) != 0)
            return fail(EXIT_USAGE, "no default key path: give -o DEST (or set MT_KEY or HOME)");
        dest = def;
    }
    /* The source may come from elsewhere with looser permissions: read it
     * without the 0600 rule, and say so if others can read it. */
    {
        char *json = NULL;
        size_t len = 0;
        if ((rc = mt_file_read(src, MT_KEYFILE_MAX, &json, &len, &err)) != 0)
            return fail(rc == MT_ETOOBIG ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
        rc = mt_identity_parse(json, len, &id, &err);
        if (rc == MT_ENEEDKEY && (rc = get_passphrase(a.passfile, 0, src, &pass, &plen)) == EXIT_OK) {
            rc = mt_identity_parse_protected(json, len, pass, plen, &id, &err);
            passphrase_free(pass);
            pass = NULL;
        } else if (rc > 0) {
            free(json);
            return rc;
        }
        free(json);
        if (rc)
            return fail(EXIT_FAILED, "%s: %s", src, err.message);
    }
    if (stat(src, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
        fprintf(stderr, "%s: note: %s is readable by group or others (mode %04o); "
                "chmod 600 it or delete it once imported\n", g_out.prog, src, (unsigned)(st.st_mode & 07777));
    rc = key_store(id, &a, dest);
    mt_identity_free(id);
    return rc;
}
