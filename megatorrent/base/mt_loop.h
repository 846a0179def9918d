/*
 * mt_loop.h - one event loop per thread: file descriptors, timers and
 * wake-ups from worker threads (Redis's ae.c is the model).
 *
 * mtd runs everything on one mt_loop: the libtorrent alert fd, the RPC and
 * WebSocket sockets, the mt-wire server, timers and signals. CPU-heavy work
 * runs on worker threads, which hand results back with mt_loop_post(): the
 * callback then runs on the loop's thread, so module state needs no locks.
 *
 * Threads: every call except mt_loop_post() and mt_loop_stop() must come
 * from the thread that runs the loop. Callbacks may add and remove watchers
 * and timers (their own included) and stop the loop.
 *
 * Errors: 0 on success, a negative MT_E* code (MT_EINVAL bad argument,
 * MT_ENOMEM, MT_EIO system error) with detail in err when err is non-NULL.
 * Nothing is printed.
 */
#ifndef MT_LOOP_H
#define MT_LOOP_H

#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_loop mt_loop;

/* Watch masks for mt_loop_watch(). */
#define MT_LOOP_READ  1
#define MT_LOOP_WRITE 2

/* fd is ready for what `ready` says (MT_LOOP_READ|MT_LOOP_WRITE; an error
 * or hang-up on the fd reports as ready for what was watched). */
typedef void (*mt_loop_fd_fn)(mt_loop *loop, int fd, int ready, void *arg);
/* A timer fired. Return the delay in ms until it fires again, or -1 to end
 * it (the timer is then freed; its id no longer valid). */
typedef int64_t (*mt_loop_timer_fn)(mt_loop *loop, int64_t id, void *arg);
/* A callback handed over by mt_loop_post(), running on the loop's thread. */
typedef void (*mt_loop_post_fn)(mt_loop *loop, void *arg);

/* A new loop; *out is NULL on error. */
int mt_loop_new(mt_loop **out, mt_error *err);

/* Free the loop: pending posts are dropped (their callbacks not run), fds
 * are not closed. NULL is ok. */
void mt_loop_free(mt_loop *loop);

/*
 * Watch fd for mask (replaces an earlier watch of the same fd; mask 0 is
 * mt_loop_unwatch). One callback per fd.
 */
int mt_loop_watch(mt_loop *loop, int fd, int mask, mt_loop_fd_fn fn, void *arg, mt_error *err);
/* Stop watching fd; a no-op if it was not watched. */
void mt_loop_unwatch(mt_loop *loop, int fd);

/* A timer firing in delay_ms (0: on the next turn). *id (may be NULL)
 * identifies it for mt_loop_timer_cancel(); ids are never reused. */
int mt_loop_timer_add(mt_loop *loop, int64_t delay_ms, mt_loop_timer_fn fn, void *arg, int64_t *id,
                      mt_error *err);
/* Cancel a timer; a no-op for an unknown or finished id. */
void mt_loop_timer_cancel(mt_loop *loop, int64_t id);

/*
 * From any thread: run fn(loop, arg) on the loop's thread on its next turn,
 * in the order posted. Safe while the loop blocks in mt_loop_once(). Fails
 * only with MT_ENOMEM (then fn will never run).
 */
int mt_loop_post(mt_loop *loop, mt_loop_post_fn fn, void *arg);

/*
 * One turn: wait up to max_wait_ms (-1: until something happens) for fds,
 * timers or posts, then run what is ready. Returns the number of callbacks
 * run (0 on a plain time-out), or MT_EIO if the wait failed (EINTR is not a
 * failure: the turn returns 0 so the caller can look at its signals).
 */
int mt_loop_once(mt_loop *loop, int max_wait_ms, mt_error *err);

/* Turn until mt_loop_stop(). 0, or MT_EIO as for mt_loop_once(). */
int mt_loop_run(mt_loop *loop, mt_error *err);
/* From any thread (or a callback): make mt_loop_run() return after the
 * current turn. */
void mt_loop_stop(mt_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
