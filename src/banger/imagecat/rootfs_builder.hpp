// RootfsBuilder: how an image's root filesystem tree is made. ImageService::build claims the
// name, asks a builder for the tree, then installs the agent, packs ext4, verifies and
// publishes, whatever the builder; a new image source (OCI) is a new builder, not new branches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/imagecat/ext4_guest_fs.hpp"
#include "banger/imagecat/recipes.hpp"
#include "banger/model/image.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::imagecat {

struct BuildContext {
  sys::CommandRunner& runner;
  const base::ProgressFn& progress;
  const base::CancelFn& cancel;
};

class RootfsBuilder {
 public:
  virtual ~RootfsBuilder() = default;
  // Host tools the builder runs (ImageService adds mkfs.ext4 and debugfs and checks them all
  // before anything is touched).
  virtual std::vector<std::string> required_tools() const = 0;
  // The init system of the tree it makes (decides how the agent is installed).
  virtual model::InitFlavour init_flavour() const = 0;
  // The ext4 image size for content_bytes of files.
  virtual std::uint64_t image_size_mib(std::uint64_t content_bytes) const = 0;
  // Creates tree (which must not exist) and fills it with a bootable root filesystem, using
  // scratch (created on demand; the caller removes it) for downloads. Reports progress and
  // returns cancelled when ctx.cancel says so; errors from the tools it runs.
  virtual Status build(const std::string& tree, const std::string& scratch,
                       const BuildContext& ctx) = 0;
  // Edits applied to the packed ext4 after `mkfs.ext4 -d` (what the tree could not hold:
  // owners, special files, xattrs). Valid after build(); none by default.
  virtual Expected<ext4::Ext4Edit> image_edits() const { return ext4::Ext4Edit{}; }
  // Called on the finished tree (after banger's agent went in), right before it is packed.
  virtual Status before_pack(const std::string& /*tree*/) { return {}; }
  // The guest path the packed image must have for it to boot (checked before publishing).
  virtual std::string init_path() const { return "/sbin/init"; }

  // Whether the builder writes the ext4 image itself (build_image) instead of a tree that
  // ImageService packs with mkfs.ext4 -d (build, before_pack, image_edits).
  virtual bool writes_image() const { return false; }
  // Makes the ext4 image at image (labelled label) and fills it with a bootable root
  // filesystem, using scratch like build(); returns it open so that ImageService adds the agent
  // before closing it. Same progress, cancel and error contract as build().
  virtual Expected<std::unique_ptr<Ext4GuestFs>> build_image(const std::string& /*image*/,
                                                             const std::string& /*label*/,
                                                             const std::string& /*scratch*/,
                                                             const BuildContext& /*ctx*/) {
    return fail(Errc::internal, "this image builder writes a tree, not an image");
  }
};

// busybox-static + dropbear (and its libraries) unpacked from the host's apt, a busybox init.
// Extra packages (--packages) are unpacked the same way with their shared-library closure:
// only library dependencies are followed (docs/images.md "tiny with --packages"); no
// maintainer scripts run.
class TinyBuilder final : public RootfsBuilder {
 public:
  explicit TinyBuilder(Recipe recipe, std::vector<std::string> extra_packages = {})
      : recipe_(std::move(recipe)), extra_(std::move(extra_packages)) {}
  std::vector<std::string> required_tools() const override { return {"apt-get"}; }
  model::InitFlavour init_flavour() const override { return model::InitFlavour::busybox; }
  std::uint64_t image_size_mib(std::uint64_t content_bytes) const override;
  Status build(const std::string& tree, const std::string& scratch,
               const BuildContext& ctx) override;

 private:
  Recipe recipe_;
  std::vector<std::string> extra_;
};

// A Debian suite through mmdebstrap with the host's apt sources, systemd init.
class MmdebstrapBuilder final : public RootfsBuilder {
 public:
  MmdebstrapBuilder(Recipe recipe, std::vector<std::string> packages)
      : recipe_(std::move(recipe)), packages_(std::move(packages)) {}
  std::vector<std::string> required_tools() const override { return {"mmdebstrap"}; }
  model::InitFlavour init_flavour() const override { return model::InitFlavour::systemd; }
  std::uint64_t image_size_mib(std::uint64_t content_bytes) const override;
  Status build(const std::string& tree, const std::string& scratch,
               const BuildContext& ctx) override;

 private:
  Recipe recipe_;
  std::vector<std::string> packages_;
};

// The builder for recipe with extra packages (validated by the caller).
Expected<std::unique_ptr<RootfsBuilder>> make_builder(const Recipe& recipe,
                                                      const std::vector<std::string>& packages);

}  // namespace banger::imagecat
