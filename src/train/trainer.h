/* Training with the large-minibatch recipe over k logical workers (DESIGN.md).
 * A trainer owns the model, the flat parameter / momentum / BN-state buffers,
 * its executors (one per thread, each running its share of the logical workers
 * one after the other), the loader and the communicator. */
#ifndef BB_TRAIN_TRAINER_H
#define BB_TRAIN_TRAINER_H

#include "comm/comm.h"
#include "data/data.h"
#include "model/models.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "train/config.h"

typedef struct bb_trainer bb_trainer;

typedef struct {
    int64_t step;            /* the iteration just done (0-based) */
    double epoch;            /* fractional epoch at its end */
    double loss, err;        /* minibatch mean loss and top-1 error */
    double lr, grad_norm;
    double t_data, t_fwd, t_bwd, t_reduce, t_update, t_step;  /* seconds; per-thread ones averaged */
    double t_allreduce;      /* seconds in gradient allreduce, overlapped with backward or not; the part
                                not hidden is in t_reduce (the wait after the last backward) */
    double b_noise;          /* gradient noise scale estimate (with --noise-scale), else 0 */
    double noise_g2, noise_trace;  /* this step's unbiased estimates of |G|^2 and tr(Sigma) */
} bb_step_stats;

typedef struct {
    double loss, top1_err, top5_err;
    int64_t count;
} bb_eval_result;

/* Loads the data the configuration names, builds the model and initialises
 * parameters. comm may be NULL (single process). */
bb_status bb_trainer_create(bb_trainer **out, const bb_config *cfg, bb_comm *comm);
/* For evaluating the checkpoint ckpt only: loads the test split alone where
 * the checkpoint records the training split's size and normalization
 * (eval_data.c); the trainer cannot train. */
bb_status bb_trainer_create_eval(bb_trainer **out, const bb_config *cfg, bb_comm *comm, const char *ckpt);
/* The same with datasets the caller owns (tests, benchmarks). */
bb_status bb_trainer_create_with_data(bb_trainer **out, const bb_config *cfg, bb_comm *comm,
                                      bb_dataset *train, bb_dataset *test);
void bb_trainer_destroy(bb_trainer *t);

/* One iteration: the next minibatch through all k workers, the sum, the update. */
bb_status bb_trainer_step(bb_trainer *t, bb_step_stats *st);
/* Top-1/top-5 error and mean loss over the whole test set (BN running stats). */
bb_status bb_trainer_evaluate(bb_trainer *t, bb_eval_result *r);

/* Atomic checkpoint (safetensors: parameters, momentum, BN running stats; the
 * configuration, iteration and epoch accumulators as metadata). */
bb_status bb_trainer_save(bb_trainer *t, const char *path);
/* The same, with extra metadata (NULL-terminated key, value list). */
bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra);
/* Restores a checkpoint written by a run with the same mathematics. */
bb_status bb_trainer_load(bb_trainer *t, const char *path);
/* Reads the configuration stored in a checkpoint (its header only). notice
 * (cap bytes, may be NULL) gets a line for the user, or "": a checkpoint from
 * before checksums loads, and the caller says so. */
bb_status bb_checkpoint_read_config(const char *path, bb_config *cfg, char *notice, size_t cap);

/* The whole run: epochs, evaluation, metrics, progress, checkpoints, stop on
 * signal (checkpoint, then BB_ERR_INTERRUPTED) or non-finite loss. */
bb_status bb_trainer_run(bb_trainer *t);
/* Async-signal-safe: the run stops after the current iteration. */
void bb_trainer_request_stop(int signo);
/* The signal that asked for a stop, 0 if none (so a caller running several
 * trainings one after another stops between them too). */
int bb_trainer_stop_requested(void);

/* accessors */
const bb_net *bb_trainer_net(const bb_trainer *t);
const bb_config *bb_trainer_config(const bb_trainer *t);
float *bb_trainer_params(bb_trainer *t);
float *bb_trainer_momentum(bb_trainer *t);
float *bb_trainer_state(bb_trainer *t);
int64_t bb_trainer_iteration(const bb_trainer *t);
int64_t bb_trainer_steps_per_epoch(const bb_trainer *t);
int64_t bb_trainer_total_steps(const bb_trainer *t);
const bb_schedule *bb_trainer_schedule(const bb_trainer *t);
int bb_trainer_threads(const bb_trainer *t);
bb_comm *bb_trainer_comm(bb_trainer *t);

/* Profiling (`bigbatch bench train --profile`): the executors' count, and
 * per-executor layer timings into profiles[0 .. executors) (caller-owned; NULL
 * detaches). Loss and the per-worker gradient push are timed there too. */
int bb_trainer_executors(const bb_trainer *t);
void bb_trainer_attach_profiles(bb_trainer *t, bb_profile *profiles);

/* Fills the schedule a configuration implies (for `bigbatch schedule`). */
bb_status bb_schedule_from_config(bb_schedule *s, const bb_config *cfg, int64_t n_train);
/* Loads the datasets a configuration names. */
bb_status bb_data_from_config(const bb_config *cfg, bb_dataset *train, bb_dataset *test);

#endif
