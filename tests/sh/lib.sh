# Shared helpers for the shell tests (sourced, not a test itself).
set -euo pipefail
BB=${BB_BUILD:-build}/bigbatch
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# a tiny, fast configuration on synthetic data
TINY=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 256 --synthetic-test 64 --synthetic-classes 4
      --model resnet8 --width 4 --batch-size 32 --worker-batch 8 --threads 2)
hash_of() { "$BB" inspect --checkpoint "$1" | awk '/^params-hash|^state-hash/ {printf "%s ", $2}'; }
