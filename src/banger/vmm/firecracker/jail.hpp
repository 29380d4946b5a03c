// Firecracker under its jailer (SPEC S15, issue 13, docs/decisions/0016-jailer.md). The jailer
// (Firecracker's own `jailer` binary) builds <chroot_base>/<exec file name>/<vm id>/root, copies
// the Firecracker binary in, makes /dev/kvm, /dev/net/tun (and /dev/urandom, /dev/userfaultfd),
// gives the root to --uid/--gid, pivots into it, drops to that uid/gid and execs Firecracker in
// the same process (no --daemonize, no --new-pid-ns: the pid banger records stays Firecracker's).
// banger's part, here: the VM's files inside the root before the jailer runs (hard links, or
// bind mounts across filesystems), the disks given to the VM's unprivileged id, the paths
// Firecracker is sent as the jail sees them, host-side symlinks at the usual short socket paths,
// and removing the jail once Firecracker is gone.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::vmm::firecracker {

// The names inside the jail (paths as the jailed Firecracker sees them).
inline constexpr std::string_view kJailApiSocket = "/api.sock";
inline constexpr std::string_view kJailVsockSocket = "/v.sock";
inline constexpr std::string_view kJailKernel = "/vmlinux";
inline constexpr std::string_view kJailInitrd = "/initrd.img";
inline constexpr std::string_view kJailRootDisk = "/rootfs.img";
inline constexpr std::string_view kJailWorkDisk = "/work.img";

// Where the jailer builds one VM's chroot.
struct JailLayout {
  std::string dir;   // <chroot_base>/<exec_file_name>/<vm_id>: removed as a whole
  std::string root;  // <dir>/root: the jailed Firecracker's "/"

  bool operator==(const JailLayout&) const = default;
};

// invalid_argument unless id is what the jailer takes as --id: 1 to 64 ASCII letters, digits
// and '-'.
Status check_jail_id(std::string_view id);

// <chroot_base>/<exec_file_name>/<vm_id>[/root]. Pure. check_jail_id's errors; invalid_argument
// for a relative chroot_base or an exec_file_name that is empty or holds a '/'.
Expected<JailLayout> jail_layout(const std::string& chroot_base, const std::string& exec_file_name,
                                 const std::string& vm_id);

// The layout of the jail dir <chroot_base>/<exec_file_name>/<vm_id> (root: <dir>/root). Pure.
JailLayout jail_layout_of(const std::string& dir);

// One file the jailed Firecracker opens: source linked (or bind-mounted) at <root>/<name>.
struct JailFile {
  std::string source;     // absolute host path
  std::string name;       // "vmlinux": a plain name inside the root
  bool vm_owned = false;  // given to the jail's uid:gid (writable disks); others stay as they are
                          // and must be readable by everyone (a shared kernel)

  bool operator==(const JailFile&) const = default;
};

// A host-side symlink: path -> target.
struct JailLink {
  std::string path;
  std::string target;

  bool operator==(const JailLink&) const = default;
};

// Everything staged for one jailed launch.
struct JailPlan {
  JailLayout layout;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<JailFile> files;
  // config.control_socket_path -> <root>/api.sock and config.agent_socket_path ->
  // <root>/v.sock: the jail's paths are too long for sun_path, the symlinks are not.
  std::vector<JailLink> links;
  // config as the jailed Firecracker must be told it: kernel, initrd, disks and the vsock
  // socket at their names inside the jail (the API requests are built from this).
  VmConfig jailed;
};

// The plan for launching config jailed at layout. Pure. failed_precondition when config has no
// run_as (only a root daemon can run the jailer; it needs the VM's unprivileged id);
// invalid_argument for a read-only disk (not shared with the jail: banger never makes one).
Expected<JailPlan> plan_jail(const VmConfig& config, const JailLayout& layout);

// `jailer --id <vm id> --exec-file <firecracker> --uid <uid> --gid <gid> --chroot-base-dir
// <chroot_base> -- --api-sock /api.sock`. Pure.
std::vector<std::string> jailer_argv(const std::string& jailer_binary,
                                     const std::string& firecracker_binary,
                                     const std::string& chroot_base, const JailPlan& plan);

// True when argv is a jailed Firecracker of the VM whose jail is layout: `--id <vm id>` and
// `--api-sock /api.sock` (its command line after the jailer's exec). Pure.
bool jailed_with(const std::vector<std::string>& argv, const JailLayout& layout);

// The file-system side of the jail: the one seam FirecrackerVmm uses for it.
class JailStager {
 public:
  virtual ~JailStager() = default;
  // Removes what an earlier run left at plan.layout (remove()), creates the root (0700), puts
  // each file at <root>/<name> (a hard link; a bind mount when the source is on another
  // filesystem), gives vm_owned sources to plan.uid:gid and makes plan.links (replacing what is
  // at their paths). On failure what it made is removed again. failed_precondition for a shared
  // file others cannot read (the jailed Firecracker could not open it).
  virtual Status stage(const JailPlan& plan) = 0;
  // Unmounts whatever is mounted under layout.dir, then removes it without following links.
  // Ok when it is absent.
  virtual Status remove(const JailLayout& layout) = 0;
  // The vm ids that have a jail under <chroot_base>/<exec_file_name> (empty when it is absent).
  virtual Expected<std::vector<std::string>> list(const std::string& chroot_base,
                                                  const std::string& exec_file_name) = 0;
};

// JailStager on the real file system (link(2), mount(2), lchown(2)); needs root.
class PosixJailStager final : public JailStager {
 public:
  Status stage(const JailPlan& plan) override;
  Status remove(const JailLayout& layout) override;
  Expected<std::vector<std::string>> list(const std::string& chroot_base,
                                          const std::string& exec_file_name) override;
};

}  // namespace banger::vmm::firecracker
