/* error.c - formatting of the one-line input error (see error.h). */
#include "error.h"

#include <stdio.h>

int st_errf(struct st_err *e, const char *file, const char *field,
            const char *expected, const char *found_fmt, ...)
{
    if (!e)
        return -1;
    char found[256];
    va_list ap;
    va_start(ap, found_fmt);
    vsnprintf(found, sizeof found, found_fmt, ap);
    va_end(ap);
    snprintf(e->msg, sizeof e->msg, "%s: %s: found %s, expected %s",
             file ? file : "(input)", field, found, expected);
    return -1;
}

int st_errmsg(struct st_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}
