/* `bigbatch COMMAND ...`: the only code that turns statuses into exit codes. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; int (*fn)(int, char **); const char *help; } commands[] = {
    {"train", cli_train, "train with the large-minibatch recipe (mpirun -np P for P processes)"},
    {"eval", cli_eval, "evaluate a checkpoint on the test set"},
    {"schedule", cli_schedule, "print the learning rate per epoch or iteration of a configuration"},
    {"inspect", cli_inspect, "show a checkpoint's metadata and tensor hashes"},
    {"summary", cli_summary, "print a model's layers, parameter count and FLOPs"},
    {"sweep", cli_sweep, "train at several minibatch sizes (and seeds, recipe variants); table and plots"},
    {"plot", cli_plot, "plot a run or sweep directory (PNG, with gnuplot)"},
    {"advise", cli_advise, "estimate the critical minibatch size from a short run (gradient noise scale)"},
    {"bench", cli_bench, "measurements: bench train (throughput, per-layer profile), bench allreduce (under mpirun -np P)"},
    {"simulate", cli_simulate, "predict time per iteration and scaling on a cluster (docs/SCALING.md)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bigbatch COMMAND [flags]   (bigbatch COMMAND --help for its flags)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    cli_env_setup();
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bigbatch: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
