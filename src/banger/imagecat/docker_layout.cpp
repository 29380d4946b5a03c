#include "banger/imagecat/docker_layout.hpp"

#include <fmt/format.h>

#include "banger/base/expected.hpp"
#include "banger/imagecat/guest_tree.hpp"

namespace banger::imagecat {
namespace {

constexpr std::string_view kDockerDropin = R"BANGER(# Written by banger image build.
[Unit]
# The data root (/etc/docker/daemon.json) is on the work disk, which banger-init mounts at /root.
Wants=banger-init.service
After=banger-init.service

[Service]
# dockerd loads overlay and br_netfilter itself only in some code paths; loading them first
# makes the overlay2 storage driver and the bridge network's netfilter hooks dependable. The
# modules come from the banger initramfs (/lib/modules/<release>); '-' tolerates a kernel
# that has them built in or lacks them.
ExecStartPre=-/sbin/modprobe -a overlay br_netfilter
)BANGER";

}  // namespace

std::string docker_daemon_json() {
  return fmt::format("{{\n  \"data-root\": \"{}\"\n}}\n", kDockerDataRoot);
}

std::string docker_service_dropin() { return std::string(kDockerDropin); }

Status prepare_guest_modules_dir(const std::string& root) {
  BANGER_TRY_ASSIGN(auto tree, GuestTree::open(root));
  return tree.make_dirs("/lib/modules", 0755);
}

Status configure_docker(const std::string& root) {
  BANGER_TRY_ASSIGN(auto tree, GuestTree::open(root));
  if (!tree.exists("/usr/sbin/dockerd")) {
    return {};
  }
  BANGER_TRY(tree.write_file("/etc/docker/daemon.json", docker_daemon_json(), 0644));
  BANGER_TRY(tree.write_file("/etc/systemd/system/docker.service.d/banger.conf",
                             docker_service_dropin(), 0644));
  // Socket activation only: starting dockerd and containerd at every boot would cost seconds
  // of CPU under software emulation for VMs that never run a container.
  for (std::string_view unit : {"docker.service", "containerd.service"}) {
    BANGER_TRY(tree.remove(fmt::format("/etc/systemd/system/multi-user.target.wants/{}", unit)));
  }
  constexpr std::string_view kSocketLink = "/etc/systemd/system/sockets.target.wants/docker.socket";
  if (!tree.exists(kSocketLink)) {
    BANGER_TRY(tree.make_dirs("/etc/systemd/system/sockets.target.wants", 0755));
    BANGER_TRY(tree.symlink(kSocketLink, "/lib/systemd/system/docker.socket"));
  }
  return {};
}

}  // namespace banger::imagecat
