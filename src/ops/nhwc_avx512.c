/* nhwc.c for AVX-512F, its public functions suffixed _avx512 (nhwc_avx2.h):
 * the Makefile compiles this file with -mavx512f -mavx2 -mfma on x86-64;
 * elsewhere, or with BB_NO_SIMD, it is empty. */
#if defined(__AVX512F__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#define BB_AVX512_TWIN 1
#include "ops/nhwc_avx2.h"
#include "ops/nhwc.c"
#else
typedef int bb_nhwc_avx512_unused;  /* ISO C wants a non-empty file */
#endif
