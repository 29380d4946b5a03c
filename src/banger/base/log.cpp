#include "banger/base/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <system_error>

namespace banger::base {
namespace {

thread_local std::string t_op_id;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger>& logger() {
  // Until init_logging() runs (unit tests, CLI), warnings and errors go to stderr.
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("banger",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_level(spdlog::level::warn);
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    return l;
  }();
  return instance;
}

}  // namespace

Expected<LogLevel> parse_log_level(std::string_view text) {
  if (auto level = kLogLevelNames.parse(text)) {
    return *level;
  }
  return fail(Errc::invalid_argument,
              fmt::format("unknown log level \"{}\": use {}", text, kLogLevelNames.allowed()));
}

namespace {

void install(spdlog::sink_ptr sink, LogLevel level) {
  auto l = std::make_shared<spdlog::logger>("banger", std::move(sink));
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  l->set_level(to_spdlog(level));
  l->flush_on(spdlog::level::trace);
  logger() = std::move(l);
}

// spdlog's file sink creates missing parent directories (as root, for a root daemon) and
// throws: check the directory first, and convert its exception on the spot.
Expected<spdlog::sink_ptr> open_file_sink(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(Errc::not_found,
                "cannot log to " + path + ": directory " + dir.string() + " does not exist");
  }
  try {
    return std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
  } catch (const spdlog::spdlog_ex& e) {
    return fail(Errc::io, "cannot log to " + path + ": " + e.what());
  }
}

}  // namespace

Status init_logging(const std::string& file_path, LogLevel level) {
  if (file_path.empty()) {
    install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), level);
    return {};
  }
  auto sink = open_file_sink(file_path);
  if (!sink) {
    install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), level);
    return tl::unexpected(sink.error());
  }
  install(*sink, level);
  return {};
}

void set_log_level(LogLevel level) { logger()->set_level(to_spdlog(level)); }

bool log_enabled(LogLevel level) { return logger()->should_log(to_spdlog(level)); }

void log_line(LogLevel level, std::string_view message) {
  if (t_op_id.empty()) {
    logger()->log(to_spdlog(level), message);
  } else {
    logger()->log(to_spdlog(level), "[{}] {}", t_op_id, message);
  }
}

const std::string& current_op_id() { return t_op_id; }

OpIdScope::OpIdScope(std::string op_id) : previous_(std::exchange(t_op_id, std::move(op_id))) {}
OpIdScope::~OpIdScope() { t_op_id = std::move(previous_); }

}  // namespace banger::base
