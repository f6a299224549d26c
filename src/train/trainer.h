/* Training with the large-minibatch recipe over k logical workers
 * (docs/ARCHITECTURE.md). A trainer owns the model, the flat parameter /
 * momentum / BN-state buffers, the loader, the communicator and an engine
 * that computes (train/engine.h: the CPU's executors or a device). The calls an embedding program uses (create, step, evaluate,
 * save, resume, run) are declared in include/bigbatch.h; these are the rest. */
#ifndef BB_TRAIN_TRAINER_H
#define BB_TRAIN_TRAINER_H

#include "comm/comm.h"
#include "data/data.h"
#include "model/models.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "train/config.h"

/* For evaluating the checkpoint ckpt only: loads the test split alone where
 * the checkpoint records the training split's size and normalization
 * (eval_data.c); the trainer cannot train. */
bb_status bb_trainer_create_eval(bb_trainer **out, const bb_config *cfg, bb_comm *comm, const char *ckpt);
/* The same with datasets the caller owns (tests, benchmarks). */
bb_status bb_trainer_create_with_data(bb_trainer **out, const bb_config *cfg, bb_comm *comm,
                                      bb_dataset *train, bb_dataset *test);

/* The same, with extra metadata (NULL-terminated key, value list). */
bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra);
/* Restores a checkpoint written by a run with the same mathematics. */
bb_status bb_trainer_load(bb_trainer *t, const char *path);
/* Reads the configuration stored in a checkpoint (its header only). notice
 * (cap bytes, may be NULL) gets a line for the user, or "": a checkpoint from
 * before checksums loads, and the caller says so. */
bb_status bb_checkpoint_read_config(const char *path, bb_config *cfg, char *notice, size_t cap);
/* The configuration a resumed run uses (train/resume.c): the one stored in
 * `checkpoint`, except the fields marked in given[] (by index in
 * bb_config_fields; NULL: none), which keep cfg's values; resume = checkpoint.
 * A notice about the checkpoint goes to the log (util/log.h). */
bb_status bb_config_resumed(bb_config *cfg, const char *checkpoint, const unsigned char *given);
/* Creates the trainer cfg describes and, when cfg->resume names a checkpoint,
 * restores its state: the one way every caller starts or continues a run. */
bb_status bb_trainer_start(bb_trainer **out, const bb_config *cfg, bb_comm *comm);

/* The signal that asked for a stop, 0 if none (so a caller running several
 * trainings one after another stops between them too). */
int bb_trainer_stop_requested(void);

/* accessors */
const bb_net *bb_trainer_net(const bb_trainer *t);
float *bb_trainer_params(bb_trainer *t);
float *bb_trainer_momentum(bb_trainer *t);
float *bb_trainer_state(bb_trainer *t);
const bb_schedule *bb_trainer_schedule(const bb_trainer *t);
int bb_trainer_threads(const bb_trainer *t);
bb_comm *bb_trainer_comm(bb_trainer *t);

/* Profiling (`bigbatch bench train --profile`) on the CPU engine: the
 * executors' count (0 on a device), and per-executor layer timings into
 * profiles[0 .. executors) (caller-owned; NULL detaches). Loss and the
 * per-worker gradient push are timed there too. */
int bb_trainer_executors(const bb_trainer *t);
void bb_trainer_attach_profiles(bb_trainer *t, bb_profile *profiles);

/* Fills the schedule a configuration implies (for `bigbatch schedule`). */
bb_status bb_schedule_from_config(bb_schedule *s, const bb_config *cfg, int64_t n_train);
/* Loads the datasets a configuration names. */
bb_status bb_data_from_config(const bb_config *cfg, bb_dataset *train, bb_dataset *test);

#endif
