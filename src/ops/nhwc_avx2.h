/* nhwc.c is compiled three times on x86-64: as itself for the baseline CPU,
 * by nhwc_avx2.c with -mavx2 -mfma and by nhwc_avx512.c with -mavx512f (the
 * Makefile adds them for those files only), where vec.h's vectors become 8
 * or 16 lanes of AVX2 or AVX-512 and every public function gets an _avx2 or
 * _avx512 suffix. The baseline's hot entry points (batch norm, add + ReLU)
 * hand over to the AVX-512 twin when it may run and the channels are a
 * multiple of 16, else to the AVX2 one when the CPU runs AVX2+FMA. Lanes are
 * channels, so the two twins give the same bits. */
#ifndef BB_OPS_NHWC_AVX2_H
#define BB_OPS_NHWC_AVX2_H

#if defined(BB_AVX2_TWIN) || defined(BB_AVX512_TWIN)  /* compiling a twin */
#ifdef BB_AVX2_TWIN
#define BB_TWIN(fn) fn##_avx2
#else
#define BB_TWIN(fn) fn##_avx512
#endif
#define bb_bn_nhwc_workspace BB_TWIN(bb_bn_nhwc_workspace)
#define bb_bn_nhwc_forward_train BB_TWIN(bb_bn_nhwc_forward_train)
#define bb_bn_nhwc_forward_eval BB_TWIN(bb_bn_nhwc_forward_eval)
#define bb_bn_nhwc_backward BB_TWIN(bb_bn_nhwc_backward)
#define bb_bn_nhwc_grad_sums BB_TWIN(bb_bn_nhwc_grad_sums)
#define bb_bn_nhwc_dx_rows BB_TWIN(bb_bn_nhwc_dx_rows)
#define bb_bn_nhwc_later_len BB_TWIN(bb_bn_nhwc_later_len)
#define bb_bn_nhwc_moments BB_TWIN(bb_bn_nhwc_moments)
#define bb_bn_nhwc_sums_len BB_TWIN(bb_bn_nhwc_sums_len)
#define bb_bn_nhwc_sums_complete BB_TWIN(bb_bn_nhwc_sums_complete)
#define bb_bn_nhwc_coefficients BB_TWIN(bb_bn_nhwc_coefficients)
#define bb_bn_nhwc_apply BB_TWIN(bb_bn_nhwc_apply)
#define bb_add_relu_forward BB_TWIN(bb_add_relu_forward)
#define bb_add_relu_backward BB_TWIN(bb_add_relu_backward)
#define bb_maxpool_nhwc_forward BB_TWIN(bb_maxpool_nhwc_forward)
#define bb_maxpool_nhwc_backward BB_TWIN(bb_maxpool_nhwc_backward)
#define bb_avgpool_nhwc_forward BB_TWIN(bb_avgpool_nhwc_forward)
#define bb_avgpool_nhwc_backward BB_TWIN(bb_avgpool_nhwc_backward)
#define bb_padshort_nhwc_forward BB_TWIN(bb_padshort_nhwc_forward)
#define bb_padshort_nhwc_backward BB_TWIN(bb_padshort_nhwc_backward)
#define bb_nchw_to_nhwc BB_TWIN(bb_nchw_to_nhwc)
#define bb_nhwc_to_nchw BB_TWIN(bb_nhwc_to_nchw)
#define bb_nchw_to_nhwc_add BB_TWIN(bb_nchw_to_nhwc_add)
#define bb_nhwc_to_nchw_add BB_TWIN(bb_nhwc_to_nchw_add)
#endif

#include "ops/nhwc.h"

#include "ops/avx2_twin.h"

#if BB_AVX2_TWINS
struct bb_pool;
/* 1 when the AVX-512 twin may run (the CPU has it, and bb_nhwc_set_kernels
 * allows it) */
int bb_nhwc_wide(void);
/* at the top of fn (c channels): fn's AVX-512 twin runs instead when it may
 * and c is a multiple of its 16 lanes (else the AVX2 one, as before) */
#define BB_AVX512_HAND_OVER(fn, c, args)                                    \
    do {                                                                    \
        if ((c) % 16 == 0 && bb_nhwc_wide()) { fn##_avx512 args; return; }  \
    } while (0)
/* the twins' entry points that the baseline hands over to, suffix S */
#define BB_NHWC_TWIN_PROTOS(S)                                                                                       \
    void bb_bn_nhwc_forward_train##S(const bb_bn *d, int64_t n, const float *x, const float *gamma,               \
                                     const float *beta, const bb_bn_residual *r, float *y, float *save,           \
                                     float *stats, int relu, const double *sums, float *ws, struct bb_pool *team); \
    void bb_bn_nhwc_forward_eval##S(const bb_bn *d, int64_t n, const float *x, const float *gamma,                \
                                    const float *beta, const float *rmean, const float *rvar,                     \
                                    const bb_bn_residual *r, float *y, int relu, struct bb_pool *team);           \
    void bb_bn_nhwc_backward##S(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *save,  \
                                const float *beta, const bb_bn_residual *r, const float *dy, float *dx,           \
                                int set_dx, float *dgamma, float *dbeta, int relu, const double *sums,            \
                                bb_bn_later *later, float *ws, struct bb_pool *team);                             \
    void bb_bn_nhwc_dx_rows##S(bb_bn_later *s, int64_t rows);                                                     \
    void bb_bn_nhwc_grad_sums##S(bb_bn_sums *s, int64_t rows);                                                    \
    void bb_bn_nhwc_moments##S(bb_bn_sums *s, int64_t rows);                                                      \
    void bb_bn_nhwc_apply##S(int64_t pixels, int64_t c, const float *x, const float *a, const float *b, int relu,  \
                             float *y);                                                                           \
    void bb_add_relu_forward##S(int64_t len, const float *a, const float *b, float *y);                           \
    void bb_add_relu_backward##S(int64_t len, const float *y, const float *dy, float *da, int set_da, float *db,   \
                                 int set_db);
BB_NHWC_TWIN_PROTOS(_avx2)
BB_NHWC_TWIN_PROTOS(_avx512)
#else
#define BB_AVX512_HAND_OVER(fn, c, args) ((void)0)
#endif

#endif
