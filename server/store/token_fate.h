#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "server/store/write_position.h"

namespace docgate::store {

// One line of a timeline history file: `timeline` ended at `switchpoint`, where the
// next timeline of the history began. WAL before it is in every later timeline of
// that history; WAL of `timeline` from it on is in none.
struct TimelineSwitch {
  uint32_t timeline = 0;
  uint64_t switchpoint = 0;
};

// PostgreSQL's pg_wal/NNNNNNNN.history: "parent-timeline<TAB>switchpoint<TAB>reason"
// lines, '#' comments. nullopt for text that is not one.
std::optional<std::vector<TimelineSwitch>> ParseTimelineHistory(std::string_view text);

// The primary's timeline and the history it descends from.
struct PrimaryTimeline {
  uint32_t timeline = 0;                               // 0: unknown
  std::optional<std::vector<TimelineSwitch>> history;  // nullopt: could not be read
};

// What a token's write is on the primary now.
enum class Fate {
  kCurrent,     // on the primary's timeline (or a timeline unknown): read at its position
  kSurvived,    // from an earlier timeline, before its switch point: in the primary's history
  kLost,        // from an earlier timeline, committed past its switch point: not on the primary
  kAskPrimary,  // its commit straddles the switch point: whether `xid` committed on the primary decides
  kCannotTell,  // from an earlier timeline, but the history is unknown or the token names no transaction
  kAhead,       // from a later timeline than the primary's: the primary reached is a replaced one
};

struct TokenFate {
  Fate fate = Fate::kCurrent;
  uint64_t read_at = 0;      // the position a source must have replayed (kCurrent, kSurvived, kAskPrimary)
  uint64_t switchpoint = 0;  // where the token's timeline ended in the primary's history, when known
};

// Decides without a query; only kAskPrimary needs one (pg_xact_status of the
// token's xid). Sound because a token's `before_commit` follows a record of its
// transaction: a standby promoted past that point replayed the record, so its
// transaction ids start above the token's and pg_xact_status speaks of this write.
TokenFate FateOf(const WritePosition& token, const PrimaryTimeline& primary);

}  // namespace docgate::store
