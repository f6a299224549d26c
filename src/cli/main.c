/* `bigbatch COMMAND ...`: the only code that turns statuses into exit codes. */
#include "cli/cli.h"


static const cli_command commands[] = {
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

int main(int argc, char **argv)
{
    cli_env_setup();
    return cli_dispatch("bigbatch", "command", commands, sizeof commands / sizeof commands[0], argc, argv);
}
