#!/usr/bin/env bash
# bigbatch advise: a short run with the noise-scale estimate, then B_noise, the
# suggested minibatch and its linear-rule lr, in the report and in advise.json;
# one worker (no second batch size) is refused before training.
set -eu
bb="$PWD/${BB_BUILD:-build}/bigbatch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="--data synthetic --synthetic-shape 1x8x8 --synthetic-train 2048 --synthetic-test 64 --synthetic-classes 4
       --model resnet8 --width 4 --worker-batch 8 --threads 2 --epochs 4"
"$bb" advise $flags --batch-size 64 --steps 60 --out "$tmp/a" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/out" "$tmp/err"; exit 1; }
grep -q "gradient noise scale B_noise" "$tmp/out"
grep -q "critical minibatch size" "$tmp/out"
j="$tmp/a/advise.json"
b=$(sed -n 's/.*"b_noise": \([0-9.e+]*\),*/\1/p' "$j")
kn=$(sed -n 's/.*"suggested_kn": \([0-9.e+]*\),*/\1/p' "$j")
lr=$(sed -n 's/.*"suggested_lr": \([0-9.e+]*\),*/\1/p' "$j")
test -n "$b" && test -n "$kn" && test -n "$lr"
awk -v b="$b" -v kn="$kn" -v lr="$lr" 'BEGIN {
    if (!(b > 0)) { print "B_noise " b; exit 1 }
    l = log(kn) / log(2); if (l != int(l) || kn < 8) { print "suggested kn " kn; exit 1 }
    if (lr != 0.1 * kn / 256) { print "lr " lr " for kn " kn; exit 1 } }'
# the run directory has the per-iteration estimates
grep -q '"trace_sigma"' "$tmp/a/metrics.jsonl"
test "$(tail -n +2 "$tmp/a/iters.csv" | wc -l)" -eq 60
if "$bb" advise $flags --batch-size 8 --steps 30 --out "$tmp/b" > "$tmp/out2" 2>&1; then exit 1; fi
grep -q "at least 2 workers" "$tmp/out2"
# --from: the same analysis of an existing run, without training again
rm "$j"
"$bb" advise --from "$tmp/a" > "$tmp/out3" 2>&1 || { cat "$tmp/out3"; exit 1; }
test "$(sed -n 's/.*"b_noise": \([0-9.e+]*\),*/\1/p' "$j")" = "$b"
grep -q "critical minibatch size" "$tmp/out3"
# the kn* prediction for the epoch budget (--epochs 4 by default, --budget for another)
grep -q "predicted kn\*" "$tmp/out3"
# ... and the inverse: the epochs twice the run's kn (64) and more need
grep -q "the epochs a larger kn needs to hold the error" "$tmp/out3"
grep -Eq '"epochs_to_hold": \[\[128, ' "$j"
num() { sed -n "s/.*\"$1\": \([0-9.e+-][0-9.e+-]*\),*$/\1/p" "$2"; }
test "$(num budget_epochs "$j")" = 4
c4=$(num b_crit "$j"); k4=$(num knstar "$j"); lo=$(num b_crit_lo "$j"); hi=$(num b_crit_hi "$j")
awk -v c="$c4" -v k="$k4" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(c > 0 && k == (c > 64 ? c : 64) && lo <= c && (hi == "" || c <= hi)) }'
"$bb" advise --from "$tmp/a" --budget 16 > "$tmp/out4" 2>&1 || { cat "$tmp/out4"; exit 1; }
test "$(num budget_epochs "$j")" = 16
awk -v a="$c4" -v b="$(num b_crit "$j")" 'BEGIN { exit !(b > a) }'
"$bb" advise --from "$tmp/a" --budget 16 --growth 0 > /dev/null 2>&1
# without growth B_crit stays between the first quarter's B_noise and the second half's
awk -v a="$(num b_noise "$j")" -v e="$(num b_noise_first_quarter "$j")" -v b="$(num b_crit "$j")" \
    'BEGIN { lo = a < e ? a : e; hi = a < e ? e : a; exit !(b >= 0.999 * lo && b <= 1.001 * hi) }'
if "$bb" advise --from "$tmp/a" --growth -1 > "$tmp/out5" 2>&1; then exit 1; fi
grep -q "growth" "$tmp/out5"
