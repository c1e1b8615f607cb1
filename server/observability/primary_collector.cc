#include "server/observability/primary_collector.h"

#include "server/observability/samples.h"

namespace docgate {

std::vector<prometheus::MetricFamily> PrimaryCollector::Collect() const {
  using prometheus::MetricType;
  const PrimaryFigures f = figures_();
  std::vector<prometheus::MetricFamily> out;
  out.push_back(Family("docgate_primary_timeline", "The PostgreSQL timeline the primary is on (a failover adds one)",
                       MetricType::Gauge, {Sample(f.timeline, MetricType::Gauge)}));
  out.push_back(Family("docgate_primary_since_timestamp_seconds",
                       "When docgate first found the primary where it is now (Unix time)", MetricType::Gauge,
                       {Sample(f.since_seconds, MetricType::Gauge)}));
  out.push_back(Family("docgate_primary_changes_total",
                       "Times the primary moved (another address or timeline) since docgate started",
                       MetricType::Counter, {Sample(f.changes, MetricType::Counter)}));
  return out;
}

}  // namespace docgate
