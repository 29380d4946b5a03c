// TempDir: a fresh private directory per test, removed with its contents at scope end.
#pragma once

#include <string>

namespace banger::testkit {

class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace banger::testkit
