/* test_quant.c - the type table against the format's definition. */
#include <CUnit/CUnit.h>

#include <string.h>

#include "dequant.h"
#include "half.h"
#include "quant.h"
#include "util.h"

static void test_type_sizes(void)
{
    /* bytes per block from the block definitions: d (2) + 16 nibble bytes */
    CU_ASSERT_EQUAL(ggml_row_size(GGML_TYPE_Q4_0, 32), 18);
    CU_ASSERT_EQUAL(ggml_row_size(GGML_TYPE_Q4_K, 4096), 16 * 144);
    CU_ASSERT_EQUAL(ggml_row_size(GGML_TYPE_Q6_K, 256), 210);
    CU_ASSERT_EQUAL(ggml_row_size(GGML_TYPE_F16, 7), 14);
    CU_ASSERT_EQUAL(ggml_row_size(GGML_TYPE_Q4_0, 33), 0); /* not whole blocks */
    CU_ASSERT_EQUAL(ggml_row_size(4, 32), 0);             /* removed id */
    CU_ASSERT_PTR_NULL(ggml_type_get(GGML_TYPE_COUNT));
}

static void test_type_names(void)
{
    CU_ASSERT_STRING_EQUAL(ggml_type_name(GGML_TYPE_Q5_K), "Q5_K");
    CU_ASSERT_STRING_EQUAL(ggml_type_name(31), "unknown");
    CU_ASSERT_EQUAL(ggml_type_from_name("q8_0"), GGML_TYPE_Q8_0);
    CU_ASSERT_EQUAL(ggml_type_from_name("BF16"), GGML_TYPE_BF16);
    CU_ASSERT_EQUAL(ggml_type_from_name("Q9_9"), -1);
    CU_ASSERT_FALSE(ggml_type_get(GGML_TYPE_IQ2_XXS)->supported);
    CU_ASSERT_TRUE(ggml_type_get(GGML_TYPE_Q3_K)->supported);
}

/* ggml_f16_fields names the scales: with them zero, a block of otherwise
 * random bytes decodes to zeros (a wrong offset would leave a scale set);
 * with them one, it does not. */
static void test_f16_fields(void)
{
    const uint32_t types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                              GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                              GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    uint64_t rng = 11;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const struct ggml_type_info *ti = ggml_type_get(types[t]);
        uint8_t blk[256];
        float out[256];
        int off[2], nf = ggml_f16_fields(types[t], off);
        CU_ASSERT_TRUE_FATAL(nf >= 1 && nf <= 2);
        for (uint32_t i = 0; i < ti->type_size; i++)
            blk[i] = (uint8_t)test_rand_u64(&rng);
        for (int f = 0; f < nf; f++)
            memset(blk + off[f], 0, 2);
        dequant_row(types[t], blk, out, ti->blck_size);
        int zeros = 1;
        for (uint32_t i = 0; i < ti->blck_size; i++)
            zeros &= out[i] == 0.0f;
        CU_ASSERT_TRUE(zeros);
        for (int f = 0; f < nf; f++) {
            uint16_t one = f32_to_f16(1.0f);
            memcpy(blk + off[f], &one, 2);
        }
        dequant_row(types[t], blk, out, ti->blck_size);
        int nonzero = 0;
        for (uint32_t i = 0; i < ti->blck_size; i++)
            nonzero |= out[i] != 0.0f;
        CU_ASSERT_TRUE(nonzero);
    }
    int off[2];
    CU_ASSERT_EQUAL(ggml_f16_fields(GGML_TYPE_F32, off), 0);
}

void suite_quant(void)
{
    CU_pSuite s = CU_add_suite("quant", NULL, NULL);
    CU_add_test(s, "type sizes", test_type_sizes);
    CU_add_test(s, "type names", test_type_names);
    CU_add_test(s, "f16 scale fields", test_f16_fields);
}
