/* util.c - hex and clock helpers. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mt_error.h"
#include "mt_util.h"

void mt_hex_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

int mt_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (!hex || strlen(hex) != 2 * n)
        return MT_EINVAL;
    if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, &end) != 0 || got != n || *end != '\0')
        return MT_EINVAL;
    return MT_OK;
}

int64_t mt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
