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
NPROC=$(nproc 2>/dev/null || echo 4)

elapsed() { echo $(( $(date +%s) - START )); }
stage() { echo; echo "=== [$(elapsed)s] $*"; }
run() { echo "+ $*"; "$@"; }
result() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >> "$RES"; echo "--> $2: $1: $3"; }
# time_for SECONDS: is there that much of the budget left?
time_for() { [ $(( BUDGET - $(elapsed) )) -ge "$1" ]; }
PY=$(command -v python3 || true)
COMPAT=${BB_CHECK_COMPAT:-0}
# limit SECONDS: a timeout within both SECONDS and what is left of the budget
limit() { local left=$(( BUDGET - $(elapsed) )); [ "$left" -lt "$1" ] && echo "$(( left > 5 ? left : 5 ))" || echo "$1"; }

main() {
# ---------------------------------------------------------------------------
stage "environment"
run nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || true
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
if [ -z "$CAP" ] && [ -n "$PY" ]; then
    CAP=$("$PY" -c 'import torch; a, b = torch.cuda.get_device_capability(); print(f"{a}{b}")' 2>/dev/null || true)
fi
ARCH=sm_${CAP:-90}
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && for c in /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do [ -x "$c" ] && NVCC=$c && break; done
CUDA_HOME=${CUDA_HOME:-$( [ -n "$NVCC" ] && dirname "$(dirname "$(readlink -f "$NVCC")")" || echo /usr/local/cuda)}
if [ -n "$NVCC" ] && ! "$NVCC" --list-gpu-arch 2>/dev/null | grep -q "compute_${CAP:-90}"; then
    echo "nvcc does not list compute_${CAP:-90}; building for sm_90"
    ARCH=sm_90
fi
TORCH=$([ -n "$PY" ] && "$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' 2>/dev/null || echo "not available")
echo "GPU: ${GPU:-?} (compute capability ${CAP:-?}, building for $ARCH); nvcc: ${NVCC:-none}; CUDA_HOME=$CUDA_HOME; cores: $NPROC; PyTorch: $TORCH"
[ -n "$NVCC" ] && "$NVCC" --version | tail -2
{
    echo "${GPU:-unknown GPU} (sm_${CAP:-?}), $NPROC CPU cores"
    [ -n "$NVCC" ] && echo "nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    echo "PyTorch $TORCH"
} >> "$OUT/env.txt"
if [ -z "$GPU" ]; then result "GPU present (nvidia-smi)" FAIL "no GPU found"; else result "GPU present (nvidia-smi)" PASS "$GPU, $ARCH"; fi

# ---------------------------------------------------------------------------
stage "dependencies"
# (include dir : library dir) pairs to search, the Python wheels of PyTorch last
NVPKGS=""
if [ -n "$PY" ]; then
    NVPKGS=$("$PY" - <<'EOF' 2>/dev/null || true
import os
try:
    import nvidia
    for p in nvidia.__path__:
        for s in sorted(os.listdir(p)):
            print(os.path.join(p, s))
except Exception:
    pass
EOF
)
fi
PAIRS="$CUDA_HOME/include:$CUDA_HOME/lib64 $CUDA_HOME/include:$CUDA_HOME/lib $CUDA_HOME/targets/x86_64-linux/include:$CUDA_HOME/targets/x86_64-linux/lib /usr/include:/usr/lib/x86_64-linux-gnu /usr/local/include:/usr/local/lib /usr/include/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu"
for p in $NVPKGS; do PAIRS="$PAIRS $p/include:$p/lib"; done
CUDA_INC=""
CUDA_LIB=""
# the compilers search the system include directories already; naming them
# again (-isystem /usr/include) breaks C++'s #include_next <math.h> under nvcc
add_inc() { case "$1" in /usr/include|/usr/include/x86_64-linux-gnu|/usr/local/include) return ;; esac
            case " $CUDA_INC " in *" $1 "*) ;; *) CUDA_INC="$CUDA_INC $1" ;; esac; }
add_lib() { case " $CUDA_LIB " in *" $1 "*) ;; *) CUDA_LIB="$CUDA_LIB $1" ;; esac; }
# find_pkg HEADER LIB: the first pair holding both; links lib$LIB.so into $WORK/lib when only a versioned file exists
find_pkg() {
    local header=$1 lib=$2 pair inc ldir f
    for pair in $PAIRS; do
        inc=${pair%%:*}; ldir=${pair#*:}
        [ -f "$inc/$header" ] || continue
        f=$(ls "$ldir/lib$lib.so" "$ldir"/lib"$lib".so.[0-9]* 2>/dev/null | head -1)
        [ -n "$f" ] || continue
        add_inc "$inc"
        add_lib "$ldir"
        [ -e "$ldir/lib$lib.so" ] || ln -sf "$f" "$WORK/lib/lib$lib.so"
        echo "$header, lib$lib: $inc, $f"
        return 0
    done
    echo "not found: $header with lib$lib.so"
    return 1
}
DEPS_OK=1
find_pkg cuda_runtime_api.h cudart || DEPS_OK=0
find_pkg cublas_v2.h cublas || DEPS_OK=0
find_pkg cudnn.h cudnn || DEPS_OK=0
NCCL=1
find_pkg nccl.h nccl || { NCCL=0; echo "building without NCCL: one GPU per run (enough for this check)"; }
CUDA_INC=${CUDA_INC# }
CUDA_LIB="${CUDA_LIB# } $WORK/lib"
LD_LIBRARY_PATH="$(echo "$CUDA_LIB" | tr ' ' ':')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH

# BLAS and zlib for the CPU reference: the system's, else apt-get, else stand-ins
EXTRA="-I$WORK/include"
# first_file FILE...: the first that exists
first_file() { local f; for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }
have_blas() {
    [ "$COMPAT" = 1 ] && return 1
    first_file /usr/lib/x86_64-linux-gnu/libopenblas.so /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so \
        /usr/lib64/libopenblas.so /usr/lib/libopenblas.so /usr/local/lib/libopenblas.so >/dev/null || return 1
    local d
    for d in /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas /usr/include/x86_64-linux-gnu /usr/include /usr/local/include; do
        [ -f "$d/cblas.h" ] && { BLAS_INC=$d; return 0; }
    done
    return 1
}
have_zlib() { [ "$COMPAT" != 1 ] && { [ -f /usr/include/zlib.h ] || [ -f /usr/local/include/zlib.h ]; }; }
if [ "$COMPAT" != 1 ] && { ! have_blas || ! have_zlib; }; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        run timeout 60 apt-get install -y -qq --no-install-recommends libopenblas-dev zlib1g-dev </dev/null ||
            { run timeout 60 apt-get update -qq </dev/null && run timeout 90 apt-get install -y -qq --no-install-recommends libopenblas-dev zlib1g-dev </dev/null; } || echo "apt-get could not install them"
    fi
fi
if have_blas; then
    echo "BLAS: OpenBLAS ($BLAS_INC/cblas.h)"; EXTRA="$EXTRA -I$BLAS_INC"; BLAS_KIND="OpenBLAS"
else
    cp scripts/gpu/compat/cblas.h "$WORK/include/"
    OB=$(first_file /usr/lib/x86_64-linux-gnu/libopenblas.so.0 /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 /usr/lib64/libopenblas.so.0 /usr/lib/libopenblas.so.0)
    if [ -n "$OB" ] && [ "$COMPAT" != 1 ]; then
        ln -sf "$OB" "$WORK/lib/libopenblas.so"; BLAS_KIND="OpenBLAS runtime $OB"
    else
        run cc -O3 -march=native -I"$WORK/include" -c scripts/gpu/compat/sgemm.c -o "$WORK/sgemm.o" &&
            run ar rcs "$WORK/lib/libopenblas.a" "$WORK/sgemm.o"
        BLAS_KIND="portable stand-in (scripts/gpu/compat/sgemm.c): the CPU reference runs slower"
    fi
    echo "BLAS: $BLAS_KIND"
fi
if have_zlib; then ZLIB_KIND=system; else
    cp scripts/gpu/compat/zlib.h "$WORK/include/"
    ZL=$(first_file /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 /usr/lib64/libz.so.1 /lib64/libz.so.1)
    [ -n "$ZL" ] && ln -sf "$ZL" "$WORK/lib/libz.so"
    ZLIB_KIND="headers from scripts/gpu/compat, library ${ZL:-missing}"
fi
echo "zlib: $ZLIB_KIND"
echo "CUDA_INC=$CUDA_INC"
echo "CUDA_LIB=$CUDA_LIB"
if [ $DEPS_OK = 1 ]; then result "dependencies (CUDA runtime, cuBLAS, cuDNN, NCCL)" PASS "NCCL: $([ $NCCL = 1 ] && echo found || echo 'not found, built without'); BLAS: $BLAS_KIND; zlib: $ZLIB_KIND"
else result "dependencies (CUDA runtime, cuBLAS, cuDNN, NCCL)" FAIL "missing, see log"; fi
echo "BLAS for the CPU reference: $BLAS_KIND" >> "$OUT/env.txt"

# ---------------------------------------------------------------------------
stage "build: make CUDA=1 CUDA_ARCH=$ARCH"
BIN=$ROOT/build-cuda
BUILT=0
if [ -z "$NVCC" ]; then
    result "build (make CUDA=1)" FAIL "no nvcc"
elif run make -j"$NPROC" CUDA=1 MPI=0 NCCL=$NCCL CUDA_ARCH="$ARCH" CUDA_HOME="$CUDA_HOME" NVCC="$NVCC" CUDA_INC="$CUDA_INC" \
        CUDA_LIB="$CUDA_LIB" EXTRA_CFLAGS="$EXTRA" LDFLAGS="-L$WORK/lib"; then
    BUILT=1
    result "build (make CUDA=1 CUDA_ARCH=$ARCH MPI=0)" PASS "build-cuda/bigbatch, build-cuda/bb_tests"
else
    result "build (make CUDA=1 CUDA_ARCH=$ARCH MPI=0)" FAIL "see gpu_check.log"
fi

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
