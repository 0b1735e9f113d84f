/* test_model.c - model_load: hyperparameters of the real test models, and
 * every load error by name on small files built here.
 *
 * The builder below writes a GGUF v3 file byte by byte from the format's
 * definition (header, key/values, tensor infos, 32-byte aligned data), a
 * tiny Llama-shaped model described by a struct spec; each bad case is the
 * good spec with one thing changed. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "quant.h"
#include "util.h"

/* ---- the builder ------------------------------------------------------------ */

struct spec {
    const char *arch;
    uint32_t layers, dim, heads, kv_heads, ffn, vocab;
    uint32_t key_length;          /* 0: key absent (head_dim = dim / heads) */
    int biases;                   /* write attn_{q,k,v}.bias */
    int tied;                     /* leave output.weight out */
    int rope_freqs;               /* write rope_freqs.weight */
    const char *scaling_type;     /* <arch>.rope.scaling.type, or NULL */
    float scaling_factor;         /* <arch>.rope.scaling.factor if nonzero */
    const char *drop_key;         /* <arch>.<this> left out */
    const char *drop_tensor;      /* this tensor left out */
    const char *retype_tensor;    /* this tensor gets type retype */
    uint32_t retype;
    const char *reshape_tensor;   /* this tensor gets reshape_ne1 rows */
    uint64_t reshape_ne1;
};

static struct spec good_llama(void)
{
    struct spec s = {0};
    s.arch = "llama";
    s.layers = 2;
    s.dim = 32;
    s.heads = 2;
    s.kv_heads = 1;
    s.ffn = 64;
    s.vocab = 8;
    return s;
}

struct buf {
    uint8_t *b;
    size_t n, cap;
};

static void put(struct buf *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2;
        w->b = realloc(w->b, w->cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w->b);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_le(struct buf *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(w, &c, 1);
    }
}

static void put_str(struct buf *w, const char *s)
{
    put_le(w, strlen(s), 8);
    put(w, s, strlen(s));
}

/* The key/values, each written as key, value type, value. */
struct kvw {
    struct buf *w;
    const struct spec *s;
    uint64_t n;
};

static int kv_key(struct kvw *k, const char *suffix, uint32_t vtype)
{
    char key[128];
    if (k->s->drop_key && strcmp(k->s->drop_key, suffix) == 0)
        return 0;
    if (strcmp(suffix, "general.architecture") == 0)
        snprintf(key, sizeof key, "%s", suffix);
    else
        snprintf(key, sizeof key, "%s.%s", k->s->arch, suffix);
    put_str(k->w, key);
    put_le(k->w, vtype, 4);
    k->n++;
    return 1;
}

static void kv_u32(struct kvw *k, const char *suffix, uint32_t v)
{
    if (kv_key(k, suffix, 4 /* UINT32 */))
        put_le(k->w, v, 4);
}

static void kv_f32(struct kvw *k, const char *suffix, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    if (kv_key(k, suffix, 6 /* FLOAT32 */))
        put_le(k->w, bits, 4);
}

static void kv_str(struct kvw *k, const char *suffix, const char *v)
{
    if (kv_key(k, suffix, 8 /* STRING */))
        put_str(k->w, v);
}

struct tinfo {
    char name[64];
    uint32_t n_dims, type;
    uint64_t ne[2];
};

static int add_tensor(const struct spec *s, struct tinfo *t, int n, const char *name,
                      uint64_t ne0, uint64_t ne1)
{
    if (s->drop_tensor && strcmp(s->drop_tensor, name) == 0)
        return n;
    struct tinfo *ti = &t[n];
    snprintf(ti->name, sizeof ti->name, "%s", name);
    ti->n_dims = ne1 ? 2 : 1;
    ti->ne[0] = ne0;
    ti->ne[1] = ne1 ? ne1 : 1;
    ti->type = GGML_TYPE_F32;
    if (s->retype_tensor && strcmp(s->retype_tensor, name) == 0)
        ti->type = s->retype;
    if (s->reshape_tensor && strcmp(s->reshape_tensor, name) == 0)
        ti->ne[1] = s->reshape_ne1;
    return n + 1;
}

/* Writes the model of spec s to a temp file; returns its path. */
static const char *build(const struct spec *s, const char *file)
{
    uint32_t hd = s->key_length ? s->key_length : s->dim / s->heads;
    uint64_t q_dim = (uint64_t)s->heads * hd, kv_dim = (uint64_t)s->kv_heads * hd;
    struct tinfo t[128];
    int n = 0;
    n = add_tensor(s, t, n, "token_embd.weight", s->dim, s->vocab);
    n = add_tensor(s, t, n, "output_norm.weight", s->dim, 0);
    if (!s->tied)
        n = add_tensor(s, t, n, "output.weight", s->dim, s->vocab);
    if (s->rope_freqs)
        n = add_tensor(s, t, n, "rope_freqs.weight", hd / 2, 0);
    for (uint32_t l = 0; l < s->layers; l++) {
        char name[64];
#define L(suffix, ne0, ne1)                                           \
        snprintf(name, sizeof name, "blk.%u.%s", l, suffix);          \
        n = add_tensor(s, t, n, name, ne0, ne1)
        L("attn_norm.weight", s->dim, 0);
        L("attn_q.weight", s->dim, q_dim);
        L("attn_k.weight", s->dim, kv_dim);
        L("attn_v.weight", s->dim, kv_dim);
        L("attn_output.weight", q_dim, s->dim);
        if (s->biases) {
            L("attn_q.bias", q_dim, 0);
            L("attn_k.bias", kv_dim, 0);
            L("attn_v.bias", kv_dim, 0);
        }
        L("ffn_norm.weight", s->dim, 0);
        L("ffn_gate.weight", s->dim, s->ffn);
        L("ffn_up.weight", s->dim, s->ffn);
        L("ffn_down.weight", s->ffn, s->dim);
#undef L
    }

    struct buf kvb = {0};
    struct kvw k = {&kvb, s, 0};
    kv_str(&k, "general.architecture", s->arch);
    kv_u32(&k, "block_count", s->layers);
    kv_u32(&k, "embedding_length", s->dim);
    kv_u32(&k, "attention.head_count", s->heads);
    kv_u32(&k, "attention.head_count_kv", s->kv_heads);
    kv_u32(&k, "feed_forward_length", s->ffn);
    kv_u32(&k, "context_length", 128);
    if (s->key_length)
        kv_u32(&k, "attention.key_length", s->key_length);
    if (s->scaling_type)
        kv_str(&k, "rope.scaling.type", s->scaling_type);
    if (s->scaling_factor != 0.0f)
        kv_f32(&k, "rope.scaling.factor", s->scaling_factor);

    struct buf w = {0};
    put(&w, "GGUF", 4);
    put_le(&w, 3, 4);         /* version */
    put_le(&w, (uint64_t)n, 8);
    put_le(&w, k.n, 8);
    put(&w, kvb.b, kvb.n);
    free(kvb.b);
    uint64_t off = 0, sizes[128];
    for (int i = 0; i < n; i++) {
        put_str(&w, t[i].name);
        put_le(&w, t[i].n_dims, 4);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            put_le(&w, t[i].ne[d], 8);
        put_le(&w, t[i].type, 4);
        put_le(&w, off, 8);
        sizes[i] = ggml_row_size(t[i].type, t[i].ne[0]) * t[i].ne[1];
        off += (sizes[i] + 31) / 32 * 32;
    }
    while (w.n % 32)
        put_le(&w, 0, 1);
    /* data: every element 0.25 for F32 (a valid norm/rope factor), zero
     * bytes otherwise */
    for (int i = 0; i < n; i++) {
        size_t start = w.n;
        for (uint64_t b = 0; b < sizes[i]; b += 4) {
            float f = 0.25f;
            if (t[i].type == GGML_TYPE_F32)
                put(&w, &f, 4);
            else
                put_le(&w, 0, sizes[i] - b >= 4 ? 4 : (int)(sizes[i] - b));
        }
        while ((w.n - start) % 32)
            put_le(&w, 0, 1);
    }
    const char *path = test_write_temp(file, w.b, w.n);
    free(w.b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    return path;
}

/* Loads spec s; expects failure with every needle in the message. */
static void expect_error(const struct spec *s, const char *needle1, const char *needle2)
{
    struct llm_model m;
    struct st_err err = {{0}};
    int rc = model_load(&m, build(s, "bad.gguf"), &err);
    CU_ASSERT_EQUAL(rc, -1);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        printf("\n    message: %s\n    wanted: %s / %s", err.msg, needle1,
               needle2 ? needle2 : "");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle1));
    if (needle2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle2));
    CU_ASSERT_PTR_NULL(m.layers); /* left zeroed */
    model_free(&m);
}

/* ---- built models -------------------------------------------------------------- */

static void test_good_llama(void)
{
    struct spec s = good_llama();
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "good.gguf"), &err), 0);
    const struct llm_config *c = &m.cfg;
    CU_ASSERT_EQUAL(c->arch, LLM_ARCH_LLAMA);
    CU_ASSERT_EQUAL(c->n_layers, 2);
    CU_ASSERT_EQUAL(c->dim, 32);
    CU_ASSERT_EQUAL(c->n_heads, 2);
    CU_ASSERT_EQUAL(c->n_kv_heads, 1);
    CU_ASSERT_EQUAL(c->head_dim, 16);  /* dim / heads */
    CU_ASSERT_EQUAL(c->ffn_dim, 64);
    CU_ASSERT_EQUAL(c->n_vocab, 8);
    CU_ASSERT_EQUAL(c->ctx_train, 128);
    /* the defaults GGUF specifies */
    CU_ASSERT_EQUAL(c->norm_eps, 1e-5f);
    CU_ASSERT_EQUAL(c->rope_theta, 10000.0f);
    CU_ASSERT_EQUAL(c->rope_dim, 16);
    CU_ASSERT_EQUAL(c->rope_style, LLM_ROPE_ADJACENT);
    CU_ASSERT_EQUAL(c->rope_scaling, LLM_ROPE_SCALING_NONE);
    CU_ASSERT_EQUAL(c->rope_freq_scale, 1.0f);
    CU_ASSERT_FALSE(c->has_qkv_bias);
    CU_ASSERT_FALSE(c->tied_output);
    CU_ASSERT_PTR_NOT_EQUAL(m.output, m.tok_embd);
    CU_ASSERT_PTR_NULL(m.rope_freqs);
    CU_ASSERT_PTR_NULL(m.layers[1].bq);
    CU_ASSERT_STRING_EQUAL(m.layers[1].ffn_down->name, "blk.1.ffn_down.weight");
    CU_ASSERT_STRING_EQUAL(llm_arch_name(c->arch), "llama");
    model_free(&m);
    model_free(&m); /* safe twice: zeroed */
}

static void test_good_qwen2_tied(void)
{
    struct spec s = good_llama();
    s.arch = "qwen2";
    s.biases = 1;
    s.tied = 1;
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "qwen.gguf"), &err), 0);
    CU_ASSERT_EQUAL(m.cfg.arch, LLM_ARCH_QWEN2);
    CU_ASSERT_EQUAL(m.cfg.rope_style, LLM_ROPE_NEOX);
    CU_ASSERT_TRUE(m.cfg.has_qkv_bias);
    CU_ASSERT_TRUE(m.cfg.tied_output);
    CU_ASSERT_PTR_EQUAL(m.output, m.tok_embd);
    CU_ASSERT_PTR_NOT_NULL(m.layers[0].bk);
    model_free(&m);
}

static void test_rope_options(void)
{
    struct llm_model m;
    struct st_err err = {{0}};

    struct spec s = good_llama();
    s.scaling_type = "linear";
    s.scaling_factor = 4.0f;
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "lin.gguf"), &err), 0);
    CU_ASSERT_EQUAL(m.cfg.rope_scaling, LLM_ROPE_SCALING_LINEAR);
    CU_ASSERT_EQUAL(m.cfg.rope_freq_scale, 0.25f);
    model_free(&m);

    s.scaling_type = "none"; /* type none: the factor is ignored */
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "none.gguf"), &err), 0);
    CU_ASSERT_EQUAL(m.cfg.rope_freq_scale, 1.0f);
    model_free(&m);

    s = good_llama();
    s.rope_freqs = 1;
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "l3.gguf"), &err), 0);
    CU_ASSERT_EQUAL(m.cfg.rope_scaling, LLM_ROPE_SCALING_LLAMA3);
    CU_ASSERT_PTR_NOT_NULL(m.rope_freqs);
    model_free(&m);

    s = good_llama();
    s.key_length = 8; /* heads narrower than dim / heads */
    CU_ASSERT_EQUAL_FATAL(model_load(&m, build(&s, "kl.gguf"), &err), 0);
    CU_ASSERT_EQUAL(m.cfg.head_dim, 8);
    CU_ASSERT_EQUAL(m.cfg.rope_dim, 8);
    CU_ASSERT_EQUAL(m.layers[0].wq->ne[1], 16);
    model_free(&m);

    s = good_llama();
    s.scaling_type = "yarn";
    expect_error(&s, "llama.rope.scaling.type: found 'yarn'", "none, linear or llama3");
}

static void test_load_errors(void)
{
    struct spec s = good_llama();
    s.arch = "gpt2";
    expect_error(&s, "general.architecture: found 'gpt2'", "expected llama or qwen2");

    s = good_llama();
    s.drop_tensor = "blk.1.ffn_up.weight";
    expect_error(&s, "tensor 'blk.1.ffn_up.weight': found no such tensor",
                 "expected a tensor of shape [32, 64]");

    s = good_llama();
    s.drop_tensor = "token_embd.weight";
    expect_error(&s, "tensor 'token_embd.weight'", "no such tensor");

    s = good_llama();
    s.retype_tensor = "blk.0.attn_q.weight";
    s.retype = GGML_TYPE_IQ4_NL;
    expect_error(&s, "tensor 'blk.0.attn_q.weight' type: found IQ4_NL",
                 "expected a supported type (F32 F16 Q4_0");

    s = good_llama();
    s.reshape_tensor = "blk.0.attn_k.weight";
    s.reshape_ne1 = 32;
    expect_error(&s, "tensor 'blk.0.attn_k.weight' shape: found [32, 32]",
                 "expected [32, 16]");

    s = good_llama();
    s.reshape_tensor = "output.weight";
    s.reshape_ne1 = 9; /* one row more than the vocabulary */
    expect_error(&s, "tensor 'output.weight' shape: found [32, 9]", "expected [32, 8]");

    s = good_llama();
    s.drop_key = "block_count";
    expect_error(&s, "llama.block_count: found no such key", NULL);

    s = good_llama();
    s.drop_key = "context_length";
    expect_error(&s, "llama.context_length", "no such key");

    s = good_llama();
    s.kv_heads = 3; /* 2 heads cannot share 3 kv heads */
    expect_error(&s, "llama.attention.head_count_kv: found 3", "divisor");

    s = good_llama();
    s.arch = "qwen2"; /* qwen2 needs its biases */
    expect_error(&s, "tensor 'blk.0.attn_q.bias': found no such tensor", NULL);

    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL(model_load(&m, "/nonexistent/model.gguf", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/model.gguf"));
    model_free(&m);
}

/* ---- the real test models (../shared/models/README.md) ------------------------- */

static int load_shared(struct llm_model *m, const char *file)
{
    const char *path = test_shared_model(file);
    if (!path && strcmp(file, "stories260K.gguf") == 0)
        path = test_bundled_model();
    if (!path) {
        char what[128];
        snprintf(what, sizeof what, "model/hyperparameters/%s", file);
        test_skip(what, "model not in ../shared/models");
        return -1;
    }
    struct st_err err = {{0}};
    int rc = model_load(m, path, &err);
    if (rc)
        printf("\n    %s", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

static void test_stories_hparams(void)
{
    const char *files[] = {"stories260K.gguf", "stories260K-q8_0.gguf", "stories260K-q4_0.gguf",
                           "stories260K-f16.gguf", "stories260K-bf16.gguf"};
    for (int i = 0; i < 5; i++) {
        struct llm_model m;
        if (load_shared(&m, files[i]))
            continue;
        const struct llm_config *c = &m.cfg;
        CU_ASSERT_EQUAL(c->arch, LLM_ARCH_LLAMA);
        CU_ASSERT_EQUAL(c->dim, 64);
        CU_ASSERT_EQUAL(c->n_layers, 5);
        CU_ASSERT_EQUAL(c->n_heads, 8);
        CU_ASSERT_EQUAL(c->n_kv_heads, 4);
        CU_ASSERT_EQUAL(c->head_dim, 8);
        CU_ASSERT_EQUAL(c->ffn_dim, 172);
        CU_ASSERT_EQUAL(c->n_vocab, 512);
        CU_ASSERT_EQUAL(c->ctx_train, 2048);
        CU_ASSERT_EQUAL(c->rope_style, LLM_ROPE_ADJACENT);
        CU_ASSERT_FALSE(c->tied_output);
        CU_ASSERT_FALSE(c->has_qkv_bias);
        model_free(&m);
    }
}

static void test_zoo_hparams(void)
{
    const char *files[] = {"zoo-llama-bpe.gguf", "zoo-qwen2-bpe.gguf"};
    for (int i = 0; i < 2; i++) {
        struct llm_model m;
        if (load_shared(&m, files[i]))
            continue;
        const struct llm_config *c = &m.cfg;
        int qwen = i == 1;
        CU_ASSERT_EQUAL(c->arch, qwen ? LLM_ARCH_QWEN2 : LLM_ARCH_LLAMA);
        CU_ASSERT_EQUAL(c->dim, 256);
        CU_ASSERT_EQUAL(c->n_layers, 2);
        CU_ASSERT_EQUAL(c->n_heads, 4);
        CU_ASSERT_EQUAL(c->n_kv_heads, 2);
        CU_ASSERT_EQUAL(c->head_dim, 64);
        CU_ASSERT_EQUAL(c->ffn_dim, 512);
        CU_ASSERT_EQUAL(c->n_vocab, 49152);
        CU_ASSERT_EQUAL(c->rope_style, qwen ? LLM_ROPE_NEOX : LLM_ROPE_ADJACENT);
        CU_ASSERT_EQUAL(c->tied_output, qwen);
        CU_ASSERT_EQUAL(c->has_qkv_bias, qwen);
        CU_ASSERT_EQUAL(m.output == m.tok_embd, qwen);
        CU_ASSERT_EQUAL(c->rope_theta, qwen ? 1e6f : 1e5f);
        model_free(&m);
    }
}

void suite_model(void)
{
    CU_pSuite s = CU_add_suite("model", NULL, NULL);
    CU_add_test(s, "a good llama file", test_good_llama);
    CU_add_test(s, "qwen2: biases, tied output, NEOX", test_good_qwen2_tied);
    CU_add_test(s, "rope scaling, llama3 factors, key_length", test_rope_options);
    CU_add_test(s, "load errors name the key or tensor", test_load_errors);
    CU_add_test(s, "stories260K hyperparameters", test_stories_hparams);
    CU_add_test(s, "zoo hyperparameters", test_zoo_hparams);
}
