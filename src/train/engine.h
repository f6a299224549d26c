/* The engine interface: what the trainer core (trainer.c) asks of the engine
 * that computes. The core owns the configuration, the model description, the
 * schedule and optimizer settings, the host copies of parameters, momentum
 * and BN state, the loader, the step's epilogue (sums across ranks, the lr,
 * the divergence check, the noise scale, counting), evaluation's totals,
 * checkpoints and resume. An engine owns its memory and computes:
 * - the CPU engine (engine_cpu.c): executors on a thread pool, each running
 *   its share of the logical workers with the operators of ops/;
 * - the device engine (engine_gpu.c): the network on a bb_dev (gpu/dev.h),
 *   CUDA or the host backend that runs it in the tests.
 * Every call takes the trainer; an engine reads the core's fields and keeps
 * its own state behind t->engine_state. Adding an engine: one file that
 * fills a bb_engine_ops, and its choice in bb_engine_create (trainer.c). */
#ifndef BB_TRAIN_ENGINE_H
#define BB_TRAIN_ENGINE_H

#include "train/trainer.h"

struct bb_dev;

/* What an engine's gradient pass hands the core. */
typedef struct {
    double loss_sum;           /* this rank's workers: summed loss (normalized by kn) */
    double correct;            /* ... and correct top-1 predictions */
    double grad_sq;            /* |summed gradient|^2, summed over every rank's workers */
    const float *grad;         /* that gradient on the host (P floats), NULL when it stays on a device */
    double parts_sq;           /* --noise-scale: sum over this rank's workers of |g_w|^2 (0 otherwise) */
} bb_grads;

typedef struct bb_engine_ops {
    /* Forward, loss and backward of this rank's workers for iteration
     * t->step (batches from t->loader), the gradient summed over every
     * worker of every rank; fills g and the timings t_data, t_fwd, t_bwd,
     * t_reduce, t_allreduce of st. */
    bb_status (*gradients)(bb_trainer *t, bb_grads *g, bb_step_stats *st);
    /* Drops the partial sums of a step that failed or is not taken. */
    void (*abandon)(bb_trainer *t);
    /* The update with the gradient of the last gradients(): SGD or LARS at
     * lr (lr_prev: the previous step's, for the form-10 correction) and the
     * BN running averages. */
    bb_status (*update)(bb_trainer *t, double lr, double lr_prev);
    /* This rank's share of the test set, [t->eval_lo, t->eval_hi):
     * acc = {summed loss, top-1 hits, top-5 hits}. */
    bb_status (*eval_sums)(bb_trainer *t, double acc[3]);
    /* Parameters, momentum and BN state: engine -> the core's host copies,
     * and back after they changed (a loaded checkpoint). NULL: the engine
     * computes on the host copies themselves. */
    bb_status (*download)(bb_trainer *t);
    bb_status (*upload)(bb_trainer *t);
    /* The loader was made for t->loader_first, or is about to be destroyed
     * (device engines register its memory for copies). NULL: nothing. */
    void (*loader_changed)(bb_trainer *t, int made);
    /* "2 threads", "NVIDIA H100 ..., 8 workers per pass" for the banner. */
    const char *(*describe)(const bb_trainer *t);
    void (*destroy)(bb_trainer *t);
} bb_engine_ops;

/* Each sets t->engine and t->engine_state; the device one takes ownership of
 * dev (also on failure). */
bb_status bb_engine_cpu_create(bb_trainer *t);
bb_status bb_engine_gpu_create(bb_trainer *t, struct bb_dev *dev);

/* The CUDA device for this process (its local rank picks the GPU), with the
 * configuration's options. Fails clearly in a build without CUDA. */
bb_status bb_gpu_open(struct bb_dev **out, const bb_config *cfg, const bb_comm *comm);

#endif
