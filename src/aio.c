/* aio.c - several reads of one file in flight (aio.h). */
#include "aio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- one span as requests: what both backends share -------------------- */

/* The span of one aio_read and what came back: the bytes read end at the
 * first request that returned short (the end of the file), a failed
 * request's offset and errno are kept (the lowest offset wins). */
struct span {
    uint8_t *dst;
    uint64_t len, off;
    uint32_t n_req;
    int direct;            /* O_DIRECT: a short read is the end of the file */
    uint64_t end;          /* min over short requests of where they ended */
    uint64_t err_at;       /* lowest failing offset, UINT64_MAX: none */
    int err_no;
};

static void span_begin(struct span *s, uint8_t *dst, uint64_t len, uint64_t off, int direct)
{
    s->direct = direct;
    s->dst = dst;
    s->len = len;
    s->off = off;
    s->n_req = (uint32_t)((len + AIO_REQUEST_BYTES - 1) / AIO_REQUEST_BYTES);
    s->end = len;
    s->err_at = UINT64_MAX;
    s->err_no = 0;
}

static uint64_t req_start(const struct span *s, uint32_t i)
{
    return (uint64_t)i * AIO_REQUEST_BYTES;
}

static uint64_t req_len(const struct span *s, uint32_t i)
{
    uint64_t rest = s->len - req_start(s, i);
    return rest < AIO_REQUEST_BYTES ? rest : AIO_REQUEST_BYTES;
}

/* Finishes request i from byte `have` on with plain preads and records its
 * outcome. short_before: a backend's first try came back short, which
 * under O_DIRECT is the end of the file (a read from there would start
 * unaligned), else maybe an interrupted read. */
static void req_finish(struct span *s, int fd, uint32_t i, uint64_t have, int short_before)
{
    uint64_t start = req_start(s, i), want = req_len(s, i);
    while (have < want && !(s->direct && short_before)) {
        ssize_t n = pread(fd, s->dst + start + have, want - have, (off_t)(s->off + start + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (s->off + start + have < s->err_at) {
                s->err_at = s->off + start + have;
                s->err_no = errno;
            }
            return;
        }
        if (n == 0)
            break;
        short_before = (uint64_t)n < want - have;
        have += (uint64_t)n;
    }
    if (have < want && start + have < s->end)
        s->end = start + have;
}

static int64_t span_result(const struct span *s, const char *path, struct st_err *err)
{
    if (s->err_at == UINT64_MAX)
        return (int64_t)s->end;
    st_errf(err, path, "streamed block read", "the bytes of the block",
            "a read error at byte %llu (%s)", (unsigned long long)s->err_at,
            strerror(s->err_no));
    errno = s->err_no;
    return -1;
}

/* ---- io_uring, through its system calls ----------------------------------- */

struct uring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_ring, *cq_ring;
    size_t sq_ring_bytes, cq_ring_bytes, sqes_bytes;
};

static void uring_close(struct uring *u)
{
    if (u->sqes)
        munmap(u->sqes, u->sqes_bytes);
    if (u->cq_ring && u->cq_ring != u->sq_ring)
        munmap(u->cq_ring, u->cq_ring_bytes);
    if (u->sq_ring)
        munmap(u->sq_ring, u->sq_ring_bytes);
    if (u->fd >= 0)
        close(u->fd);
}

/* 0, or -1 with errno (ENOSYS, EPERM in a sandbox, EINVAL on a kernel
 * before 5.6, which has no IORING_OP_READ). */
static int uring_open(struct uring *u, unsigned entries)
{
    memset(u, 0, sizeof *u);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    u->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (u->fd < 0)
        return -1;
    if (!(p.features & IORING_FEAT_RW_CUR_POS)) { /* 5.6, with IORING_OP_READ */
        close(u->fd);
        u->fd = -1;
        errno = EINVAL;
        return -1;
    }
    u->sq_ring_bytes = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    u->cq_ring_bytes = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && u->cq_ring_bytes > u->sq_ring_bytes)
        u->sq_ring_bytes = u->cq_ring_bytes;
    u->sq_ring = mmap(NULL, u->sq_ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      u->fd, IORING_OFF_SQ_RING);
    if (u->sq_ring == MAP_FAILED) {
        u->sq_ring = NULL;
        goto fail;
    }
    u->cq_ring = single ? u->sq_ring
                        : mmap(NULL, u->cq_ring_bytes, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_CQ_RING);
    if (u->cq_ring == MAP_FAILED) {
        u->cq_ring = NULL;
        goto fail;
    }
    u->sqes_bytes = p.sq_entries * sizeof(struct io_uring_sqe);
    u->sqes = mmap(NULL, u->sqes_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   u->fd, IORING_OFF_SQES);
    if (u->sqes == MAP_FAILED) {
        u->sqes = NULL;
        goto fail;
    }
    uint8_t *sq = u->sq_ring, *cq = u->cq_ring;
    u->sq_head = (unsigned *)(sq + p.sq_off.head);
    u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    u->sq_array = (unsigned *)(sq + p.sq_off.array);
    u->cq_head = (unsigned *)(cq + p.cq_off.head);
    u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
fail:;
    int e = errno;
    uring_close(u);
    errno = e;
    return -1;
}

/* Queues a read of request i (the kernel sees it at the next enter). */
static void uring_queue(struct uring *u, int fd, const struct span *s, uint32_t i)
{
    unsigned tail = *u->sq_tail, idx = tail & *u->sq_mask;
    struct io_uring_sqe *q = &u->sqes[idx];
    memset(q, 0, sizeof *q);
    q->opcode = IORING_OP_READ;
    q->fd = fd;
    q->addr = (uint64_t)(uintptr_t)(s->dst + req_start(s, i));
    q->len = (uint32_t)req_len(s, i);
    q->off = s->off + req_start(s, i);
    q->user_data = i;
    u->sq_array[idx] = idx;
    __atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

static void uring_read(struct uring *u, int fd, struct span *s, unsigned depth)
{
    uint32_t next = 0, inflight = 0;
    while (next < s->n_req || inflight) {
        while (inflight < depth && next < s->n_req) {
            uring_queue(u, fd, s, next++);
            inflight++;
        }
        unsigned pending = *u->sq_tail - __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
        long rc = syscall(__NR_io_uring_enter, u->fd, pending, 1, IORING_ENTER_GETEVENTS,
                          NULL, 0);
        if (rc < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
            /* the ring refuses: finish what it has not taken with preads */
            unsigned taken = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
            for (unsigned t = taken; t != *u->sq_tail; t++) {
                uint32_t i = (uint32_t)u->sqes[u->sq_array[t & *u->sq_mask]].user_data;
                req_finish(s, fd, i, 0, 0);
                inflight--;
            }
            __atomic_store_n(u->sq_tail, taken, __ATOMIC_RELEASE);
            if (!inflight)
                continue;
        }
        unsigned head = *u->cq_head;
        unsigned tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            const struct io_uring_cqe *c = &u->cqes[head & *u->cq_mask];
            uint32_t i = (uint32_t)c->user_data;
            if (c->res < 0 && c->res != -EINTR && c->res != -EAGAIN) {
                uint64_t at = s->off + req_start(s, i);
                if (at < s->err_at) {
                    s->err_at = at;
                    s->err_no = -c->res;
                }
            } else {
                uint64_t got = c->res > 0 ? (uint64_t)c->res : 0;
                if (got < req_len(s, i))
                    req_finish(s, fd, i, got, 1);
            }
            inflight--;
        }
        __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
    }
}

/* ---- a pool of threads doing pread ------------------------------------------ */

struct pool {
    pthread_t th[AIO_MAX_DEPTH];
    unsigned n;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct span *s;       /* the current span, NULL between calls */
    uint32_t next, finished;
    int fd, stop;
};

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !(p->s && p->next < p->s->n_req))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct span *s = p->s;
        uint32_t i = p->next++;
        /* a request of its own, outside the lock; its outcome is merged
         * into the span under it */
        struct span one = *s;
        one.end = s->len;
        one.err_at = UINT64_MAX;
        pthread_mutex_unlock(&p->mu);
        req_finish(&one, p->fd, i, 0, 0);
        pthread_mutex_lock(&p->mu);
        if (one.end < s->end)
            s->end = one.end;
        if (one.err_at < s->err_at) {
            s->err_at = one.err_at;
            s->err_no = one.err_no;
        }
        if (++p->finished == s->n_req)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_read(struct pool *p, struct span *s)
{
    pthread_mutex_lock(&p->mu);
    p->s = s;
    p->next = p->finished = 0;
    pthread_cond_broadcast(&p->work);
    while (p->finished < s->n_req)
        pthread_cond_wait(&p->done, &p->mu);
    p->s = NULL;
    pthread_mutex_unlock(&p->mu);
}

static void pool_close(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
}

/* ---- the interface ------------------------------------------------------------ */

struct aio {
    int fd, direct;
    const char *path;
    unsigned depth;
    enum aio_backend backend;
    struct uring ring;
    struct pool pool;
};

struct aio *aio_open(int fd, const char *path, unsigned depth, enum aio_backend want,
                     struct st_err *err)
{
    if (depth < 1 || depth > AIO_MAX_DEPTH)
        return st_errf(err, path, "reads in flight", "1 to 32", "%u", depth), NULL;
    struct aio *a = calloc(1, sizeof *a);
    if (!a)
        return st_errmsg(err, "%s: out of memory for the reader", path), NULL;
    a->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    a->direct = fl != -1 && (fl & O_DIRECT);
    a->path = path;
    a->depth = depth;
    a->ring.fd = -1;
    if (want != AIO_THREADS) {
        if (uring_open(&a->ring, depth) == 0) {
            a->backend = AIO_URING;
            return a;
        }
        if (want == AIO_URING) {
            st_errf(err, path, "io_uring", "a ring (Linux 5.6 or later, not refused)",
                    "%s", strerror(errno));
            free(a);
            return NULL;
        }
    }
    a->backend = AIO_THREADS;
    struct pool *p = &a->pool;
    p->fd = fd;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (p->n = 0; p->n < depth; p->n++)
        if (pthread_create(&p->th[p->n], NULL, pool_main, p) != 0)
            break;
    if (p->n == 0) {
        pool_close(p);
        free(a);
        return st_errmsg(err, "%s: cannot start a reader thread", path), NULL;
    }
    return a;
}

int64_t aio_read(struct aio *a, uint8_t *dst, uint64_t len, uint64_t off, struct st_err *err)
{
    struct span s;
    span_begin(&s, dst, len, off, a->direct);
    if (s.n_req == 0)
        return 0;
    if (a->backend == AIO_URING)
        uring_read(&a->ring, a->fd, &s, a->depth);
    else
        pool_read(&a->pool, &s);
    return span_result(&s, a->path, err);
}

const char *aio_backend_name(const struct aio *a)
{
    return a->backend == AIO_URING ? "io_uring" : "threads";
}

void aio_close(struct aio *a)
{
    if (!a)
        return;
    if (a->backend == AIO_URING)
        uring_close(&a->ring);
    else
        pool_close(&a->pool);
    free(a);
}
