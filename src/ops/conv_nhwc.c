/* Direct channels-last convolution on the register tiles of ukernel.h.
 * Forward and the stride-1 backward-data are one gather routine (backward-data
 * convolves the padded dy with the flipped, transposed weights); strided
 * backward-data scatters each output pixel's contribution tap by tap; the
 * weight gradient reduces over output pixels in fixed blocks. Inputs are copied
 * into a zero-padded buffer first, so no tile ever tests bounds. */
#include "ops/nhwc.h"

#include <string.h>

#ifndef PIX_BLOCK
#define PIX_BLOCK 256  /* output pixels per block: the block's outputs stay in L2 */
#endif
#ifndef K_BLOCK
#define K_BLOCK 288    /* reduction rows per block: a 16-column weight panel stays in L1 */
#endif
#ifndef COL_BLOCK
#define COL_BLOCK 16   /* output columns per tile */
#endif

static int64_t round8(int64_t x) { return (x + 7) & ~(int64_t)7; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Workspace carving: the same calls size the workspace (base NULL) and cut it. */
typedef struct { float *base; size_t used; } arena;

static void *take(arena *a, size_t floats)
{
    void *p = a->base ? (void *)(a->base + a->used) : NULL;
    a->used += (floats + 15) & ~(size_t)15;
    return p;
}

typedef struct {
    float *xpad, *wpk, *dwp, *dyp, *dxpad, *wq;
    int64_t *tab, *pofs, *tab2;
} parts;

static int needs_pad(const bb_conv2d *d) { return d->pad > 0; }
/* stride-1 backward-data is a forward convolution of dy padded by k-1-pad */
static int gather_dx(const bb_conv2d *d) { return d->stride == 1 && d->pad <= d->kh - 1 && d->pad <= d->kw - 1; }

static size_t padded_len(const bb_conv2d *d, int64_t n)
{
    return (size_t)(n * (d->h + 2 * d->pad) * (d->w + 2 * d->pad) * d->cin);
}

static parts carve(const bb_conv2d *d, int64_t n, int backward, arena *a)
{
    parts p;
    memset(&p, 0, sizeof p);
    int64_t taps = d->kh * d->kw, K = taps * d->cin;
    if (needs_pad(d)) p.xpad = take(a, padded_len(d, n));
    p.pofs = take(a, 2 * PIX_BLOCK);
    p.tab = take(a, 2 * (size_t)K);
    if (!backward) {
        p.wpk = take(a, (size_t)(K * round8(d->cout)));
        return p;
    }
    p.dwp = take(a, (size_t)(K * round8(d->cout)));
    if (gather_dx(d)) {
        int64_t ph = d->kh - 1 - d->pad, pw = d->kw - 1 - d->pad;
        if (ph > 0 || pw > 0) p.dyp = take(a, (size_t)(n * (d->oh + 2 * ph) * (d->ow + 2 * pw) * d->cout));
        p.wq = take(a, (size_t)(taps * d->cout * round8(d->cin)));
        p.tab2 = take(a, 2 * (size_t)(taps * d->cout));
    } else {
        p.dxpad = take(a, padded_len(d, n));
        p.wq = take(a, (size_t)(taps * d->cout * round8(d->cin)));
        p.tab2 = take(a, 2 * (size_t)d->cout);
    }
    return p;
}

size_t bb_conv2d_nhwc_workspace(const bb_conv2d *d, int64_t n)
{
    arena f = {NULL, 0}, b = {NULL, 0};
    carve(d, n, 0, &f);
    carve(d, n, 1, &b);
    return f.used > b.used ? f.used : b.used;
}

/* xp (n, h + top + bottom, w + left + right, c) = x with zero borders */
static void pad_copy(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left,
                     int64_t hp, int64_t wp, float *xp)
{
    size_t row = (size_t)(w * c), prow = (size_t)(wp * c);
    for (int64_t s = 0; s < n; s++) {
        float *ps = xp + s * hp * wp * c;
        memset(ps, 0, (size_t)top * prow * sizeof(float));
        for (int64_t y = 0; y < h; y++) {
            float *pr = ps + (top + y) * wp * c;
            memset(pr, 0, (size_t)(left * c) * sizeof(float));
            memcpy(pr + left * c, x + (s * h + y) * w * c, row * sizeof(float));
            memset(pr + (left + w) * c, 0, (prow - row - (size_t)(left * c)) * sizeof(float));
        }
        memset(ps + (top + h) * wp * c, 0, (size_t)(hp - top - h) * prow * sizeof(float));
    }
}

/* ---- the gather: y (n, oh, ow, cout) (+)= sum over K rows of x_pad . wpk ---- */
typedef struct {
    const float *x;           /* padded input (n, hp, wp, c) */
    int64_t hp, wp, c;
    int64_t oh, ow, stride;
    int64_t K;                /* reduction rows (tap, channel) */
    const int64_t *acol;      /* their offsets from a window's origin */
    const float *wpk;         /* (K, ldw) */
    int64_t ldw, cout;
    float *y;
    int accumulate;
    int64_t *pofs;            /* PIX_BLOCK scratch: window origins */
} gather_args;

static void window_origins(int64_t p0, int64_t pe, int64_t oh, int64_t ow, int64_t stride, int64_t hp, int64_t wp,
                           int64_t c, int64_t *out)
{
    int64_t ohw = oh * ow;
    for (int64_t p = p0; p < pe; p++) {
        int64_t s = p / ohw, q = p - s * ohw, oy = q / ow, ox = q - oy * ow;
        out[p - p0] = ((s * hp + oy * stride) * wp + ox * stride) * c;
    }
}

static void gather(const gather_args *g, int64_t n, bb_uk_variant v)
{
    int64_t npix = n * g->oh * g->ow;
    int64_t nkb = (g->K + K_BLOCK - 1) / K_BLOCK, kc = (g->K + nkb - 1) / nkb;
    bb_uk_args u;
    u.ldb = g->ldw;
    for (int64_t p0 = 0; p0 < npix; p0 += PIX_BLOCK) {
        int64_t pe = min64(npix, p0 + PIX_BLOCK);
        window_origins(p0, pe, g->oh, g->ow, g->stride, g->hp, g->wp, g->c, g->pofs);
        for (int64_t k0 = 0; k0 < g->K; k0 += kc) {
            u.k = min64(kc, g->K - k0);
            u.acol = g->acol + k0;
            u.accumulate = g->accumulate || k0 > 0;
            for (int64_t c0 = 0; c0 < g->cout; c0 += COL_BLOCK) {
                u.nc = (int)min64(COL_BLOCK, g->cout - c0);
                u.b = g->wpk + k0 * g->ldw + c0;
                int R = bb_uk_max_rows(v, u.nc);
                for (int64_t t = p0; t < pe; t += R) {
                    u.rows = (int)min64(R, pe - t);
                    for (int r = 0; r < u.rows; r++) {
                        u.a[r] = g->x + g->pofs[t - p0 + r];
                        u.c[r] = g->y + (t + r) * g->cout + c0;
                    }
                    bb_uk_run(v, &u);
                }
            }
        }
    }
}

void bb_conv2d_nhwc_forward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x, const float *w,
                            float *y, float *ws)
{
    arena a = {ws, 0};
    parts p = carve(d, n, 0, &a);
    int64_t hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad, ldw = round8(d->cout);
    int64_t taps = d->kh * d->kw, K = taps * d->cin;
    const float *xp = x;
    if (needs_pad(d)) { pad_copy(x, n, d->h, d->w, d->cin, d->pad, d->pad, hp, wp, p.xpad); xp = p.xpad; }
    /* wpk (tap, ci, co) = w (co, ci, tap) */
    for (int64_t t = 0; t < taps; t++)
        for (int64_t ci = 0; ci < d->cin; ci++) {
            float *row = p.wpk + (t * d->cin + ci) * ldw;
            for (int64_t co = 0; co < d->cout; co++) row[co] = w[(co * d->cin + ci) * taps + t];
            for (int64_t co = d->cout; co < ldw; co++) row[co] = 0.0f;
            p.tab[t * d->cin + ci] = ((t / d->kw) * wp + t % d->kw) * d->cin + ci;
        }
    gather_args g = {xp, hp, wp, d->cin, d->oh, d->ow, d->stride, K, p.tab, p.wpk, ldw, d->cout, y, 0, p.pofs};
    gather(&g, n, v);
}

/* dwp (K, ldw) += sum over output pixels of x_pad (window row) (x) dy (pixel) */
static void weight_grad(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *xp, const float *dy,
                        const parts *p, float *dw)
{
    int64_t hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad, ldw = round8(d->cout);
    int64_t taps = d->kh * d->kw, K = taps * d->cin, npix = n * d->oh * d->ow;
    memset(p->dwp, 0, (size_t)(K * ldw) * sizeof(float));
    for (int64_t t = 0; t < taps; t++)
        for (int64_t ci = 0; ci < d->cin; ci++) p->tab[t * d->cin + ci] = ((t / d->kw) * wp + t % d->kw) * d->cin + ci;
    bb_uk_args u;
    u.ldb = d->cout;
    u.acol = p->pofs;
    u.accumulate = 1;
    for (int64_t p0 = 0; p0 < npix; p0 += PIX_BLOCK) {
        int64_t pe = min64(npix, p0 + PIX_BLOCK);
        window_origins(p0, pe, d->oh, d->ow, d->stride, hp, wp, d->cin, p->pofs);
        u.k = pe - p0;
        for (int64_t c0 = 0; c0 < d->cout; c0 += COL_BLOCK) {
            u.nc = (int)min64(COL_BLOCK, d->cout - c0);
            u.b = dy + p0 * d->cout + c0;
            int R = bb_uk_max_rows(v, u.nc);
            for (int64_t r0 = 0; r0 < K; r0 += R) {
                u.rows = (int)min64(R, K - r0);
                for (int r = 0; r < u.rows; r++) {
                    u.a[r] = xp + p->tab[r0 + r];
                    u.c[r] = p->dwp + (r0 + r) * ldw + c0;
                }
                bb_uk_run(v, &u);
            }
        }
    }
    for (int64_t co = 0; co < d->cout; co++)
        for (int64_t ci = 0; ci < d->cin; ci++)
            for (int64_t t = 0; t < taps; t++) dw[(co * d->cin + ci) * taps + t] += p->dwp[(t * d->cin + ci) * ldw + co];
}

/* stride 1: dx += conv(dy padded by k-1-pad, w flipped with cin and cout swapped) */
static void data_grad_gather(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *w, const float *dy,
                             const parts *p, float *dx, int set)
{
    int64_t ph = d->kh - 1 - d->pad, pw = d->kw - 1 - d->pad;
    int64_t hq = d->oh + 2 * ph, wq = d->ow + 2 * pw, ldw = round8(d->cin);
    int64_t taps = d->kh * d->kw;
    const float *dyp = dy;
    if (ph > 0 || pw > 0) { pad_copy(dy, n, d->oh, d->ow, d->cout, ph, pw, hq, wq, p->dyp); dyp = p->dyp; }
    /* wq (tap', co, ci) = w (co, ci, flipped tap') */
    for (int64_t t = 0; t < taps; t++) {
        int64_t ki = t / d->kw, kj = t % d->kw, flip = (d->kh - 1 - ki) * d->kw + (d->kw - 1 - kj);
        for (int64_t co = 0; co < d->cout; co++) {
            float *row = p->wq + (t * d->cout + co) * ldw;
            for (int64_t ci = 0; ci < d->cin; ci++) row[ci] = w[(co * d->cin + ci) * taps + flip];
            for (int64_t ci = d->cin; ci < ldw; ci++) row[ci] = 0.0f;
            p->tab2[t * d->cout + co] = (ki * wq + kj) * d->cout + co;
        }
    }
    gather_args g = {dyp, hq, wq, d->cout, d->h, d->w, 1, taps * d->cout, p->tab2, p->wq, ldw, d->cin, dx, !set, p->pofs};
    gather(&g, n, v);
}

/* any stride: every dy pixel adds dy . w_tap into its window of a padded dx */
static void data_grad_scatter(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *w, const float *dy,
                              const parts *p, float *dx, int set)
{
    int64_t hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad, ldw = round8(d->cin);
    int64_t taps = d->kh * d->kw, npix = n * d->oh * d->ow;
    memset(p->dxpad, 0, padded_len(d, n) * sizeof(float));
    for (int64_t t = 0; t < taps; t++)
        for (int64_t co = 0; co < d->cout; co++) {
            float *row = p->wq + (t * d->cout + co) * ldw;
            for (int64_t ci = 0; ci < d->cin; ci++) row[ci] = w[(co * d->cin + ci) * taps + t];
            for (int64_t ci = d->cin; ci < ldw; ci++) row[ci] = 0.0f;
        }
    for (int64_t co = 0; co < d->cout; co++) p->tab2[co] = co;
    bb_uk_args u;
    u.k = d->cout;
    u.acol = p->tab2;
    u.ldb = ldw;
    u.accumulate = 1;
    int R = bb_uk_max_rows(v, (int)min64(COL_BLOCK, d->cin));
    for (int64_t p0 = 0; p0 < npix; p0 += R) {
        int64_t pe = min64(npix, p0 + R);
        window_origins(p0, pe, d->oh, d->ow, d->stride, hp, wp, d->cin, p->pofs);
        u.rows = (int)(pe - p0);
        for (int r = 0; r < u.rows; r++) u.a[r] = dy + (p0 + r) * d->cout;
        for (int64_t t = 0; t < taps; t++) {
            int64_t toff = ((t / d->kw) * wp + t % d->kw) * d->cin;
            for (int64_t c0 = 0; c0 < d->cin; c0 += COL_BLOCK) {
                u.nc = (int)min64(COL_BLOCK, d->cin - c0);
                u.b = p->wq + t * d->cout * ldw + c0;
                for (int r = 0; r < u.rows; r++) u.c[r] = p->dxpad + p->pofs[r] + toff + c0;
                bb_uk_run(v, &u);
            }
        }
    }
    for (int64_t s = 0; s < n; s++)
        for (int64_t y = 0; y < d->h; y++) {
            const float *src = p->dxpad + ((s * hp + y + d->pad) * wp + d->pad) * d->cin;
            float *dst = dx + (s * d->h + y) * d->w * d->cin;
            if (set) memcpy(dst, src, (size_t)(d->w * d->cin) * sizeof(float));
            else for (int64_t i = 0; i < d->w * d->cin; i++) dst[i] += src[i];
        }
}

void bb_conv2d_nhwc_backward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x, const float *w,
                             const float *dy, float *dx, int set_dx, float *dw, float *ws)
{
    arena a = {ws, 0};
    parts p = carve(d, n, 1, &a);
    int64_t hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad;
    const float *xp = x;
    if (dw && needs_pad(d)) { pad_copy(x, n, d->h, d->w, d->cin, d->pad, d->pad, hp, wp, p.xpad); xp = p.xpad; }
    if (dw) weight_grad(d, v, n, xp, dy, &p, dw);
    if (!dx) return;
    if (gather_dx(d)) data_grad_gather(d, v, n, w, dy, &p, dx, set_dx);
    else data_grad_scatter(d, v, n, w, dy, &p, dx, set_dx);
}
