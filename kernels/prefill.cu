// prefill.cu - prompt prefill on tensor cores (see prefill.h): weight
// dequantization to f16, the cuBLAS GEMM, the element-wise ops of a chunk
// and flash attention.
//
// Where the time goes for a 512-token chunk of Llama-3.1-8B (per layer):
// the GEMMs are 2 * 512 * 218M = 223 GFLOP, ~0.3 ms at ~700 TFLOP/s;
// expanding the layer's 218M weights to f16 moves ~120 MB (Q4_K in, f16
// out), ~45 us at HBM speed; attention is 4 * 512 * ctx * 128 * 32 FLOP,
// 4 GFLOP at ctx 512 but 69 GFLOP at ctx 8192; the rest moves a few MB.
#include "prefill.h"

#include <cuda_fp16.h>
#include <mma.h>
#include <math.h>
#include <string.h>

// quant.h is C11: its _Static_assert is not a C++ keyword.
#if !defined(_Static_assert)
#define _Static_assert static_assert
#endif
#include "half.h"
#include "quant.h"
#include "convert.cuh"
#include "warp.cuh"

#define WARP 32

// Helpers shared by the kernels and prefill_dequant_f16_emulate: on the
// host they are plain C, so the decoders can be checked without a GPU.
#define PF_HD static __host__ __device__ __forceinline__

// Products and sums rounded one by one, never fused into an FMA: the CPU
// reference (src/dequant.c, src/cpu/ops.c) is compiled without contraction.
PF_HD float pf_mul(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

PF_HD float pf_add(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

PF_HD float pf_sub(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

// The integer u - bias (u < 2^23) as an exact float without I2F (a quarter
// of the FMA rate): 2^23 + u is a float with u in its low mantissa bits.
PF_HD float pf_code(uint32_t u, float bias)
{
    return cv_as_float(0x4B000000u | u) - (8388608.0f + bias);
}

// The two binary16 of a half2 as one word (low half first).
static __device__ __forceinline__ uint32_t pf_h2_bits(__half2 h)
{
    return *(uint32_t *)&h;
}

// 4 little-endian bytes at any address of a staging buffer (shared memory
// on the device: two aligned loads and a funnel shift; may read up to 4
// bytes past p + 3, which the buffers leave room for).
PF_HD uint32_t pf_ld32(const uint8_t *p)
{
    uintptr_t a = (uintptr_t)p;
    const uint32_t *w = (const uint32_t *)(a & ~(uintptr_t)3);
    uint32_t sh = (uint32_t)(a & 3) * 8;
#ifdef __CUDA_ARCH__
    return __funnelshift_r(w[0], w[1], sh);
#else // the same two aligned words (the emulation's staging is aligned too)
    uint32_t w2[2];
    memcpy(w2, w, 8);
    return (uint32_t)((w2[0] | (uint64_t)w2[1] << 32) >> sh);
#endif
}

// An f16 field (every one sits at an even offset of an even-sized block).
PF_HD uint32_t pf_ld16(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
    return *(const uint16_t *)p;
#else
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#endif
}

// Byte i of the 8 bytes (q0, q1).
PF_HD uint32_t pf_byte(uint32_t q0, uint32_t q1, int i)
{
    return ((i < 4 ? q0 : q1) >> (8 * (i & 3))) & 0xff;
}

// ---- dequantization to f16 -------------------------------------------------
// The matrix is one run of blocks (rows are laid end to end, output is
// row-major), so a CTA takes DQ_ELEMS consecutive elements whatever the
// row length: it stages their blocks' bytes into shared memory with 16-byte
// loads (block sizes 18, 34, 110, 210 ... are not multiples of 16: only the
// CTA's start is aligned, as DQ_ELEMS / blk * type_size is a multiple of
// 16), then thread t decodes groups of 8 consecutive elements from shared
// memory and writes each group as one 16-byte store (a warp writes 512
// contiguous bytes). Output (2 bytes per element) dominates the traffic:
// 14336 x 4096 Q4_K is 33 MB in, 117 MB out, ~50 us at 3 TB/s.
#define DQ_THREADS 256
#define DQ_ELEMS 8192 // elements per CTA: 4 groups of 8 per thread

// One decoder per format: dec8(b, j0, v) -> v[0..7] = elements j0..j0+7 of
// the block at b (j0 a multiple of 8), as src/dequant.c computes them.
struct dq_q4_0 {
    enum { BLK = QK4_0, BYTES = sizeof(block_q4_0) };
    // x = d * (q - 8); element j low nibble of qs[j], j + 16 the high one
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        float d = cv_f16(pf_ld16(b));
        int sh = (j0 & 16) ? 4 : 0;
        uint32_t q0 = pf_ld32(b + 2 + (j0 & 15)) >> sh, q1 = pf_ld32(b + 6 + (j0 & 15)) >> sh;
        for (int i = 0; i < 8; i++)
            v[i] = pf_mul(pf_code(pf_byte(q0, q1, i) & 15, 8.0f), d);
    }
};

struct dq_q4_1 {
    enum { BLK = QK4_1, BYTES = sizeof(block_q4_1) };
    // x = q * d + m
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        float d = cv_f16(pf_ld16(b)), m = cv_f16(pf_ld16(b + 2));
        int sh = (j0 & 16) ? 4 : 0;
        uint32_t q0 = pf_ld32(b + 4 + (j0 & 15)) >> sh, q1 = pf_ld32(b + 8 + (j0 & 15)) >> sh;
        for (int i = 0; i < 8; i++)
            v[i] = pf_add(pf_mul(pf_code(pf_byte(q0, q1, i) & 15, 0.0f), d), m);
    }
};

struct dq_q5_0 {
    enum { BLK = QK5_0, BYTES = sizeof(block_q5_0) };
    // x = d * (q - 16), q = nibble | bit j of qh << 4
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        float d = cv_f16(pf_ld16(b));
        uint32_t qh = pf_ld32(b + 2) >> j0;
        int sh = (j0 & 16) ? 4 : 0;
        uint32_t q0 = pf_ld32(b + 6 + (j0 & 15)) >> sh, q1 = pf_ld32(b + 10 + (j0 & 15)) >> sh;
        for (int i = 0; i < 8; i++) {
            uint32_t q = (pf_byte(q0, q1, i) & 15) | ((qh >> i) & 1) << 4;
            v[i] = pf_mul(pf_code(q, 16.0f), d);
        }
    }
};

struct dq_q5_1 {
    enum { BLK = QK5_1, BYTES = sizeof(block_q5_1) };
    // x = q * d + m, q 5-bit as in q5_0
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        float d = cv_f16(pf_ld16(b)), m = cv_f16(pf_ld16(b + 2));
        uint32_t qh = pf_ld32(b + 4) >> j0;
        int sh = (j0 & 16) ? 4 : 0;
        uint32_t q0 = pf_ld32(b + 8 + (j0 & 15)) >> sh, q1 = pf_ld32(b + 12 + (j0 & 15)) >> sh;
        for (int i = 0; i < 8; i++) {
            uint32_t q = (pf_byte(q0, q1, i) & 15) | ((qh >> i) & 1) << 4;
            v[i] = pf_add(pf_mul(pf_code(q, 0.0f), d), m);
        }
    }
};

struct dq_q8_0 {
    enum { BLK = QK8_0, BYTES = sizeof(block_q8_0) };
    // x = q * d, q int8 (byte ^ 0x80 is q + 128)
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        float d = cv_f16(pf_ld16(b));
        uint32_t q0 = pf_ld32(b + 2 + j0) ^ 0x80808080u, q1 = pf_ld32(b + 6 + j0) ^ 0x80808080u;
        for (int i = 0; i < 8; i++)
            v[i] = pf_mul(pf_code(pf_byte(q0, q1, i), 128.0f), d);
    }
};

// Element e of a Q2_K/Q3_K block: half h = e / 128, shift 2 j with
// j = (e / 32) % 4, sub-block s = (e / 16) % 2, byte qs[32 h + 16 s + e % 16],
// scale 8 h + 2 j + s. A group of 8 shares h, j and s.
struct dq_q2_k {
    enum { BLK = QK_K, BYTES = sizeof(block_q2_K) };
    // x = d * sc * q - dmin * m
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        int h = j0 >> 7, j = (j0 >> 5) & 3, s = (j0 >> 4) & 1, l0 = j0 & 15;
        float d = cv_f16(pf_ld16(b + 80)), dmin = cv_f16(pf_ld16(b + 82));
        uint32_t sc = b[8 * h + 2 * j + s];
        float dl = pf_mul(d, (float)(sc & 15)), ml = pf_mul(dmin, (float)(sc >> 4));
        const uint8_t *q = b + 16 + 32 * h + 16 * s + l0;
        uint32_t q0 = pf_ld32(q) >> (2 * j), q1 = pf_ld32(q + 4) >> (2 * j);
        for (int i = 0; i < 8; i++)
            v[i] = pf_sub(pf_mul(dl, pf_code(pf_byte(q0, q1, i) & 3, 0.0f)), ml);
    }
};

struct dq_q3_k {
    enum { BLK = QK_K, BYTES = sizeof(block_q3_K) };
    // x = d * (sc - 32) * (q - 4 * !hbit); 6-bit scale i: low 4 bits in
    // byte i % 8 (nibble i / 8), high 2 in byte 8 + i % 4 bits 2 (i / 4)
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        int h = j0 >> 7, j = (j0 >> 5) & 3, s = (j0 >> 4) & 1, l0 = j0 & 15;
        float d = cv_f16(pf_ld16(b + 108));
        const uint8_t *p = b + 96;
        int si = 8 * h + 2 * j + s;
        int lo = si < 8 ? p[si] & 15 : p[si - 8] >> 4;
        int hi = (p[8 + si % 4] >> (2 * (si / 4))) & 3;
        float dl = pf_mul(d, (float)((lo | hi << 4) - 32));
        const uint8_t *q = b + 32 + 32 * h + 16 * s + l0, *hm = b + 16 * s + l0;
        uint32_t q0 = pf_ld32(q) >> (2 * j), q1 = pf_ld32(q + 4) >> (2 * j);
        int mb = 4 * h + j;
        uint32_t m0 = pf_ld32(hm) >> mb, m1 = pf_ld32(hm + 4) >> mb;
        for (int i = 0; i < 8; i++) {
            uint32_t u = (pf_byte(q0, q1, i) & 3) | (pf_byte(m0, m1, i) & 1) << 2;
            v[i] = pf_mul(dl, pf_code(u, 4.0f));
        }
    }
};

// 6-bit scale and min of sub-block j (0..7) of Q4_K/Q5_K (k4_scale_min in
// src/dequant.c).
PF_HD void pf_k4_scale_min(const uint8_t *p, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = p[j] & 63;
        *m = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0f) | (p[j - 4] >> 6) << 4;
        *m = (p[j + 4] >> 4) | (p[j] >> 6) << 4;
    }
}

struct dq_q4_k {
    enum { BLK = QK_K, BYTES = sizeof(block_q4_K) };
    // x = d * sc * q - dmin * m; element 64 g + r: qs[32 g + r % 32],
    // low nibble (sub-block 2 g) for r < 32, high (2 g + 1) otherwise
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        int g = j0 >> 6, hi = (j0 >> 5) & 1, l0 = j0 & 31;
        float d = cv_f16(pf_ld16(b)), dmin = cv_f16(pf_ld16(b + 2));
        int sc, m;
        pf_k4_scale_min(b + 4, 2 * g + hi, &sc, &m);
        float ds = pf_mul(d, (float)sc), ms = pf_mul(dmin, (float)m);
        const uint8_t *q = b + 16 + 32 * g + l0;
        uint32_t q0 = pf_ld32(q) >> (4 * hi), q1 = pf_ld32(q + 4) >> (4 * hi);
        for (int i = 0; i < 8; i++)
            v[i] = pf_sub(pf_mul(ds, pf_code(pf_byte(q0, q1, i) & 15, 0.0f)), ms);
    }
};

struct dq_q5_k {
    enum { BLK = QK_K, BYTES = sizeof(block_q5_K) };
    // as q4_K, plus 16 where bit 2 g + hi of qh[r % 32] is set
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        int g = j0 >> 6, hi = (j0 >> 5) & 1, l0 = j0 & 31;
        float d = cv_f16(pf_ld16(b)), dmin = cv_f16(pf_ld16(b + 2));
        int sc, m;
        pf_k4_scale_min(b + 4, 2 * g + hi, &sc, &m);
        float ds = pf_mul(d, (float)sc), ms = pf_mul(dmin, (float)m);
        const uint8_t *q = b + 48 + 32 * g + l0, *qh = b + 16 + l0;
        uint32_t q0 = pf_ld32(q) >> (4 * hi), q1 = pf_ld32(q + 4) >> (4 * hi);
        int hb = 2 * g + hi;
        uint32_t h0 = pf_ld32(qh) >> hb, h1 = pf_ld32(qh + 4) >> hb;
        for (int i = 0; i < 8; i++) {
            uint32_t u = (pf_byte(q0, q1, i) & 15) | (pf_byte(h0, h1, i) & 1) << 4;
            v[i] = pf_sub(pf_mul(ds, pf_code(u, 0.0f)), ms);
        }
    }
};

struct dq_q6_k {
    enum { BLK = QK_K, BYTES = sizeof(block_q6_K) };
    // x = d * sc * (q - 32); element 128 h + 32 k + l: low 4 bits in
    // ql[64 h + l + 32 (k & 1)] nibble k >> 1, high 2 in qh[32 h + l] bits
    // 2 k; scale 8 h + l / 16 + 2 k
    static __host__ __device__ __forceinline__ void dec8(const uint8_t *b, int j0, float *v)
    {
        int h = j0 >> 7, k = (j0 >> 5) & 3, l0 = j0 & 31;
        float d = cv_f16(pf_ld16(b + 208));
        float ds = pf_mul(d, (float)(int8_t)b[192 + 8 * h + (l0 >> 4) + 2 * k]);
        const uint8_t *ql = b + 64 * h + l0 + 32 * (k & 1), *qh = b + 128 + 32 * h + l0;
        int ns = 4 * (k >> 1);
        uint32_t q0 = pf_ld32(ql) >> ns, q1 = pf_ld32(ql + 4) >> ns;
        uint32_t h0 = pf_ld32(qh) >> (2 * k), h1 = pf_ld32(qh + 4) >> (2 * k);
        for (int i = 0; i < 8; i++) {
            uint32_t u = (pf_byte(q0, q1, i) & 15) | (pf_byte(h0, h1, i) & 3) << 4;
            v[i] = pf_mul(ds, pf_code(u, 32.0f));
        }
    }
};

// Blocks per CTA and the bytes staged for them (+16: pf_ld32 reads ahead).
template <class F> struct dq_cta {
    enum { NB = DQ_ELEMS / F::BLK, BYTES = NB * F::BYTES, STAGE = BYTES + 16 };
    static_assert(BYTES % 16 == 0, "a CTA's first block must start 16-byte aligned");
};

// Thread tid's share of a staged CTA: groups tid, tid + DQ_THREADS, ... of
// the nb blocks in st, written to out (the CTA's first element).
template <class F>
static __host__ __device__ __forceinline__ void dq_decode(const uint8_t *st, int nb, uint16_t *out,
                                                          int tid)
{
    const int n_groups = nb * (F::BLK / 8);
    for (int gi = tid; gi < n_groups; gi += DQ_THREADS) {
        int e = gi * 8;
        float v[8];
        F::dec8(st + (e / F::BLK) * F::BYTES, e % F::BLK, v);
#ifdef __CUDA_ARCH__
        uint4 o;
        o.x = pf_h2_bits(__floats2half2_rn(v[0], v[1]));
        o.y = pf_h2_bits(__floats2half2_rn(v[2], v[3]));
        o.z = pf_h2_bits(__floats2half2_rn(v[4], v[5]));
        o.w = pf_h2_bits(__floats2half2_rn(v[6], v[7]));
        *(uint4 *)(out + e) = o;
#else
        for (int i = 0; i < 8; i++)
            out[e + i] = cv_to_f16(v[i]);
#endif
    }
}

template <class F>
__global__ void __launch_bounds__(DQ_THREADS)
prefill_dequant_kernel(const uint8_t *w, uint64_t n_blocks, uint16_t *out)
{
    typedef dq_cta<F> C;
    __shared__ uint4 stage[C::STAGE / 16];
    uint8_t *st = (uint8_t *)stage;
    const uint64_t b0 = (uint64_t)blockIdx.x * C::NB;
    const int nb = n_blocks - b0 < (uint64_t)C::NB ? (int)(n_blocks - b0) : (int)C::NB;
    const uint8_t *src = w + b0 * F::BYTES;
    const int bytes = nb * F::BYTES, n16 = bytes / 16;
    // weights are read once: streaming loads, 16 bytes each
    for (int i = threadIdx.x; i < n16; i += DQ_THREADS)
        stage[i] = __ldcs((const uint4 *)src + i);
    for (int i = n16 * 16 + threadIdx.x; i < bytes; i += DQ_THREADS) // the matrix's last bytes
        st[i] = src[i];
    __syncthreads();
    dq_decode<F>(st, nb, out + b0 * F::BLK, threadIdx.x);
}

template <class F>
static void dq_emulate(const uint8_t *w, uint64_t n_blocks, uint16_t *out)
{
    typedef dq_cta<F> C;
    alignas(16) static uint8_t st[C::STAGE];
    for (uint64_t b0 = 0; b0 < n_blocks; b0 += C::NB) {
        int nb = n_blocks - b0 < (uint64_t)C::NB ? (int)(n_blocks - b0) : (int)C::NB;
        memset(st, 0, sizeof st);
        memcpy(st, w + b0 * F::BYTES, (size_t)nb * F::BYTES);
        for (int tid = 0; tid < DQ_THREADS; tid++)
            dq_decode<F>(st, nb, out + b0 * F::BLK, tid);
    }
}

// F32, F16, BF16: a thread converts 8 consecutive elements (16-byte store);
// the last thread of an n not a multiple of 8 goes element by element.
PF_HD float dq_plain1(uint32_t type, const void *w, uint64_t i)
{
    if (type == GGML_TYPE_F32)
        return ((const float *)w)[i];
    uint32_t h = ((const uint16_t *)w)[i];
    return type == GGML_TYPE_BF16 ? cv_as_float(h << 16) : cv_f16(h);
}

template <uint32_t T>
__global__ void __launch_bounds__(DQ_THREADS)
prefill_dequant_plain_kernel(const void *w, uint64_t n, uint16_t *out)
{
    const uint64_t e0 = ((uint64_t)blockIdx.x * DQ_THREADS + threadIdx.x) * 8;
    if (e0 >= n)
        return;
    if (e0 + 8 > n) {
        for (uint64_t i = e0; i < n; i++)
            out[i] = T == GGML_TYPE_F16 ? ((const uint16_t *)w)[i] : cv_to_f16(dq_plain1(T, w, i));
        return;
    }
    uint4 o;
    if (T == GGML_TYPE_F16) { // f16 -> f32 -> f16 is the identity: copy
        o = __ldcs((const uint4 *)((const uint16_t *)w + e0));
    } else if (T == GGML_TYPE_BF16) {
        uint4 r = __ldcs((const uint4 *)((const uint16_t *)w + e0));
        uint32_t in[4] = {r.x, r.y, r.z, r.w}, res[4];
        for (int k = 0; k < 4; k++)
            res[k] = pf_h2_bits(__floats2half2_rn(cv_as_float(in[k] << 16),
                                                       cv_as_float(in[k] & 0xffff0000u)));
        o = make_uint4(res[0], res[1], res[2], res[3]);
    } else {
        float4 a = __ldcs((const float4 *)((const float *)w + e0));
        float4 b = __ldcs((const float4 *)((const float *)w + e0 + 4));
        o.x = pf_h2_bits(__floats2half2_rn(a.x, a.y));
        o.y = pf_h2_bits(__floats2half2_rn(a.z, a.w));
        o.z = pf_h2_bits(__floats2half2_rn(b.x, b.y));
        o.w = pf_h2_bits(__floats2half2_rn(b.z, b.w));
    }
    *(uint4 *)(out + e0) = o;
}

// X(type id, decoder) for the block formats
#define DQ_FORMATS(X)                  \
    X(GGML_TYPE_Q4_0, dq_q4_0)         \
    X(GGML_TYPE_Q4_1, dq_q4_1)         \
    X(GGML_TYPE_Q5_0, dq_q5_0)         \
    X(GGML_TYPE_Q5_1, dq_q5_1)         \
    X(GGML_TYPE_Q8_0, dq_q8_0)         \
    X(GGML_TYPE_Q2_K, dq_q2_k)         \
    X(GGML_TYPE_Q3_K, dq_q3_k)         \
    X(GGML_TYPE_Q4_K, dq_q4_k)         \
    X(GGML_TYPE_Q5_K, dq_q5_k)         \
    X(GGML_TYPE_Q6_K, dq_q6_k)

// Elements of a rows x cols matrix of `type` (0 for a type or shape the
// kernels do not take), and its block size.
static uint64_t dq_elems(uint32_t type, uint32_t rows, uint32_t cols, uint32_t *blk)
{
    switch (type) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        *blk = 1;
        break;
#define CASE(id, F) case id: *blk = F::BLK; break;
        DQ_FORMATS(CASE)
#undef CASE
    default:
        return 0;
    }
    return cols % *blk ? 0 : (uint64_t)rows * cols;
}

extern "C" int prefill_dequant_f16(uint32_t type, uint32_t rows, uint32_t cols, const void *w,
                                   uint16_t *out, cudaStream_t s)
{
    uint32_t blk;
    uint64_t n = dq_elems(type, rows, cols, &blk);
    if (n == 0)
        return rows == 0 || cols == 0 ? 0 : -1;
    const uint8_t *wb = (const uint8_t *)w;
    uint64_t plain_ctas = (n + 8 * DQ_THREADS - 1) / (8 * DQ_THREADS);
    switch (type) {
    case GGML_TYPE_F32:
        prefill_dequant_plain_kernel<GGML_TYPE_F32><<<(unsigned)plain_ctas, DQ_THREADS, 0, s>>>(w, n, out);
        return 0;
    case GGML_TYPE_F16:
        prefill_dequant_plain_kernel<GGML_TYPE_F16><<<(unsigned)plain_ctas, DQ_THREADS, 0, s>>>(w, n, out);
        return 0;
    case GGML_TYPE_BF16:
        prefill_dequant_plain_kernel<GGML_TYPE_BF16><<<(unsigned)plain_ctas, DQ_THREADS, 0, s>>>(w, n, out);
        return 0;
#define CASE(id, F)                                                                    \
    case id: {                                                                         \
        uint64_t n_blocks = n / F::BLK;                                                \
        unsigned ctas = (unsigned)((n_blocks + dq_cta<F>::NB - 1) / dq_cta<F>::NB);    \
        prefill_dequant_kernel<F><<<ctas, DQ_THREADS, 0, s>>>(wb, n_blocks, out);      \
        return 0;                                                                      \
    }
        DQ_FORMATS(CASE)
#undef CASE
    }
    return -1;
}

extern "C" int prefill_dequant_f16_emulate(uint32_t type, uint32_t rows, uint32_t cols,
                                           const void *w, uint16_t *out)
{
    uint32_t blk;
    uint64_t n = dq_elems(type, rows, cols, &blk);
    if (n == 0)
        return rows == 0 || cols == 0 ? 0 : -1;
    switch (type) {
    case GGML_TYPE_F32:
    case GGML_TYPE_BF16:
        for (uint64_t i = 0; i < n; i++)
            out[i] = cv_to_f16(dq_plain1(type, w, i));
        return 0;
    case GGML_TYPE_F16:
        memcpy(out, w, n * 2);
        return 0;
#define CASE(id, F)                                          \
    case id:                                                 \
        dq_emulate<F>((const uint8_t *)w, n / F::BLK, out);  \
        return 0;
        DQ_FORMATS(CASE)
#undef CASE
    }
    return -1;
}

// ---- GEMM (cuBLAS) -------------------------------------------------------------
// Row-major Y (n_tok, rows) = X (n_tok, cols) W^T is, read column-major,
// Y^T (rows, n_tok) = W^T(T) X^T: cuBLAS "TN", A = W (lda cols), B = X
// (ldb cols), C = Y (ldc rows).
extern "C" int prefill_gemm_init(cublasHandle_t *h, void *workspace, size_t ws_bytes,
                                 cudaStream_t s)
{
    cublasStatus_t st = cublasCreate(h);
    if (st != CUBLAS_STATUS_SUCCESS)
        return (int)st;
    // SetStream resets the workspace to cuBLAS's own pool: stream first
    if ((st = cublasSetStream(*h, s)) != CUBLAS_STATUS_SUCCESS ||
        (st = cublasSetWorkspace(*h, workspace, ws_bytes)) != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(*h);
        *h = NULL;
        return (int)st;
    }
    return 0;
}

extern "C" void prefill_gemm_free(cublasHandle_t h)
{
    if (h)
        cublasDestroy(h);
}

extern "C" int prefill_gemm(cublasHandle_t h, int n_tok, int rows, int cols,
                            const uint16_t *w_f16, const uint16_t *x_f16, float *y,
                            cudaStream_t s)
{
    cudaStream_t cur;
    if (cublasGetStream(h, &cur) != CUBLAS_STATUS_SUCCESS || cur != s)
        return -1;
    const float one = 1.0f, zero = 0.0f;
    return (int)cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n_tok, cols, &one, w_f16,
                             CUDA_R_16F, cols, x_f16, CUDA_R_16F, cols, &zero, y, CUDA_R_32F,
                             rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// ---- reductions ---------------------------------------------------------------
// Block-wide sum / max (blockDim.x a multiple of 32); every thread gets it.
// Not static: the __shared__ array of a static function gets a name hashed
// from the absolute source path (see ops.cu).
__device__ double prefill_block_sum_d(double v)
{
    __shared__ double part[32];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    for (int o = WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); // part[] may still be read by a previous call
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / WARP) ? part[lane] : 0.0;
    for (int o = WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float prefill_block_reduce(float v, int is_max)
{
    __shared__ float part[32];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    v = is_max ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    float id = is_max ? -INFINITY : 0.0f;
    v = lane < (int)(blockDim.x / WARP) ? part[lane] : id;
    return is_max ? warp_max(v) : warp_sum(v);
}

// ---- element-wise ----------------------------------------------------------------
// A block per token row; the sum of squares in double, as op_rmsnorm, and
// the same float operations after it, so y is usually bit-identical to the
// CPU's f32_to_f16(op_rmsnorm(...)).
__global__ void prefill_rmsnorm_f16_kernel(__half *y, const float *x, const float *w, int n,
                                           float eps)
{
    const float *xr = x + (size_t)blockIdx.x * n;
    __half *yr = y + (size_t)blockIdx.x * n;
    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += (double)xr[i] * xr[i]; // exact product: fused or not, the same
    ss = prefill_block_sum_d(ss);
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        yr[i] = __float2half_rn(__fmul_rn(__fmul_rn(xr[i], scale), w[i]));
}

extern "C" void prefill_rmsnorm_f16(uint16_t *y_f16, const float *x, const float *w, int n_tok,
                                    int n, float eps, cudaStream_t s)
{
    prefill_rmsnorm_f16_kernel<<<n_tok, 256, 0, s>>>((__half *)y_f16, x, w, n, eps);
}

__global__ void prefill_to_f16_kernel(__half *y, const float *x, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = __float2half_rn(x[i]);
}

extern "C" void prefill_to_f16(uint16_t *y, const float *x, size_t n, cudaStream_t s)
{
    prefill_to_f16_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>((__half *)y, x, n);
}

// grid (ceil(n_ff / 256), n_tok)
__global__ void prefill_swiglu_f16_kernel(__half *out, const float *gate, const float *up,
                                          int n_ff, int ld)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (i < n_ff) {
        float g = gate[(size_t)t * ld + i], u = up[(size_t)t * ld + i];
        // g / (1 + exp(-g)) * u, as op_swiglu
        out[(size_t)t * n_ff + i] = __float2half_rn(__fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u));
    }
}

extern "C" void prefill_swiglu_f16(uint16_t *out, const float *gate, const float *up, int n_tok,
                                   int n_ff, int ld, cudaStream_t s)
{
    dim3 grid((n_ff + 255) / 256, n_tok);
    prefill_swiglu_f16_kernel<<<grid, 256, 0, s>>>((__half *)out, gate, up, n_ff, ld);
}

__global__ void prefill_add_kernel(float *x, const float *y, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] += y[i];
}

extern "C" void prefill_add(float *x, const float *y, size_t n, cudaStream_t s)
{
    prefill_add_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(x, y, n);
}

// grid (ceil(n / 256), n_tok)
__global__ void prefill_add_bias_rows_kernel(float *y, const float *b, int n, int ld)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[(size_t)blockIdx.y * ld + i] += b[i];
}

extern "C" void prefill_add_bias_rows(float *y, const float *b, int n_tok, int n, int ld,
                                      cudaStream_t s)
{
    dim3 grid((n + 255) / 256, n_tok);
    prefill_add_bias_rows_kernel<<<grid, 256, 0, s>>>(y, b, n, ld);
}

// ---- rope + KV store -------------------------------------------------------------
// A block per token: the token's rope_dim / 2 (cos, sin) pairs (row pos of
// p.cs_table, op_rope_table's floats, as ops_attention reads them; without
// a table computed here in double), then every rotated pair of its q and k
// heads, then its k and v rows into the F16 caches. The rotation rounds
// each product, as op_rope does: with the table, q, k and the cache rows
// are bit-identical to the CPU engine's.
#define ROPE_MAX_PAIRS 256

__global__ void prefill_rope_store_kernel(float *qkv, int ld, const uint32_t *pos_p,
                                          struct ops_rope_params p, __half *kc, __half *vc,
                                          int n_ctx)
{
    __shared__ float cs[2 * ROPE_MAX_PAIRS];
    const int t = blockIdx.x;
    const uint32_t pos = pos_p[t];
    const int half_rot = p.rope_dim / 2;
    for (int i = threadIdx.x; i < half_rot; i += blockDim.x) {
        if (p.cs_table) {
            cs[2 * i] = p.cs_table[(size_t)pos * 2 * half_rot + 2 * i];
            cs[2 * i + 1] = p.cs_table[(size_t)pos * 2 * half_rot + 2 * i + 1];
            continue;
        }
        double freq = pow((double)p.theta, -2.0 * i / p.rope_dim);
        if (p.freq_factors)
            freq /= p.freq_factors[i];
        double sd, cd;
        sincos((double)pos * p.pos_scale * freq, &sd, &cd);
        cs[2 * i] = (float)cd;
        cs[2 * i + 1] = (float)sd;
    }
    __syncthreads();
    float *q = qkv + (size_t)t * ld;
    float *k = q + p.n_heads * p.head_dim;
    const float *v = k + p.n_kv_heads * p.head_dim;
    const int n_pairs = (p.n_heads + p.n_kv_heads) * half_rot;
    for (int j = threadIdx.x; j < n_pairs; j += blockDim.x) {
        int head = j / half_rot, i = j % half_rot;
        float *x = q + head * p.head_dim; // q heads, then the k heads right after
        int i0 = p.neox ? i : 2 * i;
        int i1 = p.neox ? i + half_rot : 2 * i + 1;
        float c = cs[2 * i], sn = cs[2 * i + 1];
        float a = x[i0], b = x[i1];
        x[i0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, sn));
        x[i1] = __fadd_rn(__fmul_rn(a, sn), __fmul_rn(b, c));
    }
    __syncthreads(); // the rotated k, written by other threads, is read below
    if (pos >= (uint32_t)n_ctx)
        return;
    const int n_kv = p.n_kv_heads * p.head_dim;
    for (int j = threadIdx.x; j < n_kv; j += blockDim.x) {
        int h = j / p.head_dim, d = j % p.head_dim;
        size_t off = ((size_t)h * n_ctx + pos) * p.head_dim + d;
        kc[off] = __float2half_rn(k[j]);
        vc[off] = __float2half_rn(v[j]);
    }
}

extern "C" void prefill_rope_store(float *qkv, int ld, int n_tok, const uint32_t *pos,
                                   const struct ops_rope_params *p, uint16_t *k_cache,
                                   uint16_t *v_cache, int n_ctx, cudaStream_t s)
{
    prefill_rope_store_kernel<<<n_tok, 256, 0, s>>>(qkv, ld, pos, *p, (__half *)k_cache,
                                                    (__half *)v_cache, n_ctx);
}

// ---- attention (flash attention, tensor cores) ---------------------------------
// Block (token tile, kv head): the ATT_M query rows r = (token r / g, head
// r % g of the KV head) of tq = ATT_M / g consecutive tokens share every K/V
// tile, which is loaded once (cp.async, f16 straight from the cache) for all
// of them. Per tile of ATT_N positions:
//   S = Q K^T       wmma 16x16x16, f16 in, f32 accumulate; 8 warps = 4 row
//                   groups of 16 x 2 halves of the tile's positions
//   online softmax  f32 on CUDA cores, a warp per 8 rows; P = exp2(S - m)
//   O = O a + P V   wmma; O stays in registers: each warp owns 16 rows x
//                   half of head_dim, rescaled per row through a map of the
//                   accumulator fragment's elements to (row, col), read once
//                   from a fragment loaded with the values r * 16 + c
// q (pre-scaled by log2(e) / sqrt(hd)) and P are each split into two f16
// terms (hi = f16(x), lo = f16(x - hi)), K and V are f16 already: the
// products carry ~22 bits, so the result matches the f32 CPU reference to
// ~5e-7 instead of the ~2.5e-4 of plain f16 operands (both measured in a
// host emulation of this kernel), for 2x the MMA work (PREFILL_ATTN_SPLIT,
// prefill.h).
// Causality: position c is masked for a row whose token sits at pos < c;
// tiles run up to the block's largest position; rows of the last tile past
// it read zeros (cp.async zero-fill), never stale cache.
// Expected speed (H100, an estimate until measured): wmma fed from shared
// memory (fragments and S/P round trips), ~100 TFLOP/s of useful work,
// ~0.7 ms per Llama-8B layer for 512 tokens at ctx 8192; a register-only
// mma.sync / wgmma version (FA2/FA3) would be several times faster (v2).
#define ATT_M 64       // query rows per block (tokens x g)
#define ATT_N 64       // positions per K/V tile
#define ATT_THREADS 256
#define ATT_LDS (ATT_N + 4) // S row stride, floats
#define ATT_LDP (ATT_N + 8) // P row stride, halves

namespace wmma = nvcuda::wmma;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> att_frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> att_frag_kt;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> att_frag_v;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> att_frag_c;

// Shared memory of a block, byte offsets (each 128-byte aligned: wmma wants
// 32). Rows of Q, K, V are head_dim + 8 halves: the 16-byte skew spreads a
// fragment's 8 row reads over all banks.
struct att_layout {
    int ldh;
    size_t q_hi, q_lo, k, v, s, p_hi, p_lo, alpha, l, rpos, map, total;
};

static __host__ __device__ __forceinline__ att_layout att_layout_of(int hd)
{
    att_layout a;
    a.ldh = hd + 8;
    size_t qb = (size_t)ATT_M * a.ldh * 2, kb = (size_t)ATT_N * a.ldh * 2;
    size_t pb = (size_t)ATT_M * ATT_LDP * 2;
    a.q_hi = 0;
    a.q_lo = a.q_hi + qb;
    a.k = a.q_lo + (PREFILL_ATTN_SPLIT ? qb : 0);
    a.v = a.k + kb;
    a.s = a.v + kb;
    a.p_hi = a.s + (size_t)ATT_M * ATT_LDS * 4;
    a.p_lo = a.p_hi + pb;
    a.alpha = a.p_lo + (PREFILL_ATTN_SPLIT ? pb : 0);
    a.l = a.alpha + ATT_M * 4;
    a.rpos = a.l + ATT_M * 4;
    a.map = a.rpos + ATT_M * 4; // 768 past a 128-aligned offset: 128-aligned
    a.total = a.map + 256 * 4;
    return a;
}

static __device__ __forceinline__ void pf_cp_async16(void *smem, const void *gmem, int src_bytes)
{
    uint32_t sa = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(gmem),
                 "r"(src_bytes)
                 : "memory");
}

static __device__ __forceinline__ void pf_cp_async_wait_all()
{
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// NF: O fragments per warp, ceil(hd / 32) (the two warps of a row group
// take the 16-column slices f = wd, wd + 2, ...).
template <int NF>
__global__ void __launch_bounds__(ATT_THREADS, NF <= 4 ? 2 : 1)
prefill_attn_tc_kernel(float *out, const float *qkv, int ld, int n_tok, const uint32_t *pos,
                       const __half *kc, const __half *vc, int n_ctx, int n_heads, int n_kv,
                       int hd)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const att_layout L = att_layout_of(hd);
    __half *q_hi = (__half *)(smem + L.q_hi), *q_lo = (__half *)(smem + L.q_lo);
    __half *ks = (__half *)(smem + L.k), *vs = (__half *)(smem + L.v);
    float *S = (float *)(smem + L.s);
    __half *p_hi = (__half *)(smem + L.p_hi), *p_lo = (__half *)(smem + L.p_lo);
    float *alpha_s = (float *)(smem + L.alpha), *l_s = (float *)(smem + L.l);
    int *rpos = (int *)(smem + L.rpos);
    float *map = (float *)(smem + L.map);
    const int ldh = L.ldh;

    const int g = n_heads / n_kv, tq = ATT_M / g;
    const int kvh = blockIdx.y;
    const int t0 = (gridDim.x - 1 - blockIdx.x) * tq; // longest (latest) tiles first
    const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP;
    const int rg = warp & 3, wd = warp >> 2; // row group of 16, half
    const int n_df = hd / 16;

    // rows past the chunk take the first token's position (no empty row:
    // position 0 is always allowed) and q = 0; they are never stored
    if (tid < ATT_M) {
        int r_tok = tid / g, t = t0 + r_tok;
        rpos[tid] = (int)pos[(r_tok < tq && t < n_tok) ? t : t0];
    }
    for (int i = tid; i < 256; i += ATT_THREADS)
        map[i] = (float)i;
    const float qscale = 1.4426950408889634f / sqrtf((float)hd);
    for (int i = tid; i < ATT_M * hd; i += ATT_THREADS) {
        int r = i / hd, d = i % hd, r_tok = r / g, t = t0 + r_tok;
        float x = 0.0f;
        if (r_tok < tq && t < n_tok)
            x = qkv[(size_t)t * ld + (size_t)(kvh * g + r % g) * hd + d] * qscale;
        __half h = __float2half_rn(x);
        q_hi[r * ldh + d] = h;
        if (PREFILL_ATTN_SPLIT)
            q_lo[r * ldh + d] = __float2half_rn(x - __half2float(h));
    }
    __syncthreads();
    int pmax = 0;
    for (int r = 0; r < ATT_M; r++)
        pmax = max(pmax, rpos[r]);
    // which (row, col) of a 16x16 tile each accumulator element holds
    att_frag_c mf;
    wmma::load_matrix_sync(mf, map, 16, wmma::mem_row_major);
    int fmap[att_frag_c::num_elements]; // row * 16 + col
#pragma unroll
    for (int e = 0; e < att_frag_c::num_elements; e++)
        fmap[e] = (int)mf.x[e];

    att_frag_c o[NF];
#pragma unroll
    for (int i = 0; i < NF; i++)
        wmma::fill_fragment(o[i], 0.0f);
    float m_run[8], l_run[8]; // rows warp * 8 + k: max (log2 units), lane's share of the sum
#pragma unroll
    for (int k = 0; k < 8; k++) {
        m_run[k] = -INFINITY;
        l_run[k] = 0.0f;
    }
    const __half *kbase = kc + (size_t)kvh * n_ctx * hd, *vbase = vc + (size_t)kvh * n_ctx * hd;
    const int chunks = hd / 8; // 16-byte pieces per row

    for (int c0 = 0; c0 <= pmax; c0 += ATT_N) {
        __syncthreads(); // the previous tile's K, V, P are no longer read
        for (int i = tid; i < ATT_N * chunks; i += ATT_THREADS) {
            int r = i / chunks, c = i % chunks, p = c0 + r;
            int ok = p <= pmax;
            size_t off = ok ? (size_t)p * hd + c * 8 : 0;
            pf_cp_async16(ks + r * ldh + c * 8, kbase + off, ok ? 16 : 0);
            pf_cp_async16(vs + r * ldh + c * 8, vbase + off, ok ? 16 : 0);
        }
        pf_cp_async_wait_all();
        __syncthreads();

        // S (rows rg*16.., positions wd*32..+32) = Q K^T
        {
            att_frag_c sf[2];
            wmma::fill_fragment(sf[0], 0.0f);
            wmma::fill_fragment(sf[1], 0.0f);
            for (int k0 = 0; k0 < hd; k0 += 16) {
                att_frag_a ah, al;
                wmma::load_matrix_sync(ah, q_hi + rg * 16 * ldh + k0, ldh);
                if (PREFILL_ATTN_SPLIT)
                    wmma::load_matrix_sync(al, q_lo + rg * 16 * ldh + k0, ldh);
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    att_frag_kt kf;
                    wmma::load_matrix_sync(kf, ks + (wd * 32 + j * 16) * ldh + k0, ldh);
                    wmma::mma_sync(sf[j], ah, kf, sf[j]);
                    if (PREFILL_ATTN_SPLIT)
                        wmma::mma_sync(sf[j], al, kf, sf[j]);
                }
            }
#pragma unroll
            for (int j = 0; j < 2; j++)
                wmma::store_matrix_sync(S + rg * 16 * ATT_LDS + wd * 32 + j * 16, sf[j], ATT_LDS,
                                        wmma::mem_row_major);
        }
        __syncthreads();

        // online softmax, warp w: rows 8w..8w+7, lane: positions lane, lane+32
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int r = warp * 8 + k, pr = rpos[r];
            float x0 = c0 + lane <= pr ? S[r * ATT_LDS + lane] : -INFINITY;
            float x1 = c0 + lane + 32 <= pr ? S[r * ATT_LDS + lane + 32] : -INFINITY;
            float mn = fmaxf(m_run[k], warp_max(fmaxf(x0, x1))); // finite: tile 0 has position 0
            float a = exp2f(m_run[k] - mn);
            float e0 = exp2f(x0 - mn), e1 = exp2f(x1 - mn);
            l_run[k] = l_run[k] * a + (e0 + e1);
            m_run[k] = mn;
            __half h0 = __float2half_rn(e0), h1 = __float2half_rn(e1);
            p_hi[r * ATT_LDP + lane] = h0;
            p_hi[r * ATT_LDP + lane + 32] = h1;
            if (PREFILL_ATTN_SPLIT) {
                p_lo[r * ATT_LDP + lane] = __float2half_rn(e0 - __half2float(h0));
                p_lo[r * ATT_LDP + lane + 32] = __float2half_rn(e1 - __half2float(h1));
            }
            if (lane == 0)
                alpha_s[r] = a;
        }
        __syncthreads();

        // O (rows rg*16.., columns 16 f) = O * alpha + P V
#pragma unroll
        for (int i = 0; i < NF; i++) {
            if (wd + 2 * i < n_df) {
#pragma unroll
                for (int e = 0; e < att_frag_c::num_elements; e++)
                    o[i].x[e] *= alpha_s[rg * 16 + (fmap[e] >> 4)];
            }
        }
#pragma unroll 1
        for (int k0 = 0; k0 < ATT_N; k0 += 16) {
            att_frag_a ph, pl;
            wmma::load_matrix_sync(ph, p_hi + rg * 16 * ATT_LDP + k0, ATT_LDP);
            if (PREFILL_ATTN_SPLIT)
                wmma::load_matrix_sync(pl, p_lo + rg * 16 * ATT_LDP + k0, ATT_LDP);
#pragma unroll
            for (int i = 0; i < NF; i++) {
                int f = wd + 2 * i;
                if (f < n_df) {
                    att_frag_v vf;
                    wmma::load_matrix_sync(vf, vs + k0 * ldh + f * 16, ldh);
                    wmma::mma_sync(o[i], ph, vf, o[i]);
                    if (PREFILL_ATTN_SPLIT)
                        wmma::mma_sync(o[i], pl, vf, o[i]);
                }
            }
        }
    }

#pragma unroll
    for (int k = 0; k < 8; k++) {
        float l = warp_sum(l_run[k]);
        if (lane == 0)
            l_s[warp * 8 + k] = l;
    }
    __syncthreads();
    const size_t out_ld = (size_t)n_heads * hd;
#pragma unroll
    for (int i = 0; i < NF; i++) {
        int f = wd + 2 * i;
        if (f >= n_df)
            continue;
#pragma unroll
        for (int e = 0; e < att_frag_c::num_elements; e++) {
            int r = rg * 16 + (fmap[e] >> 4), r_tok = r / g, t = t0 + r_tok;
            if (r_tok < tq && t < n_tok)
                out[(size_t)t * out_ld + (size_t)(kvh * g + r % g) * hd + f * 16 + (fmap[e] & 15)] =
                    o[i].x[e] / l_s[r];
        }
    }
}

// ---- attention, plain f32 (head_dim not a multiple of 16) ------------------------
// Block (query head, token), a thread per position of a 256-position tile
// for the scores and a thread per dimension for the weighted sum of V; the
// tiny test models' heads (hd 8) only, so made simple, not fast.
#define ATT_SIMPLE_TILE 256

__global__ void prefill_attn_simple_kernel(float *out, const float *qkv, int ld,
                                           const uint32_t *pos, const __half *kc,
                                           const __half *vc, int n_ctx, int n_heads, int n_kv,
                                           int hd)
{
    __shared__ float qs[256], sc[ATT_SIMPLE_TILE];
    const int h = blockIdx.x, t = blockIdx.y, g = n_heads / n_kv;
    const int n = (int)pos[t] + 1;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int d = threadIdx.x; d < hd; d += blockDim.x)
        qs[d] = qkv[(size_t)t * ld + (size_t)h * hd + d];
    __syncthreads();
    const __half *kb = kc + (size_t)(h / g) * n_ctx * hd, *vb = vc + (size_t)(h / g) * n_ctx * hd;
    float m = -INFINITY, l = 0.0f, acc = 0.0f;
    for (int c0 = 0; c0 < n; c0 += ATT_SIMPLE_TILE) {
        int len = min(ATT_SIMPLE_TILE, n - c0), i = threadIdx.x;
        float s = -INFINITY;
        if (i < len) {
            const __half *kr = kb + (size_t)(c0 + i) * hd;
            float dot = 0.0f;
            for (int d = 0; d < hd; d++)
                dot += qs[d] * __half2float(kr[d]);
            s = dot * scale;
        }
        float mn = fmaxf(m, prefill_block_reduce(s, 1));
        float a = expf(m - mn), e = i < len ? expf(s - mn) : 0.0f;
        sc[i] = e;
        l = l * a + prefill_block_reduce(e, 0); // syncs: sc[] is complete after it
        m = mn;
        if (threadIdx.x < hd) {
            acc *= a;
            for (int j = 0; j < len; j++)
                acc += sc[j] * __half2float(vb[(size_t)(c0 + j) * hd + threadIdx.x]);
        }
        __syncthreads(); // sc[] is rewritten by the next tile
    }
    if (threadIdx.x < hd)
        out[(size_t)t * n_heads * hd + (size_t)h * hd + threadIdx.x] = acc / l;
}

template <int NF>
static void att_launch(dim3 grid, size_t smem, float *out, const float *qkv, int ld, int n_tok,
                       const uint32_t *pos, const __half *kc, const __half *vc, int n_ctx,
                       int n_heads, int n_kv, int hd, cudaStream_t s)
{
    // above 48 KiB dynamic shared memory must be opted into (legal during
    // graph capture: not a stream operation)
    cudaFuncSetAttribute(prefill_attn_tc_kernel<NF>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         (int)smem);
    prefill_attn_tc_kernel<NF><<<grid, ATT_THREADS, smem, s>>>(out, qkv, ld, n_tok, pos, kc, vc,
                                                               n_ctx, n_heads, n_kv, hd);
}

extern "C" int prefill_attention(float *out, const float *qkv, int ld, int n_tok,
                                 const uint32_t *pos, const uint16_t *k_cache,
                                 const uint16_t *v_cache, int n_ctx, int n_heads,
                                 int n_kv_heads, int hd, cudaStream_t s)
{
    if (n_kv_heads <= 0 || n_heads % n_kv_heads || n_heads / n_kv_heads > ATT_M || hd <= 0 ||
        hd > 256)
        return -1;
    if (n_tok <= 0)
        return 0;
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    if (hd % 16) {
        dim3 grid(n_heads, n_tok);
        prefill_attn_simple_kernel<<<grid, ATT_SIMPLE_TILE, 0, s>>>(out, qkv, ld, pos, kc, vc,
                                                                    n_ctx, n_heads, n_kv_heads, hd);
        return 0;
    }
    int tq = ATT_M / (n_heads / n_kv_heads);
    dim3 grid((n_tok + tq - 1) / tq, n_kv_heads);
    size_t smem = att_layout_of(hd).total;
    if (hd <= 64)
        att_launch<2>(grid, smem, out, qkv, ld, n_tok, pos, kc, vc, n_ctx, n_heads, n_kv_heads, hd, s);
    else if (hd <= 128)
        att_launch<4>(grid, smem, out, qkv, ld, n_tok, pos, kc, vc, n_ctx, n_heads, n_kv_heads, hd, s);
    else
        att_launch<8>(grid, smem, out, qkv, ld, n_tok, pos, kc, vc, n_ctx, n_heads, n_kv_heads, hd, s);
    return 0;
}
