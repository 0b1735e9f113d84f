/* profile.h - the hardware facts a plan depends on, as KEY=value lines.
 *
 * A profile is written by configure's probe or by hand (profiles/NAME.profile)
 * and read back by the planner. The file is plain text: '#' comment lines,
 * then one KEY=value per line, keys sorted, no spaces around '='. It holds
 * nothing the plan does not use: no dates, no host names, so that the same
 * profile + model + options always gives the same binary.
 *
 * Units: sizes in bytes, bandwidths in GB/s (10^9 bytes per second).
 * Fields that the machine hides (PCIe link in a VM, a bandwidth that was not
 * measured) hold the word `unknown`. Without a GPU, gpu_name=none and the GPU
 * numbers are 0.
 *
 * Reading is strict: an unknown key is an error naming it (a typo in a
 * hand-written profile must not be ignored silently), and so are a missing
 * key, a repeated key, a bad number and inconsistent values. */
#ifndef STRATA_PROFILE_H
#define STRATA_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PROFILE_VERSION 1
#define PROFILE_UNKNOWN UINT64_MAX /* an integer field the machine hides */
#define PROFILE_UNKNOWN_GBPS (-1.0) /* a bandwidth nobody measured */

enum disk_kind { DISK_UNKNOWN = 0, DISK_NVME, DISK_SATA_SSD, DISK_HDD };
enum pcie_source {
    PCIE_SOURCE_UNKNOWN = 0, /* sysfs hides the link (virtual machines) */
    PCIE_SOURCE_MAX,         /* max_link_speed / max_link_width */
    PCIE_SOURCE_CURRENT      /* current_link_*: may be idling under ASPM */
};

struct profile {
    uint32_t profile_version;    /* PROFILE_VERSION */
    char gpu_name[128];          /* "NVIDIA GeForce RTX 3090", "none" */
    uint32_t gpu_cc;             /* compute capability major*10 + minor; 0 without GPU */
    uint64_t gpu_sms;            /* streaming multiprocessors */
    uint64_t gpu_l2_bytes;
    uint64_t vram_bytes;         /* total device memory */
    uint64_t vram_free_bytes;    /* free when probed (after a CUDA context exists) */
    uint64_t pcie_gen;           /* 1..6 or PROFILE_UNKNOWN */
    uint64_t pcie_width;         /* lanes or PROFILE_UNKNOWN */
    int pcie_source;             /* enum pcie_source */
    double h2d_theoretical_gbps; /* from gen x width; < 0 unknown */
    double h2d_measured_gbps;    /* pinned host -> device copy; < 0 unknown */
    double d2d_measured_gbps;    /* device memory (HBM/GDDR) read+write; < 0 unknown */
    uint64_t ram_bytes;          /* MemTotal */
    uint64_t ram_available_bytes; /* MemAvailable when probed */
    int disk_kind;               /* enum disk_kind, of the model file's disk */
    char disk_model[128];        /* "WD PC SN740 ...", "unknown" */
    uint64_t disk_pcie_gen;      /* NVMe link, PROFILE_UNKNOWN otherwise */
    uint64_t disk_pcie_width;
    double disk_read_gbps;       /* direct-I/O read of the model file; < 0 unknown */
    char gds[64];                /* GPUDirect Storage: "yes" or "no: why" */
    uint64_t cpu_cores;          /* logical CPUs */
    /* Comment lines written under the header (each line starting "# ");
     * not read back. Used by the probe to explain a fallback. */
    char notes[512];
};

/* Fills p with an empty CPU-only profile: version set, gpu_name "none",
 * numbers 0, link/bandwidths/disk unknown. */
void profile_init(struct profile *p);

/* Parses profile text (NUL-terminated); name is used in error messages
 * ("profiles/x.profile:7: gpu_sms: found 'abc', expected ..."). Runs
 * profile_check at the end. Returns 0 or -1 with err filled. */
int profile_parse(const char *text, const char *name, struct profile *p,
                  struct st_err *err);

/* Reads and parses a file. */
int profile_read(const char *path, struct profile *p, struct st_err *err);

/* Consistency: known version, free <= total, a GPU has memory and a compute
 * capability, pcie_source=unknown iff gen/width unknown. */
int profile_check(const struct profile *p, const char *name,
                  struct st_err *err);

/* Writes the profile text (header comments, notes, sorted KEY=value lines
 * each under a one-line comment) into buf. Returns the length, or -1 when
 * cap is too small (8 KiB is always enough). */
int profile_format(const struct profile *p, char *buf, size_t cap);

/* profile_format into a file. */
int profile_write(const struct profile *p, const char *path,
                  struct st_err *err);

/* True when the profile describes a GPU (gpu_name is not "none"). */
int profile_has_gpu(const struct profile *p);

/* The host -> device bandwidth the plan should use: measured when known,
 * else theoretical, else < 0. *measured (optional) says which. */
double profile_h2d_gbps(const struct profile *p, int *measured);

/* "nvme", "sata-ssd", "hdd", "unknown"; and "max", "current", "unknown". */
const char *profile_disk_kind_name(int kind);
const char *profile_pcie_source_name(int source);

/* The key table, sorted (exposed for tests). */
size_t profile_key_count(void);
const char *profile_key_name(size_t i);

#endif
