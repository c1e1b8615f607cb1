#pragma once

#include <chrono>
#include <string_view>

namespace docgate::db {

// What the database layer reports as it works, for metrics. Implementations are
// called from many threads at once, sometimes under the pool's lock: they must be
// quick and must not call back into the pool.
class DbObserver {
 public:
  virtual ~DbObserver() = default;

  // An Acquire ended after `waited`: with a connection, or without one because its
  // time ran out (`timed_out`). Fail-fast refusals are not reported.
  virtual void AcquireEnded(std::chrono::steady_clock::duration waited, bool timed_out) = 0;

  // A statement failed with `sqlstate` (class "08" for a lost connection).
  virtual void StatementFailed(std::string_view sqlstate) = 0;
};

}  // namespace docgate::db
