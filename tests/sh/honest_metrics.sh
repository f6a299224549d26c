# bigbatch eval reads only the test split: a checkpoint of a run on an IDX set
# evaluates the same, to the digit, in a directory that holds only the t10k
# files (the checkpoint records the training data's normalization); and it
# never prints an accuracy for a model whose test loss is not finite (the C
# tests in tests/test_honest.c build such a model through the library).
. "$(dirname "$0")/lib.sh"
# an IDX pair of COUNT 8x8 images with pseudo-random pixels and labels 0..9
idx() {  # PREFIX COUNT
    local n=$2
    { printf '\x00\x00\x08\x03\x00\x00'; printf "\\x$(printf %02x $((n / 256)))\\x$(printf %02x $((n % 256)))";
      printf '\x00\x00\x00\x08\x00\x00\x00\x08'; awk -v n=$((n * 64)) -v s="$n" 'BEGIN {
          x = s; for (i = 0; i < n; i++) { x = (x * 1103 + 12345) % 65536; printf "%c", int(x / 256) } }'; } > "$1-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01\x00\x00'; printf "\\x$(printf %02x $((n / 256)))\\x$(printf %02x $((n % 256)))";
      awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "%c", i % 10 }'; } > "$1-labels-idx1-ubyte"
}
mkdir -p "$TMP/data" "$TMP/t10k"
export LC_ALL=C  # awk's %c: one byte per value
idx "$TMP/data/train" 96
idx "$TMP/data/t10k" 40
cp "$TMP/data"/t10k-* "$TMP/t10k/"
"$BB" train --data mnist --data-dir "$TMP/data" --model resnet8 --width 4 --batch-size 16 --worker-batch 8 \
    --epochs 1 --threads 2 --out "$TMP/run" 2> "$TMP/train.log" || fail "training: $(tail -2 "$TMP/train.log")"
ck="$TMP/run/checkpoint.safetensors"
"$BB" eval --checkpoint "$ck" > "$TMP/both" 2> "$TMP/err" || fail "eval with both splits: $(cat "$TMP/err")"
"$BB" eval --checkpoint "$ck" --data-dir "$TMP/t10k" > "$TMP/only" 2> "$TMP/err" ||
    fail "eval with the test split only: $(cat "$TMP/err")"
grep -q "mnist on 40 test samples: loss" "$TMP/only" || fail "eval: $(cat "$TMP/only")"
[ "$(tail -1 "$TMP/both")" = "$(tail -1 "$TMP/only")" ] ||
    fail "the test split alone gives $(tail -1 "$TMP/only"), both splits $(tail -1 "$TMP/both")"
# training still needs the training files, and names them
if "$BB" train --data mnist --data-dir "$TMP/t10k" --model resnet8 --width 4 --batch-size 16 --worker-batch 8 \
    --out "$TMP/run2" 2> "$TMP/err"; then fail "trained without training files"; fi
grep -q "train-images-idx3-ubyte" "$TMP/err" || fail "unclear: $(cat "$TMP/err")"
echo "ok: $(tail -1 "$TMP/only")"
