#!/usr/bin/env bash
# Fails when clang-format-19 would change any tracked C++ file; exit 77 (CTest "Skipped")
# when clang-format-19 is not installed.
set -euo pipefail
root=${1:-.}
cd "$root"
if ! command -v clang-format-19 >/dev/null; then
  echo "clang-format-19 not installed: skipping (apt-get install clang-format-19)"
  exit 77
fi
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src tests -name '*.[ch]pp')
bad=0
for f in $files; do
  if ! clang-format-19 --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "needs clang-format-19: $f"
    bad=1
  fi
done
exit $bad
