/* size.c - parsing and printing byte sizes (see size.h for the rule). */
#include "size.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define SIZE_EXPECTED "a size like 22GiB, 512M or 1.5GB (K/M/G/T and KiB.. are 1024-based, KB/MB/GB/TB 1000-based)"

/* Multiplier of a suffix, 0 when the suffix is not one of ours. */
static uint64_t size_unit(const char *suf)
{
    static const char letters[] = "KMGT";
    size_t n = strlen(suf);
    if (n == 0 || (n == 1 && toupper((unsigned char)suf[0]) == 'B'))
        return 1;
    const char *l = strchr(letters, toupper((unsigned char)suf[0]));
    if (!l || !*l)
        return 0;
    int power = (int)(l - letters) + 1;
    int binary;
    if (n == 1)
        binary = 1; /* "G" */
    else if (n == 2 && toupper((unsigned char)suf[1]) == 'B')
        binary = 0; /* "GB" */
    else if (n == 3 && tolower((unsigned char)suf[1]) == 'i' &&
             toupper((unsigned char)suf[2]) == 'B')
        binary = 1; /* "GiB" */
    else
        return 0;
    uint64_t u = 1;
    for (int i = 0; i < power; i++)
        u *= binary ? 1024 : 1000;
    return u;
}

int size_parse(const char *s, uint64_t *out, const char *file,
               const char *field, struct st_err *err)
{
    const char *p = s;
    uint64_t whole = 0, frac = 0, frac_div = 1;
    int digits = 0, frac_digits = 0;
    if (!s)
        return st_errf(err, file, field, SIZE_EXPECTED, "nothing");
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (whole > (UINT64_MAX - 9) / 10)
            goto bad;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p); p++, frac_digits++) {
            if (frac_digits >= 18)
                goto bad; /* more precision than a byte count needs */
            frac = frac * 10 + (uint64_t)(*p - '0');
            frac_div *= 10;
        }
        if (frac_digits == 0)
            goto bad;
    }
    if (digits == 0)
        goto bad;
    uint64_t unit = size_unit(p);
    if (unit == 0 || (frac_digits > 0 && unit == 1))
        goto bad;
    if (whole > UINT64_MAX / unit)
        goto bad;
    uint64_t bytes = whole * unit;
    /* frac / frac_div * unit: frac < 10^18 times unit <= 2^40 needs 128 bits */
    unsigned __int128 f = (unsigned __int128)frac * unit / frac_div;
    if (f > UINT64_MAX - bytes)
        goto bad;
    *out = bytes + (uint64_t)f;
    return 0;
bad:
    return st_errf(err, file, field, SIZE_EXPECTED, "'%s'", s);
}

char *size_format(uint64_t bytes, char *buf, size_t cap)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", v, units[u]);
    return buf;
}
