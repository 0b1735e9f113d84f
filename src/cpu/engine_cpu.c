/* engine_cpu.c - the CPU reference engine (implements engine.h).
 *
 * One token at a time, llama2.c style: forward() reads top to bottom.
 * Everything is allocated by engine_init in one block (activations, the
 * attention scores, the F16 KV cache) plus the thread pool; engine_forward
 * allocates nothing. The weights are read in place from the model's
 * tensors, quantized, through dequant_dot (matvec.c). */
#include "engine.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/matvec.h"
#include "cpu/ops.h"
#include "cpu/prefill.h"
#include "cpu/stream_cpu.h"
#include "dequant.h"
#include "model.h"
#include "quant.h"
#include "sampler.h"

struct engine {
    const struct llm_model *m;
    struct llm_config c;  /* copy of m->cfg */
    uint32_t n_ctx;       /* KV cache length in positions */
    uint32_t q_dim;       /* n_heads * head_dim */
    uint32_t kv_dim;      /* n_kv_heads * head_dim */
    struct mv_pool *pool;
    struct prefill *prefill; /* the batched path (prefill.c), sharing pool and cache */
    struct stream_cpu *stream; /* slots + copy thread of the streamed layers
                                  (stream_cpu.c); NULL: every layer resident */
    void *block;          /* the one allocation behind every buffer below */
    /* activations of the current token */
    float *x;             /* (dim,) the residual stream */
    float *xb;            /* (max(dim, q_dim),) normed input / attention output */
    float *xb2;           /* (dim,) output of wo and ffn_down */
    float *q;             /* (q_dim,) */
    float *k;             /* (kv_dim,) */
    float *v;             /* (kv_dim,) */
    float *att;           /* (n_heads, n_ctx) attention weights */
    float *hb;            /* (ffn_dim,) gate, then silu(gate) * up */
    float *hb2;           /* (ffn_dim,) up */
    float *logits;        /* (n_vocab,) */
    float *wbuf;          /* (max(dim, q_dim),) a norm or bias as f32 when
                             the file stores it in another type */
    float *rope_cs;       /* (rope_dim / 2, 2) cos, sin of this position */
    float *rope_freqs;    /* (rope_dim / 2,) llama3 divisors, or NULL */
    /* The KV cache, F16, layout [layer][kv_head][pos][head_dim]: one head's
     * keys are contiguous over positions, the layout the GPU engine uses
     * (its attention kernel reads one head's cache as a dense matrix). */
    uint16_t *k_cache;
    uint16_t *v_cache;
};

/* ---- set-up ------------------------------------------------------------------ */

/* Carves n bytes, 64-byte aligned, from a running offset; with base NULL
 * it only measures. */
static void *carve(uint8_t *base, size_t *off, size_t n)
{
    size_t at = (*off + 63) & ~(size_t)63;
    *off = at + n;
    return base ? base + at : NULL;
}

/* Lays out every buffer; returns the total bytes (base NULL: measure). */
static size_t engine_layout(struct engine *e, uint8_t *base)
{
    const struct llm_config *c = &e->c;
    size_t off = 0, f = sizeof(float);
    uint32_t wide = c->dim > e->q_dim ? c->dim : e->q_dim;
    size_t kv_elems = (size_t)c->n_layers * c->n_kv_heads * e->n_ctx * c->head_dim;
    e->x = carve(base, &off, c->dim * f);
    e->xb = carve(base, &off, wide * f);
    e->xb2 = carve(base, &off, c->dim * f);
    e->q = carve(base, &off, e->q_dim * f);
    e->k = carve(base, &off, e->kv_dim * f);
    e->v = carve(base, &off, e->kv_dim * f);
    e->att = carve(base, &off, (size_t)c->n_heads * e->n_ctx * f);
    e->hb = carve(base, &off, c->ffn_dim * f);
    e->hb2 = carve(base, &off, c->ffn_dim * f);
    e->logits = carve(base, &off, c->n_vocab * f);
    e->wbuf = carve(base, &off, wide * f);
    e->rope_cs = carve(base, &off, c->rope_dim * f);
    e->rope_freqs = carve(base, &off, c->rope_dim / 2 * f);
    e->k_cache = carve(base, &off, kv_elems * sizeof(uint16_t));
    e->v_cache = carve(base, &off, kv_elems * sizeof(uint16_t));
    return off;
}

struct engine *engine_init(const struct llm_model *m,
                           const struct engine_opts *o, struct st_err *err)
{
    struct engine *e = calloc(1, sizeof *e);
    if (!e) {
        st_errmsg(err, "engine: out of memory");
        return NULL;
    }
    e->m = m;
    e->c = m->cfg;
    e->q_dim = e->c.n_heads * e->c.head_dim;
    e->kv_dim = e->c.n_kv_heads * e->c.head_dim;
    e->n_ctx = o && o->n_ctx ? o->n_ctx
                             : (e->c.ctx_train < 4096 ? e->c.ctx_train : 4096);

    size_t bytes = engine_layout(e, NULL);
    e->block = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!e->block) {
        st_errmsg(err, "engine: out of memory for %zu bytes of state (n_ctx %u)",
                  bytes, e->n_ctx);
        free(e);
        return NULL;
    }
    memset(e->block, 0, bytes);
    engine_layout(e, e->block);

    if (m->rope_freqs)
        dequant_row(m->rope_freqs->type, m->rope_freqs->data, e->rope_freqs,
                    e->c.rope_dim / 2);
    else
        e->rope_freqs = NULL;

    e->pool = mv_pool_init(o ? o->n_threads : 0, err);
    if (!e->pool) {
        free(e->block);
        free(e);
        return NULL;
    }
    e->prefill = prefill_init(m, e->n_ctx, e->pool, e->k_cache, e->v_cache, err);
    if (!e->prefill) {
        engine_free(e);
        return NULL;
    }
    /* the plan's tiers: streamed layers go through slots (NULL and no error:
     * nothing streams) */
    struct st_err serr = {{0}};
    e->stream = stream_cpu_init(m, o ? o->layer_tier : NULL, o ? o->n_slots : 0,
                                o ? o->stream_type : 0, &serr);
    if (!e->stream && serr.msg[0]) {
        if (err)
            *err = serr;
        engine_free(e);
        return NULL;
    }
    prefill_set_stream(e->prefill, e->stream);
    return e;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    stream_cpu_free(e->stream);
    prefill_free(e->prefill);
    mv_pool_free(e->pool);
    free(e->block);
    free(e);
}

uint32_t engine_n_ctx(const struct engine *e)
{
    return e->n_ctx;
}

void engine_memory(struct engine *e, struct engine_memory *mem)
{
    mem->device_arena = 0;
    mem->host_block = engine_layout(e, NULL);
    mem->device_used = 0;
}

void engine_timeline(struct engine *e, struct engine_timeline *t)
{
    memset(t, 0, sizeof *t);
    if (!e->stream)
        return;
    struct stream_cpu_stats st;
    stream_cpu_stats(e->stream, &st);
    t->copy_s = 1e-9 * (double)st.copy_ns;
    t->stall_s = 1e-9 * (double)st.stall_ns;
    memcpy(t->bytes, st.bytes, sizeof t->bytes);
    t->streamed_layers = st.layers;
}

/* ---- pieces of the forward pass ---------------------------------------------- */

/* A 1-D tensor (norm weight, bias) as floats: in place when the file
 * stores F32, else dequantized into e->wbuf (valid until the next call). */
static const float *tensor_f32(struct engine *e, const struct gguf_tensor *t)
{
    if (t->type == GGML_TYPE_F32 && (uintptr_t)t->data % sizeof(float) == 0)
        return t->data;
    dequant_row(t->type, t->data, e->wbuf, t->ne[0]);
    return e->wbuf;
}

static struct matvec_job job(float *out, const struct gguf_tensor *w, const float *x)
{
    struct matvec_job j = {out, w->data, w->type, x, w->ne[0], w->ne[1]};
    return j;
}

static void add_bias(struct engine *e, float *y, const struct gguf_tensor *b)
{
    if (b)
        op_add(y, tensor_f32(e, b), (uint32_t)b->ne[0]);
}

/* Cache rows of (layer, kv head): (n_ctx, head_dim) F16. */
static size_t cache_offset(const struct engine *e, uint32_t l, uint32_t kvh)
{
    return ((size_t)l * e->c.n_kv_heads + kvh) * e->n_ctx * e->c.head_dim;
}

struct attn_ctx {
    struct engine *e;
    uint32_t l, n_pos;
};

/* Query heads [lo, hi): each reads the cache of its KV head (grouped-query
 * attention: n_heads / n_kv_heads query heads share one). */
static void attention_heads(void *arg, uint64_t lo, uint64_t hi)
{
    const struct attn_ctx *a = arg;
    struct engine *e = a->e;
    uint32_t hd = e->c.head_dim, group = e->c.n_heads / e->c.n_kv_heads;
    for (uint64_t h = lo; h < hi; h++) {
        size_t kv = cache_offset(e, a->l, (uint32_t)h / group);
        op_attention_head(e->xb + h * hd, e->att + h * e->n_ctx, e->q + h * hd,
                          e->k_cache + kv, e->v_cache + kv, a->n_pos, hd);
    }
}

/* One transformer block on e->x at position pos. The weights come only
 * through L (so a streaming engine can pass a layer held in a slot); l
 * picks the KV cache. */
static void layer_forward(struct engine *e, const struct llm_layer *L,
                          uint32_t l, uint32_t pos)
{
    const struct llm_config *c = &e->c;
    uint32_t dim = c->dim, hd = c->head_dim;

    /* attention: xb (dim,) = rmsnorm(x) */
    op_rmsnorm(e->xb, e->x, tensor_f32(e, L->attn_norm), dim, c->norm_eps);

    /* q (q_dim,), k, v (kv_dim,) = W @ xb (+ bias) */
    struct matvec_job qkv[3] = {job(e->q, L->wq, e->xb), job(e->k, L->wk, e->xb),
                                job(e->v, L->wv, e->xb)};
    matvec_multi(e->pool, qkv, 3);
    add_bias(e, e->q, L->bq);
    add_bias(e, e->k, L->bk);
    add_bias(e, e->v, L->bv);

    op_rope(e->q, c->n_heads, hd, c->rope_dim, c->rope_style, e->rope_cs);
    op_rope(e->k, c->n_kv_heads, hd, c->rope_dim, c->rope_style, e->rope_cs);

    /* k, v -> cache[l][kvh][pos] (F16) */
    for (uint32_t h = 0; h < c->n_kv_heads; h++) {
        size_t at = cache_offset(e, l, h) + (size_t)pos * hd;
        op_store_f16(e->k_cache + at, e->k + h * hd, hd);
        op_store_f16(e->v_cache + at, e->v + h * hd, hd);
    }

    /* xb (q_dim,) = attention of every query head over positions 0..pos;
     * split over threads by head once the context makes it worth it */
    struct attn_ctx a = {e, l, pos + 1};
    uint64_t work = (uint64_t)c->n_heads * (pos + 1) * hd;
    mv_pool_run(e->pool, attention_heads, &a, c->n_heads, work < 32768 ? UINT64_MAX : 1);

    /* x += wo (dim, q_dim) @ xb */
    matvec(e->pool, e->xb2, L->wo->data, L->wo->type, e->xb, e->q_dim, dim);
    op_add(e->x, e->xb2, dim);

    /* feed-forward: xb = rmsnorm(x); hb, hb2 (ffn_dim,) = gate, up @ xb */
    op_rmsnorm(e->xb, e->x, tensor_f32(e, L->ffn_norm), dim, c->norm_eps);
    struct matvec_job gate_up[2] = {job(e->hb, L->ffn_gate, e->xb),
                                    job(e->hb2, L->ffn_up, e->xb)};
    matvec_multi(e->pool, gate_up, 2);
    op_swiglu(e->hb, e->hb2, c->ffn_dim);

    /* x += down (dim, ffn_dim) @ hb */
    matvec(e->pool, e->xb2, L->ffn_down->data, L->ffn_down->type, e->hb,
           c->ffn_dim, dim);
    op_add(e->x, e->xb2, dim);
}

/* ---- forward ------------------------------------------------------------------ */

const float *engine_forward(struct engine *e, int32_t token, uint32_t pos,
                            struct st_err *err)
{
    const struct llm_model *m = e->m;
    const struct llm_config *c = &e->c;
    if (token < 0 || (uint32_t)token >= c->n_vocab) {
        char exp[64];
        snprintf(exp, sizeof exp, "0 to %u (the vocabulary)", c->n_vocab - 1);
        st_errf(err, "engine", "token", exp, "%d", token);
        return NULL;
    }
    if (pos >= e->n_ctx) {
        char exp[64];
        snprintf(exp, sizeof exp, "less than the context length %u", e->n_ctx);
        st_errf(err, "engine", "position", exp, "%u", pos);
        return NULL;
    }

    /* x (dim,) = token_embd row `token` */
    const struct gguf_tensor *te = m->tok_embd;
    size_t row_bytes = ggml_row_size(te->type, c->dim);
    dequant_row(te->type, (const uint8_t *)te->data + (size_t)token * row_bytes,
                e->x, c->dim);

    /* the rotation of this position, shared by every layer */
    op_rope_table(e->rope_cs, pos, c->rope_dim, c->rope_theta,
                  c->rope_freq_scale, e->rope_freqs);

    for (uint32_t l = 0; l < c->n_layers; l++) {
        if (!stream_cpu_streams(e->stream, l)) {
            layer_forward(e, &m->layers[l], l, pos);
            continue;
        }
        /* a streamed layer: its slot's view, once the copy thread filled it */
        const struct llm_layer *L = stream_cpu_acquire(e->stream, l, err);
        if (!L)
            return NULL;
        layer_forward(e, L, l, pos);
        stream_cpu_release(e->stream);
    }

    /* logits (n_vocab,) = output (n_vocab, dim) @ rmsnorm(x) */
    op_rmsnorm(e->x, e->x, tensor_f32(e, m->output_norm), c->dim, c->norm_eps);
    matvec(e->pool, e->logits, m->output->data, m->output->type, e->x, c->dim,
           c->n_vocab);
    return e->logits;
}

/* ---- prefill (prefill.c) ------------------------------------------------------- */

const float *engine_forward_batch(struct engine *e, const int32_t *tokens, uint32_t n,
                                  uint32_t pos0, float *logits_out, struct st_err *err)
{
    return prefill_forward(e->prefill, tokens, n, pos0, logits_out, err);
}

int engine_forward_top(struct engine *e, int32_t token, uint32_t pos, uint32_t k, float *logit,
                       int32_t *id, struct st_err *err)
{
    if (k < 1 || k > ENGINE_TOP_MAX || k > e->c.n_vocab)
        return st_errf(err, "engine", "top-k candidates", "1 to 256, at most the vocabulary",
                       "%u", k);
    const float *l = engine_forward(e, token, pos, err);
    if (!l)
        return -1;
    sampler_top_logits(l, (int32_t)e->c.n_vocab, (int32_t)k, logit, id);
    return 0;
}
