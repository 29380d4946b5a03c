// `banger completion bash|zsh|fish` prints a script; the script calls the hidden
// `banger __complete -- <words...>`, which prints the candidates (completion.hpp). Live names
// come from a daemon that already runs, within kLiveDeadline; never a started one, never a
// line on stderr.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "banger/api/image.hpp"
#include "banger/api/kernel.hpp"
#include "banger/api/vm.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/completion.hpp"

namespace banger::cli {
namespace {

// How long a completion waits for a running daemon's names before it offers none.
constexpr std::chrono::milliseconds kLiveDeadline{500};

// The names of kind from a daemon that already runs; nothing on any error.
std::vector<Candidate> query_names(const std::function<Expected<rpc::Client>(Connect)>& connect,
                                   NameKind kind) {
  std::vector<Candidate> names;
  auto client = connect(Connect::existing_only);
  if (!client) {
    return names;
  }
  switch (kind) {
    case NameKind::vms:
      if (auto reply = client->call<api::VmList>({})) {
        for (const auto& vm : reply->vms) {
          names.push_back({vm.name, "VM, " + vm.state});
        }
      }
      break;
    case NameKind::images:
      if (auto reply = client->call<api::ImageList>({})) {
        for (const auto& image : reply->images) {
          names.push_back({image.name, "image, " + image.distro});
        }
      }
      break;
    case NameKind::kernels:
      if (auto reply = client->call<api::KernelList>({})) {
        for (const auto& kernel : reply->kernels) {
          names.push_back(
              {kernel.name, kernel.version.empty() ? "kernel" : "kernel " + kernel.version});
        }
      }
      break;
    case NameKind::kernel_catalog:
      if (auto reply = client->call<api::KernelList>({.available = true})) {
        for (const auto& entry : reply->available) {
          names.push_back({entry.name, entry.description});
        }
      }
      break;
  }
  return names;
}

// What a query thread hands back; shared so an abandoned thread never touches a dead frame.
struct QueryResult {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::vector<Candidate> names;
};

class CompleteCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.group("");  // hidden: for the scripts, not for people
    app.add_option("words", words_, "the command line after `banger`, the current word last");
    // The tree this command is part of is the one to walk (it outlives run()): no second
    // build of every command.
    root_ = &app;
    while (root_->get_parent() != nullptr) {
      root_ = root_->get_parent();
    }
  }
  int run(Context& ctx) override {
    bool abandoned = false;
    auto names = [&](NameKind kind) {
      auto result = std::make_shared<QueryResult>();
      // A daemon that accepts but never answers would block read(): the query runs on its own
      // thread and is abandoned after kLiveDeadline.
      std::thread([result, connect = ctx.connect, kind] {
        auto fetched = query_names(connect, kind);
        std::lock_guard lock(result->mutex);
        result->names = std::move(fetched);
        result->done = true;
        result->done_cv.notify_all();
      }).detach();
      std::unique_lock lock(result->mutex);
      if (!result->done_cv.wait_for(lock, kLiveDeadline, [&] { return result->done; })) {
        abandoned = true;
        return std::vector<Candidate>{};
      }
      return std::move(result->names);
    };
    if (words_.empty()) {
      words_.emplace_back();
    }
    ctx.printer.out(render_completion(complete(*root_, words_, names)));
    if (abandoned) {
      // The query thread may still be blocked on the socket: end here, before any destructor
      // (of Context's connector among them) can run under it.
      std::fflush(stdout);
      std::_Exit(0);
    }
    return 0;
  }

 private:
  std::vector<std::string> words_;
  const CLI::App* root_ = nullptr;
};

class CompletionCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("shell", shell_, "bash, zsh or fish")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  }
  int run(Context& ctx) override {
    auto script = completion_script(shell_);
    if (!script) {
      return report_error(ctx, script.error());
    }
    ctx.printer.out(*script);
    return 0;
  }

 private:
  std::string shell_;
};

}  // namespace

std::vector<CommandEntry> completion_commands() {
  return {
      {{"completion"},
       "print the shell completion script for bash, zsh or fish",
       "  source <(banger completion bash)      # in ~/.bashrc\n"
       "  source <(banger completion zsh)       # in ~/.zshrc, after compinit\n"
       "  banger completion fish | source       # in ~/.config/fish/config.fish",
       {},
       factory<CompletionCommand>()},
      {{"__complete"},
       "print the completion candidates for a command line (used by the scripts)",
       "  banger __complete -- vm st        # candidates for `banger vm st<TAB>`",
       {},
       factory<CompleteCommand>()},
  };
}

}  // namespace banger::cli
