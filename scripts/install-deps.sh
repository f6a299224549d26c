#!/usr/bin/env bash
# Installs the Debian packages bigbatch needs to build, test and run on its
# default data: a C compiler, OpenBLAS, zlib, Open MPI, Fashion-MNIST, gnuplot
# (plots, with a font for its PNGs), clang with its sanitizer and libFuzzer runtimes (fuzz builds)
# and SIMDe (the tests run the AVX-512 kernels emulated on any x86-64).
# Skips apt when all are there.
# Usage: scripts/install-deps.sh [--with-torch]   (--with-torch: python3-torch,
# the reference framework for fixtures and side-by-side benchmarks)
set -eu
pkgs="build-essential pkg-config libopenblas-dev zlib1g-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist gnuplot-nox fonts-dejavu-core clang libclang-rt-14-dev libjpeg62-turbo-dev libpng-dev bc libsimde-dev"
if [ "${1:-}" = "--with-torch" ]; then pkgs="$pkgs python3-torch python3-numpy"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi
