// SHA-256 (OpenSSL EVP) of buffers and files, as lower-case hex.
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

// Lower-case hex SHA-256 of data (64 characters).
std::string sha256_hex(std::string_view data);

// Lower-case hex SHA-256 of the file at path, read in chunks (any size). not_found when the
// file is missing, permission_denied / io when it cannot be read; messages name the path.
Expected<std::string> sha256_file(const std::string& path);

}  // namespace banger::kernelcat
