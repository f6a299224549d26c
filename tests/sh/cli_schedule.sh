# bigbatch schedule prints the recipe's learning rates: kn = 8192 on 60000
# samples warms up from 0.1 to 3.2 over 35 iterations, then decays by 10x.
. "$(dirname "$0")/lib.sh"
out=$("$BB" schedule --batch-size 8192 --decay step --epochs 90 --milestones 30,60,80 --per iteration)
lr() { echo "$out" | awk -v i="$1" '$1 == i {print $3}'; }
[ "$(lr 0)" = "0.1" ] || fail "lr(0) = $(lr 0)"
[ "$(lr 35)" = "3.2" ] || fail "lr(35) = $(lr 35)"
[ "$(lr 210)" = "0.32" ] || fail "lr(210) = $(lr 210)"
[[ "$out" == *"7 iterations/epoch"* ]] || fail "header: ${out%%$'\n'*}"
# a bad value is refused before anything runs
if "$BB" schedule --batch-size 0 2>"$TMP/err"; then fail "accepted --batch-size 0"; fi
grep -q "out of range" "$TMP/err" || fail "unclear: $(cat "$TMP/err")"
