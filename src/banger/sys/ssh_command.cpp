#include "banger/sys/ssh_command.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "banger/base/expected.hpp"

namespace banger::sys {

namespace {

// ssh expands %-tokens in IdentityFile and UserKnownHostsFile; "%%" is a literal '%'.
std::string escape_percent(const std::string& path) {
  std::string out;
  for (char c : path) {
    out += c;
    if (c == '%') {
      out += '%';
    }
  }
  return out;
}

// An ssh_config value as given to -o: quoted only when it has to be, since ssh reads several
// whitespace-separated files from UserKnownHostsFile.
std::string option_value(const std::string& path) {
  if (path.find_first_of(" \t\"\\") == std::string::npos) {
    return escape_percent(path);
  }
  return ssh_config_quote(path);
}

bool has_control_char(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

Status check_path(const char* field, const std::string& path) {
  if (path.empty() || path.front() != '/' || has_control_char(path) ||
      path.find("${") != std::string::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("refusing ssh {} {:?}: it must be an absolute path without control "
                            "characters or \"${{\"",
                            field, path));
  }
  return {};
}

}  // namespace

Status check_ssh_target(const SshCommandSpec& spec) {
  const std::string& user = spec.user;
  bool user_ok = !user.empty() && user.size() <= 32 && user.front() != '-' && user.front() != '.';
  for (char c : user) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
    user_ok = user_ok && plain;
  }
  if (!user_ok) {
    return fail(Errc::invalid_argument,
                fmt::format("refusing ssh user {:?}: a login name is letters, digits, '_', '.' "
                            "and '-', not starting with '-' or '.'",
                            user));
  }
  in_addr addr{};
  if (spec.ip.empty() || spec.ip.size() > 15 || ::inet_pton(AF_INET, spec.ip.c_str(), &addr) != 1) {
    return fail(
        Errc::invalid_argument,
        fmt::format("refusing ssh address {:?}: it must be a dotted IPv4 address", spec.ip));
  }
  if (spec.port < 1 || spec.port > 65535) {
    return fail(Errc::invalid_argument,
                fmt::format("refusing ssh port {}: it must be 1 to 65535", spec.port));
  }
  BANGER_TRY(check_path("key path", spec.key_path));
  BANGER_TRY(check_path("known_hosts path", spec.known_hosts_path));
  return {};
}

std::string ssh_config_quote(const std::string& path) {
  std::string out = "\"";
  for (char c : escape_percent(path)) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789_-./=:,+@%") == std::string::npos) {
    return arg;
  }
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::vector<std::string> ssh_argv(const SshCommandSpec& spec) {
  std::vector<std::string> argv{spec.ssh_program,
                                "-i",
                                escape_percent(spec.key_path),
                                "-o",
                                "UserKnownHostsFile=" + option_value(spec.known_hosts_path),
                                "-o",
                                "StrictHostKeyChecking=accept-new",
                                "-o",
                                "IdentitiesOnly=yes",
                                "-o",
                                "HashKnownHosts=no",
                                "-o",
                                "LogLevel=ERROR"};
  for (const auto& [key, value] : kUntrustedGuestOptions) {
    argv.emplace_back("-o");
    argv.push_back(std::string(key) + "=" + value);
  }
  if (spec.port != 22) {
    argv.insert(argv.end(), {"-p", std::to_string(spec.port)});
  }
  if (spec.force_tty) {
    argv.emplace_back("-t");
  }
  argv.emplace_back("--");
  argv.push_back(spec.user + "@" + spec.ip);
  if (!spec.command.empty()) {
    if (spec.preserve_argv) {
      std::string remote;
      for (const auto& arg : spec.command) {
        remote += (remote.empty() ? "" : " ") + shell_quote(arg);
      }
      argv.push_back(std::move(remote));
    } else {
      argv.insert(argv.end(), spec.command.begin(), spec.command.end());
    }
  }
  return argv;
}

}  // namespace banger::sys
