#include "banger/base/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>

#include "banger/base/expected.hpp"

namespace banger {
namespace {

Expected<int> parse_positive(int v) {
  if (v <= 0) {
    return fail(Errc::invalid_argument, "value must be positive");
  }
  return v;
}

Expected<int> doubled(int v) {
  BANGER_TRY_ASSIGN(int x, parse_positive(v));
  return x * 2;
}

Status check(int v) {
  BANGER_TRY(parse_positive(v));
  return {};
}

TEST(Error, TryAssignPropagatesErrorUnchanged) {
  auto bad = doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "value must be positive");
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_TRUE(check(1));
  EXPECT_FALSE(check(0));
}

TEST(Error, WithContextPrefixesAndKeepsCodeAndErrno) {
  Error e = fail_errno("open /x", ENOENT).value();
  EXPECT_EQ(e.code, Errc::not_found);
  EXPECT_EQ(e.sys_errno, ENOENT);
  Error wrapped = with_context(e, "loading config");
  EXPECT_EQ(wrapped.message, "loading config: open /x: No such file or directory");
  EXPECT_EQ(wrapped.code, Errc::not_found);
  EXPECT_EQ(wrapped.sys_errno, ENOENT);
}

TEST(Error, FailErrnoMapsPermissionErrors) {
  EXPECT_EQ(fail_errno("x", EACCES).value().code, Errc::permission_denied);
  EXPECT_EQ(fail_errno("x", EIO).value().code, Errc::io);
}

TEST(Error, EveryCodeHasADistinctName) {
  EXPECT_EQ(errc_name(Errc::not_found), "not_found");
  EXPECT_EQ(errc_name(Errc::failed_precondition), "failed_precondition");
  EXPECT_NE(errc_name(Errc::io), errc_name(Errc::internal));
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

TEST(Error, FromSysKeepsErrnoAndMapsTheCode) {
  const Error e = from_sys(posix::SysError{ENOENT, "connect /x"}, "dialing agent");
  EXPECT_EQ(e.code, Errc::not_found);
  EXPECT_EQ(e.sys_errno, ENOENT);
  EXPECT_EQ(e.message, "dialing agent: connect /x: No such file or directory");
  EXPECT_EQ(from_sys(posix::SysError{ETIMEDOUT, "poll"}).code, Errc::timeout);
  EXPECT_EQ(from_sys(posix::SysError{EPIPE, "write"}).message, "write: Broken pipe");
}

}  // namespace
}  // namespace banger
