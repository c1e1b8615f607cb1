#include "server/store/sealed_token.h"

#include "absl/strings/escaping.h"

namespace docgate::store {
namespace {

constexpr size_t kChecksumSize = 8;

uint64_t Checksum(const std::string& payload, uint64_t binding) {
  uint64_t h = 0xcbf29ce484222325ULL ^ 0x646f636761746531ULL;  // FNV-1a, salted for docgate
  const auto add = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  if (binding != 0) {
    for (int i = 7; i >= 0; --i) add(static_cast<unsigned char>((binding >> (8 * i)) & 0xff));
  }
  for (unsigned char c : payload) add(c);
  return h;
}

}  // namespace

void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t ReadBigEndian64(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

std::string Seal(const std::string& payload, uint64_t binding) {
  std::string raw = payload;
  AppendBigEndian64(raw, Checksum(payload, binding));
  return absl::WebSafeBase64Escape(raw);
}

std::optional<std::string> Unseal(const std::string& token, uint64_t binding) {
  std::string raw;
  if (token.empty() || !absl::WebSafeBase64Unescape(token, &raw) || raw.size() <= kChecksumSize) return std::nullopt;
  // One token, one spelling: the decoder ignores the unused low bits of the last
  // character, so without this check several strings would unseal to the same bytes.
  if (absl::WebSafeBase64Escape(raw) != token) return std::nullopt;
  std::string payload = raw.substr(0, raw.size() - kChecksumSize);
  if (ReadBigEndian64(raw, payload.size()) != Checksum(payload, binding)) return std::nullopt;
  return payload;
}

}  // namespace docgate::store
