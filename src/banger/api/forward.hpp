// Port forwarding on the wire (docs/forwarding.md, docs/rpc.md): vm.forward, vm.unforward, and
// the forward structs vm.create, vm.show and vm.ports carry.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace banger::api {

// A host port to forward to a guest port, as asked.
struct PortForwardSpec {
  std::string host_address;  // an IPv4 literal; "" = 127.0.0.1
  int host_port = 0;         // 0 = a free port (the reply names it)
  int guest_port = 0;        // 1..65535
  template <class V>
  void fields(V& v) {
    v("host_address", host_address);
    v("host_port", host_port);
    v("guest_port", guest_port);
  }
};

// A forward as bound on the host.
struct ForwardInfo {
  std::string host_address;
  int host_port = 0;
  int guest_port = 0;
  bool published = false;  // one of the VM's --publish forwards (made again at every start)
  template <class V>
  void fields(V& v) {
    v("host_address", host_address);
    v("host_port", host_port);
    v("guest_port", guest_port);
    v("published", published);
  }
};

// Forwards host ports to a running VM until it stops (runtime only; --publish persists). All or
// nothing: already_exists "host port 127.0.0.1:8080 is already in use" binds none.
struct VmForwardMethod {
  static constexpr std::string_view kMethod = "vm.forward";
  struct Request {
    std::string name;
    std::vector<PortForwardSpec> ports;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("ports", ports);
    }
  };
  struct Response {
    std::string name;
    std::vector<ForwardInfo> bound;     // the ones this call added, in request order
    std::vector<ForwardInfo> forwards;  // all of the VM's forwards now
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("bound", bound);
      v("forwards", forwards);
    }
  };
};

// Closes forwards of a running VM by host address:port (guest_port is ignored). not_found (and
// nothing closed) when one of them is not the VM's.
struct VmUnforwardMethod {
  static constexpr std::string_view kMethod = "vm.unforward";
  using Request = VmForwardMethod::Request;
  struct Response {
    std::string name;
    std::vector<ForwardInfo> forwards;  // what remains
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("forwards", forwards);
    }
  };
};

}  // namespace banger::api
