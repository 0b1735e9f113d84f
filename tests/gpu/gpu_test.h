// gpu_test.h - what the GPU suites share (test_ops.cu, test_prefill.cu):
// CUDA call checks, the input generator, the relative L2 error, pass/fail
// lines and their counts, NaN-poisoned device buffers. Header-only: each
// suite is one translation unit.
#ifndef STRATA_GPU_TEST_H
#define STRATA_GPU_TEST_H

#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_check.h"

#define CK(call) CUDA_CHECK(call)

static int n_pass, n_fail;
static uint64_t rng = 0x2545F4914F6CDD1Dull;

// xorshift64: deterministic inputs, fresh for every case
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)((rnd() >> 11) * (1.0 / 9007199254740992.0));
}

static void fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = frand(lo, hi);
}

// relative L2 error of got against ref; NaN anywhere gives NaN
static double rel_l2(const float *got, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(ref[i]))
            return NAN;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// one line per case; NaN never passes
static int report(const char *what, double err, double bound)
{
    int ok = !isnan(err) && err < bound;
    printf("%-58s rel_l2 %.2e (bound %.0e)  %s\n", what, err, bound, ok ? "ok" : "FAIL");
    ok ? n_pass++ : n_fail++;
    return ok;
}

// device memory filled with 0xff bytes: NaN as floats and halves
static void *dalloc(size_t bytes)
{
    void *p;
    CK(cudaMalloc(&p, bytes));
    CK(cudaMemset(p, 0xff, bytes));
    return p;
}

static void poison(void *d, size_t bytes) { CK(cudaMemset(d, 0xff, bytes)); }

#endif
