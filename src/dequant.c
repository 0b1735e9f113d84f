/* dequant.c - quantized rows to f32 and dot products on quantized rows.
 *
 * One "chunk" decoder per type turns up to 256 consecutive elements of a
 * row into floats; dequant_row writes them to the caller's buffer and
 * dequant_dot multiplies them into 16 float lanes (see dequant.h for the
 * exact accumulation order). The decoders follow ggml's dequantize_row_*
 * operation for operation (same int -> float conversions, same products in
 * the same order), so every value is bit-identical to ggml's reference
 * decoders (built without FMA contraction, which can only change Q4_1/Q5_1's
 * q * d + m in the last bit).
 *
 * Speed: the decoders are plain loops over fixed-size arrays with uniform
 * masks and shifts (no per-element branches or calls), so -O2 vectorizes
 * them; per-lane masks (Q5_0/Q5_1's high bits) come from a constant table
 * because SSE2 has no per-lane variable shift. */
#include "dequant.h"

#include <math.h>
#include <string.h>

#include "half.h"
#include "quant.h"

#if defined(__clang__)
/* clang fuses a*b+c by default where the target has FMA; the accumulation
 * order promised in dequant.h has every product rounded. (GCC in -std=c11
 * mode already defaults to -ffp-contract=off.) */
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- plain types ------------------------------------------------------ */

/* binary16 -> binary32 in straight-line integer and float ops (selects and
 * branches do not vectorize at -O2): the exponent+mantissa bits moved to
 * the f32 place read as a float 2^-112 too small, so one exact multiply by
 * 2^112 rescales normals and subnormals alike; inf/NaN get their exponent
 * set by a mask. Exact for every input: the tests compare it with half.h's
 * f16_to_f32 on all 65536 values. */
static ALWAYS_INLINE float f16_to_f32_vec(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t em = (uint32_t)(h & 0x7fff) << 13;
    uint32_t is_infnan = 0u - (uint32_t)(em >= 0x0f800000u); /* all ones or 0 */
    float v = half_bits_to_f32(em) * 0x1p112f;
    uint32_t bits = half_f32_to_bits(v) | (is_infnan & 0x7f800000u);
    return half_bits_to_f32(bits | sign);
}

static ALWAYS_INLINE void chunk_f32(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    memcpy(w, src, (size_t)len * sizeof(float));
}

/* The loops over a whole chunk have a constant trip count: GCC 12's -O2
 * cost model vectorizes only those. */
static ALWAYS_INLINE void chunk_f16(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    uint16_t h[DEQUANT_CHUNK];
    if (len == DEQUANT_CHUNK) {
        memcpy(h, src, sizeof h);
        for (uint32_t i = 0; i < DEQUANT_CHUNK; i++)
            w[i] = f16_to_f32_vec(h[i]);
        return;
    }
    memcpy(h, src, (size_t)len * 2);
    for (uint32_t i = 0; i < len; i++)
        w[i] = f16_to_f32_vec(h[i]);
}

static ALWAYS_INLINE void chunk_bf16(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    uint16_t h[DEQUANT_CHUNK];
    if (len == DEQUANT_CHUNK) {
        memcpy(h, src, sizeof h);
        for (uint32_t i = 0; i < DEQUANT_CHUNK; i++)
            w[i] = half_bits_to_f32((uint32_t)h[i] << 16);
        return;
    }
    memcpy(h, src, (size_t)len * 2);
    for (uint32_t i = 0; i < len; i++)
        w[i] = half_bits_to_f32((uint32_t)h[i] << 16);
}

/* ---- blocks of 32 ------------------------------------------------------ */

/* bit j of a 32-bit word, as a per-lane constant */
static const uint32_t bit32[32] = {
    1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
    1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
    1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
    1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31,
};

static ALWAYS_INLINE uint32_t le32(const uint8_t b[4])
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* x = d * (q - 8) */
static ALWAYS_INLINE void chunk_q4_0(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q4_0 *b = (const block_q4_0 *)src;
    for (uint32_t ib = 0; ib < len / QK4_0; ib++, w += QK4_0) {
        float d = f16_to_f32(b[ib].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            w[j] = (float)((b[ib].qs[j] & 0x0f) - 8) * d;
            w[j + 16] = (float)((b[ib].qs[j] >> 4) - 8) * d;
        }
    }
}

/* x = q * d + m */
static ALWAYS_INLINE void chunk_q4_1(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q4_1 *b = (const block_q4_1 *)src;
    for (uint32_t ib = 0; ib < len / QK4_1; ib++, w += QK4_1) {
        float d = f16_to_f32(b[ib].d), m = f16_to_f32(b[ib].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            w[j] = (float)(b[ib].qs[j] & 0x0f) * d + m;
            w[j + 16] = (float)(b[ib].qs[j] >> 4) * d + m;
        }
    }
}

/* x = d * (q - 16), q = nibble | bit j of qh << 4 */
static ALWAYS_INLINE void chunk_q5_0(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q5_0 *b = (const block_q5_0 *)src;
    for (uint32_t ib = 0; ib < len / QK5_0; ib++, w += QK5_0) {
        float d = f16_to_f32(b[ib].d);
        uint32_t qh = le32(b[ib].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int h0 = (qh & bit32[j]) ? 16 : 0;
            int h1 = (qh & bit32[j + 16]) ? 16 : 0;
            w[j] = (float)(((b[ib].qs[j] & 0x0f) | h0) - 16) * d;
            w[j + 16] = (float)(((b[ib].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

/* x = q * d + m, q 5-bit as in q5_0 */
static ALWAYS_INLINE void chunk_q5_1(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q5_1 *b = (const block_q5_1 *)src;
    for (uint32_t ib = 0; ib < len / QK5_1; ib++, w += QK5_1) {
        float d = f16_to_f32(b[ib].d), m = f16_to_f32(b[ib].m);
        uint32_t qh = le32(b[ib].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int h0 = (qh & bit32[j]) ? 16 : 0;
            int h1 = (qh & bit32[j + 16]) ? 16 : 0;
            w[j] = (float)((b[ib].qs[j] & 0x0f) | h0) * d + m;
            w[j + 16] = (float)((b[ib].qs[j] >> 4) | h1) * d + m;
        }
    }
}

/* x = q * d */
static ALWAYS_INLINE void chunk_q8_0(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q8_0 *b = (const block_q8_0 *)src;
    for (uint32_t ib = 0; ib < len / QK8_0; ib++, w += QK8_0) {
        float d = f16_to_f32(b[ib].d);
        for (int j = 0; j < QK8_0; j++)
            w[j] = (float)b[ib].qs[j] * d;
    }
}

/* ---- k-quants: one super-block of 256 per chunk ------------------------
 * Element e of a Q2_K/Q3_K block: half h = e / 128, r = e % 128, shift
 * 2 * (r / 32), byte qs[32 h + r % 32]; sub-block (scale) e / 16. */

/* x = d * sc * q - dmin * m, 4-bit sc and m per 16 elements */
static ALWAYS_INLINE void chunk_q2_K(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q2_K *b = (const block_q2_K *)src;
    float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    for (int h = 0; h < 2; h++) {
        const uint8_t *q = b->qs + 32 * h;
        for (int j = 0; j < 4; j++) {
            int shift = 2 * j;
            for (int s = 0; s < 2; s++) { /* sub-blocks of 16 */
                uint8_t sc = b->scales[8 * h + 2 * j + s];
                float dl = d * (float)(sc & 0x0f), ml = dmin * (float)(sc >> 4);
                float *y = w + 128 * h + 32 * j + 16 * s;
                for (int l = 0; l < 16; l++)
                    y[l] = dl * (float)((q[16 * s + l] >> shift) & 3) - ml;
            }
        }
    }
}

/* 6-bit Q3_K scale i (0..15) from its 12 packed bytes, as stored (0..63):
 * low 4 bits in the low (i < 8) or high (i >= 8) nibble of byte i % 8,
 * high 2 bits in bits 2 (i / 4) of byte 8 + i % 4. */
static ALWAYS_INLINE int q3_K_scale(const uint8_t *p, int i)
{
    int lo = i < 8 ? p[i] & 0x0f : p[i - 8] >> 4;
    int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
    return lo | hi << 4;
}

/* x = d * (sc - 32) * (q - 4 * !hbit) */
static ALWAYS_INLINE void chunk_q3_K(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q3_K *b = (const block_q3_K *)src;
    float d = f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *q = b->qs + 32 * h;
        for (int j = 0; j < 4; j++) {
            int shift = 2 * j;
            uint8_t m = (uint8_t)(1u << (4 * h + j));
            for (int s = 0; s < 2; s++) {
                float dl = d * (float)(q3_K_scale(b->scales, 8 * h + 2 * j + s) - 32);
                const uint8_t *hm = b->hmask + 16 * s;
                float *y = w + 128 * h + 32 * j + 16 * s;
                for (int l = 0; l < 16; l++)
                    y[l] = dl * (float)(((q[16 * s + l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            }
        }
    }
}

/* 6-bit scale and min of sub-block j (0..7) of Q4_K/Q5_K: j < 4 in the low
 * 6 bits of bytes j and j + 4; j >= 4 low 4 bits in byte j + 4 (scale low
 * nibble, min high nibble) and high 2 bits in the top bits of bytes j - 4
 * (scale) and j (min). */
static ALWAYS_INLINE void k4_scale_min(const uint8_t *p, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = p[j] & 63;
        *m = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0f) | (p[j - 4] >> 6) << 4;
        *m = (p[j + 4] >> 4) | (p[j] >> 6) << 4;
    }
}

/* x = d * sc * q - dmin * m, 8 sub-blocks of 32; sub-blocks 2g and 2g+1
 * are the low and high nibbles of qs[32 g .. 32 g + 31] */
static ALWAYS_INLINE void chunk_q4_K(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q4_K *b = (const block_q4_K *)src;
    float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    for (int g = 0; g < 4; g++) {
        int sc0, m0, sc1, m1;
        k4_scale_min(b->scales, 2 * g, &sc0, &m0);
        k4_scale_min(b->scales, 2 * g + 1, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        const uint8_t *q = b->qs + 32 * g;
        float *y = w + 64 * g;
        for (int l = 0; l < 32; l++) {
            y[l] = d0 * (float)(q[l] & 0x0f) - mm0;
            y[l + 32] = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

/* as q4_K, plus 16 for element 64 g + l when bit 2g of qh[l] is set, for
 * element 64 g + 32 + l when bit 2g+1 is */
static ALWAYS_INLINE void chunk_q5_K(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q5_K *b = (const block_q5_K *)src;
    float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    for (int g = 0; g < 4; g++) {
        int sc0, m0, sc1, m1;
        k4_scale_min(b->scales, 2 * g, &sc0, &m0);
        k4_scale_min(b->scales, 2 * g + 1, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        uint8_t u0 = (uint8_t)(1u << (2 * g)), u1 = (uint8_t)(2u << (2 * g));
        const uint8_t *q = b->qs + 32 * g;
        float *y = w + 64 * g;
        for (int l = 0; l < 32; l++) {
            y[l] = d0 * (float)((q[l] & 0x0f) + ((b->qh[l] & u0) ? 16 : 0)) - mm0;
            y[l + 32] = d1 * (float)((q[l] >> 4) + ((b->qh[l] & u1) ? 16 : 0)) - mm1;
        }
    }
}

/* x = d * sc * (q - 32); in each half of 128: element 32 k + l (k 0..3)
 * takes ql[64 h + l + 32 (k & 1)] nibble k >> 1 and bits 2k of qh[32 h + l] */
static ALWAYS_INLINE void chunk_q6_K(const uint8_t *restrict src, float *restrict w, uint32_t len)
{
    const block_q6_K *b = (const block_q6_K *)src;
    float d = f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        float *y = w + 128 * h;
        for (int s = 0; s < 2; s++) { /* l in 16 s .. 16 s + 15 */
            float d0 = d * (float)sc[s + 0], d1 = d * (float)sc[s + 2];
            float d2 = d * (float)sc[s + 4], d3 = d * (float)sc[s + 6];
            for (int l = 16 * s; l < 16 * s + 16; l++) {
                int q0 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q1 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d0 * (float)q0;
                y[l + 32] = d1 * (float)q1;
                y[l + 64] = d2 * (float)q2;
                y[l + 96] = d3 * (float)q3;
            }
        }
    }
}

/* ---- drivers ------------------------------------------------------------ */

typedef void (*chunk_fn)(const uint8_t *restrict src, float *restrict w, uint32_t len);

/* The 16 lanes as four named 4-float GNU C vectors (SSE2 registers on any
 * x86-64). Named, because GCC -O2 neither unrolls a loop over an
 * accumulator array nor keeps that array in registers. */
typedef float v4f __attribute__((vector_size(16)));

static ALWAYS_INLINE v4f v4f_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* sum of w[i] * x[i], i < len, in the lane order of dequant.h */
static ALWAYS_INLINE float dot_lanes(const float *w, const float *x, uint32_t len)
{
    v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    uint32_t i = 0;
    for (; i + DEQUANT_LANES <= len; i += DEQUANT_LANES) {
        a0 += v4f_load(w + i) * v4f_load(x + i);
        a1 += v4f_load(w + i + 4) * v4f_load(x + i + 4);
        a2 += v4f_load(w + i + 8) * v4f_load(x + i + 8);
        a3 += v4f_load(w + i + 12) * v4f_load(x + i + 12);
    }
    float l[DEQUANT_LANES];
    memcpy(l, &a0, 16);
    memcpy(l + 4, &a1, 16);
    memcpy(l + 8, &a2, 16);
    memcpy(l + 12, &a3, 16);
    for (uint32_t k = 0; i + k < len; k++)
        l[k] += w[i + k] * x[i + k];
    for (int half = DEQUANT_LANES / 2; half > 0; half /= 2)
        for (int k = 0; k < half; k++)
            l[k] += l[k + half];
    return l[0];
}

/* Walks a row chunk by chunk: bytes per element block blk_bytes for blk
 * elements (a chunk is DEQUANT_CHUNK / blk blocks). Inlined with a constant
 * decoder, so each type gets its own loop. */
static ALWAYS_INLINE void row_generic(chunk_fn dec, uint32_t blk, uint32_t blk_bytes,
                                      const void *src, float *dst, uint64_t n)
{
    const uint8_t *p = src;
    uint64_t nblk = n / blk, per = DEQUANT_CHUNK / blk;
    for (uint64_t b = 0; b < nblk; b += per) {
        uint64_t cnt = nblk - b < per ? nblk - b : per;
        dec(p + b * blk_bytes, dst + b * blk, (uint32_t)(cnt * blk));
    }
}

static ALWAYS_INLINE float dot_generic(chunk_fn dec, uint32_t blk, uint32_t blk_bytes,
                                       const void *row, const float *x, uint64_t n)
{
    const uint8_t *p = row;
    uint64_t nblk = n / blk, per = DEQUANT_CHUNK / blk;
    float total = 0.0f;
    float w[DEQUANT_CHUNK];
    for (uint64_t b = 0; b < nblk; b += per) {
        uint32_t len = (uint32_t)((nblk - b < per ? nblk - b : per) * blk);
        dec(p + b * blk_bytes, w, len);
        total += dot_lanes(w, x + b * blk, len);
    }
    return total;
}


/* F32 rows need no decoding: the lanes read the row itself. */
static float dot_f32(const void *row, const float *x, uint64_t n)
{
    const float *w = row;
    float total = 0.0f;
    for (uint64_t c = 0; c < n; c += DEQUANT_CHUNK) {
        uint32_t len = (uint32_t)(n - c < DEQUANT_CHUNK ? n - c : DEQUANT_CHUNK);
        total += dot_lanes(w + c, x + c, len);
    }
    return total;
}
static ALWAYS_INLINE double dot64_generic(chunk_fn dec, uint32_t blk, uint32_t blk_bytes,
                                          const void *row, const double *x, uint64_t n)
{
    const uint8_t *p = row;
    uint64_t nblk = n / blk, per = DEQUANT_CHUNK / blk;
    double total = 0.0;
    float w[DEQUANT_CHUNK];
    for (uint64_t b = 0; b < nblk; b += per) {
        uint32_t len = (uint32_t)((nblk - b < per ? nblk - b : per) * blk);
        dec(p + b * blk_bytes, w, len);
        for (uint32_t i = 0; i < len; i++)
            total += (double)w[i] * x[b * blk + i];
    }
    return total;
}

/* One case per supported type: X(type id, decoder, block elements, block bytes) */
#define DEQUANT_TYPES(X)                                                   \
    X(GGML_TYPE_F32, chunk_f32, 1, 4)                                      \
    DEQUANT_DECODED(X)

/* the types whose rows are decoded chunk by chunk before the dot */
#define DEQUANT_DECODED(X)                                                 \
    X(GGML_TYPE_F16, chunk_f16, 1, 2)                                      \
    X(GGML_TYPE_BF16, chunk_bf16, 1, 2)                                    \
    X(GGML_TYPE_Q4_0, chunk_q4_0, QK4_0, sizeof(block_q4_0))               \
    X(GGML_TYPE_Q4_1, chunk_q4_1, QK4_1, sizeof(block_q4_1))               \
    X(GGML_TYPE_Q5_0, chunk_q5_0, QK5_0, sizeof(block_q5_0))               \
    X(GGML_TYPE_Q5_1, chunk_q5_1, QK5_1, sizeof(block_q5_1))               \
    X(GGML_TYPE_Q8_0, chunk_q8_0, QK8_0, sizeof(block_q8_0))               \
    X(GGML_TYPE_Q2_K, chunk_q2_K, QK_K, sizeof(block_q2_K))                \
    X(GGML_TYPE_Q3_K, chunk_q3_K, QK_K, sizeof(block_q3_K))                \
    X(GGML_TYPE_Q4_K, chunk_q4_K, QK_K, sizeof(block_q4_K))                \
    X(GGML_TYPE_Q5_K, chunk_q5_K, QK_K, sizeof(block_q5_K))                \
    X(GGML_TYPE_Q6_K, chunk_q6_K, QK_K, sizeof(block_q6_K))

int dequant_supported(uint32_t type)
{
    switch (type) {
#define CASE(id, dec, blk, bytes) case id:
        DEQUANT_TYPES(CASE)
#undef CASE
        return 1;
    default:
        return 0;
    }
}

void dequant_row(uint32_t type, const void *src, float *dst, uint64_t n)
{
    switch (type) {
#define CASE(id, dec, blk, bytes)                            \
    case id:                                                 \
        row_generic(dec, blk, (uint32_t)(bytes), src, dst, n); \
        return;
        DEQUANT_TYPES(CASE)
#undef CASE
    default:
        for (uint64_t i = 0; i < n; i++)
            dst[i] = NAN;
    }
}

float dequant_dot(uint32_t type, const void *row, const float *x, uint64_t n)
{
    switch (type) {
    case GGML_TYPE_F32:
        return dot_f32(row, x, n);
#define CASE(id, dec, blk, bytes) \
    case id:                      \
        return dot_generic(dec, blk, (uint32_t)(bytes), row, x, n);
        DEQUANT_DECODED(CASE)
#undef CASE
    default:
        return NAN;
    }
}

double dequant_dot_f64(uint32_t type, const void *row, const double *x, uint64_t n)
{
    switch (type) {
#define CASE(id, dec, blk, bytes) \
    case id:                      \
        return dot64_generic(dec, blk, (uint32_t)(bytes), row, x, n);
        DEQUANT_TYPES(CASE)
#undef CASE
    default:
        return NAN;
    }
}
