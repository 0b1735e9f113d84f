// test_gemv.cu - the generated dequant+GEMV kernels against the CPU
// reference, on fresh random inputs of the real shapes, with their speed.
//
//   test_gemv [--emulate | --check-only] [LIST]
//
// LIST (default tests/gpu/gemv-test.list) holds "TYPE ROWS COLS [swiglu]" lines (or
// "TYPE ROWS COLS + TYPE2 ROWS2", below); the
// same file generated the kernel instances (GNUmakefile, test-gpu), so
// every line has a kernel. For each line:
//   - random weights: random bytes, every f16 scale (or f16/bf16/f32
//     value) overwritten by a finite random number, so every code of every
//     field occurs; x uniform in [-1, 1];
//   - reference: each row dequantized by dequant_row (src/dequant.c, the
//     CPU oracle) and dotted with x in double;
//     an instance that rounds x to int8 first (gemv_int8_x: Q4_K on the
//     register path, Q6_K down projections) is compared with the reference of the rounded x
//     (gemv_round_x), and the rounding's own effect is checked apart
//     (report_int8: under 1e-2);
//   - the kernel runs once with y poisoned with NaN; pass when no output is
//     NaN or infinite and ||y - ref|| / ||ref|| < 1e-3 (f32 accumulation of
//     exact products lands near 1e-6; one misdecoded element per row of
//     4096 would give about 1e-2, see the negative checks);
//   - time: the median over 5 replays of a CUDA graph of launches that
//     rotate over copies of W totalling > 4x L2, so W streams from HBM; GB/s
//     counts W + x + y bytes, next to the device-to-device copy bandwidth
//     measured at start (bytes read + written).
//   - the same time with the epilogue below (every GEMV of a decode step
//     has one), printed under the case;
// Negative checks (the test must be able to fail): the first case's
// output against its reference shifted by one row, against a reference
// missing one element per row, and with one output set to NaN: each must
// be rejected by the same comparison.
//
// Every case also runs with its epilogue (kernels/gemv.h: RMSNorm scale,
// bias, residual, the next norm's input and scale; for a pair the scale)
// against the same reference; a "swiglu" line is a pair: 2 * ROWS weight
// rows (gate, then up), reference silu(gate) * up in double.
//
// A "+ TYPE2 ROWS2" line is two matrices of different types in one launch
// (gemv_launch_cat): each part against its reference, and with epilogues
// bit for bit the two instances launched apart (check_cat; both must be
// listed too).
//
// --check-only skips the timing (for compute-sanitizer runs).
// --emulate runs no GPU: gemv_emulate (the kernels' staging and lane
// arithmetic on the CPU) against the same reference, for the lines with
// at most 4096 rows and 4096 columns.
#include <cuda_runtime.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "cuda_check.h"
#include "gemv.h"

extern "C" {
#if !defined(_Static_assert)
#define _Static_assert static_assert
#endif
#include "dequant.h"
#include "half.h"
#include "quant.h"
}

#define GEMV_TOL 1e-3

// ---- a tiny thread pool: fn(ctx, i) for i in [0, n) over all cores ------

struct par_job {
    void (*fn)(void *, uint64_t);
    void *ctx;
    uint64_t n, next;
    pthread_mutex_t mu;
};

static void *par_worker(void *arg)
{
    par_job *j = (par_job *)arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        uint64_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            return NULL;
        j->fn(j->ctx, i);
    }
}

static void par_for(uint64_t n, void (*fn)(void *, uint64_t), void *ctx)
{
    par_job j = {fn, ctx, n, 0, PTHREAD_MUTEX_INITIALIZER};
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    nt = nt < 1 ? 1 : nt > 64 ? 64 : nt;
    pthread_t th[64];
    for (long t = 0; t < nt; t++)
        pthread_create(&th[t], NULL, par_worker, &j);
    for (long t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
}

// ---- random inputs ---------------------------------------------------------

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static float rng_f32(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

struct gen_ctx {
    uint32_t type, cols;
    size_t row_bytes;
    uint8_t *w;
    uint64_t seed;
};

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

// Row r of W: its own seed, so the contents do not depend on the threads.
static void gen_row(void *arg, uint64_t r)
{
    gen_ctx *c = (gen_ctx *)arg;
    uint64_t s = c->seed ^ (0x9E3779B97F4A7C15ULL * (r + 1));
    uint8_t *row = c->w + r * c->row_bytes;
    switch (c->type) {
    case GGML_TYPE_F32:
        for (uint32_t i = 0; i < c->cols; i++) {
            float v = rng_f32(&s, -1.0f, 1.0f);
            memcpy(row + 4 * i, &v, 4);
        }
        return;
    case GGML_TYPE_F16:
        for (uint32_t i = 0; i < c->cols; i++)
            put16(row + 2 * i, f32_to_f16(rng_f32(&s, -1.0f, 1.0f)));
        return;
    case GGML_TYPE_BF16:
        for (uint32_t i = 0; i < c->cols; i++)
            put16(row + 2 * i, f32_to_bf16(rng_f32(&s, -1.0f, 1.0f)));
        return;
    }
    for (size_t i = 0; i < c->row_bytes; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(row + i, &v, c->row_bytes - i < 8 ? c->row_bytes - i : 8);
    }
    const ggml_type_info *ti = ggml_type_get(c->type);
    int off[2], nf = ggml_f16_fields(c->type, off);
    for (size_t b = 0; b < c->row_bytes; b += ti->type_size)
        for (int f = 0; f < nf; f++)
            put16(row + b + off[f], f32_to_f16(rng_f32(&s, -0.05f, 0.05f)));
}

struct ref_ctx {
    uint32_t type, cols;
    size_t row_bytes;
    const uint8_t *w;
    const float *x;
    double *ref;
};

static void ref_row(void *arg, uint64_t r)
{
    ref_ctx *c = (ref_ctx *)arg;
    static __thread float *buf;
    static __thread uint32_t cap;
    if (cap < c->cols) {
        free(buf);
        buf = (float *)malloc(sizeof(float) * c->cols);
        cap = c->cols;
    }
    dequant_row(c->type, c->w + r * c->row_bytes, buf, c->cols);
    double s = 0.0;
    for (uint32_t i = 0; i < c->cols; i++)
        s += (double)buf[i] * (double)c->x[i];
    c->ref[r] = s;
}

// ||y - ref|| / ||ref||; +inf when y holds a NaN or an infinity.
static double rel_err(const float *y, const double *ref, uint32_t n)
{
    double num = 0.0, den = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            return INFINITY;
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

static int passes(double e)
{
    return e < GEMV_TOL; // NaN compares false: never passes
}

// ---- the list -----------------------------------------------------------------

struct gcase {
    uint32_t type, rows, cols;
    int pair; // a SwiGLU pair: 2 * rows weight rows, silu(gate) * up
    uint32_t type2, rows2; // "+ TYPE2 ROWS2": a second matrix in the launch (gemv_launch_cat)
};

static std::vector<gcase> read_list(const char *path)
{
    std::vector<gcase> v;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "test_gemv: %s: cannot open\n", path);
        exit(1);
    }
    char line[256];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char name[32], mode[16] = "", name2[32] = "";
        unsigned r, c, r2 = 0;
        int n = sscanf(line, "%31s %u %u %15s %31s %u", name, &r, &c, mode, name2, &r2);
        if (n <= 0)
            continue;
        int t = n >= 3 ? ggml_type_from_name(name) : -1;
        int t2 = n == 6 && !strcmp(mode, "+") && r2 > 0 ? ggml_type_from_name(name2) : -1;
        if (t < 0 || (n == 4 && strcmp(mode, "swiglu")) || n == 5 || (n == 6 && t2 < 0)) {
            fprintf(stderr, "test_gemv: %s: line %d: found \"%s\", expected TYPE ROWS COLS [swiglu | + TYPE2 ROWS2]\n",
                    path, ln, line);
            exit(1);
        }
        v.push_back(gcase{(uint32_t)t, r, c, n == 4, n == 6 ? (uint32_t)t2 : 0u, n == 6 ? r2 : 0u});
    }
    fclose(f);
    return v;
}

// ---- one case -----------------------------------------------------------------

struct host_case {
    size_t row_bytes, w_bytes, w_alloc;
    uint32_t phys;           // weight rows: rows, or 2 * rows for a pair
    uint8_t *w;
    std::vector<float> x;
    std::vector<double> raw; // W x per weight row, in double
    std::vector<double> ref; // the output rows (a pair: silu(gate) * up)
    // an instance that rounds x to int8 (gemv_int8_x): raw and ref are of
    // the rounded x (the kernel's input to its products), x_err is how far
    // that moves the output from the one of x itself
    bool int8;
    double x_err;
};

// silu(g) * u in double, the pair's reference
static double swiglu_ref(double g, double u)
{
    return g / (1.0 + exp(-g)) * u;
}

// int8: whether the instance rounds x to int8 first; -1: ask gemv_int8_x (a
// part of a concatenation asks gemv_cat_int8_x: its single instance may be
// in no list)
static void host_case_make(host_case *h, const gcase &c, uint64_t seed, int int8 = -1)
{
    h->phys = c.pair ? 2 * c.rows : c.rows;
    h->row_bytes = ggml_row_size(c.type, c.cols);
    h->w_bytes = h->row_bytes * h->phys;
    h->w_alloc = (h->w_bytes + 255) & ~(size_t)255;
    h->w = (uint8_t *)malloc(h->w_alloc);
    if (!h->w) {
        fprintf(stderr, "test_gemv: out of host memory (%zu bytes)\n", h->w_alloc);
        exit(1);
    }
    memset(h->w + h->w_bytes, 0, h->w_alloc - h->w_bytes);
    gen_ctx g = {c.type, c.cols, h->row_bytes, h->w, seed};
    par_for(h->phys, gen_row, &g);
    uint64_t s = seed * 7 + 1;
    h->x.resize(c.cols);
    for (uint32_t i = 0; i < c.cols; i++)
        h->x[i] = rng_f32(&s, -1.0f, 1.0f);
    h->int8 = int8 >= 0 ? int8 == 1 : gemv_int8_x(c.type, c.rows, c.cols, c.pair) == 1;
    std::vector<float> xr = h->x;
    if (h->int8)
        gemv_round_x(h->x.data(), xr.data(), c.cols);
    h->raw.resize(h->phys);
    ref_ctx rc = {c.type, c.cols, h->row_bytes, h->w, xr.data(), h->raw.data()};
    par_for(h->phys, ref_row, &rc);
    h->ref.resize(c.rows);
    for (uint32_t r = 0; r < c.rows; r++)
        h->ref[r] = c.pair ? swiglu_ref(h->raw[r], h->raw[c.rows + r]) : h->raw[r];
    h->x_err = 0.0;
    if (h->int8) { // the output of the unrounded x, against the rounded one's
        std::vector<double> raw(h->phys);
        std::vector<float> ref(c.rows);
        ref_ctx rx = {c.type, c.cols, h->row_bytes, h->w, h->x.data(), raw.data()};
        par_for(h->phys, ref_row, &rx);
        for (uint32_t r = 0; r < c.rows; r++)
            ref[r] = (float)(c.pair ? swiglu_ref(raw[r], raw[c.rows + r]) : raw[r]);
        h->x_err = rel_err(ref.data(), h->ref.data(), c.rows);
    }
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Device-to-device copy bandwidth, bytes read + written per second.
static double measure_d2d(void)
{
    const size_t n = (size_t)1 << 30;
    void *a, *b;
    CUDA_CHECK(cudaMalloc(&a, n));
    CUDA_CHECK(cudaMalloc(&b, n));
    CUDA_CHECK(cudaMemset(a, 1, n));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    CUDA_CHECK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
    std::vector<double> t;
    for (int i = 0; i < 10; i++) {
        CUDA_CHECK(cudaEventRecord(e0));
        CUDA_CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice));
        CUDA_CHECK(cudaEventRecord(e1));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e-3);
    }
    CUDA_CHECK(cudaFree(a));
    CUDA_CHECK(cudaFree(b));
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    return 2.0 * (double)n / median(t);
}

static int launch(const gcase &c, const void *w, const float *x, float *y, cudaStream_t s,
                  const gemv_epi *epi = NULL)
{
    int rc = gemv_launch(c.type, c.rows, c.cols, c.pair, w, x, y, epi, s);
    if (rc != 0) {
        fprintf(stderr, "test_gemv: gemv_launch(%s, %u, %u) returned %d\n",
                ggml_type_name(c.type), c.rows, c.cols, rc);
        exit(1);
    }
    CUDA_CHECK(cudaGetLastError());
    return 0;
}

// Median seconds per launch over 5 replays of a CUDA graph of n launches,
// fn(j) enqueuing one on copy j = i % k of the weights (after a warm-up).
template <class F>
static double time_rotated(F fn, size_t k, size_t n, cudaStream_t s)
{
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (size_t i = 0; i < n; i++)
        fn(i % k);
    CUDA_CHECK(cudaStreamEndCapture(s, &g));
    CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    CUDA_CHECK(cudaGraphLaunch(ge, s)); // warm-up
    std::vector<double> t;
    for (int r = 0; r < 5; r++) {
        CUDA_CHECK(cudaEventRecord(e0, s));
        CUDA_CHECK(cudaGraphLaunch(ge, s));
        CUDA_CHECK(cudaEventRecord(e1, s));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e-3 / (double)n);
    }
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    CUDA_CHECK(cudaGraphExecDestroy(ge));
    CUDA_CHECK(cudaGraphDestroy(g));
    return median(t);
}

// Median seconds per launch, W streamed from HBM (copies rotated), with the
// epilogue epi when not NULL (every launch of a decode step has one).
static double time_case(const gcase &c, const host_case &h, const uint8_t *dw,
                        const float *dx, float *dy, size_t l2, cudaStream_t s,
                        const gemv_epi *epi = NULL)
{
    size_t k = (4 * l2 + h.w_bytes - 1) / h.w_bytes;
    size_t free_b, total_b;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    size_t kmax = (free_b / 2) / h.w_alloc;
    k = std::max<size_t>(1, std::min<size_t>(std::min<size_t>(k, kmax), 256));
    std::vector<uint8_t *> copies(k);
    copies[0] = (uint8_t *)dw;
    for (size_t i = 1; i < k; i++) {
        CUDA_CHECK(cudaMalloc(&copies[i], h.w_alloc));
        CUDA_CHECK(cudaMemcpy(copies[i], dw, h.w_alloc, cudaMemcpyDeviceToDevice));
    }
    const double t = time_rotated([&](size_t j) { launch(c, copies[j], dx, dy, s, epi); }, k,
                                  std::max<size_t>(k, 20), s);
    for (size_t i = 1; i < k; i++)
        CUDA_CHECK(cudaFree(copies[i]));
    return t;
}

// The epilogue (kernels/gemv.h) on the case's weights and x: a plain shape
// with the RMSNorm scale (from three partial sums of squares), a bias, the
// residual, the next norm's input and its partial sums; a pair with the
// scale. Every output compared. Returns 1 on failure.
static int check_epilogue(const gcase &c, const host_case &h, const uint8_t *dw,
                          const float *dx, cudaStream_t s, size_t l2, int timed)
{
    const float eps = 1e-5f;
    const float rs_part[3] = {0.5f * c.cols, 0.75f * c.cols, 0.25f * c.cols};
    const double rs = 1.0 / sqrt(((double)rs_part[0] + rs_part[1] + rs_part[2]) / c.cols + eps);
    uint64_t seed = 0x5EED + c.rows;
    std::vector<float> bias(c.rows), res(c.rows), gn(c.rows);
    for (uint32_t r = 0; r < c.rows; r++) {
        bias[r] = rng_f32(&seed, -0.5f, 0.5f);
        res[r] = rng_f32(&seed, -2.0f, 2.0f);
        gn[r] = rng_f32(&seed, 0.5f, 1.5f);
    }
    uint32_t blocks = gemv_blocks(c.type, c.rows, c.cols, c.pair);
    float *d_rs, *d_bias, *d_res, *d_g, *d_y, *d_part;
    CUDA_CHECK(cudaMalloc(&d_rs, sizeof rs_part));
    CUDA_CHECK(cudaMalloc(&d_bias, 4 * c.rows));
    CUDA_CHECK(cudaMalloc(&d_res, 4 * c.rows));
    CUDA_CHECK(cudaMalloc(&d_g, 4 * c.rows));
    CUDA_CHECK(cudaMalloc(&d_y, 4 * c.rows));
    CUDA_CHECK(cudaMalloc(&d_part, 4 * (blocks ? blocks : 1)));
    CUDA_CHECK(cudaMemcpy(d_rs, rs_part, sizeof rs_part, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_bias, bias.data(), 4 * c.rows, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_g, gn.data(), 4 * c.rows, cudaMemcpyHostToDevice));
    gemv_epi e = {};
    e.rs_part = d_rs;
    e.rs_n = 3;
    e.rs_eps = eps;
    if (!c.pair) {
        e.bias = d_bias;
        e.res = d_res;
        e.g_next = d_g;
        e.sq_part = d_part;
    }
    CUDA_CHECK(cudaMemcpy(d_res, res.data(), 4 * c.rows, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemsetAsync(d_y, 0xFF, 4 * c.rows, s)); // NaN poison, in stream order
    CUDA_CHECK(cudaMemsetAsync(d_part, 0xFF, 4 * (blocks ? blocks : 1), s));
    launch(c, dw, dx, d_y, s, &e);
    CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<float> y(c.rows), res_out(c.rows), part(blocks);
    CUDA_CHECK(cudaMemcpy(y.data(), d_y, 4 * c.rows, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(res_out.data(), d_res, 4 * c.rows, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(part.data(), d_part, 4 * blocks, cudaMemcpyDeviceToHost));
    std::vector<double> want_y(c.rows), want_res(c.rows);
    double ss = 0.0;
    for (uint32_t r = 0; r < c.rows; r++) {
        if (c.pair) {
            want_y[r] = swiglu_ref(rs * h.raw[r], rs * h.raw[c.rows + r]);
        } else {
            want_res[r] = res[r] + rs * h.raw[r] + bias[r];
            want_y[r] = want_res[r] * gn[r];
            ss += want_res[r] * want_res[r];
        }
    }
    double ey = rel_err(y.data(), want_y.data(), c.rows);
    double er = c.pair ? 0.0 : rel_err(res_out.data(), want_res.data(), c.rows);
    double got_ss = 0.0; // NaN in any partial (an unwritten one) fails below
    for (uint32_t b = 0; b < blocks; b++)
        got_ss += part[b];
    double en = c.pair ? 0.0 : fabs(got_ss - ss) / ss;
    int ok = passes(ey) && passes(er) && en < 1e-5; // NaN fails every test
    if (c.pair)
        printf("      epilogue: scale, pair rel_err %.2e %s\n", ey, ok ? "ok" : "FAIL");
    else
        printf("      epilogue: scale+bias+residual %.2e, next-norm input %.2e, its sum of squares %.1e %s\n",
               er, ey, en, ok ? "ok" : "FAIL");
    if (timed) // after the check: the runs rewrite the residual
        printf("      epilogue: %.2f us a launch\n", time_case(c, h, dw, dx, d_y, l2, s, &e) * 1e6);
    CUDA_CHECK(cudaFree(d_rs));
    CUDA_CHECK(cudaFree(d_bias));
    CUDA_CHECK(cudaFree(d_res));
    CUDA_CHECK(cudaFree(d_g));
    CUDA_CHECK(cudaFree(d_y));
    CUDA_CHECK(cudaFree(d_part));
    return !ok;
}

// x rounded by its producer (gemv_epi.xq_in, xq_out; kernels/gemv.h), for
// the instances that can (gemv_xq). Takes: the output with xq_in set to
// the host's rounding of x (gemv_round_xq) must equal the plain launch's
// bit for bit (the same codes and scales), and must change when one code
// of xq_in changes (the kernel reads it). Gives: with the residual
// epilogue, the xq_out the launch wrote must equal the host's rounding of
// the y it wrote, byte for byte. Returns 1 on failure.
static int check_xq(const gcase &c, const host_case &h, const uint8_t *dw, const float *dx,
                    cudaStream_t s)
{
    const int caps = gemv_xq(c.type, c.rows, c.cols, c.pair);
    if (caps <= 0)
        return 0;
    int bad = 0;
    if (caps & GEMV_XQ_TAKES) {
        const size_t n = GEMV_XQ_BYTES(c.cols);
        std::vector<uint8_t> xq(n);
        gemv_round_xq(h.x.data(), xq.data(), c.cols);
        void *d_xq;
        float *d_y;
        CUDA_CHECK(cudaMalloc(&d_xq, n));
        CUDA_CHECK(cudaMalloc(&d_y, 4 * c.rows));
        std::vector<float> plain(c.rows), got(c.rows), moved(c.rows);
        gemv_epi e = {};
        e.xq_in = d_xq;
        CUDA_CHECK(cudaMemcpy(d_xq, xq.data(), n, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemsetAsync(d_y, 0xFF, 4 * c.rows, s));
        launch(c, dw, dx, d_y, s);
        CUDA_CHECK(cudaMemcpyAsync(plain.data(), d_y, 4 * c.rows, cudaMemcpyDeviceToHost, s));
        CUDA_CHECK(cudaMemsetAsync(d_y, 0xFF, 4 * c.rows, s));
        launch(c, dw, dx, d_y, s, &e);
        CUDA_CHECK(cudaMemcpyAsync(got.data(), d_y, 4 * c.rows, cudaMemcpyDeviceToHost, s));
        xq[0] ^= 0x40; // element 0's code: a different x
        CUDA_CHECK(cudaMemcpyAsync(d_xq, xq.data(), n, cudaMemcpyHostToDevice, s));
        launch(c, dw, dx, d_y, s, &e);
        CUDA_CHECK(cudaMemcpyAsync(moved.data(), d_y, 4 * c.rows, cudaMemcpyDeviceToHost, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
        int nan = 0;
        for (uint32_t r = 0; r < c.rows; r++)
            nan += !isfinite(got[r]);
        const int same = !memcmp(plain.data(), got.data(), 4 * c.rows);
        const int reads = !!memcmp(got.data(), moved.data(), 4 * c.rows);
        const int ok = same && reads && !nan;
        printf("      x rounded by its producer (xq_in): %s the launch's own rounding, %s %s\n",
               same ? "equal to" : "NOT equal to", reads ? "read" : "NOT read", ok ? "ok" : "FAIL");
        bad += !ok;
        CUDA_CHECK(cudaFree(d_xq));
        CUDA_CHECK(cudaFree(d_y));
    }
    if ((caps & GEMV_XQ_GIVES) && !c.pair) {
        const size_t n = GEMV_XQ_BYTES(c.rows);
        uint64_t seed = 0x51 + c.rows;
        std::vector<float> res(c.rows), gn(c.rows), y(c.rows);
        for (uint32_t r = 0; r < c.rows; r++) {
            res[r] = rng_f32(&seed, -2.0f, 2.0f);
            gn[r] = rng_f32(&seed, 0.5f, 1.5f);
        }
        float *d_res, *d_g, *d_y;
        void *d_xq;
        CUDA_CHECK(cudaMalloc(&d_res, 4 * c.rows));
        CUDA_CHECK(cudaMalloc(&d_g, 4 * c.rows));
        CUDA_CHECK(cudaMalloc(&d_y, 4 * c.rows));
        CUDA_CHECK(cudaMalloc(&d_xq, n));
        CUDA_CHECK(cudaMemcpy(d_res, res.data(), 4 * c.rows, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(d_g, gn.data(), 4 * c.rows, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemset(d_xq, 0xFF, n));
        gemv_epi e = {};
        e.res = d_res;
        e.g_next = d_g;
        e.xq_out = d_xq;
        launch(c, dw, dx, d_y, s, &e);
        CUDA_CHECK(cudaStreamSynchronize(s));
        std::vector<uint8_t> got(n), want(n);
        CUDA_CHECK(cudaMemcpy(y.data(), d_y, 4 * c.rows, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(got.data(), d_xq, n, cudaMemcpyDeviceToHost));
        gemv_round_xq(y.data(), want.data(), c.rows);
        const int ok = !memcmp(got.data(), want.data(), n);
        printf("      its output rounded for the next GEMV (xq_out): %s\n",
               ok ? "equal to the host's rounding of y, ok" : "NOT equal to the host's rounding of y, FAIL");
        bad += !ok;
        CUDA_CHECK(cudaFree(d_res));
        CUDA_CHECK(cudaFree(d_g));
        CUDA_CHECK(cudaFree(d_y));
        CUDA_CHECK(cudaFree(d_xq));
    }
    return bad;
}

// An int8-x instance's rounding of x, the one place its output may leave
// W x by more than f32 rounding: ~1/254 of a 16-run's largest |x| per
// element, ~4e-3 relative for x uniform in [-1, 1] (the errors are
// independent of W); the bound leaves 2.5x. Returns 1 when over it.
#define X_ROUND_BOUND 1e-2
static int report_int8(const host_case &h)
{
    if (!h.int8)
        return 0;
    int ok = h.x_err < X_ROUND_BOUND;
    printf("      x rounded to int8 per 16: output %.2e from the unrounded x's (bound %.0e) %s\n",
           h.x_err, X_ROUND_BOUND, ok ? "ok" : "FAIL");
    return !ok;
}

// The comparison must reject wrong outputs: returns the number of
// negative checks that were (wrongly) accepted.
static int negative_checks(const gcase &c, const host_case &h, const std::vector<float> &y)
{
    int bad = 0;
    std::vector<double> alt(c.rows);
    // 1. a kernel that read the neighbouring row
    for (uint32_t r = 0; r < c.rows; r++)
        alt[r] = h.ref[(r + 1) % c.rows];
    double e1 = rel_err(y.data(), alt.data(), c.rows);
    // 2. a kernel that misdecoded one element per row (element cols / 2)
    std::vector<float> wr(c.cols);
    for (uint32_t r = 0; r < c.rows; r++) {
        dequant_row(c.type, h.w + r * h.row_bytes, wr.data(), c.cols);
        alt[r] = h.ref[r] - (double)wr[c.cols / 2] * h.x[c.cols / 2];
    }
    double e2 = rel_err(y.data(), alt.data(), c.rows);
    // 3. one output never written (still the NaN poison)
    std::vector<float> yn = y;
    yn[c.rows / 3] = NAN;
    double e3 = rel_err(yn.data(), h.ref.data(), c.rows);
    printf("negative checks on %s %ux%u: shifted-row ref %.3g, one-element-missing ref %.3g, "
           "one NaN output %g: each must FAIL: %s %s %s\n",
           ggml_type_name(c.type), c.rows, c.cols, e1, e2, e3,
           passes(e1) ? "passed(BAD)" : "FAIL(ok)", passes(e2) ? "passed(BAD)" : "FAIL(ok)",
           passes(e3) ? "passed(BAD)" : "FAIL(ok)");
    bad += passes(e1) + passes(e2) + passes(e3);
    // 4. a shape with no instance is refused
    if (gemv_launch(c.type, c.rows + 1, c.cols, c.pair, NULL, NULL, NULL, NULL, 0) != -1) {
        printf("negative check: gemv_launch of a shape with no instance did not return -1\n");
        bad++;
    }
    return bad;
}

// ---- two matrices in one launch (gemv_launch_cat) -----------------------------

// A "+ TYPE2 ROWS2" line: A (type, rows) and B (type2, rows2) in one launch.
// Its output must equal, bit for bit, the two instances launched apart with
// the same epilogues (the norm's scale and a bias each: what Q|K and V
// take), and without epilogue each part must pass against its own CPU
// reference; its grid must be the two grids. Timed (unless check_only)
// against the two launches, each with its epilogue, W streamed from HBM.
// Returns the failures.
static int check_cat(const gcase &c, uint64_t seed, cudaStream_t s, size_t l2, bool timed)
{
    const gcase ca = {c.type, c.rows, c.cols, 0, 0, 0}, cb = {c.type2, c.rows2, c.cols, 0, 0, 0};
    const uint32_t n = c.rows + c.rows2;
    host_case ha, hb;
    const int i8 = gemv_cat_int8_x(c.type, c.rows, c.type2, c.rows2, c.cols);
    host_case_make(&ha, ca, seed, i8 >= 0 ? i8 & 1 : -1);
    host_case_make(&hb, cb, seed, i8 >= 0 ? (i8 >> 1) & 1 : -1); // x depends on the seed only: the same x
    int bad = 0;
    if (ha.x != hb.x) {
        printf("cat: the two parts' x differ (test defect) FAIL\n");
        return 1;
    }
    const uint32_t blocks = gemv_cat_blocks(c.type, c.rows, c.type2, c.rows2, c.cols);
    const uint32_t want_blocks = gemv_blocks(c.type, c.rows, c.cols, 0) + gemv_blocks(c.type2, c.rows2, c.cols, 0);
    uint8_t *dwa, *dwb;
    float *dx, *dy, *dy2, *d_rs, *d_bias;
    CUDA_CHECK(cudaMalloc(&dwa, ha.w_alloc));
    CUDA_CHECK(cudaMalloc(&dwb, hb.w_alloc));
    CUDA_CHECK(cudaMalloc(&dx, 4 * c.cols));
    CUDA_CHECK(cudaMalloc(&dy, 4 * n));
    CUDA_CHECK(cudaMalloc(&dy2, 4 * n));
    CUDA_CHECK(cudaMalloc(&d_rs, 4 * 3));
    CUDA_CHECK(cudaMalloc(&d_bias, 4 * n));
    CUDA_CHECK(cudaMemcpy(dwa, ha.w, ha.w_alloc, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dwb, hb.w, hb.w_alloc, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dx, ha.x.data(), 4 * c.cols, cudaMemcpyHostToDevice));
    const float rs_part[3] = {0.5f * c.cols, 0.75f * c.cols, 0.25f * c.cols};
    std::vector<float> bias(n);
    uint64_t bs = seed ^ 0xB1A5;
    for (uint32_t r = 0; r < n; r++)
        bias[r] = rng_f32(&bs, -0.5f, 0.5f);
    CUDA_CHECK(cudaMemcpy(d_rs, rs_part, sizeof rs_part, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_bias, bias.data(), 4 * n, cudaMemcpyHostToDevice));

    auto cat = [&](const uint8_t *wa, const uint8_t *wb, float *y, const gemv_epi *ea, const gemv_epi *eb) {
        int rc = gemv_launch_cat(c.type, c.rows, c.type2, c.rows2, c.cols, wa, wb, dx, y, ea, eb, s);
        if (rc != 0) {
            fprintf(stderr, "test_gemv: gemv_launch_cat(%s %u + %s %u, %u) returned %d\n", ggml_type_name(c.type),
                    c.rows, ggml_type_name(c.type2), c.rows2, c.cols, rc);
            exit(1);
        }
        CUDA_CHECK(cudaGetLastError());
    };
    auto apart = [&](const uint8_t *wa, const uint8_t *wb, float *y, const gemv_epi *ea, const gemv_epi *eb) {
        launch(ca, wa, dx, y, s, ea);
        launch(cb, wb, dx, y + c.rows, s, eb);
    };
    std::vector<float> y(n), y2(n);
    auto run = [&](float *d, std::vector<float> &h, bool one, const gemv_epi *ea, const gemv_epi *eb) {
        CUDA_CHECK(cudaMemsetAsync(d, 0xFF, 4 * n, s)); // NaN poison, in stream order
        if (one)
            cat(dwa, dwb, d, ea, eb);
        else
            apart(dwa, dwb, d, ea, eb);
        CUDA_CHECK(cudaStreamSynchronize(s));
        CUDA_CHECK(cudaMemcpy(h.data(), d, 4 * n, cudaMemcpyDeviceToHost));
    };

    // without epilogue: each part against its reference
    run(dy, y, true, NULL, NULL);
    double ea_err = rel_err(y.data(), ha.ref.data(), c.rows);
    double eb_err = rel_err(y.data() + c.rows, hb.ref.data(), c.rows2);
    int ok = passes(ea_err) && passes(eb_err) && blocks == want_blocks;
    // with the epilogues: the same bits as the two launches apart
    gemv_epi e1 = {}, e2;
    e1.rs_part = d_rs;
    e1.rs_n = 3;
    e1.rs_eps = 1e-5f;
    e1.bias = d_bias;
    e2 = e1;
    e2.bias = d_bias + c.rows;
    run(dy, y, true, &e1, &e2);
    run(dy2, y2, false, &e1, &e2);
    size_t differ = 0, nonfinite = 0;
    for (uint32_t r = 0; r < n; r++) {
        differ += memcmp(&y[r], &y2[r], 4) != 0;
        nonfinite += !isfinite(y[r]);
    }
    ok = ok && differ == 0 && nonfinite == 0;
    printf("%-5s %6u + %s %u x %u: parts rel_err %.2e, %.2e; blocks %u (%u); with epilogues %zu of %u rows "
           "differ from two launches, %zu not finite %s\n",
           ggml_type_name(c.type), c.rows, ggml_type_name(c.type2), c.rows2, c.cols, ea_err, eb_err, blocks,
           want_blocks, differ, n, nonfinite, ok ? "ok" : "FAIL");
    bad += !ok;

    if (timed) { // copies of both matrices over 4x L2, so W streams from HBM
        const size_t wb = ha.w_bytes + hb.w_bytes;
        size_t k = std::max<size_t>(1, std::min<size_t>((4 * l2 + wb - 1) / wb, 64));
        std::vector<uint8_t *> ca_w(k, dwa), cb_w(k, dwb);
        for (size_t i = 1; i < k; i++) {
            CUDA_CHECK(cudaMalloc(&ca_w[i], ha.w_alloc));
            CUDA_CHECK(cudaMalloc(&cb_w[i], hb.w_alloc));
            CUDA_CHECK(cudaMemcpy(ca_w[i], dwa, ha.w_alloc, cudaMemcpyDeviceToDevice));
            CUDA_CHECK(cudaMemcpy(cb_w[i], dwb, hb.w_alloc, cudaMemcpyDeviceToDevice));
        }
        const size_t reps = std::max<size_t>(k, 20);
        double t1 = time_rotated([&](size_t i) { cat(ca_w[i], cb_w[i], dy, &e1, &e2); }, k, reps, s);
        double t2 = time_rotated([&](size_t i) { apart(ca_w[i], cb_w[i], dy2, &e1, &e2); }, k, reps, s);
        printf("      one launch %.2f us, two launches %.2f us (%.0f GB/s against %.0f)\n", t1 * 1e6, t2 * 1e6,
               (double)wb / t1 * 1e-9, (double)wb / t2 * 1e-9);
        for (size_t i = 1; i < k; i++) {
            CUDA_CHECK(cudaFree(ca_w[i]));
            CUDA_CHECK(cudaFree(cb_w[i]));
        }
    }
    CUDA_CHECK(cudaFree(dwa));
    CUDA_CHECK(cudaFree(dwb));
    CUDA_CHECK(cudaFree(dx));
    CUDA_CHECK(cudaFree(dy));
    CUDA_CHECK(cudaFree(dy2));
    CUDA_CHECK(cudaFree(d_rs));
    CUDA_CHECK(cudaFree(d_bias));
    free(ha.w);
    free(hb.w);
    return bad;
}

static int run_emulate(const std::vector<gcase> &list)
{
    int fails = 0, n = 0;
    for (size_t i = 0; i < list.size(); i++) {
        const gcase &c = list[i];
        if ((uint64_t)c.rows * c.cols > 4096ull * 14336) // the down projection of an 8B at most
            continue;
        if (c.type2) { // two matrices: the concatenation's emulation, part by part
            const gcase ca = {c.type, c.rows, c.cols, 0, 0, 0}, cb = {c.type2, c.rows2, c.cols, 0, 0, 0};
            host_case ha, hb;
            const int i8 = gemv_cat_int8_x(c.type, c.rows, c.type2, c.rows2, c.cols);
            host_case_make(&ha, ca, 1000 + i, i8 >= 0 ? i8 & 1 : -1);
            host_case_make(&hb, cb, 1000 + i, i8 >= 0 ? (i8 >> 1) & 1 : -1);
            std::vector<float> y(c.rows + c.rows2, NAN);
            int rc = gemv_cat_emulate(c.type, c.rows, c.type2, c.rows2, c.cols, ha.w, hb.w, ha.x.data(), y.data());
            double ea = rc == 0 ? rel_err(y.data(), ha.ref.data(), c.rows) : INFINITY;
            double eb = rc == 0 ? rel_err(y.data() + c.rows, hb.ref.data(), c.rows2) : INFINITY;
            int ok = passes(ea) && passes(eb);
            printf("emulate %-5s %6u + %s %u x %u rel_err %.2e, %.2e %s\n", ggml_type_name(c.type), c.rows,
                   ggml_type_name(c.type2), c.rows2, c.cols, ea, eb, ok ? "ok" : "FAIL");
            fails += !ok;
            n++;
            free(ha.w);
            free(hb.w);
            continue;
        }
        host_case h;
        host_case_make(&h, c, 1000 + i);
        std::vector<float> y(c.rows, NAN);
        int rc = gemv_emulate(c.type, c.rows, c.cols, c.pair, h.w, h.x.data(), y.data());
        double e = rc == 0 ? rel_err(y.data(), h.ref.data(), c.rows) : INFINITY;
        int ok = passes(e);
        printf("emulate %-5s %6ux%-6u%s rel_err %.2e %s\n", ggml_type_name(c.type), c.rows, c.cols,
               c.pair ? " pair" : "", e, ok ? "ok" : "FAIL");
        fails += !ok;
        fails += report_int8(h);
        if (n == 0 && !c.pair)
            fails += negative_checks(c, h, y);
        n++;
        free(h.w);
    }
    printf("test_gemv --emulate: %d cases, %d failures\n", n, fails);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *path = "tests/gpu/gemv-test.list";
    int emulate = 0, check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--emulate"))
            emulate = 1;
        else if (!strcmp(argv[i], "--check-only"))
            check_only = 1;
        else
            path = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    std::vector<gcase> list = read_list(path);
    if (emulate)
        return run_emulate(list);

    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    double d2d = check_only ? 1.0 : measure_d2d();
    printf("device: %s, %d SMs, L2 %d MiB; d2d copy %.0f GB/s (read + written)\n", prop.name,
           prop.multiProcessorCount, prop.l2CacheSize >> 20, d2d * 1e-9);
    printf("%-5s %14s %10s %9s %8s %6s %s\n", "type", "rows x cols", "rel_err", "us", "GB/s",
           "%d2d", "result");

    cudaStream_t s;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    int fails = 0, n = 0;
    for (size_t i = 0; i < list.size(); i++) {
        const gcase &c = list[i];
        if (c.type2) { // two matrices in one launch
            fails += check_cat(c, 1 + i, s, (size_t)prop.l2CacheSize, !check_only);
            n++;
            continue;
        }
        host_case h;
        host_case_make(&h, c, 1 + i);
        uint8_t *dw;
        float *dx, *dy;
        CUDA_CHECK(cudaMalloc(&dw, h.w_alloc));
        CUDA_CHECK(cudaMalloc(&dx, sizeof(float) * c.cols));
        CUDA_CHECK(cudaMalloc(&dy, sizeof(float) * c.rows));
        CUDA_CHECK(cudaMemcpy(dw, h.w, h.w_alloc, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(dx, h.x.data(), sizeof(float) * c.cols, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemsetAsync(dy, 0xFF, sizeof(float) * c.rows, s)); // NaN poison, in stream order
        launch(c, dw, dx, dy, s);
        CUDA_CHECK(cudaStreamSynchronize(s));
        std::vector<float> y(c.rows);
        CUDA_CHECK(cudaMemcpy(y.data(), dy, sizeof(float) * c.rows, cudaMemcpyDeviceToHost));
        double e = rel_err(y.data(), h.ref.data(), c.rows);
        int ok = passes(e);
        if (i == 0 && !c.pair)
            fails += negative_checks(c, h, y);

        double t = check_only ? 1.0 : time_case(c, h, dw, dx, dy, (size_t)prop.l2CacheSize, s);
        double bytes = (double)h.w_bytes + 4.0 * c.cols + 4.0 * c.rows;
        printf("%-5s %6ux%-7u%s %10.2e %9.2f %8.0f %5.1f%% %s\n", ggml_type_name(c.type), c.rows,
               c.cols, c.pair ? " pair" : "", e, t * 1e6, bytes / t * 1e-9, 100.0 * bytes / t / d2d,
               ok ? "ok" : "FAIL");
        fails += !ok;
        fails += report_int8(h);
        fails += check_epilogue(c, h, dw, dx, s, (size_t)prop.l2CacheSize, !check_only);
        fails += check_xq(c, h, dw, dx, s);
        n++;
        CUDA_CHECK(cudaFree(dw));
        CUDA_CHECK(cudaFree(dx));
        CUDA_CHECK(cudaFree(dy));
        free(h.w);
    }
    printf("test_gemv: %d cases, %d failures\n", n, fails);
    return fails ? 1 : 0;
}
