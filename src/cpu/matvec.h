/* matvec.h - multi-threaded matrix-vector products over quantized rows.
 *
 * A pool of worker threads is created once (engine_init); each product
 * splits its output rows into contiguous chunks (a few per thread) that
 * the calling thread and the workers claim one at a time. Every row is one
 * dequant_dot call on the weights in place, so the weights are never
 * copied or converted, and a row's result does not depend on the thread
 * count: outputs are bit-identical for 1 or N threads.
 *
 * Workers wait for work by spinning briefly, then sleeping on a futex, so
 * back-to-back products (decode issues ~7 per layer) cost no syscall while
 * an idle pool costs no CPU. Nothing is allocated after mv_pool_init. */
#ifndef STRATA_CPU_MATVEC_H
#define STRATA_CPU_MATVEC_H

#include <stdint.h>

#include "error.h"

struct mv_pool;

/* n_threads counts the calling thread: n_threads - 1 workers are started.
 * n_threads <= 0 means one per online core. NULL with err on failure. */
struct mv_pool *mv_pool_init(int n_threads, struct st_err *err);
void mv_pool_free(struct mv_pool *p);
int mv_pool_threads(const struct mv_pool *p);

/* Runs fn(ctx, lo, hi) over [0, n_items) split into contiguous ranges
 * (chunks) claimed by the threads; returns when all are done. Empty ranges
 * are not passed to fn. For n_items < min_split everything runs on the
 * caller. */
typedef void (*mv_range_fn)(void *ctx, uint64_t lo, uint64_t hi);
void mv_pool_run(struct mv_pool *p, mv_range_fn fn, void *ctx,
                 uint64_t n_items, uint64_t min_split);

/* One product: out (n_rows,) = W (n_rows, n_cols) @ x (n_cols,), where W
 * is n_rows rows of n_cols elements of GGML type `type`, row r at
 * w + r * ggml_row_size(type, n_cols). */
struct matvec_job {
    float *out;
    const void *w;
    uint32_t type;
    const float *x;
    uint64_t n_cols;
    uint64_t n_rows;
};

/* Products under this many rows in total run on the calling thread: waking
 * workers costs more than the rows. */
#define MATVEC_MIN_SPLIT 64

/* Runs several independent products in one dispatch (their rows are
 * concatenated and split together): Q, K and V share one, gate and up
 * another. */
void matvec_multi(struct mv_pool *p, const struct matvec_job *jobs, int n_jobs);

/* A single product (see struct matvec_job). */
void matvec(struct mv_pool *p, float *out, const void *w, uint32_t type,
            const float *x, uint64_t n_cols, uint64_t n_rows);

#endif
