#include "banger/rpc/doc_check.hpp"

#include <set>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::rpc {

Status check_methods_documented(const std::vector<std::string>& methods,
                                const std::string& rpc_md_path) {
  BANGER_TRY_ASSIGN(auto text, sys::read_file(rpc_md_path));
  std::set<std::string, std::less<>> headings;
  for (const std::string& line : base::split(text, '\n')) {
    std::string_view rest = base::trim(line);
    constexpr std::string_view kPrefix = "### `";
    if (rest.starts_with(kPrefix) && rest.ends_with('`') && rest.size() > kPrefix.size() + 1) {
      headings.emplace(rest.substr(kPrefix.size(), rest.size() - kPrefix.size() - 1));
    }
  }
  std::vector<std::string> missing;
  for (const std::string& method : methods) {
    if (!headings.contains(method)) {
      missing.push_back(method);
    }
  }
  if (!missing.empty()) {
    return fail(Errc::not_found, rpc_md_path + " has no \"### `<method>`\" heading for: " +
                                     base::join(missing, ", "));
  }
  return {};
}

}  // namespace banger::rpc
