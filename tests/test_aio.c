/* test_aio.c - several reads in flight: both backends (io_uring where this
 * kernel allows it, else SKIPPED; the thread pool always) return the file's
 * bytes for spans of one and of many requests, at depths 1, 3 and 8, stop
 * at the end of the file, and fail with one line naming the file. */
#include <CUnit/CUnit.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aio.h"
#include "util.h"

/* 2.5 requests and a tail that is not a multiple of 4096 */
#define FILE_BYTES ((size_t)5 * AIO_REQUEST_BYTES / 2 + 12345)

static uint8_t byte_at(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 13));
}

static const char *make_file(void)
{
    uint8_t *b = malloc(FILE_BYTES);
    for (size_t i = 0; i < FILE_BYTES; i++)
        b[i] = byte_at(i);
    const char *p = test_write_temp("aio.bin", b, FILE_BYTES);
    free(b);
    return p;
}

static int bytes_ok(const uint8_t *got, uint64_t off, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        if (got[i] != byte_at(off + i))
            return 0;
    return 1;
}

/* Whole file, a middle span, a span past the end, at three depths. */
static void check_backend(enum aio_backend want, const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", make_file());
    int fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    /* (aligned_alloc wants a size that is a multiple of the alignment) */
    uint8_t *buf = aligned_alloc(4096, (FILE_BYTES + 4095) / 4096 * 4096 + 3 * AIO_REQUEST_BYTES);
    unsigned depths[3] = {1, 3, 8};
    for (int d = 0; d < 3; d++) {
        struct st_err e = {""};
        struct aio *a = aio_open(fd, path, depths[d], want, &e);
        if (!a && want == AIO_URING) {
            test_skip("aio/io_uring", e.msg);
            break;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_STRING_EQUAL(aio_backend_name(a), name);
        memset(buf, 0, FILE_BYTES);
        CU_ASSERT_EQUAL(aio_read(a, buf, FILE_BYTES, 0, &e), (int64_t)FILE_BYTES);
        CU_ASSERT_TRUE(bytes_ok(buf, 0, FILE_BYTES));
        uint64_t off = AIO_REQUEST_BYTES / 2 + 4096, len = AIO_REQUEST_BYTES + 777;
        memset(buf, 0, len);
        CU_ASSERT_EQUAL(aio_read(a, buf, len, off, &e), (int64_t)len);
        CU_ASSERT_TRUE(bytes_ok(buf, off, len));
        /* three requests asked, the file ends inside the first */
        off = FILE_BYTES - 5000;
        CU_ASSERT_EQUAL(aio_read(a, buf, 3 * AIO_REQUEST_BYTES, off, &e), 5000);
        CU_ASSERT_TRUE(bytes_ok(buf, off, 5000));
        CU_ASSERT_EQUAL(aio_read(a, buf, 4096, FILE_BYTES + 8192, &e), 0);
        CU_ASSERT_EQUAL(aio_read(a, buf, 0, 0, &e), 0);
        aio_close(a);
    }
    /* O_DIRECT: aligned requests; the last one ends short, unaligned, at
     * the end of the file (no read may follow it from there) */
    int dfd = open(path, O_RDONLY | O_DIRECT);
    struct st_err e = {""};
    struct aio *a = dfd >= 0 ? aio_open(dfd, path, 8, want, &e) : NULL;
    if (dfd < 0) {
        test_skip("aio/O_DIRECT", "the test directory's file system has no direct I/O");
    } else if (a) {
        uint64_t asked = (FILE_BYTES + 4095) / 4096 * 4096;
        memset(buf, 0, FILE_BYTES);
        CU_ASSERT_EQUAL(aio_read(a, buf, asked, 0, &e), (int64_t)FILE_BYTES);
        CU_ASSERT_TRUE(bytes_ok(buf, 0, FILE_BYTES));
        CU_ASSERT_EQUAL(e.msg[0], 0);
        aio_close(a);
    }
    if (dfd >= 0)
        close(dfd);
    close(fd);
    free(buf);
}

static void test_threads(void)
{
    check_backend(AIO_THREADS, "threads");
}

static void test_uring(void)
{
    check_backend(AIO_URING, "io_uring");
}

/* A descriptor open for writing only: every request fails; the line names
 * the file and the byte. */
static void check_error(enum aio_backend want)
{
    const char *path = make_file();
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    struct st_err e = {""};
    struct aio *a = aio_open(fd, path, 4, want, &e);
    if (a) {
        uint8_t *buf = aligned_alloc(4096, 2 * AIO_REQUEST_BYTES);
        CU_ASSERT_EQUAL(aio_read(a, buf, 2 * AIO_REQUEST_BYTES, 0, &e), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, path));
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "read error at byte 0"));
        free(buf);
        aio_close(a);
    } else {
        CU_ASSERT_EQUAL(want, AIO_URING); /* the threads always start */
    }
    close(fd);
}

static void test_errors(void)
{
    check_error(AIO_THREADS);
    check_error(AIO_URING);
    struct st_err e = {""};
    CU_ASSERT_PTR_NULL(aio_open(0, "x.gguf", 0, AIO_ANY, &e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "reads in flight"));
    CU_ASSERT_PTR_NULL(aio_open(0, "x.gguf", AIO_MAX_DEPTH + 1, AIO_ANY, &e));
}

void suite_aio(void)
{
    CU_pSuite s = CU_add_suite("aio", NULL, NULL);
    CU_add_test(s, "thread pool: right bytes at depths 1, 3, 8; end of file", test_threads);
    CU_add_test(s, "io_uring: right bytes at depths 1, 3, 8; end of file", test_uring);
    CU_add_test(s, "a failing read: one line with file and byte", test_errors);
}
