// rng.h — counter-based random numbers.
//
// Every random draw of a decoding rule is a pure function of (seed, step, position, token), so the
// CPU and CUDA backends draw identical Gumbel noise, and a session restored at step n continues
// bit for bit: its whole random state is the seed and the step counter.
#ifndef DLM_RNG_H
#define DLM_RNG_H

#include <stdint.h>

#include "hostdev.h" // the CUDA backend draws its Gumbel noise on the GPU through these very functions

static inline DLM_HOSTDEV uint64_t dlm_rng_mix(uint64_t x) {
    // splitmix64 finaliser: a bijection with good avalanche
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline DLM_HOSTDEV uint64_t dlm_rng_bits(uint64_t seed, uint64_t counter, uint64_t a, uint64_t b) {
    return dlm_rng_mix(dlm_rng_mix(dlm_rng_mix(seed ^ dlm_rng_mix(counter)) ^ a) ^ (b * 0xd1342543de82ef95ULL));
}

// Uniform double in the open interval (0, 1).
static inline DLM_HOSTDEV double dlm_rng_uniform(uint64_t seed, uint64_t counter, uint64_t a, uint64_t b) {
    return ((double)(dlm_rng_bits(seed, counter, a, b) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

#endif
