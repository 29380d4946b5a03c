// Workspaces end to end (issue 11 acceptance): `vm run <repo>`, `vm workspace export` and
// `vm run --rm` through the real binaries into real guests (the tiny image with git, built once
// by VmSuite), inside the suite's private network namespace.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../integration/harness.hpp"
#include "vm_suite.hpp"
#include <nlohmann/json.hpp>

#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs a command on the host and insists it works.
std::string host(const std::vector<std::string>& argv, const std::string& cwd,
                 const std::string& input = "") {
  sys::PosixCommandRunner runner;
  auto r = runner.run({.argv = argv,
                       .stdin_data = input,
                       .timeout = std::chrono::seconds(60),
                       .env_overrides = {{"GIT_AUTHOR_NAME", "t"},
                                         {"GIT_AUTHOR_EMAIL", "t@example.invalid"},
                                         {"GIT_COMMITTER_NAME", "t"},
                                         {"GIT_COMMITTER_EMAIL", "t@example.invalid"}},
                       .cwd = cwd});
  EXPECT_TRUE(r && r->exit_code == 0)
      << sys::to_display(argv) << ": " << (r ? r->err : r.error().message);
  return r ? r->out : "";
}

void write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(sys::write_file_atomic(path, text)) << path;
}

// A repository with everything that is hard to copy: names with spaces, a newline, quotes,
// unicode, a non-UTF-8 byte and a leading dash; a symlink inside and one pointing outside; an
// executable script (exit 7); and on top of the commit: an uncommitted edit, a staged new file,
// a deleted tracked file, an untracked file and an ignored one.
struct HardRepo {
  HardRepo() : path(dir.path() + "/hard-repo") {
    std::filesystem::create_directories(path + "/src");
    host({"git", "init", "-q", "-b", "main", path}, dir.path());
    write(path + "/a file with spaces.txt", "spaces\n");
    write(path + "/new\nline.txt", "newline\n");
    write(path + "/quote\"s'.txt", "quotes\n");
    write(path +
              "/\xc3\xbcnic\xc3\xb6"
              "de.txt",
          "unicode\n");
    write(path + "/bad\xff.txt", "latin1\n");
    write(path + "/-leading-dash.txt", "dash\n");
    write(path + "/deleted.txt", "to be deleted\n");
    write(path + "/src/main.c", "int main(void) { return 0; }\n");
    write(path + "/script.sh", "#!/bin/sh\necho script-ran\nexit 7\n");
    std::filesystem::permissions(path + "/script.sh", std::filesystem::perms(0755));
    write(path + "/.gitignore", "ignored.log\n");
    write(path + "/.nvmrc", "v20.11.0\n");  // a tool to bootstrap (no network: skipped)
    std::filesystem::create_symlink("a file with spaces.txt", path + "/link");
    std::filesystem::create_symlink("/etc/hostname", path + "/outside");
    host({"git", "add", "-A"}, path);
    host({"git", "commit", "-qm", "base"}, path);
    host({"git", "remote", "add", "origin", "https://example.invalid/hard-repo.git"}, path);
    write(path + "/a file with spaces.txt", "spaces, edited\n");
    write(path + "/staged.txt", "staged\n");
    host({"git", "add", "staged.txt"}, path);
    std::filesystem::remove(path + "/deleted.txt");
    write(path + "/untracked.txt", "untracked\n");
    write(path + "/ignored.log", "ignored\n");
    head = base::trim(host({"git", "rev-parse", "HEAD"}, path));
  }
  std::string porcelain() const { return host({"git", "status", "--porcelain"}, path); }

  testkit::TempDir dir;
  std::string path;
  std::string head;
};

// text cut at each line that is exactly "---".
std::vector<std::string> sections_of(const std::string& text) {
  std::vector<std::string> sections(1);
  for (const auto& line : base::split(text, '\n')) {
    if (line == "---") {
      sections.emplace_back();
    } else {
      sections.back() += line + "\n";
    }
  }
  if (!text.empty() && text.back() == '\n') {
    sections.back().pop_back();  // split() gave a last empty piece after the final newline
  }
  return sections;
}

// The lines of text, without the one equal to drop.
std::string without_line(const std::string& text, const std::string& drop) {
  std::string out;
  for (const auto& line : base::split(text, '\n')) {
    if (!line.empty() && line != drop) {
      out += line + "\n";
    }
  }
  return out;
}

TEST_F(VmSuite, RunCopiesTheWorkingTreeWithGitStateAndExitsWithTheCommandsCode) {
  HardRepo repo;
  const std::string host_status = repo.porcelain();
  ASSERT_THAT(host_status, HasSubstr("?? untracked.txt"));
  const std::string script =
      "git status --porcelain; echo ---; ls -la; echo ---; git log -1 --format=%H; "
      "git remote get-url origin; echo ---; cat link; ./script.sh";

  auto tracked =
      run({"vm", "run", "--rm", "--image", "tiny-git", repo.path, "--", "sh", "-c", script});
  EXPECT_EQ(tracked.exit_code, 7) << tracked.err;
  auto sections = sections_of(tracked.out);
  ASSERT_EQ(sections.size(), 4u) << tracked.out << tracked.err;
  // Exactly the host's changes, without the untracked file (not asked for).
  EXPECT_EQ(sections[0], without_line(host_status, "?? untracked.txt"));
  EXPECT_THAT(sections[1], Not(HasSubstr("ignored.log")));
  EXPECT_THAT(sections[1], Not(HasSubstr("untracked.txt")));
  EXPECT_THAT(sections[1], Not(HasSubstr("deleted.txt")));
  EXPECT_THAT(sections[1], HasSubstr("link -> a file with spaces.txt"));
  EXPECT_THAT(sections[1], HasSubstr("outside -> /etc/hostname"));
  EXPECT_THAT(sections[1], HasSubstr("-rwxr-xr-x"));  // script.sh kept its x bits
  EXPECT_THAT(sections[1], HasSubstr("-leading-dash.txt"));
  EXPECT_EQ(sections[2], repo.head + "\nhttps://example.invalid/hard-repo.git\n");
  EXPECT_EQ(sections[3], "spaces, edited\nscript-ran\n");
  EXPECT_THAT(tracked.err, HasSubstr("tooling: node 20.11.0 (.nvmrc): skipped, the installs "
                                     "need the network"));
  EXPECT_THAT(tracked.err, HasSubstr("spec: 1 vcpu | 256 MiB | 256M disk | workspace hard-repo @ " +
                                     repo.head.substr(0, 7)));

  auto untracked = run({"vm", "run", "--rm", "--image", "tiny-git", "--include-untracked",
                        repo.path, "--", "git", "status", "--porcelain"});
  EXPECT_EQ(untracked.exit_code, 0) << untracked.err;
  EXPECT_EQ(untracked.out, host_status);
}

TEST_F(VmSuite, ExportOfGuestChangesAppliesOnACleanCloneAndReproducesTheGuestTree) {
  HardRepo repo;
  auto started = run({"vm", "run", "-d", "--image", "tiny-git", "--name", "ws", repo.path});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_EQ(started.out, "ws\n");
  auto shown = show("ws");
  EXPECT_EQ(shown["workspace"]["head"], repo.head);
  EXPECT_EQ(shown["workspace"]["repo"], "hard-repo");
  // vm exec runs in /root/repo: edit, add, delete, chmod, and commit one change there.
  auto edited = run({"vm", "exec", "ws", "--", "sh", "-c",
                     "pwd && echo committed >> src/main.c && git add src/main.c && "
                     "git -c user.email=g@example.invalid -c user.name=g commit -qm guest && "
                     "echo edited >> 'a file with spaces.txt' && printf 'added\\n' > added.txt && "
                     "rm -- '-leading-dash.txt' && chmod +x src/main.c && "
                     "printf '\\000\\001\\377binary' > blob.bin"});
  ASSERT_EQ(edited.exit_code, 0) << edited.err;
  EXPECT_EQ(edited.out, "/root/repo\n");

  testkit::TempDir out;
  const std::string patch = out.path() + "/guest.patch";
  auto exported = run({"vm", "workspace", "export", "ws", "--base-commit", repo.head, "-o", patch});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::string clone = out.path() + "/clone";
  host({"git", "clone", "-q", repo.path, clone}, out.path());
  host({"git", "apply", "--check", patch}, clone);
  host({"git", "apply", patch}, clone);

  // Byte for byte: every file's content, mode and symlink target, in the guest and the clone.
  const std::string listing =
      "find . -path ./.git -prune -o \\( -type f -o -type l \\) -print | LC_ALL=C sort | "
      "while IFS= read -r f; do if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; "
      "else echo \"$f $(stat -c %a \"$f\") $(sha256sum < \"$f\" | cut -c1-64)\"; fi; done";
  auto guest_tree = run({"vm", "exec", "ws", "--", "sh", "-c", listing});
  ASSERT_EQ(guest_tree.exit_code, 0) << guest_tree.err;
  std::string host_tree = host({"sh", "-c", listing}, clone);
  EXPECT_EQ(guest_tree.out, host_tree);
  EXPECT_THAT(host_tree, HasSubstr("./blob.bin"));
  EXPECT_THAT(host_tree, Not(HasSubstr("leading-dash")));

  // The list shows where the copy came from.
  auto listed = run({"vm", "list"});
  EXPECT_THAT(listed.out, HasSubstr("hard-repo@" + repo.head.substr(0, 7)));
  auto workspace = run({"vm", "workspace", "show", "ws"});
  EXPECT_EQ(workspace.exit_code, 0) << workspace.err;
  EXPECT_THAT(workspace.out, HasSubstr(repo.path));
  ASSERT_EQ(run({"vm", "delete", "ws"}).exit_code, 0);
}

TEST_F(VmSuite, RunRmWithAFailingCommandExitsOneAndLeavesNothing) {
  HardRepo repo;
  auto bridge_ports = [&] {
    auto links = in_ns(ns_, {"ip", "-o", "link", "show", "master", "br-fc"});
    return std::count(links.out.begin(), links.out.end(), '\n');
  };
  const auto ports_before = bridge_ports();
  auto r =
      run({"vm", "run", "--rm", "--image", "tiny-git", "--name", "gone", repo.path, "--", "false"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  expect_vm_gone("gone");
  // Its TAP is no longer a port of the bridge (back in the warm pool, or gone).
  EXPECT_LE(bridge_ports(), ports_before);
}

// `banger <args>` started in the suite's namespace without waiting (stdin /dev/null, output to
// log), so a test can interrupt it or pull the guest away under it.
pid_t spawn_banger(BangerHome& home, const std::string& ns, const std::vector<std::string>& args,
                   const std::string& log) {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns,
                                   std::string(BANGER_BIN_DIR) + "/banger"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("BANGER_HOME", home.dir().c_str(), 1);
    ::setenv("HOME", (home.dir() + "/home").c_str(), 1);
    ::setenv("NO_COLOR", "1", 1);
    ::setenv("BANGER_REQUIRE_NETNS", "1", 1);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> c_argv;
    for (auto& arg : argv) {
      c_argv.push_back(arg.data());
    }
    c_argv.push_back(nullptr);
    ::execvp(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit code of pid, waiting at most timeout (-1: still running then; it is killed).
int wait_exit(pid_t pid, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// A plain directory whose copy takes seconds under TCG: a 400 MiB file (sparse on the host,
// 400 MiB through the stream all the same) and a small one.
struct BigDir {
  BigDir() : path(dir.path() + "/big") {
    std::filesystem::create_directories(path);
    write(path + "/small.txt", "small\n");
    host({"truncate", "-s", "400M", path + "/big.bin"}, path);
  }
  testkit::TempDir dir;
  std::string path;
};

class VmWorkspaceFaults : public VmSuite {
 protected:
  // Starts `vm run` of a big copy and returns once the VM runs (the copy is then under way).
  pid_t start_big_copy(const std::vector<std::string>& extra, const std::string& name) {
    std::vector<std::string> args = {"vm",          "run", "--no-git", "--image", "tiny-git",
                                     "--disk-size", "1G",  "--name",   name};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(big.path);
    args.insert(args.end(), {"--", "true"});
    pid_t pid = spawn_banger(*home_, ns_, args, log);
    bool running = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (!running && std::chrono::steady_clock::now() < deadline) {
      auto vm = show(name);
      running = vm.is_object() && vm["state"] == "running";
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_TRUE(running) << sys::read_file(log).value_or("");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return pid;
  }
  std::string output() const { return sys::read_file(log).value_or(""); }

  BigDir big;
  testkit::TempDir out;
  std::string log = out.path() + "/banger.log";
};

TEST_F(VmWorkspaceFaults, CtrlCDuringTheCopyWithRmLeavesNothingAndWithoutRmKeepsTheVm) {
  pid_t rm = start_big_copy({"--rm"}, "intr");
  ASSERT_EQ(::kill(rm, SIGINT), 0);
  int code = wait_exit(rm, std::chrono::seconds(120));
  EXPECT_NE(code, 0) << output();
  EXPECT_NE(code, -1) << "banger did not end after Ctrl-C: " << output();
  EXPECT_THAT(output(), HasSubstr("interrupted"));
  expect_vm_gone("intr");

  pid_t kept = start_big_copy({}, "intr2");
  ASSERT_EQ(::kill(kept, SIGINT), 0);
  EXPECT_NE(wait_exit(kept, std::chrono::seconds(120)), 0) << output();
  EXPECT_THAT(output(), HasSubstr("kept intr2: copy again with banger vm workspace prepare"));
  EXPECT_EQ(show("intr2")["state"], "running");
  // The retry works, into a clean /root/repo (the interrupted copy left no half directory).
  // (A small directory: the retry itself is what is tested, not another 400 MiB copy.)
  testkit::TempDir small;
  write(small.path() + "/retried.txt", "retried\n");
  auto retried = run({"vm", "workspace", "prepare", "intr2", "--no-git", small.path()});
  EXPECT_EQ(retried.exit_code, 0) << retried.err;
  auto listed = run({"vm", "exec", "intr2", "--", "sh", "-c", "ls -a /root/repo; ls -a /root"});
  EXPECT_THAT(listed.out, HasSubstr("retried.txt"));
  EXPECT_THAT(listed.out, Not(HasSubstr("banger-new")));
  EXPECT_EQ(run({"vm", "delete", "intr2"}).exit_code, 0);
}

TEST_F(VmWorkspaceFaults, AGuestThatDiesMidCopyIsAClearErrorNotAHang) {
  pid_t copying = start_big_copy({}, "dies");
  auto killed = run({"vm", "kill", "dies"});
  EXPECT_EQ(killed.exit_code, 0) << killed.err;
  int code = wait_exit(copying, std::chrono::seconds(60));
  EXPECT_NE(code, -1) << "banger hung after the guest died: " << output();
  EXPECT_NE(code, 0);
  EXPECT_THAT(output(), HasSubstr("the guest closed the stream before the command exited"));
  EXPECT_EQ(run({"vm", "delete", "dies"}).exit_code, 0);
}

TEST_F(VmSuite, WorkspacePreflightFailsBeforeAnyVmExists) {
  testkit::TempDir dir;
  auto missing = run({"vm", "run", "--image", "tiny-git", dir.path() + "/nope", "--", "true"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("nope"));
  auto plain = run({"vm", "run", "--image", "tiny-git", dir.path(), "--", "true"});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_THAT(plain.err, HasSubstr("--no-git"));
  HardRepo repo;
  auto dry = run({"vm", "run", "--dry-run", repo.path});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("script.sh"));
  EXPECT_THAT(dry.out, Not(HasSubstr("ignored.log")));
  auto vms = nlohmann::json::parse(run({"vm", "list", "--json"}).out);
  EXPECT_TRUE(vms.empty()) << vms.dump();
}

}  // namespace
}  // namespace banger::itest
