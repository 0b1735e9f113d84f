/* ops.h - the CUDA decode ops other than the weight GEMVs (those are
 * generated per shape: gen/gemv_*.cu.m4). Each has its CPU reference in
 * src/cpu/ops.c and a test in tests/gpu/test_ops.cu.
 *
 * Everything is launched on the caller's stream and reads run-time values
 * that change per token (the position, the token id) from DEVICE memory,
 * so one captured CUDA graph replays every token unchanged. */
#ifndef STRATA_KERNELS_OPS_H
#define STRATA_KERNELS_OPS_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "gemv.h"
#include "gpu_work.h"

#ifdef __cplusplus
extern "C" {
#endif

/* g[i] = silu(g[i]) * u[i]: SwiGLU's gate, where gate and up are not one
 * paired GEMV (kernels/gemv.h). */
void ops_swiglu(float *g, const float *u, int n, cudaStream_t s);

struct ops_rope_params {
    int n_heads, n_kv_heads, head_dim;
    int rope_dim;          /* rotated dims per head (<= head_dim) */
    int neox;              /* 0: pairs (2i, 2i+1) (llama); 1: (i, i + rope_dim/2) (qwen2) */
    float theta;           /* base frequency */
    float pos_scale;       /* linear rope scaling: position multiplier (1 = none) */
    const float *freq_factors; /* rope_dim/2 divisors (llama3), or NULL */
    /* ops_attention reads the angles from a table instead: n_ctx rows of
     * rope_dim floats, row pos = op_rope_table(pos) (src/cpu/ops.c: cos,
     * sin per pair, computed in double on the host at start-up), device
     * memory; the CPU engine computes the same floats per token */
    const float *cs_table;
};

/* Decode attention for the token at position *pos, one launch: rotates q
 * (n_heads x head_dim) and k (n_kv_heads x head_dim) for *pos, stores k
 * and v as F16 into the layer's caches at *pos (layout, shared with the CPU
 * engine: [kv_head][n_ctx][head_dim]), and writes out[h] = softmax(q[h] .
 * K[0..pos] / sqrt(head_dim)) V[0..pos] for every query head h. Split over
 * the sequence (flash-decoding) into at most max_splits splits
 * (gpu_work_attn_splits) so one token fills the GPU at long context; the
 * splits of a KV head are merged by the last of its blocks to finish.
 * The angles come from p->cs_table (required). scratch:
 * gpu_work_attn_scratch_floats floats; counts: n_kv_heads
 * unsigned, zero before the first call (the kernel leaves them zero).
 * q, k, v are not modified. head_dim must be a multiple of 8, at most 512;
 * query heads per KV head at most 16. Returns 0, or -1 when the shape is
 * out of range or the shared-memory limit could not be raised. pdl: launch
 * with programmatic dependent launch (sm_90): it starts while the kernel
 * before it (the one that wrote q, k, v) finishes, and waits for it before
 * touching anything but *pos (which must have been written before that
 * kernel started) and the cache rows below *pos - tok, which it stages in
 * shared memory meanwhile: tok is the token's index in its step, whose
 * earlier tokens' rows (the *pos - tok before it) may still be being
 * written before the wait. */
int ops_attention(float *out, const float *q, const float *k, const float *v,
                  uint16_t *k_cache, uint16_t *v_cache, int n_ctx, const uint32_t *pos, int tok,
                  const struct ops_rope_params *p, int max_splits, float *scratch,
                  unsigned *counts, int pdl, cudaStream_t s);

/* The kernel's shared memory (the split count and its scratch: gpu_work.h). */
size_t ops_attention_smem_bytes(const struct ops_rope_params *p, int n_ctx, int max_splits);

/* The k (1..OPS_TOPK_MAX, at most n) largest of n floats, best first:
 * value descending, index ascending on ties, NaN read as -inf (the
 * sampler's candidate order): val[i], id[i]. scratch:
 * ops_topk_scratch_bytes(n, OPS_TOPK_MAX) bytes of device memory covers
 * every k. Returns 0, or -1 for a k out of range or a shared-memory limit
 * that could not be raised. */
#define OPS_TOPK_MAX GPU_WORK_TOPK_MAX
int ops_topk(float *val, int32_t *id, const float *x, int n, int k, void *scratch,
             cudaStream_t s);
size_t ops_topk_scratch_bytes(int n, int k);

/* y (rows,) = W (rows, cols) x, W f32 row-major, any shape, with the GEMV
 * epilogue (kernels/gemv.h: pair, epi): the fallback for matrices whose row
 * length the generated GEMVs do not take. ops_gemv_f32_any_blocks: its grid
 * (the partial sums of epi->sq_part). */
void ops_gemv_f32_any(float *y, const float *w, const float *x, int rows, int cols,
                      int pair, const struct gemv_epi *epi, cudaStream_t s);
uint32_t ops_gemv_f32_any_blocks(int rows, int pair);

/* Per row r of n floats (n_rows rows): xg = h * g and sq[r * sq_stride] =
 * the sum of h^2, the input and the norm's sum of squares of a GEMV that
 * has the RMSNorm folded in (gemv_epi.rs_part, rs_n = 1), where no earlier
 * epilogue made them. */
void ops_rms_prep(float *xg, float *sq, int sq_stride, const float *h, const float *g, int n,
                  int n_rows, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
