#include "server/docgate_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <unistd.h>

#include "server/build_info.h"
#include "server/db/connect.h"
#include "server/db/pool.h"
#include "server/exec/work_queue.h"
#include "server/observability/metrics.h"
#include "server/observability/pool_collector.h"
#include "server/replicas/replica_set.h"
#include "server/outbox/outbox_relay.h"
#include "server/security/authenticator.h"
#include "server/security/server_credentials.h"
#include "server/service/call_gate.h"
#include "server/service/document_service.h"
#include "server/service/grpc_document_service.h"
#include "server/store/cluster.h"
#include "server/store/document_store.h"
#include "server/visibility/visibility_watcher.h"
#include "server/visibility/waiter_registry.h"
#include "spdlog/spdlog.h"

namespace docgate {
namespace {

// A broker that takes longer than this to connect or answer is treated as down.
constexpr std::chrono::milliseconds kBrokerTimeout{2000};

std::string HostName() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("unknown");
}

// Room for every field but the body at their largest, with margin.
constexpr int kMessageOverheadBytes = 1024 * 1024;

// Sets each health service name in `names` on every server given: the gRPC port's
// and, while TLS is on, the probes' plaintext one (null otherwise).
void SetServing(std::initializer_list<grpc::Server*> servers, std::initializer_list<const char*> names,
                bool serving) {
  for (grpc::Server* server : servers) {
    auto* health = server == nullptr ? nullptr : server->GetHealthCheckService();
    if (health == nullptr) continue;
    for (const char* name : names) health->SetServingStatus(name, serving);
  }
}

// A server of grpc.health.v1 alone, plaintext: Kubernetes' gRPC probes cannot speak TLS.
std::unique_ptr<grpc::Server> StartHealthServer(const std::string& listen, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  return builder.BuildAndStart();
}

}  // namespace

DocgateServer::DocgateServer() = default;

DocgateServer::~DocgateServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<DocgateServer>> DocgateServer::Start(const Config& config) {
  auto settings =
      db::ConnectionSettings::Parse(config.database_url, config.database_password_file, config.connect_timeout);
  if (!settings.ok()) return settings.status();
  const bool tls = !config.tls_cert.empty();
  auto credentials = security::MakeServerCredentials(security::TlsFiles{
      config.tls_cert, config.tls_key, config.tls_client_ca, config.credentials_reload_interval});
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<DocgateServer> s(new DocgateServer());
  if (!config.auth_tokens_file.empty()) {
    auto authenticator = security::Authenticator::Open(config.auth_tokens_file, config.credentials_reload_interval);
    if (!authenticator.ok()) return authenticator.status();
    s->authenticator_ = std::move(*authenticator);
    if (!tls) spdlog::warn("bearer tokens are asked but TLS is off: tokens cross the network in clear text");
  }
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
  s->cluster_ = std::make_unique<store::Cluster>();
  store::Cluster* cluster = s->cluster_.get();
  s->pool_ = std::make_unique<db::Pool>(
      pool_options, db::MakeOpener(*settings, config.auto_migrate, [cluster](pqxx::connection& conn) {
        store::DocumentStore::PrepareStatements(conn);
        cluster->Learn(conn);
      }));
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
  s->replicas_ = std::make_unique<replicas::ReplicaSet>(*s->store_, *s->cluster_, std::move(replica_specs),
                                                        replica_options,
                                                        s->metrics_->replicas(), s->pool_->watchdog());
  s->waiters_ = std::make_unique<visibility::WaiterRegistry>(static_cast<size_t>(config.max_waiters),
                                                             &s->metrics_->wait_visible_waiters);
  s->watcher_ = std::make_unique<visibility::VisibilityWatcher>(
      *s->waiters_,
      db::MakeOpener(settings->ForRole("visibility"), /*migrate=*/false, &store::DocumentStore::PrepareStatements),
      config.visibility_tick, s->pool_->watchdog());
  service::DocumentService::EnqueueListener on_enqueued;
  if (!config.broker_url.empty()) {
    auto broker = outbox::BrokerAddress::Parse(config.broker_url, config.broker_password_file);
    if (!broker.ok()) return broker.status();
    s->outbox_store_ = std::make_unique<store::OutboxStore>(*s->pool_);
    s->relay_ = std::make_unique<outbox::OutboxRelay>(
        *s->outbox_store_, std::make_unique<outbox::RedisBroker>(*broker, kBrokerTimeout),
        outbox::RelayOptions{config.outbox_poll_interval, 100, "docgate@" + HostName()}, s->metrics_->outbox());
    on_enqueued = [relay = s->relay_.get()] { relay->Wake(); };
  }
  visibility::WaiterRegistry* waiters = s->waiters_.get();
  s->logic_ = std::make_unique<service::DocumentService>(
      *s->store_, *s->cluster_, config.limits, [waiters](const std::string& id) { waiters->Wake(id); },
      std::move(on_enqueued));
  // One worker per connection: more could only wait for the pool.
  s->work_queue_ = std::make_unique<WorkQueue>(
      WorkQueue::Options{config.pool_max, static_cast<size_t>(config.pool_queue_max)});
  s->gate_ = std::make_unique<service::CallGate>();
  const service::ReadEnv reads{*s->logic_, *s->replicas_, s->metrics_->replicas()};
  s->grpc_service_ = std::make_unique<service::GrpcDocumentService>(
      *s->logic_, service::CallAuthorization(s->authenticator_.get(), *s->metrics_),
      service::CallEnv{*s->work_queue_, config.acquire_timeout, *s->metrics_, *s->gate_},
      service::WaitEnv{*s->work_queue_, *s->logic_, reads, *s->waiters_, config.acquire_timeout, config.max_wait,
                       *s->metrics_, *s->gate_},
      reads);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &s->port_);
  builder.RegisterService(s->grpc_service_.get());
  const int64_t max_message = config.limits.max_body_bytes + kMessageOverheadBytes;
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  // Clients may keep idle connections alive with pings every 10 s or more.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // One connection cannot take the whole server: calls beyond this wait at the client.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    s->server_.reset();
    return absl::FailedPreconditionError("cannot listen on " + config.listen);
  }
  if (tls && !config.health_listen.empty()) {
    s->health_server_ = StartHealthServer(config.health_listen, &s->health_port_);
    if (s->health_server_ == nullptr || s->health_port_ == 0) {
      return absl::FailedPreconditionError("cannot listen on " + config.health_listen + " for health");
    }
  }
  db::Pool* pool = s->pool_.get();
  s->pool_collector_ = std::make_shared<PoolCollector>([pool] { return pool->Stats(); }, config.pool_max);
  if (s->exposer_ != nullptr) s->exposer_->RegisterCollectable(s->pool_collector_);
  grpc::Server* server = s->server_.get();
  grpc::Server* health_server = s->health_server_.get();
  // Liveness: the process serves gRPC, whatever the database does (a liveness probe
  // must not restart docgate because PostgreSQL is down). NOT_SERVING at shutdown.
  SetServing({server, health_server}, {kLivenessService}, true);
  s->pool_->OnReachabilityChange([server, health_server](bool reachable) {
    SetServing({server, health_server}, {"", kServiceName}, reachable);
  });
  spdlog::info("docgate listening listen={} port={} tls={} client_certificates={} tokens={} health_port={} "
               "pool_max={} version={} revision={}",
               config.listen, s->port_, tls, !config.tls_client_ca.empty(), s->authenticator_ != nullptr,
               s->health_port_, config.pool_max, kDocgateVersion, kDocgateRevision);
  return s;
}

db::PoolStats DocgateServer::pool_stats() const { return pool_->Stats(); }

size_t DocgateServer::waiters() const { return waiters_->size(); }

bool DocgateServer::Drain(std::chrono::milliseconds grace) {
  if (drained_.has_value()) return *drained_;
  if (server_ == nullptr) {  // Start failed half-way: nothing was served
    drained_ = true;
    return true;
  }
  const auto give_up = std::chrono::steady_clock::now() + grace;
  pool_->OnReachabilityChange([](bool) {});
  SetServing({server_.get(), health_server_.get()}, {"", kServiceName, kLivenessService}, false);
  gate_->Close();
  // Waiters end now, so that their clients retry elsewhere instead of waiting out the grace.
  waiters_->EndAll(absl::UnavailableError("server is shutting down; retry"));
  drained_ = gate_->WaitDrained(give_up);
  if (!*drained_) {
    spdlog::warn("shutdown grace over with calls still running calls={} grace_ms={}", gate_->active(),
                 grace.count());
    return false;
  }
  watcher_->Stop();
  replicas_->Stop();
  if (relay_ != nullptr) relay_->Stop();  // what it has not delivered waits in the outbox
  work_queue_->Shutdown();
  pool_->Close();
  return true;
}

void DocgateServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  Drain(grace);
  if (server_ != nullptr) {
    // Nothing of ours runs any more (or the grace is over): gRPC may cancel what is left.
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    if (health_server_ != nullptr) health_server_->Shutdown(std::chrono::system_clock::now());
  }
  // After a drain that timed out, or a Start that failed half-way.
  if (watcher_ != nullptr) watcher_->Stop();
  if (replicas_ != nullptr) replicas_->Stop();
  if (relay_ != nullptr) relay_->Stop();
  if (work_queue_ != nullptr) work_queue_->Shutdown();
  if (pool_ != nullptr) pool_->Close();
}

}  // namespace docgate
