// engine_cuda.cu - the CUDA engine (implements src/engine.h): resident
// blocks in VRAM (tier A), streamed ones through device slots from pinned
// RAM (tier B) or the disk (tier C).
//
// One token, as one CUDA graph replayed per token when every block is
// resident (all run-time values, the position and the embedding row, come
// through device memory):
//   x = embedding row (dequantized on the host: the table stays in host
//       memory, one row per token, DESIGN.md), copied in with the position;
//       xg = x * g_attn and the sum of squares of x (ops_rms_prep)
//   per block, five launches (enqueue_block): the Q|K|V GEMV with the norm
//       folded in -> attention with rope and the KV store -> the wo GEMV
//       with the residual and the next norm -> the gate|up GEMV with SwiGLU
//       -> the down GEMV with the residual and the next norm
//   output GEMV -> logits; then either all of them are copied back
//       (engine_forward) or the device selects the best k (ops_topk) and
//       only those come back (engine_forward_top)
// A prompt chunk runs the same blocks as GEMMs on the tensor cores
// (enqueue_block_gemm, kernels/prefill.cu).
// Memory: ONE cudaMalloc (the arena) and ONE cudaMallocHost at init; the
// weights are uploaded into the arena; nothing is allocated afterwards
// (cuda_alloc_count() lets the counting test prove it).
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "dequant.h"
#include "disk_reader.h"
#include "engine.h"
#include "gpu_work.h"
#include "model.h"
#include "progress.h"
#include "quant.h"
#include "quantize.h"
#include "cpu/ops.h"
}
#include "gemv.h"
#include "ops.h"
#include "prefill.h"
#include "trace.cuh"

// Tokens of a prompt chunk run block by block together (engine_forward_batch):
// a streamed block crosses the link once per chunk. From PREFILL_GEMM_MIN
// tokens on, a chunk's matrices are GEMMs on the tensor cores (weights
// dequantized to f16 once per chunk, cuBLAS); below, GEMVs per token.
#define PREFILL_CHUNK GPU_WORK_CHUNK
static_assert(ENGINE_TOP_MAX == GPU_WORK_TOPK_MAX, "the top-k the engine offers is the one its buffers hold");
#define PREFILL_GEMM_MIN 32

static int g_alloc_count; // cudaMalloc/cudaMallocHost calls, ever

extern "C" int cuda_alloc_count(void) { return g_alloc_count; }

// The seven weight matrices of a block, in the order they are laid out in
// a block's bytes (resident in the arena, or in the pinned host arena and a
// streaming slot).
enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_COUNT };

struct dev_layer {
    const float *attn_norm, *ffn_norm;  // f32 on device
    const float *bq, *bk, *bv;          // f32 or NULL
    const void *w[W_COUNT];             // device pointers (resident layers)
    uint32_t t[W_COUNT];                // ggml types
    uint64_t w_off[W_COUNT];            // offset of each matrix in the block
    uint64_t block_bytes;               // the block's weight bytes, aligned
    int tier;                           // 0 resident, 1 pinned RAM, 2 disk
    const uint8_t *host;                // tier 1: the block in the pinned arena
    // tier 2: the file range holding the block's matrices, read as is (the
    // slot then holds the file's bytes: c_off[i] is matrix i in it)
    uint64_t range_off, range_len, c_off[W_COUNT];
    uint16_t *k_cache, *v_cache;        // [kv_head][n_ctx][head_dim] f16
};

// What a copy-stream callback needs: the reader and the tier-C job number.
struct cb_job {
    struct disk_reader *r;
    uint64_t job;
};

struct engine {
    const struct llm_model *m;
    struct llm_config c;
    uint32_t n_ctx, q_dim, kv_dim;
    cudaStream_t stream;
    uint8_t *arena;            // device
    size_t arena_bytes;
    uint8_t *host;             // pinned: per-token copies, then tier-B blocks
    size_t host_bytes;
    struct dev_layer *layers;  // host array (n_layers)
    // tier B streaming: blocks copied into n_slots device slots in order,
    // slot = (global streamed-layer index) % n_slots. Copies run ahead of
    // compute by up to n_slots layers, also across token boundaries.
    uint32_t n_streamed, n_slots;
    uint32_t *streamed;        // layer ids of the streamed blocks, in order
    uint8_t *slots;            // device, n_slots * slot_bytes
    uint64_t slot_bytes;
    uint64_t copy_seq, compute_seq; // copies issued / streamed layers enqueued
    cudaStream_t copy_stream;
    cudaEvent_t filled[16], freed[16];
    // the timeline: timing events around every copy and every wait for a
    // block, in rings indexed by sequence number, read once the compute
    // that consumed them has finished (accounted_seq: read up to there)
    uint32_t n_ring;
    cudaEvent_t *copy_t0, *copy_t1, *wait_t0, *wait_t1;
    // tier C: the reader thread fills n_slots staging buffers in the pinned
    // arena; the copy stream waits for a job in a host callback
    struct disk_reader *reader;
    uint8_t *stage;            // pinned, n_slots * stage_bytes, 4 KiB aligned
    uint64_t stage_bytes;
    uint64_t c_seq;            // tier-C copies issued
    struct cb_job *cb;         // n_ring callback arguments
    uint64_t accounted_seq;
    struct engine_timeline tl;
    const void *output;
    uint32_t t_output;
    const float *output_norm, *rope_freqs;
    float *rope_cs;            // n_ctx x rope_dim: op_rope_table of every position
    // activations: x (the residual stream), xg (the next projection's input,
    // x * norm weight) and norm_sq (the partial sums of squares of x that
    // give its RMSNorm scale, gemv_epi.rs_part; dim floats a token) per
    // token of a chunk; q, k, v adjacent (one fused GEMV writes them)
    float *x, *xg, *norm_sq, *q, *k, *v, *att, *hb, *hb2, *logits;
    void *xq;                  // xg of one token rounded to int8 (gemv_epi.xq_out)
    float *attn_scratch;       // flash-decoding partials
    unsigned *attn_counts;     // their tickets, one per KV head
    int attn_splits;
    // prefill on the tensor cores (enqueue_block_gemm): cuBLAS with its
    // workspace in the arena, one matrix dequantized to f16 at a time, and
    // the chunk's activations (PREFILL_CHUNK rows each)
    cublasHandle_t blas;
    void *blas_ws;
    uint16_t *w16, *a16;
    float *c_qkv, *c_att, *c_hb, *c_hb2, *c_tmp;
    int prefill_gemv;          // STRATA_PREFILL_GEMV: per-token GEMVs only
    uint32_t *d_pos;
    float *d_topv;             // the top-k candidates (ops_topk)
    int32_t *d_topi;
    void *d_topk_scratch;
    // pinned host side of the per-token copies
    float *h_x, *h_logits;
    uint32_t *h_pos;
    float *h_topv;             // their pinned host copies
    int32_t *h_topi;
    float *h_tmp;              // dequant scratch for norms at init
    cudaGraphExec_t graph;
    int use_graph;
    int use_pdl;               // programmatic dependent launch of the GEMVs (STRATA_NO_PDL=1: off)
    unsigned omit;             // GPU_WORK_OMIT_* bits: launches left out of the decode step (timing only)
    unsigned trace_blocks, trace_threads; // STRATA_TRACE_BLOCKS (experiment builds)
    struct ops_rope_params rope;
};

static int cuda_fail(struct st_err *err, const char *what, cudaError_t e)
{
    return st_errmsg(err, "strata: CUDA: %s: %s", what, cudaGetErrorString(e));
}

#define TRY(call, what)                              \
    do {                                             \
        cudaError_t e_ = (call);                     \
        if (e_ != cudaSuccess) {                     \
            cuda_fail(err, what, e_);                \
            goto fail;                               \
        }                                            \
    } while (0)

// Running offset into an arena; with base NULL it only measures.
static void *carve(uint8_t *base, size_t *off, size_t n)
{
    size_t at = (*off + 255) & ~(size_t)255;
    *off = at + n;
    return base ? base + at : NULL;
}

// A matrix whose row length the generated GEMVs do not take (not a
// multiple of 256: only the tiny test models have such rows) is stored as
// f32, dequantized exactly at load, and multiplied by ops_gemv_f32_any.
static int stored_as_f32(const struct gguf_tensor *t)
{
    return t->ne[0] % 256 != 0 && t->type != GGML_TYPE_F32;
}

static size_t stored_bytes(const struct gguf_tensor *t)
{
    return stored_as_f32(t) ? (size_t)t->ne[0] * t->ne[1] * 4 : t->n_bytes;
}

static uint32_t stored_type(const struct gguf_tensor *t)
{
    return stored_as_f32(t) ? GGML_TYPE_F32 : t->type;
}

// Writes the tensor's stored form (see stored_as_f32) to host memory.
static void store_host(void *dst, const struct gguf_tensor *t)
{
    if (!stored_as_f32(t)) {
        memcpy(dst, t->data, t->n_bytes);
        return;
    }
    size_t row_bytes = ggml_row_size(t->type, t->ne[0]);
    for (uint64_t r = 0; r < t->ne[1]; r++)
        dequant_row(t->type, (const uint8_t *)t->data + r * row_bytes,
                    (float *)dst + r * t->ne[0], t->ne[0]);
}

// Lays out (base NULL: measures) the device arena. Weights first, in model
// order, then the f32 norms and biases, the KV cache, activations, scratch.
static size_t layout_device(struct engine *e, uint8_t *base)
{
    const struct llm_model *m = e->m;
    const struct llm_config *c = &e->c;
    size_t off = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct llm_layer *L = &m->layers[l];
        struct dev_layer *D = &e->layers[l];
        if (D->tier == 0) {
            uint8_t *blk = (uint8_t *)carve(base, &off, D->block_bytes);
            for (int i = 0; i < W_COUNT; i++)
                D->w[i] = blk ? blk + D->w_off[i] : NULL;
        }
        D->attn_norm = (const float *)carve(base, &off, c->dim * 4);
        D->ffn_norm = (const float *)carve(base, &off, c->dim * 4);
        // biases (qwen2): q|k|v adjacent, as the fused GEMV adds them (zeros
        // where one is missing)
        D->bq = D->bk = D->bv = NULL;
        if (L->bq || L->bk || L->bv) {
            float *b = (float *)carve(base, &off, (size_t)(e->q_dim + 2 * e->kv_dim) * 4);
            D->bq = b;
            D->bk = b ? b + e->q_dim : NULL;
            D->bv = b ? b + e->q_dim + e->kv_dim : NULL;
        }
        size_t cache = (size_t)c->n_kv_heads * e->n_ctx * c->head_dim * 2;
        D->k_cache = (uint16_t *)carve(base, &off, cache);
        D->v_cache = (uint16_t *)carve(base, &off, cache);
    }
    e->output = carve(base, &off, stored_bytes(m->output));
    e->output_norm = (const float *)carve(base, &off, c->dim * 4);
    e->rope_freqs = m->rope_freqs ? (const float *)carve(base, &off, c->rope_dim / 2 * 4) : NULL;
    // the working buffers: one layout with the plan's count of them
    struct gpu_work_dims wd = {c->dim, e->q_dim, e->kv_dim, c->ffn_dim, c->n_vocab,
                               c->n_heads, c->n_kv_heads, c->head_dim, c->rope_dim, e->n_ctx};
    struct gpu_work w;
    gpu_work_layout(&wd, &w);
    uint8_t *wb = (uint8_t *)carve(base, &off, w.total);
#define WORK(i) (wb ? (void *)(wb + w.off[i]) : NULL)
    e->rope_cs = (float *)WORK(GW_ROPE_CS);
    e->x = (float *)WORK(GW_X);
    e->xg = (float *)WORK(GW_XG);
    e->norm_sq = (float *)WORK(GW_NORM_SQ);
    e->xq = WORK(GW_XQ);
    e->q = (float *)WORK(GW_QKV);
    e->k = e->q ? e->q + e->q_dim : NULL;
    e->v = e->k ? e->k + e->kv_dim : NULL;
    e->att = (float *)WORK(GW_ATT);
    e->hb = (float *)WORK(GW_HB);
    e->hb2 = (float *)WORK(GW_HB2);
    e->logits = (float *)WORK(GW_LOGITS);
    e->attn_splits = w.attn_splits;
    e->attn_scratch = (float *)WORK(GW_ATTN_SCRATCH);
    e->attn_counts = (unsigned *)WORK(GW_ATTN_COUNTS);
    e->blas_ws = WORK(GW_GEMM_WS);
    e->w16 = (uint16_t *)WORK(GW_W16);
    e->a16 = (uint16_t *)WORK(GW_A16);
    e->c_qkv = (float *)WORK(GW_C_QKV);
    e->c_att = (float *)WORK(GW_C_ATT);
    e->c_hb = (float *)WORK(GW_C_HB);
    e->c_hb2 = (float *)WORK(GW_C_HB2);
    e->c_tmp = (float *)WORK(GW_C_TMP);
    e->d_pos = (uint32_t *)WORK(GW_POS);
    e->d_topk_scratch = WORK(GW_TOPK_SCRATCH);
    e->d_topv = (float *)WORK(GW_TOPK_VAL);
    e->d_topi = (int32_t *)WORK(GW_TOPK_ID);
#undef WORK
    e->slots = (uint8_t *)carve(base, &off, (size_t)e->n_slots * e->slot_bytes);
    return off;
}

static size_t layout_host(struct engine *e, uint8_t *base)
{
    size_t off = 0;
    uint32_t widest = e->c.dim > e->c.ffn_dim ? e->c.dim : e->c.ffn_dim;
    if (widest < e->q_dim)
        widest = e->q_dim;
    e->h_x = (float *)carve(base, &off, (size_t)PREFILL_CHUNK * e->c.dim * 4);
    e->h_logits = (float *)carve(base, &off, (size_t)e->c.n_vocab * 4);
    e->h_pos = (uint32_t *)carve(base, &off, PREFILL_CHUNK * 4);
    e->h_topv = (float *)carve(base, &off, GPU_WORK_TOPK_MAX * 4);
    e->h_topi = (int32_t *)carve(base, &off, GPU_WORK_TOPK_MAX * 4);
    e->h_tmp = (float *)carve(base, &off, (size_t)widest * 4);
    for (uint32_t j = 0; j < e->n_streamed; j++) {
        struct dev_layer *D = &e->layers[e->streamed[j]];
        if (D->tier == 1)
            D->host = (const uint8_t *)carve(base, &off, D->block_bytes);
    }
    if (e->stage_bytes) { // direct I/O wants 4 KiB-aligned buffers
        uint8_t *p = (uint8_t *)carve(base, &off, e->n_slots * e->stage_bytes + DISK_READER_ALIGN);
        e->stage = p ? (uint8_t *)(((uintptr_t)p + DISK_READER_ALIGN - 1) &
                                   ~(uintptr_t)(DISK_READER_ALIGN - 1))
                     : NULL;
    }
    return off;
}

// Dequantizes a small vector (norm, bias, rope factors) on the host and
// uploads it as f32.
static cudaError_t upload_f32(struct engine *e, const float *dst,
                              const struct gguf_tensor *t)
{
    dequant_row(t->type, t->data, e->h_tmp, t->n_elems);
    return cudaMemcpy((void *)dst, e->h_tmp, t->n_elems * 4, cudaMemcpyHostToDevice);
}

static cudaError_t upload(const void *dst, const struct gguf_tensor *t)
{
    if (!stored_as_f32(t))
        return cudaMemcpy((void *)dst, t->data, t->n_bytes, cudaMemcpyHostToDevice);
    void *tmp = malloc(stored_bytes(t)); // start-up only, tiny models only
    if (!tmp)
        return cudaErrorMemoryAllocation;
    store_host(tmp, t);
    cudaError_t r = cudaMemcpy((void *)dst, tmp, stored_bytes(t), cudaMemcpyHostToDevice);
    free(tmp);
    return r;
}

static const struct gguf_tensor *layer_weight(const struct llm_layer *L, int i)
{
    const struct gguf_tensor *w[W_COUNT] = {L->wq, L->wk, L->wv, L->wo,
                                            L->ffn_gate, L->ffn_up, L->ffn_down};
    return w[i];
}

// Offsets of the seven matrices inside a block (256-byte aligned each) and
// the block's size: the same layout in the arena, the host arena and a slot.
static void layout_block(struct dev_layer *D, const struct llm_layer *L, uint32_t stream_type)
{
    size_t off = 0;
    for (int i = 0; i < W_COUNT; i++) {
        const struct gguf_tensor *t = layer_weight(L, i);
        D->w_off[i] = (off + 255) & ~(size_t)255;
        D->t[i] = stored_type(t);
        size_t bytes = stored_bytes(t);
        if (D->tier == 1 && !stored_as_f32(t)) { // --stream-type, the plan's rule
            D->t[i] = quantize_stream_type(t->type, t->ne[0], stream_type);
            bytes = ggml_row_size(D->t[i], t->ne[0]) * t->ne[1];
        }
        off = D->w_off[i] + bytes;
    }
    D->block_bytes = (off + 255) & ~(size_t)255;
}

// Host callbacks on the copy stream (CUDA's callback thread): block until
// the reader has staged a tier-C job, and hand its buffer back after the
// copy. They make no CUDA calls.
static void CUDART_CB stage_wait_cb(void *arg)
{
    struct cb_job *j = (struct cb_job *)arg;
    disk_reader_wait(j->r, j->job);
}

static void CUDART_CB stage_release_cb(void *arg)
{
    struct cb_job *j = (struct cb_job *)arg;
    disk_reader_release(j->r, j->job);
}

// Issues the copies of streamed blocks up to global index `upto` (a copy
// may only be issued once the compute that last used its slot has been
// enqueued: index c needs compute c - n_slots).
static void issue_copies(struct engine *e, uint64_t upto)
{
    while (e->copy_seq <= upto && e->copy_seq < e->compute_seq + e->n_slots) {
        uint64_t c = e->copy_seq++;
        uint32_t slot = (uint32_t)(c % e->n_slots);
        const struct dev_layer *D = &e->layers[e->streamed[c % e->n_streamed]];
        if (c >= e->n_slots)
            cudaStreamWaitEvent(e->copy_stream, e->freed[slot], 0);
        const uint8_t *src = D->host;
        size_t bytes = D->block_bytes;
        struct cb_job *cj = NULL;
        if (D->tier == 2) { // wait (in stream order) for the reader's buffer
            cj = &e->cb[c % e->n_ring];
            cj->r = e->reader;
            cj->job = e->c_seq++;
            src = e->stage + (cj->job % e->n_slots) * e->stage_bytes;
            bytes = D->range_len;
            cudaLaunchHostFunc(e->copy_stream, stage_wait_cb, cj);
        }
        cudaEventRecord(e->copy_t0[c % e->n_ring], e->copy_stream);
        cudaMemcpyAsync(e->slots + (size_t)slot * e->slot_bytes, src, bytes,
                        cudaMemcpyHostToDevice, e->copy_stream);
        cudaEventRecord(e->copy_t1[c % e->n_ring], e->copy_stream);
        cudaEventRecord(e->filled[slot], e->copy_stream);
        if (cj) // the staging buffer is free once the copy is done
            cudaLaunchHostFunc(e->copy_stream, stage_release_cb, cj);
    }
}

// Bytes of matrix i of a block as it is stored (its stored type, rows of
// ne[0] elements; the slot and the arena use the same).
static size_t mat_bytes(const struct dev_layer *D, const struct llm_layer *L, int i)
{
    const struct gguf_tensor *t = layer_weight(L, i);
    return ggml_row_size(D->t[i], t->ne[0]) * t->ne[1];
}

// Matrices a and b can be multiplied as one: the same type, b right after a
// (in the arena, the slot, or the file range of a tier-C block).
static int adjacent(const struct dev_layer *D, const struct llm_layer *L, const void *const *w,
                    int a, int b)
{
    return D->t[a] == D->t[b] && (const uint8_t *)w[b] == (const uint8_t *)w[a] + mat_bytes(D, L, a);
}

// y = epilogue(W x) (kernels/gemv.h): the generated instance, or the f32
// fallback for rows the instances do not take. Returns -1, launching
// nothing, when the build has no kernel for the shape.
static int gemv(struct engine *e, uint32_t t, uint32_t rows, uint32_t cols, int pair,
                const void *w, const float *x, float *y, const struct gemv_epi *epi)
{
    if (gemv_launch(t, rows, cols, pair, w, x, y, epi, e->stream) == 0)
        return 0;
    if (t != GGML_TYPE_F32 || cols % 256 == 0)
        return -1;
    ops_gemv_f32_any(y, (const float *)w, x, rows, cols, pair, epi, e->stream);
    return 0;
}

// The thread blocks gemv() launches for that shape: the partial sums of
// squares its epilogue leaves in sq_part.
static uint32_t gemv_parts(uint32_t t, uint32_t rows, uint32_t cols)
{
    uint32_t b = gemv_blocks(t, rows, cols, 0);
    return b ? b : ops_gemv_f32_any_blocks((int)rows, 0);
}

static int no_kernel(struct st_err *err, uint32_t t, uint32_t rows, uint32_t cols)
{
    return st_errmsg(err, "strata: no GEMV kernel for %s %ux%u in this build "
                          "(configure generates one per shape of the planned model)",
                     ggml_type_name(t), (unsigned)rows, (unsigned)cols);
}

// The partial sums of squares that block l's down projection leaves for the
// next norm.
static uint32_t down_parts(const struct engine *e, uint32_t l)
{
    return gemv_parts(e->layers[l].t[W_DOWN], e->c.dim, e->c.ffn_dim);
}

#define GEMV(t, rows, cols, pair, w, xin, yout, epi)                        \
    do {                                                                    \
        if (gemv(e, (t), (rows), (cols), (pair), (w), (xin), (yout), (epi))) \
            return no_kernel(err, (t), (rows), (cols));                     \
    } while (0)

// Whether wo's launch should round xg to int8 for the FFN (gemv_epi.xq_out):
// its instance ends whole 16-runs and the FFN's first GEMV rounds x (the
// Q4_K gate|up pair rounded the same 4096 floats in each of its 14336
// warps; bench/NOTES.md, session 15). STRATA_XQ=0 builds without it.
#ifndef STRATA_XQ
#define STRATA_XQ 1
#endif
static int ffn_takes_xq(const struct engine *e, const struct dev_layer *D)
{
    const struct llm_config *c = &e->c;
    if (!STRATA_XQ || !e->xq)
        return 0;
    int wo = gemv_xq(D->t[W_O], c->dim, e->q_dim, 0);
    int pair = gemv_xq(D->t[W_GATE], c->ffn_dim, c->dim, 1);
    int gate = gemv_xq(D->t[W_GATE], c->ffn_dim, c->dim, 0);
    return wo > 0 && (wo & GEMV_XQ_GIVES) &&
           ((pair > 0 && (pair & GEMV_XQ_TAKES)) || (gate > 0 && (gate & GEMV_XQ_TAKES)));
}

// Q|K and a V of another type as one launch (gemv_launch_cat; Llama
// Q4_K_M: a Q6_K V in half the blocks), where the build has it: saves V's
// own launch, its ramp and hand-over (bench/NOTES.md, session 16).
// STRATA_CAT=0 builds without. Returns 1 when launched, 0 when not.
#ifndef STRATA_CAT
#define STRATA_CAT 1
#endif
static int qk_v_cat(struct engine *e, const struct dev_layer *D, const struct llm_layer *L,
                    const void *const *w, const float *xg, const struct gemv_epi *in)
{
    if (!STRATA_CAT || !adjacent(D, L, w, W_Q, W_K) || D->t[W_V] == D->t[W_Q])
        return 0;
    struct gemv_epi ev = *in;
    ev.bias = in->bias ? D->bv : NULL;
    return gemv_launch_cat(D->t[W_Q], e->q_dim + e->kv_dim, D->t[W_V], e->kv_dim, e->c.dim, w[W_Q],
                           w[W_V], xg, e->q, in, &ev, e->stream) == 0;
}

// One block for one token, five launches when the matrices allow it:
//   q|k|v = rs * (Wqkv (x * g_attn)) + b         one GEMV (Q, K, V adjacent;
//                                  Q|K and a V of another type: qk_v_cat)
//   att = attention(rope(q), rope(k) -> cache, v -> cache)      one launch
//   x += Wo att; xg = x * g_ffn; rs = rms(x)         GEMV with epilogue
//   hb = silu(rs * Wgate xg) * (rs * Wup xg)         one paired GEMV
//   x += Wdown hb; xg = x * g_next; rs = rms(x)      GEMV with epilogue
// (g_next: the next block's attn_norm, or the output norm after the last
// block; rs: the norm's scale from the partial sums of squares that the
// producer of x left in norm_sq, gemv_epi.rs_part). On entry xg and
// norm_sq hold this token's attention-norm input and partials.
// Where Q/K/V or gate/up are not adjacent or of one type, or the build lacks
// the fused shape, they run as separate GEMVs (and SwiGLU as its own op).
static int enqueue_block(struct engine *e, uint32_t l, const void *const *w, uint32_t t,
                         struct st_err *err)
{
    const struct llm_config *c = &e->c;
    const struct dev_layer *D = &e->layers[l];
    const struct llm_layer *L = &e->m->layers[l];
    cudaStream_t s = e->stream;
    float *x = e->x + (size_t)t * c->dim, *xg = e->xg + (size_t)t * c->dim;
    float *sq = e->norm_sq + (size_t)t * c->dim;
    const uint32_t sq_n_in = l == 0 ? 1 : down_parts(e, l - 1);
    const uint32_t *pos = e->d_pos + t;
    const float *g_next = l + 1 < c->n_layers ? e->layers[l + 1].attn_norm : e->output_norm;
    const uint32_t qkv_rows = e->q_dim + 2 * e->kv_dim;

    // attention: x (dim,) -> q (q_dim,), k, v (kv_dim,) -> att (q_dim,)
    struct gemv_epi in = {};
    in.rs_part = sq;
    in.rs_n = sq_n_in;
    in.rs_eps = c->norm_eps;
    in.bias = D->bq;
    in.pdl = D->tier == 0 && e->use_pdl; // no copy writes resident weights
    if (e->omit & GPU_WORK_OMIT_QKV) {
    } else if (!(adjacent(D, L, w, W_Q, W_K) && adjacent(D, L, w, W_K, W_V) &&
          gemv(e, D->t[W_Q], qkv_rows, c->dim, 0, w[W_Q], xg, e->q, &in) == 0) &&
               !qk_v_cat(e, D, L, w, xg, &in)) {
        // Q|K as one where they share a type (Q4_K_M: V is Q6_K in half
        // the blocks); q, k and their biases are adjacent too
        if (!(adjacent(D, L, w, W_Q, W_K) &&
              gemv(e, D->t[W_Q], e->q_dim + e->kv_dim, c->dim, 0, w[W_Q], xg, e->q, &in) == 0)) {
            GEMV(D->t[W_Q], e->q_dim, c->dim, 0, w[W_Q], xg, e->q, &in);
            in.bias = D->bq ? D->bk : NULL;
            GEMV(D->t[W_K], e->kv_dim, c->dim, 0, w[W_K], xg, e->k, &in);
        }
        in.bias = D->bq ? D->bv : NULL;
        GEMV(D->t[W_V], e->kv_dim, c->dim, 0, w[W_V], xg, e->v, &in);
    }
    if (!(e->omit & GPU_WORK_OMIT_ATTN) &&
        ops_attention(e->att, e->q, e->k, e->v, D->k_cache, D->v_cache, e->n_ctx, pos, (int)t,
                      &e->rope, e->attn_splits, e->attn_scratch, e->attn_counts, e->use_pdl, s))
        return st_errmsg(err, "strata: attention: shape out of range or shared memory refused");
    struct gemv_epi res = {};
    res.res = x;
    res.g_next = D->ffn_norm;
    res.sq_part = sq;
    res.pdl = in.pdl;
    if (ffn_takes_xq(e, D))
        res.xq_out = e->xq;
    if (!(e->omit & GPU_WORK_OMIT_WO))
        GEMV(D->t[W_O], c->dim, e->q_dim, 0, w[W_O], e->att, xg, &res);

    // FFN: xg -> hb (ffn_dim,) -> x
    in.bias = NULL;
    in.xq_in = res.xq_out; // xg as wo rounded it, where it did
    in.rs_n = gemv_parts(D->t[W_O], c->dim, e->q_dim);
    if (e->omit & GPU_WORK_OMIT_FFN) {
    } else if (!(adjacent(D, L, w, W_GATE, W_UP) &&
          gemv(e, D->t[W_GATE], c->ffn_dim, c->dim, 1, w[W_GATE], xg, e->hb, &in) == 0)) {
        GEMV(D->t[W_GATE], c->ffn_dim, c->dim, 0, w[W_GATE], xg, e->hb, &in);
        GEMV(D->t[W_UP], c->ffn_dim, c->dim, 0, w[W_UP], xg, e->hb2, &in);
        ops_swiglu(e->hb, e->hb2, c->ffn_dim, s);
    }
    in.xq_in = res.xq_out = NULL;
    res.g_next = g_next;
    if (!(e->omit & GPU_WORK_OMIT_DOWN))
        GEMV(D->t[W_DOWN], c->dim, c->ffn_dim, 0, w[W_DOWN], e->hb, xg, &res);
    return 0;
}

// Matrix i of block l dequantized to f16 (rows x cols, row-major) at dst.
static int dequant_f16(struct engine *e, const struct dev_layer *D, const struct llm_layer *L,
                       const void *const *w, int i, uint16_t *dst, struct st_err *err)
{
    const struct gguf_tensor *t = layer_weight(L, i);
    if (prefill_dequant_f16(D->t[i], (uint32_t)t->ne[1], (uint32_t)t->ne[0], w[i], dst,
                            e->stream))
        return st_errmsg(err, "strata: prefill: no f16 dequantization for %s",
                         ggml_type_name(D->t[i]));
    return 0;
}

// One block for a chunk of n tokens on the tensor cores: each matrix is
// dequantized to f16 once and multiplied with the n rows of activations
// (cuBLAS, f32 accumulation), the small ops run on all rows at once.
//   a16 = f16(rmsnorm(x, g_attn)); qkv = a16 Wqkv^T (+ b)
//   rope, K/V of the n positions into the cache; att = causal attention
//   x += f16(att) Wo^T;  a16 = f16(rmsnorm(x, g_ffn))
//   x += f16(silu(a16 Wgate^T) * (a16 Wup^T)) Wdown^T
static int enqueue_block_gemm(struct engine *e, uint32_t l, const void *const *w, uint32_t n,
                              struct st_err *err)
{
    const struct llm_config *c = &e->c;
    const struct dev_layer *D = &e->layers[l];
    const struct llm_layer *L = &e->m->layers[l];
    cudaStream_t s = e->stream;
    const int qkv_rows = (int)(e->q_dim + 2 * e->kv_dim), dim = (int)c->dim;
    const int ffn = (int)c->ffn_dim, q_dim = (int)e->q_dim;
    int r = 0;
#define CK_(x) do { if ((r = (x)) != 0) goto out; } while (0)
    prefill_rmsnorm_f16(e->a16, e->x, D->attn_norm, n, dim, c->norm_eps, s);
    CK_(dequant_f16(e, D, L, w, W_Q, e->w16, err));
    CK_(dequant_f16(e, D, L, w, W_K, e->w16 + (size_t)q_dim * dim, err));
    CK_(dequant_f16(e, D, L, w, W_V, e->w16 + (size_t)(q_dim + e->kv_dim) * dim, err));
    CK_(prefill_gemm(e->blas, n, qkv_rows, dim, e->w16, e->a16, e->c_qkv, s));
    if (D->bq)
        prefill_add_bias_rows(e->c_qkv, D->bq, n, qkv_rows, qkv_rows, s);
    prefill_rope_store(e->c_qkv, qkv_rows, n, e->d_pos, &e->rope, D->k_cache, D->v_cache,
                       e->n_ctx, s);
    CK_(prefill_attention(e->c_att, e->c_qkv, qkv_rows, n, e->d_pos, D->k_cache, D->v_cache,
                          e->n_ctx, c->n_heads, c->n_kv_heads, c->head_dim, s));
    prefill_to_f16(e->a16, e->c_att, (size_t)n * q_dim, s);
    CK_(dequant_f16(e, D, L, w, W_O, e->w16, err));
    CK_(prefill_gemm(e->blas, n, dim, q_dim, e->w16, e->a16, e->c_tmp, s));
    prefill_add(e->x, e->c_tmp, (size_t)n * dim, s);

    prefill_rmsnorm_f16(e->a16, e->x, D->ffn_norm, n, dim, c->norm_eps, s);
    CK_(dequant_f16(e, D, L, w, W_GATE, e->w16, err));
    CK_(prefill_gemm(e->blas, n, ffn, dim, e->w16, e->a16, e->c_hb, s));
    CK_(dequant_f16(e, D, L, w, W_UP, e->w16, err));
    CK_(prefill_gemm(e->blas, n, ffn, dim, e->w16, e->a16, e->c_hb2, s));
    prefill_swiglu_f16(e->a16, e->c_hb, e->c_hb2, n, ffn, ffn, s);
    CK_(dequant_f16(e, D, L, w, W_DOWN, e->w16, err));
    CK_(prefill_gemm(e->blas, n, dim, ffn, e->w16, e->a16, e->c_tmp, s));
    prefill_add(e->x, e->c_tmp, (size_t)n * dim, s);
out:
#undef CK_
    if (r && !err->msg[0])
        st_errmsg(err, "strata: prefill: a GEMM or the chunk attention refused its shape");
    return r ? -1 : 0;
}

// The step for n_tok tokens (1 when decoding; up to PREFILL_CHUNK in a
// prompt chunk): everything between "embedding rows in h_x, positions in
// h_pos" and "the last token's logits in e->logits" (on the device: what
// comes back to the host is the caller's choice, fetch_logits / ops_topk).
// Block-major: each block runs for every token of the chunk while its
// weights are at hand, so a streamed block crosses the link once per chunk,
// not once per token; with gemm, a block is one pass for the whole chunk on
// the tensor cores (enqueue_block_gemm). Returns -1 at a GEMV shape without
// a kernel.
static int enqueue_step(struct engine *e, uint32_t n_tok, int gemm, struct st_err *err)
{
    const struct llm_config *c = &e->c;
    cudaStream_t s = e->stream;
    cudaMemcpyAsync(e->x, e->h_x, (size_t)n_tok * c->dim * 4, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(e->d_pos, e->h_pos, n_tok * 4, cudaMemcpyHostToDevice, s);
    if (!gemm)
        ops_rms_prep(e->xg, e->norm_sq, (int)c->dim, e->x, e->layers[0].attn_norm, (int)c->dim,
                     (int)n_tok, s);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct dev_layer *D = &e->layers[l];
        const void *w[W_COUNT];
        uint32_t slot = 0;
        if (D->tier == 0) {
            memcpy(w, D->w, sizeof w);
        } else { // the block arrives in a slot: wait for its copy
            uint64_t k = e->compute_seq;
            issue_copies(e, k);
            slot = (uint32_t)(k % e->n_slots);
            cudaEventRecord(e->wait_t0[k % e->n_ring], s);
            cudaStreamWaitEvent(s, e->filled[slot], 0);
            cudaEventRecord(e->wait_t1[k % e->n_ring], s);
            for (int i = 0; i < W_COUNT; i++)
                w[i] = e->slots + (size_t)slot * e->slot_bytes +
                       (D->tier == 2 ? D->c_off[i] : D->w_off[i]);
        }
        if (gemm && enqueue_block_gemm(e, l, w, n_tok, err))
            return -1;
        for (uint32_t t = 0; !gemm && t < n_tok; t++)
            if (enqueue_block(e, l, w, t, err))
                return -1;
        if (D->tier != 0) { // the slot is free once this layer's kernels ran
            cudaEventRecord(e->freed[slot], s);
            e->compute_seq++;
            issue_copies(e, e->compute_seq + e->n_slots - 1);
        }
    }
    // the last token's logits = rs * (Wout (x * g_out))
    const size_t last = (size_t)(n_tok - 1) * c->dim;
    if (gemm) // the per-token path's last epilogue made xg and its partials; here:
        ops_rms_prep(e->xg + last, e->norm_sq + last, 0, e->x + last, e->output_norm,
                     (int)c->dim, 1, s);
    struct gemv_epi head = {};
    head.rs_part = e->norm_sq + last;
    head.rs_n = gemm ? 1 : down_parts(e, c->n_layers - 1);
    head.rs_eps = c->norm_eps;
    head.pdl = e->use_pdl;
    if (e->omit & GPU_WORK_OMIT_HEAD)
        return 0;
    GEMV(e->t_output, c->n_vocab, c->dim, 0, e->output, e->xg + (size_t)(n_tok - 1) * c->dim,
         e->logits, &head);
    return 0;
}
#undef GEMV

// A full prompt chunk through the first resident block, once at start-up:
// the first use of a kernel loads its module and cuBLAS picks its GEMM
// kernels per shape at the first call, which would otherwise land in the
// first prompt's time (tens of ms). It writes that block's KV cache at
// positions 0..n-1 with values of a zero input; a prompt rewrites every
// position before any token reads it.
static int fetch_top(struct engine *e, uint32_t k);

static int warm_prefill(struct engine *e, struct st_err *err)
{
    uint32_t n = e->n_ctx < PREFILL_CHUNK ? e->n_ctx : PREFILL_CHUNK, l = 0;
    while (l < e->c.n_layers && e->layers[l].tier != 0)
        l++;
    if (e->prefill_gemv || n < PREFILL_GEMM_MIN || l == e->c.n_layers)
        return 0;
    memset(e->h_x, 0, (size_t)n * e->c.dim * 4);
    for (uint32_t i = 0; i < n; i++)
        e->h_pos[i] = i;
    cudaMemcpyAsync(e->x, e->h_x, (size_t)n * e->c.dim * 4, cudaMemcpyHostToDevice, e->stream);
    cudaMemcpyAsync(e->d_pos, e->h_pos, n * 4, cudaMemcpyHostToDevice, e->stream);
    if (enqueue_block_gemm(e, l, e->layers[l].w, n, err))
        return -1;
    cudaError_t r = cudaStreamSynchronize(e->stream);
    return r == cudaSuccess ? 0 : cuda_fail(err, "warming up the prefill kernels", r);
}

// Tier C: the file range that holds block l's seven matrices (they are
// contiguous in the files llama.cpp and strata-synth write), 4 KiB aligned
// at its start for direct I/O, and each matrix's place in it.
static int file_range(struct engine *e, struct dev_layer *D, const struct llm_layer *L,
                      uint32_t l, struct st_err *err)
{
    const struct gguf_file *f = &e->m->gguf;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < W_COUNT; i++) {
        const struct gguf_tensor *t = layer_weight(L, i);
        if (stored_as_f32(t))
            return st_errf(err, f->path, "plan: tier of block", "0 or 1 (rows of this "
                           "model are stored as f32, which the file does not hold)",
                           "2 (disk) for block %u", l);
        uint64_t a = f->data_offset + t->offset;
        lo = a < lo ? a : lo;
        hi = a + t->n_bytes > hi ? a + t->n_bytes : hi;
    }
    D->range_off = lo / DISK_READER_ALIGN * DISK_READER_ALIGN;
    D->range_len = hi - D->range_off;
    if (D->range_len > D->block_bytes + (16u << 20))
        return st_errf(err, f->path, "block layout", "the matrices of a block side by side "
                       "(tier C reads a block in one range)",
                       "block %u spread over %llu bytes for %llu of weights", l,
                       (unsigned long long)D->range_len, (unsigned long long)D->block_bytes);
    for (int i = 0; i < W_COUNT; i++)
        D->c_off[i] = f->data_offset + layer_weight(L, i)->offset - D->range_off;
    return 0;
}

// The tier-C blocks' ranges, in stream order, to the reader thread.
static int start_reader(struct engine *e, struct st_err *err)
{
    uint64_t off[1024], len[1024];
    uint32_t n = 0;
    for (uint32_t j = 0; j < e->n_streamed && n < 1024; j++) {
        const struct dev_layer *D = &e->layers[e->streamed[j]];
        if (D->tier == 2) {
            off[n] = D->range_off;
            len[n++] = D->range_len;
        }
    }
    e->reader = disk_reader_start(e->m->gguf.path, off, len, n, e->stage, e->stage_bytes,
                                  e->n_slots, err);
    return e->reader ? 0 : -1;
}

extern "C" struct engine *engine_init(const struct llm_model *m,
                                      const struct engine_opts *o,
                                      struct st_err *err)
{
    struct engine *e = (struct engine *)calloc(1, sizeof *e);
    if (!e) {
        st_errmsg(err, "strata: out of memory");
        return NULL;
    }
    e->m = m;
    e->c = m->cfg;
    const struct llm_config *c = &e->c;
    e->n_ctx = o && o->n_ctx ? o->n_ctx : (c->ctx_train < 4096 ? c->ctx_train : 4096);
    e->q_dim = c->n_heads * c->head_dim;
    e->kv_dim = c->n_kv_heads * c->head_dim;
    e->use_graph = !getenv("STRATA_NO_GRAPH");
    e->use_pdl = !getenv("STRATA_NO_PDL");
    e->prefill_gemv = getenv("STRATA_PREFILL_GEMV") != NULL;
    e->layers = (struct dev_layer *)calloc(c->n_layers, sizeof *e->layers);
    if (!e->layers) {
        st_errmsg(err, "strata: out of memory");
        free(e);
        return NULL;
    }
    const char *omit = getenv("STRATA_BENCH_OMIT"); // timing only (gpu_work.h)
    size_t bad = 0;
    if (gpu_work_omit_parse(omit, &e->omit, &bad)) {
        st_errf(err, "STRATA_BENCH_OMIT", "launch name", "a comma list of qkv attn wo ffn down head",
                "'%.*s'", (int)strcspn(omit + bad, ","), omit + bad);
        goto fail;
    }
    if (gpu_work_trace_shape_parse(getenv("STRATA_TRACE_BLOCKS"), &e->trace_blocks,
                                   &e->trace_threads)) { // experiment builds (kernels/trace.cuh)
        st_errf(err, "STRATA_TRACE_BLOCKS", "launch shape", "BLOCKSxTHREADS, e.g. 125x352",
                "'%s'", getenv("STRATA_TRACE_BLOCKS"));
        goto fail;
    }
    if (c->n_heads / c->n_kv_heads > 16 || c->head_dim > 256 || c->head_dim % 8) {
        st_errf(err, "strata", "heads per KV head / head_dim", "<= 16 / a multiple of 8, <= 256",
                "%u / %u", c->n_heads / c->n_kv_heads, c->head_dim);
        goto fail;
    }
    {
        int n_dev = 0;
        if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
            st_errmsg(err, "strata: this build's plan runs on a GPU, and no CUDA device was found "
                           "(configure --cpu builds the CPU engine)");
            goto fail;
        }
    }
    // tiers: resident unless the plan streams the layer from pinned RAM
    e->streamed = (uint32_t *)calloc(c->n_layers, sizeof *e->streamed);
    if (!e->streamed) {
        st_errmsg(err, "strata: out of memory");
        goto fail;
    }
    for (uint32_t l = 0; l < c->n_layers; l++) {
        struct dev_layer *D = &e->layers[l];
        D->tier = o && o->layer_tier ? o->layer_tier[l] : 0;
        layout_block(D, &m->layers[l], o ? o->stream_type : 0);
        if (D->tier == 2 && file_range(e, D, &m->layers[l], l, err))
            goto fail;
        if (D->tier != 0) {
            e->streamed[e->n_streamed++] = l;
            uint64_t need = D->tier == 2 ? D->range_len : D->block_bytes;
            if (need > e->slot_bytes)
                e->slot_bytes = need;
            if (D->tier == 2 && need > e->stage_bytes)
                e->stage_bytes = need;
        }
    }
    if (e->n_streamed) {
        e->n_slots = o && o->n_slots ? o->n_slots : 2;
        if (e->n_slots < 1)
            e->n_slots = 1;
        if (e->n_slots > 16)
            e->n_slots = 16;
        e->use_graph = 0; // the copies are ordered by events across tokens
    }
    e->stage_bytes = (e->stage_bytes + DISK_READER_ALIGN - 1) / DISK_READER_ALIGN * DISK_READER_ALIGN;
    e->arena_bytes = layout_device(e, NULL);
    TRY(cudaMalloc((void **)&e->arena, e->arena_bytes), "allocating the device arena");
    g_alloc_count++;
    layout_device(e, e->arena);
    // the kernels' tickets are zero between launches (they reset them)
    TRY(cudaMemset(e->attn_counts, 0, c->n_kv_heads * 4), "clearing tickets");
    e->host_bytes = layout_host(e, NULL);
    TRY(cudaMallocHost((void **)&e->host, e->host_bytes), "allocating the pinned host arena");
    g_alloc_count++;
    layout_host(e, e->host);
    if (trace_init(e->trace_blocks, e->trace_threads)) { // experiment builds only (-DSTRATA_TRACE, kernels/trace.cuh)
        st_errmsg(err, "strata: STRATA_TRACE: no room for the trace ring");
        goto fail;
    }
    TRY(cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking), "creating a stream");
    TRY(cudaStreamCreateWithFlags(&e->copy_stream, cudaStreamNonBlocking), "creating a stream");
    if (prefill_gemm_init(&e->blas, e->blas_ws, GPU_WORK_GEMM_WORKSPACE, e->stream)) {
        st_errmsg(err, "strata: cuBLAS: could not create its handle");
        goto fail;
    }
    for (uint32_t i = 0; i < e->n_slots; i++) {
        TRY(cudaEventCreateWithFlags(&e->filled[i], cudaEventDisableTiming), "creating events");
        TRY(cudaEventCreateWithFlags(&e->freed[i], cudaEventDisableTiming), "creating events");
    }
    if (e->n_streamed) {
        // at most a token's streamed blocks plus the run-ahead are in flight
        e->n_ring = 2 * (e->n_streamed + e->n_slots);
        e->copy_t0 = (cudaEvent_t *)calloc(4 * (size_t)e->n_ring, sizeof(cudaEvent_t));
        if (!e->copy_t0) {
            st_errmsg(err, "strata: out of memory");
            goto fail;
        }
        e->copy_t1 = e->copy_t0 + e->n_ring;
        e->wait_t0 = e->copy_t1 + e->n_ring;
        e->wait_t1 = e->wait_t0 + e->n_ring;
        for (uint32_t i = 0; i < 4 * e->n_ring; i++)
            TRY(cudaEventCreate(&e->copy_t0[i]), "creating events");
        e->cb = (struct cb_job *)calloc(e->n_ring, sizeof *e->cb);
        if (!e->cb) {
            st_errmsg(err, "strata: out of memory");
            goto fail;
        }
    }
    if (e->stage_bytes && start_reader(e, err))
        goto fail;

    // weights into their tiers (start-up: at disk / page-cache speed), with
    // a progress report past 1 GB
    uint64_t placed, to_place;
    placed = 0;
    to_place = stored_bytes(m->output);
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (e->layers[l].tier != 2)
            to_place += e->layers[l].block_bytes;
    struct progress prog;
    progress_start(&prog, "strata: placing weights", to_place, 1ull << 30);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct llm_layer *L = &m->layers[l];
        struct dev_layer *D = &e->layers[l];
        for (int i = 0; i < W_COUNT; i++) {
            const struct gguf_tensor *t = layer_weight(L, i);
            if (D->tier == 0) // resident: into the device arena
                TRY(upload(D->w[i], t), "uploading weights");
            else if (D->tier == 1 && D->t[i] != stored_type(t)) // --stream-type
                quantize_matrix(t->type, t->data, D->t[i], (uint8_t *)D->host + D->w_off[i],
                                t->ne[1], t->ne[0], e->h_tmp);
            else if (D->tier == 1) // streamed: into the pinned arena, block layout
                store_host((uint8_t *)D->host + D->w_off[i], t);
            // tier 2 stays in the file: the reader brings it every token
        }
        if (D->tier != 2)
            progress_update(&prog, placed += D->block_bytes);
        TRY(upload_f32(e, D->attn_norm, L->attn_norm), "uploading norms");
        TRY(upload_f32(e, D->ffn_norm, L->ffn_norm), "uploading norms");
        if (D->bq)
            TRY(cudaMemset((void *)D->bq, 0, (size_t)(e->q_dim + 2 * e->kv_dim) * 4), "clearing biases");
        if (L->bq) TRY(upload_f32(e, D->bq, L->bq), "uploading biases");
        if (L->bk) TRY(upload_f32(e, D->bk, L->bk), "uploading biases");
        if (L->bv) TRY(upload_f32(e, D->bv, L->bv), "uploading biases");
        size_t cache = (size_t)c->n_kv_heads * e->n_ctx * c->head_dim * 2;
        TRY(cudaMemset(D->k_cache, 0, cache), "clearing the KV cache");
        TRY(cudaMemset(D->v_cache, 0, cache), "clearing the KV cache");
    }
    TRY(upload(e->output, m->output), "uploading the output head");
    progress_update(&prog, to_place);
    e->t_output = stored_type(m->output);
    TRY(upload_f32(e, e->output_norm, m->output_norm), "uploading norms");
    if (m->rope_freqs)
        TRY(upload_f32(e, e->rope_freqs, m->rope_freqs), "uploading rope factors");

    e->rope.n_heads = c->n_heads;
    e->rope.n_kv_heads = c->n_kv_heads;
    e->rope.head_dim = c->head_dim;
    e->rope.rope_dim = c->rope_dim;
    e->rope.neox = c->rope_style == LLM_ROPE_NEOX;
    e->rope.theta = c->rope_theta;
    e->rope.pos_scale = c->rope_freq_scale;
    e->rope.freq_factors = e->rope_freqs;
    e->rope.cs_table = e->rope_cs;
    { // the rope angles of every position, as the CPU engine computes them
        size_t n = (size_t)e->n_ctx * c->rope_dim;
        float *cs = (float *)malloc(n * 4 + c->rope_dim * 2); // start-up only
        if (!cs) {
            st_errmsg(err, "strata: out of memory");
            goto fail;
        }
        float *ff = cs + n; // the llama3 factors as f32
        if (m->rope_freqs)
            dequant_row(m->rope_freqs->type, m->rope_freqs->data, ff, c->rope_dim / 2);
        for (uint32_t p = 0; p < e->n_ctx; p++)
            op_rope_table(cs + (size_t)p * c->rope_dim, p, c->rope_dim, c->rope_theta,
                          c->rope_freq_scale, m->rope_freqs ? ff : NULL);
        cudaError_t r = cudaMemcpy(e->rope_cs, cs, n * 4, cudaMemcpyHostToDevice);
        free(cs);
        TRY(r, "uploading the rope table");
    }

    // One eager step checks that every GEMV shape has its kernel (and warms
    // up); position 0 is rewritten by the first real token.
    memset(e->h_x, 0, c->dim * 4);
    *e->h_pos = 0;
    if (enqueue_step(e, 1, 0, err) != 0)
        goto fail;
    // and the top-k kernels at the largest k (loads them, raises the merge
    // kernel's shared-memory limit once)
    if (fetch_top(e, e->c.n_vocab < GPU_WORK_TOPK_MAX ? e->c.n_vocab : GPU_WORK_TOPK_MAX)) {
        st_errmsg(err, "strata: top-k: the merge kernel's shared memory was refused");
        goto fail;
    }
    TRY(cudaStreamSynchronize(e->stream), "the first step");
    if (warm_prefill(e, err))
        goto fail;
    if (e->use_graph) {
        cudaGraph_t g;
        TRY(cudaStreamBeginCapture(e->stream, cudaStreamCaptureModeThreadLocal), "capturing the step");
        if (enqueue_step(e, 1, 0, err) != 0)
            goto fail;
        TRY(cudaStreamEndCapture(e->stream, &g), "capturing the step");
        TRY(cudaGraphInstantiate(&e->graph, g, 0), "instantiating the step graph");
        cudaGraphDestroy(g);
    }
    return e;
fail:
    engine_free(e);
    return NULL;
}

extern "C" void engine_free(struct engine *e)
{
    if (!e)
        return;
    if (e->reader) { // drain the copy stream's callbacks, then the thread
        cudaStreamSynchronize(e->copy_stream);
        disk_reader_stop(e->reader);
    }
    trace_dump(); // experiment builds only
    free(e->cb);
    if (e->graph)
        cudaGraphExecDestroy(e->graph);
    if (e->blas)
        prefill_gemm_free(e->blas);
    if (e->stream)
        cudaStreamDestroy(e->stream);
    if (e->copy_stream)
        cudaStreamDestroy(e->copy_stream);
    for (uint32_t i = 0; i < e->n_slots; i++) {
        if (e->filled[i])
            cudaEventDestroy(e->filled[i]);
        if (e->freed[i])
            cudaEventDestroy(e->freed[i]);
    }
    if (e->copy_t0) {
        for (uint32_t i = 0; i < 4 * e->n_ring; i++)
            if (e->copy_t0[i])
                cudaEventDestroy(e->copy_t0[i]);
        free(e->copy_t0);
    }
    free(e->streamed);
    cudaFree(e->arena);
    cudaFreeHost(e->host);
    free(e->layers);
    free(e);
}

// Reads the timing events of the streamed blocks whose compute has finished
// (the step was synchronized) into the totals of engine_timeline.
static void account_timeline(struct engine *e)
{
    for (; e->accounted_seq < e->compute_seq; e->accounted_seq++) {
        uint64_t k = e->accounted_seq;
        uint32_t i = (uint32_t)(k % e->n_ring);
        float copy_ms = 0, wait_ms = 0;
        if (cudaEventElapsedTime(&copy_ms, e->copy_t0[i], e->copy_t1[i]) == cudaSuccess)
            e->tl.copy_s += 1e-3 * copy_ms;
        if (cudaEventElapsedTime(&wait_ms, e->wait_t0[i], e->wait_t1[i]) == cudaSuccess)
            e->tl.stall_s += 1e-3 * wait_ms;
        const struct dev_layer *D = &e->layers[e->streamed[k % e->n_streamed]];
        e->tl.bytes[D->tier] += D->tier == 2 ? D->range_len : D->block_bytes;
        e->tl.streamed_layers++;
    }
}

extern "C" void engine_timeline(struct engine *e, struct engine_timeline *t)
{
    *t = e->tl;
    t->read_s = e->reader ? disk_reader_busy_s(e->reader) : 0;
}

extern "C" void engine_memory(struct engine *e, struct engine_memory *m)
{
    size_t free_b = 0, total_b = 0;
    m->device_arena = e->arena_bytes;
    m->host_block = e->host_bytes;
    m->device_used = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess ? total_b - free_b : 0;
}

// Runs the decode step for token at pos (the graph, or the kernels one by
// one), then enqueues fetch (what the caller wants back) and waits. 0 or -1.
static int run_step(struct engine *e, int32_t token, uint32_t pos,
                    int (*fetch)(struct engine *, uint32_t), uint32_t k, struct st_err *err)
{
    const struct llm_config *c = &e->c;
    if (pos >= e->n_ctx)
        return st_errf(err, "strata", "position", "below the context length",
                       "%u (context %u)", pos, e->n_ctx);
    if (token < 0 || (uint32_t)token >= c->n_vocab)
        return st_errf(err, "strata", "token id", "an id of the vocabulary", "%d (vocab %u)",
                       token, c->n_vocab);
    // the embedding row, dequantized on the host (one row per token)
    const struct gguf_tensor *te = e->m->tok_embd;
    size_t row_bytes = ggml_row_size(te->type, c->dim);
    dequant_row(te->type, (const uint8_t *)te->data + (size_t)token * row_bytes, e->h_x, c->dim);
    *e->h_pos = pos;
    cudaError_t r;
    if (e->use_graph) {
        r = cudaGraphLaunch(e->graph, e->stream);
    } else {
        r = enqueue_step(e, 1, 0, err) == 0 ? cudaSuccess : cudaErrorInvalidValue;
    }
    if (r == cudaSuccess && fetch(e, k))
        return st_errmsg(err, "strata: top-k: %u candidates out of range", k);
    if (r == cudaSuccess)
        r = cudaStreamSynchronize(e->stream);
    if (r != cudaSuccess)
        return cuda_fail(err, "the decode step", r);
    if (e->reader && disk_reader_error(e->reader, err))
        return -1; // a block came short from the disk: its logits are wrong
    account_timeline(e);
    return 0;
}

// What comes back after a step: every logit, or the best k of them.
static int fetch_logits(struct engine *e, uint32_t k)
{
    (void)k;
    cudaMemcpyAsync(e->h_logits, e->logits, (size_t)e->c.n_vocab * 4, cudaMemcpyDeviceToHost,
                    e->stream);
    return 0;
}

static int fetch_top(struct engine *e, uint32_t k)
{
    if (ops_topk(e->d_topv, e->d_topi, e->logits, (int)e->c.n_vocab, (int)k,
                 e->d_topk_scratch, e->stream))
        return -1;
    cudaMemcpyAsync(e->h_topv, e->d_topv, k * 4, cudaMemcpyDeviceToHost, e->stream);
    cudaMemcpyAsync(e->h_topi, e->d_topi, k * 4, cudaMemcpyDeviceToHost, e->stream);
    return 0;
}

extern "C" const float *engine_forward(struct engine *e, int32_t token,
                                       uint32_t pos, struct st_err *err)
{
    return run_step(e, token, pos, fetch_logits, 0, err) ? NULL : e->h_logits;
}

extern "C" int engine_forward_top(struct engine *e, int32_t token, uint32_t pos, uint32_t k,
                                  float *logit, int32_t *id, struct st_err *err)
{
    if (k < 1 || k > GPU_WORK_TOPK_MAX || k > e->c.n_vocab)
        return st_errf(err, "strata", "top-k candidates", "1 to 256, at most the vocabulary",
                       "%u", k);
    if (run_step(e, token, pos, fetch_top, k, err))
        return -1;
    memcpy(logit, e->h_topv, k * 4);
    memcpy(id, e->h_topi, k * 4);
    return 0;
}

extern "C" uint32_t engine_n_ctx(const struct engine *e) { return e->n_ctx; }

extern "C" const char *engine_backend(void) { return "cuda"; }

extern "C" int engine_device_available(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Prefill: chunks of up to PREFILL_CHUNK tokens through the block-major
// step (each streamed block crosses the link once per chunk): GEMMs on the
// tensor cores from PREFILL_GEMM_MIN tokens on, GEMVs per token below (and
// with STRATA_PREFILL_GEMV set). With logits_out, every token's logits are
// needed: token by token through the decode step.
extern "C" const float *engine_forward_batch(struct engine *e, const int32_t *tokens,
                                             uint32_t n, uint32_t pos0, float *logits_out,
                                             struct st_err *err)
{
    const struct llm_config *c = &e->c;
    if (n == 0) {
        st_errf(err, "strata", "prefill tokens", "at least 1", "0");
        return NULL;
    }
    if (pos0 + n > e->n_ctx) {
        st_errf(err, "strata", "position", "below the context length",
                "%u (context %u)", pos0 + n - 1, e->n_ctx);
        return NULL;
    }
    if (logits_out) {
        const float *l = NULL;
        for (uint32_t i = 0; i < n; i++) {
            if (!(l = engine_forward(e, tokens[i], pos0 + i, err)))
                return NULL;
            memcpy(logits_out + (size_t)i * c->n_vocab, l, (size_t)c->n_vocab * 4);
        }
        return logits_out + (size_t)(n - 1) * c->n_vocab;
    }
    const struct gguf_tensor *te = e->m->tok_embd;
    size_t row_bytes = ggml_row_size(te->type, c->dim);
    for (uint32_t done = 0; done < n;) {
        uint32_t nb = n - done < PREFILL_CHUNK ? n - done : PREFILL_CHUNK;
        for (uint32_t i = 0; i < nb; i++) {
            int32_t t = tokens[done + i];
            if (t < 0 || (uint32_t)t >= c->n_vocab) {
                st_errf(err, "strata", "token id", "an id of the vocabulary",
                        "%d (vocab %u)", t, c->n_vocab);
                return NULL;
            }
            dequant_row(te->type, (const uint8_t *)te->data + (size_t)t * row_bytes,
                        e->h_x + (size_t)i * c->dim, c->dim);
            e->h_pos[i] = pos0 + done + i;
        }
        if (enqueue_step(e, nb, !e->prefill_gemv && nb >= PREFILL_GEMM_MIN, err))
            return NULL;
        if (done + nb == n) // only the last chunk's last token is needed
            fetch_logits(e, 0);
        cudaError_t r = cudaStreamSynchronize(e->stream);
        if (r != cudaSuccess) {
            cuda_fail(err, "the prefill step", r);
            return NULL;
        }
        if (e->reader && disk_reader_error(e->reader, err))
            return NULL;
        account_timeline(e);
        done += nb;
    }
    return e->h_logits;
}
