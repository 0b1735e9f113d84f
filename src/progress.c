/* progress.c - the start-up progress report (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_start(struct progress *p, const char *what, uint64_t total, uint64_t min_bytes)
{
    p->what = what;
    p->total = total;
    p->tty = isatty(2);
    p->quiet = total < min_bytes;
    p->t0 = progress_now();
    p->last = 0;
    p->last_decile = -1;
}

void progress_update(struct progress *p, uint64_t done)
{
    if (p->quiet)
        return;
    double t = progress_now(), el = t - p->t0;
    double mbs = el > 0 ? (double)done / el / 1e6 : 0;
    double eta = mbs > 0 ? (double)(p->total - done) / 1e6 / mbs : 0;
    int finished = done >= p->total;
    if (p->tty) {
        if (!finished && t - p->last < 0.2)
            return;
        p->last = t;
        int w = 30, fill = p->total ? (int)((double)done / (double)p->total * w) : w;
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r%s [%s] %6.2f / %.2f GB  %7.1f MB/s  ETA %4.0fs ", p->what, bar,
                (double)done / 1e9, (double)p->total / 1e9, mbs, eta);
        if (finished)
            fputc('\n', stderr);
    } else {
        int decile = p->total ? (int)(done * 10 / p->total) : 10;
        if (decile == p->last_decile)
            return;
        p->last_decile = decile;
        fprintf(stderr, "%s: %3d%%  %.2f / %.2f GB  %.1f MB/s  ETA %.0fs\n", p->what,
                decile * 10, (double)done / 1e9, (double)p->total / 1e9, mbs, eta);
    }
}
