# strata hardware profile: what the tier plan depends on (see profile.h).
# KEY=value, keys sorted; sizes in bytes, bandwidths in GB/s (10^9 B/s);
# unknown = hidden by the machine or not measured. Written by ./configure
# or by hand; the same profile + model + options gives the same binary.
# An RTX 5060 Ti 16 GB on a Gen5 x8 link (31.5 GB/s theoretical), 32 GB DDR5.
# Not measured: run ./configure --measure on the box to fill h2d/d2d/disk.

# logical CPUs (/proc/cpuinfo); CPU engine threads
cpu_cores=unknown

# device memory bandwidth, GB/s (read + write of a device copy); bounds tier A
d2d_measured_gbps=unknown

# disk holding the model file: nvme | sata-ssd | hdd | unknown
disk_kind=unknown

# that disk's model name (sysfs device/model)
disk_model=unknown

# NVMe controller PCIe generation
disk_pcie_gen=unknown

# NVMe controller PCIe lanes
disk_pcie_width=unknown

# direct-I/O read of the model file, GB/s (8 MiB requests, 8 in flight); bounds tier C
disk_read_gbps=unknown

# GPUDirect Storage (the nvidia-fs driver): yes | no: why
gds=no: the nvidia-fs driver is not loaded

# compute capability (0.0 without a GPU)
gpu_cc=12.0

# L2 cache, bytes
gpu_l2_bytes=33554432

# device 0 as the driver names it; none = CPU only
gpu_name=NVIDIA GeForce RTX 5060 Ti

# streaming multiprocessors
gpu_sms=36

# pinned host -> device copy, GB/s (configure --measure); bounds tier B
h2d_measured_gbps=unknown

# PCIe generation x width, GB/s (used when nothing was measured)
h2d_theoretical_gbps=31.50

# GPU link generation
pcie_gen=5

# where pcie_gen/width came from: max (max_link_*) | current (current_link_*) | unknown
pcie_source=max

# GPU link lanes
pcie_width=8

# format of this file
profile_version=1

# MemAvailable when probed, bytes
ram_available_bytes=30720000000

# MemTotal, bytes
ram_bytes=33376256000

# device memory, bytes
vram_bytes=16618356736

# device memory free when probed (CUDA context included), bytes
vram_free_bytes=16305356800
