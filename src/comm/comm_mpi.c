/* The MPI backend: MPI_Allreduce on MPI_COMM_WORLD. */
#include "comm/comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bb_status mpi_check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return BB_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return bb_fail(BB_ERR_COMM, "%s failed: %s", what, msg);
}

static bb_status mpi_allreduce(bb_comm *c, float *buf, int64_t len)
{
    (void)c;
    for (int64_t off = 0; off < len; off += 1 << 30) {
        int n = (int)(len - off < (1 << 30) ? len - off : (1 << 30));
        BB_TRY(mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf + off, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce"));
    }
    return BB_OK;
}

static bb_status mpi_allreduce_f64(bb_comm *c, double *buf, int64_t len)
{
    (void)c;
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)len, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

static bb_status mpi_bcast(bb_comm *c, void *buf, size_t bytes, int root)
{
    (void)c;
    return mpi_check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

static bb_status mpi_barrier(bb_comm *c)
{
    (void)c;
    return mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

static void mpi_destroy(bb_comm *c)
{
    free(c);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

bb_status bb_comm_mpi(bb_comm **out, const char *algorithm)
{
    int init = 0, provided = 0;
    MPI_Initialized(&init);
    if (!init && MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return bb_fail(BB_ERR_COMM, "MPI_Init_thread failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    bb_comm *c = calloc(1, sizeof *c);
    if (!c) return bb_fail(BB_ERR_NOMEM, "comm: out of memory");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    c->local_size = ls && atoi(ls) > 0 ? atoi(ls) : 1;
    c->backend = "mpi";
    snprintf(c->algorithm, sizeof c->algorithm, "%s", algorithm ? algorithm : "mpi");
    c->allreduce = mpi_allreduce;
    c->allreduce_f64 = mpi_allreduce_f64;
    c->bcast = mpi_bcast;
    c->barrier = mpi_barrier;
    c->destroy = mpi_destroy;
    *out = c;
    return BB_OK;
}
