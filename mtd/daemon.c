/*
 * daemon.c - mtd's core: one thread owns the libtorrent session, the state
 * store and the RPC server, and waits on all of them with poll(). What the
 * daemon does is in its modules (module.h); this file sets up what they
 * share, walks the module table and handles signals.
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

/* Every module's state is gone: the shared parts go too. */
static void close_shared(mtd_daemon *d)
{
    mtd_rpc_close(d->rpc);
    mt_session_free(d->s);
    mt_store_close(d->st);
    mt_identity_free(d->id);
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
    if (!(methods = mtd_modules_methods(&err))) {
        log_error("RPC methods: %s", err.message);
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
    if (mtd_modules_open(d, &err) != 0) {
        log_error("%s", err.message);
        goto fail;
    }
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
        t2 = mtd_modules_timeout(d);
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
            mtd_modules_event(d, &ev);
            mt_event_clear(&ev);
        }
        mtd_rpc_dispatch(d->rpc, fds, n);
        mtd_modules_tick(d);
    }

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
