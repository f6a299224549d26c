/* The host backend of dev.h: "device" memory is host memory, streams run
 * synchronously, and every kernel is the arithmetic of kern.h in plain loops
 * (convolution and GEMM through src/ops). It runs the whole GPU engine on any
 * machine, so the engine's plans, fusions, chunking and bookkeeping are tested
 * without a GPU; it is not meant to be fast. */
#include "gpu/dev.h"

#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    double when[BB_DEV_EVENTS];
    bb_comm *comm;
    bb_status err;
    char msg[512];
} host_impl;

typedef struct { bb_conv2d g; float *ws; } host_conv;

static host_impl *H(bb_dev *d) { return d->impl; }

static void fail(bb_dev *d, bb_status s)
{
    if (H(d)->err == BB_OK) {
        H(d)->err = s;
        snprintf(H(d)->msg, sizeof H(d)->msg, "%s", bb_last_error());
    }
}

static bb_status h_alloc(bb_dev *d, void **p, size_t bytes)
{
    (void)d;
    *p = bb_alloc(bytes ? bytes : 16);
    return *p ? BB_OK : bb_fail(BB_ERR_NOMEM, "host device: cannot allocate %zu bytes", bytes);
}
static void h_free(bb_dev *d, void *p) { (void)d; bb_free(p); }
static int h_register(bb_dev *d, void *p, size_t bytes) { (void)d; (void)p; (void)bytes; return 0; }
static void h_unregister(bb_dev *d, void *p) { (void)d; (void)p; }

static void h_mem_info(bb_dev *d, size_t *free_bytes, size_t *total_bytes)
{
    (void)d;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    size_t total = pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)1 << 32;
    *free_bytes = total / 2;
    *total_bytes = total;
}

static void h_memset0(bb_dev *d, int stream, void *p, size_t bytes) { (void)d; (void)stream; memset(p, 0, bytes); }
static void h_copy(bb_dev *d, int stream, void *dst, const void *src, size_t bytes, int kind)
{
    (void)d; (void)stream; (void)kind;
    if (bytes) memmove(dst, src, bytes);
}
static void h_record(bb_dev *d, int event, int stream) { (void)stream; H(d)->when[event] = bb_now(); }
static void h_wait(bb_dev *d, int stream, int event) { (void)d; (void)stream; (void)event; }
static bb_status h_sync(bb_dev *d)
{
    if (H(d)->err != BB_OK) return bb_fail(H(d)->err, "%s", H(d)->msg);
    return BB_OK;
}
static bb_status h_sync_event(bb_dev *d, int event) { (void)event; return h_sync(d); }
static double h_elapsed(bb_dev *d, int e0, int e1) { return H(d)->when[e1] - H(d)->when[e0]; }

static bb_status h_conv_create(bb_dev *d, const bb_conv2d *geom, void **out)
{
    (void)d;
    host_conv *c = calloc(1, sizeof *c);
    if (!c) return bb_fail(BB_ERR_NOMEM, "host device: out of memory");
    c->g = *geom;
    c->ws = bb_alloc(bb_conv2d_workspace(geom) * sizeof(float) + 64);
    if (!c->ws) { free(c); return bb_fail(BB_ERR_NOMEM, "host device: out of memory"); }
    *out = c;
    return BB_OK;
}
static bb_status h_conv_prepare(bb_dev *d, void *h, int64_t n) { (void)d; (void)h; (void)n; return BB_OK; }
static void h_conv_destroy(bb_dev *d, void *h)
{
    (void)d;
    host_conv *c = h;
    bb_free(c->ws);
    free(c);
}
static void h_conv_fwd(bb_dev *d, void *h, int64_t n, const float *x, const float *w, float *y)
{
    (void)d;
    host_conv *c = h;
    bb_conv2d_forward(&c->g, n, x, w, y, c->ws);
}
static void h_conv_bwd(bb_dev *d, void *h, int64_t n, const float *x, const float *w, const float *dy,
                       float *dx, int dx_set, float *dw)
{
    (void)d;
    host_conv *c = h;
    if (dx && dx_set) memset(dx, 0, (size_t)(n * c->g.cin * c->g.h * c->g.w) * sizeof *dx);
    bb_conv2d_backward(&c->g, n, x, w, dy, dx, dw, c->ws);
}
static void h_linear_fwd(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w,
                         const float *b, float *y)
{
    (void)d;
    bb_linear_forward(l, n, x, w, b, y);
}
static void h_linear_bwd(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w,
                         const float *dy, float *dx, int dx_set, float *dw, float *db)
{
    (void)d;
    if (dx && dx_set) memset(dx, 0, (size_t)(n * l->in) * sizeof *dx);
    bb_linear_backward(l, n, x, w, dy, dx, dw, db);
}

/* the partial sums of every (cell, part), as the GPU's reduction blocks hold them */
static void bn_partials(const bb_kbn *p, int backward)
{
    for (int64_t cell = 0; cell < p->m * p->c; cell++)
        for (int64_t part = 0; part < p->parts; part++) {
            int64_t e0, e1, w = cell / p->c, ch = cell % p->c;
            double s = 0.0, q = 0.0;
            bbk_bn_part_range(p, part, &e0, &e1);
            for (int64_t e = e0; e < e1; e++) {
                int64_t a = bbk_bn_addr(p, w, ch, e);
                if (backward) bbk_bn_bwd_term(p, cell, a, &s, &q);
                else bbk_bn_fwd_term(p, a, &s, &q);
            }
            p->partial[(cell * p->parts + part) * 2] = s;
            p->partial[(cell * p->parts + part) * 2 + 1] = q;
        }
}

/* training BN, forward or backward: the partial sums, each channel's
 * finalization, then every element, as the CUDA kernels split it */
static void bn_train_pass(const bb_kbn *p, int backward)
{
    bn_partials(p, backward);
    for (int64_t ch = 0; ch < p->c; ch++) {
        if (backward) bbk_bn_bwd_finalize(p, ch);
        else bbk_bn_fwd_finalize(p, ch);
    }
    int64_t total = p->m * p->n * p->c * p->hw;
    for (int64_t i = 0; i < total; i++) {
        if (backward) bbk_bn_bwd_apply(p, i);
        else bbk_bn_fwd_apply(p, i);
    }
}

static void h_bn_fwd_train(bb_dev *d, const bb_kbn *p)
{
    (void)d;
    bn_train_pass(p, 0);
}

static void h_bn_fwd_eval(bb_dev *d, const bb_kbn *p)
{
    (void)d;
    int64_t total = p->m * p->n * p->c * p->hw;
    for (int64_t i = 0; i < total; i++) bbk_bn_eval_apply(p, i);
}

static void h_bn_bwd(bb_dev *d, const bb_kbn *p)
{
    (void)d;
    bn_train_pass(p, 1);
}

static void h_elt(bb_dev *d, const bb_kelt *p)
{
    (void)d;
    int64_t total = bbk_elt_count(p);
    for (int64_t i = 0; i < total; i++) bbk_elt_one(p, i);
}

static void h_xent(bb_dev *d, const bb_kxent *p)
{
    (void)d;
    for (int64_t s = 0; s < p->n; s++) bbk_xent_one(p, s);
}

static void h_reduce(bb_dev *d, int kind, const void *x, int64_t n, double *out)
{
    (void)d;
    double s = 0.0;
    if (kind == BB_REDUCE_SUM_F64)
        for (int64_t i = 0; i < n; i++) s += ((const double *)x)[i];
    else
        for (int64_t i = 0; i < n; i++) s += (double)((const float *)x)[i] * ((const float *)x)[i];
    *out = s;
}

/* the GPU's order: LARS partial sums per block, then per segment */
static void h_sgd(bb_dev *d, const bb_ksgd *p)
{
    (void)d;
    for (int64_t k = 0; k < p->nseg; k++) {
        const bb_kseg *sg = &p->seg[k];
        float flr = p->flr;
        if (sg->lars) {
            double w2 = 0.0, g2 = 0.0;
            for (int64_t b = sg->first_block; b < p->seg[k + 1].first_block; b++) {
                double bw = 0.0, bg = 0.0;
                int64_t lo = sg->offset + (b - sg->first_block) * p->block_len;
                int64_t hi = lo + p->block_len < sg->offset + sg->count ? lo + p->block_len : sg->offset + sg->count;
                for (int64_t j = lo; j < hi; j++) {
                    bw += (double)p->w[j] * p->w[j];
                    bg += (double)p->g[j] * p->g[j];
                }
                w2 += bw;
                g2 += bg;
            }
            flr = bb_lars_lr(p->lr, p->eta, p->clip, sg->wd, w2, g2);
        }
        if (p->lars) p->seg_lr[k] = flr;
        for (int64_t j = sg->offset; j < sg->offset + sg->count; j++) bbk_sgd_one(p, sg->wd, flr, j);
    }
}

static void h_running(bb_dev *d, float *state, const float *stats, int64_t len, float momentum, double count)
{
    (void)d;
    for (int64_t i = 0; i < len; i++) bb_bn_update_running_one(state + i, stats[i], momentum, count);
}

static bb_status h_comm_init(bb_dev *d, bb_comm *comm)
{
    H(d)->comm = comm;
    return BB_OK;
}

static void h_allreduce(bb_dev *d, float *buf, int64_t len)
{
    bb_comm *c = H(d)->comm;
    if (!c || c->size <= 1) return;
    bb_status s = c->allreduce(c, buf, len);
    if (s != BB_OK) fail(d, s);
}

static void h_destroy(bb_dev *d)
{
    free(d->impl);
    free(d);
}

void bb_dev_default_opts(bb_dev_opts *o)
{
    o->tf32 = 1;
    o->find = 1;
    o->workspace_frac = 0.15;
    o->workspace_max = (int64_t)4 << 30;
}

bb_status bb_dev_host_create(bb_dev **out, const bb_dev_opts *o)
{
    *out = NULL;
    bb_dev *d = calloc(1, sizeof *d);
    host_impl *h = calloc(1, sizeof *h);
    if (!d || !h) { free(d); free(h); return bb_fail(BB_ERR_NOMEM, "host device: out of memory"); }
    snprintf(d->name, sizeof d->name, "host emulation");
    d->is_host = 1;
    if (o) d->opts = *o;
    else bb_dev_default_opts(&d->opts);
    d->alloc = h_alloc;
    d->free = h_free;
    d->host_alloc = h_alloc;
    d->host_free = h_free;
    d->host_register = h_register;
    d->host_unregister = h_unregister;
    d->mem_info = h_mem_info;
    d->memset0 = h_memset0;
    d->copy = h_copy;
    d->record = h_record;
    d->wait = h_wait;
    d->sync_event = h_sync_event;
    d->sync = h_sync;
    d->elapsed = h_elapsed;
    d->conv_create = h_conv_create;
    d->conv_prepare = h_conv_prepare;
    d->conv_destroy = h_conv_destroy;
    d->conv_fwd = h_conv_fwd;
    d->conv_bwd = h_conv_bwd;
    d->linear_fwd = h_linear_fwd;
    d->linear_bwd = h_linear_bwd;
    d->bn_fwd_train = h_bn_fwd_train;
    d->bn_fwd_eval = h_bn_fwd_eval;
    d->bn_bwd = h_bn_bwd;
    d->elt = h_elt;
    d->xent = h_xent;
    d->reduce = h_reduce;
    d->sgd = h_sgd;
    d->running = h_running;
    d->comm_init = h_comm_init;
    d->allreduce = h_allreduce;
    d->destroy = h_destroy;
    d->impl = h;
    *out = d;
    return BB_OK;
}
