/* One interface for summing across processes. The single-process backend is
 * a no-op; the MPI backend (comm_mpi.c, built with MPI=1) is chosen when the
 * program runs under mpirun. Every executor applies the identical update after
 * the sum, so there is no broadcast of weights after the first one.
 * Under MPI every wait is a polling loop with a deadline (`watchdog`): a peer
 * that died or hung makes the operation fail within a bounded time, with a
 * message naming it, instead of blocking forever (docs/DISTRIBUTED.md). */
#ifndef BB_COMM_H
#define BB_COMM_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bb_comm bb_comm;
struct bb_comm {
    int rank, size;
    int local_size;            /* ranks on this host (for thread counts) */
    const char *backend;       /* "single", "mpi" */
    char algorithm[12];        /* "mpi", "ring", "hd" */
    bb_status (*allreduce)(bb_comm *c, float *buf, int64_t len);        /* sum in place */
    bb_status (*allreduce_f64)(bb_comm *c, double *buf, int64_t len);   /* sum in place */
    bb_status (*bcast)(bb_comm *c, void *buf, size_t bytes, int root);
    bb_status (*barrier)(bb_comm *c);
    void (*destroy)(bb_comm *c);
    /* The ranks with the same color >= 0 form a new communicator (ranked as
     * here); color < 0 gives *out = NULL. Collective over c. */
    bb_status (*split)(bb_comm *c, int color, bb_comm **out);
    /* Ends every process of the job at once (after a failure that the other
     * ranks cannot see); returns only for the single-process backend. */
    void (*abort)(bb_comm *c, int code);
    double watchdog;           /* seconds one wait may last (0: forever); default 60 */
    double spin;               /* seconds a wait busy-polls before it sleeps between polls */
    int failed;                /* a peer died, hung or erred: later operations fail at once */
    int lead;                  /* this rank reports job-wide failures: rank 0, or the lowest live rank */
    int threaded;              /* operations may be issued from a thread other than the creator's */
    void *impl;
};

/* algorithm: "mpi" (the library's own), "ring" or "hd" (halving-doubling).
 * Whether a program runs under mpirun is for it to say (the CLI looks at the
 * launcher's variables: cli_comm_create); the library does not look. */
void bb_comm_destroy(bb_comm *c);
/* Validates and selects the float allreduce algorithm: "mpi", "ring", "hd",
 * or "blocking" (a plain blocking MPI_Allreduce that the watchdog cannot
 * interrupt: the reference row of `bigbatch bench allreduce`). */
bb_status bb_comm_set_algorithm(bb_comm *c, const char *algorithm);

/* The single-process backend. */
bb_status bb_comm_single(bb_comm **out);
/* MPI_COMM_WORLD. Provided by comm_mpi.c, or by comm_nompi.c (which says
 * BB_ERR_UNSUPPORTED). */
bb_status bb_comm_mpi(bb_comm **out, const char *algorithm);

#endif
