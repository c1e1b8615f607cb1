#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace docgate {

// Where the primary is, as docgate's connections last found it.
struct PrimaryFigures {
  double timeline = 0;       // PostgreSQL's timeline; 0 before any primary connection
  double since_seconds = 0;  // Unix time it was first found there; 0 before
  double changes = 0;        // times it moved since start-up (a failover or switchover)
};

// docgate_primary_timeline, docgate_primary_since_timestamp_seconds and
// docgate_primary_changes_total, read when Prometheus scrapes.
class PrimaryCollector final : public prometheus::Collectable {
 public:
  explicit PrimaryCollector(std::function<PrimaryFigures()> figures) : figures_(std::move(figures)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<PrimaryFigures()> figures_;
};

}  // namespace docgate
