/* The small operators: ReLU, add, max/average pooling, the option-A shortcut,
 * linear and softmax cross-entropy. */
#include "ops/ops.h"
#include "ops/rank.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void bb_relu_forward(int64_t len, const float *x, float *y)
{
    for (int64_t i = 0; i < len; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void bb_relu_backward(int64_t len, const float *y, const float *dy, float *dx)
{
    for (int64_t i = 0; i < len; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void bb_add_forward(int64_t len, const float *a, const float *b, float *y)
{
    for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i];
}

void bb_add_backward(int64_t len, const float *dy, float *da, float *db)
{
    /* da and db may be the same buffer (x + x) or NULL (an input needing no gradient) */
    if (da) for (int64_t i = 0; i < len; i++) da[i] += dy[i];
    if (db) for (int64_t i = 0; i < len; i++) db[i] += dy[i];
}

void bb_maxpool_setup(bb_maxpool *d, int64_t c, int64_t h, int64_t w, int64_t k,
                      int64_t stride, int64_t pad)
{
    d->c = c; d->h = h; d->w = w; d->k = k; d->stride = stride; d->pad = pad;
    d->oh = (h + 2 * pad - k) / stride + 1;
    d->ow = (w + 2 * pad - k) / stride + 1;
}

void bb_maxpool_forward(const bb_maxpool *d, int64_t n, const float *x, float *y, int32_t *argmax)
{
    int64_t planes = n * d->c, ohw = d->oh * d->ow;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * d->h * d->w;
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                int64_t o = p * ohw + oy * d->ow + ox;
                y[o] = bb_maxpool_cell(d, xp, oy, ox, &argmax[o]);
            }
    }
}

void bb_maxpool_backward(const bb_maxpool *d, int64_t n, const int32_t *argmax,
                         const float *dy, float *dx)
{
    int64_t planes = n * d->c, ohw = d->oh * d->ow;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < ohw; i++)
            dx[p * d->h * d->w + argmax[p * ohw + i]] += dy[p * ohw + i];
}

void bb_avgpool_forward(int64_t n, int64_t c, int64_t hw, const float *x, float *y)
{
    for (int64_t p = 0; p < n * c; p++) {
        float s = 0.0f;
        for (int64_t i = 0; i < hw; i++) s += x[p * hw + i];
        y[p] = s / (float)hw;
    }
}

void bb_avgpool_backward(int64_t n, int64_t c, int64_t hw, const float *dy, float *dx)
{
    for (int64_t p = 0; p < n * c; p++) {
        float g = dy[p] / (float)hw;
        for (int64_t i = 0; i < hw; i++) dx[p * hw + i] += g;
    }
}

void bb_padshort_setup(bb_padshort *d, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t stride)
{
    d->cin = cin; d->cout = cout; d->h = h; d->w = w; d->stride = stride;
    d->oh = (h + stride - 1) / stride;
    d->ow = (w + stride - 1) / stride;
}

void bb_padshort_forward(const bb_padshort *d, int64_t n, const float *x, float *y)
{
    int64_t lo = (d->cout - d->cin) / 2, ohw = d->oh * d->ow;
    memset(y, 0, (size_t)(n * d->cout * ohw) * sizeof *y);
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = 0; c < d->cin; c++) {
            const float *xp = x + (s * d->cin + c) * d->h * d->w;
            float *yp = y + (s * d->cout + lo + c) * ohw;
            for (int64_t oy = 0; oy < d->oh; oy++)
                for (int64_t ox = 0; ox < d->ow; ox++)
                    yp[oy * d->ow + ox] = xp[oy * d->stride * d->w + ox * d->stride];
        }
}

void bb_padshort_backward(const bb_padshort *d, int64_t n, const float *dy, float *dx)
{
    int64_t lo = (d->cout - d->cin) / 2, ohw = d->oh * d->ow;
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = 0; c < d->cin; c++) {
            float *xp = dx + (s * d->cin + c) * d->h * d->w;
            const float *yp = dy + (s * d->cout + lo + c) * ohw;
            for (int64_t oy = 0; oy < d->oh; oy++)
                for (int64_t ox = 0; ox < d->ow; ox++)
                    xp[oy * d->stride * d->w + ox * d->stride] += yp[oy * d->ow + ox];
        }
}

void bb_linear_forward(const bb_linear *d, int64_t n, const float *x, const float *w,
                       const float *b, float *y)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t o = 0; o < d->out; o++) y[s * d->out + o] = b ? b[o] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d->out, (int)d->in,
                1.0f, x, (int)d->in, w, (int)d->in, 1.0f, y, (int)d->out);
}

void bb_linear_backward(const bb_linear *d, int64_t n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db)
{
    /* dW (out, in) += dy^T (out, n) . x (n, in) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d->out, (int)d->in, (int)n,
                1.0f, dy, (int)d->out, x, (int)d->in, 1.0f, dw, (int)d->in);
    if (db)
        for (int64_t s = 0; s < n; s++)
            for (int64_t o = 0; o < d->out; o++) db[o] += dy[s * d->out + o];
    if (dx)  /* dx (n, in) += dy (n, out) . W (out, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d->in, (int)d->out,
                    1.0f, dy, (int)d->out, w, (int)d->in, 1.0f, dx, (int)d->in);
}

double bb_xent_forward(int64_t n, int64_t classes, const float *logits, const int32_t *labels,
                       double norm, float smoothing, float *dlogits, int64_t *top1, int64_t *top5)
{
    double total = 0.0;
    int64_t c1 = 0, c5 = 0;
    double off = smoothing / (double)classes, on = 1.0 - smoothing + off;
    for (int64_t s = 0; s < n; s++) {
        const float *z = logits + s * classes;
        int32_t y = labels[s];
        double mx = z[0];
        for (int64_t j = 1; j < classes; j++) if (z[j] > mx) mx = z[j];
        double sum = 0.0;
        for (int64_t j = 0; j < classes; j++) sum += exp(z[j] - mx);
        double lse = mx + log(sum);
        double loss = 0.0;
        for (int64_t j = 0; j < classes; j++) {
            double t = j == y ? on : off;
            if (t != 0.0) loss -= t * (z[j] - lse);
            if (dlogits) dlogits[s * classes + j] = (float)((exp(z[j] - lse) - t) / norm);
        }
        total += loss;
        int64_t above = bb_label_rank(z, classes, y);
        c1 += above < 1;
        c5 += above < 5;
    }
    if (top1) *top1 = c1;
    if (top5) *top5 = c5;
    return total;
}
