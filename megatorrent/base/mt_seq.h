/*
 * mt_seq.h - durable manifest sequence numbers.
 *
 * A publisher's next sequence is max(last + 1, now in ms), and it is on disk
 * (fsync'd) before the caller signs anything with it, so a crash can never
 * yield two different manifests that share a sequence. One small text file
 * per key holds the last sequence handed out; a lock file beside it
 * serialises processes that publish under the same key.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_SEQ_H
#define MT_SEQ_H

#include <stdint.h>

#include "mt_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_SEQ_MAX 9007199254740991LL  /* 2^53 - 1: manifests carry it as a JSON number */

/*
 * The last sequence recorded in path: 0 and *out = 0 when the file does not
 * exist; MT_EINVAL if it does not hold a sequence; MT_EIO on read errors.
 */
int mt_seq_last(const char *path, int64_t *out, mt_error *err);

/*
 * Reserve the next sequence and record it in path before returning.
 * want == 0: max(last + 1, now_ms). want > 0: exactly want, which must be
 * above last (MT_ESTALE otherwise: that sequence may already be signed).
 * MT_EINVAL beyond MT_SEQ_MAX; MT_EIO if it cannot be made durable.
 */
int mt_seq_next(const char *path, int64_t want, int64_t now_ms, int64_t *out, mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
