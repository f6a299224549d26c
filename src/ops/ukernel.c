/* Register-tile kernels for ukernel.h: an AVX2+FMA version (compiled when the
 * target has both and BB_NO_SIMD is not defined; one specialization per rows x
 * vectors shape, the partial last vector masked) and a portable C version that
 * every build has. Both sum over k in order, with one rounding per
 * multiply-add (FMA) or two (portable). */
#include "ops/ukernel.h"

#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define BB_UK_HAVE_AVX2 1
#else
#define BB_UK_HAVE_AVX2 0
#endif

/* ---- portable ---- */

static void uk_portable(const bb_uk_args *p)
{
    float acc[BB_UK_MAXR][8 * BB_UK_MAXNV];
    int R = p->rows, nc = p->nc;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < nc; j++) acc[r][j] = p->accumulate ? p->c[r][j] : 0.0f;
    for (int64_t k = 0; k < p->k; k++) {
        const float *b = p->b + k * p->ldb;
        int64_t o = p->acol[k];
        for (int r = 0; r < R; r++) {
            float x = p->a[r][o];
            for (int j = 0; j < nc; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < R; r++) memcpy(p->c[r], acc[r], (size_t)nc * sizeof(float));
}

/* ---- AVX2 + FMA ---- */
#if BB_UK_HAVE_AVX2

static inline __m256i tail_mask(int n)  /* lanes [0, n) on, 1 <= n <= 8 */
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* R rows x NV vectors; MASK: the last vector holds fewer than 8 columns. R, NV
 * and MASK are constants at every call site, so the loops unroll and the
 * accumulators live in registers. */
static inline __attribute__((always_inline)) void uk_tile(const bb_uk_args *p, const int R, const int NV,
                                                          const int MASK)
{
    __m256 acc[BB_UK_MAXR][BB_UK_MAXNV];
    const float *a[BB_UK_MAXR];
    __m256i m = MASK ? tail_mask(p->nc - 8 * (NV - 1)) : _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        a[r] = p->a[r];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (!p->accumulate) acc[r][v] = _mm256_setzero_ps();
            else if (MASK && v == NV - 1) acc[r][v] = _mm256_maskload_ps(p->c[r] + 8 * v, m);
            else acc[r][v] = _mm256_loadu_ps(p->c[r] + 8 * v);
        }
    }
    const float *b = p->b;
    const int64_t *col = p->acol, ldb = p->ldb, K = p->k;
    for (int64_t k = 0; k < K; k++, b += ldb) {
        int64_t o = col[k];
        __m256 bv[BB_UK_MAXNV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = (MASK && v == NV - 1) ? _mm256_maskload_ps(b + 8 * v, m) : _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(a[r] + o);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (MASK && v == NV - 1) _mm256_maskstore_ps(p->c[r] + 8 * v, m, acc[r][v]);
            else _mm256_storeu_ps(p->c[r] + 8 * v, acc[r][v]);
        }
}

typedef void (*uk_fn)(const bb_uk_args *p);

/* rows that fit in 16 registers: R*NV accumulators + NV of B + 1 broadcast */
static const int avx2_max_rows[BB_UK_MAXNV + 1] = {0, 8, 6, 4, 2};

#define UK_DEF(R, NV)                                                                   \
    static void uk_##R##x##NV(const bb_uk_args *p) { uk_tile(p, R, NV, 0); }             \
    static void uk_##R##x##NV##m(const bb_uk_args *p) { uk_tile(p, R, NV, 1); }
UK_DEF(1, 1) UK_DEF(2, 1) UK_DEF(3, 1) UK_DEF(4, 1) UK_DEF(5, 1) UK_DEF(6, 1) UK_DEF(7, 1) UK_DEF(8, 1)
UK_DEF(1, 2) UK_DEF(2, 2) UK_DEF(3, 2) UK_DEF(4, 2) UK_DEF(5, 2) UK_DEF(6, 2)
UK_DEF(1, 3) UK_DEF(2, 3) UK_DEF(3, 3) UK_DEF(4, 3)
UK_DEF(1, 4) UK_DEF(2, 4)
#undef UK_DEF

static const uk_fn avx2_table[2][BB_UK_MAXNV][BB_UK_MAXR] = {
    {{uk_1x1, uk_2x1, uk_3x1, uk_4x1, uk_5x1, uk_6x1, uk_7x1, uk_8x1},
     {uk_1x2, uk_2x2, uk_3x2, uk_4x2, uk_5x2, uk_6x2, 0, 0},
     {uk_1x3, uk_2x3, uk_3x3, uk_4x3, 0, 0, 0, 0},
     {uk_1x4, uk_2x4, 0, 0, 0, 0, 0, 0}},
    {{uk_1x1m, uk_2x1m, uk_3x1m, uk_4x1m, uk_5x1m, uk_6x1m, uk_7x1m, uk_8x1m},
     {uk_1x2m, uk_2x2m, uk_3x2m, uk_4x2m, uk_5x2m, uk_6x2m, 0, 0},
     {uk_1x3m, uk_2x3m, uk_3x3m, uk_4x3m, 0, 0, 0, 0},
     {uk_1x4m, uk_2x4m, 0, 0, 0, 0, 0, 0}},
};
#endif

int bb_uk_max_rows(bb_uk_variant v, int nc)
{
#if BB_UK_HAVE_AVX2
    if (v == BB_UK_BEST) return avx2_max_rows[(nc + 7) / 8];
#endif
    (void)v;
    (void)nc;
    return BB_UK_MAXR;
}

void bb_uk_run(bb_uk_variant v, const bb_uk_args *p)
{
#if BB_UK_HAVE_AVX2
    if (v == BB_UK_BEST) {
        int nv = (p->nc + 7) / 8;
        avx2_table[(p->nc & 7) != 0][nv - 1][p->rows - 1](p);
        return;
    }
#endif
    (void)v;
    uk_portable(p);
}

const char *bb_uk_best_name(void) { return BB_UK_HAVE_AVX2 ? "avx2+fma" : "portable"; }
