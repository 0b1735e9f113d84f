/* prefill.h - the building blocks of prompt prefill on tensor cores: a
 * chunk of up to 512 tokens goes through a layer at once, so the weight
 * products are GEMMs (n_tok x cols) . (rows x cols)^T instead of GEMVs.
 *
 * Per layer and chunk (n_tok tokens, f32 activations, row t = token t):
 *   rmsnorm_f16 -> gemm [q|k|v] (+ add_bias_rows) -> rope_store -> attention
 *   -> to_f16 -> gemm o -> add (residual) -> rmsnorm_f16 -> gemm [gate|up]
 *   -> swiglu_f16 -> gemm down -> add
 * The quantized weights are expanded to f16 once per chunk by
 * prefill_dequant_f16 (into a scratch matrix the caller reuses), then
 * multiplied by cuBLAS with f32 accumulation.
 *
 * Everything is launched on the caller's stream, reads positions from
 * DEVICE memory (one captured graph serves every chunk of a size) and
 * allocates nothing: every buffer comes from the caller's arena. Device
 * pointers must be 16-byte aligned. f16 data is passed as uint16_t
 * (binary16 bits), as in ops.h. Each kernel has a CPU reference and a test
 * in tests/gpu/test_prefill.cu. */
#ifndef STRATA_KERNELS_PREFILL_H
#define STRATA_KERNELS_PREFILL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu_work.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tokens per chunk the kernels are sized and tested for (any n_tok works)
 * and cuBLAS's workspace, 256-byte aligned in the arena: gpu_work.h. */
#define PREFILL_MAX_CHUNK GPU_WORK_CHUNK
#define PREFILL_GEMM_WORKSPACE_BYTES ((size_t)GPU_WORK_GEMM_WORKSPACE)

/* out (rows, cols) f16 row-major = the GGUF matrix w (rows rows of
 * ggml_row_size(type, cols) bytes, laid end to end) dequantized: each value
 * in f32 exactly as src/dequant.c computes it, then rounded to nearest even
 * (so out is bit-identical to f32_to_f16(dequant_row(...))). Types F32,
 * F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K; cols a multiple of
 * the block size. w needs only 16-byte alignment. Returns -1 (launching
 * nothing) for another type or a cols that is not a multiple of the block,
 * else 0. */
int prefill_dequant_f16(uint32_t ggml_type, uint32_t rows, uint32_t cols, const void *w,
                        uint16_t *out, cudaStream_t s);

/* The same computation on the CPU, block by block and thread by thread as
 * the kernel does it (tests/gpu/test_prefill.cu --emulate, no GPU needed). */
int prefill_dequant_f16_emulate(uint32_t ggml_type, uint32_t rows, uint32_t cols,
                                const void *w, uint16_t *out);

/* Creates the cuBLAS handle for prefill_gemm, bound to stream s and to the
 * caller's workspace (PREFILL_GEMM_WORKSPACE_BYTES), so no call allocates.
 * Returns 0 or the cublasStatus_t of the failing call. */
int prefill_gemm_init(cublasHandle_t *h, void *workspace, size_t ws_bytes, cudaStream_t s);
void prefill_gemm_free(cublasHandle_t h);

/* y (n_tok, rows) f32 = x (n_tok, cols) f16 . w (rows, cols)^T f16, all
 * row-major: cublasGemmEx, f32 accumulation (CUBLAS_COMPUTE_32F) on tensor
 * cores. s must be the stream given to prefill_gemm_init (cublasSetStream
 * would drop the workspace): another stream returns -1. Returns 0 or the
 * cublasStatus_t. */
int prefill_gemm(cublasHandle_t h, int n_tok, int rows, int cols, const uint16_t *w_f16,
                 const uint16_t *x_f16, float *y, cudaStream_t s);

/* y (n_tok, n) f16 = x / sqrt(mean(x^2) + eps) * w per row of x (n_tok, n)
 * f32; w (n,) f32. Sum of squares in double, as op_rmsnorm. */
void prefill_rmsnorm_f16(uint16_t *y_f16, const float *x, const float *w, int n_tok, int n,
                         float eps, cudaStream_t s);

/* y (n,) f16 = x (n,) f32, rounded to nearest even. */
void prefill_to_f16(uint16_t *y, const float *x, size_t n, cudaStream_t s);

/* out (n_tok, n_ff) f16 = silu(gate) * up, where gate row t is at
 * gate + t * ld and up row t at up + t * ld (f32). A fused [gate|up] GEMM
 * output y (n_tok, 2 n_ff) is gate = y, up = y + n_ff, ld = 2 n_ff. */
void prefill_swiglu_f16(uint16_t *out, const float *gate, const float *up, int n_tok, int n_ff,
                        int ld, cudaStream_t s);

/* x (n,) += y (n,): the residual. */
void prefill_add(float *x, const float *y, size_t n, cudaStream_t s);

/* y[t * ld + i] += b[i] for t < n_tok, i < n: a bias on n columns of a
 * strided matrix (qwen2's q, k, v biases on the fused qkv output). */
void prefill_add_bias_rows(float *y, const float *b, int n_tok, int n, int ld, cudaStream_t s);

/* qkv (n_tok, ld) f32: row t holds q (n_heads * head_dim), then k, then v
 * (n_kv_heads * head_dim each). Rotates the first rope_dim dims of each q
 * and k head of token t in place for position pos[t] (pos: n_tok positions
 * in device memory), then stores k and v as f16 into the caches at that
 * position (layout [kv_head][n_ctx][head_dim], as ops.h). The angles come
 * from p->cs_table as in ops_attention (then everything is bit-identical
 * to op_rope and op_store_f16), or, when it is NULL, are computed on the
 * device in double from theta, pos_scale and freq_factors. */
void prefill_rope_store(float *qkv, int ld, int n_tok, const uint32_t *pos,
                        const struct ops_rope_params *p, uint16_t *k_cache, uint16_t *v_cache,
                        int n_ctx, cudaStream_t s);

/* 1: prefill_attention splits q and the probabilities into two f16 terms
 * each (2x the tensor-core work), so its result matches an f32 attention
 * (rel. L2 ~1e-6); 0: plain f16 operands, ~2.5e-4 against f32 (measured in
 * the emulation of the kernel), the precision of usual flash attention. */
#ifndef PREFILL_ATTN_SPLIT
#define PREFILL_ATTN_SPLIT 1
#endif

/* Causal attention of a chunk: out (n_tok, n_heads * hd) f32, row t =
 * softmax(q_t,h . K[0..pos[t]] / sqrt(hd)) V[0..pos[t]] for each head h,
 * over the cache of KV head h / (n_heads / n_kv_heads) (which must already
 * hold the chunk's own k and v: prefill_rope_store). q is read from qkv as
 * prefill_rope_store lays it out. Positions need not start at 0 (a chunk
 * after earlier context); every pos[t] < n_ctx. Tensor cores (f16 inputs,
 * f32 accumulation, with q and the probabilities split into two f16 terms
 * so the result matches f32) for hd a multiple of 16 up to 256; a plain f32
 * kernel for other hd. Returns -1 (launching nothing) for hd > 256, more
 * than 64 query heads per KV head or n_heads not a multiple of n_kv_heads,
 * else 0. No scratch. */
int prefill_attention(float *out, const float *qkv, int ld, int n_tok, const uint32_t *pos,
                      const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx, int n_heads,
                      int n_kv_heads, int hd, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
