#!/usr/bin/env bash
# `bigbatch bench train`: prints throughput and memory, a per-layer profile with
# --profile, runs every kernel set the CPU has (and refuses, saying so, the
# register kernels it lacks), and rejects unknown subcommands and flags.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BB_BUILD:-build}/bigbatch
small=(--model resnet8 --batch-size 16 --worker-batch 8 --synthetic-train 256 --steps 2 --warmup 1)
out=$("$bin" bench train "${small[@]}" --profile --threads 2)
echo "$out"
echo "$out" | grep -Eq '^images/s [0-9.]+  GFLOP/s [0-9.]+ .* peak RSS [0-9.]+ MiB$'
echo "$out" | grep -q 'kn 16 = 2 workers x 8 | 2 threads (2 executors) | kernels fast'
for row in conv "batchnorm (+ add, relu)" avgpool linear "shortcut-A" loss; do
    echo "$out" | grep -q "^  $row  " || { echo "profile row '$row' missing"; exit 1; }
done
# the residual adds run inside the BNs before them
echo "$out" | grep -q "^  add " && { echo "profile row 'add' present: the residual adds are not fused"; exit 1; }
# without --profile: no profile
"$bin" bench train "${small[@]}" | grep -q profile && { echo "profile printed without --profile"; exit 1; }
for k in reference portable; do
    "$bin" bench train "${small[@]}" --kernels "$k" --threads 1 | grep -q "kernels $k"
done
"$bin" bench train "${small[@]}" --kernels portable --threads 1 | grep -q "kernels portable (portable)"
# the instruction sets the CPU reports decide which variants run
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
for k in avx2 avx512; do
    case $k in avx2) need="avx2 fma" ;; avx512) need="avx512f avx2 fma" ;; esac
    has=1
    for f in $need; do [[ $flags == *" $f "* ]] || has=0; done
    set +e
    out=$("$bin" bench train "${small[@]}" --kernels "$k" --threads 1 2>&1)
    rc=$?
    set -e
    if [ $has = 1 ]; then
        [ $rc -eq 0 ] && echo "$out" | grep -q "kernels $k (" || { echo "--kernels $k must run here: $out"; exit 1; }
    else
        [ $rc -eq 2 ] && echo "$out" | grep -q "cannot run the $k" || { echo "--kernels $k must be refused here: $out"; exit 1; }
        echo "--kernels $k refused as expected: $out"
    fi
done
set +e
"$bin" bench frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown subcommand must exit 2"; exit 1; }
"$bin" bench >/dev/null 2>&1; [ $? -eq 2 ] || { echo "missing subcommand must exit 2"; exit 1; }
"$bin" bench train --steps 0 >/dev/null 2>&1; [ $? -eq 2 ] || { echo "--steps 0 must exit 2"; exit 1; }
"$bin" bench train --kernels fastest >/dev/null 2>&1; [ $? -eq 2 ] || { echo "bad --kernels must exit 2"; exit 1; }
"$bin" bench --help | grep -q "train"
exit 0
