/* The arithmetic of the GPU kernels, one element (or one reduction cell) at a
 * time, as inline functions that compile both as CUDA device code and as plain
 * C11. The CUDA backend (src/cuda/kernels.cu) wraps them in launches; the host
 * backend (dev_host.c) runs the same functions in loops, so the index maths,
 * fusions and formulas are tested on any machine against src/ops.
 * Layout: NCHW float32; a chunk holds m logical workers of n samples each,
 * sample j belonging to worker j / n. Formulas mirror src/ops (same operation
 * order, double where the CPU code accumulates in double); the optimizer's
 * (optim/update.h) and the BN running averages' (ops/ops.h) are the CPU's own
 * functions. */
#ifndef BB_GPU_KERN_H
#define BB_GPU_KERN_H

#include "ops/ops.h"
#include "ops/rank.h"
#include "optim/update.h"
#include "util/hostdev.h"

#include <math.h>
#include <stdint.h>

/* ---- batch norm over a chunk, statistics per (worker, channel) ---- */
typedef struct {
    int64_t m, n, c, hw;      /* workers, samples per worker, channels, plane size */
    int64_t parts, part_len;  /* each (worker, channel) reduction runs in parts of part_len elements */
    float eps;
    const float *x;           /* (m n, c, hw) input */
    const float *s;           /* (m n, c, hw) added after the affine map (residual), or NULL */
    float *y;                 /* (m n, c, hw) output: [relu](bn(x) [+ s]) */
    int relu;
    const float *gamma, *beta;
    const float *rmean, *rvar;/* evaluation: running statistics */
    float *save;              /* (m, c, 2): batch mean, inverse std, for backward */
    float *coef;              /* (m, c, 4) scratch: forward scale, shift; backward k, mean dz, mean dz*xhat */
    double *partial;          /* (m, c, parts, 2) scratch */
    float *stats;             /* (2c) += each worker's mean and unbiased variance, or NULL */
    /* backward */
    const float *dy;          /* gradient of y */
    float *dx;                /* gradient of x, or NULL */
    int dx_set;               /* 1: dx = ..., 0: dx += ... */
    float *ds;                /* gradient of s (when s) */
    int ds_set;
    float *dgamma, *dbeta;    /* += */
} bb_kbn;

/* elements of one (worker, channel) cell */
BB_HD static inline int64_t bbk_bn_cell_len(const bb_kbn *p) { return p->n * p->hw; }

/* address of element e in [0, n hw) of cell (w, ch) */
BB_HD static inline int64_t bbk_bn_addr(const bb_kbn *p, int64_t w, int64_t ch, int64_t e)
{
    int64_t s = w * p->n + e / p->hw;
    return (s * p->c + ch) * p->hw + e % p->hw;
}

/* cell (w, ch) of element index i of the whole (m n, c, hw) tensor */
BB_HD static inline int64_t bbk_bn_cell_of(const bb_kbn *p, int64_t i)
{
    int64_t plane = i / p->hw;
    int64_t ch = plane % p->c, w = plane / p->c / p->n;
    return w * p->c + ch;
}

/* elements [e0, e1) of a cell that part `part` covers */
BB_HD static inline void bbk_bn_part_range(const bb_kbn *p, int64_t part, int64_t *e0, int64_t *e1)
{
    int64_t len = bbk_bn_cell_len(p);
    *e0 = part * p->part_len;
    *e1 = *e0 + p->part_len < len ? *e0 + p->part_len : len;
}

/* dz: the gradient reaching the affine map, through the fused ReLU (mask from the output) */
BB_HD static inline float bbk_bn_dz(const bb_kbn *p, int64_t i)
{
    return p->relu ? (p->y[i] > 0.0f ? p->dy[i] : 0.0f) : p->dy[i];
}

/* the terms element a (an address in cell `cell`) adds to the partial sums:
 * forward x and x^2; backward dz and dz * xhat */
BB_HD static inline void bbk_bn_fwd_term(const bb_kbn *p, int64_t a, double *s, double *q)
{
    double v = p->x[a];
    *s += v;
    *q += v * v;
}

BB_HD static inline void bbk_bn_bwd_term(const bb_kbn *p, int64_t cell, int64_t a, double *s, double *q)
{
    float dz = bbk_bn_dz(p, a);
    float xh = (p->x[a] - p->save[cell * 2]) * p->save[cell * 2 + 1];
    *s += dz;
    *q += (double)dz * (double)xh;
}

/* Forward finalize for channel ch, workers in order: mean and variance from the
 * parts' sums, the saved mean / inverse std, the affine coefficients, and the
 * batch statistics the running averages use (as bb_bn_forward_train). */
BB_HD static inline void bbk_bn_fwd_finalize(const bb_kbn *p, int64_t ch)
{
    double cnt = (double)bbk_bn_cell_len(p);
    for (int64_t w = 0; w < p->m; w++) {
        int64_t cell = w * p->c + ch;
        double sum = 0.0, sq = 0.0;
        for (int64_t k = 0; k < p->parts; k++) {
            sum += p->partial[(cell * p->parts + k) * 2];
            sq += p->partial[(cell * p->parts + k) * 2 + 1];
        }
        double mean = sum / cnt;
        double var = sq / cnt - mean * mean;
        if (var < 0.0) var = 0.0;
        float invstd = (float)(1.0 / sqrt(var + (double)p->eps));
        p->save[cell * 2] = (float)mean;
        p->save[cell * 2 + 1] = invstd;
        float a = p->gamma[ch] * invstd;
        p->coef[cell * 4] = a;
        p->coef[cell * 4 + 1] = p->beta[ch] - (float)mean * a;
        if (p->stats) {
            p->stats[ch] += (float)mean;
            p->stats[p->c + ch] += (float)(cnt > 1 ? var * cnt / (cnt - 1) : 0.0);
        }
    }
}

/* element i of cell `cell` (a GPU kernel finds the cell its own way) */
BB_HD static inline void bbk_bn_fwd_apply_at(const bb_kbn *p, int64_t i, int64_t cell)
{
    /* written as (x a + b) + s, the order of the unfused BN then add */
    float r = p->x[i] * p->coef[cell * 4] + p->coef[cell * 4 + 1];
    if (p->s) r = r + p->s[i];
    p->y[i] = p->relu ? (r > 0.0f ? r : 0.0f) : r;
}

BB_HD static inline void bbk_bn_fwd_apply(const bb_kbn *p, int64_t i) { bbk_bn_fwd_apply_at(p, i, bbk_bn_cell_of(p, i)); }

/* evaluation: running statistics, as bb_bn_forward_eval */
BB_HD static inline void bbk_bn_eval_apply(const bb_kbn *p, int64_t i)
{
    int64_t ch = (i / p->hw) % p->c;
    float a = p->gamma[ch] / sqrtf(p->rvar[ch] + p->eps), b = p->beta[ch] - p->rmean[ch] * a;
    float r = p->x[i] * a + b;
    if (p->s) r = r + p->s[i];
    p->y[i] = p->relu ? (r > 0.0f ? r : 0.0f) : r;
}

/* backward finalize for channel ch, workers in order: dgamma, dbeta and the
 * coefficients of dx = k (dz - mean(dz) - xhat mean(dz xhat)) */
BB_HD static inline void bbk_bn_bwd_finalize(const bb_kbn *p, int64_t ch)
{
    double cnt = (double)bbk_bn_cell_len(p);
    for (int64_t w = 0; w < p->m; w++) {
        int64_t cell = w * p->c + ch;
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t k = 0; k < p->parts; k++) {
            sdy += p->partial[(cell * p->parts + k) * 2];
            sdyx += p->partial[(cell * p->parts + k) * 2 + 1];
        }
        p->dgamma[ch] += (float)sdyx;
        p->dbeta[ch] += (float)sdy;
        p->coef[cell * 4] = p->gamma[ch] * p->save[cell * 2 + 1];
        p->coef[cell * 4 + 1] = (float)(sdy / cnt);
        p->coef[cell * 4 + 2] = (float)(sdyx / cnt);
    }
}

BB_HD static inline void bbk_bn_bwd_apply_at(const bb_kbn *p, int64_t i, int64_t cell)
{
    float dz = bbk_bn_dz(p, i);
    if (p->s && p->ds) p->ds[i] = (p->ds_set ? 0.0f : p->ds[i]) + dz;
    if (!p->dx) return;
    float mean = p->save[cell * 2], invstd = p->save[cell * 2 + 1];
    float xh = (p->x[i] - mean) * invstd;
    float v = p->coef[cell * 4] * (dz - p->coef[cell * 4 + 1] - xh * p->coef[cell * 4 + 2]);
    p->dx[i] = p->dx_set ? v : p->dx[i] + v;
}

BB_HD static inline void bbk_bn_bwd_apply(const bb_kbn *p, int64_t i) { bbk_bn_bwd_apply_at(p, i, bbk_bn_cell_of(p, i)); }

/* ---- the small layers, one output element per call ---- */
typedef enum {
    BBK_RELU_FWD, BBK_RELU_BWD, BBK_ADD_FWD, BBK_ADD_BWD, BBK_MAXPOOL_FWD, BBK_MAXPOOL_BWD,
    BBK_AVGPOOL_FWD, BBK_AVGPOOL_BWD, BBK_PAD_FWD, BBK_PAD_BWD, BBK_BIAS_FILL, BBK_BIAS_BWD
} bbk_kind;

typedef struct {
    bbk_kind kind;
    int64_t n;                /* samples */
    int64_t len;              /* relu / add: elements per sample */
    int64_t c, hw;            /* avgpool: channels, input plane */
    bb_maxpool mp;
    bb_padshort ps;
    int64_t out;              /* bias: features */
    const float *x, *x2;      /* forward inputs (add: x + x2) */
    float *y;
    int32_t *argmax;          /* maxpool */
    const float *dy;
    float *dx, *dx2;          /* backward outputs (add: both inputs; dx2 may equal dx) */
    int dx_set, dx2_set;
    const float *b;           /* bias (fill) */
    float *db;                /* bias gradient (+=) */
} bb_kelt;

BB_HD static inline int64_t bbk_elt_count(const bb_kelt *p)
{
    switch (p->kind) {
    case BBK_RELU_FWD: case BBK_RELU_BWD: case BBK_ADD_FWD: case BBK_ADD_BWD: return p->n * p->len;
    case BBK_MAXPOOL_FWD: return p->n * p->mp.c * p->mp.oh * p->mp.ow;
    case BBK_MAXPOOL_BWD: return p->n * p->mp.c * p->mp.h * p->mp.w;
    case BBK_AVGPOOL_FWD: return p->n * p->c;
    case BBK_AVGPOOL_BWD: return p->n * p->c * p->hw;
    case BBK_PAD_FWD: return p->n * p->ps.cout * p->ps.oh * p->ps.ow;
    case BBK_PAD_BWD: return p->n * p->ps.cin * p->ps.h * p->ps.w;
    case BBK_BIAS_FILL: return p->n * p->out;
    case BBK_BIAS_BWD: return p->out;
    }
    return 0;
}

BB_HD static inline float bbk_acc(int set, float old, float v) { return set ? v : old + v; }

BB_HD static inline void bbk_elt_one(const bb_kelt *p, int64_t i)
{
    switch (p->kind) {
    case BBK_RELU_FWD: p->y[i] = p->x[i] > 0.0f ? p->x[i] : 0.0f; break;
    case BBK_RELU_BWD: p->dx[i] = bbk_acc(p->dx_set, p->dx[i], p->y[i] > 0.0f ? p->dy[i] : 0.0f); break;
    case BBK_ADD_FWD: p->y[i] = p->x[i] + p->x2[i]; break;
    case BBK_ADD_BWD:
        if (p->dx && p->dx2 == p->dx) {  /* y = x + x */
            float v = p->dx_set ? 0.0f : p->dx[i];
            p->dx[i] = (v + p->dy[i]) + p->dy[i];
            break;
        }
        if (p->dx) p->dx[i] = bbk_acc(p->dx_set, p->dx[i], p->dy[i]);
        if (p->dx2) p->dx2[i] = bbk_acc(p->dx2_set, p->dx2[i], p->dy[i]);
        break;
    case BBK_MAXPOOL_FWD: {
        const bb_maxpool *d = &p->mp;
        int64_t ohw = d->oh * d->ow, plane = i / ohw, o = i % ohw, oy = o / d->ow, ox = o % d->ow;
        int32_t arg;
        p->y[i] = bb_maxpool_cell(d, p->x + plane * d->h * d->w, oy, ox, &arg);
        p->argmax[i] = arg;
        break;
    }
    case BBK_MAXPOOL_BWD: {
        /* gather: the outputs whose window holds this input and chose it, in
         * the order the CPU's scatter adds them */
        const bb_maxpool *d = &p->mp;
        int64_t hw = d->h * d->w, plane = i / hw, at = i % hw, iy = at / d->w, ix = at % d->w;
        int64_t oy0 = iy + d->pad - d->k + 1, ox0 = ix + d->pad - d->k + 1;
        oy0 = oy0 <= 0 ? 0 : (oy0 + d->stride - 1) / d->stride;
        ox0 = ox0 <= 0 ? 0 : (ox0 + d->stride - 1) / d->stride;
        int64_t oy1 = (iy + d->pad) / d->stride, ox1 = (ix + d->pad) / d->stride;
        if (oy1 > d->oh - 1) oy1 = d->oh - 1;
        if (ox1 > d->ow - 1) ox1 = d->ow - 1;
        float v = p->dx_set ? 0.0f : p->dx[i];
        const int32_t *am = p->argmax + plane * d->oh * d->ow;
        const float *g = p->dy + plane * d->oh * d->ow;
        for (int64_t oy = oy0; oy <= oy1; oy++)
            for (int64_t ox = ox0; ox <= ox1; ox++)
                if (am[oy * d->ow + ox] == (int32_t)at) v += g[oy * d->ow + ox];
        p->dx[i] = v;
        break;
    }
    case BBK_AVGPOOL_FWD: {
        float s = 0.0f;
        for (int64_t k = 0; k < p->hw; k++) s += p->x[i * p->hw + k];
        p->y[i] = s / (float)p->hw;
        break;
    }
    case BBK_AVGPOOL_BWD: p->dx[i] = bbk_acc(p->dx_set, p->dx[i], p->dy[i / p->hw] / (float)p->hw); break;
    case BBK_PAD_FWD: {
        const bb_padshort *d = &p->ps;
        int64_t ohw = d->oh * d->ow, plane = i / ohw, o = i % ohw;
        int64_t s = plane / d->cout, ci = plane % d->cout - (d->cout - d->cin) / 2;
        float v = 0.0f;
        if (ci >= 0 && ci < d->cin)
            v = p->x[(s * d->cin + ci) * d->h * d->w + (o / d->ow) * d->stride * d->w + (o % d->ow) * d->stride];
        p->y[i] = v;
        break;
    }
    case BBK_PAD_BWD: {
        const bb_padshort *d = &p->ps;
        int64_t hw = d->h * d->w, plane = i / hw, at = i % hw, iy = at / d->w, ix = at % d->w;
        int64_t s = plane / d->cin, ci = plane % d->cin;
        float g = 0.0f;
        if (iy % d->stride == 0 && ix % d->stride == 0)
            g = p->dy[(s * d->cout + (d->cout - d->cin) / 2 + ci) * d->oh * d->ow + (iy / d->stride) * d->ow + ix / d->stride];
        p->dx[i] = bbk_acc(p->dx_set, p->dx[i], g);
        break;
    }
    case BBK_BIAS_FILL: p->y[i] = p->b ? p->b[i % p->out] : 0.0f; break;
    case BBK_BIAS_BWD: {
        float v = p->db[i];
        for (int64_t s = 0; s < p->n; s++) v += p->dy[s * p->out + i];
        p->db[i] = v;
        break;
    }
    }
}

/* ---- softmax cross-entropy, one sample per call (bb_xent_forward) ---- */
typedef struct {
    int64_t n, classes;
    const float *logits;
    const int32_t *labels;
    double norm;
    float smoothing;
    float *dlogits;           /* SET to (softmax - t) / norm, or NULL */
    double *loss, *top1, *top5;  /* per sample: loss, 1/0 correct in top-1 / top-5 */
} bb_kxent;

BB_HD static inline void bbk_xent_one(const bb_kxent *p, int64_t s)
{
    const float *z = p->logits + s * p->classes;
    int32_t y = p->labels[s];
    double off = p->smoothing / (double)p->classes, on = 1.0 - p->smoothing + off;
    double mx = z[0];
    for (int64_t j = 1; j < p->classes; j++) if (z[j] > mx) mx = z[j];
    double sum = 0.0;
    for (int64_t j = 0; j < p->classes; j++) sum += exp(z[j] - mx);
    double lse = mx + log(sum), loss = 0.0;
    for (int64_t j = 0; j < p->classes; j++) {
        double t = j == y ? on : off;
        if (t != 0.0) loss -= t * (z[j] - lse);
        if (p->dlogits) p->dlogits[s * p->classes + j] = (float)((exp(z[j] - lse) - t) / p->norm);
    }
    int64_t above = bb_label_rank(z, p->classes, y);
    p->loss[s] = loss;
    p->top1[s] = above < 1 ? 1.0 : 0.0;
    p->top5[s] = above < 5 ? 1.0 : 0.0;
}

/* ---- momentum SGD over segments (bb_kseg, optim/update.h), as bb_sgd_step ---- */


typedef struct {
    int64_t nseg, nblocks, block_len;
    const bb_kseg *seg;       /* nseg + 1 entries (bb_sgd_segments); the last has first_block = nblocks */
    float *w, *u;
    const float *g;
    int form;                 /* BB_UPDATE_* (bb_sgd_rule) */
    float m, flr, c;          /* momentum, lr as float, form-10 correction factor (bb_sgd_correction) */
    /* LARS: per segment norms, then per segment lr */
    int lars, clip;           /* any segment adapted (its .lars); LARC */
    double lr, eta;
    double *norms;            /* (nblocks, 2) partial sums of w^2, g^2, then (nseg, 2) sums */
    float *seg_lr;            /* (nseg) */
} bb_ksgd;

BB_HD static inline void bbk_sgd_one(const bb_ksgd *p, float wd, float flr, int64_t j)
{
    bb_update_one(p->form, p->w + j, p->u + j, p->g[j], wd, p->m, p->c, flr);
}

#endif
