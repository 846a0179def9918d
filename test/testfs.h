/* testfs.h - sleeping, bounded formatting and tree removal for the suites
 * that run processes and write files (header-only; needs POSIX 2008). */
#ifndef MT_TESTFS_H
#define MT_TESTFS_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline void t_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* snprintf into a fixed buffer, failing the test on truncation. */
static inline void t_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void t_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && (size_t)n < cap, "string too long");
}

/* Remove path and everything below it; symlinks are removed, not followed. */
static inline void t_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                char sub[4096];
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub)
                    t_rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/*
 * Plaintext leak check: does any 64-byte window of src (n bytes) appear in
 * buf? Rabin-Karp: every window of src is hashed into a table once
 * (t_windows_new), then buf is scanned with the same rolling hash and hits
 * are confirmed with memcmp. Returns the offset in buf, or -1.
 */
#define T_WINDOW 64
typedef struct t_windows {
    const uint8_t *src;
    size_t n, mask;
    uint32_t *slot;  /* source offset + 1; 0 = empty */
} t_windows;

static inline uint64_t t_win_pow(void)
{
    uint64_t p = 1;
    for (int i = 0; i < T_WINDOW - 1; i++)
        p *= 1099511628211ull;
    return p;
}

static inline t_windows *t_windows_new(const uint8_t *src, size_t n)
{
    t_windows *w = calloc(1, sizeof *w);
    size_t cap = 1;
    ck_assert(w && n >= T_WINDOW && n < UINT32_MAX);
    while (cap < 2 * n)
        cap <<= 1;
    w->src = src;
    w->n = n;
    w->mask = cap - 1;
    w->slot = calloc(cap, sizeof *w->slot);
    ck_assert(w->slot);
    uint64_t h = 0, pw = t_win_pow();
    for (size_t i = 0; i < n; i++) {
        if (i >= T_WINDOW)
            h -= src[i - T_WINDOW] * pw;
        h = h * 1099511628211ull + src[i];
        if (i + 1 >= T_WINDOW) {
            size_t k = (size_t)(h ^ (h >> 29)) & w->mask;
            while (w->slot[k])
                k = (k + 1) & w->mask;
            w->slot[k] = (uint32_t)(i + 2 - T_WINDOW);
        }
    }
    return w;
}

static inline long t_windows_find(const t_windows *w, const uint8_t *buf, size_t len)
{
    uint64_t h = 0, pw = t_win_pow();
    for (size_t i = 0; i < len; i++) {
        if (i >= T_WINDOW)
            h -= buf[i - T_WINDOW] * pw;
        h = h * 1099511628211ull + buf[i];
        if (i + 1 < T_WINDOW)
            continue;
        /* Only windows with the same hash can match; few collide. */
        for (size_t k = (size_t)(h ^ (h >> 29)) & w->mask; w->slot[k]; k = (k + 1) & w->mask)
            if (!memcmp(w->src + w->slot[k] - 1, buf + i + 1 - T_WINDOW, T_WINDOW))
                return (long)(i + 1 - T_WINDOW);
    }
    return -1;
}

static inline void t_windows_free(t_windows *w)
{
    if (w) {
        free(w->slot);
        free(w);
    }
}

/* Every regular file under path, scanned: the first file holding a window
 * of the source is copied to hit (cap bytes) and 1 returned; else 0. */
static inline int t_windows_in_tree(const t_windows *w, const char *path, char *hit, size_t cap)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        int found = 0;
        if (!d)
            return 0;
        while (!found && (de = readdir(d)) != NULL) {
            char sub[4096];
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub)
                found = t_windows_in_tree(w, sub, hit, cap);
        }
        closedir(d);
        return found;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < T_WINDOW)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t *buf = malloc((size_t)st.st_size);
    size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    long at = buf ? t_windows_find(w, buf, got) : -1;
    free(buf);
    if (at >= 0)
        snprintf(hit, cap, "%s at offset %ld", path, at);
    return at >= 0;
}

#endif
