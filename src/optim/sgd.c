/* The optimizer: one loop per parameter tensor, so weight decay and LARS can
 * look at the tensor's kind and norms. The arithmetic is optim/update.h's; the
 * element loops are update_cpu.c's. */
#include "optim/sgd.h"

int bb_sgd_decays(const bb_sgd *o, const bb_param *p)
{
    return o->wd_all || p->kind == BB_PARAM_WEIGHT;
}

int bb_sgd_adapts(const bb_sgd *o, const bb_param *p)
{
    return o->lars && bb_sgd_decays(o, p);
}

float bb_sgd_wd(const bb_sgd *o, const bb_param *p)
{
    return bb_sgd_decays(o, p) ? (float)o->weight_decay : 0.0f;
}

int bb_sgd_rule(const bb_sgd *o)
{
    if (o->form != BB_MOMENTUM_FORM9) return BB_UPDATE_FORM10;
    return o->nesterov ? BB_UPDATE_NESTEROV : BB_UPDATE_FORM9;
}

float bb_sgd_correction(const bb_sgd *o, double lr, double lr_prev)
{
    return o->form == BB_MOMENTUM_FORM10 && lr_prev > 0 ? (float)(lr / lr_prev) : 1.0f;
}

int64_t bb_sgd_segments(const bb_sgd *o, const bb_net *net, int64_t block_len, bb_kseg *seg)
{
    int64_t blocks = 0;
    for (int i = 0; i < net->nparams; i++) {
        const bb_param *p = &net->params[i];
        seg[i] = (bb_kseg){p->offset, p->count, bb_sgd_wd(o, p), bb_sgd_adapts(o, p), blocks};
        blocks += (p->count + block_len - 1) / block_len;
    }
    seg[net->nparams] = (bb_kseg){net->param_count, 0, 0.0f, 0, blocks};
    return blocks;
}

void bb_sgd_step(const bb_sgd *o, const bb_net *net, float *params, float *momentum,
                 const float *grad, double lr, double lr_prev)
{
    const float m = (float)o->momentum, c = bb_sgd_correction(o, lr, lr_prev);
    const int rule = bb_sgd_rule(o);
    for (int i = 0; i < net->nparams; i++) {
        const bb_param *p = &net->params[i];
        float *w = params + p->offset, *u = momentum + p->offset;
        const float *g = grad + p->offset;
        const float wd = bb_sgd_wd(o, p);
        float flr = (float)lr;
        if (bb_sgd_adapts(o, p)) {
            double w2 = 0, g2 = 0;
            for (int64_t j = 0; j < p->count; j++) { w2 += (double)w[j] * w[j]; g2 += (double)g[j] * g[j]; }
            flr = bb_lars_lr(lr, o->lars_eta, o->lars_clip, wd, w2, g2);
        }
        bb_sgd_apply(rule, p->count, w, u, g, wd, m, c, flr);
    }
}
