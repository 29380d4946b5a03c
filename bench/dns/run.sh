#!/usr/bin/env bash
# DNS throughput: banger's DnsServer (dns_bench) against dnsmasq serving the same N `.vm`
# records authoritatively on loopback, each driven by dnsperf for the same duration, one run
# each. Prints a markdown snippet for docs/benchmarks.md.
#
# Usage: bench/dns/run.sh [build-dir=build] [seconds=10] [records=1000]
# Needs: dnsperf and dnsmasq-base (Debian), and `cmake --build <build-dir> --target dns_bench`.
set -euo pipefail

build=${1:-build}
seconds=${2:-10}
records=${3:-1000}
bench=$build/bench/dns/dns_bench

for tool in dnsperf dnsmasq dig; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (apt-get install dnsperf dnsmasq-base dnsutils)" >&2
    exit 1
  fi
done
if [ ! -x "$bench" ]; then
  echo "run.sh: $bench not found; build it with: cmake --build $build --target dns_bench" >&2
  exit 1
fi

work=$(mktemp -d /tmp/bg-dnsbench.XXXXXX)
banger_pid=""
dnsmasq_pid=""
cleanup() {
  # Only the two servers this script started, by pid.
  for pid in $banger_pid $dnsmasq_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

"$bench" serve "$records" "$work/hosts" "$work/queries" "$work/banger.port" \
  2>"$work/banger.log" &
banger_pid=$!
for _ in $(seq 100); do
  [ -s "$work/banger.port" ] && break
  sleep 0.05
done
banger_port=$(cat "$work/banger.port")

dnsmasq_port=$("$bench" free-port)
# Same records, answered locally only: no upstream (--no-resolv), no /etc/hosts, `.vm` is
# local (unknown names get NXDOMAIN), TTL 5 s like banger, loopback only.
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$work/hosts" --local=/vm/ --local-ttl=5 \
  --listen-address=127.0.0.1 --bind-interfaces --port="$dnsmasq_port" \
  --pid-file= --user=root --log-facility="$work/dnsmasq.log" &
dnsmasq_pid=$!
for _ in $(seq 100); do
  dig @127.0.0.1 -p "$dnsmasq_port" +norecurse +time=1 +tries=1 vm0.vm >/dev/null 2>&1 && break
  sleep 0.05
done

# Both must give the same answer before they are compared.
last="vm$((records - 1)).vm"
for port in "$banger_port" "$dnsmasq_port"; do
  answer=$(dig @127.0.0.1 -p "$port" +norecurse +short "$last" A)
  if [ "$answer" != "$(awk -v n="$last" '$2 == n {print $1}' "$work/hosts")" ]; then
    echo "run.sh: server on port $port answered '$answer' for $last" >&2
    exit 1
  fi
done

run_dnsperf() {
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$seconds" -c 1 -T 1 -q 100 \
    >"$work/dnsperf.$1" 2>&1
  awk '/Queries per second:/ {printf "%d\n", $4}' "$work/dnsperf.$1"
}
banger_qps=$(run_dnsperf "$banger_port")
dnsmasq_qps=$(run_dnsperf "$dnsmasq_port")
banger_lost=$(awk '/Queries lost:/ {print $3}' "$work/dnsperf.$banger_port")
dnsmasq_lost=$(awk '/Queries lost:/ {print $3}' "$work/dnsperf.$dnsmasq_port")
ratio=$(awk -v a="$banger_qps" -v b="$dnsmasq_qps" 'BEGIN {printf "%.2f", a / b}')
dnsmasq_version=$(dnsmasq --version | awk 'NR == 1 {print $3}')
dnsperf_version=$(awk '/^Version/ {print $2; exit}' "$work/dnsperf.$banger_port")

cat <<MD
## DNS: banger's \`.vm\` server vs dnsmasq

Command: \`bench/dns/run.sh $build $seconds $records\` (needs \`dnsperf\`, \`dnsmasq-base\`, \`dnsutils\`;
build \`dns_bench\` first).

Both servers hold the same $records A records (\`vm0.vm\` ... \`vm$((records - 1)).vm\`) on loopback,
answer them authoritatively without an upstream, and get the same dnsperf load
(\`-c 1 -T 1 -q 100 -l $seconds\`, every name once in turn), one run each:

| server | queries/s | lost |
|---|---|---|
| banger \`dns::DnsServer\` (authoritative) | $banger_qps | $banger_lost |
| dnsmasq $dnsmasq_version (\`--addn-hosts --local=/vm/\`) | $dnsmasq_qps | $dnsmasq_lost |

banger / dnsmasq: **${ratio}x** ($(date -u +%Y-%m-%d), dnsperf ${dnsperf_version:-?}).
MD
