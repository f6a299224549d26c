/* Register-tile kernels for ukernel.h: a portable C version that every build
 * has, and on x86-64 an AVX2+FMA and an AVX-512F version of one tile body
 * (ukernel_tile.h), each compiled for its instruction set by a function
 * attribute while the rest of the library targets the baseline x86-64; which
 * ones may run is asked of the CPU (gcc's __builtin_cpu_supports, which also
 * checks that the OS saves the vector registers). All sum over k in order,
 * with one rounding per multiply-add (FMA) or two (portable). */
#include "ops/ukernel.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define BB_UK_X86 1
#else
#define BB_UK_X86 0
#endif

/* ---- portable ---- */

static void uk_portable(const bb_uk_args *p)
{
    float acc[BB_UK_MAXR][BB_UK_MAXC];
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

#if BB_UK_X86
typedef void (*uk_fn)(const bb_uk_args *p);
#define UK_MAXNV 4
#define UK_ROWS2(X, NV) X(1, NV) X(2, NV)
#define UK_ROWS4(X, NV) UK_ROWS2(X, NV) X(3, NV) X(4, NV)
#define UK_ROWS6(X, NV) UK_ROWS4(X, NV) X(5, NV) X(6, NV)
#define UK_ROWS8(X, NV) UK_ROWS6(X, NV) X(7, NV) X(8, NV)

/* ---- AVX2 + FMA: 8 floats; rows that fit in 16 registers: R*NV
 * accumulators + NV of B + 1 broadcast ---- */
#define UK_TARGET __attribute__((target("avx2,fma")))
#define UK_ISA(name) uk_avx2_##name
#define UK_W 8
#define UK_VEC __m256
#define UK_MASK __m256i
#define UK_ZERO() _mm256_setzero_ps()
#define UK_LOAD(p) _mm256_loadu_ps(p)
#define UK_LOADM(p, m) _mm256_maskload_ps((p), (m))
#define UK_STORE(p, v) _mm256_storeu_ps((p), (v))
#define UK_STOREM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define UK_BCAST(p) _mm256_broadcast_ss(p)
#define UK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
/* lanes [0, n) on, 1 <= n <= 8 */
#define UK_TAIL(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define UK_SHAPES(X) UK_ROWS8(X, 1) UK_ROWS6(X, 2) UK_ROWS4(X, 3) UK_ROWS2(X, 4)
static const int avx2_rows[UK_MAXNV + 1] = {0, 8, 6, 4, 2};
#include "ops/ukernel_tile.h"
#undef UK_TARGET
#undef UK_ISA
#undef UK_W
#undef UK_ZERO
#undef UK_LOAD
#undef UK_LOADM
#undef UK_STORE
#undef UK_STOREM
#undef UK_BCAST
#undef UK_FMA
#undef UK_TAIL
#undef UK_SHAPES
#undef UK_VEC
#undef UK_MASK

/* ---- AVX-512F: 16 floats; 32 registers hold up to 8 rows x 3 vectors
 * or 6 rows x 4 (24 accumulators + 4 of B + 1 broadcast) ---- */
#define UK_TARGET __attribute__((target("avx512f,avx2,fma")))
#define UK_ISA(name) uk_avx512_##name
#define UK_W 16
#define UK_VEC __m512
#define UK_MASK __mmask16
#define UK_ZERO() _mm512_setzero_ps()
#define UK_LOAD(p) _mm512_loadu_ps(p)
#define UK_LOADM(p, m) _mm512_maskz_loadu_ps((m), (p))
#define UK_STORE(p, v) _mm512_storeu_ps((p), (v))
#define UK_STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define UK_BCAST(p) _mm512_set1_ps(*(p))
#define UK_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
/* lanes [0, n) on, 1 <= n <= 16 */
#define UK_TAIL(n) ((__mmask16)((1u << (n)) - 1u))
#define UK_SHAPES(X) UK_ROWS8(X, 1) UK_ROWS8(X, 2) UK_ROWS8(X, 3) UK_ROWS6(X, 4)
static const int avx512_rows[UK_MAXNV + 1] = {0, 8, 8, 8, 6};
#include "ops/ukernel_tile.h"
#endif

int bb_uk_supported(bb_uk_variant v)
{
    switch (v) {
    case BB_UK_PORTABLE: return 1;
#if BB_UK_X86
    case BB_UK_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case BB_UK_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

bb_uk_variant bb_uk_best(void)
{
    return bb_uk_supported(BB_UK_AVX512) ? BB_UK_AVX512 : bb_uk_supported(BB_UK_AVX2) ? BB_UK_AVX2 : BB_UK_PORTABLE;
}

const char *bb_uk_name(bb_uk_variant v)
{
    return v == BB_UK_AVX512 ? "avx512f" : v == BB_UK_AVX2 ? "avx2+fma" : "portable";
}

int bb_uk_cols(bb_uk_variant v)
{
#if BB_UK_X86
    if (v == BB_UK_AVX512) return 64;
#endif
    (void)v;
    return 16;
}

int bb_uk_max_rows(bb_uk_variant v, int nc)
{
#if BB_UK_X86
    if (v == BB_UK_AVX2) return avx2_rows[(nc + 7) / 8];
    if (v == BB_UK_AVX512) return avx512_rows[(nc + 15) / 16];
#endif
    (void)v;
    (void)nc;
    return BB_UK_MAXR;
}

void bb_uk_run(bb_uk_variant v, const bb_uk_args *p)
{
#if BB_UK_X86
    if (v == BB_UK_AVX2) {
        uk_avx2_table[(p->nc & 7) != 0][(p->nc + 7) / 8 - 1][p->rows - 1](p);
        return;
    }
    if (v == BB_UK_AVX512) {
        uk_avx512_table[(p->nc & 15) != 0][(p->nc + 15) / 16 - 1][p->rows - 1](p);
        return;
    }
#endif
    (void)v;
    uk_portable(p);
}
