/* aio.h - several reads of one file in flight, for the streamed tiers.
 *
 * One synchronous call, aio_read, reads a span as requests of
 * AIO_REQUEST_BYTES with up to `depth` of them in flight: a device queue
 * (NVMe, virtio) serves one large request at a time at a fraction of what
 * it serves with several. Backends: io_uring, through its system calls
 * (no liburing), where the kernel has it and allows it; else a pool of
 * threads, each doing pread. Everything is allocated by aio_open; aio_read
 * allocates nothing. One caller at a time per struct aio. */
#ifndef STRATA_AIO_H
#define STRATA_AIO_H

#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AIO_REQUEST_BYTES (8u << 20)
#define AIO_MAX_DEPTH 32u
#define AIO_DEFAULT_DEPTH 8u

enum aio_backend { AIO_ANY = 0, AIO_URING = 1, AIO_THREADS = 2 };

struct aio;

/* depth: requests in flight (1..AIO_MAX_DEPTH). want: AIO_ANY takes
 * io_uring when it can be set up, else threads; AIO_URING fails (NULL,
 * err says why) when it cannot. fd is the caller's (not closed here). */
struct aio *aio_open(int fd, const char *path, unsigned depth, enum aio_backend want,
                     struct st_err *err);

/* Reads len bytes at off into dst (for O_DIRECT: dst, off and len aligned
 * as the file system wants). Returns the bytes read, fewer than len only
 * where the file ends, or -1 with err naming the file and the byte where a
 * read failed, and errno set to the failure's. */
int64_t aio_read(struct aio *a, uint8_t *dst, uint64_t len, uint64_t off, struct st_err *err);

/* "io_uring" or "threads". */
const char *aio_backend_name(const struct aio *a);

void aio_close(struct aio *a);

#ifdef __cplusplus
}
#endif

#endif
