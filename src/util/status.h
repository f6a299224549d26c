/* Status codes and the per-thread error message. The library never exits: every
 * failure returns a bb_status and leaves a message (what, where, expected vs
 * found) that bb_last_error() returns on the same thread. */
#ifndef BB_UTIL_STATUS_H
#define BB_UTIL_STATUS_H

typedef enum {
    BB_OK = 0,
    BB_ERR_INVALID,      /* a bad argument, flag or configuration value */
    BB_ERR_IO,           /* open/read/write/fsync/rename failed */
    BB_ERR_FORMAT,       /* a file's contents are not what they must be */
    BB_ERR_NOMEM,
    BB_ERR_NUMERIC,      /* non-finite loss or gradient */
    BB_ERR_COMM,         /* a peer process failed, hung or disagreed */
    BB_ERR_INTERRUPTED,  /* stopped by a signal after a clean checkpoint */
    BB_ERR_UNSUPPORTED,  /* built without the needed component */
    BB_ERR_REFUSED       /* a run directory that another process owns or that holds another run */
} bb_status;

/* Sets this thread's message (printf format) and returns `s`, so a failing
 * path reads `return bb_fail(BB_ERR_FORMAT, "%s: ...", path);`. */
bb_status bb_fail(bb_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with more context ("loading checkpoint: ..."). */
bb_status bb_fail_context(bb_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *bb_last_error(void);
const char *bb_status_name(bb_status s);

#define BB_TRY(expr) do { bb_status bb_try_s_ = (expr); if (bb_try_s_ != BB_OK) return bb_try_s_; } while (0)

#endif
