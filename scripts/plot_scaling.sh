#!/usr/bin/env bash
# The figures of docs/SCALING.md (PNG, gnuplot): the paper's configuration
# (efficiency and hidden share per server count and algorithm; allreduce time
# per buffer size across 32 servers) from `bigbatch simulate`, and predicted
# against measured time per iteration on this host from a
# scripts/validate_scaling.sh directory.
# usage: scripts/plot_scaling.sh [VALIDATE_DIR] [OUT_DIR]   (default runs/validate, docs/img)
set -eu
cd "$(dirname "$0")/.."
val=${1:-runs/validate}; img=${2:-docs/img}
build=${BB_BUILD:-build}
mkdir -p "$img"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# the paper: ResNet-50, n = 32, 120 ms backward and 60 ms forward per P100,
# 8 per server, 50 Gbit/s between servers, one allreduce per layer
paper=(--model resnet50 --fwd-ms 60 --bwd-ms 120 --workers-per-server 8 --bucket-kb 0 --inter-gbps 50
       --inter-latency-us "${ALPHA_US:-50}")
"$build/bigbatch" simulate "${paper[@]}" --servers 1..32 --csv "$d/paper.csv" --sizes > "$d/paper.txt"
for a in ring hd hier-ring hier-hd; do
    awk -F, -v a="$a" '$1 == "cluster" && $6 == a {print $2, 100 * $9, 100 * $12}' "$d/paper.csv" > "$d/eff-$a.dat"
done
# the per-size table: | size | ring | hd | hier-ring | hier-hd |, cells "ms (share%)"
awk -F'|' '/^\| [0-9]+ [KM]iB/ {
    split($2, s, " "); b = s[1] * (s[2] == "MiB" ? 1048576 : 1024)
    printf "%g", b; for (i = 3; i <= 6; i++) { split($i, c, " "); printf " %s", c[1] } print "" }' "$d/paper.txt" > "$d/sizes.dat"

gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,11"
set output "$img/paper_efficiency.png"
set title "ResNet-50, 8 workers per server, 50 Gbit/s, alpha ${ALPHA_US:-50} us between servers (model)"
set xlabel "servers (8 workers each)"
set ylabel "scaling efficiency against one server (%)"
set logscale x 2
set xrange [0.8:40]
set yrange [0:105]
set key bottom left
set grid
plot "$d/eff-ring.dat" u 1:2 w lp lw 2 t "ring over all workers", \
     "$d/eff-hd.dat" u 1:2 w lp lw 2 t "halving/doubling over all workers", \
     "$d/eff-hier-ring.dat" u 1:2 w lp lw 2 t "3 phases, ring across servers", \
     "$d/eff-hier-hd.dat" u 1:2 w lp lw 2 t "3 phases, halving/doubling across servers", \
     90 w l dt 2 lc rgb "gray" t "the paper: about 90% at 32 servers"
set output "$img/paper_allreduce_sizes.png"
set title "One allreduce across 32 servers x 8 workers (model): latency-bound below about 1 MiB"
set xlabel "buffer (bytes)"
set ylabel "time (ms)"
set logscale xy
set xrange [3000:4e8]
set yrange [*:*]
set key top left
set format x "%.0s%cB"
plot "$d/sizes.dat" u 1:2 w lp lw 2 t "ring over all workers", \
     "$d/sizes.dat" u 1:3 w lp lw 2 t "halving/doubling over all workers", \
     "$d/sizes.dat" u 1:4 w lp lw 2 t "3 phases, ring across servers", \
     "$d/sizes.dat" u 1:5 w lp lw 2 t "3 phases, halving/doubling across servers"
EOF

if [ -s "$val/table.md" ]; then
    # | workload | P | other load | predicted | measured (median; runs) | error |
    awk -F'|' '$3 + 0 > 0 { split($6, m, " "); gsub(/[()]/, "", m[2]); n = split(m[2], r, "/"); lo = r[1]; hi = r[1]
        for (i = 2; i <= n; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
        w = $2; gsub(/ /, "", w); print w, $3 + 0, $5 + 0, m[1], lo, hi }' "$val/table.md" > "$d/val.dat"
    gnuplot <<EOF
set terminal pngcairo size 960,460 font "sans,11"
set output "$img/host_validation.png"
set multiplot layout 1,2 title "This host (2 cores, shared): time per iteration at kn = 256, predicted and measured (median, min-max of 5 runs)"
set xlabel "MPI ranks"
set ylabel "ms per iteration"
set logscale x 2
set xrange [0.7:5.5]
set xtics ("1" 1, "2" 2, "4" 4)
set key bottom right
set grid
set yrange [0:3500]
set title "ResNet-20"
plot "< grep resnet20 $d/val.dat" u 2:4:5:6 w yerrorbars pt 7 ps 1.2 lc 1 t "measured", \
     "< grep resnet20 $d/val.dat" u 2:3 w lp dt 2 pt 6 ps 1.5 lc 1 t "predicted"
set yrange [0:500]
set title "MLP, width 2048 (23 MB of gradients)"
plot "< grep mlp $d/val.dat" u 2:4:5:6 w yerrorbars pt 5 ps 1.2 lc 2 t "measured", \
     "< grep mlp $d/val.dat" u 2:3 w lp dt 2 pt 4 ps 1.5 lc 2 t "predicted"
unset multiplot
EOF
fi
ls -l "$img"/*.png
