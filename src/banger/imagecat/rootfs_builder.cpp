#include "banger/imagecat/rootfs_builder.hpp"

#include <fmt/format.h>

#include <set>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/imagecat/docker_layout.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/sys/fs.hpp"

namespace banger::imagecat {
namespace {

// The tiny image: at least 64 MiB, with 16 MiB beyond content x 1.5 for logs and keys.
constexpr std::uint64_t kTinyMinMib = 64;
constexpr std::uint64_t kTinySlackMib = 16;
// Debian images: content x 1.5, at least 1 GiB (S11).
constexpr std::uint64_t kDebianMinMib = 1024;

Status check_cancel(const base::CancelFn& cancel) {
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "image build cancelled");
  }
  return {};
}

// The libraries extra packages need: their direct shared-library dependencies, then those
// libraries' own, round by round. Only libraries are followed, so a dependency such as perl
// (git's, for its Perl commands) or git-man neither comes along nor pulls in its own
// libraries; "-perl" packages (liberror-perl) are Perl modules, not libraries.
constexpr int kMaxDependsRounds = 16;

Expected<std::vector<std::string>> library_closure(const std::vector<std::string>& roots,
                                                   const BuildContext& ctx) {
  std::set<std::string> known(roots.begin(), roots.end());
  std::vector<std::string> libraries;
  std::vector<std::string> frontier = roots;
  for (int round = 0; !frontier.empty() && round < kMaxDependsRounds; ++round) {
    auto depends = sys::run_checked(ctx.runner, plan_direct_depends_query(frontier));
    if (!depends) {
      return tl::unexpected(
          with_context(depends.error(), "resolving the libraries of " + base::join(frontier, " ")));
    }
    frontier.clear();
    for (auto& library : parse_library_depends(*depends)) {
      if (library.ends_with("-perl") || !known.insert(library).second) {
        continue;
      }
      libraries.push_back(library);
      frontier.push_back(std::move(library));
    }
  }
  return libraries;
}

// The tiny recipe's packages plus dropbear's shared libraries (its Depends closure from the
// host's apt, lib* packages only), plus extra packages and their library closure; each once.
Expected<std::vector<std::string>> tiny_packages(const Recipe& recipe,
                                                 const std::vector<std::string>& extra,
                                                 const BuildContext& ctx) {
  base::report(ctx.progress, {.stage = "resolve", .message = "resolving dropbear's libraries"});
  auto depends = sys::run_checked(ctx.runner, plan_library_depends_query("dropbear-bin"));
  if (!depends) {
    return tl::unexpected(with_context(depends.error(), "resolving the libraries of dropbear-bin"));
  }
  std::vector<std::string> packages = recipe.packages;
  for (auto& library : parse_library_depends(*depends)) {
    packages.push_back(std::move(library));
  }
  if (!extra.empty()) {
    base::report(ctx.progress, {.stage = "resolve",
                                .message = "resolving the libraries of " + base::join(extra, " ")});
    BANGER_TRY_ASSIGN(auto libraries, library_closure(extra, ctx));
    packages.insert(packages.end(), extra.begin(), extra.end());
    packages.insert(packages.end(), libraries.begin(), libraries.end());
  }
  std::set<std::string> seen;
  std::vector<std::string> unique;
  for (auto& p : packages) {
    if (seen.insert(p).second) {
      unique.push_back(std::move(p));
    }
  }
  return unique;
}

}  // namespace

std::uint64_t TinyBuilder::image_size_mib(std::uint64_t content_bytes) const {
  return imagecat::image_size_mib(content_bytes, kTinyMinMib, kTinySlackMib);
}

Status TinyBuilder::build(const std::string& tree, const std::string& scratch,
                          const BuildContext& ctx) {
  BANGER_TRY(sys::make_dirs(tree, 0755));
  BANGER_TRY(sys::make_dirs(scratch, 0700));
  BANGER_TRY_ASSIGN(auto packages, tiny_packages(recipe_, extra_, ctx));
  BANGER_TRY(check_cancel(ctx.cancel));

  // debpkg::download reports the "download" stage itself, in bytes.
  BANGER_TRY_ASSIGN(auto files, debpkg::download(ctx.runner, packages, scratch, ctx.progress));
  BANGER_TRY(check_cancel(ctx.cancel));
  std::int64_t done = 0;
  for (const auto& deb : files) {
    base::report(ctx.progress, {.stage = "extract",
                                .message = "unpacking " + debpkg::package_of_deb(deb),
                                .done = done++,
                                .total = static_cast<std::int64_t>(files.size())});
    BANGER_TRY(debpkg::extract_deb(deb, tree));
  }
  BANGER_TRY(check_cancel(ctx.cancel));

  base::report(ctx.progress,
               {.stage = "configure", .message = "writing the busybox init and /etc"});
  auto applets = sys::run_checked(ctx.runner, plan_busybox_applets(tree));
  if (!applets) {
    return tl::unexpected(with_context(applets.error(), "listing the busybox applets"));
  }
  return write_tiny_tree(tree, parse_applet_list(*applets));
}

std::uint64_t MmdebstrapBuilder::image_size_mib(std::uint64_t content_bytes) const {
  return imagecat::image_size_mib(content_bytes, kDebianMinMib, 0);
}

Status MmdebstrapBuilder::build(const std::string& tree, const std::string& /*scratch*/,
                                const BuildContext& ctx) {
  BANGER_TRY_ASSIGN(auto sources, host_apt_sources(sys::path_exists));
  auto command = plan_mmdebstrap(recipe_, packages_, tree, sources);
  base::report(ctx.progress,
               {.stage = "bootstrap",
                .message = fmt::format("mmdebstrap {} with the host's apt sources ({}); this "
                                       "takes a minute or two",
                                       recipe_.suite, sources)});
  auto out = sys::run_checked(ctx.runner, command);
  if (!out) {
    return tl::unexpected(with_context(out.error(), "running mmdebstrap"));
  }
  base::report(ctx.progress,
               {.stage = "configure",
                .message = "configuring sshd, first-boot host keys, Docker and the hook point"});
  BANGER_TRY(configure_debian_tree(tree));
  BANGER_TRY(prepare_guest_modules_dir(tree));
  return configure_docker(tree);
}

Expected<std::unique_ptr<RootfsBuilder>> make_builder(const Recipe& recipe,
                                                      const std::vector<std::string>& packages) {
  switch (recipe.kind) {
    case RecipeKind::tiny:
      return std::make_unique<TinyBuilder>(recipe, packages);
    case RecipeKind::mmdebstrap:
      return std::make_unique<MmdebstrapBuilder>(recipe, packages);
  }
  return fail(Errc::internal, "unknown recipe kind");
}

}  // namespace banger::imagecat
