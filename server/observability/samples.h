#pragma once

#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

namespace docgate {

// One sample of a gauge or a counter, for collectors that read their values at
// scrape time.
inline prometheus::ClientMetric Sample(double value, prometheus::MetricType type,
                                       std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

inline prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                       std::vector<prometheus::ClientMetric> samples) {
  return prometheus::MetricFamily{std::move(name), std::move(help), type, std::move(samples)};
}

}  // namespace docgate
