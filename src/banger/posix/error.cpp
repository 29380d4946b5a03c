#include "banger/posix/error.hpp"

#include <cstring>

namespace banger::posix {

std::string SysError::message() const {
  if (sys_errno == 0) {
    return what;
  }
  return what + ": " + std::strerror(sys_errno);
}

}  // namespace banger::posix
