#!/bin/sh
# sanitize.sh - compute-sanitizer (memcheck, racecheck) over the GPU suite:
# the op tests, a reduced GEMV test, and the CUDA engine end to end
# (resident and streamed) on the small test models.
#
#   tests/gpu/sanitize.sh BUILD_DIR [TOOL...]   (default: memcheck racecheck)
# SANITIZE_SKIP="test_ops test_prefill": labels to leave out (racecheck of
# test_prefill alone takes about 7 minutes on the H100).
# Prints one line per run and "N passed, N failed" last.
set -u
b=${1:-build}
[ $# -gt 0 ] && shift
tools=${*:-memcheck racecheck}
dir=${STRATA_SHARED_MODELS:-../shared/models}
pass=0 fail=0
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)

check() { # label tool command...
    label=$1 tool=$2
    shift 2
    for skip in ${SANITIZE_SKIP:-}; do # labels to leave out this time
        [ "$label" = "$skip" ] && return
    done
    if "$cs" --tool "$tool" --error-exitcode 99 "$@" >/tmp/sanitize.log 2>&1; then
        printf '%-60s ok\n' "$tool: $label"
        pass=$((pass + 1))
    else
        printf '%-60s FAIL (rc %s): %s\n' "$tool: $label" "$?" "$(grep -m1 -E 'ERROR|Invalid|Race|hazard' /tmp/sanitize.log)"
        fail=$((fail + 1))
    fi
}

for tool in $tools; do
    check "test_ops" $tool "$b/gpu/bin/test_ops" --check-only
    # racecheck cannot run cuBLAS's Hopper GEMM kernels ("The Sanitizer
    # failed to handle a hardware exception"); memcheck runs them
    prefill_arg=
    [ $tool = racecheck ] && prefill_arg=--no-gemm
    check "test_prefill" $tool "$b/gpu/bin/test_prefill" $prefill_arg
    check "test_gemv (1024x4096, every type)" $tool "$b/gpu/bin/test_gemv" --check-only tests/gpu/gemv-sanitize.list
    for m in models/stories260K.gguf "$dir/zoo-qwen2-bpe.gguf" "$dir/zoo-llama-bpe.gguf"; do
        [ -r "$m" ] || continue
        check "strata-cuda $(basename "$m")" $tool "$b/gpu/bin/strata-cuda" -m "$m" -p "Once" -n 4 --temp 0
        check "strata-cuda $(basename "$m") streamed" $tool env STRATA_STREAM_TEST=odd:2 \
            "$b/gpu/bin/strata-cuda" -m "$m" -p "Once" -n 4 --temp 0
        check "strata-cuda $(basename "$m") RAM/disk mixed" $tool env STRATA_STREAM_TEST=mix:2 \
            "$b/gpu/bin/strata-cuda" -m "$m" -p "Once" -n 4 --temp 0
        check "strata-cuda $(basename "$m") 40-token prompt (GEMM prefill)" $tool \
            "$b/gpu/bin/strata-cuda" -m "$m" --prompt-tokens 40 -n 4 --temp 0
    done
done
echo "sanitize: $pass passed, $fail failed"
[ $fail -eq 0 ]
