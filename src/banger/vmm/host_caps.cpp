#include "banger/vmm/host_caps.hpp"

#include <fmt/format.h>

#include <charconv>

#include "banger/agentclient/dialer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/host_probe.hpp"

namespace banger::vmm {
namespace {

// Reads a decimal number at text[pos...]; advances pos. False when there is none.
bool read_number(std::string_view text, std::size_t& pos, int& out) {
  const char* begin = text.data() + pos;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || ptr == begin) {
    return false;
  }
  pos += static_cast<std::size_t>(ptr - begin);
  return true;
}

}  // namespace

Expected<QemuVersion> parse_qemu_version(std::string_view version_output) {
  std::string_view first = version_output.substr(0, version_output.find('\n'));
  first = base::trim(first);
  constexpr std::string_view kMarker = "version ";
  auto at = first.find(kMarker);
  QemuVersion version;
  version.text = std::string(first);
  std::size_t pos = at == std::string_view::npos ? 0 : at + kMarker.size();
  if (at == std::string_view::npos || !read_number(first, pos, version.major) ||
      pos >= first.size() || first[pos] != '.' || !read_number(first, ++pos, version.minor)) {
    return fail(Errc::invalid_argument,
                fmt::format("cannot read a qemu version from '{}'", first.substr(0, 200)));
  }
  if (pos < first.size() && first[pos] == '.') {
    ++pos;
    if (!read_number(first, pos, version.micro)) {
      version.micro = 0;
    }
  }
  return version;
}

Expected<std::string> find_qemu_binary(const std::string& configured) {
  const std::string& name = configured.empty() ? std::string(kQemuBinaryName) : configured;
  std::string path = sys::find_executable(name);
  if (path.empty()) {
    if (!configured.empty()) {
      return fail(Errc::not_found,
                  fmt::format("qemu binary {} (config qemu_bin) is not an executable", configured));
    }
    return fail(Errc::not_found, fmt::format("{} not found in PATH: install the qemu-system-x86 "
                                             "package or set qemu_bin in the config",
                                             kQemuBinaryName));
  }
  return path;
}

Expected<QemuVersion> qemu_version(sys::CommandRunner& runner, const std::string& binary) {
  BANGER_TRY_ASSIGN(auto out, sys::run_checked(runner, {.argv = {binary, "--version"},
                                                        .timeout = std::chrono::seconds(10)}));
  return parse_qemu_version(out);
}

bool vhost_net_available() { return sys::path_exists(kVhostNetDevice); }

Expected<qemu::QemuHostCaps> probe_qemu_host_caps(const std::string& configured_binary) {
  BANGER_TRY_ASSIGN(auto binary, find_qemu_binary(configured_binary));
  return qemu::QemuHostCaps{.vhost_net = vhost_net_available(),
                            .vhost_vsock = agentclient::vhost_vsock_available(),
                            .host_khz = sys::host_cpu_khz(),
                            .binary = binary};
}

}  // namespace banger::vmm
