#include "banger/guest/host_key.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstddef>

namespace banger::guest {

namespace {

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

Expected<std::string> decode_base64(const std::string& text) {
  std::string padded = text;
  std::size_t data_len = padded.size();
  while (data_len > 0 && padded[data_len - 1] == '=') {
    --data_len;
  }
  bool ok = data_len > 0 && padded.size() - data_len <= 2 && data_len % 4 != 1;
  for (std::size_t i = 0; ok && i < data_len; ++i) {
    ok = is_base64_char(padded[i]);
  }
  if (!ok) {
    return fail(Errc::invalid_argument, "host key is not valid base64");
  }
  padded.resize(data_len);
  std::size_t pad = (4 - data_len % 4) % 4;
  padded.append(pad, '=');
  std::string out(padded.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()),
                          static_cast<int>(padded.size()));
  if (n < 0) {
    return fail(Errc::invalid_argument, "host key is not valid base64");
  }
  // EVP_DecodeBlock counts the zero bytes that stand for '=' padding; drop them.
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

Expected<std::string> fingerprint_sha256(const std::string& key_base64) {
  auto blob = decode_base64(key_base64);
  if (!blob) {
    return tl::unexpected(blob.error());
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(blob->data(), blob->size(), digest.data(), &digest_len, EVP_sha256(), nullptr) !=
      1) {
    return fail(Errc::internal, "computing sha256 of a host key failed");
  }
  std::string encoded(4 * ((digest_len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest.data(),
                          static_cast<int>(digest_len));
  encoded.resize(static_cast<std::size_t>(n));
  while (!encoded.empty() && encoded.back() == '=') {
    encoded.pop_back();
  }
  return "SHA256:" + encoded;
}

}  // namespace banger::guest
