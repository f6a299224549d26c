#!/usr/bin/env bash
# End to end: `bigbatch train --data imagefolder` on a generated folder data set
# (JPEG and PNG, one truncated JPEG, one text file): a tiny model on 16x16
# crops for a few iterations; bad files are reported and left out, or stop the
# run with --bad-images fail; a validation folder or a held-out part is used.
set -eu
cd "$(dirname "$0")/../.."
build=${BB_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bench_imagefolder" gen "$tmp/train" --classes 3 --per-class 10 --size 48x36 --png-every 3 >/dev/null
"$build/bench_imagefolder" gen "$tmp/val" --classes 3 --per-class 2 --size 40x40 --seed 9 >/dev/null
head -c 900 "$tmp/train/class01/img00000.jpg" > "$tmp/train/class01/cut.jpg"
echo "not an image" > "$tmp/train/class02/readme.jpg"
common=(--data imagefolder --data-dir "$tmp/train" --model resnet8 --width 4 --image-size 16
        --batch-size 8 --worker-batch 4 --epochs 1 --threads 2 --loader-threads 2)

# a validation folder; bad files left out (the default) and named in the log
"$build/bigbatch" train "${common[@]}" --val-dir "$tmp/val" --out "$tmp/run1" 2> "$tmp/log1"
grep -q "bad image $tmp/train/class01/cut.jpg: truncated JPEG" "$tmp/log1"
grep -q "bad image $tmp/train/class02/readme.jpg: not a JPEG or PNG image" "$tmp/log1"
grep -q "2 bad (left out)" "$tmp/log1"
grep -q "30 training and 6 evaluation images of 3 classes" "$tmp/log1"
grep -q '"type":"epoch".*"test_err"' "$tmp/run1/metrics.jsonl"
[ "$(grep -c '"type":"iter"' "$tmp/run1/metrics.jsonl")" -eq 3 ]   # floor(30 / 8) iterations
[ -f "$tmp/train/.bigbatch-index" ]

# no validation folder: 10% of each class held out; the index is reused
"$build/bigbatch" train "${common[@]}" --max-steps 2 --out "$tmp/run2" 2> "$tmp/log2"
grep -q "27 training and 3 evaluation images" "$tmp/log2"
grep -q "32 reused, 0 verified" "$tmp/log2"

# --bad-images fail stops before training, naming the first bad file
if "$build/bigbatch" train "${common[@]}" --bad-images fail --out "$tmp/run3" 2> "$tmp/log3"; then
    echo "expected a failure with --bad-images fail"; exit 1
fi
grep -q "bigbatch train: $tmp/train/class01/cut.jpg: truncated JPEG" "$tmp/log3"
grep -q "2 bad images" "$tmp/log3"

# --holdout 0 without --val-dir is refused before any work
if "$build/bigbatch" train "${common[@]}" --holdout 0 --out "$tmp/run4" 2> "$tmp/log4"; then exit 1; fi
grep -q "needs --val-dir VALROOT or --holdout" "$tmp/log4"
echo ok
