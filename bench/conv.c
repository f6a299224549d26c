/* Convolution kernels on the ResNet-20 (1x28x28) shapes, one thread: the
 * reference (per-sample im2col + OpenBLAS sgemm, NCHW), the same with the
 * whole batch in one OpenBLAS GEMM (channels last), and the direct NHWC
 * kernels (best and portable). Every variant is first checked against the
 * reference; then forward, backward-data and backward-weights are timed (best
 * of repeated calls, in thread CPU time).
 * Columns: GFLOP/s of ref_f/ref_b (reference forward, backward data+weights),
 * gemm_f (whole-batch im2col + one OpenBLAS sgemm, forward), fast_f/fast_bd/
 * fast_bw (direct kernels: forward, backward-data, backward-weights) and
 * port_f (portable kernel, forward). Rows s1x6 etc.: ResNet-20 stage 1, six
 * such convolutions; "down": the stride-2 first conv of a stage.
 * usage: bench_conv [batch] [seconds-per-measurement] [avx2|avx512f] (the fast
 * kernels' variant; default: the best the CPU runs) */
#include "ops/nhwc.h"
#include "util/mem.h"
#include "util/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bb_uk_variant fast;  /* the fast kernels' variant */

typedef struct { int64_t cin, h, cout, k, stride, pad; const char *what; } shape;

static const shape shapes[] = {
    {1, 28, 16, 3, 1, 1, "stem"},
    {16, 28, 16, 3, 1, 1, "s1x6"},
    {16, 28, 32, 3, 2, 1, "s2down"},
    {32, 14, 32, 3, 1, 1, "s2x5"},
    {32, 14, 64, 3, 2, 1, "s3down"},
    {64, 7, 64, 3, 1, 1, "s3x5"},
    {16, 28, 32, 1, 2, 0, "proj1x1"},
};

static void fill(float *x, int64_t len, uint64_t seed)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_TEST, 0, 0);
    for (int64_t i = 0; i < len; i++) x[i] = (float)bb_rng_normal(&r);
}

static double rel_err(const float *a, const float *b, int64_t len)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < len; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* whole-batch channels-last im2col: cols (n*oh*ow, kh*kw*cin) */
static void im2col_nhwc(const bb_conv2d *d, int64_t n, const float *x, float *cols)
{
    int64_t K = d->kh * d->kw * d->cin;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                float *row = cols + ((s * d->oh + oy) * d->ow + ox) * K;
                for (int64_t ki = 0; ki < d->kh; ki++)
                    for (int64_t kj = 0; kj < d->kw; kj++) {
                        int64_t iy = oy * d->stride - d->pad + ki, ix = ox * d->stride - d->pad + kj;
                        float *dst = row + (ki * d->kw + kj) * d->cin;
                        if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) memset(dst, 0, (size_t)d->cin * 4);
                        else memcpy(dst, x + ((s * d->h + iy) * d->w + ix) * d->cin, (size_t)d->cin * 4);
                    }
            }
}

typedef struct {
    bb_conv2d d;
    int64_t n;
    float *x, *w, *y, *dy, *dx, *dw, *ws, *xh, *yh, *dyh, *dxh, *cols, *wt;
} ctx;

enum { REF_F, REF_B, GEMM_F, FAST_F, FAST_BD, FAST_BW, PORT_F, PORT_B };

static void run(ctx *c, int what)
{
    const bb_conv2d *d = &c->d;
    int64_t K = d->kh * d->kw * d->cin;
    switch (what) {
    case REF_F: bb_conv2d_forward(d, c->n, c->x, c->w, c->y, c->ws); break;
    case REF_B: bb_conv2d_backward(d, c->n, c->x, c->w, c->dy, c->dx, c->dw, c->ws); break;
    case GEMM_F:
        im2col_nhwc(d, c->n, c->xh, c->cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(c->n * d->oh * d->ow), (int)d->cout, (int)K,
                    1.0f, c->cols, (int)K, c->wt, (int)d->cout, 0.0f, c->yh, (int)d->cout);
        break;
    case FAST_F: bb_conv2d_nhwc_forward(d, fast, c->n, c->xh, c->w, c->yh, c->ws); break;
    case FAST_BD: bb_conv2d_nhwc_backward(d, fast, c->n, c->xh, c->w, c->dyh, c->dxh, 0, NULL, c->ws); break;
    case FAST_BW: bb_conv2d_nhwc_backward(d, fast, c->n, c->xh, c->w, c->dyh, NULL, 0, c->dw, c->ws); break;
    case PORT_F: bb_conv2d_nhwc_forward(d, BB_UK_PORTABLE, c->n, c->xh, c->w, c->yh, c->ws); break;
    case PORT_B: bb_conv2d_nhwc_backward(d, BB_UK_PORTABLE, c->n, c->xh, c->w, c->dyh, c->dxh, 0, c->dw, c->ws); break;
    }
}

/* CPU time of this thread: time the scheduler gives to other processes on a
 * shared machine does not count */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double seconds_per_call(ctx *c, int what, double budget)
{
    double best = 1e30, start = bb_now();
    int reps = 0;
    while (reps < 3 || (bb_now() - start < budget && reps < 1000)) {
        double t0 = cpu_now();
        run(c, what);
        double t = cpu_now() - t0;
        if (t < best) best = t;
        reps++;
    }
    return best;
}

/* checks one fast variant against the reference; returns the worst relative error */
static double check(ctx *c, bb_uk_variant v)
{
    const bb_conv2d *d = &c->d;
    int64_t xl = c->n * d->cin * d->h * d->w, yl = c->n * d->cout * d->oh * d->ow, wl = d->cout * d->cin * d->kh * d->kw;
    float *ry = malloc((size_t)yl * 4), *rdx = calloc((size_t)xl, 4), *rdw = calloc((size_t)wl, 4);
    float *fy = malloc((size_t)yl * 4), *fdx = calloc((size_t)xl, 4), *fdw = calloc((size_t)wl, 4);
    bb_conv2d_forward(d, c->n, c->x, c->w, ry, c->ws);
    bb_conv2d_backward(d, c->n, c->x, c->w, c->dy, rdx, rdw, c->ws);
    memset(c->dxh, 0, (size_t)xl * 4);
    bb_conv2d_nhwc_forward(d, v, c->n, c->xh, c->w, c->yh, c->ws);
    bb_conv2d_nhwc_backward(d, v, c->n, c->xh, c->w, c->dyh, c->dxh, 0, fdw, c->ws);
    bb_nhwc_to_nchw(c->n, d->cout, d->oh * d->ow, c->yh, fy);
    bb_nhwc_to_nchw(c->n, d->cin, d->h * d->w, c->dxh, fdx);
    double e = fmax(rel_err(fy, ry, yl), fmax(rel_err(fdx, rdx, xl), rel_err(fdw, rdw, wl)));
    free(ry); free(rdx); free(rdw); free(fy); free(fdx); free(fdw);
    return e;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 32;
    double budget = argc > 2 ? atof(argv[2]) : 0.3;
    fast = bb_uk_best();
    if (argc > 3) {
        fast = strcmp(argv[3], "avx2") == 0 ? BB_UK_AVX2 : strcmp(argv[3], "avx512f") == 0 ? BB_UK_AVX512 : BB_UK_NVARIANTS;
        if (fast == BB_UK_NVARIANTS || !bb_uk_supported(fast)) {
            fprintf(stderr, "bench_conv: kernels '%s': expected avx2 or avx512f, one this CPU runs\n", argv[3]);
            return 2;
        }
    }
    openblas_set_num_threads(1);
    printf("# batch %lld, 1 thread, kernel %s; GFLOP/s = 2*MACs / best time; the reference backward is data+weights\n",
           (long long)n, bb_uk_name(fast));
    printf("%-14s %-22s %8s | %8s %8s %8s | %8s %8s %8s %8s | %s\n", "conv", "shape", "MMAC/img", "ref_f", "ref_b", "gemm_f",
           "fast_f", "fast_bd", "fast_bw", "port_f", "max rel err");
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        ctx c = {.n = n};
        bb_conv2d_setup(&c.d, s->cin, s->h, s->h, s->cout, s->k, s->k, s->stride, s->pad);
        const bb_conv2d *d = &c.d;
        int64_t xl = n * d->cin * d->h * d->w, yl = n * d->cout * d->oh * d->ow, wl = d->cout * d->cin * d->kh * d->kw;
        int64_t K = d->kh * d->kw * d->cin;
        size_t wsl = bb_conv2d_workspace(d);
        if (bb_conv2d_nhwc_workspace(d, n) > wsl) wsl = bb_conv2d_nhwc_workspace(d, n);
        c.x = bb_alloc((size_t)xl * 4); c.xh = bb_alloc((size_t)xl * 4);
        c.dx = bb_alloc((size_t)xl * 4); c.dxh = bb_alloc((size_t)xl * 4);
        c.y = bb_alloc((size_t)yl * 4); c.yh = bb_alloc((size_t)yl * 4);
        c.dy = bb_alloc((size_t)yl * 4); c.dyh = bb_alloc((size_t)yl * 4);
        c.w = bb_alloc((size_t)wl * 4); c.dw = bb_alloc((size_t)wl * 4); c.wt = bb_alloc((size_t)wl * 4);
        c.ws = bb_alloc(wsl * 4 + 64);
        c.cols = bb_alloc((size_t)(n * d->oh * d->ow * K) * 4);
        fill(c.x, xl, 1); fill(c.w, wl, 2); fill(c.dy, yl, 3);
        bb_nchw_to_nhwc(n, d->cin, d->h * d->w, c.x, c.xh);
        bb_nchw_to_nhwc(n, d->cout, d->oh * d->ow, c.dy, c.dyh);
        for (int64_t co = 0; co < d->cout; co++)  /* wt (tap, ci, co) for the GEMM variant */
            for (int64_t k = 0; k < K; k++) {
                int64_t t = k / d->cin, ci = k % d->cin;
                c.wt[k * d->cout + co] = c.w[(co * d->cin + ci) * d->kh * d->kw + t];
            }
        double e = 0;
        for (int v = 0; v < BB_UK_NVARIANTS; v++)
            if (bb_uk_supported((bb_uk_variant)v)) e = fmax(e, check(&c, (bb_uk_variant)v));
        run(&c, GEMM_F);
        float *g = malloc((size_t)yl * 4), *r = malloc((size_t)yl * 4);
        bb_nhwc_to_nchw(n, d->cout, d->oh * d->ow, c.yh, g);
        bb_conv2d_forward(d, n, c.x, c.w, r, c.ws);
        e = fmax(e, rel_err(g, r, yl));
        free(g); free(r);
        if (e > 1e-5) bad = 1;
        double gf = 2.0 * (double)(d->cout * d->oh * d->ow * K * n) / 1e9;
        double t[8];
        for (int k = 0; k < 8; k++) t[k] = k == PORT_B ? 0 : seconds_per_call(&c, k, budget);
        char sh[40];
        snprintf(sh, sizeof sh, "%lldx%lldx%lld->%lld k%lld/%lld", (long long)d->cin, (long long)d->h,
                 (long long)d->w, (long long)d->cout, (long long)d->kh, (long long)d->stride);
        printf("%-14s %-22s %8.2f | %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f %8.1f | %.2g%s\n", s->what, sh, gf / 2 / n * 1e3,
               gf / t[REF_F], 2 * gf / t[REF_B], gf / t[GEMM_F], gf / t[FAST_F], gf / t[FAST_BD], gf / t[FAST_BW],
               gf / t[PORT_F], e, e > 1e-5 ? "  MISMATCH" : "");
        bb_free(c.x); bb_free(c.xh); bb_free(c.dx); bb_free(c.dxh); bb_free(c.y); bb_free(c.yh);
        bb_free(c.dy); bb_free(c.dyh); bb_free(c.w); bb_free(c.dw); bb_free(c.wt); bb_free(c.ws); bb_free(c.cols);
    }
    return bad;
}
