/*
 * daemon.c - mtd's core: one thread owns the libtorrent session, the state
 * store and the RPC server, and waits on all of them on one mt_loop (the
 * session's alert fd, the signal pipe and the RPC sockets as watchers, a
 * timer for the modules' ticks). What the daemon does is in its modules
 * (module.h); this file sets up what they share, walks the module table
 * and handles signals.
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

#include "module.h"
#include "mt_addr.h"
#include "mt_crypt.h"
#include "mt_loop.h"
#include "mt_push.h"
#include "mt_util.h"

#define LOOP_TICK_MS         250     /* timers and resolvers advance this often */

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
static int make_dirs(mtd_daemon *d)
{
    const char *dirs[] = { d->cfg->state_dir, d->index_dir, d->seq_dir, d->cfg->download_dir };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (mt_mkdir_p(dirs[i], 0700, NULL) != 0) {
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

/* ---------------------------------------------------------------- loop */

enum { RPC_FDS_MAX = MTD_RPC_CLIENTS_MAX + 1 };

/* What the loop's callbacks share during mtd_run. */
typedef struct run_ctx {
    mtd_daemon   *d;
    int64_t       tick_timer;        /* 0: none armed */
    int           failed;            /* the tick timer could not be armed */
    /* the RPC server's fds this turn, with the readiness the loop saw */
    struct pollfd rpc_fds[RPC_FDS_MAX];
    size_t        n_rpc;
    int           rpc_watched[RPC_FDS_MAX];
    size_t        n_watched;
} run_ctx;

/* The modules' ticks, then the next one: after LOOP_TICK_MS at the latest,
 * sooner if the session or a module has a deadline. */
static int64_t on_tick(mt_loop *loop, int64_t id, void *arg)
{
    run_ctx *rc = arg;
    mtd_daemon *d = rc->d;
    (void)loop, (void)id;
    mtd_modules_tick(d);
    int timeout = LOOP_TICK_MS, t2 = mt_session_next_timeout(d->s);
    if (t2 >= 0 && t2 < timeout)
        timeout = t2;
    t2 = mtd_modules_timeout(d);
    if (t2 >= 0 && t2 < timeout)
        timeout = t2;
    return timeout;
}

/* Something happened (an event, a request, a signal): tick on the next
 * turn, as every wake-up did before the loop waits again. */
static void tick_soon(run_ctx *rc)
{
    mt_error err;
    if (rc->tick_timer)
        mt_loop_timer_cancel(rc->d->loop, rc->tick_timer);
    rc->tick_timer = 0;
    if (mt_loop_timer_add(rc->d->loop, 0, on_tick, rc, &rc->tick_timer, &err) != 0) {
        log_error("loop timer: %s", err.message);
        rc->failed = 1;
        rc->d->quit = 1;
    }
}

static void on_session(mt_loop *loop, int fd, int ready, void *arg)
{
    run_ctx *rc = arg;
    mt_event ev;
    (void)loop, (void)fd, (void)ready;
    memset(&ev, 0, sizeof ev);
    for (int k = 0; k < 1000 && mt_session_next_event(rc->d->s, &ev) == 1; k++) {
        mtd_modules_event(rc->d, &ev);
        mt_event_clear(&ev);
    }
    tick_soon(rc);
}

static void on_signal_pipe(mt_loop *loop, int fd, int ready, void *arg)
{
    run_ctx *rc = arg;
    (void)loop, (void)fd, (void)ready;
    handle_signals(rc->d);
    tick_soon(rc);
}

/* An RPC fd is ready: noted for mtd_rpc_dispatch after the turn. */
static void on_rpc_fd(mt_loop *loop, int fd, int ready, void *arg)
{
    run_ctx *rc = arg;
    (void)loop;
    for (size_t i = 0; i < rc->n_rpc; i++)
        if (rc->rpc_fds[i].fd == fd)
            rc->rpc_fds[i].revents = (short)(((ready & MT_LOOP_READ) ? POLLIN : 0) |
                                             ((ready & MT_LOOP_WRITE) ? POLLOUT : 0));
}

/* Watch what the RPC server wants this turn (its set changes as clients
 * come and go and as output queues up); unwatch the rest. A client that
 * wants neither reading nor writing is not watched until it does. */
static void rpc_watch(run_ctx *rc)
{
    mtd_daemon *d = rc->d;
    int now[RPC_FDS_MAX];
    size_t n_now = 0;

    rc->n_rpc = 0;
    mtd_rpc_pollfds(d->rpc, rc->rpc_fds, RPC_FDS_MAX, &rc->n_rpc);
    for (size_t i = 0; i < rc->n_rpc; i++) {
        const struct pollfd *p = &rc->rpc_fds[i];
        int mask = ((p->events & POLLIN) ? MT_LOOP_READ : 0) | ((p->events & POLLOUT) ? MT_LOOP_WRITE : 0);
        if (!mask || mt_loop_watch(d->loop, p->fd, mask, on_rpc_fd, rc, NULL) != 0)
            continue;
        now[n_now++] = p->fd;
    }
    for (size_t i = 0; i < rc->n_watched; i++) {
        int still = 0;
        for (size_t k = 0; k < n_now && !still; k++)
            still = now[k] == rc->rpc_watched[i];
        if (!still)
            mt_loop_unwatch(d->loop, rc->rpc_watched[i]);
    }
    memcpy(rc->rpc_watched, now, n_now * sizeof *now);
    rc->n_watched = n_now;
}

/* Every module's state is gone: the shared parts go too. */
static void close_shared(mtd_daemon *d)
{
    mtd_rpc_close(d->rpc);
    mt_session_free(d->s);
    mt_store_close(d->st);
    mt_identity_free(d->id);
    mt_loop_free(d->loop);
    for (int i = 0; i < 2; i++) {
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
        sig_pipe[i] = -1;
    }
}

int mtd_run(mtd_config *cfg)
{
    mtd_daemon dd, *d = &dd;
    mtd_rpc_method *methods = NULL;
    char msg[512];
    mt_error err;
    int status = 0;
    run_ctx rc;

    memset(d, 0, sizeof *d);
    memset(&rc, 0, sizeof rc);
    rc.d = d;
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
    if (!(methods = mtd_modules_methods(&err))) {
        log_error("RPC methods: %s", err.message);
        return 3;
    }
    if (mt_loop_new(&d->loop, &err) != 0) {
        log_error("event loop: %s", err.message);
        free(methods);
        return 3;
    }
    if (setup_signals() != 0 || make_dirs(d) != 0 || load_key(d) != 0)
        goto fail;
    char dbpath[MTD_PATH_MAX + 16];
    snprintf(dbpath, sizeof dbpath, "%s/state.db", cfg->state_dir);
    if (mt_store_open(dbpath, &d->st, &err) != 0) {
        log_error("state store %s: %s", dbpath, err.message);
        goto fail;
    }
    if (mtd_rpc_open(cfg->socket, methods, d, &d->rpc, msg, sizeof msg) != 0) {
        log_error("RPC socket %s: %s", cfg->socket, msg);
        goto fail;
    }
    if (open_session(d) != 0)
        goto fail;
    if (mt_loop_watch(d->loop, mt_session_fd(d->s), MT_LOOP_READ, on_session, &rc, &err) != 0 ||
        mt_loop_watch(d->loop, sig_pipe[0], MT_LOOP_READ, on_signal_pipe, &rc, &err) != 0) {
        log_error("event loop: %s", err.message);
        goto fail;
    }
    if (mtd_modules_open(d, &err) != 0) {
        log_error("%s", err.message);
        goto fail;
    }
    log_info("mtd %s ready: socket %s, state %s", mt_version(), cfg->socket, cfg->state_dir);

    tick_soon(&rc);
    while (!d->quit) {
        rpc_watch(&rc);
        if (mt_loop_once(d->loop, -1, &err) < 0) {
            log_error("%s", err.message);
            status = 1;
            break;
        }
        int rpc_ready = 0;
        for (size_t i = 0; i < rc.n_rpc; i++)
            rpc_ready |= rc.rpc_fds[i].revents != 0;
        if (rpc_ready) {
            mtd_rpc_dispatch(d->rpc, rc.rpc_fds, rc.n_rpc);
            tick_soon(&rc);
        }
    }
    if (rc.failed)
        status = 1;

    log_info("stopping");
    mtd_modules_close(d);
    close_shared(d);
    free(methods);
    log_info("stopped");
    return status;

fail:
    close_shared(d);
    free(methods);
    return 3;
}
