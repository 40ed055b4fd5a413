/* rng.c - xoshiro256** seeded through splitmix64 (see rng.h). */
#include "persona/rng.h"

#include <math.h>

uint64_t ps_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void ps_rng_seed(struct ps_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ ps_mix64(stream + 0x632BE59BD9B4E019ULL);
    for (int i = 0; i < 4; i++) {
        x += 0x9E3779B97F4A7C15ULL;
        r->s[i] = ps_mix64(x);
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ps_rng_u64(struct ps_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ps_rng_uniform(struct ps_rng *r)
{
    return (double)(ps_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t ps_rng_below(struct ps_rng *r, uint64_t n)
{
    /* Rejection on the top of the range removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = ps_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double ps_rng_normal(struct ps_rng *r)
{
    double u1, u2;
    do
        u1 = ps_rng_uniform(r);
    while (u1 <= 0.0);
    u2 = ps_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double ps_rng_gamma(struct ps_rng *r, double shape)
{
    if (shape < 1.0) {
        /* Boost: Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u;
        do
            u = ps_rng_uniform(r);
        while (u <= 0.0);
        return ps_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v, u;
        do {
            x = ps_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        u = ps_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}
