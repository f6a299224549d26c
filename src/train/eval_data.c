/* What evaluating a checkpoint needs: the test split, normalized as the run's
 * training data was. The checkpoint records that normalization and the
 * training-set size, so the training files need not be there; a stand-in
 * with the training split's shape and size (and no samples) takes its place.
 * Image folders, synthetic sets and checkpoints without the record load both
 * splits as training does. */
#include "train/trainer.h"
#include "train/trainer_internal.h"

#include "util/safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* the stand-in has no labels, which the loader refuses; its fetch refuses too */
static bb_status not_loaded(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out)
{
    (void)index; (void)train; (void)seed; (void)epoch; (void)out;
    return bb_fail(BB_ERR_INVALID, "%s: the training split was not loaded (evaluation only)", d->name);
}

/* "a,b,c": exactly c finite numbers */
static int parse_floats(const char *s, float *out, int64_t c)
{
    for (int64_t i = 0; i < c; i++) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !(v > -1e30 && v < 1e30)) return 0;
        out[i] = (float)v;
        s = end;
        if (i + 1 < c && *s++ != ',') return 0;
    }
    return *s == 0;
}

/* The checkpoint's record of the training split: 1 when present and whole. */
static bb_status read_record(const char *ckpt, int64_t c, int64_t *n_train, bb_augment *aug, int *found)
{
    *found = 0;
    bb_st_file f;
    BB_TRY(bb_st_read(&f, ckpt));
    const char *n = bb_st_meta(&f, "train_samples"), *mean = bb_st_meta(&f, "data_mean"), *std = bb_st_meta(&f, "data_std");
    bb_status s = BB_OK;
    if (n && mean && std) {
        char *end;
        errno = 0;
        long long v = strtoll(n, &end, 10);
        memset(aug, 0, sizeof *aug);
        for (int i = 0; i < BB_MAX_CHANNELS; i++) aug->std[i] = 1.0f;
        if (end == n || *end || errno || v < 1 || c > BB_MAX_CHANNELS || !parse_floats(mean, aug->mean, c) ||
            !parse_floats(std, aug->std, c))
            s = bb_fail(BB_ERR_FORMAT, "%s: metadata train_samples '%s', data_mean '%s', data_std '%s': expected a "
                        "positive count and %lld numbers each", ckpt, n, mean, std, (long long)c);
        else {
            *n_train = v;
            *found = 1;
        }
    }
    bb_st_close(&f);
    return s;
}

bb_status bb_trainer_create_eval(bb_trainer **out, const bb_config *cfg, bb_comm *comm, const char *ckpt)
{
    *out = NULL;
    int idx = cfg->data == BB_DATA_FASHION_MNIST || cfg->data == BB_DATA_MNIST;
    int cifar = cfg->data == BB_DATA_CIFAR10 || cfg->data == BB_DATA_CIFAR100;
    if (!idx && !cifar) return bb_trainer_create(out, cfg, comm);
    BB_TRY(bb_config_validate(cfg));
    bb_dataset *train = calloc(1, sizeof *train), *test = calloc(1, sizeof *test);
    if (!train || !test) { free(train); free(test); return bb_fail(BB_ERR_NOMEM, "out of memory"); }
    const char *dir = cfg->data_dir[0] ? cfg->data_dir : "/usr/share/datasets/fashion-mnist";
    bb_status s = idx ? bb_dataset_load_mnist_test(test, dir, bb_data_names[cfg->data])
                      : bb_dataset_load_cifar_test(test, dir, cfg->data == BB_DATA_CIFAR100);
    int found = 0;
    int64_t n_train = 0;
    bb_augment aug;
    if (s == BB_OK) s = read_record(ckpt, test->c, &n_train, &aug, &found);
    if (s == BB_OK && found) {
        if (cfg->crop_pad >= 0) aug.crop_pad = cfg->crop_pad;
        aug.flip = cfg->flip;
        test->aug = aug;
        snprintf(train->name, sizeof train->name, "%.40s/train", bb_data_names[cfg->data]);
        train->n = n_train;
        train->c = test->c;
        train->h = test->h;
        train->w = test->w;
        train->classes = test->classes;
        train->aug = aug;
        train->fetch = not_loaded;
        s = bb_trainer_create_with_data(out, cfg, comm, train, test);
    }
    if (s != BB_OK || !found) {
        bb_dataset_free(train);
        bb_dataset_free(test);
        free(train);
        free(test);
        return s != BB_OK ? s : bb_trainer_create(out, cfg, comm);  /* an older checkpoint: both splits */
    }
    (*out)->own_data = 1;
    return BB_OK;
}
