#include "server/store/consistency_token.h"

#include "absl/strings/numbers.h"
#include "server/store/sealed_token.h"

namespace docgate::store {
namespace {

constexpr char kBound = 'D';   // version 2: sealed with the cluster's system identifier
constexpr char kLegacy = 'C';  // version 1 (docgate 0.1): sealed with nothing
constexpr size_t kPayloadSize = 1 + 8;

std::optional<uint64_t> PositionIn(const std::optional<std::string>& payload, char kind) {
  if (!payload.has_value() || payload->size() != kPayloadSize || (*payload)[0] != kind) return std::nullopt;
  return ReadBigEndian64(*payload, 1);
}

}  // namespace

std::string EncodeConsistencyToken(uint64_t system_identifier, uint64_t lsn) {
  std::string payload(1, kBound);
  AppendBigEndian64(payload, lsn);
  return Seal(payload, system_identifier);
}

absl::StatusOr<uint64_t> DecodeConsistencyToken(const std::string& token, uint64_t system_identifier) {
  if (auto lsn = PositionIn(Unseal(token, system_identifier), kBound)) return *lsn;
  if (auto lsn = PositionIn(Unseal(token), kLegacy)) return *lsn;
  return absl::InvalidArgumentError(
      "consistency_token: not a token this database cluster issued (from another cluster, or altered)");
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
