#!/usr/bin/env bash
# Boot time against a bare `qemu-system-x86_64 -M microvm` command line booting the same
# kernel, initramfs and image until `ssh true` works (same invocation, rounds interleaved,
# medians). Everything networked runs in a throwaway network namespace. Modes:
#   create      `vm create` (returns when the agent and the guest's sshd answer) vs bare boot
#   run         `vm run --image I -- true` (exits with the guest command's code) vs bare boot
#   run-rm      `vm run --rm --image I -- true` vs bare boot + killing QEMU
#   concurrent  one `vm create` of 10 VMs vs the ideal: 10 bare boots / 2 cores (and vs 10
#               single `vm create`s / 2); every VM must be running afterwards (0 failures);
#               also 10 bare QEMUs started together, timed to the last `ssh true`, and the
#               CPU time a single bare boot's QEMU used (all threads), whose 10 x / 2 cores is
#               the least any 10 such boots can take here
#   waves       diagnostic, bare only: 10 bare QEMUs started together vs the same 10 with at
#               most WAVE_WIDTH (env, default 2) booting at once (the next starts when the
#               oldest answers ssh); the "banger" column holds the waves
#   idle        CPU an idle guest costs: a banger VM and a bare QEMU, both booted and left
#               alone (10 s to settle), then their QEMU processes' CPU time over 30 s, as % of
#               one core (under TCG every guest wakeup is emulated work)
#
# Usage (root, from the project root, after building):
#   bench/boot.sh [BUILD_DIR=build] [ROUNDS=3] [IMAGES="tiny debian-bookworm"] [MODES="create"]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; rounds=${2:-3}; images=${3:-"tiny debian-bookworm"}; modes=${4:-create}
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
work=$(mktemp -d /var/tmp/banger-boot.XXXXXX)
export BANGER_HOME=$work/home
# A daemon that ended up in the main network namespace (say, one still running from the
# artifact builds) refuses to make links there instead of leaving TAPs behind.
export BANGER_REQUIRE_NETNS=1
ns=bgbench-$$
qpid=
qpids=()
cleanup() {
  [ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null || true
  for p in "${qpids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns exec "$ns" "$banger" vm prune -f >/dev/null 2>&1 || true
  ip netns exec "$ns" "$banger" daemon stop >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home/config"
printf '[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = "256M"\n' > "$work/home/config/config.toml"
"$banger" kernel pull debian-cloud >/dev/null
for img in $images; do "$banger" image build "$img" >/dev/null 2>&1 || "$banger" image show "$img" >/dev/null; done
kernel=$("$banger" kernel show debian-cloud --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vmlinux_path"])')
initrd=$("$banger" kernel show debian-cloud --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["initrd_path"])')
"$banger" daemon stop >/dev/null

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add 172.30.0.1/24 dev br0
ip -n "$ns" link set br0 up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" link set tap0 master br0 up
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
mkdir -p "$work/wd/.ssh" && cp "$work/key.pub" "$work/wd/.ssh/authorized_keys"
chmod 700 "$work/wd/.ssh" && chmod 600 "$work/wd/.ssh/authorized_keys"
khz=$(awk -F: '/cpu MHz/{printf "%d", $2*1000; exit}' /proc/cpuinfo)
# Warm up: the daemon, bridge and TAP pool exist before the timed rounds, as in steady use.
ip netns exec "$ns" "$banger" vm create --image tiny --name warmup >/dev/null
ip netns exec "$ns" "$banger" vm delete warmup >/dev/null

now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bare_disks() {  # index rootfs -> a fresh $work/root<index>.qcow2 overlay and work<index>.ext4
  rm -f "$work/root$1.qcow2" "$work/work$1.ext4"
  qemu-img create -q -f qcow2 -b "$2" -F raw "$work/root$1.qcow2" >/dev/null 2>&1
  mkfs.ext4 -q -F -d "$work/wd" -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 \
    "$work/work$1.ext4" 256M >/dev/null 2>&1
}

bare_qemu() {  # index tap ip -> starts QEMU on bare_disks' disks in the background ($!)
  ip netns exec "$ns" qemu-system-x86_64 -M microvm -accel tcg,tb-size=32 -cpu max -m 256 -smp 1 \
    -nodefaults -no-user-config -nographic -no-reboot -serial "file:$work/console$1.log" \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 ip=$3::172.30.0.1:255.255.255.0:bare:eth0:off tsc_early_khz=$khz tsc=reliable" \
    -drive id=root,file="$work/root$1.qcow2",format=qcow2,if=none,cache=writeback -device virtio-blk-device,drive=root \
    -drive id=work,file="$work/work$1.ext4",format=raw,if=none,cache=writeback -device virtio-blk-device,drive=work \
    -netdev tap,id=n0,ifname="$2",script=no,downscript=no,vhost=off \
    -device virtio-net-device,netdev=n0,mac="$(printf '02:fc:ac:1e:01:%02x' "$1")" >/dev/null 2>&1 &
}

bare_wait_ssh() {  # index ip pid -> returns once `ssh root@ip true` works; exits if QEMU died
  until ip netns exec "$ns" ssh -i "$work/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes "root@$2" true 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { echo "bare qemu $1 died" >&2; tail "$work/console$1.log" >&2; exit 1; }
    sleep 0.1
  done
}

bare_round() {  # rootfs [kill] -> seconds from qemu start to ssh true [and QEMU gone]
  bare_disks 0 "$1"
  local t0; t0=$(now)
  bare_qemu 0 tap0 172.30.0.2
  qpid=$!
  bare_wait_ssh 0 172.30.0.2 "$qpid"
  # The CPU QEMU used for the boot (all its threads), for the concurrent mode's CPU bound.
  echo "$(cpu_ticks "$qpid") / $(getconf CLK_TCK)" | bc -l >> "$work/barecpu.txt"
  [ "${2:-}" = kill ] || echo "$(now) - $t0" | bc
  kill -9 "$qpid"; wait "$qpid" 2>/dev/null || true; qpid=
  [ "${2:-}" != kill ] || echo "$(now) - $t0" | bc
}

bare_waves_round() {  # rootfs width -> seconds for 10 bare boots, at most width booting at once
  local i t0
  for i in $(seq 1 10); do
    ip -n "$ns" link show "btap$i" >/dev/null 2>&1 || {
      ip -n "$ns" tuntap add dev "btap$i" mode tap; ip -n "$ns" link set "btap$i" master br0 up; }
    bare_disks "$i" "$1"
  done
  t0=$(now); qpids=()
  for i in $(seq 1 10); do
    if [ "$i" -gt "$2" ]; then  # the oldest boot still going must finish first
      bare_wait_ssh "$((i - $2))" "172.30.0.$((20 + i - $2))" "${qpids[$((i - $2 - 1))]}"
    fi
    bare_qemu "$i" "btap$i" "172.30.0.$((20 + i))"
    qpids+=($!)
  done
  for i in $(seq $((11 - $2)) 10); do
    bare_wait_ssh "$i" "172.30.0.$((20 + i))" "${qpids[$((i - 1))]}"
  done
  echo "$(now) - $t0" | bc
  for p in "${qpids[@]}"; do kill -9 "$p"; wait "$p" 2>/dev/null || true; done
  qpids=()
}

bare_concurrent_round() {  # rootfs -> seconds from starting 10 QEMUs to the last ssh true
  bare_waves_round "$1" 10
}

banger_round() {  # mode image -> seconds for that banger command
  local t0 rc=0; t0=$(now)
  case $1 in
    create) ip netns exec "$ns" "$banger" vm create --image "$2" --name bench >/dev/null 2>&1 || rc=$? ;;
    run) ip netns exec "$ns" "$banger" vm run --image "$2" --name bench -- true >/dev/null 2>&1 || rc=$? ;;
    run-rm) ip netns exec "$ns" "$banger" vm run --rm --image "$2" --name bench -- true >/dev/null 2>&1 || rc=$? ;;
  esac
  echo "$(now) - $t0" | bc
  [ "$rc" = 0 ] || { echo "banger $1 failed ($rc)" >&2; exit 1; }
  if [ "$1" != run-rm ]; then ip netns exec "$ns" "$banger" vm delete bench >/dev/null 2>&1; fi
}

concurrent_round() {  # image -> seconds for one vm create of 10 VMs; fails unless all run
  local t0 names rc=0; names=$(printf 'c%d ' $(seq 0 9)); t0=$(now)
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$banger" vm create --image "$1" $names >/dev/null 2>"$work/concurrent.err" || rc=$?
  echo "$(now) - $t0" | bc
  local running
  running=$(ip netns exec "$ns" "$banger" vm list --json | python3 -c \
    'import json,sys; print(sum(1 for v in json.load(sys.stdin) if v["state"] == "running"))')
  [ "$rc" = 0 ] && [ "$running" = 10 ] || {
    echo "concurrent create: exit $rc, $running/10 running" >&2; cat "$work/concurrent.err" >&2; exit 1; }
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$banger" vm delete $names >/dev/null 2>&1
}

idle_round() {  # image rootfs -> "<bare %> <banger %>" of one core while both guests idle
  ip netns exec "$ns" "$banger" vm create --image "$1" --name idle >/dev/null 2>&1
  bare_disks 0 "$2"
  bare_qemu 0 tap0 172.30.0.2
  qpid=$!
  bare_wait_ssh 0 172.30.0.2 "$qpid"
  local vpid hz=$(getconf CLK_TCK) b0 g0 b1 g1
  vpid=$(ip netns exec "$ns" "$banger" vm show idle --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  sleep 10
  b0=$(cpu_ticks "$qpid"); g0=$(cpu_ticks "$vpid")
  sleep 30
  b1=$(cpu_ticks "$qpid"); g1=$(cpu_ticks "$vpid")
  echo "($b1 - $b0) * 100 / $hz / 30" | bc -l | tr '\n' ' '
  echo "($g1 - $g0) * 100 / $hz / 30" | bc -l
  kill -9 "$qpid"; wait "$qpid" 2>/dev/null || true; qpid=
  ip netns exec "$ns" "$banger" vm delete idle >/dev/null 2>&1
}

ratio() { echo "$1 / $2" | bc -l; }

for mode in $modes; do
  case $mode in
    create) echo "| mode | image | bare qemu s (median of $rounds) | banger vm create s | ratio |" ;;
    run) echo "| mode | image | bare qemu s (median of $rounds) | banger vm run -- true s | ratio |" ;;
    run-rm) echo "| mode | image | bare qemu + kill s (median of $rounds) | banger vm run --rm -- true s | ratio |" ;;
    idle) echo "| mode | image | bare qemu idle, % of a core (median of $rounds) | banger VM idle, % of a core | ratio |" ;;
    waves) echo "| mode | image | 10 bare QEMUs together s (median of $rounds) | 10 bare QEMUs, at most ${WAVE_WIDTH:-2} booting at once s | ratio |" ;;
    concurrent) echo "| mode | image | bare qemu s | 10 x bare / 2 s | vm create s | 10 x create / 2 s | 10 VMs in one vm create s (median of $rounds) | vs bare ideal | vs create ideal | 10 bare QEMUs together s | banger / bare together | bare boot CPU s | CPU bound 10 x CPU / 2 s | bound vs bare ideal |" ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  [ "$mode" = concurrent ] && echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" || echo "|---|---|---|---|---|"
  for img in $images; do
    rootfs=$(ip netns exec "$ns" "$banger" image show "$img" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs_path"])')
    : > "$work/bare.txt"; : > "$work/banger.txt"; : > "$work/single.txt"; : > "$work/together.txt"; s=
    : > "$work/barecpu.txt"
    for _ in $(seq "$rounds"); do
      if [ "$mode" = idle ]; then
        idle_round "$img" "$rootfs" > "$work/idle.txt"
        cut -d' ' -f1 "$work/idle.txt" >> "$work/bare.txt"; cut -d' ' -f2 "$work/idle.txt" >> "$work/banger.txt"
        continue
      fi
      if [ "$mode" = waves ]; then
        bare_concurrent_round "$rootfs" >> "$work/bare.txt"
        bare_waves_round "$rootfs" "${WAVE_WIDTH:-2}" >> "$work/banger.txt"
        continue
      fi
      if [ "$mode" = run-rm ]; then bare_round "$rootfs" kill >> "$work/bare.txt"; else bare_round "$rootfs" >> "$work/bare.txt"; fi
      if [ "$mode" = concurrent ]; then
        banger_round create "$img" >> "$work/single.txt"
        concurrent_round "$img" >> "$work/banger.txt"
        bare_concurrent_round "$rootfs" >> "$work/together.txt"
      else
        banger_round "$mode" "$img" >> "$work/banger.txt"
      fi
    done
    b=$(median < "$work/bare.txt"); g=$(median < "$work/banger.txt")
    if [ "$mode" = concurrent ]; then
      s=$(median < "$work/single.txt"); t=$(median < "$work/together.txt")
      ib=$(echo "10 * $b / 2" | bc -l); is=$(echo "10 * $s / 2" | bc -l)
      c=$(median < "$work/barecpu.txt"); cb=$(echo "10 * $c / 2" | bc -l)
      printf '| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$mode" "$img" "$b" "$ib" "$s" "$is" "$g" \
        "$(ratio "$g" "$ib")" "$(ratio "$g" "$is")" "$t" "$(ratio "$g" "$t")" "$c" "$cb" "$(ratio "$cb" "$ib")"
    else
      printf '| %s | %s | %.2f | %.2f | %.2f |\n' "$mode" "$img" "$b" "$g" "$(ratio "$g" "$b")"
    fi
    echo "raw $mode $img: bare $(tr '\n' ' ' < "$work/bare.txt")/ banger $(tr '\n' ' ' < "$work/banger.txt")${s:+/ single $(tr '\n' ' ' < "$work/single.txt")/ together $(tr '\n' ' ' < "$work/together.txt")}" >&2
  done
done
