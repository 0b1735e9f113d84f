/* perplexity.c - llama.cpp's perplexity over chunks of a text
 * (perplexity.h). */
#include "perplexity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double ppl_token_nll(const float *logits, uint32_t n_vocab, int32_t target)
{
    float max = logits[0];
    for (uint32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (uint32_t i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - max);
    return -((double)logits[target] - max - log(sum));
}

void ppl_stats_add(struct ppl_stats *s, double nll)
{
    s->nll += nll;
    s->nll2 += nll * nll;
    s->count++;
}

double ppl_stats_ppl(const struct ppl_stats *s)
{
    return s->count ? exp(s->nll / (double)s->count) : NAN;
}

double ppl_stats_err(const struct ppl_stats *s)
{
    if (s->count < 2)
        return NAN;
    double n = (double)s->count, mean = s->nll / n;
    double var = s->nll2 / n - mean * mean;
    if (!(var > 0))
        return NAN;
    return exp(mean) * sqrt(var / (n - 1));
}

uint32_t ppl_chunks(const struct ppl_params *pp, size_t n_tokens, struct st_err *err)
{
    char exp[96];
    if (pp->n_ctx < 4)
        return st_errf(err, "perplexity", "context", "at least 4 tokens (-c)", "%u",
                       pp->n_ctx), 0;
    if (pp->n_batch == 0)
        return st_errmsg(err, "perplexity: a batch of 0 tokens"), 0;
    if (n_tokens < 2 * (size_t)pp->n_ctx) {
        snprintf(exp, sizeof exp, "at least 2 * %u tokens for a context of %u (a longer "
                 "text or a smaller -c)", pp->n_ctx, pp->n_ctx);
        return st_errf(err, "perplexity", "text", exp, "%zu tokens", n_tokens), 0;
    }
    size_t n = n_tokens / pp->n_ctx;
    if (pp->n_chunks >= 0 && (size_t)pp->n_chunks < n)
        n = (size_t)pp->n_chunks;
    if (n == 0)
        return st_errf(err, "perplexity", "--chunks", "at least 1", "0"), 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* One chunk: tokens c[0..n_ctx) from an empty cache, in batches of
 * n_batch; the batches that hold scored positions [first, n_ctx - 1) ask
 * for their logits and are scored at once (so the buffer holds one batch,
 * not a chunk). */
static int run_chunk(const struct ppl_params *pp, ppl_forward_fn fwd, void *fwd_ctx,
                     const int32_t *c, float *logits, int32_t *tok, struct ppl_stats *s,
                     struct st_err *err)
{
    uint32_t n_ctx = pp->n_ctx, first = n_ctx / 2;
    for (uint32_t j = 0; j < n_ctx; j += pp->n_batch) {
        uint32_t n = n_ctx - j < pp->n_batch ? n_ctx - j : pp->n_batch;
        memcpy(tok, c + j, n * sizeof *tok);
        if (j == 0 && pp->bos >= 0)
            tok[0] = pp->bos;
        /* scored positions in this batch: [lo, hi) */
        uint32_t lo = j > first ? j : first;
        uint32_t hi = j + n < n_ctx - 1 ? j + n : n_ctx - 1;
        int scored = lo < hi;
        if (!fwd(fwd_ctx, tok, n, j, scored ? logits : NULL, err))
            return -1;
        for (uint32_t p = lo; p < hi; p++)
            ppl_stats_add(s, ppl_token_nll(logits + (size_t)(p - j) * pp->n_vocab,
                                           pp->n_vocab, c[p + 1]));
    }
    return 0;
}

int ppl_run(const struct ppl_params *pp, ppl_forward_fn fwd, void *fwd_ctx,
            const int32_t *tokens, size_t n_tokens, float *logits, int32_t *tok,
            ppl_chunk_fn on_chunk, void *cb_ctx, struct ppl_result *res,
            struct st_err *err)
{
    memset(res, 0, sizeof *res);
    uint32_t n_chunks = ppl_chunks(pp, n_tokens, err);
    if (!n_chunks)
        return -1;
    struct ppl_stats s = {0, 0, 0};
    for (uint32_t i = 0; i < n_chunks; i++) {
        if (run_chunk(pp, fwd, fwd_ctx, tokens + (size_t)i * pp->n_ctx, logits, tok, &s,
                      err))
            return -1;
        if (on_chunk)
            on_chunk(cb_ctx, i + 1, ppl_stats_ppl(&s));
    }
    res->ppl = ppl_stats_ppl(&s);
    res->err = ppl_stats_err(&s);
    res->count = s.count;
    res->n_chunks = n_chunks;
    return 0;
}
