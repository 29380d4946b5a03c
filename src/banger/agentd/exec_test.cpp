#include "banger/agentd/exec.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>

#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

agentproto::ExecResult run_ok(const agentproto::ExecParams& params,
                              std::size_t max_output = agentproto::kMaxExecOutputBytes) {
  auto outcome = run_exec(params, max_output);
  if (auto* error = std::get_if<agentproto::WireError>(&outcome)) {
    ADD_FAILURE() << "exec failed: " << error->message;
    return {};
  }
  return std::get<agentproto::ExecResult>(outcome);
}

agentproto::WireError run_error(const agentproto::ExecParams& params) {
  auto outcome = run_exec(params);
  if (auto* error = std::get_if<agentproto::WireError>(&outcome)) {
    return *error;
  }
  ADD_FAILURE() << "exec unexpectedly succeeded";
  return {};
}

agentproto::ExecParams sh(std::string script) {
  agentproto::ExecParams params;
  params.argv = {"sh", "-c", std::move(script)};
  return params;
}

std::string pseudo_random_bytes(std::size_t size) {
  std::mt19937 gen(42);
  std::string out(size, '\0');
  for (auto& c : out) {
    c = static_cast<char>(gen() & 0xff);
  }
  return out;
}

TEST(RunExec, ReturnsExitCodeAndBothStreams) {
  const auto r = run_ok(sh("printf out; printf err >&2; exit 3"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.stdout_data, "out");
  EXPECT_EQ(r.stderr_data, "err");
  EXPECT_FALSE(r.stdout_truncated);
}

TEST(RunExec, ReportsKillingSignal) {
  const auto r = run_ok(sh("kill -9 $$"));
  EXPECT_EQ(r.signal, 9);
  EXPECT_EQ(r.exit_code, 137);
}

TEST(RunExec, UsesBaseEnvironmentPlusRequestEnv) {
  agentproto::ExecParams params;
  params.argv = {"env"};
  params.env = {{"FOO", "bar baz"}, {"TERM", "xterm"}};
  const auto r = run_ok(params);
  EXPECT_EQ(r.stdout_data,
            "FOO=bar baz\nHOME=/root\nLANG=C.UTF-8\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nTERM=xterm\n");
}

TEST(ImageEnv, ImageEnvironmentSitsBetweenTheBaseAndTheRequestAndKeepsHome) {
  auto env = layer_env(exec_base_env(),
                       {{"PATH", "/opt/python/bin:/usr/bin"}, {"HOME", "/home/app"}, {"PY", "3"}},
                       {{"PY", "4"}});
  EXPECT_EQ(env["PATH"], "/opt/python/bin:/usr/bin");
  EXPECT_EQ(env["HOME"], "/root");
  EXPECT_EQ(env["PY"], "4");
  EXPECT_EQ(env["LANG"], "C.UTF-8");
}

TEST(RunExec, RunsInRequestedDirectory) {
  testkit::TempDir dir;
  auto params = sh("pwd");
  params.cwd = dir.path();
  EXPECT_EQ(run_ok(params).stdout_data, dir.path() + "\n");
  EXPECT_EQ(run_ok(sh("pwd")).stdout_data, "/\n");
}

TEST(RunExec, FeedsStdin) {
  agentproto::ExecParams params;
  params.argv = {"tr", "a-z", "A-Z"};
  params.stdin_data = "hello\n";
  EXPECT_EQ(run_ok(params).stdout_data, "HELLO\n");
}

TEST(RunExec, LargeStdinAndOutputsArriveIntact) {
  // 12 MiB through cat while 3 MB go to stderr: needs concurrent stdin/stdout/stderr handling.
  auto params = sh("cat; head -c 3000000 /dev/zero >&2");
  params.stdin_data = pseudo_random_bytes(12 * 1024 * 1024 + 7);
  const auto r = run_ok(params);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.stdout_data.size(), params.stdin_data.size());
  EXPECT_TRUE(r.stdout_data == params.stdin_data);
  EXPECT_EQ(r.stderr_data, std::string(3000000, '\0'));
}

TEST(RunExec, ChildIgnoringStdinDoesNotBlock) {
  auto params = sh("exit 0");
  params.stdin_data = std::string(4 * 1024 * 1024, 'x');
  EXPECT_EQ(run_ok(params).exit_code, 0);
}

TEST(RunExec, TruncatesOutputAtCap) {
  const auto r = run_ok(sh("printf 0123456789abcdef; printf ab >&2"), 10);
  EXPECT_EQ(r.stdout_data, "0123456789");
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stderr_data, "ab");
  EXPECT_FALSE(r.stderr_truncated);
}

TEST(RunExec, TimeoutKillsProcessGroup) {
  auto params = sh("sleep 30 & sleep 30");
  params.timeout_s = 0.2;
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_ok(params);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, 9);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RunExec, DoesNotWaitForBackgroundDescendants) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_ok(sh("sleep 30 & echo done"));
  EXPECT_EQ(r.stdout_data, "done\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

ProgramProbe fake_probe(std::set<std::string> executables, std::set<std::string> others = {}) {
  return ProgramProbe{
      .exists = [=](const std::string& p) { return executables.contains(p) || others.contains(p); },
      .is_executable = [=](const std::string& p) { return executables.contains(p); },
  };
}

std::string resolved(const std::variant<std::string, agentproto::WireError>& outcome) {
  if (const auto* error = std::get_if<agentproto::WireError>(&outcome)) {
    return "error: " + error->message;
  }
  return std::get<std::string>(outcome);
}

TEST(ResolveProgram, SearchesThePathInOrder) {
  const auto probe = fake_probe({"/usr/bin/tool", "/bin/tool"});
  EXPECT_EQ(resolved(resolve_program("tool", "/usr/local/bin:/usr/bin:/bin", "/", probe)),
            "/usr/bin/tool");
}

TEST(ResolveProgram, SkipsNonExecutableFiles) {
  const auto probe = fake_probe({"/bin/tool"}, {"/usr/bin/tool"});
  EXPECT_EQ(resolved(resolve_program("tool", "/usr/bin:/bin", "/", probe)), "/bin/tool");
}

TEST(ResolveProgram, RelativeAndEmptyPathEntriesAreUnderCwd) {
  const auto probe = fake_probe({"/work/./tool", "/work/sub/other"});
  EXPECT_EQ(resolved(resolve_program("tool", "/bin::/usr/bin", "/work", probe)), "/work/./tool");
  EXPECT_EQ(resolved(resolve_program("other", "sub", "/work", probe)), "/work/sub/other");
}

TEST(ResolveProgram, NamesWithSlashAreTakenAsIsAndMustExist) {
  const auto probe = fake_probe({}, {"/work/bin/x", "/opt/y"});
  EXPECT_EQ(resolved(resolve_program("bin/x", "/bin", "/work", probe)), "bin/x");
  EXPECT_EQ(resolved(resolve_program("/opt/y", "/bin", "/work", probe)), "/opt/y");
  EXPECT_EQ(resolved(resolve_program("./z", "/bin", "/work", probe)),
            "error: executable \"./z\" not found");
}

TEST(ResolveProgram, NotInPathIsNotFound) {
  EXPECT_EQ(resolved(resolve_program("tool", "/bin", "/", fake_probe({}))),
            "error: executable \"tool\" not found in PATH");
}

TEST(RunExec, UnknownProgramIsNotFound) {
  agentproto::ExecParams params;
  params.argv = {"banger-no-such-program"};
  const auto e = run_error(params);
  EXPECT_EQ(e.code, agentproto::ErrorCode::not_found);
  EXPECT_EQ(e.message, "executable \"banger-no-such-program\" not found in PATH");
  params.argv = {"/nonexistent/prog"};
  EXPECT_EQ(run_error(params).message, "executable \"/nonexistent/prog\" not found");
}

TEST(RunExec, MissingDirectoryIsNotFound) {
  auto params = sh("true");
  params.cwd = "/nonexistent-banger-dir";
  const auto e = run_error(params);
  EXPECT_EQ(e.code, agentproto::ErrorCode::not_found);
  EXPECT_EQ(e.message, "working directory \"/nonexistent-banger-dir\" does not exist");
}

TEST(RunExec, NonExecutableFileIsOperationFailed) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/plain";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  agentproto::ExecParams params;
  params.argv = {path};
  const auto e = run_error(params);
  EXPECT_EQ(e.code, agentproto::ErrorCode::operation_failed);
  EXPECT_EQ(e.message, "cannot run \"" + path + "\": Permission denied");
}

}  // namespace
}  // namespace banger::agentd
