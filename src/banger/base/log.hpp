// Logging: spdlog behind BANGER_LOG_* macros. Every line carries the current op id
// (set per RPC request with OpIdScope) so a user can grep the daemon log for it.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "banger/base/enum_names.hpp"
#include "banger/base/error.hpp"
#include "banger/base/expected.hpp"

namespace banger::base {

enum class LogLevel { trace, debug, info, warn, error, off };

// The name of every level, lowest first: the one table config files, BANGER_LOG_LEVEL and
// parse_log_level() read.
inline constexpr auto kLogLevelNames = make_enum_names<LogLevel>({{LogLevel::trace, "trace"},
                                                                  {LogLevel::debug, "debug"},
                                                                  {LogLevel::info, "info"},
                                                                  {LogLevel::warn, "warn"},
                                                                  {LogLevel::error, "error"},
                                                                  {LogLevel::off, "off"}});

// The level named `text` ("trace" ... "off"); invalid_argument
// `unknown log level "x": use trace, debug, info, warn, error or off` for anything else.
Expected<LogLevel> parse_log_level(std::string_view text);

// Routes logs to a file (append; created when missing) or, with an empty path, to stderr. Call
// once at start. Never creates directories: not_found `cannot log to <path>: directory <dir>
// does not exist`; io `cannot log to <path>: <reason>` when the file cannot be opened. On error
// logs keep going to stderr.
Status init_logging(const std::string& file_path, LogLevel level);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);

// The op id of the request this thread is serving ("" outside requests).
const std::string& current_op_id();

// Sets the thread's op id for its lifetime and restores the previous one.
class OpIdScope {
 public:
  explicit OpIdScope(std::string op_id);
  OpIdScope(const OpIdScope&) = delete;
  OpIdScope& operator=(const OpIdScope&) = delete;
  ~OpIdScope();

 private:
  std::string previous_;
};

}  // namespace banger::base

#define BANGER_LOG_AT(level, ...)                                  \
  do {                                                             \
    if (::banger::base::log_enabled(level)) {                      \
      ::banger::base::log_line(level, ::fmt::format(__VA_ARGS__)); \
    }                                                              \
  } while (false)
#define BANGER_LOG_DEBUG(...) BANGER_LOG_AT(::banger::base::LogLevel::debug, __VA_ARGS__)
#define BANGER_LOG_INFO(...) BANGER_LOG_AT(::banger::base::LogLevel::info, __VA_ARGS__)
#define BANGER_LOG_WARN(...) BANGER_LOG_AT(::banger::base::LogLevel::warn, __VA_ARGS__)
#define BANGER_LOG_ERROR(...) BANGER_LOG_AT(::banger::base::LogLevel::error, __VA_ARGS__)
