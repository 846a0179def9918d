/* params.c - reading JSON-RPC named parameters (params.h). */
#include <stdio.h>
#include <string.h>

#include "mt_json.h"
#include "params.h"

int p_str(const cJSON *p, const char *name, size_t max, const char **out, char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    *out = NULL;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsString(x))
        return snprintf(msg, cap, "%s: must be a string", name), -1;
    if (strlen(x->valuestring) > max)
        return snprintf(msg, cap, "%s: longer than %zu bytes", name, max), -1;
    *out = x->valuestring;
    return 0;
}

int p_bool(const cJSON *p, const char *name, int *out, char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    *out = 0;
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsBool(x))
        return snprintf(msg, cap, "%s: must be true or false", name), -1;
    *out = cJSON_IsTrue(x);
    return 0;
}

int p_int(const cJSON *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *msg, size_t cap)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, name);
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x) || mt_json_get_int(x, out) != 0 || *out < lo || *out > hi)
        return snprintf(msg, cap, "%s: must be an integer from %lld to %lld", name,
                        (long long)lo, (long long)hi), -1;
    return 0;
}
