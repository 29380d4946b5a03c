#include "banger/daemon/main.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <thread>

#include <CLI/CLI.hpp>

#include "banger/base/log.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/config/config.hpp"
#include "banger/daemon/daemon.hpp"
#include "banger/daemon/posix_platform.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/capped_log.hpp"

namespace banger::daemon {
namespace {

int refuse(const Error& error) {
  std::fprintf(stderr, "bangerd: %s\n", error.message.c_str());
  BANGER_LOG_ERROR("refusing to start: {}", error.message);
  return 1;
}

// `bangerd --console-log <path> <max bytes>`: the capped writer of one VM's console log (stdin
// is the VMM's output; started by the launcher, outlives the daemon with the VMM). See
// docs/decisions/0013 and sys::copy_to_capped_log.
int run_console_log(int argc, char** argv) {
  std::int64_t max_bytes = 0;
  if (argc != 4) {
    std::fprintf(stderr, "usage: bangerd --console-log <path> <max bytes>\n");
    return 2;
  }
  std::string_view text(argv[3]);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), max_bytes);
  if (ec != std::errc() || end != text.data() + text.size()) {
    std::fprintf(stderr, "bangerd --console-log: bad size '%s'\n", argv[3]);
    return 2;
  }
  auto copied = sys::copy_to_capped_log(0, argv[2], max_bytes);
  if (!copied) {
    std::fprintf(stderr, "bangerd --console-log: %s\n", copied.error().message.c_str());
    return 1;
  }
  return 0;
}

int run(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--console-log") {
    return run_console_log(argc, argv);
  }
  CLI::App app{"bangerd: the banger daemon (started on demand by the banger CLI)", "bangerd"};
  bool foreground = false;
  std::string log_file;
  app.add_flag("--foreground", foreground,
               "stay attached (bangerd never forks; the CLI detaches it with setsid)");
  app.add_option("--log-file", log_file, "append logs to this file instead of stderr");
  app.set_version_flag("--version", buildinfo::version_line("bangerd"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // The daemon runs ssh into untrusted guests (the stop fallback): never with the user's agent
  // or display, whoever started it (security review L3). Before any thread exists.
  for (const char* name : {"SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY", "XAUTHORITY"}) {
    ::unsetenv(name);
  }

  // Signals are taken by a dedicated thread; block them before any other thread exists.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto env = paths::Environment::current();
  auto paths = paths::resolve_paths(env);
  if (!paths) {
    return refuse(paths.error());
  }
  auto config = config::load_config(*paths, env);
  if (!config) {
    return refuse(config.error());
  }
  if (auto logging = base::init_logging(log_file, config->log_level); !logging) {
    return refuse(logging.error());
  }
  for (const auto& note : config->notes) {  // deprecated keys: the daemon still starts
    BANGER_LOG_WARN("config: {}", note);
  }
  auto platform = PosixPlatform::probe(*paths, *config);
  if (!platform) {
    return refuse(platform.error());
  }
  auto daemon = Daemon::start({.paths = *paths, .config = *config, .owner_uid = env.uid},
                              (*platform)->platform());
  if (!daemon) {
    return refuse(daemon.error());
  }

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    timespec tick{0, 200'000'000};
    while (!done.load()) {
      int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig > 0) {
        BANGER_LOG_INFO("received signal {}, shutting down", sig);
        (*daemon)->stop();
        return;
      }
    }
  });
  auto served = (*daemon)->run();
  done.store(true);
  signal_thread.join();
  // A handler that ignored cancellation still uses the services: destroying them under it would
  // be a use-after-free (security review L4). VMs outlive the daemon anyway, and the next
  // daemon reconciles: leave at once instead (every log line is flushed as written).
  if (std::size_t stuck = (*daemon)->abandoned_handlers(); stuck > 0) {
    BANGER_LOG_ERROR("{} request(s) ignored cancellation; exiting without tearing down", stuck);
    ::_exit(served ? 0 : 1);
  }
  daemon->reset();
  if (!served) {
    BANGER_LOG_ERROR("server stopped with an error: {}", served.error().message);
    return 1;
  }
  BANGER_LOG_INFO("bangerd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // last resort (STYLE §2.4): report, never abort
    std::fprintf(stderr, "bangerd: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace banger::daemon
