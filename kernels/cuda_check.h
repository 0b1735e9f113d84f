/* cuda_check.h - checks a CUDA runtime call in tests, benchmarks and
 * programs (not in library code, which returns errors): on failure prints
 * "FILE:LINE: CALL: error text" to stderr and exits with status 1.
 *
 *     CUDA_CHECK(cudaMalloc(&p, n));
 *     kernel<<<...>>>(...); CUDA_CHECK(cudaGetLastError());
 */
#ifndef STRATA_KERNELS_CUDA_CHECK_H
#define STRATA_KERNELS_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(call)                                                        \
    do {                                                                        \
        cudaError_t cuda_check_e_ = (call);                                     \
        if (cuda_check_e_ != cudaSuccess) {                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,       \
                    cudaGetErrorString(cuda_check_e_));                         \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

#endif
