m4_dnl gemv_k.cu.m4 - dequant+GEMV decoders for the k-quants (Q2_K, Q3_K,
m4_dnl Q4_K, Q5_K, Q6_K), then one instance. Expanded by
m4_dnl gen/gemv-instances.sh; the skeleton is gemv_body in
m4_dnl kernels/gemv_common.cuh.
#ifndef GEMV_K_DECODERS
#define GEMV_K_DECODERS
// Decoders for the 256-element super-blocks (layouts: src/quant.h and
// ggml-quants.c dequantize_row_q*_K). A 256-element group is one
// super-block; lane l takes elements e = 8l .. 8l + 7, which always share
// one sub-block scale (sub-blocks are 16 or 32 elements, 8-aligned).

// Q2_K: 84 bytes. Element e: h = e / 128, j = (e % 128) / 32, k = e % 32:
// q = (qs[32h + k] >> 2j) & 3, scale byte scales[8h + 2j + k / 16] (low
// nibble: scale, high: min); w = d * sc * q - dmin * m.
struct gemv_dec_q2_k {
    static const int BYTES = sizeof(block_q2_K);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const int h = lane >> 4, j = (lane >> 2) & 3, k = 8 * (lane & 3);
        uint2 q = gemv_ld64(b + offsetof(block_q2_K, qs) + 32 * h + k);
        uint32_t q0 = (q.x >> (2 * j)) & 0x03030303u, q1 = (q.y >> (2 * j)) & 0x03030303u;
        uint32_t sc = b[offsetof(block_q2_K, scales) + 8 * h + 2 * j + (k >> 4)];
        float d = gemv_f16(gemv_ld16(b + offsetof(block_q2_K, d)));
        float dmin = gemv_f16(gemv_ld16(b + offsetof(block_q2_K, dmin)));
        return d * (float)(sc & 0xF) * gemv_dot_codes(q0, q1, x, xs, 0.0f) -
               dmin * (float)(sc >> 4) * xs;
    }
};

// Q3_K: 110 bytes. Element e (h, j, k as Q2_K): low bits (qs[32h + k] >>
// 2j) & 3, high bit (hmask[k] >> (4h + j)) & 1 (set: +0, clear: -4), so
// q + 4 = low | high << 2 and w = d * (s - 32) * q with the 6-bit scale s of
// sub-block i = 8h + 2j + k / 16: low 4 bits from scales[i % 8] (low
// nibble for i < 8, high for i >= 8), high 2 bits from scales[8 + i % 4]
// at bit 2 * (i / 4).
struct gemv_dec_q3_k {
    static const int BYTES = sizeof(block_q3_K);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const int h = lane >> 4, j = (lane >> 2) & 3, k = 8 * (lane & 3);
        uint2 q = gemv_ld64(b + offsetof(block_q3_K, qs) + 32 * h + k);
        uint2 m = gemv_ld64(b + offsetof(block_q3_K, hmask) + k);
        const int hb = 4 * h + j;
        uint32_t q0 = ((q.x >> (2 * j)) & 0x03030303u) | (((m.x >> hb) & 0x01010101u) << 2);
        uint32_t q1 = ((q.y >> (2 * j)) & 0x03030303u) | (((m.y >> hb) & 0x01010101u) << 2);
        const uint8_t *sc = b + offsetof(block_q3_K, scales);
        const int i = 8 * h + 2 * j + (k >> 4);
        int lo = (sc[i & 7] >> (4 * (i >> 3))) & 0xF;
        int hi = (sc[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        float d = gemv_f16(gemv_ld16(b + offsetof(block_q3_K, d)));
        return d * (float)((lo | (hi << 4)) - 32) * gemv_dot_codes(q0, q1, x, xs, 4.0f);
    }
};

// The 6-bit scale and min of sub-block s (0..7) of Q4_K / Q5_K
// (ggml's get_scale_min_k4), without a branch on s (s is lane / 4, so a
// branch would diverge and run both sides):
//   s < 4:  sc = q[s] & 63,                       m = q[s + 4] & 63
//   s >= 4: sc = q[s + 4] & 15 | (q[s - 4] >> 6) << 4,
//           m  = q[s + 4] >> 4 | (q[s] >> 6) << 4
static __host__ __device__ __forceinline__ void gemv_k4_scale_min(const uint8_t *q, int s, float &sc, float &m)
{
    const bool lo = s < 4;
    const int ia = lo ? s : s + 4, ib = lo ? s : s - 4, id = lo ? s + 4 : s;
    const int shb = lo ? 4 : 6, shc = lo ? 0 : 4;
    uint32_t isc = (q[ia] & 0xF) | (((q[ib] >> shb) & 3) << 4);
    uint32_t im = ((q[s + 4] >> shc) & 0xF) | (((q[id] >> shb) & 3) << 4);
    // exact small ints to float without I2F (quarter rate)
    sc = gemv_as_float(0x4B000000u | isc) - 8388608.0f;
    m = gemv_as_float(0x4B000000u | im) - 8388608.0f;
}

// Q4_K: 144 bytes. Sub-block s = e / 32 (8 of them): element e is the low
// (s even) or high (s odd) nibble of qs[32 (s / 2) + e % 32];
// w = d * sc * q - dmin * m. 144 is a multiple of 16, so every staged
// block starts 16-byte aligned: plain 8-byte shared loads.
struct gemv_dec_q4_k {
    static const int BYTES = sizeof(block_q4_K);
    static_assert(BYTES % 16 == 0, "q4_K blocks must stay 16-byte aligned");
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const int s = lane >> 2, k = 8 * (lane & 3), sh = 4 * (s & 1);
        uint2 q = *(const uint2 *)(b + offsetof(block_q4_K, qs) + 32 * (s >> 1) + k);
        uint32_t q0 = (q.x >> sh) & 0x0F0F0F0Fu, q1 = (q.y >> sh) & 0x0F0F0F0Fu;
        float sc, m;
        gemv_k4_scale_min(b + offsetof(block_q4_K, scales), s, sc, m);
        uint32_t dm = *(const uint32_t *)(b + offsetof(block_q4_K, d)); // d, dmin
        float d = gemv_f16(dm & 0xFFFF), dmin = gemv_f16(dm >> 16);
        return d * sc * gemv_dot_codes(q0, q1, x, xs, 0.0f) - dmin * m * xs;
    }
};

// Q5_K: 176 bytes (a multiple of 16: aligned loads): as Q4_K, plus the
// fifth bit of element e in bit s of qh[e % 32].
struct gemv_dec_q5_k {
    static const int BYTES = sizeof(block_q5_K);
    static_assert(BYTES % 16 == 0, "q5_K blocks must stay 16-byte aligned");
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const int s = lane >> 2, k = 8 * (lane & 3), sh = 4 * (s & 1);
        uint2 q = *(const uint2 *)(b + offsetof(block_q5_K, qs) + 32 * (s >> 1) + k);
        uint2 hb = *(const uint2 *)(b + offsetof(block_q5_K, qh) + k);
        uint32_t q0 = ((q.x >> sh) & 0x0F0F0F0Fu) | (((hb.x >> s) & 0x01010101u) << 4);
        uint32_t q1 = ((q.y >> sh) & 0x0F0F0F0Fu) | (((hb.y >> s) & 0x01010101u) << 4);
        float sc, m;
        gemv_k4_scale_min(b + offsetof(block_q5_K, scales), s, sc, m);
        uint32_t dm = *(const uint32_t *)(b + offsetof(block_q5_K, d)); // d, dmin
        float d = gemv_f16(dm & 0xFFFF), dmin = gemv_f16(dm >> 16);
        return d * sc * gemv_dot_codes(q0, q1, x, xs, 0.0f) - dmin * m * xs;
    }
};

// Q6_K: 210 bytes. Element e: h = e / 128, t = (e % 128) / 32, k = e % 32:
// low 4 bits: nibble t / 2 of ql[64h + 32 (t % 2) + k], high 2 bits:
// (qh[32h + k] >> 2t) & 3; w = d * scales[8h + 2t + k / 16] * (q - 32).
struct gemv_dec_q6_k {
    static const int BYTES = sizeof(block_q6_K);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const int h = lane >> 4, t = (lane >> 2) & 3, k = 8 * (lane & 3);
        const int sh = 4 * (t >> 1);
        uint2 ql = gemv_ld64(b + offsetof(block_q6_K, ql) + 64 * h + 32 * (t & 1) + k);
        uint2 qh = gemv_ld64(b + offsetof(block_q6_K, qh) + 32 * h + k);
        uint32_t q0 = ((ql.x >> sh) & 0x0F0F0F0Fu) | (((qh.x >> (2 * t)) & 0x03030303u) << 4);
        uint32_t q1 = ((ql.y >> sh) & 0x0F0F0F0Fu) | (((qh.y >> (2 * t)) & 0x03030303u) << 4);
        int sc = (int8_t)b[offsetof(block_q6_K, scales) + 8 * h + 2 * t + (k >> 4)];
        float d = gemv_f16(gemv_ld16(b + offsetof(block_q6_K, d)));
        return d * (float)sc * gemv_dot_codes(q0, q1, x, xs, 32.0f);
    }
};
#endif
m4_include(gemv_instance.m4)
