#include "banger/vmm/firecracker/jail.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/sys/fs.hpp"

namespace banger::vmm::firecracker {
namespace {

// The jailer's limit on --id (Firecracker's validate_instance_id).
constexpr std::size_t kMaxJailIdLength = 64;

std::string inside(const JailLayout& layout, std::string_view name) {
  return layout.root + std::string(name);
}

// <root>/<name> for file: a hard link to its source, or, when the source is on another
// filesystem (EXDEV), an empty file with the source bind-mounted over it.
Status place(const JailLayout& layout, const JailFile& file) {
  std::string target = inside(layout, "/" + file.name);
  if (::link(file.source.c_str(), target.c_str()) == 0) {
    return {};
  }
  int err = errno;
  if (err != EXDEV) {
    return fail_errno(fmt::format("linking {} into the jail as {}", file.source, target), err);
  }
  base::UniqueFd placeholder(
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!placeholder) {
    return fail_errno(fmt::format("creating {} for a bind mount", target), errno);
  }
  if (::mount(file.source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return fail_errno(fmt::format("bind-mounting {} on {} (it is on another filesystem than the "
                                  "jail)",
                                  file.source, target),
                      errno);
  }
  return {};
}

Status check_shared_file(const JailPlan& plan, const JailFile& file) {
  struct stat st{};
  if (::stat(file.source.c_str(), &st) != 0) {
    return fail_errno(fmt::format("jail: {}", file.source), errno);
  }
  if ((st.st_mode & S_IROTH) == 0) {
    return fail(Errc::failed_precondition,
                fmt::format("jail: {} is not readable by others (mode {:04o}), so firecracker "
                            "cannot open it as uid {}: chmod o+r it",
                            file.source, st.st_mode & 07777, plan.uid));
  }
  return {};
}

Status make_link(const JailLink& link) {
  if (::unlink(link.path.c_str()) != 0 && errno != ENOENT) {
    return fail_errno("removing " + link.path, errno);
  }
  if (::symlink(link.target.c_str(), link.path.c_str()) != 0) {
    return fail_errno(fmt::format("linking {} to {}", link.path, link.target), errno);
  }
  return {};
}

}  // namespace

Status check_jail_id(std::string_view id) {
  bool plain =
      !id.empty() && id.size() <= kMaxJailIdLength && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-';
      });
  if (!plain) {
    return fail(Errc::invalid_argument,
                fmt::format("jailer: vm id \"{}\" is not 1 to {} letters, digits and '-'", id,
                            kMaxJailIdLength));
  }
  return {};
}

Expected<JailLayout> jail_layout(const std::string& chroot_base, const std::string& exec_file_name,
                                 const std::string& vm_id) {
  BANGER_TRY(sys::require_absolute("jailer chroot base", chroot_base));
  if (exec_file_name.empty() || exec_file_name.find('/') != std::string::npos ||
      exec_file_name == "." || exec_file_name == "..") {
    return fail(Errc::invalid_argument,
                fmt::format("jailer: \"{}\" is not a file name", exec_file_name));
  }
  BANGER_TRY(check_jail_id(vm_id));
  return jail_layout_of(fmt::format("{}/{}/{}", chroot_base, exec_file_name, vm_id));
}

JailLayout jail_layout_of(const std::string& dir) {
  return JailLayout{.dir = dir, .root = dir + "/root"};
}

Expected<JailPlan> plan_jail(const VmConfig& config, const JailLayout& layout) {
  if (!config.run_as) {
    return fail(Errc::failed_precondition,
                fmt::format("vm {}: the jailer needs a root daemon (it chroots firecracker and "
                            "drops it to the vm's unprivileged id)",
                            config.name));
  }
  JailPlan plan{.layout = layout,
                .uid = config.run_as->first,
                .gid = config.run_as->second,
                .files = {},
                .links = {},
                .jailed = config};
  auto add = [&](const std::string& source, std::string_view name, bool vm_owned) {
    plan.files.push_back(
        {.source = source, .name = std::string(name.substr(1)), .vm_owned = vm_owned});
    return std::string(name);
  };
  auto add_disk = [&](const DiskConfig& disk, std::string_view name) -> Expected<std::string> {
    if (disk.read_only) {
      return fail(Errc::invalid_argument,
                  fmt::format("vm {}: a read-only disk ({}) cannot be shared with a jail",
                              config.name, disk.path));
    }
    return add(disk.path, name, true);
  };
  plan.jailed.kernel_path = add(config.kernel_path, kJailKernel, false);
  if (config.initrd_path) {
    plan.jailed.initrd_path = add(*config.initrd_path, kJailInitrd, false);
  }
  BANGER_TRY_ASSIGN(plan.jailed.root_disk.path, add_disk(config.root_disk, kJailRootDisk));
  if (config.work_disk) {
    BANGER_TRY_ASSIGN(plan.jailed.work_disk->path, add_disk(*config.work_disk, kJailWorkDisk));
  }
  plan.jailed.agent_socket_path = std::string(kJailVsockSocket);
  plan.jailed.control_socket_path = std::string(kJailApiSocket);
  plan.links = {{.path = config.control_socket_path, .target = inside(layout, kJailApiSocket)},
                {.path = config.agent_socket_path, .target = inside(layout, kJailVsockSocket)}};
  return plan;
}

std::vector<std::string> jailer_argv(const std::string& jailer_binary,
                                     const std::string& firecracker_binary,
                                     const std::string& chroot_base, const JailPlan& plan) {
  return {jailer_binary,
          "--id",
          plan.jailed.vm_id,
          "--exec-file",
          firecracker_binary,
          "--uid",
          std::to_string(plan.uid),
          "--gid",
          std::to_string(plan.gid),
          "--chroot-base-dir",
          chroot_base,
          "--",
          "--api-sock",
          std::string(kJailApiSocket)};
}

bool jailed_with(const std::vector<std::string>& argv, const JailLayout& layout) {
  auto slash = layout.dir.rfind('/');
  std::string vm_id = slash == std::string::npos ? layout.dir : layout.dir.substr(slash + 1);
  bool id = false;
  bool socket = false;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    id = id || (argv[i] == "--id" && argv[i + 1] == vm_id);
    socket = socket || (argv[i] == "--api-sock" && argv[i + 1] == kJailApiSocket);
  }
  return id && socket;
}

Status PosixJailStager::stage(const JailPlan& plan) {
  for (const auto& file : plan.files) {
    if (!file.vm_owned) {
      BANGER_TRY(check_shared_file(plan, file));
    }
  }
  BANGER_TRY(remove(plan.layout));
  BANGER_TRY(sys::make_dirs(plan.layout.dir, 0700));
  if (::mkdir(plan.layout.root.c_str(), 0700) != 0) {
    return fail_errno("creating the jail " + plan.layout.root, errno);
  }
  base::Defer undo([&] { (void)remove(plan.layout); });
  for (const auto& file : plan.files) {
    BANGER_TRY(place(plan.layout, file));
    if (file.vm_owned && ::lchown(file.source.c_str(), plan.uid, plan.gid) != 0) {
      return fail_errno(fmt::format("giving {} to uid {}", file.source, plan.uid), errno);
    }
  }
  for (const auto& link : plan.links) {
    BANGER_TRY(make_link(link));
  }
  undo.dismiss();
  return {};
}

Status PosixJailStager::remove(const JailLayout& layout) {
  BANGER_TRY_ASSIGN(auto mountinfo, sys::read_file("/proc/self/mountinfo"));
  auto under = sys::mounts_below(mountinfo, layout.dir);
  // Deepest first, so a mount on top of another comes off first.
  std::sort(under.begin(), under.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& point : under) {
    if (::umount2(point.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
        errno != ENOENT) {
      return fail_errno("unmounting " + point + " in the jail", errno);
    }
  }
  return sys::remove_all(layout.dir);  // never follows a link out of the jail
}

Expected<std::vector<std::string>> PosixJailStager::list(const std::string& chroot_base,
                                                         const std::string& exec_file_name) {
  std::string dir = chroot_base + "/" + exec_file_name;
  std::vector<std::string> ids;
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) {
    if (errno == ENOENT) {
      return ids;
    }
    return fail_errno("listing jails in " + dir, errno);
  }
  base::Defer close([&] { ::closedir(stream); });
  while (const dirent* entry = ::readdir(stream)) {
    std::string name = entry->d_name;
    if (name != "." && name != ".." && check_jail_id(name)) {
      ids.push_back(std::move(name));
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace banger::vmm::firecracker
