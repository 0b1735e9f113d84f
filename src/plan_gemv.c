/* plan_gemv.c - the GEMV shapes a plan needs (plan_gemv.h). */
#include "plan_gemv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "quantize.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the matrices the engine may fuse, by their name after "blk.N." */
enum { M_Q, M_K, M_V, M_GATE, M_UP, M_N };
static const char *const fused_names[M_N] = {"attn_q.weight", "attn_k.weight", "attn_v.weight",
                                             "ffn_gate.weight", "ffn_up.weight"};

/* "TYPE ROWS COLS", with " swiglu" for a pair, or with " + TYPE2 ROWS2"
 * for two matrices of different types in one launch (rows2 > 0) */
static int add(struct plan_gemv *g, uint32_t type, uint64_t rows, uint64_t cols, int pair,
               uint32_t type2, uint64_t rows2)
{
    char buf[96], cat[48] = "";
    if (rows2)
        snprintf(cat, sizeof cat, " + %s %llu", ggml_type_name(type2), (unsigned long long)rows2);
    snprintf(buf, sizeof buf, "%s %llu %llu%s%s", ggml_type_name(type), (unsigned long long)rows,
             (unsigned long long)cols, pair ? " swiglu" : "", cat);
    return (g->line[g->n] = strdup(buf)) ? (int)++g->n : -1;
}

int plan_gemv_shapes(const struct model_facts *f, const struct plan *p, struct plan_gemv *out,
                     struct st_err *err)
{
    const uint32_t n_layers = f->n_layers;
    struct plan_gemv g = {calloc(f->n_tensors + 3 * (size_t)n_layers + 1, sizeof *g.line), 0};
    int64_t *mt = malloc(sizeof *mt * M_N * (n_layers ? n_layers : 1)); /* type, or -1 */
    int bad = !g.line || !mt;
    for (size_t i = 0; !bad && i < M_N * (size_t)n_layers; i++)
        mt[i] = -1;
    const int head_role = f->output_tied ? FACTS_EMBD : FACTS_OUTPUT;
    for (uint32_t i = 0; !bad && i < f->n_tensors; i++) {
        const struct facts_tensor *t = &f->tensors[i];
        if (t->role != FACTS_LAYER_MATRIX && t->role != head_role)
            continue;
        /* a tier-B matrix is multiplied as --stream-type stored it */
        uint32_t type = t->role == FACTS_LAYER_MATRIX && p->tensors[i].tier == PLAN_TIER_B
                            ? quantize_stream_type(t->type, t->ne[0], p->stream_type)
                            : t->type;
        bad |= add(&g, type, t->ne[1], t->ne[0], 0, 0, 0) < 0;
        const char *dot = t->layer >= 0 && (uint32_t)t->layer < n_layers
                              ? strchr(t->name + 4, '.') : NULL; /* "blk.N.xxx" */
        for (int k = 0; dot && k < M_N; k++)
            if (!strcmp(dot + 1, fused_names[k]))
                mt[(size_t)t->layer * M_N + k] = type;
    }
    const uint64_t q = (uint64_t)f->n_heads * f->head_dim, kv = (uint64_t)f->n_kv_heads * f->head_dim;
    for (uint32_t l = 0; !bad && l < n_layers; l++) {
        const int64_t *ty = mt + (size_t)l * M_N;
        if (ty[M_Q] >= 0 && ty[M_Q] == ty[M_K] && ty[M_Q] == ty[M_V])
            bad |= add(&g, (uint32_t)ty[M_Q], q + 2 * kv, f->n_embd, 0, 0, 0) < 0;
        else if (ty[M_Q] >= 0 && ty[M_Q] == ty[M_K]) {
            bad |= add(&g, (uint32_t)ty[M_Q], q + kv, f->n_embd, 0, 0, 0) < 0;
            /* Q|K and V in one launch (the engine's qk_v_cat) */
            if (ty[M_V] >= 0)
                bad |= add(&g, (uint32_t)ty[M_Q], q + kv, f->n_embd, 0, (uint32_t)ty[M_V], kv) < 0;
        }
        if (ty[M_GATE] >= 0 && ty[M_GATE] == ty[M_UP])
            bad |= add(&g, (uint32_t)ty[M_GATE], f->n_ff, f->n_embd, 1, 0, 0) < 0;
    }
    free(mt);
    if (bad) {
        plan_gemv_free(&g);
        return st_errmsg(err, "out of memory");
    }
    qsort(g.line, g.n, sizeof *g.line, cmp_str);
    size_t n = 0; /* drop repeats */
    for (size_t i = 0; i < g.n; i++) {
        if (n && !strcmp(g.line[i], g.line[n - 1]))
            free(g.line[i]);
        else
            g.line[n++] = g.line[i];
    }
    g.n = n;
    *out = g;
    return 0;
}

void plan_gemv_free(struct plan_gemv *g)
{
    for (size_t i = 0; g->line && i < g->n; i++)
        free(g->line[i]);
    free(g->line);
    g->line = NULL;
    g->n = 0;
}
