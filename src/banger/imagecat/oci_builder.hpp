// OciBuilder: the RootfsBuilder for `image pull <oci-ref>`. Resolves the reference to the
// linux/amd64 manifest, fetches the config and the layers (in parallel, through the shared
// blob cache), writes the layers straight into a new ext4 image (LayerFlattener, no staging
// tree) and adds banger's guest kit for images without systemd (ADR 0010): a static busybox
// under /usr/local/lib/banger/bin and banger's init, /usr/local/lib/banger/init. ImageService
// adds the agent and publishes the result like any other image.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "banger/imagecat/layer_flattener.hpp"
#include "banger/imagecat/manifest.hpp"
#include "banger/imagecat/rootfs_builder.hpp"
#include "banger/oci/manifest.hpp"
#include "banger/oci/reference.hpp"
#include "banger/oci/registry.hpp"

namespace banger::imagecat {

// Guest paths of the kit for images without systemd.
inline constexpr std::string_view kOciInitPath = "/usr/local/lib/banger/init";
inline constexpr std::string_view kOciBusyboxDir = "/usr/local/lib/banger/bin";

struct OciSource {
  oci::Reference reference;
  oci::RegistryOptions registry;
  std::string blob_cache_dir;  // <cache>/oci/blobs/sha256
  // Where the busybox of the kit is kept per busybox-static version ("" = not kept: every
  // pull of an image without systemd downloads the package).
  std::string kit_cache_dir;
  std::optional<std::uint64_t> size_mib;  // --size; else content x headroom, at least 1 GiB
  double headroom = 1.5;                  // config pull_size_headroom
  std::size_t parallel_layers = 4;
};

// The static busybox binary of the host apt's candidate busybox-static, from
// kit_cache_dir/busybox-static_<version>/busybox when an earlier pull kept it there, else
// downloaded and unpacked in scratch (and kept in kit_cache_dir when it is set). Errors of
// apt-cache, apt-get and the .deb extraction.
Expected<std::string> kit_busybox(sys::CommandRunner& runner, const std::string& scratch,
                                  const std::string& kit_cache_dir);

// What a pull found.
struct OciOrigin {
  OciRecord record;    // what manifest.json keeps (reference, digest, layers, config)
  std::string distro;  // ID from /etc/os-release, "unknown" without one
};

// The linux/amd64 image manifest of the client's reference (through an index when there is
// one) and its digest: what a pull builds and what says whether a pulled image is up to date.
struct ResolvedImage {
  oci::Manifest manifest;
  std::string digest;
};
Expected<ResolvedImage> resolve_image(oci::RegistryClient& client,
                                      const base::ProgressFn& progress);

// Pure: the ext4 size of a pulled image: size_mib (--size) when given, else content x headroom
// rounded up to a MiB, at least 1 GiB (S11).
std::uint64_t oci_image_size_mib(std::uint64_t content_bytes, std::optional<std::uint64_t> size_mib,
                                 double headroom);

// Pure: the inode count (mkfs.ext4 -N) a pulled image of paths paths and size_mib MiB needs:
// 0 when mkfs.ext4's default (one inode per 4 KiB under 512 MiB, per 16 KiB above) is enough,
// else paths + 25 % + 4096.
std::uint64_t oci_inode_count(std::size_t paths, std::uint64_t size_mib);

// Pure: banger's init for images without systemd (busybox sh as PID 1; the initramfs already
// configured the network from ip=): mounts /proc, /sys, /dev, /dev/pts, /run, /tmp, mounts the
// work disk on /root, copies the per-VM hostname/hosts/resolv.conf, runs the
// /etc/banger/init.d hooks (the agent), reaps orphans and powers off on SIGTERM.
std::string oci_init_script();

class OciBuilder final : public RootfsBuilder {
 public:
  explicit OciBuilder(OciSource source) : source_(std::move(source)) {}

  std::vector<std::string> required_tools() const override { return {"apt-get"}; }
  // systemd when the pulled tree has it, else banger's init (busybox flavour hooks).
  model::InitFlavour init_flavour() const override { return flavour_; }
  std::uint64_t image_size_mib(std::uint64_t content_bytes) const override;
  // Pulled images are written straight into ext4 (LayerFlattener::write): no tree.
  bool writes_image() const override { return true; }
  Status build(const std::string& /*tree*/, const std::string& /*scratch*/,
               const BuildContext& /*ctx*/) override {
    return fail(Errc::internal, "pulled images are written straight into ext4");
  }
  Expected<std::unique_ptr<Ext4GuestFs>> build_image(const std::string& image,
                                                     const std::string& label,
                                                     const std::string& scratch,
                                                     const BuildContext& ctx) override;
  std::string init_path() const override;

  // Valid after build().
  const OciOrigin& origin() const { return origin_; }
  // The kernel command line addition the image needs ("init=/usr/local/lib/banger/init").
  std::string extra_kernel_args() const;

 private:
  // The linux/amd64 image manifest of the reference (through an index when there is one).
  Expected<oci::Manifest> resolve(oci::RegistryClient& client, const BuildContext& ctx);
  // Every layer in the blob cache; returns their paths, oldest first.
  Expected<std::vector<std::string>> fetch_layers(oci::RegistryClient& client,
                                                  const oci::Manifest& manifest,
                                                  const BuildContext& ctx);
  // busybox and banger's init for images without systemd.
  Status install_kit(GuestFs& guest, const std::string& scratch, const BuildContext& ctx);

  OciSource source_;
  OciOrigin origin_;
  model::InitFlavour flavour_ = model::InitFlavour::busybox;
};

}  // namespace banger::imagecat
