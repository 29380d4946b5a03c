#!/usr/bin/env bash
# Throughput through a `vm forward` port forward (the daemon's TcpForwarder on 127.0.0.1) vs a
# direct connection to the guest's address over the bridge, in the same run: a busybox httpd in
# a tiny guest serves a SIZE_MIB file, curl on the host downloads it (guest -> host direction)
# through each path, rounds interleaved, medians, and the ratio forward/direct. Everything
# networked runs in a throwaway network namespace (BANGER_REQUIRE_NETNS=1).
#
# Usage (root, from the project root, after building):
#   bench/forward.sh [BUILD_DIR=build] [ROUNDS=5] [SIZE_MIB=64]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; rounds=${2:-5}; size=${3:-64}
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
work=$(mktemp -d /var/tmp/banger-forward.XXXXXX)
export BANGER_HOME=$work/home
export BANGER_REQUIRE_NETNS=1
ns=bgfwd-$$
cleanup() {
  ip netns exec "$ns" "$banger" vm delete fwd >/dev/null 2>&1 || true
  ip netns exec "$ns" "$banger" daemon stop >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home/config"
printf '[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "512M"\n' > "$work/home/config/config.toml"
"$banger" kernel pull debian-cloud >/dev/null
"$banger" image build tiny >/dev/null 2>&1 || "$banger" image show tiny >/dev/null
"$banger" daemon stop >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

in_ns "$banger" vm create --image tiny --name fwd >/dev/null
in_ns "$banger" vm ssh fwd -- "mkdir -p /root/www && dd if=/dev/urandom of=/root/www/big bs=1M count=$size 2>/dev/null && busybox httpd -p 8080 -h /root/www"
ip=$(in_ns "$banger" vm show fwd --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["guest_ip"])')
port=$(in_ns "$banger" vm forward fwd 0:8080 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bound"][0]["host_port"])')

fetch() {  # url -> bytes/s (fails unless the whole file arrived)
  in_ns curl -sS --max-time 300 -o /dev/null -w '%{size_download} %{speed_download}\n' "$1" |
    awk -v want=$((size * 1048576)) '$1 != want {print "short download: " $1 > "/dev/stderr"; exit 1} {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fetch "http://$ip:8080/big" >/dev/null  # warm the guest's page cache
direct=(); forward=()
for _ in $(seq "$rounds"); do
  direct+=("$(fetch "http://$ip:8080/big")")
  forward+=("$(fetch "http://127.0.0.1:$port/big")")
done
d=$(printf '%s\n' "${direct[@]}" | median)
f=$(printf '%s\n' "${forward[@]}" | median)
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo "size ${size} MiB, ${rounds} rounds (guest -> host, curl from busybox httpd)"
echo "direct  ${ip}:8080        median $(mib "$d") MiB/s  (runs: $(for x in "${direct[@]}"; do printf '%s ' "$(mib "$x")"; done))"
echo "forward 127.0.0.1:${port}  median $(mib "$f") MiB/s  (runs: $(for x in "${forward[@]}"; do printf '%s ' "$(mib "$x")"; done))"
awk -v f="$f" -v d="$d" 'BEGIN {printf "ratio forward/direct: %.2f\n", f / d}'
