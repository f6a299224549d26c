#!/usr/bin/env bash
# bigbatch plot on a small sweep (three sizes, every variant at one of them) and
# on one run: every figure is a PNG (signature, IHDR size, not tiny). Without
# gnuplot it must still write the scripts and data and say how to finish.
set -eu
bb="$PWD/${BB_BUILD:-build}/bigbatch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="--data synthetic --synthetic-shape 1x8x8 --synthetic-train 512 --synthetic-test 64 --synthetic-classes 4
       --model resnet8 --width 4 --worker-batch 8 --ref-batch 16 --warmup-epochs 1 --epochs 2 --threads 2 --plot 0"
"$bb" sweep $flags --sizes 16:64 --out "$tmp/s" > "$tmp/log" 2>&1
"$bb" sweep $flags --sizes 64 --variants all --out "$tmp/s" >> "$tmp/log" 2>&1
"$bb" advise $flags --batch-size 64 --steps 20 --out "$tmp/s/advise" >> "$tmp/log" 2>&1 || true

# PNG: 8-byte signature, then the IHDR chunk with width and height (big endian)
check_png() {
    local f=$1 w=$2 h=$3
    test -f "$f" || { echo "missing $f"; return 1; }
    test "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" || { echo "$f: not a PNG"; return 1; }
    test "$(head -c 16 "$f" | tail -c 4)" = "IHDR" || { echo "$f: no IHDR"; return 1; }
    local dims; dims=$(head -c 24 "$f" | tail -c 8 | od -An -tu1 | tr -s ' ')
    read -r a b c d e g h2 i <<< "$dims"
    local pw=$(( (a << 24) | (b << 16) | (c << 8) | d )) ph=$(( (e << 24) | (g << 16) | (h2 << 8) | i ))
    if [ "$pw" -ne "$w" ] || [ "$ph" -ne "$h" ]; then echo "$f: ${pw}x${ph}, expected ${w}x${h}"; return 1; fi
    test "$(stat -c %s "$f")" -gt 10000 || { echo "$f: only $(stat -c %s "$f") bytes"; return 1; }
}

if command -v gnuplot > /dev/null; then
    "$bb" plot "$tmp/s" > "$tmp/plot.log" 2>&1 || { cat "$tmp/plot.log"; exit 1; }
    p="$tmp/s/plots"
    check_png "$p/error_vs_batch.png" 1150 640
    check_png "$p/test_curves.png" 1000 640
    check_png "$p/lr_schedule.png" 1000 640
    check_png "$p/train_curves.png" 960 440
    check_png "$p/warmup_kn64.png" 1300 560
    check_png "$p/lr_scaling_kn64.png" 1300 560
    check_png "$p/beyond_kn64.png" 1300 560
    check_png "$p/steps_to_target.png" 1150 640
    grep -q "perfect scaling" "$p/steps_to_target.gp"
    # the reference kn's own curve reaches its final error + the tolerance, so it has a step count
    awk '/^# gradual/ { g = 1; next } g && NF == 2 && $1 == 16 { ok = ($2 > 0 && $2 <= 64) } END { exit !ok }' "$p/steps.dat"
    # --target and --tolerance reach the table
    "$bb" plot "$tmp/s" --target 99 --tolerance 50 > "$tmp/plot2.log" 2>&1 || { cat "$tmp/plot2.log"; exit 1; }
    grep -q "target (steps to target) 99.00%" "$tmp/plot2.log"
    grep -q "within 50 point" "$tmp/plot2.log"
    if "$bb" plot "$tmp/s" --tolerance -1 > /dev/null 2>&1; then exit 1; fi
    if [ -f "$tmp/s/advise/advise.json" ]; then check_png "$p/noise_scale.png" 1000 640; fi
    test -f "$p/error_vs_batch.gp" && test -f "$p/summary.dat"
    ! ls "$p"/*.log 2> /dev/null
    "$bb" plot "$tmp/s/runs/kn00032-gradual-s1" --out "$tmp/one" > "$tmp/plot1.log" 2>&1 || { cat "$tmp/plot1.log"; exit 1; }
    check_png "$tmp/one/errors.png" 1000 640
    check_png "$tmp/one/lr_schedule.png" 1000 640
else
    echo "gnuplot not installed: checking the fallback only"
fi
# without gnuplot on PATH: scripts and data are written, the message says what to do
mkdir -p "$tmp/bin"
if PATH="$tmp/bin" "$bb" plot "$tmp/s" --out "$tmp/nognu" > "$tmp/nognu.log" 2>&1; then exit 1; fi
grep -q "gnuplot" "$tmp/nognu.log"
test -f "$tmp/nognu/error_vs_batch.gp" && test -f "$tmp/nognu/iters.dat"
