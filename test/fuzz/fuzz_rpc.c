/*
 * fuzz_rpc.c - mtd's request parsing on arbitrary bytes, as the server
 * does it: mtd_rpc_parse_line() on the line, then mtd_rpc_check_request()
 * on the object or on each batch element.
 *
 * Invariants:
 *  - parse failure: -32700, -32600 (or -32603, out of memory), *req NULL,
 *    a non-empty terminated message; success: an object or an array, and
 *    the line holds no control byte but tab, CR and LF;
 *  - check: 0, -32600 or -32602 with a message; 0 means "jsonrpc" is
 *    "2.0", "method" a string, "params" absent or an object and "id"
 *    absent, a string, null or an integer within 2^53; -32602 only when
 *    "params" is an array;
 *  - an accepted line printed by cJSON parses again, prints the same, and
 *    every request that passed the check still passes it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "mt_json.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MSG 256

/* A message buffer with a recognisable non-empty state. */
static void msg_init(char *msg)
{
    memset(msg, 'X', FUZZ_MSG - 1);
    msg[FUZZ_MSG - 1] = '\0';
}

/* The message a failing call left: set, terminated, not the fill. */
static void check_msg(const char *msg, int rc, const char *what)
{
    FUZZ_CHECK(memchr(msg, '\0', FUZZ_MSG) != NULL, "%s left msg unterminated", what);
    FUZZ_CHECK(msg[0] != '\0' && msg[0] != 'X', "%s failed (%d) without a message", what, rc);
}

/* What a request that passed mtd_rpc_check_request must look like. */
static void check_valid_shape(const cJSON *req)
{
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    int64_t n;
    FUZZ_CHECK(cJSON_IsObject(req), "accepted a request that is not an object");
    FUZZ_CHECK(cJSON_IsString(ver) && strcmp(ver->valuestring, "2.0") == 0, "accepted without jsonrpc 2.0");
    FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "method")), "accepted without a method");
    FUZZ_CHECK(!params || cJSON_IsObject(params), "accepted params of type %d", params->type);
    FUZZ_CHECK(!id || cJSON_IsString(id) || cJSON_IsNull(id) || mt_json_get_int(id, &n) == 0,
               "accepted an id of type %d", id->type);
}

/* mtd_rpc_check_request on one request, with its invariants; returns rc. */
static int check_one(const cJSON *req, const char *label)
{
    char msg[FUZZ_MSG];
    int rc;
    msg_init(msg);
    rc = mtd_rpc_check_request(req, msg, sizeof msg);
    fuzz_feature(label, rc ? msg : "ok");
    FUZZ_CHECK(rc == 0 || rc == MTD_RPC_INVALID_REQUEST || rc == MTD_RPC_INVALID_PARAMS,
               "mtd_rpc_check_request returned %d", rc);
    if (rc == 0) {
        check_valid_shape(req);
        return 0;
    }
    check_msg(msg, rc, "mtd_rpc_check_request");
    if (rc == MTD_RPC_INVALID_PARAMS)
        FUZZ_CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(req, "params")),
                   "-32602 without array params: %s", msg);
    return rc;
}

/* Check the request or each batch element; bit i of the result is set
 * when element i (or the single request, bit 0) passed. Up to 64. */
static uint64_t check_all(const cJSON *req, const char *label)
{
    uint64_t ok = 0;
    const cJSON *el;
    int i = 0;
    if (!cJSON_IsArray(req))
        return check_one(req, label) == 0 ? 1 : 0;
    cJSON_ArrayForEach(el, req) {
        if (check_one(el, label) == 0 && i < 64)
            ok |= (uint64_t)1 << i;
        i++;
    }
    return ok;
}

/* Parse with the invariants of mtd_rpc_parse_line; returns the tree or NULL. */
static cJSON *parse(const char *line, size_t len, const char *label)
{
    char msg[FUZZ_MSG];
    cJSON *req = (cJSON *)1;
    size_t i;
    int rc;
    msg_init(msg);
    rc = mtd_rpc_parse_line(line, len, &req, msg, sizeof msg);
    fuzz_feature(label, rc ? msg : cJSON_IsArray(req) ? "batch" : "object");
    if (rc != 0) {
        FUZZ_CHECK(rc == MTD_RPC_PARSE_ERROR || rc == MTD_RPC_INVALID_REQUEST || rc == MTD_RPC_INTERNAL_ERROR,
                   "mtd_rpc_parse_line returned %d", rc);
        FUZZ_CHECK(req == NULL, "mtd_rpc_parse_line failed (%d) but set *req", rc);
        check_msg(msg, rc, "mtd_rpc_parse_line");
        return NULL;
    }
    FUZZ_CHECK(cJSON_IsObject(req) || cJSON_IsArray(req), "accepted a line of type %d", req ? req->type : -1);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        FUZZ_CHECK(ch >= 0x20 || ch == '\t' || ch == '\r' || ch == '\n', "accepted control byte 0x%02x at %zu", ch,
                   i);
    }
    return req;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *req, *again;
    char *p1, *p2;
    uint64_t ok1, ok2;

    req = parse((const char *)data, size, "parse");
    if (!req)
        return 0;
    ok1 = check_all(req, "check");

    /* What the server would answer with is built by cJSON from trees like
     * this one: its printed form must read back and print the same. */
    p1 = cJSON_PrintUnformatted(req);
    FUZZ_CHECK(p1 != NULL, "cannot print an accepted request");
    if (strlen(p1) <= MTD_RPC_LINE_MAX) {
        again = parse(p1, strlen(p1), "reparse");
        FUZZ_CHECK(again != NULL, "printed request does not parse: %s", p1);
        p2 = cJSON_PrintUnformatted(again);
        FUZZ_CHECK(p2 && strcmp(p1, p2) == 0, "print not stable:\n%s\n%s", p1, p2 ? p2 : "(null)");
        ok2 = check_all(again, "recheck");
        FUZZ_CHECK((ok1 & ~ok2) == 0, "a request passed the check but not after printing: %s", p1);
        free(p2);
        cJSON_Delete(again);
    }
    free(p1);
    cJSON_Delete(req);
    return 0;
}
