#!/usr/bin/env bash
# Sweeps on a GPU machine (the long sweeps of docs/RESULTS.md), one command:
#     scripts/gpu_sweep.sh OUTDIR PLAN
# builds build-cuda/ as scripts/gpu_check.sh does, then runs every line of PLAN
# (blank lines and # comments aside) as the flags of one `bigbatch sweep` with
# `--device cuda`, all lines at once: small networks leave a GPU mostly idle, so
# several sweeps share it. Each line must name its own --out (relative to OUTDIR).
# BB_SWEEP_BUDGET (seconds, default 480) bounds the whole: at its end the sweeps
# are interrupted (SIGINT: the current run checkpoints first) and a later command
# with the same PLAN resumes them. BB_DATA_DIR, when set, is passed as --data-dir.
# BB_SWEEP_DEVICE=cpu runs the same plan on the CPU with the build in BB_BUILD
# (default build/), to try a plan without a GPU. OUTDIR receives gpu_sweep.log,
# the sweep directories and sweeps.tar.gz (every sweep without its checkpoints,
# and the sweeps' logs).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
[ $# -eq 2 ] || { echo "usage: scripts/gpu_sweep.sh OUTDIR PLAN" >&2; exit 2; }
[ -r "$2" ] || { echo "gpu_sweep: cannot read the plan $2" >&2; exit 2; }
PLAN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
OUT=$1
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=$ROOT/.gpucheck
rm -rf "$WORK" && mkdir -p "$WORK/include" "$WORK/lib"
START=$(date +%s)
BUDGET=${BB_SWEEP_BUDGET:-480}
RES=$OUT/results.tsv
: > "$RES"
: > "$OUT/env.txt"
DEVICE=${BB_SWEEP_DEVICE:-cuda}
. "$ROOT/scripts/gpu/common.sh"

main() {
if [ "$DEVICE" = cuda ]; then
    gpu_build
    [ "$BUILT" = 1 ] || { echo "gpu_sweep: the build failed"; return 1; }
else
    BIN=$(cd "${BB_BUILD:-build}" 2>/dev/null && pwd)
    [ -x "$BIN/bigbatch" ] || { echo "gpu_sweep: no $BIN/bigbatch: run make first"; return 1; }
fi
mapfile -t LINES < <(grep -v '^[[:space:]]*\(#\|$\)' "$PLAN")
N=${#LINES[@]}
[ "$N" -gt 0 ] || { echo "gpu_sweep: $PLAN holds no sweep"; return 1; }
for i in "${!LINES[@]}"; do
    [[ " ${LINES[$i]} " == *" --out "* ]] ||
        { echo "gpu_sweep: $PLAN, sweep $((i + 1)): no --out (each sweep needs its own directory)"; return 1; }
done
LOADERS=$(( NPROC / N - 1 )); [ "$LOADERS" -ge 1 ] || LOADERS=1
DATA=()
[ -n "${BB_DATA_DIR:-}" ] && DATA=(--data-dir "$(cd "$BB_DATA_DIR" && pwd)")
stage "$N sweeps at once on $DEVICE, $LOADERS loader threads each, until $BUDGET s"
PIDS=()
for i in "${!LINES[@]}"; do
    # shellcheck disable=SC2206
    args=(${LINES[$i]})
    echo "+ bigbatch sweep ${LINES[$i]} --device $DEVICE"
    # exec: the pid is bigbatch's own, which the budget signals (no other process)
    (cd "$OUT" && exec "$BIN/bigbatch" sweep "${args[@]}" "${DATA[@]}" --device "$DEVICE" \
        --loader-threads "$LOADERS" --plot 0 > "$OUT/sweep$i.log" 2>&1) &
    PIDS+=($!)
done
# wait for all, or interrupt them when the budget is spent (leaving time for the archive)
while :; do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    if ! time_for 15; then
        echo "budget spent at $(elapsed)s: interrupting the sweeps (they checkpoint and resume next time)"
        kill -INT "${PIDS[@]}" 2>/dev/null || true
        sleep 8
        kill -KILL "${PIDS[@]}" 2>/dev/null || true
        break
    fi
    sleep 2
done
wait
for i in "${!LINES[@]}"; do echo "--- sweep $i: ${LINES[$i]}"; tail -3 "$OUT/sweep$i.log"; done
stage "archive"
(cd "$OUT" && tar czf sweeps.tar.gz --exclude='*.safetensors' env.txt sweep[0-9]*.log $(ls -d */ 2>/dev/null)) &&
    ls -l "$OUT/sweeps.tar.gz"
echo "gpu_sweep: $(elapsed)s"
}

main "$@" 2>&1 | tee "$OUT/gpu_sweep.log"
exit "${PIPESTATUS[0]}"
