// test_ops.cu - the decode ops of kernels/ops.cu against their CPU
// references (src/cpu/ops.c) on fresh random inputs of real shapes
// (Llama-3.1-8B, -70B, Qwen2.5-7B). Outputs are poisoned with NaN before
// every launch; a case passes when the relative L2 error is under its
// bound and nothing is NaN. Prints one line per case and a summary line
// "N passed, N failed"; exits 1 on any failure. --check-only leaves the
// timings out (one launch instead of 20: compute-sanitizer runs).
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "cpu/ops.h"
#include "half.h"
#include "sampler.h"
}
#include "ops.h"
#include "gpu_work.h"

static int g_check_only; // --check-only: no timings
#include "gpu_test.h"


// ops_rms_prep for 3 rows: xg * rs, rs = 1 / sqrt(sum / n + eps) from the
// sum of squares it leaves at stride 5, must be op_rmsnorm's output.
static void test_rms_prep(int n)
{
    const int rows = 3;
    float *x = (float *)malloc(rows * n * 4), *w = (float *)malloc(n * 4);
    float *ref = (float *)malloc(rows * n * 4), *got = (float *)malloc(rows * n * 4);
    const int stride = 5;
    float sq[rows * stride];
    fill(x, rows * n, -3, 3);
    fill(w, n, 0.5f, 1.5f);
    for (int r = 0; r < rows; r++)
        op_rmsnorm(ref + r * n, x + r * n, w, n, 1e-5f);
    float *dx = (float *)dalloc(rows * n * 4), *dw = (float *)dalloc(n * 4);
    float *dy = (float *)dalloc(rows * n * 4), *dsq = (float *)dalloc(sizeof sq);
    CK(cudaMemcpy(dx, x, rows * n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w, n * 4, cudaMemcpyHostToDevice));
    ops_rms_prep(dy, dsq, stride, dx, dw, n, rows, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(got, dy, rows * n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(sq, dsq, sizeof sq, cudaMemcpyDeviceToHost));
    for (int r = 0; r < rows; r++) {
        const float rs = 1.0f / sqrtf(sq[r * stride] / n + 1e-5f);
        for (int i = 0; i < n; i++)
            got[r * n + i] *= rs;
    }
    char what[64];
    snprintf(what, sizeof what, "rms_prep n=%d, %d rows (xg * rs = rmsnorm)", n, rows);
    report(what, rel_l2(got, ref, rows * n), 1e-5);
    cudaFree(dx); cudaFree(dw); cudaFree(dy); cudaFree(dsq);
    free(x); free(w); free(ref); free(got);
}

static void test_swiglu(int n)
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
    cudaFree(dg); cudaFree(du);
    free(g); free(u); free(ref); free(got);
}

// Decode attention with its rope and KV store (ops_attention): a random
// cache for the positions before pos, random q, k, v for pos. Reference:
// op_rope on q and k, op_store_f16 of k and v at pos, op_attention_head per
// query head. Checks the output, the cache row written at pos (k against
// the CPU's f16 rounding, v bit-exact), and, after 20 timed calls, a fresh
// poisoned call (the merge tickets must be back at zero) as a later token of
// a step (rows staged after the wait).
static void test_attention(int n_heads, int n_kv, int hd, int neox, float theta, int factors,
                           int n_ctx, int n_pos)
{
    const int g = n_heads / n_kv, qn = n_heads * hd, kn = n_kv * hd, half_rot = hd / 2;
    const uint32_t pos = n_pos - 1;
    size_t cache = (size_t)n_kv * n_ctx * hd;
    uint16_t *kc = (uint16_t *)malloc(cache * 2), *vc = (uint16_t *)malloc(cache * 2);
    for (size_t i = 0; i < cache; i++) {
        // scores of realistic spread: q.k / sqrt(hd) within a few units
        kc[i] = f32_to_f16(frand(-1.5f, 1.5f));
        vc[i] = f32_to_f16(frand(-1, 1));
    }
    float *q = (float *)malloc(qn * 4), *k = (float *)malloc(kn * 4), *v = (float *)malloc(kn * 4);
    float *ff = (float *)malloc(half_rot * 4), *cs = (float *)malloc(hd * 4);
    fill(q, qn, -1.5f, 1.5f);
    fill(k, kn, -1.5f, 1.5f);
    fill(v, kn, -1, 1);
    for (int i = 0; i < half_rot; i++)
        ff[i] = factors ? frand(1, 8) : 1;

    uint16_t *dkc = (uint16_t *)dalloc(cache * 2), *dvc = (uint16_t *)dalloc(cache * 2);
    float *dq = (float *)dalloc(qn * 4), *dk = (float *)dalloc(kn * 4), *dv = (float *)dalloc(kn * 4);
    float *dff = (float *)dalloc(half_rot * 4), *dout = (float *)dalloc(qn * 4);
    int splits = gpu_work_attn_splits(n_kv, hd, n_ctx);
    float *dscr = (float *)dalloc(gpu_work_attn_scratch_floats(n_heads, hd, splits) * 4);
    unsigned *dcnt = (unsigned *)dalloc(n_kv * 4);
    uint32_t *dpos = (uint32_t *)dalloc(4);
    CK(cudaMemset(dcnt, 0, n_kv * 4));
    CK(cudaMemcpy(dkc, kc, cache * 2, cudaMemcpyHostToDevice)); // row pos: random, overwritten
    CK(cudaMemcpy(dvc, vc, cache * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dq, q, qn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, k, kn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, v, kn * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dff, ff, half_rot * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dpos, &pos, 4, cudaMemcpyHostToDevice));
    // the rope table of every position (the engine builds the same at start-up)
    float *table = (float *)malloc((size_t)n_ctx * hd * 4);
    for (int t = 0; t < n_ctx; t++)
        op_rope_table(table + (size_t)t * hd, t, hd, theta, 1.0f, factors ? ff : NULL);
    float *dtable = (float *)dalloc((size_t)n_ctx * hd * 4);
    CK(cudaMemcpy(dtable, table, (size_t)n_ctx * hd * 4, cudaMemcpyHostToDevice));
    free(table);
    struct ops_rope_params p = {n_heads, n_kv, hd, hd, neox, theta, 1.0f, factors ? dff : NULL,
                                dtable};
    poison(dout, qn * 4);
    int rc = ops_attention(dout, dq, dk, dv, dkc, dvc, n_ctx, dpos, 0, &p, splits, dscr, dcnt, 1, 0); // pdl: the path the engine takes
    CK(cudaGetLastError());

    // the CPU reference
    op_rope_table(cs, pos, hd, theta, 1.0f, factors ? ff : NULL);
    enum llm_rope_style st = neox ? LLM_ROPE_NEOX : LLM_ROPE_ADJACENT;
    op_rope(q, n_heads, hd, hd, st, cs);
    op_rope(k, n_kv, hd, hd, st, cs);
    for (int h = 0; h < n_kv; h++) {
        op_store_f16(kc + ((size_t)h * n_ctx + pos) * hd, k + h * hd, hd);
        op_store_f16(vc + ((size_t)h * n_ctx + pos) * hd, v + h * hd, hd);
    }
    float *ref = (float *)malloc(qn * 4), *att = (float *)malloc(n_ctx * 4);
    for (int h = 0; h < n_heads; h++) {
        int kvh = h / g;
        op_attention_head(ref + h * hd, att, q + h * hd, kc + (size_t)kvh * n_ctx * hd,
                          vc + (size_t)kvh * n_ctx * hd, n_pos, hd);
    }

    float *got = (float *)malloc(qn * 4);
    char what[128];
    CK(cudaMemcpy(got, dout, qn * 4, cudaMemcpyDeviceToHost));
    snprintf(what, sizeof what, "attention %d/%d heads hd %d pos %d/%d %s%s, %d splits", n_heads,
             n_kv, hd, n_pos, n_ctx, neox ? "neox" : "adjacent", factors ? " llama3" : "", splits);
    report(what, rc ? NAN : rel_l2(got, ref, qn), 1e-4);
    // the cache row at pos, decoded, against the CPU's f16 rounding
    uint16_t *row = (uint16_t *)malloc(kn * 2), *ref16 = (uint16_t *)malloc(kn * 2);
    float *a = (float *)malloc(kn * 4), *b = (float *)malloc(kn * 4);
    for (int h = 0; h < n_kv; h++) {
        CK(cudaMemcpy(row + h * hd, dkc + ((size_t)h * n_ctx + pos) * hd, hd * 2, cudaMemcpyDeviceToHost));
        memcpy(ref16 + h * hd, kc + ((size_t)h * n_ctx + pos) * hd, hd * 2);
    }
    for (int i = 0; i < kn; i++) {
        a[i] = f16_to_f32(row[i]);
        b[i] = f16_to_f32(ref16[i]);
    }
    snprintf(what, sizeof what, "  k cache row at pos %u (rotated)", pos);
    report(what, rel_l2(a, b, kn), 1e-3);
    for (int h = 0; h < n_kv; h++) {
        CK(cudaMemcpy(row + h * hd, dvc + ((size_t)h * n_ctx + pos) * hd, hd * 2, cudaMemcpyDeviceToHost));
        memcpy(ref16 + h * hd, vc + ((size_t)h * n_ctx + pos) * hd, hd * 2);
    }
    int exact = memcmp(row, ref16, kn * 2) == 0; // v is not rotated: bit-exact
    snprintf(what, sizeof what, "  v cache row at pos %u bit-exact", pos);
    report(what, exact ? 0.0 : 1.0, 0.5);

    // timing at this size: bytes = the K and V rows read
    const int reps = g_check_only ? 1 : 20;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventRecord(e0));
    for (int i = 0; i < reps; i++)
        ops_attention(dout, dq, dk, dv, dkc, dvc, n_ctx, dpos, 0, &p, splits, dscr, dcnt, 0, 0);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    double bytes = 2.0 * n_kv * n_pos * hd * 2;
    if (!g_check_only)
        printf("    %.1f us per call, %.0f GB/s of K/V\n", ms * 1000 / reps, bytes / (ms / reps * 1e6));
    // again, as the 8th token of a step: the rows of the step's earlier
    // tokens are staged after the wait, not before
    poison(dout, qn * 4);
    ops_attention(dout, dq, dk, dv, dkc, dvc, n_ctx, dpos, 7, &p, splits, dscr, dcnt, 1, 0);
    CK(cudaMemcpy(got, dout, qn * 4, cudaMemcpyDeviceToHost));
    report("  again after the timed calls (tickets reset), token 7 of a step", rel_l2(got, ref, qn), 1e-4);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    cudaFree(dkc); cudaFree(dvc); cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(dff);
    cudaFree(dout); cudaFree(dscr); cudaFree(dcnt); cudaFree(dpos); cudaFree(dtable);
    free(kc); free(vc); free(q); free(k); free(v); free(ff); free(cs); free(ref); free(att);
    free(got); free(row); free(ref16); free(a); free(b);
}

// ops_topk against the CPU's sampler_top_logits (the sampler's order:
// value down, id up on ties, NaN as -inf), exactly: ids and values. The
// logits are coarse (many ties), with NaNs, an -inf and -0/+0; the outputs
// are poisoned first. Timed for the Llama-3 vocabulary.
static void test_topk(int n, int k, int timing)
{
    float *x = (float *)malloc(n * 4), *want_v = (float *)malloc(k * 4);
    float *got_v = (float *)malloc(k * 4);
    int32_t *want_i = (int32_t *)malloc(k * 4), *got_i = (int32_t *)malloc(k * 4);
    for (int i = 0; i < n; i++)
        x[i] = (float)(int)frand(-40, 40) * 0.25f;
    x[0] = NAN;
    x[n / 2] = NAN;
    x[n / 3] = -INFINITY;
    x[n / 5] = -0.0f;
    x[n - 1] = 10.0f; // the best, and a tie for it earlier
    x[n / 7] = 10.0f;
    sampler_top_logits(x, n, k, want_v, want_i);
    float *dx = (float *)dalloc(n * 4), *dv = (float *)dalloc(k * 4);
    int32_t *di = (int32_t *)dalloc(k * 4);
    void *scr = dalloc(ops_topk_scratch_bytes(n, OPS_TOPK_MAX));
    CK(cudaMemcpy(dx, x, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(dv, 0xff, k * 4)); // poisoned: NaN values, id -1
    CK(cudaMemset(di, 0xff, k * 4));
    int rc = ops_topk(dv, di, dx, n, k, scr, 0);
    CK(cudaGetLastError());
    CK(cudaMemcpy(got_v, dv, k * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(got_i, di, k * 4, cudaMemcpyDeviceToHost));
    int bad = rc != 0;
    for (int i = 0; i < k && !bad; i++)
        bad = got_i[i] != want_i[i] || memcmp(&got_v[i], &want_v[i], 4) != 0;
    char what[96];
    snprintf(what, sizeof what, "topk n=%d k=%d (first id %d, want %d)", n, k, got_i[0],
             want_i[0]);
    report(what, bad ? 1.0 : 0.0, 0.5);
    if (timing && !g_check_only) {
        cudaEvent_t a, b;
        CK(cudaEventCreate(&a));
        CK(cudaEventCreate(&b));
        CK(cudaEventRecord(a, 0));
        for (int r = 0; r < 20; r++)
            ops_topk(dv, di, dx, n, k, scr, 0);
        CK(cudaEventRecord(b, 0));
        CK(cudaEventSynchronize(b));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a, b));
        printf("    %.1f us per call\n", ms * 1000 / 20);
    }
    // out of range: refused, nothing launched
    report("topk refuses k = 0 and k > OPS_TOPK_MAX",
           ops_topk(dv, di, dx, n, 0, scr, 0) == -1 &&
                   ops_topk(dv, di, dx, n, OPS_TOPK_MAX + 1, scr, 0) == -1
               ? 0.0
               : 1.0,
           0.5);
    cudaFree(dx); cudaFree(dv); cudaFree(di); cudaFree(scr);
    free(x); free(want_v); free(got_v); free(want_i); free(got_i);
}

int main(int argc, char **argv)
{
    g_check_only = argc == 2 && !strcmp(argv[1], "--check-only");
    if (argc > 1 && !g_check_only) {
        fprintf(stderr, "usage: test_ops [--check-only]\n");
        return 2;
    }
    int sizes[] = {4096, 8192, 3584};
    for (int i = 0; i < 3; i++)
        test_rms_prep(sizes[i]);
    int ffn[] = {14336, 28672, 18944};
    for (int i = 0; i < 3; i++)
        test_swiglu(ffn[i]);
    // Llama-3.1-8B (llama3 rope factors), -70B, Qwen2.5-7B (NEOX); one
    // position, short and full contexts (one split and many, the last
    // block of a split merging); the tiny heads of stories260K and the zoo
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 1);
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 20);
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 128); // the longest context of one split
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 129); // two splits, merged
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 300);
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 1235);
    test_attention(32, 8, 128, 0, 500000.0f, 1, 4096, 4096);
    test_attention(32, 8, 128, 0, 500000.0f, 1, 131072, 100000); // long context: splits of 256
    test_attention(64, 8, 128, 0, 500000.0f, 1, 4096, 2000);
    test_attention(64, 8, 128, 0, 500000.0f, 1, 4096, 100); // one split: 8 blocks a KV head
    test_attention(28, 4, 128, 1, 1000000.0f, 0, 4096, 50); // one split: 7 blocks a KV head
    test_attention(28, 4, 128, 1, 1000000.0f, 0, 4096, 4001);
    test_attention(28, 4, 128, 1, 1000000.0f, 0, 32768, 32768);
    test_attention(8, 4, 8, 0, 10000.0f, 0, 512, 77);
    test_attention(16, 4, 256, 1, 10000.0f, 0, 4096, 1000); // wide heads: splits of 128 at most
    test_attention(8, 4, 8, 0, 10000.0f, 0, 64, 18);
    test_attention(4, 2, 64, 0, 10000.0f, 0, 2048, 1500);
    test_attention(4, 2, 64, 1, 10000.0f, 0, 2048, 33);
    // top-k: Llama-3's and Qwen2's vocabularies, stories260K's, a slice edge
    test_topk(128256, 1, 1);
    test_topk(128256, 104, 1); // llama.cpp's defaults: top-k 40 + a window of 64
    test_topk(152064, 256, 1);
    test_topk(152064, 40, 0);
    test_topk(512, 1, 0);
    test_topk(512, 256, 0);
    test_topk(4097, 7, 0);
    printf("ops: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
