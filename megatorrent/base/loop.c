/*
 * loop.c - the event loop (see mt_loop.h), after Redis's ae.c: poll() over
 * the watched descriptors, a min-heap of timers, and an eventfd that wakes
 * the loop when another thread posts a callback or asks it to stop.
 *
 * Watchers live in a table indexed by fd plus a dense list of the watched
 * fds, so a turn builds its pollfd array in O(watched). Every watch gets a
 * fresh id; a turn remembers the id it polled for, and an event whose
 * watcher was removed or replaced by an earlier callback of the same turn
 * is dropped (poll is level-triggered: a replacement still ready is
 * reported again next turn). So a callback may unwatch and close any fd,
 * and a new socket that reuses the number never sees the old one's event.
 *
 * Timers are a heap ordered by (due time, id). A turn first moves every
 * timer due now onto a "due" list and then runs that list, so a timer that
 * re-arms itself with 0 ms, or one added by a callback, waits for the next
 * turn; cancelling a timer still on the due list marks it, and it is
 * skipped. Memory is the watched fds, the live timers and the posts not yet
 * run; nothing grows per turn.
 *
 * Posts are a mutex-guarded FIFO list. A poster writes the eventfd only
 * when the queue turns non-empty (wake_pending), and the loop drains the
 * eventfd before it takes the queue, so no wake-up is lost.
 */
#define _GNU_SOURCE /* eventfd flags */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mt_error.h"
#include "mt_loop.h"
#include "mt_util.h"

/* Highest fd number the watcher table accepts (bounds its allocation). */
#define LOOP_FD_MAX    (1 << 24)
/* Longest timer delay: keeps now + delay far from overflow. */
#define LOOP_DELAY_MAX (INT64_MAX / 4)

/* One watched fd; mask 0 means not watched. */
typedef struct watch {
    int           mask;
    size_t        dense; /* index in loop->active */
    uint64_t      id;    /* fresh for every mt_loop_watch */
    mt_loop_fd_fn fn;
    void         *arg;
} watch;

typedef struct timer {
    int64_t          when; /* mt_now_ms() at which it is due */
    int64_t          id;
    mt_loop_timer_fn fn;
    void            *arg;
    int              cancelled; /* while on the due list or running */
} timer;

typedef struct post {
    mt_loop_post_fn fn;
    void           *arg;
    struct post    *next;
} post;

struct mt_loop {
    /* watchers */
    watch         *w;      /* indexed by fd, w_cap entries */
    size_t         w_cap;
    int           *active; /* watched fds, n_active of them */
    size_t         n_active, active_cap;
    uint64_t       next_watch_id;
    struct pollfd *pfds;   /* one turn's poll set: [0] is the eventfd */
    uint64_t      *pids;   /* watch id behind pfds[i] */
    size_t         p_cap, pid_cap;

    /* timers */
    timer        **heap;
    size_t         n_heap, t_cap; /* heap and due both hold t_cap */
    timer        **due;
    size_t         n_due, due_pos;
    timer         *running;
    int64_t        next_timer_id;

    /* posts and stop, shared with other threads */
    int             efd;
    pthread_mutex_t mu;
    post           *q_head, *q_tail;
    int             wake_pending;
    int             stop;

    int in_turn; /* mt_loop_once is running: no re-entry */
};

/* ------------------------------------------------------------- helpers */

/* Grow *p (of *cap elements of size sz) to hold at least need; -1 on ENOMEM. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    size_t n = *cap ? *cap : 8;
    void *np;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    np = realloc(*p, n * sz);
    if (!np)
        return -1;
    *p = np;
    *cap = n;
    return 0;
}

/* Signal the eventfd (caller holds mu and saw wake_pending == 0). */
static void wake_locked(mt_loop *l)
{
    uint64_t one = 1;
    ssize_t r;
    l->wake_pending = 1;
    do
        r = write(l->efd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
    /* EAGAIN means the counter is already non-zero: awake anyway. */
}

/* ------------------------------------------------------------ lifecycle */

int mt_loop_new(mt_loop **out, mt_error *err)
{
    mt_loop *l;
    if (!out)
        return mt_error_set(err, MT_EINVAL, "out is required");
    *out = NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        int e = errno;
        free(l);
        return mt_error_set(err, MT_EIO, "eventfd: %s", strerror(e));
    }
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        close(l->efd);
        free(l);
        return mt_error_set(err, MT_EIO, "cannot create the loop's mutex");
    }
    l->next_watch_id = 1;
    l->next_timer_id = 1;
    *out = l;
    return MT_OK;
}

void mt_loop_free(mt_loop *l)
{
    size_t i;
    post *p, *next;
    if (!l)
        return;
    for (i = 0; i < l->n_heap; i++)
        free(l->heap[i]);
    for (i = l->due_pos; i < l->n_due; i++)
        free(l->due[i]);
    for (p = l->q_head; p; p = next) {
        next = p->next;
        free(p);
    }
    close(l->efd);
    pthread_mutex_destroy(&l->mu);
    free(l->w);
    free(l->active);
    free(l->pfds);
    free(l->pids);
    free(l->heap);
    free(l->due);
    free(l);
}

/* ------------------------------------------------------------- watchers */

int mt_loop_watch(mt_loop *l, int fd, int mask, mt_loop_fd_fn fn, void *arg, mt_error *err)
{
    watch *w;
    if (!l || fd < 0 || (mask & ~(MT_LOOP_READ | MT_LOOP_WRITE)))
        return mt_error_set(err, MT_EINVAL, "bad loop, fd %d or mask %d", fd, mask);
    if (mask == 0) {
        mt_loop_unwatch(l, fd);
        return MT_OK;
    }
    if (!fn)
        return mt_error_set(err, MT_EINVAL, "a callback is required");
    if (fd >= LOOP_FD_MAX)
        return mt_error_set(err, MT_EINVAL, "fd %d is over the loop's limit", fd);
    if ((size_t)fd >= l->w_cap) {
        size_t old = l->w_cap;
        if (grow((void **)&l->w, &l->w_cap, (size_t)fd + 1, sizeof *l->w) != 0)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        memset(l->w + old, 0, (l->w_cap - old) * sizeof *l->w);
    }
    w = &l->w[fd];
    if (w->mask == 0) {
        if (grow((void **)&l->active, &l->active_cap, l->n_active + 1, sizeof *l->active) != 0)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        w->dense = l->n_active;
        l->active[l->n_active++] = fd;
    }
    w->mask = mask;
    w->fn = fn;
    w->arg = arg;
    w->id = l->next_watch_id++; /* an event polled for the old watch is dropped */
    return MT_OK;
}

void mt_loop_unwatch(mt_loop *l, int fd)
{
    watch *w;
    int last;
    if (!l || fd < 0 || (size_t)fd >= l->w_cap || l->w[fd].mask == 0)
        return;
    w = &l->w[fd];
    last = l->active[--l->n_active];
    l->active[w->dense] = last;
    l->w[last].dense = w->dense;
    memset(w, 0, sizeof *w);
}

/* --------------------------------------------------------------- timers */

/* a fires before b: earlier due time, then lower id (added first). */
static int timer_before(const timer *a, const timer *b)
{
    return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_swap(mt_loop *l, size_t i, size_t j)
{
    timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
}

static void heap_up(mt_loop *l, size_t i)
{
    while (i > 0 && timer_before(l->heap[i], l->heap[(i - 1) / 2])) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(mt_loop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->n_heap && timer_before(l->heap[a], l->heap[m]))
            m = a;
        if (b < l->n_heap && timer_before(l->heap[b], l->heap[m]))
            m = b;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

/* Take heap[i] out of the heap and return it. */
static timer *heap_take(mt_loop *l, size_t i)
{
    timer *t = l->heap[i];
    l->heap[i] = l->heap[--l->n_heap];
    if (i < l->n_heap) {
        heap_down(l, i);
        heap_up(l, i);
    }
    return t;
}

/* Put t in the heap; room was reserved when t was added. */
static void heap_put(mt_loop *l, timer *t)
{
    l->heap[l->n_heap++] = t;
    heap_up(l, l->n_heap - 1);
}

/* Room for one more timer in the heap and on the due list. */
static int timer_reserve(mt_loop *l)
{
    size_t need = l->n_heap + l->n_due - l->due_pos + (l->running ? 1 : 0) + 1, cap;
    if (need <= l->t_cap)
        return 0;
    cap = l->t_cap;
    if (grow((void **)&l->heap, &cap, need, sizeof *l->heap) != 0)
        return -1;
    /* due must hold as many: a turn moves the whole heap there at most. */
    if (grow((void **)&l->due, &l->t_cap, cap, sizeof *l->due) != 0)
        return -1;
    return 0;
}

int mt_loop_timer_add(mt_loop *l, int64_t delay_ms, mt_loop_timer_fn fn, void *arg, int64_t *id, mt_error *err)
{
    timer *t;
    if (id)
        *id = 0;
    if (!l || !fn || delay_ms < 0)
        return mt_error_set(err, MT_EINVAL, "bad loop, callback or delay");
    if (delay_ms > LOOP_DELAY_MAX)
        delay_ms = LOOP_DELAY_MAX;
    t = calloc(1, sizeof *t);
    if (!t || timer_reserve(l) != 0) {
        free(t);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    t->when = mt_now_ms() + delay_ms;
    t->id = l->next_timer_id++;
    t->fn = fn;
    t->arg = arg;
    heap_put(l, t);
    if (id)
        *id = t->id;
    return MT_OK;
}

/* O(timers): loops hold a handful; the heap keeps firing O(log n). */
void mt_loop_timer_cancel(mt_loop *l, int64_t id)
{
    size_t i;
    if (!l || id <= 0)
        return;
    if (l->running && l->running->id == id) {
        l->running->cancelled = 1; /* freed when its callback returns */
        return;
    }
    for (i = l->due_pos; i < l->n_due; i++) {
        if (l->due[i]->id == id) {
            l->due[i]->cancelled = 1; /* skipped and freed later this turn */
            return;
        }
    }
    for (i = 0; i < l->n_heap; i++) {
        if (l->heap[i]->id == id) {
            free(heap_take(l, i));
            return;
        }
    }
}

/* ms until the first timer is due (0 if overdue), or -1 with none. */
static int64_t timer_wait(const mt_loop *l, int64_t now)
{
    int64_t d;
    if (l->n_heap == 0)
        return -1;
    d = l->heap[0]->when - now;
    return d > 0 ? d : 0;
}

/* Run the timers due at now; return how many callbacks ran. */
static int run_timers(mt_loop *l, int64_t now)
{
    int ran = 0;
    l->n_due = l->due_pos = 0;
    while (l->n_heap > 0 && l->heap[0]->when <= now)
        l->due[l->n_due++] = heap_take(l, 0);
    while (l->due_pos < l->n_due) {
        timer *t = l->due[l->due_pos++];
        int64_t next;
        if (t->cancelled) {
            free(t);
            continue;
        }
        l->running = t;
        next = t->fn(l, t->id, t->arg);
        l->running = NULL;
        ran++;
        if (next < 0 || t->cancelled) {
            free(t);
            continue;
        }
        if (next > LOOP_DELAY_MAX)
            next = LOOP_DELAY_MAX;
        t->when = mt_now_ms() + next;
        heap_put(l, t); /* its place was counted in timer_reserve */
    }
    l->n_due = l->due_pos = 0;
    return ran;
}

/* ---------------------------------------------------------------- posts */

int mt_loop_post(mt_loop *l, mt_loop_post_fn fn, void *arg)
{
    post *p;
    if (!l || !fn)
        return MT_EINVAL;
    p = malloc(sizeof *p);
    if (!p)
        return MT_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->q_tail)
        l->q_tail->next = p;
    else
        l->q_head = p;
    l->q_tail = p;
    if (!l->wake_pending)
        wake_locked(l);
    pthread_mutex_unlock(&l->mu);
    return MT_OK;
}

/* Drain the eventfd, then take the queue: a post after the drain either
 * is in what we take or writes the eventfd again. */
static post *take_posts(mt_loop *l)
{
    uint64_t v;
    post *head;
    ssize_t r;
    do
        r = read(l->efd, &v, sizeof v);
    while (r < 0 && errno == EINTR);
    pthread_mutex_lock(&l->mu);
    head = l->q_head;
    l->q_head = l->q_tail = NULL;
    l->wake_pending = 0;
    pthread_mutex_unlock(&l->mu);
    return head;
}

/* Run the posts taken this turn in order; return how many ran. */
static int run_posts(mt_loop *l, post *p)
{
    int ran = 0;
    while (p) {
        post *next = p->next;
        mt_loop_post_fn fn = p->fn;
        void *arg = p->arg;
        free(p);
        fn(l, arg);
        ran++;
        p = next;
    }
    return ran;
}

/* ----------------------------------------------------------------- turns */

/* Fill pfds/pids from the watchers; the count, or -1 on ENOMEM. */
static int build_pollset(mt_loop *l, size_t *n)
{
    size_t i;
    if (grow((void **)&l->pfds, &l->p_cap, l->n_active + 1, sizeof *l->pfds) != 0 ||
        grow((void **)&l->pids, &l->pid_cap, l->n_active + 1, sizeof *l->pids) != 0)
        return -1;
    l->pfds[0] = (struct pollfd){l->efd, POLLIN, 0};
    l->pids[0] = 0;
    for (i = 0; i < l->n_active; i++) {
        int fd = l->active[i];
        const watch *w = &l->w[fd];
        short ev = 0;
        if (w->mask & MT_LOOP_READ)
            ev |= POLLIN;
        if (w->mask & MT_LOOP_WRITE)
            ev |= POLLOUT;
        l->pfds[i + 1] = (struct pollfd){fd, ev, 0};
        l->pids[i + 1] = w->id;
    }
    *n = l->n_active + 1;
    return 0;
}

/* Run the fd callbacks for what poll reported; return how many ran. */
static int run_fds(mt_loop *l, size_t n)
{
    size_t i;
    int ran = 0;
    for (i = 1; i < n; i++) {
        short re = l->pfds[i].revents;
        int fd = l->pfds[i].fd, ready = 0;
        const watch *w;
        if (!re)
            continue;
        /* Removed or replaced by an earlier callback of this turn? */
        if ((size_t)fd >= l->w_cap || l->w[fd].mask == 0 || l->w[fd].id != l->pids[i])
            continue;
        w = &l->w[fd];
        if (re & POLLIN)
            ready |= MT_LOOP_READ;
        if (re & POLLOUT)
            ready |= MT_LOOP_WRITE;
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ready |= w->mask;
        ready &= w->mask;
        if (!ready)
            continue;
        w->fn(l, fd, ready, w->arg); /* w may move: not used after */
        ran++;
    }
    return ran;
}

int mt_loop_once(mt_loop *l, int max_wait_ms, mt_error *err)
{
    int64_t now, tw;
    size_t n = 0;
    int wait, rc, ran = 0;

    if (!l)
        return mt_error_set(err, MT_EINVAL, "loop is required");
    if (l->in_turn)
        return mt_error_set(err, MT_ESTATE, "mt_loop_once called from inside a loop callback");
    if (build_pollset(l, &n) != 0)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    now = mt_now_ms();
    tw = timer_wait(l, now);
    wait = max_wait_ms < 0 ? -1 : max_wait_ms;
    if (tw >= 0 && (wait < 0 || tw < wait))
        wait = tw > INT_MAX ? INT_MAX : (int)tw;
    rc = poll(l->pfds, (nfds_t)n, wait);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        return mt_error_set(err, MT_EIO, "poll: %s", strerror(errno));
    }
    l->in_turn = 1;
    if (rc > 0)
        ran += run_fds(l, n);
    ran += run_timers(l, mt_now_ms());
    if (l->pfds[0].revents)
        ran += run_posts(l, take_posts(l));
    l->in_turn = 0;
    return ran;
}

int mt_loop_run(mt_loop *l, mt_error *err)
{
    if (!l)
        return mt_error_set(err, MT_EINVAL, "loop is required");
    for (;;) {
        int rc, stop;
        pthread_mutex_lock(&l->mu);
        stop = l->stop;
        l->stop = 0;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            return MT_OK;
        rc = mt_loop_once(l, -1, err);
        if (rc < 0)
            return rc;
    }
}

void mt_loop_stop(mt_loop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    if (!l->wake_pending)
        wake_locked(l);
    pthread_mutex_unlock(&l->mu);
}
