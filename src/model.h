/* model.h - a Llama-family model as the GGUF file describes it.
 *
 * model_load opens the file (mmapped, see gguf.h), reads the
 * hyperparameters from <arch>.* metadata with the defaults GGUF specifies,
 * finds every tensor and checks its shape and type. After a successful
 * load every pointer below is valid and every required tensor has the
 * shape the config says; the forward pass checks nothing more.
 *
 * Shapes are written in ggml order: [ne0, ne1] where ne0 is the contiguous
 * row length (the input dimension of a matrix) and ne1 the number of rows
 * (its output dimension). */
#ifndef STRATA_MODEL_H
#define STRATA_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"

enum llm_arch {
    LLM_ARCH_LLAMA, /* Llama 2/3, Mistral, SmolLM2, TinyStories */
    LLM_ARCH_QWEN2, /* Qwen2 / Qwen2.5: Q/K/V biases, NEOX rotary pairs */
};

/* Which elements of a head a rotation mixes. Mixing the wrong pairs gives
 * fluent garbage, not an error, so the style is part of the config. */
enum llm_rope_style {
    LLM_ROPE_ADJACENT, /* pairs (2i, 2i+1): llama (ggml mode 0) */
    LLM_ROPE_NEOX,     /* pairs (i, i + rope_dim/2): qwen2 (ggml mode 2) */
};

enum llm_rope_scaling {
    LLM_ROPE_SCALING_NONE,
    LLM_ROPE_SCALING_LINEAR, /* position / factor */
    LLM_ROPE_SCALING_LLAMA3, /* per-frequency divisors from rope_freqs.weight */
};

struct llm_config {
    enum llm_arch arch;
    uint32_t n_layers;    /* <arch>.block_count */
    uint32_t dim;         /* <arch>.embedding_length: residual stream width */
    uint32_t n_heads;     /* <arch>.attention.head_count */
    uint32_t n_kv_heads;  /* <arch>.attention.head_count_kv (default n_heads) */
    uint32_t head_dim;    /* <arch>.attention.key_length (default dim / n_heads) */
    uint32_t ffn_dim;     /* <arch>.feed_forward_length: hidden width of the FFN */
    uint32_t n_vocab;     /* rows of token_embd.weight (== tokenizer tokens) */
    uint32_t ctx_train;   /* <arch>.context_length */
    float norm_eps;       /* <arch>.attention.layer_norm_rms_epsilon (1e-5) */
    float rope_theta;     /* <arch>.rope.freq_base (10000) */
    uint32_t rope_dim;    /* <arch>.rope.dimension_count (head_dim): the
                             leading elements of a head that rotate */
    enum llm_rope_style rope_style;
    enum llm_rope_scaling rope_scaling;
    float rope_freq_scale; /* 1 / <arch>.rope.scaling.factor for LINEAR, else 1 */
    bool has_qkv_bias;    /* attn_{q,k,v}.bias present (always for qwen2) */
    bool tied_output;     /* no output.weight: the head is token_embd.weight */
};

/* One transformer block. The forward pass reaches a layer's weights only
 * through this struct, so a streaming engine can hand it one whose tensors
 * point into a device slot instead of the mapping. */
struct llm_layer {
    const struct gguf_tensor *attn_norm; /* [dim] */
    const struct gguf_tensor *wq;        /* [dim, n_heads * head_dim] */
    const struct gguf_tensor *wk;        /* [dim, n_kv_heads * head_dim] */
    const struct gguf_tensor *wv;        /* [dim, n_kv_heads * head_dim] */
    const struct gguf_tensor *wo;        /* [n_heads * head_dim, dim] */
    const struct gguf_tensor *bq, *bk, *bv; /* [rows of wq/wk/wv]; NULL unless present */
    const struct gguf_tensor *ffn_norm;  /* [dim] */
    const struct gguf_tensor *ffn_gate;  /* [dim, ffn_dim] */
    const struct gguf_tensor *ffn_up;    /* [dim, ffn_dim] */
    const struct gguf_tensor *ffn_down;  /* [ffn_dim, dim] */
};

struct llm_model {
    struct gguf_file gguf;
    struct llm_config cfg;
    const struct gguf_tensor *tok_embd;    /* [dim, n_vocab] */
    const struct gguf_tensor *output_norm; /* [dim] */
    const struct gguf_tensor *output;      /* [dim, n_vocab]; == tok_embd when tied */
    const struct gguf_tensor *rope_freqs;  /* [rope_dim / 2] or NULL */
    struct llm_layer *layers;              /* n_layers */
};

/* Opens and validates a model. Returns 0, or -1 with one line in err
 * ("FILE: FIELD: found X, expected Y") naming the key or tensor at fault;
 * m is then left zeroed (model_free is still safe). */
int model_load(struct llm_model *m, const char *path, struct st_err *err);

/* Releases the layer table and the mapping. Safe on a zeroed struct. */
void model_free(struct llm_model *m);

/* "llama", "qwen2": the general.architecture spelling. */
const char *llm_arch_name(enum llm_arch arch);

#endif
