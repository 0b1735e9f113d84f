# shellcheck shell=sh
# bench/variant.sh - sourced by bench/step-ablate.sh and bench/step-trace.sh:
# the synthetic Llama-3.1-8B Q4_K_M of bench/run.sh (8b-resident), and
# strata built for it with compile-time switches.

# prepare_8b LOG: bench/run.sh writes the model and the machine's profile
# (a short run; its output to LOG); sets m to the model's path and exe to
# the case's strata. STRATA_ABLATE_MIX (default q4_k_m; q8_0, q6_k, q4_0:
# bench/run.sh's 8b-MIX cases) picks the synthetic 8B's quantization.
prepare_8b() {
    mix=${STRATA_ABLATE_MIX:-q4_k_m}
    bcase=8b-$mix
    [ "$mix" != q4_k_m ] || bcase=8b-resident
    STRATA_BENCH_REPS=1 STRATA_BENCH_GEN=16 sh bench/run.sh "$bcase" >"$1" 2>&1 ||
        { tail -20 "$1"; exit 1; }
    m=${STRATA_BENCH_MODELS:-/tmp/strata-models}/llama-3.1-8b-$mix-s${STRATA_BENCH_SEED:-1}.gguf
    exe=build/bench-$bcase/strata
    [ -x "$exe" ] || { tail -20 "$1"; exit 1; }
}

# build_variant DIR NVCCFLAGS CFLAGS: strata for $m as DIR/v/strata (the
# configure and make output in DIR.log); fails as they do.
build_variant() {
    BUILD=$1 ./configure --profile profiles/bench-machine.profile --model "$m" --name v \
        --ctx 4096 >"$1.log" 2>&1 &&
        make -s -j"$(nproc)" BUILD="$1" NVCCFLAGS="$2" CFLAGS="$3" >>"$1.log" 2>&1
}
