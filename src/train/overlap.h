/* Gradient buckets and the allreduce overlapped with backprop. The gradient
 * buffer (parameters, then BN batch-statistic sums) is cut into buckets with
 * fixed boundaries: the statistics first (final after the forward pass), then
 * the parameters in --bucket-kb pieces from the last layer's down to the
 * first's (the order backward finishes them). Each executor's last worker
 * reports its progress through the grad-ready callback; the executor then does
 * its own tree merges (bb_gradsum_push_deferred) on each finished bucket; the
 * last executor through a bucket does the cross-executor merges on it and
 * hands it to the communication thread, which allreduces the buckets one by
 * one in the fixed order while backward goes on. The merges are the same
 * elementwise additions as without buckets, so the sum is bit-for-bit the
 * same for any number of executors and any bucket size. */
#ifndef BB_TRAIN_OVERLAP_H
#define BB_TRAIN_OVERLAP_H

#include "comm/comm.h"
#include "train/gradsum.h"

typedef struct bb_overlap bb_overlap;

/* parts[0..nparts): the executors' gradient sums (kept by the caller);
 * P parameters followed by G - P statistics; buckets of bucket_floats. */
bb_status bb_overlap_create(bb_overlap **out, bb_comm *comm, bb_gradsum *parts, int nparts, int64_t P, int64_t G,
                            int64_t bucket_floats);
void bb_overlap_destroy(bb_overlap *o);
int bb_overlap_buckets(const bb_overlap *o);
/* Before the executors start a step (the communication thread is idle). */
void bb_overlap_start(bb_overlap *o);
/* Executor e starts its last worker w of the step, whose gradient is g (from
 * bb_gradsum_begin); sq (may be NULL) receives |g|^2 over the parameters,
 * summed bucket by bucket as bb_overlap_sq does. */
void bb_overlap_last_worker(bb_overlap *o, int e, int64_t w, const float *g, double *sq);
/* Executor e's last worker has final gradients at every offset >= lo. */
void bb_overlap_ready(bb_overlap *o, int e, int64_t lo);
/* The bb_grad_ready_fn for bb_net_backward, with bb_overlap_arg(o, e). */
void bb_overlap_ready_cb(void *arg, int64_t lo);
void *bb_overlap_arg(bb_overlap *o, int e);
/* |g|^2 over the parameters in the bucket order (the same for every worker). */
double bb_overlap_sq(const bb_overlap *o, const float *g);
/* sum of g[i]^2 over [lo, hi), in double, in a fixed order */
double bb_sq_sum(const float *g, int64_t lo, int64_t hi);
/* After the executors: waits for every bucket's allreduce (in order) and
 * returns the summed buffer; t_comm gets the seconds spent in allreduce. */
bb_status bb_overlap_finish(bb_overlap *o, float **sum, double *t_comm);
/* The executors stopped early (an error): lets the communication thread
 * drop the buckets that will never be ready, then waits for it. */
void bb_overlap_abandon(bb_overlap *o);

#endif
