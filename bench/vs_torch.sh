#!/usr/bin/env bash
# Training throughput of bigbatch against PyTorch (CPU, Debian's python3-torch)
# on identical settings, float32, full training steps, the same thread count
# for both, PyTorch in both memory layouts (NCHW and channels-last):
#   ResNet-20 (option A) 1x28x28, 10 classes: 2 threads, bigbatch kn 128
#     (4 workers x 32) vs batch 128; 1 thread, kn 32 (1 x 32) vs batch 32;
#   ResNet-50 (ImageNet style) 3x224x224, 10 classes: 2 threads, kn 64
#     (2 workers x 32) vs batch 64 and kn 32 (1 worker x 32, both threads in
#     its layers) vs batch 32.
# First it prints the CPU model, its vector flags and the FMA peak that
# build/bench_peak measures (per instruction set the CPU runs, 1 and 2
# threads); every figure is then also given as a share of that peak (the best
# instruction set's, for the same thread count). The programs run in turn
# (bigbatch, PyTorch NCHW, PyTorch channels-last, bigbatch, ...) so a machine
# whose speed drifts affects all alike; the table gives medians over rounds
# and the ratio of bigbatch to PyTorch's better layout of the same round.
#   bench/vs_torch.sh [--rounds R] [--steps N] [--r50-rounds R] [--r50-steps N] [--only r20|r50] [--passive]
#                     [--kernels K] [--as-avx2]
# --kernels K runs bigbatch with --kernels K (avx2: as an AVX2-only CPU would,
# with the AVX-512 kernels switched off); the ratios are then against a
# PyTorch that still uses every instruction the CPU has.
# --as-avx2 runs both programs as on a CPU without AVX-512: bigbatch with
# --kernels avx2, PyTorch with DNNL_MAX_CPU_ISA=AVX2 (oneDNN's convolutions)
# and ATEN_CPU_CAPABILITY=avx2 (its own element-wise kernels), OpenBLAS for
# both as Haswell; the peak column is then the AVX2 peak.
# --passive runs PyTorch with OMP_WAIT_POLICY=PASSIVE: its OpenMP threads then
# sleep instead of spinning at barriers, which a busy shared machine needs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 steps=20 r50_rounds=1 r50_steps=2 only="" wait_policy="" kernels=fast isa=best isa_env=()
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --r50-rounds) r50_rounds=$2; shift 2 ;;
        --r50-steps) r50_steps=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --passive) wait_policy=PASSIVE; shift ;;
        --kernels) kernels=$2; shift 2 ;;
        --as-avx2) kernels=avx2 isa=avx2+fma
                   isa_env=(DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell); shift ;;
        *) echo "usage: $0 [--rounds R] [--steps N] [--r50-rounds R] [--r50-steps N] [--only r20|r50] [--passive] [--kernels K] [--as-avx2]" >&2
           exit 2 ;;
    esac
done
build=${BB_BUILD:-build}
bin=$build/bigbatch
py=/usr/bin/python3
[ -x "$bin" ] && [ -x "$build/bench_peak" ] || { echo "$bin or $build/bench_peak missing: run make -j2 first" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "needs PyTorch for $py (apt-get install python3-torch)" >&2; exit 2; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p" | head -1; }  # the number after a label
div() { awk -v x="$1" -v y="$2" 'BEGIN {printf "%.3f", (y > 0) ? x / y : 0}'; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $("$py" -c 'import torch; print("torch", torch.__version__)')"
peak_out=$("$build/bench_peak" 2)
echo "$peak_out" | sed 's/^/# /'
peak() { echo "$peak_out" | awk -v t="$1" -v isa="$isa" '$1 == "peak" && (isa == "best" || $2 == isa) && $4 == t && $6 > p {p = $6} END {print p + 0}'; }
[ ${#isa_env[@]} -eq 0 ] || echo "# as on a CPU without AVX-512: ${isa_env[*]}, bigbatch --kernels $kernels; peak: $isa's"
echo "# $rounds rounds of $steps timed steps (ResNet-20), $r50_rounds of $r50_steps (ResNet-50), after warm-up steps;" \
     "medians over rounds${wait_policy:+; PyTorch with OMP_WAIT_POLICY=$wait_policy}"
printf '%-40s | %8s %7s %5s %7s | %8s %8s %7s %5s %7s | %5s\n' setting "bb img/s" GFLOP/s peak "RSS MiB" "pt NCHW" \
    "pt CL" GFLOP/s peak "RSS MiB" ratio

# one row: label threads rounds bigbatch-args... -- torch-command (layout flag appended)
compare() {
    local label=$1 t=$2 nr=$3; shift 3
    local bbargs=() ptcmd=()
    while [ "$1" != "--" ]; do bbargs+=("$1"); shift; done
    shift
    ptcmd=("$@")
    local bi="" bg="" br="" ni="" ci="" pg="" pr="" ratios="" mflop=""
    for _ in $(seq "$nr"); do
        local a n c x y better
        a=$(env "${isa_env[@]}" OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$bin" bench train --threads "$t" --kernels "$kernels" "${bbargs[@]}")
        mflop=$(echo "$a" | sed -n 's|.*(3 x \([0-9.]*\) MFLOP forward per image).*|\1|p')
        n=$(env "${isa_env[@]}" ${wait_policy:+OMP_WAIT_POLICY=$wait_policy} OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
            "$py" "${ptcmd[@]}" --channels-last 0)
        c=$(env "${isa_env[@]}" ${wait_policy:+OMP_WAIT_POLICY=$wait_policy} OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
            "$py" "${ptcmd[@]}" --channels-last 1)
        x=$(echo "$a" | field "images/s")
        # bench train prints images/s with one decimal: recompute it from the median step time
        x=$(awk -v ms="$(echo "$a" | field "step ms median")" -v kn="$(echo "$a" | sed -n 's#.* kn \([0-9]*\) = .*#\1#p')" \
            'BEGIN {printf "%.3f", kn * 1000 / ms}')
        # torch_ref.py prints "images/s X", torch_resnet.py a JSON "img_s": X
        local pn pc
        pn=$(printf %.3f "$(echo "$n" | sed -n 's|.*images/s \([0-9.]*\).*|\1|p; s|.*"img_s": \([0-9.]*\).*|\1|p' | head -1)")
        pc=$(printf %.3f "$(echo "$c" | sed -n 's|.*images/s \([0-9.]*\).*|\1|p; s|.*"img_s": \([0-9.]*\).*|\1|p' | head -1)")
        better=$(awk -v a="$pn" -v b="$pc" 'BEGIN {print (a > b) ? a : b}')
        y=$(awk -v a="$pn" -v b="$pc" 'BEGIN {print (a > b) ? "NCHW" : "channels-last"}')
        bi+="$x"$'\n'; ni+="$pn"$'\n'; ci+="$pc"$'\n'
        bg+="$(echo "$a" | field "GFLOP/s")"$'\n'
        br+="$(echo "$a" | field "peak RSS")"$'\n'
        pg+="$(awk -v i="$better" -v m="$mflop" 'BEGIN {printf "%.1f", 3 * m * i / 1e3}')"$'\n'
        pr+="$( { [ "$y" = NCHW ] && echo "$n" || echo "$c"; } | sed -n 's|.*peak RSS \([0-9.]*\).*|\1|p; s|.*"peak_rss_mib": \([0-9.]*\).*|\1|p')"$'\n'
        ratios+="$(div "$x" "$better")"$'\n'
        echo "#   round: bigbatch $x img/s, PyTorch NCHW $pn, channels-last $pc" >&2
    done
    local p g pgm
    p=$(peak "$t")
    g=$(printf %s "$bg" | median)
    pgm=$(printf %s "$pg" | median)
    printf '%-40s | %8.2f %7.1f %4.0f%% %7.0f | %8.2f %8.2f %7.1f %4.0f%% %7.0f | %5.2f\n' "$label" \
        "$(printf %s "$bi" | median)" "$g" "$(awk -v g="$g" -v p="$p" 'BEGIN {print (p > 0) ? 100 * g / p : 0}')" \
        "$(printf %s "$br" | median)" "$(printf %s "$ni" | median)" "$(printf %s "$ci" | median)" "$pgm" \
        "$(awk -v g="$pgm" -v p="$p" 'BEGIN {print (p > 0) ? 100 * g / p : 0}')" \
        "$(printf %s "$pr" | median)" "$(printf %s "$ratios" | median)"
}

if [ "$only" != r50 ]; then
    compare "ResNet-20 2 threads: kn 128 vs batch 128" 2 "$rounds" --batch-size 128 --worker-batch 32 --steps "$steps" \
        -- bench/torch_ref.py --threads 2 --batch 128 --steps "$steps"
    compare "ResNet-20 1 thread: kn 32 vs batch 32" 1 "$rounds" --batch-size 32 --worker-batch 32 --steps "$steps" \
        -- bench/torch_ref.py --threads 1 --batch 32 --steps "$steps"
fi
if [ "$only" != r20 ]; then
    r50=(--model resnet50 --synthetic-shape 3x224x224 --synthetic-train 128 --synthetic-test 32 --steps "$r50_steps"
         --warmup 1)
    pt50=(bench/torch_resnet.py --device cpu --model resnet50 --shape 3x224x224 --classes 10 --steps "$r50_steps"
          --warmup 1)
    compare "ResNet-50 2 threads: kn 64 vs batch 64" 2 "$r50_rounds" "${r50[@]}" --batch-size 64 --worker-batch 32 \
        -- "${pt50[@]}" --batch 64
    compare "ResNet-50 2 threads: kn 32 vs batch 32" 2 "$r50_rounds" "${r50[@]}" --batch-size 32 --worker-batch 32 \
        -- "${pt50[@]}" --batch 32
fi
echo "# bb: bigbatch (kernels $kernels$([ "$kernels" = fast ] && echo ": the best register kernels the CPU runs")); pt NCHW / pt CL: PyTorch images/s in"
echo "# each layout; GFLOP/s, peak and RSS of PyTorch are its better layout's; peak: GFLOP/s as a share of the"
echo "# measured FMA peak for that thread count; ratio: median over rounds of bigbatch / PyTorch's better layout"
