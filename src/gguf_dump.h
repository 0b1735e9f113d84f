/* gguf_dump.h - a readable listing of a GGUF file (what `strata-gguf`
 * prints): header, every metadata key with its type and value, the tensor
 * table, and the bytes per tensor type. */
#ifndef STRATA_GGUF_DUMP_H
#define STRATA_GGUF_DUMP_H

#include <stdio.h>

#include "gguf.h"

/* Prints f to out; arrays show their element type, count and at most
 * max_array_items first items (0: none, just the count). */
void gguf_dump(FILE *out, const struct gguf_file *f, int max_array_items);

#endif
