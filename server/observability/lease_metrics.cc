#include "server/observability/lease_metrics.h"

namespace docgate {
namespace {

prometheus::Counter& CounterOf(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

LeaseMetrics::LeaseMetrics(prometheus::Registry& registry)
    : active(prometheus::BuildGauge()
                 .Name("docgate_leases_active")
                 .Help("Documents PROCESSING under a lease, as the last expiry pass counted them")
                 .Register(registry)
                 .Add({})),
      expired(CounterOf(registry, "docgate_leases_expired_total",
                        "Leases that ran out: their documents went back to PENDING, or to FAILED at their bound "
                        "(by this instance)")),
      renewed(CounterOf(registry, "docgate_leases_renewed_total", "Leases renewed through this instance")),
      requeued_tasks(CounterOf(registry, "docgate_leases_requeued_tasks_total",
                               "Tasks enqueued again for documents whose lease ran out (by this instance)")),
      dead_lettered(CounterOf(registry, "docgate_documents_dead_lettered_total",
                              "Documents moved to FAILED because their lease ran out as many times as their "
                              "bound of attempts allows (by this instance)")) {}

}  // namespace docgate
