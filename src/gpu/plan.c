/* Fusion, gradient-slot liveness, readiness, buckets and chunk sizes (plan.h). */
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
    free(p->ops);
    free(p->mat);
    memset(p, 0, sizeof *p);
}

/* Fusion groups: for each BN layer the layers it absorbs. emit[i] = the BN
 * layer whose fused op runs at layer i, absorbed[i] = 1 for layers that run
 * inside another op. */
static void find_groups(const bb_net *net, const int *readers, const int *reader, int *emit, unsigned char *absorbed,
                        int *fused_in1, int *fused_out, int *fused_relu)
{
    for (int i = 0; i < net->nlayers; i++) emit[i] = -1;
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        fused_in1[i] = -1;
        fused_out[i] = l->out;
        fused_relu[i] = 0;
        if (l->kind != BB_L_BN) continue;
        int last = i, t = l->out;
        if (readers[t] == 1) {
            int j = reader[t];
            const bb_layer *lj = &net->layers[j];
            if (lj->kind == BB_L_RELU) {
                fused_relu[i] = 1;
                fused_out[i] = lj->out;
                absorbed[j] = 1;
                last = j;
            } else if (lj->kind == BB_L_ADD && lj->in[0] != lj->in[1] && !absorbed[j] &&
                       (lj->in[0] == t ? lj->in[1] : lj->in[0]) != l->in[0]) {
                /* an add of two BN outputs fuses with the first BN; the other stays alone
                 * (and bn(x) + x stays unfused: one gradient, two first writers) */
                fused_in1[i] = lj->in[0] == t ? lj->in[1] : lj->in[0];
                fused_out[i] = lj->out;
                absorbed[j] = 1;
                last = j;
                int ta = lj->out;
                if (readers[ta] == 1 && net->layers[reader[ta]].kind == BB_L_RELU) {
                    int r = reader[ta];
                    fused_relu[i] = 1;
                    fused_out[i] = net->layers[r].out;
                    absorbed[r] = 1;
                    last = r;
                }
            }
        }
        emit[last] = i;
        if (last != i) absorbed[i] = 1;
    }
}

/* Gradient slots in backward order; fails on a tensor nobody reads (its
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
    for (int o = p->nops - 1; o >= 0 && s == BB_OK; o--) {
        bb_gop *op = &p->ops[o];
        if (slot_of[op->out] < 0) {
            s = bb_fail(BB_ERR_INVALID, "GPU plan: the output of layer %s (tensor %d) is never read",
                        net->layers[op->last_layer].name, op->out);
            break;
        }
        op->grad_out = slot_of[op->out];
        for (int j = 0; j < 2; j++) {
            int t = op->in[j];
            op->grad_in[j] = -1;
            op->set_in[j] = 0;
            if (t < 0 || (t == net->input && !p->want_input_grad)) continue;
            if (slot_of[t] < 0) {
                slot_of[t] = TAKE();
                op->set_in[j] = 1;
            }
            op->grad_in[j] = slot_of[t];
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

/* ready_lo of every op: parameters are laid out in layer order, so "all
 * offsets >= x final" advances downwards as the trailing parameters finish. */
static bb_status readiness(bb_gplan *p, const bb_net *net)
{
    unsigned char *done = calloc((size_t)net->nparams + 1, 1);
    if (!done) return bb_fail(BB_ERR_NOMEM, "GPU plan: out of memory");
    int k = net->nparams;
    for (int o = p->nops - 1; o >= 0; o--) {
        const bb_layer *l = &net->layers[p->ops[o].layer];
        for (int j = 0; j < l->nparam; j++) done[l->param0 + j] = 1;
        while (k > 0 && done[k - 1]) k--;
        p->ops[o].ready_lo = k == net->nparams ? net->param_count : net->params[k].offset;
    }
    free(done);
    return BB_OK;
}

bb_status bb_gplan_build(bb_gplan *p, const bb_net *net, int want_input_grad)
{
    memset(p, 0, sizeof *p);
    if (!net->finalized) return bb_fail(BB_ERR_INVALID, "GPU plan: network is not finalized");
    p->net = net;
    p->want_input_grad = want_input_grad;
    p->ntensors = net->ntensors;
    int L = net->nlayers, T = net->ntensors;
    int *readers = calloc((size_t)T, sizeof *readers), *reader = calloc((size_t)T, sizeof *reader);
    int *emit = calloc((size_t)L, sizeof *emit), *in1 = calloc((size_t)L, sizeof *in1);
    int *fout = calloc((size_t)L, sizeof *fout), *frelu = calloc((size_t)L, sizeof *frelu);
    unsigned char *absorbed = calloc((size_t)L, 1);
    p->ops = calloc((size_t)L, sizeof *p->ops);
    p->mat = calloc((size_t)T, 1);
    bb_status s = BB_OK;
    if (!readers || !reader || !emit || !in1 || !fout || !frelu || !absorbed || !p->ops || !p->mat)
        s = bb_fail(BB_ERR_NOMEM, "GPU plan: out of memory");
    for (int i = 0; s == BB_OK && i < L; i++)
        for (int j = 0; j < 2; j++) {
            int t = net->layers[i].in[j];
            if (t < 0) continue;
            readers[t]++;
            reader[t] = i;
        }
    if (s == BB_OK) find_groups(net, readers, reader, emit, absorbed, in1, fout, frelu);
    for (int i = 0; s == BB_OK && i < L; i++) {
        const bb_layer *l = &net->layers[i];
        int b = emit[i];
        if (absorbed[i] && b < 0) continue;
        bb_gop *op = &p->ops[p->nops++];
        if (b >= 0) {  /* a BN, possibly with the layers it absorbed ending here */
            const bb_layer *bn = &net->layers[b];
            op->kind = BB_L_BN;
            op->layer = b;
            op->in[0] = bn->in[0];
            op->in[1] = in1[b];
            op->out = fout[b];
            op->relu = frelu[b];
        } else {
            op->kind = l->kind;
            op->layer = i;
            op->in[0] = l->in[0];
            op->in[1] = l->kind == BB_L_ADD ? l->in[1] : -1;
            op->out = l->out;
        }
        op->last_layer = i;
    }
    if (s == BB_OK) {
        p->mat[net->input] = 1;
        for (int o = 0; o < p->nops; o++) p->mat[p->ops[o].out] = 1;
        for (int t = 0; t < T; t++) {
            if (!p->mat[t]) continue;
            int64_t len = tensor_len(net, t);
            if (len > p->max_len) p->max_len = len;
            if (t != net->input) p->act_per_sample += (len + 15) & ~(int64_t)15;
        }
        for (int o = 0; o < p->nops; o++) {
            const bb_gop *op = &p->ops[o];
            const bb_layer *l = &net->layers[op->layer];
            if (op->kind == BB_L_MAXPOOL) p->argmax_per_sample += tensor_len(net, op->out);
            if (op->kind == BB_L_BN) {
                int64_t c = l->op.bn.c;
                p->bn_cells += c;
                if (c > p->bn_max_c) p->bn_max_c = c;
            }
        }
        s = assign_slots(p, net);
    }
    if (s == BB_OK) s = readiness(p, net);
    free(readers); free(reader); free(emit); free(in1); free(fout); free(frelu); free(absorbed);
    if (s != BB_OK) bb_gplan_free(p);
    return s;
}

int64_t bb_gplan_bn_partial_cells(const bb_gplan *p, int64_t n)
{
    const bb_net *net = p->net;
    int64_t most = 0;
    for (int o = 0; o < p->nops; o++) {
        if (p->ops[o].kind != BB_L_BN) continue;
        const bb_bn *b = &net->layers[p->ops[o].layer].op.bn;
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
    return bytes + 256 * (int64_t)p->nops;                /* allocation padding */
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
