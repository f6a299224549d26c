#!/usr/bin/env bash
# Checkpoints do not depend on P: a checkpoint written by 2 ranks equals the
# single-process one, and resuming it with 4 ranks, 3 ranks or one process
# continues the same run (bit for bit with hd where the summation tree is
# kept, k = 8 over 1, 2 or 4 ranks; to float rounding with 3 ranks).
set -eu
cd "$(dirname "$0")/../.."
. tests/mpi/lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail=0
cfg="$tiny --batch-size 64 --allreduce hd --bucket-kb 4"
check() { if [ "$(hashes "$1")" = "$(hashes "$2")" ]; then echo "ok   $3"; else echo "FAIL $3: $(hashes "$1") vs $(hashes "$2")"; fail=1; fi; }
quiet() { "$@" > "$d/log" 2>&1 || { echo "FAIL: $*"; tail -5 "$d/log"; fail=1; }; }

quiet "$build/bigbatch" train $cfg --out "$d/full"                  # 12 iterations, one process
quiet "$build/bigbatch" train $cfg --out "$d/half1" --max-steps 7
quiet mpi 2 "$build/bigbatch" train $cfg --out "$d/half2" --max-steps 7
check "$d/half1" "$d/half2" "the checkpoint after 7 iterations is the same from 1 process and from 2 ranks"
cp -r "$d/half2" "$d/to4"; cp -r "$d/half2" "$d/to3"; cp -r "$d/half2" "$d/to1"
quiet mpi 4 "$build/bigbatch" train --resume "$d/to4/checkpoint.safetensors" --out "$d/to4" --max-steps 0
check "$d/full" "$d/to4" "2 ranks, then resumed on 4: bit-identical to the uninterrupted run"
quiet "$build/bigbatch" train --resume "$d/to1/checkpoint.safetensors" --out "$d/to1" --max-steps 0
check "$d/full" "$d/to1" "2 ranks, then resumed in one process: bit-identical"
quiet mpi 3 "$build/bigbatch" train --resume "$d/to3/checkpoint.safetensors" --out "$d/to3" --max-steps 0
if same_losses "$d/full" "$d/to3" 1e-5; then echo "ok   2 ranks, then resumed on 3: losses within $(loss_diff "$d/full" "$d/to3")"; else fail=1; fi
[ "$(wc -l < "$d/to4/epochs.csv")" = 3 ] || { echo "FAIL resumed run's epochs.csv:"; cat "$d/to4/epochs.csv"; fail=1; }
exit $fail
