#include "banger/dns/resolved_routing.hpp"

#include <algorithm>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::dns {
namespace {

sys::Command resolvectl(std::vector<std::string> args) {
  args.insert(args.begin(), "resolvectl");
  return sys::Command{.argv = std::move(args), .timeout = std::chrono::seconds(10)};
}

// "DNS Servers: 1.2.3.4" -> key "DNS Servers", rest "1.2.3.4". A key is letters and spaces
// only and start upper case, which keeps IPv6 continuation values from looking like keys.
bool split_key(std::string_view line, std::string& key, std::string_view& rest) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  std::string_view candidate = base::trim(line.substr(0, colon));
  // Keys start upper case ("DNS Servers"); IPv6 values are printed lower case ("fd00::1").
  if (candidate.empty() || candidate[0] < 'A' || candidate[0] > 'Z') {
    return false;
  }
  for (char c : candidate) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ')) {
      return false;
    }
  }
  key = std::string(candidate);
  rest = line.substr(colon + 1);
  return true;
}

void add_words(std::string_view text, std::vector<std::string>& out) {
  for (const auto& word : base::split(text, ' ')) {
    auto trimmed = base::trim(word);
    if (!trimmed.empty()) {
      out.emplace_back(trimmed);
    }
  }
}

bool names_server(std::string_view entry, std::string_view server) {
  if (entry.substr(0, server.size()) != server) {
    return false;
  }
  if (entry.size() == server.size()) {
    return true;
  }
  char next = entry[server.size()];
  return next == ':' || next == '%' || next == '#';
}

}  // namespace

bool resolved_running(const std::string& run_dir) { return sys::path_exists(run_dir); }

std::vector<sys::Command> plan_resolved_routing(std::string_view link, std::string_view server) {
  std::string l(link);
  return {resolvectl({"dns", l, std::string(server)}), resolvectl({"domain", l, "~vm"}),
          resolvectl({"default-route", l, "false"})};
}

Status route_vm_domain(sys::CommandRunner& runner, std::string_view link, std::string_view server) {
  for (const auto& command : plan_resolved_routing(link, server)) {
    if (auto out = sys::run_checked(runner, command); !out) {
      return tl::unexpected(with_context(out.error(), "routing .vm to " + std::string(server) +
                                                          " via systemd-resolved on " +
                                                          std::string(link)));
    }
  }
  return {};
}

Status revert_vm_domain(sys::CommandRunner& runner, std::string_view link) {
  if (auto out = sys::run_checked(runner, resolvectl({"revert", std::string(link)})); !out) {
    return tl::unexpected(
        with_context(out.error(), "reverting systemd-resolved settings of " + std::string(link)));
  }
  return {};
}

ResolvedLinkStatus parse_resolvectl_status(std::string_view text, std::string_view server) {
  ResolvedLinkStatus status;
  std::vector<std::string>* current = nullptr;
  for (const auto& raw : base::split(text, '\n')) {
    std::string line = raw;
    std::replace(line.begin(), line.end(), '\t', ' ');
    std::string key;
    std::string_view rest;
    if (split_key(line, key, rest)) {
      if (key == "DNS Servers") {
        current = &status.servers;
      } else if (key == "DNS Domain" || key == "DNS Domains") {
        current = &status.domains;
      } else {
        current = nullptr;
      }
      if (current != nullptr) {
        add_words(rest, *current);
      }
    } else if (current != nullptr && !line.empty() && line[0] == ' ') {
      add_words(line, *current);
    } else {
      current = nullptr;
    }
  }
  for (const auto& domain : status.domains) {
    status.routes_vm = status.routes_vm || domain == "~vm" || domain == "vm";
  }
  for (const auto& entry : status.servers) {
    status.uses_server = status.uses_server || names_server(entry, server);
  }
  return status;
}

Expected<ResolvedLinkStatus> query_vm_routing(sys::CommandRunner& runner, std::string_view link,
                                              std::string_view server) {
  auto out = sys::run_checked(runner, resolvectl({"status", std::string(link)}));
  if (!out) {
    return tl::unexpected(
        with_context(out.error(), "reading systemd-resolved settings of " + std::string(link)));
  }
  return parse_resolvectl_status(*out, server);
}

}  // namespace banger::dns
