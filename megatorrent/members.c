/* members.c - typed JSON members with named errors (see members.h). */
#include <inttypes.h>

#include "members.h"
#include "mt_json.h"
#include "mt_util.h"

int mtf_lower_hex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == 2 * n;
}

int mtf_member_hex(const cJSON *obj, const char *name, size_t n, uint8_t *out, const char **text,
                   const char *path, mt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    const char *dot = *path ? "." : "";
    if (!v)
        return mt_error_set(err, MT_EINVAL, "%s%s%s: missing", path, dot, name);
    if (!cJSON_IsString(v) || !mtf_lower_hex(v->valuestring, n))
        return mt_error_set(err, MT_EINVAL, "%s%s%s: must be %zu lower-case hex digits", path, dot, name, 2 * n);
    if (out)
        mt_hex_decode(v->valuestring, out, n);
    if (text)
        *text = v->valuestring;
    return MT_OK;
}

int mtf_member_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t *out,
                   const char *path, mt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    const char *dot = *path ? "." : "";
    int64_t x;
    if (!v)
        return mt_error_set(err, MT_EINVAL, "%s%s%s: missing", path, dot, name);
    if (mt_json_get_int(v, &x) != 0 || x < lo || x > hi)
        return mt_error_set(err, MT_EINVAL, "%s%s%s: must be an integer from %" PRId64 " to %" PRId64, path, dot,
                            name, lo, hi);
    *out = x;
    return MT_OK;
}
