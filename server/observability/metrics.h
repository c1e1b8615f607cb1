#pragma once

#include <memory>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace docgate {

// Every metric docgate exports, built once here and passed by reference. Owns the
// prometheus Registry that the /metrics endpoint serves. Thread-safe (prometheus-cpp).
class Metrics {
 public:
  Metrics();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // WaitVisible.
  prometheus::Gauge& wait_visible_waiters;
  prometheus::Histogram& wait_visible_seconds;
  prometheus::Counter& wait_visible_timeouts;

 private:
  // Keeps alive what the references above point into.
  std::shared_ptr<prometheus::Registry> registry_;

  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
};

// Histogram buckets from 100 µs to 30 s, roughly x2.5 apart.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

}  // namespace docgate
