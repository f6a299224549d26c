#!/usr/bin/env bash
# The fast operators' plain-C paths (what a CPU without AVX2+FMA runs: the
# portable register kernel and the baseline element-wise loops) against the
# reference: builds the library and tests with -DBB_NO_SIMD (no vector code,
# no AVX2 twin) into a temporary folder and runs the fast-kernel, golden and
# gradient tests there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
make -s -j2 BUILD="$dir" EXTRA_CFLAGS=-DBB_NO_SIMD "$dir/bb_tests" >/dev/null
out=$(BB_TEST_VERBOSE=1 "$dir/bb_tests" fast_ 2>&1; "$dir/bb_tests" golden 2>&1; "$dir/bb_tests" resnet_gradients 2>&1)
echo "$out"
echo "$out" | grep -q "tiles (portable)" || { echo "the fallback build did not use the portable kernels"; exit 1; }
[ "$(echo "$out" | grep -c '^ok ')" -ge 14 ] || { echo "expected at least 14 passing tests"; exit 1; }
! echo "$out" | grep -q '^FAIL'
