/* Gradient checks for every operator (central differences, see gradcheck.h),
 * plus forward checks against naive loops and a proof that a wrong backward is
 * caught. */
#include "test.h"
#include "gradcheck.h"

#include "ops/ops.h"
#include "util/mem.h"
#include "util/status.h"

#include <stdlib.h>
#include <string.h>

enum { OP_CONV, OP_BN, OP_RELU, OP_ADD, OP_MAXPOOL, OP_AVGPOOL, OP_PADSHORT, OP_LINEAR, OP_XENT };

typedef struct {
    int op;
    int64_t n, xlen, wlen, blen, ylen;
    float *x, *w, *b, *y, *r, *dx, *dw, *db, *ws, *save;
    int32_t *argmax, *labels;
    bb_conv2d conv; bb_bn bn; bb_maxpool mp; bb_padshort ps; bb_linear lin;
    int64_t c, hw, classes;
    float smoothing;
    int break_backward;  /* 1: corrupt one gradient entry by 1% */
} opcase;

static void oc_alloc(opcase *o)
{
    o->x = bb_alloc((size_t)(o->xlen + 1) * 4);  o->dx = bb_alloc((size_t)(o->xlen + 1) * 4);
    o->w = bb_alloc((size_t)(o->wlen + 1) * 4);  o->dw = bb_alloc((size_t)(o->wlen + 1) * 4);
    o->b = bb_alloc((size_t)(o->blen + 1) * 4);  o->db = bb_alloc((size_t)(o->blen + 1) * 4);
    o->y = bb_alloc((size_t)(o->ylen + 1) * 4);  o->r = bb_alloc((size_t)(o->ylen + 1) * 4);
    o->ws = bb_alloc(bb_conv2d_workspace(&o->conv) * 4 + 64);
    o->save = bb_alloc((size_t)(2 * o->c + 1) * 4);
    o->argmax = bb_alloc((size_t)(o->ylen + 1) * 4);
    o->labels = bb_alloc((size_t)(o->n + 1) * 4);
    gc_fill(o->r, o->ylen, 99, 1.0f);
}

static void oc_free(opcase *o)
{
    bb_free(o->x); bb_free(o->dx); bb_free(o->w); bb_free(o->dw); bb_free(o->b); bb_free(o->db);
    bb_free(o->y); bb_free(o->r); bb_free(o->ws); bb_free(o->save); bb_free(o->argmax); bb_free(o->labels);
}

/* returns L = r . y (for cross-entropy: the normalized loss itself) */
static double oc_forward(void *ctx)
{
    opcase *o = ctx;
    switch (o->op) {
    case OP_CONV: bb_conv2d_forward(&o->conv, o->n, o->x, o->w, o->y, o->ws); break;
    case OP_BN: bb_bn_forward_train(&o->bn, o->n, o->x, o->w, o->b, o->y, o->save, NULL); break;
    case OP_RELU: bb_relu_forward(o->xlen, o->x, o->y); break;
    case OP_ADD: bb_add_forward(o->xlen, o->x, o->w, o->y); break;
    case OP_MAXPOOL: bb_maxpool_forward(&o->mp, o->n, o->x, o->y, o->argmax); break;
    case OP_AVGPOOL: bb_avgpool_forward(o->n, o->c, o->hw, o->x, o->y); break;
    case OP_PADSHORT: bb_padshort_forward(&o->ps, o->n, o->x, o->y); break;
    case OP_LINEAR: bb_linear_forward(&o->lin, o->n, o->x, o->w, o->b, o->y); break;
    case OP_XENT:
        return bb_xent_forward(o->n, o->classes, o->x, o->labels, (double)o->n * 3, o->smoothing, NULL, NULL, NULL)
               / ((double)o->n * 3);
    }
    return gc_dot(o->y, o->r, o->ylen);
}

static void oc_backward(opcase *o)
{
    memset(o->dx, 0, (size_t)o->xlen * 4);
    memset(o->dw, 0, (size_t)o->wlen * 4);
    memset(o->db, 0, (size_t)o->blen * 4);
    oc_forward(o);
    switch (o->op) {
    case OP_CONV: bb_conv2d_backward(&o->conv, o->n, o->x, o->w, o->r, o->dx, o->dw, o->ws); break;
    case OP_BN: bb_bn_backward(&o->bn, o->n, o->x, o->w, o->save, o->r, o->dx, o->dw, o->db); break;
    case OP_RELU: bb_relu_backward(o->xlen, o->y, o->r, o->dx); break;
    case OP_ADD: bb_add_backward(o->xlen, o->r, o->dx, o->dw); break;
    case OP_MAXPOOL: bb_maxpool_backward(&o->mp, o->n, o->argmax, o->r, o->dx); break;
    case OP_AVGPOOL: bb_avgpool_backward(o->n, o->c, o->hw, o->r, o->dx); break;
    case OP_PADSHORT: bb_padshort_backward(&o->ps, o->n, o->r, o->dx); break;
    case OP_LINEAR: bb_linear_backward(&o->lin, o->n, o->x, o->w, o->r, o->dx, o->dw, o->db); break;
    case OP_XENT:
        bb_xent_forward(o->n, o->classes, o->x, o->labels, (double)o->n * 3, o->smoothing, o->dx, NULL, NULL);
        break;
    }
    if (o->break_backward) {
        float *g = o->wlen ? o->dw : o->dx;
        g[0] = g[0] * 1.01f + 0.01f;
    }
}

/* checks every gradient the op has; returns the worst error */
static double oc_check(opcase *o)
{
    oc_backward(o);
    float *dx = malloc((size_t)(o->xlen + 1) * 4), *dw = malloc((size_t)(o->wlen + 1) * 4),
          *db = malloc((size_t)(o->blen + 1) * 4);
    memcpy(dx, o->dx, (size_t)o->xlen * 4);
    memcpy(dw, o->dw, (size_t)o->wlen * 4);
    memcpy(db, o->db, (size_t)o->blen * 4);
    double e = gradcheck(o->x, o->xlen, dx, oc_forward, o, 300, 1);
    if (o->wlen) e = fmax(e, gradcheck(o->w, o->wlen, dw, oc_forward, o, 300, 2));
    if (o->blen) e = fmax(e, gradcheck(o->b, o->blen, db, oc_forward, o, 300, 3));
    free(dx); free(dw); free(db);
    return e;
}

static double conv_case(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t kh, int64_t kw,
                        int64_t stride, int64_t pad, int broken)
{
    opcase o = {.op = OP_CONV, .n = n, .break_backward = broken};
    bb_conv2d_setup(&o.conv, cin, h, w, cout, kh, kw, stride, pad);
    o.xlen = n * cin * h * w;
    o.wlen = cout * cin * kh * kw;
    o.ylen = n * cout * o.conv.oh * o.conv.ow;
    oc_alloc(&o);
    gc_fill(o.x, o.xlen, 10, 1.0f);
    gc_fill(o.w, o.wlen, 11, 0.5f);
    double e = oc_check(&o);
    oc_free(&o);
    return e;
}

TEST(conv2d_gradients)
{
    /* 3x3 pad 1, strided, 1x1 pointwise, 1x1 strided (projection), 7x7 stride-2 stem, non-square */
    double e[] = {
        conv_case(2, 3, 7, 6, 4, 3, 3, 1, 1, 0), conv_case(2, 3, 9, 8, 5, 3, 3, 2, 1, 0),
        conv_case(3, 4, 5, 5, 6, 1, 1, 1, 0, 0), conv_case(2, 4, 7, 7, 3, 1, 1, 2, 0, 0),
        conv_case(1, 2, 11, 11, 3, 7, 7, 2, 3, 0), conv_case(2, 2, 6, 5, 3, 3, 1, 1, 0, 0),
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        CHECK_MSG(e[i] < GRADCHECK_TOL, "case %zu err %.3g", i, e[i]);
        if (getenv("BB_TEST_VERBOSE")) fprintf(stderr, "  conv case %zu: worst error %.3g\n", i, e[i]);
    }
}

TEST(gradcheck_catches_wrong_backward)
{
    double good = conv_case(2, 3, 7, 6, 4, 3, 3, 1, 1, 0);
    double bad = conv_case(2, 3, 7, 6, 4, 3, 3, 1, 1, 1);
    CHECK(good < GRADCHECK_TOL);
    CHECK_MSG(bad > 2 * GRADCHECK_TOL, "broken backward gave error %.3g only", bad);
}

TEST(conv2d_forward_matches_naive_loop)
{
    bb_conv2d d;
    bb_conv2d_setup(&d, 3, 6, 5, 4, 3, 3, 2, 1);
    int64_t n = 2;
    float *x = bb_alloc((size_t)(n * 3 * 6 * 5) * 4), *w = bb_alloc(4 * 3 * 9 * 4);
    float *y = bb_alloc((size_t)(n * 4 * d.oh * d.ow) * 4), *ws = bb_alloc(bb_conv2d_workspace(&d) * 4);
    gc_fill(x, n * 90, 5, 1.0f);
    gc_fill(w, 108, 6, 1.0f);
    bb_conv2d_forward(&d, n, x, w, y, ws);
    double worst = 0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t o = 0; o < 4; o++)
            for (int64_t i = 0; i < d.oh; i++)
                for (int64_t j = 0; j < d.ow; j++) {
                    double acc = 0;
                    for (int64_t c = 0; c < 3; c++)
                        for (int64_t a = 0; a < 3; a++)
                            for (int64_t b = 0; b < 3; b++) {
                                int64_t yy = i * 2 - 1 + a, xx = j * 2 - 1 + b;
                                if (yy >= 0 && yy < 6 && xx >= 0 && xx < 5)
                                    acc += (double)x[((s * 3 + c) * 6 + yy) * 5 + xx] * w[((o * 3 + c) * 3 + a) * 3 + b];
                            }
                    worst = fmax(worst, fabs(acc - y[((s * 4 + o) * d.oh + i) * d.ow + j]));
                }
    CHECK(worst < 1e-5);
    bb_free(x); bb_free(w); bb_free(y); bb_free(ws);
}

TEST(batchnorm_gradients_and_statistics)
{
    opcase o = {.op = OP_BN, .n = 3, .c = 4, .hw = 5};
    o.bn = (bb_bn){4, 5, 1e-5f};
    o.xlen = o.ylen = 3 * 4 * 5;
    o.wlen = o.blen = 4;
    oc_alloc(&o);
    gc_fill(o.x, o.xlen, 20, 2.0f);
    for (int i = 0; i < 4; i++) { o.w[i] = 0.5f + 0.3f * (float)i; o.b[i] = 0.1f * (float)i; }
    double e = oc_check(&o);
    CHECK_MSG(e < GRADCHECK_TOL, "err %.3g", e);
    /* output of training mode has mean beta and std gamma per channel */
    float stats[8] = {0};
    bb_bn_forward_train(&o.bn, o.n, o.x, o.w, o.b, o.y, o.save, stats);
    for (int c = 0; c < 4; c++) {
        double m = 0, v = 0, xm = 0, xv = 0;
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < 5; i++) { m += o.y[(s * 4 + c) * 5 + i]; xm += o.x[(s * 4 + c) * 5 + i]; }
        m /= 15; xm /= 15;
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < 5; i++) {
                v += pow(o.y[(s * 4 + c) * 5 + i] - m, 2);
                xv += pow(o.x[(s * 4 + c) * 5 + i] - xm, 2);
            }
        CHECK_NEAR(m, o.b[c], 1e-5);
        CHECK_NEAR(sqrt(v / 15), o.w[c], 1e-3);
        CHECK_NEAR(stats[c], xm, 1e-5);
        CHECK_NEAR(stats[4 + c], xv / 14, 1e-4);  /* unbiased, for the running variance */
    }
    /* running averages with momentum 0.9 */
    float rm[4] = {1, 1, 1, 1}, rv[4] = {2, 2, 2, 2};
    bb_bn_update_running(4, 0.9f, stats, 1.0, rm, rv);
    CHECK_NEAR(rm[0], 0.9 + 0.1 * stats[0], 1e-6);
    CHECK_NEAR(rv[3], 1.8 + 0.1 * stats[7], 1e-6);
    /* eval mode with running statistics: y = gamma (x - m)/sqrt(v + eps) + beta */
    bb_bn_forward_eval(&o.bn, o.n, o.x, o.w, o.b, rm, rv, o.y);
    CHECK_NEAR(o.y[7], o.w[1] * (o.x[7] - rm[1]) / sqrt(rv[1] + 1e-5) + o.b[1], 1e-5);
    oc_free(&o);
}

TEST(elementwise_and_pool_gradients)
{
    opcase o = {.op = OP_RELU, .n = 2};
    o.xlen = o.ylen = 50;
    oc_alloc(&o);
    gc_fill_away_from_zero(o.x, o.xlen, 30, 0.1f);
    CHECK(oc_check(&o) < GRADCHECK_TOL);
    oc_free(&o);

    opcase a = {.op = OP_ADD, .n = 2};
    a.xlen = a.wlen = a.ylen = 40;
    oc_alloc(&a);
    gc_fill(a.x, 40, 31, 1.0f);
    gc_fill(a.w, 40, 32, 1.0f);
    CHECK(oc_check(&a) < GRADCHECK_TOL);
    oc_free(&a);

    /* max pool: inputs are a shuffled ramp with spacing 0.05 > 2h, so the
     * argmax never changes under the perturbation */
    opcase m = {.op = OP_MAXPOOL, .n = 2, .c = 3};
    bb_maxpool_setup(&m.mp, 3, 7, 7, 3, 2, 1);
    m.xlen = 2 * 3 * 49;
    m.ylen = 2 * 3 * m.mp.oh * m.mp.ow;
    oc_alloc(&m);
    for (int64_t i = 0; i < m.xlen; i++) m.x[i] = 0.05f * (float)((i * 37) % m.xlen);
    CHECK(oc_check(&m) < GRADCHECK_TOL);
    oc_free(&m);

    opcase g = {.op = OP_AVGPOOL, .n = 3, .c = 4, .hw = 6};
    g.xlen = 72;
    g.ylen = 12;
    oc_alloc(&g);
    gc_fill(g.x, 72, 33, 1.0f);
    CHECK(oc_check(&g) < GRADCHECK_TOL);
    oc_free(&g);

    opcase p = {.op = OP_PADSHORT, .n = 2};
    bb_padshort_setup(&p.ps, 3, 8, 7, 6, 2);
    p.xlen = 2 * 3 * 42;
    p.ylen = 2 * 8 * p.ps.oh * p.ps.ow;
    oc_alloc(&p);
    gc_fill(p.x, p.xlen, 34, 1.0f);
    CHECK(oc_check(&p) < GRADCHECK_TOL);
    /* channels land in the middle: 8 - 3 = 5 padded, 2 before and 3 after */
    bb_padshort_forward(&p.ps, p.n, p.x, p.y);
    CHECK(p.y[0] == 0.0f);
    CHECK(p.y[(0 * 8 + 2) * p.ps.oh * p.ps.ow + 1] == p.x[2]);
    oc_free(&p);
}

TEST(linear_gradients)
{
    opcase o = {.op = OP_LINEAR, .n = 3};
    o.lin = (bb_linear){7, 5};
    o.xlen = 21; o.wlen = 35; o.blen = 5; o.ylen = 15;
    oc_alloc(&o);
    gc_fill(o.x, o.xlen, 40, 1.0f);
    gc_fill(o.w, o.wlen, 41, 1.0f);
    gc_fill(o.b, o.blen, 42, 1.0f);
    CHECK(oc_check(&o) < GRADCHECK_TOL);
    oc_free(&o);
}

TEST(cross_entropy_gradients_and_values)
{
    for (int smooth = 0; smooth < 2; smooth++) {
        opcase o = {.op = OP_XENT, .n = 4, .classes = 6, .smoothing = smooth ? 0.1f : 0.0f};
        o.xlen = 24;
        oc_alloc(&o);
        gc_fill(o.x, 24, 50, 2.0f);
        for (int i = 0; i < 4; i++) o.labels[i] = (i * 5) % 6;
        CHECK(oc_check(&o) < GRADCHECK_TOL);
        oc_free(&o);
    }
    /* hand value: logits (0, ln 3) label 1 -> p = 3/4, loss = ln(4/3) */
    float z[2] = {0.0f, (float)log(3.0)}, dz[2];
    int32_t y = 1;
    int64_t top1 = 0, top5 = 0;
    double l = bb_xent_forward(1, 2, z, &y, 8.0, 0.0f, dz, &top1, &top5);
    CHECK_NEAR(l, log(4.0 / 3.0), 1e-6);
    CHECK_NEAR(dz[0], 0.25 / 8.0, 1e-7);  /* (p - t) / norm: the normalizer is the caller's */
    CHECK_NEAR(dz[1], -0.25 / 8.0, 1e-7);
    CHECK(top1 == 1 && top5 == 1);
    /* label smoothing 0.2 over 2 classes: t = (0.1, 0.9) */
    l = bb_xent_forward(1, 2, z, &y, 1.0, 0.2f, dz, NULL, NULL);
    CHECK_NEAR(l, -(0.1 * log(0.25) + 0.9 * log(0.75)), 1e-6);
    /* top-5 over 7 classes: the true class ranks 6th */
    float z7[7] = {7, 6, 5, 4, 3, 2, 1};
    y = 5;
    bb_xent_forward(1, 7, z7, &y, 1.0, 0.0f, NULL, &top1, &top5);
    CHECK(top1 == 0 && top5 == 0);
    y = 4;
    bb_xent_forward(1, 7, z7, &y, 1.0, 0.0f, NULL, &top1, &top5);
    CHECK(top1 == 0 && top5 == 1);
}
