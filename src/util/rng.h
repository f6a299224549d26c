/* Counter-based randomness: every random number is a pure function of a key
 * built from (seed, purpose, a, b) and a counter, so a sample is augmented and a
 * weight initialised identically whichever thread or process computes it. There
 * is no global generator state anywhere in bigbatch. */
#ifndef BB_UTIL_RNG_H
#define BB_UTIL_RNG_H

#include <stdint.h>

/* Purposes keep streams for different uses independent. */
enum { BB_RNG_INIT = 1, BB_RNG_SHUFFLE, BB_RNG_AUGMENT, BB_RNG_SYNTH, BB_RNG_TEST, BB_RNG_NOISE };

typedef struct { uint64_t key, ctr; } bb_rng;

bb_rng bb_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
uint64_t bb_rng_u64(bb_rng *r);
uint32_t bb_rng_u32(bb_rng *r);
double bb_rng_uniform(bb_rng *r);              /* [0, 1) with 53 random bits */
uint64_t bb_rng_below(bb_rng *r, uint64_t n);  /* uniform in [0, n), unbiased */
double bb_rng_normal(bb_rng *r);               /* N(0, 1), Box-Muller */
uint64_t bb_mix64(uint64_t x);                 /* splitmix64 finaliser */

#endif
