/* update_cpu.c for AVX2, its bb_sgd_apply suffixed _avx2 (ops/avx2_twin.h):
 * the Makefile compiles this file with -mavx2 -mfma on x86-64; elsewhere, or
 * with BB_NO_SIMD, it is empty. */
#if defined(__AVX2__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#define BB_AVX2_TWIN 1
#include "optim/update_cpu.c"
#else
typedef int bb_update_cpu_avx2_unused;  /* ISO C wants a non-empty file */
#endif
