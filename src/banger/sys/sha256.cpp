#include "banger/sys/sha256.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "banger/base/assert.hpp"
#include "banger/base/fd.hpp"

namespace banger::sys {

void Sha256Stream::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  BANGER_ASSERT(ctx_ != nullptr, "EVP_MD_CTX_new only fails when out of memory");
  BANGER_ASSERT(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
                "OpenSSL always provides SHA-256");
}
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;
Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::update(std::string_view data) {
  BANGER_ASSERT(EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) == 1, "SHA-256 update");
}

std::string Sha256Stream::finish_hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  BANGER_ASSERT(EVP_DigestFinal_ex(ctx_.get(), digest.data(), &len) == 1, "SHA-256 finalisation");
  BANGER_ASSERT(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1, "SHA-256 restart");
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Sha256Stream stream;
  stream.update(data);
  return stream.finish_hex();
}

Expected<std::string> sha256_file(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(fmt::format("hashing {}", path), errno);
  }
  Sha256Stream stream;
  std::array<char, 1 << 16> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(fmt::format("hashing {}", path), errno);
    }
    if (n == 0) {
      break;
    }
    stream.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  return stream.finish_hex();
}

}  // namespace banger::sys
