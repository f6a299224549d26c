/* oneDNN (libdnnl, what PyTorch's CPU convolutions run) against bigbatch's
 * direct channels-last kernels on ResNet-20 and ResNet-50 convolution shapes,
 * one thread: forward, backward-data and backward-weights, activations NHWC
 * for both, oneDNN's weights in the layout it prefers (format "any", filled
 * directly: their values do not matter for the time). Best of repeated calls
 * in thread CPU time, GFLOP/s = 2 x MACs / time. Not part of `make all`
 * (libdnnl-dev is optional): `make bench-onednn`, then
 *   OMP_NUM_THREADS=1 build/bench_onednn [seconds-per-measurement] */
#include "ops/nhwc.h"
#include "util/mem.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_DNNL(call)                                                                  \
    do {                                                                                  \
        dnnl_status_t st_ = (call);                                                       \
        if (st_ != dnnl_success) { fprintf(stderr, "%s: status %d\n", #call, (int)st_); exit(1); } \
    } while (0)

typedef struct { int64_t n, cin, h, cout, k, stride, pad; const char *what; } shape;

static const shape shapes[] = {
    {32, 16, 28, 16, 3, 1, 1, "resnet20 s1 16x28x28 3x3"},
    {32, 64, 7, 64, 3, 1, 1, "resnet20 s3 64x7x7 3x3"},
    {8, 64, 56, 64, 3, 1, 1, "resnet50 s1 64x56x56 3x3"},
    {8, 256, 56, 64, 1, 1, 0, "resnet50 s1 256x56x56 1x1->64"},
    {8, 128, 28, 128, 3, 1, 1, "resnet50 s2 128x28x28 3x3"},
    {8, 512, 14, 1024, 1, 2, 0, "resnet50 s4 proj 512->1024 1x1/2"},
    {8, 64, 56, 256, 1, 1, 0, "resnet50 s1 64x56x56 1x1->256"},
    {8, 512, 7, 2048, 1, 1, 0, "resnet50 s4 512x7x7 1x1->2048"},
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n, unsigned seed)
{
    float *p = bb_alloc(n * sizeof(float) + 64);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

typedef struct {
    dnnl_primitive_t prim;
    dnnl_exec_arg_t args[3];
    dnnl_stream_t strm;
} dnnl_op;

typedef struct {
    const bb_conv2d *d;
    bb_uk_variant v;
    int64_t n;
    int what;  /* 0 forward, 1 backward-data, 2 backward-weights */
    float *x, *w, *y, *dy, *dx, *dw, *ws;
} bb_op;

static void run_dnnl(void *p)
{
    dnnl_op *o = p;
    CHECK_DNNL(dnnl_primitive_execute(o->prim, o->strm, 3, o->args));
    CHECK_DNNL(dnnl_stream_wait(o->strm));
}

static void run_bb(void *p)
{
    bb_op *o = p;
    if (o->what == 0) bb_conv2d_nhwc_forward(o->d, o->v, o->n, o->x, o->w, o->y, o->ws);
    else if (o->what == 1) bb_conv2d_nhwc_backward(o->d, o->v, o->n, o->x, o->w, o->dy, o->dx, 1, NULL, o->ws);
    else bb_conv2d_nhwc_backward(o->d, o->v, o->n, o->x, o->w, o->dy, NULL, 0, o->dw, o->ws);
}

/* best seconds of fn over repeated calls for about `budget` CPU seconds */
static double best_of(double budget, void (*fn)(void *), void *arg)
{
    double best = 1e30, spent = 0;
    for (int r = 0; r < 200 && (r < 3 || spent < budget); r++) {
        double t0 = cpu_now();
        fn(arg);
        double s = cpu_now() - t0;
        spent += s;
        if (s < best) best = s;
    }
    return best;
}

static dnnl_memory_t make_mem(const dnnl_memory_desc_t *md, dnnl_engine_t eng, unsigned seed)
{
    size_t bytes = dnnl_memory_desc_get_size(md);
    float *p = filled(bytes / sizeof(float) + 1, seed);
    dnnl_memory_t m;
    CHECK_DNNL(dnnl_memory_create(&m, md, eng, p));
    return m;
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 0.5;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    CHECK_DNNL(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK_DNNL(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    bb_uk_variant v = bb_uk_best();
    printf("# 1 thread, GFLOP/s (best of repeated calls, thread CPU time); bigbatch kernels %s; oneDNN %d.%d\n",
           bb_uk_name(v), dnnl_version()->major, dnnl_version()->minor);
    printf("%-38s | %8s %8s %8s | %8s %8s %8s | oneDNN implementation (fwd)\n", "shape (batch n)", "bb fwd", "bb bwd-d",
           "bb bwd-w", "dnnl fwd", "dnnl b-d", "dnnl b-w");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        bb_conv2d d;
        bb_conv2d_setup(&d, s->cin, s->h, s->h, s->cout, s->k, s->k, s->stride, s->pad);
        int64_t n = s->n, xl = n * s->cin * s->h * s->h, yl = n * s->cout * d.oh * d.ow;
        int64_t wl = s->cout * s->cin * s->k * s->k;
        double flop = 2.0 * (double)n * (double)(d.oh * d.ow) * (double)s->cout * (double)(s->cin * s->k * s->k);
        /* bigbatch */
        float *x = filled((size_t)xl, 1), *w = filled((size_t)wl, 2), *dy = filled((size_t)yl, 3);
        float *y = bb_alloc((size_t)yl * 4), *dx = bb_alloc((size_t)xl * 4), *dw = bb_alloc((size_t)wl * 4);
        float *ws = bb_alloc(bb_conv2d_nhwc_workspace(&d, n) * 4 + 64);
        bb_op ops[3];
        double bt[3];
        for (int k = 0; k < 3; k++) {
            ops[k] = (bb_op){&d, v, n, k, x, w, y, dy, dx, dw, ws};
            bt[k] = best_of(budget, run_bb, &ops[k]);
        }
        /* oneDNN */
        dnnl_dims_t xd = {n, s->cin, s->h, s->h}, yd = {n, s->cout, d.oh, d.ow}, wd = {s->cout, s->cin, s->k, s->k};
        dnnl_dims_t st = {s->stride, s->stride}, pd = {s->pad, s->pad};
        int64_t pr = (d.oh - 1) * s->stride + s->k - s->h - s->pad;  /* right/bottom padding oneDNN wants */
        dnnl_dims_t pdr = {pr, pr};
        dnnl_memory_desc_t xmd, ymd, wmd;
        CHECK_DNNL(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_nhwc));
        CHECK_DNNL(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nhwc));
        CHECK_DNNL(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any));
        dnnl_convolution_desc_t fdesc, ddesc, wdesc;
        CHECK_DNNL(dnnl_convolution_forward_desc_init(&fdesc, dnnl_forward_training, dnnl_convolution_direct, &xmd, &wmd,
                                                      NULL, &ymd, st, pd, pdr));
        CHECK_DNNL(dnnl_convolution_backward_data_desc_init(&ddesc, dnnl_convolution_direct, &xmd, &wmd, &ymd, st, pd, pdr));
        CHECK_DNNL(dnnl_convolution_backward_weights_desc_init(&wdesc, dnnl_convolution_direct, &xmd, &wmd, NULL, &ymd,
                                                               st, pd, pdr));
        dnnl_primitive_desc_t fpd, dpd, wpd;
        CHECK_DNNL(dnnl_primitive_desc_create(&fpd, &fdesc, NULL, eng, NULL));
        CHECK_DNNL(dnnl_primitive_desc_create(&dpd, &ddesc, NULL, eng, fpd));
        CHECK_DNNL(dnnl_primitive_desc_create(&wpd, &wdesc, NULL, eng, fpd));
        const char *impl = "?";
        CHECK_DNNL(dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl));
        dnnl_memory_t mx = make_mem(&xmd, eng, 4), my = make_mem(&ymd, eng, 5), mdy = make_mem(&ymd, eng, 6);
        dnnl_memory_t mdx = make_mem(&xmd, eng, 7);
        dnnl_memory_t mw = make_mem(dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), eng, 8);
        dnnl_memory_t mwd = make_mem(dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), eng, 9);
        dnnl_memory_t mdw = make_mem(dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), eng, 10);
        dnnl_op f = {0, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}}, strm};
        dnnl_op bdd = {0, {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_WEIGHTS, mwd}, {DNNL_ARG_DIFF_SRC, mdx}}, strm};
        dnnl_op bww = {0, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_WEIGHTS, mdw}}, strm};
        CHECK_DNNL(dnnl_primitive_create(&f.prim, fpd));
        CHECK_DNNL(dnnl_primitive_create(&bdd.prim, dpd));
        CHECK_DNNL(dnnl_primitive_create(&bww.prim, wpd));
        double df = best_of(budget, run_dnnl, &f), dd = best_of(budget, run_dnnl, &bdd), dwt = best_of(budget, run_dnnl, &bww);
        char label[64];
        snprintf(label, sizeof label, "%s (%lld)", s->what, (long long)n);
        printf("%-38s | %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f | %s\n", label, flop / bt[0] / 1e9, flop / bt[1] / 1e9,
               flop / bt[2] / 1e9, flop / df / 1e9, flop / dd / 1e9, flop / dwt / 1e9, impl);
        fflush(stdout);
        dnnl_primitive_destroy(f.prim); dnnl_primitive_destroy(bdd.prim); dnnl_primitive_destroy(bww.prim);
        dnnl_primitive_desc_destroy(fpd); dnnl_primitive_desc_destroy(dpd); dnnl_primitive_desc_destroy(wpd);
        dnnl_memory_t mems[] = {mx, my, mdy, mdx, mw, mwd, mdw};
        for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) {
            void *h = NULL;
            dnnl_memory_get_data_handle(mems[i], &h);
            dnnl_memory_destroy(mems[i]);
            bb_free(h);
        }
        bb_free(x); bb_free(w); bb_free(dy); bb_free(y); bb_free(dx); bb_free(dw); bb_free(ws);
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
