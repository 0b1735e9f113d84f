/* engine.h - what one forward pass looks like from the outside.
 *
 * One interface, two backends chosen at build time (DESIGN.md): the CPU
 * reference (src/cpu/) and, where the plan says so, CUDA. The caller feeds
 * one token at a position and gets the logits of the next one.
 * engine_init allocates everything; engine_forward allocates nothing. */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include <stdint.h>

#include "error.h"

struct llm_model;
struct engine; /* opaque, backend-specific */

struct engine_opts {
    uint32_t n_ctx;     /* KV cache length in tokens (0: the model's, capped at 4096) */
    int n_threads;      /* CPU threads (0: all cores) */
    /* The tier of each layer (enum plan_tier: 0 resident, 1 streamed from
     * pinned RAM, 2 read from disk) and the streaming pipeline depth, from
     * the built-in plan; NULL: every layer resident. */
    const uint8_t *layer_tier;
    uint32_t n_slots;
    uint32_t stream_type; /* --stream-type: tier-1 blocks re-quantized in the
                             host tier (quantize_stream_type); 0: none */
};

/* "cpu" or "cuda": the backend this binary was built with. */
const char *engine_backend(void);

/* 1 when the backend's device is present (always 1 for the CPU). */
int engine_device_available(void);

struct engine *engine_init(const struct llm_model *m,
                           const struct engine_opts *o, struct st_err *err);
void engine_free(struct engine *e);

/* Runs token at position pos (0-based; positions must be fed in order,
 * pos < n_ctx) and returns the logits (n_vocab floats, valid until the
 * next call). NULL with err filled on a position past the context. */
const float *engine_forward(struct engine *e, int32_t token, uint32_t pos,
                            struct st_err *err);

/* engine_forward, but only the k best logits come back (1 <= k <=
 * ENGINE_TOP_MAX), best-first: logit descending, id ascending on ties,
 * NaN read as -inf (sampler_sample_top's input). On the GPU they are
 * selected on the device, so the step copies 2 k numbers back instead of
 * the whole vocabulary. Returns 0, or -1 with err filled. */
#define ENGINE_TOP_MAX 256
int engine_forward_top(struct engine *e, int32_t token, uint32_t pos, uint32_t k,
                       float *logit, int32_t *id, struct st_err *err);

/* Prefill: runs tokens[0..n) at positions pos0..pos0+n-1 (positions before
 * pos0 already fed) with one pass of the weights per chunk of the plan's
 * prefill size (longer n run chunk after chunk), and returns the last
 * token's logits (n_vocab floats). logits_out NULL: only the last token's
 * logits are computed, valid until the next call; else logits_out (n,
 * n_vocab) receives every token's and the return value is its last row.
 * The KV cache ends as if the tokens had gone through engine_forward one by
 * one (on the CPU the logits are bit-identical). NULL with err filled on a
 * bad token, n == 0 or a position past the context. Allocates nothing. */
const float *engine_forward_batch(struct engine *e, const int32_t *tokens, uint32_t n,
                                  uint32_t pos0, float *logits_out, struct st_err *err);

/* Where the time of the streamed tiers went, totals since engine_init
 * (issue 6's timeline; --stats prints it per token). */
struct engine_timeline {
    double copy_s;            /* the link (CPU: the copy thread) busy moving
                                 streamed blocks into slots */
    double stall_s;           /* compute waiting for a streamed block */
    double read_s;            /* GPU engine: the reader thread reading tier
                                 C from disk (CPU: part of copy_s) */
    uint64_t bytes[3];        /* bytes moved into slots by tier: [1] pinned
                                 RAM, [2] disk; [0] unused */
    uint64_t streamed_layers; /* streamed blocks computed */
};
void engine_timeline(struct engine *e, struct engine_timeline *t);

/* Memory the engine holds: its device arena and its pinned (CPU: plain)
 * host block, bytes, as allocated at start-up; device_used is what the
 * device reports in use (cudaMemGetInfo: the arena plus the CUDA context),
 * 0 on the CPU. */
struct engine_memory {
    uint64_t device_arena, host_block, device_used;
};
void engine_memory(struct engine *e, struct engine_memory *m);

/* The context length the engine was sized for. */
uint32_t engine_n_ctx(const struct engine *e);

#endif
