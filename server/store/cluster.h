#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/connection>

#include "absl/status/statusor.h"

namespace docgate::store {

// What docgate knows of the PostgreSQL cluster behind the primary: its system
// identifier (shared by every streaming replica, had by no other cluster), which
// consistency tokens are bound to, and the highest WAL position seen the primary
// reach, which bounds the positions tokens may name. Thread-safe.
class Cluster {
 public:
  // A connection set-up step for the primary's connections: reads the system
  // identifier. A role that may not read it (pg_control_system) is logged once and
  // leaves tokens bound to 0 (unbound); the connection is not refused for it. Any
  // other failure throws, as a failed set-up does.
  void Learn(pqxx::connection& conn);

  // Set for tests, and by Learn. A different identifier than before (the URL now
  // leads to another cluster) forgets the positions seen.
  void SetSystemIdentifier(uint64_t id);

  // nullopt until a primary connection has opened: a token cannot be checked yet.
  std::optional<uint64_t> system_identifier() const;

  // The position of `token` if this cluster issued it; INVALID_ARGUMENT if not,
  // UNAVAILABLE while no primary connection has opened yet.
  absl::StatusOr<uint64_t> TokenPosition(const std::string& token) const;

  // Records a WAL position the primary has reached (a write's, a fresh look's).
  void Reached(uint64_t lsn);
  // The highest recorded: the primary is at least there.
  uint64_t reached() const { return reached_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> system_identifier_{0};
  std::atomic<bool> known_{false};
  std::atomic<uint64_t> reached_{0};
};

}  // namespace docgate::store
