/* sampler.c - the sampling chain (see sampler.h for the order and for what
 * makes it reproducible across machines). */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a*b+c must round twice, as written, on every compiler (clang contracts
 * to fma by default; gcc -std=c11 does not). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

struct sampler {
    struct sampler_params p;
    int32_t n_vocab;
    struct sampler_cand *cand; /* [n_vocab] working copy of the logits */
    double *prob;              /* [n_vocab] exp(logit - max) of candidates */
    uint32_t *stamp;           /* [n_vocab] last call that penalized the token */
    uint32_t stamp_now;
    int32_t *window;           /* [repeat_last_n] ring of recent tokens */
    int32_t n_window;          /* tokens held (<= repeat_last_n) */
    int32_t window_next;       /* slot the next token goes to */
    uint64_t rng[4];           /* xoshiro256** state */
};

/* ---- reproducible PRNG: xoshiro256** seeded by splitmix64 ---------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&seed);
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* u in [0, 1) with 53 random bits: exact in double. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- deterministic exp ---------------------------------------------------- */

double sampler_exp(double x)
{
    if (x != x)
        return x;
    if (x < -745.2)
        return 0.0;
    if (x > 709.7)
        return INFINITY;
    /* x = k ln2 + r, |r| <= ln2 / 2; ln2 split in a high part with zeros in
     * its low bits (so k * LN2_HI is exact for |k| < 2^11) and the rest. */
    const double LN2_HI = 6.93147180369123816490e-01;
    const double LN2_LO = 1.90821492927058770002e-10;
    const double INV_LN2 = 1.44269504088896338700e+00;
    double kd = floor(x * INV_LN2 + 0.5);
    double r = (x - kd * LN2_HI) - kd * LN2_LO;
    /* Taylor series to r^13 / 13!: the remainder is below 2^-60 for
     * |r| <= 0.347. Horner form, evaluated innermost first. */
    double p = 1.0 / 6227020800.0;                  /* 1/13! */
    static const double inv_fact[13] = {
        1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
        1.0 / 6.0, 1.0 / 2.0, 1.0, 1.0,
    };
    for (int i = 0; i < 13; i++)
        p = p * r + inv_fact[i];
    return ldexp(p, (int)kd);
}

/* ---- parameters and lifetime ---------------------------------------------- */

void sampler_params_default(struct sampler_params *p)
{
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = SAMPLER_DEFAULT_SEED;
}

struct sampler *sampler_init(const struct sampler_params *p, int32_t n_vocab,
                             struct st_err *err)
{
    if (n_vocab <= 0)
        return st_errf(err, "sampler", "n_vocab", "at least 1", "%d", (int)n_vocab), NULL;
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return st_errf(err, "sampler", "top_p", "a number in [0, 1]", "%g", p->top_p), NULL;
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return st_errf(err, "sampler", "min_p", "a number in [0, 1]", "%g", p->min_p), NULL;
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return st_errf(err, "sampler", "repeat_penalty", "a number > 0", "%g",
                       p->repeat_penalty), NULL;
    if (p->repeat_last_n < 0)
        return st_errf(err, "sampler", "repeat_last_n", "a count >= 0", "%d",
                       (int)p->repeat_last_n), NULL;
    if (isnan(p->temp))
        return st_errf(err, "sampler", "temp", "a number", "nan"), NULL;

    struct sampler *s = calloc(1, sizeof *s);
    if (!s)
        return st_errmsg(err, "sampler: out of memory"), NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    s->stamp = calloc((size_t)n_vocab, sizeof *s->stamp);
    s->window = malloc((size_t)(p->repeat_last_n ? p->repeat_last_n : 1) * sizeof *s->window);
    if (!s->cand || !s->prob || !s->stamp || !s->window) {
        sampler_free(s);
        return st_errmsg(err, "sampler: out of memory for %d candidates", (int)n_vocab), NULL;
    }
    sampler_reset(s);
    return s;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->prob);
    free(s->stamp);
    free(s->window);
    free(s);
}

void sampler_reset(struct sampler *s)
{
    s->n_window = 0;
    s->window_next = 0;
    rng_seed(s->rng, s->p.seed);
}

void sampler_accept(struct sampler *s, int32_t token)
{
    int32_t cap = s->p.repeat_last_n;
    if (cap <= 0)
        return;
    s->window[s->window_next] = token;
    s->window_next = (s->window_next + 1) % cap;
    if (s->n_window < cap)
        s->n_window++;
}

/* ---- the chain ------------------------------------------------------------- */

/* Total order: larger logit first, then smaller id. */
static int cand_better(const struct sampler_cand *a, const struct sampler_cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Heap of n entries whose root is the WORST entry (so the heap holds the
 * best k seen so far, and the root is the one to evict). */
static void heap_sift_down(struct sampler_cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_better(&h[w], &h[l]))
            w = l;
        if (r < n && cand_better(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        struct sampler_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The heap of the best k seen so far: x replaces its worst when better. */
static void heap_offer(struct sampler_cand *h, int k, const struct sampler_cand *x)
{
    if (cand_better(x, &h[0])) {
        h[0] = *x;
        heap_sift_down(h, k, 0);
    }
}

/* Heap sort of that heap: the worst goes to the end each round, so h[0..k)
 * ends best-first. */
static void heap_sort_best_first(struct sampler_cand *h, int k)
{
    for (int end = k - 1; end > 0; end--) {
        struct sampler_cand t = h[0];
        h[0] = h[end];
        h[end] = t;
        heap_sift_down(h, end, 0);
    }
}

/* Keeps the best k of c[0..n) in c[0..k), sorted best-first.
 * O(n log k) time, no memory beyond c. */
static int select_top_k(struct sampler_cand *c, int n, int k)
{
    if (k > n)
        k = n;
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_sift_down(c, k, i);
    for (int i = k; i < n; i++)
        heap_offer(c, k, &c[i]);
    heap_sort_best_first(c, k);
    return k;
}

/* llama.cpp's repeat penalty on one logit: lowers it for rp > 1, raises it
 * for rp < 1. */
static float penalized(float l, float rp)
{
    return l <= 0.0f ? l * rp : l / rp;
}

/* A fresh stamp value: a token is marked in this round when its stamp
 * equals it (no clearing between rounds). */
static void next_stamp(struct sampler *s)
{
    if (++s->stamp_now == 0) { /* wrapped: old stamps could collide */
        memset(s->stamp, 0, (size_t)s->n_vocab * sizeof *s->stamp);
        s->stamp_now = 1;
    }
}

/* Every distinct token of the window once (llama.cpp applies the repeat
 * penalty once per distinct token, whatever its count). c is in id order. */
static void apply_repeat_penalty(struct sampler *s, struct sampler_cand *c)
{
    float rp = s->p.repeat_penalty;
    if (rp == 1.0f || s->n_window == 0)
        return;
    next_stamp(s);
    for (int32_t i = 0; i < s->n_window; i++) {
        int32_t t = s->window[i];
        if (t < 0 || t >= s->n_vocab || s->stamp[t] == s->stamp_now)
            continue;
        s->stamp[t] = s->stamp_now;
        c[t].logit = penalized(c[t].logit, rp);
    }
}

/* The same penalty on a candidate list in any order (sampler_sample_top):
 * the window's distinct tokens are stamped, then each candidate looks its
 * id up. */
static void apply_repeat_penalty_listed(struct sampler *s, struct sampler_cand *c, int n)
{
    float rp = s->p.repeat_penalty;
    if (rp == 1.0f || s->n_window == 0)
        return;
    next_stamp(s);
    for (int32_t i = 0; i < s->n_window; i++) {
        int32_t t = s->window[i];
        if (t >= 0 && t < s->n_vocab)
            s->stamp[t] = s->stamp_now;
    }
    for (int i = 0; i < n; i++)
        if (s->stamp[c[i].id] == s->stamp_now)
            c[i].logit = penalized(c[i].logit, rp);
}

/* exp(logit - max) into s->prob[0..n); returns their sum (double, in order). */
static double softmax_weights(struct sampler *s, const struct sampler_cand *c,
                              int n, float max)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double e = sampler_exp((double)c[i].logit - (double)max);
        s->prob[i] = e;
        sum += e;
    }
    return sum;
}

static float max_logit(const struct sampler_cand *c, int n)
{
    float m = c[0].logit;
    for (int i = 1; i < n; i++)
        if (c[i].logit > m)
            m = c[i].logit;
    return m;
}

/* The working copy: the logits in id order, NaN read as -inf, penalized. */
static void load_candidates(struct sampler *s, const float *logits)
{
    struct sampler_cand *c = s->cand;
    for (int i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        c[i].logit = l != l ? -INFINITY : l;
        c[i].id = i;
    }
    apply_repeat_penalty(s, c);
}

/* Smallest best-first prefix whose probability (temperature 1) reaches
 * top_p, over all n candidates, without sorting all of them: the prefix is
 * usually short, so select the best k (O(n log k)) for k = 256, 8192, ...
 * until their mass reaches top_p; a flat distribution ends with k = n, one
 * full sort. Selection overwrites the tail of c, so each new round reloads
 * it (the penalty window is unchanged, so the reload is identical).
 * Returns the prefix length; c[0..len) is sorted best-first. */
static int top_p_unsorted(struct sampler *s, const float *logits, int n)
{
    struct sampler_cand *c = s->cand;
    float mx = max_logit(c, n);
    double sum = 0.0; /* in id order */
    for (int i = 0; i < n; i++)
        sum += sampler_exp((double)c[i].logit - (double)mx);
    int k = n < 256 ? n : 256;
    for (;;) {
        select_top_k(c, n, k);
        double cum = 0.0;
        for (int i = 0; i < k; i++) {
            cum += sampler_exp((double)c[i].logit - (double)mx) / sum;
            if (cum >= (double)s->p.top_p)
                return i + 1;
        }
        if (k == n)
            return n;
        load_candidates(s, logits);
        /* grow 32x; past half the vocabulary, take all of it */
        k = k <= n / 32 && k * 32 < n / 2 ? k * 32 : n;
    }
}

static int filter_loaded(struct sampler *s, int n, const float *logits,
                         const struct sampler_cand **out);

int sampler_filter(struct sampler *s, const float *logits,
                   const struct sampler_cand **out)
{
    struct sampler_cand *c = s->cand;
    int n = s->n_vocab;
    if (s->p.temp <= 0.0f && s->p.repeat_penalty == 1.0f) {
        /* plain greedy reads the logits once: no candidate copy (a third of
         * a millisecond per token at 150k tokens); NaN never wins */
        int best = -1;
        for (int i = 0; i < n; i++)
            if (logits[i] == logits[i] && (best < 0 || logits[i] > logits[best]))
                best = i;
        c[0].id = best < 0 ? 0 : best;
        c[0].logit = best < 0 ? -INFINITY : logits[best];
        *out = c;
        return 1;
    }
    load_candidates(s, logits);
    return filter_loaded(s, n, logits, out);
}

/* The chain from top-k on, over the n loaded (penalized) candidates in
 * s->cand. logits: all of them, or NULL when s->cand holds a best-first
 * list (sampler_sample_top), whose top-k then always sorts. */
static int filter_loaded(struct sampler *s, int n, const float *logits,
                         const struct sampler_cand **out)
{
    struct sampler_cand *c = s->cand;
    if (s->p.temp <= 0.0f) { /* greedy: the best (lowest id on ties) */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (cand_better(&c[i], &c[best]))
                best = i;
        c[0] = c[best];
        *out = c;
        return 1;
    }

    int sorted = 0;
    if (s->p.top_k > 0 && (s->p.top_k < n || !logits)) {
        n = select_top_k(c, n, s->p.top_k);
        sorted = 1;
    }

    if (s->p.top_p < 1.0f && !sorted) {
        n = top_p_unsorted(s, logits, n);
        sorted = 1;
    } else if (s->p.top_p < 1.0f) {
        double sum = softmax_weights(s, c, n, c[0].logit);
        double cum = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i] / sum;
            if (cum >= (double)s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }

    if (s->p.min_p > 0.0f) {
        /* p_i / p_max = exp(l_i - l_max) >= min_p; the max always stays,
         * and compaction keeps the order (sorted or id). */
        float mx = sorted ? c[0].logit : max_logit(c, n);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (sampler_exp((double)c[i].logit - (double)mx) >= (double)s->p.min_p)
                c[m++] = c[i];
        n = m > 0 ? m : 1;
    }

    if (s->p.temp != 1.0f)
        for (int i = 0; i < n; i++)
            c[i].logit = c[i].logit / s->p.temp;

    *out = c;
    return n;
}

static int32_t draw(struct sampler *s, const struct sampler_cand *c, int n);

int32_t sampler_sample(struct sampler *s, const float *logits)
{
    const struct sampler_cand *c;
    int n = sampler_filter(s, logits, &c);
    return draw(s, c, n);
}

int32_t sampler_candidates_needed(const struct sampler *s)
{
    if (s->p.temp > 0.0f && s->p.top_k <= 0)
        return 0; /* top-p and min-p over every token need every logit */
    if (s->p.repeat_penalty < 1.0f)
        return 0; /* a penalty below 1 raises window tokens from anywhere */
    int64_t k = s->p.temp <= 0.0f ? 1 : s->p.top_k;
    if (s->p.repeat_penalty != 1.0f)
        k += s->n_window; /* the penalty only lowers: a token in the
                             penalized top k is in the raw top k + window */
    return k < s->n_vocab ? (int32_t)k : s->n_vocab;
}

int32_t sampler_sample_top(struct sampler *s, const float *logit, const int32_t *id, int32_t n)
{
    struct sampler_cand *c = s->cand;
    for (int32_t i = 0; i < n; i++) {
        float l = logit[i];
        c[i].logit = l != l ? -INFINITY : l;
        c[i].id = id[i] >= 0 && id[i] < s->n_vocab ? id[i] : 0;
    }
    apply_repeat_penalty_listed(s, c, n);
    const struct sampler_cand *out;
    int m = filter_loaded(s, n, NULL, &out);
    return draw(s, out, m);
}

void sampler_top_logits(const float *logits, int32_t n, int32_t k, float *logit, int32_t *id)
{
    struct sampler_cand h[SAMPLER_TOP_MAX];
    if (k > n)
        k = n;
    if (k > SAMPLER_TOP_MAX)
        k = SAMPLER_TOP_MAX;
    for (int32_t i = 0; i < k; i++) {
        h[i].logit = logits[i] != logits[i] ? -INFINITY : logits[i];
        h[i].id = i;
    }
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_sift_down(h, k, i);
    for (int32_t i = k; i < n; i++) {
        struct sampler_cand x = {logits[i] != logits[i] ? -INFINITY : logits[i], i};
        heap_offer(h, k, &x);
    }
    heap_sort_best_first(h, k);
    for (int32_t i = 0; i < k; i++) {
        logit[i] = h[i].logit;
        id[i] = h[i].id;
    }
}

/* One token from the filtered candidates: greedy's winner, else a draw
 * from their softmax. */
static int32_t draw(struct sampler *s, const struct sampler_cand *c, int n)
{
    if (n == 1 || s->p.temp <= 0.0f)
        return c[0].id;
    double sum = softmax_weights(s, c, n, max_logit(c, n));
    double target = rng_uniform(s->rng) * sum;
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += s->prob[i];
        if (target < cum)
            return c[i].id;
    }
    /* target == sum after rounding (or all weights 0): the last with weight */
    for (int i = n - 1; i > 0; i--)
        if (s->prob[i] > 0.0)
            return c[i].id;
    return c[0].id;
}
