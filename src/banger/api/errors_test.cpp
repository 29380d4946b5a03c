#include "banger/api/errors.hpp"

#include <gtest/gtest.h>

namespace banger::api {
namespace {

struct Row {
  Errc errc;
  std::string_view wire;
  Errc back;  // what a client maps the wire code to
  int exit_code;
};

// One row per Errc: the whole mapping in one place.
constexpr Row kTable[] = {
    {Errc::invalid_argument, "bad_request", Errc::invalid_argument, 1},
    {Errc::not_found, "not_found", Errc::not_found, 1},
    {Errc::already_exists, "already_exists", Errc::already_exists, 1},
    {Errc::failed_precondition, "failed_precondition", Errc::failed_precondition, 1},
    {Errc::not_running, "not_running", Errc::not_running, 1},
    {Errc::permission_denied, "unauthorized", Errc::permission_denied, 1},
    {Errc::unavailable, "unavailable", Errc::unavailable, 3},
    {Errc::timeout, "timeout", Errc::timeout, 1},
    {Errc::cancelled, "operation_failed", Errc::command_failed, 1},
    {Errc::bad_version, "bad_version", Errc::bad_version, 1},
    {Errc::unknown_method, "unknown_method", Errc::unknown_method, 1},
    {Errc::command_failed, "operation_failed", Errc::command_failed, 1},
    {Errc::io, "operation_failed", Errc::command_failed, 1},
    {Errc::internal, "internal", Errc::internal, 1},
};

TEST(Errors, TableCoversEveryErrc) {
  EXPECT_EQ(std::size(kTable), static_cast<std::size_t>(Errc::internal) + 1);
  for (std::size_t i = 0; i < std::size(kTable); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kTable[i].errc), i);
  }
}

TEST(Errors, MapsErrcToWireAndBackAndToExitCode) {
  for (const Row& row : kTable) {
    SCOPED_TRACE(std::string(errc_name(row.errc)));
    EXPECT_EQ(wire_code(row.errc), row.wire);
    EXPECT_EQ(errc_from_wire(row.wire), row.back);
    EXPECT_EQ(exit_code_for(Error{row.errc, "x", 0, {}}), row.exit_code);
  }
}

TEST(Errors, UnavailableFromTheDaemonIsAFailureNotAnUnreachableDaemon) {
  // The daemon answered (the error carries an op id): its guest agent, not it, was unreachable.
  EXPECT_EQ(
      exit_code_for(Error{Errc::unavailable, "connecting to /r/x.agent: refused", 0, "op-3f9a1c"}),
      kExitFailed);
  EXPECT_EQ(exit_code_for(Error{Errc::unavailable, "connecting to /r/bangerd.sock", 0, {}}),
            kExitUnreachable);
}

TEST(Errors, UnknownWireCodeIsInternal) {
  EXPECT_EQ(errc_from_wire("no_such_code"), Errc::internal);
  EXPECT_EQ(errc_from_wire(""), Errc::internal);
}

TEST(Errors, SpecWireCodesAreAllProduced) {
  // SPEC S2's list, plus bad_version and unknown_method.
  for (std::string_view code : {"bad_request", "not_found", "already_exists", "failed_precondition",
                                "not_running", "unavailable", "timeout", "unauthorized",
                                "operation_failed", "internal", "bad_version", "unknown_method"}) {
    EXPECT_EQ(wire_code(errc_from_wire(code)), code);
  }
}

TEST(Errors, ExitCodeConstants) {
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitUnreachable, 3);
}

}  // namespace
}  // namespace banger::api
