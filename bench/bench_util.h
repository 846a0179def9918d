/* bench_util.h - clock, PRNG, option parsing, test files and clean-up
 * shared by the benchmarks. Define BENCH_NAME (the program's name, for
 * messages) first. */
#ifndef MT_BENCH_UTIL_H
#define MT_BENCH_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mt_util.h" /* mt_fd_write_all */

#ifndef BENCH_NAME
#define BENCH_NAME "bench"
#endif

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* xorshift64*: reproducible from a seed; not for secrets. */
static uint64_t rng_state;

static inline uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* An option's integer value in lo..hi into *out; -1 after a message. */
static inline int bench_parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, BENCH_NAME ": %s wants an integer %ld-%ld, not '%s'\n", opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* Remove path and everything below it; symlinks are removed, not followed. */
static inline void bench_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                char child[4096];
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                if ((size_t)snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= sizeof child)
                    continue;
                bench_rm_rf(child);
            }
            closedir(d);
        }
        if (rmdir(path) != 0)
            fprintf(stderr, BENCH_NAME ": cannot remove %s: %s\n", path, strerror(errno));
    } else if (unlink(path) != 0) {
        fprintf(stderr, BENCH_NAME ": cannot remove %s: %s\n", path, strerror(errno));
    }
}

#define BENCH_CHUNK (1u << 20) /* buffer size the file helpers below take */

/* Fill n bytes with the benchmark PRNG (fast, not secret). */
static inline void bench_fill_random(uint8_t *buf, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = rng_next();
        memcpy(buf + i, &x, 8);
    }
    for (; i < n; i++)
        buf[i] = (uint8_t)rng_next();
}

/* Read up to n bytes (short only at end of file); -1 on error. */
static inline ssize_t bench_read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* bytes of pseudo-random data into a new file, fsync'd; buf holds
 * BENCH_CHUNK bytes. stop (may be NULL) set by a signal handler ends it
 * early with -1. */
static inline int bench_write_random_file(const char *path, uint64_t bytes, uint8_t *buf,
                                          volatile sig_atomic_t *stop)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, BENCH_NAME ": cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (uint64_t done = 0; done < bytes;) {
        size_t n = bytes - done < BENCH_CHUNK ? (size_t)(bytes - done) : BENCH_CHUNK;
        bench_fill_random(buf, n);
        if (mt_fd_write_all(fd, buf, n) != 0) {
            fprintf(stderr, BENCH_NAME ": writing %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        done += n;
        if (stop && *stop) {
            close(fd);
            return -1;
        }
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, BENCH_NAME ": flushing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 0 if a and b have the same bytes; otherwise says where they differ.
 * ba and bb hold BENCH_CHUNK bytes each. */
static inline int bench_compare_files(const char *a, const char *b, uint8_t *ba, uint8_t *bb)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC), rc = -1;
    uint64_t off = 0;
    if (fa < 0 || fb < 0) {
        fprintf(stderr, BENCH_NAME ": VERIFY FAILED: cannot open %s: %s\n", fa < 0 ? a : b, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t na = bench_read_full(fa, ba, BENCH_CHUNK), nb = bench_read_full(fb, bb, BENCH_CHUNK);
        if (na < 0 || nb < 0) {
            fprintf(stderr, BENCH_NAME ": VERIFY FAILED: read error: %s\n", strerror(errno));
            goto out;
        }
        if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
            ssize_t i = 0;
            while (i < na && i < nb && ba[i] == bb[i])
                i++;
            fprintf(stderr,
                    BENCH_NAME ": VERIFY FAILED: %s and %s differ at byte %" PRIu64 " (chunk of %zd vs %zd bytes)\n",
                    a, b, off + (uint64_t)i, na, nb);
            goto out;
        }
        if (na == 0)
            break;
        off += (uint64_t)na;
    }
    rc = 0;
out:
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return rc;
}

#endif
