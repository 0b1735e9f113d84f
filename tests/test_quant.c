/* test_quant.c - the type table against the format's definition. */
#include <CUnit/CUnit.h>

#include "quant.h"

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

void suite_quant(void)
{
    CU_pSuite s = CU_add_suite("quant", NULL, NULL);
    CU_add_test(s, "type sizes", test_type_sizes);
    CU_add_test(s, "type names", test_type_names);
}
