#!/bin/sh
# bench/gemv-ncu.sh - why a GEMV shape runs below the HBM floor: Nsight
# Compute's throughput, occupancy, scheduler and warp-stall sections for
# the generated kernels of the given shapes (one launch each, without and
# with the epilogue). For the GPU machine, after make build-gpu.
#
#   sh bench/gemv-ncu.sh OUTDIR "TYPE ROWS COLS [swiglu]"...
# e.g. sh bench/gemv-ncu.sh build/ncu "Q4_K 4096 14336" "Q4_K 14336 4096 swiglu"
# Every shape must be in tests/gpu/gemv-test.list (only those have kernels).
set -eu
out=$1
shift
mkdir -p "$out"
list="$out/shapes.list"
: >"$list"
for s in "$@"; do echo "$s" >>"$list"; done
ncu --clock-control none -k regex:gemv \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
    --section SchedulerStats --section WarpStateStats --section LaunchStats \
    --section ComputeWorkloadAnalysis \
    ./build/gpu/bin/test_gemv --check-only "$list" >"$out/ncu.txt" 2>&1
# The lines that say where the time goes, per launch.
grep -E "gemv_|Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Issue Slots Busy|No Eligible|Active Warps Per|Eligible Warps|Warp Cycles Per Issued|Stall|Executed Ipc A|Waves Per SM|Grid Size|Block Size" \
    "$out/ncu.txt" | sed 's/  */ /g' | head -400
