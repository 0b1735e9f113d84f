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

#include "gemv.h"
#include "warp.cuh"

// silu(g) * u exactly as the CPU reference writes it (op_swiglu).
static __device__ __forceinline__ float gemv_epi_swiglu(float g, float u)
{
    return g / (1.0f + expf(-g)) * u;
}

// Warp 0 of the block, all 32 lanes: lane i < NR holds the sum of the
// block's row i (for a pair: rows i < H of the gate matrix, rows H + i of
// up); out0 = the block's first output row, H = its output rows (NR, or
// NR / 2 for a pair), rows = the output rows of the whole matrix.
// Not static: keeps the same symbol names whatever the checkout path.
__device__ __forceinline__ void gemv_epilogue(float v, int lane, int H, bool pair, int out0,
                                              int rows, float *y, const gemv_epi &e)
{
    if (e.rs)
        v *= *e.rs;
    if (pair) { // lane i < H: gate row i; its up row is lane H + i
        float u = __shfl_down_sync(0xffffffffu, v, H);
        v = gemv_epi_swiglu(v, u);
    }
    const int r = out0 + lane;
    float sq = 0.0f;
    if (lane < H && r < rows) {
        if (e.bias)
            v += e.bias[r];
        if (e.res) {
            float h = e.res[r] + v;
            e.res[r] = h;
            if (e.g_next)
                y[r] = h * e.g_next[r];
            sq = h * h;
        } else {
            y[r] = v;
        }
    }
    if (!e.rs_next)
        return;
    // The next RMSNorm's scale over all rows: a partial per block, then the
    // last block to arrive adds them in block order (deterministic).
    sq = warp_sum(sq);
    unsigned ticket = 0;
    if (lane == 0) {
        e.part[blockIdx.x] = sq;
        __threadfence(); // the partial is visible before the ticket
        ticket = atomicAdd(e.count, 1u);
    }
    ticket = __shfl_sync(0xffffffffu, ticket, 0);
    if (ticket != gridDim.x - 1)
        return;
    __threadfence();
    float s = 0.0f;
    for (unsigned b = lane; b < gridDim.x; b += 32)
        s += __ldcg(e.part + b); // L2: other blocks wrote them
    s = warp_sum(s);
    if (lane == 0) {
        *e.rs_next = 1.0f / sqrtf(s / (float)rows + e.eps);
        *e.count = 0; // ready for the next launch
    }
}

#endif
