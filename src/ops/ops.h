/* CPU operators on contiguous float32 NCHW buffers. Each op is a small
 * descriptor plus a forward and a backward; backward ADDS into dx/dw/db (callers
 * zero them), inputs are const, and what backward needs from forward (BN mean and
 * inverse std, pool argmax) is an explicit buffer. Nothing here allocates. */
#ifndef BB_OPS_H
#define BB_OPS_H

#include "util/hostdev.h"

#include <stddef.h>
#include <stdint.h>

/* ---- conv2d (no bias: every conv in a ResNet is followed by batch norm) ---- */
typedef struct {
    int64_t cin, h, w;           /* input plane per sample */
    int64_t cout, kh, kw, stride, pad;
    int64_t oh, ow;              /* derived by bb_conv2d_setup */
} bb_conv2d;

void bb_conv2d_setup(bb_conv2d *d, int64_t cin, int64_t h, int64_t w, int64_t cout,
                     int64_t kh, int64_t kw, int64_t stride, int64_t pad);
size_t bb_conv2d_workspace(const bb_conv2d *d);  /* floats, for any n */
/* y (n, cout, oh, ow) = conv(x (n, cin, h, w), w (cout, cin, kh, kw)) */
void bb_conv2d_forward(const bb_conv2d *d, int64_t n, const float *x, const float *w,
                       float *y, float *ws);
/* dx += dL/dx (skipped when dx is NULL), dw += dL/dw */
void bb_conv2d_backward(const bb_conv2d *d, int64_t n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *ws);

/* ---- batch norm over (n, c, hw): statistics over exactly the n samples given ---- */
typedef struct { int64_t c, hw; float eps; } bb_bn;

/* y = gamma * (x - mean) * invstd + beta with batch statistics.
 * save (2c): mean, invstd for backward. stats (2c, may be NULL): += batch mean and
 * += unbiased batch variance, for the running averages. */
void bb_bn_forward_train(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                         const float *beta, float *y, float *save, float *stats);
void bb_bn_forward_eval(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                        const float *beta, const float *rmean, const float *rvar, float *y);
void bb_bn_backward(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                    const float *save, const float *dy, float *dx, float *dgamma, float *dbeta);
/* running = m * running + (1 - m) * stat_sum / count, for mean and variance */
void bb_bn_update_running(int64_t c, float momentum, const float *stat_sum, double count,
                          float *rmean, float *rvar);
/* the same for one statistic r; also the device's (gpu/kern.h) */
BB_HD static inline void bb_bn_update_running_one(float *r, float sum, float momentum, double count)
{
    *r = momentum * *r + (1.0f - momentum) * (float)(sum / count);
}

/* ---- element-wise ---- */
/* f(x) = max{0, x} */
void bb_relu_forward(int64_t len, const float *x, float *y);
void bb_relu_backward(int64_t len, const float *y, const float *dy, float *dx);
/* y = a + b; backward: da, db may alias or be NULL */
void bb_add_forward(int64_t len, const float *a, const float *b, float *y);
void bb_add_backward(int64_t len, const float *dy, float *da, float *db);

/* ---- pooling ---- */
typedef struct { int64_t c, h, w, k, stride, pad, oh, ow; } bb_maxpool;
/* One output (oy, ox) of one plane xp (h x w): the largest input in its
 * window and that input's index in the plane (the first of equals); also the
 * device's (gpu/kern.h) */
BB_HD static inline float bb_maxpool_cell(const bb_maxpool *d, const float *xp, int64_t oy, int64_t ox, int32_t *arg)
{
    float best = -3.402823466e38f;  /* -FLT_MAX */
    *arg = -1;
    for (int64_t i = 0; i < d->k; i++) {
        int64_t iy = oy * d->stride - d->pad + i;
        if (iy < 0 || iy >= d->h) continue;
        for (int64_t j = 0; j < d->k; j++) {
            int64_t ix = ox * d->stride - d->pad + j;
            if (ix < 0 || ix >= d->w) continue;
            float v = xp[iy * d->w + ix];
            if (*arg < 0 || v > best) { best = v; *arg = (int32_t)(iy * d->w + ix); }
        }
    }
    return best;
}
void bb_maxpool_setup(bb_maxpool *d, int64_t c, int64_t h, int64_t w, int64_t k,
                      int64_t stride, int64_t pad);
/* argmax (n, c, oh, ow): index of the winner inside its input plane */
void bb_maxpool_forward(const bb_maxpool *d, int64_t n, const float *x, float *y, int32_t *argmax);
void bb_maxpool_backward(const bb_maxpool *d, int64_t n, const int32_t *argmax,
                         const float *dy, float *dx);
/* y (n, c) = mean over hw of x (n, c, hw) */
void bb_avgpool_forward(int64_t n, int64_t c, int64_t hw, const float *x, float *y);
void bb_avgpool_backward(int64_t n, int64_t c, int64_t hw, const float *dy, float *dx);

/* ---- option-A shortcut (He et al. 2016, CIFAR): subsample by stride, zero-pad
 * channels cin -> cout split evenly before and after; parameter free ---- */
typedef struct { int64_t cin, cout, h, w, stride, oh, ow; } bb_padshort;
void bb_padshort_setup(bb_padshort *d, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t stride);
void bb_padshort_forward(const bb_padshort *d, int64_t n, const float *x, float *y);
void bb_padshort_backward(const bb_padshort *d, int64_t n, const float *dy, float *dx);

/* ---- linear: y (n, out) = x (n, in) W^T + b, W (out, in), b may be NULL ---- */
typedef struct { int64_t in, out; } bb_linear;
void bb_linear_forward(const bb_linear *d, int64_t n, const float *x, const float *w,
                       const float *b, float *y);
void bb_linear_backward(const bb_linear *d, int64_t n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);

/* ---- softmax cross-entropy ----
 * loss(x) = -sum_j t_j log softmax(x)_j with t = (1-s) onehot(y) + s/classes.
 * Returns the SUM of per-sample losses; dlogits (may be NULL) is SET to
 * (softmax - t) / norm, so the caller's normalizer (kn for a logical worker of a
 * minibatch of kn, docs/TRAINING.md pitfall 3) decides the scale. top1/top5 (may be
 * NULL) receive the number of correct predictions (ops/rank.h: a sample with a
 * non-finite logit is never correct). */
double bb_xent_forward(int64_t n, int64_t classes, const float *logits, const int32_t *labels,
                       double norm, float smoothing, float *dlogits, int64_t *top1, int64_t *top5);

#endif
