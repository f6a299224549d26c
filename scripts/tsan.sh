#!/usr/bin/env bash
# ThreadSanitizer on the threaded parts of bigbatch: the fork-join pool and
# the teams of threads that share a worker's layers, the gradient buckets and
# communication thread that overlap backprop, the prefetching loader (several
# producers), the stateless fetch() from several threads (in-memory sets and
# image folders), the per-thread gradient sums, a whole `bigbatch train` with
# 3 compute and 3 loader threads that is stopped by SIGINT (signal,
# checkpoint, exit 130) and resumed, and (MPI
# builds) 2 ranks whose communication threads overlap the allreduce. Any report
# fails (halt_on_error). CI runs this (.ci/run); by hand: scripts/tsan.sh.
#
# OpenBLAS and Open MPI are not instrumented: their own threads and
# synchronization are invisible to TSan. The BLAS calls happen inside one
# executor thread on buffers that thread owns. scripts/tsan.supp holds the one
# suppression, for a lock-order report inside Open MPI's MPI_Init.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s SAN=thread -j2 build-tsan/bigbatch build-tsan/bb_tests
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}"
for t in data_augment_no_hidden_state gradient_sum_is_identical_for_any_split trainer_bit_identical_for_any_thread_count \
         k_workers_equal_one_worker_without_batch_norm resume_is_bit_for_bit divergence_stops_with_a_clear_message \
         imagefolder_augmentation_deterministic_any_order_thread_or_cache imagefolder_training_identical_for_any_loader_threads \
         deferred_merges_by_range_equal_the_whole_sum training_is_bit_identical_for_any_bucket_size_and_thread_count \
         team_range_split_covers_each_index_once team_conv_equals_one_thread_bit_for_bit \
         team_batchnorm_equals_one_thread_bit_for_bit team_executor_equals_one_thread_bit_for_bit; do
    ./build-tsan/bb_tests "$t" | grep -E '^(ok|FAIL)'
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TINY=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 256 --synthetic-test 64 --synthetic-classes 4
      --model resnet8 --width 4 --batch-size 48 --worker-batch 8 --threads 3 --loader-threads 3 --epochs 6)
./build-tsan/bigbatch train "${TINY[@]}" --out "$TMP/run" 2>"$TMP/log" &
pid=$!
for _ in $(seq 400); do [ -s "$TMP/run/iters.csv" ] && [ "$(wc -l < "$TMP/run/iters.csv")" -gt 4 ] && break; sleep 0.05; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 130 ] || [ $rc -eq 0 ] || { cat "$TMP/log"; echo "tsan: train exited $rc"; exit 1; }
./build-tsan/bigbatch train --resume auto --out "$TMP/run" 2>>"$TMP/log" || { cat "$TMP/log"; echo "tsan: resume failed"; exit 1; }
# two MPI ranks of 2 threads each: the communication thread allreduces
# buckets while the executors are still in backprop
mpi=""
if ldd build-tsan/bigbatch | grep -q libmpi && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    mpirun -np 2 --oversubscribe --bind-to none -x TSAN_OPTIONS ./build-tsan/bigbatch train "${TINY[@]}" --threads 2 \
        --loader-threads 1 --bucket-kb 4 --epochs 2 --out "$TMP/mpi" 2>"$TMP/mpi.log" || { cat "$TMP/mpi.log"; echo "tsan: mpirun failed"; exit 1; }
    mpi=", and 2 MPI ranks x 2 threads with overlapped allreduce"
fi
echo "tsan: no data races reported (threaded tests, train + SIGINT + resume with 3 + 3 threads$mpi)"
