/* Layer graph: building, parameter layout, executor buffers, and the forward and
 * backward passes of one logical worker's batch. */
#include "model/net.h"

#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const bb_layer_kind_info bb_layer_kinds[BB_L_N] = {
    [BB_L_CONV] = {"conv", 1, 0},       [BB_L_BN] = {"batchnorm", 1, 0},   [BB_L_RELU] = {"relu", 0, 1},
    [BB_L_ADD] = {"add", 0, 0},         [BB_L_MAXPOOL] = {"maxpool", 0, 0}, [BB_L_AVGPOOL] = {"avgpool", 0, 0},
    [BB_L_LINEAR] = {"linear", 1, 0},   [BB_L_PADSHORT] = {"shortcut-A", 0, 0},
};

const char *bb_profile_name(int slot)
{
    static const char *const others[BB_PROF_N - BB_L_N] = {"layout", "loss", "gradient sum", "update", "data wait"};
    if (slot >= 0 && slot < BB_L_N) return bb_layer_kinds[slot].name;
    return slot >= BB_L_N && slot < BB_PROF_N ? others[slot - BB_L_N] : "?";
}

#define GROW(arr, len, cap)                                                        \
    ((len) < (cap) ? 1 : grow_array((void **)&(arr), &(cap), sizeof *(arr)))

static int grow_array(void **arr, int *cap, size_t elem)
{
    int ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

void bb_net_init(bb_net *net, int64_t c, int64_t h, int64_t w)
{
    memset(net, 0, sizeof *net);
    net->output = -1;
    if (c < 1 || h < 1 || w < 1)
        net->error = bb_fail(BB_ERR_INVALID, "input shape %lldx%lldx%lld: every dimension must be >= 1",
                             (long long)c, (long long)h, (long long)w);
    if (!GROW(net->tensors, net->ntensors, net->cap_tensors)) { net->error = BB_ERR_NOMEM; return; }
    net->tensors[net->ntensors++] = (bb_dims){c, h, w};
    net->input = 0;
}

void bb_net_free(bb_net *net)
{
    free(net->layers);
    free(net->tensors);
    free(net->params);
    memset(net, 0, sizeof *net);
}

static int fail_build(bb_net *net, bb_status s, const char *what, const char *name)
{
    if (net->error == BB_OK) net->error = bb_fail(s, "building layer %s: %s", name ? name : "?", what);
    return -1;
}

static int new_tensor(bb_net *net, int64_t c, int64_t h, int64_t w, const char *name)
{
    if (c < 1 || h < 1 || w < 1) {
        char msg[160];
        snprintf(msg, sizeof msg, "output shape %lldx%lldx%lld is empty (input too small for this model)",
                 (long long)c, (long long)h, (long long)w);
        return fail_build(net, BB_ERR_INVALID, msg, name);
    }
    if (!GROW(net->tensors, net->ntensors, net->cap_tensors)) return fail_build(net, BB_ERR_NOMEM, "out of memory", name);
    net->tensors[net->ntensors] = (bb_dims){c, h, w};
    return net->ntensors++;
}

static bb_layer *new_layer(bb_net *net, bb_layer_kind kind, const char *name, int in0, int in1)
{
    if (net->error != BB_OK || in0 < 0 || (in1 < -1)) return NULL;
    if (!GROW(net->layers, net->nlayers, net->cap_layers)) { fail_build(net, BB_ERR_NOMEM, "out of memory", name); return NULL; }
    bb_layer *l = &net->layers[net->nlayers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name ? name : "");
    l->in[0] = in0;
    l->in[1] = in1;
    l->param0 = net->nparams;
    return l;
}

static int add_param(bb_net *net, bb_layer *l, const char *suffix, bb_param_kind kind,
                     int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    if (!GROW(net->params, net->nparams, net->cap_params)) return fail_build(net, BB_ERR_NOMEM, "out of memory", l->name);
    bb_param *p = &net->params[net->nparams++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
    p->kind = kind;
    p->ndim = ndim;
    p->layer = net->nlayers;
    int64_t dims[4] = {d0, d1, d2, d3};
    p->count = 1;
    for (int i = 0; i < ndim; i++) { p->shape[i] = dims[i]; p->count *= dims[i]; }
    p->offset = net->param_count;
    net->param_count += p->count;
    l->nparam++;
    return 0;
}

static int commit(bb_net *net, bb_layer *l, int64_t c, int64_t h, int64_t w)
{
    int t = new_tensor(net, c, h, w, l->name);
    if (t < 0) return -1;
    l->out = t;
    net->nlayers++;
    return t;
}

int bb_net_conv(bb_net *net, const char *name, int in, int64_t cout, int64_t k, int64_t stride, int64_t pad)
{
    bb_layer *l = new_layer(net, BB_L_CONV, name, in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    if (cout < 1 || k < 1 || stride < 1 || pad < 0) return fail_build(net, BB_ERR_INVALID, "bad conv geometry", name);
    bb_conv2d_setup(&l->op.conv, d.c, d.h, d.w, cout, k, k, stride, pad);
    if (add_param(net, l, "weight", BB_PARAM_WEIGHT, 4, cout, d.c, k, k) < 0) return -1;
    return commit(net, l, cout, l->op.conv.oh, l->op.conv.ow);
}

int bb_net_bn(bb_net *net, const char *name, int in, int last_of_block)
{
    bb_layer *l = new_layer(net, BB_L_BN, name, in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    l->op.bn = (bb_bn){d.c, d.h * d.w, 1e-5f};
    if (add_param(net, l, "weight", BB_PARAM_BN_GAMMA, 1, d.c, 0, 0, 0) < 0) return -1;
    if (add_param(net, l, "bias", BB_PARAM_BN_BETA, 1, d.c, 0, 0, 0) < 0) return -1;
    l->stat_off = net->stat_count;
    net->stat_count += 2 * d.c;
    l->run_off = net->state_count;
    net->state_count += 2 * d.c;
    l->save_bytes = 2 * d.c * (int64_t)sizeof(float);
    l->last_bn = last_of_block;
    return commit(net, l, d.c, d.h, d.w);
}

int bb_net_relu(bb_net *net, int in)
{
    bb_layer *l = new_layer(net, BB_L_RELU, "relu", in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    return commit(net, l, d.c, d.h, d.w);
}

int bb_net_add(bb_net *net, int a, int b)
{
    bb_layer *l = new_layer(net, BB_L_ADD, "add", a, b < 0 ? -2 : b);
    if (!l) return -1;
    bb_dims da = net->tensors[a], db = net->tensors[b];
    if (da.c != db.c || da.h != db.h || da.w != db.w)
        return fail_build(net, BB_ERR_INVALID, "add of tensors with different shapes", "add");
    return commit(net, l, da.c, da.h, da.w);
}

int bb_net_maxpool(bb_net *net, int in, int64_t k, int64_t stride, int64_t pad)
{
    bb_layer *l = new_layer(net, BB_L_MAXPOOL, "maxpool", in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    bb_maxpool_setup(&l->op.mp, d.c, d.h, d.w, k, stride, pad);
    l->save_per_sample = d.c * l->op.mp.oh * l->op.mp.ow * (int64_t)sizeof(int32_t);
    return commit(net, l, d.c, l->op.mp.oh, l->op.mp.ow);
}

int bb_net_avgpool(bb_net *net, int in)
{
    bb_layer *l = new_layer(net, BB_L_AVGPOOL, "avgpool", in, -1);
    if (!l) return -1;
    return commit(net, l, net->tensors[in].c, 1, 1);
}

int bb_net_linear(bb_net *net, const char *name, int in, int64_t out, int bias)
{
    bb_layer *l = new_layer(net, BB_L_LINEAR, name, in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    if (out < 1) return fail_build(net, BB_ERR_INVALID, "linear layer needs >= 1 output", name);
    l->op.lin = (bb_linear){d.c * d.h * d.w, out};
    if (add_param(net, l, "weight", BB_PARAM_WEIGHT, 2, out, l->op.lin.in, 0, 0) < 0) return -1;
    if (bias && add_param(net, l, "bias", BB_PARAM_BIAS, 1, out, 0, 0, 0) < 0) return -1;
    return commit(net, l, out, 1, 1);
}

int bb_net_padshort(bb_net *net, int in, int64_t cout, int64_t stride)
{
    bb_layer *l = new_layer(net, BB_L_PADSHORT, "shortcut", in, -1);
    if (!l) return -1;
    bb_dims d = net->tensors[in];
    if (cout < d.c) return fail_build(net, BB_ERR_INVALID, "option-A shortcut cannot drop channels", "shortcut");
    bb_padshort_setup(&l->op.ps, d.c, cout, d.h, d.w, stride);
    return commit(net, l, cout, l->op.ps.oh, l->op.ps.ow);
}

bb_status bb_net_finalize(bb_net *net, int output)
{
    if (net->error != BB_OK) return net->error;
    if (output < 0 || output >= net->ntensors)
        return bb_fail(BB_ERR_INVALID, "network output tensor %d does not exist", output);
    net->output = output;
    /* Saved-area layout: n-independent parts, then per-sample parts x n_max. */
    net->save_fixed = net->save_per_sample = 0;
    for (int i = 0; i < net->nlayers; i++) {
        bb_layer *l = &net->layers[i];
        l->save_off = net->save_fixed;
        net->save_fixed += (l->save_bytes + 63) & ~(int64_t)63;
        l->save_ps_off = net->save_per_sample;
        net->save_per_sample += (l->save_per_sample + 3) & ~(int64_t)3;
    }
    net->finalized = 1;
    return BB_OK;
}

int bb_net_find_param(const bb_net *net, const char *name)
{
    for (int i = 0; i < net->nparams; i++)
        if (strcmp(net->params[i].name, name) == 0) return i;
    return -1;
}

int64_t bb_layer_macs(const bb_layer *l)
{
    const bb_conv2d *c = &l->op.conv;
    if (l->kind == BB_L_CONV) return c->cout * c->oh * c->ow * c->cin * c->kh * c->kw;
    if (l->kind == BB_L_LINEAR) return l->op.lin.in * l->op.lin.out;
    return 0;
}

int64_t bb_net_macs(const bb_net *net)
{
    int64_t macs = 0;
    for (int i = 0; i < net->nlayers; i++) macs += bb_layer_macs(&net->layers[i]);
    return macs;
}

void bb_net_init_params(const bb_net *net, uint64_t seed, int zero_gamma_last_bn,
                        float *params, float *state)
{
    for (int i = 0; i < net->nparams; i++) {
        const bb_param *p = &net->params[i];
        float *v = params + p->offset;
        bb_rng r = bb_rng_make(seed, BB_RNG_INIT, (uint64_t)i, 0);
        switch (p->kind) {
        case BB_PARAM_WEIGHT: {
            /* conv: He et al. 2015, std = sqrt(2 / fan_in); linear: N(0, 0.01) */
            double std = p->ndim == 4 ? sqrt(2.0 / (double)(p->shape[1] * p->shape[2] * p->shape[3])) : 0.01;
            for (int64_t j = 0; j < p->count; j++) v[j] = (float)(std * bb_rng_normal(&r));
            break;
        }
        case BB_PARAM_BIAS:
        case BB_PARAM_BN_BETA:
            memset(v, 0, (size_t)p->count * sizeof *v);
            break;
        case BB_PARAM_BN_GAMMA: {
            float g = zero_gamma_last_bn && net->layers[p->layer].last_bn ? 0.0f : 1.0f;
            for (int64_t j = 0; j < p->count; j++) v[j] = g;
            break;
        }
        }
    }
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        if (l->kind != BB_L_BN) continue;
        for (int64_t c = 0; c < l->op.bn.c; c++) {
            state[l->run_off + c] = 0.0f;
            state[l->run_off + l->op.bn.c + c] = 1.0f;
        }
    }
}
