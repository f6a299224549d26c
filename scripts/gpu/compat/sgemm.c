/* A portable single-precision GEMM with OpenBLAS's cblas_sgemm interface, for
 * machines without OpenBLAS (scripts/gpu_check.sh builds it into a static
 * libopenblas.a only then). Tiled loops the compiler vectorizes; thread-safe
 * (no state), single-threaded per call: the CPU trainer runs workers in
 * parallel. Not a fast BLAS, a correct one. */
#include "cblas.h"

#include <stddef.h>
#include <stdlib.h>

#define TJ 256
#define TP 64
#define A_AT(i, p) (ta ? a[(size_t)(p) * lda + (i)] : a[(size_t)(i) * lda + (p)])

/* row-major C (m, n) = alpha op(A) op(B) + beta C */
static void gemm_rm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                    int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
    if (tb) {  /* transpose B once so the inner loop runs along contiguous rows */
        float *bt = malloc((size_t)k * (size_t)n * sizeof *bt);
        if (bt) {
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++) bt[(size_t)p * n + j] = b[(size_t)j * ldb + p];
            gemm_rm(ta, 0, m, n, k, alpha, a, lda, bt, n, 1.0f, c, ldc);
            free(bt);
            return;
        }
        for (int i = 0; i < m; i++)  /* out of memory: the slow way */
            for (int j = 0; j < n; j++) {
                float s = 0.0f;
                for (int p = 0; p < k; p++) s += (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) * b[(size_t)j * ldb + p];
                c[(size_t)i * ldc + j] += alpha * s;
            }
        return;
    }
    for (int j0 = 0; j0 < n; j0 += TJ) {
        int j1 = j0 + TJ < n ? j0 + TJ : n;
        for (int p0 = 0; p0 < k; p0 += TP) {
            int p1 = p0 + TP < k ? p0 + TP : k;
            int i = 0;
            for (; i + 4 <= m; i += 4) {  /* four rows of C per pass over a row of B */
                float *c0 = c + (size_t)i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
                for (int p = p0; p < p1; p++) {
                    float a0 = alpha * A_AT(i, p), a1 = alpha * A_AT(i + 1, p);
                    float a2 = alpha * A_AT(i + 2, p), a3 = alpha * A_AT(i + 3, p);
                    const float *bp = b + (size_t)p * ldb;
                    for (int j = j0; j < j1; j++) {
                        float bv = bp[j];
                        c0[j] += a0 * bv;
                        c1[j] += a1 * bv;
                        c2[j] += a2 * bv;
                        c3[j] += a3 * bv;
                    }
                }
            }
            for (; i < m; i++) {
                float *ci = c + (size_t)i * ldc;
                for (int p = p0; p < p1; p++) {
                    float av = alpha * A_AT(i, p);
                    const float *bp = b + (size_t)p * ldb;
                    for (int j = j0; j < j1; j++) ci[j] += av * bp[j];
                }
            }
        }
    }
}

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                 float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    int at = ta != CblasNoTrans, bt = tb != CblasNoTrans;
    if (order == CblasRowMajor) gemm_rm(at, bt, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else gemm_rm(bt, at, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);  /* C^T = op(B)^T op(A)^T */
}

void openblas_set_num_threads(int n) { (void)n; }
