/* ops.h - the element-wise and attention ops of the CPU forward pass.
 *
 * Plain loops over f32 vectors; each is the reference its CUDA form is
 * tested against. None allocates. Shapes are given as (n,) for vectors and
 * (rows, cols) for row-major matrices. */
#ifndef STRATA_CPU_OPS_H
#define STRATA_CPU_OPS_H

#include <stdint.h>

#include "model.h"

/* out (n,) = x / rms(x) * w, rms(x) = sqrt(mean(x^2) + eps). The sum of
 * squares is accumulated in double, as ggml does. out may alias x. */
void op_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);

/* x (n,) += y (n,) */
void op_add(float *x, const float *y, uint32_t n);

/* x (n,) = softmax(x), max-subtracted; sums in double. */
void op_softmax(float *x, uint32_t n);

/* gate (n,) = silu(gate) * up, silu(g) = g / (1 + exp(-g)). */
void op_swiglu(float *gate, const float *up, uint32_t n);

/* The rotation angles of one position, shared by every head and layer:
 * cs (rope_dim/2, 2) holds cos, sin of theta_i for i < rope_dim/2, where
 *   theta_i = pos * freq_scale * theta^(-2i / rope_dim) / freq_factors[i]
 * (freq_factors NULL means all 1: llama3 scaling divides each frequency by
 * its factor, as ggml_rope_ext does with its third operand). Angles are
 * computed in double, so long positions lose no precision. */
void op_rope_table(float *cs, uint32_t pos, uint32_t rope_dim, float theta,
                   float freq_scale, const float *freq_factors);

/* Rotates the first rope_dim elements of each head of v (n_heads,
 * head_dim) by the angles in cs. ADJACENT rotates (2i, 2i+1); NEOX rotates
 * (i, i + rope_dim/2). Elements past rope_dim are left as they are. */
void op_rope(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim,
             enum llm_rope_style style, const float *cs);

/* One query head over its KV head's cache:
 *   att (n_pos,) = softmax(q . k_t / sqrt(head_dim)) for t < n_pos
 *   out (head_dim,) = sum_t att_t * v_t
 * k, v: (n_pos, head_dim) F16 rows, the cache of one KV head. */
void op_attention_head(float *out, float *att, const float *q,
                       const uint16_t *k, const uint16_t *v,
                       uint32_t n_pos, uint32_t head_dim);

/* dst (n,) F16 = round-to-nearest-even(src): how K and V enter the cache. */
void op_store_f16(uint16_t *dst, const float *src, uint32_t n);

#endif
