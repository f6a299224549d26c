/* The optimizer: one loop per parameter tensor, so weight decay and LARS can
 * look at the tensor's kind and norms. */
#include "optim/sgd.h"

#include <math.h>

int bb_sgd_decays(const bb_sgd *o, const bb_param *p)
{
    return o->wd_all || p->kind == BB_PARAM_WEIGHT;
}

void bb_sgd_step(const bb_sgd *o, const bb_net *net, float *params, float *momentum,
                 const float *grad, double lr, double lr_prev)
{
    const float m = (float)o->momentum;
    for (int i = 0; i < net->nparams; i++) {
        const bb_param *p = &net->params[i];
        float *w = params + p->offset, *u = momentum + p->offset;
        const float *g = grad + p->offset;
        const float wd = bb_sgd_decays(o, p) ? (float)o->weight_decay : 0.0f;
        double plr = lr;
        if (o->lars) {
            double wn = 0, gn = 0;
            for (int64_t j = 0; j < p->count; j++) { wn += (double)w[j] * w[j]; gn += (double)g[j] * g[j]; }
            wn = sqrt(wn);
            gn = sqrt(gn);
            if (wn > 0 && gn > 0) plr = lr * o->lars_eta * wn / (gn + wd * wn);
        }
        const float flr = (float)plr;
        switch (o->form) {
        case BB_MOMENTUM_FORM9:
            if (o->nesterov) {
                for (int64_t j = 0; j < p->count; j++) {
                    float gj = g[j] + wd * w[j];
                    u[j] = m * u[j] + gj;
                    w[j] -= flr * (gj + m * u[j]);
                }
            } else {
                for (int64_t j = 0; j < p->count; j++) {
                    u[j] = m * u[j] + g[j] + wd * w[j];
                    w[j] -= flr * u[j];
                }
            }
            break;
        case BB_MOMENTUM_FORM10:
        case BB_MOMENTUM_FORM10_UNCORRECTED: {
            float c = o->form == BB_MOMENTUM_FORM10 && lr_prev > 0 ? (float)(lr / lr_prev) : 1.0f;
            for (int64_t j = 0; j < p->count; j++) {
                u[j] = m * c * u[j] + flr * (g[j] + wd * w[j]);
                w[j] -= u[j];
            }
            break;
        }
        }
    }
}
