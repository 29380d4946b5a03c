// banger's own SSH client key (S9): an ed25519 key at ssh_key_path, generated with the system
// ssh-keygen on first use; its public half goes into the guest's authorized_keys.
#pragma once

#include <string>

#include "banger/base/error.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::guest {

struct KeyPair {
  std::string private_key_path;  // key_path as given
  std::string public_key_path;   // key_path + ".pub"
  std::string public_key;  // one authorized_keys line without newline: "ssh-ed25519 AAAA... banger"
};

// Returns the key at key_path, generating it first when the private key is missing
// (`ssh-keygen -q -t ed25519 -N "" -C banger -f <key_path>`; a missing parent directory is
// created 0700, an existing one keeps its mode; the private key is made 0600). A missing .pub next
// to an existing key is rebuilt with `ssh-keygen -y`. Generation is serialised on <key_path>.lock,
// so concurrent callers get the same key. Errors name key_path: not_found when ssh-keygen is not
// installed (openssh-client), command_failed when it exits non-zero, io for directory/file errors,
// invalid_argument for an empty key_path.
Expected<KeyPair> ensure_key(sys::CommandRunner& runner, const std::string& key_path);

}  // namespace banger::guest
