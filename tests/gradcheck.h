/* Central finite differences against an analytic gradient.
 *
 * Tolerance: every op is checked through the scalar L = sum_i r_i * y_i (r a
 * fixed random projection), accumulated in double. With step h = 2^-7 the
 * central difference has truncation error h^2/6 * |L'''| (about 1e-5 for the
 * smooth ops here, exactly 0 for the linear ones) and rounding error about
 * eps_float * sum|r_i y_i| / h (about 1e-4 for a few thousand outputs of size
 * one). Correct backwards measure 2e-5 to 3e-4; the checks demand 2e-3 of
 * max(1, |g|), while the deliberately wrong backward in test_ops.c (one entry
 * off by 1%) measures 8e-3.
 *
 * Kinks: ReLU and max pool are not differentiable everywhere. When a
 * perturbation of +-h crosses a kink (a ReLU input within h of zero), the
 * central difference mixes two slopes and is wrong. Whole networks have
 * thousands of ReLU inputs, many near zero after batch norm, so they are checked
 * with h = 2^-10 (rounding error then about 1e-4) and a coordinate whose central
 * difference fails is retried one-sided (step h/4, left and right): it counts
 * as a kink, not a failure, if the analytic value matches one side, and the
 * caller bounds the share of kinks (5%). A wrong backward matches neither side,
 * and op tests (inputs kept away from kinks) allow no kinks at all. */
#ifndef BB_TESTS_GRADCHECK_H
#define BB_TESTS_GRADCHECK_H

#include <stdint.h>

#define GRADCHECK_TOL 2e-3
#define GRADCHECK_STEP (1.0f / 128.0f)
#define GRADCHECK_STEP_NET (1.0f / 1024.0f)

typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    double worst;     /* largest |a - n| / max(1, |a|, |n|) over smooth coordinates */
    int64_t checked, kinks;
} gc_result;

/* Perturbs x[i] in place for up to `samples` coordinates (all if x is small)
 * and compares with analytic[i]. */
gc_result gradcheck_full(float *x, int64_t len, const float *analytic, gc_loss_fn loss, void *ctx,
                         int64_t samples, uint64_t seed, float h);
/* The same, with h = GRADCHECK_STEP, for ops without kinks in the checked region: any kink counts as an
 * error of 1. */
double gradcheck(float *x, int64_t len, const float *analytic, gc_loss_fn loss, void *ctx,
                 int64_t samples, uint64_t seed);

void gc_fill(float *x, int64_t len, uint64_t seed, float scale);  /* N(0, scale^2) */
/* Values of magnitude in [lo, lo+1] with random signs: keeps ReLU and max pool
 * inputs away from their kinks. */
void gc_fill_away_from_zero(float *x, int64_t len, uint64_t seed, float lo);
double gc_dot(const float *a, const float *b, int64_t len);

#endif
