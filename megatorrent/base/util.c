/* util.c - hex, clock, file and file-name helpers (see mt_util.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int64_t mt_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mt_sync_parent_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n;
    int fd, rc;
    if (!slash) {
        strcpy(dir, ".");
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir)
            return -1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int mt_fd_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mt_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, int overwrite,
                         mt_error *err)
{
    char tmp[4096];
    int fd;

    if (!path || (!data && len))
        return mt_error_set(err, MT_EINVAL, "path and data are required");
    if (!overwrite && access(path, F_OK) == 0)
        return mt_error_set(err, MT_EEXIST, "%s already exists", path);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return mt_error_set(err, MT_EINVAL, "path too long: %.64s...", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    if (fd < 0)
        return mt_error_set(err, MT_EIO, "cannot create %s: %s", tmp, strerror(errno));
    if (mt_fd_write_all(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return mt_error_set(err, MT_EIO, "cannot write %s: %s", tmp, strerror(e));
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return mt_error_set(err, MT_EIO, "cannot flush %s: %s", tmp, strerror(e));
    }
    if (!overwrite) {
        /* link() fails if path appeared meanwhile: never clobber. */
        if (link(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            return mt_error_set(err, e == EEXIST ? MT_EEXIST : MT_EIO, "cannot create %s: %s", path,
                                strerror(e));
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mt_error_set(err, MT_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    if (mt_sync_parent_dir(path) != 0)
        return mt_error_set(err, MT_EIO, "cannot sync the directory of %s: %s", path, strerror(errno));
    return MT_OK;
}

int mt_file_read(const char *path, size_t max, char **out, size_t *out_len, mt_error *err)
{
    int fd, rc;
    if (!path || !out)
        return mt_error_set(err, MT_EINVAL, "path and out are required");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mt_error_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EIO, "cannot open %s: %s", path,
                            strerror(errno));
    rc = mt_fd_read(fd, path, max, out, out_len, err);
    close(fd);
    return rc;
}

int mt_fd_read(int fd, const char *name, size_t max, char **out, size_t *out_len, mt_error *err)
{
    struct stat st;
    char *buf;
    size_t len = 0, cap;

    if (fd < 0 || !name || !out)
        return mt_error_set(err, MT_EINVAL, "fd, name and out are required");
    if (fstat(fd, &st) != 0)
        return mt_error_set(err, MT_EIO, "cannot stat %s: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return mt_error_set(err, MT_EINVAL, "%s is a directory", name);
    /* Size hint only: pipes report 0, and files can grow while read. */
    cap = S_ISREG(st.st_mode) && (size_t)st.st_size < max ? (size_t)st.st_size + 1 : 65536;
    if (cap > max + 1)
        cap = max + 1;
    buf = malloc(cap + 1);
    if (!buf)
        return mt_error_set(err, MT_ENOMEM, "out of memory reading %s", name);
    for (;;) {
        ssize_t n;
        if (len == cap) {
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb;
            if (ncap == cap)
                break; /* read max + 1 bytes: too big */
            nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                return mt_error_set(err, MT_ENOMEM, "out of memory reading %s", name);
            }
            buf = nb;
            cap = ncap;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return mt_error_set(err, MT_EIO, "cannot read %s: %s", name, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        return mt_error_set(err, MT_ETOOBIG, "%s is over %zu bytes", name, max);
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len)
        *out_len = len;
    return MT_OK;
}

/* Replacement for a byte that must not reach a file name. */
static int name_byte_unsafe(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '/' || c == '\\';
}

/* Length of the UTF-8 sequence a lead byte starts (1 for ASCII or junk). */
static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

int mt_filename_sanitize(const char *name, char *out, size_t cap)
{
    size_t n, i, j = 0;
    if (!name || !out || cap < 2)
        return MT_EINVAL;
    n = strlen(name);
    for (i = 0; i < n && j + 1 < cap; i++)
        out[j++] = name_byte_unsafe((unsigned char)name[i]) ? '_' : name[i];
    if (i < n) {
        /* The cap cut the name: drop a multi-byte character it split. */
        size_t k = j;
        while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)out[k - 1] & 0x80) && k - 1 + utf8_seq_len((unsigned char)out[k - 1]) > j)
            j = k - 1;
    }
    out[j] = '\0';
    /* Leading dots would make "." / ".." or hidden files. */
    for (i = 0; out[i] == '.'; i++)
        out[i] = '_';
    if (j == 0) {
        out[0] = '_';
        out[1] = '\0';
    }
    return MT_OK;
}

/* One level: made now, or already a directory. */
static int mkdir_level(const char *dir, unsigned mode)
{
    struct stat st;
    int saved;
    if (mkdir(dir, (mode_t)mode) == 0)
        return 0;
    saved = errno;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    errno = saved == EEXIST ? ENOTDIR : saved;
    return -1;
}

int mt_mkdir_p(const char *path, unsigned mode, mt_error *err)
{
    char buf[4096];
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof buf) {
        if (n)
            mt_error_set(err, MT_EINVAL, "path too long (%zu bytes)", n);
        else
            mt_error_set(err, MT_EINVAL, "empty path");
        errno = n ? ENAMETOOLONG : ENOENT;
        return MT_EINVAL;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char at = *p;
        *p = '\0';
        if (mkdir_level(buf, mode) != 0) {
            int e = errno;
            mt_error_set(err, MT_EIO, "cannot create %s: %s", buf, strerror(e));
            errno = e;
            return MT_EIO;
        }
        *p = at;
        if (!at)
            return MT_OK;
    }
}
