#include "banger/api/errors.hpp"

#include "banger/base/enum_names.hpp"

namespace banger::api {
namespace {

// Every Errc and its wire code. Several Errcs share "operation_failed"; parsing a wire code
// gives the first entry, so each wire code maps back to exactly one Errc.
constexpr auto kWireCodes = base::make_enum_names<Errc>({
    {Errc::invalid_argument, "bad_request"},
    {Errc::not_found, "not_found"},
    {Errc::already_exists, "already_exists"},
    {Errc::failed_precondition, "failed_precondition"},
    {Errc::not_running, "not_running"},
    {Errc::unavailable, "unavailable"},
    {Errc::timeout, "timeout"},
    {Errc::permission_denied, "unauthorized"},
    {Errc::command_failed, "operation_failed"},
    {Errc::cancelled, "operation_failed"},
    {Errc::io, "operation_failed"},
    {Errc::bad_version, "bad_version"},
    {Errc::unknown_method, "unknown_method"},
    {Errc::internal, "internal"},
});

}  // namespace

std::string_view wire_code(Errc code) { return kWireCodes.name(code, "internal"); }

Errc errc_from_wire(std::string_view code) {
  return kWireCodes.parse(code).value_or(Errc::internal);
}

int exit_code_for(const Error& error) {
  return error.code == Errc::unavailable && error.op_id.empty() ? kExitUnreachable : kExitFailed;
}

}  // namespace banger::api
