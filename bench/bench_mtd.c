/*
 * bench_mtd.c - the daemon end to end: mtd processes on a loopback DHT.
 *
 * Part "latency": a testnet of --nodes libtorrent sessions in this process
 * (127.0.42.x), a publisher mtd and a subscriber mtd (127.0.43.1 and .2).
 *   - sync-driven: the publisher's feed.publish adds one new text item and
 *     answers once the DHT put is done; the benchmark then sends sub.sync to
 *     the subscriber at once and times from the publish answer to the
 *     subscriber's item.added event. Each round starts after a random
 *     0..1 s wait (see SYNC_PHASE_MS). Twice: pointer mode (the default; the
 *     manifest travels in a feed-index torrent fetched over BitTorrent) and
 *     inline mode (the manifest is the DHT value: the DHT lookup alone).
 *   - poll-driven: no sync; the subscription polls every --interval s
 *     (±20%). Before each publish the benchmark waits a random 0..interval
 *     s, so the publish lands at a random phase of the poll schedule.
 *   - the raw primitive: mt_dht_get_mutable of the inline feed's item from a
 *     fresh session in this process, on the same network.
 * Part "scale": for each run a fresh 8-node testnet and one mtd (127.0.43.3)
 * given N subscriptions to generated feed keys (10 of which are
 * published), added with sub.add over one connection. Measures the add
 * rate, RSS, CPU per poll (less the idle daemon's CPU) and DHT lookups a
 * minute over a --window, against dht_budget, and which subscriptions got
 * polled at all. Optionally (--degraded-subs) one run after --dead nodes
 * joined the network and left it, as nodes of the real DHT do.
 *
 * Every mtd is stopped with the "shutdown" method, then SIGTERM, then
 * SIGKILL, and reaped, also when something fails. Prints a human summary
 * and markdown rows. Exit status: 0 ok, 1 failure, 2 bad usage.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "mt_capi.h"
#include "mt_feedaddr.h"
#include "mt_identity.h"
#include "mt_manifest.h"
#include "mt_pointer.h"
#include "mt_testnet.h"
#include "mt_util.h"
#define BENCH_NAME "bench_mtd"
#include "bench_util.h"

#define WAIT_START_MS   30000          /* mtd up, its socket answering */
#define WAIT_DHT_MS     60000          /* mtd's routing table filled */
#define WAIT_ITEM_MS    60000          /* one update reaching the subscriber: bounds a hang */
#define WAIT_PUT_MS     30000
#define RPC_TIMEOUT_MS  30000
#define STOP_WAIT_MS    20000          /* after "shutdown": resume data, DHT state */
#define TERM_WAIT_MS    5000           /* after SIGTERM, before SIGKILL */
#define RPC_LINE_MAX    (16u << 20)    /* mtd sends at most 8 MiB a line */
#define PUMP_EVERY_MS   100            /* drain the in-process testnet this often */
#define N_EXISTING      10             /* published feeds among the scale subscriptions */
#define MAX_PROCS       4
#define MAX_SCALE       8              /* --scale list entries */
#define PAYLOAD_BYTES   (256u * 1024u) /* the seeded torrent of the first item */
#define PAYLOAD_NAME    "bench-payload.bin"
#define ROOT_MAX        256            /* the temp dir's path */
/*
 * Expected wait for the next poll in the poll-driven case, in intervals.
 * The publish comes u ~ U[0, I) after the poll that delivered the previous
 * item; the next poll starts X ~ U[0.8 I, 1.2 I] after it. Wait = X - u if
 * u < X, else X + X' - u; P(u > X) = 0.05, so E = I - I/2 + 0.05 I.
 */
#define POLL_WAIT_FACTOR 0.55
/*
 * Before each sync-driven publish, a random 0..SYNC_PHASE_MS wait. Fetching
 * a feed-index torrent completes on a one-second cycle of libtorrent (a
 * magnet of a seeded torrent gets its metadata at the next whole second of
 * some engine timer, whatever tick_interval is): rounds started right after
 * the previous item.added would all land at the same phase of it and
 * measure ~1 s every time.
 */
#define SYNC_PHASE_MS 1000.0

static volatile sig_atomic_t interrupted;
static mt_testnet *g_net;   /* drained while the benchmark waits */
static double g_last_pump;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------ statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct series {
    double *v;
    size_t n, cap;
    double median, p95, min, max, mean;
} series;

static int series_init(series *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->cap = cap ? cap : 1;
    s->v = calloc(s->cap, sizeof *s->v);
    return s->v ? 0 : -1;
}

static void series_add(series *s, double x)
{
    if (s->n < s->cap)
        s->v[s->n++] = x;
}

/* Nearest-rank percentiles over the sorted samples (as bench_dht). */
static void series_finish(series *s)
{
    size_t k;
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    s->mean = 0;
    for (size_t i = 0; i < s->n; i++)
        s->mean += s->v[i] / (double)s->n;
    s->min = s->v[0];
    s->max = s->v[s->n - 1];
    s->median = s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    k = (size_t)((95 * s->n + 99) / 100);
    s->p95 = s->v[k ? k - 1 : 0];
}

static void series_free(series *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* A uniform double in [0, 1). */
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------ small helpers */


static void sleep_ms(double ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    nanosleep(&ts, NULL);
}

/* addr (dotted quad) + k into out, e.g. ("127.0.43.1", 2) -> "127.0.43.3". */
static int addr_plus(const char *addr, unsigned k, char *out, size_t cap)
{
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1)
        return -1;
    a.s_addr = htonl(ntohl(a.s_addr) + k);
    return inet_ntop(AF_INET, &a, out, (socklen_t)cap) ? 0 : -1;
}


static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) {
        fprintf(stderr, "bench_mtd: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        fprintf(stderr, "bench_mtd: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(x) ? x->valuestring : "";
}

static double json_num(const cJSON *o, const char *name, double dflt)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

/* Drop queued events of the in-process testnet, at most every PUMP_EVERY_MS. */
static void pump(void)
{
    double t = now_ms();
    if (g_net && t - g_last_pump >= PUMP_EVERY_MS) {
        mt_testnet_drain(g_net);
        g_last_pump = t;
    }
}

/* ------------------------------------------------------------ JSON-RPC client */

/* One connection to mtd's socket: requests out, lines in. */
typedef struct rpc_conn {
    int    fd;
    char  *buf;      /* received bytes not yet taken as lines */
    size_t len, cap;
    long   next_id;
    double t_recv;   /* when the latest recv() returned (see rpc_next) */
} rpc_conn;

static void rpc_init(rpc_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void rpc_close(rpc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    rpc_init(c);
}

static int rpc_connect(rpc_conn *c, const char *path)
{
    struct sockaddr_un sa;
    int fd;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    rpc_init(c);
    c->fd = fd;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send one request; params is consumed (NULL: {}); id 0 makes it a
 * notification, which mtd carries out without answering. */
static int rpc_send(rpc_conn *c, const char *method, cJSON *params, long id)
{
    cJSON *req = cJSON_CreateObject();
    char *text;
    int rc;
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    if (id)
        cJSON_AddNumberToObject(req, "id", (double)id);
    cJSON_AddStringToObject(req, "method", method);
    cJSON_AddItemToObject(req, "params", params ? params : cJSON_CreateObject());
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!text)
        return -1;
    rc = send_all(c->fd, text, strlen(text)) == 0 && send_all(c->fd, "\n", 1) == 0 ? 0 : -1;
    free(text);
    return rc;
}

/*
 * The next line as JSON, waiting up to timeout_ms: 1 (and *msg, *t_recv),
 * 0 on timeout, -1 if the connection failed, the line was no JSON or over
 * RPC_LINE_MAX, or we were interrupted. recv() is called only when no
 * complete line is buffered, so every buffered line came with the latest
 * recv(): its time is the line's arrival time.
 */
static int rpc_next(rpc_conn *c, int timeout_ms, cJSON **msg, double *t_recv)
{
    double deadline = now_ms() + timeout_ms;
    *msg = NULL;
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            *msg = cJSON_ParseWithLength(c->buf, n);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            if (t_recv)
                *t_recv = c->t_recv;
            return *msg ? 1 : -1;
        }
        if (c->len >= RPC_LINE_MAX)
            return -1;
        if (c->cap - c->len < 65536) {
            size_t nc = c->cap ? c->cap * 2 : 131072;
            char *nb;
            if (nc > RPC_LINE_MAX + 65536)
                nc = RPC_LINE_MAX + 65536;
            nb = realloc(c->buf, nc);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = nc;
        }
        double left = deadline - now_ms();
        struct pollfd pfd;
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        int pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (pr < 0 && errno == EINTR && !interrupted)
            continue;
        if (pr < 0)
            return -1;
        if (pr == 0)
            return 0;
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
        c->t_recv = now_ms();
    }
}

/*
 * Call method (params consumed) and wait for its answer; lines that are not
 * the answer are dropped. 0 with *result (if result is not NULL; NULL means
 * {}), or -1 with err naming what went wrong.
 */
static int rpc_call(rpc_conn *c, const char *method, cJSON *params, int timeout_ms, cJSON **result,
                    char *err, size_t cap)
{
    long id = ++c->next_id;
    double deadline = now_ms() + timeout_ms;
    if (result)
        *result = NULL;
    if (c->fd < 0 || rpc_send(c, method, params, id) != 0) {
        snprintf(err, cap, "%s: cannot send", method);
        return -1;
    }
    for (;;) {
        cJSON *msg = NULL;
        double left = deadline - now_ms();
        int rc = rpc_next(c, left > 0 ? (int)left : 0, &msg, NULL);
        if (rc <= 0) {
            snprintf(err, cap, "%s: %s", method, rc == 0 ? "no answer in time" : "connection failed");
            return -1;
        }
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(msg, "id");
        if (!cJSON_IsNumber(jid) || (long)jid->valuedouble != id) {
            cJSON_Delete(msg);
            continue;
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "error");
        if (e) {
            snprintf(err, cap, "%s: %s (%d)", method, json_str(e, "message"), (int)json_num(e, "code", 0));
            cJSON_Delete(msg);
            return -1;
        }
        if (result)
            *result = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
        cJSON_Delete(msg);
        return 0;
    }
}

/* Called for each event; returns 1 to stop waiting. */
typedef int (*event_fn)(void *ctx, const cJSON *ev, double t_recv);

/*
 * Hand every event arriving on c within timeout_ms to fn (NULL: drop),
 * keeping the testnet drained. 1: fn said stop; 0: time is up (with
 * timeout 0: whatever was waiting has been handled); -1: connection lost
 * or interrupted.
 */
static int events_wait(rpc_conn *c, double timeout_ms, event_fn fn, void *ctx)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        cJSON *msg = NULL;
        double t = 0, left;
        int rc;
        if (interrupted)
            return -1;
        pump();
        left = deadline - now_ms();
        rc = rpc_next(c, left <= 0 ? 0 : left < PUMP_EVERY_MS ? (int)left + 1 : PUMP_EVERY_MS, &msg, &t);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
            int stop = 0;
            if (!strcmp(json_str(msg, "method"), "event") && cJSON_IsObject(params) && fn)
                stop = fn(ctx, params, t);
            cJSON_Delete(msg);
            if (stop)
                return 1;
            continue;
        }
        if (now_ms() >= deadline)
            return 0;
    }
}

/* ------------------------------------------------------------ mtd processes */

typedef struct mtd_proc {
    pid_t    pid;              /* -1: not running */
    char     name[32];
    char     dir[PATH_MAX];    /* state directory */
    char     sock[PATH_MAX];
    char     log[PATH_MAX];    /* its stderr */
    rpc_conn rpc;              /* method calls */
    rpc_conn ev;               /* events.subscribe'd */
} mtd_proc;

static mtd_proc *g_procs[MAX_PROCS];   /* running ones, for stop_all() */

static void proc_register(mtd_proc *p, int on)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (on && !g_procs[i]) {
            g_procs[i] = p;
            return;
        }
        if (!on && g_procs[i] == p)
            g_procs[i] = NULL;
    }
}

/* Wait up to ms for pid to exit; 1 and *status if it did. */
static int wait_pid(pid_t pid, int ms, int *status)
{
    double deadline = now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return 1;   /* not our child any more: nothing to wait for */
        if (now_ms() >= deadline)
            return 0;
        sleep_ms(20);
    }
}

/* Print the last lines of a daemon's log (after a failure). */
static void show_log_tail(const mtd_proc *p)
{
    char *text = NULL;
    size_t len = 0;
    if (mt_file_read(p->log, 64u << 20, &text, &len, NULL) != 0)
        return;
    size_t start = len > 1500 ? len - 1500 : 0;
    fprintf(stderr, "bench_mtd: --- last lines of %s ---\n%s\nbench_mtd: ---\n", p->log, text + start);
    free(text);
}

/*
 * Stop p: the "shutdown" method, then SIGTERM, then SIGKILL; always reaped.
 * 0 if it exited by itself with status 0.
 */
static int mtd_stop(mtd_proc *p)
{
    int status = 0, done, clean;
    char err[256];
    if (p->pid <= 0) {
        rpc_close(&p->rpc);
        rpc_close(&p->ev);
        return 0;
    }
    if (p->rpc.fd >= 0)
        rpc_call(&p->rpc, "shutdown", NULL, 5000, NULL, err, sizeof err);
    rpc_close(&p->rpc);
    rpc_close(&p->ev);
    done = wait_pid(p->pid, STOP_WAIT_MS, &status);
    clean = done;
    if (!done) {
        fprintf(stderr, "bench_mtd: %s (pid %d) still running %d ms after shutdown: SIGTERM\n", p->name,
                (int)p->pid, STOP_WAIT_MS);
        kill(p->pid, SIGTERM);
        done = wait_pid(p->pid, TERM_WAIT_MS, &status);
    }
    if (!done) {
        fprintf(stderr, "bench_mtd: %s (pid %d) ignores SIGTERM: SIGKILL\n", p->name, (int)p->pid);
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    proc_register(p, 0);
    p->pid = -1;
    if (clean && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "bench_mtd: %s did not exit cleanly (status 0x%x)\n", p->name, (unsigned)status);
    return -1;
}

static void stop_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (g_procs[i])
            mtd_stop(g_procs[i]);
}

/*
 * Start mtd as `name` under root: state in root/name, stderr to
 * root/name.log, listening on addr:0, bootstrapping from the testnet, with
 * config file text conf (NULL: none). Returns once its socket answers and
 * a second connection has called events.subscribe.
 */
static int mtd_start(mtd_proc *p, const char *mtd, const char *root, const char *name, const char *addr,
                     const char *bootstrap, const char *conf)
{
    char listen_ep[64], conf_path[PATH_MAX], err[256];
    const char *argv[24];
    int a = 0, logfd, nullfd;
    pid_t pid;

    memset(p, 0, sizeof *p);
    p->pid = -1;
    rpc_init(&p->rpc);
    rpc_init(&p->ev);
    snprintf(p->name, sizeof p->name, "%s", name);
    if ((size_t)snprintf(p->dir, sizeof p->dir, "%s/%s", root, name) >= sizeof p->dir ||
        (size_t)snprintf(p->sock, sizeof p->sock, "%s/mtd.sock", p->dir) >= 100 ||
        (size_t)snprintf(p->log, sizeof p->log, "%s/%s.log", root, name) >= sizeof p->log ||
        (size_t)snprintf(conf_path, sizeof conf_path, "%s/%s.conf", root, name) >= sizeof conf_path) {
        fprintf(stderr, "bench_mtd: paths under %s are too long for a UNIX socket; set TMPDIR\n", root);
        return -1;
    }
    if (mkdir(p->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_mtd: cannot create %s: %s\n", p->dir, strerror(errno));
        return -1;
    }
    if (conf && write_file(conf_path, conf, strlen(conf)) != 0)
        return -1;
    snprintf(listen_ep, sizeof listen_ep, "%s:0", addr);
    argv[a++] = mtd;
    argv[a++] = "--foreground";
    argv[a++] = "--loopback";
    argv[a++] = "--state-dir";
    argv[a++] = p->dir;
    argv[a++] = "--socket";
    argv[a++] = p->sock;
    argv[a++] = "--listen";
    argv[a++] = listen_ep;
    argv[a++] = "--bootstrap";
    argv[a++] = bootstrap;
    argv[a++] = "--log-level";
    argv[a++] = "info";
    if (conf) {
        argv[a++] = "--config";
        argv[a++] = conf_path;
    }
    argv[a] = NULL;

    logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        fprintf(stderr, "bench_mtd: cannot open %s: %s\n", p->log, strerror(errno));
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. If the benchmark
         * dies without stopping us, the kernel sends SIGTERM. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(mtd, (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    if (pid < 0) {
        fprintf(stderr, "bench_mtd: fork: %s\n", strerror(errno));
        return -1;
    }
    p->pid = pid;
    proc_register(p, 1);

    for (double deadline = now_ms() + WAIT_START_MS;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench_mtd: %s exited at start (status 0x%x)\n", name, (unsigned)status);
            proc_register(p, 0);
            p->pid = -1;
            show_log_tail(p);
            return -1;
        }
        if (rpc_connect(&p->rpc, p->sock) == 0)
            break;
        if (now_ms() >= deadline || interrupted) {
            fprintf(stderr, "bench_mtd: %s: socket %s not answering after %d ms\n", name, p->sock, WAIT_START_MS);
            show_log_tail(p);
            return -1;
        }
        pump();
        sleep_ms(20);
    }
    if (rpc_connect(&p->ev, p->sock) != 0 ||
        rpc_call(&p->ev, "events.subscribe", NULL, RPC_TIMEOUT_MS, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mtd: %s: events.subscribe failed\n", name);
        return -1;
    }
    return 0;
}

/* Wait until the daemon's routing table holds min_nodes nodes ("status"
 * asks the engine for fresh stats each time). */
static int mtd_wait_dht(mtd_proc *p, int min_nodes)
{
    char err[256];
    int nodes = 0;
    for (double deadline = now_ms() + WAIT_DHT_MS; now_ms() < deadline;) {
        cJSON *st = NULL;
        if (rpc_call(&p->rpc, "status", NULL, RPC_TIMEOUT_MS, &st, err, sizeof err) != 0) {
            fprintf(stderr, "bench_mtd: %s: %s\n", p->name, err);
            return -1;
        }
        nodes = (int)json_num(st, "dht_nodes", 0);
        cJSON_Delete(st);
        if (nodes >= min_nodes)
            return 0;
        if (events_wait(&p->ev, 250, NULL, NULL) < 0)
            return -1;
    }
    fprintf(stderr, "bench_mtd: %s: %d DHT nodes after %d ms, wanted %d\n", p->name, nodes, WAIT_DHT_MS, min_nodes);
    return -1;
}

/* CPU seconds (utime + stime, all threads) and VmRSS (KiB) of pid. */
static int proc_usage(pid_t pid, double *cpu_s, long *rss_kib)
{
    char path[64], buf[4096], *p;
    unsigned long long ut = 0, stt = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the command name, which may hold spaces and ')'. */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return -1;
    *cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    *rss_kib = -1;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "VmRSS: %ld kB", rss_kib) == 1)
            break;
    fclose(f);
    return *rss_kib >= 0 ? 0 : -1;
}

/* One look at a daemon: its counters and its process. */
typedef struct sample {
    double t_ms, cpu_s;
    long   rss_kib;
    double polls, lookups;
} sample;

static int take_sample(mtd_proc *p, sample *s)
{
    char err[256];
    cJSON *st = NULL;
    if (rpc_call(&p->rpc, "status", NULL, RPC_TIMEOUT_MS, &st, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mtd: %s: %s\n", p->name, err);
        return -1;
    }
    s->t_ms = now_ms();
    s->polls = json_num(st, "polls", -1);
    s->lookups = json_num(st, "dht_lookups", -1);
    cJSON_Delete(st);
    if (proc_usage(p->pid, &s->cpu_s, &s->rss_kib) != 0) {
        fprintf(stderr, "bench_mtd: cannot read /proc/%d\n", (int)p->pid);
        return -1;
    }
    if (s->polls < 0 || s->lookups < 0) {
        fprintf(stderr, "bench_mtd: %s: status has no polls/dht_lookups counters\n", p->name);
        return -1;
    }
    return 0;
}

/* sub.add {address, interval, save_path?}; *id gets the subscription id. */
static int sub_add(mtd_proc *p, const char *address, const char *save_path, int interval, int64_t *id)
{
    char err[512];
    cJSON *params = cJSON_CreateObject(), *r = NULL;
    cJSON_AddStringToObject(params, "address", address);
    cJSON_AddNumberToObject(params, "interval", interval);
    if (save_path)
        cJSON_AddStringToObject(params, "save_path", save_path);
    if (rpc_call(&p->rpc, "sub.add", params, RPC_TIMEOUT_MS, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mtd: %s: %s\n", p->name, err);
        return -1;
    }
    *id = (int64_t)json_num(r, "id", -1);
    cJSON_Delete(r);
    return *id > 0 ? 0 : -1;
}

/*
 * feed.publish {name, items: [item], inline, replace}: answers when the DHT
 * put is done. *rtt_ms: the call; *seq, address (cap bytes, may be NULL).
 * Fails if no DHT node stored the item.
 */
static int publish_item(mtd_proc *p, const char *feed, const char *item, int inl, double *rtt_ms, int64_t *seq,
                        char *address, size_t cap)
{
    char err[512];
    cJSON *params = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(params, "items"), *r = NULL;
    double t0;
    int nodes;
    cJSON_AddStringToObject(params, "name", feed);
    cJSON_AddItemToArray(items, cJSON_CreateString(item));
    if (inl) {
        /* Inline values must stay under 1000 bytes: keep one item. */
        cJSON_AddTrueToObject(params, "inline");
        cJSON_AddTrueToObject(params, "replace");
    }
    t0 = now_ms();
    if (rpc_call(&p->rpc, "feed.publish", params, RPC_TIMEOUT_MS, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mtd: %s: %s\n", p->name, err);
        return -1;
    }
    *rtt_ms = now_ms() - t0;
    *seq = (int64_t)json_num(r, "seq", -1);
    nodes = (int)json_num(r, "nodes", 0);
    if (address)
        snprintf(address, cap, "%s", json_str(r, "address"));
    cJSON_Delete(r);
    if (nodes <= 0) {
        fprintf(stderr, "bench_mtd: feed.publish of \"%s\" stored on no DHT node\n", feed);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ part: latency */

/* What a wait for one item looks for, and what it saw. */
typedef struct item_wait {
    int64_t     sub;           /* subscription id */
    const char *name;          /* item name wanted (NULL: any) */
    double      t;             /* when its item.added arrived */
    int         got;
    int         errors;        /* feed.rejected, or feed.checked with an error, of sub */
    int         checked;       /* feed.checked of sub */
    char        torrent[41];   /* the item's torrent id, if it is one */
} item_wait;

static int on_item_event(void *ctx, const cJSON *ev, double t)
{
    item_wait *w = ctx;
    const char *type = json_str(ev, "type");
    int64_t sub = (int64_t)json_num(ev, "subscription", -1);
    if (sub != w->sub)
        return 0;
    if (!strcmp(type, "item.added") && (!w->name || !strcmp(json_str(ev, "name"), w->name))) {
        w->t = t;
        w->got = 1;
        snprintf(w->torrent, sizeof w->torrent, "%s", json_str(ev, "id"));
        return 1;
    }
    if (!strcmp(type, "feed.checked")) {
        w->checked++;
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "error"))) {
            w->errors++;
            fprintf(stderr, "bench_mtd: subscription %" PRId64 ": poll failed: %s\n", sub, json_str(ev, "error"));
        }
    } else if (!strcmp(type, "feed.rejected")) {
        w->errors++;
        fprintf(stderr, "bench_mtd: subscription %" PRId64 ": rejected: %s\n", sub, json_str(ev, "reason"));
    }
    return 0;
}

/* Stops at torrent.finished of the torrent named in ctx. */
static int on_finished_event(void *ctx, const cJSON *ev, double t)
{
    (void)t;
    return !strcmp(json_str(ev, "type"), "torrent.finished") && !strcmp(json_str(ev, "id"), (const char *)ctx);
}

typedef struct lat_opts {
    const char *mtd, *root, *addr, *daemon_addr;
    int nodes, rounds, warmup, poll_rounds, interval;
} lat_opts;

typedef struct lat_results {
    series sync_ptr, sync_inl, poll, rtt_ptr, rtt_inl, raw_first, raw_auth;
    double net_ms;          /* testnet start */
    double magnet_ms;       /* first (magnet) item: item.added -> torrent.finished; -1: not seen */
    int    errors;          /* failed polls or rejections seen */
    int    failures;        /* rounds that failed */
    int    poll_checks;     /* polls of the poll-driven subscription during its rounds */
    double poll_span_s;     /* how long those rounds took */
} lat_results;

/*
 * One update: wait delay_ms (events handled meanwhile), publish a fresh
 * text item, optionally sync at once, and time the publish answer ->
 * item.added (waiting at most wait_ms). *w gets what the waits saw, *seq
 * the published sequence.
 */
static int update_round(mtd_proc *pub, mtd_proc *sub, const char *feed, int64_t sub_id, int inl, int sync,
                        double delay_ms, double wait_ms, double *latency, double *rtt, int64_t *seq, item_wait *w)
{
    char item[160];
    double t0;

    memset(w, 0, sizeof *w);
    w->sub = sub_id;
    w->name = item;
    snprintf(item, sizeof item, "bench-mtd %s item %08" PRIx64, feed, rng_next() >> 32);
    if (events_wait(&sub->ev, delay_ms, on_item_event, w) < 0)
        return -1;
    if (publish_item(pub, feed, item, inl, rtt, seq, NULL, 0) != 0)
        return -1;
    t0 = now_ms();
    if (sync) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddNumberToObject(params, "id", (double)sub_id);
        if (rpc_send(&sub->rpc, "sub.sync", params, 0) != 0)
            return -1;
    }
    if (events_wait(&sub->ev, wait_ms, on_item_event, w) != 1) {
        fprintf(stderr, "bench_mtd: \"%s\" (seq %" PRId64 ") did not reach the subscriber\n", item, *seq);
        return -1;
    }
    *latency = w->t - t0;
    w->name = NULL;   /* item[] goes out of scope */
    return 0;
}

/* Seed a small torrent on the publisher; magnet (cap bytes) names it. */
static int seed_payload(mtd_proc *pub, const char *root, char *magnet, size_t cap)
{
    char dir[PATH_MAX], file[PATH_MAX], tpath[PATH_MAX], err[512];
    uint8_t *data = malloc(PAYLOAD_BYTES), *t = NULL;
    size_t tlen = 0;
    mt_create_params cp;
    mt_error merr;
    cJSON *params, *r = NULL;
    int rc = -1;

    snprintf(dir, sizeof dir, "%s/pubdata", root);
    snprintf(file, sizeof file, "%s/pubdata/%s", root, PAYLOAD_NAME);
    snprintf(tpath, sizeof tpath, "%s/payload.torrent", root);
    if (!data || mkdir(dir, 0700) != 0)
        goto out;
    for (size_t i = 0; i + 8 <= PAYLOAD_BYTES; i += 8) {
        uint64_t x = rng_next();
        memcpy(data + i, &x, 8);
    }
    if (write_file(file, data, PAYLOAD_BYTES) != 0)
        goto out;
    memset(&cp, 0, sizeof cp);
    cp.path = file;
    cp.version = MT_TORRENT_V1;
    if (mt_torrent_create(&cp, &t, &tlen, &merr) != 0) {
        fprintf(stderr, "bench_mtd: mt_torrent_create: %s\n", merr.message);
        goto out;
    }
    if (write_file(tpath, t, tlen) != 0)
        goto out;
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "path", tpath);
    cJSON_AddStringToObject(params, "save_path", dir);
    if (rpc_call(&pub->rpc, "torrent.add", params, RPC_TIMEOUT_MS, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mtd: publisher: %s\n", err);
        goto out;
    }
    snprintf(magnet, cap, "magnet:?xt=urn:btih:%s&dn=%s", json_str(r, "id"), PAYLOAD_NAME);
    rc = strlen(json_str(r, "id")) == 40 ? 0 : -1;
out:
    cJSON_Delete(r);
    mt_free(t);
    free(data);
    return rc;
}

/*
 * The raw primitive: from a fresh session on the same network, get the
 * feed's mutable item `rounds` times; ms to the first answer with seq and to
 * the authoritative one.
 */
static int raw_gets(const char *listen_addr, const char *bootstrap, const uint8_t pk[32], const char *salt,
                    int64_t seq, int rounds, series *first, series *auth)
{
    mt_session_config cfg;
    mt_session *s = NULL;
    mt_error err;
    char listen_ep[64];
    int failures = 0;

    snprintf(listen_ep, sizeof listen_ep, "%s:0", listen_addr);
    mt_session_config_init_loopback(&cfg, listen_ep);
    cfg.dht_nodes = bootstrap;
    /* Read-only (BEP-43): nobody adds this short-lived node to a routing
     * table, so once it is gone no daemon's lookup waits on it. */
    cfg.dht_read_only = 1;
    if (mt_session_new(&cfg, &s, &err) != 0 || mt_dht_wait_nodes(s, 8, WAIT_DHT_MS, &err) != 0) {
        fprintf(stderr, "bench_mtd: probe session: %s\n", err.message);
        mt_session_free(s);
        return -1;
    }
    for (int r = 0; r < rounds + 2 && !interrupted; r++) {
        uint8_t target[20];
        double t0, t_first = -1;
        mt_event ev;
        memset(&ev, 0, sizeof ev);
        pump();
        while (mt_session_next_event(s, &ev))
            mt_event_clear(&ev);
        t0 = now_ms();
        if (mt_dht_get_mutable(s, pk, (const uint8_t *)salt, strlen(salt), target, &err) != 0) {
            failures++;
            continue;
        }
        for (;;) {
            if (mt_session_wait_event(s, MT_EVENT_DHT_MUTABLE, target, WAIT_ITEM_MS, &ev, &err) != 0) {
                failures++;
                break;
            }
            double t = now_ms() - t0;
            if (ev.error == 0 && ev.seq == seq && t_first < 0)
                t_first = t;
            if (ev.authoritative) {
                if (t_first < 0 || ev.seq != seq)
                    failures++;
                else if (r >= 2) {   /* two warm-up gets */
                    series_add(first, t_first);
                    series_add(auth, t);
                }
                mt_event_clear(&ev);
                break;
            }
            mt_event_clear(&ev);
        }
    }
    mt_session_free(s);
    if (failures)
        fprintf(stderr, "bench_mtd: %d raw gets failed\n", failures);
    return failures ? -1 : 0;
}

/* Part "latency"; see the top of the file. */
static int run_latency(const lat_opts *o, lat_results *R)
{
    mtd_proc pub, sub;
    char pub_addr[32], sub_addr[32], probe_addr[32], magnet[200], addr_ptr[MT_FEEDADDR_STR_MAX],
        addr_inl[MT_FEEDADDR_STR_MAX], addr_poll[MT_FEEDADDR_STR_MAX], dl[PATH_MAX], err[256];
    const char *boot;
    int64_t id_ptr, id_inl, id_poll, seq_inl = 0, seq;
    uint8_t pk[32];
    double rtt, lat, t_span;
    item_wait w;
    mt_error merr;
    cJSON *st = NULL;
    int rc = -1, total = o->warmup + o->rounds;

    memset(&pub, 0, sizeof pub);
    memset(&sub, 0, sizeof sub);
    pub.pid = sub.pid = -1;
    rpc_init(&pub.rpc), rpc_init(&pub.ev), rpc_init(&sub.rpc), rpc_init(&sub.ev);
    R->magnet_ms = -1;
    if (addr_plus(o->daemon_addr, 0, pub_addr, sizeof pub_addr) || addr_plus(o->daemon_addr, 1, sub_addr, sizeof sub_addr) ||
        addr_plus(o->daemon_addr, 9, probe_addr, sizeof probe_addr))
        return -1;

    fprintf(stderr, "bench_mtd: latency: starting %d testnet nodes at %s\n", o->nodes, o->addr);
    double t = now_ms();
    if (mt_testnet_start(o->addr, o->nodes, 120000, &g_net, &merr) != 0) {
        fprintf(stderr, "bench_mtd: testnet: %s\n", merr.message);
        return -1;
    }
    R->net_ms = now_ms() - t;
    boot = mt_testnet_bootstrap(g_net);

    if (mtd_start(&pub, o->mtd, o->root, "publisher", pub_addr, boot, NULL) != 0 ||
        mtd_start(&sub, o->mtd, o->root, "subscriber", sub_addr, boot, NULL) != 0 ||
        mtd_wait_dht(&pub, 8) != 0 || mtd_wait_dht(&sub, 8) != 0)
        goto out;
    if (rpc_call(&pub.rpc, "status", NULL, RPC_TIMEOUT_MS, &st, err, sizeof err) != 0 ||
        mt_hex_decode(json_str(st, "public_key"), pk, 32) != 0) {
        fprintf(stderr, "bench_mtd: publisher status: %s\n", err);
        goto out;
    }

    /* Feeds: "ptr" starts with the magnet of a seeded torrent, "inline"
     * with a text item. Both subscriptions poll only when synced. */
    if (seed_payload(&pub, o->root, magnet, sizeof magnet) != 0 ||
        publish_item(&pub, "ptr", magnet, 0, &rtt, &seq, addr_ptr, sizeof addr_ptr) != 0 ||
        publish_item(&pub, "inline", "bench-mtd inline first item", 1, &rtt, &seq_inl, addr_inl, sizeof addr_inl) != 0)
        goto out;
    snprintf(dl, sizeof dl, "%s/subscriber-downloads", o->root);
    memset(&w, 0, sizeof w);
    w.name = PAYLOAD_NAME;
    if (sub_add(&sub, addr_ptr, dl, 86400, &id_ptr) != 0)
        goto out;
    w.sub = id_ptr;
    t = now_ms();
    if (events_wait(&sub.ev, WAIT_ITEM_MS, on_item_event, &w) != 1 || !w.torrent[0]) {
        fprintf(stderr, "bench_mtd: the magnet item did not reach the subscriber\n");
        goto out;
    }
    fprintf(stderr, "bench_mtd: first item (magnet) added %.0f ms after sub.add\n", w.t - t);
    t = w.t;
    if (events_wait(&sub.ev, WAIT_ITEM_MS, on_finished_event, w.torrent) == 1)
        R->magnet_ms = now_ms() - t;
    else
        fprintf(stderr, "bench_mtd: the magnet item's torrent did not finish downloading\n");
    memset(&w, 0, sizeof w);
    w.name = "bench-mtd inline first item";
    if (sub_add(&sub, addr_inl, dl, 86400, &id_inl) != 0)
        goto out;
    w.sub = id_inl;
    if (events_wait(&sub.ev, WAIT_ITEM_MS, on_item_event, &w) != 1) {
        fprintf(stderr, "bench_mtd: the inline feed's first item did not reach the subscriber\n");
        goto out;
    }

    /* Sync-driven rounds, pointer and inline alternating. */
    fprintf(stderr, "bench_mtd: %d sync-driven rounds (+%d warm-up) per mode\n", o->rounds, o->warmup);
    for (int k = 0; k < total && !interrupted; k++) {
        if (update_round(&pub, &sub, "ptr", id_ptr, 0, 1, rng_unit() * SYNC_PHASE_MS, WAIT_ITEM_MS, &lat, &rtt, &seq,
                         &w) != 0) {
            R->failures++;
            continue;
        }
        R->errors += w.errors;
        if (k >= o->warmup) {
            series_add(&R->sync_ptr, lat);
            series_add(&R->rtt_ptr, rtt);
        }
        if (update_round(&pub, &sub, "inline", id_inl, 1, 1, rng_unit() * SYNC_PHASE_MS, WAIT_ITEM_MS, &lat, &rtt,
                         &seq_inl, &w) != 0) {
            R->failures++;
            continue;
        }
        R->errors += w.errors;
        if (k >= o->warmup) {
            series_add(&R->sync_inl, lat);
            series_add(&R->rtt_inl, rtt);
        }
    }

    /* The raw primitive on the same network, from a fresh session. */
    fprintf(stderr, "bench_mtd: %d raw mutable gets from a fresh session\n", o->rounds);
    if (raw_gets(probe_addr, boot, pk, "inline", seq_inl, o->rounds, &R->raw_first, &R->raw_auth) != 0)
        R->failures++;

    /* Poll-driven rounds: a third feed, polled every o->interval s. */
    fprintf(stderr, "bench_mtd: %d poll-driven rounds, interval %d s (about %.0f s)\n", o->poll_rounds, o->interval,
            o->poll_rounds * (o->interval * (0.5 + POLL_WAIT_FACTOR) + 1));
    if (publish_item(&pub, "poll", "bench-mtd poll first item", 0, &rtt, &seq, addr_poll, sizeof addr_poll) != 0 ||
        sub_add(&sub, addr_poll, dl, o->interval, &id_poll) != 0)
        goto out;
    memset(&w, 0, sizeof w);
    w.sub = id_poll;
    w.name = "bench-mtd poll first item";
    if (events_wait(&sub.ev, WAIT_ITEM_MS, on_item_event, &w) != 1) {
        fprintf(stderr, "bench_mtd: the poll feed's first item did not reach the subscriber\n");
        goto out;
    }
    t_span = now_ms();
    for (int k = 0; k < o->poll_rounds && !interrupted; k++) {
        double delay = rng_unit() * o->interval * 1000.0;
        if (update_round(&pub, &sub, "poll", id_poll, 0, 0, delay, 2.4 * o->interval * 1000 + WAIT_ITEM_MS, &lat,
                         &rtt, &seq, &w) != 0) {
            R->failures++;
            continue;
        }
        R->errors += w.errors;
        R->poll_checks += w.checked;
        series_add(&R->poll, lat);
    }
    R->poll_span_s = (now_ms() - t_span) / 1000;
    rc = interrupted ? -1 : 0;
out:
    cJSON_Delete(st);
    if (mtd_stop(&sub) != 0 || mtd_stop(&pub) != 0)
        rc = -1;
    mt_testnet_free(g_net);
    g_net = NULL;
    return rc;
}

/* ------------------------------------------------------------ part: scale */

typedef struct scale_opts {
    const char *mtd, *root, *addr, *daemon_addr;
    int nodes, window_s, settle_s, idle_s, interval, resolve_timeout;
} scale_opts;

typedef struct scale_result {
    int    n, budget;          /* budget 0: not configured (the default, 60) */
    int    dead;               /* dead nodes left in the testnet first */
    double add_s;              /* all sub.add calls */
    series add_ms;             /* each call */
    long   rss0, rss1, rss2;   /* KiB: before adding, after, after the window */
    double idle_cpu_rate;      /* CPU s per s with no subscriptions */
    double win_s, win_cpu_s, win_polls, win_lookups;
    double add_cpu_s, add_polls;
    long   distinct, checks, max_checks; /* feed.checked per subscription, from the first add */
    long   repolled;           /* subscriptions polled twice or more */
    long   max_id_polled;      /* highest subscription id (ids follow the add order) polled */
    long   timeouts;           /* polls that ended "timed out" */
    int    items;              /* item.added (the published feeds' items) */
    int    ok;
} scale_result;

/* Counts feed.checked per subscription id and item.added. */
typedef struct scale_count {
    long  *per_id;     /* feed.checked by subscription id */
    size_t cap;
    long   distinct, checks, max, timeouts;
    int    items;
} scale_count;

static int on_scale_event(void *ctx, const cJSON *ev, double t)
{
    scale_count *c = ctx;
    const char *type = json_str(ev, "type");
    double id = json_num(ev, "subscription", -1);
    (void)t;
    if (!strcmp(type, "item.added"))
        c->items++;
    if (strcmp(type, "feed.checked") || id < 0 || id >= (double)c->cap)
        return 0;
    long n = ++c->per_id[(size_t)id];
    c->checks++;
    if (strstr(json_str(ev, "error"), "timed out"))
        c->timeouts++;
    if (n == 1)
        c->distinct++;
    if (n > c->max)
        c->max = n;
    return 0;
}

/* Publish N_EXISTING feeds (fresh keys, one text item each, inline,
 * seq 1) from testnet nodes; their addresses into addr. */
static int publish_existing(mt_testnet *net, char addr[][MT_FEEDADDR_STR_MAX])
{
    for (int i = 0; i < N_EXISTING; i++) {
        mt_identity *id = NULL;
        mt_manifest_draft *dr = NULL;
        mt_session *s = mt_testnet_session(net, i % mt_testnet_size(net));
        mt_feedaddr fa;
        mt_event ev;
        mt_error err;
        char *json = NULL, text[64];
        uint8_t *v = NULL, target[20];
        size_t len = 0, vlen = 0;
        int rc;

        snprintf(text, sizeof text, "bench-mtd scale feed %d", i);
        memset(&ev, 0, sizeof ev);
        rc = mt_identity_generate(&id, &err);
        if (rc == 0)
            rc = mt_manifest_draft_new(&dr, &err);
        if (rc == 0)
            rc = mt_manifest_draft_add_collection(dr, "default", &err);
        if (rc == 0)
            rc = mt_manifest_draft_add_item(dr, text, &err);
        if (rc == 0)
            rc = mt_manifest_draft_sign(dr, id, 1, mt_wall_ms(), NULL, &json, &len, &err);
        if (rc == 0)
            rc = mt_pointer_encode_inline(json, len, &v, &vlen, &err);
        mt_testnet_drain(net);
        if (rc == 0)
            rc = mt_dht_put_mutable(s, mt_identity_secret_key(id), NULL, 0, 1, v, vlen, target, &err);
        if (rc == 0)
            rc = mt_session_wait_event(s, MT_EVENT_DHT_PUT, target, WAIT_PUT_MS, &ev, &err);
        if (rc == 0 && ev.error != 0) {
            snprintf(err.message, sizeof err.message, "%.200s", ev.message);
            rc = -1;
        }
        if (rc == 0) {
            memset(&fa, 0, sizeof fa);
            memcpy(fa.pk, mt_identity_public_key(id), 32);
            rc = mt_feedaddr_format_magnet(&fa, addr[i], MT_FEEDADDR_STR_MAX, &err);
        }
        mt_event_clear(&ev);
        mt_free(v);
        free(json);
        mt_manifest_draft_free(dr);
        mt_identity_free(id);
        if (rc != 0) {
            fprintf(stderr, "bench_mtd: publishing scale feed %d: %s\n", i, err.message);
            return -1;
        }
    }
    return 0;
}

/* Add n subscriptions, one sub.add after the other on one connection,
 * events drained between calls. The published feeds are spread evenly
 * among generated keys nobody publishes under. */
static int add_subscriptions(mtd_proc *d, const scale_opts *o, char existing[][MT_FEEDADDR_STR_MAX], int n,
                             series *add_ms, scale_count *c)
{
    char address[MT_FEEDADDR_STR_MAX];
    int next_existing = 0, stride = n / N_EXISTING;
    for (int i = 0; i < n && !interrupted; i++) {
        int64_t id;
        double t = now_ms();
        if (stride > 0 && i % stride == 0 && next_existing < N_EXISTING) {
            snprintf(address, sizeof address, "%s", existing[next_existing++]);
        } else {
            uint8_t pk[32];
            char hex[65];
            for (int k = 0; k < 32; k += 8) {
                uint64_t x = rng_next();
                memcpy(pk + k, &x, 8);
            }
            mt_hex_encode(pk, 32, hex);
            snprintf(address, sizeof address, "magnet:?xs=urn:btpk:%s", hex);
        }
        if (sub_add(d, address, NULL, o->interval, &id) != 0)
            return -1;
        series_add(add_ms, now_ms() - t);
        if (events_wait(&d->ev, 0, on_scale_event, c) < 0)
            return -1;
    }
    return interrupted ? -1 : 0;
}

/*
 * One scale run: a fresh mtd; its idle CPU over o->idle_s; n subscriptions;
 * o->settle_s to let the first burst of polls pass (the token bucket starts
 * full); then the measured window of o->window_s.
 */
static int scale_run_one(const scale_opts *o, char existing[][MT_FEEDADDR_STR_MAX], scale_result *r)
{
    mtd_proc d;
    char conf[256], name[64], addr[32];
    scale_count c;
    sample s_idle, s0, s1, s2;
    int rc = -1;
    double t0;

    memset(&c, 0, sizeof c);
    memset(&d, 0, sizeof d);
    d.pid = -1;
    rpc_init(&d.rpc), rpc_init(&d.ev);
    c.cap = (size_t)r->n + 64;
    c.per_id = calloc(c.cap, sizeof *c.per_id);
    if (!c.per_id || series_init(&r->add_ms, (size_t)r->n) != 0 || addr_plus(o->daemon_addr, 2, addr, sizeof addr) != 0)
        goto out;
    if (r->budget > 0)
        snprintf(conf, sizeof conf, "dht_budget = %d\nresolve_timeout = %d\n", r->budget, o->resolve_timeout);
    else
        snprintf(conf, sizeof conf, "resolve_timeout = %d\n", o->resolve_timeout);
    snprintf(name, sizeof name, "scale-%d-%s%s", r->n, r->budget > 0 ? "budget" : "default", r->dead ? "-dead" : "");
    fprintf(stderr, "bench_mtd: scale: %d subscriptions, dht_budget %d/min%s, %d dead nodes (about %.0f s)\n", r->n,
            r->budget > 0 ? r->budget : 60, r->budget > 0 ? "" : " (default)", r->dead,
            o->idle_s + o->settle_s + o->window_s + r->n / 1000.0);
    if (mtd_start(&d, o->mtd, o->root, name, addr, mt_testnet_bootstrap(g_net), conf) != 0 ||
        mtd_wait_dht(&d, mt_testnet_size(g_net) < 8 ? mt_testnet_size(g_net) : 8) != 0 ||
        take_sample(&d, &s_idle) != 0 || events_wait(&d.ev, o->idle_s * 1000.0, NULL, NULL) < 0 ||
        take_sample(&d, &s0) != 0)
        goto out;
    r->idle_cpu_rate = (s0.cpu_s - s_idle.cpu_s) / ((s0.t_ms - s_idle.t_ms) / 1000);

    t0 = now_ms();
    if (add_subscriptions(&d, o, existing, r->n, &r->add_ms, &c) != 0)
        goto out;
    r->add_s = (now_ms() - t0) / 1000;
    if (take_sample(&d, &s1) != 0)
        goto out;
    r->rss0 = s0.rss_kib;
    r->rss1 = s1.rss_kib;
    r->add_cpu_s = s1.cpu_s - s0.cpu_s;
    r->add_polls = s1.polls - s0.polls;

    /* Settle, then the measured window: nothing but the daemon's polling. */
    if (events_wait(&d.ev, o->settle_s * 1000.0, on_scale_event, &c) < 0 || take_sample(&d, &s1) != 0 ||
        events_wait(&d.ev, o->window_s * 1000.0, on_scale_event, &c) < 0 || take_sample(&d, &s2) != 0)
        goto out;
    r->rss2 = s2.rss_kib;
    r->win_s = (s2.t_ms - s1.t_ms) / 1000;
    r->win_cpu_s = s2.cpu_s - s1.cpu_s;
    r->win_polls = s2.polls - s1.polls;
    r->win_lookups = s2.lookups - s1.lookups;
    events_wait(&d.ev, 0, on_scale_event, &c);
    r->distinct = c.distinct;
    r->checks = c.checks;
    r->max_checks = c.max;
    r->timeouts = c.timeouts;
    for (size_t i = 0; i < c.cap; i++) {
        r->repolled += c.per_id[i] >= 2;
        if (c.per_id[i])
            r->max_id_polled = (long)i;
    }
    r->items = c.items;
    r->ok = 1;
    rc = 0;
out:
    if (mtd_stop(&d) != 0)
        rc = -1;
    free(c.per_id);
    return rc;
}

/*
 * Leave k dead entries in the testnet's routing tables: full (not
 * read-only) sessions at addr + 20.. join, look something up so that every
 * node has heard from them, and stop. The real DHT is full of such nodes.
 */
static int add_dead_nodes(const char *daemon_addr, int k)
{
    mt_session *s[8] = {NULL};
    int rc = 0;
    if (k > 8)
        k = 8;
    for (int j = 0; j < k && rc == 0; j++) {
        mt_session_config cfg;
        mt_error err;
        char a[32], ep[48];
        uint8_t pk[32], target[20];
        mt_event ev;
        memset(&ev, 0, sizeof ev);
        if (addr_plus(daemon_addr, 20 + (unsigned)j, a, sizeof a) != 0)
            return -1;
        snprintf(ep, sizeof ep, "%s:0", a);
        mt_session_config_init_loopback(&cfg, ep);
        cfg.dht_nodes = mt_testnet_bootstrap(g_net);
        for (int i = 0; i < 32; i++)
            pk[i] = (uint8_t)rng_next();
        rc = mt_session_new(&cfg, &s[j], &err);
        if (rc == 0)
            rc = mt_dht_wait_nodes(s[j], 8, WAIT_DHT_MS, &err);
        if (rc == 0)
            rc = mt_dht_get_mutable(s[j], pk, NULL, 0, target, &err);
        while (rc == 0 && !ev.authoritative) {
            mt_event_clear(&ev);
            rc = mt_session_wait_event(s[j], MT_EVENT_DHT_MUTABLE, target, WAIT_ITEM_MS, &ev, &err);
        }
        mt_event_clear(&ev);
        if (rc != 0)
            fprintf(stderr, "bench_mtd: dead node %d: %s\n", j, err.message);
        pump();
    }
    for (int j = 0; j < k; j++)
        mt_session_free(s[j]);
    return rc;
}

/* One scale run on a testnet of its own: a daemon stopped in an earlier run
 * would otherwise linger in the routing tables as a dead node. */
static int scale_run_net(const scale_opts *o, scale_result *r)
{
    char existing[N_EXISTING][MT_FEEDADDR_STR_MAX];
    mt_error err;
    int rc = -1;
    if (mt_testnet_start(o->addr, o->nodes, 120000, &g_net, &err) != 0) {
        fprintf(stderr, "bench_mtd: testnet: %s\n", err.message);
        return -1;
    }
    if (publish_existing(g_net, existing) == 0 && (r->dead == 0 || add_dead_nodes(o->daemon_addr, r->dead) == 0))
        rc = scale_run_one(o, existing, r);
    mt_testnet_free(g_net);
    g_net = NULL;
    return rc;
}

/* ------------------------------------------------------------ output */

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void print_latency(const lat_opts *o, lat_results *R)
{
    series *all[] = {&R->sync_ptr, &R->sync_inl, &R->poll, &R->rtt_ptr, &R->rtt_inl, &R->raw_first, &R->raw_auth};
    const char *names[] = {"publish -> item.added, sync, pointer", "publish -> item.added, sync, inline",
                           "publish -> item.added, poll-driven", "feed.publish call, pointer",
                           "feed.publish call, inline", "raw get -> first with new seq",
                           "raw get -> authoritative"};
    char label[64];
    double expect_poll;

    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        series_finish(all[i]);
    expect_poll = POLL_WAIT_FACTOR * o->interval * 1000 + R->sync_ptr.median;
    snprintf(label, sizeof label, "bench_mtd %d nodes", o->nodes);

    printf("\nbench_mtd latency: %d-node testnet from %s (up in %.0f ms), mtd at %s and the next address;\n"
           "  %d sync rounds (+%d warm-up) per mode, %d poll rounds at interval %d s\n",
           o->nodes, o->addr, R->net_ms, o->daemon_addr, o->rounds, o->warmup, o->poll_rounds, o->interval);
    printf("%-40s %10s %10s %10s %10s %10s %4s\n", "metric (ms)", "median", "p95", "min", "max", "mean", "n");
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        printf("%-40s %10.1f %10.1f %10.1f %10.1f %10.1f %4zu\n", names[i], all[i]->median, all[i]->p95, all[i]->min,
               all[i]->max, all[i]->mean, all[i]->n);
    printf("expected mean poll-driven latency: %.2f x interval (%.0f ms) + sync pointer median = %.0f ms\n",
           POLL_WAIT_FACTOR, POLL_WAIT_FACTOR * o->interval * 1000, expect_poll);
    printf("poll-driven: %d polls of that subscription in %.0f s (%.1f s apart on average)\n", R->poll_checks,
           R->poll_span_s, R->poll_checks ? R->poll_span_s / R->poll_checks : 0);
    if (R->magnet_ms >= 0)
        printf("first item (magnet of a %u KiB seeded torrent): item.added -> torrent.finished %.0f ms\n",
               PAYLOAD_BYTES / 1024, R->magnet_ms);
    printf("failed rounds %d; failed polls or rejections seen %d\n", R->failures, R->errors);

    printf("\n| benchmark | metric | median | p95 | n | notes |\n");
    printf("|---|---|---|---|---|---|\n");
    printf("| %s | publish → item.added, sync, pointer mode | %.0f ms | %.0f ms | %zu | %.0f× raw get → authoritative; "
           "DHT get + feed-index torrent fetch |\n",
           label, R->sync_ptr.median, R->sync_ptr.p95, R->sync_ptr.n, ratio(R->sync_ptr.median, R->raw_auth.median));
    printf("| %s | publish → item.added, sync, inline mode | %.1f ms | %.1f ms | %zu | %.1f× raw get → first with "
           "new seq; the DHT lookup part |\n",
           label, R->sync_inl.median, R->sync_inl.p95, R->sync_inl.n, ratio(R->sync_inl.median, R->raw_first.median));
    printf("| %s | publish → item.added, poll-driven (interval %d s) | %.2f s | %.2f s | %zu | mean %.2f s; expected "
           "mean ≈ %.2f × interval + sync pointer median = %.2f s |\n",
           label, o->interval, R->poll.median / 1000, R->poll.p95 / 1000, R->poll.n, R->poll.mean / 1000,
           POLL_WAIT_FACTOR, expect_poll / 1000);
    printf("| %s | feed.publish call (pointer; answers after the DHT put) | %.1f ms | %.1f ms | %zu | |\n", label,
           R->rtt_ptr.median, R->rtt_ptr.p95, R->rtt_ptr.n);
    printf("| %s | feed.publish call (inline) | %.1f ms | %.1f ms | %zu | |\n", label, R->rtt_inl.median,
           R->rtt_inl.p95, R->rtt_inl.n);
    printf("| %s | mt_dht_get_mutable → first with new seq (raw primitive) | %.2f ms | %.2f ms | %zu | fresh "
           "session in the benchmark process |\n",
           label, R->raw_first.median, R->raw_first.p95, R->raw_first.n);
    printf("| %s | mt_dht_get_mutable → authoritative (raw primitive) | %.2f ms | %.2f ms | %zu | |\n", label,
           R->raw_auth.median, R->raw_auth.p95, R->raw_auth.n);
}

/* CPU ms per poll in the window, less what the idle daemon spends anyway. */
static double net_cpu_per_poll(const scale_result *r)
{
    return ratio((r->win_cpu_s - r->idle_cpu_rate * r->win_s) * 1000, r->win_polls);
}

static void print_scale(const scale_opts *o, scale_result *rs, int n_runs)
{
    printf("\nbench_mtd scale: one mtd, %d-node testnet, subscriptions polled every %d s (±20%%), "
           "resolve_timeout %d s,\n  %d of them published feeds; %d s idle baseline before adding, window of %d s "
           "starting %d s after the last sub.add\n",
           o->nodes, o->interval, o->resolve_timeout, N_EXISTING, o->idle_s, o->window_s, o->settle_s);
    for (int i = 0; i < n_runs; i++) {
        scale_result *r = &rs[i];
        int budget = r->budget > 0 ? r->budget : 60;
        if (!r->ok)
            continue;
        series_finish(&r->add_ms);
        printf("%d subscriptions, dht_budget %d%s, %d dead nodes: sub.add %.0f/s (median %.2f ms, p95 %.2f ms, "
               "%.1f s in all);\n"
               "  RSS %ld KiB before, %ld after adding, %ld after the window; idle CPU %.2f%% of a core;\n"
               "  while adding: %.0f polls, %.2f CPU s; window %.0f s: %.0f polls, %.0f lookups, %.2f CPU s "
               "(%.2f ms a poll, %.2f ms less idle);\n"
               "  from the first sub.add: %ld of %d subscriptions polled at least once, %ld twice or more "
               "(%ld polls seen, at most %ld for one; highest id polled %ld); %ld polls timed out; item.added %d of %d\n",
               r->n, budget, r->budget > 0 ? "" : " (default)", r->dead, r->n / r->add_s, r->add_ms.median, r->add_ms.p95,
               r->add_s, r->rss0, r->rss1, r->rss2, r->idle_cpu_rate * 100, r->add_polls, r->add_cpu_s, r->win_s,
               r->win_polls, r->win_lookups, r->win_cpu_s, ratio(r->win_cpu_s * 1000, r->win_polls),
               net_cpu_per_poll(r), r->distinct, r->n, r->repolled, r->checks, r->max_checks, r->max_id_polled,
               r->timeouts, r->items, N_EXISTING);
    }
    printf("\n| benchmark | subscriptions | dht_budget /min | sub.add rate | RSS after adding (per sub) | lookups /min "
           "(expected) | CPU per poll | notes |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_runs; i++) {
        scale_result *r = &rs[i];
        int budget = r->budget > 0 ? r->budget : 60;
        double want = (double)r->n * 60.0 / o->interval, per_min = ratio(r->win_lookups, r->win_s / 60);
        if (!r->ok)
            continue;
        if (want > budget)
            want = budget;
        char dead_note[64] = "";
        if (r->dead)
            snprintf(dead_note, sizeof dead_note, "%d dead nodes in the network; %ld polls timed out; ", r->dead,
                     r->timeouts);
        printf("| bench_mtd scale | %d | %d%s | %.0f /s | %.1f MiB (+%.2f KiB) | %.0f (%.0f) | %.2f ms (%.2f less "
               "idle) | %s%.1f%% of a core in the window; %ld of %d feeds polled at least once, %ld twice or more; "
               "%.1f min per feed at this rate |\n",
               r->n, budget, r->budget > 0 ? "" : " (default)", r->n / r->add_s, r->rss1 / 1024.0,
               ratio((double)(r->rss1 - r->rss0), r->n), per_min, want, ratio(r->win_cpu_s * 1000, r->win_polls),
               net_cpu_per_poll(r), dead_note, ratio(r->win_cpu_s * 100, r->win_s), r->distinct, r->n, r->repolled,
               ratio(r->n, per_min));
    }
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_mtd --mtd PATH [options]\n"
            "  --mtd PATH            the mtd program (e.g. BUILDDIR/mtd/mtd)\n"
            "  --part P              latency, scale or all (default all)\n"
            "  --nodes N             testnet nodes for the latency part (default 32)\n"
            "  --rounds R            sync-driven rounds per mode, and raw gets (default 20)\n"
            "  --warmup W            unmeasured sync rounds first (default 2)\n"
            "  --poll-rounds R       poll-driven rounds (default 20)\n"
            "  --interval S          poll interval of the poll-driven subscription (default 10)\n"
            "  --scale LIST          subscription counts, comma list (default 1000,10000)\n"
            "  --budget N            dht_budget for those runs (default 2000)\n"
            "  --default-budget-subs N  one more run with the default dht_budget (default 10000; 0: none)\n"
            "  --degraded-subs N     one more run, --budget, after --dead nodes left the network\n"
            "                        (default 0: none)\n"
            "  --dead K              dead nodes for that run (default 4, at most 8)\n"
            "  --scale-nodes N       testnet nodes for the scale part (default 8)\n"
            "  --sub-interval S      interval of the scale subscriptions (default 60)\n"
            "  --resolve-timeout S   resolve_timeout of the scale daemon (default 10)\n"
            "  --idle S              idle CPU baseline before adding (default 10)\n"
            "  --settle S            wait after adding before the window (default 30)\n"
            "  --window S            measured window (default 120: twice the sub interval)\n"
            "  --addr A              first testnet address (default 127.0.42.1)\n"
            "  --daemon-addr A       first mtd address; the next ones follow (default 127.0.43.1)\n"
            "  --seed S              seed for item names, keys and delays (default: from the clock)\n"
            "  --keep                keep the temp dir (daemon logs) after the run\n");
}

int main(int argc, char **argv)
{
    lat_opts lo = {NULL, NULL, "127.0.42.1", "127.0.43.1", 32, 20, 2, 20, 10};
    scale_opts so = {NULL, NULL, "127.0.42.1", "127.0.43.1", 8, 120, 30, 10, 60, 10};
    const char *part = "all", *scale_list = "1000,10000";
    long budget = 2000, default_subs = 10000, degraded_subs = 0, dead = 4, v;
    uint64_t seed = 0;
    int have_seed = 0, keep = 0, rc = 0, n_runs = 0;
    char root[ROOT_MAX], tmpl[PATH_MAX], real[PATH_MAX];
    const char *tmpdir = getenv("TMPDIR");
    lat_results R;
    scale_result runs[MAX_SCALE + 2];
    struct sigaction sa;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long *target = NULL, lo_v = 1, hi_v = 0;
        int *itarget = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--keep")) {
            keep = 1;
            continue;
        } else if (!strcmp(a, "--mtd") || !strcmp(a, "--part") || !strcmp(a, "--scale") || !strcmp(a, "--addr") ||
                   !strcmp(a, "--daemon-addr")) {
            if (!val) {
                fprintf(stderr, "bench_mtd: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--mtd"))
                lo.mtd = so.mtd = val;
            else if (!strcmp(a, "--part"))
                part = val;
            else if (!strcmp(a, "--scale"))
                scale_list = val;
            else if (!strcmp(a, "--addr"))
                lo.addr = so.addr = val;
            else
                lo.daemon_addr = so.daemon_addr = val;
            i++;
            continue;
        } else if (!strcmp(a, "--nodes")) {
            itarget = &lo.nodes, lo_v = 2, hi_v = MT_TESTNET_MAX;
        } else if (!strcmp(a, "--rounds")) {
            itarget = &lo.rounds, hi_v = 100000;
        } else if (!strcmp(a, "--warmup")) {
            itarget = &lo.warmup, lo_v = 0, hi_v = 1000;
        } else if (!strcmp(a, "--poll-rounds")) {
            itarget = &lo.poll_rounds, lo_v = 0, hi_v = 100000;
        } else if (!strcmp(a, "--interval")) {
            itarget = &lo.interval, lo_v = 5, hi_v = 86400;
        } else if (!strcmp(a, "--budget")) {
            target = &budget, hi_v = 100000;
        } else if (!strcmp(a, "--default-budget-subs")) {
            target = &default_subs, lo_v = 0, hi_v = 1000000;
        } else if (!strcmp(a, "--degraded-subs")) {
            target = &degraded_subs, lo_v = 0, hi_v = 1000000;
        } else if (!strcmp(a, "--dead")) {
            target = &dead, hi_v = 8;
        } else if (!strcmp(a, "--scale-nodes")) {
            itarget = &so.nodes, lo_v = 2, hi_v = MT_TESTNET_MAX;
        } else if (!strcmp(a, "--sub-interval")) {
            itarget = &so.interval, lo_v = 5, hi_v = 86400;
        } else if (!strcmp(a, "--resolve-timeout")) {
            itarget = &so.resolve_timeout, lo_v = 5, hi_v = 3600;
        } else if (!strcmp(a, "--window")) {
            itarget = &so.window_s, hi_v = 3600;
        } else if (!strcmp(a, "--settle")) {
            itarget = &so.settle_s, lo_v = 0, hi_v = 3600;
        } else if (!strcmp(a, "--idle")) {
            itarget = &so.idle_s, hi_v = 3600;
        } else if (!strcmp(a, "--seed")) {
            target = &v, hi_v = 2147483647L;
        } else {
            fprintf(stderr, "bench_mtd: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bench_parse_long(a, val, lo_v, hi_v, target ? target : &v) != 0)
            return 2;
        if (itarget)
            *itarget = (int)v;
        if (!strcmp(a, "--seed"))
            seed = (uint64_t)v, have_seed = 1;
        i++;
    }
    if (!lo.mtd || access(lo.mtd, X_OK) != 0) {
        fprintf(stderr, "bench_mtd: --mtd PATH to an executable mtd is required%s%s\n", lo.mtd ? ": " : "",
                lo.mtd ? strerror(errno) : "");
        return 2;
    }
    if (strcmp(part, "all") && strcmp(part, "latency") && strcmp(part, "scale")) {
        fprintf(stderr, "bench_mtd: --part is latency, scale or all\n");
        return 2;
    }
    if (!mt_addr_is_loopback(lo.addr) || !mt_addr_is_loopback(lo.daemon_addr)) {
        fprintf(stderr, "bench_mtd: --addr and --daemon-addr must be in 127.0.0.0/8\n");
        return 2;
    }
    /* The scale runs: each count of the list with --budget, then the default budget. */
    for (const char *p = scale_list; *p && n_runs < MAX_SCALE;) {
        char num[16];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof num)
            break;
        memcpy(num, p, len);
        num[len] = 0;
        memset(&runs[n_runs], 0, sizeof runs[n_runs]);
        if (bench_parse_long("--scale", num, N_EXISTING, 1000000, &v) != 0)
            return 2;
        runs[n_runs].n = (int)v;
        runs[n_runs++].budget = (int)budget;
        p += len + (p[len] == ',');
    }
    if (default_subs >= N_EXISTING) {
        memset(&runs[n_runs], 0, sizeof runs[n_runs]);
        runs[n_runs++].n = (int)default_subs;
    }
    if (degraded_subs >= N_EXISTING) {
        memset(&runs[n_runs], 0, sizeof runs[n_runs]);
        runs[n_runs].n = (int)degraded_subs;
        runs[n_runs].budget = (int)budget;
        runs[n_runs++].dead = (int)dead;
    }

    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec) % 2147483647u + 1;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL | 1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    snprintf(tmpl, sizeof tmpl, "%s/mt-bench-mtd-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmpl) || !realpath(tmpl, real)) {
        fprintf(stderr, "bench_mtd: cannot make a temp dir from %s: %s\n", tmpl, strerror(errno));
        return 1;
    }
    if (strlen(real) >= sizeof root) {
        /* Socket paths below it must fit in 108 bytes anyway. */
        fprintf(stderr, "bench_mtd: temp dir %s is too long; set TMPDIR to a shorter one\n", real);
        rmdir(real);
        return 1;
    }
    memcpy(root, real, strlen(real) + 1);
    lo.root = so.root = root;
    fprintf(stderr, "bench_mtd: seed %" PRIu64 ", temp dir %s\n", seed, root);

    memset(&R, 0, sizeof R);
    if (series_init(&R.sync_ptr, (size_t)lo.rounds) || series_init(&R.sync_inl, (size_t)lo.rounds) ||
        series_init(&R.poll, (size_t)lo.poll_rounds) || series_init(&R.rtt_ptr, (size_t)lo.rounds) ||
        series_init(&R.rtt_inl, (size_t)lo.rounds) || series_init(&R.raw_first, (size_t)lo.rounds) ||
        series_init(&R.raw_auth, (size_t)lo.rounds)) {
        fprintf(stderr, "bench_mtd: out of memory\n");
        return 1;
    }

    if (strcmp(part, "scale") && run_latency(&lo, &R) != 0)
        rc = 1;
    if (strcmp(part, "latency"))
        for (int i = 0; i < n_runs && !interrupted; i++)
            if (scale_run_net(&so, &runs[i]) != 0)
                rc = 1;
    stop_all();
    if (interrupted) {
        fprintf(stderr, "bench_mtd: interrupted\n");
        rc = 1;
    }

    if (strcmp(part, "scale"))
        print_latency(&lo, &R);
    if (strcmp(part, "latency"))
        print_scale(&so, runs, n_runs);
    series_free(&R.sync_ptr), series_free(&R.sync_inl), series_free(&R.poll), series_free(&R.rtt_ptr);
    series_free(&R.rtt_inl), series_free(&R.raw_first), series_free(&R.raw_auth);
    for (int i = 0; i < n_runs; i++)
        series_free(&runs[i].add_ms);

    if (R.failures)
        rc = 1;
    if (keep || rc || R.errors) {
        /* Failed polls or rejections are worth a look at the daemons' logs. */
        fprintf(stderr, "bench_mtd: kept %s (daemon logs)\n", root);
    } else {
        bench_rm_rf(root);
    }
    if (rc)
        fprintf(stderr, "bench_mtd: FAILED\n");
    return rc;
}
