/*
 * bench_download.c - torrent creation and a loopback transfer (127.0.41.x).
 *
 * 1. Writes --size-mib MiB of pseudo-random data into one file in a fresh
 *    temp dir (fsync'd, untimed; later steps read it from the page cache).
 * 2. Times mt_torrent_create for v1, v2 and hybrid torrents (hashing MiB/s).
 * 3. The raw comparison: a plain read + write copy of the same file through
 *    the page cache; fsync excluded from the copy time, timed separately.
 * 4. For each --transfer version: session A (127.0.41.1) seeds the file
 *    (MT_ADD_SEED_MODE, no check), session B (127.0.41.2) adds the same
 *    .torrent bytes with its own save path and connects to A; times add ->
 *    MT_EVENT_TORRENT_FINISHED, then stops both sessions and compares the
 *    download with the source byte for byte. A mismatch fails loudly.
 * 5. With --links, each transfer is repeated over each kind of peer link:
 *    "plain" (libtorrent's protocol encryption off both ways), "rc4"
 *    (libtorrent's RC4 stream encryption forced both ways: the stock
 *    alternative) and "mtcrypt" (lt_mtcrypt required on both sessions,
 *    ChaCha20-Poly1305 frames; libtorrent's own encryption off, so ours is
 *    the only cipher). An mtcrypt run fails unless the downloader's
 *    mt_crypt_get_stats counts an upgraded link. Runs are interleaved.
 * Prints a human summary and markdown rows. Temp dirs are removed on exit.
 * Exit status: 0 ok, 1 failure, 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mt_capi.h"
#include "mt_crypt.h"
#include "mt_testnet.h"
#define BENCH_NAME "bench_download"
#include "bench_util.h"

#define CHUNK (1u << 20)
#define MIB (1024.0 * 1024.0)
#define MAX_SETTINGS 16
#define STALL_MS 60000       /* no progress for this long: fail */
#define FILE_NAME "payload.bin"
#define MAX_REPEAT 20

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}



static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double s[MAX_REPEAT];
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




/* Plain copy through the page cache: *copy_ms = read + write, *fsync_ms = the fsync after. */
static int copy_file(const char *src, const char *dst, uint8_t *buf, double *copy_ms, double *fsync_ms)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out;
    double t0, t1;
    if (in < 0) {
        fprintf(stderr, "bench_download: cannot open %s: %s\n", src, strerror(errno));
        return -1;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        fprintf(stderr, "bench_download: cannot create %s: %s\n", dst, strerror(errno));
        close(in);
        return -1;
    }
    t0 = now_ms();
    for (;;) {
        ssize_t n = bench_read_full(in, buf, CHUNK);
        if (n < 0 || (n > 0 && mt_fd_write_all(out, buf, (size_t)n) != 0)) {
            fprintf(stderr, "bench_download: copying %s: %s\n", src, strerror(errno));
            close(in);
            close(out);
            return -1;
        }
        if (n == 0)
            break;
    }
    t1 = now_ms();
    *copy_ms = t1 - t0;
    if (fsync(out) != 0) {
        fprintf(stderr, "bench_download: fsync %s: %s\n", dst, strerror(errno));
        close(in);
        close(out);
        return -1;
    }
    *fsync_ms = now_ms() - t1;
    close(in);
    close(out);
    return 0;
}


static int make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "bench_download: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* addr + k in the last octet, staying within 1-254. */
static int next_addr(const char *addr, int k, char *out, size_t cap)
{
    unsigned a, b, c, d;
    char tail;
    if (sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a != 127 || b > 255 || c > 255 ||
        d < 1 || d + (unsigned)k > 254)
        return -1;
    snprintf(out, cap, "127.%u.%u.%u", b, c, d + (unsigned)k);
    return 0;
}

typedef struct setting {
    char name[128];
    char value[128];
} setting;

static const char *version_name(mt_torrent_version v)
{
    return v == MT_TORRENT_V1 ? "v1" : v == MT_TORRENT_V2 ? "v2" : "hybrid";
}

static int parse_version(const char *s, mt_torrent_version *v)
{
    if (!strcmp(s, "v1"))
        *v = MT_TORRENT_V1;
    else if (!strcmp(s, "v2"))
        *v = MT_TORRENT_V2;
    else if (!strcmp(s, "hybrid"))
        *v = MT_TORRENT_HYBRID;
    else
        return -1;
    return 0;
}

/* How the two sessions' peer link is protected (--links). */
typedef enum { LINK_DEFAULT, LINK_PLAIN, LINK_RC4, LINK_MTCRYPT } link_kind;

static const char *link_name(link_kind l)
{
    static const char *const names[] = {"default", "plain", "rc4", "mtcrypt"};
    return names[l];
}

static int parse_link(const char *s, link_kind *l)
{
    for (int k = LINK_PLAIN; k <= LINK_MTCRYPT; k++)
        if (!strcmp(s, link_name((link_kind)k))) {
            *l = (link_kind)k;
            return 0;
        }
    return -1;
}

/* libtorrent's settings for a link kind (after --setting ones). enc_policy:
 * 0 forced, 2 disabled; allowed_enc_level 1 = RC4 only. */
static const setting link_settings[][4] = {
    [LINK_DEFAULT] = {{"", ""}},
    [LINK_PLAIN] = {{"out_enc_policy", "2"}, {"in_enc_policy", "2"}},
    [LINK_RC4] = {{"out_enc_policy", "0"}, {"in_enc_policy", "0"}, {"allowed_enc_level", "1"}, {"prefer_rc4", "true"}},
    [LINK_MTCRYPT] = {{"out_enc_policy", "2"}, {"in_enc_policy", "2"}},
};

static int new_session(const char *addr, const setting *settings, int nsettings, link_kind link, mt_session **out)
{
    mt_session_config cfg;
    mt_error err;
    char listen[64];
    snprintf(listen, sizeof listen, "%s:0", addr);
    mt_session_config_init_loopback(&cfg, listen);
    cfg.outgoing_interfaces = addr;
    cfg.enable_dht = 0;
    if (mt_session_new(&cfg, out, &err) != 0) {
        fprintf(stderr, "bench_download: session on %s: %s\n", addr, err.message);
        return -1;
    }
    for (int i = 0; i < nsettings; i++)
        if (mt_session_set_setting(*out, settings[i].name, settings[i].value, &err) != 0) {
            fprintf(stderr, "bench_download: setting %s=%s: %s\n", settings[i].name, settings[i].value,
                    err.message);
            mt_session_free(*out);
            *out = NULL;
            return -1;
        }
    for (size_t i = 0; i < sizeof link_settings[0] / sizeof link_settings[0][0] && link_settings[link][i].name[0];
         i++)
        if (mt_session_set_setting(*out, link_settings[link][i].name, link_settings[link][i].value, &err) != 0) {
            fprintf(stderr, "bench_download: %s link setting %s: %s\n", link_name(link), link_settings[link][i].name,
                    err.message);
            mt_session_free(*out);
            *out = NULL;
            return -1;
        }
    if (link == LINK_MTCRYPT && mt_crypt_enable(*out, MT_CRYPT_REQUIRE, &err) != 0) {
        fprintf(stderr, "bench_download: lt_mtcrypt: %s\n", err.message);
        mt_session_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Drop queued events of s; report engine and torrent errors. Returns their count. */
static int drain_errors(mt_session *s, const char *who)
{
    mt_event ev;
    int errors = 0;
    while (mt_session_next_event(s, &ev)) {
        if (ev.type == MT_EVENT_TORRENT_ERROR || ev.type == MT_EVENT_ERROR || ev.type == MT_EVENT_LISTEN_FAILED) {
            fprintf(stderr, "bench_download: %s: %s: %s\n", who, mt_event_type_name(ev.type), ev.message);
            errors++;
        }
        mt_event_clear(&ev);
    }
    return errors;
}

typedef struct transfer_result {
    double ms;            /* add on B -> torrent_finished */
    double peer_ms;       /* add -> B first reports a connected peer (sampled every 20 ms) */
    double first_ms;      /* add -> B first reports verified bytes (sampled every 20 ms) */
    int64_t first_done;   /* the bytes it reported then */
} transfer_result;

/*
 * Seed on A, download on B into dl_dir, verify against src_file.
 * 0 on success.
 */
static int run_transfer(const char *addr_a, const char *addr_b, const uint8_t *torrent, size_t torrent_len,
                        const char *src_dir, const char *src_file, const char *dl_dir, const setting *settings,
                        int nsettings, link_kind link, uint8_t *ba, uint8_t *bb, transfer_result *res)
{
    mt_session *a = NULL, *b = NULL;
    mt_error err;
    mt_event ev;
    mt_add_params ap;
    uint8_t id[20], id_b[20];
    char peer[96], dl_file[4400];
    int port = -1, rc = -1, finished = 0;
    double t0, deadline, last_progress_t, last_sample = 0, last_connect;
    int64_t last_done = -1;

    memset(res, 0, sizeof *res);
    res->peer_ms = res->first_ms = -1;
    if (new_session(addr_a, settings, nsettings, link, &a) != 0 ||
        new_session(addr_b, settings, nsettings, link, &b) != 0)
        goto out;
    deadline = now_ms() + 10000;
    while ((port = mt_session_listen_port(a)) <= 0 || mt_session_listen_port(b) <= 0) {
        if (now_ms() > deadline) {
            fprintf(stderr, "bench_download: sessions did not start listening\n");
            goto out;
        }
        poll(NULL, 0, 5);
    }
    snprintf(peer, sizeof peer, "%s:%d", addr_a, port);

    memset(&ap, 0, sizeof ap);
    ap.torrent = torrent;
    ap.torrent_len = torrent_len;
    ap.save_path = src_dir;
    ap.flags = MT_ADD_SEED_MODE;
    if (mt_torrent_add(a, &ap, id, &err) != 0) {
        fprintf(stderr, "bench_download: seeding: %s\n", err.message);
        goto out;
    }
    if (mt_session_wait_event(a, MT_EVENT_TORRENT_ADDED, id, 30000, &ev, &err) != 0) {
        fprintf(stderr, "bench_download: seeder: %s\n", err.message);
        drain_errors(a, "seeder");
        goto out;
    }
    mt_event_clear(&ev);

    memset(&ap, 0, sizeof ap);
    ap.torrent = torrent;
    ap.torrent_len = torrent_len;
    ap.save_path = dl_dir;
    t0 = now_ms();
    if (mt_torrent_add(b, &ap, id_b, &err) != 0) {
        fprintf(stderr, "bench_download: downloading: %s\n", err.message);
        goto out;
    }
    if (memcmp(id, id_b, 20) != 0) {
        fprintf(stderr, "bench_download: seeder and downloader disagree on the torrent id\n");
        goto out;
    }
    if (mt_torrent_connect_peer(b, id, peer, &err) != 0) {
        fprintf(stderr, "bench_download: connect to %s: %s\n", peer, err.message);
        goto out;
    }
    last_connect = last_progress_t = now_ms();

    while (!finished) {
        struct pollfd p[2] = {{mt_session_fd(a), POLLIN, 0}, {mt_session_fd(b), POLLIN, 0}};
        double t;
        if (interrupted) {
            fprintf(stderr, "bench_download: interrupted\n");
            goto out;
        }
        poll(p, 2, 20);
        if (drain_errors(a, "seeder"))
            goto out;
        while (mt_session_next_event(b, &ev)) {
            if (ev.type == MT_EVENT_TORRENT_FINISHED && memcmp(ev.target, id, 20) == 0 && !finished) {
                res->ms = now_ms() - t0;
                finished = 1;
            } else if (ev.type == MT_EVENT_TORRENT_ERROR || ev.type == MT_EVENT_ERROR) {
                fprintf(stderr, "bench_download: downloader: %s: %s\n", mt_event_type_name(ev.type), ev.message);
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
                fprintf(stderr, "bench_download: status: %s\n", err.message);
                goto out;
            }
            if (res->peer_ms < 0 && st.num_peers > 0)
                res->peer_ms = t - t0;
            if (res->first_ms < 0 && st.total_done > 0) {
                res->first_ms = t - t0;
                res->first_done = st.total_done;
            }
            if (st.total_done != last_done) {
                last_done = st.total_done;
                last_progress_t = t;
            } else if (t - last_progress_t > STALL_MS) {
                fprintf(stderr, "bench_download: no progress for %d s (%" PRId64 " of %" PRId64
                                " bytes, %d peers)\n", STALL_MS / 1000, st.total_done, st.total_wanted,
                        st.num_peers);
                goto out;
            }
            /* If the first connection attempt was lost (e.g. made while B was
             * still checking), try again. */
            if (st.num_peers == 0 && t - last_connect > 2000) {
                fprintf(stderr, "bench_download: no peer yet, connecting to %s again\n", peer);
                mt_torrent_connect_peer(b, id, peer, NULL);
                last_connect = t;
            }
        }
    }

    if (link == LINK_MTCRYPT) {
        mt_crypt_stats cs;
        mt_crypt_get_stats(b, &cs);
        if (cs.upgraded < 1) {
            fprintf(stderr, "bench_download: mtcrypt run finished without an upgraded link (%" PRIu64 " failed)\n",
                    cs.failed);
            goto out;
        }
    }
    /* Stop both sessions (closes files) before comparing. */
    mt_session_free(b);
    b = NULL;
    mt_session_free(a);
    a = NULL;
    snprintf(dl_file, sizeof dl_file, "%s/%s", dl_dir, FILE_NAME);
    if (bench_compare_files(src_file, dl_file, ba, bb) != 0)
        goto out;
    rc = 0;
out:
    mt_session_free(b);
    mt_session_free(a);
    return rc;
}

/* "v1" or "v1 over rc4" (links given). */
static const char *kind_name(mt_torrent_version v, link_kind l, char *out, size_t cap)
{
    if (l == LINK_DEFAULT)
        snprintf(out, cap, "%s", version_name(v));
    else
        snprintf(out, cap, "%s over %s", version_name(v), link_name(l));
    return out;
}

/* For an mtcrypt transfer, its rate against the plain and rc4 transfers of
 * the same version in this run (medians). */
static void print_link_ratios(double xfer_ms[][MAX_REPEAT], int k, int nlinks, const link_kind *links, int repeat,
                              const char *sep)
{
    int base = k - k % nlinks;
    if (links[k % nlinks] != LINK_MTCRYPT)
        return;
    for (int j = 0; j < nlinks; j++)
        if (links[j] == LINK_PLAIN || links[j] == LINK_RC4)
            printf("%s%.2f× the %s rate", sep, median_of(xfer_ms[base + j], repeat) / median_of(xfer_ms[k], repeat),
                   link_name(links[j]));
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_download [--size-mib M] [--addr A] [--transfer LIST] [--repeat N]\n"
            "                      [--piece-kib K] [--links LIST] [--setting NAME=VALUE]...\n"
            "  --size-mib M       payload size (default 256)\n"
            "  --addr A           seeder address; the downloader uses A + 1 (default 127.0.41.1)\n"
            "  --transfer LIST    comma list of v1, v2, hybrid to transfer (default hybrid,v1)\n"
            "  --repeat N         runs of each measurement, median reported (default 3, max %d)\n"
            "  --piece-kib K      piece size (power of two >= 16; default: libtorrent's choice)\n"
            "  --links LIST       comma list of plain, rc4, mtcrypt: repeat each transfer over these peer links\n"
            "                     (default: libtorrent's defaults only)\n"
            "  --setting N=V      apply a libtorrent setting to both sessions (repeatable)\n"
            "Temp files go under $TMPDIR (default /tmp): about 2x the payload at peak.\n",
            MAX_REPEAT);
}

int main(int argc, char **argv)
{
    long size_mib = 256, piece_kib = 0;
    const char *addr = "127.0.41.1", *transfer_list = "hybrid,v1";
    setting settings[MAX_SETTINGS];
    int nsettings = 0, failed = 0;
    char addr_b[32], base[4096], src_dir[4200], dl_dir[4200], copy_dir[4200], src_file[4300], copy_file_path[4300];
    const char *tmp = getenv("TMPDIR");
    uint8_t *ba = NULL, *bb = NULL;
    uint8_t *torrents[4] = {NULL, NULL, NULL, NULL};
    size_t torrent_len[4] = {0, 0, 0, 0};
    static double create_ms[4][MAX_REPEAT], copy_ms[MAX_REPEAT], fsync_ms[MAX_REPEAT], xfer_ms[9][MAX_REPEAT];
    static double peer_ms[9][MAX_REPEAT], first_ms[9][MAX_REPEAT], steady_rate[9][MAX_REPEAT];
    /* transfer k = (version transfers[k / nlinks], link links[k % nlinks]) */
    link_kind links[3] = {LINK_DEFAULT};
    int nlinks = 1, nkinds;
    const char *links_list = NULL;
    double cold_copy_ms = 0, cold_fsync_ms = 0;
    uint64_t bytes;
    mt_torrent_version transfers[3];
    int ntransfers = 0, repeat = 3;
    struct sigaction sa;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!val) {
            fprintf(stderr, "bench_download: %s needs a value\n", o);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(o, "--size-mib")) {
            errno = 0;
            size_mib = strtol(val, &end, 10);
            if (errno || !*val || *end || size_mib < 1 || size_mib > 65536) {
                fprintf(stderr, "bench_download: --size-mib wants 1-65536, not '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(o, "--piece-kib")) {
            errno = 0;
            piece_kib = strtol(val, &end, 10);
            if (errno || !*val || *end || piece_kib < 16 || piece_kib > 65536 || (piece_kib & (piece_kib - 1))) {
                fprintf(stderr, "bench_download: --piece-kib wants a power of two 16-65536, not '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(o, "--repeat")) {
            long rv;
            errno = 0;
            rv = strtol(val, &end, 10);
            if (errno || !*val || *end || rv < 1 || rv > MAX_REPEAT) {
                fprintf(stderr, "bench_download: --repeat wants 1-%d, not '%s'\n", MAX_REPEAT, val);
                return 2;
            }
            repeat = (int)rv;
        } else if (!strcmp(o, "--addr")) {
            addr = val;
        } else if (!strcmp(o, "--transfer")) {
            transfer_list = val;
        } else if (!strcmp(o, "--links")) {
            links_list = val;
        } else if (!strcmp(o, "--setting")) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || nsettings == MAX_SETTINGS || (size_t)(eq - val) >= sizeof settings[0].name ||
                strlen(eq + 1) >= sizeof settings[0].value) {
                fprintf(stderr, "bench_download: --setting wants NAME=VALUE (at most %d), not '%s'\n",
                        MAX_SETTINGS, val);
                return 2;
            }
            memcpy(settings[nsettings].name, val, (size_t)(eq - val));
            settings[nsettings].name[eq - val] = '\0';
            strcpy(settings[nsettings].value, eq + 1);
            nsettings++;
        } else {
            fprintf(stderr, "bench_download: unknown argument '%s'\n", o);
            usage(stderr);
            return 2;
        }
    }
    {
        char list[256], *save = NULL, *tok;
        if (strlen(transfer_list) >= sizeof list) {
            fprintf(stderr, "bench_download: --transfer list too long\n");
            return 2;
        }
        strcpy(list, transfer_list);
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            mt_torrent_version v;
            int dup = 0;
            if (parse_version(tok, &v) != 0) {
                fprintf(stderr, "bench_download: --transfer: '%s' is not v1, v2 or hybrid\n", tok);
                return 2;
            }
            for (int k = 0; k < ntransfers; k++)
                dup |= transfers[k] == v;
            if (!dup)
                transfers[ntransfers++] = v;
        }
    }
    if (links_list) {
        char list[256], *save = NULL, *tok;
        if (strlen(links_list) >= sizeof list) {
            fprintf(stderr, "bench_download: --links list too long\n");
            return 2;
        }
        strcpy(list, links_list);
        nlinks = 0;
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            link_kind l;
            int dup = 0;
            if (parse_link(tok, &l) != 0) {
                fprintf(stderr, "bench_download: --links: '%s' is not plain, rc4 or mtcrypt\n", tok);
                return 2;
            }
            for (int k = 0; k < nlinks; k++)
                dup |= links[k] == l;
            if (!dup)
                links[nlinks++] = l;
        }
        if (!nlinks) {
            fprintf(stderr, "bench_download: --links is empty\n");
            return 2;
        }
    }
    nkinds = ntransfers * nlinks;
    if (!mt_addr_is_loopback(addr) || next_addr(addr, 1, addr_b, sizeof addr_b) != 0) {
        fprintf(stderr, "bench_download: --addr %s must be in 127.0.0.0/8 with a host part of 1-253\n", addr);
        return 2;
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
    bytes = (uint64_t)size_mib << 20;
    ba = malloc(CHUNK);
    bb = malloc(CHUNK);
    if (!ba || !bb) {
        fprintf(stderr, "bench_download: out of memory\n");
        return 1;
    }
    snprintf(base, sizeof base, "%s/mt-bench-download-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        fprintf(stderr, "bench_download: mkdtemp %s: %s\n", base, strerror(errno));
        return 1;
    }
    snprintf(src_dir, sizeof src_dir, "%s/seed", base);
    snprintf(copy_dir, sizeof copy_dir, "%s/copy", base);
    snprintf(src_file, sizeof src_file, "%s/%s", src_dir, FILE_NAME);
    snprintf(copy_file_path, sizeof copy_file_path, "%s/%s", copy_dir, FILE_NAME);
    if (make_dir(src_dir)) {
        failed = 1;
        goto cleanup;
    }

    fprintf(stderr, "bench_download: writing %ld MiB of random data under %s\n", size_mib, base);
    if (bench_write_random_file(src_file, bytes, ba, &interrupted) != 0) {
        failed = 1;
        goto cleanup;
    }

    /* Torrent creation (hashing; the file is in the page cache). */
    for (int r = 0; r < repeat && !interrupted; r++)
        for (int v = MT_TORRENT_V1; v <= MT_TORRENT_HYBRID; v++) {
            mt_create_params cp;
            mt_error err;
            uint8_t *out = NULL;
            size_t out_len = 0;
            double t0;
            memset(&cp, 0, sizeof cp);
            cp.path = src_file;
            cp.version = (mt_torrent_version)v;
            cp.piece_size = (int)(piece_kib * 1024);
            t0 = now_ms();
            if (mt_torrent_create(&cp, &out, &out_len, &err) != 0) {
                fprintf(stderr, "bench_download: creating %s torrent: %s\n", version_name((mt_torrent_version)v),
                        err.message);
                failed = 1;
                goto cleanup;
            }
            create_ms[v][r] = now_ms() - t0;
            if (!torrents[v]) {
                torrents[v] = out;
                torrent_len[v] = out_len;
            } else {
                /* Creation is deterministic: every run must give the same bytes. */
                if (out_len != torrent_len[v] || memcmp(out, torrents[v], out_len) != 0) {
                    fprintf(stderr, "bench_download: %s torrent differs between runs\n",
                            version_name((mt_torrent_version)v));
                    failed = 1;
                }
                mt_free(out);
                if (failed)
                    goto cleanup;
            }
        }

    /* The raw comparison: a plain copy through the page cache. The first copy
     * writes into memory the guest has not touched yet and is reported apart;
     * the timed ones follow, each deleted before the next. */
    for (int r = -1; r < repeat && !interrupted; r++) {
        double c = 0, f = 0;
        if (make_dir(copy_dir) != 0 || copy_file(src_file, copy_file_path, ba, &c, &f) != 0) {
            failed = 1;
            goto cleanup;
        }
        bench_rm_rf(copy_dir);
        if (r < 0) {
            cold_copy_ms = c;
            cold_fsync_ms = f;
        } else {
            copy_ms[r] = c;
            fsync_ms[r] = f;
        }
    }

    /* Transfers; versions and links interleaved so drift on the machine
     * hits each alike. */
    for (int r = 0; r < repeat && !interrupted; r++)
        for (int k = 0; k < nkinds && !interrupted; k++) {
            mt_torrent_version v = transfers[k / nlinks];
            link_kind link = links[k % nlinks];
            transfer_result res;
            snprintf(dl_dir, sizeof dl_dir, "%s/download-%s", base, version_name(v));
            if (make_dir(dl_dir) != 0) {
                failed = 1;
                goto cleanup;
            }
            fprintf(stderr, "bench_download: %s transfer over %s links %d/%d %s -> %s\n", version_name(v),
                    link_name(link), r + 1, repeat, addr, addr_b);
            if (run_transfer(addr, addr_b, torrents[v], torrent_len[v], src_dir, src_file, dl_dir, settings,
                             nsettings, link, ba, bb, &res) != 0) {
                fprintf(stderr, "bench_download: FAILED: %s transfer over %s links\n", version_name(v),
                        link_name(link));
                failed = 1;
                goto cleanup;
            }
            xfer_ms[k][r] = res.ms;
            peer_ms[k][r] = res.peer_ms;
            first_ms[k][r] = res.first_ms;
            steady_rate[k][r] = res.first_ms >= 0 && res.ms > res.first_ms
                                    ? (double)((int64_t)bytes - res.first_done) / MIB / ((res.ms - res.first_ms) / 1e3)
                                    : 0;
            bench_rm_rf(dl_dir);
        }
    if (interrupted) {
        failed = 1;
        goto cleanup;
    }

    {
        double mib = (double)size_mib, copy_med = median_of(copy_ms, repeat), copy_rate = mib / (copy_med / 1e3);
        double fsync_med = median_of(fsync_ms, repeat);
        char label[64];
        snprintf(label, sizeof label, "bench_download %ld MiB", size_mib);
        printf("\nbench_download: %ld MiB in one file, seeder %s, downloader %s, piece size ", size_mib, addr,
               addr_b);
        if (piece_kib)
            printf("%ld KiB", piece_kib);
        else
            printf("libtorrent's default");
        printf(", %d run(s) each (median [min-max])\n", repeat);
        if (nsettings) {
            printf("settings on both sessions:");
            for (int i = 0; i < nsettings; i++)
                printf(" %s=%s", settings[i].name, settings[i].value);
            printf("\n");
        } else {
            printf("libtorrent settings: mt_session_config_init_loopback defaults (no uTP), DHT off\n");
        }
        for (int v = MT_TORRENT_V1; v <= MT_TORRENT_HYBRID; v++) {
            double med = median_of(create_ms[v], repeat);
            printf("create %-6s torrent          %8.1f ms  %7.1f MiB/s  [%.1f-%.1f MiB/s]  (.torrent %zu bytes)\n",
                   version_name((mt_torrent_version)v), med, mib / (med / 1e3),
                   mib / (max_of(create_ms[v], repeat) / 1e3), mib / (min_of(create_ms[v], repeat) / 1e3),
                   torrent_len[v]);
        }
        printf("plain copy, fsync excluded    %8.1f ms  %7.1f MiB/s  [%.1f-%.1f MiB/s]; fsync after it %.1f ms\n",
               copy_med, copy_rate, mib / (max_of(copy_ms, repeat) / 1e3), mib / (min_of(copy_ms, repeat) / 1e3),
               fsync_med);
        printf("plain copy, first one (into memory not touched before; not used in ratios) %8.1f ms  %7.1f MiB/s; "
               "fsync after it %.1f ms\n", cold_copy_ms, mib / (cold_copy_ms / 1e3), cold_fsync_ms);
        for (int k = 0; k < nkinds; k++) {
            char kname[48];
            double med = median_of(xfer_ms[k], repeat), rate = mib / (med / 1e3);
            printf("download %-6s add->finished %8.1f ms  %7.1f MiB/s  [%.1f-%.1f MiB/s]  %.2fx the plain copy "
                   "rate; every run verified byte for byte",
                   kind_name(transfers[k / nlinks], links[k % nlinks], kname, sizeof kname), med, rate,
                   mib / (max_of(xfer_ms[k], repeat) / 1e3), mib / (min_of(xfer_ms[k], repeat) / 1e3),
                   rate / copy_rate);
            print_link_ratios(xfer_ms, k, nlinks, links, repeat, "; ");
            printf("\n");
            printf("  of which: peer connected after %.0f ms, first verified bytes after %.0f ms; "
                   "from then on %.1f MiB/s (medians, sampled every 20 ms)\n",
                   median_of(peer_ms[k], repeat), median_of(first_ms[k], repeat),
                   median_of(steady_rate[k], repeat));
        }

        printf("\n| benchmark | metric | time | rate | notes |\n");
        printf("|---|---|---|---|---|\n");
        for (int v = MT_TORRENT_V1; v <= MT_TORRENT_HYBRID; v++) {
            double med = median_of(create_ms[v], repeat);
            printf("| %s | mt_torrent_create %s | %.0f ms | %.0f MiB/s | hashing from the page cache; "
                   "%.2f× the plain copy rate; range %.0f–%.0f MiB/s |\n",
                   label, version_name((mt_torrent_version)v), med, mib / (med / 1e3),
                   mib / (med / 1e3) / copy_rate, mib / (max_of(create_ms[v], repeat) / 1e3),
                   mib / (min_of(create_ms[v], repeat) / 1e3));
        }
        printf("| %s | plain copy (raw primitive) | %.0f ms | %.0f MiB/s | read + write through the page cache, "
               "fsync excluded (fsync after: %.0f ms); range %.0f–%.0f MiB/s |\n",
               label, copy_med, copy_rate, fsync_med, mib / (max_of(copy_ms, repeat) / 1e3),
               mib / (min_of(copy_ms, repeat) / 1e3));
        for (int k = 0; k < nkinds; k++) {
            char kname[48];
            double med = median_of(xfer_ms[k], repeat), rate = mib / (med / 1e3);
            printf("| %s | %s download, add → finished | %.0f ms | %.0f MiB/s | %.2f× the plain copy rate",
                   label, kind_name(transfers[k / nlinks], links[k % nlinks], kname, sizeof kname), med, rate,
                   rate / copy_rate);
            print_link_ratios(xfer_ms, k, nlinks, links, repeat, "; ");
            printf("; range %.0f–%.0f MiB/s; first bytes after %.0f ms, %.0f MiB/s from then on; "
                   "loopback TCP, verified |\n",
                   mib / (max_of(xfer_ms[k], repeat) / 1e3), mib / (min_of(xfer_ms[k], repeat) / 1e3),
                   median_of(first_ms[k], repeat), median_of(steady_rate[k], repeat));
        }
    }

cleanup:
    for (int v = 0; v < 4; v++)
        mt_free(torrents[v]);
    free(ba);
    free(bb);
    bench_rm_rf(base);
    if (failed)
        fprintf(stderr, "bench_download: FAILED\n");
    return failed ? 1 : 0;
}
