/* conv2d as im2col + cblas_sgemm, one sample at a time so the workspace is one
 * sample's columns (cin*kh*kw x oh*ow) twice over, whatever the batch. A 1x1
 * stride-1 unpadded conv skips im2col: the input already is its column matrix. */
#include "ops/ops.h"

#include <cblas.h>
#include <string.h>

void bb_conv2d_setup(bb_conv2d *d, int64_t cin, int64_t h, int64_t w, int64_t cout,
                     int64_t kh, int64_t kw, int64_t stride, int64_t pad)
{
    d->cin = cin; d->h = h; d->w = w;
    d->cout = cout; d->kh = kh; d->kw = kw; d->stride = stride; d->pad = pad;
    d->oh = (h + 2 * pad - kh) / stride + 1;
    d->ow = (w + 2 * pad - kw) / stride + 1;
}

static int is_pointwise(const bb_conv2d *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

size_t bb_conv2d_workspace(const bb_conv2d *d)
{
    if (is_pointwise(d)) return 0;
    return (size_t)(2 * d->cin * d->kh * d->kw * d->oh * d->ow);
}

/* cols (cin*kh*kw, oh*ow) from one sample x (cin, h, w), zeros outside */
static void im2col(const bb_conv2d *d, const float *x, float *cols)
{
    int64_t ohw = d->oh * d->ow;
    for (int64_t c = 0; c < d->cin; c++)
        for (int64_t ki = 0; ki < d->kh; ki++)
            for (int64_t kj = 0; kj < d->kw; kj++) {
                float *row = cols + ((c * d->kh + ki) * d->kw + kj) * ohw;
                const float *plane = x + c * d->h * d->w;
                for (int64_t oy = 0; oy < d->oh; oy++) {
                    int64_t iy = oy * d->stride - d->pad + ki;
                    float *r = row + oy * d->ow;
                    if (iy < 0 || iy >= d->h) { memset(r, 0, (size_t)d->ow * sizeof *r); continue; }
                    for (int64_t ox = 0; ox < d->ow; ox++) {
                        int64_t ix = ox * d->stride - d->pad + kj;
                        r[ox] = (ix >= 0 && ix < d->w) ? plane[iy * d->w + ix] : 0.0f;
                    }
                }
            }
}

/* dx (cin, h, w) += scatter of cols, the adjoint of im2col */
static void col2im_add(const bb_conv2d *d, const float *cols, float *dx)
{
    int64_t ohw = d->oh * d->ow;
    for (int64_t c = 0; c < d->cin; c++)
        for (int64_t ki = 0; ki < d->kh; ki++)
            for (int64_t kj = 0; kj < d->kw; kj++) {
                const float *row = cols + ((c * d->kh + ki) * d->kw + kj) * ohw;
                float *plane = dx + c * d->h * d->w;
                for (int64_t oy = 0; oy < d->oh; oy++) {
                    int64_t iy = oy * d->stride - d->pad + ki;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int64_t ox = 0; ox < d->ow; ox++) {
                        int64_t ix = ox * d->stride - d->pad + kj;
                        if (ix >= 0 && ix < d->w) plane[iy * d->w + ix] += row[oy * d->ow + ox];
                    }
                }
            }
}

void bb_conv2d_forward(const bb_conv2d *d, int64_t n, const float *x, const float *w,
                       float *y, float *ws)
{
    int64_t K = d->cin * d->kh * d->kw, ohw = d->oh * d->ow;
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * d->cin * d->h * d->w;
        const float *cols = xs;
        if (!is_pointwise(d)) { im2col(d, xs, ws); cols = ws; }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d->cout, (int)ohw, (int)K,
                    1.0f, w, (int)K, cols, (int)ohw, 0.0f, y + s * d->cout * ohw, (int)ohw);
    }
}

void bb_conv2d_backward(const bb_conv2d *d, int64_t n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *ws)
{
    int64_t K = d->cin * d->kh * d->kw, ohw = d->oh * d->ow;
    int pw = is_pointwise(d);
    float *cols = ws, *dcols = ws + K * ohw;
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * d->cin * d->h * d->w;
        const float *dys = dy + s * d->cout * ohw;
        const float *c = xs;
        if (!pw) { im2col(d, xs, cols); c = cols; }
        /* dW (cout, K) += dy_s (cout, ohw) . cols^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->cout, (int)K, (int)ohw,
                    1.0f, dys, (int)ohw, c, (int)ohw, 1.0f, dw, (int)K);
        if (!dx) continue;
        float *dxs = dx + s * d->cin * d->h * d->w;
        /* dcols (K, ohw) = W^T . dy_s; for a pointwise conv straight into dx */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ohw, (int)d->cout,
                    1.0f, w, (int)K, dys, (int)ohw, pw ? 1.0f : 0.0f, pw ? dxs : dcols, (int)ohw);
        if (!pw) col2im_add(d, dcols, dxs);
    }
}
