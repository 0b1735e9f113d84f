/* quantize.h - reference quantizers, f32 -> GGML block formats.
 *
 * Simple and deterministic, not optimal: each block's scale comes from its
 * largest magnitude (or its min/max), values are rounded to nearest, and
 * k-quant sub-block scales are chosen the same way and then rounded to
 * their 4/6/8-bit codes. (ggml's iterative make_qx_quants search is not
 * done, so errors are somewhat larger than llama-quantize's.) Used by the
 * synthetic-model generator, by the GPU tests, and for re-quantizing
 * weights while streaming.
 *
 * Every stored scale is finite for finite input; an all-zero block gets
 * zero scales and decodes to zeros. */
#ifndef STRATA_QUANTIZE_H
#define STRATA_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

#ifdef __cplusplus /* the CUDA tests include it from C++ */
extern "C" {
#endif

/* 1 when quantize_row can write this type: F32, F16, BF16, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
int quantize_supported(uint32_t type);

/* src: n floats -> dst: ggml_row_size(type, n) bytes. Returns the bytes
 * written; 0 (and nothing written) when the type is not supported or n is
 * not a multiple of its block size. */
size_t quantize_row(uint32_t type, const float *src, void *dst, uint64_t n);

/* Compressed transfer (--stream-type): the type a matrix of row length
 * row_len and type `type` is stored as in the pinned host tier when the plan
 * streams it as stream_type (0: no stream type). It is re-quantized only
 * where that saves bytes (stream_type is smaller per element), the
 * quantizer can write stream_type, and the row holds whole blocks of it;
 * otherwise it keeps its type. The one rule the planner and every engine
 * apply. */
uint32_t quantize_stream_type(uint32_t type, uint64_t row_len, uint32_t stream_type);

/* Re-quantizes a (rows, row_len) matrix of type `from` into `to` through
 * f32, one row at a time; scratch holds row_len floats. */
void quantize_matrix(uint32_t from, const void *src, uint32_t to, void *dst,
                     uint64_t rows, uint64_t row_len, float *scratch);

/* int8 activations in llama.cpp's Q8_1 layout (n a multiple of 32): per
 * block d = amax / 127, qs = round(x / d), s = d * sum(qs) (d and s
 * stored as f16; qs computed with the unrounded d, as ggml does). */
void quantize_row_q8_1(const float *x, block_q8_1 *y, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif
