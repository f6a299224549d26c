/* BB_UK_AVX512_EMULATED (ukernel.h): the AVX-512F tiles of ukernel.c -- the
 * same ukernel_avx512.h and ukernel_tile.h, so the same shapes, tail masks
 * and table -- over SIMDe's portable AVX-512 intrinsics, so that the tests
 * run them on CPUs without AVX-512. Only the test binary links this file.
 * What it cannot show: the speed, and the real instructions' encoding. */
#include <simde/x86/avx512.h> /* not found? Debian's libsimde-dev; scripts/install-deps.sh installs it */

#include "ops/ukernel.h"

#include <math.h>

/* from SIMDe */
#define emu512_setzero_ps simde_mm512_setzero_ps
#define emu512_loadu_ps simde_mm512_loadu_ps
#define emu512_storeu_ps simde_mm512_storeu_ps
#define emu512_set1_ps simde_mm512_set1_ps

/* SIMDe 0.7.4 has no masked load and store; these, like the CPU's, touch no
 * memory in the lanes the mask leaves off (AddressSanitizer sees any other) */
static inline simde__m512 emu512_maskz_loadu_ps(simde__mmask16 m, const float *p)
{
    float v[16];
    for (int i = 0; i < 16; i++) v[i] = (m >> i) & 1 ? p[i] : 0.0f;
    return simde_mm512_loadu_ps(v);
}

static inline void emu512_mask_storeu_ps(float *p, simde__mmask16 m, simde__m512 a)
{
    float v[16];
    simde_mm512_storeu_ps(v, a);
    for (int i = 0; i < 16; i++)
        if ((m >> i) & 1) p[i] = v[i];
}

/* SIMDe's fmadd rounds the product and the sum apart on a CPU without FMA;
 * the tiles' bits need one rounding, as the instruction does */
static inline simde__m512 emu512_fmadd_ps(simde__m512 a, simde__m512 b, simde__m512 c)
{
    float x[16], y[16], z[16];
    simde_mm512_storeu_ps(x, a);
    simde_mm512_storeu_ps(y, b);
    simde_mm512_storeu_ps(z, c);
    for (int i = 0; i < 16; i++) z[i] = fmaf(x[i], y[i], z[i]);
    return simde_mm512_loadu_ps(z);
}

#define UK_TARGET
#define UK_ISA(name) uk_emu512_##name
#define UK_X512(op) emu512_##op
#define UK_VEC simde__m512
#define UK_MASK simde__mmask16
#include "ops/ukernel_avx512.h"

void bb_uk_emu512_run(const bb_uk_args *p) { uk_emu512_run(p); }
