// The host side of the agent token (docs/agent.md "Authentication", docs/decisions/0012): a new
// secret per VM start from the kernel's CSPRNG, and reading it back from the VM's state dir.
#pragma once

#include <string>

#include "banger/base/error.hpp"

namespace banger::agentclient {

// agentproto::kAgentTokenBytes bytes from getrandom(2) as lowercase hex. io when the kernel
// cannot provide them.
Expected<std::string> new_agent_token();

// Writes token (and a '\n') to path, mode 0600, atomically. Errors as sys::write_file_atomic.
Status write_agent_token(const std::string& path, const std::string& token);

// The token in path. not_found when the file is missing ("... restart the vm"); io when it
// cannot be read; failed_precondition when it does not hold a token.
Expected<std::string> read_agent_token(const std::string& path);

}  // namespace banger::agentclient
