// `banger image ...`: build, pull, register, promote, list, show, delete (RPC image.*).
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "banger/api/image.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/base/strings.hpp"
#include "banger/cli/bundle_command.hpp"
#include "banger/cli/command.hpp"
#include "banger/config/size.hpp"
#include "banger/model/image.hpp"
#include "banger/oci/auth.hpp"
#include "banger/oci/reference.hpp"
#include "banger/sys/fs.hpp"

namespace banger::cli {
namespace {

constexpr int kUsageError = 2;

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

void print_image(Context& ctx, const api::ImageInfo& image) {
  std::vector<std::string> command = image.entrypoint;
  command.insert(command.end(), image.cmd.begin(), image.cmd.end());
  Table table{{"name:", image.name},
              {{"distro:", image.distro},
               {"init:", image.init_flavour},
               {"kernel:", image.kernel.empty() ? "-" : image.kernel},
               {"kernel args:", image.extra_kernel_args.empty() ? "-" : image.extra_kernel_args},
               {"managed:", image.managed ? "yes" : "no (registered)"},
               {"ssh:", image.ssh ? "yes" : "no (reached through the agent: vm exec -it)"},
               {"rootfs:", image.rootfs_path},
               {"size:", size_text(image.size_bytes)},
               {"created:", image.created_at},
               {"source:", image.source.empty() ? "-" : image.source}}};
  if (!command.empty()) {
    // Recorded, not run (a VM is a machine): shown so users can run it themselves.
    table.rows.push_back({"entrypoint:", base::join(command, " ") + "  (not run by banger)"});
  }
  ctx.printer.out(render_table(table));
}

class ImageBuildCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("recipe", request_.recipe, "recipe: tiny or debian-bookworm")->required();
    app.add_option("--name", request_.name, "image name (default: the recipe name)");
    app.add_option("--packages", packages_,
                   "extra Debian packages, comma-separated (tiny: each with its shared "
                   "libraries, e.g. git)");
    app.add_flag("--force", request_.force, "rebuild an existing image of that name");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    for (const auto& part : base::split(packages_, ',')) {
      std::string package(base::trim(part));
      if (!package.empty()) {
        request_.packages.push_back(package);
      }
    }
    if (!request_.name.empty()) {
      if (auto valid = model::validate_image_name(request_.name); !valid) {
        return report_error(ctx, valid.error());
      }
    }
    auto built = call_with_progress<api::ImageBuild>(ctx, request_);
    if (!built) {
      return report_error(ctx, built.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(built->image));
    } else {
      const auto& image = built->image;
      ctx.printer.out(fmt::format("built image {} ({}, {} init, kernel {}, {})\n", image.name,
                                  image.distro, image.init_flavour, image.kernel,
                                  size_text(image.size_bytes)));
    }
    return 0;
  }

 private:
  api::ImageBuild::Request request_;
  std::string packages_;
  bool json_ = false;
};

// The registry credentials for reference: --username with --password-stdin, else the entry of
// ~/.docker/config.json ($DOCKER_CONFIG/config.json), else none (anonymous). The CLI reads
// them so the daemon never reads the user's files; they travel over the 0600 socket.
Expected<std::optional<oci::Credentials>> pull_credentials(const std::string& reference,
                                                           const std::string& username,
                                                           bool password_stdin, std::istream& in) {
  if (password_stdin) {
    if (username.empty()) {
      return fail(Errc::invalid_argument, "--password-stdin needs --username");
    }
    std::string password((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
      password.pop_back();
    }
    return std::optional<oci::Credentials>{{.username = username, .password = password}};
  }
  if (!username.empty()) {
    return fail(Errc::invalid_argument,
                "--username needs --password-stdin (passwords are never taken as arguments)");
  }
  auto ref = oci::parse_reference(reference);
  if (!ref) {
    return std::optional<oci::Credentials>{};  // a catalog name, or an error the daemon names
  }
  std::string path;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
    path = std::string(dir) + "/config.json";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    path = std::string(home) + "/.docker/config.json";
  }
  if (path.empty() || !sys::path_exists(path)) {
    return std::optional<oci::Credentials>{};
  }
  BANGER_TRY_ASSIGN(auto text, sys::read_file(path));
  auto creds = oci::docker_config_credentials(text, oci::docker_config_key(*ref));
  if (!creds) {
    return tl::unexpected(with_context(creds.error(), path));
  }
  return creds;
}

class ImagePullCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("reference", request_.reference,
                   "image reference: debian:bookworm, ghcr.io/acme/app:v1, ...@sha256:...")
        ->required();
    app.add_option("--name", request_.name,
                   "image name (default: from the reference, debian:bookworm -> debian-bookworm)");
    app.add_option("--kernel", request_.kernel, "kernel to boot it with (default: debian-cloud)");
    app.add_option("--platform", request_.platform, "only linux/amd64 is supported");
    app.add_option("--size", request_.size,
                   "root filesystem size (default: content x 1.5, at least 1 GiB), e.g. 4G");
    app.add_option("--username", username_, "registry user (with --password-stdin)");
    app.add_flag("--password-stdin", password_stdin_, "read the registry password from stdin");
    app.add_flag("--force", request_.force, "replace an existing image of that name");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    if (!request_.name.empty()) {
      if (auto valid = model::validate_image_name(request_.name); !valid) {
        return report_error(ctx, valid.error());
      }
    }
    auto creds = pull_credentials(request_.reference, username_, password_stdin_, std::cin);
    if (!creds) {
      return report_error(ctx, creds.error());
    }
    if (*creds) {
      request_.username = (*creds)->username;
      request_.password = (*creds)->password;
      request_.credentials_from_flags = password_stdin_;
    }
    auto pulled = call_with_progress<api::ImagePull>(ctx, request_);
    if (!pulled) {
      return report_error(ctx, pulled.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*pulled));
    } else if (pulled->up_to_date) {
      ctx.printer.out(fmt::format("image {} is up to date ({}@{}); use --force to rebuild it\n",
                                  pulled->image.name, pulled->reference, pulled->digest));
    } else {
      const auto& image = pulled->image;
      ctx.printer.out(fmt::format("pulled {} as image {} ({}, {} init, kernel {}, {})\n",
                                  pulled->reference, image.name, image.distro, image.init_flavour,
                                  image.kernel, size_text(image.size_bytes)));
    }
    return 0;
  }

 private:
  api::ImagePull::Request request_;
  std::string username_;
  bool password_stdin_ = false;
  bool json_ = false;
};

class ImageRegisterCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("--name", request_.name, "image name")->required();
    app.add_option("--rootfs", request_.rootfs, "ext4 root filesystem image (left in place)")
        ->required();
    auto* kernel = app.add_option("--kernel", request_.kernel, "vmlinux to boot it with");
    app.add_option("--initrd", request_.initrd, "initramfs for --kernel")->needs(kernel);
    auto* ref = app.add_option("--kernel-ref", request_.kernel_ref, "an existing kernel's name");
    kernel->excludes(ref);
    app.add_option("--distro", request_.distro, "distribution label (default: unknown)");
    app.add_option("--init", request_.init_flavour, "init flavour: systemd (default) or busybox");
    app.add_option("--kernel-args", request_.extra_kernel_args,
                   "extra kernel command line arguments");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    if (request_.kernel.empty() && request_.kernel_ref.empty()) {
      ctx.printer.err("banger: image register needs --kernel PATH or --kernel-ref NAME\n");
      return kUsageError;
    }
    // Paths are resolved here: the daemon does not share the CLI's working directory.
    for (std::string* path : {&request_.rootfs, &request_.kernel, &request_.initrd}) {
      if (!path->empty()) {
        std::error_code ec;
        auto absolute = std::filesystem::absolute(*path, ec);
        if (!ec) {
          *path = absolute.lexically_normal().string();
        }
      }
    }
    auto registered = call_daemon<api::ImageRegister>(ctx, request_);
    if (!registered) {
      return report_error(ctx, registered.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(registered->image));
    } else {
      ctx.printer.out(fmt::format("registered image {} ({})\n", registered->image.name,
                                  registered->image.rootfs_path));
    }
    return 0;
  }

 private:
  api::ImageRegister::Request request_;
  bool json_ = false;
};

class ImagePromoteCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("image", request_.name, "image name")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto promoted = call_daemon<api::ImagePromote>(ctx, request_);
    if (!promoted) {
      return report_error(ctx, promoted.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(promoted->image));
    } else {
      ctx.printer.out(fmt::format("promoted image {}: now managed at {}\n", promoted->image.name,
                                  promoted->image.rootfs_path));
    }
    return 0;
  }

 private:
  api::ImagePromote::Request request_;
  bool json_ = false;
};

class ImageListCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_flag("--available", available_,
                 "list what `image pull <name>` can make: the embedded recipes and the bundles "
                 "of catalog_url");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override { return available_ ? list_available(ctx) : list_stored(ctx); }

 private:
  int list_stored(Context& ctx) {
    auto listed = call_daemon<api::ImageList>(ctx, {});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(listed->images));
      return 0;
    }
    Table table{{"NAME", "DISTRO", "INIT", "KERNEL", "SIZE", "MANAGED", "CREATED"}, {}};
    for (const auto& image : listed->images) {
      table.rows.push_back({image.name, image.distro, image.init_flavour,
                            image.kernel.empty() ? "-" : image.kernel, size_text(image.size_bytes),
                            image.managed ? "yes" : "no", short_time(image.created_at)});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }
  int list_available(Context& ctx) {
    auto listed = call_daemon<api::ImageCatalog>(ctx, {});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(listed->entries));
      return 0;
    }
    Table table{{"NAME", "KIND", "DISTRO", "KERNEL", "DOWNLOAD", "STATE", "DESCRIPTION"}, {}};
    for (const auto& e : listed->entries) {
      std::string download = e.kind == "bundle" ? size_text(static_cast<std::int64_t>(e.size))
                                                : std::string("- (built locally)");
      table.rows.push_back({e.name, e.kind, e.distro, e.kernel.empty() ? "-" : e.kernel, download,
                            e.pulled ? "pulled" : "available",
                            e.description.empty() ? "-" : e.description});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

  bool available_ = false;
  bool json_ = false;
};

class ImageBundleCommand final : public BundleCommand<api::ImageBundle> {
 public:
  ImageBundleCommand() : BundleCommand("image") {}
};

class ImageImportCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("bundle", request_.path, "a bundle (.tar.zst) written by `image bundle`")
        ->required();
    app.add_option("--name", request_.name, "image name (default: the bundle's)");
    app.add_option("--kernel", request_.kernel, "kernel to boot it with (default: the bundle's)");
    app.add_flag("--force", request_.force, "replace an existing image of that name");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    request_.path = absolute_path(request_.path);
    auto imported = call_with_progress<api::ImageImport>(ctx, request_);
    if (!imported) {
      return report_error(ctx, imported.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(imported->image));
    } else {
      const auto& image = imported->image;
      ctx.printer.out(fmt::format("imported image {} ({}, {} init, kernel {}, {})\n", image.name,
                                  image.distro, image.init_flavour, image.kernel,
                                  size_text(image.size_bytes)));
    }
    return 0;
  }

 private:
  api::ImageImport::Request request_;
  bool json_ = false;
};

std::string short_digest(const std::string& digest) {
  return digest.substr(0, std::string_view("sha256:").size() + 12);
}

class ImageCacheListCommand final : public Command {
 public:
  void declare(CLI::App& app) override { app.add_flag("--json", json_, "print JSON"); }
  int run(Context& ctx) override {
    auto listed = call_daemon<api::ImageCacheList>(ctx, {});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*listed));
      return 0;
    }
    Table table{{"DIGEST", "SIZE", "DOWNLOADED", "IMAGES"}, {}};
    for (const auto& blob : listed->blobs) {
      table.rows.push_back({short_digest(blob.digest), size_text(blob.size_bytes),
                            short_time(blob.downloaded_at),
                            blob.images.empty() ? "- (unused)" : base::join(blob.images, ", ")});
    }
    ctx.printer.out(render_table(table));
    ctx.printer.out(
        fmt::format("{} blobs, {}\n", listed->blobs.size(), size_text(listed->total_bytes)));
    return 0;
  }

 private:
  bool json_ = false;
};

class ImageCachePruneCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_flag("--dry-run", request_.dry_run, "list what would be removed, remove nothing");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto pruned = call_daemon<api::ImageCachePrune>(ctx, request_);
    if (!pruned) {
      return report_error(ctx, pruned.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*pruned));
      return 0;
    }
    for (const auto& blob : pruned->removed) {
      ctx.printer.out(fmt::format("{} {} ({})\n", pruned->dry_run ? "would remove" : "removed",
                                  blob.digest, size_text(blob.size_bytes)));
    }
    ctx.printer.out(fmt::format("{} {} blobs, {}\n", pruned->dry_run ? "would free" : "freed",
                                pruned->removed.size(), size_text(pruned->freed_bytes)));
    return 0;
  }

 private:
  api::ImageCachePrune::Request request_;
  bool json_ = false;
};

class ImageShowCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("image", request_.name, "image name")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto shown = call_daemon<api::ImageShow>(ctx, request_);
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(shown->image));
    } else {
      print_image(ctx, shown->image);
    }
    return 0;
  }

 private:
  api::ImageShow::Request request_;
  bool json_ = false;
};

class ImageDeleteCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("image", request_.name, "image name")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto deleted = call_daemon<api::ImageDelete>(ctx, request_);
    if (!deleted) {
      return report_error(ctx, deleted.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*deleted));
    } else {
      ctx.printer.out("deleted image " + deleted->deleted + "\n");
    }
    return 0;
  }

 private:
  api::ImageDelete::Request request_;
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> image_commands() {
  return {
      {{"image", "build"},
       "build an image from a recipe (tiny, debian-bookworm)",
       "  banger image build tiny\n"
       "  banger image build debian-bookworm --packages htop,ripgrep\n"
       "  banger image build tiny --name tiny2 --force --json",
       {},
       factory<ImageBuildCommand>()},
      {{"image", "pull"},
       "pull an OCI/Docker image from a registry and make it bootable",
       "  banger image pull debian:bookworm\n"
       "  banger image pull python:3.12 --name py --size 4G\n"
       "  echo \"$TOKEN\" | banger image pull ghcr.io/acme/runner:v1 --username me "
       "--password-stdin",
       {},
       factory<ImagePullCommand>()},
      {{"image", "bundle"},
       "write an image as a bundle (.tar.zst) and its catalog entry, for any static web server",
       "  banger image bundle tiny -o /srv/banger --catalog /srv/banger/catalog.json\n"
       "  banger image bundle team-dev --json",
       {},
       factory<ImageBundleCommand>()},
      {{"image", "import"},
       "install an image bundle from a local file",
       "  banger image import ./tiny-x86_64-0123456789ab.tar.zst\n"
       "  banger image import ./team.tar.zst --name team2 --kernel debian-cloud",
       {},
       factory<ImageImportCommand>()},
      {{"image", "cache", "list"},
       "list the blobs image pull cached, with the images using them",
       "  banger image cache list\n  banger image cache list --json",
       {"ls"},
       factory<ImageCacheListCommand>()},
      {{"image", "cache", "prune"},
       "remove cached blobs no image uses",
       "  banger image cache prune --dry-run\n  banger image cache prune",
       {},
       factory<ImageCachePruneCommand>()},
      {{"image", "register"},
       "record an existing ext4 rootfs as an image (files stay where they are)",
       "  banger image register --name mine --rootfs ./rootfs.ext4 --kernel-ref debian-cloud\n"
       "  banger image register --name mine --rootfs ./r.ext4 --kernel ./vmlinux --initrd ./i.img",
       {},
       factory<ImageRegisterCommand>()},
      {{"image", "promote"},
       "copy a registered image into banger's store (managed)",
       "  banger image promote mine",
       {},
       factory<ImagePromoteCommand>()},
      {{"image", "list"},
       "list images",
       "  banger image list\n  banger image list --available\n  banger image list --json",
       {"ls"},
       factory<ImageListCommand>()},
      {{"image", "show"},
       "show one image",
       "  banger image show tiny\n  banger image show tiny --json",
       {},
       factory<ImageShowCommand>()},
      {{"image", "delete"},
       "delete an image (refused while a VM uses it)",
       "  banger image delete tiny",
       {"rm"},
       factory<ImageDeleteCommand>()},
  };
}

}  // namespace banger::cli
