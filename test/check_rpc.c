/*
 * check_rpc.c - mtd's JSON-RPC server (mtd/rpc.c) and mtctl's client
 * (mtctl/rpc_client.c) talking over a real UNIX socket in a temp dir.
 *
 * The server runs in its own thread with a small method table (the
 * server API is single-threaded: only that thread touches it after
 * mtd_rpc_open). The test thread drives it with rpc_client or, for
 * malformed input, raw socket writes.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "rpc.h"
#include "rpc_client.h"

/* mtctl/keys.c (default_state_dir, used by rpc_socket_path) reports
 * errors through mtctl's fail(), which lives in mtctl/main.c with main().
 * This stands in for it; check.h's deprecated fail() macro goes first. */
#undef fail
#include "mtctl.h"

int fail(int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return exit_code;
}

#define T_WAIT 10000      /* ms: bounds hangs, times nothing */
#define T_QUIET 150       /* ms to wait for something that must not come */
#define T_HELD_MAX 16

/* ------------------------------------------------------- the server */

typedef struct t_server {
    mtd_rpc       *rpc;
    pthread_t      th;
    int            wake[2];                   /* written to stop the thread */
    mtd_rpc_ticket held[T_HELD_MAX];          /* "hold": until "release" */
    int            nheld;
    mtd_rpc_ticket next[T_HELD_MAX];          /* "defer": answered next turn */
    cJSON         *next_params[T_HELD_MAX];
    int            nnext;
} t_server;

static t_server g_srv;
static char g_dir[64];
static char g_sock[96];

static int m_echo(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)msg, (void)cap, (void)data;
    *result = cJSON_Duplicate(call->params, 1);
    return 0;
}

static int m_fail(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)call, (void)result;
    snprintf(msg, cap, "nothing here");
    *data = cJSON_CreateObject();
    cJSON_AddStringToObject(*data, "why", "test");
    return MTD_RPC_NOT_FOUND;
}

/* Defers and is answered on the server loop's next turn. Careless on
 * purpose: returns MTD_RPC_DEFERRED even when mtd_rpc_defer refused (in
 * a batch), so the server's guard against that is exercised. */
static int m_defer(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    t_server *s = ctx;
    (void)result, (void)msg, (void)cap, (void)data;
    if (s->nnext < T_HELD_MAX && mtd_rpc_defer(call, &s->next[s->nnext]) == 0)
        s->next_params[s->nnext++] = cJSON_Duplicate(call->params, 1);
    return MTD_RPC_DEFERRED;
}

/* Says it deferred without taking a ticket: a handler bug. */
static int m_nodefer(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)call, (void)result, (void)msg, (void)cap, (void)data;
    return MTD_RPC_DEFERRED;
}

static int m_hold(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    t_server *s = ctx;
    (void)result, (void)data;
    if (s->nheld >= T_HELD_MAX || mtd_rpc_defer(call, &s->held[s->nheld]) < 0) {
        snprintf(msg, cap, "cannot hold");
        return MTD_RPC_UNAVAILABLE;
    }
    s->nheld++;
    return MTD_RPC_DEFERRED;
}

static int m_release(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    t_server *s = ctx;
    int i, n = s->nheld;
    (void)msg, (void)cap, (void)data;
    for (i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddBoolToObject(r, "released", 1);
        mtd_rpc_reply(call->rpc, &s->held[i], r);
    }
    s->nheld = 0;
    *result = cJSON_CreateObject();
    cJSON_AddNumberToObject(*result, "count", n);
    return 0;
}

static int m_subscribe(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)result, (void)msg, (void)cap, (void)data;
    mtd_rpc_listen_events(call->rpc, call->conn_id);
    return 0;
}

static int m_emit(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)result, (void)msg, (void)cap, (void)data;
    mtd_rpc_broadcast(call->rpc, cJSON_Duplicate(call->params, 1));
    return 0;
}

static int m_clients(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)msg, (void)cap, (void)data;
    *result = cJSON_CreateObject();
    cJSON_AddNumberToObject(*result, "n", (double)mtd_rpc_clients(call->rpc));
    return 0;
}

static int m_whoami(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    (void)ctx, (void)msg, (void)cap, (void)data;
    *result = cJSON_CreateObject();
    cJSON_AddNumberToObject(*result, "conn", (double)call->conn_id);
    return 0;
}

/* Returns params.code (default 42): codes a handler must not return. */
static int m_badcode(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, cJSON **data)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(call->params, "code");
    (void)ctx, (void)msg, (void)cap;
    *result = cJSON_CreateObject(); /* must be freed, not sent */
    *data = cJSON_CreateString("dropped");
    return cJSON_IsNumber(code) ? code->valueint : 42;
}

static const mtd_rpc_method t_methods[] = {
    {"echo", m_echo},         {"fail", m_fail},       {"defer", m_defer},       {"nodefer", m_nodefer},
    {"hold", m_hold},         {"release", m_release}, {"subscribe", m_subscribe}, {"emit", m_emit},
    {"clients", m_clients},   {"whoami", m_whoami},   {"badcode", m_badcode},   {NULL, NULL}};

/* Answer the tickets "defer" took in an earlier turn. */
static void answer_deferred(t_server *s)
{
    int i;
    for (i = 0; i < s->nnext; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "deferred", s->next_params[i]);
        mtd_rpc_reply(s->rpc, &s->next[i], r);
    }
    s->nnext = 0;
}

/* The daemon's loop in miniature: pollfds, poll, deferred answers, dispatch. */
static void *server_main(void *arg)
{
    t_server *s = arg;
    for (;;) {
        struct pollfd fds[MTD_RPC_CLIENTS_MAX + 2];
        size_t n = 1;
        int pending = s->nnext > 0;
        fds[0].fd = s->wake[0];
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        mtd_rpc_pollfds(s->rpc, fds, sizeof fds / sizeof fds[0], &n);
        if (poll(fds, (nfds_t)n, pending ? 2 : 200) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (pending)
            answer_deferred(s);
        mtd_rpc_dispatch(s->rpc, fds + 1, n - 1);
    }
    answer_deferred(s);
    while (s->nheld > 0)
        mtd_rpc_reply(s->rpc, &s->held[--s->nheld], NULL);
    return NULL;
}

static void server_start(void)
{
    char msg[256];
    int rc;
    memset(&g_srv, 0, sizeof g_srv);
    rc = mtd_rpc_open(g_sock, t_methods, &g_srv, &g_srv.rpc, msg, sizeof msg);
    ck_assert_msg(rc == 0, "mtd_rpc_open: %s", msg);
    ck_assert(pipe(g_srv.wake) == 0);
    ck_assert(pthread_create(&g_srv.th, NULL, server_main, &g_srv) == 0);
}

static void server_stop(void)
{
    ck_assert(write(g_srv.wake[1], "x", 1) == 1);
    ck_assert(pthread_join(g_srv.th, NULL) == 0);
    mtd_rpc_close(g_srv.rpc);
    close(g_srv.wake[0]);
    close(g_srv.wake[1]);
}

/* Fixture: a temp dir, umask 022 (so a socket made without care would be
 * 0755), a running server on DIR/mtd.sock. */
static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/mt-rpc-XXXXXX");
    ck_assert(mkdtemp(g_dir) != NULL);
    snprintf(g_sock, sizeof g_sock, "%s/mtd.sock", g_dir);
    umask(022);
    server_start();
}

static void teardown(void)
{
    char p[160];
    server_stop();
    ck_assert_msg(access(g_sock, F_OK) != 0, "mtd_rpc_close left the socket file");
    snprintf(p, sizeof p, "%s/other", g_dir);
    unlink(p);
    ck_assert(rmdir(g_dir) == 0);
}

/* ---------------------------------------------------- raw clients */

typedef struct t_raw {
    int    fd;
    char  *buf;
    size_t len, cap;
    int    eof;   /* EOF or reset seen */
} t_raw;

static void raw_open(t_raw *r)
{
    struct sockaddr_un sa;
    memset(r, 0, sizeof *r);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_sock);
    r->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert(r->fd >= 0);
    ck_assert_msg(connect(r->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
}

static void raw_close(t_raw *r)
{
    close(r->fd);
    free(r->buf);
    r->buf = NULL;
}

static void raw_send_n(t_raw *r, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(r->fd, data, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

static void raw_send(t_raw *r, const char *text)
{
    raw_send_n(r, text, strlen(text));
}

/* The next line (malloc'd, no newline) within ms, or NULL on timeout or
 * EOF (r->eof tells which). */
static char *raw_line(t_raw *r, int ms)
{
    for (;;) {
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        struct pollfd p;
        ssize_t n;
        if (nl) {
            size_t k = (size_t)(nl - r->buf);
            char *line = malloc(k + 1);
            ck_assert(line != NULL);
            memcpy(line, r->buf, k);
            line[k] = '\0';
            memmove(r->buf, nl + 1, r->len - k - 1);
            r->len -= k + 1;
            return line;
        }
        if (r->eof)
            return NULL;
        p.fd = r->fd;
        p.events = POLLIN;
        if (poll(&p, 1, ms) <= 0)
            return NULL;
        if (r->len == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4096;
            r->buf = realloc(r->buf, r->cap);
            ck_assert(r->buf != NULL);
        }
        n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n <= 0)
            r->eof = 1; /* EOF, or ECONNRESET after the server closed on unread bytes */
        else
            r->len += (size_t)n;
    }
}

/* The next line, parsed; fails the test if none comes. */
static cJSON *raw_json(t_raw *r)
{
    char *line = raw_line(r, T_WAIT);
    cJSON *v;
    ck_assert_msg(line != NULL, "no answer line (%s)", r->eof ? "connection closed" : "timeout");
    v = cJSON_Parse(line);
    ck_assert_msg(v != NULL, "answer is not JSON: %.200s", line);
    free(line);
    return v;
}

/* v is {"jsonrpc":"2.0","id":<id_json>,"error":{"code":code,...}} and has
 * no "result". id_json is compared as JSON text ("null", "1", "\"s\""). */
static void check_error(const cJSON *v, const char *id_json, int code)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(v, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
    char *id = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(v, "id"));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(v, "jsonrpc")->valuestring, "2.0");
    ck_assert_msg(id && strcmp(id, id_json) == 0, "id %s, expected %s", id ? id : "(absent)", id_json);
    free(id);
    ck_assert_msg(cJSON_IsNumber(c) && c->valueint == code, "code %d, expected %d",
                  cJSON_IsNumber(c) ? c->valueint : 0, code);
    ck_assert(cJSON_IsString(m) && m->valuestring[0]);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(v, "result"));
}

/* Send line, expect one error answer with that id and code. */
static void raw_expect_error(t_raw *r, const char *line, const char *id_json, int code)
{
    cJSON *v;
    raw_send(r, line);
    v = raw_json(r);
    check_error(v, id_json, code);
    cJSON_Delete(v);
}

/* The answer to an echo of {"n":n} with id n is next in line. */
static void raw_echo_ok(t_raw *r, int n)
{
    char line[128];
    cJSON *v;
    snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\",\"params\":{\"n\":%d}}\n", n, n);
    raw_send(r, line);
    v = raw_json(r);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valueint, n);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "result"), "n")->valueint,
                     n);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(v, "error"));
    cJSON_Delete(v);
}

/* Nothing arrives for T_QUIET ms. */
static void raw_quiet(t_raw *r)
{
    char *line = raw_line(r, T_QUIET);
    ck_assert_msg(line == NULL, "unexpected line: %.200s", line ? line : "");
}

/* The server closes r within T_WAIT (any lines before are dropped). */
static void raw_expect_closed(t_raw *r)
{
    int i;
    for (i = 0; i < 100000 && !r->eof; i++) {
        char *line = raw_line(r, T_WAIT);
        if (!line)
            break;
        free(line);
    }
    ck_assert_msg(r->eof, "the server did not close the connection");
}

/* ---------------------------------------------------- rpc_client */

static rpc_client *cli_open(void)
{
    rpc_client *c = NULL;
    char msg[256];
    ck_assert_msg(rpc_connect(g_sock, &c, msg, sizeof msg) == 0, "rpc_connect: %s", msg);
    return c;
}

/* Call and expect success; returns the result (caller frees). */
static cJSON *cli_ok(rpc_client *c, const char *method, cJSON *params)
{
    cJSON *result = NULL, *data = NULL;
    char msg[256];
    int code = 0, rc = rpc_call(c, method, params, T_WAIT, &result, &code, &data, msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s: rc %d code %d: %s", method, rc, code, msg);
    ck_assert_ptr_nonnull(result);
    ck_assert_ptr_null(data);
    return result;
}

static double cli_num(rpc_client *c, const char *method, const char *member)
{
    cJSON *r = cli_ok(c, method, NULL);
    double d = cJSON_GetObjectItemCaseSensitive(r, member)->valuedouble;
    cJSON_Delete(r);
    return d;
}

/* Wait until the server counts n clients (closing is seen a turn later). */
static void cli_wait_clients(rpc_client *c, int n)
{
    int i, got = -1;
    for (i = 0; i < 500; i++) {
        got = (int)cli_num(c, "clients", "n");
        if (got == n)
            return;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    ck_abort_msg("server has %d clients, expected %d", got, n);
}

/* ---------------------------------------------------------- tests */

START_TEST(echo_round_trip)
{
    rpc_client *c = cli_open();
    cJSON *p = cJSON_Parse("{\"a\":1,\"s\":\"h\xc3\xa9llo\",\"l\":[true,null,{\"x\":-2.5}]}");
    cJSON *want = cJSON_Duplicate(p, 1), *r;
    r = cli_ok(c, "echo", p);
    ck_assert(cJSON_Compare(r, want, 1));
    cJSON_Delete(r);
    cJSON_Delete(want);
    /* Absent params arrive as {}; the connection serves call after call. */
    r = cli_ok(c, "echo", NULL);
    ck_assert(cJSON_IsObject(r) && r->child == NULL);
    cJSON_Delete(r);
    ck_assert_int_eq((int)cli_num(c, "clients", "n"), 1);
    rpc_close(c);
}
END_TEST

START_TEST(client_error_and_data)
{
    rpc_client *c = cli_open();
    cJSON *result = (cJSON *)1, *data = NULL;
    char msg[256];
    int code = 0;
    ck_assert_int_eq(rpc_call(c, "fail", NULL, T_WAIT, &result, &code, &data, msg, sizeof msg), -2);
    ck_assert_ptr_null(result);
    ck_assert_int_eq(code, MTD_RPC_NOT_FOUND);
    ck_assert_str_eq(msg, "nothing here");
    ck_assert_ptr_nonnull(data);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(data, "why")->valuestring, "test");
    cJSON_Delete(data);
    ck_assert_int_eq(rpc_call(c, "no.such", NULL, T_WAIT, &result, &code, NULL, msg, sizeof msg), -2);
    ck_assert_int_eq(code, MTD_RPC_METHOD_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(msg, "no.such"));
    rpc_close(c);
}
END_TEST

START_TEST(malformed_json_keeps_connection)
{
    t_raw r;
    raw_open(&r);
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n", "null", MTD_RPC_PARSE_ERROR);
    raw_echo_ok(&r, 2);
    /* Trailing garbage after a complete request. */
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"} x\n", "null", MTD_RPC_PARSE_ERROR);
    /* A NUL would end the text for cJSON; other control bytes are not JSON. */
    {
        static const char nul_line[] = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\"}\0{\n";
        raw_send_n(&r, nul_line, sizeof nul_line - 1);
    }
    {
        cJSON *v = raw_json(&r);
        check_error(v, "null", MTD_RPC_PARSE_ERROR);
        cJSON_Delete(v);
    }
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}\x01\n", "null", MTD_RPC_PARSE_ERROR);
    /* Blank lines and CRLF are fine. */
    raw_send(&r, "\n  \r\n");
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":{\"n\":6}}\r\n");
    {
        cJSON *v = raw_json(&r);
        ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valueint, 6);
        cJSON_Delete(v);
    }
    raw_echo_ok(&r, 7);
    raw_close(&r);
}
END_TEST

START_TEST(invalid_requests)
{
    static const struct {
        const char *line, *id;
        int code;
    } cases[] = {
        {"1", "null", MTD_RPC_INVALID_REQUEST},
        {"\"x\"", "null", MTD_RPC_INVALID_REQUEST},
        {"null", "null", MTD_RPC_INVALID_REQUEST},
        {"{\"id\":1,\"method\":\"echo\"}", "1", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"echo\"}", "2", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":2.0,\"id\":3,\"method\":\"echo\"}", "3", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":5}", "4", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":5}", "5", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":[1,2]}", "6", MTD_RPC_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":\"x\"}", "7", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"echo\"}", "null", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"echo\"}", "null", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1e300,\"method\":\"echo\"}", "null", MTD_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"nope\"}", "\"s\"", MTD_RPC_METHOD_NOT_FOUND},
        /* Not a valid request, so not known to be a notification: answered. */
        {"{\"jsonrpc\":\"1.0\",\"method\":\"echo\"}", "null", MTD_RPC_INVALID_REQUEST},
        /* Handlers returning codes outside the JSON-RPC ranges, or
         * deferring without a ticket, give -32603. */
        {"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"badcode\"}", "8", MTD_RPC_INTERNAL_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"badcode\",\"params\":{\"code\":-5}}", "9",
         MTD_RPC_INTERNAL_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"badcode\",\"params\":{\"code\":-32700}}", "10",
         MTD_RPC_INTERNAL_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"nodefer\"}", "11", MTD_RPC_INTERNAL_ERROR},
    };
    t_raw r;
    size_t i;
    char line[256];
    raw_open(&r);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *v;
        snprintf(line, sizeof line, "%s\n", cases[i].line);
        raw_send(&r, line);
        v = raw_json(&r);
        check_error(v, cases[i].id, cases[i].code);
        cJSON_Delete(v);
    }
    /* A handler's own -32xxx server code and data pass through. */
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"fail\"}\n");
    {
        cJSON *v = raw_json(&r);
        check_error(v, "12", MTD_RPC_NOT_FOUND);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "error"), "data"),
                             "why")
                             ->valuestring,
                         "test");
        cJSON_Delete(v);
    }
    raw_echo_ok(&r, 13);
    raw_close(&r);
}
END_TEST

START_TEST(notifications_get_no_reply)
{
    t_raw r;
    raw_open(&r);
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":1}}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"badcode\"}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}\n");
    raw_echo_ok(&r, 20); /* the next line is the answer to this, nothing before */
    raw_quiet(&r);
    raw_close(&r);
}
END_TEST

START_TEST(batches)
{
    t_raw r;
    cJSON *v, *e;
    char big[16384];
    size_t n, i;
    raw_open(&r);
    raw_send(&r, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":1}},"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
                 "{\"foo\":\"bar\"}, 5,"
                 "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"},"
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"fail\"},"
                 "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\",\"params\":[]}]\n");
    v = raw_json(&r);
    ck_assert(cJSON_IsArray(v));
    ck_assert_int_eq(cJSON_GetArraySize(v), 6);
    e = cJSON_GetArrayItem(v, 0);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(e, "id")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "result"), "a")->valueint,
                     1);
    check_error(cJSON_GetArrayItem(v, 1), "null", MTD_RPC_INVALID_REQUEST);
    check_error(cJSON_GetArrayItem(v, 2), "null", MTD_RPC_INVALID_REQUEST);
    check_error(cJSON_GetArrayItem(v, 3), "\"x\"", MTD_RPC_METHOD_NOT_FOUND);
    check_error(cJSON_GetArrayItem(v, 4), "3", MTD_RPC_NOT_FOUND);
    check_error(cJSON_GetArrayItem(v, 5), "4", MTD_RPC_INVALID_PARAMS);
    cJSON_Delete(v);

    /* Empty and oversized batches are one -32600, not an array. */
    raw_expect_error(&r, "[]\n", "null", MTD_RPC_INVALID_REQUEST);
    n = (size_t)snprintf(big, sizeof big, "[");
    for (i = 0; i < MTD_RPC_BATCH_MAX + 1; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"echo\"}",
                              i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]\n");
    raw_expect_error(&r, big, "null", MTD_RPC_INVALID_REQUEST);
    /* Exactly MTD_RPC_BATCH_MAX is fine. */
    n = (size_t)snprintf(big, sizeof big, "[");
    for (i = 0; i < MTD_RPC_BATCH_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"echo\"}",
                              i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]\n");
    raw_send(&r, big);
    v = raw_json(&r);
    ck_assert_int_eq(cJSON_GetArraySize(v), MTD_RPC_BATCH_MAX);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(v, 63), "id")->valueint, 63);
    cJSON_Delete(v);

    /* Only notifications: no answer at all. */
    raw_send(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}]\n");
    raw_echo_ok(&r, 30);

    /* Deferring is refused inside a batch: that element is -32603, the
     * rest are answered, and no late answer follows. */
    raw_send(&r, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"defer\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}]\n");
    v = raw_json(&r);
    ck_assert_int_eq(cJSON_GetArraySize(v), 2);
    check_error(cJSON_GetArrayItem(v, 0), "1", MTD_RPC_INTERNAL_ERROR);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(
                                     cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(v, 0), "error"), "message")
                                     ->valuestring,
                                 "batch"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(v, 1), "result"));
    cJSON_Delete(v);
    raw_quiet(&r);
    raw_echo_ok(&r, 31);
    raw_close(&r);
}
END_TEST

/* "{...echo {"s":"xxx"}}" padded to exactly len bytes plus "\n" (malloc'd);
 * *slen gets the length of the string s. */
static char *padded_echo(size_t len, size_t *slen)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"s\":\"";
    static const char tail[] = "\"}}";
    char *line = malloc(len + 2);
    ck_assert(line != NULL && len > sizeof head + sizeof tail);
    memcpy(line, head, sizeof head - 1);
    memset(line + sizeof head - 1, 'x', len - (sizeof head - 1) - (sizeof tail - 1));
    memcpy(line + len - (sizeof tail - 1), tail, sizeof tail - 1);
    line[len] = '\n';
    line[len + 1] = '\0';
    *slen = len - (sizeof head - 1) - (sizeof tail - 1);
    return line;
}

START_TEST(line_limit_boundary)
{
    t_raw r;
    size_t slen = 0;
    char *line = padded_echo(MTD_RPC_LINE_MAX, &slen);
    cJSON *v;
    raw_open(&r);
    raw_send(&r, line); /* exactly the limit: served */
    v = raw_json(&r);
    ck_assert_uint_eq(strlen(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "result"), "s")
                                 ->valuestring),
                      slen);
    cJSON_Delete(v);
    free(line);
    line = padded_echo(MTD_RPC_LINE_MAX + 1, &slen); /* one byte over */
    raw_send_n(&r, line, MTD_RPC_LINE_MAX + 1);
    v = raw_json(&r);
    check_error(v, "null", MTD_RPC_INVALID_REQUEST);
    cJSON_Delete(v);
    raw_expect_closed(&r);
    free(line);
    raw_close(&r);
}
END_TEST

START_TEST(overlong_line_closes_only_that_client)
{
    rpc_client *other = cli_open();
    t_raw r;
    char *junk = malloc(MTD_RPC_LINE_MAX + 1);
    cJSON *v;
    ck_assert(junk != NULL);
    memset(junk, 'x', MTD_RPC_LINE_MAX + 1);
    raw_open(&r);
    /* A good request first, in the same stream: it is still answered. */
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"n\":1}}\n");
    raw_send_n(&r, junk, MTD_RPC_LINE_MAX + 1);
    v = raw_json(&r);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valueint, 1);
    cJSON_Delete(v);
    v = raw_json(&r);
    check_error(v, "null", MTD_RPC_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "error"),
                                                                  "message")
                                     ->valuestring,
                                 "1048576"));
    cJSON_Delete(v);
    raw_expect_closed(&r);
    raw_close(&r);
    free(junk);
    v = cli_ok(other, "echo", NULL);
    cJSON_Delete(v);
    cli_wait_clients(other, 1);
    rpc_close(other);
}
END_TEST

START_TEST(invalid_utf8)
{
    t_raw r;
    cJSON *v;
    raw_open(&r);
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"s\":\"\xc3\x28\"}}\n", "null",
                     MTD_RPC_PARSE_ERROR);
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":{\"s\":\"\xc0\xaf\"}}\n", "null",
                     MTD_RPC_PARSE_ERROR);
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"s\":\"\xed\xa0\x80\"}}\n",
                     "null", MTD_RPC_PARSE_ERROR);
    raw_expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ec\xff\"}\n", "null", MTD_RPC_PARSE_ERROR);
    /* Valid UTF-8 comes back byte for byte. */
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\",\"params\":{\"s\":\"h\xc3\xa9 \xf0\x9f\x98\x80\"}}\n");
    v = raw_json(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "result"), "s")->valuestring,
                     "h\xc3\xa9 \xf0\x9f\x98\x80");
    cJSON_Delete(v);
    raw_close(&r);
}
END_TEST

START_TEST(deferred_reply)
{
    rpc_client *c = cli_open();
    t_raw r;
    cJSON *v, *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "x", 7);
    v = cli_ok(c, "defer", p);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "deferred"), "x")->valueint,
                     7);
    cJSON_Delete(v);
    rpc_close(c);
    /* Pipelined: the deferred answer comes after the immediate one. */
    raw_open(&r);
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"defer\",\"params\":{\"y\":1}}\n"
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}\n");
    v = raw_json(&r);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valueint, 2);
    cJSON_Delete(v);
    v = raw_json(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valuestring, "d");
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(v, "result"));
    cJSON_Delete(v);
    /* A deferred notification is answered into the void. */
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"defer\"}\n");
    raw_echo_ok(&r, 3);
    raw_quiet(&r);
    raw_close(&r);
}
END_TEST

START_TEST(deferred_reply_to_gone_client)
{
    rpc_client *c = cli_open();
    t_raw gone, half;
    cJSON *v;
    char *line;
    raw_open(&gone);
    raw_send(&gone, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hold\"}\n");
    raw_open(&half);
    raw_send(&half, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"hold\"}\n");
    cli_wait_clients(c, 3);
    raw_close(&gone);
    /* Half-closed: still waits for its answer, so the server keeps it. */
    ck_assert(shutdown(half.fd, SHUT_WR) == 0);
    cli_wait_clients(c, 2);
    v = cli_ok(c, "release", NULL);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "count")->valueint, 2);
    cJSON_Delete(v);
    v = raw_json(&half);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "id")->valueint, 2);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "result"), "released")));
    cJSON_Delete(v);
    /* Answered: now the server closes it. */
    line = raw_line(&half, T_WAIT);
    ck_assert_ptr_null(line);
    ck_assert(half.eof);
    raw_close(&half);
    v = cli_ok(c, "echo", NULL);
    cJSON_Delete(v);
    cli_wait_clients(c, 1);
    rpc_close(c);
}
END_TEST

START_TEST(client_timeout_skips_late_answer)
{
    rpc_client *a = cli_open(), *b = cli_open();
    cJSON *result = NULL, *v, *p;
    char msg[256];
    int code = 0;
    ck_assert_int_eq(rpc_call(a, "hold", NULL, 200, &result, &code, NULL, msg, sizeof msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "no answer"));
    v = cli_ok(b, "release", NULL);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "count")->valueint, 1);
    cJSON_Delete(v);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "k", "v");
    v = cli_ok(a, "echo", p); /* not the late {"released":true} */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(v, "k")->valuestring, "v");
    cJSON_Delete(v);
    rpc_close(a);
    rpc_close(b);
}
END_TEST

START_TEST(events_only_to_listeners)
{
    rpc_client *l = cli_open(), *o = cli_open();
    cJSON *v, *ev = NULL, *p;
    char msg[256];
    v = cli_ok(l, "subscribe", NULL);
    cJSON_Delete(v);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "t.one");
    v = cli_ok(o, "emit", p);
    cJSON_Delete(v);
    ck_assert_int_eq(rpc_next_event(l, T_WAIT, &ev, msg, sizeof msg), 1);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ev, "type")->valuestring, "t.one");
    cJSON_Delete(ev);
    ck_assert_int_eq(rpc_next_event(o, T_QUIET, &ev, msg, sizeof msg), 0);
    ck_assert_ptr_null(ev);
    /* An event arriving while a call waits is queued, the call answered. */
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "t.two");
    v = cli_ok(l, "emit", p);
    ck_assert(cJSON_IsObject(v) && !v->child);
    cJSON_Delete(v);
    ck_assert_int_eq(rpc_next_event(l, 0, &ev, msg, sizeof msg), 1);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ev, "type")->valuestring, "t.two");
    cJSON_Delete(ev);
    ck_assert_int_eq(rpc_next_event(l, T_QUIET, &ev, msg, sizeof msg), 0);
    ck_assert_int_eq(rpc_next_event(o, 0, &ev, msg, sizeof msg), 0);
    rpc_close(l);
    rpc_close(o);
}
END_TEST

START_TEST(stalled_listener_is_dropped)
{
    rpc_client *c = cli_open();
    t_raw r;
    cJSON *v;
    char *s = malloc(512 * 1024 + 1);
    int i;
    ck_assert(s != NULL);
    memset(s, 'e', 512 * 1024);
    s[512 * 1024] = '\0';
    raw_open(&r);
    raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"}\n");
    v = raw_json(&r);
    cJSON_Delete(v);
    cli_wait_clients(c, 2);
    /* r reads nothing more: its unsent output passes MTD_RPC_OUT_MAX. */
    for (i = 0; i < 24; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "blob", s);
        v = cli_ok(c, "emit", p);
        cJSON_Delete(v);
    }
    cli_wait_clients(c, 1);
    raw_expect_closed(&r);
    raw_close(&r);
    free(s);
    rpc_close(c);
}
END_TEST

START_TEST(connection_ids_and_limit)
{
    t_raw raws[MTD_RPC_CLIENTS_MAX], extra;
    rpc_client *c = cli_open(), *d;
    double first, second;
    int i;
    first = cli_num(c, "whoami", "conn");
    d = cli_open();
    second = cli_num(d, "whoami", "conn");
    ck_assert(second > first);
    rpc_close(d);
    cli_wait_clients(c, 1);
    d = cli_open();
    ck_assert(cli_num(d, "whoami", "conn") > second); /* never reused */
    rpc_close(d);
    cli_wait_clients(c, 1);
    for (i = 0; i < MTD_RPC_CLIENTS_MAX - 1; i++)
        raw_open(&raws[i]);
    cli_wait_clients(c, MTD_RPC_CLIENTS_MAX);
    raw_open(&extra); /* one too many: told and closed */
    {
        cJSON *v = raw_json(&extra);
        check_error(v, "null", MTD_RPC_UNAVAILABLE);
        cJSON_Delete(v);
    }
    raw_expect_closed(&extra);
    raw_close(&extra);
    raw_echo_ok(&raws[MTD_RPC_CLIENTS_MAX - 2], 5);
    raw_close(&raws[0]);
    cli_wait_clients(c, MTD_RPC_CLIENTS_MAX - 1);
    raw_open(&raws[0]);
    raw_echo_ok(&raws[0], 6);
    for (i = 0; i < MTD_RPC_CLIENTS_MAX - 1; i++)
        raw_close(&raws[i]);
    cli_wait_clients(c, 1);
    rpc_close(c);
}
END_TEST

START_TEST(socket_mode_0600)
{
    struct stat st;
    ck_assert(lstat(g_sock, &st) == 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(umask(022), 022); /* restored after bind */
}
END_TEST

START_TEST(second_server_refused)
{
    mtd_rpc *two = (mtd_rpc *)1;
    struct stat before, after;
    rpc_client *c;
    cJSON *v;
    char msg[256];
    ck_assert(lstat(g_sock, &before) == 0);
    ck_assert_int_eq(mtd_rpc_open(g_sock, t_methods, NULL, &two, msg, sizeof msg), -1);
    ck_assert_ptr_null(two);
    ck_assert_msg(strstr(msg, "already running") && strstr(msg, g_sock), "msg: %s", msg);
    ck_assert(lstat(g_sock, &after) == 0);
    ck_assert_uint_eq(before.st_ino, after.st_ino);
    c = cli_open(); /* the first still serves */
    v = cli_ok(c, "echo", NULL);
    cJSON_Delete(v);
    rpc_close(c);
}
END_TEST

START_TEST(stale_socket_replaced)
{
    struct sockaddr_un sa;
    mtd_rpc *two = NULL;
    char path[96], msg[256];
    int fd;
    FILE *f;
    snprintf(path, sizeof path, "%s/other", g_dir);
    /* A socket file nobody listens on: what a crashed mtd leaves. */
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    close(fd);
    ck_assert(access(path, F_OK) == 0);
    ck_assert_msg(mtd_rpc_open(path, t_methods, NULL, &two, msg, sizeof msg) == 0, "open: %s", msg);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0); /* listening again */
    close(fd);
    mtd_rpc_close(two);
    ck_assert(access(path, F_OK) != 0);
    /* Anything else at the path is left alone. */
    f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs("keep me\n", f);
    fclose(f);
    two = (mtd_rpc *)1;
    ck_assert_int_eq(mtd_rpc_open(path, t_methods, NULL, &two, msg, sizeof msg), -1);
    ck_assert_ptr_null(two);
    ck_assert_msg(strstr(msg, "not a socket") != NULL, "msg: %s", msg);
    ck_assert(access(path, F_OK) == 0);
    ck_assert(unlink(path) == 0);
}
END_TEST

/* mtd_rpc_parse_line on a C string. */
static int t_parse(const char *text, cJSON **req)
{
    char msg[256];
    int rc = mtd_rpc_parse_line(text, strlen(text), req, msg, sizeof msg);
    ck_assert_msg(rc == 0 || msg[0], "no message for <%s>", text);
    return rc;
}

START_TEST(parse_and_check_units)
{
    cJSON *req = (cJSON *)1;
    char msg[256];
    ck_assert_int_eq(mtd_rpc_parse_line("{\"a\":1}", 7, &req, msg, sizeof msg), 0);
    ck_assert(cJSON_IsObject(req));
    ck_assert_int_eq(mtd_rpc_check_request(req, msg, sizeof msg), MTD_RPC_INVALID_REQUEST);
    cJSON_Delete(req);
    /* Only the given length counts: what follows is not read. */
    ck_assert_int_eq(mtd_rpc_parse_line(" [1] garbage", 4, &req, msg, sizeof msg), 0);
    ck_assert(cJSON_IsArray(req));
    cJSON_Delete(req);
    ck_assert_int_eq(mtd_rpc_parse_line("[1] x", 5, &req, msg, sizeof msg), MTD_RPC_PARSE_ERROR);
    ck_assert_ptr_null(req);
    ck_assert_int_eq(mtd_rpc_parse_line("{}\0{}", 5, &req, msg, sizeof msg), MTD_RPC_PARSE_ERROR);
    ck_assert_int_eq(mtd_rpc_parse_line("", 0, &req, msg, sizeof msg), MTD_RPC_PARSE_ERROR);
    ck_assert_int_eq(mtd_rpc_parse_line("true", 4, &req, msg, sizeof msg), MTD_RPC_INVALID_REQUEST);
    ck_assert_int_eq(mtd_rpc_parse_line("{}", MTD_RPC_LINE_MAX + 1, &req, msg, sizeof msg), MTD_RPC_INVALID_REQUEST);
    ck_assert_ptr_null(req);
    ck_assert_int_eq(t_parse("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":null}", &req), 0);
    ck_assert_int_eq(mtd_rpc_check_request(req, msg, sizeof msg), 0);
    cJSON_Delete(req);
    ck_assert_int_eq(t_parse("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":9007199254740991}", &req), 0);
    ck_assert_int_eq(mtd_rpc_check_request(req, msg, sizeof msg), 0);
    cJSON_Delete(req);
    ck_assert_int_eq(t_parse("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}", &req), 0);
    ck_assert_int_eq(mtd_rpc_check_request(req, msg, sizeof msg), MTD_RPC_INVALID_REQUEST);
    cJSON_Delete(req);
    ck_assert_int_eq(mtd_rpc_check_request(NULL, msg, sizeof msg), MTD_RPC_INVALID_REQUEST);
}
END_TEST

START_TEST(socket_path_and_connect_errors)
{
    char buf[256], msg[512], longp[200];
    rpc_client *c = (rpc_client *)1;
    setenv("MT_SOCKET", "/env/mtd.sock", 1);
    setenv("MT_STATE_DIR", "/state", 1);
    ck_assert_int_eq(rpc_socket_path("/opt/s.sock", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/opt/s.sock");
    ck_assert_int_eq(rpc_socket_path(NULL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/env/mtd.sock");
    ck_assert_int_eq(rpc_socket_path("", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/env/mtd.sock");
    unsetenv("MT_SOCKET");
    ck_assert_int_eq(rpc_socket_path(NULL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/state/mtd.sock");
    ck_assert_int_eq(rpc_socket_path(NULL, buf, 10), -1);
    unsetenv("MT_STATE_DIR");

    ck_assert_int_eq(rpc_connect("/nonexistent/mtd.sock", &c, msg, sizeof msg), -1);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(msg, "cannot connect to mtd at /nonexistent/mtd.sock: ") == msg, "msg: %s", msg);
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    ck_assert_int_eq(rpc_connect(longp, &c, msg, sizeof msg), -1);
}
END_TEST

START_TEST(client_sees_server_go)
{
    rpc_client *c = cli_open();
    cJSON *v = NULL, *ev = NULL;
    char msg[256];
    int code;
    v = cli_ok(c, "echo", NULL);
    cJSON_Delete(v);
    server_stop();
    ck_assert_int_eq(rpc_call(c, "echo", NULL, T_WAIT, &v, &code, NULL, msg, sizeof msg), -1);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(rpc_next_event(c, T_QUIET, &ev, msg, sizeof msg), -1);
    rpc_close(c);
    server_start(); /* for teardown */
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *srv = tcase_create("server");
    TCase *unit = tcase_create("units");
    tcase_add_checked_fixture(srv, setup, teardown);
    tcase_set_timeout(srv, 60);
    tcase_add_test(srv, echo_round_trip);
    tcase_add_test(srv, client_error_and_data);
    tcase_add_test(srv, malformed_json_keeps_connection);
    tcase_add_test(srv, invalid_requests);
    tcase_add_test(srv, notifications_get_no_reply);
    tcase_add_test(srv, batches);
    tcase_add_test(srv, line_limit_boundary);
    tcase_add_test(srv, overlong_line_closes_only_that_client);
    tcase_add_test(srv, invalid_utf8);
    tcase_add_test(srv, deferred_reply);
    tcase_add_test(srv, deferred_reply_to_gone_client);
    tcase_add_test(srv, client_timeout_skips_late_answer);
    tcase_add_test(srv, events_only_to_listeners);
    tcase_add_test(srv, stalled_listener_is_dropped);
    tcase_add_test(srv, connection_ids_and_limit);
    tcase_add_test(srv, socket_mode_0600);
    tcase_add_test(srv, second_server_refused);
    tcase_add_test(srv, stale_socket_replaced);
    tcase_add_test(srv, client_sees_server_go);
    suite_add_tcase(s, srv);
    tcase_add_test(unit, parse_and_check_units);
    tcase_add_test(unit, socket_path_and_connect_errors);
    suite_add_tcase(s, unit);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rpc_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
