/* The trainer core's state (trainer.c), read by the loop (run.c), the
 * checkpoints (checkpoint.c) and the engines (engine.h). */
#ifndef BB_TRAIN_TRAINER_INTERNAL_H
#define BB_TRAIN_TRAINER_INTERNAL_H

#include "train/loader.h"
#include "train/noise.h"
#include "train/trainer.h"
#include "util/safetensors.h"

#include <math.h>
#include <stdio.h>

struct bb_engine_ops;

struct bb_trainer {
    bb_config cfg;
    bb_model_spec spec;
    bb_net net;
    bb_sgd sgd;
    bb_schedule sched;
    int64_t P, G;              /* parameters; gradient floats incl. BN statistics */
    float *params, *momentum, *state;   /* host copies (the CPU engine computes on them) */
    bb_comm *comm;
    int own_comm;
    bb_dataset *train, *test;
    int own_data;
    int64_t k, n, kn, w_lo, w_hi;   /* this rank's workers [w_lo, w_hi) */
    int64_t eval_lo, eval_hi;  /* this rank's share of the test set */
    /* the loader, made by the core for the engine's worker order and producer count */
    bb_loader *loader;
    int64_t loader_first;
    int64_t *order;            /* the local workers in the order the loader fills them */
    int producers;
    int threads;               /* compute threads (the banner; bb_trainer_threads) */
    int allreduce_buckets;     /* gradient buckets whose allreduce time st->t_allreduce reports (0: none) */
    int64_t step, steps_per_epoch, total_steps;
    double lr_prev;
    /* running sums of the current epoch (kept in checkpoints) */
    double ep_loss;
    int64_t ep_correct, ep_seen;
    bb_noise_avg noise;        /* gradient noise scale averages (kept in checkpoints) */
    /* the engine (engine.h) and its state */
    const struct bb_engine_ops *engine;
    void *engine_state;
    struct bb_dev *dev_arg;    /* a device given to bb_trainer_create_dev */
};

/* bb_trainer_create_with_data on a given device (the GPU engine on any
 * backend, e.g. the host one in tests); takes ownership of dev. */
bb_status bb_trainer_create_dev(bb_trainer **out, const bb_config *cfg, bb_comm *comm, bb_dataset *train,
                                bb_dataset *test, struct bb_dev *dev);
/* The run's length in iterations from its epochs (before --max-steps). */
static inline int64_t bb_run_iterations(const bb_config *cfg, int64_t steps_per_epoch)
{
    return (int64_t)floor(cfg->epochs * (double)steps_per_epoch + 0.5);
}

/* Checkpoint loading from a parsed file (bb_trainer_load and
 * bb_checkpoint_read_config read the file, then call these; so do the fuzz
 * targets). Nothing in the trainer changes unless every field checks out. */
bb_status bb_trainer_load_from(bb_trainer *t, const bb_st_file *f);
bb_status bb_checkpoint_config_from(const bb_st_file *f, bb_config *cfg);
/* Counts a finished step (both backends): the iteration, the epoch position
 * in st and the epoch's running sums; acc = {summed loss, correct samples}. */
void bb_trainer_count_step(bb_trainer *t, bb_step_stats *st, const double acc[2]);
/* The loader for iteration t->step, made anew when there is none or it
 * starts later (after a checkpoint of an earlier step was loaded). */
bb_status bb_trainer_ensure_loader(bb_trainer *t);
void bb_trainer_drop_loader(bb_trainer *t);
/* The engine's parameters, momentum and BN state to the host copies, and
 * back (engine.h; nothing on the CPU). */
bb_status bb_trainer_download(bb_trainer *t);
bb_status bb_trainer_upload(bb_trainer *t);
/* The metric files' lengths recorded in a checkpoint (0 when absent). */
bb_status bb_checkpoint_metric_lengths(const bb_st_file *f, long keep[3]);

#endif
