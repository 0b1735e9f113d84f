/* prefill.h - the CPU engine's batched forward: a chunk of prompt tokens
 * through every layer at once (engine_forward_batch, engine.h).
 *
 * Decode reads every weight once per token; prefill reads it once per
 * chunk of up to PREFILL_MAX_TOKENS tokens: each weight row is dequantized
 * 256 elements at a time and that piece is dotted with the B activation
 * vectors while it is in L1. Attention is causal inside the chunk, over the
 * engine's F16 KV cache, which the chunk's K and V are written into exactly
 * as the single-token path writes them.
 *
 * Every number is computed with the operations, in the order, of the
 * single-token path (engine_cpu.c): the dot of a row with one token's
 * activations follows dequant_dot's lane order (dequant.h), the norms,
 * rope angles and attention are the same ops on the same inputs. So the
 * logits of a prefill are bit-identical to those of feeding the tokens one
 * at a time (tests/test_prefill.c asserts it), for any thread count.
 *
 * All state is sized once by prefill_init for PREFILL_MAX_TOKENS tokens;
 * prefill_forward allocates nothing. */
#ifndef STRATA_CPU_PREFILL_H
#define STRATA_CPU_PREFILL_H

#include <stdint.h>

#include "error.h"
#include "plan.h"

struct llm_model;
struct mv_pool;

/* Tokens per pass over the weights: the plan's prefill batch (activations
 * for this many tokens are what the plan sizes). Longer prompts run chunk
 * after chunk. */
#define PREFILL_MAX_TOKENS PLAN_PREFILL_TOKENS

struct prefill;

/* The engine's state the batched path shares: its thread pool and its KV
 * cache, F16, layout [layer][kv_head][pos][head_dim] (n_ctx positions). */
struct prefill *prefill_init(const struct llm_model *m, uint32_t n_ctx,
                             struct mv_pool *pool, uint16_t *k_cache,
                             uint16_t *v_cache, struct st_err *err);
void prefill_free(struct prefill *p);

/* Streamed layers reach the chunk through the engine's slots (one acquire
 * per layer and chunk: a streamed layer moves once per chunk, as on the
 * GPU). NULL: every layer read in place. */
struct stream_cpu;
void prefill_set_stream(struct prefill *p, struct stream_cpu *s);

/* Runs tokens[0..n) at positions pos0..pos0+n-1 (the cache must hold
 * positions 0..pos0-1 already) and returns the last token's logits
 * (n_vocab floats). logits_out NULL: only the last token's logits are
 * computed, into a buffer of the prefill valid until the next call;
 * otherwise logits_out (n, n_vocab) gets every token's and the return
 * value points at its last row. NULL with err filled on a bad token, n == 0
 * or pos0 + n past the context. */
const float *prefill_forward(struct prefill *p, const int32_t *tokens, uint32_t n,
                             uint32_t pos0, float *logits_out, struct st_err *err);

#endif
