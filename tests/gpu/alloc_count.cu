// alloc_count.cu - counts every CUDA memory allocation (and host malloc
// family call) of the program it is linked into, through the linker's
// --wrap (see E2E_WRAP in the GNUmakefile). With STRATA_ALLOC_REPORT=FILE
// set, the counts are written there at exit:
//   cuda_allocs=N   cudaMalloc, cudaMallocHost, cudaHostAlloc,
//                   cudaMallocManaged, cudaMallocAsync, cudaMallocPitch
//   host_allocs=N   malloc, calloc, realloc (ours and every library's)
// tests/gpu/e2e.sh runs the CUDA strata for 4 and for 64 tokens: equal
// counts prove that nothing is allocated per token.
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>

static unsigned long g_cuda, g_host;

extern "C" {
cudaError_t __real_cudaMalloc(void **p, size_t n);
cudaError_t __real_cudaMallocHost(void **p, size_t n);
cudaError_t __real_cudaHostAlloc(void **p, size_t n, unsigned int f);
cudaError_t __real_cudaMallocManaged(void **p, size_t n, unsigned int f);
cudaError_t __real_cudaMallocAsync(void **p, size_t n, cudaStream_t s);
cudaError_t __real_cudaMallocPitch(void **p, size_t *pitch, size_t w, size_t h);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

cudaError_t __wrap_cudaMalloc(void **p, size_t n) { g_cuda++; return __real_cudaMalloc(p, n); }
cudaError_t __wrap_cudaMallocHost(void **p, size_t n) { g_cuda++; return __real_cudaMallocHost(p, n); }
cudaError_t __wrap_cudaHostAlloc(void **p, size_t n, unsigned int f)
{
    g_cuda++;
    return __real_cudaHostAlloc(p, n, f);
}
cudaError_t __wrap_cudaMallocManaged(void **p, size_t n, unsigned int f)
{
    g_cuda++;
    return __real_cudaMallocManaged(p, n, f);
}
cudaError_t __wrap_cudaMallocAsync(void **p, size_t n, cudaStream_t s)
{
    g_cuda++;
    return __real_cudaMallocAsync(p, n, s);
}
cudaError_t __wrap_cudaMallocPitch(void **p, size_t *pitch, size_t w, size_t h)
{
    g_cuda++;
    return __real_cudaMallocPitch(p, pitch, w, h);
}
void *__wrap_malloc(size_t n) { g_host++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { g_host++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { g_host++; return __real_realloc(p, n); }
}

__attribute__((destructor)) static void alloc_report(void)
{
    const char *path = getenv("STRATA_ALLOC_REPORT");
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "cuda_allocs=%lu\nhost_allocs=%lu\n", g_cuda, g_host);
    fclose(f);
}
