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
        float d = cv_f16(gemv_ld16(b + offsetof(block_q2_K, d)));
        float dmin = cv_f16(gemv_ld16(b + offsetof(block_q2_K, dmin)));
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
        float d = cv_f16(gemv_ld16(b + offsetof(block_q3_K, d)));
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
    sc = cv_as_float(0x4B000000u | isc) - 8388608.0f;
    m = cv_as_float(0x4B000000u | im) - 8388608.0f;
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
        float d = cv_f16(dm & 0xFFFF), dmin = cv_f16(dm >> 16);
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
        float d = cv_f16(dm & 0xFFFF), dmin = cv_f16(dm >> 16);
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
        float d = cv_f16(gemv_ld16(b + offsetof(block_q6_K, d)));
        return d * (float)sc * gemv_dot_codes(q0, q1, x, xs, 32.0f);
    }
};

// ---- v4 register decoders (gemv_body_reg in kernels/gemv_common.cuh) ----
// A 1024-column step is 4 super-blocks; lane l takes super-block
// sb = l / 8 of the step and its j = l % 8 share of 32 elements.

// The two 6-bit scales (or mins) of sub-blocks 2c, 2c + 1 of Q4_K/Q5_K as
// bytes 0, 1 of one word, from header words y = scales[0..3], z =
// scales[4..7], v = scales[8..11] (get_scale_min_k4, both at once):
//   c < 2:  sc = y >> 16c & 0x3F3F,  m = z >> 16c & 0x3F3F
//   c >= 2: sc = (v >> sh & 0x0F0F) | (y >> sh + 2 & 0x3030),
//           m  = (v >> sh + 4 & 0x0F0F) | (z >> sh + 2 & 0x3030), sh = 16 (c & 1)
// Every shift and select is a lane constant (gemv_k4_lane).
struct gemv_k4_lane {
    int xa, xb;          // x offsets of the two runs in the step
    unsigned hoff, qoff; // header and qs word byte offsets in the step
    unsigned qhoff, s5;  // Q5_K: qh word offset, bit of sub-block 2c
    bool hi;             // c >= 2
    unsigned sh, shm, shb;
};

static __host__ __device__ __forceinline__ gemv_k4_lane gemv_k4_lane_init(int lane, int bytes, int qs, int qh)
{
    const int sb = lane >> 3, j = lane & 7, c = j >> 1;
    gemv_k4_lane L;
    // qs word j holds elements 64c + 16 (j & 1) + 0..15 of sub-block 2c
    // (low nibbles) and the same k of sub-block 2c + 1 (high nibbles).
    L.xa = 256 * sb + 64 * c + 16 * (j & 1);
    L.xb = L.xa + 32;
    L.hoff = bytes * sb;
    L.qoff = bytes * sb + qs + 16 * j;
    L.qhoff = bytes * sb + qh + 16 * (j & 1);
    L.s5 = 2 * c;
    L.hi = c >= 2;
    L.sh = 16 * (c & 1);
    L.shm = L.sh + (L.hi ? 4 : 0);
    L.shb = L.sh + (L.hi ? 2 : 0);
    return L;
}

// d * (sc_a Sa + sc_b Sb) - dmin * (m_a sa + m_b sb) from header word h.
static __host__ __device__ __forceinline__ float gemv_k4_combine(uint4 h, const gemv_k4_lane &L, float Sa,
                                                                 float Sb, float sa, float sb)
{
    float d = cv_f16(h.x & 0xFFFF), dmin = cv_f16(h.x >> 16);
    uint32_t sc = (((L.hi ? h.w : h.y) >> L.sh) & 0x0F0Fu) | ((h.y >> L.shb) & 0x3030u);
    uint32_t m = (((L.hi ? h.w : h.z) >> L.shm) & 0x0F0Fu) | ((h.z >> L.shb) & 0x3030u);
    float t = fmaf(gemv_u2f(sc & 0xFF), Sa, gemv_u2f(sc >> 8) * Sb);
    float o = fmaf(gemv_u2f(m & 0xFF), sa, gemv_u2f(m >> 8) * sb);
    return fmaf(d, t, -dmin * o);
}

// Rows per warp on the register path, from the v4 run (bench/NOTES.md):
// 8 rows amortize the x loads best on 4096-column shapes; the down
// projection (14336 columns, 4096 rows) is faster with fewer rows (more
// blocks): 4 for Q4_K/Q8_0, 2 for the register-heavy Q5_K/Q6_K; Q4_0
// wants 8 everywhere measured; Q6_K loses with 8 (167 registers at 4).

#ifndef GEMV_Q6K_V5_STEPS
#define GEMV_Q6K_V5_STEPS 12 // rows of at least this many steps take v5
#endif
#ifndef GEMV_Q4K_V5_STEPS
#define GEMV_Q4K_V5_STEPS 0 // rows of at least this many steps take v5 (experiments)
#endif
// Q4_K: 144-byte super-blocks, 16-byte aligned: two 16-byte loads per lane
// and row-step (header d, dmin, scales; qs word j).
struct gemv_rdec_q4_k {
    static const int STEP_BYTES = 4 * sizeof(block_q4_K);
    static const int V5_MIN_STEPS = GEMV_Q4K_V5_STEPS; // 0: v4 everywhere (gemv_v5_pick)
    static const int DP4A = 1; // int8 x, rounded per warp and step (gemv_rx_prep, dot_q8)
    // 16 rows for wo of an 8B (4096 x 4096): half the warps of 8 rows, so the
    // gate|up pair's first blocks are resident and load ahead while it
    // runs (hand-over 1.47 -> 0.71 us, 8B Q4_K_M 396.3 -> 402.6 tok/s;
    // for Q|K|V too it lost: 399.4). 8 rows for the down projections (12+
    // steps) for the same reason: Q|K|V's blocks load ahead while it runs
    // (Q|K|V after it 12.7 -> 9.5 us, 401.3 -> 404.2 tok/s; standalone 4
    // and 8 are equal; bench/NOTES.md, session 13)
    static constexpr int nr(int rows, int nstep)
    {
        return nstep <= 4 ? (nstep == 4 && rows <= 4096 ? 16 : 8) : nstep >= 12 ? 8 : 4;
    }
    static constexpr int rg(int rows, int nstep) { return 1; } // row groups a block (gemv_rcfg)
    typedef gemv_k4_lane lane_t;
    struct raw_t {
        uint4 h, q;
    };
    static __host__ __device__ __forceinline__ lane_t lane_init(int lane)
    {
        return gemv_k4_lane_init(lane, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0);
    }
    static __host__ __device__ __forceinline__ raw_t load(const uint8_t *p, const lane_t &L)
    {
        raw_t r;
        r.h = gemv_ldg16(p + L.hoff);
        r.q = gemv_ldg16(p + L.qoff);
        return r;
    }
    static __host__ __device__ __forceinline__ float dot(const raw_t &r, const lane_t &L, const float *xa,
                                                         const float *xb, float sa, float sb)
    {
        const uint32_t M = 0x0F0F0F0Fu;
        const uint4 q = r.q;
        float Sa = gemv_dot_codes16(q.x & M, q.y & M, q.z & M, q.w & M, xa, sa, 0.0f);
        float Sb = gemv_dot_codes16((q.x >> 4) & M, (q.y >> 4) & M, (q.z >> 4) & M, (q.w >> 4) & M, xb, sb, 0.0f);
        return gemv_k4_combine(r.h, L, Sa, Sb, sa, sb);
    }
    // the same with x as int8 codes (gemv_rx: codes, scales, the rounded
    // runs' sums for the mins): four codes per IDP4A
    static __host__ __device__ __forceinline__ float dot_q8(const raw_t &r, const lane_t &L, const gemv_rx &v)
    {
        const uint32_t M = 0x0F0F0F0Fu;
        const uint4 q = r.q;
        int ia = gemv_dp4a(q.x & M, v.qa[0], 0), ib = gemv_dp4a((q.x >> 4) & M, v.qb[0], 0);
        ia = gemv_dp4a(q.y & M, v.qa[1], ia);
        ib = gemv_dp4a((q.y >> 4) & M, v.qb[1], ib);
        ia = gemv_dp4a(q.z & M, v.qa[2], ia);
        ib = gemv_dp4a((q.z >> 4) & M, v.qb[2], ib);
        ia = gemv_dp4a(q.w & M, v.qa[3], ia);
        ib = gemv_dp4a((q.w >> 4) & M, v.qb[3], ib);
        return gemv_k4_combine(r.h, L, v.da * (float)ia, v.db * (float)ib, v.sa, v.sb);
    }
};
template <>
struct gemv_reg_of<gemv_dec_q4_k> {
    typedef gemv_rdec_q4_k type;
};

// Q5_K: 176-byte super-blocks, 16-byte aligned: header, qh word j % 2
// (the fifth bit of sub-block s is bit s of qh[k]), qs word j.
struct gemv_rdec_q5_k {
    static const int STEP_BYTES = 4 * sizeof(block_q5_K);
    static const int V5_MIN_STEPS = 0; // v4 everywhere (gemv_v5_pick)
    static const int DP4A = 0; // f32 x (gemv_i8_default)
    static constexpr int nr(int rows, int nstep) { return nstep <= 4 ? 8 : nstep >= 12 && rows / 4 < GEMV_SMS * 8 ? 2 : 4; }
    static constexpr int rg(int rows, int nstep) { return 1; } // row groups a block (gemv_rcfg)
    typedef gemv_k4_lane lane_t;
    struct raw_t {
        uint4 h, qh, q;
    };
    static __host__ __device__ __forceinline__ lane_t lane_init(int lane)
    {
        return gemv_k4_lane_init(lane, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh));
    }
    static __host__ __device__ __forceinline__ raw_t load(const uint8_t *p, const lane_t &L)
    {
        raw_t r;
        r.h = gemv_ldg16(p + L.hoff);
        r.qh = gemv_ldg16(p + L.qhoff);
        r.q = gemv_ldg16(p + L.qoff);
        return r;
    }
    static __host__ __device__ __forceinline__ uint32_t lo5(uint32_t q, uint32_t qh, unsigned s)
    {
        return (q & 0x0F0F0F0Fu) | (((qh >> s) & 0x01010101u) << 4);
    }
    static __host__ __device__ __forceinline__ uint32_t hi5(uint32_t q, uint32_t qh, unsigned s)
    {
        return ((q >> 4) & 0x0F0F0F0Fu) | (((qh >> (s + 1)) & 0x01010101u) << 4);
    }
    static __host__ __device__ __forceinline__ float dot(const raw_t &r, const lane_t &L, const float *xa,
                                                         const float *xb, float sa, float sb)
    {
        const uint4 q = r.q, h = r.qh;
        float Sa = gemv_dot_codes16(lo5(q.x, h.x, L.s5), lo5(q.y, h.y, L.s5), lo5(q.z, h.z, L.s5),
                                    lo5(q.w, h.w, L.s5), xa, sa, 0.0f);
        float Sb = gemv_dot_codes16(hi5(q.x, h.x, L.s5), hi5(q.y, h.y, L.s5), hi5(q.z, h.z, L.s5),
                                    hi5(q.w, h.w, L.s5), xb, sb, 0.0f);
        return gemv_k4_combine(r.h, L, Sa, Sb, sa, sb);
    }
};
template <>
struct gemv_reg_of<gemv_dec_q5_k> {
    typedef gemv_rdec_q5_k type;
};

#ifndef GEMV_Q6K_XQ
#define GEMV_Q6K_XQ 1 // wo gives the pair int8 x (rg, DP4A 4); 0: neither
#endif
// Q6_K: 210-byte super-blocks, only 2-byte aligned (super-block sb of a
// step starts at 210 sb: byte 2 (sb & 1) of a 4-byte word), so 4-byte
// loads and a funnel shift. Lane j: h = j / 4, u = (j / 2) % 2,
// k0 = 16 (j % 2): ql[64h + 32u + k0 ..+15] holds t = u (low nibbles) and
// t = u + 2 (high nibbles) of k = k0..k0+15; their high 2 bits are
// qh[32h + k] >> 2t; scales[8h + 2t + k0 / 16]; elements 128h + 32t + k.
struct gemv_rdec_q6_k {
    static const int STEP_BYTES = 4 * sizeof(block_q6_K);
    static const int V5_MIN_STEPS = GEMV_Q6K_V5_STEPS; // down projections: v5 (gemv_v5_pick)
    // int8 x rounded per warp measured slower here (down 26.7 -> 29.4 us,
    // head 178 -> 184: the code extraction stays, the rounding of x adds);
    // 2: only where the block rounds x once (v5, gemv_xq_fill); 4: and in
    // the gate|up pairs, which read it as wo rounded it
    static const int DP4A = GEMV_Q6K_XQ ? 4 : 2;
    static constexpr int nr(int rows, int nstep) { return nstep >= 12 && rows / 4 < GEMV_SMS * 8 ? 2 : 4; }
    // 4 row groups of 4 rows a block for wo (gemv_wo_gives): blocks of 16
    // rows round x for the gate|up pair (gemv_epi.xq_out),
    // which then takes it as int8 (DP4A); 13 words a row leave no room for
    // 16 rows a warp (bench/NOTES.md, session 17)
    // (not the 1024 rows of an 8B's K or V: a Q6_K V shares its launch with
    // a Q4_K Q|K of 4-warp blocks, gemv_cat)
    static constexpr int rg(int rows, int nstep)
    {
        return GEMV_Q6K_XQ && gemv_wo_gives(rows, nstep) && rows > 1024 && rows % 16 == 0 ? 4 : 1;
    }
    struct lane_t {
        int xa, xb;
        unsigned ql, qh, sc, d; // 4-byte aligned word offsets in the step
        unsigned sh;            // 8 * misalignment of the super-block (0, 16)
        unsigned scsh;          // bit offset of the scale byte in its word
        unsigned t2;            // 2u: qh shift of run a (run b: + 4)
    };
    struct raw_t {
        uint32_t ql[5], qh[5], sc0, sc1, d;
    };
    static __host__ __device__ __forceinline__ lane_t lane_init(int lane)
    {
        const int sb = lane >> 3, j = lane & 7, h = j >> 2, u = (j >> 1) & 1, k0 = 16 * (j & 1);
        const unsigned b = sizeof(block_q6_K) * sb, mis = b & 3;
        lane_t L;
        L.xa = 256 * sb + 128 * h + 32 * u + k0;
        L.xb = L.xa + 64;
        L.ql = b - mis + offsetof(block_q6_K, ql) + 64 * h + 32 * u + k0;
        L.qh = b - mis + offsetof(block_q6_K, qh) + 32 * h + k0;
        L.d = b - mis + offsetof(block_q6_K, d);
        const unsigned o = b + offsetof(block_q6_K, scales) + 8 * h + 2 * u + (j & 1);
        L.sc = o & ~3u;
        L.scsh = 8 * (o & 3);
        L.sh = 8 * mis;
        L.t2 = 2 * u;
        return L;
    }
    static __host__ __device__ __forceinline__ raw_t load(const uint8_t *p, const lane_t &L)
    {
        raw_t r;
GEMV_UNROLL
        for (int k = 0; k < 5; k++) {
            r.ql[k] = gemv_ldg4(p + L.ql + 4 * k);
            r.qh[k] = gemv_ldg4(p + L.qh + 4 * k);
        }
        r.sc0 = gemv_ldg4(p + L.sc);
        r.sc1 = gemv_ldg4(p + L.sc + 4); // t + 2: 4 scale bytes further
        r.d = gemv_ldg4(p + L.d);
        return r;
    }
    // the 6-bit codes (q + 32) of the lane's two runs, 4 per word
    static __host__ __device__ __forceinline__ void codes(const raw_t &r, const lane_t &L, uint32_t *a, uint32_t *c)
    {
GEMV_UNROLL
        for (int k = 0; k < 4; k++) {
            uint32_t ql = gemv_funnel(r.ql[k], r.ql[k + 1], L.sh);
            uint32_t qh = gemv_funnel(r.qh[k], r.qh[k + 1], L.sh);
            a[k] = (ql & 0x0F0F0F0Fu) | (((qh >> L.t2) & 0x03030303u) << 4);
            c[k] = ((ql >> 4) & 0x0F0F0F0Fu) | (((qh >> (L.t2 + 4)) & 0x03030303u) << 4);
        }
    }
    static __host__ __device__ __forceinline__ float combine(const raw_t &r, const lane_t &L, float Sa, float Sb)
    {
        float d = cv_f16((r.d >> L.sh) & 0xFFFF);
        float sca = (float)(int8_t)(r.sc0 >> L.scsh), scb = (float)(int8_t)(r.sc1 >> L.scsh);
        return d * fmaf(sca, Sa, scb * Sb);
    }
    // with x as int8 codes (gemv_rx): the codes are q + 32, so
    // sum q x = d_x sum code * x_code - 32 (rounded run sum)
    static __host__ __device__ __forceinline__ float dot_q8(const raw_t &r, const lane_t &L, const gemv_rx &v)
    {
        uint32_t a[4], c[4];
        codes(r, L, a, c);
        int ia = 0, ib = 0;
GEMV_UNROLL
        for (int k = 0; k < 4; k++) {
            ia = gemv_dp4a(a[k], v.qa[k], ia);
            ib = gemv_dp4a(c[k], v.qb[k], ib);
        }
        return combine(r, L, fmaf(v.da, (float)ia, -32.0f * v.sa), fmaf(v.db, (float)ib, -32.0f * v.sb));
    }
    static __host__ __device__ __forceinline__ float dot(const raw_t &r, const lane_t &L, const float *xa,
                                                         const float *xb, float sa, float sb)
    {
        uint32_t a[4], c[4];
        codes(r, L, a, c);
        float Sa = gemv_dot_codes16(a[0], a[1], a[2], a[3], xa, sa, 32.0f);
        float Sb = gemv_dot_codes16(c[0], c[1], c[2], c[3], xb, sb, 32.0f);
        return combine(r, L, Sa, Sb);
    }
};
template <>
struct gemv_reg_of<gemv_dec_q6_k> {
    typedef gemv_rdec_q6_k type;
};
#endif
m4_dnl decoders only where no KNAME is given (gemv_cat.m4 follows)
m4_ifdef(`KNAME', `m4_include(gemv_instance.m4)')
