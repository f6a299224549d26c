/* The register tile of ukernel.c, written once over a vector width and
 * included there once per instruction set (and once more by the tests'
 * tests/ukernel_emu512.c, over emulated AVX-512 intrinsics), with the width,
 * the vector and mask types, the load/store/FMA operations, the name prefix,
 * the target attribute and the list of tile shapes defined before; it
 * undefines all but the prefix and the target at its end. Every shape R rows
 * x NV vectors exists twice: all vectors full, or the last one masked to the
 * tile's remaining columns. */
#ifndef BB_OPS_UKERNEL_TILE_H
#define BB_OPS_UKERNEL_TILE_H
typedef void (*uk_fn)(const bb_uk_args *p);
#define UK_MAXNV 4
#define UK_ROWS2(X, NV) X(1, NV) X(2, NV)
#define UK_ROWS4(X, NV) UK_ROWS2(X, NV) X(3, NV) X(4, NV)
#define UK_ROWS6(X, NV) UK_ROWS4(X, NV) X(5, NV) X(6, NV)
#define UK_ROWS8(X, NV) UK_ROWS6(X, NV) X(7, NV) X(8, NV)
#define UK_ROWS14(X, NV) UK_ROWS8(X, NV) X(9, NV) X(10, NV) X(11, NV) X(12, NV) X(13, NV) X(14, NV)
#define UK_SLIDE_KW 3  /* the sliding tiles' window width (the weight-gradient tile's ends assume 3) */
_Static_assert(UK_SLIDE_KW == 3 && BB_UK_MAXR >= 8 * UK_SLIDE_KW, "sliding tiles: 3 taps, up to 8 groups");
#endif

/* a tile's R x NV accumulators to or from C (the last vector masked);
 * loading without accumulate zeroes them */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(acc_io)(const bb_uk_args *p,
                                                                           UK_VEC acc[][UK_MAXNV], const int R,
                                                                           const int NV, const int MASK, UK_MASK m,
                                                                           const int store)
{
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *c = p->c[r] + UK_W * v;
            int masked = MASK && v == NV - 1;
            if (store && masked) UK_STOREM(c, m, acc[r][v]);
            else if (store) UK_STORE(c, acc[r][v]);
            else if (!p->accumulate) acc[r][v] = UK_ZERO();
            else acc[r][v] = masked ? UK_LOADM(c, m) : UK_LOAD(c);
        }
}

/* R, NV and MASK are constants at every call site, so the loops unroll and
 * the accumulators live in registers. */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(tile)(const bb_uk_args *p, const int R,
                                                                         const int NV, const int MASK)
{
    UK_VEC acc[BB_UK_MAXR][UK_MAXNV];
    const float *a[BB_UK_MAXR];
    UK_MASK m = UK_TAIL(MASK ? p->nc - UK_W * (NV - 1) : UK_W);
    UK_ISA(acc_io)(p, acc, R, NV, MASK, m, 0);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) a[r] = p->a[r];
    const float *b = p->b;
    const int64_t *col = p->acol, ldb = p->ldb, K = p->k;
    for (int64_t k = 0; k < K; k++, b += ldb) {
        int64_t o = col[k];
        UK_VEC bv[UK_MAXNV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = (MASK && v == NV - 1) ? UK_LOADM(b + UK_W * v, m) : UK_LOAD(b + UK_W * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            UK_VEC x = UK_BCAST(a[r] + o);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = UK_FMA(x, bv[v], acc[r][v]);
        }
    }
    UK_ISA(acc_io)(p, acc, R, NV, MASK, m, 1);
}

#ifdef UK_SLIDE_SHAPES
/* The sliding tile of ukernel.h, UK_SLIDE_KW taps wide: per k, R + KW - 1
 * broadcasts feed R x KW products (a plain tile broadcasts once per
 * product), while the KW x NV vectors of B stay in registers. Row r's
 * products come in order of i = r + t, so tap t ascending within each k. */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(slide_at)(const bb_uk_args *p, const int R,
                                                                             const int NV, const int MASK,
                                                                             const int64_t lda)
{
    enum { KW = UK_SLIDE_KW };
    UK_VEC acc[BB_UK_MAXR][UK_MAXNV];
    UK_MASK m = UK_TAIL(MASK ? p->nc - UK_W * (NV - 1) : UK_W);
    UK_ISA(acc_io)(p, acc, R, NV, MASK, m, 0);
    const float *a = p->a[0], *b = p->b;
    const int64_t *col = p->acol, ldb = p->ldb, K = p->k;
    for (int64_t k = 0; k < K; k++, b += KW * ldb) {
        const float *x = a + col[k];
        UK_VEC bv[KW][UK_MAXNV];
#pragma GCC unroll 4
        for (int t = 0; t < KW; t++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                bv[t][v] = (MASK && v == NV - 1) ? UK_LOADM(b + t * ldb + UK_W * v, m) : UK_LOAD(b + t * ldb + UK_W * v);
#pragma GCC unroll 16
        for (int i = 0; i < R + KW - 1; i++) {
            UK_VEC s = UK_BCAST(x + i * lda);
#pragma GCC unroll 4
            for (int t = 0; t < KW; t++) {
                int r = i - t;
                if (r < 0 || r >= R) continue;
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[r][v] = UK_FMA(s, bv[t][v], acc[r][v]);
            }
        }
    }
    UK_ISA(acc_io)(p, acc, R, NV, MASK, m, 1);
}

/* a pixel stride of as many floats as the tile's columns (the input's
 * channels equal to the output's, the usual case) is a constant: the
 * broadcasts then address by displacement instead of a chain of adds */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(slide)(const bb_uk_args *p, const int R,
                                                                          const int NV, const int MASK)
{
    if (!MASK && p->lda == UK_W * NV) UK_ISA(slide_at)(p, R, NV, MASK, UK_W * NV);
    else UK_ISA(slide_at)(p, R, NV, MASK, p->lda);
}

#define UK_DEF(R, NV)                                                                                  \
    static UK_TARGET void UK_ISA(s##R##x##NV)(const bb_uk_args *p) { UK_ISA(slide)(p, R, NV, 0); }   \
    static UK_TARGET void UK_ISA(s##R##x##NV##m)(const bb_uk_args *p) { UK_ISA(slide)(p, R, NV, 1); }
UK_SLIDE_SHAPES(UK_DEF)
#undef UK_DEF

#define UK_ENTRY(R, NV) [0][NV - 1][R - 1] = UK_ISA(s##R##x##NV), [1][NV - 1][R - 1] = UK_ISA(s##R##x##NV##m),
static const uk_fn UK_ISA(slide_table)[2][UK_MAXNV][BB_UK_MAXR] = {UK_SLIDE_SHAPES(UK_ENTRY)};
#undef UK_ENTRY
#undef UK_SLIDE_SHAPES
#endif

#ifdef UK_WSLIDE_SHAPES
/* B's rows [k - t1 + 1, k - t0] against pixel x of the input row (a[g][x]),
 * into the accumulators of taps [t0, t1) of every group: the G broadcasts
 * each feed t1 - t0 products */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(wslide_at)(UK_VEC acc[][UK_MAXNV],
                                                                              const float *const *a, int64_t x,
                                                                              const float *b, int64_t ldb,
                                                                              const int G, const int NV,
                                                                              const int MASK, UK_MASK m,
                                                                              const int t0, const int t1)
{
    enum { KW = UK_SLIDE_KW };
    UK_VEC bv[KW][UK_MAXNV];
#pragma GCC unroll 4
    for (int t = t0; t < t1; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[t][v] = (MASK && v == NV - 1) ? UK_LOADM(b - t * ldb + UK_W * v, m) : UK_LOAD(b - t * ldb + UK_W * v);
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) {
        UK_VEC s = UK_BCAST(a[g] + x);
#pragma GCC unroll 4
        for (int t = t0; t < t1; t++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[g * KW + t][v] = UK_FMA(s, bv[t][v], acc[g * KW + t][v]);
    }
}

/* The weight-gradient sliding tile of ukernel.h: G groups of UK_SLIDE_KW
 * rows, row (g, t) reading pixel k + t of group g's input row where a plain
 * tile would read pixel k of its own row pointer: one broadcast serves the
 * KW taps. Every row still sums its k in order, the same products. */
static inline __attribute__((always_inline)) UK_TARGET void UK_ISA(wslide)(const bb_uk_args *p, const int G,
                                                                           const int NV, const int MASK)
{
    enum { KW = UK_SLIDE_KW };
    UK_VEC acc[BB_UK_MAXR][UK_MAXNV];
    UK_MASK m = UK_TAIL(MASK ? p->nc - UK_W * (NV - 1) : UK_W);
    UK_ISA(acc_io)(p, acc, G * KW, NV, MASK, m, 0);
    const int64_t ldb = p->ldb, lda = p->lda, run = p->run;
    for (int64_t k0 = 0; k0 < p->k; k0 += run) {
        /* input pixel i of the segment meets B rows i - t, 0 <= i - t < run */
        const float *b = p->b + k0 * ldb;
        int64_t x = p->acol[k0];
        UK_ISA(wslide_at)(acc, p->a, x, b, ldb, G, NV, MASK, m, 0, 1);
        UK_ISA(wslide_at)(acc, p->a, x + lda, b + ldb, ldb, G, NV, MASK, m, 0, 2);
        for (int64_t i = KW - 1; i < run; i++)
            UK_ISA(wslide_at)(acc, p->a, x + i * lda, b + i * ldb, ldb, G, NV, MASK, m, 0, KW);
        UK_ISA(wslide_at)(acc, p->a, x + run * lda, b + run * ldb, ldb, G, NV, MASK, m, 1, KW);
        UK_ISA(wslide_at)(acc, p->a, x + (run + 1) * lda, b + (run + 1) * ldb, ldb, G, NV, MASK, m, 2, KW);
    }
    UK_ISA(acc_io)(p, acc, G * KW, NV, MASK, m, 1);
}

#define UK_DEF(G, NV)                                                                                  \
    static UK_TARGET void UK_ISA(w##G##x##NV)(const bb_uk_args *p) { UK_ISA(wslide)(p, G, NV, 0); }  \
    static UK_TARGET void UK_ISA(w##G##x##NV##m)(const bb_uk_args *p) { UK_ISA(wslide)(p, G, NV, 1); }
UK_WSLIDE_SHAPES(UK_DEF)
#undef UK_DEF

#define UK_ENTRY(G, NV) [0][NV - 1][G - 1] = UK_ISA(w##G##x##NV), [1][NV - 1][G - 1] = UK_ISA(w##G##x##NV##m),
static const uk_fn UK_ISA(wslide_table)[2][UK_MAXNV][BB_UK_MAXR / UK_SLIDE_KW] = {UK_WSLIDE_SHAPES(UK_ENTRY)};
#undef UK_ENTRY
#undef UK_WSLIDE_SHAPES
#endif

#define UK_DEF(R, NV)                                                                                  \
    static UK_TARGET void UK_ISA(R##x##NV)(const bb_uk_args *p) { UK_ISA(tile)(p, R, NV, 0); }       \
    static UK_TARGET void UK_ISA(R##x##NV##m)(const bb_uk_args *p) { UK_ISA(tile)(p, R, NV, 1); }
UK_SHAPES(UK_DEF)
#undef UK_DEF

/* [masked][vectors - 1][rows - 1]; shapes not in the list stay NULL */
#define UK_ENTRY(R, NV) [0][NV - 1][R - 1] = UK_ISA(R##x##NV), [1][NV - 1][R - 1] = UK_ISA(R##x##NV##m),
static const uk_fn UK_ISA(table)[2][UK_MAXNV][BB_UK_MAXR] = {UK_SHAPES(UK_ENTRY)};
#undef UK_ENTRY

#undef UK_W
#undef UK_VEC
#undef UK_MASK
#undef UK_ZERO
#undef UK_LOAD
#undef UK_LOADM
#undef UK_STORE
#undef UK_STOREM
#undef UK_BCAST
#undef UK_FMA
#undef UK_TAIL
#undef UK_SHAPES
