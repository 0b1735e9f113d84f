/* tok_pretok.c - BPE pre-tokenizers: the regexes of llama.cpp's
 * llm_tokenizer_bpe, as hand-written matchers over code points.
 *
 * A pre-tokenizer is a chain of stages. Each stage splits the span it is
 * given into pieces (the matches of its regex and the text between them)
 * and hands every piece to the next stage; the last stage's pieces are the
 * words. Everything works on byte offsets into the caller's text and
 * allocates nothing. Lookahead never crosses the end of the span being
 * split, as llama.cpp's splitters do not look past their piece either. */
#include <string.h>

#include "unicode.h"

/* ---- the chain ---------------------------------------------------------- */

struct chain;
typedef int (*stage_fn)(const char *s, size_t a, size_t b, const struct chain *c);

struct chain {
    const stage_fn *stages; /* the stages still to run */
    int n_stages;
    pretok_word_fn word;
    void *ctx;
};

/* Passes s[a..b) to the next stage, or to the caller after the last. */
static int chain_next(const struct chain *c, const char *s, size_t a, size_t b)
{
    if (a >= b)
        return 0;
    if (c->n_stages == 0)
        return c->word(c->ctx, s, a, b);
    struct chain rest = {c->stages + 1, c->n_stages - 1, c->word, c->ctx};
    return c->stages[0](s, a, b, &rest);
}

/* ---- code points inside a span ------------------------------------------ */

/* Code point at byte pos of a span ending at b; *n gets its length (0 and
 * UC_OUT past the end). */
static uint32_t cp_at(const char *s, size_t pos, size_t b, size_t *n)
{
    if (pos >= b) {
        *n = 0;
        return UC_OUT;
    }
    return utf8_decode(s + pos, b - pos, n);
}

static unsigned flags_at(const char *s, size_t pos, size_t b)
{
    size_t n;
    return uc_flags(cp_at(s, pos, b, &n));
}

/* [^\s\p{L}\p{N}]: any code point that is not whitespace, letter, number. */
static bool is_other(unsigned f)
{
    return (f & UC_F_IN) && !(f & (UC_F_SPACE | UC_F_LETTER | UC_F_NUMBER));
}

/* End of the run of code points starting at pos whose flags all have one
 * of the bits in mask (mask 0: the "other" class). */
static size_t run_end(const char *s, size_t pos, size_t b, unsigned mask)
{
    while (pos < b) {
        size_t n;
        unsigned f = uc_flags(cp_at(s, pos, b, &n));
        if (mask ? !(f & mask) : !is_other(f))
            break;
        pos += n;
    }
    return pos;
}

static uint32_t ascii_lower(uint32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
}

/* 's|'t|'re|'ve|'m|'ll|'d at pos (case-insensitive when fold): returns the
 * end of the match, or pos. */
static size_t contraction_end(const char *s, size_t pos, size_t b, bool fold)
{
    size_t n0, n1, n2;
    if (cp_at(s, pos, b, &n0) != '\'')
        return pos;
    uint32_t c1 = cp_at(s, pos + n0, b, &n1);
    uint32_t c2 = cp_at(s, pos + n0 + n1, b, &n2);
    if (fold) {
        c1 = ascii_lower(c1);
        c2 = ascii_lower(c2);
    }
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return pos + n0 + n1;
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return pos + n0 + n1 + n2;
    return pos;
}

/* A run of whitespace from pos: its end, the start of its last code point,
 * its length in code points and the end of its last \r or \n (0: none). */
struct ws_run {
    size_t end, last, count, rn_end;
};

static struct ws_run ws_scan(const char *s, size_t pos, size_t b)
{
    struct ws_run w = {pos, pos, 0, 0};
    while (w.end < b) {
        size_t n;
        uint32_t cp = cp_at(s, w.end, b, &n);
        if (!(uc_flags(cp) & UC_F_SPACE))
            break;
        if (cp == '\r' || cp == '\n')
            w.rn_end = w.end + n;
        w.last = w.end;
        w.end += n;
        w.count++;
    }
    return w;
}

/* ---- GPT-2 ---------------------------------------------------------------
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */

static size_t gpt2_match(const char *s, size_t pos, size_t b)
{
    size_t n, e = contraction_end(s, pos, b, false);
    if (e > pos)
        return e;
    uint32_t cp = cp_at(s, pos, b, &n);
    /* " ?X+": an optional leading space joins the run after it */
    size_t p = cp == ' ' ? pos + n : pos;
    unsigned f2 = flags_at(s, p, b);
    if (f2 & UC_F_LETTER)
        return run_end(s, p, b, UC_F_LETTER);
    if (f2 & UC_F_NUMBER)
        return run_end(s, p, b, UC_F_NUMBER);
    if (is_other(f2))
        return run_end(s, p, b, 0);
    struct ws_run w = ws_scan(s, pos, b);
    if (w.count > 1 && w.end < b) /* \s+(?!\S): leave the last one to the next word */
        return w.last;
    if (w.count > 0)
        return w.end;
    return pos + n; /* nothing matched: the code point alone */
}

/* ---- Llama 3 / Qwen2 -----------------------------------------------------
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+       (D = 3 or 1) */

static size_t llama3_match(const char *s, size_t pos, size_t b, int max_digits)
{
    size_t n, e = contraction_end(s, pos, b, true);
    if (e > pos)
        return e;
    uint32_t cp = cp_at(s, pos, b, &n);
    unsigned f = uc_flags(cp);
    if (!(cp == '\r' || cp == '\n' || (f & UC_F_NUMBER)) &&
        ((f & UC_F_LETTER) || (flags_at(s, pos + n, b) & UC_F_LETTER)))
        return run_end(s, pos + n, b, UC_F_LETTER);
    if (f & UC_F_NUMBER) {
        e = pos;
        for (int k = 0; k < max_digits && (flags_at(s, e, b) & UC_F_NUMBER); k++) {
            size_t m;
            cp_at(s, e, b, &m);
            e += m;
        }
        return e;
    }
    size_t p = cp == ' ' ? pos + n : pos;
    if (!(flags_at(s, p, b) & (UC_F_SPACE | UC_F_LETTER | UC_F_NUMBER))) {
        e = run_end(s, p, b, 0);
        for (size_t m; e < b;) {
            uint32_t c2 = cp_at(s, e, b, &m);
            if (c2 != '\r' && c2 != '\n')
                break;
            e += m;
        }
        return e;
    }
    struct ws_run w = ws_scan(s, pos, b);
    if (w.rn_end) /* \s*[\r\n]+ ends at the last line break of the run */
        return w.rn_end;
    if (w.count > 1 && w.end < b)
        return w.last;
    if (w.count > 0)
        return w.end;
    return pos + n;
}

/* Splits a span into consecutive matches of a whole-pattern matcher. */
static int split_all(const char *s, size_t a, size_t b, const struct chain *c,
                     size_t (*match)(const char *, size_t, size_t, int), int arg)
{
    for (size_t pos = a; pos < b;) {
        size_t e = match(s, pos, b, arg);
        int rc = chain_next(c, s, pos, e);
        if (rc)
            return rc;
        pos = e;
    }
    return 0;
}

static size_t gpt2_match_arg(const char *s, size_t pos, size_t b, int unused)
{
    (void)unused;
    return gpt2_match(s, pos, b);
}

static int stage_gpt2(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_all(s, a, b, c, gpt2_match_arg, 0);
}

static int stage_llama3(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_all(s, a, b, c, llama3_match, 3);
}

static int stage_qwen2(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_all(s, a, b, c, llama3_match, 1);
}

/* ---- regex splits with gaps ----------------------------------------------
 * For the simple patterns of the multi-stage lists: the matches and the
 * text between them are pieces (llama.cpp's unicode_regex_split_stl). */

typedef size_t (*find_fn)(const char *s, size_t pos, size_t b); /* end, or pos */

static int split_gaps(const char *s, size_t a, size_t b, const struct chain *c,
                      find_fn match)
{
    size_t gap = a, pos = a;
    int rc;
    while (pos < b) {
        size_t e = match(s, pos, b);
        if (e > pos) {
            if ((rc = chain_next(c, s, gap, pos)) || (rc = chain_next(c, s, pos, e)))
                return rc;
            pos = gap = e;
        } else {
            size_t n;
            cp_at(s, pos, b, &n);
            pos += n;
        }
    }
    return chain_next(c, s, gap, b);
}

/* \p{N} */
static size_t find_number(const char *s, size_t pos, size_t b)
{
    size_t n;
    return (uc_flags(cp_at(s, pos, b, &n)) & UC_F_NUMBER) ? pos + n : pos;
}

/* \p{N}+ */
static size_t find_numbers(const char *s, size_t pos, size_t b)
{
    return run_end(s, pos, b, UC_F_NUMBER);
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t find_punct(const char *s, size_t pos, size_t b)
{
    while (pos < b) {
        size_t n;
        uint32_t cp = cp_at(s, pos, b, &n);
        if (!(uc_flags(cp) & UC_F_PUNCT) && !(cp && cp < 0x80 && strchr("$+<=>^~|", (int)cp)))
            break;
        pos += n;
    }
    return pos;
}

/* [0-9][0-9][0-9] */
static size_t find_3digits(const char *s, size_t pos, size_t b)
{
    for (int k = 0; k < 3; k++)
        if (pos + (size_t)k >= b || s[pos + k] < '0' || s[pos + k] > '9')
            return pos;
    return pos + 3;
}

static int stage_each_number(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_gaps(s, a, b, c, find_number);
}

static int stage_numbers(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_gaps(s, a, b, c, find_numbers);
}

static int stage_punct(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_gaps(s, a, b, c, find_punct);
}

static int stage_3digits(const char *s, size_t a, size_t b, const struct chain *c)
{
    return split_gaps(s, a, b, c, find_3digits);
}

/* ---- the pre-tokenizers ------------------------------------------------- */

static const stage_fn chain_default[] = {stage_punct, stage_gpt2, stage_numbers,
                                         stage_3digits};
static const stage_fn chain_gpt2[] = {stage_gpt2};
static const stage_fn chain_smollm[] = {stage_each_number, stage_gpt2};
static const stage_fn chain_llama3[] = {stage_llama3};
static const stage_fn chain_qwen2[] = {stage_qwen2};

int pretok_split(enum pretok_kind kind, const char *text, size_t len,
                 pretok_word_fn fn, void *ctx)
{
    struct chain c = {chain_default, 4, fn, ctx};
    switch (kind) {
    case PRETOK_DEFAULT: break;
    case PRETOK_GPT2: c.stages = chain_gpt2; c.n_stages = 1; break;
    case PRETOK_SMOLLM: c.stages = chain_smollm; c.n_stages = 2; break;
    case PRETOK_LLAMA3: c.stages = chain_llama3; c.n_stages = 1; break;
    case PRETOK_QWEN2: c.stages = chain_qwen2; c.n_stages = 1; break;
    }
    return chain_next(&c, text, 0, len);
}

/* tokenizer.ggml.pre values and what llama.cpp (llama-vocab.cpp) does with
 * them; names sharing a regex list share a kind. */
static const struct {
    const char *pre;
    enum pretok_kind kind;
    bool ignore_merges, add_bos;
} pretok_names[] = {
    {"default", PRETOK_DEFAULT, false, false},
    {"llama3", PRETOK_LLAMA3, true, true},
    {"llama-v3", PRETOK_LLAMA3, true, true},
    {"llama-bpe", PRETOK_LLAMA3, true, true},
    {"falcon3", PRETOK_LLAMA3, true, true},
    {"falcon-h1", PRETOK_LLAMA3, true, true},
    {"pixtral", PRETOK_LLAMA3, true, true},
    {"midm-2.0", PRETOK_LLAMA3, true, true},
    {"lfm2", PRETOK_LLAMA3, true, true},
    {"dbrx", PRETOK_LLAMA3, false, false},
    {"smaug-bpe", PRETOK_LLAMA3, false, false},
    {"qwen2", PRETOK_QWEN2, false, false},
    {"deepseek-r1-qwen", PRETOK_QWEN2, false, false},
    {"megrez", PRETOK_QWEN2, false, false},
    {"stablelm2", PRETOK_QWEN2, false, false},
    {"hunyuan", PRETOK_QWEN2, false, false},
    {"smollm", PRETOK_SMOLLM, false, false},
    {"starcoder", PRETOK_SMOLLM, false, false},
    {"refact", PRETOK_SMOLLM, false, false},
    {"command-r", PRETOK_SMOLLM, false, false},
    {"codeshell", PRETOK_SMOLLM, false, false},
    {"exaone", PRETOK_SMOLLM, false, false},
    {"minerva-7b", PRETOK_SMOLLM, false, false},
    {"gpt-2", PRETOK_GPT2, false, false},
    {"phi-2", PRETOK_GPT2, false, false},
    {"mpt", PRETOK_GPT2, false, false},
    {"olmo", PRETOK_GPT2, false, false},
    {"jais", PRETOK_GPT2, false, false},
    {"trillion", PRETOK_GPT2, false, false},
    {"exaone4", PRETOK_GPT2, false, false},
    {"jina-es", PRETOK_GPT2, false, false},
    {"jina-de", PRETOK_GPT2, false, false},
    {"jina-v2-es", PRETOK_GPT2, false, false},
    {"jina-v2-de", PRETOK_GPT2, false, false},
    {"gigachat", PRETOK_GPT2, false, false},
};

static const char *pretok_kind_name(enum pretok_kind k)
{
    switch (k) {
    case PRETOK_GPT2: return "gpt2";
    case PRETOK_SMOLLM: return "smollm";
    case PRETOK_LLAMA3: return "llama3";
    case PRETOK_QWEN2: return "qwen2";
    default: return "default";
    }
}

struct pretok_info pretok_lookup(const char *pre)
{
    struct pretok_info info = {PRETOK_DEFAULT, false, false, false, "default"};
    if (!pre)
        return info;
    for (size_t i = 0; i < sizeof pretok_names / sizeof pretok_names[0]; i++) {
        if (strcmp(pre, pretok_names[i].pre) == 0) {
            info.kind = pretok_names[i].kind;
            info.known = true;
            info.ignore_merges = pretok_names[i].ignore_merges;
            info.add_bos = pretok_names[i].add_bos;
            break;
        }
    }
    info.name = pretok_kind_name(info.kind);
    return info;
}
