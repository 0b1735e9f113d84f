/* perplexity.h - perplexity of a model over a text, as llama.cpp's
 * llama-perplexity defines it (so the numbers compare with its):
 *
 *   - the whole text is tokenized once, BOS first when the model adds one;
 *   - it is cut into n_chunks = n_tokens / n_ctx chunks of n_ctx tokens
 *     (the tail is dropped; --chunks N takes the first N), and at least
 *     2 * n_ctx tokens are required;
 *   - each chunk runs from an empty KV cache (positions 0..n_ctx-1) with
 *     its first token replaced by BOS when the model adds one;
 *   - only the second half is scored: the logits at positions
 *     first = n_ctx / 2 .. n_ctx - 2 predict the tokens after them, so a
 *     chunk scores n_ctx - 1 - first tokens, each with at least first
 *     tokens of context;
 *   - nll = -log softmax(logits)[next] (max-subtracted, the sum in double);
 *     PPL = exp(mean nll); the "+/-" is PPL * sqrt(var(nll) / (count - 1))
 *     with var = mean(nll^2) - mean(nll)^2 (llama.cpp's, a first-order
 *     error of the exponential).
 *
 * The forward pass is a callback (engine_forward_batch in the program, a
 * table of made-up logits in the tests). Nothing here prints: the running
 * estimate after each chunk goes to a callback. */
#ifndef STRATA_PERPLEXITY_H
#define STRATA_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Running sums over scored tokens. */
struct ppl_stats {
    double nll;     /* sum of -log p */
    double nll2;    /* sum of (-log p)^2 */
    uint64_t count; /* tokens scored */
};

/* -log softmax(logits)[target] over n_vocab logits, as llama.cpp's
 * log_softmax: the max in float, sum of expf(l - max) in double. */
double ppl_token_nll(const float *logits, uint32_t n_vocab, int32_t target);

void ppl_stats_add(struct ppl_stats *s, double nll);
double ppl_stats_ppl(const struct ppl_stats *s); /* exp(mean nll); NAN when empty */
/* llama.cpp's +/- (see above); NAN with fewer than 2 tokens or var <= 0. */
double ppl_stats_err(const struct ppl_stats *s);

/* A batched forward: tokens[0..n) at positions pos0.. of a cache that holds
 * 0..pos0-1; logits_out (n, n_vocab) gets every token's logits, or is NULL
 * when none are needed. Returns NULL with err filled on failure. */
typedef const float *(*ppl_forward_fn)(void *ctx, const int32_t *tokens, uint32_t n,
                                       uint32_t pos0, float *logits_out,
                                       struct st_err *err);

struct ppl_params {
    uint32_t n_ctx;    /* tokens per chunk (>= 4) */
    int32_t n_chunks;  /* chunks to run; < 0: all that fit */
    int32_t bos;       /* the first token of every chunk becomes this; -1: kept */
    uint32_t n_vocab;
    uint32_t n_batch;  /* tokens per forward call: rows of the logits buffer */
};

/* Called after each chunk with its 1-based index and the running PPL. */
typedef void (*ppl_chunk_fn)(void *ctx, uint32_t chunk, double ppl);

struct ppl_result {
    double ppl, err;    /* the final estimate and its +/- */
    uint64_t count;     /* tokens scored */
    uint32_t n_chunks;  /* chunks run */
};

/* The number of chunks ppl_run will evaluate for n_tokens, or 0 with err
 * filled when the text is too short (fewer than 2 * n_ctx tokens) or the
 * parameters are unusable. */
uint32_t ppl_chunks(const struct ppl_params *pp, size_t n_tokens, struct st_err *err);

/* Runs the evaluation. Scratch comes from the caller (nothing is allocated):
 * logits (n_batch, n_vocab) floats and tok (n_batch) ids. Returns 0, or -1
 * with err filled (a short text, or the forward's error). */
int ppl_run(const struct ppl_params *pp, ppl_forward_fn fwd, void *fwd_ctx,
            const int32_t *tokens, size_t n_tokens, float *logits, int32_t *tok,
            ppl_chunk_fn on_chunk, void *cb_ctx, struct ppl_result *res,
            struct st_err *err);

#endif
