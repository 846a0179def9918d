/*
 * tcprelay.c - the recording TCP relay of tcprelay.h. One poll() thread;
 * a read is recorded, then written on in full (blocking) before the next,
 * so the recording is exactly the byte stream each side received.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcprelay.h"

static void rec_add(t_rec *r, const uint8_t *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 1 << 20;
        while (cap < r->len + n)
            cap *= 2;
        r->buf = realloc(r->buf, cap);
        ck_assert(r->buf != NULL);
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static struct sockaddr_in t_sin(const char *addr, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    ck_assert(inet_pton(AF_INET, addr, &a.sin_addr) == 1);
    return a;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void relay_close_pair(t_relay *r, int i)
{
    close(r->cfd[i]);
    close(r->sfd[i]);
    r->cfd[i] = r->sfd[i] = -1;
}

static void relay_accept(t_relay *r)
{
    int c = accept(r->lfd, NULL, NULL), s, i;
    if (c < 0)
        return;
    r->accepted++;
    for (i = 0; i < T_RELAY_PAIRS && r->cfd[i] >= 0; i++) {
    }
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (i == T_RELAY_PAIRS || s < 0 || bind(s, (struct sockaddr *)&r->bind_from, sizeof r->bind_from) != 0 ||
        connect(s, (struct sockaddr *)&r->target, sizeof r->target) != 0) {
        close(c);
        if (s >= 0)
            close(s);
        return;
    }
    r->cfd[i] = c;
    r->sfd[i] = s;
}

static void *relay_run(void *arg)
{
    t_relay *r = arg;
    static uint8_t buf[256 * 1024];
    while (!atomic_load(&r->stop)) {
        struct pollfd pf[1 + 2 * T_RELAY_PAIRS];
        int map[1 + 2 * T_RELAY_PAIRS], n = 0;
        pf[n].fd = r->lfd;
        pf[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < T_RELAY_PAIRS; i++) {
            if (r->cfd[i] < 0)
                continue;
            pf[n].fd = r->cfd[i];
            pf[n].events = POLLIN;
            map[n++] = 2 * i;
            pf[n].fd = r->sfd[i];
            pf[n].events = POLLIN;
            map[n++] = 2 * i + 1;
        }
        if (poll(pf, (nfds_t)n, 100) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (map[k] < 0) {
                relay_accept(r);
                continue;
            }
            int i = map[k] / 2, from_seed = map[k] % 2;
            if (r->cfd[i] < 0)
                continue;
            ssize_t got = read(pf[k].fd, buf, sizeof buf);
            if (got <= 0) {
                relay_close_pair(r, i);
                continue;
            }
            rec_add(from_seed ? &r->down : &r->up, buf, (size_t)got);
            if (write_all(from_seed ? r->cfd[i] : r->sfd[i], buf, (size_t)got) != 0)
                relay_close_pair(r, i);
        }
    }
    return NULL;
}

void t_relay_start(t_relay *r, const char *listen_addr, const char *bind_addr, const char *target,
                   int target_port)
{
    struct sockaddr_in a = t_sin(listen_addr, 0);
    socklen_t al = sizeof a;
    int one = 1;
    memset(r, 0, sizeof *r);
    for (int i = 0; i < T_RELAY_PAIRS; i++)
        r->cfd[i] = r->sfd[i] = -1;
    r->target = t_sin(target, target_port);
    r->bind_from = t_sin(bind_addr, 0);
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(r->lfd >= 0);
    ck_assert(setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    ck_assert_msg(bind(r->lfd, (struct sockaddr *)&a, sizeof a) == 0, "relay bind: %s", strerror(errno));
    ck_assert(listen(r->lfd, 8) == 0);
    ck_assert(getsockname(r->lfd, (struct sockaddr *)&a, &al) == 0);
    r->port = ntohs(a.sin_port);
    atomic_init(&r->stop, 0);
    ck_assert(pthread_create(&r->th, NULL, relay_run, r) == 0);
}

void t_relay_stop(t_relay *r)
{
    if (r->stopped)
        return;
    r->stopped = 1;
    atomic_store(&r->stop, 1);
    pthread_join(r->th, NULL);
    for (int i = 0; i < T_RELAY_PAIRS; i++)
        if (r->cfd[i] >= 0)
            relay_close_pair(r, i);
    close(r->lfd);
}

void t_relay_free(t_relay *r)
{
    free(r->down.buf);
    free(r->up.buf);
    r->down.buf = r->up.buf = NULL;
}

