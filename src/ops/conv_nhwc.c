/* Direct channels-last convolution on the register tiles of ukernel.h.
 * Output pixels go in blocks (whole images, or bands of rows of one image);
 * each block first copies the input rows its windows read into a small
 * zero-padded buffer that stays in cache, so no tile tests bounds and no
 * tensor-sized padded copy is written and read back. Forward and stride-1
 * backward-data are one gather (backward-data convolves dy with the flipped,
 * transposed weights); strided backward-data scatters each output pixel's
 * contribution tap by tap into dx; the weight gradient reduces over the
 * forward's pixel blocks (one image each where that leaves out padding rows;
 * in one or two parts, by the shapes). Products with the zero padding are
 * left out where whole runs of them line up (window rows, edge columns).
 * While a block's tiles run, the next block's input is prefetched into L2.
 * On one thread a stride-1 backward runs both gradients block by block, and
 * a caller may be told as rows of the output are final or before rows of dy
 * are read (bb_conv_rows: a batch norm's passes run there, in cache).
 * A team of threads shares one call by output pixel blocks (forward,
 * backward-data gather), images (backward-data scatter) or (part, rows) of
 * the weight gradient; no element's summation order depends on how the work
 * is split, so every team size gives the same bits. */
#include "ops/nhwc.h"

#include "util/pool.h"

#include <string.h>

#define PIX_BLOCK 256  /* output pixels per block: a block's outputs and input band stay in L2 */
#define K_PANEL 4608   /* floats of weights per reduction pass (18 KiB): the tiles' panel stays in L1 */

static int64_t round8(int64_t x) { return (x + 7) & ~(int64_t)7; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- packed weights: a (rows x cols) matrix as column panels of pw floats,
 * each panel rows x pw contiguous, pw = the widest tile's columns (at most
 * cols rounded up to 8). A tile's B rows are then pw floats apart: a row
 * stride of cols floats (4 KiB for 1024 columns) would map a panel's rows
 * onto a few L1 sets and evict it while the tile runs ---- */
static int64_t panel_width(bb_uk_variant v, int64_t cols) { return min64(bb_uk_cols(v), round8(cols)); }
/* floats of the packed matrix for any variant */
static size_t packed_floats(int64_t rows, int64_t cols) { return (size_t)(rows * (round8(cols) + BB_UK_MAXC)); }
static int64_t packed_at(int64_t rows, int64_t pw, int64_t row, int64_t col)
{
    return (col / pw) * rows * pw + row * pw + col % pw;
}
/* the packed row of (tap, channel) of kw-wide windows over chans channels:
 * tap-major, or for sliding tiles (ukernel.h) (window row, channel, column) */
static int64_t packed_row(int slide, int64_t kw, int64_t chans, int64_t tap, int64_t ch)
{
    return slide ? ((tap / kw) * chans + ch) * kw + tap % kw : tap * chans + ch;
}

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

/* min_blocks: fewer images per block until there are that many blocks, so
 * that a team's threads get even shares (pixel blocks never change the sums) */
static sweep make_sweep(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t st, int64_t pt,
                        int64_t pl, int64_t oh, int64_t ow, int64_t min_blocks)
{
    sweep g = {n, h, w, c, kh, kw, st, pt, pl, oh, ow, 0, 0, 0, 0, 0};
    g.direct = pt == 0 && pl == 0 && (oh - 1) * st + kh <= h && (ow - 1) * st + kw <= w;
    g.wp = g.direct ? w : (ow - 1) * st + kw;
    if (oh * ow <= PIX_BLOCK) {
        g.imgs_blk = PIX_BLOCK / (oh * ow);
        if (min_blocks > 1) g.imgs_blk = max64(1, min64(g.imgs_blk, n / min_blocks));
        g.rows_blk = oh;
    } else {
        int64_t most = max64(1, PIX_BLOCK / ow), nb = (oh + most - 1) / most;
        g.imgs_blk = 1;
        g.rows_blk = (oh + nb - 1) / nb;  /* even blocks: 28 rows as 4 x 7, not 3 x 9 + 1 */
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
 * reads in place, applying `in` to them (NULL: none; only with a band);
 * fills origins[i] with the offset of output pixel p0 + i's window from the
 * returned base. */
static const float *prepare_block(const sweep *g, const float *x, const bb_conv_input *in, const block *b,
                                  float *band, int64_t *origins)
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
                const float *src = base + (j * g->h + iy) * g->w * c;
                if (in) bb_bn_nhwc_apply(ncol, c, src, in->a, in->b, in->relu, dst + g->pl * c);
                else memcpy(dst + g->pl * c, src, (size_t)(ncol * c) * sizeof(float));
                memset(dst + (g->pl + ncol) * c, 0, (size_t)((g->wp - g->pl - ncol) * c) * sizeof(float));
            }
        base = band;
    }
    int64_t i = 0, ow = g->ow, step = g->st * g->c;  /* locals: the stores below could alias *g */
    for (int64_t j = 0; j < b->ns; j++)
        for (int64_t oy = 0; oy < b->nr; oy++) {
            int64_t o = (j * rows + row0 + oy * g->st) * g->wp * g->c;
            for (int64_t ox = 0; ox < ow; ox++, o += step) origins[i++] = o;
        }
    return base;
}

/* ---- reading ahead: while a block's tiles run, the input rows of the next
 * block are prefetched into L2 a few cache lines per tile, so that its band
 * copy (or its tiles, reading in place) finds them there rather than in
 * memory. The vector variants only: on the AVX-512 Xeon of
 * docs/PERFORMANCE.md it bought 0-2% of a ResNet-20 step, while the portable
 * tiles' forward ran 30% slower with it ---- */
typedef struct { const char *p, *end; int64_t per; } ahead;

static int reads_ahead(bb_uk_variant v) { return v != BB_UK_PORTABLE; }

/* block `next` of g's input in x (its windows' rows), spread over about
 * `steps` calls of ahead_step; nothing when next is past end or the variant
 * does not read ahead */
static ahead ahead_of(const sweep *g, const float *x, int64_t next, int64_t end, bb_uk_variant v, int64_t steps)
{
    ahead a = {NULL, NULL, 0};
    if (next >= end || !reads_ahead(v)) return a;
    block nb = block_at(g, next);
    int64_t img = g->h * g->w * g->c, row = g->w * g->c, lo, hi;
    if (g->rows_blk == g->oh) {
        lo = nb.s0 * img;
        hi = (nb.s0 + nb.ns) * img;
    } else {
        int64_t r0 = max64(0, nb.oy0 * g->st - g->pt), r1 = min64(g->h, (nb.oy0 + nb.nr - 1) * g->st - g->pt + g->kh);
        lo = nb.s0 * img + r0 * row;
        hi = nb.s0 * img + max64(r0, r1) * row;
    }
    a.p = (const char *)(x + lo);
    a.end = (const char *)(x + hi);
    a.per = ((hi - lo) / 16 + steps) / max64(steps, 1);  /* 16 floats a line */
    return a;
}

static void ahead_step(ahead *a)
{
    for (int64_t i = 0; i < a->per && a->p < a->end; i++, a->p += 64) __builtin_prefetch(a->p, 0, 2);
}

/* offsets of the (tap, channel) rows of a window from its origin; for
 * sliding tiles, of the (window row, channel) rows (the tile adds the taps) */
static void tap_offsets(const sweep *g, int slide, int64_t *tab)
{
    int64_t taps = slide ? g->kh : g->kh * g->kw, tw = slide ? 1 : g->kw;
    for (int64_t t = 0; t < taps; t++)
        for (int64_t ci = 0; ci < g->c; ci++) tab[t * g->c + ci] = ((t / tw) * g->wp + t % tw) * g->c + ci;
}

/* kw when a gather of this sweep into cols columns runs on sliding tiles
 * (stride 1, a width the variant has them for, one column block), else 0 */
static int slide_of(bb_uk_variant v, const sweep *g, int64_t cols)
{
    if (g->st != 1 || cols > bb_uk_cols(v)) return 0;
    return bb_uk_slide_rows(v, (int)cols, (int)g->kw) > 0 ? (int)g->kw : 0;
}

/* ---- workspace: the same carving sizes it (base NULL) and cuts it ---- */
typedef struct { float *base; size_t used; } arena;

static void *take(arena *a, size_t floats)
{
    void *p = a->base ? (void *)(a->base + a->used) : NULL;
    a->used += (floats + 15) & ~(size_t)15;
    return p;
}

/* shared buffers, then one band + origins slot per thread of the team */
typedef struct {
    float *wpk, *dwp, *wq;
    int64_t *tab, *tab2;
    float *slots;
    size_t slot_floats, band_len, panel_off, xt_off;
} parts;

static float *band_of(const parts *p, int t) { return p->slots + (size_t)t * p->slot_floats; }
static int64_t *origins_of(const parts *p, int t) { return (int64_t *)(band_of(p, t) + p->band_len); }
static float *panel_of(const parts *p, int t) { return band_of(p, t) + p->panel_off; }

/* The weight gradient reads dy's pixel rows as B, cout floats apart; from 2
 * KiB apart on (cout >= 512) a block's column panel is copied into the
 * thread's slot first, so that its rows stay in L1 (see packed_at). At 256
 * (1 KiB) the copy cost more than it saved (64x56x56 -> 256: 8% slower). */
static int dy_panels(const bb_conv2d *d) { return d->cout >= 512; }

/* ... and for a 1x1 convolution to as many channels, the input rows too: a
 * row's pixels are cin (or stride x cin) floats apart, one cache line each,
 * and re-read for every column block; XT_ROWS (tap, channel) rows of the block
 * are transposed into the slot once, pixels contiguous, and serve all the
 * column blocks */
#define XT_ROWS 96
static int x_transposed(const bb_conv2d *d) { return d->kh * d->kw == 1 && dy_panels(d); }

/* The weight gradient sums its pixel blocks in WG_PARTS parts (by the
 * shapes alone) when they are many, each part into its own buffer, added in
 * part order at the end: a team's threads then take whole parts and copy
 * each input band once, not once per thread. */
#define WG_PARTS 2
#define WG_PART_PIXELS 4096  /* least pixels for parts: the buffers' extra pass is then negligible */
static int64_t wg_parts(const bb_conv2d *d, int64_t n)
{
    return n * d->oh * d->ow >= WG_PART_PIXELS ? WG_PARTS : 1;
}

/* stride-1 backward-data is a forward convolution of dy padded by k-1-pad */
static int gather_dx(const bb_conv2d *d) { return d->stride == 1 && d->pad <= d->kh - 1 && d->pad <= d->kw - 1; }

static sweep forward_sweep(const bb_conv2d *d, int64_t n, int64_t min_blocks)
{
    return make_sweep(n, d->h, d->w, d->cin, d->kh, d->kw, d->stride, d->pad, d->pad, d->oh, d->ow, min_blocks);
}

static sweep dgrad_sweep(const bb_conv2d *d, int64_t n, int64_t min_blocks)
{
    return make_sweep(n, d->oh, d->ow, d->cout, d->kh, d->kw, 1, d->kh - 1 - d->pad, d->kw - 1 - d->pad, d->h, d->w,
                      min_blocks);
}

/* the gathers' blocks: four per thread when a team shares them */
static int64_t team_blocks(int threads) { return threads > 1 ? 4 * (int64_t)threads : 1; }

/* the slots are sized for single-thread blocks, the largest of any team size */
static parts carve(const bb_conv2d *d, int64_t n, int backward, int threads, arena *a)
{
    parts p;
    memset(&p, 0, sizeof p);
    int64_t taps = d->kh * d->kw, K = taps * d->cin;
    sweep f = forward_sweep(d, n, 1);
    size_t band = band_floats(&f);
    int64_t pix = max64(block_pixels(&f), 16);
    if (backward && gather_dx(d)) {
        sweep b = dgrad_sweep(d, n, 1);
        band = band > band_floats(&b) ? band : band_floats(&b);
        pix = max64(pix, block_pixels(&b));
    }
    if (backward && !gather_dx(d) && band < BB_UK_MAXR * BB_UK_MAXC)
        band = BB_UK_MAXR * BB_UK_MAXC;  /* the scatter's scratch rows */
    p.tab = take(a, 2 * (size_t)(backward ? max64(K, taps * d->cout) : K));  /* backward-data gathers over cout */
    if (!backward) {
        p.wpk = take(a, packed_floats(K, d->cout));
    } else {
        p.dwp = take(a, (size_t)(wg_parts(d, n) * K * round8(d->cout)));
        p.wq = take(a, packed_floats(taps * d->cout, d->cin));
        p.tab2 = take(a, 2 * (size_t)(taps * d->cout));
    }
    arena one = {NULL, 0};
    take(&one, band);
    p.band_len = one.used;
    take(&one, 2 * (size_t)pix);
    p.panel_off = one.used;
    if (backward && dy_panels(d)) take(&one, (size_t)block_pixels(&f) * BB_UK_MAXC);
    p.xt_off = one.used;
    if (backward && x_transposed(d)) take(&one, (size_t)block_pixels(&f) * (XT_ROWS + 2));  /* + the pixel table */
    p.slot_floats = one.used;
    p.slots = take(a, p.slot_floats * (size_t)(threads > 1 ? threads : 1));
    return p;
}

size_t bb_conv2d_nhwc_workspace_team(const bb_conv2d *d, int64_t n, int threads)
{
    arena f = {NULL, 0}, b = {NULL, 0};
    carve(d, n, 0, threads, &f);
    carve(d, n, 1, threads, &b);
    return f.used > b.used ? f.used : b.used;
}

size_t bb_conv2d_nhwc_workspace(const bb_conv2d *d, int64_t n) { return bb_conv2d_nhwc_workspace_team(d, n, 1); }

/* ---- the gather: y (n, oh, ow, cout) (+)= windows of x . wpk ((tap, c) rows,
 * packed in panels of pw), pixel blocks shared by the team; p->tab holds the
 * sweep's tap offsets ---- */
typedef struct {
    const sweep *g;
    bb_uk_variant v;
    const float *x, *wpk;
    const bb_conv_input *in;  /* applied to x as it is copied (NULL: none) */
    int64_t pw, cout;
    float *y;
    int accumulate;
    int slide;  /* kw: sliding tiles along each output row; 0: plain tiles */
    const parts *p;
    int64_t end;  /* > 0: the blocks end there (read ahead up to it), whatever range a call has */
    const bb_conv_rows *rows;  /* told after each block (one thread only) */
} gather_job;

/* The window rows [in[0], in[1]) of output row oy that lie inside the
 * input, and the taps [in[0], in[1]) of output column ox; the others read
 * the band's zeros. Their products add nothing (a sum that starts at +0
 * never becomes -0), so the tiles leave them out: with 3x3 windows a 7x7
 * output skips 2 of its 21 window rows, and its edge columns a tap of each
 * window row. */
static void inside_rows(const sweep *g, int64_t oy, int64_t in[2])
{
    int64_t iy = oy * g->st - g->pt;
    in[0] = min64(g->kh, max64(0, -iy));
    in[1] = max64(in[0], min64(g->kh, g->h - iy));
}

static void inside_cols(const sweep *g, int64_t ox, int64_t in[2])
{
    int64_t ix = ox * g->st - g->pl;
    in[0] = min64(g->kw, max64(0, -ix));
    in[1] = max64(in[0], min64(g->kw, g->w - ix));
}

/* The tile of u's rows over reduction rows [k0, k0 + kn) (u's acol and b
 * start there) cut to the window rows in[0..1] and the taps tx[0..1] inside
 * the input: one run over whole window rows, or one per window row when
 * some of its taps are outside. The first run of a pixel's sum sets C unless
 * the gather accumulates (a window wholly in the padding gives zeros). Then
 * the block's read-ahead goes on, and the tile is empty again. */
static void run_inside(const gather_job *j, bb_uk_args *u, int64_t k0, int64_t kn, const int64_t in[2],
                       const int64_t tx[2], ahead *pf)
{
    const sweep *g = j->g;
    int64_t per = (j->slide ? 1 : g->kw) * g->c;  /* reduction rows per window row */
    int whole = j->slide || (tx[0] == 0 && tx[1] == g->kw);
    int64_t lo = in[0] * per + (whole ? 0 : tx[0] * g->c), first = lo;
    int64_t len = whole ? (in[1] - in[0]) * per : (tx[1] - tx[0]) * g->c, runs = whole ? 1 : in[1] - in[0];
    const int64_t *acol = u->acol;  /* u's acol and b stay: the next tile starts at k0 again */
    const float *b = u->b;
    int ran = 0;
    for (int64_t r = 0; r < runs; r++, lo += per) {
        int64_t s = max64(k0, lo), e = min64(k0 + kn, lo + len);
        if (s >= e) continue;
        u->k = e - s;
        u->acol = acol + (s - k0);
        u->b = b + (s - k0) * (j->slide ? j->slide : 1) * u->ldb;
        u->accumulate = j->accumulate || s > first;
        bb_uk_run(j->v, u);
        ran = 1;
    }
    u->acol = acol;
    u->b = b;
    if (!ran && (in[0] == in[1] || tx[0] == tx[1]) && k0 == 0 && !j->accumulate)
        for (int r = 0; r < u->rows; r++) memset(u->c[r], 0, (size_t)u->nc * sizeof(float));
    ahead_step(pf);
    u->rows = 0;
}

/* Output columns whose windows reach the left (cl) and right (cr) padding,
 * tiled apart from the others when their runs stay long enough: a tile of
 * them skips the outside taps, one run per window row. With shorter runs
 * (16 channels of 3x3 windows: 32 rows) the tiles' extra calls and
 * accumulator loads cost what the skipped taps save. */
#define EDGE_MIN_RUN 64
static void edge_cols(const gather_job *j, int64_t *cl, int64_t *cr)
{
    const sweep *g = j->g;
    int64_t tx[2];
    *cl = *cr = 0;
    if (j->slide || (g->kw - 1) * g->c < EDGE_MIN_RUN) return;
    for (; *cl < g->ow; ++*cl) {
        inside_cols(g, *cl, tx);
        if (tx[0] == 0) break;
    }
    for (; *cr < g->ow - *cl; ++*cr) {
        inside_cols(g, g->ow - 1 - *cr, tx);
        if (tx[1] == g->kw) break;
    }
}

/* The plain tiles of output columns [xa, xe) of rows [oa, ob) of the
 * block's images, whose windows have the window rows in and taps tx inside
 * the input, in tiles of even size (a tile of one or two rows would wait on
 * its few accumulators) */
static void pixel_tiles(const gather_job *j, const block *b, const float *base, const int64_t *origins,
                        bb_uk_args *u, int64_t k0, int64_t kn, int64_t c0, ahead *pf, int64_t oa, int64_t ob,
                        int64_t xa, int64_t xe, const int64_t in[2], const int64_t tx[2])
{
    const sweep *g = j->g;
    int R = bb_uk_max_rows(j->v, u->nc);
    int64_t n = b->ns * (ob - oa) * (xe - xa);
    if (n == 0) return;
    int64_t nt = (n + R - 1) / R, t = 0, size = n / nt + (n % nt > 0), ow = g->ow;
    int64_t cout = j->cout;  /* locals: the stores into u could alias *j */
    float *y = j->y + b->p0 * cout + c0;
    int rows = 0;
    for (int64_t s = 0; s < b->ns; s++)
        for (int64_t oy = oa; oy < ob; oy++)
            for (int64_t i = (s * b->nr + oy - b->oy0) * ow + xa, ie = i + xe - xa; i < ie; i++) {
                u->a[rows] = base + origins[i];
                u->c[rows] = y + i * cout;
                if (++rows < size) continue;
                u->rows = rows;
                run_inside(j, u, k0, kn, in, tx, pf);
                rows = 0;
                t++;
                size = n / nt + (t < n % nt);
            }
}

/* the tiles of one block over reduction rows [k0, k0 + kn): plain ones over
 * its pixels, the rows whose windows have the same rows inside the input
 * together, then each edge column's pixels over all the block's rows (their
 * window rows the union of those rows', the band's zero rows read for the
 * few at its top and bottom); or sliding ones over each output row, its
 * width cut into even tiles */
static void block_tiles(const gather_job *j, const block *b, const float *base, const int64_t *origins,
                        bb_uk_args *u, int64_t k0, int64_t kn, int64_t c0, ahead *pf)
{
    const sweep *g = j->g;
    int64_t in[2], next[2], all[2] = {0, g->kw};
    if (!j->slide) {
        int64_t cl, cr, rows[2] = {g->kh, 0}, none[2] = {0, 0}, tx[2];  /* none: every window row outside */
        edge_cols(j, &cl, &cr);
        for (int64_t oa = b->oy0, ob; oa < b->oy0 + b->nr; oa = ob) {
            inside_rows(g, oa, in);
            for (ob = oa + 1; ob < b->oy0 + b->nr; ob++) {
                inside_rows(g, ob, next);
                if (next[0] != in[0] || next[1] != in[1]) break;
            }
            pixel_tiles(j, b, base, origins, u, k0, kn, c0, pf, oa, ob, cl, g->ow - cr, in, all);
            if (in[0] < in[1]) rows[0] = min64(rows[0], in[0]), rows[1] = max64(rows[1], in[1]);
        }
        for (int64_t e = 0; e < cl + cr; e++) {
            int64_t ox = e < cl ? e : g->ow - cl - cr + e;
            inside_cols(g, ox, tx);
            pixel_tiles(j, b, base, origins, u, k0, kn, c0, pf, b->oy0, b->oy0 + b->nr, ox, ox + 1,
                        rows[0] < rows[1] ? rows : none, tx);
        }
        return;
    }
    int64_t Rmax = bb_uk_slide_rows(j->v, u->nc, j->slide), nt = (g->ow + Rmax - 1) / Rmax;
    int64_t R = (g->ow + nt - 1) / nt;
    for (int64_t row = 0; row < b->np; row += g->ow) {
        inside_rows(g, b->oy0 + row / g->ow % b->nr, in);
        for (int64_t x0 = 0; x0 < g->ow; x0 += R) {
            u->rows = (int)min64(R, g->ow - x0);
            u->a[0] = base + origins[row + x0];
            for (int r = 0; r < u->rows; r++) u->c[r] = j->y + (b->p0 + row + x0 + r) * j->cout + c0;
            run_inside(j, u, k0, kn, in, all, pf);
        }
    }
}

static void gather_blocks(void *arg, int64_t lo, int64_t hi, int t)
{
    const gather_job *j = arg;
    const sweep *g = j->g;
    /* reduction rows: (tap, channel), or (window row, channel) of kw taps each */
    int64_t tw = j->slide ? g->kw : 1, K = g->kh * g->kw * g->c / tw;
    int64_t kmax = max64(K_PANEL / j->pw, 8), nkb = (K * tw + kmax - 1) / kmax, kc = (K + nkb - 1) / nkb;
    int64_t *origins = origins_of(j->p, t);
    bb_uk_args u = {0};
    u.ldb = j->pw;
    u.slide = j->slide;
    u.lda = g->c;
    int nc = (int)min64(bb_uk_cols(j->v), j->cout);
    int64_t ncb = (j->cout + bb_uk_cols(j->v) - 1) / bb_uk_cols(j->v);
    /* a block's tiles, R rows each, pace its prefetch */
    int64_t R = j->slide ? bb_uk_slide_rows(j->v, nc, j->slide) : bb_uk_max_rows(j->v, nc);
    for (int64_t bi = lo; bi < hi; bi++) {
        block b = block_at(g, bi);
        const float *base = prepare_block(g, j->x, j->in, &b, band_of(j->p, t), origins);
        ahead pf = ahead_of(g, j->x, bi + 1, j->end ? j->end : hi, j->v, nkb * ncb * ((b.np + R - 1) / R));
        for (int64_t k0 = 0; k0 < K; k0 += kc) {
            u.acol = j->p->tab + k0;
            for (int64_t c0 = 0; c0 < j->cout; c0 += bb_uk_cols(j->v)) {
                u.nc = (int)min64(bb_uk_cols(j->v), j->cout - c0);
                u.b = j->wpk + packed_at(K * tw, j->pw, k0 * tw, c0);
                block_tiles(j, &b, base, origins, &u, k0, min64(kc, K - k0), c0, &pf);
            }
        }
        if (j->rows) j->rows->done(j->rows->arg, b.p0 + b.np);
    }
}

static void gather(bb_pool *team, const sweep *g, bb_uk_variant v, const float *x, const bb_conv_input *in,
                   const float *wpk, int64_t cout, float *y, int accumulate, const parts *p,
                   const bb_conv_rows *rows)
{
    int slide = slide_of(v, g, cout);
    tap_offsets(g, slide, p->tab);
    int one = bb_pool_size(team) == 1;
    gather_job j = {g, v, x, wpk, in, panel_width(v, cout), cout, y, accumulate, slide, p, 0, one ? rows : NULL};
    bb_pool_for(team, nblocks(g), 1, gather_blocks, &j);
    if (rows && !one) rows->done(rows->arg, g->n * g->oh * g->ow);
}

/* ---- weight packing, by rows of the packed matrix ---- */
typedef struct { const bb_conv2d *d; const float *w; float *dst; int flip; int64_t pw; int slide; } pack_job;

/* wpk (tap, ci, co) = w (co, ci, tap), rows (tap, ci) in [lo, hi), in panels
 * (the last one's columns past cout are 0) */
static void pack_forward(void *arg, int64_t lo, int64_t hi, int t)
{
    const pack_job *j = arg;
    const bb_conv2d *d = j->d;
    int64_t taps = d->kh * d->kw, rows = taps * d->cin, cols = (d->cout + j->pw - 1) / j->pw * j->pw;
    for (int64_t q = lo; q < hi; q++) {
        int64_t tp = q / d->cin, ci = q % d->cin;
        int64_t row = packed_row(j->slide, d->kw, d->cin, tp, ci);
        for (int64_t c0 = 0; c0 < cols; c0 += j->pw) {
            float *dst = j->dst + packed_at(rows, j->pw, row, c0);
            for (int64_t co = c0; co < c0 + j->pw; co++)
                dst[co - c0] = co < d->cout ? j->w[(co * d->cin + ci) * taps + tp] : 0.0f;
        }
    }
}

/* wq (tap', co, ci) = w (co, ci, tap), tap = tap' or flipped, rows (tap', co)
 * in [lo, hi), in panels */
static void pack_transposed(const pack_job *j, int64_t lo, int64_t hi)
{
    const bb_conv2d *d = j->d;
    int64_t taps = d->kh * d->kw, rows = taps * d->cout, cols = (d->cin + j->pw - 1) / j->pw * j->pw;
    for (int64_t q = lo; q < hi; q++) {
        int64_t tp = q / d->cout, co = q % d->cout;
        int64_t src = j->flip ? (d->kh - 1 - tp / d->kw) * d->kw + (d->kw - 1 - tp % d->kw) : tp;
        int64_t row = packed_row(j->slide, d->kw, d->cout, tp, co);
        for (int64_t c0 = 0; c0 < cols; c0 += j->pw) {
            float *dst = j->dst + packed_at(rows, j->pw, row, c0);
            for (int64_t ci = c0; ci < c0 + j->pw; ci++)
                dst[ci - c0] = ci < d->cin ? j->w[(co * d->cin + ci) * taps + src] : 0.0f;
        }
    }
}

int bb_conv2d_nhwc_copies_input(const bb_conv2d *d) { return !forward_sweep(d, 1, 1).direct; }

void bb_conv2d_nhwc_forward_team(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                                 const bb_conv_input *in, const float *w, float *y, const bb_conv_rows *rows,
                                 float *ws, bb_pool *team)
{
    arena a = {ws, 0};
    parts p = carve(d, n, 0, bb_pool_size(team), &a);
    sweep g = forward_sweep(d, n, team_blocks(bb_pool_size(team)));
    pack_job pj = {d, w, p.wpk, 0, panel_width(v, d->cout), slide_of(v, &g, d->cout)};
    bb_pool_for(team, d->kh * d->kw * d->cin, 8, pack_forward, &pj);
    gather(team, &g, v, x, in, p.wpk, d->cout, y, 0, &p, rows);
}

void bb_conv2d_nhwc_forward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x, const float *w,
                            float *y, float *ws)
{
    bb_conv2d_nhwc_forward_team(d, v, n, x, NULL, w, y, NULL, ws, NULL);
}

/* ---- backward ---- */
typedef struct {
    const bb_conv2d *d;
    bb_uk_variant v;
    int64_t n;
    const float *x, *dy;
    const bb_conv_input *in;  /* applied to x as the weight gradient copies it (NULL: none) */
    float *dx, *dw;
    int set;
    const parts *p;
    pack_job pack;     /* the weights backward-data needs, packed alongside */
} bwd_job;

/* The weight gradient's (tap, cin) rows go to the team's threads in units:
 * R consecutive rows (a plain tile), or for a weight-gradient sliding tile
 * (ukernel.h; stride 1, every column in one tile) the kw taps of one window
 * row for G channels */
typedef struct { int64_t R, G, per, n; } wg_units;

static wg_units units_of(const bb_conv2d *d, bb_uk_variant v)
{
    int64_t K = d->kh * d->kw * d->cin;
    int nc = (int)min64(bb_uk_cols(v), d->cout);
    wg_units w = {bb_uk_max_rows(v, nc), 0, 0, 0};
    if (d->stride == 1 && d->ow >= d->kw - 1 && d->cout <= bb_uk_cols(v))
        w.G = min64(bb_uk_wslide_groups(v, nc, (int)d->kw), d->cin);
    if (w.G * d->kw < 8) w.G = 0;  /* fewer accumulators than that would wait on the FMAs' latency */
    w.per = w.G ? (d->cin + w.G - 1) / w.G : 0;
    w.n = w.G ? d->kh * w.per : (K + w.R - 1) / w.R;
    return w;
}

/* a sliding unit's groups; *q0: the row of its first channel at tap (ky,
 * 0), its row (g, t) being q0 + g + t * cin */
static int64_t unit_groups(const bb_conv2d *d, const wg_units *w, int64_t u, int64_t *q0)
{
    int64_t ky = u / w->per, c0 = (u % w->per) * w->G;
    *q0 = ky * d->kw * d->cin + c0;
    return min64(w->G, d->cin - c0);
}

/* a sliding unit's tile: its groups' input rows from base (p->tab: the
 * (tap, channel) offsets) and their kw taps' rows of dwp */
static void unit_tile(const bb_conv2d *d, const wg_units *w, int64_t u, const float *base, const int64_t *tab,
                      float *dwp, int64_t ldw, bb_uk_args *a)
{
    int64_t q0, G = unit_groups(d, w, u, &q0);
    a->rows = (int)(G * d->kw);
    for (int64_t g = 0; g < G; g++) {
        a->a[g] = base + tab[q0 + g];
        for (int64_t t = 0; t < d->kw; t++) a->c[g * d->kw + t] = dwp + (q0 + g + t * d->cin) * ldw;
    }
}

/* the rows of unit u, in its tile's order; returns how many */
static int unit_rows(const bb_conv2d *d, const wg_units *w, int64_t u, int64_t *rows)
{
    int n = 0;
    if (!w->G) {
        for (int64_t q = u * w->R; q < min64(u * w->R + w->R, d->kh * d->kw * d->cin); q++) rows[n++] = q;
        return n;
    }
    int64_t q0, G = unit_groups(d, w, u, &q0);
    for (int64_t g = 0; g < G; g++)
        for (int64_t t = 0; t < d->kw; t++) rows[n++] = q0 + g + t * d->cin;
    return n;
}

/* The weight gradient's pixel blocks: the forward's, but one image each
 * where several small images would share one and the windows reach the
 * padding. A block of one image leaves out the pixels whose window row lies
 * in the padding (wg_inside); one of several images keeps them: at 7x7, 2
 * of every 21 window rows (one-image blocks: 103 to 115 GFLOP/s, stage 3 of
 * ResNet-20, docs/PERFORMANCE.md). Smaller images would make the tiles'
 * runs too short. */
#define WG_ONE_IMAGE_PIXELS 32
static sweep wgrad_sweep(const bb_conv2d *d, int64_t n)
{
    sweep g = forward_sweep(d, n, 1);
    if (d->pad > 0 && g.rows_blk == g.oh && g.oh * g.ow >= WG_ONE_IMAGE_PIXELS) g.imgs_blk = 1;
    return g;
}

/* the pixel blocks [lo, hi) of weight-gradient part `part` */
static void part_blocks(const bb_conv2d *d, int64_t n, int64_t part, int64_t *lo, int64_t *hi)
{
    sweep g = wgrad_sweep(d, n);
    long long b_lo, b_hi;
    bb_split_range(nblocks(&g), (int)wg_parts(d, n), (int)part, &b_lo, &b_hi);
    *lo = b_lo;
    *hi = b_hi;
}

/* The pixels [*k0, *k1) of block b whose windows' row ky lies inside the
 * input: the others meet the band's zero rows there and add nothing to the
 * weight gradient of that window row (as in the gathers, inside_rows). A
 * block of several images keeps them all. */
static void wg_inside(const sweep *g, const block *b, int64_t ky, int64_t *k0, int64_t *k1)
{
    int64_t lo = b->oy0, hi = b->oy0 + b->nr;
    while (b->ns == 1 && lo < hi && lo * g->st - g->pt + ky < 0) lo++;
    while (b->ns == 1 && hi > lo && (hi - 1) * g->st - g->pt + ky >= g->h) hi--;
    *k0 = b->ns == 1 ? (lo - b->oy0) * g->ow : 0;
    *k1 = b->ns == 1 ? (hi - b->oy0) * g->ow : b->np;
}

/* u's tile over its pixels [k0, k1) alone (u's acol and b at pixel 0, stay) */
static void run_pixels(bb_uk_variant v, bb_uk_args *u, int64_t k0, int64_t k1)
{
    if (k0 >= k1) return;
    const int64_t *acol = u->acol;
    const float *b = u->b;
    int64_t k = u->k;
    u->acol += k0;
    u->b += k0 * u->ldb;
    u->k = k1 - k0;
    bb_uk_run(v, u);
    u->acol = acol;
    u->b = b;
    u->k = k;
}

/* part `part`'s buffer += the sum over its pixel blocks [b_lo, b_hi) of
 * window rows (x) dy, for the rows of units [u_lo, u_hi), after zeroing
 * those rows when `zero`: its blocks in order, so each element sums its
 * pixels in one order whichever rows a thread has (b_end: the part's end,
 * up to which the next block is read ahead) */
static void weight_grad_rows(const bwd_job *j, int64_t part, int64_t u_lo, int64_t u_hi, int64_t b_lo,
                             int64_t b_hi, int64_t b_end, int zero, int t)
{
    const bb_conv2d *d = j->d;
    const parts *p = j->p;
    int64_t ldw = round8(d->cout), taps = d->kh * d->kw, rows[BB_UK_MAXR], per_ky = d->kw * d->cin;
    const int64_t *tab = p->tab;  /* a local: the stores into u could alias *p */
    wg_units w = units_of(d, j->v);
    int64_t r_lo = u_lo * w.R, r_hi = min64(u_hi * w.R, taps * d->cin);  /* the rows of plain tiles */
    sweep g = wgrad_sweep(d, j->n);
    float *dwp = p->dwp + part * taps * d->cin * ldw;
    for (int64_t un = u_lo; zero && un < u_hi; un++)
        for (int i = 0, n = unit_rows(d, &w, un, rows); i < n; i++)
            memset(dwp + rows[i] * ldw, 0, (size_t)ldw * sizeof(float));
    float *band = band_of(p, t);
    int64_t *origins = origins_of(p, t);
    bb_uk_args u = {0};
    u.ldb = d->cout;
    u.accumulate = 1;
    float *panel = panel_of(p, t);
    int trans = x_transposed(d);
    float *xt = band_of(p, t) + p->xt_off;
    int64_t *pixels = (int64_t *)(xt + XT_ROWS * block_pixels(&g)), chunk = trans ? XT_ROWS : r_hi - r_lo;
    for (int64_t k = 0; trans && k < block_pixels(&g); k++) pixels[k] = k;
    int64_t ncb = (d->cout + bb_uk_cols(j->v) - 1) / bb_uk_cols(j->v);
    int64_t calls = w.G ? u_hi - u_lo : (r_hi - r_lo + w.R - 1) / w.R * ncb;  /* tiles per block */
    if (w.G) {
        u.slide = (int)d->kw;
        u.run = g.ow;
        u.lda = g.c;
        u.nc = (int)d->cout;
    }
    for (int64_t bi = b_lo; bi < b_hi; bi++) {
        block b = block_at(&g, bi);
        const float *base = prepare_block(&g, j->x, j->in, &b, band, origins);
        ahead pf = ahead_of(&g, j->x, bi + 1, b_end, j->v, calls);
        u.k = b.np;
        u.acol = trans ? pixels : origins;
        if (w.G) {
            u.b = j->dy + b.p0 * d->cout;
            for (int64_t un = u_lo; un < u_hi; un++) {
                int64_t k0, k1;
                wg_inside(&g, &b, un / w.per, &k0, &k1);
                unit_tile(d, &w, un, base, p->tab, dwp, ldw, &u);
                run_pixels(j->v, &u, k0, k1);
                ahead_step(&pf);
            }
            continue;
        }
        for (int64_t q0 = r_lo; q0 < r_hi; q0 += chunk) {
            int64_t q1 = min64(q0 + chunk, r_hi);
            for (int64_t k = 0; trans && k < b.np; k++)
                for (int64_t q = q0; q < q1; q++) xt[(q - q0) * b.np + k] = base[origins[k] + p->tab[q]];
            for (int64_t c0 = 0; c0 < d->cout; c0 += bb_uk_cols(j->v)) {
                u.nc = (int)min64(bb_uk_cols(j->v), d->cout - c0);
                u.b = j->dy + b.p0 * d->cout + c0;
                if (dy_panels(d)) {
                    for (int64_t q = 0; q < b.np; q++)
                        memcpy(panel + q * u.nc, u.b + q * d->cout, (size_t)u.nc * sizeof(float));
                    u.b = panel;
                    u.ldb = u.nc;
                }
                int R = bb_uk_max_rows(j->v, u.nc);
                /* the window row of tile rows [r0, r1), when they share one,
                 * kept from tile to tile (no division per tile) */
                int64_t ky = q0 / per_ky, ky_end = (ky + 1) * per_ky, k0 = 0, k1 = b.np;
                wg_inside(&g, &b, ky, &k0, &k1);
                for (int64_t r0 = q0; r0 < q1; r0 += R) {
                    u.rows = (int)min64(R, q1 - r0);
                    for (int r = 0; r < u.rows; r++) {
                        u.a[r] = trans ? xt + (r0 + r - q0) * b.np : base + tab[r0 + r];
                        u.c[r] = dwp + (r0 + r) * ldw + c0;
                    }
                    if (r0 >= ky_end) {
                        ky = r0 / per_ky;
                        ky_end = (ky + 1) * per_ky;
                        wg_inside(&g, &b, ky, &k0, &k1);
                    }
                    if (r0 + u.rows <= ky_end) run_pixels(j->v, &u, k0, k1);
                    else run_pixels(j->v, &u, 0, b.np);
                    ahead_step(&pf);
                }
            }
        }
    }
}

/* dw += the parts' buffers added in part order, (tap, cin) rows [lo, hi) */
static void weight_grad_total(void *arg, int64_t lo, int64_t hi, int t)
{
    const bwd_job *j = arg;
    const bb_conv2d *d = j->d;
    int64_t ldw = round8(d->cout), taps = d->kh * d->kw, np = wg_parts(d, j->n), stride = taps * d->cin * ldw;
    for (int64_t q = lo; q < hi; q++) {
        int64_t tp = q / d->cin, ci = q % d->cin;
        for (int64_t co = 0; co < d->cout; co++) {
            const float *v = j->p->dwp + q * ldw + co;
            float sum = v[0];
            for (int64_t i = 1; i < np; i++) sum += v[i * stride];
            j->dw[(co * d->cin + ci) * taps + tp] += sum;
        }
    }
}

/* the first phase: thread t's share of the (part, unit) pairs of the weight
 * gradient, part-major, and its rows of the packed weights */
static void backward_first(void *arg, int t, int nt)
{
    const bwd_job *j = arg;
    const bb_conv2d *d = j->d;
    long long lo, hi;
    if (j->dw) {
        int64_t nu = units_of(d, j->v).n;
        bb_split_range(wg_parts(d, j->n) * nu, nt, t, &lo, &hi);
        for (int64_t part = lo / nu; part * nu < hi; part++) {
            int64_t u0 = max64(lo - part * nu, 0), u1 = min64(hi - part * nu, nu);
            int64_t b_lo, b_hi;
            part_blocks(d, j->n, part, &b_lo, &b_hi);
            if (u0 < u1) weight_grad_rows(j, part, u0, u1, b_lo, b_hi, b_hi, 1, t);
        }
    }
    if (j->dx) {
        bb_split_range(d->kh * d->kw * d->cout, nt, t, &lo, &hi);
        pack_transposed(&j->pack, lo, hi);
    }
}

/* any stride: every dy pixel of images [s0, s1) adds dy . w_tap into its
 * window of dx (after zeroing it when set), R pixels of one image at a time
 * (the groups, and so the order of additions into an element, depend on the
 * shapes only); a tile row whose tap lands in the padding writes to the
 * thread's scratch rows instead */
static void data_grad_scatter(void *arg, int64_t s0, int64_t s1, int t)
{
    const bwd_job *j = arg;
    const bb_conv2d *d = j->d;
    const parts *p = j->p;
    int64_t pw = j->pack.pw, taps = d->kh * d->kw, ohw = d->oh * d->ow, img = d->h * d->w * d->cin;
    float *dx = j->dx, *scratch = band_of(p, t);  /* locals: the stores into u could alias *j and *p */
    if (j->set) memset(dx + s0 * img, 0, (size_t)((s1 - s0) * img) * sizeof(float));
    memset(scratch, 0, (size_t)(BB_UK_MAXR * BB_UK_MAXC) * sizeof(float));
    bb_uk_args u = {0};
    u.k = d->cout;
    u.acol = p->tab2;
    u.ldb = pw;
    u.accumulate = 1;
    int R = bb_uk_max_rows(j->v, (int)min64(bb_uk_cols(j->v), d->cin));
    int64_t iy0[BB_UK_MAXR], ix0[BB_UK_MAXR];
    for (int64_t s = s0; s < s1; s++)
        for (int64_t q0 = 0; q0 < ohw; q0 += R) {
            u.rows = (int)min64(R, ohw - q0);
            for (int r = 0; r < u.rows; r++) {
                int64_t q = q0 + r;
                iy0[r] = q / d->ow * d->stride - d->pad;
                ix0[r] = q % d->ow * d->stride - d->pad;
                u.a[r] = j->dy + (s * ohw + q) * d->cout;
            }
            for (int64_t tp = 0; tp < taps; tp++) {
                int64_t ky = tp / d->kw, kx = tp % d->kw;
                for (int64_t c0 = 0; c0 < d->cin; c0 += bb_uk_cols(j->v)) {
                    u.nc = (int)min64(bb_uk_cols(j->v), d->cin - c0);
                    u.b = p->wq + packed_at(taps * d->cout, pw, tp * d->cout, c0);
                    for (int r = 0; r < u.rows; r++) {
                        int64_t iy = iy0[r] + ky, ix = ix0[r] + kx;
                        u.c[r] = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w
                                     ? dx + ((s * d->h + iy) * d->w + ix) * d->cin + c0
                                     : scratch + r * BB_UK_MAXC;
                    }
                    bb_uk_run(j->v, &u);
                }
            }
        }
}

/* 1 when the backward-data gather's blocks are the weight gradient's (a
 * stride-1 convolution whose output has its input's size) */
static int same_blocks(const bb_conv2d *d, int64_t n)
{
    sweep f = forward_sweep(d, n, 1), b = dgrad_sweep(d, n, 1);
    return f.oh == b.oh && f.ow == b.ow && f.imgs_blk == b.imgs_blk && f.rows_blk == b.rows_blk;
}

/* dy's pixels up to which backward-data's block bi reads (its band's rows) */
static int64_t dy_read_end(const sweep *g, int64_t bi)
{
    block b = block_at(g, bi);
    if (g->rows_blk == g->oh) return (b.s0 + b.ns) * g->h * g->w;
    int64_t r1 = min64(g->h, (b.oy0 + b.nr - 1) * g->st - g->pt + g->kh);
    return (b.s0 * g->h + r1) * g->w;
}

/* Both gradients on one thread, block by block: backward-data's block first
 * (its band copy reads that block's dy rows), then the weight gradient's
 * blocks of the same pixels (the same rows, or its images one by one),
 * which read those rows again while they are still in cache instead of in a
 * pass of its own. The same sums in the same order as the two passes;
 * backward-data's tap offsets go to p->tab2 (the weight gradient's are in
 * p->tab). `need` is told before each block reads dy, `rows` after each
 * block of dx is final. */
static void backward_by_blocks(const bwd_job *j, const sweep *dg, const bb_conv_rows *need, const bb_conv_rows *rows)
{
    const bb_conv2d *d = j->d;
    parts pd = *j->p;
    pd.tab = j->p->tab2;
    pack_transposed(&j->pack, 0, d->kh * d->kw * d->cout);
    int slide = slide_of(j->v, dg, d->cin);
    tap_offsets(dg, slide, pd.tab);
    int64_t nb = nblocks(dg);
    gather_job gj = {dg, j->v, j->dy, j->pack.dst, NULL, j->pack.pw, d->cin, j->dx, !j->set, slide, &pd, nb, rows};
    int64_t nu = units_of(d, j->v).n, part = -1, p_lo = 0, p_hi = 0;
    sweep wg = wgrad_sweep(d, j->n);
    int whole = wg.rows_blk == wg.oh && wg.imgs_blk == 1;  /* else the blocks are backward-data's */
    for (int64_t bi = 0; bi < nb; bi++) {
        block b = block_at(dg, bi);
        if (need) need->done(need->arg, max64(dy_read_end(dg, bi), b.p0 + b.np));
        gather_blocks(&gj, bi, bi + 1, 0);
        for (int64_t wb = whole ? b.s0 : bi; wb < (whole ? b.s0 + b.ns : bi + 1); wb++) {
            while (wb >= p_hi) part_blocks(d, j->n, ++part, &p_lo, &p_hi);
            weight_grad_rows(j, part, 0, nu, wb, wb + 1, p_hi, wb == p_lo, 0);
        }
    }
    weight_grad_total((void *)j, 0, d->kh * d->kw * d->cin, 0);
}

void bb_conv2d_nhwc_backward_team(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                                  const bb_conv_input *in, const float *w, const float *dy, float *dx, int set_dx,
                                  float *dw, const bb_conv_rows *need, const bb_conv_rows *rows, float *ws,
                                  bb_pool *team)
{
    if (!dw && !dx) return;
    arena a = {ws, 0};
    int threads = bb_pool_size(team);
    parts p = carve(d, n, 1, threads, &a);
    int gathers = gather_dx(d);
    /* stride 1: dx (+)= conv(dy padded by k-1-pad, w flipped with cin and cout swapped) */
    sweep dg = dgrad_sweep(d, n, team_blocks(threads));
    bwd_job j = {d, v, n, x, dy, in, dx, dw, set_dx, &p,
                 {d, w, p.wq, gathers, panel_width(v, d->cin), gathers ? slide_of(v, &dg, d->cin) : 0}};
    if (dw) {
        sweep g = wgrad_sweep(d, n);
        tap_offsets(&g, 0, p.tab);
    }
    if (dw && dx && threads == 1 && gathers && same_blocks(d, n)) {
        backward_by_blocks(&j, &dg, need, rows);
        return;
    }
    if (need) need->done(need->arg, n * d->oh * d->ow);
    bb_pool_run(team, backward_first, &j);
    if (dw) bb_pool_for(team, d->kh * d->kw * d->cin, 8, weight_grad_total, &j);
    if (!dx) return;
    if (gathers) {
        gather(team, &dg, v, dy, NULL, p.wq, d->cin, dx, !set_dx, &p, rows);
        return;
    }
    for (int64_t co = 0; co < d->cout; co++) p.tab2[co] = co;
    bb_pool_for(team, n, 1, data_grad_scatter, &j);
    if (rows) rows->done(rows->arg, n * d->h * d->w);
}

void bb_conv2d_nhwc_backward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x, const float *w,
                             const float *dy, float *dx, int set_dx, float *dw, float *ws)
{
    bb_conv2d_nhwc_backward_team(d, v, n, x, NULL, w, dy, dx, set_dx, dw, NULL, NULL, ws, NULL);
}
