/* The critical minibatch size from a short run with --noise-scale: the
 * per-iteration estimates of |G|^2 and tr(Sigma) (metrics.jsonl) are averaged
 * over the second half of the run and their ratio is B_noise, which McCandlish
 * et al. find close to the critical batch size: below it, doubling kn halves
 * the steps; above it, it mostly doubles the samples (cost) instead. For an
 * epoch budget, B_noise is carried over the whole run (it grows as the loss
 * falls) and averaged as the critical batch of the run, B_crit = E_min/S_min:
 * the predicted kn* (docs/SWEEP.md). */
#include "sweep/sweep.h"

#include "util/file.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double bb_noise_profile_at(const bb_noise_profile *p, double epoch)
{
    if (p->n < 1) return NAN;
    if (epoch <= p->epoch[0]) return p->b[0];
    for (int i = 0; i + 1 < p->n; i++)
        if (epoch <= p->epoch[i + 1]) {
            double t = log(epoch / p->epoch[i]) / log(p->epoch[i + 1] / p->epoch[i]);
            return exp(log(p->b[i]) + t * (log(p->b[i + 1]) - log(p->b[i])));
        }
    double e0 = fmax(p->epoch[p->n - 1], p->growth_from);
    return epoch <= e0 ? p->b[p->n - 1] : p->b[p->n - 1] * pow(epoch / e0, p->growth);
}

/* B_crit = sum(B w) / sum(w), w = 1 / (B + kn), by the midpoint rule over
 * the run (the steps per epoch are the same throughout and cancel) */
double bb_critical_batch(const bb_noise_profile *p, double epochs, double kn, double *measured)
{
    const int K = 4000;
    double sw = 0, swb = 0, sw_in = 0;
    for (int k = 0; k < K; k++) {
        double e = epochs * (k + 0.5) / K, b = bb_noise_profile_at(p, e), w = 1.0 / (b + kn);
        sw += w;
        swb += w * b;
        if (p->n > 0 && e <= p->epoch[p->n - 1]) sw_in += w;
    }
    if (measured) *measured = sw > 0 ? sw_in / sw : NAN;
    return sw > 0 ? swb / sw : NAN;
}

double bb_budget_for(const bb_noise_profile *p, double kn, double target)
{
    const double first = 0.05, last = 1e4;  /* epochs */
    if (p->n < 1 || !(target > 0)) return NAN;
    if (bb_critical_batch(p, first, kn, NULL) >= target) return 0;
    /* B_crit grows with the budget once B_noise does: the first budget of a
     * geometric scan that reaches the target, then bisection */
    double lo = first, hi = first;
    while (bb_critical_batch(p, hi, kn, NULL) < target) {
        lo = hi;
        hi *= 1.25;
        if (hi > last) return INFINITY;
    }
    for (int i = 0; i < 30; i++) {
        double mid = sqrt(lo * hi);
        if (bb_critical_batch(p, mid, kn, NULL) >= target) hi = mid;
        else lo = mid;
    }
    return hi;
}

void bb_advise_profile(const bb_advice *a, double b, double growth, bb_noise_profile *p)
{
    memset(p, 0, sizeof *p);
    double spe = (double)a->n_train / (double)a->kn;
    p->growth = growth;
    p->growth_from = 1;
    /* the first quarter's ratio at its middle, when B_noise was measured there */
    if (isfinite(a->b_early) && a->b_early > 0) {
        p->epoch[p->n] = (double)a->steps / 8 / spe;
        p->b[p->n++] = a->b_early;
    }
    p->epoch[p->n] = 0.75 * (double)a->steps / spe;  /* the middle of the second half */
    p->b[p->n++] = b;
}

void bb_advise_predict(bb_advice *a, double budget, double growth)
{
    /* the profile, and the range's two: B_noise's smallest block with half
     * the growth, its largest with 1.5 times it (none when a block lost |G|^2) */
    bb_noise_profile mid, lo, hi;
    int has_hi = isfinite(a->b_hi);
    bb_advise_profile(a, a->b_noise, growth, &mid);
    bb_advise_profile(a, isfinite(a->b_lo) ? a->b_lo : a->b_noise, 0.5 * growth, &lo);
    bb_advise_profile(a, a->b_hi, 1.5 * growth, &hi);
    double kn = (double)a->kn;
    a->budget = budget;
    a->growth = growth;
    a->growth_run = mid.n == 2 ? log(mid.b[1] / mid.b[0]) / log(mid.epoch[1] / mid.epoch[0]) : NAN;
    a->b_crit = bb_critical_batch(&mid, budget, kn, &a->measured_share);
    a->b_crit_lo = bb_critical_batch(&lo, budget, kn, NULL);
    a->b_crit_hi = has_hi ? bb_critical_batch(&hi, budget, kn, NULL) : INFINITY;
    /* kn* is measured against the small minibatch, so it is never below it */
    a->knstar = fmax(a->b_crit, kn);
    a->nhold = 0;
    for (double big = 2 * kn; a->nhold < BB_HOLD_MAX && big <= (double)a->n_train; big *= 2) {
        int i = a->nhold++;
        a->hold_kn[i] = big;
        a->hold_epochs[i] = bb_budget_for(&mid, kn, big);
        a->hold_lo[i] = has_hi ? bb_budget_for(&hi, kn, big) : 0;  /* the larger B_noise: fewer epochs */
        a->hold_hi[i] = bb_budget_for(&lo, kn, big);
    }
}

static double ratio(const double *tr, const double *g2, int64_t lo, int64_t hi)
{
    double a = 0, b = 0;
    for (int64_t i = lo; i < hi; i++) { a += tr[i]; b += g2[i]; }
    return b > 0 && a > 0 ? a / b : NAN;
}

bb_status bb_advise_analyze(const char *run_dir, bb_advice *a)
{
    memset(a, 0, sizeof *a);
    bb_sweep_run_result run;
    BB_TRY(bb_sweep_read_run(run_dir, &run));
    a->kn = run.cfg.batch_size;
    a->n = run.cfg.worker_batch;
    a->n_train = run.steps_per_epoch * run.cfg.batch_size;
    double lr_ref = run.cfg.lr, ref_batch = run.cfg.ref_batch;
    bb_csv_free(&run.epochs);
    bb_csv_free(&run.iters);

    char path[800];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    unsigned char *text = NULL;
    size_t len = 0;
    BB_TRY(bb_file_read_all(path, (size_t)1 << 30, &text, &len));
    int64_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    double *g2 = malloc((size_t)cap * sizeof *g2), *tr = malloc((size_t)cap * sizeof *tr);
    if (!g2 || !tr) { free(text); free(g2); free(tr); return bb_fail(BB_ERR_NOMEM, "out of memory"); }
    int64_t m = 0;
    double seen = 0, secs = 0;
    bb_status s = BB_OK;
    for (char *line = (char *)text, *end; s == BB_OK && line < (char *)text + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)((char *)text + len - line));
        if (!end) break;  /* an unfinished last line */
        bb_json *j = NULL;
        s = bb_json_parse(line, (size_t)(end - line), path, &j);
        if (s != BB_OK) break;
        const bb_json *type = bb_json_get(j, "type"), *vg = bb_json_get(j, "g2"), *vt = bb_json_get(j, "trace_sigma");
        const bb_json *ts = bb_json_get(j, "t_step"), *ep = bb_json_get(j, "epoch"), *bn = bb_json_get(j, "b_noise");
        if (type && type->type == BB_JSON_STRING && !strcmp(type->str, "iter")) {
            if (ts && ts->type == BB_JSON_NUMBER) { secs += ts->num; seen += (double)a->kn; }
            if (ep && ep->type == BB_JSON_NUMBER) a->epoch = ep->num;
            if (vg && vt && vg->type == BB_JSON_NUMBER && vt->type == BB_JSON_NUMBER) {
                g2[m] = vg->num;
                tr[m] = vt->num;
                m++;
                if (bn && bn->type == BB_JSON_NUMBER) a->b_ema = bn->num;
            }
        }
        bb_json_free(j);
    }
    free(text);
    a->steps = m;
    a->img_s = secs > 0 ? seen / secs : 0;
    if (s == BB_OK && m < 20)
        s = bb_fail(BB_ERR_INVALID, "%s: %lld iterations with noise-scale estimates; at least 20 are needed (train with "
                    "--noise-scale, more --steps, and at least 2 workers: --batch-size > --worker-batch)", path, (long long)m);
    if (s == BB_OK) {
        a->b_noise = ratio(tr, g2, m / 2, m);
        a->b_early = ratio(tr, g2, 0, m / 4);
        a->b_lo = INFINITY;
        a->b_hi = 0;
        for (int b = 0; b < 5; b++) {
            int64_t lo = m / 2 + (m - m / 2) * b / 5, hi = m / 2 + (m - m / 2) * (b + 1) / 5;
            double x = ratio(tr, g2, lo, hi);
            if (!isfinite(x)) { a->b_hi = INFINITY; continue; }  /* |G|^2 lost in the noise in that block */
            a->b_lo = fmin(a->b_lo, x);
            a->b_hi = fmax(a->b_hi, x);
        }
        if (!isfinite(a->b_noise))
            s = bb_fail(BB_ERR_NUMERIC, "%s: the |G|^2 estimates average to <= 0 over the second half: the gradient is "
                        "lost in the noise (B_noise is very large); train longer or with a larger --batch-size", path);
    }
    free(g2);
    free(tr);
    if (s != BB_OK) return s;
    /* the power of two nearest to B_noise (in log scale), at least n */
    double p = pow(2.0, floor(log2(a->b_noise) + 0.5));
    if (p < (double)a->n) p = (double)a->n;
    while (p > (double)a->n_train && p > (double)a->n) p /= 2;
    a->suggested_kn = p;
    a->suggested_lr = lr_ref * p / ref_batch;
    return BB_OK;
}

static void json_num(FILE *f, const char *key, double v, int last)
{
    if (isfinite(v)) fprintf(f, "  \"%s\": %.7g%s\n", key, v, last ? "" : ",");
    else fprintf(f, "  \"%s\": null%s\n", key, last ? "" : ",");
}

static bb_status write_advice(FILE *f, void *arg)
{
    const bb_advice *a = arg;
    fprintf(f, "{\n");
    json_num(f, "kn", (double)a->kn, 0);
    json_num(f, "n", (double)a->n, 0);
    json_num(f, "steps", (double)a->steps, 0);
    json_num(f, "epochs", a->epoch, 0);
    json_num(f, "b_noise", a->b_noise, 0);
    json_num(f, "b_noise_block_min", a->b_lo, 0);
    json_num(f, "b_noise_block_max", a->b_hi, 0);
    json_num(f, "b_noise_first_quarter", a->b_early, 0);
    json_num(f, "b_noise_running", a->b_ema, 0);
    json_num(f, "img_s", a->img_s, 0);
    json_num(f, "suggested_kn", a->suggested_kn, 0);
    json_num(f, "suggested_lr", a->suggested_lr, 0);
    json_num(f, "budget_epochs", a->budget, 0);
    json_num(f, "growth", a->growth, 0);
    json_num(f, "growth_run", a->growth_run, 0);
    json_num(f, "b_crit", a->b_crit, 0);
    json_num(f, "b_crit_lo", a->b_crit_lo, 0);
    json_num(f, "b_crit_hi", a->b_crit_hi, 0);
    json_num(f, "measured_share", a->measured_share, 0);
    json_num(f, "knstar", a->knstar, 0);
    /* "epochs_to_hold": [[kn, epochs, lo, hi], ...]; null: no budget (INFINITY) */
    fprintf(f, "  \"epochs_to_hold\": [");
    for (int i = 0; i < a->nhold; i++) {
        double v[4] = {a->hold_kn[i], a->hold_epochs[i], a->hold_lo[i], a->hold_hi[i]};
        fprintf(f, "%s[", i ? ", " : "");
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k])) fprintf(f, "%s%.5g", k ? ", " : "", v[k]);
            else fprintf(f, "%snull", k ? ", " : "");
        fprintf(f, "]");
    }
    fprintf(f, "]\n}\n");
    return BB_OK;
}

bb_status bb_advise_write(const char *run_dir, const bb_advice *a)
{
    char path[800];
    snprintf(path, sizeof path, "%s/advise.json", run_dir);
    return bb_file_write_atomic(path, write_advice, (void *)a);
}
