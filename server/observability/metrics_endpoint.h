#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace docgate {

// The HTTP server of the metrics port: GET /metrics (Prometheus' text format, from
// the collectables added), /status (an HTML page for people) and /status.json (the
// same for programs). The pages are made by `render(families, html)` from one
// collection, the one /metrics would have served at that instant. Anything else is
// 404. Event-driven (libmicrohttpd, epoll): a client that is slow or silent holds
// no thread, and is closed when its request's headers have not all come within a
// deadline, so that a scrape answers while hundreds of such clients are connected.
// Thread-safe.
class MetricsEndpoint {
 public:
  using Render = std::function<std::string(const std::vector<prometheus::MetricFamily>& families, bool html)>;

  // FAILED_PRECONDITION when `address` (HOST:PORT; port 0 picks one) cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Listen(const std::string& address, Render render);
  ~MetricsEndpoint();  // stops serving

  // From now on, /metrics and the pages include what `collectable` collects.
  void Add(std::shared_ptr<prometheus::Collectable> collectable);

  int port() const { return port_; }

  // Every family of every collectable, as /metrics serves them.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  class HeaderDeadlines;
  struct Callbacks;
  explicit MetricsEndpoint(Render render);
  // The page at `url`, answered on `connection`.
  int Serve(MHD_Connection* connection, const char* url);

  Render render_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // guarded by mu_
  std::unique_ptr<HeaderDeadlines> deadlines_;
  MHD_Daemon* daemon_ = nullptr;  // stopped first, before what its callbacks use
  int port_ = 0;
};

}  // namespace docgate
