#include "banger/kernelcat/initramfs_init.hpp"

namespace banger::kernelcat {
namespace {

constexpr std::string_view kInit = R"INIT(#!/bin/busybox sh
# banger initramfs /init: load modules, configure ip=, mount root=, switch_root.
set -f  # word splitting of the command line must never glob

say() { echo "initramfs: $*"; }

rescue() {
  say "$*"
  say "dropping to a shell (exit it to retry the boot)"
  sh
  say "retrying boot"
  boot
}

# mask_to_prefix 255.255.255.0 -> 24; a plain number is passed through.
mask_to_prefix() {
  case "$1" in
    *.*.*.*) ;;
    *) echo "$1"; return 0 ;;
  esac
  bits=0; tail=0
  old_ifs=$IFS; IFS=.
  set -- $1
  IFS=$old_ifs
  for octet in "$@"; do
    if [ "$tail" = 1 ] && [ "$octet" != 0 ]; then
      return 1  # not contiguous
    fi
    [ "$octet" = 255 ] || tail=1
    case "$octet" in
      255) bits=$((bits + 8)) ;;
      254) bits=$((bits + 7)) ;;
      252) bits=$((bits + 6)) ;;
      248) bits=$((bits + 5)) ;;
      240) bits=$((bits + 4)) ;;
      224) bits=$((bits + 3)) ;;
      192) bits=$((bits + 2)) ;;
      128) bits=$((bits + 1)) ;;
      0) ;;
      *) return 1 ;;
    esac
  done
  echo "$bits"
}

# parse_cmdline "<kernel command line>": sets root rootfstype rootflags init ipcfg.
parse_cmdline() {
  root=/dev/vda; rootfstype=ext4; rootflags=rw; init=/sbin/init; ipcfg=
  for arg in $1; do
    case "$arg" in
      root=*) root=${arg#root=} ;;
      rootfstype=*) rootfstype=${arg#rootfstype=} ;;
      init=*) init=${arg#init=} ;;
      ip=*) ipcfg=${arg#ip=} ;;
      ro) rootflags=ro ;;
      rw) rootflags=rw ;;
    esac
  done
}

# apply_ip "<client>:<server>:<gw>:<netmask>:<host>:<dev>:<autoconf>[:...]"
apply_ip() {
  case "$1" in
    ""|off|none) return 0 ;;
    dhcp|on|any|both|bootp|rarp)
      say "ip=$1 is not supported (static addresses only); network left unconfigured"
      return 0 ;;
  esac
  old_ifs=$IFS; IFS=:
  set -- $1
  IFS=$old_ifs
  cip=$1; gw=$3; mask=${4:-255.255.255.0}; host=$5; dev=${6:-eth0}
  prefix=$(mask_to_prefix "$mask") || { say "bad netmask $mask in ip="; return 1; }
  ip link set lo up
  ip link set "$dev" up || { say "no network device $dev"; return 1; }
  if [ -n "$cip" ]; then
    ip addr add "$cip/$prefix" dev "$dev" || return 1
  fi
  if [ -n "$gw" ]; then
    ip route add default via "$gw" dev "$dev" || return 1
  fi
  if [ -n "$host" ]; then
    hostname "$host"
  fi
  return 0
}

load_modules() {
  [ -f /lib/modules/load.order ] || return 0
  while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$mod" || say "insmod $mod failed (continuing)"
  done < /lib/modules/load.order
}

# install_guest_modules <initramfs tree lib/modules/RELEASE> <root's lib/modules> <rootflags>:
# copies the kernel's guest module tree to <root's lib/modules>/RELEASE when the root has that
# directory (a distribution root with kmod; the tiny image has none), is mounted rw and does
# not hold a tree with the same stamp already. A RELEASE directory without banger's stamp is
# the guest's own (an installed linux-image package) and is left alone. Copied into a
# temporary name and renamed, so an interrupted copy is never mistaken for a complete one.
install_guest_modules() {
  src=$1; dest=$2
  [ -f "$src/banger-guest-modules" ] || return 0
  [ -d "$dest" ] && [ ! -L "$dest" ] || return 0
  [ "$3" = rw ] || return 0
  release=${src##*/}
  if [ -e "$dest/$release" ] || [ -L "$dest/$release" ]; then
    if [ -L "$dest/$release" ] || [ ! -f "$dest/$release/banger-guest-modules" ]; then
      return 0
    fi
    cmp -s "$src/banger-guest-modules" "$dest/$release/banger-guest-modules" && return 0
    rm -rf "$dest/$release" || return 1
  fi
  rm -rf "$dest/.banger-$release"
  if cp -a "$src" "$dest/.banger-$release" && mv "$dest/.banger-$release" "$dest/$release"; then
    return 0
  fi
  rm -rf "$dest/.banger-$release"
  return 1
}

wait_for_root() {
  i=0
  while [ ! -b "$root" ]; do
    [ $i -ge 100 ] && return 1
    sleep 0.1
    i=$((i + 1))
  done
  return 0
}

boot() {
  wait_for_root || rescue "root device $root did not appear within 10s"
  mkdir -p /newroot
  mount -t "$rootfstype" -o "$rootflags" "$root" /newroot ||
    rescue "cannot mount $root ($rootfstype, $rootflags) on /newroot"
  if [ ! -e "/newroot$init" ] && [ ! -L "/newroot$init" ]; then
    umount /newroot
    rescue "init $init not found on $root"
  fi
  install_guest_modules "/lib/modules/$(uname -r)" /newroot/lib/modules "$rootflags" ||
    say "installing the guest modules into $root failed (continuing without them)"
  mount --move /dev /newroot/dev 2>/dev/null || umount /dev 2>/dev/null
  umount /proc /sys 2>/dev/null
  say "switch_root to $root ($init)"
  exec switch_root /newroot "$init"
}

main() {
  /bin/busybox --install -s /bin
  export PATH=/bin:/sbin:/usr/bin:/usr/sbin
  mkdir -p /proc /sys /dev
  mount -t proc proc /proc
  mount -t sysfs sys /sys
  mount -t devtmpfs dev /dev
  load_modules
  parse_cmdline "$(cat /proc/cmdline)"
  apply_ip "$ipcfg" || say "applying ip=$ipcfg failed (continuing)"
  boot
  rescue "switch_root failed"
}

if [ "${BANGER_INITRAMFS_SOURCE_ONLY:-}" != 1 ]; then
  main
fi
)INIT";

}  // namespace

std::string_view initramfs_init_script() { return kInit; }

}  // namespace banger::kernelcat
