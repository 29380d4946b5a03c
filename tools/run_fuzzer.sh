#!/usr/bin/env bash
# Builds one libFuzzer target from fuzz/<name>_fuzz.cpp with clang-19 (ASan + UBSan) and runs
# it for a bounded time. The target's first lines name its sources: `// FUZZ_SOURCES: a.cpp ...`
# (standard library + nlohmann json only, so no CMake build is needed) and, optionally, system
# libraries to link: `// FUZZ_LIBS: -larchive`. Files in fuzz/<name>.seeds/ seed the corpus.
# Usage: tools/run_fuzzer.sh <source-dir> <work-dir> <name> [seconds]
# Exit 77 (CTest "Skipped") when clang++-19 or the fuzzer runtime is missing.
set -euo pipefail
src=$1 work=$2 name=$3 seconds=${4:-30}
target="$src/fuzz/${name}_fuzz.cpp"
[ -f "$target" ] || { echo "no fuzz target $target" >&2; exit 1; }
if ! command -v clang++-19 >/dev/null; then
  echo "clang++-19 not installed (scripts/install-deps.sh): fuzzing skipped" >&2
  exit 77
fi
sources=$(sed -n 's|^// FUZZ_SOURCES:||p' "$target" | head -1)
libs=$(sed -n 's|^// FUZZ_LIBS:||p' "$target" | head -1)
[ -n "$sources" ] || { echo "$target has no // FUZZ_SOURCES: line" >&2; exit 1; }
mkdir -p "$work/$name.corpus"
if [ -d "$src/fuzz/$name.seeds" ]; then
  cp -n "$src/fuzz/$name.seeds"/* "$work/$name.corpus/" 2>/dev/null || true
fi
binary="$work/$name"
args=()
for s in $sources; do args+=("$src/$s"); done
if ! clang++-19 -std=c++20 -O1 -g -I"$src/src" -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined "$target" "${args[@]}" $libs -o "$binary" \
    2>"$work/$name.build.log"; then
  if grep -q "libclang_rt.fuzzer" "$work/$name.build.log"; then
    echo "the libFuzzer runtime (libclang-rt-19-dev) is missing: fuzzing skipped" >&2
    exit 77
  fi
  cat "$work/$name.build.log" >&2
  exit 1
fi
# -max_total_time bounds CI time; crashes leave crash-* files in $work for reproduction.
cd "$work"
exec "$binary" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/$name-" \
  "$work/$name.corpus"
