#pragma once

#include <functional>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "server/db/pool.h"

namespace docgate {

// The pool's metrics, read from PoolStats when Prometheus scrapes, so the pool's
// hot path updates nothing and the gauges match the pool at that instant:
// docgate_pool_connections{state}, docgate_pool_max_connections,
// docgate_pool_pending_acquires, docgate_pool_connections_opened_total,
// docgate_pool_connections_closed_total{reason}, docgate_db_up, docgate_circuit_open.
class PoolCollector final : public prometheus::Collectable {
 public:
  explicit PoolCollector(std::function<db::PoolStats()> stats) : stats_(std::move(stats)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<db::PoolStats()> stats_;
};

}  // namespace docgate
