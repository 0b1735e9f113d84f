// test_prefill.cu - the prefill kernels of kernels/prefill.cu against their
// CPU references on fresh random inputs of real shapes (Llama-3.1-8B, -70B,
// Qwen2.5-7B). Outputs are poisoned with NaN (0xff bytes) before every
// launch. Prints one line per case and a summary "N passed, N failed";
// exits 1 on any failure.
//
//   test_prefill [--emulate]
//
// --emulate runs no GPU: only the dequantization cases, through
// prefill_dequant_f16_emulate (the kernel's staging and decoders on the CPU).
//
// Bounds, and why:
//   dequant      every f16 bit equal to f32_to_f16(dequant_row(...)): the
//                decoders do the same f32 operations in the same order,
//                unfused, and both sides round to nearest even.
//   gemm         rel L2 < 1e-3 against a double product of the same f16
//                inputs (f32 accumulation lands near 1e-6).
//   rmsnorm, swiglu  f16 outputs against the CPU's f16 rounding of its f32
//                result, rel L2 < 1e-4 (the sum of squares adds in another
//                order, expf may differ by an ulp: a rare last-bit flip).
//   rope         with the engine's cos/sin table (p.cs_table): q, k and the
//                cache rows bit-exact; angles computed on the device: q, k
//                rel L2 < 1e-5 and k rows < 1e-3, as test_ops; v bit-exact.
//   attention    rel L2 < 1e-4 (q and P split in two f16 terms: ~1e-6;
//                1e-3 with PREFILL_ATTN_SPLIT 0).
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

extern "C" {
#if !defined(_Static_assert)
#define _Static_assert static_assert
#endif
#include "cpu/ops.h"
#include "dequant.h"
#include "half.h"
#include "quant.h"
}
#include "prefill.h"

#include "gpu_test.h"

// a case that must match bit for bit: n_diff of n values differ
static void report_exact(const char *what, size_t n_diff, size_t n)
{
    int ok = n_diff == 0;
    printf("%-58s %zu of %zu differ (bit-exact)  %s\n", what, n_diff, n, ok ? "ok" : "FAIL");
    ok ? n_pass++ : n_fail++;
}

// a negative check: the comparison must reject a deliberately wrong input
static void report_negative(const char *what, int rejected)
{
    printf("%-58s %s\n", what, rejected ? "FAIL (expected)" : "passed: the test cannot fail!  FAIL");
    rejected ? n_pass++ : n_fail++;
}

static void up(void *d, const void *h, size_t bytes) { CK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice)); }

static void down(void *h, const void *d, size_t bytes) { CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost)); }

static size_t count_diff16(const uint16_t *a, const uint16_t *b, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += a[i] != b[i];
    return k;
}

static void decode16(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

// An f16 device output (n values at d_out) against its f16 reference: the
// relative L2 error of the decoded values under bound; what gets the count
// of values that differ at all appended.
static void report_f16(const char *what, const uint16_t *d_out, const uint16_t *ref16, size_t n,
                       double bound)
{
    uint16_t *got16 = (uint16_t *)malloc(n * 2);
    float *got = (float *)malloc(n * 4), *ref = (float *)malloc(n * 4);
    down(got16, d_out, n * 2);
    decode16(got, got16, n);
    decode16(ref, ref16, n);
    char label[160];
    snprintf(label, sizeof label, "%s (%zu f16 differ)", what, count_diff16(got16, ref16, n));
    report(label, rel_l2(got, ref, n), bound);
    free(got16); free(got); free(ref);
}

// Median time in ms of reps runs of fn (on stream 0).
template <class F>
static double time_ms(int reps, F fn)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    std::vector<float> t(reps);
    fn(); // warm-up
    for (int i = 0; i < reps; i++) {
        CK(cudaEventRecord(a));
        fn();
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&t[i], a, b));
    }
    CK(cudaGetLastError());
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return t[reps / 2];
}

// ---- dequantization to f16 -------------------------------------------------

// A random finite f16 of every magnitude class: zero, subnormals, normals up
// to 2^9 (so d * sc * q overflows to inf in a few blocks: both sides agree).
static uint16_t rand_half(void)
{
    uint64_t r = rnd();
    return (uint16_t)((r & 0x8000) | (((r >> 16) % 25) << 10) | ((r >> 32) & 0x3ff));
}

// Random weights: random bytes with every f16 field finite; F32 and BF16
// values span f16's subnormals to past its largest finite value.
static void gen_weights(uint32_t type, uint8_t *w, size_t bytes)
{
    size_t i = 0;
    switch (type) {
    case GGML_TYPE_F32:
        for (; i + 4 <= bytes; i += 4) {
            uint64_t r = rnd();
            uint32_t u = (uint32_t)(r & 0x80000000u) | (uint32_t)(97 + (r >> 32) % 48) << 23 |
                         (uint32_t)(r >> 8 & 0x7fffff);
            memcpy(w + i, &u, 4);
        }
        return;
    case GGML_TYPE_F16:
        for (; i + 2 <= bytes; i += 2) {
            uint64_t r = rnd();
            uint16_t h = (uint16_t)((r & 0x8000) | (((r >> 16) % 31) << 10) | ((r >> 32) & 0x3ff));
            memcpy(w + i, &h, 2);
        }
        return;
    case GGML_TYPE_BF16:
        for (; i + 2 <= bytes; i += 2) {
            uint64_t r = rnd();
            uint16_t h = (uint16_t)((r & 0x8000) | ((97 + (r >> 16) % 48) << 7) | ((r >> 32) & 0x7f));
            memcpy(w + i, &h, 2);
        }
        return;
    }
    for (; i < bytes; i += 8) {
        uint64_t r = rnd();
        memcpy(w + i, &r, bytes - i < 8 ? bytes - i : 8);
    }
    const ggml_type_info *ti = ggml_type_get(type);
    int off[2], nf = ggml_f16_fields(type, off);
    for (size_t b = 0; b < bytes; b += ti->type_size)
        for (int f = 0; f < nf; f++) {
            uint16_t h = rand_half();
            memcpy(w + b + off[f], &h, 2);
        }
}

static void test_dequant(uint32_t type, uint32_t rows, uint32_t cols, int emulate, int timing)
{
    size_t row_bytes = ggml_row_size(type, cols), bytes = row_bytes * rows;
    size_t n = (size_t)rows * cols;
    uint8_t *w = (uint8_t *)malloc(bytes + 16);
    uint16_t *ref = (uint16_t *)malloc(n * 2), *got = (uint16_t *)malloc(n * 2);
    float *row = (float *)malloc(cols * sizeof(float));
    gen_weights(type, w, bytes);
    for (uint32_t r = 0; r < rows; r++) {
        dequant_row(type, w + r * row_bytes, row, cols);
        for (uint32_t c = 0; c < cols; c++)
            ref[(size_t)r * cols + c] = f32_to_f16(row[c]);
    }
    memset(got, 0xff, n * 2);
    int rc;
    double ms = 0;
    if (emulate) {
        rc = prefill_dequant_f16_emulate(type, rows, cols, w, got);
    } else {
        uint8_t *dw = (uint8_t *)dalloc(bytes + 16);
        uint16_t *dout = (uint16_t *)dalloc(n * 2);
        up(dw, w, bytes);
        rc = prefill_dequant_f16(type, rows, cols, dw, dout, 0);
        CK(cudaGetLastError());
        down(got, dout, n * 2);
        if (timing && rc == 0)
            ms = time_ms(7, [&] { prefill_dequant_f16(type, rows, cols, dw, dout, 0); });
        cudaFree(dw);
        cudaFree(dout);
    }
    char what[96];
    snprintf(what, sizeof what, "dequant_f16%s %s %ux%u", emulate ? " (emulated)" : "",
             ggml_type_name(type), rows, cols);
    report_exact(what, rc == 0 ? count_diff16(got, ref, n) : n, n);
    if (ms > 0)
        printf("    %.1f us, %.0f GB/s (%.0f MB in + %.0f MB f16 out)\n", ms * 1e3,
               (bytes + 2.0 * n) / (ms * 1e6), bytes / 1e6, 2.0 * n / 1e6);
    static int negative_done;
    if (!negative_done && rc == 0 && n > 1) { // one output bit flipped must be caught
        negative_done = 1;
        got[n / 2] ^= 1;
        report_negative("negative: dequant output with one bit flipped", count_diff16(got, ref, n) != 0);
    }
    free(w);
    free(ref);
    free(got);
    free(row);
}

static const uint32_t all_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static void dequant_cases(int emulate)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        uint32_t t = all_types[i];
        test_dequant(t, 256, 4096, emulate, 0);
        test_dequant(t, 7, 3584, emulate, 0); // Qwen2.5-7B rows; a part-filled last CTA
        test_dequant(t, 3, 256, emulate, 0);  // fewer bytes than one CTA, not 16-byte multiple
        if (ggml_type_get(t)->blck_size == 1)
            test_dequant(t, 5, 77, emulate, 0); // plain types: element-by-element tail
    }
    // refused: a type without a decoder, a row that is not whole blocks
    uint16_t dummy[8];
    int r1 = emulate ? prefill_dequant_f16_emulate(GGML_TYPE_IQ2_XXS, 1, 256, dummy, dummy)
                     : prefill_dequant_f16(GGML_TYPE_IQ2_XXS, 1, 256, NULL, NULL, 0);
    int r2 = emulate ? prefill_dequant_f16_emulate(GGML_TYPE_Q4_K, 1, 128, dummy, dummy)
                     : prefill_dequant_f16(GGML_TYPE_Q4_K, 1, 128, NULL, NULL, 0);
    report_exact("dequant_f16 refuses IQ2_XXS and Q4_K with 128 cols (-1)", (r1 != -1) + (r2 != -1), 2);
}

// ---- GEMM --------------------------------------------------------------------
// Y (n_tok, rows) = X W^T for every n_tok on the same W; the reference is a
// double product of the same f16 values over a sample of W's rows (every
// token), about 2^28 multiply-adds per case.
static void test_gemm_shape(cublasHandle_t h, int rows, int cols, const int *toks, int n_toks,
                            int time_tok)
{
    size_t wn = (size_t)rows * cols;
    int max_tok = 0;
    for (int i = 0; i < n_toks; i++)
        max_tok = std::max(max_tok, toks[i]);
    uint16_t *w = (uint16_t *)malloc(wn * 2), *x = (uint16_t *)malloc((size_t)max_tok * cols * 2);
    float *wf = (float *)malloc(wn * 4), *xf = (float *)malloc((size_t)max_tok * cols * 4);
    for (size_t i = 0; i < wn; i++) {
        w[i] = f32_to_f16(frand(-1, 1));
        wf[i] = f16_to_f32(w[i]);
    }
    for (size_t i = 0; i < (size_t)max_tok * cols; i++) {
        x[i] = f32_to_f16(frand(-1, 1));
        xf[i] = f16_to_f32(x[i]);
    }
    uint16_t *dw = (uint16_t *)dalloc(wn * 2), *dx = (uint16_t *)dalloc((size_t)max_tok * cols * 2);
    float *dy = (float *)dalloc((size_t)max_tok * rows * 4);
    up(dw, w, wn * 2);
    up(dx, x, (size_t)max_tok * cols * 2);
    float *y = (float *)malloc((size_t)max_tok * rows * 4);
    for (int ti = 0; ti < n_toks; ti++) {
        int n_tok = toks[ti];
        poison(dy, (size_t)max_tok * rows * 4);
        int rc = prefill_gemm(h, n_tok, rows, cols, dw, dx, dy, 0);
        CK(cudaGetLastError());
        down(y, dy, (size_t)n_tok * rows * 4);
        size_t budget = (size_t)1 << 28, per_row = (size_t)n_tok * cols;
        int stride = (int)std::max<size_t>(1, (size_t)rows * per_row / budget + 1);
        std::vector<float> got, ref;
        for (int r = 0; r < rows; r += stride)
            for (int t = 0; t < n_tok; t++) {
                const float *wr = wf + (size_t)r * cols, *xr = xf + (size_t)t * cols;
                double s = 0;
                for (int c = 0; c < cols; c++)
                    s += (double)wr[c] * xr[c];
                ref.push_back((float)s);
                got.push_back(y[(size_t)t * rows + r]);
            }
        char what[96];
        snprintf(what, sizeof what, "gemm %d x %dx%d (rows every %d)%s", n_tok, rows, cols, stride,
                 rc ? " cuBLAS error" : "");
        report(what, rc ? NAN : rel_l2(got.data(), ref.data(), got.size()), 1e-3);
        if (n_tok == time_tok) {
            double ms = time_ms(9, [&] { prefill_gemm(h, n_tok, rows, cols, dw, dx, dy, 0); });
            printf("    %.1f us, %.0f TFLOP/s\n", ms * 1e3, 2.0 * n_tok * rows * cols / (ms * 1e9));
        }
    }
    cudaFree(dw);
    cudaFree(dx);
    cudaFree(dy);
    free(w); free(x); free(wf); free(xf); free(y);
}

// ---- element-wise ---------------------------------------------------------------
static void test_rmsnorm(int n_tok, int n)
{
    size_t tn = (size_t)n_tok * n;
    float *x = (float *)malloc(tn * 4), *w = (float *)malloc(n * 4), *r32 = (float *)malloc(n * 4);
    uint16_t *ref16 = (uint16_t *)malloc(tn * 2);
    fill(x, tn, -3, 3);
    fill(w, n, 0.5f, 1.5f);
    for (int t = 0; t < n_tok; t++) {
        op_rmsnorm(r32, x + (size_t)t * n, w, n, 1e-5f);
        op_store_f16(ref16 + (size_t)t * n, r32, n);
    }
    float *dx = (float *)dalloc(tn * 4), *dw = (float *)dalloc(n * 4);
    uint16_t *dy = (uint16_t *)dalloc(tn * 2);
    up(dx, x, tn * 4);
    up(dw, w, n * 4);
    poison(dy, tn * 2);
    prefill_rmsnorm_f16(dy, dx, dw, n_tok, n, 1e-5f, 0);
    CK(cudaGetLastError());
    char what[96];
    snprintf(what, sizeof what, "rmsnorm_f16 %d x %d", n_tok, n);
    report_f16(what, dy, ref16, tn, 1e-4);
    cudaFree(dx); cudaFree(dw); cudaFree(dy);
    free(x); free(w); free(r32); free(ref16);
}

// fused: gate and up are the two halves of one (n_tok, 2 n_ff) GEMM output
static void test_swiglu(int n_tok, int n_ff, int fused)
{
    int ld = fused ? 2 * n_ff : n_ff;
    size_t in = (size_t)n_tok * ld, on = (size_t)n_tok * n_ff;
    float *a = (float *)malloc(in * 4), *b = (float *)malloc(in * 4), *g = (float *)malloc(n_ff * 4);
    uint16_t *ref16 = (uint16_t *)malloc(on * 2);
    fill(a, in, -6, 6);
    fill(b, in, -2, 2);
    const float *gate = a, *upv = fused ? a + n_ff : b;
    for (int t = 0; t < n_tok; t++) {
        memcpy(g, gate + (size_t)t * ld, n_ff * 4);
        op_swiglu(g, upv + (size_t)t * ld, n_ff);
        op_store_f16(ref16 + (size_t)t * n_ff, g, n_ff);
    }
    float *da = (float *)dalloc(in * 4), *db = (float *)dalloc(in * 4);
    uint16_t *dout = (uint16_t *)dalloc(on * 2);
    up(da, a, in * 4);
    up(db, b, in * 4);
    prefill_swiglu_f16(dout, da, fused ? da + n_ff : db, n_tok, n_ff, ld, 0);
    CK(cudaGetLastError());
    char what[96];
    snprintf(what, sizeof what, "swiglu_f16 %d x %d%s", n_tok, n_ff, fused ? " [gate|up]" : "");
    report_f16(what, dout, ref16, on, 1e-4);
    cudaFree(da); cudaFree(db); cudaFree(dout);
    free(a); free(b); free(g); free(ref16);
}

// to_f16, add and add_bias_rows: the same operations as the CPU, bit-exact
static void test_small_ops(int n_tok, int n, int ld)
{
    size_t tn = (size_t)n_tok * n, tl = (size_t)n_tok * ld;
    float *x = (float *)malloc(tl * 4), *y = (float *)malloc(tl * 4), *bias = (float *)malloc(n * 4);
    float *got = (float *)malloc(tl * 4);
    uint16_t *ref16 = (uint16_t *)malloc(tn * 2), *got16 = (uint16_t *)malloc(tn * 2);
    fill(x, tl, -70000, 70000); // past f16's range too: inf on both sides
    fill(y, tl, -1, 1);
    fill(bias, n, -1, 1);
    float *dx = (float *)dalloc(tl * 4), *dy = (float *)dalloc(tl * 4), *db = (float *)dalloc(n * 4);
    uint16_t *dh = (uint16_t *)dalloc(tn * 2);
    up(dx, x, tl * 4);
    up(dy, y, tl * 4);
    up(db, bias, n * 4);
    char what[96];

    op_store_f16(ref16, x, (uint32_t)tn);
    poison(dh, tn * 2);
    prefill_to_f16(dh, dx, tn, 0);
    CK(cudaGetLastError());
    down(got16, dh, tn * 2);
    snprintf(what, sizeof what, "to_f16 n=%zu", tn);
    report_exact(what, count_diff16(got16, ref16, tn), tn);

    prefill_add(dx, dy, tl, 0);
    CK(cudaGetLastError());
    op_add(x, y, (uint32_t)tl);
    down(got, dx, tl * 4);
    snprintf(what, sizeof what, "add n=%zu", tl);
    report_exact(what, memcmp(got, x, tl * 4) ? 1 : 0, 1);

    // bias on columns [0, n) of an (n_tok, ld) matrix; the rest untouched
    prefill_add_bias_rows(dy, db, n_tok, n, ld, 0);
    CK(cudaGetLastError());
    for (int t = 0; t < n_tok; t++)
        op_add(y + (size_t)t * ld, bias, n);
    down(got, dy, tl * 4);
    size_t diff = 0;
    for (size_t i = 0; i < tl; i++)
        diff += memcmp(&got[i], &y[i], 4) != 0;
    snprintf(what, sizeof what, "add_bias_rows %d x %d of ld %d", n_tok, n, ld);
    report_exact(what, diff, tl);
    cudaFree(dx); cudaFree(dy); cudaFree(db); cudaFree(dh);
    free(x); free(y); free(bias); free(got); free(ref16); free(got16);
}

// ---- rope + KV store ---------------------------------------------------------------
// table: the angles from a cos/sin table built by op_rope_table, as the
// engine passes them (p.cs_table): q, k and the cache rows must then be
// bit-identical to the CPU's; without it the kernel computes the angles in
// double itself (sin/cos may differ from the host's libm in the last bit).
static void test_rope_store(int n_heads, int n_kv, int hd, int neox, float theta, int factors,
                            int n_tok, int pos0, int n_ctx, int table)
{
    int qn = n_heads * hd, kn = n_kv * hd, ld = qn + 2 * kn + 4; // + 4: a strided matrix
    size_t tl = (size_t)n_tok * ld, cache = (size_t)n_kv * n_ctx * hd;
    float *qkv = (float *)malloc(tl * 4), *ref = (float *)malloc(tl * 4), *got = (float *)malloc(tl * 4);
    float *ff = (float *)malloc(hd / 2 * 4), *cs = (float *)malloc((size_t)n_ctx * hd * 4);
    fill(qkv, tl, -2, 2);
    for (int i = 0; i < hd / 2; i++)
        ff[i] = factors ? frand(1, 8) : 1;
    for (int c = 0; c < n_ctx; c++) // row c: the angles of position c
        op_rope_table(cs + (size_t)c * hd, c, hd, theta, 1.0f, factors ? ff : NULL);
    std::vector<uint32_t> pos(n_tok);
    for (int t = 0; t < n_tok; t++)
        pos[t] = pos0 + t;
    float *dqkv = (float *)dalloc(tl * 4), *dff = (float *)dalloc(hd / 2 * 4);
    float *dcs = (float *)dalloc((size_t)n_ctx * hd * 4);
    uint16_t *dkc = (uint16_t *)dalloc(cache * 2), *dvc = (uint16_t *)dalloc(cache * 2);
    uint32_t *dpos = (uint32_t *)dalloc(n_tok * 4);
    up(dqkv, qkv, tl * 4);
    up(dff, ff, hd / 2 * 4);
    up(dcs, cs, (size_t)n_ctx * hd * 4);
    up(dpos, pos.data(), n_tok * 4);
    struct ops_rope_params p = {n_heads, n_kv, hd, hd, neox, theta, 1.0f, factors ? dff : NULL};
    p.cs_table = table ? dcs : NULL;
    prefill_rope_store(dqkv, ld, n_tok, dpos, &p, dkc, dvc, n_ctx, 0);
    CK(cudaGetLastError());

    // reference: each token as the CPU engine does it
    memcpy(ref, qkv, tl * 4);
    std::vector<uint16_t> kref((size_t)n_tok * kn), vref((size_t)n_tok * kn);
    enum llm_rope_style st = neox ? LLM_ROPE_NEOX : LLM_ROPE_ADJACENT;
    for (int t = 0; t < n_tok; t++) {
        float *row = ref + (size_t)t * ld;
        const float *cst = cs + (size_t)pos[t] * hd;
        op_rope(row, n_heads, hd, hd, st, cst);
        op_rope(row + qn, n_kv, hd, hd, st, cst);
        op_store_f16(&kref[(size_t)t * kn], row + qn, kn);
        op_store_f16(&vref[(size_t)t * kn], row + qn + kn, kn);
    }
    down(got, dqkv, tl * 4);
    std::vector<float> gq, rq;
    size_t qk_diff = 0, untouched = 0;
    for (int t = 0; t < n_tok; t++) {
        for (int i = 0; i < qn + kn; i++) {
            gq.push_back(got[(size_t)t * ld + i]);
            rq.push_back(ref[(size_t)t * ld + i]);
            qk_diff += memcmp(&got[(size_t)t * ld + i], &ref[(size_t)t * ld + i], 4) != 0;
        }
        for (int i = qn + kn; i < ld; i++) // v and the row's padding: not written
            untouched += memcmp(&got[(size_t)t * ld + i], &qkv[(size_t)t * ld + i], 4) != 0;
    }
    char what[128];
    snprintf(what, sizeof what, "rope_store %s %d/%d hd %d%s%s: q, k of %d tok at %d",
             neox ? "neox" : "adjacent", n_heads, n_kv, hd, factors ? " llama3" : "",
             table ? " table" : "", n_tok, pos0);
    if (table)
        report_exact(what, qk_diff, gq.size());
    else
        report(what, rel_l2(gq.data(), rq.data(), gq.size()), 1e-5);
    report_exact("rope_store: v and padding of qkv unchanged", untouched,
                 (size_t)n_tok * (ld - qn - kn));

    // the caches: the chunk's rows against the CPU's f16; all else still poison
    std::vector<uint16_t> kc(cache), vc(cache);
    down(kc.data(), dkc, cache * 2);
    down(vc.data(), dvc, cache * 2);
    std::vector<float> ka, kb;
    size_t kdiff = 0, vdiff = 0, stray = 0;
    for (int h = 0; h < n_kv; h++)
        for (int c = 0; c < n_ctx; c++)
            for (int d = 0; d < hd; d++) {
                size_t off = ((size_t)h * n_ctx + c) * hd + d;
                int t = c - pos0;
                if (t >= 0 && t < n_tok) {
                    uint16_t kr = kref[(size_t)t * kn + h * hd + d];
                    ka.push_back(f16_to_f32(kc[off]));
                    kb.push_back(f16_to_f32(kr));
                    kdiff += kc[off] != kr;
                    vdiff += vc[off] != vref[(size_t)t * kn + h * hd + d];
                } else {
                    stray += (kc[off] != 0xffff) + (vc[off] != 0xffff);
                }
            }
    snprintf(what, sizeof what, "rope_store: k cache rows %d..%d", pos0, pos0 + n_tok - 1);
    if (table)
        report_exact(what, kdiff, ka.size());
    else
        report(what, rel_l2(ka.data(), kb.data(), ka.size()), 1e-3);
    report_exact("rope_store: v cache rows, and no other cache row written", vdiff + stray,
                 cache * 2);
    cudaFree(dqkv); cudaFree(dff); cudaFree(dcs); cudaFree(dkc); cudaFree(dvc); cudaFree(dpos);
    free(qkv); free(ref); free(got); free(ff); free(cs);
}

// ---- attention ------------------------------------------------------------------------
// The chunk's tokens at pos0..pos0+n_tok-1 over an f16 cache of random
// values (positions past the chunk hold NaN: they must never be read).
// Checked tokens: all, or every check_every-th and the last one (the CPU
// reference is the slow part).
static void test_attention(int n_heads, int n_kv, int hd, int n_tok, int pos0, int n_ctx,
                           int check_every, int timing, int negative)
{
    int g = n_heads / n_kv, ld = (n_heads + 2 * n_kv) * hd + 8;
    size_t cache = (size_t)n_kv * n_ctx * hd, on = (size_t)n_tok * n_heads * hd;
    std::vector<uint16_t> kc(cache), vc(cache);
    for (int h = 0; h < n_kv; h++)
        for (int c = 0; c < n_ctx; c++)
            for (int d = 0; d < hd; d++) {
                size_t off = ((size_t)h * n_ctx + c) * hd + d;
                int live = c < pos0 + n_tok;
                // scores q.k / sqrt(hd) of realistic spread: within a few units
                kc[off] = live ? f32_to_f16(frand(-1.5f, 1.5f)) : 0x7e00;
                vc[off] = live ? f32_to_f16(frand(-1, 1)) : 0x7e00;
            }
    std::vector<float> qkv((size_t)n_tok * ld), out(on);
    fill(qkv.data(), qkv.size(), -1.5f, 1.5f);
    std::vector<uint32_t> pos(n_tok);
    for (int t = 0; t < n_tok; t++)
        pos[t] = pos0 + t;
    uint16_t *dkc = (uint16_t *)dalloc(cache * 2), *dvc = (uint16_t *)dalloc(cache * 2);
    float *dqkv = (float *)dalloc(qkv.size() * 4), *dout = (float *)dalloc(on * 4);
    uint32_t *dpos = (uint32_t *)dalloc(n_tok * 4);
    up(dkc, kc.data(), cache * 2);
    up(dvc, vc.data(), cache * 2);
    up(dqkv, qkv.data(), qkv.size() * 4);
    up(dpos, pos.data(), n_tok * 4);
    poison(dout, on * 4);
    int rc = prefill_attention(dout, dqkv, ld, n_tok, dpos, dkc, dvc, n_ctx, n_heads, n_kv, hd, 0);
    CK(cudaGetLastError());
    down(out.data(), dout, on * 4);

    std::vector<float> got, ref, att(n_ctx), o(hd);
    for (int t = 0; t < n_tok; t++) {
        if (t % check_every && t != n_tok - 1)
            continue;
        for (int h = 0; h < n_heads; h++) {
            op_attention_head(o.data(), att.data(), &qkv[(size_t)t * ld + h * hd],
                              &kc[(size_t)(h / g) * n_ctx * hd], &vc[(size_t)(h / g) * n_ctx * hd],
                              pos[t] + 1, hd);
            for (int d = 0; d < hd; d++) {
                ref.push_back(o[d]);
                got.push_back(out[(size_t)t * n_heads * hd + h * hd + d]);
            }
        }
    }
    double bound = hd % 16 == 0 && !PREFILL_ATTN_SPLIT ? 1e-3 : 1e-4;
    char what[128];
    snprintf(what, sizeof what, "attention %d/%d hd %d: %d tok at %d%s%s", n_heads, n_kv, hd, n_tok,
             pos0, check_every > 1 ? " (sampled)" : "", rc ? " REFUSED" : "");
    report(what, rc ? NAN : rel_l2(got.data(), ref.data(), got.size()), bound);
    if (negative) { // one output off by 0.5 must be caught by the same bound
        ref[ref.size() / 3] += 0.5f;
        double e = rel_l2(got.data(), ref.data(), got.size());
        report_negative("negative: attention against a reference with one value moved", !(e < bound));
    }
    if (timing && rc == 0) {
        double ms = time_ms(5, [&] {
            prefill_attention(dout, dqkv, ld, n_tok, dpos, dkc, dvc, n_ctx, n_heads, n_kv, hd, 0);
        });
        double pairs = 0; // (token, position) pairs attended
        for (int t = 0; t < n_tok; t++)
            pairs += pos[t] + 1.0;
        double flop = 4.0 * pairs * hd * n_heads;
        printf("    %.1f us, %.1f TFLOP/s of causal attention (q.k and p.v, f16 in, f32 out)\n",
               ms * 1e3, flop / (ms * 1e9));
    }
    cudaFree(dkc); cudaFree(dvc); cudaFree(dqkv); cudaFree(dout); cudaFree(dpos);
}

// cuBLAS through prefill_gemm on Llama-3.1-8B's wq/wo, ffn gate (and up),
// wk/wv. Returns -1 when cuBLAS cannot start.
static int test_gemm(void)
{
    void *ws = dalloc(PREFILL_GEMM_WORKSPACE_BYTES);
    cublasHandle_t h;
    int rc = prefill_gemm_init(&h, ws, PREFILL_GEMM_WORKSPACE_BYTES, 0);
    if (rc) {
        printf("prefill_gemm_init: cuBLAS status %d\n", rc);
        return -1;
    }
    const int toks[] = {1, 7, 64, 512};
    test_gemm_shape(h, 4096, 4096, toks, 4, 0);
    test_gemm_shape(h, 14336, 4096, toks, 4, 512);
    test_gemm_shape(h, 1024, 4096, toks, 4, 0);
    cudaStream_t other;
    CK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
    int r = prefill_gemm(h, 1, 16, 16, NULL, NULL, NULL, other);
    report_exact("gemm refuses a stream other than its init stream (-1)", r != -1, 1);
    CK(cudaStreamDestroy(other));
    prefill_gemm_free(h);
    cudaFree(ws);
    return 0;
}

int main(int argc, char **argv)
{
    int emulate = argc > 1 && !strcmp(argv[1], "--emulate");
    // --no-gemm: everything but cuBLAS (racecheck cannot run cuBLAS's Hopper
    // GEMM kernels: "The Sanitizer failed to handle a hardware exception")
    int no_gemm = argc > 1 && !strcmp(argv[1], "--no-gemm");
    setvbuf(stdout, NULL, _IOLBF, 0);
    dequant_cases(emulate);
    if (emulate) {
        printf("prefill --emulate: %d passed, %d failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);

    // dequant at full size, with its speed
    test_dequant(GGML_TYPE_Q4_K, 14336, 4096, 0, 1);
    test_dequant(GGML_TYPE_Q6_K, 14336, 4096, 0, 1);
    test_dequant(GGML_TYPE_Q8_0, 14336, 4096, 0, 1);

    if (!no_gemm && test_gemm())
        return 1;

    test_rmsnorm(7, 4096);
    test_rmsnorm(64, 3584);
    test_rmsnorm(3, 8192);
    test_swiglu(7, 14336, 1);
    test_swiglu(64, 18944, 1);
    test_swiglu(5, 14336, 0);
    test_small_ops(64, 4096, 4096);
    test_small_ops(7, 512, 4096 + 2 * 1024); // qwen-style bias on part of a qkv row

    for (int table = 1; table >= 0; table--) {
        test_rope_store(32, 8, 128, 0, 500000.0f, 1, 37, 300, 1024, table); // Llama-3.1-8B
        test_rope_store(32, 8, 128, 0, 500000.0f, 1, 512, 0, 1024, table);
        test_rope_store(28, 4, 128, 1, 1000000.0f, 0, 64, 0, 1024, table);  // Qwen2.5-7B
        test_rope_store(28, 4, 128, 1, 1000000.0f, 0, 512, 3000, 4096, table);
        test_rope_store(8, 4, 8, 0, 10000.0f, 0, 20, 17, 64, table); // stories260K's tiny heads
    }

    // attention: Llama-3.1-8B, Qwen2.5-7B, Llama-3.1-70B; chunks from the
    // start and after 300 positions of earlier context
    const int heads[][2] = {{32, 8}, {28, 4}, {64, 8}};
    const int chunk[] = {1, 37, 64, 512};
    int first = 1;
    for (int hi = 0; hi < 3; hi++)
        for (int ci = 0; ci < 4; ci++)
            for (int p0 = 0; p0 <= 300; p0 += 300) {
                test_attention(heads[hi][0], heads[hi][1], 128, chunk[ci], p0, 1024,
                               chunk[ci] > 64 ? 7 : 1, 0, first);
                first = 0;
            }
    test_attention(32, 2, 128, 37, 300, 1024, 1, 0, 0); // 16 query heads per KV head
    test_attention(4, 2, 64, 37, 100, 256, 1, 0, 0);    // the zoo models' heads
    test_attention(16, 8, 256, 64, 300, 1024, 1, 0, 0); // head_dim 256
    test_attention(8, 4, 8, 37, 100, 256, 1, 0, 0);     // stories260K: the f32 kernel
    // long context, with its speed
    test_attention(32, 8, 128, 512, 7680, 8192, 31, 1, 0);
    test_attention(32, 8, 128, 512, 0, 512, 7, 1, 0);

    printf("prefill: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
