/* 2-d batch normalization. Statistics are accumulated in double: a channel can
 * hold n*hw = 32*784 = 25k values and float sums would lose digits the gradient
 * check can see. */
#include "ops/ops.h"

#include <math.h>

void bb_bn_forward_train(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                         const float *beta, float *y, float *save, float *stats)
{
    int64_t C = d->c, HW = d->hw;
    double m = (double)(n * HW);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) sum += p[i];
        }
        double mean = sum / m;
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) { double t = p[i] - mean; sq += t * t; }
        }
        double var = sq / m;
        float invstd = (float)(1.0 / sqrt(var + d->eps));
        save[c] = (float)mean;
        save[C + c] = invstd;
        if (stats) {
            stats[c] += (float)mean;
            stats[C + c] += (float)(m > 1 ? sq / (m - 1) : 0.0);
        }
        float a = gamma[c] * invstd, b = beta[c] - (float)mean * a;
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW;
            float *q = y + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) q[i] = p[i] * a + b;
        }
    }
}

void bb_bn_forward_eval(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                        const float *beta, const float *rmean, const float *rvar, float *y)
{
    int64_t C = d->c, HW = d->hw;
    for (int64_t c = 0; c < C; c++) {
        float a = gamma[c] / sqrtf(rvar[c] + d->eps), b = beta[c] - rmean[c] * a;
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW;
            float *q = y + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) q[i] = p[i] * a + b;
        }
    }
}

/* dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)), M = n*hw */
void bb_bn_backward(const bb_bn *d, int64_t n, const float *x, const float *gamma,
                    const float *save, const float *dy, float *dx, float *dgamma, float *dbeta)
{
    int64_t C = d->c, HW = d->hw;
    double m = (double)(n * HW);
    for (int64_t c = 0; c < C; c++) {
        float mean = save[c], invstd = save[C + c];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW, *g = dy + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) {
                sdy += g[i];
                sdyx += (double)g[i] * (double)((p[i] - mean) * invstd);
            }
        }
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!dx) continue;
        float k = gamma[c] * invstd;
        float mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        for (int64_t s = 0; s < n; s++) {
            const float *p = x + (s * C + c) * HW, *g = dy + (s * C + c) * HW;
            float *q = dx + (s * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) {
                float xh = (p[i] - mean) * invstd;
                q[i] += k * (g[i] - mdy - xh * mdyx);
            }
        }
    }
}

void bb_bn_update_running(int64_t c, float momentum, const float *stat_sum, double count,
                          float *rmean, float *rvar)
{
    for (int64_t i = 0; i < c; i++) {
        bb_bn_update_running_one(rmean + i, stat_sum[i], momentum, count);
        bb_bn_update_running_one(rvar + i, stat_sum[c + i], momentum, count);
    }
}
