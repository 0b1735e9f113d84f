/* gpu_work.c - the CUDA engine's working buffers (gpu_work.h). */
#include "gpu_work.h"

#include <string.h>

int gpu_work_omit_parse(const char *s, unsigned *bits, size_t *bad)
{
    static const char *const names[] = {"qkv", "attn", "wo", "ffn", "down", "head"};
    *bits = 0;
    for (size_t i = 0; s && s[i];) {
        size_t n = strcspn(s + i, ",");
        int k = 0;
        while (k < 6 && !(strlen(names[k]) == n && !strncmp(s + i, names[k], n)))
            k++;
        if (k == 6) {
            *bad = i;
            return -1;
        }
        *bits |= 1u << k;
        i += n + (s[i + n] == ',');
    }
    return 0;
}

/* A positive decimal number of at most 9 digits at *s, s moved past it;
 * 0 when there is none. */
static unsigned parse_count(const char **s)
{
    unsigned v = 0;
    int n = 0;
    while (**s >= '0' && **s <= '9' && n < 10) {
        v = 10 * v + (unsigned)(**s - '0');
        (*s)++;
        n++;
    }
    return n > 9 ? 0 : v;
}

int gpu_work_trace_shape_parse(const char *s, unsigned *blocks, unsigned *threads)
{
    *blocks = *threads = 0;
    if (!s || !*s)
        return 0;
    unsigned b = parse_count(&s);
    if (!b || *s++ != 'x')
        return -1;
    unsigned t = parse_count(&s);
    if (!t || *s)
        return -1;
    *blocks = b;
    *threads = t;
    return 0;
}

int gpu_work_attn_max_len(int head_dim)
{
    /* 64 KiB of staged f16 K rows (and as much of V) at most */
    int l = 32768 / (head_dim > 0 ? head_dim : 1);
    l = l < ATTN_MAX_SPLIT_LEN ? l : ATTN_MAX_SPLIT_LEN;
    l &= ~3; /* the scores' rows stay 16-byte aligned */
    return l < 4 ? 4 : l;
}

int gpu_work_attn_min_len(int head_dim)
{
    int m = gpu_work_attn_max_len(head_dim);
    return ATTN_MIN_SPLIT < m ? ATTN_MIN_SPLIT : m;
}

int gpu_work_attn_splits(int n_kv_heads, int head_dim, int n_ctx)
{
    int fill = (2 * ATTN_SMS + n_kv_heads - 1) / n_kv_heads;
    int max_len = gpu_work_attn_max_len(head_dim), min_len = gpu_work_attn_min_len(head_dim);
    int by_len = (n_ctx + max_len - 1) / max_len;
    int most = (n_ctx + min_len - 1) / min_len;
    int s = fill > by_len ? fill : by_len;
    s = s < most ? s : most;
    return s < 1 ? 1 : s;
}

size_t gpu_work_attn_scratch_floats(int n_heads, int head_dim, int max_splits)
{
    return (size_t)n_heads * max_splits * (2 + head_dim);
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

void gpu_work_layout(const struct gpu_work_dims *d, struct gpu_work *w)
{
    const uint64_t P = GPU_WORK_CHUNK, qkv = (uint64_t)d->q_dim + 2ull * d->kv_dim;
    uint64_t *b = w->bytes;
    w->attn_splits = gpu_work_attn_splits((int)d->n_kv_heads, (int)d->head_dim, (int)d->n_ctx);
    b[GW_ROPE_CS] = (uint64_t)d->n_ctx * d->rope_dim * 4;
    b[GW_X] = b[GW_XG] = P * d->dim * 4;
    b[GW_XQ] = (uint64_t)d->dim / 16 * 24; /* GEMV_XQ_BYTES: 16 codes and 2 floats a 16-run */
    b[GW_NORM_SQ] = P * d->dim * 4; /* a GEMV of dim rows has at most dim blocks */
    b[GW_QKV] = qkv * 4;
    b[GW_ATT] = (uint64_t)d->q_dim * 4;
    b[GW_HB] = b[GW_HB2] = (uint64_t)d->ffn_dim * 4;
    b[GW_LOGITS] = (uint64_t)d->n_vocab * 4;
    b[GW_ATTN_SCRATCH] =
        gpu_work_attn_scratch_floats((int)d->n_heads, (int)d->head_dim, w->attn_splits) * 4;
    b[GW_ATTN_COUNTS] = (uint64_t)d->n_kv_heads * 4;
    b[GW_GEMM_WS] = GPU_WORK_GEMM_WORKSPACE;
    /* the largest matrix: Q|K|V dequantized together, wo, or gate/up/down */
    b[GW_W16] = max3(qkv, d->q_dim, d->ffn_dim) * d->dim * 2;
    b[GW_A16] = P * max3(d->dim, d->q_dim, d->ffn_dim) * 2;
    b[GW_C_QKV] = P * qkv * 4;
    b[GW_C_ATT] = P * d->q_dim * 4;
    b[GW_C_HB] = b[GW_C_HB2] = P * d->ffn_dim * 4;
    b[GW_C_TMP] = P * d->dim * 4;
    b[GW_POS] = P * 4;
    b[GW_TOPK_SCRATCH] = (uint64_t)(d->n_vocab + GPU_WORK_TOPK_SLICE - 1) / GPU_WORK_TOPK_SLICE *
                         GPU_WORK_TOPK_MAX * 8;
    b[GW_TOPK_VAL] = b[GW_TOPK_ID] = GPU_WORK_TOPK_MAX * 4;
    uint64_t off = 0;
    for (int i = 0; i < GW_COUNT; i++) {
        w->off[i] = off;
        off = (off + b[i] + GPU_WORK_ALIGN - 1) / GPU_WORK_ALIGN * GPU_WORK_ALIGN;
    }
    w->total = off;
}
