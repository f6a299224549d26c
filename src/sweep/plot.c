/* Plots of a sweep or of one run, made by gnuplot from generated scripts. The
 * data files (whitespace columns, one block per run or variant) and the .gp
 * scripts stay next to the PNGs, so a figure can be restyled and remade with
 * `cd DIR/plots && gnuplot NAME.gp`. Figures in the manner of Goyal et al.:
 * test error vs minibatch size, training error of a small vs a large
 * minibatch, warmup variants; plus lr schedules, the lr scaling variants and
 * the gradient noise scale. */
#include "sweep/sweep.h"

#include "util/file.h"
#include "util/json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 1000
#define H 640

/* ---- running gnuplot ---- */

/* Runs `gnuplot ARGS...` in `dir` with output to `log` (NULL: /dev/null);
 * returns its exit status, or -1 if it could not run. */
static int run_gnuplot(const char *dir, const char *log, const char *arg0, const char *arg1)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (dir && chdir(dir) != 0) _exit(127);
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        execlp("gnuplot", "gnuplot", arg0, arg1, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (!WIFEXITED(st)) return -1;
    return WEXITSTATUS(st) == 127 ? -1 : WEXITSTATUS(st);
}

const char *bb_plot_terminal(void)
{
    static int probed;
    static const char *term;
    if (!probed) {
        probed = 1;
        if (run_gnuplot(NULL, NULL, "-e", "set terminal pngcairo") == 0) term = "pngcairo";
        else if (run_gnuplot(NULL, NULL, "-e", "set terminal png") == 0) term = "png";
    }
    return term;
}

/* ---- data ---- */

typedef struct {
    const bb_sweep_results *r;
    char dir[700];
    const char *term;
    FILE *log;
    int made, failed;
    double b_noise;                 /* from DIR/advise/advise.json, 0 if none */
    double knstar;                  /* advise's predicted kn* for the budget there, 0 if none */
    bb_sweep_run_result advise;     /* that run, when present */
    int have_advise;
} plot_ctx;

/* One block: the run's training error per iteration, averaged over bins of
 * 1/8 epoch (a single iteration when an epoch has fewer than 8): epoch err% lr */
static void write_iter_block(FILE *f, const bb_sweep_run_result *u)
{
    const bb_csv *t = &u->iters;
    int ce = bb_csv_col(t, "epoch"), cr = bb_csv_col(t, "err"), cl = bb_csv_col(t, "lr"), cs = bb_csv_col(t, "step");
    int64_t spe = u->steps_per_epoch > 0 ? u->steps_per_epoch : 1;
    fprintf(f, "# %s: epoch train_err_%% lr (bins of 1/8 epoch)\n", u->name);
    if (t->nrows == 0) fprintf(f, "? ? ?\n");  /* an empty block would shift the index of the next ones */
    double se = 0, sr = 0, sl = 0;
    int64_t cnt = 0, bin = -1;
    for (int64_t i = 0; i <= t->nrows; i++) {
        int64_t b = i < t->nrows ? (int64_t)bb_csv_at(t, i, cs) * 8 / spe : -2;
        if (b != bin && cnt > 0) {
            fprintf(f, "%.6g %.6g %.6g\n", se / (double)cnt, 100 * sr / (double)cnt, sl / (double)cnt);
            se = sr = sl = 0;
            cnt = 0;
        }
        if (i == t->nrows) break;
        bin = b;
        se += bb_csv_at(t, i, ce);
        sr += bb_csv_at(t, i, cr);
        sl += bb_csv_at(t, i, cl);
        cnt++;
    }
    fprintf(f, "\n\n");
}

/* One block: per-iteration lr and B_noise (0 = no estimate yet): epoch lr b_noise */
static void write_lr_block(FILE *f, const bb_sweep_run_result *u)
{
    const bb_csv *t = &u->iters;
    int ce = bb_csv_col(t, "epoch"), cl = bb_csv_col(t, "lr"), cb = bb_csv_col(t, "b_noise");
    int64_t every = t->nrows > 4000 ? t->nrows / 2000 : 1;
    fprintf(f, "# %s: epoch lr b_noise\n", u->name);
    if (t->nrows == 0) fprintf(f, "? ? ?\n");
    /* the lr holds during an iteration: the point at its start */
    for (int64_t i = 0; i < t->nrows; i += every) {
        double b = bb_csv_at(t, i, cb);
        double e0 = bb_csv_at(t, i, ce) - 1.0 / (double)(u->steps_per_epoch > 0 ? u->steps_per_epoch : 1);
        fprintf(f, "%.6g %.6g ", e0 < 0 ? 0 : e0, bb_csv_at(t, i, cl));
        if (b > 0) fprintf(f, "%.6g\n", b);
        else fprintf(f, "?\n");
    }
    fprintf(f, "\n\n");
}

/* One block: per-epoch records at the fractional epoch they were written
 * (a run stopped mid-epoch has a record for its partial epoch):
 * epoch train_err% test_err% */
static void write_epoch_block(FILE *f, const bb_sweep_run_result *u)
{
    const bb_csv *t = &u->epochs;
    double spe = u->steps_per_epoch > 0 ? (double)u->steps_per_epoch : 1;
    fprintf(f, "# %s: epoch train_err_%% test_err_%%\n", u->name);
    if (t->nrows == 0) fprintf(f, "? ? ?\n");
    for (int64_t i = 0; i < t->nrows; i++) {
        double te = bb_csv_at(t, i, bb_csv_col(t, "test_err"));
        fprintf(f, "%.6g %.6g ", bb_csv_at(t, i, bb_csv_col(t, "step")) / spe, 100 * bb_csv_at(t, i, bb_csv_col(t, "train_err")));
        if (isfinite(te)) fprintf(f, "%.6g\n", 100 * te);
        else fprintf(f, "?\n");
    }
    fprintf(f, "\n\n");
}

static bb_status write_runs_data(FILE *f, void *arg)
{
    const plot_ctx *c = arg;
    for (int i = 0; i < c->r->nruns; i++) write_iter_block(f, &c->r->runs[i]);
    return BB_OK;
}

static bb_status write_lr_data(FILE *f, void *arg)
{
    const plot_ctx *c = arg;
    for (int i = 0; i < c->r->nruns; i++) write_lr_block(f, &c->r->runs[i]);
    if (c->have_advise) write_lr_block(f, &c->advise);  /* the last block */
    return BB_OK;
}

static bb_status write_epoch_data(FILE *f, void *arg)
{
    const plot_ctx *c = arg;
    for (int i = 0; i < c->r->nruns; i++) write_epoch_block(f, &c->r->runs[i]);
    return BB_OK;
}

/* summary.dat: one block per variant in table order: kn test% std train% std */
typedef struct { const plot_ctx *c; const bb_sweep_row *rows; int nrows; int *block_of_variant; } sum_arg;

static bb_status write_summary_data(FILE *f, void *arg)
{
    sum_arg *a = arg;
    int block = 0;
    for (int v = -1; v < bb_sweep_nvariants; v++) {
        int any = 0;
        for (int i = 0; i < a->nrows; i++) {
            const bb_sweep_row *w = &a->rows[i];
            if (w->variant != v) continue;
            if (!any) fprintf(f, "# %s: kn test_err_%% std train_err_%% std\n", v >= 0 ? bb_sweep_variants[v].name : "other");
            any = 1;
            if (isfinite(w->test_mean))
                fprintf(f, "%lld %.6g %.6g %.6g %.6g\n", (long long)w->kn, 100 * w->test_mean, 100 * w->test_std,
                        100 * w->train_mean, 100 * w->train_std);
            else
                fprintf(f, "%lld ? ? ? ?\n", (long long)w->kn);
        }
        if (any) {
            fprintf(f, "\n\n");
            a->block_of_variant[v + 1] = block++;
        }
    }
    return BB_OK;
}

/* steps.dat: one block per variant with a finished row, in table order: kn steps_to_target */
typedef struct { const bb_sweep_row *rows; int nrows; int *block_of_variant; } steps_arg;

static bb_status write_steps_data(FILE *f, void *arg)
{
    steps_arg *a = arg;
    int block = 0;
    for (int v = -1; v < bb_sweep_nvariants; v++) {
        int any = 0;
        for (int i = 0; i < a->nrows; i++) any |= a->rows[i].variant == v && a->rows[i].finished > 0;
        if (!any) continue;
        fprintf(f, "# %s: kn steps_to_target\n", v >= 0 ? bb_sweep_variants[v].name : "other");
        for (int i = 0; i < a->nrows; i++) {
            const bb_sweep_row *w = &a->rows[i];
            if (w->variant != v || w->finished == 0) continue;
            if (isfinite(w->steps_to_target)) fprintf(f, "%lld %.6g\n", (long long)w->kn, w->steps_to_target);
            else fprintf(f, "%lld ?\n", (long long)w->kn);
        }
        fprintf(f, "\n\n");
        a->block_of_variant[v + 1] = block++;
    }
    return BB_OK;
}

/* ---- scripts ---- */

static void kn_label(int64_t kn, char *buf, size_t cap)
{
    if (kn >= 1024 && kn % 1024 == 0) snprintf(buf, cap, "%lldk", (long long)(kn / 1024));
    else snprintf(buf, cap, "%lld", (long long)kn);
}

static void preamble(FILE *f, const plot_ctx *c, const char *name, int w, int h)
{
    if (!c->term || !strcmp(c->term, "pngcairo"))  /* without gnuplot here: scripts for one that has cairo */
        fprintf(f, "set terminal pngcairo noenhanced size %d,%d font \"DejaVu Sans,11\" linewidth 1.5\n", w, h);
    else
        fprintf(f, "set terminal png noenhanced size %d,%d\n", w, h);
    fprintf(f, "set output \"%s.png\"\nset datafile missing \"?\"\nset grid lc rgb \"#d8d8d8\"\nset key box opaque\n"
            "set border lw 1\n", name);
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                                   "#17becf", "#7f7f7f", "#bcbd22"};
    for (int i = 0; i < 10; i++) fprintf(f, "set linetype %d lc rgb \"%s\" lw 2 pt 7 ps 1.1\n", i + 1, colors[i]);
}

/* The setup in words, for titles: "resnet8 width 8, fashion-mnist, 4 epochs, n = 32" */
static void setup_text(const bb_config *cfg, char *buf, size_t cap)
{
    char width[32] = "";
    if (cfg->width > 0) snprintf(width, sizeof width, " width %lld", (long long)cfg->width);
    snprintf(buf, cap, "%s%s, %s, %g epochs, %s decay, n = %lld per worker", cfg->model, width,
             bb_data_names[cfg->data], cfg->epochs, bb_decay_names[cfg->decay], (long long)cfg->worker_batch);
}

/* Writes NAME.gp with `body` already in a temporary buffer and runs it. */
static void finish(plot_ctx *c, const char *name, char *script, size_t len)
{
    char path[800], log[800], png[800];
    snprintf(path, sizeof path, "%s/%s.gp", c->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", c->dir, name);
    snprintf(png, sizeof png, "%s/%s.png", c->dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(script, 1, len, f) != len || fclose(f) != 0) {
        if (c->log) fprintf(c->log, "plot: cannot write %s: %s\n", path, strerror(errno));
        c->failed++;
        return;
    }
    if (!c->term) return;
    char gp[200];
    snprintf(gp, sizeof gp, "%s.gp", name);
    int rc = run_gnuplot(c->dir, log, gp, NULL);
    unsigned char sig[8] = {0};
    FILE *p = fopen(png, "rb");
    size_t got = p ? fread(sig, 1, 8, p) : 0;
    if (p) fclose(p);
    if (rc != 0 || got != 8 || memcmp(sig, "\x89PNG\r\n\x1a\n", 8) != 0) {
        if (c->log) fprintf(c->log, "plot: gnuplot failed on %s (exit %d), see %s\n", path, rc, log);
        c->failed++;
        return;
    }
    unlink(log);
    c->made++;
    if (c->log) fprintf(c->log, "plot: %s\n", png);
}

/* a script assembled in memory, then written and run */
typedef struct { char *buf; size_t len; FILE *f; } script;
static FILE *script_open(script *s) { s->buf = NULL; s->len = 0; s->f = open_memstream(&s->buf, &s->len); return s->f; }
static void script_run(plot_ctx *c, script *s, const char *name)
{
    if (!s->f) { c->failed++; return; }
    fclose(s->f);
    finish(c, name, s->buf, s->len);
    free(s->buf);
}

/* the run of (kn, variant) with the lowest seed, preferring finished ones */
static int pick_run(const bb_sweep_results *r, int64_t kn, int variant)
{
    int best = -1;
    for (int i = 0; i < r->nruns; i++) {
        const bb_sweep_run_result *u = &r->runs[i];
        if (u->cfg.batch_size != kn || u->variant != variant || u->iters.nrows == 0) continue;
        if (best < 0 || (u->done && !r->runs[best].done) ||
            (u->done == r->runs[best].done && u->cfg.seed < r->runs[best].cfg.seed))
            best = i;
    }
    return best;
}

static void xtics_kn(FILE *f, const int64_t *kns, int n)
{
    fprintf(f, "set logscale x 2\nset xtics (");
    for (int i = 0; i < n; i++) {
        char l[32];
        kn_label(kns[i], l, sizeof l);
        fprintf(f, "%s\"%s\" %lld", i ? ", " : "", l, (long long)kns[i]);
    }
    fprintf(f, ")\n");
}

static int rows_of(const bb_sweep_row *rows, int nrows, int variant)
{
    int n = 0;
    for (int i = 0; i < nrows; i++) n += rows[i].variant == variant && rows[i].finished > 0;
    return n;
}

/* Final test (and training) error against kn, one line per variant. */
static void plot_error_vs_batch(plot_ctx *c, const bb_sweep_row *rows, int nrows, const int *block)
{
    const bb_sweep_results *r = c->r;
    int64_t kns[64];
    int nk = 0;
    double base_err = NAN;
    int64_t base_kn = 0;
    for (int i = 0; i < nrows; i++) {
        int seen = 0;
        for (int j = 0; j < nk; j++) seen |= kns[j] == rows[i].kn;
        if (!seen && nk < 64) kns[nk++] = rows[i].kn;
        if (rows[i].variant == 0 && isfinite(rows[i].test_mean) && (base_kn == 0 || rows[i].kn < base_kn)) {
            base_kn = rows[i].kn;
            base_err = rows[i].test_mean;
        }
    }
    for (int i = 1; i < nk; i++)
        for (int j = i; j > 0 && kns[j - 1] > kns[j]; j--) { int64_t x = kns[j]; kns[j] = kns[j - 1]; kns[j - 1] = x; }
    if (nk == 0) return;
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300];
    setup_text(&r->runs[0].cfg, setup, sizeof setup);
    preamble(f, c, "error_vs_batch", W + 150, H);
    double lo = (double)kns[0] / 1.5, hi = (double)kns[nk - 1] * 1.5;
    if (c->b_noise > 0) { lo = fmin(lo, c->b_noise / 1.5); hi = fmax(hi, c->b_noise * 1.5); }
    if (c->knstar > 0) hi = fmax(hi, c->knstar * 1.5);
    fprintf(f, "set title \"Error vs minibatch size kn (linear scaling rule)\\n%s\"\n", setup);
    fprintf(f, "set xlabel \"minibatch size kn (log2 scale)\"\nset ylabel \"error (%%)\"\nset xrange [%g:%g]\n", lo, hi);
    xtics_kn(f, kns, nk);
    fprintf(f, "set key outside right top vertical Left reverse width -2\nset autoscale y\n"
            "set offsets 0, 0, graph 0.08, graph 0.08\n");
    if (isfinite(base_err)) {
        char l[32];
        kn_label(base_kn, l, sizeof l);
        fprintf(f, "set arrow 1 from graph 0, first %.6g to graph 1, first %.6g nohead dt 3 lc rgb \"#555555\"\n"
                "set label 1 \"kn = %s test error %.2f%%\" at graph 0.99, first %.6g right offset 0,0.7 tc rgb \"#555555\"\n",
                100 * base_err, 100 * base_err, l, 100 * base_err, 100 * base_err);
        double bar = 100 * (base_err + r->opts.tolerance);  /* kn*: the sizes at or below this line */
        fprintf(f, "set arrow 3 from graph 0, first %.6g to graph 1, first %.6g nohead dt 4 lc rgb \"#999999\"\n"
                "set label 3 \"+ %.2g point: kn* bar\" at graph 0.01, first %.6g left offset 0,0.7 tc rgb \"#999999\"\n",
                bar, bar, 100 * r->opts.tolerance, bar);
    }
    if (c->b_noise > 0)
        fprintf(f, "set arrow 2 from %.6g, graph 0 to %.6g, graph 1 nohead dt 2 lw 2 lc rgb \"#9467bd\"\n"
                "set label 2 \"B_noise = %.0f (advise)\" at %.6g, graph 0.5 rotate by 90 offset 1.5,0 center tc rgb \"#9467bd\"\n",
                c->b_noise, c->b_noise, c->b_noise, c->b_noise);
    if (c->knstar > 0)
        fprintf(f, "set arrow 4 from %.6g, graph 0 to %.6g, graph 1 nohead dt 3 lw 2 lc rgb \"#8c564b\"\n"
                "set label 4 \"predicted kn* = %.0f (advise)\" at %.6g, graph 0.5 rotate by 90 offset 1.5,0 center "
                "tc rgb \"#8c564b\"\n", c->knstar, c->knstar, c->knstar, c->knstar);
    fprintf(f, "plot ");
    int first = 1;
    for (int v = -1; v < bb_sweep_nvariants; v++) {
        int b = block[v + 1];
        if (b < 0) continue;
        const char *vn = v >= 0 ? bb_sweep_variants[v].name : "other";
        if (v == 0) {
            fprintf(f, "%s\"summary.dat\" index %d using 1:2:3 with yerrorlines lt 1 title \"test error (%s)\", "
                    "\"\" index %d using 1:4:5 with yerrorlines lt 1 dt 2 pt 6 title \"training error (%s, last epoch)\"",
                    first ? "" : ", ", b, vn, b, vn);
        } else if (rows_of(rows, nrows, v) > 1) {
            /* a recipe measured at several sizes: its own curve */
            fprintf(f, "%s\"summary.dat\" index %d using 1:2:3 with yerrorlines lt %d pt %d title \"test error (%s)\"",
                    first ? "" : ", ", b, v + 2, 4 + 2 * v, vn);
        } else {
            /* side by side around kn, so that the variants at one kn do not hide each other */
            fprintf(f, "%s\"summary.dat\" index %d using ($1*%.3f):2:3 with yerrorbars lt %d pt %d ps 1.6 title \"test error (%s)\"",
                    first ? "" : ", ", b, pow(1.06, v - 2.5), v + 2, 4 + 2 * v, vn);
        }
        first = 0;
    }
    fprintf(f, "\n");
    script_run(c, &s, "error_vs_batch");
}

/* Steps to the target error vs kn on log-log axes, one line per variant, and
 * perfect scaling (steps halve when kn doubles) through the smallest kn of the
 * recipe that reached it (Shallue et al., Figure 1). */
static void plot_steps_to_target(plot_ctx *c, const bb_sweep_row *rows, int nrows, const bb_sweep_ref *ref)
{
    int block[BB_SWEEP_VSLOTS];
    for (int i = 0; i < BB_SWEEP_VSLOTS; i++) block[i] = -1;
    steps_arg a = {rows, nrows, block};
    char path[800];
    snprintf(path, sizeof path, "%s/steps.dat", c->dir);
    if (bb_file_write_atomic(path, write_steps_data, &a) != BB_OK) { c->failed++; return; }
    int64_t kns[64], k0 = 0;
    int nk = 0, reached = 0;
    double s0 = NAN;
    for (int i = 0; i < nrows; i++) {
        int seen = 0;
        for (int j = 0; j < nk; j++) seen |= kns[j] == rows[i].kn;
        if (!seen && nk < 64 && rows[i].finished) kns[nk++] = rows[i].kn;
        reached += isfinite(rows[i].steps_to_target);
    }
    /* the line goes through the smallest kn of the first variant (table order) that reached the target */
    for (int i = 0; i < nrows && !isfinite(s0); i++)
        if (isfinite(rows[i].steps_to_target)) { k0 = rows[i].kn; s0 = rows[i].steps_to_target; }
    if (!reached) return;
    for (int i = 1; i < nk; i++)
        for (int j = i; j > 0 && kns[j - 1] > kns[j]; j--) { int64_t x = kns[j]; kns[j] = kns[j - 1]; kns[j - 1] = x; }
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300], l0[32];
    setup_text(&c->r->runs[0].cfg, setup, sizeof setup);
    kn_label(k0, l0, sizeof l0);
    preamble(f, c, "steps_to_target", W + 150, H);
    fprintf(f, "set title \"Steps to %.2f%% test error vs minibatch size kn\\n%s\"\n", 100 * ref->target, setup);
    fprintf(f, "set xlabel \"minibatch size kn (log2 scale)\"\nset ylabel \"iterations to the target (log scale)\"\n"
            "set xrange [%g:%g]\nset logscale y\nset format y \"%%g\"\n", (double)kns[0] / 1.3, (double)kns[nk - 1] * 1.3);
    xtics_kn(f, kns, nk);
    fprintf(f, "set key outside right top vertical Left reverse width -2\nset offsets 0, 0, graph 0.08, graph 0.08\n");
    fprintf(f, "plot %.6g * %lld / x with lines dt 2 lc rgb \"#555555\" title \"perfect scaling (through kn = %s)\"", s0, (long long)k0, l0);
    for (int v = -1; v < bb_sweep_nvariants; v++) {
        int b = block[v + 1];
        if (b < 0) continue;
        fprintf(f, ", \"steps.dat\" index %d using 1:2 with linespoints lt %d title \"%s\"", b, v >= 0 ? v + 1 : 10,
                v >= 0 ? bb_sweep_variants[v].name : "other");
    }
    fprintf(f, "\n");
    script_run(c, &s, "steps_to_target");
}

/* Training error vs epochs, the smallest kn against each larger one. */
static void plot_train_curves(plot_ctx *c, const bb_sweep_row *rows, int nrows)
{
    int64_t kns[64];
    int nk = 0;
    for (int i = 0; i < nrows; i++)
        if (rows[i].variant == 0 && pick_run(c->r, rows[i].kn, 0) >= 0 && nk < 64) kns[nk++] = rows[i].kn;
    if (nk < 2) return;
    int small = pick_run(c->r, kns[0], 0);
    int panels = nk - 1 > 6 ? 6 : nk - 1;
    int cols = panels <= 1 ? 1 : panels <= 4 ? 2 : 3, rws = (panels + cols - 1) / cols;
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300], ls[32];
    setup_text(&c->r->runs[0].cfg, setup, sizeof setup);
    kn_label(kns[0], ls, sizeof ls);
    preamble(f, c, "train_curves", cols == 1 ? W : 480 * cols, cols == 1 ? H : 380 * rws + 60);
    fprintf(f, "set multiplot layout %d,%d title \"Training error, kn = %s vs larger minibatches (%s)\"\n", rws, cols, ls, setup);
    fprintf(f, "set xlabel \"epochs\"\nset ylabel \"training error (%%)\"\nset yrange [0:100]\nset key bottom left\n");
    for (int p = 0; p < panels; p++) {
        /* the largest sizes when there are more than six */
        int64_t kn = kns[nk - panels + p];
        int big = pick_run(c->r, kn, 0);
        char lb[32];
        kn_label(kn, lb, sizeof lb);
        fprintf(f, "set title \"kn = %s vs %s\"\n", ls, lb);
        fprintf(f, "plot \"iters.dat\" index %d using 1:2 with lines lt 1 title \"kn = %s\", "
                "\"\" index %d using 1:2 with lines lt 2 title \"kn = %s\"\n", small, ls, big, lb);
    }
    fprintf(f, "unset multiplot\n");
    script_run(c, &s, "train_curves");
}

/* One plot item per kn of the recipe (variant 0) that has a run: `item` with
 * %d for the run's data block, after `n` items already written; returns the
 * new count. */
static int plot_recipe_runs(FILE *f, const plot_ctx *c, const bb_sweep_row *rows, int nrows, const char *item, int n)
{
    for (int i = 0; i < nrows; i++) {
        int u = rows[i].variant == 0 ? pick_run(c->r, rows[i].kn, 0) : -1;
        if (u < 0) continue;
        char l[32];
        kn_label(rows[i].kn, l, sizeof l);
        fprintf(f, "%s", n ? ", " : "");
        fprintf(f, item, u);
        fprintf(f, " lt %d title \"kn = %s\"", n % 10 + 1, l);
        n++;
    }
    return n;
}

/* Test error per epoch, every kn of the recipe overlaid. */
static void plot_test_curves(plot_ctx *c, const bb_sweep_row *rows, int nrows)
{
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300];
    setup_text(&c->r->runs[0].cfg, setup, sizeof setup);
    preamble(f, c, "test_curves", W, H);
    fprintf(f, "set title \"Test error after each epoch (gradual warmup, linear scaling)\\n%s\"\n", setup);
    fprintf(f, "set xlabel \"epochs\"\nset ylabel \"test error (%%, log scale)\"\nset logscale y\nset format y \"%%g\"\n"
            "set key bottom left\nplot ");
    int n = plot_recipe_runs(f, c, rows, nrows, "\"epochs.dat\" index %d using 1:3 with linespoints", 0);
    fprintf(f, "\n");
    if (n) script_run(c, &s, "test_curves");
    else { fclose(s.f); free(s.buf); }
}

/* The variants in `which` at one kn (NAME_knKN.png for every kn where at
 * least two of them ran), training error (left) and lr (right) vs epochs,
 * with the smallest kn of the recipe for reference. */
static void plot_variants_at(plot_ctx *c, const char *base, const char *what, const int *which, int nwhich,
                             int64_t best_kn);

static void plot_variants(plot_ctx *c, const char *base, const char *what, const int *which, int nwhich)
{
    const bb_sweep_results *r = c->r;
    int64_t done[64];
    int ndone = 0;
    for (int i = 0; i < r->nruns; i++) {
        int64_t kn = r->runs[i].cfg.batch_size;
        int cnt = 0, seen = 0;
        for (int j = 0; j < ndone; j++) seen |= done[j] == kn;
        for (int w = 0; w < nwhich; w++) cnt += pick_run(r, kn, which[w]) >= 0;
        if (seen || cnt < 2 || ndone == 64) continue;
        done[ndone++] = kn;
        plot_variants_at(c, base, what, which, nwhich, kn);
    }
}

static void plot_variants_at(plot_ctx *c, const char *base, const char *what, const int *which, int nwhich,
                             int64_t best_kn)
{
    const bb_sweep_results *r = c->r;
    char name[64];
    snprintf(name, sizeof name, "%s_kn%lld", base, (long long)best_kn);
    int64_t small_kn = 0;
    for (int i = 0; i < r->nruns; i++)
        if (r->runs[i].variant == 0 && (!small_kn || r->runs[i].cfg.batch_size < small_kn)) small_kn = r->runs[i].cfg.batch_size;
    int small = small_kn && small_kn != best_kn ? pick_run(r, small_kn, 0) : -1;
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300], lk[32], ls[32];
    setup_text(&r->runs[0].cfg, setup, sizeof setup);
    kn_label(best_kn, lk, sizeof lk);
    kn_label(small_kn, ls, sizeof ls);
    preamble(f, c, name, 1300, 560);
    fprintf(f, "set multiplot layout 1,2 title \"%s at kn = %s (%s)\"\n", what, lk, setup);
    for (int panel = 0; panel < 2; panel++) {
        const char *file = panel ? "lr.dat" : "iters.dat";
        if (panel) fprintf(f, "set title \"learning rate\"\nset ylabel \"lr\"\nset yrange [0:*]\n");
        else fprintf(f, "set title \"training error\"\nset ylabel \"training error (%%)\"\nset yrange [0:100]\n");
        fprintf(f, "set xlabel \"epochs\"\nset key top right\nplot ");
        int n = 0;
        if (small >= 0) {
            fprintf(f, "\"%s\" index %d using 1:2 with lines lt 10 dt 2 title \"kn = %s (%s)\"", file, small, ls,
                    bb_sweep_variants[0].name);
            n++;
        }
        for (int w = 0; w < nwhich; w++) {
            int u = pick_run(r, best_kn, which[w]);
            if (u < 0) continue;
            fprintf(f, "%s\"%s\" index %d using 1:2 with lines lt %d title \"%s\"", n ? ", " : "", file, u, w + 1,
                    bb_sweep_variants[which[w]].name);
            n++;
        }
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    script_run(c, &s, name);
}

/* The lr per iteration of each kn (or of the one run). */
static void plot_lr(plot_ctx *c, const bb_sweep_row *rows, int nrows)
{
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300];
    setup_text(&c->r->runs[0].cfg, setup, sizeof setup);
    /* the decay's tail goes to 0: show two decades below the smallest peak */
    double warm = 0, lo = INFINITY, hi = 0;
    for (int i = 0; i < c->r->nruns; i++) {
        const bb_sweep_run_result *u = &c->r->runs[i];
        if (u->variant > 0) continue;
        warm = fmax(warm, bb_config_warmup_epochs(&u->cfg));
        if (u->peak_lr > 0) { lo = fmin(lo, u->peak_lr); hi = fmax(hi, u->peak_lr); }
    }
    preamble(f, c, "lr_schedule", W, H);
    fprintf(f, "set title \"Learning rate per iteration (%s warmup over %g epochs when kn > %g, then %s decay)\\n%s\"\n",
            bb_warmup_names[c->r->runs[0].cfg.warmup], warm, c->r->runs[0].cfg.ref_batch,
            bb_decay_names[c->r->runs[0].cfg.decay], setup);
    fprintf(f, "set xlabel \"epochs\"\nset ylabel \"learning rate (log scale)\"\nset logscale y\nset format y \"%%g\"\n"
            "set key outside right\n");
    if (hi > 0) fprintf(f, "set yrange [%g:%g]\n", lo / 100, hi * 2);
    fprintf(f, "plot ");
    int n = 0;
    if (!c->r->is_sweep) {
        fprintf(f, "\"lr.dat\" index 0 using 1:2 with lines lt 1 title \"%s\"", c->r->runs[0].name);
        n = 1;
    }
    if (c->r->is_sweep) n = plot_recipe_runs(f, c, rows, nrows, "\"lr.dat\" index %d using 1:2 with lines", n);
    fprintf(f, "\n");
    if (n) script_run(c, &s, "lr_schedule");
    else { fclose(s.f); free(s.buf); }
}

/* B_noise during training: every run that estimated it, and the advise run. */
static void plot_noise(plot_ctx *c)
{
    const bb_sweep_results *r = c->r;
    int any = c->have_advise;
    for (int i = 0; i < r->nruns; i++) {
        const bb_csv *t = &r->runs[i].iters;
        int cb = bb_csv_col(t, "b_noise");
        for (int64_t j = 0; j < t->nrows && !any; j++) any = bb_csv_at(t, j, cb) > 0;
    }
    if (!any) return;
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    preamble(f, c, "noise_scale", W, H);
    fprintf(f, "set title \"Gradient noise scale B_noise = tr(Sigma) / |G|^2 (McCandlish et al.), averaged over ~20 iterations\"\n"
            "set xlabel \"epochs\"\nset ylabel \"B_noise (samples, log scale)\"\nset logscale y\nset format y \"%%g\"\n"
            "set key top left\nplot ");
    int n = 0;
    for (int i = 0; i < r->nruns; i++) {
        const bb_csv *t = &r->runs[i].iters;
        int cb = bb_csv_col(t, "b_noise"), has = 0;
        for (int64_t j = 0; j < t->nrows && !has; j++) has = bb_csv_at(t, j, cb) > 0;
        if (!has) continue;
        fprintf(f, "%s\"lr.dat\" index %d using 1:3 with lines lt %d title \"%s\"", n ? ", " : "", i, n % 10 + 1, r->runs[i].name);
        n++;
    }
    if (c->have_advise) {
        fprintf(f, "%s\"lr.dat\" index %d using 1:3 with lines lt %d title \"advise run (kn = %lld)\", %.6g with lines dt 2 "
                "lt %d title \"advise estimate %.0f\"", n ? ", " : "", r->nruns, n % 10 + 1,
                (long long)c->advise.cfg.batch_size, c->b_noise, n % 10 + 1, c->b_noise);
    }
    fprintf(f, "\n");
    script_run(c, &s, "noise_scale");
}

/* One run: training error per iteration bin, train/test error per epoch. */
static void plot_run_errors(plot_ctx *c)
{
    const bb_sweep_run_result *u = &c->r->runs[0];
    script s;
    FILE *f = script_open(&s);
    if (!f) return;
    char setup[300];
    setup_text(&u->cfg, setup, sizeof setup);
    preamble(f, c, "errors", W, H);
    fprintf(f, "set title \"%s: kn = %lld, peak lr %.4g\\n%s\"\n", u->name, (long long)u->cfg.batch_size, u->peak_lr, setup);
    fprintf(f, "set xlabel \"epochs\"\nset ylabel \"error (%%, log scale)\"\nset logscale y\nset format y \"%%g\"\nset key bottom left\n"
            "plot \"iters.dat\" index 0 using 1:2 with lines lt 1 title \"training error (1/8-epoch bins)\", "
            "\"epochs.dat\" index 0 using 1:2 with linespoints lt 1 pt 6 title \"training error (epoch)\", "
            "\"\" index 0 using 1:3 with linespoints lt 2 title \"test error\"\n");
    script_run(c, &s, "errors");
}

static void load_advise(plot_ctx *c)
{
    char path[800], run[700];
    snprintf(run, sizeof run, "%.600s/advise", c->r->dir);
    snprintf(path, sizeof path, "%s/advise.json", run);
    unsigned char *text = NULL;
    size_t len = 0;
    if (bb_file_read_all(path, 1 << 20, &text, &len) != BB_OK) return;
    bb_json *j = NULL;
    if (bb_json_parse((const char *)text, len, path, &j) == BB_OK) {
        const bb_json *b = bb_json_get(j, "b_noise");
        if (b && b->type == BB_JSON_NUMBER && b->num > 0) c->b_noise = b->num;
        const bb_json *k = bb_json_get(j, "knstar");
        if (k && k->type == BB_JSON_NUMBER && k->num > 0) c->knstar = k->num;
        bb_json_free(j);
    }
    free(text);
    if (c->b_noise > 0 && bb_sweep_read_run(run, &c->advise) == BB_OK) c->have_advise = 1;
}

bb_status bb_sweep_plot(const bb_sweep_results *r, const char *out_dir, FILE *log)
{
    if (r->nruns == 0) return bb_fail(BB_ERR_INVALID, "%s: no runs to plot yet", r->dir);
    plot_ctx c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.log = log;
    snprintf(c.dir, sizeof c.dir, "%s", out_dir ? out_dir : r->dir);
    if (!out_dir) strncat(c.dir, "/plots", sizeof c.dir - strlen(c.dir) - 1);
    BB_TRY(bb_mkdirs(c.dir));
    c.term = bb_plot_terminal();
    if (r->is_sweep) load_advise(&c);
    char path[800];
    snprintf(path, sizeof path, "%s/iters.dat", c.dir);
    bb_status s = bb_file_write_atomic(path, write_runs_data, &c);
    snprintf(path, sizeof path, "%s/lr.dat", c.dir);
    if (s == BB_OK) s = bb_file_write_atomic(path, write_lr_data, &c);
    snprintf(path, sizeof path, "%s/epochs.dat", c.dir);
    if (s == BB_OK) s = bb_file_write_atomic(path, write_epoch_data, &c);
    bb_sweep_row *rows = NULL;
    bb_sweep_ref ref;
    int nrows = bb_sweep_rows(r, &rows, &ref);
    int block[BB_SWEEP_VSLOTS];
    for (int i = 0; i < BB_SWEEP_VSLOTS; i++) block[i] = -1;
    sum_arg sa = {&c, rows, nrows, block};
    snprintf(path, sizeof path, "%s/summary.dat", c.dir);
    if (s == BB_OK && rows) s = bb_file_write_atomic(path, write_summary_data, &sa);
    if (s == BB_OK && rows) {
        if (r->is_sweep) {
            plot_error_vs_batch(&c, rows, nrows, block);
            plot_train_curves(&c, rows, nrows);
            plot_test_curves(&c, rows, nrows);
            static const int warm[] = {1, 2, 0}, scale[] = {4, 3, 0};
            plot_variants(&c, "warmup", "Warmup variants", warm, 3);
            plot_variants(&c, "lr_scaling", "Learning-rate scaling", scale, 3);
            int beyond[BB_SWEEP_VSLOTS], nbeyond = 0;  /* every recipe beyond the paper, then the paper's */
            for (int v = 0; v < bb_sweep_nvariants; v++)
                if (bb_sweep_variants[v].group == BB_SWEEP_BEYOND) beyond[nbeyond++] = v;
            beyond[nbeyond++] = 0;  /* lines 1..nbeyond; the small kn's reference is line 10 */
            plot_variants(&c, "beyond", "Recipes beyond the paper", beyond, nbeyond);
            plot_steps_to_target(&c, rows, nrows, &ref);
        } else {
            plot_run_errors(&c);
        }
        plot_lr(&c, rows, nrows);
        plot_noise(&c);
    }
    free(rows);
    if (c.have_advise) { bb_csv_free(&c.advise.epochs); bb_csv_free(&c.advise.iters); }
    if (s != BB_OK) return s;
    if (!c.term)
        return bb_fail(BB_ERR_UNSUPPORTED, "gnuplot with a PNG terminal was not found (Debian: apt-get install gnuplot-nox); "
                       "the data files and gnuplot scripts are in %s (run: cd %s && gnuplot NAME.gp)", c.dir, c.dir);
    if (c.failed) return bb_fail(BB_ERR_IO, "%d of %d plots failed (gnuplot messages in %s/*.log)", c.failed, c.made + c.failed, c.dir);
    return BB_OK;
}
