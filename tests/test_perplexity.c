/* test_perplexity.c - llama.cpp's perplexity (perplexity.h): the NLL and
 * statistics against values worked out by hand (bc), the chunking, BOS and
 * scored-half logic on a fake forward whose probabilities are known, and
 * the real thing on the bundled story model over tests/fixtures/ppl.txt
 * (TinyStories-like text written for this test), checked against a
 * token-by-token evaluation done here. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "perplexity.h"
#include "tokenizer.h"
#include "util.h"

#define CLOSE(a, b, tol) (fabs((a) - (b)) <= (tol) * fabs(b))

/* ---- the arithmetic --------------------------------------------------------------- */

/* -log softmax by hand: logits {1, 2, 3}, target 2:
 * -(3 - ln(e + e^2 + e^3)) = ln(1 + e^-1 + e^-2) = 0.40760596444438030447 (bc);
 * target 0: 2 more. Equal huge logits: ln 2, with no overflow. */
static void test_nll_by_hand(void)
{
    const float l[3] = {1, 2, 3};
    CU_ASSERT(CLOSE(ppl_token_nll(l, 3, 2), 0.40760596444438030447, 1e-7));
    CU_ASSERT(CLOSE(ppl_token_nll(l, 3, 0), 2.40760596444438030447, 1e-7));
    const float big[2] = {1000, 1000};
    CU_ASSERT(CLOSE(ppl_token_nll(big, 2, 1), 0.69314718055994530942, 1e-7));
    /* a uniform model over V tokens: ln V */
    float u[100] = {0};
    CU_ASSERT(CLOSE(ppl_token_nll(u, 100, 42), log(100.0), 1e-7));
}

/* nll {1, 2, 3}: PPL = e^2 = 7.38905609893065022723; mean(nll^2) = 14/3,
 * var = 2/3, +/- = e^2 * sqrt(var / 2) = 4.26607352777485693272 (bc). */
static void test_stats_by_hand(void)
{
    struct ppl_stats s = {0, 0, 0};
    CU_ASSERT(isnan(ppl_stats_ppl(&s)));
    ppl_stats_add(&s, 1);
    CU_ASSERT(isnan(ppl_stats_err(&s))); /* one token: no spread */
    ppl_stats_add(&s, 2);
    ppl_stats_add(&s, 3);
    CU_ASSERT_EQUAL(s.count, 3);
    CU_ASSERT(CLOSE(ppl_stats_ppl(&s), 7.38905609893065022723, 1e-12));
    CU_ASSERT(CLOSE(ppl_stats_err(&s), 4.26607352777485693272, 1e-12));
}

/* ---- chunking on a fake forward --------------------------------------------------- */

/* V = 4 tokens. After token t the fake model gives logit ln 5 to
 * (t + 1) % 4 and 0 to the rest: p = 5/8 for the "next" token, 1/8 for the
 * others, so a scored token costs ln 1.6 when it is (prev + 1) % 4 and ln 8
 * otherwise. The fake also checks what ppl_run feeds it. */
#define FV 4
struct fake {
    uint32_t next_pos;   /* the position the next call must start at */
    int32_t bos;
    int calls, null_calls, bad_feed, fail_at;
    int32_t seen[64];    /* tokens fed in the current chunk */
};

static const float *fake_forward(void *ctx, const int32_t *tokens, uint32_t n, uint32_t pos0,
                                 float *logits_out, struct st_err *err)
{
    struct fake *f = ctx;
    if (++f->calls == f->fail_at) {
        st_errmsg(err, "fake: failed on purpose");
        return NULL;
    }
    if (pos0 == 0)
        f->next_pos = 0; /* a fresh chunk */
    if (pos0 != f->next_pos || (pos0 == 0 && tokens[0] != f->bos))
        f->bad_feed++;
    f->next_pos = pos0 + n;
    memcpy(f->seen + pos0, tokens, n * sizeof *tokens);
    if (!logits_out) {
        f->null_calls++;
        static const float unread;
        return &unread; /* any non-NULL: the logits are not read */
    }
    for (uint32_t i = 0; i < n; i++) {
        float *l = logits_out + (size_t)i * FV;
        for (int v = 0; v < FV; v++)
            l[v] = 0;
        l[(tokens[i] + 1) % FV] = logf(5.0f);
    }
    return logits_out + (size_t)(n - 1) * FV;
}

static void record_chunk(void *ctx, uint32_t chunk, double ppl)
{
    double *v = ctx;
    v[chunk - 1] = ppl;
}

/* n_ctx 8: positions 4, 5, 6 are scored (predicting 5, 6, 7). Chunk 1
 * {0 1 2 3 0 1 2 3}: every prediction hits, ln 1.6 each, PPL 1.6. Chunk 2
 * all 3s: every one misses, ln 8 each. Both: mean (ln 1.6 + ln 8) / 2, PPL
 * sqrt(12.8) = 3.57770876399966351425; +/- = PPL * (ln 8 - ln 1.6) / 2 /
 * sqrt(5) = 1.28755032994728029968 (bc). The 3 tokens past the last whole
 * chunk are dropped. */
static void test_run_fake(void)
{
    int32_t tokens[19] = {0, 1, 2, 3, 0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1};
    float logits[3 * FV];
    int32_t tok[3];
    double running[4] = {0};
    struct fake f = {0, 2, 0, 0, 0, 0, {0}};
    struct ppl_params pp = {8, -1, 2, FV, 3}; /* n_ctx 8, all chunks, BOS 2, batch 3 */
    struct ppl_result r;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL(ppl_chunks(&pp, 19, &err), 2);
    CU_ASSERT_EQUAL_FATAL(ppl_run(&pp, fake_forward, &f, tokens, 19, logits, tok,
                                  record_chunk, running, &r, &err), 0);
    CU_ASSERT_EQUAL(r.n_chunks, 2);
    CU_ASSERT_EQUAL(r.count, 6);
    CU_ASSERT(CLOSE(running[0], 1.6, 1e-6));
    CU_ASSERT(CLOSE(running[1], 3.57770876399966351425, 1e-6));
    CU_ASSERT(CLOSE(r.ppl, 3.57770876399966351425, 1e-6));
    CU_ASSERT(CLOSE(r.err, 1.28755032994728029968, 1e-5));
    /* batches [0,3) [3,6) [6,8) per chunk; the first holds no scored
     * position and asks for no logits; BOS replaced the first token and
     * the caller's tokens are untouched */
    CU_ASSERT_EQUAL(f.calls, 6);
    CU_ASSERT_EQUAL(f.null_calls, 2);
    CU_ASSERT_EQUAL(f.bad_feed, 0);
    CU_ASSERT_EQUAL(tokens[0], 0);
    CU_ASSERT_EQUAL(tokens[8], 3);

    /* --chunks 1 */
    pp.n_chunks = 1;
    memset(&f, 0, sizeof f);
    f.bos = 2;
    CU_ASSERT_EQUAL_FATAL(ppl_run(&pp, fake_forward, &f, tokens, 19, logits, tok, NULL,
                                  NULL, &r, &err), 0);
    CU_ASSERT_EQUAL(r.n_chunks, 1);
    CU_ASSERT(CLOSE(r.ppl, 1.6, 1e-6));
    CU_ASSERT(isnan(r.err)); /* every nll equal: no spread */

    /* no BOS: the first token is fed as it is */
    pp.n_chunks = -1;
    pp.bos = -1;
    memset(&f, 0, sizeof f);
    f.bos = 0; /* chunk 1 starts with 0 ... */
    ppl_run(&pp, fake_forward, &f, tokens, 19, logits, tok, NULL, NULL, &r, &err);
    CU_ASSERT_EQUAL(f.bad_feed, 1); /* ... chunk 2 with 3 */
}

static void test_run_errors(void)
{
    int32_t tokens[16] = {0};
    float logits[3 * FV];
    int32_t tok[3];
    struct fake f = {0, 2, 0, 0, 0, 0, {0}};
    struct ppl_params pp = {8, -1, 2, FV, 3};
    struct ppl_result r;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL(ppl_run(&pp, fake_forward, &f, tokens, 15, logits, tok, NULL, NULL, &r,
                            &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "text: found 15 tokens, expected at least 2 * 8"));
    CU_ASSERT_EQUAL(f.calls, 0);
    f.fail_at = 4; /* in the second chunk */
    CU_ASSERT_EQUAL(ppl_run(&pp, fake_forward, &f, tokens, 16, logits, tok, NULL, NULL, &r,
                            &err), -1);
    CU_ASSERT_STRING_EQUAL(err.msg, "fake: failed on purpose");
    pp.n_ctx = 3;
    CU_ASSERT_EQUAL(ppl_chunks(&pp, 100, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "context: found 3"));
}

/* ---- the bundled model ------------------------------------------------------------ */

#define FIXTURE "tests/fixtures/ppl.txt"
#define STORY_CTX 128
/* measured 4.27 (14 chunks of 128); the bound leaves room for rounding
 * changes but not for a broken model, mask or rope (those give > 50) */
#define STORY_PPL_MAX 8.0

/* The fixture's ids as llama-perplexity takes them: BOS, no special
 * tokens; one trailing newline dropped (as -f reads it). */
static int32_t *fixture_tokens(const struct llm_model *m, int *n)
{
    FILE *fp = fopen(FIXTURE, "rb");
    CU_ASSERT_PTR_NOT_NULL(fp);
    if (!fp)
        return NULL;
    static char text[16384];
    size_t len = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    if (len && text[len - 1] == '\n')
        len--;
    text[len] = 0;
    struct st_err err = {{0}};
    struct tokenizer *t = tok_load(&m->gguf, &err);
    CU_ASSERT_PTR_NOT_NULL(t);
    if (!t)
        return NULL;
    int32_t *ids = malloc((len + 8) * sizeof *ids);
    *n = tok_encode(t, text, len, tok_add_bos(t), false, ids, (int)len + 8);
    tok_free(t);
    return ids;
}

static const float *engine_fwd(void *e, const int32_t *tokens, uint32_t n, uint32_t pos0,
                               float *logits_out, struct st_err *err)
{
    return engine_forward_batch(e, tokens, n, pos0, logits_out, err);
}

/* The same evaluation written out here: token by token through
 * engine_forward, log-softmax in double. */
static double ppl_by_decode(struct engine *e, const int32_t *ids, int n, uint32_t n_ctx,
                            uint32_t n_vocab, int32_t bos)
{
    double nll = 0;
    long count = 0;
    struct st_err err = {{0}};
    for (int c = 0; (c + 1) * (int)n_ctx <= n; c++) {
        const int32_t *t = ids + (size_t)c * n_ctx;
        for (uint32_t p = 0; p + 1 < n_ctx; p++) {
            const float *l = engine_forward(e, p == 0 ? bos : t[p], p, &err);
            if (!l)
                return NAN;
            if (p < n_ctx / 2)
                continue;
            double max = l[0], sum = 0;
            for (uint32_t v = 1; v < n_vocab; v++)
                max = l[v] > max ? l[v] : max;
            for (uint32_t v = 0; v < n_vocab; v++)
                sum += exp(l[v] - max);
            nll += -(l[t[p + 1]] - max - log(sum));
            count++;
        }
    }
    return exp(nll / count);
}

static void test_story_model(void)
{
    struct llm_model m;
    struct st_err err = {{0}};
    if (model_load(&m, test_bundled_model(), &err)) {
        printf("\n  %s\n", err.msg);
        CU_FAIL_FATAL("model_load");
    }
    int n = 0;
    int32_t *ids = fixture_tokens(&m, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    CU_ASSERT_FATAL(n >= 4 * STORY_CTX);
    struct engine_opts o = {STORY_CTX, 2};
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* ids[0] is the BOS the tokenizer added: each chunk starts with it */
    struct ppl_params pp = {STORY_CTX, -1, ids[0], m.cfg.n_vocab, 32};
    float *logits = malloc((size_t)pp.n_batch * m.cfg.n_vocab * sizeof *logits);
    int32_t tok[32];
    struct ppl_result r1, r2;
    CU_ASSERT_EQUAL_FATAL(ppl_run(&pp, engine_fwd, e, ids, (size_t)n, logits, tok, NULL,
                                  NULL, &r1, &err), 0);
    CU_ASSERT_EQUAL_FATAL(ppl_run(&pp, engine_fwd, e, ids, (size_t)n, logits, tok, NULL,
                                  NULL, &r2, &err), 0);
    printf("\n  stories260K on %s: %u chunks of %u, PPL = %.4f +/- %.5f\n", FIXTURE,
           r1.n_chunks, STORY_CTX, r1.ppl, r1.err);
    CU_ASSERT_EQUAL(r1.n_chunks, (uint32_t)n / STORY_CTX);
    CU_ASSERT(isfinite(r1.ppl) && r1.ppl > 1 && r1.ppl < STORY_PPL_MAX);
    CU_ASSERT(isfinite(r1.err) && r1.err > 0 && r1.err < r1.ppl);
    CU_ASSERT(memcmp(&r1.ppl, &r2.ppl, sizeof r1.ppl) == 0); /* deterministic */
    double want = ppl_by_decode(e, ids, n, STORY_CTX, m.cfg.n_vocab, ids[0]);
    CU_ASSERT(CLOSE(r1.ppl, want, 1e-6));
    free(logits);
    free(ids);
    engine_free(e);
    model_free(&m);
}

/* `strata perplexity` prints llama-perplexity's lines. */
static void test_cli_output(void)
{
    const char *bin = getenv("STRATA_BIN");
    if (!bin || !*bin)
        bin = "build/host/bin/strata";
    if (access(bin, X_OK) != 0) {
        test_skip("perplexity/cli", "no strata binary (set STRATA_BIN)");
        return;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f %s -c %d --chunks 2 2>/dev/null", bin,
             test_bundled_model(), FIXTURE, STORY_CTX);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char out[4096];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    CU_ASSERT_EQUAL(pclose(p), 0);
    double c1, c2, ppl, pm;
    CU_ASSERT_EQUAL(sscanf(out, "[1]%lf,[2]%lf,\nFinal estimate: PPL = %lf +/- %lf", &c1, &c2,
                           &ppl, &pm), 4);
    CU_ASSERT(c2 == ppl && ppl > 1 && ppl < STORY_PPL_MAX && pm > 0);

    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f %s 2>&1", bin, test_bundled_model(),
             FIXTURE);
    p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    CU_ASSERT_NOT_EQUAL(pclose(p), 0); /* 2048 context: the text is too short */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "expected at least 2 * 2048 tokens"));
}

void suite_perplexity(void)
{
    CU_pSuite s = CU_add_suite("perplexity", NULL, NULL);
    CU_add_test(s, "nll by hand", test_nll_by_hand);
    CU_add_test(s, "ppl and +/- by hand", test_stats_by_hand);
    CU_add_test(s, "chunks, BOS and the scored half on a fake model", test_run_fake);
    CU_add_test(s, "short text and forward errors", test_run_errors);
    CU_add_test(s, "story model on story text", test_story_model);
    CU_add_test(s, "strata perplexity output", test_cli_output);
}
