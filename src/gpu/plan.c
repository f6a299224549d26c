/* Gradient slots, buckets and chunk sizes of the device engine (plan.h). */
#include "gpu/plan.h"

#include <stdlib.h>
#include <string.h>

static int64_t tensor_len(const bb_net *net, int t)
{
    const bb_dims *d = &net->tensors[t];
    return d->c * d->h * d->w;
}

int64_t bb_gplan_bn_parts(int64_t len, int64_t *part_len)
{
    int64_t parts = (len + BB_GPLAN_PART - 1) / BB_GPLAN_PART;
    if (parts < 1) parts = 1;
    if (part_len) *part_len = (len + parts - 1) / parts;
    return parts;
}

void bb_gplan_free(bb_gplan *p)
{
    bb_plan_free(&p->shared);
    free(p->slots);
    memset(p, 0, sizeof *p);
}

/* Gradient slots in backward order, a slot taken at a gradient's first writer
 * and given back at its producer; fails on a tensor nobody reads (its
 * gradient would have no first writer). */
static bb_status assign_slots(bb_gplan *p, const bb_net *net)
{
    int *slot_of = malloc((size_t)net->ntensors * sizeof *slot_of);
    int *free_slots = malloc(((size_t)net->ntensors + 1) * sizeof *free_slots);
    if (!slot_of || !free_slots) {
        free(slot_of);
        free(free_slots);
        return bb_fail(BB_ERR_NOMEM, "GPU plan: out of memory");
    }
    int nfree = 0;
    for (int t = 0; t < net->ntensors; t++) slot_of[t] = -1;
    p->nslots = 0;
#define TAKE() (nfree > 0 ? free_slots[--nfree] : p->nslots++)
    slot_of[net->output] = TAKE();
    bb_status s = BB_OK;
    for (int o = p->shared.nops - 1; o >= 0 && s == BB_OK; o--) {
        const bb_op *op = &p->shared.ops[o];
        bb_gslots *g = &p->slots[o];
        if (slot_of[op->out] < 0) {
            s = bb_fail(BB_ERR_INVALID, "GPU plan: the output of layer %s (tensor %d) is never read",
                        net->layers[op->last_layer].name, op->out);
            break;
        }
        g->out = slot_of[op->out];
        for (int j = 0; j < 2; j++) {
            int t = op->in[j];
            g->in[j] = -1;
            if (t < 0 || (t == net->input && !p->want_input_grad)) continue;
            if (op->first_write[j]) slot_of[t] = TAKE();
            g->in[j] = slot_of[t];
        }
        /* out's gradient is dead once its producer is done */
        free_slots[nfree++] = slot_of[op->out];
        slot_of[op->out] = -1;
    }
#undef TAKE
    free(slot_of);
    free(free_slots);
    return s;
}

bb_status bb_gplan_build(bb_gplan *p, const bb_net *net, int want_input_grad)
{
    memset(p, 0, sizeof *p);
    if (!net->finalized) return bb_fail(BB_ERR_INVALID, "GPU plan: network is not finalized");
    p->net = net;
    p->want_input_grad = want_input_grad;
    BB_TRY(bb_plan_build(&p->shared, net, BB_FUSE_DEVICE));
    const bb_plan *pl = &p->shared;
    p->slots = calloc((size_t)pl->nops + 1, sizeof *p->slots);
    if (!p->slots) {
        bb_gplan_free(p);
        return bb_fail(BB_ERR_NOMEM, "GPU plan: out of memory");
    }
    for (int t = 0; t < net->ntensors; t++) {
        if (!pl->stored[t]) continue;
        int64_t len = tensor_len(net, t);
        if (len > p->max_len) p->max_len = len;
        if (t != net->input) p->act_per_sample += (len + 15) & ~(int64_t)15;
    }
    for (int o = 0; o < pl->nops; o++) {
        const bb_op *op = &pl->ops[o];
        if (op->kind == BB_L_MAXPOOL) p->argmax_per_sample += tensor_len(net, op->out);
        if (op->kind == BB_L_BN) {
            int64_t c = net->layers[op->layer].op.bn.c;
            p->bn_cells += c;
            if (c > p->bn_max_c) p->bn_max_c = c;
        }
    }
    bb_status s = assign_slots(p, net);
    if (s != BB_OK) bb_gplan_free(p);
    return s;
}

int64_t bb_gplan_bn_partial_cells(const bb_gplan *p, int64_t n)
{
    const bb_net *net = p->net;
    int64_t most = 0;
    for (int o = 0; o < p->shared.nops; o++) {
        if (p->shared.ops[o].kind != BB_L_BN) continue;
        const bb_bn *b = &net->layers[p->shared.ops[o].layer].op.bn;
        int64_t cells = b->c * bb_gplan_bn_parts(n * b->hw, NULL);
        if (cells > most) most = cells;
    }
    return most;
}

int64_t bb_gplan_worker_bytes(const bb_gplan *p, int64_t n)
{
    int64_t floats = n * (p->act_per_sample + (int64_t)p->nslots * p->max_len);
    int64_t bytes = 4 * floats + 4 * n * p->argmax_per_sample;
    bytes += 4 * 2 * p->bn_cells + 4 * 4 * p->bn_max_c;  /* saved mean / invstd, coefficients */
    bytes += 16 * bb_gplan_bn_partial_cells(p, n);        /* reduction partials (double pairs) */
    return bytes + 256 * (int64_t)p->shared.nops;           /* allocation padding */
}

int64_t bb_gplan_chunk_workers(const bb_gplan *p, int64_t n, int64_t local, int64_t budget_bytes, int64_t cap)
{
    int64_t per = bb_gplan_worker_bytes(p, n);
    int64_t m = per > 0 ? budget_bytes / per : local;
    if (m > local) m = local;
    if (cap > 0 && m > cap) m = cap;
    int64_t lim = p->max_len > 0 ? ((int64_t)2147483647 / (n * p->max_len)) : m;
    if (m > lim) m = lim;
    return m > 0 ? m : 0;
}

int bb_gplan_buckets(const bb_net *net, int64_t floats, bb_gbucket *out)
{
    int nb = 0;
    if (net->stat_count > 0) out[nb++] = (bb_gbucket){net->param_count, net->param_count + net->stat_count};
    int64_t hi = net->param_count, acc = 0;
    for (int i = net->nparams - 1; i >= 0; i--) {
        acc += net->params[i].count;
        if (acc >= floats || i == 0) {
            out[nb++] = (bb_gbucket){net->params[i].offset, hi};
            hi = net->params[i].offset;
            acc = 0;
        }
    }
    return nb;
}
