/* Channels-last batch norm (optionally fused with the ReLU after it), residual
 * add + ReLU, pooling, the option-A shortcut and layout changes. Batch-norm
 * statistics are accumulated in double, one channel block at a time: the
 * vector path in one pass of sums shifted by the first row, over fixed chunks
 * of rows that a team of threads shares (then its row passes by ranges of
 * rows); the generic loops in the reference's two passes (mean, then
 * centered squares), on one thread. */
#include "ops/nhwc.h"
#include "ops/nhwc_avx2.h"
#include "ops/vec.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define CH_BLOCK 64  /* channels whose double accumulators live on the stack */
/* The vector passes stream tensors larger than L2 from L3 or memory; each
 * asks for the cache line this many floats ahead of what it reads. */
#define AHEAD 512
#define READ_AHEAD(p) __builtin_prefetch((p) + AHEAD)

/* The dx pass's per-channel coefficients, interleaved by groups of VW
 * channels (one pointer instead of seven keeps the loop's pointers in
 * registers): the forward's y = x ka + kb (for the ReLU's mask), mean,
 * invstd, and dx = k0 * (g - k1 - xhat * k2). */
enum { CF_KA, CF_KB, CF_MEAN, CF_INVSTD, CF_K0, CF_K1, CF_K2, CF_N };

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

#if !defined(BB_AVX2_TWIN) && !defined(BB_AVX512_TWIN)
static _Atomic int widest = BB_UK_AVX512;

void bb_nhwc_set_kernels(bb_uk_variant v) { widest = v; }

#if BB_AVX2_TWINS
int bb_nhwc_wide(void) { return widest == BB_UK_AVX512 && bb_uk_supported(BB_UK_AVX512); }
#endif
#endif

/* The training forward's y = x a + b per channel, a = gamma * invstd,
 * b = beta - mean * a from the saved (float) mean and invstd: the backward
 * recomputes the same floats, and with them the fused ReLU's mask
 * (x a + b > 0, the same operations as the forward), instead of reading y. */
static void train_affine(float gamma, float beta, float mean, float invstd, float *a, float *b)
{
    *a = gamma * invstd;
    *b = beta - mean * *a;
}

/* The evaluation's y = x a + b from the running statistics. */
static void eval_affine(float gamma, float beta, float rmean, float rvar, float eps, float *a, float *b)
{
    *a = gamma / sqrtf(rvar + eps);
    *b = beta - rmean * *a;
}

/* y = x a + b (+ res) (then ReLU) on channels [c0, c0 + nc) of M rows of C */
static void affine_generic(int64_t M, int64_t C, int64_t c0, int64_t nc, const float *x, const float *a,
                           const float *b, const bb_bn_residual *r, float *y, int relu)
{
    for (int64_t i = 0; i < M; i++) {
        const float *p = x + i * C + c0, *s = r ? r->res + i * C + c0 : NULL;
        float *q = y + i * C + c0;
        for (int64_t c = 0; c < nc; c++) {
            float v = p[c] * a[c] + b[c];
            if (s) v = v + s[c];
            q[c] = relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

static void bn_train_generic(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                             const bb_bn_residual *r, float *y, float *save, float *stats, int relu)
{
    int64_t C = d->c, M = n * d->hw;
    double m = (double)M;
    for (int64_t c0 = 0; c0 < C; c0 += CH_BLOCK) {
        int64_t nc = min64(CH_BLOCK, C - c0);
        double sum[CH_BLOCK] = {0}, sq[CH_BLOCK] = {0}, mean[CH_BLOCK];
        float a[CH_BLOCK], b[CH_BLOCK];
        for (int64_t i = 0; i < M; i++) {
            const float *p = x + i * C + c0;
            for (int64_t c = 0; c < nc; c++) sum[c] += p[c];
        }
        for (int64_t c = 0; c < nc; c++) mean[c] = sum[c] / m;
        for (int64_t i = 0; i < M; i++) {
            const float *p = x + i * C + c0;
            for (int64_t c = 0; c < nc; c++) { double t = p[c] - mean[c]; sq[c] += t * t; }
        }
        for (int64_t c = 0; c < nc; c++) {
            float invstd = (float)(1.0 / sqrt(sq[c] / m + d->eps));
            save[c0 + c] = (float)mean[c];
            save[C + c0 + c] = invstd;
            if (stats) {
                stats[c0 + c] += (float)mean[c];
                stats[C + c0 + c] += (float)(m > 1 ? sq[c] / (m - 1) : 0.0);
            }
            train_affine(gamma[c0 + c], beta[c0 + c], save[c0 + c], invstd, &a[c], &b[c]);
        }
        if (y) affine_generic(M, C, c0, nc, x, a, b, r, y, relu);
    }
}

static void bn_eval_generic(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                            const float *rmean, const float *rvar, const bb_bn_residual *r, float *y, int relu)
{
    int64_t C = d->c, M = n * d->hw;
    for (int64_t c0 = 0; c0 < C; c0 += CH_BLOCK) {
        int64_t nc = min64(CH_BLOCK, C - c0);
        float a[CH_BLOCK], b[CH_BLOCK];
        for (int64_t c = 0; c < nc; c++) eval_affine(gamma[c0 + c], beta[c0 + c], rmean[c0 + c], rvar[c0 + c], d->eps, &a[c], &b[c]);
        affine_generic(M, C, c0, nc, x, a, b, r, y, relu);
    }
}

static void bn_backward_generic(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *save,
                                const float *beta, const bb_bn_residual *r, const float *dy, float *dx, int set,
                                float *dgamma, float *dbeta, int relu)
{
    int64_t C = d->c, M = n * d->hw;
    double m = (double)M;
    for (int64_t c0 = 0; c0 < C; c0 += CH_BLOCK) {
        int64_t nc = min64(CH_BLOCK, C - c0);
        double sdy[CH_BLOCK] = {0}, sdyx[CH_BLOCK] = {0};
        float mean[CH_BLOCK], invstd[CH_BLOCK], k[CH_BLOCK], b[CH_BLOCK], mdy[CH_BLOCK], mdyx[CH_BLOCK];
        for (int64_t c = 0; c < nc; c++) {
            mean[c] = save[c0 + c];
            invstd[c] = save[C + c0 + c];
            train_affine(gamma[c0 + c], beta[c0 + c], mean[c], invstd[c], &k[c], &b[c]);
        }
        for (int64_t i = 0; i < M; i++) {
            const float *p = x + i * C + c0, *g = dy + i * C + c0, *o = r ? r->y + i * C + c0 : NULL;
            for (int64_t c = 0; c < nc; c++) {
                float gv = relu && !((o ? o[c] : p[c] * k[c] + b[c]) > 0.0f) ? 0.0f : g[c];
                sdy[c] += gv;
                sdyx[c] += (double)gv * (double)((p[c] - mean[c]) * invstd[c]);
            }
        }
        for (int64_t c = 0; c < nc; c++) {
            dgamma[c0 + c] += (float)sdyx[c];
            dbeta[c0 + c] += (float)sdy[c];
            mdy[c] = (float)(sdy[c] / m);
            mdyx[c] = (float)(sdyx[c] / m);
        }
        float *dres = r ? r->dres : NULL;
        if (!dx && !dres) continue;
        for (int64_t i = 0; i < M; i++) {
            const float *p = x + i * C + c0, *g = dy + i * C + c0, *o = r ? r->y + i * C + c0 : NULL;
            for (int64_t c = 0; c < nc; c++) {
                float gv = relu && !((o ? o[c] : p[c] * k[c] + b[c]) > 0.0f) ? 0.0f : g[c];
                float xh = (p[c] - mean[c]) * invstd[c];
                int64_t e = i * C + c0 + c;
                if (dx) dx[e] = (set ? 0.0f : dx[e]) + k[c] * (gv - mdy[c] - xh * mdyx[c]);
                if (dres) dres[e] = (r->set_dres ? 0.0f : dres[e]) + gv;
            }
        }
    }
}


/* ---- the same with VW-channel vectors, for c a multiple of VW: statistics
 * over blocks of NG groups of VW channels (the accumulators stay in registers),
 * element-wise passes over whole rows ---- */

/* The vector statistics run over chunks of rows whose bounds depend on the
 * row count alone: each chunk's sums go to their own slot (in the workspace)
 * and the slots are added in chunk order, so a team can share the chunks and
 * every team size gives the same bits. */
#define BN_ROWS 128    /* least rows of a chunk */
#define BN_CHUNKS 64   /* most chunks: their slots bound the workspace */

static int64_t bn_chunks(int64_t M)
{
    int64_t c = (M + BN_ROWS - 1) / BN_ROWS;
    return c < 1 ? 1 : c < BN_CHUNKS ? c : BN_CHUNKS;
}

/* per chunk 2C doubles of sums, then 4C floats of per-channel coefficients
 * and the backward's CF_N C interleaved ones */
size_t bb_bn_nhwc_workspace(const bb_bn *d, int64_t n)
{
    return (size_t)(4 * bn_chunks(n * d->hw) * d->c + (4 + CF_N) * d->c + 16);
}

/* The statistics add runs of RUN rows in float, then each run's sums in
 * double: converting every element to double kept the vector passes busy
 * on the conversions (one port), at 1-2 cycles an element with the data in
 * L1. A run's float sum of 16 terms carries at most about 1e-6 of relative
 * error; the runs' order and bounds depend on the row count alone. */
#define RUN 16

/* a run's float sums (ra, rb) into the double accumulators (a, b) */
static inline __attribute__((always_inline)) void add_run(vfd *a, vfd *b, const vf *ra, const vf *rb, const int NG)
{
    for (int g = 0; g < NG; g++) {
        a[g] = vfd_acc(a[g], ra[g]);
        b[g] = vfd_acc(b[g], rb[g]);
    }
}

/* sum over rows of (x - s) and (x - s)^2, s = row 0 of the tensor (x0): one
 * pass, and the shift keeps the variance free of cancellation */
static inline __attribute__((always_inline)) void moments_vf(int64_t M, int64_t C, const float *x, const float *x0,
                                                             int64_t c0, const int NG, double *s1, double *s2)
{
    vfd a[2], b[2];
    vf sh[2];
    for (int g = 0; g < NG; g++) {
        a[g] = b[g] = vfd_zero();
        sh[g] = vf_load(x0 + c0 + VW * g);
    }
    for (int64_t i0 = 0; i0 < M; i0 += RUN) {
        int64_t i1 = min64(i0 + RUN, M);
        vf ra[2], rb[2];
        for (int g = 0; g < NG; g++) ra[g] = rb[g] = vf_set1(0.0f);
        for (int64_t i = i0; i < i1; i++)
#pragma GCC unroll 2
            for (int g = 0; g < NG; g++) {
                READ_AHEAD(x + i * C + c0 + VW * g);
                vf v = vf_sub(vf_load(x + i * C + c0 + VW * g), sh[g]);
                ra[g] = vf_add(ra[g], v);
                rb[g] = vf_fma(v, v, rb[g]);
            }
        add_run(a, b, ra, rb, NG);
    }
    for (int g = 0; g < NG; g++) { vfd_store(s1 + VW * g, a[g]); vfd_store(s2 + VW * g, b[g]); }
}

/* the masked gradient of a fused ReLU: dy where the forward's output was > 0,
 * read from the output y when a residual was added, else x a + b recomputed */
static inline vf relu_grad(const float *y, vf xv, vf a, vf b, vf dy)
{
    return vf_where_pos(y ? vf_load(y) : vf_fma(xv, a, b), dy);
}

/* sum(g) and sum(g * xhat), g = relu_grad when relu (y: the output with a residual, else NULL); g also
 * stored at g_out unless it is NULL */
static inline __attribute__((always_inline)) void grad_sums_vf(int64_t M, int64_t C, const float *x, const float *y,
                                                               const float *dy, int64_t c0, const int NG, int relu,
                                                               const float *mean, const float *invstd,
                                                               const float *ka, const float *kb, float *g_out,
                                                               double *sdy, double *sdyx)
{
    vfd a[2], b[2];
    vf mu[2], is[2];
    for (int g = 0; g < NG; g++) {
        a[g] = vfd_zero();
        b[g] = vfd_zero();
        mu[g] = vf_load(mean + c0 + VW * g);
        is[g] = vf_load(invstd + c0 + VW * g);
    }
    for (int64_t i0 = 0; i0 < M; i0 += RUN) {
        int64_t i1 = min64(i0 + RUN, M);
        vf ra[2], rb[2];
        for (int g = 0; g < NG; g++) ra[g] = rb[g] = vf_set1(0.0f);
        for (int64_t i = i0; i < i1; i++)
#pragma GCC unroll 2
            for (int g = 0; g < NG; g++) {
                int64_t o = i * C + c0 + VW * g;
                READ_AHEAD(x + o);
                READ_AHEAD(dy + o);
                if (y) READ_AHEAD(y + o);
                vf xv = vf_load(x + o), gv = vf_load(dy + o);
                if (relu) gv = relu_grad(y ? y + o : NULL, xv, vf_load(ka + c0 + VW * g), vf_load(kb + c0 + VW * g), gv);
                if (g_out) vf_store(g_out + o, gv);
                vf xh = vf_mul(vf_sub(xv, mu[g]), is[g]);
                ra[g] = vf_add(ra[g], gv);
                rb[g] = vf_fma(gv, xh, rb[g]);
            }
        add_run(a, b, ra, rb, NG);
    }
    for (int g = 0; g < NG; g++) { vfd_store(sdy + VW * g, a[g]); vfd_store(sdyx + VW * g, b[g]); }
}

/* one BN call on a team: the chunk sums (phase 1), then a row pass (phase 2) */
typedef struct {
    const bb_bn *d;
    int64_t M, nchunks;
    const float *x, *dy, *save;
    const bb_bn_residual *r;  /* NULL: no residual */
    float *out;           /* forward: y; backward: dx */
    double *part;         /* (chunk, 2, C) */
    const float *k0, *k1;       /* the forward's row pass: y = x k0 + k1, from channel cs */
    const float *ka, *kb;       /* backward: the forward's y = x ka + kb, for the ReLU mask */
    int64_t cs, cc;             /* the row pass's channels [cs, cs + cc) */
    int relu, set;
    const float *cf;            /* backward: the dx pass's coefficients (CF_N x VW per VW channels) */
    float *g_out;               /* backward sums done ahead: g (dy after the ReLU's mask) stored here */
} bn_job;

static void chunk_rows(const bn_job *j, int64_t i, int64_t *r0, int64_t *r1)
{
    long long lo, hi;
    bb_split_range(j->M, (int)j->nchunks, (int)i, &lo, &hi);
    *r0 = lo;
    *r1 = hi;
}

static void moments_chunks(void *arg, int64_t lo, int64_t hi, int t)
{
    const bn_job *j = arg;
    int64_t C = j->d->c;
    for (int64_t i = lo; i < hi; i++) {
        int64_t r0, r1;
        chunk_rows(j, i, &r0, &r1);
        double *s1 = j->part + 2 * i * C, *s2 = s1 + C;
        for (int64_t c0 = 0; c0 < C; c0 += 2 * VW) {
            if (c0 + 2 * VW <= C) moments_vf(r1 - r0, C, j->x + r0 * C, j->x, c0, 2, s1 + c0, s2 + c0);
            else moments_vf(r1 - r0, C, j->x + r0 * C, j->x, c0, 1, s1 + c0, s2 + c0);
        }
    }
}

static void grad_sum_chunks(void *arg, int64_t lo, int64_t hi, int t)
{
    const bn_job *j = arg;
    int64_t C = j->d->c;
    const float *mean = j->save, *invstd = j->save + C;
    for (int64_t i = lo; i < hi; i++) {
        int64_t r0, r1;
        chunk_rows(j, i, &r0, &r1);
        double *sdy = j->part + 2 * i * C, *sdyx = sdy + C;
        const float *x = j->x + r0 * C, *y = j->r ? j->r->y + r0 * C : NULL, *dy = j->dy + r0 * C;
        float *g_out = j->g_out ? j->g_out + r0 * C : NULL;
        for (int64_t c0 = 0; c0 < C; c0 += 2 * VW) {
            if (c0 + 2 * VW <= C)
                grad_sums_vf(r1 - r0, C, x, y, dy, c0, 2, j->relu, mean, invstd, j->ka, j->kb, g_out, sdy + c0,
                             sdyx + c0);
            else
                grad_sums_vf(r1 - r0, C, x, y, dy, c0, 1, j->relu, mean, invstd, j->ka, j->kb, g_out, sdy + c0,
                             sdyx + c0);
        }
    }
}

/* the chunks' sums of channel c, added in chunk order */
static void chunk_total(const bn_job *j, int64_t c, double *s1, double *s2)
{
    int64_t C = j->d->c;
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < j->nchunks; i++) {
        a += j->part[2 * i * C + c];
        b += j->part[(2 * i + 1) * C + c];
    }
    *s1 = a;
    *s2 = b;
}

/* rows [lo, hi): y = x * k0 + k1 (+ res) per channel (then max(0, .)); the
 * job's fields are read once, since the stores could alias them */
/* x a + b on VW channels, the training forward's output before its ReLU */
static inline vf affine_vf(const float *x, const float *a, const float *b)
{
    return vf_fma(vf_load(x), vf_load(a), vf_load(b));
}

static void affine_rows(void *arg, int64_t lo, int64_t hi, int t)
{
    const bn_job *j = arg;
    const int64_t C = j->d->c, cc = j->cc;
    const float *x = j->x + j->cs, *res = j->r ? j->r->res + j->cs : NULL, *k0 = j->k0, *k1 = j->k1;
    float *out = j->out + j->cs;
    const int relu = j->relu;
    for (int64_t i = lo; i < hi; i++)
        for (int64_t c = 0; c < cc; c += VW) {
            READ_AHEAD(x + i * C + c);
            if (res) READ_AHEAD(res + i * C + c);
            vf v = affine_vf(x + i * C + c, k0 + c, k1 + c);
            if (res) v = vf_add(v, vf_load(res + i * C + c));
            vf_store(out + i * C + c, relu ? vf_relu(v) : v);
        }
}

/* rows [lo, hi): dx (+)= k0 * (g - k1 - xhat * k2); dres (+)= g; RELU and
 * RES (a residual: the mask from its output y, dres wanted) constant */
static inline __attribute__((always_inline)) void dx_pass(const bn_job *j, int64_t lo, int64_t hi, const int RELU,
                                                          const int RES)
{
    const int64_t C = j->d->c;
    const float *x = j->x, *y = RES ? j->r->y : NULL, *dy = j->dy, *cf = j->cf;
    float *dx = j->out, *dres = RES ? j->r->dres : NULL;
    const int set = j->set, set_dres = RES ? j->r->set_dres : 0;
    for (int64_t i = lo; i < hi; i++)
        for (int64_t c = 0; c < C; c += VW) {
            int64_t o = i * C + c;
            const float *k = cf + c * CF_N;
            READ_AHEAD(x + o);
            READ_AHEAD(dy + o);
            if (RES && RELU) READ_AHEAD(y + o);  /* y is read for the mask alone */
            vf xv = vf_load(x + o), gv = vf_load(dy + o);
            if (RELU) gv = relu_grad(y ? y + o : NULL, xv, vf_load(k + VW * CF_KA), vf_load(k + VW * CF_KB), gv);
            if (RES && dres) vf_store(dres + o, set_dres ? gv : vf_add(vf_load(dres + o), gv));
            if (!dx) continue;
            vf xh = vf_mul(vf_sub(xv, vf_load(k + VW * CF_MEAN)), vf_load(k + VW * CF_INVSTD));
            vf q = vf_sub(vf_sub(gv, vf_load(k + VW * CF_K1)), vf_mul(xh, vf_load(k + VW * CF_K2)));
            vf k0 = vf_load(k + VW * CF_K0);
            vf_store(dx + o, set ? vf_mul(k0, q) : vf_fma(k0, q, vf_load(dx + o)));
        }
}

static void dx_rows(void *arg, int64_t lo, int64_t hi, int t)
{
    const bn_job *j = arg;
    if (j->r && j->relu) dx_pass(j, lo, hi, 1, 1);
    else if (j->r) dx_pass(j, lo, hi, 0, 1);
    else if (j->relu) dx_pass(j, lo, hi, 1, 0);
    else dx_pass(j, lo, hi, 0, 0);
}

#define ROW_ALIGN 8      /* rows per unit of a team's row ranges */
#define EVAL_CHUNK 512   /* channels whose evaluation coefficients live on the stack */

/* ---- entry points: vectors when the channels are a multiple of VW, else the
 * generic loops (on the calling thread alone) ---- */

void bb_bn_nhwc_forward_train(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                              const bb_bn_residual *r, float *y, float *save, float *stats, int relu,
                              const double *sums, float *ws, bb_pool *team)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_forward_train, d->c,
                        (d, n, x, gamma, beta, r, y, save, stats, relu, sums, ws, team));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_forward_train, (d, n, x, gamma, beta, r, y, save, stats, relu, sums, ws, team));
    if (d->c % VW != 0) { bn_train_generic(d, n, x, gamma, beta, r, y, save, stats, relu); return; }
    int64_t C = d->c, M = n * d->hw;
    double m = (double)M;
    bn_job j = {d, M, bn_chunks(M), x, NULL, NULL, r, y, (double *)ws, NULL, NULL, NULL, NULL, 0, C, relu, 0, NULL,
                NULL};
    float *a = ws + 4 * j.nchunks * C, *b = a + C;
    if (sums) j.part = (double *)sums;
    else bb_pool_for(team, j.nchunks, 1, moments_chunks, &j);
    for (int64_t c = 0; c < C; c++) {
        double s1, s2;
        chunk_total(&j, c, &s1, &s2);
        double mean = (double)x[c] + s1 / m;
        double sq = fmax(s2 - s1 * s1 / m, 0.0);  /* sum of squares about the mean */
        float invstd = (float)(1.0 / sqrt(sq / m + d->eps));
        save[c] = (float)mean;
        save[C + c] = invstd;
        if (stats) {
            stats[c] += (float)mean;
            stats[C + c] += (float)(m > 1 ? sq / (m - 1) : 0.0);
        }
        train_affine(gamma[c], beta[c], save[c], invstd, &a[c], &b[c]);
    }
    if (!y) return;
    j.k0 = a;
    j.k1 = b;
    bb_pool_for(team, M, ROW_ALIGN, affine_rows, &j);
}

void bb_bn_nhwc_coefficients(const bb_bn *d, const float *gamma, const float *beta, const float *save,
                             const float *rmean, const float *rvar, float *a, float *b)
{
    for (int64_t c = 0; c < d->c; c++) {
        if (save) train_affine(gamma[c], beta[c], save[c], save[d->c + c], &a[c], &b[c]);
        else eval_affine(gamma[c], beta[c], rmean[c], rvar[c], d->eps, &a[c], &b[c]);
    }
}

void bb_bn_nhwc_apply(int64_t pixels, int64_t c, const float *x, const float *a, const float *b, int relu, float *y)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_apply, c, (pixels, c, x, a, b, relu, y));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_apply, (pixels, c, x, a, b, relu, y));
    if (c % VW != 0) { affine_generic(pixels, c, 0, c, x, a, b, NULL, y, relu); return; }
    for (int64_t i = 0; i < pixels; i++)
        for (int64_t k = 0; k < c; k += VW) {
            vf v = affine_vf(x + i * c + k, a + k, b + k);
            vf_store(y + i * c + k, relu ? vf_relu(v) : v);
        }
}

void bb_bn_nhwc_forward_eval(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const bb_bn_residual *r, float *y, int relu,
                             bb_pool *team)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_forward_eval, d->c, (d, n, x, gamma, beta, rmean, rvar, r, y, relu, team));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_forward_eval, (d, n, x, gamma, beta, rmean, rvar, r, y, relu, team));
    if (d->c % VW != 0) { bn_eval_generic(d, n, x, gamma, beta, rmean, rvar, r, y, relu); return; }
    float a[EVAL_CHUNK], b[EVAL_CHUNK];
    for (int64_t cs = 0; cs < d->c; cs += EVAL_CHUNK) {
        int64_t cc = min64(EVAL_CHUNK, d->c - cs);
        for (int64_t c = 0; c < cc; c++) eval_affine(gamma[cs + c], beta[cs + c], rmean[cs + c], rvar[cs + c], d->eps, &a[c], &b[c]);
        bn_job j = {d, n * d->hw, 1, x, NULL, NULL, r, y, NULL, a, b, NULL, NULL, cs, cc, relu, 0, NULL, NULL};
        bb_pool_for(team, j.M, ROW_ALIGN, affine_rows, &j);
    }
}

size_t bb_bn_nhwc_sums_len(const bb_bn *d, int64_t n) { return (size_t)(2 * bn_chunks(n * d->hw) * d->c); }

int bb_bn_nhwc_sums_complete(const bb_bn_sums *s) { return s->next == bn_chunks(s->n * s->d->hw); }

void bb_bn_nhwc_moments(bb_bn_sums *s, int64_t rows)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_moments, s->d->c, (s, rows));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_moments, (s, rows));
    const bb_bn *d = s->d;
    if (d->c % VW != 0) return;
    int64_t M = s->n * d->hw;
    bn_job j = {d, M, bn_chunks(M), s->x, NULL, NULL, NULL, NULL, s->part, NULL, NULL, NULL, NULL, 0, d->c, 0, 0,
                NULL, NULL};
    for (; s->next < j.nchunks; s->next++) {
        int64_t r0, r1;
        chunk_rows(&j, s->next, &r0, &r1);
        if (r1 > rows) return;
        moments_chunks(&j, s->next, s->next + 1, 0);
    }
}

void bb_bn_nhwc_grad_sums(bb_bn_sums *s, int64_t rows)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_grad_sums, s->d->c, (s, rows));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_grad_sums, (s, rows));
    const bb_bn *d = s->d;
    if (d->c % VW != 0) return;
    int64_t C = d->c, M = s->n * d->hw;
    bb_bn_residual r = {NULL, s->y, NULL, 0};
    bn_job j = {d, M, bn_chunks(M), s->x, s->dy, s->save, s->y ? &r : NULL, NULL, s->part, NULL, NULL, s->ka, s->kb, 0,
                C, s->relu, 0, NULL, s->relu ? s->dy : NULL};
    for (; s->next < j.nchunks; s->next++) {
        int64_t r0, r1;
        chunk_rows(&j, s->next, &r0, &r1);
        if (r1 > rows) return;
        grad_sum_chunks(&j, s->next, s->next + 1, 0);
    }
}

/* dx = gamma*invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)), g = dy (masked by y > 0 after a fused ReLU) */
void bb_bn_nhwc_backward(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *save,
                         const float *beta, const bb_bn_residual *r, const float *dy, float *dx, int set_dx,
                         float *dgamma, float *dbeta, int relu, const double *sums, bb_bn_later *later, float *ws,
                         bb_pool *team)
{
    BB_AVX512_HAND_OVER(bb_bn_nhwc_backward, d->c,
                        (d, n, x, gamma, save, beta, r, dy, dx, set_dx, dgamma, dbeta, relu, sums, later, ws, team));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_backward,
                      (d, n, x, gamma, save, beta, r, dy, dx, set_dx, dgamma, dbeta, relu, sums, later, ws, team));
    if (later) later->done = n * d->hw;  /* until the pass is left to it below */
    if (d->c % VW != 0) {
        bn_backward_generic(d, n, x, gamma, save, beta, r, dy, dx, set_dx, dgamma, dbeta, relu);
        return;
    }
    int64_t C = d->c, M = n * d->hw;
    double m = (double)M;
    float *k = ws + 4 * bn_chunks(M) * C, *shift = k + C, *mdy = shift + C, *mdyx = mdy + C;
    for (int64_t c = 0; c < C; c++) train_affine(gamma[c], beta[c], save[c], save[C + c], &k[c], &shift[c]);
    bn_job j = {d, M, bn_chunks(M), x, dy, save, r, dx, (double *)ws, NULL, NULL, k, shift, 0, C, relu, set_dx, NULL,
                NULL};
    if (sums) j.part = (double *)sums;
    else bb_pool_for(team, j.nchunks, 1, grad_sum_chunks, &j);
    if (sums) j.relu = 0;  /* the sums done ahead left g in dy: the mask is applied */
    for (int64_t c = 0; c < C; c++) {
        double sdy, sdyx;
        chunk_total(&j, c, &sdy, &sdyx);
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        mdy[c] = (float)(sdy / m);
        mdyx[c] = (float)(sdyx / m);
    }
    if (!dx && !(r && r->dres)) return;
    float *cf = mdyx + C;
    for (int64_t c = 0; c < C; c++) {
        float *q = cf + (c / VW) * VW * CF_N + c % VW;
        float v[CF_N] = {[CF_KA] = k[c], [CF_KB] = shift[c], [CF_MEAN] = save[c], [CF_INVSTD] = save[C + c],
                         [CF_K0] = k[c], [CF_K1] = mdy[c], [CF_K2] = mdyx[c]};
        for (int e = 0; e < CF_N; e++) q[VW * e] = v[e];
    }
    if (later) {
        bb_bn_later z = {d, n, x, dy, dx, set_dx, j.relu, r != NULL, r ? *r : (bb_bn_residual){0}, later->cf, 0};
        memcpy(z.cf, cf, (size_t)(CF_N * C) * sizeof(float));
        *later = z;
        return;
    }
    j.cf = cf;
    bb_pool_for(team, M, ROW_ALIGN, dx_rows, &j);
}

size_t bb_bn_nhwc_later_len(const bb_bn *d) { return (size_t)(CF_N * d->c); }

void bb_bn_nhwc_dx_rows(bb_bn_later *s, int64_t rows)
{
    if (rows <= s->done) return;  /* also when the BN ran its pass itself (then done alone is set) */
    BB_AVX512_HAND_OVER(bb_bn_nhwc_dx_rows, s->d->c, (s, rows));
    BB_AVX2_HAND_OVER(bb_bn_nhwc_dx_rows, (s, rows));
    bn_job j = {s->d, s->n * s->d->hw, 0, s->x, s->dy, NULL, s->res ? &s->r : NULL, s->dx, NULL, NULL, NULL, NULL,
                NULL, 0, s->d->c, s->relu, s->set_dx, s->cf, NULL};
    dx_rows(&j, s->done, rows, 0);
    s->done = rows;
}

void bb_add_relu_forward(int64_t len, const float *a, const float *b, float *y)
{
    BB_AVX512_HAND_OVER(bb_add_relu_forward, 0, (len, a, b, y));
    BB_AVX2_HAND_OVER(bb_add_relu_forward, (len, a, b, y));
    int64_t i = 0;
    for (; i + VW <= len; i += VW) vf_store(y + i, vf_relu(vf_add(vf_load(a + i), vf_load(b + i))));
    for (; i < len; i++) { float v = a[i] + b[i]; y[i] = v > 0.0f ? v : 0.0f; }
}

/* da and db may be the same buffer (x + x): da is written first, then db adds */
void bb_add_relu_backward(int64_t len, const float *y, const float *dy, float *da, int set_da, float *db,
                          int set_db)
{
    BB_AVX512_HAND_OVER(bb_add_relu_backward, 0, (len, y, dy, da, set_da, db, set_db));
    BB_AVX2_HAND_OVER(bb_add_relu_backward, (len, y, dy, da, set_da, db, set_db));
    int64_t i = 0;
    if (da && db && da != db) {
        for (; i + VW <= len; i += VW) {
            vf g = vf_where_pos(vf_load(y + i), vf_load(dy + i));
            vf_store(da + i, set_da ? g : vf_add(vf_load(da + i), g));
            vf_store(db + i, set_db ? g : vf_add(vf_load(db + i), g));
        }
    }
    for (int64_t j = i; da && j < len; j++) da[j] = (set_da ? 0.0f : da[j]) + (y[j] > 0.0f ? dy[j] : 0.0f);
    for (int64_t j = i; db && j < len; j++) db[j] = (set_db ? 0.0f : db[j]) + (y[j] > 0.0f ? dy[j] : 0.0f);
}

/* argmax (n, oh, ow, c): the winner's pixel index iy * w + ix in its plane */
void bb_maxpool_nhwc_forward(const bb_maxpool *d, int64_t n, const float *x, float *y, int32_t *argmax)
{
    int64_t C = d->c;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                int64_t o = ((s * d->oh + oy) * d->ow + ox) * C;
                for (int64_t c = 0; c < C; c++) { y[o + c] = -FLT_MAX; argmax[o + c] = -1; }
                for (int64_t i = 0; i < d->k; i++) {
                    int64_t iy = oy * d->stride - d->pad + i;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int64_t j = 0; j < d->k; j++) {
                        int64_t ix = ox * d->stride - d->pad + j;
                        if (ix < 0 || ix >= d->w) continue;
                        const float *p = x + ((s * d->h + iy) * d->w + ix) * C;
                        int32_t idx = (int32_t)(iy * d->w + ix);
                        for (int64_t c = 0; c < C; c++)
                            if (argmax[o + c] < 0 || p[c] > y[o + c]) { y[o + c] = p[c]; argmax[o + c] = idx; }
                    }
                }
            }
}

void bb_maxpool_nhwc_backward(const bb_maxpool *d, int64_t n, const int32_t *argmax, const float *dy, float *dx)
{
    int64_t C = d->c, ohw = d->oh * d->ow;
    for (int64_t s = 0; s < n; s++)
        for (int64_t q = 0; q < ohw; q++) {
            int64_t o = (s * ohw + q) * C;
            for (int64_t c = 0; c < C; c++) dx[(s * d->h * d->w + argmax[o + c]) * C + c] += dy[o + c];
        }
}

/* the same order of additions as the reference: pixel by pixel, then / hw */
void bb_avgpool_nhwc_forward(int64_t n, int64_t c, int64_t hw, const float *x, float *y)
{
    for (int64_t s = 0; s < n; s++) {
        float *q = y + s * c;
        for (int64_t j = 0; j < c; j++) q[j] = 0.0f;
        for (int64_t i = 0; i < hw; i++) {
            const float *p = x + (s * hw + i) * c;
            for (int64_t j = 0; j < c; j++) q[j] += p[j];
        }
        for (int64_t j = 0; j < c; j++) q[j] /= (float)hw;
    }
}

void bb_avgpool_nhwc_backward(int64_t n, int64_t c, int64_t hw, const float *dy, float *dx)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < hw; i++) {
            float *q = dx + (s * hw + i) * c;
            for (int64_t j = 0; j < c; j++) q[j] += dy[s * c + j] / (float)hw;
        }
}

void bb_padshort_nhwc_forward(const bb_padshort *d, int64_t n, const float *x, float *y)
{
    int64_t lo = (d->cout - d->cin) / 2;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                float *q = y + ((s * d->oh + oy) * d->ow + ox) * d->cout;
                const float *p = x + ((s * d->h + oy * d->stride) * d->w + ox * d->stride) * d->cin;
                memset(q, 0, (size_t)lo * sizeof *q);
                memcpy(q + lo, p, (size_t)d->cin * sizeof *q);
                memset(q + lo + d->cin, 0, (size_t)(d->cout - lo - d->cin) * sizeof *q);
            }
}

void bb_padshort_nhwc_backward(const bb_padshort *d, int64_t n, const float *dy, float *dx)
{
    int64_t lo = (d->cout - d->cin) / 2;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                const float *q = dy + ((s * d->oh + oy) * d->ow + ox) * d->cout + lo;
                float *p = dx + ((s * d->h + oy * d->stride) * d->w + ox * d->stride) * d->cin;
                for (int64_t c = 0; c < d->cin; c++) p[c] += q[c];
            }
}

void bb_nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float *src, float *dst)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = 0; i < hw; i++) dst[(s * hw + i) * c + j] = src[(s * c + j) * hw + i];
}

void bb_nhwc_to_nchw(int64_t n, int64_t c, int64_t hw, const float *src, float *dst)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = 0; i < hw; i++) dst[(s * c + j) * hw + i] = src[(s * hw + i) * c + j];
}

void bb_nhwc_to_nchw_add(int64_t n, int64_t c, int64_t hw, const float *src, float *dst)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = 0; i < hw; i++) dst[(s * c + j) * hw + i] += src[(s * hw + i) * c + j];
}

void bb_nchw_to_nhwc_add(int64_t n, int64_t c, int64_t hw, const float *src, float *dst)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = 0; i < hw; i++) dst[(s * hw + i) * c + j] += src[(s * c + j) * hw + i];
}
