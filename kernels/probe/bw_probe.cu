// bw_probe.cu - configure --measure: pinned host -> device copy bandwidth
// (what tier B streams at) and device memory bandwidth (what tier A reads
// at), as KEY=value lines for strata-probe --bw-file:
//   h2d_gbps=24.91     bytes / time of a 256 MiB cudaMemcpyAsync from pinned memory
//   d2d_gbps=1650.20   2 x bytes / time of a 1 GiB device-to-device copy (read + write)
// GB/s = 10^9 bytes per second. Best of 10 after a warm-up copy: the figure
// a pipeline that keeps the link busy can reach, not an average with noise.
#include <cstdio>
#include <cuda_runtime.h>

#define CHECK(x)                                                               \
    do {                                                                       \
        cudaError_t e_ = (x);                                                  \
        if (e_ != cudaSuccess) {                                               \
            std::fprintf(stderr, "bw_probe: %s: %s\n", #x, cudaGetErrorString(e_)); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

// Best time in ms of reps copies of n bytes.
static int best_ms(void *dst, const void *src, size_t n, cudaMemcpyKind kind, int reps,
                   float *best)
{
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    CHECK(cudaMemcpyAsync(dst, src, n, kind, 0)); // warm-up
    *best = 1e30f;
    for (int i = 0; i < reps; i++) {
        CHECK(cudaEventRecord(a, 0));
        CHECK(cudaMemcpyAsync(dst, src, n, kind, 0));
        CHECK(cudaEventRecord(b, 0));
        CHECK(cudaEventSynchronize(b));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        if (ms < *best)
            *best = ms;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return 0;
}

int main()
{
    const size_t h2d_n = 256ull << 20, d2d_n = 1ull << 30;
    void *host = nullptr, *dev = nullptr, *dev2 = nullptr;
    CHECK(cudaSetDevice(0));
    CHECK(cudaMallocHost(&host, h2d_n));
    CHECK(cudaMalloc(&dev, d2d_n));
    CHECK(cudaMalloc(&dev2, d2d_n));
    CHECK(cudaMemset(dev, 1, d2d_n));
    float ms;
    if (best_ms(dev, host, h2d_n, cudaMemcpyHostToDevice, 10, &ms))
        return 1;
    std::printf("h2d_gbps=%.2f\n", (double)h2d_n / (ms * 1e-3) / 1e9);
    if (best_ms(dev2, dev, d2d_n, cudaMemcpyDeviceToDevice, 10, &ms))
        return 1;
    std::printf("d2d_gbps=%.2f\n", 2.0 * (double)d2d_n / (ms * 1e-3) / 1e9);
    cudaFreeHost(host);
    cudaFree(dev);
    cudaFree(dev2);
    return 0;
}
