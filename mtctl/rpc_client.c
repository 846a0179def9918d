/*
 * rpc_client.c - mtctl's JSON-RPC 2.0 client for mtd's UNIX socket (see
 * rpc_client.h, mtd/rpc.h and doc/rpc.md).
 *
 * One call at a time: a request goes out with the next integer id, then
 * lines are read until the answer with that id comes. Event notifications
 * read meanwhile are queued for rpc_next_event(); answers to earlier calls
 * that timed out are skipped by their id. The socket is non-blocking and
 * every wait is a poll() bounded by the caller's timeout.
 */
#define _POSIX_C_SOURCE 200809L
#include "rpc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mtctl.h"

#define RPC_ANSWER_MAX  (64u << 20)  /* one line from mtd: torrent lists can be long */
#define RPC_REQUEST_MAX (1u << 20)   /* mtd's MTD_RPC_LINE_MAX: it closes on longer lines */
#define RPC_EVENTS_MAX  4096         /* queued events; the oldest go first */
#define RPC_BUF_MIN     4096u

struct rpc_client {
    int        fd;
    int        broken;   /* the stream is out of step (I/O error, oversized line): no more calls */
    long long  next_id;
    char      *buf;      /* buf[0..len): received bytes not yet consumed */
    size_t     len, cap;
    size_t     scan;     /* buf[0..scan) holds no newline */
    cJSON     *events;   /* array used as a FIFO of event params */
    int        nevents;
    char       path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* snprintf into the caller's msg, which may be NULL. */
static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

int rpc_socket_path(const char *opt, char *buf, size_t cap)
{
    const char *env = getenv("MT_SOCKET");
    char dir[4096];
    int n;
    if (!buf || cap == 0)
        return -1;
    if (opt && opt[0])
        n = snprintf(buf, cap, "%s", opt);
    else if (env && env[0])
        n = snprintf(buf, cap, "%s", env);
    else if (default_state_dir(dir, sizeof dir) == 0)
        n = snprintf(buf, cap, "%s/mtd.sock", dir);
    else
        return -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int rpc_connect(const char *path, rpc_client **out, char *msg, size_t cap)
{
    struct sockaddr_un sa;
    rpc_client *c;
    size_t len;
    int fd, fl;

    if (out)
        *out = NULL;
    if (!path || !out) {
        set_msg(msg, cap, "cannot connect to mtd: no socket path");
        return -1;
    }
    len = strlen(path);
    if (len == 0 || len >= sizeof sa.sun_path) {
        set_msg(msg, cap, "cannot connect to mtd at %s: the path must be 1 to %zu bytes", path,
                sizeof sa.sun_path - 1);
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        set_msg(msg, cap, "cannot connect to mtd at %s: %s", path, strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        set_msg(msg, cap, "cannot connect to mtd at %s: %s%s", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED ? " (is mtd running?)" : "");
        return -1;
    }
    /* Non-blocking after connect: every wait below is a bounded poll(). */
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        set_msg(msg, cap, "cannot connect to mtd at %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (!c || !(c->events = cJSON_CreateArray())) {
        free(c);
        close(fd);
        set_msg(msg, cap, "out of memory");
        return -1;
    }
    c->fd = fd;
    c->next_id = 1;
    memcpy(c->path, path, len + 1);
    *out = c;
    return 0;
}

void rpc_close(rpc_client *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->buf);
    cJSON_Delete(c->events);
    free(c);
}

/* ------------------------------------------------------------ waiting */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline for timeout_ms (-1: none, as LLONG_MAX). */
static long long deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? LLONG_MAX : now_ms() + timeout_ms;
}

/* Wait for events on the socket until the deadline: 1 ready, 0 timed
 * out, -1 poll failed. */
static int wait_fd(const rpc_client *c, short events, long long deadline)
{
    for (;;) {
        struct pollfd p;
        long long left = deadline == LLONG_MAX ? -1 : deadline - now_ms();
        int rc;
        if (deadline != LLONG_MAX && left <= 0)
            return 0;
        p.fd = c->fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Mark the connection unusable and say why. Returns -1. */
static int lost(rpc_client *c, char *msg, size_t cap, const char *why)
{
    c->broken = 1;
    set_msg(msg, cap, "connection to mtd at %s lost: %s", c->path, why);
    return -1;
}

/* Write all of data before the deadline. 0, or -1 with msg. */
static int send_all(rpc_client *c, const char *data, size_t len, long long deadline, int timeout_ms, char *msg,
                    size_t cap)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return lost(c, msg, cap, strerror(errno));
        n = wait_fd(c, POLLOUT, deadline);
        if (n == 0) {
            /* Part of a line may be out: the stream cannot be trusted. */
            c->broken = 1;
            set_msg(msg, cap, "mtd at %s did not take the request within %d ms", c->path, timeout_ms);
            return -1;
        }
        if (n < 0)
            return lost(c, msg, cap, strerror(errno));
    }
    return 0;
}

/*
 * The next JSON line from mtd, parsed, before the deadline. 1 with *v,
 * 0 on timeout, -1 with msg when the connection is unusable.
 */
static int read_message(rpc_client *c, long long deadline, cJSON **v, char *msg, size_t cap)
{
    *v = NULL;
    for (;;) {
        char *nl = c->len > c->scan ? memchr(c->buf + c->scan, '\n', c->len - c->scan) : NULL;
        ssize_t n;
        int w;
        if (nl) {
            size_t linelen = (size_t)(nl - c->buf);
            *v = cJSON_ParseWithLength(c->buf, linelen);
            memmove(c->buf, nl + 1, c->len - linelen - 1);
            c->len -= linelen + 1;
            c->scan = 0;
            if (!*v)
                return lost(c, msg, cap, "it sent a line that is not JSON");
            return 1;
        }
        c->scan = c->len;
        if (c->len > RPC_ANSWER_MAX)
            return lost(c, msg, cap, "an answer is over 64 MiB");
        if (c->len == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : RPC_BUF_MIN;
            char *p;
            if (ncap > RPC_ANSWER_MAX + 1)
                ncap = RPC_ANSWER_MAX + 1;
            p = realloc(c->buf, ncap);
            if (!p)
                return lost(c, msg, cap, "out of memory");
            c->buf = p;
            c->cap = ncap;
        }
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0)
            return lost(c, msg, cap, "mtd closed the connection");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return lost(c, msg, cap, strerror(errno));
        w = wait_fd(c, POLLIN, deadline);
        if (w == 0)
            return 0;
        if (w < 0)
            return lost(c, msg, cap, strerror(errno));
    }
}

/* Queue an event notification's params (taken from note); the oldest
 * events go when the queue is full, so a slow reader stays bounded. */
static void queue_event(rpc_client *c, cJSON *note)
{
    cJSON *params = cJSON_DetachItemFromObjectCaseSensitive(note, "params");
    if (!params)
        return;
    if (c->nevents >= RPC_EVENTS_MAX) {
        cJSON_Delete(cJSON_DetachItemFromArray(c->events, 0));
        c->nevents--;
    }
    if (cJSON_AddItemToArray(c->events, params))
        c->nevents++;
    else
        cJSON_Delete(params);
}

/* A notification from mtd (no id): queue events, ignore the rest. 1 if
 * it was one. */
static int take_notification(rpc_client *c, cJSON *v)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(v, "method");
    if (!cJSON_IsString(method) || cJSON_GetObjectItemCaseSensitive(v, "id"))
        return 0;
    if (strcmp(method->valuestring, "event") == 0)
        queue_event(c, v);
    return 1;
}

/* Is v the answer to call id? An error with id null is mtd's answer to
 * a request it could not read, and we only ever have one outstanding. */
static int is_answer(const cJSON *v, long long id)
{
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(v, "id");
    if (cJSON_IsNumber(rid))
        return rid->valuedouble == (double)id;
    return cJSON_IsNull(rid) && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(v, "error"));
}

/* Unpack an answer into the rpc_call outputs; see rpc_call. */
static int unpack_answer(rpc_client *c, cJSON *v, cJSON **result, int *code, cJSON **data, char *msg, size_t cap)
{
    cJSON *err = cJSON_GetObjectItemCaseSensitive(v, "error");
    if (cJSON_IsObject(err)) {
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(err, "code");
        const cJSON *em = cJSON_GetObjectItemCaseSensitive(err, "message");
        int n = cJSON_IsNumber(ec) ? ec->valueint : 0;
        if (code)
            *code = n;
        if (cJSON_IsString(em))
            set_msg(msg, cap, "%s", em->valuestring);
        else
            set_msg(msg, cap, "mtd error %d", n);
        if (data)
            *data = cJSON_DetachItemFromObjectCaseSensitive(err, "data");
        return -2;
    }
    if (!cJSON_GetObjectItemCaseSensitive(v, "result")) {
        set_msg(msg, cap, "mtd at %s sent an answer without result or error", c->path);
        return -1;
    }
    if (result)
        *result = cJSON_DetachItemFromObjectCaseSensitive(v, "result");
    return 0;
}

/* The request line for a call (malloc'd, ends in "\n"), or NULL. */
static char *request_line(long long id, const char *method, cJSON *params, size_t *len)
{
    cJSON *req = cJSON_CreateObject();
    char *text = NULL, *line = NULL;
    if (!params)
        params = cJSON_CreateObject();
    if (req && params && cJSON_AddStringToObject(req, "jsonrpc", "2.0") &&
        cJSON_AddNumberToObject(req, "id", (double)id) && cJSON_AddStringToObject(req, "method", method) &&
        cJSON_AddItemToObject(req, "params", params)) {
        params = NULL;
        text = cJSON_PrintUnformatted(req);
    }
    cJSON_Delete(params);
    cJSON_Delete(req);
    if (text) {
        size_t n = strlen(text);
        line = realloc(text, n + 2);
        if (!line) {
            free(text);
            return NULL;
        }
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
    return line;
}

int rpc_call(rpc_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result, int *code,
             cJSON **data, char *msg, size_t cap)
{
    long long id, deadline = deadline_of(timeout_ms);
    size_t len = 0;
    char *line;

    if (result)
        *result = NULL;
    if (code)
        *code = 0;
    if (data)
        *data = NULL;
    if (!c || !method) {
        cJSON_Delete(params);
        set_msg(msg, cap, "rpc_call: no connection or method");
        return -1;
    }
    if (c->broken) {
        cJSON_Delete(params);
        set_msg(msg, cap, "connection to mtd at %s lost", c->path);
        return -1;
    }
    id = c->next_id++;
    line = request_line(id, method, params, &len);
    if (!line) {
        set_msg(msg, cap, "out of memory");
        return -1;
    }
    if (len - 1 > RPC_REQUEST_MAX) {
        free(line);
        set_msg(msg, cap, "request too large (%zu bytes; mtd takes at most %u per request)", len - 1,
                RPC_REQUEST_MAX);
        return -1;
    }
    if (send_all(c, line, len, deadline, timeout_ms, msg, cap) < 0) {
        free(line);
        return -1;
    }
    free(line);
    for (;;) {
        cJSON *v;
        int rc = read_message(c, deadline, &v, msg, cap);
        if (rc == 0) {
            set_msg(msg, cap, "no answer from mtd within %d ms", timeout_ms);
            return -1;
        }
        if (rc < 0)
            return -1;
        if (!take_notification(c, v) && is_answer(v, id))
            rc = unpack_answer(c, v, result, code, data, msg, cap);
        else
            rc = 1; /* an event, or the late answer to a call that timed out */
        cJSON_Delete(v);
        if (rc <= 0)
            return rc;
    }
}

int rpc_next_event(rpc_client *c, int timeout_ms, cJSON **event, char *msg, size_t cap)
{
    long long deadline = deadline_of(timeout_ms);
    if (event)
        *event = NULL;
    if (!c || !event) {
        set_msg(msg, cap, "rpc_next_event: no connection");
        return -1;
    }
    for (;;) {
        cJSON *v;
        int rc;
        if (c->nevents > 0) {
            *event = cJSON_DetachItemFromArray(c->events, 0);
            c->nevents--;
            return 1;
        }
        if (c->broken) {
            set_msg(msg, cap, "connection to mtd at %s lost", c->path);
            return -1;
        }
        rc = read_message(c, deadline, &v, msg, cap);
        if (rc <= 0)
            return rc;
        take_notification(c, v); /* answers are not expected here: skipped */
        cJSON_Delete(v);
    }
}
