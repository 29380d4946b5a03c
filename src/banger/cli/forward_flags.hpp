// Port forward arguments of the CLI (docs/forwarding.md): `--publish` of vm create / vm run and
// the ports of `vm forward`, parsed into wire specs; and the one-line rendering of a forward.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/api/forward.hpp"
#include "banger/base/error.hpp"

namespace banger::cli {

// Each "[[ADDRESS:]HOST_PORT:]GUEST_PORT" (model::parse_port_forward, default address
// `address`). invalid_argument naming the first bad spec.
Expected<std::vector<api::PortForwardSpec>> parse_forward_specs(
    const std::vector<std::string>& specs, std::string_view address = "127.0.0.1");

// "127.0.0.1:8080 -> web:80" (+ " (published)").
std::string forward_line(std::string_view vm_name, const api::ForwardInfo& forward);

}  // namespace banger::cli
