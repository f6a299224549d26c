/* The device engine (engine.h): parameters, gradients, momentum and BN
 * state resident on a bb_dev (gpu/dev.h). Per step: the local workers'
 * batches arrive in one page-locked copy on the copy stream (prefetched during
 * the previous step); chunks of workers run forward (per-worker BN), loss
 * (normalized by kn), backward into one gradient buffer; with several ranks
 * the gradient buckets are allreduced on the comm stream as soon as backward
 * has finished them; then one small copy of the step's sums to the host, the
 * only synchronization, and the SGD and BN running-average updates. */
#include "train/engine.h"

#include "gpu/gnet.h"
#include "train/trainer_internal.h"
#include "util/hooks.h"
#include "util/mem.h"
#include "util/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* events */
enum { E_COPY0 = 0, E_COPY1, E_SCAL, E_COMM, E_BUCKET, E_EVAL0, E_EVAL1, E_T0 = 16 };
#define SGD_BLOCK 8192

typedef struct bb_gtrainer {
    bb_dev *dev;
    bb_gnet g;
    int64_t L, len, m, nchunks;
    float *params, *mom, *grad, *state;
    float *in[2];
    int32_t *lab[2];
    int64_t in_step[2];        /* the step whose batches in[i] holds, -1 none */
    double prefetch_wait;
    double *loss, *top1, *top5;/* per local sample */
    double *scal, *hscal;      /* step sums: loss, top-1 count, |grad|^2 */
    bb_kseg *seg;
    int64_t nseg, nblocks;
    double *norms;
    float *seg_lr;
    bb_gbucket *buckets;
    int nbuckets, next_bucket;
    void *reg[2];              /* the loader's slots, registered for copies */
    /* evaluation */
    int64_t eval_count;
    double *eloss, *etop1, *etop5;
    float *ex, *hx[2];
    int32_t *ey, *hy[2];
    bb_pool *pool;
    /* device allocations, for destroy */
    void **allocs;
    int nallocs;
    char desc[256];
} bb_gtrainer;

static bb_gtrainer *gpu(const bb_trainer *t) { return t->engine_state; }

/* the GPU of this process: its rank on the host as the launcher gave it */
static int local_rank(const bb_comm *c)
{
    int r = bb_hooks_get()->launcher_local_rank;
    return r >= 0 ? r : c ? c->rank : 0;
}

bb_status bb_gpu_open(bb_dev **out, const bb_config *cfg, const bb_comm *comm)
{
    bb_dev_opts o;
    bb_dev_default_opts(&o);
    o.tf32 = cfg->tf32;
    /* timing-based choices can differ from one process to the next, and some
     * algorithms sum in a varying order: --deterministic avoids both, so a run
     * and its resumption repeat bit for bit */
    o.deterministic = cfg->deterministic;
    o.find = cfg->deterministic ? 0 : bb_hooks_get()->cudnn_find;
    return bb_dev_cuda_create(out, local_rank(comm), &o);
}

static bb_status dalloc(bb_gtrainer *gp, void **p, size_t bytes, const char *what)
{
    void **a = realloc(gp->allocs, (size_t)(gp->nallocs + 1) * sizeof *a);
    if (!a) return bb_fail(BB_ERR_NOMEM, "GPU trainer: out of host memory");
    gp->allocs = a;
    bb_status s = gp->dev->alloc(gp->dev, p, bytes ? bytes : 16);
    if (s != BB_OK) return bb_fail_context(s, "GPU trainer: %s", what);
    gp->allocs[gp->nallocs++] = *p;
    return BB_OK;
}

static void gpu_loader_changed(bb_trainer *t, int made)
{
    bb_gtrainer *gp = gpu(t);
    if (made) {
        for (int i = 0; i < 2; i++) {
            void *p;
            size_t bytes;
            bb_loader_slot_memory(t->loader, i, &p, &bytes);
            gp->reg[i] = gp->dev->host_register(gp->dev, p, bytes) ? p : NULL;
        }
        return;
    }
    gp->dev->sync(gp->dev);  /* no copy may still read the slots */
    for (int i = 0; i < 2; i++)
        if (gp->reg[i]) gp->dev->host_unregister(gp->dev, gp->reg[i]);
    gp->reg[0] = gp->reg[1] = NULL;
    gp->in_step[0] = gp->in_step[1] = -1;
}

/* the local workers' batches of `step` to in[step % 2], on the copy stream */
static bb_status fetch(bb_trainer *t, int64_t step, double *waited)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    const float *x0 = NULL;
    const int32_t *y0 = NULL;
    double total = 0;
    for (int64_t w = t->w_lo; w < t->w_hi; w++) {
        const float *x;
        const int32_t *y;
        double wt = 0;
        BB_TRY(bb_loader_get(t->loader, step, w, &x, &y, &wt));
        total += wt;
        if (w == t->w_lo) { x0 = x; y0 = y; }
    }
    int i = (int)(step & 1);
    int64_t samples = gp->L * t->n;
    d->copy(d, BB_STREAM_COPY, gp->in[i], x0, (size_t)(samples * gp->len) * sizeof(float), BB_COPY_H2D);
    d->copy(d, BB_STREAM_COPY, gp->lab[i], y0, (size_t)samples * sizeof(int32_t), BB_COPY_H2D);
    d->record(d, E_COPY0 + i, BB_STREAM_COPY);
    gp->in_step[i] = step;
    *waited = total;
    return BB_OK;
}

static void launch_bucket(bb_trainer *t, int b)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    d->record(d, E_BUCKET, BB_STREAM_COMPUTE);
    d->wait(d, BB_STREAM_COMM, E_BUCKET);
    d->allreduce(d, gp->grad + gp->buckets[b].lo, gp->buckets[b].hi - gp->buckets[b].lo);
}

/* backward's readiness hook: start every bucket whose gradients are final */
static void bucket_ready(void *arg, int64_t lo)
{
    bb_trainer *t = arg;
    bb_gtrainer *gp = gpu(t);
    while (gp->next_bucket < gp->nbuckets && gp->buckets[gp->next_bucket].lo >= lo) launch_bucket(t, gp->next_bucket++);
}

/* parameters, momentum and BN state between the core's host copies and the
 * device, in direction dir (BB_COPY_H2D or BB_COPY_D2H) */
static bb_status copy_state(bb_trainer *t, int dir)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    struct { float *host, *dev; int64_t n; } b[3] = {
        {t->params, gp->params, t->P}, {t->momentum, gp->mom, t->P}, {t->state, gp->state, t->net.state_count}};
    for (int i = 0; i < 3; i++) {
        if (b[i].n == 0) continue;
        size_t bytes = (size_t)b[i].n * sizeof(float);
        if (dir == BB_COPY_H2D) d->copy(d, BB_STREAM_COMPUTE, b[i].dev, b[i].host, bytes, dir);
        else d->copy(d, BB_STREAM_COMPUTE, b[i].host, b[i].dev, bytes, dir);
    }
    bb_status s = d->sync(d);
    return s == BB_OK ? s : bb_fail_context(s, "copying the model %s the GPU", dir == BB_COPY_H2D ? "to" : "from");
}

static bb_status gpu_download(bb_trainer *t) { return copy_state(t, BB_COPY_D2H); }

static bb_status gpu_upload(bb_trainer *t)
{
    bb_trainer_drop_loader(t);
    return copy_state(t, BB_COPY_H2D);
}

static const char *gpu_describe(const bb_trainer *t) { return gpu(t)->desc; }

/* ---- setup ---- */

static bb_status build_segments(bb_trainer *t)
{
    bb_gtrainer *gp = gpu(t);
    gp->nseg = t->net.nparams;
    bb_kseg *seg = calloc((size_t)gp->nseg + 1, sizeof *seg);
    if (!seg) return bb_fail(BB_ERR_NOMEM, "GPU trainer: out of memory");
    int64_t blocks = bb_sgd_segments(&t->sgd, &t->net, SGD_BLOCK, seg);
    gp->nblocks = blocks;
    bb_status s = dalloc(gp, (void **)&gp->seg, ((size_t)gp->nseg + 1) * sizeof *seg, "optimizer table");
    if (s == BB_OK) s = dalloc(gp, (void **)&gp->norms, ((size_t)blocks + (size_t)gp->nseg + 1) * 2 * sizeof(double), "optimizer scratch");
    if (s == BB_OK) s = dalloc(gp, (void **)&gp->seg_lr, ((size_t)gp->nseg + 1) * sizeof(float), "optimizer scratch");
    if (s == BB_OK) {
        gp->dev->copy(gp->dev, BB_STREAM_COMPUTE, gp->seg, seg, ((size_t)gp->nseg + 1) * sizeof *seg, BB_COPY_H2D);
        s = gp->dev->sync(gp->dev);  /* seg is freed below */
    }
    free(seg);
    return s;
}

static bb_status setup(bb_trainer *t)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    const bb_config *cfg = &t->cfg;
    if (cfg->noise_scale)
        return bb_fail(BB_ERR_UNSUPPORTED, "--noise-scale needs each worker's own gradient, which the GPU backend "
                       "(it sums all local workers in one pass) does not form; use --device cpu");
    for (int i = 0; i < t->net.nlayers; i++)
        if (t->net.layers[i].kind == BB_L_BN && t->net.layers[i].stat_off != t->net.layers[i].run_off)
            return bb_fail(BB_ERR_INVALID, "GPU trainer: BN statistics and running state are laid out differently");
    gp->L = t->w_hi - t->w_lo;
    gp->len = t->spec.c * t->spec.h * t->spec.w;
    gp->in_step[0] = gp->in_step[1] = -1;
    int per_rank = bb_cores() / (t->comm->local_size > 0 ? t->comm->local_size : 1);
    t->producers = per_rank > 2 ? per_rank - 1 : 1;
    if (t->producers > 16) t->producers = 16;
    if (cfg->loader_threads > 0) t->producers = (int)cfg->loader_threads;
    t->order = calloc((size_t)gp->L, sizeof *t->order);
    if (!t->order) return bb_fail(BB_ERR_NOMEM, "GPU trainer: out of memory");
    for (int64_t i = 0; i < gp->L; i++) t->order[i] = t->w_lo + i;
    gp->eval_count = t->eval_hi - t->eval_lo;
    if (t->comm->size > 1) BB_TRY(d->comm_init(d, t->comm));

    /* how many workers a chunk holds: what is left after the fixed buffers */
    bb_gplan plan;
    BB_TRY(bb_gplan_build(&plan, &t->net, 0));
    size_t free_b = 0, total_b = 0;
    d->mem_info(d, &free_b, &total_b);
    int64_t samples = gp->L * t->n;
    int64_t fixed = 4 * (3 * t->P + (t->G) + t->net.state_count) + 2 * samples * (4 * gp->len + 4) + 24 * samples +
                    24 * gp->eval_count + 16 * (gp->nblocks + t->net.nparams + 8) + ((int64_t)64 << 20);
    int64_t slack = (int64_t)(0.04 * (double)total_b) + ((int64_t)256 << 20);
    int64_t budget = (int64_t)free_b - fixed - d->ws_limit - slack;
    int64_t per = bb_gplan_worker_bytes(&plan, t->n) + t->n * (4 * gp->len + 4);  /* + the evaluation input */
    int64_t cap = bb_hooks_get()->gpu_chunk_workers;
    int64_t m = budget > 0 ? budget / per : 0;
    if (m > gp->L) m = gp->L;
    if (cap > 0 && m > cap) m = cap;
    int64_t lim = bb_gplan_chunk_workers(&plan, t->n, gp->L, INT64_MAX / 4, 0);
    if (m > lim) m = lim;
    bb_gplan_free(&plan);
    if (m < 1)
        return bb_fail(BB_ERR_NOMEM, "the GPU's %.1f GiB free cannot hold one worker of %lld samples of %s "
                       "(%.2f GiB each after %.2f GiB of fixed buffers): lower --worker-batch",
                       (double)free_b / 1073741824.0, (long long)t->n, t->net.model_desc, (double)per / 1073741824.0,
                       (double)(fixed + d->ws_limit) / 1073741824.0);
    gp->nchunks = (gp->L + m - 1) / m;
    gp->m = (gp->L + gp->nchunks - 1) / gp->nchunks;
    int64_t counts[2] = {gp->m * t->n, (gp->L / gp->nchunks) * t->n};
    int ncounts = counts[1] > 0 && counts[1] != counts[0] ? 2 : 1;
    BB_TRY(bb_gnet_create(&gp->g, d, &t->net, t->n, gp->m, 0, counts, ncounts));

    size_t S = (size_t)gp->g.s_max;
    bb_status s = BB_OK;
#define A(ptr, bytes, what) do { if (s == BB_OK) s = dalloc(gp, (void **)&(ptr), (bytes), (what)); } while (0)
    A(gp->params, (size_t)t->P * 4, "parameters");
    A(gp->mom, (size_t)t->P * 4, "momentum");
    A(gp->grad, (size_t)t->G * 4, "gradients");
    A(gp->state, (size_t)t->net.state_count * 4 + 4, "BN state");
    for (int i = 0; i < 2; i++) {
        A(gp->in[i], (size_t)(samples * gp->len) * 4, "input batches");
        A(gp->lab[i], (size_t)samples * 4, "labels");
    }
    A(gp->loss, (size_t)samples * 8, "losses");
    A(gp->top1, (size_t)samples * 8, "losses");
    A(gp->top5, (size_t)samples * 8, "losses");
    A(gp->scal, 8 * 8, "sums");
    A(gp->eloss, (size_t)gp->eval_count * 8 + 8, "evaluation");
    A(gp->etop1, (size_t)gp->eval_count * 8 + 8, "evaluation");
    A(gp->etop5, (size_t)gp->eval_count * 8 + 8, "evaluation");
    A(gp->ex, S * (size_t)gp->len * 4, "evaluation input");
    A(gp->ey, S * 4, "evaluation labels");
#undef A
    if (s == BB_OK) s = d->host_alloc(d, (void **)&gp->hscal, 8 * 8);
    for (int i = 0; i < 2 && s == BB_OK; i++) {
        s = d->host_alloc(d, (void **)&gp->hx[i], S * (size_t)gp->len * 4);
        if (s == BB_OK) s = d->host_alloc(d, (void **)&gp->hy[i], S * 4);
    }
    if (s != BB_OK) return bb_fail_context(s, "GPU memory for %s", t->net.model_desc);
    BB_TRY(build_segments(t));
    if (t->comm->size > 1) {
        gp->buckets = calloc((size_t)t->net.nparams + 2, sizeof *gp->buckets);
        if (!gp->buckets) return bb_fail(BB_ERR_NOMEM, "GPU trainer: out of memory");
        int64_t floats = cfg->bucket_kb * 1024 / 4;
        gp->nbuckets = bb_gplan_buckets(&t->net, floats > 0 ? floats : 1, gp->buckets);
    }
    int threads = per_rank < 8 ? per_rank : 8;
    BB_TRY(bb_pool_create(&gp->pool, threads > 0 ? threads : 1));
    BB_TRY(copy_state(t, BB_COPY_H2D));
    snprintf(gp->desc, sizeof gp->desc, "%s, %lld worker%s of %lld per pass%s", d->name, (long long)gp->m,
             gp->m > 1 ? "s" : "", (long long)t->n, d->opts.tf32 ? ", TF32" : "");
    return BB_OK;
}

static void gpu_destroy(bb_trainer *t)
{
    bb_gtrainer *gp = gpu(t);
    if (!gp) return;
    bb_dev *d = gp->dev;
    if (d) {
        d->sync(d);
        bb_gnet_destroy(&gp->g);
        for (int i = 0; i < gp->nallocs; i++) d->free(d, gp->allocs[i]);
        d->host_free(d, gp->hscal);
        for (int i = 0; i < 2; i++) {
            d->host_free(d, gp->hx[i]);
            d->host_free(d, gp->hy[i]);
        }
        bb_dev_destroy(d);
    }
    bb_pool_destroy(gp->pool);
    free(gp->allocs);
    free(gp->buckets);
    free(gp);
    t->engine_state = NULL;
}

/* ---- one iteration ---- */

static bb_status gpu_gradients(bb_trainer *t, bb_grads *gr, bb_step_stats *st)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    int cur = (int)(t->step & 1);
    double waited = gp->prefetch_wait;
    gp->prefetch_wait = 0;
    if (gp->in_step[cur] != t->step) {
        double w = 0;
        BB_TRY(fetch(t, t->step, &w));
        waited += w;
    }
    int multi = t->comm->size > 1;
    int timed = 2 * gp->nchunks + 1 <= BB_DEV_EVENTS - E_T0;
    d->wait(d, BB_STREAM_COMPUTE, E_COPY0 + cur);
    d->memset0(d, BB_STREAM_COMPUTE, gp->grad, (size_t)t->G * 4);
    gp->next_bucket = 0;
    float *stats = gp->grad + t->P;
    for (int64_t c = 0; c < gp->nchunks; c++) {
        long long w0, w1;
        bb_split_range(gp->L, (int)gp->nchunks, (int)c, &w0, &w1);
        int64_t mc = w1 - w0, off = w0 * t->n;
        if (timed) d->record(d, E_T0 + 2 * (int)c, BB_STREAM_COMPUTE);
        bb_gnet_forward(&gp->g, gp->in[cur] + off * gp->len, mc, 1, gp->params, gp->state, stats);
        bb_kxent xe = {mc * t->n, t->spec.classes, bb_gnet_logits(&gp->g), gp->lab[cur] + off, (double)t->kn,
                       (float)t->cfg.label_smoothing, bb_gnet_dlogits(&gp->g), gp->loss + off, gp->top1 + off,
                       gp->top5 + off};
        d->xent(d, &xe);
        if (timed) d->record(d, E_T0 + 2 * (int)c + 1, BB_STREAM_COMPUTE);
        int last = c == gp->nchunks - 1;
        if (last && multi) bucket_ready(t, t->P);  /* the BN statistics [P, G) are complete */
        bb_gnet_backward(&gp->g, gp->params, gp->grad, last && multi ? bucket_ready : NULL, t);
    }
    if (timed) d->record(d, E_T0 + 2 * (int)gp->nchunks, BB_STREAM_COMPUTE);
    if (multi) {
        bucket_ready(t, 0);
        d->record(d, E_COMM, BB_STREAM_COMM);
        d->wait(d, BB_STREAM_COMPUTE, E_COMM);
    }
    int64_t samples = gp->L * t->n;
    d->reduce(d, BB_REDUCE_SUM_F64, gp->loss, samples, gp->scal);
    d->reduce(d, BB_REDUCE_SUM_F64, gp->top1, samples, gp->scal + 1);
    d->reduce(d, BB_REDUCE_SUMSQ_F32, gp->grad, t->P, gp->scal + 2);
    d->copy(d, BB_STREAM_COMPUTE, gp->hscal, gp->scal, 3 * sizeof(double), BB_COPY_D2H);
    d->record(d, E_SCAL, BB_STREAM_COMPUTE);
    /* the next step's batches travel while this one computes */
    double w = 0;
    if (fetch(t, t->step + 1, &w) == BB_OK) gp->prefetch_wait = w;
    bb_status s = d->sync_event(d, E_SCAL);
    if (s != BB_OK) return bb_fail_context(s, "GPU step %lld", (long long)t->step);
    gr->loss_sum = gp->hscal[0];
    gr->correct = gp->hscal[1];
    gr->grad_sq = gp->hscal[2];
    if (timed)
        for (int64_t c = 0; c < gp->nchunks; c++) {
            st->t_fwd += d->elapsed(d, E_T0 + 2 * (int)c, E_T0 + 2 * (int)c + 1);
            st->t_bwd += d->elapsed(d, E_T0 + 2 * (int)c + 1, E_T0 + 2 * (int)c + 2);
        }
    st->t_data = waited;
    st->t_reduce = timed ? d->elapsed(d, E_T0 + 2 * (int)gp->nchunks, E_SCAL) : 0;
    return BB_OK;
}

/* the gradient is zeroed at the start of every step: nothing to drop */
static void gpu_abandon(bb_trainer *t) { (void)t; }

static bb_status gpu_update(bb_trainer *t, double lr, double lr_prev)
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    bb_ksgd k;
    memset(&k, 0, sizeof k);
    k.nseg = gp->nseg;
    k.nblocks = gp->nblocks;
    k.block_len = SGD_BLOCK;
    k.seg = gp->seg;
    k.w = gp->params;
    k.u = gp->mom;
    k.g = gp->grad;
    k.form = bb_sgd_rule(&t->sgd);
    k.m = (float)t->sgd.momentum;
    k.flr = (float)lr;
    k.c = bb_sgd_correction(&t->sgd, lr, lr_prev);
    k.lars = t->sgd.lars;
    k.lr = lr;
    k.eta = t->sgd.lars_eta;
    k.clip = t->sgd.lars_clip;
    k.norms = gp->norms;
    k.seg_lr = gp->seg_lr;
    d->sgd(d, &k);
    if (t->net.state_count > 0)
        d->running(d, gp->state, gp->grad + t->P, t->net.state_count, (float)t->cfg.bn_momentum, (double)t->k);
    return BB_OK;
}

/* ---- evaluation ---- */

typedef struct {
    bb_trainer *t;
    int64_t lo, m;
    float *x;
    int32_t *y;
    bb_status status[64];
    char msg[512];
} eval_fill;

static void fill_job(void *arg, int ti, int nt)
{
    eval_fill *f = arg;
    const bb_dataset *ds = f->t->test;
    long long a, b;
    bb_split_range(f->m, nt, ti, &a, &b);
    int64_t len = ds->c * ds->h * ds->w;
    f->status[ti] = BB_OK;
    for (int64_t i = a; i < b; i++) {
        bb_status s = ds->fetch(ds, f->lo + i, 0, 0, 0, f->x + i * len);
        if (s != BB_OK) {
            f->status[ti] = s;
            if (ti == 0 || !f->msg[0]) snprintf(f->msg, sizeof f->msg, "%s", bb_last_error());
            return;
        }
        f->y[i] = ds->labels[f->lo + i];
    }
}

static bb_status gpu_eval_sums(bb_trainer *t, double acc[3])
{
    bb_gtrainer *gp = gpu(t);
    bb_dev *d = gp->dev;
    int64_t S = gp->g.s_max, count = gp->eval_count;
    int64_t nch = (count + S - 1) / S;
    eval_fill f;
    memset(&f, 0, sizeof f);
    f.t = t;
    for (int64_t ch = 0; ch < nch; ch++) {
        int b = (int)(ch & 1);
        if (ch >= 2) BB_TRY(d->sync_event(d, E_EVAL0 + b));  /* the copy out of this host buffer is done */
        f.lo = t->eval_lo + ch * S;
        f.m = t->eval_hi - f.lo < S ? t->eval_hi - f.lo : S;
        f.x = gp->hx[b];
        f.y = gp->hy[b];
        bb_pool_run(gp->pool, fill_job, &f);
        for (int i = 0; i < bb_pool_size(gp->pool) && i < 64; i++)
            if (f.status[i] != BB_OK) return bb_fail(f.status[i], "evaluating: %s", f.msg);
        d->copy(d, BB_STREAM_COMPUTE, gp->ex, f.x, (size_t)(f.m * gp->len) * 4, BB_COPY_H2D);
        d->copy(d, BB_STREAM_COMPUTE, gp->ey, f.y, (size_t)f.m * 4, BB_COPY_H2D);
        d->record(d, E_EVAL0 + b, BB_STREAM_COMPUTE);
        bb_gnet_forward(&gp->g, gp->ex, f.m, 0, gp->params, gp->state, NULL);
        bb_kxent xe = {f.m, t->spec.classes, bb_gnet_logits(&gp->g), gp->ey, 1.0, 0.0f, NULL,
                       gp->eloss + ch * S, gp->etop1 + ch * S, gp->etop5 + ch * S};
        d->xent(d, &xe);
    }
    d->reduce(d, BB_REDUCE_SUM_F64, gp->eloss, count, gp->scal);
    d->reduce(d, BB_REDUCE_SUM_F64, gp->etop1, count, gp->scal + 1);
    d->reduce(d, BB_REDUCE_SUM_F64, gp->etop5, count, gp->scal + 2);
    d->copy(d, BB_STREAM_COMPUTE, gp->hscal, gp->scal, 3 * sizeof(double), BB_COPY_D2H);
    d->record(d, E_SCAL, BB_STREAM_COMPUTE);
    bb_status s = d->sync_event(d, E_SCAL);
    if (s != BB_OK) return bb_fail_context(s, "evaluating on the GPU");
    for (int i = 0; i < 3; i++) acc[i] = gp->hscal[i];
    return BB_OK;
}

static const bb_engine_ops gpu_ops = {
    .gradients = gpu_gradients,
    .abandon = gpu_abandon,
    .update = gpu_update,
    .eval_sums = gpu_eval_sums,
    .download = gpu_download,
    .upload = gpu_upload,
    .loader_changed = gpu_loader_changed,
    .describe = gpu_describe,
    .destroy = gpu_destroy,
};

bb_status bb_engine_gpu_create(bb_trainer *t, bb_dev *dev)
{
    bb_gtrainer *gp = calloc(1, sizeof *gp);
    if (!gp) {
        bb_dev_destroy(dev);
        return bb_fail(BB_ERR_NOMEM, "GPU trainer: out of memory");
    }
    gp->dev = dev;
    t->engine = &gpu_ops;
    t->engine_state = gp;
    return setup(t);
}
