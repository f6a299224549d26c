/* The fixed-tree gradient sum of gradsum.h. */
#include "train/gradsum.h"

#include "util/mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* stack depth for pushing leaves lo..hi-1 in order, found by simulation */
static int max_depth(int64_t k, int64_t lo, int64_t hi)
{
    int levels[130], depth = 0, worst = 0;
    int64_t idx[130];
    for (int64_t w = lo; w < hi; w++) {
        levels[depth] = 0;
        idx[depth++] = w;
        if (depth > worst) worst = depth;
        for (;;) {
            int l = levels[depth - 1];
            int64_t j = idx[depth - 1];
            if ((j & 1) && depth >= 2 && levels[depth - 2] == l && idx[depth - 2] == j - 1) {
                depth--;
                levels[depth - 1] = l + 1;
                idx[depth - 1] = (j - 1) / 2;
            } else if (!(j & 1) && ((j + 1) << l) >= k && !(j == 0 && ((int64_t)1 << l) >= k)) {
                levels[depth - 1] = l + 1;
                idx[depth - 1] = j / 2;
            } else {
                break;
            }
        }
    }
    return worst;
}

bb_status bb_gradsum_init(bb_gradsum *g, int64_t k, int64_t len, int64_t w_lo, int64_t w_hi)
{
    memset(g, 0, sizeof *g);
    g->k = k;
    g->len = len;
    int need = max_depth(k, w_lo, w_hi) + 1;
    g->owned = calloc((size_t)need, sizeof *g->owned);
    g->free_list = calloc((size_t)need, sizeof *g->free_list);
    g->stack = calloc((size_t)need + 130, sizeof *g->stack);  /* combine may stack other parts' blocks */
    if (!g->owned || !g->free_list || !g->stack || bb_gsum_plan_init(&g->deferred, need + 1) != BB_OK) {
        bb_gradsum_free(g);
        return bb_fail(BB_ERR_NOMEM, "gradient sum: out of memory");
    }
    for (int i = 0; i < need; i++) {
        g->owned[i] = bb_alloc((size_t)len * sizeof(float));
        if (!g->owned[i]) {
            bb_gradsum_free(g);
            return bb_fail(BB_ERR_NOMEM, "gradient sum: cannot allocate %d buffers of %.1f MiB", need,
                           (double)len * 4 / 1048576.0);
        }
        g->nowned++;
    }
    bb_gradsum_reset(g);
    return BB_OK;
}

void bb_gradsum_free(bb_gradsum *g)
{
    for (int i = 0; i < g->nowned; i++) bb_free(g->owned[i]);
    free(g->owned);
    free(g->free_list);
    free(g->stack);
    bb_gsum_plan_free(&g->deferred);
    memset(g, 0, sizeof *g);
}

void bb_gradsum_reset(bb_gradsum *g)
{
    for (int i = 0; i < g->nowned; i++) g->free_list[i] = g->owned[i];
    g->nfree = g->nowned;
    g->depth = 0;
    g->pending = NULL;
    g->deferred.n = 0;
}

bb_status bb_gsum_plan_init(bb_gsum_plan *p, int cap)
{
    p->n = 0;
    p->cap = cap;
    p->m = calloc((size_t)(cap > 0 ? cap : 1), sizeof *p->m);
    return p->m ? BB_OK : bb_fail(BB_ERR_NOMEM, "gradient sum: out of memory");
}

void bb_gsum_plan_free(bb_gsum_plan *p)
{
    free(p->m);
    memset(p, 0, sizeof *p);
}

void bb_gsum_plan_apply(const bb_gsum_plan *p, int64_t lo, int64_t hi)
{
    for (int k = 0; k < p->n; k++) {
        float *d = p->m[k].dst;
        const float *s = p->m[k].src;
        for (int64_t i = lo; i < hi; i++) d[i] += s[i];
    }
}

/* left += right now, or recorded in plan */
static void merge(bb_gradsum *g, float *left, const float *right, bb_gsum_plan *plan)
{
    if (plan) {
        assert(plan->n < plan->cap);
        plan->m[plan->n].dst = left;
        plan->m[plan->n].src = right;
        plan->n++;
        return;
    }
    for (int64_t i = 0; i < g->len; i++) left[i] += right[i];
}

float *bb_gradsum_begin(bb_gradsum *g)
{
    g->pending = g->free_list[--g->nfree];
    memset(g->pending, 0, (size_t)g->len * sizeof(float));
    return g->pending;
}

/* Pushes a block onto g's stack and merges by the tree rule (or records the
 * merges in plan). With `recycle` the right-hand buffer of each merge returns
 * to g's free list (push: g owns it); combine leaves them, and every part is
 * reset before the next step. */
static void push_block(bb_gradsum *g, bb_gblock b, int recycle, bb_gsum_plan *plan)
{
    bb_gblock *s = g->stack;
    s[g->depth++] = b;
    for (;;) {
        bb_gblock *top = &s[g->depth - 1];
        int l = top->level;
        int64_t j = top->index;
        if ((j & 1) && g->depth >= 2 && s[g->depth - 2].level == l && s[g->depth - 2].index == j - 1) {
            merge(g, s[g->depth - 2].buf, top->buf, plan);
            if (recycle && !plan) g->free_list[g->nfree++] = top->buf;
            g->depth--;
            s[g->depth - 1].level = l + 1;
            s[g->depth - 1].index = (j - 1) / 2;
        } else if (!(j & 1) && ((j + 1) << l) >= g->k && !(j == 0 && ((int64_t)1 << l) >= g->k)) {
            top->level = l + 1;
            top->index = j / 2;
        } else {
            break;
        }
    }
}

void bb_gradsum_push(bb_gradsum *g, int64_t w)
{
    bb_gblock b = {0, w, g->pending};
    g->pending = NULL;
    push_block(g, b, 1, NULL);
}

void bb_gradsum_push_deferred(bb_gradsum *g, int64_t w)
{
    bb_gblock b = {0, w, g->pending};
    g->pending = NULL;
    push_block(g, b, 0, &g->deferred);
}

static float *combine(bb_gradsum *parts, int n, bb_gsum_plan *plan)
{
    bb_gradsum *g = &parts[0];
    for (int p = 1; p < n; p++) {
        for (int i = 0; i < parts[p].depth; i++) push_block(g, parts[p].stack[i], 0, plan);
        parts[p].depth = 0;
    }
    for (int i = 1; i < g->depth; i++) merge(g, g->stack[0].buf, g->stack[i].buf, plan);
    return g->depth ? g->stack[0].buf : NULL;
}

float *bb_gradsum_combine(bb_gradsum *parts, int n) { return combine(parts, n, NULL); }

float *bb_gradsum_combine_plan(bb_gradsum *parts, int n, bb_gsum_plan *plan)
{
    plan->n = 0;
    return combine(parts, n, plan);
}
