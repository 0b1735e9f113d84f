// trace.cuh - a timeline of the decode step's launches from inside the
// CUDA graph, for experiment builds only (NVCCFLAGS=-DSTRATA_TRACE; the
// product never defines it, and then everything here is empty).
//
// Why: the lent GPU machine has no Nsight Systems, and Nsight Compute
// serializes kernels, which hides exactly what programmatic dependent
// launch overlaps. Here thread 0 of every block of a PDL kernel stamps the
// global timer (ns) when the block starts (pdl_release), when its wait for
// the predecessor returns (pdl_wait) and, for the GEMVs, when it ends
// (trace_end). The start stamp takes a ticket from one counter before the
// block lets its dependents launch, so the tickets of one launch come
// before those of the next: kernels/trace.cu groups them into launches and
// prints one line per launch (bench/step-trace.sh sums them per kind).
//
// Each translation unit has its own copy of the device pointers (no
// relocatable device code), so each registers a host function that binds
// them to the one buffer (trace_bind_all, at engine start-up).
#ifndef STRATA_TRACE_CUH
#define STRATA_TRACE_CUH

#ifdef STRATA_TRACE
#include <cuda_runtime.h>

struct trace_rec {
    unsigned long long t0, t1, t2; // start, wait returned, end (0: not reached)
    unsigned blocks, threads;      // the launch's grid and block size
    unsigned block, sm;            // this block (linear index) and the SM it ran on
};
#define TRACE_CAP (1u << 20) // records in the ring (40 MiB)

typedef void (*trace_bind_fn)(trace_rec *buf, unsigned *count);

// The binders of every translation unit (inline: one array in the program).
inline trace_bind_fn *trace_binders(int **n)
{
    static trace_bind_fn fns[64];
    static int count;
    *n = &count;
    return fns;
}

inline int trace_register(trace_bind_fn f)
{
    int *n;
    trace_bind_fn *fns = trace_binders(&n);
    if (*n < 64)
        fns[(*n)++] = f;
    return *n;
}

static __device__ trace_rec *g_trace;
static __device__ unsigned *g_trace_n;
static __shared__ unsigned g_trace_slot;

static void trace_bind_here(trace_rec *buf, unsigned *count)
{
    cudaMemcpyToSymbol(g_trace, &buf, sizeof buf);
    cudaMemcpyToSymbol(g_trace_n, &count, sizeof count);
}
static const int g_trace_registered = trace_register(trace_bind_here);

__device__ __forceinline__ unsigned long long trace_now()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__device__ __forceinline__ bool trace_leader()
{
    return threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0 && g_trace;
}

__device__ __forceinline__ void trace_start()
{
    if (trace_leader()) {
        const unsigned i = atomicAdd(g_trace_n, 1u);
        trace_rec *r = &g_trace[i % TRACE_CAP];
        r->t0 = trace_now();
        r->t1 = r->t2 = 0;
        r->blocks = gridDim.x * gridDim.y * gridDim.z;
        r->threads = blockDim.x * blockDim.y * blockDim.z;
        r->block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
        unsigned sm;
        asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
        r->sm = sm;
        g_trace_slot = i;
    }
    __syncthreads(); // the ticket before any thread lets the dependents launch
}

__device__ __forceinline__ void trace_waited()
{
    if (trace_leader())
        g_trace[g_trace_slot % TRACE_CAP].t1 = trace_now();
}

__device__ __forceinline__ void trace_end()
{
    if (trace_leader())
        g_trace[g_trace_slot % TRACE_CAP].t2 = trace_now();
}
#else
__device__ __forceinline__ void trace_start() {}
__device__ __forceinline__ void trace_waited() {}
__device__ __forceinline__ void trace_end() {}
#endif

// Host side (kernels/trace.cu): start-up binds every unit to a fresh buffer
// when STRATA_TRACE names a file, and keeps the launch shape (blocks x
// threads, 0 x 0: none) whose every block goes to FILE.blocks (the engine
// parses STRATA_TRACE_BLOCKS, gpu_work_trace_shape_parse); trace_dump writes
// every launch the ring still holds there (engine_free). Both do nothing in
// a product build.
int trace_init(unsigned blocks, unsigned threads);
void trace_dump(void);

#endif
