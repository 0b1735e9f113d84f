// gpu_probe.cu - (in kernels/probe/: a program, not part of the engine) configure's GPU probe: what device 0 is, as KEY=value lines
// (parsed by probe_gpu_parse in src/probe.c).
//
//   GPU=yes            or GPU=none plus reason=... (no driver, no device):
//   gpu_name=NVIDIA GeForce RTX 3090      a CPU profile then, not an error;
//   gpu_cc=8.6                            the exit status is 0 either way.
//   gpu_sms=82
//   gpu_l2_bytes=6291456
//   vram_bytes=25447170048        cudaMemGetInfo total
//   vram_free_bytes=25133137920   free once this context exists
//   gpu_pci_bus_id=0000:01:00.0
#include <cstdio>
#include <cuda_runtime.h>

static int none(const char *why, cudaError_t e)
{
    std::printf("GPU=none\nreason=%s: %s\n", why, cudaGetErrorString(e));
    return 0;
}

int main()
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess)
        return none("cudaGetDeviceCount", e);
    if (n == 0) {
        std::printf("GPU=none\nreason=the driver reports no CUDA device\n");
        return 0;
    }
    cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, 0)) != cudaSuccess)
        return none("cudaGetDeviceProperties", e);
    if ((e = cudaSetDevice(0)) != cudaSuccess)
        return none("cudaSetDevice", e);
    size_t free_b = 0, total_b = 0;
    if ((e = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess)
        return none("cudaMemGetInfo", e);
    char bus[32] = "";
    if ((e = cudaDeviceGetPCIBusId(bus, sizeof bus, 0)) != cudaSuccess)
        return none("cudaDeviceGetPCIBusId", e);
    std::printf("GPU=yes\n");
    std::printf("gpu_name=%s\n", p.name);
    std::printf("gpu_cc=%d.%d\n", p.major, p.minor);
    std::printf("gpu_sms=%d\n", p.multiProcessorCount);
    std::printf("gpu_l2_bytes=%d\n", p.l2CacheSize);
    std::printf("vram_bytes=%zu\n", total_b);
    std::printf("vram_free_bytes=%zu\n", free_b);
    std::printf("gpu_pci_bus_id=%s\n", bus);
    std::printf("gpu_count=%d\n", n);
    return 0;
}
