# SIGINT: the run finishes its iteration, writes a checkpoint, says how to
# continue and exits 130; continuing gives the uninterrupted result.
. "$(dirname "$0")/lib.sh"
"$BB" train "${TINY[@]}" --epochs 40 --out "$TMP/ref" --max-steps 200 2>/dev/null || fail "reference"
"$BB" train "${TINY[@]}" --epochs 40 --out "$TMP/run" --max-steps 200 2>"$TMP/log" &
pid=$!
for _ in $(seq 100); do [ -s "$TMP/run/iters.csv" ] && [ "$(wc -l < "$TMP/run/iters.csv")" -gt 5 ] && break; sleep 0.05; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 130 ] || { cat "$TMP/log"; fail "exit status $rc, want 130"; }
grep -q "continue with --resume" "$TMP/log" || fail "no resume hint: $(cat "$TMP/log")"
"$BB" train --resume "$TMP/run/checkpoint.safetensors" --out "$TMP/run" 2>/dev/null || fail "resume"
[ "$(hash_of "$TMP/ref/checkpoint.safetensors")" = "$(hash_of "$TMP/run/checkpoint.safetensors")" ] || fail "differs from uninterrupted run"
