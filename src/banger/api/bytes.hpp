// Byte payloads on the wire (vm.exec stdin, stdout, stderr) travel as base64 strings: JSON
// strings must be UTF-8, command output need not be. Same encoding as the agent protocol.
#pragma once

#include "banger/agentproto/base64.hpp"

namespace banger::api {

// Standard alphabet with '=' padding (agentproto::base64_encode).
using agentproto::base64_encode;
// nullopt for text that is not base64 (agentproto::base64_decode).
using agentproto::base64_decode;

}  // namespace banger::api
