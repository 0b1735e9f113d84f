/* strata.c - the `strata` command: generate text, tokenize, look inside a
 * GGUF file (see cli.h for the flags).
 *
 * Errors are one line on stderr and exit status 1, with nothing on stdout:
 * everything that can fail (model, tokenizer, engine, sampler, prompt
 * length) is checked before the first byte of output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "chat.h"
#include "cli.h"
#include "engine.h"
#include "gguf.h"
#include "gguf_dump.h"
#include "model.h"
#include "perplexity.h"
#include "plan.h"
#include "quant.h"
#include "quantize.h"
#include "sampler.h"
#include "tokenizer.h"

/* The prompt goes to the engine in pieces of this many tokens (the CUDA
 * engine's prefill chunk), so that --stats-file can tell the first piece
 * (which pays a cold start) from the steady rate of the rest. */
#define PROMPT_PIECE 512

static int fail(const struct st_err *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- strata info -------------------------------------------------------------- */

static int cmd_info(const struct cli_opts *o)
{
    struct gguf_file f;
    struct st_err err = {""};
    memset(&f, 0, sizeof f);
    if (gguf_open(&f, o->model, &err))
        return fail(&err);
    gguf_dump(stdout, &f, 8);
    gguf_close(&f);
    return 0;
}

/* ---- strata tokenize ---------------------------------------------------------- */

/* Encodes text into a buffer sized for the worst case: byte fallback spells
 * every byte as a token, plus BOS. NULL with err filled on failure. */
static int32_t *encode_prompt(const struct tokenizer *t, const char *text, bool add_bos,
                              bool parse_special, int *n_out, struct st_err *err)
{
    size_t len = strlen(text);
    int cap = (int)(len + 8);
    if (len > (size_t)(1 << 30))
        return st_errf(err, "strata", "prompt", "at most 1 GiB", "%zu bytes", len), NULL;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        return st_errmsg(err, "strata: prompt: out of memory"), NULL;
    int n = tok_encode(t, text, len, add_bos, parse_special, ids, cap);
    if (n < 0) {
        free(ids);
        return st_errmsg(err, "strata: prompt: the tokenizer needed more than %d ids", cap),
               NULL;
    }
    *n_out = n;
    return ids;
}

static int cmd_tokenize(const struct cli_opts *o)
{
    struct gguf_file f;
    struct st_err err = {""};
    memset(&f, 0, sizeof f);
    if (gguf_open(&f, o->model, &err))
        return fail(&err);
    struct tokenizer *t = tok_load(&f, &err);
    if (!t) {
        gguf_close(&f);
        return fail(&err);
    }
    /* as llama-tokenize: BOS when the model wants it, special tokens parsed */
    int n = 0;
    int32_t *ids = encode_prompt(t, o->prompt, !o->no_bos && tok_add_bos(t), true, &n, &err);
    if (!ids) {
        tok_free(t);
        gguf_close(&f);
        return fail(&err);
    }
    if (o->ids) {
        putchar('[');
        for (int i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", (int)ids[i]);
        puts("]");
    } else {
        for (int i = 0; i < n; i++) {
            size_t len;
            const char *p = tok_piece(t, ids[i], true, &len);
            printf("%6d -> '%.*s'\n", (int)ids[i], (int)len, p);
        }
    }
    free(ids);
    tok_free(t);
    gguf_close(&f);
    return 0;
}

/* ---- strata generate ---------------------------------------------------------- */

struct gen {
    struct llm_model m;
    struct tokenizer *tok;
    struct engine *eng;
    struct sampler *smp;
    char *chat_text;   /* the templated prompt, with --chat */
    int32_t *prompt;   /* prompt ids */
    int n_prompt;
    enum chat_tmpl tmpl;
    double *step_s;    /* seconds of each decode step (for p50/p99) */
    int32_t *gen_ids;  /* the generated ids, for --stats-file */
    double t_start, t_ready; /* process start, engine ready */
    double t_piece1;   /* seconds of the prompt's first PROMPT_PIECE tokens */
    int n_top_steps;   /* decode steps that returned only the best logits */
    FILE *logits_f, *stats_f; /* --logits-file, --stats-file: opened before the run */
    struct engine_timeline tl; /* the decode steps' share of the timeline */
    uint8_t test_tier[1024];   /* STRATA_STREAM_TEST's tiers */
};

static void gen_free(struct gen *g)
{
    if (g->logits_f)
        fclose(g->logits_f);
    if (g->stats_f)
        fclose(g->stats_f);
    free(g->prompt);
    free(g->step_s);
    free(g->gen_ids);
    free(g->chat_text);
    sampler_free(g->smp);
    engine_free(g->eng);
    tok_free(g->tok);
    model_free(&g->m);
}

/* Bytes of weights one decode step reads: every tensor once, except the
 * embedding table, of which one row is read (unless it is also the output
 * head, which reads it whole). */
static double weight_bytes_per_token(const struct llm_model *m)
{
    double b = 0;
    for (uint64_t i = 0; i < m->gguf.n_tensors; i++) {
        const struct gguf_tensor *t = &m->gguf.tensors[i];
        if (t == m->tok_embd && !m->cfg.tied_output)
            b += (double)t->n_bytes / (double)(t->ne[1] ? t->ne[1] : 1);
        else
            b += (double)t->n_bytes;
    }
    return b;
}

/* The chat template: --chat-template, else tokenizer.chat_template, else
 * ChatML (llama.cpp's fallback for a model without a template). */
static enum chat_tmpl pick_template(const struct cli_opts *o, const struct gguf_file *f)
{
    if (o->chat_tmpl != CHAT_TMPL_NONE)
        return o->chat_tmpl;
    struct gguf_str s;
    if (gguf_get_str(f, "tokenizer.chat_template", &s, NULL) == 0) {
        enum chat_tmpl t = chat_detect(s.ptr, (size_t)s.len);
        if (t != CHAT_TMPL_NONE)
            return t;
    }
    return CHAT_TMPL_CHATML;
}

/* The benchmark prompt (--prompt-tokens N): BOS when the model has one,
 * then N-1 ordinary ids spread over the vocabulary, the same every run
 * (what llama-bench's prompt test feeds: the weights' pass is what is
 * measured, not the text). */
static int32_t *bench_prompt(const struct tokenizer *t, int32_t n_vocab, int32_t n,
                             struct st_err *err)
{
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids)
        return st_errmsg(err, "strata: out of memory"), NULL;
    int32_t base = n_vocab > 2048 ? 1024 : 0;
    for (int32_t i = 0; i < n; i++)
        ids[i] = base + (int32_t)(((int64_t)i * 7919) % (n_vocab - base));
    if (tok_bos(t) >= 0)
        ids[0] = tok_bos(t);
    return ids;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n sorted values. */
static double quantile(const double *v, int n, double q)
{
    if (n <= 0)
        return 0;
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

/* STRATA_STREAM_TEST=MODE:N[:TYPE] in a build without a plan: the tiers a
 * plan would give, for tests and quality measurements of either engine
 * (tests/gpu/e2e.sh compares them with the resident run; strata perplexity
 * measures --stream-type). MODE: odd (odd blocks from pinned RAM), all (all
 * from RAM), disk (all from the file), mix (block l: tier l % 3); N slots;
 * TYPE the stream type (q4_k, q8_0, ...). */
static int stream_test_tiers(struct engine_opts *eo, uint8_t *tier, uint32_t n_layers,
                             struct st_err *err)
{
    const char *st = getenv("STRATA_STREAM_TEST");
    if (!st || !*st)
        return 0;
    char mode[8] = "", type[16] = "";
    unsigned slots = 0;
    if (sscanf(st, "%7[a-z]:%u:%15s", mode, &slots, type) < 2 || slots < 1 || slots > 16 ||
        n_layers > 1024 ||
        (strcmp(mode, "odd") && strcmp(mode, "all") && strcmp(mode, "disk") && strcmp(mode, "mix")))
        return st_errf(err, "strata", "STRATA_STREAM_TEST",
                       "MODE:N[:TYPE], MODE odd, all, disk or mix, N 1..16", "'%s'", st);
    for (uint32_t l = 0; l < n_layers; l++)
        tier[l] = !strcmp(mode, "odd") ? (uint8_t)(l & 1) : !strcmp(mode, "all") ? 1
                : !strcmp(mode, "disk") ? 2 : (uint8_t)(l % 3);
    eo->layer_tier = tier;
    eo->n_slots = slots;
    if (type[0]) {
        int t = ggml_type_from_name(type);
        if (t <= 0 || !quantize_supported((uint32_t)t))
            return st_errf(err, "strata", "STRATA_STREAM_TEST type",
                           "a type the quantizer writes (q4_k, q8_0, ...)", "'%s'", type);
        eo->stream_type = (uint32_t)t;
    }
    return 0;
}

/* Everything that can fail, before any output. */
static int gen_setup(struct gen *g, const struct cli_opts *o, struct st_err *err)
{
    if (model_load(&g->m, o->model, err))
        return -1;
    /* a configured binary runs the model it was planned for, and no other */
    const struct strata_builtin_plan *bp = strata_builtin_plan_ptr;
    if (plan_builtin_check(bp, gguf_fingerprint(&g->m.gguf), o->model,
                           engine_device_available(), err))
        return -1;
    g->tok = tok_load(&g->m.gguf, err);
    if (!g->tok)
        return -1;
    struct engine_opts eo = {o->n_ctx, o->n_threads, NULL, 0, 0};
    if (!bp && stream_test_tiers(&eo, g->test_tier, g->m.cfg.n_layers, err))
        return -1;
    if (bp) { /* the KV cache and the tiers are the plan's */
        if (o->n_ctx > bp->ctx)
            return st_errf(err, "strata", "-c",
                           "at most the planned context (./configure --ctx N to plan more)",
                           "%u (planned %u)", o->n_ctx, bp->ctx);
        eo.n_ctx = o->n_ctx ? o->n_ctx : bp->ctx;
        eo.layer_tier = bp->layer_tier;
        eo.n_slots = bp->n_slots;
        eo.stream_type = bp->stream_type;
    }
    g->eng = engine_init(&g->m, &eo, err);
    if (!g->eng)
        return -1;
    uint32_t n_ctx = engine_n_ctx(g->eng);

    struct sampler_params sp = o->sp;
    if (sp.repeat_last_n < 0)
        sp.repeat_last_n = (int32_t)n_ctx;
    g->smp = sampler_init(&sp, (int32_t)g->m.cfg.n_vocab, err);
    if (!g->smp)
        return -1;

    const char *text = o->prompt;
    if (o->chat) {
        g->tmpl = pick_template(o, &g->m.gguf);
        int len = chat_format(g->tmpl, o->system, o->prompt, NULL, 0);
        g->chat_text = malloc((size_t)len + 1);
        if (!g->chat_text)
            return st_errmsg(err, "strata: prompt: out of memory");
        chat_format(g->tmpl, o->system, o->prompt, g->chat_text, (size_t)len + 1);
        text = g->chat_text;
    }
    if (o->prompt_tokens > 0) {
        g->prompt = bench_prompt(g->tok, (int32_t)g->m.cfg.n_vocab, o->prompt_tokens, err);
        g->n_prompt = o->prompt_tokens;
    } else {
        g->prompt = encode_prompt(g->tok, text, tok_add_bos(g->tok), o->chat, &g->n_prompt,
                                  err);
    }
    if (!g->prompt)
        return -1;
    /* one slot per decode step, allocated before the first token */
    size_t n_steps = o->n_predict >= 0 ? (size_t)o->n_predict + 1 : (size_t)n_ctx + 1;
    g->step_s = calloc(n_steps, sizeof *g->step_s);
    g->gen_ids = calloc(n_steps, sizeof *g->gen_ids);
    if (!g->step_s || !g->gen_ids)
        return st_errmsg(err, "strata: out of memory");
    if (g->n_prompt == 0)
        return st_errf(err, "strata", "prompt", "at least one token (give -p TEXT)",
                       "no tokens (an empty prompt and a model without BOS)");
    if ((uint32_t)g->n_prompt >= n_ctx)
        return st_errf(err, "strata", "prompt",
                       "fewer tokens than the context length (raise -c)",
                       "%d tokens for a context of %u", g->n_prompt, n_ctx);
    return 0;
}

/* Writes one generated token. Control tokens print only with --special
 * (tok_decode_stream writes nothing for them). */
static void emit_token(const struct gen *g, const struct cli_opts *o,
                       struct tok_decoder *dec, int32_t id)
{
    char buf[256];
    size_t n;
    if (o->special) {
        size_t plain_len, special_len;
        tok_piece(g->tok, id, false, &plain_len);
        const char *sp = tok_piece(g->tok, id, true, &special_len);
        if (plain_len == 0 && special_len > 0) {
            fwrite(sp, 1, special_len, stdout);
            fflush(stdout);
            return;
        }
    }
    n = tok_decode_stream(g->tok, dec, id, buf, sizeof buf);
    if (n) {
        fwrite(buf, 1, n, stdout);
        fflush(stdout);
    }
}

/* d = a - b, field by field (the timeline of the decode steps alone). */
static void timeline_diff(struct engine_timeline *d, const struct engine_timeline *a,
                          const struct engine_timeline *b)
{
    d->copy_s = a->copy_s - b->copy_s;
    d->stall_s = a->stall_s - b->stall_s;
    d->read_s = a->read_s - b->read_s;
    for (int i = 0; i < 3; i++)
        d->bytes[i] = a->bytes[i] - b->bytes[i];
    d->streamed_layers = a->streamed_layers - b->streamed_layers;
}

/* Opens an output file named by a flag before anything runs, so a path that
 * cannot be written is one error line before any output, not after it. */
static int open_output(FILE **f, const char *flag, const char *path, struct st_err *err)
{
    if (!path)
        return 0;
    *f = fopen(path, "w");
    return *f ? 0 : st_errf(err, "strata", flag, "a writable file", "'%s'", path);
}

/* Closes an output file, failing on a write error. */
static int close_output(FILE **f, const char *flag, const char *path, struct st_err *err)
{
    int bad = ferror(*f);
    bad |= fclose(*f) != 0;
    *f = NULL;
    return bad ? st_errf(err, "strata", flag, "a writable file", "'%s' (write error)", path)
               : 0;
}

/* --logits-file: the logits after the prompt, one per line, exactly (%.9g
 * round-trips a float): tests compare engines and prefill paths with them. */
static int write_logits_file(FILE **f, const char *path, const float *logits, uint32_t n,
                             struct st_err *err)
{
    for (uint32_t i = 0; i < n; i++)
        fprintf(*f, "%.9g\n", logits[i]);
    return close_output(f, "--logits-file", path, err);
}

/* --stats-file: what the benchmark harness reads, KEY=value lines. */
static int write_stats_file(const struct cli_opts *o, struct gen *g, uint32_t n_ctx,
                            double t_prompt, double t_first, int n_gen, int n_decode,
                            double t_decode, struct st_err *err)
{
    FILE *f = g->stats_f;
    qsort(g->step_s, (size_t)n_decode, sizeof *g->step_s, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(f, "n_ctx=%u\n", n_ctx);
    fprintf(f, "load_s=%.6f\n", g->t_ready - g->t_start);
    fprintf(f, "prompt_tokens=%d\n", g->n_prompt);
    fprintf(f, "prompt_s=%.6f\n", t_prompt);
    fprintf(f, "prompt_tps=%.3f\n", t_prompt > 0 ? g->n_prompt / t_prompt : 0);
    fprintf(f, "prompt_first_chunk_s=%.6f\n", g->t_piece1);
    int rest = g->n_prompt - PROMPT_PIECE;
    fprintf(f, "prompt_rest_tps=%.3f\n",
            rest > 0 && t_prompt > g->t_piece1 ? rest / (t_prompt - g->t_piece1) : 0);
    fprintf(f, "ttft_s=%.6f\n", t_first);
    fprintf(f, "gen_tokens=%d\n", n_gen);
    fprintf(f, "decode_steps=%d\n", n_decode);
    fprintf(f, "decode_s=%.6f\n", t_decode);
    fprintf(f, "decode_tps=%.3f\n", t_decode > 0 ? n_decode / t_decode : 0);
    fprintf(f, "decode_top_steps=%d\n", g->n_top_steps);
    fprintf(f, "step_ms_p50=%.4f\n", 1e3 * quantile(g->step_s, n_decode, 0.5));
    fprintf(f, "step_ms_p99=%.4f\n", 1e3 * quantile(g->step_s, n_decode, 0.99));
    fprintf(f, "step_ms_max=%.4f\n", n_decode ? 1e3 * g->step_s[n_decode - 1] : 0);
    fprintf(f, "weight_bytes_per_token=%.0f\n", weight_bytes_per_token(&g->m));
    fprintf(f, "peak_rss_bytes=%lld\n", (long long)ru.ru_maxrss * 1024);
    fprintf(f, "engine=%s\n", engine_backend());
    struct engine_memory mem;
    engine_memory(g->eng, &mem);
    fprintf(f, "device_arena_bytes=%llu\n", (unsigned long long)mem.device_arena);
    fprintf(f, "device_used_bytes=%llu\n", (unsigned long long)mem.device_used);
    fprintf(f, "host_block_bytes=%llu\n", (unsigned long long)mem.host_block);
    double per = n_decode ? 1.0 / n_decode : 0;
    fprintf(f, "link_busy_ms_per_token=%.4f\n", 1e3 * g->tl.copy_s * per);
    fprintf(f, "stall_ms_per_token=%.4f\n", 1e3 * g->tl.stall_s * per);
    fprintf(f, "disk_read_ms_per_token=%.4f\n", 1e3 * g->tl.read_s * per);
    fprintf(f, "streamed_bytes_per_token=%.0f\n",
            (double)(g->tl.bytes[1] + g->tl.bytes[2]) * per);
    fputs("gen_ids=", f);
    for (int i = 0; i < n_gen; i++)
        fprintf(f, i ? ",%d" : "%d", (int)g->gen_ids[i]);
    fputc('\n', f);
    return close_output(&g->stats_f, "--stats-file", o->stats_file, err);
}

static int cmd_generate(const struct cli_opts *o)
{
    struct gen g;
    struct st_err err = {""};
    memset(&g, 0, sizeof g);
    g.t_start = now_s();
    if (gen_setup(&g, o, &err)) {
        gen_free(&g);
        return fail(&err);
    }
    uint32_t n_ctx = engine_n_ctx(g.eng);
    if (open_output(&g.logits_f, "--logits-file", o->logits_file, &err) ||
        open_output(&g.stats_f, "--stats-file", o->stats_file, &err)) {
        gen_free(&g);
        return fail(&err);
    }

    g.t_ready = now_s();
    /* as llama.cpp: the prompt, then the continuation; a chat prompt is
     * not echoed (it is the template, full of control tokens). */
    if (!o->no_display_prompt && !o->chat && o->prompt_tokens == 0) {
        fputs(o->prompt, stdout);
        fflush(stdout);
    }

    /* prompt: one pass of the weights per chunk (prefill), the last token's
     * logits only; each prompt token enters the penalty window. Fed in
     * pieces of PROMPT_PIECE tokens (the CUDA engine's chunk), the first
     * timed apart: --stats-file reports it and the rate of the rest. */
    double t0 = now_s();
    const float *logits = NULL;
    for (int done = 0; done < g.n_prompt;) {
        int n = g.n_prompt - done < PROMPT_PIECE ? g.n_prompt - done : PROMPT_PIECE;
        logits = engine_forward_batch(g.eng, g.prompt + done, (uint32_t)n, (uint32_t)done,
                                      NULL, &err);
        if (!logits)
            goto fail_run;
        if (done == 0)
            g.t_piece1 = now_s() - t0;
        done += n;
    }
    for (int i = 0; i < g.n_prompt; i++)
        sampler_accept(g.smp, g.prompt[i]);
    double t_prompt = now_s() - t0;
    if (o->logits_file && write_logits_file(&g.logits_f, o->logits_file, logits, g.m.cfg.n_vocab, &err))
        goto fail_run;
    double t_first = now_s() - g.t_start; /* time to first token */

    /* generation: sample, print, feed back */
    struct tok_decoder dec = {{0}, 0};
    uint32_t pos = (uint32_t)g.n_prompt;
    int n_gen = 0, n_decode = 0;
    double t_sample = 0, t_decode = 0;
    struct engine_timeline tl0, tl1;
    engine_timeline(g.eng, &tl0);
    /* After the prompt the sampler reads every logit; after a decode step,
     * where the chain allows (top-k, or greedy), only the best k the engine
     * selected (on the GPU: 2 k numbers come back instead of the whole
     * vocabulary). STRATA_ALL_LOGITS=1 always reads every logit. */
    static float top_logit[ENGINE_TOP_MAX];
    static int32_t top_id[ENGINE_TOP_MAX];
    int32_t n_top = 0; /* 0: logits holds every logit */
    int all_logits = getenv("STRATA_ALL_LOGITS") != NULL;
    while (o->n_predict < 0 || n_gen < o->n_predict) {
        double ts = now_s();
        int32_t id = n_top ? sampler_sample_top(g.smp, top_logit, top_id, n_top)
                           : sampler_sample(g.smp, logits);
        sampler_accept(g.smp, id);
        t_sample += now_s() - ts;
        g.gen_ids[n_gen++] = id;
        if (!o->ignore_eos && tok_is_eog(g.tok, id))
            break;
        emit_token(&g, o, &dec, id);
        if (pos >= n_ctx || (o->n_predict >= 0 && n_gen >= o->n_predict))
            break;
        double td = now_s();
        n_top = all_logits ? 0 : sampler_candidates_needed(g.smp);
        if (n_top > ENGINE_TOP_MAX)
            n_top = 0;
        if (n_top) {
            if (engine_forward_top(g.eng, id, pos++, (uint32_t)n_top, top_logit, top_id, &err))
                goto fail_run;
            g.n_top_steps++;
        } else if (!(logits = engine_forward(g.eng, id, pos++, &err))) {
            goto fail_run;
        }
        double step = now_s() - td;
        t_decode += step;
        g.step_s[n_decode++] = step;
    }
    engine_timeline(g.eng, &tl1);
    timeline_diff(&g.tl, &tl1, &tl0);
    if (isatty(STDOUT_FILENO)) /* keep the shell prompt off the last line;
                                  piped output stays exactly the text */
        putchar('\n');
    fflush(stdout);

    if (o->stats) {
        double bpt = weight_bytes_per_token(&g.m);
        double dec_tps = t_decode > 0 ? n_decode / t_decode : 0;
        fprintf(stderr, "strata: model %s (%s), n_ctx %u, %s%s\n", o->model,
                llm_arch_name(g.m.cfg.arch), n_ctx, o->chat ? "chat template " : "",
                o->chat ? chat_tmpl_name(g.tmpl) : "no chat template");
        fprintf(stderr, "strata: start-up   %8.3f s (model, weights into their tiers); "
                        "time to first token %.3f s\n", g.t_ready - g.t_start, t_first);
        fprintf(stderr, "strata: prompt     %6d tokens in %8.3f s: %10.2f tokens/s\n",
                g.n_prompt, t_prompt, t_prompt > 0 ? g.n_prompt / t_prompt : 0);
        fprintf(stderr, "strata: generation %6d tokens, %6d decode steps in %8.3f s: "
                        "%10.2f tokens/s, sampling %.3f ms/token\n",
                n_gen, n_decode, t_decode, dec_tps, n_gen ? 1e3 * t_sample / n_gen : 0);
        fprintf(stderr, "strata: weights    %.3f MB read per token: %.2f GB/s\n",
                bpt / 1e6, bpt * dec_tps / 1e9);
        const struct strata_builtin_plan *bp = strata_builtin_plan_ptr;
        if (bp && n_decode) { /* how close to the hardware: the plan's floor */
            double step = t_decode / n_decode;
            fprintf(stderr, "strata: per tier   A %.2f GB, B %.2f GB, C %.2f GB per token",
                    bp->tier_bytes[0] / 1e9, bp->tier_bytes[1] / 1e9, bp->tier_bytes[2] / 1e9);
            if (bp->floor_ns)
                fprintf(stderr, "; floor %.2f ms, achieved %.2f ms: %.0f%% of the floor\n",
                        bp->floor_ns / 1e6, 1e3 * step, 100.0 * bp->floor_ns / 1e9 / step);
            else
                fprintf(stderr, "; floor unknown (configure --measure)\n");
        }
        if (g.tl.streamed_layers && n_decode) {
            /* where a token's time goes: the link, compute waiting on it */
            double per = 1.0 / n_decode;
            fprintf(stderr, "strata: timeline   per token %.2f ms: link busy %.2f ms "
                            "(%.1f MB, %.2f GB/s), disk reads %.2f ms (%.1f MB), compute "
                            "stalled %.2f ms, %.1f streamed blocks\n",
                    1e3 * t_decode * per, 1e3 * g.tl.copy_s * per,
                    (double)(g.tl.bytes[1] + g.tl.bytes[2]) * per / 1e6,
                    g.tl.copy_s > 0 ? (double)(g.tl.bytes[1] + g.tl.bytes[2]) / g.tl.copy_s / 1e9 : 0,
                    1e3 * g.tl.read_s * per, (double)g.tl.bytes[2] * per / 1e6,
                    1e3 * g.tl.stall_s * per, (double)g.tl.streamed_layers * per);
        }
    }
    if (o->stats_file && write_stats_file(o, &g, n_ctx, t_prompt, t_first, n_gen, n_decode,
                                          t_decode, &err)) {
        gen_free(&g);
        return fail(&err);
    }
    gen_free(&g);
    return 0;

fail_run:
    fflush(stdout);
    gen_free(&g);
    return fail(&err);
}

/* ---- strata perplexity -------------------------------------------------------- */

static const float *ppl_forward(void *eng, const int32_t *tokens, uint32_t n, uint32_t pos0,
                                float *logits_out, struct st_err *err)
{
    return engine_forward_batch(eng, tokens, n, pos0, logits_out, err);
}

/* llama-perplexity's running estimate: "[1]12.3456,[2]11.9876," */
static void ppl_print_chunk(void *ctx, uint32_t chunk, double ppl)
{
    (void)ctx;
    printf("[%u]%.4f,", chunk, ppl);
    fflush(stdout);
}

/* Perplexity of the -f text (perplexity.h): everything that can fail is
 * checked before the first chunk; the chunks then print as they finish. */
static int cmd_perplexity(const struct cli_opts *o)
{
    struct llm_model m;
    struct tokenizer *tok = NULL;
    struct engine *eng = NULL;
    int32_t *ids = NULL, *tbuf = NULL;
    float *logits = NULL;
    struct st_err err = {""};
    int rc = 1, n_ids = 0;
    memset(&m, 0, sizeof m);
    double t_start = now_s();
    if (model_load(&m, o->model, &err))
        goto out;
    const struct strata_builtin_plan *bp = strata_builtin_plan_ptr;
    if (plan_builtin_check(bp, gguf_fingerprint(&m.gguf), o->model, engine_device_available(),
                           &err))
        goto out;
    tok = tok_load(&m.gguf, &err);
    if (!tok)
        goto out;
    /* as llama-perplexity: BOS when the model adds one, no special tokens parsed */
    ids = encode_prompt(tok, o->prompt, tok_add_bos(tok), false, &n_ids, &err);
    if (!ids)
        goto out;

    uint32_t n_ctx = o->n_ctx;
    if (!n_ctx)
        n_ctx = bp ? bp->ctx : (m.cfg.ctx_train < 4096 ? m.cfg.ctx_train : 4096);
    if (bp && n_ctx > bp->ctx) {
        st_errf(&err, "strata", "-c", "at most the planned context (./configure --ctx N)",
                "%u (planned %u)", n_ctx, bp->ctx);
        goto out;
    }
    struct ppl_params pp = {n_ctx, o->n_chunks, tok_add_bos(tok) ? tok_bos(tok) : -1,
                            m.cfg.n_vocab, PLAN_PREFILL_TOKENS};
    uint32_t n_chunks = ppl_chunks(&pp, (size_t)n_ids, &err);
    if (!n_chunks)
        goto out;
    struct engine_opts eo = {n_ctx, o->n_threads, NULL, 0, 0};
    uint8_t test_tier[1024];
    if (!bp && stream_test_tiers(&eo, test_tier, m.cfg.n_layers, &err))
        goto out;
    if (bp) {
        eo.layer_tier = bp->layer_tier;
        eo.n_slots = bp->n_slots;
        eo.stream_type = bp->stream_type;
    }
    eng = engine_init(&m, &eo, &err);
    if (!eng)
        goto out;
    logits = malloc((size_t)pp.n_batch * pp.n_vocab * sizeof *logits);
    tbuf = malloc((size_t)pp.n_batch * sizeof *tbuf);
    if (!logits || !tbuf) {
        st_errmsg(&err, "strata: perplexity: out of memory");
        goto out;
    }

    fprintf(stderr, "perplexity: %s: %d tokens, %u chunks of n_ctx=%u, batch %u, engine %s\n",
            o->prompt_file ? o->prompt_file : "-p", n_ids, n_chunks, n_ctx, pp.n_batch,
            engine_backend());
    double t0 = now_s();
    struct ppl_result res;
    if (ppl_run(&pp, ppl_forward, eng, ids, (size_t)n_ids, logits, tbuf, ppl_print_chunk,
                NULL, &res, &err)) {
        putchar('\n');
        goto out;
    }
    double t = now_s() - t0;
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.err);
    fflush(stdout);
    fprintf(stderr, "perplexity: %u tokens scored; %u tokens evaluated in %.3f s: "
                    "%.1f tokens/s (load %.3f s)\n",
            (unsigned)res.count, res.n_chunks * n_ctx, t,
            t > 0 ? res.n_chunks * n_ctx / t : 0, t0 - t_start);
    rc = 0;
out:
    if (rc)
        fail(&err);
    free(logits);
    free(tbuf);
    free(ids);
    engine_free(eng);
    tok_free(tok);
    model_free(&m);
    return rc;
}

/* --plan: the plan this binary was configured with, as configure printed it. */
static int cmd_plan(void)
{
    const struct strata_builtin_plan *bp = strata_builtin_plan_ptr;
    if (!bp) {
        printf("no built-in plan: this is the host build (engine %s); ./configure && make "
               "builds one for a model and a machine\n", engine_backend());
        return 0;
    }
    fputs(bp->table, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_opts o;
    struct st_err err = {""};
    if (cli_parse(&o, argc, argv, &err))
        return fail(&err);
    int rc = 0;
    switch (o.cmd) {
    case CLI_HELP: cli_usage(stdout); break;
    case CLI_VERSION: printf("strata %s\n", STRATA_VERSION); break;
    case CLI_INFO: rc = cmd_info(&o); break;
    case CLI_TOKENIZE: rc = cmd_tokenize(&o); break;
    case CLI_PERPLEXITY: rc = cmd_perplexity(&o); break;
    case CLI_GENERATE:
        if (o.plan)
            rc = cmd_plan();
        else
            rc = cmd_generate(&o);
        break;
    }
    cli_free(&o);
    return rc;
}
