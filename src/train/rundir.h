/* The run directory's ownership and what may be written over (rank 0 only).
 * One process at a time owns it (DIR/.lock, util/lock.h); a run in it is
 * only continued from its own checkpoint, or replaced with --overwrite; a
 * start-up that fails leaves nothing it made. */
#ifndef BB_TRAIN_RUNDIR_H
#define BB_TRAIN_RUNDIR_H

#include "train/config.h"
#include "util/lock.h"

typedef struct {
    char dir[512];
    char created[512];         /* topmost directory this process created ("": none) */
    unsigned existed;          /* bit i: the i-th run file was there before the claim */
    int own_checkpoint;        /* resuming the directory's own checkpoint: its metric files go on */
    bb_lock lock;
} bb_rundir;

/* Creates cfg->out if needed and takes its lock. A directory holding a run
 * (any of config.json, metrics.jsonl, iters.csv, epochs.csv,
 * checkpoint.safetensors) is refused (BB_ERR_REFUSED, saying how to go on)
 * unless cfg->resume is that directory's own checkpoint, cfg->resume_auto
 * finds no checkpoint there (a run stopped before its first one starts
 * over), or cfg->overwrite (its checkpoint is then removed, so that the
 * replaced run's cannot be resumed with the new metrics). r->lock.notice
 * says what was taken over, for the caller to print. */
bb_status bb_rundir_claim(bb_rundir *r, const bb_config *cfg);
/* Start-up failed: removes the run files and directories this process
 * created (never one that was there before) and releases the lock. */
void bb_rundir_abandon(bb_rundir *r);
/* The run is over: releases the lock. Both do nothing for an unclaimed r. */
void bb_rundir_release(bb_rundir *r);

#endif
