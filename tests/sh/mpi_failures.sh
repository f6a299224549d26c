#!/usr/bin/env bash
# Failures under mpirun end the job within a bounded time with a message
# naming the rank: a rank killed (SIGKILL) or hung (SIGSTOP) mid-run, and a
# rank whose weights drifted (caught by the replica checksum).
set -eu
cd "$(dirname "$0")/../.."
. tests/mpi/lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail=0
# expect NAME SECONDS PATTERN... -- COMMAND: non-zero exit within SECONDS, output matching every PATTERN
expect() {
    local name=$1 bound=$2; shift 2
    local pats=()
    while [ "$1" != -- ]; do pats+=("$1"); shift; done; shift
    local t0 rc=0 dt
    t0=$(date +%s.%N)
    "$@" > "$d/$name.log" 2>&1 || rc=$?
    dt=$(echo "$(date +%s.%N) - $t0" | bc)
    if [ $rc -eq 0 ]; then echo "FAIL $name: the job succeeded"; fail=1; return; fi
    if [ "$(echo "$dt > $bound" | bc)" = 1 ]; then echo "FAIL $name: took ${dt}s, bound ${bound}s"; fail=1; fi
    for p in "${pats[@]}"; do
        grep -qE "$p" "$d/$name.log" || { echo "FAIL $name: no '$p' in:"; tail -15 "$d/$name.log"; fail=1; }
    done
    echo "ok   $name: stopped after ${dt}s (exit $rc): $(grep -m1 -oE "$pats" "$d/$name.log")"
}
# each case starts a new run over the one the case before left in $d/run
train() { mpi 3 "$build/bigbatch" train $tiny --batch-size 48 --out "$d/run" --overwrite "$@"; }

# a hung rank: the others stop after --watchdog 2 s (+ up to 1 s of grace);
# the bound adds the start-up and the 5 iterations before the fault
BB_FAULT=hang:2:5 expect hang 12 "no answer from rank 2 .*hung or dead" -- train --watchdog 2
# a dead rank: mpirun notices at once, or the watchdog does
BB_FAULT=kill:1:5 expect kill 12 "rank 1" -- train --watchdog 2
# one rank's weights change: the next replica check names it
BB_FAULT=perturb:1:4 expect perturb 12 "weights differ across ranks: rank 1 .* disagrees with the other 2" -- \
    train --checksum-every 2
[ "$(grep -c "weights differ" "$d/perturb.log")" = 1 ] || { echo "FAIL perturb: the message should come from one rank"; fail=1; }
exit $fail
