/* Buckets, the per-bucket merges and the communication thread of overlap.h.
 * Thread roles in a step: executors call last_worker/ready; whichever
 * executor is last through a bucket merges it across executors and marks it
 * ready; the communication thread allreduces ready buckets strictly in bucket
 * order (every rank issues the same sequence of collectives); the main thread
 * waits in finish. Only the communication thread calls MPI during a step, the
 * main thread only between steps (MPI_THREAD_SERIALIZED is enough). */
#include "train/overlap.h"

#include "util/hooks.h"
#include "util/log.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int64_t lo, hi; } bucket;

typedef struct {
    bb_overlap *o;
    int e;
    int next;                  /* first bucket this executor has not merged yet */
    const float *g;
    double *sq;
} exec_state;

struct bb_overlap {
    bb_comm *comm;
    bb_gradsum *parts;
    int nparts;
    int64_t P, G;
    bucket *b;                 /* in the order they become final */
    int nb;
    atomic_int *pending;       /* executors still to pass each bucket */
    exec_state *ex;
    bb_gsum_plan plan;             /* the cross-executor merges */
    float *result;
    pthread_mutex_t plan_mu;
    int plan_built;

    /* communication thread (only when comm->size > 1 and comm->threaded) */
    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_ready, cv_done;
    unsigned char *ready;
    int cursor;                /* next bucket to allreduce; nb = idle */
    int quit, abandoned;
    bb_status status;
    char errmsg[1024];
    double t_comm;
    /* BB_TRACE_BUCKETS=1: per bucket, when it was ready, started and ended */
    int trace;
    int64_t steps;
    double t0, t_backward, *t_ready, *t_begin, *t_end;
};

static bb_status reduce_bucket(bb_overlap *o, int i)
{
    return o->comm->allreduce(o->comm, o->result + o->b[i].lo, o->b[i].hi - o->b[i].lo);
}

static void *comm_main(void *arg)
{
    bb_overlap *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->quit && !(o->cursor < o->nb && (o->ready[o->cursor] || o->abandoned)))
            pthread_cond_wait(&o->cv_ready, &o->mu);
        if (o->quit) break;
        if (!o->ready[o->cursor]) {  /* abandoned: this bucket will never come */
            o->cursor = o->nb;
            pthread_cond_broadcast(&o->cv_done);
            continue;
        }
        int i = o->cursor;
        bb_status prev = o->status;
        pthread_mutex_unlock(&o->mu);
        double t0 = bb_now();
        bb_status s = prev == BB_OK ? reduce_bucket(o, i) : prev;
        double dt = bb_now() - t0;
        pthread_mutex_lock(&o->mu);
        if (o->trace) { o->t_begin[i] = t0; o->t_end[i] = t0 + dt; }
        o->t_comm += dt;
        if (s != BB_OK && o->status == BB_OK) {
            o->status = s;
            snprintf(o->errmsg, sizeof o->errmsg, "%s", bb_last_error());
        }
        o->cursor++;
        if (o->cursor == o->nb) pthread_cond_broadcast(&o->cv_done);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

bb_status bb_overlap_create(bb_overlap **out, bb_comm *comm, bb_gradsum *parts, int nparts, int64_t P, int64_t G,
                            int64_t bucket_floats)
{
    *out = NULL;
    if (bucket_floats < 1) bucket_floats = 1;
    bb_overlap *o = calloc(1, sizeof *o);
    if (!o) return bb_fail(BB_ERR_NOMEM, "overlap: out of memory");
    o->comm = comm;
    o->parts = parts;
    o->nparts = nparts;
    o->P = P;
    o->G = G;
    int64_t nparam = (P + bucket_floats - 1) / bucket_floats;
    o->nb = (int)nparam + (G > P);
    o->b = calloc((size_t)o->nb + 1, sizeof *o->b);
    o->pending = calloc((size_t)o->nb + 1, sizeof *o->pending);
    o->ready = calloc((size_t)o->nb + 1, 1);
    o->ex = calloc((size_t)nparts, sizeof *o->ex);
    o->trace = bb_hooks_get()->trace_buckets > 0;
    if (o->trace) {
        o->t_ready = calloc((size_t)o->nb + 1, sizeof(double));
        o->t_begin = calloc((size_t)o->nb + 1, sizeof(double));
        o->t_end = calloc((size_t)o->nb + 1, sizeof(double));
        if (!o->t_ready || !o->t_begin || !o->t_end) o->trace = 0;
    }
    int cap = 1;
    for (int e = 0; e < nparts; e++) cap += parts[e].nowned;
    if (!o->b || !o->pending || !o->ready || !o->ex || bb_gsum_plan_init(&o->plan, cap) != BB_OK) {
        bb_overlap_destroy(o);
        return bb_fail(BB_ERR_NOMEM, "overlap: out of memory");
    }
    int i = 0;
    if (G > P) o->b[i++] = (bucket){P, G};
    for (int64_t j = nparam - 1; j >= 0; j--) {
        int64_t hi = (j + 1) * bucket_floats;
        o->b[i++] = (bucket){j * bucket_floats, hi < P ? hi : P};
    }
    for (int e = 0; e < nparts; e++) { o->ex[e].o = o; o->ex[e].e = e; }
    pthread_mutex_init(&o->plan_mu, NULL);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv_ready, NULL);
    pthread_cond_init(&o->cv_done, NULL);
    o->cursor = o->nb;
    o->threaded = comm->size > 1 && comm->threaded;
    if (o->threaded && pthread_create(&o->thread, NULL, comm_main, o) != 0) o->threaded = 0;
    *out = o;
    return BB_OK;
}

void bb_overlap_destroy(bb_overlap *o)
{
    if (!o) return;
    if (o->threaded) {
        pthread_mutex_lock(&o->mu);
        o->quit = 1;
        pthread_cond_broadcast(&o->cv_ready);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    if (o->ex) {
        pthread_mutex_destroy(&o->plan_mu);
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv_ready);
        pthread_cond_destroy(&o->cv_done);
    }
    bb_gsum_plan_free(&o->plan);
    free(o->b);
    free(o->pending);
    free(o->ready);
    free(o->ex);
    free(o->t_ready);
    free(o->t_begin);
    free(o->t_end);
    free(o);
}

int bb_overlap_buckets(const bb_overlap *o) { return o->nb; }

void bb_overlap_start(bb_overlap *o)
{
    for (int i = 0; i < o->nb; i++) atomic_store(&o->pending[i], o->nparts);
    for (int e = 0; e < o->nparts; e++) {
        o->ex[e].next = 0;
        o->ex[e].g = NULL;
        o->ex[e].sq = NULL;
    }
    o->plan_built = 0;
    o->result = NULL;
    o->plan.n = 0;
    o->t0 = bb_now();
    pthread_mutex_lock(&o->mu);
    memset(o->ready, 0, (size_t)o->nb);
    o->cursor = 0;
    o->abandoned = 0;
    o->status = BB_OK;
    o->errmsg[0] = 0;
    o->t_comm = 0;
    pthread_mutex_unlock(&o->mu);
}

void bb_overlap_last_worker(bb_overlap *o, int e, int64_t w, const float *g, double *sq)
{
    bb_gradsum_push_deferred(&o->parts[e], w);
    o->ex[e].g = g;
    o->ex[e].sq = sq;
    if (sq) *sq = 0;
}

/* sum of g[i]^2 over [lo, hi) in double: SQ_LANES running sums (lane i %
 * SQ_LANES, counted from lo), added in lane order at the end; one order for
 * any caller, and no chain of dependent additions as long as the range */
#define SQ_LANES 8
double bb_sq_sum(const float *g, int64_t lo, int64_t hi)
{
    double lane[SQ_LANES] = {0}, s = 0;
    int64_t i = lo;
    for (; i + SQ_LANES <= hi; i += SQ_LANES)
        for (int j = 0; j < SQ_LANES; j++) lane[j] += (double)g[i + j] * g[i + j];
    for (int j = 0; i + j < hi; j++) lane[j] += (double)g[i + j] * g[i + j];
    for (int j = 0; j < SQ_LANES; j++) s += lane[j];
    return s;
}

double bb_overlap_sq(const bb_overlap *o, const float *g)
{
    double s = 0;
    for (int i = 0; i < o->nb; i++)
        if (o->b[i].lo < o->P) s += bb_sq_sum(g, o->b[i].lo, o->b[i].hi);
    return s;
}

/* the cross-executor merges, planned once every executor has pushed its last
 * worker (true once any bucket has been passed by all of them) */
static void ensure_plan(bb_overlap *o)
{
    pthread_mutex_lock(&o->plan_mu);
    if (!o->plan_built) {
        o->result = bb_gradsum_combine_plan(o->parts, o->nparts, &o->plan);
        o->plan_built = 1;
    }
    pthread_mutex_unlock(&o->plan_mu);
}

void bb_overlap_ready(bb_overlap *o, int e, int64_t lo)
{
    exec_state *x = &o->ex[e];
    while (x->next < o->nb && o->b[x->next].lo >= lo) {
        int i = x->next++;
        const bucket *b = &o->b[i];
        /* |g|^2 before the merges: the combine may add into g */
        if (x->sq && b->lo < o->P) *x->sq += bb_sq_sum(x->g, b->lo, b->hi);
        bb_gsum_plan_apply(&o->parts[e].deferred, b->lo, b->hi);
        if (atomic_fetch_sub(&o->pending[i], 1) != 1) continue;
        ensure_plan(o);
        bb_gsum_plan_apply(&o->plan, b->lo, b->hi);
        if (o->trace) o->t_ready[i] = bb_now();
        if (o->threaded) {
            pthread_mutex_lock(&o->mu);
            o->ready[i] = 1;
            if (i == o->cursor) pthread_cond_broadcast(&o->cv_ready);
            pthread_mutex_unlock(&o->mu);
        } else {
            o->ready[i] = 1;
        }
    }
}

void bb_overlap_ready_cb(void *arg, int64_t lo)
{
    exec_state *x = arg;
    bb_overlap_ready(x->o, x->e, lo);
}

void *bb_overlap_arg(bb_overlap *o, int e) { return &o->ex[e]; }

/* one line per bucket, milliseconds from the start of the step */
static void trace(bb_overlap *o, double t_backward)
{
    bb_log(BB_LOG_INFO, "buckets: rank %d, step %lld: backward done at %.2f ms", o->comm->rank, (long long)o->steps,
           1e3 * (t_backward - o->t0));
    for (int i = 0; i < o->nb; i++)
        bb_log(BB_LOG_INFO, "buckets: rank %d, step %lld: bucket %d [%lld, %lld) ready %.2f, allreduce %.2f .. %.2f ms",
               o->comm->rank, (long long)o->steps, i, (long long)o->b[i].lo, (long long)o->b[i].hi,
               1e3 * (o->t_ready[i] - o->t0), 1e3 * (o->t_begin[i] - o->t0), 1e3 * (o->t_end[i] - o->t0));
    o->steps++;
}

bb_status bb_overlap_finish(bb_overlap *o, float **sum, double *t_comm)
{
    *sum = NULL;
    *t_comm = 0;
    if (!o->threaded) {
        o->cursor = o->nb;
        if (!o->plan_built) ensure_plan(o);
        double t0 = bb_now();
        if (o->comm->size > 1)
            for (int i = 0; i < o->nb; i++) BB_TRY(reduce_bucket(o, i));
        *t_comm = bb_now() - t0;
        *sum = o->result;
        return BB_OK;
    }
    double t_backward = bb_now();
    pthread_mutex_lock(&o->mu);
    while (o->cursor < o->nb) pthread_cond_wait(&o->cv_done, &o->mu);
    bb_status s = o->status;
    *t_comm = o->t_comm;
    pthread_mutex_unlock(&o->mu);
    if (o->trace) trace(o, t_backward);
    if (s != BB_OK) return bb_fail(s, "%s", o->errmsg);
    *sum = o->result;
    return BB_OK;
}

void bb_overlap_abandon(bb_overlap *o)
{
    if (!o->threaded) { o->cursor = o->nb; return; }
    pthread_mutex_lock(&o->mu);
    o->abandoned = 1;
    pthread_cond_broadcast(&o->cv_ready);
    while (o->cursor < o->nb) pthread_cond_wait(&o->cv_done, &o->mu);
    pthread_mutex_unlock(&o->mu);
}
