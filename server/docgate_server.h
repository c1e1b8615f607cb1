#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"
#include "server/common/clock.h"
#include "server/config.h"
#include "server/db/connection_settings.h"
#include "server/db/pool.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc
namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace docgate {

namespace store {
class Cluster;
class PgDocumentStore;
}  // namespace store
namespace rpc {
class CallGate;
class CallLimits;
}  // namespace rpc
class Periodic;
namespace service {
class DocumentService;
class GrpcDocumentService;
}  // namespace service
class WorkQueue;
class Metrics;
class MetricsEndpoint;
class PoolCollector;
class PrimaryCollector;
namespace replicas {
class ReplicaSet;
}
namespace security {
class Authenticator;
}
namespace outbox {
class OutboxRelay;
}
namespace leases {
class LeaseSweeper;
}
namespace store {
class OutboxStore;
class LegacyOutboxStore;
}  // namespace store
namespace visibility {
class WaiterRegistry;
class VisibilityWatcher;
}  // namespace visibility

// A running docgate: pool, store, service and gRPC server wired from a Config.
// The database need not be up: health says NOT_SERVING and RPCs get UNAVAILABLE
// until the pool connects. Used by main and by in-process tests.
class DocgateServer {
 public:
  // `flags` is the configuration of the flags and the environment; its --config
  // file, when set, is read now and over it. FAILED_PRECONDITION when a listen
  // address cannot be bound; INVALID_ARGUMENT for a database URL libpq cannot parse,
  // TLS files that do not load, a tokens file or a --config file that does not parse.
  static absl::StatusOr<std::unique_ptr<DocgateServer>> Start(const Config& flags);
  ~DocgateServer();  // Shutdown(0) if not done yet

  // The bound gRPC port (useful with a ":0" listen address).
  int port() const { return port_; }
  // The bound /metrics port, 0 when the endpoint is off.
  int metrics_port() const { return metrics_port_; }
  // The bound plaintext health port, 0 when none is served (TLS off, or
  // --health-listen empty).
  int health_port() const { return health_port_; }

  db::PoolStats pool_stats() const;

  // WaitVisible calls waiting now.
  size_t waiters() const;

  // SIGTERM's part: health NOT_SERVING; every call that arrives from now on is
  // answered UNAVAILABLE ("shutting down; retry", never CANCELLED); WaitVisible
  // waiters end UNAVAILABLE; calls already admitted run to their end for up to
  // `grace`. When they all ended, background work stops and the pool closes, and
  // Drain returns true; false when calls still ran at the end of the grace.
  // gRPC keeps its connections: the process is meant to exit next, its clients
  // seeing the connection close (UNAVAILABLE). gRPC's own Server::Shutdown is not
  // used for this because it answers calls that arrive during it CANCELLED
  // (grpc/grpc#41785). Idempotent.
  bool Drain(std::chrono::milliseconds grace);

  // SIGHUP's part: re-reads now what may change while docgate runs (the tokens
  // file and the --config file; gRPC re-reads the TLS files on its own interval),
  // and logs the outcome. A file that does not load changes nothing. Thread-safe.
  void Reload();

  // Re-reads the --config file and applies what changed: the pool's bounds (idle
  // connections beyond a smaller bound close at once, busy ones as they return;
  // new ones open in the background), the work queue's slots and admission policy,
  // the call limits, the waiters' bound, the replica lag limit and the log level.
  // A file that fails validation changes nothing; the reason is logged and
  // docgate_config_reloads_total{result="invalid"} counts it. Also run when the
  // file's contents change (looked at every --credentials-reload-interval).
  // Returns what it did: "applied", "unchanged" or "invalid" ("" without a file).
  std::string ReloadConfig();

  // The configuration in effect (flags, with the --config file over them).
  Config config() const;

  // Drain, then gRPC's shutdown too, for a server that lives on in the process
  // (tests). Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  DocgateServer();

  // The steps of Start, in order; each fills its members or says why it cannot.
  absl::Status OpenAuthenticator(const Config& config);
  absl::Status ServeMetrics(const Config& config);
  absl::Status OpenDatabase(const Config& config, const db::ConnectionSettings& settings);
  absl::Status StartReplicas(const Config& config);
  absl::Status StartVisibility(const Config& config, const db::ConnectionSettings& settings);
  absl::Status StartOutbox(const Config& config);
  absl::Status StartLeases(const Config& config);
  absl::Status BuildService(const Config& config);
  absl::Status Listen(const Config& config, const std::shared_ptr<grpc::ServerCredentials>& credentials);
  absl::Status WatchConfig(const Config& config);
  void ReportHealth();
  // The status page (html) or its JSON, of `families` as /metrics serves them now.
  std::string RenderStatus(const std::vector<prometheus::MetricFamily>& families, bool html) const;
  // ReloadConfig's work on the file's text, read once; config_mu_ held.
  std::string ApplyConfigTextLocked(const std::optional<std::string>& text);
  // Makes the running server follow `next` in what may change at run time.
  void ApplyRuntime(const Config& next);
  static db::PoolOptions PoolOptionsOf(const Config& config);

  Clock::time_point started_at_ = Clock::Real().Now();
  Config flags_;                  // as started, before the --config file
  mutable std::mutex config_mu_;  // one reload at a time
  Config config_;                 // in effect; guarded by config_mu_
  std::string config_seen_;       // the --config file's text last looked at; guarded by config_mu_
  // Destroyed in reverse order: the server before what its handlers use.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<store::Cluster> cluster_;  // before the pool: its connections' set-up learns it
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<store::PgDocumentStore> store_;
  std::unique_ptr<replicas::ReplicaSet> replicas_;
  std::unique_ptr<visibility::WaiterRegistry> waiters_;
  std::unique_ptr<visibility::VisibilityWatcher> watcher_;
  std::unique_ptr<store::OutboxStore> outbox_store_;
  std::unique_ptr<store::LegacyOutboxStore> legacy_outbox_store_;
  std::unique_ptr<outbox::OutboxRelay> relay_;  // null without a broker
  std::unique_ptr<leases::LeaseSweeper> lease_sweeper_;
  std::unique_ptr<service::DocumentService> logic_;
  std::unique_ptr<rpc::CallLimits> limits_;
  std::unique_ptr<WorkQueue> work_queue_;
  std::unique_ptr<rpc::CallGate> gate_;  // outlives the server: its calls leave it when done
  std::unique_ptr<security::Authenticator> authenticator_;
  std::unique_ptr<service::GrpcDocumentService> grpc_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // plaintext health for probes, while TLS is on
  // Last, so destroyed first: a scrape reads the pool and the metrics.
  std::shared_ptr<PoolCollector> pool_collector_;
  std::shared_ptr<prometheus::Collectable> admission_collector_;
  std::shared_ptr<PrimaryCollector> primary_collector_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;  // /metrics, /status, /status.json
  std::unique_ptr<Periodic> config_watch_;             // first destroyed: it reloads into the rest
  int port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  std::optional<bool> drained_;  // set by the first Drain
  bool shut_down_ = false;
};

// The gRPC health service name of the document API.
inline constexpr char kServiceName[] = "docgate.v1.DocumentService";
// The health service name for liveness probes: SERVING while the process runs,
// whether or not the database answers ("" and kServiceName follow the database).
inline constexpr char kLivenessService[] = "liveness";

}  // namespace docgate
