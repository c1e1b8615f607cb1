#pragma once

#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/observability/admission_metrics.h"
#include "server/observability/db_metrics.h"
#include "server/observability/lease_metrics.h"
#include "server/observability/outbox_metrics.h"
#include "server/observability/replica_metrics.h"
#include "server/observability/rpc_metrics.h"

namespace docgate {

// Every metric docgate exports, built once here and passed by reference. Owns the
// prometheus Registry that the /metrics endpoint serves. Thread-safe (prometheus-cpp).
class Metrics {
 public:
  Metrics();

  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // The gRPC server metrics of a docgate.v1.DocumentService method (by its name).
  RpcMetrics& rpc(const std::string& method) { return rpcs_.at(method); }

  // How many calls each database round trip served, by method (CreateDocument,
  // GetDocument): the batches of rpc/call_batcher.h.
  prometheus::Histogram& batch_size(const std::string& method) { return *batch_sizes_.at(method); }

  // WaitVisible.
  prometheus::Gauge& wait_visible_waiters;
  prometheus::Histogram& wait_visible_seconds;
  prometheus::Counter& wait_visible_timeouts;
  // The visibility watcher's checks (one query for every id waited for), each.
  prometheus::Histogram& visibility_check_seconds;

  // The pool's and the statements' metrics, as the database layer reports them.
  db::DbObserver& db() { return db_; }

  ReplicaMetrics& replicas() { return replicas_; }

  OutboxMetrics& outbox() { return outbox_; }

  AdmissionMetrics& admission() { return admission_; }

  LeaseMetrics& leases() { return leases_; }

  // The errors calls ended with lately (the status page's).
  const RecentErrors& recent_errors() const { return recent_errors_; }

  // docgate_wait_visible_max_waiters: the waiters' bound in force.
  prometheus::Gauge& wait_visible_max_waiters;

  // docgate_config_reloads_total{result}: "applied", "unchanged" or "invalid".
  prometheus::Counter& config_reloads(const char* result) { return config_reloads_.Add({{"result", result}}); }

 private:
  // Keeps alive what the references above point into.
  std::shared_ptr<prometheus::Registry> registry_;
  RecentErrors recent_errors_;                                 // before rpcs_, which record into it
  std::map<std::string, RpcMetrics> rpcs_;                     // made in the constructor, read-only after
  std::map<std::string, prometheus::Histogram*> batch_sizes_;  // likewise
  DbMetrics db_;
  ReplicaMetrics replicas_;
  OutboxMetrics outbox_;
  AdmissionMetrics admission_;
  LeaseMetrics leases_;
  prometheus::Family<prometheus::Counter>& config_reloads_;

  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
};

// Histogram buckets from 100 µs to 30 s, roughly x2.5 apart.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

}  // namespace docgate
