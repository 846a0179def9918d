/* keys.c - mtctl: where keys, state and paths live, passphrases, loading keys. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "mtctl.h"

#define PASS_MAX 1024

/* "$base/megatorrent/leaf" from an XDG variable or its ~/ default. */
static int xdg_path(const char *var, const char *home_rel, const char *leaf, char *buf, size_t cap)
{
    const char *base = getenv(var), *home = getenv("HOME");
    int n;
    if (base && base[0] == '/')
        n = snprintf(buf, cap, "%s/megatorrent%s%s", base, leaf ? "/" : "", leaf ? leaf : "");
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/%s/megatorrent%s%s", home, home_rel, leaf ? "/" : "", leaf ? leaf : "");
    else
        return -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int default_key_path(char *buf, size_t cap)
{
    const char *env = getenv("MT_KEY");
    if (env && env[0])
        return (size_t)snprintf(buf, cap, "%s", env) < cap ? 0 : -1;
    return xdg_path("XDG_CONFIG_HOME", ".config", "key.json", buf, cap);
}

int default_state_dir(char *buf, size_t cap)
{
    const char *env = getenv("MT_STATE_DIR");
    if (env && env[0])
        return (size_t)snprintf(buf, cap, "%s", env) < cap ? 0 : -1;
    return xdg_path("XDG_STATE_HOME", ".local/state", NULL, buf, cap);
}

int make_dirs(const char *path, unsigned mode)
{
    /* errno stays that of the failing level, for the callers' messages. */
    return mt_mkdir_p(path, mode, NULL) == 0 ? 0 : -1;
}

int make_parent_dirs(const char *file, unsigned mode)
{
    char buf[4096];
    const char *slash = strrchr(file, '/');
    size_t n;
    if (!slash || slash == file)
        return 0;
    n = (size_t)(slash - file);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, file, n);
    buf[n] = '\0';
    return make_dirs(buf, mode);
}

int absolute_path(const char *in, char *out, size_t cap)
{
    char cwd[PATH_MAX];
    if (in[0] == '/')
        return (size_t)snprintf(out, cap, "%s", in) < cap ? 0 : -1;
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    return (size_t)snprintf(out, cap, "%s/%s", cwd, in) < cap ? 0 : -1;
}

/* Read one line from fd into pass (without the newline); length or -1. */
static long read_line(int fd, char *pass, size_t cap)
{
    size_t n = 0;
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n + 1 >= cap)
            return -1;
        pass[n++] = c;
    }
    if (n > 0 && pass[n - 1] == '\r')
        n--;
    pass[n] = '\0';
    return (long)n;
}

/* Prompt on the terminal with echo off; length or -1. */
static long prompt_tty(const char *prompt, char *pass, size_t cap)
{
    struct termios old, quiet;
    long n;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return -1;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        close(fd);
        return -1;
    }
    n = read_line(fd, pass, cap);
    tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0)
        n = -1;
    close(fd);
    return n;
}

void passphrase_free(char *pass)
{
    sodium_free(pass);
}

int get_passphrase(const char *file, int confirm, const char *what, char **out, size_t *len)
{
    const char *env = getenv("MT_PASSPHRASE");
    char *pass = NULL, *again = NULL;
    long n = -1;
    char prompt[256];

    if (sodium_init() < 0 || !(pass = sodium_malloc(PASS_MAX)))
        return fail(EXIT_LOCAL, "out of secure memory");
    if (file) {
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            passphrase_free(pass);
            return fail(EXIT_LOCAL, "cannot open passphrase file %s: %s", file, strerror(errno));
        }
        n = read_line(fd, pass, PASS_MAX);
        close(fd);
    } else if (env) {
        n = (long)strlen(env);
        if (n >= PASS_MAX)
            n = -1;
        else
            memcpy(pass, env, (size_t)n + 1);
    } else if (isatty(STDIN_FILENO)) {
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", what);
        n = prompt_tty(prompt, pass, PASS_MAX);
        if (n >= 0 && confirm) {
            if (!(again = sodium_malloc(PASS_MAX)))
                n = -1;
            else if (prompt_tty("Same passphrase again: ", again, PASS_MAX) != n || strcmp(pass, again) != 0) {
                sodium_free(again);
                passphrase_free(pass);
                return fail(EXIT_USAGE, "the passphrases do not match");
            }
            sodium_free(again);
        }
    } else {
        passphrase_free(pass);
        return fail(EXIT_USAGE, "%s needs a passphrase: give --passphrase-file FILE or set MT_PASSPHRASE "
                    "(no terminal to ask on)", what);
    }
    if (n <= 0) {
        passphrase_free(pass);
        return fail(EXIT_USAGE, "no usable passphrase (empty, unreadable or over %d bytes)", PASS_MAX - 1);
    }
    *out = pass;
    *len = (size_t)n;
    return EXIT_OK;
}

int load_identity(const char *path, const char *passfile, mt_identity **out)
{
    char def[4096], *pass = NULL;
    size_t plen = 0;
    mt_error err;
    int rc;

    if (!path) {
        if (default_key_path(def, sizeof def) != 0)
            return fail(EXIT_USAGE, "no key file: give -k FILE (or set MT_KEY or HOME)");
        path = def;
    }
    rc = mt_identity_load_protected(path, NULL, 0, out, &err);
    if (rc == MT_ENEEDKEY) {
        if ((rc = get_passphrase(passfile, 0, path, &pass, &plen)) != EXIT_OK)
            return rc;
        rc = mt_identity_load_protected(path, pass, plen, out, &err);
        passphrase_free(pass);
    }
    if (rc == 0)
        return EXIT_OK;
    if (rc == MT_ENOTFOUND && path == def)
        return fail(EXIT_LOCAL, "%s (make one with: mtctl key generate -o %s, or import one with: mtctl key import FILE)",
                    err.message, path);
    return fail(rc == MT_ECRYPTO || rc == MT_EINVAL ? EXIT_FAILED : EXIT_LOCAL, "%s", err.message);
}

int parse_read_key(const char *hex, uint8_t key[32])
{
    if (mt_hex_decode(hex, key, 32) != 0)
        return fail(EXIT_USAGE, "--read-key wants 64 hex digits (32 bytes); make one with: "
                    "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
    return EXIT_OK;
}

int read_input(const char *path, size_t max, char **out, size_t *len, mt_error *err)
{
    if (strcmp(path, "-") == 0)
        return mt_fd_read(STDIN_FILENO, "stdin", max, out, len, err);
    return mt_file_read(path, max, out, len, err);
}
