#include "server/observability/metrics.h"

#include "server/build_info.h"

namespace docgate {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *buckets;
}

Metrics::Metrics() : Metrics(std::make_shared<prometheus::Registry>()) {}

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : wait_visible_waiters(prometheus::BuildGauge()
                               .Name("docgate_wait_visible_waiters")
                               .Help("WaitVisible calls waiting now")
                               .Register(*registry)
                               .Add({})),
      wait_visible_seconds(prometheus::BuildHistogram()
                               .Name("docgate_wait_visible_seconds")
                               .Help("How long WaitVisible calls waited, whatever their outcome")
                               .Register(*registry)
                               .Add({}, LatencyBuckets())),
      wait_visible_timeouts(prometheus::BuildCounter()
                                .Name("docgate_wait_visible_timeouts_total")
                                .Help("WaitVisible calls that ended with DEADLINE_EXCEEDED")
                                .Register(*registry)
                                .Add({})),
      visibility_check_seconds(prometheus::BuildHistogram()
                                   .Name("docgate_visibility_check_seconds")
                                   .Help("How long each check for documents made visible by others took")
                                   .Register(*registry)
                                   .Add({}, LatencyBuckets())),
      wait_visible_max_waiters(prometheus::BuildGauge()
                                   .Name("docgate_wait_visible_max_waiters")
                                   .Help("The bound on WaitVisible calls waiting at once in force (--max-waiters)")
                                   .Register(*registry)
                                   .Add({})),
      registry_(std::move(registry)),
      db_(*registry_),
      replicas_(*registry_),
      outbox_(*registry_),
      admission_(*registry_),
      leases_(*registry_),
      config_reloads_(prometheus::BuildCounter()
                          .Name("docgate_config_reloads_total")
                          .Help("Reloads of the --config file, by result: applied, unchanged, invalid")
                          .Register(*registry_)) {
  for (const char* result : {"applied", "unchanged", "invalid"}) config_reloads_.Add({{"result", result}});
  prometheus::BuildGauge()
      .Name("docgate_build_info")
      .Help("Always 1; the labels say which docgate this is")
      .Register(*registry_)
      .Add({{"version", kDocgateVersion}, {"revision", kDocgateRevision}})
      .Set(1);
  auto& started = prometheus::BuildCounter()
                      .Name("grpc_server_started_total")
                      .Help("RPCs started on the server")
                      .Register(*registry_);
  auto& handled = prometheus::BuildCounter()
                      .Name("grpc_server_handled_total")
                      .Help("RPCs completed on the server, whatever their outcome")
                      .Register(*registry_);
  auto& handling = prometheus::BuildHistogram()
                       .Name("grpc_server_handling_seconds")
                       .Help("Time from an RPC's arrival to its answer")
                       .Register(*registry_);
  for (const char* method : {"CreateDocument", "GetDocument", "WaitVisible", "UpdateDocumentStatus", "RenewLease",
                             "ListDocuments", "RetryDocument", "ListDocumentTasks"}) {
    rpcs_.try_emplace(method, "docgate.v1.DocumentService", method, started, handled, handling, recent_errors_);
  }
  auto& batch_sizes = prometheus::BuildHistogram()
                          .Name("docgate_batch_size")
                          .Help("Calls served by one database round trip (concurrent calls share one)")
                          .Register(*registry_);
  for (const char* method : {"CreateDocument", "GetDocument"}) {
    batch_sizes_[method] = &batch_sizes.Add({{"grpc_method", method}},
                                            prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  }
}

}  // namespace docgate
