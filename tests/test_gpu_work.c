/* test_gpu_work.c - the CUDA engine's working buffers (gpu_work.h), which
 * the plan counts: every buffer aligned, inside the total, none
 * overlapping, each as large as what the engine puts there; the split
 * count within its rules; and a GPU plan's activation buffer is exactly
 * this total. */
#include <CUnit/CUnit.h>

#include "facts.h"
#include "gpu_work.h"
#include "plan.h"
#include "profile.h"

static void check_layout(const struct gpu_work_dims *d)
{
    struct gpu_work w;
    gpu_work_layout(d, &w);
    for (int i = 0; i < GW_COUNT; i++) {
        CU_ASSERT_EQUAL(w.off[i] % GPU_WORK_ALIGN, 0);
        CU_ASSERT_TRUE(w.off[i] + w.bytes[i] <= w.total);
        if (i + 1 < GW_COUNT)
            CU_ASSERT_TRUE(w.off[i] + w.bytes[i] <= w.off[i + 1]);
    }
    const uint64_t P = GPU_WORK_CHUNK, qkv = d->q_dim + 2ull * d->kv_dim;
    CU_ASSERT_EQUAL(w.bytes[GW_X], P * d->dim * 4);
    CU_ASSERT_EQUAL(w.bytes[GW_C_QKV], P * qkv * 4);
    CU_ASSERT_EQUAL(w.bytes[GW_C_HB], P * d->ffn_dim * 4);
    /* the f16 matrix holds the largest of Q|K|V, wo, gate/up/down */
    CU_ASSERT_TRUE(w.bytes[GW_W16] >= qkv * d->dim * 2);
    CU_ASSERT_TRUE(w.bytes[GW_W16] >= (uint64_t)d->ffn_dim * d->dim * 2);
    CU_ASSERT_EQUAL(w.bytes[GW_ROPE_CS], (uint64_t)d->n_ctx * d->rope_dim * 4);
    CU_ASSERT_EQUAL(w.bytes[GW_GEMM_WS], GPU_WORK_GEMM_WORKSPACE);
    CU_ASSERT_TRUE(w.bytes[GW_TOPK_SCRATCH] >=
                   (uint64_t)(d->n_vocab + GPU_WORK_TOPK_SLICE - 1) / GPU_WORK_TOPK_SLICE *
                       GPU_WORK_TOPK_MAX * 8);
    /* splits: at least one, never shorter than the least length (unless the
     * whole context is), never longer than the most, which a block's threads
     * and its 64 KiB of staged K rows bound */
    int s = w.attn_splits, hd = (int)d->head_dim;
    int lo = gpu_work_attn_min_len(hd), hi = gpu_work_attn_max_len(hd);
    CU_ASSERT_TRUE(s >= 1);
    CU_ASSERT_TRUE(lo <= hi && hi <= ATTN_MAX_SPLIT_LEN && hi % 4 == 0);
    CU_ASSERT_TRUE((size_t)hi * hd * 2 <= 65536);
    CU_ASSERT_TRUE((int)d->n_ctx <= lo || (int)d->n_ctx / s >= lo - 1);
    CU_ASSERT_TRUE(((int)d->n_ctx + s - 1) / s <= hi);
    CU_ASSERT_EQUAL(w.bytes[GW_ATTN_SCRATCH],
                    gpu_work_attn_scratch_floats((int)d->n_heads, (int)d->head_dim, s) * 4);
}

/* STRATA_BENCH_OMIT: exact names in a comma list; anything else refused
 * with its position */
static void test_omit_parse(void)
{
    unsigned bits = 99;
    size_t bad = 99;
    CU_ASSERT_EQUAL(gpu_work_omit_parse(NULL, &bits, &bad), 0);
    CU_ASSERT_EQUAL(bits, 0u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("", &bits, &bad), 0);
    CU_ASSERT_EQUAL(bits, 0u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("attn", &bits, &bad), 0);
    CU_ASSERT_EQUAL(bits, (unsigned)GPU_WORK_OMIT_ATTN);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("qkv,attn,wo,ffn,down,head", &bits, &bad), 0);
    CU_ASSERT_EQUAL(bits, 63u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("down,down,", &bits, &bad), 0);
    CU_ASSERT_EQUAL(bits, (unsigned)GPU_WORK_OMIT_DOWN);
    /* bad input: a typo, a name inside another word, an empty entry, case */
    CU_ASSERT_EQUAL(gpu_work_omit_parse("attn,dwn", &bits, &bad), -1);
    CU_ASSERT_EQUAL(bad, 5u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("xdownx", &bits, &bad), -1);
    CU_ASSERT_EQUAL(bad, 0u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("wo,,ffn", &bits, &bad), -1);
    CU_ASSERT_EQUAL(bad, 3u);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("QKV", &bits, &bad), -1);
    CU_ASSERT_EQUAL(gpu_work_omit_parse("attn ", &bits, &bad), -1);
}

static void test_layouts(void)
{
    /* Llama-3.1-8B at 4096 and 131072 positions, -70B, Qwen2.5-7B, a tiny model */
    struct gpu_work_dims d8 = {4096, 4096, 1024, 14336, 128256, 32, 8, 128, 128, 4096};
    check_layout(&d8);
    d8.n_ctx = 131072;
    check_layout(&d8);
    struct gpu_work_dims d70 = {8192, 8192, 1024, 28672, 128256, 64, 8, 128, 128, 4096};
    check_layout(&d70);
    struct gpu_work_dims dq = {3584, 3584, 512, 18944, 152064, 28, 4, 128, 128, 32768};
    check_layout(&dq);
    struct gpu_work_dims dt = {64, 64, 32, 172, 512, 8, 4, 8, 8, 20};
    check_layout(&dt);
}

/* A GPU plan counts exactly these bytes (rope_dim = head_dim, the most). */
static void test_plan_counts_them(void)
{
    static struct model_facts f; /* large: not on the stack */
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(facts_from_synth(&f, "llama-3.1-70b-q4_k_m", &e), 0);
    struct profile prof;
    CU_ASSERT_EQUAL_FATAL(profile_read("profiles/h100-80g.profile", &prof, &e), 0);
    struct plan_opts o = {0};
    o.ctx = 4096;
    o.vram_budget = 22ull << 30;
    struct plan p;
    CU_ASSERT_EQUAL_FATAL(plan_make(&p, &prof, &f, &o, &e), 0);
    struct gpu_work_dims d = {f.n_embd, f.n_heads * f.head_dim, f.n_kv_heads * f.head_dim,
                              f.n_ff, f.n_vocab, f.n_heads, f.n_kv_heads, f.head_dim,
                              f.head_dim, 4096};
    struct gpu_work w;
    gpu_work_layout(&d, &w);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_ACT].bytes, w.total);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_SCRATCH].bytes, 0);
    plan_free(&p);
}

static void test_trace_shape_parse(void)
{
    unsigned b = 1, t = 1;
    CU_ASSERT_EQUAL(gpu_work_trace_shape_parse(NULL, &b, &t), 0);
    CU_ASSERT_EQUAL(b, 0);
    CU_ASSERT_EQUAL(t, 0);
    CU_ASSERT_EQUAL(gpu_work_trace_shape_parse("", &b, &t), 0);
    CU_ASSERT_EQUAL(gpu_work_trace_shape_parse("125x352", &b, &t), 0);
    CU_ASSERT_EQUAL(b, 125);
    CU_ASSERT_EQUAL(t, 352);
    static const char *const bad[] = {"256", "x128", "256x", "256x128x", "256x128 ", " 256x128",
                                      "0x128", "256x0", "-1x2", "256X128", "abc",
                                      "1234567890x128", "256x99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = t = 7;
        CU_ASSERT_EQUAL(gpu_work_trace_shape_parse(bad[i], &b, &t), -1);
        CU_ASSERT_EQUAL(b, 0);
        CU_ASSERT_EQUAL(t, 0);
    }
}

void suite_gpu_work(void)
{
    CU_pSuite s = CU_add_suite("gpu_work", NULL, NULL);
    CU_add_test(s, "layouts of real shapes: aligned, disjoint, large enough", test_layouts);
    CU_add_test(s, "a GPU plan counts exactly the working buffers", test_plan_counts_them);
    CU_add_test(s, "STRATA_BENCH_OMIT: names parsed, bad ones refused", test_omit_parse);
    CU_add_test(s, "STRATA_TRACE_BLOCKS: BLOCKSxTHREADS, anything else refused", test_trace_shape_parse);
}
