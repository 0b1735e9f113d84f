/* facts.h - what the planner needs to know about a model, from its GGUF
 * header: architecture, dimensions, and the type, shape and byte size of
 * every tensor, grouped by layer.
 *
 * The planner (plan.h) is a pure function of a profile, these facts and the
 * options; tests build facts of synthetic models (facts_from_synth) instead
 * of writing 40 GB files: a synthetic Llama-3.1-70B is only its tensor table. */
#ifndef STRATA_FACTS_H
#define STRATA_FACTS_H

#include <stdint.h>

#include "error.h"

#define FACTS_MAX_LAYERS 512
#define FACTS_NAME_MAX 64

/* What a tensor is to the planner. */
enum facts_role {
    FACTS_EMBD,        /* token_embd.weight: one row per token, stays in host memory */
    FACTS_OUTPUT,      /* output.weight: the head, read whole every token */
    FACTS_OUTPUT_NORM, /* output_norm.weight */
    FACTS_LAYER_SMALL, /* 1-D tensors of a block (norms, biases): always resident */
    FACTS_LAYER_MATRIX,/* 2-D weights of a block: what gets tiered */
    FACTS_OTHER        /* anything else outside the blocks (rope_freqs...): resident */
};

struct facts_tensor {
    char name[FACTS_NAME_MAX];
    uint32_t type;        /* enum ggml_type */
    uint64_t ne[4];       /* ne[0] = row length (input dim), ne[1] = rows */
    uint64_t bytes;
    uint64_t file_offset; /* absolute offset of the data in the file */
    int32_t layer;        /* block index, -1 outside the blocks */
    int role;             /* enum facts_role */
};

struct model_facts {
    char arch[32];          /* general.architecture: "llama", "qwen2" */
    char name[128];         /* general.name, or the file's base name */
    uint32_t n_layers;      /* block_count */
    uint32_t n_embd;        /* embedding_length */
    uint32_t n_heads;       /* attention.head_count */
    uint32_t n_kv_heads;    /* attention.head_count_kv */
    uint32_t head_dim;      /* n_embd / n_heads unless attention.key_length says */
    uint32_t n_ff;          /* feed_forward_length */
    uint32_t n_vocab;       /* rows of token_embd */
    uint32_t n_ctx_train;   /* context_length (0: not stated) */
    uint64_t fingerprint;   /* gguf_fingerprint: header + tensor table */
    uint64_t file_bytes;
    uint32_t n_tensors;
    struct facts_tensor *tensors; /* n_tensors, in file order; facts_free */
    int output_tied;        /* no output.weight: the head is token_embd */
    /* Sums (facts_summarize), bytes: */
    uint64_t layer_bytes[FACTS_MAX_LAYERS];       /* every tensor of block i */
    uint64_t layer_small_bytes[FACTS_MAX_LAYERS]; /* its 1-D tensors */
    uint64_t embd_bytes, output_bytes, output_norm_bytes, other_bytes;
    uint64_t total_bytes;
};

/* Reads the facts of a GGUF file (header only; no tensor data is touched).
 * Errors name the file and the key, e.g.
 * "m.gguf: llama.block_count: found nothing, expected the number of blocks". */
int facts_from_gguf(struct model_facts *f, const char *path, struct st_err *err);

/* The facts of the file strata-synth would write (src/synth.c is the one
 * source of synthetic tensor tables): name is "PRESET-MIX" as strata-synth
 * names them, e.g. "llama-3.1-70b-q4_k_m", "qwen2.5-32b-q4_k_m". Nothing is
 * written: a 40 GB model is only its tensor table. -1 with err for an
 * unknown preset or mix. */
int facts_from_synth(struct model_facts *f, const char *name, struct st_err *err);

/* Recomputes the sums from tensors[] (facts_from_synth and facts_from_gguf call
 * it; tests that edit tensors call it again). Fails on a layer index past
 * n_layers or a block without tensors. */
int facts_summarize(struct model_facts *f, struct st_err *err);

void facts_free(struct model_facts *f);

#endif
