# strata hardware profile: what the tier plan depends on (see profile.h).
# KEY=value, keys sorted; sizes in bytes, bandwidths in GB/s (10^9 B/s);
# unknown = hidden by the machine or not measured. Written by ./configure
# or by hand; the same profile + model + options gives the same binary.
# An H100 80GB (HBM3) with 128 GiB of RAM and 16 CPUs, the benchmark machine
# of issues 5-7. Bandwidths measured there by configure --measure
# (kernels/probe/bw_probe.cu, median of 7 copies of 1 GiB; direct-I/O read of
# a 40 GB model file on its virtio disk: 0.7-1.3 GB/s over three runs);
# link generation and width from the data sheet.

# logical CPUs (/proc/cpuinfo); CPU engine threads
cpu_cores=16

# device memory bandwidth, GB/s (read + write of a device copy); bounds tier A
d2d_measured_gbps=2996

# disk holding the model file: nvme | sata-ssd | hdd | unknown
disk_kind=unknown

# that disk's model name (sysfs device/model)
disk_model=unknown

# NVMe controller PCIe generation
disk_pcie_gen=unknown

# NVMe controller PCIe lanes
disk_pcie_width=unknown

# direct-I/O read of the model file, GB/s (8 MiB requests, 8 in flight); bounds tier C
disk_read_gbps=1.0

# GPUDirect Storage (the nvidia-fs driver): yes | no: why
gds=no: the nvidia-fs driver is not loaded

# compute capability (0.0 without a GPU)
gpu_cc=9.0

# L2 cache, bytes
gpu_l2_bytes=52428800

# device 0 as the driver names it; none = CPU only
gpu_name=NVIDIA H100 80GB HBM3

# streaming multiprocessors
gpu_sms=132

# pinned host -> device copy, GB/s (configure --measure); bounds tier B
h2d_measured_gbps=54.8

# PCIe generation x width, GB/s (used when nothing was measured)
h2d_theoretical_gbps=63.01

# GPU link generation
pcie_gen=5

# where pcie_gen/width came from: max (max_link_*) | current (current_link_*) | unknown
pcie_source=max

# GPU link lanes
pcie_width=16

# format of this file
profile_version=1

# MemAvailable when probed, bytes
ram_available_bytes=128849018880

# MemTotal, bytes
ram_bytes=137438953472

# device memory, bytes
vram_bytes=85520809984

# device memory free when probed (CUDA context included), bytes
vram_free_bytes=84974239744
