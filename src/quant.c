/* quant.c - the table of GGML types: names, block sizes, byte sizes, and
 * where a block keeps its f16 scales. */
#include "quant.h"

#include <stddef.h>
#include <strings.h>

/* Sizes of the types strata cannot compute with are still listed, so a
 * file that holds them can be measured, listed by `strata info`, and then
 * refused by name. */
static const struct ggml_type_info type_table[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4, 1},
    [GGML_TYPE_F16] = {"F16", 1, 2, 1},
    [GGML_TYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), 1},
    [GGML_TYPE_Q4_1] = {"Q4_1", QK4_1, sizeof(block_q4_1), 1},
    [GGML_TYPE_Q5_0] = {"Q5_0", QK5_0, sizeof(block_q5_0), 1},
    [GGML_TYPE_Q5_1] = {"Q5_1", QK5_1, sizeof(block_q5_1), 1},
    [GGML_TYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), 1},
    [GGML_TYPE_Q8_1] = {"Q8_1", QK8_0, sizeof(block_q8_1), 0},
    [GGML_TYPE_Q2_K] = {"Q2_K", QK_K, sizeof(block_q2_K), 1},
    [GGML_TYPE_Q3_K] = {"Q3_K", QK_K, sizeof(block_q3_K), 1},
    [GGML_TYPE_Q4_K] = {"Q4_K", QK_K, sizeof(block_q4_K), 1},
    [GGML_TYPE_Q5_K] = {"Q5_K", QK_K, sizeof(block_q5_K), 1},
    [GGML_TYPE_Q6_K] = {"Q6_K", QK_K, sizeof(block_q6_K), 1},
    [GGML_TYPE_Q8_K] = {"Q8_K", QK_K, sizeof(block_q8_K), 0},
    [GGML_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 66, 0},
    [GGML_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 74, 0},
    [GGML_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 98, 0},
    [GGML_TYPE_IQ1_S] = {"IQ1_S", QK_K, 50, 0},
    [GGML_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, 0},
    [GGML_TYPE_IQ3_S] = {"IQ3_S", QK_K, 110, 0},
    [GGML_TYPE_IQ2_S] = {"IQ2_S", QK_K, 82, 0},
    [GGML_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 136, 0},
    [GGML_TYPE_I8] = {"I8", 1, 1, 0},
    [GGML_TYPE_I16] = {"I16", 1, 2, 0},
    [GGML_TYPE_I32] = {"I32", 1, 4, 0},
    [GGML_TYPE_I64] = {"I64", 1, 8, 0},
    [GGML_TYPE_F64] = {"F64", 1, 8, 0},
    [GGML_TYPE_IQ1_M] = {"IQ1_M", QK_K, 56, 0},
    [GGML_TYPE_BF16] = {"BF16", 1, 2, 1},
    [GGML_TYPE_TQ1_0] = {"TQ1_0", QK_K, 54, 0},
    [GGML_TYPE_TQ2_0] = {"TQ2_0", QK_K, 66, 0},
    [GGML_TYPE_MXFP4] = {"MXFP4", 32, 17, 0},
};

const struct ggml_type_info *ggml_type_get(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || !type_table[type].name)
        return NULL;
    return &type_table[type];
}

const char *ggml_type_name(uint32_t type)
{
    const struct ggml_type_info *t = ggml_type_get(type);
    return t ? t->name : "unknown";
}

size_t ggml_row_size(uint32_t type, uint64_t n)
{
    const struct ggml_type_info *t = ggml_type_get(type);
    if (!t || n % t->blck_size)
        return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}

int ggml_type_from_name(const char *name)
{
    for (int i = 0; i < GGML_TYPE_COUNT; i++)
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0)
            return i;
    return -1;
}

int ggml_f16_fields(uint32_t type, int off[2])
{
    switch (type) {
    case GGML_TYPE_Q4_0: off[0] = offsetof(block_q4_0, d); return 1;
    case GGML_TYPE_Q4_1: off[0] = offsetof(block_q4_1, d); off[1] = offsetof(block_q4_1, m); return 2;
    case GGML_TYPE_Q5_0: off[0] = offsetof(block_q5_0, d); return 1;
    case GGML_TYPE_Q5_1: off[0] = offsetof(block_q5_1, d); off[1] = offsetof(block_q5_1, m); return 2;
    case GGML_TYPE_Q8_0: off[0] = offsetof(block_q8_0, d); return 1;
    case GGML_TYPE_Q2_K: off[0] = offsetof(block_q2_K, d); off[1] = offsetof(block_q2_K, dmin); return 2;
    case GGML_TYPE_Q3_K: off[0] = offsetof(block_q3_K, d); return 1;
    case GGML_TYPE_Q4_K: off[0] = offsetof(block_q4_K, d); off[1] = offsetof(block_q4_K, dmin); return 2;
    case GGML_TYPE_Q5_K: off[0] = offsetof(block_q5_K, d); off[1] = offsetof(block_q5_K, dmin); return 2;
    case GGML_TYPE_Q6_K: off[0] = offsetof(block_q6_K, d); return 1;
    default: return 0;
    }
}
