#include "banger/cli/copy_progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace banger::cli {
namespace {

using ::testing::HasSubstr;

Context context_for(CapturePrinter& printer) { return Context{.printer = printer, .connect = {}}; }

// The guest's lines reach stderr whole (a last partial line gets its newline), and once the
// quiet period is over the copy shows its bytes against the plan's total.
TEST(CopyProgress, PassesTheGuestsOutputOnAndShowsTheBytesSent) {
  CapturePrinter printer;
  auto ctx = context_for(printer);
  std::atomic<std::uint64_t> sent{0};
  CopyProgress progress(ctx, "copying repo into web", 2 << 20, sent, std::chrono::milliseconds(0));
  ASSERT_TRUE(progress.start());
  sent = 1 << 20;
  const std::string guest = "banger workspace: one\nand a partial line";
  ASSERT_EQ(::write(progress.output_fd(), guest.data(), guest.size()),
            static_cast<ssize_t>(guest.size()));
  std::this_thread::sleep_for(CopyProgress::kTick * 3);
  progress.stop();
  EXPECT_THAT(printer.err_text(), HasSubstr("banger workspace: one\n"));
  EXPECT_THAT(printer.err_text(), HasSubstr("and a partial line\n"));
  EXPECT_THAT(printer.err_text(), HasSubstr("workspace: copying repo into web"));
  EXPECT_THAT(printer.err_text(), HasSubstr("1.0 MiB/2.0 MiB"));
}

// A copy that ends within the quiet period draws nothing; the guest's output still arrives.
TEST(CopyProgress, AQuickCopyShowsNoProgress) {
  CapturePrinter printer;
  auto ctx = context_for(printer);
  std::atomic<std::uint64_t> sent{100};
  CopyProgress progress(ctx, "copying repo into web", 100, sent, std::chrono::seconds(60));
  ASSERT_TRUE(progress.start());
  ASSERT_EQ(::write(progress.output_fd(), "note\n", 5), 5);
  progress.stop();
  EXPECT_EQ(printer.err_text(), "note\n");
}

// More bytes than planned (git metadata counts too) never shows over 100 %.
TEST(CopyProgress, NeverShowsMoreThanTheTotal) {
  CapturePrinter printer;
  auto ctx = context_for(printer);
  std::atomic<std::uint64_t> sent{5000};
  CopyProgress progress(ctx, "copying repo into web", 1000, sent, std::chrono::milliseconds(0));
  ASSERT_TRUE(progress.start());
  std::this_thread::sleep_for(CopyProgress::kTick * 2);
  progress.stop();
  EXPECT_THAT(printer.err_text(), ::testing::Not(HasSubstr("4.9 KiB")));
}

}  // namespace
}  // namespace banger::cli
