/* The CPU's element loops of the update: optim/update.h's rule over one
 * tensor. Compiled twice on x86-64, as itself and by update_cpu_avx2.c with
 * AVX2 (ops/avx2_twin.h); the Makefile lets the compiler vectorize both
 * (restrict pointers, no alias checks), and neither reorders a float
 * operation, so both give the bits of the scalar rule. */
#include "optim/sgd.h"

#include "ops/avx2_twin.h"

#ifdef BB_AVX2_TWIN
#define bb_sgd_apply bb_sgd_apply_avx2
#elif BB_AVX2_TWINS
void bb_sgd_apply_avx2(int rule, int64_t count, float *restrict w, float *restrict u, const float *restrict g,
                       float wd, float m, float c, float lr);
#endif

void bb_sgd_apply(int rule, int64_t count, float *restrict w, float *restrict u, const float *restrict g, float wd,
                  float m, float c, float lr)
{
    BB_AVX2_HAND_OVER(bb_sgd_apply, (rule, count, w, u, g, wd, m, c, lr));
    switch (rule) {
    case BB_UPDATE_FORM9:
        for (int64_t j = 0; j < count; j++) bb_update_form9(w + j, u + j, g[j], wd, m, lr);
        break;
    case BB_UPDATE_NESTEROV:
        for (int64_t j = 0; j < count; j++) bb_update_nesterov(w + j, u + j, g[j], wd, m, lr);
        break;
    default:
        for (int64_t j = 0; j < count; j++) bb_update_form10(w + j, u + j, g[j], wd, m, c, lr);
        break;
    }
}
