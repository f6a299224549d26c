/* Steps to a target error against kn (Shallue et al.'s measure of how far
 * data parallelism pays) and kn*, the largest kn whose final test error stays
 * within a tolerance of the reference kn's. Both are read from the runs'
 * per-epoch evaluations, so they work on any sweep, finished or not. */
#include "sweep/sweep.h"

#include "util/file.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double bb_steps_to_target(const double *step, const double *err, int64_t n, double target)
{
    double prev_s = NAN, prev_e = NAN;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(err[i]) || !isfinite(step[i])) continue;
        if (err[i] <= target) {
            if (!isfinite(prev_e)) return step[i];  /* already there at the first evaluation */
            /* the straight line from the last evaluation above the target */
            return prev_s + (step[i] - prev_s) * (prev_e - target) / (prev_e - err[i]);
        }
        prev_s = step[i];
        prev_e = err[i];
    }
    return NAN;
}

bb_status bb_sweep_read_evals(const char *run_dir, bb_csv *out)
{
    memset(out, 0, sizeof *out);
    char path[800];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (access(path, F_OK) != 0) return BB_OK;
    unsigned char *text = NULL;
    size_t len = 0;
    BB_TRY(bb_file_read_all(path, (size_t)1 << 31, &text, &len));
    int64_t cap = 16;
    out->ncols = 2;
    out->names = calloc(2, sizeof *out->names);
    out->v = malloc((size_t)cap * 2 * sizeof *out->v);
    if (out->names) { out->names[0] = strdup("step"); out->names[1] = strdup("test_err"); }
    bb_status s = BB_OK;
    if (!out->names || !out->v || !out->names[0] || !out->names[1]) s = bb_fail(BB_ERR_NOMEM, "out of memory");
    char *end = (char *)text + len;
    for (char *line = (char *)text, *eol; s == BB_OK && line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;  /* a line still being written */
        /* only evaluation records; the per-iteration ones are most of the file */
        static const char epoch_rec[] = "{\"type\":\"epoch\"", eval_rec[] = "{\"type\":\"eval\"";
        size_t n = (size_t)(eol - line);
        if (n < sizeof epoch_rec || (strncmp(line, epoch_rec, sizeof epoch_rec - 1) &&
                                     strncmp(line, eval_rec, sizeof eval_rec - 1)))
            continue;
        bb_json *j = NULL;
        s = bb_json_parse(line, n, path, &j);
        if (s != BB_OK) break;
        const bb_json *st = bb_json_get(j, "step"), *te = bb_json_get(j, "test_err");
        if (st && te && st->type == BB_JSON_NUMBER && te->type == BB_JSON_NUMBER) {
            while (out->nrows > 0 && out->v[2 * (out->nrows - 1)] >= st->num) out->nrows--;
            if (out->nrows == cap) {
                double *nv = realloc(out->v, (size_t)cap * 4 * sizeof *nv);
                if (!nv) { s = bb_fail(BB_ERR_NOMEM, "out of memory"); bb_json_free(j); break; }
                out->v = nv;
                cap *= 2;
            }
            out->v[2 * out->nrows] = st->num;
            out->v[2 * out->nrows + 1] = te->num;
            out->nrows++;
        }
        bb_json_free(j);
    }
    free(text);
    if (s != BB_OK) bb_csv_free(out);
    return s;
}

static int finished(const bb_sweep_run_result *u, int64_t kn, int variant)
{
    return u->cfg.batch_size == kn && u->variant == variant && u->done && !u->diverged;
}

/* a run's evaluations: every one when they were read, else one per epoch */
static const bb_csv *curve_of(const bb_sweep_run_result *u)
{
    return u->evals.nrows > 0 ? &u->evals : &u->epochs;
}

int64_t bb_sweep_mean_curve(const bb_sweep_results *r, int64_t kn, int variant, double *step, double *err, int64_t cap)
{
    int first = -1, count = 0;
    for (int i = 0; i < r->nruns; i++)
        if (finished(&r->runs[i], kn, variant)) { if (first < 0) first = i; count++; }
    if (first < 0) return 0;
    const bb_csv *t0 = curve_of(&r->runs[first]);
    int cs0 = bb_csv_col(t0, "step"), ce0 = bb_csv_col(t0, "test_err");
    int64_t n = 0;
    for (int64_t row = 0; row < t0->nrows && n < cap; row++) {
        double s = bb_csv_at(t0, row, cs0), sum = bb_csv_at(t0, row, ce0);
        if (!isfinite(sum) || !isfinite(s)) continue;  /* no evaluation after this epoch */
        int have = 1;
        for (int i = first + 1; i < r->nruns && have == 1; i++) {
            const bb_sweep_run_result *u = &r->runs[i];
            if (!finished(u, kn, variant)) continue;
            const bb_csv *t = curve_of(u);
            int cs = bb_csv_col(t, "step"), ce = bb_csv_col(t, "test_err");
            have = 0;
            for (int64_t k = 0; k < t->nrows && !have; k++)
                if (bb_csv_at(t, k, cs) == s && isfinite(bb_csv_at(t, k, ce))) {
                    sum += bb_csv_at(t, k, ce);
                    have = 1;
                }
        }
        if (!have) break;  /* the common prefix ends here */
        step[n] = s;
        err[n] = sum / count;
        n++;
    }
    return n;
}

int64_t bb_sweep_knstar(const bb_sweep_row *rows, int nrows, int variant, double ref_err, double tolerance)
{
    if (!isfinite(ref_err)) return 0;
    /* rows of a variant are in ascending kn (bb_sweep_rows' order); the small
     * slack absorbs the rounding of errors read back from text */
    double bar = ref_err + tolerance + 1e-9;
    int64_t best = 0;
    for (int i = 0; i < nrows; i++) {
        const bb_sweep_row *w = &rows[i];
        if (w->variant != variant) continue;
        if (w->finished == 0) {
            if (w->diverged) break;  /* a diverged size ends the range */
            continue;                /* not measured yet */
        }
        if (!(w->test_mean <= bar)) break;
        best = w->kn;
    }
    return best;
}

void bb_sweep_measure(const bb_sweep_results *r, bb_sweep_row *rows, int nrows, bb_sweep_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    ref->err = NAN;
    ref->tolerance = r->opts.tolerance;
    /* the reference: the recipe (variant 0; without it the first variant in
     * table order that finished a run) at --ref-kn, or at its smallest finished kn */
    ref->variant = -2;
    for (int i = 0; i < nrows && ref->variant != 0; i++)
        if (isfinite(rows[i].test_mean) && (ref->variant == -2 || rows[i].variant == 0)) ref->variant = rows[i].variant;
    for (int i = 0; i < nrows; i++) {
        const bb_sweep_row *w = &rows[i];
        if (w->variant != ref->variant || !isfinite(w->test_mean)) continue;
        if (r->opts.ref_kn ? w->kn == r->opts.ref_kn : (ref->kn == 0 || w->kn < ref->kn)) {
            ref->kn = w->kn;
            ref->err = w->test_mean;
        }
    }
    ref->target = isfinite(r->opts.target) ? r->opts.target : ref->err + ref->tolerance;
    for (int v = -1; v < bb_sweep_nvariants && v + 1 < 16; v++)
        ref->knstar[v + 1] = bb_sweep_knstar(rows, nrows, v, ref->err, ref->tolerance);
    double *step = NULL, *err = NULL;
    int64_t cap = 0;
    for (int i = 0; i < r->nruns; i++)
        if (curve_of(&r->runs[i])->nrows > cap) cap = curve_of(&r->runs[i])->nrows;
    if (cap > 0) {
        step = malloc((size_t)cap * sizeof *step);
        err = malloc((size_t)cap * sizeof *err);
    }
    for (int i = 0; i < nrows; i++) {
        rows[i].steps_to_target = NAN;
        if (!step || !err || !isfinite(ref->target)) continue;
        int64_t n = bb_sweep_mean_curve(r, rows[i].kn, rows[i].variant, step, err, cap);
        rows[i].steps_to_target = bb_steps_to_target(step, err, n, ref->target);
    }
    free(step);
    free(err);
}
