#include "banger/sys/host_probe.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::sys {
namespace {

int open_errno(const char* path) {
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  ::close(fd);
  return 0;
}

}  // namespace

std::string machine_arch() {
  struct utsname u{};
  if (::uname(&u) != 0) {
    return "unknown";
  }
  return u.machine;
}

KvmFacts probe_kvm() {
  KvmFacts facts;
  facts.device_exists = path_exists("/dev/kvm");
  facts.open_errno = facts.device_exists ? open_errno("/dev/kvm") : ENOENT;
  facts.pvm_loaded = path_exists("/sys/module/kvm_pvm");
  if (auto cpuinfo = read_file("/proc/cpuinfo")) {
    std::istringstream in(*cpuinfo);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) {
        continue;
      }
      for (const auto& flag : base::split(line, ' ')) {
        if (flag == "vmx" || flag == "svm") {
          facts.cpu_has_vmx_or_svm = true;
        }
      }
      break;
    }
  }
  return facts;
}

TunFacts probe_tun() {
  TunFacts facts;
  facts.device_exists = path_exists("/dev/net/tun");
  facts.open_errno = facts.device_exists ? open_errno("/dev/net/tun") : ENOENT;
  return facts;
}

std::int64_t host_cpu_khz() {
  auto cpuinfo = read_file("/proc/cpuinfo");
  if (!cpuinfo) {
    return 0;
  }
  std::istringstream in(*cpuinfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) {
        return 0;
      }
      double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
      return static_cast<std::int64_t>(mhz * 1000.0);
    }
  }
  return 0;
}

bool in_initial_netns() {
  struct stat self{};
  struct stat init{};
  if (::stat("/proc/self/ns/net", &self) != 0) {
    return true;
  }
  if (::stat("/proc/1/ns/net", &init) != 0) {
    // Sandboxes may hide PID 1's namespace: then a namespace with a default route counts as
    // the main one (a namespace made for a test has none).
    auto routes = read_file("/proc/self/net/route");
    if (!routes) {
      return true;
    }
    for (const auto& line : base::split(*routes, '\n')) {
      auto fields = base::split(line, '\t');
      if (fields.size() > 1 && fields[1] == "00000000") {
        return true;
      }
    }
    return false;
  }
  return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

Status check_netns_interlock(std::string_view doing) {
  const char* required = std::getenv("BANGER_REQUIRE_NETNS");
  if (required == nullptr || *required == '\0' || !in_initial_netns()) {
    return {};
  }
  return fail(Errc::failed_precondition,
              std::string(doing) +
                  ": refusing to create host network links in the main network namespace "
                  "(BANGER_REQUIRE_NETNS is set: run inside a namespace made for the test)");
}

}  // namespace banger::sys
