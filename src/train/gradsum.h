/* Summing the k logical workers' gradients in an order that does not depend on
 * who computed them. The sum follows a fixed binary tree over worker indices
 * [0, k): node (level l, index j) covers [j 2^l, min((j+1) 2^l, k)) and is
 * left + right. Each executor pushes the workers it computed, in order; blocks
 * merge as soon as both children are present; the executors' leftover blocks
 * are then combined by the same rule. Any split of [0, k) into contiguous
 * ranges therefore gives bit-for-bit the same sum (float addition is
 * commutative, and the association is the tree's). */
#ifndef BB_TRAIN_GRADSUM_H
#define BB_TRAIN_GRADSUM_H

#include "util/status.h"

#include <stdint.h>

typedef struct { int level; int64_t index; float *buf; } bb_gblock;

/* Merges recorded instead of done: each is dst[i] += src[i] for every i, so a
 * plan can be applied range by range (bucket by bucket, as gradients become
 * ready) with the same result, bit for bit, as applying it whole. */
typedef struct { float *dst; const float *src; } bb_gmerge;
typedef struct { bb_gmerge *m; int n, cap; } bb_gsum_plan;

typedef struct {
    int64_t k, len;            /* leaves of the tree; floats per buffer */
    float **owned;             /* buffers this executor owns */
    int nowned;
    float **free_list;
    int nfree;
    bb_gblock *stack;
    int depth;
    float *pending;            /* buffer handed out by bb_gradsum_begin */
    bb_gsum_plan deferred;         /* merges of bb_gradsum_push_deferred */
} bb_gradsum;

/* Preallocates the buffers an executor computing workers [w_lo, w_hi) needs. */
bb_status bb_gradsum_init(bb_gradsum *g, int64_t k, int64_t len, int64_t w_lo, int64_t w_hi);
void bb_gradsum_free(bb_gradsum *g);
/* A zeroed buffer for the next worker's gradient. */
float *bb_gradsum_begin(bb_gradsum *g);
/* The buffer from begin now holds worker w's gradient; merges what it can. */
void bb_gradsum_push(bb_gradsum *g, int64_t w);
/* The same as push, but the merges are recorded in g->deferred (apply them
 * with bb_gsum_plan_apply as ranges of the buffer become final). For the last
 * worker of a step: no buffer is recycled until bb_gradsum_reset. */
void bb_gradsum_push_deferred(bb_gradsum *g, int64_t w);
/* Combines the blocks of parts[0..n) (in worker order) by the tree rule.
 * Returns the buffer holding the sum of everything pushed; when the parts do
 * not cover [0, k) (one MPI rank's share) the remaining blocks are added left
 * to right into the first. */
float *bb_gradsum_combine(bb_gradsum *parts, int n);
/* The same as combine, with the merges recorded in plan (capacity: the sum of
 * the parts' nowned); returns the buffer that will hold the sum. */
float *bb_gradsum_combine_plan(bb_gradsum *parts, int n, bb_gsum_plan *plan);
bb_status bb_gsum_plan_init(bb_gsum_plan *p, int cap);
void bb_gsum_plan_free(bb_gsum_plan *p);
/* Does the plan's merges, in order, on elements [lo, hi) only. */
void bb_gsum_plan_apply(const bb_gsum_plan *p, int64_t lo, int64_t hi);
/* Returns every buffer to its owner's free list, for the next step. */
void bb_gradsum_reset(bb_gradsum *g);

#endif
