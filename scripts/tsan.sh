#!/usr/bin/env bash
# ThreadSanitizer on the threaded parts of bigbatch: the fork-join pool, the
# prefetching loader (several producers), the stateless fetch() from several
# threads (in-memory sets and image folders), the per-thread gradient sums,
# and a whole `bigbatch train` with 3 compute and 3 loader threads that is
# stopped by SIGINT (signal, checkpoint, exit 130) and resumed. Any report
# fails (halt_on_error). CI runs this (.ci/run); by hand: scripts/tsan.sh.
#
# OpenBLAS and Open MPI are not instrumented: their own threads and
# synchronization are invisible to TSan. No suppressions are needed today: the
# BLAS calls happen inside one executor thread on buffers that thread owns.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s SAN=thread -j2 build-tsan/bigbatch build-tsan/bb_tests
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
for t in data_augment_no_hidden_state gradient_sum_is_identical_for_any_split trainer_bit_identical_for_any_thread_count \
         k_workers_equal_one_worker_without_batch_norm resume_is_bit_for_bit divergence_stops_with_a_clear_message \
         imagefolder_augmentation_deterministic_any_order_thread_or_cache imagefolder_training_identical_for_any_loader_threads; do
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
echo "tsan: no data races reported (threaded tests, and train + SIGINT + resume with 3 + 3 threads)"
