#include "banger/imagecat/oci_builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "banger/agentproto/image_env.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/imagecat/guest_tree.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/oci/blob_cache.hpp"
#include "banger/sys/fs.hpp"

namespace banger::imagecat {
namespace {

// How often a layer download reports its bytes (as debpkg's downloads do).
constexpr auto kProgressEvery = std::chrono::milliseconds(100);
// Pulled images are at least 1 GiB (S11).
constexpr std::uint64_t kOciMinMib = 1024;
// What banger adds to a pulled image (agent, busybox, init, config), counted into its content.
constexpr std::uint64_t kAdditionsBytes = 16ULL * 1024 * 1024;

constexpr std::string_view kOciInit = R"BANGER(#!/usr/local/lib/banger/bin/sh
# banger init for pulled OCI images (busybox sh, PID 1). Written by `banger image pull`.
# The banger initramfs configured eth0 from ip= before switching to this root.
export PATH=/usr/local/lib/banger/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
for d in /proc /sys /dev /run /tmp /root; do
  [ -d "$d" ] || mkdir -p "$d"
done
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -o remount,rw / 2>/dev/null
ip link set lo up
if [ -b /dev/vdb ]; then
  mount -t ext4 /dev/vdb /root || echo "banger-init: mounting /dev/vdb on /root failed"
fi
# Per-VM configuration written by the daemon onto the work disk (docs/guest-config.md).
for f in hostname hosts resolv.conf; do
  if [ -f "/root/.banger/etc/$f" ]; then
    rm -f "/etc/$f"
    cp "/root/.banger/etc/$f" "/etc/$f"
  fi
done
hostname -F /etc/hostname 2>/dev/null
for hook in /etc/banger/init.d/*; do
  if [ -x "$hook" ]; then
    "$hook" || echo "banger-init: $hook failed ($?)"
  fi
done
echo "banger-init: ready"
trap 'echo "banger-init: powering off"; kill -TERM -1; sleep 1; sync; poweroff -f' TERM
trap '' HUP INT
# PID 1 reaps orphans: wait returns whenever a child exits.
while true; do
  sleep 3600 &
  wait
done
)BANGER";

// The applets banger's init and agent sessions rely on (linked in kOciBusyboxDir).
constexpr std::string_view kKitApplets[] = {"sh",       "mount", "mkdir", "ip",     "hostname",
                                            "cp",       "rm",    "sleep", "kill",   "sync",
                                            "poweroff", "cat",   "tar",   "umount", "chmod"};

Status check_cancel(const base::CancelFn& cancel) {
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "image pull cancelled");
  }
  return {};
}

std::string short_digest(const std::string& digest) {
  return digest.substr(std::string_view("sha256:").size(), 12);
}

// ID= of /etc/os-release (or /usr/lib/os-release) in the image.
std::string distro_of(GuestFs& tree) {
  for (std::string_view path : {"/etc/os-release", "/usr/lib/os-release"}) {
    auto text = tree.read_file(path);
    if (!text) {
      continue;
    }
    for (const auto& line : base::split(*text, '\n')) {
      if (line.starts_with("ID=")) {
        std::string id = line.substr(3);
        id.erase(std::remove(id.begin(), id.end(), '"'), id.end());
        bool plain =
            !id.empty() && id.size() <= 32 && std::all_of(id.begin(), id.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                     c == '.';
            });
        return plain ? id : "unknown";
      }
    }
  }
  return "unknown";
}

}  // namespace

std::uint64_t oci_inode_count(std::size_t paths, std::uint64_t size_mib) {
  // mkfs.ext4 (mke2fs.conf) gives a "small" filesystem, under 512 MiB, one inode per 4 KiB and
  // a larger one one per 16 KiB; an image of many small files needs more (its paths, banger's
  // additions and room for the guest to add files).
  const std::uint64_t bytes_per_inode = size_mib < 512 ? 4096 : 16384;
  const std::uint64_t by_size = size_mib * 1024 * 1024 / bytes_per_inode;
  const std::uint64_t needed = paths + paths / 4 + 4096;
  return needed > by_size ? needed : 0;
}

std::string oci_init_script() { return std::string(kOciInit); }

std::uint64_t oci_image_size_mib(std::uint64_t content_bytes, std::optional<std::uint64_t> size_mib,
                                 double headroom) {
  if (size_mib) {
    return *size_mib;
  }
  constexpr double kMib = 1024.0 * 1024.0;
  auto mib =
      static_cast<std::uint64_t>(std::ceil(static_cast<double>(content_bytes) * headroom / kMib));
  return std::max(mib, kOciMinMib);
}

std::uint64_t OciBuilder::image_size_mib(std::uint64_t content_bytes) const {
  return oci_image_size_mib(content_bytes, source_.size_mib, source_.headroom);
}

std::string OciBuilder::init_path() const {
  return flavour_ == model::InitFlavour::systemd ? "/sbin/init" : std::string(kOciInitPath);
}

std::string OciBuilder::extra_kernel_args() const {
  return flavour_ == model::InitFlavour::systemd ? "" : "init=" + std::string(kOciInitPath);
}

Expected<ResolvedImage> resolve_image(oci::RegistryClient& client,
                                      const base::ProgressFn& progress) {
  const auto& ref = client.reference();
  std::string wanted = ref.digest.empty() ? ref.tag : ref.digest;
  base::report(progress, {.stage = "resolve", .message = "resolving " + oci::to_string(ref)});
  BANGER_TRY_ASSIGN(auto fetched, client.fetch_manifest(wanted));
  std::string what = "manifest of " + oci::to_string(ref);
  BANGER_TRY_ASSIGN(auto manifest, oci::parse_manifest(fetched.body, fetched.content_type, what));
  std::string digest = fetched.digest;
  if (manifest.is_index) {
    BANGER_TRY_ASSIGN(auto entry,
                      oci::choose_platform(manifest, "linux", "amd64", oci::to_string(ref)));
    BANGER_TRY_ASSIGN(auto child, client.fetch_manifest(entry.digest));
    BANGER_TRY_ASSIGN(manifest,
                      oci::parse_manifest(child.body, child.content_type, "linux/amd64 " + what));
    if (manifest.is_index) {
      return fail(Errc::invalid_argument,
                  fmt::format("{}: the linux/amd64 entry is another index", what));
    }
    digest = child.digest;
  }
  return ResolvedImage{.manifest = std::move(manifest), .digest = digest};
}

Expected<oci::Manifest> OciBuilder::resolve(oci::RegistryClient& client, const BuildContext& ctx) {
  BANGER_TRY_ASSIGN(auto resolved, resolve_image(client, ctx.progress));
  origin_.record.digest = resolved.digest;
  return std::move(resolved.manifest);
}

Expected<std::vector<std::string>> OciBuilder::fetch_layers(oci::RegistryClient& client,
                                                            const oci::Manifest& manifest,
                                                            const BuildContext& ctx) {
  oci::BlobCache cache(source_.blob_cache_dir);
  const std::size_t count = manifest.layers.size();
  std::uint64_t total = 0;
  for (const auto& layer : manifest.layers) {
    total += layer.size;
  }
  std::vector<std::string> paths(count);
  std::vector<std::optional<Error>> errors(count);
  std::vector<std::uint64_t> done(count, 0);
  std::vector<std::chrono::steady_clock::time_point> reported(count);
  std::mutex progress_mutex;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  auto report = [&](std::size_t i, std::uint64_t bytes) {
    std::lock_guard lock(progress_mutex);
    done[i] = bytes;
    // Called for every chunk curl hands over: report each layer at most every kProgressEvery
    // (and at its end), not once per 16 KiB.
    const auto now = std::chrono::steady_clock::now();
    if (bytes != manifest.layers[i].size && now - reported[i] < kProgressEvery) {
      return;
    }
    reported[i] = now;
    std::uint64_t sum = 0;
    for (auto d : done) {
      sum += d;
    }
    const auto& layer = manifest.layers[i];
    base::report(ctx.progress, {.stage = "download",
                                .message = fmt::format("layer {}/{} {}", i + 1, count,
                                                       short_digest(layer.digest)),
                                .done = static_cast<std::int64_t>(bytes),
                                .total = static_cast<std::int64_t>(layer.size),
                                .task = fmt::format("layer {}/{}", i + 1, count),
                                .unit = base::kBytes});
    base::report(ctx.progress, {.stage = "download",
                                .message = fmt::format("{} layers", count),
                                .done = static_cast<std::int64_t>(sum),
                                .total = static_cast<std::int64_t>(total),
                                .task = "",
                                .unit = base::kBytes});
  };
  auto worker = [&] {
    for (std::size_t i = next++; i < count && !failed; i = next++) {
      auto path = cache.fetch(client, manifest.layers[i],
                              [&, i](std::uint64_t bytes) { report(i, bytes); });
      if (!path) {
        errors[i] = with_context(path.error(), fmt::format("layer {}/{}", i + 1, count));
        failed = true;
        return;
      }
      paths[i] = *path;
    }
  };
  std::size_t threads = std::max<std::size_t>(1, std::min(source_.parallel_layers, count));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) {
    pool.emplace_back(worker);
  }
  worker();
  for (auto& thread : pool) {
    thread.join();
  }
  for (auto& error : errors) {
    if (error) {
      return tl::unexpected(*error);
    }
  }
  return paths;
}

Expected<std::unique_ptr<Ext4GuestFs>> OciBuilder::build_image(const std::string& image,
                                                               const std::string& label,
                                                               const std::string& scratch,
                                                               const BuildContext& ctx) {
  oci::RegistryClient client(source_.reference, source_.registry, ctx.cancel);
  BANGER_TRY_ASSIGN(auto manifest, resolve(client, ctx));
  BANGER_TRY_ASSIGN(auto config_text, client.fetch_small_blob(manifest.config));
  BANGER_TRY_ASSIGN(auto config,
                    oci::parse_image_config(config_text, oci::to_string(source_.reference)));
  OciRecord& record = origin_.record;
  record.reference = oci::to_string(source_.reference);
  for (const auto& layer : manifest.layers) {
    record.layers.push_back(layer.digest);
  }
  record.entrypoint = std::move(config.entrypoint);
  record.cmd = std::move(config.cmd);
  record.env = std::move(config.env);
  record.working_dir = std::move(config.working_dir);
  record.user = std::move(config.user);
  BANGER_TRY_ASSIGN(auto layer_files, fetch_layers(client, manifest, ctx));
  BANGER_TRY(check_cancel(ctx.cancel));

  // Pass 1: the layers' headers make the final tree (whiteouts, replacements, links).
  LayerFlattener flattener;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < layer_files.size(); ++i) {
    names.push_back(
        fmt::format("layer {}/{} ({})", i + 1, layer_files.size(), manifest.layers[i].digest));
    base::report(ctx.progress,
                 {.stage = "unpack",
                  .message = fmt::format("reading layer {}/{}", i + 1, layer_files.size()),
                  .done = static_cast<std::int64_t>(i),
                  .total = static_cast<std::int64_t>(layer_files.size())});
    BANGER_TRY(flattener.apply(layer_files[i], names[i], ctx.cancel));
  }
  // Pass 2: an empty filesystem of the right size, filled straight from the layers.
  const std::uint64_t content = flattener.content_bytes() + kAdditionsBytes;
  const std::uint64_t size_mib = image_size_mib(content);
  base::report(ctx.progress,
               {.stage = "unpack",
                .message = fmt::format("writing {} paths ({} MiB) into a {} MiB ext4 image",
                                       flattener.size(), content / (1024 * 1024), size_mib)});
  BANGER_TRY(ext4::make_ext4(ctx.runner, {.image = image,
                                          .size_mib = size_mib,
                                          .source_dir = {},
                                          .label = label,
                                          .inodes = oci_inode_count(flattener.size(), size_mib)}));
  BANGER_TRY_ASSIGN(auto writer, ext4::Ext4Writer::open(image));
  auto guest = std::make_unique<Ext4GuestFs>(std::move(writer));
  BANGER_TRY(flattener.write(guest->writer(), layer_files, names, ctx.cancel));

  origin_.distro = distro_of(*guest);
  bool has_systemd = false;
  for (std::string_view path : {"/usr/lib/systemd/systemd", "/lib/systemd/systemd"}) {
    has_systemd = has_systemd || guest->is_executable(path);
  }
  // A systemd image still needs /sbin/init to reach it (Debian's systemd-sysv provides it).
  flavour_ = has_systemd && guest->exists("/sbin/init") ? model::InitFlavour::systemd
                                                        : model::InitFlavour::busybox;
  BANGER_TRY(install_hook_point(*guest, flavour_));
  auto image_env = agentproto::render_image_env(origin_.record.env);
  for (const auto& dropped : image_env.dropped) {
    BANGER_LOG_WARN(
        "image config: environment entry \"{}\" is not KEY=VALUE on one line; not "
        "kept",
        base::printable(dropped, 80));
  }
  BANGER_TRY(guest->write_file(agentproto::kImageEnvFile, image_env.text, 0644));
  if (flavour_ == model::InitFlavour::busybox) {
    BANGER_TRY(install_kit(*guest, scratch, ctx));
  }
  return guest;
}

Status OciBuilder::install_kit(GuestFs& guest, const std::string& scratch,
                               const BuildContext& ctx) {
  base::report(ctx.progress, {.stage = "configure",
                              .message = "adding banger's init and busybox (the image has no "
                                         "systemd)"});
  BANGER_TRY_ASSIGN(auto busybox, kit_busybox(ctx.runner, scratch, source_.kit_cache_dir));
  std::string dir(kOciBusyboxDir);
  BANGER_TRY(guest.make_dirs(dir, 0755));
  BANGER_TRY(guest.write_file(dir + "/busybox", busybox, 0755));
  for (std::string_view applet : kKitApplets) {
    std::string link = dir + "/" + std::string(applet);
    BANGER_TRY(guest.remove(link));
    BANGER_TRY(guest.symlink(link, "busybox"));
  }
  BANGER_TRY(guest.write_file(kOciInitPath, kOciInit, 0755));
  // The per-VM files the init copies in must be regular files (images often link resolv.conf
  // into /run); links are replaced, never followed.
  for (std::string_view path : {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}) {
    if (!guest.is_regular(path)) {
      BANGER_TRY(guest.remove(path));
      BANGER_TRY(guest.write_file(path, path == "/etc/hostname" ? "banger\n" : "", 0644));
    }
  }
  return {};
}

Expected<std::string> kit_busybox(sys::CommandRunner& runner, const std::string& scratch,
                                  const std::string& kit_cache_dir) {
  constexpr const char* kPackage = "busybox-static";
  std::string cached;
  if (!kit_cache_dir.empty()) {
    BANGER_TRY_ASSIGN(auto version, debpkg::candidate_version(runner, kPackage));
    std::string safe = version;
    for (char& c : safe) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '+' && c != '~' &&
          c != '-') {
        c = '_';  // "1:1.35.0-4" -> "1_1.35.0-4": one path component
      }
    }
    cached = fmt::format("{}/{}_{}/busybox", kit_cache_dir, kPackage, safe);
    if (auto kept = sys::read_file(cached); kept && !kept->empty()) {
      return std::move(*kept);
    }
  }
  BANGER_TRY(sys::make_dirs(scratch, 0700));
  BANGER_TRY_ASSIGN(auto debs, debpkg::download(runner, {kPackage}, scratch, {}));
  std::string unpacked = scratch + "/" + kPackage;
  BANGER_TRY(debpkg::extract_deb(debs.at(0), unpacked));
  BANGER_TRY_ASSIGN(auto busybox, sys::read_file(unpacked + "/bin/busybox"));
  if (!cached.empty()) {
    // Kept for the next pull; a failure to keep it costs only that pull's download.
    Status kept = sys::make_dirs(cached.substr(0, cached.rfind('/')), 0755).and_then([&] {
      return sys::write_file_atomic(cached, busybox, 0755);
    });
    if (!kept) {
      BANGER_LOG_WARN("not keeping busybox in {}: {}", kit_cache_dir, kept.error().message);
    }
  }
  return busybox;
}

}  // namespace banger::imagecat
