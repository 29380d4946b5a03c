// ImageService (S11, local part): the image store under paths.images_dir, the recipe
// builders (tiny, debian-bookworm), register/promote/list/show/remove and startup reconcile.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"
#include "banger/base/progress.hpp"
#include "banger/imagecat/recipes.hpp"
#include "banger/model/image.hpp"
#include "banger/paths/paths.hpp"
#include "banger/store/image_repository.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::imagecat {

struct BuildSpec {
  std::string recipe;                 // "tiny", "debian-bookworm"
  std::string name;                   // "" = the recipe name
  std::vector<std::string> packages;  // extra packages (debian recipes only)
  bool force = false;                 // replace an existing image of that name
};

struct RegisterSpec {
  std::string name;
  std::string rootfs_path;  // an existing ext4 image, left where it is (unmanaged)
  std::string kernel_path;  // a vmlinux to register as kernel "<name>" ...
  std::string initrd_path;  // ... with this optional initrd
  std::string kernel_ref;   // ... or an existing kernel's name (exactly one of the two)
  std::string distro;       // "" = "unknown"
  model::InitFlavour init_flavour = model::InitFlavour::systemd;
  std::string extra_kernel_args;
};

struct ImageServiceDeps {
  store::ImageRepository& images;
  sys::CommandRunner& runner;
  const paths::Paths& paths;
  base::Clock& clock;
  // Names of the VMs whose image is the given name (remove/--force refuse while any exist);
  // its error (e.g. the store's) is returned by them as is.
  std::function<Expected<std::vector<std::string>>(const std::string& image)> users_of;
  // Registers the kernel files of `image register --kernel` as a kernel named after the image
  // and returns the kernel's name; errors pass through.
  std::function<Expected<std::string>(const std::string& name, const std::string& vmlinux,
                                      const std::string& initrd)>
      register_kernel;
  // PATH lookup for host tools (sys::find_executable in production).
  std::function<std::string(const std::string&)> find_tool;
  // The static banger-agent binary built images get (S8); see locate_agent_binary().
  std::string agent_binary;
};

// Owns: the image records (store::ImageRepository) and everything under paths.images_dir:
//   images/<name>/{rootfs.ext4,manifest.json} (managed), images/<name>.staging/ (a build or
//   removal in progress; never a live image) and images.trash/.
// Does not own: kernels (only referenced by name), the rootfs files of unmanaged images,
//   VMs (asked through users_of).
// Thread-safety: every method may be called concurrently. Operations that change an image
//   (build, register, promote, remove) hold that name while they run; a second one on the
//   same name fails with failed_precondition instead of waiting.
class ImageService {
 public:
  explicit ImageService(ImageServiceDeps deps);

  // Builds spec.recipe into images/<name>.staging, renames it to images/<name> and records it.
  // Errors: not_found for an unknown recipe (listing the recipes) or a missing host tool
  // (naming the package); invalid_argument for a bad name or package name, or --packages with
  // the tiny recipe; already_exists unless force; failed_precondition while the name is busy
  // or (with force) a VM uses the old image; unavailable when cancelled; command_failed/io
  // from the tools. On any failure the staging directory is removed and nothing is recorded.
  Expected<model::Image> build(const BuildSpec& spec, const base::ProgressFn& progress = {},
                               const base::CancelFn& cancel = {});

  // Records an existing rootfs as an unmanaged image (the file stays where it is). Errors:
  // invalid_argument (name, relative path, neither or both of kernel_path/kernel_ref),
  // not_found (rootfs or kernel file missing), already_exists; register_kernel's errors.
  Expected<model::Image> register_image(const RegisterSpec& spec);

  // Makes an unmanaged image managed: copies its rootfs (sparse) into images/<name>/ with a
  // manifest and points the record there; the original file is left alone. Errors: not_found,
  // failed_precondition when it is already managed or busy, io/command_failed from the copy.
  Expected<model::Image> promote(const std::string& name);

  // Every image, ordered by name.
  Expected<std::vector<model::Image>> list();

  // One image; not_found `image "x" not found`.
  Expected<model::Image> show(const std::string& name);

  // Deletes the record and, for managed images, images/<name>/. failed_precondition
  // `image "x" is used by vm a, b: delete those vms first` while VMs use it; not_found.
  Status remove(const std::string& name);

  // At daemon start: removes leftover images/*.staging and images.trash/ contents, drops
  // managed records whose rootfs is gone, re-registers published images/<name>/ directories
  // that have a valid manifest but no record (a crash between rename and record) and moves
  // other unknown directories to the trash. Logs what it did; errors only for store failures.
  Status reconcile();

 private:
  // Holds an image name for one changing operation; releases it when destroyed.
  class NameClaim {
   public:
    NameClaim(base::Guarded<std::set<std::string>>& busy, std::string name)
        : busy_(&busy), name_(std::move(name)) {}
    NameClaim(NameClaim&& other) noexcept
        : busy_(std::exchange(other.busy_, nullptr)), name_(std::move(other.name_)) {}
    NameClaim(const NameClaim&) = delete;
    NameClaim& operator=(const NameClaim&) = delete;
    NameClaim& operator=(NameClaim&&) = delete;
    ~NameClaim();

   private:
    base::Guarded<std::set<std::string>>* busy_;
    std::string name_;
  };

  Expected<NameClaim> claim(const std::string& name);
  std::string image_dir(const std::string& name) const;
  std::string staging_dir(const std::string& name) const;
  std::string trash_dir() const;
  Status move_to_trash(const std::string& path);
  Status build_tiny(const std::string& tree, const base::ProgressFn& progress,
                    const base::CancelFn& cancel);
  Status build_debian(const Recipe& recipe, const std::vector<std::string>& packages,
                      const std::string& tree, const base::ProgressFn& progress);

  ImageServiceDeps deps_;
  base::Guarded<std::set<std::string>> busy_;
};

}  // namespace banger::imagecat
