/*
 * check_mtd.c - integration tests of the daemon: real mtd processes on a
 * loopback DHT network, driven over their JSON-RPC sockets.
 *
 * Each test runs in its own forked process (Check's default) and owns one
 * 127.0.6x.0/24: a testnet of 6 DHT nodes started in-process at .1-.6,
 * daemons at .20 and up (fixed ports, so a restart listens where it did),
 * and, for the adversarial and BEP-46 tests, a session of the test's own at
 * .30 that seeds torrents and puts DHT items with keys it generates. Every
 * daemon gets its own state directory and socket under the run's temp
 * directory and logs (at debug level) to <state dir>/mtd.log; when an
 * assertion fails the tail of every daemon's log is printed first.
 *
 * Every process a test starts it stops: the checked teardown shuts the
 * daemons down (shutdown RPC, then SIGTERM, then SIGKILL, always reaped);
 * if a test fails or times out, Check kills the test's process group, and
 * the daemons are in it. Timeouts below bound hangs; nothing is timed.
 *
 * Daemons run with MALLOC_PERTURB_ (unless the environment sets it), so
 * that reading freed memory shows as garbage in their answers every time.
 * Breaks of the documented protocol that are not the point of a test (a
 * missing event member) are collected and failed on at the end of the test,
 * after its main checks ran.
 *
 * The tests: demo (publish two, subscribe, append a third), restart
 * (SIGTERM, resume data, nothing re-added), kill_sub and kill_pub (SIGKILL
 * mid-update / right after publishing), adversarial (forged, replayed,
 * wrong-key, seq-mismatched, oversized and malformed items), bep46 (a plain
 * BEP-46 feed), rpc (protocol errors), resolve (RPC and mtctl).
 *
 * MTD and MTCTL name the binaries (defaults: ../mtd/mtd and ../mtctl/mtctl
 * next to the test's directory, ./mtd/mtd, /work/main/...). MTD_KEEP=1
 * keeps the temp directory (it is also kept when a test fails); MTD_TRACE=1
 * prints progress with times. CK_RUN_CASE=<test> runs one test.
 */
#define _GNU_SOURCE /* memmem */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt_blob.h"
#include "mt_blobswarm.h"
#include "mt_feedaddr.h"
#include "mt_feedindex.h"
#include "mt_identity.h"
#include "mt_json.h"
#include "mt_manifest.h"
#include "mt_pointer.h"
#include "mt_push.h"
#include "mt_testnet.h"
#include "tcprelay.h"
#include "testfs.h"
#include "testutil.h"

#define WAIT_MS 60000      /* one RPC answer or one event */
#define START_MS 30000     /* a daemon's socket answering */
#define STOP_MS 30000      /* a daemon exiting after shutdown / SIGTERM */
/* Many daemons finding each other in one swarm: libtorrent dials again a
 * peer it failed to reach only after a minute or more, which a busy machine
 * makes likely. Waits end as soon as the swarm is there (about 2 s when the
 * machine is idle); this bounds only a swarm that never forms. */
#define SWARM_MS 240000
#define NET_NODES 6
#define MAX_DAEMONS 24
#define MIB (1024 * 1024)

/* ------------------------------------------------------------ state */

/* One JSON-RPC connection: bytes not yet split into lines, every event
 * notification received (in order, never removed), and responses that no
 * call has claimed yet. */
typedef struct conn {
    int fd;
    int eof;
    char *in;
    size_t in_len, in_cap;
    cJSON **ev;
    size_t n_ev, cap_ev;
    cJSON **resp;
    size_t n_resp, cap_resp;
    int next_id;
} conn;

typedef struct mtd_proc {
    char name[16];
    char dir[256];     /* state dir */
    char sock[300];
    char log[300];
    char dl[300];      /* where its subscriptions save */
    char listen[64];
    char config[300];  /* "" = none */
    char bootstrap[1024];
    pid_t pid;
    conn c;            /* subscribed to events */
} mtd_proc;

static char g_base[64];         /* the run's temp dir (made by main) */
static char g_dir[256];         /* this test's dir */
static char g_prefix[32];       /* "127.0.6x" */
static int g_octet;             /* x of 127.0.x */
static mt_testnet *g_net;
static mt_session *g_own;       /* the test's own session, or NULL */
static mtd_proc g_d[MAX_DAEMONS];
static int g_nd;
static int g_dumping;
static char g_soft[8192];       /* contract breaks noted along the way */
static int64_t g_t0;

/* ------------------------------------------------------------ failure */

/* Print the end of every daemon's log: how failures get diagnosed. */
static void dump_logs(void)
{
    if (g_dumping)
        return;
    g_dumping = 1;
    for (int i = 0; i < g_nd; i++) {
        mtd_proc *d = &g_d[i];
        FILE *f = fopen(d->log, "rb");
        char buf[8193];
        long off;
        size_t n;
        fprintf(stderr, "\n===== %s (pid %d) %s: last lines =====\n", d->name, (int)d->pid, d->log);
        if (!f) {
            fprintf(stderr, "(no log)\n");
            continue;
        }
        fseek(f, 0, SEEK_END);
        off = ftell(f);
        fseek(f, off > 8192 ? off - 8192 : 0, SEEK_SET);
        n = fread(buf, 1, 8192, f);
        buf[n] = '\0';
        fclose(f);
        fputs(buf, stderr);
        fprintf(stderr, "===== end of %s =====\n", d->name);
    }
    g_dumping = 0;
}

#define T_ASSERT(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            dump_logs();                                                                           \
            ck_abort_msg(__VA_ARGS__);                                                             \
        }                                                                                          \
    } while (0)

/*
 * A break of the documented contract that should not stop the test before
 * its main checks (an event member missing, two reports of one reason that
 * disagree): noted, and failed on by soft_done() at the end of the test.
 */
static void soft(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void soft(const char *fmt, ...)
{
    va_list ap;
    size_t off = strlen(g_soft);
    if (off + 2 >= sizeof g_soft)
        return;
    va_start(ap, fmt);
    vsnprintf(g_soft + off, sizeof g_soft - off - 1, fmt, ap);
    va_end(ap);
    off = strlen(g_soft);
    g_soft[off] = '\n';
    g_soft[off + 1] = '\0';
}

static void soft_done(void)
{
    T_ASSERT(g_soft[0] == '\0', "contract broken:\n%s", g_soft);
}

/* With MTD_TRACE set, say how far a test got and when. */
static void step(const char *what)
{
    if (getenv("MTD_TRACE"))
        fprintf(stderr, "[%6.2f s] %s\n", (double)(mt_now_ms() - g_t0) / 1000.0, what);
}

/* ------------------------------------------------------------ helpers */



static void t_mkdir(const char *path)
{
    ck_assert_msg(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
}

static void t_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert(len == 0 || fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

static void t_write_random(const char *path, size_t len)
{
    uint8_t *buf = malloc(len);
    ck_assert(buf != NULL);
    randombytes_buf(buf, len);
    t_write(path, buf, len);
    free(buf);
}

/* Whole file (free), or NULL. */
static uint8_t *t_read(const char *path, size_t *len)
{
    char *buf = NULL;
    if (mt_file_read(path, 256u * MIB, &buf, len, NULL) != 0)
        return NULL;
    return (uint8_t *)buf;
}


/* The downloaded copy must hold exactly the source's bytes. */
static void t_same_file(const char *want, const char *got)
{
    size_t la = 0, lb = 0;
    uint8_t *a = t_read(want, &la), *b = t_read(got, &lb);
    T_ASSERT(a != NULL, "cannot read %s", want);
    T_ASSERT(b != NULL, "downloaded file %s is missing", got);
    T_ASSERT(la == lb && memcmp(a, b, la) == 0, "%s (%zu bytes) differs from %s (%zu bytes)", got, lb, want,
             la);
    free(a);
    free(b);
}

/* A file whose text contains needle (the daemon logs). */
static int file_contains(const char *path, const char *needle)
{
    size_t len = 0;
    uint8_t *buf = t_read(path, &len);
    int found = 0;
    if (!buf)
        return 0;
    for (size_t i = 0, n = strlen(needle); !found && n <= len && i <= len - n; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static const char *exe_dir(void)
{
    static char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return ".";
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return dir;
}

/* An executable: $env, else the first of the usual places that exists
 * (next to the test's directory, also under libtool's .libs; the build
 * directory; the source tree). */
static const char *find_tool(const char *env, const char *rel, char *buf, size_t cap)
{
    const char *e = getenv(env);
    if (e && *e)
        return e;
    const char *d = exe_dir();
    for (int i = 0; i < 4; i++) {
        if (i == 0)
            snprintf(buf, cap, "%s/../%s", d, rel);
        else if (i == 1)
            snprintf(buf, cap, "%s/../../%s", d, rel);
        else if (i == 2)
            snprintf(buf, cap, "./%s", rel);
        else
            snprintf(buf, cap, "/work/main/%s", rel);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return rel;
}

static const char *mtd_path(void)
{
    static char buf[PATH_MAX + 32];
    return find_tool("MTD", "mtd/mtd", buf, sizeof buf);
}

static const char *mtctl_path(void)
{
    static char buf[PATH_MAX + 32];
    return find_tool("MTCTL", "mtctl/mtctl", buf, sizeof buf);
}

/* cJSON from a printf-formatted JSON text. */
static cJSON *jf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *jf(const char *fmt, ...)
{
    static char buf[65536];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof buf);
    cJSON *v = cJSON_Parse(buf);
    ck_assert_msg(v != NULL, "test bug: bad JSON %s", buf);
    return v;
}

static const cJSON *jget(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = jget(o, name);
    char *text;
    if (cJSON_IsString(v))
        return v->valuestring;
    text = o ? cJSON_PrintUnformatted(o) : NULL;
    T_ASSERT(0, "no string \"%s\" in %s", name, text ? text : "(null)");
    return "";
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = jget(o, name);
    char *text;
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    text = o ? cJSON_PrintUnformatted(o) : NULL;
    T_ASSERT(0, "no number \"%s\" in %s", name, text ? text : "(null)");
    return 0;
}

static long long jint(const cJSON *o, const char *name)
{
    return (long long)jnum(o, name);
}

static char *jtext(const cJSON *o)
{
    static char buf[4096];
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    snprintf(buf, sizeof buf, "%s", t ? t : "(null)");
    free(t);
    return buf;
}

/* ------------------------------------------------------------ network */

/* Keep the in-process nodes' queues empty while we wait on daemons. */
static void pump_net(void)
{
    mt_event ev;
    if (g_net)
        mt_testnet_drain(g_net);
    if (g_own) {
        memset(&ev, 0, sizeof ev);
        while (mt_session_next_event(g_own, &ev) == 1)
            mt_event_clear(&ev);
    }
}

/* ------------------------------------------------------------ RPC client */

static void push_ptr(cJSON ***arr, size_t *n, size_t *cap, cJSON *v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *arr = realloc(*arr, *cap * sizeof **arr);
        ck_assert(*arr != NULL);
    }
    (*arr)[(*n)++] = v;
}

static int conn_open(conn *c, const char *path)
{
    struct sockaddr_un sa;
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c->next_id = 1;
    ck_assert(c->fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    ck_assert(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (size_t i = 0; i < c->n_ev; i++)
        cJSON_Delete(c->ev[i]);
    for (size_t i = 0; i < c->n_resp; i++)
        cJSON_Delete(c->resp[i]);
    free(c->ev);
    free(c->resp);
    free(c->in);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Send all of data; 0, or -1 if the daemon hung up. */
static int conn_send(conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void conn_line(conn *c, const char *line, size_t len)
{
    cJSON *v = cJSON_ParseWithLength(line, len);
    T_ASSERT(v != NULL, "daemon sent a line that is not JSON: %.*s", (int)(len > 300 ? 300 : len), line);
    const cJSON *m = cJSON_IsObject(v) ? jget(v, "method") : NULL;
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "event")) {
        cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(v, "params");
        T_ASSERT(cJSON_IsObject(p), "event without params object: %.*s", (int)len, line);
        push_ptr(&c->ev, &c->n_ev, &c->cap_ev, p);
        cJSON_Delete(v);
    } else {
        push_ptr(&c->resp, &c->n_resp, &c->cap_resp, v);
    }
}

/* Read what arrives within timeout_ms. 1 got bytes, 0 nothing, -1 EOF. */
static int conn_read(conn *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    char buf[65536];
    ssize_t n;
    if (c->fd < 0 || c->eof)
        return -1;
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        c->eof = 1;
        return -1;
    }
    if (c->in_len + (size_t)n > c->in_cap) {
        c->in_cap = (c->in_len + (size_t)n) * 2;
        c->in = realloc(c->in, c->in_cap);
        ck_assert(c->in != NULL);
    }
    memcpy(c->in + c->in_len, buf, (size_t)n);
    c->in_len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < c->in_len; i++) {
        if (c->in[i] != '\n')
            continue;
        conn_line(c, c->in + start, i - start);
        start = i + 1;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    return 1;
}

/* The first unclaimed response (with id `id`, or any if id < 0), waiting
 * up to timeout_ms; NULL on timeout or EOF. */
static cJSON *conn_wait_resp(conn *c, long long id, int timeout_ms)
{
    int64_t end = mt_now_ms() + timeout_ms;
    for (;;) {
        for (size_t i = 0; i < c->n_resp; i++) {
            const cJSON *rid = cJSON_IsObject(c->resp[i]) ? jget(c->resp[i], "id") : NULL;
            if (id < 0 || (cJSON_IsNumber(rid) && (long long)rid->valuedouble == id)) {
                cJSON *r = c->resp[i];
                memmove(c->resp + i, c->resp + i + 1, (c->n_resp - i - 1) * sizeof *c->resp);
                c->n_resp--;
                return r;
            }
        }
        if (mt_now_ms() > end || conn_read(c, 100) < 0)
            return NULL;
        pump_net();
    }
}

/* Call method (params taken; NULL = none) and return the whole response. */
static cJSON *conn_call(conn *c, const char *method, cJSON *params, int timeout_ms)
{
    cJSON *req = cJSON_CreateObject();
    long long id = c->next_id++;
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", (double)id);
    cJSON_AddStringToObject(req, "method", method);
    if (params)
        cJSON_AddItemToObject(req, "params", params);
    char *line = cJSON_PrintUnformatted(req);
    size_t len = strlen(line);
    line = realloc(line, len + 2);
    line[len] = '\n';
    line[len + 1] = '\0';
    cJSON_Delete(req);
    T_ASSERT(conn_send(c, line, len + 1) == 0, "%s: the daemon closed the connection", method);
    free(line);
    cJSON *r = conn_wait_resp(c, id, timeout_ms);
    T_ASSERT(r != NULL, "%s: no answer within %d ms%s", method, timeout_ms, c->eof ? " (connection closed)" : "");
    return r;
}

static cJSON *rpc_call(mtd_proc *d, const char *method, cJSON *params)
{
    return conn_call(&d->c, method, params, WAIT_MS);
}

/* The result of a call that must succeed (caller frees). */
static cJSON *rpc_ok(mtd_proc *d, const char *method, cJSON *params)
{
    cJSON *r = rpc_call(d, method, params);
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(r, "result");
    T_ASSERT(res != NULL, "%s on %s failed: %s", method, d->name, jtext(jget(r, "error")));
    cJSON_Delete(r);
    return res;
}

/* The error code of a call that must fail; msg gets its message. */
static int rpc_err(conn *c, const char *method, cJSON *params, char *msg, size_t cap)
{
    cJSON *r = conn_call(c, method, params, WAIT_MS);
    const cJSON *e = jget(r, "error");
    T_ASSERT(cJSON_IsObject(e), "%s should have failed but answered %s", method, jtext(r));
    int code = (int)jnum(e, "code");
    if (msg)
        snprintf(msg, cap, "%s", jstr(e, "message"));
    cJSON_Delete(r);
    return code;
}

/* ------------------------------------------------------------ events */

static size_t ev_mark(mtd_proc *d)
{
    return d->c.n_ev;
}

/* Does event e have type (NULL: any) and, if field, field == value?
 * Numbers, booleans and null compare by their JSON text. */
static int ev_match(const cJSON *e, const char *type, const char *field, const char *value)
{
    const cJSON *t = jget(e, "type"), *f;
    char num[64];
    if (type && (!cJSON_IsString(t) || strcmp(t->valuestring, type) != 0))
        return 0;
    if (!field)
        return 1;
    f = jget(e, field);
    if (cJSON_IsString(f))
        return strcmp(f->valuestring, value) == 0;
    if (cJSON_IsNumber(f)) {
        snprintf(num, sizeof num, "%lld", (long long)f->valuedouble);
        return strcmp(num, value) == 0;
    }
    if (cJSON_IsBool(f))
        return strcmp(value, cJSON_IsTrue(f) ? "true" : "false") == 0;
    if (cJSON_IsNull(f))
        return strcmp(value, "null") == 0;
    return 0;
}

static size_t ev_count(mtd_proc *d, size_t from, const char *type, const char *field, const char *value)
{
    size_t n = 0;
    for (size_t i = from; i < d->c.n_ev; i++)
        n += (size_t)ev_match(d->c.ev[i], type, field, value);
    return n;
}

/* Two conditions: type plus field == value and field2 == value2. */
static cJSON *ev_find2(mtd_proc *d, size_t from, const char *type, const char *field, const char *value,
                       const char *field2, const char *value2)
{
    for (size_t i = from; i < d->c.n_ev; i++)
        if (ev_match(d->c.ev[i], type, field, value) && ev_match(d->c.ev[i], NULL, field2, value2))
            return d->c.ev[i];
    return NULL;
}

/* Wait for an event since mark (it stays in the log; do not free). */
static cJSON *ev_wait2(mtd_proc *d, size_t from, const char *type, const char *field, const char *value,
                       const char *field2, const char *value2, int timeout_ms)
{
    int64_t end = mt_now_ms() + timeout_ms;
    for (;;) {
        cJSON *e = ev_find2(d, from, type, field, value, field2, value2);
        if (e)
            return e;
        if (mt_now_ms() > end || conn_read(&d->c, 100) < 0) {
            fprintf(stderr, "events of %s since the mark:\n", d->name);
            for (size_t i = from; i < d->c.n_ev; i++)
                fprintf(stderr, "  %s\n", jtext(d->c.ev[i]));
            T_ASSERT(0, "%s: no %s event with %s=%s%s%s%s%s", d->name, type, field ? field : "-",
                     value ? value : "-", field2 ? " and " : "", field2 ? field2 : "", field2 ? "=" : "",
                     value2 ? value2 : "");
        }
        pump_net();
    }
}

static cJSON *ev_wait(mtd_proc *d, size_t from, const char *type, const char *field, const char *value)
{
    return ev_wait2(d, from, type, field, value, NULL, NULL, WAIT_MS);
}

/* Position of event e in d's log. */
static size_t ev_index(mtd_proc *d, const cJSON *e)
{
    for (size_t i = 0; i < d->c.n_ev; i++)
        if (d->c.ev[i] == e)
            return i;
    T_ASSERT(0, "test bug: event not in the log");
    return 0;
}

/* The members doc/rpc.md lists for an event (a comma list) are there. */
static void ev_members(const cJSON *e, const char *names)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "type,time_ms,%s", names);
    for (char *n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save))
        if (!jget(e, n))
            soft("event lacks the documented member \"%s\": %s", n, jtext(e));
}

/* Let a moment pass, taking in events. */
static void ev_settle(mtd_proc *d, int ms)
{
    int64_t end = mt_now_ms() + ms;
    while (mt_now_ms() < end) {
        conn_read(&d->c, 100);
        pump_net();
    }
}

/* ------------------------------------------------------------ processes */

static void daemon_connect(mtd_proc *d)
{
    int64_t end = mt_now_ms() + START_MS;
    int status;
    for (;;) {
        pid_t w = waitpid(d->pid, &status, WNOHANG);
        if (w == d->pid) {
            d->pid = 0;
            T_ASSERT(0, "%s exited during start-up (status 0x%x)", d->name, status);
        }
        if (conn_open(&d->c, d->sock) == 0)
            break;
        T_ASSERT(mt_now_ms() < end, "%s: socket %s does not answer", d->name, d->sock);
        pump_net();
        t_sleep_ms(50);
    }
    cJSON_Delete(rpc_ok(d, "events.subscribe", NULL));
}

extern char **environ;

static void daemon_spawn(mtd_proc *d)
{
    const char *argv[24];
    static const char *envp[512];
    int n = 0, ne = 0, perturb = 0, maxfd = (int)sysconf(_SC_OPEN_MAX);
    FILE *f;
    /* Freed memory filled with a pattern: a daemon that reads what it
     * freed shows garbage every time instead of now and then. */
    for (char **e = environ; *e && ne < 510; e++) {
        perturb |= !strncmp(*e, "MALLOC_PERTURB_=", 16);
        envp[ne++] = *e;
    }
    if (!perturb)
        envp[ne++] = "MALLOC_PERTURB_=165";
    envp[ne] = NULL;
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    argv[n++] = mtd_path();
    argv[n++] = "--foreground";
    argv[n++] = "--loopback";
    argv[n++] = "--state-dir";
    argv[n++] = d->dir;
    argv[n++] = "--socket";
    argv[n++] = d->sock;
    argv[n++] = "--listen";
    argv[n++] = d->listen;
    argv[n++] = "--bootstrap";
    argv[n++] = d->bootstrap;
    argv[n++] = "--log-level";
    argv[n++] = "debug";
    if (d->config[0]) {
        argv[n++] = "--config";
        argv[n++] = d->config;
    }
    argv[n] = NULL;
    f = fopen(d->log, "a");
    if (f) {
        fprintf(f, "----- test: starting %s -----\n", argv[0]);
        fclose(f);
    }
    d->pid = fork();
    ck_assert(d->pid >= 0);
    if (d->pid == 0) {
        /* Only async-signal-safe calls: the test process has threads. */
        int lfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nfd = open("/dev/null", O_RDONLY);
        if (lfd < 0 || nfd < 0)
            _exit(126);
        dup2(nfd, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        for (int fd = 3; fd < maxfd; fd++)
            close(fd);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    daemon_connect(d);
}

/* A daemon named name at 127.0.x.host, with a config file if conf. */
static mtd_proc *daemon_new(const char *name, int host, const char *conf)
{
    ck_assert(g_nd < MAX_DAEMONS);
    mtd_proc *d = &g_d[g_nd++];
    memset(d, 0, sizeof *d);
    d->c.fd = -1;
    snprintf(d->name, sizeof d->name, "%s", name);
    t_fmt(d->dir, sizeof d->dir, "%s/%s", g_dir, name);
    t_mkdir(d->dir);
    t_fmt(d->sock, sizeof d->sock, "%s/mtd.sock", d->dir);
    t_fmt(d->log, sizeof d->log, "%s/mtd.log", d->dir);
    t_fmt(d->dl, sizeof d->dl, "%s/dl", d->dir);
    t_fmt(d->listen, sizeof d->listen, "%s.%d:%d", g_prefix, host, 20000 + g_octet * 10 + host % 10);
    if (g_net)
        t_fmt(d->bootstrap, sizeof d->bootstrap, "%s", mt_testnet_bootstrap(g_net));
    else
        t_fmt(d->bootstrap, sizeof d->bootstrap, "%s.99:9", g_prefix);
    if (conf) {
        t_fmt(d->config, sizeof d->config, "%s/mtd.conf", d->dir);
        t_write(d->config, conf, strlen(conf));
    }
    daemon_spawn(d);
    return d;
}

/* Reap pid within ms (pumping the network); 1 and *status, or 0. */
static int proc_wait(pid_t pid, int ms, int *status)
{
    int64_t end = mt_now_ms() + ms;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR)
            return 1;
        if (mt_now_ms() > end)
            return 0;
        pump_net();
        t_sleep_ms(50);
    }
}

/* Stop with sig (SIGKILL: at once) and return the wait status. */
static int daemon_signal(mtd_proc *d, int sig)
{
    int status = 0;
    ck_assert(d->pid > 0);
    ck_assert(kill(d->pid, sig) == 0);
    if (!proc_wait(d->pid, STOP_MS, &status)) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        d->pid = 0;
        conn_close(&d->c);
        T_ASSERT(0, "%s did not exit within %d ms of signal %d", d->name, STOP_MS, sig);
    }
    d->pid = 0;
    conn_close(&d->c);
    return status;
}

/* Orderly stop: shutdown RPC, then SIGTERM, then SIGKILL. Status. */
static int daemon_stop(mtd_proc *d)
{
    int status = 0;
    if (d->pid <= 0)
        return 0;
    if (d->c.fd >= 0) {
        static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":999999,\"method\":\"shutdown\"}\n";
        conn_send(&d->c, req, sizeof req - 1);
    }
    if (!proc_wait(d->pid, STOP_MS, &status)) {
        kill(d->pid, SIGTERM);
        if (!proc_wait(d->pid, 15000, &status)) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &status, 0);
        }
    }
    d->pid = 0;
    conn_close(&d->c);
    return status;
}

/* Last resort for no-fork runs: nothing may outlive the suite. */
static void kill_leftovers(void)
{
    for (int i = 0; i < g_nd; i++) {
        if (g_d[i].pid > 0) {
            kill(g_d[i].pid, SIGKILL);
            waitpid(g_d[i].pid, NULL, 0);
            g_d[i].pid = 0;
        }
    }
}

/* ------------------------------------------------------------ fixtures */

/* A test's world: its dir and, with nodes > 0, a testnet at prefix.1. */
static void env_up(const char *name, int octet, int nodes)
{
    mt_error err;
    char first[32];
    g_octet = octet;
    g_soft[0] = '\0';
    g_t0 = mt_now_ms();
    t_fmt(g_prefix, sizeof g_prefix, "127.0.%d", octet);
    t_fmt(g_dir, sizeof g_dir, "%s/%s", g_base, name);
    t_mkdir(g_dir);
    g_nd = 0;
    g_own = NULL;
    g_net = NULL;
    if (nodes > 0) {
        t_fmt(first, sizeof first, "%s.1", g_prefix);
        ck_assert_msg(mt_testnet_start(first, nodes, 60000, &g_net, &err) == 0, "testnet: %s", err.message);
    }
}

/* Checked teardown (runs after a passing test): stop everything. */
static void env_down(void)
{
    for (int i = 0; i < g_nd; i++) {
        daemon_stop(&g_d[i]);
    }
    g_nd = 0;
    if (g_own)
        mt_session_free(g_own);
    g_own = NULL;
    if (g_net)
        mt_testnet_free(g_net);
    g_net = NULL;
}

/* The test's own session at prefix.host: a peer and DHT client that can
 * seed anything and put items under keys the test makes. */
static void own_up(int host)
{
    mt_session_config sc;
    mt_error err;
    char listen[64], out[32];
    t_fmt(listen, sizeof listen, "%s.%d:0", g_prefix, host);
    t_fmt(out, sizeof out, "%s.%d", g_prefix, host);
    mt_session_config_init_loopback(&sc, listen);
    sc.outgoing_interfaces = out;
    sc.dht_nodes = mt_testnet_bootstrap(g_net);
    ck_assert_msg(mt_session_new(&sc, &g_own, &err) == 0, "own session: %s", err.message);
    ck_assert_msg(mt_dht_wait_nodes(g_own, 3, 30000, &err) == 0, "own session DHT: %s", err.message);
}

/* ------------------------------------------------------------ daemon steps */

/* Until the daemon's routing table holds min nodes. */
static void wait_dht(mtd_proc *d, int min)
{
    int64_t end = mt_now_ms() + WAIT_MS;
    for (;;) {
        cJSON *st = rpc_ok(d, "status", NULL);
        long long n = jint(st, "dht_nodes");
        cJSON_Delete(st);
        if (n >= min)
            return;
        T_ASSERT(mt_now_ms() < end, "%s: DHT has %lld nodes, not %d", d->name, n, min);
        ev_settle(d, 300);
    }
}

/* The torrent object of id from torrent.list, or NULL (caller frees). */
static cJSON *torrent_find(mtd_proc *d, const char *id)
{
    cJSON *l = rpc_ok(d, "torrent.list", NULL), *t, *found = NULL;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(l, "torrents")) {
        if (!strcmp(jstr(t, "id"), id) && !found)
            found = cJSON_Duplicate(t, 1);
    }
    cJSON_Delete(l);
    return found;
}

/* Until torrent id is complete (seeding or finished, progress 1). */
static void wait_complete(mtd_proc *d, const char *id)
{
    int64_t end = mt_now_ms() + WAIT_MS;
    for (;;) {
        cJSON *t = torrent_find(d, id);
        int done = t && jnum(t, "progress") >= 1.0 &&
                   (!strcmp(jstr(t, "state"), "seeding") || !strcmp(jstr(t, "state"), "finished"));
        if (done) {
            cJSON_Delete(t);
            return;
        }
        T_ASSERT(mt_now_ms() < end, "%s: torrent %s not complete: %s", d->name, id, jtext(t));
        cJSON_Delete(t);
        ev_settle(d, 200);
    }
}

/* Until torrent id is gone from the daemon's list. */
static void wait_absent(mtd_proc *d, const char *id)
{
    int64_t end = mt_now_ms() + 20000;
    for (;;) {
        cJSON *t = torrent_find(d, id);
        if (!t)
            return;
        T_ASSERT(mt_now_ms() < end, "%s: torrent %s was left in torrent.list: %s", d->name, id, jtext(t));
        cJSON_Delete(t);
        ev_settle(d, 200);
    }
}

/* A payload file of size random bytes in dir/name, a v1 .torrent of it
 * next to the test's files, and the torrent added to d from that path
 * (seeding from dir). ih and magnet describe it. */
typedef struct payload {
    char name[64];
    char path[512];   /* the source bytes */
    char ih[41];
    char magnet[256];
} payload;

static void make_payload(payload *p, const char *dir, const char *name, size_t size, char *torrent_path,
                         size_t cap)
{
    mt_create_params cp;
    mt_error err;
    uint8_t *t = NULL, id[20];
    size_t tlen = 0;
    int has_v1 = 0;
    snprintf(p->name, sizeof p->name, "%s", name);
    t_fmt(p->path, sizeof p->path, "%s/%s", dir, name);
    t_write_random(p->path, size);
    memset(&cp, 0, sizeof cp);
    cp.path = p->path;
    cp.version = MT_TORRENT_V1;
    ck_assert_msg(mt_torrent_create(&cp, &t, &tlen, &err) == 0, "create: %s", err.message);
    ck_assert(mt_torrent_info_hashes(t, tlen, id, &has_v1, NULL, NULL, NULL, NULL) == 0 && has_v1);
    mt_hex_encode(id, 20, p->ih);
    t_fmt(p->magnet, sizeof p->magnet, "magnet:?xt=urn:btih:%s&dn=%s", p->ih, name);
    t_fmt(torrent_path, cap, "%s/%s.torrent", g_dir, name);
    t_write(torrent_path, t, tlen);
    mt_free(t);
}

static void seed_payload(mtd_proc *pub, payload *p, const char *name, size_t size)
{
    char data[300], tpath[400];
    t_fmt(data, sizeof data, "%s/data", pub->dir);
    t_mkdir(data);
    make_payload(p, data, name, size, tpath, sizeof tpath);
    cJSON *t = rpc_ok(pub, "torrent.add", jf("{\"path\":\"%s\",\"save_path\":\"%s\"}", tpath, data));
    T_ASSERT(!strcmp(jstr(t, "id"), p->ih), "torrent.add answered id %s, not %s", jstr(t, "id"), p->ih);
    cJSON_Delete(t);
    wait_complete(pub, p->ih);
}

/* Subscription object of id from sub.list (caller frees). */
static cJSON *sub_get(mtd_proc *d, long long id)
{
    cJSON *l = rpc_ok(d, "sub.list", NULL), *s, *found = NULL;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(l, "subscriptions")) {
        if (jint(s, "id") == id && !found)
            found = cJSON_Duplicate(s, 1);
    }
    cJSON_Delete(l);
    T_ASSERT(found != NULL, "%s: no subscription %lld in sub.list", d->name, id);
    return found;
}

/* Every torrent id once in torrent.list; returns how many there are. */
static int torrents_unique(mtd_proc *d)
{
    cJSON *l = rpc_ok(d, "torrent.list", NULL), *a, *b;
    int n = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(l, "torrents")) {
        int same = 0;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(l, "torrents")) same += !strcmp(jstr(a, "id"), jstr(b, "id"));
        T_ASSERT(same == 1, "%s: torrent %s listed %d times", d->name, jstr(a, "id"), same);
        n++;
    }
    cJSON_Delete(l);
    return n;
}

/* sub.items of id: no key twice; returns the array (caller frees). */
static cJSON *items_unique(mtd_proc *d, long long id)
{
    cJSON *r = rpc_ok(d, "sub.items", jf("{\"id\":%lld}", id)), *a, *b;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(r, "items")) {
        int same = 0;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(r, "items")) same += !strcmp(jstr(a, "key"), jstr(b, "key"));
        T_ASSERT(same == 1, "%s: item key %s recorded %d times", d->name, jstr(a, "key"), same);
    }
    return r;
}

/* Does sub.items of id list torrent ih? */
static int items_have_torrent(const cJSON *items, const char *ih)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, jget(items, "items")) {
        const cJSON *t = jget(it, "torrent");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, ih))
            return 1;
    }
    return 0;
}

static void status_answers(mtd_proc *d)
{
    cJSON *st = rpc_ok(d, "status", NULL);
    T_ASSERT(jint(st, "pid") == d->pid, "%s: status pid %lld, not %d", d->name, jint(st, "pid"), (int)d->pid);
    cJSON_Delete(st);
}

/* feed.publish name items (a JSON array text) on pub. */
static cJSON *publish(mtd_proc *pub, const char *name, const char *items)
{
    cJSON *r = rpc_ok(pub, "feed.publish", jf("{\"name\":\"%s\",\"items\":%s}", name, items));
    T_ASSERT(jnum(r, "nodes") >= 1, "feed.publish stored on no DHT node: %s", jtext(r));
    T_ASSERT(!strcmp(jstr(r, "mode"), "pointer"), "mode %s", jstr(r, "mode"));
    return r;
}

static char *dl_path(mtd_proc *d, const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    t_fmt(buf[k], sizeof buf[k], "%s/%s", d->dl, name);
    return buf[k];
}

/* sub.add address on sub, saving into its dl dir; the subscription id. */
static long long subscribe(mtd_proc *sub, const char *address)
{
    t_mkdir(sub->dl);
    cJSON *s = rpc_ok(sub, "sub.add", jf("{\"address\":\"%s\",\"save_path\":\"%s\"}", address, sub->dl));
    long long id = jint(s, "id");
    cJSON_Delete(s);
    return id;
}

static const char *lld(long long v)
{
    static char buf[4][32];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%lld", v);
    return buf[k];
}

/* ============================================================ 1. demo */

START_TEST(demo_flow)
{
    payload p[3];
    env_up("demo", 60, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    mtd_proc *sub = daemon_new("sub", 21, NULL);
    wait_dht(pub, 3);
    wait_dht(sub, 3);
    seed_payload(pub, &p[0], "alpha.bin", 3 * MIB + 12345);
    seed_payload(pub, &p[1], "beta.bin", 2 * MIB + 777);

    char items[1024], address[256];
    t_fmt(items, sizeof items, "[\"%s\",\"%s\"]", p[0].magnet, p[1].magnet);
    cJSON *r = publish(pub, "demo", items);
    long long seq1 = jint(r, "seq");
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    T_ASSERT(jint(r, "items") == 2, "published %lld items", jint(r, "items"));
    cJSON_Delete(r);

    step("published; subscribing");
    size_t mark = ev_mark(sub);
    long long sid = subscribe(sub, address);
    cJSON *e = ev_wait(sub, mark, "item.added", "id", p[0].ih);
    ev_members(e, "subscription,address,seq,collection,name,id");
    T_ASSERT(jint(e, "subscription") == sid && jint(e, "seq") == seq1 && !strcmp(jstr(e, "name"), "alpha.bin"),
             "item.added %s", jtext(e));
    ev_wait(sub, mark, "item.added", "id", p[1].ih);
    e = ev_wait2(sub, mark, "feed.updated", "subscription", lld(sid), "seq", lld(seq1), WAIT_MS);
    ev_members(e, "subscription,address,seq,added,removed");
    T_ASSERT(jint(e, "added") == 2 && jint(e, "removed") == 0 && !strcmp(jstr(e, "address"), address),
             "feed.updated %s", jtext(e));
    cJSON *chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), "changed", "true", WAIT_MS);
    ev_members(chk, "subscription,address,seq,changed,error");
    T_ASSERT(jint(chk, "seq") == seq1 && cJSON_IsNull(jget(chk, "error")), "feed.checked %s", jtext(chk));
    if (ev_index(sub, chk) < ev_index(sub, ev_find2(sub, mark, "item.added", "id", p[1].ih, NULL, NULL)))
        soft("feed.checked came before the poll's item.added");
    e = ev_wait2(sub, mark, "torrent.finished", "id", p[0].ih, "subscription", lld(sid), WAIT_MS);
    ev_members(e, "id,name,save_path,subscription");
    T_ASSERT(!strcmp(jstr(e, "save_path"), sub->dl), "torrent.finished %s", jtext(e));
    ev_wait2(sub, mark, "torrent.finished", "id", p[1].ih, "subscription", lld(sid), WAIT_MS);
    step("both finished");
    t_same_file(p[0].path, dl_path(sub, "alpha.bin"));
    t_same_file(p[1].path, dl_path(sub, "beta.bin"));

    /* An appended item arrives on sync, and only it. */
    step("publishing a third item");
    seed_payload(pub, &p[2], "gamma.bin", 1 * MIB + 4242);
    t_fmt(items, sizeof items, "[\"%s\"]", p[2].magnet);
    r = publish(pub, "demo", items);
    long long seq2 = jint(r, "seq");
    char ih2[41];
    t_fmt(ih2, sizeof ih2, "%s", jstr(r, "ih"));
    T_ASSERT(seq2 > seq1, "seq %lld after %lld", seq2, seq1);
    T_ASSERT(jint(r, "items") == 3, "published %lld items", jint(r, "items"));
    cJSON_Delete(r);

    mark = ev_mark(sub);
    r = rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid));
    T_ASSERT(jint(r, "started") == 1, "sub.sync: %s", jtext(r));
    cJSON_Delete(r);
    ev_wait(sub, mark, "item.added", "id", p[2].ih);
    chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), "seq", lld(seq2), WAIT_MS);
    T_ASSERT(cJSON_IsTrue(jget(chk, "changed")), "feed.checked %s", jtext(chk));
    ev_wait(sub, mark, "torrent.finished", "id", p[2].ih);
    step("third finished");
    t_same_file(p[2].path, dl_path(sub, "gamma.bin"));
    T_ASSERT(ev_count(sub, mark, "item.added", NULL, NULL) == 1, "old items were added again");
    T_ASSERT(ev_count(sub, mark, "torrent.added", NULL, NULL) == 1, "more than the new torrent added");

    cJSON *its = items_unique(sub, sid);
    T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(its, "items")) == 3, "sub.items: %s", jtext(its));
    for (int i = 0; i < 3; i++)
        T_ASSERT(items_have_torrent(its, p[i].ih), "sub.items lacks %s: %s", p[i].ih, jtext(its));
    cJSON_Delete(its);
    cJSON *s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == seq2 && jint(s, "items") == 3, "subscription %s", jtext(s));
    cJSON_Delete(s);
    T_ASSERT(torrents_unique(sub) >= 3, "torrents missing");

    cJSON *fl = rpc_ok(pub, "feed.list", NULL), *f;
    int seen = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(fl, "feeds")) {
        if (strcmp(jstr(f, "name"), "demo"))
            continue;
        seen++;
        T_ASSERT(jint(f, "seq") == seq2 && jint(f, "items") == 3, "feed.list: %s", jtext(f));
        T_ASSERT(!strcmp(jstr(f, "ih"), ih2) && !strcmp(jstr(f, "address"), address), "feed.list: %s",
                 jtext(f));
    }
    T_ASSERT(seen == 1, "feed.list lists demo %d times: %s", seen, jtext(fl));
    cJSON_Delete(fl);

    /* The subscriber can look the feed up too, without disturbing the
     * subscription's copy of the index. */
    r = rpc_ok(sub, "resolve", jf("{\"address\":\"%s\",\"timeout\":30}", address));
    T_ASSERT(jint(r, "seq") == seq2 && !strcmp(jstr(r, "ih"), ih2), "resolve: %s", jtext(r));
    T_ASSERT(cJSON_GetArraySize(jget(cJSON_GetArrayItem(jget(jget(r, "manifest"), "collections"), 0), "items")) == 3,
             "resolve: %s", jtext(r));
    cJSON_Delete(r);
    cJSON *idx = torrent_find(sub, ih2);
    T_ASSERT(idx != NULL, "resolve removed the subscription's index torrent %s", ih2);
    cJSON_Delete(idx);
    soft_done();
}
END_TEST

/* ============================================================ 2. restart */

START_TEST(restart_keeps_state)
{
    payload p;
    env_up("restart", 61, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    mtd_proc *sub = daemon_new("sub", 21, NULL);
    wait_dht(pub, 3);
    wait_dht(sub, 3);
    seed_payload(pub, &p, "one.bin", 2 * MIB + 99);
    char items[512], address[256];
    t_fmt(items, sizeof items, "[\"%s\"]", p.magnet);
    cJSON *r = publish(pub, "restart", items);
    long long seq = jint(r, "seq");
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    cJSON_Delete(r);

    size_t mark = ev_mark(sub);
    long long sid = subscribe(sub, address);
    ev_wait(sub, mark, "torrent.finished", "id", p.ih);
    ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), "changed", "true", WAIT_MS);
    t_same_file(p.path, dl_path(sub, "one.bin"));
    cJSON *before = rpc_ok(sub, "torrent.list", NULL);
    int n_before = torrents_unique(sub);
    /* Without the publisher nothing could repair the file below. */
    int status = daemon_stop(pub);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "publisher shutdown: status 0x%x", status);

    /* SIGTERM: a clean exit that saves resume data. */
    status = daemon_signal(sub, SIGTERM);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: status 0x%x, not a clean exit", status);
    T_ASSERT(file_contains(sub->log, "info: stopped"), "no orderly stop in the log");

    /* Spoil a byte in the middle of the file, keeping size and mtime: a
     * daemon that trusts its resume data still says complete; one that
     * re-hashes the file finds the piece bad, and with the publisher gone
     * cannot fetch it again. */
    {
        char *f = dl_path(sub, "one.bin");
        struct stat st;
        ck_assert(stat(f, &st) == 0);
        int fd = open(f, O_RDWR);
        uint8_t b;
        ck_assert(fd >= 0 && pread(fd, &b, 1, MIB) == 1);
        b ^= 0xff;
        ck_assert(pwrite(fd, &b, 1, MIB) == 1);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        ck_assert(futimens(fd, ts) == 0);
        close(fd);
    }

    daemon_spawn(sub);
    cJSON *s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == seq && jint(s, "items") == 1 && !strcmp(jstr(s, "address"), address),
             "after restart: %s", jtext(s));
    cJSON_Delete(s);
    /* The same torrents, restored from resume data. */
    cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(before, "torrents")) {
        cJSON *now = torrent_find(sub, jstr(t, "id"));
        T_ASSERT(now != NULL, "torrent %s (%s) lost in the restart", jstr(t, "id"), jstr(t, "name"));
        cJSON_Delete(now);
    }
    T_ASSERT(torrents_unique(sub) == n_before, "torrent count changed across the restart");
    wait_complete(sub, p.ih);
    T_ASSERT(!file_contains(sub->log, "resume data refused"), "resume data refused after a clean stop");

    /* Polling again changes nothing. */
    mark = ev_mark(sub);
    r = rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid));
    cJSON_Delete(r);
    cJSON *chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), NULL, NULL, WAIT_MS);
    T_ASSERT(cJSON_IsFalse(jget(chk, "changed")) && cJSON_IsNull(jget(chk, "error")) && jint(chk, "seq") == seq,
             "sync after restart: %s", jtext(chk));
    /* No pause before counting: mtd emits a poll's item.added and
     * torrent.added while it applies the poll, before its feed.checked,
     * and events arrive in order on the one connection. */
    T_ASSERT(ev_count(sub, mark, "item.added", NULL, NULL) == 0, "items added again after restart");
    T_ASSERT(ev_count(sub, mark, "torrent.added", NULL, NULL) == 0, "torrents added again after restart");
    T_ASSERT(torrents_unique(sub) == n_before, "torrent count changed after sync");
    s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == seq && jint(s, "items") == 1, "after sync: %s", jtext(s));
    cJSON_Delete(s);
    cJSON_Delete(before);
    soft_done();
}
END_TEST

/* ============================================================ 3. kill -9 */

START_TEST(kill_subscriber_mid_update)
{
    payload p[4];
    env_up("killsub", 62, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    mtd_proc *sub = daemon_new("sub", 21, NULL);
    wait_dht(pub, 3);
    wait_dht(sub, 3);
    seed_payload(pub, &p[0], "first.bin", 1 * MIB + 1);
    char items[1024], address[256];
    t_fmt(items, sizeof items, "[\"%s\"]", p[0].magnet);
    cJSON *r = publish(pub, "crash", items);
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    cJSON_Delete(r);
    size_t mark = ev_mark(sub);
    long long sid = subscribe(sub, address);
    ev_wait(sub, mark, "torrent.finished", "id", p[0].ih);
    ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), "changed", "true", WAIT_MS);

    /* An update of two big items; the subscriber dies at its first item
     * (usually before the update is even recorded as accepted). */
    step("update 2");
    seed_payload(pub, &p[1], "second.bin", 6 * MIB + 3);
    seed_payload(pub, &p[2], "third.bin", 6 * MIB + 5);
    t_fmt(items, sizeof items, "[\"%s\",\"%s\"]", p[1].magnet, p[2].magnet);
    r = publish(pub, "crash", items);
    long long seq2 = jint(r, "seq");
    cJSON_Delete(r);
    mark = ev_mark(sub);
    cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid)));
    ev_wait(sub, mark, "item.added", NULL, NULL);
    int status = daemon_signal(sub, SIGKILL);
    T_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);

    daemon_spawn(sub);
    mark = ev_mark(sub);
    cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid)));
    cJSON *chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), NULL, NULL, WAIT_MS);
    T_ASSERT(cJSON_IsNull(jget(chk, "error")) && jint(chk, "seq") == seq2, "sync after kill: %s", jtext(chk));
    for (int i = 0; i < 3; i++)
        wait_complete(sub, p[i].ih);
    for (int i = 0; i < 3; i++)
        t_same_file(p[i].path, dl_path(sub, p[i].name));

    /* Another update; this time the subscriber dies once it has accepted
     * it, while the new torrent is still downloading. */
    step("update 3");
    seed_payload(pub, &p[3], "fourth.bin", 8 * MIB + 7);
    t_fmt(items, sizeof items, "[\"%s\"]", p[3].magnet);
    r = publish(pub, "crash", items);
    long long seq3 = jint(r, "seq");
    cJSON_Delete(r);
    mark = ev_mark(sub);
    cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid)));
    ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), "seq", lld(seq3), WAIT_MS);
    status = daemon_signal(sub, SIGKILL);
    T_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);
    daemon_spawn(sub);
    wait_complete(sub, p[3].ih);
    t_same_file(p[3].path, dl_path(sub, p[3].name));

    /* Exactly once: every torrent once, every item once, nothing new. */
    mark = ev_mark(sub);
    cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid)));
    chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(sid), NULL, NULL, WAIT_MS);
    T_ASSERT(cJSON_IsFalse(jget(chk, "changed")) && cJSON_IsNull(jget(chk, "error")) && jint(chk, "seq") == seq3,
             "sync after the second kill: %s", jtext(chk));
    T_ASSERT(ev_count(sub, mark, "torrent.added", NULL, NULL) == 0, "torrents added twice");
    T_ASSERT(ev_count(sub, mark, "item.added", NULL, NULL) == 0, "items added twice");
    torrents_unique(sub);
    cJSON *its = items_unique(sub, sid);
    T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(its, "items")) == 4, "sub.items: %s", jtext(its));
    for (int i = 0; i < 4; i++)
        T_ASSERT(items_have_torrent(its, p[i].ih), "sub.items lacks %s: %s", p[i].ih, jtext(its));
    cJSON_Delete(its);
    cJSON *s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == seq3 && jint(s, "items") == 4, "subscription %s", jtext(s));
    cJSON_Delete(s);
    soft_done();
}
END_TEST

START_TEST(kill_publisher_after_publish)
{
    payload p[2];
    env_up("killpub", 63, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    mtd_proc *sub = daemon_new("sub", 21, NULL);
    wait_dht(pub, 3);
    wait_dht(sub, 3);
    seed_payload(pub, &p[0], "before.bin", 2 * MIB + 11);
    char items[512], address[256], ih1[41];
    t_fmt(items, sizeof items, "[\"%s\"]", p[0].magnet);
    cJSON *r = publish(pub, "survivor", items);
    long long seq1 = jint(r, "seq");
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    t_fmt(ih1, sizeof ih1, "%s", jstr(r, "ih"));
    cJSON_Delete(r);
    int status = daemon_signal(pub, SIGKILL);
    T_ASSERT(WIFSIGNALED(status), "status 0x%x", status);

    daemon_spawn(pub);
    cJSON *fl = rpc_ok(pub, "feed.list", NULL), *f;
    int seen = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(fl, "feeds")) {
        if (strcmp(jstr(f, "name"), "survivor"))
            continue;
        seen++;
        T_ASSERT(jint(f, "seq") == seq1 && jint(f, "items") == 1 && !strcmp(jstr(f, "ih"), ih1),
                 "after kill -9: %s", jtext(f));
    }
    T_ASSERT(seen == 1, "feed lost in kill -9: %s", jtext(fl));
    cJSON_Delete(fl);
    wait_dht(pub, 3);

    /* The restarted publisher serves what it published before. */
    size_t mark = ev_mark(sub);
    long long sid = subscribe(sub, address);
    ev_wait(sub, mark, "torrent.finished", "id", p[0].ih);
    t_same_file(p[0].path, dl_path(sub, p[0].name));

    seed_payload(pub, &p[1], "after.bin", 1 * MIB + 13);
    t_fmt(items, sizeof items, "[\"%s\"]", p[1].magnet);
    r = publish(pub, "survivor", items);
    long long seq2 = jint(r, "seq");
    T_ASSERT(seq2 > seq1, "seq %lld after %lld: reused", seq2, seq1);
    T_ASSERT(jint(r, "items") == 2, "published %s", jtext(r));
    cJSON_Delete(r);
    /* From here on the subscriber may take seq 2 at any moment (it was
     * pushed to it just now), so the mark goes first. */
    mark = ev_mark(sub);
    /* Index 1 is now retired: dropped 30 s after the publish. A kill at
     * once must not leave it seeded for good. */
    status = daemon_signal(pub, SIGKILL);
    T_ASSERT(WIFSIGNALED(status), "status 0x%x", status);
    daemon_spawn(pub);
    cJSON *old = torrent_find(pub, ih1);
    T_ASSERT(old != NULL, "index 1 went before its retirement was due");
    cJSON_Delete(old);
    wait_dht(pub, 3);
    cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", sid)));
    ev_wait(sub, mark, "torrent.finished", "id", p[1].ih);
    t_same_file(p[1].path, dl_path(sub, p[1].name));
    cJSON *s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == seq2 && jint(s, "items") == 2, "subscription %s", jtext(s));
    cJSON_Delete(s);
    /* Due 30 s after the publish; the wait ends when it is gone. */
    for (int64_t end = mt_now_ms() + 30000 + WAIT_MS;;) {
        cJSON *t = torrent_find(pub, ih1);
        int gone = t == NULL;
        cJSON_Delete(t);
        if (gone)
            break;
        T_ASSERT(mt_now_ms() < end, "the retired index 1 is still seeded %d s after a restart",
                 (30000 + WAIT_MS) / 1000);
        ev_settle(pub, 500);
    }
    soft_done();
}
END_TEST

/* ============================================================ 4. adversarial */

/* Put a signed mutable item from the own session and wait until stored. */
static void own_put(const mt_identity *id, const char *salt, int64_t seq, const uint8_t *v, size_t v_len)
{
    mt_error err;
    mt_event ev;
    uint8_t target[20];
    int rc = mt_dht_put_mutable(g_own, mt_identity_secret_key(id), (const uint8_t *)salt, strlen(salt), seq, v,
                                v_len, target, &err);
    ck_assert_msg(rc == 0, "put: %s", err.message);
    memset(&ev, 0, sizeof ev);
    ck_assert_msg(mt_session_wait_event(g_own, MT_EVENT_DHT_PUT, target, 30000, &ev, &err) == 0, "put: %s",
                  err.message);
    ck_assert_msg(ev.error == 0 && ev.num_success >= 1, "put seq %lld stored on %d nodes: %s", (long long)seq,
                  ev.num_success, ev.message);
    mt_event_clear(&ev);
}

/* A manifest of text items signed by id at seq (free). */
static char *sign_items(const mt_identity *id, int64_t seq, int n, const char *prefix, size_t *len)
{
    mt_manifest_draft *d = NULL;
    mt_error err;
    char *json = NULL, item[128];
    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_collection(d, "default", &err) == 0);
    for (int i = 0; i < n; i++) {
        t_fmt(item, sizeof item, "%s item %d of a test feed", prefix, i);
        ck_assert_msg(mt_manifest_draft_add_item(d, item, &err) == 0, "%s", err.message);
    }
    ck_assert_msg(mt_manifest_draft_sign(d, id, seq, mt_wall_ms(), NULL, &json, len, &err) == 0, "%s",
                  err.message);
    mt_manifest_draft_free(d);
    return json;
}

/* Seed json as a feed-index torrent from the own session; ih out. */
static void own_seed_index(const char *json, size_t len, uint8_t ih[20])
{
    char dir[300], save[1024];
    uint8_t *t = NULL, id[20];
    size_t tlen = 0;
    mt_error err;
    mt_add_params ap;
    t_fmt(dir, sizeof dir, "%s/own-index", g_dir);
    ck_assert_msg(mt_feedindex_build(json, len, dir, NULL, 0, ih, save, sizeof save, &t, &tlen, &err) == 0, "%s",
                  err.message);
    memset(&ap, 0, sizeof ap);
    ap.torrent = t;
    ap.torrent_len = tlen;
    ap.save_path = save;
    ap.flags = MT_ADD_SEED_MODE;
    int rc = mt_torrent_add(g_own, &ap, id, &err);
    ck_assert_msg(rc == 0 || rc == MT_EEXIST, "seed index: %s", err.message);
    mt_free(t);
}

/* Seed json as an index and put a pointer to it at seq. ih_hex out. */
static void own_publish_pointer(const mt_identity *key, const char *salt, int64_t seq, const char *json, size_t len,
                                char ih_hex[41])
{
    uint8_t ih[20], *v = NULL;
    size_t vlen = 0;
    own_seed_index(json, len, ih);
    mt_hex_encode(ih, 20, ih_hex);
    ck_assert(mt_pointer_encode(ih, mt_wall_ms() / 1000, NULL, 0, &v, &vlen, NULL) == 0);
    own_put(key, salt, seq, v, vlen);
    mt_free(v);
}

/* A signed inline item of json at seq: v (mt_free) and sig. */
static uint8_t *inline_item(const mt_identity *key, const char *salt, int64_t seq, const char *json, size_t len,
                            size_t *vlen, uint8_t sig[64])
{
    uint8_t *v = NULL;
    ck_assert(mt_pointer_encode_inline(json, len, &v, vlen, NULL) == 0);
    ck_assert(mt_dht_sign_mutable(mt_identity_secret_key(key), (const uint8_t *)salt, strlen(salt), seq, v, *vlen,
                                  sig, NULL) == 0);
    return v;
}

static void feed_address(const mt_identity *key, const char *salt, char *out, size_t cap)
{
    mt_feedaddr a;
    memset(&a, 0, sizeof a);
    memcpy(a.pk, mt_identity_public_key(key), 32);
    a.salt_len = strlen(salt);
    memcpy(a.salt, salt, a.salt_len);
    ck_assert(mt_feedaddr_format_magnet(&a, out, cap, NULL) == 0);
}

/* A followed feed with one accepted manifest (seq 1, one text item, put
 * inline): the state every attack must leave as it is. */
typedef struct victim {
    char salt[16];
    char address[256];
    long long sid;
    uint8_t *v1;       /* the seq-1 item, for the replay */
    size_t v1_len;
    uint8_t sig1[64];
} victim;

static void victim_setup(mtd_proc *sub, const mt_identity *key, victim *vi, const char *salt)
{
    size_t len = 0;
    snprintf(vi->salt, sizeof vi->salt, "%s", salt);
    char *json = sign_items(key, 1, 1, salt, &len);
    vi->v1 = inline_item(key, salt, 1, json, len, &vi->v1_len, vi->sig1);
    own_put(key, salt, 1, vi->v1, vi->v1_len);
    free(json);
    feed_address(key, salt, vi->address, sizeof vi->address);
    vi->sid = subscribe(sub, vi->address);
}

static void victim_ready(mtd_proc *sub, victim *vi, size_t mark)
{
    cJSON *chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(vi->sid), "changed", "true", WAIT_MS);
    T_ASSERT(jint(chk, "seq") == 1, "baseline of %s: %s", vi->salt, jtext(chk));
}

/* The subscription still at seq, with items items, and the daemon fine. */
static void victim_unchanged(mtd_proc *sub, const victim *vi, long long seq, long long items)
{
    cJSON *s = sub_get(sub, vi->sid);
    T_ASSERT(jint(s, "seq") == seq && jint(s, "items") == items, "feed %s changed by a rejected item: %s", vi->salt,
             jtext(s));
    cJSON_Delete(s);
    status_answers(sub);
}

/* After a sync: the poll of vi failed with a reason containing want
 * (NULL: any), reported by feed.checked and feed.rejected. */
static void victim_rejected(mtd_proc *sub, const victim *vi, size_t mark, const char *want)
{
    cJSON *chk = ev_wait2(sub, mark, "feed.checked", "subscription", lld(vi->sid), NULL, NULL, WAIT_MS);
    const cJSON *err = jget(chk, "error");
    step(jtext(chk));
    T_ASSERT(cJSON_IsString(err) && err->valuestring[0], "feed %s: bad item not reported: %s", vi->salt,
             jtext(chk));
    T_ASSERT(cJSON_IsFalse(jget(chk, "changed")), "feed %s: changed: %s", vi->salt, jtext(chk));
    T_ASSERT(!want || strstr(err->valuestring, want), "feed %s: reason lacks \"%s\": %s", vi->salt, want,
             jtext(chk));
    cJSON *rej = ev_find2(sub, mark, "feed.rejected", "subscription", lld(vi->sid), NULL, NULL);
    T_ASSERT(rej != NULL && strlen(jstr(rej, "reason")) > 0, "feed %s: no feed.rejected event", vi->salt);
    char line[64];
    t_fmt(line, sizeof line, "feed %lld: rejected: ", vi->sid);
    T_ASSERT(file_contains(sub->log, line), "feed %s: no \"%s\" in the daemon log", vi->salt, line);
    T_ASSERT(ev_count(sub, mark, "item.added", "subscription", lld(vi->sid)) == 0, "feed %s: items added", vi->salt);
    T_ASSERT(ev_count(sub, mark, "feed.updated", "subscription", lld(vi->sid)) == 0, "feed %s: updated", vi->salt);
    /* One reason, told the same way everywhere. */
    cJSON *s = sub_get(sub, vi->sid);
    const cJSON *last = jget(s, "last_error");
    if (!cJSON_IsString(last) || strcmp(last->valuestring, err->valuestring) != 0)
        soft("feed %s: feed.checked error %s differs from sub.list last_error %s", vi->salt, jtext(err),
             jtext(last));
    if (strcmp(jstr(rej, "reason"), err->valuestring) != 0)
        soft("feed %s: feed.checked error %s differs from feed.rejected %s", vi->salt, jtext(err), jtext(rej));
    if (!cJSON_IsNumber(jget(rej, "seq")) || !cJSON_IsString(jget(rej, "address")))
        soft("feed %s: feed.rejected lacks the documented seq or address: %s", vi->salt, jtext(rej));
    cJSON_Delete(s);
}

/* Sign a hand-built manifest document (without "signature") as the
 * reference client does: Ed25519 over its canonical JSON. Returns the
 * canonical signed text (free). */
static char *sign_raw(const mt_identity *key, cJSON *doc, size_t *len)
{
    char *canon = NULL, hex[129];
    size_t clen = 0;
    uint8_t sig[64];
    ck_assert(mt_json_canonical(doc, &canon, &clen, NULL) == 0);
    crypto_sign_detached(sig, NULL, (const unsigned char *)canon, clen, mt_identity_secret_key(key));
    free(canon);
    mt_hex_encode(sig, 64, hex);
    cJSON_AddStringToObject(doc, "signature", hex);
    ck_assert(mt_json_canonical(doc, &canon, len, NULL) == 0);
    return canon;
}

/* A manifest with one item given as JSON text, signed by key at seq. */
static char *raw_manifest(const mt_identity *key, int64_t seq, const char *item_json, size_t *len)
{
    char pk[65];
    mt_hex_encode(mt_identity_public_key(key), 32, pk);
    cJSON *doc = jf("{\"publicKey\":\"%s\",\"sequence\":%lld,\"timestamp\":%lld,"
                    "\"collections\":[{\"title\":\"default\",\"items\":[%s]}]}",
                    pk, (long long)seq, (long long)mt_wall_ms(), item_json);
    char *json = sign_raw(key, doc, len);
    cJSON_Delete(doc);
    return json;
}

/* What the library itself says of a manifest of key at seq. */
static int load_rc(const mt_identity *key, int64_t seq, const char *json, size_t len, mt_error *err)
{
    mt_manifest_expect e;
    mt_manifest *m = NULL;
    mt_manifest_expect_init(&e);
    e.public_key = mt_identity_public_key(key);
    e.dht_seq = seq;
    int rc = mt_manifest_load(json, len, &e, &m, err);
    mt_manifest_free(m);
    return rc;
}

static void b64(const uint8_t *v, size_t len, char *out, size_t cap)
{
    ck_assert(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) <= cap);
    sodium_bin2base64(out, cap, v, len, sodium_base64_VARIANT_ORIGINAL);
}

static cJSON *push_params(const mt_identity *key, const char *salt, int64_t seq, const uint8_t *v, size_t vlen,
                          const uint8_t sig[64])
{
    char k[65], s[129], sg[129], vb[1400];
    mt_hex_encode(mt_identity_public_key(key), 32, k);
    mt_hex_encode((const uint8_t *)salt, strlen(salt), s);
    mt_hex_encode(sig, 64, sg);
    b64(v, vlen, vb, sizeof vb);
    return jf("{\"k\":\"%s\",\"salt\":\"%s\",\"seq\":%lld,\"v\":\"%s\",\"sig\":\"%s\"}", k, s, (long long)seq, vb,
              sg);
}

START_TEST(adversarial_items_rejected)
{
    enum { PUSHED, WRONGKEY, SEQ, BIG, BADMAGNET, BADBLOB, PUSHBAD, NV };
    static const char *const salts[NV] = {"pushed", "wrongkey", "seqmix", "big", "badmagnet", "badblob", "pushbad"};
    victim vi[NV];
    mt_identity *key = NULL, *other = NULL;
    mt_error err;
    char ih[NV][41];

    env_up("adversarial", 64, NET_NODES);
    /* A small cap for the oversized manifest. A lookup may run for an
     * hour: every rejection below must come from validation, not from a
     * lookup timing out. */
    mtd_proc *sub = daemon_new("sub", 21, "max_manifest = 2048\nresolve_timeout = 3600\n");
    own_up(30);
    wait_dht(sub, 3);
    ck_assert(mt_identity_generate(&key, &err) == 0 && mt_identity_generate(&other, &err) == 0);

    size_t mark = ev_mark(sub);
    for (int i = 0; i < NV; i++)
        victim_setup(sub, key, &vi[i], salts[i]);
    for (int i = 0; i < NV; i++)
        victim_ready(sub, &vi[i], mark);

    /* (i) A forged item pushed: the signature is not the feed key's. */
    {
        size_t len = 0, vlen = 0;
        uint8_t sig[64];
        char *json = sign_items(key, 2, 2, "forged", &len);
        uint8_t *v = inline_item(other, "pushed", 2, json, len, &vlen, sig);
        cJSON *r = rpc_ok(sub, "push", push_params(key, "pushed", 2, v, vlen, sig));
        T_ASSERT(cJSON_IsFalse(jget(r, "accepted")), "forged item accepted: %s", jtext(r));
        T_ASSERT(strstr(jstr(r, "reason"), "sig") != NULL, "reason: %s", jtext(r));
        cJSON_Delete(r);
        /* The same bytes with a flipped bit in the feed key's signature. */
        mt_free(v);
        v = inline_item(key, "pushed", 2, json, len, &vlen, sig);
        sig[10] ^= 1;
        r = rpc_ok(sub, "push", push_params(key, "pushed", 2, v, vlen, sig));
        T_ASSERT(cJSON_IsFalse(jget(r, "accepted")), "bit-flipped signature accepted: %s", jtext(r));
        cJSON_Delete(r);
        T_ASSERT(file_contains(sub->log, "pushed item refused"), "forged push not in the daemon log");
        victim_unchanged(sub, &vi[PUSHED], 1, 1);

        /* (ii) The real seq-2 item is taken; then the seq-1 item replayed
         * is refused as stale. */
        sig[10] ^= 1;
        size_t m2 = ev_mark(sub);
        r = rpc_ok(sub, "push", push_params(key, "pushed", 2, v, vlen, sig));
        T_ASSERT(cJSON_IsTrue(jget(r, "accepted")), "valid pushed item refused: %s", jtext(r));
        cJSON_Delete(r);
        ev_wait2(sub, m2, "feed.updated", "subscription", lld(vi[PUSHED].sid), "seq", "2", WAIT_MS);
        victim_unchanged(sub, &vi[PUSHED], 2, 3);
        r = rpc_ok(sub, "push", push_params(key, "pushed", 1, vi[PUSHED].v1, vi[PUSHED].v1_len, vi[PUSHED].sig1));
        T_ASSERT(cJSON_IsFalse(jget(r, "accepted")), "replayed seq 1 accepted after seq 2: %s", jtext(r));
        T_ASSERT(strstr(jstr(r, "reason"), "not above") || strstr(jstr(r, "reason"), "stale"), "replay reason: %s",
                 jtext(r));
        cJSON_Delete(r);
        victim_unchanged(sub, &vi[PUSHED], 2, 3);
        mt_free(v);
        free(json);
    }

    /* (iii)-(vi): bad manifests behind validly signed pointers. */
    {
        size_t len = 0;
        char *json;
        /* (iii) a valid manifest, but of another key. */
        json = sign_items(other, 2, 1, "wrong key", &len);
        own_publish_pointer(key, "wrongkey", 2, json, len, ih[WRONGKEY]);
        free(json);
        /* (iv) the manifest says seq 3, the DHT item 2. */
        json = sign_items(key, 3, 1, "seq mismatch", &len);
        ck_assert(load_rc(key, 3, json, len, NULL) == 0);
        own_publish_pointer(key, "seqmix", 2, json, len, ih[SEQ]);
        free(json);
        /* (v) over the subscriber's 2048-byte cap. */
        json = sign_items(key, 2, 60, "a long item text to make the manifest big", &len);
        T_ASSERT(len > 4096, "test bug: big manifest only %zu bytes", len);
        own_publish_pointer(key, "big", 2, json, len, ih[BIG]);
        free(json);
        /* (vi) malformed items, signed over their canonical form. The
         * same document with a good item loads, so only the item is bad. */
        const char *good_magnet = "\"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x\"";
        const char *bad_magnet = "\"magnet:?xt=urn:btih:0123456789abcdef&dn=short\"";
        char good_file[512], bad_file[512], hex64[65], hex24[25];
        memset(hex64, 'a', 64);
        hex64[64] = 0;
        memset(hex24, 'b', 24);
        hex24[24] = 0;
        t_fmt(good_file, sizeof good_file,
              "{\"name\":\"f.bin\",\"size\":100,\"chunks\":[{\"blobId\":\"%s\",\"key\":\"%s\",\"nonce\":\"%s\","
              "\"offset\":0,\"length\":116}]}",
              hex64, hex64, hex24);
        t_fmt(bad_file, sizeof bad_file,
              "{\"name\":\"f.bin\",\"size\":100,\"chunks\":[{\"blobId\":\"%.63sg\",\"key\":\"%s\",\"nonce\":\"%s\","
              "\"offset\":0,\"length\":116}]}",
              hex64, hex64, hex24);
        json = raw_manifest(key, 2, good_magnet, &len);
        ck_assert_msg(load_rc(key, 2, json, len, &err) == 0, "test bug: %s", err.message);
        free(json);
        json = raw_manifest(key, 2, good_file, &len);
        ck_assert_msg(load_rc(key, 2, json, len, &err) == 0, "test bug: %s", err.message);
        free(json);
        json = raw_manifest(key, 2, bad_magnet, &len);
        ck_assert(load_rc(key, 2, json, len, &err) == MT_EINVAL);
        own_publish_pointer(key, "badmagnet", 2, json, len, ih[BADMAGNET]);
        free(json);
        json = raw_manifest(key, 2, bad_file, &len);
        ck_assert(load_rc(key, 2, json, len, &err) == MT_EINVAL);
        own_publish_pointer(key, "badblob", 2, json, len, ih[BADBLOB]);
        free(json);
    }
    mark = ev_mark(sub);
    for (int i = WRONGKEY; i < PUSHBAD; i++)
        cJSON_Delete(rpc_ok(sub, "sub.sync", jf("{\"id\":%lld}", vi[i].sid)));
    /* (vii) A validly signed pointer handed over by push (not put in the
     * DHT) to a manifest of another key: checked like a DHT answer. */
    {
        size_t len = 0, vlen = 0;
        uint8_t ihb[20], *v = NULL, sig[64];
        char *json = sign_items(other, 2, 1, "pushed wrong key", &len);
        own_seed_index(json, len, ihb);
        mt_hex_encode(ihb, 20, ih[PUSHBAD]);
        ck_assert(mt_pointer_encode(ihb, mt_wall_ms() / 1000, NULL, 0, &v, &vlen, NULL) == 0);
        ck_assert(mt_dht_sign_mutable(mt_identity_secret_key(key), (const uint8_t *)"pushbad", 7, 2, v, vlen, sig,
                                      NULL) == 0);
        cJSON *r = rpc_ok(sub, "push", push_params(key, "pushbad", 2, v, vlen, sig));
        T_ASSERT(cJSON_IsTrue(jget(r, "accepted")), "a validly signed pointer refused at push: %s", jtext(r));
        cJSON_Delete(r);
        mt_free(v);
        free(json);
    }
    victim_rejected(sub, &vi[WRONGKEY], mark, "publicKey");
    victim_rejected(sub, &vi[SEQ], mark, "sequence");
    victim_rejected(sub, &vi[BIG], mark, "2048");
    victim_rejected(sub, &vi[BADMAGNET], mark, "items[0]");
    victim_rejected(sub, &vi[BADBLOB], mark, "blobId");
    for (int i = WRONGKEY; i < PUSHBAD; i++) {
        victim_unchanged(sub, &vi[i], 1, 1);
        wait_absent(sub, ih[i]);
    }
    victim_unchanged(sub, &vi[PUSHED], 2, 3);
    /* Last, as its failure mode is a long wait: the pushed bad manifest
     * is rejected once fetched, not when the lookup times out. */
    victim_rejected(sub, &vi[PUSHBAD], mark, "publicKey");
    victim_unchanged(sub, &vi[PUSHBAD], 1, 1);
    wait_absent(sub, ih[PUSHBAD]);
    for (int i = 0; i < NV; i++)
        mt_free(vi[i].v1);
    mt_identity_free(key);
    mt_identity_free(other);
    soft_done();
}
END_TEST

/* ============================================================ 5. BEP-46 */

START_TEST(plain_bep46_feed)
{
    mt_identity *key = NULL;
    mt_error err;
    mt_create_params cp;
    mt_add_params ap;
    char dir[300], pair[320], f1[400], f2[400], ihx[41], pk[65];
    uint8_t *t = NULL, ih[20];
    size_t tlen = 0;
    int has_v1 = 0;

    env_up("bep46", 65, NET_NODES);
    mtd_proc *sub = daemon_new("sub", 21, NULL);
    own_up(30);
    wait_dht(sub, 3);

    /* An ordinary two-file torrent seeded by the own session. */
    t_fmt(dir, sizeof dir, "%s/own", g_dir);
    t_mkdir(dir);
    t_fmt(pair, sizeof pair, "%s/pair", dir);
    t_mkdir(pair);
    t_fmt(f1, sizeof f1, "%s/one.bin", pair);
    t_fmt(f2, sizeof f2, "%s/two.bin", pair);
    t_write_random(f1, MIB + 17);
    t_write_random(f2, 700001);
    memset(&cp, 0, sizeof cp);
    cp.path = pair;
    cp.version = MT_TORRENT_V1;
    ck_assert_msg(mt_torrent_create(&cp, &t, &tlen, &err) == 0, "%s", err.message);
    ck_assert(mt_torrent_info_hashes(t, tlen, ih, &has_v1, NULL, NULL, NULL, NULL) == 0 && has_v1);
    mt_hex_encode(ih, 20, ihx);
    memset(&ap, 0, sizeof ap);
    ap.torrent = t;
    ap.torrent_len = tlen;
    ap.save_path = dir;
    ap.flags = MT_ADD_SEED_MODE;
    ck_assert_msg(mt_torrent_add(g_own, &ap, ih, &err) == 0, "%s", err.message);
    mt_free(t);

    /* The BEP-46 value d2:ih20:<ih>e under a key, no salt. */
    uint8_t v[64];
    memcpy(v, "d2:ih20:", 8);
    memcpy(v + 8, ih, 20);
    v[28] = 'e';
    ck_assert(mt_identity_generate(&key, &err) == 0);
    own_put(key, "", 1, v, 29);
    mt_hex_encode(mt_identity_public_key(key), 32, pk);

    size_t mark = ev_mark(sub);
    long long sid = subscribe(sub, pk);
    cJSON *e = ev_wait(sub, mark, "item.added", "id", ihx);
    T_ASSERT(jint(e, "subscription") == sid, "%s", jtext(e));
    ev_wait2(sub, mark, "feed.updated", "subscription", lld(sid), "seq", "1", WAIT_MS);
    ev_wait(sub, mark, "torrent.finished", "id", ihx);
    t_same_file(f1, dl_path(sub, "pair/one.bin"));
    t_same_file(f2, dl_path(sub, "pair/two.bin"));
    cJSON *its = items_unique(sub, sid);
    T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(its, "items")) == 1 && items_have_torrent(its, ihx),
             "sub.items: %s", jtext(its));
    cJSON_Delete(its);
    cJSON *s = sub_get(sub, sid);
    T_ASSERT(jint(s, "seq") == 1 && jint(s, "items") == 1, "subscription %s", jtext(s));
    cJSON_Delete(s);

    cJSON *r = rpc_ok(sub, "resolve", jf("{\"address\":\"%s\",\"timeout\":30}", pk));
    T_ASSERT(!strcmp(jstr(r, "mode"), "bep46") && !strcmp(jstr(r, "ih"), ihx) && jint(r, "seq") == 1,
             "resolve: %s", jtext(r));
    cJSON_Delete(r);
    mt_identity_free(key);
    soft_done();
}
END_TEST

/* ============================================================ 6. RPC */

/* Send a raw line and return the next response (any id). */
static cJSON *raw(conn *c, const char *line)
{
    T_ASSERT(conn_send(c, line, strlen(line)) == 0, "daemon hung up before %.60s", line);
    cJSON *r = conn_wait_resp(c, -1, WAIT_MS);
    T_ASSERT(r != NULL, "no answer to %.60s", line);
    return r;
}

static int err_code(const cJSON *r)
{
    const cJSON *e = jget(r, "error");
    T_ASSERT(cJSON_IsObject(e), "not an error: %s", jtext(r));
    return (int)jnum(e, "code");
}

START_TEST(rpc_robustness)
{
    conn a, b, c;
    cJSON *r;
    char msg[512];

    env_up("rpc", 66, 0);
    mtd_proc *d = daemon_new("d", 20, NULL);
    ck_assert(conn_open(&a, d->sock) == 0);

    /* Malformed JSON: -32700 with id null, and the connection stays. */
    r = raw(&a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"\n");
    T_ASSERT(err_code(r) == -32700 && cJSON_IsNull(jget(r, "id")), "%s", jtext(r));
    cJSON_Delete(r);
    r = raw(&a, "\xff\xfe not even UTF-8\n");
    T_ASSERT(err_code(r) == -32700, "%s", jtext(r));
    cJSON_Delete(r);
    r = conn_call(&a, "status", NULL, WAIT_MS);
    T_ASSERT(jget(r, "result") != NULL, "status after a parse error: %s", jtext(r));
    cJSON_Delete(r);

    /* Unknown method, not a request. */
    T_ASSERT(rpc_err(&a, "no.such.method", NULL, msg, sizeof msg) == -32601, "unknown method");
    r = raw(&a, "{\"id\":5,\"method\":\"status\"}\n");
    T_ASSERT(err_code(r) == -32600, "no jsonrpc member: %s", jtext(r));
    cJSON_Delete(r);

    /* Wrong parameter types: -32602 naming the parameter. */
    T_ASSERT(rpc_err(&a, "sub.add", jf("{\"address\":5}"), msg, sizeof msg) == -32602, "sub.add address 5");
    T_ASSERT(strstr(msg, "address") != NULL, "message %s", msg);
    T_ASSERT(rpc_err(&a, "sub.add", NULL, msg, sizeof msg) == -32602, "sub.add without address");
    T_ASSERT(rpc_err(&a, "torrent.info", jf("{\"id\":7}"), msg, sizeof msg) == -32602, "torrent.info id 7");
    T_ASSERT(strstr(msg, "id") != NULL, "message %s", msg);
    T_ASSERT(rpc_err(&a, "feed.publish", jf("{\"items\":\"x\"}"), msg, sizeof msg) == -32602, "items x");
    T_ASSERT(strstr(msg, "items") != NULL, "message %s", msg);
    T_ASSERT(rpc_err(&a, "sub.add", jf("{\"address\":\"not a feed\"}"), msg, sizeof msg) == -32602, "bad address");
    /* An optional parameter of the wrong type is an error, not ignored,
     * and a refused call changes nothing. */
    T_ASSERT(rpc_err(&a, "sub.add", jf("{\"address\":\"%064d\",\"save_path\":5}", 7), msg, sizeof msg) == -32602,
             "sub.add with save_path 5");
    T_ASSERT(strstr(msg, "save_path") != NULL, "message %s", msg);
    T_ASSERT(rpc_err(&a, "sub.add", jf("{\"address\":\"%064d\",\"paused\":\"yes\"}", 7), msg, sizeof msg) == -32602,
             "sub.add with paused \"yes\"");
    T_ASSERT(rpc_err(&a, "torrent.add", jf("{\"uri\":5}"), msg, sizeof msg) == -32602, "torrent.add uri 5");
    T_ASSERT(rpc_err(&a, "feed.publish", jf("{\"items\":[\"a\"],\"name\":7}"), msg, sizeof msg) == -32602,
             "feed.publish name 7");
    r = conn_call(&a, "sub.list", NULL, WAIT_MS);
    T_ASSERT(cJSON_GetArraySize(jget(jget(r, "result"), "subscriptions")) == 0, "a refused sub.add subscribed: %s",
             jtext(r));
    cJSON_Delete(r);
    r = conn_call(&a, "feed.list", NULL, WAIT_MS);
    T_ASSERT(cJSON_GetArraySize(jget(jget(r, "result"), "feeds")) == 0, "a refused publish published: %s", jtext(r));
    cJSON_Delete(r);
    T_ASSERT(rpc_err(&a, "push", jf("{\"k\":\"00\",\"seq\":1,\"v\":\"\",\"sig\":\"00\"}"), msg, sizeof msg) == -32602,
             "push with short k");
    T_ASSERT(rpc_err(&a, "sub.items", jf("{\"id\":424242}"), msg, sizeof msg) == -32001, "no such subscription");
    r = raw(&a, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"status\",\"params\":[1]}\n");
    T_ASSERT(err_code(r) == -32602 && jint(r, "id") == 6, "positional params: %s", jtext(r));
    cJSON_Delete(r);

    /* A notification is not answered: the next answer is the next call's. */
    r = raw(&a, "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"status\"}\n");
    T_ASSERT(!strcmp(jstr(r, "id"), "after") && jget(r, "result"), "%s", jtext(r));
    cJSON_Delete(r);

    /* A batch: one array, an answer per request with an id. */
    r = raw(&a, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"status\"},"
                "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"no.such\"},"
                "{\"jsonrpc\":\"2.0\",\"method\":\"torrent.list\"},"
                "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"sub.add\",\"params\":{\"address\":5}},"
                "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"sub.list\"}]\n");
    T_ASSERT(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4, "batch answer %s", jtext(r));
    {
        int seen = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, r) {
            long long id = jint(x, "id");
            if (id == 10 || id == 13)
                T_ASSERT(jget(x, "result") != NULL, "batch %lld: %s", id, jtext(x));
            else if (id == 11)
                T_ASSERT(err_code(x) == -32601, "batch 11: %s", jtext(x));
            else if (id == 12)
                T_ASSERT(err_code(x) == -32602, "batch 12: %s", jtext(x));
            T_ASSERT(id >= 10 && id <= 13, "batch answer with id %lld: %s", id, jtext(r));
            seen |= 1 << (id - 10);
        }
        T_ASSERT(seen == 0xf, "batch ids: %s", jtext(r));
    }
    cJSON_Delete(r);
    r = raw(&a, "[]\n");
    T_ASSERT(err_code(r) == -32600, "empty batch: %s", jtext(r));
    cJSON_Delete(r);

    /* A line over 1 MiB: an error, then the connection closes. */
    ck_assert(conn_open(&b, d->sock) == 0);
    {
        size_t total = (1u << 20) + 65536, sent = 0;
        char chunk[65536];
        int closed = 0;
        memset(chunk, 'x', sizeof chunk);
        while (sent < total && !closed) {
            struct pollfd pf = {.fd = b.fd, .events = POLLOUT};
            if (poll(&pf, 1, 5000) <= 0)
                break;
            ssize_t n = send(b.fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n < 0)
                closed = 1;
            else
                sent += (size_t)n;
            conn_read(&b, 0);
        }
        r = conn_wait_resp(&b, -1, WAIT_MS);
        T_ASSERT(r != NULL, "no answer to an over-long line");
        T_ASSERT(err_code(r) == -32600 && cJSON_IsNull(jget(r, "id")), "over-long line: %s", jtext(r));
        cJSON_Delete(r);
        int64_t end = mt_now_ms() + WAIT_MS;
        while (!b.eof && mt_now_ms() < end)
            conn_read(&b, 100);
        T_ASSERT(b.eof, "connection not closed after an over-long line");
    }
    conn_close(&b);

    /* Through all of that: the old connection, a new one, the events one. */
    r = conn_call(&a, "status", NULL, WAIT_MS);
    T_ASSERT(jget(r, "result") != NULL, "%s", jtext(r));
    cJSON_Delete(r);
    ck_assert(conn_open(&c, d->sock) == 0);
    r = conn_call(&c, "status", NULL, WAIT_MS);
    T_ASSERT(jint(jget(r, "result"), "pid") == d->pid, "%s", jtext(r));
    cJSON_Delete(r);
    conn_close(&a);
    conn_close(&c);
    status_answers(d);
    int status = 0;
    T_ASSERT(waitpid(d->pid, &status, WNOHANG) == 0, "the daemon died");
    status = daemon_stop(d);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "shutdown: status 0x%x", status);
    soft_done();
}
END_TEST

/* ============================================================ 7. resolve */

/* Run mtctl with args (NULL-ended); stdout into out; exit status. */
static int run_mtctl(char *out, size_t cap, const char *const *args)
{
    const char *argv[32];
    int pipefd[2], status = 0, n = 0, maxfd = 1024;
    size_t got = 0;
    argv[n++] = mtctl_path();
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert(pipe(pipefd) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        for (int fd = 3; fd < maxfd; fd++)
            close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    int64_t end = mt_now_ms() + 120000;
    for (;;) {
        struct pollfd pf = {.fd = pipefd[0], .events = POLLIN};
        if (poll(&pf, 1, 100) > 0) {
            ssize_t r = read(pipefd[0], out + got, cap - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            if (got == cap - 1)
                break;
        }
        pump_net();
        if (mt_now_ms() > end) {
            kill(pid, SIGKILL);
            break;
        }
    }
    out[got] = '\0';
    close(pipefd[0]);
    ck_assert(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(resolve_over_rpc_and_mtctl)
{
    char address[256], ih[41], pkhex[65];
    static char out[65536];

    env_up("resolve", 67, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    mtd_proc *res = daemon_new("res", 21, NULL);
    wait_dht(pub, 3);
    wait_dht(res, 3);
    cJSON *st = rpc_ok(pub, "status", NULL);
    t_fmt(pkhex, sizeof pkhex, "%s", jstr(st, "public_key"));
    cJSON_Delete(st);
    cJSON *r = publish(pub, "news", "[\"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x\","
                                    "\"a plain text item\"]");
    cJSON_Delete(r);
    r = publish(pub, "news", "[\"third item\"]");
    long long seq = jint(r, "seq");
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    t_fmt(ih, sizeof ih, "%s", jstr(r, "ih"));
    cJSON_Delete(r);

    r = rpc_ok(res, "resolve", jf("{\"address\":\"%s\",\"timeout\":30}", address));
    T_ASSERT(jint(r, "seq") == seq && !strcmp(jstr(r, "mode"), "pointer") && !strcmp(jstr(r, "ih"), ih),
             "resolve: %s", jtext(r));
    const cJSON *m = jget(r, "manifest");
    T_ASSERT(cJSON_IsObject(m) && !strcmp(jstr(m, "publicKey"), pkhex) && jint(m, "sequence") == seq,
             "manifest %s", jtext(m));
    const cJSON *items = jget(cJSON_GetArrayItem(jget(m, "collections"), 0), "items");
    T_ASSERT(cJSON_GetArraySize(items) == 3, "manifest items: %s", jtext(m));
    cJSON_Delete(r);
    /* Resolving subscribes to nothing and keeps no index torrent. */
    cJSON *l = rpc_ok(res, "sub.list", NULL);
    T_ASSERT(cJSON_GetArraySize(jget(l, "subscriptions")) == 0, "resolve subscribed: %s", jtext(l));
    cJSON_Delete(l);
    wait_absent(res, ih);

    /* The same through mtctl, which must talk to the daemon. */
    st = rpc_ok(res, "status", NULL);
    long long lookups = jint(st, "dht_lookups");
    cJSON_Delete(st);
    {
        const char *a[] = {"--json", "resolve", address, "--socket", res->sock, "--timeout", "30", NULL};
        int rc = run_mtctl(out, sizeof out, a);
        T_ASSERT(rc == 0, "mtctl resolve exit %d: %s", rc, out);
        cJSON *doc = cJSON_Parse(out);
        T_ASSERT(doc != NULL, "mtctl printed no JSON: %s", out);
        T_ASSERT(jint(doc, "seq") == seq && !strcmp(jstr(doc, "ih"), ih) &&
                     jint(jget(doc, "manifest"), "sequence") == seq,
                 "mtctl resolve: %s", out);
        cJSON_Delete(doc);
    }
    st = rpc_ok(res, "status", NULL);
    T_ASSERT(jint(st, "dht_lookups") == lookups + 1, "mtctl resolve did not go through the daemon: %s", jtext(st));
    cJSON_Delete(st);

    /* A feed nobody published: not found, not a hang. */
    {
        char msg[512];
        int code = rpc_err(&res->c, "resolve",
                           jf("{\"address\":\"%s\",\"timeout\":20}",
                              "1111111111111111111111111111111111111111111111111111111111111111"),
                           msg, sizeof msg);
        T_ASSERT(code == -32001, "resolve of an unknown feed: %d %s", code, msg);
    }
    status_answers(res);
    soft_done();
}
END_TEST

/* ============================================================ suite */

/* ============================================================ 9. blobs */

/* The torrent of d named name in torrent.list (its id), or "". */
static const char *torrent_named(mtd_proc *d, const char *name)
{
    static char id[41];
    cJSON *l = rpc_ok(d, "torrent.list", NULL), *t;
    id[0] = '\0';
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(l, "torrents"))
        if (!strcmp(jstr(t, "name"), name))
            t_fmt(id, sizeof id, "%s", jstr(t, "id"));
    cJSON_Delete(l);
    return id;
}

/* Does any file under path hold the n bytes at needle? */
static int tree_holds(const char *path, const void *needle, size_t n)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *de;
        int found = 0;
        while (dir && !found && (de = readdir(dir))) {
            char sub[1024];
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub)
                found = tree_holds(sub, needle, n);
        }
        if (dir)
            closedir(dir);
        return found;
    }
    if (!S_ISREG(st.st_mode))
        return 0;
    size_t len = 0;
    uint8_t *buf = t_read(path, &len);
    int found = memmem(buf, len, needle, n) != NULL;
    free(buf);
    return found;
}

/*
 * Seed 003's data plane end to end: A ingests a file and publishes it in a
 * private feed; B hosts the pack and the feed index, never holding a key;
 * A goes offline; C subscribes (with the read key) and reassembles the file
 * from B alone. B's data directory holds no 64-byte window of the file.
 */
START_TEST(blob_three_hosts)
{
    char conf[256], src[400], rk_hex[65], address[200], pk_hex[65], hit[600];
    uint8_t rk[32];
    env_up("blobs", 68, NET_NODES);
    t_fmt(conf, sizeof conf, "wire_listen = %s.20:0\n", g_prefix);
    mtd_proc *a = daemon_new("a", 20, conf);
    mtd_proc *b = daemon_new("b", 21, NULL);
    mtd_proc *c = daemon_new("c", 22, NULL);
    wait_dht(a, 3);
    wait_dht(b, 3);
    wait_dht(c, 3);
    t_fmt(src, sizeof src, "%s/film.bin", g_dir);
    t_write_random(src, 5 * MIB + 4321);
    randombytes_buf(rk, sizeof rk);
    mt_hex_encode(rk, 32, rk_hex);

    step("A publishes the file in a private feed (mtctl publish FILE)");
    char out[8192];
    const char *args[] = {"--json", "publish", "--socket", a->sock, "--read-key", rk_hex, src, NULL};
    int rc = run_mtctl(out, sizeof out, args);
    T_ASSERT(rc == 0, "mtctl publish exit %d: %s", rc, out);
    cJSON *r = cJSON_Parse(out);
    T_ASSERT(r && jnum(r, "nodes") >= 1 && cJSON_IsTrue(jget(r, "private")), "mtctl publish: %s", out);
    char index_ih[41];
    t_fmt(index_ih, sizeof index_ih, "%s", jstr(r, "ih"));
    cJSON_Delete(r);
    const char *pack = torrent_named(a, "blobs");
    T_ASSERT(pack[0], "A seeds no pack");
    char pack_ih[41];
    t_fmt(pack_ih, sizeof pack_ih, "%s", pack);
    cJSON *st = rpc_ok(a, "blob.store", NULL);
    T_ASSERT(jint(st, "blobs") == 6 && jint(st, "pinned_blobs") == 6, "A's blob store: %s", jtext(st));
    cJSON_Delete(st);

    step("A announces its blobs by id with its mt-wire port");
    st = rpc_ok(a, "blob.store", NULL);
    long long wire_port = jint(jget(st, "wire"), "port");
    cJSON_Delete(st);
    T_ASSERT(wire_port > 0, "A runs no mt-wire server");
    {
        char blob_dir[600], first[65] = "";
        t_fmt(blob_dir, sizeof blob_dir, "%s/blobs", a->dir);
        DIR *dir = opendir(blob_dir);
        struct dirent *de;
        while (dir && (de = readdir(dir)))
            if (mt_blob_id_valid(de->d_name))
                t_fmt(first, sizeof first, "%s", de->d_name);
        if (dir)
            closedir(dir);
        T_ASSERT(first[0], "no blob in %s", blob_dir);
        own_up(30);
        uint8_t key[20];
        mt_error err;
        T_ASSERT(mt_blob_dht_key(first, key) == 0, "bad blob id %s", first);
        int found = 0;
        for (int64_t end = mt_now_ms() + WAIT_MS; !found;) {
            mt_event ev;
            T_ASSERT(mt_now_ms() < end, "no DHT peer with A's mt-wire port for blob %s", first);
            T_ASSERT(mt_dht_get_peers(g_own, key, 2000, &err) == 0, "get_peers: %s", err.message);
            while (!found && mt_session_wait_event(g_own, MT_EVENT_DHT_PEERS, key, 2500, &ev, NULL) == 0) {
                for (size_t i = 0; i < ev.num_peers; i++)
                    found |= ev.peers[i].port == wire_port;
                mt_event_clear(&ev);
            }
            ev_settle(a, 200);
        }
    }

    step("B hosts the pack and the sealed index");
    r = rpc_ok(b, "blob.seed", jf("{\"magnet\":\"magnet:?xt=urn:btih:%s\"}", pack_ih));
    cJSON_Delete(r);
    t_mkdir(b->dl);
    r = rpc_ok(b, "torrent.add", jf("{\"uri\":\"magnet:?xt=urn:btih:%s\",\"save_path\":\"%s\"}", index_ih, b->dl));
    cJSON_Delete(r);
    wait_complete(b, pack_ih);
    wait_complete(b, index_ih);
    st = rpc_ok(b, "blob.store", NULL);
    T_ASSERT(jint(st, "blobs") == 6 && jint(st, "pinned_blobs") == 6, "B's blob store: %s", jtext(st));
    cJSON_Delete(st);

    step("A goes offline; C subscribes");
    r = rpc_ok(a, "status", NULL);
    t_fmt(pk_hex, sizeof pk_hex, "%s", jstr(r, "public_key"));
    cJSON_Delete(r);
    daemon_stop(a);
    t_fmt(address, sizeof address, "megatorrent://%s:%s", pk_hex, rk_hex);
    size_t mark = ev_mark(c);
    long long sid = subscribe(c, address);
    cJSON *e = ev_wait2(c, mark, "item.added", "subscription", lld(sid), "kind", "file", WAIT_MS);
    T_ASSERT(!strcmp(jstr(e, "name"), "film.bin"), "item.added %s", jtext(e));
    for (int64_t end = mt_now_ms() + WAIT_MS; !ev_find2(c, mark, "blob.finished", "subscription", lld(sid), NULL, NULL);) {
        if (mt_now_ms() > end) {
            cJSON *fl = rpc_ok(c, "blob.fetches", NULL);
            cJSON *tf = rpc_call(c, "torrent.files", jf("{\"id\":\"%s\"}", pack_ih));
            fprintf(stderr, "fetches: %s\n", jtext(fl));
            T_ASSERT(0, "files: %s", jtext(tf));
        }
        ev_settle(c, 200);
    }
    e = ev_wait2(c, mark, "blob.finished", "subscription", lld(sid), NULL, NULL, WAIT_MS);
    T_ASSERT(jint(e, "from_swarm") == 6 && jint(e, "corrupt") == 0, "blob.finished %s", jtext(e));
    t_same_file(src, dl_path(c, "film.bin"));

    step("B never held plaintext or a key");
    size_t n = 0;
    uint8_t *plain = t_read(src, &n);
    t_windows *w = t_windows_new(plain, n);
    T_ASSERT(t_windows_in_tree(w, c->dl, hit, sizeof hit), "the window scan misses C's plaintext copy");
    T_ASSERT(!t_windows_in_tree(w, b->dir, hit, sizeof hit), "B holds plaintext: %s", hit);
    t_windows_free(w);
    free(plain);
    T_ASSERT(!tree_holds(b->dir, rk_hex, 64) && !tree_holds(b->dir, rk, 32), "B holds the read key");
    T_ASSERT(tree_holds(c->dir, rk, 32) || tree_holds(c->dir, rk_hex, 64),
             "the key scan misses C's copy of the read key");
    soft_done();
}
END_TEST

/* ============================================================ 10. push */

/* Peers of torrent id on d (torrent.info), or -1. */
static long long torrent_peers(mtd_proc *d, const char *id)
{
    cJSON *t = torrent_find(d, id);
    long long n = t ? jint(t, "peers") : -1;
    cJSON_Delete(t);
    return n;
}

static long long status_num(mtd_proc *d, const char *name)
{
    cJSON *st = rpc_ok(d, "status", NULL);
    long long n = jint(st, name);
    cJSON_Delete(st);
    return n;
}

/*
 * One publisher, 20 subscribers: after an update every subscriber applies
 * it from a push (lt_megatorrent over the index swarm), with no DHT get. A
 * stale item pushed afterwards is refused and passed on by nobody.
 */
START_TEST(push_to_twenty)
{
    enum { NSUB = 20 };
    mtd_proc *sub[NSUB];
    long long sid[NSUB], lookups[NSUB];
    char address[256], ih1[41], name[16];
    size_t mark[NSUB];

    env_up("push", 69, NET_NODES);
    mtd_proc *pub = daemon_new("pub", 20, NULL);
    for (int i = 0; i < NSUB; i++) {
        t_fmt(name, sizeof name, "s%02d", i);
        /* One poll at subscribe time, none after: updates must come by push.
         * The last applies pushes but relays none (push_feed_rate 0); s00,
         * which relays, takes the stale replay below. */
        sub[i] = daemon_new(name, 30 + i, i == NSUB - 1 ? "poll_interval = 86400\npush_feed_rate = 0\n"
                                                 : "poll_interval = 86400\n");
    }
    wait_dht(pub, 3);
    for (int i = 0; i < NSUB; i++)
        wait_dht(sub[i], 3);
    cJSON *r = publish(pub, "", "[\"first note\"]");
    long long seq1 = jint(r, "seq");
    t_fmt(address, sizeof address, "%s", jstr(r, "address"));
    t_fmt(ih1, sizeof ih1, "%s", jstr(r, "ih"));
    cJSON_Delete(r);

    step("20 subscribe and join the index swarm");
    for (int i = 0; i < NSUB; i++) {
        mark[i] = ev_mark(sub[i]);
        sid[i] = subscribe(sub[i], address);
    }
    for (int i = 0; i < NSUB; i++)
        ev_wait2(sub[i], mark[i], "feed.updated", "subscription", lld(sid[i]), "seq", lld(seq1), WAIT_MS);
    /* Everyone seeds index 1; wait until the publisher is connected to all. */
    for (int64_t end = mt_now_ms() + SWARM_MS; torrent_peers(pub, ih1) < NSUB;) {
        T_ASSERT(mt_now_ms() < end, "publisher has %lld of %d subscribers as index peers",
                 torrent_peers(pub, ih1), NSUB);
        ev_settle(pub, 300);
    }
    for (int i = 0; i < NSUB; i++)
        lookups[i] = status_num(sub[i], "dht_lookups");
    /* Keep seq1's signed item for the stale replay below. */
    struct {
        mt_event ev;
        uint8_t pk[32], sig[64];
        const uint8_t *v;
        size_t v_len;
        int64_t seq;
    } stale;
    memset(&stale, 0, sizeof stale);
    own_up(90);
    {
        mt_push_config pc;
        mt_push_config_init(&pc);
        T_ASSERT(mt_push_enable(g_own, &pc, NULL) == 0, "push on the test's own session");
        /* As mtd does: index swarms are all seeds, keep their connections. */
        T_ASSERT(mt_session_set_setting(g_own, "close_redundant_connections", "false", NULL) == 0, "setting");
    }
    {
        cJSON *st = rpc_ok(pub, "status", NULL);
        mt_error err;
        uint8_t target[20];
        T_ASSERT(mt_hex_decode(jstr(st, "public_key"), stale.pk, 32) == 0, "publisher key");
        cJSON_Delete(st);
        T_ASSERT(mt_dht_get_mutable(g_own, stale.pk, NULL, 0, target, &err) == 0, "get: %s", err.message);
        for (int64_t end = mt_now_ms() + WAIT_MS; !stale.v_len;) {
            T_ASSERT(mt_now_ms() < end, "seq1's item not found in the DHT");
            mt_event ev;
            if (mt_session_wait_event(g_own, MT_EVENT_DHT_MUTABLE, target, 1000, &ev, NULL) != 0)
                continue;
            if (ev.error == 0 && ev.seq == seq1) {
                stale.ev = ev;
                stale.v = ev.data;
                stale.v_len = ev.data_len;
                stale.seq = ev.seq;
                memcpy(stale.sig, ev.signature, 64);
            } else {
                mt_event_clear(&ev);
            }
        }
    }

    step("update: pushed, not polled");
    for (int i = 0; i < NSUB; i++)
        mark[i] = ev_mark(sub[i]);
    r = publish(pub, "", "[\"second note\"]");
    long long seq2 = jint(r, "seq");
    char ih2[41];
    t_fmt(ih2, sizeof ih2, "%s", jstr(r, "ih"));
    cJSON_Delete(r);
    T_ASSERT(status_num(pub, "pushes_forwarded") >= 1, "the publisher pushed to nobody");
    for (int i = 0; i < NSUB; i++) {
        ev_wait2(sub[i], mark[i], "feed.updated", "subscription", lld(sid[i]), "seq", lld(seq2), WAIT_MS);
        T_ASSERT(status_num(sub[i], "dht_lookups") == lookups[i], "%s did a DHT get for the update",
                 sub[i]->name);
        T_ASSERT(status_num(sub[i], "pushes_accepted") >= 1, "%s accepted no push", sub[i]->name);
        /* Relays go to push_fanout (8) peers at most, not to the whole swarm. */
        T_ASSERT(status_num(sub[i], "pushes_forwarded") <= 8, "%s relayed to %lld peers", sub[i]->name,
                 status_num(sub[i], "pushes_forwarded"));
    }
    /* The last took the update, but its feed relay budget is zero. */
    T_ASSERT(status_num(sub[NSUB - 1], "pushes_forwarded") == 0 && status_num(sub[NSUB - 1], "pushes_held") >= 1,
             "%s relayed %lld (held %lld) with push_feed_rate 0", sub[NSUB - 1]->name,
             status_num(sub[NSUB - 1], "pushes_forwarded"), status_num(sub[NSUB - 1], "pushes_held"));

    step("a stale push goes nowhere");
    /* seq1's signed item, taken from the DHT before anyone re-put seq2, is
     * replayed from a peer of our own straight into s00's index swarm. */
    T_ASSERT(stale.v_len > 0, "test bug: no stale item kept");
    cJSON *st0 = rpc_ok(sub[0], "status", NULL);
    long long seen0 = jint(jget(st0, "push"), "received");
    long long dup0 = jint(jget(st0, "push"), "duplicate");
    long long events0 = jint(st0, "pushes_received");
    cJSON_Delete(st0);
    long long fwd_before = 0;
    for (int i = 0; i < NSUB; i++)
        fwd_before += status_num(sub[i], "pushes_forwarded");
    {
        mt_add_params ap;
        mt_error err;
        uint8_t id2[20];
        char mag[128], save[600], ep[64];
        cJSON *st = rpc_ok(sub[0], "status", NULL);
        t_fmt(ep, sizeof ep, "%s", jstr(st, "listen"));
        cJSON_Delete(st);
        t_fmt(mag, sizeof mag, "magnet:?xt=urn:btih:%s", ih2);
        t_fmt(save, sizeof save, "%s/own-index", g_dir);
        t_mkdir(save);
        memset(&ap, 0, sizeof ap);
        ap.magnet = mag;
        ap.save_path = save;
        T_ASSERT(mt_torrent_add(g_own, &ap, id2, &err) == 0, "own add: %s", err.message);
        for (int64_t end = mt_now_ms() + WAIT_MS; mt_push_peer_count(g_own, id2) < 1;) {
            mt_torrent_status ts;
            memset(&ts, 0, sizeof ts);
            mt_torrent_get_status(g_own, id2, &ts, NULL);
            T_ASSERT(mt_now_ms() < end, "own session never reached s00 (%s) with lt_megatorrent: %d peers, state %d",
                     ep, ts.num_peers, (int)ts.state);
            mt_torrent_connect_peer(g_own, id2, ep, NULL);
            ev_settle(sub[0], 300);
        }
        T_ASSERT(mt_push_send(g_own, id2, stale.pk, NULL, 0, stale.seq, stale.v, stale.v_len, stale.sig, NULL,
                              0, NULL, &err) == 0, "own push: %s", err.message);
        /* Then a marker down the same link: a valid item of a feed nobody
         * follows. s00 takes it off the wire after the stale one, verifies
         * it after it, and its mtd handles its event after any event of
         * the stale one (counting it in pushes_received and passing it on
         * to nobody). Once it is counted, whatever the stale item was going
         * to cause has happened, at any machine speed. */
        uint8_t mpk[32], msk[64], msig[64];
        const uint8_t mv[] = "6:marker";
        crypto_sign_keypair(mpk, msk);
        T_ASSERT(mt_dht_sign_mutable(msk, NULL, 0, 1, mv, sizeof mv - 1, msig, &err) == 0, "sign: %s",
                 err.message);
        T_ASSERT(mt_push_send(g_own, id2, mpk, NULL, 0, 1, mv, sizeof mv - 1, msig, NULL, 0, NULL, &err) == 0,
                 "own marker push: %s", err.message);
    }
    /* s00's extension takes the message and drops it as stale (it already
     * delivered a higher seq for that feed): no event, nothing passed on.
     * Checked once s00's mtd has handled the marker's event. */
    for (int64_t end = mt_now_ms() + WAIT_MS;;) {
        st0 = rpc_ok(sub[0], "status", NULL);
        long long seen = jint(jget(st0, "push"), "received");
        long long dup = jint(jget(st0, "push"), "duplicate");
        long long events = jint(st0, "pushes_received");
        cJSON_Delete(st0);
        if (events > events0) {
            T_ASSERT(seen >= seen0 + 2, "s00 handled the marker but took %lld messages", seen - seen0);
            T_ASSERT(dup > dup0, "s00 took the stale item as new");
            T_ASSERT(events == events0 + 1, "s00 handled %lld pushes, not just the marker", events - events0);
            break;
        }
        T_ASSERT(mt_now_ms() < end, "s00 never handled the marker pushed after the replayed item");
        ev_settle(sub[0], 200);
    }
    long long fwd_after = 0;
    for (int i = 0; i < NSUB; i++)
        fwd_after += status_num(sub[i], "pushes_forwarded");
    T_ASSERT(fwd_after == fwd_before, "a stale push was passed on (%lld forwards, was %lld)", fwd_after,
             fwd_before);
    cJSON *s0 = sub_get(sub[0], sid[0]);
    T_ASSERT(jint(s0, "seq") == seq2, "s00 went back to seq %lld", jint(s0, "seq"));
    cJSON_Delete(s0);
    mt_event_clear(&stale.ev);
    soft_done();
}
END_TEST

/* ============================================================ 11. crypt */

/* A counter of status's "crypt" object (encrypt_links not off). */
static long long crypt_num(mtd_proc *d, const char *name)
{
    cJSON *st = rpc_ok(d, "status", NULL);
    const cJSON *c = jget(st, "crypt");
    T_ASSERT(cJSON_IsObject(c), "%s: status has no crypt object: %s", d->name, jtext(st));
    long long n = jint(c, name);
    cJSON_Delete(st);
    return n;
}

/*
 * Encrypted peer links between two daemons, both encrypt_links = require.
 * A seeds a 64 MiB torrent; B knows A only as a recording TCP relay (the
 * magnet's x.pe), so every byte between them is kept. The file arrives
 * identical, the relay carried at least all of it, and no 64-byte window of
 * the file appears in either direction. A daemon with encrypt_links = off
 * is then refused by A and gets nothing.
 */
START_TEST(crypt_between_daemons)
{
    enum { SIZE = 64 * MIB };
    payload p;
    t_relay relay;
    char relay_addr[32], relay_bind[32], a_host[32], uri[512], out[700];
    int a_port;

    env_up("crypt", 70, 0); /* no DHT: peers only where the test says */
    mtd_proc *a = daemon_new("a", 20, "encrypt_links = require\n");
    mtd_proc *b = daemon_new("b", 21, "encrypt_links = require\n");
    seed_payload(a, &p, "big.bin", SIZE);

    step("64 MiB from A to B through the relay");
    {
        const char *colon = strrchr(a->listen, ':');
        T_ASSERT(colon != NULL, "listen %s", a->listen);
        t_fmt(a_host, sizeof a_host, "%.*s", (int)(colon - a->listen), a->listen);
        a_port = atoi(colon + 1);
    }
    t_fmt(relay_addr, sizeof relay_addr, "%s.23", g_prefix);
    t_fmt(relay_bind, sizeof relay_bind, "%s.24", g_prefix);
    t_relay_start(&relay, relay_addr, relay_bind, a_host, a_port);
    t_fmt(uri, sizeof uri, "%s&x.pe=%s:%d", p.magnet, relay_addr, relay.port);
    cJSON_Delete(rpc_ok(b, "torrent.add", jf("{\"uri\":\"%s\",\"save_path\":\"%s\"}", uri, b->dl)));
    wait_complete(b, p.ih);
    t_relay_stop(&relay);
    t_fmt(out, sizeof out, "%s/big.bin", b->dl);
    t_same_file(p.path, out);
    T_ASSERT(relay.down.len >= SIZE, "the relay carried %zu bytes A to B, less than the file", relay.down.len);
    T_ASSERT(crypt_num(a, "upgraded") >= 1 && crypt_num(b, "upgraded") >= 1, "links not upgraded (A %lld, B %lld)",
             crypt_num(a, "upgraded"), crypt_num(b, "upgraded"));
    {
        size_t len = 0;
        uint8_t *src = t_read(p.path, &len);
        T_ASSERT(src && len == SIZE, "cannot read %s", p.path);
        t_windows *w = t_windows_new(src, len);
        /* The scanner finds the file in itself; the wire must not hold it. */
        T_ASSERT(t_windows_find(w, src + SIZE / 2, 4096) == 0, "window scan broken");
        long down = t_windows_find(w, relay.down.buf, relay.down.len);
        long up = t_windows_find(w, relay.up.buf, relay.up.len);
        t_windows_free(w);
        free(src);
        T_ASSERT(down < 0 && up < 0, "plaintext on the wire: A to B at %ld, B to A at %ld", down, up);
    }
    fprintf(stderr, "check_mtd: crypt: relay carried %zu bytes A to B, %zu B to A\n", relay.down.len,
            relay.up.len);
    t_relay_free(&relay);

    step("a daemon without encryption is refused");
    mtd_proc *c = daemon_new("c", 22, "encrypt_links = off\n");
    long long refused = crypt_num(a, "refused");
    t_fmt(uri, sizeof uri, "%s&x.pe=%s", p.magnet, a->listen);
    cJSON_Delete(rpc_ok(c, "torrent.add", jf("{\"uri\":\"%s\",\"save_path\":\"%s\"}", uri, c->dl)));
    for (int64_t end = mt_now_ms() + WAIT_MS; crypt_num(a, "refused") <= refused;) {
        T_ASSERT(mt_now_ms() < end, "A never refused C");
        ev_settle(a, 200);
    }
    {
        cJSON *t = torrent_find(c, p.ih);
        T_ASSERT(t && jnum(t, "progress") == 0, "C got data from A: %s", jtext(t));
        cJSON_Delete(t);
    }
}
END_TEST

static Suite *mtd_suite(void)
{
    Suite *s = suite_create("mtd");
    struct {
        const char *name;
        const TTest *fn;
        int timeout;       /* 0: the default below */
    } tests[] = {
        {"demo", demo_flow, 0},
        {"restart", restart_keeps_state, 0},
        {"kill_sub", kill_subscriber_mid_update, 0},
        {"kill_pub", kill_publisher_after_publish, 0},
        {"adversarial", adversarial_items_rejected, 0},
        {"bep46", plain_bep46_feed, 0},
        {"rpc", rpc_robustness, 0},
        {"resolve", resolve_over_rpc_and_mtctl, 0},
        {"blobs", blob_three_hosts, 0},
        {"push", push_to_twenty, 120 + SWARM_MS / 1000 + 120}, /* set-up, the swarm, the pushes */
        {"crypt", crypt_between_daemons, 0},
    };
    /* Generous bounds on hangs (a test takes 2-20 s); CK_DEFAULT_TIMEOUT
     * may raise it or, as 0, lift it; CK_TIMEOUT_MULTIPLIER applies. */
    int timeout = 240;
    const char *env = getenv("CK_DEFAULT_TIMEOUT");
    if (env && *env && (atoi(env) > timeout || strspn(env, "0") == strlen(env)))
        timeout = atoi(env);
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, NULL, env_down);
        /* A test's own bound raises the default, never a lifted one (0). */
        tcase_set_timeout(tc, timeout && tests[i].timeout > timeout ? tests[i].timeout : timeout);
        tcase_add_test(tc, tests[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    int failed;
    SRunner *sr;

    if (sodium_init() < 0)
        return 99;
    if (access(mtd_path(), X_OK) != 0) {
        fprintf(stderr, "check_mtd: no mtd at %s (set MTD)\n", mtd_path());
        return 99;
    }
    snprintf(g_base, sizeof g_base, "/tmp/mtd-it-XXXXXX");
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 99;
    }
    atexit(kill_leftovers);
    sr = srunner_create(mtd_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (getenv("MTD_KEEP") || failed)
        fprintf(stderr, "check_mtd: files kept in %s\n", g_base);
    else
        t_rm_rf(g_base);
    return failed ? 1 : 0;
}
