// Pure renderer of the `Host *.vm` block `banger ssh-config` points ~/.ssh/config at (S9).
// The argv `banger vm ssh` execs is sys::ssh_argv (sys/ssh_command.hpp).
//
// Host key checking: `vm ssh` connects to root@<ip> with no HostKeyAlias, so ssh checks the key
// pinned under the IP; the ssh-config block is used as `ssh <name>.vm`, which ssh checks under
// "<name>.vm". KnownHosts::pin() writes both names on one line, so either way the key banger
// pinned at boot is the one enforced. StrictHostKeyChecking=accept-new only matters when nothing
// is pinned yet (a VM whose readiness probe did not run); a changed key is still refused.
// HashKnownHosts=no overrides Debian's default so any entry ssh adds stays plain and
// KnownHosts::remove() can find it on vm delete.
#pragma once

#include <string>
#include <vector>

namespace banger::guest {

struct SshConfigSpec {
  std::string key_path;          // banger's private key
  std::string known_hosts_path;  // banger's known_hosts
  std::string host_pattern = "*.vm";
};

// The ssh_config text for paths.ssh_config:
//   # banger: ssh settings for banger VMs; `banger ssh-config --install` includes this file ...
//   Host *.vm
//     User root
//     IdentityFile "<key>"
//     IdentitiesOnly yes
//     UserKnownHostsFile "<known_hosts>"
//     StrictHostKeyChecking accept-new
//     HashKnownHosts no
//     LogLevel ERROR
//     ForwardAgent no
//     ForwardX11 no
//     ClearAllForwardings yes
//     PermitLocalCommand no
// Paths are double-quoted ('"' and '\' backslash-escaped, '%' doubled), so spaces are fine.
std::string render_ssh_config(const SshConfigSpec& spec);

}  // namespace banger::guest
