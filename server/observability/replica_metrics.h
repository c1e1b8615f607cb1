#pragma once

#include <cstdint>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace docgate {

// Why a read that could have gone to a replica went to the primary (a metric label).
enum class Fallback { kNoReplica, kWaitExpired, kReplicaFailed };

// The read-replica metrics: docgate_replica_replay_lag_bytes{replica},
// docgate_replica_in_rotation{replica}, docgate_reads_total{source} and
// docgate_replica_fallbacks_total{reason}. Thread-safe.
class ReplicaMetrics {
 public:
  explicit ReplicaMetrics(prometheus::Registry& registry);

  // A replica's gauges (made on first use; names are fixed at start).
  prometheus::Gauge& lag_bytes(const std::string& replica) { return lag_.Add({{"replica", replica}}); }
  prometheus::Gauge& in_rotation(const std::string& replica) { return rotation_.Add({{"replica", replica}}); }

  // The counter of reads answered by `source` ("primary" or the served_by name of a
  // replica). Looked up once per source, at start-up: counting is then one increment.
  prometheus::Counter& reads(const std::string& source) { return reads_.Add({{"source", source}}); }
  void FellBack(Fallback why) { fallbacks_by_reason_[static_cast<int>(why)]->Increment(); }

 private:
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Gauge>& rotation_;
  prometheus::Family<prometheus::Counter>& reads_;
  prometheus::Family<prometheus::Counter>& fallbacks_;
  prometheus::Counter* fallbacks_by_reason_[3];  // by Fallback
};

}  // namespace docgate
