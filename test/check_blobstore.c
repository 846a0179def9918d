/*
 * check_blobstore.c - the content-addressed blob directory: put/get/has/
 * path round trips, id checks (nothing is ever named outside DIR), hash
 * checks on the way in and out, usage reports, LRU eviction by mtime with
 * pins and keep(), pins persisting in .pins.json, and refusal of a
 * malformed .pins.json without touching it.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sodium.h>

#include "mt_blob.h"
#include "mt_blobstore.h"
#include "mt_util.h"

#define T_BLOB 1024 /* small blobs keep the suite fast; the store does not care */

/* One base directory per run, removed by main() even if tests fail. */
static char g_base[64];

/* Expect rc == want, naming the call and the error text otherwise. */
#define T_RC(call, want)                                                                              \
    do {                                                                                              \
        mt_error e_;                                                                                  \
        int rc_;                                                                                      \
        mt_error_clear(&e_);                                                                          \
        rc_ = (call);                                                                                 \
        ck_assert_msg(rc_ == (want), "%s gave %d (%s), expected %d", #call, rc_, e_.message, (want)); \
        if ((want) < 0)                                                                               \
            ck_assert_msg(e_.code == (want) && e_.message[0], "%s: err not filled", #call);           \
    } while (0)
#define T_OK(call) T_RC(call, 0)
/* The calls above pass &e_ as their error argument. */
#define E (&e_)

/* A fresh empty directory under the base (the parent of a store). */
static void t_parent(char *out, size_t cap)
{
    ck_assert((size_t)snprintf(out, cap, "%s/t-XXXXXX", g_base) < cap);
    ck_assert(mkdtemp(out) != NULL);
}

/* parent/store: a path for a store that does not exist yet. */
static void t_store_dir(char *parent, size_t pcap, char *dir, size_t dcap)
{
    t_parent(parent, pcap);
    ck_assert((size_t)snprintf(dir, dcap, "%s/store", parent) < dcap);
}

static mt_blobstore *t_open(const char *dir, uint64_t cap)
{
    mt_blobstore *s = NULL;
    mt_error err;
    int rc = mt_blobstore_open(dir, cap, &s, &err);
    ck_assert_msg(rc == 0, "open %s: %d %s", dir, rc, err.message);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* The blob id of buf, computed here independently of the library. */
static void t_id(const uint8_t *buf, size_t n, char id[MT_BLOB_ID_HEX])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, buf, n);
    sodium_bin2hex(id, MT_BLOB_ID_HEX, h, sizeof h);
}

/* n random bytes and their id. */
static void t_blob(uint8_t *buf, size_t n, char id[MT_BLOB_ID_HEX])
{
    randombytes_buf(buf, n);
    t_id(buf, n, id);
}

/* Put a fresh random blob of n bytes; its id into id. */
static void t_put_new(mt_blobstore *s, size_t n, char id[MT_BLOB_ID_HEX])
{
    uint8_t buf[4 * T_BLOB];
    ck_assert(n <= sizeof buf);
    t_blob(buf, n, id);
    T_OK(mt_blobstore_put(s, id, buf, n, E));
}

static void t_join(const char *dir, const char *name, char *out, size_t cap)
{
    ck_assert((size_t)snprintf(out, cap, "%s/%s", dir, name) < cap);
}

/* Entries in dir, not counting "." and "..". */
static int t_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int t_exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    t_join(dir, name, p, sizeof p);
    return lstat(p, &st) == 0;
}

static void t_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

/* Whole file into a malloc'd buffer (free()). */
static char *t_read(const char *path, size_t *len)
{
    char *buf = NULL;
    mt_error err;
    int rc = mt_file_read(path, 1 << 20, &buf, len, &err);
    ck_assert_msg(rc == 0, "read %s: %s", path, err.message);
    return buf;
}

/* Set DIR/id's mtime to t seconds past the epoch. */
static void t_set_mtime(const char *dir, const char *id, time_t t)
{
    char p[512];
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    t_join(dir, id, p, sizeof p);
    ck_assert(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static time_t t_mtime(const char *dir, const char *id)
{
    char p[512];
    struct stat st;
    t_join(dir, id, p, sizeof p);
    ck_assert(stat(p, &st) == 0);
    return st.st_mtime;
}

/* ------------------------------------------------------------ blobs */

START_TEST(put_get_has_path_round_trip)
{
    char parent[128], dir[160], id[MT_BLOB_ID_HEX], path[256], want[256];
    uint8_t buf[T_BLOB], *got = NULL;
    size_t len = 0;
    struct stat st;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    ck_assert(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_str_eq(mt_blobstore_dir(s), dir);

    t_blob(buf, sizeof buf, id);
    ck_assert_int_eq(mt_blobstore_has(s, id), 0);
    T_RC(mt_blobstore_get(s, id, &got, &len, E), MT_ENOTFOUND);
    ck_assert_ptr_null(got);
    T_OK(mt_blobstore_put(s, id, buf, sizeof buf, E));
    ck_assert_int_eq(mt_blobstore_has(s, id), 1);
    T_OK(mt_blobstore_get(s, id, &got, &len, E));
    ck_assert_uint_eq(len, sizeof buf);
    ck_assert(memcmp(got, buf, len) == 0);
    free(got);

    T_OK(mt_blobstore_path(s, id, path, sizeof path, E));
    t_join(dir, id, want, sizeof want);
    ck_assert_str_eq(path, want);
    ck_assert(stat(path, &st) == 0 && st.st_size == (off_t)sizeof buf);
    T_RC(mt_blobstore_path(s, id, path, strlen(want), E), MT_EINVAL); /* no room for the NUL */
    ck_assert_int_eq(t_count(dir), 1); /* no temp file left behind */

    /* Putting it again keeps the file and marks it used. */
    t_set_mtime(dir, id, 1000000);
    T_OK(mt_blobstore_put(s, id, buf, sizeof buf, E));
    ck_assert(t_mtime(dir, id) > 1000000);
    ck_assert_int_eq(t_count(dir), 1);

    /* touch marks use; a missing blob is ignored. */
    t_set_mtime(dir, id, 1000000);
    mt_blobstore_touch(s, id);
    ck_assert(t_mtime(dir, id) > 1000000);
    mt_blobstore_touch(s, "0000000000000000000000000000000000000000000000000000000000000000");

    /* Empty blobs are blobs too. */
    t_id((const uint8_t *)"", 0, id);
    T_OK(mt_blobstore_put(s, id, NULL, 0, E));
    T_OK(mt_blobstore_get(s, id, &got, &len, E));
    ck_assert_uint_eq(len, 0);
    free(got);

    T_OK(mt_blobstore_remove(s, id, E));
    ck_assert_int_eq(mt_blobstore_has(s, id), 0);
    T_RC(mt_blobstore_remove(s, id, E), MT_ENOTFOUND);
    mt_blobstore_close(s);
    mt_blobstore_close(NULL);
}
END_TEST

START_TEST(put_wrong_id_stores_nothing)
{
    char parent[128], dir[160], id[MT_BLOB_ID_HEX], other[MT_BLOB_ID_HEX];
    uint8_t buf[T_BLOB], buf2[T_BLOB];
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    t_blob(buf, sizeof buf, id);
    t_blob(buf2, sizeof buf2, other);
    T_RC(mt_blobstore_put(s, other, buf, sizeof buf, E), MT_ECRYPTO);
    buf[7] ^= 1;
    T_RC(mt_blobstore_put(s, id, buf, sizeof buf, E), MT_ECRYPTO);
    ck_assert_int_eq(mt_blobstore_has(s, id), 0);
    ck_assert_int_eq(mt_blobstore_has(s, other), 0);
    ck_assert_int_eq(t_count(dir), 0);
    mt_blobstore_close(s);
}
END_TEST

START_TEST(invalid_ids_refused)
{
    char parent[128], dir[160], path[256], id[MT_BLOB_ID_HEX], upper[MT_BLOB_ID_HEX], longer[MT_BLOB_ID_HEX + 1];
    char short63[MT_BLOB_ID_HEX];
    uint8_t buf[T_BLOB], *got = NULL;
    size_t len = 0;
    mt_blobstore *s;
    const char *bad[6];

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    t_blob(buf, sizeof buf, id);
    memcpy(upper, id, sizeof upper);
    for (size_t i = 0; upper[i]; i++)
        if (upper[i] >= 'a' && upper[i] <= 'f')
            upper[i] = (char)(upper[i] - 'a' + 'A');
    ck_assert_str_ne(upper, id); /* a SHA-256 in hex without a letter: not in this universe */
    memcpy(short63, id, 63);
    short63[63] = '\0';
    memcpy(longer, id, 64);
    longer[64] = '0';
    longer[65] = '\0';
    bad[0] = upper;
    bad[1] = short63;
    bad[2] = longer;
    bad[3] = "../x";
    bad[4] = "";
    bad[5] = "../0000000000000000000000000000000000000000000000000000000000000";

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_RC(mt_blobstore_path(s, bad[i], path, sizeof path, E), MT_EINVAL);
        T_RC(mt_blobstore_put(s, bad[i], buf, sizeof buf, E), MT_EINVAL);
        T_RC(mt_blobstore_remove(s, bad[i], E), MT_EINVAL);
        T_RC(mt_blobstore_get(s, bad[i], &got, &len, E), MT_EINVAL);
        ck_assert_int_eq(mt_blobstore_has(s, bad[i]), 0);
        ck_assert_int_eq(mt_blobstore_is_pinned(s, bad[i]), 0);
        mt_blobstore_touch(s, bad[i]);
    }
    T_RC(mt_blobstore_path(s, NULL, path, sizeof path, E), MT_EINVAL);
    T_RC(mt_blobstore_put(s, NULL, buf, sizeof buf, E), MT_EINVAL);
    T_RC(mt_blobstore_remove(s, NULL, E), MT_EINVAL);
    ck_assert_int_eq(mt_blobstore_has(s, NULL), 0);
    mt_blobstore_touch(s, NULL);
    /* The id's rule is lower case: the same bytes under an upper-case id
     * would be a second name for one blob. */
    T_RC(mt_blobstore_pin(s, "t", (const char *const[]){upper}, 1, E), MT_EINVAL);

    /* Nothing in DIR, nothing new beside it. */
    ck_assert_int_eq(t_count(dir), 0);
    ck_assert_int_eq(t_count(parent), 1);
    ck_assert(!t_exists(parent, "x"));
    mt_blobstore_close(s);
}
END_TEST

START_TEST(corrupted_blob_removed_on_get)
{
    char parent[128], dir[160], id[MT_BLOB_ID_HEX], id2[MT_BLOB_ID_HEX], path[256];
    uint8_t buf[T_BLOB], *got = (uint8_t *)1, *big;
    size_t len = 7;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    t_blob(buf, sizeof buf, id);
    T_OK(mt_blobstore_put(s, id, buf, sizeof buf, E));
    T_OK(mt_blobstore_path(s, id, path, sizeof path, E));
    buf[100] ^= 0x80; /* same size, one bit off */
    t_write(path, buf, sizeof buf);
    T_RC(mt_blobstore_get(s, id, &got, &len, E), MT_ECRYPTO);
    ck_assert_ptr_null(got);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mt_blobstore_has(s, id), 0);
    ck_assert_int_eq(t_count(dir), 0);

    /* A torn (short) file too; and put replaces a file of the wrong size. */
    buf[100] ^= 0x80;
    t_write(path, buf, sizeof buf / 2);
    T_OK(mt_blobstore_put(s, id, buf, sizeof buf, E));
    T_OK(mt_blobstore_get(s, id, &got, &len, E));
    ck_assert_uint_eq(len, sizeof buf);
    free(got);
    t_write(path, buf, sizeof buf / 2);
    T_RC(mt_blobstore_get(s, id, &got, &len, E), MT_ECRYPTO);
    ck_assert_int_eq(mt_blobstore_has(s, id), 0);

    /* Bigger than any blob: refused before hashing. */
    big = calloc(1, MT_BLOB_BYTES + 8192);
    ck_assert_ptr_nonnull(big);
    t_id(big, MT_BLOB_BYTES + 8192, id2);
    T_OK(mt_blobstore_path(s, id2, path, sizeof path, E));
    t_write(path, big, MT_BLOB_BYTES + 8192);
    T_RC(mt_blobstore_get(s, id2, &got, &len, E), MT_ETOOBIG);
    T_RC(mt_blobstore_put(s, id2, big, MT_BLOB_BYTES + 8192, E), MT_ETOOBIG);
    free(big);
    mt_blobstore_close(s);
}
END_TEST

/* ------------------------------------------------------------ usage, eviction */

/* Files the store must ignore: put them in dir, check them later. */
static void t_plant_foreign(const char *dir)
{
    char p[512], inner[600];
    char upper[] = "ABCDEF0000000000000000000000000000000000000000000000000000000000";
    char sub[] = "1111111111111111111111111111111111111111111111111111111111111111";
    char link[] = "2222222222222222222222222222222222222222222222222222222222222222";
    t_join(dir, "notes.txt", p, sizeof p);
    t_write(p, "hello", 5);
    t_join(dir, upper, p, sizeof p);
    t_write(p, "HELLO", 5);
    t_join(dir, ".tmp.leftover", p, sizeof p);
    t_write(p, "x", 1);
    t_join(dir, sub, p, sizeof p);
    ck_assert(mkdir(p, 0700) == 0);
    t_join(p, "inner", inner, sizeof inner);
    t_write(inner, "in", 2);
    t_join(dir, link, p, sizeof p);
    ck_assert(symlink("notes.txt", p) == 0);
}

static void t_check_foreign(const char *dir)
{
    char p[512];
    struct stat st;
    ck_assert(t_exists(dir, "notes.txt"));
    ck_assert(t_exists(dir, "ABCDEF0000000000000000000000000000000000000000000000000000000000"));
    ck_assert(t_exists(dir, ".tmp.leftover"));
    t_join(dir, "1111111111111111111111111111111111111111111111111111111111111111", p, sizeof p);
    ck_assert(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert(t_exists(p, "inner"));
    t_join(dir, "2222222222222222222222222222222222222222222222222222222222222222", p, sizeof p);
    ck_assert(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
}

START_TEST(usage_counts_and_ignores_foreign_files)
{
    char parent[128], dir[160], a[MT_BLOB_ID_HEX], b[MT_BLOB_ID_HEX], c[MT_BLOB_ID_HEX];
    mt_blobstore_usage u;
    uint64_t freed = 99;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 100);
    t_put_new(s, 1000, a);
    t_put_new(s, 2000, b);
    t_put_new(s, 3000, c);
    t_plant_foreign(dir);
    T_OK(mt_blobstore_pin(s, "feed", (const char *const[]){b}, 1, E));
    /* A pin on an absent blob counts as a tag's id, not as usage. */
    T_OK(mt_blobstore_pin(s, "other",
                          (const char *const[]){"3333333333333333333333333333333333333333333333333333333333333333"},
                          1, E));
    ck_assert_int_eq(mt_blobstore_has(s, "2222222222222222222222222222222222222222222222222222222222222222"), 0);
    ck_assert_int_eq(mt_blobstore_has(s, "1111111111111111111111111111111111111111111111111111111111111111"), 0);

    T_OK(mt_blobstore_get_usage(s, &u, E));
    ck_assert_uint_eq(u.cap, 100);
    ck_assert_uint_eq(u.bytes, 6000);
    ck_assert_uint_eq(u.blobs, 3);
    ck_assert_uint_eq(u.pinned_bytes, 2000);
    ck_assert_uint_eq(u.pinned_blobs, 1);
    ck_assert_uint_eq(u.tags, 2);

    /* Cap 100: everything unpinned goes, the pinned blob stays, and so do
     * all the files that are not blobs. */
    T_RC(mt_blobstore_evict(s, 0, NULL, NULL, &freed, E), MT_ETOOBIG);
    ck_assert_uint_eq(freed, 4000);
    ck_assert_int_eq(mt_blobstore_has(s, a), 0);
    ck_assert_int_eq(mt_blobstore_has(s, b), 1);
    ck_assert_int_eq(mt_blobstore_has(s, c), 0);
    t_check_foreign(dir);
    T_OK(mt_blobstore_get_usage(s, &u, E));
    ck_assert_uint_eq(u.bytes, 2000);
    ck_assert_uint_eq(u.blobs, 1);
    mt_blobstore_close(s);
}
END_TEST

/* Five 1 KiB blobs in dir with mtimes 100, 200, ... 500 s past the epoch,
 * ids[0] the oldest. */
static void t_five(mt_blobstore *s, const char *dir, char ids[5][MT_BLOB_ID_HEX])
{
    for (int i = 0; i < 5; i++) {
        t_put_new(s, T_BLOB, ids[i]);
        t_set_mtime(dir, ids[i], 100 * (i + 1));
    }
}

START_TEST(evict_lru_spares_touched_and_pinned)
{
    char parent[128], dir[160], ids[5][MT_BLOB_ID_HEX];
    uint64_t freed = 0;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 3 * T_BLOB);
    t_five(s, dir, ids);
    mt_blobstore_touch(s, ids[0]);                                        /* oldest becomes newest */
    T_OK(mt_blobstore_pin(s, "feed", (const char *const[]){ids[1]}, 1, E)); /* second oldest pinned */

    /* 5 KiB in a 3 KiB store: two go, the least recently used unpinned. */
    T_OK(mt_blobstore_evict(s, 0, NULL, NULL, &freed, E));
    ck_assert_uint_eq(freed, 2 * T_BLOB);
    ck_assert_int_eq(mt_blobstore_has(s, ids[0]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[1]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[2]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[3]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[4]), 1);

    /* Nothing to do when it fits; room for one more blob costs one. */
    T_OK(mt_blobstore_evict(s, 0, NULL, NULL, &freed, E));
    ck_assert_uint_eq(freed, 0);
    T_OK(mt_blobstore_evict(s, T_BLOB, NULL, NULL, NULL, E));
    ck_assert_int_eq(mt_blobstore_has(s, ids[4]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[0]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[1]), 1);

    /* A need bigger than the cap can never fit; an overflowing one neither. */
    T_RC(mt_blobstore_evict(s, 4 * T_BLOB, NULL, NULL, &freed, E), MT_ETOOBIG);
    ck_assert_int_eq(mt_blobstore_has(s, ids[1]), 1);
    T_RC(mt_blobstore_evict(s, UINT64_MAX, NULL, NULL, NULL, E), MT_ETOOBIG);
    mt_blobstore_close(s);
}
END_TEST

/* keep(): spares ids[0] and ids[2], counts its calls. */
typedef struct keep_ctx {
    char (*ids)[MT_BLOB_ID_HEX];
    int calls;
} keep_ctx;

static int t_keep(void *ud, const char *id)
{
    keep_ctx *k = ud;
    k->calls++;
    ck_assert_int_eq(mt_blob_id_valid(id), 1);
    return !strcmp(id, k->ids[0]) || !strcmp(id, k->ids[2]);
}

START_TEST(evict_keep_spares)
{
    char parent[128], dir[160], ids[5][MT_BLOB_ID_HEX];
    keep_ctx k;
    uint64_t freed = 0;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 3 * T_BLOB);
    t_five(s, dir, ids);
    t_plant_foreign(dir);
    T_OK(mt_blobstore_pin(s, "feed", (const char *const[]){ids[1]}, 1, E));
    k.ids = ids;
    k.calls = 0;
    T_OK(mt_blobstore_evict(s, 0, t_keep, &k, &freed, E));
    ck_assert_uint_eq(freed, 2 * T_BLOB);
    ck_assert_int_eq(k.calls, 4); /* every unpinned blob, nothing else */
    ck_assert_int_eq(mt_blobstore_has(s, ids[0]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[1]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[2]), 1);
    ck_assert_int_eq(mt_blobstore_has(s, ids[3]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[4]), 0);
    t_check_foreign(dir);
    mt_blobstore_close(s);
}
END_TEST

START_TEST(evict_all_pinned_too_big)
{
    char parent[128], dir[160], ids[5][MT_BLOB_ID_HEX];
    const char *all[5];
    uint64_t freed = 99;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, T_BLOB);
    t_five(s, dir, ids);
    for (int i = 0; i < 5; i++)
        all[i] = ids[i];
    T_OK(mt_blobstore_pin(s, "a", all, 3, E));
    T_OK(mt_blobstore_pin(s, "b", all + 3, 2, E));
    T_RC(mt_blobstore_evict(s, 0, NULL, NULL, &freed, E), MT_ETOOBIG);
    ck_assert_uint_eq(freed, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mt_blobstore_has(s, ids[i]), 1);

    /* Half pinned: what could go went, and the rest still does not fit. */
    T_OK(mt_blobstore_unpin(s, "b", E));
    T_RC(mt_blobstore_evict(s, 0, NULL, NULL, &freed, E), MT_ETOOBIG);
    ck_assert_uint_eq(freed, 2 * T_BLOB);
    ck_assert_int_eq(mt_blobstore_has(s, ids[3]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[4]), 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[0]), 1);
    mt_blobstore_close(s);

    /* Cap 0 means no cap: nothing is ever evicted. */
    s = t_open(dir, 0);
    T_OK(mt_blobstore_unpin(s, "a", E));
    T_OK(mt_blobstore_evict(s, UINT64_MAX, NULL, NULL, &freed, E));
    ck_assert_uint_eq(freed, 0);
    ck_assert_int_eq(mt_blobstore_has(s, ids[0]), 1);
    mt_blobstore_close(s);
}
END_TEST

/* ------------------------------------------------------------ pins */

START_TEST(pins_persist_and_unpin)
{
    char parent[128], dir[160], ids[5][MT_BLOB_ID_HEX], pins[256], tag128[129], tag129[130];
    const char *odd = "feed \"q\" \\ \x01 \xc3\xa9";
    char *before, *after;
    size_t blen, alen;
    mt_blobstore_usage u;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    t_five(s, dir, ids);
    T_OK(mt_blobstore_pin(s, "A", (const char *const[]){ids[0], ids[1]}, 2, E));
    T_OK(mt_blobstore_pin(s, "B", (const char *const[]){ids[1], ids[2], ids[2]}, 3, E));
    T_OK(mt_blobstore_pin(s, "A", (const char *const[]){ids[3]}, 1, E)); /* adds to A */
    T_OK(mt_blobstore_pin(s, odd, (const char *const[]){ids[4]}, 1, E));
    T_OK(mt_blobstore_pin(s, "empty", NULL, 0, E));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[i]), 1);
    mt_blobstore_close(s);

    s = t_open(dir, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[i]), 1);
    T_OK(mt_blobstore_get_usage(s, &u, E));
    ck_assert_uint_eq(u.tags, 4);
    ck_assert_uint_eq(u.pinned_blobs, 5);
    T_OK(mt_blobstore_unpin(s, "A", E));
    T_OK(mt_blobstore_unpin(s, odd, E));
    T_OK(mt_blobstore_unpin(s, "never pinned", E));
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[0]), 0);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[1]), 1); /* B still pins it */
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[2]), 1);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[3]), 0);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[4]), 0);
    mt_blobstore_close(s);

    s = t_open(dir, 0);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[0]), 0);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[1]), 1);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[3]), 0);
    T_OK(mt_blobstore_get_usage(s, &u, E));
    ck_assert_uint_eq(u.tags, 2);

    /* Refused pins change neither memory nor the file. */
    t_join(dir, ".pins.json", pins, sizeof pins);
    before = t_read(pins, &blen);
    memset(tag128, 'x', 128);
    tag128[128] = '\0';
    memset(tag129, 'x', 129);
    tag129[129] = '\0';
    T_RC(mt_blobstore_pin(s, "C", (const char *const[]){ids[0], "nope"}, 2, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, "C", (const char *const[]){ids[0], NULL}, 2, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, "", (const char *const[]){ids[0]}, 1, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, NULL, (const char *const[]){ids[0]}, 1, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, tag129, (const char *const[]){ids[0]}, 1, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, "\xff\xfe", (const char *const[]){ids[0]}, 1, E), MT_EINVAL);
    T_RC(mt_blobstore_pin(s, "C", (const char *const[]){ids[0]}, 4000001, E), MT_ETOOBIG);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[0]), 0);
    after = t_read(pins, &alen);
    ck_assert(alen == blen && memcmp(before, after, blen) == 0);
    free(before);
    free(after);

    /* The longest tag is fine. */
    T_OK(mt_blobstore_pin(s, tag128, (const char *const[]){ids[0]}, 1, E));
    mt_blobstore_close(s);
    s = t_open(dir, 0);
    ck_assert_int_eq(mt_blobstore_is_pinned(s, ids[0]), 1);
    mt_blobstore_close(s);
}
END_TEST

/* What list_pins reported, in call order. */
typedef struct seen {
    int    n;
    char   tag[4][130];
    size_t ids[4], present[4];
} seen;

static void t_tag_fn(void *ud, const char *tag, size_t n_ids, size_t n_present)
{
    seen *v = ud;
    ck_assert_int_lt(v->n, 4);
    snprintf(v->tag[v->n], sizeof v->tag[v->n], "%s", tag);
    v->ids[v->n] = n_ids;
    v->present[v->n] = n_present;
    v->n++;
}

START_TEST(list_pins_counts)
{
    char parent[128], dir[160], ids[5][MT_BLOB_ID_HEX];
    seen v;
    mt_blobstore *s;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    s = t_open(dir, 0);
    memset(&v, 0, sizeof v);
    T_OK(mt_blobstore_list_pins(s, t_tag_fn, &v, E));
    ck_assert_int_eq(v.n, 0);
    T_RC(mt_blobstore_list_pins(s, NULL, &v, E), MT_EINVAL);

    t_five(s, dir, ids);
    T_OK(mt_blobstore_pin(s, "zeta", (const char *const[]){ids[0], ids[1], ids[2]}, 3, E));
    T_OK(mt_blobstore_pin(s, "alpha", (const char *const[]){ids[3]}, 1, E));
    T_OK(mt_blobstore_remove(s, ids[1], E));
    T_OK(mt_blobstore_list_pins(s, t_tag_fn, &v, E));
    ck_assert_int_eq(v.n, 2);
    ck_assert_str_eq(v.tag[0], "alpha");
    ck_assert_uint_eq(v.ids[0], 1);
    ck_assert_uint_eq(v.present[0], 1);
    ck_assert_str_eq(v.tag[1], "zeta");
    ck_assert_uint_eq(v.ids[1], 3);
    ck_assert_uint_eq(v.present[1], 2);
    mt_blobstore_close(s);
}
END_TEST

/* Opening a store whose .pins.json holds text fails with MT_EINVAL, a
 * message containing part, and the file exactly as it was. */
static void t_bad_pins(const char *text, const char *part)
{
    char parent[128], dir[160], pins[256];
    mt_blobstore *s = (mt_blobstore *)1;
    mt_error err;
    char *after;
    size_t len;
    int rc;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    ck_assert(mkdir(dir, 0700) == 0);
    t_join(dir, ".pins.json", pins, sizeof pins);
    t_write(pins, text, strlen(text));
    mt_error_clear(&err);
    rc = mt_blobstore_open(dir, 0, &s, &err);
    ck_assert_msg(rc == MT_EINVAL, "%s: open gave %d (%s)", text, rc, err.message);
    ck_assert_int_eq(err.code, MT_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, ".pins.json") && strstr(err.message, part),
                  "%s: message \"%s\" lacks \"%s\"", text, err.message, part);
    after = t_read(pins, &len);
    ck_assert(len == strlen(text) && memcmp(after, text, len) == 0);
    free(after);
    ck_assert_int_eq(t_count(dir), 1);
}

#define T_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(malformed_pins_refused)
{
    char tag129[130], text[256];

    t_bad_pins("", "byte");
    t_bad_pins("{\"version\":1,\"tags\":{", "byte");
    t_bad_pins("[]", "must be a JSON object");
    t_bad_pins("{\"tags\":{}}", "version is missing");
    t_bad_pins("{\"version\":2,\"tags\":{}}", "version must be 1");
    t_bad_pins("{\"version\":\"1\",\"tags\":{}}", "version must be 1");
    t_bad_pins("{\"version\":1.5,\"tags\":{}}", "byte"); /* the integers-only parser */
    t_bad_pins("{\"version\":1}", "tags must be an object");
    t_bad_pins("{\"version\":1,\"tags\":[]}", "tags must be an object");
    t_bad_pins("{\"version\":1,\"tags\":{},\"extra\":0}", "unknown member \"extra\"");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":\"" T_ID "\"}}", "tags[\"a\"] must be an array");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[\"" T_ID "\",\"0123\"]}}", "tags[\"a\"][1] is not a blob id");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[\"" T_ID "\",\"../x\"]}}", "tags[\"a\"][1] is not a blob id");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"]}}",
               "tags[\"a\"][0] is not a blob id");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[7]}}", "tags[\"a\"][0] is not a blob id");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[[\"" T_ID "\"]]}}", "deep");
    t_bad_pins("{\"version\":1,\"tags\":{\"\":[]}}", "empty");
    memset(tag129, 'x', 129);
    tag129[129] = '\0';
    ck_assert((size_t)snprintf(text, sizeof text, "{\"version\":1,\"tags\":{\"%s\":[]}}", tag129) < sizeof text);
    t_bad_pins(text, "longer than 128 bytes");
    t_bad_pins("{\"version\":1,\"tags\":{\"a\":[],\"a\":[]}}", "duplicate key");
}
END_TEST

START_TEST(open_dir_checks)
{
    char parent[128], dir[160], file[200], deep[200];
    mt_blobstore *s = (mt_blobstore *)1;

    t_store_dir(parent, sizeof parent, dir, sizeof dir);
    t_join(dir, "sub", deep, sizeof deep);
    T_RC(mt_blobstore_open(deep, 0, &s, E), MT_ENOTFOUND); /* parent missing */
    ck_assert_ptr_null(s);
    ck_assert(!t_exists(parent, "store"));
    t_join(parent, "file", file, sizeof file);
    t_write(file, "x", 1);
    T_RC(mt_blobstore_open(file, 0, &s, E), MT_EINVAL);
    T_RC(mt_blobstore_open(NULL, 0, &s, E), MT_EINVAL);
    T_RC(mt_blobstore_open(dir, 0, NULL, E), MT_EINVAL);

    /* A trailing slash names the same directory; reopening an existing
     * store is fine. */
    ck_assert((size_t)snprintf(deep, sizeof deep, "%s/", dir) < sizeof deep);
    s = t_open(deep, 0);
    ck_assert_str_eq(mt_blobstore_dir(s), dir);
    mt_blobstore_close(s);
    s = t_open(dir, 0);
    mt_blobstore_close(s);
}
END_TEST

static Suite *blobstore_suite(void)
{
    Suite *s = suite_create("blobstore");
    TCase *blobs = tcase_create("blobs");
    TCase *evict = tcase_create("evict");
    TCase *pins = tcase_create("pins");

    tcase_add_test(blobs, put_get_has_path_round_trip);
    tcase_add_test(blobs, put_wrong_id_stores_nothing);
    tcase_add_test(blobs, invalid_ids_refused);
    tcase_add_test(blobs, corrupted_blob_removed_on_get);
    tcase_add_test(blobs, open_dir_checks);
    suite_add_tcase(s, blobs);

    tcase_add_test(evict, usage_counts_and_ignores_foreign_files);
    tcase_add_test(evict, evict_lru_spares_touched_and_pinned);
    tcase_add_test(evict, evict_keep_spares);
    tcase_add_test(evict, evict_all_pinned_too_big);
    suite_add_tcase(s, evict);

    tcase_add_test(pins, pins_persist_and_unpin);
    tcase_add_test(pins, list_pins_counts);
    tcase_add_test(pins, malformed_pins_refused);
    suite_add_tcase(s, pins);
    return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    SRunner *sr = srunner_create(blobstore_suite());
    int failed;
    if (sodium_init() < 0)
        return 1;
    snprintf(g_base, sizeof g_base, "/tmp/mt-check-blobstore-XXXXXX");
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 1;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
