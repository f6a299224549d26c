#!/usr/bin/env bash
# bigbatch sweep stopped by SIGINT checkpoints the run it is in and exits 130;
# the same command then skips the finished run, resumes the interrupted one
# from its checkpoint and ends with the same parameters (bit for bit) as a
# sweep that was never interrupted; a third call has nothing left to do.
set -eu
bb="$PWD/${BB_BUILD:-build}/bigbatch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="--data synthetic --synthetic-shape 1x8x8 --synthetic-train 4096 --synthetic-test 128 --synthetic-classes 4
       --model resnet8 --width 4 --worker-batch 8 --ref-batch 16 --warmup-epochs 1 --epochs 3 --threads 2 --plot 0"
# the reference, uninterrupted
"$bb" sweep $flags --sizes 16,32 --out "$tmp/ref" > "$tmp/ref.log" 2>&1

# interrupted during the second run (kn = 32: 128 iterations per epoch)
"$bb" sweep $flags --sizes 16,32 --out "$tmp/s" > "$tmp/1.log" 2>&1 &
pid=$!
iters="$tmp/s/runs/kn00032-gradual-s1/iters.csv"
for _ in $(seq 1 3000); do
    if [ -f "$iters" ] && [ "$(wc -l < "$iters")" -ge 30 ]; then break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.02
done
kill -INT $pid 2>/dev/null || true
rc=0; wait $pid || rc=$?
if [ $rc -ne 130 ]; then echo "expected exit 130 after SIGINT, got $rc"; cat "$tmp/1.log"; exit 1; fi
grep -q "stopped by a signal" "$tmp/1.log"
test -f "$tmp/s/runs/kn00016-gradual-s1/done.json"
test ! -f "$tmp/s/runs/kn00032-gradual-s1/done.json"
test -f "$tmp/s/runs/kn00032-gradual-s1/checkpoint.safetensors"

"$bb" sweep $flags --sizes 16,32 --out "$tmp/s" > "$tmp/2.log" 2>&1
grep -q "kn00016-gradual-s1: finished before, skipped" "$tmp/2.log"
grep -q "kn00032-gradual-s1: resuming from iteration" "$tmp/2.log"
test -f "$tmp/s/runs/kn00032-gradual-s1/done.json"
# every iteration logged exactly once
steps=$(tail -n +2 "$iters" | cut -d, -f1)
test "$(echo "$steps" | wc -l)" -eq 384
test "$(echo "$steps" | sort -n | uniq | wc -l)" -eq 384
for kn in 00016 00032; do
    a=$("$bb" inspect --checkpoint "$tmp/ref/runs/kn$kn-gradual-s1/checkpoint.safetensors" | grep -E 'hash')
    b=$("$bb" inspect --checkpoint "$tmp/s/runs/kn$kn-gradual-s1/checkpoint.safetensors" | grep -E 'hash')
    if [ "$a" != "$b" ]; then echo "kn $kn: resumed run differs: $a vs $b"; exit 1; fi
done
"$bb" sweep $flags --sizes 16,32 --out "$tmp/s" > "$tmp/3.log" 2>&1
test "$(grep -c 'finished before, skipped' "$tmp/3.log")" -eq 2
grep -q "| 32 | gradual | 0.2 | 1 |" "$tmp/3.log"
# a changed configuration is refused
if "$bb" sweep $flags --sizes 16,32 --out "$tmp/s" --epochs 4 > "$tmp/4.log" 2>&1; then exit 1; fi
grep -q "started with --epochs 3" "$tmp/4.log"
