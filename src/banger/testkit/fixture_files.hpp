// Fixture files for tests (agentd's fake /proc and /sys trees): write or symlink a file,
// creating parent directories. Plain POSIX, so agentd's tests use it without base.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace banger::testkit {

inline void make_parents(const std::string& path) {
  for (std::size_t pos = 1; (pos = path.find('/', pos)) != std::string::npos; ++pos) {
    ::mkdir(path.substr(0, pos).c_str(), 0755);
  }
}

inline void write_fixture(const std::string& path, const std::string& content) {
  make_parents(path);
  std::ofstream(path, std::ios::binary) << content;
}

inline void link_fixture(const std::string& path, const std::string& target) {
  make_parents(path);
  ::symlink(target.c_str(), path.c_str());
}

}  // namespace banger::testkit
