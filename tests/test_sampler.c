/* test_sampler.c - the sampling chain against hand-computed expectations:
 * masks of top-k/top-p/min-p on tiny distributions, the penalty rule,
 * determinism, and the draw following the softmax. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "util.h"

/* Parameters with every filter off and temperature 1: tests switch on
 * what they test. */
static struct sampler_params plain(void)
{
    struct sampler_params p;
    sampler_params_default(&p);
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    return p;
}

static struct sampler *make(const struct sampler_params *p, int n)
{
    struct st_err err = {""};
    struct sampler *s = sampler_init(p, n, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

static void fill_random(float *l, int n, uint64_t seed)
{
    uint64_t st = seed;
    for (int i = 0; i < n; i++)
        l[i] = test_rand_f32(&st, -8.0f, 8.0f);
}

static void test_defaults(void)
{
    struct sampler_params p;
    sampler_params_default(&p);
    CU_ASSERT_DOUBLE_EQUAL(p.temp, 0.8, 1e-7);
    CU_ASSERT_EQUAL(p.top_k, 40);
    CU_ASSERT_DOUBLE_EQUAL(p.top_p, 0.95, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(p.min_p, 0.05, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(p.repeat_penalty, 1.0, 0);
    CU_ASSERT_EQUAL(p.repeat_last_n, 64);
    CU_ASSERT_EQUAL(p.seed, SAMPLER_DEFAULT_SEED);
}

static void test_bad_params(void)
{
    struct sampler_params p = plain();
    struct st_err err = {""};
    p.top_p = 1.5f;
    CU_ASSERT_PTR_NULL(sampler_init(&p, 10, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "top_p"));
    p = plain();
    p.min_p = -0.1f;
    CU_ASSERT_PTR_NULL(sampler_init(&p, 10, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "min_p"));
    p = plain();
    p.repeat_penalty = 0.0f;
    CU_ASSERT_PTR_NULL(sampler_init(&p, 10, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "repeat_penalty"));
    p = plain();
    CU_ASSERT_PTR_NULL(sampler_init(&p, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "n_vocab"));
}

static void test_greedy_argmax(void)
{
    enum { N = 1000 };
    float l[N];
    struct sampler_params p = plain();
    p.temp = 0.0f;
    struct sampler *s = make(&p, N);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_random(l, N, seed);
        int best = 0;
        for (int i = 1; i < N; i++)
            if (l[i] > l[best])
                best = i;
        CU_ASSERT_EQUAL(sampler_sample(s, l), best);
    }
    /* ties: the lowest id, as llama.cpp's greedy sampler */
    for (int i = 0; i < N; i++)
        l[i] = 0.0f;
    l[700] = l[300] = l[900] = 5.0f;
    CU_ASSERT_EQUAL(sampler_sample(s, l), 300);
    /* NaN is never chosen */
    l[0] = NAN;
    CU_ASSERT_EQUAL(sampler_sample(s, l), 300);
    sampler_free(s);
}

static void draw_sequence(uint64_t seed, int32_t *out, int n)
{
    enum { V = 500 };
    float l[V];
    fill_random(l, V, 77);
    struct sampler_params p;
    sampler_params_default(&p); /* the real default chain */
    p.temp = 1.5f;              /* spread it so draws differ */
    p.seed = seed;
    struct sampler *s = make(&p, V);
    for (int i = 0; i < n; i++) {
        out[i] = sampler_sample(s, l);
        sampler_accept(s, out[i]);
    }
    sampler_free(s);
}

static void test_seed_determinism(void)
{
    int32_t a[200], b[200], c[200];
    draw_sequence(1234, a, 200);
    draw_sequence(1234, b, 200);
    draw_sequence(1235, c, 200);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
    int distinct = 0;
    for (int i = 1; i < 200; i++)
        distinct += a[i] != a[0];
    CU_ASSERT(distinct > 0); /* it really samples */

    /* reset restarts the same sequence */
    enum { V = 500 };
    float l[V];
    fill_random(l, V, 77);
    struct sampler_params p = plain();
    p.seed = 9;
    struct sampler *s = make(&p, V);
    int32_t first[50];
    for (int i = 0; i < 50; i++)
        first[i] = sampler_sample(s, l);
    sampler_reset(s);
    for (int i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(sampler_sample(s, l), first[i]);
    sampler_free(s);
}

static void test_top_k_1_is_greedy(void)
{
    enum { N = 3000 };
    float l[N];
    struct sampler_params p;
    sampler_params_default(&p);
    p.top_k = 1;
    p.temp = 2.0f;
    struct sampler *s = make(&p, N);
    for (uint64_t seed = 1; seed <= 30; seed++) {
        fill_random(l, N, seed * 31);
        int best = 0;
        for (int i = 1; i < N; i++)
            if (l[i] > l[best])
                best = i;
        CU_ASSERT_EQUAL(sampler_sample(s, l), best);
    }
    sampler_free(s);
}

/* top-k against a naive O(n k) selection, with many ties (logits on a
 * coarse grid): best-first, ties by lower id. */
static void test_top_k_selection(void)
{
    enum { N = 5000, K = 57 };
    float l[N];
    uint64_t st = 5;
    for (int i = 0; i < N; i++)
        l[i] = (float)(int)test_rand_f32(&st, -20.0f, 20.0f);
    struct sampler_params p = plain();
    p.top_k = K;
    struct sampler *s = make(&p, N);
    const struct sampler_cand *c;
    int n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, K);
    char taken[N] = {0};
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int i = 0; i < N; i++)
            if (!taken[i] && (best < 0 || l[i] > l[best]))
                best = i;
        taken[best] = 1;
        CU_ASSERT_EQUAL(c[k].id, best);
        CU_ASSERT_EQUAL(c[k].logit, l[best]);
    }
    sampler_free(s);
}

/* p = {0.05, 0.5, 0.1, 0.2, 0.15} over ids 0..4. */
static void five_token_logits(float l[5])
{
    static const double prob[5] = {0.05, 0.5, 0.1, 0.2, 0.15};
    for (int i = 0; i < 5; i++)
        l[i] = (float)log(prob[i]);
}

static void test_top_p_mask(void)
{
    float l[5];
    five_token_logits(l);
    struct sampler_params p = plain();
    const struct sampler_cand *c;

    /* best-first: 0.5 (id 1), 0.2 (id 3), 0.15 (id 4), 0.1, 0.05.
     * cumulative 0.5, 0.7, 0.85, 0.95, 1.0 */
    p.top_p = 0.6f; /* reached at the 2nd: {1, 3} */
    struct sampler *s = make(&p, 5);
    int n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(c[0].id, 1);
    CU_ASSERT_EQUAL(c[1].id, 3);
    sampler_free(s);

    p.top_p = 0.8f; /* reached at the 3rd: {1, 3, 4} */
    s = make(&p, 5);
    n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(c[2].id, 4);
    sampler_free(s);

    p.top_p = 0.0f; /* always at least one */
    s = make(&p, 5);
    n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(c[0].id, 1);
    sampler_free(s);
}

static const float *g_sort_logits;
static int by_logit_desc(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    float x = g_sort_logits[i], y = g_sort_logits[j];
    if (x != y)
        return x > y ? -1 : 1;
    return i - j;
}

/* top-p over a large vocabulary with top-k off (the growing-prefix path)
 * against a plain full sort and libm exp in the test. */
static void test_top_p_large(void)
{
    enum { N = 20000 };
    static float l[N];
    static int order[N];
    for (int round = 0; round < 3; round++) {
        uint64_t st = 100 + round;
        /* round 0: peaked (prefix < 256), 1: wider (> 256), 2: flat-ish */
        float spread = round == 0 ? 5.0f : round == 1 ? 6.0f : 0.5f;
        for (int i = 0; i < N; i++)
            l[i] = test_rand_f32(&st, -spread, spread) + (round == 0 && i % 400 == 0 ? 10 : 0);
        for (int i = 0; i < N; i++)
            order[i] = i;
        g_sort_logits = l;
        qsort(order, N, sizeof order[0], by_logit_desc);
        double mx = l[order[0]], sum = 0;
        for (int i = 0; i < N; i++)
            sum += exp(l[i] - mx);
        const float top_p = 0.9f;
        int keep = N;
        double cum = 0;
        for (int i = 0; i < N; i++) {
            cum += exp(l[order[i]] - mx) / sum;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
        struct sampler_params p = plain();
        p.top_p = top_p;
        struct sampler *s = make(&p, N);
        const struct sampler_cand *c;
        int n = sampler_filter(s, l, &c);
        CU_ASSERT_EQUAL(n, keep);
        if (round == 0)
            CU_ASSERT(keep < 256);
        if (round == 1)
            CU_ASSERT(keep > 256 && keep < 8192);
        if (round == 2)
            CU_ASSERT(keep > 8192);
        for (int i = 0; i < n && i < keep; i++)
            CU_ASSERT_EQUAL(c[i].id, order[i]);
        sampler_free(s);
    }

    /* equal logits: cumulative (i + 1) / 1000 first reaches 0.9905 at 991;
     * ties keep the lower ids */
    enum { M = 1000 };
    float flat[M];
    for (int i = 0; i < M; i++)
        flat[i] = 1.5f;
    struct sampler_params p = plain();
    p.top_p = 0.9905f;
    struct sampler *s = make(&p, M);
    const struct sampler_cand *c;
    int n = sampler_filter(s, flat, &c);
    CU_ASSERT_EQUAL_FATAL(n, 991);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(c[i].id, i);
    sampler_free(s);
}

static void test_min_p_mask(void)
{
    float l[5];
    five_token_logits(l);
    struct sampler_params p = plain();
    const struct sampler_cand *c;

    /* min_p 0.25: keep p >= 0.125 -> ids 1 (0.5), 3 (0.2), 4 (0.15); with no
     * sort in the chain they stay in id order */
    p.min_p = 0.25f;
    struct sampler *s = make(&p, 5);
    int n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(c[0].id, 1);
    CU_ASSERT_EQUAL(c[1].id, 3);
    CU_ASSERT_EQUAL(c[2].id, 4);
    sampler_free(s);

    /* min_p 0.35: keep p >= 0.175 -> ids 1, 3 */
    p.min_p = 0.35f;
    s = make(&p, 5);
    n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(c[0].id, 1);
    CU_ASSERT_EQUAL(c[1].id, 3);
    sampler_free(s);

    /* after top-k 4 (drops id 0) and min_p 0.25: sorted order {1, 3, 4} */
    p.min_p = 0.25f;
    p.top_k = 4;
    s = make(&p, 5);
    n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(c[0].id, 1);
    CU_ASSERT_EQUAL(c[1].id, 3);
    CU_ASSERT_EQUAL(c[2].id, 4);
    sampler_free(s);
}

static void test_repeat_penalty(void)
{
    float l[5] = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
    struct sampler_params p = plain();
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    struct sampler *s = make(&p, 5);
    const struct sampler_cand *c;
    /* window {0, 1, 1}: positive halves, negative doubles, once per token */
    sampler_accept(s, 0);
    sampler_accept(s, 1);
    sampler_accept(s, 1);
    int n = sampler_filter(s, l, &c);
    CU_ASSERT_EQUAL_FATAL(n, 5);
    CU_ASSERT_DOUBLE_EQUAL(c[0].logit, 1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[1].logit, -2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[2].logit, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[3].logit, 3.0, 0);
    /* 4 and 4 again: window {1, 4, 4}; token 0 fell out; 0 * 2 = 0 */
    sampler_accept(s, 4);
    sampler_accept(s, 4);
    n = sampler_filter(s, l, &c);
    CU_ASSERT_DOUBLE_EQUAL(c[0].logit, 2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[1].logit, -2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[4].logit, 0.0, 0);
    CU_ASSERT_EQUAL(l[0], 2.0f); /* the caller's logits are untouched */
    sampler_free(s);

    /* greedy sees the penalty: 3 / 2 = 1.5 < 2 */
    float g[2] = {3.0f, 2.0f};
    p.temp = 0.0f;
    s = make(&p, 2);
    CU_ASSERT_EQUAL(sampler_sample(s, g), 0);
    sampler_accept(s, 0);
    CU_ASSERT_EQUAL(sampler_sample(s, g), 1);
    sampler_free(s);

    /* window 0: off */
    p.repeat_last_n = 0;
    s = make(&p, 2);
    sampler_accept(s, 0);
    CU_ASSERT_EQUAL(sampler_sample(s, g), 0);
    sampler_free(s);
}

static void test_temperature_scales_last(void)
{
    float l[3] = {1.0f, 3.0f, -2.0f};
    struct sampler_params p = plain();
    p.temp = 0.5f;
    struct sampler *s = make(&p, 3);
    const struct sampler_cand *c;
    CU_ASSERT_EQUAL_FATAL(sampler_filter(s, l, &c), 3);
    CU_ASSERT_DOUBLE_EQUAL(c[0].logit, 2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[1].logit, 6.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c[2].logit, -4.0, 0);
    sampler_free(s);

    /* min-p sees temperature 1: exp(-2) = 0.135 >= 0.13 keeps id 0 (at
     * temperature 0.5 its ratio would be exp(-4) = 0.018) */
    p.min_p = 0.13f;
    s = make(&p, 3);
    CU_ASSERT_EQUAL(sampler_filter(s, l, &c), 2);
    sampler_free(s);
}

/* 20000 draws at temperature 1 from p = {0.1, 0.2, 0.3, 0.4}: Pearson's
 * chi-square with 3 degrees of freedom; 16.27 is the 0.1% tail, and the
 * seed is fixed, so this cannot flake. */
static void test_draw_follows_softmax(void)
{
    static const double prob[4] = {0.1, 0.2, 0.3, 0.4};
    float l[4];
    for (int i = 0; i < 4; i++)
        l[i] = (float)log(prob[i]) + 3.0f; /* a shift changes nothing */
    struct sampler_params p = plain();
    p.seed = 2024;
    struct sampler *s = make(&p, 4);
    enum { DRAWS = 20000 };
    int count[4] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = sampler_sample(s, l);
        CU_ASSERT_FATAL(t >= 0 && t < 4);
        count[t]++;
    }
    double chi2 = 0;
    for (int i = 0; i < 4; i++) {
        double e = prob[i] * DRAWS;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    CU_ASSERT(chi2 < 16.27);
    sampler_free(s);

    /* temperature 0.5 squares the odds: p ~ {1, 4, 9, 16} / 30 */
    p.temp = 0.5f;
    s = make(&p, 4);
    memset(count, 0, sizeof count);
    for (int i = 0; i < DRAWS; i++)
        count[sampler_sample(s, l)]++;
    chi2 = 0;
    for (int i = 0; i < 4; i++) {
        double e = (double)((i + 1) * (i + 1)) / 30.0 * DRAWS;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    CU_ASSERT(chi2 < 16.27);
    sampler_free(s);
}


/* The chain from the best few logits (what the GPU returns) draws the same
 * tokens as from all of them: greedy, greedy with the penalty, llama.cpp's
 * defaults with and without the penalty, top-k 1 and 256; logits with
 * ties and NaNs; each drawn token enters both windows. */
static void test_from_top_candidates(void)
{
    enum { N = 5000, DRAWS = 300 };
    static float logits[N];
    static float cl[SAMPLER_TOP_MAX];
    static int32_t ci[SAMPLER_TOP_MAX];
    struct sampler_params cases[6];
    for (int i = 0; i < 6; i++)
        sampler_params_default(&cases[i]); /* temp 0.8, top-k 40, top-p 0.95, min-p 0.05 */
    cases[0].temp = 0.0f;
    cases[1].temp = 0.0f, cases[1].repeat_penalty = 1.3f;
    cases[3].repeat_penalty = 1.1f;
    cases[4].top_k = 1;
    cases[5].top_k = 190, cases[5].repeat_penalty = 1.2f, cases[5].top_p = 1.0f;
    uint64_t rng = 7;
    for (int c = 0; c < 6; c++) {
        struct sampler *full = make(&cases[c], N), *top = make(&cases[c], N);
        int same = 1, used_top = 0;
        for (int d = 0; d < DRAWS && same; d++) {
            for (int i = 0; i < N; i++) /* coarse values: many ties */
                logits[i] = (float)(int)test_rand_f32(&rng, 0.0f, 40.0f) * 0.25f;
            logits[test_rand_u64(&rng) % N] = NAN;
            logits[test_rand_u64(&rng) % N] = 12.0f; /* a clear winner, often penalized */
            int32_t k = sampler_candidates_needed(top);
            CU_ASSERT_TRUE(k >= 1 && k <= SAMPLER_TOP_MAX);
            sampler_top_logits(logits, N, k, cl, ci);
            int32_t a = sampler_sample(full, logits), b = sampler_sample_top(top, cl, ci, k);
            same = a == b;
            used_top++;
            sampler_accept(full, a);
            sampler_accept(top, b);
        }
        CU_ASSERT_TRUE(same);
        CU_ASSERT_EQUAL(used_top, DRAWS);
        sampler_free(full);
        sampler_free(top);
    }
    /* top-k off with a temperature: every logit is needed; so with a
     * penalty below 1, which can lift a window token from anywhere */
    struct sampler_params p = plain();
    struct sampler *s = make(&p, N);
    CU_ASSERT_EQUAL(sampler_candidates_needed(s), 0);
    sampler_free(s);
    sampler_params_default(&p);
    p.repeat_penalty = 0.5f;
    s = make(&p, N);
    sampler_accept(s, 7);
    CU_ASSERT_EQUAL(sampler_candidates_needed(s), 0);
    sampler_free(s);
    /* the order the device must match: value down, id up, NaN as -inf */
    float v[6] = {1.0f, NAN, 3.0f, 3.0f, -INFINITY, -0.5f};
    sampler_top_logits(v, 6, 6, cl, ci);
    int32_t want[6] = {2, 3, 0, 5, 1, 4};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(ci[i], want[i]);
}
static void test_exp(void)
{
    for (double x = -740.0; x <= 0.0; x += 0.173) {
        double want = exp(x), got = sampler_exp(x);
        CU_ASSERT(fabs(got - want) <= 4e-16 * want + 1e-320);
    }
    CU_ASSERT_EQUAL(sampler_exp(0.0), 1.0);
    CU_ASSERT_EQUAL(sampler_exp(-INFINITY), 0.0);
    CU_ASSERT_EQUAL(sampler_exp(-1000.0), 0.0);
    CU_ASSERT(fabs(sampler_exp(1.0) - 2.718281828459045) < 1e-15);
}

void suite_sampler(void)
{
    CU_pSuite s = CU_add_suite("sampler", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "bad parameters", test_bad_params);
    CU_add_test(s, "greedy is argmax", test_greedy_argmax);
    CU_add_test(s, "same seed same tokens", test_seed_determinism);
    CU_add_test(s, "top-k 1 is greedy", test_top_k_1_is_greedy);
    CU_add_test(s, "top-k selection", test_top_k_selection);
    CU_add_test(s, "top-p mask", test_top_p_mask);
    CU_add_test(s, "top-p large vocabulary", test_top_p_large);
    CU_add_test(s, "min-p mask", test_min_p_mask);
    CU_add_test(s, "repeat penalty", test_repeat_penalty);
    CU_add_test(s, "temperature last", test_temperature_scales_last);
    CU_add_test(s, "draws follow softmax", test_draw_follows_softmax);
    CU_add_test(s, "deterministic exp", test_exp);
    CU_add_test(s, "the chain from the best few logits", test_from_top_candidates);
}
