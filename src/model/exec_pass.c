/* The forward and backward passes of an executor over the operations of its
 * plan, one dispatch on the layer kind for both layouts. REFERENCE: the NCHW
 * operators of ops.h, one operation per layer. Channels last (FAST,
 * PORTABLE, AVX2, AVX512): every tensor is (n, h, w, c) except the network
 * input, which callers fill as (n, c, h, w) and which is copied channels-last
 * first when its layouts differ; a residual add fused into the BN before it,
 * and a ReLU into the BN or add before it, run inside that layer (and are
 * timed with it), and on one thread a BN's first pass over rows (its
 * moments, its backward's sums) runs inside the convolution that writes
 * those rows, and its backward's second pass inside the backward of the
 * convolution that reads its dx, block by block (timed with the
 * convolution); the executor's team shares the convolutions, batch norms,
 * residual adds, max pools and the input's layout copy, the other layers
 * are small and run on the calling thread. */
#include "model/exec_internal.h"
#include "ops/nhwc.h"
#include "util/pool.h"

#include <string.h>

static bb_uk_variant variant(const bb_exec *ex) { return bb_exec_variant(ex->kernels); }

/* the channels-last buffers of tensor t (the input's copy when it has one) */
static float *act_cl(const bb_exec *ex, int t) { return t == ex->net->input && ex->in_cl ? ex->in_cl : ex->act[t]; }
static float *grad_cl(const bb_exec *ex, int t) { return t == ex->net->input && ex->din_cl ? ex->din_cl : ex->grad[t]; }

/* A linear layer flattens its input in (c, h, w) order; channels last differs
 * when c > 1 and h*w > 1, and the layer then works on a transposed copy. */
static int linear_transposes(const bb_net *net, int t)
{
    const bb_dims *d = &net->tensors[t];
    return d->c > 1 && d->h * d->w > 1;
}

/* the residual add + ReLU on a team, by ranges of whole cache lines */
typedef struct {
    const float *a, *b, *y, *dy;
    float *out, *da, *db;
    int set_da, set_db;
} add_job;

static void add_relu_fwd_range(void *arg, int64_t lo, int64_t hi, int t)
{
    const add_job *j = arg;
    bb_add_relu_forward(hi - lo, j->a + lo, j->b + lo, j->out + lo);
}

static void add_relu_bwd_range(void *arg, int64_t lo, int64_t hi, int t)
{
    const add_job *j = arg;
    bb_add_relu_backward(hi - lo, j->y + lo, j->dy + lo, j->da ? j->da + lo : NULL, j->set_da,
                         j->db ? j->db + lo : NULL, j->set_db);
}

/* per-image work on a team: images [lo, hi) of a max pool or the input's layout copy */
typedef struct {
    const bb_maxpool *mp;
    int64_t in_len, out_len, c, hw;  /* floats per image */
    const float *x, *dy;
    float *y, *dx;
    int32_t *argmax;
} image_job;

static void maxpool_fwd_images(void *arg, int64_t lo, int64_t hi, int t)
{
    const image_job *j = arg;
    bb_maxpool_nhwc_forward(j->mp, hi - lo, j->x + lo * j->in_len, j->y + lo * j->out_len, j->argmax + lo * j->out_len);
}

static void maxpool_bwd_images(void *arg, int64_t lo, int64_t hi, int t)
{
    const image_job *j = arg;
    bb_maxpool_nhwc_backward(j->mp, hi - lo, j->argmax + lo * j->out_len, j->dy + lo * j->out_len, j->dx + lo * j->in_len);
}

static void to_channels_last_images(void *arg, int64_t lo, int64_t hi, int t)
{
    const image_job *j = arg;
    bb_nchw_to_nhwc(hi - lo, j->c, j->hw, j->x + lo * j->in_len, j->y + lo * j->in_len);
}

static image_job maxpool_job(const bb_net *net, const bb_exec *ex, const bb_layer *l)
{
    image_job j = {&l->op.mp, bb_tensor_len(net, l->in[0]), bb_tensor_len(net, l->out), 0, 0, NULL, NULL, NULL, NULL,
                   bb_exec_saved(ex, l)};
    return j;
}

/* The BN a convolution applies to its input (plan.h, BN_CONV), NULL when
 * none: its coefficients (training's from the BN's saved statistics, else
 * from the running ones in state) go to ex->coef, and *x becomes the BN's
 * input, which the convolution reads in place of the BN's output. */
static const bb_conv_input *applied_bn(const bb_net *net, const bb_exec *ex, const bb_op *op, const float *params,
                                       const float *state, int train, const float **x, bb_conv_input *in)
{
    if (op->applies < 0) return NULL;
    const bb_op *bo = &ex->plan->ops[op->applies];
    const bb_layer *b = &net->layers[bo->layer];
    int64_t c = b->op.bn.c;
    const float *gamma = params + net->params[b->param0].offset, *beta = params + net->params[b->param0 + 1].offset;
    const float *rmean = train ? NULL : state + b->run_off;
    bb_bn_nhwc_coefficients(&b->op.bn, gamma, beta, train ? bb_exec_saved(ex, b) : NULL, rmean,
                            rmean ? rmean + c : NULL, ex->coef, ex->coef + c);
    in->a = ex->coef;
    in->b = ex->coef + c;
    in->relu = bo->relu;
    *x = act_cl(ex, bo->in[0]);
    return in;
}

/* 1 when a BN's passes may run inside the convolutions beside it: on one
 * thread only (a team's convolution tells the rows once, at its end, and
 * its threads would wait on one doing the BN's share) */
static int passes_inside(const bb_exec *ex) { return bb_pool_size(ex->team) == 1; }

/* A BN's first pass done by a convolution as it completes rows
 * (bb_bn_sums): the training forward's moments of the BN reading the
 * convolution's output next, and the backward's sums of the BN the
 * convolution applies, from its backward-data's dx. */
static void bn_moments_done(void *arg, int64_t pixels) { bb_bn_nhwc_moments(arg, pixels); }
static void bn_sums_done(void *arg, int64_t pixels) { bb_bn_nhwc_grad_sums(arg, pixels); }

/* the BN operation after conv operation o that reads its output, or -1 */
static int bn_reading(const bb_net *net, const bb_exec *ex, int o)
{
    if (o + 1 >= ex->plan->nops || !passes_inside(ex)) return -1;
    const bb_op *next = &ex->plan->ops[o + 1];
    const bb_layer *b = &net->layers[next->layer];
    return b->kind == BB_L_BN && b->in[0] == ex->plan->ops[o].out ? o + 1 : -1;
}

static void bn_dx_need(void *arg, int64_t pixels) { bb_bn_nhwc_dx_rows(arg, pixels); }

/* BN operation o's second pass, left to the convolution just before it
 * whose output it reads (that convolution's backward reads the BN's dx as
 * its dy, block by block); NULL when there is none */
static bb_bn_later *bn_after(const bb_net *net, const bb_exec *ex, int o, bb_bn_later *s)
{
    if (o == 0 || !passes_inside(ex)) return NULL;
    const bb_op *co = &ex->plan->ops[o - 1];
    if (net->layers[co->layer].kind != BB_L_CONV || co->out != net->layers[ex->plan->ops[o].layer].in[0]) return NULL;
    s->cf = ex->later;
    return s;
}

/* The backward sums of the BN operation just before conv operation o, whose
 * output the convolution reads: it is that output's first reader, so its
 * backward-data (into dy) is the last to write dy. NULL when there is none.
 * in: the BN the convolution applies (applied_bn), whose coefficients serve
 * when it is that BN. */
static const bb_conv_rows *bn_before(const bb_net *net, bb_exec *ex, int o, int64_t n, const float *params,
                                     const bb_conv_input *in, float *dy, bb_bn_sums *s, bb_conv_rows *rows)
{
    if (o == 0 || !dy || !passes_inside(ex)) return NULL;
    const bb_op *bo = &ex->plan->ops[o - 1];
    const bb_layer *b = &net->layers[bo->layer];
    if (b->kind != BB_L_BN || bo->out != net->layers[ex->plan->ops[o].layer].in[0]) return NULL;
    int64_t c = b->op.bn.c;
    const float *ka = in ? in->a : NULL, *kb = in ? in->b : NULL;
    if (ex->plan->ops[o].applies != o - 1) {
        const float *gamma = params + net->params[b->param0].offset;
        const float *beta = params + net->params[b->param0 + 1].offset;
        float *k = ex->coef + 2 * c;  /* past the coefficients of the BN the convolution applies */
        bb_bn_nhwc_coefficients(&b->op.bn, gamma, beta, bb_exec_saved(ex, b), NULL, NULL, k, k + c);
        ka = k;
        kb = k + c;
    }
    bb_bn_sums z = {&b->op.bn, n, act_cl(ex, b->in[0]), bb_exec_saved(ex, b), ka, kb, dy,
                    bo->in[1] >= 0 ? ex->act[bo->out] : NULL, bo->relu, ex->sums, 0};
    *s = z;
    rows->done = bn_sums_done;
    rows->arg = s;
    return rows;
}

size_t bb_exec_nhwc_workspace(const bb_net *net, int64_t n_max)
{
    size_t ws = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        if (l->kind == BB_L_LINEAR && linear_transposes(net, l->in[0])) {
            size_t need = 2 * (size_t)(n_max * bb_tensor_len(net, l->in[0])) + 16;
            if (need > ws) ws = need;
        }
    }
    return ws;
}

void bb_net_forward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                    const float *state, int train, float *stats)
{
    bb_uk_variant v = variant(ex);
    int cl = ex->kernels != BB_KERNELS_REFERENCE;
    const bb_dims *in = &net->tensors[net->input];
    if (ex->in_cl) {
        BB_PROF_START(ex);
        image_job j = {NULL, in->c * in->h * in->w, 0, in->c, in->h * in->w, ex->act[net->input], NULL, ex->in_cl,
                       NULL, NULL};
        bb_pool_for(ex->team, n, 1, to_channels_last_images, &j);
        BB_PROF_STOP(ex, fwd, BB_PROF_LAYOUT);
    }
    ex->sums_op = -1;
    for (int o = 0; o < ex->plan->nops; o++) {
        const bb_op *op = &ex->plan->ops[o];
        const bb_layer *l = &net->layers[op->layer];
        int relu = op->relu, out = op->out;
        const float *x = act_cl(ex, l->in[0]);
        float *y = ex->act[out];
        const bb_dims *d = &net->tensors[l->in[0]];
        int64_t len = n * bb_tensor_len(net, l->out);
        const float *p0 = l->nparam > 0 ? params + net->params[l->param0].offset : NULL;
        const float *p1 = l->nparam > 1 ? params + net->params[l->param0 + 1].offset : NULL;
        BB_PROF_START(ex);
        switch (l->kind) {
        case BB_L_CONV:
            if (cl) {
                bb_conv_input ci;
                const bb_conv_input *bn_in = applied_bn(net, ex, op, params, state, train, &x, &ci);
                int bo = train ? bn_reading(net, ex, o) : -1;
                const bb_layer *b = bo >= 0 ? &net->layers[ex->plan->ops[bo].layer] : NULL;
                bb_bn_sums sums = {b ? &b->op.bn : NULL, n, y, NULL, NULL, NULL, NULL, NULL, 0, ex->sums, 0};
                bb_conv_rows rows = {bn_moments_done, &sums};
                bb_conv2d_nhwc_forward_team(&l->op.conv, v, n, x, bn_in, p0, y, b ? &rows : NULL, ex->ws, ex->team);
                if (b && bb_bn_nhwc_sums_complete(&sums)) ex->sums_op = bo;
            } else {
                bb_conv2d_forward(&l->op.conv, n, x, p0, y, ex->ws);
            }
            break;
        case BB_L_BN: {
            const bb_bn *b = &l->op.bn;
            bb_bn_residual res = {op->in[1] >= 0 ? act_cl(ex, op->in[1]) : NULL, NULL, NULL, 0};
            const bb_bn_residual *r = res.res ? &res : NULL;
            if (train) {
                float *st = stats ? stats + l->stat_off : NULL;
                float *out_y = op->deferred ? NULL : y;  /* deferred: the statistics alone */
                if (cl)
                    bb_bn_nhwc_forward_train(b, n, x, p0, p1, r, out_y, bb_exec_saved(ex, l), st, relu,
                                             ex->sums_op == o ? ex->sums : NULL, ex->ws, ex->team);
                else bb_bn_forward_train(b, n, x, p0, p1, y, bb_exec_saved(ex, l), st);
                ex->sums_op = -1;
            } else if (!op->deferred) {
                const float *mean = state + l->run_off, *var = mean + b->c;
                if (cl) bb_bn_nhwc_forward_eval(b, n, x, p0, p1, mean, var, r, y, relu, ex->team);
                else bb_bn_forward_eval(b, n, x, p0, p1, mean, var, y);
            }
            break;
        }
        case BB_L_RELU: bb_relu_forward(len, x, y); break;
        case BB_L_ADD:
            if (relu) {
                add_job j = {x, act_cl(ex, l->in[1]), NULL, NULL, y, NULL, NULL, 0, 0};
                bb_pool_for(ex->team, len, 16, add_relu_fwd_range, &j);
            } else {
                bb_add_forward(len, x, act_cl(ex, l->in[1]), y);
            }
            break;
        case BB_L_MAXPOOL: {
            image_job j = maxpool_job(net, ex, l);
            j.x = x;
            j.y = y;
            if (cl) bb_pool_for(ex->team, n, 1, maxpool_fwd_images, &j);
            else bb_maxpool_forward(&l->op.mp, n, x, y, j.argmax);
            break;
        }
        case BB_L_AVGPOOL:
            if (cl) bb_avgpool_nhwc_forward(n, d->c, d->h * d->w, x, y);
            else bb_avgpool_forward(n, d->c, d->h * d->w, x, y);
            break;
        case BB_L_LINEAR:
            if (cl && linear_transposes(net, l->in[0])) {
                bb_nhwc_to_nchw(n, d->c, d->h * d->w, x, ex->ws);
                x = ex->ws;
            }
            bb_linear_forward(&l->op.lin, n, x, p0, p1, y);
            break;
        case BB_L_PADSHORT:
            if (cl) bb_padshort_nhwc_forward(&l->op.ps, n, x, y);
            else bb_padshort_forward(&l->op.ps, n, x, y);
            break;
        }
        BB_PROF_STOP(ex, fwd, l->kind);
    }
}

void bb_net_backward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                     float *grad, bb_grad_ready_fn ready, void *ready_arg)
{
    bb_uk_variant v = variant(ex);
    int cl = ex->kernels != BB_KERNELS_REFERENCE;
    ex->sums_op = -1;
    bb_bn_later later = {0};
    int later_op = -1;  /* the conv operation the BN's second pass is left to */
    for (int o = ex->plan->nops - 1; o >= 0; o--) {
        const bb_op *op = &ex->plan->ops[o];
        const bb_layer *l = &net->layers[op->layer];
        int relu = op->relu, out = op->out;
        /* the first writer of a gradient stores it (set) where its kernel can, instead of zero + add */
        int can_set = cl && (l->kind == BB_L_CONV || l->kind == BB_L_BN || (l->kind == BB_L_ADD && relu));
        float *dx[2] = {NULL, NULL};
        int set[2] = {0, 0};
        for (int j = 0; j < 2; j++) {
            int t = op->in[j];
            if (t < 0 || (t == net->input && !ex->want_input_grad)) continue;
            dx[j] = grad_cl(ex, t);
            if (!op->first_write[j]) continue;
            if (can_set) set[j] = 1;
            else memset(dx[j], 0, (size_t)(n * bb_tensor_len(net, t)) * sizeof(float));
        }
        const float *x = act_cl(ex, l->in[0]), *y = ex->act[out], *dy = ex->grad[out];
        const bb_dims *d = &net->tensors[l->in[0]];
        int64_t len = n * bb_tensor_len(net, l->out);
        const float *p0 = l->nparam > 0 ? params + net->params[l->param0].offset : NULL;
        const float *p1 = l->nparam > 1 ? params + net->params[l->param0 + 1].offset : NULL;
        float *g0 = l->nparam > 0 ? grad + net->params[l->param0].offset : NULL;
        float *g1 = l->nparam > 1 ? grad + net->params[l->param0 + 1].offset : NULL;
        BB_PROF_START(ex);
        switch (l->kind) {
        case BB_L_CONV:
            if (cl) {
                bb_conv_input ci;
                const bb_conv_input *bn_in = applied_bn(net, ex, op, params, NULL, 1, &x, &ci);
                bb_bn_sums sums;
                bb_conv_rows rows;
                const bb_conv_rows *r = bn_before(net, ex, o, n, params, bn_in, dx[0], &sums, &rows);
                bb_conv_rows need = {bn_dx_need, &later};
                bb_conv2d_nhwc_backward_team(&l->op.conv, v, n, x, bn_in, p0, dy, dx[0], set[0], g0,
                                             later_op == o ? &need : NULL, r, ex->ws, ex->team);
                if (later_op == o) bb_bn_nhwc_dx_rows(&later, n * l->op.conv.oh * l->op.conv.ow);  /* any rows left */
                later_op = -1;
                if (r && bb_bn_nhwc_sums_complete(&sums)) ex->sums_op = o - 1;
            } else {
                bb_conv2d_backward(&l->op.conv, n, x, p0, dy, dx[0], g0, ex->ws);
            }
            break;
        case BB_L_BN:
            if (cl) {
                bb_bn_residual res = {NULL, y, dx[1], set[1]};
                bb_bn_later *lt = bn_after(net, ex, o, &later);
                bb_bn_nhwc_backward(&l->op.bn, n, x, p0, bb_exec_saved(ex, l), p1, op->in[1] >= 0 ? &res : NULL, dy,
                                    dx[0], set[0], g0, g1, relu, ex->sums_op == o ? ex->sums : NULL, lt, ex->ws,
                                    ex->team);
                ex->sums_op = -1;
                if (lt) later_op = o - 1;
            } else
                bb_bn_backward(&l->op.bn, n, x, p0, bb_exec_saved(ex, l), dy, dx[0], g0, g1);
            break;
        case BB_L_RELU: if (dx[0]) bb_relu_backward(len, y, dy, dx[0]); break;
        case BB_L_ADD:
            if (relu) {
                add_job j = {NULL, NULL, y, dy, NULL, dx[0], dx[1], set[0], set[1]};
                bb_pool_for(ex->team, len, 16, add_relu_bwd_range, &j);
            } else {
                bb_add_backward(len, dy, dx[0], dx[1]);
            }
            break;
        case BB_L_MAXPOOL: {
            image_job j = maxpool_job(net, ex, l);
            j.dy = dy;
            j.dx = dx[0];
            if (dx[0] && cl) bb_pool_for(ex->team, n, 1, maxpool_bwd_images, &j);
            else if (dx[0]) bb_maxpool_backward(&l->op.mp, n, j.argmax, dy, dx[0]);
            break;
        }
        case BB_L_AVGPOOL:
            if (dx[0] && cl) bb_avgpool_nhwc_backward(n, d->c, d->h * d->w, dy, dx[0]);
            else if (dx[0]) bb_avgpool_backward(n, d->c, d->h * d->w, dy, dx[0]);
            break;
        case BB_L_LINEAR:
            if (cl && linear_transposes(net, l->in[0])) {
                int64_t m = n * bb_tensor_len(net, l->in[0]);
                float *xt = ex->ws, *dxt = ex->ws + m;
                bb_nhwc_to_nchw(n, d->c, d->h * d->w, x, xt);
                if (dx[0]) memset(dxt, 0, (size_t)m * sizeof(float));
                bb_linear_backward(&l->op.lin, n, xt, p0, dy, dx[0] ? dxt : NULL, g0, g1);
                if (dx[0]) bb_nchw_to_nhwc_add(n, d->c, d->h * d->w, dxt, dx[0]);
            } else {
                bb_linear_backward(&l->op.lin, n, x, p0, dy, dx[0], g0, g1);
            }
            break;
        case BB_L_PADSHORT:
            if (dx[0] && cl) bb_padshort_nhwc_backward(&l->op.ps, n, dy, dx[0]);
            else if (dx[0]) bb_padshort_backward(&l->op.ps, n, dy, dx[0]);
            break;
        }
        BB_PROF_STOP(ex, bwd, l->kind);
        if (ready && l->nparam > 0) ready(ready_arg, op->ready_lo);
    }
    if (ex->din_cl && ex->want_input_grad) {
        const bb_dims *in = &net->tensors[net->input];
        BB_PROF_START(ex);
        bb_nhwc_to_nchw(n, in->c, in->h * in->w, ex->din_cl, ex->grad[net->input]);
        BB_PROF_STOP(ex, bwd, BB_PROF_LAYOUT);
    }
}
