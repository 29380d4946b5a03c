#include "banger/vmstorage/strategy.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "banger/base/enum_names.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::vmstorage {
namespace {

constexpr auto kNames = base::make_enum_names<RootfsStrategy>({
    {RootfsStrategy::qcow2_overlay, "qcow2_overlay"},
    {RootfsStrategy::dm_snapshot, "dm_snapshot"},
    {RootfsStrategy::reflink, "reflink"},
    {RootfsStrategy::sparse_copy, "sparse_copy"},
});

constexpr const char* kDmControl = "/dev/mapper/control";

// vms_dir itself when it exists, else its nearest existing ancestor ("/" at worst).
std::string nearest_existing_dir(const std::string& vms_dir) {
  std::filesystem::path p = vms_dir.empty() ? std::string(".") : vms_dir;
  std::error_code ec;
  while (!std::filesystem::is_directory(p, ec)) {
    if (!p.has_parent_path() || p.parent_path() == p) {
      return "/";
    }
    p = p.parent_path();
  }
  return p.string();
}

// Opens a new temp file in dir and unlinks it at once; invalid fd on failure (errno set).
base::UniqueFd unlinked_temp(const std::string& dir) {
  std::string templ = dir + "/.banger-reflink-probe-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  base::UniqueFd fd(::mkostemp(buf.data(), O_CLOEXEC));
  if (fd) {
    ::unlink(buf.data());
  }
  return fd;
}

void probe_reflink(const std::string& vms_dir, StorageProbe& probe) {
  std::string dir = nearest_existing_dir(vms_dir);
  base::UniqueFd src = unlinked_temp(dir);
  if (!src) {
    probe.reflink_detail =
        fmt::format("creating a probe file in {}: {}", dir, std::strerror(errno));
    return;
  }
  std::array<char, 4096> block{};
  block.fill('b');
  if (::pwrite(src.get(), block.data(), block.size(), 0) != static_cast<ssize_t>(block.size())) {
    probe.reflink_detail = fmt::format("writing a probe file in {}: {}", dir, std::strerror(errno));
    return;
  }
  base::UniqueFd dst = unlinked_temp(dir);
  if (!dst) {
    probe.reflink_detail =
        fmt::format("creating a probe file in {}: {}", dir, std::strerror(errno));
    return;
  }
  if (::ioctl(dst.get(), FICLONE, src.get()) != 0) {
    probe.reflink_detail = fmt::format("FICLONE in {}: {}", dir, std::strerror(errno));
    return;
  }
  probe.reflink = true;
}

void probe_device_mapper(sys::CommandRunner& runner, StorageProbe& probe) {
  if (!sys::path_exists(kDmControl)) {
    probe.device_mapper_detail = fmt::format("{} does not exist", kDmControl);
    return;
  }
  sys::Command cmd;
  cmd.argv = {"dmsetup", "version"};
  cmd.timeout = std::chrono::seconds(5);
  auto r = runner.run(cmd);
  if (!r) {
    probe.device_mapper_detail = "dmsetup version: " + r.error().message;
    return;
  }
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) {
      err.pop_back();
    }
    probe.device_mapper_detail = fmt::format("dmsetup version exited {}: {}", r->exit_code, err);
    return;
  }
  probe.device_mapper = true;
}

}  // namespace

std::string_view to_string(RootfsStrategy strategy) { return kNames.name(strategy); }

Expected<RootfsStrategy> parse_rootfs_strategy(std::string_view text) {
  if (auto strategy = kNames.parse(text)) {
    return *strategy;
  }
  return fail(Errc::invalid_argument,
              fmt::format("unknown rootfs strategy \"{}\": use {}", text, kNames.allowed()));
}

RootfsStrategy choose_strategy(const StorageProbe& probe, model::VmmBackend vmm) {
  if (vmm == model::VmmBackend::qemu && probe.qemu_img) {
    return RootfsStrategy::qcow2_overlay;
  }
  if (probe.device_mapper && kDmSnapshotImplemented) {
    return RootfsStrategy::dm_snapshot;
  }
  if (probe.reflink) {
    return RootfsStrategy::reflink;
  }
  return RootfsStrategy::sparse_copy;
}

std::string explain_strategy(const StorageProbe& probe, model::VmmBackend vmm) {
  RootfsStrategy chosen = choose_strategy(probe, vmm);
  std::vector<std::string> passed;  // better strategies that were not taken, and why
  if (chosen != RootfsStrategy::qcow2_overlay) {
    if (vmm != model::VmmBackend::qemu) {
      passed.push_back("no qcow2: firecracker needs a raw disk");
    } else {
      passed.push_back("no qcow2: " + (probe.qemu_img_detail.empty()
                                           ? std::string("qemu-img not found")
                                           : probe.qemu_img_detail));
    }
    if (chosen != RootfsStrategy::dm_snapshot) {
      if (!probe.device_mapper) {
        passed.push_back("no device-mapper: " + (probe.device_mapper_detail.empty()
                                                     ? std::string("not probed")
                                                     : probe.device_mapper_detail));
      } else {
        passed.push_back("device-mapper present but dm_snapshot is not implemented yet");
      }
      if (chosen != RootfsStrategy::reflink) {
        passed.push_back("no reflink: " + (probe.reflink_detail.empty() ? std::string("not probed")
                                                                        : probe.reflink_detail));
      }
    }
  }
  std::string out(to_string(chosen));
  if (!passed.empty()) {
    out += " (" + base::join(passed, "; ") + ")";
  }
  return out;
}

StorageProbe probe_storage(sys::CommandRunner& runner, const std::string& vms_dir) {
  StorageProbe probe;
  probe_reflink(vms_dir, probe);
  probe_device_mapper(runner, probe);
  probe.qemu_img = !sys::find_executable("qemu-img").empty();
  if (!probe.qemu_img) {
    probe.qemu_img_detail = "qemu-img not found on PATH (Debian package qemu-utils)";
  }
  return probe;
}

}  // namespace banger::vmstorage
