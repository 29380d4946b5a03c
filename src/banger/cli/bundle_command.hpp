// `image bundle` and `kernel bundle`: one command shape for both (RPC image.bundle /
// kernel.bundle), and the path helper the import commands share.
#pragma once

#include <string>

#include "banger/api/image.hpp"
#include "banger/cli/command.hpp"

namespace banger::cli {

// path made absolute against the CLI's working directory (the daemon has its own).
std::string absolute_path(const std::string& path);

// What `<noun> bundle` prints: the bundle's path and size, the catalog file it was added to,
// and the catalog entry as JSON (kernels have no "kernel" field).
void print_bundle_written(Context& ctx, const std::string& noun,
                          const api::BundleResponse& written);

// Writes a bundle (and a catalog entry) of one stored image or kernel through the daemon and
// prints its catalog entry. Method is api::ImageBundle or api::KernelBundle.
template <class Method>
class BundleCommand : public Command {
 public:
  // noun: "image" or "kernel", for the positional argument and the output.
  explicit BundleCommand(std::string noun) : noun_(std::move(noun)) {}

  void declare(CLI::App& app) override {
    app.add_option(noun_, request_.name, noun_ + " name")->required();
    app.add_option("-o,--output", request_.output_dir,
                   "directory to write the bundle into (default: the current directory)");
    app.add_option("--catalog", request_.catalog,
                   "catalog file to add the entry to (created when missing)");
    app.add_flag("--json", json_, "print JSON");
  }

  int run(Context& ctx) override {
    request_.output_dir = absolute_path(request_.output_dir.empty() ? "." : request_.output_dir);
    if (!request_.catalog.empty()) {
      request_.catalog = absolute_path(request_.catalog);
    }
    auto written = call_with_progress<Method>(ctx, request_);
    if (!written) {
      return report_error(ctx, written.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*written));
      return 0;
    }
    print_bundle_written(ctx, noun_, *written);
    return 0;
  }

 private:
  std::string noun_;
  api::BundleRequest request_;
  bool json_ = false;
};

}  // namespace banger::cli
