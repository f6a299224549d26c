/* Finite-difference checker shared by the op and network gradient tests. */
#include "gradcheck.h"

#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double gc_dot(const float *a, const float *b, int64_t len)
{
    double s = 0.0;
    for (int64_t i = 0; i < len; i++) s += (double)a[i] * (double)b[i];
    return s;
}

void gc_fill(float *x, int64_t len, uint64_t seed, float scale)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_TEST, 0, 0);
    for (int64_t i = 0; i < len; i++) x[i] = scale * (float)bb_rng_normal(&r);
}

void gc_fill_away_from_zero(float *x, int64_t len, uint64_t seed, float lo)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_TEST, 1, 0);
    for (int64_t i = 0; i < len; i++) {
        float m = lo + (float)bb_rng_uniform(&r);
        x[i] = (bb_rng_u64(&r) & 1) ? m : -m;
    }
}

static double rel_err(double a, double n) { return fabs(a - n) / fmax(1.0, fmax(fabs(a), fabs(n))); }

gc_result gradcheck_full(float *x, int64_t len, const float *analytic, gc_loss_fn loss, void *ctx,
                         int64_t samples, uint64_t seed, float h)
{
    const float hs = h / 4.0f;
    bb_rng r = bb_rng_make(seed, BB_RNG_TEST, 2, 0);
    gc_result res = {0.0, 0, 0};
    int64_t count = len < samples ? len : samples;
    for (int64_t s = 0; s < count; s++) {
        int64_t i = len <= samples ? s : (int64_t)bb_rng_below(&r, (uint64_t)len);
        float keep = x[i];
        double a = analytic[i];
        x[i] = keep + h;
        double up = loss(ctx);
        x[i] = keep - h;
        double down = loss(ctx);
        x[i] = keep;
        double err = rel_err(a, (up - down) / (2.0 * (double)h));
        res.checked++;
        if (err > GRADCHECK_TOL) {
            double mid = loss(ctx);
            x[i] = keep + hs;
            double right = (loss(ctx) - mid) / (double)hs;
            x[i] = keep - hs;
            double left = (mid - loss(ctx)) / (double)hs;
            x[i] = keep;
            if (rel_err(a, left) < GRADCHECK_TOL || rel_err(a, right) < GRADCHECK_TOL) {
                res.kinks++;
                continue;
            }
            if (getenv("BB_TEST_VERBOSE"))
                fprintf(stderr, "    x[%lld]: analytic %.6g, central %.6g, left %.6g, right %.6g\n",
                        (long long)i, a, (up - down) / (2.0 * (double)h), left, right);
        }
        if (err > res.worst) res.worst = err;
    }
    return res;
}

double gradcheck(float *x, int64_t len, const float *analytic, gc_loss_fn loss, void *ctx,
                 int64_t samples, uint64_t seed)
{
    gc_result r = gradcheck_full(x, len, analytic, loss, ctx, samples, seed, GRADCHECK_STEP);
    return r.kinks ? 1.0 : r.worst;
}
