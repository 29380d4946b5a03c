// `banger kernel ...`: pull, build, import, bundle, list, show, rm (RPC kernel.*).
#include <fmt/format.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/api/kernel.hpp"
#include "banger/cli/bundle_command.hpp"
#include "banger/cli/command.hpp"
#include "banger/config/size.hpp"

namespace banger::cli {
namespace {

// "2026-11-28T03:48:41Z" -> "2026-11-28 03:48".
std::string short_time(const std::string& rfc3339) {
  if (rfc3339.size() < 16) {
    return rfc3339;
  }
  return rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 5);
}

std::string size_text(std::int64_t bytes) {
  return config::format_size_mib((bytes + 1024 * 1024 - 1) / (1024 * 1024));
}

void print_kernel(Context& ctx, const api::KernelInfo& k) {
  Table table{{"name:", k.name},
              {{"distro:", k.distro},
               {"arch:", k.arch},
               {"version:", k.version.empty() ? "-" : k.version},
               {"source:", k.source},
               {"vmlinux:", k.vmlinux_path},
               {"initrd:", k.initrd_path.empty() ? "-" : k.initrd_path},
               {"sha256:", k.sha256},
               {"size:", size_text(k.size_bytes)},
               {"imported:", k.imported_at}}};
  ctx.printer.out(render_table(table));
}

class KernelPullCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("name", request_.name, "catalog entry (see `banger kernel list --available`)")
        ->required();
    app.add_flag("--force", request_.force, "rebuild even when the stored kernel is up to date");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto pulled = call_with_progress<api::KernelPull>(ctx, request_);
    if (!pulled) {
      return report_error(ctx, pulled.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*pulled));
    } else if (pulled->up_to_date) {
      ctx.printer.out(fmt::format("kernel {} is up to date ({}); use --force to rebuild\n",
                                  pulled->kernel.name, pulled->kernel.version));
    } else {
      ctx.printer.out(fmt::format("pulled kernel {} ({}, {})\n", pulled->kernel.name,
                                  pulled->kernel.version, size_text(pulled->kernel.size_bytes)));
    }
    return 0;
  }

 private:
  api::KernelPull::Request request_;
  bool json_ = false;
};

// `kernel build <name> [--from debian-source|TARBALL] [--config firecracker|FILE] [--jobs N]`.
class KernelBuildCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("name", request_.name, "name of the kernel to build")->required();
    app.add_option("--from", request_.from,
                   "debian-source (the host archive's linux-source) or a Linux source tarball")
        ->capture_default_str();
    app.add_option("--config", request_.config,
                   "firecracker (Firecracker's guest config) or a kernel config file; banger's "
                   "additions are applied on top")
        ->capture_default_str();
    app.add_option("-j,--jobs", request_.jobs, "parallel compile jobs (default: one per CPU)")
        ->check(CLI::Range(1, 256));
    app.add_flag("--force", request_.force,
                 "compile again even when cached; replace a kernel of that name");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    if (request_.from != "debian-source") {
      request_.from = absolute_path(request_.from);
    }
    if (request_.config != "firecracker") {
      request_.config = absolute_path(request_.config);
    }
    auto built = call_with_progress<api::KernelBuild>(ctx, request_);
    if (!built) {
      return report_error(ctx, built.error());
    }
    const auto& k = built->kernel;
    if (json_) {
      print_json(ctx, api::to_json_value(*built));
    } else if (built->up_to_date) {
      ctx.printer.out(
          fmt::format("kernel {} is up to date ({}); use --force to rebuild\n", k.name, k.version));
    } else {
      ctx.printer.out(fmt::format("built kernel {} ({}, {}{})\n", k.name, k.version,
                                  size_text(k.size_bytes),
                                  built->from_cache ? ", from the build cache" : ""));
    }
    return 0;
  }

 private:
  api::KernelBuild::Request request_;
  bool json_ = false;
};

// `kernel import <name> --from DIR` or `kernel import <bundle.tar.zst> [--name N] [--force]`.
class KernelImportCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("target", target_,
                   "with --from: the kernel name; otherwise a kernel bundle (.tar.zst)")
        ->required();
    app.add_option("--from", request_.from, "directory holding vmlinux [and initrd.img]");
    app.add_option("--name", request_.name, "bundle only: kernel name (default: the bundle's)");
    app.add_flag("--force", request_.force, "bundle only: replace a kernel of that name");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    if (!request_.from.empty()) {
      if (!request_.name.empty()) {
        ctx.printer.err("banger: kernel import NAME --from DIR takes no --name\n");
        return 2;
      }
      request_.name = target_;
      request_.from = absolute_path(request_.from);
    } else {
      request_.bundle = absolute_path(target_);
    }
    auto imported = call_with_progress<api::KernelImport>(ctx, request_);
    if (!imported) {
      return report_error(ctx, imported.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(imported->kernel));
    } else {
      ctx.printer.out(fmt::format(
          "imported kernel {} ({})\n", imported->kernel.name,
          imported->kernel.version.empty() ? "unknown version" : imported->kernel.version));
    }
    return 0;
  }

 private:
  std::string target_;
  api::KernelImport::Request request_;
  bool json_ = false;
};

class KernelBundleCommand final : public BundleCommand<api::KernelBundle> {
 public:
  KernelBundleCommand() : BundleCommand("kernel") {}
};

class KernelListCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_flag("--available", request_.available,
                 "list the catalog entries `kernel pull` can make instead");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto listed = call_daemon<api::KernelList>(ctx, request_);
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    if (request_.available) {
      if (json_) {
        print_json(ctx, api::to_json_value(listed->available));
        return 0;
      }
      Table table{{"NAME", "DISTRO", "ARCH", "PULLED", "DESCRIPTION"}, {}};
      for (const auto& e : listed->available) {
        table.rows.push_back({e.name, e.distro, e.arch, e.pulled ? "yes" : "no", e.description});
      }
      ctx.printer.out(render_table(table));
      return 0;
    }
    if (json_) {
      print_json(ctx, api::to_json_value(listed->kernels));
      return 0;
    }
    Table table{{"NAME", "VERSION", "DISTRO", "SIZE", "INITRD", "IMPORTED"}, {}};
    for (const auto& k : listed->kernels) {
      table.rows.push_back({k.name, k.version.empty() ? "-" : k.version, k.distro,
                            size_text(k.size_bytes), k.initrd_path.empty() ? "no" : "yes",
                            short_time(k.imported_at)});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  api::KernelList::Request request_;
  bool json_ = false;
};

class KernelShowCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("name", request_.name, "kernel name")->required();
    app.add_flag("--verify", request_.verify, "re-hash the files and compare with the manifest");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto shown = call_daemon<api::KernelShow>(ctx, request_);
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(shown->kernel));
      return 0;
    }
    print_kernel(ctx, shown->kernel);
    if (shown->verified) {
      ctx.printer.out("verified: sha256 matches\n");
    }
    return 0;
  }

 private:
  api::KernelShow::Request request_;
  bool json_ = false;
};

class KernelDeleteCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("name", request_.name, "kernel name")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto deleted = call_daemon<api::KernelDelete>(ctx, request_);
    if (!deleted) {
      return report_error(ctx, deleted.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*deleted));
    } else {
      ctx.printer.out("deleted kernel " + deleted->deleted + "\n");
    }
    return 0;
  }

 private:
  api::KernelDelete::Request request_;
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> kernel_commands() {
  return {
      {{"kernel", "pull"},
       "pull a kernel from the catalog (a bundle of catalog_url, or built from the host's Debian "
       "archive)",
       "  banger kernel pull debian-cloud\n  banger kernel pull debian-cloud --force",
       {},
       factory<KernelPullCommand>()},
      {{"kernel", "build"},
       "build a kernel with every driver built in (Debian's linux-source and Firecracker's guest "
       "config; minutes)",
       "  banger kernel build fc-6.1\n  banger kernel build fc-6.1 --jobs 2\n"
       "  banger kernel build my-6.6 --from ./linux-6.6.tar.xz --config ./my.config",
       {},
       factory<KernelBuildCommand>()},
      {{"kernel", "import"},
       "import vmlinux [and initrd.img] from a directory, or a kernel bundle",
       "  banger kernel import my-kernel --from ./out\n"
       "  banger kernel import ./fc-6.1-x86_64-0123456789ab.tar.zst",
       {},
       factory<KernelImportCommand>()},
      {{"kernel", "bundle"},
       "write a kernel as a bundle (.tar.zst) and its catalog entry",
       "  banger kernel bundle debian-cloud -o /srv/banger --catalog /srv/banger/catalog.json",
       {},
       factory<KernelBundleCommand>()},
      {{"kernel", "list"},
       "list stored kernels (or the catalog with --available)",
       "  banger kernel list\n  banger kernel list --available\n  banger kernel list --json",
       {"ls"},
       factory<KernelListCommand>()},
      {{"kernel", "show"},
       "show one kernel",
       "  banger kernel show debian-cloud\n  banger kernel show debian-cloud --verify --json",
       {},
       factory<KernelShowCommand>()},
      {{"kernel", "rm"},
       "delete a kernel no image or VM uses",
       "  banger kernel rm my-kernel",
       {"delete"},
       factory<KernelDeleteCommand>()},
  };
}

}  // namespace banger::cli
