#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace docgate::store {

// A PostgreSQL snapshot (type pg_snapshot) as its text "xmin:xmax:xip,xip": every
// transaction id below xmax and not in xip had ended when it was taken.
struct PgSnapshot {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  std::vector<uint64_t> in_progress;  // xip, ascending

  // The ids of the transactions this snapshot does not see though below xmax, as a
  // PostgreSQL array literal of xid8.
  std::string InProgressArray() const;
};

// nullopt for anything that is not a snapshot's text.
std::optional<PgSnapshot> ParsePgSnapshot(const std::string& text);

}  // namespace docgate::store
