/* disk_reader.c - the tier-C reader thread (see disk_reader.h). */
#include "disk_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RANGES 1024

struct disk_reader {
    int fd;
    struct aio *aio;
    int direct;
    const char *path;
    uint64_t file_size;
    uint64_t offset[MAX_RANGES], length[MAX_RANGES];
    uint32_t n_ranges;
    uint8_t *stage;
    uint64_t stage_bytes;
    uint32_t n_stage;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t staged;   /* jobs [0, staged) are in their buffers */
    uint64_t released; /* jobs [0, released) are released by the consumer */
    int stop, failed;
    struct st_err err;
    double busy_s;
    uint64_t bytes;
};

static uint64_t round_up(uint64_t n)
{
    return (n + DISK_READER_ALIGN - 1) / DISK_READER_ALIGN * DISK_READER_ALIGN;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads range i into dst, adding the bytes read to *nread; returns 0 or -1
 * with *err filled. Runs without the lock: it touches only dst and r's
 * constant fields. */
static int read_range(struct disk_reader *r, uint32_t i, uint8_t *dst, uint64_t *nread,
                      struct st_err *err)
{
    uint64_t off = r->offset[i];
    uint64_t want = r->length[i];  /* bytes the block needs */
    uint64_t asked = round_up(want); /* what direct I/O reads: past EOF for
                                        the last block, which is fine */
    int64_t got = aio_read(r->aio, dst, asked, off, err);
    if (got < 0)
        return -1;
    uint64_t done = (uint64_t)got;
    if (done < want)
        return st_errf(err, r->path, "streamed block read",
                       "the whole block (the file changed since it was planned?)",
                       "%llu bytes at byte %llu where %llu were due (the file ends early)",
                       (unsigned long long)done, (unsigned long long)off,
                       (unsigned long long)want);
    *nread += done;
    return 0;
}

static void *reader_main(void *arg)
{
    struct disk_reader *r = arg;
    for (uint64_t job = 0;; job++) {
        pthread_mutex_lock(&r->mu);
        /* the buffer of job is free once job - n_stage was released */
        while (!r->stop && job >= r->released + r->n_stage)
            pthread_cond_wait(&r->cv, &r->mu);
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            return NULL;
        double t0 = now_s();
        uint64_t nread = 0;
        struct st_err e = {""};
        int rc = read_range(r, (uint32_t)(job % r->n_ranges),
                            r->stage + (job % r->n_stage) * r->stage_bytes, &nread, &e);
        pthread_mutex_lock(&r->mu);
        r->busy_s += now_s() - t0;
        r->bytes += nread;
        if (rc) {
            r->failed = 1;
            r->err = e;
        }
        else
            r->staged = job + 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (rc)
            return NULL;
    }
}

struct disk_reader *disk_reader_start(const char *path, const uint64_t *offset,
                                      const uint64_t *length, uint32_t n_ranges,
                                      uint8_t *stage, uint64_t stage_bytes,
                                      uint32_t n_stage, struct st_err *err)
{
    if (n_ranges == 0 || n_ranges > MAX_RANGES || n_stage == 0 || !stage ||
        stage_bytes % DISK_READER_ALIGN || (uintptr_t)stage % DISK_READER_ALIGN)
        return st_errf(err, path, "disk reader", "1..1024 ranges, aligned staging",
                       "%u ranges, %u buffers of %llu bytes", n_ranges, n_stage,
                       (unsigned long long)stage_bytes), NULL;
    for (uint32_t i = 0; i < n_ranges; i++)
        if (offset[i] % DISK_READER_ALIGN || round_up(length[i]) > stage_bytes)
            return st_errf(err, path, "disk reader range", "aligned and at most a buffer",
                           "offset %llu length %llu (buffer %llu)",
                           (unsigned long long)offset[i], (unsigned long long)length[i],
                           (unsigned long long)stage_bytes), NULL;
    struct disk_reader *r = calloc(1, sizeof *r);
    if (!r)
        return st_errmsg(err, "%s: disk reader: out of memory", path), NULL;
    r->path = path;
    r->direct = 1;
    r->fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (r->fd < 0 && errno == EINVAL) { /* a file system without direct I/O */
        r->direct = 0;
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0) {
        st_errf(err, path, "model file", "a readable file", "%s", strerror(errno));
        if (r->fd >= 0)
            close(r->fd);
        free(r);
        return NULL;
    }
    r->file_size = (uint64_t)st.st_size;
    r->aio = aio_open(r->fd, path, DISK_READER_DEPTH, AIO_ANY, err);
    if (!r->aio) {
        close(r->fd);
        free(r);
        return NULL;
    }
    memcpy(r->offset, offset, n_ranges * sizeof *offset);
    memcpy(r->length, length, n_ranges * sizeof *length);
    r->n_ranges = n_ranges;
    r->stage = stage;
    r->stage_bytes = stage_bytes;
    r->n_stage = n_stage;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
        aio_close(r->aio);
        close(r->fd);
        free(r);
        return st_errmsg(err, "%s: disk reader: cannot start a thread", path), NULL;
    }
    return r;
}

const uint8_t *disk_reader_wait(struct disk_reader *r, uint64_t job)
{
    pthread_mutex_lock(&r->mu);
    while (!r->failed && !r->stop && r->staged <= job)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    return r->stage + (job % r->n_stage) * r->stage_bytes;
}

void disk_reader_release(struct disk_reader *r, uint64_t job)
{
    pthread_mutex_lock(&r->mu);
    if (job + 1 > r->released)
        r->released = job + 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int disk_reader_error(struct disk_reader *r, struct st_err *err)
{
    pthread_mutex_lock(&r->mu);
    int failed = r->failed;
    if (failed && err)
        *err = r->err;
    pthread_mutex_unlock(&r->mu);
    return failed ? -1 : 0;
}

double disk_reader_busy_s(struct disk_reader *r)
{
    pthread_mutex_lock(&r->mu);
    double s = r->busy_s;
    pthread_mutex_unlock(&r->mu);
    return s;
}

uint64_t disk_reader_bytes(struct disk_reader *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t b = r->bytes;
    pthread_mutex_unlock(&r->mu);
    return b;
}

int disk_reader_direct(const struct disk_reader *r)
{
    return r->direct;
}

const char *disk_reader_io(const struct disk_reader *r)
{
    return aio_backend_name(r->aio);
}

void disk_reader_stop(struct disk_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    aio_close(r->aio);
    close(r->fd);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
