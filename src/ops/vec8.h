/* Eight-float vectors for the channels-last element-wise kernels: AVX2+FMA
 * when the target has them, else (or with -DBB_NO_SIMD, which tests use to
 * build and check this fallback) a plain struct with the same operations.
 * Double accumulators hold the 8 lanes as two halves of 4. */
#ifndef BB_OPS_VEC8_H
#define BB_OPS_VEC8_H

#if defined(__AVX2__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define BB_V8_SIMD 1

typedef __m256 v8;
typedef struct { __m256d lo, hi; } v8d;

static inline v8 v8_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v8_store(float *p, v8 v) { _mm256_storeu_ps(p, v); }
static inline v8 v8_set1(float x) { return _mm256_set1_ps(x); }
static inline v8 v8_add(v8 a, v8 b) { return _mm256_add_ps(a, b); }
static inline v8 v8_sub(v8 a, v8 b) { return _mm256_sub_ps(a, b); }
static inline v8 v8_mul(v8 a, v8 b) { return _mm256_mul_ps(a, b); }
static inline v8 v8_fma(v8 a, v8 b, v8 c) { return _mm256_fmadd_ps(a, b, c); }  /* a*b + c */
static inline v8 v8_relu(v8 a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
/* g where y > 0, else 0 */
static inline v8 v8_where_pos(v8 y, v8 g)
{
    return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), g);
}
static inline v8d v8d_zero(void) { v8d r = {_mm256_setzero_pd(), _mm256_setzero_pd()}; return r; }
static inline void v8d_store(double *p, v8d a) { _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, a.hi); }
/* acc + x, in double */
static inline v8d v8d_acc(v8d acc, v8 x)
{
    v8d r = {_mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x))),
             _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)))};
    return r;
}

#else
#define BB_V8_SIMD 0

typedef struct { float f[8]; } v8;
typedef struct { double d[8]; } v8d;

static inline v8 v8_load(const float *p) { v8 r; for (int i = 0; i < 8; i++) r.f[i] = p[i]; return r; }
static inline void v8_store(float *p, v8 v) { for (int i = 0; i < 8; i++) p[i] = v.f[i]; }
static inline v8 v8_set1(float x) { v8 r; for (int i = 0; i < 8; i++) r.f[i] = x; return r; }
static inline v8 v8_add(v8 a, v8 b) { for (int i = 0; i < 8; i++) a.f[i] += b.f[i]; return a; }
static inline v8 v8_sub(v8 a, v8 b) { for (int i = 0; i < 8; i++) a.f[i] -= b.f[i]; return a; }
static inline v8 v8_mul(v8 a, v8 b) { for (int i = 0; i < 8; i++) a.f[i] *= b.f[i]; return a; }
static inline v8 v8_fma(v8 a, v8 b, v8 c) { for (int i = 0; i < 8; i++) a.f[i] = a.f[i] * b.f[i] + c.f[i]; return a; }
static inline v8 v8_relu(v8 a) { for (int i = 0; i < 8; i++) a.f[i] = a.f[i] > 0.0f ? a.f[i] : 0.0f; return a; }
static inline v8 v8_where_pos(v8 y, v8 g) { for (int i = 0; i < 8; i++) g.f[i] = y.f[i] > 0.0f ? g.f[i] : 0.0f; return g; }
static inline v8d v8d_zero(void) { v8d r; for (int i = 0; i < 8; i++) r.d[i] = 0.0; return r; }
static inline void v8d_store(double *p, v8d a) { for (int i = 0; i < 8; i++) p[i] = a.d[i]; }
static inline v8d v8d_acc(v8d acc, v8 x) { for (int i = 0; i < 8; i++) acc.d[i] += x.f[i]; return acc; }
#endif

#endif
