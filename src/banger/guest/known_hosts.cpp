#include "banger/guest/known_hosts.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/guest/host_key.hpp"
#include "banger/sys/file_lock.hpp"
#include "banger/sys/fs.hpp"

namespace banger::guest {

namespace {

// One line of the file. Lines that are not "hosts type key [comment]" with plain host names
// are kept verbatim (parsed == false).
struct Line {
  std::string raw;
  bool parsed = false;
  std::vector<std::string> hosts;
  std::string type;
  std::string key;
  std::string comment;  // everything after the key, kept when the line is rewritten
};

std::vector<std::string> fields_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      ++i;
    }
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') {
      ++i;
    }
    if (i > start) {
      out.emplace_back(text.substr(start, i - start));
    }
  }
  return out;
}

Line parse_line(const std::string& raw) {
  Line line{.raw = raw};
  std::string_view text = base::trim(raw);
  if (text.empty() || text.front() == '#' || text.front() == '@' || text.front() == '|') {
    return line;
  }
  auto fields = fields_of(text);
  if (fields.size() < 3) {
    return line;
  }
  line.hosts = base::split(fields[0], ',');
  if (std::any_of(line.hosts.begin(), line.hosts.end(),
                  [](const std::string& h) { return h.empty(); })) {
    line.hosts.clear();
    return line;
  }
  line.type = fields[1];
  line.key = fields[2];
  for (std::size_t i = 3; i < fields.size(); ++i) {
    line.comment += (i > 3 ? " " : "") + fields[i];
  }
  line.parsed = true;
  return line;
}

std::string render_line(const Line& line) {
  if (!line.parsed) {
    return line.raw;
  }
  std::string out = base::join(line.hosts, ",") + " " + line.type + " " + line.key;
  if (!line.comment.empty()) {
    out += " " + line.comment;
  }
  return out;
}

std::string render(const std::vector<Line>& lines) {
  std::string out;
  for (const auto& line : lines) {
    out += render_line(line);
    out += '\n';
  }
  return out;
}

// Reads and parses path; a missing file is an empty list.
Expected<std::vector<Line>> load(const std::string& path) {
  auto text = sys::read_file(path);
  if (!text) {
    if (text.error().sys_errno == ENOENT) {
      return std::vector<Line>{};
    }
    return tl::unexpected(text.error());
  }
  std::vector<Line> lines;
  for (auto& raw : base::split(*text, '\n')) {
    lines.push_back(parse_line(raw));
  }
  // split() yields a trailing empty piece for a final newline; do not grow the file each write.
  while (!lines.empty() && !lines.back().parsed && base::trim(lines.back().raw).empty()) {
    lines.pop_back();
  }
  return lines;
}

bool names_host(const Line& line, const std::string& host) {
  return line.parsed && std::find(line.hosts.begin(), line.hosts.end(), host) != line.hosts.end();
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  std::string bare = name;
  // "[127.0.0.1]:2222" is how known_hosts names a non-standard port.
  if (bare.size() > 2 && bare.front() == '[') {
    bare = bare.substr(1, bare.find(']') - 1);
  }
  return ::inet_pton(AF_INET, bare.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, bare.c_str(), buf) == 1;
}

// "web.vm (172.16.0.2)": names first, addresses in parentheses.
std::string describe_hosts(const std::vector<std::string>& host_names) {
  std::vector<std::string> names;
  std::vector<std::string> addresses;
  for (const auto& host : host_names) {
    (is_ip_literal(host) ? addresses : names).push_back(host);
  }
  if (names.empty()) {
    names.swap(addresses);
  }
  std::string out = base::join(names, ", ");
  if (!addresses.empty()) {
    out += " (" + base::join(addresses, ", ") + ")";
  }
  return out;
}

Status check_names(const std::vector<std::string>& host_names) {
  if (host_names.empty()) {
    return fail(Errc::invalid_argument, "known_hosts: no host names given");
  }
  for (const auto& host : host_names) {
    if (host.empty() || host.find_first_of(" \t\r\n,#") != std::string::npos) {
      return fail(Errc::invalid_argument,
                  fmt::format("known_hosts: invalid host name \"{}\": it must be non-empty "
                              "without spaces, commas or '#'",
                              host));
    }
  }
  return {};
}

// Takes the lock and makes sure the directory exists.
Expected<sys::FileLock> lock_file(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty()) {
    BANGER_TRY(sys::make_dirs(parent, 0700));
  }
  return sys::FileLock::acquire(path + ".lock");
}

}  // namespace

Status KnownHosts::pin(const std::vector<std::string>& host_names, const std::string& key_type,
                       const std::string& key_base64) {
  BANGER_TRY(check_names(host_names));
  if (key_type.empty() || key_type.find_first_of(" \t\r\n") != std::string::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("known_hosts: invalid key type \"{}\"", key_type));
  }
  auto offered = fingerprint_sha256(key_base64);
  if (!offered) {
    return tl::unexpected(with_context(offered.error(), "pinning " + describe_hosts(host_names)));
  }

  auto lock = lock_file(path_);
  if (!lock) {
    return tl::unexpected(with_context(lock.error(), "pinning host key in " + path_));
  }
  auto lines = load(path_);
  if (!lines) {
    return tl::unexpected(with_context(lines.error(), "pinning host key in " + path_));
  }

  std::vector<std::string> missing;
  std::vector<std::string> stale;  // names pinned to another key
  std::string expected;
  for (const auto& host : host_names) {
    bool has_type = false;
    bool matches = false;
    std::string other;
    for (const auto& line : *lines) {
      if (!names_host(line, host) || line.type != key_type) {
        continue;
      }
      has_type = true;
      if (line.key == key_base64) {
        matches = true;
      } else if (other.empty()) {
        other = line.key;
      }
    }
    if (!has_type) {
      if (std::find(missing.begin(), missing.end(), host) == missing.end()) {
        missing.push_back(host);
      }
    } else if (!matches) {
      stale.push_back(host);
      if (expected.empty()) {
        auto pinned = fingerprint_sha256(other);
        expected = pinned ? *pinned : "an unreadable key";
      }
    }
  }

  if (!stale.empty()) {
    std::vector<std::string> forget;
    forget.reserve(stale.size());
    for (const auto& host : stale) {
      forget.push_back(fmt::format("ssh-keygen -R '{}' -f '{}'", host, path_));
    }
    return fail(
        Errc::failed_precondition,
        fmt::format("host key for {} changed: expected {}, got {}; if the VM was "
                    "recreated or its disk replaced, forget the old key with {} "
                    "(banger vm delete does this itself); otherwise something else "
                    "may be answering at this address, so do not connect",
                    describe_hosts(host_names), expected, *offered, base::join(forget, " and ")));
  }
  if (missing.empty()) {
    return {};
  }
  Line added{.raw = {}, .parsed = true, .hosts = missing, .type = key_type, .key = key_base64};
  lines->push_back(std::move(added));
  if (auto written = sys::write_file_atomic(path_, render(*lines), 0600); !written) {
    return tl::unexpected(with_context(written.error(), "pinning host key in " + path_));
  }
  return {};
}

Expected<std::optional<std::string>> KnownHosts::lookup(const std::string& host) const {
  auto lines = load(path_);
  if (!lines) {
    return tl::unexpected(with_context(lines.error(), "looking up " + host + " in " + path_));
  }
  for (const auto& line : *lines) {
    if (names_host(line, host)) {
      return std::optional<std::string>(line.type + " " + line.key);
    }
  }
  return std::optional<std::string>();
}

Status KnownHosts::remove(const std::vector<std::string>& host_names) {
  auto lock = lock_file(path_);
  if (!lock) {
    return tl::unexpected(with_context(lock.error(), "removing host keys from " + path_));
  }
  auto lines = load(path_);
  if (!lines) {
    return tl::unexpected(with_context(lines.error(), "removing host keys from " + path_));
  }
  bool changed = false;
  std::vector<Line> kept;
  for (auto& line : *lines) {
    if (line.parsed) {
      auto end = std::remove_if(line.hosts.begin(), line.hosts.end(), [&](const std::string& h) {
        return std::find(host_names.begin(), host_names.end(), h) != host_names.end();
      });
      if (end != line.hosts.end()) {
        changed = true;
        line.hosts.erase(end, line.hosts.end());
        if (line.hosts.empty()) {
          continue;
        }
      }
    }
    kept.push_back(std::move(line));
  }
  if (!changed) {
    return {};
  }
  if (auto written = sys::write_file_atomic(path_, render(kept), 0600); !written) {
    return tl::unexpected(with_context(written.error(), "removing host keys from " + path_));
  }
  return {};
}

}  // namespace banger::guest
