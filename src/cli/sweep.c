/* `bigbatch sweep` and `bigbatch plot`: train one configuration at several
 * minibatch sizes, tabulate and plot the results (src/sweep/sweep.h). */
#include "cli/cli.h"

#include "comm/comm.h"
#include "sweep/sweep.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int flag_index(const char *name)
{
    const bb_config_field *f = bb_config_find(name);
    return f ? (int)(f - bb_config_fields) : -1;
}

static const char TARGET_HELP[] =
    "  --tolerance POINTS     kn*: the largest kn whose final test error is within POINTS of the\n"
    "                         reference's, and every smaller kn's too (default 0.5)\n"
    "  --target PERCENT       steps to target: the test error to reach (default: the reference's\n"
    "                         final error + the tolerance)\n"
    "  --ref-kn KN            the reference: the recipe (gradual) at KN (default its smallest kn)\n";

static void sweep_help(void)
{
    printf("usage: bigbatch sweep [--sizes LIST] [--seeds LIST] [--variants LIST] [training flags]\n"
           "Trains the configuration once per (minibatch size, variant, seed), each run in\n"
           "OUT/runs/NAME, then writes OUT/summary.{md,csv,json}, OUT/curves.{csv,json} and the\n"
           "plots in OUT/plots. Running the same command again skips finished runs and resumes\n"
           "unfinished ones from their checkpoints (Ctrl-C checkpoints the current run first).\n"
           "Another command with other --sizes/--seeds/--variants and the same training flags\n"
           "adds runs to the same sweep. The layout is described in docs/SWEEP.md.\n\n"
           "sweep flags:\n"
           "  --sizes LIST           total minibatch sizes kn, e.g. 256,512,1024 or 256:16384 (every\n"
           "                         power of two in between) (default 256:16384); n = --worker-batch\n"
           "  --seeds LIST           seeds, e.g. 1,2,3 (default: --seed)\n"
           "  --variants LIST        recipe variants (default gradual); 'paper': the paper's ablations\n"
           "                         (the first five), 'beyond': the other recipes, 'all': every one:\n");
    for (int i = 0; i < bb_sweep_nvariants; i++)
        printf("                           %-16s %s\n", bb_sweep_variants[i].name, bb_sweep_variants[i].help);
    printf("%s", TARGET_HELP);
    printf("  --plot 0|1             make the plots at the end (default 1; needs gnuplot)\n"
           "  --out DIR              the sweep directory (default runs/sweep)\n"
           "  --max-steps N          stop each run after N iterations (it continues next time)\n\n"
           "training flags (shared by every run; --batch-size, --seed, --lr-scaling and --warmup\n"
           "are set per run):\n");
    cli_print_flags(stdout);
}

/* --tolerance POINTS, --target PERCENT, --ref-kn KN (NULL: the default) */
static int parse_target_opts(const char *cmd, const char *tol, const char *target, const char *ref_kn,
                             bb_sweep_target_opts *o)
{
    char *end;
    if (tol) {
        double v = strtod(tol, &end);
        if (*end || end == tol || !(v >= 0 && v < 100))
            return cli_refuse(cmd, "--tolerance: expected error points in [0, 100), got '%s'", tol);
        o->tolerance = v / 100;
    }
    if (target) {
        double v = strtod(target, &end);
        if (*end || end == target || !(v > 0 && v <= 100))
            return cli_refuse(cmd, "--target: expected a test error in percent, in (0, 100], got '%s'", target);
        o->target = v / 100;
    }
    if (ref_kn) {
        long long v = strtoll(ref_kn, &end, 10);
        if (*end || end == ref_kn || v < 1) {
            return cli_refuse(cmd, "--ref-kn: expected a minibatch size, got '%s'", ref_kn);
        }
        o->ref_kn = v;
    }
    return 0;
}

static int summarize_and_plot(const char *dir, int plot, const char *const *topts)
{
    bb_sweep_results res;
    if (bb_sweep_collect(dir, &res) != BB_OK) {
        fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        return 1;
    }
    parse_target_opts("sweep", topts[0], topts[1], topts[2], &res.opts);  /* checked before the runs */
    int rc = 0;
    printf("\n");
    if (bb_sweep_write_summary(&res, stdout) != BB_OK) {
        fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        rc = 1;
    }
    printf("\nsummary: %s/summary.{md,csv,json}, curves: %s/curves.{csv,json}\n", dir, dir);
    if (plot && rc == 0) {
        bb_status s = bb_sweep_plot(&res, NULL, stdout);
        if (s == BB_ERR_UNSUPPORTED) fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        else if (s != BB_OK) { fprintf(stderr, "bigbatch sweep: plots: %s\n", bb_last_error()); rc = 1; }
    }
    bb_sweep_results_free(&res);
    return rc;
}

int cli_sweep(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { sweep_help(); return 0; }
    static const char *const extra[] = {"sizes", "seeds", "variants", "plot", "tolerance", "target", "ref-kn", NULL};
    const char *vals[7] = {"256:16384", NULL, "gradual", "1", NULL, NULL, NULL};
    bb_sweep_spec spec;
    memset(&spec, 0, sizeof spec);
    bb_config_defaults(&spec.base);
    unsigned char seen[128] = {0};
    if (cli_parse("sweep", argc, argv, &spec.base, extra, vals, seen) != 0) return 2;
    if (!seen[flag_index("out")]) snprintf(spec.base.out, sizeof spec.base.out, "runs/sweep");
    static const char *const per_run[] = {"batch-size", "lr-scaling", "warmup", NULL};
    for (int i = 0; per_run[i]; i++)
        if (seen[flag_index(per_run[i])]) return cli_refuse("sweep", "--%s is set per run; use --sizes or --variants", per_run[i]);
    if (seen[flag_index("seed")] && vals[1]) return cli_refuse("sweep", "give --seed or --seeds, not both");
    if ((spec.nsizes = bb_sweep_parse_list(vals[0], spec.sizes, BB_SWEEP_MAX, "sizes")) < 0)
        return cli_refuse("sweep", "%s", bb_last_error());
    if (vals[1]) {
        if ((spec.nseeds = bb_sweep_parse_list(vals[1], spec.seeds, BB_SWEEP_MAX, "seeds")) < 0)
            return cli_refuse("sweep", "%s", bb_last_error());
    } else {
        spec.seeds[0] = spec.base.seed;
        spec.nseeds = 1;
    }
    if ((spec.nvariants = bb_sweep_parse_variants(vals[2], spec.variants, BB_SWEEP_MAX)) < 0)
        return cli_refuse("sweep", "%s", bb_last_error());
    int plot = strcmp(vals[3], "0") != 0;
    bb_sweep_target_opts topt = {0};  /* only checked here; applied to the results later */
    if (parse_target_opts("sweep", vals[4], vals[5], vals[6], &topt) != 0) return 2;
    if (bb_config_validate(&spec.base) != BB_OK) return cli_refuse("sweep", "%s", bb_last_error());
    bb_comm *comm = NULL;
    if (cli_comm_create(&comm, bb_allreduce_names[spec.base.allreduce]) != BB_OK) {
        fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        return 1;
    }
    cli_stop_on_signals();
    bb_sweep_tally tally;
    bb_status s = bb_sweep_run(&spec, comm, &tally);
    cli_log_end();
    int rank0 = comm->rank == 0, rc = 0;
    if (s == BB_ERR_INTERRUPTED) {
        if (rank0) fprintf(stderr, "bigbatch sweep: %s\nbigbatch sweep: stopped; the same command continues the sweep\n",
                           bb_last_error());
        rc = 130;
    } else if (s != BB_OK) {
        if (rank0) fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        rc = 1;
    } else if (rank0) {
        fprintf(stderr, "bigbatch sweep: %d runs planned: %d finished now, %d finished before, %d diverged, %d unfinished\n",
                tally.planned, tally.finished, tally.skipped, tally.diverged, tally.unfinished);
    }
    bb_comm_destroy(comm);
    /* the table and plots of whatever is there, also after an interruption */
    if (rank0 && (s == BB_OK || s == BB_ERR_INTERRUPTED)) {
        int r2 = summarize_and_plot(spec.base.out, plot && s == BB_OK, vals + 4);
        if (rc == 0) rc = r2;
    }
    return rc;
}

int cli_plot(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *topts[3] = {NULL, NULL, NULL};
    static const char *const tnames[3] = {"--tolerance", "--target", "--ref-kn"};
    for (int i = 1; i < argc; i++) {
        int t = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(argv[i], tnames[k])) t = k;
        if (t >= 0) {
            if (i + 1 >= argc) { fprintf(stderr, "bigbatch plot: %s needs a value\n", argv[i]); return 2; }
            topts[t] = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch plot DIR [--out PLOTDIR] [--tolerance POINTS] [--target PERCENT] [--ref-kn KN]\n"
                   "Plots a sweep directory (test error and steps to a target error vs minibatch size, training\n"
                   "curves small vs large minibatch, the recipe variants, lr schedules, gradient noise scale) or one\n"
                   "run directory (error curves, lr schedule, noise scale) as PNG with gnuplot, and\n"
                   "refreshes a sweep's summary files. Output: PLOTDIR (default DIR/plots), with the\n"
                   "gnuplot scripts and data files that made each PNG.\n\n");
            printf("%s", TARGET_HELP);
            return 0;
        }
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
        else if (argv[i][0] == '-') { fprintf(stderr, "bigbatch plot: unknown flag '%s'\n", argv[i]); return 2; }
        else if (!dir) dir = argv[i];
        else { fprintf(stderr, "bigbatch plot: one directory, got '%s' and '%s'\n", dir, argv[i]); return 2; }
    }
    if (!dir) { fprintf(stderr, "bigbatch plot: give a run or sweep directory (bigbatch plot --help)\n"); return 2; }
    bb_sweep_target_opts topt = {0};  /* only checked here; applied to the results later */
    if (parse_target_opts("plot", topts[0], topts[1], topts[2], &topt) != 0) return 2;
    bb_sweep_results res;
    if (bb_sweep_collect(dir, &res) != BB_OK) {
        fprintf(stderr, "bigbatch plot: %s\n", bb_last_error());
        return 1;
    }
    parse_target_opts("plot", topts[0], topts[1], topts[2], &res.opts);
    int rc = 0;
    if (res.is_sweep && bb_sweep_write_summary(&res, stdout) != BB_OK) {
        fprintf(stderr, "bigbatch plot: %s\n", bb_last_error());
        rc = 1;
    }
    bb_status s = bb_sweep_plot(&res, out, stdout);
    if (s != BB_OK) {
        fprintf(stderr, "bigbatch plot: %s\n", bb_last_error());
        rc = 1;
    }
    bb_sweep_results_free(&res);
    return rc;
}
