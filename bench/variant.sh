# bench/variant.sh - sourced by bench/step-ablate.sh and bench/step-trace.sh:
# the synthetic Llama-3.1-8B Q4_K_M of bench/run.sh (8b-resident), and
# strata built for it with compile-time switches.

# prepare_8b LOG: bench/run.sh writes the model and the machine's profile
# (a short run; its output to LOG); sets m to the model's path.
prepare_8b() {
    STRATA_BENCH_REPS=1 STRATA_BENCH_GEN=16 sh bench/run.sh 8b-resident >"$1" 2>&1 ||
        { tail -20 "$1"; exit 1; }
    m=${STRATA_BENCH_MODELS:-/tmp/strata-models}/llama-3.1-8b-q4_k_m-s${STRATA_BENCH_SEED:-1}.gguf
}

# build_variant DIR NVCCFLAGS CFLAGS: strata for $m as DIR/v/strata (the
# configure and make output in DIR.log); fails as they do.
build_variant() {
    BUILD=$1 ./configure --profile profiles/bench-machine.profile --model "$m" --name v \
        --ctx 4096 >"$1.log" 2>&1 &&
        make -s -j"$(nproc)" BUILD="$1" NVCCFLAGS="$2" CFLAGS="$3" >>"$1.log" 2>&1
}
