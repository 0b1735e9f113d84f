// bw_probe.cu - the machine's copy ceilings, measured: the denominators of every
// floor that bench/run.sh reports.
//
//   bw_probe [--size MiB] [--reps N]   (configure --measure, bench/run.sh)
//
// Prints KEY=value lines (profile keys, GB/s = 1e9 bytes/s):
//   h2d_measured_gbps       pinned host -> device, copy engine
//   h2d_pageable_gbps       pageable host -> device (what mmap-based engines get)
//   d2h_measured_gbps       device -> pinned host
//   h2d_during_d2h_gbps     pinned H2D while a D2H runs on another stream
//   d2d_measured_gbps       device -> device, counting bytes read + written
//                           (the HBM ceiling for a kernel that reads weights)
// Each figure is the best of --reps timed copies after one warm-up, timed
// with CUDA events on the copying stream: a ceiling, so that a floor made
// from it (bytes / bandwidth) is a true lower bound. A median counted the
// machine's noise against the engine (a probe taken while the page cache
// wrote back a freshly written model file read 46 GB/s H2D, where the
// streamed decode of the same run moved 54.7).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                          \
    do {                                                                     \
        cudaError_t e_ = (call);                                             \
        if (e_ != cudaSuccess) {                                             \
            fprintf(stderr, "bw_probe: %s:%d: %s: %s\n", __FILE__, __LINE__, \
                    #call, cudaGetErrorString(e_));                          \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static double best(const std::vector<double> &v)
{
    return *std::max_element(v.begin(), v.end());
}

// Times `reps` copies of `bytes` on stream s; returns the best GB/s with
// `factor` bytes counted per byte copied (2 for D2D: read + write).
static double time_copy(void *dst, const void *src, size_t bytes,
                        cudaMemcpyKind kind, cudaStream_t s, int reps,
                        double factor)
{
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s)); // warm-up
    CHECK(cudaStreamSynchronize(s));
    std::vector<double> gbps;
    for (int i = 0; i < reps; i++) {
        CHECK(cudaEventRecord(a, s));
        CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
        CHECK(cudaEventRecord(b, s));
        CHECK(cudaEventSynchronize(b));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        gbps.push_back(factor * (double)bytes / (ms * 1e6));
    }
    CHECK(cudaEventDestroy(a));
    CHECK(cudaEventDestroy(b));
    return best(gbps);
}

int main(int argc, char **argv)
{
    size_t mib = 1024;
    int reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            mib = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "bw_probe: %s: found an unknown option, expected --size MiB or --reps N\n", argv[i]);
            return 1;
        }
    }
    if (mib == 0 || reps < 1) {
        fprintf(stderr, "bw_probe: --size/--reps: found 0, expected a positive number\n");
        return 1;
    }
    size_t bytes = mib << 20;
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        fprintf(stderr, "bw_probe: no CUDA device: nothing to measure\n");
        return 1;
    }

    void *h_pin, *h_pin2, *d_a, *d_b, *d_c;
    CHECK(cudaMallocHost(&h_pin, bytes));
    CHECK(cudaMallocHost(&h_pin2, bytes));
    void *h_page = malloc(bytes);
    if (!h_page) {
        fprintf(stderr, "bw_probe: malloc of %zu bytes failed\n", bytes);
        return 1;
    }
    // never time zeros: fill with a pattern
    memset(h_pin, 0x5a, bytes);
    memset(h_pin2, 0xa5, bytes);
    memset(h_page, 0x3c, bytes);
    CHECK(cudaMalloc(&d_a, bytes));
    CHECK(cudaMalloc(&d_b, bytes));
    CHECK(cudaMalloc(&d_c, bytes));
    CHECK(cudaMemcpy(d_a, h_pin, bytes, cudaMemcpyHostToDevice));

    cudaStream_t s1, s2;
    CHECK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
    CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));

    double h2d = time_copy(d_b, h_pin, bytes, cudaMemcpyHostToDevice, s1, reps, 1);
    double h2d_page = time_copy(d_b, h_page, bytes, cudaMemcpyHostToDevice, s1, reps, 1);
    double d2h = time_copy(h_pin2, d_a, bytes, cudaMemcpyDeviceToHost, s1, reps, 1);
    double d2d = time_copy(d_b, d_a, bytes, cudaMemcpyDeviceToDevice, s1, reps, 2);

    // H2D while a D2H of the same size runs on the other stream: a
    // streaming engine that copies results back concurrently sees this.
    std::vector<double> both;
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    for (int i = 0; i < reps; i++) {
        CHECK(cudaMemcpyAsync(h_pin2, d_c, bytes, cudaMemcpyDeviceToHost, s2));
        CHECK(cudaEventRecord(a, s1));
        CHECK(cudaMemcpyAsync(d_b, h_pin, bytes / 2, cudaMemcpyHostToDevice, s1));
        CHECK(cudaEventRecord(b, s1));
        CHECK(cudaEventSynchronize(b));
        CHECK(cudaStreamSynchronize(s2));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        both.push_back((double)(bytes / 2) / (ms * 1e6));
    }

    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0));
    printf("# bw_probe: %s, %zu MiB per copy, best of %d\n", p.name, mib, reps);
    printf("h2d_measured_gbps=%.1f\n", h2d);
    printf("h2d_pageable_gbps=%.1f\n", h2d_page);
    printf("d2h_measured_gbps=%.1f\n", d2h);
    printf("h2d_during_d2h_gbps=%.1f\n", best(both));
    printf("d2d_measured_gbps=%.1f\n", d2d);
    return 0;
}
