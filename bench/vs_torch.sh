#!/usr/bin/env bash
# Training throughput of bigbatch against PyTorch (CPU, Debian's python3-torch)
# on identical settings: ResNet-20 (option A) on 1x28x28 inputs, 10 classes,
# full training steps, float32, the same thread count for both. The two run
# in turn (bigbatch, torch, bigbatch, torch, ...) so a machine whose speed
# drifts affects both alike; the table gives medians over the rounds and the
# ratio bigbatch / PyTorch. Peak RSS is each process's own getrusage figure.
#   bench/vs_torch.sh [--rounds R] [--steps N] [--only 2|1] [--passive]
# --passive runs PyTorch with OMP_WAIT_POLICY=PASSIVE: its OpenMP threads then
# sleep instead of spinning at barriers, which a busy shared machine needs.
# Settings: 2 threads: bigbatch kn 128 = 4 workers x 32 vs PyTorch batch 128;
#           1 thread:  bigbatch kn 32 = 1 worker x 32   vs PyTorch batch 32.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 steps=20 only="" wait_policy=""
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --passive) wait_policy=PASSIVE; shift ;;
        *) echo "usage: $0 [--rounds R] [--steps N] [--only 2|1] [--passive]" >&2; exit 2 ;;
    esac
done
bin=${BB_BUILD:-build}/bigbatch
py=/usr/bin/python3
[ -x "$bin" ] || { echo "$bin missing: run make -j2 first" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "needs PyTorch for $py (apt-get install python3-torch)" >&2; exit 2; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p" | head -1; }  # the number after a label

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $("$py" -c 'import torch; print("torch", torch.__version__)')"
echo "# $rounds rounds, $steps timed steps each (after 3 warm-up steps); medians over rounds${wait_policy:+; PyTorch with OMP_WAIT_POLICY=$wait_policy}"
printf '%-9s | %-27s | %9s %7s %7s %8s | %9s %7s %7s %8s | %6s %6s\n' setting "bigbatch vs PyTorch" "bb img/s" \
    "GFLOP/s" "RSS MiB" "img/CPUs" "pt img/s" "GFLOP/s" "RSS MiB" "img/CPUs" "ratio" "(CPU)"
compare() {  # threads bigbatch-kn torch-batch
    local t=$1 kn=$2 tb=$3 a b
    local ai="" ag="" ar="" ac="" bi="" bg="" br="" bc="" ratios="" cratios=""
    for _ in $(seq "$rounds"); do
        a=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$bin" bench train --threads "$t" --batch-size "$kn" \
            --worker-batch 32 --steps "$steps")
        b=$(env ${wait_policy:+OMP_WAIT_POLICY=$wait_policy} OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
            "$py" bench/torch_ref.py --threads "$t" --batch "$tb" --steps "$steps")
        local x y
        x=$(echo "$a" | field "images/s"); y=$(echo "$b" | field "images/s")
        ai+="$x"$'\n'; bi+="$y"$'\n'
        ag+="$(echo "$a" | field "GFLOP/s")"$'\n'; bg+="$(echo "$b" | field "GFLOP/s")"$'\n'
        ar+="$(echo "$a" | field "peak RSS")"$'\n'; br+="$(echo "$b" | field "peak RSS")"$'\n'
        ratios+="$(awk -v x="$x" -v y="$y" 'BEGIN {printf "%.3f", x / y}')"$'\n'
        x=$(echo "$a" | sed -n 's|.*: \([0-9.]*\) images per CPU second.*|\1|p'); y=$(echo "$b" | sed -n 's|.*: \([0-9.]*\) images per CPU second.*|\1|p')
        ac+="$x"$'\n'; bc+="$y"$'\n'
        cratios+="$(awk -v x="$x" -v y="$y" 'BEGIN {printf "%.3f", x / y}')"$'\n'
        echo "#   round: bigbatch $(echo "$a" | field "images/s") img/s, PyTorch $(echo "$b" | field "images/s") img/s" >&2
    done
    printf '%-9s | %-27s | %9.1f %7.1f %7.1f %8.1f | %9.1f %7.1f %7.1f %8.1f | %6.2f %6.2f\n' \
        "$t thread$([ "$t" = 1 ] || echo s)" "kn $kn (n 32) vs batch $tb" "$(printf %s "$ai" | median)" \
        "$(printf %s "$ag" | median)" "$(printf %s "$ar" | median)" "$(printf %s "$ac" | median)" \
        "$(printf %s "$bi" | median)" "$(printf %s "$bg" | median)" "$(printf %s "$br" | median)" \
        "$(printf %s "$bc" | median)" "$(printf %s "$ratios" | median)" "$(printf %s "$cratios" | median)"
}
[ "$only" = 1 ] || compare 2 128 128
[ "$only" = 2 ] || compare 1 32 32
echo "# ratio: median over rounds of (bigbatch images/s) / (PyTorch images/s) of the same round;"
echo "# (CPU): the same for images per CPU second (process CPU time: what other processes take does not count;"
echo "# a thread spinning at a barrier does, which weighs against PyTorch's OpenMP at 2 threads)"
