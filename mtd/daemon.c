/*
 * daemon.c - mtd's event loop: one thread owns the libtorrent session, the
 * state store and the RPC server, and waits on all of them with poll().
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "mt_addr.h"
#include "mt_crypt.h"
#include "mt_push.h"
#include "mt_util.h"

#define LOOP_TICK_MS         250     /* timers and resolvers advance this often */
#define RESUME_SAVE_EVERY_MS 300000  /* periodic resume data, against crashes */
#define STATE_SAVE_EVERY_MS  600000  /* DHT node id and routing table */
#define SHUTDOWN_WAIT_MS     10000   /* for resume data at exit */

static int sig_pipe[2] = { -1, -1 };

/* Signals only write a byte; the loop does the work. */
static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    if (write(sig_pipe[1], &b, 1) < 0) { /* full pipe: a signal is pending anyway */ }
    errno = saved;
}

static int setup_signals(void)
{
    struct sigaction sa;
    if (pipe(sig_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* ---------------------------------------------------------------- events */

cJSON *d_event(const char *type)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNumberToObject(e, "time_ms", (double)mt_wall_ms());
    return e;
}

void d_emit(mtd_daemon *d, cJSON *event)
{
    if (d->rpc)
        mtd_rpc_broadcast(d->rpc, event);
    else
        cJSON_Delete(event);
}

/*
 * Run a hook: /bin/sh -c cmd with env ("NAME=value" strings, NULL-ended)
 * added, stdin from /dev/null, detached from our signals. The loop reaps it
 * and logs its status.
 */
void d_run_hook(mtd_daemon *d, const char *cmd, const char *const *env)
{
    (void)d;
    if (!cmd || !*cmd)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        log_error("hook: fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    log_debug("hook started (pid %d): %s", (int)pid, cmd);
}

static void reap_children(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            log_debug("hook %d finished", (int)pid);
        else if (WIFEXITED(status))
            log_warn("hook %d exited with status %d", (int)pid, WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            log_warn("hook %d killed by signal %d", (int)pid, WTERMSIG(status));
    }
}

/* ---------------------------------------------------------------- torrents */

static const char *state_name(mt_torrent_state s)
{
    switch (s) {
    case MT_TS_CHECKING:
    case MT_TS_CHECKING_RESUME: return "checking";
    case MT_TS_METADATA: return "metadata";
    case MT_TS_DOWNLOADING: return "downloading";
    case MT_TS_FINISHED: return "finished";
    case MT_TS_SEEDING: return "seeding";
    }
    return "unknown";
}

int d_torrent_json(mtd_daemon *d, const uint8_t id[20], cJSON **out)
{
    mt_torrent_status st;
    mt_torrent_row row;
    mt_error err;
    char hex[41];
    int has_row;

    if (mt_torrent_get_status(d->s, id, &st, &err) != 0)
        return -1;
    has_row = mt_store_torrent_get(d->st, id, &row, NULL) == 0;
    mt_hex_encode(id, 20, hex);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "id", hex);
    cJSON_AddStringToObject(t, "name", st.name);
    cJSON_AddStringToObject(t, "state", state_name(st.state));
    cJSON_AddNumberToObject(t, "progress", st.progress);
    /* The user's wish: libtorrent also pauses torrents queued for a check. */
    cJSON_AddBoolToObject(t, "paused", has_row ? row.paused : st.paused);
    cJSON_AddNumberToObject(t, "download_rate", (double)st.download_rate);
    cJSON_AddNumberToObject(t, "upload_rate", (double)st.upload_rate);
    cJSON_AddNumberToObject(t, "peers", st.num_peers);
    cJSON_AddNumberToObject(t, "seeds", st.num_seeds);
    cJSON_AddNumberToObject(t, "total_done", (double)st.total_done);
    cJSON_AddNumberToObject(t, "total_wanted", (double)st.total_wanted);
    cJSON_AddStringToObject(t, "save_path", st.save_path);
    cJSON_AddStringToObject(t, "category", has_row ? row.category : "");
    cJSON_AddNumberToObject(t, "subscription", has_row ? (double)row.sub_id : 0);
    cJSON_AddNumberToObject(t, "added_ms", has_row ? (double)row.added_ms : 0);
    cJSON_AddBoolToObject(t, "index", has_row && row.kind == 1);
    if (st.error)
        cJSON_AddStringToObject(t, "error", st.error_message);
    else
        cJSON_AddNullToObject(t, "error");
    if (has_row)
        mt_torrent_row_clear(&row);
    *out = t;
    return 0;
}

/* Resolve a full id or a unique prefix of at least 6 hex digits. */
int d_find_torrent(mtd_daemon *d, const char *idtext, uint8_t id[20], char *msg, size_t cap)
{
    size_t n = idtext ? strlen(idtext) : 0, count = 0, matches = 0;
    uint8_t (*ids)[20] = NULL;
    char hex[41];

    if (n < 6 || n > 40 || strspn(idtext, "0123456789abcdefABCDEF") != n) {
        snprintf(msg, cap, "id: must be 6 to 40 hex digits of a torrent id");
        return MTD_RPC_INVALID_PARAMS;
    }
    if (mt_torrent_list(d->s, NULL, 0, &count, NULL) != 0)
        count = 0;
    ids = count ? calloc(count, 20) : NULL;
    if (count && (!ids || mt_torrent_list(d->s, ids, count, &count, NULL) != 0)) {
        free(ids);
        snprintf(msg, cap, "cannot list torrents");
        return MTD_RPC_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        mt_hex_encode(ids[i], 20, hex);
        if (strncasecmp(hex, idtext, n) == 0) {
            if (matches++ == 0)
                memcpy(id, ids[i], 20);
        }
    }
    free(ids);
    if (matches == 1)
        return 0;
    snprintf(msg, cap, matches ? "id: %s matches %zu torrents; give more digits"
                               : "no torrent with id %s", idtext, matches);
    return matches ? MTD_RPC_INVALID_PARAMS : MTD_RPC_NOT_FOUND;
}

/*
 * Add a torrent to the session and record it (row first, so that a crash
 * right after leaves it restorable rather than lost). MT_EEXIST if the
 * session has it already; its row is kept as it was.
 */
int d_add_torrent(mtd_daemon *d, const mt_add_params *ap, int64_t sub_id, const char *category,
                  int kind, uint8_t id[20], mt_error *err)
{
    mt_torrent_row row;
    int rc;

    memset(&row, 0, sizeof row);
    rc = mt_torrent_add(d->s, ap, id, err);
    if (rc != 0)
        return rc;
    memcpy(row.id, id, 20);
    if (ap->magnet)
        snprintf(row.uri, sizeof row.uri, "%s", ap->magnet);
    row.torrent = (uint8_t *)ap->torrent;
    row.torrent_len = ap->torrent_len;
    snprintf(row.save_path, sizeof row.save_path, "%s", ap->save_path);
    row.sub_id = sub_id;
    snprintf(row.category, sizeof row.category, "%s", category ? category : "");
    row.paused = (ap->flags & MT_ADD_PAUSED) != 0;
    row.kind = kind;
    row.added_ms = mt_wall_ms();
    if (kind == 1)
        d_keep_index_links(d, id, 1);
    rc = mt_store_torrent_add(d->st, &row, err);
    if (rc == MT_EEXIST)
        rc = 0;
    if (rc != 0) {
        /* Not recorded means not ours to keep: it would vanish on restart. */
        mt_torrent_remove(d->s, id, 0, NULL);
        return rc;
    }
    cJSON *e = d_event("torrent.added");
    char hex[41];
    mt_hex_encode(id, 20, hex);
    cJSON_AddStringToObject(e, "id", hex);
    mt_torrent_status st;
    mt_magnet_info mi;
    const char *name = "";
    if (mt_torrent_get_status(d->s, id, &st, NULL) == 0 && st.name[0])
        name = st.name;
    else if (ap->magnet && mt_magnet_parse(ap->magnet, &mi, NULL) == 0)
        name = mi.name;
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddNumberToObject(e, "subscription", (double)sub_id);
    if (kind == 0)
        d_emit(d, e);
    else
        cJSON_Delete(e);
    return 0;
}

/*
 * Pushes travel over an index swarm's connections, whose peers are all
 * seeds: libtorrent closes such connections as redundant. Mark index
 * torrents so the push extension keeps them (ordinary torrents keep
 * libtorrent's behaviour). Nothing to do when push is off.
 */
void d_keep_index_links(mtd_daemon *d, const uint8_t ih[20], int keep)
{
    mt_error err;
    if (d->cfg->push && mt_push_keep_links(d->s, ih, keep, &err) != 0 && err.code != MT_ESTATE)
        log_warn("index swarm links: %s", err.message);
}

/* Remove a feed-index torrent nobody needs any more: not the latest index
 * of a subscription, nor of a feed we publish. */
#define RETIRE_MS 30000

void d_retire_index(mtd_daemon *d, const uint8_t ih[20])
{
    if (d->n_retire == d->cap_retire) {
        size_t nc = d->cap_retire ? d->cap_retire * 2 : 8;
        void *nr = realloc(d->retire, nc * sizeof *d->retire);
        if (!nr) {
            d_remove_index_if_unused(d, ih); /* at once rather than never */
            return;
        }
        d->retire = nr;
        d->cap_retire = nc;
    }
    memcpy(d->retire[d->n_retire].ih, ih, 20);
    d->retire[d->n_retire].at_ms = mt_now_ms() + RETIRE_MS;
    d->n_retire++;
}

/* Drop the retired index torrents whose time has come. */
static void retire_tick(mtd_daemon *d)
{
    int64_t now = mt_now_ms();
    for (size_t i = 0; i < d->n_retire;) {
        if (now < d->retire[i].at_ms) {
            i++;
            continue;
        }
        uint8_t ih[20];
        memcpy(ih, d->retire[i].ih, 20);
        d->retire[i] = d->retire[--d->n_retire];
        d_remove_index_if_unused(d, ih);
    }
}

static int ih_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 20);
}

/*
 * The index torrents in use: the latest index of every subscription and of
 * every feed we publish, sorted for bsearch (free it). NULL with *n 0 when
 * there are none; -1 if the store could not be read (then nothing may be
 * taken as unused).
 */
static int used_indexes(mtd_daemon *d, uint8_t (**out)[20], size_t *n)
{
    mt_sub *subs = NULL;
    mt_pub *pubs = NULL;
    size_t ns = 0, np = 0, k = 0;
    uint8_t (*ih)[20] = NULL;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (mt_store_sub_list(d->st, &subs, &ns, NULL) != 0)
        return -1;
    if (mt_store_pub_list(d->st, &pubs, &np, NULL) != 0)
        goto out;
    if (ns + np && !(ih = malloc((ns + np) * sizeof *ih)))
        goto out;
    for (size_t i = 0; i < ns; i++)
        if (subs[i].has_index_ih)
            memcpy(ih[k++], subs[i].index_ih, 20);
    for (size_t i = 0; i < np; i++)
        if (!pubs[i].is_inline)
            memcpy(ih[k++], pubs[i].ih, 20);
    if (k)
        qsort(ih, k, sizeof *ih, ih_cmp);
    *out = ih;
    *n = k;
    rc = 0;
out:
    for (size_t i = 0; i < np; i++)
        mt_pub_clear(&pubs[i]);
    free(pubs);
    free(subs);
    return rc;
}

void d_remove_index_if_unused(mtd_daemon *d, const uint8_t ih[20])
{
    uint8_t (*used)[20] = NULL;
    size_t n = 0;
    mt_torrent_row row;

    if (mt_store_torrent_get(d->st, ih, &row, NULL) != 0)
        return;
    int is_index = row.kind == 1;
    mt_torrent_row_clear(&row);
    if (!is_index)
        return;   /* also a user torrent: never ours to drop */
    if (used_indexes(d, &used, &n) != 0)
        return;
    int in_use = n && bsearch(ih, used, n, sizeof *used, ih_cmp) != NULL;
    free(used);
    if (in_use)
        return;
    d_keep_index_links(d, ih, 0);
    mt_torrent_remove(d->s, ih, 1, NULL);
    mt_store_torrent_remove(d->st, ih, NULL);
    char hex[41];
    mt_hex_encode(ih, 20, hex);
    log_debug("dropped feed-index torrent %s", hex);
}

/* Re-add every recorded torrent, with its resume data when there is some. */
static void restore_torrents(mtd_daemon *d)
{
    mt_torrent_row *rows = NULL;
    uint8_t (*used)[20] = NULL;
    size_t n = 0, n_used = 0;
    int used_ok;
    mt_error err;

    if (mt_store_torrent_list(d->st, &rows, &n, &err) != 0) {
        log_error("cannot list torrents in the state store: %s", err.message);
        return;
    }
    used_ok = used_indexes(d, &used, &n_used) == 0;
    for (size_t i = 0; i < n; i++) {
        mt_add_params ap;
        uint8_t id[20];
        char hex[41];
        memset(&ap, 0, sizeof ap);
        ap.save_path = rows[i].save_path;
        ap.resume = rows[i].resume;
        ap.resume_len = rows[i].resume_len;
        if (rows[i].torrent)
            ap.torrent = rows[i].torrent, ap.torrent_len = rows[i].torrent_len;
        else
            ap.magnet = rows[i].uri;
        if (rows[i].paused)
            ap.flags |= MT_ADD_PAUSED;
        if (rows[i].kind == 2)
            ap.flags |= MT_ADD_FLAT; /* a pack: files flat in the blob folder */
        if (rows[i].kind == 1) {
            d_keep_index_links(d, rows[i].id, 1);
            /* An index retired just before a stop would otherwise be seeded
             * for good: retire it again (the in-use set is read once here,
             * not per index torrent). */
            if (used_ok && !(n_used && bsearch(rows[i].id, used, n_used, sizeof *used, ih_cmp)))
                d_retire_index(d, rows[i].id);
        }
        mt_hex_encode(rows[i].id, 20, hex);
        int rc = mt_torrent_add(d->s, &ap, id, &err);
        if (rc != 0 && ap.resume) {
            /* Damaged resume data must not cost the torrent: add it bare. */
            log_warn("torrent %s: resume data refused (%s); re-checking", hex, err.message);
            ap.resume = NULL;
            ap.resume_len = 0;
            rc = mt_torrent_add(d->s, &ap, id, &err);
        }
        if (rc != 0 && rc != MT_EEXIST)
            log_error("torrent %s: cannot restore: %s", hex, err.message);
        mt_torrent_row_clear(&rows[i]);
    }
    free(rows);
    free(used);
    log_info("restored %zu torrents", n);
}

/* Ask for resume data of every torrent (answered by RESUME_DATA events). */
static size_t request_resume_all(mtd_daemon *d)
{
    size_t count = 0, asked = 0;
    uint8_t (*ids)[20];
    if (mt_torrent_list(d->s, NULL, 0, &count, NULL) != 0 || count == 0)
        return 0;
    ids = calloc(count, 20);
    if (!ids || mt_torrent_list(d->s, ids, count, &count, NULL) != 0) {
        free(ids);
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (mt_torrent_save_resume(d->s, ids[i], NULL) == 0)
            asked++;
    free(ids);
    return asked;
}

/* A torrent finished: tell listeners and the hook, once per torrent. */
static void on_finished(mtd_daemon *d, const uint8_t id[20])
{
    mt_torrent_row row;
    mt_torrent_status st;
    char hex[41], e_id[80], e_name[300], e_path[1100], e_feed[300];
    mt_sub sub;

    if (mt_store_torrent_get(d->st, id, &row, NULL) != 0)
        return;
    int first = !row.finished, kind = row.kind;
    int64_t sub_id = row.sub_id;
    mt_torrent_row_clear(&row);
    mt_torrent_save_resume(d->s, id, NULL);
    if (!first || kind != 0)
        return;
    mt_store_torrent_set_finished(d->st, id, 1, NULL);
    if (mt_torrent_get_status(d->s, id, &st, NULL) != 0)
        return;
    mt_hex_encode(id, 20, hex);
    log_info("torrent %s finished: %s", hex, st.name);
    cJSON *e = d_event("torrent.finished");
    cJSON_AddStringToObject(e, "id", hex);
    cJSON_AddStringToObject(e, "name", st.name);
    cJSON_AddStringToObject(e, "save_path", st.save_path);
    cJSON_AddNumberToObject(e, "subscription", (double)sub_id);
    d_emit(d, e);
    if (!d->cfg->on_finished[0])
        return;
    e_feed[0] = 0;
    if (sub_id && mt_store_sub_get(d->st, sub_id, &sub, NULL) == 0)
        snprintf(e_feed, sizeof e_feed, "MT_FEED=%s", sub.address);
    else
        snprintf(e_feed, sizeof e_feed, "MT_FEED=");
    snprintf(e_id, sizeof e_id, "MT_TORRENT_ID=%s", hex);
    snprintf(e_name, sizeof e_name, "MT_NAME=%s", st.name);
    snprintf(e_path, sizeof e_path, "MT_SAVE_PATH=%s", st.save_path);
    const char *env[] = { "MT_EVENT=torrent.finished", e_id, e_name, e_path, e_feed, NULL };
    d_run_hook(d, d->cfg->on_finished, env);
}

/* Dispatch one session event to everyone who may care. */
static void handle_event(mtd_daemon *d, const mt_event *ev)
{
    char hex[41];
    switch (ev->type) {
    case MT_EVENT_TORRENT_FINISHED:
        on_finished(d, ev->target);
        break;
    case MT_EVENT_RESUME_DATA:
        if (ev->error == 0 && ev->data)
            mt_store_torrent_set_resume(d->st, ev->target, ev->data, ev->data_len, NULL);
        break;
    case MT_EVENT_TORRENT_ERROR:
        mt_hex_encode(ev->target, 20, hex);
        log_warn("torrent %s: %s", hex, ev->message);
        break;
    case MT_EVENT_LISTEN_FAILED:
        log_error("listening on %s failed: %s", ev->endpoint, ev->message);
        break;
    case MT_EVENT_LISTEN_OK:
        log_info("listening on %s", ev->endpoint);
        break;
    case MT_EVENT_DHT_STATS:
        d->dht_nodes = ev->nodes;
        break;
    case MT_EVENT_ERROR:
        log_debug("engine: %s", ev->message);
        break;
    default:
        break;
    }
    subs_event(d, ev);
    pub_event(d, ev);
    methods_event(d, ev);
    blobs_event(d, ev);
}

/* ---------------------------------------------------------------- setup */

/* The publishing identity: the configured key file, made on first start. */
static int load_key(mtd_daemon *d)
{
    mt_error err;
    struct stat sb;
    if (stat(d->cfg->key, &sb) != 0 && errno == ENOENT) {
        if (mt_identity_generate(&d->id, &err) != 0 ||
            mt_identity_save(d->id, d->cfg->key, 0, &err) != 0) {
            log_error("cannot create key %s: %s", d->cfg->key, err.message);
            return -1;
        }
        log_info("created a new publishing key in %s", d->cfg->key);
        return 0;
    }
    if (mt_identity_load(d->cfg->key, &d->id, &err) != 0) {
        log_error("key %s: %s", d->cfg->key, err.message);
        return -1;
    }
    return 0;
}

/* 1 if every host:port of a comma list is a 127.x address. */
static int all_loopback(const char *list)
{
    char buf[4096], *save = NULL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (colon)
            *colon = 0;
        while (*tok == ' ')
            tok++;
        if (!mt_addr_is_loopback(tok))
            return 0;
    }
    return 1;
}

static int open_session(mtd_daemon *d)
{
    mt_session_config sc;
    mt_error err;
    int loop = d->cfg->loopback || (d->cfg->has_bootstrap && all_loopback(d->cfg->bootstrap));

    char host[256];
    snprintf(host, sizeof host, "%s", d->cfg->listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    if (loop) {
        mt_session_config_init_loopback(&sc, d->cfg->listen);
        /* Peer connections leave from our own 127.x address, so that
         * daemons on one machine tell each other apart. */
        if (mt_addr_is_loopback(host))
            sc.outgoing_interfaces = host;
    } else
        mt_session_config_init(&sc);
    sc.listen_interfaces = d->cfg->listen;
    if (d->cfg->has_bootstrap) {
        /* Nodes of a loopback network go straight into the routing table;
         * real bootstrap hosts are routers only. */
        if (loop) {
            sc.dht_routers = "";
            sc.dht_nodes = d->cfg->bootstrap;
        } else {
            sc.dht_routers = d->cfg->bootstrap;
        }
    }
    sc.state_file = d->session_file;
    if (mt_session_new(&sc, &d->s, &err) != 0) {
        log_error("cannot start the engine: %s", err.message);
        return -1;
    }
    if (d->cfg->encrypt_links != MT_CRYPT_OFF && mt_crypt_enable(d->s, (mt_crypt_mode)d->cfg->encrypt_links, &err) != 0) {
        /* Asked to require encryption and cannot: refuse to run in the clear. */
        log_error("encrypted peer links: %s", err.message);
        if (d->cfg->encrypt_links == MT_CRYPT_REQUIRE) {
            mt_session_free(d->s);
            d->s = NULL;
            return -1;
        }
    }
    if (d->cfg->push) {
        mt_push_config pc;
        mt_push_config_init(&pc);
        if (mt_push_enable(d->s, &pc, &err) != 0)
            log_warn("push updates off: %s", err.message); /* polling still works */
    }
    return 0;
}

/* mkdir -p: every missing level gets mode 0700. */
static int mkdir_p(const char *path)
{
    char buf[MTD_PATH_MAX + 16];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int make_dirs(mtd_daemon *d)
{
    const char *dirs[] = { d->cfg->state_dir, d->index_dir, d->seq_dir, d->cfg->download_dir };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (mkdir_p(dirs[i]) != 0) {
            log_error("cannot create %s: %s", dirs[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* SIGHUP: re-read the config file; runtime-changeable settings apply. */
static void reload_config(mtd_daemon *d)
{
    mtd_config nc;
    char msg[512];
    if (!d->cfg->config_path[0]) {
        log_info("SIGHUP: no config file to reload");
        return;
    }
    nc = *d->cfg;
    if (mtd_config_load(d->cfg->config_path, &nc, msg, sizeof msg) != 0) {
        log_error("reload refused, keeping the running settings: %s", msg);
        return;
    }
    d->cfg->poll_interval = nc.poll_interval;
    d->cfg->dht_budget = nc.dht_budget;
    d->cfg->republish_interval = nc.republish_interval;
    d->cfg->republish_budget = nc.republish_budget;
    d->cfg->max_manifest = nc.max_manifest;
    d->cfg->resolve_timeout = nc.resolve_timeout;
    d->cfg->log_level = nc.log_level;
    d->cfg->export_torrent = nc.export_torrent;
    memcpy(d->cfg->on_item, nc.on_item, sizeof nc.on_item);
    memcpy(d->cfg->on_finished, nc.on_finished, sizeof nc.on_finished);
    memcpy(d->cfg->export_dir, nc.export_dir, sizeof nc.export_dir);
    mtd_log_setup(d->cfg->log_level, d->cfg->log_syslog);
    log_info("configuration reloaded from %s", d->cfg->config_path);
}

static void handle_signals(mtd_daemon *d)
{
    unsigned char b;
    while (read(sig_pipe[0], &b, 1) == 1) {
        if (b == SIGTERM || b == SIGINT) {
            log_info("signal %d: shutting down", b);
            d->quit = 1;
        } else if (b == SIGHUP) {
            reload_config(d);
        } else if (b == SIGCHLD) {
            reap_children();
        }
    }
}

/* Clean exit: resume data of every torrent and the DHT state on disk. */
static void shutdown_daemon(mtd_daemon *d)
{
    size_t want = request_resume_all(d), got = 0;
    int64_t deadline = mt_now_ms() + SHUTDOWN_WAIT_MS;
    mt_event ev;
    mt_error err;

    while (got < want && mt_now_ms() < deadline) {
        memset(&ev, 0, sizeof ev);
        if (mt_session_wait_event(d->s, MT_EVENT_RESUME_DATA, NULL, 200, &ev, NULL) == 0) {
            if (ev.error == 0 && ev.data)
                mt_store_torrent_set_resume(d->st, ev.target, ev.data, ev.data_len, NULL);
            got++;
        }
        mt_event_clear(&ev);
    }
    if (got < want)
        log_warn("shutdown: resume data of %zu of %zu torrents not saved in time", want - got, want);
    if (mt_session_save_state(d->s, d->session_file, &err) != 0)
        log_warn("cannot save DHT state: %s", err.message);
}

static void periodic(mtd_daemon *d)
{
    int64_t now = mt_now_ms();
    mt_error err;
    if (now >= d->next_resume_save_ms) {
        d->next_resume_save_ms = now + RESUME_SAVE_EVERY_MS;
        request_resume_all(d);
        mt_dht_request_stats(d->s, NULL);
    }
    if (now >= d->next_state_save_ms) {
        d->next_state_save_ms = now + STATE_SAVE_EVERY_MS;
        if (mt_session_save_state(d->s, d->session_file, &err) != 0)
            log_warn("cannot save DHT state: %s", err.message);
    }
    subs_tick(d);
    pub_tick(d);
    methods_tick(d);
    blobs_tick(d);
    retire_tick(d);
}

int mtd_run(mtd_config *cfg)
{
    mtd_daemon dd, *d = &dd;
    char msg[512];
    mt_error err;
    int status = 0;
    enum { MAX_FDS = MTD_RPC_CLIENTS_MAX + 8 };
    struct pollfd fds[MAX_FDS];

    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->start_ms = mt_now_ms();
    mtd_log_setup(cfg->log_level, cfg->log_syslog);
    if (strlen(cfg->state_dir) > 900) {
        log_error("state directory path is too long (over 900 bytes): %s", cfg->state_dir);
        return 3;
    }
    snprintf(d->index_dir, sizeof d->index_dir, "%s/index", cfg->state_dir);
    snprintf(d->seq_dir, sizeof d->seq_dir, "%s/seq", cfg->state_dir);
    snprintf(d->session_file, sizeof d->session_file, "%s/session.dat", cfg->state_dir);
    if (setup_signals() != 0 || make_dirs(d) != 0 || load_key(d) != 0)
        return 3;
    char dbpath[MTD_PATH_MAX + 16];
    snprintf(dbpath, sizeof dbpath, "%s/state.db", cfg->state_dir);
    if (mt_store_open(dbpath, &d->st, &err) != 0) {
        log_error("state store %s: %s", dbpath, err.message);
        mt_identity_free(d->id);
        return 3;
    }
    if (mtd_rpc_open(cfg->socket, mtd_methods, d, &d->rpc, msg, sizeof msg) != 0) {
        log_error("RPC socket %s: %s", cfg->socket, msg);
        mt_store_close(d->st);
        mt_identity_free(d->id);
        return 3;
    }
    if (open_session(d) != 0) {
        mtd_rpc_close(d->rpc);
        mt_store_close(d->st);
        mt_identity_free(d->id);
        return 3;
    }
    restore_torrents(d);
    if (blobs_open(d) != 0) {
        mtd_rpc_close(d->rpc);
        mt_session_free(d->s);
        mt_store_close(d->st);
        mt_identity_free(d->id);
        return 3;
    }
    if (subs_load(d, &err) != 0)
        log_error("cannot load subscriptions: %s", err.message);
    d->next_resume_save_ms = mt_now_ms() + RESUME_SAVE_EVERY_MS;
    d->next_state_save_ms = mt_now_ms() + 60000;
    mt_dht_request_stats(d->s, NULL);
    log_info("mtd %s ready: socket %s, state %s", mt_version(), cfg->socket, cfg->state_dir);

    while (!d->quit) {
        size_t n = 0;
        fds[n].fd = mt_session_fd(d->s);
        fds[n++].events = POLLIN;
        fds[n].fd = sig_pipe[0];
        fds[n++].events = POLLIN;
        mtd_rpc_pollfds(d->rpc, fds, MAX_FDS, &n);
        int timeout = LOOP_TICK_MS, t2 = mt_session_next_timeout(d->s);
        if (t2 >= 0 && t2 < timeout)
            timeout = t2;
        t2 = blobs_timeout(d);
        if (t2 >= 0 && t2 < timeout)
            timeout = t2;
        if (poll(fds, n, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            status = 1;
            break;
        }
        handle_signals(d);
        mt_event ev;
        memset(&ev, 0, sizeof ev);
        for (int k = 0; k < 1000 && mt_session_next_event(d->s, &ev) == 1; k++) {
            handle_event(d, &ev);
            mt_event_clear(&ev);
        }
        mtd_rpc_dispatch(d->rpc, fds, n);
        periodic(d);
    }

    log_info("stopping");
    methods_free(d);
    subs_free(d);
    blobs_close(d);
    free(d->retire);
    shutdown_daemon(d);
    mtd_rpc_close(d->rpc);
    mt_session_free(d->s);
    mt_store_close(d->st);
    mt_identity_free(d->id);
    for (int i = 0; i < 2; i++)
        close(sig_pipe[i]);
    log_info("stopped");
    return status;
}
