#include "banger/kernelcat/kernel_service.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "banger/kernelcat/test_archives.hpp"
#include "banger/store/database.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vmlinux.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

constexpr const char* kRelease = "6.1.0-28-cloud-amd64";
constexpr const char* kPackage = "linux-image-6.1.0-28-cloud-amd64";

std::string fake_elf(const std::string& banner = "Linux version 6.1.0-28-cloud-amd64 (gcc)") {
  return testkit::fake_vmlinux(banner);
}

using test_archives::write_deb;
using test_archives::xz;

// Plays apt-cache, apt-get download (writes synthetic .debs into cwd) and depmod (writes
// modules.dep), and records every command line.
class ScriptedRunner final : public sys::CommandRunner {
 public:
  std::string package_version = "6.1.119-1";
  std::string vmlinuz = fake_elf();  // an ELF is returned as is by extract_vmlinux
  int depmod_exit = 0;
  std::function<void()> on_download;
  std::vector<std::string> ran;

  Expected<sys::CommandResult> run(const sys::Command& command) override {
    std::string line = sys::to_display(command.argv);
    ran.push_back(line);
    if (line == "apt-cache depends linux-image-cloud-amd64") {
      return sys::CommandResult{
          0, std::string("linux-image-cloud-amd64\n  Depends: ") + kPackage + "\n", ""};
    }
    if (line == std::string("apt-cache policy ") + kPackage) {
      return sys::CommandResult{
          0,
          std::string(kPackage) + ":\n  Installed: (none)\n  Candidate: " + package_version + "\n",
          ""};
    }
    if (line.rfind("apt-get download --print-uris", 0) == 0) {
      return sys::CommandResult{0, "'http://deb.example/k.deb' k.deb 4096 SHA256:ab\n", ""};
    }
    if (line.rfind("apt-get download", 0) == 0) {
      std::string mods = std::string("./lib/modules/") + kRelease + "/kernel/drivers/";
      write_deb(
          command.cwd + "/" + kPackage + "_" + package_version + "_amd64.deb",
          {{"./", ""},
           {"./boot/", ""},
           {std::string("./boot/vmlinuz-") + kRelease, vmlinuz},
           {mods + "block/virtio_blk.ko.xz", xz("VBLK")},
           {mods + "virtio/virtio_ring.ko", "VRING"},
           {mods + "net/virtio_net.ko.xz", xz("VNET")},
           {mods + "misc/unrelated.ko", "NO"},
           {std::string("./lib/modules/") + kRelease + "/kernel/fs/overlayfs/overlay.ko", "OVL"}});
      write_deb(command.cwd + "/busybox-static_1%3a1.35.0-4_amd64.deb",
                {{"./bin/", ""}, {"./bin/busybox", "BUSYBOX"}});
      if (on_download) {
        on_download();
      }
      return sys::CommandResult{};
    }
    if (command.argv.front() == "/usr/sbin/depmod") {
      if (depmod_exit != 0) {
        return sys::CommandResult{depmod_exit, "", "depmod: ERROR: bad\n"};
      }
      std::string dir = command.argv[2] + "/lib/modules/" + command.argv[3];
      auto written = sys::write_file_atomic(
          dir + "/modules.dep",
          "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko\n"
          "kernel/drivers/virtio/virtio_ring.ko:\n"
          "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio_ring.ko\n"
          "kernel/drivers/misc/unrelated.ko:\n"
          "kernel/fs/overlayfs/overlay.ko:\n");
      EXPECT_TRUE(written);
      return sys::CommandResult{};
    }
    return sys::CommandResult{127, "", "unexpected command " + line};
  }
};

// Entries of a gzip cpio (path -> content; directories map to "<dir>").
std::map<std::string, std::string> read_cpio(const std::string& path) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    archive_read_free(a);
    return out;
  }
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string content;
    if (archive_entry_filetype(e) == AE_IFDIR) {
      content = "<dir>";
    } else if (archive_entry_filetype(e) == AE_IFCHR) {
      content = "<chr>";
    } else {
      char buf[4096];
      la_ssize_t n = 0;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
        content.append(buf, static_cast<std::size_t>(n));
      }
    }
    out[archive_entry_pathname(e)] = content;
  }
  archive_read_free(a);
  return out;
}

bool dir_has_entries(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec);
}

class KernelServiceTest : public ::testing::Test {
 protected:
  KernelServiceTest() : db_(*store::Database::open_in_memory()), repo_(db_) {
    paths_.kernels_dir = dir_.path() + "/state/kernels";
    paths_.downloads_dir = dir_.path() + "/cache/downloads";
    service_ = std::make_unique<KernelService>(KernelServiceDeps{
        .kernels = repo_,
        .runner = runner_,
        .paths = paths_,
        .clock = clock_,
        .users_of =
            [this](const std::string& name) {
              if (users_of_hook_) {
                users_of_hook_();
              }
              return users_[name];
            },
        .find_tool =
            [this](const std::string& tool) {
              return missing_tools_.count(tool) > 0 ? std::string() : "/usr/sbin/" + tool;
            }});
  }

  std::string kernel_dir(const std::string& name = "debian-cloud") {
    return paths_.kernels_dir + "/" + name;
  }

  // A directory with an ELF vmlinux (and an initrd) to import from.
  std::string import_source(const std::string& vmlinux = fake_elf(), bool initrd = true) {
    std::string src = dir_.path() + "/src";
    EXPECT_TRUE(sys::make_dirs(src));
    EXPECT_TRUE(sys::write_file_atomic(src + "/vmlinux", vmlinux));
    if (initrd) {
      EXPECT_TRUE(sys::write_file_atomic(src + "/initrd.img", "INITRD"));
    }
    return src;
  }

  testkit::TempDir dir_;
  paths::Paths paths_;
  store::Database db_;
  store::KernelRepository repo_;
  ScriptedRunner runner_;
  testkit::FakeClock clock_;
  std::map<std::string, std::vector<std::string>> users_;
  std::function<void()> users_of_hook_;
  std::set<std::string> missing_tools_;
  std::unique_ptr<KernelService> service_;
};

const std::vector<std::string> kResolve = {"apt-cache depends linux-image-cloud-amd64",
                                           std::string("apt-cache policy ") + kPackage};

TEST_F(KernelServiceTest, PullBuildsVmlinuxAndInitramfsAndRecordsThem) {
  std::vector<std::string> stages;
  auto pulled = service_->pull("debian-cloud", false,
                               [&](const base::ProgressEvent& e) { stages.push_back(e.stage); });
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_FALSE(pulled->up_to_date);
  const auto& k = pulled->kernel;
  EXPECT_EQ(k.name, "debian-cloud");
  EXPECT_EQ(k.distro, "debian");
  EXPECT_EQ(k.arch, "x86_64");
  EXPECT_EQ(k.version, kRelease);
  EXPECT_EQ(k.vmlinux_path, kernel_dir() + "/vmlinux");
  EXPECT_EQ(k.initrd_path, kernel_dir() + "/initrd.img");
  EXPECT_EQ(k.sha256, sys::sha256_hex(fake_elf()));
  EXPECT_EQ(k.source, std::string("debian-cloud: ") + kPackage + " 6.1.119-1");
  EXPECT_EQ(k.imported_at, 1800000000);
  EXPECT_EQ(sys::read_file(k.vmlinux_path), fake_elf());
  EXPECT_EQ(repo_.get("debian-cloud"), k);

  auto ran = runner_.ran;
  ASSERT_EQ(ran.size(), 6u);
  EXPECT_EQ(ran[0], kResolve[0]);
  EXPECT_EQ(ran[1], kResolve[1]);
  // The bytes to fetch (the download's progress total), then the download.
  EXPECT_EQ(ran[2], std::string("apt-get download --print-uris ") + kPackage + " busybox-static");
  EXPECT_EQ(ran[3], std::string("apt-get download ") + kPackage + " busybox-static");
  EXPECT_EQ(
      ran[4].rfind("/usr/sbin/depmod -b " + paths_.downloads_dir + "/kernel-debian-cloud-", 0), 0u)
      << ran[4];
  EXPECT_EQ(ran[4].substr(ran[4].size() - std::strlen(kRelease) - 8),
            std::string("/kernel ") + kRelease);
  // The guest module tree is indexed on its own.
  EXPECT_EQ(ran[5].substr(ran[5].size() - std::strlen(kRelease) - 7),
            std::string("/guest ") + kRelease);

  auto cpio = read_cpio(k.initrd_path);
  EXPECT_EQ(cpio["bin/busybox"], "BUSYBOX");
  EXPECT_EQ(cpio["init"].rfind("#!/bin/busybox sh", 0), 0u);
  EXPECT_EQ(cpio["dev/console"], "<chr>");
  EXPECT_EQ(cpio["newroot"], "<dir>");
  EXPECT_EQ(cpio["lib/modules/virtio_ring.ko"], "VRING");
  EXPECT_EQ(cpio["lib/modules/virtio_blk.ko"], "VBLK");
  EXPECT_EQ(cpio["lib/modules/virtio_net.ko"], "VNET");
  EXPECT_EQ(cpio.count("lib/modules/unrelated.ko"), 0u);
  EXPECT_EQ(cpio["lib/modules/load.order"], "virtio_ring.ko\nvirtio_blk.ko\nvirtio_net.ko\n");
  // The guest module tree: overlay (a guest module) as the package has it, depmod's index, the
  // stamp; boot-only and unrelated modules are not in it.
  const std::string guest = std::string("lib/modules/") + kRelease + "/";
  EXPECT_EQ(cpio[guest + "kernel/fs/overlayfs/overlay.ko"], "OVL");
  EXPECT_THAT(cpio[guest + "modules.dep"], ::testing::HasSubstr("overlay.ko:"));
  EXPECT_THAT(cpio[guest + "banger-guest-modules"],
              ::testing::HasSubstr(std::string("source ") + kPackage + " 6.1.119-1\n"));
  EXPECT_EQ(cpio.count(guest + "kernel/drivers/misc/unrelated.ko"), 0u);
  EXPECT_EQ(cpio.count(guest + "kernel/drivers/net/virtio_net.ko.xz"), 0u);

  auto m = service_->manifest("debian-cloud");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->package, kPackage);
  EXPECT_EQ(m->package_version, "6.1.119-1");
  EXPECT_EQ(m->initrd_sha256, *sys::sha256_file(k.initrd_path));
  EXPECT_TRUE(service_->verify("debian-cloud"));

  EXPECT_EQ(stages.front(), "resolve");
  EXPECT_EQ(stages.back(), "publish");
  for (const char* stage : {"download", "extract", "vmlinux", "initramfs"}) {
    EXPECT_NE(std::find(stages.begin(), stages.end(), stage), stages.end()) << stage;
  }
  // Nothing left behind.
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".staging"));
  EXPECT_FALSE(dir_has_entries(paths_.downloads_dir));
}

TEST_F(KernelServiceTest, SecondPullOfTheSameVersionIsANoOp) {
  ASSERT_TRUE(service_->pull("debian-cloud", false));
  runner_.ran.clear();
  auto again = service_->pull("debian-cloud", false);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->up_to_date);
  EXPECT_EQ(runner_.ran, kResolve);
  EXPECT_EQ(again->kernel, *repo_.get("debian-cloud"));
}

TEST_F(KernelServiceTest, ForceAndNewVersionsRebuild) {
  ASSERT_TRUE(service_->pull("debian-cloud", false));
  clock_.advance(std::chrono::seconds(10));
  auto forced = service_->pull("debian-cloud", true);
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_FALSE(forced->up_to_date);
  EXPECT_EQ(forced->kernel.imported_at, 1800000010);

  runner_.package_version = "6.1.120-1";
  auto newer = service_->pull("debian-cloud", false);
  ASSERT_TRUE(newer) << newer.error().message;
  EXPECT_FALSE(newer->up_to_date);
  EXPECT_EQ(newer->kernel.source, std::string("debian-cloud: ") + kPackage + " 6.1.120-1");
  EXPECT_EQ(repo_.get("debian-cloud")->source, newer->kernel.source);
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".old"));
}

TEST_F(KernelServiceTest, TamperedFilesAreRebuiltAndVerifyReportsThem) {
  ASSERT_TRUE(service_->pull("debian-cloud", false));
  ASSERT_TRUE(sys::write_file_atomic(kernel_dir() + "/vmlinux", "tampered"));
  auto verified = service_->verify("debian-cloud");
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code, Errc::failed_precondition);
  EXPECT_EQ(verified.error().message, "kernel \"debian-cloud\" is corrupt: vmlinux sha256 is " +
                                          sys::sha256_hex("tampered") + ", expected " +
                                          sys::sha256_hex(fake_elf()));
  auto again = service_->pull("debian-cloud", false);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->up_to_date);
  EXPECT_TRUE(service_->verify("debian-cloud"));
}

TEST_F(KernelServiceTest, UnknownCatalogNameListsTheAvailableOnes) {
  auto pulled = service_->pull("fedora", false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::not_found);
  EXPECT_EQ(pulled.error().message,
            "unknown kernel \"fedora\" in the catalog: available: debian-cloud");
  EXPECT_TRUE(runner_.ran.empty());
}

TEST_F(KernelServiceTest, BadNamesAreRefused) {
  auto pulled = service_->pull("../x", false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::invalid_argument);
  auto imported = service_->import_dir("k.staging", import_source());
  ASSERT_FALSE(imported);
  EXPECT_EQ(imported.error().code, Errc::invalid_argument);
  EXPECT_EQ(imported.error().message,
            "invalid kernel name \"k.staging\": names ending in .staging are reserved");
}

TEST_F(KernelServiceTest, ASecondChangeOfTheSameNameFailsAtOnceWhileTheFirstRuns) {
  // Given a remove that is still running (users_of is called with the name claimed).
  ASSERT_TRUE(service_->import_dir("k", import_source()));
  Error inner;
  users_of_hook_ = [&] { inner = service_->import_dir("k", import_source()).error(); };
  ASSERT_TRUE(service_->remove("k"));
  EXPECT_EQ(inner.code, Errc::failed_precondition);
  EXPECT_EQ(inner.message,
            "kernel \"k\" is busy: another pull, import or removal of it is running");
  EXPECT_TRUE(service_->import_dir("k", import_source()));  // released afterwards
}

TEST_F(KernelServiceTest, MissingHostToolNamesThePackage) {
  missing_tools_.insert("depmod");
  auto pulled = service_->pull("debian-cloud", false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::not_found);
  EXPECT_EQ(pulled.error().message,
            "pulling kernel debian-cloud: depmod not found: install the kmod package (apt-get "
            "install kmod)");
  EXPECT_TRUE(runner_.ran.empty());
}

TEST_F(KernelServiceTest, CorruptKernelPackageIsRefusedAndNothingIsLeft) {
  runner_.vmlinuz = std::string(4096, 'z');
  auto pulled = service_->pull("debian-cloud", false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::invalid_argument);
  EXPECT_EQ(pulled.error().message,
            std::string("pulling kernel debian-cloud: corrupt package ") + kPackage +
                "_6.1.119-1_amd64.deb: no compressed kernel found in bzImage (tried lz4, xz, "
                "zstd, gzip)");
  EXPECT_FALSE(repo_.get("debian-cloud"));
  EXPECT_FALSE(sys::path_exists(kernel_dir()));
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".staging"));
  EXPECT_FALSE(dir_has_entries(paths_.downloads_dir));
}

TEST_F(KernelServiceTest, FailedRebuildKeepsThePreviousKernel) {
  auto first = service_->pull("debian-cloud", false);
  ASSERT_TRUE(first);
  runner_.depmod_exit = 1;
  auto pulled = service_->pull("debian-cloud", true);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::command_failed);
  EXPECT_EQ(repo_.get("debian-cloud"), first->kernel);
  EXPECT_TRUE(service_->verify("debian-cloud"));
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".staging"));
}

TEST_F(KernelServiceTest, CancelledPullRollsBack) {
  bool cancel = false;
  runner_.on_download = [&] { cancel = true; };
  auto pulled = service_->pull("debian-cloud", false, {}, [&] { return cancel; });
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::cancelled);
  EXPECT_EQ(pulled.error().message, "pulling kernel debian-cloud: cancelled");
  EXPECT_FALSE(repo_.get("debian-cloud"));
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".staging"));
  EXPECT_FALSE(dir_has_entries(paths_.downloads_dir));
}

TEST_F(KernelServiceTest, PullRefusesToReplaceAnImportedKernelWithoutForce) {
  ASSERT_TRUE(service_->import_dir("debian-cloud", import_source()));
  auto pulled = service_->pull("debian-cloud", false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::already_exists);
  EXPECT_EQ(pulled.error().message,
            "pulling kernel debian-cloud: kernel \"debian-cloud\" exists and was not pulled from "
            "the catalog: remove it with `banger kernel rm debian-cloud` or pull with --force");
  ASSERT_TRUE(service_->pull("debian-cloud", true));
}

TEST_F(KernelServiceTest, ImportCopiesFilesAndRecordsThem) {
  auto imported = service_->import_dir("mine", import_source());
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->name, "mine");
  EXPECT_EQ(imported->distro, "unknown");
  EXPECT_EQ(imported->version, "6.1.0-28-cloud-amd64");
  EXPECT_EQ(imported->sha256, sys::sha256_hex(fake_elf()));
  EXPECT_EQ(imported->source, "import:" + dir_.path() + "/src");
  EXPECT_EQ(imported->vmlinux_path, kernel_dir("mine") + "/vmlinux");
  EXPECT_EQ(imported->initrd_path, kernel_dir("mine") + "/initrd.img");
  EXPECT_EQ(sys::read_file(imported->initrd_path), "INITRD");
  EXPECT_EQ(KernelService::size_bytes(*imported), static_cast<std::int64_t>(fake_elf().size() + 6));
  EXPECT_EQ(service_->list(), std::vector<model::Kernel>{*imported});
  EXPECT_EQ(service_->show("mine"), *imported);
  EXPECT_TRUE(service_->verify("mine"));
  EXPECT_TRUE(runner_.ran.empty());
}

TEST_F(KernelServiceTest, CatalogSaysWhichEntriesAreStored) {
  auto pulled = [&]() -> std::optional<bool> {
    auto statuses = service_->catalog();
    if (!statuses) {
      ADD_FAILURE() << statuses.error().message;
      return std::nullopt;
    }
    for (const auto& status : *statuses) {
      if (status.entry.name == "debian-cloud") {
        return status.pulled;
      }
    }
    return std::nullopt;
  };
  EXPECT_EQ(pulled(), std::optional<bool>(false));
  ASSERT_TRUE(service_->import_dir("debian-cloud", import_source()));
  EXPECT_EQ(pulled(), std::optional<bool>(true));
}

TEST_F(KernelServiceTest, ImportWithoutInitrdRecordsNone) {
  auto imported = service_->import_dir("bare", import_source(fake_elf(), false));
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->initrd_path, "");
  EXPECT_FALSE(sys::path_exists(kernel_dir("bare") + "/initrd.img"));
}

TEST_F(KernelServiceTest, ImportRefusesANonElfVmlinux) {
  auto src = import_source("MZ this is a bzImage or junk");
  auto imported = service_->import_dir("junk", src);
  ASSERT_FALSE(imported);
  EXPECT_EQ(imported.error().code, Errc::invalid_argument);
  EXPECT_EQ(imported.error().message,
            src +
                "/vmlinux is not an x86_64 ELF vmlinux: import an uncompressed kernel (`banger "
                "kernel pull` extracts one from a bzImage)");
  EXPECT_FALSE(sys::path_exists(kernel_dir("junk")));
  EXPECT_FALSE(sys::path_exists(kernel_dir("junk") + ".staging"));
}

TEST_F(KernelServiceTest, ImportErrors) {
  auto relative = service_->import_dir("k", "some/dir");
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, Errc::invalid_argument);
  EXPECT_EQ(relative.error().message, "import directory \"some/dir\" must be an absolute path");

  auto missing = service_->import_dir("k", dir_.path() + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "import directory " + dir_.path() + "/nope not found");

  auto no_vmlinux = service_->import_dir("k", dir_.path());
  ASSERT_FALSE(no_vmlinux);
  EXPECT_EQ(no_vmlinux.error().code, Errc::not_found);
  EXPECT_EQ(no_vmlinux.error().message, "kernel file " + dir_.path() + "/vmlinux not found");

  auto src = import_source();
  ASSERT_TRUE(service_->import_dir("k", src));
  auto again = service_->import_dir("k", src);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  EXPECT_EQ(again.error().message,
            "kernel \"k\" already exists: remove it first with `banger kernel rm k`");
}

TEST_F(KernelServiceTest, ImportFilesTakesExplicitPaths) {
  auto src = import_source();
  auto imported = service_->import_files("img-kernel", src + "/vmlinux", "");
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->source, "import:" + src + "/vmlinux");
  EXPECT_EQ(imported->initrd_path, "");
}

TEST_F(KernelServiceTest, RemoveDeletesFilesAndRecord) {
  ASSERT_TRUE(service_->import_dir("k", import_source()));
  ASSERT_TRUE(service_->remove("k"));
  EXPECT_FALSE(sys::path_exists(kernel_dir("k")));
  EXPECT_FALSE(sys::path_exists(kernel_dir("k") + ".staging"));
  auto shown = service_->show("k");
  ASSERT_FALSE(shown);
  EXPECT_EQ(shown.error().code, Errc::not_found);
  EXPECT_EQ(shown.error().message, "kernel \"k\" not found");
  auto again = service_->remove("k");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_F(KernelServiceTest, RemoveIsRefusedWhileUsed) {
  ASSERT_TRUE(service_->import_dir("k", import_source()));
  users_["k"] = {"image tiny", "vm web"};
  auto removed = service_->remove("k");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::failed_precondition);
  EXPECT_EQ(removed.error().message,
            "kernel \"k\" is used by: image tiny, vm web: delete those first");
  EXPECT_TRUE(service_->verify("k"));
}

// Regression for L9 (security review): a crash between the directory swap and the record
// update of a re-pull leaves the previous record over the new files; reconcile rewrites it from
// the published manifest. Fails on 8f38f5a: ran without the refresh hook (StagedStore and
// KernelService::reconcile as before this fix): show() returned the first pull's record.
TEST_F(KernelServiceTest, ReconcileRecordsTheFilesOfARepullInterruptedBeforeItsRecord) {
  ASSERT_TRUE(service_->pull("debian-cloud", false));
  auto before = repo_.get("debian-cloud");
  ASSERT_TRUE(before);
  runner_.package_version = "6.1.120-1";
  clock_.advance(std::chrono::seconds(10));
  auto newer = service_->pull("debian-cloud", false);
  ASSERT_TRUE(newer) << newer.error().message;
  // What the crash leaves: the new directory live, the previous record, the replaced tree in
  // <name>.staging.
  ASSERT_TRUE(repo_.update(*before));
  ASSERT_TRUE(sys::make_dirs(kernel_dir() + ".staging"));

  ASSERT_TRUE(service_->reconcile());

  EXPECT_EQ(service_->show("debian-cloud"), newer->kernel);
  EXPECT_TRUE(service_->verify("debian-cloud"));
  EXPECT_FALSE(sys::path_exists(kernel_dir() + ".staging"));
}

TEST_F(KernelServiceTest, ReconcileRepairsInterruptedWork) {
  ASSERT_TRUE(service_->import_dir("kept", import_source()));
  ASSERT_TRUE(service_->import_dir("gone", import_source()));
  ASSERT_TRUE(service_->import_dir("swapped", import_source()));
  auto unrecorded = service_->import_dir("unrecorded", import_source());
  ASSERT_TRUE(unrecorded);
  // A record whose files vanished, a published dir whose record is missing, an interrupted
  // swap (the replaced tree left in <name>.staging), leftover staging, trash and work dirs,
  // and junk.
  ASSERT_TRUE(sys::remove_all(kernel_dir("gone")));
  ASSERT_TRUE(repo_.remove("unrecorded"));
  std::filesystem::copy(kernel_dir("swapped"), kernel_dir("swapped") + ".staging");
  ASSERT_TRUE(sys::make_dirs(paths_.kernels_dir + ".trash/old-abc123"));
  ASSERT_TRUE(sys::make_dirs(kernel_dir("half") + ".staging"));
  ASSERT_TRUE(sys::make_dirs(paths_.downloads_dir + "/kernel-debian-cloud-abc123/debs"));
  ASSERT_TRUE(sys::make_dirs(kernel_dir("junk")));

  ASSERT_TRUE(service_->reconcile());

  auto listed = service_->list();
  ASSERT_TRUE(listed);
  std::vector<std::string> names;
  for (const auto& k : *listed) {
    names.push_back(k.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"kept", "swapped", "unrecorded"}));
  EXPECT_EQ(service_->show("unrecorded"), *unrecorded);
  EXPECT_TRUE(service_->verify("swapped"));
  EXPECT_FALSE(sys::path_exists(kernel_dir("swapped") + ".staging"));
  EXPECT_FALSE(dir_has_entries(paths_.kernels_dir + ".trash"));
  EXPECT_FALSE(sys::path_exists(kernel_dir("half") + ".staging"));
  EXPECT_FALSE(dir_has_entries(paths_.downloads_dir));
  EXPECT_TRUE(sys::path_exists(kernel_dir("junk")));  // not ours to delete
}

}  // namespace
}  // namespace banger::kernelcat
