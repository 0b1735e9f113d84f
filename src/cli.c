/* cli.c - parsing the strata command line (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum opt_id {
    O_MODEL, O_PROMPT, O_FILE, O_N_PREDICT, O_CTX, O_THREADS, O_SEED,
    O_TEMP, O_TOP_K, O_TOP_P, O_MIN_P, O_REPEAT_PENALTY, O_REPEAT_LAST_N,
    O_CHAT, O_CHAT_TEMPLATE, O_SYSTEM, O_STATS, O_SPECIAL, O_NO_DISPLAY,
    O_IDS, O_NO_BOS, O_HELP, O_IGNORE_EOS, O_PROMPT_TOKENS, O_STATS_FILE, O_LOGITS_FILE,
    O_PLAN, O_CHUNKS,
};

#define GEN (1u << CLI_GENERATE)
#define TOK (1u << CLI_TOKENIZE)
#define INF (1u << CLI_INFO)
#define PPL (1u << CLI_PERPLEXITY)

struct opt_def {
    enum opt_id id;
    const char *names[3]; /* spellings, NULL-padded */
    bool takes_value;
    unsigned cmds;        /* commands that accept it */
};

static const struct opt_def opts[] = {
    {O_MODEL, {"-m", "--model"}, true, GEN | TOK | INF | PPL},
    {O_PROMPT, {"-p", "--prompt"}, true, GEN | TOK | PPL},
    {O_FILE, {"-f", "--file"}, true, GEN | TOK | PPL},
    {O_N_PREDICT, {"-n", "--n-predict", "--predict"}, true, GEN},
    {O_CTX, {"-c", "--ctx-size"}, true, GEN | PPL},
    {O_THREADS, {"-t", "--threads"}, true, GEN | PPL},
    {O_SEED, {"-s", "--seed"}, true, GEN},
    {O_TEMP, {"--temp"}, true, GEN},
    {O_TOP_K, {"--top-k"}, true, GEN},
    {O_TOP_P, {"--top-p"}, true, GEN},
    {O_MIN_P, {"--min-p"}, true, GEN},
    {O_REPEAT_PENALTY, {"--repeat-penalty"}, true, GEN},
    {O_REPEAT_LAST_N, {"--repeat-last-n"}, true, GEN},
    {O_CHAT, {"--chat"}, false, GEN},
    {O_CHAT_TEMPLATE, {"--chat-template"}, true, GEN},
    {O_SYSTEM, {"-sys", "--system-prompt", "--system"}, true, GEN},
    {O_STATS, {"--stats"}, false, GEN},
    {O_SPECIAL, {"-sp", "--special"}, false, GEN},
    {O_NO_DISPLAY, {"--no-display-prompt"}, false, GEN},
    {O_IDS, {"--ids"}, false, TOK},
    {O_NO_BOS, {"--no-bos"}, false, TOK},
    {O_IGNORE_EOS, {"--ignore-eos"}, false, GEN},
    {O_PROMPT_TOKENS, {"--prompt-tokens"}, true, GEN},
    {O_STATS_FILE, {"--stats-file"}, true, GEN},
    {O_LOGITS_FILE, {"--logits-file"}, true, GEN},
    {O_PLAN, {"--plan"}, false, GEN},
    {O_CHUNKS, {"--chunks"}, true, PPL},
    {O_HELP, {"-h", "--help"}, false, GEN | TOK | INF | PPL},
};

static const char *const cmd_names[] = {"generate", "tokenize", "info", "version", "help",
                                        "perplexity"};

void cli_usage(FILE *out)
{
    fputs(
        "usage: strata [generate] -m FILE [-p TEXT | -f FILE] [options]\n"
        "       strata tokenize -m FILE [-p TEXT | -f FILE] [--ids] [--no-bos]\n"
        "       strata perplexity -m FILE -f TEXT [-c CTX] [--chunks N] [-t N]\n"
        "       strata info FILE\n"
        "       strata version\n"
        "\n"
        "generate options (defaults as llama.cpp, but a fixed seed):\n"
        "  -m, --model FILE          GGUF model\n"
        "  -p, --prompt TEXT         prompt (default: empty, BOS only)\n"
        "  -f, --file FILE           read the prompt from FILE\n"
        "  -n, --n-predict N         tokens to generate (128; -1: until the context is full)\n"
        "  -c, --ctx-size N          context length (0: the model's, at most 4096)\n"
        "  -t, --threads N           CPU threads (0: all cores)\n"
        "  -s, --seed N              sampling seed (default 42: runs repeat)\n"
        "      --temp F              temperature (0.8; <= 0: greedy)\n"
        "      --top-k N             keep the N most likely tokens (40; 0: off)\n"
        "      --top-p F             nucleus: keep probability mass F (0.95; 1: off)\n"
        "      --min-p F             drop tokens below F * p_max (0.05; 0: off)\n"
        "      --repeat-penalty F    penalize recent tokens (1.0: off)\n"
        "      --repeat-last-n N     penalty window (64; 0: off; -1: the context)\n"
        "      --chat                wrap the prompt in the model's chat template\n"
        "      --chat-template NAME  force llama3, chatml or llama2 (implies --chat)\n"
        "  -sys, --system-prompt TEXT  system message (implies --chat)\n"
        "  -sp, --special            print control tokens\n"
        "      --no-display-prompt   print the continuation only\n"
        "      --stats               prompt and generation tokens/s, weight GB/s (stderr)\n"
        "      --stats-file FILE     the same as KEY=value lines, with per-token times\n"
        "      --logits-file FILE    the logits after the prompt, one per line (tests)\n"
        "      --ignore-eos          keep generating past end-of-generation tokens\n"
        "      --prompt-tokens N     benchmark prompt: BOS then N-1 fixed token ids\n"
        "      --plan                print the plan this binary was built for, and exit\n"
        "\n"
        "tokenize options:\n"
        "      --ids                 print the ids as [1, 2, 3]\n"
        "      --no-bos              do not add BOS\n"
        "\n"
        "perplexity options (as llama-perplexity: chunks of CTX tokens from an empty\n"
        "cache, the second half of each scored):\n"
        "  -f, --file FILE           the text (at least 2 * CTX tokens)\n"
        "  -c, --ctx-size N          tokens per chunk (0: the model's, at most 4096)\n"
        "      --chunks N            the first N chunks only (-1, default: all)\n",
        out);
}

/* ---- values ---------------------------------------------------------------- */

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') /* strtoull would accept ' -1' and wrap it */
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

/* A finite number in [lo, hi] (lo_open: lo itself excluded). */
static int parse_f32(const char *s, double lo, double hi, bool lo_open, float *out)
{
    if (!*s)
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
        return -1;
    *out = (float)v;
    return 0;
}

static int bad_value(struct st_err *err, const char *flag, const char *val,
                     const char *expected)
{
    return st_errf(err, "strata", flag, expected, "'%s'", val);
}

/* Reads the whole prompt file; drops one trailing newline (llama.cpp's -f). */
static int read_prompt_file(struct cli_opts *o, const char *flag, const char *path,
                            struct st_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return st_errf(err, "strata", flag, "a readable prompt file", "'%s' (%s)",
                       path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return st_errmsg(err, "strata: %s: '%s': out of memory", flag, path);
        }
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (len < cap - 1)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return st_errf(err, "strata", flag, "a readable prompt file", "'%s' (read error)", path);
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    buf[len] = 0;
    free(o->prompt_buf);
    o->prompt_buf = buf;
    o->prompt = buf;
    o->prompt_file = path;
    return 0;
}

static int set_value(struct cli_opts *o, enum opt_id id, const char *flag,
                     const char *v, struct st_err *err)
{
    int64_t i;
    switch (id) {
    case O_MODEL: o->model = v; return 0;
    case O_PROMPT: o->prompt = v; return 0;
    case O_FILE: return read_prompt_file(o, flag, v, err);
    case O_SYSTEM: o->system = v; return 0;
    case O_N_PREDICT:
        if (parse_i64(v, -1, INT32_MAX, &i))
            return bad_value(err, flag, v, "an integer >= -1 (-1: until the context is full)");
        o->n_predict = (int32_t)i;
        return 0;
    case O_CTX:
        if (parse_i64(v, 0, 1 << 24, &i))
            return bad_value(err, flag, v, "an integer in [0, 16777216] (0: the model's)");
        o->n_ctx = (uint32_t)i;
        return 0;
    case O_THREADS:
        if (parse_i64(v, 0, 4096, &i))
            return bad_value(err, flag, v, "an integer in [0, 4096] (0: all cores)");
        o->n_threads = (int)i;
        return 0;
    case O_SEED:
        if (parse_u64(v, &o->sp.seed))
            return bad_value(err, flag, v, "an integer in [0, 18446744073709551615]");
        return 0;
    case O_TEMP:
        if (parse_f32(v, -1e30, 1e30, false, &o->sp.temp))
            return bad_value(err, flag, v, "a number (<= 0: greedy)");
        return 0;
    case O_TOP_K:
        if (parse_i64(v, 0, INT32_MAX, &i))
            return bad_value(err, flag, v, "an integer >= 0 (0: off)");
        o->sp.top_k = (int32_t)i;
        return 0;
    case O_TOP_P:
        if (parse_f32(v, 0, 1, false, &o->sp.top_p))
            return bad_value(err, flag, v, "a number in [0, 1]");
        return 0;
    case O_MIN_P:
        if (parse_f32(v, 0, 1, false, &o->sp.min_p))
            return bad_value(err, flag, v, "a number in [0, 1]");
        return 0;
    case O_REPEAT_PENALTY:
        if (parse_f32(v, 0, 1e30, true, &o->sp.repeat_penalty))
            return bad_value(err, flag, v, "a number > 0 (1: off)");
        return 0;
    case O_REPEAT_LAST_N:
        if (parse_i64(v, -1, INT32_MAX, &i))
            return bad_value(err, flag, v, "an integer >= -1 (0: off, -1: the context size)");
        o->sp.repeat_last_n = (int32_t)i;
        return 0;
    case O_PROMPT_TOKENS:
        if (parse_i64(v, 1, 1 << 24, &i))
            return bad_value(err, flag, v, "an integer in [1, 16777216]");
        o->prompt_tokens = (int32_t)i;
        return 0;
    case O_CHUNKS:
        if (parse_i64(v, -1, INT32_MAX, &i) || i == 0)
            return bad_value(err, flag, v, "an integer >= 1, or -1 (all)");
        o->n_chunks = (int32_t)i;
        return 0;
    case O_STATS_FILE: o->stats_file = v; return 0;
    case O_LOGITS_FILE: o->logits_file = v; return 0;
    case O_CHAT_TEMPLATE:
        o->chat_tmpl = chat_tmpl_from_name(v);
        if (o->chat_tmpl == CHAT_TMPL_NONE)
            return bad_value(err, flag, v, "llama3, chatml or llama2");
        return 0;
    default:
        return 0;
    }
}

static void set_flag(struct cli_opts *o, enum opt_id id)
{
    switch (id) {
    case O_CHAT: o->chat = true; break;
    case O_STATS: o->stats = true; break;
    case O_SPECIAL: o->special = true; break;
    case O_NO_DISPLAY: o->no_display_prompt = true; break;
    case O_IDS: o->ids = true; break;
    case O_NO_BOS: o->no_bos = true; break;
    case O_HELP: o->cmd = CLI_HELP; break;
    case O_IGNORE_EOS: o->ignore_eos = true; break;
    case O_PLAN: o->plan = true; break;
    default: break;
    }
}

static const struct opt_def *find_opt(const char *arg)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        for (int j = 0; j < 3 && opts[i].names[j]; j++)
            if (strcmp(arg, opts[i].names[j]) == 0)
                return &opts[i];
    return NULL;
}

static void defaults(struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cmd = CLI_GENERATE;
    o->prompt = "";
    o->n_predict = 128;
    o->n_ctx = 0;
    o->n_threads = 0;
    sampler_params_default(&o->sp);
    o->chat_tmpl = CHAT_TMPL_NONE;
    o->n_chunks = -1;
}

static int parse_args(struct cli_opts *o, int argc, char *const *argv, struct st_err *err)
{
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        const char *c = argv[i++];
        if (strcmp(c, "generate") == 0)
            o->cmd = CLI_GENERATE;
        else if (strcmp(c, "tokenize") == 0)
            o->cmd = CLI_TOKENIZE;
        else if (strcmp(c, "info") == 0)
            o->cmd = CLI_INFO;
        else if (strcmp(c, "version") == 0)
            o->cmd = CLI_VERSION;
        else if (strcmp(c, "help") == 0)
            o->cmd = CLI_HELP;
        else if (strcmp(c, "perplexity") == 0)
            o->cmd = CLI_PERPLEXITY;
        else
            return st_errf(err, "strata", "command",
                           "generate, tokenize, perplexity, info or version (or an option: strata --help)",
                           "'%s'", c);
    }
    enum cli_cmd cmd = o->cmd;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (cmd == CLI_INFO && a[0] != '-' && !o->model) {
            o->model = a; /* strata info FILE */
            continue;
        }
        if (cmd == CLI_VERSION || cmd == CLI_HELP)
            return st_errf(err, "strata", cmd_names[cmd], "no arguments", "'%s'", a);
        if (a[0] != '-')
            return st_errf(err, "strata", "argument", "an option (strata --help lists them)",
                           "'%s'", a);
        const struct opt_def *d = find_opt(a);
        if (!d)
            return st_errf(err, "strata", a, "an option of strata --help", "an unknown option");
        if (!(d->cmds & (1u << cmd)))
            return st_errf(err, "strata", a, "an option of this command (strata --help)",
                           "an option that strata %s does not take", cmd_names[cmd]);
        if (d->takes_value) {
            if (i + 1 >= argc)
                return st_errf(err, "strata", a, "a value after it", "nothing");
            if (set_value(o, d->id, a, argv[++i], err))
                return -1;
        } else {
            set_flag(o, d->id);
        }
    }
    if (o->cmd == CLI_HELP)
        return 0;
    if (o->cmd == CLI_INFO && !o->model)
        return st_errf(err, "strata", "info", "a GGUF file (strata info FILE)", "nothing");
    if ((o->cmd == CLI_GENERATE || o->cmd == CLI_TOKENIZE) && !o->model && !o->plan)
        return st_errf(err, "strata", "-m", "a model file (-m FILE)", "nothing");
    if (o->cmd == CLI_PERPLEXITY && !o->model)
        return st_errf(err, "strata", "-m", "a model file (-m FILE)", "nothing");
    if (o->cmd == CLI_PERPLEXITY && !o->prompt_file && !*o->prompt)
        return st_errf(err, "strata", "-f", "a text file to score (-f FILE)", "nothing");
    /* A system prompt or a forced template only mean something in a chat. */
    if (o->system || o->chat_tmpl != CHAT_TMPL_NONE)
        o->chat = true;
    return 0;
}

int cli_parse(struct cli_opts *o, int argc, char *const *argv, struct st_err *err)
{
    defaults(o);
    if (parse_args(o, argc, argv, err)) {
        cli_free(o);
        return -1;
    }
    return 0;
}

void cli_free(struct cli_opts *o)
{
    free(o->prompt_buf);
    o->prompt_buf = NULL;
    if (o->prompt_file) {
        o->prompt = "";
        o->prompt_file = NULL;
    }
}
