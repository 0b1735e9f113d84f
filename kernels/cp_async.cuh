// cp_async.cuh - cp.async (sm_80+): 16 bytes global -> shared without
// registers, in commit groups; used by the staged GEMV path and the decode
// attention's staged cache rows.
#ifndef STRATA_CP_ASYNC_CUH
#define STRATA_CP_ASYNC_CUH

#include <cuda_runtime.h>

__device__ __forceinline__ void cp_async16(void *smem, const void *gmem)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    // .cg: cached in L2 only (weights and cache rows are read once per block)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}

__device__ __forceinline__ void cp_async_commit(void)
{
    asm volatile("cp.async.commit_group;\n" ::);
}

// Waits until at most N of this thread's commit groups are in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait(void)
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

#endif
