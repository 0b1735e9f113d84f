/* chat.h - turning a system prompt and a user message into the prompt text
 * a chat model was trained on.
 *
 * GGUF files carry the template as a Jinja program in
 * tokenizer.chat_template. strata does not run Jinja: like llama.cpp's
 * llama_chat_detect_template, it recognizes the family by marker
 * substrings and writes that family's format itself:
 *
 *   llama3  <|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>
 *           <|start_header_id|>user<|end_header_id|>\n\nUSER<|eot_id|>
 *           <|start_header_id|>assistant<|end_header_id|>\n\n
 *           (contents trimmed of surrounding whitespace, as llama.cpp does)
 *   chatml  <|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nUSER<|im_end|>\n
 *           <|im_start|>assistant\n            (Qwen2/2.5, SmolLM2)
 *   llama2  [INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST]
 *
 * BOS is not written: the tokenizer adds it (tok_add_bos), as llama.cpp's
 * formatter leaves it to the tokenizer too. A missing system prompt omits
 * the system turn. The text holds special tokens spelled out, so it must
 * be encoded with parse_special. */
#ifndef STRATA_CHAT_H
#define STRATA_CHAT_H

#include <stddef.h>

enum chat_tmpl {
    CHAT_TMPL_NONE = -1, /* not recognized */
    CHAT_TMPL_CHATML = 0,
    CHAT_TMPL_LLAMA3,
    CHAT_TMPL_LLAMA2,
};

/* Family of a tokenizer.chat_template text (len bytes, need not be NUL-
 * terminated); CHAT_TMPL_NONE when no marker is found. */
enum chat_tmpl chat_detect(const char *tmpl, size_t len);

/* "chatml", "llama3", "llama2" <-> enum; chat_tmpl_from_name gives
 * CHAT_TMPL_NONE for other names. */
const char *chat_tmpl_name(enum chat_tmpl t);
enum chat_tmpl chat_tmpl_from_name(const char *name);

/* Writes the prompt for an optional system message (NULL or "": none) and
 * a user message, ending with the assistant turn opened. Like snprintf:
 * returns the full length (excluding the NUL) and writes at most cap bytes,
 * NUL-terminated when cap > 0; call with cap 0 to size the buffer.
 * Returns -1 for CHAT_TMPL_NONE. */
int chat_format(enum chat_tmpl t, const char *system, const char *user,
                char *out, size_t cap);

#endif
