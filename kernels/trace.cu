// trace.cu - the host side of kernels/trace.cuh: a timeline of the decode
// step's launches, for experiment builds (-DSTRATA_TRACE) only.
#include <stdio.h>
#include <stdlib.h>

#include "trace.cuh"

#ifdef STRATA_TRACE
static trace_rec *g_buf;
static unsigned *g_count;
static unsigned g_want_blocks, g_want_threads; // launches written block by block

static int cmp_u64(const void *a, const void *b)
{
    const unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

// STRATA_TRACE=FILE: binds every unit's stamps to a fresh ring.
int trace_init(unsigned blocks, unsigned threads)
{
    if (!getenv("STRATA_TRACE") || g_buf)
        return 0;
    g_want_blocks = blocks;
    g_want_threads = threads;
    if (cudaMalloc(&g_buf, sizeof(trace_rec) * TRACE_CAP) != cudaSuccess ||
        cudaMalloc(&g_count, sizeof *g_count) != cudaSuccess ||
        cudaMemset(g_count, 0, sizeof *g_count) != cudaSuccess)
        return -1;
    int *n;
    trace_bind_fn *fns = trace_binders(&n);
    for (int i = 0; i < *n; i++)
        fns[i](g_buf, g_count);
    return 0;
}

// One line per launch, in launch order, times in ns from the first stamp
// written: blocks threads first_start last_start first_wait last_wait
// last_end (0: none) end10 end50 end90 (when 10%, 50%, 90% of its blocks
// had ended). A launch is a run of tickets of one grid shape, at most its
// block count long. The ring's oldest launch may be partial.
void trace_dump(void)
{
    const char *path = getenv("STRATA_TRACE");
    if (!g_buf || !path)
        return;
    unsigned count = 0;
    cudaDeviceSynchronize();
    cudaMemcpy(&count, g_count, sizeof count, cudaMemcpyDeviceToHost);
    const unsigned n = count < TRACE_CAP ? count : TRACE_CAP;
    trace_rec *r = (trace_rec *)malloc(sizeof *r * (n ? n : 1));
    FILE *f = fopen(path, "w");
    if (!r || !f || cudaMemcpy(r, g_buf, sizeof *r * n, cudaMemcpyDeviceToHost) != cudaSuccess) {
        fprintf(stderr, "strata: STRATA_TRACE: could not write %s\n", path);
        free(r);
        if (f)
            fclose(f);
        return;
    }
    const unsigned first = count - n;
    unsigned long long base = ~0ull;
    for (unsigned i = 0; i < n; i++)
        if (r[i].t0 && r[i].t0 < base)
            base = r[i].t0;
    fprintf(f, "blocks threads first_start last_start first_wait last_wait last_end end10 end50 end90\n");
    unsigned long long *ends = (unsigned long long *)malloc(sizeof *ends * (n ? n : 1));
    if (!ends) {
        fclose(f);
        free(r);
        return;
    }
    // every block of the launches of the shape trace_init was given, in
    // FILE.blocks: launch block sm start wait end
    FILE *fb = NULL;
    if (g_want_blocks) {
        char name[4096];
        snprintf(name, sizeof name, "%s.blocks", path);
        fb = fopen(name, "w");
    }
    unsigned i = first, launch = 0;
    while (i < count) {
        const trace_rec *a = &r[i % TRACE_CAP];
        const unsigned i0 = i;
        unsigned long long s0 = ~0ull, s1 = 0, w0 = ~0ull, w1 = 0, e1 = 0;
        unsigned k = 0;
        unsigned ne = 0;
        for (; i < count && k < a->blocks; i++, k++) {
            const trace_rec *b = &r[i % TRACE_CAP];
            if (b->blocks != a->blocks || b->threads != a->threads)
                break;
            s0 = b->t0 < s0 ? b->t0 : s0;
            s1 = b->t0 > s1 ? b->t0 : s1;
            if (b->t1) {
                w0 = b->t1 < w0 ? b->t1 : w0;
                w1 = b->t1 > w1 ? b->t1 : w1;
            }
            e1 = b->t2 > e1 ? b->t2 : e1;
            if (b->t2)
                ends[ne++] = b->t2;
        }
        if (fb && a->blocks == g_want_blocks && a->threads == g_want_threads)
            for (unsigned j = i0; j < i; j++) {
                const trace_rec *b = &r[j % TRACE_CAP];
                fprintf(fb, "%u %u %u %llu %llu %llu\n", launch, b->block, b->sm, b->t0 - base,
                        b->t1 ? b->t1 - base : 0, b->t2 ? b->t2 - base : 0);
            }
        launch++;
        unsigned long long p[3] = {0, 0, 0};
        if (ne) {
            qsort(ends, ne, sizeof *ends, cmp_u64);
            for (int q = 0; q < 3; q++)
                p[q] = ends[(ne - 1) * (q == 0 ? 1 : q == 1 ? 5 : 9) / 10] - base;
        }
        fprintf(f, "%u %u %llu %llu %llu %llu %llu %llu %llu %llu\n", a->blocks, a->threads, s0 - base,
                s1 - base, w1 ? w0 - base : 0, w1 ? w1 - base : 0, e1 ? e1 - base : 0, p[0], p[1], p[2]);
    }
    fclose(f);
    free(r);
    free(ends);
    if (fb)
        fclose(fb);
}
#else
int trace_init(unsigned blocks, unsigned threads)
{
    (void)blocks;
    (void)threads;
    return 0;
}

void trace_dump(void)
{
}
#endif
