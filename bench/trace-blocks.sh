#!/bin/sh
# bench/trace-blocks.sh - one launch of a trace's FILE.blocks (STRATA_TRACE
# with STRATA_TRACE_BLOCKS=BxT, kernels/trace.cu) block by block: times
# relative to its dependency being met (the first block's wait returning),
# in BIN-ns bins: how many blocks started, passed their wait and ended in
# each bin, and how many were resident (started, not ended) at its start.
# LAUNCH: the launch number in the file (default: the middle one).
#
#   sh bench/trace-blocks.sh FILE.blocks [LAUNCH [BIN]]
set -eu
awk -v want="${2:--1}" -v bin="${3:-500}" '
    { L[NR] = $1; S[NR] = $4; W[NR] = $5; E[NR] = $6; M[NR] = $3; if (!($1 in seen)) { seen[$1] = 1; ids[++n] = $1 } }
    function fl(v) { return v < int(v) ? int(v) - 1 : int(v) }
    END {
        if (want < 0) want = ids[int((n + 1) / 2)]
        rdy = -1
        for (i = 1; i <= NR; i++) if (L[i] == want && W[i] && (rdy < 0 || W[i] < rdy)) rdy = W[i]
        lo = 0; hi = 0; nb = 0
        for (i = 1; i <= NR; i++) {
            if (L[i] != want) continue
            nb++
            s = fl((S[i] - rdy) / bin); e = fl((E[i] - rdy) / bin)
            w = W[i] ? fl((W[i] - rdy) / bin) : 0
            cs[s]++; ce[e]++; cw[w]++
            lo = s < lo ? s : lo; hi = e > hi ? e : hi
            if (S[i] < rdy) { early++; sm[M[i]]++ }
            if (S[i] < rdy && E[i] > rdy) res++
        }
        nsm = 0; for (k in sm) nsm++
        printf "launch %s: %d blocks, %d started before the dependency (on %d SMs)\n", want, nb, early, nsm
        printf "%8s %8s %8s %8s %8s\n", "t(us)", "started", "waited", "ended", "resident"
        r = 0
        for (b = lo; b <= hi; b++) {
            r += cs[b] - ce[b]
            printf "%8.1f %8d %8d %8d %8d\n", b * bin / 1000, cs[b], cw[b], ce[b], r
        }
    }' "$1"
