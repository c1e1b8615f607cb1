#include "server/store/consistency_token.h"

#include "absl/strings/numbers.h"
#include "server/store/sealed_token.h"

namespace docgate::store {
namespace {

constexpr char kKind = 'C';  // a consistency token, version 1
constexpr size_t kPayloadSize = 1 + 8;

}  // namespace

std::string EncodeConsistencyToken(uint64_t lsn) {
  std::string payload(1, kKind);
  AppendBigEndian64(payload, lsn);
  return Seal(payload);
}

absl::StatusOr<uint64_t> DecodeConsistencyToken(const std::string& token) {
  const auto payload = Unseal(token);
  if (!payload.has_value() || payload->size() != kPayloadSize || (*payload)[0] != kKind) {
    return absl::InvalidArgumentError("consistency_token: not a token this server issued");
  }
  return ReadBigEndian64(*payload, 1);
}

std::optional<uint64_t> ParseLsn(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
      text.size() - slash - 1 > 8) {
    return std::nullopt;
  }
  uint32_t high = 0, low = 0;
  if (!absl::SimpleHexAtoi(text.substr(0, slash), &high) || !absl::SimpleHexAtoi(text.substr(slash + 1), &low)) {
    return std::nullopt;
  }
  return (static_cast<uint64_t>(high) << 32) | low;
}

}  // namespace docgate::store
