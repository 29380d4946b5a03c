#include "banger/api/errors.hpp"

#include <array>
#include <utility>

namespace banger::api {
namespace {

// Wire codes that map back to exactly one Errc.
constexpr std::array<std::pair<std::string_view, Errc>, 12> kWireToErrc = {{
    {"bad_request", Errc::invalid_argument},
    {"not_found", Errc::not_found},
    {"already_exists", Errc::already_exists},
    {"failed_precondition", Errc::failed_precondition},
    {"not_running", Errc::not_running},
    {"unavailable", Errc::unavailable},
    {"timeout", Errc::timeout},
    {"unauthorized", Errc::permission_denied},
    {"operation_failed", Errc::command_failed},
    {"bad_version", Errc::bad_version},
    {"unknown_method", Errc::unknown_method},
    {"internal", Errc::internal},
}};

}  // namespace

std::string_view wire_code(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "bad_request";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::failed_precondition:
      return "failed_precondition";
    case Errc::not_running:
      return "not_running";
    case Errc::permission_denied:
      return "unauthorized";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::cancelled:
    case Errc::command_failed:
    case Errc::io:
      return "operation_failed";
    case Errc::bad_version:
      return "bad_version";
    case Errc::unknown_method:
      return "unknown_method";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

Errc errc_from_wire(std::string_view code) {
  for (const auto& [wire, errc] : kWireToErrc) {
    if (wire == code) {
      return errc;
    }
  }
  return Errc::internal;
}

int exit_code_for(const Error& error) {
  return error.code == Errc::unavailable && error.op_id.empty() ? kExitUnreachable : kExitFailed;
}

}  // namespace banger::api
