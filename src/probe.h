/* probe.h - what the machine is, read from sysfs and procfs.
 *
 * Every probe reads through a root prefix (struct probe_roots: "/sys" and
 * "/proc" on a real machine, a fixture tree under tests/fixtures/ in tests),
 * so the same code runs against a 3090 box, a VM and a laptop in CI.
 *
 * The GPU itself is probed by kernels/probe/gpu_probe.cu (built with nvcc by
 * configure); its KEY=value output is parsed here (probe_gpu_parse). Where
 * there is no driver or no GPU it prints GPU=none and the profile says CPU.
 *
 * PCIe: max_link_speed / max_link_width of the GPU's PCI function. The
 * current_* files drop to 2.5 GT/s when ASPM idles the link, which once made
 * an engine's bandwidth estimate wrong by 4x, so they are read only where
 * max_* are absent (and the profile says so). Where sysfs hides the link
 * (virtual machines) the link is `unknown`. */
#ifndef STRATA_PROBE_H
#define STRATA_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "profile.h"

struct probe_roots {
    const char *sysfs; /* "/sys" */
    const char *proc;  /* "/proc" */
};

/* "/sys" and "/proc", or $STRATA_SYSFS_ROOT / $STRATA_PROC_ROOT when set. */
void probe_roots_default(struct probe_roots *r);

struct probe_link {
    uint64_t gen;   /* 1..6, PROFILE_UNKNOWN where hidden */
    uint64_t width; /* lanes, PROFILE_UNKNOWN where hidden */
    int source;     /* enum pcie_source */
    double gbps;    /* theoretical one-way bandwidth, < 0 when unknown */
};

/* Theoretical one-direction bandwidth in GB/s of a PCIe link after line
 * coding: per lane Gen1 0.25, Gen2 0.5, Gen3 0.985, Gen4 1.969, Gen5 3.938,
 * Gen6 7.563; x8 Gen3 = 7.88, x16 Gen5 = 63.0. < 0 when gen is unknown. */
double probe_pcie_gbps(uint64_t gen, uint64_t width);

/* Generation of a sysfs link speed text ("8.0 GT/s PCIe", "2.5 GT/s"):
 * 2.5->1, 5->2, 8->3, 16->4, 32->5, 64->6; 0 when not recognized. */
int probe_speed_gen(const char *text);

/* Reads the link of the PCI function in directory dev_dir (an absolute or
 * root-relative path already prefixed with the sysfs root). Never fails:
 * missing files give an unknown link. */
void probe_pcie_link_dir(const char *dev_dir, struct probe_link *l);

/* The link of PCI function bus_id ("00000000:01:00.0" as CUDA prints it or
 * "0000:01:00.0" as sysfs names it) under sysfs/bus/pci/devices/. */
void probe_pcie_link(const struct probe_roots *r, const char *bus_id,
                     struct probe_link *l);

/* MemTotal and MemAvailable (bytes) from proc/meminfo. */
int probe_meminfo(const struct probe_roots *r, uint64_t *total,
                  uint64_t *available, struct st_err *err);

/* Logical CPUs ("processor" lines of proc/cpuinfo); 0 when unreadable. */
uint64_t probe_cpu_cores(const struct probe_roots *r);

struct probe_disk {
    int kind;             /* enum disk_kind */
    char name[64];        /* "nvme0n1", "sda"; "" when not found */
    char model[128];      /* "unknown" when not found */
    struct probe_link link; /* of an NVMe controller; unknown otherwise */
};

/* The disk behind block device MAJ:MIN: sysfs/dev/block/MAJ:MIN resolved,
 * a partition's parent taken, device-mapper slaves followed. Never fails:
 * an unknown device (overlay, tmpfs) gives kind unknown. */
void probe_disk(const struct probe_roots *r, unsigned major, unsigned minor,
                struct probe_disk *d);

/* The disk holding path (stat st_dev). */
void probe_disk_of_file(const struct probe_roots *r, const char *path,
                        struct probe_disk *d);

/* Parses the output of kernels/probe/gpu_probe.cu (KEY=value lines: GPU=yes|none,
 * gpu_name, gpu_cc, gpu_sms, gpu_l2_bytes, vram_bytes, vram_free_bytes,
 * gpu_pci_bus_id) into p (GPU fields only) and bus_id. GPU=none leaves the
 * CPU profile's values. name is used in errors. */
int probe_gpu_parse(const char *text, const char *name, struct profile *p,
                    char *bus_id, size_t bus_cap, struct st_err *err);

/* Everything at once: GPU text (NULL = no GPU probe ran), its PCIe link,
 * RAM, CPUs and the disk of model_path (NULL: unknown). Fills p (with notes
 * explaining fallbacks). */
int probe_machine(const struct probe_roots *r, const char *gpu_text,
                  const char *gpu_text_name, const char *model_path,
                  struct profile *p, struct st_err *err);

/* Reads the first max_bytes of path (0: all of it) with O_DIRECT, 16 MiB
 * aligned requests, and returns GB/s in *gbps. Files the page cache already
 * holds are read from the disk anyway (that is what O_DIRECT is for). */
/* GPUDirect Storage: "yes", or "no: why" (the nvidia-fs driver is what
 * makes cuFile read straight into device memory). */
void probe_gds(const struct probe_roots *r, char *out, size_t cap);

int probe_read_bw(const char *path, uint64_t max_bytes, double *gbps,
                  struct st_err *err);

#endif
