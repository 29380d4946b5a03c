// Friendly generated VM names ("calm-otter") for VMs created without --name (S4).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/base/random.hpp"

namespace banger::namegen {

// The embedded word lists (lowercase a-z only, so every result is a valid VM name).
std::span<const std::string_view> adjectives();
std::span<const std::string_view> nouns();

// A random "adjective-noun" name drawn from the embedded lists.
std::string generate_name(base::Random& random);

// A generated name for which taken(name) is false. Tries `attempts` random names, then one
// random name with the suffixes -2, -3, ... -9999. failed_precondition only when all of those
// are taken (in practice: when taken() always says yes).
Expected<std::string> generate_unique_name(base::Random& random,
                                           const std::function<bool(const std::string&)>& taken,
                                           int attempts = 64);

}  // namespace banger::namegen
