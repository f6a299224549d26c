#!/usr/bin/env bash
# Kill test: a training run is killed with SIGKILL at random moments (some
# while a checkpoint is being written) and resumed each time; at every kill
# point the checkpoint that exists must parse and load (bigbatch inspect and
# bigbatch eval) and at most one temporary file (the dead writer's) may be
# lying around; at the end the weights must be bit for bit those of an
# uninterrupted run, and the metric files the same.
#
#   scripts/kill_test.sh [--kills N] [--seed S] [--epochs E] [--delay-ms D]
#
# --kills N     SIGKILLs to deliver (default 30); every third one waits for a
#               checkpoint's temporary file to appear and kills then, the
#               others come at random moments
# --seed S      seed of the random kill times (default 1)
# --epochs E    length of the run (default 8 epochs of 8 iterations)
# --delay-ms D  BB_TEST_WRITE_DELAY_MS: each checkpoint write pauses D ms after
#               the header and after every tensor (default 1; in two kills of
#               three), so kills land in half-written temporary files
# BB_BUILD picks the build folder (build, build-san, ...). Exit status 0 = passed.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=30 seed=1 epochs=8 delay=1
while [ $# -gt 0 ]; do
    case $1 in
        --kills) kills=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --delay-ms) delay=$2; shift 2 ;;
        *) sed -n '2,18p' "$0"; exit 2 ;;
    esac
done
BB=${BB_BUILD:-build}/bigbatch
[ -x "$BB" ] || { echo "kill_test: $BB not built" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "kill_test: FAIL: $*" >&2; exit 1; }
RANDOM=$seed
FLAGS=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 256 --synthetic-test 64 --synthetic-classes 4
       --model resnet8 --width 4 --batch-size 32 --worker-batch 8 --threads 2 --epochs "$epochs" --warmup-epochs 1)
hashes() { "$BB" inspect --checkpoint "$1" | awk '/^params-hash|^state-hash/ {printf "%s ", $2}'; }
tmpfiles() { find "$1" -maxdepth 1 -name '*.tmp.*' 2>/dev/null | wc -l; }

# the uninterrupted run, and its length with and without slow writes (which
# change only the timing)
timed() { local t0; t0=$(date +%s.%N); "$@"; echo "$(date +%s.%N) - $t0" | bc > "$TMP/secs"; }
timed "$BB" train "${FLAGS[@]}" --out "$TMP/ref" 2>"$TMP/ref.log" || { cat "$TMP/ref.log"; fail "reference run"; }
fast_ms=$(echo "$(cat "$TMP/secs") * 800 / 1" | bc)
want=$(hashes "$TMP/ref/checkpoint.safetensors")
timed env BB_TEST_WRITE_DELAY_MS=$delay "$BB" train "${FLAGS[@]}" --out "$TMP/slow" 2>"$TMP/slow.log" || fail "slow-write run"
slow_ms=$(echo "$(cat "$TMP/secs") * 800 / 1" | bc)
[ "$(hashes "$TMP/slow/checkpoint.safetensors")" = "$want" ] || fail "slow writes changed the result"

run=$TMP/run
mkdir -p "$run"
during_write=0 random_kills=0 finished_early=0 checked=0
for ((i = 1; i <= kills; i++)); do
    resume=(--resume auto)
    if [ $((i % 2)) -eq 0 ] && [ -f "$run/checkpoint.safetensors" ]; then resume=(--resume "$run/checkpoint.safetensors"); fi
    # kills 3, 6, 9, ...: wait for a checkpoint write; the others at random
    # moments within 80% of a whole run's time, every other one with slow writes
    d=$delay window_ms=$slow_ms
    if [ $((i % 3)) -eq 1 ]; then d=0 window_ms=$fast_ms; fi
    # the kills aimed at a write slow it to >= 10 ms per tensor, so that on a
    # loaded machine (or under ASan) the kill still lands inside the write
    if [ $((i % 3)) -eq 0 ] && [ "$d" -lt 10 ]; then d=10; fi
    BB_TEST_WRITE_DELAY_MS=$d "$BB" train "${FLAGS[@]}" "${resume[@]}" --out "$run" 2>>"$TMP/run.log" &
    pid=$!
    if [ $((i % 3)) -eq 0 ]; then
        # wait for a checkpoint write to begin, then a few ms into it
        while kill -0 $pid 2>/dev/null && [ -z "$(find "$run" -maxdepth 1 -name "checkpoint.safetensors.tmp.$pid" 2>/dev/null)" ]; do
            sleep 0.002
        done
        sleep "0.0$((RANDOM % 10))"
    else
        r=$(( (RANDOM * 32768 + RANDOM) % window_ms ))   # $RANDOM outside $(...): a subshell would not advance it
        sleep "$(echo "scale=3; $r / 1000" | bc)"
    fi
    if kill -KILL $pid 2>/dev/null; then
        wait $pid 2>/dev/null || true
        if [ -e "$run/checkpoint.safetensors.tmp.$pid" ]; then
            during_write=$((during_write + 1)); what="during a checkpoint write ($(stat -c %s "$run/checkpoint.safetensors.tmp.$pid") bytes written)"
        else
            random_kills=$((random_kills + 1)); what="between checkpoint writes"
        fi
    else
        wait $pid || fail "kill $i: the run failed on its own: $(tail -3 "$TMP/run.log")"
        finished_early=$((finished_early + 1))
        rm -rf "$run"; mkdir -p "$run"   # it finished: start over so the remaining kills count
        continue
    fi
    # what a kill leaves: a complete checkpoint (or none yet) and at most the
    # dead writer's own temporary file
    if [ -f "$run/checkpoint.safetensors" ]; then
        "$BB" inspect --checkpoint "$run/checkpoint.safetensors" > "$TMP/inspect" 2>&1 ||
            fail "kill $i: the checkpoint does not parse: $(cat "$TMP/inspect")"
        # and loads into a trainer (tensors, shapes, configuration)
        "$BB" eval --checkpoint "$run/checkpoint.safetensors" > "$TMP/eval" 2>&1 ||
            fail "kill $i: the checkpoint does not load: $(cat "$TMP/eval")"
        checked=$((checked + 1))
        what="$what; checkpoint at step $(awk '/^step:/ {print $2}' "$TMP/inspect") parses and loads"
    fi
    echo "kill $i: $what"
    n=$(tmpfiles "$run")
    [ "$n" -le 1 ] || fail "kill $i: $n temporary files accumulated: $(ls "$run")"
done
# the last, uninterrupted resume
"$BB" train "${FLAGS[@]}" --resume auto --out "$run" 2>>"$TMP/run.log" || fail "final resume: $(tail -3 "$TMP/run.log")"
[ "$(tmpfiles "$run")" -eq 0 ] || fail "temporary files left after the run: $(ls "$run")"
got=$(hashes "$run/checkpoint.safetensors")
[ "$got" = "$want" ] || fail "final weights differ from the uninterrupted run: $got vs $want"
diff <(cut -d, -f1-6 "$TMP/ref/iters.csv") <(cut -d, -f1-6 "$run/iters.csv") >/dev/null || fail "iters.csv differs from the uninterrupted run"
diff <(cut -d, -f1-8 "$TMP/ref/epochs.csv") <(cut -d, -f1-8 "$run/epochs.csv") >/dev/null || fail "epochs.csv differs from the uninterrupted run"
echo "kill_test: passed: $((during_write + random_kills)) SIGKILLs ($during_write during a checkpoint write, $random_kills at other moments," \
     "$finished_early runs finished before their kill), $checked checkpoints checked at kill points;" \
     "final params/state hashes $got equal the uninterrupted run's"
[ $during_write -ge 1 ] || fail "no kill landed during a checkpoint write"
