#!/bin/sh
# bench/gemv-variants.sh - the same GEMV shapes built several ways, timed in
# one call on the GPU machine: each VARIANT is NAME=NVCCFLAGS (compile-time
# switches of kernels/gemv_common.cuh and gemv_epi.cuh, e.g. GEMV_RNR=4 or
# -maxrregcount=96), built into build/var-NAME from LIST (lines of
# tests/gpu/gemv-test.list's form). Prints, per variant and shape, the
# plain launch's and the launch-with-epilogue's microseconds.
#
#   sh bench/gemv-variants.sh LIST "base=" "noticket=-DGEMV_EXP_NO_TICKET" ...
set -eu
list=$1
mkdir -p build
shift
for v in "$@"; do
    name=${v%%=*}
    flags=${v#*=}
    make -j"$(nproc)" BUILD="build/var-$name" GEMV_TEST_LIST="$list" NVCCFLAGS="$flags" \
        "build/var-$name/gpu/bin/test_gemv" >"build/var-$name.log" 2>&1 ||
        { echo "$name: build failed"; tail -5 "build/var-$name.log"; continue; }
done
printf "%-12s %-24s %9s %9s %7s %s\n" variant shape us epi_us GB/s check
for v in "$@"; do
    name=${v%%=*}
    [ -x "build/var-$name/gpu/bin/test_gemv" ] || continue
    "build/var-$name/gpu/bin/test_gemv" "$list" >"build/var-$name.txt" 2>&1 || true
    awk -v n="$name" '
        /^[A-Z0-9_]+ +[0-9]+x/ { if (shape != "") print_row(); shape = $1 " " $2 ($3 == "pair" ? " pair" : ""); us = ($3 == "pair" ? $5 : $4); gbs = ($3 == "pair" ? $6 : $5); res = $NF; epi = "-" }
        /epilogue: .* us a launch/ { epi = $2 }
        /epilogue: .*(ok|FAIL)$/ { if ($NF == "FAIL") res = res "/epiFAIL" }
        function print_row() { printf "%-12s %-24s %9s %9s %7s %s\n", n, shape, us, epi, gbs, res }
        END { if (shape != "") print_row() }' "build/var-$name.txt"
done
