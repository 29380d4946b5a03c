#!/usr/bin/env bash
# Installs every Debian package banger needs to build, run and test.
# Uses the host's apt configuration (no mirror is named here).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build pkg-config ccache \
  libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libsqlite3-dev \
  libarchive-dev libssl-dev libcurl4-openssl-dev libnl-3-dev libnl-route-3-dev libspdlog-dev libfmt-dev \
  libexpected-dev libext2fs-dev \
  e2fsprogs nftables iproute2 openssh-client openssh-server git ca-certificates \
  qemu-system-x86 qemu-utils busybox-static dropbear-bin mmdebstrap cpio zstd xz-utils lz4 kmod \
  dnsutils dnsperf dnsmasq-base sqlite3 python3 python3-jsonschema python3-yaml procps \
  iputils-ping zsh fish docker-registry apache2-utils skopeo umoci \
  make gcc flex bison bc libelf-dev \
  libgtest-dev libgmock-dev \
  clang-19 libclang-rt-19-dev clang-tidy-19 clang-format-19 >/dev/null
