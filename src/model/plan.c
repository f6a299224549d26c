/* Fusion, first gradient writers and readiness of a network (plan.h). */
#include "model/plan.h"
#include "ops/nhwc.h"

#include <stdlib.h>
#include <string.h>

void bb_plan_free(bb_plan *p)
{
    free(p->ops);
    free(p->stored);
    free(p->applied);
    memset(p, 0, sizeof *p);
}

/* the layer of kind `kind` that is tensor t's only reader (and t not the
 * network's output, which the caller reads), else -1 */
static int only_reader(const bb_net *net, const int *readers, const int *reader, int t, bb_layer_kind kind)
{
    if (t == net->output || readers[t] != 1 || net->layers[reader[t]].kind != kind) return -1;
    return reader[t];
}

/* The operation headed by layer i, absorbing the layers after it that the
 * fusions allow (marked in absorbed); returns the last layer it covers. */
static int group(const bb_net *net, unsigned fusions, const int *readers, const int *reader, int i,
                 unsigned char *absorbed, bb_op *op)
{
    const bb_layer *l = &net->layers[i];
    memset(op, 0, sizeof *op);
    op->kind = l->kind;
    op->layer = i;
    op->in[0] = l->in[0];
    op->in[1] = l->kind == BB_L_ADD ? l->in[1] : -1;
    op->out = l->out;
    op->applies = -1;
    int last = i;
    if (l->kind == BB_L_BN && (fusions & BB_FUSE_BN_ADD)) {
        int j = only_reader(net, readers, reader, l->out, BB_L_ADD);
        const bb_layer *a = j >= 0 ? &net->layers[j] : NULL;
        int s = a ? (a->in[0] == l->out ? a->in[1] : a->in[0]) : -1;
        /* an add of two BN outputs fuses with the first BN, the other stays
         * alone; bn(x) + x stays unfused (one gradient, two first writers) */
        if (a && !absorbed[j] && s != l->in[0]) {
            op->in[1] = s;
            op->out = a->out;
            absorbed[j] = 1;
            last = j;
        }
    }
    unsigned relu_bit = l->kind == BB_L_BN ? BB_FUSE_BN_RELU : l->kind == BB_L_ADD ? BB_FUSE_ADD_RELU : 0;
    if (fusions & relu_bit) {
        int r = only_reader(net, readers, reader, op->out, BB_L_RELU);
        if (r >= 0) {
            op->relu = 1;
            op->out = net->layers[r].out;
            absorbed[r] = 1;
            if (r > last) last = r;
        }
    }
    op->last_layer = last;
    return last;
}

/* BN_CONV: a BN without residual whose output's only reader is a
 * convolution that copies its input leaves applying it to that convolution */
static void defer_to_convs(bb_plan *p, const bb_net *net, const int *readers, const int *reader)
{
    for (int o = 0; o < p->nops; o++) {
        bb_op *bn = &p->ops[o];
        if (bn->kind != BB_L_BN || bn->in[1] >= 0) continue;
        int c = only_reader(net, readers, reader, bn->out, BB_L_CONV);
        if (c < 0 || !bb_conv2d_nhwc_copies_input(&net->layers[c].op.conv)) continue;
        for (int k = o + 1; k < p->nops; k++)
            if (p->ops[k].layer == c) {
                p->ops[k].applies = o;
                bn->deferred = 1;
                p->applied[bn->out] = 1;
            }
    }
}

/* first_write of every op: in backward order, the first op to read a tensor
 * (the loss writes the output's gradient) */
static void first_writers(bb_plan *p, const bb_net *net, unsigned char *written)
{
    written[net->output] = 1;
    for (int o = p->nops - 1; o >= 0; o--)
        for (int j = 0; j < 2; j++) {
            int t = p->ops[o].in[j];
            p->ops[o].first_write[j] = t >= 0 && !written[t];
            if (t >= 0) written[t] = 1;
        }
}

/* ready_lo of every op: parameters are laid out in layer order, so "all
 * offsets >= x final" advances downwards as the trailing parameters finish. */
static void readiness(bb_plan *p, const bb_net *net, unsigned char *done)
{
    int k = net->nparams;
    for (int o = p->nops - 1; o >= 0; o--) {
        const bb_layer *l = &net->layers[p->ops[o].layer];
        for (int j = 0; j < l->nparam; j++) done[l->param0 + j] = 1;
        while (k > 0 && done[k - 1]) k--;
        p->ops[o].ready_lo = k == net->nparams ? net->param_count : net->params[k].offset;
    }
}

bb_status bb_plan_build(bb_plan *p, const bb_net *net, unsigned fusions)
{
    memset(p, 0, sizeof *p);
    if (!net->finalized) return bb_fail(BB_ERR_INVALID, "plan: network is not finalized");
    int L = net->nlayers, T = net->ntensors;
    int *readers = calloc((size_t)T, sizeof *readers), *reader = calloc((size_t)T, sizeof *reader);
    int *emit = malloc(((size_t)L + 1) * sizeof *emit);
    bb_op *heads = calloc((size_t)L + 1, sizeof *heads);
    size_t nmark = (size_t)(T > net->nparams ? T : net->nparams) + 1;  /* tensors, then parameters */
    unsigned char *absorbed = calloc((size_t)L + 1, 1), *mark = calloc(nmark, 1);
    p->ops = calloc((size_t)L + 1, sizeof *p->ops);
    p->stored = calloc((size_t)T, 1);
    p->applied = calloc((size_t)T, 1);
    if (!readers || !reader || !emit || !heads || !absorbed || !mark || !p->ops || !p->stored || !p->applied) {
        free(readers); free(reader); free(emit); free(heads); free(absorbed); free(mark);
        bb_plan_free(p);
        return bb_fail(BB_ERR_NOMEM, "plan: out of memory");
    }
    for (int i = 0; i < L; i++)
        for (int j = 0; j < 2; j++) {
            int t = net->layers[i].in[j];
            if (t < 0) continue;
            readers[t]++;
            reader[t] = i;
        }
    /* each operation runs in the place of the last layer it covers */
    for (int i = 0; i < L; i++) emit[i] = -1;
    for (int i = 0; i < L; i++)
        if (!absorbed[i]) emit[group(net, fusions, readers, reader, i, absorbed, &heads[i])] = i;
    for (int i = 0; i < L; i++)
        if (emit[i] >= 0) p->ops[p->nops++] = heads[emit[i]];
    p->stored[net->input] = 1;
    for (int o = 0; o < p->nops; o++) p->stored[p->ops[o].out] = 1;
    if (fusions & BB_FUSE_BN_CONV) defer_to_convs(p, net, readers, reader);
    first_writers(p, net, mark);
    memset(mark, 0, nmark);
    readiness(p, net, mark);
    free(readers); free(reader); free(emit); free(heads); free(absorbed); free(mark);
    return BB_OK;
}
