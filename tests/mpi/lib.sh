# Sourced by tests/sh/mpi_*.sh: the build folder, and mpirun with the options
# the CI machine needs (root, more ranks than cores). Skips (exit 0) when the
# build has no MPI.
build=${BB_BUILD:-build}
if ! ldd "$build/bigbatch" 2>/dev/null | grep -q libmpi || [ ! -x "$build/bb_mpi_allreduce" ] ||
   ! command -v mpirun >/dev/null; then
    echo "skipped: $build was built without MPI (make MPI=1)"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# AddressSanitizer: Open MPI keeps allocations until exit
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { local np=$1; shift; mpirun -np "$np" --oversubscribe --bind-to none "$@"; }
# a tiny training configuration: each run takes about a second
tiny="--data synthetic --synthetic-shape 1x8x8 --synthetic-train 384 --synthetic-test 96 --synthetic-classes 4
      --model resnet8 --width 4 --worker-batch 8 --epochs 2 --eval-every 1 --checkpoint-every 1 --threads 1"
# the checkpoint's parameter and state hashes, one line
hashes() { "$build/bigbatch" inspect --checkpoint "$1/checkpoint.safetensors" | grep -E '^(params|state)-hash' | tr '\n' ' '; }
# largest relative difference between the loss columns of two runs' iters.csv
# (fails when the row counts differ: metrics come from rank 0 only)
loss_diff() {
    [ "$(wc -l < "$1/iters.csv")" = "$(wc -l < "$2/iters.csv")" ] || { echo "row counts differ"; return 1; }
    paste -d, <(cut -d, -f3 "$1/iters.csv" | tail -n +2) <(cut -d, -f3 "$2/iters.csv" | tail -n +2) |
        awk -F, '{d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1); if (r > m) m = r} END {printf "%.3g\n", m}'
}
# passes when loss_diff is at most $3
same_losses() {
    local d; d=$(loss_diff "$1" "$2") || { echo "FAIL $1 vs $2: $d"; return 1; }
    awk -v d="$d" -v t="$3" 'BEGIN {exit !(d <= t)}' || { echo "FAIL $1 vs $2: losses differ by $d (relative), more than $3"; return 1; }
}
