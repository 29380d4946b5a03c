// RPC method structs for VMs: vm.create ... vm.ssh_info, vm.health, vm.ports, vm.stats
// (docs/rpc.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/api/forward.hpp"

namespace banger::api {

// A VM as the CLI sees it.
// What `vm run <path>` / `vm workspace prepare` copied into /root/repo (docs/workspaces.md).
struct VmWorkspace {
  std::string path;         // host directory; "" = the VM has no workspace
  std::string repo;         // its name
  std::string head;         // host HEAD commit at copy time ("" without git)
  std::string branch;       // the guest's branch
  std::string prepared_at;  // RFC 3339 UTC of the last copy ("" = never)
  template <class V>
  void fields(V& v) {
    v("path", path);
    v("repo", repo);
    v("head", head);
    v("branch", branch);
    v("prepared_at", prepared_at);
  }
};

struct VmInfo {
  std::string id;
  std::string name;
  std::string state;  // "created", "running", "stopped", "error", ...
  std::string image;
  std::string kernel;
  int vcpu = 0;
  std::int64_t memory_mib = 0;
  std::int64_t disk_size_mib = 0;
  std::int64_t rootfs_size_mib = 0;  // the root disk's size; 0 = the image rootfs's size
  bool nat = false;
  std::string guest_ip;  // "" until the VM has an address
  std::string mac;
  std::string last_error;                // "" unless the last operation on the VM failed
  std::string created_at;                // RFC 3339 UTC
  std::string touched_at;                // RFC 3339 UTC
  std::string tap;                       // host TAP device while running ("tap-fc-0")
  std::int64_t pid = 0;                  // VMM process while running
  std::string rootfs_strategy;           // how the writable root is layered ("qcow2_overlay", ...)
  std::string vmm;                       // "qemu" or "firecracker"
  VmWorkspace workspace;                 // path "" = none
  std::vector<PortForwardSpec> publish;  // --publish: forwarded at every start
  std::vector<ForwardInfo> forwards;     // bound now (only while running)
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("name", name);
    v("state", state);
    v("image", image);
    v("kernel", kernel);
    v("vcpu", vcpu);
    v("memory_mib", memory_mib);
    v("disk_size_mib", disk_size_mib);
    v("rootfs_size_mib", rootfs_size_mib);
    v("nat", nat);
    v("guest_ip", guest_ip);
    v("mac", mac);
    v("last_error", last_error);
    v("created_at", created_at);
    v("touched_at", touched_at);
    v("tap", tap);
    v("pid", pid);
    v("rootfs_strategy", rootfs_strategy);
    v("vmm", vmm);
    v("workspace", workspace);
    v("publish", publish);
    v("forwards", forwards);
  }
};

// VmCreate::Request::ready values.
constexpr std::string_view kReadySsh = "ssh";
constexpr std::string_view kReadyAgent = "agent";

// Creates a VM and, unless no_start, boots it. Streams events while it works.
struct VmCreate {
  static constexpr std::string_view kMethod = "vm.create";
  struct Request {
    std::string name;                           // "" = generated
    std::string image;                          // "" = configured default
    std::string kernel;                         // "" = the image's or configured default
    std::optional<int> vcpu;                    // unset = configured default
    std::optional<std::int64_t> memory_mib;     // unset = configured default
    std::optional<std::int64_t> disk_size_mib;  // unset = configured default
    bool nat = false;
    bool no_start = false;
    // What the reply waits for: "ssh" (the guest's sshd answers; the default) or "agent" (the
    // agent answers and the host key is pinned: for callers that run commands through the
    // agent next, `vm run -- cmd`). Anything else is refused.
    std::string ready = std::string(kReadySsh);
    // Host ports forwarded to the VM at every start (docs/forwarding.md); recorded on the VM.
    std::vector<PortForwardSpec> publish;
    // The VM's backend: "" = the config's `vmm`; else "auto", "qemu" or "firecracker", decided
    // as the config key is (policy::decide_vmm) and recorded on the VM.
    std::string vmm;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("image", image);
      v("kernel", kernel);
      v("vcpu", vcpu);
      v("memory_mib", memory_mib);
      v("disk_size_mib", disk_size_mib);
      v("nat", nat);
      v("no_start", no_start);
      v("ready", ready);
      v("publish", publish);
      v("vmm", vmm);
    }
  };
  struct Response {
    VmInfo vm;
    template <class V>
    void fields(V& v) {
      v("vm", vm);
    }
  };
};

// Every VM, oldest first.
struct VmList {
  static constexpr std::string_view kMethod = "vm.list";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<VmInfo> vms;
    template <class V>
    void fields(V& v) {
      v("vms", vms);
    }
  };
};

// One VM by name or id.
struct VmShow {
  static constexpr std::string_view kMethod = "vm.show";
  struct Request {
    std::string name;  // name or id
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    VmInfo vm;
    template <class V>
    void fields(V& v) {
      v("vm", vm);
    }
  };
};

// Deletes VMs (stopping them first) by name or id.
struct VmDelete {
  static constexpr std::string_view kMethod = "vm.delete";
  struct Request {
    std::vector<std::string> names;
    template <class V>
    void fields(V& v) {
      v("names", names);
    }
  };
  struct Response {
    std::vector<std::string> deleted;  // names actually deleted, in request order
    template <class V>
    void fields(V& v) {
      v("deleted", deleted);
    }
  };
};

// Names of several VMs, for the lifecycle methods that act on many at once (in parallel).
struct VmNames {
  std::vector<std::string> names;
  template <class V>
  void fields(V& v) {
    v("names", names);
  }
};

// The VMs an operation acted on, in request order.
struct VmInfos {
  std::vector<VmInfo> vms;
  template <class V>
  void fields(V& v) {
    v("vms", vms);
  }
};

// Boots stopped/created/error VMs in parallel; replies when every one is ready (ssh answers
// with its pinned host key) or failed. The first failure is the error; the others still ran.
struct VmStart {
  static constexpr std::string_view kMethod = "vm.start";
  using Request = VmNames;
  using Response = VmInfos;
};

// Powers VMs off (guest sync + poweroff, then kill after the grace period) in parallel.
struct VmStop {
  static constexpr std::string_view kMethod = "vm.stop";
  using Request = VmNames;
  using Response = VmInfos;
};

// stop + start.
struct VmRestart {
  static constexpr std::string_view kMethod = "vm.restart";
  using Request = VmNames;
  using Response = VmInfos;
};

// Sends a signal to each VM's VMM process (no guest sync): SIGKILL unless `signal` names another
// one of api::signal_names() (api/signal.hpp; anything else is invalid_argument before any VM is
// touched). A VMM that exits from it has its VM's host resources released (stopped); one that
// survives the signal (QEMU handles SIGUSR1) leaves its VM running, reported as such.
struct VmKill {
  static constexpr std::string_view kMethod = "vm.kill";
  struct Request {
    std::vector<std::string> names;
    std::optional<std::string> signal;  // canonical name ("SIGTERM"); unset = SIGKILL
    template <class V>
    void fields(V& v) {
      v("names", names);
      v("signal", signal);
    }
  };
  using Response = VmInfos;
};

// A VM vm.prune left alone, and why ("it is running now", "it no longer exists").
struct PruneSkipped {
  std::string name;  // the id when the VM no longer exists
  std::string reason;
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("reason", reason);
  }
};

// Deletes VMs that are not running (created, stopped, error): those of `ids` when given, else
// every idle one. Each VM is re-checked under its lock; one that is no longer idle is skipped
// (and reported), never killed.
struct VmPrune {
  static constexpr std::string_view kMethod = "vm.prune";
  struct Request {
    bool dry_run = false;  // only list what would be deleted
    // Only these VMs (full ids, as a dry run's `ids` reported them): what the user confirmed.
    std::optional<std::vector<std::string>> ids;
    template <class V>
    void fields(V& v) {
      v("dry_run", dry_run);
      v("ids", ids);
    }
  };
  struct Response {
    std::vector<std::string> deleted;  // names; or, with dry_run, would be deleted
    std::vector<std::string> ids;      // their ids, in the same order
    std::vector<PruneSkipped> skipped;
    template <class V>
    void fields(V& v) {
      v("deleted", deleted);
      v("ids", ids);
      v("skipped", skipped);
    }
  };
};

// Changes sizing (applies at next start) and NAT.
struct VmSet {
  static constexpr std::string_view kMethod = "vm.set";
  struct Request {
    std::string name;
    std::optional<int> vcpu;
    std::optional<std::int64_t> memory_mib;
    std::optional<bool> nat;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("vcpu", vcpu);
      v("memory_mib", memory_mib);
      v("nat", nat);
    }
  };
  struct Response {
    VmInfo vm;
    template <class V>
    void fields(V& v) {
      v("vm", vm);
    }
  };
};

// Reads the VM's console log from a byte offset (the CLI polls it for `vm logs -f`).
struct VmLogs {
  static constexpr std::string_view kMethod = "vm.logs";
  struct Request {
    std::string name;
    std::int64_t offset = 0;           // byte offset; negative = that many bytes from the end
    std::int64_t max_bytes = 1 << 20;  // at most this much per call
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("offset", offset);
      v("max_bytes", max_bytes);
    }
  };
  struct Response {
    std::string text;
    std::int64_t next_offset = 0;  // pass back to continue
    std::string state;             // the VM's state, so a follower can stop when it stops
    template <class V>
    void fields(V& v) {
      v("text", text);
      v("next_offset", next_offset);
      v("state", state);
    }
  };
};

// What the CLI needs to exec the system ssh into a running VM (S9).
struct VmSshInfo {
  static constexpr std::string_view kMethod = "vm.ssh_info";
  struct Request {
    std::string name;
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    std::string name;
    std::string ip;
    std::string user = "root";
    std::string key_path;
    std::string known_hosts_path;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("ip", ip);
      v("user", user);
      v("key_path", key_path);
      v("known_hosts_path", known_hosts_path);
    }
  };
};

// The guest agent's view of a running VM (S8 `health`).
struct VmHealth {
  static constexpr std::string_view kMethod = "vm.health";
  struct Request {
    std::string name;
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    std::string name;
    double uptime_s = 0;
    std::string boot_id;
    std::string agent_version;
    std::string hostname;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("uptime_s", uptime_s);
      v("boot_id", boot_id);
      v("agent_version", agent_version);
      v("hostname", hostname);
    }
  };
};

// One listening socket in a guest, with how to reach it from the host.
struct GuestPortInfo {
  std::string proto;    // "tcp" or "udp"
  std::string family;   // "ipv4" or "ipv6"
  std::string address;  // bound address in the guest
  int port = 0;
  std::int64_t pid = 0;
  std::string process;
  std::string endpoint;  // "<name>.vm:<port>", "" when bound to loopback only
  std::string url;       // "http://<name>.vm:<port>" (or https) when the probe saw HTTP(S)
  template <class V>
  void fields(V& v) {
    v("proto", proto);
    v("family", family);
    v("address", address);
    v("port", port);
    v("pid", pid);
    v("process", process);
    v("endpoint", endpoint);
    v("url", url);
  }
};

struct VmPortsEntry {
  std::string name;
  std::vector<GuestPortInfo> ports;
  std::string error;                  // "" unless this VM could not be asked
  std::vector<ForwardInfo> forwards;  // host ports forwarded to this VM (also when error is set)
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("ports", ports);
    v("error", error);
    v("forwards", forwards);
  }
};

// Listening sockets of running VMs, asked concurrently; marks each VM touched. A VM that
// cannot be asked carries its error and the others still answer.
struct VmPorts {
  static constexpr std::string_view kMethod = "vm.ports";
  using Request = VmNames;
  struct Response {
    std::vector<VmPortsEntry> vms;  // in request order
    template <class V>
    void fields(V& v) {
      v("vms", vms);
    }
  };
};

struct VmStatsEntry {
  std::string name;
  double cpu_percent = 0;  // VMM process; 100 = one host core
  double cpu_seconds = 0;
  std::int64_t rss_bytes = 0;
  std::int64_t memory_mib = 0;  // configured guest memory
  std::int64_t disk_allocated_bytes = 0;
  std::int64_t disk_apparent_bytes = 0;
  std::optional<double> guest_uptime_s;  // absent when the agent did not answer
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("cpu_percent", cpu_percent);
    v("cpu_seconds", cpu_seconds);
    v("rss_bytes", rss_bytes);
    v("memory_mib", memory_mib);
    v("disk_allocated_bytes", disk_allocated_bytes);
    v("disk_apparent_bytes", disk_apparent_bytes);
    v("guest_uptime_s", guest_uptime_s);
  }
};

// Live numbers of running VMs (all running VMs when names is empty), measured concurrently.
struct VmStatsMethod {
  static constexpr std::string_view kMethod = "vm.stats";
  using Request = VmNames;
  struct Response {
    std::vector<VmStatsEntry> vms;
    template <class V>
    void fields(V& v) {
      v("vms", vms);
    }
  };
};

// Runs a command in a running VM through its guest agent (no ssh) and returns its exit code
// and output. Byte payloads are base64 (api/bytes.hpp). Marks the VM touched.
struct VmExec {
  static constexpr std::string_view kMethod = "vm.exec";
  struct Request {
    std::string name;
    std::vector<std::string> argv;           // argv[0] is looked up in the guest's PATH
    std::map<std::string, std::string> env;  // over the agent's base environment
    std::string cwd;                         // "" = /root
    std::string stdin_b64;                   // given on stdin, then EOF
    double timeout_s = 0;                    // 0 = none; the process group is killed after it
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("argv", argv);
      v("env", env);
      v("cwd", cwd);
      v("stdin_b64", stdin_b64);
      v("timeout_s", timeout_s);
    }
  };
  struct Response {
    int exit_code = 0;  // 128+N when killed by signal N
    int signal = 0;
    bool timed_out = false;
    std::string stdout_b64;
    std::string stderr_b64;
    bool stdout_truncated = false;  // the agent keeps at most 32 MiB per stream
    bool stderr_truncated = false;
    template <class V>
    void fields(V& v) {
      v("exit_code", exit_code);
      v("signal", signal);
      v("timed_out", timed_out);
      v("stdout_b64", stdout_b64);
      v("stderr_b64", stderr_b64);
      v("stdout_truncated", stdout_truncated);
      v("stderr_truncated", stderr_truncated);
    }
  };
};

// Records the workspace the CLI has just copied into the VM (shown by vm show/list, used by
// vm exec). An empty path clears it.
struct VmWorkspaceRecord {
  static constexpr std::string_view kMethod = "vm.workspace.record";
  struct Request {
    std::string name;
    std::string path;    // absolute host path
    std::string repo;    // [A-Za-z0-9._-], at most 255 bytes
    std::string head;    // "" or 40 (or 64) lowercase hex
    std::string branch;  // "" or a git branch name, at most 255 bytes
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("path", path);
      v("repo", repo);
      v("head", head);
      v("branch", branch);
    }
  };
  struct Response {
    VmInfo vm;
    template <class V>
    void fields(V& v) {
      v("vm", vm);
    }
  };
};

// Starts a command in a running VM on one of its agent stream channels (ADR 0009) and passes
// the connected channel to the caller with the reply (SCM_RIGHTS): from then on the caller
// exchanges stream frames with the command (stdin, stdout, stderr, exit; docs/agent.md) and
// the daemon is out of the data path. Marks the VM touched.
struct VmStream {
  static constexpr std::string_view kMethod = "vm.stream";
  struct Request {
    std::string name;
    std::vector<std::string> argv;           // argv[0] is looked up in the guest's PATH
    std::map<std::string, std::string> env;  // over the agent's base environment
    std::string cwd;                         // "" = /root
    double timeout_s = 0;                    // 0 = none; the process group is killed after it
    // A PTY session (`vm exec -t`): the command gets a terminal of rows x cols (1..65535 each)
    // as its controlling terminal; stdout carries the terminal's output, there is no stderr.
    bool pty = false;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("argv", argv);
      v("env", env);
      v("cwd", cwd);
      v("timeout_s", timeout_s);
      v("pty", pty);
      v("rows", rows);
      v("cols", cols);
    }
  };
  struct Response {
    std::int64_t pid = 0;  // the command's pid in the guest
    template <class V>
    void fields(V& v) {
      v("pid", pid);
    }
  };
};

}  // namespace banger::api
