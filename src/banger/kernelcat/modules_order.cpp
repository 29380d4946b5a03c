#include "banger/kernelcat/modules_order.hpp"

#include <map>
#include <set>

#include "banger/base/strings.hpp"

namespace banger::kernelcat {
namespace {

constexpr std::array<std::pair<std::string_view, ModuleCompression>, 3> kSuffixes = {{
    {".xz", ModuleCompression::xz},
    {".zst", ModuleCompression::zstd},
    {".gz", ModuleCompression::gzip},
}};

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view strip_compression(std::string_view name) {
  for (const auto& [suffix, kind] : kSuffixes) {
    if (name.ends_with(suffix)) {
      return name.substr(0, name.size() - suffix.size());
    }
  }
  return name;
}

struct DepEntry {
  std::string path;
  std::vector<std::string> deps;  // paths, as listed
};

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& w : base::split(text, ' ')) {
    std::string t(base::trim(w));
    if (!t.empty()) {
      out.push_back(std::move(t));
    }
  }
  return out;
}

}  // namespace

std::string module_name(std::string_view name_or_path) {
  std::string_view name = strip_compression(basename(name_or_path));
  if (name.ends_with(".ko")) {
    name.remove_suffix(3);
  }
  std::string out(name);
  for (char& c : out) {
    if (c == '-') {
      c = '_';
    }
  }
  return out;
}

ModuleCompression module_compression(std::string_view path) {
  for (const auto& [suffix, kind] : kSuffixes) {
    if (path.ends_with(suffix)) {
      return kind;
    }
  }
  return ModuleCompression::none;
}

std::string module_file_name(std::string_view path) {
  return std::string(strip_compression(basename(path)));
}

std::vector<std::string> modules_load_order(std::string_view modules_dep,
                                            const std::vector<std::string>& wanted) {
  std::map<std::string, DepEntry> by_name;  // module name -> its line
  for (const auto& raw : base::split(modules_dep, '\n')) {
    std::string_view line = base::trim(raw);
    auto colon = line.find(':');
    if (line.empty() || line.front() == '#' || colon == std::string_view::npos || colon == 0) {
      continue;
    }
    DepEntry entry{std::string(base::trim(line.substr(0, colon))), words(line.substr(colon + 1))};
    by_name.emplace(module_name(entry.path), std::move(entry));
  }

  std::vector<std::string> order;
  std::set<std::string> done;
  std::set<std::string> visiting;  // guards against cycles in a malformed file
  // Depth-first: a module's dependencies (last listed first, as modprobe does) before it.
  auto visit = [&](auto& self, const std::string& path) -> void {
    std::string name = module_name(path);
    if (done.contains(name) || visiting.contains(name)) {
      return;
    }
    visiting.insert(name);
    auto it = by_name.find(name);
    if (it != by_name.end()) {
      const auto& deps = it->second.deps;
      for (auto dep = deps.rbegin(); dep != deps.rend(); ++dep) {
        self(self, *dep);
      }
    }
    visiting.erase(name);
    done.insert(name);
    order.push_back(it != by_name.end() ? it->second.path : path);
  };
  for (const auto& want : wanted) {
    auto it = by_name.find(module_name(want));
    if (it != by_name.end()) {
      visit(visit, it->second.path);
    }
  }
  return order;
}

}  // namespace banger::kernelcat
