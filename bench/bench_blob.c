/*
 * bench_blob.c - encrypted blobs: crypto, ingest, reassembly, memory, and a
 * pack fetched over a loopback swarm (127.0.77.x) against a plain download.
 *
 * 1. Raw single-core crypto, in memory: ChaCha20-Poly1305-IETF encrypt +
 *    SHA-256 of the ciphertext (what ingest does per chunk), and SHA-256 +
 *    decrypt (what reassembly does), over --raw-mib MiB in distinct 1 MiB
 *    buffers; each primitive alone too. Median of --repeat runs.
 * 2. mt_blob_ingest_file of an --ingest-mib MiB random file (written and
 *    fsync'd first, so it is in the page cache and clean) into a fresh blob
 *    folder, --repeat times after one warm-up run (reported apart: the first
 *    writes into untouched guest memory are slow on the VM, see RESULTS.md);
 *    median MiB/s and the ratio to (1). The call ends with a syncfs; the time
 *    to the last chunk (progress callback) is shown too, so crypto + writes
 *    and the flush can be told apart. Before each timed ingest the same I/O
 *    without crypto (read, one file per MiB through tmp + rename, syncfs) is
 *    timed, to show what crypto and I/O one after the other would give.
 * 3. mt_blob_reassemble of the last ingested entry, the same way (output
 *    removed between runs and compared with the source); ratio to raw
 *    SHA-256 + decrypt. The call ends with an fsync of the output.
 * 4. Peak RSS: the program re-executes itself (a fresh process, so no pages
 *    are inherited) once doing nothing but loading the library, and once
 *    ingesting an --rss-gib GiB file; ru_maxrss from wait4. Goal: the ingest
 *    child at most 64 MiB. The big files are removed afterwards.
 * 5. Swarm fetch against a plain download, --swarm-runs times, alternating
 *    which goes first. An --swarm-mib MiB random file is ingested and packed
 *    (mt_pack_create). Fetch: session A (--addr) seeds the pack
 *    (MT_ADD_FLAT | MT_ADD_SEED_MODE); session B (--addr + 1) runs
 *    mt_blobfetch from the FileEntry (pack added by magnet) and dials A once
 *    the pack is in; timed from mt_blobfetch_start to DONE (blobs decrypted,
 *    output fsync'd and renamed). Plain: a v1 torrent of the same file with
 *    1 MiB pieces, seeded on A, added by .torrent bytes on B, timed to
 *    MT_EVENT_TORRENT_FINISHED. A third transfer, for diagnosis, moves the
 *    pack itself as a plain torrent (.torrent bytes, MT_ADD_FLAT, no blob
 *    work), so libtorrent's cost for the pack layout can be told from the
 *    fetch's own. Fresh sessions each transfer, loopback settings (no uTP),
 *    outgoing_interfaces per session, DHT off. The fetch and plain outputs
 *    are compared with the source byte for byte; downloads are removed
 *    between transfers. For the fetch it also reports where the caller's
 *    thread spent its time (per event type), the pack's state changes, how
 *    many blobs were written before and after the pack finished, and, if the
 *    fetch makes no progress for 60 s, both ends' torrent status.
 * Prints a human summary, markdown rows and, last, one JSON line.
 * Temp files live under $TMPDIR (default /tmp) in bench-blob-XXXXXX and are
 * removed on exit. Exit status: 0 ok, 1 failure, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "mt_blob.h"
#include "mt_blobswarm.h"
#include "mt_capi.h"
#include "mt_testnet.h"
#define BENCH_NAME "bench_blob"
#include "bench_util.h"

#define CHUNK (1u << 20)
#define MAX_REPEAT 15
#define MAX_RUNS 10
#ifndef STALL_MS
#define STALL_MS 60000 /* no progress for this long: fail */
#endif
#define EVENTS_PER_TURN 16
#define FILE_NAME "payload.bin"
#define INGEST_GOAL 0.70
#define RSS_GOAL_MIB 64.0
#define SWARM_GOAL 0.80


/* The raw SHA-256 is the one the library uses for blob ids (OpenSSL's, with
 * the CPU's SHA extensions where there are any), so ratios compare like
 * with like. */
static void raw_sha256(uint8_t h[32], const uint8_t *p, unsigned long long len)
{
    unsigned int n = 0;
    EVP_Digest(p, (size_t)len, h, &n, EVP_sha256(), NULL);
}

static volatile sig_atomic_t interrupted;
static char self_exe[PATH_MAX];
static char base[512];
static int base_fd = -1;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------ helpers */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double s[MAX_REPEAT > MAX_RUNS ? MAX_REPEAT : MAX_RUNS];
    if (n <= 0)
        return 0;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double min_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double max_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static double rate(double mib, double ms)
{
    return ms > 0 ? mib / (ms / 1e3) : 0;
}






static int make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, BENCH_NAME ": cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Flush the file system holding the temp dir (untimed), so one step's dirty
 * pages are not written back during the next step's measurement. */
static void settle(void)
{
    if (base_fd >= 0 && syncfs(base_fd) != 0)
        fprintf(stderr, BENCH_NAME ": syncfs: %s\n", strerror(errno));
}

/* addr + k in the last octet, staying within 1-254. */
static int next_addr(const char *addr, int k, char *out, size_t cap)
{
    unsigned a, b, c, d;
    char tail;
    if (sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a != 127 || b > 255 || c > 255 || d < 1 ||
        d + (unsigned)k > 254)
        return -1;
    snprintf(out, cap, "127.%u.%u.%u", b, c, d + (unsigned)k);
    return 0;
}

/* --------------------------------------------------------- 1. raw crypto */

typedef struct raw_result {
    double seal_ms[MAX_REPEAT]; /* encrypt + SHA-256 of the ciphertext */
    double open_ms[MAX_REPEAT]; /* SHA-256 of the ciphertext + decrypt */
    double enc_ms[MAX_REPEAT];
    double dec_ms[MAX_REPEAT];
    double sha_ms[MAX_REPEAT];
} raw_result;

static int run_raw(long mib, int repeat, raw_result *res)
{
    size_t n = (size_t)mib;
    uint8_t *src = malloc(n * CHUNK), *ct = malloc(n * (size_t)MT_BLOB_BYTES), *keys = malloc(n * 32),
            *nonces = malloc(n * 12), *out = malloc(MT_BLOB_BYTES), *plain = malloc(CHUNK), h[32];
    unsigned long long clen = 0, mlen = 0;
    volatile uint8_t sink = 0;
    int rc = -1;

    if (!src || !ct || !keys || !nonces || !out || !plain) {
        fprintf(stderr, BENCH_NAME ": out of memory for the raw buffers\n");
        goto out;
    }
    bench_fill_random(src, n * CHUNK);
    randombytes_buf(keys, n * 32);
    randombytes_buf(nonces, n * 12);
    /* Ciphertexts for the decrypt passes (untimed). */
    for (size_t i = 0; i < n; i++)
        crypto_aead_chacha20poly1305_ietf_encrypt(ct + i * MT_BLOB_BYTES, &clen, src + i * CHUNK, CHUNK, NULL, 0,
                                                  NULL, nonces + i * 12, keys + i * 32);
    for (int r = 0; r < repeat && !interrupted; r++) {
        double t0 = now_ms();
        for (size_t i = 0; i < n; i++) {
            crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, src + i * CHUNK, CHUNK, NULL, 0, NULL,
                                                      nonces + i * 12, keys + i * 32);
            raw_sha256(h, out, clen);
            sink ^= h[0];
        }
        res->seal_ms[r] = now_ms() - t0;

        t0 = now_ms();
        for (size_t i = 0; i < n; i++) {
            const uint8_t *c = ct + i * MT_BLOB_BYTES;
            raw_sha256(h, c, MT_BLOB_BYTES);
            sink ^= h[0];
            if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &mlen, NULL, c, MT_BLOB_BYTES, NULL, 0,
                                                          nonces + i * 12, keys + i * 32) != 0) {
                fprintf(stderr, BENCH_NAME ": raw decrypt failed\n");
                goto out;
            }
        }
        res->open_ms[r] = now_ms() - t0;

        t0 = now_ms();
        for (size_t i = 0; i < n; i++)
            crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, src + i * CHUNK, CHUNK, NULL, 0, NULL,
                                                      nonces + i * 12, keys + i * 32);
        res->enc_ms[r] = now_ms() - t0;

        t0 = now_ms();
        for (size_t i = 0; i < n; i++)
            if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &mlen, NULL, ct + i * MT_BLOB_BYTES, MT_BLOB_BYTES,
                                                          NULL, 0, nonces + i * 12, keys + i * 32) != 0) {
                fprintf(stderr, BENCH_NAME ": raw decrypt failed\n");
                goto out;
            }
        res->dec_ms[r] = now_ms() - t0;

        t0 = now_ms();
        for (size_t i = 0; i < n; i++) {
            raw_sha256(h, ct + i * MT_BLOB_BYTES, MT_BLOB_BYTES);
            sink ^= h[0];
        }
        res->sha_ms[r] = now_ms() - t0;
    }
    (void)sink;
    rc = interrupted ? -1 : 0;
out:
    free(src);
    free(ct);
    free(keys);
    free(nonces);
    free(out);
    free(plain);
    return rc;
}

/* ------------------------------------------------- 2, 3. ingest/reassemble */

typedef struct last_chunk {
    double t; /* when the progress callback last ran */
} last_chunk;

static int on_progress(void *ud, int64_t done, int64_t total)
{
    (void)done;
    (void)total;
    ((last_chunk *)ud)->t = now_ms();
    return interrupted ? 1 : 0;
}

/*
 * The I/O of ingest without the crypto: read src in 1 MiB chunks and store
 * each as its own file in dir (a fresh folder) through <name>.tmp and a
 * rename, as ingest stores a blob, then one syncfs. *ms: the whole, *pre_ms:
 * to the last file.
 */
static int run_io_only(const char *src, const char *dir, uint8_t *buf, double *ms, double *pre_ms)
{
    int in = -1, dfd = -1, rc = -1;
    double t0 = now_ms();
    unsigned n = 0;
    if (mkdir(dir, 0700) != 0 || (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, BENCH_NAME ": I/O-only: %s: %s\n", dir, strerror(errno));
        goto out;
    }
    for (;;) {
        char name[32], tmp[40];
        ssize_t got = bench_read_full(in, buf, CHUNK);
        int fd;
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        snprintf(name, sizeof name, "%08x", n++);
        snprintf(tmp, sizeof tmp, "%s.tmp", name);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || mt_fd_write_all(fd, buf, (size_t)got) != 0 || close(fd) != 0 || renameat(dfd, tmp, dfd, name) != 0) {
            fprintf(stderr, BENCH_NAME ": I/O-only: writing %s/%s: %s\n", dir, name, strerror(errno));
            goto out;
        }
        if ((size_t)got < CHUNK)
            break;
    }
    *pre_ms = now_ms() - t0;
    if (syncfs(dfd) != 0)
        goto out;
    *ms = now_ms() - t0;
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* ------------------------------------------------------------ 4. RSS */

/* Run this program again with args; *maxrss_kib from wait4, *ms wall time. */
static int run_child(char *const *args, long *maxrss_kib, double *ms)
{
    struct rusage ru;
    int status = 0;
    double t0 = now_ms();
    pid_t pid, w;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, BENCH_NAME ": fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execv(self_exe, args);
        fprintf(stderr, BENCH_NAME ": exec %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    do
        w = wait4(pid, &status, 0, &ru);
    while (w < 0 && errno == EINTR);
    *ms = now_ms() - t0;
    if (w != pid) {
        fprintf(stderr, BENCH_NAME ": wait4: %s\n", strerror(errno));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, BENCH_NAME ": child %s %s failed (status %d)\n", args[1], args[2] ? args[2] : "", status);
        return -1;
    }
    *maxrss_kib = ru.ru_maxrss; /* KiB on Linux */
    return 0;
}

/* The re-executed child: --child-idle, or --child-ingest SRC DIR. */
static int child_main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (!strcmp(argv[1], "--child-idle")) {
        /* Only the library, loaded and initialised. */
        return mt_version()[0] ? 0 : 1;
    }
    if (!strcmp(argv[1], "--child-ingest") && argc == 4) {
        mt_fileentry *fe = NULL;
        mt_error err;
        if (mt_blob_ingest_file(argv[2], argv[3], NULL, &fe, &err) != 0) {
            fprintf(stderr, BENCH_NAME " (child): ingest %s: %s\n", argv[2], err.message);
            return 1;
        }
        mt_fileentry_free(fe);
        return 0;
    }
    fprintf(stderr, BENCH_NAME ": bad child arguments\n");
    return 2;
}

/* ----------------------------------------------------------- 5. swarm */

typedef struct swarm_ctx {
    const char *addr_a, *addr_b;
    const char *src_dir, *src_file;  /* the plain torrent's save path and file */
    const char *seed_blobs;          /* A's blob folder (the pack's save path) */
    const mt_fileentry *fe;          /* with swarm = the pack magnet */
    const uint8_t *pack_t;
    size_t pack_len;
    const uint8_t *plain_t;
    size_t plain_len;
    char fetch_blobs[1024], fetch_out[1024], plain_dir[1024];
    uint8_t *ba, *bb;
} swarm_ctx;

typedef struct fetch_result {
    double ms;               /* mt_blobfetch_start -> DONE */
    double meta_ms;          /* -> pack metadata on B */
    double peer_ms;          /* -> B reports a connected peer (sampled) */
    double first_ms;         /* -> first chunk decrypted into the output (sampled) */
    double pack_done_ms;     /* -> B's pack torrent finished */
    double pack_first_ms;    /* -> B's pack has verified bytes (sampled) */
    double last_fc_ms;       /* -> the last file_completed event was taken */
    double work_ms;          /* time spent inside mt_blobfetch_event/_tick */
    double work_meta_ms;     /* ... in events metadata / torrent_added (on_pack_metadata) */
    double work_fc_ms;       /* ... in file_completed events (blob check, decrypt, write) */
    double work_fin_ms;      /* ... in torrent_finished / checked events */
    double work_tick_ms;     /* ... in mt_blobfetch_tick */
    double max_call_ms;      /* the longest single call */
    double final_call_ms;    /* the call that made it DONE (last blob + commit) */
    char timeline[640];      /* pack state/peers changes on B */
    int fc_events;           /* file_completed events for the pack */
    double fc_first_ms;      /* -> the first one was taken */
    int fc_not_taken;        /* ... after which no new chunk was written */
    int fc_missing;          /* ... of those, no file <blob dir>/<name> then */
    int fc_nested;           /* ... events whose file path still had a '/' */
    double seed_ms;          /* -> B's pack status first said finished/seeding (sampled) */
    size_t chunks_at_seed;   /* chunks written by then */
    int reconnects;
    mt_blobfetch_progress pr;
    int64_t pack_done, pack_wanted; /* B's pack status at DONE */
    double pack_progress;
} fetch_result;

typedef struct plain_result {
    double ms, peer_ms, first_ms;
    int reconnects;
} plain_result;

static const char *state_name(mt_torrent_state s)
{
    switch (s) {
    case MT_TS_CHECKING: return "checking";
    case MT_TS_METADATA: return "metadata";
    case MT_TS_DOWNLOADING: return "downloading";
    case MT_TS_FINISHED: return "finished";
    case MT_TS_SEEDING: return "seeding";
    case MT_TS_CHECKING_RESUME: return "checking_resume";
    }
    return "?";
}

/* Append "t:state/peers" to a timeline when either changed. */
static void timeline_add(char *tl, size_t cap, double t, const mt_torrent_status *st, int *last_state, int *last_peers)
{
    size_t len = strlen(tl);
    if ((int)st->state == *last_state && st->num_peers == *last_peers)
        return;
    *last_state = (int)st->state;
    *last_peers = st->num_peers;
    if (len + 40 < cap)
        snprintf(tl + len, cap - len, "%s%.0f:%s/%d", len ? " " : "", t, state_name(st->state), st->num_peers);
}

static int new_session(const char *addr, mt_session **out)
{
    mt_session_config cfg;
    mt_error err;
    char listen[64];
    double deadline;
    snprintf(listen, sizeof listen, "%s:0", addr);
    mt_session_config_init_loopback(&cfg, listen);
    cfg.outgoing_interfaces = addr;
    cfg.enable_dht = 0;
    if (mt_session_new(&cfg, out, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": session on %s: %s\n", addr, err.message);
        return -1;
    }
    deadline = now_ms() + 10000;
    while (mt_session_listen_port(*out) <= 0) {
        if (now_ms() > deadline) {
            fprintf(stderr, BENCH_NAME ": session on %s does not listen\n", addr);
            mt_session_free(*out);
            *out = NULL;
            return -1;
        }
        poll(NULL, 0, 5);
    }
    return 0;
}

/* Drop queued events of s; report engine and torrent errors. Returns their count. */
static int drain_errors(mt_session *s, const char *who)
{
    mt_event ev;
    int errors = 0;
    memset(&ev, 0, sizeof ev);
    while (mt_session_next_event(s, &ev)) {
        if (ev.type == MT_EVENT_TORRENT_ERROR || ev.type == MT_EVENT_ERROR || ev.type == MT_EVENT_LISTEN_FAILED) {
            fprintf(stderr, BENCH_NAME ": %s: %s: %s\n", who, mt_event_type_name(ev.type), ev.message);
            errors++;
        }
        mt_event_clear(&ev);
    }
    return errors;
}

/* Seed .torrent bytes on s; waits for the add. */
static int seed(mt_session *s, const uint8_t *t, size_t len, const char *save_path, unsigned flags)
{
    mt_add_params ap;
    mt_error err;
    mt_event ev;
    uint8_t id[20];
    memset(&ap, 0, sizeof ap);
    ap.torrent = t;
    ap.torrent_len = len;
    ap.save_path = save_path;
    ap.flags = flags;
    if (mt_torrent_add(s, &ap, id, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": seeding: %s\n", err.message);
        return -1;
    }
    if (mt_session_wait_event(s, MT_EVENT_TORRENT_ADDED, id, 30000, &ev, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": seeder: %s\n", err.message);
        drain_errors(s, "seeder");
        return -1;
    }
    mt_event_clear(&ev);
    return 0;
}

/* What both ends say about a stalled pack, to stderr. */
static void stall_report(mt_session *a, mt_session *b, const uint8_t pid[20], const char *dir)
{
    mt_session *ss[2] = {a, b};
    int count = 0, files = 0;
    for (int k = 0; k < 2; k++) {
        mt_torrent_status st;
        if (mt_torrent_get_status(ss[k], pid, &st, NULL) != 0)
            continue;
        fprintf(stderr,
                BENCH_NAME ": stall: %s: state %s, paused %d, metadata %d, progress %.3f, done %" PRId64 "/%" PRId64
                           ", peers %d, seeds %d, down %" PRId64 " B/s, up %" PRId64 " B/s, error %d %s\n",
                k ? "fetcher" : "seeder", state_name(st.state), st.paused, st.has_metadata, st.progress,
                st.total_done, st.total_wanted, st.num_peers, st.num_seeds, st.download_rate, st.upload_rate,
                st.error, st.error_message);
    }
    if (mt_torrent_file_count(b, pid, &count, NULL) == 0) {
        int wanted = 0;
        for (int i = 0; i < count; i++) {
            mt_file_info fi;
            if (mt_torrent_file_info(b, pid, i, &fi, NULL) != 0)
                continue;
            wanted += fi.priority > 0;
            if (i < 3)
                fprintf(stderr, BENCH_NAME ": stall: fetcher file %d: %s, priority %d, %" PRId64 "/%" PRId64 "\n", i,
                        fi.path, fi.priority, fi.downloaded, fi.size);
        }
        fprintf(stderr, BENCH_NAME ": stall: fetcher wants %d of %d files\n", wanted, count);
    }
    {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            files += de->d_name[0] != '.';
        if (d)
            closedir(d);
        fprintf(stderr, BENCH_NAME ": stall: %d entries in %s\n", files, dir);
    }
}

static int run_fetch(swarm_ctx *c, fetch_result *res)
{
    mt_session *a = NULL, *b = NULL;
    mt_blobfetch *f = NULL;
    mt_blobfetch_opts o;
    mt_error err;
    mt_event ev;
    char peer[96];
    uint8_t pid[20];
    int rc = -1, dialed = 0;
    double t0, t, last_sample = 0, last_change, last_connect = 0;
    int64_t last_pack_done = -1;
    size_t last_chunks = 0;
    int tl_state = -1, tl_peers = -1, more = 0;
    size_t fc_before = 0;
    char fc_path[2100];

    memset(res, 0, sizeof *res);
    res->meta_ms = res->peer_ms = res->first_ms = res->pack_done_ms = res->pack_first_ms = res->last_fc_ms = -1;
    res->fc_first_ms = res->seed_ms = -1;
    if (make_dir(c->fetch_blobs) != 0)
        return -1;
    settle();
    if (new_session(c->addr_a, &a) != 0 || new_session(c->addr_b, &b) != 0)
        goto out;
    snprintf(peer, sizeof peer, "%s:%d", c->addr_a, mt_session_listen_port(a));
    if (seed(a, c->pack_t, c->pack_len, c->seed_blobs, MT_ADD_FLAT | MT_ADD_SEED_MODE) != 0)
        goto out;

    mt_blobfetch_opts_init(&o);
    o.blob_dir = c->fetch_blobs;
    o.out_path = c->fetch_out;
    o.stall_ms = -1; /* no DHT, no mt-wire: the swarm alone */
    t0 = now_ms();
    if (mt_blobfetch_start(b, c->fe, &o, &f, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": mt_blobfetch_start: %s\n", err.message);
        goto out;
    }
    mt_blobfetch_get_progress(f, &res->pr);
    memcpy(pid, res->pr.pack_id, 20);
    last_change = now_ms();

    while (mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING) {
        struct pollfd p[2] = {{mt_session_fd(a), POLLIN, 0}, {mt_session_fd(b), POLLIN, 0}};
        int to = mt_blobfetch_timeout(f), taken = 0;
        if (interrupted) {
            fprintf(stderr, BENCH_NAME ": interrupted\n");
            goto out;
        }
        mt_blobfetch_get_progress(f, &res->pr);
        if (!dialed && res->pr.has_pack) {
            memcpy(pid, res->pr.pack_id, 20);
            dialed = mt_torrent_connect_peer(b, pid, peer, NULL) == 0;
            last_connect = now_ms();
        }
        poll(p, 2, more ? 0 : to < 0 || to > 20 ? 20 : to);
        if (drain_errors(a, "pack seeder"))
            goto out;
        memset(&ev, 0, sizeof ev);
        /* At most EVENTS_PER_TURN events a turn, so that the sampling below
         * keeps running while blobs complete back to back. */
        more = 0;
        while (!(more = taken >= EVENTS_PER_TURN) && mt_session_next_event(b, &ev)) {
            double w;
            taken++;
            t = now_ms();
            if (memcmp(ev.target, pid, 20) == 0) {
                if (ev.type == MT_EVENT_TORRENT_METADATA && res->meta_ms < 0)
                    res->meta_ms = t - t0;
                if (ev.type == MT_EVENT_TORRENT_FINISHED && res->pack_done_ms < 0)
                    res->pack_done_ms = t - t0;
                if (ev.type == MT_EVENT_FILE_COMPLETED)
                    res->last_fc_ms = t - t0;
            }
            if (ev.type == MT_EVENT_FILE_COMPLETED && memcmp(ev.target, pid, 20) == 0) {
                mt_file_info fi;
                fc_before = mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING ? (mt_blobfetch_get_progress(f, &res->pr),
                                                                                 res->pr.chunks_done) : 0;
                fc_path[0] = '\0';
                if (mt_torrent_file_info(b, pid, ev.file_index, &fi, NULL) == 0) {
                    const char *slash = strrchr(fi.path, '/');
                    res->fc_nested += slash != NULL;
                    snprintf(fc_path, sizeof fc_path, "%s/%s", c->fetch_blobs, slash ? slash + 1 : fi.path);
                }
                if (res->fc_events++ == 0)
                    res->fc_first_ms = t - t0;
            }
            t = now_ms();
            mt_blobfetch_event(f, &ev);
            w = now_ms() - t;
            res->work_ms += w;
            if (w > res->max_call_ms)
                res->max_call_ms = w;
            if (ev.type == MT_EVENT_TORRENT_METADATA || ev.type == MT_EVENT_TORRENT_ADDED)
                res->work_meta_ms += w;
            else if (ev.type == MT_EVENT_FILE_COMPLETED)
                res->work_fc_ms += w;
            else if (ev.type == MT_EVENT_TORRENT_FINISHED || ev.type == MT_EVENT_TORRENT_CHECKED)
                res->work_fin_ms += w;
            if (ev.type == MT_EVENT_FILE_COMPLETED && memcmp(ev.target, pid, 20) == 0 &&
                mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING) {
                mt_blobfetch_get_progress(f, &res->pr);
                if (res->pr.chunks_done == fc_before) {
                    struct stat sb;
                    res->fc_not_taken++;
                    res->fc_missing += fc_path[0] && stat(fc_path, &sb) != 0;
                }
            }
            if (mt_blobfetch_get_state(f) != MT_BLOBFETCH_RUNNING && res->final_call_ms == 0) {
                res->final_call_ms = w;
                res->ms = now_ms() - t0;
            }
            if (ev.type == MT_EVENT_TORRENT_ERROR || ev.type == MT_EVENT_ERROR) {
                fprintf(stderr, BENCH_NAME ": fetcher: %s: %s\n", mt_event_type_name(ev.type), ev.message);
                mt_event_clear(&ev);
                goto out;
            }
            mt_event_clear(&ev);
        }
        {
            double tt = now_ms();
            int was_running = mt_blobfetch_get_state(f) == MT_BLOBFETCH_RUNNING;
            mt_blobfetch_tick(f);
            t = now_ms();
            res->work_ms += t - tt;
            res->work_tick_ms += t - tt;
            if (t - tt > res->max_call_ms)
                res->max_call_ms = t - tt;
            if (was_running && mt_blobfetch_get_state(f) != MT_BLOBFETCH_RUNNING && res->final_call_ms == 0) {
                res->final_call_ms = t - tt;
                res->ms = t - t0;
            }
        }
        if (mt_blobfetch_get_state(f) != MT_BLOBFETCH_RUNNING)
            break;
        mt_blobfetch_get_progress(f, &res->pr);
        if (res->first_ms < 0 && res->pr.chunks_done > 0)
            res->first_ms = t - t0;
        if (t - last_sample >= 20 && res->pr.has_pack) {
            mt_torrent_status st;
            last_sample = t;
            if (mt_torrent_get_status(b, pid, &st, NULL) == 0) {
                timeline_add(res->timeline, sizeof res->timeline, t - t0, &st, &tl_state, &tl_peers);
                if (res->seed_ms < 0 && (st.state == MT_TS_SEEDING || st.state == MT_TS_FINISHED)) {
                    res->seed_ms = t - t0;
                    res->chunks_at_seed = res->pr.chunks_done;
                }
                if (res->peer_ms < 0 && st.num_peers > 0)
                    res->peer_ms = t - t0;
                if (res->pack_first_ms < 0 && st.total_done > 0)
                    res->pack_first_ms = t - t0;
                if (st.total_done != last_pack_done || res->pr.chunks_done != last_chunks) {
                    last_pack_done = st.total_done;
                    last_chunks = res->pr.chunks_done;
                    last_change = t;
                } else if (t - last_change > STALL_MS) {
                    fprintf(stderr,
                            BENCH_NAME ": fetch: no progress for %d s (pack %" PRId64 " of %" PRId64
                                       " bytes, %d peers; %zu of %zu chunks)\n",
                            STALL_MS / 1000, st.total_done, st.total_wanted, st.num_peers, res->pr.chunks_done,
                            res->pr.chunks_total);
                    fprintf(stderr, BENCH_NAME ": fetch: pack on B (ms:state/peers): %s; metadata at %.0f ms\n",
                            res->timeline, res->meta_ms);
                    stall_report(a, b, pid, c->fetch_blobs);
                    goto out;
                }
                if (st.num_peers == 0 && st.state != MT_TS_SEEDING && st.state != MT_TS_FINISHED &&
                    t - last_connect > 2000) {
                    fprintf(stderr, BENCH_NAME ": fetch: no peer yet, connecting to %s again\n", peer);
                    mt_torrent_connect_peer(b, pid, peer, NULL);
                    last_connect = t;
                    res->reconnects++;
                }
            }
        }
    }
    if (mt_blobfetch_get_state(f) != MT_BLOBFETCH_DONE) {
        mt_blobfetch_get_error(f, &err);
        fprintf(stderr, BENCH_NAME ": fetch FAILED: %s\n", err.message);
        goto out;
    }
    mt_blobfetch_get_progress(f, &res->pr);
    {
        mt_torrent_status st;
        if (mt_torrent_get_status(b, pid, &st, NULL) == 0) {
            res->pack_done = st.total_done;
            res->pack_wanted = st.total_wanted;
            res->pack_progress = st.progress;
        }
    }
    mt_blobfetch_free(f, 0);
    f = NULL;
    mt_session_free(b);
    b = NULL;
    mt_session_free(a);
    a = NULL;
    if (bench_compare_files(c->src_file, c->fetch_out, c->ba, c->bb) != 0)
        goto out;
    rc = 0;
out:
    if (f)
        mt_blobfetch_free(f, 1);
    mt_session_free(b);
    mt_session_free(a);
    bench_rm_rf(c->fetch_out);
    {
        char part[1100];
        snprintf(part, sizeof part, "%s.mtpart", c->fetch_out);
        bench_rm_rf(part);
    }
    bench_rm_rf(c->fetch_blobs);
    return rc;
}

/*
 * Seed torrent t on A from seed_dir (MT_ADD_SEED_MODE | seed_flags), add the
 * same bytes on B into c->plain_dir (add_flags), time add -> finished, then
 * compare B's dl_name with c->src_file (NULL: libtorrent's piece hashes only).
 */
static int run_torrent(swarm_ctx *c, const uint8_t *t_bytes, size_t t_len, const char *seed_dir, unsigned seed_flags,
                       unsigned add_flags, const char *dl_name, plain_result *res)
{
    mt_session *a = NULL, *b = NULL;
    mt_error err;
    mt_event ev;
    mt_add_params ap;
    uint8_t id[20];
    char peer[96], dl_file[1100];
    int rc = -1, finished = 0;
    double t0, last_sample = 0, last_change, last_connect;
    int64_t last_done = -1;

    memset(res, 0, sizeof *res);
    res->peer_ms = res->first_ms = -1;
    if (make_dir(c->plain_dir) != 0)
        return -1;
    settle();
    if (new_session(c->addr_a, &a) != 0 || new_session(c->addr_b, &b) != 0)
        goto out;
    snprintf(peer, sizeof peer, "%s:%d", c->addr_a, mt_session_listen_port(a));
    if (seed(a, t_bytes, t_len, seed_dir, MT_ADD_SEED_MODE | seed_flags) != 0)
        goto out;

    memset(&ap, 0, sizeof ap);
    ap.torrent = t_bytes;
    ap.torrent_len = t_len;
    ap.save_path = c->plain_dir;
    ap.flags = add_flags;
    t0 = now_ms();
    if (mt_torrent_add(b, &ap, id, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": downloading: %s\n", err.message);
        goto out;
    }
    if (mt_torrent_connect_peer(b, id, peer, &err) != 0) {
        fprintf(stderr, BENCH_NAME ": connect to %s: %s\n", peer, err.message);
        goto out;
    }
    last_connect = last_change = now_ms();

    while (!finished) {
        struct pollfd p[2] = {{mt_session_fd(a), POLLIN, 0}, {mt_session_fd(b), POLLIN, 0}};
        double t;
        if (interrupted) {
            fprintf(stderr, BENCH_NAME ": interrupted\n");
            goto out;
        }
        poll(p, 2, 20);
        if (drain_errors(a, "seeder"))
            goto out;
        memset(&ev, 0, sizeof ev);
        while (mt_session_next_event(b, &ev)) {
            if (ev.type == MT_EVENT_TORRENT_FINISHED && memcmp(ev.target, id, 20) == 0 && !finished) {
                res->ms = now_ms() - t0;
                finished = 1;
            } else if (ev.type == MT_EVENT_TORRENT_ERROR || ev.type == MT_EVENT_ERROR) {
                fprintf(stderr, BENCH_NAME ": downloader: %s: %s\n", mt_event_type_name(ev.type), ev.message);
                mt_event_clear(&ev);
                goto out;
            }
            mt_event_clear(&ev);
        }
        t = now_ms();
        if (!finished && t - last_sample >= 20) {
            mt_torrent_status st;
            last_sample = t;
            if (mt_torrent_get_status(b, id, &st, &err) != 0) {
                fprintf(stderr, BENCH_NAME ": status: %s\n", err.message);
                goto out;
            }
            if (res->peer_ms < 0 && st.num_peers > 0)
                res->peer_ms = t - t0;
            if (res->first_ms < 0 && st.total_done > 0)
                res->first_ms = t - t0;
            if (st.total_done != last_done) {
                last_done = st.total_done;
                last_change = t;
            } else if (t - last_change > STALL_MS) {
                fprintf(stderr,
                        BENCH_NAME ": plain: no progress for %d s (%" PRId64 " of %" PRId64 " bytes, %d peers)\n",
                        STALL_MS / 1000, st.total_done, st.total_wanted, st.num_peers);
                goto out;
            }
            if (st.num_peers == 0 && t - last_connect > 2000) {
                fprintf(stderr, BENCH_NAME ": plain: no peer yet, connecting to %s again\n", peer);
                mt_torrent_connect_peer(b, id, peer, NULL);
                last_connect = t;
                res->reconnects++;
            }
        }
    }
    mt_session_free(b);
    b = NULL;
    mt_session_free(a);
    a = NULL;
    if (dl_name) {
        snprintf(dl_file, sizeof dl_file, "%s/%s", c->plain_dir, dl_name);
        if (bench_compare_files(c->src_file, dl_file, c->ba, c->bb) != 0)
            goto out;
    }
    rc = 0;
out:
    mt_session_free(b);
    mt_session_free(a);
    bench_rm_rf(c->plain_dir);
    return rc;
}

/* --------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_blob [--ingest-mib M] [--raw-mib M] [--rss-gib G] [--swarm-mib M]\n"
            "                  [--repeat N] [--swarm-runs N] [--addr A]\n"
            "  --raw-mib M      in-memory data for the raw crypto rates (default 256)\n"
            "  --ingest-mib M   file size for ingest and reassembly (default 256)\n"
            "  --repeat N       runs of the raw, ingest and reassembly measurements; median\n"
            "                   reported (default 3, max %d)\n"
            "  --rss-gib G      file size for the peak-RSS ingest (default 2; 0 skips it)\n"
            "  --swarm-mib M    file size for the swarm fetch and plain download (default 1024)\n"
            "  --swarm-runs N   fetch/plain pairs, alternating which goes first (default 2,\n"
            "                   max %d; 0 skips the swarm part)\n"
            "  --addr A         seeder address; the fetcher uses A + 1 (default 127.0.77.1)\n"
            "Goals: ingest >= %.2fx raw encrypt+SHA-256; ingest peak RSS <= %.0f MiB;\n"
            "swarm fetch >= %.2fx the plain download's rate.\n"
            "Temp files go under $TMPDIR (default /tmp) in bench-blob-XXXXXX: at peak about\n"
            "2x --rss-gib, or 4x --swarm-mib. The program re-executes itself for the RSS\n"
            "children (internal options --child-idle, --child-ingest SRC DIR).\n",
            MAX_REPEAT, MAX_RUNS, INGEST_GOAL, RSS_GOAL_MIB, SWARM_GOAL);
}

static const char *met(int ok)
{
    return ok ? "met" : "MISSED";
}

int main(int argc, char **argv)
{
    long ingest_mib = 256, raw_mib = 256, rss_gib = 2, swarm_mib = 1024, repeat_l = 3, runs_l = 2;
    const char *addr = "127.0.77.1", *tmp = getenv("TMPDIR");
    char addr_b[32];
    int repeat, runs, failed = 0;
    struct sigaction sa;
    uint8_t *ba = NULL, *bb = NULL;
    static raw_result raw;
    double ing_ms[MAX_REPEAT], ing_pre_ms[MAX_REPEAT], re_ms[MAX_REPEAT], re_pre_ms[MAX_REPEAT];
    double ing_warm_ms = 0, ing_warm_pre_ms = 0, re_warm_ms = 0, re_warm_pre_ms = 0;
    double io_ms[MAX_REPEAT], io_pre_ms[MAX_REPEAT];
    long idle_kib = 0, rss_kib = 0, small_kib = 0;
    double idle_ms = 0, rss_ms = 0, small_ms = 0;
    double fetch_ms[MAX_RUNS], plain_ms[MAX_RUNS], packt_ms[MAX_RUNS], ratio[MAX_RUNS];
    fetch_result fres[MAX_RUNS];
    plain_result pres[MAX_RUNS], kres[MAX_RUNS];
    double swarm_ingest_ms = 0, pack_ms = 0, plain_create_ms = 0;
    size_t swarm_chunks = 0, pack_len = 0, plain_len = 0;
    char ingest_src[1024], ingest_blobs[1024], reasm_out[1024];
    char rss_src[1024], rss_blobs[1024], small_blobs[1024];
    char swarm_dir[1024], swarm_src_dir[1024], swarm_src[1024], seed_blobs[1024];
    mt_fileentry *fe = NULL, *sfe = NULL;
    uint8_t *pack_t = NULL, *plain_t = NULL;
    char *magnet = NULL;
    size_t ingest_chunks = 0;
    int did_rss = 0, did_swarm = 0;

    if (argc >= 2 && !strncmp(argv[1], "--child-", 8))
        return child_main(argc, argv);

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!val) {
            fprintf(stderr, BENCH_NAME ": %s needs a value\n", o);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(o, "--ingest-mib"))
            bad = bench_parse_long(o, val, 1, 65536, &ingest_mib);
        else if (!strcmp(o, "--raw-mib"))
            bad = bench_parse_long(o, val, 1, 4096, &raw_mib);
        else if (!strcmp(o, "--rss-gib"))
            bad = bench_parse_long(o, val, 0, 64, &rss_gib);
        else if (!strcmp(o, "--swarm-mib"))
            bad = bench_parse_long(o, val, 1, MT_PACK_MAX_BLOBS, &swarm_mib);
        else if (!strcmp(o, "--repeat"))
            bad = bench_parse_long(o, val, 1, MAX_REPEAT, &repeat_l);
        else if (!strcmp(o, "--swarm-runs"))
            bad = bench_parse_long(o, val, 0, MAX_RUNS, &runs_l);
        else if (!strcmp(o, "--addr"))
            addr = val;
        else {
            fprintf(stderr, BENCH_NAME ": unknown argument '%s'\n", o);
            usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    repeat = (int)repeat_l;
    runs = (int)runs_l;
    if (!mt_addr_is_loopback(addr) || next_addr(addr, 1, addr_b, sizeof addr_b) != 0) {
        fprintf(stderr, BENCH_NAME ": --addr %s must be in 127.0.0.0/8 with a host part of 1-253\n", addr);
        return 2;
    }
    {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
        if (n <= 0) {
            fprintf(stderr, BENCH_NAME ": cannot find my own executable: %s\n", strerror(errno));
            return 1;
        }
        self_exe[n] = '\0';
    }
    if (sodium_init() < 0) {
        fprintf(stderr, BENCH_NAME ": libsodium failed to initialise\n");
        return 1;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rng_state = ((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec) | 1;
    }
    ba = malloc(CHUNK);
    bb = malloc(CHUNK);
    if (!ba || !bb) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return 1;
    }
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (strlen(tmp) > 400) {
        fprintf(stderr, BENCH_NAME ": TMPDIR is too long\n");
        free(ba);
        free(bb);
        return 2;
    }
    snprintf(base, sizeof base, "%s/bench-blob-XXXXXX", tmp);
    if (!mkdtemp(base)) {
        fprintf(stderr, BENCH_NAME ": mkdtemp %s: %s\n", base, strerror(errno));
        free(ba);
        free(bb);
        return 1;
    }
    base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fprintf(stderr, BENCH_NAME ": temp dir %s\n", base);

    /* 1. Raw crypto. */
    fprintf(stderr, BENCH_NAME ": raw crypto over %ld MiB, %d run(s)\n", raw_mib, repeat);
    if (run_raw(raw_mib, repeat, &raw) != 0) {
        failed = 1;
        goto cleanup;
    }

    /* 2. Ingest, 3. reassembly. */
    snprintf(ingest_src, sizeof ingest_src, "%s/ingest-src.bin", base);
    snprintf(reasm_out, sizeof reasm_out, "%s/reassembled.bin", base);
    fprintf(stderr, BENCH_NAME ": writing %ld MiB for ingest\n", ingest_mib);
    if (bench_write_random_file(ingest_src, (uint64_t)ingest_mib << 20, ba, &interrupted) != 0) {
        failed = 1;
        goto cleanup;
    }
    /* r = -1: a warm-up run, reported apart (see RESULTS.md, "First copy
     * into fresh memory": the first writes into untouched guest memory are
     * slow on this VM). */
    for (int r = -1; r < repeat && !interrupted; r++) {
        mt_blob_ingest_opts io;
        last_chunk lc = {0};
        mt_error err;
        double t0;
        if (fe) {
            mt_fileentry_free(fe);
            fe = NULL;
            bench_rm_rf(ingest_blobs);
        }
        if (r >= 0) {
            /* The same I/O without crypto, right before, for comparison. */
            char io_dir[1100];
            snprintf(io_dir, sizeof io_dir, "%s/io-only", base);
            settle();
            if (run_io_only(ingest_src, io_dir, ba, &io_ms[r], &io_pre_ms[r]) != 0) {
                failed = 1;
                goto cleanup;
            }
            bench_rm_rf(io_dir);
        }
        snprintf(ingest_blobs, sizeof ingest_blobs, "%s/ingest-blobs-%d", base, r + 1);
        memset(&io, 0, sizeof io);
        io.progress = on_progress;
        io.ud = &lc;
        settle();
        t0 = now_ms();
        if (mt_blob_ingest_file(ingest_src, ingest_blobs, &io, &fe, &err) != 0) {
            fprintf(stderr, BENCH_NAME ": ingest: %s\n", err.message);
            failed = 1;
            goto cleanup;
        }
        *(r < 0 ? &ing_warm_ms : &ing_ms[r]) = now_ms() - t0;
        *(r < 0 ? &ing_warm_pre_ms : &ing_pre_ms[r]) = lc.t - t0;
        ingest_chunks = fe->n_chunks;
        if (fe->size != (int64_t)ingest_mib << 20) {
            fprintf(stderr, BENCH_NAME ": ingest: entry size %" PRId64 ", file %ld MiB\n", fe->size, ingest_mib);
            failed = 1;
            goto cleanup;
        }
    }
    for (int r = -1; r < repeat && !interrupted; r++) {
        last_chunk lc = {0};
        mt_error err;
        double t0;
        bench_rm_rf(reasm_out);
        settle();
        t0 = now_ms();
        if (mt_blob_reassemble(fe, ingest_blobs, reasm_out, on_progress, &lc, &err) != 0) {
            fprintf(stderr, BENCH_NAME ": reassemble: %s\n", err.message);
            failed = 1;
            goto cleanup;
        }
        *(r < 0 ? &re_warm_ms : &re_ms[r]) = now_ms() - t0;
        *(r < 0 ? &re_warm_pre_ms : &re_pre_ms[r]) = lc.t - t0;
        if (bench_compare_files(ingest_src, reasm_out, ba, bb) != 0) {
            failed = 1;
            goto cleanup;
        }
    }
    if (interrupted) {
        failed = 1;
        goto cleanup;
    }
    bench_rm_rf(reasm_out);

    /* 4. Peak RSS in fresh child processes. */
    {
        char *idle_args[] = {self_exe, "--child-idle", NULL, NULL};
        char *small_args[] = {self_exe, "--child-ingest", ingest_src, small_blobs, NULL};
        char *rss_args[] = {self_exe, "--child-ingest", rss_src, rss_blobs, NULL};
        snprintf(small_blobs, sizeof small_blobs, "%s/rss-small-blobs", base);
        snprintf(rss_src, sizeof rss_src, "%s/rss-src.bin", base);
        snprintf(rss_blobs, sizeof rss_blobs, "%s/rss-blobs", base);
        fprintf(stderr, BENCH_NAME ": peak RSS: idle child, %ld MiB ingest child\n", ingest_mib);
        if (run_child(idle_args, &idle_kib, &idle_ms) != 0 || run_child(small_args, &small_kib, &small_ms) != 0) {
            failed = 1;
            goto cleanup;
        }
        bench_rm_rf(small_blobs);
        if (rss_gib > 0) {
            fprintf(stderr, BENCH_NAME ": writing %ld GiB for the RSS ingest\n", rss_gib);
            if (bench_write_random_file(rss_src, (uint64_t)rss_gib << 30, ba, &interrupted) != 0) {
                failed = 1;
                goto cleanup;
            }
            settle();
            if (run_child(rss_args, &rss_kib, &rss_ms) != 0) {
                failed = 1;
                goto cleanup;
            }
            bench_rm_rf(rss_blobs);
            bench_rm_rf(rss_src);
            did_rss = 1;
        }
    }
    /* The ingest data is no longer needed. */
    mt_fileentry_free(fe);
    fe = NULL;
    bench_rm_rf(ingest_blobs);
    bench_rm_rf(ingest_src);

    /* 5. Swarm fetch against a plain download. */
    if (runs > 0 && !interrupted) {
        swarm_ctx c;
        const char **ids = NULL;
        mt_error err;
        double t0;
        memset(&c, 0, sizeof c);
        snprintf(swarm_dir, sizeof swarm_dir, "%s/swarm", base);
        snprintf(swarm_src_dir, sizeof swarm_src_dir, "%s/swarm/src", base);
        snprintf(swarm_src, sizeof swarm_src, "%s/swarm/src/" FILE_NAME, base);
        snprintf(seed_blobs, sizeof seed_blobs, "%s/swarm/seed-blobs", base);
        snprintf(c.fetch_blobs, sizeof c.fetch_blobs, "%s/swarm/fetch-blobs", base);
        snprintf(c.fetch_out, sizeof c.fetch_out, "%s/swarm/fetched.bin", base);
        snprintf(c.plain_dir, sizeof c.plain_dir, "%s/swarm/plain-download", base);
        if (make_dir(swarm_dir) != 0 || make_dir(swarm_src_dir) != 0) {
            failed = 1;
            goto cleanup;
        }
        fprintf(stderr, BENCH_NAME ": writing %ld MiB for the swarm, ingesting and packing it\n", swarm_mib);
        if (bench_write_random_file(swarm_src, (uint64_t)swarm_mib << 20, ba, &interrupted) != 0) {
            failed = 1;
            goto cleanup;
        }
        settle();
        t0 = now_ms();
        if (mt_blob_ingest_file(swarm_src, seed_blobs, NULL, &sfe, &err) != 0) {
            fprintf(stderr, BENCH_NAME ": swarm ingest: %s\n", err.message);
            failed = 1;
            goto cleanup;
        }
        swarm_ingest_ms = now_ms() - t0;
        swarm_chunks = sfe->n_chunks;
        if (!(ids = malloc(sfe->n_chunks * sizeof *ids))) {
            fprintf(stderr, BENCH_NAME ": out of memory\n");
            failed = 1;
            goto cleanup;
        }
        for (size_t i = 0; i < sfe->n_chunks; i++)
            ids[i] = sfe->chunks[i].blob_id;
        t0 = now_ms();
        if (mt_pack_create(seed_blobs, ids, sfe->n_chunks, 1, NULL, 0, &pack_t, &pack_len, &magnet, NULL, &err) !=
                0 ||
            mt_fileentry_set_swarm(sfe, magnet, &err) != 0) {
            fprintf(stderr, BENCH_NAME ": pack: %s\n", err.message);
            free(ids);
            failed = 1;
            goto cleanup;
        }
        pack_ms = now_ms() - t0;
        free(ids);
        {
            mt_create_params cp;
            memset(&cp, 0, sizeof cp);
            cp.path = swarm_src;
            cp.version = MT_TORRENT_V1;
            cp.piece_size = 1 << 20;
            t0 = now_ms();
            if (mt_torrent_create(&cp, &plain_t, &plain_len, &err) != 0) {
                fprintf(stderr, BENCH_NAME ": creating the plain torrent: %s\n", err.message);
                failed = 1;
                goto cleanup;
            }
            plain_create_ms = now_ms() - t0;
        }
        c.addr_a = addr;
        c.addr_b = addr_b;
        c.src_dir = swarm_src_dir;
        c.src_file = swarm_src;
        c.seed_blobs = seed_blobs;
        c.fe = sfe;
        c.pack_t = pack_t;
        c.pack_len = pack_len;
        c.plain_t = plain_t;
        c.plain_len = plain_len;
        c.ba = ba;
        c.bb = bb;
        for (int r = 0; r < runs && !interrupted; r++) {
            /* Even runs: fetch, plain, pack as a torrent; odd runs the reverse. */
            for (int k = 0; k < 3; k++) {
                int what = r % 2 == 0 ? k : 2 - k;
                if (what == 2) {
                    fprintf(stderr, BENCH_NAME ": run %d/%d: pack as a plain torrent %s -> %s\n", r + 1, runs, addr,
                            addr_b);
                    if (run_torrent(&c, pack_t, pack_len, seed_blobs, MT_ADD_FLAT, MT_ADD_FLAT, NULL, &kres[r]) != 0) {
                        fprintf(stderr, BENCH_NAME ": FAILED: pack as a plain torrent\n");
                        failed = 1;
                        goto cleanup;
                    }
                    packt_ms[r] = kres[r].ms;
                } else if (what == 0) {
                    fprintf(stderr, BENCH_NAME ": run %d/%d: blob fetch %s -> %s\n", r + 1, runs, addr, addr_b);
                    if (run_fetch(&c, &fres[r]) != 0) {
                        fprintf(stderr, BENCH_NAME ": FAILED: blob fetch\n");
                        failed = 1;
                        goto cleanup;
                    }
                    fetch_ms[r] = fres[r].ms;
                } else {
                    fprintf(stderr, BENCH_NAME ": run %d/%d: plain download %s -> %s\n", r + 1, runs, addr, addr_b);
                    if (run_torrent(&c, plain_t, plain_len, swarm_src_dir, 0, 0, FILE_NAME, &pres[r]) != 0) {
                        fprintf(stderr, BENCH_NAME ": FAILED: plain download\n");
                        failed = 1;
                        goto cleanup;
                    }
                    plain_ms[r] = pres[r].ms;
                }
            }
            ratio[r] = plain_ms[r] / fetch_ms[r]; /* fetch rate / plain rate */
        }
        if (interrupted) {
            failed = 1;
            goto cleanup;
        }
        did_swarm = 1;
    }

    /* ------------------------------------------------------------ report */
    {
        double seal = rate((double)raw_mib, median_of(raw.seal_ms, repeat));
        double open = rate((double)raw_mib, median_of(raw.open_ms, repeat));
        double enc = rate((double)raw_mib, median_of(raw.enc_ms, repeat));
        double dec = rate((double)raw_mib, median_of(raw.dec_ms, repeat));
        double sha = rate((double)raw_mib, median_of(raw.sha_ms, repeat));
        double im = (double)ingest_mib, sm = (double)swarm_mib;
        double ing = rate(im, median_of(ing_ms, repeat)), ing_pre = rate(im, median_of(ing_pre_ms, repeat));
        double re = rate(im, median_of(re_ms, repeat)), re_pre = rate(im, median_of(re_pre_ms, repeat));
        double io_rate = rate(im, median_of(io_ms, repeat)), io_pre_rate = rate(im, median_of(io_pre_ms, repeat));
        double serial = 1.0 / (1.0 / seal + 1.0 / io_rate);
        double idle_mib = (double)idle_kib / 1024, rss_mib = (double)rss_kib / 1024, small_mib = (double)small_kib / 1024;
        double med_ratio = did_swarm ? median_of(ratio, runs) : 0;
        double packt_ratio[MAX_RUNS], fetch_vs_packt[MAX_RUNS];
        char lbl[64];

        for (int r = 0; r < runs && did_swarm; r++) {
            packt_ratio[r] = plain_ms[r] / packt_ms[r];
            fetch_vs_packt[r] = packt_ms[r] / fetch_ms[r];
        }
        printf("\nbench_blob: libsodium %s, library %s on libtorrent %s; medians of %d run(s) [min-max]\n",
               sodium_version_string(), mt_version(), mt_engine_version(), repeat);
        printf("\n1. raw single-core crypto, %ld MiB in distinct 1 MiB buffers (rates per plaintext MiB)\n", raw_mib);
        printf("   encrypt + SHA-256 (ingest's work)     %8.1f MiB/s  [%.1f-%.1f]\n", seal,
               rate((double)raw_mib, max_of(raw.seal_ms, repeat)), rate((double)raw_mib, min_of(raw.seal_ms, repeat)));
        printf("   SHA-256 + decrypt (reassembly's work) %8.1f MiB/s  [%.1f-%.1f]\n", open,
               rate((double)raw_mib, max_of(raw.open_ms, repeat)), rate((double)raw_mib, min_of(raw.open_ms, repeat)));
        printf("   ChaCha20-Poly1305 encrypt alone       %8.1f MiB/s\n", enc);
        printf("   ChaCha20-Poly1305 decrypt alone       %8.1f MiB/s\n", dec);
        printf("   SHA-256 alone (OpenSSL, as the library)%7.1f MiB/s\n", sha);

        printf("\n2. mt_blob_ingest_file, %ld MiB from the page cache (%zu blobs)\n", ingest_mib, ingest_chunks);
        printf("   whole call (incl. final syncfs)       %8.1f MiB/s  [%.1f-%.1f]  %.2fx raw encrypt+SHA-256 "
               "(goal >= %.2f: %s)\n",
               ing, rate(im, max_of(ing_ms, repeat)), rate(im, min_of(ing_ms, repeat)), ing / seal, INGEST_GOAL,
               met(ing / seal >= INGEST_GOAL));
        printf("   to the last chunk (before syncfs)     %8.1f MiB/s  %.2fx raw; syncfs took %.0f ms (median)\n", ing_pre,
               ing_pre / seal, median_of(ing_ms, repeat) - median_of(ing_pre_ms, repeat));
        printf("   each run (MiB/s, whole / before syncfs):");
        for (int r = 0; r < repeat; r++)
            printf(" %.1f/%.1f", rate(im, ing_ms[r]), rate(im, ing_pre_ms[r]));
        printf("; warm-up run, not in the median: %.1f/%.1f\n", rate(im, ing_warm_ms), rate(im, ing_warm_pre_ms));
        printf("   its I/O alone (read, one file per MiB via tmp + rename, syncfs; no crypto) %.1f MiB/s "
               "(%.1f before syncfs), run right before each ingest;\n"
               "   crypto then I/O one after the other would give %.1f MiB/s = %.2fx raw\n",
               io_rate, io_pre_rate, serial, serial / seal);

        printf("\n3. mt_blob_reassemble of that entry\n");
        printf("   whole call (incl. fsync + rename)     %8.1f MiB/s  [%.1f-%.1f]  %.2fx raw SHA-256+decrypt\n", re,
               rate(im, max_of(re_ms, repeat)), rate(im, min_of(re_ms, repeat)), re / open);
        printf("   to the last chunk (before fsync)      %8.1f MiB/s  %.2fx raw; fsync + rename took %.0f ms (median)\n",
               re_pre, re_pre / open, median_of(re_ms, repeat) - median_of(re_pre_ms, repeat));
        printf("   each run (MiB/s, whole / before fsync):");
        for (int r = 0; r < repeat; r++)
            printf(" %.1f/%.1f", rate(im, re_ms[r]), rate(im, re_pre_ms[r]));
        printf("; warm-up run, not in the median: %.1f/%.1f\n", rate(im, re_warm_ms), rate(im, re_warm_pre_ms));

        printf("\n4. peak RSS (ru_maxrss of a fresh child process)\n");
        printf("   library loaded, idle                  %8.1f MiB\n", idle_mib);
        printf("   ingest of %4ld MiB                    %8.1f MiB  (+%.1f MiB over idle)  %.0f ms\n", ingest_mib,
               small_mib, small_mib - idle_mib, small_ms);
        if (did_rss)
            printf("   ingest of %4ld GiB                    %8.1f MiB  (+%.1f MiB over idle)  %.0f ms, %.1f MiB/s  "
                   "(goal <= %.0f MiB: %s)\n",
                   rss_gib, rss_mib, rss_mib - idle_mib, rss_ms, rate((double)(rss_gib * 1024), rss_ms), RSS_GOAL_MIB,
                   met(rss_mib <= RSS_GOAL_MIB));
        else
            printf("   (--rss-gib 0: big ingest skipped)\n");

        if (did_swarm) {
            printf("\n5. swarm fetch vs plain download, %ld MiB, seeder %s, fetcher %s, loopback TCP, fresh sessions\n",
                   swarm_mib, addr, addr_b);
            printf("   setup (untimed): ingest %.0f ms, pack of %zu blobs %.0f ms (.torrent %zu bytes), "
                   "plain v1 torrent (1 MiB pieces) %.0f ms (%zu bytes)\n",
                   swarm_ingest_ms, swarm_chunks, pack_ms, pack_len, plain_create_ms, plain_len);
            for (int r = 0; r < runs; r++) {
                fetch_result *fr = &fres[r];
                printf("   run %d (order: %s):\n", r + 1,
                       r % 2 == 0 ? "fetch, plain, pack-as-torrent" : "pack-as-torrent, plain, fetch");
                printf("      blob fetch       %8.0f ms %7.1f MiB/s  fetch/plain rate %.2fx\n", fetch_ms[r],
                       rate(sm, fetch_ms[r]), ratio[r]);
                printf("      plain download   %8.0f ms %7.1f MiB/s  (peer %.0f ms, first verified bytes %.0f ms; "
                       "reconnects %d)\n",
                       plain_ms[r], rate(sm, plain_ms[r]), pres[r].peer_ms, pres[r].first_ms, pres[r].reconnects);
                printf("      pack as torrent  %8.0f ms %7.1f MiB/s  %.2fx the plain rate (.torrent bytes, "
                       "MT_ADD_FLAT, no blob work; peer %.0f ms, first bytes %.0f ms)\n",
                       packt_ms[r], rate(sm, packt_ms[r]), packt_ratio[r], kres[r].peer_ms, kres[r].first_ms);
                printf("      fetch timeline: pack metadata %.0f ms, peer seen %.0f ms, first pack bytes %.0f ms, "
                       "first chunk decrypted %.0f ms, last file_completed %.0f ms, pack finished %.0f ms, done %.0f ms\n",
                       fr->meta_ms, fr->peer_ms, fr->pack_first_ms, fr->first_ms, fr->last_fc_ms, fr->pack_done_ms,
                       fr->ms);
                printf("      fetch main-thread time in mt_blobfetch_event/_tick %.0f ms: metadata/added events %.0f ms, "
                       "file_completed %.0f ms, finished/checked %.0f ms, tick %.0f ms; longest call %.0f ms; "
                       "the call that finished (last blob + commit: fsync, rename) %.0f ms\n",
                       fr->work_ms, fr->work_meta_ms, fr->work_fc_ms, fr->work_fin_ms, fr->work_tick_ms,
                       fr->max_call_ms, fr->final_call_ms);
                printf("      fetch progress at done: chunks %zu/%zu, bytes %" PRId64 "/%" PRId64
                       ", from swarm %zu, disk %zu, wire %zu, corrupt %zu, hash failed %zu; "
                       "pack on B %" PRId64 "/%" PRId64 " bytes (%.3f); reconnects %d\n",
                       fr->pr.chunks_done, fr->pr.chunks_total, fr->pr.bytes_done, fr->pr.bytes_total,
                       fr->pr.from_swarm, fr->pr.from_disk, fr->pr.from_wire, fr->pr.corrupt, fr->pr.hash_failed,
                       fr->pack_done, fr->pack_wanted, fr->pack_progress, fr->reconnects);
                printf("      pack on B (ms:state/peers): %s\n", fr->timeline);
                if (fr->seed_ms >= 0 && fr->first_ms >= 0)
                    printf("      blobs written while the pack downloaded: %zu of %zu by %.0f ms (%.0f MiB/s); the "
                           "other %zu after it finished (%.0f MiB/s)\n",
                           fr->chunks_at_seed, fr->pr.chunks_total, fr->seed_ms,
                           rate((double)fr->chunks_at_seed, fr->seed_ms - fr->first_ms),
                           fr->pr.chunks_total - fr->chunks_at_seed,
                           rate((double)(fr->pr.chunks_total - fr->chunks_at_seed), fr->ms - fr->seed_ms));
                printf("      file_completed events %d (first taken at %.0f ms); after %d of them no chunk was written "
                       "at once (%d: no <blob dir>/<id> file yet); %d named a file still under a folder\n",
                       fr->fc_events, fr->fc_first_ms, fr->fc_not_taken, fr->fc_missing, fr->fc_nested);
                if (fr->pr.chunks_done != fr->pr.chunks_total || fr->pr.bytes_done != fr->pr.bytes_total ||
                    fr->pr.from_swarm != swarm_chunks || fr->pr.from_disk != 0)
                    printf("      NOTE: fetch progress counters do not add up (expected %zu from swarm)\n",
                           swarm_chunks);
            }
            printf("   median fetch/plain rate ratio %.2fx (goal >= %.2f: %s); median pack-as-torrent/plain %.2fx, "
                   "fetch/pack-as-torrent %.2fx; fetch and plain outputs verified byte for byte\n",
                   med_ratio, SWARM_GOAL, met(med_ratio >= SWARM_GOAL), median_of(packt_ratio, runs),
                   median_of(fetch_vs_packt, runs));
        }

        /* Markdown rows. */
        printf("\n| benchmark | metric | time | rate | notes |\n|---|---|---|---|---|\n");
        snprintf(lbl, sizeof lbl, "bench_blob raw %ld MiB", raw_mib);
        printf("| %s | encrypt + SHA-256 (raw primitive) | %.0f ms | %.0f MiB/s | ChaCha20-Poly1305 %.0f MiB/s, "
               "SHA-256 %.0f MiB/s alone |\n",
               lbl, median_of(raw.seal_ms, repeat), seal, enc, sha);
        printf("| %s | SHA-256 + decrypt (raw primitive) | %.0f ms | %.0f MiB/s | decrypt %.0f MiB/s alone |\n", lbl,
               median_of(raw.open_ms, repeat), open, dec);
        snprintf(lbl, sizeof lbl, "bench_blob %ld MiB", ingest_mib);
        printf("| %s | mt_blob_ingest_file | %.0f ms | %.0f MiB/s | %.2f× raw encrypt+SHA-256 (goal ≥ %.2f: %s); "
               "%.0f MiB/s (%.2f×) before the final syncfs; range %.0f–%.0f MiB/s |\n",
               lbl, median_of(ing_ms, repeat), ing, ing / seal, INGEST_GOAL, met(ing / seal >= INGEST_GOAL), ing_pre,
               ing_pre / seal, rate(im, max_of(ing_ms, repeat)), rate(im, min_of(ing_ms, repeat)));
        printf("| %s | ingest's I/O alone (no crypto) | %.0f ms | %.0f MiB/s | read + one file per MiB (tmp + rename) "
               "+ syncfs; crypto then this, serially: %.0f MiB/s (%.2f× raw) |\n",
               lbl, median_of(io_ms, repeat), io_rate, serial, serial / seal);
        printf("| %s | mt_blob_reassemble | %.0f ms | %.0f MiB/s | %.2f× raw SHA-256+decrypt; %.0f MiB/s (%.2f×) "
               "before the fsync; range %.0f–%.0f MiB/s; verified |\n",
               lbl, median_of(re_ms, repeat), re, re / open, re_pre, re_pre / open, rate(im, max_of(re_ms, repeat)),
               rate(im, min_of(re_ms, repeat)));
        printf("| bench_blob RSS | idle child (library loaded) | | | peak RSS %.1f MiB |\n", idle_mib);
        printf("| bench_blob RSS | ingest child, %ld MiB | %.0f ms | | peak RSS %.1f MiB (+%.1f over idle) |\n",
               ingest_mib, small_ms, small_mib, small_mib - idle_mib);
        if (did_rss)
            printf("| bench_blob RSS | ingest child, %ld GiB | %.0f ms | %.0f MiB/s | peak RSS %.1f MiB (+%.1f over "
                   "idle); goal ≤ %.0f MiB: %s |\n",
                   rss_gib, rss_ms, rate((double)(rss_gib * 1024), rss_ms), rss_mib, rss_mib - idle_mib, RSS_GOAL_MIB,
                   met(rss_mib <= RSS_GOAL_MIB));
        if (did_swarm) {
            snprintf(lbl, sizeof lbl, "bench_blob swarm %ld MiB", swarm_mib);
            for (int r = 0; r < runs; r++) {
                printf("| %s | run %d blob fetch, start → done | %.0f ms | %.0f MiB/s | %.2f× the plain rate; "
                       "metadata %.0f ms, first chunk %.0f ms; verified |\n",
                       lbl, r + 1, fetch_ms[r], rate(sm, fetch_ms[r]), ratio[r], fres[r].meta_ms, fres[r].first_ms);
                printf("| %s | run %d plain v1 download, add → finished | %.0f ms | %.0f MiB/s | 1 MiB pieces; first "
                       "bytes %.0f ms; verified |\n",
                       lbl, r + 1, plain_ms[r], rate(sm, plain_ms[r]), pres[r].first_ms);
                printf("| %s | run %d pack as a plain torrent, add → finished | %.0f ms | %.0f MiB/s | %.2f× the "
                       "plain rate; no blob work |\n",
                       lbl, r + 1, packt_ms[r], rate(sm, packt_ms[r]), packt_ratio[r]);
            }
            printf("| %s | median fetch/plain rate ratio | | %.2f× | goal ≥ %.2f: %s |\n", lbl, med_ratio, SWARM_GOAL,
                   met(med_ratio >= SWARM_GOAL));
        }

        /* One JSON line, last. */
        printf("{\"bench\":\"bench_blob\",\"raw\":{\"mib\":%ld,\"encrypt_sha256_mibs\":%.1f,\"sha256_decrypt_mibs\":%.1f,"
               "\"encrypt_mibs\":%.1f,\"decrypt_mibs\":%.1f,\"sha256_mibs\":%.1f},",
               raw_mib, seal, open, enc, dec, sha);
        printf("\"ingest\":{\"mib\":%ld,\"ms\":%.1f,\"mibs\":%.1f,\"ratio\":%.3f,\"pre_sync_mibs\":%.1f,"
               "\"warmup_mibs\":%.1f,\"io_only_mibs\":%.1f,\"goal\":%.2f,\"met\":%s},",
               ingest_mib, median_of(ing_ms, repeat), ing, ing / seal, ing_pre, rate(im, ing_warm_ms), io_rate, INGEST_GOAL,
               ing / seal >= INGEST_GOAL ? "true" : "false");
        printf("\"reassemble\":{\"mib\":%ld,\"ms\":%.1f,\"mibs\":%.1f,\"ratio\":%.3f,\"pre_fsync_mibs\":%.1f,"
               "\"warmup_mibs\":%.1f},",
               ingest_mib, median_of(re_ms, repeat), re, re / open, re_pre, rate(im, re_warm_ms));
        printf("\"rss\":{\"idle_kib\":%ld,\"ingest_small_kib\":%ld,", idle_kib, small_kib);
        if (did_rss)
            printf("\"gib\":%ld,\"peak_kib\":%ld,\"delta_kib\":%ld,\"goal_mib\":%.0f,\"met\":%s},", rss_gib, rss_kib,
                   rss_kib - idle_kib, RSS_GOAL_MIB, rss_mib <= RSS_GOAL_MIB ? "true" : "false");
        else
            printf("\"gib\":0,\"peak_kib\":null},");
        if (did_swarm) {
            printf("\"swarm\":{\"mib\":%ld,\"runs\":[", swarm_mib);
            for (int r = 0; r < runs; r++)
                printf("%s{\"first\":\"%s\",\"fetch_ms\":%.1f,\"plain_ms\":%.1f,\"pack_torrent_ms\":%.1f,"
                       "\"ratio\":%.3f}",
                       r ? "," : "", r % 2 == 0 ? "fetch" : "pack_torrent", fetch_ms[r], plain_ms[r], packt_ms[r],
                       ratio[r]);
            printf("],\"median_ratio\":%.3f,\"goal\":%.2f,\"met\":%s}}\n", med_ratio, SWARM_GOAL,
                   med_ratio >= SWARM_GOAL ? "true" : "false");
        } else {
            printf("\"swarm\":null}\n");
        }
    }

cleanup:
    mt_fileentry_free(fe);
    mt_fileentry_free(sfe);
    mt_free(pack_t);
    mt_free(plain_t);
    free(magnet);
    free(ba);
    free(bb);
    if (base_fd >= 0)
        close(base_fd);
    bench_rm_rf(base);
    if (failed)
        fprintf(stderr, BENCH_NAME ": FAILED\n");
    return failed ? 1 : 0;
}
