/* The learning rate as a pure function of the iteration (docs/TRAINING.md,
 * "Learning rate"): a reference lr for a reference minibatch, scaled to kn
 * (linearly, by square root, or not at all), gradual or constant warmup, then
 * step or cosine decay. */
#ifndef BB_OPTIM_SCHEDULE_H
#define BB_OPTIM_SCHEDULE_H

#include <stdint.h>

typedef enum { BB_SCALE_LINEAR, BB_SCALE_SQRT, BB_SCALE_NONE } bb_lr_scaling;
typedef enum { BB_WARMUP_GRADUAL, BB_WARMUP_CONSTANT, BB_WARMUP_NONE } bb_warmup;
typedef enum { BB_DECAY_STEP, BB_DECAY_COSINE, BB_DECAY_NONE } bb_decay;

#define BB_MAX_MILESTONES 16

typedef struct {
    double ref_lr;                 /* lr of the reference minibatch (0.1) */
    double ref_batch;              /* the reference minibatch (256) */
    double batch;                  /* kn */
    bb_lr_scaling scaling;
    bb_warmup warmup;
    double warmup_epochs;          /* 0 = none */
    bb_decay decay;
    double milestones[BB_MAX_MILESTONES];  /* epochs, for step decay */
    int nmilestones;
    double decay_factor;           /* 0.1 */
    int64_t steps_per_epoch;       /* floor(N / kn) */
    double epochs;                 /* total, for cosine */
} bb_schedule;

/* lr after warmup, before decay: ref_lr * scale(kn / ref_batch) */
double bb_schedule_peak(const bb_schedule *s);
/* lr used by iteration `step` (0-based) */
double bb_schedule_lr(const bb_schedule *s, int64_t step);

#endif
