/* Datasets, augmentation and the epoch sampler.
 *
 * A dataset delivers sample i as normalized float32 (c, h, w) through fetch():
 * augmented (random crop with zero padding, horizontal flip) when training, with
 * randomness keyed by (seed, epoch, i) only, so a sample looks the same whichever
 * worker, thread or process asks for it. The sampler turns (seed, epoch) into one
 * permutation of the training set and hands logical worker w of minibatch j the
 * w-th slice of n inside the j-th slice of kn (RECIPE.md pitfall 4). Neither
 * knows anything about processes or threads. */
#ifndef BB_DATA_H
#define BB_DATA_H

#include "util/status.h"

#include <stdint.h>

#define BB_MAX_CHANNELS 4

typedef struct {
    int64_t crop_pad;               /* random crop after zero padding by this much; 0 = off */
    int flip;                       /* random horizontal flip */
    float mean[BB_MAX_CHANNELS];    /* per channel, pixel units in [0, 1] */
    float std[BB_MAX_CHANNELS];
} bb_augment;

typedef struct bb_dataset bb_dataset;
struct bb_dataset {
    char name[64];                  /* "fashion-mnist/train", "cifar10/test", "synthetic/train" */
    int64_t n, c, h, w;             /* sample count and the shape fetch() delivers */
    int64_t classes;
    int32_t *labels;                /* n labels, each in [0, classes) */
    uint8_t *pixels;                /* in-memory sets: (n, c, h, w) bytes; NULL for streamed ones */
    bb_augment aug;
    /* Writes sample `index` into out (c*h*w floats, normalized with aug.mean and
     * aug.std). train: apply aug.crop_pad / aug.flip keyed by (seed, epoch, index). */
    bb_status (*fetch)(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out);
    void (*destroy)(bb_dataset *d); /* frees what impl owns; NULL for in-memory sets */
    void *impl;
};

/* ---- readers (every header field and size validated; errors name the file,
 * the field or offset, what was expected and what was found) ---- */
/* IDX images (magic 0x00000803, u8, N x H x W) + labels (0x00000801, u8, N),
 * raw or gzip-compressed (detected by content, not by name). */
bb_status bb_dataset_load_idx(bb_dataset *d, const char *images_path, const char *labels_path, const char *name);
/* dir/train-images-idx3-ubyte.gz etc. (also accepts the names without .gz) */
bb_status bb_dataset_load_mnist_dir(bb_dataset *train, bb_dataset *test, const char *dir, const char *name);
/* CIFAR-10 (data_batch_1..5.bin, test_batch.bin: <1 label><3072 pixels>) or
 * CIFAR-100 (train.bin, test.bin: <coarse><fine><3072 pixels>, fine labels used). */
bb_status bb_dataset_load_cifar(bb_dataset *train, bb_dataset *test, const char *dir, int cifar100);
/* A learnable synthetic set: class prototypes (smooth random images) plus
 * per-sample noise and shifts, a pure function of (seed, index). Train and test
 * draw different samples of the same classes. */
bb_status bb_dataset_synthetic(bb_dataset *train, bb_dataset *test, int64_t n_train, int64_t n_test,
                               int64_t c, int64_t h, int64_t w, int64_t classes, uint64_t seed);
void bb_dataset_free(bb_dataset *d);

/* Per-channel mean and std of the raw pixels (in [0, 1]) of an in-memory set. */
void bb_dataset_channel_stats(const bb_dataset *d, float *mean, float *std);
/* The default augmentation for a training set of this shape: crop padding
 * (see data.c for the choice), flip on, mean/std from the set itself. */
void bb_augment_default(bb_augment *a, const bb_dataset *train);

/* ---- sampler ---- */
typedef struct {
    int64_t n_samples, k, n;        /* dataset size, logical workers, per-worker batch */
    uint64_t seed;
    int64_t epoch;                  /* epoch whose permutation perm holds; -1 none */
    int64_t *perm;
} bb_sampler;

bb_status bb_sampler_init(bb_sampler *s, int64_t n_samples, int64_t k, int64_t n, uint64_t seed);
void bb_sampler_free(bb_sampler *s);
/* floor(N / kn): training drops the last partial minibatch */
int64_t bb_sampler_steps_per_epoch(const bb_sampler *s);
/* Makes perm the permutation of epoch e (a pure function of (seed, e)). */
void bb_sampler_set_epoch(bb_sampler *s, int64_t epoch);
/* Sample indices of logical worker w in minibatch j of the current epoch. */
const int64_t *bb_sampler_worker(const bb_sampler *s, int64_t j, int64_t w);
/* Evaluation: test sample range [lo, hi) of worker w of k, covering [0, N)
 * exactly once without padding (sizes differ by at most one). */
void bb_eval_split(int64_t n_samples, int64_t k, int64_t w, int64_t *lo, int64_t *hi);

#endif
