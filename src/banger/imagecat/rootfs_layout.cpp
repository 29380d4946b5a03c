#include "banger/imagecat/rootfs_layout.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/imagecat/guest_tree.hpp"
#include "banger/sys/fs.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

// Every edit goes through a GuestTree, so no symlink in the tree leads it to the host's files.
// The root itself is a host path banger chose; it is created when missing.
Expected<GuestTree> open_tree(const std::string& root) {
  BANGER_TRY(sys::make_dirs(root, 0755));
  return GuestTree::open(root);
}

Status write_guest_file(const std::string& root, std::string_view guest_path,
                        std::string_view content, mode_t mode) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return tree.write_file(guest_path, content, mode);
}

Status make_guest_dir(const std::string& root, std::string_view guest_path, mode_t mode = 0755) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return tree.make_dirs(guest_path, mode);
}

Status make_guest_symlink(const std::string& root, std::string_view guest_path,
                          std::string_view target) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return tree.symlink(guest_path, target);
}

// Removes a path below root (file, link or tree); missing is fine.
Status remove_guest(const std::string& root, std::string_view guest_path) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return tree.remove(guest_path);
}

bool guest_exists(const std::string& root, std::string_view guest_path) {
  auto tree = GuestTree::open(root);
  return tree && tree->exists(guest_path);
}

// The names in a directory of the tree; not_found when it is missing.
Expected<std::vector<std::string>> list_guest_dir(const std::string& root,
                                                  std::string_view guest_path) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return tree.list(guest_path);
}

// Directory parts of a guest path ("/usr/bin/ls" -> "/usr/bin").
std::string parent_of(std::string_view guest_path) {
  auto slash = guest_path.rfind('/');
  return slash == 0 || slash == std::string_view::npos ? "/"
                                                       : std::string(guest_path.substr(0, slash));
}

constexpr std::string_view kTinyInit = R"BANGER(#!/bin/sh
# banger tiny init (busybox sh, PID 1). Written by `banger image build tiny`.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw / 2>/dev/null
hostname -F /etc/hostname 2>/dev/null
ip link set lo up
# The work disk, when the VM has one (later issues rely on it being /root).
if [ -b /dev/vdb ]; then
  mount -t ext4 /dev/vdb /root || echo "banger-init: mounting /dev/vdb on /root failed"
fi
mkdir -p /root/.ssh
chmod 700 /root/.ssh
# Per-VM configuration written by the daemon onto the work disk (docs/guest-config.md).
for f in hostname hosts resolv.conf; do
  if [ -f "/root/.banger/etc/$f" ]; then
    cp "/root/.banger/etc/$f" "/etc/$f"
  fi
done
hostname -F /etc/hostname 2>/dev/null
if [ -s /etc/banger/authorized_keys ]; then
  cat /etc/banger/authorized_keys >> /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
fi
# One host key per VM, made at first boot (a key baked into the image would be shared). Its
# public half is written (atomically) before the agent starts: the agent hands it to the host,
# which pins it from that authenticated channel (docs/agent.md, health).
key=/etc/dropbear/dropbear_ed25519_host_key
if [ ! -s "$key" ]; then
  mkdir -p /etc/dropbear
  dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1
fi
pub=$(dropbearkey -y -f "$key" 2>/dev/null | grep '^ssh-')
printf '%s\n' "$pub" > "$key.pub.tmp" && mv -f "$key.pub.tmp" "$key.pub"
echo "banger-hostkey: $pub"
# banger's guest integration hook: config and agent start-up injected by later steps.
for hook in /etc/banger/init.d/*; do
  if [ -x "$hook" ]; then
    "$hook" || echo "banger-init: $hook failed ($?)"
  fi
done
dropbear -r "$key" -p 22 -s -E 2>>/var/log/dropbear.log
echo "banger-init: ready"
trap 'echo "banger-init: powering off"; sync; poweroff -f' TERM
trap '' HUP INT
while true; do
  sleep 3600 &
  wait $!
done
)BANGER";

constexpr std::string_view kSshdDropin = R"BANGER(# Written by banger: root logs in with a key only.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys /etc/banger/authorized_keys
# One ed25519 host key per VM (made at first boot; RSA key generation costs seconds of
# emulated CPU), the key banger pins.
HostKey /etc/ssh/ssh_host_ed25519_key
)BANGER";

constexpr std::string_view kSshKeygenUnit = R"BANGER([Unit]
Description=banger: create this VM's ssh host keys
DefaultDependencies=no
After=local-fs.target
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'test -s /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
ExecStart=/bin/sh -c 'echo "banger-hostkey: $(cat /etc/ssh/ssh_host_ed25519_key.pub)" >/dev/console'

[Install]
WantedBy=multi-user.target
)BANGER";

constexpr std::string_view kBangerInitUnit = R"BANGER([Unit]
Description=banger guest integration
ConditionFileIsExecutable=/usr/local/lib/banger/banger-init
After=local-fs.target
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/banger/banger-init

[Install]
WantedBy=multi-user.target
)BANGER";

// /usr/local/lib/banger/banger-init for systemd images: applies the per-VM configuration the
// daemon writes onto the work disk (docs/guest-config.md). Runs after local-fs (so /root is
// mounted) and before ssh.
constexpr std::string_view kDebianBangerInit = R"BANGER(#!/bin/sh
# banger guest integration (systemd images). Written by `banger image build`.
# The work disk, when the VM has one: /dev/vdb at /root (the kernel probed it before init).
if [ -b /dev/vdb ] && ! mountpoint -q /root; then
  mount -t ext4 /dev/vdb /root || echo "banger-init: mounting /dev/vdb on /root failed"
fi
for f in hostname hosts resolv.conf; do
  if [ -f "/root/.banger/etc/$f" ]; then
    cp "/root/.banger/etc/$f" "/etc/$f"
  fi
done
if [ -s /etc/hostname ]; then
  hostname -F /etc/hostname
fi
for hook in /etc/banger/init.d/*; do
  if [ -x "$hook" ]; then
    "$hook" || echo "banger-init: $hook failed ($?)"
  fi
done
exit 0
)BANGER";

// The agent starts as early as the guest allows (readiness waits for it), before sshd, and
// comes back if it dies; it finds its virtio-serial port itself when that appears.
constexpr std::string_view kAgentUnit = R"BANGER([Unit]
Description=banger guest agent
DefaultDependencies=no
After=local-fs.target
Before=ssh.service shutdown.target
Conflicts=shutdown.target

[Service]
ExecStart=/usr/local/bin/banger-agent
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
)BANGER";

// Busybox images: started from /sbin/init's hook loop, respawned if it exits.
constexpr std::string_view kAgentInitHook = R"BANGER(#!/bin/sh
# banger: start the guest agent (written by banger image build); respawn it if it exits.
( while true; do
    /usr/local/bin/banger-agent
    sleep 1
  done ) </dev/null >/dev/console 2>&1 &
)BANGER";

constexpr std::string_view kDebianFstab =
    R"BANGER(# Written by banger. The root filesystem is mounted by the banger initramfs; the
# work disk (/dev/vdb) is mounted at /root by /usr/local/lib/banger/banger-init, which does
# not depend on udev device units (slow to appear under software emulation).
)BANGER";

Status enable_unit(GuestFs& guest, std::string_view unit, std::string_view unit_path,
                   std::string_view target = "multi-user.target") {
  std::string wants = fmt::format("/etc/systemd/system/{}.wants", target);
  BANGER_TRY(guest.make_dirs(wants, 0755));
  std::string link = fmt::format("{}/{}", wants, unit);
  BANGER_TRY(guest.remove(link));
  return guest.symlink(link, unit_path);
}

Status enable_unit(const std::string& root, std::string_view unit, std::string_view unit_path,
                   std::string_view target = "multi-user.target") {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return enable_unit(tree, unit, unit_path, target);
}

}  // namespace

std::string tiny_init_script() { return std::string(kTinyInit); }
std::string sshd_dropin() { return std::string(kSshdDropin); }
std::string ssh_keygen_unit() { return std::string(kSshKeygenUnit); }
std::string banger_init_unit() { return std::string(kBangerInitUnit); }
std::string debian_fstab() { return std::string(kDebianFstab); }
std::string agent_unit() { return std::string(kAgentUnit); }
std::string agent_init_hook() { return std::string(kAgentInitHook); }

std::string locate_agent_binary(const std::string& exe_dir) {
  std::string beside = exe_dir + "/banger-agent";
  std::string libexec = exe_dir + "/../libexec/banger/banger-agent";
  if (sys::path_exists(beside)) {
    return beside;
  }
  return libexec;
}

Status install_agent(GuestFs& guest, model::InitFlavour flavour, const std::string& agent_binary) {
  auto binary = sys::read_file(agent_binary);
  if (!binary) {
    return fail(Errc::not_found,
                fmt::format("banger-agent not found at {} (it is built and installed with "
                            "banger): {}",
                            agent_binary, binary.error().message));
  }
  BANGER_TRY(guest.make_dirs("/usr/local/bin", 0755));
  BANGER_TRY(guest.write_file(kGuestAgentPath, *binary, 0755));
  if (flavour == model::InitFlavour::busybox) {
    BANGER_TRY(guest.make_dirs(kGuestInitDDir, 0755));
    return guest.write_file(std::string(kGuestInitDDir) + "/10-banger-agent", kAgentInitHook, 0755);
  }
  BANGER_TRY(guest.write_file("/etc/systemd/system/banger-agent.service", kAgentUnit, 0644));
  return enable_unit(guest, "banger-agent.service", "/etc/systemd/system/banger-agent.service",
                     "sysinit.target");
}

sys::Command plan_busybox_applets(const std::string& root) {
  sys::Command command;
  command.argv = {root + "/bin/busybox", "--list-full"};
  return command;
}

std::vector<std::string> parse_applet_list(std::string_view list_full_output) {
  std::vector<std::string> out;
  for (const auto& raw : base::split(list_full_output, '\n')) {
    std::string_view line = base::trim(raw);
    if (line.empty() || line[0] == '/' || line.find("..") != std::string_view::npos ||
        line.find_first_of(" \t\\") != std::string_view::npos) {
      continue;
    }
    out.push_back("/" + std::string(line));
  }
  return out;
}

Status install_hook_point(GuestFs& guest, model::InitFlavour flavour) {
  BANGER_TRY(guest.make_dirs(kGuestConfigDir, 0755));
  BANGER_TRY(guest.make_dirs(kGuestLibDir, 0755));
  if (flavour == model::InitFlavour::busybox) {
    BANGER_TRY(guest.make_dirs(kGuestInitDDir, 0755));
  }
  return {};
}

Status install_hook_point(const std::string& root, model::InitFlavour flavour) {
  BANGER_TRY_ASSIGN(auto tree, open_tree(root));
  return install_hook_point(tree, flavour);
}

Status write_tiny_tree(const std::string& root, const std::vector<std::string>& applets) {
  for (std::string_view unused :
       {"/usr/share/doc", "/usr/share/man", "/usr/share/locale", "/usr/share/lintian",
        "/usr/share/info", "/usr/share/zoneinfo", "/usr/lib/x86_64-linux-gnu/gconv"}) {
    BANGER_TRY(remove_guest(root, unused));
  }
  for (std::string_view dir : {"/proc", "/sys", "/dev", "/run", "/mnt", "/bin", "/sbin", "/usr/bin",
                               "/usr/sbin", "/etc/dropbear", "/var/log"}) {
    BANGER_TRY(make_guest_dir(root, dir));
  }
  BANGER_TRY(make_guest_dir(root, "/tmp", 01777));
  BANGER_TRY(make_guest_dir(root, "/root", 0700));
  BANGER_TRY(make_guest_dir(root, "/root/.ssh", 0700));
  for (const auto& applet : applets) {
    if (applet == "/sbin/init" || guest_exists(root, applet)) {
      continue;
    }
    BANGER_TRY(make_guest_dir(root, parent_of(applet)));
    BANGER_TRY(make_guest_symlink(root, applet, "/bin/busybox"));
  }
  BANGER_TRY(write_guest_file(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644));
  // Empty password field: dropbear runs with -s (no password logins), so only keys work.
  BANGER_TRY(write_guest_file(root, "/etc/shadow", "root::19000:0:99999:7:::\n", 0600));
  BANGER_TRY(write_guest_file(root, "/etc/group", "root:x:0:\n", 0644));
  BANGER_TRY(write_guest_file(root, "/etc/shells", "/bin/sh\n", 0644));
  BANGER_TRY(write_guest_file(root, "/etc/hostname", "tiny\n", 0644));
  BANGER_TRY(remove_guest(root, "/sbin/init"));
  BANGER_TRY(write_guest_file(root, "/sbin/init", kTinyInit, 0755));
  return install_hook_point(root, model::InitFlavour::busybox);
}

Status configure_debian_tree(const std::string& root) {
  BANGER_TRY(make_guest_dir(root, "/etc/ssh/sshd_config.d"));
  BANGER_TRY(write_guest_file(root, "/etc/ssh/sshd_config.d/banger.conf", kSshdDropin, 0644));
  // Baked host keys would be shared by every VM of the image: drop them, make them at boot.
  BANGER_TRY_ASSIGN(auto ssh_dir, list_guest_dir(root, "/etc/ssh"));
  for (const auto& name : ssh_dir) {
    if (name.starts_with("ssh_host_")) {
      BANGER_TRY(remove_guest(root, "/etc/ssh/" + name));
    }
  }
  BANGER_TRY(write_guest_file(root, "/etc/systemd/system/banger-ssh-keygen.service", kSshKeygenUnit,
                              0644));
  BANGER_TRY(enable_unit(root, "banger-ssh-keygen.service",
                         "/etc/systemd/system/banger-ssh-keygen.service"));
  if (!guest_exists(root, "/etc/systemd/system/multi-user.target.wants/ssh.service")) {
    BANGER_TRY(enable_unit(root, "ssh.service", "/lib/systemd/system/ssh.service"));
  }
  BANGER_TRY(
      write_guest_file(root, "/etc/systemd/system/banger-init.service", kBangerInitUnit, 0644));
  BANGER_TRY(enable_unit(root, "banger-init.service", "/etc/systemd/system/banger-init.service"));
  BANGER_TRY(make_guest_dir(root, kGuestLibDir));
  BANGER_TRY(write_guest_file(root, kGuestInitHook, kDebianBangerInit, 0755));
  // sshd must not start before banger-init mounted the work disk (authorized_keys) at /root.
  BANGER_TRY(make_guest_dir(root, "/etc/systemd/system/ssh.service.d"));
  BANGER_TRY(write_guest_file(root, "/etc/systemd/system/ssh.service.d/banger.conf",
                              "[Unit]\nWants=banger-init.service\nAfter=banger-init.service\n",
                              0644));
  // Empty machine-id: systemd makes a fresh one per VM at boot.
  BANGER_TRY(write_guest_file(root, "/etc/machine-id", "", 0444));
  BANGER_TRY(remove_guest(root, "/var/lib/dbus/machine-id"));
  BANGER_TRY(write_guest_file(root, "/etc/fstab", kDebianFstab, 0644));
  BANGER_TRY(write_guest_file(root, "/etc/hostname", "debian\n", 0644));
  BANGER_TRY(make_guest_dir(root, "/root/.ssh", 0700));
  for (std::string_view cache : {"/var/cache/apt/archives", "/var/lib/apt/lists"}) {
    auto entries = list_guest_dir(root, cache);  // a missing cache has nothing to drop
    for (const auto& name : entries ? *entries : std::vector<std::string>{}) {
      if (name != "partial" && name != "lock") {
        BANGER_TRY(remove_guest(root, std::string(cache) + "/" + name));
      }
    }
  }
  return install_hook_point(root, model::InitFlavour::systemd);
}

Expected<std::uint64_t> tree_size_bytes(const std::string& root) {
  std::error_code ec;
  std::uint64_t total = 0;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    total += 4096;
    std::error_code stat_ec;
    auto status = it->symlink_status(stat_ec);
    if (!stat_ec && fs::is_regular_file(status)) {
      auto size = it->file_size(stat_ec);
      if (!stat_ec) {
        total += size;
      }
    }
  }
  if (ec) {
    return fail(Errc::io, fmt::format("measuring {}: {}", root, ec.message()));
  }
  return total;
}

}  // namespace banger::imagecat
