/* The arithmetic of the parameter update, one element (or one tensor's LARS
 * rate) at a time, as inline functions that compile both as plain C11 and as
 * CUDA device code (BB_HD). The CPU optimizer (sgd.c) and the device kernels
 * (gpu/kern.h, run by dev_host.c and cuda/kernels.cu) both call these, so the
 * formulas and their float operation order exist once. */
#ifndef BB_OPTIM_UPDATE_H
#define BB_OPTIM_UPDATE_H

#include "util/hostdev.h"

#include <math.h>
#include <stdint.h>

/* the per-element rules; form 10 corrected and uncorrected differ only in the
 * factor c (bb_sgd_correction) */
enum { BB_UPDATE_FORM9, BB_UPDATE_NESTEROV, BB_UPDATE_FORM10 };

/* form 9: u <- (m u + g) + wd w;  w <- w - lr u */
BB_HD static inline void bb_update_form9(float *w, float *u, float g, float wd, float m, float lr)
{
    *u = m * *u + g + wd * *w;
    *w -= lr * *u;
}

/* Nesterov: g' = g + wd w;  u <- m u + g';  w <- w - lr (g' + m u) */
BB_HD static inline void bb_update_nesterov(float *w, float *u, float g, float wd, float m, float lr)
{
    float gd = g + wd * *w;
    *u = m * *u + gd;
    *w -= lr * (gd + m * *u);
}

/* form 10: v <- m c v + lr (g + wd w);  w <- w - v */
BB_HD static inline void bb_update_form10(float *w, float *u, float g, float wd, float m, float c, float lr)
{
    *u = m * c * *u + lr * (g + wd * *w);
    *w -= *u;
}

/* one element under `rule` (the device's loops; the CPU keeps the switch
 * outside its loops so they vectorize) */
BB_HD static inline void bb_update_one(int rule, float *w, float *u, float g, float wd, float m, float c, float lr)
{
    switch (rule) {
    case BB_UPDATE_FORM9: bb_update_form9(w, u, g, wd, m, lr); break;
    case BB_UPDATE_NESTEROV: bb_update_nesterov(w, u, g, wd, m, lr); break;
    default: bb_update_form10(w, u, g, wd, m, c, lr); break;
    }
}

/* LARS (You et al.) rate of one tensor from its squared norms |w|^2, |g|^2:
 * lr_l = lr eta |w| / (|g| + wd |w|); clipped (LARC, the form of NVIDIA's
 * apex): lr_l = min(lr, eta |w| / (|g| + wd |w|)), so the trust ratio only
 * ever slows a tensor down. lr when either norm is 0. */
BB_HD static inline float bb_lars_lr(double lr, double eta, int clip, float wd, double w2, double g2)
{
    double wn = sqrt(w2), gn = sqrt(g2), plr = lr;
    if (wn > 0 && gn > 0) {
        double trust = eta * wn / (gn + wd * wn);
        plr = clip ? fmin(lr, trust) : lr * trust;
    }
    return (float)plr;
}

/* One parameter tensor as the device optimizer sees it: a segment of the flat
 * buffers and its weight decay; its blocks of block_len floats are numbered
 * [first_block, next segment's first_block). bb_sgd_segments fills a table. */
typedef struct {
    int64_t offset, count;    /* floats of the flat buffers */
    float wd;                 /* weight decay of this tensor (0 if it is not decayed) */
    int lars;                 /* 1: LARS sets this tensor's rate (bb_sgd_adapts) */
    int64_t first_block;
} bb_kseg;

#endif
