/* A fixed fork-join pool: bb_pool_run calls fn(arg, t, T) on T threads (the
 * caller is thread 0) and returns when all have finished. Used by the trainer to
 * run logical workers, and by the channels-last kernels, whose work a team of
 * threads shares inside one worker (a NULL pool is a team of one: the caller). */
#ifndef BB_UTIL_POOL_H
#define BB_UTIL_POOL_H

#include "util/status.h"

#include <stdint.h>

typedef struct bb_pool bb_pool;
typedef void (*bb_pool_fn)(void *arg, int t, int nthreads);

bb_status bb_pool_create(bb_pool **out, int nthreads);
void bb_pool_destroy(bb_pool *p);
int bb_pool_size(const bb_pool *p);
void bb_pool_run(bb_pool *p, bb_pool_fn fn, void *arg);

/* Splits [0, n) into one contiguous range per thread of p, with boundaries at
 * multiples of align, and calls fn(arg, lo, hi, t) for each non-empty range on
 * thread t (p NULL: fn(arg, 0, n, 0) on the caller). */
typedef void (*bb_range_fn)(void *arg, int64_t lo, int64_t hi, int t);
void bb_pool_for(bb_pool *p, int64_t n, int64_t align, bb_range_fn fn, void *arg);

/* Flushes denormal floats to zero in the calling thread's arithmetic (SSE's
 * FTZ and DAZ; nothing on other CPUs). Training's gradients decay into the
 * denormal range, where each operation costs a microcode assist; values below
 * 1.2e-38 do not matter to SGD. */
void bb_flush_denormals(void);

/* Splits [0, n) into `parts` contiguous ranges whose sizes differ by at most one;
 * range i is [*lo, *hi). */
void bb_split_range(long long n, int parts, int i, long long *lo, long long *hi);

/* The processors online on this machine (at least 1). */
int bb_cores(void);

#endif
