/* The two BLAS entry points bigbatch uses, declared as OpenBLAS's cblas.h
 * declares them (32-bit integers), for machines without the OpenBLAS headers:
 * either the OpenBLAS runtime (libopenblas.so.0) is linked, or sgemm.c. */
#ifndef BB_COMPAT_CBLAS_H
#define BB_COMPAT_CBLAS_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                 float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);

#endif
