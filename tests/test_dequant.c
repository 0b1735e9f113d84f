/* test_dequant.c - dequantization against the formats' definitions.
 *
 * Every block here is built by hand, byte by byte, and the expected floats
 * are computed in this file from the per-element definition of the format
 * (which byte, which bits, which scale an element takes), written out
 * independently of src/dequant.c's loops. Scales are chosen so that every
 * product is exact in float, so values compare with ==. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dequant.h"
#include "half.h"
#include "quant.h"
#include "util.h"

/* binary16 bit patterns, written out (sign | exponent | mantissa) */
#define H_1_0 0x3C00   /* 1.0 */
#define H_0_5 0x3800   /* 0.5 */
#define H_0_25 0x3400  /* 0.25 */
#define H_2_0 0x4000   /* 2.0 */
#define H_M1_5 0xBE00  /* -1.5 */
#define H_M3_0 0xC200  /* -3.0 */
#define H_0_125 0x3000 /* 0.125 */

/* deterministic byte pattern (an LCG, so bytes cover 0..255) */
static void fill_bytes(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static int count_mismatch(const float *got, const float *want, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += !(got[i] == want[i]);
    return bad;
}

/* ---- plain types -------------------------------------------------------- */

static void test_f32(void)
{
    float src[37], out[37];
    for (int i = 0; i < 37; i++)
        src[i] = (float)i * -0.375f + 1e-30f * (float)i;
    dequant_row(GGML_TYPE_F32, src, out, 37);
    CU_ASSERT_EQUAL(memcmp(src, out, sizeof src), 0);
}

/* all 65536 binary16 values against half.h (the foundation's exact
 * converter), bit for bit, NaN payloads included */
static void test_f16_all(void)
{
    static uint16_t h[65536];
    static float out[65536];
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    dequant_row(GGML_TYPE_F16, h, out, 65536);
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++)
        bad += half_f32_to_bits(out[i]) != half_f32_to_bits(f16_to_f32((uint16_t)i));
    CU_ASSERT_EQUAL(bad, 0);
}

/* edge values from the binary16 definition */
static void test_f16_edges(void)
{
    const uint16_t h[12] = {0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00,
                            0x8000, 0x0000, 0x3555, 0xc000, 0x8001, 0x7e00};
    float out[12];
    dequant_row(GGML_TYPE_F16, h, out, 12);
    CU_ASSERT_EQUAL(out[0], ldexpf(1.0f, -24));          /* smallest subnormal */
    CU_ASSERT_EQUAL(out[1], 1023.0f * ldexpf(1.0f, -24)); /* largest subnormal */
    CU_ASSERT_EQUAL(out[2], ldexpf(1.0f, -14));          /* smallest normal */
    CU_ASSERT_EQUAL(out[3], 65504.0f);                   /* largest finite */
    CU_ASSERT_TRUE(isinf(out[4]) && out[4] > 0);
    CU_ASSERT_TRUE(isinf(out[5]) && out[5] < 0);
    CU_ASSERT_TRUE(out[6] == 0.0f && signbit(out[6]));   /* -0 keeps its sign */
    CU_ASSERT_TRUE(out[7] == 0.0f && !signbit(out[7]));
    CU_ASSERT_EQUAL(out[8], 1365.0f / 4096.0f);          /* 0x3555 = 0.333251953125 */
    CU_ASSERT_EQUAL(out[9], -2.0f);
    CU_ASSERT_EQUAL(out[10], -ldexpf(1.0f, -24));
    CU_ASSERT_TRUE(isnan(out[11]));
}

static void test_bf16(void)
{
    /* bfloat16 is the top half of a binary32: check the definition on
     * every value, then a few by their meaning */
    static uint16_t h[65536];
    static float out[65536];
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    dequant_row(GGML_TYPE_BF16, h, out, 65536);
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++)
        bad += half_f32_to_bits(out[i]) != i << 16;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(out[0x3f80], 1.0f);
    CU_ASSERT_EQUAL(out[0x4049], 3.140625f);
    CU_ASSERT_EQUAL(out[0x0001], ldexpf(1.0f, -133)); /* subnormal */
    CU_ASSERT_TRUE(isinf(out[0x7f80]) && out[0x7f80] > 0);
    CU_ASSERT_TRUE(isinf(out[0xff80]) && out[0xff80] < 0);
    CU_ASSERT_TRUE(out[0x8000] == 0.0f && signbit(out[0x8000]));
    CU_ASSERT_TRUE(isnan(out[0x7fc0]));
}

/* ---- blocks of 32 -------------------------------------------------------- */

/* Q4_0: x = d * (q - 8); element j < 16 is the low nibble of qs[j],
 * element j + 16 its high nibble. Two blocks, to check the stepping. */
static void test_q4_0(void)
{
    block_q4_0 b[2];
    b[0].d = H_M1_5;
    b[1].d = H_0_25;
    for (int j = 0; j < 16; j++) {
        b[0].qs[j] = (uint8_t)(j | (15 - j) << 4); /* q = 0..15 and 15..0 */
        b[1].qs[j] = (uint8_t)((j * 7) % 16 | ((j * 3) % 16) << 4);
    }
    float out[64], want[64];
    dequant_row(GGML_TYPE_Q4_0, b, out, 64);
    for (int j = 0; j < 16; j++) {
        want[j] = -1.5f * (float)(j - 8);
        want[j + 16] = -1.5f * (float)((15 - j) - 8);
        want[32 + j] = 0.25f * (float)((j * 7) % 16 - 8);
        want[48 + j] = 0.25f * (float)((j * 3) % 16 - 8);
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 64), 0);
    CU_ASSERT_EQUAL(out[0], 12.0f);   /* q = 0 with d = -1.5 */
    CU_ASSERT_EQUAL(out[15], -10.5f); /* q = 15 */
}

/* Q4_1: x = d * q + m */
static void test_q4_1(void)
{
    block_q4_1 b;
    b.d = H_0_5;
    b.m = H_M3_0;
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)((15 - j) | j << 4);
    float out[32], want[32];
    dequant_row(GGML_TYPE_Q4_1, &b, out, 32);
    for (int j = 0; j < 16; j++) {
        want[j] = 0.5f * (float)(15 - j) - 3.0f;
        want[j + 16] = 0.5f * (float)j - 3.0f;
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 32), 0);
    CU_ASSERT_EQUAL(out[0], 4.5f);   /* q = 15 */
    CU_ASSERT_EQUAL(out[16], -3.0f); /* q = 0: the min itself */
}

/* 5-bit quant of element j (0..31): nibble from qs as in Q4_0, bit 4 from
 * bit j of qh read as a little-endian 32-bit word */
static int q5_quant(const uint8_t qs[16], const uint8_t qh[4], int j)
{
    uint32_t word = (uint32_t)qh[0] + 256u * qh[1] + 65536u * qh[2] + 16777216u * qh[3];
    int nib = j < 16 ? qs[j] % 16 : qs[j - 16] / 16;
    return nib + 16 * (int)((word / (1u << j)) % 2);
}

static void test_q5_0(void)
{
    block_q5_0 b;
    b.d = H_M1_5;
    fill_bytes(b.qs, 16, 5);
    b.qs[0] = 0x00;                 /* element 0 -> nibble 0, element 16 -> 0 */
    b.qs[15] = 0xff;                /* elements 15, 31 -> nibble 15 */
    b.qs[8] = 0x05;                 /* element 8 -> nibble 5, element 24 -> 0 */
    const uint8_t qh[4] = {0xa4, 0x3c, 0x00, 0x81}; /* bit 0 clear, bit 31 set */
    memcpy(b.qh, qh, 4);
    float out[32], want[32];
    dequant_row(GGML_TYPE_Q5_0, &b, out, 32);
    for (int j = 0; j < 32; j++)
        want[j] = -1.5f * (float)(q5_quant(b.qs, b.qh, j) - 16);
    CU_ASSERT_EQUAL(count_mismatch(out, want, 32), 0);
    CU_ASSERT_EQUAL(out[0], 24.0f);   /* q = 0 */
    CU_ASSERT_EQUAL(out[31], -22.5f); /* q = 31 */
    CU_ASSERT_EQUAL(out[16], 24.0f);  /* bit 16 = bit 0 of qh[2]: clear */
    CU_ASSERT_EQUAL(out[8], 16.5f);   /* bit 8 = bit 0 of qh[1]: clear, q = 5 */
    CU_ASSERT_EQUAL(out[24], 0.0f);   /* bit 24 = bit 0 of qh[3]: set, q = 16 */
}

static void test_q5_1(void)
{
    block_q5_1 b;
    b.d = H_0_25;
    b.m = H_M3_0;
    fill_bytes(b.qs, 16, 51);
    const uint8_t qh[4] = {0x5a, 0xff, 0x01, 0x80};
    memcpy(b.qh, qh, 4);
    b.qs[15] = 0xf0; /* element 31: nibble 15, bit 31 set -> q = 31 */
    float out[32], want[32];
    dequant_row(GGML_TYPE_Q5_1, &b, out, 32);
    for (int j = 0; j < 32; j++)
        want[j] = 0.25f * (float)q5_quant(b.qs, b.qh, j) - 3.0f;
    CU_ASSERT_EQUAL(count_mismatch(out, want, 32), 0);
    CU_ASSERT_EQUAL(out[31], 0.25f * 31 - 3.0f);
}

static void test_q8_0(void)
{
    block_q8_0 b;
    b.d = H_M1_5;
    for (int j = 0; j < 32; j++)
        b.qs[j] = (int8_t)(j * 37 - 600 / 5);
    b.qs[0] = -128;
    b.qs[1] = 127;
    b.qs[2] = 0;
    float out[32], want[32];
    dequant_row(GGML_TYPE_Q8_0, &b, out, 32);
    for (int j = 0; j < 32; j++)
        want[j] = -1.5f * (float)b.qs[j];
    CU_ASSERT_EQUAL(count_mismatch(out, want, 32), 0);
    CU_ASSERT_EQUAL(out[0], 192.0f);
    CU_ASSERT_EQUAL(out[1], -190.5f);
}

/* ---- k-quants ------------------------------------------------------------ *
 * Q2_K/Q3_K: element e of the 256 sits in half h = e / 128 at r = e % 128;
 * its 2 low bits are bits 2 (r / 32) .. +1 of qs[32 h + r % 32]; its
 * scale is that of sub-block e / 16. */

static int q2_bits(const uint8_t *qs, int e)
{
    int h = e / 128, r = e % 128;
    return (qs[32 * h + r % 32] >> (2 * (r / 32))) & 3;
}

/* Q2_K: x = d * sc * q - dmin * m, scales[s] low nibble sc, high nibble m */
static void test_q2_K(void)
{
    block_q2_K b;
    b.d = H_0_5;
    b.dmin = H_2_0;
    for (int s = 0; s < 16; s++)
        b.scales[s] = (uint8_t)(s | (15 - s) << 4); /* sub-block 0: min 15 */
    fill_bytes(b.qs, sizeof b.qs, 2);
    b.qs[0] = 0xff; /* elements 0, 32, 64, 96: q = 3 */
    b.qs[1] = 0x00; /* elements 1, 33, 65, 97: q = 0 */
    float out[256], want[256];
    dequant_row(GGML_TYPE_Q2_K, &b, out, 256);
    for (int e = 0; e < 256; e++) {
        int s = e / 16;
        want[e] = 0.5f * (float)s * (float)q2_bits(b.qs, e) - 2.0f * (float)(15 - s);
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 256), 0);
    CU_ASSERT_EQUAL(out[0], -30.0f);                     /* sc 0, min nibble 15 */
    CU_ASSERT_EQUAL(out[255], 0.5f * 15 * q2_bits(b.qs, 255)); /* min nibble 0 */
    CU_ASSERT_EQUAL(out[64 + 1], 0.5f * 4 * 0 - 2.0f * 11);
}

/* Q3_K 6-bit scale i as stored (0..63): bits 0-3 in byte i % 8 (low nibble
 * for i < 8, high for i >= 8), bits 4-5 in byte 8 + i % 4 at bit 2 (i / 4) */
static void q3_pack_scales(const int u[16], uint8_t p[12])
{
    memset(p, 0, 12);
    for (int i = 0; i < 16; i++) {
        p[i % 8] |= (uint8_t)((u[i] % 16) << (i < 8 ? 0 : 4));
        p[8 + i % 4] |= (uint8_t)((u[i] / 16) << (2 * (i / 4)));
    }
}

/* Q3_K: x = d * (u - 32) * (q2 - (hbit ? 0 : 4)); hbit of element e is bit
 * 4 h + r / 32 of hmask[r % 32] */
static float q3_expect(const block_q3_K *b, const int u[16], float d, int e)
{
    int h = e / 128, r = e % 128;
    int hbit = (b->hmask[r % 32] >> (4 * h + r / 32)) & 1;
    return d * (float)(u[e / 16] - 32) * (float)(q2_bits(b->qs, e) - (hbit ? 0 : 4));
}

static void test_q3_K(void)
{
    block_q3_K b;
    const int u[16] = {0, 63, 32, 31, 33, 1, 62, 16, 48, 5, 58, 21, 42, 10, 53, 37};
    b.d = H_M1_5;
    q3_pack_scales(u, b.scales);
    fill_bytes(b.qs, sizeof b.qs, 3);
    fill_bytes(b.hmask, sizeof b.hmask, 33);
    b.qs[0] = 0x00;
    b.hmask[0] = 0x00; /* elements 0, 32, 64, 96, 128..: q = 0 - 4 = -4 */
    b.qs[17] = 0xff;
    b.hmask[17] = 0xff; /* elements 17, 49, 81, 113: q = 3 */
    float out[256], want[256];
    dequant_row(GGML_TYPE_Q3_K, &b, out, 256);
    for (int e = 0; e < 256; e++)
        want[e] = q3_expect(&b, u, -1.5f, e);
    CU_ASSERT_EQUAL(count_mismatch(out, want, 256), 0);
    CU_ASSERT_EQUAL(out[0], -1.5f * -32 * -4);  /* scale -32, q -4: -192 */
    CU_ASSERT_EQUAL(out[17], -1.5f * 31 * 3);   /* scale +31, q 3 */
}

/* Q3_K scales from literal bytes, decoded by hand:
 * byte 0 = 0xF1: scale 0 bits 0-3 = 1, scale 8 bits 0-3 = 15;
 * byte 8 = 0xC3: scale 0 bits 4-5 = 3 (bits 0-1), scale 12 bits 4-5 = 3
 * (bits 6-7); so u0 = 49 (+17), u8 = 15 (-17), u12 = 48 (+16), all others
 * 0 (-32). qs all 0x55 (every 2-bit field 1), hmask all set: q = 1. */
static void test_q3_K_literal(void)
{
    block_q3_K b;
    memset(&b, 0, sizeof b);
    b.scales[0] = 0xF1;
    b.scales[8] = 0xC3;
    memset(b.qs, 0x55, sizeof b.qs);
    memset(b.hmask, 0xff, sizeof b.hmask);
    b.d = H_0_5;
    float out[256];
    dequant_row(GGML_TYPE_Q3_K, &b, out, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int s = e / 16;
        float want = s == 0 ? 8.5f : s == 8 ? -8.5f : s == 12 ? 8.0f : -16.0f;
        bad += out[e] != want;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* clear the high bits of half 1, j = 2 (elements 192..223): q = 1 - 4 */
    memset(b.hmask, 0xff & ~(1 << 6), sizeof b.hmask);
    dequant_row(GGML_TYPE_Q3_K, &b, out, 256);
    CU_ASSERT_EQUAL(out[192], 0.5f * 16 * -3);  /* sub-block 12 */
    CU_ASSERT_EQUAL(out[223], 0.5f * -32 * -3); /* sub-block 13 */
    CU_ASSERT_EQUAL(out[191], -16.0f);          /* j = 1: unchanged */
}

/* Q4_K/Q5_K scale and min of sub-block j (0..7), 6 bits each, packed:
 * j < 4: scale in bits 0-5 of byte j, min in bits 0-5 of byte j + 4;
 * j >= 4: low 4 bits of scale / min in the low / high nibble of byte
 * j + 4, their bits 4-5 in the top two bits of byte j - 4 / byte j. */
static void k4_pack_scales(const int sc[8], const int m[8], uint8_t p[12])
{
    memset(p, 0, 12);
    for (int j = 0; j < 4; j++) {
        p[j] |= (uint8_t)sc[j];
        p[j + 4] |= (uint8_t)m[j];
    }
    for (int j = 4; j < 8; j++) {
        p[j + 4] |= (uint8_t)(sc[j] % 16 + 16 * (m[j] % 16));
        p[j - 4] |= (uint8_t)((sc[j] / 16) << 6);
        p[j] |= (uint8_t)((m[j] / 16) << 6);
    }
}

/* Q4_K: element 64 g + 32 k + l (k 0/1) is nibble k of qs[32 g + l] and
 * belongs to sub-block 2 g + k; x = d * sc * q - dmin * m */
static int q4k_nibble(const uint8_t *qs, int e)
{
    int g = e / 64, k = (e % 64) / 32, l = e % 32;
    return k ? qs[32 * g + l] / 16 : qs[32 * g + l] % 16;
}

static void test_q4_K(void)
{
    block_q4_K b;
    const int sc[8] = {0, 63, 17, 40, 33, 5, 62, 48};
    const int m[8] = {63, 0, 9, 32, 47, 16, 1, 60};
    b.d = H_0_5;
    b.dmin = H_0_25;
    k4_pack_scales(sc, m, b.scales);
    fill_bytes(b.qs, sizeof b.qs, 4);
    b.qs[0] = 0xf0; /* element 0: q 0, element 32: q 15 */
    float out[256], want[256];
    dequant_row(GGML_TYPE_Q4_K, &b, out, 256);
    for (int e = 0; e < 256; e++) {
        int s = e / 32;
        want[e] = 0.5f * (float)sc[s] * (float)q4k_nibble(b.qs, e) - 0.25f * (float)m[s];
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 256), 0);
    CU_ASSERT_EQUAL(out[0], -15.75f);          /* scale 0, min 63 */
    CU_ASSERT_EQUAL(out[32], 0.5f * 63 * 15);  /* scale 63, min 0, q 15 */
}

/* literal bytes: byte 0 = 0xC5 (scale 0 = 5; top bits 3 = bits 4-5 of
 * scale 4), byte 4 = 0x47 (min 0 = 7; top bits 1 = bits 4-5 of min 4),
 * byte 8 = 0x2A (scale 4 low = 10, min 4 low = 2): scale 4 = 58, min 4 =
 * 18; every other scale and min is 0. */
static void test_q4_K_literal(void)
{
    block_q4_K b;
    memset(&b, 0, sizeof b);
    b.scales[0] = 0xC5;
    b.scales[4] = 0x47;
    b.scales[8] = 0x2A;
    b.d = H_1_0;
    b.dmin = H_0_5;
    memset(b.qs, 0x93, sizeof b.qs); /* low nibble 3, high nibble 9 */
    float out[256];
    dequant_row(GGML_TYPE_Q4_K, &b, out, 256);
    CU_ASSERT_EQUAL(out[0], 5.0f * 3 - 3.5f);     /* sub-block 0 */
    CU_ASSERT_EQUAL(out[31], 5.0f * 3 - 3.5f);
    CU_ASSERT_EQUAL(out[32], 0.0f);               /* sub-block 1: all zero */
    CU_ASSERT_EQUAL(out[128], 58.0f * 3 - 9.0f);  /* sub-block 4, low nibble */
    CU_ASSERT_EQUAL(out[159], 58.0f * 3 - 9.0f);
    CU_ASSERT_EQUAL(out[160], 0.0f);              /* sub-block 5 */
}

/* Q5_K: as Q4_K, plus 16 when bit 2 g + k of qh[l] is set */
static void test_q5_K(void)
{
    block_q5_K b;
    const int sc[8] = {63, 0, 31, 32, 1, 62, 20, 44};
    const int m[8] = {0, 63, 7, 56, 15, 16, 2, 49};
    b.d = H_0_125;
    b.dmin = H_M1_5; /* a negative dmin adds */
    k4_pack_scales(sc, m, b.scales);
    fill_bytes(b.qs, sizeof b.qs, 5);
    fill_bytes(b.qh, sizeof b.qh, 55);
    b.qs[0] = 0x0f;
    b.qh[0] = 0x01; /* element 0: q 31; element 32: q 0 */
    float out[256], want[256];
    dequant_row(GGML_TYPE_Q5_K, &b, out, 256);
    for (int e = 0; e < 256; e++) {
        int g = e / 64, k = (e % 64) / 32, l = e % 32, s = e / 32;
        int q = q4k_nibble(b.qs, e) + 16 * ((b.qh[l] >> (2 * g + k)) & 1);
        want[e] = 0.125f * (float)sc[s] * (float)q - -1.5f * (float)m[s];
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 256), 0);
    CU_ASSERT_EQUAL(out[0], 0.125f * 63 * 31);  /* q = 31, min 0 */
    CU_ASSERT_EQUAL(out[32], 1.5f * 63);        /* scale 0, q 0, min 63 */
}

/* Q6_K: element 128 h + 32 k + l (k 0..3, l 0..31): low 4 bits are nibble
 * k / 2 of ql[64 h + 32 (k % 2) + l], high 2 bits are bits 2k of
 * qh[32 h + l]; x = d * scales[e / 16] * (q - 32), int8 scales */
static void test_q6_K(void)
{
    block_q6_K b;
    b.d = H_M1_5;
    fill_bytes(b.ql, sizeof b.ql, 6);
    fill_bytes(b.qh, sizeof b.qh, 66);
    for (int s = 0; s < 16; s++)
        b.scales[s] = (int8_t)(s * 29 - 100);
    b.scales[0] = -128;
    b.scales[1] = 127;
    b.ql[0] = 0x00;
    b.qh[0] = 0x00; /* element 0: q = 0 -> -32 */
    b.ql[16] = 0xff;
    b.qh[16] = 0xff; /* element 16 (sub-block 1): q = 63 -> 31 */
    float out[256], want[256];
    dequant_row(GGML_TYPE_Q6_K, &b, out, 256);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        int lo = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) % 16;
        int hi = (b.qh[32 * h + l] >> (2 * k)) % 4;
        want[e] = -1.5f * (float)b.scales[e / 16] * (float)(lo + 16 * hi - 32);
    }
    CU_ASSERT_EQUAL(count_mismatch(out, want, 256), 0);
    CU_ASSERT_EQUAL(out[0], -1.5f * -128 * -32); /* -6144 */
    CU_ASSERT_EQUAL(out[16], -1.5f * 127 * 31);
}

/* ---- dot products ------------------------------------------------------ */

static const uint32_t all_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* a random f16 scale of magnitude 2^-8 .. 2^-2, either sign */
static ggml_half rand_scale(uint64_t *s)
{
    float v = ldexpf(test_rand_f32(s, 1.0f, 2.0f), -2 - (int)(test_rand_u64(s) % 7));
    return f32_to_f16(test_rand_u64(s) & 1 ? -v : v);
}

/* n elements of random blocks: random bytes, then finite scales */
static void random_row(uint32_t type, void *row, uint64_t n, uint64_t *s)
{
    size_t bytes = ggml_row_size(type, n);
    uint8_t *p = row;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)test_rand_u64(s);
    const struct ggml_type_info *t = ggml_type_get(type);
    uint64_t nb = n / t->blck_size;
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t *blk = p + i * t->type_size;
        switch (type) {
        case GGML_TYPE_F32: {
            float v = test_rand_f32(s, -2.0f, 2.0f);
            memcpy(blk, &v, 4);
            break;
        }
        case GGML_TYPE_F16: {
            ggml_half h = f32_to_f16(test_rand_f32(s, -2.0f, 2.0f));
            memcpy(blk, &h, 2);
            break;
        }
        case GGML_TYPE_BF16: {
            uint16_t h = f32_to_bf16(test_rand_f32(s, -2.0f, 2.0f));
            memcpy(blk, &h, 2);
            break;
        }
        case GGML_TYPE_Q4_0: ((block_q4_0 *)blk)->d = rand_scale(s); break;
        case GGML_TYPE_Q5_0: ((block_q5_0 *)blk)->d = rand_scale(s); break;
        case GGML_TYPE_Q8_0: ((block_q8_0 *)blk)->d = rand_scale(s); break;
        case GGML_TYPE_Q3_K: ((block_q3_K *)blk)->d = rand_scale(s); break;
        case GGML_TYPE_Q6_K: ((block_q6_K *)blk)->d = rand_scale(s); break;
        case GGML_TYPE_Q4_1:
            ((block_q4_1 *)blk)->d = rand_scale(s);
            ((block_q4_1 *)blk)->m = rand_scale(s);
            break;
        case GGML_TYPE_Q5_1:
            ((block_q5_1 *)blk)->d = rand_scale(s);
            ((block_q5_1 *)blk)->m = rand_scale(s);
            break;
        case GGML_TYPE_Q2_K:
            ((block_q2_K *)blk)->d = rand_scale(s);
            ((block_q2_K *)blk)->dmin = rand_scale(s);
            break;
        case GGML_TYPE_Q4_K:
            ((block_q4_K *)blk)->d = rand_scale(s);
            ((block_q4_K *)blk)->dmin = rand_scale(s);
            break;
        case GGML_TYPE_Q5_K:
            ((block_q5_K *)blk)->d = rand_scale(s);
            ((block_q5_K *)blk)->dmin = rand_scale(s);
            break;
        }
    }
}

/* The accumulation order promised in dequant.h, written out from the
 * header's description: chunks of 256, 16 lanes (lane i % 16), tree
 * reduction 8/4/2/1, chunk sums added left to right. */
static float lane_order_dot(const float *w, const float *x, uint64_t n)
{
    float total = 0.0f;
    for (uint64_t c = 0; c < n; c += 256) {
        float lane[16] = {0};
        for (uint64_t i = c; i < n && i < c + 256; i++) {
            volatile float prod = w[i] * x[i]; /* rounded, never fused */
            lane[i % 16] += prod;
        }
        for (int h = 8; h >= 1; h /= 2)
            for (int k = 0; k < h; k++)
                lane[k] += lane[k + h];
        total += lane[0];
    }
    return total;
}

/* dequant_dot against the dequantized row: within 1e-5 of sum |w x| of
 * the exact (double) dot, and bit-equal to the documented lane order;
 * dequant_dot_f64 bit-equal to a left-to-right double sum. */
static void check_dots(uint32_t type, uint64_t n, uint64_t seed)
{
    uint64_t s = seed;
    void *row = malloc(ggml_row_size(type, n) + 1);
    float *w = malloc(n * sizeof *w), *x = malloc(n * sizeof *x);
    double *xd = malloc(n * sizeof *xd);
    random_row(type, row, n, &s);
    for (uint64_t i = 0; i < n; i++) {
        x[i] = test_rand_f32(&s, -1.0f, 1.0f);
        xd[i] = x[i];
    }
    dequant_row(type, row, w, n);
    double exact = 0.0, mag = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        exact += (double)w[i] * x[i];
        mag += fabs((double)w[i] * x[i]);
    }
    float dot = dequant_dot(type, row, x, n);
    double d64 = dequant_dot_f64(type, row, xd, n);
    int ok = fabs((double)dot - exact) <= 1e-5 * mag && mag > 0;
    int order = dot == lane_order_dot(w, x, n);
    int ok64 = d64 == exact;
    if (!ok || !order || !ok64)
        fprintf(stderr, "\n  %s n=%lu: dot %.9g exact %.9g lane-order %.9g f64 %.17g\n",
                ggml_type_name(type), (unsigned long)n, dot, exact, lane_order_dot(w, x, n), d64);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_TRUE(order);
    CU_ASSERT_TRUE(ok64);
    free(row);
    free(w);
    free(x);
    free(xd);
}

static void test_dot_all_types(void)
{
    for (size_t t = 0; t < N_TYPES; t++)
        check_dots(all_types[t], 4096, 1000 + t);
}

/* rows that end in a partial chunk: 96 = 3 blocks of 32, 100 plain
 * elements, 768 = 3 super-blocks */
static void test_dot_short_rows(void)
{
    check_dots(GGML_TYPE_Q8_0, 96, 7);
    check_dots(GGML_TYPE_Q4_1, 32, 8);
    check_dots(GGML_TYPE_Q5_0, 288, 9);
    check_dots(GGML_TYPE_F32, 100, 10);
    check_dots(GGML_TYPE_F16, 263, 11);
    check_dots(GGML_TYPE_BF16, 7, 12);
    check_dots(GGML_TYPE_Q6_K, 768, 13);
    check_dots(GGML_TYPE_Q2_K, 256, 14);
}

/* dequant_dot on a hand-built block: Q8_0, d = 0.5, q = j - 16, x = 1:
 * sum = 0.5 * sum(j - 16, j < 32) = 0.5 * -16 = -8 (exact) */
static void test_dot_exact(void)
{
    block_q8_0 b;
    b.d = H_0_5;
    for (int j = 0; j < 32; j++)
        b.qs[j] = (int8_t)(j - 16);
    float x[32];
    double xd[32];
    for (int j = 0; j < 32; j++) {
        x[j] = 1.0f;
        xd[j] = 1.0;
    }
    CU_ASSERT_EQUAL(dequant_dot(GGML_TYPE_Q8_0, &b, x, 32), -8.0f);
    CU_ASSERT_EQUAL(dequant_dot_f64(GGML_TYPE_Q8_0, &b, xd, 32), -8.0);
}

/* The types dequant handles are exactly those quant.c marks supported;
 * others give NaN, never garbage that looks like numbers. */
static void test_supported_set(void)
{
    for (uint32_t t = 0; t < GGML_TYPE_COUNT + 2; t++) {
        const struct ggml_type_info *info = ggml_type_get(t);
        CU_ASSERT_EQUAL(dequant_supported(t), info && info->supported);
    }
    uint8_t blk[256] = {0};
    float out[256], x[256] = {0};
    dequant_row(GGML_TYPE_IQ2_XXS, blk, out, 256);
    CU_ASSERT_TRUE(isnan(out[0]) && isnan(out[255]));
    CU_ASSERT_TRUE(isnan(dequant_dot(GGML_TYPE_Q8_K, blk, x, 256)));
}

void suite_dequant(void)
{
    CU_pSuite s = CU_add_suite("dequant", NULL, NULL);
    CU_add_test(s, "f32", test_f32);
    CU_add_test(s, "f16 all 65536 values", test_f16_all);
    CU_add_test(s, "f16 edge values", test_f16_edges);
    CU_add_test(s, "bf16", test_bf16);
    CU_add_test(s, "q4_0", test_q4_0);
    CU_add_test(s, "q4_1", test_q4_1);
    CU_add_test(s, "q5_0", test_q5_0);
    CU_add_test(s, "q5_1", test_q5_1);
    CU_add_test(s, "q8_0", test_q8_0);
    CU_add_test(s, "q2_K", test_q2_K);
    CU_add_test(s, "q3_K", test_q3_K);
    CU_add_test(s, "q3_K literal scale bytes", test_q3_K_literal);
    CU_add_test(s, "q4_K", test_q4_K);
    CU_add_test(s, "q4_K literal scale bytes", test_q4_K_literal);
    CU_add_test(s, "q5_K", test_q5_K);
    CU_add_test(s, "q6_K", test_q6_K);
    CU_add_test(s, "dot = row . x, every type, 4096", test_dot_all_types);
    CU_add_test(s, "dot on partial chunks", test_dot_short_rows);
    CU_add_test(s, "dot exact on a hand-built block", test_dot_exact);
    CU_add_test(s, "supported types, NaN otherwise", test_supported_set);
}
