// SHA-256 (OpenSSL EVP) of buffers, files and streams, as lower-case hex.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace banger::sys {

// Lower-case hex SHA-256 of data (64 characters).
std::string sha256_hex(std::string_view data);

// Lower-case hex SHA-256 of the file at path, read in chunks (any size). not_found when the
// file is missing, permission_denied / io when it cannot be read; messages name the path.
Expected<std::string> sha256_file(const std::string& path);

// Incremental SHA-256 for data that streams past (a download verified while it is written).
class Sha256Stream {
 public:
  Sha256Stream();
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;
  ~Sha256Stream();

  void update(std::string_view data);
  // The digest of everything given so far, as hex; the stream starts over afterwards.
  std::string finish_hex();

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
};

}  // namespace banger::sys
