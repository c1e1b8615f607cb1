#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace docgate {

// Leases (docgate.proto's RenewLease): docgate_leases_active (documents under a lease,
// counted at each expiry pass), docgate_leases_expired_total (leases that ran out),
// docgate_leases_renewed_total, docgate_leases_requeued_tasks_total (tasks enqueued
// again for them), docgate_documents_dead_lettered_total (moved to FAILED at their
// bound of attempts). Thread-safe (prometheus-cpp).
struct LeaseMetrics {
  explicit LeaseMetrics(prometheus::Registry& registry);

  prometheus::Gauge& active;
  prometheus::Counter& expired;
  prometheus::Counter& renewed;
  prometheus::Counter& requeued_tasks;
  prometheus::Counter& dead_lettered;
};

}  // namespace docgate
