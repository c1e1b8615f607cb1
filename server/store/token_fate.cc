#include "server/store/token_fate.h"

#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "server/store/consistency_token.h"

namespace docgate::store {

std::optional<std::vector<TimelineSwitch>> ParseTimelineHistory(std::string_view text) {
  std::vector<TimelineSwitch> history;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string timeline_text, switchpoint_text;
    if (!(fields >> timeline_text) || timeline_text[0] == '#') continue;  // blank, or a comment
    uint32_t timeline = 0;
    if (!absl::SimpleAtoi(timeline_text, &timeline) || timeline == 0 || !(fields >> switchpoint_text)) {
      return std::nullopt;
    }
    const auto switchpoint = ParseLsn(switchpoint_text);
    if (!switchpoint.has_value()) return std::nullopt;
    history.push_back(TimelineSwitch{timeline, *switchpoint});
  }
  return history;
}

TokenFate FateOf(const WritePosition& token, const PrimaryTimeline& primary) {
  if (token.timeline == 0 || primary.timeline == 0 || token.timeline == primary.timeline) {
    return TokenFate{Fate::kCurrent, token.lsn, 0};
  }
  if (token.timeline > primary.timeline) return TokenFate{Fate::kAhead, 0, 0};
  if (!primary.history.has_value()) return TokenFate{Fate::kCannotTell, 0, 0};
  const TimelineSwitch* ended = nullptr;
  for (const TimelineSwitch& s : *primary.history) {
    if (s.timeline == token.timeline) ended = &s;
  }
  // Not an ancestor (a sibling a promotion elsewhere began): none of its WAL since
  // it branched is the primary's, and the write was made on it.
  if (ended == nullptr) return TokenFate{Fate::kLost, 0, 0};
  const uint64_t switchpoint = ended->switchpoint;
  if (token.lsn <= switchpoint) return TokenFate{Fate::kSurvived, token.lsn, switchpoint};
  if (token.before_commit != 0 && token.before_commit >= switchpoint) return TokenFate{Fate::kLost, 0, switchpoint};
  if (token.before_commit == 0 || token.xid == 0) return TokenFate{Fate::kCannotTell, 0, switchpoint};
  return TokenFate{Fate::kAskPrimary, switchpoint, switchpoint};
}

}  // namespace docgate::store
