#include "banger/guest/known_hosts.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "banger/base/strings.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::guest {
namespace {

constexpr const char* kType = "ssh-ed25519";
// Generated with ssh-keygen; fingerprints from `ssh-keygen -lf`.
const std::string key1 = "AAAAC3NzaC1lZDI1NTE5AAAAINW5i5metELidgOqF9OiS67Ui7SDFsw2EYNY37dZ4Z58";
const std::string fp1 = "SHA256:uepLRCXR8AvnC6tbDWj8jJnGaA5ql0rQBZ9/TAs2JFg";
const std::string key2 = "AAAAC3NzaC1lZDI1NTE5AAAAIFGSsYaTYF7QUidiuhobPDCyGdw2nO4vQotrUuqfPgbR";
const std::string fp2 = "SHA256:JyYnQBuuq+ZtNODBqrT5T/Cd3GqBBdYl55FbvI4HZAI";
const std::vector<std::string> web_names = {"172.16.0.2", "web.vm"};

std::string content(const KnownHosts& hosts) { return sys::read_file(hosts.path()).value(); }

TEST(KnownHosts, PinsAllNamesOnOneLine) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/ssh/known_hosts");
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  EXPECT_EQ(content(hosts), "172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
  struct stat st{};
  ASSERT_EQ(::stat(hosts.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(KnownHosts, PinningTheSameKeyAgainChangesNothing) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  ASSERT_TRUE(hosts.pin({"web.vm"}, kType, key1));
  EXPECT_EQ(content(hosts), "172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
}

TEST(KnownHosts, AddsOnlyTheNamesThatAreMissing) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin({"web.vm"}, kType, key1));
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  EXPECT_EQ(content(hosts),
            "web.vm ssh-ed25519 " + key1 + "\n172.16.0.2 ssh-ed25519 " + key1 + "\n");
}

TEST(KnownHosts, LookupFindsEitherName) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  EXPECT_EQ(hosts.lookup("web.vm").value(), std::nullopt);  // no file yet
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  EXPECT_EQ(hosts.lookup("web.vm").value(), "ssh-ed25519 " + key1);
  EXPECT_EQ(hosts.lookup("172.16.0.2").value(), "ssh-ed25519 " + key1);
  EXPECT_EQ(hosts.lookup("db.vm").value(), std::nullopt);
  EXPECT_EQ(hosts.lookup("172.16.0.20").value(), std::nullopt);
}

TEST(KnownHosts, DifferentKeyIsHostKeyChanged) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  auto pinned = hosts.pin(web_names, kType, key2);
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().code, Errc::failed_precondition);
  EXPECT_EQ(pinned.error().message,
            fmt::format("host key for web.vm (172.16.0.2) changed: expected {}, got {}; if the VM "
                        "was recreated or its disk replaced, forget the old key with ssh-keygen "
                        "-R '172.16.0.2' -f '{}' and ssh-keygen -R 'web.vm' -f '{}' (banger vm "
                        "delete does this itself); otherwise something else may be answering at "
                        "this address, so do not connect",
                        fp1, fp2, hosts.path(), hosts.path()));
  EXPECT_EQ(content(hosts), "172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
}

TEST(KnownHosts, StaleEntryForAReusedAddressIsReported) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  auto pinned = hosts.pin({"172.16.0.2", "db.vm"}, kType, key2);
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().code, Errc::failed_precondition);
  EXPECT_EQ(pinned.error().message.substr(0, pinned.error().message.find(';')),
            fmt::format("host key for db.vm (172.16.0.2) changed: expected {}, got {}", fp1, fp2));
  EXPECT_NE(pinned.error().message.find("ssh-keygen -R '172.16.0.2' -f"), std::string::npos);
  EXPECT_EQ(pinned.error().message.find("ssh-keygen -R 'db.vm'"), std::string::npos);
  EXPECT_EQ(hosts.lookup("db.vm").value(), std::nullopt);
}

TEST(KnownHosts, OtherKeyTypesDoNotConflict) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(sys::write_file_atomic(hosts.path(), "172.16.0.2 ssh-rsa AAAAB3NzaC1yc2E=\n"));
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  EXPECT_EQ(content(hosts),
            "172.16.0.2 ssh-rsa AAAAB3NzaC1yc2E=\n172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
}

TEST(KnownHosts, RemoveDropsTheVmsNamesAndKeepsTheRest) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(sys::write_file_atomic(hosts.path(),
                                     "# kept comment\n|1|abc=|def= ssh-ed25519 " + key2 + "\n"));
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  ASSERT_TRUE(hosts.pin({"172.16.0.3", "db.vm"}, kType, key2));
  ASSERT_TRUE(hosts.pin({"alias.vm"}, kType, key1));
  ASSERT_TRUE(sys::write_file_atomic(
      hosts.path(), content(hosts) + "web.vm,alias2.vm ssh-ed25519 " + key1 + " a comment\n"));
  ASSERT_TRUE(hosts.remove(web_names));
  EXPECT_EQ(content(hosts), "# kept comment\n|1|abc=|def= ssh-ed25519 " + key2 +
                                "\n172.16.0.3,db.vm ssh-ed25519 " + key2 +
                                "\nalias.vm ssh-ed25519 " + key1 + "\nalias2.vm ssh-ed25519 " +
                                key1 + " a comment\n");
  EXPECT_EQ(hosts.lookup("web.vm").value(), std::nullopt);
  EXPECT_EQ(hosts.lookup("172.16.0.2").value(), std::nullopt);
  // After delete the address and name can be pinned to a new key.
  EXPECT_TRUE(hosts.pin(web_names, kType, key2));
}

TEST(KnownHosts, RemoveOfUnknownNamesOrMissingFileIsFine) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  EXPECT_TRUE(hosts.remove(web_names));
  EXPECT_FALSE(sys::path_exists(hosts.path()));
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  EXPECT_TRUE(hosts.remove({"db.vm"}));
  EXPECT_EQ(content(hosts), "172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
}

TEST(KnownHosts, RejectsBadArguments) {
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  auto no_names = hosts.pin({}, kType, key1);
  ASSERT_FALSE(no_names);
  EXPECT_EQ(no_names.error().code, Errc::invalid_argument);
  EXPECT_EQ(no_names.error().message, "known_hosts: no host names given");

  auto comma = hosts.pin({"a,b"}, kType, key1);
  ASSERT_FALSE(comma);
  EXPECT_EQ(comma.error().code, Errc::invalid_argument);
  EXPECT_EQ(comma.error().message,
            "known_hosts: invalid host name \"a,b\": it must be non-empty without spaces, commas "
            "or '#'");

  auto type = hosts.pin(web_names, "ssh ed25519", key1);
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message, "known_hosts: invalid key type \"ssh ed25519\"");

  auto key = hosts.pin(web_names, kType, "not base64!");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::invalid_argument);
  EXPECT_EQ(key.error().message, "pinning web.vm (172.16.0.2): host key is not valid base64");
  EXPECT_FALSE(sys::path_exists(hosts.path()));
}

TEST(KnownHosts, ConcurrentPinsFromThreadsAreAllKept) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/known_hosts";
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      KnownHosts hosts(path);  // each thread its own object, as separate daemons would be
      for (int i = 0; i < kPerThread; ++i) {
        std::string ip = fmt::format("172.16.{}.{}", t, i + 2);
        if (!hosts.pin({ip, fmt::format("vm-{}-{}.vm", t, i)}, kType, (i % 2) ? key1 : key2)) {
          ++failures[t];
        }
        if (!hosts.pin({"shared.vm"}, kType, key1)) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures, std::vector<int>(kThreads, 0));
  KnownHosts hosts(path);
  auto lines = base::split(content(hosts), '\n');
  EXPECT_EQ(lines.size(), 1u + kThreads * kPerThread + 1u);  // + shared.vm + trailing ""
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(hosts.lookup(fmt::format("vm-{}-{}.vm", t, i)).value(),
                "ssh-ed25519 " + ((i % 2) ? key1 : key2));
    }
  }
}

TEST(KnownHosts, SshKeygenReadsTheFile) {
  if (sys::find_executable("ssh-keygen").empty()) {
    GTEST_SKIP() << "ssh-keygen (openssh-client) is not installed";
  }
  testkit::TempDir dir;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin(web_names, kType, key1));
  sys::PosixCommandRunner runner;
  for (const auto& name : web_names) {
    auto out = sys::run_checked(
        runner, sys::Command{.argv = {"ssh-keygen", "-F", name, "-f", hosts.path()}});
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_NE(out->find(key1), std::string::npos) << *out;
  }
}

}  // namespace
}  // namespace banger::guest
