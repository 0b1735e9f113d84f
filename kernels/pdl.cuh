// pdl.cuh - programmatic dependent launch (sm_90), for the decode step's
// kernels (the GEMVs, the attention): a kernel lets the next one launch as
// soon as its own blocks are all running (pdl_release, at its start), and,
// when itself launched with the attribute, touches nothing its predecessor
// writes before that predecessor has finished (pdl_wait): the launch and
// the first weight loads overlap the previous kernel's last wave. Both are
// no-ops for a kernel launched without the attribute.
#ifndef STRATA_PDL_CUH
#define STRATA_PDL_CUH

#include <cuda_runtime.h>

#include "trace.cuh"

__device__ __forceinline__ void pdl_release()
{
    trace_start(); // experiment builds only (-DSTRATA_TRACE)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    trace_waited();
}

// Launches kern on (grid, block, smem, s), with programmatic stream
// serialization when pdl.
template <class... P, class... A>
static cudaError_t pdl_launch(void (*kern)(P...), dim3 grid, dim3 block, size_t smem,
                              cudaStream_t s, int pdl, A... args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kern, args...);
}

#endif
