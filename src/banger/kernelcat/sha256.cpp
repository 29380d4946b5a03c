#include "banger/kernelcat/sha256.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>

#include "banger/base/assert.hpp"
#include "banger/base/fd.hpp"

namespace banger::kernelcat {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx new_sha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  BANGER_ASSERT(ctx != nullptr, "EVP_MD_CTX_new only fails when out of memory");
  BANGER_ASSERT(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1,
                "OpenSSL always provides SHA-256");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  BANGER_ASSERT(EVP_DigestFinal_ex(ctx, digest.data(), &len) == 1, "SHA-256 finalisation");
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  MdCtx ctx = new_sha256();
  BANGER_ASSERT(EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1, "SHA-256 update");
  return finish_hex(ctx.get());
}

Expected<std::string> sha256_file(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(fmt::format("hashing {}", path), errno);
  }
  MdCtx ctx = new_sha256();
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
    BANGER_ASSERT(EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n)) == 1,
                  "SHA-256 update");
  }
  return finish_hex(ctx.get());
}

}  // namespace banger::kernelcat
