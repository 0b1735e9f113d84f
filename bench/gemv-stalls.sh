#!/bin/sh
# bench/gemv-stalls.sh - where a GEMV's warps wait: Nsight Compute's
# per-issue stall ratios (cycles a warp spends stalled on each reason per
# instruction it issues), issue activity and DRAM throughput, one launch
# per shape (plain, no epilogue), with the instructions executed and the
# shared-memory bank conflicts. For the GPU machine, after make build-gpu;
# BUILD=build/var-NAME profiles a build of bench/gemv-variants.sh instead.
#
#   [BUILD=DIR] sh bench/gemv-stalls.sh OUTDIR "TYPE ROWS COLS [swiglu]"...
set -eu
out=$1
shift
mkdir -p "$out"
list="$out/shapes.list"
: >"$list"
for s in "$@"; do echo "$s" >>"$list"; done
st=smsp__average_warps_issue_stalled
m="gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,sm__warps_active.avg.per_cycle_active"
m="$m,smsp__warps_eligible.avg.per_cycle_active,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum"
for r in long_scoreboard short_scoreboard lg_throttle mio_throttle wait not_selected math_pipe_throttle barrier membar no_instruction dispatch_stall drain selected imc_miss branch_resolving tex_throttle; do
    m="$m,${st}_${r}_per_issue_active.ratio"
done
# one launch per case: the plain run (the epilogue check runs second)
ncu --clock-control none -k regex:gemv --launch-skip-before-match 0 --metrics "$m" --csv --page raw \
    "${BUILD:-build}/gpu/bin/test_gemv" --check-only "$list" >"$out/stalls.csv" 2>"$out/stalls.err" || true
# a table: one row per launch, the metric columns shortened
awk -F'","' '
    $1 == "\"ID" { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); name[i] = $i; col[$i] = i }; next }
    $1 ~ /^"[0-9]+$/ {
        k = $(col["Kernel Name"]); sub(/\(.*/, "", k); sub(/^void /, "", k)
        printf "%s", k
        for (i = 1; i <= NF; i++) if (name[i] ~ /^(smsp__average_warps_issue_stalled|gpu__time_duration.sum|dram__throughput.avg|smsp__issue_active.avg|sm__warps_active.avg|smsp__warps_eligible.avg|sm__inst_executed.sum|l1tex__data_bank_conflicts)/) {
            n = name[i]; sub(/smsp__average_warps_issue_stalled_/, "", n); sub(/_per_issue_active.ratio/, "", n)
            sub(/\.avg.*|\.sum/, "", n)
            v = $i; gsub(/"/, "", v)
            if (v + 0 >= 0.2 || n ~ /time|dram|issue|warps|inst|conflicts/) printf " %s=%s", n, v # stalls under 0.2: noise
        }
        printf "\n"
    }' "$out/stalls.csv"
