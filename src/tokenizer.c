/* tokenizer.c - the vocabulary from GGUF, SentencePiece ("llama") and
 * byte-level BPE ("gpt2") encoding, special tokens, decoding.
 *
 * The algorithms are llama.cpp's (llama-vocab.cpp: llm_tokenizer_spm,
 * llm_tokenizer_bpe, tokenizer_st_partition, token_to_piece), so that ids
 * match it exactly; the pre-tokenizer regexes are in tok_pretok.c.
 *
 * Memory: tok_load allocates every table and a scratch area sized for the
 * longest unit merged at once (TOK_WORD_MAX bytes of one BPE word,
 * TOK_SPM_CHUNK bytes of SentencePiece text). tok_encode and the decoders
 * allocate nothing; tok_encode uses the scratch, so one tokenizer encodes
 * one text at a time (not thread-safe; decoding is). */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"

/* One BPE word is merged at once; a longer word (a run of 4096+ spaces or
 * symbols) is cut at a code point boundary into pieces of at most this
 * many bytes, where llama.cpp would merge across the cut. */
#define TOK_WORD_MAX 4096
/* SentencePiece merges a whole text fragment at once; longer fragments
 * are cut before a space that follows a non-space (where a "▁word" piece
 * starts: SentencePiece vocabularies have no piece with "▁" after another
 * character, so no merge crosses the cut), or at a code point boundary
 * when there is no such space. */
#define TOK_SPM_CHUNK 8192
#define TOK_MAX_EOG 16

/* tokenizer.ggml.token_type values */
enum tok_type {
    TT_UNDEFINED = 0,
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,
    TT_USER = 4,
    TT_UNUSED = 5,
    TT_BYTE = 6,
};

struct tok_entry {
    uint32_t text, text_len;   /* the token's spelling, in blob */
    uint32_t piece, piece_len; /* the bytes it decodes to, in blob */
    float score;               /* SentencePiece merge priority */
    uint8_t type;              /* enum tok_type */
};

/* A run of the text being merged: scratch bytes [off, off+n); n == 0 once
 * merged into its left neighbour. */
struct tok_sym {
    uint32_t off, n;
    int32_t prev, next;
};

/* A candidate merge of two adjacent symbols. key: the SentencePiece score,
 * or minus the BPE merge rank; the largest key merges first, ties to the
 * leftmost. size: n of both symbols when queued (stale entries differ). */
struct tok_bigram {
    float key;
    int32_t left, right;
    uint32_t size;
};

struct tok_special {
    uint32_t len;
    int32_t id;
};

struct tokenizer {
    bool spm;                 /* "llama" (SentencePiece) or "gpt2" (BPE) */
    int32_t n_vocab;
    struct tok_entry *tok;
    char *blob;               /* token texts, pieces, merges */

    uint32_t *tok_hash;       /* open addressing: id + 1, 0 = empty */
    uint32_t tok_mask;
    uint32_t n_merges;
    uint32_t *merge_text, *merge_len; /* "left right", in blob */
    uint32_t *merge_hash;     /* merge index + 1 */
    uint32_t merge_mask;

    int32_t bos, eos, eot, eom, unk, pad;
    int32_t eog[TOK_MAX_EOG];
    int n_eog;
    bool add_bos, add_eos, add_space_prefix;
    struct pretok_info pre;
    char pre_desc[160];       /* what tok_pre_name says */

    struct tok_special *special; /* longest text first */
    int n_special;

    int32_t spm_byte[256];    /* id of <0xNN> per byte (-1: none) */
    char bpe_byte[256][2];    /* GPT-2 spelling of each byte, UTF-8 */
    uint8_t bpe_byte_len[256];

    /* scratch for tok_encode */
    char *buf;
    size_t buf_cap;
    struct tok_sym *sym;
    size_t sym_cap;
    struct tok_bigram *heap;
    size_t heap_cap, heap_n;
};

/* ---- hashing ------------------------------------------------------------ */

static uint32_t fnv1a(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}
#define FNV_SEED 2166136261u

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

static int32_t tok_lookup(const struct tokenizer *t, const char *s, size_t n)
{
    uint32_t i = fnv1a(FNV_SEED, s, n) & t->tok_mask;
    for (; t->tok_hash[i]; i = (i + 1) & t->tok_mask) {
        const struct tok_entry *e = &t->tok[t->tok_hash[i] - 1];
        if (e->text_len == n && memcmp(t->blob + e->text, s, n) == 0)
            return (int32_t)(t->tok_hash[i] - 1);
    }
    return -1;
}

/* Later ids win over earlier ones with the same text, as in llama.cpp's
 * token_to_id map. */
static void tok_hash_insert(struct tokenizer *t, int32_t id)
{
    const struct tok_entry *e = &t->tok[id];
    uint32_t i = fnv1a(FNV_SEED, t->blob + e->text, e->text_len) & t->tok_mask;
    for (; t->tok_hash[i]; i = (i + 1) & t->tok_mask) {
        const struct tok_entry *o = &t->tok[t->tok_hash[i] - 1];
        if (o->text_len == e->text_len &&
            memcmp(t->blob + o->text, t->blob + e->text, e->text_len) == 0)
            break;
    }
    t->tok_hash[i] = (uint32_t)id + 1;
}

/* Hash of "left right" without building the string. */
static uint32_t merge_hash_of(const char *l, size_t ln, const char *r, size_t rn)
{
    return fnv1a(fnv1a(fnv1a(FNV_SEED, l, ln), " ", 1), r, rn);
}

/* Rank of the merge (left, right), or -1. */
static int32_t merge_rank(const struct tokenizer *t, const char *l, size_t ln,
                          const char *r, size_t rn)
{
    uint32_t i = merge_hash_of(l, ln, r, rn) & t->merge_mask;
    for (; t->merge_hash[i]; i = (i + 1) & t->merge_mask) {
        uint32_t m = t->merge_hash[i] - 1;
        const char *s = t->blob + t->merge_text[m];
        if (t->merge_len[m] == ln + 1 + rn && memcmp(s, l, ln) == 0 && s[ln] == ' ' &&
            memcmp(s + ln + 1, r, rn) == 0)
            return (int32_t)m;
    }
    return -1;
}

/* The first occurrence of a pair keeps its rank (llama.cpp's emplace). A
 * merge line is split at its first space after the first byte. */
static void merge_hash_insert(struct tokenizer *t, uint32_t m)
{
    const char *s = t->blob + t->merge_text[m];
    size_t n = t->merge_len[m], sp = 1;
    while (sp < n && s[sp] != ' ')
        sp++;
    if (sp >= n)
        return; /* no space: llama.cpp files it under ("", ""), never used */
    if (merge_rank(t, s, sp, s + sp + 1, n - sp - 1) >= 0)
        return;
    uint32_t i = merge_hash_of(s, sp, s + sp + 1, n - sp - 1) & t->merge_mask;
    while (t->merge_hash[i])
        i = (i + 1) & t->merge_mask;
    t->merge_hash[i] = m + 1;
}

/* ---- the merge queue (binary max-heap on key, then min left) ------------ */

static bool bigram_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(struct tokenizer *t, struct tok_bigram g)
{
    if (t->heap_n >= t->heap_cap)
        return; /* cannot happen: at most 3 entries per symbol are queued */
    size_t i = t->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&g, &t->heap[p]))
            break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = g;
}

static struct tok_bigram heap_pop(struct tokenizer *t)
{
    struct tok_bigram top = t->heap[0], last = t->heap[--t->heap_n];
    size_t i = 0, n = t->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!bigram_before(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n)
        t->heap[i] = last;
    return top;
}

/* ---- output ------------------------------------------------------------- */

struct tok_out {
    int32_t *ids;
    int cap, n;
    bool prev_special; /* SentencePiece: the last thing emitted was a special token */
};

static int out_push(struct tok_out *o, int32_t id)
{
    if (o->n >= o->cap)
        return -1;
    o->ids[o->n++] = id;
    return 0;
}

/* ---- merging (shared by both models) ------------------------------------ */

/* Splits t->buf[0..len) into UTF-8 characters (by lead byte, as llama.cpp
 * does) and returns the number of symbols. */
static int sym_split(struct tokenizer *t, size_t len)
{
    int ns = 0;
    for (size_t off = 0; off < len; ns++) {
        size_t n = utf8_len_from_lead((unsigned char)t->buf[off]);
        if (n > len - off)
            n = len - off;
        t->sym[ns] = (struct tok_sym){(uint32_t)off, (uint32_t)n, ns - 1,
                                      off + n < len ? ns + 1 : -1};
        off += n;
    }
    return ns;
}

static void add_bigram(struct tokenizer *t, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    const struct tok_sym *a = &t->sym[l], *b = &t->sym[r];
    struct tok_bigram g = {0, l, r, a->n + b->n};
    if (t->spm) {
        int32_t id = tok_lookup(t, t->buf + a->off, a->n + b->n);
        if (id < 0)
            return;
        g.key = t->tok[id].score;
    } else {
        int32_t rank = merge_rank(t, t->buf + a->off, a->n, t->buf + b->off, b->n);
        if (rank < 0)
            return;
        g.key = -(float)rank; /* exact: ranks are far below 2^24 */
    }
    heap_push(t, g);
}

/* Merges the symbols of t->buf until no queued pair applies. */
static void sym_merge(struct tokenizer *t, int ns)
{
    t->heap_n = 0;
    for (int i = 1; i < ns; i++)
        add_bigram(t, i - 1, i);
    while (t->heap_n) {
        struct tok_bigram g = heap_pop(t);
        struct tok_sym *l = &t->sym[g.left], *r = &t->sym[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size)
            continue; /* one side changed since it was queued */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            t->sym[r->next].prev = g.left;
        add_bigram(t, l->prev, g.left);
        add_bigram(t, g.left, l->next);
    }
}

/* ---- SentencePiece ------------------------------------------------------ */

/* Encodes text[0..len): optional leading space, ' ' -> U+2581, merges by
 * score, byte tokens for what the vocabulary cannot spell. */
static int spm_encode_chunk(struct tokenizer *t, const char *text, size_t len,
                            bool space_prefix, struct tok_out *o)
{
    static const char ws[3] = {'\xE2', '\x96', '\x81'};
    size_t n = 0;
    if (space_prefix) {
        memcpy(t->buf, ws, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t->buf + n, ws, 3);
            n += 3;
        } else {
            t->buf[n++] = text[i];
        }
    }
    int ns = sym_split(t, n);
    if (ns == 0)
        return 0;
    sym_merge(t, ns);
    for (int i = 0; i != -1; i = t->sym[i].next) {
        const struct tok_sym *s = &t->sym[i];
        int32_t id = tok_lookup(t, t->buf + s->off, s->n);
        if (id >= 0) {
            if (out_push(o, id))
                return -1;
            continue;
        }
        for (uint32_t k = 0; k < s->n; k++) {
            id = t->spm_byte[(unsigned char)t->buf[s->off + k]];
            if (id < 0)
                id = t->unk;
            if (id >= 0 && out_push(o, id))
                return -1;
        }
    }
    return 0;
}

static int spm_encode(struct tokenizer *t, const char *text, size_t len, struct tok_out *o)
{
    bool prefix = t->add_space_prefix && o->prev_special;
    o->prev_special = false;
    while (len > 0) {
        size_t n = len;
        if (n > TOK_SPM_CHUNK) {
            n = TOK_SPM_CHUNK;
            while (n > 1 && !(text[n] == ' ' && text[n - 1] != ' '))
                n--;
            if (n <= 1) { /* no space: cut at a character boundary */
                n = TOK_SPM_CHUNK;
                while (n > 1 && ((unsigned char)text[n] & 0xC0) == 0x80)
                    n--;
            }
        }
        if (spm_encode_chunk(t, text, n, prefix, o))
            return -1;
        prefix = false;
        text += n;
        len -= n;
    }
    return 0;
}

/* ---- byte-level BPE ----------------------------------------------------- */

struct bpe_ctx {
    struct tokenizer *t;
    struct tok_out *o;
};

/* Merges one word already in GPT-2 spelling in t->buf[0..len). */
static int bpe_merge_word(struct tokenizer *t, size_t len, struct tok_out *o)
{
    if (t->pre.ignore_merges) {
        int32_t id = tok_lookup(t, t->buf, len);
        if (id >= 0)
            return out_push(o, id);
    }
    int ns = sym_split(t, len);
    if (ns == 0)
        return 0;
    sym_merge(t, ns);
    for (int i = 0; i != -1; i = t->sym[i].next) {
        const struct tok_sym *s = &t->sym[i];
        int32_t id = tok_lookup(t, t->buf + s->off, s->n);
        if (id >= 0) {
            if (out_push(o, id))
                return -1;
            continue;
        }
        /* not in the vocabulary: one token per byte where one exists */
        for (uint32_t k = 0; k < s->n; k++) {
            id = tok_lookup(t, t->buf + s->off + k, 1);
            if (id >= 0 && out_push(o, id))
                return -1;
        }
    }
    return 0;
}

/* pretok_split callback: text[a..b) is one word. Its code points are
 * re-encoded (invalid bytes become U+FFFD, as in llama.cpp) and each byte
 * spelled the GPT-2 way. */
static int bpe_word(void *ctx, const char *text, size_t a, size_t b)
{
    struct bpe_ctx *c = ctx;
    struct tokenizer *t = c->t;
    while (a < b) {
        size_t len = 0, start = a;
        while (a < b) {
            size_t n;
            uint32_t cp = utf8_decode(text + a, b - a, &n);
            if (a + n - start > TOK_WORD_MAX && a > start)
                break;
            char u[4];
            size_t un = utf8_encode(cp, u);
            for (size_t k = 0; k < un; k++) {
                unsigned char byte = (unsigned char)u[k];
                memcpy(t->buf + len, t->bpe_byte[byte], t->bpe_byte_len[byte]);
                len += t->bpe_byte_len[byte];
            }
            a += n;
        }
        if (bpe_merge_word(t, len, c->o))
            return -1;
    }
    return 0;
}

/* ---- special tokens and the encoder ------------------------------------- */

static int encode_raw(struct tokenizer *t, const char *text, size_t len, struct tok_out *o)
{
    if (len == 0)
        return 0;
    if (t->spm)
        return spm_encode(t, text, len, o);
    struct bpe_ctx c = {t, o};
    return pretok_split(t->pre.kind, text, len, bpe_word, &c);
}

/* llama.cpp's tokenizer_st_partition: special tokens, longest first, each
 * over all the text the longer ones left, every occurrence left to right.
 * Equivalently, in text[a..b) where special[0..k) do not occur: find the
 * first special k' >= k that occurs; left of its first occurrence only
 * special[k'+1..] can occur, right of it special[k'..]. */
static int encode_specials(struct tokenizer *t, const char *text, size_t a, size_t b,
                           int k, bool parse_special, struct tok_out *o)
{
    while (a < b) {
        const char *hit = NULL;
        int kk = k;
        for (; kk < t->n_special; kk++) {
            const struct tok_entry *e = &t->tok[t->special[kk].id];
            if (!parse_special && e->type != TT_USER)
                continue; /* user-defined tokens are always matched */
            if (e->text_len > b - a)
                continue;
            hit = memmem(text + a, b - a, t->blob + e->text, e->text_len);
            if (hit)
                break;
        }
        if (!hit)
            return encode_raw(t, text + a, b - a, o);
        size_t p = (size_t)(hit - text);
        if (encode_specials(t, text, a, p, kk + 1, parse_special, o) ||
            out_push(o, t->special[kk].id))
            return -1;
        o->prev_special = true;
        a = p + t->special[kk].len;
        k = kk;
    }
    return 0;
}

int tok_encode(const struct tokenizer *tc, const char *text, size_t len,
               bool add_bos, bool parse_special, int32_t *out, int cap)
{
    struct tokenizer *t = (struct tokenizer *)tc; /* the scratch only */
    struct tok_out o = {out, cap < 0 ? 0 : cap, 0, true};
    if (add_bos && t->bos >= 0 && out_push(&o, t->bos))
        return -1;
    if (encode_specials(t, text, 0, len, 0, parse_special, &o))
        return -1;
    return o.n;
}

/* ---- decoding ----------------------------------------------------------- */

const char *tok_piece(const struct tokenizer *t, int32_t id, bool show_special,
                      size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_vocab)
        return "";
    const struct tok_entry *e = &t->tok[id];
    if (!show_special && (e->type == TT_CONTROL || e->type == TT_UNKNOWN))
        return "";
    *len = e->piece_len;
    return t->blob + e->piece;
}

/* Bytes at the end of s[0..n) that start a UTF-8 character not complete
 * yet (0..3). */
static size_t utf8_open_tail(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 4 && k <= n; k++) {
        unsigned char c = s[n - k];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: look further back */
        size_t need = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (c >= 0xF8)
            need = 1;
        return k < need ? k : 0;
    }
    return 0;
}

size_t tok_decode_stream(const struct tokenizer *t, struct tok_decoder *dec,
                         int32_t id, char *out, size_t cap)
{
    size_t plen, n = 0;
    const char *p = tok_piece(t, id, false, &plen);
    /* held bytes + piece, written to out as far as it goes; the open tail
     * (at most 3 bytes) is kept back */
    unsigned char tail[8];
    size_t held = dec->n_held > 0 && dec->n_held <= 8 ? (size_t)dec->n_held : 0;
    size_t total = held + plen;
    size_t ntail = 0;
    {
        unsigned char last[4];
        size_t m = total < 4 ? total : 4;
        for (size_t i = 0; i < m; i++) {
            size_t j = total - m + i;
            last[i] = j < held ? dec->held[j] : (unsigned char)p[j - held];
        }
        ntail = utf8_open_tail(last, m);
        memcpy(tail, last + m - ntail, ntail);
    }
    size_t emit = total - ntail;
    for (size_t j = 0; j < emit && n < cap; j++)
        out[n++] = j < held ? (char)dec->held[j] : p[j - held];
    memcpy(dec->held, tail, ntail);
    dec->n_held = (int)ntail;
    return n;
}

/* ---- accessors ---------------------------------------------------------- */

int32_t tok_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const struct tokenizer *t) { return t->bos; }
int32_t tok_eos(const struct tokenizer *t) { return t->eos; }
bool tok_add_bos(const struct tokenizer *t) { return t->add_bos; }

bool tok_is_eog(const struct tokenizer *t, int32_t id)
{
    if (id < 0)
        return false;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return true;
    return false;
}

int32_t tok_find(const struct tokenizer *t, const char *text)
{
    return tok_lookup(t, text, strlen(text));
}

/* The pre-tokenizer in use: "sentencepiece" for a "llama" vocabulary, else
 * "llama3", "qwen2", "smollm", "gpt2" or "default", the last with why when
 * tokenizer.ggml.pre was missing or not recognized (llama.cpp refuses an
 * unknown pre; strata falls back to the default and says so here). */
const char *tok_pre_name(const struct tokenizer *t)
{
    return t->pre_desc;
}

/* ---- loading ------------------------------------------------------------ */

void tok_free(struct tokenizer *t)
{
    if (!t)
        return;
    free(t->tok);
    free(t->blob);
    free(t->tok_hash);
    free(t->merge_text);
    free(t->merge_len);
    free(t->merge_hash);
    free(t->special);
    free(t->buf);
    free(t->sym);
    free(t->heap);
    free(t);
}

static bool gstr_eq(struct gguf_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* An array key of the given element type (and length n, when n > 0).
 * Returns the kv, or NULL: *bad is set when the key exists but is wrong
 * (err filled), or when it is required and missing. */
static const struct gguf_kv *get_array(const struct gguf_file *f, const char *key,
                                       uint32_t elem, uint32_t elem2, uint64_t n,
                                       bool required, struct st_err *err, bool *bad)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    *bad = false;
    if (!kv) {
        if (required) {
            *bad = true;
            st_errf(err, f->path, key, "an array", "nothing (key missing)");
        }
        return NULL;
    }
    if (kv->type != GGUF_TYPE_ARRAY || (kv->arr_type != elem && kv->arr_type != elem2)) {
        *bad = true;
        st_errf(err, f->path, key, kv->type == GGUF_TYPE_ARRAY ? "an array of another type" : "an array",
                "%s%s%s", gguf_vtype_name(kv->type), kv->type == GGUF_TYPE_ARRAY ? " of " : "",
                kv->type == GGUF_TYPE_ARRAY ? gguf_vtype_name(kv->arr_type) : "");
        return NULL;
    }
    if (n && kv->arr_n != n) {
        *bad = true;
        st_errf(err, f->path, key, "one element per token", "%llu elements",
                (unsigned long long)kv->arr_n);
        return NULL;
    }
    return kv;
}

/* A token id key; absent, of another type or out of range keeps def (as
 * llama.cpp does, e.g. for 0xFFFFFFFF meaning "none"). */
static int32_t get_token_id(const struct gguf_file *f, const char *key, int32_t n_vocab,
                            int32_t def)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return def;
    int64_t v;
    switch (kv->type) {
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        v = kv->v.i;
        break;
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        v = kv->v.u > INT32_MAX ? -1 : (int64_t)kv->v.u;
        break;
    default:
        return def;
    }
    return v >= 0 && v < n_vocab ? (int32_t)v : def;
}

/* Decoded bytes of token id into dst; returns their count (<= text_len). */
static size_t make_piece(const struct tokenizer *t, const struct tok_entry *e, char *dst)
{
    const char *s = t->blob + e->text;
    size_t n = e->text_len, m = 0;
    switch (e->type) {
    case TT_NORMAL:
        break;
    case TT_BYTE:
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
            dst[0] = (char)strtol((char[3]){s[3], s[4], 0}, NULL, 16);
            return 1;
        }
        break;
    case TT_CONTROL: case TT_UNKNOWN: case TT_USER:
        memcpy(dst, s, n); /* spelled as is (control/unknown only shown on request) */
        return n;
    default:
        return 0; /* unused / undefined: nothing */
    }
    if (t->spm) { /* U+2581 -> ' ' */
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                dst[m++] = ' ';
                i += 2;
            } else {
                dst[m++] = s[i];
            }
        }
        return m;
    }
    for (size_t i = 0; i < n;) { /* GPT-2 code points back to bytes */
        size_t k;
        uint32_t cp = utf8_decode(s + i, n - i, &k);
        int byte = gpt2_cp_to_byte(cp);
        if (byte >= 0) {
            dst[m++] = (char)byte;
        } else {
            memcpy(dst + m, s + i, k); /* not a byte's spelling: keep it */
            m += k;
        }
        i += k;
    }
    return m;
}

static int special_cmp(const void *a, const void *b)
{
    const struct tok_special *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool eog_text(const char *s, size_t n)
{
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                        "<|end_of_text|>", "<EOT>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return true;
    return false;
}

static void eog_add(struct tokenizer *t, int32_t id)
{
    if (id < 0 || tok_is_eog(t, id) || t->n_eog >= TOK_MAX_EOG)
        return;
    t->eog[t->n_eog++] = id;
}

struct tokenizer *tok_load(const struct gguf_file *f, struct st_err *err)
{
    struct gguf_str model = {0, ""}, pre = {0, ""};
    bool bad, has_pre = false;
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (rc < 0)
        return NULL;
    if (rc > 0) {
        st_errf(err, f->path, "tokenizer.ggml.model", "\"llama\" or \"gpt2\"",
                "nothing (key missing)");
        return NULL;
    }
    if (!gstr_eq(model, "llama") && !gstr_eq(model, "gpt2")) {
        st_errf(err, f->path, "tokenizer.ggml.model", "\"llama\" or \"gpt2\"", "\"%.*s\"",
                (int)(model.len > 64 ? 64 : model.len), model.ptr);
        return NULL;
    }
    bool spm = gstr_eq(model, "llama");

    const struct gguf_kv *kt = get_array(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING,
                                         GGUF_TYPE_STRING, 0, true, err, &bad);
    if (!kt)
        return NULL;
    if (kt->arr_n == 0 || kt->arr_n > INT32_MAX) {
        st_errf(err, f->path, "tokenizer.ggml.tokens", "1 .. 2147483647 tokens", "%llu",
                (unsigned long long)kt->arr_n);
        return NULL;
    }
    uint64_t n = kt->arr_n;
    const struct gguf_kv *ks = get_array(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32,
                                         GGUF_TYPE_FLOAT32, n, false, err, &bad);
    if (bad)
        return NULL;
    const struct gguf_kv *ky = get_array(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
                                         GGUF_TYPE_UINT32, n, false, err, &bad);
    if (bad)
        return NULL;
    const struct gguf_kv *km = get_array(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING,
                                         GGUF_TYPE_STRING, 0, !spm, err, &bad);
    if (bad)
        return NULL;
    if (km && km->arr_n > INT32_MAX) {
        st_errf(err, f->path, "tokenizer.ggml.merges", "at most 2147483647 merges", "%llu",
                (unsigned long long)km->arr_n);
        return NULL;
    }
    rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
    if (rc < 0)
        return NULL;
    has_pre = rc == 0;

    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        st_errmsg(err, "%s: out of memory loading the tokenizer", f->path);
        return NULL;
    }
    t->spm = spm;
    t->n_vocab = (int32_t)n;

    /* sizes: texts, pieces (never longer than their texts), merges */
    uint64_t text_bytes = 0, merge_bytes = 0, n_merges = spm || !km ? 0 : km->arr_n;
    for (uint64_t i = 0; i < n; i++)
        text_bytes += gguf_arr_str(kt, i).len;
    for (uint64_t i = 0; i < n_merges; i++)
        merge_bytes += gguf_arr_str(km, i).len;
    if (2 * text_bytes + merge_bytes >= UINT32_MAX) {
        st_errf(err, f->path, "tokenizer.ggml.tokens", "less than 2 GiB of text", "%llu bytes",
                (unsigned long long)(2 * text_bytes + merge_bytes));
        tok_free(t);
        return NULL;
    }
    t->n_merges = (uint32_t)n_merges;
    t->tok = calloc(n, sizeof *t->tok);
    t->blob = malloc(2 * text_bytes + merge_bytes + 1);
    t->tok_mask = pow2_at_least(2 * n) - 1;
    t->tok_hash = calloc((size_t)t->tok_mask + 1, sizeof *t->tok_hash);
    t->merge_mask = pow2_at_least(2 * n_merges) - 1;
    t->merge_hash = calloc((size_t)t->merge_mask + 1, sizeof *t->merge_hash);
    t->merge_text = malloc((n_merges + 1) * sizeof *t->merge_text);
    t->merge_len = malloc((n_merges + 1) * sizeof *t->merge_len);
    t->buf_cap = 6 * TOK_WORD_MAX > 3 * TOK_SPM_CHUNK + 3 ? 6 * TOK_WORD_MAX : 3 * TOK_SPM_CHUNK + 3;
    t->sym_cap = 3 * TOK_WORD_MAX > TOK_SPM_CHUNK + 1 ? 3 * TOK_WORD_MAX : TOK_SPM_CHUNK + 1;
    t->heap_cap = 3 * t->sym_cap;
    t->buf = malloc(t->buf_cap);
    t->sym = malloc(t->sym_cap * sizeof *t->sym);
    t->heap = malloc(t->heap_cap * sizeof *t->heap);
    if (!t->tok || !t->blob || !t->tok_hash || !t->merge_hash || !t->merge_text ||
        !t->merge_len || !t->buf || !t->sym || !t->heap) {
        tok_free(t);
        st_errmsg(err, "%s: out of memory loading the tokenizer", f->path);
        return NULL;
    }

    uint32_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s = gguf_arr_str(kt, i);
        struct tok_entry *e = &t->tok[i];
        memcpy(t->blob + at, s.ptr, s.len);
        e->text = at;
        e->text_len = (uint32_t)s.len;
        at += (uint32_t)s.len;
        e->score = ks ? gguf_arr_f32(ks, i) : 0.0f;
        int32_t ty = ky ? gguf_arr_i32(ky, i) : TT_NORMAL;
        e->type = ty >= TT_UNDEFINED && ty <= TT_BYTE ? (uint8_t)ty : TT_UNDEFINED;
        tok_hash_insert(t, (int32_t)i);
    }
    for (uint64_t i = 0; i < n_merges; i++) {
        struct gguf_str s = gguf_arr_str(km, i);
        memcpy(t->blob + at, s.ptr, s.len);
        t->merge_text[i] = at;
        t->merge_len[i] = (uint32_t)s.len;
        at += (uint32_t)s.len;
        merge_hash_insert(t, (uint32_t)i);
    }
    for (uint64_t i = 0; i < n; i++) {
        struct tok_entry *e = &t->tok[i];
        e->piece = at;
        e->piece_len = (uint32_t)make_piece(t, e, t->blob + at);
        at += e->piece_len;
    }

    /* pre-tokenizer and defaults, then what the file says (llama.cpp's
     * llama_vocab::load) */
    char pre_name[64];
    t->pre = pretok_lookup(has_pre ? gguf_str_copy(pre, pre_name, sizeof pre_name) : NULL);
    if (spm)
        snprintf(t->pre_desc, sizeof t->pre_desc, "sentencepiece");
    else if (!has_pre)
        snprintf(t->pre_desc, sizeof t->pre_desc, "default (tokenizer.ggml.pre missing)");
    else if (!t->pre.known)
        snprintf(t->pre_desc, sizeof t->pre_desc, "default (tokenizer.ggml.pre \"%s\" unknown)",
                 pre_name);
    else
        snprintf(t->pre_desc, sizeof t->pre_desc, "%s", t->pre.name);
    if (spm) {
        t->bos = get_token_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, 1 < n ? 1 : -1);
        t->eos = get_token_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, 2 < n ? 2 : -1);
        t->unk = get_token_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, 0);
        t->add_bos = true;
        t->add_space_prefix = true;
    } else {
        t->bos = get_token_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, 11 < n ? 11 : -1);
        t->eos = get_token_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, 11 < n ? 11 : -1);
        t->unk = get_token_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, -1);
        t->add_bos = t->pre.add_bos;
        t->add_space_prefix = false;
    }
    t->eot = get_token_id(f, "tokenizer.ggml.eot_token_id", t->n_vocab, -1);
    t->eom = get_token_id(f, "tokenizer.ggml.eom_token_id", t->n_vocab, -1);
    t->pad = get_token_id(f, "tokenizer.ggml.padding_token_id", t->n_vocab, -1);
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &t->add_eos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err) < 0) {
        tok_free(t);
        return NULL;
    }

    /* end of generation: EOS, EOT, EOM and the end-of-turn spellings */
    eog_add(t, t->eos);
    eog_add(t, t->eot);
    eog_add(t, t->eom);
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (eog_text(t->blob + t->tok[i].text, t->tok[i].text_len))
            eog_add(t, i);

    /* the special tokens the partition looks for, longest first */
    int n_special = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->tok[i].type;
        n_special += (ty == TT_CONTROL || ty == TT_USER || ty == TT_UNKNOWN) &&
                     t->tok[i].text_len > 0;
    }
    t->special = malloc((size_t)(n_special ? n_special : 1) * sizeof *t->special);
    if (!t->special) {
        tok_free(t);
        st_errmsg(err, "%s: out of memory loading the tokenizer", f->path);
        return NULL;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->tok[i].type;
        if ((ty == TT_CONTROL || ty == TT_USER || ty == TT_UNKNOWN) && t->tok[i].text_len > 0)
            t->special[t->n_special++] = (struct tok_special){t->tok[i].text_len, i};
    }
    qsort(t->special, (size_t)t->n_special, sizeof *t->special, special_cmp);

    /* byte fallback */
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[b >> 4];
        name[4] = hex[b & 15];
        name[5] = '>';
        t->spm_byte[b] = tok_lookup(t, name, 6);
        if (t->spm_byte[b] < 0) {
            name[0] = (char)b;
            t->spm_byte[b] = tok_lookup(t, name, 1);
        }
        char u[4];
        t->bpe_byte_len[b] = (uint8_t)utf8_encode(gpt2_byte_to_cp((uint8_t)b), u);
        memcpy(t->bpe_byte[b], u, t->bpe_byte_len[b]);
    }
    return t;
}
