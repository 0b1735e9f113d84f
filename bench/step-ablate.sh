#!/bin/sh
# bench/step-ablate.sh - where one decode step's time goes inside the CUDA
# graph, for the GPU machine. No profiler there times kernels inside a graph
# (ncu serializes them, which hides what programmatic launch overlaps), so
# each kind of launch is left out in turn (STRATA_BENCH_OMIT, the engine's
# timing-only switch: the tokens are wrong) and the step time measured: the
# difference is what that kind costs in place, its gaps included.
#
#   sh bench/step-ablate.sh [SET...]     default: - qkv attn wo ffn down head
# SET: a comma list of qkv attn wo ffn down head, or - (nothing left out);
# none alone: only the base and the VARIANTS.
# VARIANTS="name=FLAGS;name=FLAGS": also builds strata with those compile-time
# switches (as NVCCFLAGS and CFLAGS) and times each whole.
# Runs on the synthetic Llama-3.1-8B Q4_K_M of bench/run.sh (8b-resident;
# STRATA_ABLATE_MIX=q8_0 / q6_k / q4_0: its other mixes);
# STRATA_ABLATE_PROMPT (default "-p Once") sets the context, e.g.
# "--prompt-tokens 3968" for a long one.
set -eu
cd "$(dirname "$0")/.."
out=${STRATA_BENCH_OUT:-build/bench}
gen=${STRATA_BENCH_GEN:-128}
reps=${STRATA_BENCH_REPS:-3}
mkdir -p "$out"
. bench/variant.sh
prepare_8b "$out/ablate-build.log"

# tps EXE [OMIT] -> the median decode tokens/s of $reps runs
tps() {
    i=0
    while [ $i -lt "$reps" ]; do
        # shellcheck disable=SC2086
        STRATA_BENCH_OMIT=${2:-} "$1" -m "$m" ${STRATA_ABLATE_PROMPT:--p Once} -n "$gen" --temp 0 --ignore-eos \
            --stats-file "$out/ablate.stats" >/dev/null 2>>"$out/ablate.log"
        sed -n 's/^decode_tps=//p' "$out/ablate.stats"
        i=$((i + 1))
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

[ $# -gt 0 ] || set -- - qkv attn wo ffn down head
[ "$*" != none ] || set --
base=$(tps "$exe")
printf '| left out | tok/s | ms/token | ms saved |\n|---|---|---|---|\n'
awk -v b="$base" 'BEGIN { printf "| (base) | %.1f | %.3f | |\n", b, 1e3 / b }'
for set in "$@"; do
    t=$(tps "$exe" "$([ "$set" = - ] || echo "$set")")
    awk -v s="$set" -v t="$t" -v b="$base" \
        'BEGIN { printf "| %s | %.1f | %.3f | %.3f |\n", s, t, 1e3 / t, 1e3 / b - 1e3 / t }'
done

IFS=';'
for v in ${VARIANTS:-}; do
    name=${v%%=*} flags=${v#*=}
    dir=build/var-$name
    unset IFS
    if build_variant "$dir" "$flags" "$flags"; then
        t=$(tps "$dir/v/strata")
        awk -v s="$name ($flags)" -v t="$t" -v b="$base" \
            'BEGIN { printf "| variant %s | %.1f | %.3f | %.3f |\n", s, t, 1e3 / t, 1e3 / b - 1e3 / t }'
    else
        echo "| variant $name | build failed ($dir.log) | | |"
    fi
    IFS=';'
done
