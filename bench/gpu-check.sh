#!/bin/sh
# bench/gpu-check.sh - one call on the GPU machine: build, every GPU test
# (kernels against the CPU oracle, end to end against the CPU engine), then
# the benchmark cases given (default: the resident 8B set). Details go to
# $OUT (or build/gpu-check); a short summary is printed last.
#
#   sh bench/gpu-check.sh [CASE...]          (bench/run.sh lists the cases)
# STRATA_SHARED_MODELS: the shared test models (default ../shared/models).
set -u
out=${OUT:-build/gpu-check}
mkdir -p "$out"
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
make -j"$(nproc)" build-gpu build/host/bin/strata build/host/bin/strata-synth >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
say "built"
st=0
for t in test_ops test_prefill; do
    ./build/gpu/bin/$t >"$out/$t.txt" 2>&1 || st=1
    say "$t: $(tail -n 1 "$out/$t.txt")"
done
./build/gpu/bin/test_gemv --check-only >"$out/test_gemv.txt" 2>&1 || st=1
say "test_gemv: $(tail -n 1 "$out/test_gemv.txt")"
sh tests/gpu/e2e.sh build/gpu/bin/strata-cuda build/host/bin/strata >"$out/e2e.txt" 2>&1 || st=1
say "e2e: $(tail -n 1 "$out/e2e.txt")"
grep -h "FAIL" "$out"/test_*.txt "$out/e2e.txt" | grep -v "FAIL(ok)\|expected" | head -20
grep -h "us per call\|TFLOP\|GB/s" "$out/test_prefill.txt" | head -20
[ $# -gt 0 ] || set -- 8b-resident 8b-q8_0 8b-q6_k 8b-q4_0 8b-ctx4096
sh bench/run.sh "$@" >"$out/bench.txt" 2>&1 || st=1
say "bench: $*"
sed -n '/^| case/,$p' "$out/bench.txt"
exit $st
