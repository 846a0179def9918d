/*
 * check_mtctl.c - mtctl as scripts use it: separate processes, JSON on
 * stdout, documented exit codes. The network is an `mtctl testnet` process
 * on 127.0.30.x; every process started here is stopped here.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static const char *mtctl_path(void)
{
    const char *p = getenv("MTCTL");
    return p ? p : "./mtctl/mtctl";
}

/* Run mtctl with argv (NULL-terminated, without argv[0]); capture stdout
 * into out (cap bytes) and return the exit status. */
static int run(char *out, size_t cap, const char *const *args)
{
    int pipefd[2], status = 0;
    size_t got = 0;
    pid_t pid;
    const char *argv[32];
    int n = 0;
    argv[n++] = mtctl_path();
    while (args[n - 1] && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    ck_assert(pipe(pipefd) == 0);
    pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        /* No terminal: mtctl must never wait for a passphrase here. */
        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        ssize_t r = read(pipefd[0], out + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == cap - 1)
            break;
    }
    out[got] = '\0';
    close(pipefd[0]);
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status), "mtctl died by signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

static cJSON *parse(const char *out)
{
    cJSON *doc = cJSON_Parse(out);
    ck_assert_msg(doc != NULL, "not one JSON document: %s", out);
    return doc;
}

static const char *str(cJSON *doc, const char *name)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, name);
    ck_assert_msg(cJSON_IsString(it), "no string '%s'", name);
    return it->valuestring;
}

/* ------------------------------------------------------------ testnet */

static pid_t net_pid;
static char bootstrap[2048];

/* Start `mtctl testnet --json` and read its one-line JSON document. */
static void net_up(void)
{
    int pipefd[2];
    char line[4096];
    size_t got = 0;
    cJSON *doc;
    ck_assert(pipe(pipefd) == 0);
    net_pid = fork();
    ck_assert(net_pid >= 0);
    if (net_pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(mtctl_path(), mtctl_path(), "--json", "testnet", "--nodes", "6", "--address", "127.0.30.1",
              "--seconds", "300", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while (got < sizeof line - 1) {
        ssize_t r = read(pipefd[0], line + got, 1);
        if (r <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    close(pipefd[0]);
    doc = parse(line);
    snprintf(bootstrap, sizeof bootstrap, "%s", str(doc, "bootstrap"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "nodes")), 6);
    cJSON_Delete(doc);
}

static void net_down(void)
{
    int status;
    if (net_pid > 0) {
        kill(net_pid, SIGTERM);
        waitpid(net_pid, &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "testnet did not stop cleanly");
    }
    net_pid = 0;
}

START_TEST(put_get_between_processes)
{
    char dir[] = "/tmp/mt-cli-XXXXXX", key[128], out[8192], pk[65];
    cJSON *doc;
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/id.json", dir);

    {
        const char *a[] = {"--json", "key", "generate", "-o", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        snprintf(pk, sizeof pk, "%s", str(doc, "publicKey"));
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--json", "dht", "put", "-k", key, "--salt", "feed", "--seq", "5", "-b", bootstrap,
                           "hello from one process", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_int_eq((int)cJSON_GetObjectItem(doc, "seq")->valuedouble, 5);
        ck_assert_int_ge((int)cJSON_GetObjectItem(doc, "stored_on")->valuedouble, 1);
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--json", "dht", "get", pk, "--salt", "feed", "-b", bootstrap, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "value"), "hello from one process");
        ck_assert_int_eq((int)cJSON_GetObjectItem(doc, "seq")->valuedouble, 5);
        ck_assert_str_eq(str(doc, "public_key"), pk);
        cJSON_Delete(doc);
    }
    {
        /* Nothing under another salt: exit 1 with a JSON error. */
        const char *a[] = {"--json", "dht", "get", pk, "--salt", "other", "-b", bootstrap, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        doc = parse(out);
        ck_assert(cJSON_GetObjectItem(doc, "error") != NULL);
        cJSON_Delete(doc);
    }
    unlink(key);
    rmdir(dir);
}
END_TEST

START_TEST(immutable_round_trip)
{
    char out[8192], target[41];
    cJSON *doc;
    {
        const char *a[] = {"--json", "dht", "put", "--immutable", "-b", bootstrap, "an immutable value", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        snprintf(target, sizeof target, "%s", str(doc, "target"));
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--json", "dht", "get", "--immutable", target, "-b", bootstrap, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "value"), "an immutable value");
        cJSON_Delete(doc);
    }
}
END_TEST

START_TEST(announce_then_peers)
{
    char out[8192];
    const char *ih = "6d6567612d746f7272656e742d74657374000001";
    cJSON *doc, *peers, *e;
    int seen = 0;
    {
        const char *a[] = {"--json", "dht", "announce", ih, "--port", "7777", "-b", bootstrap, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "confirmed")));
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--json", "dht", "peers", ih, "-t", "3", "-b", bootstrap, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        peers = cJSON_GetObjectItem(doc, "peers");
        ck_assert(cJSON_IsArray(peers));
        cJSON_ArrayForEach(e, peers) {
            const char *p = e->valuestring;
            size_t l = strlen(p);
            if (l > 5 && !strcmp(p + l - 5, ":7777"))
                seen++;
        }
        ck_assert_int_eq(seen, 1);  /* listed once, though several nodes store it */
        cJSON_Delete(doc);
    }
}
END_TEST

/* ------------------------------------------------------------ offline */

START_TEST(usage_and_exit_codes)
{
    char out[8192];
    {
        const char *a[] = {"--help", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        ck_assert(strstr(out, "dht put") != NULL);
    }
    {
        const char *a[] = {"--json", "--version", NULL};
        cJSON *doc;
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert(strlen(str(doc, "libtorrent")) > 0);
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"frobnicate", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
    }
    {
        const char *a[] = {"dht", "get", "not-hex", "-b", "127.0.30.250:1", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
    }
    {
        const char *a[] = {"dht", "put", "--immutable", "--bencoded", "d1:bi1e1:ai2ee", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
    }
    {
        const char *a[] = {"dht", "put", "--seq", "x", "-k", "k", "v", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
    }
    {
        const char *a[] = {"testnet", "--address", "10.0.0.1", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
    }
}
END_TEST

START_TEST(key_files)
{
    char dir[] = "/tmp/mt-key-XXXXXX", key[128], out[8192];
    struct stat st;
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/id.json", dir);
    {
        const char *a[] = {"key", "generate", "-o", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
    }
    ck_assert(stat(key, &st) == 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    {
        /* Never overwritten without --force. */
        const char *a[] = {"key", "generate", "-o", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
    }
    {
        /* A key readable by others is refused: exit 3, nothing sent. */
        const char *a[] = {"--json", "dht", "put", "-k", key, "-b", "127.0.30.250:1", "v", NULL};
        cJSON *doc;
        ck_assert(chmod(key, 0644) == 0);
        ck_assert_int_eq(run(out, sizeof out, a), 3);
        doc = parse(out);
        ck_assert(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "error"), "message")->valuestring,
                         "chmod 600") != NULL);
        cJSON_Delete(doc);
    }
    {
        /* Without -o the key-file JSON goes to stdout. */
        const char *a[] = {"key", "generate", NULL};
        cJSON *doc;
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_uint_eq(strlen(str(doc, "publicKey")), 64);
        ck_assert_uint_eq(strlen(str(doc, "secretKey")), 128);
        cJSON_Delete(doc);
    }
    unlink(key);
    rmdir(dir);
}
END_TEST


#define SEED00_PK "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"

/* Path of a reference vector file. */
static const char *vector(const char *name)
{
    static char path[1024];
    const char *dir = getenv("MT_VECTORS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "test/vectors", name);
    return path;
}

/* The "message" of a --json error document. */
static int error_has(const char *out, const char *needle)
{
    cJSON *doc = parse(out);
    cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "error"), "message");
    int ok = cJSON_IsString(m) && strstr(m->valuestring, needle) != NULL;
    if (!ok)
        fprintf(stderr, "error document %s lacks \"%s\"\n", out, needle);
    cJSON_Delete(doc);
    return ok;
}

/* rm -rf a test's temporary directory. */
static void remove_tree(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    ck_assert(fclose(f) == 0);
}

START_TEST(key_import_show)
{
    char dir[] = "/tmp/mt-keyimp-XXXXXX", key[128], enc[128], out[8192], src[128];
    cJSON *doc;
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/conf/key.json", dir);
    snprintf(enc, sizeof enc, "%s/enc.json", dir);
    snprintf(src, sizeof src, "%s/ref.json", dir);
    {
        /* A reference-client key file, as it arrives (mode 0644). */
        char cmd[1536];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 644 '%s'", vector("ref-key-seed00.json"), src, src);
        ck_assert(system(cmd) == 0);
    }
    setenv("MT_KEY", key, 1);
    {
        const char *a[] = {"--json", "key", "import", src, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "publicKey"), SEED00_PK);
        cJSON_Delete(doc);
    }
    {
        /* The default key now is that identity. */
        const char *a[] = {"--json", "key", "show", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "publicKey"), SEED00_PK);
        ck_assert_str_eq(str(doc, "transportKey"), "b320b7a4ad14236e34e53cc9b448322763f1e675a8a2929893335901e9715e17");
        ck_assert_str_eq(str(doc, "feed"), "magnet:?xs=urn:btpk:" SEED00_PK);
        ck_assert_str_eq(str(doc, "uri"), "megatorrent://" SEED00_PK);
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--json", "key", "show", "--salt", "hi", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "feed"), "magnet:?xs=urn:btpk:" SEED00_PK "&s=6869");
        cJSON_Delete(doc);
    }
    {
        /* Not over an existing key. */
        const char *a[] = {"--json", "key", "import", src, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "--force"));
    }
    /* Passphrase protection. */
    setenv("MT_PASSPHRASE", "pass phrase", 1);
    {
        const char *a[] = {"--json", "key", "import", "--encrypt", "-o", enc, src, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
    }
    {
        const char *a[] = {"--json", "key", "show", "-k", enc, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "publicKey"), SEED00_PK);
        cJSON_Delete(doc);
    }
    setenv("MT_PASSPHRASE", "other phrase", 1);
    {
        const char *a[] = {"--json", "key", "show", "-k", enc, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "wrong passphrase"));
    }
    unsetenv("MT_PASSPHRASE");
    {
        /* No passphrase source and no terminal: a usage error, no prompt. */
        const char *a[] = {"--json", "key", "show", "-k", enc, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
        ck_assert(error_has(out, "--passphrase-file"));
    }
    unsetenv("MT_KEY");
    remove_tree(dir);
}
END_TEST

/* Field of a JSON document as a number. */
static double num(cJSON *doc, const char *name)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, name);
    ck_assert_msg(cJSON_IsNumber(it), "no number '%s'", name);
    return it->valuedouble;
}

START_TEST(manifest_commands)
{
    char dir[] = "/tmp/mt-man-XXXXXX", key[128], m1[128], m2[128], items[128], out[65536];
    char state[128], pkarg[160], bad[128];
    cJSON *doc;
    double seq1, seq2;
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/key.json", dir);
    snprintf(m1, sizeof m1, "%s/m1.json", dir);
    snprintf(m2, sizeof m2, "%s/m2.json", dir);
    snprintf(items, sizeof items, "%s/items.txt", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    setenv("MT_STATE_DIR", state, 1);
    {
        const char *a[] = {"key", "generate", "-o", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
    }
    {
        const char *a[] = {"--json", "manifest", "create", "-k", key, "--title", "Linux", "-o", m1,
                           "magnet:?xt=urn:btih:fd7473f1a80221e4259c428dc4338fab60f26d33&dn=One",
                           "just a note", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        seq1 = num(doc, "sequence");
        ck_assert_int_eq((int)num(doc, "items"), 2);
        cJSON_Delete(doc);
    }
    write_file(items, "# the next version\n"
                      "magnet:?xt=urn:btih:fd7473f1a80221e4259c428dc4338fab60f26d33&dn=One\n\n"
                      "magnet:?xt=urn:btmh:1220a950ba5f2ae16836958775ab0c395386c2e749a55999830607ffced781911fb2\r\n");
    {
        const char *a[] = {"--json", "manifest", "create", "-k", key, "--title", "Linux", "-i", items, "-o", m2, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        seq2 = num(doc, "sequence");
        cJSON_Delete(doc);
    }
    ck_assert_msg(seq2 > seq1, "sequence did not grow: %.0f then %.0f", seq1, seq2);
    {
        /* A sequence at or below the last one used is refused. */
        char s[32];
        snprintf(s, sizeof s, "%.0f", seq2);
        const char *a[] = {"--json", "manifest", "create", "-k", key, "--seq", s, "x", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "not above"));
    }
    {
        const char *a[] = {"--json", "manifest", "verify", m2, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "valid")));
        ck_assert_int_eq((int)num(doc, "items"), 2);
        snprintf(pkarg, sizeof pkarg, "megatorrent://%s", str(doc, "publicKey"));
        cJSON_Delete(doc);
    }
    {
        char s[32];
        snprintf(s, sizeof s, "%.0f", seq2 + 1);
        const char *a[] = {"--json", "manifest", "verify", "--key", pkarg, "--min-seq", s, m2, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "sequence: "));
    }
    {
        const char *a[] = {"--json", "manifest", "verify", "--key", SEED00_PK, m2, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "publicKey: is "));
    }
    {
        /* One changed byte: exit 1 naming the signature rule. */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "sed 's/just a note/just a nope/' '%s' > '%s'", m1, bad);
        ck_assert(system(cmd) == 0);
        const char *a[] = {"--json", "manifest", "verify", bad, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "signature: does not verify"));
    }
    {
        const char *a[] = {"--json", "manifest", "diff", m1, m2, NULL};
        cJSON *added, *removed;
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        added = cJSON_GetObjectItem(doc, "added");
        removed = cJSON_GetObjectItem(doc, "removed");
        ck_assert_int_eq(cJSON_GetArraySize(added), 1);
        ck_assert_int_eq(cJSON_GetArraySize(removed), 1);
        ck_assert_str_eq(str(cJSON_GetArrayItem(added, 0), "kind"), "magnet");
        ck_assert_str_eq(str(cJSON_GetArrayItem(removed, 0), "text"), "just a note");
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"manifest", "show", m2, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        ck_assert_ptr_nonnull(strstr(out, "Linux (2)"));
        ck_assert_ptr_nonnull(strstr(out, "v2 a950ba5f"));
    }
    {
        /* "-" is standard input (here empty): a manifest error, not a missing file. */
        const char *a[] = {"--json", "manifest", "verify", "-", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "-: manifest: "));
    }
    {
        /* A bad item is named, and no sequence is spent on it. */
        const char *a[] = {"--json", "manifest", "create", "-k", key, "ok", "magnet:?xt=urn:btih:12", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 1);
        ck_assert(error_has(out, "item 2:"));
    }
    {
        /* A manifest signed by the reference client, addressed by feed. */
        const char *a[] = {"--json", "manifest", "verify", "--key", "magnet:?xs=urn:btpk:" SEED00_PK,
                           vector("ref-b-magnets.json"), NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
    }
    {
        /* Private: sealed without the read key, readable with it. */
        const char *rk = "4242424242424242424242424242424242424242424242424242424242424242";
        const char *a[] = {"--json", "manifest", "show", vector("mt-private.json"), NULL};
        const char *b[] = {"--json", "manifest", "show", "--read-key", rk, vector("mt-private.json"), NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "sealed")));
        cJSON_Delete(doc);
        ck_assert_int_eq(run(out, sizeof out, b), 0);
        ck_assert_ptr_nonnull(strstr(out, "secret note"));
    }
    unsetenv("MT_STATE_DIR");
    remove_tree(dir);
}
END_TEST

/* Global options go before the command word as well as after it. */
START_TEST(global_options_before_command)
{
    char dir[] = "/tmp/mt-glob-XXXXXX", key[128], out[8192], out2[8192];
    cJSON *doc;
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/id.json", dir);
    {
        const char *a[] = {"key", "generate", "-o", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
    }
    {
        /* Before or after: the same JSON error, the same exit code. */
        const char *a[] = {"--json", "--socket", "/nonexistent/mtd.sock", "status", NULL};
        const char *b[] = {"status", "--json", "--socket", "/nonexistent/mtd.sock", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 3);
        ck_assert_int_eq(run(out2, sizeof out2, b), 3);
        ck_assert_str_eq(out, out2);
        ck_assert(error_has(out, "/nonexistent/mtd.sock"));
    }
    {
        /* --socket=PATH before the command, --json after it. */
        const char *a[] = {"--socket=/nonexistent/mtd.sock", "list", "--json", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 3);
        ck_assert(error_has(out, "/nonexistent/mtd.sock"));
    }
    {
        /* The one after the command wins. */
        const char *a[] = {"--json", "--socket", "/nonexistent/a.sock", "list", "--socket", "/nonexistent/b.sock",
                           NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 3);
        ck_assert(error_has(out, "/nonexistent/b.sock"));
    }
    {
        /* The command's own rules for the value apply: sync's --timeout. */
        const char *a[] = {"--json", "--timeout", "0", "sync", "--socket", "/nonexistent/mtd.sock", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
        ck_assert(error_has(out, "--timeout"));
    }
    {
        /* --json before a subcommand; a global one it has no use for is ignored. */
        const char *a[] = {"--json", "key", "show", "-k", key, NULL};
        const char *b[] = {"--socket", "/nonexistent/mtd.sock", "--json", "key", "show", "-k", key, NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_int_eq(strlen(str(doc, "publicKey")), 64);
        cJSON_Delete(doc);
        ck_assert_int_eq(run(out2, sizeof out2, b), 0);
        ck_assert_str_eq(out, out2);
    }
    {
        /* Unknown before the command, or a value missing: usage errors. */
        const char *a[] = {"--frobnicate", "list", NULL};
        const char *b[] = {"--json", "--frobnicate", "list", NULL};
        const char *c[] = {"--socket", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
        ck_assert_int_eq(run(out, sizeof out, b), 2);
        ck_assert(error_has(out, "--frobnicate"));
        ck_assert_int_eq(run(out, sizeof out, c), 2);
    }
    {
        /* Help from the table: every group's commands, the global options. */
        const char *a[] = {"--help", NULL};
        const char *b[] = {"key", "--help", NULL};
        const char *c[] = {"--json", "key", "frob", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        ck_assert_ptr_nonnull(strstr(out, "  key import FILE"));
        ck_assert_ptr_nonnull(strstr(out, "  subscriptions "));
        ck_assert_ptr_nonnull(strstr(out, "  --timeout SECONDS"));
        ck_assert_int_eq(run(out, sizeof out, b), 0);
        ck_assert_ptr_nonnull(strstr(out, "usage: mtctl key generate"));
        ck_assert_int_eq(run(out, sizeof out, c), 2);
        ck_assert(error_has(out, "generate, show, import"));
    }
    unlink(key);
    rmdir(dir);
}
END_TEST

/* Network options before the command reach dht, under dht's rules. */
START_TEST(global_network_options)
{
    char out[8192], target[41];
    cJSON *doc;
    {
        const char *a[] = {"--json", "--bootstrap", bootstrap, "--timeout", "20", "dht", "put", "--immutable",
                           "given before the command", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        snprintf(target, sizeof target, "%s", str(doc, "target"));
        cJSON_Delete(doc);
    }
    {
        const char *a[] = {"--bootstrap", bootstrap, "dht", "get", "--immutable", target, "--json", NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "value"), "given before the command");
        cJSON_Delete(doc);
    }
    {
        /* dht takes 1-3600 s: 7200 is refused before the command starts. */
        const char *a[] = {"--json", "--timeout", "7200", "dht", "get", "--immutable", target, "-b", bootstrap,
                           NULL};
        ck_assert_int_eq(run(out, sizeof out, a), 2);
        ck_assert(error_has(out, "--timeout"));
    }
}
END_TEST

static Suite *mtctl_suite(void)
{
    Suite *s = suite_create("mtctl");
    TCase *off = tcase_create("offline");
    TCase *net = tcase_create("network");
    tcase_set_timeout(off, 60);
    tcase_add_test(off, usage_and_exit_codes);
    tcase_add_test(off, key_files);
    tcase_add_test(off, key_import_show);
    tcase_add_test(off, manifest_commands);
    tcase_add_test(off, global_options_before_command);
    suite_add_tcase(s, off);
    tcase_add_checked_fixture(net, net_up, net_down);
    tcase_set_timeout(net, 180);
    tcase_add_test(net, put_get_between_processes);
    tcase_add_test(net, immutable_round_trip);
    tcase_add_test(net, announce_then_peers);
    tcase_add_test(net, global_network_options);
    suite_add_tcase(s, net);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mtctl_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
