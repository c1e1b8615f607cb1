#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <pqxx/connection>

#include "absl/status/statusor.h"
#include "server/store/token_fate.h"

namespace docgate::store {

// Where a read with a consistency token must look.
struct TokenRead {
  uint64_t lsn = 0;               // the position a source must have replayed
  uint64_t ask_xid = 0;           // != 0: the write is on the primary only if this transaction committed there
  absl::Status if_not_committed;  // the answer when it did not (with ask_xid)
};

// The primary as docgate's connections last found it.
struct PrimarySeen {
  std::string address;  // host:port of the connection that found it ("" before any)
  uint32_t timeline = 0;
  std::chrono::system_clock::time_point since{};  // when first found there
  int64_t changes = 0;                            // times it moved (another address or a later timeline) since start-up
};

// What docgate knows of the PostgreSQL cluster behind the primary: its system
// identifier (shared by every streaming replica, had by no other cluster), which
// consistency tokens are bound to; the primary's timeline and its history, which
// tell whether a token's write survived a failover; and the highest WAL position
// seen the primary reach, which bounds the positions tokens may name. Thread-safe.
class Cluster {
 public:
  // A connection set-up step for the primary's connections: reads the system
  // identifier, the timeline and its history (pg_read_file). A role that may not
  // read one of them is logged once, and leaves tokens unbound (0) or the history
  // unknown; the connection is not refused for it. Any other failure throws, as a
  // failed set-up does.
  void Learn(pqxx::connection& conn);

  // Set for tests, and by Learn. A different identifier than before (the URL now
  // leads to another cluster) forgets the positions seen and the timeline.
  void SetSystemIdentifier(uint64_t id);

  // nullopt until a primary connection has opened: a token cannot be checked yet.
  std::optional<uint64_t> system_identifier() const;

  // Where a read with `token` must look, if this cluster issued it and the primary
  // has its write or may have it. Otherwise: INVALID_ARGUMENT (not issued here);
  // DATA_LOSS (the write was lost in a failover to a standby that had not received
  // it); FAILED_PRECONDITION (from before a failover, and docgate cannot tell);
  // UNAVAILABLE (no primary connection has opened yet, or the primary reached is on
  // an earlier timeline than the token: one that was replaced).
  absl::StatusOr<TokenRead> ReadWith(const std::string& token) const;

  // Set for tests, and by Learn. A later timeline forgets the positions seen.
  void SetPrimaryTimeline(PrimaryTimeline primary);
  uint32_t timeline() const { return timeline_.load(); }

  // Records where a primary connection found the primary (by Learn; for tests). An
  // earlier timeline than the one known (an old primary, briefly) is not recorded.
  void SawPrimary(const std::string& address, uint32_t timeline, std::chrono::system_clock::time_point now);
  PrimarySeen primary() const;

  // Records a WAL position the primary has reached (a write's, a fresh look's).
  void Reached(uint64_t lsn);
  // The highest recorded: the primary is at least there.
  uint64_t reached() const { return reached_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> system_identifier_{0};
  std::atomic<bool> known_{false};
  std::atomic<uint64_t> reached_{0};
  std::atomic<uint32_t> timeline_{0};
  mutable std::mutex mu_;
  PrimaryTimeline primary_;  // guarded by mu_
  PrimarySeen seen_;         // guarded by mu_
};

}  // namespace docgate::store
