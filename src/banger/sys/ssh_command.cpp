#include "banger/sys/ssh_command.hpp"

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

}  // namespace

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
  if (spec.port != 22) {
    argv.insert(argv.end(), {"-p", std::to_string(spec.port)});
  }
  if (spec.force_tty) {
    argv.emplace_back("-t");
  }
  argv.push_back(spec.user + "@" + spec.ip);
  if (!spec.command.empty()) {
    argv.emplace_back("--");
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
