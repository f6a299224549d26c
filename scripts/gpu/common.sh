# Shared by the GPU scripts (scripts/gpu_check.sh, scripts/gpu_sweep.sh), sourced
# after the caller sets ROOT, OUT, WORK (emptied, with include/ and lib/), RES (the
# results file), START and BUDGET: the log helpers, and gpu_build, which finds the
# GPU, its libraries and BLAS and zlib, and builds build-cuda/ (BIN; BUILT=1 when
# the build succeeded; LD_LIBRARY_PATH exported for the binaries).
NPROC=$(nproc 2>/dev/null || echo 4)
PY=$(command -v python3 || true)
COMPAT=${BB_CHECK_COMPAT:-0}

elapsed() { echo $(( $(date +%s) - START )); }
stage() { echo; echo "=== [$(elapsed)s] $*"; }
run() { echo "+ $*"; "$@"; }
result() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >> "$RES"; echo "--> $2: $1: $3"; }
# time_for SECONDS: is there that much of the budget left?
time_for() { [ $(( BUDGET - $(elapsed) )) -ge "$1" ]; }
# limit SECONDS: a timeout within both SECONDS and what is left of the budget
limit() { local left=$(( BUDGET - $(elapsed) )); [ "$left" -lt "$1" ] && echo "$(( left > 5 ? left : 5 ))" || echo "$1"; }

gpu_build() {
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
# libjpeg and libpng (the imagefolder reader): the system's, else headers and
# libraries copied from another machine into BB_GPU_DEPS (include/, lib/ with
# libjpeg.so.62 and libpng16.so.16; default .gpudata/deps)
DEPS_DIR=${BB_GPU_DEPS:-$ROOT/.gpudata/deps}
if [ "$COMPAT" != 1 ] && [ -f /usr/include/jpeglib.h ] && { [ -f /usr/include/png.h ] || [ -f /usr/include/libpng16/png.h ]; }; then IMG_KIND=system
elif [ -f "$DEPS_DIR/include/jpeglib.h" ] && [ -f "$DEPS_DIR/include/png.h" ]; then
    cp "$DEPS_DIR"/include/*.h "$WORK/include/"
    cp "$DEPS_DIR"/lib/lib*.so.* "$WORK/lib/"
    ln -sf libjpeg.so.62 "$WORK/lib/libjpeg.so"
    ln -sf libpng16.so.16 "$WORK/lib/libpng.so"
    IMG_KIND="from $DEPS_DIR"
else IMG_KIND="missing (the build will fail: give BB_GPU_DEPS)"; fi
# SIMDe headers (the tests' emulated AVX-512 tiles): the system's, else BB_GPU_DEPS
[ -f /usr/include/simde/x86/avx512.h ] || { [ -d "$DEPS_DIR/include/simde" ] && cp -r "$DEPS_DIR/include/simde" "$WORK/include/"; }
echo "libjpeg, libpng: $IMG_KIND"
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
    result "build (make CUDA=1 CUDA_ARCH=$ARCH MPI=0)" FAIL "see the log"
fi

}
