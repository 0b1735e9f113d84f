/* strata-gguf - look inside a GGUF file.
 *
 *   strata-gguf FILE                 metadata, tensor table, totals
 *   strata-gguf -n N FILE            show N items of each array (default 8)
 *   strata-gguf --fingerprint FILE   the 16-hex-digit header fingerprint
 *
 * A file the reader refuses gives one line on stderr and exit status 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_dump.h"

static int usage(void)
{
    fprintf(stderr, "usage: strata-gguf [-n ITEMS] [--fingerprint] FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    int fingerprint = 0, items = 8;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fingerprint") == 0)
            fingerprint = 1;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            items = atoi(argv[++i]);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(), 0;
        else if (argv[i][0] == '-' || path)
            return usage();
        else
            path = argv[i];
    }
    if (!path)
        return usage();

    struct gguf_file f;
    struct st_err err = {""};
    if (gguf_open(&f, path, &err) < 0) {
        fprintf(stderr, "strata-gguf: %s\n", err.msg);
        return 1;
    }
    if (fingerprint)
        printf("%016" PRIx64 "\n", gguf_fingerprint(&f));
    else
        gguf_dump(stdout, &f, items);
    gguf_close(&f);
    return 0;
}
