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

/* The recipe variants (the paper's ablations) as (lr scaling, warmup) pairs. */
typedef struct { const char *name, *lr_scaling, *warmup, *help; } bb_sweep_variant;
extern const bb_sweep_variant bb_sweep_variants[];
extern const int bb_sweep_nvariants;
/* Index of a variant by name, or -1. */
int bb_sweep_variant_find(const char *name);
/* The variant a configuration is, or -1 for none of them. */
int bb_sweep_variant_of(const bb_config *c);

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
} bb_sweep_run_result;

typedef struct {
    char dir[600];
    int is_sweep;              /* a sweep directory, or a single run directory */
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
} bb_sweep_row;

/* Rows sorted by variant (table order), then kn. *rows is malloc'd. */
int bb_sweep_rows(const bb_sweep_results *r, bb_sweep_row **rows);
/* Writes summary.{md,csv,json} and curves.{csv,json} into the sweep directory
 * and prints the table to `out` (may be NULL). */
bb_status bb_sweep_write_summary(const bb_sweep_results *r, FILE *out);
void bb_sweep_print_table(const bb_sweep_row *rows, int nrows, FILE *f);

/* ---- plots (gnuplot) ---- */

/* Writes data files, gnuplot scripts and PNGs into out_dir (NULL: DIR/plots).
 * Without gnuplot the scripts are still written and BB_ERR_UNSUPPORTED says how
 * to finish. Lists the files made on `log` (may be NULL). */
bb_status bb_sweep_plot(const bb_sweep_results *r, const char *out_dir, FILE *log);
/* Whether gnuplot can run, and which PNG terminal it has ("pngcairo", "png"). */
const char *bb_plot_terminal(void);

/* ---- advise: the critical minibatch size from a short run ---- */

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
} bb_advice;

/* Reads a run directory trained with --noise-scale (metrics.jsonl "g2" and
 * "trace_sigma" per iteration) and fills the advice. */
bb_status bb_advise_analyze(const char *run_dir, bb_advice *a);
/* Writes advise.json into run_dir. */
bb_status bb_advise_write(const char *run_dir, const bb_advice *a);

#endif
