#include "banger/kernelcat/kbuild_progress.hpp"

#include <gtest/gtest.h>

namespace banger::kernelcat {
namespace {

TEST(KbuildProgress, CountsCompileStepsAcrossChunkBoundaries) {
  KbuildProgress progress;
  EXPECT_FALSE(progress.feed("make[1]: Entering directory '/w/out'\n  CC      kern"));
  EXPECT_EQ(progress.compiled(), 0U);
  EXPECT_TRUE(progress.feed("el/fork.o\n  AS      arch/x86/entry/entry_64.o\n"));
  EXPECT_EQ(progress.compiled(), 2U);
  EXPECT_EQ(progress.last_step(), "AS arch/x86/entry/entry_64.o");
  EXPECT_TRUE(progress.feed("  HOSTCC  scripts/basic/fixdep\n  LD      vmlinux.o\n"));
  EXPECT_EQ(progress.compiled(), 2U);  // host tools and links are steps, not objects
  EXPECT_EQ(progress.last_step(), "LD vmlinux.o");
  EXPECT_TRUE(progress.feed("  CC [M]  drivers/x.o\n"));
  EXPECT_EQ(progress.compiled(), 3U);
  EXPECT_EQ(progress.last_step(), "CC drivers/x.o");
}

TEST(KbuildProgress, IgnoresOtherOutput) {
  KbuildProgress progress;
  EXPECT_FALSE(progress.feed("CC kernel/fork.o\n"));          // not indented
  EXPECT_FALSE(progress.feed("  warning: something odd\n"));  // lower-case word
  EXPECT_FALSE(progress.feed("  CC\n"));                      // no target
  EXPECT_FALSE(progress.feed("  VERYLONGSTEPNAME x\n"));      // not a kbuild step
  EXPECT_FALSE(progress.feed("#\n# configuration written to .config\n"));
  EXPECT_EQ(progress.compiled(), 0U);
  EXPECT_EQ(progress.last_step(), "");
}

TEST(KbuildProgress, DropsAnOverlongLineAndRecovers) {
  KbuildProgress progress;
  EXPECT_FALSE(progress.feed("  CC      " + std::string(5000, 'a')));
  EXPECT_FALSE(progress.feed(std::string(5000, 'b') + "\n"));
  EXPECT_EQ(progress.compiled(), 0U);
  EXPECT_TRUE(progress.feed("  CC      init/main.o\n"));
  EXPECT_EQ(progress.compiled(), 1U);
  EXPECT_EQ(progress.last_step(), "CC init/main.o");
}

}  // namespace
}  // namespace banger::kernelcat
