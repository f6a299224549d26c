/* Direct channels-last convolution on the register tiles of ukernel.h.
 * Output pixels go in blocks (whole images, or bands of rows of one image);
 * each block first copies the input rows its windows read into a small
 * zero-padded buffer that stays in cache, so no tile tests bounds and no
 * tensor-sized padded copy is written and read back. Forward and stride-1
 * backward-data are one gather (backward-data convolves dy with the flipped,
 * transposed weights); strided backward-data scatters each output pixel's
 * contribution tap by tap into a padded dx; the weight gradient reduces over
 * the same pixel blocks as the forward. */
#include "ops/nhwc.h"

#include <string.h>

#define PIX_BLOCK 256  /* output pixels per block: a block's outputs and input band stay in L2 */
#define K_BLOCK 288    /* reduction rows per pass: a 16-column weight panel stays in L1 */

static int64_t round8(int64_t x) { return (x + 7) & ~(int64_t)7; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- a sweep: a kh x kw window at stride st over an input (n, h, w, c) with
 * pt rows and pl columns of zeros before it, giving (n, oh, ow) outputs ---- */
typedef struct {
    int64_t n, h, w, c, kh, kw, st, pt, pl, oh, ow;
    int direct;         /* every window inside the input: read it in place, no band */
    int64_t wp;         /* buffer row length in pixels */
    int64_t imgs_blk;   /* images per block (whole-image blocks) */
    int64_t rows_blk;   /* output rows per block (= oh for whole-image blocks) */
    int64_t band_rows;  /* most input rows one image of a block needs */
} sweep;

static sweep make_sweep(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t st, int64_t pt,
                        int64_t pl, int64_t oh, int64_t ow)
{
    sweep g = {n, h, w, c, kh, kw, st, pt, pl, oh, ow, 0, 0, 0, 0, 0};
    g.direct = pt == 0 && pl == 0 && (oh - 1) * st + kh <= h && (ow - 1) * st + kw <= w;
    g.wp = g.direct ? w : (ow - 1) * st + kw;
    if (oh * ow <= PIX_BLOCK) {
        g.imgs_blk = PIX_BLOCK / (oh * ow);
        g.rows_blk = oh;
    } else {
        g.imgs_blk = 1;
        g.rows_blk = max64(1, PIX_BLOCK / ow);
    }
    g.band_rows = (g.rows_blk - 1) * st + kh;
    return g;
}

static size_t band_floats(const sweep *g) { return g->direct ? 0 : (size_t)(g->imgs_blk * g->band_rows * g->wp * g->c); }
static int64_t block_pixels(const sweep *g) { return g->imgs_blk * g->rows_blk * g->ow; }

typedef struct { int64_t s0, ns, oy0, nr, p0, np; } block;  /* images, output rows, output pixels */

static int64_t nblocks(const sweep *g)
{
    if (g->rows_blk == g->oh) return (g->n + g->imgs_blk - 1) / g->imgs_blk;
    return g->n * ((g->oh + g->rows_blk - 1) / g->rows_blk);
}

static block block_at(const sweep *g, int64_t i)
{
    block b;
    if (g->rows_blk == g->oh) {
        b.s0 = i * g->imgs_blk;
        b.ns = min64(g->imgs_blk, g->n - b.s0);
        b.oy0 = 0;
        b.nr = g->oh;
    } else {
        int64_t per = (g->oh + g->rows_blk - 1) / g->rows_blk;
        b.s0 = i / per;
        b.ns = 1;
        b.oy0 = (i % per) * g->rows_blk;
        b.nr = min64(g->rows_blk, g->oh - b.oy0);
    }
    b.p0 = (b.s0 * g->oh + b.oy0) * g->ow;
    b.np = b.ns * b.nr * g->ow;
    return b;
}

/* Copies the block's input rows (zero padded) into band, unless the sweep
 * reads in place; fills origins[i] with the offset of output pixel p0 + i's
 * window from the returned base. */
static const float *prepare_block(const sweep *g, const float *x, const block *b, float *band, int64_t *origins)
{
    int64_t rows = g->direct ? g->h : (b->nr - 1) * g->st + g->kh;  /* input rows per image in the buffer */
    int64_t row0 = g->direct ? b->oy0 * g->st : 0;                   /* the block's first window row there */
    const float *base = x + b->s0 * g->h * g->w * g->c;
    if (!g->direct) {
        int64_t ncol = min64(g->w, g->wp - g->pl), c = g->c;
        for (int64_t j = 0; j < b->ns; j++)
            for (int64_t r = 0; r < rows; r++) {
                int64_t iy = b->oy0 * g->st - g->pt + r;
                float *dst = band + (j * rows + r) * g->wp * c;
                if (iy < 0 || iy >= g->h) { memset(dst, 0, (size_t)(g->wp * c) * sizeof(float)); continue; }
                memset(dst, 0, (size_t)(g->pl * c) * sizeof(float));
                memcpy(dst + g->pl * c, base + (j * g->h + iy) * g->w * c, (size_t)(ncol * c) * sizeof(float));
                memset(dst + (g->pl + ncol) * c, 0, (size_t)((g->wp - g->pl - ncol) * c) * sizeof(float));
            }
        base = band;
    }
    int64_t i = 0;
    for (int64_t j = 0; j < b->ns; j++)
        for (int64_t oy = 0; oy < b->nr; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++)
                origins[i++] = ((j * rows + row0 + oy * g->st) * g->wp + ox * g->st) * g->c;
    return base;
}

/* offsets of the (tap, channel) rows of a window from its origin */
static void tap_offsets(const sweep *g, int64_t *tab)
{
    for (int64_t t = 0; t < g->kh * g->kw; t++)
        for (int64_t ci = 0; ci < g->c; ci++) tab[t * g->c + ci] = ((t / g->kw) * g->wp + t % g->kw) * g->c + ci;
}

/* ---- workspace: the same carving sizes it (base NULL) and cuts it ---- */
typedef struct { float *base; size_t used; } arena;

static void *take(arena *a, size_t floats)
{
    void *p = a->base ? (void *)(a->base + a->used) : NULL;
    a->used += (floats + 15) & ~(size_t)15;
    return p;
}

typedef struct {
    float *band, *wpk, *dwp, *dxpad, *wq;
    int64_t *tab, *origins, *tab2;
} parts;

/* stride-1 backward-data is a forward convolution of dy padded by k-1-pad */
static int gather_dx(const bb_conv2d *d) { return d->stride == 1 && d->pad <= d->kh - 1 && d->pad <= d->kw - 1; }

static sweep forward_sweep(const bb_conv2d *d, int64_t n)
{
    return make_sweep(n, d->h, d->w, d->cin, d->kh, d->kw, d->stride, d->pad, d->pad, d->oh, d->ow);
}

static sweep dgrad_sweep(const bb_conv2d *d, int64_t n)
{
    return make_sweep(n, d->oh, d->ow, d->cout, d->kh, d->kw, 1, d->kh - 1 - d->pad, d->kw - 1 - d->pad, d->h, d->w);
}

static size_t padded_len(const bb_conv2d *d, int64_t n)
{
    return (size_t)(n * (d->h + 2 * d->pad) * (d->w + 2 * d->pad) * d->cin);
}

static parts carve(const bb_conv2d *d, int64_t n, int backward, arena *a)
{
    parts p;
    memset(&p, 0, sizeof p);
    int64_t taps = d->kh * d->kw, K = taps * d->cin;
    sweep f = forward_sweep(d, n);
    size_t band = band_floats(&f);
    int64_t pix = max64(block_pixels(&f), 16);
    if (backward && gather_dx(d)) {
        sweep b = dgrad_sweep(d, n);
        band = band > band_floats(&b) ? band : band_floats(&b);
        pix = max64(pix, block_pixels(&b));
    }
    p.band = take(a, band);
    p.origins = take(a, 2 * (size_t)pix);
    p.tab = take(a, 2 * (size_t)(backward ? max64(K, taps * d->cout) : K));  /* backward-data gathers over cout */
    if (!backward) {
        p.wpk = take(a, (size_t)(K * round8(d->cout)));
        return p;
    }
    p.dwp = take(a, (size_t)(K * round8(d->cout)));
    p.wq = take(a, (size_t)(taps * d->cout * round8(d->cin)));
    p.tab2 = take(a, 2 * (size_t)(taps * d->cout));
    if (!gather_dx(d)) p.dxpad = take(a, padded_len(d, n));
    return p;
}

size_t bb_conv2d_nhwc_workspace(const bb_conv2d *d, int64_t n)
{
    arena f = {NULL, 0}, b = {NULL, 0};
    carve(d, n, 0, &f);
    carve(d, n, 1, &b);
    return f.used > b.used ? f.used : b.used;
}

/* ---- the gather: y (n, oh, ow, cout) (+)= windows of x . wpk ((tap, c), ldw) ---- */
static void gather(const sweep *g, bb_uk_variant v, const float *x, const float *wpk, int64_t ldw, int64_t cout,
                   float *y, int accumulate, const parts *p)
{
    int64_t K = g->kh * g->kw * g->c, nkb = (K + K_BLOCK - 1) / K_BLOCK, kc = (K + nkb - 1) / nkb;
    tap_offsets(g, p->tab);
    bb_uk_args u;
    u.ldb = ldw;
    for (int64_t bi = 0; bi < nblocks(g); bi++) {
        block b = block_at(g, bi);
        const float *base = prepare_block(g, x, &b, p->band, p->origins);
        for (int64_t k0 = 0; k0 < K; k0 += kc) {
            u.k = min64(kc, K - k0);
            u.acol = p->tab + k0;
            u.accumulate = accumulate || k0 > 0;
            for (int64_t c0 = 0; c0 < cout; c0 += bb_uk_cols(v)) {
                u.nc = (int)min64(bb_uk_cols(v), cout - c0);
                u.b = wpk + k0 * ldw + c0;
                int R = bb_uk_max_rows(v, u.nc);
                for (int64_t t = 0; t < b.np; t += R) {
                    u.rows = (int)min64(R, b.np - t);
                    for (int r = 0; r < u.rows; r++) {
                        u.a[r] = base + p->origins[t + r];
                        u.c[r] = y + (b.p0 + t + r) * cout + c0;
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
    int64_t ldw = round8(d->cout), taps = d->kh * d->kw;
    /* wpk (tap, ci, co) = w (co, ci, tap) */
    for (int64_t t = 0; t < taps; t++)
        for (int64_t ci = 0; ci < d->cin; ci++) {
            float *row = p.wpk + (t * d->cin + ci) * ldw;
            for (int64_t co = 0; co < d->cout; co++) row[co] = w[(co * d->cin + ci) * taps + t];
            for (int64_t co = d->cout; co < ldw; co++) row[co] = 0.0f;
        }
    sweep g = forward_sweep(d, n);
    gather(&g, v, x, p.wpk, ldw, d->cout, y, 0, &p);
}

/* dw += sum over output pixels of window rows (x) dy, block by block */
static void weight_grad(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x, const float *dy,
                        const parts *p, float *dw)
{
    int64_t ldw = round8(d->cout), taps = d->kh * d->kw, K = taps * d->cin;
    sweep g = forward_sweep(d, n);
    memset(p->dwp, 0, (size_t)(K * ldw) * sizeof(float));
    tap_offsets(&g, p->tab);
    bb_uk_args u;
    u.ldb = d->cout;
    u.acol = p->origins;
    u.accumulate = 1;
    for (int64_t bi = 0; bi < nblocks(&g); bi++) {
        block b = block_at(&g, bi);
        const float *base = prepare_block(&g, x, &b, p->band, p->origins);
        u.k = b.np;
        for (int64_t c0 = 0; c0 < d->cout; c0 += bb_uk_cols(v)) {
            u.nc = (int)min64(bb_uk_cols(v), d->cout - c0);
            u.b = dy + b.p0 * d->cout + c0;
            int R = bb_uk_max_rows(v, u.nc);
            for (int64_t r0 = 0; r0 < K; r0 += R) {
                u.rows = (int)min64(R, K - r0);
                for (int r = 0; r < u.rows; r++) {
                    u.a[r] = base + p->tab[r0 + r];
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

/* stride 1: dx (+)= conv(dy padded by k-1-pad, w flipped with cin and cout swapped) */
static void data_grad_gather(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *w, const float *dy,
                             const parts *p, float *dx, int set)
{
    int64_t ldw = round8(d->cin), taps = d->kh * d->kw;
    /* wq (tap', co, ci) = w (co, ci, flipped tap') */
    for (int64_t t = 0; t < taps; t++) {
        int64_t flip = (d->kh - 1 - t / d->kw) * d->kw + (d->kw - 1 - t % d->kw);
        for (int64_t co = 0; co < d->cout; co++) {
            float *row = p->wq + (t * d->cout + co) * ldw;
            for (int64_t ci = 0; ci < d->cin; ci++) row[ci] = w[(co * d->cin + ci) * taps + flip];
            for (int64_t ci = d->cin; ci < ldw; ci++) row[ci] = 0.0f;
        }
    }
    sweep g = dgrad_sweep(d, n);
    gather(&g, v, dy, p->wq, ldw, d->cin, dx, !set, p);
}

/* any stride: every dy pixel adds dy . w_tap into its window of a padded dx */
static void data_grad_scatter(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *w, const float *dy,
                              const parts *p, float *dx, int set)
{
    int64_t hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad, ldw = round8(d->cin);
    int64_t taps = d->kh * d->kw, npix = n * d->oh * d->ow, ohw = d->oh * d->ow;
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
    int R = bb_uk_max_rows(v, (int)min64(bb_uk_cols(v), d->cin));
    int64_t origin[BB_UK_MAXR];
    for (int64_t p0 = 0; p0 < npix; p0 += R) {
        u.rows = (int)min64(R, npix - p0);
        for (int r = 0; r < u.rows; r++) {
            int64_t q = p0 + r, s = q / ohw, oy = (q % ohw) / d->ow, ox = q % d->ow;
            origin[r] = ((s * hp + oy * d->stride) * wp + ox * d->stride) * d->cin;
            u.a[r] = dy + q * d->cout;
        }
        for (int64_t t = 0; t < taps; t++) {
            int64_t toff = ((t / d->kw) * wp + t % d->kw) * d->cin;
            for (int64_t c0 = 0; c0 < d->cin; c0 += bb_uk_cols(v)) {
                u.nc = (int)min64(bb_uk_cols(v), d->cin - c0);
                u.b = p->wq + t * d->cout * ldw + c0;
                for (int r = 0; r < u.rows; r++) u.c[r] = p->dxpad + origin[r] + toff + c0;
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
    if (dw) weight_grad(d, v, n, x, dy, &p, dw);
    if (!dx) return;
    if (gather_dx(d)) data_grad_gather(d, v, n, w, dy, &p, dx, set_dx);
    else data_grad_scatter(d, v, n, w, dy, &p, dx, set_dx);
}
