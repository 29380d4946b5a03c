// ext4 edit throughput: banger's one-batch `debugfs -w -f -` per image (ext4::apply) against
// the naive baseline of one `debugfs -w -R "write ..."` process per file, in the same run on
// identical fresh images. Prints files/s for both and the speed-up ratio.
//
// Usage: ext4_edit_bench [files=300] [rounds=3]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int die(const std::string& what, const banger::Error& e) {
  std::fprintf(stderr, "ext4_edit_bench: %s: %s\n", what.c_str(), e.message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace banger;
  int files = argc > 1 ? std::atoi(argv[1]) : 300;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  sys::PosixCommandRunner runner;
  testkit::TempDir dir;
  std::vector<double> batch_s;
  std::vector<double> naive_s;
  for (int round = 0; round < rounds; ++round) {
    std::string batch_img = dir.path() + "/batch.ext4";
    std::string naive_img = dir.path() + "/naive.ext4";
    for (const auto& img : {batch_img, naive_img}) {
      if (auto made = ext4::make_ext4(runner, {.image = img, .size_mib = 128}); !made) {
        return die("mkfs", made.error());
      }
    }
    // Same content both ways: `files` files of 1 KiB under /etc/bench.
    std::string content(1024, 'x');
    ext4::Ext4Edit edit;
    edit.mkdir_p("/etc/bench");
    for (int i = 0; i < files; ++i) {
      edit.write_file("/etc/bench/f" + std::to_string(i), content, 0644);
    }
    auto start = Clock::now();
    if (auto applied = ext4::apply(runner, batch_img, edit); !applied) {
      return die("batch apply", applied.error());
    }
    batch_s.push_back(seconds_since(start));

    std::string src = dir.path() + "/src";
    if (auto w = sys::write_file_atomic(src, content); !w) {
      return die("staging", w.error());
    }
    start = Clock::now();
    auto mk = runner.run({.argv = {"debugfs", "-w", "-R", "mkdir /etc/bench", naive_img}});
    if (!mk || mk->exit_code != 0) {
      std::fprintf(stderr, "ext4_edit_bench: debugfs mkdir failed\n");
      return 1;
    }
    for (int i = 0; i < files; ++i) {
      auto r =
          runner.run({.argv = {"debugfs", "-w", "-R",
                               "write " + src + " /etc/bench/f" + std::to_string(i), naive_img}});
      if (!r || r->exit_code != 0) {
        std::fprintf(stderr, "ext4_edit_bench: debugfs write failed\n");
        return 1;
      }
    }
    naive_s.push_back(seconds_since(start));
  }
  std::sort(batch_s.begin(), batch_s.end());
  std::sort(naive_s.begin(), naive_s.end());
  double batch = batch_s[batch_s.size() / 2];
  double naive = naive_s[naive_s.size() / 2];
  std::printf("ext4 edit, %d files of 1 KiB, median of %d rounds\n", files, rounds);
  std::printf("  banger batch (one debugfs per image): %8.3f s  %9.0f files/s\n", batch,
              files / batch);
  std::printf("  baseline (one debugfs per file):      %8.3f s  %9.0f files/s\n", naive,
              files / naive);
  std::printf("  speed-up: %.1fx\n", naive / batch);
  return 0;
}
