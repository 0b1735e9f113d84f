// gemv_common.cuh - what every generated dequant+GEMV kernel shares: the
// f16/bf16/byte conversions, the warp reduction, the cp.async staging and
// the kernel skeleton gemv_body that each instance (gen/gemv_*.cu.m4)
// specializes with a decoder and its compile-time shape.
//
// y[r] = sum_c W[r, c] * x[c] for r < ROWS, c < COLS. W is ROWS rows of
// ggml_row_size(type, COLS) bytes laid end to end (GGUF ne[0] = COLS), x and
// y are f32.
//
// How it is meant to be fast (decode is one pass over the weights, so the
// only goal is to stream W at HBM speed and hide everything else under it):
//   - a block owns NR consecutive rows; its WPB warps split the columns;
//   - a warp stages one step (G * 256 columns of each of its NR rows) into
//     shared memory with 16-byte cp.async copies of the 16-byte words that
//     cover the step: every weight byte is fetched from HBM once, in full
//     16-byte transactions, whatever the block size (18, 34, 84, 110, 210
//     bytes are not 16-byte multiples, so a row or a step may start anywhere
//     in a word: the word is copied whole and the decoder starts at the
//     byte offset); STAGES steps are in flight per warp;
//   - lane l decodes elements 8l..8l+7 of each 256-element group from
//     shared memory and multiplies them with x, which it loads as two
//     float4 (32 lanes read 1 KiB contiguous: coalesced, L1-resident since
//     every warp of the SM reads the same x). Those 8 x values serve the
//     NR rows, so x costs 4/NR bytes of L1 traffic per weight.
//   - decoded values are exact floats (integer codes 0..255 become floats
//     by the 2^23 trick: one byte permute and one add, no I2F, which runs at
//     a quarter of the FMA rate); products accumulate in f32 FMAs.
//   - no dequantized copy is ever written; the only store is y.
//
// That is the staged path (v3), which every type has. Where a type has a
// register decoder and the row length is a multiple of 1024 (every Llama shape),
// the register path replaces it (gemv_path, below): lanes load their own
// words into registers, no shared memory; v4 splits a row group's steps
// over a block's warps, v5 gives a warp whole row groups (the Q6_K down
// projection); Q4_K rounds x to int8 per warp and step and sums dp4a
// products (gemv_rx_prep), v5's blocks round x once into shared memory
// (gemv_xq_fill) for Q6_K. The epilogue (gemv_epi.cuh) folds the ops around a
// projection into the kernel's end; kernels/pdl.cuh lets consecutive
// kernels overlap. bench/NOTES.md has the measurements behind each choice.
//
// Every decoder is __host__ __device__ so that gemv_emulate (the same
// staging and lane loop run on the CPU) can check the index arithmetic on
// a machine without a GPU.
#ifndef STRATA_GEMV_COMMON_CUH
#define STRATA_GEMV_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

// quant.h is C11: its _Static_assert is not a C++ keyword.
#if defined(__cplusplus) && !defined(_Static_assert)
#define _Static_assert static_assert
#endif
#include "quant.h"
#include "half.h"
#include "convert.cuh"
#include "cp_async.cuh"
#include "gemv_epi.cuh"
#include "pdl.cuh"

#define GEMV_HD static __host__ __device__ __forceinline__

// #pragma unroll where the device compiler sees it (gcc warns on it in the
// host pass of __host__ __device__ code).
#ifdef __CUDA_ARCH__
#define GEMV_UNROLL _Pragma("unroll")
#else
#define GEMV_UNROLL
#endif

// ---- conversions (cv_as_float, cv_f16: convert.cuh, shared with prefill.cu)

// Byte i (0..3) of w as an exact float minus bias: 2^23 + byte is
// representable exactly, so (0x4B000000 | byte) - (2^23 + bias) is exact
// for any byte value and integer bias < 256. One PRMT and one FADD.
template <int I>
GEMV_HD float gemv_byte(uint32_t w, float bias_2p23)
{
#ifdef __CUDA_ARCH__
    uint32_t u = __byte_perm(w, 0x4B000000u, 0x7440 + I);
#else
    uint32_t u = 0x4B000000u | ((w >> (8 * I)) & 0xFF);
#endif
    return cv_as_float(u) - bias_2p23;
}
#define GEMV_BIAS(b) (8388608.0f + (float)(b))

// sum_i (byte_i - bias) * x[i], i = 0..7 (q0 bytes 0..3, q1 bytes 4..7), any
// byte values (Q8_0): three instructions per element.
GEMV_HD float gemv_dot_bytes(uint32_t q0, uint32_t q1, const float *x, float bias)
{
    float s = 0.0f;
    s = fmaf(gemv_byte<0>(q0, bias), x[0], s);
    s = fmaf(gemv_byte<1>(q0, bias), x[1], s);
    s = fmaf(gemv_byte<2>(q0, bias), x[2], s);
    s = fmaf(gemv_byte<3>(q0, bias), x[3], s);
    s = fmaf(gemv_byte<0>(q1, bias), x[4], s);
    s = fmaf(gemv_byte<1>(q1, bias), x[5], s);
    s = fmaf(gemv_byte<2>(q1, bias), x[6], s);
    s = fmaf(gemv_byte<3>(q1, bias), x[7], s);
    return s;
}


// Codes b < 128 (every format but Q8_0): byte I of w placed as the float
// bits [0, 0, b, 0x3F] is exactly 0.5 + b / 256 (one PRMT, no FADD):
// the 7 code bits land at the top of the mantissa, the exponent is 2^-1.
template <int I>
GEMV_HD float gemv_code(uint32_t w)
{
#ifdef __CUDA_ARCH__
    uint32_t u = __byte_perm(w, 0x3F000000u, 0x7044 + (I << 8));
#else
    uint32_t u = 0x3F000000u | (((w >> (8 * I)) & 0xFF) << 16);
#endif
    return cv_as_float(u);
}

// sum_i (b_i - bias) * x[i] over the 8 codes b_i < 128 in the bytes of q0
// (elements 0..3) and q1 (4..7); xs = x[0] + ... + x[7].
// With f_i = 0.5 + b_i / 256: sum b_i x_i = 256 sum f_i x_i - 128 xs. Two
// FMAs per element (PRMT, FFMA); the cancellation against 128 xs costs
// about 5 bits (f_i is at least 0.5, b_i / 256 at most 0.5), far inside
// the 1e-3 bound: measured rel. error ~1e-6 instead of ~1e-7. Two
// accumulators halve the dependent FMA chain.
GEMV_HD float gemv_dot_codes(uint32_t q0, uint32_t q1, const float *x, float xs, float bias)
{
    float s0 = gemv_code<0>(q0) * x[0];
    float s1 = gemv_code<1>(q0) * x[1];
    s0 = fmaf(gemv_code<2>(q0), x[2], s0);
    s1 = fmaf(gemv_code<3>(q0), x[3], s1);
    s0 = fmaf(gemv_code<0>(q1), x[4], s0);
    s1 = fmaf(gemv_code<1>(q1), x[5], s1);
    s0 = fmaf(gemv_code<2>(q1), x[6], s0);
    s1 = fmaf(gemv_code<3>(q1), x[7], s1);
    return fmaf(256.0f, s0 + s1, -(128.0f + bias) * xs);
}

// Bits 0..3 of b spread to bit 0 of bytes 0..3 (b * 0x00204081 puts bit k
// at 8k + (bits above, masked off)).
GEMV_HD uint32_t gemv_spread4(uint32_t b)
{
    return ((b & 0xF) * 0x00204081u) & 0x01010101u;
}

// ---- reads from a staged step (shared memory, or host memory in the
// emulator). Staged buffers are padded so a read may run 4 bytes past. ----

GEMV_HD uint32_t gemv_ld16(const uint8_t *p) // p 2-byte aligned
{
    return *(const uint16_t *)p;
}

GEMV_HD uint32_t gemv_ld32(const uint8_t *p) // any alignment
{
#ifdef __CUDA_ARCH__
    unsigned mis = (unsigned)((uintptr_t)p & 3);
    const uint32_t *a = (const uint32_t *)(p - mis);
    return __funnelshift_r(a[0], a[1], 8 * mis);
#else
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#endif
}

GEMV_HD uint2 gemv_ld64(const uint8_t *p) // any alignment
{
#ifdef __CUDA_ARCH__
    unsigned mis = (unsigned)((uintptr_t)p & 3);
    const uint32_t *a = (const uint32_t *)(p - mis);
    uint32_t a0 = a[0], a1 = a[1], a2 = a[2];
    return make_uint2(__funnelshift_r(a0, a1, 8 * mis), __funnelshift_r(a1, a2, 8 * mis));
#else
    uint2 v;
    memcpy(&v.x, p, 4);
    memcpy(&v.y, p + 4, 4);
    return v;
#endif
}

// The target GPU's multiprocessors: gen/gemv-instances.sh defines it from the
// plan (the profile's gpu_sms); the test instances take the H100 SXM's.
#ifndef GEMV_SMS
#define GEMV_SMS 132
#endif

// Tuning knobs (defaults measured on the H100, bench/NOTES.md); the
// test build may override them with -D to compare variants.
#ifndef GEMV_NR
#define GEMV_NR 0 // rows per block (x reuse); 0: by type, see gemv_cfg
#endif
#ifndef GEMV_WPB
#define GEMV_WPB 4 // warps per block when blocks are plentiful
#endif
#ifndef GEMV_RG_WPS
// warps a row group where a block has several (gemv_rcfg RG; 0: as
// without): 1 holds the Q6_K wo of an 8B (4 groups of 4 rows, 4 steps) in
// 128 threads at 156 registers, three blocks an SM, one wave; 4 would
// take 512 threads, one block an SM, and spill at the 128 registers left
#define GEMV_RG_WPS 1
#endif
#ifndef GEMV_WPB_EVEN
#define GEMV_WPB_EVEN 1 // warps per block: a divisor of the steps where one is near
#endif
#ifndef GEMV_STAGE_BYTES
#define GEMV_STAGE_BYTES 8192 // staging bytes per warp
#endif

// Programmatic dependent launch (kernels/pdl.cuh): every GEMV calls
// pdl_release at its start and reads only its weights before pdl_wait.

// ---- which weight rows a block reads ----------------------------------------
// A block owns H output rows from out0 = block * H and reads NR weight rows:
// the H rows themselves (NR = H), or, for a SwiGLU pair, H rows of the gate
// matrix and the same H rows of the up matrix right after it (NR = 2H;
// the gate matrix has ROWS rows). row(i, nvalid) is weight row i's offset
// in rows from row out0; rows past the end (the last block of a shape whose
// ROWS is not a multiple of H) re-read row out0: valid memory, results not
// stored.
template <int NR, int ROWS, bool PAIR>
struct gemv_rowmap {
    static_assert(!PAIR || NR % 2 == 0, "gemv: a pair needs an even row count");
    static const int H = PAIR ? NR / 2 : NR;
    static const int BLOCKS = (ROWS + H - 1) / H;
    GEMV_HD int row(int i, int nvalid)
    {
        const int k = PAIR ? i % H : i;
        return k < nvalid ? k + (PAIR && i >= H ? ROWS : 0) : 0;
    }
};

// Warps per block for NSTEP column steps, at most w0: a warp takes steps
// warp, warp + WPB, ...; with WPB not dividing NSTEP some warps take one
// step more and the rest idle (the 14 steps of a 14336-column row over 8
// warps: 6 take 2, 2 take 1). The largest divisor of NSTEP from w0 / 2 up
// to w0, else w0 (and never more warps than steps).
constexpr int gemv_even_wpb(int w0, int nstep)
{
    int w = w0 > nstep ? nstep : w0;
    if (!GEMV_WPB_EVEN)
        return w;
    for (int d = w; 2 * d >= w; d--)
        if (nstep % d == 0)
            return d;
    return w;
}

// Physical rows of a GEMV (the config's row-count heuristics see these).
#define GEMV_PHYS_ROWS(ROWS, PAIR) ((PAIR) ? 2 * (ROWS) : (ROWS))

// ---- the launch shape, a pure function of (decoder, ROWS, COLS, PAIR) -------
//
// A decoder D gives BYTES (bytes of 256 consecutive elements of a row) and
// dot8(group, lane, x8, xsum): the sum over e = 8*lane .. 8*lane+7 of
// W[e] * x8[e - 8*lane] for the 256-element group at `group`; xsum =
// x8[0] + ... + x8[7] (formats with an offset use it, once for NR rows).
template <class D, int ROWS, int COLS, bool PAIR = false>
struct gemv_cfg {
    static_assert(COLS % 256 == 0, "gemv: COLS must be a multiple of 256");
    // Rows per block: formats under 1 byte per element are issue-bound,
    // and more rows per x load help them (Q4_K +4 points at NR = 8);
    // Q8_0 and the float types lose with 8 (bench/NOTES.md, v2).
    static const int NR = GEMV_NR ? GEMV_NR : D::BYTES < 256 ? 8 : 4;
    typedef gemv_rowmap<NR, ROWS, PAIR> M;
    static const int G = (COLS / 256) % 2 == 0 ? 2 : 1;    // 256-groups per step
    static const int NSTEP = COLS / (256 * G);              // steps per row
    static const int RB = COLS / 256 * D::BYTES;            // bytes per row
    static const int CB = G * D::BYTES;                     // bytes per row-step
    static const int CW = CB / 16 + 2;                      // 16-byte words covering a row-step
    static const int SLOT = NR * CW + 1;                    // words per stage (+1: over-read pad)
    static const int ST0 = GEMV_STAGE_BYTES / (SLOT * 16);  // about 8 KiB of stages per warp
    static const int STAGES = ST0 < 2 ? 2 : ST0 > 4 ? 4 : ST0;
    static const int BLOCKS = M::BLOCKS;
    // Fewer than 8 blocks per SM: split the columns
    // over more warps so enough bytes are in flight.
    static const int WPB0 = BLOCKS < GEMV_SMS * 8 ? 2 * GEMV_WPB : GEMV_WPB;
    static const int WPB = gemv_even_wpb(WPB0, NSTEP);     // warps per block
    static const int THREADS = 32 * WPB;
    static const size_t SMEM = (size_t)WPB * STAGES * SLOT * 16;
};

// Byte offset in W of row r, step s.
template <class C>
GEMV_HD uint64_t gemv_step_byte(int r, int s)
{
    return (uint64_t)r * C::RB + (uint64_t)s * C::CB;
}

// The block's end: each warp reduces its lanes' sums acc[NR] into
// part[warp][NR]; warp 0 adds the warps' rows and runs the epilogue. RG
// row groups of NR rows (not pairs): warps [g WPS, (g + 1) WPS) hold group
// g, whose rows are lanes [g NR, (g + 1) NR) of the epilogue (H = RG NR).
template <int NR, int WPB, int H, bool PAIR, int ROWS, int RG = 1>
__device__ __forceinline__ void gemv_block_end(const float *acc, float (*part)[NR], float *y,
                                               const gemv_epi &e, const gemv_epi_in &p, int bid)
{
    static_assert(RG == 1 || (!PAIR && H == RG * NR && H <= 32 && WPB % RG == 0), "gemv: row groups");
GEMV_UNROLL
    for (int i = 0; i < NR; i++) {
        float v = warp_sum(acc[i]);
        if ((threadIdx.x & 31) == 0)
            part[threadIdx.x >> 5][i] = v;
    }
    __syncthreads();
    if (threadIdx.x >= 32)
        return;
    const int lane = threadIdx.x;
    float v = 0.0f;
    if (lane < RG * NR) {
        const int WPS = WPB / RG, g = lane / NR, i = lane % NR;
GEMV_UNROLL
        for (int k = 0; k < WPS; k++)
            v += part[g * WPS + k][i];
    }
    gemv_epilogue(v, lane, H, PAIR, bid * H, ROWS, y, e, p, bid);
}

// ---- the kernel skeleton ---------------------------------------------------
// grid: C::BLOCKS; block: C::THREADS; dynamic shared memory: C::SMEM.
// w must be 16-byte aligned and readable up to the next 16-byte boundary
// past its last byte (the arena rounds every tensor up to 256 bytes).
// Not static (nor gemv_body_reg): the __shared__ array of a static function
// gets a name hashed from the absolute source path, and the same checkout
// built in two directories would give two different binaries.
template <class D, int ROWS, int COLS, bool PAIR>
__device__ __forceinline__ void gemv_body(const uint8_t *__restrict__ w,
                                                 const float *__restrict__ x,
                                                 float *__restrict__ y, const gemv_epi &e, const int bid)
{
    typedef gemv_cfg<D, ROWS, COLS, PAIR> C;
    typedef typename C::M M;
    extern __shared__ uint4 gemv_smem[];
    __shared__ float part[C::WPB][C::NR];

    pdl_release();
    pdl_wait();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int out0 = bid * M::H;
    gemv_epi_in pin = {};
    if (warp == 0) // the whole warp: gemv_epi_scale shuffles
        pin = gemv_epi_load(lane, M::H, out0, ROWS, e, gemv_epi_scale(e, COLS, lane));
    const int nvalid = ROWS - out0 < M::H ? ROWS - out0 : M::H;
    uint4 *stage = gemv_smem + warp * C::STAGES * C::SLOT;
    const uint4 *w16 = (const uint4 *)w;
    // This warp's steps: warp, warp + WPB, ...; j counts them.
    const int nmine = warp < C::NSTEP ? (C::NSTEP - 1 - warp) / C::WPB + 1 : 0;

    float acc[C::NR];
GEMV_UNROLL
    for (int i = 0; i < C::NR; i++)
        acc[i] = 0.0f;

    // Stage step j of this warp into slot j % STAGES (one commit group per
    // step, empty past the end, so that wait_group counts stay uniform).
    auto issue = [&](int j) {
        if (j < nmine) {
            const int s = warp + j * C::WPB;
            uint4 *dst = stage + (j % C::STAGES) * C::SLOT;
            for (int t = lane; t < C::NR * C::CW; t += 32) {
                const int i = t / C::CW, k = t - i * C::CW;
                const uint64_t a = gemv_step_byte<C>(out0 + M::row(i, nvalid), s);
                const uint64_t first = a >> 4, last = (a + C::CB - 1) >> 4;
                if (first + k <= last)
                    cp_async16(dst + t, w16 + first + k);
            }
        }
        cp_async_commit();
    };

GEMV_UNROLL
    for (int j = 0; j < C::STAGES - 1; j++)
        issue(j);

    for (int j = 0; j < nmine; j++) {
        issue(j + C::STAGES - 1);
        const int s = warp + j * C::WPB;

        // x for this step, loaded while the weights are in flight.
        float xv[C::G][8], xs[C::G];
GEMV_UNROLL
        for (int g = 0; g < C::G; g++) {
            const float4 *xp = (const float4 *)(x + (size_t)s * 256 * C::G + g * 256 + lane * 8);
            float4 a = __ldg(xp), b = __ldg(xp + 1);
            xv[g][0] = a.x; xv[g][1] = a.y; xv[g][2] = a.z; xv[g][3] = a.w;
            xv[g][4] = b.x; xv[g][5] = b.y; xv[g][6] = b.z; xv[g][7] = b.w;
            xs[g] = ((a.x + a.y) + (a.z + a.w)) + ((b.x + b.y) + (b.z + b.w));
        }

        cp_async_wait<C::STAGES - 1>();
        __syncwarp();
        const uint4 *slot = stage + (j % C::STAGES) * C::SLOT;
GEMV_UNROLL
        for (int i = 0; i < C::NR; i++) {
            const uint64_t a = gemv_step_byte<C>(out0 + M::row(i, nvalid), s);
            const uint8_t *rowb = (const uint8_t *)(slot + i * C::CW) + (a & 15);
GEMV_UNROLL
            for (int g = 0; g < C::G; g++)
                acc[i] += D::dot8(rowb + g * D::BYTES, lane, xv[g], xs[g]);
        }
        __syncwarp(); // the slot is refilled by the next iteration's issue
    }
    cp_async_wait<0>();

    gemv_block_end<C::NR, C::WPB, M::H, PAIR, ROWS>(acc, part, y, e, pin, bid);
    trace_end();
}

// A kernel's dynamic shared-memory limit raised to smem where it is over
// the default 48 KiB, once (*ready; the first launch is at start-up).
static inline int gemv_smem_limit(const void *kern, size_t smem, int *ready)
{
    if (*ready)
        return 0;
    if (smem > 48 * 1024 &&
        cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess)
        return -1;
    *ready = 1;
    return 0;
}

// Host side of one instance: raise the shared-memory limit once, launch.
template <class D, int ROWS, int COLS, bool PAIR>
static int gemv_run(void (*kern)(const uint8_t *, const float *, float *, gemv_epi),
                    const void *w, const float *x, float *y, const gemv_epi &e, cudaStream_t s)
{
    typedef gemv_cfg<D, ROWS, COLS, PAIR> C;
    static int ready;
    if (gemv_smem_limit((const void *)kern, C::SMEM, &ready))
        return -2;
    pdl_launch(kern, dim3(C::BLOCKS), dim3(C::THREADS), C::SMEM, s, e.pdl, (const uint8_t *)w, x, y, e);
    return 0;
}

// The emulators' output from the weight rows' sums v: y[r] = v[r], or for a
// pair silu(v[r]) * v[rows + r].
static inline void gemv_emulate_store(float *y, const double *v, int rows, bool pair)
{
    if (!pair) {
        for (int r = 0; r < rows; r++)
            y[r] = (float)v[r];
        return;
    }
    for (int r = 0; r < rows; r++) {
        float g = (float)v[r], u = (float)v[rows + r];
        y[r] = g / (1.0f + expf(-g)) * u;
    }
}

// The same computation on the CPU, block by block, warp by warp, lane by
// lane, with the same staging (whole 16-byte words, decoder at the byte
// offset): checks the decoders and the index arithmetic without a GPU.
// The sums are in a different order than the GPU's (lanes are added left
// to right), so results agree to rounding, not bit for bit.
template <class D, int ROWS, int COLS, bool PAIR>
static void gemv_emulate_body(const void *w, const float *x, float *y)
{
    typedef gemv_cfg<D, ROWS, COLS, PAIR> C;
    const uint8_t *w8 = (const uint8_t *)w;
    const int phys = GEMV_PHYS_ROWS(ROWS, PAIR);
    double *v = (double *)malloc(sizeof(double) * phys);
    uint4 buf[C::CW + 1];
    for (int r = 0; r < phys; r++) {
        double acc = 0.0;
        for (int s = 0; s < C::NSTEP; s++) {
            const uint64_t a = gemv_step_byte<C>(r, s);
            const uint64_t first = a >> 4, last = (a + C::CB - 1) >> 4;
            memset(buf, 0xA5, sizeof buf); // garbage where nothing is staged
            memcpy(buf, w8 + first * 16, (size_t)(last - first + 1) * 16);
            const uint8_t *rowb = (const uint8_t *)buf + (a & 15);
            for (int g = 0; g < C::G; g++)
                for (int lane = 0; lane < 32; lane++) {
                    const float *xp = x + (size_t)s * 256 * C::G + g * 256 + lane * 8;
                    float xs = ((xp[0] + xp[1]) + (xp[2] + xp[3])) + ((xp[4] + xp[5]) + (xp[6] + xp[7]));
                    acc += D::dot8(rowb + g * D::BYTES, lane, xp, xs);
                }
        }
        v[r] = acc;
    }
    gemv_emulate_store(y, v, ROWS, PAIR);
    free(v);
}


// ===========================================================================
// v4: the register path. Where a decoder family has one (gemv_reg_of<D>
// names its register decoder R) and COLS is a multiple of 1024, the
// kernel skips shared memory: every lane loads its own weight bytes
// straight into registers (16-byte ld.global.nc where the block layout is
// 16-byte aligned, 4-byte loads plus a funnel shift where it is not) and
// decodes them there.
//
//   - a step is 1024 columns of a row; lane l owns 32 of its elements, as
//     two runs of 16 (R::lane_init gives their offsets xa, xb in the step
//     and the lane's byte offsets in the step's weight bytes);
//   - a warp owns NR rows; per step it loads the NR rows' bytes (all
//     addresses are one 64-bit base + a 32-bit step offset + compile-time
//     immediates: row i at i * RB), the next step's bytes are loaded
//     before this step is decoded (registers double-buffer the stream);
//   - x: 8 float4 per lane per step (L1-resident, shared by the NR rows),
//     with the two 16-run sums for the offset terms;
//   - every per-lane index (shifts, selects, offsets) is computed once, in
//     lane_init, outside the step loop.
// The v3 analysis (bench/NOTES.md) put ~3 integer index instructions per
// useful one in the staged path; here the loop body is loads, nibble
// masks, PRMT + FFMA per element and a handful of scale operations per
// 16 elements.
//
// Register decoder R: STEP_BYTES (bytes of 1024 columns of a row), lane_t
// (per-lane constants, with int xa, xb), raw_t (one row-step's registers),
// nr(rows, nstep) (rows per warp, measured per type: bench/NOTES.md v4),
//   static lane_t lane_init(int lane);
//   static raw_t load(const uint8_t *step, const lane_t &);  // step: row + s * STEP_BYTES
//   static float dot(const raw_t &, const lane_t &, const float *xa16,
//                    const float *xb16, float sa, float sb);
// all __host__ __device__ so gemv_emulate runs the same lane code.

template <class D>
struct gemv_reg_of {
    typedef void type; // no register path: the staged v3 body
};

// 16 bytes, 16-byte aligned, used once: read-only path, not kept in L1.
GEMV_HD uint4 gemv_ldg16(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
#else
    uint4 v;
    memcpy(&v, p, 16);
    return v;
#endif
}

// 4 bytes, 4-byte aligned. Neighbouring lanes read overlapping 16-byte
// spans with several of these, so they go through L1 (__ldg).
GEMV_HD uint32_t gemv_ldg4(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
    return __ldg((const unsigned int *)p);
#else
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#endif
}

// (hi:lo) >> sh, sh in 0..32 (32 gives hi): the word at a byte offset
// that is not a multiple of 4.
GEMV_HD uint32_t gemv_funnel(uint32_t lo, uint32_t hi, uint32_t sh)
{
#ifdef __CUDA_ARCH__
    return __funnelshift_rc(lo, hi, sh);
#else
    uint64_t v = ((uint64_t)hi << 32 | lo) >> (sh > 32 ? 32 : sh);
    return (uint32_t)v;
#endif
}

// Exact small non-negative int -> float without I2F: 2^23 + v - 2^23.
GEMV_HD float gemv_u2f(uint32_t v)
{
    return cv_as_float(0x4B000000u | v) - 8388608.0f;
}

// sum_i (b_i - bias) * x[i] over 16 codes b_i < 128, 4 per word of q;
// xs = x[0] + ... + x[15]. Same 0.5 + b / 256 trick as gemv_dot_codes.
GEMV_HD float gemv_dot_codes16(uint32_t q0, uint32_t q1, uint32_t q2, uint32_t q3,
                               const float *x, float xs, float bias)
{
    float s0 = gemv_code<0>(q0) * x[0];
    float s1 = gemv_code<1>(q0) * x[1];
    s0 = fmaf(gemv_code<2>(q0), x[2], s0);
    s1 = fmaf(gemv_code<3>(q0), x[3], s1);
    s0 = fmaf(gemv_code<0>(q1), x[4], s0);
    s1 = fmaf(gemv_code<1>(q1), x[5], s1);
    s0 = fmaf(gemv_code<2>(q1), x[6], s0);
    s1 = fmaf(gemv_code<3>(q1), x[7], s1);
    s0 = fmaf(gemv_code<0>(q2), x[8], s0);
    s1 = fmaf(gemv_code<1>(q2), x[9], s1);
    s0 = fmaf(gemv_code<2>(q2), x[10], s0);
    s1 = fmaf(gemv_code<3>(q2), x[11], s1);
    s0 = fmaf(gemv_code<0>(q3), x[12], s0);
    s1 = fmaf(gemv_code<1>(q3), x[13], s1);
    s0 = fmaf(gemv_code<2>(q3), x[14], s0);
    s1 = fmaf(gemv_code<3>(q3), x[15], s1);
    return fmaf(256.0f, s0 + s1, -(128.0f + bias) * xs);
}

#ifndef GEMV_RNR
#define GEMV_RNR 0 // rows per warp on the register path; 0: R::nr(ROWS, NSTEP)
#endif

template <class R, int ROWS, int COLS, bool PAIR = false>
struct gemv_rcfg {
    static_assert(COLS % 1024 == 0, "gemv register path: COLS must be a multiple of 1024");
    static const int NR0 = GEMV_RNR ? GEMV_RNR : R::nr(GEMV_PHYS_ROWS(ROWS, PAIR), COLS / 1024);
    static const int NR = PAIR && NR0 % 2 ? NR0 + 1 : NR0;
    typedef gemv_rowmap<NR, ROWS, PAIR> M;
    static const int NSTEP = COLS / 1024;
    static const int RB = NSTEP * R::STEP_BYTES; // bytes per row
    // Row groups a block (R::rg; not for pairs): a block's H = RG * M::H
    // rows, so a decoder of few rows a warp can still end whole 16-runs
    // and round its output for the next GEMV (gemv_epi.xq_out)
    static const int RG = PAIR ? 1 : R::rg(GEMV_PHYS_ROWS(ROWS, PAIR), NSTEP);
    static const int H = RG * M::H;
    static_assert(RG == 1 || ROWS % H == 0, "gemv: row groups need whole blocks (no group past the end)");
    static const int BLOCKS = (ROWS + H - 1) / H;
    // Long rows (down projections) over fewer warps: each warp then streams
    // several steps, not one or two (Q4_K 4096x14336: 2 warps 16.9 us, 7
    // warps 20.3; bench/NOTES.md, session 11).
    static const int WPB0 = NSTEP >= 12 ? GEMV_WPB / 2 : M::BLOCKS < GEMV_SMS * 8 ? 2 * GEMV_WPB : GEMV_WPB;
    static const int WPS = gemv_even_wpb(RG > 1 && GEMV_RG_WPS ? GEMV_RG_WPS : WPB0, NSTEP); // warps a row group
    static const int WPB = RG * WPS;
    static const int THREADS = 32 * WPB;
    static const size_t SMEM = 0;
};

// x for one lane and step: two runs of 16 at xs + xa, xs + xb; their sums.
GEMV_HD void gemv_rx_load(const float *xs, int xa, int xb, float *va, float *vb, float &sa, float &sb)
{
GEMV_UNROLL
    for (int k = 0; k < 4; k++) {
#ifdef __CUDA_ARCH__
        float4 a = __ldg((const float4 *)(xs + xa) + k), b = __ldg((const float4 *)(xs + xb) + k);
#else
        float4 a, b;
        memcpy(&a, xs + xa + 4 * k, 16);
        memcpy(&b, xs + xb + 4 * k, 16);
#endif
        va[4 * k] = a.x; va[4 * k + 1] = a.y; va[4 * k + 2] = a.z; va[4 * k + 3] = a.w;
        vb[4 * k] = b.x; vb[4 * k + 1] = b.y; vb[4 * k + 2] = b.z; vb[4 * k + 3] = b.w;
    }
    float a0 = (va[0] + va[1]) + (va[2] + va[3]), a1 = (va[4] + va[5]) + (va[6] + va[7]);
    float a2 = (va[8] + va[9]) + (va[10] + va[11]), a3 = (va[12] + va[13]) + (va[14] + va[15]);
    float b0 = (vb[0] + vb[1]) + (vb[2] + vb[3]), b1 = (vb[4] + vb[5]) + (vb[6] + vb[7]);
    float b2 = (vb[8] + vb[9]) + (vb[10] + vb[11]), b3 = (vb[12] + vb[13]) + (vb[14] + vb[15]);
    sa = (a0 + a1) + (a2 + a3);
    sb = (b0 + b1) + (b2 + b3);
}

// ---- int8 activations with dp4a (Q4_K; GEMV_DP4A=0 turns it off) ----------
// x quantized per 16-run to int8 (d = max|x| / 127, q = round(x / d)), the
// 4-bit codes dotted with it four at a time (IDP4A) instead of a PRMT and
// an FFMA per element: about 1.5 instead of 2.5 instructions per weight,
// and the Q4_K gate|up pair 29.6 -> 25.8 us (bench/NOTES.md, session 11).
// Not exact: the rounding of x moves y by ~4e-3 relative (kernels/gemv.h).
#ifndef GEMV_DP4A
#define GEMV_DP4A 1
#endif

GEMV_HD int gemv_dp4a(uint32_t a, uint32_t b, int c)
{
#ifdef __CUDA_ARCH__
    return __dp4a((int)a, (int)b, c);
#else
    for (int k = 0; k < 4; k++)
        c += (int)(int8_t)(uint8_t)(a >> (8 * k)) * (int)(int8_t)(uint8_t)(b >> (8 * k));
    return c;
#endif
}

// 16 floats as int8 codes in 4 words (byte k of word w: x[4w + k]); d, the
// scale. Rounding by the 1.5 * 2^23 trick: the low byte of the sum's bits
// is the rounded code (two's complement), no F2I.
GEMV_HD void gemv_q8_16(const float *x, uint32_t *q, float &d)
{
    float m = 0.0f;
GEMV_UNROLL
    for (int i = 0; i < 16; i++)
        m = fmaxf(m, fabsf(x[i]));
    d = m * (1.0f / 127.0f);
    const float id = m > 0.0f ? 127.0f / m : 0.0f;
GEMV_UNROLL
    for (int w = 0; w < 4; w++) {
        uint32_t b0 = cv_as_uint(fmaf(x[4 * w], id, 12582912.0f));
        uint32_t b1 = cv_as_uint(fmaf(x[4 * w + 1], id, 12582912.0f));
        uint32_t b2 = cv_as_uint(fmaf(x[4 * w + 2], id, 12582912.0f));
        uint32_t b3 = cv_as_uint(fmaf(x[4 * w + 3], id, 12582912.0f));
        q[w] = (b0 & 0xFFu) | (b1 & 0xFFu) << 8 | (b2 & 0xFFu) << 16 | b3 << 24;
    }
}

// A step's x for the register path: the floats and their sums, and with
// GEMV_DP4A the int8 codes for decoders that take them (R::DP4A).
struct gemv_rx {
    float a[16], b[16], sa, sb;
    uint32_t qa[4], qb[4]; // int8 codes of the runs (GEMV_DP4A)
    float da, db;          // their scales
};

// Where int8 x pays (R::DP4A): 1, rounded per warp and step (Q4_K); 2, only
// where a block rounds x once into shared memory (v5, gemv_xq_fill: Q6_K,
// whose code assembly leaves less to save than the rounding costs per warp);
// 3, only in the SwiGLU pairs on v4, whose x wo's epilogue rounds where its
// blocks end whole 16-runs (gemv_epi.xq_in; gemv_int8_pick); 4: 2, and 3
// where wo can give (Q6_K: up to 4 steps, R::rg).
// The shapes of a wo whose x-rounding its gate|up pair reads (DP4A 3 and
// 4): rows <= 4096 of up to 4 steps, a model of dim <= 4096. The decoders
// make such blocks end 16 rows (R::nr, R::rg), and the pair of such a
// model (dim columns) is the one that takes.
__host__ __device__ constexpr bool gemv_wo_gives(int rows, int nstep)
{
    return nstep <= 4 && rows <= 4096;
}

template <class R>
__host__ __device__ constexpr bool gemv_i8_default()
{
    return GEMV_DP4A && R::DP4A == 1;
}

// A 16-run of x as int8 codes, its scale and the scale times the sum of
// the codes (the rounded run's sum, for the formats' offset terms).
GEMV_HD void gemv_q8_run(const float *x16, uint32_t *q, float &d, float &sum)
{
    gemv_q8_16(x16, q, d);
    int c = 0;
GEMV_UNROLL
    for (int w = 0; w < 4; w++)
        c = gemv_dp4a(q[w], 0x01010101u, c);
    sum = d * (float)c;
}

template <class R, bool I8 = gemv_i8_default<R>()>
GEMV_HD void gemv_rx_prep(const float *xs, int xa, int xb, gemv_rx &v)
{
    gemv_rx_load(xs, xa, xb, v.a, v.b, v.sa, v.sb);
    if constexpr (I8) { // the sums of the rounded x: y = W round(x)
        gemv_q8_run(v.a, v.qa, v.da, v.sa);
        gemv_q8_run(v.b, v.qb, v.db, v.sb);
    }
}

// x rounded once per block (v5 with int8 x): run r's codes in codes[r],
// (scale, rounded sum) in ds[r], for the COLS / 16 runs of x; the block
// meets after it. The same rounding as gemv_rx_prep's, so gemv_emulate_reg
// checks it.
template <int COLS, int THREADS>
__device__ __forceinline__ void gemv_xq_fill(const float *x, uint4 *codes, float2 *ds)
{
    for (int r = threadIdx.x; r < COLS / 16; r += THREADS) {
        float v[16];
GEMV_UNROLL
        for (int k = 0; k < 4; k++) {
            const float4 a = __ldg((const float4 *)(x + 16 * r) + k);
            v[4 * k] = a.x; v[4 * k + 1] = a.y; v[4 * k + 2] = a.z; v[4 * k + 3] = a.w;
        }
        uint32_t q[4];
        float d, sum;
        gemv_q8_run(v, q, d, sum);
        codes[r] = make_uint4(q[0], q[1], q[2], q[3]);
        ds[r] = make_float2(d, sum);
    }
    __syncthreads();
}

// A lane's int8 x of the step at column s0 from gemv_xq_fill's arrays (the
// float fields stay unset: the int8 products do not read them).
__device__ __forceinline__ void gemv_rx_set(uint4 a, uint4 b, float2 da, float2 db, gemv_rx &v)
{
    v.qa[0] = a.x; v.qa[1] = a.y; v.qa[2] = a.z; v.qa[3] = a.w;
    v.qb[0] = b.x; v.qb[1] = b.y; v.qb[2] = b.z; v.qb[3] = b.w;
    v.da = da.x; v.sa = da.y;
    v.db = db.x; v.sb = db.y;
}

__device__ __forceinline__ void gemv_rx_smem(const uint4 *codes, const float2 *ds, int s0, int xa, int xb,
                                             gemv_rx &v)
{
    const int ra = (s0 + xa) >> 4, rb = (s0 + xb) >> 4;
    gemv_rx_set(codes[ra], codes[rb], ds[ra], ds[rb], v);
}

// The same from x rounded by its producer (gemv_epi.xq_in, COLS / 16 runs).
template <int COLS>
__device__ __forceinline__ void gemv_rx_xq(const void *xq, int s0, int xa, int xb, gemv_rx &v)
{
    const uint4 *codes = (const uint4 *)xq;
    const float2 *ds = (const float2 *)((const char *)xq + GEMV_XQ_SCALES(COLS));
    const int ra = (s0 + xa) >> 4, rb = (s0 + xb) >> 4;
    gemv_rx_set(__ldg(codes + ra), __ldg(codes + rb), __ldg(ds + ra), __ldg(ds + rb), v);
}

template <class R, bool I8 = gemv_i8_default<R>()>
GEMV_HD float gemv_rdot(const typename R::raw_t &raw, const typename R::lane_t &L, const gemv_rx &v)
{
    if constexpr (I8)
        return R::dot_q8(raw, L, v);
    else
        return R::dot(raw, L, v.a, v.b, v.sa, v.sb);
}

// The register path's two halves of a step, shared by v4 and v5: the NR
// rows' words of a step at p (row i at M::row(i, nvalid) rows from p), and
// the step's products (the step's x in xv) added into acc, after which
// the next step's words become the current ones.
template <class R, int NR, class M, int RB>
__device__ __forceinline__ void gemv_reg_load(typename R::raw_t *dst, const uint8_t *p, int nvalid,
                                              const typename R::lane_t &L)
{
GEMV_UNROLL
    for (int i = 0; i < NR; i++)
        dst[i] = R::load(p + (size_t)M::row(i, nvalid) * RB, L);
}

template <class R, int NR, bool I8>
__device__ __forceinline__ void gemv_reg_step(float *acc, typename R::raw_t *cur,
                                              const typename R::raw_t *nxt, const gemv_rx &xv,
                                              const typename R::lane_t &L)
{
GEMV_UNROLL
    for (int i = 0; i < NR; i++)
        acc[i] += gemv_rdot<R, I8>(cur[i], L, xv);
GEMV_UNROLL
    for (int i = 0; i < NR; i++)
        cur[i] = nxt[i];
}

// grid: C::BLOCKS; block: C::THREADS; no dynamic shared memory. I8: x
// rounded to int8 (gemv_int8_pick), by each warp or by its producer (xq_in).
template <class R, int ROWS, int COLS, bool PAIR, bool I8>
__device__ __forceinline__ void gemv_body_reg(const uint8_t *__restrict__ w,
                                                     const float *__restrict__ x,
                                                     float *__restrict__ y, const gemv_epi &e, const int bid)
{
    typedef gemv_rcfg<R, ROWS, COLS, PAIR> C;
    typedef typename C::M M;
    typedef typename R::raw_t raw_t;
    __shared__ float part[C::WPB][C::NR];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int out0 = bid * C::H;               // the block's rows
    // this warp's row group's rows (RG 1: the block's; spelled apart so
    // the compiler keeps them uniform: 115 -> 195 registers otherwise)
    const int g0 = C::RG == 1 ? out0 : out0 + warp / C::WPS * M::H;
    const typename R::lane_t L = R::lane_init(lane);
    // row groups: whole (gemv_rcfg), so every row is valid
    const int nvalid = C::RG == 1 && ROWS - out0 < M::H ? ROWS - out0 : M::H;
    const uint8_t *base = w + (size_t)g0 * C::RB; // 64-bit once; steps add 32-bit offsets

    float acc[C::NR];
    raw_t cur[C::NR], nxt[C::NR];
GEMV_UNROLL
    for (int i = 0; i < C::NR; i++)
        acc[i] = 0.0f;

    auto load = [&](raw_t *dst, int s) {
        gemv_reg_load<R, C::NR, M, C::RB>(dst, base + (unsigned)s * (unsigned)R::STEP_BYTES, nvalid, L);
    };

    pdl_release();
    int s = C::RG == 1 ? warp : warp % C::WPS;
    if (s < C::NSTEP)
        load(cur, s);
    pdl_wait(); // x and the epilogue's buffers: the predecessor's output
    gemv_epi_in pin = {};
    if (warp == 0) // the whole warp: gemv_epi_scale shuffles
        pin = gemv_epi_load(lane, C::H, out0, ROWS, e, gemv_epi_scale(e, COLS, lane));
    for (; s < C::NSTEP; s += C::WPS) {
        if (s + C::WPS < C::NSTEP)
            load(nxt, s + C::WPS);
        gemv_rx xv;
        if (I8 && e.xq_in) // rounded by x's producer: the same bits
            gemv_rx_xq<COLS>(e.xq_in, s * 1024, L.xa, L.xb, xv);
        else
            gemv_rx_prep<R, I8>(x + (unsigned)s * 1024u, L.xa, L.xb, xv);
        gemv_reg_step<R, C::NR, I8>(acc, cur, nxt, xv, L);
    }

    gemv_block_end<C::NR, C::WPB, C::H, PAIR, ROWS, C::RG>(acc, part, y, e, pin, bid);
    trace_end();
}

// ---- v5: a warp owns whole rows (the register path's streaming form) -------
// v4 splits a row group's column steps over the warps of a block, which
// then meet in shared memory: a block lives a few steps (one for 4096
// columns, two for a down projection), and its tail (the reduction, the
// epilogue, the next norm's ticket) keeps its registers from the next
// block. Here a warp takes row groups (units of NR rows) whole, one after
// the other, and loads the next (unit, step) while it computes this one, so
// its weight stream has no gaps between units; its rows' epilogue is the
// warp's own; the block meets once, at the end, for the next norm's
// partial. The grid aims at GEMV_WAVE_WARPS warps (one wave of the target
// GPU); a warp takes UPW consecutive units.
// With int8 x (I8: Q6_K) the block rounds x once into shared memory right
// after the wait (gemv_xq_fill), and its warps read their runs' codes from
// there: rounded per warp and step, x cost more than the dp4a products
// saved (bench/NOTES.md, session 11); rounded per block, the 8B's Q6_K
// down projection went 26.6 -> 22.8 us (session 14).
#ifndef GEMV_WAVE_WARPS
// 12 warps an SM: the most that fit at the Q6_K decoder's ~168 registers
#define GEMV_WAVE_WARPS (GEMV_SMS * 12)
#endif
#ifndef GEMV_V5_WPB
#define GEMV_V5_WPB 0 // warps per block; 0: a block per multiprocessor (gemv_wcfg)
#endif
#ifndef GEMV_V5_NR
#define GEMV_V5_NR 3 // rows per unit: 3 gives the Q6_K down of Llama-3.1-8B 11 warps an SM
#endif

template <class R, int ROWS, int COLS, bool PAIR, bool I8>
struct gemv_wcfg {
    static_assert(COLS % 1024 == 0, "gemv register path: COLS must be a multiple of 1024");
    static const int NR0 = GEMV_RNR ? GEMV_RNR : GEMV_V5_NR;
    static const int NR = PAIR && NR0 % 2 ? NR0 + 1 : NR0;
    typedef gemv_rowmap<NR, ROWS, PAIR> M;
    static const int NSTEP = COLS / 1024;
    static const int RB = NSTEP * R::STEP_BYTES;
    static const int UNITS = M::BLOCKS; // row groups
    static const int UPW = (UNITS + GEMV_WAVE_WARPS - 1) / GEMV_WAVE_WARPS;
    static const int WARPS = (UNITS + UPW - 1) / UPW;
    // One block per multiprocessor with all of its warps: the block
    // scheduler places blocks greedily, and with 4-warp blocks the Q6_K
    // down projection of Llama-3.1-8B (256 blocks) ran 3 blocks on 41 SMs,
    // 1 on 27 and none on 11, and lasted as long as the 3-block SMs (30.4 us
    // in the decode graph; a tenth of its blocks were done at 19.8). As 128
    // blocks of 8 warps (4 rows a unit): 28.0 us, and the 8B Q4_K_M decode
    // 385.1 -> 393.4 tok/s; as 125 blocks of 11 warps (3 rows a unit):
    // 398.2 (bench/NOTES.md, session 13). At ~168 registers a thread two
    // such blocks do not fit one SM, so each gets its own.
    static const int WPB0 = (WARPS + GEMV_SMS - 1) / GEMV_SMS;
    static const int WPB = GEMV_V5_WPB ? GEMV_V5_WPB : WPB0 < 16 ? WPB0 : 16;
    static const int BLOCKS = (WARPS + WPB - 1) / WPB;
    static const int THREADS = 32 * WPB;
    // int8 x: the block's rounded x (gemv_xq_fill), 24 bytes a 16-run
    static const size_t SMEM = I8 ? (size_t)COLS / 16 * (sizeof(uint4) + sizeof(float2)) : 0;
};

// A warp's unit of NR rows is complete (lane-partial sums in acc, reset
// here): its output rows out0.. through the epilogue, and the next unit's
// epilogue inputs loaded when there is one (more). Returns this lane's
// square of the new residual (gemv_epi_rows).
template <int NR, int H, bool PAIR, int ROWS>
__device__ __forceinline__ float gemv_unit_end(float *acc, int out0, bool more, int lane, float *y,
                                               const gemv_epi &e, gemv_epi_in &pin, float rs)
{
    float v = 0.0f;
GEMV_UNROLL
    for (int i = 0; i < NR; i++) {
        const float t = warp_sum(acc[i]);
        v = lane == i ? t : v;
        acc[i] = 0.0f;
    }
    const float sq = gemv_epi_rows(v, lane, H, PAIR, out0, ROWS, y, e, pin);
    if (more)
        pin = gemv_epi_load(lane, H, out0 + H, ROWS, e, rs);
    return sq;
}

// The block's partial of the next norm from its warps' squares, in warp
// order (every warp of the block calls it).
template <int WPB>
__device__ __forceinline__ void gemv_block_sq(float sq, float *sq_warp, int lane, int warp, int bid, const gemv_epi &e)
{
    if (!e.sq_part)
        return;
    sq = warp_sum(sq);
    if (lane == 0)
        sq_warp[warp] = sq;
    __syncthreads();
    if (warp == 0) {
        float b = 0.0f;
GEMV_UNROLL
        for (int i = 0; i < WPB; i++)
            b += sq_warp[i];
        gemv_epi_sq(b, lane, bid, e);
    }
}

template <class R, int ROWS, int COLS, bool PAIR, bool I8>
__device__ __forceinline__ void gemv_body_warp(const uint8_t *__restrict__ w,
                                               const float *__restrict__ x,
                                               float *__restrict__ y, const gemv_epi &e, const int bid)
{
    typedef gemv_wcfg<R, ROWS, COLS, PAIR, I8> C;
    typedef typename C::M M;
    typedef typename R::raw_t raw_t;
    __shared__ float sq_warp[C::WPB];
    extern __shared__ uint4 gemv_smem[];
    uint4 *xq = gemv_smem;                          // I8: codes of x's runs
    float2 *xd = (float2 *)(gemv_smem + COLS / 16); // their scales and sums

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const typename R::lane_t L = R::lane_init(lane);
    const int u0 = (bid * C::WPB + warp) * C::UPW;
    const int nu = C::UNITS - u0 < C::UPW ? (C::UNITS > u0 ? C::UNITS - u0 : 0) : C::UPW;
    const int total = nu * C::NSTEP; // this warp's (unit, step) pairs, k = unit * NSTEP + step

    float acc[C::NR];
    raw_t cur[C::NR], nxt[C::NR];
GEMV_UNROLL
    for (int i = 0; i < C::NR; i++)
        acc[i] = 0.0f;

    auto load = [&](raw_t *dst, int k) {
        const int out0 = (u0 + k / C::NSTEP) * M::H, s = k % C::NSTEP;
        const int nvalid = ROWS - out0 < M::H ? ROWS - out0 : M::H;
        gemv_reg_load<R, C::NR, M, C::RB>(dst, w + (size_t)out0 * C::RB + (unsigned)s * (unsigned)R::STEP_BYTES,
                                          nvalid, L);
    };

    pdl_release();
    if (total > 0)
        load(cur, 0);
    pdl_wait(); // x and the epilogue's buffers: the predecessor's output
    const float rs = gemv_epi_scale(e, COLS, lane);
    gemv_epi_in pin = gemv_epi_load(lane, M::H, u0 * M::H, ROWS, e, rs);
    if constexpr (I8)
        gemv_xq_fill<COLS, C::THREADS>(x, xq, xd);
    float sq = 0.0f;
    for (int k = 0; k < total; k++) {
        if (k + 1 < total)
            load(nxt, k + 1);
        const int s = k % C::NSTEP;
        gemv_rx xv;
        if constexpr (I8)
            gemv_rx_smem(xq, xd, s * 1024, L.xa, L.xb, xv);
        else
            gemv_rx_prep<R, false>(x + (unsigned)s * 1024u, L.xa, L.xb, xv);
        gemv_reg_step<R, C::NR, I8>(acc, cur, nxt, xv, L);
        if (s == C::NSTEP - 1) // the unit's rows are complete
            sq += gemv_unit_end<C::NR, M::H, PAIR, ROWS>(acc, (u0 + k / C::NSTEP) * M::H, k + 1 < total,
                                                        lane, y, e, pin, rs);
    }
    gemv_block_sq<C::WPB>(sq, sq_warp, lane, warp, bid, e);
    trace_end();
}

// The register path's lane code on the CPU (sums in double).
template <class R, int ROWS, int COLS, bool PAIR, bool I8>
static void gemv_emulate_reg(const void *w, const float *x, float *y)
{
    typedef gemv_rcfg<R, ROWS, COLS, PAIR> C;
    const uint8_t *w8 = (const uint8_t *)w;
    const int phys = GEMV_PHYS_ROWS(ROWS, PAIR);
    double *v = (double *)malloc(sizeof(double) * phys);
    for (int r = 0; r < phys; r++) {
        double acc = 0.0;
        for (int s = 0; s < C::NSTEP; s++)
            for (int lane = 0; lane < 32; lane++) {
                const typename R::lane_t L = R::lane_init(lane);
                typename R::raw_t raw = R::load(w8 + (size_t)r * C::RB + (size_t)s * R::STEP_BYTES, L);
                gemv_rx xv;
                gemv_rx_prep<R, I8>(x + (size_t)s * 1024, L.xa, L.xb, xv);
                acc += gemv_rdot<R, I8>(raw, L, xv);
            }
        v[r] = acc;
    }
    gemv_emulate_store(y, v, ROWS, PAIR);
    free(v);
}

// ---- choosing the path per instance --------------------------------------
// GEMV_NO_REG forces the v3 staged path everywhere (to measure both in
// one run).
// The register path takes its v5 form (a warp per row group) where the
// decoder says so (R::V5_MIN_STEPS: rows of at least that many 1024-column
// steps; 0: never), by measurement (bench/NOTES.md, session 11): the
// 14-step Q6_K down projection gains 12%, while v4 keeps the 4-step shapes
// (gate|up 29.7 against 35.4 us) and Q4_K's down (16.9 against 20.2).
// GEMV_V5=0: never, 2: wherever the register path runs (experiments).
#ifndef GEMV_V5
#define GEMV_V5 1
#endif
template <class R, bool REG, int NSTEP>
struct gemv_v5_pick {
    static const bool value = false;
};
template <class R, int NSTEP>
struct gemv_v5_pick<R, true, NSTEP> {
    static const bool value =
        GEMV_V5 == 2 || (GEMV_V5 == 1 && R::V5_MIN_STEPS > 0 && NSTEP >= R::V5_MIN_STEPS);
};
template <class R, bool REG, bool V5, bool PAIR, int NSTEP>
struct gemv_int8_pick {
    static const bool value = false;
};
// (4: the pairs whose wo can give, gemv_wo_gives of wo's dim x dim)
template <class R, bool V5, bool PAIR, int NSTEP>
struct gemv_int8_pick<R, true, V5, PAIR, NSTEP> {
    static const bool value = GEMV_DP4A && (R::DP4A == 1 || (R::DP4A == 2 && V5) || (R::DP4A == 3 && PAIR && !V5) ||
                                            (R::DP4A == 4 && (V5 || (PAIR && gemv_wo_gives(NSTEP * 1024, NSTEP)))));
};
// gemv_epi.xq_out needs a v4 block ending one whole 16-run (gemv_epi_xq)
template <class C, bool V4>
struct gemv_xq_gives {
    static const bool value = false;
};
template <class C>
struct gemv_xq_gives<C, true> {
    static const bool value = C::H == 16;
};
template <class D, int ROWS, int COLS, bool PAIR>
struct gemv_path {
#ifdef GEMV_NO_REG
    static const bool REG = false;
#else
    static const bool REG = !std::is_void<typename gemv_reg_of<D>::type>::value && COLS % 1024 == 0;
#endif
    typedef typename std::conditional<REG, typename gemv_reg_of<D>::type, D>::type R;
    static const bool V5 = gemv_v5_pick<R, REG, COLS / 1024>::value;
    // x rounded to int8 per 16 (gemv_q8_16) before the products
    static const bool INT8X = gemv_int8_pick<R, REG, V5, PAIR, COLS / 1024>::value;
    typedef typename std::conditional<V5, gemv_wcfg<R, ROWS, REG ? COLS : 1024, PAIR, INT8X>,
                                      gemv_rcfg<R, ROWS, REG ? COLS : 1024, PAIR>>::type RC;
    typedef typename std::conditional<REG, RC, gemv_cfg<D, ROWS, COLS, PAIR>>::type C;
    static const int THREADS = C::THREADS;
    static const int BLOCKS = C::BLOCKS;
    // what the instance does with gemv_epi.xq_in / xq_out (kernels/gemv.h)
    static const int XQ = (REG && !V5 && INT8X ? GEMV_XQ_TAKES : 0) |
                          (!PAIR && ROWS % 16 == 0 && gemv_xq_gives<C, REG && !V5>::value ? GEMV_XQ_GIVES : 0);

    // bid: the block's index in this instance's grid (blockIdx.x, less the
    // blocks before it in a concatenated launch, gemv_cat)
    static __device__ __forceinline__ void body(const uint8_t *w, const float *x, float *y,
                                                const gemv_epi &e, int bid)
    {
        if constexpr (V5)
            gemv_body_warp<R, ROWS, COLS, PAIR, INT8X>(w, x, y, e, bid);
        else if constexpr (REG)
            gemv_body_reg<R, ROWS, COLS, PAIR, INT8X>(w, x, y, e, bid);
        else
            gemv_body<D, ROWS, COLS, PAIR>(w, x, y, e, bid);
    }
    static void emulate(const void *w, const float *x, float *y)
    {
        if constexpr (REG)
            gemv_emulate_reg<R, ROWS, COLS, PAIR, INT8X>(w, x, y);
        else
            gemv_emulate_body<D, ROWS, COLS, PAIR>(w, x, y);
    }
    static int run(void (*kern)(const uint8_t *, const float *, float *, gemv_epi), const void *w,
                   const float *x, float *y, const gemv_epi *e, cudaStream_t s)
    {
        const gemv_epi none = {};
        if constexpr (REG) { // v4 (no dynamic shared memory), v5 (int8 x)
            static int ready;
            if (gemv_smem_limit((const void *)kern, C::SMEM, &ready))
                return -2;
            pdl_launch(kern, dim3(C::BLOCKS), dim3(C::THREADS), C::SMEM, s, e ? e->pdl : 0,
                       (const uint8_t *)w, x, y, e ? *e : none);
            return 0;
        } else {
            return gemv_run<D, ROWS, COLS, PAIR>(kern, w, x, y, e ? *e : none, s);
        }
    }
};

// ---- two matrices of different types in one launch -------------------------
// y[0 .. RA) = A x and y[RA .. RA + RB) = B x, A of decoder DA and B of DB,
// both COLS columns: the grid is A's blocks, then B's, each running its own
// instance's body with its own epilogue (ea, eb: bias and the like differ).
// For Q|K and V where V is of another type (Llama Q4_K_M: a Q6_K V in half
// the blocks), which otherwise take two launches: V's own ramp and
// hand-over (bench/NOTES.md, session 16). Only where both take the v4
// register path with blocks of one size (no dynamic shared memory, no
// one-wave grid of their own); elsewhere OK is false and run() says -1.
template <class DA, int RA, class DB, int RB, int COLS>
struct gemv_cat {
    typedef gemv_path<DA, RA, COLS, false> A;
    typedef gemv_path<DB, RB, COLS, false> B;
    static const bool OK = A::REG && B::REG && !A::V5 && !B::V5 && A::THREADS == B::THREADS;
    static const int THREADS = A::THREADS;
    static const int BLOCKS = A::BLOCKS + B::BLOCKS;
    static const int INT8X = (A::INT8X ? 1 : 0) | (B::INT8X ? 2 : 0);

    static __device__ __forceinline__ void body(const uint8_t *wa, const uint8_t *wb, const float *x,
                                                float *y, const gemv_epi &ea, const gemv_epi &eb)
    {
        if constexpr (OK) {
            const int bid = (int)blockIdx.x;
            if (bid < A::BLOCKS)
                A::body(wa, x, y, ea, bid);
            else
                B::body(wb, x, y + RA, eb, bid - A::BLOCKS);
        }
    }
    static void emulate(const void *wa, const void *wb, const float *x, float *y)
    {
        A::emulate(wa, x, y);
        B::emulate(wb, x, y + RA);
    }
    static int run(void (*kern)(const uint8_t *, const uint8_t *, const float *, float *, gemv_epi, gemv_epi),
                   const void *wa, const void *wb, const float *x, float *y, const gemv_epi *ea,
                   const gemv_epi *eb, cudaStream_t s)
    {
        if constexpr (!OK) {
            return -1;
        } else {
            // no xq_out: each part would write its runs from its own row 0
            gemv_epi a = ea ? *ea : gemv_epi{}, b = eb ? *eb : gemv_epi{};
            a.xq_out = b.xq_out = nullptr;
            pdl_launch(kern, dim3(BLOCKS), dim3(THREADS), 0, s, a.pdl, (const uint8_t *)wa, (const uint8_t *)wb,
                       x, y, a, b);
            return 0;
        }
    }
};

#endif
