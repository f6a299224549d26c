/* Memory plan of an executor, made once at creation. Reference executors give
 * every tensor its own activation and gradient. Channels-last executors fold a
 * ReLU into the BN or add before it (the pre-ReLU tensor then has no memory)
 * and plan activations and gradients together by liveness over one training
 * step: an activation lives from its producer's forward to its last reader,
 * in forward or in backward (conv and linear read their input, BN its input
 * and a fused ReLU's output, the residual add + ReLU its output); a gradient
 * from its last reader's backward step (which zeroes or stores it) to its
 * producer's (which consumes it). Tensors whose lives do not overlap share a
 * buffer, so gradients reuse activations that backward no longer needs. */
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

/* A step's times: forward of layer i at i, the loss at L (= nlayers), backward
 * of layer i at 2L - i; the caller's input before (-1), its reads of the
 * results after (2L + 1). Item j lives over [start[j], end[j]], both ends
 * included; shared < 0 marks items with memory of their own. */
typedef struct { int start, end; int64_t size; int own; } life;

static void lengthen(life *v, int time)
{
    if (time > v->end) v->end = time;
}

/* the activation and gradient lives: items t (activation of tensor t) and T + t (its gradient) */
static void plan_lives(const bb_net *net, int64_t n_max, const unsigned char *fuse, const int64_t *has_act, life *v)
{
    int T = net->ntensors, L = net->nlayers;
    for (int t = 0; t < 2 * T; t++) {
        v[t].start = v[t].end = -2;  /* -2: no memory */
        v[t].size = 0;
        v[t].own = 0;
    }
    for (int t = 0; t < T; t++) {
        if (has_act[t] < 0) continue;
        v[t].size = v[T + t].size = padded(n_max * bb_tensor_len(net, t));
    }
    for (int i = 0; i < L; i++) {
        const bb_layer *l = &net->layers[i];
        if (fuse[i] == 2) continue;
        int out = fuse[i] == 1 ? net->layers[i + 1].out : l->out, back = 2 * L - i;
        v[out].start = v[out].end = i;
        v[T + out].end = back;                                       /* consumed by its producer */
        for (int j = 0; j < 2; j++) {
            int t = l->in[j];
            if (t < 0) continue;
            lengthen(&v[t], i);
            if (v[T + t].start < 0 || back < v[T + t].start) v[T + t].start = back;  /* its last reader */
        }
        int keeps_in = l->kind == BB_L_CONV || l->kind == BB_L_BN || l->kind == BB_L_LINEAR;
        int keeps_out = (l->kind == BB_L_BN && fuse[i] == 1) || (l->kind == BB_L_ADD && fuse[i] == 1) ||
                        l->kind == BB_L_RELU;
        if (keeps_in) lengthen(&v[l->in[0]], back);
        if (keeps_out) lengthen(&v[out], back);
    }
    v[net->output].end = 2 * L + 1;     /* the caller reads the logits */
    v[T + net->output].start = L;       /* the loss writes their gradient */
    v[net->input].own = 1;              /* the caller's input and its gradient */
    v[T + net->input].own = 1;
    for (int t = 0; t < 2 * T; t++)
        if (v[t].size > 0 && (v[t].start < -1 || v[t].end < v[t].start)) v[t].own = 1;  /* never read: its own */
}

/* the smallest free buffer that fits, else the largest free one; among those of kind k when any is free */
static int pick(const int64_t *cap, const int *busy, const int *kind, int nbuf, int64_t need, int k)
{
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++)
        for (int b = 0; b < nbuf; b++)
            if (!busy[b] && (pass || kind[b] == k) &&
                (best < 0 || (cap[best] < need ? cap[b] > cap[best] : cap[b] >= need && cap[b] < cap[best])))
                best = b;
    return best;
}

/* Buffers by a sweep over time: at each time the items starting then take a
 * free buffer (pick; gradients prefer buffers gradients held, which keeps them
 * in a few), growing it if needed, then the items ending then free theirs.
 * Items [0, n_act) are activations, the rest gradients. Returns the total;
 * off[j] = -1 without memory. */
static int64_t plan_buffers(const life *v, int n, int n_act, int t_first, int t_last, int64_t *off)
{
    int64_t *cap = malloc((size_t)n * sizeof *cap), *start = malloc((size_t)(n + 1) * sizeof *start);
    int *busy = malloc((size_t)n * sizeof *busy), *buf_of = malloc((size_t)n * sizeof *buf_of);
    int *kind = malloc((size_t)n * sizeof *kind);
    int64_t pos = 0;
    if (!cap || !start || !busy || !buf_of || !kind) {  /* no plan: every item its own memory */
        for (int j = 0; j < n; j++) {
            off[j] = v[j].size > 0 ? pos : -1;
            pos += v[j].size;
        }
        free(cap); free(start); free(busy); free(buf_of); free(kind);
        return pos;
    }
    int nbuf = 0;
    for (int j = 0; j < n; j++) buf_of[j] = -1;
    for (int time = t_first; time <= t_last; time++) {
        for (int j = 0; j < n; j++) {
            if (v[j].start != time || v[j].size <= 0 || v[j].own) continue;
            int64_t need = v[j].size;
            int best = pick(cap, busy, kind, nbuf, need, j >= n_act);
            if (best < 0) { best = nbuf++; cap[best] = 0; }
            if (cap[best] < need) cap[best] = need;
            busy[best] = 1;
            kind[best] = j >= n_act;
            buf_of[j] = best;
        }
        for (int j = 0; j < n; j++)
            if (v[j].end == time && buf_of[j] >= 0) busy[buf_of[j]] = 0;
    }
    for (int b = 0; b < nbuf; b++) { start[b] = pos; pos += cap[b]; }
    for (int j = 0; j < n; j++) {
        if (v[j].size <= 0) { off[j] = -1; continue; }
        if (buf_of[j] >= 0) { off[j] = start[buf_of[j]]; continue; }
        off[j] = pos;
        pos += v[j].size;
    }
    free(cap); free(start); free(busy); free(buf_of); free(kind);
    return pos;
}

bb_status bb_exec_plan(const bb_net *net, int64_t n_max, int channels_last, unsigned char *fuse,
                       int64_t *act_off, int64_t *grad_off, int64_t *total)
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
    int64_t acts = 0;
    for (int t = 0; t < T; t++) act_off[t] = -1;
    for (int t = 0; t < T; t++) {
        int skip = 0;
        for (int i = 0; i < net->nlayers; i++) skip |= fuse[i] == 1 && net->layers[i].out == t;
        if (skip) continue;
        act_off[t] = acts;
        acts += padded(n_max * bb_tensor_len(net, t));
    }
    if (!channels_last) {  /* gradients after the activations, one each */
        for (int t = 0; t < T; t++) grad_off[t] = act_off[t] < 0 ? -1 : acts + act_off[t];
        *total = 2 * acts;
        return BB_OK;
    }
    life *v = malloc(2 * (size_t)T * sizeof *v);
    int64_t *off = malloc(2 * (size_t)T * sizeof *off);
    if (!v || !off) {
        free(v);
        free(off);
        return BB_ERR_NOMEM;
    }
    plan_lives(net, n_max, fuse, act_off, v);
    *total = plan_buffers(v, 2 * T, T, -1, 2 * net->nlayers + 1, off);
    memcpy(act_off, off, (size_t)T * sizeof *off);
    memcpy(grad_off, off + T, (size_t)T * sizeof *off);
    free(v);
    free(off);
    return BB_OK;
}
