/* Float vectors of VW lanes for the channels-last element-wise kernels:
 * 16 (AVX-512F) where the target has it (the AVX-512 twin, nhwc_avx2.h),
 * else 8 (AVX2+FMA), else (or with -DBB_NO_SIMD, which tests use to build
 * and check this fallback) a plain struct of 8 with the same operations.
 * Lanes are channels and every lane does the same operations in the same
 * order at any width, so the two widths give the same bits. Double
 * accumulators hold the lanes as two halves. */
#ifndef BB_OPS_VEC_H
#define BB_OPS_VEC_H

#if defined(__AVX512F__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define VW 16
#define VF(op) _mm512_##op
typedef __m512 vf;
typedef __m256 vf_half;
typedef struct { __m512d lo, hi; } vfd;
/* the halves of x, as floats to widen */
static inline vf_half vf_lo(vf x) { return _mm512_castps512_ps256(x); }
static inline vf_half vf_hi(vf x) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)); }
/* g where y > 0, else 0 */
static inline vf vf_where_pos(vf y, vf g)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), g);
}

#elif defined(__AVX2__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define VW 8
#define VF(op) _mm256_##op
typedef __m256 vf;
typedef __m128 vf_half;
typedef struct { __m256d lo, hi; } vfd;
static inline vf_half vf_lo(vf x) { return _mm256_castps256_ps128(x); }
static inline vf_half vf_hi(vf x) { return _mm256_extractf128_ps(x, 1); }
static inline vf vf_where_pos(vf y, vf g)
{
    return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), g);
}
#endif

#ifdef VF  /* either instruction set: the same operations at its width */
static inline vf vf_load(const float *p) { return VF(loadu_ps)(p); }
static inline void vf_store(float *p, vf v) { VF(storeu_ps)(p, v); }
static inline vf vf_set1(float x) { return VF(set1_ps)(x); }
static inline vf vf_add(vf a, vf b) { return VF(add_ps)(a, b); }
static inline vf vf_sub(vf a, vf b) { return VF(sub_ps)(a, b); }
static inline vf vf_mul(vf a, vf b) { return VF(mul_ps)(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return VF(fmadd_ps)(a, b, c); }  /* a*b + c */
static inline vf vf_relu(vf a) { return VF(max_ps)(a, VF(setzero_ps)()); }
static inline vfd vfd_zero(void) { vfd r = {VF(setzero_pd)(), VF(setzero_pd)()}; return r; }
static inline void vfd_store(double *p, vfd a) { VF(storeu_pd)(p, a.lo); VF(storeu_pd)(p + VW / 2, a.hi); }
/* acc + x, in double */
static inline vfd vfd_acc(vfd acc, vf x)
{
    vfd r = {VF(add_pd)(acc.lo, VF(cvtps_pd)(vf_lo(x))), VF(add_pd)(acc.hi, VF(cvtps_pd)(vf_hi(x)))};
    return r;
}
#undef VF

#else  /* neither: the portable struct */
#define VW 8

typedef struct { float f[8]; } vf;
typedef struct { double d[8]; } vfd;

static inline vf vf_load(const float *p) { vf r; for (int i = 0; i < 8; i++) r.f[i] = p[i]; return r; }
static inline void vf_store(float *p, vf v) { for (int i = 0; i < 8; i++) p[i] = v.f[i]; }
static inline vf vf_set1(float x) { vf r; for (int i = 0; i < 8; i++) r.f[i] = x; return r; }
static inline vf vf_add(vf a, vf b) { for (int i = 0; i < 8; i++) a.f[i] += b.f[i]; return a; }
static inline vf vf_sub(vf a, vf b) { for (int i = 0; i < 8; i++) a.f[i] -= b.f[i]; return a; }
static inline vf vf_mul(vf a, vf b) { for (int i = 0; i < 8; i++) a.f[i] *= b.f[i]; return a; }
static inline vf vf_fma(vf a, vf b, vf c) { for (int i = 0; i < 8; i++) a.f[i] = a.f[i] * b.f[i] + c.f[i]; return a; }
static inline vf vf_relu(vf a) { for (int i = 0; i < 8; i++) a.f[i] = a.f[i] > 0.0f ? a.f[i] : 0.0f; return a; }
static inline vf vf_where_pos(vf y, vf g) { for (int i = 0; i < 8; i++) g.f[i] = y.f[i] > 0.0f ? g.f[i] : 0.0f; return g; }
static inline vfd vfd_zero(void) { vfd r; for (int i = 0; i < 8; i++) r.d[i] = 0.0; return r; }
static inline void vfd_store(double *p, vfd a) { for (int i = 0; i < 8; i++) p[i] = a.d[i]; }
static inline vfd vfd_acc(vfd acc, vf x) { for (int i = 0; i < 8; i++) acc.d[i] += x.f[i]; return acc; }
#endif

#endif
