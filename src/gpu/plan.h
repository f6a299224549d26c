/* Host-side planning for the GPU engine, free of any device code so that it is
 * built and tested everywhere. The operations, their fusions ([relu](bn(x)
 * [+ s])), first gradient writers and readiness are the shared plan
 * (model/plan.h, BB_FUSE_DEVICE); here is what is the device's own:
 * - gradient slots: backward keeps a tensor's gradient only while it is live
 *   (from its first writer to its producer), in a few buffers of the largest
 *   tensor's size;
 * - allreduce buckets in reverse layer order, and the number of logical
 *   workers a chunk of the device's memory holds. */
#ifndef BB_GPU_PLAN_H
#define BB_GPU_PLAN_H

#include "model/plan.h"

/* gradient slots of an op's output and inputs (-1 where no gradient is needed) */
typedef struct { int out, in[2]; } bb_gslots;

typedef struct {
    const bb_net *net;
    bb_plan shared;           /* the operations (model/plan.h) */
    bb_gslots *slots;         /* per op */
    int nslots;               /* gradient slots */
    int want_input_grad;
    int64_t max_len;          /* floats per sample of the largest stored tensor */
    int64_t act_per_sample;   /* floats per sample of all stored tensors (each padded to 16) */
    int64_t argmax_per_sample;/* int32 per sample (max pools) */
    int64_t bn_cells;         /* channels summed over BN ops: per-worker saved mean / inverse std */
    int64_t bn_max_c;         /* the widest BN */
} bb_gplan;

/* Elements of one (worker, channel) batch-norm cell per reduction part. */
#define BB_GPLAN_PART 8192

bb_status bb_gplan_build(bb_gplan *p, const bb_net *net, int want_input_grad);
void bb_gplan_free(bb_gplan *p);

/* Parts of a BN cell of len elements and the elements of each. */
int64_t bb_gplan_bn_parts(int64_t len, int64_t *part_len);

/* The most (channel, part) reduction cells one BN needs for a worker of n samples. */
int64_t bb_gplan_bn_partial_cells(const bb_gplan *p, int64_t n);

/* Device bytes one logical worker of n samples needs (activations, pool
 * indices, gradient slots, BN per-worker values and scratch). */
int64_t bb_gplan_worker_bytes(const bb_gplan *p, int64_t n);

/* Workers per chunk: as many of `local` as budget_bytes holds at worker_bytes
 * each (at most cap when cap > 0) and no tensor of a chunk over 2^31 - 1
 * elements; 0 if not even one fits. */
int64_t bb_gplan_chunk_workers(const bb_gplan *p, int64_t n, int64_t local, int64_t budget_bytes, int64_t cap);

/* Float range [lo, hi) of the gradient buffer. */
typedef struct { int64_t lo, hi; } bb_gbucket;

/* Allreduce buckets in launch order: the BN statistics [P, G) first (when the
 * net has BN), then parameter ranges from the end (reverse layer order), each
 * of at least `floats` floats except the last, cut at parameter boundaries.
 * out must hold net->nparams + 1 entries; returns the count. */
int bb_gplan_buckets(const bb_net *net, int64_t floats, bb_gbucket *out);

#endif
