/* facts.c - model facts from a GGUF header, or synthesized (facts.h). */
#include "facts.h"
#include "synth.h"

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

/* FNV-1a 64 over a byte range, chained. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int facts_from_synth(struct model_facts *f, const char *name, struct st_err *err)
{
    /* "llama-3.1-70b-q4_k_m": the mix is what follows the last '-' */
    char preset[64];
    const char *dash = strrchr(name, '-');
    if (!dash || (size_t)(dash - name) >= sizeof preset)
        return st_errf(err, "--synth", "model", "PRESET-MIX, e.g. llama-3.1-70b-q4_k_m",
                       "'%s'", name);
    memcpy(preset, name, (size_t)(dash - name));
    preset[dash - name] = 0;
    struct synth_config cfg;
    struct synth_model sm;
    if (synth_preset(&cfg, preset, err) || synth_mix_parse(dash + 1, &cfg.mix, err) ||
        synth_build(&sm, &cfg, err))
        return -1;
    memset(f, 0, sizeof *f);
    snprintf(f->arch, sizeof f->arch, "%s", cfg.arch == SYNTH_ARCH_QWEN2 ? "qwen2" : "llama");
    snprintf(f->name, sizeof f->name, "%s (synthetic)", name);
    f->n_layers = cfg.n_layers;
    f->n_embd = cfg.dim;
    f->n_heads = cfg.n_heads;
    f->n_kv_heads = cfg.n_kv_heads;
    f->head_dim = cfg.dim / cfg.n_heads;
    f->n_ff = cfg.ffn_dim;
    f->n_vocab = cfg.n_vocab;
    f->n_ctx_train = cfg.n_ctx;
    f->tensors = calloc(sm.n_tensors, sizeof *f->tensors);
    if (!f->tensors) {
        synth_free(&sm);
        return st_errmsg(err, "%s: out of memory", name);
    }
    /* the data section follows the header; tensors are 32-byte aligned */
    uint64_t off = sm.file_size;
    for (uint32_t i = 0; i < sm.n_tensors; i++)
        off -= (sm.t[i].n_bytes + 31) / 32 * 32;
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < sm.n_tensors; i++) {
        const struct synth_tensor *st = &sm.t[i];
        struct facts_tensor *t = &f->tensors[f->n_tensors++];
        snprintf(t->name, sizeof t->name, "%s", st->name);
        t->type = st->type;
        t->ne[0] = st->ne[0];
        t->ne[1] = st->ne[1];
        t->ne[2] = t->ne[3] = 1;
        t->bytes = st->n_bytes;
        t->file_offset = off;
        off += (st->n_bytes + 31) / 32 * 32;
        t->role = facts_role_of(st->name, st->n_dims, t->ne, &t->layer);
        /* a fingerprint of the table, as gguf_fingerprint gives a file */
        h = fnv1a(h, t->name, strlen(t->name));
        h = fnv1a(h, &t->type, sizeof t->type);
        h = fnv1a(h, t->ne, sizeof t->ne);
    }
    f->file_bytes = sm.file_size;
    f->fingerprint = h;
    synth_free(&sm);
    if (facts_summarize(f, err)) {
        facts_free(f);
        return -1;
    }
    return 0;
}
