/* The gradient noise scale of McCandlish et al. ("An Empirical Model of
 * Large-Batch Training", 2018): B_noise = tr(Sigma) / |G|^2, estimated from
 * gradients measured at two batch sizes. Pure functions of numbers the trainer
 * already has: the squared norms of the k per-worker gradients (batch n) and of
 * their sum (batch kn). No state besides the averages the caller keeps. */
#ifndef BB_TRAIN_NOISE_H
#define BB_TRAIN_NOISE_H

#include <stdint.h>

/* One step's measurements. The k parts g_w are each worker's contribution to
 * the minibatch gradient g = sum_w g_w (the trainer normalizes each worker's
 * loss by kn, so g_w = (mean gradient of worker w) / k). */
typedef struct {
    int64_t k, n;          /* parts (k >= 2) and samples per part */
    int64_t population;    /* samples drawn without replacement from this many
                              (finite-population correction); 0: independent draws */
    double parts_sq;       /* sum_w |g_w|^2 */
    double total_sq;       /* |g|^2 */
    double total_dot_reg;  /* g . r, r a deterministic gradient term (weight decay) */
    double reg_sq;         /* |r|^2 */
} bb_noise_input;

/* Unbiased one-step estimates of |G|^2 and tr(Sigma) (each may be negative). */
typedef struct { double g2, trace; } bb_noise_est;

/* Exponential averages of the two estimates, kept separately: the ratio of
 * averages, not the average of ratios (which Jensen's inequality biases). */
typedef struct {
    double g2, trace;
    int64_t steps;
} bb_noise_avg;

/* With |G_s|^2 = mean_w |k g_w|^2 (batch B_s = n) and |G_b|^2 = |g|^2
 * (batch B_b = kn), and c(B) = 1/B (or (N-B)/(B(N-1)) without replacement):
 *   tr(Sigma) = (|G_s|^2 - |G_b|^2) / (c(B_s) - c(B_b))
 *   |G|^2     = (c(B_s)|G_b|^2 - c(B_b)|G_s|^2) / (c(B_s) - c(B_b)),
 * plus 2 g.r + |r|^2 for the deterministic term r (it moves G, not Sigma). */
bb_noise_est bb_noise_estimate(const bb_noise_input *in);

/* avg <- decay * avg + (1 - decay) * est; the first step sets avg = est. */
void bb_noise_avg_update(bb_noise_avg *avg, double decay, bb_noise_est est);

/* tr(Sigma) / |G|^2 of the averages, or 0 when either is not positive
 * (too early, or the gradient is lost in the noise: no estimate). */
double bb_noise_scale(const bb_noise_avg *avg);

/* The trainer's averaging factor: about 1 / (1 - 0.95) = 20 steps of memory. */
#define BB_NOISE_DECAY 0.95

#endif
