/* Status codes and the per-thread error message. The library never exits: every
 * failure returns a bb_status and leaves a message (what, where, expected vs
 * found) that bb_last_error() returns on the same thread. */
#ifndef BB_UTIL_STATUS_H
#define BB_UTIL_STATUS_H

#include "bigbatch.h"  /* bb_status, bb_last_error, bb_status_name */

/* Sets this thread's message (printf format) and returns `s`, so a failing
 * path reads `return bb_fail(BB_ERR_FORMAT, "%s: ...", path);`. */
bb_status bb_fail(bb_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with more context ("loading checkpoint: ..."). */
bb_status bb_fail_context(bb_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define BB_TRY(expr) do { bb_status bb_try_s_ = (expr); if (bb_try_s_ != BB_OK) return bb_try_s_; } while (0)

#endif
