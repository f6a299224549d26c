#!/usr/bin/env bash
# Under mpirun the job gives one account of what went wrong: a refused command
# line or configuration is printed once (by rank 0), before or after the data
# is loaded, and a hung rank 0 is named once, without a second, contradictory
# watchdog message from the woken rank.
set -eu
cd "$(dirname "$0")/../.."
. tests/mpi/lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail=0
# once NAME PATTERN -- COMMAND: non-zero exit, exactly one line matching PATTERN
once() {
    local name=$1 pat=$2; shift 3
    local rc=0
    "$@" > "$d/$name.log" 2>&1 || rc=$?
    local n; n=$(grep -cE "$pat" "$d/$name.log" || true)
    if [ $rc -eq 0 ]; then echo "FAIL $name: the job succeeded"; fail=1; return; fi
    if [ "$n" != 1 ]; then echo "FAIL $name: $n lines match '$pat', want 1:"; grep -E "bigbatch" "$d/$name.log" | head; fail=1; return; fi
    echo "ok   $name (exit $rc): $(grep -m1 -oE "$pat" "$d/$name.log")"
}
once flag "bigbatch train: unknown flag --no-such-flag" -- mpi 2 "$build/bigbatch" train --no-such-flag 1
once value "bigbatch train: --lr: expected a number" -- mpi 2 "$build/bigbatch" train --lr abc
once config "bigbatch train: --warmup-epochs 1000 ends after the run" -- \
    mpi 2 "$build/bigbatch" train $tiny --batch-size 48 --warmup-epochs 1000 --out "$d/run"
once eval "bigbatch eval: --checkpoint FILE is required" -- mpi 2 "$build/bigbatch" eval
once sweep "bigbatch sweep: give --seed or --seeds, not both" -- mpi 2 "$build/bigbatch" sweep --seed 1 --seeds 1,2
# refused once the data is loaded, where the training-set size decides: an IDX
# set of 100 blank 28x28 training images (and 20 test images)
idx() {  # FILE-PREFIX COUNT-AS-4-BYTES COUNT
    { printf '\x00\x00\x08\x03'; printf "$2"; printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c $(($3 * 784)) /dev/zero; } > "$1-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01'; printf "$2"; head -c "$3" /dev/zero; } > "$1-labels-idx1-ubyte"
}
mkdir -p "$d/data"
idx "$d/data/train" '\x00\x00\x00\x64' 100
idx "$d/data/t10k" '\x00\x00\x00\x14' 20
once loaded "bigbatch train: --epochs 0.05 gives 0 iterations at --batch-size 16 on 100 training samples" -- \
    mpi 2 "$build/bigbatch" train --data mnist --data-dir "$d/data" --model resnet8 --width 4 --batch-size 16 \
    --worker-batch 8 --epochs 0.05 --threads 1 --out "$d/run"
[ -d "$d/run" ] && { echo "FAIL config: created the run directory"; fail=1; }
# a hung rank 0: rank 1 names it, and rank 0, woken while the job ends, stays silent
BB_FAULT=hang:0:5 once hang "watchdog:" -- mpi 3 "$build/bigbatch" train $tiny --batch-size 48 --out "$d/run2" --watchdog 2
grep -qE "no answer from rank 0 .*it is hung or dead" "$d/hang.log" || { echo "FAIL hang: rank 0 not named:"; grep watchdog "$d/hang.log"; fail=1; }
exit $fail
