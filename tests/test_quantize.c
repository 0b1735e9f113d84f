/* test_quantize.c - the reference quantizers: round-trip error bounds,
 * exact round trips of values already on the grid, finite scales,
 * determinism, and the Q8_1 activation format. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dequant.h"
#include "half.h"
#include "quant.h"
#include "quantize.h"
#include "util.h"

#define N 4096

/* Bounds on RMS(dequant(quantize(x)) - x) / RMS(x) for Gaussian-like data
 * (sum of 4 uniforms), measured at ~2/3 of each bound (see the report
 * printed with STRATA_TEST_VERBOSE). */
static const struct {
    uint32_t type;
    double max_rel_rms;
} bounds[] = {
    {GGML_TYPE_F32, 0.0},     {GGML_TYPE_F16, 0.0005},  {GGML_TYPE_BF16, 0.004},
    {GGML_TYPE_Q8_0, 0.01},   {GGML_TYPE_Q6_K, 0.03},   {GGML_TYPE_Q5_0, 0.06},
    {GGML_TYPE_Q5_1, 0.06},   {GGML_TYPE_Q5_K, 0.06},   {GGML_TYPE_Q4_0, 0.12},
    {GGML_TYPE_Q4_1, 0.12},   {GGML_TYPE_Q4_K, 0.12},   {GGML_TYPE_Q3_K, 0.25},
    {GGML_TYPE_Q2_K, 0.5},
};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

static void gaussian_like(float *x, int n, uint64_t seed, float scale)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        float v = 0.0f;
        for (int k = 0; k < 4; k++)
            v += test_rand_f32(&s, -1.0f, 1.0f);
        x[i] = v * scale;
    }
}

static double rel_rms(const float *x, const float *y, int n)
{
    double e = 0.0, r = 0.0;
    for (int i = 0; i < n; i++) {
        e += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        r += (double)x[i] * x[i];
    }
    return sqrt(e / r);
}

static int all_finite(const float *y, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(y[i]))
            return 0;
    return 1;
}

static void test_round_trip_error(void)
{
    static float x[N], y[N];
    static uint8_t q[N * 4];
    int verbose = getenv("STRATA_TEST_VERBOSE") != NULL;
    for (size_t t = 0; t < N_BOUNDS; t++) {
        uint32_t type = bounds[t].type;
        double worst = 0.0;
        /* three scales: the errors are relative, so they must not depend
         * on the magnitude (until f16 scales underflow) */
        const float scales[3] = {1.0f, 0.01f, 300.0f};
        for (int k = 0; k < 3; k++) {
            gaussian_like(x, N, 77 + t * 3 + (uint64_t)k, scales[k]);
            size_t bytes = quantize_row(type, x, q, N);
            CU_ASSERT_EQUAL(bytes, ggml_row_size(type, N));
            dequant_row(type, q, y, N);
            CU_ASSERT_TRUE(all_finite(y, N));
            double e = rel_rms(x, y, N);
            if (e > worst)
                worst = e;
        }
        if (verbose)
            printf("\n  %-5s rel RMS error %.5f (bound %.4f)", ggml_type_name(type), worst,
                   bounds[t].max_rel_rms);
        if (!(worst <= bounds[t].max_rel_rms))
            printf("\n  %s: rel RMS error %.5f above %.4f\n", ggml_type_name(type), worst,
                   bounds[t].max_rel_rms);
        CU_ASSERT_TRUE(worst <= bounds[t].max_rel_rms);
    }
}

/* Values that lie on a block's grid come back exactly. */
static void test_exact_on_grid(void)
{
    float x[256], y[256];
    uint8_t q[512];
    /* Q8_0: amax 63.5 -> d = 0.5 (exact in f16), x = 0.5 * k */
    for (int j = 0; j < 32; j++)
        x[j] = 0.5f * (float)((j * 37) % 255 - 127) * (j == 5 ? 0.0f : 1.0f);
    x[0] = -63.5f;
    quantize_row(GGML_TYPE_Q8_0, x, q, 32);
    dequant_row(GGML_TYPE_Q8_0, q, y, 32);
    CU_ASSERT_EQUAL(memcmp(x, y, 32 * sizeof(float)), 0);

    /* Q4_0: x = -0.25 * (q - 8), q 0..15: the signed max is 2 (q = 0),
     * so d = 2 / -8 = -0.25 */
    for (int j = 0; j < 32; j++)
        x[j] = -0.25f * (float)((j * 5) % 16 - 8);
    quantize_row(GGML_TYPE_Q4_0, x, q, 32);
    dequant_row(GGML_TYPE_Q4_0, q, y, 32);
    CU_ASSERT_EQUAL(memcmp(x, y, 32 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(((block_q4_0 *)q)->d, 0xB400); /* -0.25 */

    /* Q4_1: min -1, max 6.5 -> d = 0.5, m = -1 */
    for (int j = 0; j < 32; j++)
        x[j] = -1.0f + 0.5f * (float)((j * 7) % 16);
    quantize_row(GGML_TYPE_Q4_1, x, q, 32);
    dequant_row(GGML_TYPE_Q4_1, q, y, 32);
    CU_ASSERT_EQUAL(memcmp(x, y, 32 * sizeof(float)), 0);

    /* Q6_K: every sub-block's absmax -32 * 2^-3 * sc with one common d */
    for (int e = 0; e < 256; e++)
        x[e] = 0.125f * (float)((e * 11) % 63 - 31);
    for (int s = 0; s < 16; s++)
        x[16 * s + 7] = -4.0f; /* q = -32 at sub-scale 0.125 */
    quantize_row(GGML_TYPE_Q6_K, x, q, 256);
    dequant_row(GGML_TYPE_Q6_K, q, y, 256);
    CU_ASSERT_EQUAL(memcmp(x, y, 256 * sizeof(float)), 0);

    /* F16/BF16 keep values they can represent */
    for (int j = 0; j < 64; j++)
        x[j] = (float)(j - 32) * 0.0625f;
    quantize_row(GGML_TYPE_F16, x, q, 64);
    dequant_row(GGML_TYPE_F16, q, y, 64);
    CU_ASSERT_EQUAL(memcmp(x, y, 64 * sizeof(float)), 0);
    quantize_row(GGML_TYPE_BF16, x, q, 64);
    dequant_row(GGML_TYPE_BF16, q, y, 64);
    CU_ASSERT_EQUAL(memcmp(x, y, 64 * sizeof(float)), 0);
}

/* zeros stay zeros (no 0/0), huge values give finite (saturated) scales */
static void test_zero_and_huge(void)
{
    static float x[256], y[256];
    static uint8_t q[1024];
    for (size_t t = 0; t < N_BOUNDS; t++) {
        uint32_t type = bounds[t].type;
        memset(x, 0, sizeof x);
        quantize_row(type, x, q, 256);
        dequant_row(type, q, y, 256);
        int zero = 1;
        for (int i = 0; i < 256; i++)
            zero &= y[i] == 0.0f;
        CU_ASSERT_TRUE(zero);
        if (type == GGML_TYPE_F16 || type == GGML_TYPE_F32 || type == GGML_TYPE_BF16)
            continue; /* plain types carry the input itself */
        for (int i = 0; i < 256; i++)
            x[i] = (i % 3 - 1) * 1e9f;
        quantize_row(type, x, q, 256);
        dequant_row(type, q, y, 256);
        CU_ASSERT_TRUE(all_finite(y, 256));
    }
}

static void test_deterministic(void)
{
    static float x[N];
    static uint8_t a[N * 4], b[N * 4];
    gaussian_like(x, N, 5, 1.0f);
    for (size_t t = 0; t < N_BOUNDS; t++) {
        size_t n1 = quantize_row(bounds[t].type, x, a, N);
        size_t n2 = quantize_row(bounds[t].type, x, b, N);
        CU_ASSERT_TRUE(n1 == n2 && memcmp(a, b, n1) == 0);
    }
}

static void test_refused(void)
{
    float x[64] = {0};
    uint8_t q[256];
    memset(q, 0xAA, sizeof q);
    CU_ASSERT_EQUAL(quantize_row(GGML_TYPE_Q4_0, x, q, 48), 0); /* not whole blocks */
    CU_ASSERT_EQUAL(quantize_row(GGML_TYPE_IQ2_XXS, x, q, 256), 0);
    CU_ASSERT_EQUAL(quantize_row(GGML_TYPE_Q8_K, x, q, 256), 0);
    CU_ASSERT_EQUAL(quantize_row(4, x, q, 32), 0);
    CU_ASSERT_EQUAL(q[0], 0xAA); /* nothing written */
    CU_ASSERT_TRUE(quantize_supported(GGML_TYPE_Q3_K));
    CU_ASSERT_FALSE(quantize_supported(GGML_TYPE_Q8_1));
}

/* Q8_1: d = amax / 127, qs = round(x / d), s = d * sum(qs) */
static void test_q8_1(void)
{
    float x[64];
    block_q8_1 y[2];
    for (int j = 0; j < 64; j++)
        x[j] = (float)((j * 29) % 61 - 30) * 0.1f;
    x[10] = -12.7f; /* block 0: amax 12.7 -> d = 0.1 */
    quantize_row_q8_1(x, y, 64);
    CU_ASSERT_EQUAL(y[0].qs[10], -127);
    CU_ASSERT_TRUE(fabsf(f16_to_f32(y[0].d) - 0.1f) < 1e-4f);
    for (int i = 0; i < 2; i++) {
        float d = f16_to_f32(y[i].d);
        int sum = 0, bad = 0;
        for (int j = 0; j < 32; j++) {
            sum += y[i].qs[j];
            bad += fabsf((float)y[i].qs[j] * d - x[32 * i + j]) > 0.5f * d + 0.01f; /* + f16 rounding of d */
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_TRUE(fabsf(f16_to_f32(y[i].s) - (float)sum * d) <=
                       1e-3f * fabsf((float)sum * d) + 1e-3f);
    }
    /* block 1 holds 0.1 * (k - 30): amax 3.0 at k = 0 or 60 -> q = +-127 */
    int amax = 0;
    for (int j = 0; j < 32; j++)
        amax = abs(y[1].qs[j]) > amax ? abs(y[1].qs[j]) : amax;
    CU_ASSERT_EQUAL(amax, 127);
}

void suite_quantize(void)
{
    CU_pSuite s = CU_add_suite("quantize", NULL, NULL);
    CU_add_test(s, "round-trip error per type", test_round_trip_error);
    CU_add_test(s, "exact on the grid", test_exact_on_grid);
    CU_add_test(s, "zeros and huge values", test_zero_and_huge);
    CU_add_test(s, "deterministic", test_deterministic);
    CU_add_test(s, "refused types and sizes", test_refused);
    CU_add_test(s, "q8_1 activations", test_q8_1);
}
