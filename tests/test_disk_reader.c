/* test_disk_reader.c - the tier-C reader: jobs land in order in the right
 * buffers with the right bytes, the reader never overwrites a buffer that
 * was not released, it runs ahead across the range list (token) boundary,
 * and a short file ends with one clear line instead of a hang. */
#include <CUnit/CUnit.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk_reader.h"
#include "util.h"

#define A DISK_READER_ALIGN

/* A file of n_blocks * A bytes where byte i is (i * 7 + i / A) & 0xff. */
static const char *make_file(const char *name, uint32_t n_blocks)
{
    size_t n = (size_t)n_blocks * A;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + i / A);
    const char *p = test_write_temp(name, b, n);
    free(b);
    return p;
}

static int range_ok(const uint8_t *got, uint64_t off, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        if (got[i] != (uint8_t)((off + i) * 7 + (off + i) / A))
            return 0;
    return 1;
}

static void test_order_and_bytes(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", make_file("reader.bin", 64));
    /* three ranges ("blocks of a token"), two staging buffers */
    uint64_t off[3] = {0, 8 * A, 40 * A}, len[3] = {8 * A, 16 * A - 100, 4 * A + 1};
    uint8_t *stage = aligned_alloc(A, 2 * 16 * A);
    struct st_err e = {""};
    struct disk_reader *r = disk_reader_start(path, off, len, 3, stage, 16 * A, 2, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    /* two tokens and a bit: jobs wrap around the range list */
    for (uint64_t job = 0; job < 8; job++) {
        const uint8_t *b = disk_reader_wait(r, job);
        CU_ASSERT_PTR_EQUAL(b, stage + (job % 2) * 16 * A);
        CU_ASSERT_TRUE(range_ok(b, off[job % 3], len[job % 3]));
        if (job == 3) {
            /* job 5 needs job 3's buffer: it cannot be staged before the
             * release, while job 4 (the other buffer) runs ahead */
            usleep(20000);
            disk_reader_wait(r, 4);
            CU_ASSERT_TRUE(range_ok(b, off[0], len[0])); /* job 3 intact */
        }
        disk_reader_release(r, job);
    }
    CU_ASSERT_EQUAL(disk_reader_error(r, &e), 0);
    CU_ASSERT_TRUE(disk_reader_bytes(r) >= 8 * 4 * A);
    disk_reader_stop(r);
    free(stage);
}

static void test_short_file(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", make_file("short.bin", 4));
    uint64_t off[1] = {2 * A}, len[1] = {3 * A}; /* needs a block past EOF */
    uint8_t *stage = aligned_alloc(A, 4 * A);
    struct st_err e = {""};
    struct disk_reader *r = disk_reader_start(path, off, len, 1, stage, 4 * A, 1, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    alarm(20); /* a hang fails the run instead of stalling CI */
    disk_reader_wait(r, 0);
    alarm(0);
    CU_ASSERT_EQUAL(disk_reader_error(r, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "streamed block read"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "the file ends early"));
    disk_reader_stop(r);
    free(stage);
}

static void test_bad_arguments(void)
{
    uint8_t *stage = aligned_alloc(A, 4 * A);
    struct st_err e = {""};
    uint64_t off[1] = {100}, len[1] = {A};
    CU_ASSERT_PTR_NULL(disk_reader_start("x", off, len, 1, stage, 4 * A, 1, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "disk reader range"));
    uint64_t off2[1] = {0}, len2[1] = {4 * A + 1}; /* larger than a buffer */
    CU_ASSERT_PTR_NULL(disk_reader_start("x", off2, len2, 1, stage, 4 * A, 1, &e));
    uint64_t len3[1] = {A};
    CU_ASSERT_PTR_NULL(disk_reader_start("/nonexistent/model.gguf", off2, len3, 1, stage,
                                         4 * A, 1, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "model file"));
    free(stage);
}

void suite_disk_reader(void)
{
    CU_pSuite s = CU_add_suite("disk_reader", NULL, NULL);
    CU_add_test(s, "jobs in order, right bytes, no overwrite, run-ahead", test_order_and_bytes);
    CU_add_test(s, "a short file ends with one line, no hang", test_short_file);
    CU_add_test(s, "bad arguments are refused", test_bad_arguments);
}
