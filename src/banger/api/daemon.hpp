// RPC method structs for the daemon itself: ping, version, shutdown, doctor, ssh_config
// (docs/rpc.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace banger::api {

// Liveness check; answers as soon as the daemon accepts connections.
struct Ping {
  static constexpr std::string_view kMethod = "ping";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    bool pong = true;
    std::int64_t pid = 0;  // the daemon's process id
    template <class V>
    void fields(V& v) {
      v("pong", pong);
      v("pid", pid);
    }
  };
};

// The daemon's build and the protocol version it speaks.
struct Version {
  static constexpr std::string_view kMethod = "version";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::string version;  // "0.1.0"
    std::string commit;   // short git hash, "" when unknown
    int protocol = 0;     // api::kProtocolVersion of the daemon
    template <class V>
    void fields(V& v) {
      v("version", version);
      v("commit", commit);
      v("protocol", protocol);
    }
  };
};

// Asks the daemon to exit after replying. Running VMs keep running.
struct Shutdown {
  static constexpr std::string_view kMethod = "shutdown";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    template <class V>
    void fields(V& /*v*/) {}
  };
};

// One row of `banger doctor` (SPEC S14).
struct DoctorCheck {
  std::string name;    // "kvm"
  std::string status;  // "pass", "warn" or "fail"
  std::string detail;  // what was found
  std::string hint;    // how to fix it; "" on pass
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("status", status);
    v("detail", detail);
    v("hint", hint);
  }
};

// Read-only host checks.
struct Doctor {
  static constexpr std::string_view kMethod = "doctor";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<DoctorCheck> checks;
    template <class V>
    void fields(V& v) {
      v("checks", checks);
    }
  };
};

// (Re)writes banger's ssh config file (a `Host *.vm` block with banger's key and known_hosts,
// S9), generating the key on first use, and says where it is. `banger ssh-config` prints the
// path; --install includes it from ~/.ssh/config.
struct SshConfig {
  static constexpr std::string_view kMethod = "ssh_config";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::string path;  // <state>/ssh_config
    std::string key_path;
    std::string known_hosts_path;
    template <class V>
    void fields(V& v) {
      v("path", path);
      v("key_path", key_path);
      v("known_hosts_path", known_hosts_path);
    }
  };
};

}  // namespace banger::api
