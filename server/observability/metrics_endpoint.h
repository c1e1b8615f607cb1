#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"

class CivetServer;

namespace docgate {

// The HTTP server of the metrics port: GET /metrics (Prometheus' text format, from
// the collectables added), /status (an HTML page for people) and /status.json (the
// same for programs). The pages are made by `render(families, html)` from one
// collection, the one /metrics would have served at that instant. Anything else is
// 404. Thread-safe.
class MetricsEndpoint {
 public:
  using Render = std::function<std::string(const std::vector<prometheus::MetricFamily>& families, bool html)>;

  // FAILED_PRECONDITION when `address` (HOST:PORT; port 0 picks one) cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Listen(const std::string& address, Render render);
  ~MetricsEndpoint();  // stops serving; requests in progress end first

  // From now on, /metrics and the pages include what `collectable` collects.
  void Add(std::shared_ptr<prometheus::Collectable> collectable);

  int port() const { return port_; }

  // Every family of every collectable, as /metrics serves them.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  class Page;
  MetricsEndpoint(std::unique_ptr<CivetServer> server, Render render);

  Render render_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // guarded by mu_
  std::vector<std::unique_ptr<Page>> pages_;
  std::unique_ptr<CivetServer> server_;  // last: stopped first, before what its pages use
  int port_ = 0;
};

}  // namespace docgate
