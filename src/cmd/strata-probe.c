/* strata-probe - configure's probe: writes a hardware profile (profile.h)
 * from sysfs/procfs (through --sysfs-root/--proc-root), the output of the
 * GPU probe (kernels/probe/gpu_probe.cu) and, with --measure, the model file's
 * direct-I/O read bandwidth.
 *
 *   strata-probe [--gpu-file F] [--bw-file F] [--model FILE] [--measure]
 *                [--sysfs-root DIR] [--proc-root DIR] [--out FILE]
 *   strata-probe --read-bw FILE [--max-bytes SIZE]     prints GB/s
 *
 * Errors: one line "strata-probe: ...", exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "profile.h"
#include "size.h"

static const char usage[] =
    "usage: strata-probe [options]            print (or --out) a hardware profile\n"
    "  --gpu-file FILE     output of kernels/probe/gpu_probe.cu (no file: no GPU probe ran)\n"
    "  --bw-file FILE      output of kernels/probe/bw_probe.cu (h2d_measured_gbps=...)\n"
    "  --model FILE        the model: its disk is probed\n"
    "  --measure           also measure the model file's direct-I/O read bandwidth\n"
    "  --sysfs-root DIR    read sysfs under DIR (default /sys or $STRATA_SYSFS_ROOT)\n"
    "  --proc-root DIR     read procfs under DIR (default /proc or $STRATA_PROC_ROOT)\n"
    "  --out FILE          write the profile there instead of standard output\n"
    "       strata-probe --read-bw FILE [--max-bytes SIZE]   direct-I/O read GB/s\n";

/* The first 64 KiB of a small text file, NUL-terminated; NULL on error. */
static char *slurp(const char *path, struct st_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        st_errmsg(err, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

/* h2d_measured_gbps=X / d2d_measured_gbps=Y lines of bw_probe (its
 * other lines are for the benchmark report). */
static int read_bw_file(const char *path, struct profile *p, struct st_err *err)
{
    char *text = slurp(path, err);
    if (!text)
        return -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        double x;
        char extra;
        if (sscanf(line, "h2d_measured_gbps=%lf%c", &x, &extra) == 1 && x > 0)
            p->h2d_measured_gbps = x;
        else if (sscanf(line, "d2d_measured_gbps=%lf%c", &x, &extra) == 1 && x > 0)
            p->d2d_measured_gbps = x;
    }
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    struct probe_roots roots;
    probe_roots_default(&roots);
    const char *gpu_file = NULL, *bw_file = NULL, *model = NULL, *out = NULL, *read_bw = NULL;
    uint64_t max_bytes = 4ull << 30; /* enough for a steady figure, quick on NVMe */
    int measure = 0;
    struct st_err err = {""};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--measure") == 0) {
            measure = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "strata-probe: %s: found nothing after it, expected a value\n", a);
            return 1;
        }
        i++;
        if (strcmp(a, "--gpu-file") == 0) gpu_file = v;
        else if (strcmp(a, "--bw-file") == 0) bw_file = v;
        else if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--sysfs-root") == 0) roots.sysfs = v;
        else if (strcmp(a, "--proc-root") == 0) roots.proc = v;
        else if (strcmp(a, "--read-bw") == 0) read_bw = v;
        else if (strcmp(a, "--max-bytes") == 0) {
            if (size_parse(v, &max_bytes, "strata-probe", a, &err)) {
                fprintf(stderr, "strata-probe: %s\n", err.msg);
                return 1;
            }
        } else {
            fprintf(stderr, "strata-probe: option: found '%s', expected one of those in --help\n", a);
            return 1;
        }
    }
    if (read_bw) {
        double gbps;
        if (probe_read_bw(read_bw, max_bytes, &gbps, &err)) {
            fprintf(stderr, "strata-probe: %s\n", err.msg);
            return 1;
        }
        printf("%.2f\n", gbps);
        return 0;
    }

    char *gpu_text = NULL;
    if (gpu_file && !(gpu_text = slurp(gpu_file, &err))) {
        fprintf(stderr, "strata-probe: %s\n", err.msg);
        return 1;
    }
    struct profile p;
    int rc = probe_machine(&roots, gpu_text, gpu_file, model, &p, &err);
    free(gpu_text);
    if (rc == 0 && bw_file)
        rc = read_bw_file(bw_file, &p, &err);
    if (rc == 0 && measure && model) {
        double gbps;
        struct st_err e2 = {""};
        if (probe_read_bw(model, max_bytes, &gbps, &e2) == 0)
            p.disk_read_gbps = gbps;
        else
            snprintf(p.notes + strlen(p.notes), sizeof p.notes - strlen(p.notes),
                     "# disk: read bandwidth not measured (direct I/O refused or failed)\n");
        (void)e2;
    }
    if (rc) {
        fprintf(stderr, "strata-probe: %s\n", err.msg);
        return 1;
    }
    if (out) {
        if (profile_write(&p, out, &err)) {
            fprintf(stderr, "strata-probe: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    char buf[8192];
    if (profile_format(&p, buf, sizeof buf) < 0)
        return 1;
    fputs(buf, stdout);
    return 0;
}
