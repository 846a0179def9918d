/*
 * cmd_demo.c - mtctl demo: a guided tour of publishing and following a
 * feed, entirely on loopback: an in-process DHT network, two mtd daemons
 * (publisher and subscriber) as child processes, random payloads, and a
 * byte-for-byte check of what arrived. Every child it starts, it stops,
 * also on failure and on SIGINT/SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <sodium.h>

#include "client.h"
#include "mt_feedaddr.h"
#include "mt_testnet.h"
#include "mtctl.h"
#include "rpc_client.h"

#define NFILES 3
#define READY_TIMEOUT_MS 30000   /* a daemon answers status and has DHT nodes */
#define SEED_TIMEOUT_MS 60000    /* the publisher has checked a payload */
#define FETCH_TIMEOUT_MS 180000  /* items arrive and download */
#define STOP_TIMEOUT_MS 10000    /* a daemon exits after shutdown */
#define RESYNC_MS 2000           /* poll again when a check brought nothing */
#define SOCK_PATH_MAX 100        /* sun_path is 104-108 bytes */

static const char demo_usage[] =
    "usage: mtctl demo [--dir DIR] [--keep] [--mtd PATH] [--nodes N] [--json]\n"
    "\n"
    "A guided tour on a loopback network, printing each step and the mtctl\n"
    "command that does the same by hand:\n"
    "  1. start N DHT nodes (default 8) on 127.0.1.x inside this process;\n"
    "  2. start two mtd daemons, a publisher (127.0.2.1) and a subscriber\n"
    "     (127.0.2.2), with state, sockets and logs (mtd.log) under DIR;\n"
    "  3. make two random files, seed them from the publisher;\n"
    "  4. publish their magnet links as the feed \"demo\";\n"
    "  5. subscribe from the other daemon, download, compare the bytes;\n"
    "  6. publish a third file as an update, sync, download, compare;\n"
    "  7. print timings, stop both daemons and the network, remove DIR.\n"
    "  --dir DIR   work there (default: a new directory under $TMPDIR or /tmp);\n"
    "              DIR/publisher and DIR/subscriber must not exist yet\n"
    "  --keep      keep the files, state and logs afterwards\n"
    "  --mtd PATH  the daemon to run (default $MTD, else the mtd next to this\n"
    "              mtctl or in its build tree, else mtd on PATH)\n"
    "  --nodes N   DHT nodes (2-64, default 8)\n"
    "  --json      no narrative; one summary {ok, feed, seconds, items} at the end\n"
    "Exit 0 only if every downloaded file equals its original.\n";

typedef struct daemon_proc {
    const char *name;   /* "publisher" or "subscriber" */
    const char *listen; /* ADDR:PORT for --listen */
    char dir[PATH_MAX], sock[PATH_MAX], log[PATH_MAX];
    char bound[64];     /* the listen address with its real port, from status */
    pid_t pid;          /* 0: not running */
    rpc_client *rpc;    /* one connection: calls and (subscriber) events */
} daemon_proc;

typedef struct payload {
    char name[32], path[PATH_MAX], torrent[PATH_MAX], magnet[256], id[41];
    size_t size;
    int added, finished, verified;
} payload;

typedef struct demo {
    char dir[PATH_MAX], mtd[PATH_MAX];
    int made_dir, keep, nodes, made_sub[2];
    mt_testnet *net;
    daemon_proc d[2]; /* publisher, subscriber */
    payload f[NFILES];
    char feed[MT_FEEDADDR_STR_MAX];
    double sub_id;
    double sec_network, sec_daemons, sec_publish, sec_download, sec_update, sec_total;
    char err[1024];
    int code;
} demo;

static volatile sig_atomic_t demo_signals;

/* First signal: stop at the next check and clean up. Second: give up. */
static void demo_on_signal(int sig)
{
    if (demo_signals++ > 0) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* Narrative line (not with --json). */
static void say(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void say(const char *fmt, ...)
{
    va_list ap;
    if (g_out.json)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* Record the first failure; returns its exit code. */
static int dfail(demo *d, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int dfail(demo *d, int code, const char *fmt, ...)
{
    va_list ap;
    if (d->code)
        return d->code;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    d->code = code;
    return code;
}

static double since(int64_t t0)
{
    return (double)(mt_now_ms() - t0) / 1000.0;
}

/* ========================================================= housekeeping */

/* Sleep ms, keeping the in-process DHT nodes' event queues short. */
static void nap(demo *d, int ms)
{
    struct timespec ts = {0, 0};
    while (ms > 0) {
        int step = ms > 100 ? 100 : ms;
        ts.tv_nsec = (long)step * 1000000L;
        nanosleep(&ts, NULL);
        if (d->net)
            mt_testnet_drain(d->net);
        ms -= step;
    }
}

/* Between waits: drain, and notice a signal or a daemon that died. */
static int tick(demo *d)
{
    if (d->net)
        mt_testnet_drain(d->net);
    if (demo_signals)
        return dfail(d, EXIT_FAILED, "interrupted");
    for (int i = 0; i < 2; i++) {
        int st;
        if (d->d[i].pid > 0 && waitpid(d->d[i].pid, &st, WNOHANG) == d->d[i].pid) {
            d->d[i].pid = 0;
            return dfail(d, EXIT_FAILED, "the %s daemon exited (%s %d); see %s", d->d[i].name,
                         WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                         d->d[i].log);
        }
    }
    return EXIT_OK;
}

/* Call a method on a daemon; failures are recorded with its name. */
static int drpc(demo *d, daemon_proc *p, const char *method, cJSON *params, int timeout_ms, cJSON **r)
{
    char msg[1024];
    int rc = dc_call_msg(p->rpc, method, params, timeout_ms, r, msg, sizeof msg);
    return rc ? dfail(d, rc, "%s: %s: %s", p->name, method, msg) : EXIT_OK;
}

/* rm -r path (depth-limited; symlinks are removed, not followed). */
static void rm_tree(const char *path, int depth)
{
    struct stat st;
    DIR *dir;
    struct dirent *e;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode) || depth > 16) {
        unlink(path);
        return;
    }
    if ((dir = opendir(path)) != NULL) {
        while ((e = readdir(dir)) != NULL) {
            char child[PATH_MAX];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if ((size_t)snprintf(child, sizeof child, "%s/%s", path, e->d_name) < sizeof child)
                rm_tree(child, depth + 1);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* Last lines of a log on stderr, to explain a failure. */
static void show_log_tail(const char *name, const char *path)
{
    char buf[4096];
    FILE *fp = fopen(path, "r");
    long size, from;
    size_t n;
    if (!fp)
        return;
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(fp, from, SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (n == 0)
        return;
    fprintf(stderr, "--- end of the %s's log (%s) ---\n%s%s", name, path, buf, buf[n - 1] == '\n' ? "" : "\n");
}

/* ============================================================ step 1 */

/* DIR: given (created if absent) or a new temp directory; made absolute. */
static int make_workdir(demo *d, const char *given)
{
    char tmpl[PATH_MAX], real[PATH_MAX];
    if (given) {
        if (mkdir(given, 0700) == 0)
            d->made_dir = 1;
        else if (errno != EEXIST)
            return dfail(d, EXIT_LOCAL, "cannot create %s: %s", given, strerror(errno));
        snprintf(tmpl, sizeof tmpl, "%s", given);
    } else {
        const char *t = getenv("TMPDIR");
        if ((size_t)snprintf(tmpl, sizeof tmpl, "%s/mtdemo.XXXXXX", t && t[0] ? t : "/tmp") >= sizeof tmpl)
            return dfail(d, EXIT_USAGE, "TMPDIR is too long");
        if (!mkdtemp(tmpl))
            return dfail(d, EXIT_LOCAL, "cannot create a directory like %s: %s", tmpl, strerror(errno));
        d->made_dir = 1;
    }
    /* The daemons run elsewhere: every path handed to them is absolute. */
    if (tmpl[0] == '/')
        snprintf(real, sizeof real, "%s", tmpl);
    else if (!getcwd(real, sizeof real) || strlen(real) + 1 + strlen(tmpl) >= sizeof real)
        return dfail(d, EXIT_USAGE, "%s: cannot make the path absolute", tmpl);
    else
        strcat(strcat(real, "/"), tmpl);
    snprintf(d->dir, sizeof d->dir, "%s", real);
    return EXIT_OK;
}

static int step_network(demo *d)
{
    mt_error err;
    int64_t t0 = mt_now_ms();
    int rc;
    say("\n1. A loopback DHT network\n");
    say("   working directory %s\n", d->dir);
    rc = mt_testnet_start("127.0.1.1", d->nodes, 60000, &d->net, &err);
    if (rc)
        return dfail(d, EXIT_LOCAL, "cannot start the DHT network: %s", err.message);
    d->sec_network = since(t0);
    say("   %d DHT nodes run in this process on 127.0.1.1-%d (%.1f s); any mtd or\n"
        "   mtctl can join them with --bootstrap %s\n"
        "   (by hand: mtctl testnet --nodes %d)\n",
        d->nodes, d->nodes, d->sec_network, mt_testnet_endpoint(d->net, 0), d->nodes);
    return EXIT_OK;
}

/* ============================================================ step 2 */

/* 1 if path is an executable regular file. */
static int is_exe(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* --mtd, $MTD, next to this executable (or in its build tree), PATH. */
static int find_mtd(demo *d, const char *opt)
{
    static const char *const rel[] = {"/mtd", "/../mtd/mtd", "/../../mtd/mtd"};
    const char *env = getenv("MTD"), *path = getenv("PATH");
    char exe[PATH_MAX], cand[PATH_MAX];
    ssize_t n;
    if (opt || (env && env[0])) {
        snprintf(d->mtd, sizeof d->mtd, "%s", opt ? opt : env);
        if (!is_exe(d->mtd))
            return dfail(d, opt ? EXIT_USAGE : EXIT_LOCAL, "%s (from %s) is not an executable file", d->mtd,
                         opt ? "--mtd" : "$MTD");
        return EXIT_OK;
    }
    if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
        char *slash;
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL)
            *slash = '\0';
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
            if ((size_t)snprintf(cand, sizeof cand, "%s%s", exe, rel[i]) < sizeof cand && is_exe(cand)) {
                snprintf(d->mtd, sizeof d->mtd, "%s", cand);
                return EXIT_OK;
            }
    }
    while (path && *path) {
        size_t len = strcspn(path, ":");
        if ((size_t)snprintf(cand, sizeof cand, "%.*s/mtd", (int)len, len ? path : ".") < sizeof cand &&
            is_exe(cand)) {
            snprintf(d->mtd, sizeof d->mtd, "%s", cand);
            return EXIT_OK;
        }
        path += len + (path[len] == ':');
    }
    return dfail(d, EXIT_LOCAL, "cannot find mtd: give --mtd PATH or set MTD");
}

/* The child side of spawning: only async-signal-safe calls from here. */
static void exec_daemon(const char *prog, char *const *args, int logfd, int nullfd, long maxfd)
{
    struct sigaction sa;
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the demo */
#endif
    setpgid(0, 0); /* Ctrl-C reaches the demo, which stops us in order */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL; /* ignored signals would stay ignored */
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        _exit(127);
    /* Leave the DHT nodes' sockets and the other daemon's connection behind. */
    for (long fd = 3; fd < maxfd; fd++)
        close((int)fd);
    execv(prog, args);
    {
        static const char m[] = "mtctl demo: cannot execute mtd\n";
        ssize_t w = write(2, m, sizeof m - 1);
        (void)w;
    }
    _exit(127);
}

/* Fork and exec one daemon with its state, socket and log under DIR. */
static int start_daemon(demo *d, daemon_proc *p, int idx)
{
    const char *boot = mt_testnet_bootstrap(d->net);
    char *args[] = {d->mtd, "--foreground", "--loopback", "--state-dir", p->dir, "--listen", (char *)p->listen,
                    "--bootstrap", (char *)boot, "--socket", p->sock, "--log-level", "warn", NULL};
    long maxfd = sysconf(_SC_OPEN_MAX);
    int logfd, nullfd;
    if (mkdir(p->dir, 0700) != 0)
        return dfail(d, errno == EEXIST ? EXIT_USAGE : EXIT_LOCAL, "cannot create %s: %s%s", p->dir,
                     strerror(errno), errno == EEXIST ? " (give --dir a new or empty directory)" : "");
    d->made_sub[idx] = 1;
    if ((logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return dfail(d, EXIT_LOCAL, "cannot create %s: %s", p->log, strerror(errno));
    if ((nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        close(logfd);
        return dfail(d, EXIT_LOCAL, "cannot open /dev/null: %s", strerror(errno));
    }
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    fflush(NULL); /* no buffered output may be written twice */
    p->pid = fork();
    if (p->pid == 0)
        exec_daemon(d->mtd, args, logfd, nullfd, maxfd);
    close(logfd);
    close(nullfd);
    if (p->pid < 0) {
        p->pid = 0;
        return dfail(d, EXIT_LOCAL, "fork: %s", strerror(errno));
    }
    return EXIT_OK;
}

/* Wait until the daemon answers status and has joined the DHT. */
static int wait_ready(demo *d, daemon_proc *p)
{
    int64_t deadline = mt_now_ms() + READY_TIMEOUT_MS;
    char msg[512];
    const char *why = "its socket did not answer";
    int rc;
    while (mt_now_ms() < deadline) {
        cJSON *r = NULL;
        const cJSON *nodes;
        if ((rc = tick(d)) != EXIT_OK)
            return rc;
        if (!p->rpc && rpc_connect(p->sock, &p->rpc, msg, sizeof msg) != 0) {
            p->rpc = NULL;
            nap(d, 200);
            continue;
        }
        if (dc_call_msg(p->rpc, "status", NULL, 2000, &r, msg, sizeof msg) != EXIT_OK) {
            rpc_close(p->rpc); /* start over on a fresh connection */
            p->rpc = NULL;
            nap(d, 200);
            continue;
        }
        nodes = cJSON_GetObjectItemCaseSensitive(r, "dht_nodes");
        rc = !cJSON_IsNumber(nodes) || nodes->valuedouble >= 1;
        clean_text(dc_str(r, "listen")[0] ? dc_str(r, "listen") : p->listen, p->bound, sizeof p->bound);
        cJSON_Delete(r);
        if (rc)
            return EXIT_OK;
        why = "it answered but found no DHT nodes";
        nap(d, 200);
    }
    return dfail(d, EXIT_FAILED, "the %s daemon was not ready within %d s: %s (see %s)", p->name,
                 READY_TIMEOUT_MS / 1000, why, p->log);
}

/* Paths of one daemon under DIR; sockets must fit in sun_path. */
static int daemon_paths(demo *d, daemon_proc *p)
{
    if ((size_t)snprintf(p->dir, sizeof p->dir, "%s/%s", d->dir, p->name) >= sizeof p->dir ||
        (size_t)snprintf(p->log, sizeof p->log, "%s/mtd.log", p->dir) >= sizeof p->log ||
        (size_t)snprintf(p->sock, sizeof p->sock, "%s/mtd.sock", p->dir) >= SOCK_PATH_MAX)
        return dfail(d, EXIT_USAGE, "%s is too long a path for a UNIX socket; use a shorter --dir", d->dir);
    return EXIT_OK;
}

static int step_daemons(demo *d)
{
    int64_t t0 = mt_now_ms();
    int rc;
    say("\n2. Two daemons: a publisher and a subscriber\n");
    for (int i = 0; i < 2; i++)
        if ((rc = daemon_paths(d, &d->d[i])) != EXIT_OK || (rc = start_daemon(d, &d->d[i], i)) != EXIT_OK)
            return rc;
    for (int i = 0; i < 2; i++) {
        daemon_proc *p = &d->d[i];
        if ((rc = wait_ready(d, p)) != EXIT_OK)
            return rc;
        say("   %-10s pid %ld, listening on %s, socket %s\n", p->name, (long)p->pid, p->bound, p->sock);
    }
    d->sec_daemons = since(t0);
    say("   both answer and have joined the DHT (%.1f s). The publisher was started as\n"
        "   $ %s --foreground --loopback --state-dir %s \\\n"
        "       --listen %s --bootstrap %s,... --socket %s --log-level warn\n"
        "   (--bootstrap gets all %d DHT nodes; the log goes to %s)\n",
        d->sec_daemons, d->mtd, d->d[0].dir, d->d[0].listen, mt_testnet_endpoint(d->net, 0), d->d[0].sock,
        d->nodes, d->d[0].log);
    return EXIT_OK;
}

/* ============================================================ step 3 */

/* size bytes of random data into path. */
static int write_random(demo *d, const char *path, size_t size)
{
    unsigned char *buf = malloc(1u << 20);
    FILE *fp = buf ? fopen(path, "wb") : NULL;
    int ok = fp != NULL;
    for (size_t left = size; ok && left > 0;) {
        size_t n = left < (1u << 20) ? left : (1u << 20);
        randombytes_buf(buf, n);
        ok = fwrite(buf, 1, n, fp) == n;
        left -= n;
    }
    if (fp && fclose(fp) != 0)
        ok = 0;
    free(buf);
    return ok ? EXIT_OK : dfail(d, EXIT_LOCAL, "cannot write %s: %s", path, strerror(errno));
}

/* .torrent for f (deterministic v1), its magnet link and torrent id. */
static int make_torrent(demo *d, payload *f)
{
    mt_create_params cp;
    mt_error err;
    uint8_t *tor = NULL, id[20], v1[20], v2[32];
    size_t len = 0;
    int has_v1 = 0, has_v2 = 0;
    char hex[41], name[32];
    memset(&cp, 0, sizeof cp);
    cp.path = f->path;
    cp.version = MT_TORRENT_V1;
    if (mt_torrent_create(&cp, &tor, &len, &err) != 0)
        return dfail(d, EXIT_LOCAL, "making a torrent of %s: %s", f->path, err.message);
    if (mt_torrent_info_hashes(tor, len, id, &has_v1, v1, &has_v2, v2, &err) != 0 || !has_v1 ||
        mt_file_write_atomic(f->torrent, tor, len, 0644, 1, &err) != 0) {
        mt_free(tor);
        return dfail(d, EXIT_LOCAL, "%s: %s", f->torrent, has_v1 ? err.message : "no v1 info-hash");
    }
    mt_free(tor);
    snprintf(name, sizeof name, "%s", f->name); /* a copy: snprintf's arguments must not overlap *f */
    mt_hex_encode(v1, 20, hex);
    snprintf(f->magnet, sizeof f->magnet, "magnet:?xt=urn:btih:%s&dn=%s", hex, name);
    mt_hex_encode(id, 20, f->id);
    return EXIT_OK;
}

/* Wait until the publisher has checked the file and seeds it. */
static int wait_seeding(demo *d, payload *f)
{
    int64_t deadline = mt_now_ms() + SEED_TIMEOUT_MS;
    int rc;
    while (mt_now_ms() < deadline) {
        cJSON *p = cJSON_CreateObject(), *r = NULL;
        int seeding;
        cJSON_AddStringToObject(p, "id", f->id);
        if ((rc = tick(d)) != EXIT_OK || (rc = drpc(d, &d->d[0], "torrent.info", p, DC_CALL_TIMEOUT_MS, &r)))
            return rc;
        seeding = !strcmp(dc_str(r, "state"), "seeding") || !strcmp(dc_str(r, "state"), "finished");
        cJSON_Delete(r);
        if (seeding)
            return EXIT_OK;
        nap(d, 200);
    }
    return dfail(d, EXIT_FAILED, "the publisher did not start seeding %s within %d s", f->name,
                 SEED_TIMEOUT_MS / 1000);
}

/* Make payload i of mib MiB, its torrent, and seed it from the publisher. */
static int seed_payload(demo *d, int i, size_t mib)
{
    payload *f = &d->f[i];
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    char data[PATH_MAX + 8], size[32], name[32];
    int rc;
    snprintf(name, sizeof name, "sample-%d.bin", i + 1);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(data, sizeof data, "%s/data", d->d[0].dir);
    f->size = mib << 20;
    if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", data, name) >= sizeof f->path ||
        (size_t)snprintf(f->torrent, sizeof f->torrent, "%s/%s.torrent", d->d[0].dir, name) >= sizeof f->torrent) {
        cJSON_Delete(p);
        return dfail(d, EXIT_USAGE, "--dir path too long");
    }
    if ((mkdir(data, 0700) != 0 && errno != EEXIST) || (rc = write_random(d, f->path, f->size)) != EXIT_OK ||
        (rc = make_torrent(d, f)) != EXIT_OK) {
        cJSON_Delete(p);
        return d->code ? d->code : dfail(d, EXIT_LOCAL, "cannot create %s: %s", data, strerror(errno));
    }
    cJSON_AddStringToObject(p, "path", f->torrent);
    cJSON_AddStringToObject(p, "save_path", data);
    if ((rc = drpc(d, &d->d[0], "torrent.add", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    cJSON_Delete(r);
    if ((rc = wait_seeding(d, f)) != EXIT_OK)
        return rc;
    human_bytes((double)f->size, size, sizeof size);
    say("   %s  %s of random bytes, seeding\n     %s\n", f->name, size, f->magnet);
    return EXIT_OK;
}

static int step_payloads(demo *d)
{
    int rc;
    say("\n3. Two files, seeded by the publisher\n");
    if ((rc = seed_payload(d, 0, 3)) != EXIT_OK || (rc = seed_payload(d, 1, 5)) != EXIT_OK)
        return rc;
    say("   (by hand: mtctl add --socket %s %s --save-path %s/data)\n", d->d[0].sock, d->f[0].torrent,
        d->d[0].dir);
    return EXIT_OK;
}

/* ============================================================ step 4 */

/* feed.publish {name:"demo", items, title} on the publisher. */
static int publish(demo *d, int first, int count)
{
    cJSON *p = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(p, "items"), *r = NULL;
    int rc;
    cJSON_AddStringToObject(p, "name", "demo");
    cJSON_AddStringToObject(p, "title", "Demo collection");
    for (int i = first; i < first + count; i++)
        cJSON_AddItemToArray(items, cJSON_CreateString(d->f[i].magnet));
    if ((rc = drpc(d, &d->d[0], "feed.publish", p, DC_PUBLISH_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    snprintf(d->feed, sizeof d->feed, "%s", dc_str(r, "address"));
    say("   sequence %.0f, %s mode, %.0f item%s in the feed, stored on %.0f DHT node%s\n", dc_num(r, "seq", 0),
        dc_str(r, "mode"), dc_num(r, "items", 0), dc_num(r, "items", 0) == 1 ? "" : "s", dc_num(r, "nodes", 0),
        dc_num(r, "nodes", 0) == 1 ? "" : "s");
    cJSON_Delete(r);
    return d->feed[0] ? EXIT_OK : dfail(d, EXIT_FAILED, "feed.publish gave no address");
}

static int step_publish(demo *d)
{
    int64_t t0 = mt_now_ms();
    int rc;
    say("\n4. Publish both magnet links as the feed \"demo\"\n");
    say("   $ mtctl publish --socket %s --feed demo --title \"Demo collection\" MAGNET1 MAGNET2\n", d->d[0].sock);
    if ((rc = publish(d, 0, 2)) != EXIT_OK)
        return rc;
    d->sec_publish = since(t0);
    say("   feed address (share this): %s   (%.2f s)\n", d->feed, d->sec_publish);
    return EXIT_OK;
}

/* ============================================================ step 5 */

/* Index of the payload with torrent id, or -1. */
static int payload_by_id(demo *d, const char *id)
{
    for (int i = 0; i < NFILES; i++)
        if (d->f[i].id[0] && !strcmp(d->f[i].id, id))
            return i;
    return -1;
}

/* Show one subscriber event; note arrivals and completions. Sets *resync
 * when a check ended without everything we wait for. */
static void on_event(demo *d, const cJSON *ev, int first, int count, int *resync, progress *bar)
{
    const char *type = dc_str(ev, "type");
    char name[128], why[256];
    int i = payload_by_id(d, dc_str(ev, "id"));
    clean_text(dc_str(ev, "name"), name, sizeof name);
    if (!strcmp(type, "item.added")) {
        progress_clear(bar);
        say("   item.added        + %s\n", name);
        if (i >= 0)
            d->f[i].added = 1;
    } else if (!strcmp(type, "torrent.finished") && i >= first && i < first + count && !d->f[i].finished) {
        progress_clear(bar);
        d->f[i].finished = 1;
        say("   torrent.finished  %s\n", name);
    } else if (!strcmp(type, "feed.checked") || !strcmp(type, "feed.rejected")) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, !strcmp(type, "feed.checked") ? "error" : "reason");
        int n = 0;
        for (int k = first; k < first + count; k++)
            n += d->f[k].added;
        progress_clear(bar);
        clean_text(cJSON_IsString(e) ? e->valuestring : "", why, sizeof why);
        say("   %-17s seq %.0f%s%s\n", type, dc_num(ev, "seq", 0), why[0] ? ": " : "", why);
        if (n < count)
            *resync = 1;
    }
}

/* One round of torrent.info over the items that arrived; progress bar. */
static int poll_downloads(demo *d, int first, int count, cJSON **objs, progress *bar)
{
    char *ids[NFILES], msg[1024];
    int map[NFILES], n = 0, rc;
    cJSON *o[NFILES] = {NULL};
    dc_agg a;
    for (int i = first; i < first + count; i++)
        if (d->f[i].added) {
            map[n] = i;
            ids[n] = d->f[i].id;
            o[n++] = objs[i];
            objs[i] = NULL;
        }
    if (n == 0)
        return EXIT_OK;
    rc = dc_torrents_poll(d->d[1].rpc, ids, (size_t)n, o, &a, msg, sizeof msg);
    for (int k = 0; k < n; k++) {
        const char *st = dc_str(o[k], "state");
        objs[map[k]] = o[k];
        if (!strcmp(st, "finished") || !strcmp(st, "seeding"))
            d->f[map[k]].finished = 1;
    }
    if (rc)
        return dfail(d, rc, "subscriber: %s", msg);
    if (!g_out.json)
        dc_progress_show(bar, &a);
    return EXIT_OK;
}

/* 1 when payloads [first, first+count) have all arrived and finished. */
static int all_finished(const demo *d, int first, int count)
{
    for (int i = first; i < first + count; i++)
        if (!d->f[i].added || !d->f[i].finished)
            return 0;
    return 1;
}

/* sub.sync {id} on the subscriber. */
static int sync_sub(demo *d)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    int rc;
    cJSON_AddNumberToObject(p, "id", d->sub_id);
    rc = drpc(d, &d->d[1], "sub.sync", p, DC_CALL_TIMEOUT_MS, &r);
    cJSON_Delete(r);
    return rc;
}

/* Wait for payloads [first, first+count) to arrive at the subscriber and
 * finish, syncing again when a check brought nothing new. */
static int wait_downloads(demo *d, int first, int count, cJSON **objs)
{
    int64_t deadline = mt_now_ms() + FETCH_TIMEOUT_MS, next_poll = 0, resync_at = 0;
    progress bar;
    char msg[512];
    int rc;
    progress_init(&bar, 0);
    while (!all_finished(d, first, count)) {
        cJSON *ev = NULL;
        int resync = 0, got;
        if ((rc = tick(d)) != EXIT_OK)
            break;
        if (mt_now_ms() >= deadline) {
            rc = dfail(d, EXIT_FAILED, "the items did not arrive and finish within %d s", FETCH_TIMEOUT_MS / 1000);
            break;
        }
        if ((got = rpc_next_event(d->d[1].rpc, 100, &ev, msg, sizeof msg)) < 0) {
            rc = dfail(d, EXIT_FAILED, "lost the subscriber's connection: %s", msg);
            break;
        }
        if (got == 1)
            on_event(d, ev, first, count, &resync, &bar);
        cJSON_Delete(ev);
        if (resync && !resync_at)
            resync_at = mt_now_ms() + RESYNC_MS;
        if (resync_at && mt_now_ms() >= resync_at) {
            resync_at = 0;
            if ((rc = sync_sub(d)) != EXIT_OK)
                break;
        }
        if (mt_now_ms() >= next_poll) {
            next_poll = mt_now_ms() + DC_POLL_MS;
            if ((rc = poll_downloads(d, first, count, objs, &bar)) != EXIT_OK)
                break;
        }
    }
    progress_clear(&bar);
    /* One last round, for the save paths of the finished torrents. */
    bar.on = 0;
    return d->code ? d->code : poll_downloads(d, first, count, objs, &bar);
}

/* Compare two files byte by byte; EXIT_OK if equal. */
static int same_bytes(demo *d, const char *a, const char *b)
{
    static unsigned char x[65536], y[65536];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    long long off = 0;
    int rc = EXIT_OK;
    if (!fa || !fb) {
        rc = dfail(d, EXIT_FAILED, "cannot open %s: %s", !fa ? a : b, strerror(errno));
        goto out;
    }
    for (;;) {
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        if (na != nb || memcmp(x, y, na) != 0) {
            size_t k = 0;
            while (k < na && k < nb && x[k] == y[k])
                k++;
            rc = dfail(d, EXIT_FAILED, "%s differs from %s at byte %lld", b, a, off + (long long)k);
            break;
        }
        if (na == 0)
            break;
        off += (long long)na;
    }
out:
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return rc;
}

/* Check each downloaded payload against its original. */
static int verify(demo *d, int first, int count, cJSON **objs)
{
    for (int i = first; i < first + count; i++) {
        payload *f = &d->f[i];
        char got[PATH_MAX * 2], size[32];
        int rc;
        snprintf(got, sizeof got, "%s/%s", dc_str(objs[i], "save_path"), f->name);
        if ((rc = same_bytes(d, f->path, got)) != EXIT_OK)
            return rc;
        f->verified = 1;
        human_bytes((double)f->size, size, sizeof size);
        say("   verified %s: %s, identical to the original\n", got, size);
    }
    return EXIT_OK;
}

static int step_subscribe(demo *d, cJSON **objs)
{
    cJSON *p = cJSON_CreateObject(), *r = NULL;
    char down[PATH_MAX + 16];
    int64_t t0 = mt_now_ms();
    int rc;
    say("\n5. Subscribe from the other daemon and download\n");
    snprintf(down, sizeof down, "%s/downloads", d->d[1].dir);
    say("   $ mtctl subscribe --socket %s --save-path %s '%s'\n", d->d[1].sock, down, d->feed);
    say("   $ mtctl sync --socket %s --wait\n", d->d[1].sock);
    /* Listen first, so no event of the first poll is missed. */
    if ((rc = drpc(d, &d->d[1], "events.subscribe", NULL, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK) {
        cJSON_Delete(p);
        return rc;
    }
    cJSON_Delete(r);
    cJSON_AddStringToObject(p, "address", d->feed);
    cJSON_AddStringToObject(p, "save_path", down);
    if ((rc = drpc(d, &d->d[1], "sub.add", p, DC_CALL_TIMEOUT_MS, &r)) != EXIT_OK)
        return rc;
    d->sub_id = dc_num(r, "id", 0);
    cJSON_Delete(r);
    say("   subscription %.0f\n", d->sub_id);
    if ((rc = sync_sub(d)) != EXIT_OK || (rc = wait_downloads(d, 0, 2, objs)) != EXIT_OK ||
        (rc = verify(d, 0, 2, objs)) != EXIT_OK)
        return rc;
    d->sec_download = since(t0);
    say("   (%.1f s)\n", d->sec_download);
    return EXIT_OK;
}

/* ============================================================ step 6 */

static int step_update(demo *d, cJSON **objs)
{
    int64_t t0 = mt_now_ms();
    int rc;
    say("\n6. Publish an update: a third file, appended to the feed\n");
    if ((rc = seed_payload(d, 2, 4)) != EXIT_OK)
        return rc;
    say("   $ mtctl publish --socket %s --feed demo --title \"Demo collection\" MAGNET3\n", d->d[0].sock);
    if ((rc = publish(d, 2, 1)) != EXIT_OK)
        return rc;
    say("   $ mtctl sync --socket %s --wait      (mtd also polls on its own)\n", d->d[1].sock);
    if ((rc = sync_sub(d)) != EXIT_OK || (rc = wait_downloads(d, 2, 1, objs)) != EXIT_OK ||
        (rc = verify(d, 2, 1, objs)) != EXIT_OK)
        return rc;
    d->sec_update = since(t0);
    say("   (%.1f s)\n", d->sec_update);
    return EXIT_OK;
}

/* ============================================================ step 7 */

/* Wait up to ms for a child to exit; 1 if it did. */
static int reap(demo *d, daemon_proc *p, int ms, int *status)
{
    for (int waited = 0; waited <= ms; waited += 100) {
        pid_t w = waitpid(p->pid, status, WNOHANG);
        if (w == p->pid || (w < 0 && errno == ECHILD))
            return 1;
        nap(d, 100);
    }
    return 0;
}

/* "exit status 0" / "killed by signal 9" for a wait status. */
static void describe_status(int st, char *buf, size_t cap)
{
    if (WIFEXITED(st))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, cap, "status %d", st);
}

/* shutdown over RPC; then SIGTERM, then SIGKILL, each with a deadline. */
static void stop_daemon(demo *d, daemon_proc *p)
{
    const char *how = "shutdown";
    char what[48];
    int st = 0;
    if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) {
        describe_status(st, what, sizeof what);
        say("   the %s had already exited (%s)\n", p->name, what);
        p->pid = 0;
    }
    if (p->pid > 0) {
        if (p->rpc) {
            cJSON *r = NULL;
            char msg[256];
            if (dc_call_msg(p->rpc, "shutdown", NULL, 5000, &r, msg, sizeof msg) == EXIT_OK)
                cJSON_Delete(r);
        }
        if (!p->rpc || !reap(d, p, STOP_TIMEOUT_MS, &st)) {
            how = "SIGTERM";
            kill(p->pid, SIGTERM);
            if (!reap(d, p, 5000, &st)) {
                how = "SIGKILL";
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &st, 0);
            }
        }
        describe_status(st, what, sizeof what);
        say("   stopped the %s (%s; %s)\n", p->name, how, what);
        p->pid = 0;
    }
    rpc_close(p->rpc);
    p->rpc = NULL;
}

static void print_summary(demo *d)
{
    double bytes12 = (double)(d->f[0].size + d->f[1].size);
    char b12[32], b3[32];
    human_bytes(bytes12, b12, sizeof b12);
    human_bytes((double)d->f[2].size, b3, sizeof b3);
    say("\n7. Summary\n");
    say("   network    %6.2f s  %d DHT nodes started\n", d->sec_network, d->nodes);
    say("   daemons    %6.2f s  started and joined the DHT\n", d->sec_daemons);
    say("   publish    %6.2f s  manifest signed and put into the DHT\n", d->sec_publish);
    say("   download   %6.2f s  2 items, %s: subscribe, fetch the feed, download, verify\n", d->sec_download, b12);
    say("   update     %6.2f s  1 more item, %s: seed, publish, sync, download, verify\n", d->sec_update, b3);
    say("   total      %6.2f s\n", d->sec_total);
    say("   all %d files arrived byte for byte.\n", NFILES);
}

/* The --json document: {ok, feed, seconds, items[, error, dir]}. */
static void emit_summary(demo *d)
{
    cJSON *doc = cJSON_CreateObject(), *sec, *items;
    cJSON_AddBoolToObject(doc, "ok", d->code == EXIT_OK);
    cJSON_AddStringToObject(doc, "feed", d->feed);
    sec = cJSON_AddObjectToObject(doc, "seconds");
    cJSON_AddNumberToObject(sec, "network", d->sec_network);
    cJSON_AddNumberToObject(sec, "daemons", d->sec_daemons);
    cJSON_AddNumberToObject(sec, "publish", d->sec_publish);
    cJSON_AddNumberToObject(sec, "download", d->sec_download);
    cJSON_AddNumberToObject(sec, "update", d->sec_update);
    cJSON_AddNumberToObject(sec, "total", d->sec_total);
    items = cJSON_AddArrayToObject(doc, "items");
    for (int i = 0; i < NFILES; i++) {
        cJSON *o;
        if (!d->f[i].id[0])
            continue;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", d->f[i].name);
        cJSON_AddStringToObject(o, "id", d->f[i].id);
        cJSON_AddStringToObject(o, "magnet", d->f[i].magnet);
        cJSON_AddNumberToObject(o, "bytes", (double)d->f[i].size);
        cJSON_AddBoolToObject(o, "verified", d->f[i].verified);
        cJSON_AddItemToArray(items, o);
    }
    if (d->code) {
        cJSON_AddStringToObject(doc, "error", d->err);
        cJSON_AddNumberToObject(doc, "exit_code", d->code);
    }
    if (d->keep)
        cJSON_AddStringToObject(doc, "dir", d->dir);
    emit_json(doc);
}

/* Stop everything that was started and remove what was made. */
static void cleanup(demo *d)
{
    if (!g_out.json && (d->d[0].pid || d->d[1].pid))
        say("\nCleaning up\n");
    for (int i = 0; i < 2; i++)
        stop_daemon(d, &d->d[i]);
    if (d->code && !g_out.json)
        for (int i = 0; i < 2; i++)
            if (d->made_sub[i])
                show_log_tail(d->d[i].name, d->d[i].log);
    mt_testnet_free(d->net);
    d->net = NULL;
    if (d->keep) {
        say("   kept %s (state, downloads and mtd.log of each daemon)\n", d->dir);
    } else if (d->made_dir) {
        rm_tree(d->dir, 0);
    } else {
        for (int i = 0; i < 2; i++)
            if (d->made_sub[i])
                rm_tree(d->d[i].dir, 0);
    }
}

/* ============================================================ command */

static int demo_parse(int argc, char **argv, demo *d, const char **dir, const char **mtd)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"keep", no_argument, NULL, 'k'},
        {"mtd", required_argument, NULL, 'm'}, {"nodes", required_argument, NULL, 'n'},
        OPT_JSON,      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long n;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *dir = optarg; break;
        case 'k': d->keep = 1; break;
        case 'm': *mtd = optarg; break;
        case 'n':
            if ((n = parse_count(optarg, 64)) < 2)
                return fail(EXIT_USAGE, "--nodes wants 2 to 64, not '%s'", optarg);
            d->nodes = (int)n;
            break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(demo_usage, stdout); return -1;
        default: return fail(EXIT_USAGE, "demo: unknown option '%s' (see mtctl demo --help)", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fail(EXIT_USAGE, "demo takes no arguments ('%s')", argv[optind]);
    return EXIT_OK;
}

/* Steps 1-6; stops at the first failure (recorded in d). */
static int run_steps(demo *d, const char *dir, const char *mtd)
{
    cJSON *objs[NFILES] = {NULL};
    int rc = find_mtd(d, mtd);
    if (rc == EXIT_OK)
        say("megatorrent demo: publish a feed and follow it, all on this machine.\n");
    if (rc == EXIT_OK && (rc = make_workdir(d, dir)) == EXIT_OK &&
        (rc = step_network(d)) == EXIT_OK && (rc = step_daemons(d)) == EXIT_OK &&
        (rc = step_payloads(d)) == EXIT_OK && (rc = step_publish(d)) == EXIT_OK &&
        (rc = step_subscribe(d, objs)) == EXIT_OK)
        rc = step_update(d, objs);
    for (int i = 0; i < NFILES; i++)
        cJSON_Delete(objs[i]);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    static demo d; /* large; one per process */
    const char *dir = NULL, *mtd = NULL;
    struct sigaction sa, old_int, old_term, old_pipe;
    int64_t t0 = mt_now_ms();
    int rc;

    memset(&d, 0, sizeof d);
    d.nodes = 8;
    d.d[0].name = "publisher";
    d.d[0].listen = "127.0.2.1:0";
    d.d[1].name = "subscriber";
    d.d[1].listen = "127.0.2.2:0";
    if ((rc = demo_parse(argc, argv, &d, &dir, &mtd)) != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (sodium_init() < 0)
        return fail(EXIT_LOCAL, "libsodium failed to start");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = demo_on_signal; /* no SA_RESTART: waits end early */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);

    rc = run_steps(&d, dir, mtd);
    d.sec_total = since(t0);
    if (rc == EXIT_OK)
        print_summary(&d);
    cleanup(&d);
    if (g_out.json)
        emit_summary(&d);
    else if (d.code)
        fprintf(stderr, "%s: demo: %s\n", g_out.prog, d.err);
    else
        say("\nDone. Next: run mtd yourself, then mtctl publish / subscribe (see mtctl(1)).\n");
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return d.code;
}
