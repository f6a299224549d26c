# A run directory is owned by one process at a time and is never written over
# unless the command says so (--overwrite): a second train on the same --out
# while the first runs is refused and the first's files stay whole; train over
# a finished run, and a run resumed from another directory's checkpoint into
# it, are refused and leave every byte as it was; --overwrite replaces the run;
# a lock left by a dead process is taken over, one from another host refused;
# under MPI a refusal is printed once and ends every rank without an abort.
. "$(dirname "$0")/lib.sh"
T=("${TINY[@]}" --epochs 2)
host=$(uname -n)
# every file of a directory with its checksum, and the names of all entries
snapshot() { (cd "$1" && ls -A && find . -type f | sort | xargs sha256sum); }
step_of() { "$BB" inspect --checkpoint "$1/checkpoint.safetensors" | awk '/^step:/ {print $2}'; }
# expect_refused NAME PATTERN -- COMMAND: exit status 1 and PATTERN on stderr
expect_refused() {
    local name=$1 pat=$2 rc=0; shift 3
    "$@" >"$TMP/$name.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] || { cat "$TMP/$name.log"; fail "$name: exit status $rc, want 1"; }
    grep -qE -e "$pat" "$TMP/$name.log" || fail "$name: no '$pat' in: $(cat "$TMP/$name.log")"
    echo "ok   $name: $(grep -m1 -oE 'bigbatch train: .{0,150}' "$TMP/$name.log")..."
}

# 1. two trains on one --out: the second is refused while the first holds it.
# The first runs with slow checkpoint writes (BB_TEST_WRITE_DELAY_MS) and is
# stopped (SIGSTOP) once its lock names it, so it is certainly running while
# the others try; then it goes on and finishes.
a=$TMP/a
BB_TEST_WRITE_DELAY_MS=30 "$BB" train "${T[@]}" --epochs 3 --checkpoint-every 0 --out "$a" 2>"$TMP/first.log" &
first=$!
until grep -qs "^pid=$first host=" "$a/.lock"; do
    kill -0 $first 2>/dev/null || fail "the first run ended before it took its lock: $(cat "$TMP/first.log")"
    sleep 0.01
done
kill -STOP $first
owner="in use by pid $first on host $host \(bigbatch train, started [0-9T:-]+Z\)"
expect_refused concurrent "$owner" -- "$BB" train "${T[@]}" --out "$a"
expect_refused concurrent_overwrite "$owner" -- "$BB" train "${T[@]}" --out "$a" --overwrite
expect_refused concurrent_resume "$owner" -- "$BB" train "${T[@]}" --out "$a" --resume auto
kill -CONT $first
wait $first || fail "the first run failed: $(cat "$TMP/first.log")"
# its files are its own: every metrics line a JSON object, iterations 0..23 once each, in order
python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line); n += 1
sys.exit(0 if n == 24 + 3 else 1)' "$a/metrics.jsonl" || fail "metrics.jsonl is not 27 JSON lines: $(cat "$a/metrics.jsonl")"
[ "$(tail -n +2 "$a/iters.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 0 23) " ] ||
    fail "iters.csv is not iterations 0..23 once each: $(cut -d, -f1 "$a/iters.csv" | tr '\n' ' ')"
[ "$(tail -n +2 "$a/epochs.csv" | cut -d, -f1 | tr '\n' ' ')" = "1 2 3 " ] || fail "epochs.csv: $(cat "$a/epochs.csv")"
[ "$(step_of "$a")" = 24 ] || fail "the first run's checkpoint is not at iteration 24"
[ ! -e "$a/.lock" ] || fail "the finished run left its lock file"

# 2. train over a finished run: refused, nothing changed
b=$TMP/b
"$BB" train "${T[@]}" --seed 2 --out "$b" 2>/dev/null || fail "run b"
before=$(snapshot "$b")
expect_refused over_finished "--out $b holds a run \(config.json, metrics.jsonl, iters.csv, epochs.csv, checkpoint.safetensors\); .*--resume auto.*--overwrite" -- \
    "$BB" train "${T[@]}" --out "$b"
[ "$(snapshot "$b")" = "$before" ] || fail "train over a finished run changed it"

# 3. a run resumed from another directory's checkpoint into b: refused, nothing changed
c=$TMP/c
"$BB" train "${T[@]}" --max-steps 8 --out "$c" 2>/dev/null || fail "run c"
expect_refused resume_into_other "--out $b holds another run .* resumed from $c/checkpoint.safetensors .*--overwrite" -- \
    "$BB" train --resume "$c/checkpoint.safetensors" --out "$b"
[ "$(snapshot "$b")" = "$before" ] || fail "resuming c into b changed b"
# into an empty directory or a new one it goes on, with metric files of its own (iterations 8..15;
# --max-steps 0 lifts the limit the checkpoint's configuration holds)
mkdir "$TMP/empty"
for d in "$TMP/empty" "$TMP/new/deeper"; do
    "$BB" train --resume "$c/checkpoint.safetensors" --max-steps 0 --out "$d" 2>"$TMP/into.log" || fail "resume c into $d: $(cat "$TMP/into.log")"
    [ "$(step_of "$d")" = 16 ] || fail "resume c into $d: checkpoint not at 16"
    [ "$(tail -n +2 "$d/iters.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 8 15) " ] || fail "$d/iters.csv: $(cat "$d/iters.csv")"
done
# c itself goes on (its own checkpoint), as --resume auto does
"$BB" train --resume "$c/checkpoint.safetensors" --out "$c" --max-steps 12 2>/dev/null || fail "resume c into c"
"$BB" train --resume auto --max-steps 0 --out "$c" 2>/dev/null || fail "resume auto c"
[ "$(step_of "$c")" = 16 ] || fail "c did not reach 16"
[ "$(tail -n +2 "$c/iters.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 0 15) " ] || fail "c/iters.csv: $(cat "$c/iters.csv")"

# 4. --overwrite replaces the run: b becomes what a new directory gets
"$BB" train "${T[@]}" --out "$b" --overwrite 2>/dev/null || fail "--overwrite"
"$BB" train "${T[@]}" --out "$TMP/fresh" 2>/dev/null || fail "fresh run"
[ "$(hash_of "$b/checkpoint.safetensors")" = "$(hash_of "$TMP/fresh/checkpoint.safetensors")" ] || fail "--overwrite: not a fresh run"
cmp -s <(cut -d, -f1-6 "$b/iters.csv") <(cut -d, -f1-6 "$TMP/fresh/iters.csv") || fail "--overwrite: iters.csv is not the new run's"
# and a resumed run into b with --overwrite: b's files are the resumed run's alone
"$BB" train "${T[@]}" --max-steps 8 --out "$TMP/c8" 2>/dev/null || fail "run c8"
"$BB" train --resume "$TMP/c8/checkpoint.safetensors" --max-steps 0 --out "$b" --overwrite 2>/dev/null || fail "resume into b with --overwrite"
[ "$(step_of "$b")" = 16 ] || fail "resume into b with --overwrite: checkpoint not at 16"
[ "$(tail -n +2 "$b/iters.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 8 15) " ] || fail "b/iters.csv after --overwrite: $(cat "$b/iters.csv")"

# 5. a run that stopped before its first checkpoint: refused by a plain train,
# started over by --resume auto
s=$TMP/nockpt
mkdir "$s" && cp "$TMP/fresh/config.json" "$TMP/fresh/metrics.jsonl" "$TMP/fresh/iters.csv" "$s/"
expect_refused no_checkpoint "--out $s holds a run \(config.json, metrics.jsonl, iters.csv\)" -- "$BB" train "${T[@]}" --out "$s"
"$BB" train "${T[@]}" --resume auto --out "$s" 2>/dev/null || fail "--resume auto over a run without a checkpoint"
[ "$(hash_of "$s/checkpoint.safetensors")" = "$(hash_of "$TMP/fresh/checkpoint.safetensors")" ] || fail "not started over"

# 6. stale locks: a dead process's on this host is taken over, with a notice;
# so is one whose (running) process does not hold it; another host's is refused
"$BB" train "${T[@]}" --max-steps 8 --out "$TMP/stale" 2>/dev/null || fail "run stale"
sh -c 'exit 0' & dead=$!
wait $dead
echo "pid=$dead host=$host command=train started=2026-01-01T00:00:00Z" > "$TMP/stale/.lock"
"$BB" train --resume auto --out "$TMP/stale" --max-steps 12 2>"$TMP/stale.log" || fail "dead owner: $(cat "$TMP/stale.log")"
grep -q "bigbatch: $TMP/stale/.lock: taking over the lock of pid $dead on host $host (bigbatch train, started 2026-01-01T00:00:00Z), which is no longer running" \
    "$TMP/stale.log" || fail "no notice of the takeover: $(cat "$TMP/stale.log")"
[ "$(step_of "$TMP/stale")" = 12 ] && [ ! -e "$TMP/stale/.lock" ] || fail "dead owner: the run did not go on, or left its lock"
echo "pid=$$ host=$host command=train started=2026-01-01T00:00:00Z" > "$TMP/stale/.lock"
"$BB" train --resume auto --out "$TMP/stale" --max-steps 14 2>"$TMP/stale.log" || fail "owner not holding: $(cat "$TMP/stale.log")"
grep -q "taking over the lock of pid $$ on host $host .*, which does not hold it any more" "$TMP/stale.log" ||
    fail "no notice of the takeover: $(cat "$TMP/stale.log")"
lockline="pid=4242 host=elsewhere.example command=train started=2026-01-01T00:00:00Z"
echo "$lockline" > "$TMP/stale/.lock"
before=$(snapshot "$TMP/stale")
expect_refused other_host "in use by pid 4242 on host elsewhere.example .*this host \($host\) cannot tell .*remove $TMP/stale/.lock" -- \
    "$BB" train --resume auto --out "$TMP/stale"
[ "$(snapshot "$TMP/stale")" = "$before" ] || fail "the refused run changed the directory or its lock"

# 7. an empty --out is fine, and a refused start into a new directory leaves none
mkdir "$TMP/emptyout"
"$BB" train "${T[@]}" --out "$TMP/emptyout" 2>/dev/null || fail "empty --out"
[ "$(step_of "$TMP/emptyout")" = 16 ] || fail "empty --out: no checkpoint"

# 8. MPI: rank 0 refuses, every rank ends by itself (no MPI_Abort), the message once
build=${BB_BUILD:-build}
set +o pipefail  # its `ldd | grep -q` check would fail on ldd's SIGPIPE
. tests/mpi/lib.sh
set -o pipefail
before=$(snapshot "$b")
rc=0
mpi 2 "$BB" train "${T[@]}" --threads 1 --out "$b" >"$TMP/mpi.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "mpi: the refused job exited 0"
[ "$(grep -c "holds a run" "$TMP/mpi.log")" = 1 ] || fail "mpi: the refusal should be printed once: $(cat "$TMP/mpi.log")"
! grep -q "MPI_ABORT" "$TMP/mpi.log" || fail "mpi: the job was aborted rather than ended: $(cat "$TMP/mpi.log")"
[ "$(snapshot "$b")" = "$before" ] || fail "mpi: the refused job changed b"
echo "ok   mpi: refused once, exit $rc, no abort"
