/* What exec.c (buffers), exec_plan.c (their layout) and exec_pass.c (the
 * passes) share. */
#ifndef BB_MODEL_EXEC_INTERNAL_H
#define BB_MODEL_EXEC_INTERNAL_H

#include "model/net.h"
#include "model/plan.h"
#include "ops/ukernel.h"
#include "util/mem.h"

/* the register kernel a channels-last kernel set runs (FAST: the best the CPU has) */
bb_uk_variant bb_exec_variant(bb_kernels k);

static inline int64_t bb_tensor_len(const bb_net *net, int t)
{
    const bb_dims *d = &net->tensors[t];
    return d->c * d->h * d->w;
}

static inline void *bb_exec_saved(const bb_exec *ex, const bb_layer *l)
{
    if (l->save_per_sample) return ex->save + ex->net->save_fixed + l->save_ps_off * ex->n_max;
    return ex->save + l->save_off;
}

/* profiling: the clock is read only when a profile is attached */
#define BB_PROF_START(ex) double prof_t0_ = (ex)->prof ? bb_now() : 0.0
#define BB_PROF_STOP(ex, dir, slot) \
    do { if ((ex)->prof) (ex)->prof->dir[slot] += bb_now() - prof_t0_; } while (0)

/* exec_plan.c: the float offsets of every tensor's activation and gradient
 * (-1: none) in one arena of `total` floats, for the operations of plan */
bb_status bb_exec_plan(const bb_net *net, const bb_plan *plan, int64_t n_max, int channels_last,
                       int64_t *act_off, int64_t *grad_off, int64_t *total);

/* floats of workspace the channels-last passes need beyond the convolutions' */
size_t bb_exec_nhwc_workspace(const bb_net *net, int64_t n_max);

#endif
