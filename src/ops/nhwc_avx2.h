/* nhwc.c is compiled twice on x86-64: as itself for the baseline CPU, and by
 * nhwc_avx2.c with -mavx2 -mfma (the Makefile adds them for that file only),
 * where vec8.h's 8-lane operations become AVX2 instructions and every public
 * function gets an _avx2 suffix. The baseline's hot entry points (batch norm,
 * add + ReLU) hand over to their twin when the CPU runs AVX2+FMA. */
#ifndef BB_OPS_NHWC_AVX2_H
#define BB_OPS_NHWC_AVX2_H

#ifdef BB_AVX2_TWIN  /* compiling the twin (nhwc_avx2.c) */
#define bb_bn_nhwc_workspace bb_bn_nhwc_workspace_avx2
#define bb_bn_nhwc_forward_train bb_bn_nhwc_forward_train_avx2
#define bb_bn_nhwc_forward_eval bb_bn_nhwc_forward_eval_avx2
#define bb_bn_nhwc_backward bb_bn_nhwc_backward_avx2
#define bb_bn_nhwc_grad_sums bb_bn_nhwc_grad_sums_avx2
#define bb_bn_nhwc_dx_rows bb_bn_nhwc_dx_rows_avx2
#define bb_bn_nhwc_later_len bb_bn_nhwc_later_len_avx2
#define bb_bn_nhwc_moments bb_bn_nhwc_moments_avx2
#define bb_bn_nhwc_sums_len bb_bn_nhwc_sums_len_avx2
#define bb_bn_nhwc_sums_complete bb_bn_nhwc_sums_complete_avx2
#define bb_bn_nhwc_coefficients bb_bn_nhwc_coefficients_avx2
#define bb_bn_nhwc_apply bb_bn_nhwc_apply_avx2
#define bb_add_relu_forward bb_add_relu_forward_avx2
#define bb_add_relu_backward bb_add_relu_backward_avx2
#define bb_maxpool_nhwc_forward bb_maxpool_nhwc_forward_avx2
#define bb_maxpool_nhwc_backward bb_maxpool_nhwc_backward_avx2
#define bb_avgpool_nhwc_forward bb_avgpool_nhwc_forward_avx2
#define bb_avgpool_nhwc_backward bb_avgpool_nhwc_backward_avx2
#define bb_padshort_nhwc_forward bb_padshort_nhwc_forward_avx2
#define bb_padshort_nhwc_backward bb_padshort_nhwc_backward_avx2
#define bb_nchw_to_nhwc bb_nchw_to_nhwc_avx2
#define bb_nhwc_to_nchw bb_nhwc_to_nchw_avx2
#define bb_nchw_to_nhwc_add bb_nchw_to_nhwc_add_avx2
#define bb_nhwc_to_nchw_add bb_nhwc_to_nchw_add_avx2
#endif

#include "ops/nhwc.h"

#include "ops/avx2_twin.h"

#if BB_AVX2_TWINS
struct bb_pool;
void bb_bn_nhwc_forward_train_avx2(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                                   const bb_bn_residual *r, float *y, float *save, float *stats, int relu,
                                   const double *sums, float *ws, struct bb_pool *team);
void bb_bn_nhwc_forward_eval_avx2(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                                  const float *rmean, const float *rvar, const bb_bn_residual *r, float *y,
                                  int relu, struct bb_pool *team);
void bb_bn_nhwc_backward_avx2(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *save,
                              const float *beta, const bb_bn_residual *r, const float *dy, float *dx, int set_dx,
                              float *dgamma, float *dbeta, int relu, const double *sums, bb_bn_later *later,
                              float *ws, struct bb_pool *team);
void bb_bn_nhwc_dx_rows_avx2(bb_bn_later *s, int64_t rows);
void bb_bn_nhwc_grad_sums_avx2(bb_bn_sums *s, int64_t rows);
void bb_bn_nhwc_moments_avx2(bb_bn_sums *s, int64_t rows);
void bb_bn_nhwc_apply_avx2(int64_t pixels, int64_t c, const float *x, const float *a, const float *b, int relu,
                           float *y);
void bb_add_relu_forward_avx2(int64_t len, const float *a, const float *b, float *y);
void bb_add_relu_backward_avx2(int64_t len, const float *y, const float *dy, float *da, int set_da, float *db,
                               int set_db);
#endif

#endif
