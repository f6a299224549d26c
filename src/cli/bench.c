/* `bigbatch bench SUBCOMMAND`: measurements that are not training runs.
 * `bench train` times full training steps (forward, loss, backward, gradient
 * sum, update) of a configuration and prints images/s, GFLOP/s and peak RSS;
 * --profile adds the time per layer type. Add a subcommand to the table. */
#include "cli/cli.h"

#include "train/trainer.h"
#include "util/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int bench_train(int argc, char **argv);

static const cli_command benches[] = {
    {"train", bench_train, "time training steps (images/s, GFLOP/s, peak RSS; --profile: per layer type)"},
    {"allreduce", cli_bench_allreduce, "allreduce time and bandwidth per algorithm and message size (under mpirun -np P)"},
};

int cli_bench(int argc, char **argv)
{
    return cli_dispatch("bigbatch bench", "subcommand", benches, sizeof benches / sizeof benches[0], argc, argv);
}

/* ---- bench train ---- */

/* user + system seconds of this process (all threads) */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static long parse_count(const char *flag, const char *v, long lo)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo) {
        fprintf(stderr, "bigbatch bench train: --%s: expected an integer >= %ld, got '%s'\n", flag, lo, v);
        return -1;
    }
    return n;
}

static void print_profile(const bb_profile *p, int nex, int steps, const double *wall)
{
    double fsum = 0, bsum = 0;
    for (int k = 0; k < BB_PROF_N; k++) { fsum += p->fwd[k]; bsum += p->bwd[k]; }
    double scale = 1e3 / (double)steps / (double)nex;
    printf("\nprofile: ms per step, averaged over the %d compute thread%s (each runs its own workers)\n", nex,
           nex > 1 ? "s" : "");
    printf("  %-26s %9s %9s %9s %7s\n", "", "forward", "backward", "total", "share");
    for (int k = 0; k < BB_PROF_N; k++) {
        double f = p->fwd[k] * scale, b = p->bwd[k] * scale;
        if (p->fwd[k] == 0 && p->bwd[k] == 0) continue;
        const char *name = bb_profile_name(k);
        char label[40];
        if (k == BB_L_BN) snprintf(label, sizeof label, "%s (+ add, relu)", name);
        else if (k == BB_L_ADD) snprintf(label, sizeof label, "%s (+ fused relu)", name);
        else if (k == BB_PROF_GRADSUM) snprintf(label, sizeof label, "%s (per worker)", name);
        else snprintf(label, sizeof label, "%s", name);
        printf("  %-26s %9.2f %9.2f %9.2f %6.1f%%\n", label, f, b, f + b, 100.0 * (f + b) / ((fsum + bsum) * scale));
    }
    printf("  %-26s %9.2f %9.2f %9.2f\n", "all of the above", fsum * scale, bsum * scale, (fsum + bsum) * scale);
    printf("step, wall clock (ms, mean):\n");
    static const char *const parts[5] = {"workers (forward + backward)", "data wait", "gradient combine + allreduce",
                                         "update (SGD, BN running stats)", "whole step"};
    for (int i = 0; i < 5; i++) printf("  %-32s %9.2f\n", parts[i], 1e3 * wall[i] / steps);
}

static int bench_train(int argc, char **argv)
{
    static const char *const extra[] = {"steps", "warmup", NULL};
    const char *vals[2] = {"20", "3"};
    int profile = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            printf("usage: bigbatch bench train [--steps N] [--warmup N] [--profile] [training flags]\n"
                   "Times N training steps after the warm-up ones (default data: synthetic 1x28x28, 10 classes;\n"
                   "--batch-size 128). Prints images/s, GFLOP/s (3 x forward FLOPs per image, as PyTorch\n"
                   "references count) and the peak resident memory; --profile: time per layer type.\n\n");
            cli_print_flags(stdout);
            free(args);
            return 0;
        }
        if (i > 0 && !strcmp(argv[i], "--profile")) { profile = 1; continue; }
        args[nargs++] = argv[i];
    }
    bb_config cfg;
    bb_config_defaults(&cfg);
    bb_config_set(&cfg, "data", "synthetic");
    bb_config_set(&cfg, "batch-size", "128");
    int rc = cli_parse("bench train", nargs, args, &cfg, extra, vals, NULL);
    free(args);
    if (rc) return rc;
    long steps = parse_count("steps", vals[0], 1), warmup = parse_count("warmup", vals[1], 0);
    if (steps < 0 || warmup < 0) return 2;
    if (bb_config_validate(&cfg) != BB_OK) {
        fprintf(stderr, "bigbatch bench train: %s\n", bb_last_error());
        return 2;
    }
    bb_trainer *t = NULL;
    if (bb_trainer_create(&t, &cfg, NULL) != BB_OK) {
        fprintf(stderr, "bigbatch bench train: %s\n", bb_last_error());
        return 1;
    }
    int nex = bb_trainer_executors(t);
    bb_profile *prof = profile ? calloc((size_t)nex, sizeof *prof) : NULL;
    double *times = calloc((size_t)steps, sizeof *times);
    if ((profile && !prof) || !times) { bb_trainer_destroy(t); free(prof); free(times); return 1; }
    const bb_net *net = bb_trainer_net(t);
    double mflop = 2.0 * (double)bb_net_macs(net) / 1e6;
    printf("bench train: %s | kn %lld = %lld workers x %lld | %d threads (%d executors) | kernels %s (%s) | data %s\n",
           net->model_desc, (long long)cfg.batch_size, (long long)(cfg.batch_size / cfg.worker_batch),
           (long long)cfg.worker_batch, bb_trainer_threads(t), nex, bb_kernels_names[cfg.kernels],
           bb_kernels_running(cfg.kernels), bb_data_names[cfg.data]);
    double wall[5] = {0}, cpu0 = 0;
    int status = 0;
    for (long i = 0; i < warmup + steps && !status; i++) {
        if (i == warmup) {
            if (prof) bb_trainer_attach_profiles(t, prof);
            cpu0 = cpu_seconds();
        }
        bb_step_stats st;
        if (bb_trainer_step(t, &st) != BB_OK) {
            fprintf(stderr, "bigbatch bench train: %s\n", bb_last_error());
            status = 1;
            break;
        }
        if (i < warmup) continue;
        times[i - warmup] = st.t_step;
        wall[0] += st.t_fwd + st.t_bwd;
        wall[1] += st.t_data;
        wall[2] += st.t_reduce;
        wall[3] += st.t_update;
        wall[4] += st.t_step;
    }
    double cpu = cpu_seconds() - cpu0;
    if (!status) {
        double med = bb_median(times, (int)steps);  /* sorts times */
        double ips = (double)cfg.batch_size / med;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("steps %ld (after %ld warm-up): step ms median %.2f, min %.2f, max %.2f\n", steps, warmup, 1e3 * med,
               1e3 * times[0], 1e3 * times[steps - 1]);
        printf("images/s %.1f  GFLOP/s %.1f  (3 x %.2f MFLOP forward per image)  peak RSS %.1f MiB\n", ips,
               ips * 3.0 * mflop / 1e3, mflop, (double)ru.ru_maxrss / 1024.0);
        printf("CPU time per step %.2f ms (all threads; time given to other processes not counted): "
               "%.1f images per CPU second\n", 1e3 * cpu / (double)steps, (double)cfg.batch_size * (double)steps / cpu);
        if (prof) {
            bb_profile sum;
            memset(&sum, 0, sizeof sum);
            for (int e = 0; e < nex; e++)
                for (int k = 0; k < BB_PROF_N; k++) { sum.fwd[k] += prof[e].fwd[k]; sum.bwd[k] += prof[e].bwd[k]; }
            print_profile(&sum, nex, (int)steps, wall);
        }
    }
    bb_trainer_attach_profiles(t, NULL);
    bb_trainer_destroy(t);
    free(prof);
    free(times);
    return status;
}
