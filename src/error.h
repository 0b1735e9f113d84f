/* error.h - the one way strata reports bad input.
 *
 * Every failure caused by input (a file, a flag, a sysfs value) becomes one
 * line:   FILE: FIELD: found FOUND, expected EXPECTED
 * Library code never prints and never exits: it fills a struct st_err and
 * returns non-zero; the command-line front ends print err.msg and exit 1.
 * Tests read err.msg to check that the right field was named. */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

#include <stdarg.h>

#define ST_ERR_MAX 512

struct st_err {
    char msg[ST_ERR_MAX]; /* "" while no error has been recorded */
};

/* Records "FILE: FIELD: found <found...>, expected EXPECTED" into e and
 * returns -1, so callers can write `return st_errf(e, ...);`.
 * found_fmt is a printf format for the found value. e may be NULL. */
int st_errf(struct st_err *e, const char *file, const char *field,
            const char *expected, const char *found_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Records a free-form message (for errors that are not about a field, e.g.
 * "out of memory" or an errno from open); returns -1. */
int st_errmsg(struct st_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
