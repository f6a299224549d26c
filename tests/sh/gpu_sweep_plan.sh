#!/usr/bin/env bash
# scripts/gpu_sweep.sh on the CPU (BB_SWEEP_DEVICE=cpu): the lines of a plan
# run as side-by-side sweeps into their own directories; the archive holds
# the runs without checkpoints; the budget interrupts a long run, which has
# then checkpointed and which the same command resumes; the
# directories of one configuration merge for `bigbatch plot`, and
# scripts/plot_budgets.sh draws the merged sweeps; a plan line without --out is
# refused.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f="--data synthetic --synthetic-shape 1x8x8 --synthetic-train 256 --synthetic-test 64 --synthetic-classes 4
   --model resnet8 --width 4 --worker-batch 8 --ref-batch 16 --warmup-epochs 1 --epochs 2 --threads 1"
f=$(echo $f)
printf '# two sweeps of one configuration\n%s --sizes 16 --out a\n\n%s --sizes 32 --variants gradual,label-smoothing --out b\n' \
    "$f" "$f" > "$tmp/plan"
BB_SWEEP_DEVICE=cpu scripts/gpu_sweep.sh "$tmp/o" "$tmp/plan" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
grep -q "2 sweeps at once on cpu" "$tmp/log"
for r in a/runs/kn00016-gradual-s1 b/runs/kn00032-gradual-s1 b/runs/kn00032-label-smoothing-s1; do
    test -f "$tmp/o/$r/done.json" || { echo "run $r did not finish"; cat "$tmp/log"; exit 1; }
done
tar tzf "$tmp/o/sweeps.tar.gz" > "$tmp/list"
grep -q "^b/runs/kn00032-label-smoothing-s1/metrics.jsonl$" "$tmp/list"
grep -q "^sweep1.log$" "$tmp/list"
if grep -q safetensors "$tmp/list"; then echo "checkpoints in the archive"; exit 1; fi

# merged: one sweep directory, one table with both sizes and both recipes
mkdir -p "$tmp/m/runs" && cp -r "$tmp"/o/a/runs/* "$tmp"/o/b/runs/* "$tmp/m/runs/" && cp "$tmp/o/a/sweep.json" "$tmp/m/"
cmp "$tmp/o/a/sweep.json" "$tmp/o/b/sweep.json"
"${BB_BUILD:-build}/bigbatch" plot "$tmp/m" > "$tmp/plot.log" 2>&1 || { cat "$tmp/plot.log"; exit 1; }
test "$(grep -c '^[0-9]' "$tmp/m/summary.csv")" -eq 3
if command -v gnuplot > /dev/null; then
    scripts/plot_budgets.sh "$tmp/b.png" "two=$tmp/m" > /dev/null
    test "$(head -c 4 "$tmp/b.png" | tail -c 3)" = PNG
fi
if scripts/plot_budgets.sh "$tmp/c.png" "none=$tmp/nothing" 2> "$tmp/err"; then echo "a missing sweep was accepted"; exit 1; fi
grep -q "no $tmp/nothing/summary.csv" "$tmp/err"

# the budget: a long run is interrupted, has checkpointed, and resumes to the end
printf '%s --epochs 3000 --sizes 16 --checkpoint-every 0 --out long\n' "${f/--epochs 2/}" > "$tmp/plan2"
BB_SWEEP_DEVICE=cpu BB_SWEEP_BUDGET=19 scripts/gpu_sweep.sh "$tmp/o2" "$tmp/plan2" > "$tmp/log2" 2>&1 || true
grep -q "budget spent" "$tmp/log2" || { cat "$tmp/log2"; exit 1; }
run=$tmp/o2/long/runs/kn00016-gradual-s1
test -f "$run/checkpoint.safetensors" && test ! -f "$run/done.json"
sed -i 's/--epochs 3000/--epochs 3000 --max-steps 100/' "$tmp/plan2"
BB_SWEEP_DEVICE=cpu scripts/gpu_sweep.sh "$tmp/o2" "$tmp/plan2" > "$tmp/log3" 2>&1 || { cat "$tmp/log3"; exit 1; }
grep -q "resuming from iteration" "$tmp/o2/sweep0.log" || { cat "$tmp/o2/sweep0.log"; exit 1; }

# a line without --out is refused before anything runs
printf '%s --sizes 16\n' "$f" > "$tmp/plan3"
if BB_SWEEP_DEVICE=cpu scripts/gpu_sweep.sh "$tmp/o3" "$tmp/plan3" > "$tmp/log4" 2>&1; then echo "a sweep without --out ran"; exit 1; fi
grep -q "sweep 1: no --out" "$tmp/log4"
test ! -d "$tmp/o3/runs"
