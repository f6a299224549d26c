/* The inner kernel of the fast (NHWC) convolutions: a register tile of R rows
 * by nc columns, C[r][j] (+)= sum_k A_r[acol[k]] * B[k*ldb + j].
 * Rows of A are pointers (output pixels into a padded input, or (tap, channel)
 * entries), columns an offset table, so one kernel serves forward,
 * backward-data and backward-weights without an im2col copy. The summation
 * order is k = 0, 1, ... for every element, whatever the caller's threads.
 * One binary carries every variant; which ones run is what the CPU reports. */
#ifndef BB_OPS_UKERNEL_H
#define BB_OPS_UKERNEL_H

#include <stdint.h>

#define BB_UK_MAXR 24  /* rows of a tile (8 but for the sliding tiles) */
#define BB_UK_MAXC 64  /* columns of a tile (4 vectors of 16 floats) */

typedef struct {
    int rows, nc;               /* tile: rows x nc columns (1 <= nc <= bb_uk_cols(variant)) */
    int accumulate;             /* 1: C += A.B, 0: C = A.B */
    int64_t k;                  /* reduction length */
    const float *a[BB_UK_MAXR]; /* row r reads a[r][acol[k]] */
    const int64_t *acol;        /* k offsets, in floats */
    const float *b;             /* row k at b + k * ldb, nc floats read */
    int64_t ldb;
    float *c[BB_UK_MAXR];       /* row r writes nc floats at c[r] */
    /* A sliding tile (slide = kw > 0): the rows are kw-wide windows at
     * stride 1 along one row of pixels lda floats apart, and share their
     * loads: row r reads a[0] + r * lda, element (r, j) sums over k, then
     * tap t < kw, a[0][(r + t) * lda + acol[k]] * B[(k * kw + t) * ldb + j]
     * (B packed with the taps innermost). 0: a plain tile. */
    int slide;
    int64_t lda;
    /* A weight-gradient sliding tile (run > 0, with slide = kw): the rows
     * come in groups of kw, row g * kw + t being the plain row a[g] + t *
     * lda (the window's taps along one row of pixels lda floats apart), and
     * k in segments of run >= kw - 1 pixels along such a row (acol steps by
     * lda within a segment; k a multiple of run): pixel k + t of a group's
     * row serves tap t of pixel k, one broadcast for kw products. The sums
     * are a plain tile's, term for term. 0: not one. */
    int64_t run;
} bb_uk_args;

/* Kernel implementations, a property of a plan: plain C (every build and
 * CPU), AVX2+FMA (8 floats, 16 registers) and AVX-512F (16 floats, 32
 * registers, masked tails). AVX512_EMULATED, for the tests: the AVX-512F
 * tiles over portable intrinsics, the real ones' bits on any CPU; supported
 * only in the test binary, never the best. */
typedef enum {
    BB_UK_PORTABLE = 0, BB_UK_AVX2 = 1, BB_UK_AVX512 = 2, BB_UK_AVX512_EMULATED = 3, BB_UK_NVARIANTS = 4
} bb_uk_variant;

/* 1 when this build has variant v and the CPU and OS run it. */
int bb_uk_supported(bb_uk_variant v);
/* The fastest supported variant. */
bb_uk_variant bb_uk_best(void);
/* "portable", "avx2+fma" or "avx512f". */
const char *bb_uk_name(bb_uk_variant v);
/* The widest tile (columns) of variant v: callers block columns by it. */
int bb_uk_cols(bb_uk_variant v);
/* The largest row count a tile of nc columns may have under variant v. */
int bb_uk_max_rows(bb_uk_variant v, int nc);
/* The largest row count of a sliding tile of nc columns and kw taps under
 * variant v; 0: v has none (then callers use plain tiles). */
int bb_uk_slide_rows(bb_uk_variant v, int nc, int kw);
/* The most groups of a weight-gradient sliding tile of nc columns and kw
 * taps under variant v (its rows: groups x kw); 0: v has none. */
int bb_uk_wslide_groups(bb_uk_variant v, int nc, int kw);
/* v must be supported; p->nc <= bb_uk_cols(v), p->rows <= bb_uk_max_rows(v,
 * p->nc), or <= bb_uk_slide_rows(v, p->nc, p->slide) for a sliding tile, or
 * p->rows = groups x kw, groups <= bb_uk_wslide_groups(v, p->nc, kw), for a
 * weight-gradient one. */
void bb_uk_run(bb_uk_variant v, const bb_uk_args *p);
/* BB_UK_AVX512_EMULATED's tiles: tests/ukernel_emu512.c, in the test binary only. */
void bb_uk_emu512_run(const bb_uk_args *p);

#endif
