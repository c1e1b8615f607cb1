#include "server/store/page_token.h"

#include "absl/strings/escaping.h"
#include "server/store/uuid.h"

namespace docgate::store {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kPayloadSize = 1 + 1 + 8 + 16;
constexpr size_t kTokenSize = kPayloadSize + 8;

uint64_t Checksum(const std::string& payload) {
  uint64_t h = 0xcbf29ce484222325ULL ^ 0x646f636761746531ULL;  // FNV-1a, salted for docgate
  for (unsigned char c : payload) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void AppendBigEndian(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t ReadBigEndian(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

absl::Status Invalid() { return absl::InvalidArgumentError("page_token: not a token this server issued"); }

}  // namespace

std::string EncodePageToken(const PageCursor& cursor) {
  std::string raw;
  raw += static_cast<char>(kVersion);
  raw += static_cast<char>(cursor.filter);
  AppendBigEndian(raw, static_cast<uint64_t>(cursor.create_time_us));
  std::string hex;
  for (char c : cursor.id) {
    if (c != '-') hex += c;
  }
  raw += absl::HexStringToBytes(hex);
  AppendBigEndian(raw, Checksum(raw));
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<PageCursor> DecodePageToken(const std::string& token, DocStatus filter) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != kTokenSize) return Invalid();
  const std::string payload = raw.substr(0, kPayloadSize);
  if (ReadBigEndian(raw, kPayloadSize) != Checksum(payload) || payload[0] != static_cast<char>(kVersion)) {
    return Invalid();
  }
  PageCursor cursor;
  cursor.filter = static_cast<DocStatus>(static_cast<unsigned char>(payload[1]));
  if (cursor.filter != filter) {
    return absl::InvalidArgumentError("page_token: issued for another status filter");
  }
  cursor.create_time_us = static_cast<int64_t>(ReadBigEndian(payload, 2));
  const std::string hex = absl::BytesToHexString(payload.substr(10, 16));
  auto id = CanonicalUuid(hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                          hex.substr(16, 4) + "-" + hex.substr(20));
  if (!id.has_value()) return Invalid();
  cursor.id = *id;
  return cursor;
}

}  // namespace docgate::store
