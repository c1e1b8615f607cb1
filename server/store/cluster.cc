#include "server/store/cluster.h"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/db/sql_errors.h"
#include "server/store/consistency_token.h"
#include "server/store/pg_rows.h"
#include "spdlog/spdlog.h"

namespace docgate::store {
namespace {

// The primary's timeline. 0 on a standby (which Learn is not meant for, but a moved address may lead to).
constexpr char kTimelineSql[] =
    "SELECT CASE WHEN pg_is_in_recovery() THEN 0"
    " ELSE " DOCGATE_TIMELINE_OF("pg_current_wal_lsn()") " END";

std::string LsnText(uint64_t lsn) { return absl::StrFormat("%X/%X", lsn >> 32, lsn & 0xffffffff); }

// A role that may not call it, or a server without it (42501, 42883).
bool IsLasting(const pqxx::sql_error& e) {
  const std::string state = db::SqlStateOfException(e);
  return state == "42501" || state == "42883";
}

void SayOnce(std::atomic<bool>& said, const char* message) {
  if (!said.exchange(true)) spdlog::warn("{}", message);
}

// The history the primary's timeline descends from; nullopt when it cannot be read.
std::optional<std::vector<TimelineSwitch>> ReadHistory(pqxx::connection& conn, uint32_t timeline) {
  if (timeline <= 1) return std::vector<TimelineSwitch>{};  // the first timeline has none
  try {
    pqxx::nontransaction tx(conn);
    const std::string file = absl::StrFormat("pg_wal/%08X.history", timeline);
    auto history = ParseTimelineHistory(tx.exec1("SELECT pg_read_file(" + tx.quote(file) + ")")[0].as<std::string>());
    if (!history.has_value()) spdlog::warn("the timeline history file {} does not parse", file);
    return history;
  } catch (const pqxx::sql_error& e) {
    // Whatever the server said (no right, no such file): the history is unknown, and
    // the connection is not refused for it. A lost connection is no sql_error.
    static std::atomic<bool> said{false};
    SayOnce(said, IsLasting(e) ? "cannot read the primary's timeline history (pg_read_file): a consistency token "
                                 "from before a failover is answered FAILED_PRECONDITION; GRANT EXECUTE ON FUNCTION "
                                 "pg_read_file(text) TO this role"
                               : "cannot read the primary's timeline history file: a consistency token from before "
                                 "a failover is answered FAILED_PRECONDITION");
    return std::nullopt;
  }
}

}  // namespace

void Cluster::Learn(pqxx::connection& conn) {
  uint64_t id = 0;
  try {
    pqxx::nontransaction tx(conn);
    id = static_cast<uint64_t>(tx.exec1("SELECT system_identifier FROM pg_control_system()")[0].as<int64_t>());
  } catch (const pqxx::sql_error& e) {
    // Only what IsLasting names is; anything else fails this connection's set-up, to
    // be tried again.
    if (!IsLasting(e)) throw;
    static std::atomic<bool> said{false};
    SayOnce(said,
            "cannot read the database's system identifier (pg_control_system): consistency tokens "
            "are not bound to this cluster; their positions are still checked");
  }
  if (known_.load() && system_identifier_.load() != id) {
    spdlog::warn("the database cluster behind the primary changed: tokens it issued before are refused now");
  }
  SetSystemIdentifier(id);
  uint32_t timeline = 0;
  {
    pqxx::nontransaction tx(conn);
    timeline = static_cast<uint32_t>(tx.exec1(kTimelineSql)[0].as<int64_t>());
  }
  if (timeline == 0) return;  // a standby: not a primary
  SawPrimary(absl::StrCat(conn.hostname(), ":", conn.port()), timeline, std::chrono::system_clock::now());
  if (timeline <= timeline_.load()) return;  // known already, or an old primary's
  SetPrimaryTimeline(PrimaryTimeline{timeline, ReadHistory(conn, timeline)});
}

void Cluster::SawPrimary(const std::string& address, uint32_t timeline, std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (timeline < seen_.timeline || (timeline == seen_.timeline && address == seen_.address)) return;
  if (seen_.timeline != 0) {
    ++seen_.changes;
    spdlog::warn("the primary moved: now at {} on timeline {} (was {} on timeline {})", address, timeline,
                 seen_.address, seen_.timeline);
  }
  seen_ = PrimarySeen{address, timeline, now, seen_.changes};
}

PrimarySeen Cluster::primary() const {
  std::lock_guard lock(mu_);
  return seen_;
}

void Cluster::SetPrimaryTimeline(PrimaryTimeline primary) {
  std::lock_guard lock(mu_);
  if (primary.timeline <= primary_.timeline) return;
  // Positions of the old timeline past its switch point are not this one's.
  if (primary_.timeline != 0) reached_.store(0);
  primary_ = std::move(primary);
  timeline_.store(primary_.timeline);
}

void Cluster::SetSystemIdentifier(uint64_t id) {
  // Another cluster: the positions seen, the timeline and its history were the old
  // one's and say nothing of this one (a fresh cluster starts at timeline 1 again,
  // and judged by the old history its writes would look lost). Its primary is a
  // move of the primary.
  if (known_.load() && system_identifier_.load() != id) {
    std::lock_guard lock(mu_);
    reached_.store(0);
    primary_ = PrimaryTimeline{};
    timeline_.store(0);
    seen_ = PrimarySeen{seen_.address, 0, seen_.since, seen_.changes + (seen_.timeline != 0 ? 1 : 0)};
  }
  system_identifier_.store(id);
  known_.store(true);
}

std::optional<uint64_t> Cluster::system_identifier() const {
  if (!known_.load()) return std::nullopt;
  return system_identifier_.load();
}

absl::StatusOr<TokenRead> Cluster::ReadWith(const std::string& token) const {
  const auto id = system_identifier();
  if (!id.has_value()) {
    return absl::UnavailableError("the database has not been reached yet: the consistency token cannot be checked");
  }
  const auto at = DecodeConsistencyToken(token, *id);
  if (!at.ok()) return at.status();
  if (at->timeline == 0 || at->timeline == timeline_.load()) return TokenRead{at->lsn, 0, {}};  // the usual case
  TokenFate fate;
  uint32_t now = 0;
  {
    std::lock_guard lock(mu_);
    fate = FateOf(*at, primary_);
    now = primary_.timeline;
  }
  const auto lost = [&] {
    return absl::DataLossError(
        absl::StrCat("consistency_token: the write it names was lost in a failover: the primary's timeline ", now,
                     " branched from timeline ", at->timeline, " at ", LsnText(fate.switchpoint),
                     ", before that write's commit (a standby that had not received it was promoted)"));
  };
  switch (fate.fate) {
    case Fate::kCurrent:
    case Fate::kSurvived: return TokenRead{fate.read_at, 0, {}};
    case Fate::kAskPrimary: return TokenRead{fate.read_at, at->xid, lost()};
    case Fate::kLost: return lost();
    case Fate::kAhead:
      return absl::UnavailableError(absl::StrCat("consistency_token: its write was made on timeline ", at->timeline,
                                                 ", and the primary reached is on timeline ", now,
                                                 ": a primary since replaced; retry"));
    case Fate::kCannotTell: break;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "consistency_token: its write was made on timeline ", at->timeline, ", before a failover to timeline ", now,
      ", and docgate cannot tell whether the write survived it (the timeline history is not readable, or the token "
      "names no transaction); read with consistency STRONG"));
}

void Cluster::Reached(uint64_t lsn) {
  uint64_t seen = reached_.load(std::memory_order_relaxed);
  while (lsn > seen && !reached_.compare_exchange_weak(seen, lsn, std::memory_order_relaxed)) {
  }
}

}  // namespace docgate::store
