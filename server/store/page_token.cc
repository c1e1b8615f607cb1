#include "server/store/page_token.h"

#include "absl/strings/escaping.h"
#include "server/store/sealed_token.h"
#include "server/store/uuid.h"

namespace docgate::store {
namespace {

constexpr char kKind = 'P';  // a page token, version 1
constexpr size_t kPayloadSize = 1 + 1 + 8 + 16;

absl::Status Invalid() { return absl::InvalidArgumentError("page_token: not a token this server issued"); }

}  // namespace

std::string EncodePageToken(const PageCursor& cursor) {
  std::string payload;
  payload += kKind;
  payload += static_cast<char>(cursor.filter);
  AppendBigEndian64(payload, static_cast<uint64_t>(cursor.create_time_us));
  std::string hex;
  for (char c : cursor.id) {
    if (c != '-') hex += c;
  }
  payload += absl::HexStringToBytes(hex);
  return Seal(payload);
}

absl::StatusOr<PageCursor> DecodePageToken(const std::string& token, DocStatus filter) {
  const auto payload = Unseal(token);
  if (!payload.has_value() || payload->size() != kPayloadSize || (*payload)[0] != kKind) return Invalid();
  PageCursor cursor;
  cursor.filter = static_cast<DocStatus>(static_cast<unsigned char>((*payload)[1]));
  if (cursor.filter != filter) {
    return absl::InvalidArgumentError("page_token: issued for another status filter");
  }
  cursor.create_time_us = static_cast<int64_t>(ReadBigEndian64(*payload, 2));
  const std::string hex = absl::BytesToHexString(payload->substr(10, 16));
  auto id = CanonicalUuid(hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                          hex.substr(16, 4) + "-" + hex.substr(20));
  if (!id.has_value()) return Invalid();
  cursor.id = *id;
  return cursor;
}

}  // namespace docgate::store
