#include "server/observability/replica_metrics.h"

namespace docgate {

ReplicaMetrics::ReplicaMetrics(prometheus::Registry& registry)
    : lag_(prometheus::BuildGauge()
               .Name("docgate_replica_replay_lag_bytes")
               .Help("How far a replica's replayed WAL is behind the primary's current position")
               .Register(registry)),
      rotation_(prometheus::BuildGauge()
                    .Name("docgate_replica_in_rotation")
                    .Help("1 while a replica serves reads; 0 while it is down or lags beyond --max-replica-lag-bytes")
                    .Register(registry)),
      reads_(prometheus::BuildCounter()
                 .Name("docgate_reads_total")
                 .Help("GetDocument and WaitVisible reads by the source that served them")
                 .Register(registry)),
      fallbacks_(prometheus::BuildCounter()
                     .Name("docgate_replica_fallbacks_total")
                     .Help("Reads that could have gone to a replica but went to the primary, by reason")
                     .Register(registry)) {
  // Present from the start, so that rates work before the first fallback.
  const char* const reasons[] = {"no_replica", "wait_expired", "replica_failed"};  // by Fallback
  for (int i = 0; i < 3; ++i) fallbacks_by_reason_[i] = &fallbacks_.Add({{"reason", reasons[i]}});
}

}  // namespace docgate
