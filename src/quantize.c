/* quantize.c - reference quantizers f32 -> GGML blocks (see quantize.h).
 *
 * Every quantizer divides by the scale as it will be decoded (the f16-
 * rounded d times the integer sub-block code), so the rounding of the
 * stored scale does not add to the error. Bit packing is the inverse of
 * the layouts documented in quant.h and dequant.c. */
#include "quantize.h"

#include <math.h>
#include <string.h>

#include "dequant.h"
#include "half.h"

/* ---- helpers ------------------------------------------------------------ */

/* round to nearest (half away from zero), clamped to lo..hi; NaN -> lo */
static int round_clamp(float v, int lo, int hi)
{
    if (!(v >= (float)lo))
        return lo;
    if (v >= (float)hi)
        return hi;
    return (int)lroundf(v);
}

/* f32 -> f16 bits, saturating at +-65504 so a stored scale stays finite */
static uint16_t f16_sat(float v)
{
    if (v > 65504.0f)
        v = 65504.0f;
    if (v < -65504.0f)
        v = -65504.0f;
    return f32_to_f16(v);
}

/* the element of largest magnitude, with its sign (first one on ties) */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = x[0];
    *mx = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < *mn)
            *mn = x[i];
        if (x[i] > *mx)
            *mx = x[i];
    }
}

static float inv(float d)
{
    return d != 0.0f ? 1.0f / d : 0.0f;
}

/* ---- blocks of 32 ---------------------------------------------------- */

/* x ~ d * (q - 8): d = max / -8, so the largest magnitude maps to q = 0 */
static void quant_q4_0(const float *x, block_q4_0 *b)
{
    b->d = f16_sat(signed_absmax(x, QK4_0) / -8.0f);
    float id = inv(f16_to_f32(b->d));
    for (int j = 0; j < 16; j++) {
        int q0 = round_clamp(x[j] * id + 8.0f, 0, 15);
        int q1 = round_clamp(x[j + 16] * id + 8.0f, 0, 15);
        b->qs[j] = (uint8_t)(q0 | q1 << 4);
    }
}

/* x ~ d * q + m with m = min, d = (max - min) / 15 */
static void quant_q4_1(const float *x, block_q4_1 *b)
{
    float mn, mx;
    min_max(x, QK4_1, &mn, &mx);
    b->d = f16_sat((mx - mn) / 15.0f);
    b->m = f16_sat(mn);
    float id = inv(f16_to_f32(b->d)), m = f16_to_f32(b->m);
    for (int j = 0; j < 16; j++) {
        int q0 = round_clamp((x[j] - m) * id, 0, 15);
        int q1 = round_clamp((x[j + 16] - m) * id, 0, 15);
        b->qs[j] = (uint8_t)(q0 | q1 << 4);
    }
}

/* 5-bit quants: low nibbles as q4, bit 4 of element j in bit j of qh */
static void pack_q5(const int q[32], uint8_t qs[16], uint8_t qh[4])
{
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
        h |= (uint32_t)(q[j] >> 4) << j;
        h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int i = 0; i < 4; i++)
        qh[i] = (uint8_t)(h >> (8 * i));
}

/* x ~ d * (q - 16), d = max / -16 */
static void quant_q5_0(const float *x, block_q5_0 *b)
{
    b->d = f16_sat(signed_absmax(x, QK5_0) / -16.0f);
    float id = inv(f16_to_f32(b->d));
    int q[32];
    for (int j = 0; j < 32; j++)
        q[j] = round_clamp(x[j] * id + 16.0f, 0, 31);
    pack_q5(q, b->qs, b->qh);
}

/* x ~ d * q + m, d = (max - min) / 31 */
static void quant_q5_1(const float *x, block_q5_1 *b)
{
    float mn, mx;
    min_max(x, QK5_1, &mn, &mx);
    b->d = f16_sat((mx - mn) / 31.0f);
    b->m = f16_sat(mn);
    float id = inv(f16_to_f32(b->d)), m = f16_to_f32(b->m);
    int q[32];
    for (int j = 0; j < 32; j++)
        q[j] = round_clamp((x[j] - m) * id, 0, 31);
    pack_q5(q, b->qs, b->qh);
}

/* x ~ d * q, d = amax / 127 */
static void quant_q8_0(const float *x, block_q8_0 *b)
{
    b->d = f16_sat(fabsf(signed_absmax(x, QK8_0)) / 127.0f);
    float id = inv(f16_to_f32(b->d));
    for (int j = 0; j < 32; j++)
        b->qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
}

/* ---- k-quants ------------------------------------------------------------ */

/* Sub-block scale codes for the "d * sc * q - dmin * m" types: scale[s] and
 * minv[s] >= 0 are the wanted step and offset of sub-block s; the largest
 * of each becomes code cmax. Writes d, dmin (f16) and the codes. */
static void kq_scale_codes(const float *scale, const float *minv, int nsub, int cmax,
                           ggml_half *d, ggml_half *dmin, int *sc, int *m)
{
    float smax = 0.0f, mmax = 0.0f;
    for (int s = 0; s < nsub; s++) {
        smax = fmaxf(smax, scale[s]);
        mmax = fmaxf(mmax, minv[s]);
    }
    *d = f16_sat(smax / (float)cmax);
    *dmin = f16_sat(mmax / (float)cmax);
    float id = inv(f16_to_f32(*d)), idmin = inv(f16_to_f32(*dmin));
    for (int s = 0; s < nsub; s++) {
        sc[s] = round_clamp(scale[s] * id, 0, cmax);
        m[s] = round_clamp(minv[s] * idmin, 0, cmax);
    }
}

/* Unsigned quants q in 0..qmax of sub-blocks of len elements, x ~ dl * q -
 * ml with dl = d * sc, ml = dmin * m (the decoder's float products). */
static void kq_quants_min(const float *x, int nsub, int len, int qmax, ggml_half d16,
                          ggml_half dmin16, const int *sc, const int *m, int *q)
{
    float d = f16_to_f32(d16), dmin = f16_to_f32(dmin16);
    for (int s = 0; s < nsub; s++) {
        float dl = d * (float)sc[s], ml = dmin * (float)m[s], idl = inv(dl);
        for (int l = 0; l < len; l++)
            q[s * len + l] = round_clamp((x[s * len + l] + ml) * idl, 0, qmax);
    }
}

/* wanted step and offset of each sub-block for quants 0..qmax: the range
 * [min(0, min), max] is covered; minv = -min(0, min) >= 0 */
static void kq_ranges(const float *x, int nsub, int len, int qmax, float *scale, float *minv)
{
    for (int s = 0; s < nsub; s++) {
        float mn, mx;
        min_max(x + s * len, len, &mn, &mx);
        mn = fminf(mn, 0.0f);
        scale[s] = (mx - mn) / (float)qmax;
        minv[s] = -mn;
    }
}

/* 16 sub-blocks of 16, 2-bit quants, 4-bit scale (low) and min (high) */
static void quant_q2_K(const float *x, block_q2_K *b)
{
    float scale[16], minv[16];
    int sc[16], m[16], q[QK_K];
    kq_ranges(x, 16, 16, 3, scale, minv);
    kq_scale_codes(scale, minv, 16, 15, &b->d, &b->dmin, sc, m);
    kq_quants_min(x, 16, 16, 3, b->d, b->dmin, sc, m, q);
    for (int s = 0; s < 16; s++)
        b->scales[s] = (uint8_t)(sc[s] | m[s] << 4);
    /* element 128 h + 32 j + l: bits 2j of qs[32 h + l] */
    memset(b->qs, 0, sizeof b->qs);
    for (int e = 0; e < QK_K; e++)
        b->qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
}

/* Signed sub-block scales for Q3_K/Q6_K: scale[s] = sub-block's signed
 * absmax / qneg (qneg = -4 or -32: the extreme maps to the most negative
 * quant); d = (scale of largest magnitude) / cneg, codes in cneg..-cneg-1. */
static void kq_signed_codes(const float *x, int nsub, int len, float qneg, int cneg,
                            ggml_half *d16, int *sc)
{
    float scale[16], best = 0.0f;
    for (int s = 0; s < nsub; s++) {
        scale[s] = signed_absmax(x + s * len, len) / qneg;
        if (fabsf(scale[s]) > fabsf(best))
            best = scale[s];
    }
    *d16 = f16_sat(best / (float)cneg);
    float id = inv(f16_to_f32(*d16));
    for (int s = 0; s < nsub; s++)
        sc[s] = round_clamp(scale[s] * id, cneg, -cneg - 1);
}

/* signed quants qlo..qhi, x ~ (d * sc) * q */
static void kq_quants_signed(const float *x, int nsub, int len, int qlo, int qhi,
                             ggml_half d16, const int *sc, int *q)
{
    float d = f16_to_f32(d16);
    for (int s = 0; s < nsub; s++) {
        float idl = inv(d * (float)sc[s]);
        for (int l = 0; l < len; l++)
            q[s * len + l] = round_clamp(x[s * len + l] * idl, qlo, qhi);
    }
}

/* 16 sub-blocks of 16, quants -4..3 (stored q + 4: low 2 bits in qs, bit 2
 * in hmask), 6-bit scales stored sc + 32 */
static void quant_q3_K(const float *x, block_q3_K *b)
{
    int sc[16], q[QK_K];
    kq_signed_codes(x, 16, 16, -4.0f, -32, &b->d, sc);
    kq_quants_signed(x, 16, 16, -4, 3, b->d, sc, q);
    memset(b->scales, 0, sizeof b->scales);
    for (int i = 0; i < 16; i++) {
        int u = sc[i] + 32;
        b->scales[i % 8] |= (uint8_t)((u & 0x0f) << (i < 8 ? 0 : 4));
        b->scales[8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
    }
    memset(b->qs, 0, sizeof b->qs);
    memset(b->hmask, 0, sizeof b->hmask);
    for (int e = 0; e < QK_K; e++) {
        int u = q[e] + 4, h = e / 128, j = (e % 128) / 32, l = e % 32;
        b->qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
        b->hmask[l] |= (uint8_t)((u >> 2) << (4 * h + j));
    }
}

/* the 12-byte 6-bit scale/min packing of Q4_K/Q5_K (inverse of
 * k4_scale_min in dequant.c) */
static void pack_k4_scales(const int sc[8], const int m[8], uint8_t p[12])
{
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        p[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        p[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (m[j + 4] & 0x0f) << 4);
    }
}

/* 8 sub-blocks of 32, 4-bit quants; sub-blocks 2g, 2g+1 are the low and
 * high nibbles of qs[32 g + l] */
static void quant_q4_K(const float *x, block_q4_K *b)
{
    float scale[8], minv[8];
    int sc[8], m[8], q[QK_K];
    kq_ranges(x, 8, 32, 15, scale, minv);
    kq_scale_codes(scale, minv, 8, 63, &b->d, &b->dmin, sc, m);
    kq_quants_min(x, 8, 32, 15, b->d, b->dmin, sc, m, q);
    pack_k4_scales(sc, m, b->scales);
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * g + l] = (uint8_t)(q[64 * g + l] | q[64 * g + 32 + l] << 4);
}

/* as Q4_K with 5-bit quants: bit 4 of element 64 g + 32 k + l in bit
 * 2g + k of qh[l] */
static void quant_q5_K(const float *x, block_q5_K *b)
{
    float scale[8], minv[8];
    int sc[8], m[8], q[QK_K];
    kq_ranges(x, 8, 32, 31, scale, minv);
    kq_scale_codes(scale, minv, 8, 63, &b->d, &b->dmin, sc, m);
    kq_quants_min(x, 8, 32, 31, b->d, b->dmin, sc, m, q);
    pack_k4_scales(sc, m, b->scales);
    memset(b->qh, 0, sizeof b->qh);
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            int q0 = q[64 * g + l], q1 = q[64 * g + 32 + l];
            b->qs[32 * g + l] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            b->qh[l] |= (uint8_t)((q0 >> 4) << (2 * g) | (q1 >> 4) << (2 * g + 1));
        }
    }
}

/* 16 sub-blocks of 16, quants -32..31 stored q + 32 (low 4 bits in ql,
 * high 2 in qh), int8 scales */
static void quant_q6_K(const float *x, block_q6_K *b)
{
    int sc[16], q[QK_K];
    kq_signed_codes(x, 16, 16, -32.0f, -128, &b->d, sc);
    kq_quants_signed(x, 16, 16, -32, 31, b->d, sc, q);
    for (int s = 0; s < 16; s++)
        b->scales[s] = (int8_t)sc[s];
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    /* element 128 h + 32 k + l: nibble k >> 1 of ql[64 h + 32 (k & 1) + l],
     * bits 2k of qh[32 h + l] */
    for (int e = 0; e < QK_K; e++) {
        int u = q[e] + 32, h = e / 128, k = (e % 128) / 32, l = e % 32;
        b->ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((u & 0x0f) << (4 * (k >> 1)));
        b->qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
    }
}

/* ---- dispatch ------------------------------------------------------------ */

int quantize_supported(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0: case GGML_TYPE_Q2_K:
    case GGML_TYPE_Q3_K: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

/* Applies a block quantizer to every block of a row. */
#define EACH_BLOCK(fn, btype, qk)                                    \
    do {                                                             \
        btype *blk = dst;                                            \
        for (uint64_t i = 0; i < n / (qk); i++)                      \
            fn(src + i * (qk), &blk[i]);                             \
    } while (0)

size_t quantize_row(uint32_t type, const float *src, void *dst, uint64_t n)
{
    size_t bytes = ggml_row_size(type, n);
    if (!quantize_supported(type) || (bytes == 0 && n != 0))
        return 0;
    uint16_t *h = dst;
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, bytes);
        break;
    case GGML_TYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            h[i] = f32_to_f16(src[i]);
        break;
    case GGML_TYPE_BF16:
        for (uint64_t i = 0; i < n; i++)
            h[i] = f32_to_bf16(src[i]);
        break;
    case GGML_TYPE_Q4_0: EACH_BLOCK(quant_q4_0, block_q4_0, QK4_0); break;
    case GGML_TYPE_Q4_1: EACH_BLOCK(quant_q4_1, block_q4_1, QK4_1); break;
    case GGML_TYPE_Q5_0: EACH_BLOCK(quant_q5_0, block_q5_0, QK5_0); break;
    case GGML_TYPE_Q5_1: EACH_BLOCK(quant_q5_1, block_q5_1, QK5_1); break;
    case GGML_TYPE_Q8_0: EACH_BLOCK(quant_q8_0, block_q8_0, QK8_0); break;
    case GGML_TYPE_Q2_K: EACH_BLOCK(quant_q2_K, block_q2_K, QK_K); break;
    case GGML_TYPE_Q3_K: EACH_BLOCK(quant_q3_K, block_q3_K, QK_K); break;
    case GGML_TYPE_Q4_K: EACH_BLOCK(quant_q4_K, block_q4_K, QK_K); break;
    case GGML_TYPE_Q5_K: EACH_BLOCK(quant_q5_K, block_q5_K, QK_K); break;
    case GGML_TYPE_Q6_K: EACH_BLOCK(quant_q6_K, block_q6_K, QK_K); break;
    }
    return bytes;
}

void quantize_row_q8_1(const float *x, block_q8_1 *y, uint64_t n)
{
    for (uint64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float d = fabsf(signed_absmax(x, QK8_0)) / 127.0f;
        float id = inv(d);
        int sum = 0;
        for (int j = 0; j < QK8_0; j++) {
            y[i].qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
            sum += y[i].qs[j];
        }
        y[i].d = f16_sat(d);
        y[i].s = f16_sat((float)sum * d);
    }
}

/* ---- compressed transfer ---------------------------------------------------- */

uint32_t quantize_stream_type(uint32_t type, uint64_t row_len, uint32_t stream_type)
{
    const struct ggml_type_info *from = ggml_type_get(type), *to = ggml_type_get(stream_type);
    if (stream_type == 0 || !from || !to || !quantize_supported(stream_type) ||
        row_len % to->blck_size)
        return type;
    /* bytes per element, compared exactly: size_to / blck_to < size_from / blck_from */
    if ((uint64_t)to->type_size * from->blck_size >= (uint64_t)from->type_size * to->blck_size)
        return type;
    return stream_type;
}

void quantize_matrix(uint32_t from, const void *src, uint32_t to, void *dst,
                     uint64_t rows, uint64_t row_len, float *scratch)
{
    size_t in_row = ggml_row_size(from, row_len), out_row = ggml_row_size(to, row_len);
    for (uint64_t r = 0; r < rows; r++) {
        dequant_row(from, (const uint8_t *)src + r * in_row, scratch, row_len);
        quantize_row(to, scratch, (uint8_t *)dst + r * out_row, row_len);
    }
}
