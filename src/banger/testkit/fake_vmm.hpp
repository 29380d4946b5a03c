// FakeVmm: an in-memory vmm::Vmm that models a VMM's behaviour for service tests. It hands out
// fake pids, keeps each VM "alive" until it is stopped, killed, powered off or told to die,
// appends a boot line to the VM's console log, and can serve a real guest agent (agentd::Agent)
// on the VM's agent socket in-process, so health, ports, sync, poweroff and exec go through the
// real AgentClient. Header-only: a test binary that includes it links banger::vmm and
// banger::agentd (add `TEST_DEPS banger::agentd` to the module's banger_module call).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "banger/agentd/agent.hpp"
#include "banger/agentd/server.hpp"
#include "banger/agentd/stream_session.hpp"
#include "banger/agentd/transports.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/base/expected.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::testkit {

// --- Interface ---

// How a fake guest agent misbehaves once the host has authenticated (security review H3, H4, M1,
// M9): a hostile guest controls everything its agent sends.
enum class AgentHostility {
  none,          // the real agentd serve loop
  junk_stream,   // answers every request with endless small replies of another id (30 s at most)
  many_ports,    // answers ports with 40,000 TCP listeners on 0.0.0.0; other methods: real
  huge_reply,    // answers every request with one 90 MiB deeply nested line, then stays silent
  deep_nesting,  // answers every request with 100,000 levels of nesting
  hanging_exec,  // never answers exec until the host hangs up; other methods: real
};

// Serves a real agentd::Agent on a unix socket in-process, as `banger-agent --listen-unix` does:
// one thread accepts, one thread per connection runs agentd::serve_stream.
class FakeAgentServer {
 public:
  // Listens at path (an existing socket file is replaced). io when the socket cannot be made.
  // hostility, when set, is read for each new connection (see AgentHostility).
  static Expected<std::unique_ptr<FakeAgentServer>> start(
      const std::string& path, agentd::AgentDeps deps,
      const std::atomic<AgentHostility>* hostility = nullptr);
  ~FakeAgentServer();
  FakeAgentServer(const FakeAgentServer&) = delete;
  FakeAgentServer& operator=(const FakeAgentServer&) = delete;

  // Removes the socket file, stops accepting and hangs up every connection (what a VMM exit
  // does to its agent channel). Safe from any thread, including a serving one; idempotent.
  void close();

 private:
  FakeAgentServer(std::string path, int listen_fd, agentd::AgentDeps deps,
                  const std::atomic<AgentHostility>* hostility);
  void accept_loop();
  // One connection of a hostile agent: authentication as the real agent does it, then
  // misbehave() or the real answer for each request.
  void serve_hostile(int fd, AgentHostility how);
  // Sends the hostile answer to request id of method; false when this method is answered as
  // the real agent would.
  bool misbehave(int fd, AgentHostility how, const std::string& method, std::int64_t id);

  std::string path_;
  const std::atomic<AgentHostility>* hostility_;
  int listen_fd_;
  agentd::Agent agent_;
  std::mutex mutex_;
  bool closed_ = false;
  std::vector<int> connections_;
  std::vector<std::thread> servers_;
  std::thread acceptor_;
};

// Serves agentd stream sessions (agentd::serve_stream_session) on a unix socket in-process, as
// `banger-agent --listen-stream-unix` does: one thread accepts, one thread per connection.
class FakeStreamServer {
 public:
  static Expected<std::unique_ptr<FakeStreamServer>> start(const std::string& path,
                                                           agentd::AgentDeps deps);
  ~FakeStreamServer();
  FakeStreamServer(const FakeStreamServer&) = delete;
  FakeStreamServer& operator=(const FakeStreamServer&) = delete;
  // Removes the socket file, stops accepting and ends every session (their commands are
  // killed, as when a VMM exits). Idempotent.
  void close();

 private:
  FakeStreamServer(std::string path, int listen_fd, agentd::AgentDeps deps);
  void accept_loop();

  std::string path_;
  int listen_fd_;
  agentd::Agent agent_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> servers_;
  std::thread acceptor_;
};

struct FakeVmmOptions {
  vmm::Backend backend = vmm::Backend::qemu;
  // Serve a real guest agent on each launched VM's agent socket (VmConfig::agent_socket_path),
  // and its stream sessions on each of VmConfig::stream_socket_paths.
  bool serve_agent = false;
  std::string agent_proc_root = "/proc";  // what the agent's health and ports read
  std::string agent_version = "fake-agent";
  std::vector<std::string> cmdline_args;  // this backend's additions to the kernel command line
  // Whether the agent's health reports the guest's ssh host key (read from these files). Off by
  // default: the agent then plays one from before the report, and readiness uses ssh-keyscan
  // (a FakeCommandRunner answer) as for such images.
  bool agent_reports_ssh_host_key = false;
  std::vector<std::string> agent_ssh_host_key_paths;
};

// How a fake VM's VMM ended (or that it has not).
enum class FakeVmEnd {
  running,         // still alive
  agent_poweroff,  // the guest agent was asked to power off
  acpi_poweroff,   // request_shutdown() / stop() powered the guest off
  killed,          // kill(), or stop() after the guest ignored the power-off
  died,            // die(): the VMM exited on its own
};

class FakeVmm final : public vmm::Vmm {
 public:
  // Fake pids start far above any real pid_max default, so they never name a real process.
  static constexpr pid_t kFirstPid = 6'000'000;

  explicit FakeVmm(FakeVmmOptions options = {}) : options_(std::move(options)) {}
  ~FakeVmm() override;

  // --- Scripting ---
  // The next launch() fails with error (once); nothing is started.
  void fail_next_launch(Error error);
  // The VMM of pid exits on its own (a crash): alive() turns false, its agent goes away.
  void die(pid_t pid);
  // stop() and kill() leave the VMM running and fail with Errc::timeout.
  void set_stop_times_out(bool times_out);
  // The guest ignores power-off requests (agent poweroff, request_shutdown): stop() then kills.
  void set_guest_ignores_poweroff(bool ignores);
  // Whether the fake VMM exits from signal() with this signal. Like QEMU: every signal but
  // SIGUSR1 (its vCPU kick) ends it, until a test says otherwise.
  void set_survives_signal(int signal, bool survives);

  // --- Observation ---
  // Every call in order: "launch <vm name>", "request_shutdown <pid>", "stop <pid>",
  // "kill <pid>", "signal <pid> <signal number>".
  std::vector<std::string> calls() const;
  // The config of every launch that succeeded, in order.
  std::vector<vmm::VmConfig> launches() const;
  // How the VMM of pid ended; running while alive (also for unknown pids: check launches()).
  FakeVmEnd end_of(pid_t pid) const;
  // From now on, new connections to every fake guest agent get this behaviour.
  void set_agent_hostility(AgentHostility how) { hostility_ = how; }
  // Requests the fake guest agents received.
  int agent_syncs() const;
  int agent_poweroffs() const;

  // --- vmm::Vmm ---
  vmm::Backend backend() const override { return options_.backend; }
  // <runtime>/<id>.ctl, <runtime>/<id>.agent, <runtime>/<id>.s0 .. .s3, <vm dir>/console.log.
  vmm::VmmPaths layout(const std::string& vm_id, const std::string& runtime_dir,
                       const std::string& vm_dir) const override;
  std::string kernel_cmdline(const vmm::CmdlineSpec& spec) const override {
    return vmm::kernel_cmdline(spec, options_.cmdline_args);
  }
  Expected<vmm::VmmHandle> launch(const vmm::VmConfig& config) override;
  Status request_shutdown(const vmm::VmmHandle& handle) override;
  Status stop(const vmm::VmmHandle& handle, std::chrono::milliseconds grace) override;
  Status kill(const vmm::VmmHandle& handle) override;
  // Ends the VM (killed) unless it survives the signal (set_survives_signal); SIGKILL always
  // ends it. Fails with timeout like kill() when stops are scripted to time out.
  Expected<bool> signal(const vmm::VmmHandle& handle, int signal) override;
  bool alive(const vmm::VmmHandle& handle) override;
  Expected<vmm::VmmStatus> status(const vmm::VmmHandle& handle) override;
  // True when one argument is exactly paths.control_socket (fake process lists name it so).
  bool launched_with(const std::vector<std::string>& argv,
                     const vmm::VmmPaths& paths) const override {
    return std::find(argv.begin(), argv.end(), paths.control_socket) != argv.end();
  }
  // Records the handle's pid (discarded()); the fake's sockets go with its VM.
  void discard(const vmm::VmmHandle& handle, const vmm::VmmPaths&) override {
    std::lock_guard lock(discard_mutex_);
    discarded_.push_back(handle.pid);
  }
  // Records the ids it was given (leftover_calls()).
  void remove_leftovers(const std::vector<std::string>& running_vm_ids) override {
    std::lock_guard lock(discard_mutex_);
    leftover_calls_.push_back(running_vm_ids);
  }
  // The pids discard() was called for, in order; the running_vm_ids of each remove_leftovers().
  std::vector<pid_t> discarded() const {
    std::lock_guard lock(discard_mutex_);
    return discarded_;
  }
  std::vector<std::vector<std::string>> leftover_calls() const {
    std::lock_guard lock(discard_mutex_);
    return leftover_calls_;
  }
  // The agent socket as a unix stream (QEMU's virtio-serial kind, which is what the fake serves).
  vmm::AgentEndpoint agent_endpoint(const vmm::VmmHandle& handle) override {
    return {.kind = vmm::AgentEndpoint::Kind::virtio_serial_unix,
            .path = handle.agent_socket,
            .cid = 0,
            .port = 0};
  }
  // Each stream socket of the layout (what the fake serves).
  std::vector<vmm::AgentEndpoint> stream_endpoints(const vmm::VmmHandle&,
                                                   const vmm::VmmPaths& paths) override {
    std::vector<vmm::AgentEndpoint> endpoints;
    for (const auto& path : paths.stream_sockets) {
      endpoints.push_back({.kind = vmm::AgentEndpoint::Kind::virtio_serial_unix,
                           .path = path,
                           .cid = 0,
                           .port = 0});
    }
    return endpoints;
  }

 private:
  mutable std::mutex discard_mutex_;
  std::vector<pid_t> discarded_;
  std::vector<std::vector<std::string>> leftover_calls_;

  // The guest side of a fake VM's agent: sync counts, poweroff ends the VM.
  class GuestControl final : public agentd::SystemControl {
   public:
    GuestControl(FakeVmm& vmm, pid_t pid) : vmm_(vmm), pid_(pid) {}
    void sync() override { ++vmm_.agent_syncs_; }
    void poweroff() override { vmm_.guest_poweroff(pid_); }

   private:
    FakeVmm& vmm_;
    pid_t pid_;
  };
  struct FakeVm {
    std::uint64_t start_time = 0;
    FakeVmEnd end = FakeVmEnd::running;
    std::unique_ptr<GuestControl> control;
    std::unique_ptr<FakeAgentServer> agent;
    std::vector<std::unique_ptr<FakeStreamServer>> streams;
  };

  // Ends the VM of pid with how (no-op when it already ended). Called with mutex_ held; the
  // agent server is handed back to be destroyed (joined) after the lock is released.
  std::unique_ptr<FakeAgentServer> end_locked(pid_t pid, FakeVmEnd how);
  bool alive_locked(const vmm::VmmHandle& handle) const;
  // Records "<verb> <pid><suffix>"; false when the VMM is already gone, timeout when stops are
  // scripted to time out, else true (the caller ends the VM).
  Expected<bool> begin_stop_locked(std::string_view verb, const vmm::VmmHandle& handle,
                                   const std::string& suffix = "");
  void guest_poweroff(pid_t pid);
  Status start_agent(const vmm::VmConfig& config, pid_t pid);

  FakeVmmOptions options_;
  mutable std::mutex mutex_;
  std::optional<Error> next_launch_error_;
  bool stop_times_out_ = false;
  bool ignores_poweroff_ = false;
  std::set<int> survived_signals_{SIGUSR1};
  std::vector<std::string> calls_;
  std::vector<vmm::VmConfig> launches_;
  std::map<pid_t, FakeVm> vms_;
  std::atomic<int> agent_syncs_{0};
  std::atomic<int> agent_poweroffs_{0};
  std::atomic<AgentHostility> hostility_{AgentHostility::none};
};

// --- Inline implementations ---

inline Expected<std::unique_ptr<FakeAgentServer>> FakeAgentServer::start(
    const std::string& path, agentd::AgentDeps deps, const std::atomic<AgentHostility>* hostility) {
  auto listener = agentd::listen_unix(path);  // the listener `banger-agent --listen-unix` uses
  if (!listener) {
    return tl::unexpected(from_sys(listener.error(), "fake agent"));
  }
  return std::unique_ptr<FakeAgentServer>(
      new FakeAgentServer(path, listener->release(), std::move(deps), hostility));
}

inline FakeAgentServer::FakeAgentServer(std::string path, int listen_fd, agentd::AgentDeps deps,
                                        const std::atomic<AgentHostility>* hostility)
    : path_(std::move(path)),
      hostility_(hostility),
      listen_fd_(listen_fd),
      agent_(std::move(deps)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

inline FakeAgentServer::~FakeAgentServer() {
  close();
  acceptor_.join();  // no new servers after this
  for (auto& server : servers_) {
    server.join();
  }
  ::close(listen_fd_);
}

inline void FakeAgentServer::close() {
  std::lock_guard lock(mutex_);
  if (closed_) {
    return;
  }
  closed_ = true;
  ::unlink(path_.c_str());
  ::shutdown(listen_fd_, SHUT_RDWR);
  for (int fd : connections_) {
    ::shutdown(fd, SHUT_RDWR);  // serve_stream reads EOF and returns
  }
}

inline void FakeAgentServer::accept_loop() {
  while (true) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 20);  // short, so close() is noticed promptly
    std::lock_guard lock(mutex_);
    if (closed_) {
      return;
    }
    if (ready <= 0) {
      continue;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    connections_.push_back(fd);
    const AgentHostility how = hostility_ != nullptr ? hostility_->load() : AgentHostility::none;
    servers_.emplace_back([this, fd, how] {
      if (how == AgentHostility::none) {
        agentd::serve_stream(fd, agent_);
      } else {
        serve_hostile(fd, how);
      }
      std::lock_guard done(mutex_);
      std::erase(connections_, fd);
      ::close(fd);
    });
  }
}

inline void FakeAgentServer::serve_hostile(int fd, AgentHostility how) {
  agentd::Session session(agent_);
  agentproto::FrameDecoder decoder;
  std::string buffer(64 * 1024, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());  // the socket is blocking
    if (n <= 0) {
      return;  // the host hung up, or close() shut the connection down
    }
    decoder.feed(buffer.data(), static_cast<std::size_t>(n));
    while (auto frame = decoder.next()) {
      if (!session.authenticated()) {
        auto reply = session.handle(*frame);
        if (!agentd::write_all(fd, reply.line) || reply.hang_up) {
          return;
        }
        continue;
      }
      auto parsed = agentproto::parse_request(frame->line);
      auto* request = std::get_if<agentproto::Request>(&parsed);
      if (request != nullptr && misbehave(fd, how, request->method, request->id)) {
        continue;
      }
      auto reply = agent_.handle(*frame);
      (void)agentd::write_all(fd, reply.line);
      if (reply.after) {
        reply.after();
      }
    }
  }
}

inline bool FakeAgentServer::misbehave(int fd, AgentHostility how, const std::string& method,
                                       std::int64_t id) {
  const std::string head = "{\"id\":" + std::to_string(id) + ",\"result\":{\"x\":";
  switch (how) {
    case AgentHostility::none:
      return false;
    case AgentHostility::junk_stream: {
      std::string chunk;
      while (chunk.size() < 64 * 1024) {
        chunk += "{\"id\":1,\"result\":{}}\n";
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < until &&
             agentd::write_all(fd, chunk, std::chrono::seconds(1))) {
      }
      return true;
    }
    case AgentHostility::many_ports: {
      if (method != "ports") {
        return false;
      }
      std::string line = "{\"id\":" + std::to_string(id) + ",\"result\":{\"ports\":[";
      for (int i = 0; i < 40'000; ++i) {
        line += (i == 0 ? "" : ",");
        line += "{\"proto\":\"tcp\",\"family\":\"ipv4\",\"address\":\"0.0.0.0\",\"port\":" +
                std::to_string(1 + i % 65535) + ",\"pid\":0,\"process\":\"\"}";
      }
      (void)agentd::write_all(fd, line + "]}}\n");
      return true;
    }
    case AgentHostility::huge_reply: {
      // Sent in 1 MiB pieces: the fake itself never holds the 90 MiB.
      bool ok = agentd::write_all(fd, head);
      const std::string open(1 << 20, '['), close(1 << 20, ']');
      for (int i = 0; ok && i < 45; ++i) {
        ok = agentd::write_all(fd, open, std::chrono::seconds(2));
      }
      for (int i = 0; ok && i < 45; ++i) {
        ok = agentd::write_all(fd, close, std::chrono::seconds(2));
      }
      (void)(ok && agentd::write_all(fd, "}}\n"));
      return true;
    }
    case AgentHostility::deep_nesting:
      (void)agentd::write_all(
          fd, head + std::string(100'000, '[') + std::string(100'000, ']') + "}}\n");
      return true;
    case AgentHostility::hanging_exec:
      return method == "exec";  // no answer; serve_hostile waits for the host to hang up
  }
  return false;
}

inline Expected<std::unique_ptr<FakeStreamServer>> FakeStreamServer::start(const std::string& path,
                                                                           agentd::AgentDeps deps) {
  auto listener = agentd::listen_unix(path);
  if (!listener) {
    return tl::unexpected(from_sys(listener.error(), "fake agent stream channel"));
  }
  return std::unique_ptr<FakeStreamServer>(
      new FakeStreamServer(path, listener->release(), std::move(deps)));
}

inline FakeStreamServer::FakeStreamServer(std::string path, int listen_fd, agentd::AgentDeps deps)
    : path_(std::move(path)), listen_fd_(listen_fd), agent_(std::move(deps)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

inline FakeStreamServer::~FakeStreamServer() {
  close();
  acceptor_.join();
  for (auto& server : servers_) {
    server.join();
  }
  ::close(listen_fd_);
}

inline void FakeStreamServer::close() {
  std::lock_guard lock(mutex_);
  if (stop_.exchange(true)) {
    return;
  }
  ::unlink(path_.c_str());
  ::shutdown(listen_fd_, SHUT_RDWR);
  for (int fd : connections_) {
    ::shutdown(fd, SHUT_RDWR);  // the session sees the host gone and kills its command
  }
}

inline void FakeStreamServer::accept_loop() {
  while (true) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 20);
    std::lock_guard lock(mutex_);
    if (stop_) {
      return;
    }
    if (ready <= 0) {
      continue;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    connections_.push_back(fd);
    servers_.emplace_back([this, fd] {
      agentd::serve_stream_session({.read_fd = fd, .write_fd = fd, .stop = &stop_}, agent_);
      std::lock_guard done(mutex_);
      std::erase(connections_, fd);
      ::close(fd);
    });
  }
}

inline FakeVmm::~FakeVmm() {
  std::vector<std::unique_ptr<FakeAgentServer>> servers;
  {
    std::lock_guard lock(mutex_);
    for (auto& [pid, vm] : vms_) {
      servers.push_back(std::move(vm.agent));
      for (auto& stream : vm.streams) {
        stream->close();
      }
    }
  }
  servers.clear();  // joins their threads before the GuestControls they call go away
  std::lock_guard lock(mutex_);
  for (auto& [pid, vm] : vms_) {
    vm.streams.clear();
  }
}

inline void FakeVmm::fail_next_launch(Error error) {
  std::lock_guard lock(mutex_);
  next_launch_error_ = std::move(error);
}

inline void FakeVmm::die(pid_t pid) {
  std::unique_ptr<FakeAgentServer> agent;
  {
    std::lock_guard lock(mutex_);
    agent = end_locked(pid, FakeVmEnd::died);
  }
}

inline void FakeVmm::set_stop_times_out(bool times_out) {
  std::lock_guard lock(mutex_);
  stop_times_out_ = times_out;
}

inline void FakeVmm::set_guest_ignores_poweroff(bool ignores) {
  std::lock_guard lock(mutex_);
  ignores_poweroff_ = ignores;
}

inline void FakeVmm::set_survives_signal(int signal, bool survives) {
  std::lock_guard lock(mutex_);
  if (survives) {
    survived_signals_.insert(signal);
  } else {
    survived_signals_.erase(signal);
  }
}

inline std::vector<std::string> FakeVmm::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

inline std::vector<vmm::VmConfig> FakeVmm::launches() const {
  std::lock_guard lock(mutex_);
  return launches_;
}

inline FakeVmEnd FakeVmm::end_of(pid_t pid) const {
  std::lock_guard lock(mutex_);
  auto it = vms_.find(pid);
  return it == vms_.end() ? FakeVmEnd::running : it->second.end;
}

inline int FakeVmm::agent_syncs() const { return agent_syncs_; }
inline int FakeVmm::agent_poweroffs() const { return agent_poweroffs_; }

inline vmm::VmmPaths FakeVmm::layout(const std::string& vm_id, const std::string& runtime_dir,
                                     const std::string& vm_dir) const {
  return {.control_socket = runtime_dir + "/" + vm_id + ".ctl",
          .agent_socket = runtime_dir + "/" + vm_id + ".agent",
          .stream_sockets = vmm::stream_socket_paths(runtime_dir, vm_id),
          .console_log = vm_dir + "/console.log"};
}

inline Expected<vmm::VmmHandle> FakeVmm::launch(const vmm::VmConfig& config) {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  {
    std::lock_guard lock(mutex_);
    calls_.push_back("launch " + config.name);
    if (next_launch_error_) {
      Error error = std::move(*next_launch_error_);
      next_launch_error_.reset();
      return tl::unexpected(std::move(error));
    }
    pid = kFirstPid + static_cast<pid_t>(vms_.size());
    auto& vm = vms_[pid];
    vm.start_time = 1000 + vms_.size();
    start_time = vm.start_time;
    vm.control = std::make_unique<GuestControl>(*this, pid);
    launches_.push_back(config);
  }
  if (config.on_spawned) {
    vmm::VmmHandle spawned{.backend = options_.backend,
                           .pid = pid,
                           .start_time = start_time,
                           .control_socket = config.control_socket_path,
                           .console_log = config.console_log_path,
                           .agent_socket = config.agent_socket_path,
                           .vsock_cid = 0};
    if (auto recorded = config.on_spawned(spawned); !recorded) {
      std::lock_guard lock(mutex_);
      (void)end_locked(pid, FakeVmEnd::killed);
      launches_.pop_back();
      return tl::unexpected(recorded.error());
    }
  }
  if (options_.serve_agent) {
    BANGER_TRY(start_agent(config, pid));
  }
  std::ofstream(config.console_log_path, std::ios::app)
      << "[fake-vmm] " << config.name << " booted (pid " << pid << ")\n";
  std::lock_guard lock(mutex_);
  return vmm::VmmHandle{.backend = options_.backend,
                        .pid = pid,
                        .start_time = vms_[pid].start_time,
                        .control_socket = config.control_socket_path,
                        .console_log = config.console_log_path,
                        .agent_socket = config.agent_socket_path,
                        .vsock_cid = 0};
}

inline Status FakeVmm::start_agent(const vmm::VmConfig& config, pid_t pid) {
  std::lock_guard lock(mutex_);
  auto& vm = vms_[pid];
  // The token the host wrote for this start (a real guest reads its copy on the work disk).
  auto server = FakeAgentServer::start(config.agent_socket_path,
                                       {.system = *vm.control,
                                        .proc_root = options_.agent_proc_root,
                                        .version = options_.agent_version,
                                        .token_path = config.run_dir + "/agent.token",
                                        .ssh_host_key_paths = options_.agent_ssh_host_key_paths,
                                        .report_ssh_host_key = options_.agent_reports_ssh_host_key},
                                       &hostility_);
  if (!server) {
    vm.end = FakeVmEnd::died;
    launches_.pop_back();
    return tl::unexpected(server.error());
  }
  vm.agent = std::move(*server);
  for (const auto& path : config.stream_socket_paths) {
    auto stream = FakeStreamServer::start(path, {.system = *vm.control,
                                                 .proc_root = options_.agent_proc_root,
                                                 .version = options_.agent_version,
                                                 .token_path = config.run_dir + "/agent.token"});
    if (!stream) {
      vm.end = FakeVmEnd::died;
      launches_.pop_back();
      return tl::unexpected(stream.error());
    }
    vm.streams.push_back(std::move(*stream));
  }
  return {};
}

inline Status FakeVmm::request_shutdown(const vmm::VmmHandle& handle) {
  std::unique_ptr<FakeAgentServer> agent;
  std::lock_guard lock(mutex_);
  calls_.push_back("request_shutdown " + std::to_string(handle.pid));
  if (!alive_locked(handle)) {
    return fail(Errc::not_running,
                "fake vmm pid " + std::to_string(handle.pid) + " is not running");
  }
  if (!ignores_poweroff_) {
    agent = end_locked(handle.pid, FakeVmEnd::acpi_poweroff);
  }
  return {};
}

inline Expected<bool> FakeVmm::begin_stop_locked(std::string_view verb,
                                                 const vmm::VmmHandle& handle,
                                                 const std::string& suffix) {
  calls_.push_back(std::string(verb) + " " + std::to_string(handle.pid) + suffix);
  if (!alive_locked(handle)) {
    return false;
  }
  if (stop_times_out_) {
    return fail(Errc::timeout,
                "fake vmm pid " + std::to_string(handle.pid) + " still running after SIGKILL");
  }
  return true;
}

inline Status FakeVmm::stop(const vmm::VmmHandle& handle, std::chrono::milliseconds) {
  std::unique_ptr<FakeAgentServer> agent;
  {
    std::lock_guard lock(mutex_);
    BANGER_TRY_ASSIGN(bool running, begin_stop_locked("stop", handle));
    if (!running) {
      return {};
    }
    agent = std::move(vms_[handle.pid].agent);
  }
  // Closing and joining the agent first lets a power-off the guest agent already acknowledged
  // finish, so the VM's end is that (agent_poweroff), deterministically.
  agent.reset();
  std::lock_guard lock(mutex_);
  (void)end_locked(handle.pid, ignores_poweroff_ ? FakeVmEnd::killed : FakeVmEnd::acpi_poweroff);
  return {};
}

inline Status FakeVmm::kill(const vmm::VmmHandle& handle) {
  std::unique_ptr<FakeAgentServer> agent;  // destroyed (joined) after the lock is released
  std::lock_guard lock(mutex_);
  BANGER_TRY_ASSIGN(bool running, begin_stop_locked("kill", handle));
  if (running) {
    agent = end_locked(handle.pid, FakeVmEnd::killed);
  }
  return {};
}

inline Expected<bool> FakeVmm::signal(const vmm::VmmHandle& handle, int signal) {
  std::unique_ptr<FakeAgentServer> agent;  // destroyed (joined) after the lock is released
  std::lock_guard lock(mutex_);
  BANGER_TRY_ASSIGN(bool running,
                    begin_stop_locked("signal", handle, " " + std::to_string(signal)));
  if (!running) {
    return true;
  }
  if (signal != SIGKILL && survived_signals_.count(signal) > 0) {
    return false;
  }
  agent = end_locked(handle.pid, FakeVmEnd::killed);
  return true;
}

inline bool FakeVmm::alive(const vmm::VmmHandle& handle) {
  std::lock_guard lock(mutex_);
  return alive_locked(handle);
}

inline Expected<vmm::VmmStatus> FakeVmm::status(const vmm::VmmHandle& handle) {
  std::lock_guard lock(mutex_);
  if (!alive_locked(handle)) {
    return vmm::VmmStatus{
        .state = vmm::VmmState::exited, .exit_code = std::nullopt, .detail = "exited"};
  }
  return vmm::VmmStatus{
      .state = vmm::VmmState::running, .exit_code = std::nullopt, .detail = "running"};
}

inline std::unique_ptr<FakeAgentServer> FakeVmm::end_locked(pid_t pid, FakeVmEnd how) {
  auto it = vms_.find(pid);
  if (it == vms_.end() || it->second.end != FakeVmEnd::running) {
    return nullptr;
  }
  it->second.end = how;
  if (it->second.agent) {
    it->second.agent->close();
  }
  for (auto& stream : it->second.streams) {
    stream->close();
  }
  return std::move(it->second.agent);
}

inline bool FakeVmm::alive_locked(const vmm::VmmHandle& handle) const {
  auto it = vms_.find(handle.pid);
  return it != vms_.end() && it->second.start_time == handle.start_time &&
         it->second.end == FakeVmEnd::running;
}

inline void FakeVmm::guest_poweroff(pid_t pid) {
  ++agent_poweroffs_;
  std::lock_guard lock(mutex_);
  if (ignores_poweroff_) {
    return;
  }
  // Runs on one of the agent server's own threads: close it, but leave it (and the join) to
  // the next stop/kill/die or the destructor.
  auto it = vms_.find(pid);
  if (it != vms_.end() && it->second.end == FakeVmEnd::running) {
    it->second.end = FakeVmEnd::agent_poweroff;
    if (it->second.agent) {
      it->second.agent->close();
    }
    for (auto& stream : it->second.streams) {
      stream->close();
    }
  }
}

}  // namespace banger::testkit
