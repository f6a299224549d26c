/* nhwc.c for AVX2+FMA, its public functions suffixed _avx2 (nhwc_avx2.h, avx2_twin.h):
 * the Makefile compiles this file with -mavx2 -mfma on x86-64; elsewhere, or
 * with BB_NO_SIMD, it is empty. */
#if defined(__AVX2__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#define BB_AVX2_TWIN 1
#include "ops/nhwc_avx2.h"
#include "ops/nhwc.c"
#else
typedef int bb_nhwc_avx2_unused;  /* ISO C wants a non-empty file */
#endif
