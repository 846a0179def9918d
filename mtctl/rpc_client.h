/*
 * rpc_client.h - mtctl's side of mtd's JSON-RPC 2.0 UNIX-socket protocol
 * (one JSON text per line; see mtd/rpc.h).
 */
#ifndef MTCTL_RPC_CLIENT_H
#define MTCTL_RPC_CLIENT_H

#include <cJSON.h>
#include <stddef.h>

typedef struct rpc_client rpc_client;

/* Where the daemon's socket is: opt (--socket) if set, else $MT_SOCKET,
 * else <default state dir>/mtd.sock. 0 or -1. */
int rpc_socket_path(const char *opt, char *buf, size_t cap);

/* Connect. -1 with msg ("cannot connect to mtd at PATH: ...") on failure. */
int rpc_connect(const char *path, rpc_client **out, char *msg, size_t cap);
void rpc_close(rpc_client *c);

/*
 * Call method with params (ownership taken; NULL = {}), waiting up to
 * timeout_ms (-1: forever) for the answer; event notifications that
 * arrive meanwhile are queued for rpc_next_event(). Returns:
 *   0   *result is the "result" member (caller frees)
 *   >0  never
 *   -1  transport failure or timeout: msg says which
 *   -2  a JSON-RPC error: *code and msg hold it; *data (if non-NULL) gets
 *       the error's "data" member or NULL (caller frees)
 */
int rpc_call(rpc_client *c, const char *method, cJSON *params, int timeout_ms,
             cJSON **result, int *code, cJSON **data, char *msg, size_t cap);

/* Next event notification's params (caller frees) within timeout_ms.
 * 1: got one, 0: timeout, -1: connection lost (msg). */
int rpc_next_event(rpc_client *c, int timeout_ms, cJSON **event, char *msg, size_t cap);

#endif
