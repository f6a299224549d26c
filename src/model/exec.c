/* Executor buffers and the forward/backward passes over one logical worker's
 * batch. All memory is sized once in bb_exec_create; the passes never allocate. */
#include "model/net.h"

#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static int64_t tensor_len(const bb_net *net, int t)
{
    const bb_dims *d = &net->tensors[t];
    return d->c * d->h * d->w;
}

bb_status bb_exec_create(bb_exec *ex, const bb_net *net, int64_t n_max)
{
    memset(ex, 0, sizeof *ex);
    if (!net->finalized) return bb_fail(BB_ERR_INVALID, "executor: network is not finalized");
    if (n_max < 1) return bb_fail(BB_ERR_INVALID, "executor: batch must be >= 1, got %lld", (long long)n_max);
    ex->net = net;
    ex->n_max = n_max;
    int64_t total = 0;
    for (int t = 0; t < net->ntensors; t++) total += (n_max * tensor_len(net, t) + 15) & ~(int64_t)15;
    size_t ws = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == BB_L_CONV) {
            size_t w = bb_conv2d_workspace(&net->layers[i].op.conv);
            if (w > ws) ws = w;
        }
    ex->act = calloc((size_t)net->ntensors, sizeof *ex->act);
    ex->grad = calloc((size_t)net->ntensors, sizeof *ex->grad);
    ex->act_buf = bb_alloc((size_t)total * sizeof(float));
    ex->grad_buf = bb_alloc((size_t)total * sizeof(float));
    ex->save = bb_alloc((size_t)(net->save_fixed + n_max * net->save_per_sample) + 64);
    ex->ws = bb_alloc(ws * sizeof(float) + 64);
    ex->labels = bb_alloc((size_t)n_max * sizeof(int32_t));
    if (!ex->act || !ex->grad || !ex->act_buf || !ex->grad_buf || !ex->save || !ex->ws || !ex->labels) {
        bb_exec_destroy(ex);
        return bb_fail(BB_ERR_NOMEM, "executor: cannot allocate %.1f MiB of activations for batch %lld",
                       2.0 * (double)total * 4 / 1048576.0, (long long)n_max);
    }
    int64_t off = 0;
    for (int t = 0; t < net->ntensors; t++) {
        ex->act[t] = ex->act_buf + off;
        ex->grad[t] = ex->grad_buf + off;
        off += (n_max * tensor_len(net, t) + 15) & ~(int64_t)15;
    }
    return BB_OK;
}

void bb_exec_destroy(bb_exec *ex)
{
    free(ex->act);
    free(ex->grad);
    bb_free(ex->act_buf);
    bb_free(ex->grad_buf);
    bb_free(ex->save);
    bb_free(ex->ws);
    bb_free(ex->labels);
    memset(ex, 0, sizeof *ex);
}

static void *saved(const bb_exec *ex, const bb_layer *l)
{
    if (l->save_per_sample) return ex->save + ex->net->save_fixed + l->save_ps_off * ex->n_max;
    return ex->save + l->save_off;
}

void bb_net_forward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                    const float *state, int train, float *stats)
{
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        const float *x = ex->act[l->in[0]];
        float *y = ex->act[l->out];
        const float *p0 = l->nparam > 0 ? params + net->params[l->param0].offset : NULL;
        const float *p1 = l->nparam > 1 ? params + net->params[l->param0 + 1].offset : NULL;
        switch (l->kind) {
        case BB_L_CONV: bb_conv2d_forward(&l->op.conv, n, x, p0, y, ex->ws); break;
        case BB_L_BN:
            if (train)
                bb_bn_forward_train(&l->op.bn, n, x, p0, p1, y, saved(ex, l), stats ? stats + l->stat_off : NULL);
            else
                bb_bn_forward_eval(&l->op.bn, n, x, p0, p1, state + l->run_off,
                                   state + l->run_off + l->op.bn.c, y);
            break;
        case BB_L_RELU: bb_relu_forward(n * tensor_len(net, l->out), x, y); break;
        case BB_L_ADD: bb_add_forward(n * tensor_len(net, l->out), x, ex->act[l->in[1]], y); break;
        case BB_L_MAXPOOL: bb_maxpool_forward(&l->op.mp, n, x, y, saved(ex, l)); break;
        case BB_L_AVGPOOL: {
            const bb_dims *d = &net->tensors[l->in[0]];
            bb_avgpool_forward(n, d->c, d->h * d->w, x, y);
            break;
        }
        case BB_L_LINEAR: bb_linear_forward(&l->op.lin, n, x, p0, p1, y); break;
        case BB_L_PADSHORT: bb_padshort_forward(&l->op.ps, n, x, y); break;
        }
    }
}

void bb_net_backward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                     float *grad, bb_grad_ready_fn ready, void *ready_arg)
{
    for (int i = net->nlayers - 1; i >= 0; i--) {
        const bb_layer *l = &net->layers[i];
        float *dx[2] = {NULL, NULL};
        for (int j = 0; j < 2; j++) {
            int t = l->in[j];
            if (t < 0 || (t == net->input && !ex->want_input_grad)) continue;
            dx[j] = ex->grad[t];
            if (l->zero_dx_of[j]) memset(dx[j], 0, (size_t)(n * tensor_len(net, t)) * sizeof(float));
        }
        const float *x = ex->act[l->in[0]], *y = ex->act[l->out], *dy = ex->grad[l->out];
        const float *p0 = l->nparam > 0 ? params + net->params[l->param0].offset : NULL;
        float *g0 = l->nparam > 0 ? grad + net->params[l->param0].offset : NULL;
        float *g1 = l->nparam > 1 ? grad + net->params[l->param0 + 1].offset : NULL;
        switch (l->kind) {
        case BB_L_CONV: bb_conv2d_backward(&l->op.conv, n, x, p0, dy, dx[0], g0, ex->ws); break;
        case BB_L_BN: bb_bn_backward(&l->op.bn, n, x, p0, saved(ex, l), dy, dx[0], g0, g1); break;
        case BB_L_RELU: if (dx[0]) bb_relu_backward(n * tensor_len(net, l->out), y, dy, dx[0]); break;
        case BB_L_ADD: bb_add_backward(n * tensor_len(net, l->out), dy, dx[0], dx[1]); break;
        case BB_L_MAXPOOL: if (dx[0]) bb_maxpool_backward(&l->op.mp, n, saved(ex, l), dy, dx[0]); break;
        case BB_L_AVGPOOL: {
            const bb_dims *d = &net->tensors[l->in[0]];
            if (dx[0]) bb_avgpool_backward(n, d->c, d->h * d->w, dy, dx[0]);
            break;
        }
        case BB_L_LINEAR: bb_linear_backward(&l->op.lin, n, x, p0, dy, dx[0], g0, g1); break;
        case BB_L_PADSHORT: if (dx[0]) bb_padshort_backward(&l->op.ps, n, dy, dx[0]); break;
        }
        if (ready && l->nparam > 0) ready(ready_arg, net->params[l->param0].offset);
    }
}
