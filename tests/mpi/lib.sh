# Sourced by tests/sh/mpi_*.sh: the build folder, and mpirun with the options
# the CI machine needs (root, more ranks than cores). Skips (exit 0) when the
# build has no MPI.
build=${BB_BUILD:-build}
if [ ! -x "$build/bb_mpi_allreduce" ] || ! command -v mpirun >/dev/null; then
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
