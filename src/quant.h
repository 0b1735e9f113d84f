/* quant.h - every GGUF tensor type and block format, the single source of
 * truth. Nothing else in strata (C or CUDA) redefines these layouts.
 *
 * A quantized row of n elements is n / blck_size blocks laid end to end.
 * Layouts follow the GGML definitions (ggml-common.h); sizes are asserted. */
#ifndef STRATA_QUANT_H
#define STRATA_QUANT_H

#include <stdint.h>
#include <stddef.h>

/* The block structs are shared with CUDA C++ (kernels/, gen/). */
#ifdef __cplusplus
#define QUANT_STATIC_ASSERT(c, m) static_assert(c, m)
extern "C" {
#else
#define QUANT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* GGML type ids as stored in GGUF tensor infos (the numbering has holes:
 * ids 4, 5 and 31..33, 36..38 were removed from the format). */
enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40 /* one past the largest id */
};

/* What the format says about a type; name is NULL for unassigned ids. */
struct ggml_type_info {
    const char *name;    /* "Q4_K", as llama.cpp prints it */
    uint32_t blck_size;  /* elements per block (1 for plain types) */
    uint32_t type_size;  /* bytes per block */
    int supported;       /* 1 if strata can compute with it */
};

/* Returns the info for a type id, or NULL when the id is not a GGML type. */
const struct ggml_type_info *ggml_type_get(uint32_t type);

/* Name of a type id ("Q4_K"), "unknown" when the id is not assigned. */
const char *ggml_type_name(uint32_t type);

/* Bytes of a row of n elements; 0 when n is not a multiple of the block
 * size or the type is unknown. */
size_t ggml_row_size(uint32_t type, uint64_t n);

/* Looks a type up by its name (case-insensitive "q4_k" or "Q4_K");
 * returns -1 when no type has that name. */
int ggml_type_from_name(const char *name);

/* ---- block formats -------------------------------------------------- */

typedef uint16_t ggml_half; /* IEEE binary16 bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* x = d * (q - 8), q in 0..15; qs[j] holds element j (low nibble) and
 * element j + 16 (high nibble). */
typedef struct {
    ggml_half d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
QUANT_STATIC_ASSERT(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* x = d * q + m, q in 0..15, nibbles as in q4_0. */
typedef struct {
    ggml_half d;
    ggml_half m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
QUANT_STATIC_ASSERT(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* x = d * (q - 16), q = nibble | (bit j of qh) << 4 (qh little-endian u32;
 * bit j is element j, bit j + 16 is element j + 16). */
typedef struct {
    ggml_half d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
QUANT_STATIC_ASSERT(sizeof(block_q5_0) == 22, "block_q5_0 size");

/* x = d * q + m, q 5-bit as in q5_0. */
typedef struct {
    ggml_half d;
    ggml_half m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
QUANT_STATIC_ASSERT(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* x = d * q, q int8. */
typedef struct {
    ggml_half d;
    int8_t qs[QK8_0];
} block_q8_0;
QUANT_STATIC_ASSERT(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* Q8_1 (activation format of llama.cpp): s = d * sum(qs). */
typedef struct {
    ggml_half d;
    ggml_half s;
    int8_t qs[QK8_0];
} block_q8_1;
QUANT_STATIC_ASSERT(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* 2-bit super-block: 16 sub-blocks of 16; scales[i] low nibble = scale,
 * high nibble = min; x = d * sc * q - dmin * m. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    ggml_half d;
    ggml_half dmin;
} block_q2_K;
QUANT_STATIC_ASSERT(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 3-bit super-block: low 2 bits in qs, high bit in hmask (set = +0, clear =
 * -4), 16 6-bit signed scales packed in 12 bytes (offset 32). */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    ggml_half d;
} block_q3_K;
QUANT_STATIC_ASSERT(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 4-bit super-block: 8 sub-blocks of 32, 6-bit scale and min each packed
 * in 12 bytes; x = d * sc * q - dmin * m. */
typedef struct {
    ggml_half d;
    ggml_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
QUANT_STATIC_ASSERT(sizeof(block_q4_K) == 144, "block_q4_K size");

/* 5-bit super-block: as q4_K plus one high bit per element in qh. */
typedef struct {
    ggml_half d;
    ggml_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
QUANT_STATIC_ASSERT(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 6-bit super-block: low 4 bits in ql, high 2 in qh, 16 int8 scales;
 * x = d * sc * (q - 32). */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    ggml_half d;
} block_q6_K;
QUANT_STATIC_ASSERT(sizeof(block_q6_K) == 210, "block_q6_K size");

/* 8-bit super-block (activation format for k-quant dot products). */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
QUANT_STATIC_ASSERT(sizeof(block_q8_K) == 292, "block_q8_K size");

/* Byte offsets of a block's f16 scale fields (d, and m or dmin where the
 * format has one) in off[0..2); returns their count, 0 for a type without
 * f16 scales. Tests that fill blocks with random bytes keep these finite. */
int ggml_f16_fields(uint32_t type, int off[2]);

#ifdef __cplusplus
}
#endif

#endif
