// banger's own known_hosts file (paths.known_hosts, S9): host keys pinned on first use (TOFU),
// checked on later boots, removed on `vm delete`. The user's ~/.ssh/known_hosts is never touched.
//
// Format: plain (unhashed) OpenSSH lines "host1,host2 type base64". pin() writes one line per VM
// naming both its IP and "<name>.vm", so `ssh root@<ip>` (banger vm ssh) and `ssh <name>.vm`
// (the ssh-config Host *.vm block) are both checked against the pinned key. Lines banger does not
// understand (comments, hashed or @marker lines) are kept as they are. Every change takes an
// flock on "<path>.lock" and rewrites the file atomically (temp file + rename, mode 0600), so
// concurrent daemons and threads never lose or tear entries.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::guest {

class KnownHosts {
 public:
  explicit KnownHosts(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  // Pins key for every name in host_names (e.g. {"172.16.0.2", "web.vm"}): names that have no
  // key of key_type yet are added on one new line; names that already have this key are left
  // alone. failed_precondition when a name already has a DIFFERENT key of key_type; the message
  // reads "host key for web.vm (172.16.0.2) changed: expected SHA256:<pinned>, got
  // SHA256:<offered>; ..." and says how to forget the stale key. Nothing is written then.
  // invalid_argument for no names, a name with whitespace or ',', a bad key_type or a key that
  // is not base64; io when the file or its lock cannot be read or written.
  Status pin(const std::vector<std::string>& host_names, const std::string& key_type,
             const std::string& key_base64);

  // The first key pinned for host as "type base64" ("ssh-ed25519 AAAA..."), or nullopt when host
  // has none (also when the file does not exist). io when the file cannot be read.
  Expected<std::optional<std::string>> lookup(const std::string& host) const;

  // Removes every entry for the given names (on vm delete: the VM's IP and "<name>.vm"); a line
  // that also names other hosts keeps them. Names that are not present and a missing file are
  // fine. io when the file or its lock cannot be read or written.
  Status remove(const std::vector<std::string>& host_names);

 private:
  std::string path_;
};

}  // namespace banger::guest
