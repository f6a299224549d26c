/* Backend choice and the single-process backend. */
#include "comm/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bb_status single_allreduce(bb_comm *c, float *buf, int64_t len) { (void)c; (void)buf; (void)len; return BB_OK; }
static bb_status single_allreduce_f64(bb_comm *c, double *buf, int64_t len) { (void)c; (void)buf; (void)len; return BB_OK; }
static bb_status single_bcast(bb_comm *c, void *buf, size_t bytes, int root) { (void)c; (void)buf; (void)bytes; (void)root; return BB_OK; }
static bb_status single_barrier(bb_comm *c) { (void)c; return BB_OK; }
static void single_destroy(bb_comm *c) { free(c); }
static void single_abort(bb_comm *c, int code) { (void)c; (void)code; }

static bb_status single_split(bb_comm *c, int color, bb_comm **out)
{
    *out = NULL;
    if (color < 0) return BB_OK;
    BB_TRY(bb_comm_single(out));
    return bb_comm_set_algorithm(*out, c->algorithm);
}

bb_status bb_comm_single(bb_comm **out)
{
    bb_comm *c = calloc(1, sizeof *c);
    if (!c) return bb_fail(BB_ERR_NOMEM, "comm: out of memory");
    c->rank = 0;
    c->size = 1;
    c->local_size = 1;
    c->backend = "single";
    strcpy(c->algorithm, "mpi");
    c->allreduce = single_allreduce;
    c->allreduce_f64 = single_allreduce_f64;
    c->bcast = single_bcast;
    c->barrier = single_barrier;
    c->destroy = single_destroy;
    c->split = single_split;
    c->abort = single_abort;
    c->watchdog = 60;
    c->lead = 1;
    c->threaded = 1;
    *out = c;
    return BB_OK;
}

bb_status bb_comm_set_algorithm(bb_comm *c, const char *algorithm)
{
    if (!algorithm || !algorithm[0]) algorithm = "mpi";
    if (strcmp(algorithm, "mpi") && strcmp(algorithm, "ring") && strcmp(algorithm, "hd") && strcmp(algorithm, "blocking"))
        return bb_fail(BB_ERR_INVALID, "allreduce algorithm '%s': expected mpi, ring or hd", algorithm);
    snprintf(c->algorithm, sizeof c->algorithm, "%s", algorithm);
    return BB_OK;
}

void bb_comm_destroy(bb_comm *c)
{
    if (c) c->destroy(c);
}
