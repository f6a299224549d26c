# Divergence: a schedule that is sane for one epoch and absurd after it
# (constant warmup at lr 1, then a jump to 32 with weight decay 1 on every
# parameter) stops at the first non-finite training loss with a clear message
# and exit 1. The last good checkpoint, the end of epoch 1, is left as it was:
# bit for bit the state of a run stopped there, all values finite. The metric
# files end with the last finite iteration, and resuming diverges again at
# the same iteration. (With random crops and flips, the setting this scenario
# was tuned with: where float overflow first shows depends on the data.)
. "$(dirname "$0")/lib.sh"
DIV=("${TINY[@]}" --crop-pad -1 --flip 1 --synthetic-train 2048 --warmup constant --warmup-epochs 1 --ref-batch 1 --lr 1
     --weight-decay 1 --wd-all --decay none --epochs 3)
rc=0
"$BB" train "${DIV[@]}" --out "$TMP/run" 2>"$TMP/log" || rc=$?
[ $rc -eq 1 ] || { cat "$TMP/log"; fail "exit status $rc, want 1"; }
msg=$(grep -o 'non-finite loss at iteration [0-9]* (epoch [0-9.]*, lr 32): training diverged; lower --lr or lengthen --warmup-epochs' "$TMP/log") ||
    fail "unclear message: $(tail -2 "$TMP/log")"
it=$(echo "$msg" | sed 's/.*iteration \([0-9]*\).*/\1/')
[ "$it" -ge 64 ] || fail "diverged at iteration $it, inside the sane first epoch (64 iterations)"
# the checkpoint: end of epoch 1, finite, identical to a run stopped there
"$BB" inspect --checkpoint "$TMP/run/checkpoint.safetensors" > "$TMP/inspect" || fail "the checkpoint does not parse"
grep -q '^step: 64$' "$TMP/inspect" || fail "checkpoint is not the end of epoch 1: $(grep '^step' "$TMP/inspect")"
grep -q '^non-finite values: 0$' "$TMP/inspect" || fail "checkpoint holds non-finite values"
"$BB" train "${DIV[@]}" --max-steps 64 --out "$TMP/good" 2>/dev/null || fail "run stopped at epoch 1"
[ "$(hash_of "$TMP/run/checkpoint.safetensors")" = "$(hash_of "$TMP/good/checkpoint.safetensors")" ] || fail "the last good checkpoint changed"
# stopped at the first non-finite loss: iterations 0 .. it-1 logged, all finite
last=$(tail -1 "$TMP/run/iters.csv" | cut -d, -f1)
[ "$last" -eq $((it - 1)) ] || fail "iters.csv ends at iteration $last, the run stopped at $it"
awk -F, 'NR > 1 && ($3 == "nan" || $3 == "-nan" || $3 == "inf") {exit 1}' "$TMP/run/iters.csv" || fail "a non-finite loss was logged"
[ -z "$(find "$TMP/run" -name '*.tmp.*')" ] || fail "temporary files left"
# resuming the good checkpoint diverges again, at the same iteration, and keeps it
before=$(hash_of "$TMP/run/checkpoint.safetensors")
rc=0
"$BB" train --resume auto --out "$TMP/run" 2>"$TMP/log2" || rc=$?
[ $rc -eq 1 ] && grep -q "non-finite loss at iteration $it " "$TMP/log2" || fail "resume: $(tail -2 "$TMP/log2")"
[ "$(hash_of "$TMP/run/checkpoint.safetensors")" = "$before" ] || fail "the checkpoint changed on the second divergence"
echo "$msg"
# the same schedule without decay on BN parameters: the training loss stays
# finite for a while but the test-time outputs overflow; the epoch-2
# evaluation stops the run before its checkpoint (on the reference operators:
# where the overflow happens depends on the order of the arithmetic, and the
# fast kernels' evaluation stays finite, if absurd, on this schedule)
rc=0
"$BB" train "${TINY[@]}" --crop-pad -1 --flip 1 --kernels reference --warmup constant --warmup-epochs 1 --ref-batch 1 --lr 1 --weight-decay 1 --decay none \
    --epochs 3 --out "$TMP/eval" 2>"$TMP/log3" || rc=$?
[ $rc -eq 1 ] && grep -q "non-finite test loss after iteration 16 (epoch 2): training diverged" "$TMP/log3" ||
    fail "evaluation divergence: $(tail -2 "$TMP/log3")"
grep -q '^step: 8$' <("$BB" inspect --checkpoint "$TMP/eval/checkpoint.safetensors") || fail "eval divergence: checkpoint is not epoch 1's"
