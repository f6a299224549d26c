/* What many tests share: small synthetic data sets normalized with their
 * training statistics, a small training configuration, a trainer's state after
 * some steps, relative errors between float buffers, and a file as a string.
 * Failures inside are recorded with CHECK like any other. */
#ifndef BB_TESTS_FIXTURE_H
#define BB_TESTS_FIXTURE_H

#include "data/data.h"
#include "train/trainer.h"

#include <stdint.h>

typedef struct { bb_dataset train, test; } fx_data;

/* n_train and n_test samples of c x h x w in `classes` classes (bb_dataset_synthetic
 * with seed), both normalized with the training set's mean and deviation. */
void fx_synthetic(fx_data *d, int64_t n_train, int64_t n_test, int64_t c, int64_t h, int64_t w, int64_t classes,
                  uint64_t seed);
void fx_data_free(fx_data *d);

/* The defaults with model, width, kn, n and threads set, and 2 epochs. */
bb_config fx_config(const char *model, int64_t width, int64_t kn, int64_t n, int64_t threads);

/* Trains `steps` iterations of cfg on d (a fresh trainer); returns parameters,
 * momentum and BN state one after the other (*len floats, caller frees), or
 * NULL after a failed check. b_noise (may be NULL): the last step's B_noise. */
float *fx_train_state(const bb_config *cfg, fx_data *d, int steps, int64_t *len, double *b_noise);

/* ||a - b||_2 / ||b||_2 (||a - b||_2 when b is zero), in double */
double fx_rel_l2(const float *a, const float *b, int64_t n);
/* max |a - b| / max |b| (max |a - b| when b is zero) */
double fx_rel_max(const float *a, const float *b, int64_t n);

/* The file's bytes with a terminating 0 (caller frees), NULL if unreadable or over 16 MB. */
char *fx_slurp(const char *path);

#endif
