/* The rank of a sample's true class among its logits: the one definition of
 * "top-k correct" for the CPU loss (ops.c) and the device kernels (gpu/kern.h,
 * also compiled as CUDA device code), so every path counts errors alike. A
 * sample whose logits hold a non-finite value has no ranking and is never
 * counted correct: overflowing outputs must not read as accuracy. */
#ifndef BB_OPS_RANK_H
#define BB_OPS_RANK_H

#include "util/hostdev.h"

#include <math.h>
#include <stdint.h>

/* no ranking: larger than any k */
#define BB_RANK_NONE INT64_MAX

/* How many of the classes outrank the true class y (ties go to the lower
 * index); the sample is top-k correct when this is < k. BB_RANK_NONE when any
 * logit is NaN or infinite. */
BB_HD static inline int64_t bb_label_rank(const float *z, int64_t classes, int32_t y)
{
    int64_t above = 0;
    for (int64_t j = 0; j < classes; j++) {
        if (!isfinite(z[j])) return BB_RANK_NONE;
        if (z[j] > z[y] || (z[j] == z[y] && j < y)) above++;
    }
    return above;
}

#endif
