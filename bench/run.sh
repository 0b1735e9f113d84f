#!/bin/sh
# bench/run.sh - strata's one benchmark entry point (meant for the GPU
# machine; runs on a CPU-only machine too, measuring the CPU engine).
#
#   bench/run.sh [CASE...]        default: the standard set
#   CASES: 8b-resident 8b-stream4g 70b-stream22g 1b-resident
#          8b-q8_0 8b-q6_k 8b-q4_0 8b-ctx4096
#          8b-disk 70b-disk (RAM budgets too small: tier C from the file)
#
# In one call it: measures the machine (configure --measure:
# kernels/probe/bw_probe.cu for pinned/pageable H2D, D2H, D2D, and a
# direct-I/O read of a model file) into profiles/bench-machine.profile,
# writes the synthetic models it needs (cached under $STRATA_BENCH_MODELS,
# default /tmp/strata-models, by name and seed), configures and builds
# strata per case, runs decode and prefill, and prints a markdown table
# last (the same rows as JSON in $STRATA_BENCH_OUT/bench.json).
#
# Environment: STRATA_BENCH_GEN (tokens generated, default 128),
# STRATA_BENCH_PROMPT (prefill prompt tokens, default 1024: the first
# 512-token chunk and the rest are reported apart), STRATA_BENCH_REPS
# (repeats, default 3); for the streamed cases STRATA_BENCH_STREAM_GEN /
# _PROMPT / _REPS (32, 1024, 2);
# STRATA_BENCH_OUT (default build/bench), STRATA_BENCH_SEED (default 1).
set -eu

cd "$(dirname "$0")/.."
OUTDIR=${STRATA_BENCH_OUT:-build/bench}
MODELS=${STRATA_BENCH_MODELS:-/tmp/strata-models}
GEN=${STRATA_BENCH_GEN:-128}
PROMPT_N=${STRATA_BENCH_PROMPT:-1024}
REPS=${STRATA_BENCH_REPS:-3}
# Streamed cases run at the link's speed (a 70B token is ~0.4 s on an H100's
# PCIe link): fewer tokens, so the standard set stays inside 10 minutes.
SGEN=${STRATA_BENCH_STREAM_GEN:-32}
SPROMPT_N=${STRATA_BENCH_STREAM_PROMPT:-1024}
SREPS=${STRATA_BENCH_STREAM_REPS:-2}
SEED=${STRATA_BENCH_SEED:-1}
mkdir -p "$OUTDIR" "$MODELS"
BIN=build/host/bin
JOBS=$(nproc 2>/dev/null || echo 2)

say() { printf '%s\n' "bench: $*" >&2; }

make -s -j"$JOBS" tools >/dev/null
cpuflag=
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
    say "no GPU: measuring the CPU engine"
    cpuflag=--cpu
fi

# ---- 1. the machine ---------------------------------------------------------
# configure --measure (once, with the first case's model) runs
# kernels/probe/bw_probe.cu and a direct-I/O read of the model file and
# writes profiles/bench-machine.profile; every case is planned with it.
PROFILE=profiles/bench-machine.profile
rm -f "$PROFILE"
BW=build/probe/bw.txt
key() { # a measured figure: from the profile, else the bandwidth probe's output
    v=$(sed -n "s/^$1=//p" "$PROFILE" 2>/dev/null | tail -n 1)
    [ -n "$v" ] && [ "$v" != unknown ] || v=$(sed -n "s/^$1=//p" "$BW" 2>/dev/null | tail -n 1)
    [ "$v" = unknown ] || printf '%s\n' "$v"
}

# ---- 2. the models ------------------------------------------------------------
# model PRESET MIX -> path of the cached synthetic file
model() {
    f="$MODELS/$1-$2-s$SEED.gguf"
    if [ ! -s "$f" ]; then
        say "writing $f"
        "$BIN/strata-synth" --preset "$1" --type "$2" --seed "$SEED" -o "$f.tmp" --quiet
        mv "$f.tmp" "$f"
    fi
    printf '%s\n' "$f"
}

# ---- 3./4. cases ------------------------------------------------------------------
# case NAME PRESET MIX VRAM_BUDGET CTX
JSON="$OUTDIR/bench.json"
ROWS="$OUTDIR/rows.md"
: >"$ROWS"
echo "[" >"$JSON"
first=1

run_case() {
    name=$1 preset=$2 mix=$3 budget=$4 ctx=$5 ram=${6:--}
    m=$(model "$preset" "$mix")
    if [ ! -s "$PROFILE" ]; then
        say "measuring the machine: ./configure --measure --model $m"
        ./configure --measure --model "$m" --name bench-machine $cpuflag \
            >"$OUTDIR/measure.log" 2>&1 || say "configure --measure failed (see $OUTDIR/measure.log)"
    fi
    cfg="--profile $PROFILE --model $m --name bench-$name --ctx $ctx"
    [ -z "$cpuflag" ] || cfg="$cfg --cpu"
    [ "$budget" = - ] || cfg="$cfg --vram-budget $budget"
    [ "$ram" = - ] || cfg="$cfg --ram-budget $ram"
    say "case $name: ./configure $cfg"
    # shellcheck disable=SC2086
    ./configure $cfg >"$OUTDIR/$name.configure.log" 2>&1 || {
        say "case $name: configure failed (see $OUTDIR/$name.configure.log)"; return 0; }
    make -s -j"$JOBS" >"$OUTDIR/$name.make.log" 2>&1 || {
        say "case $name: build failed (see $OUTDIR/$name.make.log)"; return 0; }
    exe=build/bench-$name/strata
    gen=$GEN prompt_n=$PROMPT_N reps=$REPS
    if [ "$budget" != - ] || [ "$ram" != - ]; then
        gen=$SGEN prompt_n=$SPROMPT_N reps=$SREPS
    fi
    i=0
    while [ $i -lt "$reps" ]; do
        # shellcheck disable=SC2086
        "$exe" -m "$m" $DECODE_PROMPT -n "$gen" --temp 0 --ignore-eos \
            --stats-file "$OUTDIR/$name.decode.$i" >/dev/null 2>>"$OUTDIR/$name.log" ||
            say "case $name: decode run $i failed (see $OUTDIR/$name.log)"
        i=$((i + 1))
    done
    "$exe" -m "$m" --prompt-tokens "$prompt_n" -n 1 --temp 0 \
        --stats-file "$OUTDIR/$name.prefill" >/dev/null 2>>"$OUTDIR/$name.log" ||
        say "case $name: prefill run failed (see $OUTDIR/$name.log)"
    summarize "$name" "build/bench-$name/gen/plan.m4" >>"$ROWS"
}

# summarize NAME PLAN_M4 -> one markdown row; the JSON row goes to
# $OUTDIR/NAME.row.json. Decode figures are those of the median run (by
# tokens/s); the floor is max(A/HBM, B/H2D, C/disk) with the measured
# bandwidths (GB/s = 1e9 B/s), "-" where a bandwidth is unknown.
summarize() {
    name=$1 plan=$2
    pm() { sed -n "s/^m4_define(\`PLAN_$1', \`\\([0-9]*\\)[a-z]*')m4_dnl$/\\1/p" "$plan"; }
    a=$(pm TIER_A_BYTES) b=$(pm TIER_B_BYTES) c=$(pm TIER_C_BYTES)
    gpu=$(pm GPU)
    # K and V bytes of one cached position (f16), all blocks: a token at
    # position p reads p + 1 of them from VRAM besides the weights
    nl=$(pm N_LAYERS) nkv=$(pm N_KV_HEADS) hd=$(pm HEAD_DIM)
    kvpos=$(( 2 * 2 * ${nl:-0} * ${nkv:-0} * ${hd:-0} ))
    hbm=$(key d2d_measured_gbps) h2d=$(key h2d_measured_gbps) disk=$(key disk_read_gbps)
    for f in "$OUTDIR/$name".decode.*; do
        [ -s "$f" ] && printf '%s %s\n' "$(sed -n 's/^decode_tps=//p' "$f")" "$f"
    done | sort -n | awk '{ r[NR] = $2 } END { if (NR) print r[int((NR + 1) / 2)] }' >"$OUTDIR/$name.median"
    med=$(cat "$OUTDIR/$name.median")
    [ -n "$med" ] || { echo "| $name | failed | | | | | | | | | | | | | |"; return 0; }
    plan_dev=$(pm DEVICE_ARENA_BYTES)
    awk -v name="$name" -v a="${a:-0}" -v b="${b:-0}" -v c="${c:-0}" -v gpu="${gpu:-0}" -v plan_dev="${plan_dev:-0}" \
        -v kvpos="${kvpos:-0}" \
        -v hbm="${hbm:-}" -v h2d="${h2d:-}" -v disk="${disk:-}" -v json="$OUTDIR/$name.row.json" '
        FNR == 1 { file++ }
        { split($0, kv, "="); v[file, kv[1]] = substr($0, length(kv[1]) + 2) }
        END {
            tps = v[1, "decode_tps"]; eng = v[1, "engine"]
            floor = 0; known = 1
            if (a > 0) { if (gpu && hbm > 0) floor = max(floor, a / (hbm * 1e9)); else known = 0 }
            if (b > 0) { if (h2d > 0) floor = max(floor, b / (h2d * 1e9)); else known = 0 }
            if (c > 0) { if (disk > 0) floor = max(floor, c / (disk * 1e9)); else known = 0 }
            ratio = (known && tps > 0) ? sprintf("%.2f", floor * tps) : "-"
            # the same with the KV cache the run read: the decoded tokens sat
            # at positions prompt .. prompt + gen - 1 (mean prompt + (gen + 1) / 2 rows)
            kvb = kvpos * (v[1, "prompt_tokens"] + (v[1, "gen_tokens"] + 1) / 2)
            floor_kv = (gpu && hbm > 0 && known) ? max(floor, (a + kvb) / (hbm * 1e9)) : 0
            fl_kv = floor_kv > 0 ? sprintf(" / %.2f", floor_kv * 1e3) : ""
            ratio_kv = floor_kv > 0 && tps > 0 ? sprintf(" / %.2f", floor_kv * tps) : ""
            # prefill: the first 512 tokens (the first chunk) and the rest; the
            # floor of a streamed chunk is one pass of tiers B and C
            np = v[2, "prompt_tokens"] + 0; n1 = np < 512 ? np : 512
            t1 = v[2, "prompt_first_chunk_s"] + 0; rest = v[2, "prompt_rest_tps"] + 0
            p1 = t1 > 0 ? n1 / t1 : 0
            pfl = 0; pknown = b + c > 0
            if (b > 0) { if (h2d > 0) pfl = max(pfl, b / (h2d * 1e9)); else pknown = 0 }
            if (c > 0) { if (disk > 0) pfl = max(pfl, c / (disk * 1e9)); else pknown = 0 }
            pfloor = pknown && pfl > 0 ? sprintf("%.0f", n1 / pfl) : "-"
            pbest = rest > 0 ? rest : p1
            pratio = pknown && pfl > 0 && pbest > 0 ? sprintf("%.2f", pbest * pfl / n1) : "-"
            fl = known ? sprintf("%.2f", floor * 1e3) : "-"
            printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f / %.2f GB | %s%s | %s%s | %.2f / %.2f | %.0f / %s | %s | %s | %.2f / %.2f / %.2f GB | %.2f GB |\n",
                name, eng, tps, v[1, "step_ms_p50"], v[1, "step_ms_p99"], v[1, "step_ms_max"],
                a / 1e9, b / 1e9, c / 1e9, fl, fl_kv, ratio, ratio_kv, v[1, "link_busy_ms_per_token"],
                v[1, "stall_ms_per_token"], p1, (rest > 0 ? sprintf("%.0f", rest) : "-"), pfloor, pratio,
                v[1, "device_arena_bytes"] / 1e9, plan_dev / 1e9, v[1, "device_used_bytes"] / 1e9,
                v[1, "peak_rss_bytes"] / 1e9
            printf "{\"case\": \"%s\", \"engine\": \"%s\", \"decode_tps\": %s, \"step_ms_p50\": %s, \"step_ms_p99\": %s, \"step_ms_max\": %s, \"bytes_a\": %.0f, \"bytes_b\": %.0f, \"bytes_c\": %.0f, \"kv_bytes_per_token\": %.0f, \"floor_ms\": %s, \"floor_over_achieved\": %s, \"floor_with_kv_ms\": %s, \"prefill_tps\": %s, \"prefill_first512_tps\": %.1f, \"prefill_rest_tps\": %s, \"prefill_floor_tps\": %s, \"peak_rss_bytes\": %s}\n",
                name, eng, tps, v[1, "step_ms_p50"], v[1, "step_ms_p99"], v[1, "step_ms_max"],
                a, b, c, kvb, known ? floor * 1e3 : "null", ratio == "-" ? "null" : ratio,
                (floor_kv > 0 ? floor_kv * 1e3 : "null"),
                v[2, "prompt_tps"] == "" ? "null" : v[2, "prompt_tps"], p1, (rest > 0 ? rest : "null"),
                pfloor == "-" ? "null" : pfloor, v[1, "peak_rss_bytes"] > json
        }
        function max(x, y) { return x > y ? x : y }' "$med" "$OUTDIR/$name.prefill"
    if [ -s "$OUTDIR/$name.row.json" ]; then
        [ "$first" = 1 ] || echo "," >>"$JSON"
        cat "$OUTDIR/$name.row.json" >>"$JSON"
        first=0
    fi
}

CASES=${*:-8b-resident 8b-stream4g 70b-stream22g}
for c in $CASES; do
    DECODE_PROMPT='-p Once'  # a short prompt; the ctx case fills the context
    case $c in
    8b-resident)   run_case "$c" llama-3.1-8b q4_k_m - 4096 ;;
    8b-stream4g)   run_case "$c" llama-3.1-8b q4_k_m 4GiB 4096 ;;
    70b-stream22g) run_case "$c" llama-3.1-70b q4_k_m 22GiB 4096 ;;
    8b-disk)       run_case "$c" llama-3.1-8b q4_k_m 4GiB 4096 1GiB ;;
    70b-disk)      run_case "$c" llama-3.1-70b q4_k_m 22GiB 4096 12GiB ;;
    1b-resident)   run_case "$c" llama-3.2-1b q4_k_m - 4096 ;;
    8b-q8_0)       run_case "$c" llama-3.1-8b q8_0 - 4096 ;;
    8b-q6_k)       run_case "$c" llama-3.1-8b q6_k - 4096 ;;
    8b-q4_0)       run_case "$c" llama-3.1-8b q4_0 - 4096 ;;
    8b-ctx4096)    DECODE_PROMPT="--prompt-tokens 3968" run_case "$c" llama-3.1-8b q4_k_m - 4096 ;;
    *) say "unknown case '$c', expected one of: 8b-resident 8b-stream4g 70b-stream22g 1b-resident 8b-q8_0 8b-q6_k 8b-q4_0 8b-ctx4096 8b-disk 70b-disk"; exit 1 ;;
    esac
done
echo "]" >>"$JSON"

# ---- 5. the table, last -----------------------------------------------------------
echo
echo "machine: $(sed -n 's/^gpu_name=//p' "$PROFILE" 2>/dev/null) $(sed -n 's/^# bw_probe: //p' "$BW" 2>/dev/null)"
for k in h2d_measured_gbps h2d_pageable_gbps d2h_measured_gbps h2d_during_d2h_gbps d2d_measured_gbps disk_read_gbps; do
    v=$(key $k); [ -z "$v" ] || printf '%s=%s  ' "$k" "$v"
done
echo
echo
echo "| case | engine | tok/s | ms/tok p50 | p99 | max | bytes/tok A / B / C | floor ms (/ with the KV cache read) | floor/achieved (/ with KV) | link busy / stall ms/tok | prefill tok/s: first 512 / rest | prefill floor tok/s (link) | prefill achieved/floor | VRAM arena / planned / used | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
cat "$ROWS"
