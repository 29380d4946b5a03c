#!/usr/bin/env bash
# Build times of banger's guest artifacts against the proven shell recipes in
# ../shared/recipes (the baseline), in the same invocation, on the same machine.
#
# Usage (root, from the project root, after building):
#   bench/artifacts.sh [BUILD_DIR=build] [--with-debian]
# Prints one row per artifact: baseline seconds, banger seconds and banger/baseline.
# Both sides fetch packages with the host's apt into fresh directories.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
with_debian=0
[ "${2:-}" = "--with-debian" ] && with_debian=1
recipes=$root/../shared/recipes
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
[ -d "$recipes" ] || { echo "baseline recipes not found at $recipes" >&2; exit 1; }

work=$(mktemp -d /var/tmp/banger-bench.XXXXXX)
export BANGER_HOME=$work/home
cleanup() {
  "$banger" daemon stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ssh-keygen -q -t ed25519 -N '' -f "$work/key"

now() { date +%s.%N; }
time_cmd() {  # time_cmd OUTVAR command...
  local __var=$1; shift
  local t0; t0=$(now)
  "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  printf -v "$__var" '%.2f' "$(echo "$(now) - $t0" | bc)"
}
row() { printf '| %-16s | %8s | %8s | %6.2f |\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

"$banger" daemon start >/dev/null
echo "| artifact         | baseline s | banger s | ratio |"
echo "|---|---|---|---|"

time_cmd base_kernel bash -c "'$recipes/get-kernel.sh' '$work/k' cloud-amd64 && '$recipes/mk-initramfs.sh' '$work/k' '$work/initramfs.cpio.gz'"
time_cmd banger_kernel "$banger" kernel pull debian-cloud --force
row "debian-cloud" "$base_kernel" "$banger_kernel"

time_cmd base_tiny "$recipes/mk-tiny-rootfs.sh" "$work/tiny.ext4" "$work/key.pub" 64
time_cmd banger_tiny "$banger" image build tiny --force
row "tiny" "$base_tiny" "$banger_tiny"

if [ $with_debian = 1 ]; then
  time_cmd base_deb "$recipes/mk-debian-rootfs.sh" "$work/deb.ext4" "$work/key.pub"
  time_cmd banger_deb "$banger" image build debian-bookworm --force
  row "debian-bookworm" "$base_deb" "$banger_deb"
fi
