#!/bin/sh
# codegen.sh - expands the m4 templates under gen/ with a plan's numbers.
#
#   sh gen/codegen.sh build/NAME
#
# Input (written by strata-plan --out build/NAME):
#   build/NAME/gen/plan.m4      the plan's numbers as m4 macros
#   build/NAME/gen/tensors.m4   one PLAN_TENSOR(...) line per tensor
#   build/NAME/gen/gemv.list    "TYPE ROWS COLS [swiglu | + TYPE2 ROWS2]" per GEMV shape
# Output (build/NAME/gen/):
#   constants.h                 dimensions, counts, arena sizes and offsets
#   arena.c                     the built-in plan (struct strata_builtin_plan)
#   gemv_instances.cu           a GPU plan only: the fused dequant+GEMV kernel
#                               instances, by gen/gemv-instances.sh
# m4 runs with -P (builtins are m4_define, m4_include...) so that words of
# the C code and the plan table are never taken for macros. The output
# depends on nothing but the inputs: same plan, same bytes.
set -eu

dir=${1:?usage: gen/codegen.sh build/NAME}
gen=$(cd "$(dirname "$0")" && pwd)
out=$dir/gen
for f in plan.m4 tensors.m4 gemv.list; do
    [ -f "$out/$f" ] || { echo "codegen.sh: $out/$f: found no file, expected strata-plan --out output" >&2; exit 1; }
done

expand() { # template output
    m4 -P -I "$out" "$out/plan.m4" "$gen/$1" >"$out/$2.tmp"
    mv "$out/$2.tmp" "$out/$2"
}
expand constants.h.m4 constants.h
expand arena.c.m4 arena.c

gpu=$(sed -n "s/^m4_define(\`PLAN_GPU', \`\([01]\)').*/\1/p" "$out/plan.m4")
# the GPU's multiprocessors: the one-wave GEMV grids are sized by them
sms=$(sed -n "s/^m4_define(\`PLAN_GPU_SMS', \`\([0-9]*\)').*/\1/p" "$out/plan.m4")
rm -f "$out/gemv_instances.cu"
if [ "$gpu" = 1 ]; then
    if [ -f "$gen/gemv-instances.sh" ]; then
        # Rows whose length is not a multiple of 256 (tiny models only) have
        # no generated kernel: the engine stores them as f32 and uses its
        # generic GEMV (kernels/engine_cuda.cu, stored_as_f32).
        awk '$3 % 256 == 0' "$out/gemv.list" |
            sh "$gen/gemv-instances.sh" all "${sms:-0}" >"$out/gemv_instances.cu.tmp"
        mv "$out/gemv_instances.cu.tmp" "$out/gemv_instances.cu"
        echo "codegen: $(awk '$3 % 256 == 0' "$out/gemv.list" | wc -l | tr -d ' ') GEMV shapes -> $out/gemv_instances.cu"
    else
        echo "note: gen/gemv-instances.sh is missing: no GEMV kernels generated" >&2
    fi
fi
