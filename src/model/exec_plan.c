/* Memory plan of an executor, made once at creation, for the operations of
 * the shared plan (model/plan.h). Reference executors give every tensor its
 * own activation and gradient. Channels-last executors, where a ReLU fused
 * into the BN or add before it leaves the pre-ReLU tensor without memory,
 * plan activations and gradients together by liveness over one training
 * step: an activation lives from its producer's forward to its last reader,
 * in forward or in backward (the layer kinds whose backward reads their input
 * or output, bb_layer_kinds; a fused ReLU reads its output, except after a
 * BN without residual, which recomputes the mask from x; a convolution that
 * applies the BN before it reads that BN's input, and the BN's output has no
 * memory); a gradient from its first writer's backward step to its
 * producer's (which consumes it). A BN that writes its input's gradient
 * first writes it in place of its output's, which dies there: its passes
 * are element by element, and the buffer they read is the one they write,
 * already in cache, not another tensor's worth of lines fetched to be
 * overwritten.
 * Gradients share a few buffers; those and the activations are then placed
 * in one arena, largest first, each at the lowest offset free of everything
 * live at the same time, so gradients reuse activations that backward is
 * done with. */
#include "model/exec_internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t padded(int64_t floats) { return (floats + 15) & ~(int64_t)15; }

/* A step's times: forward of op o at o, the loss at L (= nops), backward
 * of op o at 2L - o; the caller's input before (-1), its reads of the
 * results after (2L + 1). Item j lives over [start[j], end[j]], both ends
 * included; own marks items with memory of their own; from: the item whose
 * buffer it takes as it starts, when that one ends then (-1: none). */
typedef struct { int start, end; int64_t size; int own, from; } life;

static void lengthen(life *v, int time)
{
    if (time > v->end) v->end = time;
}

/* the activation and gradient lives: items t (activation of tensor t) and T + t (its gradient) */
static void plan_lives(const bb_net *net, const bb_plan *p, int64_t n_max, life *v)
{
    int T = net->ntensors, L = p->nops;
    for (int t = 0; t < 2 * T; t++) {
        v[t].start = v[t].end = -2;  /* -2: no memory */
        v[t].size = 0;
        v[t].own = 0;
        v[t].from = -1;
    }
    for (int t = 0; t < T; t++) {
        if (!p->stored[t]) continue;
        v[T + t].size = padded(n_max * bb_tensor_len(net, t));
        v[t].size = p->applied[t] ? 0 : v[T + t].size;
    }
    for (int o = 0; o < L; o++) {
        const bb_op *op = &p->ops[o];
        int out = op->out, back = 2 * L - o;
        v[out].start = v[out].end = o;
        v[T + out].end = back;                                       /* consumed by its producer */
        for (int j = 0; j < 2; j++) {
            int t = op->in[j];
            if (t < 0) continue;
            lengthen(&v[t], o);
            if (op->first_write[j]) v[T + t].start = back;          /* its first writer */
        }
        if (op->kind == BB_L_BN && op->in[0] >= 0 && op->first_write[0] && v[T + op->in[0]].size == v[T + out].size)
            v[T + op->in[0]].from = T + out;                         /* in place */
        if (bb_layer_kinds[op->kind].bwd_reads_x) lengthen(&v[op->in[0]], back);
        if (op->applies >= 0) lengthen(&v[p->ops[op->applies].in[0]], back);  /* it reads the BN's input */
        if (bb_layer_kinds[op->kind].bwd_reads_y || (op->relu && op->in[1] >= 0)) lengthen(&v[out], back);
    }
    v[net->output].end = 2 * L + 1;     /* the caller reads the logits */
    v[T + net->output].start = L;       /* the loss writes their gradient */
    v[net->input].own = 1;              /* the caller's input and its gradient */
    v[T + net->input].own = 1;
    for (int t = 0; t < 2 * T; t++)
        if (v[t].size > 0 && (v[t].start < -1 || v[t].end < v[t].start)) v[t].own = 1;  /* never read: its own */
}

/* Gradients share a few buffers, by a sweep over time: at each time the
 * gradients starting then take their `from` item's buffer, or else the
 * smallest free buffer that fits (else the largest free one, grown), then
 * those ending leave theirs (free when no item holds it: busy counts them).
 * group[j] is item j's buffer (activations: one each; -1: memory of its own
 * or none); returns the count, with their sizes in gsize. */
static int group_items(const life *v, int n, int n_act, int t_first, int t_last, int *group, int64_t *gsize,
                       int *busy)
{
    int ng = 0;
    for (int j = 0; j < n; j++) group[j] = -1;
    for (int j = 0; j < n_act; j++)
        if (v[j].size > 0 && !v[j].own) { group[j] = ng; gsize[ng++] = v[j].size; }
    int first = ng;
    for (int time = t_first; time <= t_last; time++) {
        for (int j = n_act; j < n; j++) {
            if (v[j].start != time || v[j].size <= 0 || v[j].own) continue;
            int64_t need = v[j].size;
            int best = -1, f = v[j].from;
            if (f >= 0 && group[f] >= first && v[f].end == time && gsize[group[f]] >= need) best = group[f];
            for (int b = first; best < 0 && b < ng; b++)
                if (!busy[b] && (best < 0 || (gsize[best] < need ? gsize[b] > gsize[best]
                                                                 : gsize[b] >= need && gsize[b] < gsize[best])))
                    best = b;
            if (best < 0) { best = ng++; gsize[best] = 0; }
            if (gsize[best] < need) gsize[best] = need;
            busy[best]++;
            group[j] = best;
        }
        for (int j = n_act; j < n; j++)
            if (v[j].end == time && group[j] >= first) busy[group[j]]--;
    }
    return ng;
}

/* Offsets: groups largest first, each at the lowest offset where it overlaps
 * no placed group that is live at the same time as it. Returns the total;
 * off[j] = -1 without memory; items of their own go after the groups. */
static int64_t plan_offsets(const life *v, int n, int n_act, int t_first, int t_last, int64_t *off)
{
    int *group = malloc((size_t)n * sizeof *group), *busy = calloc((size_t)n, sizeof *busy);
    int *order = malloc((size_t)n * sizeof *order), *placed = malloc((size_t)n * sizeof *placed);
    int64_t *gsize = malloc((size_t)n * sizeof *gsize), *goff = malloc((size_t)n * sizeof *goff);
    unsigned char *clash = NULL;
    int ng = 0, ok = group && busy && order && placed && gsize && goff;
    if (ok) {
        ng = group_items(v, n, n_act, t_first, t_last, group, gsize, busy);
        clash = calloc((size_t)ng * (size_t)ng + 1, 1);
        ok = clash != NULL;
    }
    int64_t total = 0;
    if (ok) {
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                if (group[a] >= 0 && group[b] >= 0 && group[a] != group[b] && v[a].start <= v[b].end &&
                    v[b].start <= v[a].end)
                    clash[(size_t)group[a] * (size_t)ng + (size_t)group[b]] = 1;
        for (int g = 0; g < ng; g++) order[g] = g;
        for (int i = 1; i < ng; i++)  /* by size, largest first (insertion sort: stable) */
            for (int k = i; k > 0 && gsize[order[k]] > gsize[order[k - 1]]; k--) {
                int tmp = order[k]; order[k] = order[k - 1]; order[k - 1] = tmp;
            }
        int np = 0;
        for (int i = 0; i < ng; i++) {
            int g = order[i];
            int64_t at = 0;
            for (int moved = 1; moved;) {  /* past every clashing placed group that overlaps [at, at + size) */
                moved = 0;
                for (int k = 0; k < np; k++) {
                    int h = placed[k];
                    if (clash[(size_t)g * (size_t)ng + (size_t)h] && goff[h] < at + gsize[g] && at < goff[h] + gsize[h]) {
                        at = goff[h] + gsize[h];
                        moved = 1;
                    }
                }
            }
            goff[g] = at;
            placed[np++] = g;
            if (at + gsize[g] > total) total = at + gsize[g];
        }
    }
    for (int j = 0; j < n; j++) {
        if (v[j].size <= 0) { off[j] = -1; continue; }
        if (ok && group[j] >= 0) { off[j] = goff[group[j]]; continue; }
        off[j] = total;  /* its own (or no plan) */
        total += v[j].size;
    }
    free(group); free(busy); free(order); free(placed); free(gsize); free(goff); free(clash);
    return total;
}

bb_status bb_exec_plan(const bb_net *net, const bb_plan *plan, int64_t n_max, int channels_last,
                       int64_t *act_off, int64_t *grad_off, int64_t *total)
{
    int T = net->ntensors;
    int64_t acts = 0;
    for (int t = 0; t < T; t++) {
        act_off[t] = plan->stored[t] ? acts : -1;
        if (plan->stored[t]) acts += padded(n_max * bb_tensor_len(net, t));
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
    plan_lives(net, plan, n_max, v);
    *total = plan_offsets(v, 2 * T, T, -1, 2 * plan->nops + 1, off);
    memcpy(act_off, off, (size_t)T * sizeof *off);
    memcpy(grad_off, off + T, (size_t)T * sizeof *off);
    free(v);
    free(off);
    return BB_OK;
}
