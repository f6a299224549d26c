/* Learning-rate schedule. Warmup is per iteration: gradual adds a constant
 * amount each iteration from ref_lr to the peak, reached exactly at the end of
 * warmup; constant holds ref_lr and then jumps (for kn <= ref_batch both hold
 * the peak, which is then <= ref_lr). Decay counts epochs from the
 * start of training (the paper's milestones 30/60/80 include warmup); cosine
 * runs from the end of warmup to the last iteration. */
#include "optim/schedule.h"

#include <math.h>

double bb_schedule_peak(const bb_schedule *s)
{
    double ratio = s->batch / s->ref_batch;
    switch (s->scaling) {
    case BB_SCALE_LINEAR: return s->ref_lr * ratio;
    case BB_SCALE_SQRT: return s->ref_lr * sqrt(ratio);
    case BB_SCALE_NONE: break;
    }
    return s->ref_lr;
}

double bb_schedule_lr(const bb_schedule *s, int64_t step)
{
    double peak = bb_schedule_peak(s);
    double warm = s->warmup == BB_WARMUP_NONE ? 0.0 : s->warmup_epochs * (double)s->steps_per_epoch;
    warm = floor(warm + 0.5);
    double t = (double)step;
    if (t < warm) {
        /* from the reference lr up to the peak; a minibatch at or below the
         * reference has nothing to warm up to and starts at its own lr */
        double start = s->ref_lr < peak ? s->ref_lr : peak;
        if (s->warmup == BB_WARMUP_CONSTANT) return start;
        return start + (peak - start) * t / warm;
    }
    switch (s->decay) {
    case BB_DECAY_STEP: {
        double lr = peak;
        for (int i = 0; i < s->nmilestones; i++)
            if (t >= floor(s->milestones[i] * (double)s->steps_per_epoch + 0.5)) lr *= s->decay_factor;
        return lr;
    }
    case BB_DECAY_COSINE: {
        double total = floor(s->epochs * (double)s->steps_per_epoch + 0.5);
        if (total <= warm) return peak;
        double x = (t - warm) / (total - warm);
        if (x > 1.0) x = 1.0;
        return 0.5 * peak * (1.0 + cos(3.14159265358979323846 * x));
    }
    case BB_DECAY_NONE: break;
    }
    return peak;
}
