// THE mapping between banger::Errc, the protocol's wire error codes (SPEC S2) and the CLI's
// exit codes. Nothing else in banger may translate between them.
#pragma once

#include <string_view>

#include "banger/base/error.hpp"

namespace banger::api {

// CLI exit codes (SPEC S16, STYLE 2.4).
constexpr int kExitOk = 0;           // success
constexpr int kExitFailed = 1;       // the operation failed (any daemon or local error)
constexpr int kExitUsage = 2;        // bad command line; decided by the CLI's flag parsing
constexpr int kExitUnreachable = 3;  // the daemon could not be reached

// The wire code for an error: invalid_argument -> "bad_request", permission_denied ->
// "unauthorized", command_failed/io/cancelled -> "operation_failed"; not_found, already_exists,
// failed_precondition, not_running, unavailable, timeout, bad_version, unknown_method and
// internal keep their names.
std::string_view wire_code(Errc code);

// The Errc a client reports for a wire code: the inverse of wire_code() where it is one to one,
// "operation_failed" -> command_failed, and any code this build does not know -> internal.
Errc errc_from_wire(std::string_view code);

// The CLI exit code for an error that ends a command: kExitUnreachable (3) for a local
// Errc::unavailable (what rpc::Client::connect returns when the socket is missing or refuses
// connections, or when the connection breaks before the reply), kExitFailed (1) for everything
// else. An error that crossed the wire (it carries an op id) never means "the daemon is
// unreachable": the daemon answered, so a reply with wire code "unavailable" (something the
// daemon needs, e.g. a guest agent, cannot be reached) is 1. Usage errors (2) are decided by
// the CLI's own flag parsing, never here.
int exit_code_for(const Error& error);

}  // namespace banger::api
