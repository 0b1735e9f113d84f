/* strbuf.h - appending formatted text to a fixed buffer (the plan table,
 * the profile file): no allocation, and overflow is reported, not cut. */
#ifndef STRATA_STRBUF_H
#define STRATA_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Appends to buf (cap bytes, *len used); returns 0, or -1 when it would not
 * fit (buf then holds a NUL-terminated prefix). */
static inline int strbuf_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int strbuf_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *len)
        return -1;
    *len += (size_t)w;
    return 0;
}

#endif
