/* splitmix64 over (key + counter): a small counter-based generator whose output
 * passes BigCrush and costs a few multiplies; keys are hashed from their parts. */
#include "util/rng.h"

#include <math.h>

uint64_t bb_mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

bb_rng bb_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t k = bb_mix64(seed + 0x9e3779b97f4a7c15ULL);
    k = bb_mix64(k ^ (purpose * 0xd1b54a32d192ed03ULL));
    k = bb_mix64(k ^ (a + 0x8cb92ba72f3d8dd7ULL));
    k = bb_mix64(k ^ (b * 0xaef17502108ef2d9ULL + 1));
    return (bb_rng){k, 0};
}

uint64_t bb_rng_u64(bb_rng *r)
{
    r->ctr++;
    return bb_mix64(r->key + r->ctr * 0x9e3779b97f4a7c15ULL);
}

uint32_t bb_rng_u32(bb_rng *r) { return (uint32_t)(bb_rng_u64(r) >> 32); }

double bb_rng_uniform(bb_rng *r) { return (double)(bb_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t bb_rng_below(bb_rng *r, uint64_t n)
{
    /* rejection keeps it unbiased: draw until below the largest multiple of n */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = bb_rng_u64(r); while (x >= limit);
    return x % n;
}

double bb_rng_normal(bb_rng *r)
{
    double u1 = bb_rng_uniform(r), u2 = bb_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
