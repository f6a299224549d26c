# Configurations that cannot mean what they say are refused before any work,
# with a message naming the flag, the value and what is allowed, by every
# command that takes a configuration (train, schedule, sweep, advise): no
# iteration, warmup past the end of the run, milestones that would be ignored
# or fall outside it. A sweep checks the configuration each kn derives.
. "$(dirname "$0")/lib.sh"
SYN=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 1000 --synthetic-test 64 --model resnet8 --width 4)
# refused CMD STATUS NEEDLE -- ARGS...: exit STATUS, NEEDLE on stderr, no run directory
n=0
refused() {
    local cmd=$1 want=$2 needle=$3; shift 4
    n=$((n + 1))
    local rc=0
    "$BB" "$cmd" --out "$TMP/run$n" "$@" > "$TMP/out$n" 2> "$TMP/err$n" || rc=$?
    [ $rc -eq "$want" ] || fail "$cmd $*: exit $rc, want $want; stderr: $(cat "$TMP/err$n")"
    grep -qF -- "$needle" "$TMP/err$n" || fail "$cmd $*: no '$needle' in: $(cat "$TMP/err$n")"
    [ ! -e "$TMP/run$n" ] || fail "$cmd $*: created the run directory"
}
for cmd in train schedule advise; do
    refused $cmd 2 "--epochs 0.05 gives 0 iterations at --batch-size 128 on 1000 training samples (7 iterations per epoch): need at least 0.143 epochs" -- \
        "${SYN[@]}" --epochs 0.05
    refused $cmd 2 "--warmup-epochs 1000 ends after the run (--epochs 3): the peak lr would never be reached" -- \
        "${SYN[@]}" --warmup-epochs 1000 --epochs 3
    refused $cmd 2 "--milestones 1,2: milestones apply to --decay step only, and --decay is cosine" -- \
        "${SYN[@]}" --milestones 1,2
    # one message for a bad list, whatever the decay
    for decay in cosine step none; do
        refused $cmd 2 "--milestones: expected increasing non-negative epochs separated by commas (at most 16), got '5,3'" -- \
            "${SYN[@]}" --milestones 5,3 --decay $decay
    done
    refused $cmd 2 "--milestones 1,5: epoch 5 is not within the run (--epochs 3)" -- \
        "${SYN[@]}" --milestones 1,5 --decay step
    refused $cmd 2 "--warmup-epochs -1 means 5 epochs of warmup at --batch-size 512 > --ref-batch 256, longer than the run (--epochs 3)" -- \
        "${SYN[@]}" --batch-size 512
done
# the sweep: the configuration of every kn, before the first run starts (exit 1:
# the plan of one kn, not the command line, is refused)
refused sweep 1 "--warmup-epochs -1 means 5 epochs of warmup at --batch-size 512" -- "${SYN[@]}" --sizes 128,512 --epochs 3
refused sweep 1 "--epochs 0.1 gives 0 iterations at --batch-size 512 on 1000 training samples" -- \
    "${SYN[@]}" --sizes 64,512 --epochs 0.1 --warmup-epochs 0
refused sweep 2 "--milestones 1,2: milestones apply to --decay step only" -- "${SYN[@]}" --sizes 64,128 --milestones 1,2
[ -z "$(ls "$TMP"/run* 2>/dev/null)" ] || fail "a run directory was created"
# what stays valid: the same flags within the run
"$BB" schedule "${SYN[@]}" --batch-size 512 --warmup-epochs 1 --milestones 2 --decay step --epochs 3 > "$TMP/ok" ||
    fail "a valid schedule was refused"
grep -q "warmup gradual 1 epochs, step decay" "$TMP/ok" || fail "schedule: $(head -1 "$TMP/ok")"
echo "ok: $n refusals"
