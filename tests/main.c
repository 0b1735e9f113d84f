/* main.c - the CUnit runner: registers every suite found in tests/test_*.c
 * (the list is generated from the file names) and runs them, or only the
 * ones named in argv[1] as "gguf,dequant". Exit status is non-zero when any
 * assertion failed. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#define SUITE(name) void suite_##name(void);
#include "suites.h"
#undef SUITE

extern int test_skip_count;

static int wanted(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
#define SUITE(name) if (wanted(only, #name)) suite_##name();
#include "suites.h"
#undef SUITE
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    printf("\n%u tests run, %d skipped (see SKIPPED lines), %u failures\n",
           run, test_skip_count, failed);
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
