/*
 * config.c - mtd's configuration: defaults, the "key = value" file of
 * mtd.conf(5), and the paths derived from the state directory.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "mtd.h"
#include "mtd_config.h"

/* Write a message (if there is room for one) and return -1, so error paths
 * are one line. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (msg && cap) {
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* snprintf that reports truncation: 0, or -1 when out would be cut. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fmt_fits(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* $MT_STATE_DIR, else $XDG_STATE_HOME/megatorrent (the XDG spec ignores a
 * relative value), else $HOME/.local/state/megatorrent; "" if none is set
 * or the result does not fit, which mtd_config_finish then reports. */
static void default_state_dir(char *buf, size_t cap)
{
    const char *env = getenv("MT_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int rc = -1;
    if (env && env[0])
        rc = fmt_fits(buf, cap, "%s", env);
    else if (xdg && xdg[0] == '/')
        rc = fmt_fits(buf, cap, "%s/megatorrent", xdg);
    else if (home && home[0])
        rc = fmt_fits(buf, cap, "%s/.local/state/megatorrent", home);
    if (rc != 0)
        buf[0] = '\0';
}

void mtd_config_init(mtd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    default_state_dir(cfg->state_dir, sizeof cfg->state_dir);
    snprintf(cfg->listen, sizeof cfg->listen, "%s", "0.0.0.0:6881");
    cfg->poll_interval = 300;
    cfg->dht_budget = 60;
    cfg->republish_interval = 3000;
    cfg->republish_budget = 30;
    cfg->max_manifest = 16777216;
    cfg->resolve_timeout = 120;
    cfg->blob_cache_mb = 10240;
    cfg->wire_announce_rate = 60;
    cfg->push = 1;
    cfg->push_fanout = 8;
    cfg->push_feed_rate = 30;
    cfg->encrypt_links = 1;
    cfg->log_level = MTD_LOG_INFO;
}

/* ---- value parsers: each returns 0 or -1 with msg "KEY: ..." ----------- */

/* A path value: absolute, or "~"/"~/..." under $HOME. Relative paths are
 * refused because the daemon runs in "/" and re-reads the file there. */
static int parse_path(const char *key, const char *v, int empty_ok, char *out, size_t cap, char *msg,
                      size_t mcap)
{
    const char *home = getenv("HOME");
    if (!v[0]) {
        if (!empty_ok)
            return fail(msg, mcap, "%s: must not be empty", key);
        out[0] = '\0';
        return 0;
    }
    if (v[0] == '~' && (v[1] == '\0' || v[1] == '/')) {
        if (!home || home[0] != '/')
            return fail(msg, mcap, "%s: \"~\" needs HOME set to an absolute path", key);
        if (fmt_fits(out, cap, "%s%s", home, v + 1) != 0)
            return fail(msg, mcap, "%s: path too long (at most %zu bytes)", key, cap - 1);
        return 0;
    }
    if (v[0] != '/')
        return fail(msg, mcap, "%s: must be an absolute path or start with ~/, not \"%.64s\"", key, v);
    if (fmt_fits(out, cap, "%s", v) != 0)
        return fail(msg, mcap, "%s: path too long (at most %zu bytes)", key, cap - 1);
    return 0;
}

/* A decimal integer in [min, max]; digits only, so "1e3", "-5", " 7" and
 * "0x10" are all refused rather than half-read. */
static int parse_int(const char *key, const char *v, long min, long max, int *out, char *msg, size_t mcap)
{
    const char *p;
    long n = 0;
    if (!v[0])
        goto bad;
    for (p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        n = n * 10 + (*p - '0');
        if (n > max) /* also stops overflow */
            goto bad;
    }
    if (n < min)
        goto bad;
    *out = (int)n;
    return 0;
bad:
    return fail(msg, mcap, "%s: must be a whole number from %ld to %ld, not \"%.32s\"", key, min, max, v);
}

static int parse_bool(const char *key, const char *v, int *out, char *msg, size_t mcap)
{
    static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
    size_t i;
    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
            *out = !strcasecmp(v, yes[i]);
            return 0;
        }
    }
    return fail(msg, mcap, "%s: must be true or false (yes/no, on/off, 1/0), not \"%.32s\"", key, v);
}

/* One of the words (case-insensitive); its index in *out. */
static int parse_word(const char *key, const char *v, const char *const *words, const char *list, int *out,
                      char *msg, size_t mcap)
{
    int i;
    for (i = 0; words[i]; i++) {
        if (!strcasecmp(v, words[i])) {
            *out = i;
            return 0;
        }
    }
    return fail(msg, mcap, "%s: must be one of %s, not \"%.32s\"", key, list, v);
}

/*
 * HOST:PORT (len bytes of s) with PORT from min_port to 65535. HOST is a
 * name, an IPv4 address or a bracketed IPv6 address; it must not hold
 * spaces, commas or control characters, which would break the comma lists
 * the engine takes.
 */
static int check_endpoint(const char *key, const char *s, size_t len, long min_port, char *msg, size_t mcap)
{
    const char *colon = NULL, *p;
    long port = 0;
    size_t hlen;
    for (p = s; p < s + len; p++) {
        if (*p == ':')
            colon = p;
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
            goto bad;
    }
    if (!colon || colon == s || colon + 1 == s + len || s + len - (colon + 1) > 5)
        goto bad;
    for (p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port < min_port || port > 65535)
        goto bad;
    hlen = (size_t)(colon - s);
    if (s[0] == '[') { /* [v6]: the brackets must close right before the port */
        if (hlen < 3 || s[hlen - 1] != ']' || memchr(s + 1, ']', hlen - 2) || memchr(s + 1, '[', hlen - 2))
            goto bad;
    } else if (memchr(s, ':', hlen) || memchr(s, '[', hlen) || memchr(s, ']', hlen)) {
        goto bad; /* a bare IPv6 address: which colon ends it? */
    }
    return 0;
bad:
    return fail(msg, mcap, "%s: \"%.*s\" is not HOST:PORT (port %ld..65535; IPv6 as [ADDR]:PORT)", key,
                (int)(len > 64 ? 64 : len), s, min_port);
}

/* Append a comma list of HOST:PORT to cfg->bootstrap, spaces around the
 * commas dropped; all or nothing. */
static int add_bootstrap(mtd_config *cfg, const char *v, char *msg, size_t mcap)
{
    char buf[sizeof cfg->bootstrap];
    size_t used = strlen(cfg->bootstrap);
    const char *p = v;
    memcpy(buf, cfg->bootstrap, used + 1);
    for (;;) {
        const char *end = strchr(p, ','), *b, *e;
        if (!end)
            end = p + strlen(p);
        for (b = p; b < end && isspace((unsigned char)*b); b++)
            ;
        for (e = end; e > b && isspace((unsigned char)e[-1]); e--)
            ;
        if (b == e)
            return fail(msg, mcap, "bootstrap: empty entry in \"%.64s\"", v);
        if (check_endpoint("bootstrap", b, (size_t)(e - b), 1, msg, mcap) != 0)
            return -1;
        if (used + (used > 0) + (size_t)(e - b) + 1 > sizeof buf)
            return fail(msg, mcap, "bootstrap: list too long (at most %zu bytes in all)", sizeof buf - 1);
        if (used > 0)
            buf[used++] = ',';
        memcpy(buf + used, b, (size_t)(e - b));
        used += (size_t)(e - b);
        buf[used] = '\0';
        if (!*end)
            break;
        p = end + 1;
    }
    memcpy(cfg->bootstrap, buf, used + 1);
    cfg->has_bootstrap = 1;
    return 0;
}

/* A hook command: any text ("" = none), but it must fit. */
static int parse_command(const char *key, const char *v, char *out, size_t cap, char *msg, size_t mcap)
{
    if (fmt_fits(out, cap, "%s", v) != 0)
        return fail(msg, mcap, "%s: command too long (at most %zu bytes)", key, cap - 1);
    return 0;
}

/* ---- the key table ------------------------------------------------------ */

typedef enum key_kind { K_PATH, K_PATH_OPT, K_COMMAND, K_INT, K_BOOL } key_kind;

typedef struct key_def {
    const char *name;
    key_kind kind;
    size_t off;   /* of the member in mtd_config */
    size_t size;  /* of a char[] member */
    long min, max; /* K_INT range */
} key_def;

#define KEY_STR(n, k) {#n, k, offsetof(mtd_config, n), sizeof(((mtd_config *)0)->n), 0, 0}
#define KEY_INT(n, lo, hi) {#n, K_INT, offsetof(mtd_config, n), 0, lo, hi}

/* Keys whose values need nothing beyond their kind; listen, bootstrap and
 * the word-valued keys are handled in mtd_config_set itself. */
static const key_def key_table[] = {
    KEY_STR(state_dir, K_PATH),
    KEY_STR(socket, K_PATH_OPT),
    KEY_STR(key, K_PATH_OPT),
    KEY_STR(download_dir, K_PATH_OPT),
    KEY_STR(export_dir, K_PATH_OPT),
    KEY_STR(blob_dir, K_PATH_OPT),
    KEY_STR(on_item, K_COMMAND),
    KEY_STR(on_finished, K_COMMAND),
    KEY_INT(poll_interval, 10, 86400),
    KEY_INT(dht_budget, 1, 100000),
    KEY_INT(republish_interval, 60, 86400),
    KEY_INT(republish_budget, 0, 100000),
    KEY_INT(max_manifest, 1024, 268435456),
    KEY_INT(resolve_timeout, 5, 3600),
    KEY_INT(blob_cache_mb, 0, 1 << 30),
    KEY_INT(wire_announce_rate, 0, 100000),
    KEY_INT(push_fanout, 0, 1000),
    KEY_INT(push_feed_rate, 0, 100000),
    {"loopback", K_BOOL, offsetof(mtd_config, loopback), 0, 0, 0},
    {"push", K_BOOL, offsetof(mtd_config, push), 0, 0, 0},
};

/* A table key: parse into a temporary and copy on success, so a bad value
 * leaves cfg as it was. */
static int set_table_key(mtd_config *cfg, const key_def *k, const char *value, char *msg, size_t cap)
{
    char *field = (char *)cfg + k->off;
    char tmp[MTD_PATH_MAX];
    size_t size = k->size < sizeof tmp ? k->size : sizeof tmp;
    int n = 0, rc = -1;
    switch (k->kind) {
    case K_PATH:
    case K_PATH_OPT:
        rc = parse_path(k->name, value, k->kind == K_PATH_OPT, tmp, size, msg, cap);
        break;
    case K_COMMAND:
        rc = parse_command(k->name, value, tmp, size, msg, cap);
        break;
    case K_INT:
        rc = parse_int(k->name, value, k->min, k->max, &n, msg, cap);
        break;
    case K_BOOL:
        rc = parse_bool(k->name, value, &n, msg, cap);
        break;
    }
    if (rc != 0)
        return -1;
    if (k->kind == K_INT || k->kind == K_BOOL)
        memcpy(field, &n, sizeof n);
    else
        memcpy(field, tmp, strlen(tmp) + 1);
    return 0;
}

int mtd_config_set(mtd_config *cfg, const char *key, const char *value, char *msg, size_t cap)
{
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const dests[] = {"stderr", "syslog", NULL};
    static const char *const formats[] = {"magnet", "torrent", NULL};
    static const char *const crypt_modes[] = {"off", "prefer", "require", NULL};
    size_t i;
    int n = 0;
    for (i = 0; i < sizeof key_table / sizeof key_table[0]; i++)
        if (!strcmp(key, key_table[i].name))
            return set_table_key(cfg, &key_table[i], value, msg, cap);
    if (!strcmp(key, "listen")) {
        if (strlen(value) >= sizeof cfg->listen)
            return fail(msg, cap, "listen: too long (at most %zu bytes)", sizeof cfg->listen - 1);
        if (check_endpoint(key, value, strlen(value), 0, msg, cap) != 0)
            return -1;
        memcpy(cfg->listen, value, strlen(value) + 1);
        return 0;
    }
    if (!strcmp(key, "bootstrap"))
        return add_bootstrap(cfg, value, msg, cap);
    if (!strcmp(key, "wire_listen")) {
        if (strlen(value) >= sizeof cfg->wire_listen)
            return fail(msg, cap, "wire_listen: too long (at most %zu bytes)", sizeof cfg->wire_listen - 1);
        if (value[0] && check_endpoint(key, value, strlen(value), 0, msg, cap) != 0)
            return -1;
        memcpy(cfg->wire_listen, value, strlen(value) + 1);
        return 0;
    }
    if (!strcmp(key, "log_level")) {
        if (parse_word(key, value, levels, "error, warn, info, debug", &n, msg, cap) != 0)
            return -1;
        cfg->log_level = (mtd_log_level)n;
        return 0;
    }
    if (!strcmp(key, "log"))
        return parse_word(key, value, dests, "stderr, syslog", &cfg->log_syslog, msg, cap);
    if (!strcmp(key, "encrypt_links"))
        return parse_word(key, value, crypt_modes, "off, prefer, require", &cfg->encrypt_links, msg, cap);
    if (!strcmp(key, "export_format"))
        return parse_word(key, value, formats, "magnet, torrent", &cfg->export_torrent, msg, cap);
    fail(msg, cap, "unknown key \"%.64s\"", key);
    return -2;
}

/* ---- the file ----------------------------------------------------------- */

/* Read one line without its newline into buf (cap > MTD_CONFIG_LINE_MAX).
 * 1 = a line, 0 = end of file, -1 = too long, -2 = NUL byte, -3 = read
 * error. A NUL would silently cut the line short, so it is refused. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == '\0')
            return -2;
        if (n >= MTD_CONFIG_LINE_MAX || n + 1 >= cap)
            return -1;
        buf[n++] = (char)c;
    }
    if (c == EOF && ferror(f))
        return -3;
    buf[n] = '\0';
    *len = n;
    return c == EOF && n == 0 ? 0 : 1;
}

/* Trim whitespace (also a CR of CRLF files) in place; the new start. */
static char *trim(char *s)
{
    char *e = s + strlen(s);
    while (isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *e = '\0';
    return s;
}

/* Unquote "..." in place: \" and \\ are escapes, any other backslash is
 * kept (so shell commands need no doubling); only space may follow. */
static int unquote(char *v, char *msg, size_t cap)
{
    char *r = v + 1, *w = v;
    while (*r && *r != '"') {
        if (r[0] == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r++;
    }
    if (*r != '"')
        return fail(msg, cap, "unterminated quoted value");
    for (r++; isspace((unsigned char)*r); r++)
        ;
    if (*r)
        return fail(msg, cap, "text after the closing quote (escape inner quotes as \\\")");
    *w = '\0';
    return 0;
}

/* Apply one line (already read, lineno for messages). */
static int load_line(const char *path, unsigned lineno, char *line, mtd_config *cfg, char *msg, size_t cap)
{
    char why[512];
    char *s = line, *eq, *key, *value;
    if (lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
        s += 3; /* a UTF-8 byte-order mark some editors add */
    s = trim(s);
    if (!*s || *s == '#')
        return 0;
    eq = strchr(s, '=');
    if (!eq)
        return fail(msg, cap, "%s:%u: expected \"key = value\"", path, lineno);
    *eq = '\0';
    key = trim(s);
    value = trim(eq + 1);
    if (!*key)
        return fail(msg, cap, "%s:%u: missing key before \"=\"", path, lineno);
    if (*value == '"' && unquote(value, why, sizeof why) != 0)
        return fail(msg, cap, "%s:%u: %s: %s", path, lineno, key, why);
    if (mtd_config_set(cfg, key, value, why, sizeof why) != 0)
        return fail(msg, cap, "%s:%u: %s", path, lineno, why);
    return 0;
}

int mtd_config_load(const char *path, mtd_config *cfg, char *msg, size_t cap)
{
    char line[MTD_CONFIG_LINE_MAX + 1];
    unsigned lineno = 0;
    size_t len;
    int rc = 0, r;
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(msg, cap, "%s: %s", path, strerror(errno));
    while (rc == 0 && (r = read_line(f, line, sizeof line, &len)) != 0) {
        lineno++;
        if (r == -1)
            rc = fail(msg, cap, "%s:%u: line longer than %d bytes", path, lineno, MTD_CONFIG_LINE_MAX);
        else if (r == -2)
            rc = fail(msg, cap, "%s:%u: NUL byte in line", path, lineno);
        else if (r == -3)
            rc = fail(msg, cap, "%s: read error: %s", path, strerror(errno));
        else
            rc = load_line(path, lineno, line, cfg, msg, cap);
    }
    fclose(f);
    return rc;
}

/* ---- derived paths ------------------------------------------------------ */

/* dst = state_dir/leaf unless dst was set. */
static int derive(const mtd_config *cfg, char *dst, size_t cap, const char *key, const char *leaf, char *msg,
                  size_t mcap)
{
    if (dst[0])
        return 0;
    if (fmt_fits(dst, cap, "%s/%s", cfg->state_dir, leaf) != 0) {
        dst[0] = '\0';
        return fail(msg, mcap, "state_dir too long to hold %s (give %s explicitly)", leaf, key);
    }
    return 0;
}

int mtd_config_finish(mtd_config *cfg, char *msg, size_t cap)
{
    struct sockaddr_un sa;
    if (!cfg->state_dir[0])
        return fail(msg, cap,
                    "no state directory: MT_STATE_DIR, XDG_STATE_HOME and HOME are unset or too long; "
                    "set state_dir (--state-dir)");
    if (derive(cfg, cfg->socket, sizeof cfg->socket, "socket", "mtd.sock", msg, cap) != 0 ||
        derive(cfg, cfg->key, sizeof cfg->key, "key", "key.json", msg, cap) != 0 ||
        derive(cfg, cfg->download_dir, sizeof cfg->download_dir, "download_dir", "downloads", msg, cap) != 0 ||
        derive(cfg, cfg->blob_dir, sizeof cfg->blob_dir, "blob_dir", "blobs", msg, cap) != 0)
        return -1;
    /* Caught here rather than at bind(), where it would be a detached
     * daemon's log line. */
    if (strlen(cfg->socket) >= sizeof sa.sun_path)
        return fail(msg, cap, "socket: \"%s\" is too long for a UNIX socket (at most %zu bytes)", cfg->socket,
                    sizeof sa.sun_path - 1);
    return 0;
}
