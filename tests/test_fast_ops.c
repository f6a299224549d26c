/* The fast channels-last operators against the plain NCHW reference of ops.h:
 * every register-tile shape of the inner kernel, convolutions (forward,
 * backward-data by gather and by scatter, backward-weights; strides, padding,
 * odd sizes and channel counts), batch norm with and without the fused ReLU,
 * add + ReLU, pools and the option-A shortcut; the convolutions under every
 * register-kernel variant the CPU runs (portable, AVX2, AVX-512, and the
 * AVX-512 tiles emulated on any CPU), saying which it skips. Backward must
 * ADD into what the buffers held. */
#include "test.h"
#include "gradcheck.h"

#include "ops/nhwc.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* ||a - b|| / ||b|| (in double) */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* float32 sums of up to a few thousand terms in another order: 1e-5 relative
 * is ~100 x float epsilon, while one wrong term of thousands shows as >1e-3 */
#define FAST_TOL 1e-5

static float *vec(int64_t n, uint64_t seed)
{
    float *p = bb_alloc((size_t)(n + 1) * 4);
    gc_fill(p, n, seed, 1.0f);
    return p;
}

TEST(fast_compare_catches_one_wrong_value)
{
    int64_t n = 4096;
    float *a = vec(n, 1), *b = bb_alloc((size_t)n * 4);
    memcpy(b, a, (size_t)n * 4);
    CHECK(rel_err(a, b, n) == 0.0);
    b[77] += 0.5f;
    CHECK(rel_err(a, b, n) > 100 * FAST_TOL);
    bb_free(a); bb_free(b);
}

TEST(fast_layout_round_trip)
{
    int64_t n = 2, c = 3, hw = 5, len = n * c * hw;
    float *x = vec(len, 2), *t = bb_alloc((size_t)len * 4), *back = bb_alloc((size_t)len * 4);
    bb_nchw_to_nhwc(n, c, hw, x, t);
    CHECK(t[(1 * hw + 4) * c + 2] == x[(1 * c + 2) * hw + 4]);
    bb_nhwc_to_nchw(n, c, hw, t, back);
    CHECK(memcmp(x, back, (size_t)len * 4) == 0);
    bb_nhwc_to_nchw_add(n, c, hw, t, back);
    CHECK(back[7] == 2 * x[7]);
    memset(back, 0, (size_t)len * 4);
    bb_nchw_to_nhwc_add(n, c, hw, x, back);
    CHECK(memcmp(t, back, (size_t)len * 4) == 0);
    bb_free(x); bb_free(t); bb_free(back);
}

/* the variants this CPU runs; says which ones the tests skip, once */
static int variant_runs(bb_uk_variant v)
{
    static int said[BB_UK_NVARIANTS];
    int ok = bb_uk_supported(v);
    if (!ok && !said[v]) fprintf(stderr, "  skipped: the %s kernels (this build or CPU cannot run them)\n", bb_uk_name(v));
    said[v] = 1;
    return ok;
}

/* every rows x columns tile of every variant, set and accumulate, against a
 * plain loop in double; the FMA variants (AVX2, AVX-512, its emulation) also
 * against fmaf in k order bit for bit, which makes the emulated AVX-512 tiles
 * give the bits the real ones would */
TEST(fast_microkernel_every_tile_shape)
{
    enum { K = 37, LDB = 72, ROWS = 8, MAXNC = BB_UK_MAXC };
    float *a = vec(ROWS * 64 + K, 3), *b = vec(K * LDB, 4);
    int64_t acol[K];
    for (int k = 0; k < K; k++) acol[k] = (k * 7) % 64;  /* gathered columns */
    double worst = 0;
    int tiles = 0, per_variant[BB_UK_NVARIANTS] = {0}, unfused = 0;
    char names[96] = "";
    for (int v = 0; v < BB_UK_NVARIANTS; v++) {
        if (!variant_runs((bb_uk_variant)v)) continue;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", v ? ", " : "", bb_uk_name((bb_uk_variant)v));
        CHECK(bb_uk_cols((bb_uk_variant)v) >= 16 && bb_uk_cols((bb_uk_variant)v) <= MAXNC);
        for (int nc = 1; nc <= bb_uk_cols((bb_uk_variant)v); nc++)
            for (int rows = 1; rows <= bb_uk_max_rows((bb_uk_variant)v, nc); rows++)
                for (int accumulate = 0; accumulate < 2; accumulate++) {
                    float c[ROWS][MAXNC + 8], want[ROWS][MAXNC + 8], fused[ROWS][MAXNC];
                    bb_uk_args u;
                    memset(&u, 0, sizeof u);
                    u.rows = rows; u.nc = nc; u.accumulate = accumulate; u.k = K;
                    u.acol = acol; u.b = b; u.ldb = LDB;
                    for (int r = 0; r < rows; r++) {
                        u.a[r] = a + 64 * r + r;
                        u.c[r] = c[r];
                        for (int j = 0; j < MAXNC + 8; j++) c[r][j] = want[r][j] = 0.25f * (float)(j - r);
                        for (int j = 0; j < nc; j++) {
                            double s = accumulate ? want[r][j] : 0.0;
                            float f = accumulate ? want[r][j] : 0.0f;
                            for (int k = 0; k < K; k++) {
                                s += (double)u.a[r][acol[k]] * b[k * LDB + j];
                                f = fmaf(u.a[r][acol[k]], b[k * LDB + j], f);
                            }
                            want[r][j] = (float)s;
                            fused[r][j] = f;
                        }
                    }
                    bb_uk_run((bb_uk_variant)v, &u);
                    for (int r = 0; r < rows; r++) {
                        worst = fmax(worst, rel_err(c[r], want[r], nc));
                        if (v != BB_UK_PORTABLE) unfused += memcmp(c[r], fused[r], (size_t)nc * 4) != 0;
                        /* nothing past the tile's columns is written */
                        CHECK(memcmp(c[r] + nc, want[r] + nc, (MAXNC + 8 - (size_t)nc) * 4) == 0);
                    }
                    tiles++;
                    per_variant[v]++;
                }
    }
    CHECK_MSG(worst < FAST_TOL, "worst tile error %.3g", worst);
    CHECK_MSG(unfused == 0, "%d tile rows of the FMA variants differ from fmaf in k order", unfused);
    CHECK(tiles >= 2 * 2 * 32);
    /* every column count with at least one row, set and accumulate */
    for (int v = 0; v < BB_UK_NVARIANTS; v++)
        if (bb_uk_supported((bb_uk_variant)v)) CHECK(per_variant[v] >= 2 * bb_uk_cols((bb_uk_variant)v));
    if (getenv("BB_TEST_VERBOSE")) fprintf(stderr, "  %d tiles (%s), worst %.3g\n", tiles, names, worst);
    bb_free(a); bb_free(b);
}

/* every sliding tile (ukernel.h) of every variant that has them, set and
 * accumulate, against a plain loop in double and bit for bit against fmaf
 * in the tile's order (k, then tap); an odd pixel stride and gathered
 * offsets, so a wrong row, tap or B row shows */
TEST(fast_microkernel_every_sliding_shape)
{
    enum { K = 11, KW = 3, LDB = 40, LDA = 19, ROWS = BB_UK_MAXR, MAXNC = 32 };
    float *a = vec((ROWS + KW) * LDA + 64, 5), *b = vec(K * KW * LDB, 6);
    int64_t acol[K];
    for (int k = 0; k < K; k++) acol[k] = (k * 7) % 64;
    double worst = 0;
    int tiles = 0, unfused = 0, variants = 0;
    for (int v = 0; v < BB_UK_NVARIANTS; v++) {
        if (!bb_uk_supported((bb_uk_variant)v) || bb_uk_slide_rows((bb_uk_variant)v, 16, KW) == 0) continue;
        variants++;
        for (int nc = 1; nc <= MAXNC; nc++)
            for (int rows = 1; rows <= bb_uk_slide_rows((bb_uk_variant)v, nc, KW); rows++)
                for (int accumulate = 0; accumulate < 2; accumulate++) {
                    float c[ROWS][MAXNC + 8], want[ROWS][MAXNC + 8], fused[ROWS][MAXNC];
                    bb_uk_args u;
                    memset(&u, 0, sizeof u);
                    u.rows = rows; u.nc = nc; u.accumulate = accumulate; u.k = K;
                    u.acol = acol; u.b = b; u.ldb = LDB; u.slide = KW; u.lda = LDA; u.a[0] = a;
                    for (int r = 0; r < rows; r++) {
                        u.c[r] = c[r];
                        for (int j = 0; j < MAXNC + 8; j++) c[r][j] = want[r][j] = 0.25f * (float)(j - r);
                        for (int j = 0; j < nc; j++) {
                            double s = accumulate ? want[r][j] : 0.0;
                            float f = accumulate ? want[r][j] : 0.0f;
                            for (int k = 0; k < K; k++)
                                for (int t = 0; t < KW; t++) {
                                    float x = a[(r + t) * LDA + acol[k]], w = b[(k * KW + t) * LDB + j];
                                    s += (double)x * w;
                                    f = fmaf(x, w, f);
                                }
                            want[r][j] = (float)s;
                            fused[r][j] = f;
                        }
                    }
                    bb_uk_run((bb_uk_variant)v, &u);
                    for (int r = 0; r < rows; r++) {
                        worst = fmax(worst, rel_err(c[r], want[r], nc));
                        unfused += memcmp(c[r], fused[r], (size_t)nc * 4) != 0;
                        CHECK(memcmp(c[r] + nc, want[r] + nc, (MAXNC + 8 - (size_t)nc) * 4) == 0);
                    }
                    tiles++;
                }
    }
    CHECK_MSG(worst < FAST_TOL, "worst sliding tile error %.3g", worst);
    CHECK_MSG(unfused == 0, "%d sliding tile rows differ from fmaf in (k, tap) order", unfused);
    /* the emulated AVX-512 variant is in every test binary that has SIMDe */
    if (bb_uk_supported(BB_UK_AVX512_EMULATED)) CHECK(tiles >= 2 * MAXNC * 8);
    if (getenv("BB_TEST_VERBOSE")) fprintf(stderr, "  %d sliding tiles over %d variants, worst %.3g\n", tiles, variants, worst);
    bb_free(a); bb_free(b);
}

/* every weight-gradient sliding tile (ukernel.h) of every variant that has
 * them, set and accumulate, segments of 2 (the shortest) and 5 pixels: bit
 * for bit against fmaf over the plain rows a[g] + t * lda in k order, the
 * sums a plain tile makes, and within 1e-5 of a double sum */
TEST(fast_microkernel_every_weight_sliding_shape)
{
    enum { KW = 3, LDB = 40, LDA = 7, SEGS = 3, MAXK = SEGS * 5, ROWS = BB_UK_MAXR, MAXNC = 32 };
    float *a = vec(8 * 200 + 64, 7), *b = vec(MAXK * LDB, 8);
    double worst = 0;
    int tiles = 0, unfused = 0;
    for (int v = 0; v < BB_UK_NVARIANTS; v++) {
        if (!bb_uk_supported((bb_uk_variant)v) || bb_uk_wslide_groups((bb_uk_variant)v, 16, KW) == 0) continue;
        for (int run = 2; run <= 5; run += 3)
            for (int nc = 1; nc <= MAXNC; nc++)
                for (int G = 1; G <= bb_uk_wslide_groups((bb_uk_variant)v, nc, KW); G++)
                    for (int accumulate = 0; accumulate < 2; accumulate++) {
                        float c[ROWS][MAXNC + 8], want[ROWS][MAXNC + 8], fused[ROWS][MAXNC];
                        int64_t acol[MAXK];
                        bb_uk_args u;
                        memset(&u, 0, sizeof u);
                        u.rows = G * KW; u.nc = nc; u.accumulate = accumulate; u.k = SEGS * run;
                        u.acol = acol; u.b = b; u.ldb = LDB; u.slide = KW; u.lda = LDA; u.run = run;
                        for (int k = 0; k < u.k; k++) acol[k] = 50 * (k / run) + 3 + (k % run) * LDA;
                        for (int g = 0; g < G; g++) u.a[g] = a + 200 * g + g;
                        for (int r = 0; r < u.rows; r++) {
                            const float *row = u.a[r / KW] + (r % KW) * LDA;  /* the plain tile's row */
                            u.c[r] = c[r];
                            for (int j = 0; j < MAXNC + 8; j++) c[r][j] = want[r][j] = 0.25f * (float)(j - r);
                            for (int j = 0; j < nc; j++) {
                                double s = accumulate ? want[r][j] : 0.0;
                                float f = accumulate ? want[r][j] : 0.0f;
                                for (int k = 0; k < u.k; k++) {
                                    s += (double)row[acol[k]] * b[k * LDB + j];
                                    f = fmaf(row[acol[k]], b[k * LDB + j], f);
                                }
                                want[r][j] = (float)s;
                                fused[r][j] = f;
                            }
                        }
                        bb_uk_run((bb_uk_variant)v, &u);
                        for (int r = 0; r < u.rows; r++) {
                            worst = fmax(worst, rel_err(c[r], want[r], nc));
                            unfused += memcmp(c[r], fused[r], (size_t)nc * 4) != 0;
                            CHECK(memcmp(c[r] + nc, want[r] + nc, (MAXNC + 8 - (size_t)nc) * 4) == 0);
                        }
                        tiles++;
                    }
    }
    CHECK_MSG(worst < FAST_TOL, "worst weight sliding tile error %.3g", worst);
    CHECK_MSG(unfused == 0, "%d weight sliding tile rows differ from fmaf over the plain rows in k order", unfused);
    if (bb_uk_supported(BB_UK_AVX512_EMULATED)) CHECK(tiles >= 2 * 2 * (16 * 8 + 16 * 4));
    if (getenv("BB_TEST_VERBOSE")) fprintf(stderr, "  %d weight sliding tiles, worst %.3g\n", tiles, worst);
    bb_free(a); bb_free(b);
}

/* one convolution shape: the fast forward and backward (adding into
 * pre-filled dx, dw) against the reference, for every variant the CPU runs */
static double conv_vs_reference(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t kh, int64_t kw,
                                int64_t stride, int64_t pad)
{
    bb_conv2d d;
    bb_conv2d_setup(&d, cin, h, w, cout, kh, kw, stride, pad);
    int64_t xl = n * cin * h * w, yl = n * cout * d.oh * d.ow, wl = cout * cin * kh * kw, ohw = d.oh * d.ow;
    float *x = vec(xl, 10), *wt = vec(wl, 11), *dy = vec(yl, 12), *dx0 = vec(xl, 13), *dw0 = vec(wl, 14);
    float *ry = bb_alloc((size_t)yl * 4), *rdx = bb_alloc((size_t)xl * 4), *rdw = bb_alloc((size_t)wl * 4);
    float *xh = bb_alloc((size_t)xl * 4), *dyh = bb_alloc((size_t)yl * 4), *yh = bb_alloc((size_t)yl * 4);
    float *dxh = bb_alloc((size_t)xl * 4), *fy = bb_alloc((size_t)yl * 4), *fdx = bb_alloc((size_t)xl * 4);
    float *fdw = bb_alloc((size_t)wl * 4);
    size_t wsl = bb_conv2d_workspace(&d) > bb_conv2d_nhwc_workspace(&d, n) ? bb_conv2d_workspace(&d)
                                                                           : bb_conv2d_nhwc_workspace(&d, n);
    float *ws = bb_alloc(wsl * 4 + 64);
    for (int i = 0; i < 16; i++) ws[wsl + (size_t)i] = 12345.0f;  /* a canary past the planned workspace */
    bb_conv2d_forward(&d, n, x, wt, ry, ws);
    memcpy(rdx, dx0, (size_t)xl * 4);
    memcpy(rdw, dw0, (size_t)wl * 4);
    bb_conv2d_backward(&d, n, x, wt, dy, rdx, rdw, ws);
    bb_nchw_to_nhwc(n, cin, h * w, x, xh);
    bb_nchw_to_nhwc(n, cout, ohw, dy, dyh);
    double worst = 0;
    for (int v = 0; v < BB_UK_NVARIANTS; v++) {
        if (!variant_runs((bb_uk_variant)v)) continue;
        for (int64_t i = 0; i < yl; i++) yh[i] = 1e30f;  /* the forward writes every output */
        bb_conv2d_nhwc_forward(&d, (bb_uk_variant)v, n, xh, wt, yh, ws);
        bb_nhwc_to_nchw(n, cout, ohw, yh, fy);
        bb_nchw_to_nhwc(n, cin, h * w, dx0, dxh);
        memcpy(fdw, dw0, (size_t)wl * 4);
        bb_conv2d_nhwc_backward(&d, (bb_uk_variant)v, n, xh, wt, dyh, dxh, 0, fdw, ws);
        bb_nhwc_to_nchw(n, cin, h * w, dxh, fdx);
        worst = fmax(worst, fmax(rel_err(fy, ry, yl), fmax(rel_err(fdx, rdx, xl), rel_err(fdw, rdw, wl))));
        /* dx only (dw NULL), then dw only (dx NULL) give the same */
        bb_nchw_to_nhwc(n, cin, h * w, dx0, dxh);
        bb_conv2d_nhwc_backward(&d, (bb_uk_variant)v, n, xh, wt, dyh, dxh, 0, NULL, ws);
        bb_nhwc_to_nchw(n, cin, h * w, dxh, fdx);
        memcpy(fdw, dw0, (size_t)wl * 4);
        bb_conv2d_nhwc_backward(&d, (bb_uk_variant)v, n, xh, wt, dyh, NULL, 0, fdw, ws);
        worst = fmax(worst, fmax(rel_err(fdx, rdx, xl), rel_err(fdw, rdw, wl)));
        /* set_dx: dx = dL/dx whatever it held (the reference result minus what was added to) */
        for (int64_t i = 0; i < xl; i++) dxh[i] = 1e6f;
        bb_conv2d_nhwc_backward(&d, (bb_uk_variant)v, n, xh, wt, dyh, dxh, 1, NULL, ws);
        bb_nhwc_to_nchw(n, cin, h * w, dxh, fdx);
        for (int64_t i = 0; i < xl; i++) fdx[i] += dx0[i];
        worst = fmax(worst, rel_err(fdx, rdx, xl));
    }
    for (int i = 0; i < 16; i++)
        if (ws[wsl + (size_t)i] != 12345.0f) worst = 1.0;
    bb_free(x); bb_free(wt); bb_free(dy); bb_free(dx0); bb_free(dw0); bb_free(ry); bb_free(rdx); bb_free(rdw);
    bb_free(xh); bb_free(dyh); bb_free(yh); bb_free(dxh); bb_free(fy); bb_free(fdx); bb_free(fdw); bb_free(ws);
    return worst;
}

TEST(fast_conv_matches_reference)
{
    static const int64_t cases[][9] = {
        /* n, cin, h, w, cout, kh, kw, stride, pad */
        {3, 16, 28, 28, 16, 3, 3, 1, 1},  /* ResNet-20 stage 1: more than one pixel block */
        {2, 16, 14, 13, 32, 3, 3, 2, 1},  /* down-sampling 3x3/2, odd width: scatter backward */
        {2, 64, 7, 7, 64, 3, 3, 1, 1},    /* stage 3: blocked reduction (K = 576) */
        {2, 1, 9, 11, 16, 3, 3, 1, 1},    /* one input channel (the stem) */
        {2, 3, 11, 10, 5, 7, 7, 2, 3},    /* 7x7/2 stem, cout not a multiple of 8 */
        {3, 12, 6, 5, 20, 1, 1, 1, 0},    /* pointwise: no padding copy, masked columns */
        {2, 8, 7, 9, 12, 1, 1, 2, 0},     /* 1x1/2 projection */
        {2, 5, 6, 7, 3, 3, 1, 1, 0},      /* non-square kernel, no padding */
        {1, 4, 5, 5, 6, 3, 3, 3, 2},      /* stride 3, padding 2 */
        {2, 6, 5, 6, 7, 1, 1, 1, 1},      /* padding larger than the kernel: scatter at stride 1 */
        {3, 8, 1, 9, 16, 3, 3, 1, 1},     /* one row: only the middle window row is inside the input */
        {2, 64, 2, 3, 64, 3, 3, 1, 1},    /* two rows, K = 576 in passes: passes wholly in the padding */
        {1, 40, 6, 6, 40, 3, 3, 1, 1},    /* 40 channels: 16 + 16 + 8 column blocks (AVX2), 40 masked (AVX-512) */
        {2, 12, 4, 2, 20, 3, 3, 1, 1},    /* weight-gradient sliding tiles (AVX-512): rows of 2 pixels, 3 groups of 4 */
        {2, 9, 6, 7, 16, 3, 3, 1, 0},     /* ... no padding (read in place), 9 channels: groups of 8 and 1 */
        {1, 8, 64, 64, 8, 3, 3, 1, 1},    /* 4096 pixels: the weight gradient sums two parts */
        {2, 16, 9, 10, 16, 5, 5, 1, 2},   /* two edge columns each side, tiled apart with their taps cut */
        {1, 16, 2, 300, 8, 3, 5, 1, 3},   /* blocks of one row, some wholly in the padding: edge columns too */
        {1, 20, 5, 6, 100, 1, 1, 1, 0},   /* 100 columns: 64 + 36 (AVX-512: 3 vectors, the last masked) */
        /* ImageNet ResNet layers at their channel counts, reduced batch and spatial size */
        {1, 3, 30, 30, 64, 7, 7, 2, 3},   /* the 7x7/2 stem (224x224 -> 112x112 in the real network) */
        {2, 64, 8, 8, 64, 1, 1, 1, 0},    /* bottleneck 1x1 reduce, stage 1 */
        {2, 64, 8, 8, 256, 1, 1, 1, 0},   /* bottleneck 1x1 expand: 4 column blocks of 64 */
        {2, 256, 7, 7, 64, 1, 1, 1, 0},   /* 1x1 reduce from 256 channels */
        {1, 128, 6, 6, 128, 3, 3, 1, 1},  /* bottleneck 3x3, stage 2: K = 1152 in 4 passes */
        {1, 128, 9, 9, 128, 3, 3, 2, 1},  /* the strided 3x3 of a down-sampling bottleneck */
        {2, 256, 8, 8, 512, 1, 1, 2, 0},  /* the 1x1/2 projection shortcut, stage 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t *c = cases[i];
        double e = conv_vs_reference(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]);
        CHECK_MSG(e < FAST_TOL, "case %zu (%lldx%lldx%lld -> %lld, k %lldx%lld, stride %lld, pad %lld): error %.3g", i,
                  (long long)c[1], (long long)c[2], (long long)c[3], (long long)c[4], (long long)c[5],
                  (long long)c[6], (long long)c[7], (long long)c[8], e);
    }
}

/* batch norm (train, eval, backward), with and without the fused ReLU */
static double bn_vs_reference(int64_t n, int64_t c, int64_t hw, int relu)
{
    bb_bn d = {c, hw, 1e-5f};
    int64_t len = n * c * hw;
    float *x = vec(len, 20), *dy = vec(len, 21), *dx0 = vec(len, 22), *g = vec(c, 23), *b = vec(c, 24);
    float *rm = vec(c, 25), *rv = bb_alloc((size_t)c * 4);
    for (int64_t i = 0; i < len; i++) x[i] = 3.0f + 2.0f * x[i];  /* mean and spread away from 0 and 1 */
    for (int64_t i = 0; i < c; i++) rv[i] = 0.5f + 0.1f * (float)i;
    float *ry = bb_alloc((size_t)len * 4), *rr = bb_alloc((size_t)len * 4), *rdx = bb_alloc((size_t)len * 4);
    float *rdz = bb_alloc((size_t)len * 4), *re = bb_alloc((size_t)len * 4);
    float *xh = bb_alloc((size_t)len * 4), *yh = bb_alloc((size_t)len * 4), *dyh = bb_alloc((size_t)len * 4);
    float *dxh = bb_alloc((size_t)len * 4), *f = bb_alloc((size_t)len * 4);
    float *ws = bb_alloc(bb_bn_nhwc_workspace(&d, n) * 4);
    float rsave[2 * 1100], fsave[2 * 1100], rstats[2 * 1100] = {0}, fstats[2 * 1100] = {0};
    float rdg[1100], rdb[1100], fdg[1100], fdb[1100];
    for (int64_t i = 0; i < c; i++) rdg[i] = fdg[i] = 0.5f, rdb[i] = fdb[i] = -0.25f;
    /* reference: BN, then ReLU as its own op */
    bb_bn_forward_train(&d, n, x, g, b, ry, rsave, rstats);
    const float *out = ry, *gin = dy;
    if (relu) {
        bb_relu_forward(len, ry, rr);
        memset(rdz, 0, (size_t)len * 4);
        bb_relu_backward(len, rr, dy, rdz);
        out = rr;
        gin = rdz;
    }
    memcpy(rdx, dx0, (size_t)len * 4);
    bb_bn_backward(&d, n, x, g, rsave, gin, rdx, rdg, rdb);
    bb_bn_forward_eval(&d, n, x, g, b, rm, rv, re);
    if (relu) bb_relu_forward(len, re, re);
    /* channels last, fused */
    bb_nchw_to_nhwc(n, c, hw, x, xh);
    bb_nchw_to_nhwc(n, c, hw, dy, dyh);
    bb_nchw_to_nhwc(n, c, hw, dx0, dxh);
    bb_bn_nhwc_forward_train(&d, n, xh, g, b, NULL, yh, fsave, fstats, relu, NULL, ws, NULL);
    bb_nhwc_to_nchw(n, c, hw, yh, f);
    double e = rel_err(f, out, len);
    e = fmax(e, rel_err(fsave, rsave, 2 * c));
    e = fmax(e, rel_err(fstats, rstats, 2 * c));
    bb_bn_nhwc_backward(&d, n, xh, g, fsave, b, NULL, dyh, dxh, 0, fdg, fdb, relu, NULL, NULL, ws, NULL);
    bb_nhwc_to_nchw(n, c, hw, dxh, f);
    e = fmax(e, rel_err(f, rdx, len));
    e = fmax(e, fmax(rel_err(fdg, rdg, c), rel_err(fdb, rdb, c)));
    for (int64_t i = 0; i < len; i++) dxh[i] = -1e6f;  /* set_dx: what dx held does not matter */
    bb_bn_nhwc_backward(&d, n, xh, g, fsave, b, NULL, dyh, dxh, 1, fdg, fdb, relu, NULL, NULL, ws, NULL);
    bb_nhwc_to_nchw(n, c, hw, dxh, f);
    for (int64_t i = 0; i < len; i++) f[i] += dx0[i];
    e = fmax(e, rel_err(f, rdx, len));
    bb_bn_nhwc_forward_eval(&d, n, xh, g, b, rm, rv, NULL, yh, relu, NULL);
    bb_nhwc_to_nchw(n, c, hw, yh, f);
    e = fmax(e, rel_err(f, re, len));
    bb_free(x); bb_free(dy); bb_free(dx0); bb_free(g); bb_free(b); bb_free(rm); bb_free(rv); bb_free(ry);
    bb_free(rr); bb_free(rdx); bb_free(rdz); bb_free(re); bb_free(xh); bb_free(yh); bb_free(dyh); bb_free(dxh);
    bb_free(f); bb_free(ws);
    return e;
}

TEST(fast_batchnorm_matches_reference)
{
    /* vector paths (c % 8 == 0: blocks of 16 and a last 8; chunks of 512
     * channels), generic loops otherwise */
    static const int64_t cases[][3] = {{4, 16, 49}, {2, 24, 13}, {3, 8, 7}, {2, 5, 9}, {2, 3, 1}, {1, 1048, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++) {
            double e = bn_vs_reference(cases[i][0], cases[i][1], cases[i][2], relu);
            CHECK_MSG(e < FAST_TOL, "n %lld c %lld hw %lld relu %d: error %.3g", (long long)cases[i][0],
                      (long long)cases[i][1], (long long)cases[i][2], relu, e);
        }
}

/* Everything one width of the element-wise operators writes, for
 * fast_batchnorm_every_vector_width_gives_the_same_bits: a BN's training
 * forward with a residual and its ReLU, its backward (dx, dres, dgamma,
 * dbeta), the evaluation forward, the applied form, add + ReLU both ways. */
static void bn_outputs(int64_t n, int64_t c, int64_t hw, float *out)
{
    bb_bn d = {c, hw, 1e-5f};
    int64_t len = n * c * hw;
    float *x = vec(len, 70), *res = vec(len, 71), *dy = vec(len, 72), *g = vec(c, 73), *b = vec(c, 74);
    float *rv = vec(c, 75), *ws = bb_alloc(bb_bn_nhwc_workspace(&d, n) * 4);
    for (int64_t i = 0; i < c; i++) rv[i] = 0.5f + rv[i] * rv[i];
    float *y = out, *dx = y + len, *dres = dx + len, *ye = dres + len, *ya = ye + len, *yr = ya + len;
    float *da = yr + len, *save = da + len, *stats = save + 2 * c, *dg = stats + 2 * c, *db = dg + c;
    memset(stats, 0, (size_t)(4 * c) * 4);
    bb_bn_residual r = {res, y, dres, 1};
    bb_bn_nhwc_forward_train(&d, n, x, g, b, &r, y, save, stats, 1, NULL, ws, NULL);
    bb_bn_nhwc_backward(&d, n, x, g, save, b, &r, dy, dx, 1, dg, db, 1, NULL, NULL, ws, NULL);
    bb_bn_nhwc_forward_eval(&d, n, x, g, b, stats, rv, NULL, ye, 1, NULL);
    bb_bn_nhwc_apply(n * hw, c, x, g, b, 1, ya);
    bb_add_relu_forward(len, x, res, yr);
    bb_add_relu_backward(len, yr, dy, da, 1, da, 0);
    bb_free(x); bb_free(res); bb_free(dy); bb_free(g); bb_free(b); bb_free(rv); bb_free(ws);
}

/* The AVX-512 operators (16 channels a vector) and the AVX2 ones (8) give
 * the same bits: lanes are channels, each with the same operations in the
 * same order; --kernels avx2 only makes them slower. */
TEST(fast_batchnorm_every_vector_width_gives_the_same_bits)
{
    if (!bb_uk_supported(BB_UK_AVX512) || !bb_uk_supported(BB_UK_AVX2)) {
        fprintf(stderr, "  (this CPU runs one vector width: nothing to compare)\n");
        return;
    }
    static const int64_t cases[][3] = {{4, 16, 49}, {2, 48, 13}, {3, 64, 7}, {2, 24, 9}, {1, 1056, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = cases[i][0], c = cases[i][1], hw = cases[i][2], len = 7 * n * c * hw + 6 * c;
        float *wide = bb_alloc((size_t)len * 4), *narrow = bb_alloc((size_t)len * 4);
        bb_nhwc_set_kernels(BB_UK_AVX512);
        bn_outputs(n, c, hw, wide);
        bb_nhwc_set_kernels(BB_UK_AVX2);
        bn_outputs(n, c, hw, narrow);
        bb_nhwc_set_kernels(BB_UK_AVX512);
        CHECK_MSG(memcmp(wide, narrow, (size_t)len * 4) == 0, "n %lld c %lld hw %lld: the widths differ",
                  (long long)n, (long long)c, (long long)hw);
        bb_free(wide); bb_free(narrow);
    }
}

/* one-pass statistics: a mean 1000 spreads away, the first row an outlier */
TEST(fast_batchnorm_statistics_far_from_zero)
{
    int64_t n = 4, c = 16, hw = 50, len = n * c * hw;
    bb_bn d = {c, hw, 1e-5f};
    float *x = vec(len, 60), *xh = bb_alloc((size_t)len * 4), *y = bb_alloc((size_t)len * 4);
    float *g = bb_alloc((size_t)c * 4), *b = bb_alloc((size_t)c * 4), rs[32], fs[32];
    float *ws = bb_alloc(bb_bn_nhwc_workspace(&d, n) * 4);
    for (int64_t i = 0; i < len; i++) x[i] = 1000.0f + 0.5f * x[i];
    for (int64_t k = 0; k < c; k++) { x[k * hw] = 1003.0f; g[k] = 1.0f; b[k] = 0.0f; }  /* sample 0, pixel 0 */
    bb_bn_forward_train(&d, n, x, g, b, y, rs, NULL);
    bb_nchw_to_nhwc(n, c, hw, x, xh);
    bb_bn_nhwc_forward_train(&d, n, xh, g, b, NULL, y, fs, NULL, 0, NULL, ws, NULL);
    CHECK_MSG(rel_err(fs, rs, c) < 1e-7, "mean error %.3g", rel_err(fs, rs, c));
    CHECK_MSG(rel_err(fs + c, rs + c, c) < FAST_TOL, "inverse std error %.3g", rel_err(fs + c, rs + c, c));
    bb_free(x); bb_free(xh); bb_free(y); bb_free(g); bb_free(b); bb_free(ws);
}

/* A BN's first pass done ahead, chunk by chunk as rows complete (bb_bn_sums:
 * the forward's moments, the backward's sums), and its backward's second
 * pass left for later, run a few rows at a time (bb_bn_later), give the bits
 * of the BN's own passes; channels that are not a multiple of 8 run the
 * passes themselves. The sums ahead leave g (dy after the ReLU's mask) in
 * dy, and the second pass then masks no more: with a residual it no longer
 * reads the output y (spoilt here once the sums are done). */
static int bn_sums_ahead_equal_pass(int64_t n, int64_t c, int64_t hw, int relu, int residual, int64_t step)
{
    bb_bn d = {c, hw, 1e-5f};
    int64_t len = n * c * hw, M = n * hw;
    float *x = vec(len, 70), *dy = vec(len, 71), *g = vec(c, 72), *b = vec(c, 73), *res = vec(len, 74);
    float *y0 = bb_alloc((size_t)len * 4), *y1 = bb_alloc((size_t)len * 4);
    float *dx0 = bb_alloc((size_t)len * 4), *dx1 = bb_alloc((size_t)len * 4);
    float *dr0 = bb_alloc((size_t)len * 4), *dr1 = bb_alloc((size_t)len * 4);
    float *ws = bb_alloc(bb_bn_nhwc_workspace(&d, n) * 4), *k = bb_alloc((size_t)(2 * c) * 4);
    double *part = bb_alloc(bb_bn_nhwc_sums_len(&d, n) * sizeof(double));
    float s0[2 * 64], s1[2 * 64], dg[2][64] = {{0}}, db[2][64] = {{0}};
    for (int64_t i = 0; i < len; i++) x[i] = 2.0f + x[i];
    bb_bn_residual fr = {res, NULL, NULL, 0}, br[2] = {{NULL, y0, dr0, 1}, {NULL, y0, dr1, 1}};
    const bb_bn_residual *f = residual ? &fr : NULL;
    bb_bn_nhwc_forward_train(&d, n, x, g, b, f, y0, s0, NULL, relu, NULL, ws, NULL);
    bb_bn_sums m = {&d, n, x, NULL, NULL, NULL, NULL, NULL, 0, part, 0};
    for (int64_t r = step; r < M + step; r += step) bb_bn_nhwc_moments(&m, r < M ? r : M);
    int ahead = c % 8 == 0, ok = bb_bn_nhwc_sums_complete(&m) == ahead;
    bb_bn_nhwc_forward_train(&d, n, x, g, b, f, y1, s1, NULL, relu, ahead ? part : NULL, ws, NULL);
    ok = ok && !memcmp(y0, y1, (size_t)len * 4) && !memcmp(s0, s1, (size_t)(2 * c) * 4);
    bb_bn_nhwc_backward(&d, n, x, g, s0, b, residual ? &br[0] : NULL, dy, dx0, 1, dg[0], db[0], relu, NULL, NULL,
                        ws, NULL);
    bb_bn_nhwc_coefficients(&d, g, b, s0, NULL, NULL, k, k + c);
    memcpy(dx1, dy, (size_t)len * 4);  /* dy as it was (dx1 is written only below) */
    bb_bn_sums q = {&d, n, x, s0, k, k + c, dy, residual ? y0 : NULL, relu, part, 0};
    for (int64_t r = step; r < M + step; r += step) bb_bn_nhwc_grad_sums(&q, r < M ? r : M);
    ok = ok && bb_bn_nhwc_sums_complete(&q) == ahead;
    for (int64_t i = 0; i < len; i++) ok = ok && dy[i] == (ahead && relu && !(y0[i] > 0.0f) ? 0.0f : dx1[i]);
    for (int64_t i = 0; ahead && residual && i < len; i++) y0[i] = -1.0f;  /* a mask from y would zero g */
    float *cf = bb_alloc(bb_bn_nhwc_later_len(&d) * 4);
    bb_bn_later later = {.cf = cf};
    bb_bn_nhwc_backward(&d, n, x, g, s0, b, residual ? &br[1] : NULL, dy, dx1, 1, dg[1], db[1], relu,
                        ahead ? part : NULL, &later, ws, NULL);
    ok = ok && (later.done == 0) == ahead;  /* the second pass left to the caller, when it can be */
    for (int64_t r = step; r < M + step; r += step) bb_bn_nhwc_dx_rows(&later, r < M ? r : M);
    bb_free(cf);
    ok = ok && !memcmp(dx0, dx1, (size_t)len * 4) && !memcmp(dg[0], dg[1], sizeof dg[0]) &&
         !memcmp(db[0], db[1], sizeof db[0]) && (!residual || !memcmp(dr0, dr1, (size_t)len * 4));
    bb_free(x); bb_free(dy); bb_free(g); bb_free(b); bb_free(res); bb_free(y0); bb_free(y1); bb_free(dx0);
    bb_free(dx1); bb_free(dr0); bb_free(dr1); bb_free(ws); bb_free(k); bb_free(part);
    return ok;
}

TEST(fast_batchnorm_passes_done_ahead_equal_the_pass)
{
    CHECK(bn_sums_ahead_equal_pass(3, 16, 49, 0, 0, 37));    /* one chunk per few rows, steps across them */
    CHECK(bn_sums_ahead_equal_pass(32, 16, 784, 1, 0, 252)); /* ResNet-20 stage 1: 64 chunks, a conv block a step */
    CHECK(bn_sums_ahead_equal_pass(4, 24, 25, 1, 1, 1));     /* row by row; 16 + 8 channels; a residual's mask */
    CHECK(bn_sums_ahead_equal_pass(5, 32, 49, 1, 1, 40));    /* residual + ReLU, as after a block's second conv */
    CHECK(bn_sums_ahead_equal_pass(2, 12, 9, 1, 0, 5));      /* 12 channels: the pass itself */
}

/* A convolution applying a batch norm (and its ReLU) to its input as it copies
 * it (bb_conv_input) gives the bits of the BN's output then the convolution:
 * forward, and the weight gradient (which copies the input again), with the
 * training coefficients and the evaluation ones, on every variant, alone and
 * on a team of 2; the BN's statistics alone (no output) equal those of the
 * full forward. */
static int conv_applying_bn_equals_bn_then_conv(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout,
                                                int64_t stride, int relu)
{
    bb_conv2d d;
    bb_conv2d_setup(&d, cin, h, w, cout, 3, 3, stride, 1);
    bb_bn bn = {cin, h * w, 1e-5f};
    int64_t xl = n * cin * h * w, yl = n * cout * d.oh * d.ow, wl = cout * cin * 9;
    size_t xb = (size_t)xl * 4, yb = (size_t)yl * 4, wb = (size_t)wl * 4;
    float *x = vec(xl, 90), *wt = vec(wl, 91), *dy = vec(yl, 92), *g = vec(cin, 93), *b = vec(cin, 94);
    float *rm = vec(cin, 95), *rv = bb_alloc((size_t)cin * 4), *z = bb_alloc(xb), *y0 = bb_alloc(yb);
    float *y1 = bb_alloc(yb), *dw0 = bb_alloc(wb), *dw1 = bb_alloc(wb), *coef = bb_alloc((size_t)cin * 8);
    float *save = bb_alloc((size_t)cin * 8), *save1 = bb_alloc((size_t)cin * 8);
    float *bws = bb_alloc(bb_bn_nhwc_workspace(&bn, n) * 4);
    float *ws = bb_alloc(bb_conv2d_nhwc_workspace_team(&d, n, 2) * 4);
    for (int64_t c = 0; c < cin; c++) rv[c] = 0.5f + 0.1f * (float)c;
    bb_pool *team = NULL;
    int same = bb_conv2d_nhwc_copies_input(&d) && bb_pool_create(&team, 2) == BB_OK;
    bb_bn_nhwc_forward_train(&bn, n, x, g, b, NULL, NULL, save1, NULL, relu, NULL, bws, NULL);
    for (int train = 1; same && train >= 0; train--) {
        if (train) bb_bn_nhwc_forward_train(&bn, n, x, g, b, NULL, z, save, NULL, relu, NULL, bws, NULL);
        else bb_bn_nhwc_forward_eval(&bn, n, x, g, b, rm, rv, NULL, z, relu, NULL);
        bb_bn_nhwc_coefficients(&bn, g, b, train ? save : NULL, rm, rv, coef, coef + cin);
        bb_conv_input in = {coef, coef + cin, relu};
        for (int v = 0; v < BB_UK_NVARIANTS; v++) {
            if (!variant_runs((bb_uk_variant)v)) continue;
            for (int threads = 1; threads <= 2; threads++) {
                bb_pool *p = threads > 1 ? team : NULL;
                memset(dw0, 0, wb);
                memset(dw1, 0, wb);
                bb_conv2d_nhwc_forward_team(&d, (bb_uk_variant)v, n, z, NULL, wt, y0, NULL, ws, p);
                bb_conv2d_nhwc_forward_team(&d, (bb_uk_variant)v, n, x, &in, wt, y1, NULL, ws, p);
                bb_conv2d_nhwc_backward_team(&d, (bb_uk_variant)v, n, z, NULL, wt, dy, NULL, 0, dw0, NULL, NULL, ws, p);
                bb_conv2d_nhwc_backward_team(&d, (bb_uk_variant)v, n, x, &in, wt, dy, NULL, 0, dw1, NULL, NULL, ws, p);
                same &= memcmp(y0, y1, yb) == 0 && memcmp(dw0, dw1, wb) == 0;
            }
        }
    }
    same &= memcmp(save, save1, (size_t)cin * 8) == 0;
    bb_pool_destroy(team);
    bb_free(x); bb_free(wt); bb_free(dy); bb_free(g); bb_free(b); bb_free(rm); bb_free(rv); bb_free(z);
    bb_free(y0); bb_free(y1); bb_free(dw0); bb_free(dw1); bb_free(coef); bb_free(save); bb_free(save1);
    bb_free(bws); bb_free(ws);
    return same;
}

TEST(fast_conv_applying_bn_equals_bn_then_conv)
{
    static const int64_t cases[][6] = {
        /* n, cin, h, w, cout, stride */
        {2, 16, 12, 11, 16, 1},  /* ResNet-20 stage 1 channels: sliding tiles */
        {2, 32, 7, 7, 64, 2},    /* strided, wider */
        {2, 12, 6, 5, 8, 1},     /* 12 channels: the BN's generic loops */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++) {
            const int64_t *c = cases[i];
            CHECK_MSG(conv_applying_bn_equals_bn_then_conv(c[0], c[1], c[2], c[3], c[4], c[5], relu),
                      "case %zu relu %d: applying the BN in the convolution differs", i, relu);
        }
    bb_conv2d pointwise;
    bb_conv2d_setup(&pointwise, 8, 5, 5, 8, 1, 1, 1, 0);
    CHECK(!bb_conv2d_nhwc_copies_input(&pointwise));  /* read in place: the plan never asks it to apply a BN */
}

/* a BN with the residual add (+ ReLU) fused gives the bits of the BN, then
 * the add (+ ReLU), forward (train and eval) and backward */
static int bn_residual_equals_bn_then_add(int64_t n, int64_t c, int64_t hw, int relu)
{
    bb_bn d = {c, hw, 1e-5f};
    int64_t len = n * c * hw;
    size_t bytes = (size_t)len * 4;
    float *x = vec(len, 70), *s = vec(len, 71), *dy = vec(len, 72), *ds0 = vec(len, 73), *g = vec(c, 74);
    float *b = vec(c, 75), *rm = vec(c, 76), *rv = bb_alloc((size_t)c * 4);
    float *z = bb_alloc(bytes), *y = bb_alloc(bytes), *dz = bb_alloc(bytes), *dx = bb_alloc(bytes);
    float *ds = bb_alloc(bytes), *fy = bb_alloc(bytes), *fdx = bb_alloc(bytes), *fds = bb_alloc(bytes);
    float *ws = bb_alloc(bb_bn_nhwc_workspace(&d, n) * 4);
    float save[2 * 32], fsave[2 * 32], dg[32] = {0}, db[32] = {0}, fdg[32] = {0}, fdb[32] = {0};
    for (int64_t i = 0; i < c; i++) rv[i] = 0.5f + 0.1f * (float)i;
    int same = 1;
    for (int train = 1; train >= 0; train--) {
        bb_bn_residual r = {s, fy, fds, 0};
        if (train) bb_bn_nhwc_forward_train(&d, n, x, g, b, NULL, z, save, NULL, 0, NULL, ws, NULL);
        else bb_bn_nhwc_forward_eval(&d, n, x, g, b, rm, rv, NULL, z, 0, NULL);
        if (relu) bb_add_relu_forward(len, z, s, y);
        else bb_add_forward(len, z, s, y);
        if (train) bb_bn_nhwc_forward_train(&d, n, x, g, b, &r, fy, fsave, NULL, relu, NULL, ws, NULL);
        else bb_bn_nhwc_forward_eval(&d, n, x, g, b, rm, rv, &r, fy, relu, NULL);
        same &= memcmp(y, fy, bytes) == 0;
    }
    memcpy(ds, ds0, bytes);
    memcpy(fds, ds0, bytes);
    if (relu) {
        bb_add_relu_backward(len, y, dy, dz, 1, ds, 0);
    } else {
        memcpy(dz, dy, bytes);
        for (int64_t i = 0; i < len; i++) ds[i] += dy[i];
    }
    bb_bn_nhwc_backward(&d, n, x, g, save, b, NULL, dz, dx, 1, dg, db, 0, NULL, NULL, ws, NULL);
    bb_bn_residual r = {NULL, fy, fds, 0};
    bb_bn_nhwc_backward(&d, n, x, g, fsave, b, &r, dy, fdx, 1, fdg, fdb, relu, NULL, NULL, ws, NULL);
    same &= memcmp(dx, fdx, bytes) == 0 && memcmp(ds, fds, bytes) == 0;
    same &= memcmp(dg, fdg, (size_t)c * 4) == 0 && memcmp(db, fdb, (size_t)c * 4) == 0;
    bb_free(x); bb_free(s); bb_free(dy); bb_free(ds0); bb_free(g); bb_free(b); bb_free(rm); bb_free(rv);
    bb_free(z); bb_free(y); bb_free(dz); bb_free(dx); bb_free(ds); bb_free(fy); bb_free(fdx); bb_free(fds);
    bb_free(ws);
    return same;
}

TEST(fast_batchnorm_residual_equals_bn_then_add)
{
    static const int64_t cases[][3] = {{3, 16, 20}, {2, 24, 9}, {2, 5, 7}};  /* vector paths, generic loops */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++)
            CHECK_MSG(bn_residual_equals_bn_then_add(cases[i][0], cases[i][1], cases[i][2], relu),
                      "n %lld c %lld hw %lld relu %d: the fused BN + add differs", (long long)cases[i][0],
                      (long long)cases[i][1], (long long)cases[i][2], relu);
}

TEST(fast_add_relu_matches_reference)
{
    for (int64_t len = 1; len <= 41; len += 8) {
        float *a = vec(len, 30), *b = vec(len, 31), *dy = vec(len, 32), *da0 = vec(len, 33), *db0 = vec(len, 34);
        float *y = bb_alloc((size_t)len * 4), *r = bb_alloc((size_t)len * 4), *t = bb_alloc((size_t)len * 4);
        float *rda = bb_alloc((size_t)len * 4), *rdb = bb_alloc((size_t)len * 4);
        float *fda = bb_alloc((size_t)len * 4), *fdb = bb_alloc((size_t)len * 4);
        bb_add_forward(len, a, b, t);
        bb_relu_forward(len, t, r);
        bb_add_relu_forward(len, a, b, y);
        CHECK(memcmp(y, r, (size_t)len * 4) == 0);
        memset(t, 0, (size_t)len * 4);
        bb_relu_backward(len, r, dy, t);
        memcpy(rda, da0, (size_t)len * 4); memcpy(fda, da0, (size_t)len * 4);
        memcpy(rdb, db0, (size_t)len * 4); memcpy(fdb, db0, (size_t)len * 4);
        bb_add_backward(len, t, rda, rdb);
        bb_add_relu_backward(len, y, dy, fda, 0, fdb, 0);
        CHECK(memcmp(rda, fda, (size_t)len * 4) == 0 && memcmp(rdb, fdb, (size_t)len * 4) == 0);
        /* y = relu(x + x): both gradients land in the one buffer */
        bb_add_relu_backward(len, y, dy, fda, 0, fda, 0);
        bb_add_backward(len, t, rda, rda);
        CHECK(memcmp(rda, fda, (size_t)len * 4) == 0);
        /* set: store, whatever the buffers held; with x + x the second still adds */
        bb_add_relu_backward(len, y, dy, fda, 1, fdb, 1);
        CHECK(memcmp(fda, t, (size_t)len * 4) == 0 && memcmp(fdb, t, (size_t)len * 4) == 0);
        bb_add_relu_backward(len, y, dy, fda, 1, fda, 0);
        for (int64_t i = 0; i < len; i++) CHECK(fda[i] == 2 * t[i]);
        bb_free(a); bb_free(b); bb_free(dy); bb_free(da0); bb_free(db0); bb_free(y); bb_free(r); bb_free(t);
        bb_free(rda); bb_free(rdb); bb_free(fda); bb_free(fdb);
    }
}

/* the ImageNet stem's 3x3/2 max pool (pad 1) at its 64 channels, reduced spatial size */
TEST(fast_maxpool_imagenet_stem_matches_reference)
{
    int64_t n = 2, c = 64, h = 16, w = 15, xl = n * c * h * w;
    bb_maxpool mp;
    bb_maxpool_setup(&mp, c, h, w, 3, 2, 1);
    int64_t yl = n * c * mp.oh * mp.ow;
    float *x = vec(xl, 50), *xh = bb_alloc((size_t)xl * 4), *y = bb_alloc((size_t)yl * 4), *yh = bb_alloc((size_t)yl * 4);
    float *f = bb_alloc((size_t)xl * 4), *dy = vec(yl, 51), *dyh = bb_alloc((size_t)yl * 4), *dx = vec(xl, 52);
    float *dxh = bb_alloc((size_t)xl * 4), *rdx = bb_alloc((size_t)xl * 4);
    int32_t *am = bb_alloc((size_t)yl * 4), *amh = bb_alloc((size_t)yl * 4);
    CHECK(mp.oh == 8 && mp.ow == 8);
    bb_nchw_to_nhwc(n, c, h * w, x, xh);
    bb_maxpool_forward(&mp, n, x, y, am);
    bb_maxpool_nhwc_forward(&mp, n, xh, yh, amh);
    bb_nhwc_to_nchw(n, c, mp.oh * mp.ow, yh, f);
    CHECK(memcmp(f, y, (size_t)yl * 4) == 0);
    memcpy(rdx, dx, (size_t)xl * 4);
    bb_maxpool_backward(&mp, n, am, dy, rdx);
    bb_nchw_to_nhwc(n, c, mp.oh * mp.ow, dy, dyh);
    bb_nchw_to_nhwc(n, c, h * w, dx, dxh);
    bb_maxpool_nhwc_backward(&mp, n, amh, dyh, dxh);
    bb_nhwc_to_nchw(n, c, h * w, dxh, f);
    CHECK(rel_err(f, rdx, xl) < FAST_TOL);
    bb_free(x); bb_free(xh); bb_free(y); bb_free(yh); bb_free(f); bb_free(dy); bb_free(dyh); bb_free(dx);
    bb_free(dxh); bb_free(rdx); bb_free(am); bb_free(amh);
}

TEST(fast_pools_and_shortcut_match_reference)
{
    int64_t n = 2, c = 5, h = 9, w = 7;
    int64_t xl = n * c * h * w;
    float *x = vec(xl, 40), *xh = bb_alloc((size_t)xl * 4), *dx = vec(xl, 41), *dxh = bb_alloc((size_t)xl * 4);
    float *f = bb_alloc((size_t)xl * 4 * 4);
    float *dy = vec(xl * 4, 42), *dyh = bb_alloc((size_t)xl * 4 * 4), *y = bb_alloc((size_t)xl * 4 * 4);
    float *yh = bb_alloc((size_t)xl * 4 * 4), *rdx = bb_alloc((size_t)xl * 4);
    int32_t *am = bb_alloc((size_t)xl * 4), *amh = bb_alloc((size_t)xl * 4);
    bb_nchw_to_nhwc(n, c, h * w, x, xh);
    /* max pool 3x3/2 pad 1 */
    bb_maxpool mp;
    bb_maxpool_setup(&mp, c, h, w, 3, 2, 1);
    int64_t ohw = mp.oh * mp.ow;
    bb_maxpool_forward(&mp, n, x, y, am);
    bb_maxpool_nhwc_forward(&mp, n, xh, yh, amh);
    bb_nhwc_to_nchw(n, c, ohw, yh, f);
    CHECK(memcmp(f, y, (size_t)(n * c * ohw) * 4) == 0);
    memcpy(rdx, dx, (size_t)xl * 4);
    bb_maxpool_backward(&mp, n, am, dy, rdx);
    bb_nchw_to_nhwc(n, c, ohw, dy, dyh);
    bb_nchw_to_nhwc(n, c, h * w, dx, dxh);
    bb_maxpool_nhwc_backward(&mp, n, amh, dyh, dxh);
    bb_nhwc_to_nchw(n, c, h * w, dxh, f);
    CHECK(rel_err(f, rdx, xl) < FAST_TOL);
    /* global average pool */
    bb_avgpool_forward(n, c, h * w, x, y);
    bb_avgpool_nhwc_forward(n, c, h * w, xh, yh);
    CHECK(memcmp(y, yh, (size_t)(n * c) * 4) == 0);  /* same order of additions */
    memcpy(rdx, dx, (size_t)xl * 4);
    bb_avgpool_backward(n, c, h * w, dy, rdx);
    bb_nchw_to_nhwc(n, c, h * w, dx, dxh);
    bb_avgpool_nhwc_backward(n, c, h * w, dy, dxh);
    bb_nhwc_to_nchw(n, c, h * w, dxh, f);
    CHECK(rel_err(f, rdx, xl) < FAST_TOL);
    /* option-A shortcut 5 -> 12 channels, stride 2 */
    bb_padshort ps;
    bb_padshort_setup(&ps, c, 12, h, w, 2);
    int64_t yl = n * 12 * ps.oh * ps.ow;
    bb_padshort_forward(&ps, n, x, y);
    bb_padshort_nhwc_forward(&ps, n, xh, yh);
    bb_nhwc_to_nchw(n, 12, ps.oh * ps.ow, yh, f);
    CHECK(memcmp(f, y, (size_t)yl * 4) == 0);
    memcpy(rdx, dx, (size_t)xl * 4);
    bb_padshort_backward(&ps, n, dy, rdx);
    bb_nchw_to_nhwc(n, 12, ps.oh * ps.ow, dy, dyh);
    bb_nchw_to_nhwc(n, c, h * w, dx, dxh);
    bb_padshort_nhwc_backward(&ps, n, dyh, dxh);
    bb_nhwc_to_nchw(n, c, h * w, dxh, f);
    CHECK(memcmp(f, rdx, (size_t)xl * 4) == 0);
    bb_free(x); bb_free(xh); bb_free(dx); bb_free(dxh); bb_free(f); bb_free(dy); bb_free(dyh); bb_free(y);
    bb_free(yh); bb_free(rdx); bb_free(am); bb_free(amh);
}
