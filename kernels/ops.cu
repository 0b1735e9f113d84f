// ops.cu - decode ops other than the weight GEMVs (see ops.h).
//
// These move few bytes next to the weights (a few dim-sized vectors per
// layer), except attention, which reads the KV cache: at 4096 tokens of
// Llama-3.1-8B that is 0.5 GB per token, a tenth of the weights, so it is
// split over the sequence and reads each K/V row once per KV head.
#include "ops.h"
#include "cp_async.cuh"
#include "gpu_work.h"
#include "gemv_epi.cuh"
#include "pdl.cuh"
#include "warp.cuh"

#include <cuda_fp16.h>
#include <math.h>

#define WARP 32

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread
// gets the result.
// Not static: the __shared__ array of a static function gets a name hashed
// from the absolute source path (two checkouts, two binaries).
__device__ float block_sum(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    v = warp_sum(v);
    __syncthreads(); // part[] may still be read by a previous call
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    int n_warps = blockDim.x / WARP;
    v = lane < n_warps ? part[lane] : 0.0f;
    return warp_sum(v);
}

// ---- elementwise ------------------------------------------------------------
__global__ void swiglu_kernel(float *g, const float *u, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

extern "C" void ops_swiglu(float *g, const float *u, int n, cudaStream_t s)
{
    swiglu_kernel<<<(n + 255) / 256, 256, 0, s>>>(g, u, n);
}

// ---- rope ------------------------------------------------------------------
// Element d of head x (head_dim floats) rotated, cs = rope_dim/2 (cos, sin)
// pairs: llama pairs (2i, 2i + 1), NEOX pairs (i, i + rope_dim / 2); dims
// past rope_dim are not rotated. The same float arithmetic as op_rope.
static __device__ __forceinline__ float rope_elem(const float *x, int d,
                                                  const struct ops_rope_params &p,
                                                  const float *cs)
{
    const int half_rot = p.rope_dim / 2;
    if (d >= p.rope_dim)
        return x[d];
    int i, a, b;
    if (p.neox) {
        i = d < half_rot ? d : d - half_rot;
        a = i;
        b = i + half_rot;
    } else {
        i = d / 2;
        a = 2 * i;
        b = a + 1;
    }
    const float c = cs[2 * i], s = cs[2 * i + 1];
    // products rounded apart (no FMA contraction), as the CPU computes them
    return d == a ? __fsub_rn(__fmul_rn(x[a], c), __fmul_rn(x[b], s))
                  : __fadd_rn(__fmul_rn(x[a], s), __fmul_rn(x[b], c));
}

// ---- decode attention: rope, KV store and flash-decoding in one launch -----
#define ATTN_THREADS 256 // >= ATTN_MAX_SPLIT_LEN: every position of a split in one pass
static_assert(ATTN_THREADS >= ATTN_MAX_SPLIT_LEN, "attention: a thread per position");
// ATTN_MIN_SPLIT, ATTN_MAX_SPLIT_LEN, ATTN_SMS and the split count: gpu_work.h

// Positions this token's attention covers split by split: n = pos + 1
// positions in nsplit splits of per (the last one shorter), at most
// max_splits, at least min_len per split, every split non-empty.
static __device__ __forceinline__ void attn_splits(int n, int max_splits, int min_len, int *nsplit,
                                                   int *per)
{
    int s = (n + min_len - 1) / min_len;
    s = s < max_splits ? s : max_splits;
    *per = (n + s - 1) / s;
    *nsplit = (n + *per - 1) / *per;
}

// One split's cache rows [r0, r1) (relative to the split's first position
// c0) into shared memory rows [r0 - base, r1 - base): K rows (with k) at a
// stride of hd + 8 halves (16 bytes more: where threads read different
// rows, rows 16 bytes apart put the 16-byte reads of 8 threads in 8
// different banks), V rows (with v) packed.
static __device__ __forceinline__ void attn_stage(__half *ks, __half *vs, const __half *kc,
                                                  const __half *vc, size_t row0, int hd,
                                                  int r0, int r1, int base, bool k, bool v)
{
    const int per_row = hd / 8; // 16-byte pieces
    for (int i = r0 * per_row + threadIdx.x; i < r1 * per_row; i += ATTN_THREADS) {
        const int t = i / per_row, c = i - t * per_row;
        const size_t src = (row0 + t) * hd + 8 * c;
        if (k)
            cp_async16(ks + (t - base) * (hd + 8) + 8 * c, kc + src);
        if (v)
            cp_async16(vs + (t - base) * hd + 8 * c, vc + src);
    }
}

// A later chunk [r0, r1) of the split's K (k) or V (v) rows into the
// staging rows, once every thread is done with the previous chunk; the
// row at `fresh` (this token's, which the block wrote to the cache
// itself) comes from knew / vnew, not from the cache.
static __device__ __forceinline__ void attn_restage(__half *ks, __half *vs, const __half *kc,
                                                    const __half *vc, size_t row0, int hd,
                                                    int r0, int r1, int fresh,
                                                    const __half *knew, const __half *vnew,
                                                    bool k, bool v)
{
    __syncthreads();
    attn_stage(ks, vs, kc, vc, row0, hd, r0, min(r1, fresh), r0, k, v);
    cp_async_commit();
    if (fresh >= r0 && fresh < r1)
        for (int d = threadIdx.x; d < hd; d += ATTN_THREADS) {
            if (k)
                ks[(fresh - r0) * (hd + 8) + d] = knew[d];
            if (v)
                vs[(fresh - r0) * hd + d] = vnew[d];
        }
    cp_async_wait<0>();
    __syncthreads();
}

// Timing experiments (bench/NOTES.md, session 12): -DATTN_EXP_STOP=K ends
// the kernel at point K (1: right after the wait ... 6: before the output).
#ifndef ATTN_EXP_STOP
#define ATTN_EXP_STOP 0
#endif
#define ATTN_EXP_STOP_AT(k) \
    do {                    \
        if (ATTN_EXP_STOP == (k)) \
            return;         \
    } while (0)

// Block (kv_head, split) for the G query heads (G <= MAXG) that share this
// KV head, over positions [c0 = split * per, c0 + len); at one split (a
// context up to ATTN_MIN_SPLIT) the G heads spread over hs blocks of the
// KV head instead (blockIdx.y = sub), which stage the same rows and each
// take G / hs heads, so a head's scores and V sums, chains of dependent
// steps on one SM, run on hs SMs:
//   0. before the wait for the Q|K|V GEMV (programmatic dependent launch):
//      the split's first stage_rows K and V rows into shared memory
//      (cp.async), those written before this step (below pos - tok: the
//      step's earlier tokens may still be writing theirs; after the wait
//      they are all done); a longer split stages the rest chunk by chunk
//      in steps 2 (K) and 4 (V);
//   1. q of the G heads rotated (the rope table's row for the position)
//      and scaled by 1/sqrt(hd) into shared memory; the block of the last
//      split rotates the new k and stores k and v (f16) into the caches at
//      pos and into its staged rows;
//   2. scores: a few threads per position, its staged K row dotted with
//      the G rotated q (broadcast from shared memory);
//   3. softmax of the split, a warp per head;
//   4. V: a thread per (4 columns, position group), groups summed in
//      shared memory;
//   5. one split: the output directly. Several: the partial (m, l, acc) per
//      head; the last block of this KV head to finish (a ticket in
//      counts[kv_head], zero between launches) merges them (log-sum-exp).
// Before the staging (session 12) the block loaded its rows after the
// wait, a memory latency for q, two for K, up to four for V: 13 us a block
// of Llama-3.1-8B inside the decode graph at short context, the largest
// cost of the step after the GEMVs (bench/NOTES.md).
template <int MAXG>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_rope_kernel(float *out, const float *q, const float *k, const float *v, __half *kc,
                 __half *vc, int n_ctx, const uint32_t *pos_p, int tok,
                 struct ops_rope_params p, int max_splits, int min_len, int per_max,
                 int stage_rows, float *part_ml, float *part_acc, unsigned *counts, int hs)
{
    extern __shared__ float smem[];
    const int hd = p.head_dim, g = p.n_heads / p.n_kv_heads;
    const int n_groups = ATTN_THREADS / (hd / 4);
    float *qs = smem;                  // g * hd: rotated, scaled q
    float *sc = qs + g * hd;           // g * per_max: scores, then weights
    float *red = sc + g * per_max;     // n_groups * g * hd
    __half *ks = (__half *)(red + n_groups * g * hd); // stage_rows rows of hd + 8
    __half *vs = ks + stage_rows * (hd + 8);           // stage_rows rows of hd
    __shared__ float m_s[MAXG], l_s[MAXG];
    __shared__ __half knew[512], vnew[512]; // this token's k and v rows (head_dim <= 512)
    __shared__ unsigned ticket_s;

    const int kvh = blockIdx.x, tid = threadIdx.x;
    // the next kernel (the wo GEMV, launched with programmatic dependent
    // launch) may start reading its weights while this one finishes
    pdl_release();
    const int lane = tid % WARP, warp = tid / WARP, n_warps = ATTN_THREADS / WARP;
    const int pos = (int)*pos_p; // written before the step's first kernel
    int nsplit, per;
    attn_splits(pos + 1, max_splits, min_len, &nsplit, &per);
    // One split (a short context): blockIdx.y spreads the KV head's G query
    // heads over hs blocks, gh each, so the scores and V sums of a head run
    // on more SMs. Several: blockIdx.y is the split, as the merge expects.
    // (Both in one grid dimension: more blocks would delay the launch after
    // this one, which waits until every block of this one has started.)
    const int hsplit = nsplit == 1 ? hs : 1;
    const int split = nsplit == 1 ? 0 : (int)blockIdx.y, hsub = nsplit == 1 ? (int)blockIdx.y : 0;
    if (split >= nsplit || hsub >= hsplit)
        return;
    const int gh = g / hsplit, h0 = kvh * g + hsub * gh; // this block's heads
    const int c0 = split * per;
    const int len = min(per, pos + 1 - c0);
    const size_t row0 = (size_t)kvh * n_ctx + c0;
    // 0. rows [c0, c0 + early) are final before this step began
    const int early = max(0, min(len, pos - tok - c0));
    const int staged = min(len, pos - c0); // the row at pos is this token's
    // the first chunk of stage_rows rows; longer splits stage the rest
    // chunk by chunk below (K for the scores, then V for the sums)
    const int ch = stage_rows, n_chunks = (len + ch - 1) / ch;
    attn_stage(ks, vs, kc, vc, row0, hd, 0, min(early, ch), 0, true, true);
    pdl_wait();
    ATTN_EXP_STOP_AT(1);
    attn_stage(ks, vs, kc, vc, row0, hd, min(early, ch), min(staged, ch), 0, true, true);
    cp_async_commit();

    // 1. q rotated and scaled, and the new k/v row (the rope table row of pos)
    const float *cs = p.cs_table + (size_t)pos * p.rope_dim;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int t = tid; t < gh * hd; t += ATTN_THREADS) {
        const int j = t / hd, d = t % hd;
        qs[t] = rope_elem(q + (size_t)(h0 + j) * hd, d, p, cs) * scale;
    }
    if (staged < len) { // the split holds pos
        const size_t row = ((size_t)kvh * n_ctx + pos) * hd;
        for (int d = tid; d < hd; d += ATTN_THREADS) {
            const __half kh = __float2half_rn(rope_elem(k + (size_t)kvh * hd, d, p, cs));
            const __half vh = __float2half_rn(v[(size_t)kvh * hd + d]);
            if (hsub == 0) { // one block of the KV head writes the caches
                kc[row + d] = kh;
                vc[row + d] = vh;
            }
            knew[d] = kh;
            vnew[d] = vh;
            if (staged < ch) { // in the first chunk
                ks[staged * (hd + 8) + d] = kh;
                vs[staged * hd + d] = vh;
            }
        }
    }
    ATTN_EXP_STOP_AT(2);
    cp_async_wait<0>();
    __syncthreads(); // q, the staged rows and the new one visible to the block
    ATTN_EXP_STOP_AT(3);

    // 2. scores: tpp threads per position (neighbouring lanes), each dotting
    // every tpp-th 16-byte piece of the staged K row with the G rotated q
    // (broadcast), then a butterfly over the tpp. A thread per position ran
    // a chain of hd / 8 dependent steps: 2.8 us of a short context's 9.5
    // standalone (bench/NOTES.md, session 12).
    // tpp: the most (a power of two dividing the pieces, at most 8) that
    // keeps the positions to one pass over the block (more passes cost
    // more in butterflies than they save: 4096 positions 21 -> 24 us).
    const int pieces = hd / 8;
    const int tpp_max = pieces % 8 == 0 ? 8 : pieces % 4 == 0 ? 4 : pieces % 2 == 0 ? 2 : 1;
    for (int c = 0; c < n_chunks; c++) {
        const int r0 = c * ch, clen = min(ch, len - r0);
        if (c > 0)
            attn_restage(ks, vs, kc, vc, row0, hd, r0, r0 + clen, staged, knew, vnew, true, false);
        int tpp = 1;
        while (tpp < tpp_max && 2 * tpp * clen <= ATTN_THREADS)
            tpp *= 2;
        const int sub = tid % tpp, stride = ATTN_THREADS / tpp;
        for (int t0 = 0; t0 < clen; t0 += stride) { // whole warps pass: the butterfly
            const int t = t0 + tid / tpp, tr = t < clen ? t : 0;
            const uint4 *kr = (const uint4 *)(ks + tr * (hd + 8));
            float s[MAXG];
#pragma unroll
            for (int j = 0; j < MAXG; j++)
                s[j] = 0.0f;
            for (int c8 = sub; c8 < pieces; c8 += tpp) {
                const uint4 w = kr[c8];
                const __half2 *h2 = (const __half2 *)&w;
                float kf[8];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 f = __half22float2(h2[e]);
                    kf[2 * e] = f.x;
                    kf[2 * e + 1] = f.y;
                }
#pragma unroll
                for (int j = 0; j < MAXG; j++) {
                    if (j < gh) {
                        const float4 *qj = (const float4 *)(qs + j * hd + 8 * c8);
                        const float4 qa = qj[0], qb = qj[1];
                        s[j] = fmaf(qa.x, kf[0], s[j]);
                        s[j] = fmaf(qa.y, kf[1], s[j]);
                        s[j] = fmaf(qa.z, kf[2], s[j]);
                        s[j] = fmaf(qa.w, kf[3], s[j]);
                        s[j] = fmaf(qb.x, kf[4], s[j]);
                        s[j] = fmaf(qb.y, kf[5], s[j]);
                        s[j] = fmaf(qb.z, kf[6], s[j]);
                        s[j] = fmaf(qb.w, kf[7], s[j]);
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < MAXG; j++)
                for (int o = tpp / 2; o > 0; o /= 2)
                    s[j] += __shfl_xor_sync(0xffffffffu, s[j], o);
            if (sub == 0 && t < clen) {
#pragma unroll
                for (int j = 0; j < MAXG; j++)
                    if (j < gh)
                        sc[j * per_max + r0 + t] = s[j];
            }
        }
    }
    __syncthreads();
    ATTN_EXP_STOP_AT(4);

    // 3. softmax over the split, a warp per query head
    for (int j = warp; j < gh; j += n_warps) {
        float m = -INFINITY;
        for (int t = lane; t < len; t += WARP)
            m = fmaxf(m, sc[j * per_max + t]);
        m = warp_max(m);
        float l = 0.0f;
        for (int t = lane; t < len; t += WARP) {
            float e = expf(sc[j * per_max + t] - m);
            sc[j * per_max + t] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
            m_s[j] = m;
            l_s[j] = l;
        }
    }
    __syncthreads();
    ATTN_EXP_STOP_AT(5);

    // 4. weighted sum of V: a thread per (4 columns: one 8-byte read,
    // position group); the groups are then summed in shared memory
    const int n_cols = hd / 4;
    const int col = tid % n_cols, grp = tid / n_cols;
    float acc[MAXG][4];
#pragma unroll
    for (int j = 0; j < MAXG; j++)
        acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    for (int c = 0; c < n_chunks; c++) {
        const int r0 = c * ch, clen = min(ch, len - r0);
        if (c > 0) // the first chunk's V rows stayed from the start (K chunks go to ks only)
            attn_restage(ks, vs, kc, vc, row0, hd, r0, r0 + clen, staged, knew, vnew, false, true);
        if (grp < n_groups) {
            const uint2 *vb = (const uint2 *)vs + col;
            for (int t = grp; t < clen; t += n_groups) {
                uint2 raw = vb[(size_t)t * n_cols];
                float2 v01 = __half22float2(*(const __half2 *)&raw.x);
                float2 v23 = __half22float2(*(const __half2 *)&raw.y);
#pragma unroll
                for (int j = 0; j < MAXG; j++) {
                    if (j < gh) {
                        float w = sc[j * per_max + r0 + t];
                        acc[j][0] = fmaf(w, v01.x, acc[j][0]);
                        acc[j][1] = fmaf(w, v01.y, acc[j][1]);
                        acc[j][2] = fmaf(w, v23.x, acc[j][2]);
                        acc[j][3] = fmaf(w, v23.y, acc[j][3]);
                    }
                }
            }
        }
    }
    if (grp < n_groups) {
#pragma unroll
        for (int j = 0; j < MAXG; j++) {
            if (j < gh) {
                float4 a4 = make_float4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
                *(float4 *)&red[(grp * gh + j) * hd + 4 * col] = a4;
            }
        }
    }
    __syncthreads();
    ATTN_EXP_STOP_AT(6);

    // 5. output, or partial + merge by the last block
    for (int t = tid; t < gh * hd; t += ATTN_THREADS) {
        const int j = t / hd, d = t % hd;
        float sum = 0.0f;
        for (int r = 0; r < n_groups; r++)
            sum += red[(r * gh + j) * hd + d];
        const int h = h0 + j;
        if (nsplit == 1)
            out[(size_t)h * hd + d] = sum / l_s[j];
        else
            part_acc[((size_t)h * max_splits + split) * hd + d] = sum;
    }
    if (nsplit == 1)
        return;
    if (tid < gh) {
        const int h = h0 + tid;
        part_ml[(h * max_splits + split) * 2 + 0] = m_s[tid];
        part_ml[(h * max_splits + split) * 2 + 1] = l_s[tid];
    }
    __threadfence(); // the partials are visible before the ticket
    __syncthreads();
    if (tid == 0)
        ticket_s = atomicAdd(&counts[kvh], 1u);
    __syncthreads();
    if (ticket_s != (unsigned)nsplit - 1)
        return;
    __threadfence();
    // the merged max and sum of weights, a warp per head, lanes over the
    // splits; each split's weight exp(m_s - m) into shared memory (over the
    // staged rows, done with) for the sums below, whose loads unroll: a
    // load-use chain per split cost one memory latency each (4096 positions
    // of Llama-3.1-8B, 33 splits: most of the launch's 30 us). By 32, every
    // split of a 4096-token context in flight at once: 8B Q4_K_M at 3968
    // positions 339.8 -> 343.4 tok/s against 8 (bench/NOTES.md, session 15)
    float *wts = (float *)ks; // g * max_splits
    for (int j = warp; j < gh; j += n_warps) {
        const float *ml = part_ml + (size_t)(h0 + j) * max_splits * 2;
        float m = -INFINITY;
        for (int s = lane; s < nsplit; s += WARP)
            m = fmaxf(m, __ldcg(ml + 2 * s));
        m = warp_max(m);
        float l = 0.0f;
        for (int s = lane; s < nsplit; s += WARP) {
            const float w = expf(__ldcg(ml + 2 * s) - m);
            wts[j * max_splits + s] = w;
            l = fmaf(__ldcg(ml + 2 * s + 1), w, l);
        }
        l = warp_sum(l);
        if (lane == 0)
            l_s[j] = l;
    }
    __syncthreads();
    for (int t = tid; t < gh * hd; t += ATTN_THREADS) {
        const int j = t / hd, d = t % hd, h = h0 + j;
        const float *pa = part_acc + (size_t)h * max_splits * hd + d;
        const float *wj = wts + j * max_splits;
        float a = 0.0f;
#pragma unroll 32
        for (int s = 0; s < nsplit; s++)
            a = fmaf(__ldcg(pa + (size_t)s * hd), wj[s], a);
        out[(size_t)h * hd + d] = a / l_s[j];
    }
    if (tid == 0)
        counts[kvh] = 0; // ready for the next launch
}

// Longest split the kernel can meet for this context and split count
// (gpu_work_attn_splits keeps it within gpu_work_attn_max_len).
static int attn_per_max(int n_ctx, int max_splits, int head_dim)
{
    int per = (n_ctx + max_splits - 1) / max_splits, lo = gpu_work_attn_min_len(head_dim);
    per = per < lo ? lo : per;
    return (per + 3) / 4 * 4; // keeps the V sums and the staged rows 16-byte aligned
}

// Rows staged at a time: 32 KiB of K rows at most (a split of 256
// positions staged whole took 135 KiB, one block per SM, and DRAM waited
// while it computed: 100000 positions 413 -> 531 us a launch).
static int attn_stage_rows(int per, int head_dim)
{
    int r = (16384 / head_dim) & ~3;
    r = r < 4 ? 4 : r;
    return per < r ? per : r;
}

extern "C" size_t ops_attention_smem_bytes(const struct ops_rope_params *p, int n_ctx,
                                           int max_splits)
{
    int g = p->n_heads / p->n_kv_heads, hd = p->head_dim;
    int n_groups = ATTN_THREADS / (hd / 4);
    const size_t per = (size_t)attn_per_max(n_ctx, max_splits, hd);
    const size_t rows = (size_t)attn_stage_rows((int)per, hd);
    size_t floats = (size_t)g * hd + (size_t)g * per + (size_t)n_groups * g * hd;
    // the staged K and V rows, later the merge's weights of the splits
    size_t stage = rows * (2 * hd + 8) * sizeof(__half), wts = (size_t)g * max_splits * sizeof(float);
    return floats * sizeof(float) + (stage > wts ? stage : wts);
}

// Blocks per KV head at one split (attn_rope_kernel): the largest divisor
// of its g query heads up to ATTN_HEAD_SPLIT (0: g, a head a block; 1: off).
#ifndef ATTN_HEAD_SPLIT
#define ATTN_HEAD_SPLIT 2 // 8B Q4_K_M: 425-429 tok/s, 0 (a head a block) 426.0, 1 (off) 415.5 (bench/NOTES.md)
#endif
static int attn_head_split(int g)
{
    int hs = ATTN_HEAD_SPLIT > 0 && ATTN_HEAD_SPLIT < g ? ATTN_HEAD_SPLIT : g;
    while (g % hs)
        hs--;
    return hs;
}

template <int MAXG>
static int attn_launch(float *out, const float *q, const float *k, const float *v,
                       uint16_t *k_cache, uint16_t *v_cache, int n_ctx, const uint32_t *pos,
                       int tok, const struct ops_rope_params *p, int max_splits, float *scratch,
                       unsigned *counts, int pdl, cudaStream_t s)
{
    size_t smem = ops_attention_smem_bytes(p, n_ctx, max_splits);
    static size_t raised = 48 * 1024;
    if (smem > raised) {
        if (cudaFuncSetAttribute(attn_rope_kernel<MAXG>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem) != cudaSuccess)
            return -1;
        raised = smem;
    }
    const int hs = attn_head_split(p->n_heads / p->n_kv_heads);
    dim3 grid(p->n_kv_heads, max_splits > hs ? max_splits : hs);
    float *part_ml = scratch, *part_acc = scratch + (size_t)p->n_heads * max_splits * 2;
    pdl_launch(attn_rope_kernel<MAXG>, grid, dim3(ATTN_THREADS), smem, s, pdl, out, q, k, v,
               (__half *)k_cache, (__half *)v_cache, n_ctx, pos, tok, *p, max_splits,
               gpu_work_attn_min_len(p->head_dim), attn_per_max(n_ctx, max_splits, p->head_dim),
               attn_stage_rows(attn_per_max(n_ctx, max_splits, p->head_dim), p->head_dim),
               part_ml, part_acc, counts, hs);
    return 0;
}

extern "C" int ops_attention(float *out, const float *q, const float *k, const float *v,
                             uint16_t *k_cache, uint16_t *v_cache, int n_ctx,
                             const uint32_t *pos, int tok, const struct ops_rope_params *p,
                             int max_splits, float *scratch, unsigned *counts, int pdl,
                             cudaStream_t s)
{
    int g = p->n_heads / p->n_kv_heads;
    if (p->head_dim % 8 || p->head_dim > 512 || g > 16 || g < 1)
        return -1;
    if (g <= 4)
        return attn_launch<4>(out, q, k, v, k_cache, v_cache, n_ctx, pos, tok, p, max_splits, scratch, counts, pdl, s);
    if (g <= 8)
        return attn_launch<8>(out, q, k, v, k_cache, v_cache, n_ctx, pos, tok, p, max_splits, scratch, counts, pdl, s);
    return attn_launch<16>(out, q, k, v, k_cache, v_cache, n_ctx, pos, tok, p, max_splits, scratch, counts, pdl, s);
}

// ---- top-k of the logits ---------------------------------------------------
// The k best logits, best first: logit descending, token id ascending on
// ties, NaN read as -inf, -0 as +0 (the sampler's order, sampler.h). A logit and
// its id make one 64-bit key whose unsigned order is that order: the
// float's bits made monotonic in the high word, ~id in the low word. Each
// block sorts a slice of OPS_TOPK_SLICE keys (bitonic, shared memory) and
// writes its best kp (k rounded up to a power of two; for k = 1 a block
// reduction finds it without a sort); one block then sorts those and writes
// the first k.
#define OPS_TOPK_SLICE GPU_WORK_TOPK_SLICE
#define OPS_TOPK_THREADS 1024

static __device__ __forceinline__ uint64_t topk_key(float v, int id)
{
    v = v != v ? -INFINITY : v == 0.0f ? 0.0f : v;
    uint32_t b = __float_as_uint(v);
    b = (b & 0x80000000u) ? ~b : b | 0x80000000u;
    return (uint64_t)b << 32 | (uint32_t)~(uint32_t)id;
}

// Sorts n (a power of two) keys in shared memory, descending.
static __device__ void topk_bitonic(uint64_t *k, int n)
{
    for (int size = 2; size <= n; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int i = threadIdx.x; i < n / 2; i += blockDim.x) {
                int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
                bool desc = (lo & size) == 0;
                uint64_t a = k[lo], b = k[hi];
                if ((a < b) == desc) {
                    k[lo] = b;
                    k[hi] = a;
                }
            }
        }
    __syncthreads();
}

__global__ void __launch_bounds__(OPS_TOPK_THREADS)
topk_slice_kernel(uint64_t *best, const float *x, int n, int kp)
{
    __shared__ uint64_t keys[OPS_TOPK_SLICE];
    const int base = blockIdx.x * OPS_TOPK_SLICE;
    for (int i = threadIdx.x; i < OPS_TOPK_SLICE; i += blockDim.x)
        keys[i] = base + i < n ? topk_key(x[base + i], base + i) : 0ull; // 0: below every key
    topk_bitonic(keys, OPS_TOPK_SLICE);
    for (int i = threadIdx.x; i < kp; i += blockDim.x)
        best[(size_t)blockIdx.x * kp + i] = keys[i];
}

// k = 1 (greedy): the best key of each slice by a block reduction, no sort.
__global__ void __launch_bounds__(OPS_TOPK_THREADS)
topk_slice_max_kernel(uint64_t *best, const float *x, int n)
{
    __shared__ uint64_t warp_best[OPS_TOPK_THREADS / 32];
    const int base = blockIdx.x * OPS_TOPK_SLICE;
    uint64_t b = 0ull;
    for (int i = threadIdx.x; i < OPS_TOPK_SLICE && base + i < n; i += blockDim.x) {
        uint64_t key = topk_key(x[base + i], base + i);
        b = key > b ? key : b;
    }
    for (int o = 16; o > 0; o >>= 1) {
        uint64_t other = __shfl_xor_sync(0xffffffffu, b, o);
        b = other > b ? other : b;
    }
    if ((threadIdx.x & 31) == 0)
        warp_best[threadIdx.x >> 5] = b;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < OPS_TOPK_THREADS / 32; w++)
            b = warp_best[w] > b ? warp_best[w] : b;
        best[blockIdx.x] = b;
    }
}

// The logit itself comes from x (the key keeps NaN as -inf and -0 as +0:
// the value is x's, NaN read as -inf, as the sampler reads it).
__global__ void __launch_bounds__(OPS_TOPK_THREADS)
topk_merge_kernel(float *val, int32_t *id, const float *x, const uint64_t *best, int m, int m2,
                  int k)
{
    extern __shared__ uint64_t mk[];
    for (int i = threadIdx.x; i < m2; i += blockDim.x)
        mk[i] = i < m ? best[i] : 0ull;
    topk_bitonic(mk, m2);
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        int32_t j = (int32_t)~(uint32_t)mk[i];
        float v = x[j];
        val[i] = v != v ? -INFINITY : v;
        id[i] = j;
    }
}

static int topk_pow2(int v)
{
    int p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

extern "C" size_t ops_topk_scratch_bytes(int n, int k)
{
    int blocks = (n + OPS_TOPK_SLICE - 1) / OPS_TOPK_SLICE;
    return (size_t)blocks * topk_pow2(k) * sizeof(uint64_t);
}

extern "C" int ops_topk(float *val, int32_t *id, const float *x, int n, int k, void *scratch,
                        cudaStream_t s)
{
    if (k < 1 || k > OPS_TOPK_MAX || k > n)
        return -1;
    int kp = k == 1 ? 1 : topk_pow2(k), blocks = (n + OPS_TOPK_SLICE - 1) / OPS_TOPK_SLICE;
    int m = blocks * kp, m2 = topk_pow2(m);
    size_t smem = (size_t)m2 * sizeof(uint64_t);
    static size_t raised;
    if (smem > 48 * 1024 && smem > raised) {
        if (cudaFuncSetAttribute(topk_merge_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem) != cudaSuccess)
            return -1;
        raised = smem;
    }
    if (k == 1)
        topk_slice_max_kernel<<<blocks, OPS_TOPK_THREADS, 0, s>>>((uint64_t *)scratch, x, n);
    else
        topk_slice_kernel<<<blocks, OPS_TOPK_THREADS, 0, s>>>((uint64_t *)scratch, x, n, kp);
    topk_merge_kernel<<<1, OPS_TOPK_THREADS, smem, s>>>(val, id, x, (const uint64_t *)scratch,
                                                         m, m2, k);
    return 0;
}

// ---- generic f32 GEMV ----------------------------------------------------------
// y (rows,) = W (rows, cols) x (cols,), W f32 row-major, any shape: a warp
// per weight row, four rows per block, then the GEMV epilogue
// (gemv_epi.cuh) as in the generated kernels. Only for the small matrices
// whose row length the generated kernels do not take (not a multiple of
// 256: the tiny test models); those are dequantized to f32 at load,
// exactly, so the result is the same function of the same weights.
#define GEMV_ANY_NR 4
__global__ void gemv_f32_any_kernel(float *y, const float *w, const float *x, int rows,
                                    int cols, int pair, gemv_epi e)
{
    __shared__ float part[GEMV_ANY_NR];
    const int H = pair ? GEMV_ANY_NR / 2 : GEMV_ANY_NR;
    const int out0 = blockIdx.x * H;
    const int i = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const int k = pair ? i % H : i;
    const int row = out0 + k < rows ? out0 + k + (pair && i >= H ? rows : 0) : out0;
    const float *wr = w + (size_t)row * cols;
    float s = 0.0f;
    for (int c = lane; c < cols; c += WARP)
        s += wr[c] * x[c];
    s = warp_sum(s);
    if (lane == 0)
        part[i] = s;
    __syncthreads();
    if (i == 0)
        gemv_epilogue(lane < GEMV_ANY_NR ? part[lane] : 0.0f, lane, H, pair != 0, out0, rows,
                      y, e, gemv_epi_load(lane, H, out0, rows, e, gemv_epi_scale(e, cols, lane)),
                      (int)blockIdx.x);
}

extern "C" void ops_gemv_f32_any(float *y, const float *w, const float *x, int rows,
                                 int cols, int pair, const struct gemv_epi *epi,
                                 cudaStream_t s)
{
    const gemv_epi none = {};
    const int H = pair ? GEMV_ANY_NR / 2 : GEMV_ANY_NR;
    gemv_f32_any_kernel<<<(rows + H - 1) / H, GEMV_ANY_NR * WARP, 0, s>>>(
        y, w, x, rows, cols, pair, epi ? *epi : none);
}

extern "C" uint32_t ops_gemv_f32_any_blocks(int rows, int pair)
{
    const int H = pair ? GEMV_ANY_NR / 2 : GEMV_ANY_NR;
    return (uint32_t)((rows + H - 1) / H);
}

// ---- RMSNorm's scale and input for a fused projection ------------------------
// xg = h * g and the sum of squares of h: what a GEMV with the epilogue's
// rs_part needs (rs_n = 1) when no earlier kernel produced them (the first
// block of a token). A block per row of n floats; row r's sum goes to
// sq[r * sq_stride].
__global__ void rms_prep_kernel(float *xg, float *sq, int sq_stride, const float *h,
                                const float *g, int n)
{
    xg += (size_t)blockIdx.x * n;
    h += (size_t)blockIdx.x * n;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = h[i];
        ss += v * v;
        xg[i] = v * g[i];
    }
    ss = block_sum(ss);
    if (threadIdx.x == 0)
        sq[(size_t)blockIdx.x * sq_stride] = ss;
}

extern "C" void ops_rms_prep(float *xg, float *sq, int sq_stride, const float *h, const float *g,
                             int n, int n_rows, cudaStream_t s)
{
    rms_prep_kernel<<<n_rows, 1024, 0, s>>>(xg, sq, sq_stride, h, g, n);
}
