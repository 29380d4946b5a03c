#include "banger/agentd/agent_main.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

#include "banger/agentd/agent.hpp"
#include "banger/agentd/health.hpp"
#include "banger/agentd/log.hpp"
#include "banger/agentd/stream_session.hpp"
#include "banger/agentd/transports.hpp"
#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/stream.hpp"

namespace banger::agentd {
namespace {

constexpr std::string_view kUsage =
    "usage: banger-agent [--listen-unix PATH] [--listen-stream-unix PATH] [--token-file PATH]\n"
    "       | --version\n"
    "  (no arguments)      guest mode: serve the virtio-serial ports org.banger.agent and\n"
    "                      org.banger.stream.0-3, AF_VSOCK ports 1024 and 1025\n"
    "  --listen-unix PATH  test mode: serve the control channel on a unix socket at PATH only\n"
    "  --listen-stream-unix PATH\n"
    "                      test mode: serve stream sessions on a unix socket at PATH\n"
    "  --token-file PATH   the VM's token (default /root/.banger/agent.token); every\n"
    "                      connection must present it, and without it none is served\n"
    "  --version           print the version\n";

// Test mode: never touches the machine; poweroff ends the agent as a powered-off guest would.
class TestModeSystemControl final : public SystemControl {
 public:
  void sync() override {}
  void poweroff() override {
    log_line("test mode: poweroff ends the agent");
    ::_exit(0);
  }
};

// Children and the serve loops assume descriptors 0-2 are taken.
void ensure_std_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      const int null_fd = ::open("/dev/null", O_RDWR);
      if (null_fd >= 0 && null_fd != fd) {
        ::dup2(null_fd, fd);
        ::close(null_fd);
      }
    }
  }
}

int usage_error(std::string_view message) {
  log_line(message);
  std::fputs(kUsage.data(), stderr);
  return 2;
}

// Test mode: the control protocol on a unix socket and/or stream sessions on another; never
// vsock, and poweroff only ends the agent. Returns only on failure.
int run_test_mode(const std::string& listen_unix_path, const std::string& listen_stream_path,
                  const std::string& token_path) {
  static TestModeSystemControl system;
  static Agent agent(AgentDeps{.system = system,
                               .proc_root = "/proc",
                               .version = agent_version(),
                               .token_path = token_path});
  if (!listen_stream_path.empty()) {
    auto stream_fd = listen_unix(listen_stream_path);
    if (!stream_fd) {
      log_line(stream_fd.error().message());
      return 1;
    }
    log_line("serving stream sessions on unix socket " + listen_stream_path);
    const int fd = stream_fd->release();  // served for the agent's lifetime
    std::thread([fd] {
      stream_accept_loop(fd, agent, "unix stream", agentproto::kStreamChannels);
    }).detach();
  }
  if (listen_unix_path.empty()) {
    while (true) {
      ::pause();  // stream sessions only
    }
  }
  const auto fd = listen_unix(listen_unix_path);
  if (!fd) {
    log_line(fd.error().message());
    return 1;
  }
  log_line("version " + agent_version() + " listening on unix socket " + listen_unix_path);
  accept_loop(fd->get(), agent, "unix");
  return 1;
}

// Guest mode: the control protocol on vsock and the virtio-serial port, stream sessions on vsock
// and the stream ports. Serves until the machine goes down.
int run_guest_mode(const std::string& token_path) {
  static LinuxSystemControl system;
  static Agent agent(AgentDeps{.system = system,
                               .proc_root = "/proc",
                               .version = agent_version(),
                               .token_path = token_path});
  log_line("version " + agent_version() + " starting");
  auto vsock = listen_vsock(agentproto::kAgentVsockPort);
  if (!vsock) {
    log_line(vsock.error().message() + "; serving the virtio-serial port only");
  } else {
    const int vsock_fd = vsock->release();  // served for the agent's lifetime
    log_line("listening on vsock port " + std::to_string(agentproto::kAgentVsockPort));
    std::thread([vsock_fd] { accept_loop(vsock_fd, agent, "vsock"); }).detach();
  }
  auto stream_vsock = listen_vsock(agentproto::kStreamVsockPort);
  if (!stream_vsock) {
    log_line(stream_vsock.error().message() + "; stream sessions on the serial ports only");
  } else {
    const int fd = stream_vsock->release();
    log_line("listening for stream sessions on vsock port " +
             std::to_string(agentproto::kStreamVsockPort));
    std::thread([fd] {
      stream_accept_loop(fd, agent, "vsock stream", agentproto::kStreamChannels);
    }).detach();
  }
  for (std::size_t index = 0; index < agentproto::kStreamChannels; ++index) {
    std::thread([index] { run_stream_serial(agent, "/sys", index); }).detach();
  }
  run_serial(agent, "/sys");
  return 0;
}

int run(int argc, char** argv) {
  ensure_std_fds();
  ::signal(SIGPIPE, SIG_IGN);
  std::string listen_unix_path;
  std::string listen_stream_path;
  std::string token_path(agentproto::kGuestAgentTokenPath);
  bool test_mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("banger-agent %s\n", agent_version().c_str());
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (arg == "--listen-unix") {
      if (i + 1 >= argc) {
        return usage_error("--listen-unix needs a socket path");
      }
      listen_unix_path = argv[++i];
      test_mode = true;
      continue;
    }
    if (arg == "--listen-stream-unix") {
      if (i + 1 >= argc) {
        return usage_error("--listen-stream-unix needs a socket path");
      }
      listen_stream_path = argv[++i];
      test_mode = true;
      continue;
    }
    if (arg == "--token-file") {
      if (i + 1 >= argc) {
        return usage_error("--token-file needs a file path");
      }
      token_path = argv[++i];
      continue;
    }
    if (arg.rfind("--listen-unix=", 0) == 0) {
      listen_unix_path = std::string(arg.substr(std::string_view("--listen-unix=").size()));
      test_mode = true;
      continue;
    }
    return usage_error("unknown argument \"" + std::string(arg) + "\"");
  }

  if (test_mode) {
    return run_test_mode(listen_unix_path, listen_stream_path, token_path);
  }
  return run_guest_mode(token_path);
}

}  // namespace

int agent_main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // last resort (STYLE §2.4): report, never abort
    log_line(std::string("internal error: ") + e.what());
    return 1;
  }
}

}  // namespace banger::agentd
