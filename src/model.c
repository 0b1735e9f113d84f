/* model.c - hyperparameters and tensors of a Llama-family GGUF model,
 * validated once at load (see model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

const char *llm_arch_name(enum llm_arch arch)
{
    switch (arch) {
    case LLM_ARCH_LLAMA: return "llama";
    case LLM_ARCH_QWEN2: return "qwen2";
    }
    return "unknown";
}

/* ---- metadata ------------------------------------------------------------ */

/* "<arch>.<suffix>" into buf. */
static const char *arch_key(char *buf, size_t cap, enum llm_arch arch,
                            const char *suffix)
{
    snprintf(buf, cap, "%s.%s", llm_arch_name(arch), suffix);
    return buf;
}

/* A required uint32 key: absent is an error naming the key. */
static int key_u32_required(const struct llm_model *m, const char *suffix,
                            uint32_t *out, struct st_err *err)
{
    char key[128];
    arch_key(key, sizeof key, m->cfg.arch, suffix);
    int rc = gguf_get_u32(&m->gguf, key, out, err);
    if (rc == 1)
        return st_errf(err, m->gguf.path, key, "a uint32 value", "no such key");
    return rc;
}

/* An optional key: absent leaves *out (the default) as it is. */
static int key_u32_optional(const struct llm_model *m, const char *suffix,
                            uint32_t *out, struct st_err *err)
{
    char key[128];
    arch_key(key, sizeof key, m->cfg.arch, suffix);
    return gguf_get_u32(&m->gguf, key, out, err) < 0 ? -1 : 0;
}

static int key_f32_optional(const struct llm_model *m, const char *suffix,
                            float *out, struct st_err *err)
{
    char key[128];
    arch_key(key, sizeof key, m->cfg.arch, suffix);
    return gguf_get_f32(&m->gguf, key, out, err) < 0 ? -1 : 0;
}

static int read_arch(struct llm_model *m, struct st_err *err)
{
    struct gguf_str s;
    int rc = gguf_get_str(&m->gguf, "general.architecture", &s, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return st_errf(err, m->gguf.path, "general.architecture",
                       "llama or qwen2", "no such key");
    char name[64];
    gguf_str_copy(s, name, sizeof name);
    if (strcmp(name, "llama") == 0)
        m->cfg.arch = LLM_ARCH_LLAMA;
    else if (strcmp(name, "qwen2") == 0)
        m->cfg.arch = LLM_ARCH_QWEN2;
    else
        return st_errf(err, m->gguf.path, "general.architecture",
                       "llama or qwen2", "'%s'", name);
    m->cfg.rope_style = m->cfg.arch == LLM_ARCH_QWEN2 ? LLM_ROPE_NEOX
                                                      : LLM_ROPE_ADJACENT;
    return 0;
}

/* Rope scaling as llama.cpp reads it: <arch>.rope.scaling.type (absent
 * means linear), the factor from rope.scaling.factor or the older
 * rope.scale_linear; type "none" never scales. llama3 scaling is carried
 * by the rope_freqs.weight tensor, not by these keys (see find_tensors). */
static int read_rope_scaling(struct llm_model *m, struct st_err *err)
{
    struct llm_config *c = &m->cfg;
    char key[128];
    char type[32] = "linear";
    struct gguf_str s;
    arch_key(key, sizeof key, c->arch, "rope.scaling.type");
    int rc = gguf_get_str(&m->gguf, key, &s, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        gguf_str_copy(s, type, sizeof type);

    float factor = 0.0f;
    if (key_f32_optional(m, "rope.scaling.factor", &factor, err))
        return -1;
    if (factor == 0.0f && key_f32_optional(m, "rope.scale_linear", &factor, err))
        return -1;

    c->rope_scaling = LLM_ROPE_SCALING_NONE;
    c->rope_freq_scale = 1.0f;
    if (strcmp(type, "none") == 0 || strcmp(type, "llama3") == 0)
        return 0;
    if (strcmp(type, "linear") != 0)
        return st_errf(err, m->gguf.path, key, "none, linear or llama3",
                       "'%s'", type);
    if (factor < 0.0f || factor != factor)
        return st_errf(err, m->gguf.path, "rope.scaling.factor",
                       "a positive number", "%g", factor);
    if (factor > 0.0f && factor != 1.0f) {
        c->rope_scaling = LLM_ROPE_SCALING_LINEAR;
        c->rope_freq_scale = 1.0f / factor;
    }
    return 0;
}

static int read_config(struct llm_model *m, struct st_err *err)
{
    struct llm_config *c = &m->cfg;
    const char *file = m->gguf.path;
    if (read_arch(m, err))
        return -1;
    if (key_u32_required(m, "block_count", &c->n_layers, err) ||
        key_u32_required(m, "embedding_length", &c->dim, err) ||
        key_u32_required(m, "attention.head_count", &c->n_heads, err) ||
        key_u32_required(m, "feed_forward_length", &c->ffn_dim, err) ||
        key_u32_required(m, "context_length", &c->ctx_train, err))
        return -1;

    char key[128];
    /* A model has at least 9 tensors per block: an absurd block_count is
     * refused before the layer table is sized from it. */
    if (c->n_layers == 0 || c->n_layers > m->gguf.n_tensors / 9)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "block_count"),
                       "1 or more, at most (tensors / 9)", "%u", c->n_layers);
    if (c->dim == 0)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "embedding_length"),
                       "a positive value", "0");
    if (c->n_heads == 0)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "attention.head_count"),
                       "a positive value", "0");
    if (c->ffn_dim == 0)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "feed_forward_length"),
                       "a positive value", "0");
    if (c->ctx_train == 0)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "context_length"),
                       "a positive value", "0");

    c->n_kv_heads = c->n_heads;
    if (key_u32_optional(m, "attention.head_count_kv", &c->n_kv_heads, err))
        return -1;
    if (c->n_kv_heads == 0 || c->n_heads % c->n_kv_heads)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "attention.head_count_kv"),
                       "a divisor of attention.head_count", "%u (head_count %u)",
                       c->n_kv_heads, c->n_heads);

    c->head_dim = c->dim / c->n_heads;
    arch_key(key, sizeof key, c->arch, "attention.key_length");
    int has_key_length = gguf_find_kv(&m->gguf, key) != NULL;
    if (key_u32_optional(m, "attention.key_length", &c->head_dim, err))
        return -1;
    if (!has_key_length && c->dim % c->n_heads)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "embedding_length"),
                       "a multiple of attention.head_count", "%u (head_count %u)",
                       c->dim, c->n_heads);
    if (c->head_dim == 0 || c->head_dim % 2)
        return st_errf(err, file, key, "an even positive value", "%u", c->head_dim);
    /* Values must be as wide as keys: one head_dim serves both. */
    uint32_t v_len = c->head_dim;
    if (key_u32_optional(m, "attention.value_length", &v_len, err))
        return -1;
    if (v_len != c->head_dim)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "attention.value_length"),
                       "the key length", "%u (key length %u)", v_len, c->head_dim);

    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_dim = c->head_dim;
    if (key_f32_optional(m, "attention.layer_norm_rms_epsilon", &c->norm_eps, err) ||
        key_f32_optional(m, "rope.freq_base", &c->rope_theta, err) ||
        key_u32_optional(m, "rope.dimension_count", &c->rope_dim, err))
        return -1;
    if (!(c->norm_eps >= 0.0f))
        return st_errf(err, file, arch_key(key, sizeof key, c->arch,
                       "attention.layer_norm_rms_epsilon"), "a non-negative number",
                       "%g", c->norm_eps);
    if (!(c->rope_theta > 0.0f))
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "rope.freq_base"),
                       "a positive number", "%g", c->rope_theta);
    if (c->rope_dim == 0 || c->rope_dim % 2 || c->rope_dim > c->head_dim)
        return st_errf(err, file, arch_key(key, sizeof key, c->arch, "rope.dimension_count"),
                       "an even value, at most the head dimension",
                       "%u (head dim %u)", c->rope_dim, c->head_dim);
    return read_rope_scaling(m, err);
}

/* ---- tensors ------------------------------------------------------------- */

/* "F32 F16 BF16 Q4_0 ..." : every type strata computes with. */
static const char *supported_types(void)
{
    static char list[256];
    if (!list[0]) {
        size_t n = 0;
        for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
            const struct ggml_type_info *ti = ggml_type_get(t);
            if (ti && ti->supported && n + strlen(ti->name) + 2 < sizeof list)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                                      n ? " " : "", ti->name);
        }
    }
    return list;
}

static void shape_str(char *buf, size_t cap, uint32_t n_dims, const uint64_t *ne)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? ", " : "",
                              (unsigned long long)ne[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Finds a tensor and checks its shape ([ne0] or [ne0, ne1]: ne1 == 0 asks
 * for a vector) and type. A missing tensor is an error only if required;
 * *out is NULL then. */
static int find_tensor(const struct llm_model *m, const char *name,
                       uint64_t ne0, uint64_t ne1, int required,
                       const struct gguf_tensor **out, struct st_err *err)
{
    const char *file = m->gguf.path;
    char field[160], want[64];
    uint64_t ne[2] = {ne0, ne1};
    uint32_t want_dims = ne1 ? 2 : 1;
    shape_str(want, sizeof want, want_dims, ne);
    snprintf(field, sizeof field, "tensor '%s'", name);

    const struct gguf_tensor *t = gguf_find_tensor(&m->gguf, name);
    *out = t;
    if (!t) {
        if (!required)
            return 0;
        char exp[96];
        snprintf(exp, sizeof exp, "a tensor of shape %s", want);
        return st_errf(err, file, field, exp, "no such tensor");
    }

    /* Trailing dims of 1 are the same shape (a vector stored as [n, 1]). */
    int ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1);
    for (uint32_t d = 2; d < GGUF_MAX_DIMS; d++)
        ok = ok && t->ne[d] == 1;
    if (!ok) {
        char found[96];
        shape_str(found, sizeof found, t->n_dims, t->ne);
        snprintf(field, sizeof field, "tensor '%s' shape", name);
        return st_errf(err, file, field, want, "%s", found);
    }

    const struct ggml_type_info *ti = ggml_type_get(t->type);
    if (!ti || !ti->supported) {
        char exp[320];
        snprintf(exp, sizeof exp, "a supported type (%s)", supported_types());
        snprintf(field, sizeof field, "tensor '%s' type", name);
        if (ti)
            return st_errf(err, file, field, exp, "%s", ti->name);
        return st_errf(err, file, field, exp, "type id %u", t->type);
    }
    /* Rows are dequantized block by block: a row must be whole blocks. */
    if (ggml_row_size(t->type, t->ne[0]) == 0) {
        char exp[96];
        snprintf(exp, sizeof exp, "a multiple of %u (the %s block size)",
                 ti->blck_size, ti->name);
        snprintf(field, sizeof field, "tensor '%s' row length", name);
        return st_errf(err, file, field, exp, "%llu", (unsigned long long)t->ne[0]);
    }
    return 0;
}

static int find_layer(struct llm_model *m, uint32_t l, struct st_err *err)
{
    const struct llm_config *c = &m->cfg;
    struct llm_layer *L = &m->layers[l];
    uint64_t q_dim = (uint64_t)c->n_heads * c->head_dim;
    uint64_t kv_dim = (uint64_t)c->n_kv_heads * c->head_dim;
    int bias_required = c->arch == LLM_ARCH_QWEN2;
    char name[96];
#define T(field, suffix, ne0, ne1, req)                                          \
    do {                                                                         \
        snprintf(name, sizeof name, "blk.%u.%s", l, suffix);                     \
        if (find_tensor(m, name, ne0, ne1, req, &L->field, err))                 \
            return -1;                                                           \
    } while (0)
    T(attn_norm, "attn_norm.weight", c->dim, 0, 1);
    T(wq, "attn_q.weight", c->dim, q_dim, 1);
    T(wk, "attn_k.weight", c->dim, kv_dim, 1);
    T(wv, "attn_v.weight", c->dim, kv_dim, 1);
    T(wo, "attn_output.weight", q_dim, c->dim, 1);
    T(bq, "attn_q.bias", q_dim, 0, bias_required);
    T(bk, "attn_k.bias", kv_dim, 0, bias_required);
    T(bv, "attn_v.bias", kv_dim, 0, bias_required);
    T(ffn_norm, "ffn_norm.weight", c->dim, 0, 1);
    T(ffn_gate, "ffn_gate.weight", c->dim, c->ffn_dim, 1);
    T(ffn_up, "ffn_up.weight", c->dim, c->ffn_dim, 1);
    T(ffn_down, "ffn_down.weight", c->ffn_dim, c->dim, 1);
#undef T
    return 0;
}

static int find_tensors(struct llm_model *m, struct st_err *err)
{
    struct llm_config *c = &m->cfg;
    const char *file = m->gguf.path;

    /* n_vocab comes from the embedding's row count; the tokenizer, when
     * the file has one, must agree with it. */
    const struct gguf_tensor *e = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!e) {
        char exp[64];
        snprintf(exp, sizeof exp, "a tensor of shape [%u, n_vocab]", c->dim);
        return st_errf(err, file, "tensor 'token_embd.weight'", exp, "no such tensor");
    }
    if (e->ne[1] == 0 || e->ne[1] > INT32_MAX)
        return st_errf(err, file, "tensor 'token_embd.weight' rows",
                       "1 to 2^31-1 (the vocabulary)", "%llu",
                       (unsigned long long)e->ne[1]);
    c->n_vocab = (uint32_t)e->ne[1];
    const struct gguf_kv *toks = gguf_find_kv(&m->gguf, "tokenizer.ggml.tokens");
    if (toks && toks->type == GGUF_TYPE_ARRAY && toks->arr_n != c->n_vocab) {
        char exp[96];
        snprintf(exp, sizeof exp, "%u (the rows of token_embd.weight)", c->n_vocab);
        return st_errf(err, file, "tokenizer.ggml.tokens count", exp, "%llu",
                       (unsigned long long)toks->arr_n);
    }

    if (find_tensor(m, "token_embd.weight", c->dim, c->n_vocab, 1, &m->tok_embd, err) ||
        find_tensor(m, "output_norm.weight", c->dim, 0, 1, &m->output_norm, err) ||
        find_tensor(m, "output.weight", c->dim, c->n_vocab, 0, &m->output, err) ||
        find_tensor(m, "rope_freqs.weight", c->rope_dim / 2, 0, 0, &m->rope_freqs, err))
        return -1;
    c->tied_output = m->output == NULL;
    if (c->tied_output)
        m->output = m->tok_embd;
    if (m->rope_freqs)
        c->rope_scaling = LLM_ROPE_SCALING_LLAMA3;

    m->layers = calloc(c->n_layers, sizeof *m->layers);
    if (!m->layers)
        return st_errmsg(err, "%s: out of memory for %u layers", file, c->n_layers);
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (find_layer(m, l, err))
            return -1;
    c->has_qkv_bias = m->layers[0].bq || m->layers[0].bk || m->layers[0].bv;
    return 0;
}

/* ---- load / free ----------------------------------------------------------- */

int model_load(struct llm_model *m, const char *path, struct st_err *err)
{
    memset(m, 0, sizeof *m);
    if (gguf_open(&m->gguf, path, err)) {
        memset(m, 0, sizeof *m);
        return -1;
    }
    if (read_config(m, err) || find_tensors(m, err)) {
        model_free(m);
        return -1;
    }
    return 0;
}

void model_free(struct llm_model *m)
{
    free(m->layers);
    gguf_close(&m->gguf);
    memset(m, 0, sizeof *m);
}
