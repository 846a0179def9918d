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

static Suite *mtctl_suite(void)
{
    Suite *s = suite_create("mtctl");
    TCase *off = tcase_create("offline");
    TCase *net = tcase_create("network");
    tcase_set_timeout(off, 60);
    tcase_add_test(off, usage_and_exit_codes);
    tcase_add_test(off, key_files);
    suite_add_tcase(s, off);
    tcase_add_checked_fixture(net, net_up, net_down);
    tcase_set_timeout(net, 180);
    tcase_add_test(net, put_get_between_processes);
    tcase_add_test(net, immutable_round_trip);
    tcase_add_test(net, announce_then_peers);
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
