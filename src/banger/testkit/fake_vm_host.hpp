// FakeVmHost (tests only): records what VmService asked of the host (vm::VmHost) and fails on
// request. Header-only: tests that link banger::vm include it.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "banger/agentproto/stream.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/vm/vm_host.hpp"

namespace banger::testkit {

// Records "<step> <vm name>" and fails when the step was scripted to.
#define BANGER_FAKE_STEP(step, vm)                         \
  do {                                                     \
    std::lock_guard lock(mutex_);                          \
    calls_.push_back(std::string(step) + " " + (vm).name); \
    if (fail_step_ == (step)) {                            \
      fail_step_.clear();                                  \
      return tl::unexpected(fail_error_);                  \
    }                                                      \
  } while (false)

class FakeVmHost final : public vm::VmHost {
 public:
  // The step ("prepare", "launch", "wait_ready", ...) that fails next, and how.
  void fail_at(std::string step, Error error) {
    std::lock_guard lock(mutex_);
    fail_step_ = std::move(step);
    fail_error_ = std::move(error);
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  // What starts_ssh() answers for every VM (an agent-only image when false).
  void set_starts_ssh(bool starts) {
    std::lock_guard lock(mutex_);
    starts_ssh_ = starts;
  }
  bool starts_ssh(const model::Vm&) override {
    std::lock_guard lock(mutex_);
    return starts_ssh_;
  }
  // The readiness level of the last wait_ready call (ssh before any).
  vm::Readiness last_readiness() const {
    std::lock_guard lock(mutex_);
    return last_readiness_;
  }
  void set_dead(const std::string& vm_id) {
    std::lock_guard lock(mutex_);
    dead_.insert(vm_id);
  }
  // Makes the VM's VMM exit: alive() turns false and its vmm_exit_fd() becomes readable.
  void vmm_exits(const std::string& vm_id) {
    std::lock_guard lock(mutex_);
    dead_.insert(vm_id);
    exit_writers_.erase(vm_id);  // closing the write end makes the read end readable (EOF)
  }
  // The console tail the next console_tail() returns.
  void set_console_tail(std::string tail) {
    std::lock_guard lock(mutex_);
    console_tail_ = std::move(tail);
  }

  Expected<vm::Prepared> prepare(const model::Vm& vm, const base::ProgressFn&,
                                 const base::CancelFn&) override {
    BANGER_FAKE_STEP("prepare", vm);
    return vm::Prepared{.kernel = "k1",
                        .tap = "tap-fc-0",
                        .guest_ip = "172.16.0.2",
                        .mac = "02:fc:ac:10:00:02",
                        .rootfs_strategy = "qcow2_overlay",
                        .overlay_path = "/v/root.qcow2"};
  }
  // What emulates_cpus() answers for every VM (QEMU under TCG when true).
  void set_emulates_cpus(bool emulates) {
    std::lock_guard lock(mutex_);
    emulates_cpus_ = emulates;
  }
  bool emulates_cpus(const model::Vm&) override {
    std::lock_guard lock(mutex_);
    return emulates_cpus_;
  }
  // How long each wait_ready takes (a boot), and the most VMs seen between launch and the end
  // of wait_ready at once.
  void set_boot_time(std::chrono::milliseconds boot) {
    std::lock_guard lock(mutex_);
    boot_time_ = boot;
  }
  int most_booting() const {
    std::lock_guard lock(mutex_);
    return most_booting_;
  }

  Expected<vm::Launched> launch(const model::Vm& vm, const vm::SpawnedFn& on_spawned) override {
    BANGER_FAKE_STEP("launch", vm);
    {
      std::lock_guard lock(mutex_);
      most_booting_ = std::max(most_booting_, ++booting_);
    }
    vm::Launched launched{.pid = 4242, .start_time = 7};
    if (on_spawned) {
      BANGER_TRY(on_spawned(launched));
    }
    return launched;
  }
  // Fails (fail_at("check_sources", ...)) but is not recorded in calls(): create() asks it
  // for every VM.
  Status check_sources(const model::Vm&) override {
    std::lock_guard lock(mutex_);
    if (fail_step_ == "check_sources") {
      fail_step_.clear();
      return tl::unexpected(fail_error_);
    }
    return {};
  }
  Status wait_ready(const model::Vm& vm, vm::Readiness readiness, const base::CancelFn&) override {
    {
      std::lock_guard lock(mutex_);
      last_readiness_ = readiness;
    }
    std::chrono::milliseconds boot{0};
    {
      std::lock_guard lock(mutex_);
      boot = boot_time_;
    }
    std::this_thread::sleep_for(boot);
    {
      std::lock_guard lock(mutex_);
      --booting_;
    }
    BANGER_FAKE_STEP("wait_ready", vm);
    return {};
  }
  Status shutdown(const model::Vm& vm, std::chrono::seconds) override {
    BANGER_FAKE_STEP("shutdown", vm);
    return {};
  }
  Status kill(const model::Vm& vm) override {
    BANGER_FAKE_STEP("kill", vm);
    return {};
  }
  // Records "signal <vm name> <signal number>"; false (the VMM survived) for the signals of
  // set_survives_signal.
  Expected<bool> signal(const model::Vm& vm, int signal) override {
    BANGER_FAKE_STEP("signal", vm);
    std::lock_guard lock(mutex_);
    calls_.back() += " " + std::to_string(signal);
    return survived_signals_.count(signal) == 0;
  }
  // signal() reports that the VMM survived this signal.
  void set_survives_signal(int signal) {
    std::lock_guard lock(mutex_);
    survived_signals_.insert(signal);
  }
  Status release(const model::Vm& vm) override {
    {
      std::lock_guard lock(mutex_);
      forwards_.erase(vm.id);
    }
    BANGER_FAKE_STEP("release", vm);
    return {};
  }
  // Runs hook (once, without the fake's lock) when destroy() is next called, before it records
  // the call: lets a test act between two steps of a multi-VM operation.
  void on_next_destroy(std::function<void()> hook) {
    std::lock_guard lock(mutex_);
    on_destroy_ = std::move(hook);
  }
  Status destroy(const model::Vm& vm) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mutex_);
      hook = std::exchange(on_destroy_, nullptr);
    }
    if (hook) {
      hook();
    }
    BANGER_FAKE_STEP("destroy", vm);
    return {};
  }
  bool alive(const model::Vm& vm) override {
    std::lock_guard lock(mutex_);
    return vm.vmm_pid != 0 && !dead_.contains(vm.id);
  }
  // A pipe's read end per VM, readable once vmm_exits() closes the write end.
  Expected<base::UniqueFd> vmm_exit_fd(const model::Vm& vm) override {
    std::lock_guard lock(mutex_);
    if (vm.vmm_pid == 0 || dead_.contains(vm.id)) {
      return fail(Errc::not_running, "the VMM of vm " + vm.name + " is gone");
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return fail(Errc::io, "pipe2 failed");
    }
    exit_writers_[vm.id] = base::UniqueFd(fds[1]);
    return base::UniqueFd(fds[0]);
  }
  std::string console_tail(const model::Vm&, std::size_t) override {
    std::lock_guard lock(mutex_);
    return console_tail_;
  }
  Status verify_host_key(const model::Vm& vm) override {
    BANGER_FAKE_STEP("verify_host_key", vm);
    return {};
  }
  std::string console_log_path(const model::Vm& vm) override { return "/v/" + vm.id + ".log"; }
  Expected<vm::GuestHealth> guest_health(const model::Vm& vm) override {
    BANGER_FAKE_STEP("guest_health", vm);
    return vm::GuestHealth{
        .uptime_s = 12.5, .boot_id = "b00t", .agent_version = "0.1.0", .hostname = vm.name};
  }
  Expected<std::vector<vm::GuestPort>> guest_ports(const model::Vm& vm) override {
    BANGER_FAKE_STEP("guest_ports", vm);
    return std::vector<vm::GuestPort>{{.proto = "tcp",
                                       .family = "ipv4",
                                       .address = "0.0.0.0",
                                       .port = 8080,
                                       .pid = 7,
                                       .process = "httpd",
                                       .scheme = "http",
                                       .reachable = true}};
  }
  Expected<vm::GuestExecResult> guest_exec(const model::Vm& vm,
                                           const vm::GuestExec& command) override {
    BANGER_FAKE_STEP("guest_exec", vm);
    return vm::GuestExecResult{.exit_code = 3, .stdout_data = base::join(command.argv, " ")};
  }
  Expected<vm::VmUsage> usage(const model::Vm& vm) override {
    BANGER_FAKE_STEP("usage", vm);
    return vm::VmUsage{.cpu_percent = 3.5,
                       .cpu_seconds = 1.25,
                       .rss_bytes = 64 << 20,
                       .disk_allocated_bytes = 10 << 20,
                       .disk_apparent_bytes = 256 << 20};
  }
  // Recorded as "poll_usage <name>,<name>" (the running VMs it was handed).
  void poll_usage(const std::vector<model::Vm>& running) override {
    std::vector<std::string> names;
    for (const auto& vm : running) {
      names.push_back(vm.name);
    }
    std::lock_guard lock(mutex_);
    calls_.push_back("poll_usage " + base::join(names, ","));
  }
  Status set_nat(const model::Vm& vm, bool enabled) override {
    BANGER_FAKE_STEP(enabled ? "nat_on" : "nat_off", vm);
    return {};
  }
  // Host ports add_forwards() refuses as in use ("host port 127.0.0.1:<port> is already in
  // use"), besides the ones some VM's forward holds.
  void take_host_port(int port) {
    std::lock_guard lock(mutex_);
    taken_ports_.insert(port);
  }
  // Like TcpForwarder without sockets: all or nothing, port 0 becomes 40000, 40001, ...
  Expected<std::vector<model::PortForward>> add_forwards(
      const model::Vm& vm, const std::vector<model::PortForward>& forwards) override {
    BANGER_FAKE_STEP("add_forwards", vm);
    std::lock_guard lock(mutex_);
    std::set<int> taken = taken_ports_;
    for (const auto& [id, list] : forwards_) {
      for (const auto& f : list) {
        taken.insert(f.host_port);
      }
    }
    std::vector<model::PortForward> bound;
    for (auto f : forwards) {
      if (f.host_port == 0) {
        f.host_port = next_port_++;
      }
      if (!taken.insert(f.host_port).second) {
        return fail(Errc::already_exists, "host port " + f.host_address + ":" +
                                              std::to_string(f.host_port) + " is already in use");
      }
      bound.push_back(f);
    }
    auto& list = forwards_[vm.id];
    list.insert(list.end(), bound.begin(), bound.end());
    return bound;
  }
  Status remove_forwards(const model::Vm& vm,
                         const std::vector<model::PortForward>& forwards) override {
    BANGER_FAKE_STEP("remove_forwards", vm);
    std::lock_guard lock(mutex_);
    auto& list = forwards_[vm.id];
    for (const auto& f : forwards) {
      auto same = [&](const model::PortForward& g) {
        return g.host_address == f.host_address && g.host_port == f.host_port;
      };
      if (std::find_if(list.begin(), list.end(), same) == list.end()) {
        return fail(Errc::not_found,
                    "no forward on " + f.host_address + ":" + std::to_string(f.host_port));
      }
    }
    for (const auto& f : forwards) {
      std::erase_if(list, [&](const model::PortForward& g) {
        return g.host_address == f.host_address && g.host_port == f.host_port;
      });
    }
    return {};
  }
  std::vector<model::PortForward> forwards(const model::Vm& vm) override {
    std::lock_guard lock(mutex_);
    auto found = forwards_.find(vm.id);
    return found == forwards_.end() ? std::vector<model::PortForward>{} : found->second;
  }
  // The guest side of the next stream sessions: run on its own thread with the guest end of a
  // socketpair once open_stream() succeeded (the session's channel is the other end). Default:
  // echo_stream_guest.
  using StreamGuest = std::function<void(int guest_fd, const agentproto::StreamExecParams&)>;
  void set_stream_guest(StreamGuest guest) {
    std::lock_guard lock(mutex_);
    stream_guest_ = std::move(guest);
  }
  // The params of every open_stream() that got past the scripted failure, in order.
  std::vector<agentproto::StreamExecParams> streams_opened() const {
    std::lock_guard lock(mutex_);
    return streams_opened_;
  }
  // A guest that sends stdin back as stdout and exits 0 at stdin_eof (a `cat`).
  static void echo_stream_guest(int fd, const agentproto::StreamExecParams&) {
    agentproto::StreamFrameDecoder decoder(agentproto::StreamSender::host);
    char buffer[64 * 1024];
    while (true) {
      while (auto frame = decoder.next()) {
        std::string reply;
        if (frame->type == agentproto::StreamFrameType::stdin_data) {
          reply = agentproto::encode_stream_frame(agentproto::StreamFrameType::stdout_data,
                                                  frame->payload);
        } else if (frame->type == agentproto::StreamFrameType::stdin_eof) {
          reply = agentproto::encode_stream_frame(agentproto::StreamFrameType::exit,
                                                  agentproto::encode_stream_exit({}));
        }
        for (std::size_t done = 0; done < reply.size();) {
          const ssize_t n = ::send(fd, reply.data() + done, reply.size() - done, MSG_NOSIGNAL);
          if (n <= 0) {
            return;
          }
          done += static_cast<std::size_t>(n);
        }
        if (frame->type == agentproto::StreamFrameType::stdin_eof) {
          return;
        }
      }
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) {
        return;
      }
      decoder.feed(buffer, static_cast<std::size_t>(n));
    }
  }
  // Records "open_stream <vm name>" (the scripted failure: "open_stream"), then connects the
  // session to the stream guest (pid 4243). No channel lease.
  Expected<agentclient::StreamSession> open_stream(const model::Vm& vm,
                                                   const agentproto::StreamExecParams& params,
                                                   std::chrono::milliseconds,
                                                   const base::CancelFn&) override {
    BANGER_FAKE_STEP("open_stream", vm);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return fail(Errc::io, "socketpair failed");
    }
    std::lock_guard lock(mutex_);
    streams_opened_.push_back(params);
    stream_threads_.emplace_back([fd = fds[1], params, guest = stream_guest_] {
      guest(fd, params);
      ::close(fd);
    });
    return agentclient::StreamSession{.channel = base::UniqueFd(fds[0]),
                                      .pid = 4243,
                                      .endpoint = "fake stream of vm " + vm.name,
                                      .lease = {}};
  }
  ~FakeVmHost() override {
    for (auto& thread : stream_threads_) {
      thread.join();  // each ends when its channel is closed
    }
  }
  Status reconcile(const std::vector<model::Vm>& vms) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("reconcile " + std::to_string(vms.size()));
    return {};
  }

 private:
  mutable std::mutex mutex_;
  bool emulates_cpus_ = false;
  std::chrono::milliseconds boot_time_{0};
  int booting_ = 0;
  int most_booting_ = 0;
  std::vector<std::string> calls_;
  vm::Readiness last_readiness_ = vm::Readiness::ssh;
  bool starts_ssh_ = true;
  std::set<std::string> dead_;
  std::set<int> survived_signals_;
  std::function<void()> on_destroy_;
  std::map<std::string, base::UniqueFd> exit_writers_;
  std::string console_tail_ = "console tail";
  std::string fail_step_;
  Error fail_error_;
  StreamGuest stream_guest_ = echo_stream_guest;
  std::vector<agentproto::StreamExecParams> streams_opened_;
  std::vector<std::thread> stream_threads_;
  std::map<std::string, std::vector<model::PortForward>> forwards_;  // by VM id
  std::set<int> taken_ports_;
  int next_port_ = 40000;
};

#undef BANGER_FAKE_STEP

}  // namespace banger::testkit
