/* probe.c - sysfs/procfs probes through a root prefix (see probe.h). */
#include "probe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"
#include "disk_reader.h"

void probe_roots_default(struct probe_roots *r)
{
    const char *s = getenv("STRATA_SYSFS_ROOT"), *p = getenv("STRATA_PROC_ROOT");
    r->sysfs = s && *s ? s : "/sys";
    r->proc = p && *p ? p : "/proc";
}

/* Bounded copy (truncates); the compiler cannot see through snprintf("%s") here. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* out := a "/" b; -1 (out = "") when it does not fit. */
static int path_join(char *out, size_t cap, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na + 1 + nb >= cap) {
        out[0] = 0;
        return -1;
    }
    memcpy(out, a, na);
    out[na] = '/';
    memcpy(out + na + 1, b, nb + 1);
    return 0;
}

/* First line of a small file, blanks trimmed at both ends; -1 if unreadable
 * or empty. */
static int read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(buf, (int)cap, f);
    fclose(f);
    if (!ok)
        return -1;
    size_t n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = 0;
    size_t i = 0;
    while (buf[i] && isspace((unsigned char)buf[i]))
        i++;
    memmove(buf, buf + i, n - i + 1);
    return buf[0] ? 0 : -1;
}

/* ---- PCIe --------------------------------------------------------------- */

double probe_pcie_gbps(uint64_t gen, uint64_t width)
{
    /* GB/s per lane and direction after 8b/10b (Gen1-2) or 128b/130b
     * (Gen3-5) line coding; Gen6 after FLIT overhead. */
    static const double lane[] = {0, 0.25, 0.5, 0.985, 1.969, 3.938, 7.563};
    if (gen < 1 || gen > 6 || width == 0 || width == PROFILE_UNKNOWN)
        return -1.0;
    return lane[gen] * (double)width;
}

int probe_speed_gen(const char *text)
{
    char *end;
    double gts = strtod(text, &end);
    if (end == text || strncmp(end, " GT/s", 5) != 0)
        return 0;
    static const double speeds[] = {2.5, 5.0, 8.0, 16.0, 32.0, 64.0};
    for (int i = 0; i < 6; i++)
        if (gts > speeds[i] - 0.01 && gts < speeds[i] + 0.01)
            return i + 1;
    return 0;
}

static uint64_t parse_width(const char *text)
{
    char *end;
    unsigned long w = strtoul(text, &end, 10);
    if (end == text || *end)
        return 0;
    /* widths a link can train to; 255 and 0 mean "unknown" in sysfs */
    return (w == 1 || w == 2 || w == 4 || w == 8 || w == 12 || w == 16 || w == 32) ? w : 0;
}

/* Reads PREFIX_link_speed / PREFIX_link_width in dir; 0 when both parse. */
static int read_link_pair(const char *dir, const char *prefix, uint64_t *gen,
                          uint64_t *width)
{
    char path[PATH_MAX], v[128];
    snprintf(path, sizeof path, "%s/%s_link_speed", dir, prefix);
    if (read_line(path, v, sizeof v))
        return -1;
    int g = probe_speed_gen(v);
    snprintf(path, sizeof path, "%s/%s_link_width", dir, prefix);
    if (read_line(path, v, sizeof v))
        return -1;
    uint64_t w = parse_width(v);
    if (!g || !w)
        return -1;
    *gen = (uint64_t)g;
    *width = w;
    return 0;
}

void probe_pcie_link_dir(const char *dev_dir, struct probe_link *l)
{
    l->gen = l->width = PROFILE_UNKNOWN;
    l->source = PCIE_SOURCE_UNKNOWN;
    if (read_link_pair(dev_dir, "max", &l->gen, &l->width) == 0)
        l->source = PCIE_SOURCE_MAX;
    else if (read_link_pair(dev_dir, "current", &l->gen, &l->width) == 0)
        l->source = PCIE_SOURCE_CURRENT;
    else
        l->gen = l->width = PROFILE_UNKNOWN;
    l->gbps = probe_pcie_gbps(l->gen, l->width);
}

/* "00000000:01:00.0" (CUDA) -> "0000:01:00.0" (sysfs); -1 if malformed. */
static int bus_id_normalize(const char *in, char *out, size_t cap)
{
    unsigned dom, bus, dev, fn;
    char extra;
    if (sscanf(in, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &extra) != 4 ||
        dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
        return -1;
    snprintf(out, cap, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return 0;
}

void probe_pcie_link(const struct probe_roots *r, const char *bus_id,
                     struct probe_link *l)
{
    char id[32], dir[PATH_MAX];
    if (!bus_id || bus_id_normalize(bus_id, id, sizeof id)) {
        probe_pcie_link_dir("/nonexistent", l);
        return;
    }
    snprintf(dir, sizeof dir, "%s/bus/pci/devices/%s", r->sysfs, id);
    probe_pcie_link_dir(dir, l);
}

/* ---- RAM and CPUs ------------------------------------------------------- */

int probe_meminfo(const struct probe_roots *r, uint64_t *total,
                  uint64_t *available, struct st_err *err)
{
    char path[PATH_MAX], line[256];
    snprintf(path, sizeof path, "%s/meminfo", r->proc);
    FILE *f = fopen(path, "r");
    if (!f)
        return st_errmsg(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned long long t = 0, a = 0, fr = 0;
    int have_t = 0, have_a = 0, have_f = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        char unit[8] = "";
        if (sscanf(line, "MemTotal: %llu %7s", &v, unit) >= 1 && strcmp(unit, "kB") == 0)
            t = v, have_t = 1;
        else if (sscanf(line, "MemAvailable: %llu %7s", &v, unit) >= 1 && strcmp(unit, "kB") == 0)
            a = v, have_a = 1;
        else if (sscanf(line, "MemFree: %llu %7s", &v, unit) >= 1 && strcmp(unit, "kB") == 0)
            fr = v, have_f = 1;
    }
    fclose(f);
    if (!have_t || t == 0)
        return st_errf(err, path, "MemTotal", "a line 'MemTotal: N kB'", "none");
    /* kernels before 3.14 have no MemAvailable: MemFree underestimates it */
    if (!have_a)
        a = have_f ? fr : 0;
    *total = t * 1024;
    *available = (a > t ? t : a) * 1024;
    return 0;
}

uint64_t probe_cpu_cores(const struct probe_roots *r)
{
    char path[PATH_MAX], line[256];
    snprintf(path, sizeof path, "%s/cpuinfo", r->proc);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t n = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "processor", 9) == 0 && (line[9] == ' ' || line[9] == '\t' || line[9] == ':'))
            n++;
    fclose(f);
    return n;
}

/* ---- the disk of a file ------------------------------------------------- */

static int is_file(const char *dir, const char *name)
{
    char p[PATH_MAX];
    if (path_join(p, sizeof p, dir, name))
        return 0;
    return access(p, F_OK) == 0;
}

/* dir := its parent when dir is a partition ("partition" file present). */
static void to_whole_disk(char *dir)
{
    if (is_file(dir, "partition")) {
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
            *slash = 0;
    }
}

/* dir := the first (by name) slave of a device-mapper / md device; 0 when
 * it moved. */
static int to_first_slave(char *dir, size_t cap)
{
    char sl[PATH_MAX], best[256] = "";
    if (path_join(sl, sizeof sl, dir, "slaves"))
        return -1;
    DIR *d = opendir(sl);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (!best[0])
        return -1;
    char p[PATH_MAX], real[PATH_MAX];
    if (path_join(p, sizeof p, sl, best) || !realpath(p, real))
        return -1;
    copy_str(dir, cap, real);
    return 0;
}

void probe_disk(const struct probe_roots *r, unsigned major, unsigned minor,
                struct probe_disk *d)
{
    memset(d, 0, sizeof *d);
    d->kind = DISK_UNKNOWN;
    strcpy(d->model, "unknown");
    probe_pcie_link_dir("/nonexistent", &d->link);

    char p[PATH_MAX], dir[PATH_MAX], v[256];
    snprintf(p, sizeof p, "%s/dev/block/%u:%u", r->sysfs, major, minor);
    if (!realpath(p, dir))
        return; /* overlay, tmpfs, a container's anonymous device */
    to_whole_disk(dir);
    for (int depth = 0; depth < 4 && to_first_slave(dir, sizeof dir) == 0; depth++)
        to_whole_disk(dir);

    const char *base = strrchr(dir, '/');
    copy_str(d->name, sizeof d->name, base ? base + 1 : dir);
    path_join(p, sizeof p, dir, "device/model");
    if (read_line(p, v, sizeof v) == 0)
        copy_str(d->model, sizeof d->model, v);

    if (strncmp(d->name, "nvme", 4) == 0) {
        d->kind = DISK_NVME;
        /* disk -> nvme controller (device) -> its PCI function (device) */
        path_join(p, sizeof p, dir, "device/device");
        probe_pcie_link_dir(p, &d->link);
        return;
    }
    /* queue/rotational means something only for SCSI/SATA disks: virtio
     * disks say 1 by default, mmc and the like say 0 */
    path_join(p, sizeof p, dir, "queue/rotational");
    if (strncmp(d->name, "sd", 2) == 0 && read_line(p, v, sizeof v) == 0) {
        if (strcmp(v, "1") == 0)
            d->kind = DISK_HDD;
        else if (strcmp(v, "0") == 0)
            d->kind = DISK_SATA_SSD;
    }
}

void probe_disk_of_file(const struct probe_roots *r, const char *path,
                        struct probe_disk *d)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        probe_disk(r, 0, 0, d); /* 0:0 never exists: unknown */
        return;
    }
    probe_disk(r, major(st.st_dev), minor(st.st_dev), d);
}

/* ---- the GPU probe's output --------------------------------------------- */

int probe_gpu_parse(const char *text, const char *name, struct profile *p,
                    char *bus_id, size_t bus_cap, struct st_err *err)
{
    static const char *need[] = {"gpu_name", "gpu_cc", "gpu_sms", "gpu_l2_bytes",
                                 "vram_bytes", "vram_free_bytes", "gpu_pci_bus_id"};
    enum { N_NEED = sizeof need / sizeof need[0] };
    int seen[N_NEED] = {0}, gpu = -1;
    char line[512];
    if (bus_cap)
        bus_id[0] = 0;
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, s, n);
        line[n] = 0;
        s = nl ? nl + 1 : s + n;
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "GPU") == 0) {
            gpu = strcmp(v, "yes") == 0 ? 1 : strcmp(v, "none") == 0 ? 0 : -2;
            if (gpu == -2)
                return st_errf(err, name, "GPU", "yes or none", "'%s'", v);
            continue;
        }
        if (strcmp(k, "reason") == 0) {
            snprintf(p->notes + strlen(p->notes), sizeof p->notes - strlen(p->notes),
                     "# gpu probe: %s\n", v);
            continue;
        }
        int i;
        for (i = 0; i < N_NEED; i++)
            if (strcmp(k, need[i]) == 0)
                break;
        if (i == N_NEED)
            continue; /* newer probes may say more */
        seen[i] = 1;
        char *end;
        unsigned long long x = strtoull(v, &end, 10);
        int num_ok = *v >= '0' && *v <= '9' && !*end;
        switch (i) {
        case 0:
            if (!*v || strlen(v) >= sizeof p->gpu_name || strcmp(v, "none") == 0)
                return st_errf(err, name, k, "a device name", "'%s'", v);
            snprintf(p->gpu_name, sizeof p->gpu_name, "%s", v);
            break;
        case 1: {
            unsigned ma, mi;
            char extra;
            if (sscanf(v, "%u.%u%c", &ma, &mi, &extra) != 2 || ma == 0 || ma > 99 || mi > 9)
                return st_errf(err, name, k, "a compute capability like 8.6", "'%s'", v);
            p->gpu_cc = ma * 10 + mi;
            break;
        }
        case 6:
            if (bus_id_normalize(v, bus_id, bus_cap))
                return st_errf(err, name, k, "a PCI bus id like 0000:01:00.0", "'%s'", v);
            break;
        default:
            if (!num_ok)
                return st_errf(err, name, k, "a non-negative integer", "'%s'", v);
            if (i == 2) p->gpu_sms = x;
            if (i == 3) p->gpu_l2_bytes = x;
            if (i == 4) p->vram_bytes = x;
            if (i == 5) p->vram_free_bytes = x;
        }
    }
    if (gpu < 0)
        return st_errf(err, name, "GPU", "a line GPU=yes or GPU=none", "no line");
    if (gpu == 0) {
        struct profile cpu;
        profile_init(&cpu);
        memcpy(cpu.notes, p->notes, sizeof cpu.notes);
        *p = cpu;
        return 0;
    }
    for (int i = 0; i < N_NEED; i++)
        if (!seen[i])
            return st_errf(err, name, need[i], "a line for it after GPU=yes", "no line");
    return 0;
}

/* ---- all of it ---------------------------------------------------------- */

static void note(struct profile *p, const char *text)
{
    size_t n = strlen(p->notes);
    snprintf(p->notes + n, sizeof p->notes - n, "%s", text);
}

/* GPUDirect Storage reads a file straight into device memory only through
 * the nvidia-fs kernel driver (it shows in procfs as the module nvidia_fs
 * and /proc/driver/nvidia-fs); without it cuFile runs in compatibility
 * mode, a bounce through host memory, which is what the tier-C reader
 * already does with several reads in flight. */
void probe_gds(const struct probe_roots *r, char *out, size_t cap)
{
    char path[PATH_MAX], line[512];
    snprintf(path, sizeof path, "%s/modules", r->proc);
    int module = 0;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        module |= strncmp(line, "nvidia_fs ", 10) == 0;
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/driver/nvidia-fs/version", r->proc);
    int driver = read_line(path, line, sizeof line) == 0;
    if (module && driver)
        snprintf(out, cap, "yes");
    else if (module)
        snprintf(out, cap, "no: nvidia_fs loaded, /proc/driver/nvidia-fs absent");
    else
        snprintf(out, cap, "no: the nvidia-fs driver is not loaded");
}

int probe_machine(const struct probe_roots *r, const char *gpu_text,
                  const char *gpu_text_name, const char *model_path,
                  struct profile *p, struct st_err *err)
{
    char bus[32] = "";
    profile_init(p);
    if (gpu_text) {
        if (probe_gpu_parse(gpu_text, gpu_text_name, p, bus, sizeof bus, err))
            return -1;
    } else {
        note(p, "# gpu probe: not run (no nvcc, or --cpu)\n");
    }
    if (profile_has_gpu(p)) {
        probe_gds(r, p->gds, sizeof p->gds);
        struct probe_link l;
        probe_pcie_link(r, bus, &l);
        p->pcie_gen = l.gen;
        p->pcie_width = l.width;
        p->pcie_source = l.source;
        p->h2d_theoretical_gbps = l.gbps;
        if (l.source == PCIE_SOURCE_CURRENT)
            note(p, "# pcie: max_link_speed/max_link_width absent, read current_link_*:\n"
                    "# an idle link (ASPM) reads slower than it is; measure with --measure.\n");
        else if (l.source == PCIE_SOURCE_UNKNOWN)
            note(p, "# pcie: sysfs shows no link for the GPU (a virtual machine?): unknown;\n"
                    "# the plan needs h2d_measured_gbps (configure --measure).\n");
    } else {
        note(p, "# no GPU: a CPU-only profile (the CPU engine runs everything).\n");
        snprintf(p->gds, sizeof p->gds, "no: no GPU");
    }
    if (probe_meminfo(r, &p->ram_bytes, &p->ram_available_bytes, err))
        return -1;
    p->cpu_cores = probe_cpu_cores(r);
    struct probe_disk d;
    probe_disk_of_file(r, model_path, &d);
    p->disk_kind = d.kind;
    snprintf(p->disk_model, sizeof p->disk_model, "%s", d.model);
    p->disk_pcie_gen = d.link.gen;
    p->disk_pcie_width = d.link.width;
    return profile_check(p, "probe", err);
}

/* ---- direct-I/O read bandwidth ------------------------------------------ */

int probe_read_bw(const char *path, uint64_t max_bytes, double *gbps,
                  struct st_err *err)
{
    /* as the tier-C reader reads (disk_reader.h): aligned requests of
     * AIO_REQUEST_BYTES, DISK_READER_DEPTH in flight, spans of two rounds */
    const uint64_t CHUNK = 2ull * DISK_READER_DEPTH * AIO_REQUEST_BYTES;
    enum { ALIGN = DISK_READER_ALIGN };
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0)
        return st_errmsg(err, "%s: cannot open with O_DIRECT: %s", path, strerror(errno));
    void *buf = NULL;
    if (posix_memalign(&buf, ALIGN, CHUNK)) {
        close(fd);
        return st_errmsg(err, "%s: out of memory for a %llu MiB buffer", path,
                         (unsigned long long)(CHUNK >> 20));
    }
    struct aio *a = aio_open(fd, path, DISK_READER_DEPTH, AIO_ANY, err);
    if (!a) {
        free(buf);
        close(fd);
        return -1;
    }
    struct timespec t0, t1;
    /* A file just written (a model fresh from strata-synth or a download)
     * has dirty pages, and a direct read first waits for their writeback:
     * without this the probe timed the writeback (1.2 GB/s on the H100
     * machine, where the tier-C reader then read 2.3-2.5 GB/s). */
    fdatasync(fd);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t total = 0;
    for (;;) {
        int64_t n = aio_read(a, buf, CHUNK, total, err);
        if (n < 0) {
            aio_close(a);
            free(buf);
            close(fd);
            return -1;
        }
        total += (uint64_t)n;
        if ((uint64_t)n < CHUNK || (max_bytes && total >= max_bytes))
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    aio_close(a);
    free(buf);
    close(fd);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (total == 0 || s <= 0)
        return st_errmsg(err, "%s: nothing read", path);
    *gbps = (double)total / s / 1e9;
    return 0;
}
