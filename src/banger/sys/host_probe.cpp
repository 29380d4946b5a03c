#include "banger/sys/host_probe.hpp"

#include <fcntl.h>
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

}  // namespace banger::sys
