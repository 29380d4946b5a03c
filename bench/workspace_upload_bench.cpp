// workspace_upload_bench <repo> <scratch-dir> [runs]: the host-only half of the workspace
// benchmark (docs/workspaces.md). Times inspect() + write_upload_stream() piped into the guest
// prepare command run on this host, against `git ls-files -z | tar --null -T - -c | tar -x`
// (no git metadata) in the same invocation, and prints both and the ratio. The VM run is
// bench/workspace.sh.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "banger/posix/env.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/workspace/workspace.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int sh(const std::string& script) { return std::system(script.c_str()); }

// One workspace upload into dest; -1 on failure.
double upload(const std::string& repo, const std::string& dest) {
  const auto start = Clock::now();
  auto plan = banger::workspace::inspect({.path = repo, .force = true});
  if (!plan) {
    std::fprintf(stderr, "inspect: %s\n", plan.error().message.c_str());
    return -1;
  }
  auto command = banger::workspace::guest_prepare_command(*plan, dest);
  auto pipe = banger::posix::make_pipe();
  auto child = banger::posix::Subprocess::spawn({
      .argv = command.argv,
      .env = banger::posix::current_env(),
      .cwd = "/",
      .stdio = banger::posix::Stdio::redirect,
      .redirect = {pipe->read.get(), 1, 2},
  });
  if (!child) {
    return -1;
  }
  pipe->read.reset();
  auto fed = banger::workspace::write_upload_stream(*plan, pipe->write.get());
  pipe->write.reset();
  auto status = child->wait();
  if (!fed || !status || status->code != 0) {
    std::fprintf(stderr, "upload failed: %s\n",
                 fed ? "guest command" : fed.error().message.c_str());
    return -1;
  }
  return seconds_since(start);
}

double baseline(const std::string& repo, const std::string& dest) {
  const auto start = Clock::now();
  const int rc = sh("mkdir -p '" + dest + "' && cd '" + repo +
                    "' && git ls-files -z | tar --null -T - -c | tar -x -C '" + dest + "'");
  return rc == 0 ? seconds_since(start) : -1;
}

// The host's share: inspect() alone, and inspect() + write_upload_stream() into /dev/null.
void host_share(const std::string& repo) {
  auto start = Clock::now();
  auto plan = banger::workspace::inspect({.path = repo, .force = true});
  const double inspected = seconds_since(start);
  banger::posix::Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  start = Clock::now();
  auto fed = plan ? banger::workspace::write_upload_stream(*plan, null.get()) : banger::Status{};
  std::printf("host share: inspect %.3f s, stream into /dev/null %.3f s%s\n", inspected,
              seconds_since(start), plan && fed ? "" : " (failed)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: workspace_upload_bench <repo> <scratch-dir> [runs]\n");
    return 2;
  }
  const std::string repo = argv[1];
  const std::string scratch = argv[2];
  const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
  double best_upload = 1e9;
  double best_baseline = 1e9;
  for (int i = 0; i < runs; ++i) {
    sh("rm -rf '" + scratch + "/ws' '" + scratch + "/.ws.banger-workspace' '" + scratch +
       "/tar' && sync");
    const double b = baseline(repo, scratch + "/tar");
    sh("sync");
    const double u = upload(repo, scratch + "/ws");
    if (u < 0 || b < 0) {
      return 1;
    }
    std::printf("run %d: workspace %.3f s, tar pipe %.3f s\n", i + 1, u, b);
    host_share(repo);
    best_upload = std::min(best_upload, u);
    best_baseline = std::min(best_baseline, b);
  }
  std::printf("best: workspace %.3f s, tar pipe %.3f s, ratio %.2f\n", best_upload, best_baseline,
              best_upload / best_baseline);
  return 0;
}
