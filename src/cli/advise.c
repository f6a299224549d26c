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
    printf("then: bigbatch sweep ... --sizes KN --variants all (the warmup and lr-scaling ablations at KN)\n");
    printf("\nB_noise grows as the loss falls, so an early estimate is a lower bound for later training.\n"
           "advice: %s/advise.json; curves: bigbatch plot %s\n", dir, dir);
}

/* --from DIR: the advice from a run that was trained with --noise-scale */
static int analyze_only(const char *dir)
{
    bb_sweep_run_result r;
    bb_advice a;
    bb_status s = bb_sweep_read_run(dir, &r);
    if (s == BB_OK) {
        bb_csv_free(&r.epochs);
        bb_csv_free(&r.iters);
        s = bb_advise_analyze(dir, &a);
    }
    if (s == BB_OK) s = bb_advise_write(dir, &a);
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
                   "the linear scaling rule gives for it, and what a sweep around it would cost.\n"
                   "Output: --out (default runs/advise): a run directory plus advise.json. Put it in a\n"
                   "sweep directory as SWEEP/advise and `bigbatch plot SWEEP` marks B_noise on the plots.\n\n");
            cli_print_flags(stdout);
            return 0;
        }
    static const char *const extra[] = {"steps", "from", NULL};
    const char *vals[2] = {"300", NULL};
    bb_config cfg;
    bb_config_defaults(&cfg);
    unsigned char seen[128] = {0};
    if (cli_parse("advise", argc, argv, &cfg, extra, vals, seen) != 0) return 2;
    if (vals[1]) return analyze_only(vals[1]);
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
    if (cli_comm_create(&comm, cfg.allreduce) != BB_OK) {
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
    if (s == BB_OK) s = bb_advise_write(cfg.out, &a);
    if (s != BB_OK) {
        fprintf(stderr, "bigbatch advise: %s\n", bb_last_error());
        return 1;
    }
    report(&cfg, &a, cfg.out);
    return rc;
}
