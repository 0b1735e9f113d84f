/* test_probe.c - the probes against fake sysfs/procfs trees
 * (tests/fixtures/NAME/{sys,proc,gpu.txt}), and configure's option errors. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

#define FIX "tests/fixtures/"

static struct probe_roots roots(const char *name)
{
    static char sys[4][256], proc[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(sys[k], sizeof sys[k], FIX "%s/sys", name);
    snprintf(proc[k], sizeof proc[k], FIX "%s/proc", name);
    return (struct probe_roots){sys[k], proc[k]};
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_link_tables(void)
{
    CU_ASSERT_EQUAL(probe_speed_gen("2.5 GT/s PCIe"), 1);
    CU_ASSERT_EQUAL(probe_speed_gen("5.0 GT/s PCIe"), 2);
    CU_ASSERT_EQUAL(probe_speed_gen("8.0 GT/s PCIe"), 3);
    CU_ASSERT_EQUAL(probe_speed_gen("16.0 GT/s PCIe"), 4);
    CU_ASSERT_EQUAL(probe_speed_gen("32.0 GT/s PCIe"), 5);
    CU_ASSERT_EQUAL(probe_speed_gen("8 GT/s"), 3); /* older kernels */
    CU_ASSERT_EQUAL(probe_speed_gen("Unknown"), 0);
    CU_ASSERT_EQUAL(probe_speed_gen("8.0 MT/s"), 0);
    /* GB/s per lane after line coding x lanes: 8 GT/s x 128/130 / 8 bits */
    CU_ASSERT_DOUBLE_EQUAL(probe_pcie_gbps(3, 8), 8.0 * 128 / 130 / 8 * 8, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(probe_pcie_gbps(5, 16), 32.0 * 128 / 130 / 8 * 16, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(probe_pcie_gbps(1, 16), 2.5 * 8 / 10 / 8 * 16, 0.01);
    CU_ASSERT_TRUE(probe_pcie_gbps(PROFILE_UNKNOWN, 8) < 0);
}

static void test_3090_aspm_reads_max(void)
{
    /* current_link_speed says 2.5 GT/s (ASPM idle); max says 8 GT/s x8 */
    struct probe_roots r = roots("rtx3090-gen3x8");
    struct probe_link l;
    probe_pcie_link(&r, "00000000:01:00.0", &l); /* CUDA's spelling */
    CU_ASSERT_EQUAL(l.gen, 3);
    CU_ASSERT_EQUAL(l.width, 8);
    CU_ASSERT_EQUAL(l.source, PCIE_SOURCE_MAX);
    CU_ASSERT_DOUBLE_EQUAL(l.gbps, 7.88, 0.01);
    probe_pcie_link(&r, "0000:01:00.0", &l); /* sysfs' spelling */
    CU_ASSERT_EQUAL(l.gen, 3);

    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(probe_machine(&r, slurp(FIX "rtx3090-gen3x8/gpu.txt"), "gpu.txt", NULL,
                                        &p, &e), 0);
    CU_ASSERT_STRING_EQUAL(p.gpu_name, "NVIDIA GeForce RTX 3090");
    CU_ASSERT_EQUAL(p.gpu_cc, 86);
    CU_ASSERT_EQUAL(p.gpu_sms, 82);
    CU_ASSERT_EQUAL(p.vram_bytes, 25447170048ull);
    CU_ASSERT_EQUAL(p.pcie_gen, 3);
    CU_ASSERT_EQUAL(p.pcie_width, 8);
    CU_ASSERT_EQUAL(p.pcie_source, PCIE_SOURCE_MAX);
    CU_ASSERT_DOUBLE_EQUAL(p.h2d_theoretical_gbps, 7.88, 0.01);
    CU_ASSERT_EQUAL(p.ram_bytes, 49283072ull * 1024);
    CU_ASSERT_EQUAL(p.ram_available_bytes, 46137344ull * 1024);
    CU_ASSERT_EQUAL(p.cpu_cores, 16);
    CU_ASSERT_EQUAL(p.disk_kind, DISK_UNKNOWN); /* no model file given */
}

static void test_current_only(void)
{
    struct probe_roots r = roots("current-only");
    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(probe_machine(&r, slurp(FIX "current-only/gpu.txt"), "gpu.txt", NULL,
                                        &p, &e), 0);
    CU_ASSERT_EQUAL(p.pcie_gen, 4);
    CU_ASSERT_EQUAL(p.pcie_width, 16);
    CU_ASSERT_EQUAL(p.pcie_source, PCIE_SOURCE_CURRENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.notes, "current_link"));
}

static void test_vm_without_link(void)
{
    struct probe_roots r = roots("vm-no-link");
    struct probe_link l;
    probe_pcie_link(&r, "00000000:00:05.0", &l); /* no link files at all */
    CU_ASSERT_EQUAL(l.gen, PROFILE_UNKNOWN);
    CU_ASSERT_EQUAL(l.width, PROFILE_UNKNOWN);
    CU_ASSERT_EQUAL(l.source, PCIE_SOURCE_UNKNOWN);
    CU_ASSERT_TRUE(l.gbps < 0);
    probe_pcie_link(&r, "0000:00:06.0", &l); /* "Unknown" speed, width 255 */
    CU_ASSERT_EQUAL(l.source, PCIE_SOURCE_UNKNOWN);
    probe_pcie_link(&r, "0000:00:07.0", &l); /* no such device */
    CU_ASSERT_EQUAL(l.source, PCIE_SOURCE_UNKNOWN);

    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(probe_machine(&r, slurp(FIX "vm-no-link/gpu.txt"), "gpu.txt", NULL,
                                        &p, &e), 0);
    CU_ASSERT_EQUAL(p.pcie_source, PCIE_SOURCE_UNKNOWN);
    CU_ASSERT_TRUE(p.h2d_theoretical_gbps < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.notes, "unknown"));
    /* an old kernel's meminfo: no MemAvailable, MemFree stands in */
    CU_ASSERT_EQUAL(p.ram_bytes, 247463936ull * 1024);
    CU_ASSERT_EQUAL(p.ram_available_bytes, 200000000ull * 1024);
    /* the profile it writes reads back */
    char buf[8192];
    struct profile q;
    CU_ASSERT_FATAL(profile_format(&p, buf, sizeof buf) > 0);
    CU_ASSERT_EQUAL(profile_parse(buf, "vm", &q, &e), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\npcie_gen=unknown\n"));
}

static void test_no_gpu(void)
{
    struct probe_roots r = roots("nogpu-sata");
    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(probe_machine(&r, slurp(FIX "nogpu-sata/gpu.txt"), "gpu.txt", NULL,
                                        &p, &e), 0);
    CU_ASSERT_FALSE(profile_has_gpu(&p));
    CU_ASSERT_EQUAL(p.vram_bytes, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.notes, "no CUDA-capable device is detected"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.notes, "CPU-only"));
    CU_ASSERT_EQUAL(p.ram_bytes, 16303412ull * 1024);
    CU_ASSERT_EQUAL(p.cpu_cores, 4);
    /* and no GPU probe at all (no nvcc) */
    CU_ASSERT_EQUAL(probe_machine(&r, NULL, NULL, NULL, &p, &e), 0);
    CU_ASSERT_FALSE(profile_has_gpu(&p));
}


/* GPUDirect Storage: "yes" only with the nvidia-fs module and its procfs
 * directory; a machine without them says why not. */
static void test_gds(void)
{
    char out[64];
    struct probe_roots r = roots("rtx3090-gen3x8");
    probe_gds(&r, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "yes");
    r = roots("vm-no-link"); /* nvidia and nvidia_uvm only */
    probe_gds(&r, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "no: the nvidia-fs driver is not loaded");
    r = roots("current-only"); /* the module without /proc/driver/nvidia-fs */
    probe_gds(&r, out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no: "));
    r = roots("nogpu-sata"); /* no modules file at all */
    probe_gds(&r, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "no: the nvidia-fs driver is not loaded");
    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(probe_machine(&r, slurp(FIX "nogpu-sata/gpu.txt"), "gpu.txt", NULL,
                                        &p, &e), 0);
    CU_ASSERT_STRING_EQUAL(p.gds, "no: no GPU");
}
static void test_gpu_text_errors(void)
{
    struct profile p;
    char bus[32];
    struct st_err e = {""};
    profile_init(&p);
    CU_ASSERT_EQUAL(probe_gpu_parse("GPU=yes\ngpu_name=X\n", "g.txt", &p, bus, sizeof bus, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "g.txt: gpu_cc: found no line"));
    CU_ASSERT_EQUAL(probe_gpu_parse("gpu_name=X\n", "g.txt", &p, bus, sizeof bus, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "g.txt: GPU: found no line"));
    CU_ASSERT_EQUAL(probe_gpu_parse("GPU=yes\ngpu_sms=many\n", "g.txt", &p, bus, sizeof bus, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "gpu_sms: found 'many'"));
    CU_ASSERT_EQUAL(probe_gpu_parse("GPU=yes\ngpu_pci_bus_id=01:00\n", "g.txt", &p, bus, sizeof bus, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "gpu_pci_bus_id: found '01:00'"));
}

static void test_disks(void)
{
    struct probe_disk d;
    struct probe_roots r = roots("rtx3090-gen3x8");
    probe_disk(&r, 259, 2, &d); /* nvme0n1p2 */
    CU_ASSERT_EQUAL(d.kind, DISK_NVME);
    CU_ASSERT_STRING_EQUAL(d.name, "nvme0n1");
    CU_ASSERT_STRING_EQUAL(d.model, "WD PC SN740 SDDPNQD-1T00-1006");
    CU_ASSERT_EQUAL(d.link.gen, 4);
    CU_ASSERT_EQUAL(d.link.width, 4);

    r = roots("nogpu-sata");
    probe_disk(&r, 8, 1, &d); /* sda1 */
    CU_ASSERT_EQUAL(d.kind, DISK_SATA_SSD);
    CU_ASSERT_STRING_EQUAL(d.name, "sda");
    CU_ASSERT_STRING_EQUAL(d.model, "Samsung SSD 860 EVO 1TB");
    CU_ASSERT_EQUAL(d.link.source, PCIE_SOURCE_UNKNOWN);
    probe_disk(&r, 8, 16, &d); /* sdb, whole disk */
    CU_ASSERT_EQUAL(d.kind, DISK_HDD);
    CU_ASSERT_STRING_EQUAL(d.model, "ST2000DM008-2FR102");
    probe_disk(&r, 253, 0, &d); /* dm-0 on sda2 */
    CU_ASSERT_EQUAL(d.kind, DISK_SATA_SSD);
    CU_ASSERT_STRING_EQUAL(d.name, "sda");
    probe_disk(&r, 7, 0, &d); /* not there (overlay, tmpfs) */
    CU_ASSERT_EQUAL(d.kind, DISK_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(d.model, "unknown");

    r = roots("vm-no-link");
    probe_disk(&r, 252, 1, &d); /* virtio: rotational=1 means nothing */
    CU_ASSERT_EQUAL(d.kind, DISK_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(d.name, "vda");
}

static void test_meminfo_missing(void)
{
    struct probe_roots r = {FIX "none/sys", FIX "none/proc"};
    uint64_t t, a;
    struct st_err e = {""};
    CU_ASSERT_EQUAL(probe_meminfo(&r, &t, &a, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "meminfo"));
}

/* ---- configure's option errors ------------------------------------------ */

/* Runs configure with args; returns its exit status and its stderr's first
 * line in line (and the number of stderr lines in *n_lines). */
static int run_configure(const char *args, char *line, size_t cap, int *n_lines)
{
    char err_path[128], cmd[1024];
    snprintf(err_path, sizeof err_path, "/tmp/strata-test-configure-%d.err", (int)getpid());
    snprintf(cmd, sizeof cmd, "BUILD=/tmp/strata-test-configure-%d sh ./configure %s >/dev/null 2>%s",
             (int)getpid(), args, err_path);
    int st = system(cmd);
    line[0] = 0;
    *n_lines = 0;
    FILE *f = fopen(err_path, "r");
    if (f) {
        char buf[1024];
        while (fgets(buf, sizeof buf, f)) {
            if (!(*n_lines)++)
                snprintf(line, cap, "%s", buf);
        }
        fclose(f);
        remove(err_path);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_refused(const char *args, const char *want)
{
    char line[1024];
    int n;
    int rc = run_configure(args, line, sizeof line, &n);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, want));
    if (rc != 1 || n != 1 || !strstr(line, want))
        printf("\n  configure %s: rc %d, %d lines, first: %s", args, rc, n, line);
}

static void test_configure_options(void)
{
    expect_refused("--ctx abc", "configure: --ctx: found 'abc', expected a positive integer");
    expect_refused("--ctx=0", "configure: --ctx: found '0', expected a positive integer");
    expect_refused("--ctx -5", "configure: --ctx: found '-5', expected a positive integer");
    expect_refused("--ctx", "configure: --ctx: found nothing, expected a value");
    expect_refused("--slots 9", "configure: --slots: found '9', expected an integer from 1 to 8");
    expect_refused("--profile profiles/cpu-only.profile --stream-type iq2_xxs",
                   "--stream-type: found 'iq2_xxs', expected a type the quantizer writes");
    expect_refused("--vram-budget 22X", "configure: --vram-budget: found '22X', expected a size");
    expect_refused("--ram-budget=1.5", "configure: --ram-budget: found '1.5', expected a size");
    expect_refused("--vram-budget 0G", "configure: --vram-budget: found '0G', expected a size");
    expect_refused("--bogus", "configure: option: found '--bogus', expected one of the options");
    expect_refused("--cpu=yes", "configure: --cpu: found 'yes', expected no value");
    expect_refused("--model /nonexistent.gguf",
                   "configure: --model: found '/nonexistent.gguf', expected a readable GGUF file");
    expect_refused("--profile nope.profile", "configure: --profile: found 'nope.profile'");
    expect_refused("--name 'a/b'", "configure: --name: found 'a/b', expected letters");
    expect_refused("--sysfs-root /nonexistent", "configure: --sysfs-root: found '/nonexistent', expected a directory");
    char line[1024];
    int n;
    CU_ASSERT_EQUAL(run_configure("--help", line, sizeof line, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
}

void suite_probe(void)
{
    CU_pSuite s = CU_add_suite("probe", NULL, NULL);
    CU_add_test(s, "PCIe tables", test_link_tables);
    CU_add_test(s, "3090 Gen3 x8 idling at 2.5 GT/s reads Gen3 x8", test_3090_aspm_reads_max);
    CU_add_test(s, "only current_link_*: used and said", test_current_only);
    CU_add_test(s, "VM without link files: unknown", test_vm_without_link);
    CU_add_test(s, "no GPU: a CPU profile", test_no_gpu);
    CU_add_test(s, "GPUDirect Storage: yes only with the nvidia-fs driver", test_gds);
    CU_add_test(s, "GPU probe output errors", test_gpu_text_errors);
    CU_add_test(s, "NVMe, SATA SSD, HDD, dm, virtio disks", test_disks);
    CU_add_test(s, "no meminfo", test_meminfo_missing);
    CU_add_test(s, "configure: one line per bad option", test_configure_options);
}
