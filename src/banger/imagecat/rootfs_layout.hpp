// What banger writes into a freshly unpacked root filesystem tree before it becomes ext4: the
// tiny image's busybox layout and init, the Debian image's sshd/systemd configuration, and
// the guest integration hook point shared by both.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/imagecat/guest_tree.hpp"
#include "banger/model/image.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::imagecat {

// Guest paths of the integration hook point (docs/images.md).
inline constexpr std::string_view kGuestConfigDir = "/etc/banger";         // config files
inline constexpr std::string_view kGuestInitDDir = "/etc/banger/init.d";   // busybox boot hooks
inline constexpr std::string_view kGuestLibDir = "/usr/local/lib/banger";  // the agent
inline constexpr std::string_view kGuestInitHook = "/usr/local/lib/banger/banger-init";
// The guest agent binary (S8).
inline constexpr std::string_view kGuestAgentPath = "/usr/local/bin/banger-agent";
// Keys accepted for root besides ~/.ssh/authorized_keys (the work disk covers /root).
inline constexpr std::string_view kGuestAuthorizedKeys = "/etc/banger/authorized_keys";

// Pure: the tiny image's /sbin/init (a busybox sh script): mounts proc, sys, dev, devpts, run
// and tmp, brings up lo, mounts /dev/vdb on /root when present, installs
// /etc/banger/authorized_keys for root, runs /etc/banger/init.d/* hooks, creates the dropbear
// host key on first boot (printing its public half as `banger-hostkey: ...` on the console),
// starts dropbear on :22 (key logins only) and powers off on SIGTERM.
std::string tiny_init_script();

// Pure: the busybox command that lists its applets (`<root>/bin/busybox --list-full`).
sys::Command plan_busybox_applets(const std::string& root);

// Pure: the applet paths of `busybox --list-full` output ("bin/ls" lines) as absolute paths
// ("/bin/ls"); lines that are empty, absolute, or contain ".." or whitespace are dropped.
std::vector<std::string> parse_applet_list(std::string_view list_full_output);

// Lays out the tiny image in root, which holds the unpacked busybox-static/dropbear .debs:
// drops docs/man/locales, creates the base directories, a symlink to /bin/busybox for every
// applet that does not exist yet, /etc/{passwd,shadow,group,shells,hostname}, /sbin/init and
// the hook point. io (naming the path) when a file cannot be written.
Status write_tiny_tree(const std::string& root, const std::vector<std::string>& applets);

// Pure: the sshd drop-in for Debian images (root by key only, no passwords).
std::string sshd_dropin();
// Pure: the systemd unit that creates ssh host keys at first boot (before ssh.service).
std::string ssh_keygen_unit();
// Pure: the systemd unit that runs /usr/local/lib/banger/banger-init when present.
std::string banger_init_unit();
// Pure: /etc/fstab of Debian images (the work disk on /root, nofail).
std::string debian_fstab();

// Configures an mmdebstrap tree in root: sshd drop-in, baked host keys removed and
// banger-ssh-keygen.service enabled, empty machine-id, fstab, hostname, apt caches dropped,
// banger-init.service enabled and the hook point. io (naming the path) on failure.
Status configure_debian_tree(const std::string& root);

// Creates the hook point directories (/etc/banger, /usr/local/lib/banger, and for busybox
// init /etc/banger/init.d) in guest, or in the tree at root. io on failure.
Status install_hook_point(GuestFs& guest, model::InitFlavour flavour);
Status install_hook_point(const std::string& root, model::InitFlavour flavour);

// Where the banger-agent binary for images is: beside the running executable (a build tree's
// bin/, or an install's bin/ for a flat install), else <prefix>/libexec/banger/. Returns the
// first that exists, or the libexec path (so errors name where it belongs).
std::string locate_agent_binary(const std::string& exe_dir);

// Pure: the systemd unit of the agent (sysinit.target, before ssh, restarted when it dies).
std::string agent_unit();
// Pure: the busybox init hook that starts the agent in a respawn loop.
std::string agent_init_hook();

// Installs the static banger-agent binary (copied from agent_binary on the host) as
// /usr/local/bin/banger-agent and starts it at boot: an enabled systemd unit, or an
// /etc/banger/init.d hook for busybox init. not_found `banger-agent not found at <path> ...`
// when the binary cannot be read; io (naming the path) when a file cannot be written.
Status install_agent(GuestFs& guest, model::InitFlavour flavour, const std::string& agent_binary);

// Sum of the sizes of regular files under root plus 4 KiB per entry (an estimate of the ext4
// space the tree needs); io when the tree cannot be walked.
Expected<std::uint64_t> tree_size_bytes(const std::string& root);

}  // namespace banger::imagecat
