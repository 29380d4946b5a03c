#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh clone: install packages, configure with
# -Werror, build with two jobs, run every CTest test. VM and integration tests that cannot
# run on this host report "Skipped" (never a silent pass).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Unoptimized, without debug info: the suite does not time anything, and on two cores this
# halves the build (about 6 instead of 10+ minutes) for ~30 s more test time.
# ccache (installed by install-deps.sh) keeps compiled objects between runs; CCACHE_BASEDIR
# makes paths relative so a fresh clone in another directory still hits the cache.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DBANGER_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  "${launcher[@]}"
cmake --build build -j2
# style.naming remembers files it found clean (tools/check_naming.py, BANGER_NAMING_CACHE).
# The default image and the kernel the `slow` tests build (minutes) are kept between runs, keyed
# by their inputs (tests/artifacts/image_cache.hpp; the kernel in DIR/kernel-builds, banger's own
# `kernel build` cache); set BANGER_TEST_IMAGE_CACHE= (empty) to always build.
export BANGER_TEST_IMAGE_CACHE="${BANGER_TEST_IMAGE_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/banger-test-images}"
ctest --test-dir build --output-on-failure -j2 --timeout 900
