// RPC method structs for VMs: vm.create, vm.list, vm.show, vm.delete (docs/rpc.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banger::api {

// A VM as the CLI sees it.
struct VmInfo {
  std::string id;
  std::string name;
  std::string state;  // "created", "running", "stopped", "error", ...
  std::string image;
  std::string kernel;
  int vcpu = 0;
  std::int64_t memory_mib = 0;
  std::int64_t disk_size_mib = 0;
  bool nat = false;
  std::string guest_ip;  // "" until the VM has an address
  std::string mac;
  std::string last_error;  // "" unless the last operation on the VM failed
  std::string created_at;  // RFC 3339 UTC
  std::string touched_at;  // RFC 3339 UTC
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
    v("nat", nat);
    v("guest_ip", guest_ip);
    v("mac", mac);
    v("last_error", last_error);
    v("created_at", created_at);
    v("touched_at", touched_at);
  }
};

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

}  // namespace banger::api
