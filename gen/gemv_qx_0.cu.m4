m4_dnl gemv_qx_0.cu.m4 - dequant+GEMV decoders for the 32-element block
m4_dnl formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), then one instance.
m4_dnl Expanded by gen/gemv-instances.sh; the skeleton is gemv_body in
m4_dnl kernels/gemv_common.cuh.
#ifndef GEMV_QX_0_DECODERS
#define GEMV_QX_0_DECODERS
// Decoders for the formats with 32-element blocks (layouts: src/quant.h).
// A 256-element group is 8 blocks; lane l takes block l / 4, elements
// p .. p + 7 with p = 8 * (l % 4). Nibble formats keep element j (< 16) in
// the low nibble of qs[j] and element j + 16 in its high nibble, so the
// lane reads 8 bytes at qs + p % 16 and keeps the low (p < 16) or high
// nibbles. Each dot8 returns sum_i w_i x_i over its 8 elements, where
// w_i = d * (q_i - bias) (+ m for the _1 formats: + m * xsum). Codes
// are below 128 except Q8_0's, which take the 3-instruction byte path.

// Q4_0: 18 bytes: d (f16), qs[16]; w = d * (q - 8).
struct gemv_dec_q4_0 {
    static const int BYTES = 8 * sizeof(block_q4_0);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *g, int lane, const float *x, float xs)
    {
        const uint8_t *b = g + (lane >> 2) * sizeof(block_q4_0);
        const int p = 8 * (lane & 3), sh = (p & 16) >> 2;
        uint2 q = gemv_ld64(b + offsetof(block_q4_0, qs) + (p & 15));
        uint32_t q0 = (q.x >> sh) & 0x0F0F0F0Fu, q1 = (q.y >> sh) & 0x0F0F0F0Fu;
        return cv_f16(gemv_ld16(b)) * gemv_dot_codes(q0, q1, x, xs, 8.0f);
    }
};

// Q4_1: 20 bytes: d, m (f16), qs[16]; w = d * q + m.
struct gemv_dec_q4_1 {
    static const int BYTES = 8 * sizeof(block_q4_1);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *g, int lane, const float *x, float xs)
    {
        const uint8_t *b = g + (lane >> 2) * sizeof(block_q4_1);
        const int p = 8 * (lane & 3), sh = (p & 16) >> 2;
        uint2 q = gemv_ld64(b + offsetof(block_q4_1, qs) + (p & 15));
        uint32_t q0 = (q.x >> sh) & 0x0F0F0F0Fu, q1 = (q.y >> sh) & 0x0F0F0F0Fu;
        float d = cv_f16(gemv_ld16(b)), m = cv_f16(gemv_ld16(b + offsetof(block_q4_1, m)));
        return fmaf(d, gemv_dot_codes(q0, q1, x, xs, 0.0f), m * xs);
    }
};

// The fifth bits of elements p .. p + 7 (qh bits p .. p + 7) moved to bit 4
// of the 8 bytes q0, q1.
static __host__ __device__ __forceinline__ void gemv_q5_high(const uint8_t *qh, int p, uint32_t &q0, uint32_t &q1)
{
    uint32_t h = gemv_ld16(qh) | (gemv_ld16(qh + 2) << 16);
    h >>= p;
    q0 |= gemv_spread4(h) << 4;
    q1 |= gemv_spread4(h >> 4) << 4;
}

// Q5_0: 22 bytes: d, qh[4] (bit j: fifth bit of element j), qs[16];
// w = d * (q - 16).
struct gemv_dec_q5_0 {
    static const int BYTES = 8 * sizeof(block_q5_0);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *g, int lane, const float *x, float xs)
    {
        const uint8_t *b = g + (lane >> 2) * sizeof(block_q5_0);
        const int p = 8 * (lane & 3), sh = (p & 16) >> 2;
        uint2 q = gemv_ld64(b + offsetof(block_q5_0, qs) + (p & 15));
        uint32_t q0 = (q.x >> sh) & 0x0F0F0F0Fu, q1 = (q.y >> sh) & 0x0F0F0F0Fu;
        gemv_q5_high(b + offsetof(block_q5_0, qh), p, q0, q1);
        return cv_f16(gemv_ld16(b)) * gemv_dot_codes(q0, q1, x, xs, 16.0f);
    }
};

// Q5_1: 24 bytes: d, m, qh[4], qs[16]; w = d * q + m.
struct gemv_dec_q5_1 {
    static const int BYTES = 8 * sizeof(block_q5_1);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *g, int lane, const float *x, float xs)
    {
        const uint8_t *b = g + (lane >> 2) * sizeof(block_q5_1);
        const int p = 8 * (lane & 3), sh = (p & 16) >> 2;
        uint2 q = gemv_ld64(b + offsetof(block_q5_1, qs) + (p & 15));
        uint32_t q0 = (q.x >> sh) & 0x0F0F0F0Fu, q1 = (q.y >> sh) & 0x0F0F0F0Fu;
        gemv_q5_high(b + offsetof(block_q5_1, qh), p, q0, q1);
        float d = cv_f16(gemv_ld16(b)), m = cv_f16(gemv_ld16(b + offsetof(block_q5_1, m)));
        return fmaf(d, gemv_dot_codes(q0, q1, x, xs, 0.0f), m * xs);
    }
};

// Q8_0: 34 bytes: d, qs[32] int8; w = d * q. Flipping the sign bit maps
// int8 q to the byte q + 128.
struct gemv_dec_q8_0 {
    static const int BYTES = 8 * sizeof(block_q8_0);
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *g, int lane, const float *x, float xs)
    {
        const uint8_t *b = g + (lane >> 2) * sizeof(block_q8_0);
        const int p = 8 * (lane & 3);
        uint2 q = gemv_ld64(b + offsetof(block_q8_0, qs) + p);
        return cv_f16(gemv_ld16(b)) *
               gemv_dot_bytes(q.x ^ 0x80808080u, q.y ^ 0x80808080u, x, GEMV_BIAS(128));
    }
};

// ---- v4 register decoders (gemv_body_reg in kernels/gemv_common.cuh) ----
// A 1024-column step is 32 blocks; lane l takes block l: elements 0..15
// (run a) and 16..31 (run b). Block l starts at byte BYTES * l of the
// step, 2-byte aligned (18, 34 bytes): the lane reads the 4-byte words
// covering it and shifts by 16 bits where it starts mid-word.
struct gemv_qx_lane {
    int xa, xb;
    unsigned off; // the block's first 4-byte word in the step
    unsigned sh;  // 8 * (start byte within that word): 0 or 16
};

static __host__ __device__ __forceinline__ gemv_qx_lane gemv_qx_lane_init(int lane, unsigned bytes)
{
    gemv_qx_lane L;
    const unsigned b = bytes * lane;
    L.xa = 32 * lane;
    L.xb = L.xa + 16;
    L.off = b & ~3u;
    L.sh = 8 * (b & 3);
    return L;
}

// Q4_0: d (f16), qs[16]: element j < 16 low nibble of qs[j], j + 16 high.
#ifndef GEMV_Q40_DP4A
#define GEMV_Q40_DP4A 3
#endif
#ifndef GEMV_Q40_WO_NR
#define GEMV_Q40_WO_NR 16
#endif
struct gemv_rdec_q4_0 {
    static const int STEP_BYTES = 32 * sizeof(block_q4_0);
    static const int V5_MIN_STEPS = 0; // v4 everywhere (gemv_v5_pick)
    // int8 x only in the SwiGLU pairs (3), which read it as wo rounded it
    // (gemv_epi.xq_in); rounded per warp everywhere it measured slower
    // (bench/NOTES.md, session 14)
    static const int DP4A = GEMV_Q40_DP4A;
    // v4 run: 8 beat 4 and 2 on every shape; 16 for wo (gemv_wo_gives),
    // whose blocks then end whole 16-runs and round x for the pair: both
    // together 381.5 -> 413.5 tok/s on an 8B Q4_0, either alone nothing
    // (bench/NOTES.md, session 17)
    static constexpr int nr(int rows, int nstep) { return gemv_wo_gives(rows, nstep) ? GEMV_Q40_WO_NR : 8; }
    static constexpr int rg(int rows, int nstep) { return 1; } // row groups a block (gemv_rcfg)
    typedef gemv_qx_lane lane_t;
    struct raw_t {
        uint32_t w[5];
    };
    static __host__ __device__ __forceinline__ lane_t lane_init(int lane)
    {
        return gemv_qx_lane_init(lane, sizeof(block_q4_0));
    }
    static __host__ __device__ __forceinline__ raw_t load(const uint8_t *p, const lane_t &L)
    {
        raw_t r;
GEMV_UNROLL
        for (int k = 0; k < 5; k++)
            r.w[k] = gemv_ldg4(p + L.off + 4 * k);
        return r;
    }
    static __host__ __device__ __forceinline__ float dot(const raw_t &r, const lane_t &L, const float *xa,
                                                         const float *xb, float sa, float sb)
    {
        const uint32_t M = 0x0F0F0F0Fu;
        uint32_t q[4];
GEMV_UNROLL
        for (int k = 0; k < 4; k++) // qs starts 2 bytes after the block
            q[k] = gemv_funnel(r.w[k], r.w[k + 1], L.sh + 16);
        float Sa = gemv_dot_codes16(q[0] & M, q[1] & M, q[2] & M, q[3] & M, xa, sa, 8.0f);
        float Sb = gemv_dot_codes16((q[0] >> 4) & M, (q[1] >> 4) & M, (q[2] >> 4) & M, (q[3] >> 4) & M, xb, sb, 8.0f);
        return cv_f16((r.w[0] >> L.sh) & 0xFFFF) * (Sa + Sb);
    }
    // with x as int8 codes (gemv_rx): the nibbles are q + 8, so
    // sum q x = d_x sum nibble * x_code - 8 (rounded run sum)
    static __host__ __device__ __forceinline__ float dot_q8(const raw_t &r, const lane_t &L, const gemv_rx &v)
    {
        const uint32_t M = 0x0F0F0F0Fu;
        int ia = 0, ib = 0;
GEMV_UNROLL
        for (int k = 0; k < 4; k++) {
            const uint32_t q = gemv_funnel(r.w[k], r.w[k + 1], L.sh + 16);
            ia = gemv_dp4a(q & M, v.qa[k], ia);
            ib = gemv_dp4a((q >> 4) & M, v.qb[k], ib);
        }
        const float Sa = fmaf(v.da, (float)ia, -8.0f * v.sa), Sb = fmaf(v.db, (float)ib, -8.0f * v.sb);
        return cv_f16((r.w[0] >> L.sh) & 0xFFFF) * (Sa + Sb);
    }
};
template <>
struct gemv_reg_of<gemv_dec_q4_0> {
    typedef gemv_rdec_q4_0 type;
};

// Q8_0: d (f16), qs[32] int8 (sign bit flipped: the byte q + 128).
#ifndef GEMV_Q80_DP4A
#define GEMV_Q80_DP4A 3
#endif
#ifndef GEMV_Q80_WO_NR
#define GEMV_Q80_WO_NR 16
#endif
struct gemv_rdec_q8_0 {
    static const int STEP_BYTES = 32 * sizeof(block_q8_0);
    static const int V5_MIN_STEPS = 0; // v4 everywhere (gemv_v5_pick)
    // int8 x only in the SwiGLU pairs, as Q4_0 (there: 8B Q8_0 287.0 ->
    // 302.8 tok/s with wo at 16 rows; 288.4 with the pair rounding x itself)
    static const int DP4A = GEMV_Q80_DP4A;
    static constexpr int nr(int rows, int nstep)
    {
        return gemv_wo_gives(rows, nstep) ? GEMV_Q80_WO_NR : nstep <= 4 ? 8 : 4; // v4 run
    }
    static constexpr int rg(int rows, int nstep) { return 1; } // row groups a block (gemv_rcfg)
    typedef gemv_qx_lane lane_t;
    struct raw_t {
        uint32_t w[9];
    };
    static __host__ __device__ __forceinline__ lane_t lane_init(int lane)
    {
        return gemv_qx_lane_init(lane, sizeof(block_q8_0));
    }
    static __host__ __device__ __forceinline__ raw_t load(const uint8_t *p, const lane_t &L)
    {
        raw_t r;
GEMV_UNROLL
        for (int k = 0; k < 9; k++)
            r.w[k] = gemv_ldg4(p + L.off + 4 * k);
        return r;
    }
    static __host__ __device__ __forceinline__ float dot(const raw_t &r, const lane_t &L, const float *xa,
                                                         const float *xb, float sa, float sb)
    {
        uint32_t q[8];
GEMV_UNROLL
        for (int k = 0; k < 8; k++)
            q[k] = gemv_funnel(r.w[k], r.w[k + 1], L.sh + 16) ^ 0x80808080u;
        const float B = GEMV_BIAS(128);
        float s = gemv_dot_bytes(q[0], q[1], xa, B) + gemv_dot_bytes(q[2], q[3], xa + 8, B);
        s += gemv_dot_bytes(q[4], q[5], xb, B) + gemv_dot_bytes(q[6], q[7], xb + 8, B);
        return cv_f16((r.w[0] >> L.sh) & 0xFFFF) * s;
    }
    // with x as int8 codes (gemv_rx): the bytes are q itself, signed
    static __host__ __device__ __forceinline__ float dot_q8(const raw_t &r, const lane_t &L, const gemv_rx &v)
    {
        int ia = 0, ib = 0;
GEMV_UNROLL
        for (int k = 0; k < 4; k++) {
            ia = gemv_dp4a(gemv_funnel(r.w[k], r.w[k + 1], L.sh + 16), v.qa[k], ia);
            ib = gemv_dp4a(gemv_funnel(r.w[k + 4], r.w[k + 5], L.sh + 16), v.qb[k], ib);
        }
        return cv_f16((r.w[0] >> L.sh) & 0xFFFF) * fmaf(v.da, (float)ia, v.db * (float)ib);
    }
};
template <>
struct gemv_reg_of<gemv_dec_q8_0> {
    typedef gemv_rdec_q8_0 type;
};
#endif
m4_dnl decoders only where no KNAME is given (gemv_cat.m4 follows)
m4_ifdef(`KNAME', `m4_include(gemv_instance.m4)')
