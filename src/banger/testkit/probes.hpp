// Host probes for tests that need something of the machine (root, /dev/net/tun, a private
// network namespace, tools in PATH). Each returns "" when the host has it, else a one-line
// reason for GTEST_SKIP(), so skips say why:
//   if (auto why = testkit::first_missing({testkit::probe_root("create links"),
//                                          testkit::probe_tun()}); !why.empty()) {
//     GTEST_SKIP() << why;
//   }
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace banger::testkit {

// "" when running as root, else "needs root to <purpose>".
std::string probe_root(std::string_view purpose);

// "" when /dev/net/tun opens for reading and writing, else "needs /dev/net/tun".
std::string probe_tun();

// "" when a forked child can unshare(CLONE_NEWNET), else "unshare(CLONE_NEWNET) failed: <why>".
// The calling process never changes namespace.
std::string probe_netns();

// "" when every tool is in PATH, else "needs <tool> in PATH" for the first one missing.
std::string probe_tools(std::initializer_list<std::string_view> tools);

// "" when the host's apt knows where to download busybox-static (`apt-get download --print-uris`),
// else "the host's apt archive is not reachable". Artifact and VM tests build from that archive.
std::string probe_apt_archive();

// The first non-empty reason, or "" when all are empty.
std::string first_missing(std::initializer_list<std::string> reasons);

}  // namespace banger::testkit
