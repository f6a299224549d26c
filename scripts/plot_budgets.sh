#!/usr/bin/env bash
# One figure of several sweeps of the same configuration at different epoch
# budgets (docs/RESULTS.md): final test error against kn, one line per budget
# and recipe, with each budget's reference + tolerance dotted, from the sweeps'
# summary.csv (written by `bigbatch sweep` and `bigbatch plot`).
# usage: scripts/plot_budgets.sh OUT.png LABEL=SWEEP_DIR...   e.g.
#        scripts/plot_budgets.sh budgets.png "10 epochs=runs/e10" "20 epochs=runs/e20"
# BB_TOLERANCE (points, default 0.5): the tolerance of kn*.
set -eu
[ $# -ge 2 ] || { echo "usage: scripts/plot_budgets.sh OUT.png LABEL=SWEEP_DIR..." >&2; exit 2; }
out=$1; shift
tol=${BB_TOLERANCE:-0.5}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
plots=""
i=0
for spec in "$@"; do
    label=${spec%%=*}; dir=${spec#*=}
    csv=$dir/summary.csv
    [ -r "$csv" ] || { echo "plot_budgets: no $csv (run bigbatch plot $dir first)" >&2; exit 1; }
    i=$((i + 1))
    # columns: kn,variant,peak_lr,runs,finished,diverged,test_err_mean,test_err_std,...
    head -1 "$csv" | grep -q '^kn,variant,peak_lr,runs,finished,diverged,test_err_mean,test_err_std' ||
        { echo "plot_budgets: $csv: unexpected columns" >&2; exit 1; }
    ref=$(awk -F, 'NR > 1 && $2 == "gradual" && $5 > 0 {print 100 * $7; exit}' "$csv")
    [ -n "$ref" ] || { echo "plot_budgets: $csv has no finished run of the recipe (gradual)" >&2; exit 1; }
    for v in $(awk -F, 'NR > 1 {print $2}' "$csv" | sort -u); do
        f=$d/$i-$v.dat
        awk -F, -v v="$v" 'NR > 1 && $2 == v && $5 > 0 {print $1, 100 * $7, 100 * $8}' "$csv" | sort -n > "$f"
        [ -s "$f" ] || continue
        plots="$plots${plots:+, }'$f' using 1:2:3 with yerrorlines lc $i dt $([ "$v" = gradual ] && echo 1 || echo 4) pt 7 title '$label, $v'"
    done
    plots="$plots, $ref + $tol with lines lc $i dt 3 notitle"
done
# the y range: from 10% below the smallest error to 30%
ymin=$(cat "$d"/*.dat | awk 'NR == 1 || $2 < m {m = $2} END {printf "%.2f", 0.9 * m}')
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,11"
set output "$out"
set logscale x 2
set xlabel "total minibatch kn"
set ylabel "final test error (%)"
set logscale y
set yrange [$ymin:30]
set ytics (4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 30)
set grid
set key top left
set title "Test error against kn per epoch budget (dotted: each budget's kn 256 + $tol point)"
plot $plots
GP
echo "plot_budgets: $out"
