/* The configuration table and its parsing, printing and validation. */
#include "train/config.h"

#include "model/models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(bb_config, field), sizeof(((bb_config *)0)->field)
#define BIG 9.0e15

/* indexed by each enum, so that the order of the names is the enum's */
const char *const bb_data_names[] = {
    [BB_DATA_FASHION_MNIST] = "fashion-mnist", [BB_DATA_MNIST] = "mnist", [BB_DATA_CIFAR10] = "cifar10",
    [BB_DATA_CIFAR100] = "cifar100", [BB_DATA_SYNTHETIC] = "synthetic", [BB_DATA_IMAGEFOLDER] = "imagefolder", NULL};
const char *const bb_shortcut_names[] = {
    [BB_SHORTCUT_DEFAULT] = "", [BB_SHORTCUT_A] = "A", [BB_SHORTCUT_B] = "B", NULL};
const char *const bb_bad_images_names[] = {
    [BB_BAD_IMAGES_SKIP] = "skip", [BB_BAD_IMAGES_FAIL] = "fail", NULL};
const char *const bb_lr_scaling_names[] = {
    [BB_SCALE_LINEAR] = "linear", [BB_SCALE_SQRT] = "sqrt", [BB_SCALE_NONE] = "none", NULL};
const char *const bb_warmup_names[] = {
    [BB_WARMUP_GRADUAL] = "gradual", [BB_WARMUP_CONSTANT] = "constant", [BB_WARMUP_NONE] = "none", NULL};
const char *const bb_decay_names[] = {
    [BB_DECAY_STEP] = "step", [BB_DECAY_COSINE] = "cosine", [BB_DECAY_NONE] = "none", NULL};
const char *const bb_momentum_form_names[] = {
    [BB_MOMENTUM_FORM9] = "form9", [BB_MOMENTUM_FORM10] = "form10",
    [BB_MOMENTUM_FORM10_UNCORRECTED] = "form10-uncorrected", NULL};
const char *const bb_allreduce_names[] = {
    [BB_ALLREDUCE_MPI] = "mpi", [BB_ALLREDUCE_RING] = "ring", [BB_ALLREDUCE_HD] = "hd", NULL};
const char *const bb_device_names[] = {
    [BB_DEVICE_CPU] = "cpu", [BB_DEVICE_CUDA] = "cuda", NULL};
const char *const bb_kernels_names[] = {
    [BB_KERNELS_FAST] = "fast", [BB_KERNELS_AVX512] = "avx512", [BB_KERNELS_AVX2] = "avx2",
    [BB_KERNELS_PORTABLE] = "portable", [BB_KERNELS_REFERENCE] = "reference", NULL};

/* a choice field is read and written as an int */
_Static_assert(sizeof(bb_data_kind) == sizeof(int) && sizeof(bb_shortcut) == sizeof(int) &&
               sizeof(bb_bad_images) == sizeof(int) && sizeof(bb_lr_scaling) == sizeof(int) &&
               sizeof(bb_warmup) == sizeof(int) && sizeof(bb_decay) == sizeof(int) &&
               sizeof(bb_momentum_form) == sizeof(int) && sizeof(bb_allreduce) == sizeof(int) &&
               sizeof(bb_device) == sizeof(int) && sizeof(bb_kernels) == sizeof(int), "choice fields are ints");

const bb_config_field bb_config_fields[] = {
    /* model */
    {"model", BB_CF_STR, F(model), "resnet20", 0, 0, NULL,
     "resnet8/14/20/32/44/56/110 (CIFAR style), resnet18/34/50/101/152 (ImageNet style) or mlp", 1},
    {"shortcut", BB_CF_CHOICE, F(shortcut), "", 0, 0, bb_shortcut_names,
     "residual shortcut: A (zero-pad) or B (1x1 conv + BN); empty: family default", 1},
    {"width", BB_CF_INT, F(width), "0", 0, 4096, NULL, "base channel width (0: 16 CIFAR, 64 ImageNet, 256 MLP)", 1},
    {"zero-gamma", BB_CF_BOOL, F(zero_gamma), "1", 0, 1, NULL, "start the last BN gamma of each residual block at 0", 1},
    /* data */
    {"data", BB_CF_CHOICE, F(data), "fashion-mnist", 0, 0, bb_data_names,
     "training data", 1},
    {"data-dir", BB_CF_STR, F(data_dir), "", 0, 0, NULL,
     "where the data is (default: /usr/share/datasets/fashion-mnist for fashion-mnist)", 0},
    {"val-dir", BB_CF_STR, F(val_dir), "", 0, 0, NULL, "imagefolder validation root", 0},
    {"crop-pad", BB_CF_INT, F(crop_pad), "0", -1, 64, NULL, "random-crop padding in pixels (0: off; -1: the input size's default, 2 for 28x28 and 4 for 32x32)", 1},
    {"flip", BB_CF_BOOL, F(flip), "0", 0, 1, NULL, "random horizontal flips", 1},
    {"image-size", BB_CF_INT, F(image_size), "224", 8, 1024, NULL,
     "imagefolder: crop size (evaluation: short side resized to image-size / 0.875, centre crop)", 1},
    {"crop-min-area", BB_CF_FLOAT, F(crop_min_area), "0.08", 0.01, 1, NULL,
     "imagefolder: smallest random-resized crop, as a fraction of the image area", 1},
    {"holdout", BB_CF_FLOAT, F(holdout), "0.1", 0, 0.9, NULL,
     "imagefolder without --val-dir: fraction of each class held out for evaluation (0: --val-dir required)", 1},
    {"bad-images", BB_CF_CHOICE, F(bad_images), "skip", 0, 0, bb_bad_images_names,
     "imagefolder: leave out undecodable files (reported) or stop", 0},
    {"image-cache-mb", BB_CF_INT, F(image_cache_mb), "2048", 0, 1 << 30, NULL,
     "imagefolder: keep decoded images in memory when a whole set fits in this many MB (0: off)", 1},
    {"loader-threads", BB_CF_INT, F(loader_threads), "0", 0, 256, NULL,
     "background threads decoding and augmenting batches (0: 1 on cpu, a rank's cores - 1 (at most 16) on cuda)", 0},
    {"synthetic-train", BB_CF_INT, F(synthetic_train), "8192", 1, 100000000, NULL, "synthetic data: training samples", 1},
    {"synthetic-test", BB_CF_INT, F(synthetic_test), "2048", 1, 100000000, NULL, "synthetic data: test samples", 1},
    {"synthetic-classes", BB_CF_INT, F(synthetic_classes), "10", 2, 100000, NULL, "synthetic data: classes", 1},
    {"synthetic-shape", BB_CF_STR, F(synthetic_shape), "1x28x28", 0, 0, NULL, "synthetic data: CxHxW", 1},
    /* minibatch */
    {"batch-size", BB_CF_INT, F(batch_size), "128", 1, 1 << 24, NULL, "total minibatch kn (all workers together)", 1},
    {"worker-batch", BB_CF_INT, F(worker_batch), "32", 1, 1 << 20, NULL,
     "per-worker batch n: batch-norm statistics are computed over these n samples", 1},
    /* optimization */
    {"lr", BB_CF_FLOAT, F(lr), "0.1", 0, 1e6, NULL, "reference learning rate, for a minibatch of --ref-batch", 1},
    {"ref-batch", BB_CF_FLOAT, F(ref_batch), "256", 1, BIG, NULL, "the minibatch the reference lr belongs to", 1},
    {"lr-scaling", BB_CF_CHOICE, F(lr_scaling), "linear", 0, 0, bb_lr_scaling_names, "how lr follows kn / ref-batch", 1},
    {"warmup", BB_CF_CHOICE, F(warmup), "gradual", 0, 0, bb_warmup_names, "warmup kind", 1},
    {"warmup-epochs", BB_CF_FLOAT, F(warmup_epochs), "-1", -1, 1e6, NULL, "warmup length (-1: 5 when kn > ref-batch, else 0)", 1},
    {"decay", BB_CF_CHOICE, F(decay), "cosine", 0, 0, bb_decay_names, "lr decay after warmup", 1},
    {"milestones", BB_CF_STR, F(milestones), "", 0, 0, NULL,
     "step decay epochs, e.g. 30,60,80 (empty: 1/3, 2/3, 8/9 of --epochs as in the paper's 30/60/80 of 90)", 1},
    {"decay-factor", BB_CF_FLOAT, F(decay_factor), "0.1", 0, 1, NULL, "lr factor at each milestone", 1},
    {"epochs", BB_CF_FLOAT, F(epochs), "3", 0, 1e6, NULL, "training length in epochs", 1},
    {"momentum", BB_CF_FLOAT, F(momentum), "0.9", 0, 0.9999, NULL, "momentum m", 1},
    {"momentum-form", BB_CF_CHOICE, F(momentum_form), "form9", 0, 0,
     bb_momentum_form_names, "paper's eq. 9, eq. 10 with momentum correction, or eq. 10 without it", 1},
    {"nesterov", BB_CF_BOOL, F(nesterov), "0", 0, 1, NULL, "Nesterov momentum (form9 only)", 1},
    {"weight-decay", BB_CF_FLOAT, F(weight_decay), "1e-4", 0, 1, NULL, "L2 weight decay lambda", 1},
    {"wd-all", BB_CF_BOOL, F(wd_all), "0", 0, 1, NULL, "also decay BN gamma/beta and biases", 1},
    {"label-smoothing", BB_CF_FLOAT, F(label_smoothing), "0", 0, 0.999, NULL, "label smoothing epsilon", 1},
    {"bn-momentum", BB_CF_FLOAT, F(bn_momentum), "0.9", 0, 0.9999, NULL, "running-average momentum of BN statistics", 1},
    {"lars", BB_CF_BOOL, F(lars), "0", 0, 1, NULL, "layer-wise adaptive rate scaling (You et al.)", 1},
    {"lars-eta", BB_CF_FLOAT, F(lars_eta), "0.001", 0, 1, NULL, "LARS trust coefficient", 1},
    {"lars-clip", BB_CF_BOOL, F(lars_clip), "0", 0, 1, NULL,
     "LARC: the rate is min(lr, eta |w| / |g|) instead of lr eta |w| / |g| (the trust ratio only slows a tensor)", 1},
    /* run */
    {"seed", BB_CF_INT, F(seed), "1", 0, BIG, NULL, "seed of initialization, shuffling and augmentation", 1},
    {"threads", BB_CF_INT, F(threads), "0", 0, 4096, NULL, "compute threads (0: all cores, shared among local MPI ranks)", 0},
    {"out", BB_CF_STR, F(out), "runs/latest", 0, 0, NULL, "run directory: metrics, checkpoints, config", 0},
    {"resume", BB_CF_STR, F(resume), "", 0, 0, NULL, "checkpoint to continue from ('auto': the run directory's latest)", 0},
    {"overwrite", BB_CF_BOOL, F(overwrite), "0", 0, 1, NULL,
     "replace the run that --out holds (without it a directory holding a run is refused unless --resume continues "
     "that run's own checkpoint)", 0},
    {"eval-every", BB_CF_FLOAT, F(eval_every), "1", 0, 1e6, NULL, "epochs between test-set evaluations (0: only at the end)", 0},
    {"checkpoint-every", BB_CF_FLOAT, F(checkpoint_every), "1", 0, 1e6, NULL, "epochs between checkpoints (0: only at the end)", 0},
    {"max-steps", BB_CF_INT, F(max_steps), "0", 0, BIG, NULL, "stop after this many iterations (0: run all epochs)", 0},
    {"log-every", BB_CF_INT, F(log_every), "50", 1, BIG, NULL, "iterations between progress lines when not on a terminal", 0},
    {"noise-scale", BB_CF_BOOL, F(noise_scale), "0", 0, 1, NULL, "estimate the gradient noise scale B_noise every step", 0},
    /* distributed */
    {"allreduce", BB_CF_CHOICE, F(allreduce), "mpi", 0, 0, bb_allreduce_names, "allreduce algorithm across MPI ranks", 0},
    {"bucket-kb", BB_CF_INT, F(bucket_kb), "1024", 1, 1 << 22, NULL, "gradient bucket size for overlapped allreduce (KiB)", 0},
    {"watchdog", BB_CF_FLOAT, F(watchdog), "60", 0.1, 1e6, NULL, "seconds without progress from a rank before the job stops", 0},
    {"checksum-every", BB_CF_INT, F(checksum_every), "100", 0, BIG, NULL, "iterations between cross-rank weight checks (0: never)", 0},
    {"device", BB_CF_CHOICE, F(device), "cpu", 0, 0, bb_device_names, "compute device", 0},
    {"kernels", BB_CF_CHOICE, F(kernels), "fast", 0, 0, bb_kernels_names,
     "CPU operators: fast (channels-last direct convolutions on the best register kernels the CPU runs), avx512, "
     "avx2 or portable (the same with those kernels; refused when the CPU lacks them) or reference (NCHW im2col + "
     "BLAS); the mathematics is the same", 0},
    {"tf32", BB_CF_BOOL, F(tf32), "1", 0, 1, NULL,
     "cuda: TF32 tensor-core math in convolutions and GEMMs (PyTorch's default for convolutions); 0: full float32", 0},
    {"deterministic", BB_CF_BOOL, F(deterministic), "0", 0, 1, NULL,
     "cuda: deterministic convolution algorithms chosen by heuristics, so runs and resumed runs repeat bit for bit "
     "(the CPU path always does)", 0},
};
const int bb_config_nfields = (int)(sizeof bb_config_fields / sizeof bb_config_fields[0]);

const bb_config_field *bb_config_find(const char *name)
{
    for (int i = 0; i < bb_config_nfields; i++)
        if (strcmp(bb_config_fields[i].name, name) == 0) return &bb_config_fields[i];
    return NULL;
}

void bb_config_defaults(bb_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < bb_config_nfields; i++) {
        bb_status s = bb_config_set(c, bb_config_fields[i].name, bb_config_fields[i].def);
        (void)s;
    }
}

/* the index of v among a choice field's names, or -1 */
static int choice_index(const bb_config_field *f, const char *v)
{
    for (int i = 0; f->choices[i]; i++)
        if (!strcmp(f->choices[i], v)) return i;
    return -1;
}

void bb_config_choices(const bb_config_field *f, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; f->choices[i] && n < cap; i++)
        if (f->choices[i][0]) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "|" : "", f->choices[i]);
}

bb_status bb_config_set(bb_config *c, const char *name, const char *value)
{
    const bb_config_field *f = bb_config_find(name);
    if (!f) return bb_fail(BB_ERR_INVALID, "unknown option --%s", name);
    if (!value) return bb_fail(BB_ERR_INVALID, "--%s needs a value", name);
    char *dst = (char *)c + f->offset;
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case BB_CF_INT: {
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno)
            return bb_fail(BB_ERR_INVALID, "--%s: expected an integer, got '%s'", name, value);
        if ((double)v < f->min || (double)v > f->max)
            return bb_fail(BB_ERR_INVALID, "--%s: %lld is out of range [%.0f, %.0f]", name, v, f->min, f->max);
        *(int64_t *)dst = v;
        break;
    }
    case BB_CF_FLOAT: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            return bb_fail(BB_ERR_INVALID, "--%s: expected a number, got '%s'", name, value);
        if (v < f->min || v > f->max)
            return bb_fail(BB_ERR_INVALID, "--%s: %g is out of range [%g, %g]", name, v, f->min, f->max);
        *(double *)dst = v;
        break;
    }
    case BB_CF_BOOL: {
        int v;
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on")) v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off")) v = 0;
        else return bb_fail(BB_ERR_INVALID, "--%s: expected 1/0, true/false, yes/no or on/off, got '%s'", name, value);
        *(int *)dst = v;
        break;
    }
    case BB_CF_CHOICE: {
        int v = choice_index(f, value);
        if (v < 0) {
            char names[256];
            bb_config_choices(f, names, sizeof names);
            return bb_fail(BB_ERR_INVALID, "--%s: '%s' is not one of %s", name, value, names);
        }
        *(int *)dst = v;
        break;
    }
    case BB_CF_STR:
        if (strlen(value) >= f->size)
            return bb_fail(BB_ERR_INVALID, "--%s: value longer than %zu characters", name, f->size - 1);
        snprintf(dst, f->size, "%s", value);
        break;
    }
    return BB_OK;
}

void bb_config_get(const bb_config *c, const bb_config_field *f, char *buf, size_t cap)
{
    const char *src = (const char *)c + f->offset;
    switch (f->type) {
    case BB_CF_INT: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)src); break;
    case BB_CF_FLOAT: snprintf(buf, cap, "%.17g", *(const double *)src); break;
    case BB_CF_BOOL: snprintf(buf, cap, "%d", *(const int *)src); break;
    case BB_CF_CHOICE: snprintf(buf, cap, "%s", f->choices[*(const int *)src]); break;
    case BB_CF_STR: snprintf(buf, cap, "%s", src); break;
    }
}

int bb_config_milestones(const bb_config *c, double *out, int max)
{
    if (!c->milestones[0]) {
        /* the paper's 30, 60, 80 of 90 epochs, scaled to this run */
        if (max < 3) return -1;
        out[0] = c->epochs * 30.0 / 90.0;
        out[1] = c->epochs * 60.0 / 90.0;
        out[2] = c->epochs * 80.0 / 90.0;
        return 3;
    }
    int n = 0;
    const char *p = c->milestones;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || n >= max || !isfinite(v) || v < 0) return -1;
        if (n > 0 && v <= out[n - 1]) return -1;
        out[n++] = v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n;
}

double bb_config_warmup_epochs(const bb_config *c)
{
    if (c->warmup == BB_WARMUP_NONE) return 0.0;
    if (c->warmup_epochs >= 0) return c->warmup_epochs;
    return (double)c->batch_size > c->ref_batch ? 5.0 : 0.0;
}

bb_status bb_config_validate(const bb_config *c)
{
    if (bb_model_check_name(c->model) != BB_OK) return bb_fail_context(BB_ERR_INVALID, "--model");
    bb_kernels kernels;  /* whether this CPU runs them */
    if (bb_kernels_from_name(bb_kernels_names[c->kernels], &kernels) != BB_OK) return BB_ERR_INVALID;
    if (c->batch_size % c->worker_batch != 0)
        return bb_fail(BB_ERR_INVALID, "--batch-size %lld is not a multiple of --worker-batch %lld: the minibatch kn "
                       "must split into k workers of n samples each", (long long)c->batch_size, (long long)c->worker_batch);
    double ms[16];
    int nms = bb_config_milestones(c, ms, 16);
    if (nms < 0)
        return bb_fail(BB_ERR_INVALID, "--milestones: expected increasing non-negative epochs separated by commas "
                       "(at most 16), got '%s'", c->milestones);
    if (c->milestones[0] && c->decay != BB_DECAY_STEP)
        return bb_fail(BB_ERR_INVALID, "--milestones %s: milestones apply to --decay step only, and --decay is %s (they "
                       "would be ignored): drop --milestones or use --decay step", c->milestones,
                       bb_decay_names[c->decay]);
    if (c->nesterov && c->momentum_form != BB_MOMENTUM_FORM9)
        return bb_fail(BB_ERR_INVALID, "--nesterov works with --momentum-form form9 only, got %s",
                       bb_momentum_form_names[c->momentum_form]);
    if (c->lars_clip && !c->lars) return bb_fail(BB_ERR_INVALID, "--lars-clip is a form of LARS: give --lars too");
    if (c->epochs <= 0 && c->max_steps <= 0)
        return bb_fail(BB_ERR_INVALID, "--epochs must be > 0 (or give --max-steps)");
    /* a run given in epochs: warmup and milestones must fall inside it */
    for (int i = 0; c->epochs > 0 && c->milestones[0] && i < nms; i++)
        if (ms[i] >= c->epochs)
            return bb_fail(BB_ERR_INVALID, "--milestones %s: epoch %g is not within the run (--epochs %g): every "
                           "milestone must be below --epochs, or it never applies", c->milestones, ms[i], c->epochs);
    double warm = bb_config_warmup_epochs(c);
    if (c->epochs > 0 && warm > c->epochs) {
        if (c->warmup_epochs >= 0)
            return bb_fail(BB_ERR_INVALID, "--warmup-epochs %g ends after the run (--epochs %g): the peak lr would never "
                           "be reached; warmup must end no later than the run's end (--warmup-epochs at most %g)",
                           c->warmup_epochs, c->epochs, c->epochs);
        return bb_fail(BB_ERR_INVALID, "--warmup-epochs -1 means %g epochs of warmup at --batch-size %lld > --ref-batch %g, "
                       "longer than the run (--epochs %g): the peak lr would never be reached; give --warmup-epochs at "
                       "most %g, or --warmup none", warm, (long long)c->batch_size, c->ref_batch, c->epochs, c->epochs);
    }
    if (c->data == BB_DATA_IMAGEFOLDER && !c->data_dir[0])
        return bb_fail(BB_ERR_INVALID, "--data imagefolder needs --data-dir ROOT (one folder per class)");
    if (c->data == BB_DATA_IMAGEFOLDER && !c->val_dir[0] && c->holdout <= 0)
        return bb_fail(BB_ERR_INVALID, "--data imagefolder needs --val-dir VALROOT or --holdout > 0 (a fraction of each "
                       "class held out for evaluation)");
    if ((c->data == BB_DATA_CIFAR10 || c->data == BB_DATA_CIFAR100) && !c->data_dir[0])
        return bb_fail(BB_ERR_INVALID, "--data %s needs --data-dir with the binary batch files",
                       bb_data_names[c->data]);
    long long sc, sh, sw;
    char tail;
    if (sscanf(c->synthetic_shape, "%lldx%lldx%lld%c", &sc, &sh, &sw, &tail) != 3 || sc < 1 || sc > 4 || sh < 1 ||
        sw < 1 || sh > 4096 || sw > 4096)
        return bb_fail(BB_ERR_INVALID, "--synthetic-shape: expected CxHxW with C in 1..4, got '%s'", c->synthetic_shape);
    if (c->data == BB_DATA_MNIST && !c->data_dir[0])
        return bb_fail(BB_ERR_INVALID, "--data mnist needs --data-dir with the four IDX files");
    if (c->data == BB_DATA_SYNTHETIC && c->batch_size > c->synthetic_train)
        return bb_fail(BB_ERR_INVALID, "--batch-size %lld is larger than the %lld training samples (--synthetic-train)",
                       (long long)c->batch_size, (long long)c->synthetic_train);
    /* the synthetic set's size is part of the configuration: its run length is known now */
    if (c->data == BB_DATA_SYNTHETIC) BB_TRY(bb_config_check_length(c, c->synthetic_train));
    if (!c->out[0]) return bb_fail(BB_ERR_INVALID, "--out must name a run directory");
    return BB_OK;
}

bb_status bb_config_check_length(const bb_config *c, int64_t n_train)
{
    if (c->batch_size > n_train)
        return bb_fail(BB_ERR_INVALID, "--batch-size %lld is larger than the %lld training samples",
                       (long long)c->batch_size, (long long)n_train);
    if (c->epochs <= 0) return BB_OK;  /* a run of --max-steps iterations */
    int64_t spe = n_train / c->batch_size;
    int64_t total = (int64_t)floor(c->epochs * (double)spe + 0.5);
    if (total < 1)
        return bb_fail(BB_ERR_INVALID, "--epochs %g gives 0 iterations at --batch-size %lld on %lld training samples "
                       "(%lld iterations per epoch): need at least %.3g epochs for one iteration", c->epochs,
                       (long long)c->batch_size, (long long)n_train, (long long)spe, 1.0 / (double)spe);
    double ms[16];
    int nms = c->milestones[0] ? bb_config_milestones(c, ms, 16) : 0;
    for (int i = 0; i < nms; i++) {
        int64_t at = (int64_t)floor(ms[i] * (double)spe + 0.5);
        if (at >= total)
            return bb_fail(BB_ERR_INVALID, "--milestones %s: epoch %g falls at iteration %lld, the end of the run (%lld "
                           "iterations of %lld per epoch at --batch-size %lld): it would never apply", c->milestones,
                           ms[i], (long long)at, (long long)total, (long long)spe, (long long)c->batch_size);
    }
    return BB_OK;
}
