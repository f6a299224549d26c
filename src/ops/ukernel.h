/* The inner kernel of the fast (NHWC) convolutions: a register tile of R rows
 * by nc <= 8*NV columns, C[r][j] (+)= sum_k A_r[acol[k]] * B[k*ldb + j].
 * Rows of A are pointers (output pixels into a padded input, or (tap, channel)
 * entries), columns an offset table, so one kernel serves forward,
 * backward-data and backward-weights without an im2col copy. The summation
 * order is k = 0, 1, ... for every element, whatever the caller's threads. */
#ifndef BB_OPS_UKERNEL_H
#define BB_OPS_UKERNEL_H

#include <stdint.h>

#define BB_UK_MAXR 8   /* rows of a tile */
#define BB_UK_MAXNV 4  /* 8-float vectors of a tile */

typedef struct {
    int rows, nc;               /* tile: rows x nc columns (1 <= nc <= 8 * BB_UK_MAXNV) */
    int accumulate;             /* 1: C += A.B, 0: C = A.B */
    int64_t k;                  /* reduction length */
    const float *a[BB_UK_MAXR]; /* row r reads a[r][acol[k]] */
    const int64_t *acol;        /* k offsets, in floats */
    const float *b;             /* row k at b + k * ldb, nc floats read */
    int64_t ldb;
    float *c[BB_UK_MAXR];       /* row r writes nc floats at c[r] */
} bb_uk_args;

/* Kernel implementations; which one runs is a property of a plan. */
typedef enum { BB_UK_BEST = 0, BB_UK_PORTABLE = 1 } bb_uk_variant;

/* The largest row count a tile of nc columns may have under variant v. */
int bb_uk_max_rows(bb_uk_variant v, int nc);
void bb_uk_run(bb_uk_variant v, const bb_uk_args *p);
/* "avx2+fma" or "portable": what BB_UK_BEST is in this build. */
const char *bb_uk_best_name(void);

#endif
