#include "banger/agentd/transports.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "banger/agentd/log.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentd/server.hpp"
#include "banger/agentproto/constants.hpp"

namespace banger::agentd {

std::optional<std::string> find_virtio_port(const std::string& sys_root, std::string_view name) {
  const std::string dir = sys_root + "/class/virtio-ports";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return std::nullopt;
  }
  std::optional<std::string> found;
  while (const dirent* entry = ::readdir(d)) {
    const std::string dev = entry->d_name;
    if (dev == "." || dev == "..") {
      continue;
    }
    const auto text = read_text_file(dir + "/" + dev + "/name");
    if (text && trim_copy(*text) == name) {
      found = "/dev/" + dev;
      break;
    }
  }
  ::closedir(d);
  return found;
}

posix::Result<posix::Fd> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return posix::sys_fail(ENAMETOOLONG, "unix socket path must be 1 to " +
                                             std::to_string(sizeof addr.sun_path - 1) +
                                             " bytes: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  posix::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return posix::sys_fail(errno, "socket(AF_UNIX)");
  }
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return posix::sys_fail(errno, "listening on " + path);
  }
  return fd;
}

posix::Result<posix::Fd> listen_vsock(unsigned port) {
  posix::Fd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return posix::sys_fail(errno, "socket(AF_VSOCK)");
  }
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return posix::sys_fail(errno, "listening on vsock port " + std::to_string(port));
  }
  return fd;
}

int accept_next(int listen_fd, const std::string& label) {
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      return fd;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO) {
      continue;
    }
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      log_line(label + ": accept: " + errno_text(err) + "; retrying");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    log_line(label + ": accept failed: " + errno_text(err));
    return -1;
  }
}

void accept_loop(int listen_fd, Agent& agent, const std::string& label) {
  std::atomic<unsigned long> next_id{1};
  while (true) {
    const int fd = accept_next(listen_fd, label);
    if (fd < 0) {
      return;
    }
    const unsigned long id = next_id++;
    std::thread([fd, id, label, &agent] {
      log_line(label + " connection " + std::to_string(id) + " opened");
      const auto answered = serve_stream(fd, agent);
      ::close(fd);
      log_line(label + " connection " + std::to_string(id) + " closed after " +
               std::to_string(answered) + " request(s)");
    }).detach();
  }
}

void run_port(const std::string& sys_root, std::string_view name,
              const std::function<void(int fd)>& serve) {
  bool announced_wait = false;
  while (true) {
    const auto path = find_virtio_port(sys_root, name);
    if (!path) {
      if (!announced_wait) {
        log_line("waiting for virtio-serial port " + std::string(name));
        announced_wait = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    const int fd = ::open(path->c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      log_line("opening " + *path + ": " + errno_text(errno) + "; retrying");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    log_line("serving virtio-serial port " + *path + " (" + std::string(name) + ")");
    announced_wait = false;
    serve(fd);
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void run_serial(Agent& agent, const std::string& sys_root) {
  const std::atomic<bool> never_stop{false};
  run_port(sys_root, agentproto::kAgentPortName,
           [&](int fd) { serve_port(fd, fd, agent, never_stop); });
}

}  // namespace banger::agentd
