// The argv for the system ssh (S9), shared by the daemon (guest stop) and the CLI (`vm ssh`,
// `vm run`). Pure.
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
#include <utility>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::sys {

struct SshCommandSpec {
  std::string ssh_program = "ssh";
  std::string key_path;          // banger's private key (-i)
  std::string known_hosts_path;  // banger's known_hosts (UserKnownHostsFile)
  std::string ip;                // the guest address
  int port = 22;                 // -p is added only when it is not 22
  std::string user = "root";
  bool force_tty = false;            // adds -t (interactive `vm ssh` with a command)
  std::vector<std::string> command;  // after "--"; empty: a login shell
  // true (vm run): each argument arrives in the guest as given (shell-quoted into one string);
  // false (vm ssh): the words are joined like ssh itself does, so `-- 'ls | wc'` works.
  bool preserve_argv = false;
};

// {ssh, -i, <key>, -o, UserKnownHostsFile=<known_hosts>, -o, StrictHostKeyChecking=accept-new,
//  -o, IdentitiesOnly=yes, -o, HashKnownHosts=no, -o, LogLevel=ERROR, -o, ForwardAgent=no,
//  -o, ForwardX11=no, -o, ClearAllForwardings=yes, -o, PermitLocalCommand=no, [-p, <port>],
//  [-t], --, root@<ip>, [cmd...]}.
// The guest is untrusted (security review L3): the forwarding options come before anything the
// user's ~/.ssh/config says (ssh keeps the first value it sees), so a `Host * ForwardAgent yes`
// never hands a guest root the user's agent. "--" ends ssh's options before the destination, so
// nothing after it (user@ip, the command) is ever read as an option (H2).
// Without preserve_argv ssh joins the command words with spaces and the guest's shell parses
// them, as with plain ssh.
// '%' in paths is doubled, because ssh expands %-tokens in -i and UserKnownHostsFile; a
// known_hosts path with spaces, '"' or '\' is double-quoted (ssh would read several files).
// "${" in a path is not escapable in ssh and is left as is (banger's state dir never has it).
std::vector<std::string> ssh_argv(const SshCommandSpec& spec);

// The security options above, as ssh_config keywords and values, in argv order; the ssh-config
// block (guest/ssh_command) writes the same ones.
inline constexpr std::pair<const char*, const char*> kUntrustedGuestOptions[] = {
    {"ForwardAgent", "no"},
    {"ForwardX11", "no"},
    {"ClearAllForwardings", "yes"},
    {"PermitLocalCommand", "no"}};

// Checks the daemon-supplied parts of a spec before they reach ssh (H2): user is a plain login
// name ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 32 bytes, so never an option), ip a dotted IPv4
// address, port 1..65535, key_path and known_hosts_path absolute, without control characters
// and without "${" (ssh expands environment variables there). Errc::invalid_argument naming
// the field and the value.
Status check_ssh_target(const SshCommandSpec& spec);

// A path as a double-quoted ssh_config argument: '%' doubled (ssh expands %-tokens in
// IdentityFile and UserKnownHostsFile), '"' and '\' backslash-escaped.
std::string ssh_config_quote(const std::string& path);

// POSIX shell single-quoting of one argument (plain words are left as they are).
std::string shell_quote(const std::string& arg);

}  // namespace banger::sys
