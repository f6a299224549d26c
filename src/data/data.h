/* Datasets, augmentation and the epoch sampler.
 *
 * A dataset delivers sample i as normalized float32 (c, h, w) through fetch():
 * augmented (random crop with zero padding, horizontal flip) when training, with
 * randomness keyed by (seed, epoch, i) only, so a sample looks the same whichever
 * worker, thread or process asks for it. The sampler turns (seed, epoch) into one
 * permutation of the training set and hands logical worker w of minibatch j the
 * w-th slice of n inside the j-th slice of kn (docs/TRAINING.md pitfall 4). Neither
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
     * aug.std). train: apply aug.crop_pad / aug.flip keyed by (seed, epoch, index).
     * No state is kept: safe from any number of threads. BB_ERR_INVALID for an
     * index outside [0, n) or an unusable aug (std <= 0, crop_pad < 0). */
    bb_status (*fetch)(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out);
    void (*destroy)(bb_dataset *d); /* frees what impl owns; NULL for in-memory sets */
    void *impl;
};

/* ---- readers (every header field and size validated; errors name the file,
 * the field or offset, what was expected and what was found). A reader loads
 * everything or nothing: on failure the sets are left zeroed (bb_dataset_free
 * on them is a no-op). On success aug = bb_augment_default(training set) for
 * both sets, so the test set is normalized with the training statistics. ---- */
/* IDX images (magic 0x00000803, u8, N x H x W) + labels (0x00000801, u8, N),
 * raw or gzip-compressed (detected by content, not by name); 10 classes, a
 * label >= 10 is an error. Here aug comes from this set itself. */
bb_status bb_dataset_load_idx(bb_dataset *d, const char *images_path, const char *labels_path, const char *name);
/* dir/train-images-idx3-ubyte.gz etc. (also accepts the names without .gz);
 * names the sets "<name>/train" and "<name>/test". */
bb_status bb_dataset_load_mnist_dir(bb_dataset *train, bb_dataset *test, const char *dir, const char *name);
/* CIFAR-10 (data_batch_1..5.bin, test_batch.bin: <1 label><3072 pixels>) or
 * CIFAR-100 (train.bin, test.bin: <coarse><fine><3072 pixels>, fine labels used),
 * in dir or in the dir/cifar-10-batches-bin or dir/cifar-100-binary it unpacks to.
 * Any positive whole number of records per file. */
bb_status bb_dataset_load_cifar(bb_dataset *train, bb_dataset *test, const char *dir, int cifar100);
/* The test split alone (evaluation), found as above; aug from the set itself,
 * which the caller replaces with the training normalization. */
bb_status bb_dataset_load_mnist_test(bb_dataset *test, const char *dir, const char *name);
bb_status bb_dataset_load_cifar_test(bb_dataset *test, const char *dir, int cifar100);
/* A learnable synthetic set: class prototypes (smooth random images) plus
 * per-sample noise and shifts, a pure function of (seed, index). Train and test
 * draw different samples of the same classes. */
bb_status bb_dataset_synthetic(bb_dataset *train, bb_dataset *test, int64_t n_train, int64_t n_test,
                               int64_t c, int64_t h, int64_t w, int64_t classes, uint64_t seed);
/* Frees and zeroes; safe on a zeroed set. */
void bb_dataset_free(bb_dataset *d);

/* Per-channel mean and std of the raw pixels (in [0, 1]) of an in-memory set. */
void bb_dataset_channel_stats(const bb_dataset *d, float *mean, float *std);
/* The default augmentation for a training set of this shape: crop padding
 * (see dataset.c for the choice), flip on, mean/std from the set itself. */
void bb_augment_default(bb_augment *a, const bb_dataset *train);
/* The random choices fetch(train=1) makes for (seed, epoch, index): crop window
 * top-left (oy, ox) in [0, 2*crop_pad] of the zero-padded image, and flip.
 * Output pixel (y, x) = padded[y + oy][(flip ? w-1-x : x) + ox]. */
void bb_augment_draw(const bb_augment *a, uint64_t seed, int64_t epoch, int64_t index,
                     int64_t *oy, int64_t *ox, int *flip);

/* ---- sampler ---- */
typedef struct {
    int64_t n_samples, k, n;        /* dataset size, logical workers, per-worker batch */
    uint64_t seed;
    int64_t epoch;                  /* epoch whose permutation perm holds; -1 none */
    int64_t *perm;
} bb_sampler;

/* BB_ERR_INVALID unless 1 <= kn <= n_samples. */
bb_status bb_sampler_init(bb_sampler *s, int64_t n_samples, int64_t k, int64_t n, uint64_t seed);
void bb_sampler_free(bb_sampler *s);
/* floor(N / kn): training drops the last partial minibatch */
int64_t bb_sampler_steps_per_epoch(const bb_sampler *s);
/* Makes perm the permutation of epoch e >= 0 (a pure function of (seed, e):
 * Fisher-Yates driven by bb_rng_make(seed, BB_RNG_SHUFFLE, e, 0)). */
void bb_sampler_set_epoch(bb_sampler *s, int64_t epoch);
/* Sample indices of logical worker w in minibatch j of the current epoch: the n
 * entries perm[(j*k + w)*n ...]. NULL before the first set_epoch or for (j, w)
 * outside [0, steps_per_epoch) x [0, k). */
const int64_t *bb_sampler_worker(const bb_sampler *s, int64_t j, int64_t w);
/* Evaluation: test sample range [lo, hi) of worker w of k, covering [0, N)
 * exactly once without padding (sizes differ by at most one). */
void bb_eval_split(int64_t n_samples, int64_t k, int64_t w, int64_t *lo, int64_t *hi);

#endif
