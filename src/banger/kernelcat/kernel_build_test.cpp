// KernelService::build with a scripted runner playing apt and make (the real compile is the
// `artifacts.kernel_build` test).
#include "banger/kernelcat/kernel_build.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "banger/base/strings.hpp"
#include "banger/kernelcat/kernel_config.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/kernelcat/test_archives.hpp"
#include "banger/store/database.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vmlinux.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

namespace fs = std::filesystem;
using test_archives::Member;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSourcePackage = "linux-source-6.1";
constexpr const char* kSourceVersion = "6.1.192-3";

// A minimal Linux source tree under top/ (what find_source_root looks for).
std::vector<Member> source_tree(const std::string& top) {
  return {{top + "/", ""},
          {top + "/Makefile", "all:\n"},
          {top + "/Kconfig", "mainmenu \"Linux\"\n"},
          {top + "/arch/", ""},
          {top + "/arch/x86/", ""},
          {top + "/arch/x86/Kconfig", "config X86\n"}};
}

bool is_make(const sys::Command& c, const std::string& last) {
  return c.argv.size() >= 4 && c.argv[0] == "make" && c.argv.back() == last;
}

// Plays apt (resolve, download of a linux-source .deb holding a tiny tree) and make
// (olddefconfig copies .config, vmlinux prints kbuild lines and writes an ELF, kernelrelease).
class BuildRunner final : public sys::CommandRunner {
 public:
  std::vector<std::string> ran;
  std::string config_seen;      // the .config olddefconfig was given
  std::string resolved_append;  // appended to .config by olddefconfig
  int vmlinux_exit = 0;
  std::string vmlinux_stderr;
  std::function<void()> during_compile;  // called after the first kbuild line

  Expected<sys::CommandResult> run(const sys::Command& command) override {
    const std::string line = sys::to_display(command.argv);
    ran.push_back(line);
    if (line == "apt-cache depends linux-source") {
      return sys::CommandResult{0, std::string("linux-source\n  Depends: ") + kSourcePackage + "\n",
                                ""};
    }
    if (line == std::string("apt-cache policy ") + kSourcePackage) {
      return sys::CommandResult{
          0, std::string(kSourcePackage) + ":\n  Candidate: " + kSourceVersion + "\n", ""};
    }
    if (line.starts_with("apt-get download --print-uris")) {
      return sys::CommandResult{0, "'http://deb.example/s.deb' s.deb 4096 SHA256:ab\n", ""};
    }
    if (line.starts_with("apt-get download")) {
      test_archives::write_deb(
          command.cwd + "/" + kSourcePackage + "_" + kSourceVersion + "_all.deb",
          {{"./", ""},
           {"./usr/", ""},
           {"./usr/src/", ""},
           {std::string("./usr/src/") + kSourcePackage + ".tar.xz",
            test_archives::tar_xz(source_tree(kSourcePackage))}});
      return sys::CommandResult{};
    }
    const std::string out = out_dir(command);
    if (is_make(command, "olddefconfig")) {
      auto config = sys::read_file(out + "/.config");
      EXPECT_TRUE(config);
      config_seen = *config;
      EXPECT_TRUE(sys::write_file_atomic(out + "/.config", *config + resolved_append));
      return sys::CommandResult{};
    }
    if (is_make(command, "vmlinux")) {
      for (const char* chunk : {"make[1]: Entering directory\n  CC      init/ma", "in.o\n",
                                "  CC      kernel/fork.o\n  LD      vmlinux\n"}) {
        if (command.on_stdout && !command.on_stdout(chunk)) {
          return fail(Errc::cancelled, "make was stopped");
        }
        if (during_compile) {
          during_compile();
        }
      }
      if (vmlinux_exit != 0) {
        return sys::CommandResult{vmlinux_exit, "", vmlinux_stderr};
      }
      EXPECT_TRUE(sys::write_file_atomic(out + "/vmlinux",
                                         testkit::fake_vmlinux("Linux version 6.1.192 (banger)")));
      return sys::CommandResult{};
    }
    if (is_make(command, "kernelrelease")) {
      return sys::CommandResult{0, "6.1.192\n", ""};
    }
    return sys::CommandResult{127, "", "unexpected command " + line};
  }

  std::size_t makes() const {
    return static_cast<std::size_t>(std::count_if(
        ran.begin(), ran.end(), [](const auto& l) { return l.starts_with("make "); }));
  }

 private:
  static std::string out_dir(const sys::Command& command) {
    for (const auto& arg : command.argv) {
      if (arg.starts_with("O=")) {
        return arg.substr(2);
      }
    }
    return {};
  }
};

bool has_entries(const std::string& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && !fs::is_empty(dir, ec);
}

class KernelBuildTest : public ::testing::Test {
 protected:
  KernelBuildTest() : db_(*store::Database::open_in_memory()), repo_(db_) {
    paths_.kernels_dir = dir_.path() + "/state/kernels";
    paths_.downloads_dir = dir_.path() + "/cache/downloads";
    paths_.kernel_builds_dir = dir_.path() + "/cache/kernel-builds";
    service_ = std::make_unique<KernelService>(KernelServiceDeps{
        .kernels = repo_,
        .runner = runner_,
        .paths = paths_,
        .clock = clock_,
        .users_of = [](const std::string&) { return std::vector<std::string>{}; },
        .find_tool =
            [this](const std::string& tool) {
              return missing_tools_.count(tool) > 0 ? std::string() : "/usr/bin/" + tool;
            }});
  }

  Expected<PullResult> build(KernelBuildSpec spec,
                             std::vector<base::ProgressEvent>* events = nullptr,
                             base::CancelFn cancel = {}) {
    return service_->build(
        spec,
        [events](const base::ProgressEvent& e) {
          if (events != nullptr) {
            events->push_back(e);
          }
        },
        std::move(cancel));
  }

  // Nothing of a failed build remains: no kernel, no work directory, no cache entry.
  void expect_nothing_left(const std::string& name) {
    EXPECT_FALSE(repo_.get(name));
    EXPECT_FALSE(sys::path_exists(paths_.kernels_dir + "/" + name));
    EXPECT_FALSE(has_entries(paths_.downloads_dir));
    EXPECT_FALSE(has_entries(paths_.kernel_builds_dir));
  }

  std::string write_file(const std::string& name, const std::string& content) {
    const std::string path = dir_.path() + "/" + name;
    EXPECT_TRUE(sys::write_file_atomic(path, content));
    return path;
  }

  testkit::TempDir dir_;
  paths::Paths paths_;
  store::Database db_;
  store::KernelRepository repo_;
  BuildRunner runner_;
  testkit::FakeClock clock_;
  std::set<std::string> missing_tools_;
  std::unique_ptr<KernelService> service_;
};

TEST_F(KernelBuildTest, BuildsFromDebianSourceWithTheFirecrackerConfigAndPublishes) {
  std::vector<base::ProgressEvent> events;
  auto built = build({.name = "fc-6.1", .jobs = 3}, &events);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_FALSE(built->up_to_date);
  EXPECT_FALSE(built->from_cache);
  const auto& k = built->kernel;
  EXPECT_EQ(k.name, "fc-6.1");
  EXPECT_EQ(k.distro, "linux");
  EXPECT_EQ(k.version, "6.1.192");
  EXPECT_EQ(k.initrd_path, "");  // everything built in: no initramfs
  EXPECT_EQ(k.source, "build: linux-source-6.1 6.1.192-3, config firecracker");
  EXPECT_TRUE(is_built_kernel(k));
  EXPECT_EQ(repo_.get("fc-6.1"), k);
  auto manifest = service_->manifest("fc-6.1");
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->build_key,
            build_key("linux-source-6.1 6.1.192-3", merge_config(firecracker_guest_config())));
  EXPECT_EQ(manifest->package, kSourcePackage);
  EXPECT_EQ(manifest->package_version, kSourceVersion);
  // make got the Firecracker base with banger's additions, in the out-of-tree directory.
  EXPECT_EQ(runner_.config_seen, merge_config(firecracker_guest_config()));
  const auto vmlinux_make = std::find_if(runner_.ran.begin(), runner_.ran.end(),
                                         [](const auto& l) { return l.ends_with(" vmlinux"); });
  ASSERT_NE(vmlinux_make, runner_.ran.end());
  EXPECT_THAT(*vmlinux_make, HasSubstr("/src/linux-source-6.1 O="));
  EXPECT_THAT(*vmlinux_make, HasSubstr(" -j3 vmlinux"));
  // Progress named every stage, the compile step with objects counted.
  std::set<std::string> stages;
  std::int64_t compiled = 0;
  for (const auto& e : events) {
    stages.insert(e.stage);
    if (e.stage == "compile") {
      compiled = std::max(compiled, e.done);
    }
  }
  EXPECT_EQ(stages, (std::set<std::string>{"resolve", "download", "extract", "configure", "compile",
                                           "publish"}));
  EXPECT_EQ(compiled, 2);
  // The work directory is gone; the cache holds the vmlinux, its release and resolved config.
  EXPECT_FALSE(has_entries(paths_.downloads_dir));
  const std::string cached = paths_.kernel_builds_dir + "/" + manifest->build_key;
  EXPECT_EQ(sys::read_file(cached + "/vmlinux"), *sys::read_file(k.vmlinux_path));
  EXPECT_EQ(sys::read_file(cached + "/release"), "6.1.192\n");
  EXPECT_TRUE(sys::path_exists(cached + "/config"));
}

TEST_F(KernelBuildTest, TheSameInputsAgainAreUpToDateAndAnotherNameUsesTheCache) {
  ASSERT_TRUE(build({.name = "fc-6.1"}));
  const auto makes = runner_.makes();
  auto again = build({.name = "fc-6.1"});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->up_to_date);
  auto other = build({.name = "fc-copy"});
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_FALSE(other->up_to_date);
  EXPECT_TRUE(other->from_cache);
  EXPECT_EQ(other->kernel.sha256, again->kernel.sha256);
  EXPECT_EQ(runner_.makes(), makes);  // neither ran make
  auto forced = build({.name = "fc-copy", .force = true});
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_FALSE(forced->from_cache);
  EXPECT_GT(runner_.makes(), makes);
}

TEST_F(KernelBuildTest, ATarballSourceIsIdentifiedByItsHashWithoutApt) {
  const std::string tarball =
      write_file("linux-6.1.9.tar.xz", test_archives::tar_xz(source_tree("linux-6.1.9")));
  auto built = build({.name = "mine", .from = tarball});
  ASSERT_TRUE(built) << built.error().message;
  const std::string sha = *sys::sha256_file(tarball);
  EXPECT_EQ(built->kernel.source,
            "build: linux-6.1.9.tar.xz sha256:" + sha + ", config firecracker");
  for (const auto& line : runner_.ran) {
    EXPECT_FALSE(line.starts_with("apt")) << line;
  }
}

TEST_F(KernelBuildTest, AUserConfigIsTheBaseAndItsRequiredSymbolsAreChecked) {
  const std::string config = write_file("my.config", "CONFIG_LOCALVERSION=\"-mine\"\n");
  runner_.resolved_append = "CONFIG_VIRTIO_BLK=m\n";  // what olddefconfig made of it
  auto built = build({.name = "mine", .config = config});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::invalid_argument);
  EXPECT_THAT(built.error().message, HasSubstr("building kernel mine: the resolved kernel config "
                                               "does not build in CONFIG_PVH"));
  EXPECT_THAT(built.error().message, HasSubstr("CONFIG_VIRTIO_BLK (root and work disks)"));
  EXPECT_EQ(runner_.config_seen, merge_config("CONFIG_LOCALVERSION=\"-mine\"\n"));
  EXPECT_EQ(runner_.makes(), 1U);  // olddefconfig only
  expect_nothing_left("mine");
}

TEST_F(KernelBuildTest, AFailedCompileShowsTheEndOfMakesErrorsAndLeavesNothing) {
  runner_.vmlinux_exit = 2;
  std::string stderr_text;
  for (int i = 0; i < 40; ++i) {
    stderr_text += "warning: noise " + std::to_string(i) + "\n";
  }
  stderr_text += "kernel/fork.c:1: error: broken\nmake: *** [Makefile:1] Error 2\n";
  runner_.vmlinux_stderr = stderr_text;
  auto built = build({.name = "fc-6.1"});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::command_failed);
  EXPECT_THAT(built.error().message, HasSubstr("make vmlinux failed:"));
  EXPECT_THAT(built.error().message, HasSubstr("kernel/fork.c:1: error: broken"));
  EXPECT_THAT(built.error().message, Not(HasSubstr("noise 3\n")));  // only the tail
  expect_nothing_left("fc-6.1");
}

TEST_F(KernelBuildTest, CancellingStopsMakeAndLeavesNothing) {
  bool cancel = false;
  runner_.during_compile = [&] { cancel = true; };
  auto built = build({.name = "fc-6.1"}, nullptr, [&] { return cancel; });
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::cancelled);
  expect_nothing_left("fc-6.1");
}

TEST_F(KernelBuildTest, HostileOrWrongTarballsAreRefusedNamingTheProblem) {
  struct Case {
    std::string name;
    std::vector<Member> members;
    std::string message;
  };
  auto tree = source_tree("linux-6.1.9");
  auto escaping = tree;
  escaping.push_back({"linux-6.1.9/../../evil", "x"});
  auto through_link = std::vector<Member>{{"linux-6.1.9/", ""},
                                          {"linux-6.1.9/arch", "", "/tmp"},
                                          {"linux-6.1.9/arch/x86/Kconfig", "x"}};
  const std::vector<Case> cases = {
      {"escape.tar.xz", escaping, "unsafe path"},
      {"link.tar.xz", through_link, "cannot extract through symlink"},
      {"empty.tar.xz", {{"notes/", ""}, {"notes/a", "x"}}, "is not a Linux source tree"},
  };
  for (const auto& c : cases) {
    const std::string tarball = write_file(c.name, test_archives::tar_xz(c.members));
    auto built = build({.name = "bad", .from = tarball});
    ASSERT_FALSE(built) << c.name;
    EXPECT_THAT(built.error().message, HasSubstr(c.message)) << c.name;
    EXPECT_THAT(built.error().message, HasSubstr("building kernel bad")) << c.name;
    EXPECT_EQ(runner_.makes(), 0U) << c.name;
    expect_nothing_left("bad");
  }
  EXPECT_FALSE(sys::path_exists("/tmp/x86/Kconfig"));
}

TEST_F(KernelBuildTest, BadSpecsAndMissingPiecesAreClearErrors) {
  struct Case {
    KernelBuildSpec spec;
    Errc code;
    std::string message;
  };
  const std::string bad_config = write_file("bad.config", "not a config\n");
  const std::vector<Case> cases = {
      {{.name = "a", .from = "relative.tar.xz"},
       Errc::invalid_argument,
       "--from \"relative.tar.xz\": expected debian-source or an absolute path"},
      {{.name = "a", .config = "microvm"},
       Errc::invalid_argument,
       "--config \"microvm\": expected firecracker or an absolute path"},
      {{.name = "a", .jobs = 300}, Errc::invalid_argument, "--jobs 300: expected 1 to 256"},
      {{.name = "../a"}, Errc::invalid_argument, "kernel name"},
      {{.name = "a", .from = "/nonexistent/linux.tar.xz"},
       Errc::not_found,
       "kernel source tarball /nonexistent/linux.tar.xz not found"},
      {{.name = "a", .config = "/nonexistent/my.config"},
       Errc::not_found,
       "kernel config /nonexistent/my.config not found"},
      {{.name = "a", .config = bad_config},
       Errc::invalid_argument,
       "kernel config " + bad_config + " line 1"},
  };
  for (const auto& c : cases) {
    auto built = build(c.spec);
    ASSERT_FALSE(built) << c.message;
    EXPECT_EQ(built.error().code, c.code) << built.error().message;
    EXPECT_THAT(built.error().message, HasSubstr(c.message));
  }
  missing_tools_ = {"bison"};
  auto no_bison = build({.name = "a"});
  ASSERT_FALSE(no_bison);
  EXPECT_EQ(no_bison.error().code, Errc::not_found);
  EXPECT_THAT(no_bison.error().message, HasSubstr("bison not found: install the bison package"));
  EXPECT_TRUE(runner_.ran.empty());
}

TEST_F(KernelBuildTest, AKernelThatWasNotBuiltIsOnlyReplacedWithForce) {
  const std::string src = dir_.path() + "/import";
  ASSERT_TRUE(sys::make_dirs(src));
  ASSERT_TRUE(sys::write_file_atomic(src + "/vmlinux", testkit::fake_vmlinux()));
  ASSERT_TRUE(service_->import_dir("fc-6.1", src));
  auto refused = build({.name = "fc-6.1"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::already_exists);
  EXPECT_THAT(refused.error().message, HasSubstr("was not made by `kernel build`"));
  auto forced = build({.name = "fc-6.1", .force = true});
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_TRUE(is_built_kernel(forced->kernel));
}

TEST(FindSourceRoot, AcceptsTheTreeOrItsOnlySubdirectory) {
  testkit::TempDir dir;
  const std::string top = dir.path() + "/linux-6.1";
  ASSERT_TRUE(sys::make_dirs(top + "/arch/x86"));
  ASSERT_TRUE(sys::write_file_atomic(top + "/Makefile", ""));
  EXPECT_FALSE(find_source_root(dir.path(), "t"));  // Kconfig missing
  ASSERT_TRUE(sys::write_file_atomic(top + "/Kconfig", ""));
  EXPECT_EQ(find_source_root(dir.path(), "t"), top);
  EXPECT_EQ(find_source_root(top, "t"), top);
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/second"));
  auto two = find_source_root(dir.path(), "linux.tar.xz");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().message,
            "linux.tar.xz is not a Linux source tree: expected one top-level directory holding "
            "Makefile, Kconfig and arch/x86");
}

}  // namespace
}  // namespace banger::kernelcat
