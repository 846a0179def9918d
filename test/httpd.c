/*
 * httpd.c - a tiny HTTP/1.1 file server for the tests; see httpd.h.
 *
 * One listener thread accepts connections and starts a thread for each.
 * A connection thread never closes its socket: the listener (for finished
 * connections) or mt_test_httpd_stop() (for all of them) joins the thread
 * first and closes the socket after, so a descriptor is never reused while
 * a thread might still touch it. Stop wakes the listener through a pipe and
 * the connection threads with shutdown(2).
 */
#define _POSIX_C_SOURCE 200809L
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define IO_TIMEOUT_S 30               /* idle keep-alive connections end after this */
#define BODY_MAX (1024L * 1024L)      /* request body we are willing to skip */
#define CHUNK (64 * 1024)

struct conn {
    struct conn *next;
    mt_test_httpd *srv;
    int fd;
    int done;                         /* thread finished; guarded by srv->mu */
    pthread_t thread;
};

struct mt_test_httpd {
    int lfd;
    int wake[2];                      /* stop -> listener */
    int port;
    char *root;
    pthread_t thread;
    pthread_mutex_t mu;               /* guards everything below */
    struct conn *conns;
    int stopping;
    long requests, ok;
    long long bytes;
};

/* ------------------------------------------------------------ helpers */

static void set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* 0 when all of buf went out, -1 if the connection broke. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static void count(mt_test_httpd *srv, int code, long long body)
{
    pthread_mutex_lock(&srv->mu);
    srv->requests++;
    if (code == 200 || code == 206)
        srv->ok++;
    srv->bytes += body;
    pthread_mutex_unlock(&srv->mu);
}

/*
 * An error answer with a short text body (omitted for HEAD). Returns
 * keep_alive if the answer went out, else 0.
 */
static int send_error(struct conn *c, int code, int head, int keep_alive, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int send_error(struct conn *c, int code, int head, int keep_alive, const char *fmt, ...)
{
    char body[512], hdr[512];
    va_list ap;
    int blen, off, hlen;
    off = snprintf(body, sizeof body, "%d %s: ", code, status_text(code));
    va_start(ap, fmt);
    vsnprintf(body + off, sizeof body - (size_t)off - 1, fmt, ap);
    va_end(ap);
    blen = (int)strlen(body);
    body[blen++] = '\n';
    hlen = snprintf(hdr, sizeof hdr,
                    "HTTP/1.1 %d %s\r\n"
                    "Server: mt-test-httpd\r\n"
                    "Content-Type: text/plain\r\n"
                    "Content-Length: %d\r\n"
                    "%s"
                    "Connection: %s\r\n\r\n",
                    code, status_text(code), blen, code == 405 ? "Allow: GET, HEAD\r\n" : "",
                    keep_alive ? "keep-alive" : "close");
    count(c->srv, code, head ? 0 : blen);
    if (send_all(c->fd, hdr, (size_t)hlen) != 0)
        return 0;
    if (!head && send_all(c->fd, body, (size_t)blen) != 0)
        return 0;
    return keep_alive;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decode %XX of in[0..n) into out (cap bytes, NUL-terminated). -1 on a bad
 * escape, an encoded NUL, or no room. */
static int url_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval((unsigned char)in[i + 1]);
            lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi * 16 + lo;
            if (ch == 0)
                return -1;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* 1 if some '/'-separated segment of path is "..". */
static int has_dotdot(const char *path)
{
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* Parse decimal digits at *p into *out (no sign, no overflow); advances *p.
 * 0 on success, -1 if there is no digit or the value overflows. */
static int parse_digits(const char **p, long long *out)
{
    const char *s = *p;
    long long v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (LLONG_MAX - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/*
 * A Range header value against a file of `size` bytes. 1: serve [*a, *b];
 * 0: ignore the header and serve everything (syntax we do not handle, which
 * RFC 9110 allows ignoring, or several ranges); -1: unsatisfiable (416).
 */
static int parse_range(const char *v, long long size, long long *a, long long *b)
{
    const char *p = skip_ows(v);
    long long x, y;
    if (strncasecmp(p, "bytes", 5) != 0)
        return 0;
    p = skip_ows(p + 5);
    if (*p++ != '=')
        return 0;
    p = skip_ows(p);
    if (strchr(p, ','))
        return 0;
    if (*p == '-') {  /* suffix: the last n bytes */
        p++;
        if (parse_digits(&p, &y) != 0 || *skip_ows(p) != '\0')
            return 0;
        if (y == 0 || size == 0)
            return -1;
        *a = y >= size ? 0 : size - y;
        *b = size - 1;
        return 1;
    }
    if (parse_digits(&p, &x) != 0 || *p++ != '-')
        return 0;
    if (*p >= '0' && *p <= '9') {
        if (parse_digits(&p, &y) != 0)
            return 0;
        if (y < x)
            return 0;
    } else {
        y = LLONG_MAX;
    }
    if (*skip_ows(p) != '\0')
        return 0;
    if (x >= size)
        return -1;
    *a = x;
    *b = y >= size ? size - 1 : y;
    return 1;
}

/* 1 if the comma list `v` holds token `tok` (case-insensitive). */
static int has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    const char *p = v;
    while (*p) {
        p = skip_ows(p);
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == tl && strncasecmp(p, tok, tl) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------ requests */

struct request {
    char method[16];
    char target[MT_TEST_HTTPD_HEADER_MAX];
    int minor;                        /* HTTP/1.<minor> */
    const char *range;                /* points into the header copy */
    int conn_close, conn_keep;
    long long content_length;
    int chunked;
};

/*
 * Parse the header block hdr (NUL-terminated, lines end in LF or CRLF, the
 * blank line excluded). 0 on success, else an HTTP status with *why set.
 */
static int parse_request(char *hdr, struct request *rq, const char **why)
{
    char *line = hdr, *next;
    int first = 1;
    memset(rq, 0, sizeof *rq);
    rq->minor = 1;
    rq->content_length = -1;
    for (; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0)
            break;  /* the blank line ending the header */
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
                *why = "control character in the request header";
                return 400;
            }
        if (first) {
            char *sp1 = strchr(line, ' '), *sp2;
            first = 0;
            if (!sp1 || sp1 == line || (sp2 = strchr(sp1 + 1, ' ')) == NULL || sp2 == sp1 + 1 ||
                strchr(sp2 + 1, ' ')) {
                *why = "request line is not METHOD TARGET VERSION";
                return 400;
            }
            if ((size_t)(sp1 - line) >= sizeof rq->method) {
                *why = "method too long";
                return 400;
            }
            memcpy(rq->method, line, (size_t)(sp1 - line));
            for (const char *m = rq->method; *m; m++)
                if (*m < 'A' || *m > 'Z') {
                    *why = "method is not an upper-case token";
                    return 400;
                }
            memcpy(rq->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
            rq->target[sp2 - sp1 - 1] = '\0';
            if (strncmp(sp2 + 1, "HTTP/", 5) != 0) {
                *why = "no HTTP version";
                return 400;
            }
            if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
                rq->minor = 1;
            else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
                rq->minor = 0;
            else {
                *why = "only HTTP/1.0 and HTTP/1.1";
                return 505;
            }
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            *why = "folded header lines are not allowed";
            return 400;
        }
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            *why = "header line without a name";
            return 400;
        }
        for (const char *q = line; q < colon; q++)
            if (*q == ' ' || *q == '\t') {
                *why = "white space in a header name";
                return 400;
            }
        *colon = '\0';
        char *value = (char *)skip_ows(colon + 1);
        size_t vl = strlen(value);
        while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            value[--vl] = '\0';
        if (strcasecmp(line, "Range") == 0) {
            if (rq->range) {
                *why = "more than one Range header";
                return 400;
            }
            rq->range = value;
        } else if (strcasecmp(line, "Connection") == 0) {
            rq->conn_close |= has_token(value, "close");
            rq->conn_keep |= has_token(value, "keep-alive");
        } else if (strcasecmp(line, "Content-Length") == 0) {
            const char *p = value;
            long long n;
            if (parse_digits(&p, &n) != 0 || *p != '\0') {
                *why = "bad Content-Length";
                return 400;
            }
            if (rq->content_length >= 0 && rq->content_length != n) {
                *why = "conflicting Content-Length headers";
                return 400;
            }
            rq->content_length = n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            rq->chunked = 1;
        }
    }
    if (first) {
        *why = "empty request";
        return 400;
    }
    return 0;
}

/* Answer one parsed request. Returns 1 to keep the connection, 0 to close. */
static int serve(struct conn *c, const struct request *rq)
{
    mt_test_httpd *srv = c->srv;
    int head = strcmp(rq->method, "HEAD") == 0;
    int keep = rq->minor == 1 ? !rq->conn_close : (rq->conn_keep && !rq->conn_close);
    const char *target = rq->target;
    char path[MT_TEST_HTTPD_HEADER_MAX], full[PATH_MAX];
    size_t tlen;
    struct stat st;
    long long a = 0, b = 0, size;
    int code = 200, fd;
    char hdr[512];
    int hlen;

    if (!head && strcmp(rq->method, "GET") != 0)
        return send_error(c, 405, 0, keep, "%s is not served; only GET and HEAD", rq->method);
    /* absolute-form: http://host[:port]/path */
    if (strncasecmp(target, "http://", 7) == 0) {
        target = strchr(target + 7, '/');
        if (!target)
            target = "/";
    }
    if (target[0] != '/')
        return send_error(c, 400, head, 0, "target '%s' does not start with /", rq->target);
    tlen = strcspn(target, "?#");
    if (url_decode(target, tlen, path, sizeof path) != 0)
        return send_error(c, 400, head, 0, "bad %%-escape in '%s'", rq->target);
    if (has_dotdot(path))
        return send_error(c, 403, head, keep, "'..' in path '%s'", path);
    if ((size_t)snprintf(full, sizeof full, "%s%s", srv->root, path) >= sizeof full)
        return send_error(c, 404, head, keep, "path too long");
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == EACCES)
            return send_error(c, 403, head, keep, "%s: %s", path, strerror(errno));
        return send_error(c, 404, head, keep, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return send_error(c, 404, head, keep, "%s is not a regular file", path);
    }
    size = (long long)st.st_size;
    if (rq->range) {
        int r = parse_range(rq->range, size, &a, &b);
        if (r < 0) {
            int n;
            close(fd);
            /* 416 needs Content-Range: bytes * / size; written by hand. */
            n = snprintf(hdr, sizeof hdr,
                         "HTTP/1.1 416 %s\r\n"
                         "Server: mt-test-httpd\r\n"
                         "Content-Range: bytes */%lld\r\n"
                         "Content-Length: 0\r\n"
                         "Connection: %s\r\n\r\n",
                         status_text(416), size, keep ? "keep-alive" : "close");
            count(srv, 416, 0);
            return send_all(c->fd, hdr, (size_t)n) == 0 ? keep : 0;
        }
        if (r > 0)
            code = 206;
    }
    if (code == 200) {
        a = 0;
        b = size - 1;
    }
    if (code == 206)
        hlen = snprintf(hdr, sizeof hdr,
                        "HTTP/1.1 206 %s\r\n"
                        "Server: mt-test-httpd\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Accept-Ranges: bytes\r\n"
                        "Content-Range: bytes %lld-%lld/%lld\r\n"
                        "Content-Length: %lld\r\n"
                        "Connection: %s\r\n\r\n",
                        status_text(206), a, b, size, b - a + 1, keep ? "keep-alive" : "close");
    else
        hlen = snprintf(hdr, sizeof hdr,
                        "HTTP/1.1 200 OK\r\n"
                        "Server: mt-test-httpd\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Accept-Ranges: bytes\r\n"
                        "Content-Length: %lld\r\n"
                        "Connection: %s\r\n\r\n",
                        size, keep ? "keep-alive" : "close");
    if (send_all(c->fd, hdr, (size_t)hlen) != 0) {
        close(fd);
        count(srv, code, 0);
        return 0;
    }
    long long sent = 0;
    if (!head) {
        static const int chunk = CHUNK;
        char *buf = malloc((size_t)chunk);
        long long off = a, end = b + 1;
        if (!buf) {
            close(fd);
            count(srv, code, 0);
            return 0;
        }
        while (off < end) {
            size_t want = (size_t)(end - off < chunk ? end - off : chunk);
            ssize_t n = pread(fd, buf, want, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || send_all(c->fd, buf, (size_t)n) != 0) {
                keep = 0;  /* file shrank or peer left: the length is a lie now */
                break;
            }
            off += n;
            sent += n;
        }
        free(buf);
    }
    close(fd);
    count(srv, code, sent);
    return keep;
}

/* Index just past the blank line ending the header in buf[0..n), or 0. */
static size_t header_end(const char *buf, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    mt_test_httpd *srv = c->srv;
    char *buf = malloc(MT_TEST_HTTPD_HEADER_MAX + 1);
    char *copy = malloc(MT_TEST_HTTPD_HEADER_MAX + 1);
    struct request *rq = malloc(sizeof *rq);
    size_t have = 0;
    long long skip = 0;

    while (buf && copy && rq) {
        size_t end;
        /* Discard a request body we were told about. */
        if (skip > 0) {
            if (have > 0) {
                size_t n = (size_t)(skip < (long long)have ? skip : (long long)have);
                memmove(buf, buf + n, have - n);
                have -= n;
                skip -= (long long)n;
                continue;
            }
        } else {
            /* RFC 9112: ignore empty lines before a request line. */
            while (have > 0 && (buf[0] == '\r' || buf[0] == '\n')) {
                memmove(buf, buf + 1, have - 1);
                have--;
            }
            end = header_end(buf, have);
            if (end > 0) {
                const char *why = "";
                int code;
                memcpy(copy, buf, end);
                copy[end] = '\0';
                memmove(buf, buf + end, have - end);
                have -= end;
                if (memchr(copy, '\0', end)) {
                    send_error(c, 400, 0, 0, "NUL byte in the request header");
                    break;
                }
                code = parse_request(copy, rq, &why);
                if (code) {
                    send_error(c, code, 0, 0, "%s", why);
                    break;
                }
                if (rq->chunked) {
                    send_error(c, 501, 0, 0, "Transfer-Encoding is not supported");
                    break;
                }
                if (rq->content_length > BODY_MAX) {
                    send_error(c, 413, 0, 0, "request body over %ld bytes", BODY_MAX);
                    break;
                }
                if (!serve(c, rq))
                    break;
                if (rq->content_length > 0)
                    skip = rq->content_length;
                continue;
            }
            if (have >= MT_TEST_HTTPD_HEADER_MAX) {
                send_error(c, 431, 0, 0, "request header over %d bytes", MT_TEST_HTTPD_HEADER_MAX);
                break;
            }
        }
        ssize_t n = recv(c->fd, buf + have, MT_TEST_HTTPD_HEADER_MAX - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;  /* closed, timed out, or shut down by stop */
        if (skip > 0 && have == 0) {
            size_t drop = (size_t)(skip < n ? skip : n);
            memmove(buf, buf + drop, (size_t)n - drop);
            have = (size_t)n - drop;
            skip -= (long long)drop;
        } else {
            have += (size_t)n;
        }
    }
    /* Let the peer see our answer before we go: stop sending, keep the socket. */
    shutdown(c->fd, SHUT_WR);
    free(buf);
    free(copy);
    free(rq);
    pthread_mutex_lock(&srv->mu);
    c->done = 1;
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ------------------------------------------------------------ listener */

/* Join and free finished connections (all of them if `all`, after shutting
 * their sockets down). */
static void reap(mt_test_httpd *srv, int all)
{
    struct conn *dead = NULL, **pp;
    pthread_mutex_lock(&srv->mu);
    for (pp = &srv->conns; *pp;) {
        struct conn *c = *pp;
        if (all || c->done) {
            *pp = c->next;
            c->next = dead;
            dead = c;
            if (all)
                shutdown(c->fd, SHUT_RDWR);
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    while (dead) {
        struct conn *c = dead;
        dead = c->next;
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
    }
}

static void *listen_main(void *arg)
{
    mt_test_httpd *srv = arg;
    for (;;) {
        struct pollfd p[2] = {{srv->lfd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
        int n = poll(p, 2, 1000);
        reap(srv, 0);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept(srv->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        set_cloexec(fd);
        {
            struct timeval tv = {IO_TIMEOUT_S, 0};
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->srv = srv;
        pthread_mutex_lock(&srv->mu);
        if (srv->stopping || pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&srv->mu);
            close(fd);
            free(c);
            continue;
        }
        c->next = srv->conns;
        srv->conns = c;
        pthread_mutex_unlock(&srv->mu);
    }
    return NULL;
}

/* ------------------------------------------------------------ public */

int mt_test_httpd_start(const char *addr, int port, const char *root, mt_test_httpd **out)
{
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char portstr[16];
    struct stat st;
    mt_test_httpd *srv;
    int e, one = 1;

    if (out)
        *out = NULL;
    if (!addr || !root || !out || port < 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    if (stat(root, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv)
        return -1;
    srv->lfd = srv->wake[0] = srv->wake[1] = -1;
    srv->root = strdup(root);
    if (!srv->root)
        goto fail;
    /* "root/" + "/file" would still work, but keep URLs mapping cleanly. */
    for (size_t l = strlen(srv->root); l > 1 && srv->root[l - 1] == '/'; l--)
        srv->root[l - 1] = '\0';

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((e = getaddrinfo(addr, portstr, &hints, &ai)) != 0) {
        errno = EINVAL;
        goto fail;
    }
    srv->lfd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (srv->lfd < 0)
        goto fail;
    set_cloexec(srv->lfd);
    setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(srv->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(srv->lfd, 64) != 0)
        goto fail;
    freeaddrinfo(ai);
    ai = NULL;
    if (getsockname(srv->lfd, (struct sockaddr *)&ss, &sl) != 0)
        goto fail;
    srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (pipe(srv->wake) != 0) {
        srv->wake[0] = srv->wake[1] = -1;
        goto fail;
    }
    set_cloexec(srv->wake[0]);
    set_cloexec(srv->wake[1]);
    if ((e = pthread_mutex_init(&srv->mu, NULL)) != 0) {
        errno = e;
        goto fail;
    }
    if ((e = pthread_create(&srv->thread, NULL, listen_main, srv)) != 0) {
        pthread_mutex_destroy(&srv->mu);
        errno = e;
        goto fail;
    }
    *out = srv;
    return 0;

fail:
    e = errno;
    if (ai)
        freeaddrinfo(ai);
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->wake[0] >= 0) {
        close(srv->wake[0]);
        close(srv->wake[1]);
    }
    free(srv->root);
    free(srv);
    errno = e;
    return -1;
}

int mt_test_httpd_port(const mt_test_httpd *h)
{
    return h ? h->port : -1;
}

long mt_test_httpd_requests(mt_test_httpd *h)
{
    long n;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    n = h->requests;
    pthread_mutex_unlock(&h->mu);
    return n;
}

long mt_test_httpd_ok_requests(mt_test_httpd *h)
{
    long n;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    n = h->ok;
    pthread_mutex_unlock(&h->mu);
    return n;
}

long long mt_test_httpd_bytes(mt_test_httpd *h)
{
    long long n;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    n = h->bytes;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void mt_test_httpd_stop(mt_test_httpd *h)
{
    ssize_t w;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_mutex_unlock(&h->mu);
    do
        w = write(h->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(h->thread, NULL);
    close(h->lfd);
    reap(h, 1);  /* no new connections now: shut down, join, close the rest */
    close(h->wake[0]);
    close(h->wake[1]);
    pthread_mutex_destroy(&h->mu);
    free(h->root);
    free(h);
}
