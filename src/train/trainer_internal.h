/* The trainer's state, shared by trainer.c, run.c and checkpoint.c. */
#ifndef BB_TRAIN_TRAINER_INTERNAL_H
#define BB_TRAIN_TRAINER_INTERNAL_H

#include "train/gradsum.h"
#include "train/loader.h"
#include "train/noise.h"
#include "train/trainer.h"
#include "util/pool.h"

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
    int nex, blas_threads;
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
};

#endif
