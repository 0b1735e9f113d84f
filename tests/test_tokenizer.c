/* test_tokenizer.c - both tokenizers against llama.cpp's ids.
 *
 * The reference lists are copied from ../shared/models/README.md (produced
 * by llama.cpp): the tokenizer outputs of the three vocabularies and the
 * prompt_ids of the greedy-continuation references. The stories vocabulary
 * is bundled (models/stories260K.gguf) so its cases always run; the
 * SmolLM2 BPE vocabularies (zoo-*.gguf) are SKIPPED without the shared
 * models. Other expected values come from the formats themselves: the
 * stories vocabulary puts <0xNN> at id 3 + NN, and GPT-2's byte mapping is
 * worked out by hand below. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "unicode.h"
#include "util.h"

struct tok_case {
    const char *text;
    int n;
    int32_t ids[40];
};

/* ---- loading ------------------------------------------------------------ */

static struct gguf_file g_file;

static struct tokenizer *open_tok(const char *path)
{
    struct st_err err = {""};
    memset(&g_file, 0, sizeof g_file);
    if (gguf_open(&g_file, path, &err) != 0) {
        CU_FAIL_FATAL("gguf_open failed");
        return NULL;
    }
    struct tokenizer *t = tok_load(&g_file, &err);
    if (!t)
        fprintf(stderr, "\n  tok_load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(t);
    return t;
}

static void close_tok(struct tokenizer *t)
{
    tok_free(t);
    gguf_close(&g_file);
}

/* Opens a shared model, or prints SKIPPED and returns NULL. */
static struct tokenizer *open_shared(const char *file, const char *what)
{
    const char *path = test_shared_model(file);
    if (!path) {
        test_skip(what, "shared model absent");
        return NULL;
    }
    return open_tok(path);
}

static bool ids_equal(const struct tokenizer *t, const char *text, bool add_bos,
                      bool special, const int32_t *want, int n_want)
{
    int32_t got[512];
    int n = tok_encode(t, text, strlen(text), add_bos, special, got, 512);
    bool ok = n == n_want && memcmp(got, want, (size_t)n * sizeof *got) == 0;
    if (!ok) {
        fprintf(stderr, "\n  \"%s\": got %d [", text, n);
        for (int i = 0; i < n; i++)
            fprintf(stderr, "%s%d", i ? ", " : "", got[i]);
        fprintf(stderr, "], want %d [", n_want);
        for (int i = 0; i < n_want; i++)
            fprintf(stderr, "%s%d", i ? ", " : "", want[i]);
        fprintf(stderr, "]\n");
    }
    return ok;
}

static void check_cases(const struct tokenizer *t, const struct tok_case *c, size_t n,
                        bool add_bos)
{
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(ids_equal(t, c[i].text, add_bos, false, c[i].ids, c[i].n));
}

/* ---- the references (../shared/models/README.md) ------------------------ */

static const struct tok_case stories_cases[] = {
    {"Hello world", 6, {346, 306, 414, 263, 304, 341}},
    {" Hello world", 7, {410, 346, 306, 414, 263, 304, 341}},
    {"Once upon a time, there was a little girl.", 13,
     {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 426}},
    {"The year 2026 has 365 days.", 18,
     {291, 348, 411, 295, 410, 479, 477, 479, 490, 300, 419, 410, 472, 490, 480, 328, 419, 426}},
    {"tabs\tand\nnewlines", 14, {259, 412, 430, 419, 12, 412, 264, 13, 416, 411, 424, 421, 271, 406}},
    {"café naïve résumé", 15, {280, 412, 431, 485, 297, 412, 198, 178, 360, 352, 485, 419, 425, 423, 485}},
    {"don't stop-believing!!", 17,
     {279, 289, 439, 413, 349, 414, 427, 464, 430, 411, 421, 417, 411, 435, 299, 443, 443}},
    {"    indented code();", 16,
     {410, 410, 410, 410, 410, 417, 264, 377, 266, 280, 414, 418, 411, 489, 488, 474}},
};

/* prompt_ids of the continuation references: BOS included */
static const struct tok_case stories_prompts[] = {
    {"Once upon a time", 5, {1, 403, 407, 261, 378}},
    {"The little dog", 5, {1, 291, 376, 400, 428}},
};

/* Identical for zoo-llama-bpe (pre "smollm") and zoo-qwen2-bpe (pre
 * "qwen2"): both carry the SmolLM2 vocabulary, and these texts split the
 * same way under both pre-tokenizers. */
static const struct tok_case smollm_cases[] = {
    {"Hello world", 2, {19556, 905}},
    {" Hello world", 2, {38699, 905}},
    {"Once upon a time, there was a little girl.", 11,
     {6403, 1980, 253, 655, 28, 665, 436, 253, 1838, 8180, 30}},
    {"The year 2026 has 365 days.", 14, {504, 713, 216, 34, 32, 34, 38, 553, 216, 35, 38, 37, 2009, 30}},
    {"tabs\tand\nnewlines", 7, {100, 7366, 197, 397, 198, 2241, 5110}},
    {"café naïve résumé", 9, {83, 1939, 2756, 15486, 46494, 412, 2756, 5422, 2756}},
    {"don't stop-believing!!", 7, {12420, 982, 2853, 29, 23282, 1103, 10095}},
    {"    indented code();", 5, {333, 641, 6574, 2909, 35040}},
};

/* prompt_ids of the zoo continuation references: no BOS (add_bos false) */
static const struct tok_case smollm_prompts[] = {
    {"Hello world, this is a test.", 8, {19556, 905, 28, 451, 314, 253, 1028, 30}},
    {"The capital of France is", 5, {504, 3575, 282, 4649, 314}},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- SentencePiece (stories260K, bundled) ------------------------------- */

static void test_stories_references(void)
{
    struct tokenizer *t = open_tok(test_bundled_model());
    if (!t)
        return;
    CU_ASSERT_EQUAL(tok_n_vocab(t), 512);
    CU_ASSERT_EQUAL(tok_bos(t), 1);
    CU_ASSERT_EQUAL(tok_eos(t), 2);
    CU_ASSERT_TRUE(tok_add_bos(t)); /* SentencePiece default; the file has no key */
    check_cases(t, stories_cases, N_OF(stories_cases), false);
    check_cases(t, stories_prompts, N_OF(stories_prompts), tok_add_bos(t));
    close_tok(t);
}

/* The quantized copies carry the same vocabulary: their prompt_ids too. */
static void test_stories_variants_prompts(void)
{
    static const char *files[] = {"stories260K.gguf", "stories260K-q8_0.gguf",
                                  "stories260K-q4_0.gguf", "stories260K-f16.gguf",
                                  "stories260K-bf16.gguf"};
    for (size_t i = 0; i < N_OF(files); i++) {
        struct tokenizer *t = open_shared(files[i], "tokenizer/stories variants");
        if (!t)
            return;
        check_cases(t, stories_prompts, N_OF(stories_prompts), tok_add_bos(t));
        close_tok(t);
    }
}

static void test_stories_edge_cases(void)
{
    struct tokenizer *t = open_tok(test_bundled_model());
    if (!t)
        return;
    int32_t ids[16];
    /* empty text: nothing, or BOS alone (no space prefix without text) */
    CU_ASSERT_EQUAL(tok_encode(t, "", 0, false, false, ids, 16), 0);
    CU_ASSERT_EQUAL(tok_encode(t, "", 0, true, false, ids, 16), 1);
    CU_ASSERT_EQUAL(ids[0], 1);
    /* "ï" (C3 AF) is not in the vocabulary: "▁" (410), then <0xC3> <0xAF>
     * at 3 + byte */
    static const int32_t i_diaeresis[] = {410, 3 + 0xC3, 3 + 0xAF};
    CU_ASSERT(ids_equal(t, "\xC3\xAF", false, false, i_diaeresis, 3));
    /* a 4-byte emoji falls back to four byte tokens */
    static const int32_t grin[] = {410, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80};
    CU_ASSERT(ids_equal(t, "\xF0\x9F\x98\x80", false, false, grin, 5));
    /* too small an output buffer: -1, never a partial count */
    CU_ASSERT_EQUAL(tok_encode(t, "Hello world", 11, false, false, ids, 3), -1);
    /* "<s>" is a control token: parsed only when asked; a special token is
     * followed by a space prefix, as in llama.cpp */
    static const int32_t bos_once[] = {1, 403, 407};
    CU_ASSERT(ids_equal(t, "<s>Once upon", false, true, bos_once, 3));
    int32_t spelled[16];
    int n = tok_encode(t, "<s>", 3, false, false, spelled, 16);
    CU_ASSERT(n > 1);
    for (int i = 0; i < n; i++)
        CU_ASSERT_NOT_EQUAL(spelled[i], 1);
    CU_ASSERT_TRUE(tok_is_eog(t, 2));
    CU_ASSERT_FALSE(tok_is_eog(t, 1));
    CU_ASSERT_EQUAL(tok_find(t, "\xE2\x96\x81"), 410);
    CU_ASSERT_EQUAL(tok_find(t, "no such token"), -1);
    close_tok(t);
}

static void test_stories_pieces(void)
{
    struct tokenizer *t = open_tok(test_bundled_model());
    if (!t)
        return;
    size_t n;
    const char *p = tok_piece(t, 410, false, &n); /* "▁" */
    CU_ASSERT(n == 1 && p[0] == ' ');
    p = tok_piece(t, 3 + 0x0A, false, &n); /* <0x0A> */
    CU_ASSERT(n == 1 && p[0] == '\n');
    p = tok_piece(t, 1, false, &n); /* <s>: control */
    CU_ASSERT_EQUAL(n, 0);
    p = tok_piece(t, 1, true, &n);
    CU_ASSERT(n == 3 && memcmp(p, "<s>", 3) == 0);
    p = tok_piece(t, 99999, true, &n);
    CU_ASSERT_EQUAL(n, 0);

    /* decoding the encoding gives the text back, with the prefix space */
    static const char *texts[] = {"Once upon a time, there was a little girl.",
                                  "café naïve résumé", "tabs\tand\nnewlines", "x \xF0\x9F\x98\x80 y"};
    for (size_t k = 0; k < N_OF(texts); k++) {
        int32_t ids[128];
        char out[256];
        size_t m = 0;
        int c = tok_encode(t, texts[k], strlen(texts[k]), false, false, ids, 128);
        CU_ASSERT(c > 0);
        for (int i = 0; i < c; i++) {
            p = tok_piece(t, ids[i], false, &n);
            memcpy(out + m, p, n);
            m += n;
        }
        CU_ASSERT(m == strlen(texts[k]) + 1 && out[0] == ' ' &&
                  memcmp(out + 1, texts[k], m - 1) == 0);
    }
    close_tok(t);
}

/* A 4-byte character split over byte tokens comes out whole, once. */
static void check_stream_split(const struct tokenizer *t, const int32_t *bytes_ids)
{
    struct tok_decoder dec = {{0}, 0};
    char out[64];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(tok_decode_stream(t, &dec, bytes_ids[i], out, sizeof out), 0);
    size_t n = tok_decode_stream(t, &dec, bytes_ids[3], out, sizeof out);
    CU_ASSERT(n == 4 && memcmp(out, "\xF0\x9F\x98\x80", 4) == 0);
    CU_ASSERT_EQUAL(dec.n_held, 0);
}

static void test_stories_stream(void)
{
    struct tokenizer *t = open_tok(test_bundled_model());
    if (!t)
        return;
    static const int32_t grin[] = {3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80};
    check_stream_split(t, grin);

    /* an ASCII token after a lone lead byte: the broken byte is let out
     * with it rather than held forever */
    struct tok_decoder dec = {{0}, 0};
    char out[64];
    CU_ASSERT_EQUAL(tok_decode_stream(t, &dec, 3 + 0xC3, out, sizeof out), 0);
    size_t n = tok_decode_stream(t, &dec, 3 + 'A', out, sizeof out);
    CU_ASSERT(n == 2 && (unsigned char)out[0] == 0xC3 && out[1] == 'A');
    /* control tokens print nothing */
    CU_ASSERT_EQUAL(tok_decode_stream(t, &dec, 1, out, sizeof out), 0);
    close_tok(t);
}

/* ---- byte-level BPE (SmolLM2 vocabulary) -------------------------------- */

static void check_bpe_model(const char *file, const char *what)
{
    struct tokenizer *t = open_shared(file, what);
    if (!t)
        return;
    CU_ASSERT_EQUAL(tok_n_vocab(t), 49152);
    CU_ASSERT_FALSE(tok_add_bos(t)); /* tokenizer.ggml.add_bos_token = false */
    check_cases(t, smollm_cases, N_OF(smollm_cases), false);
    check_cases(t, smollm_prompts, N_OF(smollm_prompts), tok_add_bos(t));
    close_tok(t);
}

static void test_smollm_references(void)
{
    check_bpe_model("zoo-llama-bpe.gguf", "tokenizer/smollm references");
}

static void test_qwen2_references(void)
{
    check_bpe_model("zoo-qwen2-bpe.gguf", "tokenizer/qwen2 references");
}

/* Special tokens in the text, the chat markup of SmolLM2. */
static void test_bpe_special_tokens(void)
{
    struct tokenizer *t = open_shared("zoo-llama-bpe.gguf", "tokenizer/bpe special tokens");
    if (!t)
        return;
    /* "<|im_start|>" is control token 1; "user" is 4093 */
    static const int32_t im_user[] = {1, 4093};
    CU_ASSERT(ids_equal(t, "<|im_start|>user", false, true, im_user, 2));
    int32_t ids[64];
    int n = tok_encode(t, "<|im_start|>user", 16, false, false, ids, 64);
    CU_ASSERT(n > 2);
    for (int i = 0; i < n; i++)
        CU_ASSERT_NOT_EQUAL(ids[i], 1);
    /* text around and between specials is tokenized on its own */
    static const int32_t chat[] = {1, 4093, 198, 19556, 905, 2, 198};
    CU_ASSERT(ids_equal(t, "<|im_start|>user\nHello world<|im_end|>\n", false, true, chat, 7));
    /* EOS (<|im_end|>, 2) and <|endoftext|> (0) end generation */
    CU_ASSERT_TRUE(tok_is_eog(t, 2));
    CU_ASSERT_TRUE(tok_is_eog(t, 0));
    CU_ASSERT_FALSE(tok_is_eog(t, 1));
    CU_ASSERT_FALSE(tok_is_eog(t, 4093));
    size_t len;
    tok_piece(t, 2, false, &len);
    CU_ASSERT_EQUAL(len, 0);
    const char *p = tok_piece(t, 2, true, &len);
    CU_ASSERT(len == 10 && memcmp(p, "<|im_end|>", 10) == 0);
    CU_ASSERT_EQUAL(tok_encode(t, "", 0, false, true, ids, 64), 0);
    close_tok(t);
}

static void test_bpe_round_trip(void)
{
    static const char *texts[] = {
        "Hello world",
        "  multiple   spaces  ",
        "tabs\tand\nnewlines\r\n\r\n",
        "café naïve résumé Ångström",
        "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!",
        "中文字符和日本語のテキスト、한국어",
        "numbers 1234567890 and 3.14159e-10",
        "don't I'LL we've 'quoted' \"double\"",
        "symbols <=> ^~| $100 +5 @user #tag",
        "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC",
        "\xE2\x80\x83\x65m\xE2\x80\x83space\xC2\xA0nbsp", /* \x65: "e", not a hex digit of \x83 */
    };
    static const char *files[] = {"zoo-llama-bpe.gguf", "zoo-qwen2-bpe.gguf"};
    for (size_t f = 0; f < N_OF(files); f++) {
        struct tokenizer *t = open_shared(files[f], "tokenizer/bpe round trip");
        if (!t)
            return;
        for (size_t k = 0; k < N_OF(texts); k++) {
            int32_t ids[256];
            char out[1024];
            size_t m = 0, len = strlen(texts[k]);
            int n = tok_encode(t, texts[k], len, false, false, ids, 256);
            CU_ASSERT(n > 0);
            for (int i = 0; i < n; i++) {
                size_t pn;
                const char *p = tok_piece(t, ids[i], false, &pn);
                memcpy(out + m, p, pn);
                m += pn;
            }
            bool ok = m == len && memcmp(out, texts[k], len) == 0;
            if (!ok)
                fprintf(stderr, "\n  %s: round trip of \"%s\" gave \"%.*s\"\n", files[f],
                        texts[k], (int)m, out);
            CU_ASSERT(ok);

            /* streaming gives the same bytes, each call whole characters */
            struct tok_decoder dec = {{0}, 0};
            char sout[1024];
            size_t sm = 0;
            for (int i = 0; i < n; i++) {
                char piece[256];
                size_t pn = tok_decode_stream(t, &dec, ids[i], piece, sizeof piece);
                /* no call ends inside a character */
                if (pn) {
                    size_t j = pn;
                    while (j > 0 && ((unsigned char)piece[j - 1] & 0xC0) == 0x80)
                        j--;
                    unsigned char lead = (unsigned char)piece[j - 1 < pn ? j - 1 : 0];
                    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                    CU_ASSERT(j == 0 || pn - (j - 1) == need);
                }
                memcpy(sout + sm, piece, pn);
                sm += pn;
            }
            CU_ASSERT(sm == len && memcmp(sout, texts[k], len) == 0);
            CU_ASSERT_EQUAL(dec.n_held, 0);
        }
        close_tok(t);
    }
}

/* GPT-2's bytes_to_unicode, by hand: bytes 0x00-0x20 (33 of them), 0x7F,
 * 0x80-0xA0 and 0xAD are respelled U+0100 + their rank among those; the
 * others are themselves. So F0 -> U+00F0 "ð"; 9F is rank 33+1+31 = 65 ->
 * U+0141 "Ł"; 98 -> 33+1+24 = 58 -> U+013A "ĺ"; 80 -> 34 -> U+0122 "Ģ"; and
 * ' ' (rank 32) -> U+0120 "Ġ". */
static void test_bpe_stream_bytes(void)
{
    struct tokenizer *t = open_shared("zoo-llama-bpe.gguf", "tokenizer/bpe stream");
    if (!t)
        return;
    int32_t ids[4] = {tok_find(t, "\xC3\xB0"), tok_find(t, "\xC5\x81"), tok_find(t, "\xC4\xBA"),
                      tok_find(t, "\xC4\xA2")};
    for (int i = 0; i < 4; i++)
        CU_ASSERT(ids[i] >= 0);
    check_stream_split(t, ids);
    CU_ASSERT_EQUAL(tok_find(t, "\xC4\xA0"), 216); /* "Ġ" */
    size_t n;
    const char *p = tok_piece(t, 216, false, &n);
    CU_ASSERT(n == 1 && p[0] == ' ');
    close_tok(t);
}

/* Texts longer than the merge scratch: SentencePiece cuts fragments before
 * a space, BPE cuts words of more than 4096 bytes; nothing is lost. */
static void check_long_round_trip(const struct tokenizer *t, const char *text, size_t len,
                                  size_t skip_prefix)
{
    static int32_t ids[70000];
    static char out[80000];
    int n = tok_encode(t, text, len, false, false, ids, 70000);
    CU_ASSERT_FATAL(n > 0);
    size_t m = 0;
    for (int i = 0; i < n && m < sizeof out - 64; i++) {
        size_t pn;
        const char *p = tok_piece(t, ids[i], false, &pn);
        memcpy(out + m, p, pn);
        m += pn;
    }
    CU_ASSERT(m == len + skip_prefix && memcmp(out + skip_prefix, text, len) == 0);
    CU_ASSERT_EQUAL(tok_encode(t, text, len, false, false, ids, n - 1), -1);
}

static void test_long_texts(void)
{
    static char text[30000];
    size_t len = 0;
    while (len + 24 < sizeof text) {
        memcpy(text + len, "Once upon a time, \xC3\xA9t\xC3\xA9 ", 24);
        len += 24;
    }
    struct tokenizer *t = open_tok(test_bundled_model());
    if (t) {
        check_long_round_trip(t, text, len, 1);
        memset(text, 'a', 20000); /* no space to cut at */
        check_long_round_trip(t, text, 20000, 1);
        close_tok(t);
    }
    t = open_shared("zoo-llama-bpe.gguf", "tokenizer/long texts (BPE)");
    if (!t)
        return;
    check_long_round_trip(t, text, 20000, 0);
    memset(text, ' ', 10000); /* one whitespace word of 10000 bytes */
    text[10000] = 'x';
    check_long_round_trip(t, text, 10001, 0);
    /* invalid UTF-8 becomes U+FFFD per bad byte, as in llama.cpp */
    int32_t ids[16];
    int n = tok_encode(t, "\xFF\xC3", 2, false, false, ids, 16);
    char out[32];
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        size_t pn;
        const char *p = tok_piece(t, ids[i], false, &pn);
        memcpy(out + m, p, pn);
        m += pn;
    }
    CU_ASSERT(m == 6 && memcmp(out, "\xEF\xBF\xBD\xEF\xBF\xBD", 6) == 0);
    close_tok(t);
}

/* ---- pre-tokenizers ------------------------------------------------------
 * Word boundaries worked out by hand from each regex list (unicode.h). */

struct words {
    char w[32][16];
    int n;
};

static int collect_word(void *ctx, const char *s, size_t a, size_t b)
{
    struct words *w = ctx;
    if (w->n < 32 && b - a < 16) {
        memcpy(w->w[w->n], s + a, b - a);
        w->w[w->n][b - a] = 0;
    }
    w->n++;
    return 0;
}

static void check_words(enum pretok_kind kind, const char *text, const char *const *want, int n)
{
    struct words got;
    memset(&got, 0, sizeof got);
    pretok_split(kind, text, strlen(text), collect_word, &got);
    bool ok = got.n == n;
    for (int i = 0; ok && i < n; i++)
        ok = strcmp(got.w[i], want[i]) == 0;
    if (!ok) {
        fprintf(stderr, "\n  kind %d, \"%s\": got", (int)kind, text);
        for (int i = 0; i < got.n && i < 32; i++)
            fprintf(stderr, " [%s]", got.w[i]);
        fprintf(stderr, "\n");
    }
    CU_ASSERT(ok);
}

static void test_pretok_words(void)
{
    const char *text = "I'LL see 12345 cats\t\tnow\n\n  ok  ";
    /* llama3: contractions in any case, up to 3 digits, a non-letter joins
     * the letters after it ("\tnow"), \s*[\r\n]+ ends at the last newline,
     * \s+(?!\S) leaves one space for " ok" */
    static const char *const llama3[] = {"I", "'LL", " see", " ", "123", "45", " cats", "\t",
                                         "\tnow", "\n\n", " ", " ok", "  "};
    check_words(PRETOK_LLAMA3, text, llama3, 13);
    static const char *const qwen2[] = {"I", "'LL", " see", " ", "1", "2", "3", "4", "5",
                                        " cats", "\t", "\tnow", "\n\n", " ", " ok", "  "};
    check_words(PRETOK_QWEN2, text, qwen2, 16);
    /* gpt2: contractions are lower-case only; " ?\p{N}+" keeps the number */
    static const char *const gpt2[] = {"I", "'", "LL", " see", " 12345", " cats", " ", " now", "'s"};
    check_words(PRETOK_GPT2, "I'LL see 12345 cats  now's", gpt2, 9);
    /* smollm: every digit alone first, so the space before them is alone */
    static const char *const smollm[] = {"x", " ", "2", "0", "2", "6", "!!"};
    check_words(PRETOK_SMOLLM, "x 2026!!", smollm, 7);
    /* default: punctuation and $+<=>^~| runs first, digits in threes last */
    static const char *const dflt[] = {"a", "+", "b", "=", "123", "45", ";", " ", "$$", " ok"};
    check_words(PRETOK_DEFAULT, "a+b=12345; $$ ok", dflt, 10);
    /* non-ASCII classes: U+00A0 and U+3000 are whitespace, U+0663 (Arabic
     * three) and U+00B2 (superscript two) numbers; a whitespace character
     * before letters joins them like any [^\r\n\p{L}\p{N}] */
    static const char *const uni[] = {"\xC3\xA9t\xC3\xA9", "\xC2\xA0", "\xD9\xA3", "\xC2\xB2",
                                      "\xE3\x80\x80\xE4\xB8\xAD"};
    check_words(PRETOK_QWEN2, "\xC3\xA9t\xC3\xA9\xC2\xA0\xD9\xA3\xC2\xB2\xE3\x80\x80\xE4\xB8\xAD",
                uni, 5);
    CU_ASSERT_EQUAL(pretok_lookup("llama-bpe").kind, PRETOK_LLAMA3);
    CU_ASSERT_TRUE(pretok_lookup("llama-bpe").ignore_merges);
    CU_ASSERT_EQUAL(pretok_lookup("smollm").kind, PRETOK_SMOLLM);
    CU_ASSERT_EQUAL(pretok_lookup("qwen2").kind, PRETOK_QWEN2);
    CU_ASSERT_FALSE(pretok_lookup("no-such-pre").known);
    CU_ASSERT_EQUAL(pretok_lookup(NULL).kind, PRETOK_DEFAULT);
}

/* ---- bad files ---------------------------------------------------------- */

/* A GGUF v3 with no tensors and the given key/values, built by hand. */
struct gbuf {
    unsigned char b[4096];
    size_t n;
};

static void put(struct gbuf *g, const void *p, size_t n)
{
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put_u32(struct gbuf *g, uint32_t v) { put(g, &v, 4); }
static void put_u64(struct gbuf *g, uint64_t v) { put(g, &v, 8); }
static void put_str(struct gbuf *g, const char *s)
{
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}

static void gguf_begin(struct gbuf *g, uint64_t n_kv)
{
    g->n = 0;
    put(g, "GGUF", 4);
    put_u32(g, 3);
    put_u64(g, 0);
    put_u64(g, n_kv);
}

static void kv_str(struct gbuf *g, const char *key, const char *v)
{
    put_str(g, key);
    put_u32(g, 8); /* string */
    put_str(g, v);
}

static void kv_strs(struct gbuf *g, const char *key, const char **v, int n)
{
    put_str(g, key);
    put_u32(g, 9); /* array */
    put_u32(g, 8); /* of strings */
    put_u64(g, (uint64_t)n);
    for (int i = 0; i < n; i++)
        put_str(g, v[i]);
}

static void expect_load_error(struct gbuf *g, const char *field)
{
    struct gguf_file f;
    struct st_err err = {""};
    memset(&f, 0, sizeof f);
    CU_ASSERT_EQUAL_FATAL(gguf_parse(&f, g->b, g->n, "bad.gguf", &err), 0);
    struct tokenizer *t = tok_load(&f, &err);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, field));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad.gguf"));
    tok_free(t);
    gguf_close(&f);
}

static void test_load_errors(void)
{
    static const char *toks[] = {"a", "b", "ab"};
    struct gbuf *g = &(struct gbuf){{0}, 0};

    gguf_begin(g, 1);
    kv_str(g, "general.architecture", "llama");
    expect_load_error(g, "tokenizer.ggml.model");

    gguf_begin(g, 1);
    kv_str(g, "tokenizer.ggml.model", "wordpiece");
    expect_load_error(g, "tokenizer.ggml.model");

    gguf_begin(g, 1);
    kv_str(g, "tokenizer.ggml.model", "llama");
    expect_load_error(g, "tokenizer.ggml.tokens");

    gguf_begin(g, 2);
    kv_str(g, "tokenizer.ggml.model", "gpt2");
    kv_strs(g, "tokenizer.ggml.tokens", toks, 3);
    expect_load_error(g, "tokenizer.ggml.merges");

    gguf_begin(g, 2);
    kv_str(g, "tokenizer.ggml.model", "llama");
    kv_str(g, "tokenizer.ggml.tokens", "not an array");
    expect_load_error(g, "tokenizer.ggml.tokens");

    /* scores must have one element per token */
    gguf_begin(g, 3);
    kv_str(g, "tokenizer.ggml.model", "llama");
    kv_strs(g, "tokenizer.ggml.tokens", toks, 3);
    put_str(g, "tokenizer.ggml.scores");
    put_u32(g, 9);
    put_u32(g, 6); /* float32 */
    put_u64(g, 2);
    put(g, (float[2]){0.0f, 1.0f}, 8);
    expect_load_error(g, "tokenizer.ggml.scores");
}

/* A tiny BPE vocabulary built by hand: the merges decide, by rank. */
static void test_bpe_tiny_vocab(void)
{
    /* tokens: a b c ab bc abc Ġ; merges: "b c" (rank 0) before "a b" */
    static const char *toks[] = {"a", "b", "c", "ab", "bc", "abc", "\xC4\xA0"};
    static const char *merges[] = {"b c", "a b", "a bc"};
    struct gbuf *g = &(struct gbuf){{0}, 0};
    gguf_begin(g, 4);
    kv_str(g, "tokenizer.ggml.model", "gpt2");
    kv_str(g, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(g, "tokenizer.ggml.tokens", toks, 7);
    kv_strs(g, "tokenizer.ggml.merges", merges, 3);
    struct gguf_file f;
    struct st_err err = {""};
    memset(&f, 0, sizeof f);
    CU_ASSERT_EQUAL_FATAL(gguf_parse(&f, g->b, g->n, "tiny.gguf", &err), 0);
    struct tokenizer *t = tok_load(&f, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    /* "abc": b+c first (rank 0), then a+bc (rank 2) -> abc (5) */
    static const int32_t abc[] = {5};
    CU_ASSERT(ids_equal(t, "abc", false, false, abc, 1));
    /* "ab": only a+b -> 3 */
    static const int32_t ab[] = {3};
    CU_ASSERT(ids_equal(t, "ab", false, false, ab, 1));
    /* "ab c": words "ab" and " c"; " c" has no merge: Ġ (6) and c (2) */
    static const int32_t ab_c[] = {3, 6, 2};
    CU_ASSERT(ids_equal(t, "ab c", false, false, ab_c, 3));
    /* "d" is not in the vocabulary at all: dropped, as llama.cpp does */
    CU_ASSERT_EQUAL(tok_encode(t, "d", 1, false, false, (int32_t[4]){0}, 4), 0);
    /* no tokenizer.ggml.bos_token_id: llama.cpp's BPE default is 11, out
     * of range here, so none */
    CU_ASSERT_EQUAL(tok_bos(t), -1);
    tok_free(t);
    gguf_close(&f);
}

void suite_tokenizer(void)
{
    CU_pSuite s = CU_add_suite("tokenizer", NULL, NULL);
    CU_add_test(s, "stories260K references (SentencePiece)", test_stories_references);
    CU_add_test(s, "stories260K variants: prompt ids", test_stories_variants_prompts);
    CU_add_test(s, "stories260K: empty, byte fallback, specials", test_stories_edge_cases);
    CU_add_test(s, "stories260K: pieces and round trip", test_stories_pieces);
    CU_add_test(s, "stories260K: streaming decode", test_stories_stream);
    CU_add_test(s, "SmolLM2 BPE, pre smollm: references", test_smollm_references);
    CU_add_test(s, "SmolLM2 BPE, pre qwen2: references", test_qwen2_references);
    CU_add_test(s, "BPE: special tokens and EOG", test_bpe_special_tokens);
    CU_add_test(s, "BPE: decode(encode(s)) == s", test_bpe_round_trip);
    CU_add_test(s, "BPE: streaming a character split over byte tokens", test_bpe_stream_bytes);
    CU_add_test(s, "BPE: merges by rank in a hand-made vocabulary", test_bpe_tiny_vocab);
    CU_add_test(s, "pre-tokenizers: word boundaries", test_pretok_words);
    CU_add_test(s, "long texts and invalid UTF-8", test_long_texts);
    CU_add_test(s, "bad tokenizer metadata names the key", test_load_errors);
}
