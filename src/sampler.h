/* sampler.h - choosing the next token from the logits.
 *
 * The chain is llama.cpp's default order for the samplers strata has:
 *
 *   repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw
 *
 * so top-p and min-p see the distribution at temperature 1, and the
 * temperature only reshapes what survived. temp <= 0 is greedy: the
 * penalty is applied, then the largest logit wins (lowest id on a tie).
 *
 * Reproducibility: the same logits, parameters and seed give the same
 * tokens on every machine. That holds because
 *   - the PRNG is our own xoshiro256** seeded through splitmix64 (no libc
 *     rand), and a draw uses its top 53 bits as a double u in [0, 1);
 *   - exp is our own (sampler_exp: range reduction by ln 2 and a fixed
 *     polynomial in double, only + - * and ldexp, which IEEE 754 rounds
 *     exactly the same everywhere; fp contraction is off in sampler.c);
 *   - probabilities are summed in double, in candidate order, which is
 *     fixed: best-first (logit descending, id ascending on ties) once top-k
 *     or top-p sorted them, token id order otherwise;
 *   - NaN logits are read as -inf, so every comparison is a total order.
 * The one float operation on the logits themselves (the penalty and
 * logit / temp) is a single IEEE float division or multiplication.
 *
 * All buffers are allocated by sampler_init (n_vocab candidates, a stamp
 * per token, the penalty window); sampling allocates nothing. Candidate
 * selection with top-k is O(n_vocab log k) (a k-entry heap). top-p without
 * top-k selects growing best-first prefixes (k = 256, 8192, ...) until
 * their mass reaches top_p, so only a nearly flat distribution costs a
 * full O(n_vocab log n_vocab) sort. */
#ifndef STRATA_SAMPLER_H
#define STRATA_SAMPLER_H

#include <stdint.h>

#include "error.h"

/* Fixed default seed, so that two runs without --seed write the same text
 * (llama.cpp's default is a random seed; strata prefers reproducible). */
#define SAMPLER_DEFAULT_SEED 42u

struct sampler_params {
    float temp;            /* <= 0: greedy */
    int32_t top_k;         /* keep the k largest logits; <= 0: off */
    float top_p;           /* keep the smallest best-first prefix whose
                              probability reaches top_p; >= 1: off */
    float min_p;           /* keep p >= min_p * p_max; <= 0: off */
    float repeat_penalty;  /* logit > 0 ? logit / rp : logit * rp for every
                              distinct token in the window; 1: off */
    int32_t repeat_last_n; /* window length in tokens; 0: off */
    uint64_t seed;
};

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05,
 * repeat_penalty 1.0 (off), repeat_last_n 64; seed SAMPLER_DEFAULT_SEED. */
void sampler_params_default(struct sampler_params *p);

struct sampler_cand {
    float logit;
    int32_t id;
};

struct sampler; /* opaque */

/* Allocates every buffer for a vocabulary of n_vocab tokens. NULL with err
 * filled on out-of-range parameters or no memory. */
struct sampler *sampler_init(const struct sampler_params *p, int32_t n_vocab,
                             struct st_err *err);
void sampler_free(struct sampler *s);

/* Forgets the penalty window and restarts the PRNG from the seed. */
void sampler_reset(struct sampler *s);

/* Appends a token (prompt or generated) to the repetition window; the
 * oldest falls out once repeat_last_n are held. */
void sampler_accept(struct sampler *s, int32_t token);

/* Runs the chain up to (and including) the temperature and returns the
 * surviving candidates in *out (valid until the next call) with their final
 * logits; returns their count (>= 1). Greedy gives the single winner. */
int sampler_filter(struct sampler *s, const float *logits,
                   const struct sampler_cand **out);

/* The whole chain: filter, then draw one token from the softmax of the
 * survivors (greedy: the winner, without touching the PRNG). Does not
 * accept the token: call sampler_accept with it. */
int32_t sampler_sample(struct sampler *s, const float *logits);

/* The chain from fewer logits: a device can return just the best few.
 * sampler_candidates_needed: how many best raw logits the next draw needs
 * (top-k, 1 when greedy, plus the penalty window: a penalty above 1 only
 * lowers a logit, so a token of the penalized top k is among the raw top k + window);
 * 0 when it needs every one (temp > 0 with top-k off, or a penalty below
 * 1, which raises logits).
 * sampler_sample_top: sampler_sample from the n >= that many best logits
 * (best-first: logit descending, id ascending on ties, NaN as -inf), the
 * same token it would draw from all of them.
 * sampler_top_logits: the k (at most SAMPLER_TOP_MAX) best of n logits in
 * that order (the CPU engine's, and the tests' oracle for the device's). */
#define SAMPLER_TOP_MAX 256
int32_t sampler_candidates_needed(const struct sampler *s);
int32_t sampler_sample_top(struct sampler *s, const float *logit, const int32_t *id, int32_t n);
void sampler_top_logits(const float *logits, int32_t n, int32_t k, float *logit, int32_t *id);

/* exp(x) for x <= 0 (what softmax needs, after subtracting the max),
 * bit-identical on every IEEE machine; within 2 ulp of libm. */
double sampler_exp(double x);

#endif
