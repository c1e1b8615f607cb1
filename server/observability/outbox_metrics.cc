#include "server/observability/outbox_metrics.h"

#include "server/observability/metrics.h"

namespace docgate {

OutboxMetrics::OutboxMetrics(prometheus::Registry& registry)
    : backlog(prometheus::BuildGauge()
                  .Name("docgate_outbox_tasks")
                  .Help("Tasks written with a commit and not yet accepted by the broker")
                  .Register(registry)
                  .Add({})),
      oldest_seconds(prometheus::BuildGauge()
                         .Name("docgate_outbox_oldest_task_seconds")
                         .Help("Age of the oldest task not yet accepted by the broker (0: none)")
                         .Register(registry)
                         .Add({})),
      commit_to_broker_seconds(prometheus::BuildHistogram()
                                   .Name("docgate_outbox_commit_to_broker_seconds")
                                   .Help("From a task's commit to the broker accepting it")
                                   .Register(registry)
                                   .Add({}, LatencyBuckets())),
      broker_up(prometheus::BuildGauge()
                    .Name("docgate_broker_up")
                    .Help("1 while the broker answers this instance, else 0")
                    .Register(registry)
                    .Add({})),
      delivered_(prometheus::BuildCounter()
                     .Name("docgate_outbox_delivered_total")
                     .Help("Tasks the broker accepted, by queue")
                     .Register(registry)),
      failed_(prometheus::BuildCounter()
                  .Name("docgate_outbox_delivery_failures_total")
                  .Help("Deliveries the broker refused or did not answer (the task is tried again), by queue")
                  .Register(registry)) {}

prometheus::Counter& OutboxMetrics::ByQueue(prometheus::Family<prometheus::Counter>& family, const std::string& queue) {
  std::lock_guard lock(mu_);
  if (queues_.count(queue) == 0 && queues_.size() < kMaxQueues) queues_.emplace(queue, true);
  return family.Add({{"queue", queues_.count(queue) != 0 ? queue : "other"}});
}

}  // namespace docgate
