/* dequant.h - quantized rows to f32, and dot products on quantized rows.
 *
 * Types: every type with supported == 1 in quant.c (F32, F16, BF16, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). The values are
 * those of the GGML definitions (ggml-quants.c dequantize_row_*), computed
 * with the same float operations in the same order, so a dequantized row is
 * bit-identical to ggml's reference decoders.
 *
 * n is the number of elements and must be a multiple of the type's block
 * size (ggml_row_size(type, n) != 0); whole blocks only are read. For a
 * type strata cannot compute with, dst is filled with NaN and the dots
 * return NaN: callers refuse such types at load (by name), and a NaN never
 * passes a test.
 *
 * Accumulation order of dequant_dot (the GPU tests compare against it):
 *   - the row is cut into chunks of DEQUANT_CHUNK = 256 elements: one
 *     super-block (k-quants), 8 blocks of 32 (Q4_0..Q8_0), 256 plain
 *     elements (F32/F16/BF16); the last chunk may be shorter (a row of 96
 *     Q8_0 elements is one chunk of 96; a plain row's tail any length);
 *   - inside a chunk, element i is dequantized to float w_i (exactly the
 *     value dequant_row gives) and the product w_i * x_i (rounded to float,
 *     never fused) is added to lane i % 16 of 16 float lanes that start at
 *     0, in increasing i;
 *   - the 16 lanes are reduced as a tree: lane[k] += lane[k + 8] (k < 8),
 *     then + 4, + 2, + 1; lane[0] is the chunk sum;
 *   - the chunk sums are added left to right into a float that starts at 0.
 * The lanes exist so that the compiler vectorizes without reassociating;
 * the result does not depend on the vector width. */
#ifndef STRATA_DEQUANT_H
#define STRATA_DEQUANT_H

#include <stdint.h>

#ifdef __cplusplus /* the CUDA tests include it from C++ */
extern "C" {
#endif

#define DEQUANT_CHUNK 256 /* elements per accumulation chunk */
#define DEQUANT_LANES 16  /* float partial sums per chunk */

/* 1 when dequant_* handle this type id. */
int dequant_supported(uint32_t type);

/* src: ggml_row_size(type, n) bytes of one row -> dst: n floats. */
void dequant_row(uint32_t type, const void *src, float *dst, uint64_t n);

/* sum_i w_i * x_i for the row w (type, n elements) and x (n floats), in the
 * order described above. No f32 copy of the row is made (one chunk of 256
 * floats on the stack at a time). This is the CPU engine's matvec inner
 * loop. */
float dequant_dot(uint32_t type, const void *row, const float *x, uint64_t n);

/* Reference dot for the double-precision forward in tests: each element is
 * dequantized to float (as dequant_row does) and w_i * x_i is added in
 * double, left to right. */
double dequant_dot_f64(uint32_t type, const void *row, const double *x, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif
