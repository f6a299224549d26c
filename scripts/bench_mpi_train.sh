#!/usr/bin/env bash
# Training throughput of one process with T threads against P MPI ranks on
# the same host, for docs/DISTRIBUTED.md. Runs the configurations in turn,
# REPS times (alternating, so load changes hit all of them alike), and prints
# the median images/s over iterations 2.. of each run, the per-iteration
# allreduce time and the part of it left exposed after backward.
# usage: scripts/bench_mpi_train.sh [REPS] [STEPS] [-- extra training flags]
#        BUCKETS="256 4194304" scripts/bench_mpi_train.sh ...   (P = 2 with each
#        --bucket-kb instead: 4194304 puts all parameters in one bucket, which
#        can only be reduced after backward, i.e. no overlap)
# default workload: ResNet-20 at kn = 256 (k = 8 workers of 32) on 1x28x28
# inputs (Fashion-MNIST's shape; synthetic data so no test-set pass dominates).
set -eu
cd "$(dirname "$0")/.."
reps=${1:-3}; steps=${2:-6}
shift $(( $# < 2 ? $# : 2 )); [ "${1:-}" = -- ] && shift
build=${BB_BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cfg="--data synthetic --synthetic-shape 1x28x28 --synthetic-train 60000 --synthetic-test 64 --eval-every 0
     --checkpoint-every 0 --max-steps $steps $*"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
run() {  # name launcher...
    local name=$1; shift
    "$@" $cfg --out "$d/$name" > "$d/$name.log" 2>&1 || { echo "$name failed:"; tail -3 "$d/$name.log"; return 1; }
    # img_s, t_reduce, t_allreduce of iterations 2.. (the first warms up)
    tail -n +3 "$d/$name/iters.csv" | cut -d, -f7,11,15 >> "$d/$name.rows"
}
names="T2 P1xT2 P2xT1"
[ -n "${BUCKETS:-}" ] && names=$(for b in $BUCKETS; do printf "P2xT1-bucket%s " "$b"; done)
for r in $(seq "$reps"); do
    if [ -n "${BUCKETS:-}" ]; then  # the overlap: P = 2 with each bucket size
        for b in $BUCKETS; do
            run "P2xT1-bucket$b" mpirun -np 2 --oversubscribe --bind-to none "$build/bigbatch" train --threads 1 --bucket-kb "$b"
        done
        continue
    fi
    run T2 "$build/bigbatch" train --threads 2
    run P1xT2 mpirun -np 1 --bind-to none "$build/bigbatch" train --threads 2
    run P2xT1 mpirun -np 2 --oversubscribe --bind-to none "$build/bigbatch" train --threads 1
done
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
first=${names%% *}
base=$(cut -d, -f1 "$d/$first.rows" | median)
printf "| layout | images/s (median) | vs %s | allreduce ms/iter | exposed ms/iter |\n|---|---:|---:|---:|---:|\n" "$first"
for n in $names; do
    ips=$(cut -d, -f1 "$d/$n.rows" | median)
    ar=$(cut -d, -f3 "$d/$n.rows" | median)
    ex=$(cut -d, -f2 "$d/$n.rows" | median)
    awk -v n="$n" -v i="$ips" -v b="$base" -v a="$ar" -v e="$ex" \
        'BEGIN {printf "| %s | %.1f | %.2f | %.2f | %.2f |\n", n, i, i / b, 1000 * a, 1000 * e}'
done
echo "($(wc -l < "$d/$first.rows") iterations per layout; $(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
