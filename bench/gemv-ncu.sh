#!/bin/sh
# bench/gemv-ncu.sh - Nsight Compute's view of one GEMV shape in variants
# built by bench/gemv-variants.sh (build/var-NAME): duration, DRAM and SM
# throughput, issue activity, warps per scheduler, the main stall reasons
# per issued instruction, instructions executed and shared-memory bank
# conflicts, one block of lines per variant. For the GPU machine.
#
#   sh bench/gemv-ncu.sh "TYPE ROWS COLS [swiglu]" NAME...
set -eu
list=build/ncu-shape.list
echo "$1" >"$list"
shift
st=smsp__average_warps_issue_stalled
m="gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed"
m="$m,sm__throughput.avg.pct_of_peak_sustained_elapsed,smsp__issue_active.avg.pct_of_peak_sustained_active"
m="$m,smsp__warps_active.avg.per_cycle_active,smsp__warps_eligible.avg.per_cycle_active,sm__inst_executed.sum"
m="$m,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum"
m="$m,launch__registers_per_thread,smsp__cycles_active.avg,gpc__cycles_elapsed.avg.per_second"
for r in long_scoreboard short_scoreboard wait barrier membar sleeping mio_throttle lg_throttle \
    math_pipe_throttle not_selected selected branch_resolving dispatch_stall no_instruction; do
    m="$m,${st}_${r}_per_issue_active.ratio"
done
for v in "$@"; do
    echo "=== $v"
    ncu --clock-control none -k regex:gemv --launch-count 1 --metrics "$m" \
        "build/var-$v/gpu/bin/test_gemv" --check-only "$list" 2>&1 |
        awk '$1 ~ /^(gpu__|dram__|sm__|smsp__|l1tex__|launch__|gpc__)/ {
                 n = $1; sub(/smsp__average_warps_issue_stalled_/, "stall_", n)
                 sub(/_per_issue_active.ratio/, "", n); printf "  %-58s %s %s\n", n, $2, $3 }'
done
