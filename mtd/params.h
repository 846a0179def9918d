/* params.h - reading JSON-RPC named parameters, for every module's
 * methods. Each returns 0, or -1 with msg naming the parameter. */
#ifndef MTD_PARAMS_H
#define MTD_PARAMS_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Optional string member: *out NULL when absent. -1 with msg if it is not
 * a string or is longer than max bytes. */
int p_str(const cJSON *p, const char *name, size_t max, const char **out, char *msg, size_t cap);
/* Optional true/false member: *out 0 when absent. */
int p_bool(const cJSON *p, const char *name, int *out, char *msg, size_t cap);
/* Optional integer member in [lo, hi]: *out unchanged when absent. */
int p_int(const cJSON *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *msg, size_t cap);

/* An RPC method of a module (mtd_rpc_fn; ctx is the mtd_daemon). */
#define HANDLER(name) \
    static int name(void *ctx, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap, \
                    cJSON **data)
#define UNUSED_ARGS (void)ctx, (void)call, (void)result, (void)msg, (void)cap, (void)data

#endif
