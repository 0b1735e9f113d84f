/* tokenizer.h - the two tokenizers GGUF files carry.
 *
 *   tokenizer.ggml.model = "llama": SentencePiece-style BPE driven by the
 *     scores (highest-scoring merge first), spaces as U+2581, byte fallback
 *     tokens <0xNN> for text the vocabulary cannot spell.
 *   tokenizer.ggml.model = "gpt2": byte-level BPE with tokenizer.ggml.merges
 *     (rank = position), after the pre-tokenizer named by tokenizer.ggml.pre
 *     ("llama-bpe", "qwen2", "smollm", "gpt2"/default, ...).
 *
 * All tables are built once by tok_load; encoding and decoding allocate
 * nothing. Token ids are int32_t as in llama.cpp. */
#ifndef STRATA_TOKENIZER_H
#define STRATA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"

struct tokenizer; /* opaque; see tokenizer.c */

/* Builds the tokenizer from the file's tokenizer.ggml.* keys. Returns NULL
 * with err filled when a key is missing or malformed. */
struct tokenizer *tok_load(const struct gguf_file *f, struct st_err *err);
void tok_free(struct tokenizer *t);

/* Encodes len bytes of UTF-8 text. add_bos prepends BOS; parse_special
 * lets control/user-defined tokens written in the text ("<|im_start|>")
 * become their ids instead of being spelled out. Returns the number of ids
 * written, or -1 when more than cap ids would be needed. */
int tok_encode(const struct tokenizer *t, const char *text, size_t len,
               bool add_bos, bool parse_special, int32_t *out, int cap);

/* The bytes a token stands for (U+2581 -> ' ', <0x0A> -> '\n', GPT-2's
 * byte-to-unicode mapping undone); control tokens give "" unless
 * show_special. *len gets the byte count; the bytes need not be valid
 * UTF-8 on their own. */
const char *tok_piece(const struct tokenizer *t, int32_t id, bool show_special,
                      size_t *len);

/* Streaming decode that never splits a UTF-8 character across calls:
 * bytes of an incomplete character are held back in dec until the token
 * that completes them arrives. Returns bytes written to out (cap >= 64). */
struct tok_decoder {
    unsigned char held[8];
    int n_held;
};
size_t tok_decode_stream(const struct tokenizer *t, struct tok_decoder *dec,
                         int32_t id, char *out, size_t cap);

int32_t tok_n_vocab(const struct tokenizer *t);
int32_t tok_bos(const struct tokenizer *t);   /* -1 when none */
int32_t tok_eos(const struct tokenizer *t);   /* -1 when none */
bool tok_add_bos(const struct tokenizer *t);  /* tokenizer.ggml.add_bos_token,
                                                 default per model type */
/* End of generation: EOS, EOT (<|eot_id|>, <|im_end|>, <|end|>, ...). */
bool tok_is_eog(const struct tokenizer *t, int32_t id);
/* The pre-tokenizer in use ("smollm", "sentencepiece", or "default
 * (tokenizer.ggml.pre \"foo\" unknown)"): makes a fallback visible. */
const char *tok_pre_name(const struct tokenizer *t);
/* Id of a token spelled exactly so, or -1. */
int32_t tok_find(const struct tokenizer *t, const char *text);

#endif
