// warp.cuh - sums and maxima across the 32 lanes of a warp (every lane gets
// the result), shared by the GEMV, decode-op and prefill kernels.
#ifndef STRATA_WARP_CUH
#define STRATA_WARP_CUH

#include <cuda_runtime.h>

static __device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
