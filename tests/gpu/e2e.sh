#!/bin/sh
# e2e.sh - end to end on the GPU machine: the CUDA engine's greedy tokens
# equal the CPU engine's, 64 tokens, on every model in ../shared/models (or
# $STRATA_SHARED_MODELS) and the bundled one; then the same for a streamed
# run (every other block from pinned RAM through 2 and 3 slots), which must
# give exactly the resident run's tokens.
#
#   tests/gpu/e2e.sh CUDA_STRATA CPU_STRATA
#
# CUDA_STRATA is a strata built with the CUDA engine and GEMV instances for
# every test model's shapes and no built-in plan (make e2e-gpu builds it);
# CPU_STRATA is build/host/bin/strata. Prints one line per case and
# "N passed, N failed" last; exits 1 on any failure. The prompt goes
# through engine_forward_batch (prefill, chunks of 64), the rest one by one.
set -u
gpu=$1 cpu=$2
dir=${STRATA_SHARED_MODELS:-../shared/models}
tmp=${TMPDIR:-/tmp}/strata-e2e.$$
mkdir -p "$tmp"
pass=0 fail=0 skip=0

ids() { sed -n 's/^gen_ids=//p' "$1"; }

# label model prompt [env...]: env for the CUDA run; $cpu_env (one VAR=VALUE)
# also for the CPU run (a lossy --stream-type changes the weights of both).
# prompt "@N": N benchmark prompt tokens.
cpu_env=
run_case() {
    label=$1 model=$2 prompt=$3
    shift 3
    case $prompt in
    @*) p1=--prompt-tokens p2=${prompt#@} ;;
    *) p1=-p p2=$prompt ;;
    esac
    env "$@" "$gpu" -m "$model" $p1 "$p2" -n 64 --temp 0 --ignore-eos \
        --stats-file "$tmp/gpu" >/dev/null 2>"$tmp/gpu.err"
    rc=$?
    # shellcheck disable=SC2086 # cpu_env: no word, or one VAR=VALUE
    env $cpu_env "$cpu" -m "$model" $p1 "$p2" -n 64 --temp 0 --ignore-eos \
        --stats-file "$tmp/cpu" >/dev/null 2>"$tmp/cpu.err"
    if [ $rc -ne 0 ]; then
        printf '%-58s FAIL (cuda: %s)\n' "$label" "$(head -n 1 "$tmp/gpu.err")"
        fail=$((fail + 1))
        return
    fi
    g=$(ids "$tmp/gpu") c=$(ids "$tmp/cpu")
    if [ -n "$g" ] && [ "$g" = "$c" ]; then
        printf '%-58s ok (64 tokens equal)\n' "$label"
        pass=$((pass + 1))
    else
        # where they part: the index of the first differing id
        n=$(printf '%s\n%s\n' "$g" "$c" | awk -F, 'NR==1{split($0,a)} NR==2{for(i=1;i<=NF;i++) if(a[i]!=$i){print i-1; exit} print "none"}')
        printf '%-58s FAIL (tokens part at %s)\n' "$label" "$n"
        fail=$((fail + 1))
    fi
}

# label model bound n [env...]: the logits after an n-token prompt (shorter
# than the 512-token prefill chunk, one chunk, or more) against the CPU
# engine's, relative L2 error under bound; NaN or Inf never passes.
run_logits() {
    label=$1 model=$2 bound=$3 n=$4
    shift 4
    env "$@" "$gpu" -m "$model" --prompt-tokens "$n" -n 1 --temp 0 \
        --logits-file "$tmp/gpu.logits" >/dev/null 2>"$tmp/gpu.err"
    rc=$?
    "$cpu" -m "$model" --prompt-tokens "$n" -n 1 --temp 0 \
        --logits-file "$tmp/cpu.logits" >/dev/null 2>"$tmp/cpu.err"
    if [ $rc -ne 0 ]; then
        printf '%-58s FAIL (cuda: %s)\n' "$label" "$(head -n 1 "$tmp/gpu.err")"
        fail=$((fail + 1))
        return
    fi
    if paste "$tmp/gpu.logits" "$tmp/cpu.logits" | awk -v b="$bound" '
        $1 ~ /[nN][aA][nN]|[iI][nN][fF]/ { bad = 1 }
        { d = $1 - $2; num += d * d; den += $2 * $2; n++ }
        END { r = den > 0 ? sqrt(num / den) : 1; printf "%.2e", r > "/dev/stderr"
              exit !(n > 0 && !bad && r < b) }' 2>"$tmp/rel"; then
        printf '%-58s ok (logits rel L2 %s < %s)\n' "$label" "$(cat "$tmp/rel")" "$bound"
        pass=$((pass + 1))
    else
        printf '%-58s FAIL (logits rel L2 %s, bound %s)\n' "$label" "$(cat "$tmp/rel")" "$bound"
        fail=$((fail + 1))
    fi
}

# label model [args...]: sampled tokens from the device's top-k candidates
# equal those from every logit (STRATA_ALL_LOGITS=1) on the same GPU: the
# same logits must give the same draws; the first run must have used the
# candidates (decode_top_steps > 0), or the case proves nothing.
run_sampled() {
    label=$1 model=$2
    shift 2
    "$gpu" -m "$model" -p "Once upon a time" -n 64 --ignore-eos "$@" \
        --stats-file "$tmp/top" >/dev/null 2>"$tmp/gpu.err"
    rc=$?
    STRATA_ALL_LOGITS=1 "$gpu" -m "$model" -p "Once upon a time" -n 64 --ignore-eos "$@" \
        --stats-file "$tmp/all" >/dev/null 2>>"$tmp/gpu.err"
    rc=$((rc + $?))
    t=$(ids "$tmp/top") a=$(ids "$tmp/all") n=$(sed -n 's/^decode_top_steps=//p' "$tmp/top")
    if [ $rc -eq 0 ] && [ -n "$t" ] && [ "$t" = "$a" ] && [ "${n:-0}" -gt 0 ]; then
        printf '%-58s ok (64 tokens equal, %s steps from candidates)\n' "$label" "$n"
        pass=$((pass + 1))
    else
        printf '%-58s FAIL (rc %s, %s steps from candidates, %s)\n' "$label" "$rc" "${n:-0}" \
            "$(head -n 1 "$tmp/gpu.err")"
        fail=$((fail + 1))
    fi
}

# label model env: the CUDA engine's 64 greedy tokens with env equal its
# own without (for a model whose tokens are not the CPU engine's)
run_gpu_pair() {
    label=$1 model=$2
    shift 2
    "$gpu" -m "$model" -p "Once upon a time" -n 64 --temp 0 --ignore-eos \
        --stats-file "$tmp/a" >/dev/null 2>"$tmp/gpu.err"
    rc=$?
    env "$@" "$gpu" -m "$model" -p "Once upon a time" -n 64 --temp 0 --ignore-eos \
        --stats-file "$tmp/b" >/dev/null 2>>"$tmp/gpu.err"
    rc=$((rc + $?))
    a=$(ids "$tmp/a") b=$(ids "$tmp/b")
    if [ $rc -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then
        printf '%-58s ok (64 tokens equal)\n' "$label"
        pass=$((pass + 1))
    else
        printf '%-58s FAIL (rc %s, %s)\n' "$label" "$rc" "$(head -n 1 "$tmp/gpu.err")"
        fail=$((fail + 1))
    fi
}

models="models/stories260K.gguf"
for f in stories260K.gguf stories260K-q8_0.gguf stories260K-q4_0.gguf stories260K-f16.gguf \
         stories260K-bf16.gguf zoo-llama-bpe.gguf zoo-qwen2-bpe.gguf; do
    if [ -r "$dir/$f" ]; then
        models="$models $dir/$f"
    else
        echo "SKIPPED: $f: not in $dir"
        skip=$((skip + 1))
    fi
done

for m in $models; do
    b=$(basename "$m" .gguf)
    run_case "$b resident" "$m" "Once upon a time"
    run_case "$b resident, no graph" "$m" "The capital of France is" STRATA_NO_GRAPH=1
    run_case "$b resident, no programmatic launch" "$m" "Once upon a time" STRATA_NO_PDL=1
    run_sampled "$b sampled, device top-k (temp 0.8, top-k 40)" "$m" --seed 7
    run_sampled "$b greedy, repeat penalty 1.3 (device top 1 + 64)" "$m" --temp 0 --repeat-penalty 1.3
    run_case "$b streamed (odd blocks, 2 slots)" "$m" "Once upon a time" STRATA_STREAM_TEST=odd:2
    run_case "$b streamed (all blocks, 3 slots)" "$m" "Once upon a time" STRATA_STREAM_TEST=all:3
    # 150-token prompts, resident and streamed (one chunk: GEMMs on the
    # tensor cores in f16, which moves the hidden
    # state by ~1e-3; the random-weight zoo models have near-ties that this
    # flips, so they take the f32 GEMV prefill here; the real story model
    # takes both)
    case $b in
    zoo-*) pf=STRATA_PREFILL_GEMV=1 ;;
    *) pf=STRATA_PREFILL_GEMM=1
       run_case "$b 150-token prompt, GEMV prefill" "$m" @150 STRATA_PREFILL_GEMV=1 ;;
    esac
    run_case "$b 150-token prompt (${pf#STRATA_})" "$m" @150 $pf
    # prefill logits against the CPU engine's (which CI checks against its
    # token-by-token decode): f32 GEMVs differ by summation order only
    # (3e-6..6e-5 measured); the f16 GEMMs round inputs to 11 bits (~5e-4
    # each), which grows through the blocks (2e-4..6e-4). zoo-qwen2's random
    # weights make it ill-conditioned (perplexity 3e17): there the f32 paths
    # already part by 3.6e-3 and the f16 one by 3.2e-2, so its bounds are
    # ten times wider (its greedy tokens still agree: the cases above)
    case $b in
    zoo-qwen2-bpe) b32=1e-2 b16=1e-1 ;;
    *) b32=1e-4 b16=3e-2 ;;
    esac
    run_logits "$b prefill logits, GEMV (f32)" "$m" $b32 150 STRATA_PREFILL_GEMV=1
    for n in 150 512 700; do
        run_logits "$b prefill logits, GEMM (f16 tensor cores), $n tokens" "$m" $b16 $n
    done
    run_case "$b 150-token prompt, streamed (${pf#STRATA_})" "$m" @150 $pf STRATA_STREAM_TEST=odd:2
    case $b in # tier C reads the file's bytes: models whose rows need no f32 conversion
    stories260K|zoo-*)
        run_case "$b from disk (all blocks, 2 slots)" "$m" "Once upon a time" STRATA_STREAM_TEST=disk:2
        run_case "$b VRAM/RAM/disk mixed (3 slots)" "$m" "Once upon a time" STRATA_STREAM_TEST=mix:3 ;;
    esac
    case $b in # --stream-type: tier-B matrices re-quantized, the same on both engines
    zoo-*)
        # (zoo-qwen2 as q4_k: not compared token for token: its random logits
        # have a near-tie at token 34 that f32 summation order flips; its
        # perplexity agrees, CUDA 3.09006e17 vs CPU 3.09036e17, bench/NOTES.md)
        sts="q4_k q8_0"
        [ "$b" = zoo-qwen2-bpe ] && sts=q8_0
        for st in $sts; do
            cpu_env=STRATA_STREAM_TEST=all:2:$st
            # shellcheck disable=SC2086
            run_case "$b streamed as $st (both engines)" "$m" "Once upon a time" $cpu_env
            cpu_env=
        done ;;
    esac
done
# Synthetic llamas (strata-synth: random weights, 8 small blocks) of the
# benchmark models' mixes. Q4_K_M: its blocks with a Q6_K V run Q|K and V
# in one launch, which no shared model has, and its Q4_K rows of 1024 take
# the int8-x GEMVs (kernels/gemv.h); Q4_0 and Q8_0: wo rounds x to int8 for
# the int8-x gate|up pair (gemv_epi.xq_out / xq_in); Q6_K the same with wo
# in row groups (4 of 4 rows a block), which needs rows over 1024 (dim
# 2048, 4 blocks). So their tokens are
# not the f32 CPU engine's (Q4_K_M's part at token 7): their logits are
# compared with a bound (Q4_K_M measured 1.1e-2 after 150 tokens: each
# int8-x GEMV moves its output by 3-6e-3, test_gemv), and the GPU's
# variants (streamed, without PDL) must give the GPU's own tokens.
synth=$(dirname "$cpu")/strata-synth
for mix in q4_k_m q4_0 q8_0 q6_k; do
    shape="--layers 8 --dim 1024 --heads 8 --kv-heads 2 --ffn 2048"
    [ $mix != q6_k ] || shape="--layers 4 --dim 2048 --heads 16 --kv-heads 4 --ffn 4096"
    # shellcheck disable=SC2086
    if "$synth" $shape --vocab 4096 --ctx 512 \
        --type $mix --seed 3 -o "$tmp/synth.gguf" --quiet 2>"$tmp/synth.err"; then
        run_logits "synth-$mix logits, GEMV (int8 x), 150 tokens" "$tmp/synth.gguf" 3e-2 150 STRATA_PREFILL_GEMV=1
        run_gpu_pair "synth-$mix streamed = resident (GPU)" "$tmp/synth.gguf" STRATA_STREAM_TEST=odd:2
        run_gpu_pair "synth-$mix no programmatic launch = with (GPU)" "$tmp/synth.gguf" STRATA_NO_PDL=1
    else
        printf '%-58s FAIL (%s)\n' "synth-$mix: strata-synth" "$(head -n 1 "$tmp/synth.err")"
        fail=$((fail + 1))
    fi
done
# No allocation after start-up: the same counts for 4 and for 64 tokens,
# resident and streamed (tests/gpu/alloc_count.cu wraps every allocator).
for mode in "" odd:2; do
    for n in 4 64; do
        env ${mode:+STRATA_STREAM_TEST=$mode} STRATA_ALLOC_REPORT="$tmp/alloc.$n" "$gpu" \
            -m models/stories260K.gguf -p "Once upon a time" -n $n --temp 0 --ignore-eos >/dev/null 2>&1
    done
    a=$(tr '\n' ' ' <"$tmp/alloc.4" 2>/dev/null) b=$(tr '\n' ' ' <"$tmp/alloc.64" 2>/dev/null)
    label="allocations, 4 vs 64 tokens${mode:+ (streamed)}"
    if [ -n "$a" ] && [ "$a" = "$b" ]; then
        printf '%-58s ok (%s)\n' "$label" "$a"
        pass=$((pass + 1))
    else
        printf '%-58s FAIL (%s / %s)\n' "$label" "$a" "$b"
        fail=$((fail + 1))
    fi
done
rm -rf "$tmp"
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
