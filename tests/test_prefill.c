/* test_prefill.c - the batched forward (engine_forward_batch) against
 * feeding the same tokens one at a time through engine_forward.
 *
 * The decode path is the oracle (tested against a double-precision forward
 * and llama.cpp in test_forward.c). The CPU prefill performs the same float
 * operations in the same order per token (prefill.h), so two things are
 * asserted on every model: the relative L2 error of every logit row is
 * below 1e-5 (the bound any backend's prefill must meet), and on the CPU
 * the rows are bit-identical (a change of summation order in either path
 * shows up here first). Prompts are shorter than, equal to and longer than
 * a chunk (PREFILL_MAX_TOKENS), and decoding continues after the prefill
 * with the same logits as after token-by-token feeding (the KV cache the
 * prefill left is the same). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/prefill.h"
#include "engine.h"
#include "model.h"
#include "util.h"

#define REL_L2_BOUND 1e-5
#define N_CTX 128
#define N_DECODE 4 /* decode steps after the prompt */

static const char *const models[] = {
    "stories260K.gguf",      "stories260K-q8_0.gguf", "stories260K-q4_0.gguf",
    "stories260K-f16.gguf",  "stories260K-bf16.gguf", "zoo-llama-bpe.gguf",
    "zoo-qwen2-bpe.gguf",
};
#define N_MODELS (int)(sizeof models / sizeof models[0])



/* ||a - b|| / ||b||; NaN (never < bound) when either holds a NaN. */
static double rel_l2(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i] - b[i];
        d += x * x;
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* Checks one row against its reference; counts bit differences. */
static int row_ok(const char *what, const float *got, const float *want, uint32_t n,
                  size_t *n_diff)
{
    double e = rel_l2(got, want, n);
    for (uint32_t i = 0; i < n; i++)
        *n_diff += memcmp(&got[i], &want[i], sizeof(float)) != 0;
    static int printed; /* the first few failures say enough */
    if (!(e < REL_L2_BOUND)) {
        if (printed++ < 8)
            printf("\n  %s: relative L2 %.3g (bound %.0e)\n", what, e, REL_L2_BOUND);
        return 0;
    }
    return 1;
}

static void random_tokens(int32_t *t, uint32_t n, uint32_t n_vocab, uint64_t seed)
{
    uint64_t s = seed;
    for (uint32_t i = 0; i < n; i++)
        t[i] = (int32_t)(test_rand_u64(&s) % n_vocab);
}

/* ---- tests ------------------------------------------------------------------------ */

/* Prompt lengths: shorter than a chunk, one chunk, two chunks and a part. */
static const uint32_t lengths[] = {5, PREFILL_MAX_TOKENS, 2 * PREFILL_MAX_TOKENS + 11};
#define N_LENGTHS 3
#define MAX_LEN (2 * PREFILL_MAX_TOKENS + 11 + N_DECODE)

/* Every model, every length: all logit rows (logits_out), the last row
 * alone (logits_out NULL), then N_DECODE decode steps on both engines. */
static void test_prefill_matches_decode(void)
{
    for (int mi = 0; mi < N_MODELS; mi++) {
        const char *path = test_model_or_skip(models[mi], "prefill/matches-decode");
        struct llm_model m;
        if (!path || test_load_model(&m, path))
            continue;
        uint32_t nv = m.cfg.n_vocab;
        struct st_err err = {{0}};
        struct engine_opts o = {N_CTX, 2};
        struct engine *ref = engine_init(&m, &o, &err);
        struct engine *pf = engine_init(&m, &o, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
        float *want = malloc((size_t)MAX_LEN * nv * sizeof(float));
        float *got = malloc((size_t)MAX_LEN * nv * sizeof(float));
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        int32_t tok[MAX_LEN];
        size_t n_diff = 0;
        int ok = 1;
        for (int li = 0; li < N_LENGTHS; li++) {
            uint32_t n = lengths[li];
            char what[160];
            snprintf(what, sizeof what, "%s, %u tokens", models[mi], n);
            random_tokens(tok, n + N_DECODE, nv, 0x9e3779b97f4a7c15ull + n);

            /* the oracle: one token at a time, every row kept */
            for (uint32_t i = 0; i < n; i++) {
                const float *l = engine_forward(ref, tok[i], i, &err);
                CU_ASSERT_PTR_NOT_NULL_FATAL(l);
                memcpy(want + (size_t)i * nv, l, nv * sizeof(float));
            }

            /* every row */
            const float *last = engine_forward_batch(pf, tok, n, 0, got, &err);
            CU_ASSERT_PTR_NOT_NULL_FATAL(last);
            CU_ASSERT(last == got + (size_t)(n - 1) * nv);
            for (uint32_t i = 0; i < n; i++)
                ok &= row_ok(what, got + (size_t)i * nv, want + (size_t)i * nv, nv, &n_diff);

            /* the last row only (the cache is rewritten with the same values) */
            last = engine_forward_batch(pf, tok, n, 0, NULL, &err);
            CU_ASSERT_PTR_NOT_NULL_FATAL(last);
            ok &= row_ok(what, last, want + (size_t)(n - 1) * nv, nv, &n_diff);

            /* decoding on from the prefilled cache */
            for (uint32_t s = 0; s < N_DECODE; s++) {
                const float *a = engine_forward(ref, tok[n + s], n + s, &err);
                CU_ASSERT_PTR_NOT_NULL_FATAL(a);
                memcpy(want, a, nv * sizeof(float));
                const float *b = engine_forward(pf, tok[n + s], n + s, &err);
                CU_ASSERT_PTR_NOT_NULL_FATAL(b);
                ok &= row_ok(what, b, want, nv, &n_diff);
            }
        }
        CU_ASSERT(ok);
        if (n_diff)
            printf("\n  %s: %zu logits differ in their bits from decode's\n", models[mi],
                   n_diff);
        CU_ASSERT_EQUAL(n_diff, 0);
        free(want);
        free(got);
        engine_free(ref);
        engine_free(pf);
        model_free(&m);
    }
}

/* A prompt fed in pieces (decode, a batch not on a chunk boundary, another
 * batch) ends with the logits of one token at a time. */
static void test_prefill_in_pieces(void)
{
    const char *files[] = {"stories260K.gguf", "zoo-qwen2-bpe.gguf"};
    for (int fi = 0; fi < 2; fi++) {
        const char *path = test_model_or_skip(files[fi], "prefill/pieces");
        struct llm_model m;
        if (!path || test_load_model(&m, path))
            continue;
        uint32_t nv = m.cfg.n_vocab, n = 50;
        struct st_err err = {{0}};
        struct engine_opts o = {N_CTX, 2};
        struct engine *ref = engine_init(&m, &o, &err);
        struct engine *pf = engine_init(&m, &o, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
        int32_t tok[50];
        random_tokens(tok, n, nv, 7 + fi);
        const float *want = NULL;
        for (uint32_t i = 0; i < n; i++)
            want = engine_forward(ref, tok[i], i, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);

        CU_ASSERT_PTR_NOT_NULL_FATAL(engine_forward(pf, tok[0], 0, &err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(engine_forward_batch(pf, tok + 1, 9, 1, NULL, &err));
        const float *got = engine_forward_batch(pf, tok + 10, n - 10, 10, NULL, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        size_t n_diff = 0;
        CU_ASSERT(row_ok(files[fi], got, want, nv, &n_diff));
        CU_ASSERT_EQUAL(n_diff, 0);
        engine_free(ref);
        engine_free(pf);
        model_free(&m);
    }
}

/* Rows are split over threads, never a row's sum: 1 and 3 threads give
 * the same bits. */
static void test_prefill_threads(void)
{
    struct llm_model m;
    if (test_load_model(&m, test_bundled_model()))
        return;
    uint32_t nv = m.cfg.n_vocab, n = PREFILL_MAX_TOKENS + 3;
    struct st_err err = {{0}};
    struct engine_opts o1 = {N_CTX, 1}, o3 = {N_CTX, 3};
    struct engine *e1 = engine_init(&m, &o1, &err);
    struct engine *e3 = engine_init(&m, &o3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e3);
    int32_t tok[PREFILL_MAX_TOKENS + 3];
    random_tokens(tok, n, nv, 11);
    float *a = malloc((size_t)n * nv * sizeof(float));
    float *b = malloc((size_t)n * nv * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL(engine_forward_batch(e1, tok, n, 0, a, &err));
    CU_ASSERT_PTR_NOT_NULL(engine_forward_batch(e3, tok, n, 0, b, &err));
    CU_ASSERT(memcmp(a, b, (size_t)n * nv * sizeof(float)) == 0);
    free(a);
    free(b);
    engine_free(e1);
    engine_free(e3);
    model_free(&m);
}

/* No tokens, a batch running past the context, a token outside the
 * vocabulary: an error naming the field, and nothing run. */
static void test_prefill_errors(void)
{
    struct llm_model m;
    if (test_load_model(&m, test_bundled_model()))
        return;
    struct st_err err = {{0}};
    struct engine_opts o = {8, 1};
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    int32_t tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CU_ASSERT_PTR_NOT_NULL(engine_forward_batch(e, tok, 8, 0, NULL, &err));
    CU_ASSERT_PTR_NULL(engine_forward_batch(e, tok, 9, 0, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "position: found 9 tokens from position 0"));
    err.msg[0] = 0;
    CU_ASSERT_PTR_NULL(engine_forward_batch(e, tok, 2, 7, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "position"));
    err.msg[0] = 0;
    CU_ASSERT_PTR_NULL(engine_forward_batch(e, tok, 0, 0, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "batch: found 0 tokens"));
    tok[3] = 512;
    err.msg[0] = 0;
    CU_ASSERT_PTR_NULL(engine_forward_batch(e, tok, 5, 0, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "token: found 512 (batch index 3)"));
    tok[3] = -1;
    CU_ASSERT_PTR_NULL(engine_forward_batch(e, tok, 5, 0, NULL, &err));
    engine_free(e);
    model_free(&m);
}

void suite_prefill(void)
{
    CU_pSuite s = CU_add_suite("prefill", NULL, NULL);
    CU_add_test(s, "batched logits equal token-by-token decode", test_prefill_matches_decode);
    CU_add_test(s, "a prompt in pieces", test_prefill_in_pieces);
    CU_add_test(s, "1 and 3 threads give the same bits", test_prefill_threads);
    CU_add_test(s, "bad batch, position or token", test_prefill_errors);
}
