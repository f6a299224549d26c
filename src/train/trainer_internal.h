/* The trainer's state, shared by trainer.c, run.c and checkpoint.c. */
#ifndef BB_TRAIN_TRAINER_INTERNAL_H
#define BB_TRAIN_TRAINER_INTERNAL_H

#include "train/gradsum.h"
#include "train/loader.h"
#include "train/overlap.h"
#include "train/noise.h"
#include "train/trainer.h"
#include "util/pool.h"
#include "util/safetensors.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    bb_exec ex;
    int64_t w_lo, w_hi;        /* its logical workers */
    double t_data, t_fwd, t_bwd;
    bb_status status;
    char errmsg[512];
} bb_executor;

struct bb_trainer {
    bb_config cfg;
    bb_model_spec spec;
    bb_net net;
    bb_sgd sgd;
    bb_schedule sched;
    int64_t P, G;              /* parameters; gradient floats incl. BN statistics */
    float *params, *momentum, *state;
    bb_comm *comm;
    int own_comm;
    bb_dataset *train, *test;
    int own_data;
    int64_t k, n, kn, w_lo, w_hi;   /* this rank's workers [w_lo, w_hi) */
    bb_pool *pool;
    bb_executor *ex;
    bb_gradsum *gs;
    bb_overlap *ov;            /* gradient buckets, allreduced while backward runs */
    int nex, blas_threads;
    int threads;               /* compute threads: executors and their teams (and BLAS's) */
    int64_t *order;
    bb_loader *loader;
    int64_t loader_first;
    double *worker_loss, *worker_sq;
    int64_t *worker_top1;
    int64_t eval_lo, eval_hi, eval_chunks;
    double *chunk_loss;
    int64_t *chunk_top;
    int64_t step, steps_per_epoch, total_steps;
    double lr_prev;
    /* running sums of the current epoch (kept in checkpoints) */
    double ep_loss;
    int64_t ep_correct, ep_seen;
    bb_noise_avg noise;        /* gradient noise scale averages (kept in checkpoints) */
    /* --device cuda: the device half (trainer_gpu.c); NULL on the CPU */
    struct bb_gtrainer *gpu;
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
/* The metric files' lengths recorded in a checkpoint (0 when absent). */
bb_status bb_checkpoint_metric_lengths(const bb_st_file *f, long keep[3]);

#endif
