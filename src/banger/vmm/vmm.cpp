#include "banger/vmm/vmm.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "banger/agentproto/stream.hpp"
#include "banger/base/expected.hpp"

namespace banger::vmm {

namespace {

constexpr auto kAccelNames =
    base::make_enum_names<Accel>({{Accel::kvm, "kvm"}, {Accel::tcg, "tcg"}});
constexpr auto kVmmStateNames = base::make_enum_names<VmmState>(
    {{VmmState::running, "running"}, {VmmState::paused, "paused"}, {VmmState::exited, "exited"}});

}  // namespace

std::vector<std::string> stream_socket_paths(const std::string& runtime_dir,
                                             const std::string& vm_id) {
  std::vector<std::string> paths;
  for (std::size_t n = 0; n < agentproto::kStreamChannels; ++n) {
    paths.push_back(runtime_dir + "/" + vm_id + ".s" + std::to_string(n));
  }
  return paths;
}

std::string_view accel_name(Accel accel) { return kAccelNames.name(accel); }

std::string_view vmm_state_name(VmmState state) { return kVmmStateNames.name(state); }

Expected<Vmm*> VmmRegistry::get(Backend backend) const {
  auto index = static_cast<std::size_t>(backend);
  if (index >= vmms_.size() || vmms_[index] == nullptr) {
    return fail(Errc::failed_precondition,
                fmt::format("no {} backend runs in this daemon", model::to_string(backend)));
  }
  return vmms_[index];
}

std::uint32_t vsock_cid_for_ip(const std::string& ipv4) {
  in_addr addr{};
  if (::inet_pton(AF_INET, ipv4.c_str(), &addr) != 1) {
    return 0;
  }
  return 0x0BA00000u | (ntohl(addr.s_addr) & 0xFFFFFu);
}

std::uint32_t vmm_id_for_ip(const std::string& ipv4) {
  in_addr addr{};
  if (::inet_pton(AF_INET, ipv4.c_str(), &addr) != 1) {
    return 0;
  }
  return kVmmIdBase | (ntohl(addr.s_addr) & 0xFFFFFu);
}

nlohmann::json vmm_handle_to_json(const VmmHandle& handle) {
  nlohmann::json json{{"backend", model::to_string(handle.backend)},
                      {"pid", handle.pid},
                      {"start_time", handle.start_time},
                      {"control_socket", handle.control_socket},
                      {"console_log", handle.console_log},
                      {"agent_socket", handle.agent_socket},
                      {"vsock_cid", handle.vsock_cid}};
  if (!handle.jail_dir.empty()) {
    json["jail_dir"] = handle.jail_dir;
  }
  return json;
}

Expected<VmmHandle> vmm_handle_from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    return fail(Errc::invalid_argument, "vmm handle: expected a json object");
  }
  VmmHandle handle;
  auto get_string = [&](const char* key, std::string& out) -> Status {
    auto it = json.find(key);
    if (it == json.end() || !it->is_string()) {
      return fail(Errc::invalid_argument, fmt::format("vmm handle: {} must be a string", key));
    }
    out = it->get<std::string>();
    return {};
  };
  std::string backend;
  if (auto s = get_string("backend", backend); !s) {
    return tl::unexpected(s.error());
  }
  auto parsed = model::parse_vmm_backend(backend);
  if (!parsed) {
    return tl::unexpected(with_context(parsed.error(), "vmm handle"));
  }
  handle.backend = *parsed;
  auto pid = json.find("pid");
  if (pid == json.end() || !pid->is_number_integer() || pid->get<std::int64_t>() <= 0) {
    return fail(Errc::invalid_argument, "vmm handle: pid must be a positive integer");
  }
  handle.pid = static_cast<pid_t>(pid->get<std::int64_t>());
  auto start = json.find("start_time");
  if (start == json.end() || !start->is_number_unsigned()) {
    return fail(Errc::invalid_argument, "vmm handle: start_time must be a non-negative integer");
  }
  handle.start_time = start->get<std::uint64_t>();
  for (auto [key, out] : {std::pair{"control_socket", &handle.control_socket},
                          std::pair{"console_log", &handle.console_log},
                          std::pair{"agent_socket", &handle.agent_socket}}) {
    if (auto s = get_string(key, *out); !s) {
      return tl::unexpected(s.error());
    }
  }
  // Optional: handles written before vsock support have none.
  if (auto cid = json.find("vsock_cid"); cid != json.end()) {
    if (!cid->is_number_unsigned() || cid->get<std::uint64_t>() > 0xffffffffu) {
      return fail(Errc::invalid_argument,
                  "vmm handle: vsock_cid must be a 32-bit unsigned integer");
    }
    handle.vsock_cid = static_cast<std::uint32_t>(cid->get<std::uint64_t>());
  }
  if (json.contains("jail_dir")) {  // optional: only jailed Firecracker VMs have one
    BANGER_TRY(get_string("jail_dir", handle.jail_dir));
  }
  return handle;
}

}  // namespace banger::vmm
