/* The configuration of a training run. One table describes every field (flag
 * name, type, default, bounds, help); it drives command-line parsing, range
 * checks, `--help`, and the copy of the configuration stored in checkpoints,
 * so a resumed run reads back exactly what it was started with. */
#ifndef BB_TRAIN_CONFIG_H
#define BB_TRAIN_CONFIG_H

#include "model/net.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

/* The choice fields hold enums, resolved from their names once (by
 * bb_config_set) and compared as enums wherever they decide something. The
 * module that acts on a choice owns its enum (the lr schedule, the momentum
 * form, the CPU operators: included above, below train/ in the pipeline);
 * these are the choices no lower module has an enum for. */
typedef enum {
    BB_DATA_FASHION_MNIST, BB_DATA_MNIST, BB_DATA_CIFAR10, BB_DATA_CIFAR100, BB_DATA_SYNTHETIC, BB_DATA_IMAGEFOLDER
} bb_data_kind;
typedef enum { BB_SHORTCUT_DEFAULT, BB_SHORTCUT_A, BB_SHORTCUT_B } bb_shortcut;
typedef enum { BB_BAD_IMAGES_SKIP, BB_BAD_IMAGES_FAIL } bb_bad_images;
typedef enum { BB_ALLREDUCE_MPI, BB_ALLREDUCE_RING, BB_ALLREDUCE_HD } bb_allreduce;
typedef enum { BB_DEVICE_CPU, BB_DEVICE_CUDA } bb_device;

/* Each choice's names, indexed by its enum (NULL-terminated): the flag
 * values, and the text that checkpoints and config.json store. */
extern const char *const bb_data_names[], *const bb_shortcut_names[], *const bb_bad_images_names[],
    *const bb_lr_scaling_names[], *const bb_warmup_names[], *const bb_decay_names[], *const bb_momentum_form_names[],
    *const bb_allreduce_names[], *const bb_device_names[], *const bb_kernels_names[];

typedef struct bb_config {
    /* model */
    char model[32];
    bb_shortcut shortcut;      /* A, B or "" (family default) */
    int64_t width;             /* 0 = family default */
    int zero_gamma;
    /* data */
    bb_data_kind data;
    char data_dir[512];
    char val_dir[512];         /* imagefolder validation root */
    int64_t crop_pad;          /* -1 = default for the input size */
    int flip;
    int64_t image_size;        /* imagefolder: training crop size */
    double crop_min_area;      /* imagefolder: smallest random-resized crop, fraction of the image */
    double holdout;            /* imagefolder without --val-dir: fraction of each class held out */
    bb_bad_images bad_images;  /* imagefolder: skip or fail */
    int64_t image_cache_mb;    /* imagefolder: decoded-image cache budget */
    int64_t loader_threads;    /* background threads preparing batches (0 = automatic) */
    int64_t synthetic_train, synthetic_test, synthetic_classes;
    char synthetic_shape[32];
    /* minibatch */
    int64_t batch_size;        /* kn */
    int64_t worker_batch;      /* n */
    /* optimization */
    double lr;                 /* reference lr for ref_batch */
    double ref_batch;
    bb_lr_scaling lr_scaling;
    bb_warmup warmup;
    double warmup_epochs;      /* -1 = 5 when kn > ref_batch, else 0 */
    bb_decay decay;
    char milestones[96];       /* epochs, comma separated */
    double decay_factor;
    double epochs;
    double momentum;
    bb_momentum_form momentum_form;
    int nesterov;
    double weight_decay;
    int wd_all;
    double label_smoothing;
    double bn_momentum;
    int lars;
    double lars_eta;
    int lars_clip;
    /* run */
    int64_t seed;
    int64_t threads;           /* 0 = all cores (divided among local MPI ranks) */
    char out[512];             /* run directory */
    char resume[512];          /* checkpoint to continue from */
    int overwrite;             /* replace the run that `out` holds (taken from the command line only, never from a checkpoint) */
    double eval_every;         /* epochs between test evaluations */
    double checkpoint_every;   /* epochs between checkpoints */
    int64_t max_steps;         /* stop after this many iterations (0 = no limit) */
    int64_t log_every;         /* iterations between progress lines when not a terminal */
    int noise_scale;           /* estimate the gradient noise scale each step */
    /* distributed */
    bb_allreduce allreduce;
    int64_t bucket_kb;
    double watchdog;           /* seconds a rank may stay silent before the job stops */
    int64_t checksum_every;    /* iterations between weight checksums across ranks */
    bb_device device;
    bb_kernels kernels;        /* CPU operators (the same mathematics) */
    int tf32;                  /* cuda: TF32 tensor-core math in convolutions and GEMMs */
    int deterministic;         /* cuda: deterministic convolution algorithms */
    /* not in the table (no flag, never stored): the command said `--resume
     * auto`, so a run directory without a checkpoint is started over */
    int resume_auto;
} bb_config;

typedef enum { BB_CF_INT, BB_CF_FLOAT, BB_CF_STR, BB_CF_BOOL, BB_CF_CHOICE } bb_config_type;

typedef struct {
    const char *name;          /* the flag without "--" and the metadata key */
    bb_config_type type;
    size_t offset, size;
    const char *def;           /* default, as text */
    double min, max;           /* numbers: inclusive bounds */
    const char *const *choices; /* BB_CF_CHOICE: the names (bb_data_names, ...); the field holds the index */
    const char *help;
    int math;                  /* 1: part of the run's mathematics (must match on resume) */
} bb_config_field;

extern const bb_config_field bb_config_fields[];
extern const int bb_config_nfields;

void bb_config_defaults(bb_config *c);
const bb_config_field *bb_config_find(const char *name);
/* Sets one field from text, checking type, bounds and choices. */
bb_status bb_config_set(bb_config *c, const char *name, const char *value);
/* Writes the field's value as text (the inverse of bb_config_set). */
void bb_config_get(const bb_config *c, const bb_config_field *f, char *buf, size_t cap);
/* A choice field's names as "a|b|c" (the empty name left out), for --help and messages. */
void bb_config_choices(const bb_config_field *f, char *buf, size_t cap);
/* Cross-field checks (kn divisible by n, warmup and milestones within the
 * run, ...), before any work is done. */
bb_status bb_config_validate(const bb_config *c);
/* The checks that need the training-set size: kn fits in it, --epochs gives at
 * least one iteration, every milestone falls before the last one. Called by
 * bb_config_validate when the configuration fixes the size (synthetic data),
 * else once the data is known (bb_schedule_from_config, the sweep's plan). */
bb_status bb_config_check_length(const bb_config *c, int64_t n_train);
/* Parses milestones "30,60,80" into out (at most max); returns the count or -1. */
int bb_config_milestones(const bb_config *c, double *out, int max);
/* k = kn / n */
static inline int64_t bb_config_workers(const bb_config *c) { return c->batch_size / c->worker_batch; }
/* Resolved warmup length in epochs. */
double bb_config_warmup_epochs(const bb_config *c);

#endif
