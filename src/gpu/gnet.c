/* The device network: buffers from the plan, forward and backward over a chunk
 * of workers through the device's operations (gnet.h). */
#include "gpu/gnet.h"

#include <stdlib.h>
#include <string.h>

static int64_t tensor_len(const bb_net *net, int t)
{
    const bb_dims *d = &net->tensors[t];
    return d->c * d->h * d->w;
}

static bb_status dalloc(bb_gnet *g, void **p, size_t bytes, const char *what)
{
    if (g->nallocs == g->cap_allocs) {
        int cap = g->cap_allocs ? 2 * g->cap_allocs : 64;
        void **a = realloc(g->allocs, (size_t)cap * sizeof *a);
        if (!a) return bb_fail(BB_ERR_NOMEM, "GPU network: out of host memory");
        g->allocs = a;
        g->cap_allocs = cap;
    }
    bb_status s = g->dev->alloc(g->dev, p, bytes ? bytes : 16);
    if (s != BB_OK) return bb_fail_context(s, "GPU network: %s (%.1f MiB)", what, (double)bytes / 1048576.0);
    g->allocs[g->nallocs++] = *p;
    return BB_OK;
}

bb_status bb_gnet_create(bb_gnet *g, bb_dev *dev, const bb_net *net, int64_t n, int64_t m_max,
                         int want_input_grad, const int64_t *counts, int ncounts)
{
    memset(g, 0, sizeof *g);
    if (n < 1 || m_max < 1) return bb_fail(BB_ERR_INVALID, "GPU network: %lld workers of %lld samples", (long long)m_max, (long long)n);
    g->dev = dev;
    g->net = net;
    g->n = n;
    g->m_max = m_max;
    g->s_max = m_max * n;
    BB_TRY(bb_gplan_build(&g->plan, net, want_input_grad));
    const bb_gplan *p = &g->plan;
    g->act = calloc((size_t)net->ntensors, sizeof *g->act);
    g->slot = calloc((size_t)p->nslots + 1, sizeof *g->slot);
    g->argmax = calloc((size_t)p->shared.nops, sizeof *g->argmax);
    g->bn_save = calloc((size_t)p->shared.nops, sizeof *g->bn_save);
    g->conv = calloc((size_t)p->shared.nops, sizeof *g->conv);
    if (!g->act || !g->slot || !g->argmax || !g->bn_save || !g->conv) {
        bb_gnet_destroy(g);
        return bb_fail(BB_ERR_NOMEM, "GPU network: out of host memory");
    }
    bb_status s = BB_OK;
    /* convolution algorithms first, while the device memory is still free */
    for (int o = 0; o < p->shared.nops && s == BB_OK; o++) {
        if (p->shared.ops[o].kind != BB_L_CONV) continue;
        s = dev->conv_create(dev, &net->layers[p->shared.ops[o].layer].op.conv, &g->conv[o]);
        for (int i = 0; i < ncounts && s == BB_OK; i++) s = dev->conv_prepare(dev, g->conv[o], counts[i]);
    }
    size_t S = (size_t)g->s_max;
    for (int t = 0; t < net->ntensors && s == BB_OK; t++)
        if (p->shared.stored[t] && t != net->input) s = dalloc(g, (void **)&g->act[t], S * (size_t)tensor_len(net, t) * 4, "activations");
    for (int i = 0; i < p->nslots && s == BB_OK; i++)
        s = dalloc(g, (void **)&g->slot[i], S * (size_t)p->max_len * 4, "gradient buffers");
    for (int o = 0; o < p->shared.nops && s == BB_OK; o++) {
        const bb_op *op = &p->shared.ops[o];
        const bb_layer *l = &net->layers[op->layer];
        if (op->kind == BB_L_MAXPOOL)
            s = dalloc(g, (void **)&g->argmax[o], S * (size_t)tensor_len(net, op->out) * 4, "max-pool indices");
        if (op->kind == BB_L_BN)
            s = dalloc(g, (void **)&g->bn_save[o], (size_t)(m_max * l->op.bn.c) * 2 * 4, "batch-norm statistics");
    }
    if (s == BB_OK && p->bn_max_c > 0) {
        s = dalloc(g, (void **)&g->bn_coef, (size_t)(m_max * p->bn_max_c) * 4 * 4, "batch-norm scratch");
        if (s == BB_OK)
            s = dalloc(g, (void **)&g->bn_partial, (size_t)(m_max * bb_gplan_bn_partial_cells(p, n)) * 2 * 8,
                       "batch-norm scratch");
    }
    if (s != BB_OK) bb_gnet_destroy(g);
    return s;
}

void bb_gnet_destroy(bb_gnet *g)
{
    if (g->dev) {
        for (int i = 0; i < g->nallocs; i++) g->dev->free(g->dev, g->allocs[i]);
        for (int o = 0; g->conv && o < g->plan.shared.nops; o++)
            if (g->conv[o]) g->dev->conv_destroy(g->dev, g->conv[o]);
    }
    free(g->allocs);
    free(g->act);
    free(g->slot);
    free(g->argmax);
    free(g->bn_save);
    free(g->conv);
    bb_gplan_free(&g->plan);
    memset(g, 0, sizeof *g);
}

float *bb_gnet_logits(const bb_gnet *g) { return g->act[g->net->output]; }
float *bb_gnet_dlogits(const bb_gnet *g) { return g->slot[0]; }  /* the output's slot is taken first */
float *bb_gnet_dinput(const bb_gnet *g)
{
    for (int o = 0; o < g->plan.shared.nops; o++)
        for (int j = 0; j < 2; j++)
            if (g->plan.shared.ops[o].in[j] == g->net->input && g->plan.slots[o].in[j] >= 0)
                return g->slot[g->plan.slots[o].in[j]];
    return NULL;
}

static const float *in_act(const bb_gnet *g, int t) { return t == g->net->input ? g->x : g->act[t]; }

static const float *param(const bb_net *net, const bb_layer *l, int j, const float *params)
{
    return l->nparam > j ? params + net->params[l->param0 + j].offset : NULL;
}

static bb_kbn bn_args(const bb_gnet *g, int o, int64_t workers, int64_t per_worker)
{
    const bb_op *op = &g->plan.shared.ops[o];
    const bb_bn *b = &g->net->layers[op->layer].op.bn;
    bb_kbn k;
    memset(&k, 0, sizeof k);
    k.m = workers;
    k.n = per_worker;
    k.c = b->c;
    k.hw = b->hw;
    k.parts = bb_gplan_bn_parts(per_worker * b->hw, &k.part_len);
    k.eps = b->eps;
    k.x = in_act(g, op->in[0]);
    k.s = op->in[1] >= 0 ? in_act(g, op->in[1]) : NULL;
    k.y = g->act[op->out];
    k.relu = op->relu;
    k.save = g->bn_save[o];
    k.coef = g->bn_coef;
    k.partial = g->bn_partial;
    return k;
}

void bb_gnet_forward(bb_gnet *g, const float *x, int64_t count, int train, const float *params,
                     const float *state, float *stats)
{
    bb_dev *d = g->dev;
    const bb_net *net = g->net;
    int64_t S = train ? count * g->n : count;
    g->x = x;
    g->count = count;
    for (int o = 0; o < g->plan.shared.nops; o++) {
        const bb_op *op = &g->plan.shared.ops[o];
        const bb_layer *l = &net->layers[op->layer];
        const float *in = in_act(g, op->in[0]);
        float *y = g->act[op->out];
        bb_kelt e;
        memset(&e, 0, sizeof e);
        e.n = S;
        switch (op->kind) {
        case BB_L_CONV: d->conv_fwd(d, g->conv[o], S, in, param(net, l, 0, params), y); continue;
        case BB_L_LINEAR: d->linear_fwd(d, &l->op.lin, S, in, param(net, l, 0, params), param(net, l, 1, params), y); continue;
        case BB_L_BN: {
            bb_kbn k = bn_args(g, o, train ? count : 1, train ? g->n : S);
            k.gamma = param(net, l, 0, params);
            k.beta = param(net, l, 1, params);
            if (train) {
                k.stats = stats ? stats + l->stat_off : NULL;
                d->bn_fwd_train(d, &k);
            } else {
                k.rmean = state + l->run_off;
                k.rvar = state + l->run_off + l->op.bn.c;
                d->bn_fwd_eval(d, &k);
            }
            continue;
        }
        case BB_L_RELU: e.kind = BBK_RELU_FWD; e.len = tensor_len(net, op->out); break;
        case BB_L_ADD: e.kind = BBK_ADD_FWD; e.len = tensor_len(net, op->out); e.x2 = in_act(g, op->in[1]); break;
        case BB_L_MAXPOOL: e.kind = BBK_MAXPOOL_FWD; e.mp = l->op.mp; e.argmax = g->argmax[o]; break;
        case BB_L_AVGPOOL: {
            const bb_dims *t = &net->tensors[op->in[0]];
            e.kind = BBK_AVGPOOL_FWD;
            e.c = t->c;
            e.hw = t->h * t->w;
            break;
        }
        case BB_L_PADSHORT: e.kind = BBK_PAD_FWD; e.ps = l->op.ps; break;
        }
        e.x = in;
        e.y = y;
        d->elt(d, &e);
    }
}

void bb_gnet_backward(bb_gnet *g, const float *params, float *grad, bb_grad_ready_fn ready, void *arg)
{
    bb_dev *d = g->dev;
    const bb_net *net = g->net;
    int64_t S = g->count * g->n;
    for (int o = g->plan.shared.nops - 1; o >= 0; o--) {
        const bb_op *op = &g->plan.shared.ops[o];
        const bb_layer *l = &net->layers[op->layer];
        const bb_gslots *gs = &g->plan.slots[o];
        const float *dy = g->slot[gs->out];
        float *dx = gs->in[0] >= 0 ? g->slot[gs->in[0]] : NULL;
        float *dx2 = gs->in[1] >= 0 ? g->slot[gs->in[1]] : NULL;
        int set = dx && op->first_write[0], set2 = dx2 && op->first_write[1];  /* store, not add */
        float *g0 = l->nparam > 0 ? grad + net->params[l->param0].offset : NULL;
        float *g1 = l->nparam > 1 ? grad + net->params[l->param0 + 1].offset : NULL;
        const float *x = in_act(g, op->in[0]);
        bb_kelt e;
        memset(&e, 0, sizeof e);
        e.n = S;
        e.dy = dy;
        e.dx = dx;
        e.dx_set = set;
        switch (op->kind) {
        case BB_L_CONV: d->conv_bwd(d, g->conv[o], S, x, param(net, l, 0, params), dy, dx, set, g0); break;
        case BB_L_LINEAR:
            d->linear_bwd(d, &l->op.lin, S, x, param(net, l, 0, params), dy, dx, set, g0, g1);
            break;
        case BB_L_BN: {
            bb_kbn k = bn_args(g, o, g->count, g->n);
            k.gamma = param(net, l, 0, params);
            k.beta = param(net, l, 1, params);
            k.dy = dy;
            k.dx = dx;
            k.dx_set = set;
            k.ds = dx2;
            k.ds_set = set2;
            k.dgamma = g0;
            k.dbeta = g1;
            d->bn_bwd(d, &k);
            break;
        }
        case BB_L_RELU:
            if (!dx) break;
            e.kind = BBK_RELU_BWD;
            e.len = tensor_len(net, op->out);
            e.y = g->act[op->out];
            d->elt(d, &e);
            break;
        case BB_L_ADD:
            if (!dx && !dx2) break;
            e.kind = BBK_ADD_BWD;
            e.len = tensor_len(net, op->out);
            e.dx2 = dx2;
            e.dx2_set = set2;
            d->elt(d, &e);
            break;
        case BB_L_MAXPOOL:
            if (!dx) break;
            e.kind = BBK_MAXPOOL_BWD;
            e.mp = l->op.mp;
            e.argmax = g->argmax[o];
            d->elt(d, &e);
            break;
        case BB_L_AVGPOOL: {
            if (!dx) break;
            const bb_dims *t = &net->tensors[op->in[0]];
            e.kind = BBK_AVGPOOL_BWD;
            e.c = t->c;
            e.hw = t->h * t->w;
            d->elt(d, &e);
            break;
        }
        case BB_L_PADSHORT:
            if (!dx) break;
            e.kind = BBK_PAD_BWD;
            e.ps = l->op.ps;
            d->elt(d, &e);
            break;
        }
        if (ready && l->nparam > 0) ready(arg, op->ready_lo);
    }
}
