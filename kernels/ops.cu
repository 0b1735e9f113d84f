// ops.cu - decode ops other than the weight GEMVs (see ops.h).
//
// These move few bytes next to the weights (a few dim-sized vectors per
// layer), except attention, which reads the KV cache: at 4096 tokens of
// Llama-3.1-8B that is 0.5 GB per token, a tenth of the weights, so it is
// split over the sequence and reads each K/V row once per KV head.
#include "ops.h"

#include <cuda_fp16.h>
#include <math.h>

#define WARP 32

static __device__ __forceinline__ float warp_sum(float v)
{
    for (int o = WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
    for (int o = WARP / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

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

// ---- rmsnorm: one block, n up to any size --------------------------------
__global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int n,
                               float eps)
{
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += x[i] * x[i];
    ss = block_sum(ss);
    float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        y[i] = x[i] * scale * w[i];
}

extern "C" void ops_rmsnorm(float *y, const float *x, const float *w, int n,
                            float eps, cudaStream_t s)
{
    rmsnorm_kernel<<<1, 1024, 0, s>>>(y, x, w, n, eps);
}

// ---- elementwise ------------------------------------------------------------
__global__ void add_kernel(float *x, const float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] += y[i];
}

extern "C" void ops_add(float *x, const float *y, int n, cudaStream_t s)
{
    add_kernel<<<(n + 255) / 256, 256, 0, s>>>(x, y, n);
}

extern "C" void ops_add_bias(float *x, const float *b, int n, cudaStream_t s)
{
    add_kernel<<<(n + 255) / 256, 256, 0, s>>>(x, b, n);
}

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

// ---- rope + KV store -------------------------------------------------------
// One thread per rotated pair of one head; heads 0..n_heads-1 are q, the next
// n_kv_heads are k. A second launch then stores k and v into the F16 caches.
__global__ void rope_kernel(float *q, float *k, const uint32_t *pos_p,
                            struct ops_rope_params p)
{
    const uint32_t pos = *pos_p;
    const int half_rot = p.rope_dim / 2;
    const int n_pairs = (p.n_heads + p.n_kv_heads) * half_rot;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < n_pairs) {
        int head = t / half_rot, i = t % half_rot;
        float *x = head < p.n_heads ? q + head * p.head_dim
                                    : k + (head - p.n_heads) * p.head_dim;
        // theta_i = pos * scale * base^(-2i / rope_dim) / factor_i, in double
        // as the CPU reference computes it: at position 100k a float angle
        // would be off by ~1e-2 rad.
        double freq = pow((double)p.theta, -2.0 * i / p.rope_dim);
        if (p.freq_factors)
            freq /= p.freq_factors[i];
        double ang_d = (double)pos * p.pos_scale * freq;
        double sd, cd;
        sincos(ang_d, &sd, &cd);
        float c = (float)cd, s_ = (float)sd;
        int i0 = p.neox ? i : 2 * i;
        int i1 = p.neox ? i + half_rot : 2 * i + 1;
        float a = x[i0], b = x[i1];
        x[i0] = a * c - b * s_;
        x[i1] = a * s_ + b * c;
    }
}

__global__ void store_kv_kernel(const float *k, const float *v, __half *kc,
                                __half *vc, int n_ctx, const uint32_t *pos_p,
                                int n_kv_heads, int head_dim)
{
    const uint32_t pos = *pos_p;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < n_kv_heads * head_dim) {
        int h = t / head_dim, d = t % head_dim;
        size_t off = ((size_t)h * n_ctx + pos) * head_dim + d;
        kc[off] = __float2half_rn(k[t]);
        vc[off] = __float2half_rn(v[t]);
    }
}

extern "C" void ops_rope_store_kv(float *q, float *k, const float *v,
                                  uint16_t *k_cache, uint16_t *v_cache,
                                  int n_ctx, const uint32_t *pos,
                                  const struct ops_rope_params *p,
                                  cudaStream_t s)
{
    int n_pairs = (p->n_heads + p->n_kv_heads) * (p->rope_dim / 2);
    rope_kernel<<<(n_pairs + 127) / 128, 128, 0, s>>>(q, k, pos, *p);
    int n_kv = p->n_kv_heads * p->head_dim;
    store_kv_kernel<<<(n_kv + 127) / 128, 128, 0, s>>>(
        k, v, (__half *)k_cache, (__half *)v_cache, n_ctx, pos, p->n_kv_heads,
        p->head_dim);
}

// ---- attention (flash-decoding) -------------------------------------------
#define ATTN_THREADS 128
#define ATTN_MAX_GROUP 16   // query heads per KV head
#define ATTN_MAX_HEAD_DIM 256

// Block (kv_head, split): the g = n_heads / n_kv_heads query heads that share
// this KV head, over positions [split * chunk, ...). Each K and V row of the
// chunk is read once for all g heads. Writes per (head, split) the running
// max m, the sum l of exp(score - m) and acc[d] = sum exp(score - m) v[d].
__global__ void attn_partial_kernel(const float *q, const __half *kc,
                                    const __half *vc, int n_ctx,
                                    const uint32_t *pos_p, int n_heads,
                                    int n_kv_heads, int hd, int chunk,
                                    int max_splits, float *part_ml,
                                    float *part_acc)
{
    extern __shared__ float smem[];
    const int g = n_heads / n_kv_heads;
    float *qs = smem;              // g * hd
    float *sc = smem + g * hd;     // g * chunk
    __shared__ float m_s[ATTN_MAX_GROUP], l_s[ATTN_MAX_GROUP];

    const int kvh = blockIdx.x, split = blockIdx.y;
    const int n = (int)*pos_p + 1;
    const int c0 = split * chunk;
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    const int n_warps = blockDim.x / WARP;

    if (c0 >= n) { // nothing of the sequence here: an empty partial
        if (threadIdx.x < g) {
            int h = kvh * g + threadIdx.x;
            part_ml[(h * max_splits + split) * 2 + 0] = -INFINITY;
            part_ml[(h * max_splits + split) * 2 + 1] = 0.0f;
        }
        return;
    }
    const int len = min(chunk, n - c0);
    const float scale = rsqrtf((float)hd);
    for (int i = threadIdx.x; i < g * hd; i += blockDim.x)
        qs[i] = q[(kvh * g) * hd + i] * scale;
    __syncthreads();

    // scores: a warp per position, lanes over head_dim
    const __half *kbase = kc + ((size_t)kvh * n_ctx + c0) * hd;
    for (int p = warp; p < len; p += n_warps) {
        const __half *kr = kbase + (size_t)p * hd;
        float kv[ATTN_MAX_HEAD_DIM / WARP];
#pragma unroll
        for (int i = 0; i < ATTN_MAX_HEAD_DIM / WARP; i++) {
            int d = lane + i * WARP;
            kv[i] = d < hd ? __half2float(kr[d]) : 0.0f;
        }
        for (int j = 0; j < g; j++) {
            float s = 0.0f;
#pragma unroll
            for (int i = 0; i < ATTN_MAX_HEAD_DIM / WARP; i++) {
                int d = lane + i * WARP;
                if (d < hd)
                    s += qs[j * hd + d] * kv[i];
            }
            s = warp_sum(s);
            if (lane == 0)
                sc[j * chunk + p] = s;
        }
    }
    __syncthreads();

    // softmax over the chunk, one warp per query head
    for (int j = warp; j < g; j += n_warps) {
        float m = -INFINITY;
        for (int p = lane; p < len; p += WARP)
            m = fmaxf(m, sc[j * chunk + p]);
        m = warp_max(m);
        float l = 0.0f;
        for (int p = lane; p < len; p += WARP) {
            float e = expf(sc[j * chunk + p] - m);
            sc[j * chunk + p] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
            m_s[j] = m;
            l_s[j] = l;
        }
    }
    __syncthreads();

    // weighted sum of V. A thread takes a column pair (one half2 load) and
    // every n_groups-th position of the chunk: each V row is read once in
    // all, and a thread has len / n_groups independent loads to overlap
    // (v1, a thread per column walking all positions, was latency-bound:
    // 146 us per call at 300 positions, bench/NOTES.md). The position
    // groups are then summed through shared memory.
    const int n_cols = hd / 2;
    const int n_groups = blockDim.x / n_cols;
    const int col = threadIdx.x % n_cols, grp = threadIdx.x / n_cols;
    float *red = sc + g * chunk; // n_groups * g * hd
    float acc[ATTN_MAX_GROUP][2];
#pragma unroll
    for (int j = 0; j < ATTN_MAX_GROUP; j++)
        acc[j][0] = acc[j][1] = 0.0f;
    if (grp < n_groups) {
        const __half2 *vb = (const __half2 *)(vc + ((size_t)kvh * n_ctx + c0) * hd) + col;
#pragma unroll 4
        for (int p = grp; p < len; p += n_groups) {
            float2 v = __half22float2(vb[(size_t)p * n_cols]);
#pragma unroll
            for (int j = 0; j < ATTN_MAX_GROUP; j++) {
                if (j < g) {
                    float w = sc[j * chunk + p];
                    acc[j][0] += w * v.x;
                    acc[j][1] += w * v.y;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < ATTN_MAX_GROUP; j++) {
            if (j < g) {
                red[(grp * g + j) * hd + 2 * col] = acc[j][0];
                red[(grp * g + j) * hd + 2 * col + 1] = acc[j][1];
            }
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < g * hd; i += blockDim.x) {
        int j = i / hd, d = i % hd;
        float sum = 0.0f;
        for (int q = 0; q < n_groups; q++)
            sum += red[(q * g + j) * hd + d];
        int h = kvh * g + j;
        part_acc[((size_t)h * max_splits + split) * hd + d] = sum;
    }
    if (threadIdx.x < g) {
        int h = kvh * g + threadIdx.x;
        part_ml[(h * max_splits + split) * 2 + 0] = m_s[threadIdx.x];
        part_ml[(h * max_splits + split) * 2 + 1] = l_s[threadIdx.x];
    }
}

// Block per query head: merges the splits' partials (log-sum-exp).
__global__ void attn_combine_kernel(float *out, const float *part_ml,
                                    const float *part_acc, int hd,
                                    int max_splits)
{
    const int h = blockIdx.x;
    const float *ml = part_ml + (size_t)h * max_splits * 2;
    float m = -INFINITY;
    for (int s = 0; s < max_splits; s++)
        m = fmaxf(m, ml[2 * s]);
    float l = 0.0f;
    for (int s = 0; s < max_splits; s++)
        if (ml[2 * s + 1] > 0.0f)
            l += ml[2 * s + 1] * expf(ml[2 * s] - m);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < max_splits; s++)
            if (ml[2 * s + 1] > 0.0f)
                acc += part_acc[((size_t)h * max_splits + s) * hd + d] *
                       expf(ml[2 * s] - m);
        out[h * hd + d] = acc / l;
    }
}

extern "C" size_t ops_attention_scratch_floats(int n_heads, int head_dim,
                                               int n_ctx, int chunk)
{
    size_t max_splits = (size_t)(n_ctx + chunk - 1) / chunk;
    return (size_t)n_heads * max_splits * (2 + head_dim);
}

extern "C" void ops_attention(float *out, const float *q,
                              const uint16_t *k_cache, const uint16_t *v_cache,
                              int n_ctx, const uint32_t *pos, int n_heads,
                              int n_kv_heads, int head_dim, int chunk,
                              float *part_ml, float *part_acc, cudaStream_t s)
{
    int max_splits = (n_ctx + chunk - 1) / chunk;
    int g = n_heads / n_kv_heads;
    int n_groups = ATTN_THREADS / (head_dim / 2);
    size_t smem = (size_t)(g * head_dim + g * chunk + n_groups * g * head_dim) * sizeof(float);
    dim3 grid(n_kv_heads, max_splits);
    attn_partial_kernel<<<grid, ATTN_THREADS, smem, s>>>(
        q, (const __half *)k_cache, (const __half *)v_cache, n_ctx, pos,
        n_heads, n_kv_heads, head_dim, chunk, max_splits, part_ml, part_acc);
    int threads = head_dim < 32 ? 32 : (head_dim > 256 ? 256 : head_dim);
    attn_combine_kernel<<<n_heads, threads, 0, s>>>(out, part_ml, part_acc,
                                                    head_dim, max_splits);
}

// ---- argmax ----------------------------------------------------------------
__global__ void argmax_kernel(int32_t *out, const float *x, int n)
{
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    float best = -INFINITY;
    int idx = n; // "none yet": loses every tie-break
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = x[i];
        if (v > best) { // NaN compares false: never wins
            best = v;
            idx = i;
        }
    }
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = idx;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float v = bv[threadIdx.x + s];
            int j = bi[threadIdx.x + s];
            if (v > bv[threadIdx.x] || (v == bv[threadIdx.x] && j < bi[threadIdx.x])) {
                bv[threadIdx.x] = v;
                bi[threadIdx.x] = j;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0)
        *out = bi[0] < n ? bi[0] : 0;
}

extern "C" void ops_argmax(int32_t *out, const float *x, int n, cudaStream_t s)
{
    argmax_kernel<<<1, 1024, 0, s>>>(out, x, n);
}

// ---- generic f32 GEMV ----------------------------------------------------------
// y (rows,) = W (rows, cols) x (cols,), W f32 row-major, any shape: a warp
// per row. Only for the small matrices whose row length the generated
// kernels do not take (not a multiple of 256: the tiny test models); those
// are dequantized to f32 at load, exactly, so the result is the same
// function of the same weights.
__global__ void gemv_f32_any_kernel(float *y, const float *w, const float *x,
                                    int rows, int cols)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows)
        return;
    const float *wr = w + (size_t)row * cols;
    float s = 0.0f;
    for (int c = lane; c < cols; c += WARP)
        s += wr[c] * x[c];
    s = warp_sum(s);
    if (lane == 0)
        y[row] = s;
}

extern "C" void ops_gemv_f32_any(float *y, const float *w, const float *x,
                                 int rows, int cols, cudaStream_t s)
{
    const int warps = 4;
    gemv_f32_any_kernel<<<(rows + warps - 1) / warps, warps * WARP, 0, s>>>(y, w, x, rows, cols);
}
