#!/usr/bin/env bash
# The device check of the CUDA backend (docs/GPU.md), one command on a GPU
# machine:   scripts/gpu_check.sh [OUTDIR]
# Stages: environment; dependencies (found in the CUDA toolkit, the system or
# the Python packages of PyTorch, else installed with apt-get, else stand-ins
# from scripts/gpu/compat); build (make CUDA=1 for this GPU's architecture);
# unit tests (every operator on the GPU against the CPU, the device trainer
# against the CPU trainer); ResNet-20 training on GPU and CPU from one seed;
# speed of ResNet-20 and ResNet-50 against PyTorch on this GPU; the table.
# Every stage logs its commands (+ cmd), a failing stage is recorded and the
# next runs anyway, stages that would overrun the time budget are skipped.
# OUTDIR (default gpu-check/) receives gpu_check.log, tests.log, results.tsv,
# env.txt, table.md and runs.tar.gz; the exit status is 0 when all checks pass.
# BB_CHECK_BUDGET (seconds, default 450) bounds the whole; BB_CHECK_COMPAT=1
# uses the stand-ins for BLAS and zlib even where the real ones exist (to test
# that path).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${1:-$ROOT/gpu-check}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=$ROOT/.gpucheck
RUNS=$WORK/runs
rm -rf "$WORK" && mkdir -p "$RUNS" "$WORK/include" "$WORK/lib"
START=$(date +%s)
BUDGET=${BB_CHECK_BUDGET:-450}          # seconds for everything
RES=$OUT/results.tsv
: > "$RES"
: > "$OUT/env.txt"
. "$ROOT/scripts/gpu/common.sh"

main() {
gpu_build

# ---------------------------------------------------------------------------
stage "unit tests: every operator on the GPU against the CPU, the trainers"
if [ $BUILT = 1 ] && time_for 120; then
    # the GPU machine has no Debian dataset package: the Fashion-MNIST reader test skips
    run timeout "$(limit $(( BUDGET - $(elapsed) - 100 )))" env BB_TEST_WITHOUT_DATASET=1 "$BIN/bb_tests" > "$OUT/tests.log" 2>&1
    echo "bb_tests exit status $?"
    grep -E "^(gpu-op|FAIL|[0-9]+ passed)" "$OUT/tests.log" || true
else
    result "unit tests" SKIP "not built or no time left"
fi

# ---------------------------------------------------------------------------
R20="--model resnet20 --data synthetic --synthetic-shape 1x28x28 --synthetic-train 4096 --synthetic-test 1024
     --synthetic-classes 10 --batch-size 128 --worker-batch 16 --epochs 1 --max-steps 20 --eval-every 0
     --checkpoint-every 0 --seed 7 --log-every 5"
train() {  # train NAME [env VAR=VALUE ...] FLAGS...: one run into $RUNS/NAME, logged
    local name=$1; shift
    echo "+ bigbatch train $* --out $RUNS/$name"
    timeout "$(limit 200)" env "$@" --out "$RUNS/$name" > "$RUNS/$name.log" 2>&1
    local rc=$?
    tail -4 "$RUNS/$name.log"
    return $rc
}
stage "training: ResNet-20 on GPU (float32, TF32, chunks) and on the CPU, one seed"
if [ $BUILT = 1 ] && time_for 150; then
    # shellcheck disable=SC2086
    train r20_gpu_fp32 "$BIN/bigbatch" train $R20 --device cuda --tf32 0 || result "ResNet-20 GPU float32 run" FAIL "exit status, see runs"
    train r20_gpu_tf32 "$BIN/bigbatch" train $R20 --device cuda --tf32 1 || result "ResNet-20 GPU TF32 run" FAIL "exit status, see runs"
    train r20_gpu_chunks BB_GPU_CHUNK_WORKERS=3 "$BIN/bigbatch" train $R20 --device cuda --tf32 0 || result "ResNet-20 GPU chunked run" FAIL "exit status"
    train r20_cpu "$BIN/bigbatch" train $R20 --device cpu --threads "$NPROC" || result "ResNet-20 CPU run" FAIL "exit status, see runs"
    CK=$RUNS/r20_gpu_fp32/checkpoint.safetensors
    run timeout "$(limit 60)" "$BIN/bigbatch" eval --checkpoint "$CK" --device cuda > "$RUNS/eval_gpu.txt" 2>&1; cat "$RUNS/eval_gpu.txt"
    run timeout "$(limit 60)" "$BIN/bigbatch" eval --checkpoint "$CK" --device cpu --threads "$NPROC" > "$RUNS/eval_cpu.txt" 2>&1; cat "$RUNS/eval_cpu.txt"
else
    result "ResNet-20 training comparison" SKIP "not built or no time left"
fi

# ---------------------------------------------------------------------------
stage "determinism: --deterministic runs repeat bit for bit, and so does a resumed run"
hashes() { "$BIN/bigbatch" inspect --checkpoint "$1" 2>/dev/null | awk '/^params-hash|^state-hash/ {printf "%s ", $2}'; }
if [ $BUILT = 1 ] && time_for 60; then
    # shellcheck disable=SC2086
    train det_a "$BIN/bigbatch" train $R20 --device cuda --deterministic 1 || true
    # shellcheck disable=SC2086
    train det_b "$BIN/bigbatch" train $R20 --device cuda --deterministic 1 || true
    # shellcheck disable=SC2086
    train det_half "$BIN/bigbatch" train $R20 --device cuda --deterministic 1 --max-steps 10 || true
    train det_resumed "$BIN/bigbatch" train --resume "$RUNS/det_half/checkpoint.safetensors" --max-steps 20 || true
    ha=$(hashes "$RUNS/det_a/checkpoint.safetensors"); hb=$(hashes "$RUNS/det_b/checkpoint.safetensors")
    hr=$(hashes "$RUNS/det_resumed/checkpoint.safetensors")
    echo "hashes: a=$ha b=$hb resumed=$hr"
    if [ -n "$ha" ] && [ "$ha" = "$hb" ]; then result "GPU --deterministic: two runs, same bits" PASS "$ha"
    else result "GPU --deterministic: two runs, same bits" FAIL "a=$ha b=$hb"; fi
    if [ -n "$ha" ] && [ "$ha" = "$hr" ]; then result "GPU --deterministic: 10 + resume 10 = 20 steps, same bits" PASS "$hr"
    else result "GPU --deterministic: 10 + resume 10 = 20 steps, same bits" FAIL "a=$ha resumed=$hr"; fi
else
    result "GPU determinism" SKIP "not built or no time left"
fi

# ---------------------------------------------------------------------------
stage "speed: bigbatch against PyTorch on this GPU"
B20="--model resnet20 --data synthetic --synthetic-shape 1x28x28 --synthetic-train 16384 --synthetic-test 256
     --batch-size 256 --worker-batch 32 --epochs 100 --max-steps 60 --eval-every 0 --checkpoint-every 0 --log-every 20"
B50="--model resnet50 --data synthetic --synthetic-shape 3x224x224 --synthetic-train 512 --synthetic-test 256
     --synthetic-classes 100 --batch-size 256 --epochs 100 --max-steps 40 --eval-every 0 --checkpoint-every 0 --log-every 10"
torch_bench() {  # torch_bench NAME ARGS...
    local name=$1; shift
    echo "+ python3 bench/torch_resnet.py $*"
    timeout "$(limit 150)" "$PY" bench/torch_resnet.py "$@" > "$RUNS/$name" 2> "$RUNS/$name.err"
    local rc=$?
    cat "$RUNS/$name"; tail -3 "$RUNS/$name.err"
    return $rc
}
if [ $BUILT = 1 ] && time_for 60; then
    # shellcheck disable=SC2086
    train bench_r50 "$BIN/bigbatch" train $B50 --worker-batch 32 --device cuda || result "bigbatch ResNet-50 run" FAIL "exit status, see runs"
fi
if [ -n "$PY" ] && time_for 60; then
    torch_bench torch_r50.json --model resnet50 --batch 256 --shape 3x224x224 --classes 100 --steps 30 --warmup 10 ||
        result "PyTorch ResNet-50 run" FAIL "exit status, see runs"
fi
if [ $BUILT = 1 ] && time_for 45; then
    # shellcheck disable=SC2086
    train bench_r20 "$BIN/bigbatch" train $B20 --device cuda || result "bigbatch ResNet-20 run" FAIL "exit status, see runs"
fi
if [ -n "$PY" ] && time_for 40; then
    torch_bench torch_r20.json --model resnet20 --batch 256 --shape 1x28x28 --classes 10 --steps 50 --warmup 10 ||
        result "PyTorch ResNet-20 run" FAIL "exit status, see runs"
fi
if [ $BUILT = 1 ] && time_for 45; then
    # shellcheck disable=SC2086
    train bench_r50_n256 "$BIN/bigbatch" train $B50 --worker-batch 256 --device cuda || true
fi

# ---------------------------------------------------------------------------
stage "table"
(cd "$RUNS" && tar czf "$OUT/runs.tar.gz" --exclude='*.safetensors' . 2>/dev/null) || true
STATUS=1
if [ -n "$PY" ]; then
    "$PY" scripts/gpu/report.py --out "$OUT" --runs "$RUNS"
    STATUS=$?
else
    echo "| check | result | measured | bound |"; echo "|---|---|---|---|"
    awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$RES" | tee "$OUT/table.md"
    grep -q "	FAIL	" "$RES" || STATUS=0
fi
echo "gpu_check: $(elapsed)s; log, table and runs in $OUT"
return $STATUS
}

main "$@" 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
