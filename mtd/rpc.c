/*
 * rpc.c - mtd's JSON-RPC 2.0 server (see rpc.h and doc/rpc.md).
 *
 * One listening UNIX stream socket and up to MTD_RPC_CLIENTS_MAX clients,
 * all non-blocking and driven by mtd's poll loop. Each client has a line
 * buffer for input and a byte buffer for output. A client that has to go
 * (I/O error, output over the cap) is "dropped": its socket is closed at
 * once and its struct is freed later, at a point where no caller up the
 * stack can still hold it (reap_conns, from mtd_rpc_pollfds and at the end
 * of mtd_rpc_dispatch).
 *
 * Nothing here prints: failures of mtd_rpc_open go back in msg, everything
 * else is answered to the client or ends its connection.
 */
#define _POSIX_C_SOURCE 200809L
#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mt_json.h"

#define RPC_READ_CHUNK    65536u       /* bytes per recv() */
#define RPC_READ_BUDGET   (2u << 20)   /* bytes read from one client per turn: no one starves the rest */
#define RPC_ACCEPT_BUDGET 16           /* connections accepted per turn */
#define RPC_BUF_KEEP      65536u       /* drained buffers larger than this are freed */
#define RPC_BUF_MIN       4096u
#define RPC_MSG_MAX       512          /* error messages */
#define RPC_BACKLOG       16

/* Stop reading a client's requests while this much of its output is
 * unsent: a client that pipelines without reading stalls instead of
 * growing its output to the cap and being dropped. */
#define RPC_OUT_PAUSE (MTD_RPC_OUT_MAX / 2)

/* Sent when even an error response cannot be built (out of memory). */
static const char oom_line[] =
    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\"}}\n";

typedef struct rpc_conn {
    uint64_t id;
    int      fd;        /* -1 once dropped; the struct waits for reap_conns */
    int      listener;  /* receives event notifications */
    int      eof;       /* the peer will send nothing more */
    int      closing;   /* after an overlong line: flush the error, then close */
    size_t   deferred;  /* tickets with an id not answered yet */
    char    *in;        /* in[0..in_len): received bytes not processed yet */
    size_t   in_len, in_cap;
    size_t   in_scan;   /* in[0..in_scan) is known to hold no newline */
    char    *out;       /* out[out_off..out_len): bytes not sent yet */
    size_t   out_off, out_len, out_cap;
} rpc_conn;

struct mtd_rpc {
    int                   lfd;
    char                  path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t                 dev;   /* our socket file, so close unlinks only it */
    ino_t                 ino;
    const mtd_rpc_method *methods;
    void                 *ctx;
    rpc_conn             *conns[MTD_RPC_CLIENTS_MAX];
    uint64_t              next_id;
    int                   accept_pause;  /* out of fds: leave the listener out of one poll */
    /* The handler call in progress, for mtd_rpc_defer(). */
    const mtd_rpc_call   *cur_call;
    int                   cur_batch;     /* inside a batch: deferring is refused */
    int                   cur_deferred;  /* the handler took a ticket */
};

/* ------------------------------------------------------------ helpers */

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* snprintf into the caller's msg, which may be NULL or empty. */
static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* Make msg printable as JSON: handlers may quote user bytes, and a cut
 * message may end inside a UTF-8 sequence. Non-ASCII is lost only when
 * the text is not valid UTF-8. */
static void clean_msg(char *msg)
{
    unsigned char *p;
    if (mt_json_utf8_valid(msg))
        return;
    for (p = (unsigned char *)msg; *p; p++)
        if (*p >= 0x80)
            *p = '?';
}

/* The standard text for a code, for handlers that gave no message. */
static const char *code_text(int code)
{
    switch (code) {
    case MTD_RPC_PARSE_ERROR: return "parse error";
    case MTD_RPC_INVALID_REQUEST: return "invalid request";
    case MTD_RPC_METHOD_NOT_FOUND: return "method not found";
    case MTD_RPC_INVALID_PARAMS: return "invalid params";
    case MTD_RPC_NOT_FOUND: return "not found";
    case MTD_RPC_EXISTS: return "already exists";
    case MTD_RPC_REFUSED: return "refused";
    case MTD_RPC_TIMEOUT: return "timed out";
    case MTD_RPC_UNAVAILABLE: return "unavailable";
    default: return "internal error";
    }
}

/* Codes a handler may return as an error: the call-level JSON-RPC codes
 * and the server range. Anything else is a bug, answered as -32603. */
static int handler_code_ok(int code)
{
    return (code >= MTD_RPC_INTERNAL_ERROR && code <= MTD_RPC_INVALID_REQUEST) ||
           (code >= -32099 && code <= -32000);
}

/* An id we can echo: a string, null, or an integer a double holds
 * exactly (cJSON prints numbers from doubles). NULL is "absent". */
static int id_ok(const cJSON *id)
{
    int64_t v;
    return !id || cJSON_IsString(id) || cJSON_IsNull(id) || mt_json_get_int(id, &v) == 0;
}

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* --------------------------------------------------- parse and check */

int mtd_rpc_parse_line(const char *line, size_t len, cJSON **req, char *msg, size_t cap)
{
    const char *end = NULL;
    char *copy;
    cJSON *v;
    size_t i;

    if (req)
        *req = NULL;
    if (!line || !req) {
        set_msg(msg, cap, "no request");
        return MTD_RPC_INTERNAL_ERROR;
    }
    if (len > MTD_RPC_LINE_MAX) {
        set_msg(msg, cap, "request line over %u bytes", MTD_RPC_LINE_MAX);
        return MTD_RPC_INVALID_REQUEST;
    }
    /* JSON allows no control characters but tab, CR and LF, and cJSON
     * would stop at a NUL and ignore what follows it. */
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') {
            set_msg(msg, cap, "byte %zu: control character 0x%02x", i, ch);
            return MTD_RPC_PARSE_ERROR;
        }
    }
    copy = malloc(len + 1);
    if (!copy) {
        set_msg(msg, cap, "out of memory");
        return MTD_RPC_INTERNAL_ERROR;
    }
    memcpy(copy, line, len);
    copy[len] = '\0';
    if (!mt_json_utf8_valid(copy)) {
        free(copy);
        set_msg(msg, cap, "the request is not valid UTF-8");
        return MTD_RPC_PARSE_ERROR;
    }
    /* The NUL is inside the length, so require_null_terminated refuses
     * anything but whitespace after the value. */
    v = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!v) {
        size_t at = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : len;
        free(copy);
        set_msg(msg, cap, "byte %zu: invalid JSON", at);
        return MTD_RPC_PARSE_ERROR;
    }
    free(copy);
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
        cJSON_Delete(v);
        set_msg(msg, cap, "a request must be an object or an array of them");
        return MTD_RPC_INVALID_REQUEST;
    }
    *req = v;
    return 0;
}

int mtd_rpc_check_request(const cJSON *req, char *msg, size_t cap)
{
    const cJSON *ver, *method, *params, *id;
    if (!cJSON_IsObject(req)) {
        set_msg(msg, cap, "a request must be an object");
        return MTD_RPC_INVALID_REQUEST;
    }
    ver = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
    if (!ver) {
        set_msg(msg, cap, "missing \"jsonrpc\": \"2.0\"");
        return MTD_RPC_INVALID_REQUEST;
    }
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        set_msg(msg, cap, "\"jsonrpc\" must be \"2.0\"");
        return MTD_RPC_INVALID_REQUEST;
    }
    method = cJSON_GetObjectItemCaseSensitive(req, "method");
    if (!cJSON_IsString(method)) {
        set_msg(msg, cap, method ? "\"method\" must be a string" : "missing \"method\"");
        return MTD_RPC_INVALID_REQUEST;
    }
    /* The id before params, so that a -32602 always has a usable id. */
    id = cJSON_GetObjectItemCaseSensitive(req, "id");
    if (!id_ok(id)) {
        set_msg(msg, cap, "\"id\" must be a string, an integer or null");
        return MTD_RPC_INVALID_REQUEST;
    }
    params = cJSON_GetObjectItemCaseSensitive(req, "params");
    if (cJSON_IsArray(params)) {
        set_msg(msg, cap, "\"params\" must be an object: methods take named parameters");
        return MTD_RPC_INVALID_PARAMS;
    }
    if (params && !cJSON_IsObject(params)) {
        set_msg(msg, cap, "\"params\" must be an object");
        return MTD_RPC_INVALID_REQUEST;
    }
    return 0;
}

/* ---------------------------------------------------------- responses */

/* {"jsonrpc":"2.0","id":id} with id copied (NULL: null). NULL on OOM. */
static cJSON *response_new(const cJSON *id)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *idc = id ? cJSON_Duplicate(id, 0) : cJSON_CreateNull();
    if (!r || !idc || !cJSON_AddStringToObject(r, "jsonrpc", "2.0") || !cJSON_AddItemToObject(r, "id", idc)) {
        cJSON_Delete(r);
        cJSON_Delete(idc);
        return NULL;
    }
    return r;
}

/* A result response; takes result (NULL means {}). NULL on OOM. */
static cJSON *result_response(const cJSON *id, cJSON *result)
{
    cJSON *r = response_new(id);
    if (!result)
        result = cJSON_CreateObject();
    if (!r || !result || !cJSON_AddItemToObject(r, "result", result)) {
        cJSON_Delete(r);
        cJSON_Delete(result);
        return NULL;
    }
    return r;
}

/* An error response; takes data (may be NULL). NULL on OOM. */
static cJSON *error_response(const cJSON *id, int code, const char *text, cJSON *data)
{
    cJSON *r = response_new(id), *e = cJSON_CreateObject();
    char buf[RPC_MSG_MAX];
    snprintf(buf, sizeof buf, "%s", text && text[0] ? text : code_text(code));
    clean_msg(buf);
    if (!r || !e || !cJSON_AddNumberToObject(e, "code", code) || !cJSON_AddStringToObject(e, "message", buf) ||
        (data && !cJSON_AddItemToObject(e, "data", data))) {
        cJSON_Delete(r);
        cJSON_Delete(e);
        cJSON_Delete(data);
        return NULL;
    }
    if (!cJSON_AddItemToObject(r, "error", e)) {
        cJSON_Delete(r);
        cJSON_Delete(e);
        return NULL;
    }
    return r;
}

/* v as one line: unformatted JSON plus "\n" (malloc'd), or NULL. */
static char *json_line(const cJSON *v, size_t *len)
{
    char *text = v ? cJSON_PrintUnformatted(v) : NULL, *line;
    size_t n;
    if (!text)
        return NULL;
    n = strlen(text);
    line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}

/* --------------------------------------------------------- connections */

/* End a connection now: close its socket, free its output. The struct
 * stays (callers up the stack may hold it) until reap_conns. */
static void conn_drop(rpc_conn *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    c->listener = 0;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

static size_t conn_pending(const rpc_conn *c)
{
    return c->out_len - c->out_off;
}

/* Send what is buffered until the socket would block; errors drop. */
static void conn_flush(rpc_conn *c)
{
    while (c->fd >= 0 && conn_pending(c) > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, conn_pending(c), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_drop(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->fd >= 0 && conn_pending(c) == 0) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > RPC_BUF_KEEP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
}

/* Make room for add more unsent bytes (compacting first). 0 or -1. */
static int conn_out_reserve(rpc_conn *c, size_t add)
{
    size_t need = conn_pending(c) + add, cap;
    char *p;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, conn_pending(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (need <= c->out_cap)
        return 0;
    for (cap = c->out_cap ? c->out_cap : RPC_BUF_MIN; cap < need; cap *= 2)
        ;
    p = realloc(c->out, cap);
    if (!p)
        return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

/* Queue bytes for the client, sending at once what the socket takes.
 * Unsent output over MTD_RPC_OUT_MAX drops the client. */
static void conn_write(rpc_conn *c, const char *data, size_t len)
{
    if (c->fd < 0)
        return;
    while (conn_pending(c) == 0 && len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_drop(c);
            if (c->fd < 0)
                return;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (len == 0)
        return;
    if (conn_pending(c) + len > MTD_RPC_OUT_MAX || conn_out_reserve(c, len) < 0) {
        conn_drop(c);
        return;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* Send a response (object or batch array; NULL = it could not be built)
 * and free it. A single response too big for the output cap becomes an
 * error, so the client hears why instead of being dropped. */
static void conn_send_json(rpc_conn *c, cJSON *v)
{
    size_t len = 0;
    char *line;
    if (c->fd < 0) {
        cJSON_Delete(v);
        return;
    }
    line = json_line(v, &len);
    if (line && len > MTD_RPC_OUT_MAX) {
        const cJSON *id = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "id") : NULL;
        char text[RPC_MSG_MAX];
        cJSON *e;
        snprintf(text, sizeof text, "response too large (%zu bytes, at most %u)", len, MTD_RPC_OUT_MAX);
        e = error_response(id, MTD_RPC_INTERNAL_ERROR, text, NULL);
        free(line);
        line = json_line(e, &len);
        cJSON_Delete(e);
    }
    cJSON_Delete(v);
    if (line)
        conn_write(c, line, len);
    else
        conn_write(c, oom_line, sizeof oom_line - 1);
    free(line);
}

static rpc_conn *find_conn(const mtd_rpc *rpc, uint64_t id)
{
    size_t i;
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++)
        if (rpc->conns[i] && rpc->conns[i]->id == id)
            return rpc->conns[i];
    return NULL;
}

/* Close a connection that has nothing more to do: after an overlong line
 * once the error is out, or after the peer's EOF once every answer it
 * waits for is out. */
static void conn_maybe_finish(rpc_conn *c)
{
    if (c->fd < 0 || conn_pending(c) > 0)
        return;
    if (c->closing || (c->eof && c->deferred == 0 && c->in_len == 0))
        conn_drop(c);
}

/* Free dropped connections; only at points where nothing holds one. */
static void reap_conns(mtd_rpc *rpc)
{
    size_t i;
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++) {
        rpc_conn *c = rpc->conns[i];
        if (c && c->fd < 0) {
            free(c->in);
            free(c);
            rpc->conns[i] = NULL;
        }
    }
}

/* ------------------------------------------------------------ requests */

static const mtd_rpc_method *find_method(const mtd_rpc *rpc, const char *name)
{
    const mtd_rpc_method *m;
    for (m = rpc->methods; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* Run a handler and turn what it returns into a response (NULL: none,
 * for notifications and deferred calls). The handler's result, data and
 * code are checked, so a buggy handler gives -32603, not a bad reply. */
static cJSON *call_method(mtd_rpc *rpc, rpc_conn *c, const mtd_rpc_method *m, const cJSON *req, int in_batch)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    cJSON *empty = NULL, *result = NULL, *data = NULL;
    char msg[RPC_MSG_MAX];
    mtd_rpc_call call;
    int rc;

    if (!params && !(params = empty = cJSON_CreateObject()))
        return id ? error_response(id, MTD_RPC_INTERNAL_ERROR, "out of memory", NULL) : NULL;
    call.rpc = rpc;
    call.conn_id = c->id;
    call.method = m->name;
    call.params = params;
    call.id = id;
    rpc->cur_call = &call;
    rpc->cur_batch = in_batch;
    rpc->cur_deferred = 0;
    msg[0] = '\0';
    rc = m->fn(rpc->ctx, &call, &result, msg, sizeof msg, &data);
    rpc->cur_call = NULL;
    msg[sizeof msg - 1] = '\0';
    cJSON_Delete(empty);

    if (rc == MTD_RPC_DEFERRED) {
        cJSON_Delete(result);
        cJSON_Delete(data);
        if (rpc->cur_deferred)
            return NULL;
        /* No ticket: nobody would ever answer. */
        result = data = NULL;
        rc = MTD_RPC_INTERNAL_ERROR;
        if (in_batch)
            snprintf(msg, sizeof msg, "method %s cannot be called in a batch; send it alone", m->name);
        else
            snprintf(msg, sizeof msg, "method %s deferred without a ticket", m->name);
    } else if (rc != 0 && !handler_code_ok(rc)) {
        snprintf(msg, sizeof msg, "method %s failed with invalid code %d", m->name, rc);
        rc = MTD_RPC_INTERNAL_ERROR;
        cJSON_Delete(data);
        data = NULL;
    }
    if (rc == 0) {
        cJSON_Delete(data);
        if (!id) {
            cJSON_Delete(result);
            return NULL;
        }
        return result_response(id, result);
    }
    cJSON_Delete(result);
    if (!id) {
        cJSON_Delete(data);
        return NULL;
    }
    return error_response(id, rc, msg, data);
}

/*
 * One request object (or a batch element). Errors of a notification are
 * not reported, except -32600: a request that is not a valid request
 * object cannot be known to be a notification, so it is answered (with
 * id null when its id is unusable), as JSON-RPC 2.0 specifies.
 */
static cJSON *handle_one(mtd_rpc *rpc, rpc_conn *c, const cJSON *req, int in_batch)
{
    const cJSON *id = cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, "id") : NULL;
    const mtd_rpc_method *m;
    const char *name;
    char msg[RPC_MSG_MAX];
    int rc;

    rc = mtd_rpc_check_request(req, msg, sizeof msg);
    if (rc == MTD_RPC_INVALID_REQUEST)
        return error_response(id_ok(id) ? id : NULL, rc, msg, NULL);
    if (rc != 0)
        return id ? error_response(id, rc, msg, NULL) : NULL;
    name = cJSON_GetObjectItemCaseSensitive(req, "method")->valuestring;
    m = find_method(rpc, name);
    if (!m) {
        if (!id)
            return NULL;
        snprintf(msg, sizeof msg, "unknown method \"%.64s\"", name);
        return error_response(id, MTD_RPC_METHOD_NOT_FOUND, msg, NULL);
    }
    return call_method(rpc, c, m, req, in_batch);
}

/* A batch: one array of the responses, or NULL if every element was a
 * notification. Deferring is refused inside a batch (see call_method). */
static cJSON *handle_batch(mtd_rpc *rpc, rpc_conn *c, const cJSON *req)
{
    const cJSON *el;
    cJSON *out;
    char msg[RPC_MSG_MAX];
    int n = cJSON_GetArraySize(req);

    if (n == 0)
        return error_response(NULL, MTD_RPC_INVALID_REQUEST, "empty batch", NULL);
    if (n > MTD_RPC_BATCH_MAX) {
        snprintf(msg, sizeof msg, "batch of %d requests; at most %d", n, MTD_RPC_BATCH_MAX);
        return error_response(NULL, MTD_RPC_INVALID_REQUEST, msg, NULL);
    }
    out = cJSON_CreateArray();
    if (!out)
        return NULL;
    cJSON_ArrayForEach(el, req) {
        cJSON *r = handle_one(rpc, c, el, 1);
        if (r && !cJSON_AddItemToArray(out, r))
            cJSON_Delete(r);
    }
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* One line from the client (without its newline). Blank lines are
 * ignored, so typing at the socket by hand is forgiving. */
static void process_line(mtd_rpc *rpc, rpc_conn *c, const char *line, size_t len)
{
    char msg[RPC_MSG_MAX];
    cJSON *req = NULL, *resp;
    size_t i;
    int rc;

    for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'); i++)
        ;
    if (i == len)
        return;
    rc = mtd_rpc_parse_line(line, len, &req, msg, sizeof msg);
    if (rc != 0) {
        conn_send_json(c, error_response(NULL, rc, msg, NULL));
        return;
    }
    if (cJSON_IsArray(req))
        resp = handle_batch(rpc, c, req);
    else
        resp = handle_one(rpc, c, req, 0);
    cJSON_Delete(req);
    if (resp)
        conn_send_json(c, resp);
}

/* A line over MTD_RPC_LINE_MAX: answer -32600, then close once it is
 * sent (the rest of the line cannot be framed). */
static void conn_overlong(rpc_conn *c)
{
    char text[RPC_MSG_MAX];
    snprintf(text, sizeof text, "request line over %u bytes", MTD_RPC_LINE_MAX);
    conn_send_json(c, error_response(NULL, MTD_RPC_INVALID_REQUEST, text, NULL));
    c->closing = 1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = c->in_scan = 0;
}

/*
 * Handle the complete lines in c's input buffer. Stops while too much
 * output is unsent (resumed after a flush). Then: a partial line that
 * is already over the limit is overlong; at EOF it is a last request.
 */
static void process_input(mtd_rpc *rpc, rpc_conn *c)
{
    size_t start = 0;
    int stalled = 0;

    while (c->fd >= 0 && !c->closing) {
        char *nl;
        if (conn_pending(c) > RPC_OUT_PAUSE) {
            stalled = 1;
            break;
        }
        nl = memchr(c->in + c->in_scan, '\n', c->in_len - c->in_scan);
        if (!nl) {
            c->in_scan = c->in_len;
            break;
        }
        process_line(rpc, c, c->in + start, (size_t)(nl - c->in) - start);
        start = (size_t)(nl - c->in) + 1;
        c->in_scan = start;
    }
    if (c->fd < 0 || c->closing)
        return;
    if (start > 0) {
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        c->in_scan -= start;
    }
    if (stalled)
        return;
    if (c->in_len > MTD_RPC_LINE_MAX) {
        conn_overlong(c);
    } else if (c->eof && c->in_len > 0) {
        size_t n = c->in_len;
        c->in_len = c->in_scan = 0;
        process_line(rpc, c, c->in, n);
    }
    if (c->fd >= 0 && c->in_len == 0 && c->in_cap > RPC_BUF_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Whether to poll c for input now. */
static int conn_wants_input(const rpc_conn *c)
{
    return c->fd >= 0 && !c->eof && !c->closing && conn_pending(c) <= RPC_OUT_PAUSE;
}

/* Room to receive: grow the input buffer up to one line plus its newline. */
static int conn_in_reserve(rpc_conn *c)
{
    size_t cap;
    char *p;
    if (c->in_len < c->in_cap)
        return 0;
    cap = c->in_cap ? c->in_cap * 2 : RPC_BUF_MIN;
    if (cap > MTD_RPC_LINE_MAX + 1)
        cap = MTD_RPC_LINE_MAX + 1;
    if (cap <= c->in_cap)
        return -1; /* cannot happen: a full buffer is overlong */
    p = realloc(c->in, cap);
    if (!p)
        return -1;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* Read what c sent (up to a budget) and handle each complete line. */
static void conn_read(mtd_rpc *rpc, rpc_conn *c)
{
    size_t budget = RPC_READ_BUDGET;
    while (budget > 0 && conn_wants_input(c)) {
        size_t room;
        ssize_t n;
        if (conn_in_reserve(c) < 0) {
            conn_drop(c);
            return;
        }
        room = c->in_cap - c->in_len;
        if (room > RPC_READ_CHUNK)
            room = RPC_READ_CHUNK;
        n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_drop(c);
            return;
        }
        if (n == 0)
            c->eof = 1;
        c->in_len += (size_t)n;
        budget -= (size_t)n < budget ? (size_t)n : budget;
        process_input(rpc, c);
    }
}

/* Take new connections; past MTD_RPC_CLIENTS_MAX, tell them and close. */
static void accept_conns(mtd_rpc *rpc)
{
    static const char full[] =
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,\"message\":\"too many clients\"}}\n";
    int k;
    for (k = 0; k < RPC_ACCEPT_BUDGET; k++) {
        rpc_conn *c;
        size_t i;
        int fd = accept(rpc->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            /* The pending connection stays readable: without a pause the
             * loop would spin until an fd is free. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                rpc->accept_pause = 1;
            return;
        }
        if (set_nonblock_cloexec(fd) < 0) {
            close(fd);
            continue;
        }
        for (i = 0; i < MTD_RPC_CLIENTS_MAX && rpc->conns[i]; i++)
            ;
        c = i < MTD_RPC_CLIENTS_MAX ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            ssize_t ignored = send(fd, full, sizeof full - 1, MSG_NOSIGNAL);
            (void)ignored;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = rpc->next_id++;
        rpc->conns[i] = c;
    }
}

/* -------------------------------------------------------------- server */

/* Is someone serving path? 1 yes, 0 no (stale), -1 cannot tell (errno). */
static int socket_alive(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc, e;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    /* Non-blocking: a full backlog answers EAGAIN instead of hanging. */
    if (set_nonblock_cloexec(fd) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return 1;
    if (e == ECONNREFUSED || e == ENOENT)
        return 0;
    errno = e;
    return -1;
}

/* Clear the way for our socket: remove a stale one, refuse otherwise. */
static int prepare_path(const char *path, char *msg, size_t cap)
{
    struct stat st;
    int alive;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        set_msg(msg, cap, "cannot check %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_msg(msg, cap, "%s exists and is not a socket", path);
        return -1;
    }
    alive = socket_alive(path);
    if (alive > 0) {
        set_msg(msg, cap, "another mtd is already running on %s", path);
        return -1;
    }
    if (alive < 0) {
        set_msg(msg, cap, "cannot check %s: %s", path, strerror(errno));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        set_msg(msg, cap, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Socket, bind with mode 0600, listen. Returns the fd or -1 with msg. */
static int listen_on(mtd_rpc *rpc, char *msg, size_t cap)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int fd, rc, e;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, rpc->path, strlen(rpc->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || set_nonblock_cloexec(fd) < 0) {
        set_msg(msg, cap, "cannot create a socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* umask is process-wide, but only this short bind sees 077; it makes
     * the socket private from its first instant (chmod alone leaves a
     * window in which another user could connect). */
    old = umask(077);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    e = errno;
    umask(old);
    if (rc < 0) {
        set_msg(msg, cap, "cannot bind %s: %s", rpc->path, strerror(e));
        close(fd);
        return -1;
    }
    if (chmod(rpc->path, 0600) < 0 || lstat(rpc->path, &st) < 0 || listen(fd, RPC_BACKLOG) < 0) {
        set_msg(msg, cap, "cannot listen on %s: %s", rpc->path, strerror(errno));
        close(fd);
        unlink(rpc->path);
        return -1;
    }
    rpc->dev = st.st_dev;
    rpc->ino = st.st_ino;
    return fd;
}

int mtd_rpc_open(const char *path, const mtd_rpc_method *methods, void *ctx, mtd_rpc **out, char *msg, size_t cap)
{
    mtd_rpc *rpc;
    size_t len;

    if (out)
        *out = NULL;
    if (!path || !methods || !out) {
        set_msg(msg, cap, "mtd_rpc_open: missing argument");
        return -1;
    }
    len = strlen(path);
    if (len == 0 || len >= sizeof rpc->path) {
        set_msg(msg, cap, "socket path %s: must be 1 to %zu bytes", path, sizeof rpc->path - 1);
        return -1;
    }
    if (prepare_path(path, msg, cap) < 0)
        return -1;
    rpc = calloc(1, sizeof *rpc);
    if (!rpc) {
        set_msg(msg, cap, "out of memory");
        return -1;
    }
    memcpy(rpc->path, path, len + 1);
    rpc->methods = methods;
    rpc->ctx = ctx;
    rpc->next_id = 1; /* 0 never names a connection: a refused ticket has it */
    rpc->lfd = listen_on(rpc, msg, cap);
    if (rpc->lfd < 0) {
        free(rpc);
        return -1;
    }
    *out = rpc;
    return 0;
}

void mtd_rpc_close(mtd_rpc *rpc)
{
    struct stat st;
    size_t i;
    if (!rpc)
        return;
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++)
        if (rpc->conns[i])
            conn_drop(rpc->conns[i]);
    reap_conns(rpc);
    close(rpc->lfd);
    /* Only our own socket: a successor may already have replaced it. */
    if (lstat(rpc->path, &st) == 0 && st.st_dev == rpc->dev && st.st_ino == rpc->ino)
        unlink(rpc->path);
    free(rpc);
}

void mtd_rpc_pollfds(mtd_rpc *rpc, struct pollfd *fds, size_t cap, size_t *n)
{
    size_t i;
    if (!rpc || !fds || !n)
        return;
    reap_conns(rpc);
    if (rpc->accept_pause)
        rpc->accept_pause = 0;
    else if (*n < cap) {
        fds[*n].fd = rpc->lfd;
        fds[*n].events = POLLIN;
        fds[*n].revents = 0;
        (*n)++;
    }
    for (i = 0; i < MTD_RPC_CLIENTS_MAX && *n < cap; i++) {
        rpc_conn *c = rpc->conns[i];
        if (!c || c->fd < 0)
            continue;
        /* Listed even with no events, to hear POLLHUP. */
        fds[*n].fd = c->fd;
        fds[*n].events = (short)((conn_wants_input(c) ? POLLIN : 0) | (conn_pending(c) ? POLLOUT : 0));
        fds[*n].revents = 0;
        (*n)++;
    }
}

/* The revents poll reported for fd, or 0. */
static short revents_of(const struct pollfd *fds, size_t n, int fd)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (fds[i].fd == fd)
            return fds[i].revents;
    return 0;
}

/* One client's readiness: write, read and handle, notice hang-ups. */
static void conn_service(mtd_rpc *rpc, rpc_conn *c, short re)
{
    if (re & (POLLERR | POLLNVAL)) {
        conn_drop(c); /* a reset peer: nothing more can reach it */
        return;
    }
    if (re & POLLOUT)
        conn_flush(c);
    if (c->fd >= 0 && c->in_len > 0 && conn_pending(c) <= RPC_OUT_PAUSE)
        process_input(rpc, c); /* lines held back while output was stalled */
    if ((re & (POLLIN | POLLHUP)) && conn_wants_input(c))
        conn_read(rpc, c);
    else if ((re & POLLHUP) && c->fd >= 0)
        conn_drop(c); /* gone while we were not reading: answers cannot arrive */
    if (c->fd >= 0)
        conn_maybe_finish(c);
}

void mtd_rpc_dispatch(mtd_rpc *rpc, const struct pollfd *fds, size_t n)
{
    size_t i;
    short lre;
    if (!rpc || !fds)
        return;
    /* Clients first, then accept: a socket closed during this turn and a
     * new one given the same fd number cannot be mistaken for each other. */
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++) {
        rpc_conn *c = rpc->conns[i];
        short re;
        if (!c || c->fd < 0)
            continue;
        re = revents_of(fds, n, c->fd);
        if (re)
            conn_service(rpc, c, re);
    }
    reap_conns(rpc);
    lre = revents_of(fds, n, rpc->lfd);
    if (lre & POLLIN)
        accept_conns(rpc);
}

/* ------------------------------------------------- deferred, events */

int mtd_rpc_defer(const mtd_rpc_call *call, mtd_rpc_ticket *t)
{
    mtd_rpc *rpc = call ? call->rpc : NULL;
    rpc_conn *c;
    if (!t)
        return -1;
    t->conn_id = 0;
    t->id = NULL;
    if (!rpc || rpc->cur_call != call || rpc->cur_batch)
        return -1;
    if (call->id && !(t->id = cJSON_Duplicate(call->id, 0)))
        return -1;
    t->conn_id = call->conn_id;
    c = find_conn(rpc, call->conn_id);
    if (c && t->id)
        c->deferred++;
    rpc->cur_deferred = 1;
    return 0;
}

/* Release a ticket, sending resp (taken; NULL: nothing) if its client is
 * still there and waits for it. */
static void ticket_answer(mtd_rpc *rpc, mtd_rpc_ticket *t, cJSON *resp)
{
    rpc_conn *c = rpc && t->id && t->conn_id ? find_conn(rpc, t->conn_id) : NULL;
    if (c) {
        if (c->deferred > 0)
            c->deferred--;
        if (c->fd >= 0 && !c->closing && resp) {
            conn_send_json(c, resp);
            resp = NULL;
        }
        conn_maybe_finish(c);
    }
    cJSON_Delete(resp);
    cJSON_Delete(t->id);
    t->id = NULL;
    t->conn_id = 0;
}

void mtd_rpc_reply(mtd_rpc *rpc, mtd_rpc_ticket *t, cJSON *result)
{
    if (!t) {
        cJSON_Delete(result);
        return;
    }
    if (!t->id) { /* a notification, or a refused ticket: no answer */
        cJSON_Delete(result);
        ticket_answer(rpc, t, NULL);
        return;
    }
    ticket_answer(rpc, t, result_response(t->id, result));
}

void mtd_rpc_reply_error(mtd_rpc *rpc, mtd_rpc_ticket *t, int code, const char *msg)
{
    if (!t)
        return;
    if (!handler_code_ok(code))
        code = MTD_RPC_INTERNAL_ERROR;
    ticket_answer(rpc, t, t->id ? error_response(t->id, code, msg, NULL) : NULL);
}

void mtd_rpc_listen_events(mtd_rpc *rpc, uint64_t conn_id)
{
    rpc_conn *c = rpc ? find_conn(rpc, conn_id) : NULL;
    if (c && c->fd >= 0)
        c->listener = 1;
}

void mtd_rpc_broadcast(mtd_rpc *rpc, cJSON *event)
{
    cJSON *note;
    char *line;
    size_t len = 0, i;
    if (!rpc || !event) {
        cJSON_Delete(event);
        return;
    }
    note = cJSON_CreateObject();
    if (!note || !cJSON_AddStringToObject(note, "jsonrpc", "2.0") ||
        !cJSON_AddStringToObject(note, "method", "event") || !cJSON_AddItemToObject(note, "params", event)) {
        cJSON_Delete(note);
        cJSON_Delete(event);
        return;
    }
    line = json_line(note, &len);
    cJSON_Delete(note);
    if (!line)
        return;
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++) {
        rpc_conn *c = rpc->conns[i];
        if (c && c->fd >= 0 && c->listener && !c->closing)
            conn_write(c, line, len);
    }
    free(line);
}

size_t mtd_rpc_clients(const mtd_rpc *rpc)
{
    size_t i, n = 0;
    if (!rpc)
        return 0;
    for (i = 0; i < MTD_RPC_CLIENTS_MAX; i++)
        if (rpc->conns[i] && rpc->conns[i]->fd >= 0)
            n++;
    return n;
}
