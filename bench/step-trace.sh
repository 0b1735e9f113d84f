#!/bin/sh
# bench/step-trace.sh - a timeline of one decode step from inside the CUDA
# graph, per kind of launch, for the GPU machine. Builds strata for the
# synthetic Llama-3.1-8B Q4_K_M of bench/run.sh (8b-resident) with
# -DSTRATA_TRACE (kernels/trace.cuh: every block of a PDL kernel stamps the
# global timer when it starts, when its wait for the predecessor returns
# and, for the GEMVs, when it ends), decodes STRATA_BENCH_GEN tokens (32)
# and prints, per launch kind of the last whole step, the mean over the
# blocks of the model of (us):
#   exposed  from this launch's dependency being met to the next one's:
#            what the launch adds to the step (the column sums to the step)
#   early    how long its first block waited for the predecessor (the
#            window in which it can load its weights ahead)
#   late     from the dependency to its last block's start (waves)
#   run      from the dependency to its last block's end (GEMVs)
#   to 10%   from the dependency to a tenth of its blocks ended (the ramp)
#   10-90%   from a tenth to nine tenths of its blocks ended (steady state)
#   90%-end  the last tenth (the tail)
#   handoff  from its last block's end to the next launch's wait returning
# A kind is a launch shape and the shape before it (V and the Q6_K down
# projection have one grid).
#
#   sh bench/step-trace.sh [NAME=FLAGS ...]
# Each NAME=FLAGS also builds a variant with those compile-time switches
# (plus -DSTRATA_TRACE) and prints its table. STRATA_ABLATE_PROMPT (default
# "-p Once") sets the context, e.g. "--prompt-tokens 3968".
set -eu
cd "$(dirname "$0")/.."
out=${STRATA_BENCH_OUT:-build/bench}
gen=${STRATA_BENCH_GEN:-32}
mkdir -p "$out"
. bench/variant.sh
prepare_8b "$out/trace-build.log"

# summarize FILE: the per-kind table of the last whole step in a trace.
summarize() {
    awk '
    function f(v, d, ok) { return ok ? sprintf("%.2f", v / d / 1e3) : "-" }
    NR == 1 { next }
    { n++; B[n] = $1; T[n] = $2; s0[n] = $3; s1[n] = $4; w0[n] = $5; e1[n] = $7
      p1[n] = $8; p9[n] = $10
      if ($1 > maxb) maxb = $1 }
    END {
        # the output head has the most blocks: a step ends with it
        for (i = 1; i <= n; i++) if (B[i] == maxb) { h2 = h1; h1 = i }
        if (!h2) { print "step-trace: fewer than two whole steps in the trace"; exit 1 }
        for (i = h2 + 1; i <= h1; i++) {
            k = B[i] "x" T[i] " after " B[i - 1] "x" T[i - 1]
            if (!(k in cnt)) order[++nk] = k
            cnt[k]++
            rdy = w0[i] ? w0[i] : s0[i]
            nxt = i < h1 ? (w0[i + 1] ? w0[i + 1] : s0[i + 1]) : (e1[i] ? e1[i] : rdy)
            ex[k] += nxt - rdy; tot += nxt - rdy
            ea[k] += rdy - s0[i]
            la[k] += s1[i] > rdy ? s1[i] - rdy : 0
            if (e1[i]) { ru[k] += e1[i] - rdy; ho[k] += i < h1 ? nxt - e1[i] : 0; ne[k]++
                         r1[k] += p1[i] - rdy; r9[k] += p9[i] - p1[i]; tl[k] += e1[i] - p9[i] }
        }
        printf "| launch (blocks x threads, after) | per step | exposed | early | late | run | to 10%% | 10-90%% | 90%%-end | handoff |\n"
        printf "|---|---|---|---|---|---|---|---|---|---|\n"
        for (j = 1; j <= nk; j++) {
            k = order[j]; c = cnt[k]
            d = ne[k] ? ne[k] : 1
            printf "| %s | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s |\n", k, c, ex[k] / c / 1e3,
                ea[k] / c / 1e3, la[k] / c / 1e3, f(ru[k], d, ne[k]), f(r1[k], d, ne[k]),
                f(r9[k], d, ne[k]), f(tl[k], d, ne[k]), f(ho[k], d, ne[k])
        }
        printf "\nthe step from its first traced launch to the head'"'"'s end: %.1f us (%d launches)\n",
            tot / 1e3, h1 - h2
    }' "$1"
}

# trace NAME FLAGS: build the variant, decode, summarize
trace() {
    dir=build/trace-$1
    if build_variant "$dir" "-DSTRATA_TRACE $2" "$2"; then
        # shellcheck disable=SC2086
        STRATA_TRACE="$out/trace-$1.txt" "$dir/v/strata" -m "$m" ${STRATA_ABLATE_PROMPT:--p Once} \
            -n "$gen" --temp 0 --ignore-eos >/dev/null 2>>"$out/trace.log"
        echo "### $1 ($2)"
        echo
        summarize "$out/trace-$1.txt"
        echo
    else
        echo "### $1: build failed ($dir.log)"
    fi
}

trace base ""
for v in "$@"; do
    trace "${v%%=*}" "${v#*=}"
done
