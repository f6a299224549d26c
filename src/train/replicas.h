/* The replicated state across MPI ranks: every rank holds the same
 * parameters, momentum and BN statistics (same seed, same summed gradient,
 * same update). bb_trainer_check_replicas verifies it with a checksum at
 * startup and every --checksum-every iterations; a mismatch stops the job
 * naming the ranks that differ from the majority.
 * BB_FAULT=kill|hang|perturb:RANK:ITERATION (environment) makes one rank
 * die (SIGKILL), hang (SIGSTOP) or change one weight before that iteration:
 * the failure tests in tests/sh/mpi_failures.sh use it. */
#ifndef BB_TRAIN_REPLICAS_H
#define BB_TRAIN_REPLICAS_H

#include "train/trainer.h"

#include <stdint.h>

/* 64-bit checksum of parameters, momentum and BN running statistics. */
uint64_t bb_trainer_checksum(bb_trainer *t);
/* Collective: BB_ERR_COMM naming the odd ranks out when checksums differ. */
bb_status bb_trainer_check_replicas(bb_trainer *t, const char *when);
/* Acts on BB_FAULT before iteration bb_trainer_iteration(t). */
void bb_trainer_fault_point(bb_trainer *t);

#endif
