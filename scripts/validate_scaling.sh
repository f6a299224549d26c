#!/usr/bin/env bash
# Predicted against measured time per iteration on this host for P = 1, 2, 4
# ranks (docs/SCALING.md). Calibrates the model from measurements that are not
# the ones it predicts: `bench allreduce` at P = 2 with training's polling
# (alpha, beta), the reduction loop (gamma) and single-rank runs of each
# workload at HALF the minibatch
# (compute per worker); then measures kn = 256 on 1 rank x 2 threads, 2 ranks
# and 4 ranks (oversubscribed), REPS times, alternating with the calibration
# runs, and prints both.
# The host is shared: before and after every measurement the script probes how
# many cores a job gets right now and gives the means to the model
# (--host-cores, --run-cores, --calibrate-cores).
# usage: scripts/validate_scaling.sh [REPS] [OUTDIR]     (default 5, runs/validate)
#        WORKLOADS="resnet20 mlp" STEPS=5 MLP_STEPS=20 ALGO=ring CORES=2 scripts/validate_scaling.sh
set -eu
cd "$(dirname "$0")/.."
reps=${1:-5}; out=${2:-runs/validate}
steps=${STEPS:-5}; mlp_steps=${MLP_STEPS:-20}; algo=${ALGO:-ring}; cores=${CORES:-$(nproc)}
workloads=${WORKLOADS:-"resnet20 mlp"}
build=${BB_BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $* | $(uptime | sed 's/.*load average/load average/')" | tee -a "$out/log.txt"; }
# cores a job of N busy threads would get now: N busy shell loops for 2 s,
# their CPU seconds / 2 (the host is shared; Linux shares it between sessions
# first, so what a job gets depends on the other jobs and on N)
probe_cores() {  # N
    local d i n=$1
    d=$(mktemp -d)
    for i in $(seq "$n"); do
        (end=$(( ${EPOCHREALTIME/./} + 2000000 )); while (( ${EPOCHREALTIME/./} < end )); do :; done; times > "$d/$i") &
    done
    wait
    for i in $(seq "$n"); do head -1 "$d/$i"; done |
        awk '{ for (k = 1; k <= 2; k++) { split($k, t, /[ms]/); c += 60 * t[1] + t[2] } } END { printf "%.2f\n", c / 2 }'
    rm -rf "$d"
}
measure() {  # name threads command...: runs it between two probes; the mean goes to name.cores
    local name=$1 n=$2; shift 2
    local before after rc=0
    before=$(probe_cores "$n")
    "$@" > "$name.log" 2>&1 || rc=$?
    after=$(probe_cores "$n")
    echo "$before $after" | awk '{ printf "%.2f\n", ($1 + $2) / 2 }' > "$name.cores"
    [ "$rc" = 0 ] || { echo "failed: $name"; tail -3 "$name.log"; return 1; }
}
model_flags() {  # the workloads: ResNet-20 (compute-bound) and a wide MLP (allreduce-heavy)
    case $1 in
    resnet20) echo "--model resnet20" ;;
    mlp) echo "--model mlp --width 2048" ;;
    *) echo "unknown workload $1" >&2; return 1 ;;
    esac
}
common="--data synthetic --synthetic-shape 1x28x28 --synthetic-train 60000 --synthetic-test 64 --eval-every 0
        --checkpoint-every 0 --worker-batch 32 --allreduce $algo"
mpi="mpirun --oversubscribe --bind-to none"

log "bench allreduce, P = 2 and 4"
for P in 2 4; do
    [ -s "$out/bench_p$P.md" ] && continue
    # the sizes gradient buckets have (--bucket-kb 1024 and below), waiting as training waits
    measure "$out/bench_p$P" $P $mpi -np $P "$build/bigbatch" bench allreduce --algorithms ring,hd --max-bytes 16M \
        --spin 5e-5
    mv "$out/bench_p$P.log" "$out/bench_p$P.md"
done

# a run without measurements (none, or a failed one) is made again over what is there
train() { local dir=$1 n=$2; shift 2; measure "$dir" "$n" "$@" --out "$dir" --overwrite; }
for w in $workloads; do
    mf=$(model_flags "$w")
    n=$steps; [ "$w" = mlp ] && n=$mlp_steps  # MLP steps are short: run longer than the core probes
    for r in $(seq "$reps"); do
        if [ ! -s "$out/$w-cal-r$r/iters.csv" ]; then
            log "$w: calibration run $r (1 rank x 2 threads, kn = 128)"
            train "$out/$w-cal-r$r" 2 "$build/bigbatch" train $common $mf --batch-size 128 --threads 2 \
                --max-steps $((n + 2))
        fi
        for P in 1 2 4; do
            d="$out/$w-P$P-r$r"
            [ -s "$d/iters.csv" ] && continue
            log "$w: P = $P, run $r"
            if [ "$P" = 1 ]; then train "$d" 2 "$build/bigbatch" train $common $mf --batch-size 256 --threads 2 --max-steps "$n"
            else train "$d" "$P" $mpi -np "$P" "$build/bigbatch" train $common $mf --batch-size 256 --threads 1 --max-steps "$n"; fi
        done
    done
done
log "done measuring"

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
{
echo "| workload | P | cores available | predicted ms/iter | measured ms/iter (median; runs) | error |"
echo "|---|---:|---:|---:|---:|---:|"
for w in $workloads; do
    mf=$(model_flags "$w")
    cal=""; calcores=""
    for r in $(seq "$reps"); do cal="$cal --run $out/$w-cal-r$r"; calcores="$calcores,$(cat "$out/$w-cal-r$r.cores")"; done
    for P in 1 2 4; do
        avail=$(cat "$out/$w"-P$P-r*.cores | awk '{ s += $1 } END { printf "%.2f", s / NR }')
        "$build/bigbatch" simulate $mf --input 1x28x28 --classes 10 --worker-batch 32 $cal \
            --calibrate "$out/bench_p2.md" --ranks "$P" --threads $((P == 1 ? cores : 1)) --batch-size 256 \
            --algorithms "$algo" --host-cores "$avail" --run-cores "${calcores#,}" \
            --calibrate-cores "$(cat "$out/bench_p2.cores")" --csv "$out/$w-P$P-pred.csv" > "$out/$w-P$P-pred.txt"
        pred=$(awk -F, '$1 == "host" {print $7}' "$out/$w-P$P-pred.csv")
        runs=""
        for r in $(seq "$reps"); do  # each run: median t_step over iterations 1.. (0 warms up)
            m=$(tail -n +3 "$out/$w-P$P-r$r/iters.csv" | cut -d, -f13 | median)
            runs="$runs $(awk -v m="$m" 'BEGIN {printf "%.0f", 1000 * m}')"
        done
        meas=$(echo $runs | tr ' ' '\n' | median)
        awk -v w="$w" -v P="$P" -v l="$avail" -v p="$pred" -v m="$meas" -v runs="$(echo $runs | tr ' ' '/')" \
            'BEGIN {printf "| %s | %d | %.2f | %.0f | %.0f (%s) | %+.1f%% |\n", w, P, l, p, m, runs, 100 * (p - m) / m}'
    done
done
} | tee "$out/table.md"
echo "($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo '?'); cores available: bench $(cat "$out/bench_p2.cores"),"
for w in $workloads; do echo " $w calibration runs: cores $(cat "$out/$w"-cal-r*.cores | tr '\n' ' ')"; done
echo " predictions in $out/*-pred.txt)"
