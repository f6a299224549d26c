/* Steps to a target error and kn* on hand-made curves: the interpolation
 * policy, curves that never get there or start there, the seed average, the
 * reference, and the summary files that report them. */
#include "test.h"

#include "sweep/sweep.h"
#include "util/file.h"

#include <stdlib.h>
#include <string.h>

TEST(steps_to_target_on_hand_made_curves)
{
    const double step[] = {100, 200, 300, 400};
    const double err[] = {0.5, 0.3, 0.1, 0.05};
    /* between two evaluations: the straight line, 200 + 100 * (0.3 - 0.2) / (0.3 - 0.1) */
    CHECK_NEAR(bb_steps_to_target(step, err, 4, 0.2), 250, 1e-9);
    /* exactly at an evaluation: that evaluation's step */
    CHECK_NEAR(bb_steps_to_target(step, err, 4, 0.3), 200, 1e-9);
    /* already there at the first evaluation: its step (nothing is known before it) */
    CHECK_NEAR(bb_steps_to_target(step, err, 4, 0.6), 100, 1e-9);
    CHECK_NEAR(bb_steps_to_target(step, err, 4, 0.5), 100, 1e-9);
    /* never */
    CHECK(isnan(bb_steps_to_target(step, err, 4, 0.01)));
    CHECK(isnan(bb_steps_to_target(step, err, 0, 0.5)));
    /* a missing evaluation is skipped: the line runs from 100 (0.5) to 300 (0.1) */
    const double gap[] = {0.5, NAN, 0.1, 0.05};
    CHECK_NEAR(bb_steps_to_target(step, gap, 4, 0.3), 200, 1e-9);
    /* the first crossing counts, also when the curve rises again after it */
    const double bump[] = {0.5, 0.2, 0.6, 0.1};
    CHECK_NEAR(bb_steps_to_target(step, bump, 4, 0.4), 100 + 100 * (0.1 / 0.3), 1e-9);
    CHECK_NEAR(bb_steps_to_target(step, bump, 4, 0.15), 300 + 100 * (0.45 / 0.5), 1e-9);
}

TEST(sweep_reads_every_evaluation)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s", bb_test_tmpdir());
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    /* iterations are skipped; an evaluation within an epoch counts; a resumed
     * run rewrites from its checkpoint (step 100) on; a last line without its
     * newline is still being written */
    fputs("{\"type\":\"iter\",\"step\":0,\"epoch\":0.01,\"loss\":2.3,\"test_err\":0.01}\n"
          "{\"type\":\"eval\",\"epoch\":0,\"step\":50,\"train_loss\":2,\"train_err\":0.8,\"test_loss\":1.5,\"test_err\":0.6}\n"
          "{\"type\":\"epoch\",\"epoch\":1,\"step\":100,\"train_loss\":1,\"train_err\":0.5,\"test_loss\":1,\"test_err\":0.4}\n"
          "{\"type\":\"eval\",\"epoch\":1,\"step\":130,\"train_loss\":1,\"train_err\":0.5,\"test_err\":0.35}\n"
          "{\"type\":\"epoch\",\"epoch\":1,\"step\":100,\"train_loss\":1,\"train_err\":0.5,\"test_loss\":1,\"test_err\":0.41}\n"
          "{\"type\":\"eval\",\"epoch\":1,\"step\":150,\"train_loss\":1,\"train_err\":0.4}\n"
          "{\"type\":\"epoch\",\"epoch\":2,\"step\":200,\"train_loss\":1,\"train_err\":0.3,\"test_loss\":1,\"test_err\":0.2}\n"
          "{\"type\":\"epoch\",\"epoch\":3,\"step\":300,\"train_loss\":1,\"test_err\":0.1", f);
    fclose(f);
    bb_csv t;
    CHECK_OK(bb_sweep_read_evals(dir, &t));
    CHECK(t.nrows == 3 && bb_csv_col(&t, "step") == 0 && bb_csv_col(&t, "test_err") == 1);
    if (t.nrows == 3) {
        CHECK(t.v[0] == 50 && t.v[1] == 0.6);
        CHECK(t.v[2] == 100 && t.v[3] == 0.41);  /* the resumed run's record; its later eval at 130 dropped */
        CHECK(t.v[4] == 200 && t.v[5] == 0.2);
    }
    bb_csv_free(&t);
    /* no metrics file: nothing, and no error */
    char empty[700];
    snprintf(empty, sizeof empty, "%s/none", dir);
    CHECK_OK(bb_sweep_read_evals(empty, &t));
    CHECK(t.nrows == 0);
    bb_csv_free(&t);
}

/* ---- a sweep made by hand: runs with per-epoch test errors ---- */

static void add_run(bb_sweep_results *r, int64_t kn, int variant, int seed, const double *test_err, int epochs,
                    int done, int diverged)
{
    bb_sweep_run_result *u = &r->runs[r->nruns++];
    memset(u, 0, sizeof *u);
    bb_config_defaults(&u->cfg);
    u->cfg.batch_size = kn;
    u->cfg.seed = seed;
    u->variant = variant;
    u->peak_lr = 0.1 * (double)kn / 256;
    u->steps_per_epoch = 8192 / kn;
    u->done = done;
    u->diverged = diverged;
    snprintf(u->name, sizeof u->name, "kn%05lld-%s-s%d", (long long)kn, bb_sweep_variants[variant].name, seed);
    static const char *cols[] = {"epoch", "step", "train_err", "test_err"};
    bb_csv *t = &u->epochs;
    t->ncols = 4;
    t->nrows = epochs;
    t->names = malloc(4 * sizeof *t->names);
    t->v = malloc((size_t)(4 * epochs) * sizeof *t->v);
    for (int c = 0; c < 4; c++) {
        t->names[c] = malloc(strlen(cols[c]) + 1);
        strcpy(t->names[c], cols[c]);
    }
    for (int e = 0; e < epochs; e++) {
        double *row = t->v + 4 * e;
        row[0] = e + 1;
        row[1] = (double)(e + 1) * (double)u->steps_per_epoch;
        row[2] = test_err[e];
        row[3] = test_err[e];
    }
    u->final_test_err = u->final_train_err = done && !diverged ? test_err[epochs - 1] : NAN;
}

static void hand_made_sweep(bb_sweep_results *r, const char *dir)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->is_sweep = 1;
    r->opts.tolerance = 0.005;
    r->opts.target = NAN;
    r->runs = calloc(16, sizeof *r->runs);
    int g = 0, lars = bb_sweep_variant_find("lars");
    /* 8192 samples per epoch: kn 256 makes 32 steps per epoch, kn 2048 makes 4 */
    add_run(r, 256, g, 1, (const double[]){0.30, 0.20, 0.15, 0.10}, 4, 1, 0);
    add_run(r, 256, g, 2, (const double[]){0.32, 0.22, 0.15, 0.12}, 4, 1, 0);
    add_run(r, 512, g, 1, (const double[]){0.30, 0.20, 0.14, 0.112}, 4, 1, 0);
    add_run(r, 512, g, 2, (const double[]){0.30, 0.20, 0.14, 0.112}, 4, 1, 0);
    add_run(r, 1024, g, 1, (const double[]){0.50, 0.30, 0.20, 0.13}, 4, 1, 0);
    /* within the tolerance again, but past a size that was not: not part of kn* */
    add_run(r, 2048, g, 1, (const double[]){0.60, 0.40, 0.20, 0.114}, 4, 1, 0);
    /* unfinished: neither in the table's means nor in kn* */
    add_run(r, 4096, g, 1, (const double[]){0.09}, 1, 0, 0);
    add_run(r, 256, lars, 1, (const double[]){0.30, 0.20, 0.15, 0.11}, 4, 1, 0);
    add_run(r, 512, lars, 1, (const double[]){0.30, 0.20, 0.14, 0.113}, 4, 1, 0);
    add_run(r, 1024, lars, 1, (const double[]){0.40, 0.30}, 2, 1, 1);  /* diverged */
    add_run(r, 2048, lars, 1, (const double[]){0.60, 0.40, 0.20, 0.111}, 4, 1, 0);
}

static const bb_sweep_row *find_row(const bb_sweep_row *rows, int n, int64_t kn, int variant)
{
    for (int i = 0; i < n; i++)
        if (rows[i].kn == kn && rows[i].variant == variant) return &rows[i];
    return NULL;
}

TEST(sweep_steps_to_target_and_knstar)
{
    bb_sweep_results r;
    hand_made_sweep(&r, bb_test_tmpdir());
    int lars = bb_sweep_variant_find("lars");
    double step[8], err[8];
    /* the seed average of kn 256: (0.30 + 0.32) / 2, ... at steps 32, 64, 96, 128 */
    CHECK(bb_sweep_mean_curve(&r, 256, 0, step, err, 8) == 4);
    CHECK_NEAR(err[0], 0.31, 1e-12);
    CHECK_NEAR(err[3], 0.11, 1e-12);
    CHECK(step[0] == 32 && step[3] == 128);
    CHECK(bb_sweep_mean_curve(&r, 4096, 0, step, err, 8) == 0);   /* unfinished */
    CHECK(bb_sweep_mean_curve(&r, 1024, lars, step, err, 8) == 0); /* diverged */

    bb_sweep_row *rows = NULL;
    bb_sweep_ref ref;
    int n = bb_sweep_rows(&r, &rows, &ref);
    CHECK(rows && n == 9);
    /* the reference: the recipe at its smallest kn; target = 11% + 0.5 point */
    CHECK(ref.kn == 256);
    CHECK_NEAR(ref.err, 0.11, 1e-12);
    CHECK_NEAR(ref.target, 0.115, 1e-12);
    /* kn 256: from step 96 (15%) to 128 (11%): 96 + 32 * 0.035 / 0.04 */
    const bb_sweep_row *w = find_row(rows, n, 256, 0);
    CHECK(w && fabs(w->steps_to_target - 124) < 1e-9);
    w = find_row(rows, n, 512, 0);
    CHECK(w && fabs(w->steps_to_target - (48 + 16 * 0.025 / 0.028)) < 1e-9);
    w = find_row(rows, n, 1024, 0);
    CHECK(w && isnan(w->steps_to_target));  /* ends at 13% */
    w = find_row(rows, n, 2048, 0);
    CHECK(w && fabs(w->steps_to_target - (12 + 4 * 0.085 / 0.086)) < 1e-9);
    /* kn*: 512 for the recipe (1024 is 2 points worse; 2048 does not count after it);
     * for LARS 512 too (256: 11.0%, 512: 11.3%; the diverged 1024 ends the range) */
    CHECK(ref.knstar[0 + 1] == 512);
    CHECK(ref.knstar[lars + 1] == 512);
    CHECK(bb_sweep_knstar(rows, n, 0, 0.11, 0.001) == 256);  /* tighter: only the reference */
    CHECK(bb_sweep_knstar(rows, n, 0, 0.11, 0.03) == 2048);  /* looser: every finished size */
    CHECK(bb_sweep_knstar(rows, n, 0, 0.09, 0.005) == 0);    /* the smallest is already above */
    CHECK(bb_sweep_knstar(rows, n, 0, NAN, 0.005) == 0);
    free(rows);

    /* another reference kn and an explicit target */
    r.opts.ref_kn = 512;
    n = bb_sweep_rows(&r, &rows, &ref);
    CHECK(ref.kn == 512);
    CHECK_NEAR(ref.target, 0.117, 1e-12);
    free(rows);
    r.opts.ref_kn = 0;
    r.opts.target = 0.2;
    n = bb_sweep_rows(&r, &rows, &ref);
    w = find_row(rows, n, 1024, 0);
    CHECK(w && fabs(w->steps_to_target - 24) < 1e-9);  /* 20% at its third epoch, step 24 */
    w = find_row(rows, n, 256, 0);
    CHECK(w && fabs(w->steps_to_target - (64 + 32 * 0.01 / 0.06)) < 1e-9);  /* mean 21% at 64 -> 15% at 96 */
    free(rows);

    /* evaluations within epochs (--eval-every < 1) refine the curve: kn 1024 evaluated every half epoch */
    for (int i = 0; i < r.nruns; i++) {
        if (r.runs[i].cfg.batch_size != 1024 || r.runs[i].variant != 0) continue;
        static const double ev[] = {4, 0.6, 8, 0.5, 12, 0.3, 16, 0.3, 20, 0.2, 24, 0.2, 28, 0.12, 32, 0.11};
        bb_csv *t = &r.runs[i].evals;
        t->ncols = 2;
        t->nrows = 8;
        t->names = malloc(2 * sizeof *t->names);
        t->names[0] = malloc(5);
        strcpy(t->names[0], "step");
        t->names[1] = malloc(9);
        strcpy(t->names[1], "test_err");
        t->v = malloc(sizeof ev);
        memcpy(t->v, ev, sizeof ev);
    }
    r.opts.target = NAN;
    n = bb_sweep_rows(&r, &rows, &ref);
    w = find_row(rows, n, 1024, 0);
    CHECK(w && fabs(w->steps_to_target - 30) < 1e-9);  /* 28 + 4 * 0.005 / 0.01; the epochs alone: never */
    CHECK(ref.knstar[1] == 512);                         /* kn* stays with the final errors */
    free(rows);

    /* the summary files carry them */
    r.opts.target = NAN;
    CHECK_OK(bb_sweep_write_summary(&r, NULL));
    char path[800];
    unsigned char *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/summary.md", r.dir);
    CHECK_OK(bb_file_read_all(path, 1 << 20, &text, &len));
    CHECK(text && strstr((char *)text, "| steps to target |"));
    CHECK(text && strstr((char *)text, "| 256 | gradual | 0.1 | 2 | 11.00 +- 1.41 | 11.00 +- 1.41 | 0s | 124 |"));
    CHECK(text && strstr((char *)text, "| 1024 | gradual | 0.4 | 1 | 13.00 | 13.00 | 0s | 30 |"));
    CHECK(text && strstr((char *)text, "target (steps to target) 11.50%"));
    CHECK(text && strstr((char *)text, "gradual 512, lars 512"));
    free(text);
    snprintf(path, sizeof path, "%s/summary.json", r.dir);
    CHECK_OK(bb_file_read_all(path, 1 << 20, &text, &len));
    CHECK(text && strstr((char *)text, "\"knstar\":{\"gradual\":512,\"lars\":512}"));
    free(text);
    snprintf(path, sizeof path, "%s/summary.csv", r.dir);
    CHECK_OK(bb_file_read_all(path, 1 << 20, &text, &len));
    CHECK(text && strstr((char *)text, "\n512,gradual,0.2,2,2,0,0.112,0,0.112,0,0,62.2857,1\n"));
    CHECK(text && strstr((char *)text, "\n1024,gradual,0.4,1,1,0,0.13,0,0.13,0,0,30,0\n"));
    free(text);
    /* without the recipe, the first variant that finished is the reference */
    for (int i = 0; i < r.nruns; i++)
        if (r.runs[i].variant == 0) r.runs[i].variant = -1;
    n = bb_sweep_rows(&r, &rows, &ref);
    CHECK(ref.variant == lars && ref.kn == 256);
    CHECK_NEAR(ref.err, 0.11, 1e-12);
    CHECK(ref.knstar[lars + 1] == 512 && ref.knstar[0] == 512);  /* "other" (the former recipe) too */
    free(rows);
    bb_sweep_results_free(&r);
}
