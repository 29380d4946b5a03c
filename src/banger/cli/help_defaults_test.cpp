// --help's resolved defaults: the pure resolution, and vm create/vm run --help through the
// command line with a config loader standing in for the user's config (no daemon is reached).
#include "banger/cli/help_defaults.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "banger/cli/command.hpp"
#include "banger/paths/paths.hpp"

namespace banger::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr config::HostInfo kHost{.cpus = 8, .memory_mib = 16384};

paths::Paths test_paths() {
  paths::Environment env;
  env.vars["BANGER_HOME"] = "/nonexistent/banger-home";
  return *paths::resolve_paths(env);
}

Expected<config::Config> parsed(const std::string& toml) {
  return config::parse_config(toml, "config.toml", test_paths());
}

TEST(HelpDefaults, WithoutAConfigTheHostHeuristicAndBuiltInsShow) {
  auto defaults = resolve_help_defaults(parsed(""), kHost);
  EXPECT_EQ(defaults.vcpu, "(default 2 from host: 8 cores)");
  EXPECT_EQ(defaults.memory, "(default 2G from host: 16.0 GiB RAM)");
  EXPECT_EQ(defaults.disk, "(default 4G built-in)");
  EXPECT_EQ(defaults.image, "(default debian-bookworm built-in)");
  EXPECT_EQ(defaults.kernel,
            "(default: the image's kernel, a `kernel build` one in place of debian-cloud)");
}

TEST(HelpDefaults, ConfigValuesSayFromConfig) {
  auto defaults = resolve_help_defaults(parsed("default_image = \"tiny\"\n"
                                               "default_kernel = \"k1\"\n"
                                               "[vm_defaults]\nvcpu = 3\nmemory_mib = 1024\n"
                                               "disk_size = \"8G\"\n"),
                                        kHost);
  EXPECT_EQ(defaults.vcpu, "(default 3 from config)");
  EXPECT_EQ(defaults.memory, "(default 1G from config)");
  EXPECT_EQ(defaults.disk, "(default 8G from config)");
  EXPECT_EQ(defaults.image, "(default tiny from config)");
  EXPECT_EQ(defaults.kernel, "(default k1 from config)");
}

TEST(HelpDefaults, AnUnreadableConfigShowsTheBuiltInsAndSaysSo) {
  auto defaults = resolve_help_defaults(parsed("[vm_defaults]\nvcpu = \"many\"\n"), kHost);
  EXPECT_EQ(defaults.vcpu, "(default 2 from host: 8 cores; config unreadable)");
  EXPECT_EQ(defaults.image, "(default debian-bookworm built-in; config unreadable)");
  // A host probe that failed falls to the floors.
  auto floors = resolve_help_defaults(parsed(""), config::HostInfo{});
  EXPECT_EQ(floors.vcpu, "(default 1 built-in)");
  EXPECT_EQ(floors.memory, "(default 512M built-in)");
}

class HelpOutputTest : public ::testing::Test {
 protected:
  int banger(std::vector<std::string> args) {
    args.insert(args.begin(), "banger");
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    return run_command_line(static_cast<int>(argv.size()), argv.data(), ctx);
  }

  CapturePrinter printer;
  int connects = 0;
  std::string toml;
  Context ctx{.printer = printer,
              .connect = [this](Connect) -> Expected<rpc::Client> {
                ++connects;
                return fail(Errc::unavailable, "no daemon in this test");
              },
              .load_config = [this] { return parsed(toml); }};
};

TEST_F(HelpOutputTest, VmCreateAndVmRunHelpShowTheResolvedDefaultsWithoutTheDaemon) {
  for (const std::string command : {"create", "run"}) {
    SCOPED_TRACE(command);
    const std::size_t mark = printer.out_text().size();
    EXPECT_EQ(banger({"vm", command, "--help"}), 0);
    const std::string help = printer.out_text().substr(mark);
    EXPECT_THAT(help, MatchesRegex("(.|\n)*--vcpu[^\n]*virtual CPUs \\(default [0-9]+ "
                                   "(from host: [0-9]+ cores|built-in)\\)(.|\n)*"));
    EXPECT_THAT(help, HasSubstr("(default debian-bookworm built-in)"));
    EXPECT_THAT(help, HasSubstr("(default 4G built-in)"));
    EXPECT_THAT(help, HasSubstr("Examples:"));
  }
  EXPECT_EQ(connects, 0);
}

TEST_F(HelpOutputTest, AConfigValueSaysFromConfig) {
  toml = "[vm_defaults]\nvcpu = 3\n";
  EXPECT_EQ(banger({"vm", "create", "--help"}), 0);
  EXPECT_THAT(printer.out_text(), HasSubstr("virtual CPUs (default 3 from config)"));
  toml = "[vm_defaults\n";  // broken
  EXPECT_EQ(banger({"vm", "run", "--help"}), 0);
  EXPECT_THAT(printer.out_text(), HasSubstr("; config unreadable)"));
  EXPECT_EQ(connects, 0);
}

TEST_F(HelpOutputTest, OtherCommandsShowNoDefaultNotes) {
  EXPECT_EQ(banger({"vm", "list", "--help"}), 0);
  EXPECT_THAT(printer.out_text(), Not(HasSubstr("(default ")));
  EXPECT_THAT(printer.out_text(), HasSubstr("banger vm list -q"));
}

}  // namespace
}  // namespace banger::cli
