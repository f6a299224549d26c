#!/usr/bin/env bash
# Training under mpirun with P = 1, 2, 3 (and 4) ranks gives the loss
# trajectory of the single-process run with the same configuration; bit for
# bit (same parameter and state hashes) where the cross-rank sum follows the
# in-process summation tree: hd (and Open MPI's own) when each rank's share
# of the workers is a node of the tree; ring for P <= 2. Elsewhere float
# rounding only (relative loss difference <= 1e-5). Several gradient buckets.
set -eu
cd "$(dirname "$0")/../.."
. tests/mpi/lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail=0
run() { local out=$1 np=$2; shift 2
    if [ "$np" = 0 ]; then "$build/bigbatch" train $tiny --out "$d/$out" "$@" > "$d/$out.log" 2>&1
    else mpi "$np" "$build/bigbatch" train $tiny --out "$d/$out" --bucket-kb 4 "$@" > "$d/$out.log" 2>&1; fi ||
        { echo "FAIL $out:"; tail -5 "$d/$out.log"; fail=1; }
}
exact() { if [ "$(hashes "$d/$1")" = "$(hashes "$d/$2")" ]; then echo "ok   $2: bit-identical to $1";
          else echo "FAIL $2 differs from $1: $(hashes "$d/$2") vs $(hashes "$d/$1")"; fail=1; fi; }
close() { if same_losses "$d/$1" "$d/$2" 1e-5; then echo "ok   $2: losses within $(loss_diff "$d/$1" "$d/$2") of $1";
          else fail=1; fi; }

# k = 6 workers of 8
run single 0 --batch-size 48
run p1 1 --batch-size 48
exact single p1
for a in mpi ring hd; do
    run p2-$a 2 --batch-size 48 --allreduce "$a"   # shares of 3 workers: not tree nodes
    close single p2-$a
    run p3-$a 3 --batch-size 48 --allreduce "$a"   # shares of 2 workers: tree nodes
    close single p3-$a
done
exact single p3-hd
grep -q "gradient allreduce (hd, 6 buckets)" "$d/p3-hd.log" || { echo "FAIL no allreduce summary"; fail=1; }
# k = 8 workers of 8
run single8 0 --batch-size 64
run p2-ring8 2 --batch-size 64 --allreduce ring
exact single8 p2-ring8
run p4-hd8 4 --batch-size 64 --allreduce hd
exact single8 p4-hd8
# two executor threads per rank: a bucket is reduced once both have passed it
run p2-t2-hd8 2 --batch-size 64 --allreduce hd --threads 2
exact single8 p2-t2-hd8
# evaluation is sharded across ranks and summed: the same test error
for r in p3-hd p4-hd8; do
    s=single; [ "$r" = p4-hd8 ] && s=single8
    if [ "$(tail -1 "$d/$s/epochs.csv" | cut -d, -f5-7)" != "$(tail -1 "$d/$r/epochs.csv" | cut -d, -f5-7)" ]; then
        echo "FAIL $r: test metrics differ from $s"; fail=1; fi
done
exit $fail
