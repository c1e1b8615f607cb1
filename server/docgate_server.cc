#include "server/docgate_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "server/build_info.h"
#include "server/common/periodic.h"
#include "server/common/read_file.h"
#include "server/config_file.h"
#include "server/db/connect.h"
#include "server/db/pool.h"
#include "server/exec/work_queue.h"
#include "server/leases/lease_sweeper.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_endpoint.h"
#include "server/observability/pool_collector.h"
#include "server/observability/primary_collector.h"
#include "server/observability/status_report.h"
#include "server/outbox/outbox_relay.h"
#include "server/replicas/replica_set.h"
#include "server/rpc/call_gate.h"
#include "server/rpc/call_limits.h"
#include "server/security/authenticator.h"
#include "server/security/server_credentials.h"
#include "server/service/document_service.h"
#include "server/service/grpc_document_service.h"
#include "server/store/cluster.h"
#include "server/store/outbox_store.h"
#include "server/store/pg_document_store.h"
#include "server/visibility/visibility_watcher.h"
#include "server/visibility/waiter_registry.h"
#include "spdlog/spdlog.h"

namespace docgate {
namespace {

// A broker that takes longer than this to connect or answer is treated as down.
constexpr std::chrono::milliseconds kBrokerTimeout{2000};

PrimaryFigures PrimaryFiguresOf(const store::PrimarySeen& seen) {
  // Whole seconds: a fraction would print differently on /metrics and the status page.
  const double since =
      seen.timeline == 0 ? 0
                         : static_cast<double>(
                               std::chrono::duration_cast<std::chrono::seconds>(seen.since.time_since_epoch()).count());
  return PrimaryFigures{static_cast<double>(seen.timeline), since, static_cast<double>(seen.changes)};
}

std::set<std::string> CallerNames(const Config& config) {
  std::set<std::string> names;
  for (const auto& [name, share] : config.callers) names.insert(name);
  return names;
}

std::string HostName() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("unknown");
}

// Room for every field but the body at their largest, with margin.
constexpr int kMessageOverheadBytes = 1024 * 1024;

// Sets each health service name in `names` on every server given: the gRPC port's
// and, while TLS is on, the probes' plaintext one (null otherwise).
void SetServing(std::initializer_list<grpc::Server*> servers, std::initializer_list<const char*> names, bool serving) {
  for (grpc::Server* server : servers) {
    auto* health = server == nullptr ? nullptr : server->GetHealthCheckService();
    if (health == nullptr) continue;
    for (const char* name : names) health->SetServingStatus(name, serving);
  }
}

// A server of grpc.health.v1 alone, plaintext: Kubernetes' gRPC probes cannot speak TLS.
std::unique_ptr<grpc::Server> StartHealthServer(const std::string& listen, int* port) {
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // see Listen
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  return builder.BuildAndStart();
}

}  // namespace

DocgateServer::DocgateServer() = default;

DocgateServer::~DocgateServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<DocgateServer>> DocgateServer::Start(const Config& flags) {
  auto effective = WithConfigFile(flags);
  if (!effective.ok()) return effective.status();
  const Config& config = *effective;
  auto settings =
      db::ConnectionSettings::Parse(config.database_url, config.database_password_file, config.connect_timeout);
  if (!settings.ok()) return settings.status();
  auto credentials = security::MakeServerCredentials(
      security::TlsFiles{config.tls_cert, config.tls_key, config.tls_client_ca, config.credentials_reload_interval});
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<DocgateServer> s(new DocgateServer());
  s->flags_ = flags;
  s->config_ = config;
  for (const auto& step : std::initializer_list<std::function<absl::Status()>>{
           [&] { return s->OpenAuthenticator(config); },
           [&] { return s->ServeMetrics(config); },
           [&] { return s->OpenDatabase(config, *settings); },
           [&] { return s->StartReplicas(config); },
           [&] { return s->StartVisibility(config, *settings); },
           [&] { return s->StartOutbox(config); },
           [&] { return s->StartLeases(config); },
           [&] { return s->BuildService(config); },
           [&] { return s->Listen(config, *credentials); },
           [&] { return s->WatchConfig(config); },
       }) {
    if (auto status = step(); !status.ok()) return status;
  }
  s->ReportHealth();
  spdlog::info(
      "docgate listening listen={} port={} tls={} client_certificates={} tokens={} health_port={} "
      "pool_max={} admission={} config_file={} version={} revision={}",
      config.listen, s->port_, !config.tls_cert.empty(), !config.tls_client_ca.empty(), s->authenticator_ != nullptr,
      s->health_port_, config.pool_max, config.admission, config.config_file.empty() ? "-" : config.config_file,
      kDocgateVersion, kDocgateRevision);
  return s;
}

absl::Status DocgateServer::OpenAuthenticator(const Config& config) {
  if (config.auth_tokens_file.empty()) return absl::OkStatus();
  auto authenticator = security::Authenticator::Open(config.auth_tokens_file, config.credentials_reload_interval);
  if (!authenticator.ok()) return authenticator.status();
  authenticator_ = std::move(*authenticator);
  if (config.tls_cert.empty()) {
    spdlog::warn("bearer tokens are asked but TLS is off: tokens cross the network in clear text");
  }
  return absl::OkStatus();
}

absl::Status DocgateServer::ServeMetrics(const Config& config) {
  metrics_ = std::make_unique<Metrics>();
  if (config.metrics_listen.empty()) return absl::OkStatus();
  auto endpoint = MetricsEndpoint::Listen(
      config.metrics_listen, [this](const auto& families, bool html) { return RenderStatus(families, html); });
  if (!endpoint.ok()) return endpoint.status();
  metrics_endpoint_ = std::move(*endpoint);
  metrics_endpoint_->Add(metrics_->shared_registry());
  metrics_port_ = metrics_endpoint_->port();
  return absl::OkStatus();
}

db::PoolOptions DocgateServer::PoolOptionsOf(const Config& config) {
  db::PoolOptions options;
  options.max_size = config.pool_max;
  options.min_idle = config.pool_min_idle;
  options.max_waiters = static_cast<size_t>(config.pool_queue_max);
  options.max_lifetime = config.pool_max_lifetime;
  options.idle_timeout = config.pool_idle_timeout;
  return options;
}

absl::Status DocgateServer::OpenDatabase(const Config& config, const db::ConnectionSettings& settings) {
  db::PoolOptions options = PoolOptionsOf(config);
  options.observer = &metrics_->db();
  cluster_ = std::make_unique<store::Cluster>();
  store::Cluster* cluster = cluster_.get();
  pool_ = std::make_unique<db::Pool>(options,
                                     db::MakeOpener(settings, config.auto_migrate, [cluster](pqxx::connection& conn) {
                                       store::PgDocumentStore::PrepareStatements(conn);
                                       store::OutboxStore::PrepareStatements(conn);
                                       cluster->Learn(conn);
                                     }));
  store_ = std::make_unique<store::PgDocumentStore>(*pool_);
  return absl::OkStatus();
}

absl::Status DocgateServer::StartReplicas(const Config& config) {
  std::vector<replicas::ReplicaSpec> specs;
  for (const auto& url : config.replica_urls) {
    auto replica = db::ConnectionSettings::Parse(url, config.database_password_file, config.connect_timeout);
    if (!replica.ok()) return absl::InvalidArgumentError("replica URL: libpq cannot parse it");
    // The pool metrics are the primary's: a replica's pool has no observer.
    specs.push_back(replicas::ReplicaSpec{
        replica->Endpoint(),
        std::make_unique<db::Pool>(PoolOptionsOf(config), db::MakeOpener(*replica, /*migrate=*/false,
                                                                         &store::PgDocumentStore::PrepareStatements)),
        db::MakeOpener(replica->ForRole("replica-monitor"), /*migrate=*/false,
                       &store::PgDocumentStore::PrepareStatements)});
  }
  replicas::ReplicaOptions options;
  options.max_lag_bytes = static_cast<uint64_t>(config.max_replica_lag_bytes);
  options.max_wait = config.replica_wait_max;
  options.tick = config.visibility_tick;
  replicas_ = std::make_unique<replicas::ReplicaSet>(*store_, *cluster_, std::move(specs), options,
                                                     metrics_->replicas(), pool_->watchdog());
  return absl::OkStatus();
}

absl::Status DocgateServer::StartVisibility(const Config& config, const db::ConnectionSettings& settings) {
  waiters_ = std::make_unique<visibility::WaiterRegistry>(static_cast<size_t>(config.max_waiters),
                                                          &metrics_->wait_visible_waiters);
  metrics_->wait_visible_max_waiters.Set(static_cast<double>(config.max_waiters));
  watcher_ = std::make_unique<visibility::VisibilityWatcher>(
      *waiters_,
      db::MakeOpener(settings.ForRole("visibility"), /*migrate=*/false, &store::PgDocumentStore::PrepareStatements),
      config.visibility_tick, pool_->watchdog(), &metrics_->visibility_check_seconds);
  return absl::OkStatus();
}

absl::Status DocgateServer::StartOutbox(const Config& config) {
  if (config.broker_url.empty()) return absl::OkStatus();
  auto broker = outbox::BrokerAddress::Parse(config.broker_url, config.broker_password_file);
  if (!broker.ok()) return broker.status();
  outbox_store_ = std::make_unique<store::OutboxStore>(*pool_);
  legacy_outbox_store_ = std::make_unique<store::LegacyOutboxStore>(*pool_);
  outbox::RelayOptions options;
  options.poll_interval = config.outbox_poll_interval;
  options.origin = "docgate@" + HostName();
  relay_ = std::make_unique<outbox::OutboxRelay>(*outbox_store_, *legacy_outbox_store_,
                                                 std::make_unique<outbox::RedisBroker>(*broker, kBrokerTimeout),
                                                 std::move(options), metrics_->outbox());
  return absl::OkStatus();
}

absl::Status DocgateServer::StartLeases(const Config& config) {
  std::function<void()> requeued;
  if (relay_ != nullptr) requeued = [relay = relay_.get()] { relay->Wake(); };
  lease_sweeper_ = std::make_unique<leases::LeaseSweeper>(
      *store_, config.lease_check_interval, RedeliveryPolicyOf(config), metrics_->leases(), std::move(requeued));
  return absl::OkStatus();
}

absl::Status DocgateServer::BuildService(const Config& config) {
  service::DocumentService::EnqueueListener on_enqueued;
  if (relay_ != nullptr) on_enqueued = [relay = relay_.get()] { relay->Wake(); };
  visibility::WaiterRegistry* waiters = waiters_.get();
  logic_ = std::make_unique<service::DocumentService>(
      *store_, *cluster_, config.limits,
      [waiters](const store::Document& row, const std::string* body) { waiters->Wake(row, body); },
      std::move(on_enqueued));
  // One slot per connection: more tasks could only wait for the pool.
  Clock& clock = Clock::Real();
  work_queue_ = std::make_unique<WorkQueue>(
      WorkQueue::Options{config.pool_max, static_cast<size_t>(config.pool_queue_max), AdmissionPolicyOf(config)}, clock,
      &metrics_->admission());
  metrics_->admission().Name(CallerNames(config));
  limits_ = std::make_unique<rpc::CallLimits>(config.acquire_timeout, config.statement_timeout, config.max_wait);
  gate_ = std::make_unique<rpc::CallGate>();
  const service::ReadEnv reads{*logic_, *replicas_, metrics_->replicas()};
  grpc_service_ = std::make_unique<service::GrpcDocumentService>(
      *logic_, service::CallAuthorization(authenticator_.get(), *metrics_),
      rpc::CallEnv{*work_queue_, *limits_, *metrics_, *gate_, clock},
      service::WaitEnv{*work_queue_, *logic_, reads, *waiters_, *limits_, *metrics_, *gate_, clock}, reads);
  return absl::OkStatus();
}

absl::Status DocgateServer::Listen(const Config& config, const std::shared_ptr<grpc::ServerCredentials>& credentials) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, credentials, &port_);
  builder.RegisterService(grpc_service_.get());
  const int64_t max_message = config.limits.max_body_bytes + kMessageOverheadBytes;
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  // Clients may keep idle connections alive with pings every 10 s or more.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // One connection cannot take the whole server: calls beyond this wait at the client.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  // A port another process listens on is refused ("cannot listen"), rather than
  // shared: gRPC's default SO_REUSEPORT lets a second process on the same port take
  // a part of the connections silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::FailedPreconditionError("cannot listen on " + config.listen);
  }
  if (!config.tls_cert.empty() && !config.health_listen.empty()) {
    health_server_ = StartHealthServer(config.health_listen, &health_port_);
    if (health_server_ == nullptr || health_port_ == 0) {
      return absl::FailedPreconditionError("cannot listen on " + config.health_listen + " for health");
    }
  }
  return absl::OkStatus();
}

absl::Status DocgateServer::WatchConfig(const Config& config) {
  if (config.config_file.empty()) return absl::OkStatus();
  config_seen_ = ReadWholeFile(config.config_file).value_or("");
  config_watch_ = std::make_unique<Periodic>(config.credentials_reload_interval, [this] {
    const auto text = ReadWholeFile(flags_.config_file);
    std::lock_guard lock(config_mu_);
    if (text.value_or("") == config_seen_) return;
    spdlog::info("--config file changed path={}", flags_.config_file);
    ApplyConfigTextLocked(text);
  });
  return absl::OkStatus();
}

void DocgateServer::ReportHealth() {
  db::Pool* pool = pool_.get();
  pool_collector_ = std::make_shared<PoolCollector>([pool] { return pool->Stats(); });
  WorkQueue* queue = work_queue_.get();
  admission_collector_ = metrics_->admission().LoadCollector(*queue);
  const store::Cluster* cluster = cluster_.get();
  primary_collector_ = std::make_shared<PrimaryCollector>([cluster] { return PrimaryFiguresOf(cluster->primary()); });
  if (metrics_endpoint_ != nullptr) {
    metrics_endpoint_->Add(pool_collector_);
    metrics_endpoint_->Add(admission_collector_);
    metrics_endpoint_->Add(primary_collector_);
  }
  grpc::Server* server = server_.get();
  grpc::Server* health_server = health_server_.get();
  // Liveness: the process serves gRPC, whatever the database does (a liveness probe
  // must not restart docgate because PostgreSQL is down). NOT_SERVING at shutdown.
  SetServing({server, health_server}, {kLivenessService}, true);
  pool_->OnReachabilityChange([server, health_server](bool reachable) {
    SetServing({server, health_server}, {"", kServiceName}, reachable);
  });
}

std::string DocgateServer::RenderStatus(const std::vector<prometheus::MetricFamily>& families, bool html) const {
  constexpr int kRefreshSeconds = 5;
  const Config now = config();
  StatusReport report = BuildStatusReport(families, metrics_->recent_errors().Take(), ConfigInEffect(now),
                                          !now.broker_url.empty(), Clock::Real().Now() - started_at_);
  report.primary_address = cluster_->primary().address;  // not a metric: a label would carry it
  return html ? StatusHtml(report, kRefreshSeconds) : StatusJson(report);
}

db::PoolStats DocgateServer::pool_stats() const { return pool_->Stats(); }

size_t DocgateServer::waiters() const { return waiters_->size(); }

bool DocgateServer::Drain(std::chrono::milliseconds grace) {
  if (drained_.has_value()) return *drained_;
  if (server_ == nullptr) {  // Start failed half-way: nothing was served
    drained_ = true;
    return true;
  }
  const auto give_up = Clock::Real().Now() + grace;
  pool_->OnReachabilityChange([](bool) {});
  SetServing({server_.get(), health_server_.get()}, {"", kServiceName, kLivenessService}, false);
  gate_->Close();
  // Waiters end now, so that their clients retry elsewhere instead of waiting out the grace.
  waiters_->EndAll(absl::UnavailableError("server is shutting down; retry"));
  drained_ = gate_->WaitDrained(give_up);
  if (!*drained_) {
    spdlog::warn("shutdown grace over with calls still running calls={} grace_ms={}", gate_->active(), grace.count());
    return false;
  }
  watcher_->Stop();
  replicas_->Stop();
  lease_sweeper_.reset();                 // a lease that runs out meanwhile waits for another instance
  if (relay_ != nullptr) relay_->Stop();  // what it has not delivered waits in the outbox
  work_queue_->Shutdown();
  pool_->Close();
  return true;
}

void DocgateServer::Reload() {
  spdlog::info("reload asked (SIGHUP)");
  if (authenticator_ != nullptr) {
    if (auto s = authenticator_->Reload(); !s.ok()) {
      spdlog::error("tokens file not reloaded ({}); the tokens read before stay in use", std::string(s.message()));
    } else {
      spdlog::info("tokens file is current");
    }
  }
  if (flags_.config_file.empty()) {
    spdlog::info("no --config file to reload");
    return;
  }
  ReloadConfig();
}

std::string DocgateServer::ReloadConfig() {
  if (flags_.config_file.empty()) return "";
  std::lock_guard lock(config_mu_);
  return ApplyConfigTextLocked(ReadWholeFile(flags_.config_file));
}

std::string DocgateServer::ApplyConfigTextLocked(const std::optional<std::string>& text) {
  config_seen_ = text.value_or("");  // the one read: what is applied is what the watcher compares with
  auto next = WithConfigText(flags_, text);
  const char* result = "applied";
  if (!next.ok()) {
    result = "invalid";
    spdlog::error("{}; the configuration in effect stays", std::string(next.status().message()));
  } else if (!RuntimeDiffers(config_, *next)) {
    result = "unchanged";
    spdlog::info("--config file reloaded: nothing changed path={}", flags_.config_file);
  } else {
    ApplyRuntime(*next);
    config_ = *next;
  }
  metrics_->config_reloads(result).Increment();
  return result;
}

void DocgateServer::ApplyRuntime(const Config& next) {
  pool_->Resize(next.pool_max, next.pool_min_idle);
  work_queue_->Configure(next.pool_max, AdmissionPolicyOf(next));
  metrics_->admission().Name(CallerNames(next));
  limits_->Set(next.acquire_timeout, next.statement_timeout, next.max_wait);
  waiters_->SetMaxWaiters(static_cast<size_t>(next.max_waiters));
  metrics_->wait_visible_max_waiters.Set(static_cast<double>(next.max_waiters));
  replicas_->SetMaxLagBytes(static_cast<uint64_t>(next.max_replica_lag_bytes));
  replicas_->ResizePools(next.pool_max, next.pool_min_idle);
  if (lease_sweeper_ != nullptr) lease_sweeper_->SetPolicy(RedeliveryPolicyOf(next));
  spdlog::set_level(spdlog::level::from_str(next.log_level));
  spdlog::info(
      "--config file applied path={} pool_max={} pool_min_idle={} acquire_timeout_ms={} statement_timeout_ms={} "
      "max_wait_ms={} max_waiters={} log_level={} max_replica_lag_bytes={} admission={} max_queue_wait_ms={} "
      "named_callers={} lease_max_attempts={} lease_backoff_ms={} lease_backoff_max_ms={}",
      flags_.config_file, next.pool_max, next.pool_min_idle, next.acquire_timeout.count(),
      next.statement_timeout.count(), next.max_wait.count(), next.max_waiters, next.log_level,
      next.max_replica_lag_bytes, next.admission, next.max_queue_wait.count(), next.callers.size(),
      next.lease_max_attempts, next.lease_backoff.count(), next.lease_backoff_max.count());
}

Config DocgateServer::config() const {
  std::lock_guard lock(config_mu_);
  return config_;
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
  lease_sweeper_.reset();
  if (relay_ != nullptr) relay_->Stop();
  if (work_queue_ != nullptr) work_queue_->Shutdown();
  if (pool_ != nullptr) pool_->Close();
}

}  // namespace docgate
