#include "server/store/consistency_token.h"

#include "absl/strings/numbers.h"
#include "server/store/sealed_token.h"

namespace docgate::store {
namespace {

constexpr char kWithTimeline = 'E';  // version 3: position, timeline, transaction; bound
constexpr char kBound = 'D';         // version 2: a position, sealed with the system identifier
constexpr char kLegacy = 'C';        // version 1 (docgate 0.1): a position, sealed with nothing
constexpr size_t kPositionOnlySize = 1 + 8;
constexpr size_t kWithTimelineSize = 1 + 8 + 8 + 8 + 8;  // the timeline takes 8 bytes: one layout

std::optional<WritePosition> PositionOnly(const std::optional<std::string>& payload, char kind) {
  if (!payload.has_value() || payload->size() != kPositionOnlySize || (*payload)[0] != kind) return std::nullopt;
  WritePosition at;
  at.lsn = ReadBigEndian64(*payload, 1);
  return at;
}

std::optional<WritePosition> WithTimeline(const std::optional<std::string>& payload) {
  if (!payload.has_value() || payload->size() != kWithTimelineSize || (*payload)[0] != kWithTimeline) {
    return std::nullopt;
  }
  const uint64_t timeline = ReadBigEndian64(*payload, 9);
  if (timeline == 0 || timeline > UINT32_MAX) return std::nullopt;
  return WritePosition{ReadBigEndian64(*payload, 1), static_cast<uint32_t>(timeline), ReadBigEndian64(*payload, 17),
                       ReadBigEndian64(*payload, 25)};
}

}  // namespace

std::string EncodeConsistencyToken(uint64_t system_identifier, const WritePosition& at) {
  std::string payload(1, at.timeline == 0 ? kBound : kWithTimeline);
  AppendBigEndian64(payload, at.lsn);
  if (at.timeline != 0) {
    AppendBigEndian64(payload, at.timeline);
    AppendBigEndian64(payload, at.xid);
    AppendBigEndian64(payload, at.before_commit);
  }
  return Seal(payload, system_identifier);
}

absl::StatusOr<WritePosition> DecodeConsistencyToken(const std::string& token, uint64_t system_identifier) {
  const auto bound = Unseal(token, system_identifier);
  if (auto at = WithTimeline(bound)) return *at;
  if (auto at = PositionOnly(bound, kBound)) return *at;
  if (auto at = PositionOnly(Unseal(token), kLegacy)) return *at;
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
