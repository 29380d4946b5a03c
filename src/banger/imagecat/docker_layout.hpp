// Docker in the Debian image (issue 11): what banger changes in a tree that has docker.io, so
// the daemon costs nothing at boot, keeps its data on the work disk and finds its kernel
// modules (the initramfs installs them, docs/kernels.md "Guest modules"). docs/images.md.
#pragma once

#include <string>

#include "banger/base/error.hpp"

namespace banger::imagecat {

// Where dockerd keeps images, containers and volumes in banger images: on the work disk
// (mounted at /root by banger-init), which `--disk` sizes; the root filesystem only has
// content x 0.5 free.
inline constexpr std::string_view kDockerDataRoot = "/root/.local/share/docker";

// Pure: /etc/docker/daemon.json (the data root above).
std::string docker_daemon_json();
// Pure: /etc/systemd/system/docker.service.d/banger.conf: dockerd starts after banger-init
// (the work disk) and loads the modules it needs first.
std::string docker_service_dropin();

// Creates /lib/modules in the tree (kmod does not ship it): the banger initramfs installs the
// kernel's guest modules (overlay, bridge, netfilter, ...) only into a root that has it
// (docs/kernels.md, "Guest modules"). io when it cannot be created.
Status prepare_guest_modules_dir(const std::string& root);

// Configures Docker in the tree at root when it holds /usr/sbin/dockerd (otherwise does
// nothing): daemon.json, the drop-in, and socket activation only: docker.socket is enabled,
// docker.service and containerd.service are not started at boot (the first `docker` command
// starts them). io (naming the path) when a file cannot be written.
Status configure_docker(const std::string& root);

}  // namespace banger::imagecat
