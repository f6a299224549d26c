#!/usr/bin/env bash
# mpi, ring and hd against a reference sum on every communicator size 1..8
# (sub-communicators of an 8-rank job) and on a 3-rank world; the watchdog
# names a rank that never joins.
set -eu
cd "$(dirname "$0")/../.."
. tests/mpi/lib.sh
mpi 8 "$build/bb_mpi_allreduce" 70001
mpi 3 "$build/bb_mpi_allreduce" 20000
