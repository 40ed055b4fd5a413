/*
 * rng.h - seeded pseudo-random numbers (xoshiro256** seeded by splitmix64).
 *
 * Every random step in persona takes a seed (default 42); the same seed
 * gives the same stream on every platform.  A struct ps_rng is plain data:
 * copy it to fork a stream, or use ps_rng_seed(&r, seed, stream) to derive
 * independent per-thread streams.
 */
#ifndef PERSONA_RNG_H
#define PERSONA_RNG_H

#include <stdint.h>

struct ps_rng {
    uint64_t s[4];
};

/* splitmix64 mixing function, also used by the LM sampler. */
uint64_t ps_mix64(uint64_t x);

/* Seeds from (seed, stream): different streams are independent. */
void ps_rng_seed(struct ps_rng *r, uint64_t seed, uint64_t stream);
uint64_t ps_rng_u64(struct ps_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double ps_rng_uniform(struct ps_rng *r);
/* Uniform integer in [0, n), unbiased.  n must be > 0. */
uint64_t ps_rng_below(struct ps_rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached second value). */
double ps_rng_normal(struct ps_rng *r);
/* Gamma(shape, 1) (Marsaglia-Tsang), shape > 0. */
double ps_rng_gamma(struct ps_rng *r, double shape);

#endif
