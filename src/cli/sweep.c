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
           "  --variants LIST        recipe variants, or 'all' (default gradual):\n");
    for (int i = 0; i < bb_sweep_nvariants; i++)
        printf("                           %-16s %s\n", bb_sweep_variants[i].name, bb_sweep_variants[i].help);
    printf("  --plot 0|1             make the plots at the end (default 1; needs gnuplot)\n"
           "  --out DIR              the sweep directory (default runs/sweep)\n"
           "  --max-steps N          stop each run after N iterations (it continues next time)\n\n"
           "training flags (shared by every run; --batch-size, --seed, --lr-scaling and --warmup\n"
           "are set per run):\n");
    cli_print_flags(stdout);
}

static int parse_variants(const char *text, bb_sweep_spec *s)
{
    s->nvariants = 0;
    if (!strcmp(text, "all")) {
        for (int i = 0; i < bb_sweep_nvariants; i++) s->variants[s->nvariants++] = i;
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int v = bb_sweep_variant_find(tok);
        if (v < 0) {
            char known[512] = "all";
            for (int i = 0; i < bb_sweep_nvariants; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), ", %s", bb_sweep_variants[i].name);
            return cli_refuse("sweep", "--variants: unknown variant '%s' (known: %s)", tok, known);
        }
        for (int i = 0; i < s->nvariants; i++)
            if (s->variants[i] == v) v = -1;
        if (v >= 0 && s->nvariants < BB_SWEEP_MAX) s->variants[s->nvariants++] = v;
    }
    if (s->nvariants == 0) return cli_refuse("sweep", "--variants: empty list");
    return 0;
}

static int summarize_and_plot(const char *dir, int plot)
{
    bb_sweep_results res;
    if (bb_sweep_collect(dir, &res) != BB_OK) {
        fprintf(stderr, "bigbatch sweep: %s\n", bb_last_error());
        return 1;
    }
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
    static const char *const extra[] = {"sizes", "seeds", "variants", "plot", NULL};
    const char *vals[4] = {"256:16384", NULL, "gradual", "1"};
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
    if (parse_variants(vals[2], &spec) != 0) return 2;
    int plot = strcmp(vals[3], "0") != 0;
    if (bb_config_validate(&spec.base) != BB_OK) return cli_refuse("sweep", "%s", bb_last_error());
    bb_comm *comm = NULL;
    if (cli_comm_create(&comm, spec.base.allreduce) != BB_OK) {
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
        int r2 = summarize_and_plot(spec.base.out, plot && s == BB_OK);
        if (rc == 0) rc = r2;
    }
    return rc;
}

int cli_plot(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch plot DIR [--out PLOTDIR]\n"
                   "Plots a sweep directory (test error vs minibatch size, training curves small vs large\n"
                   "minibatch, warmup and lr-scaling variants, lr schedules, gradient noise scale) or one\n"
                   "run directory (error curves, lr schedule, noise scale) as PNG with gnuplot, and\n"
                   "refreshes a sweep's summary files. Output: PLOTDIR (default DIR/plots), with the\n"
                   "gnuplot scripts and data files that made each PNG.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
        else if (argv[i][0] == '-') { fprintf(stderr, "bigbatch plot: unknown flag '%s'\n", argv[i]); return 2; }
        else if (!dir) dir = argv[i];
        else { fprintf(stderr, "bigbatch plot: one directory, got '%s' and '%s'\n", dir, argv[i]); return 2; }
    }
    if (!dir) { fprintf(stderr, "bigbatch plot: give a run or sweep directory (bigbatch plot --help)\n"); return 2; }
    bb_sweep_results res;
    if (bb_sweep_collect(dir, &res) != BB_OK) {
        fprintf(stderr, "bigbatch plot: %s\n", bb_last_error());
        return 1;
    }
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
