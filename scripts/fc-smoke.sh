#!/usr/bin/env bash
# Firecracker smoke test for a host that can run it (KVM that boots stock guests, a firecracker
# binary): the scenarios CI runs against the Firecracker API emulator, against the real thing.
#   scripts/fc-smoke.sh [path/to/firecracker [path/to/jailer]]   (default: firecracker from PATH)
# With a jailer, every VM starts through it (jailer_enabled) and step 2 also checks that the VMM
# runs as the VM's own uid inside its jail, and step 3 that no jail is left after delete.
# Uses a private BANGER_HOME (removed at the end) and a throwaway network namespace, obtains
# the debian-cloud kernel and the tiny image first (the host's apt archive), then:
#   1. vm run --vmm firecracker --rm -- sh -c 'exit 7'      exits 7, leaves no VM
#   2. vm create --vmm firecracker; vm exec (agent over vsock); vm ssh; data on /root
#   3. vm stop (SendCtrlAltDel), vm start: the data is still there; vm delete
# Prints one line per step and "fc-smoke: all passed" or the first failure (exit 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
banger=$root/build/bin/banger
[ -x "$banger" ] || { echo "fc-smoke: build first (cmake --build build)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "fc-smoke: run as root (network namespace, TAP devices)" >&2; exit 1; }
fc=${1:-$(command -v firecracker || true)}
[ -n "$fc" ] && [ -x "$fc" ] || { echo "fc-smoke: no firecracker binary (give its path)" >&2; exit 1; }
fc=$(cd "$(dirname "$fc")" && pwd)/$(basename "$fc")
jailer=${2:-}
if [ -n "$jailer" ]; then
  [ -x "$jailer" ] || { echo "fc-smoke: $jailer is not an executable" >&2; exit 1; }
  jailer=$(cd "$(dirname "$jailer")" && pwd)/$(basename "$jailer")
fi

home=$(mktemp -d /tmp/fc-smoke.XXXXXX)
ns=banger-fc-smoke-$$
export BANGER_HOME=$home
cleanup() {
  ip netns exec "$ns" "$banger" vm delete fcs >/dev/null 2>&1 || true
  ip netns exec "$ns" "$banger" daemon stop >/dev/null 2>&1 || true
  "$banger" daemon stop >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT
mkdir -p "$home/config"
{
  printf 'firecracker_bin = "%s"\n' "$fc"
  [ -z "$jailer" ] || printf 'jailer_enabled = true\njailer_bin = "%s"\n' "$jailer"
  printf '[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = "256M"\n'
} > "$home/config/config.toml"
jails=$home/state/jailer/$(basename "$(readlink -f "$fc")")

step() { printf 'fc-smoke: %s ... ' "$1"; }
ok() { echo ok; }
fail() { echo "FAILED: $*"; exit 1; }
in_ns() { ip netns exec "$ns" "$banger" "$@"; }

step "kernel and tiny image (host apt)"
"$banger" kernel pull debian-cloud >/dev/null 2>&1 || fail "banger kernel pull debian-cloud"
"$banger" image build tiny >/dev/null 2>&1 || fail "banger image build tiny"
"$banger" daemon stop >/dev/null
ok
ip netns add "$ns"
ip -n "$ns" link set lo up

step "vm run --rm exits with the guest's code"
set +e
in_ns vm run --vmm firecracker --image tiny --rm -- sh -c 'exit 7' >/dev/null 2>&1
code=$?
set -e
[ "$code" -eq 7 ] || fail "exit code $code, expected 7"
[ "$(in_ns vm list --json)" = "[]" ] || fail "a VM was left behind"
ok

step "create, exec over vsock, ssh"
in_ns vm create --vmm firecracker --image tiny --name fcs >/dev/null 2>&1 || fail "vm create"
in_ns vm show fcs --json | grep -q '"vmm": "firecracker"' || fail "the VM is not a firecracker VM"
[ "$(in_ns vm exec fcs -- sh -c 'echo kept > /root/note; cat /root/note')" = kept ] ||
  fail "vm exec"
[ "$(in_ns vm ssh fcs -- cat /root/note)" = kept ] || fail "vm ssh"
if [ -n "$jailer" ]; then
  pid=$(in_ns vm show fcs --json | sed -n 's/^ *"pid": \([0-9]*\).*/\1/p')
  id=$(in_ns vm show fcs --json | sed -n 's/^ *"id": "\([^"]*\)".*/\1/p')
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  [ -n "$uid" ] && [ "$uid" -ne 0 ] || fail "the jailed VMM (pid $pid) runs as uid ${uid:-?}"
  [ -d "$jails/$id/root" ] || fail "no jail at $jails/$id/root"
fi
ok

step "stop (SendCtrlAltDel), start, data kept, delete"
in_ns vm stop fcs >/dev/null 2>&1 || fail "vm stop"
in_ns vm show fcs --json | grep -q '"state": "stopped"' || fail "not stopped"
in_ns vm start fcs >/dev/null 2>&1 || fail "vm start"
[ "$(in_ns vm exec fcs -- cat /root/note)" = kept ] || fail "the work disk lost its data"
in_ns vm delete fcs >/dev/null 2>&1 || fail "vm delete"
[ -z "$jailer" ] || [ -z "$(ls -A "$jails" 2>/dev/null)" ] || fail "a jail is left in $jails"
ok
echo "fc-smoke: all passed ($("$fc" --version | head -1)${jailer:+, jailed})"
