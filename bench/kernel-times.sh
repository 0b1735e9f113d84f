#!/bin/sh
# bench/kernel-times.sh - where the GPU time of one strata run goes: every
# kernel timed by Nsight Compute (one metric, gpu__time_duration, clocks
# left alone), summed by kernel name, largest first. For the GPU machine.
#
#   sh bench/kernel-times.sh OUTFILE EXE ARGS...
# e.g. sh bench/kernel-times.sh build/k.txt build/bench-8b-resident/strata \
#          -m MODEL --prompt-tokens 512 -n 1 --temp 0
# Writes the raw per-launch CSV to OUTFILE.csv and the table to OUTFILE
# (also printed): launches, total us, mean us, name.
set -eu
out=$1
shift
ncu --clock-control none --metrics gpu__time_duration.sum --csv --page raw \
    --log-file "$out.csv" "$@" >"$out.log" 2>&1
# The CSV's fields are quoted; the kernel name is the field named "Kernel
# Name", the time the one named gpu__time_duration.sum (ns; row 2: units).
awk -F'","' '
    $1 == "\"ID" { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); col[$i] = i }; next }
    !("Kernel Name" in col) || $1 !~ /^"[0-9]+$/ { next }
    {
        name = $(col["Kernel Name"]); sub(/^void /, "", name); sub(/\(.*/, "", name); sub(/<.*/, "", name)
        t = $(col["gpu__time_duration.sum"]); gsub(/[",]/, "", t)
        n[name]++; s[name] += t; total += t
    }
    END {
        for (k in s) printf "%8d %12.1f %10.2f  %s\n", n[k], s[k] / 1e3, s[k] / n[k] / 1e3, k
        printf "%8s %12.1f %10s  %s\n", "", total / 1e3, "", "(all kernels, us)"
    }' "$out.csv" | sort -k2 -n -r >"$out"
cat "$out"
