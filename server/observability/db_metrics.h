#pragma once

#include <map>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/db/db_observer.h"

namespace docgate {

// docgate_pool_acquire_seconds, docgate_pool_acquire_timeouts_total and
// docgate_db_errors_total{sqlstate_class}, fed by the pool and WithConnection.
class DbMetrics : public db::DbObserver {
 public:
  explicit DbMetrics(prometheus::Registry& registry);

  void AcquireEnded(std::chrono::steady_clock::duration waited, bool timed_out) override;
  void StatementFailed(std::string_view sqlstate) override;

 private:
  prometheus::Counter& CounterForLocked(const std::string& sqlstate_class);

  prometheus::Histogram& acquire_seconds_;
  prometheus::Counter& acquire_timeouts_;
  prometheus::Family<prometheus::Counter>& errors_;
  // The two-character class keeps the label bounded (a few dozen values at most).
  std::mutex mu_;
  std::map<std::string, prometheus::Counter*, std::less<>> errors_by_class_;
};

}  // namespace docgate
