#include "banger/testkit/temp_dir.hpp"

#include <cstdlib>
#include <filesystem>

#include "banger/base/assert.hpp"

namespace banger::testkit {

TempDir::TempDir() {
  // Short paths: unix socket paths must stay under 108 bytes.
  char tmpl[] = "/tmp/bgt-XXXXXX";
  char* made = ::mkdtemp(tmpl);
  BANGER_ASSERT(made != nullptr, "mkdtemp in /tmp must work for tests");
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace banger::testkit
