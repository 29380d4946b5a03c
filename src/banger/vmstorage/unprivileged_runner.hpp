// Runs the e2fsprogs commands that parse a guest-writable disk without root (security review
// M11): the guest controls every byte of its work disk, and libext2fs is not hardened against
// malicious images, so a parser bug must not run as the daemon's root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "banger/sys/command_runner.hpp"

namespace banger::vmstorage {

// The unprivileged identity an edit runs as (the VM's own VMM id, vmm::vmm_id_for_ip).
struct EditIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
};

// A CommandRunner for commands on one image file that runs each of them as identity: a root
// `sh` only opens image read-write as descriptor 3 (no parsing), then `setpriv --reuid --regid
// --clear-groups --no-new-privs --inh-caps=-all` drops every privilege and execs the command,
// in whose argv every element equal to image is replaced by /dev/fd/3. Reopening /dev/fd/3
// skips the directory walk (the VM directory stays root-only) but still checks the file's own
// permissions, so the image must be accessible to identity for the edit (refresh_work_disk
// chowns it for that time). Everything else about the command (stdin, timeout, env) is kept.
class UnprivilegedImageRunner final : public sys::CommandRunner {
 public:
  UnprivilegedImageRunner(sys::CommandRunner& inner, std::string image, EditIdentity identity)
      : inner_(inner), image_(std::move(image)), identity_(identity) {}

  Expected<sys::CommandResult> run(const sys::Command& command) override;

  // Pure: the argv run() runs for argv.
  static std::vector<std::string> wrap(const std::vector<std::string>& argv,
                                       const std::string& image, EditIdentity identity);

 private:
  sys::CommandRunner& inner_;
  std::string image_;
  EditIdentity identity_;
};

}  // namespace banger::vmstorage
