/* Memory plan of an executor, made once at creation. Reference executors give
 * every tensor its own activation and gradient. Channels-last executors fold a
 * ReLU into the BN or add before it (the pre-ReLU tensor then has no memory)
 * and let gradients share buffers: in backward a tensor's gradient lives only
 * from its last reader's step (which zeroes it) to its producer's step (which
 * consumes it), so a ResNet needs a few gradient buffers, not one per tensor. */
#include "model/exec_internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t padded(int64_t floats) { return (floats + 15) & ~(int64_t)15; }

/* fuse[i] = 1: layer i (BN or add) also applies ReLU layer i + 1, which gets 2 */
static void plan_fusion(const bb_net *net, const int *readers, unsigned char *fuse)
{
    for (int i = 0; i + 1 < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i], *r = &net->layers[i + 1];
        if ((l->kind == BB_L_BN || l->kind == BB_L_ADD) && r->kind == BB_L_RELU && r->in[0] == l->out &&
            readers[l->out] == 1 && l->out != net->output && !fuse[i]) {
            fuse[i] = 1;
            fuse[i + 1] = 2;
        }
    }
}

/* Backward steps run from nlayers (the loss writes dlogits) down to 0.
 * Tensor t's gradient is live over steps [first_dead[t] + 1, born[t]]. */
static void plan_grads(const bb_net *net, int64_t n_max, const unsigned char *fuse, const int64_t *act_off,
                       int64_t *off, int64_t *total)
{
    int T = net->ntensors;
    int *born = malloc((size_t)T * sizeof *born), *dies = malloc((size_t)T * sizeof *dies);
    int64_t *cap = malloc((size_t)T * sizeof *cap);   /* buffer sizes (floats) */
    int *owner = malloc((size_t)T * sizeof *owner);   /* buffer -> tensor holding it, -1 free */
    int *buf_of = malloc((size_t)T * sizeof *buf_of);
    if (!born || !dies || !cap || !owner || !buf_of) {  /* no plan: every tensor its own buffer */
        *total = 0;
        for (int t = 0; t < T; t++) {
            off[t] = act_off[t] < 0 ? -1 : *total;
            if (act_off[t] >= 0) *total += padded(n_max * bb_tensor_len(net, t));
        }
        free(born); free(dies); free(cap); free(owner); free(buf_of);
        return;
    }
    for (int t = 0; t < T; t++) born[t] = dies[t] = -2;
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        if (fuse[i] == 2) continue;
        for (int j = 0; j < 2; j++)
            if (l->in[j] >= 0 && i > born[l->in[j]]) born[l->in[j]] = i;  /* zeroed by the last reader */
        int out = fuse[i] == 1 ? net->layers[i + 1].out : l->out;
        dies[out] = i;                                                   /* consumed by its producer */
    }
    born[net->output] = net->nlayers;
    dies[net->input] = -1;  /* the input's gradient is the caller's result: never shared */
    int nbuf = 0;
    for (int t = 0; t < T; t++) buf_of[t] = -1;
    for (int step = net->nlayers; step >= -1; step--) {
        for (int t = 0; t < T; t++) {
            if (born[t] != step || t == net->input || act_off[t] < 0) continue;
            int64_t need = padded(n_max * bb_tensor_len(net, t));
            int best = -1;
            for (int b = 0; b < nbuf; b++)  /* the smallest free buffer that fits, else the largest free one */
                if (owner[b] < 0 && (best < 0 || (cap[best] < need ? cap[b] > cap[best] : cap[b] >= need && cap[b] < cap[best])))
                    best = b;
            if (best < 0) { best = nbuf++; cap[best] = 0; }
            if (cap[best] < need) cap[best] = need;
            owner[best] = t;
            buf_of[t] = best;
        }
        for (int t = 0; t < T; t++)
            if (dies[t] == step && buf_of[t] >= 0) owner[buf_of[t]] = -1;
    }
    /* buffers, then tensors that keep their own: the input, and any never read */
    int64_t pos = 0;
    int64_t *start = malloc((size_t)(nbuf + 1) * sizeof *start);
    for (int b = 0; start && b < nbuf; b++) { start[b] = pos; pos += cap[b]; }
    for (int t = 0; t < T; t++) {
        if (act_off[t] < 0) { off[t] = -1; continue; }
        if (buf_of[t] >= 0 && start) { off[t] = start[buf_of[t]]; continue; }
        off[t] = pos;
        pos += padded(n_max * bb_tensor_len(net, t));
    }
    *total = pos;
    free(start); free(born); free(dies); free(cap); free(owner); free(buf_of);
}

bb_status bb_exec_plan(const bb_net *net, int64_t n_max, int channels_last, unsigned char *fuse,
                       int64_t *act_off, int64_t *grad_off, int64_t *act_total, int64_t *grad_total)
{
    int T = net->ntensors;
    int *readers = calloc((size_t)T, sizeof *readers);
    if (!readers) return BB_ERR_NOMEM;
    for (int i = 0; i < net->nlayers; i++)
        for (int j = 0; j < 2; j++)
            if (net->layers[i].in[j] >= 0 && !(j == 1 && net->layers[i].in[1] == net->layers[i].in[0]))
                readers[net->layers[i].in[j]]++;
    memset(fuse, 0, (size_t)net->nlayers + 1);
    if (channels_last) plan_fusion(net, readers, fuse);
    free(readers);
    *act_total = 0;
    for (int t = 0; t < T; t++) act_off[t] = -1;
    for (int t = 0; t < T; t++) {
        int skip = 0;
        for (int i = 0; i < net->nlayers; i++) skip |= fuse[i] == 1 && net->layers[i].out == t;
        if (skip) continue;
        act_off[t] = *act_total;
        *act_total += padded(n_max * bb_tensor_len(net, t));
    }
    if (!channels_last) {
        memcpy(grad_off, act_off, (size_t)T * sizeof *grad_off);
        *grad_total = *act_total;
        return BB_OK;
    }
    plan_grads(net, n_max, fuse, act_off, grad_off, grad_total);
    return BB_OK;
}
