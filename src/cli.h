/* cli.h - the `strata` command line, parsed into a struct (so every flag
 * and every error is unit-testable without running a model).
 *
 *   strata [generate] -m FILE [-p TEXT | -f FILE] [options]
 *   strata tokenize -m FILE [-p TEXT | -f FILE] [--ids] [--no-bos]
 *   strata perplexity -m FILE -f TEXT [-c CTX] [--chunks N]
 *   strata info FILE
 *   strata version
 *
 * Flags keep llama.cpp's names where the meaning is the same (-m -p -f -n
 * -c -t -s/--seed --temp --top-k --top-p --min-p --repeat-penalty
 * --repeat-last-n --chat-template -sys/--system-prompt -sp/--special
 * --no-display-prompt; llama-tokenize's --ids and --no-bos). A bad flag or
 * value fills err with one line naming it, e.g.
 *   strata: --top-p: found 'abc', expected a number in [0, 1] */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chat.h"
#include "error.h"
#include "sampler.h"

#define STRATA_VERSION "0.1.0"

enum cli_cmd {
    CLI_GENERATE,
    CLI_TOKENIZE,
    CLI_INFO,
    CLI_VERSION,
    CLI_HELP,
    CLI_PERPLEXITY,
};

struct cli_opts {
    enum cli_cmd cmd;
    const char *model;        /* -m (info: the positional FILE) */
    const char *prompt;       /* -p TEXT, or the contents of -f FILE; "" default */
    const char *prompt_file;  /* -f FILE as given, or NULL */
    char *prompt_buf;         /* owns the -f contents (one trailing newline
                                 dropped, as llama.cpp does) */
    int32_t n_predict;        /* -n: tokens to generate; -1: until EOG or the
                                 context is full (default 128) */
    uint32_t n_ctx;           /* -c: 0 = min(ctx_train, 4096) (default 0) */
    int n_threads;            /* -t: 0 = all cores (default 0) */
    struct sampler_params sp; /* --temp ... --seed; repeat_last_n may be -1
                                 here (= n_ctx): the caller resolves it */
    bool chat;                /* --chat: wrap the prompt in the chat template */
    enum chat_tmpl chat_tmpl; /* --chat-template NAME; CHAT_TMPL_NONE: detect */
    const char *system;       /* -sys/--system-prompt TEXT (chat only) */
    bool stats;               /* --stats: timings and GB/s on stderr */
    bool special;             /* -sp/--special: print control tokens */
    bool no_display_prompt;   /* --no-display-prompt: continuation only */
    bool ids;                 /* tokenize --ids: "[1, 403, 407]" */
    bool no_bos;              /* tokenize --no-bos */
    bool ignore_eos;          /* --ignore-eos: generate exactly -n tokens */
    int32_t prompt_tokens;    /* --prompt-tokens N: a benchmark prompt of N
                                 ids instead of -p (0: off) */
    const char *stats_file;   /* --stats-file FILE: KEY=value timings */
    const char *logits_file;  /* --logits-file FILE: the logits after the prompt */
    bool plan;                /* --plan: print the built-in plan and exit */
    int32_t n_chunks;         /* perplexity --chunks N: the first N chunks
                                 (-1 default: all) */
};

/* Fills o from argv (argv[0] is the program name). Returns 0, or -1 with
 * one line in err naming the flag. On success cli_free must be called. */
int cli_parse(struct cli_opts *o, int argc, char *const *argv, struct st_err *err);
void cli_free(struct cli_opts *o);

/* The help text (strata --help). */
void cli_usage(FILE *out);

#endif
