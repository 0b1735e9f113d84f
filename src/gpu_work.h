/* gpu_work.h - the CUDA engine's working buffers in the device arena
 * (activations of a prompt chunk, the decode step's vectors, attention and
 * GEMM scratch): one layout, so that the plan counts exactly what the
 * engine places (kernels/engine_cuda.cu takes its pointers from here, the
 * plan its PLAN_BUF_ACT size).
 *
 * Pure functions of the model's shapes and the context length: no CUDA. */
#ifndef STRATA_GPU_WORK_H
#define STRATA_GPU_WORK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tokens of a prompt chunk: each block runs for all of them while its
 * weights are at hand (a streamed block crosses the link once per chunk). */
#define GPU_WORK_CHUNK 512u
/* cuBLAS's workspace for the chunk GEMMs, in the arena so that no call
 * allocates: NVIDIA recommends 32 MiB on Hopper (4 MiB before); with less,
 * cuBLAS may pick slower kernels. */
#define GPU_WORK_GEMM_WORKSPACE ((uint64_t)32 << 20)
#define GPU_WORK_ALIGN 256u

/* Flash-decoding splits (kernels/ops.cu): a block stages its split's K and
 * V rows in shared memory and scores them a thread per position, so a split
 * is at most gpu_work_attn_max_len positions (ATTN_MAX_SPLIT_LEN, the
 * block's threads, fewer for heads wider than 128); a context of up to
 * gpu_work_attn_min_len positions (ATTN_MIN_SPLIT) is one split, with no
 * merge; longer ones get enough splits for about two blocks per SM of an
 * H100 SXM (ATTN_SMS). */
#ifndef ATTN_MIN_SPLIT
#define ATTN_MIN_SPLIT 128
#endif
#define ATTN_MAX_SPLIT_LEN 256
#define ATTN_SMS 132

/* Top-k of the logits on the device (kernels/ops.cu, ops_topk): slices of
 * GPU_WORK_TOPK_SLICE logits sorted per block, at most GPU_WORK_TOPK_MAX
 * candidates (what the sampler can ask for: top-k plus the penalty
 * window). */
#define GPU_WORK_TOPK_SLICE 4096
#define GPU_WORK_TOPK_MAX 256

/* STRATA_BENCH_OMIT=qkv,attn,wo,ffn,down,head (bench/step-ablate.sh): the
 * launches the CUDA engine leaves out of its decode step, for timing only
 * (the tokens are then wrong). Parses s (NULL or "": none) into *bits;
 * returns 0, or -1 at a name not in the list, whose position in s goes to
 * *bad. */
enum {
    GPU_WORK_OMIT_QKV = 1, GPU_WORK_OMIT_ATTN = 2, GPU_WORK_OMIT_WO = 4,
    GPU_WORK_OMIT_FFN = 8, GPU_WORK_OMIT_DOWN = 16, GPU_WORK_OMIT_HEAD = 32
};
int gpu_work_omit_parse(const char *s, unsigned *bits, size_t *bad);

/* STRATA_TRACE_BLOCKS=BLOCKSxTHREADS (experiment builds, kernels/trace.cuh):
 * the launch shape whose every block the trace writes out. Parses s (NULL
 * or "": none, 0 and 0) into *blocks and *threads, both positive decimal
 * numbers below 2^31; returns 0, or -1 for anything else. */
int gpu_work_trace_shape_parse(const char *s, unsigned *blocks, unsigned *threads);

/* Most and fewest positions of a split for heads of head_dim. */
int gpu_work_attn_max_len(int head_dim);
int gpu_work_attn_min_len(int head_dim);
/* Splits of the decode attention for a context of n_ctx positions. */
int gpu_work_attn_splits(int n_kv_heads, int head_dim, int n_ctx);
/* Floats of its partial results (per head and split: max, sum, head_dim). */
size_t gpu_work_attn_scratch_floats(int n_heads, int head_dim, int max_splits);

struct gpu_work_dims {
    uint32_t dim, q_dim, kv_dim, ffn_dim, n_vocab;
    uint32_t n_heads, n_kv_heads, head_dim, rope_dim, n_ctx;
};

enum gpu_work_buf {
    GW_ROPE_CS,     /* n_ctx x rope_dim f32: the rope angles of every position */
    GW_X,           /* chunk x dim f32: the residual stream */
    GW_XG,          /* chunk x dim f32: the next projection's input (x * g) */
    GW_XQ,          /* xg of one token rounded to int8 by wo for the FFN's
                       GEMVs (gemv_epi.xq_out, GEMV_XQ_BYTES(dim)) */
    GW_NORM_SQ,     /* chunk x dim f32: partial sums of squares of x, for its RMSNorm
                       (gemv_epi.rs_part: a GEMV leaves one per block, <= dim) */
    GW_QKV,         /* q|k|v of one token, f32 */
    GW_ATT,         /* q_dim f32: attention output of one token */
    GW_HB, GW_HB2,  /* ffn_dim f32 each */
    GW_LOGITS,      /* n_vocab f32 */
    GW_ATTN_SCRATCH,/* flash-decoding partials */
    GW_ATTN_COUNTS, /* their tickets, one per KV head */
    GW_GEMM_WS,     /* cuBLAS workspace */
    GW_W16,         /* the largest block matrix in f16 (prefill dequant) */
    GW_A16,         /* chunk x widest f16: a GEMM's activation input */
    GW_C_QKV,       /* chunk x (q_dim + 2 kv_dim) f32 */
    GW_C_ATT,       /* chunk x q_dim f32 */
    GW_C_HB, GW_C_HB2, /* chunk x ffn_dim f32 each */
    GW_C_TMP,       /* chunk x dim f32 */
    GW_POS,         /* chunk u32: positions */
    GW_TOPK_SCRATCH,/* per slice, its best GPU_WORK_TOPK_MAX keys (u64) */
    GW_TOPK_VAL,    /* GPU_WORK_TOPK_MAX f32: the candidates' logits */
    GW_TOPK_ID,     /* GPU_WORK_TOPK_MAX i32: their token ids */
    GW_COUNT
};

struct gpu_work {
    uint64_t off[GW_COUNT]; /* from the start of the working area, aligned */
    uint64_t bytes[GW_COUNT];
    uint64_t total;         /* the working area, GPU_WORK_ALIGN aligned */
    int attn_splits;
};

void gpu_work_layout(const struct gpu_work_dims *d, struct gpu_work *w);

#ifdef __cplusplus
}
#endif

#endif
