/* test_size.c - "22G" and friends (src/size.h): G = GiB = 2^30, GB = 10^9. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "size.h"

static uint64_t ok(const char *s)
{
    uint64_t v = 12345;
    struct st_err e = {""};
    int rc = size_parse(s, &v, "t", "--x", &e);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        printf("\n  unexpected error: %s\n", e.msg);
    return v;
}

static void test_binary_and_decimal(void)
{
    const uint64_t GiB = 1073741824ull, MiB = 1048576ull;
    CU_ASSERT_EQUAL(ok("22G"), 22 * GiB);
    CU_ASSERT_EQUAL(ok("22GiB"), 22 * GiB);
    CU_ASSERT_EQUAL(ok("22g"), 22 * GiB);
    CU_ASSERT_EQUAL(ok("22gib"), 22 * GiB);
    CU_ASSERT_EQUAL(ok("22GB"), 22000000000ull);
    CU_ASSERT_EQUAL(ok("512M"), 512 * MiB);
    CU_ASSERT_EQUAL(ok("512MB"), 512000000ull);
    CU_ASSERT_EQUAL(ok("1.5GB"), 1500000000ull);
    CU_ASSERT_EQUAL(ok("1.5G"), 1610612736ull);
    CU_ASSERT_EQUAL(ok("0.5KB"), 500);
    CU_ASSERT_EQUAL(ok("4k"), 4096);
    CU_ASSERT_EQUAL(ok("2TiB"), 2199023255552ull);
    CU_ASSERT_EQUAL(ok("3TB"), 3000000000000ull);
    CU_ASSERT_EQUAL(ok("100"), 100);
    CU_ASSERT_EQUAL(ok("100B"), 100);
    CU_ASSERT_EQUAL(ok("0"), 0);
    CU_ASSERT_EQUAL(ok("1.0000001G"), 1073741931ull); /* rounded down */
}

static void test_refused(void)
{
    static const char *bad[] = {"", "abc", "22 G", "-1G", "1.5", "1e9", "22GiBs", "1.G",
                                ".5G", "22Gi", "22iB", "5X", "99999999999T",
                                "18446744073709551616", "1.5.5G", "G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        struct st_err e = {""};
        CU_ASSERT_EQUAL(size_parse(bad[i], &v, "configure", "--vram-budget", &e), -1);
        CU_ASSERT_EQUAL(v, 7);
        char want[64];
        snprintf(want, sizeof want, "configure: --vram-budget: found '%s', expected a size", bad[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want));
    }
}

static void test_format(void)
{
    char b[32];
    CU_ASSERT_STRING_EQUAL(size_format(22ull << 30, b, sizeof b), "22.00 GiB");
    CU_ASSERT_STRING_EQUAL(size_format(512, b, sizeof b), "512 B");
    CU_ASSERT_STRING_EQUAL(size_format(1536, b, sizeof b), "1.50 KiB");
    CU_ASSERT_STRING_EQUAL(size_format(701890560, b, sizeof b), "669.38 MiB");
}

void suite_size(void)
{
    CU_pSuite s = CU_add_suite("size", NULL, NULL);
    CU_add_test(s, "G is GiB, GB is 10^9", test_binary_and_decimal);
    CU_add_test(s, "malformed sizes refused", test_refused);
    CU_add_test(s, "printing", test_format);
}
