/*
 * rpc.h - mtd's JSON-RPC 2.0 server on a UNIX stream socket.
 *
 * Framing: one JSON text per line ("\n"-terminated, UTF-8). Requests may
 * be single objects or batches (arrays). A line over MTD_RPC_LINE_MAX bytes
 * gets a -32600 error and the connection is closed; malformed JSON gets
 * -32700 with id null and the connection stays usable.
 *
 * The server never blocks: sockets are non-blocking, output is buffered per
 * connection, and a client whose unsent output passes MTD_RPC_OUT_MAX
 * (a stalled event listener) is disconnected. Single-threaded: every call
 * happens on mtd's event loop.
 *
 * Handlers answer at once (fill *result or an error) or defer: they return
 * MTD_RPC_DEFERRED after taking a ticket with mtd_rpc_defer(), and answer
 * later with mtd_rpc_reply()/mtd_rpc_reply_error(). A ticket whose client
 * went away is answered into the void, harmlessly.
 *
 * Details (rpc.c):
 *  - Blank lines are ignored. Control bytes other than tab/CR/LF, a NUL,
 *    invalid UTF-8 or anything after the JSON value give -32700.
 *  - Notifications (valid requests without "id") are never answered, not
 *    even their errors. A line that is not a valid request object (-32600)
 *    is answered even without an id, with id null when its id is unusable
 *    (not a string, null or an integer within +-(2^53-1)).
 *  - Batches: the answers come as one array line in request order; an
 *    empty or over-long batch is a single -32600 object; a batch of only
 *    notifications gets no line at all. Deferring is refused inside a
 *    batch (mtd_rpc_defer returns -1), so each batch answer is complete.
 *  - A client that half-closes (EOF) is kept until its deferred answers
 *    are out, then closed. A client that stops reading is no longer read
 *    from while MTD_RPC_OUT_MAX/2 of its output is unsent.
 */
#ifndef MTD_RPC_H
#define MTD_RPC_H

#include <cJSON.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define MTD_RPC_LINE_MAX   (1u << 20)   /* 1 MiB per request line */
#define MTD_RPC_OUT_MAX    (8u << 20)   /* unsent bytes per client */
#define MTD_RPC_CLIENTS_MAX 64
#define MTD_RPC_BATCH_MAX  64

/* JSON-RPC 2.0 error codes, and ours (-32000..-32099, server errors). */
enum {
    MTD_RPC_PARSE_ERROR      = -32700,
    MTD_RPC_INVALID_REQUEST  = -32600,
    MTD_RPC_METHOD_NOT_FOUND = -32601,
    MTD_RPC_INVALID_PARAMS   = -32602,
    MTD_RPC_INTERNAL_ERROR   = -32603,
    MTD_RPC_NOT_FOUND        = -32001,  /* no such torrent, subscription, feed */
    MTD_RPC_EXISTS           = -32002,  /* already there */
    MTD_RPC_REFUSED          = -32003,  /* input failed validation (bad manifest, stale seq) */
    MTD_RPC_TIMEOUT          = -32004,
    MTD_RPC_UNAVAILABLE      = -32005   /* not possible now (DHT off, no key, shutting down) */
};

#define MTD_RPC_DEFERRED 1

typedef struct mtd_rpc mtd_rpc;

/* A deferred request: which client, and the request id (owned copy). */
typedef struct mtd_rpc_ticket {
    uint64_t conn_id;
    cJSON   *id;
} mtd_rpc_ticket;

/* What a handler sees. conn_id names the calling connection. The struct
 * and everything it points to live only during the handler call. */
typedef struct mtd_rpc_call {
    mtd_rpc       *rpc;
    uint64_t       conn_id;
    const char    *method;
    const cJSON   *params;    /* an object (absent params arrive as {}) */
    const cJSON   *id;        /* NULL for a notification */
} mtd_rpc_call;

/*
 * A method handler. Return 0 with *result set (NULL means {}), or a
 * negative MTD_RPC_* code with msg filled (cap bytes), or MTD_RPC_DEFERRED
 * after mtd_rpc_defer(). `data`, if the handler sets it on error, is added
 * as the error's "data" member (ownership passes to the server).
 *
 * Error codes a handler may return: -32600..-32603 and -32000..-32099; any
 * other value, or MTD_RPC_DEFERRED without a ticket taken in this call,
 * is answered -32603 (and *result and *data are freed). An empty msg is
 * replaced by a standard text. Handlers may call mtd_rpc_reply*,
 * mtd_rpc_broadcast and mtd_rpc_listen_events, but not mtd_rpc_close.
 */
typedef int (*mtd_rpc_fn)(void *ctx, const mtd_rpc_call *call, cJSON **result,
                          char *msg, size_t cap, cJSON **data);

typedef struct mtd_rpc_method {
    const char *name;
    mtd_rpc_fn  fn;
} mtd_rpc_method;

/*
 * Listen on path: an existing socket file there is removed only if nothing
 * answers on it (another mtd running gives -1 and "already running" in
 * msg). The socket gets mode 0600. methods is a table ended by {NULL, NULL}
 * and must outlive the server. Returns 0 or -1 with msg.
 */
int mtd_rpc_open(const char *path, const mtd_rpc_method *methods, void *ctx,
                 mtd_rpc **out, char *msg, size_t cap);

/* Close every connection, unlink the socket file (only if it is still the
 * one this server made), free. NULL ok. Outstanding tickets must be
 * answered before (or released with rpc NULL after): their ids are owned
 * copies. */
void mtd_rpc_close(mtd_rpc *rpc);

/* Append pollfds (listener and clients) to fds[*n..cap); *n grows. Up to
 * MTD_RPC_CLIENTS_MAX + 1 entries; clients that do not fit wait a turn. */
void mtd_rpc_pollfds(mtd_rpc *rpc, struct pollfd *fds, size_t cap, size_t *n);

/* Handle readiness reported in fds[0..n) (only the server's own fds are
 * looked at): accept, read, dispatch, write. */
void mtd_rpc_dispatch(mtd_rpc *rpc, const struct pollfd *fds, size_t n);

/* Inside a handler: take a ticket for answering later. 0, or -1 (then
 * *t is empty: conn_id 0, id NULL, and answering it does nothing) when
 * called inside a batch, outside a handler, or out of memory. For a
 * notification the ticket has id NULL and its answer goes nowhere. */
int mtd_rpc_defer(const mtd_rpc_call *call, mtd_rpc_ticket *t);

/* Answer a deferred request (takes ownership of result; NULL = {}) and
 * release the ticket. rpc NULL only releases it. mtd_rpc_reply_error
 * answers -32603 for codes a handler could not return; msg NULL or empty
 * gets a standard text. */
void mtd_rpc_reply(mtd_rpc *rpc, mtd_rpc_ticket *t, cJSON *result);
void mtd_rpc_reply_error(mtd_rpc *rpc, mtd_rpc_ticket *t, int code, const char *msg);

/* Mark a connection as an event listener ("events.subscribe"). */
void mtd_rpc_listen_events(mtd_rpc *rpc, uint64_t conn_id);

/* Send {"jsonrpc":"2.0","method":"event","params":event} to every
 * listener. Takes ownership of event. */
void mtd_rpc_broadcast(mtd_rpc *rpc, cJSON *event);

/* Number of connected clients (for status). */
size_t mtd_rpc_clients(const mtd_rpc *rpc);

/*
 * Parse one request line (no newline) into *req: on success returns 0 and
 * *req is an object or array the caller frees with cJSON_Delete. On
 * failure returns a MTD_RPC_* code with msg (used by the server, and by
 * the fuzz target).
 */
int mtd_rpc_parse_line(const char *line, size_t len, cJSON **req, char *msg, size_t cap);

/*
 * Validate one request object: "jsonrpc" == "2.0", "method" a string,
 * "params" absent, object or array (arrays are refused with
 * -32602: our methods take named parameters), "id" absent, string, integer
 * or null. Returns 0 or MTD_RPC_INVALID_REQUEST/_INVALID_PARAMS with msg.
 */
int mtd_rpc_check_request(const cJSON *req, char *msg, size_t cap);

#endif
