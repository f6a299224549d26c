/* Momentum SGD over the flat parameter buffer (docs/TRAINING.md, "The update").
 * Form 9 (default):       u <- m u + (g + wd w);   w <- w - lr u
 * Nesterov (form 9):      u <- m u + g';           w <- w - lr (g' + m u)
 * Form 10, corrected:     v <- m (lr/lr_prev) v + lr g';   w <- w - v
 * Form 10, uncorrected:   v <- m v + lr g'  (the pitfall, kept to show it)
 * g' = g + wd w, with wd applied to conv/fc weights only unless wd_all.
 * LARS (You et al.): per weight tensor (those weight decay applies to; BN and
 * bias tensors keep the global lr, as in You et al.'s and later
 * implementations), lr_l = lr * eta |w| / (|g| + wd |w|); clipped (LARC),
 * lr_l = min(lr, eta |w| / (|g| + wd |w|)).
 * The per-element arithmetic is in optim/update.h, shared with the device. */
#ifndef BB_OPTIM_SGD_H
#define BB_OPTIM_SGD_H

#include "model/net.h"
#include "optim/update.h"

typedef enum { BB_MOMENTUM_FORM9, BB_MOMENTUM_FORM10, BB_MOMENTUM_FORM10_UNCORRECTED } bb_momentum_form;

typedef struct {
    double momentum;          /* m, 0.9 */
    double weight_decay;      /* lambda, 1e-4 */
    int wd_all;               /* also decay BN gamma/beta and biases */
    int nesterov;
    bb_momentum_form form;
    int lars;                 /* layer-wise adaptive rate scaling */
    double lars_eta;
    int lars_clip;            /* LARC: the trust ratio only lowers the rate */
} bb_sgd;

/* One update of params and the momentum buffer from the summed, kn-normalized
 * gradient. lr_prev is the lr of the previous update (form 10 correction);
 * pass lr for the first. */
void bb_sgd_step(const bb_sgd *o, const bb_net *net, float *params, float *momentum,
                 const float *grad, double lr, double lr_prev);
/* The per-element rule over one tensor's count floats (w, u, g do not
 * overlap); update_cpu.c, vectorized, the bits of optim/update.h's rule. */
void bb_sgd_apply(int rule, int64_t count, float *restrict w, float *restrict u, const float *restrict g, float wd,
                  float m, float c, float lr);
/* Whether weight decay applies to this parameter under o. */
int bb_sgd_decays(const bb_sgd *o, const bb_param *p);
/* Whether LARS sets this parameter's rate under o (the decayed tensors). */
int bb_sgd_adapts(const bb_sgd *o, const bb_param *p);
/* The weight decay of this parameter as the update uses it (0 if not decayed). */
float bb_sgd_wd(const bb_sgd *o, const bb_param *p);
/* The per-element rule of o (BB_UPDATE_*, optim/update.h). */
int bb_sgd_rule(const bb_sgd *o);
/* The form-10 factor c: lr / lr_prev for corrected form 10 (lr_prev > 0), else 1. */
float bb_sgd_correction(const bb_sgd *o, double lr, double lr_prev);
/* Fills seg[0 .. nparams] for a device: one segment per parameter tensor of
 * net, split into blocks of block_len floats numbered in order; seg[nparams]
 * closes the table (offset param_count, count 0, first_block = all blocks).
 * Returns the number of blocks. */
int64_t bb_sgd_segments(const bb_sgd *o, const bb_net *net, int64_t block_len, bb_kseg *seg);

#endif
