/* Background preparation of training batches. Producer threads fill the next
 * step's batches (load, augment, normalize) while the executors compute the
 * current one; two step slots alternate. Within a step, workers are filled in
 * the order the executors will ask for them (round by round), so the first
 * batch of every executor is ready first. */
#ifndef BB_TRAIN_LOADER_H
#define BB_TRAIN_LOADER_H

#include "data/data.h"

#include <stddef.h>

typedef struct bb_loader bb_loader;

/* Prepares steps [first_step, end_step) for logical workers [w_lo, w_hi) of
 * k, each n samples. order lists the local workers (absolute indices) in the
 * order they will be requested. producers >= 1 background threads. */
bb_status bb_loader_create(bb_loader **out, const bb_dataset *ds, int64_t k, int64_t n, int64_t w_lo,
                           int64_t w_hi, const int64_t *order, uint64_t seed, int64_t first_step,
                           int64_t end_step, int producers);
/* Blocks until worker w's batch of `step` is ready. x: (n, c, h, w) floats;
 * y: n labels. *waited (may be NULL) gets the seconds spent blocked. Fails if a
 * producer failed (unreadable sample). */
bb_status bb_loader_get(bb_loader *l, int64_t step, int64_t w, const float **x, const int32_t **y, double *waited);
/* The step's batches are no longer needed; its slot may be refilled. */
void bb_loader_release(bb_loader *l, int64_t step);
void bb_loader_destroy(bb_loader *l);
/* The sample memory of step slot i (0, 1): a step's batches lie in it one
 * after the other in worker order, (local workers, n, c, h, w); a GPU backend
 * page-locks it for asynchronous copies. */
void bb_loader_slot_memory(const bb_loader *l, int i, void **x, size_t *bytes);
int64_t bb_loader_steps_per_epoch(const bb_loader *l);

#endif
