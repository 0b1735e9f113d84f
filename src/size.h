/* size.h - byte sizes as people type them: "22G", "22GiB", "512M", "1.5GB".
 *
 * The rule (the one llama.cpp users expect):
 *   K, M, G, T       binary:  1024, 1024^2, 1024^3, 1024^4   ("22G" == "22GiB")
 *   KiB, MiB, GiB, TiB binary as well
 *   KB, MB, GB, TB   decimal: 1000, 1000^2, 1000^3, 1000^4   (what disk vendors print)
 *   B or no suffix   bytes (then no fractional part)
 * Suffix letters are case-insensitive ("22g", "512mib"); no space between the
 * number and the suffix. A fraction is allowed with a suffix ("1.5GB" =
 * 1500000000 bytes); bytes are rounded down. Negative numbers, exponents,
 * empty strings and values past 2^64 - 1 are refused. */
#ifndef STRATA_SIZE_H
#define STRATA_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Parses s into *out (bytes). Returns 0, or -1 with err filled as
 * "FILE: FIELD: found 's', expected a size like 22GiB, 512M or 1.5GB";
 * file and field name the origin (e.g. "configure", "--vram-budget"). */
int size_parse(const char *s, uint64_t *out, const char *file,
               const char *field, struct st_err *err);

/* Formats bytes for people in binary units with two decimals: "22.00 GiB",
 * "669.35 MiB", "512 B". Returns buf. cap >= 16 is always enough. */
char *size_format(uint64_t bytes, char *buf, size_t cap);

#endif
