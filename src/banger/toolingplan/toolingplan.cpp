#include "banger/toolingplan/toolingplan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "banger/base/strings.hpp"

namespace banger::toolingplan {
namespace {

constexpr std::size_t kMaxRepoName = 64;
constexpr std::size_t kMaxToolName = 64;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// mise tool names: "node", "cargo:ripgrep", "ubi:owner/repo", "npm:@scope/pkg".
bool is_valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxToolName || !is_alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == '@' ||
           c == '+';
  });
}

// For warnings: the text with anything unusual shown as \xNN, cut to 40 bytes.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  return text.size() > 40 ? out + "..." : out;
}

std::string unquote(std::string_view v) {
  v = base::trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  return std::string(v);
}

// Lines without comments ('#' to the end) and surrounding whitespace, empty ones dropped.
std::vector<std::string> content_lines(std::string_view text) {
  std::vector<std::string> out;
  for (auto& line : base::split(text.substr(0, kMaxFileBytes), '\n')) {
    std::string_view l = line;
    if (auto hash = l.find('#'); hash != std::string_view::npos) {
      l = l.substr(0, hash);
    }
    l = base::trim(l);
    if (!l.empty()) {
      out.emplace_back(l);
    }
  }
  return out;
}

struct Collector {
  Plan& plan;
  void add(std::string name, std::string version, std::string_view source) {
    if (!is_valid_tool_name(name)) {
      plan.warnings.push_back(fmt::format("{}: tool name \"{}\" refused", source, shown(name)));
      return;
    }
    if (!is_valid_version(version)) {
      plan.warnings.push_back(
          fmt::format("{}: {} version \"{}\" refused (allowed: up to {} of "
                      "A-Z a-z 0-9 . _ + -)",
                      source, name, shown(version), kMaxVersionLength));
      return;
    }
    plan.tools.push_back({std::move(name), std::move(version), std::string(source)});
  }
};

// `[tools]` of .mise.toml: `name = "version"` or `name = ["v1", ...]` (the first), for the
// summary; mise itself reads the file.
void read_mise_toml(std::string_view text, Collector& c) {
  bool in_tools = false;
  for (const auto& line : content_lines(text)) {
    if (line.front() == '[') {
      in_tools = line == "[tools]";
      continue;
    }
    auto eq = line.find('=');
    if (!in_tools || eq == std::string::npos) {
      continue;
    }
    std::string name = unquote(std::string_view(line).substr(0, eq));
    std::string_view value = base::trim(std::string_view(line).substr(eq + 1));
    if (value.starts_with('[')) {
      value = value.substr(1, value.find_first_of(",]") - 1);
    }
    c.add(std::move(name), unquote(value), ".mise.toml");
  }
}

void read_tool_versions(std::string_view text, Collector& c) {
  for (const auto& line : content_lines(text)) {
    auto words = base::split(line, ' ');
    words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
    if (words.size() >= 2) {
      c.add(words[0], words[1], ".tool-versions");
    }
  }
}

std::optional<std::string> first_line(std::string_view text) {
  auto lines = content_lines(text);
  if (lines.empty()) {
    return std::nullopt;
  }
  return lines.front();
}

void read_node_version(std::string_view text, std::string_view source, Collector& c) {
  auto v = first_line(text);
  if (!v) {
    return;
  }
  std::string version = *v;
  if (version == "lts/*") {
    version = "lts";
  } else if (version.size() > 1 && version[0] == 'v' && version[1] >= '0' && version[1] <= '9') {
    version.erase(0, 1);
  }
  c.add("node", version, source);
}

// go.mod: `toolchain goX.Y.Z` wins over `go X.Y[.Z]` (the minimum the module needs).
void read_go_mod(std::string_view text, Collector& c) {
  std::optional<std::string> go;
  std::optional<std::string> toolchain;
  for (const auto& line : content_lines(text)) {
    auto words = base::split(line, ' ');
    words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
    if (words.size() != 2) {
      if (!words.empty() && (words[0] == "go" || words[0] == "toolchain")) {
        c.plan.warnings.push_back(
            fmt::format("go.mod: {} line \"{}\" refused", words[0], shown(line)));
      }
      continue;
    }
    if (words[0] == "go") {
      go = words[1];
    } else if (words[0] == "toolchain" && words[1] != "default") {
      toolchain = words[1].starts_with("go") ? words[1].substr(2) : words[1];
    }
  }
  if (toolchain) {
    c.add("go", *toolchain, "go.mod");
  } else if (go) {
    c.add("go", *go, "go.mod");
  }
}

void read_rust_toolchain_toml(std::string_view text, Collector& c) {
  bool in_toolchain = false;
  for (const auto& line : content_lines(text)) {
    if (line.front() == '[') {
      in_toolchain = line == "[toolchain]";
      continue;
    }
    auto eq = line.find('=');
    if (in_toolchain && eq != std::string::npos &&
        base::trim(std::string_view(line).substr(0, eq)) == "channel") {
      c.add("rust", unquote(std::string_view(line).substr(eq + 1)), "rust-toolchain.toml");
      return;
    }
  }
}

std::string render_script(const Plan& plan, const Options& options) {
  const std::string log = shell_quote(plan.log_path);
  std::string s;
  s += "#!/bin/sh\n";
  s += "# banger tooling bootstrap (generated by toolingplan; best effort: always exits 0)\n";
  s += "log=" + log + "\n";
  s += "mkdir -p " + shell_quote(options.log_dir) + " || exit 0\n";
  s += "cd " + shell_quote(options.repo_dir) +
       " || { echo 'banger: no workspace directory' >>\"$log\"; exit 0; }\n";
  s += "if ! command -v mise >/dev/null 2>&1; then\n";
  s += "  echo 'banger: mise is not on PATH in this image: tooling bootstrap skipped' >>\"$log\"\n";
  s += "  exit 0\n";
  s += "fi\n";
  s += "export MISE_YES=1\n";
  s += "run() {\n";
  s += "  echo \"banger: running: $*\" >>\"$log\"\n";
  s += "  \"$@\" >>\"$log\" 2>&1 </dev/null || echo \"banger: failed (exit $?): $*\" >>\"$log\"\n";
  s += "}\n";
  if (!plan.manifests.empty()) {
    for (const auto& m : plan.manifests) {
      s += "run mise trust " + shell_quote(m) + "\n";
    }
    s += "run mise install\n";
  }
  for (const auto& tool : plan.tools) {
    if (tool.source == ".mise.toml" || tool.source == ".tool-versions") {
      continue;  // mise install reads the manifest itself
    }
    s += "run mise use --global " + shell_quote(tool.name + "@" + tool.version) + "\n";
  }
  s += "echo 'banger: tooling bootstrap finished' >>\"$log\"\n";
  s += "exit 0\n";
  return s;
}

}  // namespace

bool is_valid_version(std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionLength || version.front() == '-' ||
      version.front() == '.') {
    return false;
  }
  return std::all_of(version.begin(), version.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-';
  });
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string sanitize_repo_name(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxRepoName)) {
    out += (is_alnum(c) || c == '.' || c == '_' || c == '-') ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") {
    return "repo";
  }
  return out;
}

Plan plan(const std::map<std::string, std::string>& files, std::string_view repo_name,
          const Options& options) {
  Plan p;
  Collector c{p};
  auto file = [&](std::string_view name) -> const std::string* {
    auto it = files.find(std::string(name));
    return it == files.end() ? nullptr : &it->second;
  };
  if (const auto* t = file(".mise.toml")) {
    p.manifests.emplace_back(".mise.toml");
    read_mise_toml(*t, c);
  }
  if (const auto* t = file(".tool-versions")) {
    p.manifests.emplace_back(".tool-versions");
    read_tool_versions(*t, c);
  }
  if (const auto* t = file(".nvmrc")) {
    read_node_version(*t, ".nvmrc", c);
  } else if (const auto* nv = file(".node-version")) {
    read_node_version(*nv, ".node-version", c);
  }
  if (const auto* t = file(".python-version")) {
    if (auto v = first_line(*t)) {
      c.add("python", *v, ".python-version");
    }
  }
  if (const auto* t = file("go.mod")) {
    read_go_mod(*t, c);
  }
  if (const auto* t = file("rust-toolchain.toml")) {
    read_rust_toolchain_toml(*t, c);
  } else if (const auto* rt = file("rust-toolchain")) {
    if (auto v = first_line(*rt)) {
      c.add("rust", *v, "rust-toolchain");
    }
  }
  // A manifest names the tools it installs: the single-version files do not install them again.
  std::vector<Tool> kept;
  for (auto& tool : p.tools) {
    bool manifest = tool.source == ".mise.toml" || tool.source == ".tool-versions";
    bool covered = !manifest && std::any_of(p.tools.begin(), p.tools.end(), [&](const Tool& o) {
      return o.name == tool.name && (o.source == ".mise.toml" || o.source == ".tool-versions");
    });
    if (covered) {
      p.warnings.push_back(fmt::format("{}: {} {} ignored: a mise manifest names {}", tool.source,
                                       tool.name, tool.version, tool.name));
    } else {
      kept.push_back(tool);
    }
  }
  p.tools = std::move(kept);
  p.needs_network = !p.tools.empty() || !p.manifests.empty();
  p.log_path = options.log_dir + "/vm-run-tooling-" + sanitize_repo_name(repo_name) + ".log";
  if (p.needs_network) {
    p.guest_script = render_script(p, options);
  }
  return p;
}

std::string render_summary(const Plan& plan) {
  std::vector<std::string> parts;
  for (const auto& tool : plan.tools) {
    parts.push_back(fmt::format("{} {} ({})", tool.name, tool.version, tool.source));
  }
  if (parts.empty() && !plan.manifests.empty()) {
    parts.push_back(fmt::format("mise install ({})", base::join(plan.manifests, ", ")));
  }
  return parts.empty() ? "" : "tooling: " + base::join(parts, ", ");
}

}  // namespace banger::toolingplan
