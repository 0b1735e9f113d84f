/* matvec.c - the thread pool and the quantized matrix-vector product
 * (matvec.h). */
#include "cpu/matvec.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dequant.h"
#include "quant.h"

/* ---- the pool ------------------------------------------------------------- */

/* Spin iterations (each a pause instruction, ~10-40 ns) before a worker
 * sleeps: long enough to bridge the gap between two products of one token
 * (an rmsnorm, a rope, the attention), short enough that an idle pool
 * stops burning cores within a millisecond or so. */
#define MV_SPIN 20000

/* Chunks per thread. Work is claimed chunk by chunk rather than handed out
 * as one fixed share per thread: when a worker is descheduled (more
 * runnable threads than cores, as on a shared CI machine) the others take
 * its chunks instead of waiting a whole time slice for it. */
#define MV_CHUNKS_PER_THREAD 4

struct mv_pool {
    int n_threads;          /* the caller plus the workers */
    pthread_t *workers;     /* n_threads - 1 */
    int n_started;
    _Atomic uint32_t gen;      /* bumped per dispatch; the futex word */
    _Atomic uint32_t sleepers; /* workers inside futex_wait (or about to be) */
    /* (dispatch generation << 32) | next unclaimed chunk: a chunk is
     * claimed by a CAS that also checks the generation, so a worker that
     * wakes late can never run a chunk of a newer dispatch with the old
     * function. */
    _Atomic uint64_t claim;
    _Atomic uint32_t done;     /* chunks finished in this dispatch */
    _Atomic int quit;
    /* the current dispatch, written before claim and gen publish it */
    mv_range_fn fn;
    void *ctx;
    uint64_t n_items;
    _Atomic uint32_t n_chunks; /* read before a claim, so atomic (relaxed) */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Claims and runs chunks of dispatch `gen` until none is left. Chunk c
 * covers items [c * n / C, (c + 1) * n / C): contiguous, balanced. */
static void run_chunks(struct mv_pool *p, uint32_t gen)
{
    uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        uint32_t n_chunks = atomic_load_explicit(&p->n_chunks, memory_order_relaxed);
        if ((uint32_t)(v >> 32) != gen || (uint32_t)v >= n_chunks)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &v, v + 1,
                                                   memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* v was reloaded */
        uint64_t c = (uint32_t)v, n = p->n_items;
        uint64_t nc = atomic_load_explicit(&p->n_chunks, memory_order_relaxed);
        uint64_t lo = n * c / nc, hi = n * (c + 1) / nc;
        if (lo < hi)
            p->fn(p->ctx, lo, hi);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        v = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

/* Waits until gen moves past seen: spin first, then sleep. The sleepers
 * count and gen are both seq_cst, so either the dispatcher sees this
 * worker counted (and wakes it) or the worker sees the new gen. */
static uint32_t wait_dispatch(struct mv_pool *p, uint32_t seen)
{
    for (int i = 0; i < MV_SPIN; i++) {
        uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
        cpu_relax();
    }
    atomic_fetch_add(&p->sleepers, 1);
    uint32_t g;
    while ((g = atomic_load(&p->gen)) == seen)
        futex_wait(&p->gen, seen);
    atomic_fetch_sub(&p->sleepers, 1);
    return g;
}

static void *worker_main(void *arg)
{
    struct mv_pool *p = arg;
    uint32_t seen = 0; /* gen at init: a dispatch before this thread runs is not missed */
    for (;;) {
        seen = wait_dispatch(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire))
            break;
        run_chunks(p, seen);
    }
    return NULL;
}

struct mv_pool *mv_pool_init(int n_threads, struct st_err *err)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > 1024)
        n_threads = 1024;
    struct mv_pool *p = calloc(1, sizeof *p);
    if (!p) {
        st_errmsg(err, "matvec: out of memory for the thread pool");
        return NULL;
    }
    p->n_threads = n_threads;
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            st_errmsg(err, "matvec: out of memory for the thread pool");
            return NULL;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        int rc = pthread_create(&p->workers[i - 1], NULL, worker_main, p);
        if (rc) {
            st_errmsg(err, "matvec: cannot start thread %d of %d: %s", i,
                      n_threads, strerror(rc));
            mv_pool_free(p); /* joins the n_started already running */
            return NULL;
        }
        p->n_started = i;
    }
    return p;
}

void mv_pool_free(struct mv_pool *p)
{
    if (!p)
        return;
    atomic_store_explicit(&p->quit, 1, memory_order_release);
    if (p->n_started) {
        atomic_fetch_add(&p->gen, 1);
        futex_wake_all(&p->gen);
        for (int i = 0; i < p->n_started; i++)
            pthread_join(p->workers[i], NULL);
    }
    free(p->workers);
    free(p);
}

int mv_pool_threads(const struct mv_pool *p)
{
    return p->n_threads;
}

void mv_pool_run(struct mv_pool *p, mv_range_fn fn, void *ctx,
                 uint64_t n_items, uint64_t min_split)
{
    if (n_items == 0)
        return;
    if (p->n_started == 0 || n_items < min_split) {
        fn(ctx, 0, n_items);
        return;
    }
    uint64_t chunks = (uint64_t)p->n_threads * MV_CHUNKS_PER_THREAD;
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n_items;
    uint32_t n_chunks = (uint32_t)(chunks < n_items ? chunks : n_items);
    atomic_store_explicit(&p->n_chunks, n_chunks, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
    atomic_store(&p->gen, gen); /* seq_cst: pairs with the sleepers count */
    if (atomic_load(&p->sleepers))
        futex_wake_all(&p->gen);

    run_chunks(p, gen);
    /* Every chunk is claimed; wait for the ones still running elsewhere. */
    for (unsigned i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_chunks; i++) {
        if (i < MV_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
}

/* ---- the product ----------------------------------------------------------- */

struct matvec_ctx {
    const struct matvec_job *jobs;
    int n_jobs;
};

/* Rows [lo, hi) of the jobs' concatenated outputs. */
static void matvec_range(void *arg, uint64_t lo, uint64_t hi)
{
    const struct matvec_ctx *c = arg;
    uint64_t base = 0;
    for (int j = 0; j < c->n_jobs && lo < hi; j++) {
        const struct matvec_job *job = &c->jobs[j];
        uint64_t end = base + job->n_rows;
        if (lo < end) {
            size_t row_bytes = ggml_row_size(job->type, job->n_cols);
            const uint8_t *w = job->w;
            uint64_t stop = hi < end ? hi : end;
            for (uint64_t r = lo - base; r < stop - base; r++)
                job->out[r] = dequant_dot(job->type, w + r * row_bytes, job->x,
                                          job->n_cols);
            lo = stop;
        }
        base = end;
    }
}

void matvec_multi(struct mv_pool *p, const struct matvec_job *jobs, int n_jobs)
{
    uint64_t rows = 0;
    for (int j = 0; j < n_jobs; j++)
        rows += jobs[j].n_rows;
    struct matvec_ctx c = {jobs, n_jobs};
    mv_pool_run(p, matvec_range, &c, rows, MATVEC_MIN_SPLIT);
}

void matvec(struct mv_pool *p, float *out, const void *w, uint32_t type,
            const float *x, uint64_t n_cols, uint64_t n_rows)
{
    struct matvec_job job = {out, w, type, x, n_cols, n_rows};
    matvec_multi(p, &job, 1);
}
