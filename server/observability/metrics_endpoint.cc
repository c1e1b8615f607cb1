#include "server/observability/metrics_endpoint.h"

#include <CivetServer.h>
#include <prometheus/text_serializer.h>

#include <cstring>
#include <sstream>

namespace docgate {

// One path's handler; `make` produces the body.
class MetricsEndpoint::Page final : public CivetHandler {
 public:
  Page(std::string path, const char* content_type, std::function<std::string()> make)
      : path_(std::move(path)), content_type_(content_type), make_(std::move(make)) {}

  const std::string& path() const { return path_; }

  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    // Civetweb also routes PATH/anything here: only the path itself is served.
    if (path_ != mg_get_request_info(conn)->local_uri) {
      mg_send_http_error(conn, 404, "not found\n");
      return true;
    }
    const std::string body = make_();
    mg_send_http_ok(conn, content_type_, static_cast<long long>(body.size()));
    mg_write(conn, body.data(), body.size());
    return true;
  }

 private:
  std::string path_;
  const char* content_type_;
  std::function<std::string()> make_;
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Listen(const std::string& address, Render render) {
  std::unique_ptr<CivetServer> server;
  try {
    // A client that sends its request slowly holds a thread for at most request_timeout_ms.
    server = std::make_unique<CivetServer>(
        std::vector<std::string>{"listening_ports", address, "num_threads", "4", "request_timeout_ms", "10000"});
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError("cannot listen on " + address + " for metrics: " + e.what());
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(server), std::move(render)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<CivetServer> server, Render render)
    : render_(std::move(render)), server_(std::move(server)) {
  const std::vector<int> ports = server_->getListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  pages_.push_back(std::make_unique<Page>("/metrics", "text/plain; version=0.0.4; charset=utf-8", [this] {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, Collect());
    return out.str();
  }));
  pages_.push_back(
      std::make_unique<Page>("/status", "text/html; charset=utf-8", [this] { return render_(Collect(), true); }));
  pages_.push_back(
      std::make_unique<Page>("/status.json", "application/json", [this] { return render_(Collect(), false); }));
  for (const auto& page : pages_) server_->addHandler(page->path(), page.get());
}

MetricsEndpoint::~MetricsEndpoint() {
  if (server_ != nullptr) server_->close();
}

void MetricsEndpoint::Add(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(mu_);
  collectables_.push_back(std::move(collectable));
}

std::vector<prometheus::MetricFamily> MetricsEndpoint::Collect() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard lock(mu_);
    collectables = collectables_;
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : collectables) {
    auto some = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  return families;
}

}  // namespace docgate
