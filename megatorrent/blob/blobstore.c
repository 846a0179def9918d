/*
 * blobstore.c - a content-addressed blob directory with a size cap (see
 * mt_blobstore.h).
 *
 * File operations go through a descriptor of DIR and the *at() calls, so a
 * blob is always named by its id alone and nothing can step outside DIR: an
 * id is checked with mt_blob_id_valid() before it is ever used as a name.
 *
 * Pins live in memory twice: per tag (sorted by name, each tag's ids sorted
 * and unique, for .pins.json and reports) and as one sorted, unique union
 * of all pinned ids, so mt_blobstore_is_pinned(), which eviction calls per
 * blob, is a binary search. Ids are kept as 32 raw bytes, half their hex.
 * A pin change builds the new state beside the old one, writes .pins.json,
 * and only then swaps it in, so memory and disk never disagree.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mt_blob.h"
#include "mt_blobstore.h"
#include "mt_json.h"
#include "mt_util.h"

#define ID_BYTES 32
#define PINS_NAME ".pins.json"
#define PINS_VERSION 1
#define PINS_TAG_MAX 128             /* bytes of a tag */
#define PINS_MAX_IDS 4000000u        /* ids over all tags (~128 MB in memory at most) */
#define PINS_MAX_TAGS 65536u
#define PINS_FILE_MAX (512u << 20)   /* room for the caps above, even pretty-printed */
#define PINS_DEPTH 3                 /* root object > tags object > id array */
/* A blob is at most MT_BLOB_BYTES; the slack only keeps a slightly larger
 * file reported as a hash mismatch rather than as "too big". */
#define BLOB_READ_MAX ((size_t)MT_BLOB_BYTES + 4096)
#define STORE_PATH_MAX 4096
/* Longest name made inside DIR: ".tmp.<64 hex>.<16 hex>". */
#define NAME_ROOM 96

typedef uint8_t raw_id[ID_BYTES];

typedef struct pin_tag {
    char   *name;
    raw_id *ids; /* sorted, unique */
    size_t  n;
} pin_tag;

struct mt_blobstore {
    char     dir[STORE_PATH_MAX];
    int      dfd;
    uint64_t cap;
    pin_tag *tags;     /* sorted by strcmp of name */
    size_t   n_tags;
    raw_id  *pinned;   /* union of all tags' ids, sorted, unique */
    size_t   n_pinned;
    size_t   total_ids; /* sum of the tags' n (what the caps bound) */
};

/* ---------------------------------------------------------------- helpers */

/* MT_EINVAL unless id is a blob id; the one gate before an id is a name. */
static int check_id(const char *id, mt_error *err)
{
    if (!id)
        return mt_error_set(err, MT_EINVAL, "blob id is missing");
    if (!mt_blob_id_valid(id))
        return mt_error_set(err, MT_EINVAL, "\"%.80s\" is not a blob id (64 lower-case hex digits)", id);
    return MT_OK;
}

static int cmp_raw(const void *a, const void *b)
{
    return memcmp(a, b, ID_BYTES);
}

/* Sort ids and drop repeats; returns the new count. */
static size_t sort_unique(raw_id *ids, size_t n)
{
    size_t i, k = 0;
    if (n == 0)
        return 0;
    qsort(ids, n, sizeof *ids, cmp_raw);
    for (i = 1; i < n; i++)
        if (memcmp(ids[i], ids[k], ID_BYTES) != 0)
            memcpy(ids[++k], ids[i], ID_BYTES);
    return k + 1;
}

/* Index of tag in the sorted tags, or where it would go (*found 0). */
static size_t find_tag(const pin_tag *tags, size_t n, const char *name, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(tags[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static void tags_free(pin_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(tags[i].name);
        free(tags[i].ids);
    }
    free(tags);
}

/* A tag must survive a JSON round trip and stay short: non-empty, at most
 * PINS_TAG_MAX bytes of UTF-8 (JSON strings are UTF-8). */
static int check_tag(const char *tag, mt_error *err)
{
    size_t n;
    if (!tag)
        return mt_error_set(err, MT_EINVAL, "pin tag is missing");
    n = strnlen(tag, PINS_TAG_MAX + 1);
    if (n == 0)
        return mt_error_set(err, MT_EINVAL, "pin tag is empty");
    if (n > PINS_TAG_MAX)
        return mt_error_set(err, MT_EINVAL, "pin tag \"%.40s...\" is longer than %d bytes", tag, PINS_TAG_MAX);
    if (!mt_json_utf8_valid(tag))
        return mt_error_set(err, MT_EINVAL, "pin tag is not valid UTF-8");
    return MT_OK;
}

/* ------------------------------------------------------------ pins file */

/* Full path of DIR/.pins.json into out (fits: checked at open). */
static void pins_path(const mt_blobstore *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", s->dir, PINS_NAME);
}

/* JSON string text for s: escape what JSON requires ('"', '\\', controls);
 * s is valid UTF-8, which stays literal. Returns bytes written. */
static size_t json_escape(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    out[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            out[k++] = '\\';
            out[k++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(out + k, "\\u00", 4);
            out[k + 4] = hex[*p >> 4];
            out[k + 5] = hex[*p & 15];
            k += 6;
        } else {
            out[k++] = (char)*p;
        }
    }
    out[k++] = '"';
    return k;
}

/*
 * .pins.json text for tags: {"version":1,"tags":{"<tag>":["<id>",...]}}.
 * Written by hand rather than through a cJSON tree: four million ids as
 * cJSON items would cost half a gigabyte; here the size is known up front.
 */
static int pins_serialize(const pin_tag *tags, size_t n_tags, char **out, size_t *out_len, mt_error *err)
{
    static const char head[] = "{\"version\":1,\"tags\":{";
    size_t need = sizeof head + 4, k = 0;
    char *b;

    /* Tags are at most 128 bytes (6x escaped), ids 64 hex: the caps keep
     * this far from overflowing. */
    for (size_t i = 0; i < n_tags; i++)
        need += 6 * strlen(tags[i].name) + 6 + tags[i].n * (2 * ID_BYTES + 3);
    b = malloc(need);
    if (!b)
        return mt_error_set(err, MT_ENOMEM, "out of memory writing %s", PINS_NAME);
    memcpy(b, head, sizeof head - 1);
    k = sizeof head - 1;
    for (size_t i = 0; i < n_tags; i++) {
        if (i)
            b[k++] = ',';
        k += json_escape(tags[i].name, b + k);
        b[k++] = ':';
        b[k++] = '[';
        for (size_t j = 0; j < tags[i].n; j++) {
            if (j)
                b[k++] = ',';
            b[k++] = '"';
            mt_hex_encode(tags[i].ids[j], ID_BYTES, b + k);
            k += 2 * ID_BYTES;
            b[k++] = '"';
        }
        b[k++] = ']';
    }
    memcpy(b + k, "}}\n", 4);
    k += 3;
    *out = b;
    *out_len = k;
    return MT_OK;
}

/* The sorted, unique union of the tags' ids (total: their summed n). */
static int pins_union(const pin_tag *tags, size_t n_tags, size_t total, raw_id **out, size_t *n_out,
                      mt_error *err)
{
    raw_id *u = NULL;
    size_t k = 0;
    if (total) {
        u = malloc(total * sizeof *u);
        if (!u)
            return mt_error_set(err, MT_ENOMEM, "out of memory indexing %zu pinned ids", total);
        for (size_t i = 0; i < n_tags; i++) {
            if (tags[i].n)
                memcpy(u[k], tags[i].ids, tags[i].n * sizeof *u);
            k += tags[i].n;
        }
    }
    *out = u;
    *n_out = sort_unique(u, k);
    return MT_OK;
}

/*
 * Make tags (a new array, sorted) the store's pins: index them, write
 * .pins.json atomically, then swap. On failure nothing changes and tags
 * still belongs to the caller; on success the store owns the array (but not
 * what the old array's entries pointed to: the caller frees what it
 * replaced, since only it knows which entries are shared).
 */
static int pins_apply(mt_blobstore *s, pin_tag *tags, size_t n_tags, mt_error *err)
{
    char path[STORE_PATH_MAX + 16];
    raw_id *u = NULL;
    size_t total = 0, n_u = 0, len = 0;
    char *text = NULL;
    int rc;

    for (size_t i = 0; i < n_tags; i++)
        total += tags[i].n;
    if ((rc = pins_union(tags, n_tags, total, &u, &n_u, err)) ||
        (rc = pins_serialize(tags, n_tags, &text, &len, err))) {
        free(u);
        return rc;
    }
    pins_path(s, path, sizeof path);
    rc = mt_file_write_atomic(path, text, len, 0600, 1, err);
    free(text);
    if (rc) {
        free(u);
        return rc;
    }
    free(s->tags);
    s->tags = tags;
    s->n_tags = n_tags;
    free(s->pinned);
    s->pinned = u;
    s->n_pinned = n_u;
    s->total_ids = total;
    return MT_OK;
}

/* MT_EINVAL for a malformed .pins.json (label: its path, if short enough
 * to leave room for the problem), with what and where. */
static int pins_bad(mt_error *err, const char *label, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int pins_bad(mt_error *err, const char *label, const char *fmt, ...)
{
    char what[MT_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mt_error_set(err, MT_EINVAL, "malformed %s: %s", label, what);
}

/* One member of "tags": a tag name and its array of blob ids, into t. */
static int load_tag(const cJSON *m, const char *label, size_t *total, pin_tag *t, mt_error *err)
{
    const char *name = m->string;
    const cJSON *v;
    size_t n = 0, i = 0;
    mt_error e;

    if (check_tag(name, &e))
        return pins_bad(err, label, "tag \"%.40s\": %s", name ? name : "", e.message);
    if (!cJSON_IsArray(m))
        return pins_bad(err, label, "tags[\"%.40s\"] must be an array of blob ids", name);
    n = (size_t)cJSON_GetArraySize(m);
    if (n > PINS_MAX_IDS - *total)
        return pins_bad(err, label, "more than %u pinned ids", PINS_MAX_IDS);
    *total += n;
    t->name = strdup(name);
    t->ids = n ? malloc(n * sizeof *t->ids) : NULL;
    if (!t->name || (n && !t->ids))
        return mt_error_set(err, MT_ENOMEM, "out of memory reading %s", PINS_NAME);
    cJSON_ArrayForEach(v, m) {
        if (!cJSON_IsString(v) || !mt_blob_id_valid(v->valuestring))
            return pins_bad(err, label, "tags[\"%.40s\"][%zu] is not a blob id", name, i);
        mt_hex_decode(v->valuestring, t->ids[i++], ID_BYTES);
    }
    t->n = sort_unique(t->ids, n);
    return MT_OK;
}

static int cmp_tag(const void *a, const void *b)
{
    return strcmp(((const pin_tag *)a)->name, ((const pin_tag *)b)->name);
}

/* Check the parsed document and build the tags from it (sorted). */
static int load_tags(const cJSON *root, const char *label, pin_tag **out, size_t *n_out, mt_error *err)
{
    const cJSON *m, *tags = NULL;
    int64_t version = -1;
    size_t n = 0, total = 0, i = 0;
    pin_tag *t;
    int rc = MT_OK;

    if (!cJSON_IsObject(root))
        return pins_bad(err, label, "must be a JSON object");
    cJSON_ArrayForEach(m, root) {
        if (!strcmp(m->string, "version")) {
            if (mt_json_get_int(m, &version) || version != PINS_VERSION)
                return pins_bad(err, label, "version must be %d", PINS_VERSION);
        } else if (!strcmp(m->string, "tags")) {
            tags = m;
        } else {
            /* Unknown members would be dropped by the next write. */
            return pins_bad(err, label, "unknown member \"%.40s\"", m->string);
        }
    }
    if (version != PINS_VERSION)
        return pins_bad(err, label, "version is missing");
    if (!cJSON_IsObject(tags))
        return pins_bad(err, label, "tags must be an object");
    n = (size_t)cJSON_GetArraySize(tags);
    if (n > PINS_MAX_TAGS)
        return pins_bad(err, label, "more than %u tags", PINS_MAX_TAGS);
    t = n ? calloc(n, sizeof *t) : NULL;
    if (n && !t)
        return mt_error_set(err, MT_ENOMEM, "out of memory reading %s", PINS_NAME);
    cJSON_ArrayForEach(m, tags) {
        if ((rc = load_tag(m, label, &total, &t[i++], err)))
            break;
    }
    if (rc) {
        tags_free(t, n); /* calloc'd: unfilled entries are NULL */
        return rc;
    }
    /* Keys are unique (the strict parser refuses duplicates). */
    if (n)
        qsort(t, n, sizeof *t, cmp_tag);
    *out = t;
    *n_out = n;
    return MT_OK;
}

/* Read DIR/.pins.json into s (no file: no pins). Never writes it. */
static int pins_load(mt_blobstore *s, mt_error *err)
{
    char path[STORE_PATH_MAX + 16];
    const char *label;
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    pin_tag *tags = NULL;
    size_t n_tags = 0, total = 0;
    int rc;

    pins_path(s, path, sizeof path);
    /* Messages name the file, unless its path would crowd out the problem. */
    label = strlen(path) <= 96 ? path : PINS_NAME;
    rc = mt_file_read(path, PINS_FILE_MAX, &text, &len, err);
    if (rc == MT_ENOTFOUND) {
        mt_error_clear(err);
        return MT_OK;
    }
    if (rc)
        return rc;
    rc = mt_json_parse(text, len, MT_JSON_INTEGERS, PINS_FILE_MAX, PINS_DEPTH, &root, err);
    free(text);
    if (rc) {
        char prefix[MT_ERROR_MSG_MAX];
        snprintf(prefix, sizeof prefix, "malformed %.200s", label);
        mt_error_prefix(err, prefix);
        return rc;
    }
    rc = load_tags(root, label, &tags, &n_tags, err);
    cJSON_Delete(root);
    if (rc)
        return rc;
    for (size_t i = 0; i < n_tags; i++)
        total += tags[i].n;
    rc = pins_union(tags, n_tags, total, &s->pinned, &s->n_pinned, err);
    if (rc) {
        tags_free(tags, n_tags);
        return rc;
    }
    s->tags = tags;
    s->n_tags = n_tags;
    s->total_ids = total;
    return MT_OK;
}

/* ------------------------------------------------------------ dir scans */

typedef struct blob_ent {
    char            id[MT_BLOB_ID_HEX];
    uint64_t        size;
    struct timespec mtime;
} blob_ent;

/* Called per blob file; a negative MT code stops the scan. */
typedef int (*scan_fn)(void *ud, const blob_ent *b, mt_error *err);

/*
 * Call fn for each regular file in DIR named by a blob id. Other names
 * (.pins.json, temp files, anything a user left) and other file types
 * (directories, symlinks) are skipped: the store never touches them.
 */
static int scan_blobs(mt_blobstore *s, scan_fn fn, void *ud, mt_error *err)
{
    /* A fresh open file description: fdopendir() takes it over, and its
     * reading position is not shared with s->dfd. */
    int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *d;
    int rc = MT_OK;

    if (fd < 0)
        return mt_error_set(err, MT_EIO, "cannot open blob directory %s: %s", s->dir, strerror(errno));
    d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return mt_error_set(err, MT_EIO, "cannot read blob directory %s: %s", s->dir, strerror(e));
    }
    for (;;) {
        struct stat st;
        blob_ent b;
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno)
                rc = mt_error_set(err, MT_EIO, "cannot read blob directory %s: %s", s->dir, strerror(errno));
            break;
        }
        if (!mt_blob_id_valid(de->d_name))
            continue;
        if (fstatat(s->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* removed meanwhile */
            rc = mt_error_set(err, MT_EIO, "cannot stat blob %s: %s", de->d_name, strerror(errno));
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        memcpy(b.id, de->d_name, MT_BLOB_ID_HEX);
        b.size = (uint64_t)st.st_size;
        b.mtime = st.st_mtim;
        if ((rc = fn(ud, &b, err)))
            break;
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------ open/close */

/* Create DIR 0700 if missing (only its last component); it must end up
 * being a directory. */
static int make_dir(const char *dir, mt_error *err)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0) {
        /* The umask may have taken bits; the owner needs all three. */
        if (chmod(dir, 0700) != 0)
            return mt_error_set(err, MT_EIO, "cannot set the mode of %s: %s", dir, strerror(errno));
        return MT_OK;
    }
    if (errno == ENOENT)
        return mt_error_set(err, MT_ENOTFOUND, "cannot create blob directory %s: its parent does not exist", dir);
    if (errno != EEXIST)
        return mt_error_set(err, MT_EIO, "cannot create blob directory %s: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0)
        return mt_error_set(err, MT_EIO, "cannot stat %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return mt_error_set(err, MT_EINVAL, "%s exists and is not a directory", dir);
    return MT_OK;
}

int mt_blobstore_open(const char *dir, uint64_t cap_bytes, mt_blobstore **out, mt_error *err)
{
    mt_blobstore *s;
    size_t len;
    int rc;

    if (out)
        *out = NULL;
    if (!dir || !out || !*dir)
        return mt_error_set(err, MT_EINVAL, "dir and out are required");
    len = strlen(dir);
    /* Trailing slashes would only double up in the paths made from it. */
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len + 1 + NAME_ROOM >= STORE_PATH_MAX)
        return mt_error_set(err, MT_EINVAL, "blob directory path is too long (%zu bytes)", len);
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    s = calloc(1, sizeof *s);
    if (!s)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    memcpy(s->dir, dir, len);
    s->dir[len] = '\0';
    s->cap = cap_bytes;
    s->dfd = -1;
    if ((rc = make_dir(s->dir, err)))
        goto fail;
    s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dfd < 0) {
        rc = mt_error_set(err, MT_EIO, "cannot open blob directory %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    if ((rc = pins_load(s, err)))
        goto fail;
    *out = s;
    return MT_OK;
fail:
    mt_blobstore_close(s);
    return rc;
}

void mt_blobstore_close(mt_blobstore *s)
{
    if (!s)
        return;
    if (s->dfd >= 0)
        close(s->dfd);
    tags_free(s->tags, s->n_tags);
    free(s->pinned);
    free(s);
}

const char *mt_blobstore_dir(const mt_blobstore *s)
{
    return s ? s->dir : NULL;
}

/* ------------------------------------------------------------ blobs */

int mt_blobstore_path(const mt_blobstore *s, const char *id, char *out, size_t cap, mt_error *err)
{
    int rc;
    if (!s || !out)
        return mt_error_set(err, MT_EINVAL, "store and out are required");
    if ((rc = check_id(id, err)))
        return rc;
    if ((size_t)snprintf(out, cap, "%s/%s", s->dir, id) >= cap)
        return mt_error_set(err, MT_EINVAL, "blob path needs %zu bytes; out holds %zu",
                            strlen(s->dir) + 1 + 2 * ID_BYTES + 1, cap);
    return MT_OK;
}

int mt_blobstore_has(const mt_blobstore *s, const char *id)
{
    struct stat st;
    if (!s || !id || !mt_blob_id_valid(id))
        return 0;
    return fstatat(s->dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

void mt_blobstore_touch(mt_blobstore *s, const char *id)
{
    /* Only the mtime is the LRU clock; atime is left to the mount options. */
    const struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    if (!s || !id || !mt_blob_id_valid(id))
        return;
    (void)utimensat(s->dfd, id, ts, AT_SYMLINK_NOFOLLOW);
}


/*
 * Write blob to DIR/<id> through a temp file and rename, so a reader never
 * sees a partly written blob under its id. The temp name starts with a dot
 * (never a blob id: scans skip it) and ends in random hex, so two writers
 * of the same blob do not collide. The data is fsynced before the rename;
 * the directory is not: a blob lost in a crash is fetched again, and a
 * torn one fails its hash check on read.
 */
static int write_blob(mt_blobstore *s, const char *id, const uint8_t *blob, size_t len, mt_error *err)
{
    char tmp[NAME_ROOM];
    uint8_t rnd[8];
    char rnd_hex[2 * sizeof rnd + 1];
    int fd, e;

    randombytes_buf(rnd, sizeof rnd);
    mt_hex_encode(rnd, sizeof rnd, rnd_hex);
    snprintf(tmp, sizeof tmp, ".tmp.%s.%s", id, rnd_hex);
    fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return mt_error_set(err, MT_EIO, "cannot create a temp file for blob %s in %s: %s", id, s->dir,
                            strerror(errno));
    if (mt_fd_write_all(fd, blob, len) != 0 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlinkat(s->dfd, tmp, 0);
        return mt_error_set(err, MT_EIO, "cannot write blob %s: %s", id, strerror(e));
    }
    if (close(fd) != 0 || renameat(s->dfd, tmp, s->dfd, id) != 0) {
        e = errno;
        unlinkat(s->dfd, tmp, 0);
        return mt_error_set(err, MT_EIO, "cannot store blob %s: %s", id, strerror(e));
    }
    return MT_OK;
}

int mt_blobstore_put(mt_blobstore *s, const char *id, const uint8_t *blob, size_t len, mt_error *err)
{
    char got[MT_BLOB_ID_HEX];
    struct stat st;
    int rc;

    if (!s || (!blob && len))
        return mt_error_set(err, MT_EINVAL, "store and blob are required");
    if ((rc = check_id(id, err)))
        return rc;
    /* get() refuses files this big, so storing one would be pointless. */
    if (len > BLOB_READ_MAX)
        return mt_error_set(err, MT_ETOOBIG, "blob %s is %zu bytes; at most %zu allowed", id, len, BLOB_READ_MAX);
    mt_blob_id(blob ? blob : (const uint8_t *)"", len, got);
    if (strcmp(got, id) != 0)
        return mt_error_set(err, MT_ECRYPTO, "blob %s: SHA-256 mismatch (the bytes hash to %.16s...)", id, got);
    /* Same id, same size: the same bytes, short of corruption that get()
     * will catch. A file of another size is surely damaged: replace it. */
    if (fstatat(s->dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
        mt_blobstore_touch(s, id);
        return MT_OK;
    }
    return write_blob(s, id, blob, len, err);
}

int mt_blobstore_get(mt_blobstore *s, const char *id, uint8_t **blob, size_t *len, mt_error *err)
{
    char got[MT_BLOB_ID_HEX];
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd, rc;

    if (blob)
        *blob = NULL;
    if (len)
        *len = 0;
    if (!s || !blob || !len)
        return mt_error_set(err, MT_EINVAL, "store, blob and len are required");
    if ((rc = check_id(id, err)))
        return rc;
    /* O_NONBLOCK: a FIFO planted under a blob name must not hang us; it is
     * then refused as not a regular file. O_NOFOLLOW: same for symlinks. */
    fd = openat(s->dfd, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP)
            return mt_error_set(err, MT_ENOTFOUND, "blob %s is not in %s", id, s->dir);
        return mt_error_set(err, MT_EIO, "cannot open blob %s: %s", id, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mt_error_set(err, MT_ENOTFOUND, "blob %s in %s is not a regular file", id, s->dir);
    }
    rc = mt_fd_read(fd, id, BLOB_READ_MAX, &buf, &n, err);
    close(fd);
    if (rc)
        return rc;
    mt_blob_id((const uint8_t *)buf, n, got);
    if (strcmp(got, id) != 0) {
        free(buf);
        /* A damaged copy is worse than none: it would be served again. */
        unlinkat(s->dfd, id, 0);
        return mt_error_set(err, MT_ECRYPTO, "blob %s: SHA-256 mismatch; the damaged file was removed", id);
    }
    *blob = (uint8_t *)buf;
    *len = n;
    return MT_OK;
}

int mt_blobstore_remove(mt_blobstore *s, const char *id, mt_error *err)
{
    int rc;
    if (!s)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if ((rc = check_id(id, err)))
        return rc;
    if (unlinkat(s->dfd, id, 0) != 0) {
        if (errno == ENOENT)
            return mt_error_set(err, MT_ENOTFOUND, "blob %s is not in %s", id, s->dir);
        return mt_error_set(err, MT_EIO, "cannot remove blob %s: %s", id, strerror(errno));
    }
    return MT_OK;
}

/* ------------------------------------------------------------ pins */

int mt_blobstore_pin(mt_blobstore *s, const char *tag, const char *const *ids, size_t n, mt_error *err)
{
    pin_tag *cand;
    raw_id *merged;
    size_t at, old_n, m, n_cand, skip;
    int found, rc;

    if (!s || (!ids && n))
        return mt_error_set(err, MT_EINVAL, "store and ids are required");
    if ((rc = check_tag(tag, err)))
        return rc;
    if (n > PINS_MAX_IDS)
        return mt_error_set(err, MT_ETOOBIG, "%zu ids to pin; at most %u allowed", n, PINS_MAX_IDS);
    for (size_t i = 0; i < n; i++)
        if (!ids[i] || !mt_blob_id_valid(ids[i]))
            return mt_error_set(err, MT_EINVAL, "ids[%zu] is not a blob id", i);
    at = find_tag(s->tags, s->n_tags, tag, &found);
    if (!found && s->n_tags >= PINS_MAX_TAGS)
        return mt_error_set(err, MT_ETOOBIG, "already %zu pin tags; at most %u allowed", s->n_tags, PINS_MAX_TAGS);
    old_n = found ? s->tags[at].n : 0;

    /* The tag's new id set: what it had plus ids, sorted and unique. */
    merged = old_n + n ? malloc((old_n + n) * sizeof *merged) : NULL;
    if (old_n + n && !merged)
        return mt_error_set(err, MT_ENOMEM, "out of memory pinning %zu ids", n);
    if (old_n)
        memcpy(merged, s->tags[at].ids, old_n * sizeof *merged);
    for (size_t i = 0; i < n; i++)
        mt_hex_decode(ids[i], merged[old_n + i], ID_BYTES);
    m = sort_unique(merged, old_n + n);
    if (found && m == old_n) {
        free(merged); /* nothing new: the file already says this */
        return MT_OK;
    }
    if (m - old_n > PINS_MAX_IDS - s->total_ids) {
        free(merged);
        return mt_error_set(err, MT_ETOOBIG, "pinning would make over %u pinned ids", PINS_MAX_IDS);
    }

    n_cand = s->n_tags + (found ? 0 : 1);
    cand = malloc(n_cand * sizeof *cand);
    if (!cand) {
        free(merged);
        return mt_error_set(err, MT_ENOMEM, "out of memory pinning %zu ids", n);
    }
    if (s->n_tags)
        memcpy(cand, s->tags, at * sizeof *cand);
    cand[at].name = found ? s->tags[at].name : strdup(tag);
    cand[at].ids = merged;
    cand[at].n = m;
    skip = found ? 1 : 0; /* the replaced entry */
    if (s->n_tags > at + skip)
        memcpy(cand + at + 1, s->tags + at + skip, (s->n_tags - at - skip) * sizeof *cand);
    if (!cand[at].name) {
        rc = mt_error_set(err, MT_ENOMEM, "out of memory pinning %zu ids", n);
    } else {
        raw_id *old_ids = found ? s->tags[at].ids : NULL;
        rc = pins_apply(s, cand, n_cand, err);
        if (rc == MT_OK) {
            free(old_ids);
            return MT_OK;
        }
    }
    if (!found)
        free(cand[at].name);
    free(cand);
    free(merged);
    return rc;
}

int mt_blobstore_unpin(mt_blobstore *s, const char *tag, mt_error *err)
{
    pin_tag *cand = NULL, gone;
    size_t at;
    int found, rc;

    if (!s)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if ((rc = check_tag(tag, err)))
        return rc;
    at = find_tag(s->tags, s->n_tags, tag, &found);
    if (!found)
        return MT_OK; /* nothing pinned under tag: already the wanted state */
    gone = s->tags[at];
    if (s->n_tags > 1) {
        cand = malloc((s->n_tags - 1) * sizeof *cand);
        if (!cand)
            return mt_error_set(err, MT_ENOMEM, "out of memory unpinning");
        memcpy(cand, s->tags, at * sizeof *cand);
        memcpy(cand + at, s->tags + at + 1, (s->n_tags - at - 1) * sizeof *cand);
    }
    rc = pins_apply(s, cand, s->n_tags - 1, err);
    if (rc) {
        free(cand);
        return rc;
    }
    free(gone.name);
    free(gone.ids);
    return MT_OK;
}

int mt_blobstore_is_pinned(const mt_blobstore *s, const char *id)
{
    raw_id key;
    if (!s || !s->n_pinned || !id || !mt_blob_id_valid(id))
        return 0;
    mt_hex_decode(id, key, ID_BYTES);
    return bsearch(key, s->pinned, s->n_pinned, sizeof *s->pinned, cmp_raw) != NULL;
}

/* ------------------------------------------------------------ reports */

static int usage_add(void *ud, const blob_ent *b, mt_error *err)
{
    mt_blobstore_usage *u = ud;
    (void)err;
    u->bytes += b->size;
    u->blobs++;
    return MT_OK;
}

/* As usage_add, plus the pinned share (needs the store). */
typedef struct usage_ctx {
    mt_blobstore       *s;
    mt_blobstore_usage *u;
} usage_ctx;

static int usage_add_pinned(void *ud, const blob_ent *b, mt_error *err)
{
    usage_ctx *c = ud;
    if (mt_blobstore_is_pinned(c->s, b->id)) {
        c->u->pinned_bytes += b->size;
        c->u->pinned_blobs++;
    }
    return usage_add(c->u, b, err);
}

int mt_blobstore_get_usage(mt_blobstore *s, mt_blobstore_usage *u, mt_error *err)
{
    mt_blobstore_usage tmp;
    usage_ctx c;
    int rc;

    if (!s || !u)
        return mt_error_set(err, MT_EINVAL, "store and usage are required");
    memset(&tmp, 0, sizeof tmp);
    tmp.cap = s->cap;
    tmp.tags = s->n_tags;
    c.s = s;
    c.u = &tmp;
    if ((rc = scan_blobs(s, usage_add_pinned, &c, err)))
        return rc;
    *u = tmp;
    return MT_OK;
}

int mt_blobstore_list_pins(mt_blobstore *s, mt_blobstore_tag_fn fn, void *ud, mt_error *err)
{
    if (!s || !fn)
        return mt_error_set(err, MT_EINVAL, "store and fn are required");
    /* Re-read s->tags each round and hand fn a copy of the name, so a
     * callback that changes the pins cannot make this read freed memory. */
    for (size_t i = 0; i < s->n_tags; i++) {
        char name[PINS_TAG_MAX + 1];
        char hex[MT_BLOB_ID_HEX];
        size_t present = 0, n = s->tags[i].n;
        struct stat st;
        for (size_t j = 0; j < n; j++) {
            mt_hex_encode(s->tags[i].ids[j], ID_BYTES, hex);
            if (fstatat(s->dfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                present++;
        }
        snprintf(name, sizeof name, "%s", s->tags[i].name);
        fn(ud, name, n, present);
    }
    return MT_OK;
}

/* ------------------------------------------------------------ eviction */

typedef struct evict_ctx {
    mt_blobstore        *s;
    mt_blobstore_keep_fn keep;
    void                *ud;
    uint64_t             bytes; /* all blobs */
    blob_ent            *cand;  /* unpinned, not kept */
    size_t               n, cap;
} evict_ctx;

/* Count every blob; collect those eviction may remove. */
static int evict_collect(void *ud, const blob_ent *b, mt_error *err)
{
    evict_ctx *c = ud;
    c->bytes += b->size;
    if (mt_blobstore_is_pinned(c->s, b->id) || (c->keep && c->keep(c->ud, b->id)))
        return MT_OK;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        blob_ent *p;
        if (ncap < c->cap || ncap > SIZE_MAX / sizeof *p)
            return mt_error_set(err, MT_ENOMEM, "too many blobs to sort for eviction");
        p = realloc(c->cand, ncap * sizeof *p);
        if (!p)
            return mt_error_set(err, MT_ENOMEM, "out of memory listing blobs for eviction");
        c->cand = p;
        c->cap = ncap;
    }
    c->cand[c->n++] = *b;
    return MT_OK;
}

/* Least recently used first; equal times by id, so runs repeat exactly. */
static int cmp_lru(const void *a, const void *b)
{
    const blob_ent *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* bytes + need <= cap, without overflowing. */
static int fits(uint64_t bytes, uint64_t need, uint64_t cap)
{
    return need <= cap && bytes <= cap - need;
}

int mt_blobstore_evict(mt_blobstore *s, uint64_t need, mt_blobstore_keep_fn keep, void *ud, uint64_t *freed,
                       mt_error *err)
{
    evict_ctx c;
    uint64_t done = 0;
    size_t i;
    int rc;

    if (freed)
        *freed = 0;
    if (!s)
        return mt_error_set(err, MT_EINVAL, "store is required");
    if (s->cap == 0)
        return MT_OK; /* no cap: always room */
    memset(&c, 0, sizeof c);
    c.s = s;
    c.keep = keep;
    c.ud = ud;
    rc = scan_blobs(s, evict_collect, &c, err);
    if (rc == MT_OK && !fits(c.bytes, need, s->cap)) {
        if (c.n)
            qsort(c.cand, c.n, sizeof *c.cand, cmp_lru);
        for (i = 0; i < c.n && !fits(c.bytes, need, s->cap); i++) {
            if (unlinkat(s->dfd, c.cand[i].id, 0) != 0) {
                if (errno == ENOENT) {
                    c.bytes -= c.cand[i].size; /* gone already, not by us */
                    continue;
                }
                rc = mt_error_set(err, MT_EIO, "cannot remove blob %s: %s", c.cand[i].id, strerror(errno));
                break;
            }
            c.bytes -= c.cand[i].size;
            done += c.cand[i].size;
        }
        if (rc == MT_OK && !fits(c.bytes, need, s->cap))
            rc = mt_error_set(err, MT_ETOOBIG,
                              "blob store holds %llu bytes and needs %llu more, over its cap of %llu; "
                              "every blob left is pinned or kept",
                              (unsigned long long)c.bytes, (unsigned long long)need, (unsigned long long)s->cap);
    }
    free(c.cand);
    if (freed)
        *freed = done;
    return rc;
}
