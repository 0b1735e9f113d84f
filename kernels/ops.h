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

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], n floats; w is F32. */
void ops_rmsnorm(float *y, const float *x, const float *w, int n, float eps,
                 cudaStream_t s);

/* x[i] += y[i] (the residual connection). */
void ops_add(float *x, const float *y, int n, cudaStream_t s);

/* x[i] += b[i] for n floats (Q/K/V biases of qwen2). */
void ops_add_bias(float *x, const float *b, int n, cudaStream_t s);

/* g[i] = silu(g[i]) * u[i]: SwiGLU's gate. */
void ops_swiglu(float *g, const float *u, int n, cudaStream_t s);

struct ops_rope_params {
    int n_heads, n_kv_heads, head_dim;
    int rope_dim;          /* rotated dims per head (<= head_dim) */
    int neox;              /* 0: pairs (2i, 2i+1) (llama); 1: (i, i + rope_dim/2) (qwen2) */
    float theta;           /* base frequency */
    float pos_scale;       /* linear rope scaling: position multiplier (1 = none) */
    const float *freq_factors; /* rope_dim/2 divisors (llama3), or NULL */
};

/* Rotates q (n_heads x head_dim) and k (n_kv_heads x head_dim) in place for
 * the position *pos, then stores k and v (n_kv_heads x head_dim) as F16
 * into the layer's caches at that position. Cache layout, shared with the
 * CPU engine: [kv_head][ctx][head_dim] per layer. */
void ops_rope_store_kv(float *q, float *k, const float *v,
                       uint16_t *k_cache, uint16_t *v_cache, int n_ctx,
                       const uint32_t *pos, const struct ops_rope_params *p,
                       cudaStream_t s);

/* Decode attention (flash-decoding): out[h] = softmax(q[h] . K[0..pos] /
 * sqrt(head_dim)) V[0..pos], for the query heads h of each KV head, split
 * over the sequence in chunks of `chunk` positions so one token fills the
 * GPU at long context. part_* are scratch of n_heads * max_splits
 * (m, l) and n_heads * max_splits * head_dim floats; max_splits =
 * ceil(n_ctx / chunk). */
void ops_attention(float *out, const float *q, const uint16_t *k_cache,
                   const uint16_t *v_cache, int n_ctx, const uint32_t *pos,
                   int n_heads, int n_kv_heads, int head_dim, int chunk,
                   float *part_ml, float *part_acc, cudaStream_t s);

/* Index of the largest of n floats (the first one on ties), written to
 * *out. NaN never wins. */
void ops_argmax(int32_t *out, const float *x, int n, cudaStream_t s);

/* y (rows,) = W (rows, cols) x, W f32 row-major, any shape: the fallback
 * for matrices whose row length the generated GEMVs do not take. */
void ops_gemv_f32_any(float *y, const float *w, const float *x, int rows,
                      int cols, cudaStream_t s);

/* Scratch floats ops_attention needs for a context of n_ctx. */
size_t ops_attention_scratch_floats(int n_heads, int head_dim, int n_ctx,
                                    int chunk);

#ifdef __cplusplus
}
#endif

#endif
