/* test_plan.c - the tier plan against reality: the splits the reference
 * engine ran, the invariants of every plan, refusals with numbers.
 * Models are synthetic tensor tables (facts_from_synth: strata-synth's); the byte counts the
 * tests expect are computed here from the quant block sizes. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "facts.h"
#include "plan.h"
#include "plan_gemv.h"
#include "quantize.h"
#include "profile.h"
#include "quant.h"
#include "util.h"

#define GiB (1ull << 30)

static void load_profile(const char *name, struct profile *p)
{
    char path[256];
    struct st_err e = {""};
    snprintf(path, sizeof path, "profiles/%s.profile", name);
    CU_ASSERT_EQUAL_FATAL(profile_read(path, p, &e), 0);
}

static void load_model(const char *name, struct model_facts *f)
{
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(facts_from_synth(f, name, &e), 0);
}

/* Invariants of every plan: arenas within budgets, no streamed block would
 * fit as a resident one too, the streamed blocks in tier B before those in
 * tier C, the resident ones spread (never two streamed runs where one would
 * do), every placed range inside its arena, aligned, and
 * no two ranges of an arena overlapping. */
static void check_plan(const struct plan *p, const struct model_facts *f)
{
    uint64_t dev_budget = p->gpu ? p->vram_budget : 0;
    if (p->gpu)
        CU_ASSERT_TRUE(p->arena_bytes[PLAN_ARENA_DEVICE] <= dev_budget);
    CU_ASSERT_TRUE(p->arena_bytes[PLAN_ARENA_HOST] <= p->ram_budget);
    CU_ASSERT_EQUAL(p->n_tier[0] + p->n_tier[1] + p->n_tier[2], f->n_layers);
    int seen_c = 0;
    for (uint32_t l = 0; l < f->n_layers; l++) {
        CU_ASSERT_FALSE(seen_c && p->tier[l] == PLAN_TIER_B);
        seen_c |= p->tier[l] == PLAN_TIER_C;
    }
    /* spread: no run of streamed blocks longer than an even split gives, and
     * two more (a resident block may trade places with a larger neighbour) */
    uint32_t n_res = p->n_tier[PLAN_TIER_A], n_str = f->n_layers - n_res, run = 0;
    for (uint32_t l = 0; n_res && l < f->n_layers; l++) {
        run = p->tier[l] == PLAN_TIER_A ? 0 : run + 1;
        CU_ASSERT_TRUE(run <= (n_str + n_res - 1) / n_res + 2);
    }
    for (uint32_t l = 0; l < f->n_layers; l++) {
        if (p->tier[l] == PLAN_TIER_A)
            continue;
        /* resident it would take its file size; streamed, its slot holds it
         * as it arrives (re-quantized from tier B under --stream-type) */
        uint64_t next = plan_layer_stream_bytes(f, l);
        uint64_t arrives = p->tier[l] == PLAN_TIER_B
                               ? plan_layer_stream_bytes_as(f, l, p->stream_type)
                               : next;
        uint64_t budget = p->gpu ? dev_budget : p->ram_budget;
        int main_arena = p->gpu ? PLAN_ARENA_DEVICE : PLAN_ARENA_HOST;
        /* slots (GPU) or staging buffers (CPU) are in the arena already */
        CU_ASSERT_TRUE(p->arena_bytes[main_arena] + next > budget); /* one more block would not fit */
        CU_ASSERT_TRUE(p->n_slots >= 1);
        CU_ASSERT_TRUE(p->slot_bytes >= arrives);
    }
    for (uint32_t l = 0; p->gpu && l < f->n_layers; l++) {
        if (p->tier[l] != PLAN_TIER_C)
            continue;
        uint64_t next = plan_layer_stream_bytes(f, l);
        CU_ASSERT_TRUE(p->arena_bytes[PLAN_ARENA_HOST] + next > p->ram_budget);
    }
    /* ranges: tensors (not in the file) + buffers, per arena */
    uint32_t n = f->n_tensors + PLAN_BUF_COUNT;
    uint64_t (*r)[3] = calloc(n, sizeof *r);
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        const struct plan_tensor *t = &p->tensors[i];
        if (t->arena == PLAN_ARENA_FILE) {
            CU_ASSERT_EQUAL(t->offset, f->tensors[i].file_offset);
            continue;
        }
        CU_ASSERT_EQUAL(t->offset % PLAN_ALIGN, 0);
        uint64_t bytes = t->tier == PLAN_TIER_B ? plan_stored_bytes(&f->tensors[i], p->stream_type)
                                                : f->tensors[i].bytes;
        r[k][0] = (uint64_t)t->arena;
        r[k][1] = t->offset;
        r[k++][2] = bytes;
        if (t->tier != PLAN_TIER_A)
            CU_ASSERT_TRUE(t->slot_offset + bytes <= p->slot_bytes);
    }
    for (int b = 0; b < PLAN_BUF_COUNT; b++)
        if (p->buf[b].bytes) {
            CU_ASSERT_EQUAL(p->buf[b].offset % PLAN_ALIGN, 0);
            r[k][0] = (uint64_t)p->buf[b].arena;
            r[k][1] = p->buf[b].offset;
            r[k++][2] = p->buf[b].bytes;
        }
    for (uint32_t i = 0; i < k; i++) {
        CU_ASSERT_TRUE(r[i][1] + r[i][2] <= p->arena_bytes[r[i][0]]);
        for (uint32_t j = i + 1; j < k; j++)
            if (r[i][0] == r[j][0])
                CU_ASSERT_TRUE(r[i][1] + r[i][2] <= r[j][1] || r[j][1] + r[j][2] <= r[i][1]);
    }
    free(r);
}

static int make(struct plan *p, const char *prof_name, const char *model,
                struct plan_opts o, struct st_err *e)
{
    struct profile prof;
    struct model_facts f;
    load_profile(prof_name, &prof);
    load_model(model, &f);
    e->msg[0] = 0;
    int rc = plan_make(p, &prof, &f, &o, e);
    if (rc == 0)
        check_plan(p, &f);
    facts_free(&f);
    return rc;
}

static void test_synth_bytes(void)
{
    /* Llama-3.1-70B block, Q6_K (210 bytes per 256): q, o 8192x8192; k, v
     * 8192x1024; gate, up, down 8192x28672 -> 669.4 MiB ("669 MB") */
    struct model_facts f;
    load_model("llama-3.1-70b-q6_k", &f);
    uint64_t elems = 2ull * 8192 * 8192 + 2ull * 8192 * 1024 + 3ull * 8192 * 28672;
    CU_ASSERT_EQUAL(plan_layer_stream_bytes(&f, 0), elems / 256 * 210);
    CU_ASSERT_EQUAL(f.layer_bytes[0], elems / 256 * 210 + 2 * 8192 * 4);
    CU_ASSERT_EQUAL(f.n_layers, 80);
    CU_ASSERT_EQUAL(f.output_bytes, 128256ull * 8192 / 256 * 210);
    facts_free(&f);
    /* Qwen2.5-32B Q4_K_M: 64 blocks of about 297 MB (Q4_K, 144 per 256, with
     * attn_v and ffn_down in Q6_K on half of them) */
    load_model("qwen2.5-32b-q4_k_m", &f);
    uint64_t sum = 0;
    for (uint32_t l = 0; l < 64; l++)
        sum += f.layer_bytes[l];
    CU_ASSERT_TRUE(sum / 64 > 290000000 && sum / 64 < 305000000);
    CU_ASSERT_EQUAL(f.n_layers, 64);
    facts_free(&f);
}

static void test_3090_llama70b_q6k(void)
{
    /* the reference engine ran 29 resident + 51 from RAM + 0 from disk */
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL_FATAL(make(&p, "rtx3090-gen3x8", "llama-3.1-70b-q6_k",
                               (struct plan_opts){.ctx = 4096}, &e), 0);
    CU_ASSERT_TRUE(p.gpu);
    CU_ASSERT_EQUAL(p.gpu_sms, 82); /* the profile's: sizes the one-wave GEMV grids */
    CU_ASSERT_TRUE(p.n_tier[PLAN_TIER_A] >= 27 && p.n_tier[PLAN_TIER_A] <= 31);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_B], 80 - p.n_tier[PLAN_TIER_A]);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_C], 0);
    CU_ASSERT_EQUAL(p.n_slots, 2); /* 6.5 GB/s link */
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_KV].bytes, 2ull * 80 * 8 * 128 * 4096 * 2);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_KV].arena, PLAN_ARENA_DEVICE);
    /* default budgets: free VRAM - 512 MiB; RAM - max(4 GiB, 15%) */
    CU_ASSERT_EQUAL(p.vram_budget, 25133137920ull - (512ull << 20));
    uint64_t ram = 49283072ull * 1024;
    CU_ASSERT_EQUAL(p.ram_budget, ram - ram / 100 * 15);
    /* floor: the streamed bytes over 6.5 GB/s */
    CU_ASSERT_DOUBLE_EQUAL(p.floor_s, (double)p.tier_bytes[1] / 6.5e9, 1e-9);
    char table[16384];
    struct profile prof;
    struct model_facts f;
    load_profile("rtx3090-gen3x8", &prof);
    load_model("llama-3.1-70b-q6_k", &f);
    CU_ASSERT_TRUE(plan_table(&p, &prof, &f, "t", table, sizeof table) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "floor: t_token >="));
    facts_free(&f);
    plan_free(&p);
}

static void test_5060ti_qwen32b(void)
{
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL_FATAL(make(&p, "rtx5060ti-gen5x8", "qwen2.5-32b-q4_k_m", (struct plan_opts){0}, &e), 0);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_C], 0);
    CU_ASSERT_TRUE(p.n_tier[PLAN_TIER_A] > 0 && p.n_tier[PLAN_TIER_B] > 0);
    CU_ASSERT_EQUAL(p.n_slots, 2); /* 31.5 GB/s < 60 */
    plan_free(&p);
}

static void test_h100_22g(void)
{
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL_FATAL(make(&p, "h100-80g", "llama-3.1-70b-q4_k_m",
                               (struct plan_opts){.vram_budget = 22 * GiB}, &e), 0);
    CU_ASSERT_EQUAL(p.vram_budget, 22 * GiB);
    /* measured 54.8 GB/s on this H100's Gen5 x16 link (theoretical 63): under
     * the 60 GB/s of the third-slot rule, so 2 slots */
    CU_ASSERT_EQUAL(p.n_slots, 2);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_C], 0);
    plan_free(&p);
    /* the third slot: a link measured at 63 GB/s (>= 60) */
    {
        struct profile prof;
        struct model_facts f;
        load_profile("h100-80g", &prof);
        load_model("llama-3.1-70b-q4_k_m", &f);
        prof.h2d_measured_gbps = 63.0;
        struct plan_opts o = {.vram_budget = 22 * GiB};
        CU_ASSERT_EQUAL_FATAL(plan_make(&p, &prof, &f, &o, &e), 0);
        CU_ASSERT_EQUAL(p.n_slots, 3);
        plan_free(&p);
        prof.h2d_measured_gbps = 59.0;
        CU_ASSERT_EQUAL_FATAL(plan_make(&p, &prof, &f, &o, &e), 0);
        CU_ASSERT_EQUAL(p.n_slots, 2);
        plan_free(&p);
        facts_free(&f);
    }
    CU_ASSERT_EQUAL_FATAL(make(&p, "h100-80g", "llama-3.1-70b-q4_k_m",
                               (struct plan_opts){.vram_budget = 22 * GiB, .slots = 4}, &e), 0);
    CU_ASSERT_EQUAL(p.n_slots, 4); /* --slots overrides */
    plan_free(&p);
    /* the whole model fits the default budget: nothing streams */
    CU_ASSERT_EQUAL_FATAL(make(&p, "h100-80g", "llama-3.1-70b-q4_k_m", (struct plan_opts){0}, &e), 0);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_A], 80);
    CU_ASSERT_EQUAL(p.n_slots, 0);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_SLOTS].bytes, 0);
    plan_free(&p);
}

/* --stream-type: tier B stored re-quantized, so more of the model fits the
 * RAM budget and fewer bytes cross the link; tiers A and the slots follow. */
static void test_stream_type(void)
{
    struct plan p, q;
    struct st_err e;
    struct plan_opts o = {.vram_budget = 22 * GiB};
    CU_ASSERT_EQUAL_FATAL(make(&p, "h100-80g", "llama-3.1-70b-q6_k", o, &e), 0);
    o.stream_type = GGML_TYPE_Q4_K;
    CU_ASSERT_EQUAL_FATAL(make(&q, "h100-80g", "llama-3.1-70b-q6_k", o, &e), 0);
    CU_ASSERT_EQUAL(q.stream_type, GGML_TYPE_Q4_K);
    /* smaller slots leave room for as many resident blocks or more */
    CU_ASSERT_TRUE(q.n_tier[PLAN_TIER_A] >= p.n_tier[PLAN_TIER_A]);
    CU_ASSERT_EQUAL(q.n_tier[PLAN_TIER_C], 0);
    /* every 70B block matrix is Q6_K with rows of 8192 or 28672: Q4_K stores
     * 144 bytes per 256 where Q6_K stores 210 (each matrix 256-aligned) */
    double ratio = (double)q.tier_bytes[PLAN_TIER_B] / (double)q.tier_b_unconverted;
    CU_ASSERT_DOUBLE_EQUAL(ratio, 144.0 / 210.0, 1e-4);
    CU_ASSERT_TRUE(q.slot_bytes < p.slot_bytes);
    CU_ASSERT_TRUE(q.floor_s < 0.70 * p.floor_s);
    char table[16384];
    struct profile prof;
    struct model_facts f;
    load_profile("h100-80g", &prof);
    load_model("llama-3.1-70b-q6_k", &f);
    CU_ASSERT_TRUE(plan_table(&q, &prof, &f, "t", table, sizeof table) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "B re-quantized to Q4_K"));
    facts_free(&f);
    plan_free(&p);
    plan_free(&q);
    /* blocks left on disk arrive as the file holds them: the slots are sized
     * for those (check_plan, inside make, checks every slot range) */
    struct plan_opts o3 = {.ram_budget = 20 * GiB, .ctx = 4096, .stream_type = GGML_TYPE_Q4_K};
    CU_ASSERT_EQUAL_FATAL(make(&q, "rtx3090-gen3x8", "llama-3.1-70b-q6_k", o3, &e), 0);
    CU_ASSERT_TRUE(q.n_tier[PLAN_TIER_C] > 0);
    plan_free(&q);
    /* a wider stream type than the model's changes nothing; the CPU plan
     * has no tier B */
    o.stream_type = GGML_TYPE_Q8_0;
    CU_ASSERT_EQUAL_FATAL(make(&q, "h100-80g", "llama-3.1-70b-q6_k", o, &e), 0);
    CU_ASSERT_EQUAL(q.tier_bytes[PLAN_TIER_B], q.tier_b_unconverted);
    plan_free(&q);
    CU_ASSERT_EQUAL(quantize_stream_type(GGML_TYPE_Q6_K, 4096, GGML_TYPE_Q4_K), GGML_TYPE_Q4_K);
    CU_ASSERT_EQUAL(quantize_stream_type(GGML_TYPE_Q4_0, 4096, GGML_TYPE_Q4_K), GGML_TYPE_Q4_0);
    CU_ASSERT_EQUAL(quantize_stream_type(GGML_TYPE_F16, 172, GGML_TYPE_Q4_K), GGML_TYPE_F16);
    CU_ASSERT_EQUAL(quantize_stream_type(GGML_TYPE_F16, 4096, 0), GGML_TYPE_F16);
}

static void test_disk_tier(void)
{
    /* a RAM budget of 20 GiB on the 3090 box: what does not fit goes to disk */
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL_FATAL(make(&p, "rtx3090-gen3x8", "llama-3.1-70b-q6_k",
                               (struct plan_opts){.ram_budget = 20 * GiB}, &e), 0);
    CU_ASSERT_TRUE(p.n_tier[PLAN_TIER_C] > 0);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_STAGING].bytes, (uint64_t)p.n_slots * p.slot_bytes);
    /* floor = max(B+C over the link, C over the disk at 3.35 GB/s) */
    double link = (double)(p.tier_bytes[1] + p.tier_bytes[2]) / 6.5e9;
    double disk = (double)p.tier_bytes[2] / 3.35e9;
    CU_ASSERT_DOUBLE_EQUAL(p.floor_s, link > disk ? link : disk, 1e-9);
    plan_free(&p);
}

static void test_cpu_plans(void)
{
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL_FATAL(make(&p, "cpu-only", "llama-3.1-8b-q4_k_m", (struct plan_opts){0}, &e), 0);
    CU_ASSERT_FALSE(p.gpu);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_A], 32);
    CU_ASSERT_EQUAL(p.arena_bytes[PLAN_ARENA_DEVICE], 0);
    CU_ASSERT_EQUAL(p.buf[PLAN_BUF_KV].arena, PLAN_ARENA_HOST);
    plan_free(&p);
    /* --cpu on a GPU profile */
    CU_ASSERT_EQUAL_FATAL(make(&p, "h100-80g", "llama-3.1-8b-q4_k_m", (struct plan_opts){.cpu = 1}, &e), 0);
    CU_ASSERT_FALSE(p.gpu);
    CU_ASSERT_EQUAL(p.gpu_sms, 0); /* no GPU code to size */
    plan_free(&p);
    /* 70B on 16 GiB without a GPU: blocks past the RAM budget come from disk */
    CU_ASSERT_EQUAL_FATAL(make(&p, "cpu-only", "llama-3.1-70b-q4_k_m", (struct plan_opts){0}, &e), 0);
    CU_ASSERT_TRUE(p.n_tier[PLAN_TIER_C] > 0);
    plan_free(&p);
}

static void expect_refusal(const char *prof, const char *model, struct plan_opts o,
                           const char *w1, const char *w2)
{
    struct plan p;
    struct st_err e;
    CU_ASSERT_EQUAL(make(&p, prof, model, o, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, w1));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, w2));
    if (!strstr(e.msg, w1) || !strstr(e.msg, w2))
        printf("\n  got: %s\n", e.msg);
    plan_free(&p);
}

static void test_refusals(void)
{
    /* budget larger than the device */
    expect_refusal("rtx3090-gen3x8", "llama-3.1-70b-q6_k", (struct plan_opts){.vram_budget = 100 * GiB},
                   "plan: --vram-budget: found 100.00 GiB", "expected at most 23.70 GiB");
    expect_refusal("rtx3090-gen3x8", "llama-3.1-70b-q6_k", (struct plan_opts){.ram_budget = 46 * GiB},
                   "--ram-budget: found 46.00 GiB", "minus the reserve");
    /* a block larger than what is left for it: head + KV + 2 slots of 669 MiB */
    expect_refusal("rtx3090-gen3x8", "llama-3.1-70b-q6_k", (struct plan_opts){.vram_budget = 3 * GiB},
                   "--vram-budget: found 3.00 GiB", "2 slots of the largest block, 669.38 MiB");
    /* a context that does not fit: KV for 131072 tokens is 40 GiB */
    expect_refusal("rtx3090-gen3x8", "llama-3.1-70b-q6_k", (struct plan_opts){.ctx = 131072},
                   "--ctx: found 131072 (KV cache 40.00 GiB)", "expected at most");
    /* past the model's context */
    expect_refusal("h100-80g", "llama-3.1-8b-q4_k_m", (struct plan_opts){.ctx = 200000},
                   "--ctx: found 200000", "at most 131072 (the model");
    expect_refusal("h100-80g", "llama-3.1-8b-q4_k_m", (struct plan_opts){.slots = 9},
                   "--slots: found 9", "1 to 8");
}

static void test_deterministic(void)
{
    struct plan a, b;
    struct st_err e;
    struct plan_opts o = {.vram_budget = 22 * GiB};
    CU_ASSERT_EQUAL_FATAL(make(&a, "h100-80g", "llama-3.1-70b-q4_k_m", o, &e), 0);
    CU_ASSERT_EQUAL_FATAL(make(&b, "h100-80g", "llama-3.1-70b-q4_k_m", o, &e), 0);
    CU_ASSERT_EQUAL(memcmp(a.tensors, b.tensors, a.n_tensors * sizeof *a.tensors), 0);
    CU_ASSERT_EQUAL(memcmp(a.tier, b.tier, sizeof a.tier), 0);
    plan_free(&a);
    plan_free(&b);
}

static void test_plan_bundled(void)
{
    struct model_facts f;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(facts_from_gguf(&f, test_bundled_model(), &e), 0);
    CU_ASSERT_STRING_EQUAL(f.arch, "llama");
    CU_ASSERT_EQUAL(f.n_layers, 5);
    CU_ASSERT_EQUAL(f.n_embd, 64);
    CU_ASSERT_EQUAL(f.n_heads, 8);
    CU_ASSERT_EQUAL(f.n_kv_heads, 4);
    CU_ASSERT_EQUAL(f.n_ff, 172);
    CU_ASSERT_EQUAL(f.n_vocab, 512);
    /* F32 block: q, o 64x64; k, v 64x32; gate, up, down 64x172; 2 norms of 64 */
    CU_ASSERT_EQUAL(f.layer_bytes[0], 4ull * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172 + 2 * 64));
    struct profile prof;
    load_profile("cpu-only", &prof);
    struct plan p;
    CU_ASSERT_EQUAL_FATAL(plan_make(&p, &prof, &f, &(struct plan_opts){0}, &e), 0);
    check_plan(&p, &f);
    CU_ASSERT_EQUAL(p.n_tier[PLAN_TIER_A], 5);
    CU_ASSERT_EQUAL(p.ctx, 2048); /* the model's context_length, below 4096 */
    plan_free(&p);
    facts_free(&f);
}

static int has_line(const struct plan_gemv *g, const char *s)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->line[i], s))
            return 1;
    return 0;
}

/* The GEMV shapes of the 8B Q4_K_M plan: every matrix, Q|K|V fused where
 * V is Q4_K like Q and K, Q|K where V is Q6_K (half the blocks) and Q|K with
 * that V in one launch, gate|up as a pair; sorted and unique. */
static void test_gemv_shapes(void)
{
    struct profile prof;
    struct model_facts f;
    struct plan p;
    struct plan_gemv g;
    struct st_err e = {""};
    load_profile("h100-80g", &prof);
    load_model("llama-3.1-8b-q4_k_m", &f);
    struct plan_opts o = {0};
    CU_ASSERT_EQUAL_FATAL(plan_make(&p, &prof, &f, &o, &e), 0);
    CU_ASSERT_EQUAL_FATAL(plan_gemv_shapes(&f, &p, &g, &e), 0);
    static const char *const want[] = {
        "Q4_K 4096 4096",  "Q4_K 1024 4096",         "Q6_K 1024 4096",   "Q4_K 6144 4096",
        "Q4_K 5120 4096",  "Q4_K 14336 4096 swiglu", "Q4_K 4096 14336",  "Q6_K 4096 14336",
        "Q6_K 128256 4096", "Q4_K 5120 4096 + Q6_K 1024",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!has_line(&g, want[i]))
            fprintf(stderr, "gemv shapes: missing \"%s\"\n", want[i]);
        CU_ASSERT_TRUE(has_line(&g, want[i]));
    }
    CU_ASSERT_FALSE(has_line(&g, "Q4_K 14336 4096 swiglu swiglu"));
    for (size_t i = 1; i < g.n; i++)
        CU_ASSERT_TRUE(strcmp(g.line[i - 1], g.line[i]) < 0);
    /* every line names a type, rows and columns (and at most "swiglu", or
     * "+" and a second type and its rows) */
    for (size_t i = 0; i < g.n; i++) {
        char ty[16], extra[16] = "", ty2[16] = "";
        unsigned r, c, r2 = 0;
        int k = sscanf(g.line[i], "%15s %u %u %15s %15s %u", ty, &r, &c, extra, ty2, &r2);
        CU_ASSERT_TRUE(k == 3 || (k == 4 && !strcmp(extra, "swiglu")) ||
                       (k == 6 && !strcmp(extra, "+") && strcmp(ty, ty2) && r2 > 0));
    }
    plan_gemv_free(&g);
    plan_free(&p);
    facts_free(&f);
}

/* gen/gemv-instances.sh with the one input line `line` and args: its exit
 * status; its stdout and stderr together in out. */
static int run_list(const char *line, const char *args, char *out, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "printf '%s\\n' | sh gen/gemv-instances.sh %s 2>&1", line, args);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the same with input "Q4_K 256 1024" */
static int run_instances(const char *args, char *out, size_t cap)
{
    return run_list("Q4_K 256 1024", args, out, cap);
}

/* The generated instances take the plan's multiprocessor count (the one-wave
 * grids are sized by it); anything but a number is refused in one line. */
static void test_instances_sms(void)
{
    static char out[1 << 16];
    CU_ASSERT_EQUAL(run_instances("kernels 82", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\n#define GEMV_SMS 82\n#include \"gemv_common.cuh\""));
    CU_ASSERT_EQUAL(run_instances("kernels 0", out, sizeof out), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "#define GEMV_SMS"));
    CU_ASSERT_EQUAL(run_instances("kernels", out, sizeof out), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "#define GEMV_SMS"));
    static const char *const bad[] = {"kernels x", "kernels -3", "kernels 8x", "all ''"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(run_instances(bad[i], out, sizeof out), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "gemv-instances.sh: SMS: found '"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "expected a number of multiprocessors"));
        CU_ASSERT_PTR_NULL(strstr(out, "gemv_common.cuh"));
    }
}

/* A concatenation line ("TYPE ROWS COLS + TYPE2 ROWS2") gives the instance
 * and its entries in gemv_launch_cat and gemv_cat_int8_x; a malformed one, or one naming an
 * unknown second type, is refused in one line, exit 1, for the kernels and
 * the dispatch alike. */
static void test_instances_cat(void)
{
    static char out[1 << 16];
    CU_ASSERT_EQUAL(run_list("Q4_K 256 1024 + Q6_K 128", "dispatch", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rows2 == 128 && cols == 1024)\n        return gemv_q4_k_256x1024_q6_k_128("));
    // its parts' int8 rounding (gemv_cat_int8_x: test_gemv's references)
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "        return gemv_q4_k_256x1024_q6_k_128_int8x();"));
    CU_ASSERT_EQUAL(run_list("Q4_K 256 1024 + Q6_K 128", "kernels", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gemv_cat<gemv_dec_q4_k, 256, gemv_dec_q6_k, 128, 1024>"));
    static const char *const malformed[] = {"Q4_K 256 1024 + Q6_K", "Q4_K 256 1024 + Q6_K 0",
                                            "Q4_K 256 1024 x Q6_K 128", "Q4_K 256 1024 + Q6_K 12x",
                                            "Q4_K 256 1024 swiglu Q6_K 128"};
    static const char *const modes[] = {"kernels", "dispatch"};
    for (size_t m = 0; m < 2; m++) {
        for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
            CU_ASSERT_EQUAL(run_list(malformed[i], modes[m], out, sizeof out), 1);
            CU_ASSERT_PTR_NOT_NULL(strstr(out, "gemv-instances.sh: stdin line 1: found \""));
            CU_ASSERT_PTR_NOT_NULL(strstr(out, "expected TYPE ROWS COLS [swiglu | + TYPE2 ROWS2]"));
        }
        CU_ASSERT_EQUAL(run_list("Q4_K 256 1024 + Q9_Z 128", modes[m], out, sizeof out), 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "gemv-instances.sh: type: found 'q9_z', expected one of"));
    }
}

void suite_plan(void)
{
    CU_pSuite s = CU_add_suite("plan", NULL, NULL);
    CU_add_test(s, "synthetic models' block bytes", test_synth_bytes);
    CU_add_test(s, "RTX 3090 + Llama-3.1-70B Q6_K: 27..31 resident, none on disk", test_3090_llama70b_q6k);
    CU_add_test(s, "RTX 5060 Ti + Qwen2.5-32B Q4_K_M: none on disk", test_5060ti_qwen32b);
    CU_add_test(s, "H100 at 22 GiB: 2 slots (measured link); whole model at default", test_h100_22g);
    CU_add_test(s, "small RAM budget: tier C", test_disk_tier);
    CU_add_test(s, "--stream-type: tier B re-quantized", test_stream_type);
    CU_add_test(s, "CPU plans", test_cpu_plans);
    CU_add_test(s, "refusals with numbers", test_refusals);
    CU_add_test(s, "deterministic", test_deterministic);
    CU_add_test(s, "the bundled model", test_plan_bundled);
    CU_add_test(s, "GEMV shapes: fused Q|K|V, Q|K, gate|up", test_gemv_shapes);
    CU_add_test(s, "gemv-instances.sh: the SM count, bad ones refused", test_instances_sms);
    CU_add_test(s, "gemv-instances.sh: concatenations, bad ones refused", test_instances_cat);
}
