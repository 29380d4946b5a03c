#!/usr/bin/env bash
# Workspace copy into a running VM: `banger vm workspace prepare <vm> <repo> --force` (files plus
# the git metadata of docs/workspaces.md) against the pipe
#   git ls-files -z | tar --null -T - -c | ssh root@<guest> tar -x -C /root/repo
# (files only, no git metadata) with the real ssh client, banger's key and known_hosts. Same
# invocation, same VM, rounds interleaved, medians. Two repositories from bench/gen_repo.sh: a
# large one (default 20,000 files, ~100 MB, 2,000 commits) and a 10-file one (fixed overhead).
# Everything networked runs in a throwaway network namespace; the trap deletes the VM, stops
# the daemon, deletes the namespace and the temporary BANGER_HOME.
#
# Usage (root, from the project root, after building):
#   bench/workspace.sh [BUILD_DIR=build] [LARGE_ROUNDS=3] [SMALL_ROUNDS=5] [FILES=20000] [MB=100] [COMMITS=2000]
# A repository with 0 rounds is skipped (`bench/workspace.sh build 0 5`: the small one only).
# BUILD_DIR is relative to the project root (../../main/build measures another checkout's build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; large_rounds=${2:-3}; small_rounds=${3:-5}
files=${4:-20000}; mb=${5:-100}; commits=${6:-2000}
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
work=$(mktemp -d /var/tmp/banger-ws.XXXXXX)
export BANGER_HOME=$work/home
# A daemon that ended up in the main network namespace (say, one still running from the
# artifact builds) refuses to make links there instead of leaving TAPs behind.
export BANGER_REQUIRE_NETNS=1
ns=bgbench-ws-$$
vm=wsbench
netns_made=
cleanup() {
  if [ -n "$netns_made" ]; then
    ip netns exec "$ns" "$banger" vm delete "$vm" >/dev/null 2>&1 || true
    ip netns exec "$ns" "$banger" daemon stop >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
  else
    "$banger" daemon stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home/config"

# Artifacts and repositories, before the namespace (apt needs the network).
"$banger" kernel pull debian-cloud >/dev/null
"$banger" image build tiny --packages git --name tiny-git >/dev/null 2>&1 \
  || "$banger" image show tiny-git >/dev/null
"$banger" daemon stop >/dev/null
t0=$(date +%s)
[ "$large_rounds" -gt 0 ] && "$root/bench/gen_repo.sh" "$work/large" "$files" "$mb" "$commits" >&2
"$root/bench/gen_repo.sh" "$work/small" 9 0.05 1 >&2  # 9 files + 1 history file = 10 files
echo "repositories generated in $(( $(date +%s) - t0 )) s" >&2

ip netns add "$ns"
netns_made=1
ip -n "$ns" link set lo up
ip netns exec "$ns" "$banger" vm create --name "$vm" --image tiny-git --vcpu 1 --memory 512M \
  --disk-size 2G >/dev/null
ip=$(ip netns exec "$ns" "$banger" vm show "$vm" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["guest_ip"])')
# banger's ssh settings, as `banger ssh-config` writes them (key and known_hosts under BANGER_HOME;
# the paths are double-quoted there, and a temporary BANGER_HOME has no quotes or spaces).
ssh_config=$(ip netns exec "$ns" "$banger" ssh-config)
key=$(awk 'tolower($1) == "identityfile" {print $2; exit}' "$ssh_config" | tr -d '"')
known=$(awk 'tolower($1) == "userknownhostsfile" {print $2; exit}' "$ssh_config" | tr -d '"')
[ -r "$key" ] && [ -r "$known" ] || { echo "no key/known_hosts in $ssh_config" >&2; exit 1; }
gssh() {
  ip netns exec "$ns" ssh -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes \
    -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR -- "root@$ip" "$@"
}
gexec() { ip netns exec "$ns" "$banger" vm exec "$vm" -w /root -- "$@"; }
gssh true  # the pinned host key works

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

pipe_round() {  # repo dir -> seconds for the tar | ssh tar pipe into an empty /root/repo
  gexec sh -c 'rm -rf /root/repo /root/.repo.banger-* && mkdir /root/repo' >/dev/null
  local t0; t0=$(now)
  (cd "$1" && git ls-files -z | tar --null -T - -c) | gssh tar -x -C /root/repo
  echo "$(now) - $t0" | bc
}

banger_round() {  # repo dir -> seconds for vm workspace prepare (host-side wall clock)
  gexec sh -c 'rm -rf /root/repo /root/.repo.banger-*' >/dev/null
  local t0; t0=$(now)
  ip netns exec "$ns" "$banger" vm workspace prepare "$vm" "$1" --force >/dev/null
  echo "$(now) - $t0" | bc
}

guest_files() { gexec sh -c 'cd /root/repo && find . -path ./.git -prune -o ! -type d -print | wc -l'; }

printf '| repository | rounds | pipe s (median) | banger s (median) | banger / pipe | banger - pipe s |\n'
printf '|---|---|---|---|---|---|\n'
for which in large small; do
  repo=$work/$which
  rounds=$large_rounds; [ "$which" = small ] && rounds=$small_rounds
  [ "$rounds" -gt 0 ] || continue
  nfiles=$(git -C "$repo" ls-files | wc -l)
  : > "$work/pipe.txt"; : > "$work/banger.txt"
  for _ in $(seq "$rounds"); do
    pipe_round "$repo" >> "$work/pipe.txt"
    [ "$(guest_files)" -eq "$nfiles" ] || { echo "pipe copied $(guest_files) of $nfiles files" >&2; exit 1; }
    banger_round "$repo" >> "$work/banger.txt"
    [ "$(guest_files)" -eq "$nfiles" ] || { echo "banger copied $(guest_files) of $nfiles files" >&2; exit 1; }
  done
  # The copy is a git checkout in the guest that matches the host.
  [ "$(gexec git -C /root/repo rev-parse HEAD)" = "$(git -C "$repo" rev-parse HEAD)" ] \
    || { echo "guest HEAD differs" >&2; exit 1; }
  [ -z "$(gexec git -C /root/repo status --porcelain)" ] || { echo "guest not clean" >&2; exit 1; }
  echo "$which pipe: $(tr '\n' ' ' < "$work/pipe.txt")banger: $(tr '\n' ' ' < "$work/banger.txt")" >&2
  p=$(median < "$work/pipe.txt"); g=$(median < "$work/banger.txt")
  kib=$(du -sk --apparent-size --exclude=.git "$repo" | cut -f1)
  printf '| %s (%d files, %.1f MiB) | %d | %.2f | %.2f | %.2f | %.2f |\n' "$which" "$nfiles" \
    "$(echo "$kib / 1024" | bc -l)" \
    "$rounds" "$p" "$g" "$(echo "$g / $p" | bc -l)" "$(echo "$g - $p" | bc -l)"
done
