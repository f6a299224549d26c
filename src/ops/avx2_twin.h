/* AVX2 twins. A source file with hot loops is compiled a second time by a
 * <name>_avx2.c that defines BB_AVX2_TWIN, renames the file's public
 * functions with an _avx2 suffix and includes it; the Makefile adds -mavx2
 * -mfma -ffp-contract=off for that file (x86-64 only), and the compiler's
 * own vectorizing does the rest. With no contraction into fused
 * multiply-adds a twin does the same float operations in the same order as
 * the baseline: the same bits. In the baseline compile, BB_AVX2_HAND_OVER(fn,
 * (args)) at the top of fn runs fn's twin instead when the CPU has AVX2+FMA;
 * elsewhere, and in the twin itself, it does nothing. */
#ifndef BB_OPS_AVX2_TWIN_H
#define BB_OPS_AVX2_TWIN_H

#if !defined(BB_AVX2_TWIN) && !defined(__AVX2__) && !defined(BB_NO_SIMD) && defined(__GNUC__) && \
    (defined(__x86_64__) || defined(__i386__))
#include "ops/ukernel.h"
#define BB_AVX2_TWINS 1
#define BB_AVX2_HAND_OVER(fn, args)                                   \
    do {                                                              \
        if (bb_uk_supported(BB_UK_AVX2)) { fn##_avx2 args; return; }  \
    } while (0)
#else
#define BB_AVX2_TWINS 0
#define BB_AVX2_HAND_OVER(fn, args) ((void)0)
#endif

#endif
