# bigbatch train writes metrics and a checkpoint; an interrupted run resumed
# from its checkpoint ends bit-for-bit where an uninterrupted one does; eval
# reads the checkpoint back.
. "$(dirname "$0")/lib.sh"
"$BB" train "${TINY[@]}" --epochs 3 --warmup-epochs 1 --out "$TMP/a" 2>"$TMP/a.log" || { cat "$TMP/a.log"; fail "train"; }
for f in config.json metrics.jsonl iters.csv epochs.csv checkpoint.safetensors; do
    [ -s "$TMP/a/$f" ] || fail "missing $f"
done
[ "$(grep -c '"type":"iter"' "$TMP/a/metrics.jsonl")" -eq 24 ] || fail "expected 24 iteration records"
[ "$(grep -c '"type":"epoch"' "$TMP/a/metrics.jsonl")" -eq 3 ] || fail "expected 3 epoch records"
[ "$(wc -l < "$TMP/a/epochs.csv")" -eq 4 ] || fail "epochs.csv: header + 3 rows"
grep -q '"test_err"' "$TMP/a/metrics.jsonl" || fail "no test error recorded"
# interrupted after 10 iterations (mid-epoch), then resumed
"$BB" train "${TINY[@]}" --epochs 3 --warmup-epochs 1 --max-steps 10 --out "$TMP/b" 2>/dev/null || fail "first half"
"$BB" train --resume "$TMP/b/checkpoint.safetensors" --max-steps 0 --out "$TMP/b" 2>"$TMP/b.log" || { cat "$TMP/b.log"; fail "resume"; }
[ "$(hash_of "$TMP/a/checkpoint.safetensors")" = "$(hash_of "$TMP/b/checkpoint.safetensors")" ] || fail "resumed run differs"
cmp -s "$TMP/a/epochs.csv" "$TMP/b/epochs.csv" || true   # wall times differ; compare the math columns:
diff <(cut -d, -f1-8 "$TMP/a/epochs.csv") <(cut -d, -f1-8 "$TMP/b/epochs.csv") || fail "epoch metrics differ after resume"
diff <(cut -d, -f1-6 "$TMP/a/iters.csv") <(cut -d, -f1-6 "$TMP/b/iters.csv") || fail "iteration metrics differ after resume"
# --resume auto picks up the run directory's checkpoint; a finished run does nothing more
"$BB" train "${TINY[@]}" --epochs 3 --warmup-epochs 1 --resume auto --out "$TMP/a" 2>/dev/null || fail "resume auto"
# eval on the checkpoint
out=$("$BB" eval --checkpoint "$TMP/a/checkpoint.safetensors") || fail "eval"
echo "$out" | grep -q "on 64 test samples" || fail "eval output: $out"
# resuming with different mathematics is refused with a clear message
if "$BB" train --resume "$TMP/a/checkpoint.safetensors" --batch-size 64 --out "$TMP/c" 2>"$TMP/c.log"; then fail "math change accepted"; fi
grep -q "batch-size" "$TMP/c.log" || fail "unclear message: $(cat "$TMP/c.log")"
# metric files whose columns another version wrote are not continued: a clear
# error before any work, the files as they were
"$BB" train "${TINY[@]}" --epochs 3 --warmup-epochs 1 --max-steps 10 --out "$TMP/d" 2>/dev/null || fail "run d"
sed -i '1s/,t_allreduce$//' "$TMP/d/iters.csv"
before=$(md5sum < "$TMP/d/iters.csv")
if "$BB" train --resume auto --out "$TMP/d" 2>"$TMP/d.log"; then fail "a CSV with other columns was continued"; fi
grep -q "iters.csv: its columns are not this version's" "$TMP/d.log" || fail "unclear message: $(cat "$TMP/d.log")"
[ "$(md5sum < "$TMP/d/iters.csv")" = "$before" ] || fail "iters.csv changed"
