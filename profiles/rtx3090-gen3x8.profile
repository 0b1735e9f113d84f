# strata hardware profile: what the tier plan depends on (see profile.h).
# KEY=value, keys sorted; sizes in bytes, bandwidths in GB/s (10^9 B/s);
# unknown = hidden by the machine or not measured. Written by ./configure
# or by hand; the same profile + model + options gives the same binary.
# The RTX 3090 box of the original roadmap: GPU in a Gen3 x8 slot, 48 GB DDR4,
# WD SN740 NVMe. H2D 6.5 GB/s and disk 3.35 GB/s measured there (82% of
# the link); VRAM figures as cudaMemGetInfo gives them on a headless 3090.

# logical CPUs (/proc/cpuinfo); CPU engine threads
cpu_cores=unknown

# device memory bandwidth, GB/s (read + write of a device copy); bounds tier A
d2d_measured_gbps=unknown

# disk holding the model file: nvme | sata-ssd | hdd | unknown
disk_kind=nvme

# that disk's model name (sysfs device/model)
disk_model=WD PC SN740 SDDPNQD-1T00-1006

# NVMe controller PCIe generation
disk_pcie_gen=4

# NVMe controller PCIe lanes
disk_pcie_width=4

# direct-I/O read of the model file, GB/s (8 MiB requests, 8 in flight); bounds tier C
disk_read_gbps=3.35

# GPUDirect Storage (the nvidia-fs driver): yes | no: why
gds=no: the nvidia-fs driver is not loaded

# compute capability (0.0 without a GPU)
gpu_cc=8.6

# L2 cache, bytes
gpu_l2_bytes=6291456

# device 0 as the driver names it; none = CPU only
gpu_name=NVIDIA GeForce RTX 3090

# streaming multiprocessors
gpu_sms=82

# pinned host -> device copy, GB/s (configure --measure); bounds tier B
h2d_measured_gbps=6.50

# PCIe generation x width, GB/s (used when nothing was measured)
h2d_theoretical_gbps=7.88

# GPU link generation
pcie_gen=3

# where pcie_gen/width came from: max (max_link_*) | current (current_link_*) | unknown
pcie_source=max

# GPU link lanes
pcie_width=8

# format of this file
profile_version=1

# MemAvailable when probed, bytes
ram_available_bytes=47244640256

# MemTotal, bytes
ram_bytes=50465865728

# device memory, bytes
vram_bytes=25447170048

# device memory free when probed (CUDA context included), bytes
vram_free_bytes=25133137920
