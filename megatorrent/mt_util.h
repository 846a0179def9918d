/* mt_util.h - small helpers shared by the library and its tools. */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void mt_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decode exactly 2n hex digits (either case) into n bytes.
 * 0 on success, MT_EINVAL if hex is not exactly that. */
int mt_hex_decode(const char *hex, uint8_t *out, size_t n);

/* Milliseconds on a monotonic clock. */
int64_t mt_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
