// bulk.cuh - the bulk-copy engine (TMA, sm_90) for the v6 GEMV path: one
// thread asks for a contiguous run of global bytes to be copied into
// shared memory, with no registers and no per-16-byte instructions; an
// mbarrier counts the bytes as they land, and the warp that reads them
// waits on the barrier's phase. Everything here is a no-op below sm_90
// (gemv_v6_pick never chooses the v6 path there).
#ifndef STRATA_BULK_CUH
#define STRATA_BULK_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define BULK_SM90 1
#else
#define BULK_SM90 0
#endif

__device__ __forceinline__ unsigned bulk_smem(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

// A barrier of `count` arrivals per phase; then make it visible to the
// bulk-copy engine (the async proxy) before any copy signals it.
__device__ __forceinline__ void bulk_bar_init(uint64_t *bar, unsigned count)
{
#if BULK_SM90
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bulk_smem(bar)), "r"(count) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}

// This thread's arrival for the phase, which then also waits for `bytes`
// bytes of copies to complete on the barrier.
__device__ __forceinline__ void bulk_bar_expect(uint64_t *bar, unsigned bytes)
{
#if BULK_SM90
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bulk_smem(bar)), "r"(bytes)
                 : "memory");
#endif
}

// bytes (a multiple of 16; both addresses 16-byte aligned) from global src
// to shared dst, counted on bar.
__device__ __forceinline__ void bulk_copy(void *dst, const void *src, unsigned bytes, uint64_t *bar)
{
#if BULK_SM90
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     bulk_smem(dst)),
                 "l"(src), "r"(bytes), "r"(bulk_smem(bar))
                 : "memory");
#endif
}

// Until the barrier's phase with this parity has completed.
__device__ __forceinline__ void bulk_bar_wait(uint64_t *bar, unsigned parity)
{
#if BULK_SM90
    unsigned done = 0;
    while (!done)
        asm volatile("{\n .reg .pred p;\n"
                     " mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     " selp.u32 %0, 1, 0, p;\n}"
                     : "=r"(done)
                     : "r"(bulk_smem(bar)), "r"(parity)
                     : "memory");
#endif
}

// Orders this thread's earlier ordinary reads of shared memory before the
// bulk copies it issues next (the copies write through the async proxy).
__device__ __forceinline__ void bulk_fence(void)
{
#if BULK_SM90
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

#endif
