// JSON codec for typed RPC structs. A struct lists its fields once, in
// `template <class V> void fields(V& v) { v("name", name); ... }`, and that one list drives
// both encoding and strict decoding (unknown fields and wrong types are errors naming the path).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"

namespace banger::api {

// --- Interface ---

// Encodes a supported value (see the list below) as JSON. Structs become objects (keys sorted,
// as nlohmann::json stores them); std::nullopt optionals are omitted from objects.
template <class T>
nlohmann::json to_json_value(const T& value);

// Decodes a value strictly. Returns Errc::invalid_argument, with a message that starts with the
// field's path (`path` names the root, e.g. "params"), when:
//   - a struct is not given an object, or the object has a field fields() does not list
//     (`params: unknown field "nmae"`);
//   - a value has the wrong JSON type (`params.vm.vcpu: expected integer, got string`);
//     booleans are not integers, and floats are not integers;
//   - an integer does not fit the member's type
//     (`params.vcpu: integer out of range (allowed -2147483648..2147483647)`).
// Fields missing from the object keep their default value; null decodes to std::nullopt.
//
// Supported member types: bool, int, std::int64_t, std::uint64_t, double, std::string,
// std::vector<X>, std::optional<X>, std::map<std::string, X>, nlohmann::json (passed through)
// and structs with fields().
template <class T>
Expected<T> from_json_value(const nlohmann::json& json, std::string_view path = "params");

// --- Inline implementations ---

namespace detail {

// The JSON type of a value as our error messages name it: null, boolean, integer, number,
// string, array or object.
std::string_view json_kind(const nlohmann::json& json);
Error type_error(const std::string& path, std::string_view expected, const nlohmann::json& got);
Error range_error(const std::string& path, const std::string& min, const std::string& max);
Error unknown_field_error(const std::string& path, const std::string& name);

struct FieldNameCollector {
  std::vector<std::string_view> names;
  template <class X>
  void operator()(std::string_view name, X& /*member*/) {
    names.push_back(name);
  }
};

template <class T>
concept HasFields = requires(T& value, FieldNameCollector& collector) { value.fields(collector); };

template <class T>
struct IsOptional : std::false_type {};
template <class X>
struct IsOptional<std::optional<X>> : std::true_type {};

template <class T>
struct IsVector : std::false_type {};
template <class X, class A>
struct IsVector<std::vector<X, A>> : std::true_type {};

template <class T>
struct IsStringMap : std::false_type {};
template <class X, class C, class A>
struct IsStringMap<std::map<std::string, X, C, A>> : std::true_type {};

template <class T>
inline constexpr bool kIsInteger =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>;

template <class T>
inline constexpr bool kUnsupported = false;

template <class T>
nlohmann::json encode(const T& value);
template <class T>
Status decode(const nlohmann::json& json, const std::string& path, T& out);

struct Encoder {
  nlohmann::json& out;
  template <class X>
  void operator()(std::string_view name, const X& member) {
    if constexpr (IsOptional<X>::value) {
      if (!member.has_value()) {
        return;
      }
    }
    out[std::string(name)] = encode(member);
  }
};

struct Decoder {
  const nlohmann::json& object;
  const std::string& path;
  Status status;
  template <class X>
  void operator()(std::string_view name, X& member) {
    if (!status) {
      return;
    }
    auto it = object.find(std::string(name));
    if (it == object.end()) {
      return;
    }
    status = decode(*it, path + "." + std::string(name), member);
  }
};

template <class T>
nlohmann::json encode(const T& value) {
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    return value;
  } else if constexpr (std::is_same_v<T, bool> || kIsInteger<T> || std::is_same_v<T, double> ||
                       std::is_same_v<T, std::string>) {
    return nlohmann::json(value);
  } else if constexpr (IsOptional<T>::value) {
    return value.has_value() ? encode(*value) : nlohmann::json(nullptr);
  } else if constexpr (IsVector<T>::value) {
    nlohmann::json out = nlohmann::json::array();
    for (const typename T::value_type& item : value) {
      out.push_back(encode(item));
    }
    return out;
  } else if constexpr (IsStringMap<T>::value) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value) {
      out[key] = encode(item);
    }
    return out;
  } else if constexpr (HasFields<T>) {
    nlohmann::json out = nlohmann::json::object();
    Encoder encoder{out};
    // fields() is shared with decoding and therefore non-const; the encoder only reads.
    const_cast<T&>(value).fields(encoder);
    return out;
  } else {
    static_assert(kUnsupported<T>, "type not supported by the JSON codec");
  }
}

template <class I>
Status decode_integer(const nlohmann::json& json, const std::string& path, I& out) {
  constexpr auto kMin = std::numeric_limits<I>::min();
  constexpr auto kMax = std::numeric_limits<I>::max();
  if (json.is_number_unsigned()) {
    auto value = json.get<std::uint64_t>();
    if (!std::in_range<I>(value)) {
      return tl::unexpected(range_error(path, std::to_string(kMin), std::to_string(kMax)));
    }
    out = static_cast<I>(value);
    return {};
  }
  if (json.is_number_integer()) {
    auto value = json.get<std::int64_t>();
    if (!std::in_range<I>(value)) {
      return tl::unexpected(range_error(path, std::to_string(kMin), std::to_string(kMax)));
    }
    out = static_cast<I>(value);
    return {};
  }
  return tl::unexpected(type_error(path, "integer", json));
}

template <class T>
Status decode(const nlohmann::json& json, const std::string& path, T& out) {
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    out = json;
    return {};
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!json.is_boolean()) {
      return tl::unexpected(type_error(path, "boolean", json));
    }
    out = json.get<bool>();
    return {};
  } else if constexpr (kIsInteger<T>) {
    return decode_integer(json, path, out);
  } else if constexpr (std::is_same_v<T, double>) {
    if (!json.is_number()) {
      return tl::unexpected(type_error(path, "number", json));
    }
    out = json.get<double>();
    return {};
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!json.is_string()) {
      return tl::unexpected(type_error(path, "string", json));
    }
    out = json.get_ref<const std::string&>();
    return {};
  } else if constexpr (IsOptional<T>::value) {
    if (json.is_null()) {
      out.reset();
      return {};
    }
    typename T::value_type value{};
    if (auto status = decode(json, path, value); !status) {
      return status;
    }
    out = std::move(value);
    return {};
  } else if constexpr (IsVector<T>::value) {
    if (!json.is_array()) {
      return tl::unexpected(type_error(path, "array", json));
    }
    T values;
    values.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
      typename T::value_type value{};
      if (auto status = decode(json[i], path + "[" + std::to_string(i) + "]", value); !status) {
        return status;
      }
      values.push_back(std::move(value));
    }
    out = std::move(values);
    return {};
  } else if constexpr (IsStringMap<T>::value) {
    if (!json.is_object()) {
      return tl::unexpected(type_error(path, "object", json));
    }
    T values;
    for (auto it = json.begin(); it != json.end(); ++it) {
      typename T::mapped_type value{};
      if (auto status = decode(it.value(), path + "." + it.key(), value); !status) {
        return status;
      }
      values.emplace(it.key(), std::move(value));
    }
    out = std::move(values);
    return {};
  } else if constexpr (HasFields<T>) {
    if (!json.is_object()) {
      return tl::unexpected(type_error(path, "object", json));
    }
    FieldNameCollector collector;
    out.fields(collector);
    for (auto it = json.begin(); it != json.end(); ++it) {
      if (std::find(collector.names.begin(), collector.names.end(), it.key()) ==
          collector.names.end()) {
        return tl::unexpected(unknown_field_error(path, it.key()));
      }
    }
    Decoder decoder{json, path, {}};
    out.fields(decoder);
    return decoder.status;
  } else {
    static_assert(kUnsupported<T>, "type not supported by the JSON codec");
  }
}

}  // namespace detail

template <class T>
nlohmann::json to_json_value(const T& value) {
  return detail::encode(value);
}

template <class T>
Expected<T> from_json_value(const nlohmann::json& json, std::string_view path) {
  T out{};
  if (auto status = detail::decode(json, std::string(path), out); !status) {
    return tl::unexpected(std::move(status).error());
  }
  return out;
}

}  // namespace banger::api
