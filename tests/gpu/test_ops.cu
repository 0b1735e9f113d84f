// test_ops.cu - the decode ops of kernels/ops.cu against their CPU
// references (src/cpu/ops.c) on fresh random inputs of real shapes
// (Llama-3.1-8B, -70B, Qwen2.5-7B). Outputs are poisoned with NaN before
// every launch; a case passes when the relative L2 error is under its
// bound and nothing is NaN. Prints one line per case and a summary line
// "N passed, N failed"; exits 1 on any failure.
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "cpu/ops.h"
#include "half.h"
}
#include "ops.h"

#define CK(call)                                                                  \
    do {                                                                          \
        cudaError_t e_ = (call);                                                  \
        if (e_ != cudaSuccess) {                                                  \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,         \
                    cudaGetErrorString(e_));                                      \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

static int n_pass, n_fail;
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 11) * (1.0 / 9007199254740992.0));
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

static void report(const char *what, double err, double bound)
{
    int ok = !isnan(err) && err < bound;
    printf("%-48s rel_l2 %.2e (bound %.0e)  %s\n", what, err, bound, ok ? "ok" : "FAIL");
    ok ? n_pass++ : n_fail++;
}

static void *dalloc(size_t bytes)
{
    void *p;
    CK(cudaMalloc(&p, bytes));
    CK(cudaMemset(p, 0xff, bytes)); // NaN pattern for floats
    return p;
}

static void poison(void *d, size_t bytes) { CK(cudaMemset(d, 0xff, bytes)); }

static void test_rmsnorm(int n)
{
    float *x = (float *)malloc(n * 4), *w = (float *)malloc(n * 4);
    float *ref = (float *)malloc(n * 4), *got = (float *)malloc(n * 4);
    fill(x, n, -3, 3);
    fill(w, n, 0.5f, 1.5f);
    op_rmsnorm(ref, x, w, n, 1e-5f);
    float *dx = (float *)dalloc(n * 4), *dw = (float *)dalloc(n * 4), *dy = (float *)dalloc(n * 4);
    CK(cudaMemcpy(dx, x, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w, n * 4, cudaMemcpyHostToDevice));
    poison(dy, n * 4);
    ops_rmsnorm(dy, dx, dw, n, 1e-5f, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(got, dy, n * 4, cudaMemcpyDeviceToHost));
    char what[64];
    snprintf(what, sizeof what, "rmsnorm n=%d", n);
    report(what, rel_l2(got, ref, n), 1e-5);
    cudaFree(dx); cudaFree(dw); cudaFree(dy);
    free(x); free(w); free(ref); free(got);
}

static void test_swiglu_add(int n)
{
    float *g = (float *)malloc(n * 4), *u = (float *)malloc(n * 4);
    float *ref = (float *)malloc(n * 4), *got = (float *)malloc(n * 4);
    fill(g, n, -6, 6);
    fill(u, n, -2, 2);
    memcpy(ref, g, n * 4);
    op_swiglu(ref, u, n);
    float *dg = (float *)dalloc(n * 4), *du = (float *)dalloc(n * 4);
    CK(cudaMemcpy(dg, g, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(du, u, n * 4, cudaMemcpyHostToDevice));
    ops_swiglu(dg, du, n, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(got, dg, n * 4, cudaMemcpyDeviceToHost));
    char what[64];
    snprintf(what, sizeof what, "swiglu n=%d", n);
    report(what, rel_l2(got, ref, n), 1e-5);
    // residual add on the same buffers: ref += u
    op_add(ref, u, n);
    ops_add(dg, du, n, 0);
    CK(cudaMemcpy(got, dg, n * 4, cudaMemcpyDeviceToHost));
    snprintf(what, sizeof what, "add n=%d", n);
    report(what, rel_l2(got, ref, n), 1e-6);
    cudaFree(dg); cudaFree(du);
    free(g); free(u); free(ref); free(got);
}

// rope on q and k, then K/V into the F16 cache at pos
static void test_rope(int n_heads, int n_kv, int hd, int neox, float theta,
                      int factors, uint32_t pos, int n_ctx)
{
    int qn = n_heads * hd, kn = n_kv * hd, half_rot = hd / 2;
    float *q = (float *)malloc(qn * 4), *k = (float *)malloc(kn * 4), *v = (float *)malloc(kn * 4);
    float *ff = (float *)malloc(half_rot * 4), *cs = (float *)malloc(hd * 4);
    fill(q, qn, -2, 2);
    fill(k, kn, -2, 2);
    fill(v, kn, -2, 2);
    for (int i = 0; i < half_rot; i++)
        ff[i] = factors ? frand(1, 8) : 1;
    float *dq = (float *)dalloc(qn * 4), *dk = (float *)dalloc(kn * 4), *dv = (float *)dalloc(kn * 4);
    float *dff = (float *)dalloc(half_rot * 4);
    size_t cache = (size_t)n_kv * n_ctx * hd;
    uint16_t *dkc = (uint16_t *)dalloc(cache * 2), *dvc = (uint16_t *)dalloc(cache * 2);
    uint32_t *dpos = (uint32_t *)dalloc(4);
    CK(cudaMemcpy(dq, q, qn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, k, kn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, v, kn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dff, ff, half_rot * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dpos, &pos, 4, cudaMemcpyHostToDevice));
    struct ops_rope_params p = {n_heads, n_kv, hd, hd, neox, theta, 1.0f, factors ? dff : NULL};
    ops_rope_store_kv(dq, dk, dv, dkc, dvc, n_ctx, dpos, &p, 0);
    CK(cudaGetLastError());

    op_rope_table(cs, pos, hd, theta, 1.0f, factors ? ff : NULL);
    enum llm_rope_style st = neox ? LLM_ROPE_NEOX : LLM_ROPE_ADJACENT;
    op_rope(q, n_heads, hd, hd, st, cs);
    op_rope(k, n_kv, hd, hd, st, cs);
    float *got = (float *)malloc(qn * 4);
    char what[96];
    CK(cudaMemcpy(got, dq, qn * 4, cudaMemcpyDeviceToHost));
    snprintf(what, sizeof what, "rope %s q %dx%d pos %u%s", neox ? "neox" : "adjacent",
             n_heads, hd, pos, factors ? " llama3" : "");
    report(what, rel_l2(got, q, qn), 1e-5);
    // the cache row at pos, decoded, against the CPU's f16 rounding of k, v
    uint16_t *row = (uint16_t *)malloc(kn * 2), *ref16 = (uint16_t *)malloc(kn * 2);
    float *a = (float *)malloc(kn * 4), *b = (float *)malloc(kn * 4);
    for (int h = 0; h < n_kv; h++)
        CK(cudaMemcpy(row + h * hd, dkc + ((size_t)h * n_ctx + pos) * hd, hd * 2, cudaMemcpyDeviceToHost));
    op_store_f16(ref16, k, kn);
    for (int i = 0; i < kn; i++) {
        a[i] = f16_to_f32(row[i]);
        b[i] = f16_to_f32(ref16[i]);
    }
    snprintf(what, sizeof what, "k cache row pos %u (%s)", pos, neox ? "neox" : "adjacent");
    report(what, rel_l2(a, b, kn), 1e-3);
    for (int h = 0; h < n_kv; h++)
        CK(cudaMemcpy(row + h * hd, dvc + ((size_t)h * n_ctx + pos) * hd, hd * 2, cudaMemcpyDeviceToHost));
    op_store_f16(ref16, v, kn);
    int exact = memcmp(row, ref16, kn * 2) == 0; // v is not rotated: bit-exact
    snprintf(what, sizeof what, "v cache row pos %u bit-exact", pos);
    report(what, exact ? 0.0 : 1.0, 0.5);
    cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(dff); cudaFree(dkc); cudaFree(dvc); cudaFree(dpos);
    free(q); free(k); free(v); free(ff); free(cs); free(got); free(row); free(ref16); free(a); free(b);
}

static void test_attention(int n_heads, int n_kv, int hd, int n_ctx, int n_pos,
                           int chunk)
{
    int g = n_heads / n_kv;
    size_t cache = (size_t)n_kv * n_ctx * hd;
    uint16_t *kc = (uint16_t *)malloc(cache * 2), *vc = (uint16_t *)malloc(cache * 2);
    for (size_t i = 0; i < cache; i++) {
        // scores of realistic spread: q.k / sqrt(hd) within a few units
        kc[i] = f32_to_f16(frand(-1.5f, 1.5f));
        vc[i] = f32_to_f16(frand(-1, 1));
    }
    float *q = (float *)malloc(n_heads * hd * 4);
    fill(q, n_heads * hd, -1.5f, 1.5f);
    float *ref = (float *)malloc(n_heads * hd * 4), *att = (float *)malloc(n_ctx * 4);
    for (int h = 0; h < n_heads; h++) {
        int kvh = h / g;
        op_attention_head(ref + h * hd, att, q + h * hd, kc + (size_t)kvh * n_ctx * hd,
                          vc + (size_t)kvh * n_ctx * hd, n_pos, hd);
    }
    uint16_t *dkc = (uint16_t *)dalloc(cache * 2), *dvc = (uint16_t *)dalloc(cache * 2);
    float *dq = (float *)dalloc(n_heads * hd * 4), *dout = (float *)dalloc(n_heads * hd * 4);
    size_t scratch = ops_attention_scratch_floats(n_heads, hd, n_ctx, chunk);
    float *dscr = (float *)dalloc(scratch * 4);
    int max_splits = (n_ctx + chunk - 1) / chunk;
    uint32_t pos = n_pos - 1, *dpos = (uint32_t *)dalloc(4);
    CK(cudaMemcpy(dkc, kc, cache * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dvc, vc, cache * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dq, q, n_heads * hd * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dpos, &pos, 4, cudaMemcpyHostToDevice));
    poison(dout, n_heads * hd * 4);
    ops_attention(dout, dq, dkc, dvc, n_ctx, dpos, n_heads, n_kv, hd, chunk, dscr,
                  dscr + (size_t)n_heads * max_splits * 2, 0);
    CK(cudaGetLastError());
    float *got = (float *)malloc(n_heads * hd * 4);
    CK(cudaMemcpy(got, dout, n_heads * hd * 4, cudaMemcpyDeviceToHost));
    char what[96];
    snprintf(what, sizeof what, "attention %d/%d heads hd %d pos %d/%d", n_heads, n_kv, hd,
             n_pos, n_ctx);
    report(what, rel_l2(got, ref, n_heads * hd), 1e-4);
    // timing at this size: bytes = the K and V rows read
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a));
    for (int i = 0; i < 20; i++)
        ops_attention(dout, dq, dkc, dvc, n_ctx, dpos, n_heads, n_kv, hd, chunk, dscr,
                      dscr + (size_t)n_heads * max_splits * 2, 0);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    double bytes = 2.0 * n_kv * n_pos * hd * 2;
    printf("    %.1f us per call, %.0f GB/s of K/V\n", ms * 1000 / 20, bytes / (ms / 20 * 1e6));
    cudaFree(dkc); cudaFree(dvc); cudaFree(dq); cudaFree(dout); cudaFree(dscr); cudaFree(dpos);
    free(kc); free(vc); free(q); free(ref); free(att); free(got);
}

static void test_argmax(int n)
{
    float *x = (float *)malloc(n * 4);
    fill(x, n, -10, 10);
    int want = (int)(frand(0, 1) * (n - 2)) + 1;
    x[want] = 11.0f;
    x[n - 1] = 11.0f; // a tie later in the vector: the first one wins
    x[0] = NAN;       // NaN never wins
    float *dx = (float *)dalloc(n * 4);
    int32_t *dout = (int32_t *)dalloc(4), got = -1;
    CK(cudaMemcpy(dx, x, n * 4, cudaMemcpyHostToDevice));
    ops_argmax(dout, dx, n, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(&got, dout, 4, cudaMemcpyDeviceToHost));
    char what[64];
    snprintf(what, sizeof what, "argmax n=%d (want %d, got %d)", n, want, got);
    report(what, got == want ? 0.0 : 1.0, 0.5);
    cudaFree(dx); cudaFree(dout);
    free(x);
}

int main(void)
{
    int sizes[] = {4096, 8192, 3584};
    for (int i = 0; i < 3; i++)
        test_rmsnorm(sizes[i]);
    int ffn[] = {14336, 28672, 18944};
    for (int i = 0; i < 3; i++)
        test_swiglu_add(ffn[i]);
    test_rope(32, 8, 128, 0, 500000.0f, 1, 0, 4096);
    test_rope(32, 8, 128, 0, 500000.0f, 1, 4095, 4096);
    test_rope(64, 8, 128, 0, 500000.0f, 1, 1234, 4096);
    test_rope(28, 4, 128, 1, 1000000.0f, 0, 4000, 4096);
    test_rope(8, 4, 8, 0, 10000.0f, 0, 17, 64); // stories260K's tiny heads
    // Llama-3.1-8B, -70B, Qwen2.5-7B; short and full contexts, one split
    // and many; the tiny head of stories260K
    test_attention(32, 8, 128, 4096, 1, 64);
    test_attention(32, 8, 128, 4096, 300, 64);
    test_attention(32, 8, 128, 4096, 4096, 64);
    test_attention(32, 8, 128, 4096, 4096, 256); // one split per 256: fewer, longer blocks
    test_attention(64, 8, 128, 4096, 2000, 64);
    test_attention(28, 4, 128, 4096, 4096, 64);
    test_attention(8, 4, 8, 512, 77, 64);
    test_attention(4, 2, 64, 2048, 1500, 64);   // the zoo models' heads
    test_argmax(128256);
    test_argmax(152064);
    test_argmax(512);
    printf("ops: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
