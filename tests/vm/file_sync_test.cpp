// [[file_sync]] in a real guest (SPEC S3/S12): entries arrive on the work disk with their modes
// and owner at every start, links stay links, a missing host path is a warning.
#include <sys/stat.h>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;

TEST_F(VmSuite, FileSyncEntriesArriveWithTheirModesAtEveryStart) {
  const std::string src = home_->dir() + "/sync";
  ASSERT_TRUE(sys::make_dirs(src + "/dir/sub"));
  ASSERT_TRUE(sys::write_file_atomic(src + "/token", "first\n", 0644));
  ASSERT_TRUE(sys::write_file_atomic(src + "/dir/a file", "a\n", 0644));
  ASSERT_TRUE(sys::write_file_atomic(src + "/dir/sub/run.sh", "#!/bin/sh\n", 0755));
  ASSERT_EQ(::symlink("../../outside", (src + "/dir/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((src + "/dir/fifo").c_str(), 0600), 0);
  home_->write_config(std::string(kSizes) + "[[file_sync]]\nhost = \"" + src +
                      "/token\"\n"
                      "guest = \"~/.config/app/token\"\nmode = \"0600\"\n"
                      "[[file_sync]]\nhost = \"" +
                      src +
                      "/dir\"\nguest = \"/root/synced dir\"\n"
                      "[[file_sync]]\nhost = \"/nonexistent-banger\"\nguest = \"~/missing\"\n");
  run({"daemon", "stop"});  // the daemon reads the config when it starts
  base::Defer restore([&] {
    run({"vm", "delete", "fs"});
    home_->write_config(kSizes);
    run({"daemon", "stop"});
  });

  auto created = run({"vm", "create", "--image", "tiny", "--name", "fs"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.err, HasSubstr("file_sync[2]: /nonexistent-banger does not exist; skipped"));
  EXPECT_THAT(created.err, HasSubstr("file_sync[1]: " + src + "/dir/fifo is a fifo; skipped"));
  const std::string check =
      "cd /root && stat -c '%a %u:%g %n' .config/app/token 'synced dir' 'synced dir/a file' "
      "'synced dir/sub' 'synced dir/sub/run.sh' && readlink 'synced dir/link' && "
      "cat .config/app/token && ls 'synced dir'";
  EXPECT_EQ(ssh("fs", check),
            "600 0:0 .config/app/token\n"
            "755 0:0 synced dir\n"
            "644 0:0 synced dir/a file\n"
            "755 0:0 synced dir/sub\n"
            "755 0:0 synced dir/sub/run.sh\n"
            "../../outside\n"
            "first\n"
            "a file\nlink\nsub\n");

  // At every start: a changed host file arrives after stop/start.
  ASSERT_TRUE(sys::write_file_atomic(src + "/token", "second\n", 0644));
  ASSERT_EQ(run({"vm", "stop", "fs"}).exit_code, 0);
  auto started = run({"vm", "start", "fs"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_EQ(ssh("fs", "cat /root/.config/app/token; stat -c %a /root/.config/app/token"),
            "second\n600\n");
}

}  // namespace
}  // namespace banger::itest
