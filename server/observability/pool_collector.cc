#include "server/observability/pool_collector.h"

#include <string>

#include "server/observability/samples.h"

namespace docgate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

}  // namespace

std::vector<MetricFamily> PoolCollector::Collect() const {
  const db::PoolStats s = stats_();
  std::vector<ClientMetric> closed;
  for (int r = 0; r < db::kCloseReasons; ++r) {
    closed.push_back(Sample(static_cast<double>(s.closed_total[r]), MetricType::Counter,
                            {{"reason", db::CloseReasonName(static_cast<db::CloseReason>(r))}}));
  }
  std::vector<MetricFamily> out;
  out.push_back(Family("docgate_pool_connections", "Pooled PostgreSQL connections by state", MetricType::Gauge,
                       {Sample(s.idle, MetricType::Gauge, {{"state", "idle"}}),
                        Sample(s.in_use, MetricType::Gauge, {{"state", "in_use"}})}));
  out.push_back(Family("docgate_pool_max_connections", "The pool's bound in force (--pool-max)", MetricType::Gauge,
                       {Sample(s.max_size, MetricType::Gauge)}));
  out.push_back(Family("docgate_pool_pending_acquires", "Requests waiting for a connection", MetricType::Gauge,
                       {Sample(static_cast<double>(s.waiters), MetricType::Gauge)}));
  out.push_back(Family("docgate_pool_connections_opened_total", "Connections the pool opened", MetricType::Counter,
                       {Sample(static_cast<double>(s.opened_total), MetricType::Counter)}));
  out.push_back(Family("docgate_pool_connections_closed_total", "Connections the pool closed, by reason",
                       MetricType::Counter, std::move(closed)));
  out.push_back(Family("docgate_db_up", "1 while the database answers", MetricType::Gauge,
                       {Sample(s.reachable ? 1 : 0, MetricType::Gauge)}));
  out.push_back(Family("docgate_circuit_open", "1 while requests fail fast because connecting keeps failing",
                       MetricType::Gauge, {Sample(s.circuit_open ? 1 : 0, MetricType::Gauge)}));
  return out;
}

}  // namespace docgate
