#include "banger/guest/ssh_keys.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/file_lock.hpp"
#include "banger/sys/fs.hpp"

namespace banger::guest {

namespace {

// Runs ssh-keygen; maps "not installed" and non-zero exits to errors naming key_path.
Expected<std::string> run_keygen(sys::CommandRunner& runner, std::vector<std::string> argv,
                                 const std::string& key_path) {
  auto result = runner.run(sys::Command{.argv = std::move(argv)});
  if (!result) {
    if (result.error().code == Errc::not_found) {
      return fail(Errc::not_found,
                  fmt::format("creating ssh key {}: ssh-keygen not found; install openssh-client",
                              key_path));
    }
    return tl::unexpected(with_context(result.error(), "creating ssh key " + key_path));
  }
  if (result->exit_code != 0) {
    return fail(Errc::command_failed,
                fmt::format("creating ssh key {}: ssh-keygen exited {}: {}", key_path,
                            result->exit_code, base::trim(base::tail_lines(result->err, 5))));
  }
  return std::move(result->out);
}

}  // namespace

Expected<KeyPair> ensure_key(sys::CommandRunner& runner, const std::string& key_path) {
  if (key_path.empty()) {
    return fail(Errc::invalid_argument, "ssh key path is empty");
  }
  std::string parent = std::filesystem::path(key_path).parent_path().string();
  if (!parent.empty()) {
    if (auto made = sys::make_dirs(parent, 0700); !made) {
      return tl::unexpected(with_context(made.error(), "creating ssh key " + key_path));
    }
  }
  auto lock = sys::FileLock::acquire(key_path + ".lock");
  if (!lock) {
    return tl::unexpected(with_context(lock.error(), "creating ssh key " + key_path));
  }

  KeyPair pair{
      .private_key_path = key_path, .public_key_path = key_path + ".pub", .public_key = {}};
  if (!sys::path_exists(key_path)) {
    // ssh-keygen refuses to overwrite without asking; a stale .pub alone would make it prompt.
    std::error_code ec;
    std::filesystem::remove(pair.public_key_path, ec);
    BANGER_TRY(run_keygen(
        runner, {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger", "-f", key_path},
        key_path));
    if (!sys::path_exists(key_path)) {
      return fail(Errc::command_failed,
                  fmt::format("creating ssh key {}: ssh-keygen did not create it", key_path));
    }
  }
  if (::chmod(key_path.c_str(), 0600) != 0) {
    return fail_errno("setting mode 0600 on ssh key " + key_path, errno);
  }

  if (!sys::path_exists(pair.public_key_path)) {
    BANGER_TRY_ASSIGN(std::string derived,
                      run_keygen(runner, {"ssh-keygen", "-y", "-f", key_path}, key_path));
    std::string line(base::trim(derived));
    if (auto written = sys::write_file_atomic(pair.public_key_path, line + "\n", 0644); !written) {
      return tl::unexpected(with_context(written.error(), "creating ssh key " + key_path));
    }
  }
  auto text = sys::read_file(pair.public_key_path);
  if (!text) {
    return tl::unexpected(with_context(text.error(), "reading ssh key " + key_path));
  }
  pair.public_key = std::string(base::trim(*text));
  if (pair.public_key.empty() || pair.public_key.find('\n') != std::string::npos) {
    return fail(Errc::io, fmt::format("reading ssh key {}: {} is not a single public key line",
                                      key_path, pair.public_key_path));
  }
  return pair;
}

}  // namespace banger::guest
