#include "banger/vm/lifecycle.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <utility>
#include <vector>

namespace banger::vm {
namespace {

using model::VmState;

constexpr std::optional<VmState> kNo = std::nullopt;
constexpr std::optional<VmState> kCreated = VmState::created;
constexpr std::optional<VmState> kStarting = VmState::starting;
constexpr std::optional<VmState> kRunning = VmState::running;
constexpr std::optional<VmState> kStopping = VmState::stopping;
constexpr std::optional<VmState> kStopped = VmState::stopped;
constexpr std::optional<VmState> kError = VmState::error;

struct Row {
  VmState from;
  // Outcome per event, in kAllVmEvents order:
  // start, boot_succeeded, boot_failed, stop, stopped, kill, crash, guest_poweroff, lost,
  // remove, set
  std::array<std::optional<VmState>, 11> to;
};

// Every (state, event) pair. kNo = refused with failed_precondition.
const std::vector<Row> kTable = {
    {VmState::created, {kStarting, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kCreated, kCreated}},
    {VmState::starting, {kNo, kRunning, kError, kNo, kNo, kStopped, kNo, kNo, kStopped, kNo, kNo}},
    {VmState::running,
     {kNo, kNo, kNo, kStopping, kNo, kStopped, kError, kStopped, kStopped, kNo, kRunning}},
    {VmState::stopping, {kNo, kNo, kNo, kNo, kStopped, kStopped, kNo, kNo, kStopped, kNo, kNo}},
    {VmState::stopped, {kStarting, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kStopped, kStopped}},
    {VmState::error, {kStarting, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kNo, kError, kError}},
};

TEST(Lifecycle, TableCoversEveryStateAndEventPair) {
  ASSERT_EQ(kTable.size(), 6u);
  int checked = 0;
  for (const Row& row : kTable) {
    for (std::size_t i = 0; i < kAllVmEvents.size(); ++i) {
      VmEvent event = kAllVmEvents[i];
      auto result = check_transition(row.from, event);
      SCOPED_TRACE(std::string(model::to_string(row.from)) + " --" + std::string(to_string(event)) +
                   "-->");
      if (row.to[i]) {
        ASSERT_TRUE(result) << result.error().message;
        EXPECT_EQ(*result, *row.to[i]);
      } else {
        ASSERT_FALSE(result) << model::to_string(*result);
        EXPECT_EQ(result.error().code, Errc::failed_precondition);
        EXPECT_NE(result.error().message.find(std::string("in state ") +
                                              std::string(model::to_string(row.from))),
                  std::string::npos)
            << result.error().message;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 66);
}

TEST(Lifecycle, RefusalsSayWhatWasAttemptedAndTheState) {
  const std::vector<std::pair<std::pair<VmState, VmEvent>, std::string>> cases = {
      {{VmState::running, VmEvent::start}, "cannot start vm in state running"},
      {{VmState::running, VmEvent::boot_succeeded}, "cannot complete boot of vm in state running"},
      {{VmState::stopped, VmEvent::boot_failed}, "cannot fail boot of vm in state stopped"},
      {{VmState::stopped, VmEvent::stop}, "cannot stop vm in state stopped"},
      {{VmState::running, VmEvent::stopped}, "cannot mark vm stopped in state running"},
      {{VmState::created, VmEvent::kill}, "cannot kill vm in state created"},
      {{VmState::stopping, VmEvent::crash}, "cannot mark vm crashed in state stopping"},
      {{VmState::stopped, VmEvent::guest_poweroff},
       "cannot mark vm powered off by its guest in state stopped"},
      {{VmState::error, VmEvent::lost}, "cannot mark vm lost in state error"},
      {{VmState::running, VmEvent::remove}, "cannot remove vm in state running: stop it first"},
      {{VmState::starting, VmEvent::set},
       "cannot change settings of vm in state starting: wait until it has started or stopped"},
  };
  for (const auto& [input, message] : cases) {
    auto result = check_transition(input.first, input.second);
    ASSERT_FALSE(result) << message;
    EXPECT_EQ(result.error().code, Errc::failed_precondition);
    EXPECT_EQ(result.error().message, message);
  }
}

TEST(Lifecycle, EventNamesAreStable) {
  EXPECT_EQ(to_string(VmEvent::boot_succeeded), "boot_succeeded");
  EXPECT_EQ(to_string(VmEvent::set), "set");
}

}  // namespace
}  // namespace banger::vm
