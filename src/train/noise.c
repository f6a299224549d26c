/* Gradient noise scale estimates (noise.h). E|G_B|^2 = |G|^2 + c(B) tr(Sigma)
 * for a batch mean of B samples, c(B) = 1/B for independent draws and
 * (N-B)/(B(N-1)) for draws without replacement from N; two batch sizes give two
 * equations in the two unknowns. */
#include "train/noise.h"

static double inv_batch(double b, double population)
{
    if (population <= 1.0) return 1.0 / b;
    return (population - b) / (b * (population - 1.0));
}

bb_noise_est bb_noise_estimate(const bb_noise_input *in)
{
    bb_noise_est e = {0.0, 0.0};
    if (in->k < 2 || in->n < 1) return e;
    double k = (double)in->k, n = (double)in->n, pop = (double)in->population;
    /* |G_s|^2 averaged over the k workers: each worker's mean gradient is k g_w */
    double small = k * in->parts_sq, big = in->total_sq;
    double cs = inv_batch(n, pop), cb = inv_batch(k * n, pop);
    e.trace = (small - big) / (cs - cb);
    e.g2 = (cs * big - cb * small) / (cs - cb) + 2.0 * in->total_dot_reg + in->reg_sq;
    return e;
}

void bb_noise_avg_update(bb_noise_avg *avg, double decay, bb_noise_est est)
{
    if (avg->steps == 0) {
        avg->g2 = est.g2;
        avg->trace = est.trace;
    } else {
        avg->g2 = decay * avg->g2 + (1.0 - decay) * est.g2;
        avg->trace = decay * avg->trace + (1.0 - decay) * est.trace;
    }
    avg->steps++;
}

double bb_noise_scale(const bb_noise_avg *avg)
{
    if (avg->steps == 0 || !(avg->g2 > 0.0) || !(avg->trace > 0.0)) return 0.0;
    return avg->trace / avg->g2;
}
