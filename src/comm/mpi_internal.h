/* Shared by the MPI backend files (comm_mpi.c, allreduce_mpi.c): the
 * communicator's MPI state, the polling wait with its watchdog, and the
 * allreduce algorithms written on point-to-point messages. */
#ifndef BB_COMM_MPI_INTERNAL_H
#define BB_COMM_MPI_INTERNAL_H

#include "comm/comm.h"

#include <mpi.h>

typedef struct {
    MPI_Comm comm;             /* collectives and the algorithms' messages */
    MPI_Comm wd;               /* watchdog announcements only */
    int owns_world;            /* created by MPI_Init: finalize (or abort) on destroy */
    int64_t seq;               /* operations issued on this communicator */
    const char *op;            /* the operation in progress, for messages */
    int64_t op_len;
    float *scratch;            /* receive buffer of the algorithms */
    int64_t scratch_cap;
    int64_t announce[3];       /* what this rank tells its peers on a watchdog stop */
    int64_t *heard;            /* size entries: operation number a peer announced, or -1 */
    char errmsg[1024];         /* the failure every later operation repeats */
} bb_mpi;

/* Waits for every request, polling; fails when the wait lasts longer than
 * c->watchdog or a peer announces that it has stopped. */
bb_status bb_mpi_wait(bb_comm *c, MPI_Request *reqs, int n);
/* Turns an MPI return code into a status (and marks c failed). */
bb_status bb_mpi_check(bb_comm *c, int rc, const char *what);
/* A receive buffer of at least len floats, kept between calls. */
bb_status bb_mpi_scratch(bb_comm *c, int64_t len, float **out);

/* In-place sums over c's ranks on point-to-point messages; len fits an int.
 * ring: reduce-scatter then allgather around the ring, 2(P-1) steps.
 * hd: recursive vector halving (reduce-scatter) then doubling (allgather),
 * 2 log2(P') steps, where P' is the largest power of two <= P; the other
 * P - P' ranks first fold into a neighbour and get the result back at the end. */
bb_status bb_mpi_allreduce_ring(bb_comm *c, float *buf, int64_t len);
bb_status bb_mpi_allreduce_hd(bb_comm *c, float *buf, int64_t len);

#endif
