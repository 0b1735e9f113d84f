/* synth.c - synthetic models of real shapes (see synth.h).
 *
 * Sections: presets and mixes; the mix rule (llama-quantize's choices);
 * command-line parsing; the tensor table and header; the block generators;
 * the writer pipeline (generator threads -> ordered writes). */
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "half.h"
#include "quant.h"

#define SYNTH_FILE "strata-synth" /* the "file" of every option error */
#define SYNTH_CHUNK (8u << 20)    /* bytes generated per job, written at once */
#define SYNTH_MAX_THREADS 8
#define SYNTH_BIAS_STD 0.1f       /* q/k/v biases: small against RMS-1 activations */
#define SYNTH_N_SPECIAL 3         /* <unk> <s> </s> */
#define SYNTH_MIN_VOCAB (SYNTH_N_SPECIAL + 256)

/* ---- presets ------------------------------------------------------------- */

/* The published configs (config.json of each model; instruct variants for
 * Qwen2.5, whose rms_norm_eps is 1e-6 and context 32768). */
struct synth_preset_def {
    const char *id;
    const char *name;
    enum synth_arch arch;
    uint32_t layers, dim, heads, kv_heads, ffn, vocab, ctx;
    float theta, eps;
    float rope_factor; /* llama3 scaling (low 1, high 4, orig 8192); 0 none */
    bool tied;
};

static const struct synth_preset_def presets[] = {
    {"llama-3.1-8b", "Llama 3.1 8B", SYNTH_ARCH_LLAMA,
     32, 4096, 32, 8, 14336, 128256, 131072, 500000.0f, 1e-5f, 8.0f, false},
    {"llama-3.1-70b", "Llama 3.1 70B", SYNTH_ARCH_LLAMA,
     80, 8192, 64, 8, 28672, 128256, 131072, 500000.0f, 1e-5f, 8.0f, false},
    {"llama-3.2-1b", "Llama 3.2 1B", SYNTH_ARCH_LLAMA,
     16, 2048, 32, 8, 8192, 128256, 131072, 500000.0f, 1e-5f, 32.0f, true},
    {"mistral-7b", "Mistral 7B v0.3", SYNTH_ARCH_LLAMA,
     32, 4096, 32, 8, 14336, 32768, 32768, 1000000.0f, 1e-5f, 0.0f, false},
    {"qwen2.5-7b", "Qwen2.5 7B", SYNTH_ARCH_QWEN2,
     28, 3584, 28, 4, 18944, 152064, 32768, 1000000.0f, 1e-6f, 0.0f, false},
    {"qwen2.5-32b", "Qwen2.5 32B", SYNTH_ARCH_QWEN2,
     64, 5120, 40, 8, 27648, 152064, 32768, 1000000.0f, 1e-6f, 0.0f, false},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

const char *synth_preset_list(void)
{
    return "llama-3.1-8b, llama-3.1-70b, llama-3.2-1b, mistral-7b, "
           "qwen2.5-7b, qwen2.5-32b";
}

int synth_preset(struct synth_config *c, const char *name, struct st_err *err)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        const struct synth_preset_def *p = &presets[i];
        if (strcmp(p->id, name) != 0)
            continue;
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s (synthetic)", p->name);
        c->arch = p->arch;
        c->n_layers = p->layers;
        c->dim = p->dim;
        c->n_heads = p->heads;
        c->n_kv_heads = p->kv_heads;
        c->ffn_dim = p->ffn;
        c->n_vocab = p->vocab;
        c->n_ctx = p->ctx;
        c->rope_theta = p->theta;
        c->norm_eps = p->eps;
        if (p->rope_factor > 0) {
            c->rope_factor = p->rope_factor;
            c->rope_low = 1.0f;
            c->rope_high = 4.0f;
            c->rope_orig_ctx = 8192;
        }
        c->tied_output = p->tied;
        c->qkv_bias = p->arch == SYNTH_ARCH_QWEN2;
        c->mix = SYNTH_MIX_Q4_K_M;
        return 0;
    }
    char exp[200];
    snprintf(exp, sizeof exp, "one of %s", synth_preset_list());
    return st_errf(err, SYNTH_FILE, "--preset", exp, "'%s'", name);
}

/* ---- mixes ----------------------------------------------------------------- */

struct synth_mix_def {
    const char *name;
    uint32_t base;      /* the type of most matrices */
    uint32_t file_type; /* llama_ftype */
};

static const struct synth_mix_def mixes[SYNTH_MIX_COUNT] = {
    [SYNTH_MIX_Q4_K_M] = {"q4_k_m", GGML_TYPE_Q4_K, 15},
    [SYNTH_MIX_Q6_K] = {"q6_k", GGML_TYPE_Q6_K, 18},
    [SYNTH_MIX_Q8_0] = {"q8_0", GGML_TYPE_Q8_0, 7},
    [SYNTH_MIX_Q4_0] = {"q4_0", GGML_TYPE_Q4_0, 2},
    [SYNTH_MIX_Q2_K] = {"q2_k", GGML_TYPE_Q2_K, 10},
    [SYNTH_MIX_Q3_K_M] = {"q3_k_m", GGML_TYPE_Q3_K, 12},
    [SYNTH_MIX_Q5_K_M] = {"q5_k_m", GGML_TYPE_Q5_K, 17},
    [SYNTH_MIX_F16] = {"f16", GGML_TYPE_F16, 1},
};

int synth_mix_parse(const char *name, enum synth_mix *out, struct st_err *err)
{
    for (int i = 0; i < SYNTH_MIX_COUNT; i++)
        if (strcasecmp(mixes[i].name, name) == 0) {
            *out = (enum synth_mix)i;
            return 0;
        }
    return st_errf(err, SYNTH_FILE, "--type",
                   "one of q4_k_m, q6_k, q8_0, q4_0, q2_k, q3_k_m, q5_k_m, f16",
                   "'%s'", name);
}

const char *synth_mix_name(enum synth_mix mix) { return mixes[mix].name; }
uint32_t synth_mix_base_type(enum synth_mix mix) { return mixes[mix].base; }
uint32_t synth_mix_file_type(enum synth_mix mix) { return mixes[mix].file_type; }

/* ---- checks ------------------------------------------------------------------ */

static uint32_t head_dim(const struct synth_config *c)
{
    return c->dim / c->n_heads;
}

int synth_check(const struct synth_config *c, struct st_err *err)
{
    if ((int)c->mix < 0 || (int)c->mix >= SYNTH_MIX_COUNT)
        return st_errf(err, SYNTH_FILE, "--type", "a known mix", "%d", (int)c->mix);
    if (c->n_layers < 1)
        return st_errf(err, SYNTH_FILE, "--layers", "at least 1", "%u", c->n_layers);
    if (c->n_heads < 1)
        return st_errf(err, SYNTH_FILE, "--heads", "at least 1", "%u", c->n_heads);
    char exp[128];
    if (c->dim < 1 || c->dim % c->n_heads) {
        snprintf(exp, sizeof exp, "a multiple of --heads (%u)", c->n_heads);
        return st_errf(err, SYNTH_FILE, "--dim", exp, "%u", c->dim);
    }
    if (head_dim(c) % 2)
        return st_errf(err, SYNTH_FILE, "--dim",
                       "an even head size --dim / --heads (rotary pairs)",
                       "head size %u", head_dim(c));
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads) {
        snprintf(exp, sizeof exp, "a divisor of --heads (%u)", c->n_heads);
        return st_errf(err, SYNTH_FILE, "--kv-heads", exp, "%u", c->n_kv_heads);
    }
    /* every matrix row is dim or ffn elements: whole blocks of the mix's
     * main type (k-quants: 256) */
    uint32_t bs = ggml_type_get(synth_mix_base_type(c->mix))->blck_size;
    if (c->dim % bs) {
        snprintf(exp, sizeof exp, "a multiple of %u for %s", bs, synth_mix_name(c->mix));
        return st_errf(err, SYNTH_FILE, "--dim", exp, "%u", c->dim);
    }
    if (c->ffn_dim < 1 || c->ffn_dim % bs) {
        snprintf(exp, sizeof exp, "a multiple of %u for %s", bs, synth_mix_name(c->mix));
        return st_errf(err, SYNTH_FILE, "--ffn", exp, "%u", c->ffn_dim);
    }
    if (c->n_vocab < SYNTH_MIN_VOCAB || c->n_vocab > INT32_MAX) {
        snprintf(exp, sizeof exp, "%d to 2^31-1 (3 specials + 256 byte tokens)",
                 SYNTH_MIN_VOCAB);
        return st_errf(err, SYNTH_FILE, "--vocab", exp, "%u", c->n_vocab);
    }
    if (c->n_ctx < 1)
        return st_errf(err, SYNTH_FILE, "--ctx", "at least 1", "%u", c->n_ctx);
    return 0;
}

/* ---- the mix rule -------------------------------------------------------------- */

/* llama-quant.cpp: the layers where Q4_K_M/Q5_K_M spend more bits: the first
 * and last eighth, and every third layer between. */
static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool kind_is_vector(enum synth_kind k)
{
    switch (k) {
    case SYNTH_ROPE_FREQS: case SYNTH_ATTN_NORM: case SYNTH_FFN_NORM:
    case SYNTH_OUTPUT_NORM: case SYNTH_ATTN_Q_BIAS: case SYNTH_ATTN_K_BIAS:
    case SYNTH_ATTN_V_BIAS:
        return true;
    default:
        return false;
    }
}

/* llama.cpp's fallback when a row is not whole blocks of the chosen type. */
static uint32_t type_fallback(uint32_t t, uint64_t cols)
{
    if (cols % ggml_type_get(t)->blck_size == 0)
        return t;
    switch (t) {
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: t = GGML_TYPE_IQ4_NL; break;
    case GGML_TYPE_Q4_K: t = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: t = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: t = GGML_TYPE_Q8_0; break;
    default: break;
    }
    return cols % ggml_type_get(t)->blck_size ? GGML_TYPE_F16 : t;
}

uint32_t synth_tensor_type(const struct synth_config *c, enum synth_kind kind,
                           int layer)
{
    if (kind_is_vector(kind))
        return GGML_TYPE_F32;
    uint32_t base = synth_mix_base_type(c->mix);
    if (c->mix == SYNTH_MIX_F16)
        return GGML_TYPE_F16; /* llama-quantize leaves an f16 file alone */
    enum synth_mix mix = c->mix;
    int n = (int)c->n_layers;
    uint64_t cols = kind == SYNTH_FFN_DOWN ? c->ffn_dim : c->dim;
    uint32_t t = base;
    bool head = kind == SYNTH_OUTPUT || (kind == SYNTH_TOKEN_EMBD && c->tied_output);
    if (head) {
        if (base != GGML_TYPE_Q8_0)
            t = cols % ggml_type_get(base)->blck_size ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K;
    } else if (kind == SYNTH_ATTN_V) {
        if (mix == SYNTH_MIX_Q2_K)
            t = c->n_heads / c->n_kv_heads >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (mix == SYNTH_MIX_Q3_K_M)
            t = layer < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if ((mix == SYNTH_MIX_Q4_K_M || mix == SYNTH_MIX_Q5_K_M) &&
                 use_more_bits(layer, n))
            t = GGML_TYPE_Q6_K;
        /* llama.cpp's LLM_TYPE_70B is the 80-layer model: 8 heads share an
         * attn_v there, so it is cheap to give it more bits */
        if (n == 80 && (t == GGML_TYPE_Q3_K || t == GGML_TYPE_Q4_K))
            t = GGML_TYPE_Q5_K;
    } else if (kind == SYNTH_FFN_DOWN) {
        if (mix == SYNTH_MIX_Q2_K)
            t = GGML_TYPE_Q3_K;
        else if (mix == SYNTH_MIX_Q3_K_M)
            t = layer < n / 16 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if ((mix == SYNTH_MIX_Q4_K_M || mix == SYNTH_MIX_Q5_K_M) &&
                 use_more_bits(layer, n))
            t = GGML_TYPE_Q6_K;
    } else if (kind == SYNTH_ATTN_OUT) {
        if (mix == SYNTH_MIX_Q2_K)
            t = GGML_TYPE_Q3_K;
        else if (mix == SYNTH_MIX_Q3_K_M)
            t = GGML_TYPE_Q4_K;
    }
    return type_fallback(t, cols);
}

/* ---- command line ----------------------------------------------------------------- */

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out,
                     struct st_err *err)
{
    char exp[64];
    if (max == UINT64_MAX)
        snprintf(exp, sizeof exp, "an integer 0..2^64-1");
    else
        snprintf(exp, sizeof exp, "an integer 1..%llu", (unsigned long long)max);
    if (!s)
        return st_errf(err, SYNTH_FILE, opt, exp, "nothing");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno == ERANGE || s[0] == '-' || v > max || (v == 0 && max != UINT64_MAX))
        return st_errf(err, SYNTH_FILE, opt, exp, "'%s'", s);
    *out = v;
    return 0;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out,
                     struct st_err *err)
{
    uint64_t v;
    if (parse_u64(opt, s, UINT32_MAX, &v, err))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int synth_args_parse(struct synth_args *a, int argc, char **argv,
                     struct st_err *err)
{
    memset(a, 0, sizeof *a);
    /* the preset first, so that the explicit dimensions override it
     * wherever they stand on the line */
    const char *preset = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--preset") == 0) {
            if (i + 1 >= argc)
                return st_errf(err, SYNTH_FILE, "--preset", "a preset name", "nothing");
            preset = argv[i + 1];
        }
    struct synth_config *c = &a->cfg;
    if (preset) {
        if (synth_preset(c, preset, err))
            return -1;
    } else {
        /* explicit dimensions only: a plain llama, kv heads = heads */
        snprintf(c->name, sizeof c->name, "synthetic llama");
        c->n_ctx = 4096;
        c->rope_theta = 10000.0f;
        c->norm_eps = 1e-5f;
        c->mix = SYNTH_MIX_Q4_K_M;
    }
    bool kv_given = false;
    uint32_t *dims[] = {&c->n_layers, &c->dim, &c->n_heads, &c->ffn_dim, &c->n_vocab};
    static const char *const dim_opts[] = {"--layers", "--dim", "--heads", "--ffn", "--vocab"};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int handled = 0;
        for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++)
            if (strcmp(o, dim_opts[k]) == 0) {
                if (parse_u32(o, v, dims[k], err))
                    return -1;
                handled = 1;
            }
        if (handled) {
            i++;
        } else if (strcmp(o, "--preset") == 0) {
            i++;
        } else if (strcmp(o, "--type") == 0) {
            if (!v)
                return st_errf(err, SYNTH_FILE, o, "a mix name", "nothing");
            if (synth_mix_parse(v, &c->mix, err))
                return -1;
            i++;
        } else if (strcmp(o, "-o") == 0) {
            if (!v)
                return st_errf(err, SYNTH_FILE, o, "an output file", "nothing");
            a->out = v;
            i++;
        } else if (strcmp(o, "--seed") == 0) {
            if (parse_u64(o, v, UINT64_MAX, &c->seed, err))
                return -1;
            i++;
        } else if (strcmp(o, "--kv-heads") == 0) {
            if (parse_u32(o, v, &c->n_kv_heads, err))
                return -1;
            kv_given = true;
            i++;
        } else if (strcmp(o, "--ctx") == 0) {
            if (parse_u32(o, v, &c->n_ctx, err))
                return -1;
            i++;
        } else if (strcmp(o, "--threads") == 0) {
            uint32_t n;
            if (parse_u32(o, v, &n, err))
                return -1;
            a->n_threads = n > 64 ? 64 : (int)n;
            i++;
        } else if (strcmp(o, "--arch") == 0) {
            if (v && strcmp(v, "llama") == 0)
                c->arch = SYNTH_ARCH_LLAMA;
            else if (v && strcmp(v, "qwen2") == 0)
                c->arch = SYNTH_ARCH_QWEN2;
            else
                return st_errf(err, SYNTH_FILE, o, "llama or qwen2", "'%s'",
                               v ? v : "nothing");
            c->qkv_bias = c->arch == SYNTH_ARCH_QWEN2;
            i++;
        } else if (strcmp(o, "--tied") == 0) {
            c->tied_output = true;
        } else if (strcmp(o, "--dry-run") == 0) {
            a->dry_run = true;
        } else if (strcmp(o, "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            return 1;
        } else {
            return st_errf(err, SYNTH_FILE, "option", "one of --preset --type -o "
                           "--seed --dry-run --layers --dim --heads --kv-heads "
                           "--ffn --vocab --ctx --arch --tied --threads --quiet",
                           "'%s'", o);
        }
    }
    if (!preset) {
        for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++)
            if (!*dims[k])
                return st_errf(err, SYNTH_FILE, dim_opts[k],
                               "a value (or --preset NAME)", "nothing");
        if (!kv_given)
            c->n_kv_heads = c->n_heads;
    }
    if (!a->out && !a->dry_run)
        return st_errf(err, SYNTH_FILE, "-o", "an output file (or --dry-run)", "nothing");
    return synth_check(c, err);
}

/* ---- the random generator ----------------------------------------------------------- */

#define GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's output function: a bijective 64-bit mixer. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Word i of a tensor's stream: splitmix64 started at key, so any word can
 * be computed without the ones before it. */
static inline uint64_t rnd(uint64_t key, uint64_t i)
{
    return mix64(key + (i + 1) * GOLDEN);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* ---- the tensor table and the header ------------------------------------------------ */

static const char *kind_suffix(enum synth_kind k)
{
    switch (k) {
    case SYNTH_ROPE_FREQS: return "rope_freqs.weight";
    case SYNTH_TOKEN_EMBD: return "token_embd.weight";
    case SYNTH_ATTN_NORM: return "attn_norm.weight";
    case SYNTH_ATTN_Q: return "attn_q.weight";
    case SYNTH_ATTN_Q_BIAS: return "attn_q.bias";
    case SYNTH_ATTN_K: return "attn_k.weight";
    case SYNTH_ATTN_K_BIAS: return "attn_k.bias";
    case SYNTH_ATTN_V: return "attn_v.weight";
    case SYNTH_ATTN_V_BIAS: return "attn_v.bias";
    case SYNTH_ATTN_OUT: return "attn_output.weight";
    case SYNTH_FFN_NORM: return "ffn_norm.weight";
    case SYNTH_FFN_GATE: return "ffn_gate.weight";
    case SYNTH_FFN_UP: return "ffn_up.weight";
    case SYNTH_FFN_DOWN: return "ffn_down.weight";
    case SYNTH_OUTPUT_NORM: return "output_norm.weight";
    case SYNTH_OUTPUT: return "output.weight";
    }
    return "?";
}

/* Target std of a random tensor (see synth.h); 0 for computed ones. */
static float kind_std(const struct synth_config *c, enum synth_kind k, uint64_t cols)
{
    switch (k) {
    case SYNTH_ROPE_FREQS: case SYNTH_ATTN_NORM: case SYNTH_FFN_NORM:
    case SYNTH_OUTPUT_NORM:
        return 0.0f;
    case SYNTH_ATTN_Q_BIAS: case SYNTH_ATTN_K_BIAS: case SYNTH_ATTN_V_BIAS:
        return SYNTH_BIAS_STD;
    case SYNTH_TOKEN_EMBD:
        return c->tied_output ? 1.0f / sqrtf((float)c->dim) : 1.0f;
    default:
        return 1.0f / sqrtf((float)cols);
    }
}

static void add_tensor(struct synth_model *m, enum synth_kind kind, int layer,
                       uint64_t ne0, uint64_t ne1)
{
    const struct synth_config *c = &m->cfg;
    struct synth_tensor *t = &m->t[m->n_tensors++];
    memset(t, 0, sizeof *t);
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "blk.%d.%s", layer, kind_suffix(kind));
    else
        snprintf(t->name, sizeof t->name, "%s", kind_suffix(kind));
    t->kind = kind;
    t->layer = layer;
    t->type = synth_tensor_type(c, kind, layer);
    t->n_dims = ne1 > 1 || !kind_is_vector(kind) ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->n_blocks = ne0 * ne1 / ggml_type_get(t->type)->blck_size;
    t->n_bytes = ggml_row_size(t->type, ne0) * ne1;
    t->std = kind_std(c, kind, ne0);
    t->key = mix64(mix64(c->seed) ^ fnv1a(t->name));
}

static void build_tensors(struct synth_model *m)
{
    const struct synth_config *c = &m->cfg;
    uint64_t d = c->dim, kv = (uint64_t)c->n_kv_heads * head_dim(c), f = c->ffn_dim;
    /* forward-pass order: a streaming engine reads the file front to back */
    if (c->rope_factor > 0)
        add_tensor(m, SYNTH_ROPE_FREQS, -1, head_dim(c) / 2, 1);
    add_tensor(m, SYNTH_TOKEN_EMBD, -1, d, c->n_vocab);
    for (int l = 0; l < (int)c->n_layers; l++) {
        add_tensor(m, SYNTH_ATTN_NORM, l, d, 1);
        add_tensor(m, SYNTH_ATTN_Q, l, d, d);
        if (c->qkv_bias)
            add_tensor(m, SYNTH_ATTN_Q_BIAS, l, d, 1);
        add_tensor(m, SYNTH_ATTN_K, l, d, kv);
        if (c->qkv_bias)
            add_tensor(m, SYNTH_ATTN_K_BIAS, l, kv, 1);
        add_tensor(m, SYNTH_ATTN_V, l, d, kv);
        if (c->qkv_bias)
            add_tensor(m, SYNTH_ATTN_V_BIAS, l, kv, 1);
        add_tensor(m, SYNTH_ATTN_OUT, l, d, d);
        add_tensor(m, SYNTH_FFN_NORM, l, d, 1);
        add_tensor(m, SYNTH_FFN_GATE, l, d, f);
        add_tensor(m, SYNTH_FFN_UP, l, d, f);
        add_tensor(m, SYNTH_FFN_DOWN, l, f, d);
    }
    add_tensor(m, SYNTH_OUTPUT_NORM, -1, d, 1);
    if (!c->tied_output)
        add_tensor(m, SYNTH_OUTPUT, -1, d, c->n_vocab);
}

/* Synthetic vocabulary pieces: every string over a 73-symbol alphabet
 * (U+2581 "word start", letters, digits, punctuation), shortest first.
 * All shorter strings exist, so a SentencePiece merge can always reach a
 * piece; none contains '<', so none equals a special or byte token. */
static const char piece_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;()";
#define PIECE_SYMBOLS (1 + (uint64_t)(sizeof piece_chars - 1))

static size_t piece_text(uint64_t k, char *out)
{
    int len = 1;
    uint64_t count = PIECE_SYMBOLS;
    while (k >= count) {
        k -= count;
        count *= PIECE_SYMBOLS;
        len++;
    }
    uint32_t digit[16];
    for (int i = len - 1; i >= 0; i--) {
        digit[i] = (uint32_t)(k % PIECE_SYMBOLS);
        k /= PIECE_SYMBOLS;
    }
    size_t n = 0;
    for (int i = 0; i < len; i++) {
        if (digit[i] == 0) {
            memcpy(out + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            out[n++] = piece_chars[digit[i] - 1];
        }
    }
    return n;
}

/* tokenizer.ggml.*: a SentencePiece ("llama") vocabulary as llama.cpp's
 * converter writes it: <unk> <s> </s>, the 256 byte tokens <0xNN>, then
 * pieces. Token types: 1 normal, 2 unknown, 3 control, 6 byte. */
static void write_tokenizer(struct gguf_writer *w, uint32_t n_vocab)
{
    static const char *const special[SYNTH_N_SPECIAL] = {"<unk>", "<s>", "</s>"};
    gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_kv_arr(w, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++) {
        char buf[64];
        size_t n;
        if (i < SYNTH_N_SPECIAL)
            n = (size_t)snprintf(buf, sizeof buf, "%s", special[i]);
        else if (i < SYNTH_MIN_VOCAB)
            n = (size_t)snprintf(buf, sizeof buf, "<0x%02X>", i - SYNTH_N_SPECIAL);
        else
            n = piece_text(i - SYNTH_MIN_VOCAB, buf);
        gguf_writer_arr_str(w, buf, n);
    }
    gguf_writer_kv_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++)
        gguf_writer_arr_f32(w, i < SYNTH_MIN_VOCAB ? 0.0f : -(float)(i - SYNTH_MIN_VOCAB));
    gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++)
        gguf_writer_arr_i32(w, i == 0 ? 2 : i < SYNTH_N_SPECIAL ? 3 : i < SYNTH_MIN_VOCAB ? 6 : 1);
    gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

/* The keys llama.cpp reads for llama/qwen2 (LLM_KV_* names), with the
 * value types its converter writes (uint32 / float32). */
static void write_metadata(struct synth_model *m)
{
    const struct synth_config *c = &m->cfg;
    struct gguf_writer *w = m->w;
    const char *arch = c->arch == SYNTH_ARCH_QWEN2 ? "qwen2" : "llama";
    char key[96];
#define AKEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    gguf_writer_kv_str(w, "general.architecture", arch);
    gguf_writer_kv_str(w, "general.name", c->name);
    gguf_writer_kv_u32(w, "general.file_type", synth_mix_file_type(c->mix));
    gguf_writer_kv_u32(w, "general.quantization_version", 2);
    if (c->arch == SYNTH_ARCH_LLAMA)
        gguf_writer_kv_u32(w, AKEY("vocab_size"), c->n_vocab);
    gguf_writer_kv_u32(w, AKEY("context_length"), c->n_ctx);
    gguf_writer_kv_u32(w, AKEY("embedding_length"), c->dim);
    gguf_writer_kv_u32(w, AKEY("block_count"), c->n_layers);
    gguf_writer_kv_u32(w, AKEY("feed_forward_length"), c->ffn_dim);
    gguf_writer_kv_u32(w, AKEY("attention.head_count"), c->n_heads);
    gguf_writer_kv_u32(w, AKEY("attention.head_count_kv"), c->n_kv_heads);
    gguf_writer_kv_f32(w, AKEY("rope.freq_base"), c->rope_theta);
    gguf_writer_kv_f32(w, AKEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    if (c->arch == SYNTH_ARCH_LLAMA)
        gguf_writer_kv_u32(w, AKEY("rope.dimension_count"), head_dim(c));
#undef AKEY
    write_tokenizer(w, c->n_vocab);
}

int synth_build(struct synth_model *m, const struct synth_config *c,
                struct st_err *err)
{
    memset(m, 0, sizeof *m);
    if (synth_check(c, err))
        return -1;
    m->cfg = *c;
    uint32_t max_tensors = 4 + 12 * c->n_layers;
    m->t = calloc(max_tensors, sizeof *m->t);
    m->w = gguf_writer_new(GGUF_DEFAULT_ALIGNMENT);
    if (!m->t || !m->w) {
        synth_free(m);
        return st_errmsg(err, "%s: out of memory", SYNTH_FILE);
    }
    build_tensors(m);
    write_metadata(m);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const struct synth_tensor *t = &m->t[i];
        gguf_writer_add_tensor(m->w, t->name, t->type, t->n_dims, t->ne);
        m->data_bytes += t->n_bytes;
    }
    m->file_size = gguf_writer_file_size(m->w);
    return 0;
}

void synth_free(struct synth_model *m)
{
    gguf_writer_free(m->w);
    free(m->t);
    memset(m, 0, sizeof *m);
}

/* ---- the block generators ---------------------------------------------------------------
 *
 * A quantized block takes W = ceil((type size + 16) / 8) words of its
 * tensor's stream: the block is filled with random bytes (every packed
 * quant is then uniform over its range), and the 16 bytes past it ("aux")
 * choose the sub-block scales, which are set to values that keep each
 * sub-block centred on 0:
 *
 *   type  element                     sub-scale s (from aux)   centring
 *   Q4_0  d (q - 8)                   -                        sign of d random
 *   Q8_0  d q                         -                        sign of d random
 *   Q2_K  d s q - dmin m              8..15, m = s             dmin = 1.5 d
 *   Q3_K  d (s - 32) q, q in -4..3    32 +- (16..31)           sign of s-32 random
 *   Q4_K  d s q - dmin m              4,8,12,16; m = 15 s / 4  dmin = 2 d
 *   Q5_K  d s q - dmin m              4,8;       m = 31 s / 4  dmin = 2 d
 *   Q6_K  d s (q - 32)                +-(3..6)                 sign of s random
 *
 * d = std / (rms of the centred quant * rms of s), so an element's std is
 * the target. The small sub-scales keep d a normal fp16 number down to
 * std ~ 0.005 (cols ~ 40000). */

/* RMS of the integers a, a+1, ..., b (a, b may be half-integers). */
static double rms_uniform(double a, double b)
{
    double n = b - a + 1, mean = (a + b) / 2;
    return sqrt((n * n - 1) / 12 + mean * mean);
}

struct quant_scales {
    uint16_t d, d_neg, dmin; /* fp16 bits */
};

static struct quant_scales quant_scales(uint32_t type, float std)
{
    double q = 1, s = 1, dmin = 0;
    switch (type) {
    case GGML_TYPE_Q4_0: q = rms_uniform(-8, 7); break;
    case GGML_TYPE_Q8_0: q = rms_uniform(-128, 127); break;
    case GGML_TYPE_Q2_K: q = rms_uniform(-1.5, 1.5); s = sqrt(137.5); dmin = 1.5; break;
    case GGML_TYPE_Q3_K: q = rms_uniform(-4, 3); s = rms_uniform(16, 31); break;
    case GGML_TYPE_Q4_K: q = rms_uniform(-7.5, 7.5); s = sqrt(120.0); dmin = 2; break;
    case GGML_TYPE_Q5_K: q = rms_uniform(-15.5, 15.5); s = sqrt(40.0); dmin = 2; break;
    case GGML_TYPE_Q6_K: q = rms_uniform(-32, 31); s = rms_uniform(3, 6); break;
    default: break;
    }
    double d = std / (q * s);
    struct quant_scales r;
    r.d = f32_to_f16((float)d);
    r.d_neg = r.d ^ 0x8000;
    r.dmin = f32_to_f16((float)(d * dmin));
    return r;
}

/* 8 sub-blocks' 6-bit scales and mins into Q4_K/Q5_K's 12 bytes: bytes
 * 0..3 scale j (6 bits) | high 2 bits of scale j+4; bytes 4..7 the same
 * for the mins; bytes 8..11 low nibbles of scale j+4 | min j+4. */
static void pack_k4_scales(uint8_t out[12], const uint8_t sc[8], const uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* 16 6-bit scales into Q3_K's 12 bytes: low nibbles of 0..7 in the low
 * nibbles of bytes 0..7, of 8..15 in their high nibbles; the high 2 bits of
 * scale i in byte 8 + i % 4 at bit 2 * (i / 4). */
static void pack_q3_scales(uint8_t out[12], const uint8_t v[16])
{
    memset(out, 0, 12);
    for (int i = 0; i < 16; i++) {
        if (i < 8)
            out[i] |= v[i] & 15;
        else
            out[i - 8] |= (uint8_t)((v[i] & 15) << 4);
        out[8 + (i & 3)] |= (uint8_t)((v[i] >> 4) << (2 * (i / 4)));
    }
}

static void fix_block(uint32_t type, uint8_t *blk, const uint8_t *aux,
                      const struct quant_scales *qs)
{
    switch (type) {
    case GGML_TYPE_Q4_0:
        ((block_q4_0 *)blk)->d = aux[0] & 1 ? qs->d_neg : qs->d;
        break;
    case GGML_TYPE_Q8_0:
        ((block_q8_0 *)blk)->d = aux[0] & 1 ? qs->d_neg : qs->d;
        break;
    case GGML_TYPE_Q2_K: {
        block_q2_K *b = (block_q2_K *)blk;
        for (int i = 0; i < 16; i++) {
            uint8_t s = (uint8_t)(8 + (aux[i] & 7));
            b->scales[i] = (uint8_t)(s | (s << 4));
        }
        b->d = qs->d;
        b->dmin = qs->dmin;
        break;
    }
    case GGML_TYPE_Q3_K: {
        block_q3_K *b = (block_q3_K *)blk;
        uint8_t v[16];
        for (int i = 0; i < 16; i++) {
            int e = 16 + (aux[i] & 15);
            v[i] = (uint8_t)(aux[i] & 16 ? 32 - e : 32 + e);
        }
        pack_q3_scales(b->scales, v);
        b->d = qs->d;
        break;
    }
    case GGML_TYPE_Q4_K: {
        block_q4_K *b = (block_q4_K *)blk;
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)(4 * (1 + (aux[j] & 3)));
            m[j] = (uint8_t)(sc[j] * 15 / 4);
        }
        pack_k4_scales(b->scales, sc, m);
        b->d = qs->d;
        b->dmin = qs->dmin;
        break;
    }
    case GGML_TYPE_Q5_K: {
        block_q5_K *b = (block_q5_K *)blk;
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)(4 * (1 + (aux[j] & 1)));
            m[j] = (uint8_t)(sc[j] * 31 / 4);
        }
        pack_k4_scales(b->scales, sc, m);
        b->d = qs->d;
        b->dmin = qs->dmin;
        break;
    }
    case GGML_TYPE_Q6_K: {
        block_q6_K *b = (block_q6_K *)blk;
        for (int i = 0; i < 16; i++) {
            int s = 3 + (aux[i] & 3);
            b->scales[i] = (int8_t)(aux[i] & 4 ? -s : s);
        }
        b->d = qs->d;
        break;
    }
    default:
        break;
    }
}

static void gen_quant(const struct synth_tensor *t, uint64_t first, uint64_t n,
                      uint8_t *dst)
{
    const size_t ts = ggml_type_get(t->type)->type_size;
    const uint64_t W = (ts + 16 + 7) / 8;
    const struct quant_scales qs = quant_scales(t->type, t->std);
    uint64_t word[32]; /* W <= 29 (Q6_K: 210 + 16 bytes) */
    for (uint64_t b = first; b < first + n; b++) {
        for (uint64_t k = 0; k < W; k++)
            word[k] = rnd(t->key, b * W + k);
        uint8_t *blk = dst + (b - first) * ts;
        memcpy(blk, word, ts);
        fix_block(t->type, blk, (const uint8_t *)word + ts, &qs);
    }
}

/* llama3 rope scaling: the divisor of frequency i, as llama.cpp's
 * converter computes rope_freqs.weight (1 for short wavelengths, factor
 * for long ones, a smooth blend between). */
static float rope_divisor(const struct synth_config *c, uint64_t i)
{
    double hd = head_dim(c);
    double freq = 1.0 / pow(c->rope_theta, (double)(2 * i) / hd);
    double wavelen = 2 * M_PI / freq;
    double low_wl = c->rope_orig_ctx / c->rope_low;
    double high_wl = c->rope_orig_ctx / c->rope_high;
    if (wavelen < high_wl)
        return 1.0f;
    if (wavelen > low_wl)
        return c->rope_factor;
    double smooth = (c->rope_orig_ctx / wavelen - c->rope_low) / (c->rope_high - c->rope_low);
    return (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
}

void synth_gen(const struct synth_model *m, uint32_t i, uint64_t first,
               uint64_t n, void *dst)
{
    const struct synth_tensor *t = &m->t[i];
    if (t->type == GGML_TYPE_F32) {
        float *o = dst;
        for (uint64_t e = first; e < first + n; e++) {
            float v;
            if (t->kind == SYNTH_ROPE_FREQS) {
                v = rope_divisor(&m->cfg, e);
            } else if (t->std == 0) {
                v = 1.0f; /* norms */
            } else { /* uniform on +-std*sqrt(3): 2 elements per word */
                uint32_t r = (uint32_t)(rnd(t->key, e / 2) >> (32 * (e & 1)));
                double u = ((double)r + 0.5) / 4294967296.0;
                v = (float)(t->std * sqrt(3.0) * (2 * u - 1));
            }
            o[e - first] = v;
        }
    } else if (t->type == GGML_TYPE_F16) {
        uint16_t *o = dst;
        const float a = t->std * sqrtf(3.0f);
        uint64_t r = 0;
        for (uint64_t e = first; e < first + n; e++) {
            if (e == first || (e & 3) == 0)
                r = rnd(t->key, e / 4);
            uint32_t h = (uint32_t)(r >> (16 * (e & 3))) & 0xffff;
            float u = ((float)h + 0.5f) / 65536.0f;
            o[e - first] = f32_to_f16(a * (2 * u - 1));
        }
    } else {
        gen_quant(t, first, n, dst);
    }
}

/* ---- the writer pipeline --------------------------------------------------------------------
 *
 * The data section is cut into jobs (a block range of one tensor, at most
 * SYNTH_CHUNK bytes). Generator threads claim jobs in order and fill ring
 * slots (job j -> slot j % n_slots, once job j - n_slots is written); the
 * calling thread writes the slots in job order. Output is therefore the
 * same for any number of threads. */

struct synth_job {
    uint32_t tensor;
    uint64_t first, n;
};

struct synth_pipe {
    const struct synth_model *m;
    struct synth_job *jobs;
    uint64_t n_jobs;
    uint8_t **slot;
    uint64_t *slot_job; /* job whose bytes a slot holds, UINT64_MAX: none */
    uint32_t n_slots;
    uint64_t next_claim, next_write;
    int abort;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *pipe_worker(void *arg)
{
    struct synth_pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->abort || p->next_claim >= p->n_jobs)
            break;
        uint64_t j = p->next_claim++;
        while (!p->abort && j >= p->next_write + p->n_slots)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->abort)
            break;
        pthread_mutex_unlock(&p->mu);
        const struct synth_job *job = &p->jobs[j];
        synth_gen(p->m, job->tensor, job->first, job->n, p->slot[j % p->n_slots]);
        pthread_mutex_lock(&p->mu);
        p->slot_job[j % p->n_slots] = j;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static uint64_t count_jobs(const struct synth_model *m, struct synth_job *jobs)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const struct synth_tensor *t = &m->t[i];
        uint64_t ts = ggml_type_get(t->type)->type_size;
        uint64_t per = SYNTH_CHUNK / ts;
        for (uint64_t b = 0; b < t->n_blocks; b += per, n++)
            if (jobs) {
                jobs[n].tensor = i;
                jobs[n].first = b;
                jobs[n].n = t->n_blocks - b < per ? t->n_blocks - b : per;
            }
    }
    return n;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SYNTH_MAX_THREADS ? SYNTH_MAX_THREADS : (int)n;
}

int synth_write(struct synth_model *m, const char *path,
                const struct synth_write_opts *o, struct st_err *err)
{
    int n_threads = o && o->n_threads > 0 ? o->n_threads : default_threads();
    struct synth_pipe p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.n_jobs = count_jobs(m, NULL);
    p.n_slots = (uint32_t)n_threads + 2;
    p.jobs = malloc(p.n_jobs * sizeof *p.jobs);
    p.slot = calloc(p.n_slots, sizeof *p.slot);
    p.slot_job = malloc(p.n_slots * sizeof *p.slot_job);
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    int rc = -1, started = 0;
    bool ok = p.jobs && p.slot && p.slot_job && th;
    for (uint32_t s = 0; ok && s < p.n_slots; s++) {
        p.slot[s] = malloc(SYNTH_CHUNK);
        p.slot_job[s] = UINT64_MAX;
        ok = p.slot[s] != NULL;
    }
    if (!ok) {
        st_errmsg(err, "%s: out of memory", SYNTH_FILE);
        goto out;
    }
    count_jobs(m, p.jobs);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);

    if (gguf_writer_begin(m->w, path, err))
        goto out_sync;
    for (; started < n_threads; started++)
        if (pthread_create(&th[started], NULL, pipe_worker, &p) != 0) {
            st_errmsg(err, "%s: cannot start a generator thread", SYNTH_FILE);
            goto out_stop;
        }
    uint64_t header = gguf_writer_data_offset(m->w);
    for (uint64_t j = 0; j < p.n_jobs; j++) {
        uint32_t s = (uint32_t)(j % p.n_slots);
        pthread_mutex_lock(&p.mu);
        while (p.slot_job[s] != j)
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        const struct synth_job *job = &p.jobs[j];
        const struct synth_tensor *t = &m->t[job->tensor];
        size_t bytes = (size_t)(job->n * ggml_type_get(t->type)->type_size);
        if (gguf_writer_data(m->w, p.slot[s], bytes, err))
            goto out_stop;
        pthread_mutex_lock(&p.mu);
        p.next_write = j + 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (o && o->progress)
            o->progress(o->progress_ctx, header + gguf_writer_data_written(m->w),
                        m->file_size);
    }
    if (gguf_writer_finish(m->w, err) == 0)
        rc = 0;
    if (rc == 0 && o && o->progress)
        o->progress(o->progress_ctx, m->file_size, m->file_size);

out_stop:
    if (rc)
        gguf_writer_abort(m->w);
    pthread_mutex_lock(&p.mu);
    p.abort = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
out_sync:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
out:
    for (uint32_t s = 0; p.slot && s < p.n_slots; s++)
        free(p.slot[s]);
    free(p.slot);
    free(p.slot_job);
    free(p.jobs);
    free(th);
    return rc;
}
