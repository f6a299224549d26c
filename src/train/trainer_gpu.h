/* The trainer on a device (--device cuda): the same iteration as trainer.c
 * with parameters, gradients, momentum and BN state resident on the device.
 * trainer.c builds the model, schedule and optimizer settings, then hands a
 * trainer to bb_gpu_setup; step, evaluate and the checkpoint copies delegate
 * here. The engine is device independent (gpu/dev.h), so the host backend
 * runs all of it in the tests. */
#ifndef BB_TRAIN_TRAINER_GPU_H
#define BB_TRAIN_TRAINER_GPU_H

#include "gpu/dev.h"
#include "train/trainer.h"

/* The CUDA device for this process (its local rank picks the GPU), with the
 * configuration's options. Fails clearly in a build without CUDA. */
bb_status bb_gpu_open(bb_dev **out, const bb_config *cfg, const bb_comm *comm);
/* Takes ownership of dev (also on failure). */
bb_status bb_gpu_setup(bb_trainer *t, bb_dev *dev);
void bb_gpu_destroy(bb_trainer *t);

bb_status bb_gpu_step(bb_trainer *t, bb_step_stats *st);
/* this rank's share of the test set: acc = {summed loss, top-1 hits, top-5 hits} */
bb_status bb_gpu_eval_sums(bb_trainer *t, double acc[3]);
/* device -> host copies of parameters, momentum and BN state (checkpoints, accessors) */
bb_status bb_gpu_download(bb_trainer *t);
/* host -> device (after loading a checkpoint); restarts the data pipeline */
bb_status bb_gpu_upload(bb_trainer *t);
/* "NVIDIA H100 ..., 8 workers per chunk" for the run banner */
const char *bb_gpu_describe(const bb_trainer *t);

#endif
