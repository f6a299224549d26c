/* The AVX-512F instantiation of ukernel_tile.h, written over the intrinsics'
 * prefix so that its tile shapes, tail masks and table compile twice:
 * ukernel.c includes it with the real intrinsics, and the test binary's
 * tests/ukernel_emu512.c with portable ones (SIMDe), which run on any CPU.
 * Defined before: UK_X512(op), the intrinsic `op` (_mm512_##op); UK_VEC and
 * UK_MASK, the vector and mask types; UK_TARGET; UK_ISA(name), the prefix.
 * Defines UK_ISA(run), UK_ISA(max_rows), UK_ISA(slide_rows) and
 * UK_ISA(wslide_groups): the tiles of up to 64 columns and the sliding ones
 * (both kinds) of up to 32. */

/* 16 floats; 32 registers hold up to 8 rows x 3 vectors or 6 rows x 4
 * (24 accumulators + 4 of B + 1 broadcast) */
#define UK_W 16
#define UK_ZERO() UK_X512(setzero_ps)()
#define UK_LOAD(p) UK_X512(loadu_ps)(p)
#define UK_LOADM(p, m) UK_X512(maskz_loadu_ps)((m), (p))
#define UK_STORE(p, v) UK_X512(storeu_ps)((p), (v))
#define UK_STOREM(p, m, v) UK_X512(mask_storeu_ps)((p), (m), (v))
#define UK_BCAST(p) UK_X512(set1_ps)(*(p))
#define UK_FMA(a, b, c) UK_X512(fmadd_ps)((a), (b), (c))
/* lanes [0, n) on, 1 <= n <= 16 */
#define UK_TAIL(n) ((UK_MASK)((1u << (n)) - 1u))
#define UK_SHAPES(X) UK_ROWS8(X, 1) UK_ROWS8(X, 2) UK_ROWS8(X, 3) UK_ROWS6(X, 4)
/* sliding tiles of up to 32 columns: 14 rows x 1 vector (14 accumulators +
 * 3 of B + 1 broadcast) or 8 x 2 (16 + 6 + 1) */
#define UK_SLIDE_SHAPES(X) UK_ROWS14(X, 1) UK_ROWS8(X, 2)
/* weight-gradient sliding tiles, (groups, vectors): 8 groups x 3 taps x 1
 * vector (24 accumulators + 3 of B + 1 broadcast) or 4 x 3 x 2 (24 + 6 + 1) */
#define UK_WSLIDE_SHAPES(X) UK_ROWS8(X, 1) UK_ROWS4(X, 2)
#include "ops/ukernel_tile.h"

/* the rows of the shapes above for nc columns, 1 <= nc <= 64 */
static inline int UK_ISA(max_rows)(int nc)
{
    static const int rows[UK_MAXNV + 1] = {0, 8, 8, 8, 6};
    return rows[(nc + 15) / 16];
}

/* the rows of the sliding shapes above, 1 <= nc <= 64 */
static inline int UK_ISA(slide_rows)(int nc, int kw)
{
    static const int rows[UK_MAXNV + 1] = {0, 14, 8, 0, 0};
    return kw == UK_SLIDE_KW ? rows[(nc + 15) / 16] : 0;
}

/* the groups of the weight-gradient sliding shapes above, 1 <= nc <= 64 */
static inline int UK_ISA(wslide_groups)(int nc, int kw)
{
    static const int groups[UK_MAXNV + 1] = {0, 8, 4, 0, 0};
    return kw == UK_SLIDE_KW ? groups[(nc + 15) / 16] : 0;
}

static inline void UK_ISA(run)(const bb_uk_args *p)
{
    if (p->run) {
        UK_ISA(wslide_table)[(p->nc & 15) != 0][(p->nc + 15) / 16 - 1][p->rows / UK_SLIDE_KW - 1](p);
        return;
    }
    if (p->slide) {
        UK_ISA(slide_table)[(p->nc & 15) != 0][(p->nc + 15) / 16 - 1][p->rows - 1](p);
        return;
    }
    UK_ISA(table)[(p->nc & 15) != 0][(p->nc + 15) / 16 - 1][p->rows - 1](p);
}
