/* prefill.c - the CPU engine's batched forward (prefill.h).
 *
 * The layer reads like engine_cpu.c's layer_forward with a loop over the
 * chunk's B tokens around each element-wise op; the products are
 * matrix x B vectors (matmul_multi below) and the attention runs over
 * (token, head) pairs, token b seeing positions 0..pos0+b. Activations are
 * token-major: row b of X (B, dim) is token b's residual stream. */
#include "cpu/prefill.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/matvec.h"
#include "cpu/ops.h"
#include "cpu/stream_cpu.h"
#include "dequant.h"
#include "model.h"
#include "quant.h"

#if defined(__clang__)
/* every product rounded, as dequant_dot's lanes (dequant.h); GCC in -std=c11
 * mode already keeps a*b+c unfused */
#pragma STDC FP_CONTRACT OFF
#endif

struct prefill {
    const struct llm_model *m;
    struct stream_cpu *stream; /* the engine's slots, or NULL: all resident */
    struct llm_config c;     /* copy of m->cfg */
    uint32_t n_ctx, q_dim, kv_dim, wide; /* wide = max(dim, q_dim) */
    /* Row strides (floats) of the matmul inputs and outputs: the width plus
     * one cache line, so that the B rows of a chunk, read together, do not
     * fall into the same L1 sets when the width is a multiple of 4 KiB
     * (dim 1024, 4096: 8-way L1s then hold 8 of the 32 rows). */
    uint32_t sd, sw, sf;     /* of x and xb2 (dim), xb (wide), hb and hb2 (ffn_dim) */
    struct mv_pool *pool;    /* the engine's */
    uint16_t *k_cache;       /* the engine's: [layer][kv_head][pos][head_dim] */
    uint16_t *v_cache;
    void *block;             /* the one allocation behind the buffers below */
    /* activations of the chunk, B = PREFILL_MAX_TOKENS rows each */
    float *x;                /* (B, sd) residual streams */
    float *xb;               /* (B, sw) normed input / attention output */
    float *xb2;              /* (B, sd) output of wo and ffn_down */
    float *q;                /* (B, q_dim) */
    float *k, *v;            /* (B, kv_dim) */
    float *hb, *hb2;         /* (B, sf) gate (then silu(gate) * up), up */
    float *logits;           /* (n_vocab,) the last token's, when not asked for all */
    float *wbuf;             /* (wide,) a norm or bias as f32 */
    float *rope_cs;          /* (B, rope_dim) cos, sin of each token's position */
    float *rope_freqs;       /* (rope_dim / 2,) llama3 divisors, or NULL */
    /* Attention scratch: one (n_ctx,) row per thread that can be inside
     * attention at once (the pool's threads), claimed through att_busy. */
    float *att;              /* (n_threads, n_ctx) */
    _Atomic unsigned char *att_busy; /* (n_threads,) */
    int n_threads;
};

/* ---- batched products ------------------------------------------------------- */

/* out (B, out_stride)[:, r] = W (n_rows, n_cols) @ x_b for the B rows x_b of
 * x (B, x_stride): token b's result for row r at out[b * out_stride + r]. */
struct matmul_job {
    float *out;
    size_t out_stride;
    const void *w;
    uint32_t type;
    const float *x;
    size_t x_stride;
    uint64_t n_cols, n_rows;
};

struct matmul_ctx {
    const struct matmul_job *jobs;
    int n_jobs;
    uint32_t n_tok;
};

/* ThreadSanitizer instruments the clones' ifunc resolver, which the dynamic
 * loader runs before TSan is initialized (a crash at start-up): one plain
 * version there. */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define PREFILL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PREFILL_CLONES
#endif

/* 8 floats; read from any float address (aligned(4), may_alias), so a load
 * is one unaligned vector move. Passed by pointer only: a 32-byte vector by
 * value changes the ABI between the AVX2 and the default build. */
typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));
#define v8f_load(p) (*(const v8f *)(p))

/* The 16 lanes of dequant_dot's order (dequant.h) from two 8-float halves
 * (lanes 0-7, 8-15), the tail of the chunk (len % 16 elements from i) added
 * into lanes 0.., then reduced as dequant_dot's tree: lane[k] += lane[k + 8],
 * + 4, + 2, + 1. */
static inline __attribute__((always_inline)) float
lanes_finish(const v8f *lo, const v8f *hi, const float *w, const float *x, uint32_t i, uint32_t len)
{
    float l[DEQUANT_LANES];
    memcpy(l, lo, 32);
    memcpy(l + 8, hi, 32);
    for (uint32_t k = 0; i + k < len; k++)
        l[k] += w[i + k] * x[i + k];
    for (int half = DEQUANT_LANES / 2; half > 0; half /= 2)
        for (int k = 0; k < half; k++)
            l[k] += l[k + half];
    return l[0];
}

/* One chunk (len <= 256 decoded weights w) dotted with one token's x:
 * element i into lane i % 16, products rounded, lanes reduced: exactly
 * dequant_dot's chunk sum. */
static inline __attribute__((always_inline)) float
chunk_dot1(const float *w, const float *x, uint32_t len)
{
    v8f a0 = {0}, a1 = {0};
    uint32_t i = 0;
    for (; i + DEQUANT_LANES <= len; i += DEQUANT_LANES) {
        a0 += v8f_load(w + i) * v8f_load(x + i);
        a1 += v8f_load(w + i + 8) * v8f_load(x + i + 8);
    }
    return lanes_finish(&a0, &a1, w, x, i, len);
}

/* The same for four tokens at once: each weight vector is loaded once for
 * the four (with AVX: 8 sums + 2 weights in 10 of the 16 ymm registers),
 * which is where a batch beats one token at a time once a row is decoded.
 * x[t] is token t's slice; s[t] gets its chunk sum. */
static inline __attribute__((always_inline)) void
chunk_dot4(const float *w, const float *const x[4], uint32_t len, float s[4])
{
    v8f a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0}, d0 = {0}, d1 = {0};
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    uint32_t i = 0;
    for (; i + DEQUANT_LANES <= len; i += DEQUANT_LANES) {
        v8f wl = v8f_load(w + i), wh = v8f_load(w + i + 8);
        a0 += wl * v8f_load(x0 + i);
        a1 += wh * v8f_load(x0 + i + 8);
        b0 += wl * v8f_load(x1 + i);
        b1 += wh * v8f_load(x1 + i + 8);
        c0 += wl * v8f_load(x2 + i);
        c1 += wh * v8f_load(x2 + i + 8);
        d0 += wl * v8f_load(x3 + i);
        d1 += wh * v8f_load(x3 + i + 8);
    }
    s[0] = lanes_finish(&a0, &a1, w, x0, i, len);
    s[1] = lanes_finish(&b0, &b1, w, x1, i, len);
    s[2] = lanes_finish(&c0, &c1, w, x2, i, len);
    s[3] = lanes_finish(&d0, &d1, w, x3, i, len);
}

/* Rows [r0, r1) of one job for all n_tok tokens. Per row: the row is
 * decoded one 256-element chunk at a time (into L1), each chunk dotted with
 * every token's slice, the chunk sums added left to right per token: the
 * order of dequant_dot, so each result equals the single-token product.
 * Built twice (target_clones): AVX2 where the CPU has it, else SSE2; the
 * arithmetic is the same, so are the bits. No FMA: products stay rounded.
 * Measured (synthetic 4-layer dim-1024 Q4_K_M, 256-token prompt, 1 thread,
 * EPYC): 2 tokens per pass with SSE 4-float vectors 144 tokens/s; 4 tokens
 * with 8-float vectors, default (SSE2) clone 100 tokens/s (spills), AVX2
 * clone 202 tokens/s; decode 56. Padding the row strides (sd, sw, sf) gave
 * ~1%. About a quarter of the rest is op_attention_head (scalar f16). */
PREFILL_CLONES
static void matmul_rows(const struct matmul_job *j, uint32_t n_tok, uint64_t r0,
                        uint64_t r1)
{
    size_t row_bytes = ggml_row_size(j->type, j->n_cols);
    size_t chunk_bytes = ggml_row_size(j->type, DEQUANT_CHUNK);
    float w[DEQUANT_CHUNK];
    float total[PREFILL_MAX_TOKENS];
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)j->w + r * row_bytes;
        for (uint32_t b = 0; b < n_tok; b++)
            total[b] = 0.0f;
        for (uint64_t c = 0; c < j->n_cols; c += DEQUANT_CHUNK) {
            uint32_t len = (uint32_t)(j->n_cols - c < DEQUANT_CHUNK ? j->n_cols - c
                                                                   : DEQUANT_CHUNK);
            /* 256 is a whole number of blocks of every type: the chunk
             * starts on a block boundary */
            dequant_row(j->type, row + c / DEQUANT_CHUNK * chunk_bytes, w, len);
            const float *x = j->x + c;
            uint32_t b = 0;
            for (; b + 4 <= n_tok; b += 4) {
                const float *xs[4] = {x + b * j->x_stride, x + (b + 1) * j->x_stride,
                                      x + (b + 2) * j->x_stride, x + (b + 3) * j->x_stride};
                float s[4];
                chunk_dot4(w, xs, len, s);
                for (int k = 0; k < 4; k++)
                    total[b + k] += s[k];
            }
            for (; b < n_tok; b++)
                total[b] += chunk_dot1(w, x + b * j->x_stride, len);
        }
        for (uint32_t b = 0; b < n_tok; b++)
            j->out[b * j->out_stride + r] = total[b];
    }
}

/* Rows [lo, hi) of the jobs' concatenated rows. */
static void matmul_range(void *arg, uint64_t lo, uint64_t hi)
{
    const struct matmul_ctx *c = arg;
    uint64_t base = 0;
    for (int i = 0; i < c->n_jobs && lo < hi; i++) {
        const struct matmul_job *j = &c->jobs[i];
        uint64_t end = base + j->n_rows;
        if (lo < end) {
            uint64_t stop = hi < end ? hi : end;
            matmul_rows(j, c->n_tok, lo - base, stop - base);
            lo = stop;
        }
        base = end;
    }
}

/* Several independent products in one dispatch (Q, K, V; gate, up), split
 * over the pool by rows: a row costs n_cols * n_tok multiply-adds, so even
 * small matrices are worth the split once the chunk is a few tokens. */
static void matmul_multi(struct mv_pool *pool, const struct matmul_job *jobs, int n_jobs,
                         uint32_t n_tok)
{
    uint64_t rows = 0, work = 0;
    for (int i = 0; i < n_jobs; i++) {
        rows += jobs[i].n_rows;
        work += jobs[i].n_rows * jobs[i].n_cols * n_tok;
    }
    struct matmul_ctx c = {jobs, n_jobs, n_tok};
    mv_pool_run(pool, matmul_range, &c, rows, work < 65536 ? UINT64_MAX : 1);
}

static struct matmul_job mm_job(float *out, size_t out_stride, const struct gguf_tensor *w,
                                const float *x, size_t x_stride)
{
    struct matmul_job j = {out, out_stride, w->data, w->type, x, x_stride,
                           w->ne[0], w->ne[1]};
    return j;
}

/* ---- set-up ------------------------------------------------------------------ */

static void *carve(uint8_t *base, size_t *off, size_t n)
{
    size_t at = (*off + 63) & ~(size_t)63;
    *off = at + n;
    return base ? base + at : NULL;
}

/* Lays out every buffer; returns the total bytes (base NULL: measure). */
static size_t prefill_layout(struct prefill *p, uint8_t *base)
{
    const struct llm_config *c = &p->c;
    size_t off = 0, f = sizeof(float), B = PREFILL_MAX_TOKENS;
    p->x = carve(base, &off, B * p->sd * f);
    p->xb = carve(base, &off, B * p->sw * f);
    p->xb2 = carve(base, &off, B * p->sd * f);
    p->q = carve(base, &off, B * p->q_dim * f);
    p->k = carve(base, &off, B * p->kv_dim * f);
    p->v = carve(base, &off, B * p->kv_dim * f);
    p->hb = carve(base, &off, B * p->sf * f);
    p->hb2 = carve(base, &off, B * p->sf * f);
    p->logits = carve(base, &off, (size_t)c->n_vocab * f);
    p->wbuf = carve(base, &off, p->wide * f);
    p->rope_cs = carve(base, &off, B * c->rope_dim * f);
    p->rope_freqs = carve(base, &off, c->rope_dim / 2 * f);
    p->att = carve(base, &off, (size_t)p->n_threads * p->n_ctx * f);
    p->att_busy = carve(base, &off, (size_t)p->n_threads * sizeof *p->att_busy);
    return off;
}

struct prefill *prefill_init(const struct llm_model *m, uint32_t n_ctx,
                             struct mv_pool *pool, uint16_t *k_cache,
                             uint16_t *v_cache, struct st_err *err)
{
    struct prefill *p = calloc(1, sizeof *p);
    if (!p) {
        st_errmsg(err, "prefill: out of memory");
        return NULL;
    }
    p->m = m;
    p->c = m->cfg;
    p->n_ctx = n_ctx;
    p->q_dim = p->c.n_heads * p->c.head_dim;
    p->kv_dim = p->c.n_kv_heads * p->c.head_dim;
    p->wide = p->c.dim > p->q_dim ? p->c.dim : p->q_dim;
    p->sd = ((p->c.dim + 15) & ~15u) + 16;
    p->sw = ((p->wide + 15) & ~15u) + 16;
    p->sf = ((p->c.ffn_dim + 15) & ~15u) + 16;
    p->pool = pool;
    p->k_cache = k_cache;
    p->v_cache = v_cache;
    p->n_threads = mv_pool_threads(pool);

    size_t bytes = prefill_layout(p, NULL);
    p->block = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p->block) {
        st_errmsg(err, "prefill: out of memory for %zu bytes of activations (%d tokens)",
                  bytes, PREFILL_MAX_TOKENS);
        free(p);
        return NULL;
    }
    memset(p->block, 0, bytes);
    prefill_layout(p, p->block);
    if (m->rope_freqs)
        dequant_row(m->rope_freqs->type, m->rope_freqs->data, p->rope_freqs,
                    p->c.rope_dim / 2);
    else
        p->rope_freqs = NULL;
    return p;
}

void prefill_free(struct prefill *p)
{
    if (!p)
        return;
    free(p->block);
    free(p);
}

/* ---- pieces of the batched layer --------------------------------------------- */

/* A 1-D tensor as floats: in place when F32, else into p->wbuf. */
static const float *tensor_f32(struct prefill *p, const struct gguf_tensor *t)
{
    if (t->type == GGML_TYPE_F32 && (uintptr_t)t->data % sizeof(float) == 0)
        return t->data;
    dequant_row(t->type, t->data, p->wbuf, t->ne[0]);
    return p->wbuf;
}

/* y (B, stride)[:, :n] += bias (n,) for each of n_tok tokens. */
static void add_bias(struct prefill *p, float *y, size_t stride, uint32_t n_tok,
                     const struct gguf_tensor *b)
{
    if (!b)
        return;
    const float *bf = tensor_f32(p, b);
    for (uint32_t t = 0; t < n_tok; t++)
        op_add(y + t * stride, bf, (uint32_t)b->ne[0]);
}

/* out (n_tok, stride) = rmsnorm of each row of x (n_tok, dim). */
static void rmsnorm_rows(struct prefill *p, float *out, size_t stride, const float *x,
                         uint32_t n_tok, const struct gguf_tensor *w)
{
    const float *wf = tensor_f32(p, w);
    for (uint32_t t = 0; t < n_tok; t++)
        op_rmsnorm(out + t * stride, x + (size_t)t * p->sd, wf, p->c.dim,
                   p->c.norm_eps);
}

/* x += xb2, row by row (the residual add after wo and ffn_down). */
static void add_rows(struct prefill *p, uint32_t n_tok)
{
    for (uint32_t t = 0; t < n_tok; t++)
        op_add(p->x + (size_t)t * p->sd, p->xb2 + (size_t)t * p->sd, p->c.dim);
}

/* Cache rows of (layer, kv head): (n_ctx, head_dim) F16. */
static size_t cache_offset(const struct prefill *p, uint32_t l, uint32_t kvh)
{
    return ((size_t)l * p->c.n_kv_heads + kvh) * p->n_ctx * p->c.head_dim;
}

struct attn_ctx {
    struct prefill *p;
    uint32_t l, pos0;
};

/* Items [lo, hi) of the (token, query head) pairs, token-major: token t at
 * position pos0 + t attends to positions 0..pos0+t of its KV head's cache
 * (the chunk's own keys are in the cache already; later ones are beyond
 * n_pos). One att row per call, claimed from the per-thread rows. */
static void attention_items(void *arg, uint64_t lo, uint64_t hi)
{
    const struct attn_ctx *a = arg;
    struct prefill *p = a->p;
    uint32_t hd = p->c.head_dim, nh = p->c.n_heads, group = nh / p->c.n_kv_heads;
    int slot = 0;
    while (atomic_exchange_explicit(&p->att_busy[slot], 1, memory_order_acquire))
        slot = (slot + 1) % p->n_threads; /* at most n_threads calls run at once */
    float *att = p->att + (size_t)slot * p->n_ctx;
    for (uint64_t it = lo; it < hi; it++) {
        uint32_t t = (uint32_t)(it / nh), h = (uint32_t)(it % nh);
        size_t kv = cache_offset(p, a->l, h / group);
        op_attention_head(p->xb + t * p->sw + h * hd, att, p->q + t * p->q_dim + h * hd,
                          p->k_cache + kv, p->v_cache + kv, a->pos0 + t + 1, hd);
    }
    atomic_store_explicit(&p->att_busy[slot], 0, memory_order_release);
}

/* One transformer block on the n_tok rows of p->x at positions pos0... */
static void layer_forward_batch(struct prefill *p, const struct llm_layer *L, uint32_t l,
                                uint32_t pos0, uint32_t n_tok)
{
    const struct llm_config *c = &p->c;
    uint32_t hd = c->head_dim;

    /* attention: xb (B, dim) = rmsnorm(x) */
    rmsnorm_rows(p, p->xb, p->sw, p->x, n_tok, L->attn_norm);

    /* q (B, q_dim), k, v (B, kv_dim) = W @ xb (+ bias) */
    struct matmul_job qkv[3] = {mm_job(p->q, p->q_dim, L->wq, p->xb, p->sw),
                                mm_job(p->k, p->kv_dim, L->wk, p->xb, p->sw),
                                mm_job(p->v, p->kv_dim, L->wv, p->xb, p->sw)};
    matmul_multi(p->pool, qkv, 3, n_tok);
    add_bias(p, p->q, p->q_dim, n_tok, L->bq);
    add_bias(p, p->k, p->kv_dim, n_tok, L->bk);
    add_bias(p, p->v, p->kv_dim, n_tok, L->bv);

    /* rotate, then k, v -> cache[l][kvh][pos0 + t] (F16) */
    for (uint32_t t = 0; t < n_tok; t++) {
        const float *cs = p->rope_cs + (size_t)t * c->rope_dim;
        float *qt = p->q + (size_t)t * p->q_dim, *kt = p->k + (size_t)t * p->kv_dim;
        float *vt = p->v + (size_t)t * p->kv_dim;
        op_rope(qt, c->n_heads, hd, c->rope_dim, c->rope_style, cs);
        op_rope(kt, c->n_kv_heads, hd, c->rope_dim, c->rope_style, cs);
        for (uint32_t h = 0; h < c->n_kv_heads; h++) {
            size_t at = cache_offset(p, l, h) + (size_t)(pos0 + t) * hd;
            op_store_f16(p->k_cache + at, kt + h * hd, hd);
            op_store_f16(p->v_cache + at, vt + h * hd, hd);
        }
    }

    /* xb (B, q_dim) = causal attention of every (token, head) */
    struct attn_ctx a = {p, l, pos0};
    uint64_t items = (uint64_t)n_tok * c->n_heads;
    uint64_t work = items * (pos0 + n_tok) * hd;
    mv_pool_run(p->pool, attention_items, &a, items, work < 32768 ? UINT64_MAX : 1);

    /* x += wo (dim, q_dim) @ xb */
    struct matmul_job wo = mm_job(p->xb2, p->sd, L->wo, p->xb, p->sw);
    matmul_multi(p->pool, &wo, 1, n_tok);
    add_rows(p, n_tok);

    /* feed-forward: xb = rmsnorm(x); hb, hb2 (B, ffn_dim) = gate, up @ xb */
    rmsnorm_rows(p, p->xb, p->sw, p->x, n_tok, L->ffn_norm);
    struct matmul_job gate_up[2] = {mm_job(p->hb, p->sf, L->ffn_gate, p->xb, p->sw),
                                    mm_job(p->hb2, p->sf, L->ffn_up, p->xb, p->sw)};
    matmul_multi(p->pool, gate_up, 2, n_tok);
    for (uint32_t t = 0; t < n_tok; t++)
        op_swiglu(p->hb + (size_t)t * p->sf, p->hb2 + (size_t)t * p->sf, c->ffn_dim);

    /* x += down (dim, ffn_dim) @ hb */
    struct matmul_job down = mm_job(p->xb2, p->sd, L->ffn_down, p->hb, p->sf);
    matmul_multi(p->pool, &down, 1, n_tok);
    add_rows(p, n_tok);
}

/* ---- forward ------------------------------------------------------------------- */

static int check_input(const struct prefill *p, const int32_t *tokens, uint32_t n,
                       uint32_t pos0, struct st_err *err)
{
    char exp[80];
    if (n == 0)
        return st_errf(err, "engine", "batch", "at least one token", "0 tokens");
    if (pos0 >= p->n_ctx || n > p->n_ctx - pos0) {
        snprintf(exp, sizeof exp, "positions below the context length %u", p->n_ctx);
        return st_errf(err, "engine", "position", exp, "%u tokens from position %u", n,
                       pos0);
    }
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= p->c.n_vocab) {
            snprintf(exp, sizeof exp, "0 to %u (the vocabulary)", p->c.n_vocab - 1);
            return st_errf(err, "engine", "token", exp, "%d (batch index %u)", tokens[i],
                           i);
        }
    return 0;
}

/* One chunk of n_tok <= PREFILL_MAX_TOKENS tokens through every layer:
 * leaves the final residual streams in p->x (n_tok, dim). */
static int chunk_layers(struct prefill *p, const int32_t *tokens, uint32_t n_tok,
                        uint32_t pos0, struct st_err *err)
{
    const struct llm_model *m = p->m;
    const struct llm_config *c = &p->c;

    /* x (B, dim) = token_embd rows; the rotation of each position */
    const struct gguf_tensor *te = m->tok_embd;
    size_t row_bytes = ggml_row_size(te->type, c->dim);
    for (uint32_t t = 0; t < n_tok; t++) {
        dequant_row(te->type, (const uint8_t *)te->data + (size_t)tokens[t] * row_bytes,
                    p->x + (size_t)t * p->sd, c->dim);
        op_rope_table(p->rope_cs + (size_t)t * c->rope_dim, pos0 + t, c->rope_dim,
                      c->rope_theta, c->rope_freq_scale, p->rope_freqs);
    }
    for (uint32_t l = 0; l < c->n_layers; l++) {
        if (!stream_cpu_streams(p->stream, l)) {
            layer_forward_batch(p, &m->layers[l], l, pos0, n_tok);
            continue;
        }
        /* a streamed layer goes through its slot once for the whole chunk */
        const struct llm_layer *L = stream_cpu_acquire(p->stream, l, err);
        if (!L)
            return -1;
        layer_forward_batch(p, L, l, pos0, n_tok);
        stream_cpu_release(p->stream);
    }
    return 0;
}

/* logits = output (n_vocab, dim) @ rmsnorm(x) of the chunk's n_tok tokens:
 * logits_out (n_tok, n_vocab) gets every token's; NULL: only the last
 * one's, into p->logits through the decode product (the same numbers).
 * Returns the last token's row. */
static const float *chunk_logits(struct prefill *p, uint32_t n_tok, float *logits_out)
{
    const struct llm_model *m = p->m;
    const struct llm_config *c = &p->c;
    const float *norm = tensor_f32(p, m->output_norm);
    if (logits_out) {
        for (uint32_t t = 0; t < n_tok; t++)
            op_rmsnorm(p->x + (size_t)t * p->sd, p->x + (size_t)t * p->sd, norm, c->dim,
                       c->norm_eps);
        struct matmul_job out = mm_job(logits_out, c->n_vocab, m->output, p->x, p->sd);
        matmul_multi(p->pool, &out, 1, n_tok);
        return logits_out + (size_t)(n_tok - 1) * c->n_vocab;
    }
    float *last = p->x + (size_t)(n_tok - 1) * p->sd;
    op_rmsnorm(last, last, norm, c->dim, c->norm_eps);
    matvec(p->pool, p->logits, m->output->data, m->output->type, last, c->dim, c->n_vocab);
    return p->logits;
}

void prefill_set_stream(struct prefill *p, struct stream_cpu *s)
{
    p->stream = s;
}

const float *prefill_forward(struct prefill *p, const int32_t *tokens, uint32_t n,
                             uint32_t pos0, float *logits_out, struct st_err *err)
{
    if (check_input(p, tokens, n, pos0, err))
        return NULL;
    const float *last = NULL;
    for (uint32_t i = 0; i < n; i += PREFILL_MAX_TOKENS) {
        uint32_t n_tok = n - i < PREFILL_MAX_TOKENS ? n - i : PREFILL_MAX_TOKENS;
        if (chunk_layers(p, tokens + i, n_tok, pos0 + i, err))
            return NULL;
        /* with logits_out NULL only the prompt's last token needs logits */
        if (logits_out)
            last = chunk_logits(p, n_tok, logits_out + (size_t)i * p->c.n_vocab);
        else if (i + n_tok == n)
            last = chunk_logits(p, n_tok, NULL);
    }
    return last;
}
