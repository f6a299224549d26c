/* Choosing the minibatch size: a sweep trains one configuration at several
 * total minibatch sizes kn (n fixed), seeds and recipe variants, each run in
 * its own directory through the trainer, and continues after an interruption
 * (finished runs are skipped, unfinished ones resume from their checkpoints).
 * The collected results give the summary table, the curves and the plots.
 *
 * Layout of a sweep directory (docs/SWEEP.md):
 *   sweep.json                 the shared configuration (all but kn, seed, variant)
 *   runs/kn00256-gradual-s1/   one `bigbatch train` run directory each, plus
 *                              done.json when the run finished (or diverged)
 *   summary.{md,csv,json}      the table: one row per (kn, variant)
 *   curves.{csv,json}          every run's per-epoch record
 *   plots/                     PNGs, with the gnuplot scripts and data behind them */
#ifndef BB_SWEEP_SWEEP_H
#define BB_SWEEP_SWEEP_H

#include "comm/comm.h"
#include "sweep/csv.h"
#include "train/config.h"

#include <stdio.h>

/* The recipe variants: the paper's ablations as (lr scaling, warmup) pairs,
 * and recipes from the literature that aim to extend the largest useful kn
 * (LARS, a longer warmup, label smoothing, a combination). Each only sets
 * training flags of its runs. */
typedef struct {
    const char *name;
    bb_lr_scaling lr_scaling;
    bb_warmup warmup;
    const char *help;
    double warmup_factor;      /* x the shared warmup length (at most half the epochs); 1 keeps it */
    int lars;                  /* 1: --lars, 2: --lars --lars-clip (LARC); eta: the shared --lars-eta */
    double label_smoothing;    /* > 0: --label-smoothing; 0 keeps the shared value */
    int group;                 /* BB_SWEEP_PAPER or BB_SWEEP_BEYOND (--variants paper|beyond) */
} bb_sweep_variant;
enum { BB_SWEEP_PAPER = 1, BB_SWEEP_BEYOND = 2 };
extern const bb_sweep_variant bb_sweep_variants[];
/* per-variant tables are indexed by variant + 1 ([0]: a run of none of them) */
#define BB_SWEEP_VSLOTS 16
extern const int bb_sweep_nvariants;
/* Index of a variant by name, or -1. */
int bb_sweep_variant_find(const char *name);
/* The variant a run is, or -1 for none of them. A sweep's run name
 * ("kn00512-warmup-long-s1") names it, and its configuration must agree; without
 * a name (NULL, or another name) the configuration alone decides, and then a
 * changed warmup length is not visible (warmup-long reads as gradual). */
int bb_sweep_variant_of(const bb_config *c, const char *run_name);
/* Parses "gradual,lars", "paper" (the paper's ablations), "beyond" (the other
 * recipes) or "all" into indices; returns the count, or -1 with a message. */
int bb_sweep_parse_variants(const char *text, int *out, int max);

#define BB_SWEEP_MAX 32

typedef struct {
    bb_config base;            /* out = the sweep directory */
    int64_t sizes[BB_SWEEP_MAX];
    int nsizes;
    int64_t seeds[BB_SWEEP_MAX];
    int nseeds;
    int variants[BB_SWEEP_MAX];
    int nvariants;
} bb_sweep_spec;

/* Parses "256,512,1024" (or "256:16384", every power of two between) into
 * out, sorted ascending; returns the count, or -1 with a message. */
int bb_sweep_parse_list(const char *text, int64_t *out, int max, const char *flag);

/* The configuration of one run of the plan and its directory name. */
void bb_sweep_run_config(const bb_sweep_spec *s, int64_t kn, int variant, int64_t seed, bb_config *out, char *name,
                         size_t cap);

typedef struct { int planned, skipped, finished, diverged, unfinished; } bb_sweep_tally;

/* Runs the plan: seed by seed, variant by variant, kn ascending. Returns
 * BB_ERR_INTERRUPTED after a signal (the current run checkpointed), other
 * failures as they come; a diverged run is recorded and the sweep goes on. */
bb_status bb_sweep_run(const bb_sweep_spec *s, bb_comm *comm, bb_sweep_tally *tally);

/* ---- results ---- */

typedef struct {
    char name[128], dir[700];
    bb_config cfg;
    int variant;               /* index into bb_sweep_variants, -1 if none */
    double peak_lr;
    int64_t steps_per_epoch, total_steps, steps_done;
    int done, diverged;        /* from done.json */
    double final_test_err, final_test_top5, final_train_err, final_train_loss, final_test_loss;
    double train_s;            /* sum of the iterations' times */
    bb_csv epochs, iters;      /* epochs: one row per epoch (the last record of each) */
    bb_csv evals;              /* every test evaluation (step, test_err), also within epochs (--eval-every
                                  < 1), from metrics.jsonl; filled by bb_sweep_collect only */
} bb_sweep_run_result;

/* What steps-to-target and kn* measure against (`--tolerance`, `--target`, `--ref-kn`). */
typedef struct {
    double tolerance;          /* kn*: the largest kn within this (error fraction) of the reference; 0.005 */
    double target;             /* steps to this test error (fraction); NAN: the reference's error + tolerance */
    int64_t ref_kn;            /* the reference kn (of the recipe, variant 0, when it ran); 0: its smallest kn */
} bb_sweep_target_opts;

typedef struct {
    char dir[600];
    int is_sweep;              /* a sweep directory, or a single run directory */
    bb_sweep_target_opts opts; /* defaults from bb_sweep_collect; callers may change them */
    bb_sweep_run_result *runs;
    int nruns;
} bb_sweep_results;

/* Reads one run directory (config.json, epochs.csv, iters.csv, done.json). */
bb_status bb_sweep_read_run(const char *dir, bb_sweep_run_result *r);
/* Reads every run of a sweep directory, or the one run of a run directory. */
bb_status bb_sweep_collect(const char *dir, bb_sweep_results *r);
void bb_sweep_results_free(bb_sweep_results *r);

/* One row of the table: the finished runs of one (kn, variant), over seeds. */
typedef struct {
    int64_t kn;
    int variant;
    double lr;
    int runs, finished, diverged;
    double test_mean, test_std, train_mean, train_std, time_mean;
    double steps_to_target;    /* first step of the seed-averaged test error curve at or below the target; NAN: never */
} bb_sweep_row;

/* The reference a table is measured against, and kn* of every variant. */
typedef struct {
    int64_t kn;                /* the reference kn; 0 when there is no finished run */
    int variant;               /* the reference variant: 0 (the recipe), else the first that finished */
    double err;                /* its mean final test error */
    double tolerance, target;  /* as used (the target resolved) */
    int64_t knstar[BB_SWEEP_VSLOTS]; /* per variant (index + 1; [0] for "other"): kn*, 0 if none */
} bb_sweep_ref;

/* Rows sorted by variant (table order), then kn, with their steps to the
 * target of r->opts. *rows is malloc'd. ref (may be NULL) gets the reference
 * and kn*. */
int bb_sweep_rows(const bb_sweep_results *r, bb_sweep_row **rows, bb_sweep_ref *ref);

/* ---- steps to a target error (Shallue et al.) and kn* ---- */

/* The first step at which the curve err(step) (n points, steps increasing) is
 * at or below target: linear interpolation between the last evaluation above
 * it and the first at or below it; the step of the first evaluation when that
 * one is already at or below (what came before it is not known). Points with
 * a non-finite error are skipped. NAN when the curve never gets there. */
double bb_steps_to_target(const double *step, const double *err, int64_t n, double target);
/* Every test evaluation of a run directory (metrics.jsonl records "epoch"
 * and "eval" with a test_err) as a table with columns step and test_err,
 * steps increasing (a later record for the same or an earlier step, as a
 * resumed run writes, replaces the earlier ones). No file: an empty table. */
bb_status bb_sweep_read_evals(const char *run_dir, bb_csv *out);
/* The seed-averaged test error curve of the finished runs of (kn, variant):
 * the evaluations all of them have at the same step (each run's evals, or its
 * per-epoch records without them), up to the first that one of them lacks.
 * Writes at most cap points; returns the count. */
int64_t bb_sweep_mean_curve(const bb_sweep_results *r, int64_t kn, int variant, double *step, double *err, int64_t cap);
/* Fills each row's steps_to_target and the reference (bb_sweep_rows calls it). */
void bb_sweep_measure(const bb_sweep_results *r, bb_sweep_row *rows, int nrows, bb_sweep_ref *ref);
/* kn* of one variant: the largest kn such that it and every smaller kn of the
 * variant that finished have a mean final test error <= ref_err + tolerance
 * (0 when the smallest one is already above). */
int64_t bb_sweep_knstar(const bb_sweep_row *rows, int nrows, int variant, double ref_err, double tolerance);
/* Writes summary.{md,csv,json} and curves.{csv,json} into the sweep directory
 * and prints the table to `out` (may be NULL). */
bb_status bb_sweep_write_summary(const bb_sweep_results *r, FILE *out);
void bb_sweep_print_table(const bb_sweep_row *rows, int nrows, const bb_sweep_ref *ref, FILE *f);

/* ---- plots (gnuplot) ---- */

/* Writes data files, gnuplot scripts and PNGs into out_dir (NULL: DIR/plots).
 * Without gnuplot the scripts are still written and BB_ERR_UNSUPPORTED says how
 * to finish. Lists the files made on `log` (may be NULL). */
bb_status bb_sweep_plot(const bb_sweep_results *r, const char *out_dir, FILE *log);
/* Whether gnuplot can run, and which PNG terminal it has ("pngcairo", "png"). */
const char *bb_plot_terminal(void);

/* ---- advise: the critical minibatch size from a short run ---- */

/* B_noise over training: measured points (epoch, B), epochs increasing; B is
 * the first point's before it, log-log interpolated between points, the last
 * point's up to e0 = max(last epoch, growth_from), and grows as
 * (e / e0)^growth after that (McCandlish et al.: B_noise grows as the loss
 * falls). */
#define BB_PROFILE_MAX 16
typedef struct {
    double epoch[BB_PROFILE_MAX], b[BB_PROFILE_MAX];
    int n;
    double growth;
    double growth_from;        /* epochs; 0: right after the last point */
} bb_noise_profile;

double bb_noise_profile_at(const bb_noise_profile *p, double epoch);
/* The critical batch of a whole run of `epochs` epochs at minibatch kn:
 * B_crit = E_min / S_min, where each step at kn advances S_min by
 * 1 / (1 + B/kn) and E_min by kn / (1 + kn/B) (S = S_min (1 + B/kn),
 * E = E_min (1 + kn/B) phase by phase), i.e. the mean of B weighted by
 * 1 / (B + kn) over the run. `measured` (may be NULL) gets the share of that
 * weight that falls within the profile's measured epochs. */
double bb_critical_batch(const bb_noise_profile *p, double epochs, double kn, double *measured);

/* The budget at which a larger kn is predicted to hold the error: the
 * smallest number of epochs whose B_crit (at the reference kn) reaches it;
 * 0 when every budget's does, INFINITY when none up to 10^4 epochs does. */
double bb_budget_for(const bb_noise_profile *p, double kn, double target);

#define BB_HOLD_MAX 5
typedef struct {
    int64_t kn, n, steps, n_train;
    double epoch;              /* epochs trained */
    double b_noise;            /* ratio of the mean estimates over the second half of the run */
    double b_lo, b_hi;         /* smallest and largest ratio over 5 blocks of that half */
    double b_early;            /* the same over the first quarter (B_noise grows as the loss falls) */
    double b_ema;              /* the trainer's running estimate at the last step */
    double img_s;              /* training throughput of the run */
    double suggested_kn;       /* B_noise rounded to a power of two (at least n) */
    double suggested_lr;       /* the linear rule's lr for it */
    /* the prediction for an epoch budget (bb_advise_predict) */
    double budget;             /* epochs */
    double growth;             /* the exponent used after the run */
    double growth_run;         /* the run's own trend, first quarter -> second half (NAN if none) */
    double b_crit, b_crit_lo, b_crit_hi;   /* B_crit over the budget and its range */
    double measured_share;     /* share of B_crit's weight within the epochs the run measured */
    double knstar;             /* predicted kn*: B_crit, at least the run's kn */
    /* the epochs 2, 4, ... 32 times the run's kn need to hold the error
     * (bb_budget_for with the growth above; lo/hi: the range's profiles) */
    int nhold;
    double hold_kn[BB_HOLD_MAX], hold_epochs[BB_HOLD_MAX], hold_lo[BB_HOLD_MAX], hold_hi[BB_HOLD_MAX];
} bb_advice;

/* Reads a run directory trained with --noise-scale (metrics.jsonl "g2" and
 * "trace_sigma" per iteration) and fills the advice. */
bb_status bb_advise_analyze(const char *run_dir, bb_advice *a);
/* The profile the short run measured (first quarter, second half) with the
 * given growth after it, from epoch 1 at the earliest (B_noise first falls
 * over the first epoch, then grows); B_noise replaced by b (its block range
 * for the prediction's range). */
void bb_advise_profile(const bb_advice *a, double b, double growth, bb_noise_profile *p);
/* kn* for `budget` epochs: B_crit of the profile at the run's kn (at least
 * that kn, the reference kn* is measured against); the range
 * takes B_noise's block minimum with half the growth and its block maximum
 * with 1.5 times it. Also the inverse for larger kn (hold_*). */
void bb_advise_predict(bb_advice *a, double budget, double growth);
/* Writes advise.json into run_dir. */
bb_status bb_advise_write(const char *run_dir, const bb_advice *a);

#endif
