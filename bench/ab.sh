#!/usr/bin/env bash
# A/B of two bigbatch builds on one training step: runs `bigbatch bench
# train ARGS` of build A, then of build B, ROUNDS times in turn (a machine
# whose speed drifts affects both alike) and prints, per build, the median
# images/s over rounds, the median of each round's fastest step and the
# median images per CPU second (time the host gave to other work not
# counted: the least exposed to a busy neighbour), then B's ratio to A on
# all three.
#   bench/ab.sh A_BIN B_BIN ROUNDS [bench train args...]
# e.g. base=$(mktemp -d); git archive HEAD~1 | tar -x -C $base; make -C $base -j2
#      bench/ab.sh $base/build/bigbatch build/bigbatch 6 --steps 40 --threads 1 --batch-size 32
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 A_BIN B_BIN ROUNDS [bench train args...]" >&2; exit 2; }
a=$1 b=$2 rounds=$3; shift 3
for bin in "$a" "$b"; do [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }; done
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ai="" bi="" am="" bm="" ac="" bc=""
for _ in $(seq "$rounds"); do
    for side in a b; do
        bin=$a; [ $side = b ] && bin=$b
        out=$("$bin" bench train "$@" 2>&1)
        img=$(echo "$out" | sed -n 's|^images/s \([0-9.]*\).*|\1|p')
        fast=$(echo "$out" | sed -n 's|.*step ms median [0-9.]*, min \([0-9.]*\).*|\1|p')
        cpu=$(echo "$out" | sed -n 's|.*: \([0-9.]*\) images per CPU second|\1|p')
        [ -n "$img" ] && [ -n "$fast" ] && [ -n "$cpu" ] || { echo "$bin bench train $*: no figures" >&2; echo "$out" >&2; exit 1; }
        echo "# $side: $img img/s, fastest step $fast ms, $cpu img per CPU second" >&2
        if [ $side = a ]; then ai+="$img"$'\n'; am+="$fast"$'\n'; ac+="$cpu"$'\n'
        else bi+="$img"$'\n'; bm+="$fast"$'\n'; bc+="$cpu"$'\n'; fi
    done
done
ma=$(printf %s "$ai" | median) mb=$(printf %s "$bi" | median)
fa=$(printf %s "$am" | median) fb=$(printf %s "$bm" | median)
ca=$(printf %s "$ac" | median) cb=$(printf %s "$bc" | median)
echo "A $a: median $ma img/s, median fastest step $fa ms, median $ca img per CPU second"
echo "B $b: median $mb img/s, median fastest step $fb ms, median $cb img per CPU second"
awk -v ma="$ma" -v mb="$mb" -v fa="$fa" -v fb="$fb" -v ca="$ca" -v cb="$cb" \
    'BEGIN {printf "B/A: %.3f (images/s), %.3f (fastest step, A/B), %.3f (images per CPU second)\n", mb / ma, fa / fb, cb / ca}'
