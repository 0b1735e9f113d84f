/* profile.c - reading, checking and writing hardware profiles (profile.h). */
#include "profile.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the key table ------------------------------------------------------ */

enum pk_type {
    PK_VERSION, /* 1 */
    PK_STR,     /* free text to the end of the line */
    PK_U64,     /* decimal integer */
    PK_GBPS,    /* decimal number, GB/s */
    PK_CC,      /* "8.6" */
    PK_DISK,    /* nvme | sata-ssd | hdd | unknown */
    PK_SOURCE   /* max | current | unknown */
};

struct pk {
    const char *key;
    int type;
    size_t off;      /* offsetof(struct profile, field) */
    size_t cap;      /* strings: buffer size */
    int unknown_ok;  /* numbers: the word `unknown` is accepted */
    const char *comment;
};

#define F(field) offsetof(struct profile, field)

/* Sorted by key: profile_format writes them in this order and a test checks
 * the order. */
static const struct pk pk_table[] = {
    {"cpu_cores", PK_U64, F(cpu_cores), 0, 1, "logical CPUs (/proc/cpuinfo); CPU engine threads"},
    {"d2d_measured_gbps", PK_GBPS, F(d2d_measured_gbps), 0, 1,
     "device memory bandwidth, GB/s (read + write of a device copy); bounds tier A"},
    {"disk_kind", PK_DISK, F(disk_kind), 0, 0,
     "disk holding the model file: nvme | sata-ssd | hdd | unknown"},
    {"disk_model", PK_STR, F(disk_model), sizeof(((struct profile *)0)->disk_model), 0,
     "that disk's model name (sysfs device/model)"},
    {"disk_pcie_gen", PK_U64, F(disk_pcie_gen), 0, 1, "NVMe controller PCIe generation"},
    {"disk_pcie_width", PK_U64, F(disk_pcie_width), 0, 1, "NVMe controller PCIe lanes"},
    {"disk_read_gbps", PK_GBPS, F(disk_read_gbps), 0, 1,
     "direct-I/O read of the model file, GB/s (8 MiB requests, 8 in flight); bounds tier C"},
    {"gds", PK_STR, F(gds), sizeof(((struct profile *)0)->gds), 0,
     "GPUDirect Storage (the nvidia-fs driver): yes | no: why"},
    {"gpu_cc", PK_CC, F(gpu_cc), 0, 0, "compute capability (0.0 without a GPU)"},
    {"gpu_l2_bytes", PK_U64, F(gpu_l2_bytes), 0, 0, "L2 cache, bytes"},
    {"gpu_name", PK_STR, F(gpu_name), sizeof(((struct profile *)0)->gpu_name), 0,
     "device 0 as the driver names it; none = CPU only"},
    {"gpu_sms", PK_U64, F(gpu_sms), 0, 0, "streaming multiprocessors"},
    {"h2d_measured_gbps", PK_GBPS, F(h2d_measured_gbps), 0, 1,
     "pinned host -> device copy, GB/s (configure --measure); bounds tier B"},
    {"h2d_theoretical_gbps", PK_GBPS, F(h2d_theoretical_gbps), 0, 1,
     "PCIe generation x width, GB/s (used when nothing was measured)"},
    {"pcie_gen", PK_U64, F(pcie_gen), 0, 1, "GPU link generation"},
    {"pcie_source", PK_SOURCE, F(pcie_source), 0, 0,
     "where pcie_gen/width came from: max (max_link_*) | current (current_link_*) | unknown"},
    {"pcie_width", PK_U64, F(pcie_width), 0, 1, "GPU link lanes"},
    {"profile_version", PK_VERSION, F(profile_version), 0, 0, "format of this file"},
    {"ram_available_bytes", PK_U64, F(ram_available_bytes), 0, 0,
     "MemAvailable when probed, bytes"},
    {"ram_bytes", PK_U64, F(ram_bytes), 0, 0, "MemTotal, bytes"},
    {"vram_bytes", PK_U64, F(vram_bytes), 0, 0, "device memory, bytes"},
    {"vram_free_bytes", PK_U64, F(vram_free_bytes), 0, 0,
     "device memory free when probed (CUDA context included), bytes"},
};
#define PK_COUNT (sizeof pk_table / sizeof pk_table[0])

size_t profile_key_count(void) { return PK_COUNT; }
const char *profile_key_name(size_t i) { return i < PK_COUNT ? pk_table[i].key : NULL; }

static const char *disk_names[] = {"unknown", "nvme", "sata-ssd", "hdd"};
static const char *source_names[] = {"unknown", "max", "current"};

const char *profile_disk_kind_name(int kind)
{
    return kind >= 0 && kind < 4 ? disk_names[kind] : "unknown";
}

const char *profile_pcie_source_name(int source)
{
    return source >= 0 && source < 3 ? source_names[source] : "unknown";
}

void profile_init(struct profile *p)
{
    memset(p, 0, sizeof *p);
    p->profile_version = PROFILE_VERSION;
    strcpy(p->gpu_name, "none");
    strcpy(p->gds, "no: not probed");
    strcpy(p->disk_model, "unknown");
    p->pcie_gen = p->pcie_width = PROFILE_UNKNOWN;
    p->disk_pcie_gen = p->disk_pcie_width = PROFILE_UNKNOWN;
    p->pcie_source = PCIE_SOURCE_UNKNOWN;
    p->h2d_theoretical_gbps = p->h2d_measured_gbps = PROFILE_UNKNOWN_GBPS;
    p->d2d_measured_gbps = p->disk_read_gbps = PROFILE_UNKNOWN_GBPS;
    p->disk_kind = DISK_UNKNOWN;
}

int profile_has_gpu(const struct profile *p)
{
    return strcmp(p->gpu_name, "none") != 0;
}

double profile_h2d_gbps(const struct profile *p, int *measured)
{
    if (measured)
        *measured = p->h2d_measured_gbps > 0;
    if (p->h2d_measured_gbps > 0)
        return p->h2d_measured_gbps;
    return p->h2d_theoretical_gbps > 0 ? p->h2d_theoretical_gbps : -1.0;
}

/* ---- parsing ------------------------------------------------------------ */

static int parse_u64(const char *v, uint64_t *out)
{
    if (*v < '0' || *v > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

static int parse_gbps(const char *v, double *out)
{
    if ((*v < '0' || *v > '9'))
        return -1;
    for (const char *c = v; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.'))
            return -1; /* no exponents, signs, inf or nan */
    char *end;
    double x = strtod(v, &end);
    if (*end || x < 0 || x > 1e6)
        return -1;
    *out = x;
    return 0;
}

static int parse_cc(const char *v, uint32_t *out)
{
    unsigned major, minor;
    char extra;
    if (sscanf(v, "%u.%u%c", &major, &minor, &extra) != 2 || minor > 9 ||
        major > 99 || v[0] < '0' || v[0] > '9')
        return -1;
    *out = major * 10 + minor;
    return 0;
}

static int parse_name(const char *v, const char **names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

/* Stores value v for key k; returns 0 or -1 with err filled. */
static int pk_set(const struct pk *k, const char *v, struct profile *p,
                  const char *where, struct st_err *err)
{
    char *base = (char *)p + k->off;
    int unknown = k->unknown_ok && strcmp(v, "unknown") == 0;
    switch (k->type) {
    case PK_VERSION: {
        uint64_t x;
        if (parse_u64(v, &x) || x != PROFILE_VERSION)
            return st_errf(err, where, k->key, "1 (the only profile format so far)",
                           "'%s'", v);
        *(uint32_t *)base = (uint32_t)x;
        return 0;
    }
    case PK_STR:
        if (!*v || strlen(v) >= k->cap)
            return st_errf(err, where, k->key, "a name of 1 to 127 characters",
                           "'%s'", v);
        strcpy(base, v);
        return 0;
    case PK_U64:
        if (unknown) {
            *(uint64_t *)base = PROFILE_UNKNOWN;
            return 0;
        }
        if (parse_u64(v, (uint64_t *)base) || *(uint64_t *)base == PROFILE_UNKNOWN)
            return st_errf(err, where, k->key,
                           k->unknown_ok ? "a non-negative integer or unknown"
                                         : "a non-negative integer",
                           "'%s'", v);
        return 0;
    case PK_GBPS:
        if (unknown) {
            *(double *)base = PROFILE_UNKNOWN_GBPS;
            return 0;
        }
        if (parse_gbps(v, (double *)base))
            return st_errf(err, where, k->key,
                           "a bandwidth in GB/s like 6.5, or unknown", "'%s'", v);
        return 0;
    case PK_CC:
        if (parse_cc(v, (uint32_t *)base))
            return st_errf(err, where, k->key,
                           "a compute capability like 8.6 (0.0 without a GPU)",
                           "'%s'", v);
        return 0;
    case PK_DISK:
        if (parse_name(v, disk_names, 4, (int *)base))
            return st_errf(err, where, k->key, "nvme, sata-ssd, hdd or unknown",
                           "'%s'", v);
        return 0;
    case PK_SOURCE:
        if (parse_name(v, source_names, 3, (int *)base))
            return st_errf(err, where, k->key, "max, current or unknown", "'%s'", v);
        return 0;
    }
    return st_errmsg(err, "%s: %s: internal: bad key type", where, k->key);
}

int profile_parse(const char *text, const char *name, struct profile *p,
                  struct st_err *err)
{
    int seen[PK_COUNT] = {0};
    char line[512], where[600];
    profile_init(p);
    p->profile_version = 0;
    int lineno = 0;
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        snprintf(where, sizeof where, "%s:%d", name, lineno);
        if (n >= sizeof line)
            return st_errf(err, where, "line", "at most 511 characters",
                           "%zu characters", n);
        memcpy(line, s, n);
        line[n] = 0;
        s += n + (nl ? 1 : 0);
        /* trailing blanks (and the \r of a file edited on Windows) */
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            return st_errf(err, where, "line", "KEY=value or a # comment", "'%s'", line);
        *eq = 0;
        const char *key = line, *val = eq + 1;
        size_t i;
        for (i = 0; i < PK_COUNT; i++)
            if (strcmp(key, pk_table[i].key) == 0)
                break;
        if (i == PK_COUNT)
            return st_errf(err, where, key, "one of the profile keys (see profiles/cpu-only.profile)",
                           "an unknown key");
        if (seen[i])
            return st_errf(err, where, key, "each key once",
                           "a second line for it");
        seen[i] = 1;
        if (pk_set(&pk_table[i], val, p, where, err))
            return -1;
    }
    for (size_t i = 0; i < PK_COUNT; i++)
        if (!seen[i])
            return st_errf(err, name, pk_table[i].key, "a line for every key",
                           "no line");
    return profile_check(p, name, err);
}

int profile_read(const char *path, struct profile *p, struct st_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return st_errmsg(err, "%s: cannot open: %s", path, strerror(errno));
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int big = !feof(f);
    fclose(f);
    if (big)
        return st_errf(err, path, "size", "at most 16 KiB", "a larger file");
    buf[n] = 0;
    if (memchr(buf, 0, n))
        return st_errf(err, path, "contents", "text", "a NUL byte");
    return profile_parse(buf, path, p, err);
}

int profile_check(const struct profile *p, const char *name, struct st_err *err)
{
    if (p->profile_version != PROFILE_VERSION)
        return st_errf(err, name, "profile_version", "1", "%u", p->profile_version);
    if (p->ram_bytes == 0)
        return st_errf(err, name, "ram_bytes", "the machine's memory (> 0)", "0");
    if (p->ram_available_bytes > p->ram_bytes)
        return st_errf(err, name, "ram_available_bytes",
                       "at most ram_bytes", "%llu > %llu",
                       (unsigned long long)p->ram_available_bytes,
                       (unsigned long long)p->ram_bytes);
    if (profile_has_gpu(p)) {
        if (p->vram_bytes == 0)
            return st_errf(err, name, "vram_bytes", "> 0 for a GPU", "0");
        if (p->gpu_cc == 0)
            return st_errf(err, name, "gpu_cc", "the GPU's compute capability", "0.0");
        if (p->vram_free_bytes > p->vram_bytes)
            return st_errf(err, name, "vram_free_bytes", "at most vram_bytes",
                           "%llu > %llu", (unsigned long long)p->vram_free_bytes,
                           (unsigned long long)p->vram_bytes);
    } else if (p->vram_bytes || p->gpu_cc || p->gpu_sms) {
        return st_errf(err, name, "gpu_name", "a GPU name when vram_bytes/gpu_cc/gpu_sms are set",
                       "none");
    }
    int link_unknown = p->pcie_gen == PROFILE_UNKNOWN || p->pcie_width == PROFILE_UNKNOWN;
    if (link_unknown != (p->pcie_source == PCIE_SOURCE_UNKNOWN) && profile_has_gpu(p))
        return st_errf(err, name, "pcie_source",
                       "unknown exactly when pcie_gen or pcie_width is unknown", "%s",
                       profile_pcie_source_name(p->pcie_source));
    if (!link_unknown && (p->pcie_gen < 1 || p->pcie_gen > 6))
        return st_errf(err, name, "pcie_gen", "1 to 6 or unknown", "%llu",
                       (unsigned long long)p->pcie_gen);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int pk_format_value(const struct pk *k, const struct profile *p, char *v,
                           size_t cap)
{
    const char *base = (const char *)p + k->off;
    switch (k->type) {
    case PK_VERSION:
        return snprintf(v, cap, "%u", *(const uint32_t *)base);
    case PK_STR:
        return snprintf(v, cap, "%s", base);
    case PK_U64: {
        uint64_t x = *(const uint64_t *)base;
        return x == PROFILE_UNKNOWN ? snprintf(v, cap, "unknown")
                                    : snprintf(v, cap, "%llu", (unsigned long long)x);
    }
    case PK_GBPS: {
        double x = *(const double *)base;
        return x < 0 ? snprintf(v, cap, "unknown") : snprintf(v, cap, "%.2f", x);
    }
    case PK_CC: {
        uint32_t x = *(const uint32_t *)base;
        return snprintf(v, cap, "%u.%u", x / 10, x % 10);
    }
    case PK_DISK:
        return snprintf(v, cap, "%s", profile_disk_kind_name(*(const int *)base));
    case PK_SOURCE:
        return snprintf(v, cap, "%s", profile_pcie_source_name(*(const int *)base));
    }
    return -1;
}

int profile_format(const struct profile *p, char *buf, size_t cap)
{
    size_t len = 0;
#define PUT(...)                                                      \
    do {                                                              \
        if (strbuf_appendf(buf, cap, &len, __VA_ARGS__))              \
            return -1;                                                \
    } while (0)
    PUT("# strata hardware profile: what the tier plan depends on (see profile.h).\n"
        "# KEY=value, keys sorted; sizes in bytes, bandwidths in GB/s (10^9 B/s);\n"
        "# unknown = hidden by the machine or not measured. Written by ./configure\n"
        "# or by hand; the same profile + model + options gives the same binary.\n");
    if (p->notes[0])
        PUT("%s%s", p->notes, p->notes[strlen(p->notes) - 1] == '\n' ? "" : "\n");
    for (size_t i = 0; i < PK_COUNT; i++) {
        char v[256];
        if (pk_format_value(&pk_table[i], p, v, sizeof v) < 0)
            return -1;
        PUT("\n# %s\n%s=%s\n", pk_table[i].comment, pk_table[i].key, v);
    }
#undef PUT
    return (int)len;
}

int profile_write(const struct profile *p, const char *path, struct st_err *err)
{
    char buf[8192];
    int n = profile_format(p, buf, sizeof buf);
    if (n < 0)
        return st_errmsg(err, "%s: profile text too long", path);
    FILE *f = fopen(path, "wb");
    if (!f)
        return st_errmsg(err, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(buf, 1, (size_t)n, f) == (size_t)n;
    ok &= fclose(f) == 0;
    return ok ? 0 : st_errmsg(err, "%s: cannot write: %s", path, strerror(errno));
}
