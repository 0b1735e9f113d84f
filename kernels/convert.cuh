// convert.cuh - the exact conversions the GEMV and prefill kernels share,
// on the device and in their CPU emulation (the same function either way:
// a device intrinsic there, src/half.h here).
#ifndef STRATA_CONVERT_CUH
#define STRATA_CONVERT_CUH

#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

#include "half.h"

#define CV_HD static __host__ __device__ __forceinline__

// The float whose bits are u.
CV_HD float cv_as_float(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

// The bits of f.
CV_HD uint32_t cv_as_uint(float f)
{
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}

// Low 16 bits of h as binary16 -> f32 (exact).
CV_HD float cv_f16(uint32_t h)
{
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half((unsigned short)h));
#else
    return f16_to_f32((uint16_t)h);
#endif
}

// f32 -> binary16 bits, round to nearest even.
CV_HD uint16_t cv_to_f16(float f)
{
#ifdef __CUDA_ARCH__
    return __half_as_ushort(__float2half_rn(f));
#else
    return f32_to_f16(f);
#endif
}

#endif
