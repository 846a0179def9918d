/* seq.c - durable manifest sequence numbers (see mt_seq.h). */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "mt_seq.h"
#include "mt_util.h"

#define SEQ_FILE_MAX 64

/* Parse "<decimal>\n" as written by mt_seq_next. */
static int parse_seq(const char *buf, size_t len, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    if (len == 0)
        return MT_EINVAL;
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > (MT_SEQ_MAX - (buf[i] - '0')) / 10)
            return MT_EINVAL;
        v = v * 10 + (buf[i] - '0');
    }
    if (i == 0 || (i < len && !(buf[i] == '\n' && i + 1 == len)))
        return MT_EINVAL;
    *out = v;
    return MT_OK;
}

int mt_seq_last(const char *path, int64_t *out, mt_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (!path || !out)
        return mt_error_set(err, MT_EINVAL, "path and out are required");
    rc = mt_file_read(path, SEQ_FILE_MAX, &buf, &len, err);
    if (rc == MT_ENOTFOUND) {
        mt_error_clear(err);
        *out = 0;
        return MT_OK;
    }
    if (rc)
        return rc;
    rc = parse_seq(buf, len, out);
    free(buf);
    if (rc)
        return mt_error_set(err, MT_EINVAL, "sequence file %s is corrupt; it must hold one decimal number", path);
    return MT_OK;
}

/* Take an exclusive lock on path.lock; returns the fd or -1 (err set). */
static int lock_seq(const char *path, mt_error *err)
{
    char lock[4096];
    int fd;
    if ((size_t)snprintf(lock, sizeof lock, "%s.lock", path) >= sizeof lock) {
        mt_error_set(err, MT_EINVAL, "sequence path too long");
        return -1;
    }
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        mt_error_set(err, MT_EIO, "cannot open %s: %s", lock, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            mt_error_set(err, MT_EIO, "cannot lock %s: %s", lock, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

int mt_seq_next(const char *path, int64_t want, int64_t now_ms, int64_t *out, mt_error *err)
{
    int64_t last = 0, next;
    char buf[32];
    int lockfd, rc, n;

    if (!path || !out || want < 0)
        return mt_error_set(err, MT_EINVAL, "path and out are required; want must be >= 0");
    lockfd = lock_seq(path, err);
    if (lockfd < 0)
        return err ? err->code : MT_EIO;
    rc = mt_seq_last(path, &last, err);
    if (rc)
        goto out;
    if (want > 0) {
        if (want <= last) {
            rc = mt_error_set(err, MT_ESTALE,
                              "sequence %" PRId64 " is not above %" PRId64 ", the last one used with this key",
                              want, last);
            goto out;
        }
        next = want;
    } else {
        next = last + 1 > now_ms ? last + 1 : now_ms;
    }
    if (next > MT_SEQ_MAX) {
        rc = mt_error_set(err, MT_EINVAL, "sequence %" PRId64 " is beyond 2^53-1", next);
        goto out;
    }
    n = snprintf(buf, sizeof buf, "%" PRId64 "\n", next);
    rc = mt_file_write_atomic(path, buf, (size_t)n, 0600, 1, err);
    if (rc == 0)
        *out = next;
out:
    close(lockfd); /* releases the lock */
    return rc;
}
