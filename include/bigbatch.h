/* bigbatch: ResNet training with large-minibatch synchronous SGD, as a library.
 * The one public header: opaque handles, status codes, a configuration set by
 * key/value text (the keys are the `bigbatch train` flags without "--"). The
 * library never prints, exits or reads the environment: its messages go to the
 * callback given to bb_log_set. Ownership is noted on each function.
 * Link: pkg-config --cflags --libs bigbatch. Module map: docs/ARCHITECTURE.md. */
#ifndef BIGBATCH_H
#define BIGBATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ---- */

typedef enum {
    BB_OK = 0,
    BB_ERR_INVALID,      /* a bad argument, flag or configuration value */
    BB_ERR_IO,           /* open/read/write/fsync/rename failed */
    BB_ERR_FORMAT,       /* a file's contents are not what they must be */
    BB_ERR_NOMEM,
    BB_ERR_NUMERIC,      /* non-finite loss or gradient */
    BB_ERR_COMM,         /* a peer process failed, hung or disagreed */
    BB_ERR_INTERRUPTED,  /* stopped by a signal after a clean checkpoint */
    BB_ERR_UNSUPPORTED   /* built without the needed component */
} bb_status;

/* What the last failing call on this thread said (what, where, expected vs
 * found). The string belongs to the library and lasts until the next failure
 * on the thread. */
const char *bb_last_error(void);
/* A status's name ("i/o error"); a static string. */
const char *bb_status_name(bb_status s);

/* ---- messages ---- */

typedef enum {
    BB_LOG_ERROR,
    BB_LOG_WARN,
    BB_LOG_INFO,
    BB_LOG_PROGRESS,  /* a progress line of bb_trainer_run worth keeping (every log-every iterations) */
    BB_LOG_STATUS     /* the same line at the other iterations: for a terminal to redraw in place, else to drop */
} bb_log_level;

/* msg is one line without its newline, valid during the call only. Mostly
 * called from the thread that made the library call, but the loader and
 * communication threads report too: the callback must be thread-safe. */
typedef void (*bb_log_fn)(bb_log_level level, const char *msg, void *user);
/* Where the library's messages go, for the whole process (NULL: nowhere, the
 * default). Set it before creating trainers; `user` is passed back as is. */
void bb_log_set(bb_log_fn fn, void *user);

/* ---- configuration ---- */

/* A training configuration: every field has a default; keys, bounds and help
 * come from one table (`bigbatch train --help` prints it). */
typedef struct bb_config bb_config;

/* A configuration with every default. The caller owns *out and frees it with
 * bb_config_destroy. */
bb_status bb_config_create(bb_config **out);
void bb_config_destroy(bb_config *c);  /* NULL is fine */
/* Sets one key ("batch-size", "lr", "data", ...) from text, checking its type,
 * bounds and choices; on failure c is unchanged. Copies value. */
bb_status bb_config_set(bb_config *c, const char *key, const char *value);
/* Writes a key's value as text into buf (cap bytes, terminated);
 * BB_ERR_INVALID for an unknown key or a value longer than cap - 1. */
bb_status bb_config_value(const bb_config *c, const char *key, char *buf, size_t cap);
/* The i-th key (0-based) and, when help is not NULL, its one-line help; NULL
 * past the last. Static strings. */
const char *bb_config_key(int i, const char **help);
/* The checks across keys (batch size divisible by worker batch, ...) that
 * bb_trainer_create also makes. */
bb_status bb_config_validate(const bb_config *c);

/* ---- processes ---- */

/* The group of processes that train together. A trainer given NULL makes a
 * single-process one of its own. */
typedef struct bb_comm bb_comm;
/* Every process of the MPI job (MPI_COMM_WORLD, initialising MPI); algorithm:
 * "mpi", "ring" or "hd". BB_ERR_UNSUPPORTED in a build without MPI. The
 * caller owns *out: bb_comm_destroy after every trainer using it. */
bb_status bb_comm_mpi(bb_comm **out, const char *algorithm);
void bb_comm_destroy(bb_comm *c);  /* NULL is fine */

/* ---- training ---- */

typedef struct bb_trainer bb_trainer;

/* One iteration's metrics (bb_step_metric iterates them by name). */
typedef struct {
    int64_t step;            /* the iteration just done (0-based) */
    double epoch;            /* fractional epoch at its end */
    double loss, err;        /* minibatch mean loss and top-1 error */
    double lr, grad_norm;
    double t_data, t_fwd, t_bwd, t_reduce, t_update, t_step;  /* seconds; per-thread ones averaged */
    double t_allreduce;      /* seconds in gradient allreduce, overlapped with backward or not; the part
                                not hidden is in t_reduce (the wait after the last backward) */
    double b_noise;          /* gradient noise scale estimate (with --noise-scale), else 0 */
    double noise_g2, noise_trace;  /* this step's unbiased estimates of |G|^2 and tr(Sigma) */
} bb_step_stats;

typedef struct {
    double loss, top1_err, top5_err;
    int64_t count;
} bb_eval_result;

/* Loads the data the configuration names, builds the model and initialises
 * the parameters. cfg is copied (the caller keeps it); comm is borrowed (NULL:
 * one process) and must outlive the trainer. The caller owns *out (NULL on
 * failure) and frees it with bb_trainer_destroy. */
bb_status bb_trainer_create(bb_trainer **out, const bb_config *cfg, bb_comm *comm);
/* Continues a run in one call: the configuration stored in `checkpoint`, the
 * keys in `overrides` on top (a NULL-terminated key, value, key, value, ...
 * list; NULL for none; keys that are part of the mathematics must not change),
 * the trainer, and its state restored. Ownership as bb_trainer_create. */
bb_status bb_trainer_resume(bb_trainer **out, const char *checkpoint, const char *const *overrides, bb_comm *comm);
void bb_trainer_destroy(bb_trainer *t);  /* NULL is fine */

/* One iteration: the next minibatch through all workers, the gradient sum and
 * the update. Fills *st (caller-owned). */
bb_status bb_trainer_step(bb_trainer *t, bb_step_stats *st);
/* The i-th metric of a step (0-based) by name ("loss", "lr", "t_step", ...)
 * and value: returns 1, or 0 past the last. Names are static strings. */
int bb_step_metric(const bb_step_stats *st, int i, const char **name, double *value);
/* Top-1/top-5 error and mean loss over the whole test set. */
bb_status bb_trainer_evaluate(bb_trainer *t, bb_eval_result *r);
/* Writes a checkpoint atomically (parameters, momentum, BN statistics, the
 * configuration and position) to path; bb_trainer_resume continues from it. */
bb_status bb_trainer_save(bb_trainer *t, const char *path);
/* The whole run the configuration describes, as `bigbatch train` does it:
 * epochs, evaluation, metric files and checkpoints in the key "out",
 * progress through the log callback; BB_ERR_INTERRUPTED after
 * bb_trainer_request_stop (with a checkpoint written first). */
bb_status bb_trainer_run(bb_trainer *t);
/* Async-signal-safe: running trainers stop after their current iteration. */
void bb_trainer_request_stop(int signo);

/* Iterations done, per epoch and in the whole run. */
int64_t bb_trainer_iteration(const bb_trainer *t);
int64_t bb_trainer_steps_per_epoch(const bb_trainer *t);
int64_t bb_trainer_total_steps(const bb_trainer *t);
/* The trainer's configuration (borrowed: valid while t lives). */
const bb_config *bb_trainer_config(const bb_trainer *t);

#ifdef __cplusplus
}
#endif

#endif
