// UniqueFd: owns a file descriptor and closes it once. The one Fd class is posix::Fd (the
// static guest agent uses it too); this is its name in host code.
#pragma once

#include "banger/posix/fd.hpp"

namespace banger::base {

using UniqueFd = posix::Fd;

}  // namespace banger::base
