#include "server/observability/db_metrics.h"

#include "server/observability/metrics.h"

namespace docgate {
namespace {

bool IsSqlStateChar(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

}  // namespace

DbMetrics::DbMetrics(prometheus::Registry& registry)
    : acquire_seconds_(prometheus::BuildHistogram()
                           .Name("docgate_pool_acquire_seconds")
                           .Help("Time requests waited for a pooled connection")
                           .Register(registry)
                           .Add({}, LatencyBuckets())),
      acquire_timeouts_(prometheus::BuildCounter()
                            .Name("docgate_pool_acquire_timeouts_total")
                            .Help("Requests that got no connection before their acquire timeout or deadline")
                            .Register(registry)
                            .Add({})),
      errors_(prometheus::BuildCounter()
                  .Name("docgate_db_errors_total")
                  .Help("Failed statements by SQLSTATE class (08: connection lost, 57: cancelled or timed out)")
                  .Register(registry)) {
  // The classes an operator alerts on are present from the start, at zero.
  std::lock_guard lock(mu_);
  for (const char* cls : {"08", "40", "53", "57"}) CounterForLocked(cls);
}

void DbMetrics::AcquireEnded(std::chrono::steady_clock::duration waited, bool timed_out) {
  acquire_seconds_.Observe(std::chrono::duration<double>(waited).count());
  if (timed_out) acquire_timeouts_.Increment();
}

void DbMetrics::StatementFailed(std::string_view sqlstate) {
  std::string cls = "XX";  // anything that is not a SQLSTATE
  if (sqlstate.size() == 5 && IsSqlStateChar(sqlstate[0]) && IsSqlStateChar(sqlstate[1])) {
    cls = std::string(sqlstate.substr(0, 2));
  }
  std::lock_guard lock(mu_);
  CounterForLocked(cls).Increment();
}

prometheus::Counter& DbMetrics::CounterForLocked(const std::string& sqlstate_class) {
  auto it = errors_by_class_.find(sqlstate_class);
  if (it == errors_by_class_.end()) {
    it = errors_by_class_.emplace(sqlstate_class, &errors_.Add({{"sqlstate_class", sqlstate_class}})).first;
  }
  return *it->second;
}

}  // namespace docgate
