// gemv_epi.cuh - the end of every GEMV block (the generated instances and
// ops.cu's generic f32 GEMV): the block's row sums become output rows
// through the epilogue of struct gemv_epi (kernels/gemv.h): RMSNorm scale,
// SwiGLU pairing, bias, residual, and the next RMSNorm's input and scale.
//
// Fusing these saves launches, not bytes: each of them moved a few dim-
// sized vectors but cost a kernel launch and its ramp (~2 us in a graph),
// fifteen per block of an 8B model, about 1 ms of a 5 ms token.
#ifndef STRATA_GEMV_EPI_CUH
#define STRATA_GEMV_EPI_CUH

#include <cuda_runtime.h>

#include "convert.cuh"
#include "gemv.h"
#include "warp.cuh"

// silu(g) * u exactly as the CPU reference writes it (op_swiglu).
static __device__ __forceinline__ float gemv_epi_swiglu(float g, float u)
{
    return g / (1.0f + expf(-g)) * u;
}

// The RMSNorm scale of x, 1 / sqrt(sum / cols + eps) from the rs_n partial
// sums of squares (1 without rs_part). A whole warp calls it: lane l adds
// partials l, l + 32, ..., then the warp's butterfly, so every warp of
// every block gets the same bits. Call it once the predecessor is done
// (after pdl_wait) and early: its loads then overlap the weights'.
__device__ __forceinline__ float gemv_epi_scale(const gemv_epi &e, int cols, int lane)
{
    if (!e.rs_part)
        return 1.0f;
    float s = 0.0f;
    for (unsigned b = lane; b < e.rs_n; b += 32)
        s += e.rs_part[b];
    s = warp_sum(s);
    return 1.0f / sqrtf(s / (float)cols + e.rs_eps);
}

// The epilogue's inputs for output row out0 + lane (lane < H), loaded right
// after pdl_wait, long before the row sums are ready: their latency
// then hides behind the weight stream instead of lengthening the block's
// tail, where the block still holds its SM's registers.
struct gemv_epi_in {
    float rs, bias, res, g;
};

__device__ __forceinline__ gemv_epi_in gemv_epi_load(int lane, int H, int out0, int rows,
                                                     const gemv_epi &e, float rs)
{
    gemv_epi_in p = {rs, 0.0f, 0.0f, 0.0f};
    const int r = out0 + lane;
    if (lane < H && r < rows) {
        if (e.bias)
            p.bias = e.bias[r];
        if (e.res)
            p.res = e.res[r];
        if (e.g_next)
            p.g = e.g_next[r];
    }
    return p;
}

// One warp, all 32 lanes, with their gemv_epi_load: lane i < NR holds the
// sum of weight row i of the warp's rows (for a pair: rows i < H of the
// gate matrix, rows H + i of up); out0 = their first output row, H = their
// output rows (NR, or NR / 2 for a pair), rows = the output rows of the
// whole matrix. Returns this lane's square of the new residual (0 without
// one), for the block's partial sum (gemv_epi_sq).
// Not static: keeps the same symbol names whatever the checkout path.
__device__ __forceinline__ float gemv_epi_rows(float v, int lane, int H, bool pair, int out0,
                                               int rows, float *y, const gemv_epi &e,
                                               const gemv_epi_in &p, float *yout = nullptr)
{
    float yo = 0.0f; // what this lane wrote to y
    v *= p.rs; // 1 without a scale: exact
    if (pair) { // lane i < H: gate row i; its up row is lane H + i
        float u = __shfl_down_sync(0xffffffffu, v, H);
        v = gemv_epi_swiglu(v, u);
    }
    const int r = out0 + lane;
    float sq = 0.0f;
    if (lane < H && r < rows) {
        if (e.bias)
            v += p.bias;
        if (e.res) {
            float h = p.res + v;
            e.res[r] = h;
            if (e.g_next)
                y[r] = yo = h * p.g;
            sq = h * h;
        } else {
            y[r] = yo = v;
        }
    }
    if (yout)
        *yout = yo;
    return sq;
}

// gemv_epi.xq_out: the run of 16 outputs that lanes 0..15 wrote (yo, from
// row out0, a multiple of 16) rounded as gemv_q8_run rounds x (the same
// max, scale, codes and sum, so a consumer reading them gets the bits it
// would have computed), into run out0 / 16 of xq_out. The whole warp.
__device__ __forceinline__ void gemv_epi_xq(float yo, int lane, int out0, int rows, const gemv_epi &e)
{
    const unsigned full = 0xffffffffu;
    float m = lane < 16 ? fabsf(yo) : 0.0f;
    for (int o = 8; o > 0; o >>= 1) // within each half of the warp
        m = fmaxf(m, __shfl_xor_sync(full, m, o));
    const float d = m * (1.0f / 127.0f);
    const float id = m > 0.0f ? 127.0f / m : 0.0f;
    const uint32_t b = cv_as_uint(fmaf(yo, id, 12582912.0f)) & 0xFFu;
    int c = (int)(int8_t)(uint8_t)b;
    for (int o = 8; o > 0; o >>= 1)
        c += __shfl_xor_sync(full, c, o);
    uint32_t w = b << (8 * (lane & 3)); // word lane / 4 of the run, byte lane % 4
    w |= __shfl_xor_sync(full, w, 1);
    w |= __shfl_xor_sync(full, w, 2);
    const uint32_t w1 = __shfl_sync(full, w, 4), w2 = __shfl_sync(full, w, 8), w3 = __shfl_sync(full, w, 12);
    if (lane == 0) {
        const int r = out0 / 16;
        ((uint4 *)e.xq_out)[r] = make_uint4(w, w1, w2, w3);
        ((float2 *)((char *)e.xq_out + GEMV_XQ_SCALES(rows)))[r] = make_float2(d, d * (float)c);
    }
}

// The block's partial sum of squares of the new residual (lane 0 of one
// warp holds it): sq_part[block], for the next projection's rs_part.
__device__ __forceinline__ void gemv_epi_sq(float sq, int lane, int block, const gemv_epi &e)
{
    if (e.sq_part && lane == 0)
        e.sq_part[block] = sq;
}

// Both, for a block whose warp 0 holds all of its rows (lane i: row i);
// block: its index in the launch (sq_part's slot).
__device__ __forceinline__ void gemv_epilogue(float v, int lane, int H, bool pair, int out0,
                                              int rows, float *y, const gemv_epi &e,
                                              const gemv_epi_in &p, int block)
{
    float yo;
    float sq = gemv_epi_rows(v, lane, H, pair, out0, rows, y, e, p, &yo);
    if (e.sq_part)
        gemv_epi_sq(warp_sum(sq), lane, block, e);
    if (e.xq_out && H == 16 && !pair && rows % 16 == 0) // GEMV_XQ_GIVES instances
        gemv_epi_xq(yo, lane, out0, rows, e);
}

#endif
