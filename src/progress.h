/* progress.h - one progress report for long start-up work (writing a
 * synthetic model, placing weights into their tiers): on a terminal a bar
 * redrawn at most 5 times a second (bytes, rate, time left); otherwise a
 * plain line per 10%. Work under min_bytes says nothing. */
#ifndef STRATA_PROGRESS_H
#define STRATA_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct progress {
    const char *what;  /* "strata-synth", "strata: loading" */
    uint64_t total;    /* bytes */
    int tty;           /* stderr is a terminal: redraw one line */
    int quiet;         /* total under the threshold, or asked */
    double t0, last;   /* seconds */
    int last_decile;
};

void progress_start(struct progress *p, const char *what, uint64_t total, uint64_t min_bytes);
void progress_update(struct progress *p, uint64_t done);

/* Monotonic seconds. */
double progress_now(void);

#ifdef __cplusplus
}
#endif

#endif
