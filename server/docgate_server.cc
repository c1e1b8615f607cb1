#include "server/docgate_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include "server/build_info.h"
#include "server/db/connect.h"
#include "server/db/pool.h"
#include "server/exec/work_queue.h"
#include "server/observability/metrics.h"
#include "server/observability/pool_collector.h"
#include "server/replicas/replica_set.h"
#include "server/service/document_service.h"
#include "server/service/grpc_document_service.h"
#include "server/store/document_store.h"
#include "server/visibility/visibility_watcher.h"
#include "server/visibility/waiter_registry.h"
#include "spdlog/spdlog.h"

namespace docgate {
namespace {

// Room for every field but the body at their largest, with margin.
constexpr int kMessageOverheadBytes = 1024 * 1024;

void SetHealth(grpc::Server& server, bool serving) {
  auto* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace

DocgateServer::DocgateServer() = default;

DocgateServer::~DocgateServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<DocgateServer>> DocgateServer::Start(const Config& config) {
  auto settings =
      db::ConnectionSettings::Parse(config.database_url, config.database_password_file, config.connect_timeout);
  if (!settings.ok()) return settings.status();

  std::unique_ptr<DocgateServer> s(new DocgateServer());
  s->metrics_ = std::make_unique<Metrics>();
  if (!config.metrics_listen.empty()) {
    try {
      s->exposer_ = std::make_unique<prometheus::Exposer>(config.metrics_listen);
    } catch (const std::exception&) {
      return absl::FailedPreconditionError("cannot listen on " + config.metrics_listen + " for metrics");
    }
    s->exposer_->RegisterCollectable(s->metrics_->shared_registry());
    s->metrics_port_ = s->exposer_->GetListeningPorts().front();
  }
  db::PoolOptions pool_options;
  pool_options.max_size = config.pool_max;
  pool_options.min_idle = config.pool_min_idle;
  pool_options.max_waiters = static_cast<size_t>(config.pool_queue_max);
  pool_options.max_lifetime = config.pool_max_lifetime;
  pool_options.idle_timeout = config.pool_idle_timeout;
  pool_options.observer = &s->metrics_->db();
  s->pool_ = std::make_unique<db::Pool>(
      pool_options, db::MakeOpener(*settings, config.auto_migrate, &store::DocumentStore::PrepareStatements));
  s->store_ = std::make_unique<store::DocumentStore>(*s->pool_);
  std::vector<replicas::ReplicaSpec> replica_specs;
  for (const auto& url : config.replica_urls) {
    auto replica = db::ConnectionSettings::Parse(url, config.database_password_file, config.connect_timeout);
    if (!replica.ok()) return absl::InvalidArgumentError("replica URL: libpq cannot parse it");
    db::PoolOptions replica_pool = pool_options;
    replica_pool.observer = nullptr;  // the pool metrics are the primary's
    replica_specs.push_back(replicas::ReplicaSpec{
        replica->Endpoint(),
        std::make_unique<db::Pool>(replica_pool, db::MakeOpener(*replica, /*migrate=*/false,
                                                                &store::DocumentStore::PrepareStatements)),
        db::MakeOpener(replica->ForRole("replica-monitor"), /*migrate=*/false,
                       &store::DocumentStore::PrepareStatements)});
  }
  replicas::ReplicaOptions replica_options;
  replica_options.max_lag_bytes = static_cast<uint64_t>(config.max_replica_lag_bytes);
  replica_options.max_wait = config.replica_wait_max;
  replica_options.tick = config.visibility_tick;
  s->replicas_ = std::make_unique<replicas::ReplicaSet>(*s->store_, std::move(replica_specs), replica_options,
                                                        s->metrics_->replicas(), s->pool_->watchdog());
  s->waiters_ = std::make_unique<visibility::WaiterRegistry>(static_cast<size_t>(config.max_waiters),
                                                             &s->metrics_->wait_visible_waiters);
  s->watcher_ = std::make_unique<visibility::VisibilityWatcher>(
      *s->waiters_,
      db::MakeOpener(settings->ForRole("visibility"), /*migrate=*/false, &store::DocumentStore::PrepareStatements),
      config.visibility_tick, s->pool_->watchdog());
  visibility::WaiterRegistry* waiters = s->waiters_.get();
  s->logic_ = std::make_unique<service::DocumentService>(
      *s->store_, config.limits, [waiters](const std::string& id) { waiters->Wake(id); });
  // One worker per connection: more could only wait for the pool.
  s->work_queue_ = std::make_unique<WorkQueue>(
      WorkQueue::Options{config.pool_max, static_cast<size_t>(config.pool_queue_max)});
  const service::ReadEnv reads{*s->logic_, *s->replicas_, s->metrics_->replicas()};
  s->grpc_service_ = std::make_unique<service::GrpcDocumentService>(
      *s->logic_, service::CallEnv{*s->work_queue_, config.acquire_timeout, *s->metrics_},
      service::WaitEnv{*s->work_queue_, *s->logic_, reads, *s->waiters_, config.acquire_timeout, config.max_wait,
                       *s->metrics_},
      reads);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->grpc_service_.get());
  const int64_t max_message = config.limits.max_body_bytes + kMessageOverheadBytes;
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  // Clients may keep idle connections alive with pings every 10 s or more.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    s->server_.reset();
    return absl::FailedPreconditionError("cannot listen on " + config.listen);
  }
  db::Pool* pool = s->pool_.get();
  s->pool_collector_ = std::make_shared<PoolCollector>([pool] { return pool->Stats(); }, config.pool_max);
  if (s->exposer_ != nullptr) s->exposer_->RegisterCollectable(s->pool_collector_);
  grpc::Server* server = s->server_.get();
  // Liveness: the process serves gRPC, whatever the database does (a liveness probe
  // must not restart docgate because PostgreSQL is down). NOT_SERVING at shutdown.
  if (auto* health = server->GetHealthCheckService()) health->SetServingStatus(kLivenessService, true);
  s->pool_->OnReachabilityChange([server](bool reachable) { SetHealth(*server, reachable); });
  spdlog::info("docgate listening listen={} port={} pool_max={} version={} revision={}", config.listen, s->port_,
               config.pool_max, kDocgateVersion, kDocgateRevision);
  return s;
}

db::PoolStats DocgateServer::pool_stats() const { return pool_->Stats(); }

size_t DocgateServer::waiters() const { return waiters_->size(); }

void DocgateServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    pool_->OnReachabilityChange([](bool) {});
    SetHealth(*server_, false);
    if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(kLivenessService, false);
    // Waiters end now, so that their clients retry elsewhere instead of waiting out the grace.
    waiters_->EndAll(absl::UnavailableError("server is shutting down; retry"));
    // Waits for in-flight RPCs until the deadline, then cancels what is left.
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
  }
  if (watcher_ != nullptr) watcher_->Stop();
  if (replicas_ != nullptr) replicas_->Stop();  // reads still waiting for a replica go to the (closing) queue
  if (work_queue_ != nullptr) work_queue_->Shutdown();
  if (pool_ != nullptr) pool_->Close();
  spdlog::info("docgate stopped");
}

}  // namespace docgate
