/* Command entry points; each returns the process exit status
 * (0 ok, 1 failure, 2 bad usage, 128+signal when stopped by a signal). */
#ifndef BB_CLI_H
#define BB_CLI_H

#include "train/config.h"

#include <stdio.h>

int cli_summary(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_schedule(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_bench(int argc, char **argv);  /* bench.c: dispatches `bigbatch bench SUBCOMMAND` */
/* `bigbatch bench allreduce` (argv[0] = "allreduce") */
int cli_bench_allreduce(int argc, char **argv);
int cli_sweep(int argc, char **argv);
int cli_plot(int argc, char **argv);
int cli_advise(int argc, char **argv);
/* `bigbatch simulate`: the scaling model of src/sim/sim.h */
int cli_simulate(int argc, char **argv);

/* A table of (sub)commands and its dispatch: `prog NAME args...` runs NAME's
 * function with argv starting at NAME; --help/-h/help lists the table on
 * stdout, no or an unknown name lists it on stderr and returns 2. */
typedef struct { const char *name; int (*fn)(int, char **); const char *help; } cli_command;
int cli_dispatch(const char *prog, const char *what, const cli_command *cmds, size_t n, int argc, char **argv);

/* Applies --flag value / --flag=value pairs of the configuration table to cfg.
 * Arguments named in `extra` (NULL-terminated, without "--") are not config
 * fields; their values are stored in extra_vals[i]. Returns 0, or 2 after
 * printing a message naming the flag. `seen` (may be NULL) collects which
 * config fields were given (by index). */
int cli_parse(const char *cmd, int argc, char **argv, bb_config *cfg, const char *const *extra,
              const char **extra_vals, unsigned char *seen);
void cli_print_flags(FILE *f);
/* Whether this process speaks for the job before the communicator exists:
 * every rank of an mpirun job reaches the same refusal, and rank 0 alone
 * prints it. */
int cli_lead(void);
/* A refusal of the command line: "bigbatch CMD: message" on stderr from the
 * lead process (printf format); returns 2. */
int cli_refuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Applies a preset ("quick", "goyal") before the user's flags. */
int cli_preset(bb_config *cfg, const char *name);
/* SIGINT/SIGTERM ask a running trainer to stop after its current step and
 * write a checkpoint; a second signal ends the process at once. */
void cli_stop_on_signals(void);

/* env.c: the hooks from the BB_* and MPI launcher variables, and the library's
 * messages to stderr (called once, first thing); cli_log_end ends a progress
 * line left open on a terminal. */
void cli_env_setup(void);
void cli_log_end(void);
/* MPI_COMM_WORLD under mpirun (the launcher's variables say so), else one
 * process; algorithm as bb_comm_set_algorithm. */
bb_status cli_comm_create(bb_comm **out, const char *algorithm);

#endif
