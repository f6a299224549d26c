/* The network on a device (dev.h): forward and backward of a chunk of m
 * logical workers at once. Convolutions, pooling and the linear layer run over
 * all m*n samples together (they are per sample, so batching workers is
 * exact); batch norm computes its statistics per (worker, channel), exactly
 * the per-worker BN of src/model/exec_pass.c. Every buffer is allocated once, in
 * bb_gnet_create, from the plan (plan.h). */
#ifndef BB_GPU_GNET_H
#define BB_GPU_GNET_H

#include "gpu/dev.h"
#include "gpu/plan.h"

typedef struct {
    bb_dev *dev;
    const bb_net *net;
    bb_gplan plan;
    int64_t n;                /* samples per worker */
    int64_t m_max, s_max;     /* workers and samples per chunk */
    const float *x;           /* the current input (the caller's buffer) */
    int64_t count;            /* samples of the current pass */
    float **act;              /* per tensor, (s_max, len); NULL where not stored or the input */
    float **slot;             /* gradient slots, (s_max, max_len) each */
    int32_t **argmax;         /* per op (max pools) */
    float **bn_save;          /* per op (BN): (m_max, c, 2) */
    float *bn_coef;           /* (m_max, max c, 4) */
    double *bn_partial;
    void **conv;              /* per op (convolutions): the device's handle */
    void **allocs;            /* everything allocated, for destroy */
    int nallocs, cap_allocs;
} bb_gnet;

/* Plans `net` for chunks of up to m_max workers of n samples, chooses the
 * convolution algorithms for each sample count in counts (the chunk sizes the
 * caller will use; others are prepared on first use), then allocates. */
bb_status bb_gnet_create(bb_gnet *g, bb_dev *dev, const bb_net *net, int64_t n, int64_t m_max,
                         int want_input_grad, const int64_t *counts, int ncounts);
void bb_gnet_destroy(bb_gnet *g);

/* train: x holds `count` logical workers of n samples; BN uses each worker's
 * statistics and ADDS them into stats (the stat_count floats after the
 * gradients; may be NULL). Else x holds `count` samples and BN uses the
 * running statistics in state. */
void bb_gnet_forward(bb_gnet *g, const float *x, int64_t count, int train, const float *params,
                     const float *state, float *stats);
/* After a training forward, with bb_gnet_dlogits filled: ADDS parameter
 * gradients into grad; ready (may be NULL) as in bb_net_backward. */
void bb_gnet_backward(bb_gnet *g, const float *params, float *grad, bb_grad_ready_fn ready, void *arg);

float *bb_gnet_logits(const bb_gnet *g);
float *bb_gnet_dlogits(const bb_gnet *g);
float *bb_gnet_dinput(const bb_gnet *g);  /* with want_input_grad */

#endif
