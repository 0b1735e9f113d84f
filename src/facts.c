/* facts.c - model facts from a GGUF header, or synthesized (facts.h). */
#include "facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"

void facts_free(struct model_facts *f)
{
    free(f->tensors);
    f->tensors = NULL;
    f->n_tensors = 0;
}

/* Role of a tensor from its name and shape (the llama.cpp naming). */
static int facts_role_of(const char *name, uint32_t n_dims, const uint64_t *ne,
                         int32_t *layer)
{
    *layer = -1;
    if (strcmp(name, "token_embd.weight") == 0)
        return FACTS_EMBD;
    if (strcmp(name, "output.weight") == 0)
        return FACTS_OUTPUT;
    if (strcmp(name, "output_norm.weight") == 0)
        return FACTS_OUTPUT_NORM;
    unsigned idx;
    int used = 0;
    if (sscanf(name, "blk.%u.%n", &idx, &used) == 1 && used > 0 && idx < 1u << 30) {
        *layer = (int32_t)idx;
        int one_d = n_dims == 1 || (ne[1] == 1 && ne[2] == 1 && ne[3] == 1);
        return one_d ? FACTS_LAYER_SMALL : FACTS_LAYER_MATRIX;
    }
    return FACTS_OTHER;
}

int facts_summarize(struct model_facts *f, struct st_err *err)
{
    const char *who = f->name[0] ? f->name : "model";
    if (f->n_layers == 0 || f->n_layers > FACTS_MAX_LAYERS)
        return st_errf(err, who, "block_count", "1 to 512 blocks", "%u", f->n_layers);
    memset(f->layer_bytes, 0, sizeof f->layer_bytes);
    memset(f->layer_small_bytes, 0, sizeof f->layer_small_bytes);
    f->embd_bytes = f->output_bytes = f->output_norm_bytes = f->other_bytes = 0;
    f->total_bytes = 0;
    int have_embd = 0, have_output = 0;
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        const struct facts_tensor *t = &f->tensors[i];
        f->total_bytes += t->bytes;
        switch (t->role) {
        case FACTS_EMBD: f->embd_bytes += t->bytes; have_embd = 1; break;
        case FACTS_OUTPUT: f->output_bytes += t->bytes; have_output = 1; break;
        case FACTS_OUTPUT_NORM: f->output_norm_bytes += t->bytes; break;
        case FACTS_OTHER: f->other_bytes += t->bytes; break;
        default:
            if (t->layer < 0 || (uint32_t)t->layer >= f->n_layers)
                return st_errf(err, who, t->name, "a block index below block_count",
                               "block %d of %u", t->layer, f->n_layers);
            f->layer_bytes[t->layer] += t->bytes;
            if (t->role == FACTS_LAYER_SMALL)
                f->layer_small_bytes[t->layer] += t->bytes;
        }
    }
    if (!have_embd)
        return st_errf(err, who, "token_embd.weight", "a tensor of that name", "none");
    f->output_tied = !have_output;
    for (uint32_t l = 0; l < f->n_layers; l++)
        if (f->layer_bytes[l] == 0)
            return st_errf(err, who, "blocks", "tensors for every block",
                           "none for blk.%u", l);
    return 0;
}

/* ---- from a GGUF file --------------------------------------------------- */

static int get_dim(const struct gguf_file *g, const char *arch, const char *suffix,
                   uint32_t *out, int required, struct st_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_u32(g, key, out, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && required)
        return st_errf(err, g->path, key, "a positive integer", "nothing");
    if (rc == 0 && *out == 0 && required)
        return st_errf(err, g->path, key, "a positive integer", "0");
    return 0;
}

int facts_from_gguf(struct model_facts *f, const char *path, struct st_err *err)
{
    struct gguf_file g;
    memset(f, 0, sizeof *f);
    memset(&g, 0, sizeof g);
    if (gguf_open(&g, path, err))
        return -1;
    int rc = -1;
    struct gguf_str s;
    if (gguf_get_str(&g, "general.architecture", &s, err) != 0) {
        if (!err || !err->msg[0])
            st_errf(err, path, "general.architecture", "a string (llama, qwen2)", "nothing");
        goto out;
    }
    gguf_str_copy(s, f->arch, sizeof f->arch);
    const char *base = strrchr(path, '/');
    snprintf(f->name, sizeof f->name, "%s", base ? base + 1 : path);
    if (gguf_get_str(&g, "general.name", &s, NULL) == 0 && s.len)
        gguf_str_copy(s, f->name, sizeof f->name);

    if (get_dim(&g, f->arch, "block_count", &f->n_layers, 1, err) ||
        get_dim(&g, f->arch, "embedding_length", &f->n_embd, 1, err) ||
        get_dim(&g, f->arch, "attention.head_count", &f->n_heads, 1, err) ||
        get_dim(&g, f->arch, "feed_forward_length", &f->n_ff, 1, err) ||
        get_dim(&g, f->arch, "context_length", &f->n_ctx_train, 0, err))
        goto out;
    f->n_kv_heads = f->n_heads;
    if (get_dim(&g, f->arch, "attention.head_count_kv", &f->n_kv_heads, 0, err))
        goto out;
    f->head_dim = f->n_embd / f->n_heads;
    if (get_dim(&g, f->arch, "attention.key_length", &f->head_dim, 0, err))
        goto out;
    if (f->n_kv_heads == 0 || f->head_dim == 0)
        { st_errf(err, path, "attention.head_count_kv", "a positive integer", "0"); goto out; }

    f->fingerprint = gguf_fingerprint(&g);
    f->file_bytes = g.size;
    f->n_tensors = (uint32_t)g.n_tensors;
    f->tensors = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *f->tensors);
    if (!f->tensors) {
        st_errmsg(err, "%s: out of memory for %llu tensor facts", path,
                  (unsigned long long)g.n_tensors);
        goto out;
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const struct gguf_tensor *gt = &g.tensors[i];
        struct facts_tensor *t = &f->tensors[i];
        if (strlen(gt->name) >= sizeof t->name) {
            st_errf(err, path, "tensor name", "at most 63 characters", "'%s'", gt->name);
            goto out;
        }
        strcpy(t->name, gt->name);
        t->type = gt->type;
        for (int d = 0; d < 4; d++)
            t->ne[d] = gt->ne[d];
        t->bytes = gt->n_bytes;
        t->file_offset = g.data_offset + gt->offset;
        t->role = facts_role_of(gt->name, gt->n_dims, gt->ne, &t->layer);
        if (t->role == FACTS_EMBD)
            f->n_vocab = (uint32_t)gt->ne[1];
    }
    rc = facts_summarize(f, err);
out:
    gguf_close(&g);
    if (rc)
        facts_free(f);
    return rc;
}

/* ---- synthetic models --------------------------------------------------- */

/* llama.cpp's use_more_bits(i, n): the first and last eighth of the blocks
 * and every third block between get the bigger type in the _M recipes. */
static int use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* FNV-1a 64 over a byte range, chained. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

struct synth_ctx {
    struct model_facts *f;
    uint64_t offset; /* running file offset */
    uint32_t cap;
    int bad;
};

static void synth_add(struct synth_ctx *c, const char *name, uint32_t type,
                      uint64_t ne0, uint64_t ne1)
{
    struct model_facts *f = c->f;
    if (f->n_tensors >= c->cap) {
        c->bad = 1;
        return;
    }
    struct facts_tensor *t = &f->tensors[f->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->bytes = ggml_row_size(type, ne0) * ne1;
    if (t->bytes == 0)
        c->bad = 1;
    t->file_offset = c->offset;
    c->offset += (t->bytes + 31) / 32 * 32;
    t->role = facts_role_of(name, ne1 == 1 ? 1 : 2, t->ne, &t->layer);
}

int facts_synth(struct model_facts *f, const struct facts_synth_spec *s,
                struct st_err *err)
{
    memset(f, 0, sizeof *f);
    if (!s->n_layers || s->n_layers > FACTS_MAX_LAYERS || !s->n_heads ||
        !s->n_kv_heads || s->n_embd % s->n_heads)
        return st_errf(err, s->name, "dimensions", "1..512 blocks and heads dividing n_embd",
                       "%u blocks, %u heads, n_embd %u", s->n_layers, s->n_heads, s->n_embd);
    snprintf(f->arch, sizeof f->arch, "%s", s->arch);
    snprintf(f->name, sizeof f->name, "%s", s->name);
    f->n_layers = s->n_layers;
    f->n_embd = s->n_embd;
    f->n_heads = s->n_heads;
    f->n_kv_heads = s->n_kv_heads;
    f->head_dim = s->n_embd / s->n_heads;
    f->n_ff = s->n_ff;
    f->n_vocab = s->n_vocab;
    f->n_ctx_train = s->n_ctx_train;
    int qwen = strcmp(s->arch, "qwen2") == 0;
    struct synth_ctx c = {f, 8u << 20, 3 + s->n_layers * (qwen ? 12 : 9), 0};
    f->tensors = calloc(c.cap, sizeof *f->tensors);
    if (!f->tensors)
        return st_errmsg(err, "%s: out of memory", s->name);

    uint64_t d = s->n_embd, q = (uint64_t)s->n_heads * f->head_dim,
             kv = (uint64_t)s->n_kv_heads * f->head_dim, ff = s->n_ff;
    synth_add(&c, "token_embd.weight", s->type_embd, d, s->n_vocab);
    char n[FACTS_NAME_MAX];
#define ADD(suffix, type, ne0, ne1)                          \
    do {                                                     \
        snprintf(n, sizeof n, "blk.%u." suffix, l);          \
        synth_add(&c, n, type, ne0, ne1);                    \
    } while (0)
    for (uint32_t l = 0; l < s->n_layers; l++) {
        uint32_t big = use_more_bits(l, s->n_layers) ? s->type_more_bits : s->type_matrix;
        ADD("attn_norm.weight", GGML_TYPE_F32, d, 1);
        ADD("attn_q.weight", s->type_matrix, d, q);
        ADD("attn_k.weight", s->type_matrix, d, kv);
        ADD("attn_v.weight", big, d, kv);
        if (qwen) {
            ADD("attn_q.bias", GGML_TYPE_F32, q, 1);
            ADD("attn_k.bias", GGML_TYPE_F32, kv, 1);
            ADD("attn_v.bias", GGML_TYPE_F32, kv, 1);
        }
        ADD("attn_output.weight", s->type_matrix, q, d);
        ADD("ffn_norm.weight", GGML_TYPE_F32, d, 1);
        ADD("ffn_gate.weight", s->type_matrix, d, ff);
        ADD("ffn_up.weight", s->type_matrix, d, ff);
        ADD("ffn_down.weight", big, ff, d);
    }
#undef ADD
    synth_add(&c, "output_norm.weight", GGML_TYPE_F32, d, 1);
    if (!s->tied)
        synth_add(&c, "output.weight", s->type_output, d, s->n_vocab);
    if (c.bad) {
        facts_free(f);
        return st_errf(err, s->name, "tensor shapes", "rows that are whole blocks of their type",
                       "a row that is not");
    }
    f->file_bytes = c.offset;
    /* a fingerprint of the table, as gguf_fingerprint would give a file */
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        h = fnv1a(h, f->tensors[i].name, strlen(f->tensors[i].name));
        h = fnv1a(h, &f->tensors[i].type, sizeof f->tensors[i].type);
        h = fnv1a(h, f->tensors[i].ne, sizeof f->tensors[i].ne);
    }
    f->fingerprint = h;
    if (facts_summarize(f, err)) {
        facts_free(f);
        return -1;
    }
    return 0;
}

int facts_preset(const char *name, struct facts_synth_spec *s, struct st_err *err)
{
    static const struct {
        const char *name;
        struct facts_synth_spec spec;
    } presets[] = {
        /* Llama-3.1: vocab 128256, GQA 8 kv heads, head_dim 128 */
        {"llama3.1-70b-q4_k_m", {"llama", "Llama-3.1-70B Q4_K_M (synthetic)", 80, 8192, 64, 8,
                                 28672, 128256, 131072, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
                                 GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, 0}},
        {"llama3.1-70b-q6_k", {"llama", "Llama-3.1-70B Q6_K (synthetic)", 80, 8192, 64, 8,
                               28672, 128256, 131072, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K,
                               GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, 0}},
        {"llama3.1-8b-q4_k_m", {"llama", "Llama-3.1-8B Q4_K_M (synthetic)", 32, 4096, 32, 8,
                                14336, 128256, 131072, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
                                GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, 0}},
        /* Qwen2.5-32B: vocab 152064, 40 heads, 8 kv heads, q/k/v biases */
        {"qwen2.5-32b-q4_k_m", {"qwen2", "Qwen2.5-32B Q4_K_M (synthetic)", 64, 5120, 40, 8,
                                27648, 152064, 32768, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
                                GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, 0}},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(name, presets[i].name) == 0) {
            *s = presets[i].spec;
            return 0;
        }
    return st_errf(err, "--synth", "model",
                   "llama3.1-70b-q4_k_m, llama3.1-70b-q6_k, llama3.1-8b-q4_k_m or qwen2.5-32b-q4_k_m",
                   "'%s'", name);
}
