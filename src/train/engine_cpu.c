/* The CPU engine (engine.h): executors on a thread pool, each running its
 * share of the logical workers one after the other (with a team of threads
 * sharing each layer when threads outnumber workers); the workers' gradients
 * summed in a fixed tree order (gradsum.h) and allreduced bucket by bucket
 * while the last worker's backward runs (overlap.h). The engine computes on
 * the core's host buffers of parameters, momentum and BN state. */
#include "train/engine.h"

#include "model/net.h"
#include "train/gradsum.h"
#include "train/imagefolder_config.h"
#include "train/overlap.h"
#include "train/trainer_internal.h"
#include "util/mem.h"
#include "util/pool.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bb_exec ex;
    int64_t w_lo, w_hi;        /* its logical workers */
    double t_data, t_fwd, t_bwd;
    bb_status status;
    char errmsg[512];
} bb_executor;

typedef struct {
    bb_pool *pool;
    bb_executor *ex;
    bb_gradsum *gs;
    bb_overlap *ov;            /* gradient buckets, allreduced while backward runs */
    int nex;
    float *sum;                /* the step's summed gradient (in ov) */
    double *worker_loss, *worker_sq;
    int64_t *worker_top1;
    int64_t eval_chunks;
    double *chunk_loss;
    int64_t *chunk_top;
    char desc[64];
} cpu_engine;

static cpu_engine *cpu(const bb_trainer *t) { return t->engine_state; }

/* How many executors run `local` workers on `threads` threads. An executor
 * runs whole workers one after another on a team of threads that share each
 * layer (the channels-last kernels; results do not depend on the team sizes).
 * Executor e gets split shares of the workers and of the threads. A worker's
 * pass costs its multiply-adds at a nominal rate per thread, divided among
 * the team, plus, for a team, a fixed cost per layer and pass for the
 * threads meeting (TEAM_MEET_S: the 1.75x that two threads give one
 * ResNet-20 worker of 32 28x28 images). Every executor holds one worker's
 * activations, so among the counts whose estimated step is within 2% of the
 * shortest the fewest wins: large images (ResNet-50 at 224x224) then run as
 * one team, at the speed of separate executors and a fraction of the memory,
 * while small ones keep one executor per thread. Without teams: one thread
 * per executor. */
#define MAC_PER_S 4e10
#define TEAM_MEET_S 5e-5
static double step_cost(double pass, double meet, int64_t local, int threads, int e)
{
    double worst = 0;
    for (int i = 0; i < e; i++) {
        long long wl, wh, tl, th;
        bb_split_range(local, e, i, &wl, &wh);
        bb_split_range(threads, e, i, &tl, &th);
        double team = (double)(th - tl);
        double c = (double)(wh - wl) * (pass / team + (team > 1 ? meet : 0));
        if (c > worst) worst = c;
    }
    return worst;
}

static int plan_executors(const bb_net *net, int64_t n, int64_t local, int threads, int teams)
{
    int most = threads < local ? threads : (int)local;
    if (!teams) return most;
    double pass = 3.0 * (double)bb_net_macs(net) * (double)n / MAC_PER_S;  /* forward + backward */
    double meet = 2.0 * net->nlayers * TEAM_MEET_S;
    double best = INFINITY;
    for (int e = 1; e <= most; e++) best = fmin(best, step_cost(pass, meet, local, threads, e));
    int e = 1;
    while (step_cost(pass, meet, local, threads, e) > 1.02 * best) e++;
    return e;
}

/* ---- one iteration ---- */

static void step_job(void *arg, int ti, int nt)
{
    bb_flush_denormals();
    (void)nt;
    bb_trainer *t = arg;
    cpu_engine *c = cpu(t);
    bb_executor *e = &c->ex[ti];
    bb_gradsum *gs = &c->gs[ti];
    const bb_net *net = &t->net;
    int64_t n = t->n, classes = t->spec.classes;
    size_t in_bytes = (size_t)(n * t->spec.c * t->spec.h * t->spec.w) * sizeof(float);
    e->t_data = e->t_fwd = e->t_bwd = 0;
    for (int64_t w = e->w_lo; w < e->w_hi; w++) {
        const float *x;
        const int32_t *y;
        double waited, t0, t1, t2;
        bb_status s = bb_loader_get(t->loader, t->step, w, &x, &y, &waited);
        if (s != BB_OK) { e->status = s; snprintf(e->errmsg, sizeof e->errmsg, "%s", bb_last_error()); return; }
        e->t_data += waited;
        memcpy(bb_exec_input(&e->ex), x, in_bytes);
        memcpy(e->ex.labels, y, (size_t)n * sizeof(int32_t));
        float *g = bb_gradsum_begin(gs);
        /* the last worker's gradient is summed and allreduced bucket by bucket
         * while its backward runs (overlap.h) */
        int last = w == e->w_hi - 1;
        double *sq = t->cfg.noise_scale ? &c->worker_sq[w - t->w_lo] : NULL;
        if (last) bb_overlap_last_worker(c->ov, ti, w, g, sq);
        t0 = bb_now();
        bb_net_forward(net, &e->ex, n, t->params, t->state, 1, g + t->P);
        int64_t top1 = 0;
        double tl = e->ex.prof ? bb_now() : 0.0;
        double loss = bb_xent_forward(n, classes, bb_exec_logits(&e->ex), e->ex.labels, (double)t->kn,
                                      (float)t->cfg.label_smoothing, bb_exec_dlogits(&e->ex), &top1, NULL);
        t1 = bb_now();
        if (e->ex.prof) e->ex.prof->fwd[BB_PROF_LOSS] += t1 - tl;
        if (last) bb_overlap_ready(c->ov, ti, t->P);  /* the BN statistics are final */
        bb_net_backward(net, &e->ex, n, t->params, g, last ? bb_overlap_ready_cb : NULL,
                        last ? bb_overlap_arg(c->ov, ti) : NULL);
        t2 = bb_now();
        if (last) {
            bb_overlap_ready(c->ov, ti, 0);
        } else {
            if (sq) *sq = bb_overlap_sq(c->ov, g);
            double tp = e->ex.prof ? bb_now() : 0.0;
            bb_gradsum_push(gs, w);
            if (e->ex.prof) e->ex.prof->bwd[BB_PROF_GRADSUM] += bb_now() - tp;
        }
        c->worker_loss[w - t->w_lo] = loss;
        c->worker_top1[w - t->w_lo] = top1;
        e->t_fwd += t1 - t0;
        e->t_bwd += t2 - t1;
    }
}

static void cpu_abandon(bb_trainer *t)
{
    cpu_engine *c = cpu(t);
    c->sum = NULL;
    for (int e = 0; e < c->nex; e++) bb_gradsum_reset(&c->gs[e]);
}

static bb_status cpu_gradients(bb_trainer *t, bb_grads *g, bb_step_stats *st)
{
    cpu_engine *c = cpu(t);
    for (int e = 0; e < c->nex; e++) c->ex[e].status = BB_OK;
    bb_overlap_start(c->ov);
    bb_pool_run(c->pool, step_job, t);
    for (int e = 0; e < c->nex; e++)
        if (c->ex[e].status != BB_OK) {
            bb_overlap_abandon(c->ov);
            return bb_fail(c->ex[e].status, "%s", c->ex[e].errmsg);
        }
    double t_reduce = bb_now();
    bb_status rs = bb_overlap_finish(c->ov, &c->sum, &st->t_allreduce);
    if (rs != BB_OK) return bb_fail_context(rs, "iteration %lld: gradient allreduce", (long long)t->step);
    /* loss and error in a fixed order over workers */
    int64_t local = t->w_hi - t->w_lo;
    for (int64_t i = 0; i < local; i++) {
        g->loss_sum += c->worker_loss[i];
        g->correct += (double)c->worker_top1[i];
        g->parts_sq += c->worker_sq[i];
    }
    g->grad_sq += bb_sq_sum(c->sum, 0, t->P);
    g->grad = c->sum;
    for (int e = 0; e < c->nex; e++) {
        st->t_data += c->ex[e].t_data / c->nex;
        st->t_fwd += c->ex[e].t_fwd / c->nex;
        st->t_bwd += c->ex[e].t_bwd / c->nex;
    }
    st->t_reduce = bb_now() - t_reduce;
    return BB_OK;
}

static bb_status cpu_update(bb_trainer *t, double lr, double lr_prev)
{
    cpu_engine *c = cpu(t);
    bb_sgd_step(&t->sgd, &t->net, t->params, t->momentum, c->sum, lr, lr_prev);
    for (int i = 0; i < t->net.nlayers; i++) {
        const bb_layer *l = &t->net.layers[i];
        if (l->kind == BB_L_BN)
            bb_bn_update_running(l->op.bn.c, (float)t->cfg.bn_momentum, c->sum + t->P + l->stat_off, (double)t->k,
                                 t->state + l->run_off, t->state + l->run_off + l->op.bn.c);
    }
    cpu_abandon(t);  /* the sums are spent */
    return BB_OK;
}

/* ---- evaluation ---- */

static void eval_job(void *arg, int ti, int nt)
{
    bb_flush_denormals();
    bb_trainer *t = arg;
    cpu_engine *c = cpu(t);
    bb_executor *e = &c->ex[ti];
    int64_t classes = t->spec.classes, len = t->spec.c * t->spec.h * t->spec.w;
    for (int64_t ch = ti; ch < c->eval_chunks; ch += nt) {
        int64_t lo = t->eval_lo + ch * t->n, hi = lo + t->n < t->eval_hi ? lo + t->n : t->eval_hi, m = hi - lo;
        float *x = bb_exec_input(&e->ex);
        for (int64_t i = 0; i < m; i++) {
            bb_status s = t->test->fetch(t->test, lo + i, 0, 0, 0, x + i * len);
            if (s != BB_OK) { e->status = s; snprintf(e->errmsg, sizeof e->errmsg, "%s", bb_last_error()); return; }
            e->ex.labels[i] = t->test->labels[lo + i];
        }
        bb_net_forward(&t->net, &e->ex, m, t->params, t->state, 0, NULL);
        c->chunk_loss[ch] = bb_xent_forward(m, classes, bb_exec_logits(&e->ex), e->ex.labels, 1.0, 0.0f, NULL,
                                            &c->chunk_top[2 * ch], &c->chunk_top[2 * ch + 1]);
    }
}

static bb_status cpu_eval_sums(bb_trainer *t, double acc[3])
{
    cpu_engine *c = cpu(t);
    for (int e = 0; e < c->nex; e++) c->ex[e].status = BB_OK;
    bb_pool_run(c->pool, eval_job, t);
    for (int e = 0; e < c->nex; e++)
        if (c->ex[e].status != BB_OK) return bb_fail(c->ex[e].status, "evaluating: %s", c->ex[e].errmsg);
    for (int64_t ch = 0; ch < c->eval_chunks; ch++) {
        acc[0] += c->chunk_loss[ch];
        acc[1] += (double)c->chunk_top[2 * ch];
        acc[2] += (double)c->chunk_top[2 * ch + 1];
    }
    return BB_OK;
}

static const char *cpu_describe(const bb_trainer *t) { return cpu(t)->desc; }

static void cpu_destroy(bb_trainer *t)
{
    cpu_engine *c = cpu(t);
    if (!c) return;
    bb_overlap_destroy(c->ov);
    for (int e = 0; c->ex && e < c->nex; e++) {
        bb_exec_destroy(&c->ex[e].ex);
        bb_gradsum_free(&c->gs[e]);
    }
    free(c->ex);
    free(c->gs);
    bb_pool_destroy(c->pool);
    free(c->worker_loss);
    free(c->worker_top1);
    free(c->worker_sq);
    free(c->chunk_loss);
    free(c->chunk_top);
    free(c);
    t->engine_state = NULL;
}

static const bb_engine_ops cpu_ops = {
    .gradients = cpu_gradients,
    .abandon = cpu_abandon,
    .update = cpu_update,
    .eval_sums = cpu_eval_sums,
    .describe = cpu_describe,
    .destroy = cpu_destroy,
};

/* ---- setup ---- */

/* executors: as many threads as cores (shared among this host's ranks), never
 * more executors than local workers; the channels-last kernels share leftover
 * threads inside workers (plan_executors), the reference kernels give them to
 * BLAS */
static bb_status setup(bb_trainer *t, cpu_engine *c)
{
    const bb_config *cfg = &t->cfg;
    int threads = cfg->threads > 0 ? (int)cfg->threads : bb_cores() / (t->comm->local_size > 0 ? t->comm->local_size : 1);
    if (threads < 1) threads = 1;
    int64_t local = t->w_hi - t->w_lo;
    bb_kernels kern = cfg->kernels;  /* bb_config_validate checked that the CPU runs them */
    c->nex = plan_executors(&t->net, t->n, local, threads, kern != BB_KERNELS_REFERENCE);
    int blas_threads = kern == BB_KERNELS_REFERENCE ? threads / c->nex : 1;
    t->threads = kern == BB_KERNELS_REFERENCE ? c->nex * blas_threads : threads;
    snprintf(c->desc, sizeof c->desc, "%d threads", t->threads);
    openblas_set_num_threads(blas_threads);
    BB_TRY(bb_pool_create(&c->pool, c->nex));
    c->ex = calloc((size_t)c->nex, sizeof *c->ex);
    c->gs = calloc((size_t)c->nex, sizeof *c->gs);
    c->worker_loss = calloc((size_t)local, sizeof *c->worker_loss);
    c->worker_top1 = calloc((size_t)local, sizeof *c->worker_top1);
    c->worker_sq = calloc((size_t)local, sizeof *c->worker_sq);
    t->order = calloc((size_t)local, sizeof *t->order);
    if (!c->ex || !c->gs || !c->worker_loss || !c->worker_top1 || !c->worker_sq || !t->order)
        return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    int64_t most = 0;
    for (int e = 0; e < c->nex; e++) {
        long long a, b;
        bb_split_range(local, c->nex, e, &a, &b);
        c->ex[e].w_lo = t->w_lo + a;
        c->ex[e].w_hi = t->w_lo + b;
        if (b - a > most) most = b - a;
        long long tlo, thi;
        bb_split_range(threads, c->nex, e, &tlo, &thi);
        BB_TRY(bb_exec_create_threads(&c->ex[e].ex, &t->net, t->n, kern,
                                      kern == BB_KERNELS_REFERENCE ? 1 : (int)(thi - tlo)));
        BB_TRY(bb_gradsum_init(&c->gs[e], t->k, t->G, c->ex[e].w_lo, c->ex[e].w_hi));
    }
    t->comm->watchdog = cfg->watchdog;
    BB_TRY(bb_overlap_create(&c->ov, t->comm, c->gs, c->nex, t->P, t->G, cfg->bucket_kb * 1024 / (int64_t)sizeof(float)));
    t->allreduce_buckets = bb_overlap_buckets(c->ov);
    /* the loader fills workers round by round: every executor's r-th worker, then r+1 */
    int64_t pos = 0;
    for (int64_t r = 0; r < most; r++)
        for (int e = 0; e < c->nex; e++)
            if (c->ex[e].w_lo + r < c->ex[e].w_hi) t->order[pos++] = c->ex[e].w_lo + r;
    t->producers = bb_loader_producers(cfg, t->train);

    /* evaluation: this rank's share of the test set in chunks of n */
    c->eval_chunks = (t->eval_hi - t->eval_lo + t->n - 1) / t->n;
    c->chunk_loss = calloc((size_t)c->eval_chunks + 1, sizeof *c->chunk_loss);
    c->chunk_top = calloc(2 * (size_t)c->eval_chunks + 2, sizeof *c->chunk_top);
    if (!c->chunk_loss || !c->chunk_top) return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    return BB_OK;
}

bb_status bb_engine_cpu_create(bb_trainer *t)
{
    cpu_engine *c = calloc(1, sizeof *c);
    if (!c) return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    t->engine = &cpu_ops;
    t->engine_state = c;
    return setup(t, c);
}

/* ---- profiling (`bigbatch bench train --profile`) ---- */

int bb_trainer_executors(const bb_trainer *t) { return t->engine == &cpu_ops ? cpu(t)->nex : 0; }

void bb_trainer_attach_profiles(bb_trainer *t, bb_profile *profiles)
{
    if (t->engine != &cpu_ops) return;
    cpu_engine *c = cpu(t);
    for (int e = 0; e < c->nex; e++) c->ex[e].ex.prof = profiles ? &profiles[e] : NULL;
}
