/*
 * mt_util.h - small helpers shared by the library and its tools.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 * Two exceptions, named where they are declared: mt_fd_write_all() and
 * mt_sync_parent_dir() wrap one system call each and report as it does,
 * -1 and errno (callers turn that into MT_EIO with a message).
 */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void mt_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decode exactly 2n hex digits (either case) into n bytes.
 * 0 on success, MT_EINVAL if hex is not exactly that. */
int mt_hex_decode(const char *hex, uint8_t *out, size_t n);

/* Milliseconds on a monotonic clock (intervals, deadlines). */
int64_t mt_now_ms(void);

/* Milliseconds since the Unix epoch (timestamps, sequence numbers). */
int64_t mt_wall_ms(void);

/*
 * mkdir -p: make path and every missing parent with mode (existing levels
 * are fine, also where mkdir itself fails on them, e.g. EACCES on "/home",
 * as long as they are directories). 0; MT_EINVAL for an empty path or one
 * of 4096 bytes or more; MT_EIO with errno kept and err naming the level.
 */
int mt_mkdir_p(const char *path, unsigned mode, mt_error *err);

/*
 * Write a file atomically: temp file in the same directory (created with
 * mode), fsync, rename (or link when overwrite is 0, so an existing file is
 * never clobbered: MT_EEXIST), then fsync the directory. On any error the
 * old file, if there was one, is untouched. MT_EIO names the step.
 */
int mt_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         int overwrite, mt_error *err);

/* Write all len bytes to fd, retrying short writes and EINTR. 0, or -1
 * with errno set (an exception to the mt_error rule, see the top). */
int mt_fd_write_all(int fd, const void *buf, size_t len);

/* fsync the directory holding path, so a rename into it is durable.
 * 0, or -1 with errno set (an exception to the mt_error rule, see the top). */
int mt_sync_parent_dir(const char *path);

/*
 * Read a whole file into a new malloc'd, NUL-terminated buffer (mt_free()).
 * MT_ETOOBIG if it holds more than max bytes, MT_ENOTFOUND if it does not
 * exist, MT_EINVAL for a directory, MT_EIO otherwise.
 */
int mt_file_read(const char *path, size_t max, char **out, size_t *out_len, mt_error *err);

/* The same for an open descriptor (a pipe, stdin), read to its end and
 * left open; name is what messages call it. */
int mt_fd_read(int fd, const char *name, size_t max, char **out, size_t *out_len, mt_error *err);

/*
 * A name safe to create inside a directory: '/', '\\' and control bytes
 * become '_', leading dots become '_' (so never "." or ".."), cut to cap-1
 * bytes on a UTF-8 character boundary, never empty. MT_EINVAL if cap < 2.
 */
int mt_filename_sanitize(const char *name, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
