/* `bigbatch advise`: a short training run with the gradient noise scale
 * estimate on, then the critical minibatch size it suggests, the learning rate
 * the linear scaling rule gives there, and what a sweep around it would cost. */
#include "cli/cli.h"

#include "comm/comm.h"
#include "sweep/sweep.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fmt_time(double s, char *buf, size_t cap)
{
    long v = (long)(s + 0.5);
    if (!isfinite(s)) snprintf(buf, cap, "?");
    else if (v >= 3600) snprintf(buf, cap, "%ldh%02ldm", v / 3600, (v / 60) % 60);
    else if (v >= 60) snprintf(buf, cap, "%ldm%02lds", v / 60, v % 60);
    else snprintf(buf, cap, "%lds", v);
}

static double pow2_near(double x) { return pow(2.0, floor(log2(x) + 0.5)); }

/* kn* for the epoch budget (bb_advise_predict; the model is in docs/SWEEP.md) */
static void report_prediction(const bb_advice *a)
{
    printf("\nprediction for a budget of %g epochs (the critical batch of the whole run, McCandlish et al.):\n", a->budget);
    printf("  B_noise over training: %.0f at epoch %.2f (middle of the second half)", a->b_noise,
           0.75 * (double)a->steps * (double)a->kn / (double)a->n_train);
    if (isfinite(a->growth_run))
        printf(", %.0f at epoch %.2f (first quarter): this run's own trend is (epoch)^%.2f", a->b_early,
               (double)a->steps / 8 * (double)a->kn / (double)a->n_train, a->growth_run);
    printf(";\n  after the run assumed to grow as (epoch)^%g (--growth) up to epoch %g\n", a->growth, a->budget);
    printf("  B_crit = E_min / S_min over the %g epochs at kn = %lld: %.0f\n", a->budget, (long long)a->kn, a->b_crit);
    printf("  range %.0f .. %.0f (B_noise's block range %.0f..%.0f with growth %g .. %g)\n", a->b_crit_lo, a->b_crit_hi,
           a->b_lo, a->b_hi, 0.5 * a->growth, 1.5 * a->growth);
    printf("predicted kn* (the largest kn whose error stays within about 0.5 point of small minibatches at this\n"
           "budget, with the linear scaling rule and warmup) ~ %.0f, the power of two %.0f; range %.0f .. %.0f%s\n",
           a->knstar, pow2_near(a->knstar), fmax(a->b_crit_lo, (double)a->kn), fmax(a->b_crit_hi, (double)a->kn),
           a->b_crit < (double)a->kn ? "\n(B_crit is below this run's kn: no larger kn is expected to hold the error)" : "");
    printf("how sure: %.0f%% of B_crit's weight lies in the epochs this run measured, the rest is extrapolated;\n",
           100 * a->measured_share);
    if (isfinite(a->b_crit_hi)) printf("the range spans %.1fx. ", a->b_crit_hi / a->b_crit_lo);
    else printf("the range is open above (a block of the run lost |G|^2 in the noise). ");
    printf("Checked on two sweeps (docs/RESULTS.md): within 2x of the measured kn*.\n");
    if (a->nhold == 0) return;
    printf("\nthe other way round: the epochs a larger kn needs to hold the error (the smallest budget whose\n"
           "B_crit reaches it; the same profile and growth):\n  %8s  %8s  %s\n", "kn", "epochs", "range");
    for (int i = 0; i < a->nhold; i++) {
        char e[3][24];
        const double v[3] = {a->hold_epochs[i], a->hold_lo[i], a->hold_hi[i]};
        for (int k = 0; k < 3; k++) {
            if (isinf(v[k])) snprintf(e[k], sizeof e[k], "none");
            else if (!(v[k] > 0)) snprintf(e[k], sizeof e[k], "any");
            else snprintf(e[k], sizeof e[k], v[k] < 100 ? "%.3g" : "%.0f", v[k]);
        }
        printf("  %8.0f  %8s  %s .. %s\n", a->hold_kn[i], e[0], e[1], e[2]);
    }
}

static void report(const bb_config *cfg, const bb_advice *a, const char *dir)
{
    printf("\ngradient noise scale B_noise = tr(Sigma)/|G|^2 = %.0f\n", a->b_noise);
    printf("  from iterations %lld..%lld of %lld at kn = %lld (%lld workers x %lld), %.2f epochs trained;\n",
           (long long)(a->steps / 2), (long long)a->steps - 1, (long long)a->steps, (long long)a->kn,
           (long long)(a->kn / a->n), (long long)a->n, a->epoch);
    printf("  over 5 blocks of those iterations %.0f..%.0f; first quarter of the run %.0f; running estimate %.0f\n",
           a->b_lo, a->b_hi, a->b_early, a->b_ema);
    printf("\ncritical minibatch size ~ B_noise: kn = %.0f (the nearest power of two), lr = %.4g by the linear\n"
           "rule (%g x %.0f / %g)%s\n", a->suggested_kn, a->suggested_lr, cfg->lr, a->suggested_kn, cfg->ref_batch,
           a->suggested_kn > cfg->ref_batch ? ", with gradual warmup" : "");
    printf("\nthe trade-off McCandlish et al.'s model predicts: steps S = S_min (1 + B_noise/kn), samples\n"
           "E = E_min (1 + kn/B_noise); kn = B_noise needs twice the minimum of each:\n");
    printf("  %8s  %11s  %13s\n", "kn", "S / S_min", "E / E_min");
    /* powers of two from a quarter of the suggestion (at least n) to 8x it (at least 4x the reference) */
    double lo = fmax((double)a->n, a->suggested_kn / 4), hi = fmax(8 * a->suggested_kn, 4 * cfg->ref_batch);
    int sizes = 0;
    for (double kn = lo; kn <= hi * 1.0001 && kn <= (double)a->n_train; kn *= 2, sizes++)
        printf("  %8.0f  %11.2f  %13.2f%s\n", kn, 1 + a->b_noise / kn, 1 + kn / a->b_noise,
               fabs(kn - a->suggested_kn) < 0.5 ? "   <- B_noise" : "");
    double images = (double)sizes * cfg->epochs * (double)a->n_train;
    char t[32];
    fmt_time(images / a->img_s, t, sizeof t);
    printf("\nmeasuring it: a sweep of these %d sizes x %g epochs x 1 seed trains %.1fM images, about %s at the\n"
           "%.0f images/s of this run (plus evaluation):\n"
           "  bigbatch sweep [the same training flags] --sizes %.0f:%.0f --out runs/sweep --seeds 1\n",
           sizes, cfg->epochs, images / 1e6, t, a->img_s, lo, lo * pow(2, sizes - 1));
    printf("then: bigbatch sweep ... --sizes KN --variants paper (the warmup and lr-scaling ablations at KN),\n"
           "and --variants beyond over the sizes (recipes that aim to hold the error at larger kn)\n");
    printf("\nB_noise grows as the loss falls, so an early estimate is a lower bound for later training.\n");
    report_prediction(a);
    printf("\nadvice: %s/advise.json; curves: bigbatch plot %s\n", dir, dir);
}

/* --budget and --growth; budget <= 0: the configuration's --epochs */
static int parse_prediction(const char *budget, const char *growth, double *b, double *g)
{
    char *end;
    if (budget) {
        *b = strtod(budget, &end);
        if (*end || end == budget || !(*b > 0 && *b < 1e6))
            return cli_refuse("advise", "--budget: expected epochs > 0, got '%s'", budget);
    }
    *g = strtod(growth, &end);
    if (*end || end == growth || !(*g >= 0 && *g <= 4))
        return cli_refuse("advise", "--growth: expected an exponent in [0, 4], got '%s'", growth);
    return 0;
}

/* --from DIR: the advice from a run that was trained with --noise-scale */
static int analyze_only(const char *dir, double budget, double growth)
{
    bb_sweep_run_result r;
    bb_advice a;
    bb_status s = bb_sweep_read_run(dir, &r);
    if (s == BB_OK) {
        bb_csv_free(&r.epochs);
        bb_csv_free(&r.iters);
        s = bb_advise_analyze(dir, &a);
    }
    if (s == BB_OK) {
        bb_advise_predict(&a, budget > 0 ? budget : r.cfg.epochs, growth);
        s = bb_advise_write(dir, &a);
    }
    if (s != BB_OK) {
        fprintf(stderr, "bigbatch advise: %s\n", bb_last_error());
        return 1;
    }
    report(&r.cfg, &a, dir);
    return 0;
}

int cli_advise(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch advise [--steps N] [training flags]\n"
                   "       bigbatch advise --from RUN_DIR   (the same from a run trained with --noise-scale)\n"
                   "Trains --steps iterations (default 300) of the configuration with the gradient noise\n"
                   "scale estimate on (k = kn/n workers give gradients at batch n and kn every step), then\n"
                   "reports B_noise (the critical minibatch size of McCandlish et al.), the learning rate\n"
                   "the linear scaling rule gives for it, what a sweep around it would cost, and the\n"
                   "predicted kn* for an epoch budget: the critical batch B_crit = E_min/S_min of a whole run,\n"
                   "with B_noise carried past the short run by a growth law (docs/SWEEP.md).\n"
                   "  --steps N        iterations of the short run (default 300)\n"
                   "  --budget EPOCHS  the epoch budget of the prediction (default: --epochs)\n"
                   "  --growth P       B_noise grows as (epoch)^P after the run (default 1)\n"
                   "Output: --out (default runs/advise): a run directory plus advise.json (one that holds\n"
                   "a run already is refused; --overwrite replaces it). Put it in a\n"
                   "sweep directory as SWEEP/advise and `bigbatch plot SWEEP` marks B_noise on the plots.\n\n");
            cli_print_flags(stdout);
            return 0;
        }
    static const char *const extra[] = {"steps", "from", "budget", "growth", NULL};
    const char *vals[4] = {"300", NULL, NULL, "1"};
    bb_config cfg;
    bb_config_defaults(&cfg);
    unsigned char seen[128] = {0};
    if (cli_parse("advise", argc, argv, &cfg, extra, vals, seen) != 0) return 2;
    double budget = 0, growth = 1;
    if (parse_prediction(vals[2], vals[3], &budget, &growth) != 0) return 2;
    if (vals[1]) return analyze_only(vals[1], budget, growth);
    if (!seen[bb_config_find("out") - bb_config_fields]) snprintf(cfg.out, sizeof cfg.out, "runs/advise");
    char *end;
    long long steps = strtoll(vals[0], &end, 10);
    if (*end || steps < 20) return cli_refuse("advise", "--steps: expected an integer >= 20, got '%s'", vals[0]);
    cfg.max_steps = steps;
    cfg.noise_scale = 1;
    cfg.resume[0] = 0;
    if (bb_config_validate(&cfg) != BB_OK) return cli_refuse("advise", "%s", bb_last_error());
    if (bb_config_workers(&cfg) < 2)
        return cli_refuse("advise", "--batch-size %lld / --worker-batch %lld is one worker; the estimate needs "
                          "gradients at two batch sizes, so at least 2 workers", (long long)cfg.batch_size,
                          (long long)cfg.worker_batch);
    bb_comm *comm = NULL;
    if (cli_comm_create(&comm, bb_allreduce_names[cfg.allreduce]) != BB_OK) {
        fprintf(stderr, "bigbatch advise: %s\n", bb_last_error());
        return 1;
    }
    cli_stop_on_signals();
    bb_trainer *t = NULL;
    bb_status s = bb_trainer_create(&t, &cfg, comm);
    if (s == BB_OK) s = bb_trainer_run(t);
    bb_trainer_destroy(t);
    int rank0 = comm->rank == 0, rc = 0;
    bb_comm_destroy(comm);
    if (s != BB_OK) {
        if (rank0) fprintf(stderr, "bigbatch advise: %s\n", bb_last_error());
        return s == BB_ERR_INTERRUPTED ? 130 : 1;
    }
    if (!rank0) return 0;
    bb_advice a;
    s = bb_advise_analyze(cfg.out, &a);
    if (s == BB_OK) {
        bb_advise_predict(&a, budget > 0 ? budget : cfg.epochs, growth);
        s = bb_advise_write(cfg.out, &a);
    }
    if (s != BB_OK) {
        fprintf(stderr, "bigbatch advise: %s\n", bb_last_error());
        return 1;
    }
    report(&cfg, &a, cfg.out);
    return rc;
}
