/* test_synth.c - synthetic models: the files strata-synth writes are read
 * back with the project's GGUF reader and checked against values computed
 * here from the formats and from llama.cpp's Q4_K_M rule:
 *   - tensor names, shapes, types per mix and byte sizes (bytes per block
 *     from the GGML block definitions, written out below);
 *   - the dry-run size equals the written file's size;
 *   - the same seed gives the same bytes for any thread count, another
 *     seed other bytes;
 *   - every fp16 scale of every block is finite, and dequantized weights
 *     have the magnitudes synth.h promises;
 *   - bad options give one line naming the option;
 *   - the CPU engine runs a synthetic model with finite logits of sane RMS,
 *     and the tokenizer loads its vocabulary. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dequant.h"
#include "engine.h"
#include "gguf.h"
#include "half.h"
#include "model.h"
#include "quant.h"
#include "synth.h"
#include "tokenizer.h"
#include "util.h"

/* ---- the formats, from the GGML block definitions --------------------------- */

struct fmt {
    uint32_t type;
    uint32_t blck;     /* elements per block */
    uint32_t bytes;    /* bytes per block */
    int d_at, dmin_at; /* byte offset of the fp16 d / dmin; -1: none */
};

static const struct fmt fmts[] = {
    {GGML_TYPE_F32, 1, 4, -1, -1},
    {GGML_TYPE_F16, 1, 2, -1, -1},
    {GGML_TYPE_Q4_0, 32, 18, 0, -1},   /* d, 16 nibble bytes */
    {GGML_TYPE_Q8_0, 32, 34, 0, -1},   /* d, 32 int8 */
    {GGML_TYPE_Q2_K, 256, 84, 80, 82}, /* scales 16, qs 64, d, dmin */
    {GGML_TYPE_Q3_K, 256, 110, 108, -1}, /* hmask 32, qs 64, scales 12, d */
    {GGML_TYPE_Q4_K, 256, 144, 0, 2},  /* d, dmin, scales 12, qs 128 */
    {GGML_TYPE_Q5_K, 256, 176, 0, 2},  /* d, dmin, scales 12, qh 32, qs 128 */
    {GGML_TYPE_Q6_K, 256, 210, 208, -1}, /* ql 128, qh 64, scales 16, d */
};

static const struct fmt *fmt_of(uint32_t type)
{
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        if (fmts[i].type == type)
            return &fmts[i];
    return NULL;
}

static uint64_t bytes_of(uint32_t type, uint64_t ne0, uint64_t ne1)
{
    const struct fmt *f = fmt_of(type);
    return f ? ne0 * ne1 / f->blck * f->bytes : 0;
}

/* ---- helpers ------------------------------------------------------------------- */

/* A tiny llama: 256 wide, 4 heads of 64, 2 kv heads, ffn 512. */
static struct synth_config tiny(uint32_t layers, enum synth_mix mix, uint64_t seed)
{
    struct synth_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "tiny");
    c.arch = SYNTH_ARCH_LLAMA;
    c.n_layers = layers;
    c.dim = 256;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 512;
    c.n_vocab = 512;
    c.n_ctx = 256;
    c.rope_theta = 10000.0f;
    c.norm_eps = 1e-5f;
    c.mix = mix;
    c.seed = seed;
    return c;
}

/* A path in the test temp dir (the dir is created by test_write_temp). */
static const char *temp_path(const char *name, char *buf, size_t cap)
{
    const char *p = test_write_temp(name, "", 0);
    if (!p)
        return NULL;
    snprintf(buf, cap, "%s", p);
    return buf;
}

/* Builds and writes c to a temp file; returns the dry-run size in *size. */
static const char *write_model(const struct synth_config *c, const char *name,
                               int threads, char *buf, size_t cap, uint64_t *size)
{
    struct synth_model m;
    struct st_err err = {""};
    if (synth_build(&m, c, &err)) {
        fprintf(stderr, "synth_build: %s\n", err.msg);
        return NULL;
    }
    const char *path = temp_path(name, buf, cap);
    struct synth_write_opts o = {threads, NULL, NULL};
    int rc = path ? synth_write(&m, path, &o, &err) : -1;
    if (rc)
        fprintf(stderr, "synth_write: %s\n", err.msg);
    if (size)
        *size = m.file_size;
    synth_free(&m);
    return rc ? NULL : path;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* llama.cpp's use_more_bits (llama-quant.cpp). */
static int more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Expected type of the q4_k_m mix for a tensor name, from the rule: F32
 * vectors, Q6_K output head, Q6_K attn_v / ffn_down on use_more_bits
 * layers (Q5_K otherwise on an 80-layer model's attn_v), Q4_K else. */
static uint32_t q4_k_m_type(const char *name, int n_layers, int tied)
{
    int l = -1;
    char part[64] = "";
    if (sscanf(name, "blk.%d.%63s", &l, part) != 2)
        snprintf(part, sizeof part, "%s", name);
    if (strstr(part, "norm") || strstr(part, ".bias") || !strcmp(part, "rope_freqs.weight"))
        return GGML_TYPE_F32;
    if (!strcmp(part, "output.weight") || (tied && !strcmp(part, "token_embd.weight")))
        return GGML_TYPE_Q6_K;
    if (!strcmp(part, "attn_v.weight"))
        return more_bits(l, n_layers) ? GGML_TYPE_Q6_K
               : n_layers == 80       ? GGML_TYPE_Q5_K
                                      : GGML_TYPE_Q4_K;
    if (!strcmp(part, "ffn_down.weight"))
        return more_bits(l, n_layers) ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
    return GGML_TYPE_Q4_K;
}

/* The tensors of a llama config in strata-synth's order: name, ne0, ne1. */
struct want {
    char name[48];
    uint64_t ne0, ne1;
};

static int want_tensors(const struct synth_config *c, struct want *w)
{
    int n = 0;
    uint64_t d = c->dim, kv = (uint64_t)c->dim / c->n_heads * c->n_kv_heads, f = c->ffn_dim;
#define W(nm, a, b) (snprintf(w[n].name, sizeof w[n].name, "%s", nm), w[n].ne0 = a, w[n].ne1 = b, n++)
    if (c->rope_factor > 0)
        W("rope_freqs.weight", d / c->n_heads / 2, 1);
    W("token_embd.weight", d, c->n_vocab);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        char nm[48];
#define L(s, a, b) (snprintf(nm, sizeof nm, "blk.%u.%s", l, s), W(nm, a, b))
        L("attn_norm.weight", d, 1);
        L("attn_q.weight", d, d);
        if (c->qkv_bias)
            L("attn_q.bias", d, 1);
        L("attn_k.weight", d, kv);
        if (c->qkv_bias)
            L("attn_k.bias", kv, 1);
        L("attn_v.weight", d, kv);
        if (c->qkv_bias)
            L("attn_v.bias", kv, 1);
        L("attn_output.weight", d, d);
        L("ffn_norm.weight", d, 1);
        L("ffn_gate.weight", d, f);
        L("ffn_up.weight", d, f);
        L("ffn_down.weight", f, d);
#undef L
    }
    W("output_norm.weight", d, 1);
    if (!c->tied_output)
        W("output.weight", d, c->n_vocab);
#undef W
    return n;
}

/* Checks the file's tensor table against want_tensors and type_of. */
static void check_table(const struct gguf_file *f, const struct synth_config *c,
                        uint32_t (*type_of)(const char *, const struct synth_config *))
{
    static struct want w[4 + 12 * 128];
    int n = want_tensors(c, w);
    CU_ASSERT_EQUAL_FATAL(f->n_tensors, (uint64_t)n);
    uint64_t data = 0;
    for (int i = 0; i < n; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        CU_ASSERT_STRING_EQUAL(t->name, w[i].name);
        CU_ASSERT_EQUAL(t->ne[0], w[i].ne0);
        CU_ASSERT_EQUAL(t->ne[1], w[i].ne1);
        uint32_t ty = type_of(w[i].name, c);
        if (t->type != ty)
            fprintf(stderr, "\n%s: type %s, expected %s\n", t->name,
                    ggml_type_name(t->type), ggml_type_name(ty));
        CU_ASSERT_EQUAL(t->type, ty);
        CU_ASSERT_EQUAL(t->n_bytes, bytes_of(ty, w[i].ne0, w[i].ne1));
        CU_ASSERT_EQUAL(t->offset % 32, 0);
        CU_ASSERT_EQUAL(t->offset, data);
        data = (t->offset + t->n_bytes + 31) / 32 * 32;
    }
    CU_ASSERT_EQUAL(f->data_offset + data, f->size);
}

static uint32_t type_q4_k_m(const char *name, const struct synth_config *c)
{
    return q4_k_m_type(name, (int)c->n_layers, c->tied_output);
}

/* ---- tests -------------------------------------------------------------------------- */

/* A tiny q4_k_m model is read back with the expected table, metadata and
 * size; the dry-run size is the file size. */
static void test_tiny_q4_k_m(void)
{
    struct synth_config c = tiny(2, SYNTH_MIX_Q4_K_M, 1);
    char buf[1024];
    uint64_t planned = 0;
    const char *path = write_model(&c, "tiny-q4km.gguf", 2, buf, sizeof buf, &planned);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL(file_size(path), planned);

    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    check_table(&f, &c, type_q4_k_m);

    uint32_t u = 0;
    struct gguf_str s;
    char str[64];
    CU_ASSERT_EQUAL(gguf_get_str(&f, "general.architecture", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(s, str, sizeof str), "llama");
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "general.file_type", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 15); /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.block_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 2);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.embedding_length", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 256);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.feed_forward_length", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 512);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.attention.head_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 4);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.attention.head_count_kv", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 2);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.rope.dimension_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 64);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.context_length", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 256);
    float fl = 0;
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &fl, &err), 0);
    CU_ASSERT_EQUAL(fl, 1e-5f);
    const struct gguf_kv *toks = gguf_find_kv(&f, "tokenizer.ggml.tokens");
    CU_ASSERT_PTR_NOT_NULL_FATAL(toks);
    CU_ASSERT_EQUAL(toks->arr_n, 512);
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(gguf_arr_str(toks, 1), str, sizeof str), "<s>");
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(gguf_arr_str(toks, 3 + 10), str, sizeof str), "<0x0A>");
    const struct gguf_kv *types = gguf_find_kv(&f, "tokenizer.ggml.token_type");
    CU_ASSERT_PTR_NOT_NULL_FATAL(types);
    CU_ASSERT_EQUAL(gguf_arr_i32(types, 0), 2);   /* unknown */
    CU_ASSERT_EQUAL(gguf_arr_i32(types, 2), 3);   /* control */
    CU_ASSERT_EQUAL(gguf_arr_i32(types, 200), 6); /* byte */
    CU_ASSERT_EQUAL(gguf_arr_i32(types, 300), 1); /* normal */
    /* every token spelled differently (tokenizers map text -> id) */
    int dup = 0;
    for (uint64_t i = 0; i < toks->arr_n && !dup; i++)
        for (uint64_t j = i + 1; j < toks->arr_n; j++) {
            struct gguf_str a = gguf_arr_str(toks, i), b = gguf_arr_str(toks, j);
            if (a.len == b.len && !memcmp(a.ptr, b.ptr, a.len)) {
                dup = 1;
                break;
            }
        }
    CU_ASSERT_FALSE(dup);
    gguf_close(&f);
    remove(path);
}

/* The Q4_K_M layer choice on 32 layers (the 8B layout, small widths), the
 * 80-layer attn_v rule, and the real 8B preset's tensor bytes. */
static void test_q4_k_m_rule(void)
{
    struct synth_config c = tiny(32, SYNTH_MIX_Q4_K_M, 7);
    char buf[1024];
    const char *path = write_model(&c, "l32-q4km.gguf", 0, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    check_table(&f, &c, type_q4_k_m);
    /* the rule's layers for n = 32, spelled out: 0..3, 28..31, and 4 + 3k + 2 */
    static const int q6[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int l = 0, k = 0; l < 32; l++) {
        char nm[48];
        int is_q6 = k < 16 && q6[k] == l;
        k += is_q6;
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l);
        const struct gguf_tensor *t = gguf_find_tensor(&f, nm);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->type, is_q6 ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
        t = gguf_find_tensor(&f, nm);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->type, is_q6 ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K);
    }
    gguf_close(&f);
    remove(path);

    /* presets: planned only (the 8B file is 4.9 GB) */
    struct synth_model m;
    CU_ASSERT_EQUAL_FATAL(synth_preset(&c, "llama-3.1-8b", &err), 0);
    CU_ASSERT_EQUAL_FATAL(synth_build(&m, &c, &err), 0);
    static struct want w[4 + 12 * 128];
    int n = want_tensors(&c, w);
    CU_ASSERT_EQUAL_FATAL(m.n_tensors, (uint32_t)n);
    CU_ASSERT_EQUAL(n, 2 + 32 * 9 + 2); /* rope_freqs, embd, layers, norm, output */
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        CU_ASSERT_STRING_EQUAL(m.t[i].name, w[i].name);
        CU_ASSERT_EQUAL(m.t[i].type, q4_k_m_type(w[i].name, 32, 0));
        CU_ASSERT_EQUAL(m.t[i].n_bytes, bytes_of(m.t[i].type, w[i].ne0, w[i].ne1));
        total += bytes_of(m.t[i].type, w[i].ne0, w[i].ne1);
    }
    CU_ASSERT_EQUAL(m.t[1].n_bytes, 4096ull * 128256 / 256 * 144); /* token_embd Q4_K */
    CU_ASSERT_EQUAL(m.t[0].ne[0], 64);                              /* head_dim / 2 */
    CU_ASSERT_EQUAL(m.data_bytes, total);
    synth_free(&m);

    CU_ASSERT_EQUAL_FATAL(synth_preset(&c, "llama-3.1-70b", &err), 0);
    CU_ASSERT_EQUAL_FATAL(synth_build(&m, &c, &err), 0);
    n = want_tensors(&c, w);
    CU_ASSERT_EQUAL_FATAL(m.n_tensors, (uint32_t)n);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(m.t[i].type, q4_k_m_type(w[i].name, 80, 0));
    synth_free(&m);

    /* tied (llama-3.2-1b): no output.weight, the embedding is the head */
    CU_ASSERT_EQUAL_FATAL(synth_preset(&c, "llama-3.2-1b", &err), 0);
    CU_ASSERT_EQUAL_FATAL(synth_build(&m, &c, &err), 0);
    CU_ASSERT_STRING_EQUAL(m.t[1].name, "token_embd.weight");
    CU_ASSERT_EQUAL(m.t[1].type, GGML_TYPE_Q6_K);
    CU_ASSERT_STRING_EQUAL(m.t[m.n_tensors - 1].name, "output_norm.weight");
    synth_free(&m);
}

/* Other mixes: every matrix of the mix's type but the head and the bumps
 * llama-quantize makes (from llama-quant.cpp, for a 2-layer model with
 * 2 kv groups: n_gqa = 2). */
static uint32_t mix_type(const char *name, const struct synth_config *c)
{
    if (strstr(name, "norm") || strstr(name, ".bias") || strstr(name, "rope_freqs"))
        return GGML_TYPE_F32;
    int head = !strcmp(name, "output.weight");
    switch (c->mix) {
    case SYNTH_MIX_F16: return GGML_TYPE_F16;
    case SYNTH_MIX_Q8_0: return GGML_TYPE_Q8_0;
    case SYNTH_MIX_Q6_K: return GGML_TYPE_Q6_K;
    case SYNTH_MIX_Q4_0: return head ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_0;
    case SYNTH_MIX_Q2_K:
        if (head) return GGML_TYPE_Q6_K;
        if (strstr(name, "attn_v.")) return GGML_TYPE_Q3_K; /* n_gqa < 4 */
        if (strstr(name, "ffn_down") || strstr(name, "attn_output")) return GGML_TYPE_Q3_K;
        return GGML_TYPE_Q2_K;
    case SYNTH_MIX_Q3_K_M:
        if (head) return GGML_TYPE_Q6_K;
        if (strstr(name, "attn_v.")) return GGML_TYPE_Q5_K; /* first 2 layers */
        if (strstr(name, "attn_output") || strstr(name, "ffn_down")) return GGML_TYPE_Q4_K;
        return GGML_TYPE_Q3_K;
    case SYNTH_MIX_Q5_K_M:
        if (head) return GGML_TYPE_Q6_K;
        if (strstr(name, "attn_v.") || strstr(name, "ffn_down")) {
            int l = -1;
            sscanf(name, "blk.%d.", &l);
            return more_bits(l, (int)c->n_layers) ? GGML_TYPE_Q6_K : GGML_TYPE_Q5_K;
        }
        return GGML_TYPE_Q5_K;
    default: return type_q4_k_m(name, c);
    }
}

/* Walks every block of every tensor: fp16 scales finite (and not zero);
 * dequantized, every matrix has mean ~0 and std ~1/sqrt(cols), an untied
 * embedding std ~1, norms exactly 1. */
static void check_blocks(const struct gguf_file *f, const struct synth_config *c)
{
    int bad_scales = 0, bad_std = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        const struct fmt *fm = fmt_of(t->type);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fm);
        const uint8_t *p = t->data;
        if (fm->d_at >= 0)
            for (uint64_t b = 0; b < t->n_elems / fm->blck; b++) {
                const uint8_t *blk = p + b * fm->bytes;
                uint16_t d = (uint16_t)(blk[fm->d_at] | blk[fm->d_at + 1] << 8);
                float v = f16_to_f32(d);
                int ok = isfinite(v) && v != 0;
                if (fm->dmin_at >= 0) {
                    uint16_t dm = (uint16_t)(blk[fm->dmin_at] | blk[fm->dmin_at + 1] << 8);
                    ok = ok && isfinite(f16_to_f32(dm));
                }
                bad_scales += !ok;
            }
        /* magnitudes */
        float *row = malloc(t->ne[0] * sizeof *row);
        double s = 0, s2 = 0;
        uint64_t rows = t->n_elems / t->ne[0];
        size_t rb = ggml_row_size(t->type, t->ne[0]);
        for (uint64_t r = 0; r < rows; r++) {
            dequant_row(t->type, p + r * rb, row, t->ne[0]);
            for (uint64_t k = 0; k < t->ne[0]; k++) {
                s += row[k];
                s2 += (double)row[k] * row[k];
            }
        }
        free(row);
        double mean = s / (double)t->n_elems;
        double sd = sqrt(s2 / (double)t->n_elems - mean * mean);
        double want;
        if (strstr(t->name, "norm"))
            want = 0; /* all ones */
        else if (strstr(t->name, ".bias"))
            want = 0.1;
        else if (!strcmp(t->name, "token_embd.weight"))
            want = c->tied_output ? 1 / sqrt((double)c->dim) : 1.0;
        else if (strstr(t->name, "rope_freqs"))
            continue;
        else
            want = 1 / sqrt((double)t->ne[0]);
        /* 5 sigma of the sample mean and std of n elements (10% at least) */
        double n = (double)t->n_elems;
        double sd_tol = fmax(0.1, 5 / sqrt(2 * n));
        int ok = want == 0 ? (mean == 1.0 && sd == 0)
                           : fabs(sd / want - 1) < sd_tol && fabs(mean) < 5 * want / sqrt(n);
        if (!ok) {
            fprintf(stderr, "\n%s (%s): mean %g std %g, expected std %g\n", t->name,
                    ggml_type_name(t->type), mean, sd, want);
            bad_std++;
        }
    }
    CU_ASSERT_EQUAL(bad_scales, 0);
    CU_ASSERT_EQUAL(bad_std, 0);
}

static void test_mixes(void)
{
    for (int mix = 0; mix < SYNTH_MIX_COUNT; mix++) {
        struct synth_config c = tiny(2, (enum synth_mix)mix, 3);
        char buf[1024], name[64];
        uint64_t planned = 0;
        snprintf(name, sizeof name, "mix-%s.gguf", synth_mix_name(c.mix));
        const char *path = write_model(&c, name, 1, buf, sizeof buf, &planned);
        CU_ASSERT_PTR_NOT_NULL_FATAL(path);
        CU_ASSERT_EQUAL(file_size(path), planned);
        struct gguf_file f;
        struct st_err err = {""};
        CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
        check_table(&f, &c, mix_type);
        check_blocks(&f, &c);
        gguf_close(&f);
        remove(path);
    }
}

/* A tied 4-layer q4_k_m model block by block (the head is token_embd). */
static void test_blocks_q4_k_m(void)
{
    struct synth_config c = tiny(4, SYNTH_MIX_Q4_K_M, 11);
    c.tied_output = true;
    char buf[1024];
    const char *path = write_model(&c, "tied-q4km.gguf", 2, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    check_table(&f, &c, type_q4_k_m);
    check_blocks(&f, &c);
    gguf_close(&f);
    remove(path);
}

/* Same seed: same bytes, whatever the thread count; another seed: the
 * header is the same, the data not; no two tensors repeat each other. */
static void test_deterministic(void)
{
    struct synth_config c = tiny(2, SYNTH_MIX_Q4_K_M, 42);
    char b1[1024], b2[1024], b3[1024];
    const char *p1 = write_model(&c, "det1.gguf", 1, b1, sizeof b1, NULL);
    const char *p2 = write_model(&c, "det2.gguf", 3, b2, sizeof b2, NULL);
    c.seed = 43;
    const char *p3 = write_model(&c, "det3.gguf", 2, b3, sizeof b3, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p3);
    size_t n1, n2, n3;
    uint8_t *a = read_all(p1, &n1), *b = read_all(p2, &n2), *d = read_all(p3, &n3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(n1, n2);
    CU_ASSERT_EQUAL(n1, n3);
    CU_ASSERT(n1 == n2 && memcmp(a, b, n1) == 0);

    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, p1, &err), 0);
    uint64_t off = f.data_offset;
    CU_ASSERT(memcmp(a, d, off) == 0);            /* header: seed not in it */
    /* every tensor with random content differs under the other seed */
    int same = 0;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const struct gguf_tensor *t = &f.tensors[i];
        if (strstr(t->name, "norm"))
            continue;
        same += memcmp(a + off + t->offset, d + off + t->offset, t->n_bytes) == 0;
    }
    CU_ASSERT_EQUAL(same, 0);
    const struct gguf_tensor *q0 = gguf_find_tensor(&f, "blk.0.attn_q.weight");
    const struct gguf_tensor *q1 = gguf_find_tensor(&f, "blk.1.attn_q.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q1);
    CU_ASSERT(memcmp(q0->data, q1->data, q0->n_bytes) != 0);
    gguf_close(&f);
    free(a);
    free(b);
    free(d);
    remove(p1);
    remove(p2);
    remove(p3);
}

/* qwen2: Q/K/V biases, no rope.dimension_count; the preset's own values. */
static void test_qwen2(void)
{
    struct synth_config c;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(synth_preset(&c, "qwen2.5-7b", &err), 0);
    CU_ASSERT_EQUAL(c.arch, SYNTH_ARCH_QWEN2);
    CU_ASSERT_EQUAL(c.n_layers, 28);
    CU_ASSERT_EQUAL(c.dim, 3584);
    CU_ASSERT_EQUAL(c.n_vocab, 152064);
    CU_ASSERT_EQUAL(c.norm_eps, 1e-6f);
    /* the same architecture at small widths */
    c.n_layers = 2;
    c.dim = 256;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 512;
    c.n_vocab = 600;
    c.mix = SYNTH_MIX_Q8_0;
    char buf[1024];
    const char *path = write_model(&c, "qwen2.gguf", 2, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    struct gguf_file f;
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    check_table(&f, &c, mix_type);
    check_blocks(&f, &c);
    struct gguf_str s;
    char str[32];
    CU_ASSERT_EQUAL(gguf_get_str(&f, "general.architecture", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(s, str, sizeof str), "qwen2");
    uint32_t u = 0;
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "qwen2.block_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 2);
    CU_ASSERT_PTR_NULL(gguf_find_kv(&f, "qwen2.rope.dimension_count"));
    CU_ASSERT_PTR_NOT_NULL(gguf_find_tensor(&f, "blk.1.attn_k.bias"));
    gguf_close(&f);
    remove(path);
}

/* rope_freqs.weight: llama3 divisors as the converter computes them, for
 * the 8B's head size 128 (computed here from the published formula). */
static void test_rope_freqs(void)
{
    struct synth_config c;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(synth_preset(&c, "llama-3.1-8b", &err), 0);
    c.n_layers = 1;
    c.dim = 512;   /* 4 heads of 128 */
    c.n_heads = 4;
    c.n_kv_heads = 4;
    c.ffn_dim = 256;
    c.n_vocab = 300;
    char buf[1024];
    const char *path = write_model(&c, "rope.gguf", 1, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    struct gguf_file f;
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    const struct gguf_tensor *t = gguf_find_tensor(&f, "rope_freqs.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL_FATAL(t->ne[0], 64);
    CU_ASSERT_EQUAL(t->type, GGML_TYPE_F32);
    const float *v = t->data;
    int bad = 0;
    for (int i = 0; i < 64; i++) {
        double wavelen = 2 * M_PI * pow(500000.0, 2.0 * i / 128);
        double want;
        if (wavelen < 8192 / 4.0)
            want = 1;
        else if (wavelen > 8192 / 1.0)
            want = 8;
        else {
            double sm = (8192 / wavelen - 1) / (4 - 1);
            want = 1 / ((1 - sm) / 8 + sm);
        }
        bad += fabs(v[i] - want) > 1e-5 * want;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(v[0], 1.0f);
    CU_ASSERT_EQUAL(v[63], 8.0f);
    gguf_close(&f);
    remove(path);
}

/* One line per bad option, naming it. */
static void expect_arg_error(const char *line, const char *field)
{
    char copy[512], *argv[40];
    int argc = 0;
    snprintf(copy, sizeof copy, "strata-synth %s", line);
    for (char *tok = strtok(copy, " "); tok && argc < 40; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    struct synth_args a;
    struct st_err err = {""};
    int rc = synth_args_parse(&a, argc, argv, &err);
    CU_ASSERT_EQUAL(rc, -1);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "strata-synth: %s: found ", field);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "\n'%s' gave '%s', expected '%s...'\n", line, err.msg, prefix);
    CU_ASSERT_EQUAL(strncmp(err.msg, prefix, strlen(prefix)), 0);
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
}

static void test_options(void)
{
    expect_arg_error("--preset llama-9b --type q4_k_m -o x", "--preset");
    expect_arg_error("--preset llama-3.1-8b --type q4_k_x -o x", "--type");
    expect_arg_error("--layers 2 --dim 250 --heads 4 --ffn 512 --vocab 512 -o x", "--dim");
    expect_arg_error("--layers 2 --dim 256 --heads 4 --ffn 500 --vocab 512 -o x", "--ffn");
    expect_arg_error("--layers 2 --dim 256 --heads 4 --kv-heads 3 --ffn 512 --vocab 512 -o x",
                     "--kv-heads");
    expect_arg_error("--preset llama-3.1-8b --ffn 14000 --type q4_0 -o x", "--ffn");
    expect_arg_error("--preset llama-3.1-8b --dim 4000 --heads 40 -o x", "--dim");
    expect_arg_error("--layers 2 --dim 256 --heads 4 --ffn 512 -o x", "--vocab");
    expect_arg_error("--preset llama-3.1-8b --vocab 100 -o x", "--vocab");
    expect_arg_error("--preset llama-3.1-8b --layers x -o x", "--layers");
    expect_arg_error("--preset llama-3.1-8b", "-o");
    expect_arg_error("--preset llama-3.1-8b --arch gpt -o x", "--arch");
    expect_arg_error("--preset llama-3.1-8b --frobnicate -o x", "option");

    /* good lines: the preset's values with the overrides on top, in any order */
    char *argv[] = {"strata-synth", "--dim", "1024", "--preset", "qwen2.5-32b", "--heads", "8",
                    "--type", "q6_k", "--dry-run", "--layers", "3", "--seed", "9"};
    struct synth_args a;
    struct st_err err = {""};
    CU_ASSERT_EQUAL(synth_args_parse(&a, 14, argv, &err), 0);
    CU_ASSERT_EQUAL(a.cfg.dim, 1024);
    CU_ASSERT_EQUAL(a.cfg.n_layers, 3);
    CU_ASSERT_EQUAL(a.cfg.n_heads, 8);
    CU_ASSERT_EQUAL(a.cfg.n_kv_heads, 8);  /* the preset's */
    CU_ASSERT_EQUAL(a.cfg.ffn_dim, 27648); /* the preset's */
    CU_ASSERT_EQUAL(a.cfg.mix, SYNTH_MIX_Q6_K);
    CU_ASSERT_EQUAL(a.cfg.seed, 9);
    CU_ASSERT_TRUE(a.dry_run);
    CU_ASSERT_TRUE(a.cfg.qkv_bias);
}

/* The engine runs synthetic models through all layers: finite logits of
 * std ~1 (output head std 1/sqrt(dim) on a normed state); the tokenizer
 * loads the vocabulary and spells text with its pieces. */
static void run_engine(const char *path, int n_tokens)
{
    struct llm_model m;
    struct st_err err = {""};
    if (model_load(&m, path, &err)) {
        fprintf(stderr, "\nmodel_load: %s\n", err.msg);
        CU_FAIL_FATAL("model_load");
    }
    struct engine_opts o = {64, 1};
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    int bad = 0;
    for (int pos = 0; pos < n_tokens; pos++) {
        const float *lg = engine_forward(e, (int32_t)(1 + pos * 37 % (m.cfg.n_vocab - 1)),
                                         (uint32_t)pos, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lg);
        double s2 = 0;
        int finite = 1;
        for (uint32_t i = 0; i < m.cfg.n_vocab; i++) {
            finite &= isfinite(lg[i]);
            s2 += (double)lg[i] * lg[i];
        }
        double rms = sqrt(s2 / m.cfg.n_vocab);
        if (!finite || rms < 0.3 || rms > 3) {
            fprintf(stderr, "\n%s pos %d: logits rms %g%s\n", path, pos, rms,
                    finite ? "" : " (not finite)");
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    engine_free(e);
    model_free(&m);
}

static void test_engine(void)
{
    char buf[1024];
    struct synth_config c = tiny(32, SYNTH_MIX_Q4_K_M, 5);
    const char *path = write_model(&c, "engine-l32.gguf", 0, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    run_engine(path, 6);

    /* the tokenizer section */
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    struct tokenizer *t = tok_load(&f, &err);
    if (!t)
        fprintf(stderr, "\ntok_load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    int32_t ids[64];
    const char *text = "hello world";
    int n = tok_encode(t, text, strlen(text), false, false, ids, 64);
    CU_ASSERT(n > 0);
    char out[128] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        CU_ASSERT(ids[i] >= 259); /* pieces, not <unk> or byte fallback */
        size_t pl;
        const char *p = tok_piece(t, ids[i], false, &pl);
        if (len + pl < sizeof out) {
            memcpy(out + len, p, pl);
            len += pl;
        }
    }
    out[len] = 0;
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "hello world"));
    tok_free(t);
    gguf_close(&f);
    remove(path);

    /* qwen2 with biases and a tied head, q4_0 */
    c = tiny(3, SYNTH_MIX_Q4_0, 6);
    c.arch = SYNTH_ARCH_QWEN2;
    c.qkv_bias = true;
    c.tied_output = true;
    path = write_model(&c, "engine-qwen2.gguf", 0, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    run_engine(path, 4);
    remove(path);

    /* llama3 rope scaling (rope_freqs.weight), f16 */
    struct synth_config p;
    CU_ASSERT_EQUAL_FATAL(synth_preset(&p, "llama-3.2-1b", &err), 0);
    c = tiny(2, SYNTH_MIX_F16, 8);
    c.rope_factor = p.rope_factor;
    c.rope_low = p.rope_low;
    c.rope_high = p.rope_high;
    c.rope_orig_ctx = p.rope_orig_ctx;
    c.rope_theta = p.rope_theta;
    path = write_model(&c, "engine-f16.gguf", 0, buf, sizeof buf, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    run_engine(path, 4);
    remove(path);
}

void suite_synth(void)
{
    CU_pSuite s = CU_add_suite("synth", NULL, NULL);
    CU_add_test(s, "tiny q4_k_m file read back", test_tiny_q4_k_m);
    CU_add_test(s, "q4_k_m rule (32 and 80 layers, tied)", test_q4_k_m_rule);
    CU_add_test(s, "every mix: table, scales, magnitudes", test_mixes);
    CU_add_test(s, "tied q4_k_m blocks", test_blocks_q4_k_m);
    CU_add_test(s, "deterministic per seed and threads", test_deterministic);
    CU_add_test(s, "qwen2 preset shape", test_qwen2);
    CU_add_test(s, "llama3 rope_freqs", test_rope_freqs);
    CU_add_test(s, "option errors", test_options);
    CU_add_test(s, "engine runs a synthetic model", test_engine);
}
