/* Register-tile kernels for ukernel.h: a portable C version that every build
 * has, and on x86-64 an AVX2+FMA and an AVX-512F version of one tile body
 * (ukernel_tile.h), each compiled for its instruction set by a function
 * attribute while the rest of the library targets the baseline x86-64; which
 * ones may run is asked of the CPU (gcc's __builtin_cpu_supports, which also
 * checks that the OS saves the vector registers). The test binary adds the
 * AVX-512F tiles once more over portable intrinsics (ukernel_avx512.h). All
 * sum over k in order, with one rounding per multiply-add (FMA) or two
 * (portable). */
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
#include "ops/ukernel_tile.h"
static const int avx2_rows[UK_MAXNV + 1] = {0, 8, 6, 4, 2};
#undef UK_TARGET
#undef UK_ISA

/* ---- AVX-512F (ukernel_avx512.h) ---- */
#define UK_TARGET __attribute__((target("avx512f,avx2,fma")))
#define UK_ISA(name) uk_avx512_##name
#define UK_X512(op) _mm512_##op
#define UK_VEC __m512
#define UK_MASK __mmask16
#include "ops/ukernel_avx512.h"

/* the AVX-512 tiles, run by the CPU or emulated (weak: defined only where the
 * test binary links tests/ukernel_emu512.c, NULL elsewhere) */
void bb_uk_emu512_run(const bb_uk_args *p) __attribute__((weak));
static int avx512_tiles(bb_uk_variant v) { return v == BB_UK_AVX512 || v == BB_UK_AVX512_EMULATED; }
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
    case BB_UK_AVX512_EMULATED: return bb_uk_emu512_run != NULL;
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
    return v == BB_UK_AVX512_EMULATED ? "avx512f-emulated" : v == BB_UK_AVX512 ? "avx512f"
         : v == BB_UK_AVX2 ? "avx2+fma" : "portable";
}

int bb_uk_cols(bb_uk_variant v)
{
#if BB_UK_X86
    if (avx512_tiles(v)) return 64;
#endif
    (void)v;
    return 16;
}

int bb_uk_max_rows(bb_uk_variant v, int nc)
{
#if BB_UK_X86
    if (v == BB_UK_AVX2) return avx2_rows[(nc + 7) / 8];
    if (avx512_tiles(v)) return uk_avx512_max_rows(nc);
#endif
    (void)v;
    (void)nc;
    return 8;
}

int bb_uk_slide_rows(bb_uk_variant v, int nc, int kw)
{
#if BB_UK_X86
    if (avx512_tiles(v)) return uk_avx512_slide_rows(nc, kw);
#endif
    (void)v;
    (void)nc;
    (void)kw;
    return 0;
}

int bb_uk_wslide_groups(bb_uk_variant v, int nc, int kw)
{
#if BB_UK_X86
    if (avx512_tiles(v)) return uk_avx512_wslide_groups(nc, kw);
#endif
    (void)v;
    (void)nc;
    (void)kw;
    return 0;
}

void bb_uk_run(bb_uk_variant v, const bb_uk_args *p)
{
#if BB_UK_X86
    if (v == BB_UK_AVX2) {
        uk_avx2_table[(p->nc & 7) != 0][(p->nc + 7) / 8 - 1][p->rows - 1](p);
        return;
    }
    if (v == BB_UK_AVX512) {
        uk_avx512_run(p);
        return;
    }
    if (v == BB_UK_AVX512_EMULATED) {
        bb_uk_emu512_run(p);
        return;
    }
#endif
    (void)v;
    uk_portable(p);
}
