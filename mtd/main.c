/*
 * main.c - mtd: options, configuration, state directory, detaching; then
 * the event loop in daemon.c.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "mt_util.h"
#include "mtd.h"
#include "mtd_config.h"

#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define EXIT_DONE 256 /* not a status: handled (--help, --version), exit 0 */

static const char usage_text[] =
    "usage: mtd [OPTIONS]\n"
    "\n"
    "The megatorrent daemon: follows subscribed feeds over the DHT, downloads\n"
    "their new items, publishes and republishes feeds, and answers JSON-RPC on\n"
    "a UNIX socket (see mtctl(1)). Detaches and logs to syslog unless\n"
    "--foreground is given.\n"
    "\n"
    "Options (they override the config file):\n"
    "  --config FILE            read settings from FILE (mtd.conf(5)); none by default\n"
    "  --state-dir DIR          state directory ($MT_STATE_DIR, else\n"
    "                           $XDG_STATE_HOME/megatorrent or ~/.local/state/megatorrent)\n"
    "  --listen ADDR:PORT       BitTorrent and DHT listen address (0.0.0.0:6881)\n"
    "  --bootstrap HOST:PORT    DHT node to join through; repeatable or a comma list,\n"
    "                           added to the config file's (default: Mainline routers)\n"
    "  --socket PATH            RPC socket (STATE_DIR/mtd.sock)\n"
    "  --key FILE               publishing identity (STATE_DIR/key.json, made if absent)\n"
    "  --download-dir DIR       where torrents are saved (STATE_DIR/downloads)\n"
    "  --poll-interval SECONDS  how often each feed is polled (300; 10..86400)\n"
    "  --loopback               engine settings for a 127.x.y.z test network\n"
    "  --log-level LEVEL        error, warn, info (default) or debug\n"
    "  --syslog                 log to syslog also in the foreground\n"
    "  -f, --foreground         stay attached; log to stderr\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n";

enum {
    OPT_CONFIG = 256,
    OPT_STATE_DIR,
    OPT_LISTEN,
    OPT_BOOTSTRAP,
    OPT_SOCKET,
    OPT_KEY,
    OPT_DOWNLOAD_DIR,
    OPT_POLL_INTERVAL,
    OPT_LOOPBACK,
    OPT_LOG_LEVEL,
    OPT_SYSLOG,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"key", required_argument, NULL, OPT_KEY},
    {"download-dir", required_argument, NULL, OPT_DOWNLOAD_DIR},
    {"poll-interval", required_argument, NULL, OPT_POLL_INTERVAL},
    {"loopback", no_argument, NULL, OPT_LOOPBACK},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"foreground", no_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Options that set a config key: the key, and whether the value is a path
 * (made absolute here, since the daemon runs in "/"). */
static const struct opt_key {
    int opt;
    const char *key;
    int is_path;
} opt_keys[] = {
    {OPT_STATE_DIR, "state_dir", 1},       {OPT_LISTEN, "listen", 0},   {OPT_BOOTSTRAP, "bootstrap", 0},
    {OPT_SOCKET, "socket", 1},             {OPT_KEY, "key", 1},         {OPT_DOWNLOAD_DIR, "download_dir", 1},
    {OPT_POLL_INTERVAL, "poll_interval", 0}, {OPT_LOG_LEVEL, "log_level", 0},
};

/* An option kept for after the config file is read. */
typedef struct cli_opt {
    int opt;
    const char *arg;
} cli_opt;

/* What the command line asked for, before any of it is applied. */
typedef struct cli {
    cli_opt *opts; /* in command-line order; argc entries at most */
    int count;
    const char *config; /* --config, the last one given */
    int foreground, use_syslog, loopback;
} cli;

/* The caller's relative path under the current directory; absolute paths
 * and "~", "~/..." (expanded by mtd_config_set) pass unchanged. */
static int make_absolute(const char *in, int keep_tilde, char *out, size_t cap)
{
    char cwd[MTD_PATH_MAX];
    int n;
    if (in[0] == '\0' || in[0] == '/' || (keep_tilde && in[0] == '~' && (in[1] == '\0' || in[1] == '/')))
        n = snprintf(out, cap, "%s", in);
    else if (!getcwd(cwd, sizeof cwd))
        return -1;
    else
        n = snprintf(out, cap, "%s/%s", cwd, in);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Collect the options; 0 to go on, EXIT_DONE after --help or --version,
 * else an exit status. */
static int parse_args(int argc, char **argv, cli *c)
{
    int o;
    opterr = 0; /* our own messages, in our own format */
    while ((o = getopt_long(argc, argv, ":fhV", long_opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_DONE;
        case 'V':
            printf("mtd %s\n", PACKAGE_VERSION);
            return EXIT_DONE;
        case 'f':
            c->foreground = 1;
            break;
        case OPT_SYSLOG:
            c->use_syslog = 1;
            break;
        case OPT_LOOPBACK:
            c->loopback = 1;
            break;
        case OPT_CONFIG:
            c->config = optarg;
            break;
        case ':':
            fprintf(stderr, "mtd: option '%s' needs a value (see mtd --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        case '?':
            if (optopt)
                fprintf(stderr, "mtd: unknown option '-%c' (see mtd --help)\n", optopt);
            else
                fprintf(stderr, "mtd: unknown option '%s' (see mtd --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            c->opts[c->count].opt = o;
            c->opts[c->count].arg = optarg;
            c->count++;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mtd: unexpected argument '%s' (see mtd --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    return 0;
}

/* The config file, if any: read it and keep its absolute name for SIGHUP. */
static int load_config_file(const char *path, mtd_config *cfg)
{
    char msg[1024], *real;
    if (!path)
        return 0;
    real = realpath(path, NULL);
    if (!real) {
        fprintf(stderr, "mtd: config file %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    if (strlen(real) >= sizeof cfg->config_path) {
        fprintf(stderr, "mtd: config file %s: path too long\n", path);
        free(real);
        return EXIT_USAGE;
    }
    memcpy(cfg->config_path, real, strlen(real) + 1);
    free(real);
    if (mtd_config_load(path, cfg, msg, sizeof msg) != 0) {
        fprintf(stderr, "mtd: %s\n", msg);
        return EXIT_USAGE;
    }
    return 0;
}

/* Command-line settings over the file's, in the order given. */
static int apply_cli(const cli *c, mtd_config *cfg)
{
    char msg[1024], abs[MTD_PATH_MAX];
    int i;
    size_t k;
    for (i = 0; i < c->count; i++) {
        const char *value = c->opts[i].arg;
        for (k = 0; k < sizeof opt_keys / sizeof opt_keys[0] && opt_keys[k].opt != c->opts[i].opt; k++)
            ;
        if (k == sizeof opt_keys / sizeof opt_keys[0])
            continue; /* cannot happen: every collected option is in the table */
        if (opt_keys[k].is_path) {
            if (make_absolute(value, 1, abs, sizeof abs) != 0) {
                fprintf(stderr, "mtd: %s %s: %s\n", opt_keys[k].key, value, strerror(errno));
                return EXIT_USAGE;
            }
            value = abs;
        }
        if (mtd_config_set(cfg, opt_keys[k].key, value, msg, sizeof msg) != 0) {
            fprintf(stderr, "mtd: %s\n", msg);
            return EXIT_USAGE;
        }
    }
    cfg->foreground = c->foreground;
    if (c->loopback)
        cfg->loopback = 1;
    /* Detached, stderr is /dev/null: syslog is the only place left. */
    if (c->use_syslog || !c->foreground)
        cfg->log_syslog = 1;
    return 0;
}

/* mkdir -p with mode 0700 for every level made, then check the result is
 * a directory we can use. */
static int make_dirs(const char *path)
{
    struct stat st;
    if (strlen(path) >= MTD_PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mt_mkdir_p(path, 0700, NULL) != 0)
        return -1;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return access(path, W_OK | X_OK);
}

/* 1 if a process accepts connections on the socket path: a second mtd
 * would only find out after detaching, where the user cannot see it. */
static int socket_in_use(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc;
    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    return rc == 0;
}

/* Descriptors 0-2 open (on /dev/null if closed), so no socket or file
 * the daemon opens later can end up as "stderr". */
static void ensure_std_fds(void)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close(fd);
}

/* Classic double fork: the caller's shell gets its exit status 0 at once,
 * the daemon leads no session and can never regain a terminal. */
static int daemonize(void)
{
    pid_t pid;
    int fd;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(EXIT_SUCCESS);
    if (setsid() < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(EXIT_SUCCESS);
    if (chdir("/") != 0)
        return -1;
    fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return -1;
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
        return -1;
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

/* Everything before mtd_run; 0, EXIT_DONE or an exit status. */
static int setup(int argc, char **argv, mtd_config *cfg)
{
    char msg[1024], abs[MTD_PATH_MAX];
    cli c;
    int rc;

    memset(&c, 0, sizeof c);
    c.opts = calloc((size_t)argc + 1, sizeof *c.opts);
    if (!c.opts) {
        fputs("mtd: out of memory\n", stderr);
        return EXIT_FAILURE;
    }
    rc = parse_args(argc, argv, &c);
    if (rc == 0) {
        mtd_config_init(cfg);
        rc = load_config_file(c.config, cfg);
    }
    if (rc == 0)
        rc = apply_cli(&c, cfg);
    free(c.opts);
    if (rc != 0)
        return rc;

    /* Only $MT_STATE_DIR can still be relative here. */
    if (make_absolute(cfg->state_dir, 0, abs, sizeof abs) != 0) {
        fprintf(stderr, "mtd: state directory %s: %s\n", cfg->state_dir, strerror(errno));
        return EXIT_USAGE;
    }
    memcpy(cfg->state_dir, abs, strlen(abs) + 1);
    if (mtd_config_finish(cfg, msg, sizeof msg) != 0) {
        fprintf(stderr, "mtd: %s\n", msg);
        return EXIT_USAGE;
    }
    if (make_dirs(cfg->state_dir) != 0) {
        fprintf(stderr, "mtd: state directory %s: %s\n", cfg->state_dir, strerror(errno));
        return EXIT_SETUP;
    }
    if (socket_in_use(cfg->socket)) {
        fprintf(stderr, "mtd: %s is in use: another mtd is running there\n", cfg->socket);
        return EXIT_SETUP;
    }
    if (!cfg->foreground) {
        if (daemonize() != 0) {
            fprintf(stderr, "mtd: cannot detach: %s\n", strerror(errno));
            return EXIT_SETUP;
        }
    } else if (chdir("/") != 0) { /* the same working directory either way */
        fprintf(stderr, "mtd: chdir /: %s\n", strerror(errno));
        return EXIT_SETUP;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static mtd_config cfg; /* ~12 KiB: off the stack, alive for the run */
    int rc;
    ensure_std_fds();
    rc = setup(argc, argv, &cfg);
    if (rc != 0)
        return rc == EXIT_DONE ? EXIT_SUCCESS : rc;
    mtd_log_setup(cfg.log_level, cfg.log_syslog);
    return mtd_run(&cfg);
}
