#include "banger/api/json_codec.hpp"

#include <fmt/format.h>

namespace banger::api::detail {

std::string_view json_kind(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::binary:
      return "binary";
  }
  return "unknown";
}

Error type_error(const std::string& path, std::string_view expected, const nlohmann::json& got) {
  return Error{Errc::invalid_argument,
               fmt::format("{}: expected {}, got {}", path, expected, json_kind(got)),
               0,
               {}};
}

Error range_error(const std::string& path, const std::string& min, const std::string& max) {
  return Error{Errc::invalid_argument,
               fmt::format("{}: integer out of range (allowed {}..{})", path, min, max),
               0,
               {}};
}

Error unknown_field_error(const std::string& path, const std::string& name) {
  return Error{Errc::invalid_argument, fmt::format("{}: unknown field \"{}\"", path, name), 0, {}};
}

}  // namespace banger::api::detail
