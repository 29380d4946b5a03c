#!/usr/bin/env bash
# Static shell completion time with no daemon running, against `banger --version` (process
# start, the CLI11 tree, exit) in the same invocation; rounds interleaved, medians, ratios:
#   static          banger __complete -- vm st             (what the scripts run on each TAB)
#   live_no_daemon  banger __complete -- vm start ''       (VM names wanted, no daemon: none)
#   bash_tab        _banger for `banger vm st<TAB>` in this bash, the script sourced once as
#                   in a user's shell (the relay plus one __complete process)
# A private BANGER_HOME; fails if a completion printed on stderr or started a daemon.
#
# Usage (from the project root, after building): bench/completion.sh [BUILD_DIR=build] [ROUNDS=50]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; rounds=${2:-50}
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
work=$(mktemp -d /var/tmp/banger-completion.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BANGER_HOME=$work/home HOME=$work/home PATH=$(dirname "$banger"):$PATH
mkdir -p "$HOME"
source <("$banger" completion bash)

bash_tab() { COMP_WORDS=(banger vm st); COMP_CWORD=2; _banger; printf '%s\n' "${COMPREPLY[@]}"; }
declare -A cases=(
  [version]="banger --version"
  [static]="banger __complete -- vm st"
  [live_no_daemon]="banger __complete -- vm start ''"
  [bash_tab]="bash_tab"
)
order=(version static live_no_daemon bash_tab)
[ "$(bash_tab | tr '\n' ' ')" = "start stop stats " ] || { echo "bash_tab: wrong candidates" >&2; exit 1; }
declare -A times
for ((r = 0; r < rounds; r++)); do
  for name in "${order[@]}"; do
    start=$EPOCHREALTIME
    eval "${cases[$name]}" > /dev/null 2> "$work/err"
    end=$EPOCHREALTIME
    if [ -s "$work/err" ]; then
      echo "$name printed on stderr: $(cat "$work/err")" >&2; exit 1
    fi
    times[$name]+="$start,$end "
  done
done
if [ -e "$BANGER_HOME/run/bangerd.sock" ] || [ -e "$BANGER_HOME/state/bangerd.log" ]; then
  echo "a completion started the daemon" >&2; exit 1
fi
median_ms() {
  tr ' ' '\n' <<< "$1" | grep . | awk -F, '{print ($2 - $1) * 1000}' | sort -g |
    awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
base=$(median_ms "${times[version]}")
printf '%-16s %10s %14s\n' case "median ms" "/ --version"
for name in "${order[@]}"; do
  m=$(median_ms "${times[$name]}")
  printf '%-16s %10.2f %14.2f\n' "$name" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
done
echo "($rounds rounds, $(uptime | sed 's/.*load average/load average/'))"
