/*
 * check_loop.c - the event loop: fd readiness on pipes (readable, writable,
 * hang-up), removing and replacing watchers from inside callbacks (a
 * removed watcher's pending event is never delivered, not even to a new
 * watcher on the same fd number), timer order, repeat and cancel (from
 * inside another timer and from inside itself), posts from four threads
 * delivered whole and in each thread's order, mt_loop_stop from another
 * thread and from a callback, EINTR, re-entry and bad arguments.
 *
 * Waits are on conditions with a deadline that only bounds a hang; no
 * assertion depends on a sleep.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_loop.h"
#include "mt_util.h"

/* Bounds hangs only. */
#define T_WAIT_MS 20000

#define T_OK(call)                                                                       \
    do {                                                                                 \
        mt_error e_;                                                                     \
        int rc_;                                                                         \
        mt_error_clear(&e_);                                                             \
        rc_ = (call);                                                                    \
        ck_assert_msg(rc_ == 0, "%s gave %d (%s)", #call, rc_, e_.message);              \
    } while (0)

static mt_loop *new_loop(void)
{
    mt_loop *l = NULL;
    T_OK(mt_loop_new(&l, &e_));
    ck_assert_ptr_nonnull(l);
    return l;
}

/* Turn the loop until *flag reaches want (or fail after T_WAIT_MS). */
static void turn_until(mt_loop *l, const int *flag, int want)
{
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    while (*flag < want) {
        mt_error e;
        int rc = mt_loop_once(l, 100, &e);
        ck_assert_msg(rc >= 0, "mt_loop_once: %s", e.message);
        ck_assert_msg(mt_now_ms() < deadline, "waited too long: %d of %d", *flag, want);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------- fds */

typedef struct fdrec {
    int calls, last_fd, last_ready;
} fdrec;

static void on_fd(mt_loop *l, int fd, int ready, void *arg)
{
    fdrec *r = arg;
    (void)l;
    r->calls++;
    r->last_fd = fd;
    r->last_ready = ready;
}

START_TEST(test_fd_ready)
{
    mt_loop *l = new_loop();
    fdrec rr = {0}, wr = {0};
    int p[2];
    char c;

    ck_assert_int_eq(pipe(p), 0);
    T_OK(mt_loop_watch(l, p[0], MT_LOOP_READ, on_fd, &rr, &e_));
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 0); /* nothing to read yet */
    ck_assert_int_eq(rr.calls, 0);

    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(rr.calls, 1);
    ck_assert_int_eq(rr.last_fd, p[0]);
    ck_assert_int_eq(rr.last_ready, MT_LOOP_READ);
    ck_assert_int_eq(read(p[0], &c, 1), 1);

    /* A pipe's write end is writable at once. */
    T_OK(mt_loop_watch(l, p[1], MT_LOOP_WRITE, on_fd, &wr, &e_));
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(wr.calls, 1);
    ck_assert_int_eq(wr.last_ready, MT_LOOP_WRITE);
    ck_assert_int_eq(rr.calls, 1);
    mt_loop_unwatch(l, p[1]);
    mt_loop_unwatch(l, p[1]); /* twice: a no-op */

    /* Hang-up reports as ready for what was watched. */
    close(p[1]);
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(rr.calls, 2);
    ck_assert_int_eq(rr.last_ready, MT_LOOP_READ);

    mt_loop_unwatch(l, p[0]);
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 0);
    close(p[0]);
    mt_loop_free(l);
}
END_TEST

/* Replacing a watch: only the new callback runs, with the new mask. */
START_TEST(test_fd_replace)
{
    mt_loop *l = new_loop();
    fdrec a = {0}, b = {0};
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    T_OK(mt_loop_watch(l, p[0], MT_LOOP_READ, on_fd, &a, &e_));
    T_OK(mt_loop_watch(l, p[0], MT_LOOP_READ, on_fd, &b, &e_));
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(a.calls, 0);
    ck_assert_int_eq(b.calls, 1);

    /* Mask 0 is unwatch. */
    T_OK(mt_loop_watch(l, p[0], 0, NULL, NULL, &e_));
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 0);
    ck_assert_int_eq(b.calls, 1);
    close(p[0]);
    close(p[1]);
    mt_loop_free(l);
}
END_TEST

/*
 * Two readable pipes whose callbacks each unwatch and close the other one
 * and put a fresh pipe on the freed number: exactly one runs per turn, and
 * the fresh pipe (not readable) never sees the closed one's event.
 */
typedef struct pair {
    int r[2], w[2];      /* read and write ends of pipes 0 and 1 */
    int calls[2];
    int fresh_calls;
    int fresh_r, fresh_w;
    int reused;          /* the fresh pipe got the old number */
} pair;

static void on_fresh(mt_loop *l, int fd, int ready, void *arg)
{
    pair *p = arg;
    (void)l, (void)fd, (void)ready;
    p->fresh_calls++;
}

static void on_pair(mt_loop *l, int fd, int ready, void *arg)
{
    pair *p = arg;
    int me = fd == p->r[0] ? 0 : 1, other = 1 - me, np[2];
    char c;
    (void)ready;
    p->calls[me]++;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    if (p->r[other] < 0)
        return;
    mt_loop_unwatch(l, p->r[other]);
    close(p->r[other]);
    close(p->w[other]);
    ck_assert_int_eq(pipe(np), 0);
    p->reused = np[0] == p->r[other] || np[1] == p->r[other];
    p->fresh_r = np[0];
    p->fresh_w = np[1];
    /* Watch whichever end took the old number, for reading. */
    ck_assert_int_eq(mt_loop_watch(l, p->reused && np[1] == p->r[other] ? np[1] : np[0], MT_LOOP_READ,
                                   on_fresh, p, NULL),
                     0);
    p->r[other] = p->w[other] = -1;
}

START_TEST(test_unwatch_in_callback)
{
    mt_loop *l = new_loop();
    pair p;
    memset(&p, 0, sizeof p);

    {
        int a[2], b[2];
        ck_assert_int_eq(pipe(a), 0);
        ck_assert_int_eq(pipe(b), 0);
        p.r[0] = a[0], p.w[0] = a[1], p.r[1] = b[0], p.w[1] = b[1];
    }
    ck_assert_int_eq(write(p.w[0], "x", 1), 1);
    ck_assert_int_eq(write(p.w[1], "x", 1), 1);
    T_OK(mt_loop_watch(l, p.r[0], MT_LOOP_READ, on_pair, &p, &e_));
    T_OK(mt_loop_watch(l, p.r[1], MT_LOOP_READ, on_pair, &p, &e_));

    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(p.calls[0] + p.calls[1], 1);
    ck_assert_int_eq(p.fresh_calls, 0);
    ck_assert_msg(p.reused, "the fresh pipe did not reuse the number; the test proves less");
    /* Later turns stay quiet: the survivor read its byte, the fresh pipe has none. */
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 0);
    ck_assert_int_eq(p.fresh_calls, 0);

    mt_loop_free(l);
    for (int i = 0; i < 2; i++) {
        if (p.r[i] >= 0)
            close(p.r[i]);
        if (p.w[i] >= 0)
            close(p.w[i]);
    }
    close(p.fresh_r);
    close(p.fresh_w);
}
END_TEST

/* Many fds, half unwatched: the others keep their callbacks (dense table). */
#define MANY 200
typedef struct many {
    int r[MANY], w[MANY];
    int calls[MANY];
} many;

static void on_many(mt_loop *l, int fd, int ready, void *arg)
{
    many *m = arg;
    char c;
    (void)l, (void)ready;
    for (int i = 0; i < MANY; i++) {
        if (m->r[i] == fd) {
            m->calls[i]++;
            ck_assert_int_eq(read(fd, &c, 1), 1);
        }
    }
}

START_TEST(test_many_fds)
{
    mt_loop *l = new_loop();
    static many m;
    int total = 0;

    memset(&m, 0, sizeof m);
    for (int i = 0; i < MANY; i++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        m.r[i] = p[0];
        m.w[i] = p[1];
        T_OK(mt_loop_watch(l, m.r[i], MT_LOOP_READ, on_many, &m, &e_));
    }
    for (int i = 0; i < MANY; i += 2)
        mt_loop_unwatch(l, m.r[i]);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(write(m.w[i], "x", 1), 1);
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), MANY / 2);
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(m.calls[i], i % 2);
        total += m.calls[i];
    }
    ck_assert_int_eq(total, MANY / 2);
    mt_loop_free(l);
    for (int i = 0; i < MANY; i++) {
        close(m.r[i]);
        close(m.w[i]);
    }
}
END_TEST

/* -------------------------------------------------------------- timers */

typedef struct trec {
    int order[16];
    int n;
    int repeat_left;
    int64_t cancel_id; /* cancelled by the callback of tag 1 */
    int self_cancel;
    int64_t ids[16];
} trec;

typedef struct targ {
    trec *r;
    int tag;
} targ;

static int64_t on_timer(mt_loop *l, int64_t id, void *arg)
{
    targ *a = arg;
    trec *r = a->r;
    ck_assert_int_lt(r->n, 16);
    r->order[r->n++] = a->tag;
    if (a->tag == 1 && r->cancel_id)
        mt_loop_timer_cancel(l, r->cancel_id);
    if (r->self_cancel) {
        mt_loop_timer_cancel(l, id);
        return 0; /* ignored: cancelled */
    }
    if (a->tag == 9 && r->repeat_left-- > 0)
        return 5;
    return -1;
}

START_TEST(test_timer_order)
{
    mt_loop *l = new_loop();
    trec r;
    targ a[5];
    int delays[5] = {30, 10, 20, 0, 10}, want[5] = {3, 1, 4, 2, 0};
    int64_t last = 0;

    memset(&r, 0, sizeof r);
    for (int i = 0; i < 5; i++) {
        a[i] = (targ){&r, i};
        T_OK(mt_loop_timer_add(l, delays[i], on_timer, &a[i], &r.ids[i], &e_));
        ck_assert_int_gt(r.ids[i], last); /* ids grow, never reused */
        last = r.ids[i];
    }
    turn_until(l, &r.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(r.order[i], want[i]);
    mt_loop_free(l);
}
END_TEST

START_TEST(test_timer_repeat)
{
    mt_loop *l = new_loop();
    trec r;
    targ a;
    int64_t id = 0, id2 = 0;

    memset(&r, 0, sizeof r);
    r.repeat_left = 3;
    a = (targ){&r, 9};
    T_OK(mt_loop_timer_add(l, 0, on_timer, &a, &id, &e_));
    turn_until(l, &r.n, 4);
    /* Ended: nothing more fires, and a later timer gets a new id. */
    ck_assert_int_eq(mt_loop_once(l, 20, NULL), 0);
    ck_assert_int_eq(r.n, 4);
    mt_loop_timer_cancel(l, id); /* finished id: a no-op */
    T_OK(mt_loop_timer_add(l, 0, on_timer, &(targ){&r, 2}, &id2, &e_));
    ck_assert_int_gt(id2, id);
    mt_loop_free(l); /* frees the unfired one */
}
END_TEST

/* A timer re-arming with 0 ms runs once per turn, not in a spin. */
static int64_t on_zero(mt_loop *l, int64_t id, void *arg)
{
    (void)l, (void)id;
    ++*(int *)arg;
    return 0;
}

START_TEST(test_timer_zero_next_turn)
{
    mt_loop *l = new_loop();
    int n = 0;
    T_OK(mt_loop_timer_add(l, 0, on_zero, &n, NULL, &e_));
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 1);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 1);
    ck_assert_int_eq(n, 2);
    mt_loop_free(l);
}
END_TEST

START_TEST(test_timer_cancel)
{
    mt_loop *l = new_loop();
    trec r;
    targ a1, a2, a3;
    int64_t id1, id2, id3, ignored;

    memset(&r, 0, sizeof r);
    a1 = (targ){&r, 1};
    a2 = (targ){&r, 2};
    a3 = (targ){&r, 3};
    /* Both due in the same turn; 1 runs first and cancels 2. */
    T_OK(mt_loop_timer_add(l, 0, on_timer, &a1, &id1, &e_));
    T_OK(mt_loop_timer_add(l, 0, on_timer, &a2, &id2, &e_));
    r.cancel_id = id2;
    /* 3 is cancelled from outside before it is due. */
    T_OK(mt_loop_timer_add(l, 10, on_timer, &a3, &id3, &e_));
    mt_loop_timer_cancel(l, id3);
    mt_loop_timer_cancel(l, 12345); /* unknown: a no-op */
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.order[0], 1);
    ck_assert_int_eq(mt_loop_once(l, 30, NULL), 0);
    ck_assert_int_eq(r.n, 1);

    /* A timer cancelling itself while asking to repeat ends. */
    r.cancel_id = 0;
    r.self_cancel = 1;
    T_OK(mt_loop_timer_add(l, 0, on_timer, &a2, &ignored, &e_));
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(mt_loop_once(l, 20, NULL), 0);
    ck_assert_int_eq(r.n, 2);
    mt_loop_free(l);
}
END_TEST

/* A timer bounds the wait: once(-1) returns when it is due. */
START_TEST(test_timer_bounds_wait)
{
    mt_loop *l = new_loop();
    trec r;
    targ a;
    memset(&r, 0, sizeof r);
    a = (targ){&r, 0};
    T_OK(mt_loop_timer_add(l, 20, on_timer, &a, NULL, &e_));
    turn_until(l, &r.n, 1); /* would hang on a wait that ignored timers */
    mt_loop_free(l);
}
END_TEST

/* --------------------------------------------------------------- posts */

#define POSTERS 4
#define POSTS   1000

typedef struct postrec {
    int next_seq[POSTERS]; /* the seq each poster's next post must carry */
    int out_of_order;
    int total;
} postrec;

typedef struct postmsg {
    postrec *r;
    int thread, seq;
} postmsg;

typedef struct poster {
    mt_loop *l;
    postmsg *msgs; /* POSTS of them */
    pthread_barrier_t *go;
    int failed;
} poster;

static void on_post(mt_loop *l, void *arg)
{
    postmsg *m = arg;
    (void)l;
    if (m->seq != m->r->next_seq[m->thread])
        m->r->out_of_order++;
    m->r->next_seq[m->thread] = m->seq + 1;
    m->r->total++;
}

static void *poster_main(void *arg)
{
    poster *p = arg;
    pthread_barrier_wait(p->go);
    for (int i = 0; i < POSTS; i++) {
        if (mt_loop_post(p->l, on_post, &p->msgs[i]) != 0)
            p->failed++;
        if (i % 97 == 0)
            sched_yield(); /* let the loop take partial queues */
    }
    return NULL;
}

START_TEST(test_posts_from_threads)
{
    mt_loop *l = new_loop();
    static postmsg msgs[POSTERS][POSTS];
    postrec r;
    poster ps[POSTERS];
    pthread_t th[POSTERS];
    pthread_barrier_t go;

    memset(&r, 0, sizeof r);
    ck_assert_int_eq(pthread_barrier_init(&go, NULL, POSTERS), 0);
    for (int t = 0; t < POSTERS; t++) {
        for (int i = 0; i < POSTS; i++)
            msgs[t][i] = (postmsg){&r, t, i};
        ps[t] = (poster){l, msgs[t], &go, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, poster_main, &ps[t]), 0);
    }
    turn_until(l, &r.total, POSTERS * POSTS);
    for (int t = 0; t < POSTERS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(ps[t].failed, 0);
        ck_assert_int_eq(r.next_seq[t], POSTS);
    }
    ck_assert_int_eq(r.out_of_order, 0);
    ck_assert_int_eq(mt_loop_once(l, 0, NULL), 0); /* nothing left over */
    ck_assert_int_eq(r.total, POSTERS * POSTS);
    pthread_barrier_destroy(&go);
    mt_loop_free(l);
}
END_TEST

static void on_never(mt_loop *l, void *arg)
{
    (void)l;
    ++*(int *)arg;
}

/* Posts not run when the loop is freed are dropped (and freed: ASan). */
START_TEST(test_free_drops_posts)
{
    mt_loop *l = new_loop();
    int n = 0;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mt_loop_post(l, on_never, &n), 0);
    mt_loop_free(l);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* ---------------------------------------------------------------- stop */

typedef struct stopper {
    mt_loop *l;
    atomic_int running; /* the loop has turned at least once */
} stopper;

static int64_t on_mark(mt_loop *l, int64_t id, void *arg)
{
    (void)l, (void)id;
    atomic_store(&((stopper *)arg)->running, 1);
    return -1;
}

static void *stopper_main(void *arg)
{
    stopper *s = arg;
    int64_t deadline = mt_now_ms() + T_WAIT_MS;
    while (!atomic_load(&s->running) && mt_now_ms() < deadline)
        sleep_ms(1);
    sleep_ms(10); /* likely blocked in poll by now; correct either way */
    mt_loop_stop(s->l);
    return NULL;
}

START_TEST(test_stop_from_thread)
{
    mt_loop *l = new_loop();
    stopper s = {l, 0};
    pthread_t th;
    T_OK(mt_loop_timer_add(l, 0, on_mark, &s, NULL, &e_));
    ck_assert_int_eq(pthread_create(&th, NULL, stopper_main, &s), 0);
    T_OK(mt_loop_run(l, &e_)); /* returns only when stopped */
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&s.running), 1);
    mt_loop_free(l);
}
END_TEST

static void on_stop_post(mt_loop *l, void *arg)
{
    ++*(int *)arg;
    mt_loop_stop(l);
}

START_TEST(test_stop_from_callback)
{
    mt_loop *l = new_loop();
    int n = 0;
    ck_assert_int_eq(mt_loop_post(l, on_stop_post, &n), 0);
    T_OK(mt_loop_run(l, &e_));
    ck_assert_int_eq(n, 1);
    /* A stop before run makes run return at once. */
    mt_loop_stop(l);
    T_OK(mt_loop_run(l, &e_));
    mt_loop_free(l);
}
END_TEST

/* --------------------------------------------------------------- EINTR */

static void on_sig(int sig)
{
    (void)sig;
}

typedef struct intr {
    mt_loop *l;
    atomic_int done;
    int rc;
} intr;

static void *intr_main(void *arg)
{
    intr *x = arg;
    x->rc = mt_loop_once(x->l, -1, NULL); /* nothing watched: only a signal ends it */
    atomic_store(&x->done, 1);
    return NULL;
}

START_TEST(test_eintr)
{
    struct sigaction sa;
    intr x;
    pthread_t th;
    int64_t deadline = mt_now_ms() + T_WAIT_MS;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig; /* no SA_RESTART: poll fails with EINTR */
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    x.l = new_loop();
    atomic_init(&x.done, 0);
    x.rc = -100;
    ck_assert_int_eq(pthread_create(&th, NULL, intr_main, &x), 0);
    /* A signal that lands before poll blocks is simply sent again. */
    while (!atomic_load(&x.done)) {
        ck_assert_msg(mt_now_ms() < deadline, "poll was never interrupted");
        pthread_kill(th, SIGUSR1);
        sleep_ms(5);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(x.rc, 0);
    mt_loop_free(x.l);
}
END_TEST

/* ----------------------------------------------------------- contracts */

static void on_reenter(mt_loop *l, void *arg)
{
    mt_error e;
    *(int *)arg = mt_loop_once(l, 0, &e);
    ck_assert_int_eq(e.code, MT_ESTATE);
}

START_TEST(test_contracts)
{
    mt_loop *l = new_loop();
    mt_error e;
    int p[2], got = 1;
    int64_t id = 7;

    ck_assert_int_eq(mt_loop_new(NULL, &e), MT_EINVAL);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(mt_loop_watch(l, -1, MT_LOOP_READ, on_fd, NULL, &e), MT_EINVAL);
    ck_assert(e.message[0]);
    ck_assert_int_eq(mt_loop_watch(l, p[0], 4, on_fd, NULL, &e), MT_EINVAL);
    ck_assert_int_eq(mt_loop_watch(l, p[0], MT_LOOP_READ, NULL, NULL, &e), MT_EINVAL);
    ck_assert_int_eq(mt_loop_watch(NULL, p[0], MT_LOOP_READ, on_fd, NULL, &e), MT_EINVAL);
    ck_assert_int_eq(mt_loop_timer_add(l, -1, on_timer, NULL, &id, &e), MT_EINVAL);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(mt_loop_timer_add(l, 0, NULL, NULL, NULL, &e), MT_EINVAL);
    ck_assert_int_eq(mt_loop_post(l, NULL, NULL), MT_EINVAL);
    ck_assert_int_eq(mt_loop_once(NULL, 0, &e), MT_EINVAL);
    mt_loop_unwatch(l, 1 << 20); /* never watched: a no-op */
    mt_loop_unwatch(NULL, 0);
    mt_loop_timer_cancel(NULL, 1);
    mt_loop_stop(NULL);
    mt_loop_free(NULL);

    /* No re-entry from a callback. */
    ck_assert_int_eq(mt_loop_post(l, on_reenter, &got), 0);
    ck_assert_int_eq(mt_loop_once(l, T_WAIT_MS, NULL), 1);
    ck_assert_int_eq(got, MT_ESTATE);
    close(p[0]);
    close(p[1]);
    mt_loop_free(l);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("fds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fd_ready);
    tcase_add_test(tc, test_fd_replace);
    tcase_add_test(tc, test_unwatch_in_callback);
    tcase_add_test(tc, test_many_fds);
    suite_add_tcase(s, tc);

    tc = tcase_create("timers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_timer_order);
    tcase_add_test(tc, test_timer_repeat);
    tcase_add_test(tc, test_timer_zero_next_turn);
    tcase_add_test(tc, test_timer_cancel);
    tcase_add_test(tc, test_timer_bounds_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_posts_from_threads);
    tcase_add_test(tc, test_free_drops_posts);
    tcase_add_test(tc, test_stop_from_thread);
    tcase_add_test(tc, test_stop_from_callback);
    tcase_add_test(tc, test_eintr);
    tcase_add_test(tc, test_contracts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loop_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
