#include "banger/api/signal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>

namespace banger::api {
namespace {

// Signals that make sense for a VMM process: stop it (KILL, TERM, INT, QUIT, HUP) or pass a
// user signal on. Stop/continue signals are left out: a stopped VMM only looks hung.
constexpr std::array kSignals{
    SignalName{"SIGKILL", SIGKILL}, SignalName{"SIGTERM", SIGTERM}, SignalName{"SIGINT", SIGINT},
    SignalName{"SIGQUIT", SIGQUIT}, SignalName{"SIGHUP", SIGHUP},   SignalName{"SIGUSR1", SIGUSR1},
    SignalName{"SIGUSR2", SIGUSR2},
};

std::string upper(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(),
                         [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string accepted_list() {
  std::string out;
  for (const auto& s : kSignals) {
    out += out.empty() ? "" : ", ";
    out += s.name;
  }
  return out;
}

}  // namespace

std::span<const SignalName> signal_names() { return kSignals; }

Expected<SignalName> parse_signal(std::string_view text) {
  const std::string wanted = upper(text);
  int number = 0;
  const auto* end = wanted.data() + wanted.size();
  const auto [ptr, ec] = std::from_chars(wanted.data(), end, number);
  const bool numeric = !wanted.empty() && ec == std::errc{} && ptr == end;
  for (const auto& s : kSignals) {
    if (numeric ? s.number == number : (wanted == s.name || "SIG" + wanted == s.name)) {
      return s;
    }
  }
  return fail(
      Errc::invalid_argument,
      fmt::format("unknown or unsupported signal \"{}\": use one of {}", text, accepted_list()));
}

}  // namespace banger::api
